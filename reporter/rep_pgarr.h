/* rep_pgarr: build PostgreSQL text-format array literals ({"a","b",NULL}) for unnest(). */
#ifndef REP_PGARR_H
#define REP_PGARR_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "mf_err.h"

/*
 * One array literal being built. Every element is double-quoted with `"` and `\` escaped by a
 * backslash (valid for any element type: text, uuid, int, numeric, jsonb); a NULL element is
 * the unquoted NULL. The buffer is reused across batches (reset keeps the memory).
 */
typedef struct rep_arr {
    mf_buf buf;
    size_t n;   /* elements added since the last reset */
    int closed; /* the closing brace is in buf (finish was called) */
} rep_arr;

void rep_arr_init(rep_arr *a);
void rep_arr_free(rep_arr *a);
/* Start a new empty literal. */
void rep_arr_reset(rep_arr *a);
/* Append an element: n bytes of s (s NULL: SQL NULL). The bytes must hold no NUL. */
int rep_arr_add_n(rep_arr *a, const char *s, size_t n, mf_err *err);
/* Append a C string element (NULL: SQL NULL). */
int rep_arr_add(rep_arr *a, const char *s, mf_err *err);
/* Append an integer element. */
int rep_arr_add_ll(rep_arr *a, long long v, mf_err *err);
/* The finished literal ("{...}"), valid until the next add/reset/free; NULL with err if the
 * closing brace does not fit. Calling it twice is fine. */
const char *rep_arr_finish(rep_arr *a, mf_err *err);

#endif
