/* itest_reporter_ops: the reporter's operations side against the dev stack: /metrics agrees
 * with the database, /healthz, PostgreSQL cut mid-batch (through a TCP forwarder), stalled
 * runs, SIGTERM and its deadline, Kafka unreachable, sent results held for their reports. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_codec.h"
#include "mf_kafka.h"
#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_runs.h"
#include "mf_uuid.h"
#include "mf_test.h"
#include "rep_itest.h"

#define NPARTS 4

/* ---- fixture ------------------------------------------------------------------------- */

typedef struct itest {
    rep_itest fx;
    char user[64];
    int pg_port;
    mf_test_fwd *fwd;
} itest;

static long long status_count(itest *t, const char *status)
{
    const char *p[1] = {status};

    return mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs WHERE status = $1", 1, p);
}

/* ---- the reporter process and its HTTP endpoint ---------------------------------------- */

typedef struct extra_env {
    const char *kv[16];
} extra_env;

static void start_reporter(itest *t, const char *dsn, const char *brokers, const char *const *more)
{
    const char *env[64] = {"MF_PG_DSN",
                           dsn,
                           "MF_KAFKA_BROKERS",
                           brokers,
                           "MF_TOPIC_PREFIX",
                           t->fx.prefix,
                           "MF_REPORTER_GROUP",
                           t->fx.group,
                           "MF_REPORTER_STATUS_ENABLED",
                           "false",
                           "MF_HTTP_PORT",
                           "0",
                           "MF_REPORTER_BATCH_MAX",
                           "1000",
                           "MF_REPORTER_LINGER_MS",
                           "50",
                           "MF_REPORTER_LAG_INTERVAL_MS",
                           "200",
                           "MF_LOG_LEVEL",
                           "info",
                           "MF_INSTANCE_ID",
                           "itest-reporter-ops",
                           NULL};
    size_t n = 0;

    while (env[n] != NULL)
        n++;
    for (size_t i = 0; more != NULL && more[i] != NULL && n + 2 < 63; i++)
        env[n++] = more[i];
    env[n] = NULL;
    if (t == NULL) { /* cmocka's failures do not end the path for the analyzer */
        fail_msg("no fixture");
        return;
    }
    t->fx.reporter = mf_test_spawn(t->fx.bin, env, t->fx.logfile, -1);
    assert_true(t->fx.reporter > 0);
    t->fx.http_port = mf_test_log_http_port(t->fx.logfile, 15000);
}

/* Rows by status as the metrics say the database has them: every row inserted with the
 * status, plus the sent rows updated to it; sent loses the updated ones. */
static long long metric_rows(const char *body, const char *status)
{
    char lab[64];
    double v;

    snprintf(lab, sizeof(lab), "status=\"%s\"", status);
    v = rep_itest_metric(body, "msgfleet_reporter_rows_total", lab, NULL);
    if (strcmp(status, "sent") == 0)
        v -= rep_itest_metric(body, "msgfleet_reporter_rows_total", "op=\"update\"", NULL);
    return (long long)v;
}

static void promtool_check(const mf_buf *body)
{
    char path[64], cmd[160];
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "/tmp/itest_reporter_ops_%d.prom", (int)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(body->data, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    rc = system(cmd);
    if (rc != 0)
        fail_msg("promtool check metrics failed (%d) on %s", rc, path);
    unlink(path);
}

static int setup(void **state)
{
    itest *t = rep_itest_new(sizeof(*t), "repops", "itest_reporter_ops", NPARTS, 0);
    PQconninfoOption *opts;

    /* where the forwarder points: the server and user of MF_PG_DSN */
    t->pg_port = 55432;
    snprintf(t->user, sizeof(t->user), "msgfleet");
    opts = PQconninfoParse(t->fx.admin_dsn, NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val != NULL && strcmp(o->keyword, "port") == 0)
            t->pg_port = (int)strtol(o->val, NULL, 10);
        if (o->val != NULL && strcmp(o->keyword, "user") == 0)
            snprintf(t->user, sizeof(t->user), "%s", o->val);
    }
    PQconninfoFree(opts);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    itest *t = *state;

    if (t == NULL)
        return 0;
    mf_test_stop(t->fx.reporter, 25000, NULL);
    t->fx.reporter = 0;
    mf_test_fwd_stop(t->fwd);
    rep_itest_close(&t->fx, 25000);
    free(t);
    return 0;
}

