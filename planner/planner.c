/* planner: the daemon's context and main loop (schedules, run claiming, expansion). */
#include "planner.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "expand.h"
#include "mf_daemon.h"
#include "mf_pg.h"
#include "runs.h"

int64_t planner_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Delivery report: count failures of the run being expanded (its generation). */
static void on_delivery(void *arg, const mf_kafka_dr *dr)
{
    planner_ctx *ctx = arg;

    if (dr->ok || (uintptr_t)dr->opaque != ctx->gen)
        return;
    ctx->dr_failed++;
    snprintf(ctx->dr_error, sizeof(ctx->dr_error), "%s", dr->error ? dr->error : "unknown");
}

static int open_kafka(planner_ctx *ctx, mf_err *err)
{
    const planner_config *cfg = ctx->cfg;
    mf_kafka_conf kc = {cfg->common.kafka_brokers, cfg->common.instance_id,
                        cfg->common.topic_prefix, NULL, ctx->log};

    if (mf_kafka_topic_name(&kc, MF_TOPIC_JOBS, ctx->topic_jobs, sizeof(ctx->topic_jobs),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, ctx->topic_results,
                            sizeof(ctx->topic_results), err) != 0)
        return mf_err_prefix(err, "MF_TOPIC_PREFIX");
    ctx->producer = mf_kafka_producer_new(&kc, on_delivery, ctx, err);
    return ctx->producer != NULL ? 0 : -1;
}

int planner_open(planner_ctx *ctx, const planner_config *cfg, mf_log *log, mf_err *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = cfg;
    ctx->log = log;
    msgpack_sbuffer_init(&ctx->sbuf);
    ctx->pg = mf_pg_connect(cfg->common.pg_dsn, NULL, "msgfleet-planner", err);
    if (ctx->pg == NULL)
        return -1;
    return open_kafka(ctx, err);
}

void planner_close(planner_ctx *ctx)
{
    mf_err err;

    if (ctx->producer != NULL &&
        mf_kafka_flush(ctx->producer, (int)ctx->cfg->flush_timeout_ms, &err) != 0)
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
    int64_t end = planner_now_ms() + ms;

    while (!mf_daemon_stopping()) {
        int64_t left = end - planner_now_ms();
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

/* One round: schedules, then claim and expand one run. 1 when a run was expanded. */
static int round_once(planner_ctx *ctx, mf_err *err)
{
    planner_run run;
    mf_err cerr;
    int rc;

    if (mf_pg_ensure(ctx->pg, &cerr) != 0) {
        MF_LOG(ctx->log, MF_LOG_WARN, "database unavailable", MF_KV_S("error", cerr.msg));
        return 0;
    }
    planner_tick_schedules(ctx);
    rc = planner_runs_claim(ctx->pg, ctx->cfg->common.instance_id, ctx->cfg->lease_s, &run,
                            &cerr);
    if (rc < 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "could not claim a run", MF_KV_S("error", cerr.msg));
    if (rc <= 0)
        return 0;
    MF_LOG(ctx->log, MF_LOG_INFO, "run claimed", MF_KV_S("run_id", run.id),
           MF_KV_S("workflow_id", run.workflow_id), MF_KV_S("previous_owner", run.prev_owner));
    if (planner_expand_run(ctx, &run, err) != 0)
        return -1;
    return 1;
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
            nap(ctx->cfg->poll_ms);
    }
    return 0;
}
