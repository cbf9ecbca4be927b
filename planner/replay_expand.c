/* replay_expand: expand a replay run into jobs from the original run's failures, not MySQL. */
/* Which recipients a replay resends is common/mf_replay (shared with the CLI's preview). */
#include "replay_expand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mf_codec.h"
#include "mf_daemon.h"
#include "mf_phone.h"
#include "mf_replay.h"
#include "emit.h"
#include "plan.h"
#include "schedule_fire.h"

#define FILTER_MAX 65536
#define MAX_VARS 128

typedef struct replay {
    planner_ctx *ctx;
    const planner_run *run;
    planner_plan plan;
    char *filter;
    char cursor[64];
    long long jobs, invalid; /* acknowledged so far, including earlier attempts */
    long long page_jobs, page_invalid;
    int64_t last_renew_ms; /* monotonic: when the lease was last renewed */
    mf_codec_kv kv[MAX_VARS];
    char num[MAX_VARS][32]; /* numbers of variables_used printed as text */
    planner_emitter em;
    char reason[MF_ERR_MAX];
} replay;

/* r->reason (through r->em, which points to it) = msg; returns o. */
static planner_outcome why(replay *r, planner_outcome o, const char *msg)
{
    return planner_emit_why(&r->em, o, msg);
}

/* PostgreSQL failed (a replay reads its recipients from it): give the run back without
 * counting the attempt. */
static planner_outcome pg_down(replay *r, const char *msg)
{
    return planner_emit_outage(&r->em, msg);
}

/* ---- filter --------------------------------------------------------------------------- */

static int string_array(json_t *v)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, e)
    {
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
    json_object_foreach(f, key, v)
    {
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
static planner_outcome check_times(replay *r)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT ($1::jsonb->>'since')::timestamptz, ($1::jsonb->>'until')::timestamptz";
    /* clang-format on */
    const char *params[1] = {r->filter};
    PGresult *res = PQexecParams(r->ctx->pg, sql, 1, NULL, params, NULL, NULL, 0);
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    planner_outcome o = PLANNER_OUT_OK;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[MF_ERR_MAX];
        snprintf(msg, sizeof(msg), "replay_filter: %s", PQerrorMessage(r->ctx->pg));
        msg[strcspn(msg, "\n")] = '\0';
        o = state != NULL && strncmp(state, "22", 2) == 0 ? why(r, PLANNER_OUT_FAIL, msg)
                                                          : pg_down(r, msg);
    }
    PQclear(res);
    return o;
}

static planner_outcome load(replay *r)
{
    planner_ctx *ctx = r->ctx;
    int permanent = 0;
    mf_err err;

    r->filter = malloc(FILTER_MAX);
    if (r->filter == NULL)
        return why(r, PLANNER_OUT_RETRY, "out of memory");
    if (planner_runs_replay_filter(ctx->pg, r->run->id, r->filter, FILTER_MAX, &err) != 0)
        return pg_down(r, err.msg);
    if (planner_replay_check_filter(r->filter, &err) != 0)
        return why(r, PLANNER_OUT_FAIL, err.msg);
    if (planner_plan_load_template(ctx->pg, r->run->workflow_id, &r->plan, &permanent, &err) != 0)
        return permanent ? why(r, PLANNER_OUT_FAIL, err.msg) : pg_down(r, err.msg);
    return check_times(r);
}

/* ---- producing ------------------------------------------------------------------------- */

static planner_outcome renew(replay *r, int force)
{
    planner_ctx *ctx = r->ctx;
    int64_t now = mf_clock_mono_ms();
    mf_err err;
    int rc;

    if (!force && now - r->last_renew_ms < ctx->cfg->lease_s * 1000 / 3)
        return PLANNER_OUT_OK;
    rc = planner_runs_renew(ctx->pg, r->run, ctx->cfg->common.instance_id, ctx->cfg->lease_s, NULL,
                            &err);
    if (rc < 0)
        return planner_data_error(ctx, r->run->id, "lease renewal", &err)
                   ? why(r, PLANNER_OUT_FAIL, err.msg)
                   : pg_down(r, err.msg);
    if (rc == 0)
        return why(r, PLANNER_OUT_LOST, "lease lost (taken over or run no longer running)");
    r->last_renew_ms = now;
    planner_tick_schedules(ctx);
    return PLANNER_OUT_OK;
}