/* ---- results --------------------------------------------------------------------------- */

typedef rep_itest_run run_fx;

#define IS_FAILED(i) ((i) % 20 == 7)
#define IS_DELIVERED(i) ((i) % 100 == 1)
#define IS_UNDELIVERED(i) ((i) % 100 == 3)
#define IS_CANCELLED(i) ((i) % 50 == 9)

/* reported: a later outcome came by webhook (rpt), not from the status poller. */
static void produce_result(itest *t, const run_fx *r, int i, mf_result_status st, long long ts,
                           int reported)
{
    mf_result res;
    mf_uuid wf, tp;
    char phone[16], name[32], text[128], mid[40];
    mf_err err;

    snprintf(phone, sizeof(phone), "010%08d", 10000000 + i);
    snprintf(name, sizeof(name), "고객%d", i);
    snprintf(text, sizeof(text), "%s님 안녕하세요", name);
    snprintf(mid, sizeof(mid), "M4VOPS%026d", i);
    memset(&res, 0, sizeof(res));
    mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phone, 0, &res.id);
    res.run = r->uid;
    assert_int_equal(mf_uuid_parse(t->fx.wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(t->fx.tpl, &tp, &err), 0);
    res.wf = wf;
    res.tpl = tp;
    res.status = st;
    res.to = phone;
    res.name = name;
    res.type = MF_TYPE_SMS;
    res.ts_ms = ts;
    res.text = text;
    res.reported = reported;
    if (st == MF_RESULT_FAILED || st == MF_RESULT_CANCELLED) {
        res.code = st == MF_RESULT_FAILED ? "1062" : "CANCELLED";
        res.msg = "not sent";
    } else {
        res.channel = MF_TYPE_SMS;
        res.provider_msg_id = mid;
        res.sent_ms = ts - (st == MF_RESULT_ACCEPTED ? 0 : 1000);
        res.code = st == MF_RESULT_ACCEPTED ? "2000"
                                            : (st == MF_RESULT_DELIVERED ? "4000" : "3043");
    }
    rep_itest_produce_result(&t->fx, NULL, &res);
}

/* Results [from, to) of run r (first outcomes), then the later outcomes if finals. Returns
 * the number of messages produced. */
static long long produce_range(itest *t, const run_fx *r, int from, int to, int finals)
{
    long long ts = mf_test_now_ms(), n = 0;

    for (int i = from; i < to; i++, n++)
        produce_result(t, r, i,
                       IS_FAILED(i)      ? MF_RESULT_FAILED
                       : IS_CANCELLED(i) ? MF_RESULT_CANCELLED
                                         : MF_RESULT_ACCEPTED,
                       ts, 0);
    for (int i = from; finals && i < to; i++) {
        if (IS_FAILED(i) || IS_CANCELLED(i))
            continue;
        if (IS_DELIVERED(i) || IS_UNDELIVERED(i)) {
            produce_result(t, r, i, IS_DELIVERED(i) ? MF_RESULT_DELIVERED : MF_RESULT_UNDELIVERED,
                           ts + 3000, 0);
            n++;
        }
    }
    rep_itest_flush(&t->fx);
    return n;
}

/* Exact rows of a completed run of n results produced with finals. */
static void check_rows(itest *t, const run_fx *r, int n)
{
    const char *p[1] = {r->id};
    long long sent = 0, delivered = 0, failed = 0, cancelled = 0;

    for (int i = 0; i < n; i++) {
        if (IS_FAILED(i) || IS_UNDELIVERED(i))
            failed++;
        else if (IS_CANCELLED(i))
            cancelled++;
        else if (IS_DELIVERED(i))
            delivered++;
        else
            sent++;
    }
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs WHERE workflow_run_id ="
                                   " $1::uuid",
                                   1, p),
                     n);
    assert_int_equal(status_count(t, "sent"), sent);
    assert_int_equal(status_count(t, "delivered"), delivered);
    assert_int_equal(status_count(t, "failed"), failed);
    assert_int_equal(status_count(t, "cancelled"), cancelled);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT success_count * 100000 + failed_count FROM workflow_runs"
                                   " WHERE id = $1::uuid",
                                   1, p),
                     (sent + delivered) * 100000 + failed + cancelled);
}

