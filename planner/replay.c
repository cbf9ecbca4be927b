/* replay: expand a replay run (replay_of set) from the original run's failures, not MySQL. */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mf_codec.h"
#include "mf_daemon.h"
#include "mf_phone.h"
#include "mf_replay.h"
#include "plan.h"

#define JOB_ATTEMPT 1
#define RAW_PHONE_MAX 20
#define FILTER_MAX 65536
#define MAX_VARS 128

typedef enum routcome {
    R_OK = 0,
    R_RETRY, /* transient: give the run back for retry_ms */
    R_FAIL,  /* configuration error: the run fails */
    R_LOST,  /* the lease is gone */
    R_STOP,  /* stop requested: give back at once */
    R_FATAL  /* producer unusable */
} routcome;

typedef struct replay {
    planner_ctx *ctx;
    const planner_run *run;
    planner_plan plan;
    char *filter;
    char cursor[64];
    long long jobs, invalid;     /* acknowledged so far, including earlier attempts */
    long long page_jobs, page_invalid;
    int64_t last_renew_ms;
    mf_codec_kv kv[MAX_VARS];
    char num[MAX_VARS][32];      /* numbers of variables_used printed as text */
    char reason[MF_ERR_MAX];
} replay;

static routcome why(replay *r, routcome o, const char *msg)
{
    snprintf(r->reason, sizeof(r->reason), "%s", msg);
    return o;
}

/* ---- filter --------------------------------------------------------------------------- */

static int string_array(json_t *v)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e))
            return 0;
    }
    return 1;
}

int planner_replay_check_filter(const char *json, mf_err *err)
{
    json_error_t jerr;
    json_t *f = json_loads(json != NULL ? json : "{}", 0, &jerr), *v;
    const char *key;
    int rc = 0;

    if (f == NULL || !json_is_object(f)) {
        json_decref(f);
        return mf_err_set(err, "replay_filter is not a JSON object");
    }
    json_object_foreach(f, key, v) {
        int list = strcmp(key, "statuses") == 0 || strcmp(key, "codes") == 0 ||
                   strcmp(key, "exclude_codes") == 0;
        int text = strcmp(key, "since") == 0 || strcmp(key, "until") == 0;
        if (!list && !text) {
            rc = mf_err_set(err, "replay_filter: unknown key \"%.64s\"", key);
            break;
        }
        if ((list && !string_array(v)) || (text && !json_is_string(v))) {
            rc = mf_err_set(err, "replay_filter.%s must be %s", key,
                            list ? "an array of strings" : "a timestamp string");
            break;
        }
    }
    json_decref(f);
    return rc;
}

/* since / until must be timestamps PostgreSQL accepts (class 22 = a permanent data error). */
static routcome check_times(replay *r)
{
    static const char sql[] =
        "SELECT ($1::jsonb->>'since')::timestamptz, ($1::jsonb->>'until')::timestamptz";
    const char *params[1] = {r->filter};
    PGresult *res = PQexecParams(r->ctx->pg, sql, 1, NULL, params, NULL, NULL, 0);
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    routcome o = R_OK;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[MF_ERR_MAX];
        snprintf(msg, sizeof(msg), "replay_filter: %s", PQerrorMessage(r->ctx->pg));
        msg[strcspn(msg, "\n")] = '\0';
        o = why(r, state != NULL && strncmp(state, "22", 2) == 0 ? R_FAIL : R_RETRY, msg);
    }
    PQclear(res);
    return o;
}

static routcome load(replay *r)
{
    planner_ctx *ctx = r->ctx;
    int permanent = 0;
    mf_err err;

    r->filter = malloc(FILTER_MAX);
    if (r->filter == NULL)
        return why(r, R_RETRY, "out of memory");
    if (planner_runs_replay_filter(ctx->pg, r->run->id, r->filter, FILTER_MAX, &err) != 0)
        return why(r, R_RETRY, err.msg);
    if (planner_replay_check_filter(r->filter, &err) != 0)
        return why(r, R_FAIL, err.msg);
    if (planner_plan_load_template(ctx->pg, r->run->workflow_id, &r->plan, &permanent, &err) !=
        0)
        return why(r, permanent ? R_FAIL : R_RETRY, err.msg);
    return check_times(r);
}

/* ---- producing ------------------------------------------------------------------------- */

