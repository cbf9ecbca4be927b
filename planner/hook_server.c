/* hook_server: the planner's webhook endpoint: POST /v1/workflows/{id}/trigger starts a run. */
#include "hook_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hook_auth.h"
#include "hook_req.h"
#include "hook_store.h"
#include "mf_clock.h"
#include "mf_httpd.h"
#include "mf_pg.h"
#include "mf_uuid.h"

#define RATE_SLOTS 128
#define IDEM_KEY_MAX 255

/* Token bucket of one workflow: MF_PLANNER_WEBHOOK_RATE tokens a second, as many at most. */
typedef struct rate_slot {
    char wf[MF_UUID_STR_SIZE];
    double tokens;
    int64_t last_ms;
} rate_slot;

struct hook_server {
    const planner_config *cfg;
    mf_log *log;
    mf_httpd *http;
    mf_metric *calls; /* msgfleet_planner_webhook_calls_total{code}, may be NULL */
    PGconn *pg;       /* used only by the server's thread */
    rate_slot rate[RATE_SLOTS];
};

/* ---- answers -------------------------------------------------------------------------- */

static void answer_error(mf_httpd_resp *resp, unsigned status, const char *code,
                         const char *message)
{
    mf_err err;

    resp->status = status;
    mf_buf_reset(&resp->body);
    mf_buf_printf(&resp->body, &err, "{\"code\":\"%s\",\"message\":", code);
    mf_buf_append_json_cstr(&resp->body, message, &err);
    mf_buf_append_str(&resp->body, "}\n", &err);
}

static void answer_run(mf_httpd_resp *resp, const char *run_id, int existing)
{
    mf_err err;

    resp->status = 202;
    mf_buf_reset(&resp->body);
    mf_buf_printf(&resp->body, &err,
                  "{\"run_id\":\"%s\",\"status\":\"running\","
                  "\"idempotent_replay\":%s}\n",
                  run_id, existing ? "true" : "false");
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* "/v1/workflows/<uuid>/trigger" -> the uuid (canonical text) into wf. 0, or -1. */
static int parse_path(const char *url, char wf[MF_UUID_STR_SIZE])
{
    static const char PREFIX[] = "/v1/workflows/", SUFFIX[] = "/trigger";
    size_t len = strlen(url), plen = sizeof(PREFIX) - 1, slen = sizeof(SUFFIX) - 1;
    mf_uuid u;
    mf_err err;

    if (len <= plen + slen || strncmp(url, PREFIX, plen) != 0 ||
        strcmp(url + len - slen, SUFFIX) != 0)
        return -1;
    if (mf_uuid_parse_n(url + plen, len - plen - slen, &u, &err) != 0)
        return -1;
    mf_uuid_format(&u, wf);
    return 0;
}

/* 0 when the workflow may make one more call now; else the seconds until it may. */
static long long rate_take(hook_server *s, const char *wf, int64_t now_ms)
{
    double per_s = (double)s->cfg->webhook_rate;
    rate_slot *slot = NULL, *oldest = &s->rate[0];

    for (size_t i = 0; i < RATE_SLOTS && slot == NULL; i++) {
        if (strcmp(s->rate[i].wf, wf) == 0)
            slot = &s->rate[i];
        else if (s->rate[i].last_ms < oldest->last_ms)
            oldest = &s->rate[i];
    }
    if (slot == NULL) {
        slot = oldest;
        snprintf(slot->wf, sizeof(slot->wf), "%s", wf);
        slot->tokens = per_s;
        slot->last_ms = now_ms;
    }
    slot->tokens += per_s * (double)(now_ms - slot->last_ms) / 1000.0;
    if (slot->tokens > per_s)
        slot->tokens = per_s;
    slot->last_ms = now_ms;
    if (slot->tokens >= 1.0) {
        slot->tokens -= 1.0;
        return 0;
    }
    return (long long)((1.0 - slot->tokens) / per_s) + 1;
}

static int pg_ready(hook_server *s, mf_err *err)
{
    if (s->pg == NULL)
        s->pg = mf_pg_connect(s->cfg->common.pg_dsn, NULL, "msgfleet-planner-webhook", err);
    if (s->pg == NULL)
        return -1;
    return mf_pg_ensure(s->pg, err);
}

/* Idempotency-Key: absent (NULL) or 1-255 printable ASCII characters. */
static int idem_key_ok(const char *k)
{
    size_t n = k != NULL ? strlen(k) : 0;

    if (k == NULL)
        return 1;
    if (n == 0 || n > IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 0x20 || k[i] > 0x7e)
            return 0;
    }
    return 1;
}