/* ---- tests ----------------------------------------------------------------------------- */

/* /metrics during a run never claims more than the database has, and at the end it agrees
 * with it exactly; redelivery only moves duplicates_total; promtool accepts the page. */
static void test_metrics_agree(void **state)
{
    itest *t = *state;
    const int n = 4000;
    run_fx r;
    mf_buf b;
    long long produced, prev_rows = 0, during = 0;
    const char *sts[] = {"sent", "delivered", "failed", "cancelled"};

    mf_buf_init(&b, 0);
    rep_itest_make_run(&t->fx, n, "0 s", &r);
    rep_itest_produce(&t->fx, "garbage", "\x81\xa1v\x63", 4);
    produced = produce_range(t, &r, 0, n, 1) + 1;
    start_reporter(t, t->fx.dsn, t->fx.brokers, NULL);
    for (long long since = mf_test_mono_ms(), waited = 0; waited < 60000;
         waited = mf_test_mono_ms() - since) {
        const char *p[1] = {r.id};
        long long rows, done;

        assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
        rows = (long long)rep_itest_metric(b.data, "msgfleet_reporter_rows_total", "op=\"insert\"",
                                           NULL);
        /* the counters move after COMMIT: the database has at least as much */
        for (size_t i = 0; i < 4; i++)
            if (strcmp(sts[i], "sent") != 0)
                assert_true(metric_rows(b.data, sts[i]) <= status_count(t, sts[i]));
        assert_true(rows <= mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL));
        assert_true(rows >= prev_rows);
        prev_rows = rows;
        if (rows > 0 && rows < n)
            during++;
        done = mf_test_pg_ll(t->fx.pg,
                             "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid"
                             " AND status = 'completed'",
                             1, p);
        if (done == 1)
            break;
        rep_itest_assert_alive(&t->fx);
        mf_test_sleep_ms(20);
    }
    print_message("%lld scrapes saw a partly recorded run\n", during);
    rep_itest_wait_completed(&t->fx, r.id, 30000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 30000);
    check_rows(t, &r, n);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    /* the lag gauge reaches 0 once the offsets are stored */
    for (long long since = mf_test_mono_ms(), waited = 0;; waited = mf_test_mono_ms() - since) {
        assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
        if (rep_itest_metric(b.data, "msgfleet_reporter_consumer_lag", NULL, NULL) == 0 &&
            strstr(b.data, "\nmsgfleet_reporter_consumer_lag ") != NULL)
            break;
        if (waited > 5000)
            fail_msg("consumer lag did not reach 0:\n%s", b.data);
        mf_test_sleep_ms(100);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(metric_rows(b.data, sts[i]), status_count(t, sts[i]));
    assert_int_equal((long long)rep_itest_metric(b.data, "msgfleet_reporter_runs_completed_total",
                                                 NULL, NULL),
                     1);
    assert_int_equal((long long)rep_itest_metric(b.data, "msgfleet_reporter_dlq_total", NULL, NULL),
                     1);
    assert_int_equal(
        (long long)rep_itest_metric(b.data, "msgfleet_reporter_duplicates_total", NULL, NULL), 0);
    assert_int_equal((long long)rep_itest_metric(b.data, "msgfleet_reporter_batch_size_sum", NULL,
                                                 NULL),
                     produced);
    assert_true(rep_itest_metric(b.data, "msgfleet_reporter_batches_total", NULL, NULL) >= 1);
    assert_int_equal(
        (long long)rep_itest_metric(b.data, "msgfleet_reporter_batches_total", NULL, NULL),
        (long long)rep_itest_metric(b.data, "msgfleet_reporter_batch_seconds_count", NULL, NULL));
    promtool_check(&b);
    assert_int_equal(rep_itest_http_get(&t->fx, "/healthz", &b), 200);
    assert_non_null(strstr(b.data, "\"postgres\":{\"ok\":true"));
    assert_non_null(strstr(b.data, "\"kafka\":{\"ok\":true"));
    assert_int_equal(rep_itest_http_get(&t->fx, "/livez", &b), 200);

    /* the same results again: nothing in the database moves, only duplicates_total */
    produced = produce_range(t, &r, 0, n, 1);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 30000);
    for (long long since = mf_test_mono_ms(), waited = 0;; waited = mf_test_mono_ms() - since) {
        assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
        if ((long long)rep_itest_metric(b.data, "msgfleet_reporter_duplicates_total", NULL, NULL) ==
            produced)
            break;
        if (waited > 5000)
            fail_msg("duplicates_total is not %lld:\n%s", produced, b.data);
        mf_test_sleep_ms(100);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(metric_rows(b.data, sts[i]), status_count(t, sts[i]));
    check_rows(t, &r, n);
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
    mf_buf_free(&b);
}

