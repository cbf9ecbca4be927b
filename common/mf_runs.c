/* mf_runs: run completion (one conditional UPDATE) and counter recount checks, shared SQL. */
#include "mf_runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_buf.h"
#include "mf_pg.h"

#define UUID_RE "'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"

/* The transition. Counts are taken from the row as locked by this UPDATE. */
/* clang-format off */
static const char COMPLETE_SQL[] =
    "UPDATE workflow_runs SET status = 'completed', completed_at = now(),"
    " execution_time_ms = LEAST(GREATEST(floor(extract(epoch FROM now() - started_at) * 1000),"
    "   0), 2147483647)::integer,"
    " logs = COALESCE(logs, '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
    "   'ts', now(), 'event', 'completed', 'detail', jsonb_build_object("
    "     'target_count', COALESCE(target_count, 0), 'success_count', COALESCE(success_count, 0),"
    "     'failed_count', COALESCE(failed_count, 0), 'total_cost', COALESCE(total_cost, 0))))"
    " WHERE id = $1::uuid AND status = 'running' AND expansion_finished_at IS NOT NULL"
    "   AND COALESCE(success_count, 0) + COALESCE(failed_count, 0) >= COALESCE(target_count, 0)"
    " RETURNING workflow_id, COALESCE(target_count, 0), COALESCE(success_count, 0),"
    "   COALESCE(failed_count, 0), COALESCE(execution_time_ms, 0)";

/* The winner's side effects, one statement: template usage (idempotent through the unique
 * index), last_run_at, daily_statistics (workflows_executed, templates_used). */
static const char WINNER_SQL[] =
    "WITH r AS ("
    " SELECT r.id, r.workflow_id, r.started_at, r.completed_at, COALESCE(r.success_count, 0) AS sc,"
    "  COALESCE(r.failed_count, 0) AS fc, w.message_config AS mc"
    " FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id WHERE r.id = $1::uuid),"
    "t AS ("
    " SELECT COALESCE("
    "  (SELECT mt.id FROM message_templates mt, r WHERE mt.id = CASE WHEN r.mc->>'template_id' ~ "
    UUID_RE " THEN (r.mc->>'template_id')::uuid END),"
    "  (SELECT ml.template_id FROM message_logs ml WHERE ml.workflow_run_id = $1::uuid"
    "    AND ml.template_id IS NOT NULL LIMIT 1)) AS template_id),"
    "tu AS ("
    " INSERT INTO template_usage_logs (template_id, workflow_id, workflow_run_id, used_at,"
    "  variables_used, success, error_message)"
    " SELECT t.template_id, r.workflow_id, r.id, r.completed_at, '{}'::jsonb, r.fc = 0,"
    "  CASE WHEN r.fc > 0 THEN format('%s of %s messages failed', r.fc, r.sc + r.fc) END"
    " FROM r, t WHERE t.template_id IS NOT NULL"
    " ON CONFLICT (workflow_run_id, template_id) WHERE workflow_run_id IS NOT NULL DO NOTHING"
    " RETURNING 1),"
    "wf AS ("
    " UPDATE workflows w SET last_run_at = GREATEST(w.last_run_at, r.started_at)"
    " FROM r WHERE w.id = r.workflow_id AND r.started_at IS NOT NULL"
    "  AND (w.last_run_at IS NULL OR w.last_run_at < r.started_at)"
    " RETURNING 1),"
    "ds AS ("
    " INSERT INTO daily_statistics AS d (stat_date, workflows_executed, templates_used)"
    " SELECT (r.completed_at AT TIME ZONE 'Asia/Seoul')::date, 1, (SELECT count(*) FROM tu)"
    " FROM r"
    " ON CONFLICT (stat_date) DO UPDATE SET"
    "  workflows_executed = COALESCE(d.workflows_executed, 0) + 1,"
    "  templates_used = COALESCE(d.templates_used, 0) + EXCLUDED.templates_used,"
    "  updated_at = now()"
    " RETURNING 1)"
    "SELECT (SELECT count(*) FROM tu), (SELECT count(*) FROM ds), (SELECT count(*) FROM wf)";

/* Lock the workflow row first (separate statement), so the recount below runs on a snapshot
 * taken after every concurrent writer of this workflow's statistics committed. */
static const char WF_LOCK_SQL[] = "SELECT 1 FROM workflows WHERE id = $1::uuid FOR UPDATE";

