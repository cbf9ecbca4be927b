/* rep_store_insert: first outcomes into message_logs (direct COPY, staging table, unnest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "mf_uuid.h"
#include "rep_store_int.h"

/* Bytes of direct-COPY rows built before they are sent (the server starts on them while the
 * rest of the batch is built). */
#define COPY_SLICE ((size_t)256 * 1024)

static int row_values(rep_store *st, PGconn *conn, const mf_result *r, rep_row *row, mf_err *err)
{
    double price = 0;

    if (rep_rows_charged(r) &&
        rep_price_get(st->price, conn, rep_rows_carried(r), &price, err) != 0)
        return -1;
    rep_rows_values(r, price, row);
    return 0;
}

static int copy_row(mf_buf *b, const char *const *v, int n, mf_err *err)
{
    int i;

    for (i = 0; i < n; i++)
        if (mf_pg_copy_field(b, v[i], i == 0, err) != 0)
            return -1;
    return mf_buf_append_char(b, '\n', err);
}

/* One row for the staging table or the unnest arrays (any status). */
static int add_insert_row(rep_store *st, PGconn *conn, const mf_result *r, mf_err *err)
{
    const char *v[REP_NCOL];
    rep_row row;
    char cost[32], id[MF_UUID_STR_SIZE], run[MF_UUID_STR_SIZE], tpl[MF_UUID_STR_SIZE];
    char att[16], s_sent[24], s_del[24], s_fail[24];
    int i;

    if (row_values(st, conn, r, &row, err) != 0)
        return -1;
    rep_rows_format_cents(row.cents, cost, sizeof(cost));
    snprintf(att, sizeof(att), "%d", row.attempt);
    snprintf(s_sent, sizeof(s_sent), "%lld", row.sent);
    snprintf(s_del, sizeof(s_del), "%lld", row.delivered);
    snprintf(s_fail, sizeof(s_fail), "%lld", row.failed);
    if (r->vars.n > 0 && rep_rows_vars_json(&st->json, &r->vars, err) != 0)
        return -1;
    v[REP_COL_ID] = mf_uuid_format(&r->id, id);
    v[REP_COL_RUN] = mf_uuid_format(&r->run, run);
    v[REP_COL_TPL] = mf_uuid_format(&r->tpl, tpl);
    v[REP_COL_ATT] = att;
    v[REP_COL_STATUS] = rep_rows_status_name(row.st);
    v[REP_COL_PHONE] = r->to;
    v[REP_COL_NAME] = rep_store_empty_null(r->name);
    v[REP_COL_TYPE] = mf_msg_type_name(r->type);
    v[REP_COL_TEXT] = r->text;
    v[REP_COL_VARS] = r->vars.n > 0 ? st->json.data : "{}";
    v[REP_COL_PMID] = rep_store_empty_null(r->provider_msg_id);
    v[REP_COL_GID] = rep_store_empty_null(r->group_id);
    v[REP_COL_CODE] = rep_store_empty_null(r->code);
    v[REP_COL_MSG] = rep_store_empty_null(r->msg);
    v[REP_COL_COST] = cost;
    v[REP_COL_SENT] = row.sent > 0 ? s_sent : NULL;
    v[REP_COL_DELIVERED] = row.delivered > 0 ? s_del : NULL;
    v[REP_COL_FAILED] = row.failed > 0 ? s_fail : NULL;
    v[REP_COL_CHANNEL] = mf_msg_type_name(r->channel);
    if (st->mode != REP_INSERT_UNNEST)
        return copy_row(&st->copy, v, REP_NCOL, err);
    for (i = 0; i < REP_NCOL; i++)
        if (mf_pgarr_add(&st->cols[i], v[i], err) != 0)
            return -1;
    return 0;
}

/* ---- early final outcomes: the row is inserted final ------------------------------------ */

static int cmp_early(const void *a, const void *b)
{
    return memcmp(&((const rep_early *)a)->id, &((const rep_early *)b)->id, sizeof(mf_uuid));
}

static const char *col_or_null(const PGresult *q, int row, int col)
{
    return PQgetisnull(q, row, col) ? NULL : PQgetvalue(q, row, col);
}

static int early_reserve(rep_store *st, size_t n, mf_err *err)
{
    rep_early *p;

    if (n <= st->early_cap)
        return 0;
    if ((p = realloc(st->early, n * sizeof(*p))) == NULL)
        return mf_err_set(err, "out of memory");
    st->early = p;
    st->early_cap = n;
    return 0;
}

