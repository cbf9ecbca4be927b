/* sim_http: libmicrohttpd request handling: routing, fault knobs, auth, admin endpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "sim_http.h"

#define JSON_CT "application/json; charset=utf-8"
#define EXPORT_BATCH 512

struct sim_query {
    struct MHD_Connection *conn;
};

typedef struct conn_state {
    mf_buf body;
    int too_big;
} conn_state;

/* ---- query access ------------------------------------------------------------------------ */

const char *sim_query_get(const sim_query *q, const char *key)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct each_arg {
    const char *key;
    const char *prefix;
    void (*fn)(const char *value, void *arg);
    void (*pfn)(const char *key, const char *value, void *arg);
    void *arg;
} each_arg;

static enum MHD_Result each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    each_arg *a = cls;
    size_t kl = strlen(a->key);
    (void)kind;
    if (value == NULL)
        return MHD_YES;
    if (strcmp(key, a->key) == 0 || (strncmp(key, a->key, kl) == 0 && !strcmp(key + kl, "[]")))
        a->fn(value, a->arg);
    return MHD_YES;
}

void sim_query_each(const sim_query *q, const char *key, void (*fn)(const char *value, void *arg),
                    void *arg)
{
    each_arg a = {key, NULL, fn, NULL, arg};
    MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, each_cb, &a);
}

static enum MHD_Result each_prefix_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    each_arg *a = cls;
    (void)kind;
    if (value != NULL && strncmp(key, a->prefix, strlen(a->prefix)) == 0 &&
        key[strlen(a->prefix)] != '\0')
        a->pfn(key, value, a->arg);
    return MHD_YES;
}

void sim_query_each_prefix(const sim_query *q, const char *prefix,
                           void (*fn)(const char *key, const char *value, void *arg), void *arg)
{
    each_arg a = {"", prefix, NULL, fn, arg};
    MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, each_prefix_cb, &a);
}

/* ---- helpers ----------------------------------------------------------------------------- */

void sim_knobs_snapshot(sim_ctx *ctx, sim_knobs *out)
{
    pthread_mutex_lock(&ctx->knob_lock);
    *out = ctx->knobs;
    pthread_mutex_unlock(&ctx->knob_lock);
}

/* Sleep ms, waking early when the simulator stops. */
static void nap(sim_ctx *ctx, long long ms)
{
    while (ms > 0 && !atomic_load(&ctx->stopping)) {
        long long step = ms > 50 ? 50 : ms;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, sim_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->body.data != NULL && r->body.len > 0) {
        resp = MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_FREE);
        if (resp != NULL)
            mf_buf_init(&r->body, 0); /* ownership passed to MHD */
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : JSON_CT);
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void reply_text(sim_reply *r, int status, const char *json)
{
    r->status = status;
    r->content_type = JSON_CT;
    mf_buf_reset(&r->body);
    mf_buf_append_str(&r->body, json, NULL);
}

/* ---- admin endpoints --------------------------------------------------------------------- */

static void handle_stats(sim_ctx *ctx, sim_reply *r)
{
    sim_outcomes o;
    sim_stats *s = &ctx->stats;

    sim_ledger_rdlock(ctx->ledger);
    size_t total = sim_ledger_count(ctx->ledger), n = sim_ledger_sent(ctx->ledger);
    sim_ledger_outcomes(ctx->ledger, mf_clock_wall_ms(), &o);
    sim_ledger_unlock(ctx->ledger);
    r->status = 200;
    r->content_type = JSON_CT;
    mf_buf_reset(&r->body);
    mf_buf_printf(&r->body, NULL,
                  "{\"requests\":%llu,\"accepted\":%llu,\"rejected\":%llu,\"auth_failures\":%llu,"
                  "\"http_5xx\":%llu,\"timeouts\":%llu,\"rate_limited\":%llu,\"delivered\":%llu,"
                  "\"failed\":%llu,\"pending\":%llu,\"ledger\":%zu,\"stored\":%zu,"
                  "\"resets\":%llu,\"quota_failed\":%llu,\"webhook_posts\":%llu,"
                  "\"webhook_failures\":%llu,\"webhook_dropped\":%llu}",
                  atomic_load(&s->requests), atomic_load(&s->accepted), atomic_load(&s->rejected),
                  atomic_load(&s->auth_failures), atomic_load(&s->http_5xx),
                  atomic_load(&s->timeouts), atomic_load(&s->rate_limited), o.delivered, o.failed,
                  o.pending, n, total, atomic_load(&s->resets), atomic_load(&s->quota_failed),
                  atomic_load(&s->webhook_posts), atomic_load(&s->webhook_failures),
                  atomic_load(&s->webhook_dropped));
}

