/* rep_store: write a batch of results to PostgreSQL in one transaction (rows, counters, offsets). */
#include "rep_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mf_clock.h"
#include "mf_buf.h"
#include "mf_pg.h"
#include "mf_runs.h"
#include "mf_uuid.h"
#include "mf_pgarr.h"
#include "rep_optout.h"

/* ---- SQL ------------------------------------------------------------------------------- */

#define MS_TS(x) "CASE WHEN " x " > 0 THEN to_timestamp(" x " / 1000.0) END"

/* The insert and final statements do not touch workflow_runs or daily_statistics: they return
 * what changed as delta rows, which the batch applies at its end (apply_deltas), after every
 * row is written. The run rows are therefore locked only for the last statements of the
 * transaction, and two reporters write their rows in parallel (docs/reporter.md).
 * Delta row columns: kind ('r' run, 'd' Seoul date), key (run id or date), success delta,
 * failed delta, cost delta (numeric text), then rows by new status: sent, delivered, failed,
 * cancelled ('r' rows only). */
#define DELTA_DAYS(src, ms, tc, when_sent, when_failed)                                       \
    " UNION ALL SELECT 'd', dt::text, sum(ms), sum(mf), sum(tc)::text, 0, 0, 0, 0 FROM ("       \
    "  SELECT (sent_at AT TIME ZONE 'Asia/Seoul')::date AS dt, " ms " AS ms, 0 AS mf, "          \
    tc " AS tc FROM " src " WHERE " when_sent                                                   \
    "  UNION ALL SELECT (failed_at AT TIME ZONE 'Asia/Seoul')::date, 0, 1, 0 FROM " src          \
    "   WHERE " when_failed ") e WHERE dt IS NOT NULL GROUP BY dt"

#define DELTA_INSERTED                                                                          \
    "SELECT 'r', run_id::text,"                                                                 \
    " count(*) FILTER (WHERE status IN ('sent', 'delivered')),"                                 \
    " count(*) FILTER (WHERE status IN ('failed', 'cancelled')), COALESCE(sum(cost), 0)::text,"  \
    " count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'delivered'),"     \
    " count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'cancelled')"  \
    " FROM ins GROUP BY run_id"                                                                 \
    DELTA_DAYS("ins", "1", "cost", "status IN ('sent', 'delivered')",                           \
               "status IN ('failed', 'cancelled')")

enum {
    C_ID, C_RUN, C_TPL, C_ATT, C_STATUS, C_PHONE, C_NAME, C_TYPE, C_TEXT, C_VARS, C_PMID,
    C_GID, C_CODE, C_MSG, C_COST, C_SENT, C_DELIVERED, C_FAILED, C_CHANNEL, NCOL
};

#define INSERT_BODY                                                                             \
    "ins AS ("                                                                                  \
    " INSERT INTO message_logs AS m (id, workflow_run_id, template_id, recipient_phone,"        \
    "  recipient_name, message_type, message_content, variables_used, status, provider,"      \
    "  provider_message_id, cost, sent_at, delivered_at, failed_at, error_code, error_message,"\
    "  job_attempt, channel, provider_group_id, provider_status_code)"                         \
    " SELECT s.id, s.run_id, t.id, left(s.phone, 20), left(s.name, 255),"                      \
    "  COALESCE(s.mtype, t.message_type, 'sms'), s.content, COALESCE(s.vars, '{}'::jsonb),"     \
    "  s.status, 'coolsms', left(s.pmid, 255), s.cost, " MS_TS("s.sent_ms") ", "               \
    MS_TS("s.delivered_ms") ", " MS_TS("s.failed_ms") ","                                      \
    "  CASE WHEN s.status IN ('failed', 'cancelled') THEN left(s.code, 50) END,"               \
    "  CASE WHEN s.status IN ('failed', 'cancelled') THEN s.msg END,"                          \
    "  s.att, s.channel, s.gid, s.code"                                                        \
    " FROM s LEFT JOIN message_templates t ON t.id = s.tpl"                                    \
    " ON CONFLICT (id) DO NOTHING"                                                              \
    " RETURNING m.workflow_run_id AS run_id, m.status, m.cost, m.sent_at, m.failed_at) "      \
    DELTA_INSERTED

#define STAGE_COLUMNS                                                                           \
    "id uuid, run_id uuid, tpl uuid, att int, status text, phone text, name text, mtype text,"  \
    " content text, vars jsonb, pmid text, gid text, code text, msg text, cost numeric,"        \
    " sent_ms bigint, delivered_ms bigint, failed_ms bigint, channel text"

/* COPY mode (the default: measured faster for 5,000 rows, docs/reporter.md): a staging table
 * that lives only inside the batch transaction (pooler-safe), filled by COPY. */
static const char STAGE_CREATE_SQL[] =
    "CREATE TEMP TABLE mf_rep_stage (" STAGE_COLUMNS ") ON COMMIT DROP";
static const char STAGE_TRUNCATE_SQL[] = "TRUNCATE mf_rep_stage";
static const char STAGE_COPY_SQL[] = "COPY mf_rep_stage FROM STDIN";
static const char INSERT_STAGE_SQL[] = "WITH s AS (SELECT * FROM mf_rep_stage), " INSERT_BODY;

/* unnest mode: one statement with 19 array parameters. */
static const char INSERT_UNNEST_SQL[] =
    "WITH s AS ("
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[],"
    "  $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[],"
    "  $13::text[], $14::text[], $15::numeric[], $16::bigint[], $17::bigint[], $18::bigint[],"
    "  $19::text[])"
    "  AS s(id, run_id, tpl, att, status, phone, name, mtype, content, vars, pmid, gid, code,"
    "   msg, cost, sent_ms, delivered_ms, failed_ms, channel)), " INSERT_BODY;