/* Reads REP_SQL_EARLY_TAKE's rows into st->early (sorted by job id); st->early_res keeps q. */
static int read_early(rep_store *st, PGresult *q, mf_err *err)
{
    size_t n = (size_t)PQntuples(q), k = 0;

    if (early_reserve(st, n, err) != 0) {
        PQclear(q);
        return -1;
    }
    for (int i = 0; i < (int)n; i++) {
        rep_early *e = &st->early[k];

        if (mf_uuid_parse(PQgetvalue(q, i, 0), &e->id, NULL) != 0 ||
            mf_uuid_parse(PQgetvalue(q, i, 7), &e->run, NULL) != 0)
            continue; /* (uuid columns: always parse) */
        e->failed = strcmp(PQgetvalue(q, i, 1), "failed") == 0;
        e->ts_ms = strtoll(PQgetvalue(q, i, 2), NULL, 10);
        e->code = col_or_null(q, i, 3);
        e->msg = col_or_null(q, i, 4);
        e->channel = col_or_null(q, i, 5);
        e->pmid = col_or_null(q, i, 6);
        e->src = NULL;
        e->joined = 0;
        k++;
    }
    qsort(st->early, k, sizeof(*st->early), cmp_early);
    st->early_res = q;
    st->nearly = k;
    return 0;
}

static rep_early *find_early(const rep_store *st, size_t n, const mf_uuid *id)
{
    rep_early key;

    if (n == 0)
        return NULL;
    key.id = *id;
    return bsearch(&key, st->early, n, sizeof(*st->early), cmp_early);
}

/* The batch's own later outcomes (one per job, the first wins) join the rows inserted with
 * them: while the reporters lag behind the senders, a message's `accepted` and its delivery
 * report often come in the same batch, and the row is then written once, final, instead of
 * inserted `sent` and updated in the same transaction. An outcome that waited in
 * mf_early_finals for the same job stays first (it came earlier, as the statements order
 * them: the waiting one is applied, the batch's finds the row final). */
static int add_batch_finals(rep_store *st, mf_err *err)
{
    size_t waiting = st->nearly;

    if (st->nfinals == 0)
        return 0;
    if (early_reserve(st, waiting + st->nfinals, err) != 0)
        return -1;
    for (size_t i = 0; i < st->nfinals; i++) {
        const mf_result *r = st->fpick.v[i];
        rep_early *e = &st->early[st->nearly];

        if (find_early(st, waiting, &r->id) != NULL)
            continue;
        e->id = r->id;
        e->run = r->run;
        e->failed = r->status != MF_RESULT_DELIVERED;
        e->ts_ms = r->ts_ms;
        e->code = rep_store_empty_null(r->code);
        e->msg = rep_store_empty_null(r->msg);
        e->channel = mf_msg_type_name(r->channel);
        e->pmid = rep_store_empty_null(r->provider_msg_id);
        e->src = r;
        e->joined = 0;
        st->nearly++;
    }
    if (st->nearly > waiting)
        qsort(st->early, st->nearly, sizeof(*st->early), cmp_early);
    return 0;
}

/* Final outcomes for the accepted results among rows[0..m), so those rows are inserted
 * delivered or failed instead of being inserted `sent` and updated: an update of a row cannot
 * be HOT here (the seed indexes `status`) and costs about what its insert did. Those waiting
 * in mf_early_finals (docs/reporter.md, "Early reports") are taken out in this transaction,
 * after one look whether anything waits at all; then the batch's own (add_batch_finals). */
static int take_early(rep_store *st, PGconn *conn, const mf_result *const *rows, size_t m,
                      mf_err *err)
{
    mf_pgarr *ids = &st->ucols[REP_UCOL_ID];
    const char *params[1];
    char id[MF_UUID_STR_SIZE];
    PGresult *q;
    size_t i, accepted = 0;
    int any = 0;

    mf_pgarr_reset(ids);
    for (i = 0; i < m; i++) {
        if (rows[i]->status != MF_RESULT_ACCEPTED)
            continue;
        if (mf_pgarr_add(ids, mf_uuid_format(&rows[i]->id, id), err) != 0)
            return -1;
        accepted++;
    }
    if (accepted == 0)
        return 0;
    if (rep_store_early_waiting(conn, &any, err) != 0)
        return -1;
    if (any) {
        if ((params[0] = mf_pgarr_finish(ids, err)) == NULL)
            return -1;
        if ((q = mf_pg_query(conn, REP_SQL_EARLY_TAKE, 1, params, err)) == NULL)
            return mf_err_prefix(err, "could not take early final outcomes");
        if (read_early(st, q, err) != 0)
            return -1;
    }
    return add_batch_finals(st, err);
}

