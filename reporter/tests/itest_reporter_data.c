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
    char admin_dsn[512];
    char dsn[768];
    char db[96];
    char prefix[64];
    char topic[128];
    char dlq[128];
    char brokers[256];
    char group[96];
    char bin[1200];
    char logfile[160];
    PGconn *pg;
    mf_kafka_producer *prod;
    int64_t end[NPARTS];
    long long dr_failed;
    pid_t reporter;
    int http_port;
    char wf[MF_UUID_STR_SIZE];
    char tpl[MF_UUID_STR_SIZE];
    char tpl2[MF_UUID_STR_SIZE];
} itest;

typedef struct run_fx {
    char id[MF_UUID_STR_SIZE];
    mf_uuid uid;
    long long started_ms;
} run_fx;

static void on_dr(void *ctx, const mf_kafka_dr *dr)
{
    itest *t = ctx;

    if (!dr->ok) {
        t->dr_failed++;
        return;
    }
    if (dr->partition >= 0 && dr->partition < NPARTS && dr->offset + 1 > t->end[dr->partition])
        t->end[dr->partition] = dr->offset + 1;
}

static int setup(void **state)
{
    itest *t = calloc(1, sizeof(*t));
    char hex[16];

    assert_non_null(t);
    snprintf(t->bin, sizeof(t->bin), "%s",
             mf_test_env("MF_REPORTER_BIN", "reporter/msgfleet-reporter"));
    snprintf(t->admin_dsn, sizeof(t->admin_dsn), "%s", mf_test_pg_dsn());
    snprintf(t->brokers, sizeof(t->brokers), "%s",
             mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF));
    mf_test_tag(hex, sizeof(hex));
    mf_test_db_create(t->admin_dsn, "repdata", t->db, sizeof(t->db));
    snprintf(t->prefix, sizeof(t->prefix), "itrepdata%s.", hex);
    snprintf(t->group, sizeof(t->group), "itrepdata-%s", hex);
    snprintf(t->logfile, sizeof(t->logfile), "/tmp/itest_reporter_data_%s.log", hex);
    snprintf(t->dsn, sizeof(t->dsn), "%s dbname=%s", t->admin_dsn, t->db);
    t->pg = mf_test_pg_connect(t->admin_dsn, t->db, "PostgreSQL (MF_PG_DSN)");
    mf_test_db_migrate(t->pg);
    t->prod = rep_itest_topics(t->brokers, t->prefix, NPARTS, t->topic, t->dlq, on_dr, t);
    rep_itest_seed(t->pg, t->tpl, t->tpl2, t->wf);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    itest *t = *state;
    mf_err err;

    if (t == NULL)
        return 0;
    mf_test_stop(t->reporter, 25000, NULL);
    if (t->prod != NULL) {
        mf_kafka_flush(t->prod, 5000, &err);
        mf_kafka_producer_free(t->prod);
    }
    rep_itest_cleanup(t->pg, t->admin_dsn, t->db, t->brokers, t->topic, t->dlq);
    free(t);
    return 0;
}

static void start_reporter(itest *t)
{
    const char *env[] = {"MF_PG_DSN", t->dsn, "MF_KAFKA_BROKERS", t->brokers,
                         "MF_TOPIC_PREFIX", t->prefix, "MF_REPORTER_GROUP", t->group,
                         "MF_REPORTER_STATUS_ENABLED", "false", "MF_HTTP_PORT", "0",
                         "MF_REPORTER_BATCH_MAX", "1000", "MF_REPORTER_LINGER_MS", "50",
                         "MF_REPORTER_LAG_INTERVAL_MS", "200", "MF_LOG_LEVEL", "info",
                         "MF_INSTANCE_ID", "itest-reporter-data", NULL};

    t->reporter = mf_test_spawn(t->bin, env, t->logfile, -1);
    assert_true(t->reporter > 0);
    t->http_port = mf_test_log_http_port(t->logfile, 15000);
}

