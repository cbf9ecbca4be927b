/* mf_coolsms: CoolSMS / SOLAPI v4 REST client (HMAC auth, async send-many/detail, list). */
#include "mf_coolsms.h"

#include <curl/curl.h>
#include <jansson.h>
#include <yajl/yajl_parse.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEND_PATH "/messages/v4/send-many/detail"
#define LIST_PATH "/messages/v4/list"
#define GROUPS_PATH "/messages/v4/groups"
#define BLACK_PATH "/iam/v1/black"
#define QUOTA_PATH "/quota/v1/me"
#define DEFAULT_REQUEST_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_IN_FLIGHT 4
#define MAX_IN_FLIGHT 64
#define DEFAULT_USER_AGENT "msgfleet-coolsms/1"
#define BODY_MAX ((size_t)256 * 1024 * 1024)
#define RESP_MAX ((size_t)64 * 1024 * 1024)
#define AUTH_MAX 512
#define ERR_TEXT_MAX 200 /* bytes of a text error body kept, like the SDK */

/* One concurrent send request: its easy handle and every buffer it needs, reused. */
typedef struct slot {
    int busy;
    CURL *easy;
    struct curl_slist *headers;
    mf_buf body;
    mf_buf resp;
    mf_buf url;              /* this request's URL */
    mf_buf ids;              /* the job ids, each NUL-terminated, back to back */
    const char **id_ptrs;    /* n pointers into ids */
    mf_buf tos;              /* group add: the recipients, like ids */
    const char **to_ptrs;    /* n pointers into tos (group add only) */
    mf_coolsms_op op;
    mf_coolsms_outcome *outcomes;
    size_t cap;              /* entries allocated in id_ptrs and outcomes */
    size_t n;
    uint64_t request_id;
    mf_coolsms_done_fn cb;
    void *user;
    long retry_after_s;
    struct timespec started;
    char errbuf[CURL_ERROR_SIZE];
} slot;

struct mf_coolsms {
    char *base_url;
    char *api_key;
    char *api_secret;
    char *user_agent;
    char *send_url;
    long request_timeout_ms;
    long connect_timeout_ms;
    int n_slots;
    int in_flight;
    uint64_t next_id;
    CURLM *multi;
    slot *slots;
    CURL *list_easy;
    mf_buf list_url;
    mf_buf list_resp;
    long list_retry_after_s;
    char list_errbuf[CURL_ERROR_SIZE];
};

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
        k = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
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

static void copy_cstr(char *dst, size_t sz, const char *src)
{
    if (src == NULL) {
        if (sz > 0)
            dst[0] = '\0';
        return;
    }
    copy_clean(dst, sz, src, strlen(src));
}

