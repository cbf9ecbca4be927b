/* itest_sender: two sender processes against a real PostgreSQL, Kafka and the simulator. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <msgpack.h>

#include "mf_codec.h"
#include "mf_coolsms.h"
#include "mf_kafka.h"
#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_uuid.h"
#include "mf_test.h"
#include "sender_itest.h"

#define NJOBS 500
#define NJOBS_5XX 300
#define NJOBS_DOUBT                                                                                \
    4                   /* stale claims: in a sent group, in a pending group, in no group; a
                       * young claim */
#define NJOBS_FAULT 160 /* outage 100, two not-before jobs, PostgreSQL cut 50 */
#define F0 (NJOBS + NJOBS_5XX + NJOBS_DOUBT)
#define NJOBS_STEP 120 /* 40 each with the answer of create, add or send lost */
#define S0 (F0 + NJOBS_FAULT)
#define MAX_JOBS (S0 + NJOBS_STEP)

enum { K_SMS, K_LMS, K_KAKAO, K_MISSING };

typedef struct tjob {
    mf_uuid id;
    char id_s[MF_UUID_STR_SIZE];
    char phone[16];
    char name[32];
    char coupon[16];
    int kind;
    int run; /* 0: first run, 1: the 5xx run */
    int results;
    mf_result_status st;
    mf_msg_type type;
    char text[4096];
    char pmid[64];
    char code[64];
    char msg[256];
    int64_t sent_ms;
    int64_t seen_ms; /* when its (last) result arrived here */
} tjob;


typedef struct itest {
    char src[1024], bld[1024];
    char db[64], prefix[64], group[64];
    char admin_dsn[1024], sender_dsn[1024];
    char brokers[256];
    PGconn *pg;
    mf_kafka_conf kc;
    char t_jobs[256], t_results[256], t_retry[256], t_dlq[256];
    mf_kafka_producer *prod;
    mf_kafka_consumer *rcons;
    mf_codec *codec;
    char sim_url[128];
    pid_t sim, senders[2];
    char tpl[3][MF_UUID_STR_SIZE], wf[MF_UUID_STR_SIZE], run[2][MF_UUID_STR_SIZE];
    int64_t run_ms[2];
    tjob jobs[MAX_JOBS];
    size_t njobs;
    long results_total;
    mf_test_fwd *proxy; /* to PgBouncer, cut in test_faults */
    int http_port[2];
} itest;

/* ---- HTTP (simulator admin) --------------------------------------------------------- */

/* ---- the PostgreSQL proxy ------------------------------------------------------------ */

/* ---- processes ---------------------------------------------------------------------- */

static void start_sim(itest *t)
{
    char path[1200];
    const char *env[] = {"MF_SIM_SENDERS", "0212345678", "MF_SIM_DELIVER_DELAY_MS", "100", NULL};

    snprintf(path, sizeof(path), "%s/tools/coolsms-sim/coolsms-sim", t->bld);
    t->sim = mf_test_sim_start(path, env, "/tmp/itest_sender_sim.log", t->sim_url,
                               sizeof(t->sim_url));
}

static void start_sender(itest *t, int i)
{
    char path[1200], log[128], inst[32];
    const char *env[] = {"MF_PG_DSN",
                         t->sender_dsn,
                         "MF_KAFKA_BROKERS",
                         t->brokers,
                         "MF_TOPIC_PREFIX",
                         t->prefix,
                         "MF_SENDER_GROUP",
                         t->group,
                         "MF_COOLSMS_BASE_URL",
                         t->sim_url,
                         "MF_COOLSMS_API_KEY",
                         mf_test_env("MF_COOLSMS_API_KEY", MF_TEST_API_KEY_DEF),
                         "MF_COOLSMS_API_SECRET",
                         mf_test_env("MF_COOLSMS_API_SECRET", MF_TEST_API_SECRET_DEF),
                         "MF_COOLSMS_SENDER",
                         "",
                         "MF_INSTANCE_ID",
                         inst,
                         "MF_SENDER_REQUEST_SIZE",
                         "100",
                         "MF_SENDER_BATCH_MAX",
                         "200",
                         "MF_SENDER_RETRY_MAX",
                         "40",
                         "MF_SENDER_RETRY_BASE_MS",
                         "20",
                         "MF_SENDER_RETRY_DELAY_MS",
                         "200",
                         "MF_SENDER_RETRY_DELAY_CAP_MS",
                         "1000",
                         "MF_SENDER_RETRY_CAP_MS",
                         "200",
                         "MF_SENDER_SHUTDOWN_S",
                         "3",
                         "MF_LOG_LEVEL",
                         "info",
                         NULL};

    snprintf(path, sizeof(path), "%s/sender/msgfleet-sender", t->bld);
    snprintf(log, sizeof(log), "/tmp/itest_%s_%d.log", t->db, i); /* unique per run */
    snprintf(inst, sizeof(inst), "itest-sender-%d", i);
    t->senders[i] = mf_test_spawn(path, env, log, -1);
}

/* ---- database ----------------------------------------------------------------------- */

static PGresult *q(itest *t, const char *sql, int n, const char *const *p)
{
    mf_err err;
    PGresult *r = mf_pg_query(t->pg, sql, n, p, &err);

    if (r == NULL)
        fail_msg("query failed: %s: %s", sql, err.msg);
    return r;
}

static void insert_id(itest *t, const char *sql, int n, const char *const *p, char *out)
{
    sender_itest_insert_id(t->pg, sql, n, p, out);
}

static void setup_db(itest *t)
{
    mf_test_db_create(t->admin_dsn, "sender", t->db, sizeof(t->db));
    t->pg = mf_test_pg_connect(t->admin_dsn, t->db, "PostgreSQL (MF_PG_DSN)");
    mf_test_db_migrate(t->pg);
}

