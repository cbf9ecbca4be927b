/* mf_err: the one error convention of msgfleet (int 0/-1 return plus an mf_err message). */
#include "mf_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mf_err_set(mf_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int mf_err_prefix(mf_err *err, const char *fmt, ...)
{
    char prefix[MF_ERR_MAX];
    char old[MF_ERR_MAX];
    va_list ap;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* A message longer than the buffer is cut: the start carries the context that matters. */
    if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) >= (int)sizeof(err->msg))
        err->msg[sizeof(err->msg) - 1] = '\0';
    return -1;
}

void mf_err_clear(mf_err *err)
{
    if (err != NULL)
        err->msg[0] = '\0';
}

const char *mf_err_errno_str(int errnum, char *buf, size_t n)
{
    if (buf == NULL || n == 0)
        return "";
    if (strerror_r(errnum, buf, n) != 0)
        snprintf(buf, n, "error %d", errnum);
    buf[n - 1] = '\0';
    return buf;
}