static rep_early *early_for(const rep_store *st, const mf_result *r)
{
    if (r->status != MF_RESULT_ACCEPTED)
        return NULL;
    return find_early(st, st->nearly, &r->id);
}

int rep_store_merged(const rep_store *st, const mf_result *r)
{
    const rep_early *e = find_early(st, st->nearly, &r->id);

    return e != NULL && e->src == r && e->joined;
}

/* Row values of an accepted result joined with the final outcome that waited for it: what
 * REP_SQL_FINAL would make of the inserted row (time never before sent_at; a failure costs
 * nothing). 0 when the outcome is about another provider message (an earlier attempt: stale)
 * or names another run, dropped as the statement drops it. */
static int join_early(const rep_early *e, const mf_result *r, rep_row *row)
{
    long long ts;

    if (memcmp(&e->run, &r->run, sizeof(e->run)) != 0)
        return 0;
    if (e->pmid != NULL && r->provider_msg_id != NULL && r->provider_msg_id[0] != '\0' &&
        strcmp(e->pmid, r->provider_msg_id) != 0)
        return 0;
    ts = e->ts_ms > row->sent ? e->ts_ms : row->sent;
    if (e->failed) {
        row->st = REP_ST_FAILED;
        row->failed = ts;
        row->cents = 0;
    } else {
        row->st = REP_ST_DELIVERED;
        row->delivered = ts;
    }
    return 1;
}

/* The first 50 characters of UTF-8 text s (error_code is VARCHAR(50); the statement takes
 * left(code, 50)) into out (201 bytes: 50 characters of at most 4 bytes). */
static const char *first_50(const char *s, char out[201])
{
    size_t i, chars = 0;

    if (s == NULL)
        return NULL;
    for (i = 0; s[i] != '\0' && i < 200; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue; /* inside a character */
        if (chars == 50)
            break;
        chars++;
    }
    memcpy(out, s, i);
    out[i] = '\0';
    return out;
}

/* One message_logs row for the direct COPY (columns of REP_SQL_DIRECT_COPY), and its deltas. */
static int add_direct_row(rep_store *st, PGconn *conn, const mf_result *r, long long *by,
                          mf_err *err)
{
    const char *v[21];
    rep_early *e;
    rep_row row;
    char cost[32], id[MF_UUID_STR_SIZE], run[MF_UUID_STR_SIZE], tpl[MF_UUID_STR_SIZE];
    char att[16], t_sent[40], t_del[40], t_fail[40], code[201];
    int failed, joined;

    if (row_values(st, conn, r, &row, err) != 0)
        return -1;
    e = early_for(st, r);
    joined = e != NULL && join_early(e, r, &row);
    if (joined) {
        e->joined = 1;
        st->joined++;
        st->merged += e->src != NULL;
    }
    failed = rep_rows_is_failed(&row);
    rep_rows_format_cents(row.cents, cost, sizeof(cost));
    snprintf(att, sizeof(att), "%d", row.attempt);
    if (r->vars.n > 0 && rep_rows_vars_json(&st->json, &r->vars, err) != 0)
        return -1;
    v[0] = mf_uuid_format(&r->id, id);
    v[1] = mf_uuid_format(&r->run, run);
    v[2] = mf_uuid_is_nil(&r->tpl) ? NULL : mf_uuid_format(&r->tpl, tpl);
    v[3] = r->to;
    v[4] = rep_store_empty_null(r->name);
    v[5] = mf_msg_type_name(r->type);
    v[6] = r->text;
    v[7] = r->vars.n > 0 ? st->json.data : "{}";
    v[8] = rep_rows_status_name(row.st);
    v[9] = "coolsms";
    v[10] = rep_store_empty_null(r->provider_msg_id);
    v[11] = cost;
    v[12] = rep_rows_format_ts(row.sent, t_sent, sizeof(t_sent));
    v[13] = rep_rows_format_ts(row.delivered, t_del, sizeof(t_del));
    v[14] = rep_rows_format_ts(row.failed, t_fail, sizeof(t_fail));
    v[15] = !failed ? NULL : (joined ? first_50(e->code, code) : rep_store_empty_null(r->code));
    v[16] = !failed ? NULL : (joined ? e->msg : rep_store_empty_null(r->msg));
    v[17] = att;
    v[18] = joined && e->channel != NULL ? e->channel : mf_msg_type_name(r->channel);
    v[19] = rep_store_empty_null(r->group_id);
    v[20] = joined && e->code != NULL ? e->code : rep_store_empty_null(r->code);
    if (copy_row(&st->copy, v, 21, err) != 0)
        return -1;
    return rep_rows_add_deltas(&st->run_d, &st->day_d, v[1], &row, by, err);
}

