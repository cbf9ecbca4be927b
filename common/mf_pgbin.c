/* mf_pgbin: PostgreSQL's binary wire formats: COPY BINARY rows and one-dimensional arrays. */
#include "mf_pgbin.h"

#include <string.h>

/* Arrays of a batch stay well below this (5,000 rows of 2,000-byte texts is 10 MB). */
#define MF_PGBIN_ARR_MAX ((size_t)256 * 1024 * 1024)

/* ndim, has-null flag, element type, then for the one dimension its length and lower bound. */
enum { ARR_HEADER = 20, ARR_HEADER_EMPTY = 12 };

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int append_be32(mf_buf *b, uint32_t v, mf_err *err)
{
    unsigned char p[4];

    put_be32(p, v);
    return mf_buf_append(b, p, sizeof(p), err);
}

static int append_be16(mf_buf *b, uint16_t v, mf_err *err)
{
    unsigned char p[2] = {(unsigned char)(v >> 8), (unsigned char)v};

    return mf_buf_append(b, p, sizeof(p), err);
}

/* A value: its length, then its bytes. */
static int append_value(mf_buf *b, const void *p, size_t n, mf_err *err)
{
    if (n > INT32_MAX)
        return mf_err_set(err, "value of %zu bytes is too large for PostgreSQL", n);
    if (mf_buf_reserve(b, 4 + n, err) != 0 || append_be32(b, (uint32_t)n, err) != 0)
        return -1;
    return mf_buf_append(b, p, n, err);
}

int mf_pgbin_text(mf_buf *b, const char *s, mf_err *err)
{
    if (s == NULL)
        return append_be32(b, UINT32_MAX, err); /* -1: NULL */
    return append_value(b, s, strlen(s), err);
}

int mf_pgbin_uuid(mf_buf *b, const mf_uuid *u, mf_err *err)
{
    return append_value(b, u->b, sizeof(u->b), err);
}

int mf_pgbin_int4(mf_buf *b, int32_t v, mf_err *err)
{
    unsigned char p[4];

    put_be32(p, (uint32_t)v);
    return append_value(b, p, sizeof(p), err);
}

int mf_pgbin_int8(mf_buf *b, int64_t v, mf_err *err)
{
    unsigned char p[8];

    put_be32(p, (uint32_t)((uint64_t)v >> 32));
    put_be32(p + 4, (uint32_t)v);
    return append_value(b, p, sizeof(p), err);
}

int mf_pgbin_copy_header(mf_buf *b, mf_err *err)
{
    static const unsigned char signature[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                                '\n', 0xff, '\r', '\n', '\0'};

    if (mf_buf_append(b, signature, sizeof(signature), err) != 0 ||
        append_be32(b, 0, err) != 0) /* flags: no OIDs */
        return -1;
    return append_be32(b, 0, err); /* header extension length */
}

int mf_pgbin_copy_row(mf_buf *b, int nfields, mf_err *err)
{
    if (nfields < 0 || nfields > INT16_MAX)
        return mf_err_set(err, "a COPY row cannot have %d fields", nfields);
    return append_be16(b, (uint16_t)nfields, err);
}

int mf_pgbin_copy_trailer(mf_buf *b, mf_err *err)
{
    return append_be16(b, UINT16_MAX, err); /* -1 */
}

void mf_pgbin_arr_reset(mf_pgbin_arr *a)
{
    mf_buf_reset(&a->buf);
    a->n = 0;
    a->hasnull = 0;
}

void mf_pgbin_arr_init(mf_pgbin_arr *a, uint32_t elemtype)
{
    mf_buf_init(&a->buf, MF_PGBIN_ARR_MAX);
    a->elemtype = elemtype;
    mf_pgbin_arr_reset(a);
}

void mf_pgbin_arr_free(mf_pgbin_arr *a)
{
    mf_buf_free(&a->buf);
    mf_pgbin_arr_reset(a);
}

/* Room for the header before the first element; the counts are filled in by finish. */
static int arr_start(mf_pgbin_arr *a, mf_err *err)
{
    static const unsigned char zeros[ARR_HEADER];

    if (a->buf.len >= ARR_HEADER)
        return 0;
    return mf_buf_append(&a->buf, zeros, sizeof(zeros), err);
}

int mf_pgbin_arr_text(mf_pgbin_arr *a, const char *s, mf_err *err)
{
    if (arr_start(a, err) != 0 || mf_pgbin_text(&a->buf, s, err) != 0)
        return -1;
    a->hasnull |= s == NULL;
    a->n++;
    return 0;
}

int mf_pgbin_arr_uuid(mf_pgbin_arr *a, const mf_uuid *u, mf_err *err)
{
    if (arr_start(a, err) != 0 || mf_pgbin_uuid(&a->buf, u, err) != 0)
        return -1;
    a->n++;
    return 0;
}

int mf_pgbin_arr_int8(mf_pgbin_arr *a, int64_t v, mf_err *err)
{
    if (arr_start(a, err) != 0 || mf_pgbin_int8(&a->buf, v, err) != 0)
        return -1;
    a->n++;
    return 0;
}

const char *mf_pgbin_arr_finish(mf_pgbin_arr *a, int *len, mf_err *err)
{
    unsigned char *h;

    if (arr_start(a, err) != 0)
        return NULL;
    h = (unsigned char *)a->buf.data;
    put_be32(h + 8, a->elemtype);
    if (a->n == 0) {
        /* An empty array has no dimension: ndim 0, no null flag, the element type only. */
        put_be32(h, 0);
        put_be32(h + 4, 0);
        *len = ARR_HEADER_EMPTY;
        return a->buf.data;
    }
    put_be32(h, 1);
    put_be32(h + 4, (uint32_t)a->hasnull);
    put_be32(h + 12, (uint32_t)a->n);
    put_be32(h + 16, 1); /* lower bound */
    *len = (int)a->buf.len;
    return a->buf.data;
}
