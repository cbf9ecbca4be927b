/* itest_reporter: the reporter binary against the dev PostgreSQL and Kafka (and the simulator):
 * rows, counters, completion, redelivery, kill -9, status poller. */
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

#include "mf_codec.h"
#include "mf_coolsms.h"
#include "mf_kafka.h"
#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_runs.h"
#include "mf_uuid.h"
#include "mf_test.h"
#include "rep_itest.h"
#include "rep_store.h"

#define NPARTS 4

typedef struct itest {
    rep_itest fx; /* the reporter reaches the database through PgBouncer (fx.dsn) */
    char sim_bin[1200];
    char sim_url[128];
    pid_t sim;
    /* MF_REPORTER_STATUS_MAX_DEFER_MS and MF_REPORTER_PRICE_TTL_MS of the next reporter (NULL:
     * the test's defaults) */
    const char *max_defer_ms;
    const char *price_ttl_ms;
} itest;

/* ---- database ----------------------------------------------------------------------- */

/* One text digest of everything the reporter writes. */
/* clang-format off */
static const char DIGEST_SQL[] =
    "SELECT md5(concat_ws('#',"
    " (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM (SELECT id, workflow_run_id,"
    "   template_id, recipient_phone, recipient_name, message_type, message_content,"
    "   variables_used, status, provider, provider_message_id, cost, sent_at, delivered_at,"
    "   failed_at, error_code, error_message, job_attempt, channel, provider_group_id,"
    "   provider_status_code FROM message_logs) t),"
    " (SELECT string_agg(r::text, '|' ORDER BY r.id) FROM (SELECT id, status, success_count,"
    "   failed_count, total_cost, completed_at, execution_time_ms, logs FROM workflow_runs) r),"
    " (SELECT string_agg(d::text, '|' ORDER BY d.stat_date) FROM (SELECT stat_date,"
    "   workflows_executed, messages_sent, messages_failed, total_cost, templates_used"
    "   FROM daily_statistics) d),"
    " (SELECT string_agg(u::text, '|' ORDER BY u.workflow_run_id) FROM (SELECT workflow_run_id,"
    "   template_id, workflow_id, success, used_at FROM template_usage_logs) u),"
    " (SELECT string_agg(id || ':' || usage_count, ',' ORDER BY id) FROM message_templates),"
    " (SELECT string_agg(id || ':' || statistics::text || last_run_at, ',' ORDER BY id)"
    "   FROM workflows)))";
/* clang-format on */

static void digest(itest *t, char out[64])
{
    mf_test_pg_str(t->fx.pg, DIGEST_SQL, 0, NULL, out, 64);
}

/* One value of today's (Asia/Seoul) daily_statistics row. */
static long long today_stat(itest *t, const char *expr)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM daily_statistics"
             " WHERE stat_date = (now() AT TIME ZONE 'Asia/Seoul')::date",
             expr);
    return mf_test_pg_ll(t->fx.pg, sql, 0, NULL);
}

/* message_templates.usage_count of template tpl. */
static long long usage_count(itest *t, const char *tpl)
{
    const char *p[1] = {tpl};

    return mf_test_pg_ll(t->fx.pg, "SELECT usage_count FROM message_templates WHERE id = $1::uuid",
                         1, p);
}

/* ---- processes ---------------------------------------------------------------------- */