/* String member of a JSON object, or NULL. */
static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Copy a member that may be a string or a number (status codes come as either). */
static void jcopy(char *dst, size_t sz, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    if (json_is_string(v))
        copy_clean(dst, sz, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
        snprintf(dst, sz, "%lld", (long long)json_integer_value(v));
    else if (sz > 0)
        dst[0] = '\0';
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ------------------------------------------------------------------ job id map */

/* Open-addressing map from job id to message index (one allocation per request). */
typedef struct idmap {
    size_t *tab; /* index + 1, 0 = empty */
    size_t mask;
    const char *const *ids;
} idmap;

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
static int idmap_build(idmap *m, const char *const *ids, size_t n, size_t *dup)
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

static size_t idmap_find(const idmap *m, const char *id)
{
    size_t j = (size_t)hash_str(id) & m->mask;

    while (m->tab[j] != 0) {
        if (strcmp(m->ids[m->tab[j] - 1], id) == 0)
            return m->tab[j] - 1;
        j = (j + 1) & m->mask;
    }
    return SIZE_MAX;
}

/* ------------------------------------------------------------------ auth */

int mf_coolsms_auth_header(char *out, size_t out_size, const char *api_key,
                           const char *api_secret, const char *date, const char *salt,
                           mf_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char sig[2 * EVP_MAX_MD_SIZE + 1];
    char data[256];
    size_t dl = strlen(date), sl = strlen(salt), i;
    int n;

    if (dl + sl >= sizeof(data))
        return mf_err_set(err, "date and salt too long for the signature");
    memcpy(data, date, dl);
    memcpy(data + dl, salt, sl);
    if (HMAC(EVP_sha256(), api_secret, (int)strlen(api_secret), (const unsigned char *)data,
             dl + sl, md, &md_len) == NULL)
        return mf_err_set(err, "could not compute the request signature");
    for (i = 0; i < md_len; i++) {
        sig[2 * i] = hex[md[i] >> 4];
        sig[2 * i + 1] = hex[md[i] & 0xF];
    }
    sig[2 * md_len] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
    n = snprintf(out, out_size, "HMAC-SHA256 apiKey=%s, date=%s, salt=%s, signature=%s",
                 api_key, date, salt, sig);
    if (n < 0 || (size_t)n >= out_size)
        return mf_err_set(err, "authorization header does not fit in %zu bytes", out_size);
    return 0;
}

int mf_coolsms_format_date(time_t t, char *out, size_t out_size, mf_err *err)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return mf_err_set(err, "could not convert the time to UTC");
    if (strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return mf_err_set(err, "date does not fit in %zu bytes", out_size);
    return 0;
}

int mf_coolsms_make_salt(char *out, size_t out_size, mf_err *err)
{
    static const char alphabet[] =
        "1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned char rnd[64];
    size_t o = 0, i;

    if (out_size < 33)
        return mf_err_set(err, "salt buffer too small");
    while (o < 32) {
        if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
            return mf_err_set(err, "could not get random bytes for the salt");
        /* 248 = 4 * 62: rejecting the rest keeps every character equally likely. */
        for (i = 0; i < sizeof(rnd) && o < 32; i++)
            if (rnd[i] < 248)
                out[o++] = alphabet[rnd[i] % 62];
    }
    out[32] = '\0';
    return 0;
}

/* "Authorization: ..." for now, with a fresh salt. */
static int auth_line(const mf_coolsms *h, char *line, size_t size, mf_err *err)
{
    char date[32], salt[33];
    static const char prefix[] = "Authorization: ";

    if (mf_coolsms_format_date(time(NULL), date, sizeof(date), err) < 0 ||
        mf_coolsms_make_salt(salt, sizeof(salt), err) < 0)
        return -1;
    memcpy(line, prefix, sizeof(prefix) - 1);
    return mf_coolsms_auth_header(line + sizeof(prefix) - 1, size - (sizeof(prefix) - 1),
                                  h->api_key, h->api_secret, date, salt, err);
}

/* ------------------------------------------------------------------ body */

static int put_key(mf_buf *b, const char *key, mf_err *err)
{
    return mf_buf_append_str(b, key, err);
}

/* Append ,"<key>":<json string of val> */
static int put_field(mf_buf *b, const char *key, const char *val, const char *what, size_t i,
                     mf_err *err)
{
    if (put_key(b, key, err) < 0)
        return -1;
    if (mf_buf_append_json_cstr(b, val, err) < 0)
        return mf_err_prefix(err, "message %zu: field \"%s\"", i, what);
    return 0;
}

static int check_buttons(const char *buttons, size_t i, mf_err *err)
{
    json_error_t jerr;
    json_t *j = json_loads(buttons, JSON_DECODE_ANY, &jerr);
    int ok = json_is_array(j);

    json_decref(j);
    if (!ok)
        return mf_err_set(err, "message %zu: kakao buttons_json is not a JSON array", i);
    return 0;
}

static int put_variables(mf_buf *b, const mf_coolsms_kakao *k, size_t i, mf_err *err)
{
    size_t v, kl;
    const char *key;

    if (mf_buf_append_str(b, ",\"variables\":{", err) < 0)
        return -1;
    for (v = 0; v < k->n_variables; v++) {
        key = k->variables[v].key;
        if (key == NULL || k->variables[v].value == NULL)
            return mf_err_set(err, "message %zu: kakao variable %zu has no key or value", i, v);
        kl = strlen(key);
        if (v > 0 && mf_buf_append_char(b, ',', err) < 0)
            return -1;
        if (kl >= 3 && key[0] == '#' && key[1] == '{' && key[kl - 1] == '}') {
            if (mf_buf_append_json_str(b, key, kl, err) < 0)
                return mf_err_prefix(err, "message %zu: kakao variable key", i);
        } else if (mf_buf_append_str(b, "\"#{", err) < 0 ||
                   mf_buf_append_json_escaped(b, key, kl, err) < 0 ||
                   mf_buf_append_str(b, "}\"", err) < 0) {
            return mf_err_prefix(err, "message %zu: kakao variable key", i);
        }
        if (mf_buf_append_char(b, ':', err) < 0 ||
            mf_buf_append_json_cstr(b, k->variables[v].value, err) < 0)
            return mf_err_prefix(err, "message %zu: kakao variable value", i);
    }
    return mf_buf_append_char(b, '}', err);
}

static int put_kakao(mf_buf *b, const mf_coolsms_kakao *k, size_t i, const char **last_buttons,
                     mf_err *err)
{
    if (k->pf_id == NULL)
        return mf_err_set(err, "message %zu: kakao options without pf_id", i);
    if (put_field(b, ",\"kakaoOptions\":{\"pfId\":", k->pf_id, "kakao pfId", i, err) < 0)
        return -1;
    if (k->template_id != NULL &&
        put_field(b, ",\"templateId\":", k->template_id, "kakao templateId", i, err) < 0)
        return -1;
    if (k->n_variables > 0 && put_variables(b, k, i, err) < 0)
        return -1;
    if (k->buttons_json != NULL) {
        /* Buttons are usually one string shared by a whole run: check each string once. */
        if (k->buttons_json != *last_buttons && check_buttons(k->buttons_json, i, err) < 0)
            return -1;
        *last_buttons = k->buttons_json;
        if (mf_buf_append_str(b, ",\"buttons\":", err) < 0 ||
            mf_buf_append_str(b, k->buttons_json, err) < 0)
            return -1;
    }
    if (mf_buf_append_str(b, k->disable_sms ? ",\"disableSms\":true}" : ",\"disableSms\":false}",
                          err) < 0)
        return -1;
    return 0;
}

static int put_custom_fields(mf_buf *b, const mf_coolsms_msg *m, size_t i, mf_err *err)
{
    size_t c;
    const mf_coolsms_kv *kv;

    if (put_field(b, ",\"customFields\":{\"jobId\":", m->job_id, "jobId", i, err) < 0)
        return -1;
    if (m->run_id != NULL && put_field(b, ",\"runId\":", m->run_id, "runId", i, err) < 0)
        return -1;
    for (c = 0; c < m->n_custom_fields; c++) {
        kv = &m->custom_fields[c];
        if (kv->key == NULL || kv->value == NULL || strcmp(kv->key, "jobId") == 0 ||
            strcmp(kv->key, "runId") == 0)
            return mf_err_set(err, "message %zu: custom field %zu is empty or repeats jobId/runId",
                              i, c);
        if (mf_buf_append_char(b, ',', err) < 0 || mf_buf_append_json_cstr(b, kv->key, err) < 0 ||
            mf_buf_append_char(b, ':', err) < 0 ||
            mf_buf_append_json_cstr(b, kv->value, err) < 0)
            return mf_err_prefix(err, "message %zu: custom field %zu", i, c);
    }
    return mf_buf_append_char(b, '}', err);
}

static int put_message(mf_buf *b, const mf_coolsms_msg *m, size_t i, const char **last_buttons,
                       mf_err *err)
{
    if (m->to == NULL || m->from == NULL || m->text == NULL || m->job_id == NULL ||
        m->job_id[0] == '\0')
        return mf_err_set(err, "message %zu: to, from, text and job_id are required", i);
    if (mf_buf_append_str(b, i > 0 ? ",{" : "{", err) < 0)
        return -1;
    if (put_field(b, "\"to\":", m->to, "to", i, err) < 0 ||
        put_field(b, ",\"from\":", m->from, "from", i, err) < 0 ||
        put_field(b, ",\"text\":", m->text, "text", i, err) < 0)
        return -1;
    if (m->type != NULL) {
        if (put_field(b, ",\"type\":", m->type, "type", i, err) < 0 ||
            mf_buf_append_str(b, ",\"autoTypeDetect\":false", err) < 0)
            return -1;
    }
    if (m->subject != NULL && put_field(b, ",\"subject\":", m->subject, "subject", i, err) < 0)
        return -1;
    if (m->kakao != NULL && put_kakao(b, m->kakao, i, last_buttons, err) < 0)
        return -1;
    if (put_custom_fields(b, m, i, err) < 0)
        return -1;
    return mf_buf_append_char(b, '}', err);
}

/* {"messages":[...]<tail>: tail closes the object (send-many adds its options there). */
static int build_messages(mf_buf *body, const mf_coolsms_msg *msgs, size_t n, const char *tail,
                          mf_err *err)
{
    const char *last_buttons = NULL;
    size_t start = body->len, i;

    if (n == 0 || n > MF_COOLSMS_MAX_BATCH)
        return mf_err_set(err, "a request carries 1 to %d messages, not %zu",
                          MF_COOLSMS_MAX_BATCH, n);
    if (mf_buf_append_str(body, "{\"messages\":[", err) < 0)
        goto fail;
    for (i = 0; i < n; i++)
        if (put_message(body, &msgs[i], i, &last_buttons, err) < 0)
            goto fail;
    if (mf_buf_append_str(body, tail, err) < 0)
        goto fail;
    return 0;
fail:
    body->len = start;
    if (body->data != NULL)
        body->data[start] = '\0';
    return -1;
}

int mf_coolsms_build_body(mf_buf *body, const mf_coolsms_msg *msgs, size_t n, mf_err *err)
{
    return build_messages(body, msgs, n, "],\"allowDuplicates\":false,\"showMessageList\":true}",
                          err);
}

/* ------------------------------------------------------------------ decoding */

static mf_coolsms_class classify_status(long status)
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
static int is_duplicated_signature(long status, const char *code)
{
    return status == 403 && strcmp(code, "DuplicatedSignature") == 0;
}

/* errorCode/errorMessage of a JSON error body, else "HTTP_<status>" and the start of the text. */
static void decode_error_body(long status, const char *body, size_t len, char *code,
                              size_t code_sz, char *msg, size_t msg_sz)
{
    json_t *j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *c = json_is_object(j) ? jstr(j, "errorCode") : NULL;

    if (c != NULL) {
        copy_cstr(code, code_sz, c);
        copy_cstr(msg, msg_sz, jstr(j, "errorMessage"));
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

enum { TOP_OTHER, TOP_GROUP_INFO, TOP_GROUP_ID, TOP_FAILED_LIST, TOP_MESSAGE_LIST,
       TOP_RESULT_LIST, TOP_STATUS, TOP_N };
enum { FIELD_OTHER, FIELD_MESSAGE_ID, FIELD_STATUS_CODE, FIELD_STATUS_MESSAGE, FIELD_CUSTOM,
       FIELD_TO, FIELD_N };

/* The member names by TOP_* / FIELD_* value (slot 0: any other name). resultList is the
 * group add answer's list; status is a group answer's status. */
static const char *const TOP_KEYS[TOP_N] = {NULL, "groupInfo", "groupId", "failedMessageList",
                                            "messageList", "resultList", "status"};
static const char *const FIELD_KEYS[FIELD_N] = {NULL, "messageId", "statusCode",
                                                "statusMessage", "customFields", "to"};

typedef struct send_decoder {
    const idmap *ids;
    const idmap *tos;         /* recipient -> index, for entries without customFields.jobId */
    mf_coolsms_outcome *outcomes;
    unsigned char *by_failed; /* outcome i came from failedMessageList */
    mf_coolsms_result *res;
    int depth;                /* maps and arrays open */
    int root_map;             /* the response is a JSON object */
    int top;                  /* TOP_* of the current response member */
    int in_list;              /* depth 2 is the array of a message list */
    int group_id_key;         /* the current groupInfo member is groupId */
    int entry_open;           /* depth 3 is a list entry */
    int field;                /* FIELD_* of the current entry member */
    int job_key;              /* the current customFields member is jobId */
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
    size_t idx = d->e.has_job                        ? idmap_find(d->ids, d->e.job)
                 : d->tos != NULL && d->e.to[0] != '\0' ? idmap_find(d->tos, d->e.to)
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

static int sd_null(void *ctx) { return sd_value(ctx, NULL, 0); }
static int sd_bool(void *ctx, int v) { (void)v; return sd_value(ctx, NULL, 0); }
static int sd_number(void *ctx, const char *s, size_t n) { return sd_value(ctx, s, n); }

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
    sd_null, sd_bool, NULL, NULL, sd_number, sd_string,
    sd_start_map, sd_key, sd_end_map, sd_start_array, sd_end_array,
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
        if (idmap_build(&tm, tos, n, &dup) < 0) {
            bad_response(res, outcomes, n, "out of memory matching the send response");
            goto out;
        }
        d.tos = &tm;
    }
    if (idmap_build(&m, job_ids, n, &dup) < 0 || (d.by_failed = calloc(n + 1, 1)) == NULL ||
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
static long retry_after_ms_of(long s)
{
    if (s < 0)
        return -1;
    return (s > MF_COOLSMS_RETRY_AFTER_MAX_S ? MF_COOLSMS_RETRY_AFTER_MAX_S : s) * 1000;
}

void mf_coolsms_decode_send(const mf_coolsms_transport *tr, long http_status,
                            long retry_after_s, const char *body, size_t body_len,
                            const char *const *job_ids, size_t n,
                            mf_coolsms_outcome *outcomes, mf_coolsms_result *res)
{
    mf_coolsms_decode_op(MF_COOLSMS_OP_SEND_MANY, tr, http_status, retry_after_s, body,
                         body_len, job_ids, NULL, n, outcomes, res);
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
    res->retry_after_ms = retry_after_ms_of(retry_after_s);
    if (tr != NULL && tr->curl_failed) {
        res->cls = tr->curl_permanent ? MF_COOLSMS_PERMANENT : MF_COOLSMS_TRANSIENT;
        res->maybe_sent = tr->curl_sent && !tr->curl_permanent;
        snprintf(res->error_code, sizeof(res->error_code), "%s",
                 tr->curl_permanent ? "CONFIG_ERROR"
                 : tr->curl_timeout ? "NETWORK_TIMEOUT" : "NETWORK_ERROR");
        copy_cstr(res->error_message, sizeof(res->error_message), tr->curl_message);
    } else {
        res->http_status = http_status;
        res->cls = classify_status(http_status);
        res->maybe_sent = res->cls == MF_COOLSMS_OK || http_status >= 500;
        if (res->cls == MF_COOLSMS_OK)
            decode_ok_body(body, body_len, job_ids, tos, n, outcomes, res);
        else
            decode_error_body(http_status, body, body_len, res->error_code,
                              sizeof(res->error_code), res->error_message,
                              sizeof(res->error_message));
        if (is_duplicated_signature(http_status, res->error_code)) {
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
    jcopy(it->message_id, sizeof(it->message_id), e, "messageId");
    if (it->message_id[0] == '\0' && key != NULL)
        copy_cstr(it->message_id, sizeof(it->message_id), key);
    jcopy(it->group_id, sizeof(it->group_id), e, "groupId");
    if (json_is_array(to))
        to = json_array_get(to, 0);
    if (json_is_string(to))
        copy_cstr(it->to, sizeof(it->to), json_string_value(to));
    jcopy(it->from, sizeof(it->from), e, "from");
    jcopy(it->type, sizeof(it->type), e, "type");
    jcopy(it->status_code, sizeof(it->status_code), e, "statusCode");
    jcopy(it->status_message, sizeof(it->status_message), e, "statusMessage");
    if (it->status_message[0] == '\0')
        jcopy(it->status_message, sizeof(it->status_message), e, "reason");
    if (json_is_object(cf)) {
        jcopy(it->job_id, sizeof(it->job_id), cf, "jobId");
        jcopy(it->run_id, sizeof(it->run_id), cf, "runId");
    }
    jcopy(it->date_created, sizeof(it->date_created), e, "dateCreated");
    jcopy(it->date_processed, sizeof(it->date_processed), e, "dateProcessed");
    jcopy(it->date_received, sizeof(it->date_received), e, "dateReceived");
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
    copy_cstr(out->next_key, sizeof(out->next_key), jstr(j, "nextKey"));
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
        json_object_foreach((json_t *)ml, key, e)
            if (json_is_object(e))
                decode_listed(key, e, &out->items[i++]);
    } else if (json_is_array(ml)) {
        size_t k;
        json_array_foreach(ml, k, e)
            if (json_is_object(e))
                decode_listed(NULL, e, &out->items[i++]);
    }
    out->n_items = i;
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------ curl plumbing */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    mf_buf *b = ud;
    size_t n = size * nmemb;

    if (mf_buf_append(b, p, n, NULL) < 0)
        return 0; /* too large: curl fails the transfer with CURLE_WRITE_ERROR */
    return n;
}

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
    return t - now > MF_COOLSMS_RETRY_AFTER_MAX_S ? MF_COOLSMS_RETRY_AFTER_MAX_S
                                                   : (long)(t - now);
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

/* curl's header callback: each header line through mf_coolsms_header_line. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;

    mf_coolsms_header_line(p, n, time(NULL), ud);
    return n;
}

static int easy_common(const mf_coolsms *h, CURL *e, char *errbuf)
{
    CURLcode c = CURLE_OK;

    c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->request_timeout_ms);
    c |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    c |= curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
    c |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    c |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    c |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    return c == CURLE_OK ? 0 : -1;
}

/* Headers of one request, with a fresh signature. */
static struct curl_slist *make_headers(const mf_coolsms *h, int with_body, mf_err *err)
{
    char auth[AUTH_MAX];
    struct curl_slist *l = NULL, *t;
    const char *fixed[] = {"Accept: application/json", "Expect:",
                           with_body ? "Content-Type: application/json; charset=utf-8" : NULL};
    size_t i;

    if (auth_line(h, auth, sizeof(auth), err) < 0)
        return NULL;
    l = curl_slist_append(NULL, auth);
    OPENSSL_cleanse(auth, sizeof(auth));
    for (i = 0; l != NULL && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i] == NULL)
            continue;
        t = curl_slist_append(l, fixed[i]);
        if (t == NULL) {
            curl_slist_free_all(l);
            l = NULL;
        }
    }
    if (l == NULL)
        mf_err_set(err, "out of memory building request headers");
    return l;
}

static int transport_permanent(CURLcode c)
{
    switch (c) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return 1;
    default:
        return 0;
    }
}

static void fill_transport(CURL *e, CURLcode c, const char *errbuf, mf_coolsms_transport *tr,
                           char *msg, size_t msg_sz)
{
    long req_size = 0;

    memset(tr, 0, sizeof(*tr));
    if (c == CURLE_OK)
        return;
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &req_size);
    tr->curl_failed = 1;
    tr->curl_timeout = c == CURLE_OPERATION_TIMEDOUT;
    tr->curl_sent = req_size > 0;
    tr->curl_permanent = transport_permanent(c);
    snprintf(msg, msg_sz, "%s%s%s", curl_easy_strerror(c), errbuf[0] ? ": " : "", errbuf);
    tr->curl_message = msg;
}

/* ------------------------------------------------------------------ handle */

static int slot_init(mf_coolsms *h, slot *s)
{
    mf_buf_init(&s->body, BODY_MAX);
    mf_buf_init(&s->resp, RESP_MAX);
    mf_buf_init(&s->ids, 0);
    mf_buf_init(&s->tos, 0);
    mf_buf_init(&s->url, 4096);
    s->easy = curl_easy_init();
    if (s->easy == NULL || easy_common(h, s->easy, s->errbuf) < 0)
        return -1;
    if (curl_easy_setopt(s->easy, CURLOPT_URL, h->send_url) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->resp) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, &s->retry_after_s) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK)
        return -1;
    return 0;
}

