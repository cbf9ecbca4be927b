/* mf_replay: which recipients a replay of a run's failures resends (shared by CLI and planner). */
#include "mf_replay.h"

#include <stdio.h>

#include "mf_pg.h"

/* The chain (the original run $1 and its replays) and the statuses the filter $2 resends, read
 * first and handed to the candidate query as values: with them the planner estimates from the
 * table's statistics how many rows of those runs and statuses there are, and reads them through
 * the seed's indexes on workflow_run_id and status. */
/* clang-format off */
static const char CHAIN_SQL[] =
    "SELECT ARRAY(SELECT id FROM workflow_runs WHERE id = $1::uuid OR replay_of = $1::uuid)::text,"
    " ARRAY(SELECT jsonb_array_elements_text("
    "  coalesce($2::jsonb->'statuses', '[\"failed\"]'::jsonb)))::text";

/* $1 the chain's run ids (uuid[]), $2 filter (jsonb), $3 the statuses to resend (text[]). The
 * filter is read in SQL so that the CLI's dry run and the planner's expansion cannot disagree
 * about what it means. The failures are read through the seed's indexes on workflow_run_id and
 * status (the query used to name the chain through a CTE the planner cannot see into, and read
 * the whole table twice per page). The never-resend check reads the candidate's phone's rows
 * through the seed's index on recipient_phone and keeps those of the chain: the inner OFFSET 0
 * keeps the run condition out of that scan, so the plan stays one phone probe per candidate
 * whatever the statistics say (on rows not analysed yet the planner once chose a scan of the
 * run's rows per candidate: more than 7 minutes for a 100,000-recipient run). It cost its own
 * index on (workflow_run_id, recipient_phone) before, which every recorded row paid for
 * (docs/replay.md, "Cost"). */
#define CANDIDATES_SQL                                                                          \
    "WITH f AS (SELECT coalesce($2::jsonb, '{}'::jsonb) AS j) "                                 \
    "SELECT DISTINCT ON (m.recipient_phone) m.recipient_phone, m.recipient_name, "              \
    "       m.template_id, coalesce(m.variables_used, '{}'::jsonb), "                           \
    "       coalesce(m.error_code, ''), m.message_type "                                        \
    "FROM message_logs m, f "                                                                   \
    "WHERE m.workflow_run_id = ANY ($1::uuid[]) "                                               \
    "  AND m.recipient_phone IS NOT NULL "                                                      \
    "  AND m.status = ANY ($3::text[]) "                                                        \
    "  AND (NOT f.j ? 'codes' OR m.error_code IN "                                              \
    "        (SELECT jsonb_array_elements_text(f.j->'codes'))) "                                \
    "  AND coalesce(m.error_code, '') NOT IN (SELECT jsonb_array_elements_text("               \
    "        coalesce(f.j->'exclude_codes', CASE WHEN f.j ? 'codes' THEN '[]'::jsonb "          \
    "                 ELSE '[\"INVALID_PHONE\"]'::jsonb END))) "                               \
    "  AND (f.j->>'since' IS NULL OR "                                                          \
    "       coalesce(m.failed_at, m.created_at) >= (f.j->>'since')::timestamptz) "              \
    "  AND (f.j->>'until' IS NULL OR "                                                          \
    "       coalesce(m.failed_at, m.created_at) < (f.j->>'until')::timestamptz) "               \
    "  AND NOT EXISTS (SELECT 1 FROM (SELECT d.workflow_run_id, d.status FROM message_logs d "  \
    "          WHERE d.recipient_phone = m.recipient_phone OFFSET 0) d "                          \
    "        WHERE d.workflow_run_id = ANY ($1::uuid[]) "                                       \
    "          AND d.status IN ('sent', 'delivered')) "
/* clang-format on */

/* Runs `sql` with $1 chain, $2 filter, $3 statuses and the n_more parameters `more` after them. */
static PGresult *candidates(PGconn *conn, const char *sql, const char *original_run_id,
                            const char *filter_json, const char *const *more, int n_more,
                            mf_err *err)
{
    const char *cp[2] = {original_run_id, filter_json};
    const char *params[5];
    PGresult *chain = mf_pg_query(conn, CHAIN_SQL, 2, cp, err), *res;

    if (chain == NULL)
        return NULL;
    params[0] = PQgetvalue(chain, 0, 0);
    params[1] = filter_json;
    params[2] = PQgetvalue(chain, 0, 1);
    for (int i = 0; i < n_more && i < 2; i++)
        params[3 + i] = more[i];
    res = mf_pg_query(conn, sql, 3 + (n_more < 2 ? n_more : 2), params, err);
    PQclear(chain);
    return res;
}

PGresult *mf_replay_page(PGconn *conn, const char *original_run_id, const char *filter_json,
                         const char *after_phone, int limit, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = CANDIDATES_SQL
        "  AND m.recipient_phone > $4 "
        "ORDER BY m.recipient_phone, m.created_at DESC LIMIT $5";
    /* clang-format on */
    char lim[16];
    const char *more[2] = {after_phone ? after_phone : "", lim};

    snprintf(lim, sizeof(lim), "%d", limit);
    return candidates(conn, sql, original_run_id, filter_json, more, 2, err);
}

PGresult *mf_replay_count_by_code(PGconn *conn, const char *original_run_id,
                                  const char *filter_json, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = "SELECT c.code, count(*) FROM (" CANDIDATES_SQL
                              "ORDER BY m.recipient_phone, m.created_at DESC) "
                              "AS c(phone, name, tpl, vars, code, type) "
                              "GROUP BY c.code ORDER BY 2 DESC, 1";
    /* clang-format on */
    return candidates(conn, sql, original_run_id, filter_json, NULL, 0, err);
}
