/* mf_pgarr: build PostgreSQL text-format array literals ({"a","b",NULL}) for unnest(). */
#ifndef MF_PGARR_H
#define MF_PGARR_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "mf_err.h"
#include "mf_uuid.h"

/*
 * One array literal being built. Every element is double-quoted with `"` and `\` escaped by a
 * backslash (valid for any element type: text, uuid, int, numeric, jsonb); a NULL element is
 * the unquoted NULL. The buffer is reused across batches (reset keeps the memory).
 */
typedef struct mf_pgarr {
    mf_buf buf;
    size_t n;   /* elements added since the last reset */
    int closed; /* the closing brace is in buf (finish was called) */
} mf_pgarr;

void mf_pgarr_init(mf_pgarr *a);
void mf_pgarr_free(mf_pgarr *a);
/* Start a new empty literal. */
void mf_pgarr_reset(mf_pgarr *a);
/* Append an element: n bytes of s (s NULL: SQL NULL). The bytes must hold no NUL. */
int mf_pgarr_add_n(mf_pgarr *a, const char *s, size_t n, mf_err *err);
/* Append a C string element (NULL: SQL NULL). */
int mf_pgarr_add(mf_pgarr *a, const char *s, mf_err *err);
/* Append an integer element. */
int mf_pgarr_add_ll(mf_pgarr *a, long long v, mf_err *err);
/* Append a uuid element (36-character text form). */
int mf_pgarr_add_uuid(mf_pgarr *a, const mf_uuid *u, mf_err *err);
/* The finished literal ("{...}"), valid until the next add/reset/free; NULL with err if the
 * closing brace does not fit. Calling it twice is fine. */
const char *mf_pgarr_finish(mf_pgarr *a, mf_err *err);

#endif