static char *dump(json_t *j)
{
    return j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

/* ---- the call --------------------------------------------------------------------------- */

typedef struct call {
    hook_server *s;
    const mf_httpd_req *req;
    mf_httpd_resp *resp;
    char wf_id[MF_UUID_STR_SIZE];
    const char *code; /* what the answer said, for the log line */
    char run_id[MF_UUID_STR_SIZE];
} call;

static void fail(call *c, unsigned status, const char *code, const char *message)
{
    c->code = code;
    answer_error(c->resp, status, code, message);
}

static void unavailable(call *c, const mf_err *err)
{
    MF_LOG(c->s->log, MF_LOG_WARN, "webhook: database unavailable", MF_KV_S("error", err->msg));
    fail(c, 503, "unavailable", "the platform database is unavailable, retry later");
}

/* Authenticate against the workflow's secret; 0 when the call may go on. */
static int authenticate(call *c, hook_workflow *wf, char sig_hex[HOOK_AUTH_HEX_SIZE])
{
    static const char *const CODES[] = {"", "missing_signature", "bad_signature", "stale_timestamp",
                                        "bad_signature"};
    const mf_httpd_req *req = c->req;
    hook_auth_result r;
    mf_err err;

    if (!wf->has_secret) {
        fail(c, 401, "no_secret",
             "the workflow has no webhook secret yet "
             "(msgfleet webhook-secret)");
        return -1;
    }
    r = hook_auth_verify(wf->secret, mf_httpd_req_header(req, "X-Msgfleet-Timestamp"),
                         mf_httpd_req_header(req, "X-Msgfleet-Signature"), req->body, req->body_len,
                         mf_clock_wall_ms() / 1000, sig_hex, &err);
    if (r != HOOK_AUTH_OK) {
        fail(c, 401, CODES[r], err.msg);
        return -1;
    }
    return 0;
}

/* Parse, check and store an authenticated call. */
static void start_run(call *c, const hook_workflow *wf, const char *sig_hex)
{
    hook_trigger t = {0};
    hook_req hr;
    const char *code, *idem = mf_httpd_req_header(c->req, "Idempotency-Key");
    char *vars = NULL, *recips = NULL, *keys = NULL;
    const char *known[HOOK_STORE_KNOWN_MAX];
    mf_err err;

    if (!idem_key_ok(idem)) {
        fail(c, 400, "bad_request",
             "Idempotency-Key must be 1 to 255 printable ASCII "
             "characters");
        return;
    }
    if (hook_req_parse(c->req->body, c->req->body_len, (size_t)c->s->cfg->webhook_max_recipients,
                       &hr, &code, &err) != 0) {
        fail(c, strcmp(code, "internal") == 0 ? 500 : 400, code, err.msg);
        return;
    }
    for (size_t i = 0; i < wf->nknown; i++)
        known[i] = wf->known[i];
    if (hook_req_check_vars(&hr, known, wf->nknown, &err) != 0) {
        fail(c, 400, "unknown_variable", err.msg);
        goto out;
    }
    vars = dump(hr.variables);
    recips = dump(hr.recipients);
    keys = dump(hr.customer_keys);
    if (vars == NULL || (hr.recipients && !recips) || (hr.customer_keys && !keys)) {
        fail(c, 500, "internal", "out of memory");
        goto out;
    }
    t.workflow_id = c->wf_id;
    t.sig_hex = sig_hex;
    t.idem_key = idem;
    t.variables_json = vars;
    t.recipients_json = recips;
    t.keys_json = keys;
    if (hook_store_trigger(c->s->pg, &t, &err) != 0)
        unavailable(c, &err);
    else if (t.replay)
        fail(c, 401, "replayed_signature",
             "this signature was used before: sign each call "
             "anew (an Idempotency-Key makes a retry safe)");
    else if (t.gone)
        fail(c, 404, "workflow_not_found", "the workflow is no longer active");
    else {
        c->code = t.existing ? "existing_run" : "accepted";
        snprintf(c->run_id, sizeof(c->run_id), "%s", t.run_id);
        answer_run(c->resp, t.run_id, t.existing);
    }
out:
    free(vars);
    free(recips);
    free(keys);
    hook_req_free(&hr);
}

static void serve(call *c)
{
    hook_server *s = c->s;
    hook_workflow *wf = NULL;
    char sig_hex[HOOK_AUTH_HEX_SIZE], msg[160];
    long long wait_s;
    mf_err err;

    if (parse_path(c->req->url, c->wf_id) != 0) {
        fail(c, 404, "not_found", "no such endpoint: POST /v1/workflows/{workflow id}/trigger");
        return;
    }
    if (strcmp(c->req->method, "POST") != 0) {
        fail(c, 405, "method_not_allowed", "use POST");
        return;
    }
    wf = calloc(1, sizeof(*wf));
    if (wf == NULL) {
        fail(c, 500, "internal", "out of memory");
        return;
    }
    if (pg_ready(s, &err) != 0 || hook_store_workflow(s->pg, c->wf_id, wf, &err) != 0) {
        unavailable(c, &err);
        goto out;
    }
    if (!wf->found || strcmp(wf->status, "active") != 0) {
        snprintf(msg, sizeof(msg), "no active workflow %s", c->wf_id);
        fail(c, 404, "workflow_not_found", msg);
        goto out;
    }
    if (strcmp(wf->trigger_type, "webhook") != 0) {
        snprintf(msg, sizeof(msg), "workflow %s is triggered by \"%.32s\", not by webhook",
                 c->wf_id, wf->trigger_type);
        fail(c, 409, "not_webhook_triggered", msg);
        goto out;
    }
    if (authenticate(c, wf, sig_hex) != 0)
        goto out;
    wait_s = rate_take(s, c->wf_id, mf_clock_mono_ms());
    if (wait_s > 0) {
        snprintf(msg, sizeof(msg), "more than %lld calls a second for this workflow",
                 s->cfg->webhook_rate);
        fail(c, 429, "rate_limited", msg);
        c->resp->retry_after_s = wait_s;
        goto out;
    }
    start_run(c, wf, sig_hex);
out:
    hook_store_workflow_wipe(wf);
    free(wf);
}

static void on_request(void *arg, const mf_httpd_req *req, mf_httpd_resp *resp)
{
    call c = {arg, req, resp, "", "", ""};
    int64_t t0 = mf_clock_mono_ms();

    serve(&c);
    mf_metric_add(c.s->calls, (const char *const[]){c.code[0] ? c.code : "none"}, 1);
    MF_LOG(c.s->log, resp->status >= 500 ? MF_LOG_WARN : MF_LOG_INFO, "webhook call",
           MF_KV_S("method", req->method), MF_KV_S("workflow_id", c.wf_id),
           MF_KV_I("status", resp->status), MF_KV_S("code", c.code), MF_KV_S("run_id", c.run_id),
           MF_KV_I("ms", mf_clock_mono_ms() - t0));
}

/* ---- lifecycle ------------------------------------------------------------------------- */

/* "host:port" into host and port. */
static int parse_listen(const char *listen, char *host, size_t cap, int *port, mf_err *err)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long p;

    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= cap)
        return mf_err_set(err, "MF_PLANNER_WEBHOOK_LISTEN \"%.64s\" must be host:port", listen);
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return mf_err_set(err, "MF_PLANNER_WEBHOOK_LISTEN \"%.64s\": bad port", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    *port = (int)p;
    return 0;
}

