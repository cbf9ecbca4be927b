/* mf_coolsms_decode: CoolSMS answers decoded (status classes, Retry-After, send and list). */
#include "mf_coolsms_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>

/* ------------------------------------------------------------------ small helpers */

/* Copy src into dst (size sz), cut at a UTF-8 character boundary, control characters as
 * spaces and malformed bytes as '?', so that the copy is always safe to log as JSON. */
static void copy_clean(char *dst, size_t sz, const char *src, size_t n)
{
    size_t i = 0, o = 0, k;
    unsigned char c;

    if (sz == 0)
        return;
    while (i < n && o + 1 < sz) {
        c = (unsigned char)src[i];
        if (c < 0x80) {
            dst[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
            i++;
            continue;
        }
        k = c >= 0xC2 && c <= 0xDF   ? 2
            : c >= 0xE0 && c <= 0xEF ? 3
            : c >= 0xF0 && c <= 0xF4 ? 4
                                     : 0;
        if (k == 0 || i + k > n || !mf_buf_utf8_valid(src + i, k)) {
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + k + 1 > sz)
            break;
        memcpy(dst + o, src + i, k);
        o += k;
        i += k;
    }
    dst[o] = '\0';
}

void mf_coolsms_copy_cstr(char *dst, size_t sz, const char *src)
{
    if (src == NULL) {
        if (sz > 0)
            dst[0] = '\0';
        return;
    }
    copy_clean(dst, sz, src, strlen(src));
}

/* String member of a JSON object, or NULL. */
const char *mf_coolsms_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Copy a member that may be a string or a number (status codes come as either). */
void mf_coolsms_jcopy(char *dst, size_t sz, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    if (json_is_string(v))
        copy_clean(dst, sz, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
        snprintf(dst, sz, "%lld", (long long)json_integer_value(v));
    else if (sz > 0)
        dst[0] = '\0';
}

/* ------------------------------------------------------------------ job id map */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Build the map; returns -1 on allocation failure, or the index of the first repeated id
 * in *dup (SIZE_MAX when none). */
int mf_coolsms_idmap_build(idmap *m, const char *const *ids, size_t n, size_t *dup)
{
    size_t size = 16, i, j;

    *dup = SIZE_MAX;
    while (size < n * 2)
        size *= 2;
    m->tab = calloc(size, sizeof(*m->tab));
    if (m->tab == NULL)
        return -1;
    m->mask = size - 1;
    m->ids = ids;
    for (i = 0; i < n; i++) {
        j = (size_t)hash_str(ids[i]) & m->mask;
        while (m->tab[j] != 0) {
            if (strcmp(ids[m->tab[j] - 1], ids[i]) == 0) {
                if (*dup == SIZE_MAX)
                    *dup = i;
                goto next;
            }
            j = (j + 1) & m->mask;
        }
        m->tab[j] = i + 1;
next:;
    }
    return 0;
}

size_t mf_coolsms_idmap_find(const idmap *m, const char *id)
{
    size_t j = (size_t)hash_str(id) & m->mask;

    while (m->tab[j] != 0) {
        if (strcmp(m->ids[m->tab[j] - 1], id) == 0)
            return m->tab[j] - 1;
        j = (j + 1) & m->mask;
    }
    return SIZE_MAX;
}

/* ------------------------------------------------------------------ decoding */

mf_coolsms_class mf_coolsms_classify_status(long status)
{
    if (status >= 200 && status < 300)
        return MF_COOLSMS_OK;
    if (status >= 500 || status == 429 || status == 408)
        return MF_COOLSMS_TRANSIENT;
    return MF_COOLSMS_PERMANENT;
}

/* 403 DuplicatedSignature: the provider has already seen this exact request (same date, salt
 * and signature). The client signs every request afresh, so only a resend of the same bytes
 * gets it: curl resending a request on a reused connection that died before the answer came.
 * The first copy may have been processed: the request is in doubt, not refused. */
int mf_coolsms_is_duplicated_signature(long status, const char *code)
{
    return status == 403 && strcmp(code, "DuplicatedSignature") == 0;
}

/* errorCode/errorMessage of a JSON error body, else "HTTP_<status>" and the start of the text. */
void mf_coolsms_decode_error_body(long status, const char *body, size_t len, char *code,
                                  size_t code_sz, char *msg, size_t msg_sz)
{
    json_t *j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *c = json_is_object(j) ? mf_coolsms_jstr(j, "errorCode") : NULL;

    if (c != NULL) {
        mf_coolsms_copy_cstr(code, code_sz, c);
        mf_coolsms_copy_cstr(msg, msg_sz, mf_coolsms_jstr(j, "errorMessage"));
    } else {
        snprintf(code, code_sz, "HTTP_%ld", status);
        copy_clean(msg, msg_sz, body, len < ERR_TEXT_MAX ? len : ERR_TEXT_MAX);
    }
    json_decref(j);
}

static int is_accepted_code(const char *code)
{
    return code[0] == '\0' || strcmp(code, "2000") == 0 || strcmp(code, "3000") == 0 ||
           strcmp(code, "4000") == 0;
}

/* ---- the send response, decoded as a stream ----------------------------------------------
 * A 10,000-message response is a few MB of JSON. Building a document tree of it (jansson: an
 * allocation per value, a hash table per object) took 45 % of the sender's instructions
 * (callgrind); yajl hands over each value in place, so only the fields needed are copied.
 * Depth 1: the response's members; 2: a list's elements (or groupInfo's members); 3: an
 * entry's members; 4: the entry's customFields members. */

enum {
    TOP_OTHER,
    TOP_GROUP_INFO,
    TOP_GROUP_ID,
    TOP_FAILED_LIST,
    TOP_MESSAGE_LIST,
    TOP_RESULT_LIST,
    TOP_STATUS,
    TOP_N
};
enum {
    FIELD_OTHER,
    FIELD_MESSAGE_ID,
    FIELD_STATUS_CODE,
    FIELD_STATUS_MESSAGE,
    FIELD_CUSTOM,
    FIELD_TO,
    FIELD_N
};

/* The member names by TOP_* / FIELD_* value (slot 0: any other name). resultList is the
 * group add answer's list; status is a group answer's status. */
static const char *const TOP_KEYS[TOP_N] = {
    NULL, "groupInfo", "groupId", "failedMessageList", "messageList", "resultList", "status"};
static const char *const FIELD_KEYS[FIELD_N] = {
    NULL, "messageId", "statusCode", "statusMessage", "customFields", "to"};

typedef struct send_decoder {
    const idmap *ids;
    const idmap *tos; /* recipient -> index, for entries without customFields.jobId */
    mf_coolsms_outcome *outcomes;
    unsigned char *by_failed; /* outcome i came from failedMessageList */
    mf_coolsms_result *res;
    int depth;        /* maps and arrays open */
    int root_map;     /* the response is a JSON object */
    int top;          /* TOP_* of the current response member */
    int in_list;      /* depth 2 is the array of a message list */
    int group_id_key; /* the current groupInfo member is groupId */
    int entry_open;   /* depth 3 is a list entry */
    int field;        /* FIELD_* of the current entry member */
    int job_key;      /* the current customFields member is jobId */
    char top_group_id[64];
    struct {
        char message_id[64];
        char status_code[16];
        char status_message[256];
        char job[128];
        char to[32];
        int has_job;
    } e;
} send_decoder;

static int key_is(const unsigned char *k, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}

/* The index of key k in names[1..count), or 0 (other). */
static int key_index(const unsigned char *k, size_t n, const char *const *names, int count)
{
    for (int i = 1; i < count; i++)
        if (key_is(k, n, names[i]))
            return i;
    return 0;
}

/* Apply the entry just closed. A failure reported in failedMessageList wins over a
 * messageList mention, whichever comes first in the body. */
static void apply_entry(send_decoder *d)
{
    int failed_list = d->top == TOP_FAILED_LIST;
    size_t idx = d->e.has_job                           ? mf_coolsms_idmap_find(d->ids, d->e.job)
                 : d->tos != NULL && d->e.to[0] != '\0' ? mf_coolsms_idmap_find(d->tos, d->e.to)
                                                        : SIZE_MAX;
    mf_coolsms_outcome *o;

    if (idx == SIZE_MAX) {
        d->res->n_unmatched++;
        return;
    }
    o = &d->outcomes[idx];
    if (o->state != MF_COOLSMS_MSG_UNKNOWN) {
        if (d->by_failed[idx]) {
            if (failed_list)
                d->res->n_unmatched++; /* a second failure report: the first one stays */
            return;
        }
        if (!failed_list) {
            if (o->state != MF_COOLSMS_MSG_FAILED)
                d->res->n_unmatched++; /* a repeated messageList mention */
            return;
        }
    }
    memcpy(o->message_id, d->e.message_id, sizeof(o->message_id));
    memcpy(o->status_code, d->e.status_code, sizeof(o->status_code));
    memcpy(o->status_message, d->e.status_message, sizeof(o->status_message));
    d->by_failed[idx] = (unsigned char)failed_list;
    if (failed_list || !is_accepted_code(o->status_code))
        o->state = MF_COOLSMS_MSG_FAILED;
    else
        o->state = MF_COOLSMS_MSG_ACCEPTED;
}

/* A string or number (text) value; str = NULL for null and booleans. */
static int sd_value(send_decoder *d, const char *str, size_t n)
{
    if (d->depth == 1 && d->top == TOP_GROUP_ID && str != NULL)
        copy_clean(d->top_group_id, sizeof(d->top_group_id), str, n);
    else if (d->depth == 1 && d->top == TOP_STATUS && str != NULL)
        copy_clean(d->res->group_status, sizeof(d->res->group_status), str, n);
    else if (d->depth == 2 && d->in_list)
        d->res->n_unmatched++; /* a list element that is not an object */
    else if (d->depth == 2 && d->group_id_key && str != NULL)
        copy_clean(d->res->group_id, sizeof(d->res->group_id), str, n);
    else if (d->depth == 3 && d->entry_open && str != NULL) {
        if (d->field == FIELD_MESSAGE_ID)
            copy_clean(d->e.message_id, sizeof(d->e.message_id), str, n);
        else if (d->field == FIELD_STATUS_CODE)
            copy_clean(d->e.status_code, sizeof(d->e.status_code), str, n);
        else if (d->field == FIELD_STATUS_MESSAGE)
            copy_clean(d->e.status_message, sizeof(d->e.status_message), str, n);
        else if (d->field == FIELD_TO)
            copy_clean(d->e.to, sizeof(d->e.to), str, n);
    } else if (d->depth == 4 && d->entry_open && d->field == FIELD_CUSTOM && d->job_key &&
               str != NULL && n < sizeof(d->e.job)) {
        memcpy(d->e.job, str, n);
        d->e.job[n] = '\0';
        d->e.has_job = 1;
    }
    return 1;
}

static int sd_null(void *ctx)
{
    return sd_value(ctx, NULL, 0);
}
static int sd_bool(void *ctx, int v)
{
    (void)v;
    return sd_value(ctx, NULL, 0);
}
static int sd_number(void *ctx, const char *s, size_t n)
{
    return sd_value(ctx, s, n);
}

static int sd_string(void *ctx, const unsigned char *s, size_t n)
{
    return sd_value(ctx, (const char *)s, n);
}

static int sd_key(void *ctx, const unsigned char *k, size_t n)
{
    send_decoder *d = ctx;

    if (d->depth == 1) {
        d->top = key_index(k, n, TOP_KEYS, TOP_N);
    } else if (d->depth == 2) {
        d->group_id_key = d->top == TOP_GROUP_INFO && key_is(k, n, "groupId");
    } else if (d->depth == 3 && d->entry_open) {
        d->field = key_index(k, n, FIELD_KEYS, FIELD_N);
    } else if (d->depth == 4) {
        d->job_key = key_is(k, n, "jobId");
    }
    return 1;
}

static int sd_start_map(void *ctx)
{
    send_decoder *d = ctx;

    if (d->depth == 0)
        d->root_map = 1;
    else if (d->depth == 2 && d->in_list) {
        memset(&d->e, 0, sizeof(d->e));
        d->entry_open = 1;
        d->field = FIELD_OTHER;
    }
    d->job_key = 0;
    d->group_id_key = 0;
    d->depth++;
    return 1;
}

static int sd_end_map(void *ctx)
{
    send_decoder *d = ctx;

    d->depth--;
    if (d->depth == 2 && d->entry_open) {
        apply_entry(d);
        d->entry_open = 0;
    }
    return 1;
}

static int sd_start_array(void *ctx)
{
    send_decoder *d = ctx;

    if (d->depth == 1)
        d->in_list = d->top == TOP_MESSAGE_LIST || d->top == TOP_FAILED_LIST ||
                     d->top == TOP_RESULT_LIST;
    else if (d->depth == 2 && d->in_list)
        d->res->n_unmatched++; /* a list element that is not an object */
    d->depth++;
    return 1;
}

static int sd_end_array(void *ctx)
{
    send_decoder *d = ctx;

    d->depth--;
    if (d->depth == 1)
        d->in_list = 0;
    return 1;
}

static const yajl_callbacks SEND_DECODER_CALLBACKS = {
    sd_null,      sd_bool, NULL,       NULL,           sd_number,    sd_string,
    sd_start_map, sd_key,  sd_end_map, sd_start_array, sd_end_array,
};

static void bad_response(mf_coolsms_result *res, mf_coolsms_outcome *outcomes, size_t n,
                         const char *why)
{
    if (n > 0)
        memset(outcomes, 0, n * sizeof(*outcomes));
    res->n_unmatched = 0;
    res->group_id[0] = '\0';
    snprintf(res->error_code, sizeof(res->error_code), "BAD_RESPONSE");
    snprintf(res->error_message, sizeof(res->error_message), "%s", why);
}

static void decode_ok_body(const char *body, size_t len, const char *const *job_ids,
                           const char *const *tos, size_t n, mf_coolsms_outcome *outcomes,
                           mf_coolsms_result *res)
{
    send_decoder d;
    idmap m = {0}, tm = {0};
    yajl_handle h = NULL;
    size_t dup;
    yajl_status st;

    memset(&d, 0, sizeof(d));
    d.ids = &m;
    d.outcomes = outcomes;
    d.res = res;
    if (tos != NULL) {
        if (mf_coolsms_idmap_build(&tm, tos, n, &dup) < 0) {
            bad_response(res, outcomes, n, "out of memory matching the send response");
            goto out;
        }
        d.tos = &tm;
    }
    if (mf_coolsms_idmap_build(&m, job_ids, n, &dup) < 0 ||
        (d.by_failed = calloc(n + 1, 1)) == NULL ||
        (h = yajl_alloc(&SEND_DECODER_CALLBACKS, NULL, &d)) == NULL) {
        bad_response(res, outcomes, n, "out of memory matching the send response");
        goto out;
    }
    st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)body, len);
        char msg[200];

        snprintf(msg, sizeof(msg), "could not parse the send response: %s",
                 why != NULL ? (const char *)why : "invalid JSON");
        if (why != NULL)
            yajl_free_error(h, why);
        bad_response(res, outcomes, n, msg);
    } else if (!d.root_map) {
        bad_response(res, outcomes, n, "could not parse the send response: not a JSON object");
    } else if (res->group_id[0] == '\0') {
        memcpy(res->group_id, d.top_group_id, sizeof(res->group_id));
    }