static void handle_count(sim_ctx *ctx, const sim_query *q, sim_reply *r)
{
    const char *field = sim_query_get(q, "field");
    const char *value = sim_query_get(q, "value");
    unsigned long long count = 0;

    if (field == NULL || value == NULL || *field == '\0') {
        sim_reply_error(r, 400, "ValidationError", "field and value are required");
        return;
    }
    sim_ledger_rdlock(ctx->ledger);
    if (strcmp(field, SIM_INDEX_FIELD) == 0) {
        for (uint32_t v = sim_ledger_find_job(ctx->ledger, value); v != 0;
             v = sim_ledger_at(ctx->ledger, v - 1)->job_next)
            if (sim_ledger_at(ctx->ledger, v - 1)->state == SIM_MS_SENT)
                count++;
    } else {
        size_t n = sim_ledger_count(ctx->ledger);
        for (size_t i = 0; i < n; i++) {
            const sim_msg *m = sim_ledger_at(ctx->ledger, i);
            const char *v = sim_msg_cf(m, field);
            if (m->state == SIM_MS_SENT && v != NULL && strcmp(v, value) == 0)
                count++;
        }
    }
    sim_ledger_unlock(ctx->ledger);
    r->status = 200;
    r->content_type = JSON_CT;
    mf_buf_reset(&r->body);
    mf_buf_printf(&r->body, NULL, "{\"count\":%llu}", count);
}

static void handle_config(sim_ctx *ctx, const char *method, conn_state *st, sim_reply *r)
{
    mf_err err;
    sim_knobs k;

    if (strcmp(method, "POST") == 0) {
        pthread_mutex_lock(&ctx->knob_lock);
        int rc = sim_config_apply_json(&ctx->knobs, st->body.data ? st->body.data : "",
                                       st->body.len, &err);
        pthread_mutex_unlock(&ctx->knob_lock);
        if (rc != 0) {
            sim_reply_error(r, 400, "InvalidConfig", "%s", err.msg);
            return;
        }
    }
    sim_knobs_snapshot(ctx, &k);
    r->status = 200;
    r->content_type = JSON_CT;
    mf_buf_reset(&r->body);
    if (sim_config_to_json(&k, &r->body, &err) != 0)
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
}

static void handle_reset(sim_ctx *ctx, sim_reply *r)
{
    sim_webhook_reset(ctx->webhook);
    sim_groups_reset(ctx->groups); /* groups before the ledger they point into */
    sim_ledger_reset(ctx->ledger);
    sim_black_reset(ctx->black);
    pthread_mutex_lock(&ctx->quota_lock);
    ctx->quota_used = 0;
    pthread_mutex_unlock(&ctx->quota_lock);
    sim_salts_clear(ctx->salts);
    pthread_mutex_lock(&ctx->bucket_lock);
    ctx->bucket_ms = 0;
    pthread_mutex_unlock(&ctx->bucket_lock);
    atomic_store(&ctx->stats.requests, 0);
    atomic_store(&ctx->stats.accepted, 0);
    atomic_store(&ctx->stats.rejected, 0);
    atomic_store(&ctx->stats.auth_failures, 0);
    atomic_store(&ctx->stats.http_5xx, 0);
    atomic_store(&ctx->stats.timeouts, 0);
    atomic_store(&ctx->stats.rate_limited, 0);
    atomic_store(&ctx->stats.resets, 0);
    atomic_store(&ctx->stats.quota_failed, 0);
    atomic_store(&ctx->stats.webhook_posts, 0);
    atomic_store(&ctx->stats.webhook_failures, 0);
    atomic_store(&ctx->stats.webhook_dropped, 0);
    reply_text(r, 200, "{\"ok\":true}");
}

