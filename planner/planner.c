/* planner: the daemon's context and main loop (schedules, run claiming, expansion). */
#include "planner.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "expand.h"
#include "replay_expand.h"
#include "mf_daemon.h"
#include "mf_pg.h"
#include "planner_mysql.h"
#include "run_lease.h"
#include "schedule_fire.h"

/* Longest wait between attempts while a dependency is down; idle dependency probe period. */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 15000
#define PROBE_EVERY_MS 10000

static const char *const DEPS[3] = {"postgres", "kafka", "mysql"};

int planner_metrics_init(planner_metrics *pm, mf_metrics *m, mf_err *err)
{
    static const double BOUNDS[] = {0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900};

    memset(pm, 0, sizeof(*pm));
    pm->runs_claimed = mf_metrics_counter(m, "msgfleet_planner_runs_claimed_total",
                                          "Runs claimed for expansion (takeovers included).", NULL,
                                          err);
    pm->runs_failed = pm->runs_claimed == NULL
                          ? NULL
                          : mf_metrics_counter(
                                m, "msgfleet_planner_runs_failed_total",
                                "Runs failed by the planner (permanent configuration errors).",
                                NULL, err);
    pm->jobs = pm->runs_failed == NULL
                   ? NULL
                   : mf_metrics_counter(m, "msgfleet_planner_jobs_total",
                                        "Jobs published (acknowledged per page or run).", NULL,
                                        err);
    pm->invalid = pm->jobs == NULL
                      ? NULL
                      : mf_metrics_counter(m, "msgfleet_planner_invalid_total",
                                           "Recipients rejected as INVALID_PHONE.", NULL, err);
    pm->duplicates =
        pm->invalid == NULL
            ? NULL
            : mf_metrics_counter(
                  m, "msgfleet_planner_duplicates_dropped_total",
                  "Target rows dropped because their phone was already planned in the run.", NULL,
                  err);
    pm->expansion_seconds =
        pm->duplicates == NULL
            ? NULL
            : mf_metrics_histogram(
                  m, "msgfleet_planner_expansion_seconds",
                  "Duration of one finished run expansion (claim to recorded counts).", NULL,
                  BOUNDS, sizeof(BOUNDS) / sizeof(BOUNDS[0]), err);
    pm->pages = pm->expansion_seconds == NULL
                    ? NULL
                    : mf_metrics_counter(m, "msgfleet_planner_pages_total",
                                         "Target or replay pages read.", NULL, err);
    pm->schedules_fired = pm->pages == NULL
                              ? NULL
                              : mf_metrics_counter(m, "msgfleet_planner_schedules_fired_total",
                                                   "Scheduled runs created.", NULL, err);
    pm->data_errors =
        pm->schedules_fired == NULL
            ? NULL
            : mf_metrics_counter(
                  m, "msgfleet_planner_data_errors_total",
                  "Writes of a run's row that failed with a data error (the run is failed or "
                  "skipped), by SQLSTATE.",
                  "sqlstate", err);
    if (pm->data_errors == NULL)
        return -1;
    /* every counter shows 0 from the start (series are created on first use) */
    mf_metric_add(pm->runs_claimed, NULL, 0);
    mf_metric_add(pm->runs_failed, NULL, 0);
    mf_metric_add(pm->jobs, NULL, 0);
    mf_metric_add(pm->invalid, NULL, 0);
    mf_metric_add(pm->duplicates, NULL, 0);
    mf_metric_add(pm->pages, NULL, 0);
    mf_metric_add(pm->schedules_fired, NULL, 0);
    return 0;
}

void planner_dep(planner_ctx *ctx, const char *name, int ok, const char *detail)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(DEPS[i], name) != 0)
            continue;
        if (ctx->dep_ok[i] != (ok ? 1 : 0)) {
            if (ok)
                MF_LOG(ctx->log, MF_LOG_INFO, "dependency available", MF_KV_S("dependency", name));
            else
                MF_LOG(ctx->log, MF_LOG_WARN, "dependency unavailable", MF_KV_S("dependency", name),
                       MF_KV_S("error", detail ? detail : ""));
        }
        ctx->dep_ok[i] = (signed char)(ok ? 1 : 0);
    }
    if (ctx->httpd != NULL)
        mf_httpd_set_dep(ctx->httpd, name, ok, detail);
}


