/* mf_codec: msgpack wire format of the Kafka topics (job, result, dlq, event), strict decoders. */
#include "mf_codec.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Containers may nest this deep (our messages need 2; msgpack-c itself stops at 32). */
#define SCAN_MAX_DEPTH 16
/* Most pairs in a string map (template variables, event attributes). */
#define MAP_MAX_PAIRS 1024
/* Memory chunk of the decoder's zones: one chunk holds a typical batch of small messages. */
#define ZONE_CHUNK (64 * 1024)

struct mf_codec {
    msgpack_zone scratch; /* unpacked object tree of the last message; cleared per decode */
    msgpack_zone values;  /* decoded strings and pair arrays; cleared by mf_codec_reset */
    msgpack_object root;  /* the last message, for mf_codec_to_json */
};

/* ---------------------------------------------------------------------------------------- */
/* names                                                                                    */

static const char *const type_names[] = {NULL, "sms", "lms", "kakao"};
static const char *const status_names[] = {NULL,     "accepted", "delivered", "undelivered",
                                           "failed", "cancelled"};

const char *mf_msg_type_name(mf_msg_type t)
{
    if ((int)t <= 0 || (size_t)t >= sizeof(type_names) / sizeof(type_names[0]))
        return NULL;
    return type_names[t];
}

const char *mf_result_status_name(mf_result_status s)
{
    if ((int)s <= 0 || (size_t)s >= sizeof(status_names) / sizeof(status_names[0]))
        return NULL;
    return status_names[s];
}

int mf_result_status_is_final(mf_result_status s)
{
    return s == MF_RESULT_DELIVERED || s == MF_RESULT_UNDELIVERED || s == MF_RESULT_FAILED ||
           s == MF_RESULT_CANCELLED;
}

