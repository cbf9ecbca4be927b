/* event_wf: the event consumer's cache of active event workflows and their window runs. */
#include "event_wf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mf_clock.h"
#include "mf_daemon.h"
#include "mf_pg.h"
#include "mf_runs.h"

#define SEOUL_OFFSET_MS (9LL * 3600 * 1000) /* Asia/Seoul: UTC+9, no daylight saving */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* Start of the window (Asia/Seoul aligned) holding unix time now_ms. */
static int64_t window_start(int64_t now_ms, int64_t len_ms)
{
    int64_t local = now_ms + SEOUL_OFFSET_MS;

    return local - local % len_ms - SEOUL_OFFSET_MS;
}

/* ---- the cache ------------------------------------------------------------------------- */

static void wf_free(event_wf *w)
{
    free(w->event);
    for (size_t i = 0; i < w->nfilters; i++) {
        free(w->fkey[i]);
        free(w->fval[i]);
    }
    planner_plan_free(&w->plan);
}

void event_wf_free(event_wf *wfs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wf_free(&wfs[i]);
    free(wfs);
}

/* trigger_config: {"event": "order_paid", "filters": {"plan": "premium"}}. Fills w or sets
 * w->error (the workflow's events are then dead-lettered with it). 1 when the workflow is an
 * event workflow at all (names an event), 0 when not, -1 when out of memory (an error of the
 * load, never a workflow error: out of memory must not look like a bad trigger_config). */
static int parse_trigger(event_wf *w, const char *text)
{
    json_t *tc = json_loads(text, 0, NULL), *f, *v;
    const char *k;
    int rc = 0;

    if (!json_is_object(tc) || !json_is_string(json_object_get(tc, "event")) ||
        json_string_length(json_object_get(tc, "event")) == 0)
        goto out;
    rc = 1;
    w->event = dup_str(json_string_value(json_object_get(tc, "event")));
    if (w->event == NULL) {
        rc = -1;
        goto out;
    }
    f = json_object_get(tc, "filters");
    if (f != NULL && !json_is_null(f) && !json_is_object(f)) {
        snprintf(w->error, sizeof(w->error), "trigger_config.filters must be an object");
        goto out;
    }
    json_object_foreach(f, k, v)
    {
        if (!json_is_string(v)) {
            snprintf(w->error, sizeof(w->error), "trigger_config.filters.%.64s must be a string",
                     k);
            goto out;
        }
        if (w->nfilters == EVENT_WF_FILTERS_MAX) {
            snprintf(w->error, sizeof(w->error), "trigger_config.filters has more than %d keys",
                     EVENT_WF_FILTERS_MAX);
            goto out;
        }
        w->fkey[w->nfilters] = dup_str(k);
        w->fval[w->nfilters++] = dup_str(json_string_value(v));
        if (w->fkey[w->nfilters - 1] == NULL || w->fval[w->nfilters - 1] == NULL) {
            rc = -1;
            goto out;
        }
    }
out:
    json_decref(tc);
    return rc;
}

/* A target query must have exactly one `?`: the customer key. */
static void check_query(event_wf *w)
{
    size_t marks = 0;

    if (w->plan.query == NULL || w->error[0] != '\0')
        return;
    for (const char *s = w->plan.query; *s != '\0'; s++)
        marks += *s == '?';
    if (marks != 1)
        snprintf(w->error, sizeof(w->error),
                 "target_config.query of an event workflow must "
                 "have exactly one ? (the event's customer key), it has %zu",
                 marks);
}