out:
    if (h != NULL)
        yajl_free(h);
    free(d.by_failed);
    free(m.tab);
    free(tm.tab);
}

/* Seconds from a caller (or a header) as milliseconds, clamped; -1 stays "absent". */
long mf_coolsms_retry_after_ms(long s)
{
    if (s < 0)
        return -1;
    return (s > MF_COOLSMS_RETRY_AFTER_MAX_S ? MF_COOLSMS_RETRY_AFTER_MAX_S : s) * 1000;
}

void mf_coolsms_decode_send(const mf_coolsms_transport *tr, long http_status, long retry_after_s,
                            const char *body, size_t body_len, const char *const *job_ids, size_t n,
                            mf_coolsms_outcome *outcomes, mf_coolsms_result *res)
{
    mf_coolsms_decode_op(MF_COOLSMS_OP_SEND_MANY, tr, http_status, retry_after_s, body, body_len,
                         job_ids, NULL, n, outcomes, res);
}

void mf_coolsms_decode_op(mf_coolsms_op op, const mf_coolsms_transport *tr, long http_status,
                          long retry_after_s, const char *body, size_t body_len,
                          const char *const *job_ids, const char *const *tos, size_t n,
                          mf_coolsms_outcome *outcomes, mf_coolsms_result *res)
{
    size_t i;

    memset(res, 0, sizeof(*res));
    res->op = op;
    if (n > 0)
        memset(outcomes, 0, n * sizeof(*outcomes));
    res->n_messages = n;
    res->outcomes = outcomes;
    res->retry_after_ms = mf_coolsms_retry_after_ms(retry_after_s);
    if (tr != NULL && tr->curl_failed) {
        res->cls = tr->curl_permanent ? MF_COOLSMS_PERMANENT : MF_COOLSMS_TRANSIENT;
        res->maybe_sent = tr->curl_sent && !tr->curl_permanent;
        snprintf(res->error_code, sizeof(res->error_code), "%s",
                 tr->curl_permanent ? "CONFIG_ERROR"
                 : tr->curl_timeout ? "NETWORK_TIMEOUT"
                                    : "NETWORK_ERROR");
        mf_coolsms_copy_cstr(res->error_message, sizeof(res->error_message), tr->curl_message);
    } else {
        res->http_status = http_status;
        res->cls = mf_coolsms_classify_status(http_status);
        res->maybe_sent = res->cls == MF_COOLSMS_OK || http_status >= 500;
        if (res->cls == MF_COOLSMS_OK)
            decode_ok_body(body, body_len, job_ids, tos, n, outcomes, res);
        else
            mf_coolsms_decode_error_body(http_status, body, body_len, res->error_code,
                                         sizeof(res->error_code), res->error_message,
                                         sizeof(res->error_message));
        if (mf_coolsms_is_duplicated_signature(http_status, res->error_code)) {
            res->cls = MF_COOLSMS_TRANSIENT;
            res->maybe_sent = 1;
        }
    }
    for (i = 0; i < n; i++) {
        if (outcomes[i].state == MF_COOLSMS_MSG_ACCEPTED)
            res->n_accepted++;
        else if (outcomes[i].state == MF_COOLSMS_MSG_FAILED)
            res->n_failed++;
        else
            res->n_unknown++;
    }
}

