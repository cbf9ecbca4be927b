/* itest_planner: the planner daemon against the real stack. */
/* Expansion, invalid phones, dedupe, variables, schedules, two planners at once, configuration
 * errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mysql.h>

#include "mf_codec.h"
#include "mf_kafka.h"
#include "mf_pg.h"
#include "mf_phone.h"
#include "mf_uuid.h"
#include "mf_test.h"
#include "plan_itest.h"

#define NCUST 2000
#define MAX_RUNS 64

/* What the consumer has seen for one run. */
typedef struct tally {
    mf_uuid run;
    int jobs, invalid, dup;
    uint8_t seen_job[NCUST + 1];
    uint8_t seen_inv[NCUST + 1];
} tally;

typedef struct itest {
    plan_itest b; /* database, topics, consumer */
    char my_db[64];
    char tpl_id[40], map_id[40], qt_id[40], wf_id[40];
    pid_t planners[2];
    tally runs[MAX_RUNS];
    size_t nruns;
    int bad_messages; /* jobs/results that fail the content checks of the main run */
    char main_run[40];
    mf_uuid main_uuid;
    uint64_t main_started_ms;
    char first_error[512];
} itest;

static itest T;

/* ---- PostgreSQL -------------------------------------------------------------------------- */

/* Queries on the test database (plan_itest.h): a result the caller PQclear()s; the first
 * column of the first row into out. */
#define pg_q(sql, n, params) plan_itest_q(&T.b, (sql), (n), (params))
#define pg_val(sql, n, params, out, cap) plan_itest_val(&T.b, (sql), (n), (params), (out), (cap))

static long long pg_num(const char *sql, int n, const char *const *params)
{
    char buf[64];
    pg_val(sql, n, params, buf, sizeof(buf));
    return strtoll(buf, NULL, 10);
}

/* ---- MySQL ------------------------------------------------------------------------------- */

static MYSQL *my_admin(const char *db)
{
    MYSQL *m = mysql_init(NULL);
    unsigned port = (unsigned)strtoul(mf_test_env("MF_MYSQL_PORT", "53306"), NULL, 10);

    if (m == NULL || mysql_real_connect(m, mf_test_env("MF_MYSQL_HOST", "127.0.0.1"), "crm_admin",
                                        "crm_admin_pw", db, port, NULL, 0) == NULL)
        fail_msg("MariaDB (MF_MYSQL_HOST:MF_MYSQL_PORT as crm_admin) is not reachable: %s",
                 m != NULL ? mysql_error(m) : "out of memory");
    mysql_set_character_set(m, "utf8mb4");
    return m;
}

static void my_exec(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql) != 0)
        fail_msg("mysql: %s\nsql: %.200s", mysql_error(m), sql);
}

/* The phone of customer i (1-based); NULL for SQL NULL. Every 100th is invalid, customer 8
 * repeats customer 7's number in another spelling. */
static const char *cust_phone(int i, char *buf, size_t cap)
{
    static const char *const BAD[] = {"12345", "010-abcd-efgh", NULL,
                                      "",      "+1 555 1234",   "02-123-4567"};
    if (i % 100 == 0)
        return BAD[(i / 100) % 6];
    if (i == 8)
        return "+82 10-2000-0007";
    snprintf(buf, cap, "010-2000-%04d", i);
    return buf;
}

static void my_setup(void)
{
    char path[512], sql[256], phone[32];
    MYSQL *m = my_admin(NULL);
    FILE *f;
    char *text, *stmt, *next;
    long len;
    size_t cap = 256 * 1024, n;
    char *ins = malloc(cap);

    snprintf(T.my_db, sizeof(T.my_db), "mftest_planner_%s", T.b.suffix);
    snprintf(sql, sizeof(sql), "CREATE DATABASE `%s` CHARACTER SET utf8mb4", T.my_db);
    my_exec(m, sql);
    snprintf(sql, sizeof(sql), "USE `%s`", T.my_db);
    my_exec(m, sql);
    snprintf(path, sizeof(path), "%s/schemas/mysql/001_crm.sql", mf_test_env("MF_SOURCE_DIR", "."));
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    for (stmt = text; stmt != NULL && *stmt != '\0'; stmt = next) {
        next = strstr(stmt, ";\n");
        if (next != NULL) {
            *next = '\0';
            next += 2;
        }
        if (strstr(stmt, "CREATE") != NULL)
            my_exec(m, stmt);
    }
    free(text);
    n = (size_t)snprintf(ins, cap, "INSERT INTO customers (id, name, phone, email) VALUES ");
    for (int i = 1; i <= NCUST; i++) {
        const char *p = cust_phone(i, phone, sizeof(phone));
        char pq[48], em[48];
        snprintf(pq, sizeof(pq), p ? "'%s'" : "NULL", p ? p : "");
        snprintf(em, sizeof(em), i % 7 == 0 ? "NULL" : "'c%d@example.com'", i);
        n += (size_t)snprintf(ins + n, cap - n, "%s(%d, '고객%d', %s, %s)", i > 1 ? "," : "", i, i,
                              pq, em);
    }
    my_exec(m, ins);
    free(ins);
    mysql_close(m);
}

static void my_teardown(void)
{
    char sql[128];
    MYSQL *m;

    if (T.my_db[0] == '\0')
        return;
    m = mysql_init(NULL);
    if (mysql_real_connect(
            m, mf_test_env("MF_MYSQL_HOST", "127.0.0.1"), "crm_admin", "crm_admin_pw", NULL,
            (unsigned)strtoul(mf_test_env("MF_MYSQL_PORT", "53306"), NULL, 10), NULL, 0) != NULL) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", T.my_db);
        mysql_query(m, sql);
    }
    mysql_close(m);
}

/* ---- planners ----------------------------------------------------------------------------- */

/* A planner with the test's settings; extra ("NAME=value", NULL-terminated, may be NULL)
 * come first, so they win over the defaults below (getenv takes the first). */
static pid_t start_planner_with(const char *instance, const char *const *extra)
{
    char db[96], level[64];
    const char *env[12];
    size_t n = 0;

    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 8; i++)
        env[n++] = extra[i];
    snprintf(db, sizeof(db), "MF_MYSQL_DB=%s", T.my_db);
    snprintf(level, sizeof(level), "MF_LOG_LEVEL=%s", mf_test_env("ITEST_PLANNER_LOG", "warn"));
    env[n++] = db;
    env[n++] = "MF_PLANNER_PAGE_SIZE=300";
    env[n++] = level;
    env[n] = NULL;
    return plan_itest_start(&T.b, instance, env, NULL);
}

static pid_t start_planner(const char *instance)
{
    return start_planner_with(instance, NULL);
}

