/* itest_reporter_webhook: the delivery-report webhook against the dev stack: real single-report
 * bodies finalise message_logs rows, repeats change nothing, token/size/format checks, 503
 * while Kafka cannot acknowledge, the poller leaves young rows to the webhook, and reports
 * that come before their rows are applied when the rows are recorded. */
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
#include "mf_runs.h"
#include "mf_test.h"
#include "mf_uuid.h"
#include "rep_itest.h"

#define NPARTS 2
#define NJOBS 12
#define TOKEN "wh_0123456789abcdefghijklmnopqrstuvWXYZ"
#define TOKEN_OLD "old-ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
#define MAX_BODY "65536"

typedef struct itest {
    rep_itest fx;
    int hook_port;
    /* the run and its jobs */
    rep_itest_run run;
    char job[NJOBS][MF_UUID_STR_SIZE];
    char mid[NJOBS][40];
} itest;

/* ---- the reporter ------------------------------------------------------------------------ */

/* Port of the log line {"msg":"webhook listening",...,"port":N}; fails the test without one. */
static int webhook_port(itest *t, int timeout_ms)
{
    for (long long since = mf_test_mono_ms(), waited = 0; waited < timeout_ms;
         waited = mf_test_mono_ms() - since) {
        FILE *f = fopen(t->fx.logfile, "r");
        char line[2048];
        int port = 0;

        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            const char *p = strstr(line, "\"port\":");

            if (strstr(line, "\"msg\":\"webhook listening\"") != NULL && p != NULL)
                port = (int)strtol(p + 7, NULL, 10);
        }
        if (f != NULL)
            fclose(f);
        if (port > 0)
            return port;
        mf_test_sleep_ms(50);
    }
    fail_msg("no \"webhook listening\" line in %s", t->fx.logfile);
    return 0;
}

static void start_reporter(itest *t, const char *brokers, const char *const *more)
{
    const char *env[64] = {"MF_PG_DSN",
                           t->fx.dsn,
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
                           "MF_REPORTER_LINGER_MS",
                           "50",
                           "MF_REPORTER_LAG_INTERVAL_MS",
                           "200",
                           "MF_REPORTER_WEBHOOK_ENABLED",
                           "true",
                           "MF_REPORTER_WEBHOOK_PORT",
                           "0",
                           "MF_REPORTER_WEBHOOK_TOKEN",
                           TOKEN,
                           "MF_REPORTER_WEBHOOK_TOKEN_OLD",
                           TOKEN_OLD,
                           "MF_REPORTER_WEBHOOK_MAX_BODY",
                           MAX_BODY,
                           "MF_LOG_LEVEL",
                           "debug",
                           "MF_INSTANCE_ID",
                           "itest-reporter-webhook",
                           NULL};
    size_t n = 0;

    while (env[n] != NULL)
        n++;
    for (size_t i = 0; more != NULL && more[i] != NULL && n + 2 < 63; i++)
        env[n++] = more[i];
    env[n] = NULL;
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): logfile is an array member */
    unlink(t->fx.logfile);
    t->fx.reporter = mf_test_spawn(t->fx.bin, env, t->fx.logfile, -1);
    assert_true(t->fx.reporter > 0);
    t->fx.http_port = mf_test_log_http_port(t->fx.logfile, 15000);
    t->hook_port = webhook_port(t, 15000);
}

static void stop_reporter(itest *t)
{
    assert_int_equal(mf_test_stop(t->fx.reporter, 25000, NULL), 0);
    t->fx.reporter = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    mf_err err;

    return mf_buf_append(ud, p, size * n, &err) == 0 ? size * n : 0;
}

/* method path on the webhook port with body (NULL: none; chunked: no Content-Length). The
 * status; the answer into out (NUL-terminated). */
static long hook(itest *t, const char *method, const char *path, const char *body, int chunked,
                 mf_buf *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];
    long status = 0;
    mf_err err;

    assert_non_null(c);
    mf_buf_reset(out);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", t->hook_port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (chunked)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    mf_buf_append_char(out, '\0', &err);
    return status;
}

static long post_report(itest *t, const char *token, const char *body, mf_buf *out)
{
    char path[256];

    snprintf(path, sizeof(path), "/%s/single-report", token);
    return hook(t, "POST", path, body, 0, out);
}

/* Sum of the samples of `name` whose labels contain the filter (may be NULL). */
static double metric(itest *t, const char *name, const char *filter)
{
    mf_buf b;
    double sum;

    mf_buf_init(&b, 0);
    assert_int_equal(rep_itest_http_get(&t->fx, "/metrics", &b), 200);
    sum = rep_itest_metric(b.data, name, filter, NULL);
    mf_buf_free(&b);
    return sum;
}

/* Whether the results topic holds a `status` result keyed by job (read from the beginning
 * by a consumer group of its own). */
static int on_topic(itest *t, const char *job, mf_result_status status, int timeout_ms)
{
    mf_kafka_conf kc = {0};
    mf_kafka_consumer_opts co = {0};
    const char *topics[2] = {t->fx.topic, NULL};
    char group[160];
    mf_kafka_consumer *c;
    mf_codec *codec;
    mf_kafka_msg msgs[64];
    int found = 0;
    mf_err err;

    kc.brokers = t->fx.brokers;
    snprintf(group, sizeof(group), "%s-peek-%lld", t->fx.group, mf_test_mono_ms());
    co.group_id = group;
    co.topics = topics;
    co.offsets = MF_KAFKA_OFFSETS_STORE;
    c = mf_kafka_consumer_new(&kc, &co, &err);
    assert_non_null(c);
    codec = mf_codec_new(&err);
    assert_non_null(codec);
    for (long long end = mf_test_mono_ms() + timeout_ms; !found && mf_test_mono_ms() < end;) {
        size_t n = 0;

        assert_int_equal(mf_kafka_consume(c, msgs, 64, 500, &n, &err), 0);
        for (size_t i = 0; i < n; i++) {
            mf_result r;

            if (msgs[i].key_len == strlen(job) && memcmp(msgs[i].key, job, msgs[i].key_len) == 0 &&
                msgs[i].val != NULL &&
                mf_codec_decode_result(codec, msgs[i].val, msgs[i].val_len, &r, &err) == 0 &&
                r.status == status)
                found = 1;
        }
        mf_kafka_release(msgs, n);
        mf_codec_reset(codec);
    }
    mf_codec_free(codec);
    mf_kafka_consumer_free(c);
    return found;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    *state = rep_itest_new(sizeof(itest), "rephook", "itest_reporter_webhook", NPARTS, 0);
    return 0;
}

