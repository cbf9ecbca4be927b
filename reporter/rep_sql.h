/* rep_sql: the SQL text of the batch transaction (rep_store), as named constants. */
#ifndef REP_SQL_H
#define REP_SQL_H

#include "rep_store.h"

/* The statements are used by rep_store.c and rep_store_insert.c, the prices query by
 * rep_price.c; the helper macros that build them are undefined at the end of this file. */

#define MS_TS(x) "CASE WHEN " x " > 0 THEN to_timestamp(" x " / 1000.0) END"

/* The insert and final statements do not touch workflow_runs or daily_statistics: they return
 * what changed as delta rows, which the batch applies at its end (apply_deltas), after every
 * row is written. The run rows are therefore locked only for the last statements of the
 * transaction, and two reporters write their rows in parallel (docs/reporter.md).
 * Delta row columns: kind ('r' run, 'd' Seoul date), key (run id or date), success delta,
 * failed delta, cost delta (numeric text), then rows by new status: sent, delivered, failed,
 * cancelled ('r' rows only). */
/* clang-format off */
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
/* clang-format on */

/* Columns of the staging table and of the unnest arrays (STAGE_COLUMNS), in order. */
enum {
    REP_COL_ID,
    REP_COL_RUN,
    REP_COL_TPL,
    REP_COL_ATT,
    REP_COL_STATUS,
    REP_COL_PHONE,
    REP_COL_NAME,
    REP_COL_TYPE,
    REP_COL_TEXT,
    REP_COL_VARS,
    REP_COL_PMID,
    REP_COL_GID,
    REP_COL_CODE,
    REP_COL_MSG,
    REP_COL_COST,
    REP_COL_SENT,
    REP_COL_DELIVERED,
    REP_COL_FAILED,
    REP_COL_CHANNEL,
    REP_NCOL
};

/* clang-format off */
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
/* clang-format on */

#define STAGE_COLUMNS                                                                              \
    "id uuid, run_id uuid, tpl uuid, att int, status text, phone text, name text, mtype text,"     \
    " content text, vars jsonb, pmid text, gid text, code text, msg text, cost numeric,"           \
    " sent_ms bigint, delivered_ms bigint, failed_ms bigint, channel text"

/* COPY mode (the default: measured faster for 5,000 rows, docs/reporter.md): a staging table
 * that lives only inside the batch transaction (pooler-safe), filled by COPY. */
/* clang-format off */
static const char REP_SQL_STAGE_CREATE[] =
    "CREATE TEMP TABLE mf_rep_stage (" STAGE_COLUMNS ") ON COMMIT DROP";
static const char REP_SQL_STAGE_TRUNCATE[] = "TRUNCATE mf_rep_stage";
static const char REP_SQL_STAGE_COPY[] = "COPY mf_rep_stage FROM STDIN";
static const char REP_SQL_INSERT_STAGE[] = "WITH s AS (SELECT * FROM mf_rep_stage), " INSERT_BODY;

/* unnest mode: one statement with 19 array parameters. */
static const char REP_SQL_INSERT_UNNEST[] =
    "WITH s AS ("
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[],"
    "  $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[],"
    "  $13::text[], $14::text[], $15::numeric[], $16::bigint[], $17::bigint[], $18::bigint[],"
    "  $19::text[])"
    "  AS s(id, run_id, tpl, att, status, phone, name, mtype, content, vars, pmid, gid, code,"
    "   msg, cost, sent_ms, delivered_ms, failed_ms, channel)), " INSERT_BODY;
/* clang-format on */

/* Later outcomes as arrays, the parameters of REP_SQL_FINAL and REP_SQL_EARLY_PARK. */
enum {
    REP_UCOL_ID,
    REP_UCOL_STATUS,
    REP_UCOL_TS,
    REP_UCOL_CODE,
    REP_UCOL_MSG,
    REP_UCOL_CH,
    REP_UCOL_PMID,
    REP_UCOL_RUN,
    REP_NUCOL
};

/* A later outcome applies only to a row still 'sent'. An undelivered message costs nothing
 * (the provider refunds it) and moves from success to failed, on the run and on the days.
 * The channel is the one the final report names (an alimtalk that the provider fell back to
 * SMS/LMS for), else the row keeps its own.
 * "IS NOT DISTINCT FROM" (same result as "=" here) because no index or partial-index predicate
 * matches it: with "=", stale statistics (a campaign's rows arrive faster than autoanalyze)
 * made the planner hash every 'sent' row of the table per batch instead of looking up the
 * batch's ids by primary key, 65 ms instead of 25 ms for 700 rows at 100k rows in flight.
 * FINAL_BODY: the update and its delta rows, from the later outcomes u(id, st, ts_ms, code,
 * msg, ch, pmid, run). The outcome's time, never before the row's sent_at (a report produced
 * without the row did not know it). An outcome about another provider message than the row's
 * (an earlier attempt of the job; pmid set on both and different) is stale and changes
 * nothing, and so is one that names another run than the row's: the webhook receiver produces
 * most reports without reading their rows, so these checks are made here (on m: SET and WHERE
 * see the row before the update). RETURNING sees it after: the cost a failure refunds is read
 * back by a subquery, which sees the row as the statement found it, only for failures; a join
 * of the row before the update for every outcome was a second primary-key probe per row. */
