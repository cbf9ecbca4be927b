/* sender_claims: the durable per-job claims in mf_job_claims, one round trip per batch step. */
#include "sender_claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "mf_uuid.h"

enum { COPY_COOLDOWN_CALLS = 16, OUT_ARRAYS = 8 };

/* The outcome arrays' element types, in the order of add_outcome. */
static const uint32_t out_types[OUT_ARRAYS] = {
    MF_PGBIN_OID_UUID, MF_PGBIN_OID_TEXT, MF_PGBIN_OID_TEXT, MF_PGBIN_OID_TEXT,
    MF_PGBIN_OID_TEXT, MF_PGBIN_OID_TEXT, MF_PGBIN_OID_TEXT, MF_PGBIN_OID_INT8,
};

void sender_claims_init(sender_claims *c)
{
    for (size_t i = 0; i < sizeof(c->a) / sizeof(c->a[0]); i++)
        mf_pgarr_init(&c->a[i]);
    for (size_t i = 0; i < OUT_ARRAYS; i++)
        mf_pgbin_arr_init(&c->out[i], out_types[i]);
    for (size_t i = 0; i < SENDER_CLAIMS_GROUP_ROWS; i++)
        mf_pgbin_arr_init(&c->groups[i], MF_PGBIN_OID_UUID);
    mf_buf_init(&c->copy, 0);
    c->copy_cooldown = 0;
    c->seen = NULL;
    c->seen_cap = 0;
}

void sender_claims_free(sender_claims *c)
{
    for (size_t i = 0; i < sizeof(c->a) / sizeof(c->a[0]); i++)
        mf_pgarr_free(&c->a[i]);
    for (size_t i = 0; i < OUT_ARRAYS; i++)
        mf_pgbin_arr_free(&c->out[i]);
    for (size_t i = 0; i < SENDER_CLAIMS_GROUP_ROWS; i++)
        mf_pgbin_arr_free(&c->groups[i]);
    mf_buf_free(&c->copy);
    free(c->seen);
    c->seen = NULL;
    c->seen_cap = 0;
}

static int begin_all(sender_claims *c, size_t k, mf_err *err)
{
    (void)err;
    for (size_t i = 0; i < k; i++)
        mf_pgarr_reset(&c->a[i]);
    return 0;
}

static int end_all(sender_claims *c, size_t k, const char **params, mf_err *err)
{
    for (size_t i = 0; i < k; i++) {
        params[i] = mf_pgarr_finish(&c->a[i], err);
        if (params[i] == NULL)
            return -1;
    }
    return 0;
}

/* Runs sql and calls fn with the uuid of column 0 of every returned row. */
static int run_returning(PGconn *pg, const char *sql, int np, const char *const *params,
                         sender_claim_id_fn fn, void *arg, mf_err *err)
{
    PGresult *res = mf_pg_query(pg, sql, np, params, err);
    int rc = 0;

    if (res == NULL)
        return -1;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        mf_uuid id;

        rc = mf_uuid_parse(PQgetvalue(res, r, 0), &id, err);
        if (rc == 0 && fn != NULL)
            fn(arg, &id);
    }
    PQclear(res);
    return rc;
}

/* The COPY can take rows that are all 'claimed' (a failed row needs updated_at = now()). */
static int copy_eligible(const sender_claims *c, const sender_claim_in *rows, size_t n)
{
    if (c->copy_cooldown > 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].state, "claimed") != 0)
            return 0;
    return 1;
}

/* One COPY of all rows: the cheap path (no speculative insertion, bulk heap writes, about
 * 40 % less server time per claim than the INSERT ... ON CONFLICT), in binary format: the
 * three uuids of a row cost uuid_in 48 strtoul calls as text. 1: all inserted, 0: a claim
 * already existed (nothing inserted), -1: another error. */