/* ---- the run: NJOBS accepted messages ------------------------------------------------------ */

/* Jobs 0..9 are SMS, 10 a short and 11 a long alimtalk. */
#define IS_KAKAO(i) ((i) >= 10)

static void job_text(int i, char *out, size_t cap)
{
    if (i == 11)
        snprintf(out, cap,
                 "고객%d님, 주문하신 상품이 오늘 출고되었습니다. 배송 조회는 "
                 "마이페이지에서 하실 수 있습니다. 감사합니다.",
                 i);
    else
        snprintf(out, cap, "고객%d님 안녕하세요", i);
}

static void job_phone(int i, char *out, size_t cap)
{
    snprintf(out, cap, "010%08d", 20000000 + i);
}

/* A running run of NJOBS recipients: the run row, its job ids and provider message ids. */
static void make_run_rows(itest *t)
{
    char phone[16];
    mf_uuid id;

    rep_itest_make_run(&t->fx, NJOBS, "0 s", &t->run);
    for (int i = 0; i < NJOBS; i++) {
        job_phone(i, phone, sizeof(phone));
        snprintf(t->mid[i], sizeof(t->mid[i]), "M4V20260101WEBHOOK%013d", i);
        mf_uuid_job_id(&t->run.uid, (uint64_t)t->run.started_ms, phone, 0, &id);
        mf_uuid_format(&id, t->job[i]);
    }
}

/* The `accepted` results of the run's jobs on the topic, keyed by job id like the sender's. */
static void produce_accepted(itest *t)
{
    mf_uuid wf, tp;
    mf_err err;
    long long now = mf_test_now_ms();

    assert_int_equal(mf_uuid_parse(t->fx.wf, &wf, &err), 0);
    assert_int_equal(mf_uuid_parse(t->fx.tpl, &tp, &err), 0);
    for (int i = 0; i < NJOBS; i++) {
        mf_result r;
        char phone[16], name[32], text[512];

        job_phone(i, phone, sizeof(phone));
        snprintf(name, sizeof(name), "고객%d", i);
        job_text(i, text, sizeof(text));
        memset(&r, 0, sizeof(r));
        assert_int_equal(mf_uuid_parse(t->job[i], &r.id, &err), 0);
        r.run = t->run.uid;
        r.wf = wf;
        r.tpl = tp;
        r.status = MF_RESULT_ACCEPTED;
        r.to = phone;
        r.name = name;
        r.type = IS_KAKAO(i) ? MF_TYPE_KAKAO : MF_TYPE_SMS;
        r.channel = r.type;
        r.text = text;
        r.provider_msg_id = t->mid[i];
        r.group_id = "G4V20260101WEBHOOKGROUP0000001";
        r.code = "2000";
        r.ts_ms = now;
        r.sent_ms = now;
        rep_itest_produce_result(&t->fx, t->job[i], &r);
    }
    rep_itest_flush(&t->fx);
    /* the group as the sender records it with the claims: what the status poller reads */
    {
        char arr[NJOBS * (MF_UUID_STR_SIZE + 1) + 3];
        size_t len = 0;
        const char *gp[1] = {arr};

        arr[len++] = '{';
        for (int i = 0; i < NJOBS; i++)
            len += (size_t)snprintf(arr + len, sizeof(arr) - len, "%s%s", i > 0 ? "," : "",
                                    t->job[i]);
        arr[len++] = '}';
        arr[len] = '\0';
        assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                       "WITH g AS (INSERT INTO mf_claim_groups"
                                       " (chunk_id, group_id, job_ids) VALUES (gen_random_uuid(),"
                                       " 'G4V20260101WEBHOOKGROUP0000001', $1::uuid[]) RETURNING 1)"
                                       " SELECT count(*) FROM g",
                                       1, gp),
                         1);
    }
}

/* A delivered result of job i about provider message mid at ts_ms, as the poller or the
 * receiver produce it, straight onto the topic. */
static void produce_delivered(itest *t, int i, const char *mid, long long ts_ms)
{
    mf_result r;
    char phone[16];
    mf_err err;

    job_phone(i, phone, sizeof(phone));
    memset(&r, 0, sizeof(r));
    assert_int_equal(mf_uuid_parse(t->job[i], &r.id, &err), 0);
    r.run = t->run.uid;
    r.status = MF_RESULT_DELIVERED;
    r.to = phone;
    r.type = MF_TYPE_SMS;
    r.provider_msg_id = mid;
    r.code = "4000";
    r.ts_ms = ts_ms;
    rep_itest_produce_result(&t->fx, t->job[i], &r);
    rep_itest_flush(&t->fx);
}

/* A running run of NJOBS recipients and their `accepted` results on the topic. */
static void make_run(itest *t)
{
    make_run_rows(t);
    produce_accepted(t);
}

static long long count_where(itest *t, const char *cond)
{
    char sql[512];
    const char *p[1] = {t->run.id};

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM message_logs WHERE workflow_run_id = $1::uuid"
             " AND %s",
             cond);
    return mf_test_pg_ll(t->fx.pg, sql, 1, p);
}

static void wait_count(itest *t, const char *cond, long long want, int timeout_ms)
{
    long long got = -1, end = mf_test_mono_ms() + timeout_ms;

    for (;;) {
        if ((got = count_where(t, cond)) == want)
            return;
        if (mf_test_mono_ms() >= end)
            break;
        rep_itest_assert_alive(&t->fx);
        mf_test_sleep_ms(100);
    }
    fail_msg("%lld rows with %s, not %lld, after %d ms (see %s)", got, cond, want, timeout_ms,
             t->fx.logfile);
}

/* One column of job i's row as text. */
static void col(itest *t, int i, const char *expr, char *out, size_t cap)
{
    char sql[256];
    const char *p[1] = {t->job[i]};

    snprintf(sql, sizeof(sql), "SELECT (%s)::text FROM message_logs WHERE id = $1::uuid", expr);
    mf_test_pg_str(t->fx.pg, sql, 1, p, out, cap);
}

