/* mf_codec: msgpack wire format of the Kafka topics (job, result, dlq, event), strict decoders. */
#include "mf_codec_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Containers may nest this deep (our messages need 2; msgpack-c itself stops at 32). */
#define SCAN_MAX_DEPTH 16
/* Memory chunk of the decoder's zones: one chunk holds a typical batch of small messages. */
#define ZONE_CHUNK (64 * 1024)

/* ---------------------------------------------------------------------------------------- */
/* names                                                                                    */

static const char *const type_names[] = {NULL, "sms", "lms", "kakao"};
static const char *const status_names[] = {NULL,          "accepted", "delivered",
                                           "undelivered", "failed",   "cancelled"};

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
    } names[] = {{"jobs", MF_MSG_JOB},          {"job", MF_MSG_JOB},
                 {"jobs.tx", MF_MSG_JOB},       {"retry", MF_MSG_JOB},
                 {"results", MF_MSG_RESULT},    {"result", MF_MSG_RESULT},
                 {"results.tx", MF_MSG_RESULT}, {"dlq", MF_MSG_DLQ},
                 {"events", MF_MSG_EVENT},      {"event", MF_MSG_EVENT}};
    size_t i;

    for (i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return mf_err_set(err, "unknown message kind \"%s\"", name != NULL ? name : "(null)");
}

