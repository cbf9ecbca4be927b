/* rep_optout: fill the opt-out list from provider statuses and the provider's 080 list. */
#ifndef REP_OPTOUT_H
#define REP_OPTOUT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "mf_log.h"
#include "reporter_config.h"

/*
 * Inside the caller's transaction on conn: every failed or undelivered result whose provider
 * status is 1061/2061 (the recipient opted out with the free 080 call) adds its number to
 * mf_suppressions with scope 'advertising', source 'provider_080'; 1060/2060 (a number the
 * provider blocks) with scope 'all', source 'provider_block'. A number already listed for the
 * scope is left as it is. One statement, only when a result qualifies; *added (optional) gets
 * the rows inserted. Results are read only during the call. 0 or -1 with err.
 */
int rep_optout_record(PGconn *conn, const mf_result *res, size_t n, long long *added, mf_err *err);

/* 1 when a provider status code means the number opted out or is blocked. */
int rep_optout_code(const char *code);

typedef struct rep_optout rep_optout;

/* The periodic sync of the provider's 080 opt-out list (MF_REPORTER_OPTOUT_SYNC_MS; its
 * CoolSMS client only when that is above 0) and the pruning of the advertising ledger: own
 * PostgreSQL connection. cfg and log are borrowed. NULL with err. */
rep_optout *rep_optout_new(const reporter_config *cfg, mf_log *log, mf_err *err);

/*
 * One sync when it is due: in one transaction, under a transaction-scoped advisory lock (one
 * reporter at a time, the others skip), when mf_optout_sync.synced_at is older than the
 * interval: read every page of GET /iam/v1/black?type=DENIAL and insert each normalised
 * number (scope 'advertising', source 'provider_080'; numbers already listed are kept), then
 * record the sync. *added (optional) gets the numbers inserted. 0 after a sync, 1 when the
 * sync is off, not due or another reporter holds the lock, -1 with err (nothing written).
 */
int rep_optout_sync_once(rep_optout *o, long long *added, mf_err *err);

/* Deletes up to 100,000 rows of mf_ad_sends older than 7 days (mf_ad_sends_prune); *pruned
 * (optional) gets their number. Several reporters may prune at once. 0 or -1 with err. */
int rep_optout_prune(rep_optout *o, long long *pruned, mf_err *err);

/* Start / stop the thread that syncs (when on) and prunes the ledger every 10 minutes until
 * stopped (or mf_daemon_stopping()). */
int rep_optout_start(rep_optout *o, mf_err *err);
void rep_optout_free(rep_optout *o); /* stops and joins the thread if running; NULL ok */

#endif