static routcome renew(replay *r, int force)
{
    planner_ctx *ctx = r->ctx;
    int64_t now = planner_now_ms();
    mf_err err;
    int rc;

    if (!force && now - r->last_renew_ms < ctx->cfg->lease_s * 1000 / 3)
        return R_OK;
    rc = planner_runs_renew(ctx->pg, r->run, ctx->cfg->common.instance_id, ctx->cfg->lease_s,
                            NULL, &err);
    if (rc < 0)
        return why(r, R_RETRY, err.msg);
    if (rc == 0)
        return why(r, R_LOST, "lease lost (taken over or run no longer running)");
    r->last_renew_ms = now;
    planner_tick_schedules(ctx);
    return R_OK;
}

static routcome produce(replay *r, const char *topic, const char *key, size_t key_len)
{
    planner_ctx *ctx = r->ctx;
    mf_err err;

    for (;;) {
        routcome o;
        if (mf_kafka_produce(ctx->producer, topic, key, key_len, ctx->sbuf.data,
                             ctx->sbuf.size, (void *)ctx->gen, 1000, &err) == 0)
            return R_OK;
        if (mf_kafka_producer_fatal(ctx->producer, &err))
            return why(r, R_FATAL, err.msg);
        /* TODO(lead): a typed queue-full return from mf_kafka_produce (see docs/replay.md) */
        if (strstr(err.msg, "queue full") == NULL)
            return why(r, R_RETRY, err.msg);
        if (mf_daemon_stopping())
            return why(r, R_STOP, "planner stopping");
        if ((o = renew(r, 0)) != R_OK)
            return o;
    }
}

/* Wait until every message is acknowledged (deadline), then check the delivery reports. */
static routcome await_acks(replay *r)
{
    planner_ctx *ctx = r->ctx;
    int64_t deadline = planner_now_ms() + ctx->cfg->flush_timeout_ms;

    while (mf_kafka_outq_len(ctx->producer) > 0) {
        routcome o;
        if (planner_now_ms() > deadline) {
            snprintf(r->reason, sizeof(r->reason),
                     "%d messages not acknowledged by the broker within %lld ms",
                     mf_kafka_outq_len(ctx->producer), ctx->cfg->flush_timeout_ms);
            return R_RETRY;
        }
        if (mf_daemon_stopping()) /* the page is produced again by the next planner */
            return why(r, R_STOP, "planner stopping");
        mf_kafka_flush(ctx->producer, 500, NULL);
        if ((o = renew(r, 0)) != R_OK)
            return o;
    }
    if (ctx->dr_failed > 0) {
        snprintf(r->reason, sizeof(r->reason), "%lld messages failed delivery: %s",
                 ctx->dr_failed, ctx->dr_error);
        return R_RETRY;
    }
    return R_OK;
}

/* Text usable in a message: valid UTF-8, else NULL. */
static const char *clean(const char *s)
{
    if (s == NULL || !mf_buf_utf8_valid(s, strlen(s)))
        return NULL;
    return s;
}

static void cut_utf8(const char *s, char *out, size_t max)
{
    size_t n = strlen(s);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static routcome emit_invalid(replay *r, const char *raw, const char *name, mf_phone_reason pr)
{
    planner_ctx *ctx = r->ctx;
    char rkey[96], id[MF_UUID_STR_SIZE], to[RAW_PHONE_MAX + 1], msg[128];
    mf_result res;
    mf_err err;

    memset(&res, 0, sizeof(res));
    snprintf(rkey, sizeof(rkey), "invalid:%.80s", raw);
    mf_uuid_job_id(&r->run->uuid, r->run->started_ms, rkey, JOB_ATTEMPT, &res.id);
    cut_utf8(clean(raw) == NULL ? "(invalid)" : raw[0] == '\0' ? "(empty)" : raw, to,
             RAW_PHONE_MAX);
    snprintf(msg, sizeof(msg), "invalid phone number: %s", mf_phone_reason_text(pr));
    res.run = r->run->uuid;
    res.wf = r->plan.wf;
    res.tpl = r->plan.tpl;
    res.attempt = JOB_ATTEMPT;
    res.status = MF_RESULT_FAILED;
    res.to = to;
    res.name = clean(name);
    res.type = r->plan.type;
    res.code = "INVALID_PHONE";
    res.msg = msg;
    res.ts_ms = planner_now_ms();
    if (mf_codec_encode_result(&ctx->sbuf, &res, &err) != 0)
        return why(r, R_RETRY, err.msg);
    mf_uuid_format(&res.id, id);
    r->page_invalid++;
    return produce(r, ctx->topic_results, id, MF_UUID_STR_LEN);
}

/* variables_used (a JSON object of strings) into r->kv; numbers are printed, other values
 * (null, objects) left out: the sender fails a job that misses a variable (RENDER_FAILED). */
static size_t parse_vars(replay *r, json_t *vars)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    json_object_foreach(vars, key, v) {
        const char *val = NULL;
        if (n == MAX_VARS)
            break;
        if (json_is_string(v))
            val = clean(json_string_value(v));
        else if (json_is_integer(v))
            val = snprintf(r->num[n], sizeof(r->num[n]), "%lld",
                           (long long)json_integer_value(v)) > 0 ? r->num[n] : NULL;
        else if (json_is_real(v))
            val = snprintf(r->num[n], sizeof(r->num[n]), "%g", json_real_value(v)) > 0
                      ? r->num[n] : NULL;
        if (val == NULL || clean(key) == NULL)
            continue;
        r->kv[n].key = key;
        r->kv[n++].val = val;
    }
    return n;
}

