/* rep_store: one batch of results into PostgreSQL in one transaction (rows, counters, offsets). */
#include "rep_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "mf_runs.h"
#include "mf_uuid.h"
#include "rep_optout.h"
#include "rep_store_int.h"

#define MAX_ATTEMPTS 5

/* Batches that use the staging path after a direct COPY met a duplicate (a redelivery or a
 * rebalance: more duplicates are likely to follow, and each failed COPY costs a rollback). */
#define DIRECT_COOLDOWN_BATCHES 16

rep_store *rep_store_new(const char *group, const char *topic, long long price_ttl_ms, mf_log *log,
                         mf_err *err)
{
    rep_store *st = calloc(1, sizeof(*st));
    size_t i;

    if (st == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(st->group, sizeof(st->group), "%s", group);
    snprintf(st->topic, sizeof(st->topic), "%s", topic);
    st->log = log;
    st->price = rep_price_new(price_ttl_ms, log, err);
    if (st->price == NULL) {
        free(st);
        return NULL;
    }
    for (i = 0; i < REP_NCOL; i++)
        mf_pgarr_init(&st->cols[i]);
    for (i = 0; i < REP_NUCOL; i++)
        mf_pgarr_init(&st->ucols[i]);
    mf_pgarr_init(&st->runs);
    mf_buf_init(&st->json, 0);
    mf_buf_init(&st->copy, (size_t)256 * 1024 * 1024);
    st->mode = REP_INSERT_DIRECT;
    return st;
}

void rep_store_free(rep_store *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < REP_NCOL; i++)
        mf_pgarr_free(&st->cols[i]);
    for (i = 0; i < REP_NUCOL; i++)
        mf_pgarr_free(&st->ucols[i]);
    mf_pgarr_free(&st->runs);
    mf_buf_free(&st->json);
    mf_buf_free(&st->copy);
    rep_rows_pick_free(&st->pick);
    rep_rows_pick_free(&st->fpick);
    free(st->refs);
    rep_deltas_free(&st->run_d);
    rep_deltas_free(&st->day_d);
    rep_price_free(st->price);
    PQclear(st->early_res);
    free(st->early);
    free(st);
}

/* ---- helpers ---------------------------------------------------------------------------- */

void rep_store_set_insert_mode(rep_store *st, rep_insert_mode mode)
{
    st->mode = mode;
    st->direct_cooldown = 0;
}

static int add_uuid(mf_pgarr *a, const mf_uuid *u, mf_err *err)
{
    char txt[MF_UUID_STR_SIZE];

    return mf_pgarr_add(a, mf_uuid_format(u, txt), err);
}

const char *rep_store_status_name(int st)
{
    return rep_rows_status_name(st);
}

