/* mf_coolsms: CoolSMS / SOLAPI v4 REST client: the handle and its asynchronous transport. */
#include "mf_coolsms_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ small helpers */

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

/* ------------------------------------------------------------------ curl plumbing */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    mf_buf *b = ud;
    size_t n = size * nmemb;

    if (mf_buf_append(b, p, n, NULL) < 0)
        return 0; /* too large: curl fails the transfer with CURLE_WRITE_ERROR */
    return n;
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
struct curl_slist *mf_coolsms_make_headers(const mf_coolsms *h, int with_body, mf_err *err)
{
    char auth[AUTH_MAX];
    struct curl_slist *l = NULL, *t;
    const char *fixed[] = {"Accept: application/json", "Expect:",
                           with_body ? "Content-Type: application/json; charset=utf-8" : NULL};
    size_t i;

    if (mf_coolsms_auth_line(h, auth, sizeof(auth), err) < 0)
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
    case CURLE_BAD_FUNCTION_ARGUMENT: return 1;
    default: return 0;
    }
}

void mf_coolsms_fill_transport(CURL *e, CURLcode c, const char *errbuf, mf_coolsms_transport *tr,
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
        return mf_err_set(err, "coolsms max_in_flight %d is out of range 1..%d", cfg->max_in_flight,
                          MAX_IN_FLIGHT);
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
    if (h->base_url == NULL || h->send_url == NULL || h->api_key == NULL || h->api_secret == NULL ||
        h->user_agent == NULL)
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
    if (mf_coolsms_idmap_build(&m, s->id_ptrs, n, &dup) < 0)
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
int mf_coolsms_check_group_id(const char *gid, mf_err *err)
{
    size_t n = gid != NULL ? strlen(gid) : 0;

    if (n == 0 || n > 63)
        return mf_err_set(err, "group id must have 1 to 63 characters");
    for (size_t i = 0; i < n; i++)
        if (!((gid[i] >= '0' && gid[i] <= '9') || (gid[i] >= 'A' && gid[i] <= 'Z') ||
              (gid[i] >= 'a' && gid[i] <= 'z')))
            return mf_err_set(err,
                              "group id \"%.63s\" has a character other than a letter or "
                              "digit",
                              gid);
    return 0;
}

/* base_url + path [+ "/" + group id + suffix] into buf. */
int mf_coolsms_build_url(const mf_coolsms *h, mf_buf *buf, const char *path, const char *gid,
                         const char *suffix, mf_err *err)
{
    mf_buf_reset(buf);
    if (mf_buf_append_str(buf, h->base_url, err) < 0 || mf_buf_append_str(buf, path, err) < 0)
        return -1;
    if (gid != NULL &&
        (mf_buf_append_char(buf, '/', err) < 0 || mf_buf_append_str(buf, gid, err) < 0 ||
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
    s->headers = mf_coolsms_make_headers(h, 1, err);
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
        return mf_err_set(err, "could not start the coolsms request: %s", curl_multi_strerror(mc));
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

int mf_coolsms_submit(mf_coolsms *h, const mf_coolsms_msg *msgs, size_t n, mf_coolsms_done_fn cb,
                      void *user, uint64_t *request_id, mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL)
        return -1;
    mf_buf_reset(&s->body);
    if (mf_coolsms_build_body(&s->body, msgs, n, err) < 0 || slot_reserve(s, n, err) < 0 ||
        slot_take_ids(s, msgs, n, err) < 0 ||
        mf_coolsms_build_url(h, &s->url, SEND_PATH, NULL, NULL, err) < 0)
        return -1;
    s->n = n;
    return slot_start(h, s, MF_COOLSMS_OP_SEND_MANY, NULL, cb, user, request_id, err);
}

int mf_coolsms_group_create(mf_coolsms *h, const mf_coolsms_kv *custom_fields, size_t n,
                            mf_coolsms_done_fn cb, void *user, uint64_t *request_id, mf_err *err)
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
        mf_coolsms_build_url(h, &s->url, GROUPS_PATH, NULL, NULL, err) < 0)
        return -1;
    s->n = 0;
    return slot_start(h, s, MF_COOLSMS_OP_GROUP_CREATE, NULL, cb, user, request_id, err);
}

int mf_coolsms_group_add(mf_coolsms *h, const char *group_id, const mf_coolsms_msg *msgs, size_t n,
                         mf_coolsms_done_fn cb, void *user, uint64_t *request_id, mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL || mf_coolsms_check_group_id(group_id, err) < 0)
        return -1;
    mf_buf_reset(&s->body);
    if (mf_coolsms_build_messages(&s->body, msgs, n, "]}", err) < 0 ||
        slot_reserve(s, n, err) < 0 || slot_take_ids(s, msgs, n, err) < 0 ||
        slot_take_tos(s, msgs, n, err) < 0 ||
        mf_coolsms_build_url(h, &s->url, GROUPS_PATH, group_id, "/messages", err) < 0)
        return -1;
    s->n = n;
    return slot_start(h, s, MF_COOLSMS_OP_GROUP_ADD, "PUT", cb, user, request_id, err);
}

int mf_coolsms_group_send(mf_coolsms *h, const char *group_id, mf_coolsms_done_fn cb, void *user,
                          uint64_t *request_id, mf_err *err)
{
    slot *s = take_slot(h, cb, err);

    if (s == NULL || mf_coolsms_check_group_id(group_id, err) < 0)
        return -1;
    mf_buf_reset(&s->body);
    if (mf_buf_append_str(&s->body, "{}", err) < 0 ||
        mf_coolsms_build_url(h, &s->url, GROUPS_PATH, group_id, "/send", err) < 0)
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
    mf_coolsms_fill_transport(s->easy, c, s->errbuf, &tr, msg, sizeof(msg));
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
