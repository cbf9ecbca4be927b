/* mf_runs: run completion (one conditional UPDATE) and counter recount checks, shared SQL. */
#ifndef MF_RUNS_H
#define MF_RUNS_H

#include <libpq-fe.h>

#include "mf_err.h"

/*
 * Counters (docs/pipeline.md, docs/reporter.md):
 *   workflow_runs.success_count = messages of the run with status sent or delivered
 *   workflow_runs.failed_count  = messages with status failed or cancelled (a delivery failure
 *                                 moves one message from success_count to failed_count)
 *   workflow_runs.total_cost    = sum of message_logs.cost (failed/undelivered rows cost 0)
 * A run is complete when status = 'running', expansion_finished_at is set and
 * success_count + failed_count >= target_count.
 */

/* What mf_runs_try_complete learned. */
typedef struct mf_runs_completion {
    int completed;          /* 1: this call made the running -> completed transition */
    long long target_count; /* the run's counters at that moment (only when completed) */
    long long success_count;
    long long failed_count;
    long long execution_time_ms; /* completed_at - started_at */
    int templates_logged;        /* template_usage_logs rows inserted by this call (0 or 1) */
} mf_runs_completion;

/*
 * Try to complete run `run_id_text` (uuid as text). The single conditional
 *   UPDATE workflow_runs SET status='completed', completed_at=now(), execution_time_ms=...,
 *          logs = logs || [{"ts","event":"completed","detail":{counts}}]
 *   WHERE id=$1 AND status='running' AND expansion_finished_at IS NOT NULL
 *     AND success_count + failed_count >= target_count RETURNING ...
 * decides; when it returns the row (this transaction won), the same transaction also:
 *   - inserts template_usage_logs (workflow_run_id, template_id) ON CONFLICT DO NOTHING for the
 *     template of the run (workflows.message_config->>'template_id', else the template of the
 *     run's message_logs); the seed trigger bumps message_templates.usage_count once;
 *   - sets workflows.last_run_at and recomputes workflows.statistics from workflow_runs
 *     (mf_runs_refresh_workflow_stats);
 *   - upserts daily_statistics for the Asia/Seoul date of completed_at:
 *     workflows_executed + 1, templates_used + (template row inserted ? 1 : 0).
 * Transactions: when conn is idle the call runs in its own BEGIN/COMMIT; when conn is already
 * inside a transaction it joins it (the caller commits or rolls back). A run that is not ready
 * (or already completed) is not an error: out->completed = 0.
 * out may be NULL. Returns 0 or -1 with err (inside a caller's transaction, the caller must
 * roll back after -1).
 */
int mf_runs_try_complete(PGconn *conn, const char *run_id_text, mf_runs_completion *out,
                         mf_err *err);

/*
 * A cancelled run ends when every job that was expanded has its message_logs row: the single
 * conditional
 *   UPDATE workflow_runs SET completed_at=now(), execution_time_ms=..., logs = logs ||
 *          [{"ts","event":"finished","detail":{"status":"cancelled", counts}}]
 *   WHERE id=$1 AND status='cancelled' AND completed_at IS NULL
 *     AND ((expansion_finished_at IS NOT NULL
 *           AND success_count + failed_count >= target_count)
 *          OR (expansion_finished_at IS NULL AND planner_owner IS NULL))
 * decides (the second arm: no planner ever claimed the run, so no job exists). The status
 * stays 'cancelled'. The winner's transaction also, when the run sent anything
 * (success_count > 0), inserts its template_usage_logs row (success false, error_message
 * "run cancelled after N of M messages") and bumps daily_statistics.templates_used for the
 * date of completed_at, and advances workflows.last_run_at. A cancelled run is not an
 * execution: workflows_executed and workflows.statistics count completed runs only.
 * Transactions and return values as mf_runs_try_complete (out->completed = 1 when this call
 * ended the run).
 */
int mf_runs_try_finish_cancelled(PGconn *conn, const char *run_id_text, mf_runs_completion *out,
                                 mf_err *err);