static routcome emit_job(replay *r, const char *phone, const char *name, const char *vars_json)
{
    planner_ctx *ctx = r->ctx;
    json_error_t jerr;
    json_t *vars = json_loads(vars_json, 0, &jerr);
    mf_job job;
    mf_err err;
    routcome o = R_OK;

    memset(&job, 0, sizeof(job));
    mf_uuid_job_id(&r->run->uuid, r->run->started_ms, phone, JOB_ATTEMPT, &job.id);
    job.run = r->run->uuid;
    job.wf = r->plan.wf;
    job.tpl = r->plan.tpl;
    job.attempt = JOB_ATTEMPT;
    job.to = phone;
    job.name = clean(name) != NULL ? name : "";
    job.vars.items = r->kv;
    job.vars.n = json_is_object(vars) ? parse_vars(r, vars) : 0;
    job.created_ms = planner_now_ms();
    if (mf_codec_encode_job(&ctx->sbuf, &job, &err) != 0)
        o = why(r, R_RETRY, err.msg);
    json_decref(vars);
    if (o != R_OK)
        return o;
    r->page_jobs++;
    return produce(r, ctx->topic_jobs, phone, strlen(phone));
}

static routcome candidate(replay *r, PGresult *res, int i)
{
    const char *raw = PQgetvalue(res, i, MF_REPLAY_COL_PHONE);
    const char *name = PQgetisnull(res, i, MF_REPLAY_COL_NAME)
                           ? NULL : PQgetvalue(res, i, MF_REPLAY_COL_NAME);
    char phone[MF_PHONE_MAX];
    mf_phone_reason pr = MF_PHONE_OK;
    mf_err err;

    if (mf_phone_normalize(raw, phone, sizeof(phone), &pr, &err) != 0)
        return emit_invalid(r, raw, name, pr);
    return emit_job(r, phone, name, PQgetvalue(res, i, MF_REPLAY_COL_VARS));
}

/* One page: produce, wait for the acknowledgements, record the progress. *more = 0 at the
 * end. */
static routcome page(replay *r, int *more)
{
    planner_ctx *ctx = r->ctx;
    mf_err err;
    PGresult *res = mf_replay_page(ctx->pg, r->run->replay_of, r->filter, r->cursor,
                                   (int)ctx->cfg->page_size, &err);
    routcome o = R_OK;
    int n;

    if (res == NULL)
        return why(r, R_RETRY, err.msg);
    n = PQntuples(res);
    mf_metric_add(ctx->metrics.pages, NULL, 1);
    r->page_jobs = r->page_invalid = 0;
    for (int i = 0; o == R_OK && i < n; i++) {
        o = candidate(r, res, i);
        if (o == R_OK && mf_daemon_stopping())
            o = why(r, R_STOP, "planner stopping");
        if (o == R_OK && (i & 255) == 255)
            o = renew(r, 0);
    }
    if (o == R_OK && n > 0)
        snprintf(r->cursor, sizeof(r->cursor), "%s", PQgetvalue(res, n - 1, MF_REPLAY_COL_PHONE));
    PQclear(res);
    *more = n == (int)ctx->cfg->page_size;
    if (o == R_OK)
        o = await_acks(r);
    if (o != R_OK)
        return o;
    r->jobs += r->page_jobs;
    r->invalid += r->page_invalid;
    mf_metric_add(ctx->metrics.jobs, NULL, (double)r->page_jobs);
    mf_metric_add(ctx->metrics.invalid, NULL, (double)r->page_invalid);
    if (n == 0)
        return R_OK;
    switch (planner_runs_progress(ctx->pg, r->run, ctx->cfg->common.instance_id,
                                  ctx->cfg->lease_s, r->cursor, r->jobs, r->invalid, &err)) {
    case 1:
        r->last_renew_ms = planner_now_ms();
        return R_OK;
    case 0:
        return why(r, R_LOST, "lease lost (taken over or run no longer running)");
    default:
        return why(r, R_RETRY, err.msg);
    }
}

