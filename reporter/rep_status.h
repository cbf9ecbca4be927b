/* rep_status: the final-status poller: asks the list API about sent messages, emits results. */
#ifndef REP_STATUS_H
#define REP_STATUS_H

#include "mf_err.h"
#include "mf_httpd.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "reporter_config.h"

typedef struct rep_status rep_status;

/* Own PostgreSQL connection, producer and CoolSMS client. results_topic is the full name.
 * NULL with err on failure. */
rep_status *rep_status_new(const reporter_config *cfg, const char *results_topic, mf_log *log,
                           mf_err *err);

/*
 * One poll step: take or renew the poller lease (mf_status_poller), read up to
 * MF_REPORTER_STATUS_BATCH sent messages due for a check after the sweep's cursor, ask the
 * list API by messageIds, produce a delivered / undelivered result for each final status, wait
 * for the broker's acknowledgements, then move the cursor past them. *checked / *produced
 * (optional) get the counts. 0, 1 when another poller holds the lease (nothing done), or -1.
 */
int rep_status_poll_once(rep_status *s, int *checked, int *produced, mf_err *err);

/* Observability (call before rep_status_start; every argument may be NULL): `polls` is a
 * counter family with one label, outcome = ok (something checked) | idle | standby (another
 * poller holds the lease) | deferred | error; `finals` counts the final statuses produced; the
 * "coolsms" dependency of `httpd` follows the list API calls (up after an answered call, down
 * with the error after a failed one). Borrowed. */
void rep_status_observe(rep_status *s, mf_metric *polls, mf_metric *finals, mf_httpd *httpd);

/* Start / stop the background thread that polls until stopped (or mf_daemon_stopping()). */
/* What the results consumer is doing, so that first outcomes are recorded first: its lag on
 * the results topic and the results it recorded per second lately. Above
 * MF_REPORTER_STATUS_MAX_LAG or MF_REPORTER_STATUS_BUSY_RATE the poller waits, at most
 * MF_REPORTER_STATUS_MAX_DEFER_MS at a time. Thread-safe; s may be NULL. */
void rep_status_set_backlog(rep_status *s, long long lag);
void rep_status_set_rate(rep_status *s, long long per_s);

int rep_status_start(rep_status *s, mf_err *err);
void rep_status_free(rep_status *s); /* stops and joins the thread if running; s may be NULL */

#endif