/* Later outcomes as arrays: FINAL_SQL takes the first U_FINAL_N, EARLY_PARK_SQL all. */
enum { U_ID, U_STATUS, U_TS, U_CODE, U_MSG, U_CH, U_PMID, U_FINAL_N, U_RUN = U_FINAL_N, NUCOL };

/* A later outcome applies only to a row still 'sent'. An undelivered message costs nothing
 * (the provider refunds it) and moves from success to failed, on the run and on the days.
 * The channel is the one the final report names (an alimtalk that the provider fell back to
 * SMS/LMS for), else the row keeps its own.
 * "IS NOT DISTINCT FROM" (same result as "=" here) because no index or partial-index predicate
 * matches it: with "=", stale statistics (a campaign's rows arrive faster than autoanalyze)
 * made the planner hash every 'sent' row of the table per batch instead of looking up the
 * batch's ids by primary key, 65 ms instead of 25 ms for 700 rows at 100k rows in flight.
 * FINAL_BODY: the update and its delta rows, from the later outcomes u(id, st, ts_ms, code,
 * msg, ch, pmid) (o: the row before the update). The outcome's time, never before the row's
 * sent_at (an early report's receiver did not know it). An outcome about another provider
 * message than the row's (an earlier attempt of the job; pmid set on both and different) is
 * stale and changes nothing: the receiver checks this itself when the row exists, not for an
 * early report. */
#define FINAL_TS "GREATEST(" MS_TS("u.ts_ms") ", o.sent_at)"
#define FINAL_BODY                                                                         \
    "upd AS ("                                                                                  \
    " UPDATE message_logs m SET status = u.st,"                                                 \
    "  delivered_at = CASE WHEN u.st = 'delivered' THEN " FINAL_TS " ELSE m.delivered_at END,"   \
    "  failed_at = CASE WHEN u.st = 'failed' THEN " FINAL_TS " ELSE m.failed_at END,"            \
    "  cost = CASE WHEN u.st = 'failed' THEN 0 ELSE m.cost END,"                                \
    "  error_code = CASE WHEN u.st = 'failed' THEN left(u.code, 50) ELSE m.error_code END,"     \
    "  error_message = CASE WHEN u.st = 'failed' THEN u.msg ELSE m.error_message END,"          \
    "  provider_status_code = COALESCE(u.code, m.provider_status_code),"                        \
    "  channel = COALESCE(u.ch, m.channel)"                                                     \
    " FROM u JOIN message_logs o ON o.id = u.id"                                                \
    " WHERE m.id = u.id AND m.status IS NOT DISTINCT FROM 'sent'"                               \
    "  AND (u.pmid IS NULL OR o.provider_message_id IS NULL"                                   \
    "   OR o.provider_message_id = u.pmid)"                                                     \
    " RETURNING m.id, m.workflow_run_id AS run_id, m.status, COALESCE(o.cost, 0) AS old_cost,"  \
    "  m.sent_at, m.failed_at) "                                                                \
    "SELECT 'r', run_id::text, -count(*) FILTER (WHERE status = 'failed'),"                     \
    " count(*) FILTER (WHERE status = 'failed'),"                                               \
    " (-COALESCE(sum(old_cost) FILTER (WHERE status = 'failed'), 0))::text, 0,"                 \
    " count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'failed'), 0"\
    " FROM upd GROUP BY run_id"                                                                 \
    DELTA_DAYS("upd", "-1", "-old_cost", "status = 'failed'", "status = 'failed'")

static const char FINAL_SQL[] =
    "WITH u AS ("
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
    "  $6::text[], $7::text[]) AS u(id, st, ts_ms, code, msg, ch, pmid)), "
    FINAL_BODY;

/* Early finals: a later outcome whose job has no row yet (a delivery report that overtook
 * its message's `accepted` result) waits in mf_early_finals (schemas/pg/0017_early_finals.sql)
 * instead of being dropped or written as a row without its message. The batch that inserts
 * the job's row applies it in the same transaction (EARLY_APPLY_SQL, one statement by job id),
 * after one look whether the table holds anything at all (EARLY_ANY_SQL): that look is the
 * whole cost of this feature for a batch while no report is waiting. */
static const char EARLY_PARK_SQL[] =
    "INSERT INTO mf_early_finals (job_id, workflow_run_id, status, reported_ms, status_code,"
    " status_message, channel, provider_message_id)"
    " SELECT u.id, u.run, u.st, u.ts_ms, u.code, u.msg, u.ch, u.pmid"
    " FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],"
    "  $7::text[], $8::uuid[]) AS u(id, st, ts_ms, code, msg, ch, pmid, run)"
    " WHERE NOT EXISTS (SELECT 1 FROM message_logs m WHERE m.id = u.id)"
    " ON CONFLICT (job_id) DO NOTHING";

static const char EARLY_ANY_SQL[] = "SELECT EXISTS (SELECT 1 FROM mf_early_finals)";

/* A waiting outcome is removed whether it applies or not (stale, or the row is final). */
static const char EARLY_APPLY_SQL[] =
    "WITH u AS ("
    " DELETE FROM mf_early_finals e WHERE e.job_id = ANY($1::uuid[])"
    " RETURNING e.job_id AS id, e.status AS st, e.reported_ms AS ts_ms, e.status_code AS code,"
    "  e.status_message AS msg, e.channel AS ch, e.provider_message_id AS pmid), "
    FINAL_BODY;

/* Early finals whose row never came (its `accepted` was dead-lettered, or the row was
 * deleted): removed after EARLY_KEEP_DAYS by rep_store_prune_early. */
static const char EARLY_PRUNE_SQL[] =
    "DELETE FROM mf_early_finals WHERE created_at < now() - make_interval(days => $1::int)";

/* The batch's deltas, applied last: runs in id order, then days in date order, the same order
 * in every reporter. */
