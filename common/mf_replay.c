/* mf_replay: which recipients a replay of a run's failures resends (shared by CLI and planner). */
#include "mf_replay.h"

#include <stdio.h>

#include "mf_pg.h"

/* $1 original run, $2 filter (jsonb). The filter is read in SQL so that the CLI's dry run and
 * the planner's expansion cannot disagree about what it means. The chain's run ids are an array
 * (CHAIN_IDS: an uncorrelated subquery, evaluated once before the scans), so both reads of
 * message_logs go through the seed's index on workflow_run_id and touch the chain's rows only;
 * with the chain as a set the planner cannot see (IN (SELECT id FROM chain)), it read the whole
 * table twice per page (docs/replay.md, "Cost"). */
#define CHAIN_IDS "ARRAY(SELECT id FROM workflow_runs WHERE id = $1::uuid OR replay_of = $1::uuid)"
#define CANDIDATES_SQL                                                                          \
    "WITH f AS (SELECT coalesce($2::jsonb, '{}'::jsonb) AS j) "                                 \
    "SELECT DISTINCT ON (m.recipient_phone) m.recipient_phone, m.recipient_name, "              \
    "       m.template_id, coalesce(m.variables_used, '{}'::jsonb), "                           \
    "       coalesce(m.error_code, ''), m.message_type "                                        \
    "FROM message_logs m, f "                                                                   \
    "WHERE m.workflow_run_id = ANY (" CHAIN_IDS ") "                                            \
    "  AND m.recipient_phone IS NOT NULL "                                                      \
    "  AND m.status IN (SELECT jsonb_array_elements_text("                                      \
    "        coalesce(f.j->'statuses', '[\"failed\"]'::jsonb))) "                               \
    "  AND (NOT f.j ? 'codes' OR m.error_code IN "                                              \
    "        (SELECT jsonb_array_elements_text(f.j->'codes'))) "                                \
    "  AND coalesce(m.error_code, '') NOT IN (SELECT jsonb_array_elements_text("               \
    "        coalesce(f.j->'exclude_codes', CASE WHEN f.j ? 'codes' THEN '[]'::jsonb "          \
    "                 ELSE '[\"INVALID_PHONE\"]'::jsonb END))) "                               \
    "  AND (f.j->>'since' IS NULL OR "                                                          \
    "       coalesce(m.failed_at, m.created_at) >= (f.j->>'since')::timestamptz) "              \
    "  AND (f.j->>'until' IS NULL OR "                                                          \
    "       coalesce(m.failed_at, m.created_at) < (f.j->>'until')::timestamptz) "               \
    "  AND NOT EXISTS (SELECT 1 FROM message_logs d "                                           \
    "        WHERE d.workflow_run_id = ANY (" CHAIN_IDS ") "                                    \
    "          AND d.recipient_phone = m.recipient_phone "                                      \
    "          AND d.status IN ('sent', 'delivered')) "

PGresult *mf_replay_page(PGconn *conn, const char *original_run_id, const char *filter_json,
                         const char *after_phone, int limit, mf_err *err)
{
    static const char sql[] = CANDIDATES_SQL
        "  AND m.recipient_phone > $3 "
        "ORDER BY m.recipient_phone, m.created_at DESC LIMIT $4";
    char lim[16];
    const char *params[4] = {original_run_id, filter_json, after_phone ? after_phone : "", lim};

    snprintf(lim, sizeof(lim), "%d", limit);
    return mf_pg_query(conn, sql, 4, params, err);
}

PGresult *mf_replay_count_by_code(PGconn *conn, const char *original_run_id,
                                  const char *filter_json, mf_err *err)
{
    static const char sql[] = "SELECT c.code, count(*) FROM (" CANDIDATES_SQL
                              "ORDER BY m.recipient_phone, m.created_at DESC) "
                              "AS c(phone, name, tpl, vars, code, type) "
                              "GROUP BY c.code ORDER BY 2 DESC, 1";
    const char *params[2] = {original_run_id, filter_json};

    return mf_pg_query(conn, sql, 2, params, err);
}
