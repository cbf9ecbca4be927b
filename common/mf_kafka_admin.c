/* mf_kafka_admin: Kafka topic administration, the login check and partition metadata. */
#include "mf_clock.h"
#include "mf_kafka_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------- */
/* admin                                                                                    */

/* A short-lived client for admin and metadata calls. */
typedef struct admin {
    mf_log *log; /* first member: the opaque seen by on_log / mf_kafka_rk_on_error */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
} admin;

/* 0 when every topic's result is success or `fine` (already there, already gone), else -1
 * naming the first topic that failed: "could not <verb> topic ...". */
static int topic_results_ok(const rd_kafka_topic_result_t **res, size_t cnt,
                            rd_kafka_resp_err_t fine, const char *verb, mf_err *err)
{
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(res[i]);

        if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != fine)
            return mf_err_set(err, "could not %s topic \"%s\": %s", verb,
                              rd_kafka_topic_result_name(res[i]),
                              rd_kafka_topic_result_error_string(res[i]));
    }
    return 0;
}

static int admin_open(admin *a, const mf_kafka_conf *conf, mf_err *err)
{
    rd_kafka_conf_t *rc;

    memset(a, 0, sizeof(*a));
    if (conf == NULL) /* (mf_kafka_rk_conf_base refuses it too; said here for the analyzer) */
        return mf_err_set(err, "kafka brokers are not configured");
    a->log = conf->log;
    rc = mf_kafka_rk_conf_base(conf, a, err);
    if (rc == NULL)
        return -1;
    if (mf_kafka_rk_overrides(rc, conf->overrides, err) < 0) {
        rd_kafka_conf_destroy(rc);
        return -1;
    }
    a->rk = mf_kafka_rk_new(RD_KAFKA_PRODUCER, rc, err);
    if (a->rk == NULL)
        return -1;
    a->q = rd_kafka_queue_new(a->rk);
    return 0;
}

static void admin_close(admin *a)
{
    if (a->q != NULL)
        rd_kafka_queue_destroy(a->q);
    if (a->rk != NULL)
        rd_kafka_destroy(a->rk);
}

/* Partition count of `name` with a leader for every partition, 0 when it is not there (yet),
 * -1 when the metadata request fails. */
static int ready_partitions(rd_kafka_t *rk, const char *name, int timeout_ms, mf_err *err)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t code;
    int i, j, count = 0;

    code = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mf_err_set(err, "could not get kafka metadata: %s", rd_kafka_err2str(code));
    for (i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];

        if (strcmp(t->topic, name) != 0 || t->err != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        for (j = 0; j < t->partition_cnt; j++) {
            if (t->partitions[j].leader < 0)
                break;
        }
        count = j == t->partition_cnt ? t->partition_cnt : 0;
    }
    rd_kafka_metadata_destroy(md);
    return count;
}

static int admin_wait_result(admin *a, rd_kafka_event_type_t type, int timeout_ms,
                             rd_kafka_event_t **out, mf_err *err)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(a->q, timeout_ms + 5000);

    if (ev == NULL)
        return mf_err_set(err, "kafka admin request timed out after %d ms", timeout_ms);
    if (rd_kafka_event_type(ev) != type || rd_kafka_event_error(ev)) {
        mf_err_set(err, "kafka admin request failed: %s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return -1;
    }
    *out = ev;
    return 0;
}