static long long col_ll(itest *t, int i, const char *expr)
{
    char v[64];

    col(t, i, expr, v, sizeof(v));
    return v[0] ? strtoll(v, NULL, 10) : -1;
}

/* Everything the webhook may change in the run's rows, as one text. */
static void digest(itest *t, char *out, size_t cap)
{
    const char *p[1] = {t->run.id};

    mf_test_pg_str(t->fx.pg,
                   "SELECT md5(string_agg(concat_ws('|', id, status, delivered_at, failed_at,"
                   " cost, error_code, error_message, channel, provider_status_code), ','"
                   " ORDER BY id)) || (SELECT concat_ws('|', success_count, failed_count,"
                   " total_cost) FROM workflow_runs WHERE id = $1::uuid)"
                   " FROM message_logs WHERE workflow_run_id = $1::uuid",
                   1, p, out, cap);
}

static void wait_metric(itest *t, const char *name, const char *filter, long long want,
                        int timeout_ms)
{
    long long got = -1;

    for (long long since = mf_test_mono_ms(), waited = 0; waited < timeout_ms;
         waited = mf_test_mono_ms() - since) {
        if ((got = (long long)metric(t, name, filter)) == want)
            return;
        mf_test_sleep_ms(100);
    }
    fail_msg("%s{%s} is %lld, not %lld, after %d ms (see %s)", name, filter ? filter : "", got,
             want, timeout_ms, t->fx.logfile);
}

/* ---- report bodies ----------------------------------------------------------------------- */

static void iso(long long ms, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];

    gmtime_r(&s, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", base, (int)(ms % 1000));
}

/* One report as SOLAPI sends it: {eventDataId, data: {...}, retryCount}, or (wrapped = 0) the
 * message object alone. job/run/mid NULL: left out. The provider registered the message at
 * created_ms. */
static void add_report_created(mf_buf *b, int wrapped, const char *mid, const char *job,
                               const char *run, const char *type, const char *code, const char *msg,
                               long long recv_ms, int replacement, long long created_ms)
{
    char when[40], proc[40], created[40], cf[256] = "";
    mf_err err;

    iso(recv_ms, when, sizeof(when));
    iso(recv_ms - 500, proc, sizeof(proc));
    iso(created_ms, created, sizeof(created));
    if (job != NULL && run != NULL)
        snprintf(cf, sizeof(cf), "{\"jobId\":\"%s\",\"runId\":\"%s\"}", job, run);
    else if (job != NULL)
        snprintf(cf, sizeof(cf), "{\"jobId\":\"%s\"}", job);
    else
        snprintf(cf, sizeof(cf), "{}");
    if (b->len > 1)
        mf_buf_append_char(b, ',', &err);
    if (wrapped)
        mf_buf_printf(b, &err, "{\"eventDataId\":\"EVT%s\",\"data\":", mid);
    mf_buf_printf(b, &err,
                  "{\"messageId\":\"%s\",\"groupId\":\"G4V20260101WEBHOOKGROUP0000001\","
                  "\"to\":\"01020000000\",\"from\":\"0212345678\",\"type\":\"%s\","
                  "\"statusCode\":\"%s\",\"statusMessage\":\"%s\",\"dateProcessed\":\"%s\","
                  "\"dateReported\":\"%s\",\"dateReceived\":\"%s\",\"dateCreated\":\"%s\","
                  "\"customFields\":%s,\"replacement\":%s,\"country\":\"82\","
                  "\"networkName\":\"SKT\"}",
                  mid, type, code, msg, proc, when, when, created, cf,
                  replacement ? "true" : "false");
    if (wrapped)
        mf_buf_printf(b, &err, ",\"retryCount\":0}");
}

/* The same, registered 5 s before it was received. */
static void add_report(mf_buf *b, int wrapped, const char *mid, const char *job, const char *run,
                       const char *type, const char *code, const char *msg, long long recv_ms,
                       int replacement)
{
    add_report_created(b, wrapped, mid, job, run, type, code, msg, recv_ms, replacement,
                       recv_ms - 5000);
}

/* The status poller on, its list API unreachable (asking shows as an `error` poll). */
#define POLLER_ON                                                                                  \
    "MF_REPORTER_STATUS_ENABLED", "true", "MF_COOLSMS_BASE_URL", "http://127.0.0.1:1",             \
        "MF_COOLSMS_API_KEY", "NCSWEBHOOKTEST01", "MF_COOLSMS_API_SECRET",                         \
        "WEBHOOKTESTSECRET0123456789ABCDEF"

/* Until the status poller has asked the (unreachable) list API once: an `error` poll. */
static void wait_asked(itest *t)
{
    for (long long since = mf_test_mono_ms(), waited = 0;
         metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"error\"") == 0;
         waited = mf_test_mono_ms() - since) {
        if (waited > 15000)
            fail_msg("the poller did not ask about the sent rows (see %s)", t->fx.logfile);
        mf_test_sleep_ms(100);
    }
}

/* ---- tests ------------------------------------------------------------------------------- */

/*
 * Real single-report bodies: delivered (4000) and failed (3043) rows with code and times, the
 * alimtalk fallback's channel, pending/unknown/foreign reports skipped, the result on the
 * results topic when 200 comes, a repeat that changes nothing, the old token during rotation,
 * 404/413/400, group-report, /healthz unaffected, and a poller that leaves young rows alone.
 * Reports that name their run are produced without reading their rows (the receiver cannot
 * tell a repeat or a stale report from a new one): the batch writer's update leaves a row
 * alone whose provider message or run is another than the report's, or that is final already.
 */