hook_server *hook_server_start(const planner_config *cfg, mf_log *log, mf_metrics *metrics,
                               mf_err *err)
{
    hook_server *s = calloc(1, sizeof(*s));
    char host[64];
    int port = 0;

    if (s == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->log = log;
    if (metrics != NULL) {
        s->calls = mf_metrics_counter(
            metrics, "msgfleet_planner_webhook_calls_total",
            "Webhook calls answered, by answer code (accepted, existing_run, or the error code; "
            "a body refused as too large before it is read is not counted).",
            "code", err);
        if (s->calls == NULL)
            goto fail;
    }
    if (parse_listen(cfg->webhook_listen, host, sizeof(host), &port, err) != 0)
        goto fail;
    s->http = mf_httpd_start_app(host, port, (size_t)cfg->webhook_max_body, on_request, s, err);
    if (s->http == NULL) {
        mf_err_prefix(err, "MF_PLANNER_WEBHOOK_LISTEN");
        goto fail;
    }
    return s;
fail:
    free(s);
    return NULL;
}

int hook_server_port(const hook_server *s)
{
    return mf_httpd_port(s->http);
}

void hook_server_stop(hook_server *s)
{
    if (s == NULL)
        return;
    mf_httpd_stop(s->http);
    if (s->pg != NULL)
        PQfinish(s->pg);
    free(s);
}
