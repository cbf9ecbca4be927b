/* plan_itest: what the planner's integration tests set up alike (database, topics, planners). */
#include "plan_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "mf_test.h"

#define ENV_MAX 32

int plan_itest_names(plan_itest *b, const char *name)
{
    unsigned char rnd[4];
    mf_kafka_conf kc = {"x", NULL, NULL, NULL, NULL, NULL};
    mf_err err;

    memset(b, 0, sizeof(*b));
    RAND_bytes(rnd, sizeof(rnd));
    snprintf(b->suffix, sizeof(b->suffix), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    snprintf(b->topic_prefix, sizeof(b->topic_prefix), "%s_%s.", name, b->suffix);
    kc.topic_prefix = b->topic_prefix;
    if (mf_kafka_topic_name(&kc, MF_TOPIC_JOBS, b->topic_jobs, sizeof(b->topic_jobs), &err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, b->topic_results, sizeof(b->topic_results),
                            &err) != 0)
        return -1;
    return 0;
}

void plan_itest_pg_setup(plan_itest *b, const char *tag)
{
    snprintf(b->pg_admin_dsn, sizeof(b->pg_admin_dsn), "%s", mf_test_pg_dsn());
    mf_test_db_create(b->pg_admin_dsn, tag, b->pg_db, sizeof(b->pg_db));
    snprintf(b->pg_dsn, sizeof(b->pg_dsn), "%s dbname=%s", b->pg_admin_dsn, b->pg_db);
    b->pg = mf_test_pg_connect(b->pg_dsn, NULL, "PostgreSQL (MF_PG_DSN)");
    mf_test_db_migrate(b->pg);
}

PGresult *plan_itest_q(plan_itest *b, const char *sql, int n, const char *const *params)
{
    return mf_test_pg_query(b->pg, sql, n, params);
}

void plan_itest_val(plan_itest *b, const char *sql, int n, const char *const *params, char *out,
                    size_t cap)
{
    PGresult *res = plan_itest_q(b, sql, n, params);

    if (PQntuples(res) < 1)
        fail_msg("no row from: %s", sql);
    snprintf(out, cap, "%s", PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    PQclear(res);
}

pid_t plan_itest_start(const plan_itest *b, const char *instance, const char *const *env,
                       const char *log_path)
{
    const char *bin = mf_test_env("MF_PLANNER_BIN", "planner/msgfleet-planner");
    char e[ENV_MAX][700];
    char *envp[ENV_MAX + 1];
    int n = 0;
    pid_t pid;

    for (size_t i = 0; env != NULL && env[i] != NULL && n < ENV_MAX - 9; i++)
        snprintf(e[n++], sizeof(e[0]), "%s", env[i]);
    snprintf(e[n++], sizeof(e[0]), "MF_PG_DSN=%s", b->pg_dsn);
    snprintf(e[n++], sizeof(e[0]), "MF_KAFKA_BROKERS=%s",
             mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF));
    snprintf(e[n++], sizeof(e[0]), "MF_TOPIC_PREFIX=%s", b->topic_prefix);
    snprintf(e[n++], sizeof(e[0]), "MF_INSTANCE_ID=%s", instance);
    snprintf(e[n++], sizeof(e[0]), "MF_MYSQL_HOST=%s", mf_test_env("MF_MYSQL_HOST", "127.0.0.1"));
    snprintf(e[n++], sizeof(e[0]), "MF_MYSQL_PORT=%s", mf_test_env("MF_MYSQL_PORT", "53306"));
    snprintf(e[n++], sizeof(e[0]), "MF_MYSQL_USER=crm_readonly");
    snprintf(e[n++], sizeof(e[0]), "MF_MYSQL_PASSWORD=crm_readonly_pw");
    snprintf(e[n++], sizeof(e[0]), "MF_PLANNER_POLL_MS=100");
    for (int i = 0; i < n; i++)
        envp[i] = e[i];
    envp[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {(char *)bin, NULL};
        if (log_path != NULL && freopen(log_path, "w", stderr) == NULL)
            _exit(126);
        execve(bin, argv, envp);
        fprintf(stderr, "plan_itest: could not run %s\n", bin);
        _exit(127);
    }
    return pid;
}

int plan_itest_stop(pid_t *pid, int timeout_ms)
{
    int rc = mf_test_stop(*pid, timeout_ms, NULL);

    *pid = 0;
    return rc;
}

void plan_itest_wait_planned(plan_itest *b, const char *noun, const char *run, int timeout_s)
{
    const char *p[1] = {run};
    int64_t end = (int64_t)mf_test_now_ms() + timeout_s * 1000LL;
    char v[8];

    while ((int64_t)mf_test_now_ms() < end) {
        plan_itest_val(b,
                       "SELECT count(*) FROM workflow_runs WHERE id = $1 AND"
                       " (expansion_finished_at IS NOT NULL OR status <> 'running')",
                       1, p, v, sizeof(v));
        if (strcmp(v, "1") == 0)
            return;
        mf_test_sleep_ms(100);
    }
    fail_msg("%s %s was not planned within %d s", noun, run, timeout_s);
}

void plan_itest_consumer(plan_itest *b, const char *client, const char *group)
{
    mf_kafka_conf kc = {
        mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF), client, NULL, NULL, NULL, NULL};
    const char *topics[] = {b->topic_jobs, b->topic_results, NULL};
    char name[64];
    mf_kafka_consumer_opts o;
    mf_err err;

    if (b->consumer != NULL)
        return;
    snprintf(name, sizeof(name), "%s-%s", group, b->suffix);
    memset(&o, 0, sizeof(o));
    o.group_id = name;
    o.topics = topics;
    o.offsets = MF_KAFKA_OFFSETS_STORE;
    o.offset_reset = "earliest";
    b->consumer = mf_kafka_consumer_new(&kc, &o, &err);
    if (b->consumer == NULL)
        fail_msg("Kafka (MF_KAFKA_BROKERS) consumer: %s", err.msg);
    b->codec = mf_codec_new(&err);
    assert_non_null(b->codec);
}

void plan_itest_teardown(plan_itest *b)
{
    mf_kafka_conf kc = {
        mf_test_env("MF_KAFKA_BROKERS", MF_TEST_BROKERS_DEF), NULL, NULL, NULL, NULL, NULL};
    const char *topics[2] = {b->topic_jobs, b->topic_results};
    mf_err err;

    mf_kafka_consumer_free(b->consumer);
    b->consumer = NULL;
    mf_codec_free(b->codec);
    b->codec = NULL;
    mf_kafka_delete_topics(&kc, topics, 2, 10000, &err);
    if (b->pg != NULL)
        PQfinish(b->pg);
    b->pg = NULL;
    mf_test_db_drop(b->pg_admin_dsn, b->pg_db);
}
