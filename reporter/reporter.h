/* reporter: the results consumer (batches into PostgreSQL) plus the final-status poller. */
#ifndef REPORTER_H
#define REPORTER_H

#include "mf_err.h"
#include "mf_log.h"
#include "reporter_config.h"

typedef struct reporter reporter;

/* Connects to PostgreSQL, creates the results consumer (offsets from mf_consumer_offsets), the
 * dead-letter producer and, when enabled, the status poller thread. cfg and log must outlive
 * the reporter. NULL with err on failure. */
reporter *reporter_new(const reporter_config *cfg, mf_log *log, mf_err *err);

/* Consume and record batches until mf_daemon_stopping(). A batch that cannot be written is
 * retried (its messages stay in hand) with a growing pause; nothing is skipped. Returns 0 on a
 * requested stop, -1 with err on a fatal error (consumer or producer fatal). */
int reporter_run(reporter *r, mf_err *err);

/* Stops the poller thread, closes the consumer, flushes the producer (5 s), disconnects. */
void reporter_free(reporter *r);

#endif