/* Delivery report: count failures of the run being expanded (its generation). */
static void on_delivery(void *arg, const mf_kafka_dr *dr)
{
    planner_ctx *ctx = arg;

    if (dr->ok) {
        if (ctx->dep_ok[1] != 1)
            planner_dep(ctx, "kafka", 1, NULL);
        return;
    }
    planner_dep(ctx, "kafka", 0, dr->error ? dr->error : "delivery failed");
    if ((uintptr_t)dr->opaque != ctx->gen)
        return;
    ctx->dr_failed++;
    snprintf(ctx->dr_error, sizeof(ctx->dr_error), "%s", dr->error ? dr->error : "unknown");
}

static int open_kafka(planner_ctx *ctx, mf_err *err)
{
    const planner_config *cfg = ctx->cfg;
    mf_kafka_conf kc = {cfg->common.kafka_brokers,
                        cfg->common.instance_id,
                        cfg->common.topic_prefix,
                        NULL,
                        ctx->log,
                        &cfg->common.kafka_sec};

    if (mf_kafka_topic_name(&kc, MF_TOPIC_JOBS, ctx->topic_jobs, sizeof(ctx->topic_jobs), err) !=
            0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_JOBS_TX, ctx->topic_jobs_tx, sizeof(ctx->topic_jobs_tx),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, ctx->topic_results, sizeof(ctx->topic_results),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS_TX, ctx->topic_results_tx,
                            sizeof(ctx->topic_results_tx), err) != 0)
        return mf_err_prefix(err, "MF_TOPIC_PREFIX");
    if (mf_kafka_sec_enabled(kc.security) &&
        mf_kafka_check_login(&kc, MF_KAFKA_LOGIN_CHECK_MS, err) != 0)
        return -1;
    ctx->producer = mf_kafka_producer_new(&kc, on_delivery, ctx, err);
    return ctx->producer != NULL ? 0 : -1;
}

int planner_open(planner_ctx *ctx, const planner_config *cfg, mf_log *log, mf_err *err)
{
    mf_httpd *httpd = ctx->httpd;
    planner_metrics pm = ctx->metrics;
    const char *lane = ctx->lane != NULL ? ctx->lane : "";
    mf_err perr;

    memset(ctx, 0, sizeof(*ctx));
    ctx->lane = lane;
    ctx->cfg = cfg;
    ctx->log = log;
    ctx->httpd = httpd;
    ctx->metrics = pm;
    memset(ctx->dep_ok, -1, sizeof(ctx->dep_ok));
    msgpack_sbuffer_init(&ctx->sbuf);
    ctx->pg = mf_pg_connect(cfg->common.pg_dsn, NULL, "msgfleet-planner", &perr);
    planner_dep(ctx, "postgres", ctx->pg != NULL, ctx->pg != NULL ? NULL : perr.msg);
    planner_dep(ctx, "mysql", 1, "not connected yet");
    planner_dep(ctx, "kafka", 1, "not checked yet");
    return open_kafka(ctx, err);
}

void planner_close(planner_ctx *ctx)
{
    long long budget_ms = ctx->cfg->shutdown_s * 1000 / 2;
    mf_err err;

    if (budget_ms > ctx->cfg->flush_timeout_ms)
        budget_ms = ctx->cfg->flush_timeout_ms;
    if (ctx->producer != NULL && mf_kafka_flush(ctx->producer, (int)budget_ms, &err) != 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "producer flush incomplete", MF_KV_S("error", err.msg));
    mf_kafka_producer_free(ctx->producer);
    ctx->producer = NULL;
    mf_mysql_close(ctx->mysql);
    ctx->mysql = NULL;
    if (ctx->pg != NULL)
        PQfinish(ctx->pg);
    ctx->pg = NULL;
    msgpack_sbuffer_destroy(&ctx->sbuf);
}