/* SIGTERM, then wait; returns the exit status (or 128 + signal). */
static int stop_planner(pid_t *pid)
{
    return plan_itest_stop(pid, 10000);
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static void create_fixtures(void)
{
    pg_val("INSERT INTO message_templates (name, category, message_type, content)"
           " VALUES ('itest', 'notification', 'lms',"
           " '#{name}님, 쿠폰 #{coupon} (#{date}) 등급 #{grade} 포인트 #{points} #{email}')"
           " RETURNING id",
           0, NULL, T.tpl_id, sizeof(T.tpl_id));
    pg_val("INSERT INTO individual_variable_mappings (variable_name, source_type, source_field)"
           " VALUES ('grade', 'static', 'VIP') RETURNING id",
           0, NULL, T.map_id, sizeof(T.map_id));
    pg_val("INSERT INTO variable_query_templates (template_name, query_sql) VALUES"
           " ('points', 'SELECT id * 10 AS points FROM customers WHERE id = ?') RETURNING id",
           0, NULL, T.qt_id, sizeof(T.qt_id));
}

/* A workflow over the customers table; returns its id in out. */
static void create_workflow(const char *query, const char *trigger, const char *schedule, char *out,
                            size_t cap)
{
    char tc[512], mc[128], vars[1024];
    const char *params[5] = {tc, mc, vars, trigger, schedule};

    snprintf(tc, sizeof(tc),
             "{\"source\":\"mysql\",\"query\":\"%s\",\"key_column\":\"id\","
             "\"phone_column\":\"phone\",\"name_column\":\"name\"}",
             query);
    snprintf(mc, sizeof(mc), "{\"template_id\":\"%s\"}", T.tpl_id);
    snprintf(vars, sizeof(vars),
             "{\"name\":{\"source\":\"column\",\"column\":\"name\",\"default\":\"고객\"},"
             "\"coupon\":{\"source\":\"static\",\"value\":\"WELCOME10\"},"
             "\"date\":{\"source\":\"function\",\"function\":\"today\",\"format\":\"%%Y.%%m.%%d\","
             "\"tz\":\"Asia/Seoul\"},"
             "\"grade\":{\"source\":\"mapping\",\"mapping_id\":\"%s\"},"
             "\"points\":{\"source\":\"query\",\"query_template_id\":\"%s\",\"params\":[\"id\"],"
             "\"column\":\"points\",\"default\":\"0\"}}",
             T.map_id, T.qt_id);
    pg_val("INSERT INTO workflows (name, status, trigger_type, target_config, message_config,"
           " variables, schedule_config) VALUES ('itest', 'active', $4, $1::jsonb, $2::jsonb,"
           " $3::jsonb, $5::jsonb) RETURNING id",
           5, params, out, cap);
}

static void create_run(const char *wf, char *run, size_t cap)
{
    const char *p[1] = {wf};
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type) VALUES ($1, 'running',"
           " 'manual') RETURNING id",
           1, p, run, cap);
}

/* A running run that started `ago` (an interval) before now. */
static void create_run_at(const char *wf, const char *ago, char *run, size_t cap)
{
    const char *p[2] = {wf, ago};
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type, started_at)"
           " VALUES ($1, 'running', 'manual', clock_timestamp() - $2::interval) RETURNING id",
           2, p, run, cap);
}

static void wait_run_planned(const char *run, int timeout_s)
{
    plan_itest_wait_planned(&T.b, "run", run, timeout_s);
}

/* ---- consuming ---------------------------------------------------------------------------- */

static tally *tally_of(const mf_uuid *run)
{
    for (size_t i = 0; i < T.nruns; i++) {
        if (mf_uuid_equal(&T.runs[i].run, run))
            return &T.runs[i];
    }
    assert_true(T.nruns < MAX_RUNS);
    memset(&T.runs[T.nruns], 0, sizeof(tally));
    T.runs[T.nruns].run = *run;
    return &T.runs[T.nruns++];
}

static void bad_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad_message(const char *fmt, ...)
{
    va_list ap;

    if (T.bad_messages++ == 0) {
        va_start(ap, fmt);
        vsnprintf(T.first_error, sizeof(T.first_error), fmt, ap);
        va_end(ap);
    }
}

static void expect_var(const mf_job *job, const char *key, const char *want, int i)
{
    const char *got = mf_codec_map_get(&job->vars, key);

    if (want == NULL && got != NULL)
        bad_message("customer %d: variable %s should be missing, is \"%s\"", i, key, got);
    else if (want != NULL && (got == NULL || strcmp(got, want) != 0))
        bad_message("customer %d: variable %s = \"%s\", want \"%s\"", i, key,
                    got ? got : "(missing)", want);
}

/* Full content checks for a job of the main run. */
static void check_main_job(const mf_job *job, const mf_kafka_msg *m, int i)
{
    char want[64], date[32];
    time_t t = (time_t)(T.main_started_ms / 1000) + 9 * 3600;
    struct tm tm;
    mf_uuid id;

    mf_uuid_job_id(&T.main_uuid, T.main_started_ms, job->to, 1, &id);
    if (!mf_uuid_equal(&id, &job->id))
        bad_message("customer %d: unexpected job id", i);
    if (m->key_len != strlen(job->to) || memcmp(m->key, job->to, m->key_len) != 0)
        bad_message("customer %d: message key is not the phone", i);
    snprintf(want, sizeof(want), "고객%d", i);
    if (strcmp(job->name, want) != 0)
        bad_message("customer %d: name \"%s\"", i, job->name);
    expect_var(job, "name", want, i);
    expect_var(job, "coupon", "WELCOME10", i);
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y.%m.%d", &tm);
    expect_var(job, "date", date, i);
    expect_var(job, "grade", "VIP", i);
    snprintf(want, sizeof(want), "%d", i * 10);
    expect_var(job, "points", want, i);
    snprintf(want, sizeof(want), "c%d@example.com", i);
    expect_var(job, "email", i % 7 == 0 ? NULL : want, i);
}

static void on_job(const mf_kafka_msg *m)
{
    mf_job job;
    mf_err err;
    tally *t;
    int i;

    if (mf_codec_decode_job(T.b.codec, m->val, m->val_len, &job, &err) != 0) {
        bad_message("undecodable job: %s", err.msg);
        return;
    }
    t = tally_of(&job.run);
    /* every valid phone is 0102000NNNN */
    i = (int)strtol(job.to + 7, NULL, 10);
    if (strlen(job.to) != 11 || strncmp(job.to, "0102000", 7) != 0 || i < 1 || i > NCUST) {
        bad_message("unexpected phone %s", job.to);
        return;
    }
    t->jobs++;
    if (t->seen_job[i]++)
        t->dup++;
    if (mf_uuid_equal(&job.run, &T.main_uuid))
        check_main_job(&job, m, i);
}