static void slot_free(mf_coolsms *h, slot *s)
{
    if (s->easy != NULL) {
        if (s->busy)
            curl_multi_remove_handle(h->multi, s->easy);
        curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->headers);
    mf_buf_free(&s->body);
    mf_buf_free(&s->resp);
    mf_buf_free(&s->ids);
    mf_buf_free(&s->tos);
    mf_buf_free(&s->url);
    free(s->id_ptrs);
    free(s->to_ptrs);
    free(s->outcomes);
}

static int check_config(const mf_coolsms_config *cfg, mf_err *err)
{
    if (cfg == NULL || cfg->base_url == NULL || cfg->api_key == NULL || cfg->api_secret == NULL)
        return mf_err_set(err, "coolsms base_url, api_key and api_secret are required");
    if (strncmp(cfg->base_url, "http://", 7) != 0 && strncmp(cfg->base_url, "https://", 8) != 0)
        return mf_err_set(err, "coolsms base_url \"%s\" is not an http(s) URL", cfg->base_url);
    if (cfg->api_key[0] == '\0' || cfg->api_secret[0] == '\0')
        return mf_err_set(err, "coolsms api_key and api_secret must not be empty");
    if (has_ctl(cfg->api_key) || has_ctl(cfg->base_url) ||
        (cfg->user_agent != NULL && has_ctl(cfg->user_agent)))
        return mf_err_set(err, "coolsms base_url, api_key and user_agent must not contain "
                               "control characters");
    if (cfg->max_in_flight < 0 || cfg->max_in_flight > MAX_IN_FLIGHT)
        return mf_err_set(err, "coolsms max_in_flight %d is out of range 1..%d",
                          cfg->max_in_flight, MAX_IN_FLIGHT);
    if (cfg->request_timeout_ms < 0 || cfg->connect_timeout_ms < 0)
        return mf_err_set(err, "coolsms timeouts must not be negative");
    return 0;
}