static void decode_listed(const char *key, const json_t *e, mf_coolsms_listed *it)
{
    const json_t *cf = json_object_get(e, "customFields");
    const json_t *to = json_object_get(e, "to");

    memset(it, 0, sizeof(*it));
    mf_coolsms_jcopy(it->message_id, sizeof(it->message_id), e, "messageId");
    if (it->message_id[0] == '\0' && key != NULL)
        mf_coolsms_copy_cstr(it->message_id, sizeof(it->message_id), key);
    mf_coolsms_jcopy(it->group_id, sizeof(it->group_id), e, "groupId");
    if (json_is_array(to))
        to = json_array_get(to, 0);
    if (json_is_string(to))
        mf_coolsms_copy_cstr(it->to, sizeof(it->to), json_string_value(to));
    mf_coolsms_jcopy(it->from, sizeof(it->from), e, "from");
    mf_coolsms_jcopy(it->type, sizeof(it->type), e, "type");
    mf_coolsms_jcopy(it->status_code, sizeof(it->status_code), e, "statusCode");
    mf_coolsms_jcopy(it->status_message, sizeof(it->status_message), e, "statusMessage");
    if (it->status_message[0] == '\0')
        mf_coolsms_jcopy(it->status_message, sizeof(it->status_message), e, "reason");
    if (json_is_object(cf)) {
        mf_coolsms_jcopy(it->job_id, sizeof(it->job_id), cf, "jobId");
        mf_coolsms_jcopy(it->run_id, sizeof(it->run_id), cf, "runId");
    }
    mf_coolsms_jcopy(it->date_created, sizeof(it->date_created), e, "dateCreated");
    mf_coolsms_jcopy(it->date_processed, sizeof(it->date_processed), e, "dateProcessed");
    mf_coolsms_jcopy(it->date_received, sizeof(it->date_received), e, "dateReceived");
}