static planner_outcome renew_cb(void *self, int force)
{
    return renew(self, force);
}

static planner_outcome emit_invalid(replay *r, const char *raw, const char *name,
                                    mf_phone_reason pr)
{
    char rkey[96], id[MF_UUID_STR_SIZE];
    planner_outcome o;

    snprintf(rkey, sizeof(rkey), "invalid:%.80s", raw);
    o = planner_emit_encode_invalid(&r->em, rkey, raw, name, pr, id);
    if (o != PLANNER_OUT_OK)
        return o;
    r->page_invalid++;
    return planner_emit_produce(&r->em, r->ctx->topic_results, id, MF_UUID_STR_LEN);
}

/* variables_used (a JSON object of strings) into r->kv; numbers are printed, other values
 * (null, objects) left out: the sender fails a job that misses a variable (RENDER_FAILED). */
static size_t parse_vars(replay *r, json_t *vars)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    json_object_foreach(vars, key, v)
    {
        const char *val = NULL;
        if (n == MAX_VARS)
            break;
        if (json_is_string(v))
            val = planner_emit_clean(json_string_value(v));
        else if (json_is_integer(v))
            val = snprintf(r->num[n], sizeof(r->num[n]), "%lld", (long long)json_integer_value(v)) >
                          0
                      ? r->num[n]
                      : NULL;
        else if (json_is_real(v))
            val = snprintf(r->num[n], sizeof(r->num[n]), "%g", json_real_value(v)) > 0 ? r->num[n]
                                                                                       : NULL;
        if (val == NULL || planner_emit_clean(key) == NULL)
            continue;
        r->kv[n].key = key;
        r->kv[n++].val = val;
    }
    return n;
}

static planner_outcome emit_job(replay *r, const char *phone, const char *name,
                                const char *vars_json)
{
    json_error_t jerr;
    json_t *vars = json_loads(vars_json, 0, &jerr);
    planner_outcome o = planner_emit_encode_job(&r->em, phone, name, r->kv,
                                                json_is_object(vars) ? parse_vars(r, vars) : 0, 0);

    json_decref(vars);
    if (o != PLANNER_OUT_OK)
        return o;
    r->page_jobs++;
    return planner_emit_produce(&r->em, r->ctx->topic_jobs, phone, strlen(phone));
}

static planner_outcome candidate(replay *r, PGresult *res, int i)
{
    const char *raw = PQgetvalue(res, i, MF_REPLAY_COL_PHONE);
    const char *name = PQgetisnull(res, i, MF_REPLAY_COL_NAME)
                           ? NULL
                           : PQgetvalue(res, i, MF_REPLAY_COL_NAME);
    char phone[MF_PHONE_MAX];
    mf_phone_reason pr = MF_PHONE_OK;
    mf_err err;

    if (mf_phone_normalize(raw, phone, sizeof(phone), &pr, &err) != 0)
        return emit_invalid(r, raw, name, pr);
    return emit_job(r, phone, name, PQgetvalue(res, i, MF_REPLAY_COL_VARS));
}

/* One page: produce, wait for the acknowledgements, record the progress. *more = 0 at the
 * end. */