static void on_result(const mf_kafka_msg *m)
{
    mf_result r;
    mf_err err;
    tally *t;
    char key[32], id[MF_UUID_STR_SIZE];
    mf_uuid want;

    if (mf_codec_decode_result(T.b.codec, m->val, m->val_len, &r, &err) != 0) {
        bad_message("undecodable result: %s", err.msg);
        return;
    }
    t = tally_of(&r.run);
    if (r.status != MF_RESULT_FAILED || r.code == NULL || strcmp(r.code, "INVALID_PHONE") != 0) {
        bad_message("unexpected result status %d code %s", (int)r.status, r.code ? r.code : "");
        return;
    }
    for (int i = 100; i <= NCUST; i += 100) {
        snprintf(key, sizeof(key), "invalid:%d", i);
        mf_uuid_job_id(&r.run, mf_uuid_time_ms(&r.id), key, 1, &want);
        if (mf_uuid_equal(&want, &r.id)) {
            t->invalid++;
            if (t->seen_inv[i]++)
                t->dup++;
            mf_uuid_format(&r.id, id);
            if (m->key_len != MF_UUID_STR_LEN || memcmp(m->key, id, MF_UUID_STR_LEN) != 0)
                bad_message("result key is not the id");
            return;
        }
    }
    bad_message("INVALID_PHONE result for an unknown recipient (to=\"%s\")", r.to);
}

static void ensure_consumer(void)
{
    plan_itest_consumer(&T.b, "itest_planner", "itest-planner");
}

/* Consume until the run has `jobs` jobs and `invalid` results (or the timeout), then a
 * little longer to catch duplicates. */
static tally *consume_run(const mf_uuid *run, int jobs, int invalid, int timeout_s)
{
    mf_kafka_msg msgs[512];
    int64_t end = (int64_t)mf_test_now_ms() + timeout_s * 1000LL, settle = 0;
    tally *t;
    mf_err err;

    ensure_consumer();
    for (;;) {
        size_t n = 0;
        if (mf_kafka_consume(T.b.consumer, msgs, 512, 500, &n, &err) != 0)
            fail_msg("consume: %s", err.msg);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(msgs[i].topic, T.b.topic_jobs) == 0)
                on_job(&msgs[i]);
            else
                on_result(&msgs[i]);
        }
        mf_kafka_release(msgs, n);
        mf_codec_reset(T.b.codec);
        t = tally_of(run);
        if (settle == 0 && t->jobs >= jobs && t->invalid >= invalid)
            settle = (int64_t)mf_test_now_ms() + 1500;
        if ((settle != 0 && (int64_t)mf_test_now_ms() > settle) || (int64_t)mf_test_now_ms() > end)
            return t;
    }
}

/* ---- tests -------------------------------------------------------------------------------- */

/* clang-format off */
static const char TARGET[] = "SELECT id, name, phone, email FROM customers";
/* clang-format on */
#define UNIQUE_VALID (NCUST - NCUST / 100 - 1)

static void test_expands_run(void **state)
{
    char wf[40];
    const char *p[1] = {T.main_run};
    mf_err err;
    tally *t;
    char logs[4096];

    (void)state;
    create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
    create_run(wf, T.main_run, sizeof(T.main_run));
    assert_int_equal(mf_uuid_parse(T.main_run, &T.main_uuid, &err), 0);
    T.main_started_ms = (uint64_t)pg_num("SELECT floor(extract(epoch FROM started_at) * 1000)"
                                         "::bigint FROM workflow_runs WHERE id = $1",
                                         1, p);
    T.planners[0] = start_planner("itest-p1");
    wait_run_planned(T.main_run, 60);
    assert_int_equal(pg_num("SELECT target_count FROM workflow_runs WHERE id = $1", 1, p),
                     UNIQUE_VALID + NCUST / 100);
    assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, p),
                     UNIQUE_VALID);
    assert_int_equal(pg_num("SELECT invalid_count FROM workflow_runs WHERE id = $1", 1, p),
                     NCUST / 100);
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                            " status = 'running' AND expansion_finished_at IS NOT NULL AND"
                            " planner_lease_until IS NULL",
                            1, p),
                     1);
    pg_val("SELECT logs::text FROM workflow_runs WHERE id = $1", 1, p, logs, sizeof(logs));
    assert_non_null(strstr(logs, "\"claimed\""));
    assert_non_null(strstr(logs, "\"expanded\""));

    t = consume_run(&T.main_uuid, UNIQUE_VALID, NCUST / 100, 60);
    if (T.bad_messages)
        fail_msg("%d bad messages, first: %s", T.bad_messages, T.first_error);
    assert_int_equal(t->jobs, UNIQUE_VALID);
    assert_int_equal(t->invalid, NCUST / 100);
    assert_int_equal(t->dup, 0);
    assert_int_equal(t->seen_job[7], 1); /* the first of the duplicate pair won */
    assert_int_equal(t->seen_job[8], 0);
}

static void test_two_planners_expand_once(void **state)
{
    char wf[40], run[40];
    mf_uuid u;
    mf_err err;
    tally *t;

    (void)state;
    T.planners[1] = start_planner("itest-p2");
    mf_test_sleep_ms(500);
    create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
    for (int k = 0; k < 3; k++) {
        const char *p[1] = {run};
        create_run(wf, run, sizeof(run));
        wait_run_planned(run, 60);
        assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, p),
                         UNIQUE_VALID);
        assert_int_equal(mf_uuid_parse(run, &u, &err), 0);
        t = consume_run(&u, UNIQUE_VALID, NCUST / 100, 60);
        assert_int_equal(t->jobs, UNIQUE_VALID);
        assert_int_equal(t->invalid, NCUST / 100);
        assert_int_equal(t->dup, 0);
    }
    if (T.bad_messages)
        fail_msg("%d bad messages, first: %s", T.bad_messages, T.first_error);
}

/* A planner that died holding the lease: the run is taken over once the lease expires. */
static void test_takeover_after_lease_expiry(void **state)
{
    char wf[40], run[40], logs[4096];
    const char *p[1] = {run};
    const char *pw[1] = {wf};
    mf_uuid u;
    mf_err err;
    tally *t;

    (void)state;
    create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type, planner_owner,"
           " planner_lease_until) VALUES ($1, 'running', 'manual', 'itest-dead',"
           " now() + interval '3 seconds') RETURNING id",
           1, pw, run, sizeof(run));
    wait_run_planned(run, 60);
    /* not before the dead planner's lease ran out */
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                            " expansion_finished_at >= started_at + interval '2.5 seconds'",
                            1, p),
                     1);
    pg_val("SELECT logs::text FROM workflow_runs WHERE id = $1", 1, p, logs, sizeof(logs));
    if (strstr(logs, "lease of itest-dead expired") == NULL)
        fail_msg("no takeover in the run log: %s", logs);
    assert_int_equal(mf_uuid_parse(run, &u, &err), 0);
    t = consume_run(&u, UNIQUE_VALID, NCUST / 100, 60);
    assert_int_equal(t->jobs, UNIQUE_VALID);
    assert_int_equal(t->invalid, NCUST / 100);
    assert_int_equal(t->dup, 0);
}