/* A run missing results long after its expansion finished gets one "stalled" entry. */
static void test_stalled_run(void **state)
{
    itest *t = *state;
    run_fx stalled, open, fine;
    const char *more[] = {"MF_REPORTER_STALL_S", "1", NULL};
    const char *p[1], *p2[1];
    mf_buf b;
    char detail[256];

    mf_buf_init(&b, 0);
    rep_itest_make_run(&t->fx, 10, "0 s", &stalled);
    rep_itest_make_run(&t->fx, 5, "1 hour", &fine);
    rep_itest_make_run(&t->fx, 10, "0 s", &open);
    /* both still expanding; the stalled one "finishes" below, once its 7 rows are in */
    mf_test_pg_exec(
        t->fx.pg, "UPDATE workflow_runs SET expansion_finished_at = NULL WHERE target_count = 10");
    produce_range(t, &stalled, 0, 7, 0);
    produce_range(t, &fine, 100, 105, 0);
    produce_range(t, &open, 200, 203, 0);
    start_reporter(t, t->fx.dsn, t->fx.brokers, more);
    rep_itest_wait_completed(&t->fx, fine.id, 20000);
    p[0] = stalled.id;
    for (long long since = mf_test_mono_ms(), waited = 0;
         mf_test_pg_ll(t->fx.pg,
                       "SELECT success_count + failed_count FROM workflow_runs"
                       " WHERE id = $1::uuid",
                       1, p) < 7;
         waited = mf_test_mono_ms() - since) {
        if (waited > 20000)
            fail_msg("the 7 results of the stalled run were not recorded (see %s)", t->fx.logfile);
        mf_test_sleep_ms(50);
    }
    mf_test_pg_exec(t->fx.pg,
                    "UPDATE workflow_runs SET expansion_finished_at = now() - interval '1 hour'"
                    " WHERE target_count = 10 AND success_count + failed_count = 7");
    for (long long since = mf_test_mono_ms(), waited = 0;; waited = mf_test_mono_ms() - since) {
        if (mf_test_pg_ll(t->fx.pg,
                          "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                          " logs @> '[{\"event\":\"stalled\"}]'",
                          1, p) == 1)
            break;
        if (waited > 10000)
            fail_msg("no stalled entry within 10 s (see %s)", t->fx.logfile);
        mf_test_sleep_ms(100);
    }
    mf_test_sleep_ms(3000); /* three more checks: still one entry */
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM workflow_runs r,"
                                   " jsonb_array_elements(r.logs) e WHERE r.id = $1::uuid"
                                   " AND e->>'event' = 'stalled'",
                                   1, p),
                     1);
    mf_test_pg_str(t->fx.pg,
                   "SELECT e->'detail'->>'missing' || '/' || (e->'detail'->>'target_count')"
                   " FROM workflow_runs r, jsonb_array_elements(r.logs) e"
                   " WHERE r.id = $1::uuid AND e->>'event' = 'stalled'",
                   1, p, detail, sizeof(detail));
    assert_string_equal(detail, "3/10");
    /* a run still expanding is never stalled, however few results it has */
    p2[0] = open.id;
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                                   " logs @> '[{\"event\":\"stalled\"}]'",
                                   1, p2),
                     0);
    assert_true(mf_test_file_contains(t->fx.logfile, "\"msg\":\"run stalled\""));
    /* (`fine` may have been flagged too if the first check ran before its rows were in) */
    assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
    assert_int_equal((long long)rep_itest_metric(b.data, "msgfleet_reporter_runs_stalled_total",
                                                 NULL, NULL),
                     mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM workflow_runs WHERE"
                                   " logs @> '[{\"event\":\"stalled\"}]'",
                                   0, NULL));
    /* the missing results arrive: the run completes, the stalled entry stays as history */
    produce_range(t, &stalled, 7, 10, 0);
    rep_itest_wait_completed(&t->fx, stalled.id, 20000);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT jsonb_array_length(logs) FROM workflow_runs"
                                   " WHERE id = $1::uuid",
                                   1, p),
                     2);
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
    rep_itest_assert_consistent(t->fx.pg, NULL);
    mf_buf_free(&b);
}