/* Sends the rows built so far into the open COPY and empties the buffer. */
static int send_slice(rep_store *st, PGconn *conn, mf_err *err)
{
    if (st->copy.len > 0 && mf_pg_copy_put(conn, st->copy.data, st->copy.len, err) != 0)
        return -1;
    mf_buf_reset(&st->copy);
    return 0;
}

/* COPY the selected first outcomes straight into message_logs: all are new, or it fails.
 * The rows go out in slices while the rest are still being built, so the server's work on
 * the first rows overlaps the client's on the last (the backend otherwise idled while the
 * reporter built the whole batch). The connection is busy meanwhile: prices come from the
 * cache, refreshed before the COPY starts. */
static int insert_direct(rep_store *st, PGconn *conn, const mf_result *const *rows_in, size_t m,
                         long long *inserted, long long *by, mf_err *err)
{
    long long rows = 0;
    double unused;
    size_t i;
    int rc = -1;

    if (rep_price_get(st->price, conn, MF_TYPE_SMS, &unused, err) != 0 ||
        mf_pg_copy_begin(conn, REP_SQL_DIRECT_COPY, err) != 0)
        return -1;
    rep_price_freeze(st->price, 1);
    mf_buf_reset(&st->copy);
    for (i = 0; i < m; i++) {
        if (add_direct_row(st, conn, rows_in[i], by, err) != 0 ||
            (st->copy.len >= COPY_SLICE && send_slice(st, conn, err) != 0)) {
            mf_pg_copy_abort(conn, "client could not build or send the rows");
            goto out;
        }
    }
    if (send_slice(st, conn, err) != 0) {
        mf_pg_copy_abort(conn, "client could not send the rows");
        goto out;
    }
    if (mf_pg_copy_end(conn, &rows, err) != 0) {
        mf_err_prefix(err, "could not copy %zu message_logs rows", m);
        goto out;
    }
    *inserted = rows;
    rc = 0;
out:
    rep_price_freeze(st->price, 0);
    return rc;
}

/* Insert rows[0..m) through the staging table (or unnest arrays): duplicates and vanished
 * templates are handled there. */
static int insert_checked(rep_store *st, PGconn *conn, const mf_result *const *rows, size_t m,
                          long long *inserted, long long *by, mf_err *err)
{
    size_t i;
    PGresult *res;
    int rc;

    *inserted = 0;
    if (m == 0)
        return 0;
    for (i = 0; i < REP_NCOL; i++)
        mf_pgarr_reset(&st->cols[i]);
    mf_buf_reset(&st->copy);
    for (i = 0; i < m; i++)
        if (add_insert_row(st, conn, rows[i], err) != 0)
            return -1;
    if (st->mode == REP_INSERT_UNNEST) {
        if (rep_store_exec_arrays(st, conn, REP_SQL_INSERT_UNNEST, st->cols, REP_NCOL, inserted, by,
                                  err) != 0)
            return mf_err_prefix(err, "could not insert %zu message_logs rows", m);
        return 0;
    }
    if (mf_pg_exec(conn, st->stage_ready ? REP_SQL_STAGE_TRUNCATE : REP_SQL_STAGE_CREATE, err) !=
            0 ||
        mf_pg_copy_in(conn, REP_SQL_STAGE_COPY, st->copy.data, st->copy.len, NULL, err) != 0)
        return mf_err_prefix(err, "could not stage %zu message_logs rows", m);
    st->stage_ready = 1;
    res = mf_pg_query(conn, REP_SQL_INSERT_STAGE, 0, NULL, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not insert %zu message_logs rows", m);
    rc = rep_store_read_deltas(st, res, inserted, by, err);
    PQclear(res);
    return rc;
}

/* The others than the direct COPY's go through insert_checked. */
int rep_store_insert_rows(rep_store *st, PGconn *conn, size_t m, int direct, long long *inserted,
                          long long *direct_rows, long long *by, mf_err *err)
{
    size_t d = direct ? rep_rows_partition_direct(st->pick.v, m) : 0;
    long long checked = 0;

    *inserted = *direct_rows = 0;
    rep_rows_sort_run_phone(st->pick.v, d); /* unique ids: any order */
    if (d > 0 && (take_early(st, conn, st->pick.v, d, err) != 0 ||
                  insert_direct(st, conn, st->pick.v, d, direct_rows, by, err) != 0))
        return -1;
    if (insert_checked(st, conn, st->pick.v + d, m - d, &checked, by, err) != 0)
        return -1;
    *inserted = *direct_rows + checked;
    return 0;
}