/* A run cancelled while it is being expanded (slowly: a variable query of a few ms a row)
 * stops at the next lease renewal (5 s lease: every 1.7 s) and records exactly what reached
 * Kafka as its counts, so that it can end once those jobs have their rows. A run of a paused
 * workflow is not claimed at all. */
static void test_cancel_stops_expansion(void **state)
{
    char wf[40], run[40], held[40], logs[8192], qt[40], saved[40];
    const char *p[1] = {run}, *ph[1] = {held};
    const char *pw[1] = {wf};
    long long jobs, invalid, target;
    int64_t end;
    mf_uuid u;
    mf_err err;
    tally *t;

    (void)state;
    stop_planner(&T.planners[0]);
    stop_planner(&T.planners[1]);
    /* SLEEP is refused by the read-only guard: a self-join of the first 300 customers
     * (about 45,000 row pairs) costs a few milliseconds a row instead */
    pg_val("INSERT INTO variable_query_templates (template_name, query_sql) VALUES"
           " ('slow points', 'SELECT c.id * 10 AS points FROM customers c WHERE c.id = ?"
           " AND (SELECT count(*) FROM customers x JOIN customers y ON y.id <= x.id"
           " WHERE x.id <= 300 AND y.id <= 300) > 0') RETURNING id",
           0, NULL, qt, sizeof(qt));
    snprintf(saved, sizeof(saved), "%s", T.qt_id);
    snprintf(T.qt_id, sizeof(T.qt_id), "%s", qt);
    create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
    snprintf(T.qt_id, sizeof(T.qt_id), "%s", saved);
    create_run(wf, run, sizeof(run));
    {
        static const char *const lease5[] = {"MF_PLANNER_LEASE_S=5", NULL};

        T.planners[0] = start_planner_with("itest-pc", lease5);
    }
    end = (int64_t)mf_test_now_ms() + 30000;
    while (pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                  " planner_owner = 'itest-pc'",
                  1, p) == 0) {
        if ((int64_t)mf_test_now_ms() > end)
            fail_msg("run %s was not claimed", run);
        mf_test_sleep_ms(50);
    }
    mf_test_sleep_ms(1500);
    PQclear(pg_q("UPDATE workflow_runs SET status = 'cancelled' WHERE id = $1", 1, p));
    end = (int64_t)mf_test_now_ms() + 30000;
    while (pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                  " expansion_finished_at IS NOT NULL",
                  1, p) == 0) {
        if ((int64_t)mf_test_now_ms() > end)
            fail_msg("the stopped expansion of run %s was not recorded", run);
        mf_test_sleep_ms(100);
    }
    jobs = pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, p);
    invalid = pg_num("SELECT invalid_count FROM workflow_runs WHERE id = $1", 1, p);
    target = pg_num("SELECT target_count FROM workflow_runs WHERE id = $1", 1, p);
    pg_val("SELECT logs::text FROM workflow_runs WHERE id = $1", 1, p, logs, sizeof(logs));
    if (strstr(logs, "\"expansion_stopped\"") == NULL)
        fail_msg("no expansion_stopped entry: %s", logs);
    if (jobs <= 0 || jobs >= UNIQUE_VALID)
        fail_msg("the expansion was not stopped midway: %lld jobs of %d", jobs, UNIQUE_VALID);
    assert_int_equal(target, jobs + invalid);
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                            " status = 'cancelled' AND completed_at IS NULL AND"
                            " planner_lease_until IS NULL",
                            1, p),
                     1);
    assert_int_equal(mf_uuid_parse(run, &u, &err), 0);
    t = consume_run(&u, (int)jobs, (int)invalid, 60);
    assert_int_equal(t->jobs, jobs); /* exactly what it recorded, nothing after */
    assert_int_equal(t->invalid, invalid);
    assert_int_equal(t->dup, 0);
    /* paused: a new run waits unclaimed, still running */
    PQclear(pg_q("UPDATE workflows SET status = 'paused' WHERE id = $1", 1, pw));
    create_run(wf, held, sizeof(held));
    mf_test_sleep_ms(1500);
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                            " status = 'running' AND planner_owner IS NULL",
                            1, ph),
                     1);
    PQclear(pg_q("UPDATE workflow_runs SET status = 'cancelled' WHERE id = $1", 1, ph));
    stop_planner(&T.planners[0]);
    T.planners[0] = start_planner("itest-p1");
    T.planners[1] = start_planner("itest-p2");
}

static void test_interval_schedule(void **state)
{
    char wf[40], q[128];
    const char *p[1] = {wf};
    int64_t end;
    PGresult *res;
    long long slots = 0;

    (void)state;
    /* a small target keeps the repeated runs cheap */
    snprintf(q, sizeof(q), "SELECT id, name, phone, email FROM customers WHERE id <= 10");
    create_workflow(q, "schedule", "{\"type\":\"interval\",\"every_s\":2,\"tz\":\"UTC\"}", wf,
                    sizeof(wf));
    /* both planners run: initialise next_run_at, then fire about 3 slots */
    end = (int64_t)mf_test_now_ms() + 20000;
    while ((int64_t)mf_test_now_ms() < end &&
           pg_num("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1", 1, p) < 3)
        mf_test_sleep_ms(100);
    PQclear(pg_q("UPDATE workflows SET status = 'paused' WHERE id = $1", 1, p));
    mf_test_sleep_ms(500);
    slots = pg_num("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1", 1, p);
    /* runs of a paused workflow wait; make it a manual active one so they go on and no
     * schedule fires any more */
    PQclear(pg_q("UPDATE workflows SET status = 'active', trigger_type = 'manual' WHERE id = $1", 1,
                 p));
    assert_true(slots >= 3);
    /* exactly one run per 2 s slot, all with trigger_type schedule */
    assert_int_equal(pg_num("SELECT count(DISTINCT floor(extract(epoch FROM started_at) / 2))"
                            " FROM workflow_runs WHERE workflow_id = $1",
                            1, p),
                     slots);
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1"
                            " AND trigger_type = 'schedule'",
                            1, p),
                     slots);
    /* next_run_at lies on the 2 s grid, after the last run; last_run_at set */
    assert_int_equal(pg_num("SELECT count(*) FROM workflows w WHERE id = $1"
                            " AND extract(epoch FROM next_run_at)::bigint % 2 = 0"
                            " AND next_run_at > (SELECT max(started_at) FROM workflow_runs"
                            "  WHERE workflow_id = w.id)"
                            " AND last_run_at IS NOT NULL",
                            1, p),
                     1);
    /* the scheduled runs get expanded: 10 customers, none invalid */
    end = (int64_t)mf_test_now_ms() + 20000;
    while ((int64_t)mf_test_now_ms() < end &&
           pg_num("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1"
                  " AND expansion_finished_at IS NULL",
                  1, p) > 0)
        mf_test_sleep_ms(100);
    res = pg_q("SELECT expanded_count FROM workflow_runs WHERE workflow_id = $1", 1, p);
    for (int i = 0; i < PQntuples(res); i++)
        assert_string_equal(PQgetvalue(res, i, 0), "9"); /* 8 duplicates 7 */
    PQclear(res);
}