static void start_reporter(itest *t, const char *group, int status_on)
{
    const char *env[] = {"MF_PG_DSN",
                         t->fx.dsn,
                         "MF_KAFKA_BROKERS",
                         t->fx.brokers,
                         "MF_TOPIC_PREFIX",
                         t->fx.prefix,
                         "MF_REPORTER_GROUP",
                         group,
                         "MF_REPORTER_STATUS_ENABLED",
                         status_on ? "true" : "false",
                         "MF_COOLSMS_BASE_URL",
                         t->sim_url[0] ? t->sim_url : "http://127.0.0.1:1",
                         "MF_COOLSMS_API_KEY",
                         mf_test_env("MF_COOLSMS_API_KEY", MF_TEST_API_KEY_DEF),
                         "MF_COOLSMS_API_SECRET",
                         mf_test_env("MF_COOLSMS_API_SECRET", MF_TEST_API_SECRET_DEF),
                         "MF_REPORTER_STATUS_DELAY_MS",
                         "300",
                         "MF_REPORTER_STATUS_RECHECK_MS",
                         "300",
                         "MF_REPORTER_STATUS_INTERVAL_MS",
                         "100",
                         "MF_REPORTER_BATCH_MAX",
                         "1000",
                         "MF_REPORTER_LINGER_MS",
                         "50",
                         "MF_LOG_LEVEL",
                         "info",
                         "MF_INSTANCE_ID",
                         "itest-reporter",
                         "MF_REPORTER_STATUS_MAX_DEFER_MS",
                         t->max_defer_ms != NULL ? t->max_defer_ms : "60000",
                         "MF_REPORTER_PRICE_TTL_MS",
                         t->price_ttl_ms != NULL ? t->price_ttl_ms : "60000",
                         NULL};

    t->fx.reporter = mf_test_spawn(t->fx.bin, env, t->fx.logfile, -1);
    assert_true(t->fx.reporter > 0);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int setup(void **state)
{
    itest *t = rep_itest_new(sizeof(*t), "rep", "itest_reporter", NPARTS, 1);

    snprintf(t->sim_bin, sizeof(t->sim_bin), "%s",
             mf_test_env("MF_SIM_BIN", "tools/coolsms-sim/coolsms-sim"));
    /* the daemon goes through PgBouncer in transaction mode, like production */
    snprintf(t->fx.dsn, sizeof(t->fx.dsn), "%s dbname=%s",
             mf_test_env("MF_PGBOUNCER_DSN", MF_TEST_PGBOUNCER_DSN_DEF), t->fx.db);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    itest *t = *state;

    if (t == NULL)
        return 0;
    mf_test_stop(t->fx.reporter, 10000, NULL);
    t->fx.reporter = 0;
    mf_test_stop(t->sim, 5000, NULL);
    rep_itest_close(&t->fx, 10000);
    free(t);
    return 0;
}

/* ---- results ------------------------------------------------------------------------ */

typedef rep_itest_run run_fx;

static void phone_of(int i, char out[16])
{
    snprintf(out, 16, "010%08d", 10000000 + i);
}

/* Build result i of run r with status st and produce it. */
static void produce_result(itest *t, const run_fx *r, const char *tpl, int i, mf_result_status st,
                           const char *pmid, long long ts)
{
    mf_result res;
    mf_uuid wf, tp;
    char phone[16], name[32], text[128], mid[40], gid[40];
    mf_codec_kv vars[1];
    mf_err err;

    phone_of(i, phone);
    snprintf(name, sizeof(name), "고객%d", i);
    snprintf(text, sizeof(text), "%s님 안녕하세요", name);
    snprintf(mid, sizeof(mid), "M4VTEST%025d", i);
    snprintf(gid, sizeof(gid), "G4VTESTGROUP%020d", i / 100);
    vars[0] = (mf_codec_kv){"name", name};
    memset(&res, 0, sizeof(res));
    mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phone, 0, &res.id);
    res.run = r->uid;
    assert_int_equal(mf_uuid_parse(t->fx.wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(tpl, &tp, &err), 0);
    res.wf = wf;
    res.tpl = tp;
    res.attempt = 0;
    res.status = st;
    res.to = phone;
    res.name = name;
    res.type = (i % 3 == 0) ? MF_TYPE_LMS : MF_TYPE_SMS;
    res.ts_ms = ts;
    res.vars = (mf_codec_map){vars, 1};
    if (st == MF_RESULT_FAILED) {
        if ((i / 20) % 2 == 0) { /* planner-side */
            res.code = "INVALID_PHONE";
            res.msg = "invalid phone number";
        } else {
            res.code = "1062";
            res.msg = "발신번호 미등록";
            res.text = text;
        }
    } else {
        res.channel = res.type;
        res.text = text;
        res.provider_msg_id = pmid != NULL ? pmid : mid;
        res.group_id = gid;
        res.sent_ms = ts - (st == MF_RESULT_ACCEPTED ? 0 : 1000);
        res.code = st == MF_RESULT_ACCEPTED ? "2000"
                                            : (st == MF_RESULT_DELIVERED ? "4000" : "3043");
        res.msg = st == MF_RESULT_UNDELIVERED ? "단말기 Power off" : NULL;
    }
    rep_itest_produce_result(&t->fx, NULL, &res);
}

/* Run r of n jobs: i % 20 == 7 fails, the rest is accepted; of the accepted, i % 100 == 1
 * is delivered later and i % 100 == 3 undelivered later. */
#define IS_FAILED(i) ((i) % 20 == 7)
#define IS_DELIVERED(i) ((i) % 100 == 1)
#define IS_UNDELIVERED(i) ((i) % 100 == 3)

static void produce_run(itest *t, const run_fx *r, const char *tpl, int n, long long ts)
{
    for (int i = 0; i < n; i++)
        produce_result(t, r, tpl, i, IS_FAILED(i) ? MF_RESULT_FAILED : MF_RESULT_ACCEPTED, NULL,
                       ts);
    for (int i = 0; i < n; i++) {
        if (IS_FAILED(i))
            continue;
        if (IS_DELIVERED(i))
            produce_result(t, r, tpl, i, MF_RESULT_DELIVERED, NULL, ts + 5000);
        else if (IS_UNDELIVERED(i))
            produce_result(t, r, tpl, i, MF_RESULT_UNDELIVERED, NULL, ts + 5000);
    }
    rep_itest_flush(&t->fx);
}

typedef struct expect {
    long long sent, delivered, failed, cost_x100;
} expect;

static expect expected(int n)
{
    expect e = {0, 0, 0, 0};

    for (int i = 0; i < n; i++) {
        if (IS_FAILED(i)) {
            e.failed++;
        } else if (IS_UNDELIVERED(i)) {
            e.failed++;
        } else {
            if (IS_DELIVERED(i))
                e.delivered++;
            else
                e.sent++;
            e.cost_x100 += (i % 3 == 0) ? 3000 : 1000;
        }
    }
    return e;
}

static void check_run(itest *t, const run_fx *r, int n, const char *tpl)
{
    const char *p[2] = {r->id, tpl};
    expect e = expected(n);
    PGresult *res;
    char cost[32];

    res = mf_test_pg_query(
        t->fx.pg,
        "SELECT status, success_count, failed_count, (total_cost * 100)::bigint,"
        " completed_at IS NOT NULL, execution_time_ms IS NOT NULL AND execution_time_ms >= 0,"
        " logs @> '[{\"event\":\"completed\"}]'::jsonb"
        " FROM workflow_runs WHERE id = $1::uuid",
        1, p);
    assert_string_equal(PQgetvalue(res, 0, 0), "completed");
    assert_int_equal(strtoll(PQgetvalue(res, 0, 1), NULL, 10), e.sent + e.delivered);
    assert_int_equal(strtoll(PQgetvalue(res, 0, 2), NULL, 10), e.failed);
    assert_int_equal(strtoll(PQgetvalue(res, 0, 3), NULL, 10), e.cost_x100);
    assert_string_equal(PQgetvalue(res, 0, 4), "t");
    assert_string_equal(PQgetvalue(res, 0, 5), "t");
    assert_string_equal(PQgetvalue(res, 0, 6), "t");
    PQclear(res);
    assert_int_equal(
        mf_test_pg_ll(t->fx.pg,
                      "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid", 1, p),
        n);
    assert_int_equal(
        mf_test_pg_ll(t->fx.pg,
                      "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                      " AND status = 'sent'",
                      1, p),
        e.sent);
    assert_int_equal(
        mf_test_pg_ll(t->fx.pg,
                      "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                      " AND status = 'delivered' AND delivered_at IS NOT NULL",
                      1, p),
        e.delivered);
    assert_int_equal(
        mf_test_pg_ll(t->fx.pg,
                      "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                      " AND status = 'failed' AND failed_at IS NOT NULL"
                      " AND error_code IS NOT NULL AND cost = 0",
                      1, p),
        e.failed);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM template_usage_logs"
                                   " WHERE workflow_run_id = $1::uuid AND template_id = $2::uuid",
                                   2, p),
                     1);
    snprintf(cost, sizeof(cost), "%lld", e.cost_x100);
    (void)cost;
}