static int create_topics(admin *a, const mf_kafka_topic_spec *specs, size_t n, int timeout_ms,
                         mf_err *err)
{
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_result_t **res;
    char errstr[512];
    size_t i, cnt = 0;
    int rc = -1;

    if (nt == NULL)
        return mf_err_set(err, "out of memory");
    for (i = 0; i < n; i++) {
        if (specs[i].name == NULL || specs[i].partitions <= 0) {
            mf_err_set(err, "invalid topic spec %zu", i);
            goto out;
        }
        nt[i] = rd_kafka_NewTopic_new(specs[i].name, specs[i].partitions,
                                      specs[i].replication != 0 ? specs[i].replication : -1, errstr,
                                      sizeof(errstr));
        if (nt[i] == NULL) {
            mf_err_set(err, "invalid topic \"%s\": %s", specs[i].name, errstr);
            goto out;
        }
    }
    ao = rd_kafka_AdminOptions_new(a->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(a->rk, nt, n, ao, a->q);
    if (admin_wait_result(a, RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms, &ev, err) < 0)
        goto out;
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    rc = topic_results_ok(res, cnt, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "create", err);
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (ao != NULL)
        rd_kafka_AdminOptions_destroy(ao);
    for (i = 0; i < n; i++) {
        if (nt[i] != NULL)
            rd_kafka_NewTopic_destroy(nt[i]);
    }
    free(nt);
    return rc;
}

int mf_kafka_ensure_topics(const mf_kafka_conf *conf, const mf_kafka_topic_spec *specs, size_t n,
                           int timeout_ms, mf_err *err)
{
    admin a;
    int64_t deadline = mf_clock_mono_ms() + timeout_ms;
    size_t i;
    int rc = -1;

    if (n == 0)
        return 0;
    if (admin_open(&a, conf, err) < 0)
        return -1;
    if (create_topics(&a, specs, n, timeout_ms, err) < 0)
        goto out;
    /* wait until every topic has a leader for each partition, so that producers and
     * consumers started right after see it */
    for (i = 0; i < n; i++) {
        int parts;

        while ((parts = ready_partitions(a.rk, specs[i].name, 2000, err)) == 0 &&
               mf_clock_mono_ms() < deadline)
            rd_kafka_poll(a.rk, 50);
        if (parts < 0)
            goto out;
        if (parts == 0) {
            mf_err_set(err, "topic \"%s\" not ready after %d ms", specs[i].name, timeout_ms);
            goto out;
        }
    }
    rc = 0;
out:
    admin_close(&a);
    return rc;
}

int mf_kafka_delete_topics(const mf_kafka_conf *conf, const char *const *names, size_t n,
                           int timeout_ms, mf_err *err)
{
    admin a;
    rd_kafka_DeleteTopic_t **dt;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_result_t **res;
    char errstr[512];
    size_t i, cnt = 0;
    int rc = -1;

    if (n == 0)
        return 0;
    if (admin_open(&a, conf, err) < 0)
        return -1;
    dt = calloc(n, sizeof(*dt));
    if (dt == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        dt[i] = rd_kafka_DeleteTopic_new(names[i]);
    ao = rd_kafka_AdminOptions_new(a.rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_DeleteTopics(a.rk, dt, n, ao, a.q);
    if (admin_wait_result(&a, RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout_ms, &ev, err) < 0)
        goto out;
    res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
    rc = topic_results_ok(res, cnt, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "delete", err);
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (ao != NULL)
        rd_kafka_AdminOptions_destroy(ao);
    if (dt != NULL) {
        for (i = 0; i < n; i++)
            rd_kafka_DeleteTopic_destroy(dt[i]);
        free(dt);
    }
    admin_close(&a);
    return rc;
}

/* What a login check learns from its client's error callback. */
typedef struct login_check {
    mf_log *log; /* first member: the opaque seen by on_log / mf_kafka_rk_on_error */
    int code;    /* the first authentication or TLS error, 0 while there is none */
    char reason[384];
} login_check;

static void on_login_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    login_check *lc = opaque;

    mf_kafka_rk_on_error(rk, code, reason, opaque);
    if (lc->code == 0 &&
        (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL)) {
        lc->code = code;
        snprintf(lc->reason, sizeof(lc->reason), "%s", reason != NULL ? reason : "");
    }
}

int mf_kafka_check_login(const mf_kafka_conf *conf, int timeout_ms, mf_err *err)
{
    login_check lc;
    rd_kafka_conf_t *rc;
    rd_kafka_t *rk;
    int64_t deadline = mf_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int ret = 0;

    memset(&lc, 0, sizeof(lc));
    if (conf == NULL) /* (mf_kafka_rk_conf_base refuses it too; said here for the analyzer) */
        return mf_err_set(err, "kafka brokers are not configured");
    lc.log = conf->log;
    rc = mf_kafka_rk_conf_base(conf, &lc, err);
    if (rc == NULL)
        return -1;
    if (mf_kafka_rk_overrides(rc, conf->overrides, err) < 0) {
        rd_kafka_conf_destroy(rc);
        return -1;
    }
    rd_kafka_conf_set_error_cb(rc, on_login_error);
    rk = mf_kafka_rk_new(RD_KAFKA_PRODUCER, rc, err);
    if (rk == NULL)
        return -1;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t code = rd_kafka_metadata(rk, 0, NULL, &md, 500);

        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        rd_kafka_poll(rk, 0); /* serves the error events */
        if (lc.code != 0) {
            ret = mf_err_set(err, "kafka brokers %s refused the connection: %s: %s", conf->brokers,
                             lc.code == RD_KAFKA_RESP_ERR__SSL ? "TLS handshake failed"
                                                               : "SASL login failed",
                             lc.reason);
            break;
        }
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR && lc.log != NULL && conf->security != NULL)
            MF_LOG(lc.log, MF_LOG_INFO, "kafka connection accepted",
                   MF_KV_S("brokers", conf->brokers), MF_KV_S("protocol", conf->security->protocol),
                   MF_KV_S("user", conf->security->sasl_username));
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR || mf_clock_mono_ms() >= deadline)
            break;
    }
    rd_kafka_destroy(rk);
    return ret;
}

int mf_kafka_topic_partitions(const mf_kafka_conf *conf, const char *name, int timeout_ms, int *out,
                              mf_err *err)
{
    admin a;
    int parts;

    if (admin_open(&a, conf, err) < 0)
        return -1;
    parts = ready_partitions(a.rk, name, timeout_ms, err);
    admin_close(&a);
    if (parts < 0)
        return -1;
    if (parts == 0)
        return mf_err_set(err, "topic \"%s\" does not exist", name);
    *out = parts;
    return 0;
}