#define FINAL_TS "GREATEST(" MS_TS("u.ts_ms") ", m.sent_at)"
/* clang-format off */
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
    " FROM u"                                                                                   \
    " WHERE m.id = u.id AND m.status IS NOT DISTINCT FROM 'sent'"                               \
    "  AND m.workflow_run_id = u.run"                                                           \
    "  AND (u.pmid IS NULL OR m.provider_message_id IS NULL"                                   \
    "   OR m.provider_message_id = u.pmid)"                                                     \
    " RETURNING m.id, m.workflow_run_id AS run_id, m.status,"                                   \
    "  CASE WHEN m.status = 'failed' THEN"                                                      \
    "   (SELECT COALESCE(b.cost, 0) FROM message_logs b WHERE b.id = m.id)"                     \
    "  ELSE COALESCE(m.cost, 0) END AS old_cost,"                                              \
    "  m.sent_at, m.failed_at) "                                                                \
    "SELECT 'r', run_id::text, -count(*) FILTER (WHERE status = 'failed'),"                     \
    " count(*) FILTER (WHERE status = 'failed'),"                                               \
    " (-COALESCE(sum(old_cost) FILTER (WHERE status = 'failed'), 0))::text, 0,"                 \
    " count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'failed'), 0"\
    " FROM upd GROUP BY run_id"                                                                 \
    DELTA_DAYS("upd", "-1", "-old_cost", "status = 'failed'", "status = 'failed'")

static const char REP_SQL_FINAL[] =
    "WITH u AS ("
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
    "  $6::text[], $7::text[], $8::uuid[]) AS u(id, st, ts_ms, code, msg, ch, pmid, run)), "
    FINAL_BODY;

/* Early finals: a later outcome whose job has no row yet (a delivery report that overtook
 * its message's `accepted` result) waits in mf_early_finals (schemas/pg/0017_early_finals.sql)
 * instead of being dropped or written as a row without its message. The batch that inserts
 * the job's row applies it in the same transaction (REP_SQL_EARLY_APPLY, one statement by job id),
 * after one look whether the table holds anything at all (REP_SQL_EARLY_ANY): that look is the
 * whole cost of this feature for a batch while no report is waiting. */
static const char REP_SQL_EARLY_PARK[] =
    "INSERT INTO mf_early_finals (job_id, workflow_run_id, status, reported_ms, status_code,"
    " status_message, channel, provider_message_id)"
    " SELECT u.id, u.run, u.st, u.ts_ms, u.code, u.msg, u.ch, u.pmid"
    " FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],"
    "  $7::text[], $8::uuid[]) AS u(id, st, ts_ms, code, msg, ch, pmid, run)"
    " WHERE NOT EXISTS (SELECT 1 FROM message_logs m WHERE m.id = u.id OFFSET 0)"
    " ON CONFLICT (job_id) DO NOTHING";

/* The batch transaction's statements look rows up by key (ids of the batch): probes of a
 * primary key whose pages are in memory. With the default random_page_cost (4) the planner
 * priced 3,750 probes above one scan of message_logs and hashed the whole table for every
 * batch of later outcomes (78 ms at 200,000 rows, 7 ms with the probes; it grows with the
 * table), and the anti-join of REP_SQL_EARLY_PARK did the same (113 ms against 28 ms; OFFSET 0
 * keeps it a probe per outcome whatever the costs). Transaction-local: pooler-safe. */
static const char REP_SQL_TX_COSTS[] = "SET LOCAL random_page_cost = 1.1";

static const char REP_SQL_EARLY_ANY[] = "SELECT EXISTS (SELECT 1 FROM mf_early_finals)";

/* The direct COPY's rows take what waits for them out first and are inserted final: no update
 * of a row just written (rep_store_insert.c). */
static const char REP_SQL_EARLY_TAKE[] =
    "DELETE FROM mf_early_finals WHERE job_id = ANY($1::uuid[])"
    " RETURNING job_id, status, reported_ms, status_code, status_message, channel,"
    " provider_message_id, workflow_run_id";