static void test_config_errors_fail_the_run(void **state)
{
    char wf[40], run[40], msg[512];
    const char *p[1] = {run};

    (void)state;
    create_workflow("DELETE FROM customers", "manual", "{}", wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    wait_run_planned(run, 30);
    pg_val("SELECT status || ': ' || COALESCE(error_message, '') FROM workflow_runs"
           " WHERE id = $1",
           1, p, msg, sizeof(msg));
    if (strncmp(msg, "failed: target_config.query rejected", 36) != 0)
        fail_msg("unexpected outcome: %s", msg);
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                            " logs @> '[{\"event\":\"failed\"}]'",
                            1, p),
                     1);

    /* a missing table is permanent too (MySQL error 1146) */
    create_workflow("SELECT id, phone FROM no_such_table", "manual", "{}", wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    wait_run_planned(run, 30);
    pg_val("SELECT status FROM workflow_runs WHERE id = $1", 1, p, msg, sizeof(msg));
    assert_string_equal(msg, "failed");

    /* an empty target completes at once (the planner runs the completion check) */
    create_workflow("SELECT id, name, phone FROM customers WHERE id < 0", "manual", "{}", wf,
                    sizeof(wf));
    create_run(wf, run, sizeof(run));
    wait_run_planned(run, 30);
    /* the completion check is the planner's next statement after the recorded expansion */
    for (int64_t end = (int64_t)mf_test_now_ms() + 10000;
         (int64_t)mf_test_now_ms() < end &&
         pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND status = 'running'", 1, p) ==
             1;)
        mf_test_sleep_ms(50);
    pg_val("SELECT status || ' ' || target_count FROM workflow_runs WHERE id = $1", 1, p, msg,
           sizeof(msg));
    assert_string_equal(msg, "completed 0");
}

/* The sending-rule settings the planner checks: a night-consent column that is not a column
 * of the target query, a rate_per_minute that is not a number above 0: the run fails with
 * that reason before any job is produced. */
static void test_send_rule_config_errors(void **state)
{
    static const struct {
        const char *mc, *why;
    } C[] = {
        {"{\"advertising\":{\"night_consent_column\":\"no_such_column\"}}",
         "failed: message_config.advertising.night_consent_column \"no_such_column\" is not "
         "a column of the target query"},
        {"{\"rate_per_minute\":0}", "failed: message_config.rate_per_minute must be a number "
                                    "above 0"},
        {"{\"rate_per_minute\":\"fast\"}", "failed: message_config.rate_per_minute must be "
                                           "a number above 0"},
    };
    char wf[40], run[40], msg[512];
    const char *p[2] = {wf, NULL};
    const char *pr[1] = {run};

    (void)state;
    for (size_t i = 0; i < sizeof(C) / sizeof(C[0]); i++) {
        create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
        p[1] = C[i].mc;
        pg_val("UPDATE workflows SET message_config = message_config || $2::jsonb"
               " WHERE id = $1 RETURNING id",
               2, p, msg, sizeof(msg));
        create_run(wf, run, sizeof(run));
        wait_run_planned(run, 30);
        pg_val("SELECT status || ': ' || COALESCE(error_message, '') FROM workflow_runs"
               " WHERE id = $1",
               1, pr, msg, sizeof(msg));
        if (strcmp(msg, C[i].why) != 0)
            fail_msg("case %zu: got \"%s\", expected \"%s\"", i, msg, C[i].why);
        assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, pr),
                         0);
    }
}

/* A run whose row cannot be written (a data error) neither wedges the planners nor is
 * retried forever: X's row refuses every update (claim, failure), so it is skipped and the
 * run behind it is planned; Z's row refuses only the recorded expansion, so Z fails with the
 * error instead of being re-expanded after every lease. */
static void test_data_error_does_not_wedge(void **state)
{
    char wf[40], x[40], y[40], z[40], sql[256], msg[512];
    const char *px[1] = {x}, *py[1] = {y}, *pz[1] = {z};

    (void)state;
    create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
    /* one transaction: the planners see the three runs (oldest first: x, z, y) only with
     * the constraints that poison two of them */
    mf_test_pg_exec(T.b.pg, "BEGIN");
    create_run_at(wf, "3 s", x, sizeof(x));
    snprintf(sql, sizeof(sql),
             "ALTER TABLE workflow_runs ADD CONSTRAINT mf_it_poison_x"
             " CHECK (id <> '%s') NOT VALID",
             x);
    mf_test_pg_exec(T.b.pg, sql);
    create_run_at(wf, "2 s", z, sizeof(z));
    snprintf(sql, sizeof(sql),
             "ALTER TABLE workflow_runs ADD CONSTRAINT mf_it_poison_z"
             " CHECK (id <> '%s' OR expansion_finished_at IS NULL) NOT VALID",
             z);
    mf_test_pg_exec(T.b.pg, sql);
    create_run_at(wf, "1 s", y, sizeof(y));
    mf_test_pg_exec(T.b.pg, "COMMIT");
    wait_run_planned(y, 60);
    assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, py),
                     UNIQUE_VALID);
    wait_run_planned(z, 60);
    pg_val("SELECT status || ': ' || COALESCE(error_message, '') FROM workflow_runs"
           " WHERE id = $1",
           1, pz, msg, sizeof(msg));
    if (strncmp(msg, "failed: ", 8) != 0 || strstr(msg, "(SQLSTATE 23514)") == NULL ||
        strstr(msg, "Failing row") != NULL)
        fail_msg("unexpected outcome of run z: %s", msg);
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                            " status = 'running' AND expansion_finished_at IS NULL AND"
                            " planner_owner IS NULL",
                            1, px),
                     1);
    mf_test_pg_exec(T.b.pg, "ALTER TABLE workflow_runs DROP CONSTRAINT mf_it_poison_x,"
                            " DROP CONSTRAINT mf_it_poison_z");
    mf_test_pg_exec(T.b.pg, "UPDATE workflow_runs SET status = 'cancelled'"
                            " WHERE status = 'running' AND expansion_finished_at IS NULL");
}

