/* itest_runs_cancel: how a cancelled run ends (mf_runs), against a fresh migrated database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mf_runs.h"
#include "mf_test.h"

typedef struct fixture {
    mf_test_db db;
    PGconn *pg;
    char tpl[40], wf[40], paused_wf[40];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    mf_test_db_create(mf_test_pg_dsn(), "runscancel", f->db.name, sizeof(f->db.name));
    f->pg = mf_test_pg_connect(mf_test_pg_dsn(), f->db.name, "PostgreSQL (MF_PG_DSN)");
    mf_test_db_migrate(f->pg);
    mf_test_pg_str(f->pg,
                   "INSERT INTO message_templates (name, category, message_type, content)"
                   " VALUES ('t', 'notification', 'sms', '안녕 #{name}') RETURNING id",
                   0, NULL, f->tpl, sizeof(f->tpl));
    {
        const char *p[1] = {f->tpl};

        mf_test_pg_str(f->pg,
                       "INSERT INTO workflows (name, status, trigger_type, message_config)"
                       " VALUES ('w', 'active', 'manual',"
                       " jsonb_build_object('template_id', $1::text)) RETURNING id",
                       1, p, f->wf, sizeof(f->wf));
        mf_test_pg_str(f->pg,
                       "INSERT INTO workflows (name, status, trigger_type, message_config)"
                       " VALUES ('p', 'paused', 'manual',"
                       " jsonb_build_object('template_id', $1::text)) RETURNING id",
                       1, p, f->paused_wf, sizeof(f->paused_wf));
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    PQfinish(f->pg);
    mf_test_db_drop(mf_test_pg_dsn(), f->db.name);
    free(f);
    return 0;
}

/* A run of workflow wf; `cols` and `vals` add columns (", planner_owner" / ", 'p1'"). */
static void run(fixture *f, const char *wf, const char *status, const char *cols, const char *vals,
                char *out)
{
    char sql[1024];
    const char *p[2] = {wf, status};

    snprintf(sql, sizeof(sql),
             "INSERT INTO workflow_runs (workflow_id, status, trigger_type%s)"
             " VALUES ($1, $2, 'manual'%s) RETURNING id",
             cols, vals);
    mf_test_pg_str(f->pg, sql, 2, p, out, 40);
}

/* n message_logs rows of the run with status st (created `ago` before now), counters kept. */
static void rows(fixture *f, const char *run_id, const char *st, int n, const char *ago)
{
    char num[16];
    const char *p[5] = {run_id, st, num, f->tpl, ago};

    snprintf(num, sizeof(num), "%d", n);
    PQclear(mf_test_pg_query(
        f->pg,
        "INSERT INTO message_logs (workflow_run_id, template_id, recipient_phone, message_type,"
        " status, sent_at, failed_at, error_code, created_at)"
        " SELECT $1, $4, '0100000' || lpad(g::text, 4, '0'), 'sms', $2::text,"
        "  CASE WHEN $2::text = 'sent' THEN now() END, CASE WHEN $2::text <> 'sent' THEN now() END,"
        "  CASE WHEN $2::text = 'cancelled' THEN 'RUN_CANCELLED' END, now() - $5::interval"
        " FROM generate_series(1, $3::integer) g",
        5, p));
    PQclear(mf_test_pg_query(
        f->pg,
        "UPDATE workflow_runs SET"
        " success_count = success_count + CASE WHEN $2 = 'sent' THEN $3::integer ELSE 0 END,"
        " failed_count = failed_count + CASE WHEN $2 <> 'sent' THEN $3::integer ELSE 0 END"
        " WHERE id = $1",
        3, p));
}

static long long num(fixture *f, const char *sql, const char *arg)
{
    const char *p[1] = {arg};

    return mf_test_pg_ll(f->pg, sql, arg ? 1 : 0, arg ? p : NULL);
}

static int finish(fixture *f, const char *run_id)
{
    mf_runs_completion c;
    mf_err err;

    if (mf_runs_try_finish_cancelled(f->pg, run_id, &c, &err) != 0)
        fail_msg("%s", err.msg);
    return c.completed;
}

/* clang-format off */
#define ENDED "SELECT count(*) FROM workflow_runs WHERE id = $1 AND status = 'cancelled'" \
              " AND completed_at IS NOT NULL AND execution_time_ms IS NOT NULL" \
              " AND logs @> '[{\"event\":\"finished\"}]'"
/* clang-format on */

/* Never claimed: no job exists, it ends at once; nothing sent, so no template usage. An
 * expanded run ends only once every job has its row, exactly once; it used the template. A
 * running run is not touched. */
