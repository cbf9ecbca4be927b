/* rep_store_int: the batch writer's state, shared by rep_store.c and rep_store_insert.c only. */
#ifndef REP_STORE_INT_H
#define REP_STORE_INT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_pgarr.h"
#include "rep_price.h"
#include "rep_rows.h"
#include "rep_sql.h"
#include "rep_store.h"

/* A run of the batch, as locked by REP_SQL_LOCK_RUNS. */
typedef struct run_ref {
    char id[MF_UUID_STR_SIZE];
    char workflow[MF_UUID_STR_SIZE];
    int running;
    int completed;
    int cancelled;
} run_ref;

/* A final outcome for a row the direct COPY is about to insert, so the row is inserted final
 * (rep_store_insert.c): one that waited in mf_early_finals, taken out (deleted) in the batch
 * that inserts the row (strings point into rep_store.early_res), or a later outcome of the
 * batch itself (src; strings point into it). NULL for NULL columns. */
typedef struct rep_early {
    mf_uuid id;
    mf_uuid run; /* the run the report named */
    int failed;  /* 1: failed, 0: delivered */
    long long ts_ms;
    const char *code, *msg, *channel, *pmid;
    const mf_result *src; /* the batch's own later outcome; NULL: from mf_early_finals */
    int joined;           /* a row was inserted final with it */
} rep_early;

struct rep_store {
    char group[256];
    char topic[256];
    mf_log *log;
    rep_price *price; /* frozen while a COPY holds the connection */
    rep_insert_mode mode;
    int stage_ready; /* the staging table exists in the current transaction */
    mf_buf copy;
    mf_pgarr cols[REP_NCOL];
    mf_pgarr ucols[REP_NUCOL];
    mf_pgarr runs;
    mf_buf json;
    rep_rows_pick pick;  /* the batch's results picked for one statement, by job id */
    rep_rows_pick fpick; /* the batch's later outcomes, by job id: picked once per try */
    size_t nfinals;      /* entries of fpick.v */
    run_ref *refs;
    size_t nrefs, refs_cap;
    rep_deltas run_d, day_d;
    int direct_cooldown; /* batches left before the direct COPY is tried again */
    /* early final outcomes of the direct COPY's rows, sorted by job id, and how many rows
     * were inserted final with one (this transaction) */
    PGresult *early_res;
    rep_early *early;
    size_t nearly, early_cap;
    long long joined;
    long long merged;     /* of joined: with a later outcome of the batch itself */
    rep_step failed_step; /* where the last failed write_once failed */
};

/* s, or NULL when s is NULL or empty (the column is NULL then). */
static inline const char *rep_store_empty_null(const char *s)
{
    return (s != NULL && *s != '\0') ? s : NULL;
}

/* Fold the delta rows of an insert / final statement into the batch's deltas; *changed gets
 * the rows changed, `by` the rows by their new status. 0 or -1. */
int rep_store_read_deltas(rep_store *st, const PGresult *res, long long *changed, long long *by,
                          mf_err *err);

/* Run `sql` with the finished arrays as parameters and fold its delta rows. 0 or -1. */
int rep_store_exec_arrays(rep_store *st, PGconn *conn, const char *sql, mf_pgarr *arrs, int narr,
                          long long *changed, long long *by, mf_err *err);

/* *any = 1 when mf_early_finals holds anything at all (one cheap look before a statement by
 * job ids, whose array alone costs tens of ms to plan). 0 or -1. */
int rep_store_early_waiting(PGconn *conn, int *any, mf_err *err);

/* 1 when r, a later outcome of the batch, was written with its row (inserted final by this
 * transaction's direct COPY): the update must skip it. */
int rep_store_merged(const rep_store *st, const mf_result *r);

/* Insert the picked first outcomes st->pick.v[0..m) (rep_store_insert.c). direct: the rows the
 * direct COPY can take go that way, the others through the staging table (or the unnest
 * arrays), in the same transaction. *inserted: rows inserted, *direct_rows: of those by the
 * direct COPY, `by`: rows by status. 0 or -1. */
int rep_store_insert_rows(rep_store *st, PGconn *conn, size_t m, int direct, long long *inserted,
                          long long *direct_rows, long long *by, mf_err *err);

#endif
