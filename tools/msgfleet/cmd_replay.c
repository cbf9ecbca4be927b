/* cmd_replay: `msgfleet replay`, resend a run's failures as a new run linked to the original. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_buf.h"
#include "mf_replay.h"
#include "msgfleet.h"

static const char REPLAY_USAGE[] =
    "usage: msgfleet replay RUN_ID [--status S]... [--code C]... [--since T] [--until T]\n"
    "                       [--dry-run] [--watch] [--timeout S]\n\n"
    "Resend the failures of a run (or of a replay: the chain is the original run and all its\n"
    "replays) as a new run with replay_of = the original. A recipient who already has a sent or\n"
    "delivered message anywhere in the chain is never sent again, so running the same replay\n"
    "twice sends nothing the second time. Without --code, INVALID_PHONE failures are left out\n"
    "(fix the customer data first).\n"
    "  --status S   message_logs status to resend (default failed; repeatable), e.g.\n"
    "               cancelled: the recipients a cancelled run did not send to\n"
    "  --code C     only failures with this error code (repeatable)\n"
    "  --since T / --until T   failure time window (timestamptz, e.g. 2026-11-25T09:00+09)\n"
    "  --dry-run    print how many recipients and which codes, start nothing\n"
    "  --watch      follow the replay run and print its summary\n"
    "PostgreSQL: MF_PG_DSN or the file named by MF_PG_DSN_FILE.\n";

typedef struct replay_opts {
    const char *run;
    const char *statuses[8];
    size_t nstatuses;
    const char *codes[32];
    size_t ncodes;
    const char *since, *until;
    int dry_run, watch;
    double timeout_s;
} replay_opts;

static int add_opt(const char **list, size_t *n, size_t cap, const char *v)
{
    if (*n == cap) {
        fprintf(stderr, "msgfleet replay: too many values (at most %zu)\n", cap);
        return -1;
    }
    list[(*n)++] = v;
    return 0;
}

static int parse_replay_args(int argc, char **argv, replay_opts *o)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, 's'},  {"code", required_argument, NULL, 'c'},
        {"since", required_argument, NULL, 'S'},   {"until", required_argument, NULL, 'U'},
        {"dry-run", no_argument, NULL, 'n'},       {"watch", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'}, {"dsn", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c, rc = 0;

    optind = 1;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
        switch (c) {
        case 's': rc = add_opt(o->statuses, &o->nstatuses, 8, optarg); break;
        case 'c': rc = add_opt(o->codes, &o->ncodes, 32, optarg); break;
        case 'S': o->since = optarg; break;
        case 'U': o->until = optarg; break;
        case 'n': o->dry_run = 1; break;
        case 'w': o->watch = 1; break;
        case 't': o->timeout_s = strtod(optarg, NULL); break;
        case 'd': return msgfleet_refuse_dsn("replay");
        case 'h': fputs(REPLAY_USAGE, stdout); return -1;
        default: fputs(REPLAY_USAGE, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (rc != 0)
        return MSGFLEET_EXIT_USAGE;
    if (optind + 1 != argc) {
        fputs(REPLAY_USAGE, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    o->run = argv[optind];
    return MSGFLEET_EXIT_OK;
}

static int json_list(mf_buf *b, const char *key, const char *const *v, size_t n, mf_err *err)
{
    if (n == 0)
        return 0;
    if (mf_buf_printf(b, err, "%s\"%s\":[", b->len > 1 ? "," : "", key) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && mf_buf_append_char(b, ',', err) != 0) ||
            mf_buf_append_json_cstr(b, v[i], err) != 0)
            return -1;
    }
    return mf_buf_append_char(b, ']', err);
}

static int json_text(mf_buf *b, const char *key, const char *v, mf_err *err)
{
    if (v == NULL)
        return 0;
    if (mf_buf_printf(b, err, "%s\"%s\":", b->len > 1 ? "," : "", key) != 0)
        return -1;
    return mf_buf_append_json_cstr(b, v, err);
}

/* The replay_filter JSON of docs/replay.md from the options. */
static int build_filter(const replay_opts *o, mf_buf *b, mf_err *err)
{
    if (mf_buf_append_char(b, '{', err) != 0 ||
        json_list(b, "statuses", o->statuses, o->nstatuses, err) != 0 ||
        json_list(b, "codes", o->codes, o->ncodes, err) != 0 ||
        json_text(b, "since", o->since, err) != 0 || json_text(b, "until", o->until, err) != 0)
        return -1;
    return mf_buf_append_str(b, "}", err);
}

