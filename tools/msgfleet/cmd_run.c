/* cmd_run: `msgfleet run`, start a manual run of a workflow the way the web UI does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgfleet.h"

/* A run is a workflow_runs row in status 'running': inserting it is all it takes, planners
 * pick it up within their poll interval, exactly as when the web UI inserts it. */
/* clang-format off */
static const char INSERT_RUN_SQL[] =
    "INSERT INTO workflow_runs (workflow_id, status, trigger_type, requested_by) "
    "SELECT id, 'running', 'manual', $2 FROM workflows "
    "WHERE (id::text = $1 OR name = $1) AND status <> 'archived' "
    "ORDER BY (id::text = $1) DESC, created_at DESC LIMIT 1 "
    "RETURNING id";
/* clang-format on */

static void run_usage(FILE *out)
{
    fprintf(out, "usage: msgfleet run WORKFLOW [--watch] [--timeout SECONDS]\n\n"
                 "Start a manual run of WORKFLOW (its id or its name) and print the run id.\n"
                 "  --watch          follow the run until it ends, then print its summary\n"
                 "  --timeout S      with --watch: give up after S seconds (exit 1)\n"
                 "PostgreSQL: MF_PG_DSN or the file named by MF_PG_DSN_FILE.\n");
}

static int insert_run(PGconn *conn, const char *workflow, char *run_id, size_t cap)
{
    char who[128];
    const char *params[2];
    PGresult *res;
    int rc = MSGFLEET_EXIT_ERROR;

    snprintf(who, sizeof(who), "cli:%s", getenv("USER") ? getenv("USER") : "unknown");
    params[0] = workflow;
    params[1] = who;
    res = msgfleet_query(conn, "run", INSERT_RUN_SQL, 2, params);
    if (res == NULL)
        return rc;
    if (PQntuples(res) != 1) {
        fprintf(stderr, "msgfleet run: no workflow \"%s\" (or it is archived)\n", workflow);
        goto out;
    }
    snprintf(run_id, cap, "%s", PQgetvalue(res, 0, 0));
    rc = MSGFLEET_EXIT_OK;
out:
    PQclear(res);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"dsn", required_argument, NULL, 'd'},
                                         {"watch", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int watch = 0;
    double timeout_s = 0;
    char run_id[64];
    PGconn *conn;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': return msgfleet_refuse_dsn("run");
        case 'w': watch = 1; break;
        case 't': timeout_s = strtod(optarg, NULL); break;
        case 'h': run_usage(stdout); return MSGFLEET_EXIT_OK;
        default: run_usage(stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        run_usage(stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    conn = msgfleet_connect(NULL, "run");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    rc = insert_run(conn, argv[optind], run_id, sizeof(run_id));
    if (rc == MSGFLEET_EXIT_OK) {
        printf("%s\n", run_id);
        fflush(stdout);
        if (watch) {
            rc = msgfleet_watch_run(conn, run_id, timeout_s);
            msgfleet_print_summary(conn, run_id);
        }
    }
    PQfinish(conn);
    return rc;
}