static int copy_config(mf_coolsms *h, const mf_coolsms_config *cfg)
{
    size_t bl = strlen(cfg->base_url);

    while (bl > 0 && cfg->base_url[bl - 1] == '/')
        bl--;
    h->base_url = malloc(bl + 1);
    h->send_url = malloc(bl + sizeof(SEND_PATH));
    h->api_key = dup_str(cfg->api_key);
    h->api_secret = dup_str(cfg->api_secret);
    h->user_agent = dup_str(cfg->user_agent != NULL ? cfg->user_agent : DEFAULT_USER_AGENT);
    if (h->base_url == NULL || h->send_url == NULL || h->api_key == NULL ||
        h->api_secret == NULL || h->user_agent == NULL)
        return -1;
    memcpy(h->base_url, cfg->base_url, bl);
    h->base_url[bl] = '\0';
    memcpy(h->send_url, h->base_url, bl);
    memcpy(h->send_url + bl, SEND_PATH, sizeof(SEND_PATH));
    h->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms
                                                        : DEFAULT_REQUEST_TIMEOUT_MS;
    h->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
                                                        : DEFAULT_CONNECT_TIMEOUT_MS;
    h->n_slots = cfg->max_in_flight > 0 ? cfg->max_in_flight : DEFAULT_IN_FLIGHT;
    return 0;
}