static void seed_rows(itest *t)
{
    const char *p[4];
    PGresult *r;

    p[0] = "sms";
    p[1] = "#{name}님 안녕하세요. 쿠폰 #{coupon} 도착!";
    p[2] = "";
    p[3] = "[]";
    insert_id(t,
              "INSERT INTO message_templates (name, category, message_type, template_code, "
              "content, buttons) VALUES ('t', 'notification', $1, nullif($3, ''), $2, "
              "$4::jsonb) RETURNING id",
              4, p, t->tpl[0]);
    p[0] = "lms";
    p[1] = "#{name}님, 안녕하세요. msgfleet 회원님께 이번 달 안내 말씀을 드립니다. 가입해 주셔서 "
           "진심으로 감사드리며 앞으로도 더 좋은 서비스로 보답하겠습니다. 문의는 고객센터로 "
           "연락 주세요.";
    insert_id(t,
              "INSERT INTO message_templates (name, category, message_type, template_code, "
              "content, buttons) VALUES ('t', 'notification', $1, nullif($3, ''), $2, "
              "$4::jsonb) RETURNING id",
              4, p, t->tpl[1]);
    p[0] = "kakao";
    p[1] = "#{name}님, 주문이 완료되었습니다.";
    p[2] = "KA01TP0001";
    p[3] = "[{\"buttonType\":\"WL\",\"buttonName\":\"주문 보기\","
           "\"linkMo\":\"https://m.example.com\"}]";
    insert_id(t,
              "INSERT INTO message_templates (name, category, message_type, template_code, "
              "content, buttons) VALUES ('t', 'notification', $1, nullif($3, ''), $2, "
              "$4::jsonb) RETURNING id",
              4, p, t->tpl[2]);
    p[0] = "{\"subject\":\"#{name}님 안내\",\"kakao\":{\"pf_id\":\"KA01PF0001\"}}";
    insert_id(t,
              "INSERT INTO workflows (name, trigger_type, message_config) VALUES "
              "('wf', 'manual', $1::jsonb) RETURNING id",
              1, p, t->wf);
    /* the sender number comes from system_settings (fallback of message_config) */
    r = q(t,
          "INSERT INTO system_settings (setting_key, setting_value) VALUES "
          "('coolsms_sender_number', '\"0212345678\"')",
          0, NULL);
    PQclear(r);
    for (int i = 0; i < 2; i++) {
        p[0] = t->wf;
        insert_id(t,
                  "INSERT INTO workflow_runs (workflow_id, status, trigger_type) VALUES "
                  "($1, 'running', 'manual') RETURNING id",
                  1, p, t->run[i]);
        p[0] = t->run[i];
        r = q(t,
              "SELECT (extract(epoch FROM date_trunc('milliseconds', started_at)) * 1000)"
              "::bigint FROM workflow_runs WHERE id = $1",
              1, p);
        t->run_ms[i] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
}

/* ---- jobs and results --------------------------------------------------------------- */

static void make_jobs(itest *t)
{
    for (size_t i = 0; i < MAX_JOBS; i++) {
        tjob *j = &t->jobs[i];
        mf_uuid run;
        mf_err err;

        j->run = i >= NJOBS;
        snprintf(j->phone, sizeof(j->phone), "0109%03zu%04zu", i / 10000, i % 10000);
        snprintf(j->name, sizeof(j->name), "홍길동%zu", i);
        snprintf(j->coupon, sizeof(j->coupon), "C%05zu", i);
        j->kind = K_SMS;
        if (i % 50 == 3)
            j->kind = K_MISSING;
        else if (i % 10 == 1)
            j->kind = K_LMS;
        else if (i == 7 || i == NJOBS + 7)
            j->kind = K_KAKAO;
        if (i >= NJOBS + NJOBS_5XX)
            j->kind = K_SMS;
        assert_int_equal(mf_uuid_parse(t->run[j->run], &run, &err), 0);
        mf_uuid_job_id(&run, (uint64_t)t->run_ms[j->run], j->phone, 0, &j->id);
        mf_uuid_format(&j->id, j->id_s);
    }
    t->njobs = MAX_JOBS;
}

static void produce_jobs_to(itest *t, size_t from, size_t to, const char *topic, int64_t nb);

static void produce_jobs(itest *t, size_t from, size_t to)
{
    produce_jobs_to(t, from, to, t->t_jobs, 0);
}

/* Jobs to `topic` with not-before nb (0: none); key = phone on jobs, job id on retry. */
static void produce_jobs_to(itest *t, size_t from, size_t to, const char *topic, int64_t nb)
{
    msgpack_sbuffer sb;
    mf_err err;

    msgpack_sbuffer_init(&sb);
    for (size_t i = from; i < to; i++) {
        tjob *tj = &t->jobs[i];
        mf_codec_kv vars[2] = {{"name", tj->name}, {"coupon", tj->coupon}};
        mf_job j;

        memset(&j, 0, sizeof(j));
        j.id = tj->id;
        assert_int_equal(mf_uuid_parse(t->run[tj->run], &j.run, &err), 0);
        assert_int_equal(mf_uuid_parse(t->wf, &j.wf, &err), 0);
        assert_int_equal(mf_uuid_parse(t->tpl[tj->kind == K_LMS     ? 1
                                              : tj->kind == K_KAKAO ? 2
                                                                    : 0],
                                       &j.tpl, &err),
                         0);
        j.to = tj->phone;
        j.name = "";
        j.vars.items = vars;
        j.vars.n = tj->kind == K_MISSING ? 1 : 2;
        j.created_ms = mf_test_now_ms();
        j.not_before_ms = nb;
        assert_int_equal(mf_codec_encode_job(&sb, &j, &err), 0);
        if (mf_kafka_produce(t->prod, topic, topic == t->t_jobs ? tj->phone : tj->id_s,
                             topic == t->t_jobs ? strlen(tj->phone) : strlen(tj->id_s), sb.data,
                             sb.size, NULL, 10000, &err) != 0)
            fail_msg("could not produce: %s", err.msg);
    }
    if (mf_kafka_flush(t->prod, 30000, &err) != 0)
        fail_msg("Kafka at %s did not acknowledge: %s", t->brokers, err.msg);
    msgpack_sbuffer_destroy(&sb);
}

static tjob *find_job(itest *t, const mf_uuid *id)
{
    for (size_t i = 0; i < t->njobs; i++)
        if (mf_uuid_equal(&t->jobs[i].id, id))
            return &t->jobs[i];
    return NULL;
}

/* Consumes results until `total` have been seen in all (or 180 s pass). */
static void collect_results(itest *t, long total)
{
    mf_kafka_msg msgs[500];
    int64_t deadline = mf_test_now_ms() + 180000;
    mf_err err;

    while (t->results_total < total && mf_test_now_ms() < deadline) {
        size_t n = 0;

        if (mf_kafka_consume(t->rcons, msgs, 500, 500, &n, &err) != 0)
            fail_msg("results consumer: %s", err.msg);
        for (size_t i = 0; i < n; i++) {
            mf_result r;
            tjob *j;

            if (mf_codec_decode_result(t->codec, msgs[i].val, msgs[i].val_len, &r, &err) != 0)
                fail_msg("undecodable result: %s", err.msg);
            j = find_job(t, &r.id);
            assert_non_null(j);
            if (j->results > 0) {
                /* a re-emitted result must equal the first one */
                assert_int_equal(r.status, j->st);
                assert_string_equal(r.provider_msg_id ? r.provider_msg_id : "", j->pmid);
                assert_string_equal(r.text ? r.text : "", j->text);
                assert_int_equal(r.type, j->type);
            }
            j->results++;
            j->st = r.status;
            j->type = r.type;
            snprintf(j->text, sizeof(j->text), "%s", r.text ? r.text : "");
            snprintf(j->pmid, sizeof(j->pmid), "%s", r.provider_msg_id ? r.provider_msg_id : "");
            snprintf(j->code, sizeof(j->code), "%s", r.code ? r.code : "");
            snprintf(j->msg, sizeof(j->msg), "%s", r.msg ? r.msg : "");
            j->sent_ms = r.sent_ms;
            j->seen_ms = mf_test_now_ms();
            t->results_total++;
        }
        mf_kafka_release(msgs, n);
        mf_codec_reset(t->codec);
    }
    assert_int_equal(t->results_total, total);
}

/* Ledger: jobId -> number of accepted messages, with type and text of the last one. */
typedef struct ledger_row {
    int count;
    char type[8];
    char text[4096];
    char subject[128];
} ledger_row;

static size_t read_ledger(itest *t, ledger_row *rows)
{
    char url[256];
    mf_buf b;
    size_t total = 0;
    char *line, *save = NULL;

    memset(rows, 0, sizeof(ledger_row) * t->njobs);
    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "%s/_sim/ledger/export", t->sim_url);
    assert_int_equal(mf_test_http(NULL, url, NULL, 30000, &b), 200);
    for (line = b.data ? strtok_r(b.data, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *jid = json_string_value(
            json_object_get(json_object_get(o, "customFields"), "jobId"));

        assert_non_null(o);
        total++;
        for (size_t i = 0; jid && i < t->njobs; i++) {
            if (strcmp(t->jobs[i].id_s, jid) != 0)
                continue;
            rows[i].count++;
            snprintf(rows[i].type, sizeof(rows[i].type), "%s",
                     json_string_value(json_object_get(o, "type")));
            snprintf(rows[i].text, sizeof(rows[i].text), "%s",
                     json_string_value(json_object_get(o, "text")));
            snprintf(rows[i].subject, sizeof(rows[i].subject), "%s",
                     json_is_string(json_object_get(o, "subject"))
                         ? json_string_value(json_object_get(o, "subject"))
                         : "");
        }
        json_decref(o);
    }
    mf_buf_free(&b);
    return total;
}

static void check_jobs(itest *t, size_t from, size_t to, const ledger_row *rows, int nres)
{
    char want[512];

    for (size_t i = from; i < to; i++) {
        const tjob *j = &t->jobs[i];

        assert_int_equal(j->results, nres);
        if (j->kind == K_MISSING) {
            assert_int_equal(j->st, MF_RESULT_FAILED);
            assert_string_equal(j->code, "RENDER_FAILED");
            assert_non_null(strstr(j->msg, "coupon"));
            assert_int_equal(rows[i].count, 0);
            continue;
        }
        if (j->st != MF_RESULT_ACCEPTED)
            fail_msg("job %zu (%s) not accepted: %s %s", i, j->id_s, j->code, j->msg);
        assert_int_equal(rows[i].count, 1);
        assert_string_equal(rows[i].text, j->text);
        if (j->kind == K_SMS) {
            snprintf(want, sizeof(want), "%s님 안녕하세요. 쿠폰 %s 도착!", j->name, j->coupon);
            assert_string_equal(j->text, want);
            assert_int_equal(j->type, MF_TYPE_SMS);
            assert_string_equal(rows[i].type, "SMS");
            assert_string_equal(rows[i].subject, "");
        } else if (j->kind == K_LMS) {
            assert_int_equal(j->type, MF_TYPE_LMS);
            assert_string_equal(rows[i].type, "LMS");
            assert_true(strncmp(j->text, j->name, strlen(j->name)) == 0);
            snprintf(want, sizeof(want), "%s님 안내", j->name);
            assert_string_equal(rows[i].subject, want);
        } else {
            snprintf(want, sizeof(want), "%s님, 주문이 완료되었습니다.", j->name);
            assert_string_equal(j->text, want);
            assert_int_equal(j->type, MF_TYPE_KAKAO);
            assert_string_equal(rows[i].type, "ATA");
        }
    }
}

/* ---- the test ----------------------------------------------------------------------- */

static int setup(void **state)
{
    itest *t = calloc(1, sizeof(*t));
    unsigned r;
    const char *topics[2];
    mf_kafka_consumer_opts co;
    mf_kafka_topic_spec specs[4];
    mf_err err;

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    r = (unsigned)rand();
    snprintf(t->src, sizeof(t->src), "%s", mf_test_env("MF_SOURCE_DIR", "/work/main"));
    snprintf(t->bld, sizeof(t->bld), "%s", mf_test_env("MF_BUILD_DIR", "/work/main/build"));
    snprintf(t->prefix, sizeof(t->prefix), "itest.sender.%u.", r);
    snprintf(t->group, sizeof(t->group), "itest-sender-%u", r);
    snprintf(t->brokers, sizeof(t->brokers), "%s",
             mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF));
    snprintf(t->admin_dsn, sizeof(t->admin_dsn), "%s", mf_test_pg_dsn());
    setup_db(t); /* names t->db */
    /* the senders reach PgBouncer through the test's proxy (cut in test_faults) */
    t->proxy = mf_test_fwd_start((int)strtol(mf_test_env("MF_PGBOUNCER_PORT", "56432"), NULL, 10));
    snprintf(t->sender_dsn, sizeof(t->sender_dsn),
             "host=127.0.0.1 port=%d dbname=%s user=%s connect_timeout=3",
             mf_test_fwd_port(t->proxy), t->db, mf_test_env("MF_PG_USER", "msgfleet"));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    seed_rows(t);
    make_jobs(t);

    t->kc.brokers = t->brokers;
    t->kc.topic_prefix = t->prefix;
    assert_int_equal(mf_kafka_topic_name(&t->kc, MF_TOPIC_JOBS, t->t_jobs, 256, &err), 0);
    assert_int_equal(mf_kafka_topic_name(&t->kc, MF_TOPIC_RESULTS, t->t_results, 256, &err), 0);
    assert_int_equal(mf_kafka_topic_name(&t->kc, MF_TOPIC_RETRY, t->t_retry, 256, &err), 0);
    assert_int_equal(mf_kafka_topic_name(&t->kc, MF_TOPIC_DLQ, t->t_dlq, 256, &err), 0);
    specs[0] = (mf_kafka_topic_spec){t->t_jobs, 8, -1};
    specs[1] = (mf_kafka_topic_spec){t->t_results, 4, -1};
    specs[2] = (mf_kafka_topic_spec){t->t_retry, 2, -1};
    specs[3] = (mf_kafka_topic_spec){t->t_dlq, 1, -1};
    if (mf_kafka_ensure_topics(&t->kc, specs, 4, 30000, &err) != 0)
        fail_msg("Kafka at %s: %s", t->brokers, err.msg);
    t->prod = mf_kafka_producer_new(&t->kc, NULL, NULL, &err);
    assert_non_null(t->prod);
    topics[0] = t->t_results;
    topics[1] = NULL;
    memset(&co, 0, sizeof(co));
    co.group_id = t->group; /* its own group: the senders use MF_SENDER_GROUP = group + "-s" */
    co.topics = topics;
    co.offsets = MF_KAFKA_OFFSETS_EXTERNAL;
    t->rcons = mf_kafka_consumer_new(&t->kc, &co, &err);
    assert_non_null(t->rcons);
    t->codec = mf_codec_new(&err);
    assert_non_null(t->codec);
    snprintf(t->group + strlen(t->group), sizeof(t->group) - strlen(t->group), "-s");
    start_sim(t);
    start_sender(t, 0);
    start_sender(t, 1);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    itest *t = *state;
    const char *names[4] = {t->t_jobs, t->t_results, t->t_retry, t->t_dlq};
    mf_err err;

    for (int i = 0; i < 2; i++)
        mf_test_stop(t->senders[i], 20000, NULL);
    mf_test_stop(t->sim, 5000, NULL);
    mf_test_fwd_stop(t->proxy);
    mf_kafka_consumer_free(t->rcons);
    mf_kafka_producer_free(t->prod);
    mf_codec_free(t->codec);
    mf_kafka_delete_topics(&t->kc, names, 4, 30000, &err);
    if (t->pg != NULL)
        PQfinish(t->pg);
    mf_test_db_drop(t->admin_dsn, t->db);
    curl_global_cleanup();
    free(t);
    return 0;
}

