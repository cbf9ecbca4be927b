/* itest_reporter_ops: the reporter's operations side against the dev stack: /metrics agrees
 * with the database, /healthz, PostgreSQL cut mid-batch (through a TCP forwarder), stalled
 * runs, SIGTERM and its deadline, Kafka unreachable. */
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
    char admin_dsn[512];
    char dsn[768];
    char db[96];
    char user[64];
    int pg_port;
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
    mf_test_fwd *fwd;
    char wf[MF_UUID_STR_SIZE];
    char tpl[MF_UUID_STR_SIZE];
} itest;

static long long status_count(itest *t, const char *status)
{
    const char *p[1] = {status};

    return mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs WHERE status = $1", 1, p);
}

static void assert_consistent(itest *t)
{
    mf_err err;
    char *mm = NULL;
    int n = mf_runs_recount_check(t->pg, NULL, &mm, &err);

    if (n < 0)
        fail_msg("recount failed: %s", err.msg);
    if (n != 0)
        fail_msg("%d counter mismatches:\n%s", n, mm);
    free(mm);
}

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

static void produce_raw(itest *t, const char *key, const void *val, size_t len)
{
    mf_err err;

    if (mf_kafka_produce(t->prod, t->topic, key, strlen(key), val, len, NULL, 10000, &err) != 0)
        fail_msg("produce: %s", err.msg);
}

static void flush(itest *t)
{
    mf_err err;

    if (mf_kafka_flush(t->prod, 60000, &err) != 0)
        fail_msg("flush: %s", err.msg);
    assert_int_equal(t->dr_failed, 0);
}

/* ---- the reporter process and its HTTP endpoint ---------------------------------------- */

typedef struct extra_env {
    const char *kv[16];
} extra_env;

static void start_reporter(itest *t, const char *dsn, const char *brokers, const char *const *more)
{
    const char *env[64] = {"MF_PG_DSN", dsn, "MF_KAFKA_BROKERS", brokers,
                           "MF_TOPIC_PREFIX", t->prefix, "MF_REPORTER_GROUP", t->group,
                           "MF_REPORTER_STATUS_ENABLED", "false", "MF_HTTP_PORT", "0",
                           "MF_REPORTER_BATCH_MAX", "1000", "MF_REPORTER_LINGER_MS", "50",
                           "MF_REPORTER_LAG_INTERVAL_MS", "200",
                           "MF_LOG_LEVEL", "info", "MF_INSTANCE_ID", "itest-reporter-ops", NULL};
    size_t n = 0;

    while (env[n] != NULL)
        n++;
    for (size_t i = 0; more != NULL && more[i] != NULL && n + 2 < 63; i++)
        env[n++] = more[i];
    env[n] = NULL;
    t->reporter = mf_test_spawn(t->bin, env, t->logfile, -1);
    assert_true(t->reporter > 0);
    t->http_port = mf_test_log_http_port(t->logfile, 15000);
}

/* GET path from the reporter; returns the HTTP status, body into b (NUL-terminated). */
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