static long long res_ll(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int rep_store_read_deltas(rep_store *st, const PGresult *res, long long *changed, long long *by,
                          mf_err *err)
{
    int i, k;

    *changed = 0;
    if (PQnfields(res) < 5 + REP_ST_N)
        return mf_err_set(err, "delta statement returned %d columns", PQnfields(res));
    for (i = 0; i < PQntuples(res); i++) {
        const char *kind = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
        long long cents = 0;

        if (rep_rows_parse_cents(PQgetisnull(res, i, 4) ? "0" : PQgetvalue(res, i, 4), &cents,
                                 err) != 0)
            return -1;
        if (rep_deltas_add(kind[0] == 'r' ? &st->run_d : &st->day_d, key, res_ll(res, i, 2),
                           res_ll(res, i, 3), cents, err) != 0)
            return -1;
        if (kind[0] != 'r')
            continue;
        for (k = 0; k < REP_ST_N; k++) {
            by[k] += res_ll(res, i, 5 + k);
            *changed += res_ll(res, i, 5 + k);
        }
    }
    return 0;
}

int rep_store_exec_arrays(rep_store *st, PGconn *conn, const char *sql, mf_pgarr *arrs, int narr,
                          long long *changed, long long *by, mf_err *err)
{
    const char *params[REP_NCOL];
    PGresult *res;
    int i, rc;

    for (i = 0; i < narr; i++) {
        params[i] = mf_pgarr_finish(&arrs[i], err);
        if (params[i] == NULL)
            return -1;
    }
    res = mf_pg_query(conn, sql, narr, params, err);
    if (res == NULL)
        return -1;
    rc = rep_store_read_deltas(st, res, changed, by, err);
    PQclear(res);
    return rc;
}

/* The batch's later outcomes st->fpick.v[0..nfinals), but those written with their rows by the
 * direct COPY (rep_store_merged): *applied of them go to the update, *updated rows changed. */
static int apply_finals(rep_store *st, PGconn *conn, size_t *applied, long long *updated,
                        long long *by, mf_err *err)
{
    mf_pgarr *u = st->ucols;
    size_t i;

    *updated = 0;
    *applied = 0;
    for (i = 0; i < REP_NUCOL; i++)
        mf_pgarr_reset(&u[i]);
    for (i = 0; i < st->nfinals; i++) {
        const mf_result *r = st->fpick.v[i];

        if (rep_store_merged(st, r))
            continue;
        (*applied)++;
        if (add_uuid(&u[REP_UCOL_ID], &r->id, err) != 0 ||
            mf_pgarr_add(&u[REP_UCOL_STATUS],
                         r->status == MF_RESULT_DELIVERED ? "delivered" : "failed", err) != 0 ||
            mf_pgarr_add_ll(&u[REP_UCOL_TS], r->ts_ms, err) != 0 ||
            mf_pgarr_add(&u[REP_UCOL_CODE], rep_store_empty_null(r->code), err) != 0 ||
            mf_pgarr_add(&u[REP_UCOL_MSG], rep_store_empty_null(r->msg), err) != 0 ||
            mf_pgarr_add(&u[REP_UCOL_CH], mf_msg_type_name(r->channel), err) != 0 ||
            mf_pgarr_add(&u[REP_UCOL_PMID], rep_store_empty_null(r->provider_msg_id), err) != 0 ||
            add_uuid(&u[REP_UCOL_RUN], &r->run, err) != 0)
            return -1;
    }
    if (*applied == 0)
        return 0;
    if (rep_store_exec_arrays(st, conn, REP_SQL_FINAL, u, REP_NUCOL, updated, by, err) != 0)
        return mf_err_prefix(err, "could not apply %zu final outcomes", *applied);
    return 0;
}

int rep_store_early_waiting(PGconn *conn, int *any, mf_err *err)
{
    PGresult *q = mf_pg_query(conn, REP_SQL_EARLY_ANY, 0, NULL, err);

    *any = 0;
    if (q == NULL)
        return mf_err_prefix(err, "could not look for early final outcomes");
    *any = PQntuples(q) == 1 && strcmp(PQgetvalue(q, 0, 0), "t") == 0;
    PQclear(q);
    return 0;
}

/* Early finals waiting for the rows of this batch's accepted results (st->pick.v[0..m), the
 * first outcomes) are applied like later outcomes: one look whether any waits at all, then,
 * only if so, one statement by job id. */
static int apply_early(rep_store *st, PGconn *conn, size_t m, long long *applied, long long *by,
                       mf_err *err)
{
    mf_pgarr *ids = &st->ucols[REP_UCOL_ID];
    size_t i;
    int any = 0;

    *applied = 0;
    for (i = 0; i < m && st->pick.v[i]->status != MF_RESULT_ACCEPTED; i++)
        ;
    if (i == m)
        return 0;
    if (rep_store_early_waiting(conn, &any, err) != 0)
        return -1;
    if (!any)
        return 0;
    mf_pgarr_reset(ids);
    for (i = 0; i < m; i++)
        if (st->pick.v[i]->status == MF_RESULT_ACCEPTED &&
            add_uuid(ids, &st->pick.v[i]->id, err) != 0)
            return -1;
    if (rep_store_exec_arrays(st, conn, REP_SQL_EARLY_APPLY, ids, 1, applied, by, err) != 0)
        return mf_err_prefix(err, "could not apply early final outcomes");
    return 0;
}

/* The later outcomes of apply_finals (still in st->ucols) whose job has no row yet wait in
 * mf_early_finals; one that waits already (a report sent again) changes nothing. */
static int park_early(rep_store *st, PGconn *conn, long long *parked, mf_err *err)
{
    const char *params[REP_NUCOL];
    size_t i;

    for (i = 0; i < REP_NUCOL; i++)
        if ((params[i] = mf_pgarr_finish(&st->ucols[i], err)) == NULL)
            return -1;
    if (mf_pg_command(conn, REP_SQL_EARLY_PARK, REP_NUCOL, params, parked, err) != 0)
        return mf_err_prefix(err, "could not keep early final outcomes");
    return 0;
}

int rep_store_prune_early(PGconn *conn, int days, long long *removed, mf_err *err)
{
    char d[16];
    const char *params[1] = {d};

    snprintf(d, sizeof(d), "%d", days);
    if (mf_pg_command(conn, REP_SQL_EARLY_PRUNE, 1, params, removed, err) != 0)
        return mf_err_prefix(err, "could not prune early final outcomes");
    return 0;
}

static int add_ref(rep_store *st, const char *id, const char *status, const char *wf, mf_err *err)
{
    run_ref *r;

    if (st->nrefs == st->refs_cap) {
        size_t cap = st->refs_cap ? st->refs_cap * 2 : 16;
        run_ref *p = realloc(st->refs, cap * sizeof(*p));

        if (p == NULL)
            return mf_err_set(err, "out of memory");
        st->refs = p;
        st->refs_cap = cap;
    }
    r = &st->refs[st->nrefs++];
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    snprintf(r->workflow, sizeof(r->workflow), "%s", wf);
    r->running = strcmp(status, "running") == 0;
    r->completed = strcmp(status, "completed") == 0;
    r->cancelled = strcmp(status, "cancelled") == 0;
    return 0;
}

static int fill_run_ids(rep_store *st, const mf_result *res, size_t n, mf_err *err)
{
    size_t i;

    mf_pgarr_reset(&st->runs);
    for (i = 0; i < n; i++)
        if (add_uuid(&st->runs, &res[i].run, err) != 0)
            return -1;
    return mf_pgarr_finish(&st->runs, err) != NULL ? 0 : -1;
}

static int lock_runs(rep_store *st, PGconn *conn, const mf_result *res, size_t n, mf_err *err)
{
    const char *params[1];
    PGresult *q;
    int i;

    st->nrefs = 0;
    if (fill_run_ids(st, res, n, err) != 0)
        return -1;
    params[0] = st->runs.buf.data;
    q = mf_pg_query(conn, REP_SQL_LOCK_RUNS, 1, params, err);
    if (q == NULL)
        return mf_err_prefix(err, "could not lock the runs of the batch");
    for (i = 0; i < PQntuples(q); i++) {
        if (add_ref(st, PQgetvalue(q, i, 0), PQgetvalue(q, i, 1), PQgetvalue(q, i, 2), err) != 0) {
            PQclear(q);
            return -1;
        }
    }
    PQclear(q);
    return 0;
}

static int store_offsets(rep_store *st, PGconn *conn, const rep_offset *offs, size_t noffs,
                         mf_err *err)
{
    mf_pgarr *p = &st->ucols[0], *o = &st->ucols[1], *s = &st->ucols[2];
    const char *params[5];
    size_t i;

    if (noffs == 0)
        return 0;
    mf_pgarr_reset(p);
    mf_pgarr_reset(o);
    mf_pgarr_reset(s);
    for (i = 0; i < noffs; i++)
        if (mf_pgarr_add_ll(p, offs[i].partition, err) != 0 ||
            mf_pgarr_add_ll(o, offs[i].next_offset, err) != 0 ||
            mf_pgarr_add_ll(s, offs[i].reports_sent_ms, err) != 0)
            return -1;
    params[0] = st->group;
    params[1] = st->topic;
    if ((params[2] = mf_pgarr_finish(p, err)) == NULL ||
        (params[3] = mf_pgarr_finish(o, err)) == NULL ||
        (params[4] = mf_pgarr_finish(s, err)) == NULL)
        return -1;
    if (mf_pg_command(conn, REP_SQL_OFFSETS, 5, params, NULL, err) != 0)
        return mf_err_prefix(err, "could not store the consumer offsets");
    return 0;
}

/* A cancelled run of the batch ends once its last job has its row (status stays
 * 'cancelled'; mf_runs_try_finish_cancelled). */
static int end_cancelled(rep_store *st, PGconn *conn, const run_ref *ref, mf_err *err)
{
    mf_runs_completion c;

    if (mf_runs_try_finish_cancelled(conn, ref->id, &c, err) != 0)
        return -1;
    if (c.completed && st->log != NULL)
        MF_LOG(st->log, MF_LOG_INFO, "cancelled run ended", MF_KV_S("run_id", ref->id),
               MF_KV_I("target", c.target_count), MF_KV_I("success", c.success_count),
               MF_KV_I("failed", c.failed_count),
               MF_KV_I("execution_time_ms", c.execution_time_ms));
    return 0;
}

/* Completion for running runs (and the end of cancelled ones), statistics for completed ones
 * whose counters changed. */
static int after_counts(rep_store *st, PGconn *conn, int changed, rep_store_stats *stats,
                        mf_err *err)
{
    size_t i, j;

    for (i = 0; i < st->nrefs; i++) {
        mf_runs_completion c;

        if (st->refs[i].cancelled && end_cancelled(st, conn, &st->refs[i], err) != 0)
            return -1;
        if (!st->refs[i].running)
            continue;
        if (mf_runs_try_complete(conn, st->refs[i].id, &c, err) != 0)
            return -1;
        if (c.completed) {
            stats->completed++;
            if (st->log != NULL)
                MF_LOG(st->log, MF_LOG_INFO, "run completed", MF_KV_S("run_id", st->refs[i].id),
                       MF_KV_I("target", c.target_count), MF_KV_I("success", c.success_count),
                       MF_KV_I("failed", c.failed_count),
                       MF_KV_I("execution_time_ms", c.execution_time_ms));
        }
    }
    if (!changed)
        return 0;
    for (i = 0; i < st->nrefs; i++) {
        int seen = 0;

        if (!st->refs[i].completed || st->refs[i].workflow[0] == '\0')
            continue;
        for (j = 0; j < i && !seen; j++)
            seen = st->refs[j].completed && strcmp(st->refs[j].workflow, st->refs[i].workflow) == 0;
        if (!seen && mf_runs_refresh_workflow_stats(conn, st->refs[i].workflow, err) != 0)
            return -1;
    }
    return 0;
}

/* Apply the batch's run and day deltas (the run rows are locked already). */
static int apply_deltas(rep_store *st, PGconn *conn, mf_err *err)
{
    rep_deltas *sets[2] = {&st->run_d, &st->day_d};
    const char *sql[2] = {REP_SQL_RUN_DELTAS, REP_SQL_DAY_DELTAS};
    mf_pgarr *a = st->ucols;
    const char *params[4];
    size_t i, k, used;
    char cents[32];

    for (k = 0; k < 2; k++) {
        for (i = 0; i < 4; i++)
            mf_pgarr_reset(&a[i]);
        for (i = 0, used = 0; i < sets[k]->n; i++) {
            const rep_delta *d = &sets[k]->d[i];

            if (d->success == 0 && d->failed == 0 && d->cents == 0)
                continue;
            rep_rows_format_cents(d->cents, cents, sizeof(cents));
            if (mf_pgarr_add(&a[0], d->key, err) != 0 ||
                mf_pgarr_add_ll(&a[1], d->success, err) != 0 ||
                mf_pgarr_add_ll(&a[2], d->failed, err) != 0 || mf_pgarr_add(&a[3], cents, err) != 0)
                return -1;
            used++;
        }
        if (used == 0)
            continue;
        for (i = 0; i < 4; i++)
            if ((params[i] = mf_pgarr_finish(&a[i], err)) == NULL)
                return -1;
        if (mf_pg_command(conn, sql[k], 4, params, NULL, err) != 0)
            return mf_err_prefix(err, "could not update the %s counters", k == 0 ? "run" : "daily");
    }
    return 0;
}

static int direct_conflict(const mf_err *err)
{
    return mf_pg_err_has_sqlstate(err, "23505") || mf_pg_err_has_sqlstate(err, "23503");
}

/* One try of the batch transaction. Rows first (in parallel with other reporters), then the
 * statements that serialize reporters: run locks, counters, offsets, completion. *direct_failed
 * is set when the direct COPY met a duplicate or a missing template (redo without it). */
static int write_once(rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                      const rep_offset *offs, size_t noffs, int direct, rep_store_stats *stats,
                      int *direct_failed, mf_err *err)
{
    long m, f;
    long long ins = 0, upd = 0, early = 0, parked = 0;
    size_t finals = 0;

    st->stage_ready = 0;
    st->joined = st->merged = 0;
    PQclear(st->early_res);
    st->early_res = NULL;
    st->nearly = 0;
    st->run_d.n = st->day_d.n = 0;
    *direct_failed = 0;
    st->failed_step = REP_STEP_NONE;
    if (mf_pg_begin(conn, err) != 0)
        return -1;
    if (mf_pg_exec(conn, REP_SQL_TX_COSTS, err) != 0)
        goto fail;
    st->failed_step = REP_STEP_ROWS;
    if ((m = rep_rows_pick_unique(&st->pick, res, n, 0, err)) < 0 ||
        (f = rep_rows_pick_unique(&st->fpick, res, n, 1, err)) < 0)
        goto fail;
    st->nfinals = (size_t)f;
    if (rep_store_insert_rows(st, conn, (size_t)m, direct, &ins, &stats->direct, stats->ins_status,
                              err) != 0) {
        *direct_failed = direct && direct_conflict(err);
        goto fail;
    }
    /* (the direct COPY took what waited for its rows: only the other paths' rows may have
     * something waiting still) */
    if (stats->direct < ins &&
        apply_early(st, conn, (size_t)m, &early, stats->upd_status, err) != 0)
        goto fail;
    if (apply_finals(st, conn, &finals, &upd, stats->upd_status, err) != 0)
        goto fail;
    /* A final outcome whose job has no row yet (it overtook its `accepted`) waits for it. */
    if (upd < (long long)finals && park_early(st, conn, &parked, err) != 0)
        goto fail;
    /* 080 opt-outs and blocked numbers reported by the provider join the opt-out list */
    if (rep_optout_record(conn, res, n, NULL, err) != 0)
        goto fail;
    st->failed_step = REP_STEP_COUNTERS;
    if ((n > 0 && lock_runs(st, conn, res, n, err) != 0) || apply_deltas(st, conn, err) != 0)
        goto fail;
    st->failed_step = REP_STEP_OFFSETS;
    if (store_offsets(st, conn, offs, noffs, err) != 0)
        goto fail;
    stats->inserted = ins;
    stats->finalized = upd + early + st->joined;
    stats->early_parked = parked;
    stats->early_applied = early + st->joined - st->merged;
    stats->merged = st->merged;
    stats->duplicates = (long long)n - ins - upd - parked - st->merged;
    st->failed_step = REP_STEP_COMPLETION;
    if (after_counts(st, conn, ins + upd + early > 0, stats, err) != 0)
        goto fail;
    st->failed_step = REP_STEP_COMMIT;
    if (mf_pg_commit(conn, err) != 0)
        return -1;
    st->failed_step = REP_STEP_NONE;
    return 0;
fail:
    mf_pg_rollback(conn);
    return -1;
}

static int retryable(const mf_err *err)
{
    return mf_pg_err_has_sqlstate(err, "40P01") || mf_pg_err_has_sqlstate(err, "40001");
}

int rep_store_write(rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                    const rep_offset *offs, size_t noffs, rep_store_stats *stats, mf_err *err)
{
    rep_store_stats local;
    int direct = st->mode == REP_INSERT_DIRECT && st->direct_cooldown == 0;
    mf_err e;
    int attempt;

    if (stats == NULL)
        stats = &local;
    if (st->direct_cooldown > 0)
        st->direct_cooldown--;
    for (attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        int direct_failed = 0;

        memset(stats, 0, sizeof(*stats));
        stats->attempts = attempt;
        st->failed_step = REP_STEP_NONE;
        mf_err_clear(&e);
        if (mf_pg_ensure(conn, &e) == 0 &&
            write_once(st, conn, res, n, offs, noffs, direct, stats, &direct_failed, &e) == 0)
            return 0;
        if (direct_failed) {
            /* duplicates (redelivery) or a deleted template: the staging path handles both */
            direct = 0;
            st->direct_cooldown = DIRECT_COOLDOWN_BATCHES;
            continue;
        }
        if (!retryable(&e) || attempt == MAX_ATTEMPTS)
            break;
        if (st->log != NULL)
            mf_log_msgf(st->log, MF_LOG_WARN, "batch transaction retried: %s", e.msg);
    }
    memset(stats, 0, sizeof(*stats));
    return mf_err_set(err, "%s", e.msg);
}

rep_step rep_store_failed_step(const rep_store *st)
{
    return st->failed_step;
}

const char *rep_store_step_name(rep_step step)
{
    static const char *const names[] = {"none",    "rows",       "counters",
                                        "offsets", "completion", "commit"};

    return (int)step >= 0 && (size_t)step < sizeof(names) / sizeof(names[0]) ? names[step] : "none";
}

static int cmp_problem(const void *a, const void *b)
{
    return strcmp(((const rep_problem *)a)->run, ((const rep_problem *)b)->run);
}

static int problems_once(rep_store *st, PGconn *conn, const rep_problem *problems, size_t np,
                         const rep_offset *offs, size_t noffs, mf_err *err)
{
    const char *params[6];
    char count[32];
    PGresult *q;
    size_t i;

    if (mf_pg_begin(conn, err) != 0)
        return -1;
    if (np > 0) {
        mf_pgarr_reset(&st->runs);
        for (i = 0; i < np; i++)
            if (mf_pgarr_add(&st->runs, problems[i].run, err) != 0)
                goto fail;
        if ((params[0] = mf_pgarr_finish(&st->runs, err)) == NULL)
            goto fail;
        q = mf_pg_query(conn, REP_SQL_LOCK_RUNS, 1, params, err);
        if (q == NULL) {
            mf_err_prefix(err, "could not lock the runs of the batch");
            goto fail;
        }
        PQclear(q);
    }
    for (i = 0; i < np; i++) {
        const rep_problem *p = &problems[i];

        snprintf(count, sizeof(count), "%lld", p->results);
        params[0] = p->run;
        params[1] = p->sqlstate;
        params[2] = p->error;
        params[3] = rep_store_step_name(p->step);
        params[4] = count;
        params[5] = p->first_job;
        if (mf_pg_command(conn, REP_SQL_PROBLEM_LOG, 6, params, NULL, err) != 0) {
            mf_err_prefix(err, "could not log the data error of run %s", p->run);
            goto fail;
        }
    }
    if (store_offsets(st, conn, offs, noffs, err) != 0)
        goto fail;
    return mf_pg_commit(conn, err);
fail:
    mf_pg_rollback(conn);
    return -1;
}

int rep_store_write_problems(rep_store *st, PGconn *conn, rep_problem *problems, size_t np,
                             const rep_offset *offs, size_t noffs, mf_err *err)
{
    mf_err e;
    int attempt;

    qsort(problems, np, sizeof(*problems), cmp_problem);
    for (attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        mf_err_clear(&e);
        if (mf_pg_ensure(conn, &e) == 0 &&
            problems_once(st, conn, problems, np, offs, noffs, &e) == 0)
            return 0;
        if (!retryable(&e))
            break;
    }
    return mf_err_set(err, "%s", e.msg);
}

int rep_store_find_missing_runs(rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                                unsigned char *missing, mf_err *err)
{
    const char *params[1];
    PGresult *q;
    size_t i;
    int j;

    if (n == 0)
        return 0;
    if (fill_run_ids(st, res, n, err) != 0)
        return -1;
    params[0] = st->runs.buf.data;
    q = mf_pg_query(conn, REP_SQL_EXISTING_RUNS, 1, params, err);
    if (q == NULL)
        return mf_err_prefix(err, "could not look the runs of the batch up");
    for (i = 0; i < n; i++) {
        char id[MF_UUID_STR_SIZE];

        mf_uuid_format(&res[i].run, id);
        missing[i] = 1;
        for (j = 0; j < PQntuples(q) && missing[i]; j++)
            if (strcmp(PQgetvalue(q, j, 0), id) == 0)
                missing[i] = 0;
    }
    PQclear(q);
    return 0;
}

int rep_store_load_offsets(rep_store *st, PGconn *conn, const int32_t *parts, size_t n,
                           int64_t *offsets, mf_err *err)
{
    const char *params[2] = {st->group, st->topic};
    PGresult *q = mf_pg_query(conn, REP_SQL_LOAD_OFFSETS, 2, params, err);
    size_t i;
    int j;

    if (q == NULL)
        return mf_err_prefix(err, "could not read the stored offsets of group \"%s\"", st->group);
    for (i = 0; i < n; i++) {
        offsets[i] = -1;
        for (j = 0; j < PQntuples(q); j++)
            if (res_ll(q, j, 0) == parts[i])
                offsets[i] = res_ll(q, j, 1);
    }
    PQclear(q);
    return 0;
}
