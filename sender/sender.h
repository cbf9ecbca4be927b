/* sender: the sender daemon's pipeline (consume jobs, claim, send, produce results). */
#ifndef SENDER_H
#define SENDER_H

#include "mf_err.h"
#include "mf_log.h"
#include "sender_config.h"

typedef struct sender_ctx sender_ctx;

/* The hard stop (common/mf_watchdog, started by main): a stopping sender that is still there
 * MF_SENDER_SHUTDOWN_S plus this long after the stop request (a call that hangs) logs
 * "shutdown deadline passed, exiting now" and exits 1. The margin covers what follows the
 * cooperative deadline: handing the batch back, closing the consumer, the producer's flush
 * (up to 10 s, sender_free). */
#define SENDER_STOP_GRACE_MS 15000

/* Connects to PostgreSQL, Kafka (consumer in cfg->group on the jobs topic, idempotent
 * producer) and prepares the provider client. cfg and log must outlive the context.
 * Returns NULL with err naming what failed. */
sender_ctx *sender_new(const sender_config *cfg, mf_log *log, mf_err *err);

/* Runs batches until mf_daemon_stopping(). A batch in progress when the stop arrives is
 * finished if it can be within MF_SENDER_SHUTDOWN_S (counted on the monotonic clock), else
 * handed back (offsets not stored: it is redelivered); while it waits for another sender's
 * claim it is abandoned at once, its offsets not stored. Returns 0 after a clean stop, -1 on a
 * fatal error (a result that Kafka did not acknowledge, a fatal producer or consumer error). */
int sender_run(sender_ctx *s, mf_err *err);

/* Flushes the producer (with a deadline), closes the consumer, frees everything. NULL ok. */
void sender_free(sender_ctx *s);

#endif