/* Every seed column of one accepted and one failed row. */
static void check_columns(itest *t, const run_fx *r)
{
    char phone[16];
    const char *p[2] = {r->id, phone};
    PGresult *res;

    phone_of(4, phone); /* accepted, sms, i % 3 != 0 */
    res = mf_test_pg_query(
        t->fx.pg,
        "SELECT template_id IS NOT NULL, recipient_name, message_type, message_content,"
        " variables_used::text, status, provider, provider_message_id, cost::text,"
        " sent_at IS NOT NULL, failed_at IS NULL, error_code IS NULL, job_attempt, channel,"
        " provider_group_id, provider_status_code"
        " FROM message_logs WHERE workflow_run_id = $1::uuid AND recipient_phone = $2",
        2, p);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    assert_string_equal(PQgetvalue(res, 0, 1), "고객4");
    assert_string_equal(PQgetvalue(res, 0, 2), "sms");
    assert_string_equal(PQgetvalue(res, 0, 3), "고객4님 안녕하세요");
    assert_string_equal(PQgetvalue(res, 0, 4), "{\"name\": \"고객4\"}");
    assert_string_equal(PQgetvalue(res, 0, 5), "sent");
    assert_string_equal(PQgetvalue(res, 0, 6), "coolsms");
    assert_string_equal(PQgetvalue(res, 0, 7), "M4VTEST0000000000000000000000004");
    assert_string_equal(PQgetvalue(res, 0, 8), "10.00");
    assert_string_equal(PQgetvalue(res, 0, 9), "t");
    assert_string_equal(PQgetvalue(res, 0, 10), "t");
    assert_string_equal(PQgetvalue(res, 0, 11), "t");
    assert_string_equal(PQgetvalue(res, 0, 12), "0");
    assert_string_equal(PQgetvalue(res, 0, 13), "sms");
    assert_string_equal(PQgetvalue(res, 0, 14), "G4VTESTGROUP00000000000000000000");
    assert_string_equal(PQgetvalue(res, 0, 15), "2000");
    PQclear(res);

    phone_of(27, phone); /* failed at the provider (odd): 1062 */
    res = mf_test_pg_query(
        t->fx.pg,
        "SELECT status, error_code, error_message, cost::text, sent_at IS NULL,"
        " failed_at IS NOT NULL, message_type"
        " FROM message_logs WHERE workflow_run_id = $1::uuid AND recipient_phone = $2",
        2, p);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "failed");
    assert_string_equal(PQgetvalue(res, 0, 1), "1062");
    assert_string_equal(PQgetvalue(res, 0, 2), "발신번호 미등록");
    assert_string_equal(PQgetvalue(res, 0, 3), "0.00");
    assert_string_equal(PQgetvalue(res, 0, 4), "t");
    assert_string_equal(PQgetvalue(res, 0, 5), "t");
    assert_string_equal(PQgetvalue(res, 0, 6), "lms");
    PQclear(res);
    phone_of(7, phone); /* planner-side INVALID_PHONE */
    assert_int_equal(
        mf_test_pg_ll(t->fx.pg,
                      "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                      " AND recipient_phone = $2 AND error_code = 'INVALID_PHONE'"
                      " AND status = 'failed'",
                      2, p),
        1);
    phone_of(3, phone); /* undelivered: cost back to 0, code 3043 */
    assert_int_equal(
        mf_test_pg_ll(t->fx.pg,
                      "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                      " AND recipient_phone = $2 AND status = 'failed'"
                      " AND error_code = '3043' AND cost = 0 AND sent_at IS NOT NULL",
                      2, p),
        1);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_record_redeliver_kill(void **state)
{
    itest *t = *state;
    run_fx r1, r2;
    const int n1 = 2000, n2 = 20000;
    expect e1 = expected(n1), e2 = expected(n2);
    char d1[64], d2[64], d3[64], group2[128], group3[128];
    const char *p[2];
    long long ts = mf_test_now_ms();

    /* 1: a run of 2,000 results plus one undecodable message */
    rep_itest_make_run(&t->fx, n1, "0 s", &r1);
    rep_itest_produce(&t->fx, "garbage", "\x81\xa1v\x63", 4);
    produce_run(t, &r1, t->fx.tpl, n1, ts);
    start_reporter(t, t->fx.group, 0);
    rep_itest_wait_completed(&t->fx, r1.id, 120000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 60000);
    check_run(t, &r1, n1, t->fx.tpl);
    check_columns(t, &r1);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    assert_int_equal(usage_count(t, t->fx.tpl), 1);
    assert_int_equal(today_stat(t, "messages_sent"), e1.sent + e1.delivered);
    assert_int_equal(today_stat(t, "messages_failed"), e1.failed);
    assert_int_equal(today_stat(t, "(total_cost * 100)::bigint"), e1.cost_x100);
    assert_int_equal(today_stat(t, "workflows_executed * 10 + templates_used"), 11);
    p[0] = t->fx.wf;
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT (statistics->>'total_sent')::bigint FROM workflows"
                                   " WHERE id = $1::uuid",
                                   1, p),
                     e1.sent + e1.delivered);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    digest(t, d1);

    /* 2: the same results again, same group: nothing changes */
    produce_run(t, &r1, t->fx.tpl, n1, ts);
    start_reporter(t, t->fx.group, 0);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 60000);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    digest(t, d2);
    assert_string_equal(d1, d2);
    rep_itest_assert_consistent(t->fx.pg, NULL);

    /* 3: a fresh group replays the whole topic from the beginning: nothing changes */
    snprintf(group2, sizeof(group2), "%s-replay", t->fx.group);
    start_reporter(t, group2, 0);
    rep_itest_wait_offsets(&t->fx, group2, 60000);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    digest(t, d2);
    assert_string_equal(d1, d2);

    /* 4: 20,000 results for a second run, kill -9 mid-stream, restart */
    rep_itest_make_run(&t->fx, n2, "0 s", &r2);
    {
        char sql[256];

        snprintf(sql, sizeof(sql),
                 "UPDATE workflows SET message_config ="
                 " jsonb_build_object('template_id', '%s') WHERE id = '%s'",
                 t->fx.tpl2, t->fx.wf);
        mf_test_pg_exec(t->fx.pg, sql);
    }
    produce_run(t, &r2, t->fx.tpl2, n2, ts);
    start_reporter(t, t->fx.group, 0);
    p[0] = r2.id;
    for (long long since = mf_test_mono_ms(), waited = 0; waited < 60000;
         waited = mf_test_mono_ms() - since) {
        long long got = mf_test_pg_ll(t->fx.pg,
                                      "SELECT count(*) FROM message_logs"
                                      " WHERE workflow_run_id = $1::uuid",
                                      1, p);

        if (got > 0) {
            kill(t->fx.reporter, SIGKILL);
            waitpid(t->fx.reporter, NULL, 0);
            t->fx.reporter = 0;
            got = mf_test_pg_ll(
                t->fx.pg, "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid", 1,
                p);
            print_message("killed the reporter with %lld of %d rows written\n", got, n2);
            assert_true(got < n2);
            break;
        }
        mf_test_sleep_ms(5);
    }
    assert_int_equal(t->fx.reporter, 0);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    start_reporter(t, t->fx.group, 0);
    rep_itest_wait_completed(&t->fx, r2.id, 120000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 60000);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    check_run(t, &r2, n2, t->fx.tpl2);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    assert_int_equal(usage_count(t, t->fx.tpl2), 1);
    assert_int_equal(today_stat(t, "messages_sent"),
                     e1.sent + e1.delivered + e2.sent + e2.delivered);
    assert_int_equal(today_stat(t, "workflows_executed * 10 + templates_used"), 22);
    p[0] = t->fx.wf;
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT (statistics->>'total_runs')::bigint * 1000000 +"
                                   " (statistics->>'total_failed')::bigint FROM workflows"
                                   " WHERE id = $1::uuid",
                                   1, p),
                     2 * 1000000 + e1.failed + e2.failed);
    digest(t, d3);

    /* 5: a full replay of everything after the crash changes nothing either */
    snprintf(group3, sizeof(group3), "%s-replay2", t->fx.group);
    start_reporter(t, group3, 0);
    rep_itest_wait_offsets(&t->fx, group3, 120000);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    digest(t, d2);
    assert_string_equal(d3, d2);

    /* the recount check does see a wrong counter */
    {
        char *mm = NULL;
        mf_err err;

        p[0] = r2.id;
        mf_test_pg_ll(t->fx.pg,
                      "UPDATE workflow_runs SET failed_count = failed_count + 1 WHERE id = $1::uuid"
                      " RETURNING 1",
                      1, p);
        mf_test_pg_exec(t->fx.pg,
                        "UPDATE daily_statistics SET templates_used = templates_used + 1");
        /* the run's failed_count, its workflow's statistics, the day's templates_used */
        assert_int_equal(mf_runs_recount_check(t->fx.pg, NULL, &mm, &err), 3);
        assert_non_null(strstr(mm, "failed_count"));
        assert_non_null(strstr(mm, "statistics"));
        assert_non_null(strstr(mm, "templates_used"));
        free(mm);
        assert_int_equal(mf_runs_recount_check(t->fx.pg, r2.id, &mm, &err), 2);
        free(mm);
    }
}