/* ---- streamed export --------------------------------------------------------------------- */

typedef struct export_state {
    sim_ctx *ctx;
    size_t next, end;
    uint64_t generation;
    mf_buf pending;
    size_t pending_off;
} export_state;

static int export_line(sim_ledger *l, const sim_msg *m, int64_t now, mf_buf *b, mf_err *err)
{
    char at[40];
    sim_format_iso8601(m->accepted_ms, at, sizeof(at));
    if (mf_buf_printf(b, err,
                      "{\"messageId\":\"%s\",\"groupId\":\"%s\",\"to\":\"%s\","
                      "\"from\":\"%s\",\"type\":\"%s\",\"text\":",
                      m->id, sim_ledger_group_id(l, m->group), m->to, m->from, m->type) != 0 ||
        mf_buf_append_json_cstr(b, m->text ? m->text : "", err) != 0 ||
        mf_buf_append_str(b, ",\"subject\":", err) != 0 ||
        (m->subject ? mf_buf_append_json_cstr(b, m->subject, err)
                    : mf_buf_append_str(b, "null", err)) != 0 ||
        mf_buf_printf(b, err, ",\"statusCode\":\"%s\",\"customFields\":", sim_msg_status(m, now)) !=
            0 ||
        sim_msg_cf_json(m, b, err) != 0 ||
        mf_buf_printf(b, err, ",\"acceptedAt\":\"%s\"}\n", at) != 0)
        return -1;
    return 0;
}

/* Refill pending with the next batch of lines. Returns 0, or -1 when the stream must end. */
static int export_fill(export_state *s)
{
    sim_ledger *l = s->ctx->ledger;
    int64_t now = mf_clock_wall_ms();
    int rc = 0;

    mf_buf_reset(&s->pending);
    s->pending_off = 0;
    sim_ledger_rdlock(l);
    if (sim_ledger_generation(l) != s->generation) {
        rc = -1; /* reset while streaming: stop */
    } else {
        for (size_t k = 0; k < EXPORT_BATCH && s->next < s->end; k++, s->next++)
            if (sim_ledger_at(l, s->next)->state == SIM_MS_SENT &&
                export_line(l, sim_ledger_at(l, s->next), now, &s->pending, NULL) != 0) {
                rc = -1;
                break;
            }
    }
    sim_ledger_unlock(l);
    return rc;
}

static ssize_t export_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    export_state *s = cls;
    (void)pos;
    if (s->pending_off >= s->pending.len) {
        do {
            if (s->next >= s->end || export_fill(s) != 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        } while (s->pending.len == 0); /* a batch of unsent messages only */
    }
    size_t n = s->pending.len - s->pending_off;
    if (n > max)
        n = max;
    memcpy(buf, s->pending.data + s->pending_off, n);
    s->pending_off += n;
    return (ssize_t)n;
}

static void export_free(void *cls)
{
    export_state *s = cls;
    mf_buf_free(&s->pending);
    free(s);
}