static const char RUN_DELTAS_SQL[] =
    "UPDATE workflow_runs r SET success_count = COALESCE(r.success_count, 0) + d.s,"
    " failed_count = COALESCE(r.failed_count, 0) + d.f,"
    " total_cost = COALESCE(r.total_cost, 0) + d.c"
    " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::numeric[]) AS d(id, s, f, c)"
    " WHERE r.id = d.id";

static const char DAY_DELTAS_SQL[] =
    "INSERT INTO daily_statistics AS d (stat_date, messages_sent, messages_failed, total_cost)"
    " SELECT dt, s, f, c FROM unnest($1::date[], $2::bigint[], $3::bigint[], $4::numeric[])"
    "  AS x(dt, s, f, c) ORDER BY dt"
    " ON CONFLICT (stat_date) DO UPDATE SET"
    "  messages_sent = COALESCE(d.messages_sent, 0) + EXCLUDED.messages_sent,"
    "  messages_failed = COALESCE(d.messages_failed, 0) + EXCLUDED.messages_failed,"
    "  total_cost = COALESCE(d.total_cost, 0) + EXCLUDED.total_cost, updated_at = now()";

/* Direct mode: first outcomes COPYed straight into message_logs (no staging table, no
 * ON CONFLICT), every value computed here; a duplicate id or a vanished template makes the
 * COPY fail, and the batch is redone through the staging table. */
static const char DIRECT_COPY_SQL[] =
    "COPY message_logs (id, workflow_run_id, template_id, recipient_phone, recipient_name,"
    " message_type, message_content, variables_used, status, provider, provider_message_id,"
    " cost, sent_at, delivered_at, failed_at, error_code, error_message, job_attempt, channel,"
    " provider_group_id, provider_status_code) FROM STDIN";

/* Runs of the batch, locked in id order (so concurrent reporters lock in the same order), as the
 * first of the batch's last statements. FOR NO KEY UPDATE, the lock an UPDATE of the counters
 * takes anyway: FOR UPDATE would conflict with the KEY SHARE locks that the message_logs
 * foreign key checks of another reporter's transaction hold, and two reporters would
 * deadlock. */
static const char LOCK_RUNS_SQL[] =
    "SELECT id, status, workflow_id FROM workflow_runs WHERE id = ANY($1::uuid[])"
    " ORDER BY id FOR NO KEY UPDATE";

static const char EXISTING_RUNS_SQL[] =
    "SELECT id FROM workflow_runs WHERE id = ANY($1::uuid[])";

static const char OFFSETS_SQL[] =
    "INSERT INTO mf_consumer_offsets AS o (consumer_group, topic, partition, next_offset,"
    " updated_at)"
    " SELECT $1, $2, p, n, now() FROM unnest($3::int[], $4::bigint[]) AS x(p, n)"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
    "  next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset), updated_at = now()";

static const char LOAD_OFFSETS_SQL[] =
    "SELECT partition, next_offset FROM mf_consumer_offsets"
    " WHERE consumer_group = $1 AND topic = $2";

static const char PRICES_SQL[] =
    "SELECT setting_value::text FROM system_settings WHERE setting_key = 'coolsms_prices'";

/* ---- state ------------------------------------------------------------------------------ */

#define MAX_ATTEMPTS 5

/* What a batch changed on one run (key: run id) or one Seoul date (key: YYYY-MM-DD). Costs are
 * in hundredths of a won: message_logs.cost is DECIMAL(8,2), so the sums are exact. */
typedef struct rep_delta {
    char key[MF_UUID_STR_SIZE];
    long long success, failed, cents;
} rep_delta;

typedef struct rep_deltas {
    rep_delta *d;
    size_t n, cap;
} rep_deltas;

/* Bytes of direct-COPY rows built before they are sent (the server starts on them while the
 * rest of the batch is built). */
#define COPY_SLICE ((size_t)256 * 1024)

/* Batches that use the staging path after a direct COPY met a duplicate (a redelivery or a
 * rebalance: more duplicates are likely to follow, and each failed COPY costs a rollback). */
#define DIRECT_COOLDOWN_BATCHES 16

typedef struct run_ref {
    char id[MF_UUID_STR_SIZE];
    char workflow[MF_UUID_STR_SIZE];
    int running;
    int completed;
    int cancelled;
} run_ref;

struct rep_store {
    char group[256];
    char topic[256];
    long long price_ttl_ms;
    mf_log *log;
    double price[4]; /* by mf_msg_type */
    long long price_loaded_ms;
    int price_valid;
    int price_frozen; /* a COPY holds the connection: serve prices from the cache */
    rep_insert_mode mode;
    int stage_ready; /* the staging table exists in the current transaction */
    mf_buf copy;
    mf_pgarr cols[NCOL];
    mf_pgarr ucols[NUCOL];
    mf_pgarr runs;
    mf_buf json;
    const mf_result **sorted; /* scratch for de-duplication */
    size_t sorted_cap;
    run_ref *refs;
    size_t nrefs, refs_cap;
    rep_deltas run_d, day_d;
    int direct_cooldown; /* batches left before the direct COPY is tried again */
    rep_step failed_step; /* where the last failed write_once failed */
};