/* ---- status poller with the simulator ---------------------------------------------- */

typedef struct sent_ids {
    char ids[64][64];
    size_t n;
} sent_ids;

static void on_sent(const mf_coolsms_result *res, void *user)
{
    sent_ids *s = user;

    for (size_t i = 0; i < res->n_messages && s->n < 64; i++)
        if (res->outcomes[i].state == MF_COOLSMS_MSG_ACCEPTED)
            snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", res->outcomes[i].message_id);
}

static void start_sim(itest *t)
{
    const char *env[] = {"MF_SIM_SENDERS",
                         "0212345678",
                         "MF_SIM_DELIVER_DELAY_MS",
                         "200",
                         "MF_SIM_DELIVER_FAIL_RATIO",
                         "0.25",
                         NULL};

    t->sim = mf_test_sim_start(t->sim_bin, env, "/tmp/itest_reporter_sim.log", t->sim_url,
                               sizeof(t->sim_url));
}

/* Hands n messages of run r to the simulator (recipients 500000 + i) and produces their
 * accepted results, carrying the simulator's message ids. */
/* An mf_claim_groups row holding these jobs, as the sender records one per claim chunk and
 * provider group; returns its id. */
static long long record_group(itest *t, char (*jobs)[MF_UUID_STR_SIZE], int n)
{
    char arr[40 * (MF_UUID_STR_SIZE + 1) + 3];
    size_t len = 0;
    const char *p[1] = {arr};

    assert_true(n <= 40);
    arr[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(arr + len, sizeof(arr) - len, "%s%s", i > 0 ? "," : "", jobs[i]);
    assert_true(len + 2 <= sizeof(arr));
    arr[len++] = '}';
    arr[len] = '\0';
    return mf_test_pg_ll(t->fx.pg,
                         "INSERT INTO mf_claim_groups (chunk_id, group_id, job_ids)"
                         " VALUES (gen_random_uuid(), 'G4V20260101STATUSTEST00001', $1::uuid[])"
                         " RETURNING id",
                         1, p);
}

static void send_and_produce(itest *t, const run_fx *r, int n)
{
    mf_coolsms_config cc = {0};
    mf_coolsms *api;
    mf_coolsms_msg msgs[40];
    char phones[40][16], jobs[40][MF_UUID_STR_SIZE];
    sent_ids sent = {.n = 0};
    mf_err err;

    assert_true(n <= 40);
    cc.base_url = t->sim_url;
    cc.api_key = mf_test_env("MF_COOLSMS_API_KEY", MF_TEST_API_KEY_DEF);
    cc.api_secret = mf_test_env("MF_COOLSMS_API_SECRET", MF_TEST_API_SECRET_DEF);
    api = mf_coolsms_new(&cc, &err);
    assert_non_null(api);
    for (int i = 0; i < n; i++) {
        mf_uuid id;

        phone_of(500000 + i, phones[i]);
        mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phones[i], 0, &id);
        mf_uuid_format(&id, jobs[i]);
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].to = phones[i];
        msgs[i].from = "0212345678";
        msgs[i].text = "status test";
        msgs[i].type = "SMS";
        msgs[i].job_id = jobs[i];
    }
    if (mf_coolsms_submit(api, msgs, (size_t)n, on_sent, &sent, NULL, &err) != 0)
        fail_msg("submit to the simulator: %s", err.msg);
    assert_int_equal(mf_coolsms_drain(api, 30000, &err), 0);
    mf_coolsms_destroy(api);
    assert_int_equal((int)sent.n, n);
    /* the group the sender records with the claims: what the status poller reads */
    record_group(t, jobs, n);
    /* accepted results carrying the simulator's message ids (in request order) */
    for (int i = 0; i < n; i++)
        produce_result(t, r, t->fx.tpl, 500000 + i, MF_RESULT_ACCEPTED, sent.ids[i],
                       mf_test_now_ms());
    rep_itest_flush(&t->fx);
}