int mf_coolsms_decode_list(const char *body, size_t body_len, mf_coolsms_list_result *out,
                           mf_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, body_len, 0, &jerr);
    const json_t *ml, *e;
    const char *key;
    size_t i = 0, cnt;
    int rc = -1;

    if (!json_is_object(j)) {
        mf_err_set(err, "could not parse the list response: %s", jerr.text);
        goto out;
    }
    mf_coolsms_copy_cstr(out->next_key, sizeof(out->next_key), mf_coolsms_jstr(j, "nextKey"));
    ml = json_object_get(j, "messageList");
    cnt = json_is_object(ml) ? json_object_size(ml) : json_is_array(ml) ? json_array_size(ml) : 0;
    if (ml != NULL && !json_is_null(ml) && !json_is_object(ml) && !json_is_array(ml)) {
        mf_err_set(err, "list response has a messageList that is neither object nor array");
        goto out;
    }
    if (cnt > 0) {
        out->items = calloc(cnt, sizeof(*out->items));
        if (out->items == NULL) {
            mf_err_set(err, "out of memory for %zu listed messages", cnt);
            goto out;
        }
    }
    if (json_is_object(ml)) {
        json_object_foreach((json_t *)ml, key, e) if (json_is_object(e))
            decode_listed(key, e, &out->items[i++]);
    } else if (json_is_array(ml)) {
        size_t k;
        json_array_foreach(ml, k, e) if (json_is_object(e))
            decode_listed(NULL, e, &out->items[i++]);
    }
    out->n_items = i;
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------ headers */