int mf_codec_kind_from_name(const char *name, mf_msg_kind *out, mf_err *err)
{
    static const struct {
        const char *name;
        mf_msg_kind kind;
    } names[] = {{"jobs", MF_MSG_JOB},      {"job", MF_MSG_JOB},       {"retry", MF_MSG_JOB},
                 {"results", MF_MSG_RESULT}, {"result", MF_MSG_RESULT}, {"dlq", MF_MSG_DLQ},
                 {"events", MF_MSG_EVENT},  {"event", MF_MSG_EVENT}};
    size_t i;

    for (i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return mf_err_set(err, "unknown message kind \"%s\"", name != NULL ? name : "(null)");
}

/* ---------------------------------------------------------------------------------------- */
/* encoding                                                                                 */

static int check_str(const char *key, const char *s, size_t n, mf_err *err)
{
    if (n > UINT32_MAX)
        return mf_err_set(err, "key \"%s\": string too long", key);
    if (memchr(s, '\0', n) != NULL)
        return mf_err_set(err, "key \"%s\": string contains a NUL byte", key);
    if (!mf_buf_utf8_valid(s, n))
        return mf_err_set(err, "key \"%s\": string is not valid utf-8", key);
    return 0;
}

static int pack_key(msgpack_packer *pk, const char *key)
{
    return msgpack_pack_str_with_body(pk, key, strlen(key));
}

static int pack_str(msgpack_packer *pk, const char *key, const char *s, mf_err *err)
{
    size_t n;

    if (s == NULL)
        s = "";
    n = strlen(s);
    if (check_str(key, s, n, err) < 0)
        return -1;
    if (pack_key(pk, key) != 0 || msgpack_pack_str_with_body(pk, s, n) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_uuid(msgpack_packer *pk, const char *key, const mf_uuid *u, mf_err *err)
{
    if (pack_key(pk, key) != 0 || msgpack_pack_bin_with_body(pk, u->b, sizeof(u->b)) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_i64(msgpack_packer *pk, const char *key, int64_t v, mf_err *err)
{
    if (pack_key(pk, key) != 0 || msgpack_pack_int64(pk, v) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_bin(msgpack_packer *pk, const char *key, const void *p, size_t n, mf_err *err)
{
    if (n > UINT32_MAX)
        return mf_err_set(err, "key \"%s\": value too long", key);
    if (pack_key(pk, key) != 0 || msgpack_pack_bin_with_body(pk, n > 0 ? p : "", n) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_map(msgpack_packer *pk, const char *key, const mf_codec_map *m, mf_err *err)
{
    size_t i;

    if (m->n > MAP_MAX_PAIRS)
        return mf_err_set(err, "key \"%s\": %zu pairs, at most %d allowed", key, m->n,
                          MAP_MAX_PAIRS);
    if (pack_key(pk, key) != 0 || msgpack_pack_map(pk, m->n) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    for (i = 0; i < m->n; i++) {
        const char *k = m->items[i].key != NULL ? m->items[i].key : "";
        const char *v = m->items[i].val != NULL ? m->items[i].val : "";
        size_t kn = strlen(k), vn = strlen(v);

        if (check_str(key, k, kn, err) < 0 || check_str(key, v, vn, err) < 0)
            return -1;
        if (msgpack_pack_str_with_body(pk, k, kn) != 0 ||
            msgpack_pack_str_with_body(pk, v, vn) != 0)
            return mf_err_set(err, "key \"%s\": could not write", key);
    }
    return 0;
}

static int has(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void packer_start(msgpack_packer *pk, msgpack_sbuffer *buf)
{
    buf->size = 0;
    msgpack_packer_init(pk, buf, msgpack_sbuffer_write);
}

static int pack_head(msgpack_packer *pk, size_t nkeys, mf_err *err)
{
    if (msgpack_pack_map(pk, nkeys) != 0)
        return mf_err_set(err, "could not write message header");
    return pack_i64(pk, "v", MF_CODEC_VERSION, err);
}

int mf_codec_encode_job(msgpack_sbuffer *buf, const mf_job *job, mf_err *err)
{
    msgpack_packer pk;

    if (!has(job->to))
        return mf_err_set(err, "could not encode job: key \"to\" is empty");
    if (job->attempt < 0 || job->not_before_ms < 0 || job->created_ms < 0)
        return mf_err_set(err, "could not encode job: negative att, nb or ts");
    if ((job->night_consent != 0 && job->night_consent != 1) ||
        (job->rate_reserved != 0 && job->rate_reserved != 1))
        return mf_err_set(err, "could not encode job: nc and rs must be 0 or 1");
    packer_start(&pk, buf);
    if (pack_head(&pk, 11 + (size_t)job->night_consent + (size_t)job->rate_reserved, err) < 0 ||
        pack_uuid(&pk, "id", &job->id, err) < 0 ||
        pack_uuid(&pk, "run", &job->run, err) < 0 || pack_uuid(&pk, "wf", &job->wf, err) < 0 ||
        pack_uuid(&pk, "tpl", &job->tpl, err) < 0 ||
        pack_i64(&pk, "att", job->attempt, err) < 0 || pack_str(&pk, "to", job->to, err) < 0 ||
        pack_str(&pk, "name", job->name, err) < 0 || pack_map(&pk, "vars", &job->vars, err) < 0 ||
        pack_i64(&pk, "nb", job->not_before_ms, err) < 0 ||
        pack_i64(&pk, "ts", job->created_ms, err) < 0 ||
        (job->night_consent && pack_i64(&pk, "nc", 1, err) < 0) ||
        (job->rate_reserved && pack_i64(&pk, "rs", 1, err) < 0))
        return mf_err_prefix(err, "could not encode job");
    return 0;
}

static int pack_opt_str(msgpack_packer *pk, const char *key, const char *s, mf_err *err)
{
    return has(s) ? pack_str(pk, key, s, err) : 0;
}

int mf_codec_encode_result(msgpack_sbuffer *buf, const mf_result *r, mf_err *err)
{
    msgpack_packer pk;
    const char *st = mf_result_status_name(r->status);
    const char *type = mf_msg_type_name(r->type);
    const char *ch = mf_msg_type_name(r->channel);
    size_t n = 10;

    if (st == NULL || type == NULL || (r->channel != MF_TYPE_NONE && ch == NULL))
        return mf_err_set(err, "could not encode result: invalid st, type or ch");
    if (!has(r->to))
        return mf_err_set(err, "could not encode result: key \"to\" is empty");
    if (r->attempt < 0 || r->ts_ms < 0 || r->sent_ms < 0)
        return mf_err_set(err, "could not encode result: negative att, ts or sat");
    n += has(r->name) + (ch != NULL) + has(r->text) + (r->vars.n > 0) +
         has(r->provider_msg_id) + has(r->group_id) + has(r->code) + has(r->msg) +
         (r->sent_ms > 0);
    packer_start(&pk, buf);
    if (pack_head(&pk, n, err) < 0 || pack_uuid(&pk, "id", &r->id, err) < 0 ||
        pack_uuid(&pk, "run", &r->run, err) < 0 || pack_uuid(&pk, "wf", &r->wf, err) < 0 ||
        pack_uuid(&pk, "tpl", &r->tpl, err) < 0 || pack_i64(&pk, "att", r->attempt, err) < 0 ||
        pack_str(&pk, "st", st, err) < 0 || pack_str(&pk, "to", r->to, err) < 0 ||
        pack_opt_str(&pk, "name", r->name, err) < 0 || pack_str(&pk, "type", type, err) < 0 ||
        (ch != NULL && pack_str(&pk, "ch", ch, err) < 0) ||
        pack_opt_str(&pk, "text", r->text, err) < 0 ||
        (r->vars.n > 0 && pack_map(&pk, "vars", &r->vars, err) < 0) ||
        pack_opt_str(&pk, "pmid", r->provider_msg_id, err) < 0 ||
        pack_opt_str(&pk, "gid", r->group_id, err) < 0 ||
        pack_opt_str(&pk, "code", r->code, err) < 0 || pack_opt_str(&pk, "msg", r->msg, err) < 0 ||
        pack_i64(&pk, "ts", r->ts_ms, err) < 0 ||
        (r->sent_ms > 0 && pack_i64(&pk, "sat", r->sent_ms, err) < 0))
        return mf_err_prefix(err, "could not encode result");
    return 0;
}

int mf_codec_encode_dlq(msgpack_sbuffer *buf, const mf_dlq *d, mf_err *err)
{
    msgpack_packer pk;
    size_t n = 7 + (d->key != NULL);

    if (d->partition < -1 || d->offset < -1 || d->ts_ms < 0)
        return mf_err_set(err, "could not encode dlq: part, off or ts out of range");
    if (d->val == NULL && d->val_len > 0)
        return mf_err_set(err, "could not encode dlq: null val with a length");
    packer_start(&pk, buf);
    if (pack_head(&pk, n, err) < 0 || pack_str(&pk, "src", d->src, err) < 0 ||
        pack_i64(&pk, "part", d->partition, err) < 0 || pack_i64(&pk, "off", d->offset, err) < 0 ||
        pack_str(&pk, "reason", d->reason, err) < 0 ||
        (d->key != NULL && pack_bin(&pk, "key", d->key, d->key_len, err) < 0) ||
        pack_bin(&pk, "val", d->val, d->val_len, err) < 0 || pack_i64(&pk, "ts", d->ts_ms, err) < 0)
        return mf_err_prefix(err, "could not encode dlq");
    return 0;
}

int mf_codec_encode_event(msgpack_sbuffer *buf, const mf_event *ev, mf_err *err)
{
    msgpack_packer pk;

    if (!has(ev->type))
        return mf_err_set(err, "could not encode event: key \"type\" is empty");
    if (ev->ts_ms < 0)
        return mf_err_set(err, "could not encode event: negative ts");
    packer_start(&pk, buf);
    if (pack_head(&pk, 5 + (has(ev->id) ? 1 : 0) + (has(ev->to) ? 1 : 0), err) < 0 ||
        pack_str(&pk, "type", ev->type, err) < 0 ||
        pack_str(&pk, "cust", ev->cust, err) < 0 || pack_map(&pk, "attrs", &ev->attrs, err) < 0 ||
        pack_i64(&pk, "ts", ev->ts_ms, err) < 0 ||
        (has(ev->id) && pack_str(&pk, "id", ev->id, err) < 0) ||
        (has(ev->to) && pack_str(&pk, "to", ev->to, err) < 0))
        return mf_err_prefix(err, "could not encode event");
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* structural pre-scan                                                                      */

/*
 * msgpack-c allocates a container's element storage from the count in its header before it
 * reads a single element, so 5 bytes claiming 2^32 pairs would ask for ~100 GB. This walk
 * checks the whole framing first (every length within the input, no reserved byte 0xc1,
 * bounded nesting, no trailing bytes); after it, every declared element really exists, so
 * msgpack-c's allocations are bounded by a small multiple of len.
 */
static uint64_t read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* For the header at p[0..avail): bytes of header+payload to skip (*skip) and the number of
 * child elements (*children). Returns -1 on a bad or truncated header. */
static int scan_header(const uint8_t *p, size_t avail, uint64_t *skip, uint64_t *children)
{
    uint8_t b = p[0];
    size_t lenbytes = 0;
    uint64_t extra = 0;

    *children = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        *skip = 1;
        return 0;
    }
    if (b >= 0x80 && b <= 0x8f) {
        *skip = 1;
        *children = 2u * (b & 0x0fu);
        return 0;
    }
    if (b >= 0x90 && b <= 0x9f) {
        *skip = 1;
        *children = b & 0x0fu;
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        *skip = 1u + (b & 0x1fu);
        return 0;
    }
    switch (b) {
    case 0xcc: case 0xd0: *skip = 2; return 0;
    case 0xcd: case 0xd1: *skip = 3; return 0;
    case 0xca: case 0xce: case 0xd2: *skip = 5; return 0;
    case 0xcb: case 0xcf: case 0xd3: *skip = 9; return 0;
    case 0xd4: *skip = 3; return 0;
    case 0xd5: *skip = 4; return 0;
    case 0xd6: *skip = 6; return 0;
    case 0xd7: *skip = 10; return 0;
    case 0xd8: *skip = 18; return 0;
    case 0xc4: case 0xd9: lenbytes = 1; break;
    case 0xc5: case 0xda: lenbytes = 2; break;
    case 0xc6: case 0xdb: lenbytes = 4; break;
    case 0xc7: lenbytes = 1; extra = 1; break;
    case 0xc8: lenbytes = 2; extra = 1; break;
    case 0xc9: lenbytes = 4; extra = 1; break;
    case 0xdc: case 0xde: lenbytes = 2; break;
    case 0xdd: case 0xdf: lenbytes = 4; break;
    default: return -1; /* 0xc1 */
    }
    if (avail < 1 + lenbytes)
        return -1;
    if (b >= 0xdc) {
        uint64_t n = read_be(p + 1, lenbytes);

        *skip = 1 + lenbytes;
        *children = b >= 0xde ? 2 * n : n;
        return 0;
    }
    *skip = 1 + lenbytes + extra + read_be(p + 1, lenbytes);
    return 0;
}

static int scan(const uint8_t *p, size_t len, mf_err *err)
{
    uint64_t remaining[SCAN_MAX_DEPTH];
    size_t pos = 0;
    int depth = 0;

    remaining[0] = 1;
    while (depth >= 0) {
        uint64_t skip, children;

        if (remaining[depth] == 0) {
            depth--;
            continue;
        }
        remaining[depth]--;
        if (pos >= len)
            return mf_err_set(err, "truncated message at byte %zu", pos);
        if (scan_header(p + pos, len - pos, &skip, &children) < 0)
            return mf_err_set(err, "malformed msgpack at byte %zu", pos);
        if (skip > len - pos)
            return mf_err_set(err, "truncated message at byte %zu", pos);
        pos += skip;
        if (children > len - pos)
            return mf_err_set(err, "truncated message: container at byte %zu claims %" PRIu64
                              " elements", pos - skip, children);
        if (children > 0) {
            if (depth + 1 >= SCAN_MAX_DEPTH)
                return mf_err_set(err, "message nested deeper than %d levels", SCAN_MAX_DEPTH);
            remaining[++depth] = children;
        }
    }
    if (pos != len)
        return mf_err_set(err, "%zu trailing bytes after the message", len - pos);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* decoding                                                                                 */

mf_codec *mf_codec_new(mf_err *err)
{
    mf_codec *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    if (!msgpack_zone_init(&c->scratch, ZONE_CHUNK)) {
        free(c);
        mf_err_set(err, "out of memory");
        return NULL;
    }
    if (!msgpack_zone_init(&c->values, ZONE_CHUNK)) {
        msgpack_zone_destroy(&c->scratch);
        free(c);
        mf_err_set(err, "out of memory");
        return NULL;
    }
    return c;
}

void mf_codec_free(mf_codec *c)
{
    if (c == NULL)
        return;
    msgpack_zone_destroy(&c->scratch);
    msgpack_zone_destroy(&c->values);
    free(c);
}

void mf_codec_reset(mf_codec *c)
{
    msgpack_zone_clear(&c->scratch);
    msgpack_zone_clear(&c->values);
    memset(&c->root, 0, sizeof(c->root));
}

/* Field kinds of the decode tables. */
enum fkind {
    F_UUID,   /* 16-byte bin -> mf_uuid */
    F_I32,    /* integer in [min, INT32_MAX] -> int32_t */
    F_I64,    /* integer in [min, INT64_MAX] -> int64_t */
    F_STR,    /* str -> const char * (copied, NUL-terminated) */
    F_STR_NE, /* non-empty str */
    F_BIN,    /* bin -> const void * + size_t (the size_t at off2) */
    F_MAP,    /* map str -> str -> mf_codec_map */
    F_TYPE,   /* "sms" | "lms" | "kakao" -> mf_msg_type */
    F_STATUS  /* result status name -> mf_result_status */
};

typedef struct field {
    const char *key;
    size_t keylen; /* strlen(key) */
    enum fkind kind;
    int required;
    size_t off;
    size_t off2;
    int64_t min;
} field;

static const char *obj_type_name(msgpack_object_type t)
{
    switch (t) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}

static int want(const field *f, const msgpack_object *o, msgpack_object_type t, const char *what,
                mf_err *err)
{
    if (o->type != t)
        return mf_err_set(err, "key \"%s\": expected %s, got %s", f->key, what,
                          obj_type_name(o->type));
    return 0;
}

static int get_int(const field *f, const msgpack_object *o, int64_t max, int64_t *out,
                   mf_err *err)
{
    int64_t v;

    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)max)
            return mf_err_set(err, "key \"%s\": integer out of range", f->key);
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return mf_err_set(err, "key \"%s\": expected integer, got %s", f->key,
                          obj_type_name(o->type));
    }
    if (v < f->min)
        return mf_err_set(err, "key \"%s\": integer out of range", f->key);
    *out = v;
    return 0;
}

/* Copy a validated msgpack str into the value zone, NUL-terminated. */
static const char *copy_str(mf_codec *c, const char *key, const msgpack_object *o, mf_err *err)
{
    char *s;

    if (check_str(key, o->via.str.ptr, o->via.str.size, err) < 0)
        return NULL;
    s = msgpack_zone_malloc_no_align(&c->values, (size_t)o->via.str.size + 1);
    if (s == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    if (o->via.str.size > 0)
        memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    return s;
}

static int str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);

    return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static int get_map(mf_codec *c, const field *f, const msgpack_object *o, mf_codec_map *out,
                   mf_err *err)
{
    const msgpack_object_map *m = &o->via.map;
    mf_codec_kv *items = NULL;
    uint32_t i, j;

    if (want(f, o, MSGPACK_OBJECT_MAP, "map", err) < 0)
        return -1;
    if (m->size > MAP_MAX_PAIRS)
        return mf_err_set(err, "key \"%s\": %u pairs, at most %d allowed", f->key, m->size,
                          MAP_MAX_PAIRS);
    if (m->size > 0) {
        items = msgpack_zone_malloc(&c->values, m->size * sizeof(*items));
        if (items == NULL)
            return mf_err_set(err, "out of memory");
    }
    for (i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;

        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR)
            return mf_err_set(err, "key \"%s\": expected str keys and values, got %s -> %s",
                              f->key, obj_type_name(k->type), obj_type_name(v->type));
        for (j = 0; j < i; j++) {
            if (k->via.str.size == m->ptr[j].key.via.str.size &&
                memcmp(k->via.str.ptr, m->ptr[j].key.via.str.ptr, k->via.str.size) == 0)
                return mf_err_set(err, "key \"%s\": duplicate entry", f->key);
        }
        items[i].key = copy_str(c, f->key, k, err);
        if (items[i].key == NULL)
            return -1;
        items[i].val = copy_str(c, f->key, v, err);
        if (items[i].val == NULL)
            return -1;
    }
    out->items = items;
    out->n = m->size;
    return 0;
}

static int get_enum(const field *f, const msgpack_object *o, const char *const *names,
                    size_t nnames, int *out, mf_err *err)
{
    size_t i;

    if (want(f, o, MSGPACK_OBJECT_STR, "str", err) < 0)
        return -1;
    for (i = 1; i < nnames; i++) {
        if (str_eq(o, names[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return mf_err_set(err, "key \"%s\": unknown value", f->key);
}

static int set_field(mf_codec *c, const field *f, const msgpack_object *o, char *base,
                     mf_err *err)
{
    int64_t v;
    int e;
    const char *s;

    switch (f->kind) {
    case F_UUID:
        if (want(f, o, MSGPACK_OBJECT_BIN, "16-byte bin", err) < 0)
            return -1;
        if (o->via.bin.size != 16)
            return mf_err_set(err, "key \"%s\": expected 16-byte bin, got %u bytes", f->key,
                              o->via.bin.size);
        memcpy(((mf_uuid *)(base + f->off))->b, o->via.bin.ptr, 16);
        return 0;
    case F_I32:
        if (get_int(f, o, INT32_MAX, &v, err) < 0)
            return -1;
        *(int32_t *)(base + f->off) = (int32_t)v;
        return 0;
    case F_I64:
        return get_int(f, o, INT64_MAX, (int64_t *)(base + f->off), err);
    case F_STR:
    case F_STR_NE:
        if (want(f, o, MSGPACK_OBJECT_STR, "str", err) < 0)
            return -1;
        if (f->kind == F_STR_NE && o->via.str.size == 0)
            return mf_err_set(err, "key \"%s\": empty string", f->key);
        s = copy_str(c, f->key, o, err);
        if (s == NULL)
            return -1;
        *(const char **)(base + f->off) = s;
        return 0;
    case F_BIN:
        if (want(f, o, MSGPACK_OBJECT_BIN, "bin", err) < 0)
            return -1;
        /* bin bodies point into the input bytes: copy them to the value zone */
        {
            char *p = msgpack_zone_malloc_no_align(&c->values, (size_t)o->via.bin.size + 1);

            if (p == NULL)
                return mf_err_set(err, "out of memory");
            if (o->via.bin.size > 0)
                memcpy(p, o->via.bin.ptr, o->via.bin.size);
            p[o->via.bin.size] = '\0';
            *(const void **)(base + f->off) = p;
            *(size_t *)(base + f->off2) = o->via.bin.size;
        }
        return 0;
    case F_MAP:
        return get_map(c, f, o, (mf_codec_map *)(base + f->off), err);
    case F_TYPE:
        if (get_enum(f, o, type_names, sizeof(type_names) / sizeof(type_names[0]), &e, err) < 0)
            return -1;
        *(mf_msg_type *)(base + f->off) = (mf_msg_type)e;
        return 0;
    case F_STATUS:
        if (get_enum(f, o, status_names, sizeof(status_names) / sizeof(status_names[0]), &e,
                     err) < 0)
            return -1;
        *(mf_result_status *)(base + f->off) = (mf_result_status)e;
        return 0;
    }
    return mf_err_set(err, "key \"%s\": internal error", f->key);
}

/* Set the defaults of an optional field that is absent. */
static void set_default(const field *f, char *base)
{
    switch (f->kind) {
    case F_STR:
    case F_STR_NE:
        *(const char **)(base + f->off) = "";
        break;
    case F_BIN:
        *(const void **)(base + f->off) = NULL;
        *(size_t *)(base + f->off2) = 0;
        break;
    case F_MAP:
        ((mf_codec_map *)(base + f->off))->items = NULL;
        ((mf_codec_map *)(base + f->off))->n = 0;
        break;
    default:
        break; /* the struct was zeroed: 0, nil uuid, MF_TYPE_NONE */
    }
}

/* Parse the framing, unpack into the scratch zone, check the top-level map and `v`. */
static int unpack_root(mf_codec *c, const void *bytes, size_t len, mf_err *err)
{
    const msgpack_object_map *m;
    size_t off = 0;
    uint32_t i;
    int seen_v = 0;

    memset(&c->root, 0, sizeof(c->root));
    msgpack_zone_clear(&c->scratch);
    if (bytes == NULL || len == 0)
        return mf_err_set(err, "empty message");
    if (len > MF_CODEC_MAX_BYTES)
        return mf_err_set(err, "message of %zu bytes exceeds the limit of %zu", len,
                          MF_CODEC_MAX_BYTES);
    if (((const uint8_t *)bytes)[0] < 0x80 || (((const uint8_t *)bytes)[0] > 0x8f &&
                                               ((const uint8_t *)bytes)[0] != 0xde &&
                                               ((const uint8_t *)bytes)[0] != 0xdf))
        return mf_err_set(err, "message is not a msgpack map");
    if (scan(bytes, len, err) < 0)
        return -1;
    if (msgpack_unpack(bytes, len, &off, &c->scratch, &c->root) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        return mf_err_set(err, "malformed msgpack");
    m = &c->root.via.map;
    for (i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;

        if (k->type != MSGPACK_OBJECT_STR)
            return mf_err_set(err, "map key %u is %s, expected str", i, obj_type_name(k->type));
        if (!str_eq(k, "v"))
            continue;
        if (seen_v)
            return mf_err_set(err, "duplicate key \"v\"");
        seen_v = 1;
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return mf_err_set(err, "key \"v\": expected positive integer, got %s",
                              obj_type_name(v->type));
        if (v->via.u64 != MF_CODEC_VERSION)
            return mf_err_set(err, "unsupported schema version %" PRIu64, v->via.u64);
    }
    if (!seen_v)
        return mf_err_set(err, "missing required key \"v\"");
    return 0;
}

static int key_is(const msgpack_object *k, const field *f)
{
    return k->via.str.size == f->keylen && memcmp(k->via.str.ptr, f->key, f->keylen) == 0;
}

/* Index of k's field in fields[0..nf), or nf. Encoders write the keys in table order, so the
 * field after the previous key (hint) is tried first: the scan over the whole table with a
 * strlen per candidate was 1.5 % of the machine in a 1 M run (perf). */
static size_t find_field(const msgpack_object *k, const field *fields, size_t nf, size_t hint)
{
    size_t j;

    if (k->type != MSGPACK_OBJECT_STR)
        return nf;
    if (hint < nf && key_is(k, &fields[hint]))
        return hint;
    for (j = 0; j < nf && !key_is(k, &fields[j]); j++)
        ;
    return j;
}

static int decode(mf_codec *c, const void *bytes, size_t len, const field *fields, size_t nf,
                  void *out, size_t out_size, mf_err *err)
{
    const msgpack_object_map *m;
    char *base = out;
    uint64_t seen = 0;
    uint32_t i;
    size_t j, hint = 0;

    memset(out, 0, out_size);
    if (unpack_root(c, bytes, len, err) < 0)
        return -1;
    m = &c->root.via.map;
    for (i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;

        j = find_field(k, fields, nf, hint);
        if (j == nf)
            continue; /* "v" and keys of later minor additions */
        hint = j + 1;
        if (seen & ((uint64_t)1 << j))
            return mf_err_set(err, "duplicate key \"%s\"", fields[j].key);
        if (v->type == MSGPACK_OBJECT_NIL && !fields[j].required)
            continue; /* nil optional = absent */
        seen |= (uint64_t)1 << j;
        if (set_field(c, &fields[j], v, base, err) < 0)
            return -1;
    }
    for (j = 0; j < nf; j++) {
        if (seen & ((uint64_t)1 << j))
            continue;
        if (fields[j].required)
            return mf_err_set(err, "missing required key \"%s\"", fields[j].key);
        set_default(&fields[j], base);
    }
    return 0;
}

#define FLD(st, key, kind, req, member, min)                                                 \
    {key, sizeof(key) - 1, kind, req, offsetof(st, member), 0, min}

static const field job_fields[] = {
    FLD(mf_job, "id", F_UUID, 1, id, 0),
    FLD(mf_job, "run", F_UUID, 1, run, 0),
    FLD(mf_job, "wf", F_UUID, 1, wf, 0),
    FLD(mf_job, "tpl", F_UUID, 1, tpl, 0),
    FLD(mf_job, "att", F_I32, 1, attempt, 0),
    FLD(mf_job, "to", F_STR_NE, 1, to, 0),
    FLD(mf_job, "name", F_STR, 0, name, 0),
    FLD(mf_job, "vars", F_MAP, 0, vars, 0),
    FLD(mf_job, "nb", F_I64, 0, not_before_ms, 0),
    FLD(mf_job, "ts", F_I64, 1, created_ms, 0),
    FLD(mf_job, "nc", F_I32, 0, night_consent, 0),
    FLD(mf_job, "rs", F_I32, 0, rate_reserved, 0),
};

static const field result_fields[] = {
    FLD(mf_result, "id", F_UUID, 1, id, 0),
    FLD(mf_result, "run", F_UUID, 1, run, 0),
    FLD(mf_result, "wf", F_UUID, 1, wf, 0),
    FLD(mf_result, "tpl", F_UUID, 1, tpl, 0),
    FLD(mf_result, "att", F_I32, 1, attempt, 0),
    FLD(mf_result, "st", F_STATUS, 1, status, 0),
    FLD(mf_result, "to", F_STR_NE, 1, to, 0),
    FLD(mf_result, "name", F_STR, 0, name, 0),
    FLD(mf_result, "type", F_TYPE, 1, type, 0),
    FLD(mf_result, "ch", F_TYPE, 0, channel, 0),
    FLD(mf_result, "text", F_STR, 0, text, 0),
    FLD(mf_result, "vars", F_MAP, 0, vars, 0),
    FLD(mf_result, "pmid", F_STR, 0, provider_msg_id, 0),
    FLD(mf_result, "gid", F_STR, 0, group_id, 0),
    FLD(mf_result, "code", F_STR, 0, code, 0),
    FLD(mf_result, "msg", F_STR, 0, msg, 0),
    FLD(mf_result, "ts", F_I64, 1, ts_ms, 0),
    FLD(mf_result, "sat", F_I64, 0, sent_ms, 0),
};

static const field dlq_fields[] = {
    FLD(mf_dlq, "src", F_STR, 1, src, 0),
    FLD(mf_dlq, "part", F_I32, 1, partition, -1),
    FLD(mf_dlq, "off", F_I64, 1, offset, -1),
    FLD(mf_dlq, "reason", F_STR, 1, reason, 0),
    {"key", sizeof("key") - 1, F_BIN, 0, offsetof(mf_dlq, key), offsetof(mf_dlq, key_len), 0},
    {"val", sizeof("val") - 1, F_BIN, 1, offsetof(mf_dlq, val), offsetof(mf_dlq, val_len), 0},
    FLD(mf_dlq, "ts", F_I64, 1, ts_ms, 0),
};

static const field event_fields[] = {
    FLD(mf_event, "type", F_STR_NE, 1, type, 0),
    FLD(mf_event, "cust", F_STR, 1, cust, 0),
    FLD(mf_event, "attrs", F_MAP, 0, attrs, 0),
    FLD(mf_event, "ts", F_I64, 1, ts_ms, 0),
    FLD(mf_event, "id", F_STR, 0, id, 0),
    FLD(mf_event, "to", F_STR, 0, to, 0),
};

#define NF(a) (sizeof(a) / sizeof((a)[0]))

int mf_codec_decode_job(mf_codec *c, const void *bytes, size_t len, mf_job *out, mf_err *err)
{
    return decode(c, bytes, len, job_fields, NF(job_fields), out, sizeof(*out), err);
}

int mf_codec_decode_result(mf_codec *c, const void *bytes, size_t len, mf_result *out,
                           mf_err *err)
{
    return decode(c, bytes, len, result_fields, NF(result_fields), out, sizeof(*out), err);
}

int mf_codec_decode_dlq(mf_codec *c, const void *bytes, size_t len, mf_dlq *out, mf_err *err)
{
    return decode(c, bytes, len, dlq_fields, NF(dlq_fields), out, sizeof(*out), err);
}

int mf_codec_decode_event(mf_codec *c, const void *bytes, size_t len, mf_event *out,
                          mf_err *err)
{
    return decode(c, bytes, len, event_fields, NF(event_fields), out, sizeof(*out), err);
}

const char *mf_codec_map_get(const mf_codec_map *m, const char *key)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->items[i].key, key) == 0)
            return m->items[i].val;
    }
    return NULL;
}

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
    return str_eq(k, "id") || str_eq(k, "run") || str_eq(k, "wf") || str_eq(k, "tpl");
}

static int json_value(mf_buf *out, const msgpack_object *o, int uuid_bin, int depth,
                      mf_err *err);

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

        if ((i > 0 && mf_buf_append_char(out, ',', err) < 0) ||
            json_key(out, k, depth, err) < 0 ||
            mf_buf_append_char(out, ':', err) < 0 ||
            json_value(out, &m->ptr[i].val, depth == 0 && is_uuid_key(k), depth + 1, err) < 0)
            return -1;
    }
    return mf_buf_append_char(out, '}', err);
}

static int json_value(mf_buf *out, const msgpack_object *o, int uuid_bin, int depth,
                      mf_err *err)
{
    char u[MF_UUID_STR_SIZE];
    uint32_t i;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return mf_buf_append_str(out, "null", err);
    case MSGPACK_OBJECT_BOOLEAN:
        return mf_buf_append_str(out, o->via.boolean ? "true" : "false", err);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return mf_buf_printf(out, err, "%" PRIu64, o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return mf_buf_printf(out, err, "%" PRId64, o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return mf_buf_append_str(out, "null", err);
        return mf_buf_printf(out, err, "%.17g", o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_str_lossy(out, o->via.str.ptr, o->via.str.size, err);
    case MSGPACK_OBJECT_BIN:
        if (uuid_bin && o->via.bin.size == 16) {
            mf_uuid id;

            memcpy(id.b, o->via.bin.ptr, 16);
            return mf_buf_printf(out, err, "\"%s\"", mf_uuid_format(&id, u));
        }
        return json_base64(out, o->via.bin.ptr, o->via.bin.size, err);
    case MSGPACK_OBJECT_EXT:
        return json_base64(out, o->via.ext.ptr, o->via.ext.size, err);
    case MSGPACK_OBJECT_ARRAY:
        if (mf_buf_append_char(out, '[', err) < 0)
            return -1;
        for (i = 0; i < o->via.array.size; i++) {
            if ((i > 0 && mf_buf_append_char(out, ',', err) < 0) ||
                json_value(out, &o->via.array.ptr[i], 0, depth + 1, err) < 0)
                return -1;
        }
        return mf_buf_append_char(out, ']', err);
    case MSGPACK_OBJECT_MAP:
        return json_map(out, &o->via.map, depth, err);
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
