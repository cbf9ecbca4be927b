/* cmd_watch: `msgfleet watch`, a run's progress live: bar on a terminal, lines otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msgfleet.h"

static const char WATCH_USAGE[] =
    "usage: msgfleet watch RUN_ID [--timeout SECONDS]\n\n"
    "Follow a run until it ends: sent / failed / total, rate and ETA. A run whose workflow\n"
    "is paused shows \"running (paused)\"; a cancelled run is followed until every job it\n"
    "expanded has its row (\"cancelled, stopping\", then \"cancelled\").\n"
    "Exit 0 when the run completed, 1 when it failed, was cancelled or the timeout passed.\n";

/* clang-format off */
static const char PROGRESS_SQL[] =
    "SELECT r.status, r.target_count, r.success_count, r.failed_count, "
    "       r.expansion_finished_at IS NOT NULL, r.expanded_count + r.invalid_count, "
    "       extract(epoch FROM (coalesce(r.completed_at, now()) - r.started_at)), "
    "       coalesce(w.status = 'paused', false), r.completed_at IS NOT NULL "
    "FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id WHERE r.id::text = $1";
/* clang-format on */

typedef struct progress {
    char status[32];
    long long target, sent, failed, planned;
    int expanded;
    int paused; /* running, its workflow paused: held */
    int ended;  /* completed_at set */
    double elapsed_s;
} progress;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long num(PGresult *res, int col)
{
    return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

static int read_progress(PGconn *conn, const char *run_id, progress *p)
{
    const char *params[1] = {run_id};
    PGresult *res = msgfleet_query(conn, "watch", PROGRESS_SQL, 1, params);

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        fprintf(stderr, "msgfleet watch: no run \"%s\"\n", run_id);
        PQclear(res);
        return -1;
    }
    snprintf(p->status, sizeof(p->status), "%s", PQgetvalue(res, 0, 0));
    p->target = num(res, 1);
    p->sent = num(res, 2);
    p->failed = num(res, 3);
    p->expanded = PQgetvalue(res, 0, 4)[0] == 't';
    p->planned = num(res, 5);
    p->elapsed_s = strtod(PQgetvalue(res, 0, 6), NULL);
    p->paused = PQgetvalue(res, 0, 7)[0] == 't';
    p->ended = PQgetvalue(res, 0, 8)[0] == 't';
    PQclear(res);
    return 0;
}

/* Total to show: the final target once expansion finished, else what is planned so far. */
static long long shown_total(const progress *p)
{
    return p->expanded ? p->target : p->planned;
}

/* The status as shown: a held run and a cancelled run still stopping say so. */
static const char *state_text(const progress *p)
{
    if (strcmp(p->status, "running") == 0 && p->paused)
        return "running (paused)";
    if (strcmp(p->status, "cancelled") == 0 && !p->ended)
        return "cancelled, stopping";
    return p->status;
}

/* Whether the watch goes on: while running, and while a cancelled run still waits for rows. */
static int still_going(const progress *p)
{
    return strcmp(p->status, "running") == 0 || (strcmp(p->status, "cancelled") == 0 && !p->ended);
}

static void format_line(const progress *p, char *out, size_t cap, int bar)
{
    long long done = p->sent + p->failed;
    long long total = shown_total(p);
    double rate = p->elapsed_s > 0 ? (double)done / p->elapsed_s : 0;
    char eta[32] = "?";
    char barbuf[34] = "";

    if (p->expanded && rate > 0 && total >= done)
        snprintf(eta, sizeof(eta), "%.0fs", (double)(total - done) / rate);
    if (bar) {
        int fill = total > 0 ? (int)(30 * (done > total ? total : done) / total) : 0;

        barbuf[0] = '[';
        for (int i = 0; i < 30; i++)
            barbuf[1 + i] = i < fill ? '#' : '.';
        barbuf[31] = ']';
        barbuf[32] = ' ';
        barbuf[33] = '\0';
    }
    snprintf(out, cap, "%s%lld/%lld%s sent %lld failed %lld  %.0f/s  ETA %s  %s", barbuf, done,
             total, p->expanded ? "" : "+", p->sent, p->failed, rate, eta, state_text(p));
}

int msgfleet_watch_run(PGconn *conn, const char *run_id, double timeout_s)
{
    int tty = isatty(STDOUT_FILENO);
    double start = now_s(), last_print = 0;
    progress p;
    char line[256];

    for (;;) {
        if (read_progress(conn, run_id, &p) != 0)
            return MSGFLEET_EXIT_ERROR;
        format_line(&p, line, sizeof(line), tty);
        if (tty) {
            printf("\r%-100s", line);
            fflush(stdout);
        } else if (now_s() - last_print >= 2.0 || !still_going(&p)) {
            printf("progress: %s\n", line);
            fflush(stdout);
            last_print = now_s();
        }
        if (!still_going(&p))
            break;
        if (timeout_s > 0 && now_s() - start > timeout_s) {
            fprintf(stderr, "%smsgfleet watch: run %s still %s after %.0f s\n", tty ? "\n" : "",
                    run_id, state_text(&p), timeout_s);
            return MSGFLEET_EXIT_ERROR;
        }
        usleep(tty ? 200000 : 500000);
    }
    if (tty)
        printf("\n");
    return strcmp(p.status, "completed") == 0 ? MSGFLEET_EXIT_OK : MSGFLEET_EXIT_ERROR;
}

int cmd_watch(int argc, char **argv)
{
    const char *dsn = NULL, *run_id = NULL;
    double timeout_s = 0;
    PGconn *conn;
    int rc = msgfleet_parse_run_args(argc, argv, WATCH_USAGE, &dsn, &run_id, &timeout_s);

    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    conn = msgfleet_connect(dsn, "watch");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    rc = msgfleet_watch_run(conn, run_id, timeout_s);
    PQfinish(conn);
    return rc;
}