static void test_webhook_reports(void **state)
{
    itest *t = *state;
    const char *more[] = {POLLER_ON, "MF_REPORTER_STATUS_DELAY_MS",
                          "0",       "MF_REPORTER_STATUS_POLL_AFTER_MS",
                          "600000",  "MF_REPORTER_STATUS_INTERVAL_MS",
                          "100",     NULL};
    long long recv = mf_test_now_ms() + 60000, fail_at = recv + 1234;
    char foreign_job[MF_UUID_STR_SIZE], other_run[MF_UUID_STR_SIZE], v[512], before[128],
        after[128], path[256];
    rep_itest_run second; /* another run of the workflow (ended: the poller does not wait) */
    mf_uuid u;
    mf_buf body, out, big;
    mf_err err;

    mf_buf_init(&body, 0);
    mf_buf_init(&out, 0);
    mf_buf_init(&big, 0);
    make_run(t);
    start_reporter(t, t->fx.brokers, more);
    wait_count(t, "status = 'sent'", NJOBS, 30000);

    assert_int_equal(mf_uuid_v4(&u, &err), 0);
    mf_uuid_format(&u, foreign_job);
    assert_int_equal(mf_uuid_v4(&u, &err), 0);
    mf_uuid_format(&u, other_run);
    rep_itest_make_run(&t->fx, 1, "0 s", &second);
    {
        const char *p2[1] = {second.id};

        assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                       "WITH f AS (UPDATE workflow_runs SET status = 'failed'"
                                       " WHERE id = $1::uuid RETURNING 1) SELECT count(*) FROM f",
                                       1, p2),
                         1);
    }
    mf_buf_append_char(&body, '[', &err);
    for (int i = 0; i <= 3; i++) /* delivered */
        add_report(&body, 1, t->mid[i], t->job[i], t->run.id, "SMS", "4000", "정상 수신", recv, 0);
    for (int i = 4; i <= 5; i++) /* failed at the carrier */
        add_report(&body, 1, t->mid[i], t->job[i], t->run.id, "SMS", "3043", "착신 거부", fail_at,
                   0);
    add_report(&body, 1, t->mid[6], t->job[6], t->run.id, "SMS", "3000", "", recv, 0); /* pending */
    add_report(&body, 1, t->mid[6], t->job[6], second.id, "SMS", "4000", "", recv,
               0); /* names another (existing) run than the row's */
    add_report(&body, 1, "M4VSOMEOTHERMESSAGE0000000000007", t->job[7], t->run.id, "SMS", "4000",
               "", recv, 0);                                                           /* stale */
    add_report(&body, 0, t->mid[8], t->job[8], NULL, "SMS", "4000", "", recv, 0);      /* bare */
    add_report(&body, 1, t->mid[9], t->job[9], other_run, "SMS", "4000", "", recv, 0); /* foreign */
    add_report(&body, 1, t->mid[10], t->job[10], t->run.id, "ATA", "4000", "", recv,
               1); /* -> sms */
    add_report(&body, 1, t->mid[11], t->job[11], t->run.id, "LMS", "4000", "", recv,
               1); /* -> lms */
    add_report(&body, 1, "M4VNOTOURS000000000000000000001", foreign_job, NULL, "SMS", "4000", "",
               recv, 0); /* unknown */
    add_report(&body, 1, "M4VNOCUSTOMFIELDS00000000000001", NULL, NULL, "SMS", "4000", "", recv,
               0); /* unknown */
    mf_buf_append_str(&body, ",{\"eventDataId\":\"x\",\"data\":{\"statusCode\":\"4000\"}}]", &err);

    /* 200 once the results are on the topic (that they are not before: the next test) */
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    assert_true(on_topic(t, t->job[0], MF_RESULT_DELIVERED, 20000));
    assert_true(on_topic(t, t->job[4], MF_RESULT_UNDELIVERED, 20000));
    wait_count(t, "status = 'delivered'", 7, 20000);
    wait_count(t, "status = 'failed'", 2, 20000);
    for (int i = 0; i <= 3; i++) {
        assert_int_equal(col_ll(t, i, "floor(extract(epoch FROM delivered_at) * 1000)::bigint"),
                         recv);
        col(t, i, "provider_status_code", v, sizeof(v));
        assert_string_equal(v, "4000");
        col(t, i, "channel", v, sizeof(v));
        assert_string_equal(v, "sms");
        assert_int_equal(col_ll(t, i, "cost * 100"), 1000);
    }
    for (int i = 4; i <= 5; i++) {
        assert_int_equal(col_ll(t, i, "floor(extract(epoch FROM failed_at) * 1000)::bigint"),
                         fail_at);
        col(t, i, "status || '/' || error_code || '/' || error_message || '/' || cost", v,
            sizeof(v));
        assert_string_equal(v, "failed/3043/착신 거부/0.00");
        col(t, i, "delivered_at IS NULL", v, sizeof(v));
        assert_string_equal(v, "true");
    }
    for (int i = 6; i <= 9; i++) {
        col(t, i, "status", v, sizeof(v));
        assert_string_equal(v, i == 8 ? "delivered" : "sent");
    }
    col(t, 10, "status || '/' || channel || '/' || message_type", v, sizeof(v));
    assert_string_equal(v, "delivered/sms/kakao");
    col(t, 11, "status || '/' || channel || '/' || message_type", v, sizeof(v));
    assert_string_equal(v, "delivered/lms/kakao");
    rep_itest_assert_consistent(t->fx.pg, NULL);
    /* produced: 0-3, 6 (another run), 7 (stale), 8 and 10 (read their rows), 11 */
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"delivered\""), 9);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_reports_total",
                                       "status=\"undelivered\""),
                     2);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"pending\""), 1);
    /* the batch writer dropped 6 and 7 */
    wait_metric(t, "msgfleet_reporter_duplicates_total", NULL, 2, 20000);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"stale\""), 0);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"unknown\""), 3);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"invalid\""), 1);

    /* the same body again, with the old token (rotation): 200, nothing moves */
    digest(t, before, sizeof(before));
    assert_int_equal(post_report(t, TOKEN_OLD, body.data, &out), 200);
    mf_test_sleep_ms(1500);
    digest(t, after, sizeof(after));
    assert_string_equal(before, after);
    /* the receiver saw 8 and 10 final; the writer found the other 9 final or not theirs */
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"duplicate\""), 2);
    wait_metric(t, "msgfleet_reporter_duplicates_total", NULL, 2 + 9, 20000);
    digest(t, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_requests_total", "outcome=\"ok\""), 2);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_old_token_total", NULL), 1);
    /* each answered request timed, whole and its wait for Kafka (a part of the whole) */
    for (int k = 0; k < 2; k++) {
        const char *part = k == 0 ? "part=\"total\"" : "part=\"kafka\"";

        assert_true(metric(t, "msgfleet_reporter_webhook_request_seconds_count", part) == 2.0);
    }
    assert_true(metric(t, "msgfleet_reporter_webhook_request_seconds_sum", "part=\"kafka\"") > 0);
    assert_true(metric(t, "msgfleet_reporter_webhook_request_seconds_sum", "part=\"total\"") >
                metric(t, "msgfleet_reporter_webhook_request_seconds_sum", "part=\"kafka\""));

    /* 404 for anything else, always the same answer */
    {
        char wrong[64];
        const char *paths[] = {wrong,
                               "/" TOKEN,
                               "/" TOKEN "/",
                               "/" TOKEN "/single-report/",
                               "/" TOKEN "/fax",
                               "/" TOKEN "x/single-report",
                               "/wh_0123456789/single-report",
                               "/single-report",
                               "/healthz",
                               "/",
                               "//single-report"};

        snprintf(wrong, sizeof(wrong), "/%s", TOKEN "/single-report");
        wrong[5] ^= 1; /* one character off, same length */
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            assert_int_equal(hook(t, "POST", paths[i], "[]", 0, &out), 404);
            assert_string_equal(out.data, "not found\n");
        }
        snprintf(path, sizeof(path), "/%s/single-report", TOKEN);
        assert_int_equal(hook(t, "GET", path, NULL, 0, &out), 404);
        assert_string_equal(out.data, "not found\n");
        assert_int_equal(hook(t, "PUT", path, "[]", 0, &out), 404);
    }
    assert_false(mf_test_file_contains(t->fx.logfile, TOKEN));
    assert_false(mf_test_file_contains(t->fx.logfile, TOKEN_OLD));

    /* 413 beyond MF_REPORTER_WEBHOOK_MAX_BODY, announced or chunked */
    mf_buf_append_char(&big, '[', &err);
    while (big.len < 70000)
        add_report(&big, 1, t->mid[6], t->job[6], t->run.id, "SMS", "3000", "", recv, 0);
    mf_buf_append_char(&big, ']', &err);
    snprintf(path, sizeof(path), "/%s/single-report", TOKEN);
    assert_int_equal(hook(t, "POST", path, big.data, 0, &out), 413);
    assert_int_equal(hook(t, "POST", path, big.data, 1, &out), 413);
    /* a chunked body under the limit is fine */
    assert_int_equal(hook(t, "POST", path, "[]", 1, &out), 200);

    /* 400 for what is not a JSON array */
    assert_int_equal(post_report(t, TOKEN, "[{\"data\":", &out), 400);
    assert_int_equal(post_report(t, TOKEN, "{\"data\":{}}", &out), 400);
    assert_int_equal(post_report(t, TOKEN, "", &out), 400);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_requests_total",
                                       "outcome=\"bad_request\""),
                     3);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_requests_total",
                                       "outcome=\"too_large\""),
                     2);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_requests_total",
                                       "outcome=\"not_found\""),
                     13);

    /* group-report: logged and counted */
    snprintf(path, sizeof(path), "/%s/group-report", TOKEN);
    assert_int_equal(hook(t, "POST", path,
                          "[{\"eventDataId\":\"G1\",\"data\":{\"groupId\":"
                          "\"G4V20260101WEBHOOKGROUP0000001\",\"status\":\"COMPLETE\","
                          "\"count\":{\"total\":12}},\"retryCount\":0}]",
                          0, &out),
                     200);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_group_reports_total", NULL),
                     1);
    assert_true(mf_test_file_contains(t->fx.logfile, "\"msg\":\"group report\""));

    /* /healthz of the operations port unaffected; the poller left the young rows alone */
    {
        char url[128];

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", t->fx.http_port);
        assert_int_equal(mf_test_http(NULL, url, NULL, 5000, &out), 200);
    }
    assert_true(metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"idle\"") > 0);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"ok\""),
                     0);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"error\""), 0);
    stop_reporter(t);

    /* ... which it asks about once they are older than MF_REPORTER_STATUS_POLL_AFTER_MS (here
     * the API is unreachable: the poll fails, the rows stay as they are); the reports above
     * applied two minutes ago, else the poller counts from the send of the rows they reached,
     * the same as these rows' (test_webhook_frontier) */
    mf_test_pg_exec(t->fx.pg,
                    "UPDATE mf_consumer_offsets SET reports_at = now() - interval '2 min'");
    more[11] = "1000";
    start_reporter(t, t->fx.brokers, more);
    wait_asked(t);
    digest(t, after, sizeof(after));
    assert_string_equal(before, after);
    stop_reporter(t);
    mf_buf_free(&body);
    mf_buf_free(&out);
    mf_buf_free(&big);
}