/* Sum of the samples of `name` (exact name) whose labels contain every filter (may be NULL). */
static double metric(const char *body, const char *name, const char *f1, const char *f2)
{
    size_t nl = strlen(name);
    double sum = 0;
    const char *line = body;

    while (line != NULL && *line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[1024];

        if (len < sizeof(buf) && line[0] != '#' && strncmp(line, name, nl) == 0 &&
            (line[nl] == '{' || line[nl] == ' ')) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            if ((f1 == NULL || strstr(buf, f1) != NULL) && (f2 == NULL || strstr(buf, f2) != NULL)) {
                char *sp = strrchr(buf, ' ');

                sum += sp ? strtod(sp + 1, NULL) : 0;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

/* Rows by status as the metrics say the database has them: every row inserted with the
 * status, plus the sent rows updated to it; sent loses the updated ones. */
static long long metric_rows(const char *body, const char *status)
{
    char lab[64];
    double v;

    snprintf(lab, sizeof(lab), "status=\"%s\"", status);
    v = metric(body, "msgfleet_reporter_rows_total", lab, NULL);
    if (strcmp(status, "sent") == 0)
        v -= metric(body, "msgfleet_reporter_rows_total", "op=\"update\"", NULL);
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

static void wait_offsets(itest *t, int timeout_ms)
{
    const char *p[2] = {t->group, t->topic};
    long long want = 0;

    for (int i = 0; i < NPARTS; i++)
        want += t->end[i];
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        int st;

        if (mf_test_pg_ll(t->pg, "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                        " WHERE consumer_group = $1 AND topic = $2", 2, p) == want)
            return;
        if (t->reporter > 0 && waitpid(t->reporter, &st, WNOHANG) == t->reporter)
            fail_msg("the reporter exited early (status %d), see %s", st, t->logfile);
        mf_test_sleep_ms(100);
    }
    fail_msg("stored offsets did not reach %lld within %d ms (see %s)", want, timeout_ms,
             t->logfile);
}

static void assert_alive(itest *t)
{
    int st;

    if (waitpid(t->reporter, &st, WNOHANG) == t->reporter) {
        t->reporter = 0;
        fail_msg("the reporter exited (status %d), see %s", st, t->logfile);
    }
}

static int setup(void **state)
{
    itest *t = calloc(1, sizeof(*t));
    char hex[16];
    PQconninfoOption *opts;

    assert_non_null(t);
    snprintf(t->bin, sizeof(t->bin), "%s", mf_test_env("MF_REPORTER_BIN", "reporter/msgfleet-reporter"));
    snprintf(t->admin_dsn, sizeof(t->admin_dsn), "%s",
             mf_test_pg_dsn());
    snprintf(t->brokers, sizeof(t->brokers), "%s", mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF));
    mf_test_tag(hex, sizeof(hex));
    mf_test_db_create(t->admin_dsn, "repops", t->db, sizeof(t->db));
    snprintf(t->prefix, sizeof(t->prefix), "itrepops%s.", hex);
    snprintf(t->group, sizeof(t->group), "itrepops-%s", hex);
    snprintf(t->logfile, sizeof(t->logfile), "/tmp/itest_reporter_ops_%s.log", hex);
    snprintf(t->dsn, sizeof(t->dsn), "%s dbname=%s", t->admin_dsn, t->db);
    /* where the forwarder points: the server and user of MF_PG_DSN */
    t->pg_port = 55432;
    snprintf(t->user, sizeof(t->user), "msgfleet");
    opts = PQconninfoParse(t->admin_dsn, NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val != NULL && strcmp(o->keyword, "port") == 0)
            t->pg_port = (int)strtol(o->val, NULL, 10);
        if (o->val != NULL && strcmp(o->keyword, "user") == 0)
            snprintf(t->user, sizeof(t->user), "%s", o->val);
    }
    PQconninfoFree(opts);

    t->pg = mf_test_pg_connect(t->admin_dsn, t->db, "PostgreSQL (MF_PG_DSN)");
    mf_test_db_migrate(t->pg);

    t->prod = rep_itest_topics(t->brokers, t->prefix, NPARTS, t->topic, t->dlq, on_dr, t);

    rep_itest_seed(t->pg, t->tpl, NULL, t->wf);
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
    mf_test_fwd_stop(t->fwd);
    if (t->prod != NULL) {
        mf_kafka_flush(t->prod, 5000, &err);
        mf_kafka_producer_free(t->prod);
    }
    rep_itest_cleanup(t->pg, t->admin_dsn, t->db, t->brokers, t->topic, t->dlq);
    free(t);
    return 0;
}

/* ---- results --------------------------------------------------------------------------- */

typedef struct run_fx {
    char id[MF_UUID_STR_SIZE];
    mf_uuid uid;
    long long started_ms;
} run_fx;

/* A running run; finished_ago: NULL = expansion not finished, else an interval ("0 s"). */
static void make_run(itest *t, int target, const char *finished_ago, run_fx *r)
{
    char tgt[16];
    const char *p[3] = {t->wf, tgt, finished_ago};
    PGresult *res;
    mf_err err;

    snprintf(tgt, sizeof(tgt), "%d", target);
    res = mf_test_pg_query(t->pg,
            "INSERT INTO workflow_runs (workflow_id, status, trigger_type, target_count,"
            " expanded_count, expansion_finished_at) VALUES ($1::uuid, 'running', 'manual',"
            " $2::int, $2::int, now() - $3::interval)"
            " RETURNING id, floor(extract(epoch FROM started_at) * 1000)::bigint",
            3, p);
    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, 0, 0));
    r->started_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    assert_int_equal(mf_uuid_parse(r->id, &r->uid, &err), 0);
}

#define IS_FAILED(i) ((i) % 20 == 7)
#define IS_DELIVERED(i) ((i) % 100 == 1)
#define IS_UNDELIVERED(i) ((i) % 100 == 3)
#define IS_CANCELLED(i) ((i) % 50 == 9)

static void produce_result(itest *t, const run_fx *r, int i, mf_result_status st, long long ts)
{
    mf_result res;
    mf_uuid wf, tp;
    char phone[16], name[32], text[128], key[MF_UUID_STR_SIZE], mid[40];
    msgpack_sbuffer sb;
    mf_err err;

    snprintf(phone, sizeof(phone), "010%08d", 10000000 + i);
    snprintf(name, sizeof(name), "고객%d", i);
    snprintf(text, sizeof(text), "%s님 안녕하세요", name);
    snprintf(mid, sizeof(mid), "M4VOPS%026d", i);
    memset(&res, 0, sizeof(res));
    mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phone, 0, &res.id);
    res.run = r->uid;
    assert_int_equal(mf_uuid_parse(t->wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(t->tpl, &tp, &err), 0);
    res.wf = wf;
    res.tpl = tp;
    res.status = st;
    res.to = phone;
    res.name = name;
    res.type = MF_TYPE_SMS;
    res.ts_ms = ts;
    res.text = text;
    if (st == MF_RESULT_FAILED || st == MF_RESULT_CANCELLED) {
        res.code = st == MF_RESULT_FAILED ? "1062" : "CANCELLED";
        res.msg = "not sent";
    } else {
        res.channel = MF_TYPE_SMS;
        res.provider_msg_id = mid;
        res.sent_ms = ts - (st == MF_RESULT_ACCEPTED ? 0 : 1000);
        res.code = st == MF_RESULT_ACCEPTED ? "2000" : (st == MF_RESULT_DELIVERED ? "4000" : "3043");
    }
    msgpack_sbuffer_init(&sb);
    if (mf_codec_encode_result(&sb, &res, &err) != 0)
        fail_msg("encode: %s", err.msg);
    produce_raw(t, mf_uuid_format(&res.id, key), sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Results [from, to) of run r (first outcomes), then the later outcomes if finals. Returns
 * the number of messages produced. */
static long long produce_range(itest *t, const run_fx *r, int from, int to, int finals)
{
    long long ts = mf_test_now_ms(), n = 0;

    for (int i = from; i < to; i++, n++)
        produce_result(t, r, i, IS_FAILED(i) ? MF_RESULT_FAILED
                                : IS_CANCELLED(i) ? MF_RESULT_CANCELLED : MF_RESULT_ACCEPTED, ts);
    for (int i = from; finals && i < to; i++) {
        if (IS_FAILED(i) || IS_CANCELLED(i))
            continue;
        if (IS_DELIVERED(i) || IS_UNDELIVERED(i)) {
            produce_result(t, r, i, IS_DELIVERED(i) ? MF_RESULT_DELIVERED : MF_RESULT_UNDELIVERED,
                           ts + 3000);
            n++;
        }
    }
    flush(t);
    return n;
}

static void wait_completed(itest *t, const run_fx *r, int timeout_ms)
{
    const char *p[1] = {r->id};

    for (int waited = 0; waited < timeout_ms; waited += 100) {
        int st;

        if (mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                        " status = 'completed'", 1, p) == 1)
            return;
        if (t->reporter > 0 && waitpid(t->reporter, &st, WNOHANG) == t->reporter) {
            t->reporter = 0;
            fail_msg("the reporter exited early (status %d), see %s", st, t->logfile);
        }
        mf_test_sleep_ms(100);
    }
    fail_msg("run %s not completed within %d ms (see %s)", r->id, timeout_ms, t->logfile);
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
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id ="
                                 " $1::uuid", 1, p), n);
    assert_int_equal(status_count(t, "sent"), sent);
    assert_int_equal(status_count(t, "delivered"), delivered);
    assert_int_equal(status_count(t, "failed"), failed);
    assert_int_equal(status_count(t, "cancelled"), cancelled);
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT success_count * 100000 + failed_count FROM workflow_runs"
                                 " WHERE id = $1::uuid", 1, p),
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
    make_run(t, n, "0 s", &r);
    produce_raw(t, "garbage", "\x81\xa1v\x63", 4);
    produced = produce_range(t, &r, 0, n, 1) + 1;
    start_reporter(t, t->dsn, t->brokers, NULL);
    for (int waited = 0; waited < 60000; waited += 20) {
        const char *p[1] = {r.id};
        long long rows, done;

        assert_int_equal(http_get(t, "/metrics", &b), 200);
        rows = (long long)metric(b.data, "msgfleet_reporter_rows_total", "op=\"insert\"", NULL);
        /* the counters move after COMMIT: the database has at least as much */
        for (size_t i = 0; i < 4; i++)
            if (strcmp(sts[i], "sent") != 0)
                assert_true(metric_rows(b.data, sts[i]) <= status_count(t, sts[i]));
        assert_true(rows <= mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs", 0, NULL));
        assert_true(rows >= prev_rows);
        prev_rows = rows;
        if (rows > 0 && rows < n)
            during++;
        done = mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid"
                           " AND status = 'completed'", 1, p);
        if (done == 1)
            break;
        assert_alive(t);
        mf_test_sleep_ms(20);
    }
    print_message("%lld scrapes saw a partly recorded run\n", during);
    wait_completed(t, &r, 30000);
    wait_offsets(t, 30000);
    check_rows(t, &r, n);
    assert_consistent(t);
    /* the lag gauge reaches 0 once the offsets are stored */
    for (int waited = 0;; waited += 100) {
        assert_int_equal(http_get(t, "/metrics", &b), 200);
        if (metric(b.data, "msgfleet_reporter_consumer_lag", NULL, NULL) == 0 &&
            strstr(b.data, "\nmsgfleet_reporter_consumer_lag ") != NULL)
            break;
        if (waited > 5000)
            fail_msg("consumer lag did not reach 0:\n%s", b.data);
        mf_test_sleep_ms(100);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(metric_rows(b.data, sts[i]), status_count(t, sts[i]));
    assert_int_equal((long long)metric(b.data, "msgfleet_reporter_runs_completed_total", NULL, NULL), 1);
    assert_int_equal((long long)metric(b.data, "msgfleet_reporter_dlq_total", NULL, NULL), 1);
    assert_int_equal((long long)metric(b.data, "msgfleet_reporter_duplicates_total", NULL, NULL), 0);
    assert_int_equal((long long)metric(b.data, "msgfleet_reporter_batch_size_sum", NULL, NULL),
                     produced);
    assert_true(metric(b.data, "msgfleet_reporter_batches_total", NULL, NULL) >= 1);
    assert_int_equal((long long)metric(b.data, "msgfleet_reporter_batches_total", NULL, NULL),
                     (long long)metric(b.data, "msgfleet_reporter_batch_seconds_count", NULL, NULL));
    promtool_check(&b);
    assert_int_equal(http_get(t, "/healthz", &b), 200);
    assert_non_null(strstr(b.data, "\"postgres\":{\"ok\":true"));
    assert_non_null(strstr(b.data, "\"kafka\":{\"ok\":true"));
    assert_int_equal(http_get(t, "/livez", &b), 200);

    /* the same results again: nothing in the database moves, only duplicates_total */
    produced = produce_range(t, &r, 0, n, 1);
    wait_offsets(t, 30000);
    for (int waited = 0;; waited += 100) {
        assert_int_equal(http_get(t, "/metrics", &b), 200);
        if ((long long)metric(b.data, "msgfleet_reporter_duplicates_total", NULL, NULL) == produced)
            break;
        if (waited > 5000)
            fail_msg("duplicates_total is not %lld:\n%s", produced, b.data);
        mf_test_sleep_ms(100);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(metric_rows(b.data, sts[i]), status_count(t, sts[i]));
    check_rows(t, &r, n);
    assert_int_equal(mf_test_stop(t->reporter, 25000, NULL), 0);
    t->reporter = 0;
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
    make_run(t, 10, "0 s", &stalled);
    make_run(t, 5, "1 hour", &fine);
    make_run(t, 10, "0 s", &open);
    /* both still expanding; the stalled one "finishes" below, once its 7 rows are in */
    mf_test_pg_exec(t->pg, "UPDATE workflow_runs SET expansion_finished_at = NULL WHERE target_count = 10");
    produce_range(t, &stalled, 0, 7, 0);
    produce_range(t, &fine, 100, 105, 0);
    produce_range(t, &open, 200, 203, 0);
    start_reporter(t, t->dsn, t->brokers, more);
    wait_completed(t, &fine, 20000);
    p[0] = stalled.id;
    for (int waited = 0; mf_test_pg_ll(t->pg, "SELECT success_count + failed_count FROM workflow_runs"
                                     " WHERE id = $1::uuid", 1, p) < 7; waited += 50) {
        if (waited > 20000)
            fail_msg("the 7 results of the stalled run were not recorded (see %s)", t->logfile);
        mf_test_sleep_ms(50);
    }
    mf_test_pg_exec(t->pg, "UPDATE workflow_runs SET expansion_finished_at = now() - interval '1 hour'"
              " WHERE target_count = 10 AND success_count + failed_count = 7");
    for (int waited = 0;; waited += 100) {
        if (mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                        " logs @> '[{\"event\":\"stalled\"}]'", 1, p) == 1)
            break;
        if (waited > 10000)
            fail_msg("no stalled entry within 10 s (see %s)", t->logfile);
        mf_test_sleep_ms(100);
    }
    mf_test_sleep_ms(3000); /* three more checks: still one entry */
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs r,"
                                 " jsonb_array_elements(r.logs) e WHERE r.id = $1::uuid"
                                 " AND e->>'event' = 'stalled'", 1, p), 1);
    mf_test_pg_str(t->pg, "SELECT e->'detail'->>'missing' || '/' || (e->'detail'->>'target_count')"
                 " FROM workflow_runs r, jsonb_array_elements(r.logs) e"
                 " WHERE r.id = $1::uuid AND e->>'event' = 'stalled'", 1, p, detail, sizeof(detail));
    assert_string_equal(detail, "3/10");
    /* a run still expanding is never stalled, however few results it has */
    p2[0] = open.id;
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                                 " logs @> '[{\"event\":\"stalled\"}]'", 1, p2), 0);
    assert_true(mf_test_file_contains(t->logfile, "\"msg\":\"run stalled\""));
    /* (`fine` may have been flagged too if the first check ran before its rows were in) */
    assert_int_equal(http_get(t, "/metrics", &b), 200);
    assert_int_equal((long long)metric(b.data, "msgfleet_reporter_runs_stalled_total", NULL, NULL),
                     mf_test_pg_ll(t->pg, "SELECT count(*) FROM workflow_runs WHERE"
                                 " logs @> '[{\"event\":\"stalled\"}]'", 0, NULL));
    /* the missing results arrive: the run completes, the stalled entry stays as history */
    produce_range(t, &stalled, 7, 10, 0);
    wait_completed(t, &stalled, 20000);
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT jsonb_array_length(logs) FROM workflow_runs"
                                 " WHERE id = $1::uuid", 1, p), 2);
    assert_int_equal(mf_test_stop(t->reporter, 25000, NULL), 0);
    t->reporter = 0;
    assert_consistent(t);
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
             mf_test_fwd_port(t->fwd), t->db, t->user);
    make_run(t, n, "0 s", &r);
    produced = produce_range(t, &r, 0, n, 1);
    start_reporter(t, dsn, t->brokers, NULL);
    p[0] = r.id;
    for (int waited = 0; waited < 60000 && got == 0; waited += 5) {
        got = mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid",
                   1, p);
        mf_test_sleep_ms(5);
    }
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_CUT);
    got = mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid", 1, p);
    print_message("cut PostgreSQL with %lld of %d rows written\n", got, n);
    assert_true(got > 0 && got < n);
    for (int waited = 0;; waited += 100) {
        assert_alive(t);
        if (http_get(t, "/healthz", &b) == 503 &&
            strstr(b.data, "\"postgres\":{\"ok\":false") != NULL)
            break;
        if (waited > 15000)
            fail_msg("/healthz does not report postgres down: %s", b.data);
        mf_test_sleep_ms(100);
    }
    mf_test_sleep_ms(1500);
    assert_alive(t);
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_PASS);
    wait_completed(t, &r, 60000);
    wait_offsets(t, 30000);
    check_rows(t, &r, n);
    assert_consistent(t);
    assert_true(mf_test_file_contains(t->logfile, "batch not recorded, retrying"));
    assert_true(mf_test_file_contains(t->logfile, "\"dependency\":\"postgres\""));
    for (int waited = 0;; waited += 100) {
        if (http_get(t, "/healthz", &b) == 200)
            break;
        if (waited > 10000)
            fail_msg("/healthz not ready again: %s", b.data);
        mf_test_sleep_ms(100);
    }
    assert_int_equal(http_get(t, "/metrics", &b), 200);
    /* a COMMIT whose answer was lost is counted as duplicates on the redo; together exact */
    assert_int_equal((long long)(metric(b.data, "msgfleet_reporter_rows_total", NULL, NULL) +
                                 metric(b.data, "msgfleet_reporter_duplicates_total", NULL, NULL)),
                     produced);
    assert_true(metric(b.data, "msgfleet_reporter_batch_retries_total", NULL, NULL) >= 1);
    assert_int_equal(mf_test_stop(t->reporter, 25000, NULL), 0);
    t->reporter = 0;
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
    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=%s user=%s", mf_test_fwd_port(t->fwd), t->db,
             t->user);
    make_run(t, n, "0 s", &r);
    produce_range(t, &r, 0, n, 0);
    p[0] = r.id;

    /* 1: plain SIGTERM while batches flow */
    start_reporter(t, t->dsn, t->brokers, NULL);
    for (int waited = 0; waited < 60000 && got == 0; waited += 5) {
        got = mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid",
                   1, p);
        mf_test_sleep_ms(5);
    }
    rc = mf_test_stop(t->reporter, 25000, &took);
    t->reporter = 0;
    print_message("SIGTERM: exit %d after %lld ms\n", rc, took);
    assert_int_equal(rc, 0);
    assert_true(took < 20000);
    assert_true(mf_test_file_contains(t->logfile, "\"msg\":\"consumer closed\""));
    p[1] = t->group;
    /* every stored offset is backed by its rows (one result per message here) */
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs", 0, NULL),
                     mf_test_pg_ll(t->pg, "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                                 " WHERE consumer_group = $1", 1, p + 1));
    assert_consistent(t);

    /* 2: the database stops answering mid-batch (connection held open), then SIGTERM */
    start_reporter(t, dsn, t->brokers, more);
    got = mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs", 0, NULL);
    for (int waited = 0; waited < 60000; waited += 5) {
        if (mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs", 0, NULL) > got)
            break;
        mf_test_sleep_ms(5);
    }
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_HOLD);
    mf_test_sleep_ms(300);
    assert_alive(t);
    rc = mf_test_stop(t->reporter, 10000, &took);
    t->reporter = 0;
    print_message("SIGTERM with PostgreSQL hanging: exit %d after %lld ms\n", rc, took);
    assert_true(rc == 0 || rc == 1);
    assert_true(took < 3500);
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_CUT); /* drops the held sessions: their transactions roll back */
    mf_test_fwd_set(t->fwd, MF_TEST_FWD_PASS);

    /* 3: a restart records the rest exactly once */
    start_reporter(t, t->dsn, t->brokers, NULL);
    wait_completed(t, &r, 60000);
    wait_offsets(t, 30000);
    assert_int_equal(mf_test_pg_ll(t->pg, "SELECT count(*) FROM message_logs", 0, NULL), n);
    assert_consistent(t);
    assert_int_equal(mf_test_stop(t->reporter, 25000, NULL), 0);
    t->reporter = 0;
}

static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    assert_non_null(p);
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        fail_msg("cannot parse %s", path);
    return (long long)(ut + st);
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
    start_reporter(t, t->dsn, "127.0.0.1:1", NULL);
    mf_test_sleep_ms(1000);
    c0 = cpu_ticks(t->reporter);
    mf_test_sleep_ms(3000);
    c1 = cpu_ticks(t->reporter);
    assert_alive(t);
    print_message("Kafka down: %lld ms of CPU in 3 s\n", (c1 - c0) * 1000 / hz);
    assert_true((c1 - c0) * 1000 / hz < 600);
    assert_int_equal(http_get(t, "/livez", &b), 200);
    assert_int_equal(http_get(t, "/healthz", &b), 503);
    assert_non_null(strstr(b.data, "\"kafka\":{\"ok\":false"));
    assert_non_null(strstr(b.data, "\"postgres\":{\"ok\":true"));
    assert_true(mf_test_file_contains(t->logfile, "\"msg\":\"dependency down\""));
    rc = mf_test_stop(t->reporter, 25000, &took);
    t->reporter = 0;
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
        cmocka_unit_test_setup_teardown(test_kafka_down, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