mf_coolsms *mf_coolsms_new(const mf_coolsms_config *cfg, mf_err *err)
{
    mf_coolsms *h = NULL;
    int i;

    if (check_config(cfg, err) < 0)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (h == NULL || copy_config(h, cfg) < 0)
        goto oom;
    mf_buf_init(&h->list_url, 1024 * 1024);
    mf_buf_init(&h->list_resp, RESP_MAX);
    h->next_id = 1;
    h->multi = curl_multi_init();
    h->slots = calloc((size_t)h->n_slots, sizeof(*h->slots));
    h->list_easy = curl_easy_init();
    if (h->multi == NULL || h->slots == NULL || h->list_easy == NULL)
        goto oom;
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->n_slots);
    for (i = 0; i < h->n_slots; i++)
        if (slot_init(h, &h->slots[i]) < 0)
            goto oom;
    if (easy_common(h, h->list_easy, h->list_errbuf) < 0 ||
        curl_easy_setopt(h->list_easy, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
        curl_easy_setopt(h->list_easy, CURLOPT_WRITEDATA, &h->list_resp) != CURLE_OK ||
        curl_easy_setopt(h->list_easy, CURLOPT_HEADERDATA, &h->list_retry_after_s) != CURLE_OK)
        goto oom;
    return h;
oom:
    mf_coolsms_destroy(h);
    mf_err_set(err, "could not create the coolsms client: out of memory or curl failure");
    return NULL;
}

void mf_coolsms_destroy(mf_coolsms *h)
{
    int i;

    if (h == NULL)
        return;
    if (h->slots != NULL)
        for (i = 0; i < h->n_slots; i++)
            slot_free(h, &h->slots[i]);
    free(h->slots);
    if (h->list_easy != NULL)
        curl_easy_cleanup(h->list_easy);
    if (h->multi != NULL)
        curl_multi_cleanup(h->multi);
    mf_buf_free(&h->list_url);
    mf_buf_free(&h->list_resp);
    if (h->api_secret != NULL) {
        OPENSSL_cleanse(h->api_secret, strlen(h->api_secret));
        free(h->api_secret);
    }
    free(h->api_key);
    free(h->base_url);
    free(h->send_url);
    free(h->user_agent);
    free(h);
}

int mf_coolsms_free_slots(const mf_coolsms *h)
{
    return h->n_slots - h->in_flight;
}

int mf_coolsms_in_flight(const mf_coolsms *h)
{
    return h->in_flight;
}

/* ------------------------------------------------------------------ send */

static int slot_reserve(slot *s, size_t n, mf_err *err)
{
    const char **ip;
    mf_coolsms_outcome *op;

    if (n <= s->cap)
        return 0;
    ip = realloc(s->id_ptrs, n * sizeof(*ip));
    if (ip == NULL)
        return mf_err_set(err, "out of memory for %zu messages", n);
    s->id_ptrs = ip;
    ip = realloc(s->to_ptrs, n * sizeof(*ip));
    if (ip == NULL)
        return mf_err_set(err, "out of memory for %zu messages", n);
    s->to_ptrs = ip;
    op = realloc(s->outcomes, n * sizeof(*op));
    if (op == NULL)
        return mf_err_set(err, "out of memory for %zu messages", n);
    s->outcomes = op;
    s->cap = n;
    return 0;
}

/* Copy the job ids into the slot (one buffer) and reject repeats. */
static int slot_take_ids(slot *s, const mf_coolsms_msg *msgs, size_t n, mf_err *err)
{
    size_t i, off, dup;
    idmap m;

    mf_buf_reset(&s->ids);
    for (i = 0; i < n; i++)
        if (mf_buf_append(&s->ids, msgs[i].job_id, strlen(msgs[i].job_id) + 1, err) < 0)
            return -1;
    for (i = 0, off = 0; i < n; i++) {
        s->id_ptrs[i] = s->ids.data + off;
        off += strlen(s->id_ptrs[i]) + 1;
    }
    if (idmap_build(&m, s->id_ptrs, n, &dup) < 0)
        return mf_err_set(err, "out of memory for %zu job ids", n);
    free(m.tab);
    if (dup != SIZE_MAX)
        return mf_err_set(err, "message %zu: job_id \"%s\" repeats in the request", dup,
                          s->id_ptrs[dup]);
    return 0;
}

static slot *find_free_slot(mf_coolsms *h)
{
    int i;

    for (i = 0; i < h->n_slots; i++)
        if (!h->slots[i].busy)
            return &h->slots[i];
    return NULL;
}

/* Copy the recipients into the slot (group add: the fallback key of the answer). */
static int slot_take_tos(slot *s, const mf_coolsms_msg *msgs, size_t n, mf_err *err)
{
    size_t i, off;

    mf_buf_reset(&s->tos);
    for (i = 0; i < n; i++)
        if (mf_buf_append(&s->tos, msgs[i].to, strlen(msgs[i].to) + 1, err) < 0)
            return -1;
    for (i = 0, off = 0; i < n; i++) {
        s->to_ptrs[i] = s->tos.data + off;
        off += strlen(s->to_ptrs[i]) + 1;
    }
    return 0;
}

/* A group id goes into the URL path: only letters and digits, as the provider issues them. */
static int check_group_id(const char *gid, mf_err *err)
{
    size_t n = gid != NULL ? strlen(gid) : 0;

    if (n == 0 || n > 63)
        return mf_err_set(err, "group id must have 1 to 63 characters");
    for (size_t i = 0; i < n; i++)
        if (!((gid[i] >= '0' && gid[i] <= '9') || (gid[i] >= 'A' && gid[i] <= 'Z') ||
              (gid[i] >= 'a' && gid[i] <= 'z')))
            return mf_err_set(err, "group id \"%.63s\" has a character other than a letter or "
                                   "digit", gid);
    return 0;
}

/* base_url + path [+ "/" + group id + suffix] into buf. */
static int build_url(const mf_coolsms *h, mf_buf *buf, const char *path, const char *gid,
                     const char *suffix, mf_err *err)
{
    mf_buf_reset(buf);
    if (mf_buf_append_str(buf, h->base_url, err) < 0 || mf_buf_append_str(buf, path, err) < 0)
        return -1;
    if (gid != NULL && (mf_buf_append_char(buf, '/', err) < 0 ||
                        mf_buf_append_str(buf, gid, err) < 0 ||
                        mf_buf_append_str(buf, suffix != NULL ? suffix : "", err) < 0))
        return -1;
    return 0;
}

