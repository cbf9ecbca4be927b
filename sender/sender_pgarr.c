/* sender_pgarr: build PostgreSQL array literals ("{...}") for unnest()-batched statements. */
#include "sender_pgarr.h"

void sender_pgarr_init(sender_pgarr *a)
{
    mf_buf_init(&a->buf, 0);
    a->n = 0;
}

void sender_pgarr_free(sender_pgarr *a)
{
    mf_buf_free(&a->buf);
    a->n = 0;
}

int sender_pgarr_begin(sender_pgarr *a, mf_err *err)
{
    mf_buf_reset(&a->buf);
    a->n = 0;
    return mf_buf_append_char(&a->buf, '{', err);
}

static int sep(sender_pgarr *a, mf_err *err)
{
    if (a->n++ == 0)
        return 0;
    return mf_buf_append_char(&a->buf, ',', err);
}

int sender_pgarr_text(sender_pgarr *a, const char *text, mf_err *err)
{
    if (sep(a, err) != 0)
        return -1;
    if (text == NULL)
        return mf_buf_append_str(&a->buf, "NULL", err);
    if (mf_buf_append_char(&a->buf, '"', err) != 0)
        return -1;
    for (const char *p = text; *p; p++) {
        if ((*p == '"' || *p == '\\') && mf_buf_append_char(&a->buf, '\\', err) != 0)
            return -1;
        if (mf_buf_append_char(&a->buf, *p, err) != 0)
            return -1;
    }
    return mf_buf_append_char(&a->buf, '"', err);
}

int sender_pgarr_uuid(sender_pgarr *a, const mf_uuid *u, mf_err *err)
{
    char s[MF_UUID_STR_SIZE];

    if (sep(a, err) != 0)
        return -1;
    return mf_buf_append_str(&a->buf, mf_uuid_format(u, s), err);
}

int sender_pgarr_int(sender_pgarr *a, long long v, mf_err *err)
{
    if (sep(a, err) != 0)
        return -1;
    return mf_buf_printf(&a->buf, err, "%lld", v);
}

int sender_pgarr_end(sender_pgarr *a, mf_err *err)
{
    return mf_buf_append_char(&a->buf, '}', err);
}
