/* run_lease: the planner's workflow_runs statements: claim under a lease, renew, give back. */
/* Also failing and finishing a claimed run and its capped log; the run completion shared with
 * the reporter is common/mf_runs. Function prefix: planner_runs_. */
#ifndef PLANNER_RUN_LEASE_H
#define PLANNER_RUN_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_err.h"
#include "mf_uuid.h"

/*
 * Every function is one autocommit statement (a short transaction, pooler-safe). Statements
 * that change a claimed run check `planner_owner = owner AND status = 'running'`: a planner
 * that lost its lease (taken over, run cancelled) changes nothing and learns it from the
 * return value 0.
 */
typedef struct planner_run {
    char id[MF_UUID_STR_SIZE];
    mf_uuid uuid;
    char workflow_id[MF_UUID_STR_SIZE];
    uint64_t started_ms;              /* started_at truncated to milliseconds (job id input) */
    char prev_owner[128];             /* "" when nobody held the run before */
    char replay_of[MF_UUID_STR_SIZE]; /* the original run of a replay, "" for a normal run */
    /* a replay's confirmed progress (planner_runs_progress): resume after this phone with
     * these counts; "" / 0 at the start */
    char cursor[64];
    long long done_jobs, done_invalid;
    long long attempts; /* planner_attempts after this claim: this is attempt number n */
    int tx;             /* a transactional run: its jobs go to the jobs.tx topic */
} planner_run;

typedef struct planner_counts {
    long long target;   /* unique recipients, invalid ones included */
    long long expanded; /* jobs published */
    long long invalid;  /* recipients rejected at planning */
} planner_counts;

/* Claim the oldest running, unexpanded run of an `active` workflow whose lease is free or
 * expired (FOR UPDATE SKIP LOCKED), other than the nskip runs of skip, take the lease for
 * lease_s seconds, count the attempt (planner_attempts + 1, in run->attempts) and log
 * "claimed". lane: "" any run, "tx" only transactional runs (event, webhook or
 * trigger_config.transactional, not replays), "campaign" only the others.
 * Returns 1 with *run filled, 0 when there is nothing to claim, -1 with err. */
int planner_runs_claim(PGconn *conn, const char *owner, long long lease_s, const char *lane,
                       const char (*skip)[40], size_t nskip, planner_run *run, mf_err *err);

/* The run planner_runs_claim would pick in lane (no lock, nothing written): its id into id.
 * 1, 0 when there is none, -1 with err. */
int planner_runs_candidate(PGconn *conn, const char *lane, const char (*skip)[40], size_t nskip,
                           char *id, size_t cap, mf_err *err);

/* A claimable run whose row cannot take a claim (a data error): status 'failed',
 * error_message, completed_at, log "failed", if it is still running, unexpanded and not
 * leased. 1 when failed, 0 when no longer claimable, -1 with err. */
int planner_runs_fail_unclaimed(PGconn *conn, const char *run_id, const char *message, mf_err *err);

/* A run that waits for a planner but whose workflow will not let it run: the workflow is
 * draft, archived or has no status, or the run has no workflow (workflow_id NULL; the
 * foreign key deletes the runs of a deleted workflow). (Runs of paused workflows
 * wait: they are neither claimed nor failed, so they go on when the workflow is resumed.) */
typedef struct planner_inactive {
    char id[MF_UUID_STR_SIZE];
    char workflow_id[MF_UUID_STR_SIZE]; /* "" when the run has none */
    char workflow_status[64];           /* "" when NULL */
} planner_inactive;

/* Up to cap such runs (running, unexpanded, lease free or expired, not in skip), oldest
 * first, into out; their number into *n. Reads only. 0, or -1 with err. */
int planner_runs_inactive(PGconn *conn, const char (*skip)[40], size_t nskip, planner_inactive *out,
                          size_t cap, size_t *n, mf_err *err);

/* The run's error message and log detail, naming the workflow's status:
 * `workflow <id> is draft: only runs of active workflows are sent`. */
void planner_inactive_message(const planner_inactive *r, char *out, size_t cap);

/* Fail run_id with message (status 'failed', error_message, completed_at,
 * execution_time_ms, log "failed") if it is still unplanned and its workflow is still
 * neither active nor paused. 1 when failed, 0 when that no longer holds, -1 with err. */
int planner_runs_fail_inactive(PGconn *conn, const char *run_id, const char *message, mf_err *err);

/* Extend the lease to now() + lease_s and record the resume position (may be NULL).
 * Returns 1 while the run is still ours and running, 0 when lost, -1 with err. */
int planner_runs_renew(PGconn *conn, const planner_run *run, const char *owner, long long lease_s,
                       const char *cursor, mf_err *err);

/* A replay's progress after a page whose messages the broker acknowledged: lease renewed,
 * expansion_cursor = the page's last phone, expanded_count / invalid_count = counts so far
 * (so a takeover resumes after the cursor with the same counts). 1/0/-1 as renew. */
int planner_runs_progress(PGconn *conn, const planner_run *run, const char *owner,
                          long long lease_s, const char *cursor, long long jobs, long long invalid,
                          mf_err *err);

/* The replay_filter of run_id as JSON text into out ("{}" when NULL). 0 or -1 with err. */
int planner_runs_replay_filter(PGconn *conn, const char *run_id, char *out, size_t cap,
                               mf_err *err);

/* Give the run back after a transient failure: lease until now() + retry_ms (so another
 * planner, or this one, retries then) and log "retry" with the reason. refund: the attempt
 * does not count (the planner stopped, or a dependency was unavailable), planner_attempts
 * goes back down by one. 1/0/-1 as renew. */
int planner_runs_release(PGconn *conn, const planner_run *run, const char *owner,
                         long long retry_ms, const char *reason, int refund, mf_err *err);

/* Permanent configuration error: status 'failed', error_message, completed_at,
 * execution_time_ms, lease cleared, log "failed". 1/0/-1 as renew. */
int planner_runs_fail(PGconn *conn, const planner_run *run, const char *owner, const char *message,
                      mf_err *err);

/* Expansion done: counts, expansion_finished_at = now(), lease cleared, log "expanded".
 * 1/0/-1 as renew. */
int planner_runs_finish(PGconn *conn, const planner_run *run, const char *owner,
                        const planner_counts *counts, mf_err *err);

/* The completion check of docs/pipeline.md (mf_runs_try_complete, shared with the reporter)
 * for a run whose expansion is finished. Returns 1 when this call completed the run, 0 when
 * not (yet), -1 with err. */
int planner_runs_complete(PGconn *conn, const char *run_id, mf_err *err);

/* Whether the run lost to a cancel: status 'cancelled', still owned by owner and its
 * expansion not recorded. 1 yes, 0 no, -1 with err. */
int planner_runs_cancelled(PGconn *conn, const planner_run *run, const char *owner, mf_err *err);

/* A cancelled run's expansion stopped: counts = the messages that reached Kafka (so the run
 * ends once they all have their row), expansion_finished_at = now(), lease cleared, log
 * "expansion_stopped"; only while the run is 'cancelled', ours and unrecorded. 1/0/-1 as
 * renew. */
int planner_runs_stop_cancelled(PGconn *conn, const planner_run *run, const char *owner,
                                const planner_counts *counts, mf_err *err);

#endif