/* PostgreSQL connection cut in the middle of the stream: the batch is rolled back and redone,
 * /healthz says why, nothing is lost or doubled. */
static void test_pg_cut(void **state)
{
    itest *t = *state;
    const int n = 20000;
    run_fx r;
    char dsn[512];
    const char *p[1];
    long long produced, got = 0;
    mf_buf b;

    mf_buf_init(&b, 0);
    t->fwd = mf_test_fwd_start(t->pg_port);
    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=%s user=%s connect_timeout=3",
             mf_test_fwd_port(t->fwd), t->fx.db, t->user);
    rep_itest_make_run(&t->fx, n, "0 s", &r);
    produced = produce_range(t, &r, 0, n, 1);
    start_reporter(t, dsn, t->fx.brokers, NULL);
    p[0] = r.id;
    for (long long since = mf_test_mono_ms(), waited = 0; waited < 60000 && got == 0;
         waited = mf_test_mono_ms() - since) {
        got = mf_test_pg_ll(
            t->fx.pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid", 1, p);
        mf_test_sleep_ms(5);
    }
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_CUT);
    got = mf_test_pg_ll(t->fx.pg,
                        "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid", 1, p);
    print_message("cut PostgreSQL with %lld of %d rows written\n", got, n);
    assert_true(got > 0 && got < n);
    for (long long since = mf_test_mono_ms(), waited = 0;; waited = mf_test_mono_ms() - since) {
        rep_itest_assert_alive(&t->fx);
        if (rep_itest_http_get(&t->fx, "/healthz", &b) == 503 &&
            strstr(b.data, "\"postgres\":{\"ok\":false") != NULL)
            break;
        if (waited > 15000)
            fail_msg("/healthz does not report postgres down: %s", b.data);
        mf_test_sleep_ms(100);
    }
    mf_test_sleep_ms(1500);
    rep_itest_assert_alive(&t->fx);
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_PASS);
    rep_itest_wait_completed(&t->fx, r.id, 60000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 30000);
    check_rows(t, &r, n);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    assert_true(mf_test_file_contains(t->fx.logfile, "batch not recorded, retrying"));
    assert_true(mf_test_file_contains(t->fx.logfile, "\"dependency\":\"postgres\""));
    for (long long since = mf_test_mono_ms(), waited = 0;; waited = mf_test_mono_ms() - since) {
        if (rep_itest_http_get(&t->fx, "/healthz", &b) == 200)
            break;
        if (waited > 10000)
            fail_msg("/healthz not ready again: %s", b.data);
        mf_test_sleep_ms(100);
    }
    assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
    /* a COMMIT whose answer was lost is counted as duplicates on the redo; a final outcome
     * written with its row (same batch) as merged; together exact */
    assert_int_equal(
        (long long)(rep_itest_metric(b.data, "msgfleet_reporter_rows_total", NULL, NULL) +
                    rep_itest_metric(b.data, "msgfleet_reporter_duplicates_total", NULL, NULL) +
                    rep_itest_metric(b.data, "msgfleet_reporter_finals_merged_total", NULL, NULL)),
        produced);
    assert_true(rep_itest_metric(b.data, "msgfleet_reporter_batch_retries_total", NULL, NULL) >= 1);
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
    mf_buf_free(&b);
}

/* SIGTERM mid-stream: exits 0 quickly with rows and offsets consistent; a restart finishes.
 * SIGTERM while the database hangs: the process is gone within MF_REPORTER_SHUTDOWN_S. */