/* Claims whose outcome is `state` (the claim row's own state, or its chunk's outcome row). */
static long claims_in_state(itest *t, const char *state)
{
    const char *p[1] = {state};
    PGresult *r = q(t, "SELECT count(*) FROM mf_job_claim_states WHERE state = $1", 1, p);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);

    PQclear(r);
    return n;
}

static void test_two_senders_exactly_once(void **state)
{
    itest *t = *state;
    ledger_row *rows = calloc(MAX_JOBS, sizeof(*rows));
    size_t ledger1, ledger2, ledger3, valid = 0, valid5 = 0;
    char url[256];
    mf_buf b;
    int st;

    assert_non_null(rows);
    mf_buf_init(&b, 0);
    for (size_t i = 0; i < NJOBS; i++)
        valid += t->jobs[i].kind != K_MISSING;
    for (size_t i = NJOBS; i < NJOBS + NJOBS_5XX; i++)
        valid5 += t->jobs[i].kind != K_MISSING;
    /* let both senders join the group before any job exists (no rebalance mid-batch) */
    mf_test_sleep_ms(8000);
    for (int i = 0; i < 2; i++)
        assert_int_equal(waitpid(t->senders[i], &st, WNOHANG), 0);

    /* 1. 500 jobs: one result each, one accepted message per valid job */
    produce_jobs(t, 0, NJOBS);
    collect_results(t, NJOBS);
    ledger1 = read_ledger(t, rows);
    check_jobs(t, 0, NJOBS, rows, 1);
    assert_int_equal(ledger1, valid);
    assert_int_equal(claims_in_state(t, "accepted"), (long)valid);
    assert_int_equal(claims_in_state(t, "failed"), (long)(NJOBS - valid));
    {
        /* accepted outcomes were appended per chunk: no claim row was rewritten for them */
        PGresult *r = q(t,
                        "SELECT (SELECT count(*) FROM mf_job_claims WHERE state = 'accepted'),"
                        " (SELECT count(*) FROM mf_claim_outcomes),"
                        " (SELECT coalesce(sum(cardinality(job_ids)), 0)"
                        " FROM mf_claim_outcomes)",
                        0, NULL);

        assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), 0);
        assert_true(strtol(PQgetvalue(r, 0, 1), NULL, 10) < (long)valid / 10);
        assert_int_equal(strtol(PQgetvalue(r, 0, 2), NULL, 10), (long)valid);
        PQclear(r);
    }

    /* 2. redelivery: the same jobs again; results re-emitted from the claims, nothing sent */
    produce_jobs(t, 0, NJOBS);
    collect_results(t, 2 * NJOBS);
    ledger2 = read_ledger(t, rows);
    assert_int_equal(ledger2, ledger1);
    check_jobs(t, 0, NJOBS, rows, 2);

    /* 3. 30% of provider requests answer 5xx: still exactly one accepted per job */
    snprintf(url, sizeof(url), "%s/_sim/config", t->sim_url);
    assert_int_equal(mf_test_http(NULL, url, "{\"error_5xx_ratio\":0.3}", 30000, &b), 200);
    produce_jobs(t, NJOBS, NJOBS + NJOBS_5XX);
    collect_results(t, 2 * NJOBS + NJOBS_5XX);
    ledger3 = read_ledger(t, rows);
    assert_int_equal(ledger3, ledger1 + valid5);
    check_jobs(t, NJOBS, NJOBS + NJOBS_5XX, rows, 1);
    snprintf(url, sizeof(url), "%s/_sim/stats", t->sim_url);
    assert_int_equal(mf_test_http(NULL, url, NULL, 30000, &b), 200);
    {
        json_error_t je;
        json_t *o = json_loads(b.data, 0, &je);

        /* the fault really happened */
        assert_true(json_integer_value(json_object_get(o, "http_5xx")) > 0);
        json_decref(o);
    }

    /* graceful SIGTERM: exit status 0 */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mf_test_stop(t->senders[i], 20000, NULL), 0);
        t->senders[i] = 0;
    }
    mf_buf_free(&b);
    free(rows);
}

