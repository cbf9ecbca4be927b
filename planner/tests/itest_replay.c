/* itest_replay: the planner expands replay runs from the original run's failures. */
/* Filter, never-resend rule, variables, current template, resume after takeover; /metrics
 * (promtool) and /healthz. Real PostgreSQL and Kafka. Each test starts the planners it needs
 * (none is shared between tests); the fixtures of group_setup are only read. */
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

#include "mf_codec.h"
#include "mf_kafka.h"
#include "mf_pg.h"
#include "mf_uuid.h"
#include "mf_test.h"
#include "plan_itest.h"

#define MAX_SEEN 64

/* One message the consumer saw. */
typedef struct seen {
    int is_job;
    mf_uuid id, run, tpl;
    char to[32], name[64], vars[256], code[32];
} seen;

typedef struct itest {
    plan_itest b; /* database, topics, consumer */
    char tpl_old[40], tpl_cur[40], wf[40], orig[40];
    pid_t planner, other; /* other: the planner of the dependency tests */
    char log_path[128];
    seen msgs[MAX_SEEN];
    size_t nmsgs;
    int overflow;
} itest;

static itest T;

/* ---- PostgreSQL -------------------------------------------------------------------------- */

/* Queries on the test database (plan_itest.h): a result the caller PQclear()s; the first
 * column of the first row into out. */
#define pg_q(sql, n, params) plan_itest_q(&T.b, (sql), (n), (params))
#define pg_val(sql, n, params, out, cap) plan_itest_val(&T.b, (sql), (n), (params), (out), (cap))

/* ---- planner ----------------------------------------------------------------------------- */

/* extra, extra2: NULL or one more "KEY=value" each, over the defaults (getenv takes the
 * first). Its log goes to log_path. */
static pid_t start_planner_env(const char *instance, const char *log_path, const char *extra,
                               const char *extra2)
{
    const char *env[7];
    size_t n = 0;

    if (extra != NULL)
        env[n++] = extra;
    if (extra2 != NULL)
        env[n++] = extra2;
    env[n++] = "MF_MYSQL_DB=crm";
    env[n++] = "MF_PLANNER_PAGE_SIZE=2"; /* several replay pages */
    env[n++] = "MF_HTTP_PORT=0";
    env[n++] = "MF_LOG_LEVEL=info";
    env[n] = NULL;
    return plan_itest_start(&T.b, instance, env, log_path);
}

static int stop_planner(pid_t *pid)
{
    return plan_itest_stop(pid, 20000);
}

static pid_t start_planner(const char *instance)
{
    return start_planner_env(instance, T.log_path, NULL, NULL);
}

