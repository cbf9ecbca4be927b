/* mf_replay: which recipients a replay of a run's failures resends (shared by CLI and planner). */
#ifndef MF_REPLAY_H
#define MF_REPLAY_H

#include <libpq-fe.h>

#include "mf_err.h"

/*
 * A replay is a workflow_runs row with replay_of = the original run and replay_filter = a
 * JSON object: {"statuses":["failed"], "codes":["3043"], "exclude_codes":["INVALID_PHONE"],
 * "since":"2026-11-25T00:00:00+09", "until":"..."}; every key is optional (defaults: statuses
 * ["failed"], no code restriction, exclude_codes ["INVALID_PHONE"] unless "codes" is given,
 * because an invalid number fails again until the customer data is fixed; no time window).
 *
 * The candidates are the recipients (by phone) with a message_logs row matching the filter in
 * the original run or any of its replays, EXCLUDING every recipient that already has a sent or
 * delivered message in that chain: so a replay never resends to someone who got the message,
 * and running the same replay twice sends nothing the second time. One row per recipient (its
 * latest matching failure), ordered by phone for paging.
 */

/* Columns of a candidate row, in order. */
enum {
    MF_REPLAY_COL_PHONE = 0,
    MF_REPLAY_COL_NAME,
    MF_REPLAY_COL_TEMPLATE, /* template_id (may be NULL) */
    MF_REPLAY_COL_VARS,     /* variables_used, a JSON object of strings */
    MF_REPLAY_COL_CODE,     /* error_code of the failure being replayed */
    MF_REPLAY_COL_TYPE      /* message_type of that failure */
};

/* Up to `limit` candidates whose phone sorts after `after_phone` ("" to start). The caller
 * PQclear()s the result. NULL with err on failure (e.g. a malformed filter). */
PGresult *mf_replay_page(PGconn *conn, const char *original_run_id, const char *filter_json,
                         const char *after_phone, int limit, mf_err *err);

/* Count of candidates per error code: rows of (code, count), most first. Caller PQclear()s. */
PGresult *mf_replay_count_by_code(PGconn *conn, const char *original_run_id,
                                  const char *filter_json, mf_err *err);

#endif