/* A claim row as a sender leaves it; gid (or NULL) recorded as the group of its chunk, the
 * way the sender records a group before adding to it. */
static void claim_row(itest *t, const tjob *j, const char *age, const char *by, const char *gid)
{
    const char *p[5] = {j->id_s, t->run[1], age, by, gid};
    PGresult *r = q(t,
                    "WITH c AS (INSERT INTO mf_job_claims (job_id, run_id, attempt, state, "
                    "claimed_by, claimed_at, chunk_id) VALUES ($1, $2, 0, 'claimed', $4, "
                    "now() - $3::interval, gen_random_uuid()) RETURNING job_id, chunk_id) "
                    "INSERT INTO mf_claim_groups (chunk_id, group_id, job_ids) "
                    "SELECT chunk_id, $5::text, ARRAY[job_id] FROM c WHERE $5::text IS NOT NULL",
                    5, p);

    PQclear(r);
}

typedef struct direct_rec {
    int calls;
    mf_coolsms_result res;
    char pmid[64];
} direct_rec;

static void on_direct(const mf_coolsms_result *res, void *user)
{
    direct_rec *d = user;

    d->calls++;
    d->res = *res;
    if (res->n_messages > 0 && res->outcomes[0].state == MF_COOLSMS_MSG_ACCEPTED)
        snprintf(d->pmid, sizeof(d->pmid), "%s", res->outcomes[0].message_id);
}