/* Lines of the log at path containing needle. */
static int log_count(const char *path, const char *needle)
{
    char line[2048];
    FILE *f = fopen(path, "r");
    int n = 0;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

/* HTTP status of GET url path on the planner's port; the body into body (may be NULL). */
static int http_get(int port, const char *path, char *body, size_t cap)
{
    char url[128];
    mf_buf b;
    long code;

    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    code = mf_test_http(NULL, url, NULL, 10000, &b);
    if (body != NULL)
        snprintf(body, cap, "%s", b.data != NULL ? b.data : "");
    mf_buf_free(&b);
    return (int)code;
}

/* The port of the planner's `{"msg":"http listening","port":N}` start-up line. */
static int planner_port_of(const char *log_path)
{
    return mf_test_log_http_port(log_path, 15000);
}

static int planner_port(void)
{
    return planner_port_of(T.log_path);
}

/* ---- fixtures ----------------------------------------------------------------------------- */

/* Insert a message_logs row of run `run`. */
static void log_row(const char *run, const char *phone, const char *name, const char *status,
                    const char *code, const char *vars)
{
    const char *p[7] = {run, T.tpl_old, phone, name, status, code, vars};
    PQclear(pg_q("INSERT INTO message_logs (workflow_run_id, template_id, recipient_phone,"
                 " recipient_name, message_type, variables_used, status, error_code, sent_at,"
                 " failed_at) VALUES ($1, $2, $3, $4, 'lms', $7::jsonb, $5::text, $6,"
                 " CASE WHEN $5::text IN ('sent', 'delivered') THEN now() END,"
                 " CASE WHEN $5::text = 'failed' THEN now() END)",
                 7, p));
}

static void create_fixtures(void)
{
    const char *pw[1], *po[2];
    char mc[128], earlier[40];

    pg_val("INSERT INTO message_templates (name, category, message_type, content) VALUES"
           " ('old', 'notification', 'lms', '#{name}님 쿠폰 #{coupon}') RETURNING id",
           0, NULL, T.tpl_old, sizeof(T.tpl_old));
    pg_val("INSERT INTO message_templates (name, category, message_type, content) VALUES"
           " ('current', 'notification', 'sms', '#{name}님 새 쿠폰 #{coupon}') RETURNING id",
           0, NULL, T.tpl_cur, sizeof(T.tpl_cur));
    snprintf(mc, sizeof(mc), "{\"template_id\":\"%s\"}", T.tpl_cur);
    pw[0] = mc;
    pg_val("INSERT INTO workflows (name, status, trigger_type, target_config, message_config)"
           " VALUES ('replay', 'active', 'manual', '{\"query\":\"SELECT id, phone FROM x\"}',"
           " $1::jsonb) RETURNING id",
           1, pw, T.wf, sizeof(T.wf));
    pw[0] = T.wf;
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type, completed_at)"
           " VALUES ($1, 'completed', 'manual', now()) RETURNING id",
           1, pw, T.orig, sizeof(T.orig));
    po[0] = T.wf;
    po[1] = T.orig;
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type, replay_of,"
           " replay_filter, completed_at) VALUES ($1, 'completed', 'replay', $2, '{}', now())"
           " RETURNING id",
           2, po, earlier, sizeof(earlier));

    log_row(T.orig, "01030000001", "가", "failed", "3059", "{\"name\":\"가\",\"coupon\":\"A1\"}");
    log_row(T.orig, "01030000002", "나", "sent", NULL, "{\"name\":\"나\"}");
    log_row(T.orig, "01030000003", "다", "failed", "3059", "{\"name\":\"다\"}");
    log_row(T.orig, "01030000003", "다", "sent", NULL, "{\"name\":\"다\"}");
    log_row(T.orig, "12345", "라", "failed", "INVALID_PHONE", "{}");
    log_row(T.orig, "01030000005", "마", "failed", "3040", "{\"name\":\"마\",\"coupon\":7}");
    log_row(T.orig, "01030000006", "바", "delivered", NULL, "{}");
    log_row(T.orig, "01030000007", "사", "failed", "3059", "{\"name\":\"사\",\"coupon\":\"C\"}");
    /* failed in the original, sent by an earlier replay: never again */
    log_row(T.orig, "01030000008", "아", "failed", "3059", "{\"name\":\"아\"}");
    log_row(earlier, "01030000008", "아", "sent", NULL, "{\"name\":\"아\"}");
    for (int i = 9; i <= 12; i++) {
        char phone[16], vars[64];
        snprintf(phone, sizeof(phone), "010300000%02d", i);
        snprintf(vars, sizeof(vars), "{\"name\":\"n%d\",\"coupon\":\"K%d\"}", i, i);
        log_row(T.orig, phone, "", "failed", "4000", vars);
    }
}

/* A replay of the original run; extra columns for the takeover test (NULL: none). */
static void create_replay(const char *filter, const char *owner, const char *cursor,
                          const char *done, char *out, size_t cap)
{
    const char *p[6] = {T.wf, T.orig, filter, owner, cursor, done};
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type, replay_of,"
           " replay_filter, planner_owner, planner_lease_until, expansion_cursor,"
           " expanded_count) VALUES ($1, 'running', 'replay', $2, $3::jsonb, $4::text,"
           " CASE WHEN $4::text IS NOT NULL THEN now() - interval '1 second' END, $5::text,"
           " COALESCE($6::integer, 0)) RETURNING id",
           6, p, out, cap);
}