static enum MHD_Result handle_export(sim_ctx *ctx, struct MHD_Connection *conn)
{
    export_state *s = calloc(1, sizeof(*s));
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (s == NULL)
        return MHD_NO;
    s->ctx = ctx;
    mf_buf_init(&s->pending, 0);
    sim_ledger_rdlock(ctx->ledger);
    s->end = sim_ledger_count(ctx->ledger);
    s->generation = sim_ledger_generation(ctx->ledger);
    sim_ledger_unlock(ctx->ledger);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, export_cb, s,
                                             export_free);
    if (resp == NULL) {
        export_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- API with faults --------------------------------------------------------------------- */

typedef enum route {
    R_SEND_MANY,
    R_LIST,
    R_G_CREATE,
    R_G_LIST,
    R_G_GET,
    R_G_DELETE,
    R_G_ADD,
    R_G_MESSAGES,
    R_G_DEL_MESSAGES,
    R_G_SEND,
    R_QUOTA,
    R_BLACK
} route;

typedef struct api_call {
    route rt;
    unsigned step;
    char gid[48];
} api_call;

static int authenticate(sim_ctx *ctx, struct MHD_Connection *conn, sim_reply *r)
{
    sim_auth_result res;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (sim_auth_verify(h, ctx->set.api_key, ctx->set.api_secret, ctx->salts, mf_clock_wall_ms(),
                        &res) == 0)
        return 0;
    atomic_fetch_add(&ctx->stats.auth_failures, 1);
    sim_reply_error(r, res.http_status, res.error_code, "%s", res.message);
    return -1;
}

static void api_process(sim_ctx *ctx, struct MHD_Connection *conn, const api_call *c,
                        conn_state *st, sim_reply *r)
{
    const char *body = st->body.data ? st->body.data : "";
    size_t len = st->body.len;
    sim_query q = {conn};

    if (authenticate(ctx, conn, r) != 0)
        return;
    switch (c->rt) {
    case R_SEND_MANY:
        if (st->too_big)
            sim_reply_error(r, 413, "PayloadTooLarge", "request body over %zu bytes", SIM_MAX_BODY);
        else
            sim_handle_send(ctx, body, len, r);
        break;
    case R_LIST: sim_handle_list(ctx, &q, r); break;
    case R_G_CREATE: sim_handle_group_create(ctx, body, len, r); break;
    case R_G_LIST: sim_handle_group_list(ctx, &q, r); break;
    case R_G_GET: sim_handle_group_get(ctx, c->gid, r); break;
    case R_G_DELETE: sim_handle_group_delete(ctx, c->gid, r); break;
    case R_G_ADD:
        sim_handle_group_add(ctx, c->gid, body, st->too_big ? SIM_MAX_BODY + 1 : len, r);
        break;
    case R_G_MESSAGES: sim_handle_group_messages(ctx, c->gid, &q, r); break;
    case R_G_DEL_MESSAGES: sim_handle_group_delete_messages(ctx, c->gid, body, len, r); break;
    case R_G_SEND: sim_handle_group_send(ctx, c->gid, r); break;
    case R_QUOTA: sim_handle_quota(ctx, r); break;
    case R_BLACK: sim_handle_black(ctx, &q, r); break;
    }
}

/* Appends "?k=v&k=v" of the request's query arguments (URL-encoded, in order) to b. */
static enum MHD_Result query_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    mf_buf *b = cls;

    (void)kind;
    if (mf_buf_append_char(b, b->len == 0 || strchr(b->data, '?') == NULL ? '?' : '&', NULL) != 0 ||
        mf_buf_append_urlenc(b, key, strlen(key), NULL) != 0)
        return MHD_NO;
    if (value != NULL && (mf_buf_append_char(b, '=', NULL) != 0 ||
                          mf_buf_append_urlenc(b, value, strlen(value), NULL) != 0))
        return MHD_NO;
    return MHD_YES;
}

/* The capture line of an API request: the path with its query string, as the client sent it
 * (libmicrohttpd hands the path and the arguments over separately). */
static void capture_request(sim_ctx *ctx, const sim_knobs *k, struct MHD_Connection *conn,
                            const char *method, const char *url, const conn_state *st)
{
    mf_buf full;

    if (k->capture_file[0] == '\0') {
        sim_capture(ctx, k, method, url, "", 0);
        return;
    }
    mf_buf_init(&full, 64 * 1024);
    if (mf_buf_append_str(&full, url, NULL) == 0)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_cb, &full);
    sim_capture(ctx, k, method, full.data != NULL ? full.data : url,
                st->too_big ? "" : st->body.data, st->too_big ? 0 : st->body.len);
    mf_buf_free(&full);
}

