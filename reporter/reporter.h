/* reporter: the results consumer (batches into PostgreSQL), the final-status poller and webhook. */
#ifndef REPORTER_H
#define REPORTER_H

#include "mf_err.h"
#include "mf_log.h"
#include "reporter_config.h"

typedef struct reporter reporter;

/* Starts the HTTP endpoint (MF_HTTP_PORT; logs {"msg":"http
 * listening","port":N}; dependencies postgres, kafka, coolsms when the poller is on), connects
 * to PostgreSQL (retrying with a growing pause until it answers or a stop), creates the results
 * consumer (offsets from mf_consumer_offsets), the dead-letter producer, the watermark client
 * of the lag gauge and, when enabled, the status poller thread and the delivery-report webhook
 * receiver (rep_webhook; logs {"msg":"webhook listening","port":N}). cfg and log must outlive the
 * reporter. NULL with err on failure. */
reporter *reporter_new(const reporter_config *cfg, mf_log *log, mf_err *err);

/* The priority lane's reporter (docs/pipeline.md, "Priority lane"): the same, on the
 * results.tx topic, with cfg->group as its consumer group (the caller passes the lane's
 * group), counting into main_r's metrics (borrowed: main_r must outlive it), and without HTTP
 * endpoint, status poller, webhook receiver, lag gauge or stall check (main_r does those; its
 * poller's final statuses of lane messages go to results). */
reporter *reporter_new_lane(const reporter_config *cfg, mf_log *log, const reporter *main_r,
                            mf_err *err);

/* Consume and record batches until mf_daemon_stopping(). A batch that cannot be written is
 * rolled back and retried from the same messages (kept in hand) with a growing pause (200 ms to
 * 10 s); nothing is skipped. Between batches: the lag gauge and Kafka health (every
 * MF_REPORTER_LAG_INTERVAL_MS), a PostgreSQL probe when idle, the stall check. Returns 0 on a
 * requested stop, -1 with err on a fatal error (producer fatal). */
int reporter_run(reporter *r, mf_err *err);

/* Stops the poller thread, closes the consumer, flushes the producer (5 s), disconnects, stops
 * the HTTP endpoint. After SIGTERM the process's watchdog (mf_watchdog, started by main.c)
 * ends it with status 1 if all this (and the batch before it) takes longer than
 * MF_REPORTER_SHUTDOWN_S. */
void reporter_free(reporter *r);

#endif