/* ---- outcome --------------------------------------------------------------------------- */

static void log_outcome(replay *r, mf_log_level level, const char *msg)
{
    MF_LOG(r->ctx->log, level, msg, MF_KV_S("run_id", r->run->id),
           MF_KV_S("replay_of", r->run->replay_of), MF_KV_I("jobs", r->jobs),
           MF_KV_I("invalid", r->invalid), MF_KV_S("cursor", r->cursor),
           MF_KV_S("reason", r->reason));
}

static void finish(replay *r)
{
    planner_ctx *ctx = r->ctx;
    planner_counts c = {r->jobs + r->invalid, r->jobs, r->invalid};
    mf_err err;
    int rc = planner_runs_finish(ctx->pg, r->run, ctx->cfg->common.instance_id, &c, &err);

    if (rc <= 0) {
        why(r, R_OK, rc < 0 ? err.msg : "lease lost before recording the expansion");
        log_outcome(r, MF_LOG_WARN, "replay expanded but not recorded");
        return;
    }
    log_outcome(r, MF_LOG_INFO, "replay expanded");
    rc = planner_runs_complete(ctx->pg, r->run->id, &err);
    if (rc < 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "completion check failed", MF_KV_S("run_id", r->run->id),
               MF_KV_S("error", err.msg));
    else if (rc == 1)
        MF_LOG(ctx->log, MF_LOG_INFO, "run completed", MF_KV_S("run_id", r->run->id));
}

static void record(replay *r, routcome o)
{
    planner_ctx *ctx = r->ctx;
    const char *owner = ctx->cfg->common.instance_id;
    mf_err err;
    int rc = 1;

    switch (o) {
    case R_OK:
        finish(r);
        return;
    case R_FAIL:
        rc = planner_runs_fail(ctx->pg, r->run, owner, r->reason, &err);
        mf_metric_add(ctx->metrics.runs_failed, NULL, 1);
        log_outcome(r, MF_LOG_ERROR, "replay failed: configuration error");
        break;
    case R_LOST:
        log_outcome(r, MF_LOG_WARN, "replay lease lost, expansion abandoned");
        return;
    case R_STOP:
        rc = planner_runs_release(ctx->pg, r->run, owner, 0, r->reason, &err);
        log_outcome(r, MF_LOG_INFO, "replay given back: stopping");
        break;
    default:
        rc = planner_runs_release(ctx->pg, r->run, owner, ctx->cfg->retry_ms, r->reason, &err);
        log_outcome(r, MF_LOG_WARN, "replay given back after a transient failure");
        break;
    }
    if (rc < 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "could not record the run outcome",
               MF_KV_S("run_id", r->run->id), MF_KV_S("error", err.msg));
}

int planner_replay_run(planner_ctx *ctx, const planner_run *run, mf_err *err)
{
    replay *r = calloc(1, sizeof(*r));
    int64_t t0 = planner_now_ms();
    routcome o;
    int more = 1;

    if (r == NULL)
        return 0; /* the lease expires; retried later */
    r->ctx = ctx;
    r->run = run;
    r->last_renew_ms = t0;
    r->jobs = run->done_jobs;
    r->invalid = run->done_invalid;
    snprintf(r->cursor, sizeof(r->cursor), "%s", run->cursor);
    ctx->gen++;
    ctx->dr_failed = 0;
    ctx->dr_error[0] = '\0';
    o = load(r);
    while (o == R_OK && more)
        o = page(r, &more);
    record(r, o);
    if (o == R_OK)
        mf_metric_observe(ctx->metrics.expansion_seconds, NULL,
                          (double)(planner_now_ms() - t0) / 1000.0);
    if (o == R_FATAL)
        mf_err_set(err, "%s", r->reason);
    planner_plan_free(&r->plan);
    free(r->filter);
    free(r);
    return o == R_FATAL ? -1 : 0;
}
