/* rep_itest: what the reporter's integration tests share (fixture, topics, waits, metrics). */
#include "rep_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "mf_runs.h"
#include "mf_test.h"

static void count_delivery(void *ctx, const mf_kafka_dr *dr)
{
    rep_itest *fx = ctx;

    if (!dr->ok) {
        fx->dr_failed++;
        return;
    }
    if (dr->partition >= 0 && dr->partition < fx->nparts && dr->offset + 1 > fx->end[dr->partition])
        fx->end[dr->partition] = dr->offset + 1;
}

void rep_itest_open(rep_itest *fx, const char *name, const char *log, int nparts, int with_tpl2)
{
    char hex[16];

    assert_true(nparts > 0 && nparts <= REP_ITEST_NPARTS_MAX);
    fx->nparts = nparts;
    snprintf(fx->bin, sizeof(fx->bin), "%s",
             mf_test_env("MF_REPORTER_BIN", "reporter/msgfleet-reporter"));
    snprintf(fx->admin_dsn, sizeof(fx->admin_dsn), "%s", mf_test_pg_dsn());
    snprintf(fx->brokers, sizeof(fx->brokers), "%s",
             mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF));
    mf_test_tag(hex, sizeof(hex));
    mf_test_db_create(fx->admin_dsn, name, fx->db, sizeof(fx->db));
    snprintf(fx->prefix, sizeof(fx->prefix), "it%s%s.", name, hex);
    snprintf(fx->group, sizeof(fx->group), "it%s-%s", name, hex);
    snprintf(fx->logfile, sizeof(fx->logfile), "/tmp/%s_%s.log", log, hex);
    snprintf(fx->dsn, sizeof(fx->dsn), "%s dbname=%s", fx->admin_dsn, fx->db);
    fx->pg = mf_test_pg_connect(fx->admin_dsn, fx->db, "PostgreSQL (MF_PG_DSN)");
    mf_test_db_migrate(fx->pg);
    fx->prod = rep_itest_topics(fx->brokers, fx->prefix, nparts, fx->topic, fx->dlq, count_delivery,
                                fx);
    rep_itest_seed(fx->pg, fx->tpl, with_tpl2 ? fx->tpl2 : NULL, fx->wf);
}

void rep_itest_close(rep_itest *fx, int stop_ms)
{
    mf_err err;

    mf_test_stop(fx->reporter, stop_ms, NULL);
    fx->reporter = 0;
    if (fx->prod != NULL) {
        mf_kafka_flush(fx->prod, 5000, &err);
        mf_kafka_producer_free(fx->prod);
        fx->prod = NULL;
    }
    rep_itest_cleanup(fx->pg, fx->admin_dsn, fx->db, fx->brokers, fx->topic, fx->dlq);
    fx->pg = NULL;
}

void *rep_itest_new(size_t size, const char *name, const char *log, int nparts, int with_tpl2)
{
    rep_itest *fx;

    assert_true(size >= sizeof(*fx));
    fx = calloc(1, size);
    assert_non_null(fx);
    rep_itest_open(fx, name, log, nparts, with_tpl2);
    return fx;
}

int rep_itest_teardown(void **state)
{
    rep_itest *fx = *state;

    if (fx == NULL)
        return 0;
    rep_itest_close(fx, 25000);
    free(fx);
    return 0;
}

void rep_itest_produce(rep_itest *fx, const char *key, const void *val, size_t len)
{
    mf_err err;

    if (mf_kafka_produce(fx->prod, fx->topic, key, strlen(key), val, len, NULL, 10000, &err) != 0)
        fail_msg("produce: %s", err.msg);
}