long mf_coolsms_retry_after_parse(const char *value, time_t now)
{
    const char *p = value, *q;
    unsigned long long v = 0;
    time_t t;

    if (value == NULL)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        /* delta-seconds: digits only, saturating instead of overflowing */
        for (q = p; *q >= '0' && *q <= '9'; q++) {
            if (v <= MF_COOLSMS_RETRY_AFTER_MAX_S)
                v = v * 10 + (unsigned long long)(*q - '0');
        }
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
            q++;
        if (*q != '\0')
            return -1;
        return v > MF_COOLSMS_RETRY_AFTER_MAX_S ? MF_COOLSMS_RETRY_AFTER_MAX_S : (long)v;
    }
    t = curl_getdate(p, NULL);
    if (t == (time_t)-1)
        return -1;
    if (t <= now)
        return 0;
    return t - now > MF_COOLSMS_RETRY_AFTER_MAX_S ? MF_COOLSMS_RETRY_AFTER_MAX_S : (long)(t - now);
}

void mf_coolsms_header_line(const char *line, size_t n, time_t now, long *retry_after_s)
{
    static const char name[] = "retry-after:";
    char val[64];
    size_t vl;
    long v;

    if (n > sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        vl = n - (sizeof(name) - 1);
        if (vl >= sizeof(val))
            return; /* no valid value is that long */
        memcpy(val, line + sizeof(name) - 1, vl);
        val[vl] = '\0';
        v = mf_coolsms_retry_after_parse(val, now);
        if (v >= 0)
            *retry_after_s = v;
    }
}

const char *mf_coolsms_class_name(mf_coolsms_class c)
{
    switch (c) {
    case MF_COOLSMS_OK: return "ok";
    case MF_COOLSMS_TRANSIENT: return "transient";
    case MF_COOLSMS_PERMANENT: return "permanent";
    }
    return "?";
}

const char *mf_coolsms_state_name(mf_coolsms_state s)
{
    switch (s) {
    case MF_COOLSMS_MSG_UNKNOWN: return "unknown";
    case MF_COOLSMS_MSG_ACCEPTED: return "accepted";
    case MF_COOLSMS_MSG_FAILED: return "failed";
    }
    return "?";
}
