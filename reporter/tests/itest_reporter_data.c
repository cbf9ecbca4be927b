/* itest_reporter_data: a data error in one run's results never holds back the others, and a
 * run whose cost passes 100 million KRW is recorded exactly. */
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
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_codec.h"
#include "mf_kafka.h"
#include "mf_runs.h"
#include "mf_uuid.h"
#include "mf_test.h"
#include "rep_itest.h"

#define NPARTS 2

/* ---- fixture ------------------------------------------------------------------------- */

typedef struct itest {
    rep_itest fx;
} itest;

typedef rep_itest_run run_fx;

static int setup(void **state)
{
    *state = rep_itest_new(sizeof(itest), "repdata", "itest_reporter_data", NPARTS, 1);
    return 0;
}

static void start_reporter(itest *t)
{
    const char *env[] = {"MF_PG_DSN",
                         t->fx.dsn,
                         "MF_KAFKA_BROKERS",
                         t->fx.brokers,
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
                         "itest-reporter-data",
                         NULL};

    t->fx.reporter = mf_test_spawn(t->fx.bin, env, t->fx.logfile, -1);
    assert_true(t->fx.reporter > 0);
    t->fx.http_port = mf_test_log_http_port(t->fx.logfile, 15000);
}

/* Result i of run r: recipient 010 + 8 digits (base + i), accepted (or failed when failed),
 * sent as `type` through the template tpl. */
static void produce_result(itest *t, const run_fx *r, int base, int i, int failed, mf_msg_type type,
                           const char *tpl)
{
    mf_result res;
    mf_uuid wf, tp;
    char phone[16], name[32], text[128], mid[40];
    long long ts = mf_test_now_ms();
    mf_err err;

    snprintf(phone, sizeof(phone), "010%08d", base + i);
    snprintf(name, sizeof(name), "고객%d", i);
    snprintf(text, sizeof(text), "%s님 안녕하세요", name);
    snprintf(mid, sizeof(mid), "M4VDATA%025d", base + i);
    memset(&res, 0, sizeof(res));
    mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phone, 0, &res.id);
    res.run = r->uid;
    assert_int_equal(mf_uuid_parse(t->fx.wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(tpl, &tp, &err), 0);
    res.wf = wf;
    res.tpl = tp;
    res.status = failed ? MF_RESULT_FAILED : MF_RESULT_ACCEPTED;
    res.to = phone;
    res.name = name;
    res.type = type;
    res.ts_ms = ts;
    res.text = text;
    if (failed) {
        res.code = "1062";
        res.msg = "not sent";
    } else {
        res.channel = type;
        res.provider_msg_id = mid;
        res.sent_ms = ts;
        res.code = "2000";
    }
    rep_itest_produce_result(&t->fx, NULL, &res);
}

/* The sum of not_recorded over run r's data_error entries with this SQLSTATE and step. */
static long long logged_not_recorded(itest *t, const run_fx *r, const char *sqlstate,
                                     const char *step)
{
    const char *p[3] = {r->id, sqlstate, step};

    return mf_test_pg_ll(t->fx.pg,
                         "SELECT COALESCE(sum((e->'detail'->>'not_recorded')::bigint), 0)"
                         " FROM workflow_runs r, jsonb_array_elements(r.logs) e"
                         " WHERE r.id = $1::uuid AND e->>'event' = 'data_error'"
                         " AND e->'detail'->>'sqlstate' = $2 AND e->'detail'->>'step' = $3",
                         3, p);
}

/* ---- tests ----------------------------------------------------------------------------- */

#define N_BAD 1000  /* run A: every 10th recipient violates a CHECK added for the test */
#define N_GOOD 2000 /* run B: fine */
#define N_FULL 500  /* run C: its success_count is already at the integer maximum */

/* Three runs recorded side by side, in the same batches. A's rows partly violate a CHECK
 * constraint (a row's data error); C's counter cannot grow (a run's data error). B completes
 * with exact counters, A's other rows and counters are exact, A and C show their problems in
 * workflow_runs.logs, the metrics, the dead letters and the log; postgres is never "down". */