int event_wf_load(PGconn *pg, int64_t now_ms, event_wf **cache, size_t *ncache, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT id::text, COALESCE(trigger_config, '{}')::text FROM workflows"
        " WHERE status = 'active' AND trigger_type = 'event' ORDER BY id";
    /* clang-format on */
    PGresult *res = mf_pg_query(pg, sql, 0, NULL, err);
    event_wf *wfs;
    size_t n = 0;

    if (res == NULL)
        return mf_err_prefix(err, "could not load the event workflows");
    wfs = calloc((size_t)PQntuples(res) + 1, sizeof(event_wf));
    if (wfs == NULL) {
        PQclear(res);
        return mf_err_set(err, "out of memory");
    }
    for (int i = 0; i < PQntuples(res); i++) {
        event_wf *w = &wfs[n];
        int permanent = 0;
        mf_err perr;
        int is_event;
        snprintf(w->id, sizeof(w->id), "%s", PQgetvalue(res, i, 0));
        is_event = parse_trigger(w, PQgetvalue(res, i, 1));
        if (is_event < 0) {
            /* the cache in use stays as it was */
            event_wf_free(wfs, n + 1);
            PQclear(res);
            return mf_err_set(err, "could not load the event workflows: out of memory");
        }
        if (is_event == 0) {
            wf_free(w);
            memset(w, 0, sizeof(*w));
            continue;
        }
        n++;
        if (w->error[0] == '\0' &&
            planner_plan_load_event(pg, w->id, (uint64_t)now_ms, &w->plan, &permanent, &perr) != 0)
            snprintf(w->error, sizeof(w->error), "%s", perr.msg);
        check_query(w);
        /* keep the window run already known */
        for (size_t j = 0; j < *ncache; j++) {
            const event_wf *old = &(*cache)[j];
            if (strcmp(old->id, w->id) == 0) {
                w->win_start_ms = old->win_start_ms;
                w->run = old->run;
                memcpy(w->run_id, old->run_id, sizeof(w->run_id));
            }
        }
    }
    PQclear(res);
    event_wf_free(*cache, *ncache);
    *cache = wfs;
    *ncache = n;
    return 0;
}

int event_wf_match(const event_wf *w, const mf_event *e)
{
    for (size_t i = 0; i < w->nfilters; i++) {
        const char *v = mf_codec_map_get(&e->attrs, w->fkey[i]);
        if (v == NULL || strcmp(v, w->fval[i]) != 0)
            return 0;
    }
    return 1;
}

/* ---- windows ---------------------------------------------------------------------------- */

