/* mf_err: the one error convention of msgfleet (int 0/-1 return plus an mf_err message). */
#ifndef MF_ERR_H
#define MF_ERR_H

#include <stddef.h>

/*
 * Every fallible function returns 0 on success and -1 on failure, and on failure fills the
 * caller's mf_err (if the pointer is not NULL) with one message in the postgres style:
 * lower case, no trailing period, context first: `could not connect to "%s": %s`.
 * The struct lives on the caller's stack; nothing is allocated.
 */
#define MF_ERR_MAX 512

typedef struct mf_err {
    char msg[MF_ERR_MAX];
} mf_err;

/* Set the message (printf-style, truncated to fit). Always returns -1 so that
 * `return mf_err_set(err, "...")` reads naturally. err may be NULL. */
int mf_err_set(mf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put a context prefix in front of an existing message: "ctx: old message". Returns -1. */
int mf_err_prefix(mf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text of errno value `errnum` in buf (strerror_r: safe from any thread, unlike
 * strerror). Returns buf, always terminated; "error N" for an unknown value. */
const char *mf_err_errno_str(int errnum, char *buf, size_t n);

/* Reset to the empty message. */
void mf_err_clear(mf_err *err);

#endif