static void test_finish(void **state)
{
    fixture *f = *state;
    char never[40], expanded[40], running[40];

    run(f, f->wf, "cancelled", "", "", never);
    assert_int_equal(finish(f, never), 1);
    assert_int_equal(num(f, ENDED, never), 1);
    assert_int_equal(num(f, "SELECT count(*) FROM template_usage_logs", NULL), 0);

    run(f, f->wf, "cancelled", ", planner_owner, expansion_finished_at, target_count",
        ", 'p1', now(), 4", expanded);
    rows(f, expanded, "sent", 2, "0 s");
    rows(f, expanded, "cancelled", 1, "0 s");
    assert_int_equal(finish(f, expanded), 0);
    assert_int_equal(num(f, ENDED, expanded), 0);
    rows(f, expanded, "cancelled", 1, "0 s");
    assert_int_equal(finish(f, expanded), 1);
    assert_int_equal(finish(f, expanded), 0);
    assert_int_equal(num(f, ENDED, expanded), 1);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM template_usage_logs WHERE workflow_run_id = $1"
                         " AND NOT success"
                         " AND error_message = 'run cancelled after 2 of 4 messages'",
                         expanded),
                     1);
    assert_int_equal(num(f, "SELECT coalesce(sum(templates_used), 0) FROM daily_statistics", NULL),
                     1);
    assert_int_equal(
        num(f, "SELECT coalesce(sum(workflows_executed), 0) FROM daily_statistics", NULL), 0);
    assert_int_equal(num(f, "SELECT count(*) FROM workflows WHERE last_run_at IS NOT NULL", NULL),
                     1);

    run(f, f->wf, "running", ", planner_owner, expansion_finished_at, target_count",
        ", 'p1', now(), 0", running);
    assert_int_equal(finish(f, running), 0);
}

/* The sweep ends cancelled runs that no result will touch; a run still missing rows waits. */
static void test_sweep(void **state)
{
    fixture *f = *state;
    char done[40], missing[40];
    mf_err err;
    int n = -1;

    run(f, f->wf, "cancelled", ", planner_owner, expansion_finished_at, target_count",
        ", 'p1', now(), 2", done);
    rows(f, done, "sent", 2, "0 s");
    run(f, f->wf, "cancelled", ", planner_owner, expansion_finished_at, target_count",
        ", 'p1', now(), 3", missing);
    rows(f, missing, "cancelled", 1, "0 s");
    assert_int_equal(mf_runs_finish_cancelled_sweep(f->pg, 100, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(num(f, ENDED, done), 1);
    assert_int_equal(num(f, ENDED, missing), 0);
}

/* A cancelled run whose planner died before recording its expansion is counted from its rows
 * once its lease is long gone and no row came for quiet_s; not while rows still arrive, not
 * while a planner holds it. */
static void test_orphaned(void **state)
{
    fixture *f = *state;
    char orphan[40], busy[40], leased[40], logs[2048];
    const char *p[1] = {orphan};
    mf_err err;
    int n = -1;

    run(f, f->wf, "cancelled", ", planner_owner, planner_lease_until",
        ", 'dead', now() - interval '10 s'", orphan);
    rows(f, orphan, "sent", 3, "10 s");
    rows(f, orphan, "cancelled", 2, "9 s");
    run(f, f->wf, "cancelled", ", planner_owner, planner_lease_until",
        ", 'dead', now() - interval '10 s'", busy);
    rows(f, busy, "cancelled", 1, "0 s");
    run(f, f->wf, "cancelled", ", planner_owner, planner_lease_until",
        ", 'alive', now() + interval '30 s'", leased);
    assert_int_equal(mf_runs_stop_orphaned_cancelled(f->pg, 5, 100, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(num(f, ENDED, orphan), 1);
    assert_int_equal(num(f, "SELECT target_count FROM workflow_runs WHERE id = $1", orphan), 5);
    mf_test_pg_str(f->pg, "SELECT logs::text FROM workflow_runs WHERE id = $1", 1, p, logs,
                   sizeof(logs));
    if (strstr(logs, "expansion_stopped") == NULL || strstr(logs, "dead") == NULL)
        fail_msg("no expansion_stopped entry naming the planner: %s", logs);
    assert_int_equal(num(f, ENDED, busy), 0);
    assert_int_equal(num(f, ENDED, leased), 0);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM workflow_runs WHERE id = $1"
                         " AND expansion_finished_at IS NULL",
                         leased),
                     1);
}

/* A held run (paused workflow) missing results is not flagged stalled; an active one is. */
static void test_stall_skips_paused(void **state)
{
    fixture *f = *state;
    char held[40], stuck[40];
    mf_err err;
    size_t n = 0;

    run(f, f->paused_wf, "running", ", expansion_finished_at, target_count",
        ", now() - interval '1 hour', 10", held);
    run(f, f->wf, "running", ", expansion_finished_at, target_count",
        ", now() - interval '1 hour', 10", stuck);
    assert_int_equal(mf_runs_mark_stalled(f->pg, 60, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM workflow_runs WHERE id = $1"
                         " AND logs @> '[{\"event\":\"stalled\"}]'",
                         stuck),
                     1);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM workflow_runs WHERE id = $1"
                         " AND logs @> '[{\"event\":\"stalled\"}]'",
                         held),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphaned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_skips_paused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