/* The original run of the chain, its workflow, and whether a replay of it is still running. */
static int resolve_chain(PGconn *conn, const char *run, char *root, char *workflow, size_t cap)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT coalesce(r.replay_of, r.id), r.workflow_id, "
        "  EXISTS (SELECT 1 FROM workflow_runs x WHERE x.replay_of = coalesce(r.replay_of, r.id) "
        "          AND x.status = 'running'), "
        "  r.status = 'cancelled' AND r.completed_at IS NULL "
        "FROM workflow_runs r WHERE r.id::text = $1";
    /* clang-format on */
    const char *params[1] = {run};
    PGresult *res = msgfleet_query(conn, "replay", sql, 1, params);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        fprintf(stderr, "msgfleet replay: no run \"%s\"\n", run);
    } else if (PQgetvalue(res, 0, 2)[0] == 't') {
        fprintf(stderr,
                "msgfleet replay: a replay of run %s is still running; wait for it to "
                "finish (msgfleet watch) and replay again\n",
                PQgetvalue(res, 0, 0));
    } else {
        if (PQgetvalue(res, 0, 3)[0] == 't')
            fprintf(stderr,
                    "msgfleet replay: note: run %s was cancelled and is still stopping; "
                    "jobs it has not recorded yet are not in this replay (msgfleet watch "
                    "shows when it ended)\n",
                    run);
        snprintf(root, cap, "%s", PQgetvalue(res, 0, 0));
        snprintf(workflow, cap, "%s", PQgetvalue(res, 0, 1));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* Prints the candidates per code; returns their total, or -1. */
static long long print_candidates(PGconn *conn, const char *root, const char *filter)
{
    mf_err err = {{0}};
    PGresult *res = mf_replay_count_by_code(conn, root, filter, &err);
    long long total = 0;

    if (res == NULL) {
        fprintf(stderr, "msgfleet replay: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++)
        total += strtoll(PQgetvalue(res, i, 1), NULL, 10);
    printf("replay of run %s: %lld recipient(s) to resend\n", root, total);
    for (int i = 0; i < PQntuples(res); i++)
        printf("  %-16s %8s\n", *PQgetvalue(res, i, 0) ? PQgetvalue(res, i, 0) : "(no code)",
               PQgetvalue(res, i, 1));
    PQclear(res);
    fflush(stdout);
    return total;
}

static int insert_replay(PGconn *conn, const char *root, const char *workflow, const char *filter,
                         char *run_id, size_t cap)
{
    /* clang-format off */
    static const char sql[] =
        "INSERT INTO workflow_runs (workflow_id, status, trigger_type, replay_of, replay_filter, "
        "  requested_by) VALUES ($1, 'running', 'replay', $2, $3::jsonb, $4) RETURNING id";
    /* clang-format on */
    char who[128];
    const char *params[4] = {workflow, root, filter, who};
    PGresult *res;

    snprintf(who, sizeof(who), "cli:%s", getenv("USER") ? getenv("USER") : "unknown");
    res = msgfleet_query(conn, "replay", sql, 4, params);
    if (res == NULL)
        return -1;
    snprintf(run_id, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int replay(PGconn *conn, const replay_opts *o, const char *filter)
{
    char root[64], workflow[64], run_id[64];
    long long total;
    int rc;

    if (resolve_chain(conn, o->run, root, workflow, sizeof(root)) != 0)
        return MSGFLEET_EXIT_ERROR;
    total = print_candidates(conn, root, filter);
    if (total < 0)
        return MSGFLEET_EXIT_ERROR;
    if (o->dry_run || total == 0) {
        printf(o->dry_run ? "dry run: nothing started\n" : "nothing to replay\n");
        return MSGFLEET_EXIT_OK;
    }
    if (insert_replay(conn, root, workflow, filter, run_id, sizeof(run_id)) != 0)
        return MSGFLEET_EXIT_ERROR;
    printf("%s\n", run_id);
    fflush(stdout);
    if (!o->watch)
        return MSGFLEET_EXIT_OK;
    rc = msgfleet_watch_run(conn, run_id, o->timeout_s);
    msgfleet_print_summary(conn, run_id);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    replay_opts o;
    mf_buf filter;
    mf_err err = {{0}};
    PGconn *conn = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = parse_replay_args(argc, argv, &o);
    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    mf_buf_init(&filter, 64 * 1024);
    if (build_filter(&o, &filter, &err) != 0) {
        fprintf(stderr, "msgfleet replay: %s\n", err.msg);
        rc = MSGFLEET_EXIT_USAGE;
        goto out;
    }
    conn = msgfleet_connect(NULL, "replay");
    rc = conn == NULL ? MSGFLEET_EXIT_ERROR : replay(conn, &o, filter.data);
out:
    if (conn != NULL)
        PQfinish(conn);
    mf_buf_free(&filter);
    return rc;
}