/* message_logs rows of run r: all of them, or those whose status is no longer 'sent' */
static long long run_rows(itest *t, const run_fx *r, int final_only)
{
    const char *p[1] = {r->id};

    return mf_test_pg_ll(t->fx.pg,
                         final_only ? "SELECT count(*) FROM message_logs WHERE"
                                      " workflow_run_id = $1::uuid AND status <> 'sent'"
                                    : "SELECT count(*) FROM message_logs WHERE"
                                      " workflow_run_id = $1::uuid",
                         1, p);
}

/* Waits (at most timeout_ms) until run r has `want` rows (final ones if final_only). */
static void wait_rows(itest *t, const run_fx *r, int final_only, long long want, int timeout_ms)
{
    for (long long since = mf_test_mono_ms(), waited = 0; waited < timeout_ms;
         waited = mf_test_mono_ms() - since) {
        if (run_rows(t, r, final_only) == want)
            return;
        mf_test_sleep_ms(100);
    }
}

static void test_status_poller(void **state)
{
    itest *t = *state;
    const int n = 40;
    run_fx r;
    const char *p[1];
    long long delivered = 0, failed = 0;

    start_sim(t);
    rep_itest_make_run(&t->fx, n, "0 s", &r);
    send_and_produce(t, &r, n);
    /* prices re-read for every row: none may be read while the direct COPY holds the
     * connection (the cache serves then) */
    t->price_ttl_ms = "0";
    start_reporter(t, t->fx.group, 1);
    t->price_ttl_ms = NULL;
    p[0] = r.id;
    wait_rows(t, &r, 1, n, 60000);
    delivered = mf_test_pg_ll(t->fx.pg,
                              "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                              " AND status = 'delivered' AND delivered_at IS NOT NULL"
                              " AND provider_status_code = '4000'",
                              1, p);
    failed = mf_test_pg_ll(t->fx.pg,
                           "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
                           " AND status = 'failed' AND error_code = '3043' AND cost = 0",
                           1, p);
    print_message("status poller: %lld delivered, %lld failed of %d\n", delivered, failed, n);
    assert_int_equal(delivered + failed, n);
    assert_true(delivered > 0);
    assert_true(failed > 0);
    /* the poller swept them holding the lease; nothing marked the rows themselves */
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM mf_status_poller WHERE owner IS NOT NULL"
                                   " AND lease_until > now() AND sweep_started_at IS NOT NULL",
                                   0, NULL),
                     1);
    /* the poller's own finals are not delivery reports: they do not move the due line the
     * reporters keep for it (mf_consumer_offsets.reports_*), although their offsets were
     * stored */
    assert_true(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM mf_consumer_offsets", 0, NULL) > 0);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM mf_consumer_offsets"
                                   " WHERE reports_at IS NOT NULL OR reports_sent_upto IS NOT NULL",
                                   0, NULL),
                     0);
    rep_itest_wait_completed(&t->fx, r.id, 30000);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT success_count * 1000 + failed_count FROM workflow_runs"
                                   " WHERE id = $1::uuid",
                                   1, p),
                     delivered * 1000 + failed);
    /* the next sweep finds every job of the group final and closes the group: later sweeps
     * skip it */
    for (long long since = mf_test_mono_ms(), waited = 0;
         mf_test_pg_ll(t->fx.pg,
                       "SELECT count(*) FROM mf_claim_groups"
                       " WHERE final_at IS NULL",
                       0, NULL) > 0;
         waited = mf_test_mono_ms() - since) {
        if (waited > 15000)
            fail_msg("the poller did not mark the group final");
        mf_test_sleep_ms(100);
    }
    /* it read the group and its jobs by primary key: no index over the unfinished messages */
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                   " ('idx_message_logs_sent_unfinal',"
                                   "  'idx_message_logs_provider_message_id')",
                                   0, NULL),
                     0);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    /* a stopping poller hands the lease back at once */
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM mf_status_poller WHERE owner IS NULL", 0,
                                   NULL),
                     1);
    rep_itest_assert_consistent(t->fx.pg, NULL);
}

/* The poller reads a recorded group by its jobs: it keeps only the jobs not final yet (a job
 * still `sent`, a job whose row the reporters have not written) and closes the group once none
 * is left, whatever the provider says or does not say about the rest. */
