/* sender_halt: which runs of a batch are cancelled or held (workflow paused), one query. */
#ifndef SENDER_HALT_H
#define SENDER_HALT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_err.h"
#include "mf_pgarr.h"
#include "mf_uuid.h"

/*
 * A run is cancelled by setting workflow_runs.status = 'cancelled' (the web UI, `msgfleet
 * cancel`) and held while its workflow is paused (workflows.status = 'paused') or the run is
 * held at the provider's daily quota (workflow_runs.send_hold, sender_rate.h). The senders
 * learn both by asking PostgreSQL about the runs they are about to send: one statement for
 * every run of the batch and of the held retry jobs,
 *   SELECT r.id, ... FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id
 *   WHERE r.id = ANY($1::uuid[]) AND (r.status = 'cancelled' OR
 *                                      (r.status = 'running' AND
 *                                       (w.status = 'paused' OR r.send_hold IS NOT NULL)))
 * (a primary-key lookup per distinct run; no LISTEN, so it works through a transaction-mode
 * pooler). The answer is trusted for every_ms (MF_SENDER_HALT_CHECK_MS): a batch whose runs
 * were all asked about within that time costs no query, and the send loop asks again once
 * it is older. So a cancel is seen by every sender within every_ms plus one statement.
 */
typedef enum sender_halt_state {
    SENDER_HALT_GO = 0,   /* send as usual (also: a run the database does not know) */
    SENDER_HALT_PAUSED,   /* running, its workflow paused or the run held: defer its jobs */
    SENDER_HALT_CANCELLED /* cancelled: no provider call, result status cancelled */
} sender_halt_state;

typedef struct sender_halt {
    mf_uuid *known; /* sorted: the runs of the last query */
    size_t nknown, known_cap;
    struct sender_halted { /* sorted by run: those cancelled or paused */
        mf_uuid run;
        sender_halt_state state;
    } * halted;
    size_t nhalted, halted_cap;
    mf_uuid *want; /* the runs to ask about (sender_halt_want) */
    size_t nwant, want_cap;
    mf_pgarr arr;       /* the uuid[] parameter */
    int64_t checked_ms; /* when the last query ran (monotonic ms; 0: never) */
    long long every_ms;
    unsigned long queries; /* statements run so far (tests, logs) */
} sender_halt;

void sender_halt_init(sender_halt *h, long long every_ms);
void sender_halt_free(sender_halt *h);

/* Starts a new set of runs to ask about. */
void sender_halt_begin(sender_halt *h);

/* Adds a run to the set (duplicates are fine). 0 or -1 (out of memory). */
int sender_halt_want(sender_halt *h, const mf_uuid *run, mf_err *err);

/* 1 when every run of the set has an answer younger than every_ms (no query needed). */
int sender_halt_fresh(sender_halt *h, int64_t now_ms);

/*
 * Makes sure every run of the set has an answer younger than every_ms: when one is missing
 * from the last query or the answer is older, one query for the whole set replaces the
 * answer. Returns 1 when it queried, 0 when the cached answer was used, -1 with err.
 */
int sender_halt_check(sender_halt *h, PGconn *pg, int64_t now_ms, mf_err *err);

/* The send loop's re-check: asks again about the runs of the last query once its answer is
 * older than every_ms. 1 queried, 0 not needed, -1 with err. */
int sender_halt_refresh(sender_halt *h, PGconn *pg, int64_t now_ms, mf_err *err);

/*
 * Takes the answer of the halt query (rows: run id as text, 'c' cancelled or 'p' paused) for
 * the runs of the set; what sender_halt_check and _refresh do with the statement's result,
 * public for the unit tests. res is borrowed. 0, or -1 with err (a bad run id or out of
 * memory; the answer is then empty, so the next check asks again).
 */
int sender_halt_answer(sender_halt *h, const PGresult *res, int64_t now_ms, mf_err *err);

/* 1 when the last answer is older than every_ms (or there is none, or it was expired). */
int sender_halt_due(const sender_halt *h, int64_t now_ms);

/* Makes the last answer old: the next check or refresh asks again. */
void sender_halt_expire(sender_halt *h);

/* The state of a run as last answered (SENDER_HALT_GO when not asked about). */
sender_halt_state sender_halt_of(const sender_halt *h, const mf_uuid *run);

/* Number of runs in the last answer that are cancelled or paused. */
size_t sender_halt_count(const sender_halt *h);

#endif