static void wait_planned(const char *run, int timeout_s)
{
    plan_itest_wait_planned(&T.b, "replay", run, timeout_s);
}

/* ---- consuming ---------------------------------------------------------------------------- */

static void ensure_consumer(void)
{
    plan_itest_consumer(&T.b, "itest_replay", "itest-replay");
}

static void keep(const mf_kafka_msg *m, int is_job)
{
    seen *s;
    mf_job job;
    mf_result r;
    mf_err err;

    if (T.nmsgs == MAX_SEEN) {
        T.overflow++;
        return;
    }
    s = &T.msgs[T.nmsgs];
    memset(s, 0, sizeof(*s));
    s->is_job = is_job;
    if (is_job) {
        if (mf_codec_decode_job(T.b.codec, m->val, m->val_len, &job, &err) != 0)
            fail_msg("undecodable job: %s", err.msg);
        s->id = job.id;
        s->run = job.run;
        s->tpl = job.tpl;
        snprintf(s->to, sizeof(s->to), "%s", job.to);
        snprintf(s->name, sizeof(s->name), "%s", job.name ? job.name : "");
        for (size_t i = 0; i < job.vars.n; i++) {
            size_t len = strlen(s->vars);
            snprintf(s->vars + len, sizeof(s->vars) - len, "%s%s=%s", i ? "," : "",
                     job.vars.items[i].key, job.vars.items[i].val);
        }
        if (m->key_len != strlen(job.to) || memcmp(m->key, job.to, m->key_len) != 0)
            fail_msg("job key is not the phone");
    } else {
        if (mf_codec_decode_result(T.b.codec, m->val, m->val_len, &r, &err) != 0)
            fail_msg("undecodable result: %s", err.msg);
        s->id = r.id;
        s->run = r.run;
        s->tpl = r.tpl;
        snprintf(s->to, sizeof(s->to), "%s", r.to);
        snprintf(s->code, sizeof(s->code), "%s", r.code ? r.code : "");
    }
    T.nmsgs++;
}

/* Consume until `want` messages of run arrived (or the timeout), then a little longer to
 * catch extra ones. Returns how many belong to the run. */
static size_t consume(const char *run, size_t want, int timeout_s)
{
    mf_kafka_msg msgs[64];
    int64_t end = (int64_t)mf_test_now_ms() + timeout_s * 1000LL, settle = 0;
    mf_uuid u;
    mf_err err;

    assert_int_equal(mf_uuid_parse(run, &u, &err), 0);
    ensure_consumer();
    for (;;) {
        size_t n = 0, mine = 0;
        if (mf_kafka_consume(T.b.consumer, msgs, 64, 300, &n, &err) != 0)
            fail_msg("consume: %s", err.msg);
        for (size_t i = 0; i < n; i++)
            keep(&msgs[i], strcmp(msgs[i].topic, T.b.topic_jobs) == 0);
        mf_kafka_release(msgs, n);
        mf_codec_reset(T.b.codec);
        for (size_t i = 0; i < T.nmsgs; i++)
            mine += mf_uuid_equal(&T.msgs[i].run, &u);
        if (settle == 0 && mine >= want)
            settle = (int64_t)mf_test_now_ms() + 1500;
        if ((settle != 0 && (int64_t)mf_test_now_ms() > settle) || (int64_t)mf_test_now_ms() > end)
            return mine;
    }
}

static const seen *find(const char *run, const char *to)
{
    mf_uuid u;
    mf_err err;

    assert_int_equal(mf_uuid_parse(run, &u, &err), 0);
    for (size_t i = 0; i < T.nmsgs; i++) {
        if (mf_uuid_equal(&T.msgs[i].run, &u) && strcmp(T.msgs[i].to, to) == 0)
            return &T.msgs[i];
    }
    return NULL;
}