rep_store *rep_store_new(const char *group, const char *topic, long long price_ttl_ms,
                         mf_log *log, mf_err *err)
{
    rep_store *st = calloc(1, sizeof(*st));
    size_t i;

    if (st == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(st->group, sizeof(st->group), "%s", group);
    snprintf(st->topic, sizeof(st->topic), "%s", topic);
    st->price_ttl_ms = price_ttl_ms;
    st->log = log;
    for (i = 0; i < NCOL; i++)
        mf_pgarr_init(&st->cols[i]);
    for (i = 0; i < NUCOL; i++)
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
    for (i = 0; i < NCOL; i++)
        mf_pgarr_free(&st->cols[i]);
    for (i = 0; i < NUCOL; i++)
        mf_pgarr_free(&st->ucols[i]);
    mf_pgarr_free(&st->runs);
    mf_buf_free(&st->json);
    mf_buf_free(&st->copy);
    free(st->sorted);
    free(st->refs);
    free(st->run_d.d);
    free(st->day_d.d);
    free(st);
}

/* ---- prices ----------------------------------------------------------------------------- */

static void default_prices(double *p)
{
    p[MF_TYPE_NONE] = 8.4;
    p[MF_TYPE_SMS] = 8.4;
    p[MF_TYPE_LMS] = 25.9;
    p[MF_TYPE_KAKAO] = 7.5;
}

static void price_from_json(json_t *obj, const char *key, double *dst)
{
    json_t *v = json_object_get(obj, key);
    char *end;
    double d;

    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        d = strtod(json_string_value(v), &end);
        if (end == json_string_value(v) || *end != '\0')
            return;
    } else {
        return;
    }
    /* message_logs.cost is DECIMAL(8,2): a price that rounds past 999,999.99 could never be
     * stored (every row of its type would be a data error) */
    if (d >= 0 && llround(d * 100.0) <= 99999999LL)
        *dst = d;
}

static int load_prices(rep_store *st, PGconn *conn, mf_err *err)
{
    PGresult *res = mf_pg_query(conn, PRICES_SQL, 0, NULL, err);
    json_t *root = NULL;
    json_error_t jerr;

    if (res == NULL)
        return mf_err_prefix(err, "could not read the coolsms_prices setting");
    default_prices(st->price);
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        root = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
        if (json_is_object(root)) {
            price_from_json(root, "sms", &st->price[MF_TYPE_SMS]);
            price_from_json(root, "lms", &st->price[MF_TYPE_LMS]);
            price_from_json(root, "kakao", &st->price[MF_TYPE_KAKAO]);
            st->price[MF_TYPE_NONE] = st->price[MF_TYPE_SMS];
        } else if (st->log != NULL) {
            mf_log_msgf(st->log, MF_LOG_WARN,
                        "system_settings coolsms_prices is not a JSON object: default prices");
        }
        json_decref(root);
    }
    PQclear(res);
    st->price_valid = 1;
    st->price_loaded_ms = mf_clock_mono_ms();
    return 0;
}

int rep_store_price(rep_store *st, PGconn *conn, mf_msg_type type, double *price, mf_err *err)
{
    /* while a COPY holds the connection (price_frozen) the cache serves, however old */
    if (!st->price_valid ||
        (!st->price_frozen && mf_clock_mono_ms() - st->price_loaded_ms >= st->price_ttl_ms)) {
        if (load_prices(st, conn, err) != 0)
            return -1;
    }
    if ((int)type < 0 || (int)type > MF_TYPE_KAKAO)
        type = MF_TYPE_NONE;
    *price = st->price[type];
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static int is_first_outcome(mf_result_status s)
{
    return s == MF_RESULT_ACCEPTED || s == MF_RESULT_FAILED || s == MF_RESULT_CANCELLED;
}

static int cmp_result_ptr(const void *a, const void *b)
{
    const mf_result *x = *(const mf_result *const *)a;
    const mf_result *y = *(const mf_result *const *)b;
    int c = memcmp(x->id.b, y->id.b, sizeof(x->id.b));

    if (c != 0)
        return c;
    return x < y ? -1 : (x > y ? 1 : 0); /* the earlier result of a job wins */
}

/* Collect pointers to the results that `want` selects, sorted by id, first per id only.
 * Returns the count in st->sorted, or -1. */
static long select_unique(rep_store *st, const mf_result *res, size_t n, int finals,
                          mf_err *err)
{
    size_t i, m = 0, k = 0;

    if (st->sorted_cap < n) {
        const mf_result **p = realloc(st->sorted, n * sizeof(*p));

        if (p == NULL)
            return mf_err_set(err, "out of memory");
        st->sorted = p;
        st->sorted_cap = n;
    }
    for (i = 0; i < n; i++) {
        int first = is_first_outcome(res[i].status);

        if (finals ? !first : first)
            st->sorted[m++] = &res[i];
    }
    if (m == 0)
        return 0;
    qsort(st->sorted, m, sizeof(*st->sorted), cmp_result_ptr);
    for (i = 0; i < m; i++) {
        if (k > 0 && memcmp(st->sorted[k - 1]->id.b, st->sorted[i]->id.b, 16) == 0)
            continue;
        st->sorted[k++] = st->sorted[i];
    }
    return (long)k;
}

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

static const char *empty_null(const char *s)
{
    return (s != NULL && *s != '\0') ? s : NULL;
}

static int vars_json(mf_buf *b, const mf_codec_map *m, mf_err *err)
{
    size_t i;

    mf_buf_reset(b);
    if (mf_buf_append_char(b, '{', err) != 0)
        return -1;
    for (i = 0; i < m->n; i++) {
        if ((i > 0 && mf_buf_append_char(b, ',', err) != 0) ||
            mf_buf_append_json_cstr(b, m->items[i].key, err) != 0 ||
            mf_buf_append_char(b, ':', err) != 0 ||
            mf_buf_append_json_cstr(b, m->items[i].val, err) != 0)
            return -1;
    }
    return mf_buf_append_char(b, '}', err);
}

/* message_logs.status by REP_ST_* */
static const char *const STATUS_NAMES[REP_ST_N] = {"sent", "delivered", "failed", "cancelled"};

const char *rep_store_status_name(int st)
{
    return st >= 0 && st < REP_ST_N ? STATUS_NAMES[st] : "failed";
}

/* One result as the values of its message_logs row (the mapping is in docs/reporter.md). */
typedef struct rep_row {
    int st;                            /* REP_ST_*: the row's status */
    long long sent, delivered, failed; /* epoch ms, 0: NULL */
    long long cents;                   /* cost */
    int attempt;
} rep_row;

static int row_values(rep_store *st, PGconn *conn, const mf_result *r, rep_row *row,
                      mf_err *err)
{
    mf_msg_type carried = r->channel != MF_TYPE_NONE ? r->channel : r->type;
    double price = 0;
    int charged = 0;

    memset(row, 0, sizeof(*row));
    row->st = REP_ST_FAILED;
    row->attempt = (int)r->attempt;
    switch (r->status) {
    case MF_RESULT_ACCEPTED:
        row->st = REP_ST_SENT;
        row->sent = r->sent_ms > 0 ? r->sent_ms : r->ts_ms;
        charged = 1;
        break;
    case MF_RESULT_DELIVERED:
        row->st = REP_ST_DELIVERED;
        row->sent = r->sent_ms > 0 ? r->sent_ms : r->ts_ms;
        row->delivered = r->ts_ms;
        charged = 1;
        break;
    case MF_RESULT_UNDELIVERED:
        row->sent = r->sent_ms;
        row->failed = r->ts_ms;
        break;
    case MF_RESULT_CANCELLED:
        row->st = REP_ST_CANCELLED;
        row->failed = r->ts_ms;
        break;
    case MF_RESULT_FAILED:
    default:
        row->sent = r->sent_ms;
        row->failed = r->ts_ms;
        break;
    }
    if (charged && rep_store_price(st, conn, carried, &price, err) != 0)
        return -1;
    row->cents = llround(price * 100.0);
    return 0;
}

static int row_is_failed(const rep_row *row)
{
    return row->st == REP_ST_FAILED || row->st == REP_ST_CANCELLED;
}

static void format_cents(long long cents, char *out, size_t cap)
{
    unsigned long long a = cents < 0 ? (unsigned long long)(-(cents + 1)) + 1
                                     : (unsigned long long)cents;

    snprintf(out, cap, "%s%llu.%02llu", cents < 0 ? "-" : "", a / 100, a % 100);
}

/* "-12.3", "7", "0.05" -> hundredths; more than 2 decimals is an error (DECIMAL(8,2) sums). */
static int parse_cents(const char *txt, long long *out, mf_err *err)
{
    const char *p = txt;
    int neg = 0, frac = 0;
    long long v = 0;

    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (*p < '0' || *p > '9')
        return mf_err_set(err, "not a cost: \"%s\"", txt);
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > 900000000000000LL)
            return mf_err_set(err, "cost out of range: \"%s\"", txt);
        v = v * 10 + (*p - '0');
    }
    v *= 100;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac++) {
            if (frac >= 2 && *p != '0')
                return mf_err_set(err, "cost with more than 2 decimals: \"%s\"", txt);
            if (frac == 0)
                v += (*p - '0') * 10;
            else if (frac == 1)
                v += *p - '0';
        }
    }
    if (*p != '\0')
        return mf_err_set(err, "not a cost: \"%s\"", txt);
    *out = neg ? -v : v;
    return 0;
}