/* Kafka cannot acknowledge: 503 (the provider sends the report again) and nothing changes;
 * the same report once Kafka is back: 200 and the row is final. */
static void test_webhook_kafka_down(void **state)
{
    itest *t = *state;
    const char *down[] = {"MF_REPORTER_WEBHOOK_ACK_MS", "1000", NULL};
    long long recv = mf_test_now_ms() + 30000, t0, took;
    char before[128], after[128];
    mf_buf body, out;
    mf_err err;

    mf_buf_init(&body, 0);
    mf_buf_init(&out, 0);
    make_run(t);
    start_reporter(t, t->fx.brokers, NULL);
    wait_count(t, "status = 'sent'", NJOBS, 30000);
    stop_reporter(t);

    mf_buf_append_char(&body, '[', &err);
    add_report(&body, 1, t->mid[0], t->job[0], t->run.id, "SMS", "4000", "", recv, 0);
    add_report(&body, 1, t->mid[1], t->job[1], t->run.id, "SMS", "3059", "발신번호 변조", recv, 0);
    mf_buf_append_char(&body, ']', &err);

    digest(t, before, sizeof(before));
    start_reporter(t, "127.0.0.1:1", down);
    t0 = mf_test_mono_ms();
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 503);
    took = mf_test_mono_ms() - t0;
    print_message("Kafka down: 503 after %lld ms\n", took);
    assert_true(took >= 900 && took < 10000);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_requests_total",
                                       "outcome=\"unavailable\""),
                     1);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_reports_total", NULL), 0);
    assert_true(mf_test_file_contains(t->fx.logfile, "delivery reports not recorded"));
    {
        int rc = mf_test_stop(t->fx.reporter, 25000, NULL);

        t->fx.reporter = 0;
        assert_true(rc == 0 || rc == 1);
    }
    digest(t, after, sizeof(after));
    assert_string_equal(before, after);

    /* the provider's next attempt */
    start_reporter(t, t->fx.brokers, NULL);
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    wait_count(t, "status = 'delivered'", 1, 20000);
    wait_count(t, "status = 'failed' AND error_code = '3059'", 1, 20000);
    assert_int_equal(col_ll(t, 0, "floor(extract(epoch FROM delivered_at) * 1000)::bigint"), recv);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    stop_reporter(t);
    mf_buf_free(&body);
    mf_buf_free(&out);
}