static void test_sigterm(void **state)
{
    itest *t = *state;
    const int n = 20000;
    run_fx r;
    char dsn[512];
    const char *p[2] = {NULL, NULL};
    const char *more[] = {"MF_REPORTER_SHUTDOWN_S", "2", NULL};
    long long got = 0, took = 0;
    int rc;

    t->fwd = mf_test_fwd_start(t->pg_port);
    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=%s user=%s", mf_test_fwd_port(t->fwd),
             t->fx.db, t->user);
    rep_itest_make_run(&t->fx, n, "0 s", &r);
    produce_range(t, &r, 0, n, 0);
    p[0] = r.id;

    /* 1: plain SIGTERM while batches flow */
    start_reporter(t, t->fx.dsn, t->fx.brokers, NULL);
    for (long long since = mf_test_mono_ms(), waited = 0; waited < 60000 && got == 0;
         waited = mf_test_mono_ms() - since) {
        got = mf_test_pg_ll(
            t->fx.pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid", 1, p);
        mf_test_sleep_ms(5);
    }
    rc = mf_test_stop(t->fx.reporter, 25000, &took);
    t->fx.reporter = 0;
    print_message("SIGTERM: exit %d after %lld ms\n", rc, took);
    assert_int_equal(rc, 0);
    assert_true(took < 20000);
    assert_true(mf_test_file_contains(t->fx.logfile, "\"msg\":\"consumer closed\""));
    p[1] = t->fx.group;
    /* every stored offset is backed by its rows (one result per message here) */
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL),
                     mf_test_pg_ll(t->fx.pg,
                                   "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                                   " WHERE consumer_group = $1",
                                   1, p + 1));
    rep_itest_assert_consistent(t->fx.pg, NULL);

    /* 2: the database stops answering mid-batch (connection held open), then SIGTERM */
    start_reporter(t, dsn, t->fx.brokers, more);
    got = mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL);
    for (long long since = mf_test_mono_ms(), waited = 0; waited < 60000;
         waited = mf_test_mono_ms() - since) {
        if (mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL) > got)
            break;
        mf_test_sleep_ms(5);
    }
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_HOLD);
    mf_test_sleep_ms(300);
    rep_itest_assert_alive(&t->fx);
    rc = mf_test_stop(t->fx.reporter, 10000, &took);
    t->fx.reporter = 0;
    print_message("SIGTERM with PostgreSQL hanging: exit %d after %lld ms\n", rc, took);
    assert_true(rc == 0 || rc == 1);
    assert_true(took < 3500);
    mf_test_fwd_set(t->fwd,
                    MF_TEST_FWD_CUT); /* drops the held sessions: their transactions roll back */
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_PASS);

    /* 3: a restart records the rest exactly once */
    start_reporter(t, t->fx.dsn, t->fx.brokers, NULL);
    rep_itest_wait_completed(&t->fx, r.id, 60000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 30000);
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL), n);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
}

/* Waits until the reporter's /metrics says `want` results are held. */
static void wait_held(itest *t, long long want, int timeout_ms)
{
    mf_buf b;
    long long held = -1;

    mf_buf_init(&b, 0);
    for (long long since = mf_test_mono_ms(), waited = 0; waited < timeout_ms;
         waited = mf_test_mono_ms() - since) {
        if (rep_itest_http_get(&t->fx, "/metrics", &b) == 200 &&
            (held = (long long)rep_itest_metric(b.data, "msgfleet_reporter_results_held", NULL,
                                                NULL)) == want)
            break;
        rep_itest_assert_alive(&t->fx);
        mf_test_sleep_ms(50);
    }
    mf_buf_free(&b);
    if (held != want)
        fail_msg("%lld results held, not %lld", held, want);
}

/* Delivery reports for the accepted messages i of run r with i % 2 == half. Returns how many. */
static long long produce_reports(itest *t, const run_fx *r, int n, int half, long long ts)
{
    long long k = 0;

    for (int i = half; i < n; i += 2) {
        if (IS_FAILED(i) || IS_CANCELLED(i))
            continue;
        produce_result(t, r, i, MF_RESULT_DELIVERED, ts, 1);
        k++;
    }
    rep_itest_flush(&t->fx);
    return k;
}

/* Starts the reporter (more: its extra settings) once a webhook report reached it: results
 * are held only while such reports come. The report is about a job outside run r's n (it
 * waits in mf_early_finals for a row that never comes). Returns the messages produced (1). */