int event_wf_window_run(PGconn *pg, event_wf *w, long long window_s, mf_err *err)
{
    /* clang-format off */
    static const char create_sql[] =
        "WITH win AS ("
        " INSERT INTO mf_event_windows (workflow_id, window_start, window_end, run_id)"
        " VALUES ($1::uuid, to_timestamp($2::bigint / 1000.0), to_timestamp($3::bigint / 1000.0),"
        "  gen_random_uuid()) ON CONFLICT DO NOTHING RETURNING run_id),"
        " r AS ("
        " INSERT INTO workflow_runs (id, workflow_id, status, trigger_type, planner_owner,"
        "  planner_lease_until, requested_by, logs)"
        " SELECT run_id, $1::uuid, 'running', 'event', 'events', 'infinity', 'events',"
        "  jsonb_build_array(jsonb_build_object('ts', now(), 'event', 'window_opened',"
        "   'detail', 'events of ' || to_timestamp($2::bigint / 1000.0) || ' to '"
        "   || to_timestamp($3::bigint / 1000.0)))"
        " FROM win RETURNING id)"
        " SELECT id::text FROM r";
    static const char read_sql[] =
        "SELECT run_id::text FROM mf_event_windows WHERE workflow_id = $1::uuid"
        " AND window_start = to_timestamp($2::bigint / 1000.0)";
    /* clang-format on */
    int64_t len = window_s * 1000, start = window_start(mf_clock_wall_ms(), len);
    char s_start[32], s_end[32];
    const char *params[3] = {w->id, s_start, s_end};
    PGresult *res;

    if (w->win_start_ms == start && w->run_id[0] != '\0')
        return 0;
    snprintf(s_start, sizeof(s_start), "%lld", (long long)start);
    snprintf(s_end, sizeof(s_end), "%lld", (long long)(start + len));
    res = mf_pg_query(pg, create_sql, 3, params, err);
    if (res != NULL && PQntuples(res) == 0) {
        PQclear(res);
        res = mf_pg_query(pg, read_sql, 2, params, err);
    }
    if (res == NULL)
        return mf_err_prefix(err, "could not open the window run of workflow %s", w->id);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mf_err_set(err, "window run of workflow %s not found", w->id);
    }
    snprintf(w->run_id, sizeof(w->run_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    w->win_start_ms = start;
    return mf_uuid_parse(w->run_id, &w->run, err);
}

void event_wf_close_windows(PGconn *pg, long long grace_s, mf_log *log)
{
    /* clang-format off */
    static const char sql[] =
        "WITH c AS ("
        " UPDATE mf_event_windows SET closed_at = now() WHERE closed_at IS NULL"
        "  AND window_end + make_interval(secs => $1::double precision) < now()"
        " RETURNING run_id)"
        " UPDATE workflow_runs r SET expansion_finished_at = now(), planner_owner = NULL,"
        "  planner_lease_until = NULL,"
        "  logs = COALESCE(r.logs, '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
        "   'ts', now(), 'event', 'window_closed', 'detail',"
        "   COALESCE(r.target_count, 0) || ' jobs'))"
        " FROM c WHERE r.id = c.run_id AND r.expansion_finished_at IS NULL"
        " RETURNING r.id::text";
    /* clang-format on */
    char grace[32];
    const char *params[1] = {grace};
    PGresult *res;
    mf_err err;

    snprintf(grace, sizeof(grace), "%lld", grace_s);
    res = mf_pg_query(pg, sql, 1, params, &err);
    if (res == NULL) {
        MF_LOG(log, MF_LOG_WARN, "events: could not close windows", MF_KV_S("error", err.msg));
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        mf_runs_completion c;

        memset(&c, 0, sizeof(c)); /* logged even when the check failed */
        if (mf_runs_try_complete(pg, PQgetvalue(res, i, 0), &c, &err) != 0)
            MF_LOG(log, MF_LOG_WARN, "events: completion check failed",
                   MF_KV_S("run_id", PQgetvalue(res, i, 0)), MF_KV_S("error", err.msg));
        MF_LOG(log, MF_LOG_INFO, "event window closed", MF_KV_S("run_id", PQgetvalue(res, i, 0)),
               MF_KV_I("completed", c.completed));
    }
    PQclear(res);
}

long long event_wf_prune_jobs(PGconn *pg, long long keep_days, mf_log *log)
{
    /* windows are few (one per workflow and hour); the jobs of one are found by run id */
    /* clang-format off */
    static const char sql[] =
        "DELETE FROM mf_event_jobs WHERE job_id IN ("
        " SELECT j.job_id FROM mf_event_windows w JOIN mf_event_jobs j ON j.run_id = w.run_id"
        " WHERE w.window_end < now() - make_interval(days => $1::int) LIMIT 5000)";
    /* clang-format on */
    char days[32];
    const char *params[1] = {days};
    long long total = 0, n;
    mf_err err;

    snprintf(days, sizeof(days), "%lld", keep_days);
    do {
        PGresult *res = mf_pg_query(pg, sql, 1, params, &err);
        if (res == NULL) {
            MF_LOG(log, MF_LOG_WARN, "events: could not prune old event records",
                   MF_KV_S("error", err.msg));
            break;
        }
        n = strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        total += n;
    } while (n == 5000 && total < EVENT_WF_PRUNE_MAX && !mf_daemon_stopping());
    if (total > 0)
        MF_LOG(log, MF_LOG_INFO, "events: pruned old event records", MF_KV_I("rows", total),
               MF_KV_I("older_than_days", keep_days));
    return total;
}
