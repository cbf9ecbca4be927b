/* run_lease: the planner's workflow_runs statements: claim under a lease, renew, give back. */
/* Also failing and finishing a claimed run and its capped log; the run completion shared with
 * the reporter is common/mf_runs. Function prefix: planner_runs_. */
#include "run_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "mf_runs.h"

/* Most entries a run's log keeps: a run given back again and again (each attempt adds a
 * claim and a retry entry) must not grow its row without bound. */
#define RUN_LOG_MAX "100"

/* The log as an array whatever the row holds. */
#define LOG_ARRAY "(CASE WHEN jsonb_typeof(logs) = 'array' THEN logs ELSE '[]'::jsonb END)"

/* Append {"ts","event","detail"} to workflow_runs.logs; E and D are SQL expressions (the
 * parameters). Keeps the first entry (how the run began) and the newest ones, at most
 * RUN_LOG_MAX in all. */
/* clang-format off */
#define LOG_APPEND(E, D)                                                                        \
    "logs = (SELECT COALESCE(jsonb_agg(k.e ORDER BY k.i), '[]'::jsonb)"                       \
    "  FROM jsonb_array_elements(" LOG_ARRAY ") WITH ORDINALITY AS k(e, i)"                    \
    "  WHERE k.i = 1 OR k.i > jsonb_array_length(" LOG_ARRAY ") - (" RUN_LOG_MAX " - 2))"      \
    " || jsonb_build_array(jsonb_build_object("                                               \
    "'ts', now(), 'event', " E "::text, 'detail', " D "::text))"
/* clang-format on */

#define OWNED "id = $1::uuid AND planner_owner = $2 AND status = 'running'"

/* Runs (of the relation named R) waiting for a planner: running, not expanded, lease free or
 * expired. */
/* clang-format off */
#define UNPLANNED(R)                                                                            \
    " " R ".status = 'running' AND " R ".expansion_finished_at IS NULL"                         \
    " AND (" R ".planner_lease_until IS NULL OR " R ".planner_lease_until < now())"

/* Workflow states whose runs are kept: active ones are planned, paused ones wait (resume). */
#define WORKFLOW_KEEPS(RUN)                                                                     \
    " EXISTS (SELECT 1 FROM workflows w WHERE w.id = " RUN ".workflow_id"                        \
    " AND w.status IN ('active', 'paused'))"

/* A run (of the relation named R, its workflow w) is transactional (docs/pipeline.md,
 * "Priority lane"): not a replay, and its workflow is event- or webhook-triggered or says
 * "transactional": true in its trigger_config. */
#define TRANSACTIONAL(R)                                                                        \
    " (" R ".replay_of IS NULL AND (w.trigger_type IN ('event', 'webhook')"                      \
    "  OR COALESCE(w.trigger_config->>'transactional', '') = 'true'))"

/* Claimable runs: unplanned runs of active workflows; SKIP names the parameter with the runs
 * to skip (uuid[] text), LANE the lane parameter ('' every run, 'tx' transactional runs only,
 * 'campaign' the others) */
#define CLAIMABLE(SKIP, LANE)                                                                   \
    " WHERE" UNPLANNED("workflow_runs")                                                         \
    "   AND EXISTS (SELECT 1 FROM workflows w WHERE w.id = workflow_runs.workflow_id"           \
    "   AND w.status = 'active' AND (" LANE " = '' OR" TRANSACTIONAL("workflow_runs")           \
    "   = (" LANE " = 'tx')))"                                                                  \
    "   AND id <> ALL(" SKIP "::uuid[])"

static const char CLAIM_SQL[] =
    "WITH c AS ("
    " SELECT id, planner_owner AS prev, planner_lease_until AS until FROM workflow_runs"
    CLAIMABLE("$3", "$4::text")
    " ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "UPDATE workflow_runs r SET planner_owner = $1,"
    " planner_lease_until = now() + make_interval(secs => $2::double precision),"
    " planner_attempts = r.planner_attempts + 1,"
    " " LOG_APPEND("CASE WHEN c.prev IS NULL OR c.prev = $1 THEN 'claimed'"
                   " ELSE 'taken_over' END",
                   "CASE WHEN c.prev IS NULL THEN 'claimed by ' || $1"
                   " ELSE 'claimed by ' || $1 || ' (lease of ' || c.prev ||"
                   " ' expired or given back at ' || coalesce(c.until::text, '?') || ')' END")
    " FROM c WHERE r.id = c.id"
    " RETURNING r.id::text, r.workflow_id::text,"
    " floor(extract(epoch FROM r.started_at) * 1000)::bigint, COALESCE(c.prev, ''),"
    " COALESCE(r.replay_of::text, ''), COALESCE(r.expansion_cursor, ''),"
    " COALESCE(r.expanded_count, 0), COALESCE(r.invalid_count, 0), r.planner_attempts,"
    " EXISTS (SELECT 1 FROM workflows w WHERE w.id = r.workflow_id AND" TRANSACTIONAL("r") ")";