/* Epoch ms as a timestamptz literal (UTC), or NULL for 0. */
static const char *format_ts(long long ms, char *out, size_t cap)
{
    time_t secs;
    struct tm tm;
    size_t k;

    if (ms <= 0)
        return NULL;
    secs = (time_t)(ms / 1000);
    if (gmtime_r(&secs, &tm) == NULL || (k = strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm)) == 0)
        return NULL;
    snprintf(out + k, cap - k, ".%03d+00", (int)(ms % 1000));
    return out;
}

/* The Asia/Seoul calendar date of epoch ms (Korea keeps UTC+9 all year). */
static void seoul_date(long long ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000) + 9 * 3600;
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL || strftime(out, cap, "%Y-%m-%d", &tm) == 0)
        snprintf(out, cap, "1970-01-01");
}

static int delta_add(rep_deltas *ds, const char *key, long long success, long long failed,
                     long long cents, mf_err *err)
{
    size_t i;

    for (i = 0; i < ds->n; i++)
        if (strcmp(ds->d[i].key, key) == 0)
            break;
    if (i == ds->n) {
        if (ds->n == ds->cap) {
            size_t cap = ds->cap ? ds->cap * 2 : 8;
            rep_delta *p = realloc(ds->d, cap * sizeof(*p));

            if (p == NULL)
                return mf_err_set(err, "out of memory");
            ds->d = p;
            ds->cap = cap;
        }
        memset(&ds->d[i], 0, sizeof(ds->d[i]));
        snprintf(ds->d[i].key, sizeof(ds->d[i].key), "%s", key);
        ds->n++;
    }
    ds->d[i].success += success;
    ds->d[i].failed += failed;
    ds->d[i].cents += cents;
    return 0;
}

/* The deltas a freshly inserted row adds (what DELTA_INSERTED computes in SQL). */
static int row_deltas(rep_store *st, const char *run, const rep_row *row, long long *by,
                      mf_err *err)
{
    char day[16];
    int failed = row_is_failed(row);

    if (delta_add(&st->run_d, run, failed ? 0 : 1, failed ? 1 : 0, row->cents, err) != 0)
        return -1;
    if (!failed && row->sent > 0) {
        seoul_date(row->sent, day, sizeof(day));
        if (delta_add(&st->day_d, day, 1, 0, row->cents, err) != 0)
            return -1;
    } else if (failed && row->failed > 0) {
        seoul_date(row->failed, day, sizeof(day));
        if (delta_add(&st->day_d, day, 0, 1, 0, err) != 0)
            return -1;
    }
    by[row->st]++;
    return 0;
}

/* Whether a result can go through the direct COPY unchanged: the staging INSERT trims some
 * values (left()) and falls back to the template's type; such rare rows take that path. */