/* Starts the request prepared in s (url, body, n, ids) with the given method. */
static int slot_start(mf_coolsms *h, slot *s, mf_coolsms_op op, const char *method,
                      mf_coolsms_done_fn cb, void *user, uint64_t *request_id, mf_err *err)
{
    CURLMcode mc;

    curl_slist_free_all(s->headers);
    s->headers = make_headers(h, 1, err);
    if (s->headers == NULL)
        return -1;
    mf_buf_reset(&s->resp);
    s->errbuf[0] = '\0';
    s->retry_after_s = -1;
    s->op = op;
    s->cb = cb;
    s->user = user;
    s->request_id = h->next_id++;
    if (curl_easy_setopt(s->easy, CURLOPT_URL, s->url.data) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.len) !=
            CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body.data) != CURLE_OK)
        return mf_err_set(err, "could not set up the coolsms request");
    mc = curl_multi_add_handle(h->multi, s->easy);
    if (mc != CURLM_OK)
        return mf_err_set(err, "could not start the coolsms request: %s",
                          curl_multi_strerror(mc));
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    s->busy = 1;
    h->in_flight++;
    if (request_id != NULL)
        *request_id = s->request_id;
    return 0;
}

/* A free slot for a new request, or NULL with err. */
static slot *take_slot(mf_coolsms *h, mf_coolsms_done_fn cb, mf_err *err)
{
    slot *s = find_free_slot(h);

    if (s == NULL)
        mf_err_set(err, "all %d coolsms request slots are in flight", h->n_slots);
    else if (cb == NULL) {
        mf_err_set(err, "coolsms submit needs a completion callback");
        s = NULL;
    }
    return s;
}

int mf_coolsms_submit(mf_coolsms *h, const mf_coolsms_msg *msgs, size_t n,
                      mf_coolsms_done_fn cb, void *user, uint64_t *request_id, mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL)
        return -1;
    mf_buf_reset(&s->body);
    if (mf_coolsms_build_body(&s->body, msgs, n, err) < 0 || slot_reserve(s, n, err) < 0 ||
        slot_take_ids(s, msgs, n, err) < 0 ||
        build_url(h, &s->url, SEND_PATH, NULL, NULL, err) < 0)
        return -1;
    s->n = n;
    return slot_start(h, s, MF_COOLSMS_OP_SEND_MANY, NULL, cb, user, request_id, err);
}

int mf_coolsms_group_create(mf_coolsms *h, const mf_coolsms_kv *custom_fields, size_t n,
                            mf_coolsms_done_fn cb, void *user, uint64_t *request_id,
                            mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL)
        return -1;
    mf_buf_reset(&s->body);
    if (mf_buf_append_str(&s->body, "{\"allowDuplicates\":false,\"customFields\":{", err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const mf_coolsms_kv *kv = &custom_fields[i];

        if (kv->key == NULL || kv->value == NULL)
            return mf_err_set(err, "group custom field %zu has no key or value", i);
        if ((i > 0 && mf_buf_append_char(&s->body, ',', err) < 0) ||
            mf_buf_append_json_cstr(&s->body, kv->key, err) < 0 ||
            mf_buf_append_char(&s->body, ':', err) < 0 ||
            mf_buf_append_json_cstr(&s->body, kv->value, err) < 0)
            return mf_err_prefix(err, "group custom field %zu", i);
    }
    if (mf_buf_append_str(&s->body, "}}", err) < 0 ||
        build_url(h, &s->url, GROUPS_PATH, NULL, NULL, err) < 0)
        return -1;
    s->n = 0;
    return slot_start(h, s, MF_COOLSMS_OP_GROUP_CREATE, NULL, cb, user, request_id, err);
}

int mf_coolsms_group_add(mf_coolsms *h, const char *group_id, const mf_coolsms_msg *msgs,
                         size_t n, mf_coolsms_done_fn cb, void *user, uint64_t *request_id,
                         mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL || check_group_id(group_id, err) < 0)
        return -1;
    mf_buf_reset(&s->body);
    if (build_messages(&s->body, msgs, n, "]}", err) < 0 || slot_reserve(s, n, err) < 0 ||
        slot_take_ids(s, msgs, n, err) < 0 || slot_take_tos(s, msgs, n, err) < 0 ||
        build_url(h, &s->url, GROUPS_PATH, group_id, "/messages", err) < 0)
        return -1;
    s->n = n;
    return slot_start(h, s, MF_COOLSMS_OP_GROUP_ADD, "PUT", cb, user, request_id, err);
}

int mf_coolsms_group_send(mf_coolsms *h, const char *group_id, mf_coolsms_done_fn cb,
                          void *user, uint64_t *request_id, mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL || check_group_id(group_id, err) < 0)
        return -1;
    mf_buf_reset(&s->body);
    if (mf_buf_append_str(&s->body, "{}", err) < 0 ||
        build_url(h, &s->url, GROUPS_PATH, group_id, "/send", err) < 0)
        return -1;
    s->n = 0;
    return slot_start(h, s, MF_COOLSMS_OP_GROUP_SEND, NULL, cb, user, request_id, err);
}

static void finish(mf_coolsms *h, slot *s, CURLcode c)
{
    mf_coolsms_transport tr;
    mf_coolsms_result res;
    char msg[CURL_ERROR_SIZE + 128];
    long status = 0;

    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    fill_transport(s->easy, c, s->errbuf, &tr, msg, sizeof(msg));
    curl_multi_remove_handle(h->multi, s->easy);
    mf_coolsms_decode_op(s->op, &tr, status, s->retry_after_s,
                         s->resp.data != NULL ? s->resp.data : "", s->resp.len, s->id_ptrs,
                         s->op == MF_COOLSMS_OP_GROUP_ADD ? s->to_ptrs : NULL, s->n, s->outcomes,
                         &res);
    res.request_id = s->request_id;
    res.elapsed_ms = ms_since(&s->started);
    s->cb(&res, s->user);
    s->busy = 0;
    h->in_flight--;
}

int mf_coolsms_poll(mf_coolsms *h, int timeout_ms, mf_err *err)
{
    CURLMcode mc;
    CURLMsg *m;
    int running = 0, left, done = 0;

    if (h->in_flight == 0)
        return 0;
    mc = curl_multi_perform(h->multi, &running);
    if (mc == CURLM_OK && running > 0 && timeout_ms > 0) {
        mc = curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
        if (mc == CURLM_OK)
            mc = curl_multi_perform(h->multi, &running);
    }
    if (mc != CURLM_OK)
        return mf_err_set(err, "coolsms transfer failed: %s", curl_multi_strerror(mc));
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        char *priv = NULL;
        slot *s;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        s = (slot *)(void *)priv;
        if (s == NULL || !s->busy)
            continue;
        finish(h, s, m->data.result);
        done++;
    }
    return done;
}

int mf_coolsms_drain(mf_coolsms *h, int timeout_ms, mf_err *err)
{
    struct timespec t0;
    double left;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h->in_flight > 0) {
        left = (double)timeout_ms - ms_since(&t0);
        if (left <= 0)
            break;
        if (mf_coolsms_poll(h, left > 100 ? 100 : (int)left + 1, err) < 0)
            return -1;
    }
    return h->in_flight;
}