static planner_outcome page(replay *r, int *more)
{
    planner_ctx *ctx = r->ctx;
    mf_err err;
    PGresult *res = mf_replay_page(ctx->pg, r->run->replay_of, r->filter, r->cursor,
                                   (int)ctx->cfg->page_size, &err);
    planner_outcome o = PLANNER_OUT_OK;
    int n;

    if (res == NULL)
        return pg_down(r, err.msg);
    n = PQntuples(res);
    mf_metric_add(ctx->metrics.pages, NULL, 1);
    r->page_jobs = r->page_invalid = 0;
    for (int i = 0; o == PLANNER_OUT_OK && i < n; i++) {
        o = candidate(r, res, i);
        if (o == PLANNER_OUT_OK && mf_daemon_stopping())
            o = why(r, PLANNER_OUT_STOP, "planner stopping");
        if (o == PLANNER_OUT_OK && (i & 255) == 255)
            o = renew(r, 0);
    }
    if (o == PLANNER_OUT_OK && n > 0)
        snprintf(r->cursor, sizeof(r->cursor), "%s", PQgetvalue(res, n - 1, MF_REPLAY_COL_PHONE));
    PQclear(res);
    *more = n == (int)ctx->cfg->page_size;
    if (o == PLANNER_OUT_OK)
        o = planner_emit_await(&r->em);
    if (o != PLANNER_OUT_OK)
        return o;
    r->jobs += r->page_jobs;
    r->invalid += r->page_invalid;
    mf_metric_add(ctx->metrics.jobs, NULL, (double)r->page_jobs);
    mf_metric_add(ctx->metrics.invalid, NULL, (double)r->page_invalid);
    if (n == 0)
        return PLANNER_OUT_OK;
    switch (planner_runs_progress(ctx->pg, r->run, ctx->cfg->common.instance_id, ctx->cfg->lease_s,
                                  r->cursor, r->jobs, r->invalid, &err)) {
    case 1: r->last_renew_ms = mf_clock_mono_ms(); return PLANNER_OUT_OK;
    case 0: return why(r, PLANNER_OUT_LOST, "lease lost (taken over or run no longer running)");
    default:
        return planner_data_error(ctx, r->run->id, "replay progress", &err)
                   ? why(r, PLANNER_OUT_FAIL, err.msg)
                   : pg_down(r, err.msg);
    }
}

/* ---- outcome --------------------------------------------------------------------------- */

static void log_outcome(void *self, mf_log_level level, const char *msg)
{
    replay *r = self;

    MF_LOG(r->ctx->log, level, msg, MF_KV_S("run_id", r->run->id),
           MF_KV_S("replay_of", r->run->replay_of), MF_KV_I("jobs", r->jobs),
           MF_KV_I("invalid", r->invalid), MF_KV_S("cursor", r->cursor),
           MF_KV_S("reason", r->reason));
}

int planner_replay_run(planner_ctx *ctx, const planner_run *run, mf_err *err)
{
    replay *r = calloc(1, sizeof(*r));
    int64_t t0 = mf_clock_mono_ms();
    planner_outcome o;
    planner_counts c;
    int more = 1;

    if (r == NULL)
        return 0; /* the lease expires; retried later */
    r->ctx = ctx;
    r->run = run;
    r->em = (planner_emitter){ctx, run, &r->plan, renew_cb, log_outcome, r, "replay", r->reason, 0};
    r->last_renew_ms = t0;
    r->jobs = run->done_jobs;
    r->invalid = run->done_invalid;
    snprintf(r->cursor, sizeof(r->cursor), "%s", run->cursor);
    ctx->gen++;
    ctx->dr_failed = 0;
    ctx->dr_error[0] = '\0';
    o = load(r);
    while (o == PLANNER_OUT_OK && more)
        o = page(r, &more);
    c = (planner_counts){r->jobs + r->invalid, r->jobs, r->invalid};
    planner_emit_record(&r->em, o, &c);
    if (o == PLANNER_OUT_OK)
        mf_metric_observe(ctx->metrics.expansion_seconds, NULL,
                          (double)(mf_clock_mono_ms() - t0) / 1000.0);
    if (o == PLANNER_OUT_FATAL)
        mf_err_set(err, "%s", r->reason);
    planner_plan_free(&r->plan);
    free(r->filter);
    free(r);
    return o == PLANNER_OUT_FATAL ? -1 : 0;
}