static long http_get(itest *t, const char *path, mf_buf *b)
{
    char url[128];
    long code;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", t->http_port, path);
    code = mf_test_http(NULL, url, NULL, 5000, b);
    if (code == 0)
        fail_msg("GET %s failed", url);
    return code;
}

/* Sum of the samples of metric `name` whose line contains filter (may be NULL). */
static double metric(const char *body, const char *name, const char *filter)
{
    size_t nl = strlen(name);
    double sum = 0;

    for (const char *line = body; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[1024];

        if (len < sizeof(buf) && line[0] != '#' && strncmp(line, name, nl) == 0 &&
            (line[nl] == '{' || line[nl] == ' ')) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            if (filter == NULL || strstr(buf, filter) != NULL) {
                char *sp = strrchr(buf, ' ');

                sum += sp ? strtod(sp + 1, NULL) : 0;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

static void assert_alive(itest *t)
{
    int st;

    if (t->reporter > 0 && waitpid(t->reporter, &st, WNOHANG) == t->reporter) {
        t->reporter = 0;
        fail_msg("the reporter exited (status %d), see %s", st, t->logfile);
    }
}

static void wait_offsets(itest *t, int timeout_ms)
{
    const char *p[2] = {t->group, t->topic};
    long long want = 0;

    for (int i = 0; i < NPARTS; i++)
        want += t->end[i];
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (mf_test_pg_ll(t->pg, "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                          " WHERE consumer_group = $1 AND topic = $2", 2, p) == want)
            return;
        assert_alive(t);
        mf_test_sleep_ms(100);
    }
    fail_msg("stored offsets did not reach %lld within %d ms (see %s)", want, timeout_ms,
             t->logfile);
}

static void wait_completed(itest *t, const run_fx *r, int timeout_ms)
{
    const char *p[1] = {r->id};

    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                          " status = 'completed'", 1, p) == 1)
            return;
        assert_alive(t);
        mf_test_sleep_ms(100);
    }
    fail_msg("run %s not completed within %d ms (see %s)", r->id, timeout_ms, t->logfile);
}

static void make_run(itest *t, int target, run_fx *r)
{
    char tgt[16];
    const char *p[2] = {t->wf, tgt};
    PGresult *res;
    mf_err err;

    snprintf(tgt, sizeof(tgt), "%d", target);
    res = mf_test_pg_query(t->pg,
            "INSERT INTO workflow_runs (workflow_id, status, trigger_type, target_count,"
            " expanded_count, expansion_finished_at) VALUES ($1::uuid, 'running', 'manual',"
            " $2::int, $2::int, now())"
            " RETURNING id, floor(extract(epoch FROM started_at) * 1000)::bigint", 2, p);
    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, 0, 0));
    r->started_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    assert_int_equal(mf_uuid_parse(r->id, &r->uid, &err), 0);
}

/* Result i of run r: recipient 010 + 8 digits (base + i), accepted (or failed when failed),
 * sent as `type` through the template tpl. */
static void produce_result(itest *t, const run_fx *r, int base, int i, int failed,
                           mf_msg_type type, const char *tpl)
{
    mf_result res;
    mf_uuid wf, tp;
    char phone[16], name[32], text[128], key[MF_UUID_STR_SIZE], mid[40];
    msgpack_sbuffer sb;
    long long ts = mf_test_now_ms();
    mf_err err;

    snprintf(phone, sizeof(phone), "010%08d", base + i);
    snprintf(name, sizeof(name), "고객%d", i);
    snprintf(text, sizeof(text), "%s님 안녕하세요", name);
    snprintf(mid, sizeof(mid), "M4VDATA%025d", base + i);
    memset(&res, 0, sizeof(res));
    mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phone, 0, &res.id);
    res.run = r->uid;
    assert_int_equal(mf_uuid_parse(t->wf, &wf, &err), 0);
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
    msgpack_sbuffer_init(&sb);
    if (mf_codec_encode_result(&sb, &res, &err) != 0)
        fail_msg("encode: %s", err.msg);
    mf_uuid_format(&res.id, key);
    if (mf_kafka_produce(t->prod, t->topic, key, strlen(key), sb.data, sb.size, NULL, 10000,
                         &err) != 0)
        fail_msg("produce: %s", err.msg);
    msgpack_sbuffer_destroy(&sb);
}