/* Close the connection with a TCP reset (SO_LINGER 0) when MHD drops it. */
static void arm_reset(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
                                                                 MHD_CONNECTION_INFO_CONNECTION_FD);
    struct linger lg = {1, 0};
    if (ci != NULL)
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Returns MHD_NO to drop the connection (timeout, reset), else queues the reply. */
static enum MHD_Result handle_api(sim_ctx *ctx, struct MHD_Connection *conn, const api_call *c,
                                  const char *method, const char *url, conn_state *st, sim_reply *r)
{
    static const int codes5xx[] = {500, 502, 503};
    static const char *texts5xx[] = {"Internal Server Error", "Bad Gateway", "Service Unavailable"};
    sim_knobs k;

    atomic_fetch_add(&ctx->stats.requests, 1);
    sim_knobs_snapshot(ctx, &k);
    if (strncmp(url, "/messages/v4", 12) == 0)
        capture_request(ctx, &k, conn, method, url, st);
    if (k.latency_ms > 0 && sim_step_hit(k.latency_steps, k.fault_steps, c->step))
        nap(ctx, k.latency_ms);
    if (k.timeout_ratio > 0 && sim_step_hit(k.timeout_steps, k.fault_steps, c->step) &&
        sim_rand(ctx) < k.timeout_ratio) {
        atomic_fetch_add(&ctx->stats.timeouts, 1);
        if (k.timeout_commit)
            api_process(ctx, conn, c, st, r);
        nap(ctx, k.timeout_hold_ms);
        return MHD_NO;
    }
    if (k.error_5xx_ratio > 0 && sim_step_hit(k.error_5xx_steps, k.fault_steps, c->step) &&
        sim_rand(ctx) < k.error_5xx_ratio) {
        int i = (int)(sim_rand(ctx) * 3) % 3;
        atomic_fetch_add(&ctx->stats.http_5xx, 1);
        r->status = codes5xx[i];
        r->content_type = "text/plain; charset=utf-8";
        mf_buf_reset(&r->body);
        mf_buf_append_str(&r->body, texts5xx[i], NULL);
        return send_reply(conn, r);
    }
    if (k.reset_ratio > 0 && sim_step_hit(k.reset_steps, k.fault_steps, c->step) &&
        sim_rand(ctx) < k.reset_ratio) {
        atomic_fetch_add(&ctx->stats.resets, 1);
        api_process(ctx, conn, c, st, r);
        arm_reset(conn);
        return MHD_NO;
    }
    api_process(ctx, conn, c, st, r);
    return send_reply(conn, r);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

/* Match the API routes; 1 with *c filled, 0 when url/method is not an API route. */
static int match_api(const char *url, const char *method, api_call *c)
{
    static const char groups[] = "/messages/v4/groups";
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    int put = !strcmp(method, "PUT"), del = !strcmp(method, "DELETE");
    const char *rest, *slash;
    size_t idlen;

    memset(c, 0, sizeof(*c));
    if (!strcmp(url, "/messages/v4/send-many/detail") && post) {
        c->rt = R_SEND_MANY, c->step = SIM_STEP_SEND_MANY;
        return 1;
    }
    if (!strcmp(url, "/messages/v4/list") && get) {
        c->rt = R_LIST, c->step = SIM_STEP_LIST;
        return 1;
    }
    if (!strcmp(url, "/quota/v1/me") && get) {
        c->rt = R_QUOTA, c->step = SIM_STEP_QUOTA;
        return 1;
    }
    if (!strcmp(url, "/iam/v1/black") && get) {
        c->rt = R_BLACK, c->step = SIM_STEP_BLACK;
        return 1;
    }
    if (strncmp(url, groups, sizeof(groups) - 1) != 0)
        return 0;
    rest = url + sizeof(groups) - 1;
    if (*rest == '\0' || !strcmp(rest, "/")) {
        if (post)
            c->rt = R_G_CREATE, c->step = SIM_STEP_CREATE;
        else if (get)
            c->rt = R_G_LIST, c->step = SIM_STEP_GROUP_LIST;
        else
            return 0;
        return 1;
    }
    if (*rest != '/')
        return 0;
    rest++;
    slash = strchr(rest, '/');
    idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (idlen == 0 || idlen >= sizeof(c->gid))
        return 0;
    memcpy(c->gid, rest, idlen);
    c->gid[idlen] = '\0';
    if (slash == NULL || !strcmp(slash, "/")) {
        if (get)
            c->rt = R_G_GET, c->step = SIM_STEP_GROUP_GET;
        else if (del)
            c->rt = R_G_DELETE, c->step = SIM_STEP_GROUP_DELETE;
        else
            return 0;
        return 1;
    }
    if (!strcmp(slash, "/messages")) {
        if (put)
            c->rt = R_G_ADD, c->step = SIM_STEP_ADD;
        else if (get)
            c->rt = R_G_MESSAGES, c->step = SIM_STEP_GROUP_MESSAGES;
        else if (del)
            c->rt = R_G_DEL_MESSAGES, c->step = SIM_STEP_GROUP_DELETE;
        else
            return 0;
        return 1;
    }
    if (!strcmp(slash, "/send") && post) {
        c->rt = R_G_SEND, c->step = SIM_STEP_SEND;
        return 1;
    }
    return 0;
}

static enum MHD_Result dispatch(sim_ctx *ctx, struct MHD_Connection *conn, const char *url,
                                const char *method, conn_state *st)
{
    sim_reply r = {0, NULL, {0}};
    sim_query q = {conn};
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    enum MHD_Result ret;
    api_call c;

    mf_buf_init(&r.body, 0);
    if (match_api(url, method, &c)) {
        ret = handle_api(ctx, conn, &c, method, url, st, &r);
        goto out;
    }
    if (!strcmp(url, "/_sim/health") && get) {
        reply_text(&r, 200, "{\"ok\":true}");
        ret = send_reply(conn, &r);
        goto out;
    }
    /* the control and inspection endpoints (faults, reset, the ledger with every message
     * text and number) exist only when MF_SIM_CONTROL enables them */
    if (!ctx->set.control)
        sim_reply_error(&r, 404, "NotFound", "no route for %s %s", method, url);
    else if (!strcmp(url, "/_sim/ledger/export") && get) {
        ret = handle_export(ctx, conn);
        goto out;
    } else if (!strcmp(url, "/_sim/stats") && get)
        handle_stats(ctx, &r);
    else if (!strcmp(url, "/_sim/config") && (get || post))
        handle_config(ctx, method, st, &r);
    else if (!strcmp(url, "/_sim/reset") && post)
        handle_reset(ctx, &r);
    else if (!strcmp(url, "/_sim/ledger/count") && get)
        handle_count(ctx, &q, &r);
    else if (!strcmp(url, "/_sim/black") && post)
        sim_handle_black_add(ctx, st->body.data, st->body.len, &r);
    else
        sim_reply_error(&r, 404, "NotFound", "no route for %s %s", method, url);
    ret = send_reply(conn, &r);
out:
    mf_buf_free(&r.body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    sim_ctx *ctx = cls;
    conn_state *st = *con_cls;
    (void)version;

    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        mf_buf_init(&st->body, SIM_MAX_BODY);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!st->too_big && mf_buf_append(&st->body, upload_data, *upload_data_size, NULL) != 0)
            st->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(ctx, conn, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state *st = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (st == NULL)
        return;
    mf_buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

struct MHD_Daemon *sim_http_start(sim_ctx *ctx, int port, int *bound_port, mf_err *err)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
        (uint16_t)port, NULL, NULL, on_request, ctx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)2000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300, MHD_OPTION_END);
    if (d == NULL) {
        mf_err_set(err, "could not listen on 127.0.0.1:%d", port);
        return NULL;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    return d;
}