static void test_status_poller_groups(void **state)
{
    itest *t = *state;
    run_fx r;
    char jobs[3][MF_UUID_STR_SIZE], arr[3 * MF_UUID_STR_SIZE + 8], ids[3 * MF_UUID_STR_SIZE + 8];
    const char *p[5];
    long long gid;
    mf_uuid u;
    mf_err err;

    start_sim(t);
    rep_itest_make_run(&t->fx, 3, "0 s", &r);
    p[0] = r.id;
    mf_test_pg_ll(t->fx.pg,
                  "WITH u AS (UPDATE workflow_runs SET status = 'completed'"
                  " WHERE id = $1::uuid RETURNING 1) SELECT count(*) FROM u",
                  1, p);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mf_uuid_v4(&u, &err), 0);
        mf_uuid_format(&u, jobs[i]);
    }
    /* job 0 delivered, job 1 sent an hour ago (the simulator never heard of it: it stays
     * sent), job 2 without a row yet */
    p[1] = jobs[0];
    p[2] = jobs[1];
    p[3] = t->fx.tpl;
    assert_int_equal(
        mf_test_pg_ll(
            t->fx.pg,
            "WITH i AS (INSERT INTO message_logs (id, workflow_run_id, template_id,"
            " recipient_phone,"
            " message_type, status, provider, provider_message_id, sent_at, delivered_at)"
            " VALUES ($2::uuid, $1::uuid, $4::uuid, '01055500000', 'sms', 'delivered', 'coolsms',"
            "  'M4V20260101GROUPTEST00000000001', now() - interval '1 hour', now()),"
            " ($3::uuid, $1::uuid, $4::uuid, '01055500001', 'sms', 'sent', 'coolsms',"
            "  'M4V20260101GROUPTEST00000000002', now() - interval '1 hour', NULL) RETURNING 1)"
            " SELECT count(*) FROM i",
            4, p),
        2);
    snprintf(arr, sizeof(arr), "{%s,%s,%s}", jobs[0], jobs[1], jobs[2]);
    gid = record_group(t, jobs, 3);
    print_message("group %lld: %s\n", gid, arr);
    start_reporter(t, t->fx.group, 1);
    /* narrowed to jobs 1 and 2, still open */
    snprintf(ids, sizeof(ids), "{%s,%s}", jobs[1], jobs[2]);
    p[0] = ids;
    for (long long since = mf_test_mono_ms(), waited = 0;
         mf_test_pg_ll(t->fx.pg,
                       "SELECT count(*) FROM mf_claim_groups WHERE"
                       " open_job_ids IS NOT NULL",
                       0, NULL) == 0;
         waited = mf_test_mono_ms() - since) {
        if (waited > 30000)
            fail_msg("the poller did not narrow the group");
        mf_test_sleep_ms(100);
    }
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM mf_claim_groups WHERE final_at IS NULL"
                                   " AND cardinality(job_ids) = 3"
                                   " AND open_job_ids @> $1::uuid[] AND open_job_ids <@ $1::uuid[]",
                                   1, p),
                     1);
    /* the missing row arrives failed, the sent one becomes delivered: the group closes */
    p[0] = r.id;
    p[1] = jobs[2];
    p[2] = jobs[1];
    p[3] = t->fx.tpl;
    assert_int_equal(
        mf_test_pg_ll(
            t->fx.pg,
            "WITH i AS (INSERT INTO message_logs (id, workflow_run_id, template_id,"
            " recipient_phone,"
            " message_type, status, provider, failed_at, error_code)"
            " VALUES ($2::uuid, $1::uuid, $4::uuid, '01055500002', 'sms', 'failed', 'coolsms',"
            " now(), '3059') RETURNING 1),"
            " d AS (UPDATE message_logs SET status = 'delivered', delivered_at = now()"
            "  WHERE id = $3::uuid RETURNING 1)"
            " SELECT (SELECT count(*) FROM i) + (SELECT count(*) FROM d)",
            4, p),
        2);
    for (long long since = mf_test_mono_ms(), waited = 0;
         mf_test_pg_ll(t->fx.pg,
                       "SELECT count(*) FROM mf_claim_groups WHERE"
                       " final_at IS NULL",
                       0, NULL) > 0;
         waited = mf_test_mono_ms() - since) {
        if (waited > 30000)
            fail_msg("the poller did not close the group");
        mf_test_sleep_ms(100);
    }
    /* the recorded jobs themselves are never changed (the senders' recovery reads them) */
    p[0] = arr;
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM mf_claim_groups"
                                   " WHERE job_ids = $1::uuid[] AND open_job_ids IS NULL",
                                   1, p),
                     1);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
}

/* While a campaign is being recorded (a run still 'running') the poller waits its turn, at
 * most MF_REPORTER_STATUS_MAX_DEFER_MS: first outcomes come first, final statuses are not
 * starved. Here a second run stays 'running' throughout (its results never come). */
static void test_status_poller_waits_turn(void **state)
{
    itest *t = *state;
    const int n = 20;
    run_fx r, busy;
    long long t0, waited_ms;

    start_sim(t);
    rep_itest_make_run(&t->fx, 1000, "0 s", &busy);
    rep_itest_make_run(&t->fx, n, "0 s", &r);
    send_and_produce(t, &r, n);
    t->max_defer_ms = "15000";
    t0 = mf_test_now_ms();
    start_reporter(t, t->fx.group, 1);
    wait_rows(t, &r, 0, n, 60000);
    assert_int_equal(run_rows(t, &r, 0), n);
    /* without the wait they would be final within about a second (status delay 300 ms,
     * simulator delivery 200 ms, poll interval 100 ms) */
    mf_test_sleep_ms(2000);
    waited_ms = mf_test_now_ms() - t0;
    if (waited_ms < 14000)
        assert_int_equal(run_rows(t, &r, 1), 0);
    else
        print_message("start-up took %lld ms: no check of the wait itself\n", waited_ms);
    /* the wait is bounded: the run in progress does not starve them */
    wait_rows(t, &r, 1, n, 60000);
    assert_int_equal(run_rows(t, &r, 1), n);
    waited_ms = mf_test_now_ms() - t0;
    print_message("final statuses after %lld ms (bound 15000 ms)\n", waited_ms);
    assert_true(waited_ms >= 14000);
    assert_int_equal(mf_test_stop(t->fx.reporter, 20000, NULL), 0);
    t->fx.reporter = 0;
    t->max_defer_ms = NULL;
    rep_itest_assert_consistent(t->fx.pg, NULL);
}

/* ---- the two insert paths, in-process: same rows, timing printed --------------------- */

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill_batch(const run_fx *r, const mf_uuid *wf, const mf_uuid *tpl, mf_result *res,
                       char (*phones)[16], char (*texts)[96], mf_codec_kv *vars, int n,
                       long long ts)
{
    for (int i = 0; i < n; i++) {
        phone_of(i, phones[i]);
        snprintf(texts[i], 96, "고객%d님\t안녕하세요 \"쿠폰\" \\ 확인\n하세요", i);
        vars[i] = (mf_codec_kv){"name", phones[i]};
        memset(&res[i], 0, sizeof(res[i]));
        mf_uuid_job_id(&r->uid, (uint64_t)r->started_ms, phones[i], 0, &res[i].id);
        res[i].run = r->uid;
        res[i].wf = *wf;
        res[i].tpl = *tpl;
        res[i].status = IS_FAILED(i) ? MF_RESULT_FAILED : MF_RESULT_ACCEPTED;
        res[i].to = phones[i];
        res[i].name = "이름";
        res[i].type = MF_TYPE_SMS;
        res[i].channel = IS_FAILED(i) ? MF_TYPE_NONE : MF_TYPE_SMS;
        res[i].text = texts[i];
        res[i].vars = (mf_codec_map){&vars[i], 1};
        res[i].provider_msg_id = IS_FAILED(i) ? NULL : phones[i];
        res[i].code = IS_FAILED(i) ? "1062" : "2000";
        res[i].ts_ms = ts;
    }
}