/* ------------------------------------------------------------------ list */

static int build_list_url(mf_coolsms *h, const mf_coolsms_kv *f, size_t n, mf_err *err)
{
    size_t i;

    mf_buf_reset(&h->list_url);
    if (mf_buf_append_str(&h->list_url, h->base_url, err) < 0 ||
        mf_buf_append_str(&h->list_url, LIST_PATH, err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (f[i].key == NULL || f[i].value == NULL)
            return mf_err_set(err, "list filter %zu has no key or value", i);
        if (mf_buf_append_char(&h->list_url, i == 0 ? '?' : '&', err) < 0 ||
            mf_buf_append_urlenc(&h->list_url, f[i].key, strlen(f[i].key), err) < 0 ||
            mf_buf_append_char(&h->list_url, '=', err) < 0 ||
            mf_buf_append_urlenc(&h->list_url, f[i].value, strlen(f[i].value), err) < 0)
            return -1;
    }
    return 0;
}

/* Where a blocking call's outcome goes (fields of mf_coolsms_list_result and
 * mf_coolsms_group_info alike). */
typedef struct call_out {
    long *http_status;
    mf_coolsms_class *cls;
    long *retry_after_ms;
    char *code;
    size_t code_sz;
    char *msg;
    size_t msg_sz;
} call_out;

/* One blocking request on the handle's own easy handle to h->list_url; method NULL is GET,
 * body NULL sends none. The answer is in h->list_resp. 0 on a 2xx status, -1 with err
 * (`what` names the call) and the failure in o. */
static int blocking_call(mf_coolsms *h, const char *method, const char *body, const char *what,
                         const call_out *o, mf_err *err)
{
    struct curl_slist *hdr = NULL;
    mf_coolsms_transport tr;
    char msg[CURL_ERROR_SIZE + 128];
    CURLcode c;
    int rc = -1;

    *o->retry_after_ms = -1;
    *o->cls = MF_COOLSMS_PERMANENT;
    hdr = make_headers(h, body != NULL, err);
    if (hdr == NULL)
        goto out;
    mf_buf_reset(&h->list_resp);
    h->list_errbuf[0] = '\0';
    h->list_retry_after_s = -1;
    if (curl_easy_setopt(h->list_easy, CURLOPT_URL, h->list_url.data) != CURLE_OK ||
        curl_easy_setopt(h->list_easy, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
        (body != NULL
             ? curl_easy_setopt(h->list_easy, CURLOPT_POSTFIELDS, body) != CURLE_OK
             : curl_easy_setopt(h->list_easy, CURLOPT_HTTPGET, 1L) != CURLE_OK) ||
        curl_easy_setopt(h->list_easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK) {
        mf_err_set(err, "could not set up the coolsms %s request", what);
        goto out;
    }
    c = curl_easy_perform(h->list_easy);
    if (h->list_retry_after_s >= 0)
        *o->retry_after_ms = retry_after_ms_of(h->list_retry_after_s);
    if (c != CURLE_OK) {
        fill_transport(h->list_easy, c, h->list_errbuf, &tr, msg, sizeof(msg));
        *o->cls = tr.curl_permanent ? MF_COOLSMS_PERMANENT : MF_COOLSMS_TRANSIENT;
        snprintf(o->code, o->code_sz, "%s",
                 tr.curl_permanent ? "CONFIG_ERROR"
                 : tr.curl_timeout ? "NETWORK_TIMEOUT" : "NETWORK_ERROR");
        copy_cstr(o->msg, o->msg_sz, msg);
        mf_err_set(err, "could not %s: %s", what, o->msg);
        goto out;
    }
    curl_easy_getinfo(h->list_easy, CURLINFO_RESPONSE_CODE, o->http_status);
    *o->cls = classify_status(*o->http_status);
    if (*o->cls != MF_COOLSMS_OK) {
        decode_error_body(*o->http_status, h->list_resp.data != NULL ? h->list_resp.data : "",
                          h->list_resp.len, o->code, o->code_sz, o->msg, o->msg_sz);
        if (is_duplicated_signature(*o->http_status, o->code))
            *o->cls = MF_COOLSMS_TRANSIENT;
        mf_err_set(err, "could not %s: HTTP %ld: %s: %s", what, *o->http_status, o->code,
                   o->msg);
        goto out;
    }
    rc = 0;
out:
    curl_easy_setopt(h->list_easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->list_easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h->list_easy, CURLOPT_HTTPGET, 1L);
    curl_slist_free_all(hdr);
    return rc;
}

/* Decodes a list-shaped answer (list, group messages) in h->list_resp into out. */
static int decode_list_answer(mf_coolsms *h, mf_coolsms_list_result *out, mf_err *err)
{
    if (mf_coolsms_decode_list(h->list_resp.data != NULL ? h->list_resp.data : "",
                               h->list_resp.len, out, err) < 0) {
        out->cls = MF_COOLSMS_TRANSIENT;
        snprintf(out->error_code, sizeof(out->error_code), "BAD_RESPONSE");
        copy_cstr(out->error_message, sizeof(out->error_message), err != NULL ? err->msg : "");
        return -1;
    }
    return 0;
}

static void list_out(mf_coolsms_list_result *out, call_out *o)
{
    memset(out, 0, sizeof(*out));
    o->http_status = &out->http_status;
    o->cls = &out->cls;
    o->retry_after_ms = &out->retry_after_ms;
    o->code = out->error_code;
    o->code_sz = sizeof(out->error_code);
    o->msg = out->error_message;
    o->msg_sz = sizeof(out->error_message);
}

int mf_coolsms_list(mf_coolsms *h, const mf_coolsms_kv *filters, size_t n_filters,
                    mf_coolsms_list_result *out, mf_err *err)
{
    call_out o;

    list_out(out, &o);
    out->retry_after_ms = -1;
    out->cls = MF_COOLSMS_PERMANENT;
    if (build_list_url(h, filters, n_filters, err) < 0 ||
        blocking_call(h, NULL, NULL, "list coolsms messages", &o, err) < 0)
        return -1;
    return decode_list_answer(h, out, err);
}

int mf_coolsms_group_messages(mf_coolsms *h, const char *group_id, const char *start_key,
                              int limit, mf_coolsms_list_result *out, mf_err *err)
{
    call_out o;
    char lim[16];

    list_out(out, &o);
    out->retry_after_ms = -1;
    out->cls = MF_COOLSMS_PERMANENT;
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 20);
    if (check_group_id(group_id, err) < 0 ||
        build_url(h, &h->list_url, GROUPS_PATH, group_id, "/messages?limit=", err) < 0 ||
        mf_buf_append_str(&h->list_url, lim, err) < 0)
        return -1;
    if (start_key != NULL && start_key[0] != '\0' &&
        (mf_buf_append_str(&h->list_url, "&startKey=", err) < 0 ||
         mf_buf_append_urlenc(&h->list_url, start_key, strlen(start_key), err) < 0))
        return -1;
    if (blocking_call(h, NULL, NULL, "list the group's messages", &o, err) < 0)
        return -1;
    return decode_list_answer(h, out, err);
}

static long long jcount(const json_t *count, const char *key)
{
    const json_t *v = json_object_get(count, key);

    return json_is_integer(v) ? (long long)json_integer_value(v)
           : json_is_real(v)  ? (long long)json_real_value(v)
                              : 0;
}

/* One blocking group call (GET, POST .../send or DELETE) decoded into out. */
static int group_call(mf_coolsms *h, const char *group_id, const char *method,
                      const char *suffix, const char *body, const char *what,
                      mf_coolsms_group_info *out, mf_err *err)
{
    call_out o = {&out->http_status, &out->cls, &out->retry_after_ms, out->error_code,
                  sizeof(out->error_code), out->error_message, sizeof(out->error_message)};
    json_t *j = NULL;
    const json_t *count;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (check_group_id(group_id, err) < 0 ||
        build_url(h, &h->list_url, GROUPS_PATH, group_id, suffix, err) < 0 ||
        blocking_call(h, method, body, what, &o, err) < 0)
        goto out;
    j = json_loadb(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len, 0,
                   NULL);
    if (!json_is_object(j)) {
        out->cls = MF_COOLSMS_TRANSIENT;
        snprintf(out->error_code, sizeof(out->error_code), "BAD_RESPONSE");
        mf_err_set(err, "could not %s: the answer is not a JSON object", what);
        goto out;
    }
    jcopy(out->group_id, sizeof(out->group_id), j, "groupId");
    jcopy(out->status, sizeof(out->status), j, "status");
    count = json_object_get(j, "count");
    if (json_is_object(count)) {
        out->total = jcount(count, "total");
        out->registered_success = jcount(count, "registeredSuccess");
        out->registered_failed = jcount(count, "registeredFailed");
        out->sent_total = jcount(count, "sentTotal");
        out->sent_success = jcount(count, "sentSuccess");
        out->sent_failed = jcount(count, "sentFailed");
        out->sent_pending = jcount(count, "sentPending");
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

int mf_coolsms_group_get(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                         mf_err *err)
{
    return group_call(h, group_id, NULL, "", NULL, "read the message group", out, err);
}

int mf_coolsms_group_send_wait(mf_coolsms *h, const char *group_id,
                               mf_coolsms_group_info *out, mf_err *err)
{
    return group_call(h, group_id, "POST", "/send", "{}", "send the message group", out, err);
}

int mf_coolsms_group_delete(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                            mf_err *err)
{
    return group_call(h, group_id, "DELETE", "", NULL, "delete the message group", out, err);
}

/* ------------------------------------------------------------------ 080 opt-out list */

static int decode_black(mf_coolsms *h, mf_coolsms_black_result *out, mf_err *err)
{
    json_t *j = json_loadb(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len,
                           0, NULL);
    const json_t *list = json_object_get(j, "blackList"), *e;
    size_t i;
    int rc = -1;

    if (!json_is_object(j) || !json_is_array(list)) {
        out->cls = MF_COOLSMS_TRANSIENT;
        snprintf(out->error_code, sizeof(out->error_code), "BAD_RESPONSE");
        mf_err_set(err, "could not read the 080 opt-out list: the answer has no blackList "
                        "array");
        goto out;
    }
    out->numbers = calloc(json_array_size(list) ? json_array_size(list) : 1,
                          sizeof(*out->numbers));
    if (out->numbers == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    json_array_foreach(list, i, e) {
        const char *num = jstr(e, "recipientNumber");

        if (num != NULL && strlen(num) < MF_COOLSMS_BLACK_NUMBER_MAX)
            copy_cstr(out->numbers[out->n_numbers++], MF_COOLSMS_BLACK_NUMBER_MAX, num);
    }
    jcopy(out->next_key, sizeof(out->next_key), j, "nextKey");
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------ sending quota */

int mf_coolsms_quota_get(mf_coolsms *h, long long *quota, long *http_status, mf_err *err)
{
    mf_coolsms_class cls;
    long retry_after = -1;
    char code[64], msg[512];
    call_out o = {http_status, &cls, &retry_after, code, sizeof(code), msg, sizeof(msg)};
    json_t *j = NULL, *q;
    int rc = -1;

    *http_status = 0;
    if (build_url(h, &h->list_url, QUOTA_PATH, NULL, NULL, err) < 0 ||
        blocking_call(h, NULL, NULL, "read the sending quota", &o, err) < 0)
        goto out;
    j = json_loadb(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len, 0,
                   NULL);
    q = json_object_get(j, "quota");
    if (!json_is_integer(q) || json_integer_value(q) < 0) {
        mf_err_set(err, "could not read the sending quota: the answer has no quota number");
        goto out;
    }
    *quota = (long long)json_integer_value(q);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

int mf_coolsms_black_list(mf_coolsms *h, const char *start_key, int limit,
                          mf_coolsms_black_result *out, mf_err *err)
{
    call_out o = {&out->http_status, &out->cls, &out->retry_after_ms, NULL, 0, NULL, 0};
    char lim[16];

    memset(out, 0, sizeof(*out));
    o.code = out->error_code;
    o.code_sz = sizeof(out->error_code);
    o.msg = out->error_message;
    o.msg_sz = sizeof(out->error_message);
    out->retry_after_ms = -1;
    out->cls = MF_COOLSMS_PERMANENT;
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    mf_buf_reset(&h->list_url);
    if (mf_buf_append_str(&h->list_url, h->base_url, err) < 0 ||
        mf_buf_append_str(&h->list_url, BLACK_PATH "?type=DENIAL&limit=", err) < 0 ||
        mf_buf_append_str(&h->list_url, lim, err) < 0)
        return -1;
    if (start_key != NULL && start_key[0] != '\0' &&
        (mf_buf_append_str(&h->list_url, "&startKey=", err) < 0 ||
         mf_buf_append_urlenc(&h->list_url, start_key, strlen(start_key), err) < 0))
        return -1;
    if (blocking_call(h, NULL, NULL, "read the 080 opt-out list", &o, err) < 0)
        return -1;
    return decode_black(h, out, err);
}

void mf_coolsms_black_result_free(mf_coolsms_black_result *r)
{
    if (r == NULL)
        return;
    free(r->numbers);
    r->numbers = NULL;
    r->n_numbers = 0;
}

void mf_coolsms_list_result_free(mf_coolsms_list_result *r)
{
    if (r == NULL)
        return;
    free(r->items);
    r->items = NULL;
    r->n_items = 0;
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