/* clang-format on */

static int fill_run(PGresult *res, planner_run *run, mf_err *err)
{
    char *end;

    memset(run, 0, sizeof(*run));
    if (PQgetisnull(res, 0, 1))
        return mf_err_set(err, "run %s has no workflow", PQgetvalue(res, 0, 0));
    snprintf(run->id, sizeof(run->id), "%s", PQgetvalue(res, 0, 0));
    snprintf(run->workflow_id, sizeof(run->workflow_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(run->prev_owner, sizeof(run->prev_owner), "%s", PQgetvalue(res, 0, 3));
    snprintf(run->replay_of, sizeof(run->replay_of), "%s", PQgetvalue(res, 0, 4));
    if (run->replay_of[0] != '\0') {
        snprintf(run->cursor, sizeof(run->cursor), "%s", PQgetvalue(res, 0, 5));
        run->done_jobs = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
        run->done_invalid = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
    }
    run->attempts = strtoll(PQgetvalue(res, 0, 8), NULL, 10);
    run->tx = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
    run->started_ms = strtoull(PQgetvalue(res, 0, 2), &end, 10);
    if (*end != '\0')
        return mf_err_set(err, "run %s: bad started_at", run->id);
    return mf_uuid_parse(run->id, &run->uuid, err);
}

/* The skip list as a uuid[] literal ("{}" when empty; ids are uuids, no quoting needed). */
static void skip_array(const char (*skip)[40], size_t nskip, char *out, size_t cap)
{
    size_t i, k = 0;

    out[k++] = '{';
    for (i = 0; i < nskip && k + 40 < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i > 0 ? "," : "", skip[i]);
    snprintf(out + k, cap - k, "}");
}

int planner_runs_claim(PGconn *conn, const char *owner, long long lease_s, const char *lane,
                       const char (*skip)[40], size_t nskip, planner_run *run, mf_err *err)
{
    char lease[32], sk[64 * 40 + 8];
    const char *params[4] = {owner, lease, sk, lane};
    PGresult *res;
    int rc = 0;

    snprintf(lease, sizeof(lease), "%lld", lease_s);
    skip_array(skip, nskip, sk, sizeof(sk));
    res = mf_pg_query(conn, CLAIM_SQL, 4, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not claim a run");
    if (PQntuples(res) == 1)
        rc = fill_run(res, run, err) == 0 ? 1 : -1;
    PQclear(res);
    return rc;
}

int planner_runs_candidate(PGconn *conn, const char *lane, const char (*skip)[40], size_t nskip,
                           char *id, size_t cap, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT id::text FROM workflow_runs" CLAIMABLE("$1", "$2::text")
        " ORDER BY started_at LIMIT 1";
    /* clang-format on */
    char sk[64 * 40 + 8];
    const char *params[2] = {sk, lane};
    PGresult *res;
    int rc = 0;

    skip_array(skip, nskip, sk, sizeof(sk));
    res = mf_pg_query(conn, sql, 2, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not look for a claimable run");
    if (PQntuples(res) == 1) {
        snprintf(id, cap, "%s", PQgetvalue(res, 0, 0));
        rc = 1;
    }
    PQclear(res);
    return rc;
}

int planner_runs_fail_unclaimed(PGconn *conn, const char *run_id, const char *message, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET status = 'failed', error_message = $2, completed_at = now(),"
        " execution_time_ms = LEAST(floor(extract(epoch FROM now() - started_at) * 1000),"
        "   2147483647)::integer, " LOG_APPEND("'failed'", "$2")
        " WHERE id = $1::uuid AND status = 'running' AND expansion_finished_at IS NULL"
        "   AND (planner_lease_until IS NULL OR planner_lease_until < now())";
    /* clang-format on */
    const char *params[2] = {run_id, message};
    long long affected = 0;

    if (mf_pg_command(conn, sql, 2, params, &affected, err) != 0)
        return mf_err_prefix(err, "could not mark run %s failed", run_id);
    return affected > 0 ? 1 : 0;
}

int planner_runs_inactive(PGconn *conn, const char (*skip)[40], size_t nskip, planner_inactive *out,
                          size_t cap, size_t *n, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT r.id::text, COALESCE(r.workflow_id::text, ''), COALESCE(w.status, '')"
        " FROM workflow_runs r"
        " LEFT JOIN workflows w ON w.id = r.workflow_id"
        " WHERE" UNPLANNED("r") " AND NOT" WORKFLOW_KEEPS("r") " AND r.id <> ALL($1::uuid[])"
        " ORDER BY r.started_at LIMIT $2::integer";
    /* clang-format on */
    char sk[64 * 40 + 8], lim[32];
    const char *params[2] = {sk, lim};
    PGresult *res;

    *n = 0;
    skip_array(skip, nskip, sk, sizeof(sk));
    snprintf(lim, sizeof(lim), "%zu", cap);
    res = mf_pg_query(conn, sql, 2, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not look for runs of inactive workflows");
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        planner_inactive *r = &out[(*n)++];

        memset(r, 0, sizeof(*r));
        snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, i, 0));
        snprintf(r->workflow_id, sizeof(r->workflow_id), "%s", PQgetvalue(res, i, 1));
        snprintf(r->workflow_status, sizeof(r->workflow_status), "%s", PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return 0;
}

void planner_inactive_message(const planner_inactive *r, char *out, size_t cap)
{
    if (r->workflow_id[0] == '\0')
        snprintf(out, cap, "the run has no workflow: only runs of active workflows are sent");
    else if (r->workflow_status[0] == '\0')
        snprintf(out, cap, "workflow %s has no status: only runs of active workflows are sent",
                 r->workflow_id);
    else
        snprintf(out, cap, "workflow %s is %.50s: only runs of active workflows are sent",
                 r->workflow_id, r->workflow_status);
}

int planner_runs_fail_inactive(PGconn *conn, const char *run_id, const char *message, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET status = 'failed', error_message = $2, completed_at = now(),"
        " execution_time_ms = LEAST(floor(extract(epoch FROM now() - started_at) * 1000),"
        "   2147483647)::integer, planner_lease_until = NULL, " LOG_APPEND("'failed'", "$2")
        " WHERE id = $1::uuid AND" UNPLANNED("workflow_runs")
        " AND NOT" WORKFLOW_KEEPS("workflow_runs");
    /* clang-format on */
    const char *params[2] = {run_id, message};
    long long affected = 0;

    if (mf_pg_command(conn, sql, 2, params, &affected, err) != 0)
        return mf_err_prefix(err, "could not mark run %s failed", run_id);
    return affected > 0 ? 1 : 0;
}

/* Run one owned-run UPDATE; 1 when it changed the row, 0 when the run is no longer ours. */
static int owned_update(PGconn *conn, const char *what, const char *sql, int nparams,
                        const char *const *params, mf_err *err)
{
    long long affected = 0;

    if (mf_pg_command(conn, sql, nparams, params, &affected, err) != 0)
        return mf_err_prefix(err, "could not %s", what);
    return affected > 0 ? 1 : 0;
}

/* An owned-run UPDATE whose $3, $4, $5 are counts (target, expanded, invalid). */
static int counts_update(PGconn *conn, const planner_run *run, const char *owner,
                         const planner_counts *counts, const char *what, const char *sql,
                         mf_err *err)
{
    char t[32], e[32], i[32];
    const char *params[5] = {run->id, owner, t, e, i};

    snprintf(t, sizeof(t), "%lld", counts->target);
    snprintf(e, sizeof(e), "%lld", counts->expanded);
    snprintf(i, sizeof(i), "%lld", counts->invalid);
    return owned_update(conn, what, sql, 5, params, err);
}

int planner_runs_renew(PGconn *conn, const planner_run *run, const char *owner, long long lease_s,
                       const char *cursor, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET"
        " planner_lease_until = now() + make_interval(secs => $3::double precision),"
        " expansion_cursor = COALESCE($4, expansion_cursor)"
        " WHERE " OWNED;
    /* clang-format on */
    char lease[32];
    const char *params[4] = {run->id, owner, lease, cursor};

    snprintf(lease, sizeof(lease), "%lld", lease_s);
    return owned_update(conn, "renew the lease", sql, 4, params, err);
}

int planner_runs_progress(PGconn *conn, const planner_run *run, const char *owner,
                          long long lease_s, const char *cursor, long long jobs, long long invalid,
                          mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET"
        " planner_lease_until = now() + make_interval(secs => $3::double precision),"
        " expansion_cursor = $4, expanded_count = $5::integer, invalid_count = $6::integer"
        " WHERE " OWNED;
    /* clang-format on */
    char lease[32], j[32], i[32];
    const char *params[6] = {run->id, owner, lease, cursor, j, i};

    snprintf(lease, sizeof(lease), "%lld", lease_s);
    snprintf(j, sizeof(j), "%lld", jobs);
    snprintf(i, sizeof(i), "%lld", invalid);
    return owned_update(conn, "record the replay progress", sql, 6, params, err);
}

int planner_runs_replay_filter(PGconn *conn, const char *run_id, char *out, size_t cap, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT COALESCE(replay_filter, '{}'::jsonb)::text FROM workflow_runs WHERE id = $1::uuid";
    /* clang-format on */
    const char *params[1] = {run_id};
    PGresult *res = mf_pg_query(conn, sql, 1, params, err);
    int rc = 0;

    if (res == NULL)
        return mf_err_prefix(err, "could not load the replay filter of run %s", run_id);
    if (PQntuples(res) != 1)
        rc = mf_err_set(err, "run %s not found", run_id);
    else if ((size_t)PQgetlength(res, 0, 0) >= cap)
        rc = mf_err_set(err, "replay_filter of run %s is longer than %zu bytes", run_id, cap - 1);
    else
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int planner_runs_release(PGconn *conn, const planner_run *run, const char *owner,
                         long long retry_ms, const char *reason, int refund, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET"
        " planner_lease_until = now() + make_interval(secs => $3::double precision / 1000),"
        " planner_attempts = GREATEST(planner_attempts - $5::integer, 0),"
        " " LOG_APPEND("'retry'", "$4") " WHERE " OWNED;
    /* clang-format on */
    char retry[32];
    const char *params[5] = {run->id, owner, retry, reason, refund ? "1" : "0"};

    snprintf(retry, sizeof(retry), "%lld", retry_ms);
    return owned_update(conn, "give the run back", sql, 5, params, err);
}

int planner_runs_fail(PGconn *conn, const planner_run *run, const char *owner, const char *message,
                      mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET status = 'failed', error_message = $3, completed_at = now(),"
        " execution_time_ms = LEAST(floor(extract(epoch FROM now() - started_at) * 1000),"
        "   2147483647)::integer,"
        " planner_lease_until = NULL, " LOG_APPEND("'failed'", "$3") " WHERE " OWNED;
    /* clang-format on */
    const char *params[3] = {run->id, owner, message};

    return owned_update(conn, "mark the run failed", sql, 3, params, err);
}

int planner_runs_finish(PGconn *conn, const planner_run *run, const char *owner,
                        const planner_counts *counts, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET target_count = $3::integer, expanded_count = $4::integer,"
        " invalid_count = $5::integer, expansion_finished_at = now(),"
        " planner_lease_until = NULL, "
        LOG_APPEND("'expanded'", "format('%s recipients: %s jobs, %s invalid', $3, $4, $5)")
        " WHERE " OWNED " AND expansion_finished_at IS NULL";
    /* clang-format on */

    return counts_update(conn, run, owner, counts, "record the expansion", sql, err);
}

int planner_runs_complete(PGconn *conn, const char *run_id, mf_err *err)
{
    mf_runs_completion c;

    if (mf_runs_try_complete(conn, run_id, &c, err) != 0)
        return mf_err_prefix(err, "could not run the completion check of run %s", run_id);
    return c.completed ? 1 : 0;
}

/* ---- cancelled runs ----------------------------------------------------------------------- */

/* clang-format off */
#define CANCELLED_OURS                                                                          \
    "id = $1::uuid AND planner_owner = $2 AND status = 'cancelled'"                            \
    " AND expansion_finished_at IS NULL"
/* clang-format on */

int planner_runs_cancelled(PGconn *conn, const planner_run *run, const char *owner, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = "SELECT 1 FROM workflow_runs WHERE " CANCELLED_OURS;
    /* clang-format on */
    const char *params[2] = {run->id, owner};
    PGresult *res = mf_pg_query(conn, sql, 2, params, err);
    int rc;

    if (res == NULL)
        return mf_err_prefix(err, "could not read the status of run %s", run->id);
    rc = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

int planner_runs_stop_cancelled(PGconn *conn, const planner_run *run, const char *owner,
                                const planner_counts *counts, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "UPDATE workflow_runs SET target_count = $3::integer, expanded_count = $4::integer,"
        " invalid_count = $5::integer, expansion_finished_at = now(),"
        " planner_lease_until = NULL, "
        LOG_APPEND("'expansion_stopped'",
                   "format('run cancelled: %s recipients planned before the stop (%s jobs, "
                   "%s invalid)', $3, $4, $5)")
        " WHERE " CANCELLED_OURS;
    /* clang-format on */

    return counts_update(conn, run, owner, counts, "record the stopped expansion", sql, err);
}