static void test_insert_modes(void **state)
{
    itest *t = *state;
    enum { N = 5000 };
    static mf_result res[N];
    static char phones[N][16], texts[N][96];
    static mf_codec_kv vars[N];
    mf_uuid wf, tpl;
    mf_err err;
    rep_store *st;
    static const rep_insert_mode modes[4] = {REP_INSERT_DIRECT, REP_INSERT_STAGE, REP_INSERT_UNNEST,
                                             REP_INSERT_DIRECT};
    static const char *const names[4] = {"direct COPY", "COPY + staging table", "unnest() arrays",
                                         "direct COPY, mixed batch"};
    char d[4][64];
    rep_offset off = {0, 1, 0};

    assert_int_equal(mf_uuid_parse(t->fx.wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(t->fx.tpl, &tpl, &err), 0);
    st = rep_store_new("bench", t->fx.topic, 60000, NULL, &err);
    assert_non_null(st);
    for (int mode = 0; mode < 4; mode++) {
        run_fx r;
        rep_store_stats stats;
        double t0, t1, t2;
        const char *p[1];

        rep_itest_make_run(&t->fx, N, "0 s", &r);
        fill_batch(&r, &wf, &tpl, res, phones, texts, vars, N, mf_test_now_ms());
        /* mixed: every 7th row has no type (a failure before rendering), which only the
         * staging path can store (it takes the template's); the others still go direct */
        for (int i = 0; mode == 3 && i < N; i += 7)
            res[i].type = MF_TYPE_NONE;
        rep_store_set_insert_mode(st, modes[mode]);
        t0 = mono_s();
        if (rep_store_write(st, t->fx.pg, res, N, &off, 1, &stats, &err) != 0)
            fail_msg("write: %s", err.msg);
        t1 = mono_s();
        assert_int_equal(stats.inserted, N);
        assert_int_equal(stats.direct, mode == 0 ? N : mode == 3 ? N - (N + 6) / 7 : 0);
        assert_int_equal(stats.completed, 1);
        if (rep_store_write(st, t->fx.pg, res, N, &off, 1, &stats, &err) != 0)
            fail_msg("rewrite: %s", err.msg);
        t2 = mono_s();
        assert_int_equal(stats.inserted, 0);
        assert_int_equal(stats.duplicates, N);
        print_message("%s: %d new rows %.1f ms, the same rows again %.1f ms\n", names[mode], N,
                      (t1 - t0) * 1000, (t2 - t1) * 1000);
        p[0] = r.id;
        /* both paths store the same bytes (tabs, quotes, backslashes, newlines included) */
        mf_test_pg_str(t->fx.pg,
                       "SELECT md5(string_agg(concat_ws('|', recipient_phone, recipient_name,"
                       " message_content, variables_used::text, status, cost, error_code, channel, "
                       "message_type,"
                       " provider_message_id), ',' ORDER BY recipient_phone)) FROM message_logs"
                       " WHERE workflow_run_id = $1::uuid",
                       1, p, d[mode], sizeof(d[mode]));
        phone_of(1, phones[0]);
        assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                       "SELECT count(*) FROM message_logs WHERE workflow_run_id ="
                                       " $1::uuid AND message_content = '고객1님' || chr(9) ||"
                                       " '안녕하세요 \"쿠폰\" \\ 확인' || chr(10) || '하세요'",
                                       1, p),
                         1);
    }
    assert_string_equal(d[0], d[1]);
    assert_string_equal(d[0], d[2]);
    assert_string_equal(d[0], d[3]);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    rep_store_free(st);
}

/* Later outcomes in the same batch as their rows' first outcomes (a lagging reporter reads a
 * message's `accepted` and its delivery report together): the direct COPY inserts those rows
 * final, nothing is updated, and the rows are the bytes the staging path's insert and update
 * give the same batch. Stale reports (another provider message) are not merged; an outcome
 * waiting in mf_early_finals for a job comes before the batch's own. */
enum { MERGE_N = 300 };

static size_t merge_batch(const run_fx *r, const mf_uuid *wf, const mf_uuid *tpl, mf_result *res,
                          char (*phones)[16], char (*texts)[96], mf_codec_kv *vars, long long ts,
                          const mf_uuid *other_run, long long *merged)
{
    size_t n = MERGE_N;

    fill_batch(r, wf, tpl, res, phones, texts, vars, MERGE_N, ts);
    *merged = 0;
    for (int i = 0; i < MERGE_N; i++) {
        mf_result *f = &res[n];

        if (IS_FAILED(i) || i % 3 == 2)
            continue;
        *f = res[i];
        f->status = i % 3 == 0 ? MF_RESULT_DELIVERED : MF_RESULT_UNDELIVERED;
        f->code = i % 3 == 0 ? "4000" : "3043";
        f->msg = i % 3 == 0 ? NULL : "단말기 Power off";
        f->ts_ms = ts + 3000 + i;
        f->channel = i % 6 == 0 ? MF_TYPE_LMS : MF_TYPE_SMS;
        if (i == 4)
            f->provider_msg_id = "M4VSTALE"; /* an earlier attempt's report: stale */
        if (i == 10)
            f->run = *other_run; /* names another run: stale */
        *merged += i != 4 && i != 10 && i != 1;
        n++;
    }
    /* a report in the batch before its `accepted` joins it all the same */
    mf_result first = res[MERGE_N];

    memmove(&res[1], &res[0], MERGE_N * sizeof(*res));
    res[0] = first;
    return n;
}