static int copy_claims(sender_claims *c, PGconn *pg, const sender_claim_in *rows, size_t n,
                       const char *claimed_by, const mf_uuid *chunk, mf_err *err)
{
    static const char *sql = "COPY mf_job_claims (job_id, run_id, attempt, state, claimed_by, "
                             "msg_type, content, status_code, message, chunk_id) FROM STDIN "
                             "(FORMAT binary)";
    mf_buf *b = &c->copy;

    mf_buf_reset(b);
    if (mf_pgbin_copy_header(b, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const sender_claim_in *r = &rows[i];

        if (mf_pgbin_copy_row(b, 10, err) != 0 || mf_pgbin_uuid(b, &r->job, err) != 0 ||
            mf_pgbin_uuid(b, &r->run, err) != 0 || mf_pgbin_int4(b, r->attempt, err) != 0 ||
            mf_pgbin_text(b, r->state, err) != 0 || mf_pgbin_text(b, claimed_by, err) != 0 ||
            mf_pgbin_text(b, r->msg_type, err) != 0 || mf_pgbin_text(b, r->content, err) != 0 ||
            mf_pgbin_text(b, r->code, err) != 0 || mf_pgbin_text(b, r->message, err) != 0 ||
            mf_pgbin_uuid(b, chunk, err) != 0)
            return -1;
    }
    if (mf_pgbin_copy_trailer(b, err) != 0)
        return -1;
    if (mf_pg_copy_in(pg, sql, b->data, b->len, NULL, err) == 0)
        return 1;
    return mf_pg_err_has_sqlstate(err, "23505") ? 0 : -1;
}

int sender_claims_insert(sender_claims *c, PGconn *pg, const sender_claim_in *rows, size_t n,
                         const char *claimed_by, const mf_uuid *chunk, sender_claim_id_fn fn,
                         void *arg, mf_err *err)
{
    static const char *sql =
        "INSERT INTO mf_job_claims (job_id, run_id, attempt, state, claimed_by, msg_type, "
        "content, status_code, message, updated_at, chunk_id) "
        "SELECT u.j, u.r, u.a, u.s, $9, u.t, u.c, u.code, u.msg, "
        "CASE WHEN u.s = 'failed' THEN now() END, $10::uuid "
        "FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[], "
        "$7::text[], $8::text[]) AS u(j, r, a, s, t, c, code, msg) "
        "ON CONFLICT (job_id) DO NOTHING RETURNING job_id";
    const char *params[10];
    char ch[MF_UUID_STR_SIZE];
    int ok = 0;

    if (n == 0)
        return 0;
    if (copy_eligible(c, rows, n)) {
        int rc = copy_claims(c, pg, rows, n, claimed_by, chunk, err);

        if (rc < 0)
            return mf_err_prefix(err, "could not insert claims");
        if (rc == 1) {
            for (size_t i = 0; i < n && fn != NULL; i++)
                fn(arg, &rows[i].job);
            return 0;
        }
        c->copy_cooldown = COPY_COOLDOWN_CALLS;
    } else if (c->copy_cooldown > 0) {
        c->copy_cooldown--;
    }
    if (begin_all(c, 8, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const sender_claim_in *r = &rows[i];

        ok = mf_pgarr_add_uuid(&c->a[0], &r->job, err) | mf_pgarr_add_uuid(&c->a[1], &r->run, err) |
             mf_pgarr_add_ll(&c->a[2], r->attempt, err) | mf_pgarr_add(&c->a[3], r->state, err) |
             mf_pgarr_add(&c->a[4], r->msg_type, err) | mf_pgarr_add(&c->a[5], r->content, err) |
             mf_pgarr_add(&c->a[6], r->code, err) | mf_pgarr_add(&c->a[7], r->message, err);
        if (ok != 0)
            return -1;
    }
    if (end_all(c, 8, params, err) != 0)
        return -1;
    params[8] = claimed_by;
    params[9] = mf_uuid_format(chunk, ch);
    if (run_returning(pg, sql, 10, params, fn, arg, err) != 0)
        return mf_err_prefix(err, "could not insert claims");
    return 0;
}

static const char *col(PGresult *res, int r, int f)
{
    return PQgetisnull(res, r, f) ? "" : PQgetvalue(res, r, f);
}

int sender_claims_fetch(sender_claims *c, PGconn *pg, const mf_uuid *jobs, size_t n,
                        long long indoubt_after_ms, sender_claim_row_fn fn, void *arg, mf_err *err)
{
    static const char *sql =
        "SELECT job_id, state, claimed_at::text, coalesce(claimed_by, ''), "
        "coalesce(now() - claimed_at > $2::bigint * interval '1 millisecond', true), "
        "provider_message_id, group_id, status_code, message, msg_type, channel, content, "
        "coalesce((extract(epoch FROM sent_at) * 1000)::bigint, 0), send_group_id "
        "FROM mf_job_claim_states WHERE job_id = ANY($1::uuid[])";
    const char *params[2];
    char age[32];
    PGresult *res;
    int rc = 0;

    if (n == 0)
        return 0;
    if (begin_all(c, 1, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (mf_pgarr_add_uuid(&c->a[0], &jobs[i], err) != 0)
            return -1;
    if (end_all(c, 1, params, err) != 0)
        return -1;
    snprintf(age, sizeof(age), "%lld", indoubt_after_ms);
    params[1] = age;
    res = mf_pg_query(pg, sql, 2, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not read claims");
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        sender_claim_row row;

        memset(&row, 0, sizeof(row));
        rc = mf_uuid_parse(PQgetvalue(res, r, 0), &row.job, err);
        if (rc != 0)
            break;
        row.state = col(res, r, 1);
        row.claimed_at = col(res, r, 2);
        row.claimed_by = col(res, r, 3);
        row.stale = strcmp(col(res, r, 4), "t") == 0;
        row.pmid = col(res, r, 5);
        row.gid = col(res, r, 6);
        row.code = col(res, r, 7);
        row.message = col(res, r, 8);
        row.msg_type = col(res, r, 9);
        row.channel = col(res, r, 10);
        row.content = PQgetisnull(res, r, 11) ? NULL : PQgetvalue(res, r, 11);
        row.sent_ms = strtoll(col(res, r, 12), NULL, 10);
        row.send_gid = col(res, r, 13);
        fn(arg, &row);
    }
    PQclear(res);
    return rc;
}

/* The claim UPDATEs that return the job ids they changed: $1 the jobs, $2.. one text array
 * per texts[k] (n values each), then claimed_by, then `extra` unless NULL. what names the
 * action in the error. */
static int update_returning(sender_claims *c, PGconn *pg, const char *sql, const mf_uuid *jobs,
                            const char *const *const *texts, size_t ntexts, size_t n,
                            const char *claimed_by, const char *extra, sender_claim_id_fn fn,
                            void *arg, const char *what, mf_err *err)
{
    const char *params[8];
    int np = (int)(2 + ntexts);

    if (n == 0)
        return 0;
    if (begin_all(c, 1 + ntexts, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (mf_pgarr_add_uuid(&c->a[0], &jobs[i], err) != 0)
            return -1;
        for (size_t k = 0; k < ntexts; k++)
            if (mf_pgarr_add(&c->a[1 + k], texts[k][i], err) != 0)
                return -1;
    }
    if (end_all(c, 1 + ntexts, params, err) != 0)
        return -1;
    params[1 + ntexts] = claimed_by;
    if (extra != NULL)
        params[np++] = extra;
    if (run_returning(pg, sql, np, params, fn, arg, err) != 0)
        return mf_err_prefix(err, "could not %s claims", what);
    return 0;
}

int sender_claims_take_over(sender_claims *c, PGconn *pg, const mf_uuid *jobs,
                            const char *const *old_claimed_at, const char *const *gids, size_t n,
                            const char *claimed_by, const mf_uuid *chunk, sender_claim_id_fn fn,
                            void *arg, mf_err *err)
{
    static const char *sql =
        "UPDATE mf_job_claims c SET claimed_by = $4, claimed_at = now(), updated_at = now(), "
        "chunk_id = $5::uuid, group_id = coalesce(nullif(u.gid, ''), c.group_id) "
        "FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(j, old, gid) "
        "WHERE c.job_id = u.j AND c.state = 'claimed' AND c.claimed_at = u.old "
        "AND NOT EXISTS (SELECT 1 FROM mf_claim_outcomes o WHERE o.chunk_id = c.chunk_id "
        "AND c.job_id = ANY (o.job_ids)) "
        "RETURNING c.job_id";
    const char *const *texts[2] = {old_claimed_at, gids};
    char ch[MF_UUID_STR_SIZE];

    return update_returning(c, pg, sql, jobs, texts, 2, n, claimed_by, mf_uuid_format(chunk, ch),
                            fn, arg, "take over", err);
}

int sender_claims_renew(sender_claims *c, PGconn *pg, const mf_uuid *jobs, size_t n,
                        const char *claimed_by, sender_claim_id_fn fn, void *arg, mf_err *err)
{
    static const char *sql =
        "UPDATE mf_job_claims SET claimed_at = now() WHERE job_id = ANY($1::uuid[]) "
        "AND state = 'claimed' AND claimed_by = $2 RETURNING job_id";

    return update_returning(c, pg, sql, jobs, NULL, 0, n, claimed_by, NULL, fn, arg, "renew", err);
}

/* Appends one outcome to the binary arrays out[0..7]: job, state, provider message id, group
 * id, code, message, channel, sent_ms (the layout both outcome statements read). */
static int add_outcome(sender_claims *c, const sender_claim_out *o, mf_err *err)
{
    return (mf_pgbin_arr_uuid(&c->out[0], &o->job, err) |
            mf_pgbin_arr_text(&c->out[1], o->state, err) |
            mf_pgbin_arr_text(&c->out[2], o->pmid, err) |
            mf_pgbin_arr_text(&c->out[3], o->gid, err) |
            mf_pgbin_arr_text(&c->out[4], o->code, err) |
            mf_pgbin_arr_text(&c->out[5], o->message, err) |
            mf_pgbin_arr_text(&c->out[6], o->channel, err) |
            mf_pgbin_arr_int8(&c->out[7], o->sent_ms, err)) != 0
               ? -1
               : 0;
}

static void reset_outcomes(sender_claims *c)
{
    for (size_t i = 0; i < OUT_ARRAYS; i++)
        mf_pgbin_arr_reset(&c->out[i]);
}

/* The finished outcome arrays as binary parameters params[0..7]. */
static int finish_outcomes(sender_claims *c, const char **params, int *lengths, int *formats,
                           mf_err *err)
{
    for (size_t i = 0; i < OUT_ARRAYS; i++) {
        params[i] = mf_pgbin_arr_finish(&c->out[i], &lengths[i], err);
        formats[i] = 1;
        if (params[i] == NULL)
            return -1;
    }
    return 0;
}

int sender_claims_finish(sender_claims *c, PGconn *pg, const sender_claim_out *outs, size_t n,
                         mf_err *err)
{
    static const char *sql =
        "UPDATE mf_job_claims c SET state = u.st, provider_message_id = u.pmid, "
        "group_id = u.gid, status_code = u.code, message = u.msg, channel = u.ch, "
        "sent_at = CASE WHEN u.sat > 0 THEN to_timestamp(u.sat / 1000.0) END, "
        "updated_at = now() "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
        "$7::text[], $8::bigint[]) AS u(j, st, pmid, gid, code, msg, ch, sat) "
        "WHERE c.job_id = u.j AND c.state IN ('claimed', 'in_doubt')";
    const char *params[OUT_ARRAYS];
    int lengths[OUT_ARRAYS], formats[OUT_ARRAYS];

    if (n == 0)
        return 0;
    reset_outcomes(c);
    for (size_t i = 0; i < n; i++)
        if (add_outcome(c, &outs[i], err) != 0)
            return -1;
    if (finish_outcomes(c, params, lengths, formats, err) != 0)
        return -1;
    if (mf_pg_command_fmt(pg, sql, OUT_ARRAYS, params, lengths, formats, NULL, err) != 0)
        return mf_err_prefix(err, "could not store claim outcomes");
    return 0;
}

/* One mf_claim_outcomes row: the outs whose chunk is `chunk`, as binary array parameters (no
 * unnest or aggregation on the server: that sorted every array, about 9 ms per thousand
 * outcomes; as text, array_in was 13 % of the senders' backends). */
static int record_chunk(sender_claims *c, PGconn *pg, const sender_claim_out *outs, size_t n,
                        const mf_uuid *chunk, mf_err *err)
{
    static const char *sql =
        "INSERT INTO mf_claim_outcomes (chunk_id, job_ids, states, provider_message_ids, "
        "group_ids, status_codes, messages, channels, sent_ms) "
        "VALUES ($1::uuid, $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], "
        "$7::text[], $8::text[], $9::bigint[])";
    const char *params[1 + OUT_ARRAYS];
    int lengths[1 + OUT_ARRAYS], formats[1 + OUT_ARRAYS];
    char ch[MF_UUID_STR_SIZE];

    reset_outcomes(c);
    for (size_t i = 0; i < n; i++)
        if (mf_uuid_equal(&outs[i].chunk, chunk) && add_outcome(c, &outs[i], err) != 0)
            return -1;
    params[0] = mf_uuid_format(chunk, ch);
    lengths[0] = 0;
    formats[0] = 0;
    if (finish_outcomes(c, params + 1, lengths + 1, formats + 1, err) != 0)
        return -1;
    if (mf_pg_command_fmt(pg, sql, 1 + OUT_ARRAYS, params, lengths, formats, NULL, err) != 0)
        return mf_err_prefix(err, "could not record claim outcomes");
    return 0;
}

/* Whether chunk is one of the first n of seen. */
static int chunk_seen(const mf_uuid *seen, size_t n, const mf_uuid *chunk)
{
    for (size_t i = 0; i < n; i++)
        if (mf_uuid_equal(&seen[i], chunk))
            return 1;
    return 0;
}

int sender_claims_record(sender_claims *c, PGconn *pg, const sender_claim_out *outs, size_t n,
                         mf_err *err)
{
    size_t nseen = 0;

    /* One row per distinct chunk, in order of first appearance. A store holds the outcomes of
     * several requests (a chunk each), mostly grouped by chunk: an outcome whose chunk is its
     * predecessor's is not new, the others are checked against the chunks recorded so far. A
     * scan back over all earlier outcomes instead cost 1.7 us per message (perf, 1 M run). */
    for (size_t i = 0; i < n; i++) {
        const mf_uuid *chunk = &outs[i].chunk;

        if ((i > 0 && mf_uuid_equal(&outs[i - 1].chunk, chunk)) ||
            chunk_seen(c->seen, nseen, chunk))
            continue;
        if (nseen == c->seen_cap) {
            size_t cap = c->seen_cap ? c->seen_cap * 2 : 16;
            mf_uuid *p = realloc(c->seen, cap * sizeof(*p));

            if (p == NULL)
                return mf_err_set(err, "out of memory recording claim outcomes");
            c->seen = p;
            c->seen_cap = cap;
        }
        c->seen[nseen++] = *chunk;
        if (record_chunk(c, pg, outs, n, chunk, err) != 0)
            return -1;
    }
    return 0;
}

int sender_claims_release(sender_claims *c, PGconn *pg, const mf_uuid *jobs,
                          const char *const *released_as, const char *const *codes,
                          const char *const *messages, const char *const *gids, size_t n,
                          const char *claimed_by, sender_claim_id_fn fn, void *arg, mf_err *err)
{
    static const char *sql =
        "UPDATE mf_job_claims c SET claimed_by = u.rel, claimed_at = now(), "
        "status_code = u.code, message = u.msg, updated_at = now(), "
        "group_id = coalesce(nullif(u.gid, ''), c.group_id) "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) "
        "AS u(j, rel, code, msg, gid) "
        "WHERE c.job_id = u.j AND c.state = 'claimed' AND c.claimed_by = $6 "
        "RETURNING c.job_id";
    const char *const *texts[4] = {released_as, codes, messages, gids};

    return update_returning(c, pg, sql, jobs, texts, 4, n, claimed_by, NULL, fn, arg, "release",
                            err);
}

/* One INSERT of the np (chunk, group) rows prepared in params (3 each: chunk, group id, the
 * binary uuid[] of its jobs). */
static int insert_group_rows(PGconn *pg, int np, const char *const *params, const int *lengths,
                             const int *formats, mf_err *err)
{
    char sql[128 + SENDER_CLAIMS_GROUP_ROWS * 48];
    size_t len;

    len = (size_t)snprintf(sql, sizeof(sql),
                           "INSERT INTO mf_claim_groups (chunk_id, group_id, job_ids) VALUES ");
    for (int i = 0; i < np && len < sizeof(sql); i++)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s($%d::uuid, $%d, $%d::uuid[])",
                                i ? ", " : "", 3 * i + 1, 3 * i + 2, 3 * i + 3);
    if (len >= sizeof(sql))
        return mf_err_set(err, "group rows statement too long");
    if (mf_pg_command_fmt(pg, sql, 3 * np, params, lengths, formats, NULL, err) != 0)
        return mf_err_prefix(err, "could not record message groups");
    return 0;
}

/* Whether rows[k]'s chunk appeared before it in rows[from..k). */
static int chunk_before(const sender_claim_group *rows, size_t from, size_t k)
{
    for (size_t p = from; p < k; p++)
        if (mf_uuid_equal(&rows[p].chunk, &rows[k].chunk))
            return 1;
    return 0;
}

/*
 * One row per (chunk, group), the job ids as a binary array parameter: no unnest or
 * aggregation on the server (building such rows with array_agg cost about 9 ms per thousand
 * jobs, see sender_claims_record), up to SENDER_CLAIMS_GROUP_ROWS rows per statement. rows come
 * group by group (a group's jobs are contiguous), mostly from one chunk.
 */
int sender_claims_groups(sender_claims *c, PGconn *pg, const sender_claim_group *rows, size_t n,
                         mf_err *err)
{
    const char *params[3 * SENDER_CLAIMS_GROUP_ROWS];
    int lengths[3 * SENDER_CLAIMS_GROUP_ROWS], formats[3 * SENDER_CLAIMS_GROUP_ROWS];
    char chunks[SENDER_CLAIMS_GROUP_ROWS][MF_UUID_STR_SIZE];
    int np = 0;

    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && strcmp(rows[j].gid, rows[i].gid) == 0; j++)
            ;
        for (size_t k = i; k < j; k++) {
            mf_pgbin_arr *a = &c->groups[np];

            if (chunk_before(rows, i, k))
                continue;
            mf_pgbin_arr_reset(a);
            for (size_t m = k; m < j; m++)
                if (mf_uuid_equal(&rows[m].chunk, &rows[k].chunk) &&
                    mf_pgbin_arr_uuid(a, &rows[m].job, err) != 0)
                    return -1;
            params[3 * np] = mf_uuid_format(&rows[k].chunk, chunks[np]);
            params[3 * np + 1] = rows[k].gid;
            params[3 * np + 2] = mf_pgbin_arr_finish(a, &lengths[3 * np + 2], err);
            if (params[3 * np + 2] == NULL)
                return -1;
            lengths[3 * np] = lengths[3 * np + 1] = 0;
            formats[3 * np] = formats[3 * np + 1] = 0;
            formats[3 * np + 2] = 1;
            if (++np == SENDER_CLAIMS_GROUP_ROWS) {
                if (insert_group_rows(pg, np, params, lengths, formats, err) != 0)
                    return -1;
                np = 0;
            }
        }
    }
    return np > 0 ? insert_group_rows(pg, np, params, lengths, formats, err) : 0;
}

int sender_claims_parse_released(const char *claimed_by, int *retries, int *unknown)
{
    const char *p;
    char *end;
    long v;

    if (strncmp(claimed_by, "retry:", 6) == 0) {
        *unknown = 0;
        p = claimed_by + 6;
    } else if (strncmp(claimed_by, "retry?:", 7) == 0) {
        *unknown = 1;
        p = claimed_by + 7;
    } else {
        return 0;
    }
    v = strtol(p, &end, 10);
    if (end == p || *end != '\0' || v < 0 || v > 1000000)
        return 0;
    *retries = (int)v;
    return 1;
}