static void test_data_error_isolated(void **state)
{
    itest *t = *state;
    run_fx a, b, c;
    mf_buf body;
    char sql[512];
    const char *pa[1], *pb[1], *pc[1];
    long long bad = 0;

    mf_buf_init(&body, 0);
    rep_itest_make_run(&t->fx, N_BAD, "0 s", &a);
    rep_itest_make_run(&t->fx, N_GOOD, "0 s", &b);
    rep_itest_make_run(&t->fx, N_FULL, "0 s", &c);
    snprintf(sql, sizeof(sql),
             "ALTER TABLE message_logs ADD CONSTRAINT mf_it_poison CHECK"
             " (workflow_run_id <> '%s' OR recipient_phone NOT LIKE '%%7')",
             a.id);
    mf_test_pg_exec(t->fx.pg, sql);
    snprintf(sql, sizeof(sql),
             "UPDATE workflow_runs SET success_count = 2147483647 WHERE id = '%s'", c.id);
    mf_test_pg_exec(t->fx.pg, sql);
    /* interleaved, so every batch holds results of all three runs */
    for (int i = 0; i < N_GOOD; i++) {
        produce_result(t, &b, 20000000, i, i % 20 == 3, MF_TYPE_SMS, t->fx.tpl);
        if (i < N_BAD) {
            produce_result(t, &a, 10000000, i, i % 20 == 4, MF_TYPE_SMS, t->fx.tpl);
            bad += i % 10 == 7;
        }
        if (i < N_FULL)
            produce_result(t, &c, 30000000, i, 0, MF_TYPE_SMS, t->fx.tpl);
    }
    rep_itest_flush(&t->fx);
    start_reporter(t);
    rep_itest_wait_completed(&t->fx, b.id, 60000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 60000);

    /* B: every row, exact counters */
    pa[0] = a.id;
    pb[0] = b.id;
    pc[0] = c.id;
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs"
                                   " WHERE workflow_run_id = $1::uuid",
                                   1, pb),
                     N_GOOD);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT success_count + failed_count FROM workflow_runs"
                                   " WHERE id = $1::uuid",
                                   1, pb),
                     N_GOOD);
    rep_itest_assert_consistent(t->fx.pg, b.id);
    /* A: every row but the poisoned ones, counters equal to its rows */
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs"
                                   " WHERE workflow_run_id = $1::uuid",
                                   1, pa),
                     N_BAD - bad);
    rep_itest_assert_consistent(t->fx.pg, a.id);
    assert_int_equal(logged_not_recorded(t, &a, "23514", "rows"), bad);
    /* C: nothing recorded, the counter overflow is in its logs */
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs"
                                   " WHERE workflow_run_id = $1::uuid",
                                   1, pc),
                     0);
    assert_int_equal(logged_not_recorded(t, &c, "22003", "counters"), N_FULL);
    /* the metrics count every result not recorded; they went to the dead-letter topic */
    assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &body), 200);
    assert_int_equal((long long)rep_itest_metric(body.data, "msgfleet_reporter_data_errors_total",
                                                 "sqlstate=\"23514\"", NULL),
                     bad);
    assert_int_equal((long long)rep_itest_metric(body.data, "msgfleet_reporter_data_errors_total",
                                                 "sqlstate=\"22003\"", NULL),
                     N_FULL);
    assert_int_equal((long long)rep_itest_metric(body.data, "msgfleet_reporter_dlq_total", NULL,
                                                 NULL),
                     bad + N_FULL);
    /* a data error is not an outage */
    assert_int_equal(rep_itest_http_get(&t->fx, "/healthz", &body), 200);
    assert_non_null(strstr(body.data, "\"postgres\":{\"ok\":true"));
    assert_false(mf_test_file_contains(t->fx.logfile, "\"msg\":\"dependency down\""));
    assert_true(
        mf_test_file_contains(t->fx.logfile, "\"msg\":\"results not recorded: data error\""));
    assert_true(mf_test_file_contains(t->fx.logfile, a.id));
    assert_true(mf_test_file_contains(t->fx.logfile, c.id));
    /* no row data (phone numbers) in the log: the server's "Failing row contains" detail */
    assert_false(mf_test_file_contains(t->fx.logfile, "Failing row"));
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
    mf_buf_free(&body);
}

#define N_BIG 4000 /* LMS at 30,000 KRW: 120,000,000 KRW, past DECIMAL(10,2) */
#define BIG_TOTAL "120000000.00"

/* A run whose total passes 10^8 KRW completes; total_cost equals the sum over its rows, and
 * daily_statistics and workflows.statistics agree. */
static void test_big_money(void **state)
{
    itest *t = *state;
    run_fx r;
    char got[64];
    const char *p[1];
    mf_err err;
    char *mm = NULL;
    int n;

    mf_test_pg_exec(t->fx.pg, "UPDATE system_settings SET setting_value ="
                              " '{\"sms\": 10, \"lms\": 30000, \"kakao\": 5}'"
                              " WHERE setting_key = 'coolsms_prices'");
    rep_itest_make_run(&t->fx, N_BIG, "0 s", &r);
    for (int i = 0; i < N_BIG; i++)
        produce_result(t, &r, 40000000, i, 0, MF_TYPE_LMS, t->fx.tpl2);
    rep_itest_flush(&t->fx);
    start_reporter(t);
    rep_itest_wait_completed(&t->fx, r.id, 90000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 30000);
    p[0] = r.id;
    mf_test_pg_str(t->fx.pg, "SELECT total_cost::text FROM workflow_runs WHERE id = $1::uuid", 1, p,
                   got, sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    mf_test_pg_str(t->fx.pg,
                   "SELECT sum(cost)::text FROM message_logs WHERE workflow_run_id ="
                   " $1::uuid",
                   1, p, got, sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    mf_test_pg_str(t->fx.pg, "SELECT sum(total_cost)::text FROM daily_statistics", 0, NULL, got,
                   sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    mf_test_pg_str(t->fx.pg,
                   "SELECT (statistics->>'total_cost') FROM workflows w"
                   " JOIN workflow_runs r ON r.workflow_id = w.id WHERE r.id = $1::uuid",
                   1, p, got, sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    n = mf_runs_recount_check(t->fx.pg, NULL, &mm, &err);
    if (n < 0)
        fail_msg("recount failed: %s", err.msg);
    if (n != 0)
        fail_msg("%d counter mismatches:\n%s", n, mm);
    free(mm);
    assert_false(mf_test_file_contains(t->fx.logfile, "data error"));
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_data_error_isolated, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_big_money, setup, rep_itest_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