static void test_finals_merge_in_batch(void **state)
{
    itest *t = *state;
    static mf_result res[2 * MERGE_N];
    static char phones[MERGE_N][16], texts[MERGE_N][96];
    static mf_codec_kv vars[MERGE_N];
    static const rep_insert_mode modes[2] = {REP_INSERT_DIRECT, REP_INSERT_STAGE};
    char d[2][64], id1[MF_UUID_STR_SIZE];
    long long ts = mf_test_now_ms(), merged = 0;
    rep_offset off = {0, 1, 0};
    mf_uuid wf, tpl;
    mf_err err;
    rep_store *st;
    run_fx other;

    assert_int_equal(mf_uuid_parse(t->fx.wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(t->fx.tpl, &tpl, &err), 0);
    st = rep_store_new("merge", t->fx.topic, 60000, NULL, &err);
    assert_non_null(st);
    rep_itest_make_run(&t->fx, 1, "0 s", &other);
    for (int mode = 0; mode < 2; mode++) {
        run_fx r;
        rep_store_stats stats;
        size_t n;
        long long upd = 0;
        char reported[24];
        const char *p[3] = {NULL, id1, reported};

        rep_itest_make_run(&t->fx, MERGE_N, "0 s", &r);
        p[0] = r.id;
        n = merge_batch(&r, &wf, &tpl, res, phones, texts, vars, ts, &other.uid, &merged);
        /* job 1 (undelivered in the batch) has a delivery report waiting already: it wins */
        mf_uuid_format(&res[2].id, id1);
        snprintf(reported, sizeof(reported), "%lld", ts + 2000);
        assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                       "WITH i AS (INSERT INTO mf_early_finals (job_id,"
                                       " workflow_run_id, status, reported_ms, status_code,"
                                       " channel) VALUES ($2::uuid, $1::uuid, 'delivered',"
                                       " $3::bigint, '4000', 'sms') RETURNING 1)"
                                       " SELECT count(*) FROM i",
                                       3, p),
                         1);
        rep_store_set_insert_mode(st, modes[mode]);
        if (rep_store_write(st, t->fx.pg, res, n, &off, 1, &stats, &err) != 0)
            fail_msg("write: %s", err.msg);
        for (int k = 0; k < REP_ST_N; k++)
            upd += stats.upd_status[k];
        print_message("%s: %zu results, %lld rows inserted, %lld merged, %lld updated\n",
                      mode == 0 ? "direct COPY" : "staging path", n, stats.inserted, stats.merged,
                      upd);
        assert_int_equal(stats.inserted, MERGE_N);
        assert_int_equal(stats.early_applied, 1);
        assert_int_equal(stats.merged, mode == 0 ? merged : 0);
        assert_int_equal(upd, mode == 0 ? 0 : merged + 1); /* (+ the waiting one, applied) */
        assert_int_equal(stats.finalized, merged + 1);
        assert_int_equal(stats.duplicates, 3); /* two stale reports, job 1's */
        assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                       "SELECT count(*) FROM message_logs WHERE id = $2::uuid"
                                       " AND status = 'delivered' AND provider_status_code ="
                                       " '4000' AND delivered_at = to_timestamp($3::bigint /"
                                       " 1000.0) AND workflow_run_id = $1::uuid",
                                       3, p),
                         1);
        mf_test_pg_str(t->fx.pg,
                       "SELECT md5(string_agg(concat_ws('|', recipient_phone, status, cost,"
                       " sent_at, delivered_at, failed_at, error_code, error_message,"
                       " provider_status_code, channel, provider_message_id), ','"
                       " ORDER BY recipient_phone)) FROM message_logs"
                       " WHERE workflow_run_id = $1::uuid",
                       1, p, d[mode], sizeof(d[mode]));
        /* the same batch again changes nothing */
        if (rep_store_write(st, t->fx.pg, res, n, &off, 1, &stats, &err) != 0)
            fail_msg("rewrite: %s", err.msg);
        assert_int_equal(stats.inserted + stats.finalized + stats.merged, 0);
        assert_int_equal(stats.duplicates, (long long)n);
    }
    assert_string_equal(d[0], d[1]);
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM mf_early_finals", 0, NULL), 0);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    rep_store_free(st);
}

/* Final outcomes that came before their rows (delivery reports that overtook the `accepted`
 * results: the receiver produces them anyway, docs/reporter.md "Early reports"): they wait in
 * mf_early_finals and the rows are inserted final, with the values the update
 * would have given them (delivered_at, failed_at, cost 0, error code and message, the status
 * code), and message_logs sees no update at all. */
static void test_finals_join_rows(void **state)
{
    itest *t = *state;
    const int n = 400;
    run_fx r;
    mf_buf b;
    long long ts = mf_test_now_ms(), wd = 0, wf = 0, end;
    char reported[24];
    const char *p[2] = {NULL, reported};

    rep_itest_make_run(&t->fx, n, "0 s", &r);
    p[0] = r.id;
    snprintf(reported, sizeof(reported), "%lld", ts + 5000);
    for (int i = 0; i < n; i++) {
        int bad = i % 4 == 3;

        produce_result(t, &r, t->fx.tpl, i, bad ? MF_RESULT_UNDELIVERED : MF_RESULT_DELIVERED, NULL,
                       ts + 5000);
        wd += !bad;
        wf += bad;
    }
    rep_itest_flush(&t->fx);
    start_reporter(t, t->fx.group, 0);
    t->fx.http_port = mf_test_log_http_port(t->fx.logfile, 15000);
    for (end = mf_test_mono_ms() + 30000;
         mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM mf_early_finals", 0, NULL) < n;) {
        rep_itest_assert_alive(&t->fx);
        if (mf_test_mono_ms() > end)
            fail_msg("the final outcomes were not kept for their rows within 30 s");
        mf_test_sleep_ms(100);
    }
    for (int i = 0; i < n; i++)
        produce_result(t, &r, t->fx.tpl, i, MF_RESULT_ACCEPTED, NULL, ts);
    rep_itest_flush(&t->fx);
    rep_itest_wait_completed(&t->fx, r.id, 60000);
    rep_itest_wait_offsets(&t->fx, t->fx.group, 60000);
    assert_int_equal(mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM mf_early_finals", 0, NULL), 0);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1"
                                   " AND status = 'delivered' AND provider_status_code = '4000'"
                                   " AND delivered_at = to_timestamp($2::bigint / 1000.0)"
                                   " AND failed_at IS NULL AND cost > 0 AND error_code IS NULL",
                                   2, p),
                     wd);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1"
                                   " AND status = 'failed' AND error_code = '3043'"
                                   " AND provider_status_code = '3043' AND cost = 0"
                                   " AND error_message = '단말기 Power off'"
                                   " AND failed_at = to_timestamp($2::bigint / 1000.0)"
                                   " AND delivered_at IS NULL",
                                   2, p),
                     wf);
    rep_itest_assert_consistent(t->fx.pg, r.id);
    mf_buf_init(&b, 0);
    assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
    assert_true(rep_itest_metric(b.data, "msgfleet_reporter_rows_total", "status=\"delivered\"",
                                 "op=\"insert\"") == (double)wd);
    assert_true(rep_itest_metric(b.data, "msgfleet_reporter_rows_total", "op=\"update\"", NULL) ==
                0.0);
    assert_true(rep_itest_metric(b.data, "msgfleet_reporter_early_finals_total",
                                 "event=\"applied\"", NULL) == (double)n);
    mf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_redeliver_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_poller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_poller_waits_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_poller_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finals_join_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finals_merge_in_batch, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