#define STATS_SELECT(WF)                                                                         \
    "SELECT jsonb_build_object("                                                               \
    " 'total_runs', count(*), 'total_sent', COALESCE(sum(success_count), 0),"                  \
    " 'total_failed', COALESCE(sum(failed_count), 0),"                                          \
    " 'total_cost', COALESCE(sum(total_cost), 0),"                                              \
    " 'last_run_id', (array_agg(id ORDER BY completed_at DESC, id DESC))[1],"                  \
    " 'last_run_at', to_char(max(completed_at) AT TIME ZONE 'UTC',"                            \
    "   'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'last_run_status', 'completed',"                 \
    " 'updated_by', 'msgfleet') AS j"                                                           \
    " FROM workflow_runs WHERE workflow_id = " WF " AND status = 'completed'"

static const char WF_STATS_SQL[] =
    "UPDATE workflows w SET statistics = COALESCE(w.statistics, '{}'::jsonb) || s.j"
    " FROM (" STATS_SELECT("$1::uuid") ") s WHERE w.id = $1::uuid";
/* clang-format on */

int mf_runs_refresh_workflow_stats(PGconn *conn, const char *workflow_id_text, mf_err *err)
{
    const char *params[1] = {workflow_id_text};

    if (mf_pg_command(conn, WF_LOCK_SQL, 1, params, NULL, err) != 0 ||
        mf_pg_command(conn, WF_STATS_SQL, 1, params, NULL, err) != 0)
        return mf_err_prefix(err, "could not update the statistics of workflow %s",
                             workflow_id_text);
    return 0;
}