/*
 * Ends every cancelled run that is ready (mf_runs_try_finish_cancelled), up to `max` runs,
 * each in its own transaction: for runs cancelled after their last result was recorded, or
 * before any planner claimed them, which no later result will touch. *n (optional) gets how
 * many were ended. 0 or -1 with err.
 */
int mf_runs_finish_cancelled_sweep(PGconn *conn, int max, int *n, mf_err *err);

/*
 * A cancelled run whose expansion was never recorded because its planner died (its lease ran
 * out more than quiet_s seconds ago) would wait forever: nobody knows how many jobs that
 * planner put on Kafka. Once none of its message_logs rows is younger than quiet_s seconds
 * (the senders drained what was left), its counts are taken from the rows recorded
 * (target_count = success_count + failed_count, expansion_finished_at = now(), log
 * "expansion_stopped" saying so); mf_runs_try_finish_cancelled then ends it. A job recorded
 * later still counts in the counters. Up to `max` runs; *n (optional) gets how many. 0 or -1.
 */
int mf_runs_stop_orphaned_cancelled(PGconn *conn, long long quiet_s, int max, int *n, mf_err *err);

/*
 * Recompute workflows.statistics of workflow `workflow_id_text` from its workflow_runs:
 * {"total_runs": completed runs, "total_sent": sum success_count, "total_failed": sum
 * failed_count, "total_cost": sum total_cost, "last_run_id": latest completed run,
 * "last_run_at": its completed_at, "updated_by":"msgfleet"}; keys of other writers are kept.
 * Runs in the caller's transaction if any. 0 or -1 with err.
 */
int mf_runs_refresh_workflow_stats(PGconn *conn, const char *workflow_id_text, mf_err *err);

/*
 * Test/operator check: compare the stored counters with a recount from message_logs,
 * template_usage_logs and workflow_runs.
 *   run_id_text != NULL: only that run's success_count/failed_count/total_cost (and its
 *   workflow's statistics).
 *   run_id_text == NULL: every run, every workflow's statistics, and every daily_statistics
 *   date (messages_sent/total_cost by Seoul date of sent_at over rows sent or delivered,
 *   messages_failed by Seoul date of failed_at over rows failed or cancelled,
 *   workflows_executed by Seoul date of completed_at, templates_used by Seoul date of used_at
 *   of template_usage_logs rows with a workflow_run_id; docs/reporter.md).
 * Returns the number of mismatches (0 = consistent) and, when mismatches is not NULL, a
 * malloc'ed text with one line per mismatch ("" when none; caller free()s it).
 * -1 with err on a database error (*mismatches is then NULL).
 */
/* One run that mf_runs_mark_stalled flagged. */
typedef struct mf_runs_stalled {
    char run_id[40];
    long long target_count;
    long long missing;        /* target_count - success_count - failed_count */
    long long finished_ago_s; /* seconds since expansion_finished_at */
} mf_runs_stalled;

/*
 * Stall detection (a run must never stay 'running' forever without a reason). Every
 * run still 'running' whose expansion finished more than stall_s seconds ago and that still
 * misses results (success_count + failed_count < target_count), and whose workflow is not paused
 * (a held run waits on purpose), gets ONE entry appended to its
 * logs: {"ts","event":"stalled","detail":{"missing","target_count","success_count",
 * "failed_count","expansion_finished_at"}}. Runs that already have a "stalled" entry are left
 * alone, so calling this on every poll, from several processes, logs each run once. Rows are
 * locked in id order with SKIP LOCKED (never waits for a batch transaction). Runs in its own
 * transaction when conn is idle. Up to cap flagged runs are copied to out (may be NULL when cap
 * is 0); *n (optional) gets how many were flagged in total. 0 or -1 with err.
 */
int mf_runs_mark_stalled(PGconn *conn, long long stall_s, mf_runs_stalled *out, size_t cap,
                         size_t *n, mf_err *err);

int mf_runs_recount_check(PGconn *conn, const char *run_id_text, char **mismatches, mf_err *err);

#endif