static void direct_wait(mf_coolsms *h, direct_rec *d)
{
    mf_err err;

    assert_int_equal(mf_coolsms_drain(h, 10000, &err), 0);
    assert_int_equal(d->calls, 1);
    assert_int_equal(d->res.cls, MF_COOLSMS_OK);
}

/* Puts job j in a new provider group, as a sender that died right after would have: created
 * and filled, and sent when `send` is set. gid and pmid receive the ids. */
static void send_direct(itest *t, const tjob *j, int send, char *gid, char *pmid)
{
    mf_coolsms_config cc = {t->sim_url,
                            mf_test_env("MF_COOLSMS_API_KEY", MF_TEST_API_KEY_DEF),
                            mf_test_env("MF_COOLSMS_API_SECRET", MF_TEST_API_SECRET_DEF),
                            10000,
                            5000,
                            1,
                            NULL};
    char text[128];
    mf_coolsms_msg m;
    mf_err err;
    direct_rec d;
    mf_coolsms *h = mf_coolsms_new(&cc, &err);

    assert_non_null(h);
    snprintf(text, sizeof(text), "%s님 안녕하세요. 쿠폰 %s 도착!", j->name, j->coupon);
    memset(&m, 0, sizeof(m));
    m.to = j->phone;
    m.from = "0212345678";
    m.text = text;
    m.type = "SMS";
    m.job_id = j->id_s;
    m.run_id = t->run[1];
    memset(&d, 0, sizeof(d));
    assert_int_equal(mf_coolsms_group_create(h, NULL, 0, on_direct, &d, NULL, &err), 0);
    direct_wait(h, &d);
    snprintf(gid, 64, "%s", d.res.group_id);
    memset(&d, 0, sizeof(d));
    assert_int_equal(mf_coolsms_group_add(h, gid, &m, 1, on_direct, &d, NULL, &err), 0);
    direct_wait(h, &d);
    snprintf(pmid, 64, "%s", d.pmid);
    if (send) {
        memset(&d, 0, sizeof(d));
        assert_int_equal(mf_coolsms_group_send(h, gid, on_direct, &d, NULL, &err), 0);
        direct_wait(h, &d);
    }
    mf_coolsms_destroy(h);
}

static void test_in_doubt_claims(void **state)
{
    itest *t = *state;
    size_t base = NJOBS + NJOBS_5XX;
    tjob *found = &t->jobs[base], *lost = &t->jobs[base + 1], *busy = &t->jobs[base + 2];
    tjob *pend = &t->jobs[base + 3];
    ledger_row *rows = calloc(MAX_JOBS, sizeof(*rows));
    char pmid[64] = "", gid[64] = "", pmid2[64] = "", gid2[64] = "", url[256];
    const char *p[1];
    PGresult *r;
    mf_buf b;

    assert_non_null(rows);
    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "%s/_sim/config", t->sim_url);
    assert_int_equal(mf_test_http(NULL, url, "{\"error_5xx_ratio\":0}", 30000, &b), 200);
    mf_test_sleep_ms(8000); /* both senders in the group */
    /* a dead sender's claims, 2 minutes old: one message went out in a sent group, one sits
     * in a group never sent, one was never added (no group recorded); a live sender's young
     * claim that it finishes 3 s later */
    send_direct(t, found, 1, gid, pmid);
    send_direct(t, pend, 0, gid2, pmid2);
    claim_row(t, found, "2 minutes", "dead-sender", gid);
    claim_row(t, pend, "2 minutes", "dead-sender", gid2);
    claim_row(t, lost, "2 minutes", "dead-sender", NULL);
    claim_row(t, busy, "0 seconds", "live-sender", NULL);
    produce_jobs(t, base, F0);
    mf_test_sleep_ms(3000);
    assert_int_equal(busy->results, 0); /* still waiting for the other sender */
    p[0] = busy->id_s;
    r = q(t,
          "UPDATE mf_job_claims SET state = 'accepted', provider_message_id = 'M4VLIVE', "
          "msg_type = 'sms', content = 'from the live sender', sent_at = now() "
          "WHERE job_id = $1",
          1, p);
    PQclear(r);
    collect_results(t, t->results_total + NJOBS_DOUBT);
    read_ledger(t, rows);
    /* found: accepted with the provider's id, not sent again */
    assert_int_equal(found->results, 1);
    assert_int_equal(found->st, MF_RESULT_ACCEPTED);
    assert_string_equal(found->pmid, pmid);
    assert_int_equal(rows[base].count, 1);
    /* pending: its group was sent by the resolver, with the message added by the dead sender */
    assert_int_equal(pend->results, 1);
    assert_int_equal(pend->st, MF_RESULT_ACCEPTED);
    assert_string_equal(pend->pmid, pmid2);
    assert_int_equal(rows[base + 3].count, 1);
    /* lost: taken over and sent once */
    assert_int_equal(lost->results, 1);
    assert_int_equal(lost->st, MF_RESULT_ACCEPTED);
    assert_int_equal(rows[base + 1].count, 1);
    p[0] = lost->id_s;
    r = q(t, "SELECT claimed_by, state FROM mf_job_claim_states WHERE job_id = $1", 1, p);
    assert_true(strncmp(PQgetvalue(r, 0, 0), "itest-sender-", 13) == 0);
    assert_string_equal(PQgetvalue(r, 0, 1), "accepted");
    PQclear(r);
    /* busy: the other sender's outcome re-emitted, nothing sent by us */
    assert_int_equal(busy->results, 1);
    assert_int_equal(busy->st, MF_RESULT_ACCEPTED);
    assert_string_equal(busy->pmid, "M4VLIVE");
    assert_string_equal(busy->text, "from the live sender");
    assert_int_equal(rows[base + 2].count, 0);
    mf_buf_free(&b);
    free(rows);
}

