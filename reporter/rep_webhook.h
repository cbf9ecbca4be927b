/* rep_webhook: the delivery-report receiver: SOLAPI's single-report POSTs become results. */
#ifndef REP_WEBHOOK_H
#define REP_WEBHOOK_H

#include "mf_err.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "reporter_config.h"

/*
 * An HTTP server of its own (libmicrohttpd, MF_REPORTER_WEBHOOK_THREADS threads) on
 * MF_REPORTER_WEBHOOK_BIND:MF_REPORTER_WEBHOOK_PORT. It answers
 *
 *   POST /<token>/single-report  a JSON array of delivery reports: for each final one (any
 *                                status code but 2000/3000) of a message the fleet recorded
 *                                as sent, a delivered / undelivered result is produced to the
 *                                results topic, keyed by the job id (customFields.jobId),
 *                                on the partition of its groupId (mf_kafka_produce_affine);
 *                                200 once Kafka acknowledged all of them, 503 when it did not
 *                                within MF_REPORTER_WEBHOOK_ACK_MS or PostgreSQL could not be
 *                                asked (the provider sends the request again);
 *   POST /<token>/group-report   logged and counted, 200;
 *
 * with <token> MF_REPORTER_WEBHOOK_TOKEN or MF_REPORTER_WEBHOOK_TOKEN_OLD (compared in
 * constant time). Everything else is 404 with the same body, whatever was wrong. A body over
 * MF_REPORTER_WEBHOOK_MAX_BODY is 413, one that is not a JSON array 400. The token is never
 * logged. Details: docs/reporter.md, "Delivery-report webhook".
 */
typedef struct rep_webhook rep_webhook;

/* Own PostgreSQL connection (one query per request, under a lock) and producer; declares its
 * metric families in `metrics` (borrowed, must outlive the receiver): requests by path and
 * outcome, reports by status. results_topic is the full name. Does not listen yet. NULL with
 * err on failure. */
rep_webhook *rep_webhook_new(const reporter_config *cfg, const char *results_topic,
                             mf_metrics *metrics, mf_log *log, mf_err *err);

/* Start listening; logs {"msg":"webhook listening","port":N}. 0 or -1 with err. */
int rep_webhook_start(rep_webhook *w, mf_err *err);

/* The port listened on (0 before rep_webhook_start). */
int rep_webhook_port(const rep_webhook *w);

/* Stop listening (requests in progress finish), flush the producer (5 s), free. NULL is
 * ignored. */
void rep_webhook_free(rep_webhook *w);

#endif