static void expect_job(const char *run, const char *to, const char *name, const char *vars)
{
    const char *p[1] = {run};
    const seen *s = find(run, to);
    char started[32], tpl[MF_UUID_STR_SIZE];
    mf_uuid ru, want;
    mf_err err;

    if (s == NULL || !s->is_job)
        fail_msg("replay %s: no job for %s", run, to);
    assert_string_equal(s->name, name);
    assert_string_equal(s->vars, vars);
    pg_val("SELECT floor(extract(epoch FROM started_at) * 1000)::bigint FROM workflow_runs"
           " WHERE id = $1",
           1, p, started, sizeof(started));
    assert_int_equal(mf_uuid_parse(run, &ru, &err), 0);
    mf_uuid_job_id(&ru, strtoull(started, NULL, 10), to, 1, &want);
    assert_true(mf_uuid_equal(&want, &s->id));
    mf_uuid_format(&s->tpl, tpl);
    assert_string_equal(tpl, T.tpl_cur); /* the workflow's CURRENT template */
}

static void expect_counts(const char *run, const char *want)
{
    const char *p[1] = {run};
    char got[128];

    pg_val("SELECT status || ' ' || target_count || ' ' || expanded_count || ' ' ||"
           " invalid_count || ' ' || (expansion_finished_at IS NOT NULL) || ' ' ||"
           " (planner_lease_until IS NULL) FROM workflow_runs WHERE id = $1",
           1, p, got, sizeof(got));
    assert_string_equal(got, want);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_replay_default_filter(void **state)
{
    char run[40];
    const char *p[1] = {run};
    char logs[4096];

    (void)state;
    create_replay("{}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    expect_counts(run, "running 7 7 0 true true");
    assert_int_equal(consume(run, 7, 30), 7);
    expect_job(run, "01030000001", "가", "name=가,coupon=A1");
    expect_job(run, "01030000005", "마", "name=마,coupon=7");
    expect_job(run, "01030000007", "사", "name=사,coupon=C");
    for (int i = 9; i <= 12; i++) {
        char to[16], vars[64], name[8];
        snprintf(to, sizeof(to), "010300000%02d", i);
        snprintf(vars, sizeof(vars), "name=n%d,coupon=K%d", i, i);
        snprintf(name, sizeof(name), "%s", "");
        expect_job(run, to, name, vars);
    }
    /* never resent: sent, delivered, sent later in the chain; INVALID_PHONE left out */
    assert_null(find(run, "01030000002"));
    assert_null(find(run, "01030000003"));
    assert_null(find(run, "01030000006"));
    assert_null(find(run, "01030000008"));
    assert_null(find(run, "12345"));
    pg_val("SELECT logs::text FROM workflow_runs WHERE id = $1", 1, p, logs, sizeof(logs));
    assert_non_null(strstr(logs, "\"expanded\""));
}

static void test_replay_code_filter(void **state)
{
    char run[40];

    (void)state;
    create_replay("{\"codes\":[\"3040\"]}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    expect_counts(run, "running 1 1 0 true true");
    assert_int_equal(consume(run, 1, 20), 1);
    expect_job(run, "01030000005", "마", "name=마,coupon=7");

    /* asking for INVALID_PHONE explicitly gives the INVALID_PHONE result again */
    create_replay("{\"codes\":[\"INVALID_PHONE\"]}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    expect_counts(run, "running 1 0 1 true true");
    assert_int_equal(consume(run, 1, 20), 1);
    assert_string_equal(find(run, "12345")->code, "INVALID_PHONE");

    /* nothing matches: the replay completes at once (the completion check is the planner's
     * next statement after recording the expansion, which wait_planned sees first) */
    create_replay("{\"codes\":[\"NO_SUCH\"]}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    {
        const char *p[1] = {run};
        char st[16] = "";

        for (int waited = 0; waited < 5000; waited += 50) {
            pg_val("SELECT status FROM workflow_runs WHERE id = $1", 1, p, st, sizeof(st));
            if (strcmp(st, "running") != 0)
                break;
            mf_test_sleep_ms(50);
        }
    }
    expect_counts(run, "completed 0 0 0 true true");
}

static void test_replay_bad_filter_fails(void **state)
{
    char run[40], got[512];
    const char *p[1] = {run};

    (void)state;
    create_replay("{\"bogus\":1}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    pg_val("SELECT status || ': ' || coalesce(error_message, '') FROM workflow_runs"
           " WHERE id = $1",
           1, p, got, sizeof(got));
    assert_string_equal(got, "failed: replay_filter: unknown key \"bogus\"");
    create_replay("{\"since\":\"not a time\"}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    pg_val("SELECT status FROM workflow_runs WHERE id = $1", 1, p, got, sizeof(got));
    assert_string_equal(got, "failed");
}

/* A planner died after recording progress up to 01030000007 (3 jobs): the takeover resumes
 * after the cursor and keeps the counts. */
static void test_replay_resumes_after_takeover(void **state)
{
    char run[40], logs[4096];
    const char *p[1] = {run};

    (void)state;
    create_replay("{}", "itest-dead", "01030000007", "3", run, sizeof(run));
    wait_planned(run, 30);
    expect_counts(run, "running 7 7 0 true true");
    assert_int_equal(consume(run, 4, 20), 4);
    assert_null(find(run, "01030000001"));
    assert_null(find(run, "01030000007"));
    expect_job(run, "01030000009", "", "name=n9,coupon=K9");
    expect_job(run, "01030000012", "", "name=n12,coupon=K12");
    pg_val("SELECT logs::text FROM workflow_runs WHERE id = $1", 1, p, logs, sizeof(logs));
    if (strstr(logs, "\"taken_over\"") == NULL || strstr(logs, "itest-dead") == NULL)
        fail_msg("no takeover entry in the run log: %s", logs);
}

/* The planner's own replay (7 jobs) in /metrics, checked by promtool; /healthz names the
 * three dependencies. */
static void test_metrics_and_health(void **state)
{
    char cmd[1024], line[512], run[40];
    char body[65536];
    int port = planner_port(), ok = 0;
    FILE *f;
    double jobs = -1, claimed = -1;

    (void)state;
    create_replay("{}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    /* the duration is observed just after the counts are recorded */
    for (int waited = 0; waited < 10000; waited += 100) {
        assert_int_equal(http_get(port, "/metrics", body, sizeof(body)), 200);
        if (strstr(body, "msgfleet_planner_expansion_seconds_count 1") != NULL)
            break;
        mf_test_sleep_ms(100);
    }
    snprintf(cmd, sizeof(cmd),
             "curl -sf http://127.0.0.1:%d/metrics > %s.metrics && promtool check metrics < "
             "%s.metrics",
             port, T.log_path, T.log_path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s.metrics", T.log_path);
    f = fopen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "msgfleet_planner_jobs_total ", 28) == 0)
            jobs = strtod(line + 28, NULL);
        if (strncmp(line, "msgfleet_planner_runs_claimed_total ", 36) == 0)
            claimed = strtod(line + 36, NULL);
        ok += strncmp(line, "msgfleet_planner_expansion_seconds_count ", 41) == 0;
        ok += strncmp(line, "msgfleet_planner_pages_total ", 29) == 0;
        ok += strncmp(line, "msgfleet_planner_schedules_fired_total ", 39) == 0;
        ok += strncmp(line, "msgfleet_planner_duplicates_dropped_total ", 42) == 0;
        ok += strncmp(line, "msgfleet_planner_invalid_total ", 31) == 0;
        ok += strncmp(line, "msgfleet_planner_runs_failed_total ", 35) == 0;
    }
    fclose(f);
    remove(cmd);
    /* this planner's one replay: claimed once, 7 jobs acknowledged */
    if (jobs != 7.0 || claimed != 1.0)
        fail_msg("msgfleet_planner_jobs_total %g (want 7), runs_claimed_total %g (want 1)", jobs,
                 claimed);
    assert_int_equal(ok, 6);
    snprintf(cmd, sizeof(cmd),
             "curl -s http://127.0.0.1:%d/healthz | grep -q '\"postgres\"' && "
             "curl -s http://127.0.0.1:%d/healthz | grep -q '\"kafka\"' && "
             "curl -s http://127.0.0.1:%d/healthz | grep -q '\"mysql\"' && "
             "curl -sf http://127.0.0.1:%d/healthz > /dev/null",
             port, port, port, port);
    assert_int_equal(system(cmd), 0);
}

/* SIGTERM after a replay: exit status 0. */
static void test_sigterm(void **state)
{
    char run[40];

    (void)state;
    create_replay("{\"codes\":[\"3040\"]}", NULL, NULL, NULL, run, sizeof(run));
    wait_planned(run, 30);
    assert_int_equal(stop_planner(&T.planner), 0);
}

/* MySQL unreachable: the run is given back (logged "retry"), never failed; /healthz says so;
 * SIGTERM still exits 0 at once. */
static void test_mysql_down_gives_run_back(void **state)
{
    char wf[40], run[40], path[160], body[4096], got[64];
    const char *p[1] = {run};
    const char *pw[1] = {T.tpl_cur};
    int64_t end, t0;
    pid_t *pid = &T.other;
    int port;

    (void)state;
    snprintf(path, sizeof(path), "%s.mysql", T.log_path);
    pg_val("INSERT INTO workflows (name, status, trigger_type, target_config, message_config)"
           " VALUES ('mysql-down', 'active', 'manual',"
           " '{\"query\":\"SELECT id, phone FROM customers\"}',"
           " jsonb_build_object('template_id', $1::text)) RETURNING id",
           1, pw, wf, sizeof(wf));
    pw[0] = wf;
    pg_val("INSERT INTO workflow_runs (workflow_id, status, trigger_type) VALUES ($1,"
           " 'running', 'manual') RETURNING id",
           1, pw, run, sizeof(run));
    *pid = start_planner_env("itest-nomysql", path, "MF_MYSQL_PORT=1", "MF_PLANNER_RETRY_MS=500");
    port = planner_port_of(path);
    end = (int64_t)mf_test_now_ms() + 20000;
    while ((int64_t)mf_test_now_ms() < end) {
        pg_val("SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
               " jsonb_array_length(logs) >= 4",
               1, p, got, sizeof(got));
        if (strcmp(got, "1") == 0)
            break;
        mf_test_sleep_ms(100);
    }
    /* claimed, retry, claimed again, retry...: still running, never failed */
    pg_val("SELECT status || ' ' || (SELECT count(*) FROM jsonb_array_elements(logs) e"
           " WHERE e->>'event' = 'retry') FROM workflow_runs WHERE id = $1",
           1, p, got, sizeof(got));
    if (strncmp(got, "running ", 8) != 0 || strtol(got + 8, NULL, 10) < 2)
        fail_msg("run after MySQL failures: %s", got);
    assert_int_equal(http_get(port, "/healthz", body, sizeof(body)), 503);
    if (strstr(body, "\"mysql\"") == NULL || strstr(body, "could not connect") == NULL)
        fail_msg("/healthz does not show MySQL down: %s", body);
    t0 = (int64_t)mf_test_now_ms();
    assert_int_equal(stop_planner(pid), 0);
    assert_true((int64_t)mf_test_now_ms() - t0 < 10000);
    /* the lease was given back: nobody holds it beyond the retry delay */
    pg_val("SELECT count(*) FROM workflow_runs WHERE id = $1 AND status = 'running' AND"
           " planner_lease_until <= now() + interval '1 second'",
           1, p, got, sizeof(got));
    assert_string_equal(got, "1");
    PQclear(pg_q("UPDATE workflow_runs SET status = 'cancelled' WHERE id = $1", 1, p));
    if (getenv("ITEST_KEEP_LOG") == NULL)
        remove(path);
}

/* PostgreSQL unreachable: the planner waits with backoff (does not exit, does not spin),
 * reports it on /healthz and stops at once on SIGTERM. */
static void test_postgres_down_waits(void **state)
{
    char path[160], dsn[200], body[4096];
    pid_t *pid = &T.other;
    int port, waits, st;

    (void)state;
    snprintf(path, sizeof(path), "%s.pg", T.log_path);
    snprintf(dsn, sizeof(dsn), "MF_PG_DSN=host=127.0.0.1 port=1 dbname=x user=x");
    *pid = start_planner_env("itest-nopg", path, dsn, NULL);
    port = planner_port_of(path);
    mf_test_sleep_ms(4000);
    assert_int_equal(waitpid(*pid, &st, WNOHANG), 0); /* still running */
    assert_int_equal(http_get(port, "/healthz", body, sizeof(body)), 503);
    if (strstr(body, "\"postgres\"") == NULL)
        fail_msg("/healthz does not name postgres: %s", body);
    assert_int_equal(http_get(port, "/livez", body, sizeof(body)), 200);
    waits = log_count(path, "database unavailable, waiting");
    /* backoff 250, 500, 1000, 2000 ms ...: a handful of attempts in 4 s, not hundreds */
    if (waits < 2 || waits > 8)
        fail_msg("%d reconnect attempts in 4 s", waits);
    assert_true(log_count(path, "retry_in_ms") >= 2);
    assert_int_equal(stop_planner(pid), 0);
    if (getenv("ITEST_KEEP_LOG") == NULL)
        remove(path);
}

/* ---- setup -------------------------------------------------------------------------------- */

/* A test's own planner (T.planner, its log at T.log_path). The previous test's log goes
 * first: its "http listening" line would name that planner's port. */
static int planner_up(void **state)
{
    (void)state;
    remove(T.log_path);
    T.planner = start_planner("itest-replay-1");
    return 0;
}

/* Every planner the test started is stopped, whatever its outcome. */
static int planners_down(void **state)
{
    (void)state;
    stop_planner(&T.planner);
    stop_planner(&T.other);
    return 0;
}

static int group_setup(void **state)
{
    mf_err err;

    (void)state;
    memset(&T, 0, sizeof(T));
    if (plan_itest_names(&T.b, "itreplay") != 0)
        return -1;
    snprintf(T.log_path, sizeof(T.log_path), "/tmp/itest_replay_%s.log", T.b.suffix);
    {
        mf_kafka_conf bc = {mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF),
                            "itest_replay",
                            NULL,
                            NULL,
                            NULL,
                            NULL};
        mf_kafka_topic_spec specs[2] = {{T.b.topic_jobs, 2, -1}, {T.b.topic_results, 2, -1}};
        /* both topics exist before the consumer subscribes */
        if (mf_kafka_ensure_topics(&bc, specs, 2, 15000, &err) != 0)
            fail_msg("Kafka (MF_KAFKA_BROKERS): %s", err.msg);
    }
    plan_itest_pg_setup(&T.b, "replay");
    create_fixtures();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_planner(&T.planner);
    stop_planner(&T.other);
    plan_itest_teardown(&T.b);
    if (getenv("ITEST_KEEP_LOG") == NULL)
        remove(T.log_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_default_filter, planner_up, planners_down),
        cmocka_unit_test_setup_teardown(test_replay_code_filter, planner_up, planners_down),
        cmocka_unit_test_setup_teardown(test_replay_bad_filter_fails, planner_up, planners_down),
        cmocka_unit_test_setup_teardown(test_replay_resumes_after_takeover, planner_up,
                                        planners_down),
        cmocka_unit_test_setup_teardown(test_metrics_and_health, planner_up, planners_down),
        cmocka_unit_test_setup_teardown(test_sigterm, planner_up, planners_down),
        /* these start planners of their own (MySQL, PostgreSQL unreachable) */
        cmocka_unit_test_teardown(test_mysql_down_gives_run_back, planners_down),
        cmocka_unit_test_teardown(test_postgres_down_waits, planners_down),
    };

    if (getenv("ITEST_FILTER") != NULL) /* e.g. ITEST_FILTER=test_sigterm */
        cmocka_set_test_filter(getenv("ITEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