/* ---- faults: provider outage, not-before, dead letters, PostgreSQL cut, metrics -------- */

static int sender_port(itest *t, int i)
{
    char path[128];

    if (t->http_port[i] > 0)
        return t->http_port[i];
    snprintf(path, sizeof(path), "/tmp/itest_%s_%d.log", t->db, i);
    t->http_port[i] = mf_test_log_http_port(path, 10000);
    return t->http_port[i];
}

/* Dependency `dep` of sender i: 1 ok, 0 not ok (from /healthz). */
static int dep_ok(itest *t, int i, const char *dep)
{
    char url[128];
    mf_buf b;
    json_error_t je;
    json_t *o;
    long status;
    int ok;

    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", sender_port(t, i));
    status = mf_test_http(NULL, url, NULL, 30000, &b);
    assert_true(status == 200 || status == 503);
    o = json_loads(b.data, 0, &je);
    assert_non_null(o);
    ok = json_is_true(
        json_object_get(json_object_get(json_object_get(o, "dependencies"), dep), "ok"));
    if (status == 200)
        assert_true(ok);
    json_decref(o);
    mf_buf_free(&b);
    return ok;
}

/* Sum of the samples of `name` whose labels contain `filter` ("" for all). */
static double metric_sum(const char *text, const char *name, const char *filter)
{
    size_t nl = strlen(name);
    double sum = 0;

    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *end = strchr(l, '\n'), *sp;

        if (strncmp(l, name, nl) != 0 || (l[nl] != '{' && l[nl] != ' '))
            continue;
        sp = l + nl;
        while (sp < (end ? end : l + strlen(l)) && *sp != ' ' && *sp != '\n')
            sp = *sp == '}' ? sp + 1 : sp + 1;
        {
            char lab[512];
            size_t n = (size_t)(sp - l) < sizeof(lab) - 1 ? (size_t)(sp - l) : sizeof(lab) - 1;

            memcpy(lab, l, n);
            lab[n] = '\0';
            if (strstr(lab, filter) == NULL)
                continue;
        }
        sum += strtod(sp, NULL);
    }
    return sum;
}

/* Scrapes sender i's /metrics and checks the text with promtool. Caller frees. */
static char *scrape(itest *t, int i)
{
    char url[128], path[128], cmd[256];
    mf_buf b;
    FILE *f;
    char *text;

    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", sender_port(t, i));
    assert_int_equal(mf_test_http(NULL, url, NULL, 30000, &b), 200);
    assert_non_null(b.data);
    snprintf(path, sizeof(path), "/tmp/itest_sender_metrics_%d_%d.txt", (int)getpid(), i);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(b.data, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    if (system(cmd) != 0)
        fail_msg("promtool check metrics failed on %s", path);
    unlink(path);
    text = strdup(b.data);
    mf_buf_free(&b);
    return text;
}

static void sim_config(itest *t, const char *json)
{
    char url[256];
    mf_buf b;

    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "%s/_sim/config", t->sim_url);
    assert_int_equal(mf_test_http(NULL, url, json, 30000, &b), 200);
    mf_buf_free(&b);
}

/* Produces two undecodable messages (jobs, retry) and checks both arrive on dlq with a
 * reason and the original bytes. */
static void check_dead_letters(itest *t)
{
    static const char junk[] = "\xc1not msgpack";
    const char *topics[2] = {t->t_dlq, NULL};
    mf_kafka_consumer_opts co;
    mf_kafka_consumer *c;
    mf_kafka_msg msgs[8];
    int64_t deadline = mf_test_now_ms() + 30000;
    int seen_jobs = 0, seen_retry = 0;
    char group[96];
    mf_err err;

    assert_int_equal(mf_kafka_produce(t->prod, t->t_jobs, "k1", 2, junk, sizeof(junk) - 1, NULL,
                                      10000, &err),
                     0);
    assert_int_equal(mf_kafka_produce(t->prod, t->t_retry, "k2", 2, junk, sizeof(junk) - 1, NULL,
                                      10000, &err),
                     0);
    assert_int_equal(mf_kafka_flush(t->prod, 30000, &err), 0);
    snprintf(group, sizeof(group), "%s-dlq", t->group);
    memset(&co, 0, sizeof(co));
    co.group_id = group;
    co.topics = topics;
    co.offsets = MF_KAFKA_OFFSETS_EXTERNAL;
    c = mf_kafka_consumer_new(&t->kc, &co, &err);
    assert_non_null(c);
    while ((!seen_jobs || !seen_retry) && mf_test_now_ms() < deadline) {
        size_t n = 0;

        assert_int_equal(mf_kafka_consume(c, msgs, 8, 500, &n, &err), 0);
        for (size_t i = 0; i < n; i++) {
            mf_dlq d;

            assert_int_equal(mf_codec_decode_dlq(t->codec, msgs[i].val, msgs[i].val_len, &d, &err),
                             0);
            assert_non_null(d.reason);
            assert_true(strlen(d.reason) > 0);
            assert_int_equal(d.val_len, sizeof(junk) - 1);
            assert_memory_equal(d.val, junk, sizeof(junk) - 1);
            if (strcmp(d.src, t->t_jobs) == 0)
                seen_jobs++;
            else if (strcmp(d.src, t->t_retry) == 0)
                seen_retry++;
        }
        mf_kafka_release(msgs, n);
        mf_codec_reset(t->codec);
    }
    mf_kafka_consumer_free(c);
    assert_int_equal(seen_jobs, 1);
    assert_int_equal(seen_retry, 1);
}