static int direct_ok(const mf_result *r)
{
    return mf_msg_type_name(r->type) != NULL && strlen(r->to) <= 20 &&
           (r->name == NULL || strlen(r->name) <= 255) &&
           (r->provider_msg_id == NULL || strlen(r->provider_msg_id) <= 255) &&
           (r->code == NULL || strlen(r->code) <= 50);
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
    const char *v[NCOL];
    rep_row row;
    char cost[32], id[MF_UUID_STR_SIZE], run[MF_UUID_STR_SIZE], tpl[MF_UUID_STR_SIZE];
    char att[16], s_sent[24], s_del[24], s_fail[24];
    int i;

    if (row_values(st, conn, r, &row, err) != 0)
        return -1;
    format_cents(row.cents, cost, sizeof(cost));
    snprintf(att, sizeof(att), "%d", row.attempt);
    snprintf(s_sent, sizeof(s_sent), "%lld", row.sent);
    snprintf(s_del, sizeof(s_del), "%lld", row.delivered);
    snprintf(s_fail, sizeof(s_fail), "%lld", row.failed);
    if (r->vars.n > 0 && vars_json(&st->json, &r->vars, err) != 0)
        return -1;
    v[C_ID] = mf_uuid_format(&r->id, id);
    v[C_RUN] = mf_uuid_format(&r->run, run);
    v[C_TPL] = mf_uuid_format(&r->tpl, tpl);
    v[C_ATT] = att;
    v[C_STATUS] = STATUS_NAMES[row.st];
    v[C_PHONE] = r->to;
    v[C_NAME] = empty_null(r->name);
    v[C_TYPE] = mf_msg_type_name(r->type);
    v[C_TEXT] = r->text;
    v[C_VARS] = r->vars.n > 0 ? st->json.data : "{}";
    v[C_PMID] = empty_null(r->provider_msg_id);
    v[C_GID] = empty_null(r->group_id);
    v[C_CODE] = empty_null(r->code);
    v[C_MSG] = empty_null(r->msg);
    v[C_COST] = cost;
    v[C_SENT] = row.sent > 0 ? s_sent : NULL;
    v[C_DELIVERED] = row.delivered > 0 ? s_del : NULL;
    v[C_FAILED] = row.failed > 0 ? s_fail : NULL;
    v[C_CHANNEL] = mf_msg_type_name(r->channel);
    if (st->mode != REP_INSERT_UNNEST)
        return copy_row(&st->copy, v, NCOL, err);
    for (i = 0; i < NCOL; i++)
        if (mf_pgarr_add(&st->cols[i], v[i], err) != 0)
            return -1;
    return 0;
}

/* One message_logs row for the direct COPY (columns of DIRECT_COPY_SQL), and its deltas. */
static int add_direct_row(rep_store *st, PGconn *conn, const mf_result *r, long long *by,
                          mf_err *err)
{
    const char *v[21];
    rep_row row;
    char cost[32], id[MF_UUID_STR_SIZE], run[MF_UUID_STR_SIZE], tpl[MF_UUID_STR_SIZE];
    char att[16], t_sent[40], t_del[40], t_fail[40];
    int failed;

    if (row_values(st, conn, r, &row, err) != 0)
        return -1;
    failed = row_is_failed(&row);
    format_cents(row.cents, cost, sizeof(cost));
    snprintf(att, sizeof(att), "%d", row.attempt);
    if (r->vars.n > 0 && vars_json(&st->json, &r->vars, err) != 0)
        return -1;
    v[0] = mf_uuid_format(&r->id, id);
    v[1] = mf_uuid_format(&r->run, run);
    v[2] = mf_uuid_is_nil(&r->tpl) ? NULL : mf_uuid_format(&r->tpl, tpl);
    v[3] = r->to;
    v[4] = empty_null(r->name);
    v[5] = mf_msg_type_name(r->type);
    v[6] = r->text;
    v[7] = r->vars.n > 0 ? st->json.data : "{}";
    v[8] = STATUS_NAMES[row.st];
    v[9] = "coolsms";
    v[10] = empty_null(r->provider_msg_id);
    v[11] = cost;
    v[12] = format_ts(row.sent, t_sent, sizeof(t_sent));
    v[13] = format_ts(row.delivered, t_del, sizeof(t_del));
    v[14] = format_ts(row.failed, t_fail, sizeof(t_fail));
    v[15] = failed ? empty_null(r->code) : NULL;
    v[16] = failed ? empty_null(r->msg) : NULL;
    v[17] = att;
    v[18] = mf_msg_type_name(r->channel);
    v[19] = empty_null(r->group_id);
    v[20] = empty_null(r->code);
    if (copy_row(&st->copy, v, 21, err) != 0)
        return -1;
    return row_deltas(st, v[1], &row, by, err);
}