/* Only runs of active workflows are planned. Runs of draft, archived and status-less
 * workflows, and a run without a workflow, fail with a message naming why; a run of a paused
 * workflow is neither claimed nor failed, and is planned once the workflow is active again.
 * All of them are older than an active workflow's run, which would be claimed after them if
 * the claim looked at the run alone. */
static void test_inactive_workflows_not_run(void **state)
{
    static const char *const STATES[] = {"draft", "archived", NULL, "paused"};
    /* clang-format off */
    static const char SMALL[] = "SELECT id, name, phone, email FROM customers WHERE id <= 10";
    /* clang-format on */
    char wf[4][40], run[4][40], orphan[40], active_wf[40], active_run[40], msg[512], want[128];
    const char *p[2];

    (void)state;
    for (int i = 0; i < 4; i++) {
        create_workflow(SMALL, "manual", "{}", wf[i], sizeof(wf[i]));
        p[0] = wf[i];
        p[1] = STATES[i];
        PQclear(pg_q("UPDATE workflows SET status = $2 WHERE id = $1", 2, p));
    }
    create_workflow(SMALL, "manual", "{}", active_wf, sizeof(active_wf));
    mf_test_pg_exec(T.b.pg, "BEGIN");
    for (int i = 0; i < 4; i++)
        create_run_at(wf[i], "3 s", run[i], sizeof(run[i]));
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type, started_at)"
           " VALUES (NULL, 'running', 'manual', clock_timestamp() - interval '3 s')"
           " RETURNING id",
           0, NULL, orphan, sizeof(orphan));
    create_run_at(active_wf, "1 s", active_run, sizeof(active_run));
    mf_test_pg_exec(T.b.pg, "COMMIT");

    wait_run_planned(active_run, 30);
    p[0] = active_run;
    assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, p), 9);
    for (int i = 0; i < 3; i++) {
        wait_run_planned(run[i], 30);
        p[0] = run[i];
        pg_val("SELECT status || ': ' || COALESCE(error_message, '') FROM workflow_runs"
               " WHERE id = $1",
               1, p, msg, sizeof(msg));
        snprintf(want, sizeof(want), "failed: workflow %s %s%s: only runs of active workflows",
                 wf[i], STATES[i] != NULL ? "is " : "has no status",
                 STATES[i] != NULL ? STATES[i] : "");
        if (strncmp(msg, want, strlen(want)) != 0)
            fail_msg("run of a %s workflow: \"%s\", want \"%s...\"",
                     STATES[i] != NULL ? STATES[i] : "status-less", msg, want);
        /* the run's log says so, and nobody claimed or expanded it */
        assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1"
                                " AND jsonb_array_length(logs) = 1"
                                " AND logs->0->>'event' = 'failed'"
                                " AND logs->0->>'detail' = error_message"
                                " AND completed_at IS NOT NULL AND planner_owner IS NULL"
                                " AND expanded_count = 0",
                                1, p),
                         1);
    }
    wait_run_planned(orphan, 30);
    p[0] = orphan;
    pg_val("SELECT status || ': ' || COALESCE(error_message, '') FROM workflow_runs"
           " WHERE id = $1",
           1, p, msg, sizeof(msg));
    if (strncmp(msg, "failed: the run has no workflow", 31) != 0)
        fail_msg("run without a workflow: \"%s\"", msg);

    /* the paused workflow's run waits, untouched, while the planners poll */
    mf_test_sleep_ms(1000);
    p[0] = run[3];
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1"
                            " AND status = 'running' AND expansion_finished_at IS NULL"
                            " AND planner_owner IS NULL AND logs = '[]'::jsonb",
                            1, p),
                     1);
    /* resumed: planned like any other */
    p[0] = wf[3];
    PQclear(pg_q("UPDATE workflows SET status = 'active' WHERE id = $1", 1, p));
    wait_run_planned(run[3], 30);
    p[0] = run[3];
    assert_int_equal(pg_num("SELECT count(*) FROM workflow_runs WHERE id = $1"
                            " AND status = 'running' AND expanded_count = 9"
                            " AND logs @> '[{\"event\":\"claimed\"}]'",
                            1, p),
                     1);
}

static void test_sigterm_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(stop_planner(&T.planners[0]), 0);
    assert_int_equal(stop_planner(&T.planners[1]), 0);
}

/* ---- bounds (after the shared planners stopped: each test runs its own) -------------------- */

static void run_status(const char *run, char *out, size_t cap)
{
    const char *p[1] = {run};

    pg_val("SELECT status || ': ' || COALESCE(error_message, '') FROM workflow_runs"
           " WHERE id = $1",
           1, p, out, cap);
}

/* A value over the cell limit fails the run, naming the row and the column. Before, a page
 * that could not take a row (1 MB values: the page arena filled at row 1024 of 2000) ended
 * the expansion as if the target were complete, and the rest were never sent. */
static void test_oversized_cell_fails_the_run(void **state)
{
    static const char *const env[] = {"MF_PLANNER_PAGE_SIZE=5000", NULL};
    char wf[40], run[40], msg[1024];
    pid_t pid;

    (void)state;
    create_workflow("SELECT id, name, phone, email, REPEAT('x', 1048576) AS note FROM customers",
                    "manual", "{}", wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    pid = start_planner_with("itest-cell", env);
    wait_run_planned(run, 120);
    stop_planner(&pid);
    run_status(run, msg, sizeof(msg));
    if (strncmp(msg, "failed: ", 8) != 0 || strstr(msg, "target row 1 (id 1)") == NULL ||
        strstr(msg, "column \"note\" is 1048576 bytes, over the 65536-byte cell limit") == NULL)
        fail_msg("unexpected outcome: %s", msg);
}

/* A page cut by its byte budget goes on from its last row: every recipient is planned. */
static void test_page_byte_budget_keeps_every_row(void **state)
{
    static const char *const env[] = {"MF_PLANNER_PAGE_MAX_BYTES=65536", NULL};
    char wf[40], run[40], msg[512];
    const char *p[1] = {run};
    pid_t pid;

    (void)state;
    create_workflow("SELECT id, name, phone, email, REPEAT('y', 2000) AS pad FROM customers",
                    "manual", "{}", wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    pid = start_planner_with("itest-pagebytes", env);
    wait_run_planned(run, 120);
    stop_planner(&pid);
    run_status(run, msg, sizeof(msg));
    if (strncmp(msg, "running", 7) != 0 && strncmp(msg, "completed", 9) != 0)
        fail_msg("unexpected outcome: %s", msg);
    assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, p),
                     UNIQUE_VALID);
    assert_int_equal(pg_num("SELECT invalid_count FROM workflow_runs WHERE id = $1", 1, p),
                     NCUST / 100);
}

