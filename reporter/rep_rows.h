/* rep_rows: pure helpers of the batch's rows (row values, money, Seoul dates, deltas, picks). */
#ifndef REP_ROWS_H
#define REP_ROWS_H

#include <stddef.h>

#include "mf_buf.h"
#include "mf_codec.h"
#include "mf_err.h"
#include "mf_uuid.h"

/* Statuses of message_logs rows (rep_store_stats counts by them). */
enum { REP_ST_SENT, REP_ST_DELIVERED, REP_ST_FAILED, REP_ST_CANCELLED, REP_ST_N };

/* The message_logs.status text of a REP_ST_* value (a static string; "failed" when out of
 * range). */
const char *rep_rows_status_name(int st);

/* One result as the values of its message_logs row (the mapping is in docs/reporter.md). */
typedef struct rep_row {
    int st;                            /* REP_ST_*: the row's status */
    long long sent, delivered, failed; /* epoch ms, 0: NULL */
    long long cents;                   /* cost */
    int attempt;
} rep_row;

/* Whether the row of r costs its price (accepted and delivered results; a failure is free). */
int rep_rows_charged(const mf_result *r);

/* The type whose price a charged result pays: the channel that carried it, else its type. */
mf_msg_type rep_rows_carried(const mf_result *r);

/* The row of r; price (KRW) is the price of rep_rows_carried(r), used only when
 * rep_rows_charged(r) (rounded to hundredths). */
void rep_rows_values(const mf_result *r, double price, rep_row *row);

/* Whether the row counts as failed (failed or cancelled). */
int rep_rows_is_failed(const rep_row *row);

/* Hundredths of a won as numeric text ("-12.30", "0.05") into out (cap bytes, 32 is plenty). */
void rep_rows_format_cents(long long cents, char *out, size_t cap);

/* Numeric text ("-12.3", "7", "0.05", "+1.50") to hundredths. No digit before the point, a
 * third decimal that is not 0, anything after the number or more than about 9e14 units is an
 * error naming the text; *out is untouched then. 0 or -1. */
int rep_rows_parse_cents(const char *txt, long long *out, mf_err *err);

/* Epoch ms as a timestamptz literal in UTC ("2026-01-02 03:04:05.678+00") in out; NULL for
 * ms <= 0 (the column is NULL) or when out is too small (40 bytes is enough). */
const char *rep_rows_format_ts(long long ms, char *out, size_t cap);

/* The Asia/Seoul calendar date (YYYY-MM-DD) of epoch ms into out (11 bytes or more); Korea
 * keeps UTC+9 all year. */
void rep_rows_seoul_date(long long ms, char *out, size_t cap);

/* What a batch changed on one run (key: run id) or one Seoul date (key: YYYY-MM-DD). Costs are
 * in hundredths of a won: message_logs.cost is DECIMAL(8,2), so the sums are exact. */
typedef struct rep_delta {
    char key[MF_UUID_STR_SIZE];
    long long success, failed, cents;
} rep_delta;

/* A set of deltas by key, in the order the keys came; zero it to start, free with
 * rep_deltas_free. Empty it for the next batch with n = 0. */
typedef struct rep_deltas {
    rep_delta *d;
    size_t n, cap;
} rep_deltas;

/* Adds to the delta of key (a copy, truncated to MF_UUID_STR_SIZE - 1), creating it. 0 or -1
 * (out of memory). */
int rep_deltas_add(rep_deltas *ds, const char *key, long long success, long long failed,
                   long long cents, mf_err *err);
void rep_deltas_free(rep_deltas *ds);

/* The deltas a freshly inserted row of run `run` adds (what the insert statement computes in
 * SQL): +1 success or failed and the cost on the run; on the Seoul date of sent_at (success,
 * with the cost) or of failed_at (failed). by[row->st] is incremented. 0 or -1. */
int rep_rows_add_deltas(rep_deltas *runs, rep_deltas *days, const char *run, const rep_row *row,
                        long long *by, mf_err *err);

/* Whether a result can go through the direct COPY unchanged: the staging INSERT trims some
 * values (left()) and falls back to the template's type; such rare rows take that path. */
int rep_rows_direct_ok(const mf_result *r);

/* A reusable array of result pointers (the results are the caller's); zero it to start. */
typedef struct rep_rows_pick {
    const mf_result **v;
    size_t cap;
} rep_rows_pick;

/* Picks the first outcomes of res[0..n) (accepted, failed, cancelled), or with finals the
 * later ones (delivered, undelivered), sorted by job id, the earliest result of each job
 * only, into pick->v. Returns their count, or -1 (out of memory). */
long rep_rows_pick_unique(rep_rows_pick *pick, const mf_result *res, size_t n, int finals,
                          mf_err *err);
void rep_rows_pick_free(rep_rows_pick *pick);

/* Moves the results of v[0..m) that can take the direct COPY to the front (rep_rows_direct_ok)
 * and returns their count. */
size_t rep_rows_partition_direct(const mf_result **v, size_t m);

/* Sorts v[0..m) by (run, recipient phone): the order of the direct COPY's rows. */
void rep_rows_sort_run_phone(const mf_result **v, size_t m);

/* The variables of a result as a JSON object ({"name":"value",...}) into b (reset first).
 * 0 or -1. */
int rep_rows_vars_json(mf_buf *b, const mf_codec_map *m, mf_err *err);

#endif