static long long res_ll(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Fold the delta rows of an insert / final statement into the batch's deltas; *changed gets
 * the rows changed, `by` the rows by their new status. */
static int read_deltas(rep_store *st, const PGresult *res, long long *changed, long long *by,
                       mf_err *err)
{
    int i, k;

    *changed = 0;
    if (PQnfields(res) < 5 + REP_ST_N)
        return mf_err_set(err, "delta statement returned %d columns", PQnfields(res));
    for (i = 0; i < PQntuples(res); i++) {
        const char *kind = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
        long long cents = 0;

        if (parse_cents(PQgetisnull(res, i, 4) ? "0" : PQgetvalue(res, i, 4), &cents, err) != 0)
            return -1;
        if (delta_add(kind[0] == 'r' ? &st->run_d : &st->day_d, key, res_ll(res, i, 2),
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

/* Run `sql` with the finished arrays as parameters and fold its delta rows. */
static int exec_arrays(rep_store *st, PGconn *conn, const char *sql, mf_pgarr *arrs, int narr,
                       long long *changed, long long *by, mf_err *err)
{
    const char *params[NCOL];
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
    rc = read_deltas(st, res, changed, by, err);
    PQclear(res);
    return rc;
}

/* Moves the results that can take the direct COPY to the front of st->sorted[0..m) and
 * returns their count. One row that cannot (an invalid phone number longer than the column,
 * a failure before the type was known) used to send the whole batch to the staging path. */
static size_t partition_direct(rep_store *st, size_t m)
{
    size_t i, d = 0;

    for (i = 0; i < m; i++)
        if (direct_ok(st->sorted[i])) {
            const mf_result *t = st->sorted[d];

            st->sorted[d++] = st->sorted[i];
            st->sorted[i] = t;
        }
    return d;
}

/* Orders the rows of a direct COPY by (run, recipient_phone). The seed's index on
 * recipient_phone takes inserts all over its key range; walking it in key order instead of id
 * order keeps the pages of one insert hot for the next. Measured with 300k real rows COPYed in
 * batches of 5,000, when a second index on (workflow_run_id, recipient_phone) still existed:
 * 5.37 s sorted per batch against 5.68 s in id order. */
static int cmp_run_phone(const void *a, const void *b)
{
    const mf_result *x = *(const mf_result *const *)a;
    const mf_result *y = *(const mf_result *const *)b;
    int c = memcmp(x->run.b, y->run.b, sizeof(x->run.b));

    return c != 0 ? c : strcmp(x->to != NULL ? x->to : "", y->to != NULL ? y->to : "");
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
static int insert_direct(rep_store *st, PGconn *conn, const mf_result *const *rows_in,
                         size_t m, long long *inserted, long long *by, mf_err *err)
{
    long long rows = 0;
    double unused;
    size_t i;
    int rc = -1;

    if (rep_store_price(st, conn, MF_TYPE_SMS, &unused, err) != 0 ||
        mf_pg_copy_begin(conn, DIRECT_COPY_SQL, err) != 0)
        return -1;
    st->price_frozen = 1;
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
    st->price_frozen = 0;
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
    for (i = 0; i < NCOL; i++)
        mf_pgarr_reset(&st->cols[i]);
    mf_buf_reset(&st->copy);
    for (i = 0; i < m; i++)
        if (add_insert_row(st, conn, rows[i], err) != 0)
            return -1;
    if (st->mode == REP_INSERT_UNNEST) {
        if (exec_arrays(st, conn, INSERT_UNNEST_SQL, st->cols, NCOL, inserted, by, err) != 0)
            return mf_err_prefix(err, "could not insert %zu message_logs rows", m);
        return 0;
    }
    if (mf_pg_exec(conn, st->stage_ready ? STAGE_TRUNCATE_SQL : STAGE_CREATE_SQL, err) != 0 ||
        mf_pg_copy_in(conn, STAGE_COPY_SQL, st->copy.data, st->copy.len, NULL, err) != 0)
        return mf_err_prefix(err, "could not stage %zu message_logs rows", m);
    st->stage_ready = 1;
    res = mf_pg_query(conn, INSERT_STAGE_SQL, 0, NULL, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not insert %zu message_logs rows", m);
    rc = read_deltas(st, res, inserted, by, err);
    PQclear(res);
    return rc;
}

/* Insert the selected results st->sorted[0..m). direct: the rows the direct COPY can take go
 * that way, the others through insert_checked, in the same transaction. */
static int insert_rows(rep_store *st, PGconn *conn, size_t m, int direct, long long *inserted,
                       long long *direct_rows, long long *by, mf_err *err)
{
    size_t d = direct ? partition_direct(st, m) : 0;
    long long checked = 0;

    *inserted = *direct_rows = 0;
    qsort(st->sorted, d, sizeof(*st->sorted), cmp_run_phone); /* unique ids: any order */
    if (d > 0 && insert_direct(st, conn, st->sorted, d, direct_rows, by, err) != 0)
        return -1;
    if (insert_checked(st, conn, st->sorted + d, m - d, &checked, by, err) != 0)
        return -1;
    *inserted = *direct_rows + checked;
    return 0;
}

static int apply_finals(rep_store *st, PGconn *conn, size_t m, long long *updated,
                        long long *by, mf_err *err)
{
    mf_pgarr *u = st->ucols;
    size_t i;

    *updated = 0;
    if (m == 0)
        return 0;
    for (i = 0; i < NUCOL; i++)
        mf_pgarr_reset(&u[i]);
    for (i = 0; i < m; i++) {
        const mf_result *r = st->sorted[i];

        if (add_uuid(&u[U_ID], &r->id, err) != 0 ||
            mf_pgarr_add(&u[U_STATUS],
                        r->status == MF_RESULT_DELIVERED ? "delivered" : "failed", err) != 0 ||
            mf_pgarr_add_ll(&u[U_TS], r->ts_ms, err) != 0 ||
            mf_pgarr_add(&u[U_CODE], empty_null(r->code), err) != 0 ||
            mf_pgarr_add(&u[U_MSG], empty_null(r->msg), err) != 0 ||
            mf_pgarr_add(&u[U_CH], mf_msg_type_name(r->channel), err) != 0 ||
            mf_pgarr_add(&u[U_PMID], empty_null(r->provider_msg_id), err) != 0 ||
            add_uuid(&u[U_RUN], &r->run, err) != 0)
            return -1;
    }
    if (exec_arrays(st, conn, FINAL_SQL, u, U_FINAL_N, updated, by, err) != 0)
        return mf_err_prefix(err, "could not apply %zu final outcomes", m);
    return 0;
}

/* Early finals waiting for the rows of this batch's accepted results (st->sorted[0..m), the
 * first outcomes) are applied like later outcomes: one look whether any waits at all, then,
 * only if so, one statement by job id. */
static int apply_early(rep_store *st, PGconn *conn, size_t m, long long *applied,
                       long long *by, mf_err *err)
{
    mf_pgarr *ids = &st->ucols[U_ID];
    PGresult *q;
    size_t i;
    int any;

    *applied = 0;
    for (i = 0; i < m && st->sorted[i]->status != MF_RESULT_ACCEPTED; i++)
        ;
    if (i == m)
        return 0;
    if ((q = mf_pg_query(conn, EARLY_ANY_SQL, 0, NULL, err)) == NULL)
        return mf_err_prefix(err, "could not look for early final outcomes");
    any = PQntuples(q) == 1 && strcmp(PQgetvalue(q, 0, 0), "t") == 0;
    PQclear(q);
    if (!any)
        return 0;
    mf_pgarr_reset(ids);
    for (i = 0; i < m; i++)
        if (st->sorted[i]->status == MF_RESULT_ACCEPTED &&
            add_uuid(ids, &st->sorted[i]->id, err) != 0)
            return -1;
    if (exec_arrays(st, conn, EARLY_APPLY_SQL, ids, 1, applied, by, err) != 0)
        return mf_err_prefix(err, "could not apply early final outcomes");
    return 0;
}

/* The later outcomes of apply_finals (still in st->ucols) whose job has no row yet wait in
 * mf_early_finals; one that waits already (a report sent again) changes nothing. */
static int park_early(rep_store *st, PGconn *conn, long long *parked, mf_err *err)
{
    const char *params[NUCOL];
    size_t i;

    for (i = 0; i < NUCOL; i++)
        if ((params[i] = mf_pgarr_finish(&st->ucols[i], err)) == NULL)
            return -1;
    if (mf_pg_command(conn, EARLY_PARK_SQL, NUCOL, params, parked, err) != 0)
        return mf_err_prefix(err, "could not keep early final outcomes");
    return 0;
}

int rep_store_prune_early(PGconn *conn, int days, long long *removed, mf_err *err)
{
    char d[16];
    const char *params[1] = {d};

    snprintf(d, sizeof(d), "%d", days);
    if (mf_pg_command(conn, EARLY_PRUNE_SQL, 1, params, removed, err) != 0)
        return mf_err_prefix(err, "could not prune early final outcomes");
    return 0;
}

static int add_ref(rep_store *st, const char *id, const char *status, const char *wf,
                   mf_err *err)
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
    q = mf_pg_query(conn, LOCK_RUNS_SQL, 1, params, err);
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
    mf_pgarr *p = &st->ucols[0], *o = &st->ucols[1];
    const char *params[4];
    size_t i;

    if (noffs == 0)
        return 0;
    mf_pgarr_reset(p);
    mf_pgarr_reset(o);
    for (i = 0; i < noffs; i++)
        if (mf_pgarr_add_ll(p, offs[i].partition, err) != 0 ||
            mf_pgarr_add_ll(o, offs[i].next_offset, err) != 0)
            return -1;
    params[0] = st->group;
    params[1] = st->topic;
    if ((params[2] = mf_pgarr_finish(p, err)) == NULL || (params[3] = mf_pgarr_finish(o, err)) == NULL)
        return -1;
    if (mf_pg_command(conn, OFFSETS_SQL, 4, params, NULL, err) != 0)
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
    const char *sql[2] = {RUN_DELTAS_SQL, DAY_DELTAS_SQL};
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
            format_cents(d->cents, cents, sizeof(cents));
            if (mf_pgarr_add(&a[0], d->key, err) != 0 || mf_pgarr_add_ll(&a[1], d->success, err) != 0 ||
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
            return mf_err_prefix(err, "could not update the %s counters",
                                 k == 0 ? "run" : "daily");
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
    long m;
    long long ins = 0, upd = 0, early = 0, parked = 0;
    size_t finals = 0;

    st->stage_ready = 0;
    st->run_d.n = st->day_d.n = 0;
    *direct_failed = 0;
    st->failed_step = REP_STEP_NONE;
    if (mf_pg_begin(conn, err) != 0)
        return -1;
    st->failed_step = REP_STEP_ROWS;
    if ((m = select_unique(st, res, n, 0, err)) < 0)
        goto fail;
    if (insert_rows(st, conn, (size_t)m, direct, &ins, &stats->direct, stats->ins_status,
                    err) != 0) {
        *direct_failed = direct && direct_conflict(err);
        goto fail;
    }
    if (apply_early(st, conn, (size_t)m, &early, stats->upd_status, err) != 0)
        goto fail;
    if ((m = select_unique(st, res, n, 1, err)) < 0 ||
        apply_finals(st, conn, (size_t)m, &upd, stats->upd_status, err) != 0)
        goto fail;
    finals = (size_t)m;
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
    stats->finalized = upd + early;
    stats->early_parked = parked;
    stats->early_applied = early;
    stats->duplicates = (long long)n - ins - upd - parked;
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
    static const char *const names[] = {"none", "rows", "counters", "offsets", "completion",
                                        "commit"};

    return (int)step >= 0 && (size_t)step < sizeof(names) / sizeof(names[0]) ? names[step]
                                                                             : "none";
}

/* The data_error entry of one run (after its row was locked by LOCK_RUNS_SQL). */
static const char PROBLEM_LOG_SQL[] =
    "UPDATE workflow_runs SET logs = COALESCE(logs, '[]'::jsonb) || jsonb_build_array("
    " jsonb_build_object('ts', now(), 'event', 'data_error', 'detail', jsonb_build_object("
    "  'sqlstate', $2::text, 'error', $3::text, 'step', $4::text,"
    "  'not_recorded', $5::bigint, 'first_job_id', $6::text)))"
    " WHERE id = $1::uuid AND (SELECT count(*) FROM jsonb_array_elements("
    "  CASE WHEN jsonb_typeof(logs) = 'array' THEN logs ELSE '[]'::jsonb END) e"
    "  WHERE e->>'event' = 'data_error') < " REP_PROBLEM_LOG_MAX_S;

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
        q = mf_pg_query(conn, LOCK_RUNS_SQL, 1, params, err);
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
        if (mf_pg_command(conn, PROBLEM_LOG_SQL, 6, params, NULL, err) != 0) {
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
    q = mf_pg_query(conn, EXISTING_RUNS_SQL, 1, params, err);
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
    PGresult *q = mf_pg_query(conn, LOAD_OFFSETS_SQL, 2, params, err);
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
