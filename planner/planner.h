/* planner: the daemon's context and main loop (schedules, run claiming, expansion). */
#ifndef PLANNER_PLANNER_H
#define PLANNER_PLANNER_H

#include <stdint.h>

#include <libpq-fe.h>
#include <msgpack.h>

#include "mf_clock.h"
#include "mf_httpd.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_mysql.h"
#include "planner_config.h"

/* The planner's metrics (owned by the registry; every member may be NULL: updates of a NULL
 * metric are ignored, so tests and tools need no registry). */
typedef struct planner_metrics {
    mf_metric *runs_claimed;      /* msgfleet_planner_runs_claimed_total */
    mf_metric *runs_failed;       /* msgfleet_planner_runs_failed_total */
    mf_metric *jobs;              /* msgfleet_planner_jobs_total */
    mf_metric *invalid;           /* msgfleet_planner_invalid_total */
    mf_metric *duplicates;        /* msgfleet_planner_duplicates_dropped_total */
    mf_metric *expansion_seconds; /* msgfleet_planner_expansion_seconds (per finished run) */
    mf_metric *pages;             /* msgfleet_planner_pages_total */
    mf_metric *schedules_fired;   /* msgfleet_planner_schedules_fired_total */
    mf_metric *data_errors;       /* msgfleet_planner_data_errors_total{sqlstate} */
} planner_metrics;

/* Declare the planner's metrics in registry m. 0 or -1 with err. */
int planner_metrics_init(planner_metrics *pm, mf_metrics *m, mf_err *err);

#define PLANNER_SKIP_MAX 64

/* Everything the planner works with; one per process, passed everywhere (no globals). */
typedef struct planner_ctx {
    const planner_config *cfg;
    mf_log *log;
    PGconn *pg;
    mf_kafka_producer *producer;
    char topic_jobs[MF_KAFKA_TOPIC_MAX + 1];
    char topic_jobs_tx[MF_KAFKA_TOPIC_MAX + 1]; /* jobs of transactional runs */
    char topic_results[MF_KAFKA_TOPIC_MAX + 1];
    char topic_results_tx[MF_KAFKA_TOPIC_MAX + 1]; /* INVALID_PHONE results of those runs */
    /* which runs this loop claims (planner_runs_claim): "" all, "campaign", "tx"; kept by
     * planner_open like httpd. The "tx" loop neither fires schedules nor fails runs of
     * inactive workflows (the main loop does). */
    const char *lane;
    mf_mysql *mysql;        /* connected lazily, dropped after a failure */
    unsigned mysql_limit_s; /* time limit the current MySQL session was set up with */
    msgpack_sbuffer sbuf;   /* encode buffer, reused */
    /* delivery reports of the run being expanded (messages carry the run's generation) */
    uintptr_t gen;
    long long dr_failed;
    char dr_error[256];
    /* messages of the run being expanded queued to Kafka by this planner (jobs, INVALID_PHONE
     * results): what a cancelled run's expansion leaves behind (emit.c) */
    long long queued_jobs, queued_invalid;
    planner_metrics metrics;
    mf_httpd *httpd;       /* borrowed, may be NULL: dependency states for /healthz */
    int64_t backoff_ms;    /* current wait after a dependency failure (0: none) */
    signed char dep_ok[3]; /* last state of postgres, kafka, mysql (-1: unknown) */
    /* monotonic times (mf_clock_mono_ms; 0: never) of the last idle probe, schedule tick and
     * bad schedule_config warning */
    int64_t last_kafka_probe_ms;
    int64_t last_schedule_ms;
    int64_t bad_schedule_warned_ms;
    /* runs whose row cannot be written at all (a data error even when failing them): never
     * claimed again by this process (docs/planner.md, "Data errors") */
    char skip[PLANNER_SKIP_MAX][40];
    size_t nskip;
} planner_ctx;

/* ctx->httpd, ctx->metrics and ctx->lane are kept (set them before, or zero them); the rest is
 * reset.
 * Set up the Kafka producer and try PostgreSQL once (an unreachable database is not an
 * error: the loop reconnects with backoff). 0 or -1 with err (bad configuration). */
int planner_open(planner_ctx *ctx, const planner_config *cfg, mf_log *log, mf_err *err);

/* Flush the producer (deadline: MF_PLANNER_FLUSH_TIMEOUT_MS or half of MF_PLANNER_SHUTDOWN_S,
 * whichever is shorter) and close everything. */
void planner_close(planner_ctx *ctx);

/* Loop until a stop is requested: tick schedules, claim and expand runs, sleep poll_ms.
 * Returns 0 after a stop, -1 with err after a fatal error (Kafka producer fatal). */
int planner_run_loop(planner_ctx *ctx, mf_err *err);

/* Record a dependency state ("postgres", "kafka", "mysql") for /healthz; no-op without httpd.
 * Logs a warning when a dependency goes down and an info line when it comes back. */
void planner_dep(planner_ctx *ctx, const char *name, int ok, const char *detail);

/* A write of run run_id's row failed with err. A data error (mf_pg_err_fault: the value
 * cannot be stored, retrying fails again) is counted in msgfleet_planner_data_errors_total
 * and logged as an error naming the run and cause: returns 1, the caller fails the run
 * instead of giving it back. Anything else: 0 (retry; "down" only when unreachable). */
int planner_data_error(planner_ctx *ctx, const char *run_id, const char *what, const mf_err *err);

/* A run whose row cannot even be failed or given back (a data error): this process never
 * claims it again (up to PLANNER_SKIP_MAX runs), so the runs behind it are planned. */
void planner_skip_run(planner_ctx *ctx, const char *run_id);


#endif