static long long start_with_reports(itest *t, const run_fx *r, int n, const char *const *more)
{
    mf_buf b;

    produce_result(t, r, n, MF_RESULT_DELIVERED, mf_test_now_ms(), 1);
    rep_itest_flush(&t->fx);
    start_reporter(t, t->fx.dsn, t->fx.brokers, more);
    mf_buf_init(&b, 0);
    for (long long since = mf_test_mono_ms();;) {
        if (rep_itest_http_get(&t->fx, "/metrics", &b) == 200 &&
            rep_itest_metric(b.data, "msgfleet_reporter_early_finals_total", "event=\"parked\"",
                             NULL) == 1)
            break;
        if (mf_test_mono_ms() - since > 30000)
            fail_msg("the first report was not parked");
        mf_test_sleep_ms(50);
    }
    mf_buf_free(&b);
    return 1;
}

/* Sent results are held for their delivery reports: a report consumed later is written with
 * its row, which is inserted final and never updated; the stored offsets stay before what is
 * held, so a crash loses nothing and duplicates nothing; SIGTERM writes what is still held. */
static void test_hold_for_reports(void **state)
{
    itest *t = *state;
    const int n = 3000;
    const char *more[] = {"MF_REPORTER_HOLD_MS", "600000", NULL};
    const char *p[2] = {NULL, NULL};
    long long accepted = 0, reported, firsts, produced, ts = mf_test_now_ms();
    run_fx r;
    mf_buf b;
    int status = 0;
    char old[200];

    mf_buf_init(&b, 0);
    rep_itest_make_run(&t->fx, n, "0 s", &r);
    p[0] = r.id;
    p[1] = t->fx.group;
    produced = start_with_reports(t, &r, n, more);
    produced += produce_range(t, &r, 0, n, 0);
    for (int i = 0; i < n; i++)
        accepted += !IS_FAILED(i) && !IS_CANCELLED(i);
    firsts = n - accepted;

    /* 1: the failures are written at once, every accepted result is held, and the stored
     * offsets stay before the held ones */
    wait_held(t, accepted, 30000);
    for (long long since = mf_test_mono_ms();
         mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL) < firsts;) {
        if (mf_test_mono_ms() - since > 30000)
            fail_msg("the failed results were not written");
        mf_test_sleep_ms(50);
    }
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL), firsts);
    assert_int_equal(status_count(t, "sent"), 0);

    /* 2: reports for every other accepted message: those rows are inserted delivered, none is
     * updated, the rest stays held */
    reported = produce_reports(t, &r, n, 0, ts + 1000);
    produced += reported;
    wait_held(t, accepted - reported, 30000);
    /* the gauge moves when the batch is formed, the counters after its COMMIT */
    for (long long since = mf_test_mono_ms();;) {
        assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
        if ((long long)rep_itest_metric(b.data, "msgfleet_reporter_finals_merged_total", NULL,
                                        NULL) >= reported)
            break;
        if (mf_test_mono_ms() - since > 30000)
            fail_msg("merged finals are not %lld:\n%s", reported, b.data);
        mf_test_sleep_ms(50);
    }
    assert_int_equal((long long)rep_itest_metric(b.data, "msgfleet_reporter_finals_merged_total",
                                                 NULL, NULL),
                     reported);
    assert_int_equal((long long)rep_itest_metric(b.data, "msgfleet_reporter_rows_total",
                                                 "op=\"update\"", NULL),
                     0);
    assert_int_equal(status_count(t, "delivered"), reported);
    assert_int_equal(status_count(t, "sent"), 0);
    assert_true(mf_test_pg_ll(t->fx.pg,
                              "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                              " WHERE consumer_group = $1",
                              1, p + 1) < produced);

    /* 3: a crash: what was held is gone from the process, not from Kafka; the other reports
     * come while it is down, and a restart records everything exactly once */
    kill(t->fx.reporter, SIGKILL);
    waitpid(t->fx.reporter, &status, 0);
    t->fx.reporter = 0;
    snprintf(old, sizeof(old), "%s.before-kill", t->fx.logfile);
    assert_int_equal(rename(t->fx.logfile, old), 0); /* the next "http listening" is the new one */
    produced += produce_reports(t, &r, n, 1, ts + 1000);
    start_reporter(t, t->fx.dsn, t->fx.brokers, more);
    for (long long since = mf_test_mono_ms(); status_count(t, "delivered") < accepted;) {
        if (mf_test_mono_ms() - since > 30000)
            fail_msg("%lld of %lld rows delivered", status_count(t, "delivered"), accepted);
        rep_itest_assert_alive(&t->fx);
        mf_test_sleep_ms(50);
    }
    wait_held(t, 0, 30000);

    /* 4: SIGTERM with nothing held: every offset stored, every row once, counters exact */
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
    assert_int_equal(status_count(t, "sent"), 0);
    assert_int_equal(status_count(t, "delivered"), accepted);
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL), n);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                                   " WHERE consumer_group = $1",
                                   1, p + 1),
                     produced);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT success_count * 100000 + failed_count FROM workflow_runs"
                                   " WHERE id = $1::uuid",
                                   1, p),
                     accepted * 100000 + firsts);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    mf_buf_free(&b);
}