int mf_codec_check_str(const char *key, const char *s, size_t n, mf_err *err)
{
    if (n > UINT32_MAX)
        return mf_err_set(err, "key \"%s\": string too long", key);
    if (memchr(s, '\0', n) != NULL)
        return mf_err_set(err, "key \"%s\": string contains a NUL byte", key);
    if (!mf_buf_utf8_valid(s, n))
        return mf_err_set(err, "key \"%s\": string is not valid utf-8", key);
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
    case 0xcc:
    case 0xd0: *skip = 2; return 0;
    case 0xcd:
    case 0xd1: *skip = 3; return 0;
    case 0xca:
    case 0xce:
    case 0xd2: *skip = 5; return 0;
    case 0xcb:
    case 0xcf:
    case 0xd3: *skip = 9; return 0;
    case 0xd4: *skip = 3; return 0;
    case 0xd5: *skip = 4; return 0;
    case 0xd6: *skip = 6; return 0;
    case 0xd7: *skip = 10; return 0;
    case 0xd8: *skip = 18; return 0;
    case 0xc4:
    case 0xd9: lenbytes = 1; break;
    case 0xc5:
    case 0xda: lenbytes = 2; break;
    case 0xc6:
    case 0xdb: lenbytes = 4; break;
    case 0xc7:
        lenbytes = 1;
        extra = 1;
        break;
    case 0xc8:
        lenbytes = 2;
        extra = 1;
        break;
    case 0xc9:
        lenbytes = 4;
        extra = 1;
        break;
    case 0xdc:
    case 0xde: lenbytes = 2; break;
    case 0xdd:
    case 0xdf: lenbytes = 4; break;
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
            return mf_err_set(err,
                              "truncated message: container at byte %zu claims %" PRIu64
                              " elements",
                              pos - skip, children);
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

static int get_int(const field *f, const msgpack_object *o, int64_t max, int64_t *out, mf_err *err)
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

    if (mf_codec_check_str(key, o->via.str.ptr, o->via.str.size, err) < 0)
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

int mf_codec_str_eq(const msgpack_object *o, const char *s)
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
    if (m->size > MF_CODEC_MAP_MAX_PAIRS)
        return mf_err_set(err, "key \"%s\": %u pairs, at most %d allowed", f->key, m->size,
                          MF_CODEC_MAP_MAX_PAIRS);
    if (m->size > 0) {
        items = msgpack_zone_malloc(&c->values, m->size * sizeof(*items));
        if (items == NULL)
            return mf_err_set(err, "out of memory");
    }
    for (i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;

        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR)
            return mf_err_set(err, "key \"%s\": expected str keys and values, got %s -> %s", f->key,
                              obj_type_name(k->type), obj_type_name(v->type));
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
        if (mf_codec_str_eq(o, names[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return mf_err_set(err, "key \"%s\": unknown value", f->key);
}

static int set_field(mf_codec *c, const field *f, const msgpack_object *o, char *base, mf_err *err)
{
    /* zero: set before every use, but the analyzer cannot see that mf_err_set returns -1 */
    int64_t v = 0;
    int e = 0;
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
    case F_I64: return get_int(f, o, INT64_MAX, (int64_t *)(base + f->off), err);
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
    case F_MAP: return get_map(c, f, o, (mf_codec_map *)(base + f->off), err);
    case F_TYPE:
        if (get_enum(f, o, type_names, sizeof(type_names) / sizeof(type_names[0]), &e, err) < 0)
            return -1;
        *(mf_msg_type *)(base + f->off) = (mf_msg_type)e;
        return 0;
    case F_STATUS:
        if (get_enum(f, o, status_names, sizeof(status_names) / sizeof(status_names[0]), &e, err) <
            0)
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
    case F_STR_NE: *(const char **)(base + f->off) = ""; break;
    case F_BIN:
        *(const void **)(base + f->off) = NULL;
        *(size_t *)(base + f->off2) = 0;
        break;
    case F_MAP:
        ((mf_codec_map *)(base + f->off))->items = NULL;
        ((mf_codec_map *)(base + f->off))->n = 0;
        break;
    default: break; /* the struct was zeroed: 0, nil uuid, MF_TYPE_NONE */
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
    if (((const uint8_t *)bytes)[0] < 0x80 ||
        (((const uint8_t *)bytes)[0] > 0x8f && ((const uint8_t *)bytes)[0] != 0xde &&
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
        if (!mf_codec_str_eq(k, "v"))
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

#define FLD(st, key, kind, req, member, min)                                                       \
    {                                                                                              \
        key, sizeof(key) - 1, kind, req, offsetof(st, member), 0, min                              \
    }

static const field job_fields[] = {
    FLD(mf_job, "id", F_UUID, 1, id, 0),           FLD(mf_job, "run", F_UUID, 1, run, 0),
    FLD(mf_job, "wf", F_UUID, 1, wf, 0),           FLD(mf_job, "tpl", F_UUID, 1, tpl, 0),
    FLD(mf_job, "att", F_I32, 1, attempt, 0),      FLD(mf_job, "to", F_STR_NE, 1, to, 0),
    FLD(mf_job, "name", F_STR, 0, name, 0),        FLD(mf_job, "vars", F_MAP, 0, vars, 0),
    FLD(mf_job, "nb", F_I64, 0, not_before_ms, 0), FLD(mf_job, "ts", F_I64, 1, created_ms, 0),
    FLD(mf_job, "nc", F_I32, 0, night_consent, 0), FLD(mf_job, "rs", F_I32, 0, rate_reserved, 0),
    FLD(mf_job, "tx", F_I32, 0, lane_tx, 0),
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
    FLD(mf_result, "rpt", F_I32, 0, reported, 0),
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
    FLD(mf_event, "type", F_STR_NE, 1, type, 0), FLD(mf_event, "cust", F_STR, 1, cust, 0),
    FLD(mf_event, "attrs", F_MAP, 0, attrs, 0),  FLD(mf_event, "ts", F_I64, 1, ts_ms, 0),
    FLD(mf_event, "id", F_STR, 0, id, 0),        FLD(mf_event, "to", F_STR, 0, to, 0),
};

#define NF(a) (sizeof(a) / sizeof((a)[0]))

int mf_codec_decode_job(mf_codec *c, const void *bytes, size_t len, mf_job *out, mf_err *err)
{
    return decode(c, bytes, len, job_fields, NF(job_fields), out, sizeof(*out), err);
}

int mf_codec_decode_result(mf_codec *c, const void *bytes, size_t len, mf_result *out, mf_err *err)
{
    return decode(c, bytes, len, result_fields, NF(result_fields), out, sizeof(*out), err);
}

int mf_codec_decode_dlq(mf_codec *c, const void *bytes, size_t len, mf_dlq *out, mf_err *err)
{
    return decode(c, bytes, len, dlq_fields, NF(dlq_fields), out, sizeof(*out), err);
}

int mf_codec_decode_event(mf_codec *c, const void *bytes, size_t len, mf_event *out, mf_err *err)
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