static void flush(itest *t)
{
    mf_err err;

    if (mf_kafka_flush(t->prod, 60000, &err) != 0)
        fail_msg("flush: %s", err.msg);
    assert_int_equal(t->dr_failed, 0);
}

static void assert_run_consistent(itest *t, const run_fx *r)
{
    mf_err err;
    char *mm = NULL;
    int n = mf_runs_recount_check(t->pg, r->id, &mm, &err);

    if (n < 0)
        fail_msg("recount failed: %s", err.msg);
    if (n != 0)
        fail_msg("run %s: %d counter mismatches:\n%s", r->id, n, mm);
    free(mm);
}

/* The sum of not_recorded over run r's data_error entries with this SQLSTATE and step. */
static long long logged_not_recorded(itest *t, const run_fx *r, const char *sqlstate,
                                     const char *step)
{
    const char *p[3] = {r->id, sqlstate, step};

    return mf_test_pg_ll(t->pg,
                         "SELECT COALESCE(sum((e->'detail'->>'not_recorded')::bigint), 0)"
                         " FROM workflow_runs r, jsonb_array_elements(r.logs) e"
                         " WHERE r.id = $1::uuid AND e->>'event' = 'data_error'"
                         " AND e->'detail'->>'sqlstate' = $2 AND e->'detail'->>'step' = $3",
                         3, p);
}

/* ---- tests ----------------------------------------------------------------------------- */

#define N_BAD 1000   /* run A: every 10th recipient violates a CHECK added for the test */
#define N_GOOD 2000  /* run B: fine */
#define N_FULL 500   /* run C: its success_count is already at the integer maximum */

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
    make_run(t, N_BAD, &a);
    make_run(t, N_GOOD, &b);
    make_run(t, N_FULL, &c);
    snprintf(sql, sizeof(sql),
             "ALTER TABLE message_logs ADD CONSTRAINT mf_it_poison CHECK"
             " (workflow_run_id <> '%s' OR recipient_phone NOT LIKE '%%7')", a.id);
    mf_test_pg_exec(t->pg, sql);
    snprintf(sql, sizeof(sql),
             "UPDATE workflow_runs SET success_count = 2147483647 WHERE id = '%s'", c.id);
    mf_test_pg_exec(t->pg, sql);
    /* interleaved, so every batch holds results of all three runs */
    for (int i = 0; i < N_GOOD; i++) {
        produce_result(t, &b, 20000000, i, i % 20 == 3, MF_TYPE_SMS, t->tpl);
        if (i < N_BAD) {
            produce_result(t, &a, 10000000, i, i % 20 == 4, MF_TYPE_SMS, t->tpl);
            bad += i % 10 == 7;
        }
        if (i < N_FULL)
            produce_result(t, &c, 30000000, i, 0, MF_TYPE_SMS, t->tpl);
    }
    flush(t);
    start_reporter(t);
    wait_completed(t, &b, 60000);
    wait_offsets(t, 60000);

    /* B: every row, exact counters */
    pa[0] = a.id;
    pb[0] = b.id;
    pc[0] = c.id;
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs"
                                   " WHERE workflow_run_id = $1::uuid", 1, pb), N_GOOD);
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT success_count + failed_count FROM workflow_runs"
                                   " WHERE id = $1::uuid", 1, pb), N_GOOD);
    assert_run_consistent(t, &b);
    /* A: every row but the poisoned ones, counters equal to its rows */
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs"
                                   " WHERE workflow_run_id = $1::uuid", 1, pa), N_BAD - bad);
    assert_run_consistent(t, &a);
    assert_int_equal(logged_not_recorded(t, &a, "23514", "rows"), bad);
    /* C: nothing recorded, the counter overflow is in its logs */
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs"
                                   " WHERE workflow_run_id = $1::uuid", 1, pc), 0);
    assert_int_equal(logged_not_recorded(t, &c, "22003", "counters"), N_FULL);
    /* the metrics count every result not recorded; they went to the dead-letter topic */
    assert_int_equal(http_get(t, "/metrics", &body), 200);
    assert_int_equal((long long)metric(body.data, "msgfleet_reporter_data_errors_total",
                                       "sqlstate=\"23514\""), bad);
    assert_int_equal((long long)metric(body.data, "msgfleet_reporter_data_errors_total",
                                       "sqlstate=\"22003\""), N_FULL);
    assert_int_equal((long long)metric(body.data, "msgfleet_reporter_dlq_total", NULL),
                     bad + N_FULL);
    /* a data error is not an outage */
    assert_int_equal(http_get(t, "/healthz", &body), 200);
    assert_non_null(strstr(body.data, "\"postgres\":{\"ok\":true"));
    assert_false(mf_test_file_contains(t->logfile, "\"msg\":\"dependency down\""));
    assert_true(mf_test_file_contains(t->logfile, "\"msg\":\"results not recorded: data error\""));
    assert_true(mf_test_file_contains(t->logfile, a.id));
    assert_true(mf_test_file_contains(t->logfile, c.id));
    /* no row data (phone numbers) in the log: the server's "Failing row contains" detail */
    assert_false(mf_test_file_contains(t->logfile, "Failing row"));
    assert_int_equal(mf_test_stop(t->reporter, 25000, NULL), 0);
    t->reporter = 0;
    mf_buf_free(&body);
}