/* At SIGTERM the held results are written (sent) before the process exits. */
static void test_hold_sigterm(void **state)
{
    itest *t = *state;
    const int n = 2000;
    const char *more[] = {"MF_REPORTER_HOLD_MS", "600000", NULL};
    const char *p[1] = {t->fx.group};
    long long accepted = 0, produced;
    run_fx r;

    rep_itest_make_run(&t->fx, n, "0 s", &r);
    produced = start_with_reports(t, &r, n, more);
    produced += produce_range(t, &r, 0, n, 0);
    for (int i = 0; i < n; i++)
        accepted += !IS_FAILED(i) && !IS_CANCELLED(i);
    wait_held(t, accepted, 30000);
    assert_int_equal(status_count(t, "sent"), 0);
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
    assert_int_equal(status_count(t, "sent"), accepted);
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM message_logs", 0, NULL), n);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                                   " WHERE consumer_group = $1",
                                   1, p),
                     produced);
    rep_itest_assert_consistent(t->fx.pg, NULL);
}

/* utime + stime of /proc/<pid>/stat: fields 14 and 15, the 12th and 13th after the ")" that
 * ends the command name (which may hold spaces and parentheses itself). */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048], *p, *end;
    unsigned long long ticks = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL) {
        fail_msg("cannot parse %s: no command", path);
        return -1;
    }
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt, then
     * utime stime */
    for (int field = 0; field < 12; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL) {
            fail_msg("cannot parse %s: %d fields after the command", path, field);
            return -1;
        }
    }
    for (int field = 0; field < 2; field++) {
        unsigned long long v;

        errno = 0;
        v = strtoull(p + 1, &end, 10);
        if (errno != 0 || end == p + 1 || (*end != ' ' && *end != '\0' && *end != '\n')) {
            fail_msg("cannot parse %s: %s time", path, field == 0 ? "user" : "system");
            return -1;
        }
        ticks += v;
        p = end;
    }
    return (long long)ticks;
}

/* Kafka unreachable: the reporter waits (no exit, no busy loop) and says so in /healthz. */
static void test_kafka_down(void **state)
{
    itest *t = *state;
    mf_buf b;
    long long c0, c1, took = 0;
    long hz = sysconf(_SC_CLK_TCK);
    int rc;

    mf_buf_init(&b, 0);
    start_reporter(t, t->fx.dsn, "127.0.0.1:1", NULL);
    mf_test_sleep_ms(1000);
    c0 = cpu_ticks(t->fx.reporter);
    mf_test_sleep_ms(3000);
    c1 = cpu_ticks(t->fx.reporter);
    rep_itest_assert_alive(&t->fx);
    print_message("Kafka down: %lld ms of CPU in 3 s\n", (c1 - c0) * 1000 / hz);
    assert_true((c1 - c0) * 1000 / hz < 600);
    assert_int_equal(rep_itest_http_get(&t->fx, "/livez", &b), 200);
    assert_int_equal(rep_itest_http_get(&t->fx, "/healthz", &b), 503);
    assert_non_null(strstr(b.data, "\"kafka\":{\"ok\":false"));
    assert_non_null(strstr(b.data, "\"postgres\":{\"ok\":true"));
    assert_true(mf_test_file_contains(t->fx.logfile, "\"msg\":\"dependency down\""));
    rc = mf_test_stop(t->fx.reporter, 25000, &took);
    t->fx.reporter = 0;
    print_message("SIGTERM with Kafka down: exit %d after %lld ms\n", rc, took);
    assert_true(rc == 0 || rc == 1);
    assert_true(took < 21000);
    mf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_for_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_down, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
