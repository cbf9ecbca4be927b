/* cmd_summary: `msgfleet summary`, a run's outcome read back from PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>

#include "msgfleet.h"

static const char SUMMARY_USAGE[] =
    "usage: msgfleet summary RUN_ID\n\n"
    "Print a run's targets, sent, failed by error code, messages by type, cost, duration\n"
    "and rate, all counted from PostgreSQL.\n";

/* clang-format off */
static const char RUN_SQL[] =
    "SELECT r.id, coalesce(w.name, '?'), r.status, r.target_count, r.success_count, "
    "       r.failed_count, r.total_cost, coalesce(r.execution_time_ms, "
    "       (extract(epoch FROM (now() - r.started_at)) * 1000)::int), r.trigger_type, "
    "       to_char(r.started_at AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD HH24:MI:SS'), "
    "       coalesce(r.error_message, '') "
    "FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id WHERE r.id::text = $1";

static const char STATUS_SQL[] =
    "SELECT status, count(*) FROM message_logs WHERE workflow_run_id::text = $1 "
    "GROUP BY 1 ORDER BY 2 DESC";
static const char CODES_SQL[] =
    "SELECT coalesce(error_code, '?'), count(*), min(coalesce(error_message, '')) "
    "FROM message_logs WHERE workflow_run_id::text = $1 AND status = 'failed' "
    "GROUP BY 1 ORDER BY 2 DESC";
static const char TYPES_SQL[] =
    "SELECT message_type, count(*), sum(cost) FROM message_logs "
    "WHERE workflow_run_id::text = $1 AND status IN ('sent', 'delivered') "
    "GROUP BY 1 ORDER BY 2 DESC";
/* clang-format on */

/* Prints every row of a grouped query with `fmt` fed columns 0..2. */
static int print_groups(PGconn *conn, const char *sql, const char *run_id, const char *title,
                        int ncols)
{
    const char *params[1] = {run_id};
    PGresult *res = msgfleet_query(conn, "summary", sql, 1, params);

    if (res == NULL)
        return -1;
    printf("%s\n", title);
    if (PQntuples(res) == 0)
        printf("  (none)\n");
    for (int i = 0; i < PQntuples(res); i++) {
        printf("  %-16s %8s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        if (ncols > 2)
            printf("  %s", PQgetvalue(res, i, 2));
        printf("\n");
    }
    PQclear(res);
    return 0;
}

static int print_run(PGconn *conn, const char *run_id)
{
    const char *params[1] = {run_id};
    PGresult *res = msgfleet_query(conn, "summary", RUN_SQL, 1, params);
    double ms, done;

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        fprintf(stderr, "msgfleet summary: no run \"%s\"\n", run_id);
        PQclear(res);
        return -1;
    }
    ms = strtod(PQgetvalue(res, 0, 7), NULL);
    done = strtod(PQgetvalue(res, 0, 4), NULL) + strtod(PQgetvalue(res, 0, 5), NULL);
    printf("run        %s (workflow \"%s\", %s)\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
           PQgetvalue(res, 0, 8));
    printf("started    %s Asia/Seoul\n", PQgetvalue(res, 0, 9));
    printf("status     %s%s%s\n", PQgetvalue(res, 0, 2), *PQgetvalue(res, 0, 10) ? ": " : "",
           PQgetvalue(res, 0, 10));
    printf("targets    %s\n", PQgetvalue(res, 0, 3));
    printf("sent       %s\n", PQgetvalue(res, 0, 4));
    printf("failed     %s\n", PQgetvalue(res, 0, 5));
    printf("cost       %s KRW\n", PQgetvalue(res, 0, 6));
    printf("duration   %.1f s\n", ms / 1000.0);
    printf("rate       %.1f messages/s\n", ms > 0 ? done * 1000.0 / ms : 0.0);
    PQclear(res);
    return 0;
}

int msgfleet_print_summary(PGconn *conn, const char *run_id)
{
    if (print_run(conn, run_id) != 0 ||
        print_groups(conn, STATUS_SQL, run_id, "messages by status", 2) != 0 ||
        print_groups(conn, TYPES_SQL, run_id, "sent by type (count, cost)", 3) != 0 ||
        print_groups(conn, CODES_SQL, run_id, "failed by error code", 3) != 0)
        return MSGFLEET_EXIT_ERROR;
    fflush(stdout);
    return MSGFLEET_EXIT_OK;
}

int cmd_summary(int argc, char **argv)
{
    const char *dsn = NULL, *run_id = NULL;
    double unused = 0;
    PGconn *conn;
    int rc = msgfleet_parse_run_args(argc, argv, SUMMARY_USAGE, &dsn, &run_id, &unused);

    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    conn = msgfleet_connect(dsn, "summary");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    rc = msgfleet_print_summary(conn, run_id);
    PQfinish(conn);
    return rc;
}
