/* mf_codec_json: a decoded message printed as JSON (msgfleet tail, the fuzz round-trip oracle). */
#include "mf_codec_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                     */

static int json_base64(mf_buf *out, const void *p, size_t n, mf_err *err)
{
    size_t need = 4 * ((n + 2) / 3);

    if (n > INT32_MAX / 2)
        return mf_err_set(err, "value too long for base64");
    if (mf_buf_append_char(out, '"', err) < 0 || mf_buf_reserve(out, need + 1, err) < 0)
        return -1;
    EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)n);
    out->len += need;
    return mf_buf_append_char(out, '"', err);
}

/* Byte length of the UTF-8 character at p (at most avail), 0 when it is not well-formed. */
static size_t utf8_char_len(const char *p, size_t avail)
{
    uint8_t b = (uint8_t)p[0];
    size_t n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;

    if (n == 0 || n > avail || !mf_buf_utf8_valid(p, n))
        return 0;
    return n;
}

/* A JSON string of s; bytes that are not UTF-8 (possible only in keys the decoder does not
 * know, it checks all others) print as U+FFFD, so every decodable message prints. */
static int json_str_lossy(mf_buf *out, const char *s, size_t n, mf_err *err)
{
    char *clean;
    size_t i = 0, len = 0;
    int rc;

    if (mf_buf_utf8_valid(s, n))
        return mf_buf_append_json_str(out, s, n, err);
    clean = malloc(3 * n); /* rare path: junk in an unknown key */
    if (clean == NULL)
        return mf_err_set(err, "out of memory");
    while (i < n) {
        size_t cl = utf8_char_len(s + i, n - i);

        if (cl > 0) {
            memcpy(clean + len, s + i, cl);
            len += cl;
            i += cl;
        } else {
            memcpy(clean + len, "\xef\xbf\xbd", 3);
            len += 3;
            i++;
        }
    }
    rc = mf_buf_append_json_str(out, clean, len, err);
    free(clean);
    return rc;
}

static int is_uuid_key(const msgpack_object *k)
{
    return mf_codec_str_eq(k, "id") || mf_codec_str_eq(k, "run") || mf_codec_str_eq(k, "wf") ||
           mf_codec_str_eq(k, "tpl");
}

static int json_value(mf_buf *out, const msgpack_object *o, int uuid_bin, int depth, mf_err *err);

/* A map key as a JSON string: a str as itself, any other key (msgpack allows them in the
 * nested maps of unknown keys, which the decoders ignore) as the string of its JSON text,
 * e.g. the integer key 7 as "7". */
static int json_key(mf_buf *out, const msgpack_object *k, int depth, mf_err *err)
{
    mf_buf text;
    int rc;

    if (k->type == MSGPACK_OBJECT_STR)
        return json_str_lossy(out, k->via.str.ptr, k->via.str.size, err);
    mf_buf_init(&text, 0);
    rc = json_value(&text, k, 0, depth + 1, err);
    if (rc == 0)
        rc = mf_buf_append_json_str(out, text.data != NULL ? text.data : "", text.len, err);
    mf_buf_free(&text);
    return rc;
}

static int json_map(mf_buf *out, const msgpack_object_map *m, int depth, mf_err *err)
{
    uint32_t i;

    if (mf_buf_append_char(out, '{', err) < 0)
        return -1;
    for (i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;

        if ((i > 0 && mf_buf_append_char(out, ',', err) < 0) || json_key(out, k, depth, err) < 0 ||
            mf_buf_append_char(out, ':', err) < 0 ||
            json_value(out, &m->ptr[i].val, depth == 0 && is_uuid_key(k), depth + 1, err) < 0)
            return -1;
    }
    return mf_buf_append_char(out, '}', err);
}

static int json_value(mf_buf *out, const msgpack_object *o, int uuid_bin, int depth, mf_err *err)
{
    char u[MF_UUID_STR_SIZE];
    uint32_t i;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return mf_buf_append_str(out, "null", err);
    case MSGPACK_OBJECT_BOOLEAN:
        return mf_buf_append_str(out, o->via.boolean ? "true" : "false", err);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return mf_buf_printf(out, err, "%" PRIu64, o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return mf_buf_printf(out, err, "%" PRId64, o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return mf_buf_append_str(out, "null", err);
        return mf_buf_printf(out, err, "%.17g", o->via.f64);
    case MSGPACK_OBJECT_STR: return json_str_lossy(out, o->via.str.ptr, o->via.str.size, err);
    case MSGPACK_OBJECT_BIN:
        if (uuid_bin && o->via.bin.size == 16) {
            mf_uuid id;

            memcpy(id.b, o->via.bin.ptr, 16);
            return mf_buf_printf(out, err, "\"%s\"", mf_uuid_format(&id, u));
        }
        return json_base64(out, o->via.bin.ptr, o->via.bin.size, err);
    case MSGPACK_OBJECT_EXT: return json_base64(out, o->via.ext.ptr, o->via.ext.size, err);
    case MSGPACK_OBJECT_ARRAY:
        if (mf_buf_append_char(out, '[', err) < 0)
            return -1;
        for (i = 0; i < o->via.array.size; i++) {
            if ((i > 0 && mf_buf_append_char(out, ',', err) < 0) ||
                json_value(out, &o->via.array.ptr[i], 0, depth + 1, err) < 0)
                return -1;
        }
        return mf_buf_append_char(out, ']', err);
    case MSGPACK_OBJECT_MAP: return json_map(out, &o->via.map, depth, err);
    }
    return mf_err_set(err, "cannot print msgpack type %d as json", (int)o->type);
}

int mf_codec_to_json(mf_codec *c, mf_msg_kind kind, const void *bytes, size_t len, mf_buf *out,
                     mf_err *err)
{
    union {
        mf_job job;
        mf_result result;
        mf_dlq dlq;
        mf_event event;
    } u;
    size_t saved = out->len;
    int rc;

    switch (kind) {
    case MF_MSG_JOB: rc = mf_codec_decode_job(c, bytes, len, &u.job, err); break;
    case MF_MSG_RESULT: rc = mf_codec_decode_result(c, bytes, len, &u.result, err); break;
    case MF_MSG_DLQ: rc = mf_codec_decode_dlq(c, bytes, len, &u.dlq, err); break;
    case MF_MSG_EVENT: rc = mf_codec_decode_event(c, bytes, len, &u.event, err); break;
    default: return mf_err_set(err, "unknown message kind %d", (int)kind);
    }
    if (rc < 0)
        return -1;
    if (json_map(out, &c->root.via.map, 0, err) < 0) {
        out->len = saved;
        if (out->data != NULL)
            out->data[saved] = '\0';
        return mf_err_prefix(err, "could not print message as json");
    }
    return 0;
}
