/* mf_pgbin: PostgreSQL's binary wire formats: COPY BINARY rows and one-dimensional arrays. */
#ifndef MF_PGBIN_H
#define MF_PGBIN_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "mf_err.h"
#include "mf_uuid.h"

/*
 * Why binary: the server parses text input character by character (array_in's quoting,
 * uuid_in's 16 strtoul calls, COPY's escapes); binary input is a length and the bytes. For the
 * sender's claims (perf, 1 M run) array_in alone was 13 % of its backends' CPU; binary claims
 * and outcomes took those backends from 5.2-5.7 to 4.4 us per message.
 *
 * A value is an int32 length (-1: NULL) and that many bytes, in network byte order; the same
 * encoding serves a COPY field and an array element, so the value appenders below write
 * either. Text is sent as is: the server still checks that it is valid in its encoding.
 * All appenders return 0, or -1 with err: the buffer cannot grow, a value is over 2 GB, or a
 * row's field count is out of range. The caller owns every mf_buf passed in.
 */

/* Element type OIDs of the arrays built here (pg_type.oid, fixed in PostgreSQL's catalog). */
#define MF_PGBIN_OID_INT8 20u
#define MF_PGBIN_OID_TEXT 25u
#define MF_PGBIN_OID_UUID 2950u

/* Value appenders. s NULL: SQL NULL. */
int mf_pgbin_text(mf_buf *b, const char *s, mf_err *err);
int mf_pgbin_uuid(mf_buf *b, const mf_uuid *u, mf_err *err);
int mf_pgbin_int4(mf_buf *b, int32_t v, mf_err *err);
int mf_pgbin_int8(mf_buf *b, int64_t v, mf_err *err);

/* COPY ... FROM STDIN (FORMAT binary): the header once, then per row its field count and
 * that many values, then the trailer once. */
int mf_pgbin_copy_header(mf_buf *b, mf_err *err);
int mf_pgbin_copy_row(mf_buf *b, int nfields, mf_err *err);
int mf_pgbin_copy_trailer(mf_buf *b, mf_err *err);

/*
 * One array parameter being built: send it with format 1 (mf_pg_query_fmt) and cast it in SQL
 * to the matching array type ($1::uuid[]); the server rejects an element type that differs.
 * The header's counts are written by mf_pgbin_arr_finish. The buffer is reused across batches.
 */
typedef struct mf_pgbin_arr {
    mf_buf buf;        /* header + elements once finished */
    uint32_t elemtype; /* one of MF_PGBIN_OID_* */
    size_t n;          /* elements added since the last reset */
    int hasnull;
} mf_pgbin_arr;

/* The array owns its buffer: init allocates nothing, free releases what the adds grew. */
void mf_pgbin_arr_init(mf_pgbin_arr *a, uint32_t elemtype);
void mf_pgbin_arr_free(mf_pgbin_arr *a);
/* Start a new empty array (keeps the memory). */
void mf_pgbin_arr_reset(mf_pgbin_arr *a);
/* Append one element. s NULL: SQL NULL. */
int mf_pgbin_arr_text(mf_pgbin_arr *a, const char *s, mf_err *err);
int mf_pgbin_arr_uuid(mf_pgbin_arr *a, const mf_uuid *u, mf_err *err);
int mf_pgbin_arr_int8(mf_pgbin_arr *a, int64_t v, mf_err *err);
/* The finished array: *len gets its size; valid until the next add, reset or free. NULL with
 * err when an empty array's header cannot be allocated. Calling it twice is fine. */
const char *mf_pgbin_arr_finish(mf_pgbin_arr *a, int *len, mf_err *err);

#endif
