/* cmd_pause: `msgfleet pause` / `msgfleet resume`, hold every running run of a workflow. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgfleet.h"

static const char PAUSE_USAGE[] =
    "usage: msgfleet pause WORKFLOW [--reason TEXT]\n\n"
    "Pause a workflow (its id or its name), as the web UI does (workflows.status = 'paused').\n"
    "Every running run of it is held: the senders stop sending its jobs within about a\n"
    "second (MF_SENDER_HALT_CHECK_MS) and park them on the retry topic, nothing fails and\n"
    "other runs are not slowed; runs not expanded yet wait unexpanded; its schedule does not\n"
    "fire. The runs stay 'running'. `msgfleet resume WORKFLOW` continues them.\n"
    "  --reason TEXT  why (kept in the logs of the runs it holds, with the operator's name)\n"
    "The database comes from MF_PG_DSN or MF_PG_DSN_FILE.\n";

static const char RESUME_USAGE[] =
    "usage: msgfleet resume WORKFLOW [--skip-missed] [--reason TEXT]\n\n"
    "Make a paused workflow active again: its held runs continue where they stopped (the\n"
    "senders see it within about a second), and its schedule fires again. A scheduled slot\n"
    "that came due while the workflow was paused fires once now (as after a planner outage),\n"
    "unless --skip-missed is given: then the next slot after now is the next run.\n"
    "Templates and message_config are cached by the senders for MF_SENDER_TEMPLATE_TTL_MS\n"
    "(30 s): after fixing a template during a pause, wait that long before resuming.\n"
    "  --skip-missed  do not fire a slot missed while paused\n"
    "  --reason TEXT  kept in the logs of the runs it continues\n"
    "The database comes from MF_PG_DSN or MF_PG_DSN_FILE.\n";

/* The workflow named by id or by name: exactly one must match. */
/* clang-format off */
static const char FIND_SQL[] =
    "SELECT id::text, name, coalesce(status, 'draft'), trigger_type FROM workflows"
    " WHERE id::text = $1 OR name = $1 ORDER BY (id::text = $1) DESC LIMIT 2";

/* $1 workflow id, $2 status from, $3 status to, $4 event, $5 who, $6 reason, $7 skip missed.
 * One statement: the workflow changes and its running runs get a log entry together. */
static const char SWITCH_SQL[] =
    "WITH w AS ("
    " UPDATE workflows SET status = $3, updated_at = now(),"
    "  next_run_at = CASE WHEN $7::boolean AND trigger_type = 'schedule' THEN NULL"
    "                ELSE next_run_at END"
    " WHERE id = $1::uuid AND status = $2"
    " RETURNING id, next_run_at),"
    "r AS ("
    " UPDATE workflow_runs SET logs = COALESCE(logs, '[]'::jsonb) || jsonb_build_array("
    "  jsonb_build_object('ts', now(), 'event', $4::text,"
    "   'detail', jsonb_build_object('by', $5::text, 'reason', $6::text)))"
    " WHERE workflow_id IN (SELECT id FROM w) AND status = 'running'"
    " RETURNING 1)"
    "SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM r),"
    " (SELECT next_run_at IS NOT NULL AND next_run_at <= now() FROM w)";
/* clang-format on */

typedef struct pause_opts {
    const char *dsn, *workflow, *reason;
    int skip_missed;
} pause_opts;

static int parse_args(int argc, char **argv, const char *usage, int resume, pause_opts *o)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"skip-missed", no_argument, NULL, 's'},
                                         {"dsn", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': o->reason = optarg; break;
        case 's':
            if (!resume) {
                fputs(usage, stderr);
                return MSGFLEET_EXIT_USAGE;
            }
            o->skip_missed = 1;
            break;
        case 'd':
            msgfleet_refuse_dsn(argv[0]); /* always the usage status */
            return MSGFLEET_EXIT_USAGE;
        case 'h': fputs(usage, stdout); return -1;
        default: fputs(usage, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    o->workflow = argv[optind];
    return MSGFLEET_EXIT_OK;
}

/* Finds the workflow: id, name, status and trigger into the buffers (cap bytes each). */
static int find_workflow(PGconn *conn, const char *cmd, const char *workflow, char *id, char *name,
                         char *status, char *trigger, size_t cap)
{
    const char *params[1] = {workflow};
    PGresult *res = msgfleet_query(conn, cmd, FIND_SQL, 1, params);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        fprintf(stderr, "msgfleet %s: no workflow \"%s\"\n", cmd, workflow);
    } else if (PQntuples(res) > 1 && strcmp(PQgetvalue(res, 0, 0), workflow) != 0) {
        fprintf(stderr, "msgfleet %s: several workflows are named \"%s\"; give the id\n", cmd,
                workflow);
    } else {
        snprintf(id, cap, "%s", PQgetvalue(res, 0, 0));
        snprintf(name, cap, "%s", PQgetvalue(res, 0, 1));
        snprintf(status, cap, "%s", PQgetvalue(res, 0, 2));
        snprintf(trigger, cap, "%s", PQgetvalue(res, 0, 3));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

static int switch_status(int argc, char **argv, int resume)
{
    const char *cmd = resume ? "resume" : "pause";
    const char *from = resume ? "paused" : "active", *to = resume ? "active" : "paused";
    char id[256], name[256], status[256], trigger[256], who[128];
    const char *params[7];
    pause_opts o;
    PGconn *conn;
    PGresult *res = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = parse_args(argc, argv, resume ? RESUME_USAGE : PAUSE_USAGE, resume, &o);
    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    conn = msgfleet_connect(o.dsn, cmd);
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    rc = MSGFLEET_EXIT_ERROR;
    if (find_workflow(conn, cmd, o.workflow, id, name, status, trigger, sizeof(id)) != 0)
        goto out;
    if (strcmp(status, from) != 0) {
        fprintf(stderr, "msgfleet %s: workflow \"%s\" is %s; only %s\n", cmd, name, status,
                resume ? "a paused workflow can be resumed" : "an active workflow can be paused");
        goto out;
    }
    snprintf(who, sizeof(who), "cli:%s", getenv("USER") ? getenv("USER") : "unknown");
    params[0] = id;
    params[1] = from;
    params[2] = to;
    params[3] = resume ? "resumed" : "paused";
    params[4] = who;
    params[5] = o.reason;
    params[6] = o.skip_missed ? "true" : "false";
    res = msgfleet_query(conn, cmd, SWITCH_SQL, 7, params);
    if (res == NULL)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
        fprintf(stderr, "msgfleet %s: workflow \"%s\" changed meanwhile; nothing done\n", cmd,
                name);
        goto out;
    }
    printf("workflow \"%s\" %s: %s running run(s) %s\n", name, resume ? "resumed" : "paused",
           PQgetvalue(res, 0, 1), resume ? "continue" : "held");
    if (resume && strcmp(trigger, "schedule") == 0)
        printf(PQgetvalue(res, 0, 2)[0] == 't'
                   ? "its schedule fires now for a slot missed while paused\n"
                   : "its schedule continues with the next slot\n");
    else if (!resume && strcmp(trigger, "schedule") == 0)
        printf("its schedule does not fire while paused\n");
    fflush(stdout);
    rc = MSGFLEET_EXIT_OK;
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int cmd_pause(int argc, char **argv)
{
    return switch_status(argc, argv, 0);
}

int cmd_resume(int argc, char **argv)
{
    return switch_status(argc, argv, 1);
}