static long long getll(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The body: conn is inside a transaction. */
static int try_complete_tx(PGconn *conn, const char *run_id, mf_runs_completion *out, mf_err *err)
{
    const char *params[1] = {run_id};
    PGresult *res = NULL;
    char wf[64] = "";
    int rc = -1;

    res = mf_pg_query(conn, COMPLETE_SQL, 1, params, err);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    out->completed = 1;
    if (!PQgetisnull(res, 0, 0))
        snprintf(wf, sizeof(wf), "%s", PQgetvalue(res, 0, 0));
    out->target_count = getll(res, 0, 1);
    out->success_count = getll(res, 0, 2);
    out->failed_count = getll(res, 0, 3);
    out->execution_time_ms = getll(res, 0, 4);
    PQclear(res);

    res = mf_pg_query(conn, WINNER_SQL, 1, params, err);
    if (res == NULL)
        goto out;
    out->templates_logged = (int)getll(res, 0, 0);
    if (wf[0] != '\0' && mf_runs_refresh_workflow_stats(conn, wf, err) != 0)
        goto out;
    rc = 0;
out:
    PQclear(res);
    if (rc != 0)
        mf_err_prefix(err, "could not complete run %s", run_id);
    return rc;
}

/* Runs tx (one of the *_tx steps) in its own transaction, or inside the caller's when one is
 * open; *out is zeroed on failure. what names the action in the error. */
static int run_step(PGconn *conn, const char *run_id_text, mf_runs_completion *out,
                    int (*tx)(PGconn *, const char *, mf_runs_completion *, mf_err *),
                    const char *what, mf_err *err)
{
    mf_runs_completion local;
    int own = PQtransactionStatus(conn) == PQTRANS_IDLE;

    if (out == NULL)
        out = &local;
    memset(out, 0, sizeof(*out));
    if (run_id_text == NULL)
        return mf_err_set(err, "could not %s: no run id", what);
    if (own && mf_pg_begin(conn, err) != 0)
        return -1;
    if (tx(conn, run_id_text, out, err) != 0) {
        if (own)
            mf_pg_rollback(conn);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    if (own && mf_pg_commit(conn, err) != 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

int mf_runs_try_complete(PGconn *conn, const char *run_id_text, mf_runs_completion *out,
                         mf_err *err)
{
    return run_step(conn, run_id_text, out, try_complete_tx, "complete run", err);
}

/* ---------------------------------------------------------------------------------------- */
/* cancelled runs                                                                           */

/* A cancelled run whose expanded jobs all have their row (or that no planner ever claimed,
 * so that no job exists). */
/* clang-format off */
#define CANCEL_READY                                                                            \
    " status = 'cancelled' AND completed_at IS NULL"                                            \
    " AND ((expansion_finished_at IS NOT NULL"                                                  \
    "       AND COALESCE(success_count, 0) + COALESCE(failed_count, 0)"                         \
    "           >= COALESCE(target_count, 0))"                                                  \
    "      OR (expansion_finished_at IS NULL AND planner_owner IS NULL))"

static const char CANCEL_END_SQL[] =
    "UPDATE workflow_runs SET completed_at = now(),"
    " execution_time_ms = LEAST(GREATEST(floor(extract(epoch FROM now() - started_at) * 1000),"
    "   0), 2147483647)::integer,"
    " logs = COALESCE(logs, '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
    "   'ts', now(), 'event', 'finished', 'detail', jsonb_build_object('status', 'cancelled',"
    "     'target_count', COALESCE(target_count, 0), 'success_count', COALESCE(success_count, 0),"
    "     'failed_count', COALESCE(failed_count, 0), 'total_cost', COALESCE(total_cost, 0))))"
    " WHERE id = $1::uuid AND" CANCEL_READY
    " RETURNING workflow_id, COALESCE(target_count, 0), COALESCE(success_count, 0),"
    "   COALESCE(failed_count, 0), COALESCE(execution_time_ms, 0)";

/* The side effects of a cancelled run that ended: its template was used when it sent
 * anything (same template rule as WINNER_SQL); no workflows_executed. */
static const char CANCEL_WINNER_SQL[] =
    "WITH r AS ("
    " SELECT r.id, r.workflow_id, r.started_at, r.completed_at, COALESCE(r.success_count, 0) AS sc,"
    "  COALESCE(r.failed_count, 0) AS fc, w.message_config AS mc"
    " FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id WHERE r.id = $1::uuid),"
    "t AS ("
    " SELECT COALESCE("
    "  (SELECT mt.id FROM message_templates mt, r WHERE mt.id = CASE WHEN r.mc->>'template_id' ~ "
    UUID_RE " THEN (r.mc->>'template_id')::uuid END),"
    "  (SELECT ml.template_id FROM message_logs ml WHERE ml.workflow_run_id = $1::uuid"
    "    AND ml.template_id IS NOT NULL LIMIT 1)) AS template_id),"
    "tu AS ("
    " INSERT INTO template_usage_logs (template_id, workflow_id, workflow_run_id, used_at,"
    "  variables_used, success, error_message)"
    " SELECT t.template_id, r.workflow_id, r.id, r.completed_at, '{}'::jsonb, false,"
    "  format('run cancelled after %s of %s messages', r.sc, r.sc + r.fc)"
    " FROM r, t WHERE t.template_id IS NOT NULL AND r.sc > 0"
    " ON CONFLICT (workflow_run_id, template_id) WHERE workflow_run_id IS NOT NULL DO NOTHING"
    " RETURNING 1),"
    "wf AS ("
    " UPDATE workflows w SET last_run_at = GREATEST(w.last_run_at, r.started_at)"
    " FROM r WHERE w.id = r.workflow_id AND r.started_at IS NOT NULL"
    "  AND (w.last_run_at IS NULL OR w.last_run_at < r.started_at)"
    " RETURNING 1),"
    "ds AS ("
    " INSERT INTO daily_statistics AS d (stat_date, templates_used)"
    " SELECT (r.completed_at AT TIME ZONE 'Asia/Seoul')::date, (SELECT count(*) FROM tu)"
    " FROM r WHERE (SELECT count(*) FROM tu) > 0"
    " ON CONFLICT (stat_date) DO UPDATE SET"
    "  templates_used = COALESCE(d.templates_used, 0) + EXCLUDED.templates_used,"
    "  updated_at = now()"
    " RETURNING 1)"
    "SELECT (SELECT count(*) FROM tu), (SELECT count(*) FROM ds), (SELECT count(*) FROM wf)";
/* clang-format on */

/* The body: conn is inside a transaction. */
static int finish_cancelled_tx(PGconn *conn, const char *run_id, mf_runs_completion *out,
                               mf_err *err)
{
    const char *params[1] = {run_id};
    PGresult *res;
    int rc = -1;

    res = mf_pg_query(conn, CANCEL_END_SQL, 1, params, err);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    out->completed = 1;
    out->target_count = getll(res, 0, 1);
    out->success_count = getll(res, 0, 2);
    out->failed_count = getll(res, 0, 3);
    out->execution_time_ms = getll(res, 0, 4);
    PQclear(res);
    res = mf_pg_query(conn, CANCEL_WINNER_SQL, 1, params, err);
    if (res == NULL)
        goto out;
    out->templates_logged = (int)getll(res, 0, 0);
    rc = 0;
out:
    PQclear(res);
    if (rc != 0)
        mf_err_prefix(err, "could not end cancelled run %s", run_id);
    return rc;
}

int mf_runs_try_finish_cancelled(PGconn *conn, const char *run_id_text, mf_runs_completion *out,
                                 mf_err *err)
{
    return run_step(conn, run_id_text, out, finish_cancelled_tx, "end cancelled run", err);
}

int mf_runs_finish_cancelled_sweep(PGconn *conn, int max, int *n, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT id::text FROM workflow_runs WHERE" CANCEL_READY " ORDER BY id LIMIT $1::integer";
    /* clang-format on */
    char lim[16];
    const char *params[1] = {lim};
    PGresult *res;
    int i, ended = 0, rc = 0;

    if (n != NULL)
        *n = 0;
    snprintf(lim, sizeof(lim), "%d", max > 0 ? max : 1);
    res = mf_pg_query(conn, sql, 1, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not look for cancelled runs to end");
    for (i = 0; i < PQntuples(res) && rc == 0; i++) {
        mf_runs_completion c;

        rc = mf_runs_try_finish_cancelled(conn, PQgetvalue(res, i, 0), &c, err);
        ended += c.completed;
    }
    PQclear(res);
    if (n != NULL)
        *n = ended;
    return rc;
}

/* $1 quiet seconds, $2 most runs. The lease filter first (cheap); the rows' age only for the
 * few runs it lets through. */
/* clang-format off */
static const char ORPHAN_SQL[] =
    "WITH c AS ("
    " SELECT r.id FROM workflow_runs r"
    " WHERE r.status = 'cancelled' AND r.completed_at IS NULL"
    "  AND r.expansion_finished_at IS NULL AND r.planner_owner IS NOT NULL"
    "  AND (r.planner_lease_until IS NULL"
    "       OR r.planner_lease_until < now() - make_interval(secs => $1::double precision))"
    "  AND NOT EXISTS (SELECT 1 FROM message_logs m WHERE m.workflow_run_id = r.id"
    "   AND m.created_at > now() - make_interval(secs => $1::double precision))"
    " ORDER BY r.id LIMIT $2::integer FOR UPDATE SKIP LOCKED)"
    "UPDATE workflow_runs r SET"
    " target_count = COALESCE(r.success_count, 0) + COALESCE(r.failed_count, 0),"
    " expansion_finished_at = now(), planner_lease_until = NULL,"
    " logs = COALESCE(r.logs, '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
    "  'ts', now(), 'event', 'expansion_stopped', 'detail', format('run cancelled while its"
    " planner (%s) was gone: counted from the %s messages recorded, none in the last %s s',"
    "  r.planner_owner, COALESCE(r.success_count, 0) + COALESCE(r.failed_count, 0),"
    "  $1::double precision)))"
    " FROM c WHERE r.id = c.id AND r.expansion_finished_at IS NULL"
    " RETURNING r.id::text";
/* clang-format on */

int mf_runs_stop_orphaned_cancelled(PGconn *conn, long long quiet_s, int max, int *n, mf_err *err)
{
    char quiet[32], lim[16];
    const char *params[2] = {quiet, lim};
    PGresult *res;
    int i, rc = 0;

    if (n != NULL)
        *n = 0;
    snprintf(quiet, sizeof(quiet), "%lld", quiet_s);
    snprintf(lim, sizeof(lim), "%d", max > 0 ? max : 1);
    res = mf_pg_query(conn, ORPHAN_SQL, 2, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not count the jobs of cancelled runs left by a planner");
    for (i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = mf_runs_try_finish_cancelled(conn, PQgetvalue(res, i, 0), NULL, err);
    if (n != NULL)
        *n = PQntuples(res);
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* recount                                                                                  */

/* Each query returns rows (label, stored, recounted) only where they differ. */
/* One statement: pick the stalled runs (id order, SKIP LOCKED: a batch transaction holding a
 * run is never waited for) and append the "stalled" entry once per run. */
/* clang-format off */
static const char STALL_SQL[] =
    "WITH c AS ("
    " SELECT id FROM workflow_runs"
    " WHERE status = 'running' AND expansion_finished_at IS NOT NULL"
    "  AND expansion_finished_at < now() - make_interval(secs => $1::bigint)"
    "  AND COALESCE(success_count, 0) + COALESCE(failed_count, 0) < COALESCE(target_count, 0)"
    "  AND NOT COALESCE(logs, '[]'::jsonb) @> '[{\"event\":\"stalled\"}]'::jsonb"
    "  AND NOT EXISTS (SELECT 1 FROM workflows w"
    "                  WHERE w.id = workflow_runs.workflow_id AND w.status = 'paused')"
    " ORDER BY id FOR UPDATE SKIP LOCKED)"
    "UPDATE workflow_runs r SET logs = COALESCE(r.logs, '[]'::jsonb) || jsonb_build_array("
    " jsonb_build_object('ts', now(), 'event', 'stalled', 'detail', jsonb_build_object("
    "  'missing', COALESCE(r.target_count, 0) - COALESCE(r.success_count, 0)"
    "   - COALESCE(r.failed_count, 0),"
    "  'target_count', COALESCE(r.target_count, 0),"
    "  'success_count', COALESCE(r.success_count, 0),"
    "  'failed_count', COALESCE(r.failed_count, 0),"
    "  'expansion_finished_at', r.expansion_finished_at)))"
    " FROM c WHERE r.id = c.id"
    "  AND NOT COALESCE(r.logs, '[]'::jsonb) @> '[{\"event\":\"stalled\"}]'::jsonb"
    " RETURNING r.id, COALESCE(r.target_count, 0),"
    "  COALESCE(r.target_count, 0) - COALESCE(r.success_count, 0) - COALESCE(r.failed_count, 0),"
    "  floor(extract(epoch FROM now() - r.expansion_finished_at))::bigint";
/* clang-format on */

int mf_runs_mark_stalled(PGconn *conn, long long stall_s, mf_runs_stalled *out, size_t cap,
                         size_t *n, mf_err *err)
{
    char secs[32];
    const char *params[1] = {secs};
    PGresult *res;
    int i;

    snprintf(secs, sizeof(secs), "%lld", stall_s);
    res = mf_pg_query(conn, STALL_SQL, 1, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not look for stalled runs");
    for (i = 0; i < PQntuples(res) && (size_t)i < cap; i++) {
        snprintf(out[i].run_id, sizeof(out[i].run_id), "%s", PQgetvalue(res, i, 0));
        out[i].target_count = getll(res, i, 1);
        out[i].missing = getll(res, i, 2);
        out[i].finished_ago_s = getll(res, i, 3);
    }
    if (n != NULL)
        *n = (size_t)PQntuples(res);
    PQclear(res);
    return 0;
}

/* clang-format off */
static const char RUNS_CHECK_SQL[] =
    "WITH c AS ("
    " SELECT workflow_run_id AS id,"
    "  count(*) FILTER (WHERE status IN ('sent', 'delivered')) AS sc,"
    "  count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS fc,"
    "  COALESCE(sum(cost), 0) AS tc"
    " FROM message_logs WHERE workflow_run_id IS NOT NULL"
    "  AND ($1::uuid IS NULL OR workflow_run_id = $1::uuid) GROUP BY workflow_run_id)"
    "SELECT 'run ' || r.id || ' ' || x.k, x.stored, x.recount"
    " FROM workflow_runs r LEFT JOIN c ON c.id = r.id"
    " CROSS JOIN LATERAL (VALUES"
    "  ('success_count', COALESCE(r.success_count, 0)::numeric, COALESCE(c.sc, 0)::numeric),"
    "  ('failed_count', COALESCE(r.failed_count, 0)::numeric, COALESCE(c.fc, 0)::numeric),"
    "  ('total_cost', COALESCE(r.total_cost, 0)::numeric, COALESCE(c.tc, 0)::numeric)"
    " ) AS x(k, stored, recount)"
    " WHERE ($1::uuid IS NULL OR r.id = $1::uuid) AND x.stored <> x.recount"
    " ORDER BY 1";

static const char WF_CHECK_SQL[] =
    "SELECT 'workflow ' || w.id || ' statistics', COALESCE(w.statistics, '{}'::jsonb)::text,"
    "  s.j::text"
    " FROM workflows w CROSS JOIN LATERAL (" STATS_SELECT("w.id") ") s"
    " WHERE ($1::uuid IS NULL"
    " OR w.id = (SELECT workflow_id FROM workflow_runs WHERE id = $1::uuid))"
    "  AND EXISTS (SELECT 1 FROM workflow_runs r WHERE r.workflow_id = w.id"
    "   AND r.status = 'completed')"
    "  AND NOT (COALESCE(w.statistics, '{}'::jsonb) @> (s.j - 'updated_by'))"
    " ORDER BY 1";

static const char DAILY_CHECK_SQL[] =
    "WITH ev AS ("
    " SELECT (sent_at AT TIME ZONE 'Asia/Seoul')::date AS d, 1 AS ms, 0 AS mf, cost AS tc,"
    "  0 AS we, 0 AS tu FROM message_logs"
    "  WHERE status IN ('sent', 'delivered') AND workflow_run_id IS NOT NULL"
    " UNION ALL"
    " SELECT (failed_at AT TIME ZONE 'Asia/Seoul')::date, 0, 1, 0, 0, 0 FROM message_logs"
    "  WHERE status IN ('failed', 'cancelled') AND workflow_run_id IS NOT NULL"
    " UNION ALL"
    " SELECT (completed_at AT TIME ZONE 'Asia/Seoul')::date, 0, 0, 0, 1, 0 FROM workflow_runs"
    "  WHERE status = 'completed' AND completed_at IS NOT NULL"
    " UNION ALL"
    " SELECT (used_at AT TIME ZONE 'Asia/Seoul')::date, 0, 0, 0, 0, 1 FROM template_usage_logs"
    "  WHERE workflow_run_id IS NOT NULL),"
    "c AS (SELECT d, sum(ms) AS ms, sum(mf) AS mf, COALESCE(sum(tc), 0) AS tc, sum(we) AS we,"
    "  sum(tu) AS tu FROM ev GROUP BY d),"
    "j AS (SELECT COALESCE(s.stat_date, c.d) AS d,"
    "  COALESCE(s.messages_sent, 0) AS s_ms, COALESCE(c.ms, 0) AS c_ms,"
    "  COALESCE(s.messages_failed, 0) AS s_mf, COALESCE(c.mf, 0) AS c_mf,"
    "  COALESCE(s.total_cost, 0) AS s_tc, COALESCE(c.tc, 0) AS c_tc,"
    "  COALESCE(s.workflows_executed, 0) AS s_we, COALESCE(c.we, 0) AS c_we,"
    "  COALESCE(s.templates_used, 0) AS s_tu, COALESCE(c.tu, 0) AS c_tu"
    "  FROM daily_statistics s FULL JOIN c ON c.d = s.stat_date)"
    "SELECT 'daily ' || j.d || ' ' || x.k, x.stored, x.recount FROM j"
    " CROSS JOIN LATERAL (VALUES"
    "  ('messages_sent', s_ms::numeric, c_ms::numeric),"
    "  ('messages_failed', s_mf::numeric, c_mf::numeric),"
    "  ('total_cost', s_tc::numeric, c_tc::numeric),"
    "  ('workflows_executed', s_we::numeric, c_we::numeric),"
    "  ('templates_used', s_tu::numeric, c_tu::numeric)) AS x(k, stored, recount)"
    " WHERE x.stored <> x.recount ORDER BY 1";
/* clang-format on */

static int run_check(PGconn *conn, const char *sql, int nparams, const char *run_id, mf_buf *out,
                     int *n, mf_err *err)
{
    const char *params[1] = {run_id};
    PGresult *res = mf_pg_query(conn, sql, nparams, params, err);
    int i, rc = 0;

    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res) && rc == 0; i++) {
        rc = mf_buf_printf(out, err, "%s: stored %s, recount %s\n", PQgetvalue(res, i, 0),
                           PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
        (*n)++;
    }
    PQclear(res);
    return rc;
}

int mf_runs_recount_check(PGconn *conn, const char *run_id_text, char **mismatches, mf_err *err)
{
    mf_buf out;
    int n = 0, rc = -1;

    if (mismatches != NULL)
        *mismatches = NULL;
    mf_buf_init(&out, 0);
    if (run_check(conn, RUNS_CHECK_SQL, 1, run_id_text, &out, &n, err) != 0 ||
        run_check(conn, WF_CHECK_SQL, 1, run_id_text, &out, &n, err) != 0)
        goto out;
    if (run_id_text == NULL && run_check(conn, DAILY_CHECK_SQL, 0, NULL, &out, &n, err) != 0)
        goto out;
    rc = n;
    if (mismatches != NULL) {
        *mismatches = strdup(out.len > 0 ? out.data : "");
        if (*mismatches == NULL) {
            rc = mf_err_set(err, "out of memory");
            goto out;
        }
    }
out:
    mf_buf_free(&out);
    if (rc < 0)
        mf_err_prefix(err, "could not recount the counters");
    return rc;
}