static long long run_num(const char *sql, const char *run)
{
    const char *p[1] = {run};

    return pg_num(sql, 1, p);
}

/* A run that fails the same way on every attempt (here MySQL error 1242 at execution, which
 * is not one of the permanent errors) is failed with its cause after MF_PLANNER_MAX_ATTEMPTS
 * attempts; before, it was given back and retried forever, a log entry each time. An attempt
 * given back because MySQL is unreachable does not count. */
static void test_poison_run_fails_after_max_attempts(void **state)
{
    static const char *const env[] = {"MF_PLANNER_MAX_ATTEMPTS=3", "MF_PLANNER_RETRY_MS=100",
                                      "MF_PLANNER_POLL_MS=50", NULL};
    static const char *const env_down[] = {"MF_PLANNER_MAX_ATTEMPTS=2", "MF_PLANNER_RETRY_MS=100",
                                           "MF_PLANNER_POLL_MS=50", "MF_MYSQL_PORT=1", NULL};
    char wf[40], run[40], down[40], msg[1024];
    int64_t end;
    pid_t pid;

    (void)state;
    create_workflow("SELECT id, name, phone, (SELECT id FROM customers) AS x FROM customers",
                    "manual", "{}", wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    pid = start_planner_with("itest-poison", env);
    end = (int64_t)mf_test_now_ms() + 30000;
    while ((int64_t)mf_test_now_ms() < end &&
           run_num("SELECT count(*) FROM workflow_runs WHERE id = $1 AND status = 'running'",
                   run) == 1)
        mf_test_sleep_ms(100);
    stop_planner(&pid);
    run_status(run, msg, sizeof(msg));
    if (strncmp(msg, "failed: gave up after 3 attempts: ", 34) != 0 ||
        strstr(msg, "mysql error 1242") == NULL)
        fail_msg("unexpected outcome: %s (%lld retry entries)", msg,
                 run_num("SELECT count(*) FROM workflow_runs, jsonb_array_elements(logs) e"
                         " WHERE id = $1 AND e->>'event' = 'retry'",
                         run));
    assert_int_equal(run_num("SELECT planner_attempts FROM workflow_runs WHERE id = $1", run), 3);
    assert_int_equal(run_num("SELECT count(*) FROM workflow_runs, jsonb_array_elements(logs) e"
                             " WHERE id = $1 AND e->>'event' = 'retry'",
                             run),
                     2);

    /* MySQL unreachable: given back again and again, never failed, attempts not counted */
    create_workflow(TARGET, "manual", "{}", wf, sizeof(wf));
    create_run(wf, down, sizeof(down));
    pid = start_planner_with("itest-down", env_down);
    end = (int64_t)mf_test_now_ms() + 30000;
    while ((int64_t)mf_test_now_ms() < end &&
           run_num("SELECT count(*) FROM workflow_runs, jsonb_array_elements(logs) e"
                   " WHERE id = $1 AND e->>'event' = 'retry'",
                   down) < 4)
        mf_test_sleep_ms(100);
    stop_planner(&pid);
    run_status(down, msg, sizeof(msg));
    if (strncmp(msg, "running", 7) != 0)
        fail_msg("a run given back for an unreachable MySQL ended: %s", msg);
    assert_true(run_num("SELECT count(*) FROM workflow_runs, jsonb_array_elements(logs) e"
                        " WHERE id = $1 AND e->>'event' = 'retry'",
                        down) >= 4);
    assert_int_equal(run_num("SELECT planner_attempts FROM workflow_runs WHERE id = $1", down), 0);
    mf_test_pg_exec(T.b.pg, "UPDATE workflow_runs SET status = 'cancelled'"
                            " WHERE status = 'running' AND expansion_finished_at IS NULL");
}

/* A query of about 6 s from a workflow asking for wf_limit_s, run by a planner with env: the
 * run must fail with MySQL's time-limit error (1969) after one attempt. */
static void expect_slow_query_stopped(const char *name, const char *const *env, int wf_limit_s)
{
    const char *slow = "SELECT a.id, a.name, a.phone FROM customers a, customers b WHERE "
                       "SHA2(SHA2(SHA2(CONCAT(a.id, '-', b.id), 512), 512), 512) = 'x'";
    char tc[512], wf[40], run[40], msg[1024];
    const char *params[3] = {tc, T.tpl_id, name};
    pid_t pid;

    snprintf(tc, sizeof(tc), "{\"query\":\"%s\",\"time_limit_s\":%d}", slow, wf_limit_s);
    pg_val("INSERT INTO workflows (name, status, trigger_type, target_config, message_config)"
           " VALUES ($3, 'active', 'manual', $1::jsonb,"
           " jsonb_build_object('template_id', $2::text)) RETURNING id",
           3, params, wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    pid = start_planner_with(name, env);
    wait_run_planned(run, 60);
    stop_planner(&pid);
    run_status(run, msg, sizeof(msg));
    if (strncmp(msg, "failed: gave up after 1 attempts: ", 34) != 0 ||
        strstr(msg, "mysql error 1969") == NULL)
        fail_msg("%s: unexpected outcome: %s", name, msg);
}

/* target_config.time_limit_s cannot raise the operator's MF_MYSQL_TIME_LIMIT_S: the slow query
 * under a 1 s planner limit is stopped after 1 s although the workflow asks for 30 s (before,
 * the workflow's value won and the query ran to its end). */
static void test_time_limit_is_clamped(void **state)
{
    static const char *const env[] = {"MF_MYSQL_TIME_LIMIT_S=1", "MF_PLANNER_MAX_ATTEMPTS=1", NULL};

    (void)state;
    expect_slow_query_stopped("itest-limit", env, 30);
}

/* target_config.time_limit_s lowers the operator's limit: the same slow query under the default
 * 60 s planner limit is stopped after the 1 s the workflow asks for (before, the session was
 * opened with the operator's limit and the query ran to its end: a run of no recipients). */
static void test_time_limit_lowered_by_workflow(void **state)
{
    static const char *const env[] = {"MF_PLANNER_MAX_ATTEMPTS=1", NULL};

    (void)state;
    expect_slow_query_stopped("itest-limit-low", env, 1);
}

/* A run given back again and again keeps at most 100 log entries: the first one and the
 * newest (before, every attempt added two entries for ever). */
static void test_run_log_is_capped(void **state)
{
    static const char *const env[] = {"MF_PLANNER_MAX_ATTEMPTS=1000", "MF_PLANNER_RETRY_MS=100",
                                      "MF_PLANNER_POLL_MS=20", NULL};
    char wf[40], run[40], first[64], last[64];
    int64_t end;
    pid_t pid;

    (void)state;
    create_workflow("SELECT id, name, phone, (SELECT id FROM customers) AS x FROM customers",
                    "manual", "{}", wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    pid = start_planner_with("itest-logcap", env);
    end = (int64_t)mf_test_now_ms() + 60000;
    while ((int64_t)mf_test_now_ms() < end &&
           run_num("SELECT planner_attempts FROM workflow_runs WHERE id = $1", run) < 60)
        mf_test_sleep_ms(200);
    stop_planner(&pid);
    assert_true(run_num("SELECT planner_attempts FROM workflow_runs WHERE id = $1", run) >= 60);
    if (run_num("SELECT jsonb_array_length(logs) FROM workflow_runs WHERE id = $1", run) > 100)
        fail_msg("%lld log entries after %lld attempts",
                 run_num("SELECT jsonb_array_length(logs) FROM workflow_runs WHERE id = $1", run),
                 run_num("SELECT planner_attempts FROM workflow_runs WHERE id = $1", run));
    pg_val("SELECT logs->0->>'event' FROM workflow_runs WHERE id = $1", 1,
           (const char *const[]){run}, first, sizeof(first));
    pg_val("SELECT logs->-1->>'event' FROM workflow_runs WHERE id = $1", 1,
           (const char *const[]){run}, last, sizeof(last));
    assert_string_equal(first, "claimed");
    assert_string_equal(last, "retry"); /* the SIGTERM give-back, the newest entry */
    mf_test_pg_exec(T.b.pg, "UPDATE workflow_runs SET status = 'cancelled'"
                            " WHERE status = 'running' AND expansion_finished_at IS NULL");
}

/* A query variable whose value is over the cell limit (1 MB) counts as missing: the
 * variable's default goes into the job and the run is planned. Before, the 1 MB value went
 * into every job, the broker refused them as too large and the run was retried forever. */
static void test_big_query_value_is_missing(void **state)
{
    static const char *const env[] = {"MF_PLANNER_RETRY_MS=100", NULL};
    char qt[40], tc[256], mc[128], vars[512], wf[40], run[40], msg[512];
    const char *params[3] = {tc, mc, vars};
    const char *p[1] = {run};
    pid_t pid;

    (void)state;
    pg_val("INSERT INTO variable_query_templates (template_name, query_sql) VALUES"
           " ('big', 'SELECT REPEAT(''x'', 1048576) AS points FROM customers WHERE id = ?')"
           " RETURNING id",
           0, NULL, qt, sizeof(qt));
    snprintf(tc, sizeof(tc), "{\"query\":\"%s WHERE id <= 50\"}", TARGET);
    snprintf(mc, sizeof(mc), "{\"template_id\":\"%s\"}", T.tpl_id);
    snprintf(vars, sizeof(vars),
             "{\"points\":{\"source\":\"query\",\"query_template_id\":\"%s\","
             "\"params\":[\"id\"],\"column\":\"points\",\"default\":\"-\"}}",
             qt);
    pg_val("INSERT INTO workflows (name, status, trigger_type, target_config, message_config,"
           " variables) VALUES ('itest-big', 'active', 'manual', $1::jsonb, $2::jsonb,"
           " $3::jsonb) RETURNING id",
           3, params, wf, sizeof(wf));
    create_run(wf, run, sizeof(run));
    pid = start_planner_with("itest-bigvalue", env);
    wait_run_planned(run, 30);
    stop_planner(&pid);
    run_status(run, msg, sizeof(msg));
    if (strncmp(msg, "running", 7) != 0 && strncmp(msg, "completed", 9) != 0)
        fail_msg("unexpected outcome: %s", msg);
    /* 50 customers: none invalid (every 100th is), 8 repeats 7 */
    assert_int_equal(pg_num("SELECT expanded_count FROM workflow_runs WHERE id = $1", 1, p), 49);
}

/* A bad configuration: the planner exits at start-up with status 2 (as the sender and the
 * reporter do), its message naming the key; before, it exited with 1. */
static void test_bad_config_exits_2(void **state)
{
    static const char *const env[] = {"MF_PLANNER_POLL_MS=soon", "MF_MYSQL_DB=crm", NULL};
    char path[128];
    pid_t pid;
    int rc;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/itest_planner_%s.badconfig.log", T.b.suffix);
    pid = plan_itest_start(&T.b, "itest-badconfig", env, path);
    rc = mf_test_wait(pid, 10000, NULL);
    if (rc != 2 || !mf_test_file_contains(path, "msgfleet-planner: bad configuration:") ||
        !mf_test_file_contains(path, "MF_PLANNER_POLL_MS"))
        fail_msg("exit status %d (want 2), log %s", rc, path);
    remove(path);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof(T));
    if (plan_itest_names(&T.b, "itplanner") != 0)
        return -1;
    plan_itest_pg_setup(&T.b, "planner");
    my_setup();
    create_fixtures();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_planner(&T.planners[0]);
    stop_planner(&T.planners[1]);
    my_teardown();
    plan_itest_teardown(&T.b);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expands_run),
        cmocka_unit_test(test_two_planners_expand_once),
        cmocka_unit_test(test_takeover_after_lease_expiry),
        cmocka_unit_test(test_cancel_stops_expansion),
        cmocka_unit_test(test_interval_schedule),
        cmocka_unit_test(test_config_errors_fail_the_run),
        cmocka_unit_test(test_send_rule_config_errors),
        cmocka_unit_test(test_data_error_does_not_wedge),
        cmocka_unit_test(test_inactive_workflows_not_run),
        cmocka_unit_test(test_sigterm_exits_cleanly),
        cmocka_unit_test(test_oversized_cell_fails_the_run),
        cmocka_unit_test(test_page_byte_budget_keeps_every_row),
        cmocka_unit_test(test_poison_run_fails_after_max_attempts),
        cmocka_unit_test(test_time_limit_is_clamped),
        cmocka_unit_test(test_time_limit_lowered_by_workflow),
        cmocka_unit_test(test_run_log_is_capped),
        cmocka_unit_test(test_big_query_value_is_missing),
        cmocka_unit_test(test_bad_config_exits_2),
    };
    if (getenv("ITEST_FILTER") != NULL) /* e.g. ITEST_FILTER=test_bad_config_exits_2 */
        cmocka_set_test_filter(getenv("ITEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