/* The reporters' record of how far the delivery reports have been applied: partitions that
 * applied one within the last minute, and the earliest of their lines (epoch ms; 0: none). */
static long long reports_applied(itest *t, long long *upto_ms)
{
    PGresult *q = mf_test_pg_query(t->fx.pg,
                                   "SELECT count(*), COALESCE(floor(extract(epoch FROM"
                                   " min(reports_sent_upto)) * 1000)::bigint, 0)"
                                   " FROM mf_consumer_offsets"
                                   " WHERE reports_at > now() - interval '1 min'",
                                   0, NULL);
    long long n = strtoll(PQgetvalue(q, 0, 0), NULL, 10);

    *upto_ms = strtoll(PQgetvalue(q, 0, 1), NULL, 10);
    PQclear(q);
    return n;
}

/*
 * While the reporters keep applying delivery reports, a message is overdue only against the
 * messages they reached: each batch records, per partition of the results topic, the latest
 * send among the messages whose reports it applied (mf_consumer_offsets.reports_sent_upto),
 * and the poller leaves alone the rows sent less than MF_REPORTER_STATUS_POLL_AFTER_MS before
 * that line, although the clock says they are overdue. A report the receiver took in whose
 * result is not applied yet does not count. Once none was applied for a minute, the poller
 * goes by the clock again (here the API is unreachable: asking shows as a failed poll).
 */
static void test_webhook_frontier(void **state)
{
    itest *t = *state;
    const char *more[] = {POLLER_ON, "MF_REPORTER_STATUS_POLL_AFTER_MS",
                          "600000",  "MF_REPORTER_STATUS_MAX_DEFER_MS",
                          "0",       "MF_REPORTER_STATUS_INTERVAL_MS",
                          "100",     NULL};
    const char *p[1] = {NULL};
    long long sent0, upto = -1;
    PGconn *locker;
    mf_buf body, out;
    mf_err err;

    mf_buf_init(&body, 0);
    mf_buf_init(&out, 0);
    make_run(t);
    start_reporter(t, t->fx.brokers, NULL); /* receiver and batches, no poller */
    wait_count(t, "status = 'sent'", NJOBS, 30000);
    /* sent 15 minutes ago, job 0 30 minutes ago: all overdue by the clock */
    p[0] = t->run.id;
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "WITH u AS (UPDATE message_logs SET sent_at = now() -"
                                   " interval '15 min' WHERE workflow_run_id = $1::uuid"
                                   " RETURNING 1) SELECT count(*) FROM u",
                                   1, p),
                     NJOBS);
    p[0] = t->job[0];
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "WITH u AS (UPDATE message_logs SET sent_at = now() -"
                                   " interval '30 min' WHERE id = $1::uuid RETURNING 1)"
                                   " SELECT count(*) FROM u",
                                   1, p),
                     1);
    mf_test_pg_exec(t->fx.pg, "UPDATE mf_claim_groups SET created_at = now() - interval '31 min'");
    sent0 = col_ll(t, 0, "floor(extract(epoch FROM sent_at) * 1000)::bigint");
    /* the senders' `accepted` results are no reports */
    assert_int_equal(reports_applied(t, &upto), 0);

    /* job 0's report, taken in (200: its result is on the topic) while a second session keeps
     * the batch from storing its offsets: nothing applied, no line */
    mf_buf_append_char(&body, '[', &err);
    add_report_created(&body, 1, t->mid[0], t->job[0], t->run.id, "SMS", "4000", "",
                       mf_test_now_ms(), 0, sent0 - 2000);
    mf_buf_append_char(&body, ']', &err);
    locker = mf_test_pg_connect(t->fx.admin_dsn, t->fx.db, "PostgreSQL (a second session)");
    mf_test_pg_exec(locker, "BEGIN");
    mf_test_pg_exec(locker, "SELECT * FROM mf_consumer_offsets FOR UPDATE");
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    mf_test_sleep_ms(1500);
    assert_int_equal(reports_applied(t, &upto), 0);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "SELECT count(*) FROM message_logs"
                                   " WHERE status = 'delivered'",
                                   0, NULL),
                     0);
    mf_test_pg_exec(locker, "COMMIT");
    PQfinish(locker);
    /* applied: one partition's line is job 0's send as the report tells it (the provider
     * registered the message 2 s before the fleet recorded it sent), 30 minutes ago */
    wait_count(t, "status = 'delivered'", 1, 20000);
    assert_int_equal(reports_applied(t, &upto), 1);
    print_message("line %lld ms, job 0 sent at %lld ms\n", upto, sent0);
    assert_int_equal(upto, sent0 - 2000);
    stop_reporter(t);

    /* the poller: nothing due while the reports keep coming */
    start_reporter(t, t->fx.brokers, more);
    mf_test_sleep_ms(3000);
    assert_true(metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"idle\"") > 0);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"error\""), 0);

    /* none applied for two minutes: by the clock, the rows are asked about */
    mf_test_pg_exec(t->fx.pg,
                    "UPDATE mf_consumer_offsets SET reports_at = now() - interval '2 min'");
    wait_asked(t);
    stop_reporter(t);
    mf_buf_free(&body);
    mf_buf_free(&out);
}

static long long early_waiting(itest *t)
{
    return mf_test_pg_ll(t->fx.pg, "SELECT count(*) FROM mf_early_finals", 0, NULL);
}

/*
 * Delivery reports that overtake their messages' `accepted` results (the reporters lag): the
 * receiver produces them without their rows (the run exists), the batch writer keeps them in
 * mf_early_finals, and the batch that records the rows applies them: every row ends with the
 * report's status and times, counters exact, without the poller (it would ask only after 3
 * hours). The same reports again, before and after the rows: applied once. A report about
 * another provider message than the row's is dropped when the row comes; one naming a run that
 * does not exist stays unknown. A full replay of the topic changes nothing.
 */