/* Sleep ms in small steps so a stop request is seen quickly. */
static void nap(int64_t ms)
{
    int64_t end = mf_clock_mono_ms() + ms;

    while (!mf_daemon_stopping()) {
        int64_t left = end - mf_clock_mono_ms();
        struct timespec ts;
        if (left <= 0)
            return;
        if (left > 50)
            left = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

static void back_off(planner_ctx *ctx, const char *what, const char *error);

int planner_data_error(planner_ctx *ctx, const char *run_id, const char *what, const mf_err *err)
{
    char st[6], brief[MF_ERR_MAX];

    if (mf_pg_err_fault(err) != MF_PG_FAULT_DATA)
        return 0;
    mf_pg_err_sqlstate(err, st);
    mf_metric_add(ctx->metrics.data_errors, (const char *const[]){st}, 1);
    MF_LOG(ctx->log, MF_LOG_ERROR, "data error writing a run", MF_KV_S("run_id", run_id),
           MF_KV_S("what", what), MF_KV_S("sqlstate", st),
           MF_KV_S("error", mf_pg_err_brief(err, brief, sizeof(brief))));
    return 1;
}

void planner_skip_run(planner_ctx *ctx, const char *run_id)
{
    if (ctx->nskip == PLANNER_SKIP_MAX)
        return;
    snprintf(ctx->skip[ctx->nskip++], sizeof(ctx->skip[0]), "%s", run_id);
    MF_LOG(ctx->log, MF_LOG_ERROR, "run skipped: its row cannot be written",
           MF_KV_S("run_id", run_id), MF_KV_I("skipped", (long long)ctx->nskip));
}

/* The claim statement failed with a data error: the oldest claimable run's row cannot take
 * the claim. Fail that run with the error; if even that cannot be written, skip it, so the
 * runs behind it are claimed. */
static void claim_data_error(planner_ctx *ctx, const mf_err *cerr)
{
    char id[40], brief[MF_ERR_MAX], msg[MF_ERR_MAX + 64];
    mf_err err;
    int rc;

    rc = planner_runs_candidate(ctx->pg, ctx->lane, (const char(*)[40])ctx->skip, ctx->nskip, id,
                                sizeof(id), &err);
    if (rc <= 0) {
        back_off(ctx, "could not claim a run, waiting", rc < 0 ? err.msg : cerr->msg);
        return;
    }
    planner_data_error(ctx, id, "claim", cerr);
    snprintf(msg, sizeof(msg), "data error: could not claim the run: %s",
             mf_pg_err_brief(cerr, brief, sizeof(brief)));
    rc = planner_runs_fail_unclaimed(ctx->pg, id, msg, &err);
    if (rc > 0) {
        mf_metric_add(ctx->metrics.runs_failed, NULL, 1);
        MF_LOG(ctx->log, MF_LOG_ERROR, "run failed: data error", MF_KV_S("run_id", id),
               MF_KV_S("error", brief));
        return;
    }
    if (rc < 0 && mf_pg_err_fault(&err) != MF_PG_FAULT_DATA) {
        back_off(ctx, "could not fail a run, waiting", err.msg);
        return;
    }
    planner_skip_run(ctx, id);
}

/* Runs of workflows that are not active (draft, archived, no status, no workflow) are failed
 * with a message naming the workflow's status, a few per round, oldest first; runs of paused
 * workflows are left waiting. A run whose row cannot take the failure (a data error) is
 * skipped like an unclaimable one; any other error waits for the claim to report it. */
static void fail_inactive_runs(planner_ctx *ctx)
{
    planner_inactive runs[8];
    char msg[256];
    size_t n = 0;
    mf_err err;
    int rc;

    if (planner_runs_inactive(ctx->pg, (const char(*)[40])ctx->skip, ctx->nskip, runs,
                              sizeof(runs) / sizeof(runs[0]), &n, &err) != 0) {
        MF_LOG(ctx->log, MF_LOG_WARN, "could not look for runs of inactive workflows",
               MF_KV_S("error", err.msg));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        planner_inactive_message(&runs[i], msg, sizeof(msg));
        rc = planner_runs_fail_inactive(ctx->pg, runs[i].id, msg, &err);
        if (rc > 0) {
            mf_metric_add(ctx->metrics.runs_failed, NULL, 1);
            MF_LOG(ctx->log, MF_LOG_WARN, "run failed: workflow not active",
                   MF_KV_S("run_id", runs[i].id), MF_KV_S("workflow_id", runs[i].workflow_id),
                   MF_KV_S("workflow_status", runs[i].workflow_status));
        } else if (rc < 0) {
            if (planner_data_error(ctx, runs[i].id, "fail inactive", &err))
                planner_skip_run(ctx, runs[i].id);
            else
                MF_LOG(ctx->log, MF_LOG_WARN, "could not fail a run of an inactive workflow",
                       MF_KV_S("run_id", runs[i].id), MF_KV_S("error", err.msg));
            return;
        }
    }
}

/* A dependency failed: wait longer next time (doubling, capped), logged with the wait. */
static void back_off(planner_ctx *ctx, const char *what, const char *error)
{
    ctx->backoff_ms = ctx->backoff_ms == 0 ? BACKOFF_MIN_MS : ctx->backoff_ms * 2;
    if (ctx->backoff_ms > BACKOFF_MAX_MS)
        ctx->backoff_ms = BACKOFF_MAX_MS;
    MF_LOG(ctx->log, MF_LOG_WARN, what, MF_KV_S("error", error),
           MF_KV_I("retry_in_ms", ctx->backoff_ms));
}

/* PostgreSQL usable (connecting or reconnecting as needed)? */
static int pg_ready(planner_ctx *ctx)
{
    mf_err err;

    if (ctx->pg == NULL)
        ctx->pg = mf_pg_connect(ctx->cfg->common.pg_dsn, NULL, "msgfleet-planner", &err);
    if (ctx->pg == NULL || mf_pg_ensure(ctx->pg, &err) != 0) {
        planner_dep(ctx, "postgres", 0, err.msg);
        /* the transactional lane's thread waits too, under a message of its own */
        back_off(ctx,
                 strcmp(ctx->lane, "tx") == 0 ? "transactional lane: no database yet"
                                              : "database unavailable, waiting",
                 err.msg);
        return 0;
    }
    planner_dep(ctx, "postgres", 1, NULL);
    return 1;
}

static int probe_row(const mf_mysql_row *row, void *arg)
{
    (void)row;
    (void)arg;
    return 0;
}

/* While idle, every PROBE_EVERY_MS: is the broker reachable, is MySQL reachable (/healthz). */
static void probe_idle(planner_ctx *ctx)
{
    const planner_config *cfg = ctx->cfg;
    mf_kafka_conf kc = {cfg->common.kafka_brokers,
                        cfg->common.instance_id,
                        cfg->common.topic_prefix,
                        NULL,
                        ctx->log,
                        &cfg->common.kafka_sec};
    mf_mysql_config mc;
    int64_t now = mf_clock_mono_ms();
    int parts = 0;
    mf_err err;

    if (ctx->last_kafka_probe_ms != 0 && now - ctx->last_kafka_probe_ms < PROBE_EVERY_MS)
        return;
    ctx->last_kafka_probe_ms = now;
    if (mf_kafka_topic_partitions(&kc, ctx->topic_jobs, 3000, &parts, &err) == 0 ||
        strstr(err.msg, "does not exist") != NULL)
        planner_dep(ctx, "kafka", 1, NULL);
    else
        planner_dep(ctx, "kafka", 0, err.msg);
    if (ctx->mysql == NULL) {
        planner_mysql_config(cfg, ctx->log, 5, &mc);
        ctx->mysql = mf_mysql_connect(&mc, &err);
        ctx->mysql_limit_s = (unsigned)cfg->mysql_time_limit_s;
    } else if (mf_mysql_query_params(ctx->mysql, "SELECT 1", NULL, 0, probe_row, NULL, NULL,
                                     &err) != 0) {
        mf_mysql_close(ctx->mysql);
        ctx->mysql = NULL;
    }
    planner_dep(ctx, "mysql", ctx->mysql != NULL, ctx->mysql != NULL ? NULL : err.msg);
}

/* The run's earlier attempts ended without an outcome (the planner was killed, crashed or
 * lost its lease every time): a failure given back would have counted and failed it there. */
static void give_up(planner_ctx *ctx, const planner_run *run)
{
    char msg[256];
    mf_err err;
    int rc;

    snprintf(msg, sizeof(msg),
             "gave up after %lld attempts: the last ones ended without an "
             "outcome (the planner was killed or lost its lease; see the run's log)",
             run->attempts - 1);
    rc = planner_runs_fail(ctx->pg, run, ctx->cfg->common.instance_id, msg, &err);
    if (rc > 0)
        mf_metric_add(ctx->metrics.runs_failed, NULL, 1);
    else if (rc < 0 && planner_data_error(ctx, run->id, "attempts", &err))
        planner_skip_run(ctx, run->id);
    MF_LOG(ctx->log, rc > 0 ? MF_LOG_ERROR : MF_LOG_WARN,
           rc > 0 ? "run failed: too many attempts" : "could not fail a run",
           MF_KV_S("run_id", run->id), MF_KV_S("error", rc < 0 ? err.msg : msg));
}

/* One round: schedules, then claim and expand one run. 1 when a run was expanded. */
static int round_once(planner_ctx *ctx, mf_err *err)
{
    planner_run run;
    mf_err cerr;
    int rc;

    if (!pg_ready(ctx))
        return 0;
    if (strcmp(ctx->lane, "tx") != 0) {
        planner_tick_schedules(ctx);
        fail_inactive_runs(ctx);
    }
    rc = planner_runs_claim(ctx->pg, ctx->cfg->common.instance_id, ctx->cfg->lease_s, ctx->lane,
                            (const char(*)[40])ctx->skip, ctx->nskip, &run, &cerr);
    if (rc < 0) {
        if (mf_pg_err_fault(&cerr) == MF_PG_FAULT_DATA)
            claim_data_error(ctx, &cerr);
        else
            back_off(ctx, "could not claim a run, waiting", cerr.msg);
        return 0;
    }
    ctx->backoff_ms = 0;
    if (rc == 0) {
        probe_idle(ctx);
        return 0;
    }
    mf_metric_add(ctx->metrics.runs_claimed, NULL, 1);
    MF_LOG(ctx->log, MF_LOG_INFO, "run claimed", MF_KV_S("run_id", run.id),
           MF_KV_S("workflow_id", run.workflow_id), MF_KV_S("previous_owner", run.prev_owner),
           MF_KV_S("replay_of", run.replay_of), MF_KV_I("attempt", run.attempts));
    if (run.attempts > ctx->cfg->max_attempts) {
        give_up(ctx, &run);
        return 1;
    }
    ctx->queued_jobs = ctx->queued_invalid = 0;
    rc = run.replay_of[0] != '\0' ? planner_replay_run(ctx, &run, err)
                                  : planner_expand_run(ctx, &run, err);
    return rc != 0 ? -1 : 1;
}

int planner_run_loop(planner_ctx *ctx, mf_err *err)
{
    while (!mf_daemon_stopping()) {
        int rc;
        mf_kafka_poll(ctx->producer, 0);
        if (mf_kafka_producer_fatal(ctx->producer, err))
            return -1;
        rc = round_once(ctx, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            nap(ctx->backoff_ms > ctx->cfg->poll_ms ? ctx->backoff_ms : ctx->cfg->poll_ms);
    }
    return 0;
}
