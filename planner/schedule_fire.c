/* schedule_fire: fire due scheduled workflows: one run per slot, next_run_at advanced. */
/* The rules themselves (cron, interval grid, next slot) are schedule_rule.c. */
#include "schedule_fire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "schedule_rule.h"

#define SCHEDULE_BATCH 100
#define BAD_SCHEDULE_WARN_MS 60000

/* Due or uninitialised schedules (no lock: each is re-checked under its row lock). */
/* clang-format off */
static const char CANDIDATES_SQL[] =
    "SELECT id::text FROM workflows"
    " WHERE trigger_type = 'schedule' AND status = 'active'"
    "   AND (next_run_at IS NULL OR next_run_at <= now())"
    " ORDER BY next_run_at NULLS FIRST LIMIT 100";

static const char LOCK_SQL[] =
    "SELECT COALESCE(schedule_config, '{}')::text, next_run_at IS NULL,"
    " floor(extract(epoch FROM now()))::bigint"
    " FROM workflows WHERE id = $1::uuid AND trigger_type = 'schedule' AND status = 'active'"
    "   AND (next_run_at IS NULL OR next_run_at <= now())"
    " FOR UPDATE SKIP LOCKED";

static const char INSERT_RUN_SQL[] =
    "INSERT INTO workflow_runs (workflow_id, status, trigger_type, requested_by, logs)"
    " VALUES ($1::uuid, 'running', 'schedule', 'schedule',"
    "  jsonb_build_array(jsonb_build_object('ts', now(), 'event', 'scheduled',"
    "   'detail', 'slot ' || $2::text || ' fired by ' || $3::text)))"
    " RETURNING id::text";

static const char ADVANCE_SQL[] =
    "UPDATE workflows SET next_run_at = to_timestamp($2::bigint),"
    " last_run_at = CASE WHEN $3::boolean THEN now() ELSE last_run_at END"
    " WHERE id = $1::uuid";
/* clang-format on */

typedef struct fire {
    planner_ctx *ctx;
    const char *wf;
    char run_id[64];
    int fired;
    int bad_config;
} fire;

static void warn_bad_schedule(planner_ctx *ctx, const char *wf, const char *msg)
{
    int64_t now = mf_clock_mono_ms();

    if (ctx->bad_schedule_warned_ms != 0 &&
        now - ctx->bad_schedule_warned_ms < BAD_SCHEDULE_WARN_MS)
        return;
    ctx->bad_schedule_warned_ms = now;
    MF_LOG(ctx->log, MF_LOG_WARN, "bad schedule_config, workflow not scheduled",
           MF_KV_S("workflow_id", wf), MF_KV_S("error", msg));
}

/* Inside the transaction: lock the workflow, create the run when due, advance next_run_at. */
static int fire_tx(PGconn *conn, void *arg, mf_err *err)
{
    fire *f = arg;
    const char *p1[1] = {f->wf};
    PGresult *res = mf_pg_query(conn, LOCK_SQL, 1, p1, err);
    planner_schedule s;
    int64_t now, next;
    char next_text[32], slot[64];
    int rc = -1, init;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) { /* another planner has it, or it is no longer due */
        PQclear(res);
        return 0;
    }
    init = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    now = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    if (planner_schedule_parse(PQgetvalue(res, 0, 0), &s, err) != 0 ||
        planner_schedule_next(&s, now, &next, err) != 0) {
        f->bad_config = 1;
        goto out;
    }
    snprintf(next_text, sizeof(next_text), "%lld", (long long)next);
    if (!init) {
        const char *p3[3] = {f->wf, slot, f->ctx->cfg->common.instance_id};
        PGresult *ins;
        snprintf(slot, sizeof(slot), "due at or before %lld", (long long)now);
        ins = mf_pg_query(conn, INSERT_RUN_SQL, 3, p3, err);
        if (ins == NULL)
            goto out;
        snprintf(f->run_id, sizeof(f->run_id), "%s", PQgetvalue(ins, 0, 0));
        PQclear(ins);
        f->fired = 1;
    }
    const char *p2[3] = {f->wf, next_text, init ? "false" : "true"};
    rc = mf_pg_command(conn, ADVANCE_SQL, 3, p2, NULL, err);
out:
    PQclear(res);
    return rc;
}

static void fire_one(planner_ctx *ctx, const char *wf)
{
    fire f = {ctx, wf, "", 0, 0};
    mf_err err;

    if (mf_pg_tx(ctx->pg, fire_tx, &f, &err) != 0) {
        if (f.bad_config)
            warn_bad_schedule(ctx, wf, err.msg);
        else
            MF_LOG(ctx->log, MF_LOG_WARN, "could not fire schedule", MF_KV_S("workflow_id", wf),
                   MF_KV_S("error", err.msg));
        return;
    }
    if (f.fired)
        mf_metric_add(ctx->metrics.schedules_fired, NULL, 1);
    if (f.fired)
        MF_LOG(ctx->log, MF_LOG_INFO, "scheduled run created", MF_KV_S("workflow_id", wf),
               MF_KV_S("run_id", f.run_id));
}

void planner_tick_schedules(planner_ctx *ctx)
{
    int64_t now = mf_clock_mono_ms();
    PGresult *res;
    mf_err err;

    if ((ctx->last_schedule_ms != 0 && now - ctx->last_schedule_ms < ctx->cfg->poll_ms) ||
        ctx->pg == NULL || strcmp(ctx->lane, "tx") == 0) /* the main loop fires schedules */
        return;
    ctx->last_schedule_ms = now;
    res = mf_pg_query(ctx->pg, CANDIDATES_SQL, 0, NULL, &err);
    if (res == NULL) {
        MF_LOG(ctx->log, MF_LOG_WARN, "could not look for due schedules",
               MF_KV_S("error", err.msg));
        return;
    }
    for (int i = 0; i < PQntuples(res) && i < SCHEDULE_BATCH; i++)
        fire_one(ctx, PQgetvalue(res, i, 0));
    PQclear(res);
}
