/* rep_store: one batch of results into PostgreSQL in one transaction (rows, counters, offsets). */
#ifndef REP_STORE_H
#define REP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "mf_log.h"
#include "mf_uuid.h"
#include "rep_rows.h"

typedef struct rep_store rep_store;

/* Next offset to store for one partition of the results topic, and how far the delivery
 * reports among the batch's results from it reach: the latest send time (epoch ms) of a
 * message whose report (result `rpt`) is in the batch, 0 = none (kept for the status poller,
 * mf_consumer_offsets.reports_sent_upto). */
typedef struct rep_offset {
    int32_t partition;
    int64_t next_offset;
    int64_t reports_sent_ms;
} rep_offset;

/* The message_logs.status text of a REP_ST_* value (rep_rows.h; a static string). */
const char *rep_store_status_name(int st);

/* What one batch changed (for logs, metrics and tests). The by-status counts come from the
 * statements' RETURNING rows, so they agree with the database. */
typedef struct rep_store_stats {
    long long inserted;      /* message_logs rows inserted */
    long long direct;        /* of those, inserted by the direct COPY (the rest: staging path) */
    long long finalized;     /* rows made delivered/failed by a later outcome: updated, or
                              * inserted final with one that waited for them */
    long long early_parked;  /* later outcomes whose row did not exist yet, kept waiting */
    long long early_applied; /* of finalized, waiting outcomes applied to rows of this batch */
    long long merged;        /* of finalized, later outcomes of this batch whose rows it
                              * inserted: each row written once, final */
    long long duplicates;    /* results that changed nothing (redelivery, repeats) */
    long long completed;     /* runs completed by this batch */
    int attempts;            /* transactions tried (> 1 after a deadlock) */
    long long ins_status[REP_ST_N]; /* rows inserted, by their status (REP_ST_*) */
    long long upd_status[REP_ST_N]; /* 'sent' rows updated to delivered / failed */
} rep_store_stats;

/*
 * group and topic (full name) are copied: they key mf_consumer_offsets. price_ttl_ms: how long
 * the coolsms_prices setting stays cached (rep_price). log may be NULL. Free with rep_store_free.
 */
rep_store *rep_store_new(const char *group, const char *topic, long long price_ttl_ms, mf_log *log,
                         mf_err *err);
void rep_store_free(rep_store *st);

/*
 * Which runs named by the results exist: missing[i] = 1 for each result whose run is not in
 * workflow_runs (the caller dead-letters those: message_logs.workflow_run_id is a foreign key).
 * Runs outside a transaction. 0 or -1.
 */
int rep_store_find_missing_runs(rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                                unsigned char *missing, mf_err *err);

/*
 * The batch transaction (BEGIN ... COMMIT on conn, which must be idle): insert first outcomes,
 * apply later outcomes, adjust run and daily counters from the rows actually changed, upsert
 * the offsets, try to complete every touched run, refresh the statistics of touched completed
 * runs' workflows. Retried on deadlock / serialization failure (up to 5 times). Results are
 * read only during the call. stats may be NULL. Returns 0 or -1 with err (nothing written).
 */
int rep_store_write(rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                    const rep_offset *offs, size_t noffs, rep_store_stats *stats, mf_err *err);

/* The step of the batch transaction where the last failed rep_store_write failed: rows
 * (message_logs inserts and updates), counters (run locks, run and daily counters), offsets,
 * completion (mf_runs_try_complete, workflow statistics), commit. A data error at the rows
 * step is one row's; at a later step it is the run's or the day's (docs/reporter.md). */
typedef enum rep_step {
    REP_STEP_NONE = 0,
    REP_STEP_ROWS,
    REP_STEP_COUNTERS,
    REP_STEP_OFFSETS,
    REP_STEP_COMPLETION,
    REP_STEP_COMMIT
} rep_step;
rep_step rep_store_failed_step(const rep_store *st);
const char *rep_store_step_name(rep_step step);

/* Results of one run that could not be recorded because of a data error (rep_isolate). */
typedef struct rep_problem {
    char run[MF_UUID_STR_SIZE];
    char sqlstate[6];
    rep_step step;
    char error[MF_ERR_MAX];           /* the error without the server's detail (no row data) */
    long long results;                /* results of the run not recorded */
    char first_job[MF_UUID_STR_SIZE]; /* the first of them */
} rep_problem;

/*
 * One transaction (retried on deadlock): append {"ts","event":"data_error","detail":
 * {"sqlstate","error","step","not_recorded","first_job_id"}} to workflow_runs.logs of each
 * problem's run (runs locked in id order, problems sorted here), then upsert the offsets.
 * A run gets at most REP_PROBLEM_LOG_MAX such entries (a run whose every batch fails would
 * otherwise grow its logs by one entry per batch); the dead letters, the metric and the log
 * lines count every result. 0 or -1 with err (nothing written).
 */
#define REP_PROBLEM_LOG_MAX 100
#define REP_PROBLEM_LOG_MAX_S "100"
int rep_store_write_problems(rep_store *st, PGconn *conn, rep_problem *problems, size_t np,
                             const rep_offset *offs, size_t noffs, mf_err *err);

/*
 * Stored next offsets of the results topic for this group: for each parts[i], *offsets[i]
 * becomes the stored next offset, or -1 when none is stored. 0 or -1.
 */
int rep_store_load_offsets(rep_store *st, PGconn *conn, const int32_t *parts, size_t n,
                           int64_t *offsets, mf_err *err);

/*
 * Early final outcomes (mf_early_finals: a delivery report that overtook its message's
 * `accepted` result) still waiting after `days` days are deleted: their row never came (its
 * result was dead-lettered, the row deleted) or was finalised meanwhile by another way.
 * *removed (may be NULL) gets the count. Runs outside a transaction. 0 or -1 with err.
 */
#define REP_EARLY_KEEP_DAYS 7
int rep_store_prune_early(PGconn *conn, int days, long long *removed, mf_err *err);

/* How first outcomes reach message_logs. DIRECT (the default): one COPY straight into
 * message_logs, counters computed here; rows it cannot store unchanged (see
 * rep_rows_direct_ok) take the staging path in the same transaction. A batch with a duplicate
 * (redelivery) or a deleted template is redone through the staging path, which is then used
 * for the next 16 batches. Setting a mode ends such a cool-down.
 * STAGE: COPY into a staging table dropped at commit, then INSERT ... ON CONFLICT DO NOTHING.
 * UNNEST: one INSERT with unnest() of 19 array parameters. All are pooler-safe; the modes are
 * for benchmarks and tests (docs/reporter.md). */
typedef enum rep_insert_mode {
    REP_INSERT_DIRECT = 0,
    REP_INSERT_STAGE,
    REP_INSERT_UNNEST
} rep_insert_mode;
void rep_store_set_insert_mode(rep_store *st, rep_insert_mode mode);

#endif