static void test_webhook_early(void **state)
{
    itest *t = *state;
    const char *more[] = {POLLER_ON,  "MF_REPORTER_STATUS_POLL_AFTER_MS",
                          "10800000", "MF_REPORTER_STATUS_INTERVAL_MS",
                          "100",      NULL};
    long long recv = mf_test_now_ms() + 60000, fail_at = recv + 1234, t0;
    char no_run[MF_UUID_STR_SIZE], v[512], before[128], after[128];
    const char *p[1];
    mf_uuid u;
    mf_buf body, out;
    mf_err err;

    mf_buf_init(&body, 0);
    mf_buf_init(&out, 0);
    make_run_rows(t); /* the run and its job ids; no result on the topic yet */
    start_reporter(t, t->fx.brokers, more);
    assert_int_equal(mf_uuid_v4(&u, &err), 0);
    mf_uuid_format(&u, no_run);

    mf_buf_append_char(&body, '[', &err);
    for (int i = 0; i <= 3; i++) /* delivered */
        add_report(&body, 1, t->mid[i], t->job[i], t->run.id, "SMS", "4000", "정상 수신", recv, 0);
    for (int i = 4; i <= 5; i++) /* failed at the carrier */
        add_report(&body, 1, t->mid[i], t->job[i], t->run.id, "SMS", "3043", "착신 거부", fail_at,
                   0);
    add_report(&body, 1, "M4VSOMEOTHERMESSAGE0000000000006", t->job[6], t->run.id, "SMS", "4000",
               "", recv, 0);                                                        /* stale */
    add_report(&body, 1, t->mid[7], t->job[7], no_run, "SMS", "4000", "", recv, 0); /* unknown */
    add_report(&body, 1, t->mid[11], t->job[11], t->run.id, "LMS", "4000", "", recv,
               1); /* -> lms */
    mf_buf_append_char(&body, ']', &err);

    /* before any row: 200, produced, kept waiting by the batch writer */
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"delivered\""), 6);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_reports_total",
                                       "status=\"undelivered\""),
                     2);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_webhook_reports_total", "status=\"unknown\""), 1);
    assert_true(on_topic(t, t->job[0], MF_RESULT_DELIVERED, 20000));
    wait_metric(t, "msgfleet_reporter_early_finals_total", "event=\"parked\"", 8, 20000);
    assert_int_equal(early_waiting(t), 8);
    assert_int_equal(count_where(t, "true"), 0);

    /* the provider sends them again: still no row, kept once */
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    wait_metric(t, "msgfleet_reporter_duplicates_total", NULL, 8, 20000);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_early_finals_total", "event=\"parked\""), 8);
    assert_int_equal(early_waiting(t), 8);

    /* the accepted results arrive: the rows are recorded final at once */
    t0 = mf_test_mono_ms();
    produce_accepted(t);
    wait_count(t, "status <> 'sent'", 7, 30000);
    print_message("early reports: rows final %lld ms after their accepted results were "
                  "produced\n",
                  mf_test_mono_ms() - t0);
    assert_int_equal(count_where(t, "true"), NJOBS);
    assert_int_equal(count_where(t, "status = 'delivered'"), 5);
    assert_int_equal(count_where(t, "status = 'failed'"), 2);
    assert_int_equal(count_where(t, "status = 'sent'"), 5);
    assert_int_equal(early_waiting(t), 0);
    wait_metric(t, "msgfleet_reporter_early_finals_total", "event=\"applied\"", 7, 5000);
    for (int i = 0; i <= 3; i++) {
        assert_int_equal(col_ll(t, i, "floor(extract(epoch FROM delivered_at) * 1000)::bigint"),
                         recv);
        col(t, i, "status || '/' || provider_status_code || '/' || channel || '/' || cost", v,
            sizeof(v));
        assert_string_equal(v, "delivered/4000/sms/10.00");
    }
    for (int i = 4; i <= 5; i++) {
        assert_int_equal(col_ll(t, i, "floor(extract(epoch FROM failed_at) * 1000)::bigint"),
                         fail_at);
        col(t, i, "status || '/' || error_code || '/' || error_message || '/' || cost", v,
            sizeof(v));
        assert_string_equal(v, "failed/3043/착신 거부/0.00");
        col(t, i, "delivered_at IS NULL AND message_content IS NOT NULL", v, sizeof(v));
        assert_string_equal(v, "true");
    }
    col(t, 6, "status", v, sizeof(v)); /* about another message of the job */
    assert_string_equal(v, "sent");
    col(t, 7, "status", v, sizeof(v)); /* named a run that does not exist */
    assert_string_equal(v, "sent");
    col(t, 11, "status || '/' || channel || '/' || message_type || '/' || recipient_name", v,
        sizeof(v));
    assert_string_equal(v, "delivered/lms/kakao/고객11");
    rep_itest_assert_consistent(t->fx.pg, NULL);
    p[0] = t->run.id;
    mf_test_pg_str(t->fx.pg,
                   "SELECT concat_ws('/', status, success_count, failed_count)"
                   " FROM workflow_runs WHERE id = $1::uuid",
                   1, p, v, sizeof(v));
    assert_string_equal(v, "completed/10/2");

    /* a result built from an early report can also find its row already there: applied by
     * the ordinary statement, which checks what the receiver could not: the messageId (job
     * 7: another message, nothing changes) and the time (job 8: a report 10 s before the
     * recorded send is recorded at the send) */
    produce_delivered(t, 7, "M4VSOMEOTHERMESSAGE0000000000007", recv);
    produce_delivered(t, 8, t->mid[8],
                      col_ll(t, 8, "floor(extract(epoch FROM sent_at) * 1000)::bigint") - 10000);
    wait_count(t, "status = 'delivered'", 6, 20000);
    col(t, 8, "delivered_at = sent_at", v, sizeof(v));
    assert_string_equal(v, "true");
    col(t, 7, "status", v, sizeof(v));
    assert_string_equal(v, "sent");
    wait_metric(t, "msgfleet_reporter_duplicates_total", NULL, 8 + 1, 20000);
    assert_int_equal(early_waiting(t), 0);
    rep_itest_assert_consistent(t->fx.pg, NULL);

    /* and once more after the rows: produced again (the receiver reads no row), duplicates to
     * the batch writer, nothing moves */
    digest(t, before, sizeof(before));
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_webhook_reports_total",
                                       "status=\"delivered\""),
                     18);
    wait_metric(t, "msgfleet_reporter_duplicates_total", NULL, 8 + 1 + 8, 20000);
    digest(t, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(early_waiting(t), 0);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    /* the poller never asked */
    assert_int_equal((long long)metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"ok\""),
                     0);
    assert_int_equal(
        (long long)metric(t, "msgfleet_reporter_status_polls_total", "outcome=\"error\""), 0);
    stop_reporter(t);

    /* a full replay of the topic (a new group, a restarted reporter): the 24 results of the
     * three posts, the 12 accepted and the 2 later ones all change nothing, nothing waits
     * again */
    snprintf(t->fx.group + strlen(t->fx.group), sizeof(t->fx.group) - strlen(t->fx.group),
             "-replay");
    start_reporter(t, t->fx.brokers, more);
    wait_metric(t, "msgfleet_reporter_duplicates_total", NULL, 24 + NJOBS + 2, 30000);
    digest(t, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(early_waiting(t), 0);
    assert_int_equal((long long)metric(t, "msgfleet_reporter_early_finals_total", NULL), 0);
    rep_itest_assert_consistent(t->fx.pg, NULL);
    stop_reporter(t);
    mf_buf_free(&body);
    mf_buf_free(&out);
}