#define N_BIG 4000       /* LMS at 30,000 KRW: 120,000,000 KRW, past DECIMAL(10,2) */
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

    mf_test_pg_exec(t->pg, "UPDATE system_settings SET setting_value ="
                           " '{\"sms\": 10, \"lms\": 30000, \"kakao\": 5}'"
                           " WHERE setting_key = 'coolsms_prices'");
    make_run(t, N_BIG, &r);
    for (int i = 0; i < N_BIG; i++)
        produce_result(t, &r, 40000000, i, 0, MF_TYPE_LMS, t->tpl2);
    flush(t);
    start_reporter(t);
    wait_completed(t, &r, 90000);
    wait_offsets(t, 30000);
    p[0] = r.id;
    mf_test_pg_str(t->pg, "SELECT total_cost::text FROM workflow_runs WHERE id = $1::uuid", 1, p,
                   got, sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    mf_test_pg_str(t->pg, "SELECT sum(cost)::text FROM message_logs WHERE workflow_run_id ="
                          " $1::uuid", 1, p, got, sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    mf_test_pg_str(t->pg, "SELECT sum(total_cost)::text FROM daily_statistics", 0, NULL, got,
                   sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    mf_test_pg_str(t->pg, "SELECT (statistics->>'total_cost') FROM workflows w"
                          " JOIN workflow_runs r ON r.workflow_id = w.id WHERE r.id = $1::uuid",
                   1, p, got, sizeof(got));
    assert_string_equal(got, BIG_TOTAL);
    n = mf_runs_recount_check(t->pg, NULL, &mm, &err);
    if (n < 0)
        fail_msg("recount failed: %s", err.msg);
    if (n != 0)
        fail_msg("%d counter mismatches:\n%s", n, mm);
    free(mm);
    assert_false(mf_test_file_contains(t->logfile, "data error"));
    assert_int_equal(mf_test_stop(t->reporter, 25000, NULL), 0);
    t->reporter = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_data_error_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_money, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
