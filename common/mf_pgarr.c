/* mf_pgarr: build PostgreSQL text-format array literals ({"a","b",NULL}) for unnest(). */
#include "mf_pgarr.h"

#include <stdio.h>
#include <string.h>

/* Arrays of a batch stay well below this (5,000 rows of 2,000-byte texts is 10 MB). */
#define MF_PGARR_MAX ((size_t)256 * 1024 * 1024)

void mf_pgarr_init(mf_pgarr *a)
{
    mf_buf_init(&a->buf, MF_PGARR_MAX);
    a->n = 0;
    a->closed = 0;
}

void mf_pgarr_free(mf_pgarr *a)
{
    mf_buf_free(&a->buf);
    a->n = 0;
    a->closed = 0;
}

void mf_pgarr_reset(mf_pgarr *a)
{
    mf_buf_reset(&a->buf);
    a->n = 0;
    a->closed = 0;
}

static int open_or_sep(mf_pgarr *a, mf_err *err)
{
    if (a->buf.len == 0)
        return mf_buf_append_char(&a->buf, '{', err);
    /* finish() closed the literal: reopen it. */
    if (a->closed) {
        a->buf.len--;
        a->buf.data[a->buf.len] = '\0';
        a->closed = 0;
    }
    if (a->n == 0)
        return 0;
    return mf_buf_append_char(&a->buf, ',', err);
}

int mf_pgarr_add_n(mf_pgarr *a, const char *s, size_t n, mf_err *err)
{
    size_t start = a->buf.len, i, run = 0;

    if (open_or_sep(a, err) != 0)
        goto fail;
    if (s == NULL) {
        if (mf_buf_append_str(&a->buf, "NULL", err) != 0)
            goto fail;
        a->n++;
        return 0;
    }
    if (mf_buf_reserve(&a->buf, n + 2, err) != 0 || mf_buf_append_char(&a->buf, '"', err) != 0)
        goto fail;
    for (i = 0; i < n; i++) {
        if (s[i] == '\0') {
            mf_err_set(err, "array element holds a NUL byte");
            goto fail;
        }
        if (s[i] != '"' && s[i] != '\\')
            continue;
        if (mf_buf_append(&a->buf, s + run, i - run, err) != 0 ||
            mf_buf_append_char(&a->buf, '\\', err) != 0)
            goto fail;
        run = i;
    }
    if (mf_buf_append(&a->buf, s + run, n - run, err) != 0 ||
        mf_buf_append_char(&a->buf, '"', err) != 0)
        goto fail;
    a->n++;
    return 0;
fail:
    a->buf.len = start;
    if (a->buf.data != NULL)
        a->buf.data[start] = '\0';
    return -1;
}

int mf_pgarr_add(mf_pgarr *a, const char *s, mf_err *err)
{
    return mf_pgarr_add_n(a, s, s == NULL ? 0 : strlen(s), err);
}

int mf_pgarr_add_ll(mf_pgarr *a, long long v, mf_err *err)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%lld", v);

    return mf_pgarr_add_n(a, tmp, (size_t)len, err);
}

const char *mf_pgarr_finish(mf_pgarr *a, mf_err *err)
{
    if (a->buf.len == 0 && mf_buf_append_char(&a->buf, '{', err) != 0)
        return NULL;
    if (!a->closed) {
        if (mf_buf_append_char(&a->buf, '}', err) != 0)
            return NULL;
        a->closed = 1;
    }
    return a->buf.data;
}

int mf_pgarr_add_uuid(mf_pgarr *a, const mf_uuid *u, mf_err *err)
{
    char text[MF_UUID_STR_SIZE];

    return mf_pgarr_add_n(a, mf_uuid_format(u, text), MF_UUID_STR_SIZE - 1, err);
}