static void test_faults(void **state)
{
    itest *t = *state;
    ledger_row *rows = calloc(MAX_JOBS, sizeof(*rows));
    size_t total;
    double accepted = 0, retried = 0, dlq = 0;
    int64_t nb;
    int down;

    assert_non_null(rows);
    mf_test_sleep_ms(7000); /* both senders in the group */

    /* provider outage (every request 5xx) for ~10 s: jobs go through the retry topic and end
     * with exactly one accepted message each */
    sim_config(t, "{\"error_5xx_ratio\":1}");
    produce_jobs(t, F0, F0 + 100);
    mf_test_sleep_ms(4000);
    down = !dep_ok(t, 0, "coolsms") + !dep_ok(t, 1, "coolsms");
    assert_true(down >= 1);
    mf_test_sleep_ms(6000);
    assert_int_equal(read_ledger(t, rows), 0);
    sim_config(t, "{\"error_5xx_ratio\":0}");
    collect_results(t, 100);
    total = read_ledger(t, rows);
    assert_int_equal(total, 100);
    for (size_t i = F0; i < F0 + 100; i++) {
        assert_int_equal(rows[i].count, 1);
        assert_int_equal(t->jobs[i].st, MF_RESULT_ACCEPTED);
        assert_int_equal(t->jobs[i].results, 1);
    }

    /* not-before 3 s ahead, through jobs (parked on retry) and straight on retry */
    nb = mf_test_now_ms() + 3000;
    produce_jobs_to(t, F0 + 100, F0 + 101, t->t_jobs, nb);
    produce_jobs_to(t, F0 + 101, F0 + 102, t->t_retry, nb);
    collect_results(t, 102);
    read_ledger(t, rows);
    for (size_t i = F0 + 100; i < F0 + 102; i++) {
        assert_int_equal(t->jobs[i].st, MF_RESULT_ACCEPTED);
        assert_int_equal(rows[i].count, 1);
        assert_true(t->jobs[i].sent_ms >= nb);
        assert_true(t->jobs[i].seen_ms >= nb);
        assert_true(t->jobs[i].seen_ms < nb + 5000);
    }

    /* malformed messages on jobs and retry land on dlq */
    check_dead_letters(t);

    /* PostgreSQL unreachable (the proxy is cut): nothing is sent without a claim; the
     * senders report it and wait; everything goes out once it is back */
    mf_test_fwd_set(t->proxy, MF_TEST_FWD_DROP);
    mf_test_sleep_ms(300);
    produce_jobs(t, F0 + 110, F0 + 160);
    mf_test_sleep_ms(7000);
    assert_int_equal(dep_ok(t, 0, "postgres") + dep_ok(t, 1, "postgres"), 0);
    read_ledger(t, rows);
    for (size_t i = F0 + 110; i < F0 + 160; i++)
        assert_int_equal(rows[i].count, 0);
    mf_test_fwd_set(t->proxy, MF_TEST_FWD_PASS);
    collect_results(t, 152);
    total = read_ledger(t, rows);
    assert_int_equal(total, 152);
    for (size_t i = F0 + 110; i < F0 + 160; i++) {
        assert_int_equal(rows[i].count, 1);
        assert_int_equal(t->jobs[i].results, 1);
    }
    for (int waited = 0; waited < 10000 && dep_ok(t, 0, "postgres") + dep_ok(t, 1, "postgres") < 2;
         waited += 500)
        mf_test_sleep_ms(500);
    assert_int_equal(dep_ok(t, 0, "postgres") + dep_ok(t, 1, "postgres"), 2);

    /* /metrics: promtool-clean, accepted counts equal the ledger */
    for (int i = 0; i < 2; i++) {
        char *m = scrape(t, i);

        accepted += metric_sum(m, "msgfleet_sender_messages_total", "status=\"accepted\"");
        retried += metric_sum(m, "msgfleet_sender_retries_total", "");
        dlq += metric_sum(m, "msgfleet_sender_dlq_total", "");
        assert_non_null(strstr(m, "msgfleet_sender_provider_request_seconds_bucket"));
        assert_non_null(strstr(m, "msgfleet_sender_consumer_lag"));
        free(m);
    }
    assert_true(accepted == (double)total);
    assert_true(retried >= 1);
    assert_true(dlq == 2);

    /* SIGTERM while PostgreSQL is away and a batch waits for it: both senders hand the batch
     * back within MF_SENDER_SHUTDOWN_S (3 s here) and exit 0; a new sender then sends every
     * one of those jobs exactly once */
    mf_test_fwd_set(t->proxy, MF_TEST_FWD_DROP);
    produce_jobs(t, F0 + 102, F0 + 110);
    mf_test_sleep_ms(2000);
    for (int i = 0; i < 2; i++)
        kill(t->senders[i], SIGTERM);
    {
        int64_t t0 = mf_test_now_ms();

        for (int i = 0; i < 2; i++) {
            assert_int_equal(mf_test_wait(t->senders[i], 15000, NULL), 0);
            t->senders[i] = 0;
        }
        assert_true(mf_test_now_ms() - t0 < 10000);
    }
    read_ledger(t, rows);
    for (size_t i = F0 + 102; i < F0 + 110; i++)
        assert_int_equal(rows[i].count, 0);
    start_sender(t, 0); /* starts while PostgreSQL is still away: it waits for it */
    mf_test_sleep_ms(1500);
    mf_test_fwd_set(t->proxy, MF_TEST_FWD_PASS);
    collect_results(t, 160);
    total = read_ledger(t, rows);
    assert_int_equal(total, 160);
    for (size_t i = F0 + 102; i < F0 + 110; i++) {
        assert_int_equal(rows[i].count, 1);
        assert_int_equal(t->jobs[i].results, 1);
    }
    assert_int_equal(mf_test_stop(t->senders[0], 30000, NULL), 0);
    t->senders[0] = 0;
    free(rows);
}