void rep_itest_produce_result(rep_itest *fx, const char *key, const mf_result *r)
{
    msgpack_sbuffer sb;
    char id[MF_UUID_STR_SIZE];
    mf_err err;

    msgpack_sbuffer_init(&sb);
    if (mf_codec_encode_result(&sb, r, &err) != 0)
        fail_msg("encode: %s", err.msg);
    rep_itest_produce(fx, key != NULL ? key : mf_uuid_format(&r->id, id), sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

void rep_itest_flush(rep_itest *fx)
{
    mf_err err;

    if (mf_kafka_flush(fx->prod, 60000, &err) != 0)
        fail_msg("flush: %s", err.msg);
    assert_int_equal(fx->dr_failed, 0);
}

void rep_itest_assert_alive(rep_itest *fx)
{
    int st;

    if (fx->reporter > 0 && waitpid(fx->reporter, &st, WNOHANG) == fx->reporter) {
        fx->reporter = 0;
        fail_msg("the reporter exited early (status %d), see %s", st, fx->logfile);
    }
}

void rep_itest_wait_offsets(rep_itest *fx, const char *group, int timeout_ms)
{
    const char *p[2] = {group, fx->topic};
    long long want = 0, end = mf_test_mono_ms() + timeout_ms;

    for (int i = 0; i < fx->nparts; i++)
        want += fx->end[i];
    for (;;) {
        if (mf_test_pg_ll(fx->pg,
                          "SELECT COALESCE(sum(next_offset), 0) FROM mf_consumer_offsets"
                          " WHERE consumer_group = $1 AND topic = $2",
                          2, p) == want)
            return;
        if (mf_test_mono_ms() >= end)
            break;
        rep_itest_assert_alive(fx);
        mf_test_sleep_ms(100);
    }
    fail_msg("stored offsets of %s did not reach %lld within %d ms (see %s)", group, want,
             timeout_ms, fx->logfile);
}

void rep_itest_wait_completed(rep_itest *fx, const char *run, int timeout_ms)
{
    const char *p[1] = {run};
    long long end = mf_test_mono_ms() + timeout_ms;

    for (;;) {
        if (mf_test_pg_ll(fx->pg,
                          "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND"
                          " status = 'completed'",
                          1, p) == 1)
            return;
        if (mf_test_mono_ms() >= end)
            break;
        rep_itest_assert_alive(fx);
        mf_test_sleep_ms(100);
    }
    fail_msg("run %s not completed within %d ms (see %s)", run, timeout_ms, fx->logfile);
}

void rep_itest_make_run(rep_itest *fx, int target, const char *finished_ago, rep_itest_run *r)
{
    char tgt[16];
    const char *p[3] = {fx->wf, tgt, finished_ago};
    PGresult *res;
    mf_err err;

    snprintf(tgt, sizeof(tgt), "%d", target);
    res = mf_test_pg_query(
        fx->pg,
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

void rep_itest_assert_consistent(PGconn *pg, const char *run)
{
    mf_err err;
    char *mm = NULL;
    int n = mf_runs_recount_check(pg, run, &mm, &err);

    if (n < 0)
        fail_msg("recount failed: %s", err.msg);
    if (n != 0 && run != NULL)
        fail_msg("run %s: %d counter mismatches:\n%s", run, n, mm);
    if (n != 0)
        fail_msg("%d counter mismatches:\n%s", n, mm);
    free(mm);
}

long rep_itest_http_get(const rep_itest *fx, const char *path, mf_buf *b)
{
    char url[128];
    long code;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx->http_port, path);
    code = mf_test_http(NULL, url, NULL, 5000, b);
    if (code == 0)
        fail_msg("GET %s failed", url);
    return code;
}

double rep_itest_metric(const char *body, const char *name, const char *f1, const char *f2)
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
            if ((f1 == NULL || strstr(buf, f1) != NULL) &&
                (f2 == NULL || strstr(buf, f2) != NULL)) {
                char *sp = strrchr(buf, ' ');

                sum += sp ? strtod(sp + 1, NULL) : 0;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

mf_kafka_producer *rep_itest_topics(const char *brokers, const char *prefix, int nparts,
                                    char topic[REP_ITEST_TOPIC_MAX], char dlq[REP_ITEST_TOPIC_MAX],
                                    mf_kafka_dr_fn on_dr, void *ctx)
{
    mf_kafka_conf kc = {0};
    mf_kafka_topic_spec specs[2];
    mf_kafka_producer *prod;
    mf_err err;

    kc.brokers = brokers;
    kc.topic_prefix = prefix;
    assert_int_equal(mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, topic, REP_ITEST_TOPIC_MAX, &err),
                     0);
    assert_int_equal(mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, dlq, REP_ITEST_TOPIC_MAX, &err), 0);
    specs[0] = (mf_kafka_topic_spec){topic, nparts, -1};
    specs[1] = (mf_kafka_topic_spec){dlq, 1, -1};
    if (mf_kafka_ensure_topics(&kc, specs, 2, 30000, &err) != 0)
        fail_msg("Kafka (MF_KAFKA_BROKERS=%s) topics: %s", brokers, err.msg);
    prod = mf_kafka_producer_new(&kc, on_dr, ctx, &err);
    assert_non_null(prod);
    return prod;
}

void rep_itest_seed(PGconn *pg, char tpl[MF_UUID_STR_SIZE], char *tpl2, char wf[MF_UUID_STR_SIZE])
{
    const char *p[1] = {tpl};

    mf_test_pg_exec(pg, "INSERT INTO system_settings (setting_key, setting_value)"
                        " VALUES ('coolsms_prices', '{\"sms\": 10, \"lms\": 30, \"kakao\": 5}')");
    mf_test_pg_str(pg,
                   "INSERT INTO message_templates (name, message_type, content, category)"
                   " VALUES ('t1', 'sms', '#{name}님 안녕하세요', 'notification') RETURNING id",
                   0, NULL, tpl, MF_UUID_STR_SIZE);
    if (tpl2 != NULL)
        mf_test_pg_str(pg,
                       "INSERT INTO message_templates (name, message_type, content, category)"
                       " VALUES ('t2', 'lms', '#{name}님 두번째', 'notification') RETURNING id",
                       0, NULL, tpl2, MF_UUID_STR_SIZE);
    mf_test_pg_str(pg,
                   "INSERT INTO workflows (name, trigger_type, message_config)"
                   " VALUES ('wf', 'manual', jsonb_build_object('template_id', $1::text))"
                   " RETURNING id",
                   1, p, wf, MF_UUID_STR_SIZE);
}

void rep_itest_cleanup(PGconn *pg, const char *admin_dsn, char *db, const char *brokers,
                       const char *topic, const char *dlq)
{
    mf_kafka_conf kc = {0};
    const char *names[2] = {topic, dlq};
    mf_err err;

    if (pg != NULL)
        PQfinish(pg);
    mf_test_db_drop(admin_dsn, db);
    kc.brokers = brokers;
    mf_kafka_delete_topics(&kc, names, 2, 10000, &err);
}
