/* planner: the daemon's context and main loop (schedules, run claiming, expansion). */
#ifndef PLANNER_PLANNER_H
#define PLANNER_PLANNER_H

#include <stdint.h>

#include <libpq-fe.h>
#include <msgpack.h>

#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_mysql.h"
#include "planner_config.h"

/* Everything the planner works with; one per process, passed everywhere (no globals). */
typedef struct planner_ctx {
    const planner_config *cfg;
    mf_log *log;
    PGconn *pg;
    mf_kafka_producer *producer;
    char topic_jobs[MF_KAFKA_TOPIC_MAX + 1];
    char topic_results[MF_KAFKA_TOPIC_MAX + 1];
    mf_mysql *mysql;          /* connected lazily, dropped after a failure */
    unsigned mysql_limit_s;   /* time limit the current MySQL session was set up with */
    msgpack_sbuffer sbuf;     /* encode buffer, reused */
    /* delivery reports of the run being expanded (messages carry the run's generation) */
    uintptr_t gen;
    long long dr_failed;
    char dr_error[256];
    int64_t last_schedule_ms; /* last schedule tick */
    int64_t bad_schedule_warned_ms;
} planner_ctx;

/* Set up connections (PostgreSQL, Kafka producer). 0 or -1 with err. */
int planner_open(planner_ctx *ctx, const planner_config *cfg, mf_log *log, mf_err *err);

/* Flush the producer (deadline MF_PLANNER_FLUSH_TIMEOUT_MS) and close everything. */
void planner_close(planner_ctx *ctx);

/* Loop until a stop is requested: tick schedules, claim and expand runs, sleep poll_ms.
 * Returns 0 after a stop, -1 with err after a fatal error (Kafka producer fatal). */
int planner_run_loop(planner_ctx *ctx, mf_err *err);

/* Fire due schedules and initialise new ones (scheduler.c). Runs at most once per poll_ms;
 * called from the main loop and between pages of a long expansion. Failures are logged. */
void planner_tick_schedules(planner_ctx *ctx);

/* Wall clock in unix milliseconds. */
int64_t planner_now_ms(void);

#endif
