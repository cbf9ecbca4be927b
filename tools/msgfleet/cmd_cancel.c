/* cmd_cancel: `msgfleet cancel`, stop a run across the fleet; jobs not sent yet are cancelled. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_runs.h"
#include "mf_uuid.h"
#include "msgfleet.h"

static const char CANCEL_USAGE[] =
    "usage: msgfleet cancel RUN_ID [--reason TEXT] [--watch] [--timeout S]\n\n"
    "Cancel a running run, as the web UI does (workflow_runs.status = 'cancelled'), and note\n"
    "who and why in the run's logs. Every sender stops sending the run's jobs within about a\n"
    "second (MF_SENDER_HALT_CHECK_MS): a job not handed to the provider yet gets no message\n"
    "and a message_logs row with status 'cancelled' (code RUN_CANCELLED); messages already\n"
    "accepted stay 'sent'. The planner stops expanding the run. The run keeps the status\n"
    "'cancelled' and gets completed_at once every job it expanded has its row. A cancel is\n"
    "final. Resend the cancelled recipients later, e.g. with a fixed template, with\n"
    "`msgfleet replay RUN_ID --status cancelled`.\n"
    "  --reason TEXT  why (kept in the run's logs with the operator's name)\n"
    "  --watch        follow the run until its last job has its row, then print its summary\n"
    "  --timeout S    with --watch: give up after S seconds (exit 1)\n"
    "The database comes from MF_PG_DSN or MF_PG_DSN_FILE.\n";

/* clang-format off */
static const char CANCEL_SQL[] =
    "UPDATE workflow_runs SET status = 'cancelled',"
    " logs = COALESCE(logs, '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
    "   'ts', now(), 'event', 'cancelled',"
    "   'detail', jsonb_build_object('by', $2::text, 'reason', $3::text)))"
    " WHERE id = $1::uuid AND status = 'running'"
    " RETURNING (SELECT coalesce(w.name, '?') FROM workflows w WHERE w.id = workflow_id)";

static const char STATUS_SQL[] = "SELECT status FROM workflow_runs WHERE id = $1::uuid";
/* clang-format on */

typedef struct cancel_opts {
    const char *dsn, *run, *reason;
    int watch;
    double timeout_s;
} cancel_opts;

static int parse_cancel_args(int argc, char **argv, cancel_opts *o)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},  {"watch", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'}, {"dsn", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    char *end = NULL;
    mf_uuid u;
    mf_err err;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': o->reason = optarg; break;
        case 'w': o->watch = 1; break;
        case 't':
            o->timeout_s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || o->timeout_s < 0) {
                fprintf(stderr, "msgfleet cancel: invalid --timeout \"%s\"\n", optarg);
                return MSGFLEET_EXIT_USAGE;
            }
            break;
        case 'd': return msgfleet_refuse_dsn(argv[0]);
        case 'h': fputs(CANCEL_USAGE, stdout); return -1;
        default: fputs(CANCEL_USAGE, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fputs(CANCEL_USAGE, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    o->run = argv[optind];
    if (mf_uuid_parse(o->run, &u, &err) != 0) {
        fprintf(stderr, "msgfleet cancel: invalid run id \"%s\": %s\n", o->run, err.msg);
        return MSGFLEET_EXIT_USAGE;
    }
    return MSGFLEET_EXIT_OK;
}

/* Why nothing was cancelled: no such run, or it is not running. */
static int explain_refusal(PGconn *conn, const char *run)
{
    const char *params[1] = {run};
    PGresult *res = msgfleet_query(conn, "cancel", STATUS_SQL, 1, params);

    if (res == NULL)
        return MSGFLEET_EXIT_ERROR;
    if (PQntuples(res) == 0)
        fprintf(stderr, "msgfleet cancel: no run \"%s\"\n", run);
    else
        fprintf(stderr, "msgfleet cancel: run %s is %s; only a running run can be cancelled\n", run,
                PQgetvalue(res, 0, 0));
    PQclear(res);
    return MSGFLEET_EXIT_ERROR;
}

static int cancel_run(PGconn *conn, const cancel_opts *o)
{
    char who[128];
    const char *params[3] = {o->run, who, o->reason};
    mf_runs_completion done;
    mf_err err = {{0}};
    PGresult *res;

    snprintf(who, sizeof(who), "cli:%s", getenv("USER") ? getenv("USER") : "unknown");
    res = msgfleet_query(conn, "cancel", CANCEL_SQL, 3, params);
    if (res == NULL)
        return MSGFLEET_EXIT_ERROR;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return explain_refusal(conn, o->run);
    }
    printf("run %s of workflow \"%s\" cancelled\n", o->run, PQgetvalue(res, 0, 0));
    PQclear(res);
    /* nothing expanded yet, or every row already there: it ends now */
    if (mf_runs_try_finish_cancelled(conn, o->run, &done, &err) != 0)
        fprintf(stderr, "msgfleet cancel: %s (the reporters will end the run)\n", err.msg);
    if (done.completed)
        printf("nothing left to stop: %lld sent, %lld failed or cancelled\n", done.success_count,
               done.failed_count);
    else
        printf("the senders stop within about a second; jobs not sent become 'cancelled'\n");
    if (!done.completed || done.failed_count > 0)
        printf("resend the cancelled recipients later with: msgfleet replay %s --status "
               "cancelled\n",
               o->run);
    fflush(stdout);
    return MSGFLEET_EXIT_OK;
}

/* Whether the run has completed_at (a cancelled run: every job has its row). */
static int run_ended(PGconn *conn, const char *run)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT completed_at IS NOT NULL FROM workflow_runs WHERE id = $1::uuid";
    /* clang-format on */
    const char *params[1] = {run};
    PGresult *res = msgfleet_query(conn, "cancel", sql, 1, params);
    int ended = res != NULL && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';

    PQclear(res);
    return ended;
}

int cmd_cancel(int argc, char **argv)
{
    cancel_opts o;
    PGconn *conn;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = parse_cancel_args(argc, argv, &o);
    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    conn = msgfleet_connect(o.dsn, "cancel");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    rc = cancel_run(conn, &o);
    if (rc == MSGFLEET_EXIT_OK && o.watch) {
        /* the watch ends when the run's last job has its row (exit 0), or at the timeout */
        msgfleet_watch_run(conn, o.run, o.timeout_s);
        rc = msgfleet_print_summary(conn, o.run);
        if (rc == MSGFLEET_EXIT_OK && !run_ended(conn, o.run))
            rc = MSGFLEET_EXIT_ERROR;
    }
    PQfinish(conn);
    return rc;
}