/* A waiting outcome is removed whether it applies or not (stale, or the row is final). */
static const char REP_SQL_EARLY_APPLY[] =
    "WITH u AS ("
    " DELETE FROM mf_early_finals e WHERE e.job_id = ANY($1::uuid[])"
    " RETURNING e.job_id AS id, e.status AS st, e.reported_ms AS ts_ms, e.status_code AS code,"
    "  e.status_message AS msg, e.channel AS ch, e.provider_message_id AS pmid,"
    "  e.workflow_run_id AS run), "
    FINAL_BODY;

/* Early finals whose row never came (its `accepted` was dead-lettered, or the row was
 * deleted): removed after EARLY_KEEP_DAYS by rep_store_prune_early. */
static const char REP_SQL_EARLY_PRUNE[] =
    "DELETE FROM mf_early_finals WHERE created_at < now() - make_interval(days => $1::int)";

/* The batch's deltas, applied last: runs in id order, then days in date order, the same order
 * in every reporter. */
static const char REP_SQL_RUN_DELTAS[] =
    "UPDATE workflow_runs r SET success_count = COALESCE(r.success_count, 0) + d.s,"
    " failed_count = COALESCE(r.failed_count, 0) + d.f,"
    " total_cost = COALESCE(r.total_cost, 0) + d.c"
    " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::numeric[]) AS d(id, s, f, c)"
    " WHERE r.id = d.id";

static const char REP_SQL_DAY_DELTAS[] =
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
static const char REP_SQL_DIRECT_COPY[] =
    "COPY message_logs (id, workflow_run_id, template_id, recipient_phone, recipient_name,"
    " message_type, message_content, variables_used, status, provider, provider_message_id,"
    " cost, sent_at, delivered_at, failed_at, error_code, error_message, job_attempt, channel,"
    " provider_group_id, provider_status_code) FROM STDIN";

/* Runs of the batch, locked in id order (so concurrent reporters lock in the same order), as the
 * first of the batch's last statements. FOR NO KEY UPDATE, the lock an UPDATE of the counters
 * takes anyway: FOR UPDATE would conflict with the KEY SHARE locks that the message_logs
 * foreign key checks of another reporter's transaction hold, and two reporters would
 * deadlock. */
static const char REP_SQL_LOCK_RUNS[] =
    "SELECT id, status, workflow_id FROM workflow_runs WHERE id = ANY($1::uuid[])"
    " ORDER BY id FOR NO KEY UPDATE";

static const char REP_SQL_EXISTING_RUNS[] =
    "SELECT id FROM workflow_runs WHERE id = ANY($1::uuid[])";

static const char REP_SQL_OFFSETS[] =
    "INSERT INTO mf_consumer_offsets AS o (consumer_group, topic, partition, next_offset,"
    " updated_at, reports_at, reports_sent_upto)"
    " SELECT $1, $2, p, n, now(), CASE WHEN s > 0 THEN now() END,"
    "  CASE WHEN s > 0 THEN to_timestamp(s / 1000.0) END"
    " FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS x(p, n, s)"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
    "  next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset), updated_at = now(),"
    "  reports_at = COALESCE(EXCLUDED.reports_at, o.reports_at),"
    "  reports_sent_upto = GREATEST(o.reports_sent_upto, EXCLUDED.reports_sent_upto)";

static const char REP_SQL_LOAD_OFFSETS[] =
    "SELECT partition, next_offset FROM mf_consumer_offsets"
    " WHERE consumer_group = $1 AND topic = $2";

static const char REP_SQL_PRICES[] =
    "SELECT setting_value::text FROM system_settings WHERE setting_key = 'coolsms_prices'";

/* The data_error entry of one run (after its row was locked by REP_SQL_LOCK_RUNS). */
static const char REP_SQL_PROBLEM_LOG[] =
    "UPDATE workflow_runs SET logs = COALESCE(logs, '[]'::jsonb) || jsonb_build_array("
    " jsonb_build_object('ts', now(), 'event', 'data_error', 'detail', jsonb_build_object("
    "  'sqlstate', $2::text, 'error', $3::text, 'step', $4::text,"
    "  'not_recorded', $5::bigint, 'first_job_id', $6::text)))"
    " WHERE id = $1::uuid AND (SELECT count(*) FROM jsonb_array_elements("
    "  CASE WHEN jsonb_typeof(logs) = 'array' THEN logs ELSE '[]'::jsonb END) e"
    "  WHERE e->>'event' = 'data_error') < " REP_PROBLEM_LOG_MAX_S;
/* clang-format on */

#undef MS_TS
#undef DELTA_DAYS
#undef DELTA_INSERTED
#undef INSERT_BODY
#undef STAGE_COLUMNS
#undef FINAL_TS
#undef FINAL_BODY

#endif