/* A token that is too short stops the start, and the message does not quote it. */
/* A run the receiver found to exist is trusted for MF_REPORTER_WEBHOOK_RUN_TTL_MS (here 3 s):
 * reports naming it are handed on without a query for that long, even if the run was deleted
 * meanwhile, and are `unknown` once the time has passed and the run is read again. */
static void run_ttl_post(itest *t, int i, const char *run, long long recv)
{
    mf_buf body, out;
    mf_err err;
    char mid[40], job[MF_UUID_STR_SIZE];
    mf_uuid u;

    mf_buf_init(&body, 0);
    mf_buf_init(&out, 0);
    snprintf(mid, sizeof(mid), "M4V20260101RUNTTL%015d", i);
    assert_int_equal(mf_uuid_v4(&u, &err), 0);
    mf_uuid_format(&u, job);
    mf_buf_append_char(&body, '[', &err);
    add_report(&body, 1, mid, job, run, "SMS", "4000", "정상 수신", recv, 0);
    mf_buf_append_char(&body, ']', &err);
    assert_int_equal(post_report(t, TOKEN, body.data, &out), 200);
    mf_buf_free(&body);
    mf_buf_free(&out);
}

static double reports_of(itest *t, const char *status)
{
    char filter[64];

    snprintf(filter, sizeof(filter), "status=\"%s\"", status);
    return metric(t, "msgfleet_reporter_webhook_reports_total", filter);
}

static void test_webhook_run_ttl(void **state)
{
    itest *t = *state;
    const char *more[] = {"MF_REPORTER_WEBHOOK_RUN_TTL_MS", "3000", NULL};
    const char *p[1];
    long long recv = mf_test_now_ms(), read_at;

    make_run_rows(t); /* a run; no rows */
    p[0] = t->run.id;
    start_reporter(t, t->fx.brokers, more);
    read_at = mf_test_mono_ms();
    run_ttl_post(t, 0, t->run.id, recv); /* read: it exists */
    assert_true(reports_of(t, "delivered") == 1.0);
    assert_int_equal(mf_test_pg_ll(t->fx.pg,
                                   "WITH d AS (DELETE FROM workflow_runs WHERE id = $1::uuid"
                                   " RETURNING 1) SELECT count(*) FROM d",
                                   1, p),
                     1);
    run_ttl_post(t, 1, t->run.id, recv); /* trusted: handed on without a query */
    if (mf_test_mono_ms() - read_at < 3000)
        assert_true(reports_of(t, "delivered") == 2.0);
    else
        print_message("the second post came after the TTL: its outcome not checked\n");
    mf_test_sleep_ms(3200 - (int)(mf_test_mono_ms() - read_at));
    run_ttl_post(t, 2, t->run.id, recv); /* read again: gone */
    assert_true(reports_of(t, "unknown") == 1.0);
}

/* TTL 0: every request reads the run; one that exists is found every time. */
static void test_webhook_run_ttl_zero(void **state)
{
    itest *t = *state;
    const char *more[] = {"MF_REPORTER_WEBHOOK_RUN_TTL_MS", "0", NULL};
    long long recv = mf_test_now_ms();

    make_run_rows(t);
    start_reporter(t, t->fx.brokers, more);
    run_ttl_post(t, 3, t->run.id, recv);
    run_ttl_post(t, 4, t->run.id, recv);
    assert_true(reports_of(t, "delivered") == 2.0);
    assert_true(reports_of(t, "unknown") == 0.0);
}

static void test_webhook_config(void **state)
{
    itest *t = *state;
    const char *env[] = {"MF_PG_DSN",
                         t->fx.dsn,
                         "MF_REPORTER_STATUS_ENABLED",
                         "false",
                         "MF_REPORTER_WEBHOOK_ENABLED",
                         "true",
                         "MF_REPORTER_WEBHOOK_TOKEN",
                         "tooShortSecret123",
                         NULL};
    const char *env2[] = {"MF_PG_DSN",
                          t->fx.dsn,
                          "MF_REPORTER_STATUS_ENABLED",
                          "false",
                          "MF_REPORTER_WEBHOOK_ENABLED",
                          "true",
                          "MF_REPORTER_WEBHOOK_TOKEN",
                          TOKEN "/../x",
                          NULL};
    pid_t pid;
    int st;

    unlink(t->fx.logfile);
    pid = mf_test_spawn(t->fx.bin, env, t->fx.logfile, -1);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    assert_true(mf_test_file_contains(t->fx.logfile, "MF_REPORTER_WEBHOOK_TOKEN: shorter than 32"));
    assert_false(mf_test_file_contains(t->fx.logfile, "tooShortSecret123"));
    pid = mf_test_spawn(t->fx.bin, env2, t->fx.logfile, -1);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    assert_true(mf_test_file_contains(t->fx.logfile, "may appear in a URL token"));
    assert_false(mf_test_file_contains(t->fx.logfile, TOKEN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_webhook_config, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_reports, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_kafka_down, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_early, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_frontier, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_run_ttl, setup, rep_itest_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_run_ttl_zero, setup, rep_itest_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("ITEST_FILTER") != NULL) /* e.g. ITEST_FILTER=test_webhook_early */
        cmocka_set_test_filter(getenv("ITEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