/* The simulator's /_sim/stats counter `name`. */
static long long sim_stat(itest *t, const char *name)
{
    char url[256];
    json_error_t je;
    json_t *o;
    long long v;
    mf_buf b;

    mf_buf_init(&b, 0);
    snprintf(url, sizeof(url), "%s/_sim/stats", t->sim_url);
    assert_int_equal(mf_test_http(NULL, url, NULL, 30000, &b), 200);
    o = json_loads(b.data, 0, &je);
    assert_non_null(o);
    v = json_integer_value(json_object_get(o, name));
    json_decref(o);
    mf_buf_free(&b);
    return v;
}

/* One targeted test per lost step of the group protocol: for 1.5 s every answer of that step
 * is lost after the simulator processed the request (the connection is reset), then the fault
 * stops. create lost: an empty group is left behind and the jobs go into new groups; add lost
 * and send lost: the sender reads the recorded group (sending it when still PENDING) and finds
 * its messages there. Every job ends with exactly one accepted message. */
static void test_step_faults(void **state)
{
    static const char *const steps[3] = {"create", "add", "send"};
    itest *t = *state;
    ledger_row *rows = calloc(MAX_JOBS, sizeof(*rows));
    long seen = 0;
    char knobs[128];

    assert_non_null(rows);
    mf_test_sleep_ms(7000); /* both senders in the group */
    for (int k = 0; k < 3; k++) {
        size_t from = S0 + (size_t)k * 40, to = from + 40;

        long long resets = sim_stat(t, "resets");

        snprintf(knobs, sizeof(knobs), "{\"reset_ratio\":1,\"reset_steps\":\"%s\"}", steps[k]);
        sim_config(t, knobs);
        produce_jobs(t, from, to);
        mf_test_sleep_ms(1500);
        sim_config(t, "{\"reset_ratio\":0,\"reset_steps\":\"\"}");
        if (sim_stat(t, "resets") <= resets)
            fail_msg("no %s answer was lost: the fault did not happen", steps[k]);
        seen += 40;
        collect_results(t, seen);
        read_ledger(t, rows);
        for (size_t i = from; i < to; i++) {
            if (rows[i].count != 1 || t->jobs[i].st != MF_RESULT_ACCEPTED)
                fail_msg("%s lost: job %zu sent %d times, result %d %s", steps[k], i, rows[i].count,
                         (int)t->jobs[i].st, t->jobs[i].code);
            assert_int_equal(t->jobs[i].results, 1);
        }
    }
    free(rows);
}

/* ---- cancelled runs and paused workflows ------------------------------------------- */

static void exec_sql(itest *t, const char *sql, const char *arg)
{
    const char *p[1] = {arg};

    PQclear(q(t, sql, 1, p));
}

/*
 * A cancelled run: its jobs get no provider call and a cancelled result (code RUN_CANCELLED),
 * also those held on the retry topic for a later not-before (taken at once, not at their
 * time); a redelivery re-emits the same outcome from the claims. A paused workflow: its jobs
 * are neither sent nor failed while paused, and each goes out exactly once after the resume.
 */
static void test_cancel_and_pause(void **state)
{
    itest *t = *state;
    ledger_row *rows = calloc(MAX_JOBS, sizeof(*rows));
    const size_t c0 = NJOBS, c1 = NJOBS + 100, c2 = NJOBS + 110; /* run 1: cancelled */
    double cancelled = 0, paused = 0;
    int64_t t0;

    assert_non_null(rows);
    mf_test_sleep_ms(7000); /* both senders in the group */
    exec_sql(t, "UPDATE workflow_runs SET status = 'cancelled' WHERE id = $1", t->run[1]);
    t0 = mf_test_now_ms();
    produce_jobs(t, c0, c1);
    produce_jobs_to(t, c1, c2, t->t_retry, t0 + 120000); /* held like quiet-hours jobs */
    collect_results(t, (long)(c2 - c0));
    assert_int_equal(read_ledger(t, rows), 0);
    for (size_t i = c0; i < c2; i++) {
        const tjob *j = &t->jobs[i];

        if (j->st != MF_RESULT_CANCELLED || strcmp(j->code, "RUN_CANCELLED") != 0)
            fail_msg("job %zu of the cancelled run: status %d code %s", i, (int)j->st, j->code);
        assert_int_equal(j->type, j->kind == K_LMS     ? MF_TYPE_LMS /* the template's */
                                  : j->kind == K_KAKAO ? MF_TYPE_KAKAO
                                                       : MF_TYPE_SMS);
        assert_true(j->seen_ms < t0 + 30000); /* the held ones did not wait for their time */
    }
    /* redelivered: the same outcome again, from the claims */
    produce_jobs(t, c0, c1);
    collect_results(t, (long)(c2 - c0) + 100);
    assert_int_equal(read_ledger(t, rows), 0);
    for (size_t i = c0; i < c1; i++)
        assert_int_equal(t->jobs[i].results, 2);

    /* paused (both runs share the workflow; the cancelled one stays cancelled) */
    exec_sql(t, "UPDATE workflows SET status = 'paused' WHERE id = $1", t->wf);
    mf_test_sleep_ms(1500); /* every sender's answer is older than MF_SENDER_HALT_CHECK_MS */
    produce_jobs(t, 0, 100);
    mf_test_sleep_ms(5000);
    assert_int_equal(t->results_total, (long)(c2 - c0) + 100);
    {
        mf_kafka_msg msgs[64];
        size_t n = 0;
        mf_err err;

        assert_int_equal(mf_kafka_consume(t->rcons, msgs, 64, 1000, &n, &err), 0);
        if (n > 0)
            fail_msg("%zu results while the workflow was paused", n);
    }
    assert_int_equal(read_ledger(t, rows), 0);
    for (int i = 0; i < 2; i++) {
        char *m = scrape(t, i);

        cancelled += metric_sum(m, "msgfleet_sender_messages_total", "status=\"cancelled\"");
        paused += metric_sum(m, "msgfleet_sender_jobs_paused_total", "");
        free(m);
    }
    assert_true(cancelled == (double)(c2 - c0)); /* re-emitted outcomes are not counted */
    assert_true(paused >= 100);
    exec_sql(t, "UPDATE workflows SET status = 'active' WHERE id = $1", t->wf);
    collect_results(t, (long)(c2 - c0) + 200);
    read_ledger(t, rows);
    check_jobs(t, 0, 100, rows, 1);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_senders_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_doubt_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_pause, setup, teardown),
    };

    if (getenv("ITEST_FILTER") != NULL) /* e.g. ITEST_FILTER=test_faults */
        cmocka_set_test_filter(getenv("ITEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
