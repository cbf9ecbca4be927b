/* rep_itest: what the reporter's integration tests set up alike (topics, seed rows, cleanup). */
#include "rep_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include "mf_test.h"

mf_kafka_producer *rep_itest_topics(const char *brokers, const char *prefix, int nparts,
                                    char topic[REP_ITEST_TOPIC_MAX],
                                    char dlq[REP_ITEST_TOPIC_MAX], mf_kafka_dr_fn on_dr,
                                    void *ctx)
{
    mf_kafka_conf kc = {0};
    mf_kafka_topic_spec specs[2];
    mf_kafka_producer *prod;
    mf_err err;

    kc.brokers = brokers;
    kc.topic_prefix = prefix;
    assert_int_equal(mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, topic, REP_ITEST_TOPIC_MAX, &err), 0);
    assert_int_equal(mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, dlq, REP_ITEST_TOPIC_MAX, &err), 0);
    specs[0] = (mf_kafka_topic_spec){topic, nparts, -1};
    specs[1] = (mf_kafka_topic_spec){dlq, 1, -1};
    if (mf_kafka_ensure_topics(&kc, specs, 2, 30000, &err) != 0)
        fail_msg("Kafka (MF_KAFKA_BROKERS=%s) topics: %s", brokers, err.msg);
    prod = mf_kafka_producer_new(&kc, on_dr, ctx, &err);
    assert_non_null(prod);
    return prod;
}

void rep_itest_seed(PGconn *pg, char tpl[MF_UUID_STR_SIZE], char *tpl2,
                    char wf[MF_UUID_STR_SIZE])
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
