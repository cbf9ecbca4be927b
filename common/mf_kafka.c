/* mf_kafka: thin librdkafka wrappers: idempotent producer, group consumer, topic admin. */
#include "mf_clock.h"
#include "mf_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

/* Every struct given to librdkafka as its opaque starts with the mf_log pointer: the log and
 * error callbacks read it from there. */
struct mf_kafka_producer {
    mf_log *log;
    rd_kafka_t *rk;
    mf_kafka_dr_fn dr;
    void *dr_ctx;
};

struct mf_kafka_consumer {
    mf_log *log;
    rd_kafka_t *rk;
    mf_kafka_consumer_opts opts; /* topics pointer not used after subscribe */
    size_t assigned;
    int failed;      /* the assign hook failed: every consume fails with failed_err */
    mf_err failed_err;
    /* opts.priority_topic: its partitions' messages are forwarded to this queue, which
     * mf_kafka_consume serves before the consumer queue (NULL: no priority topic) */
    rd_kafka_queue_t *prioq;
    char prio_topic[MF_KAFKA_TOPIC_MAX + 1];
};

/* ---------------------------------------------------------------------------------------- */
/* configuration                                                                            */


/* Property names whose values (and librdkafka's messages about them) must not be logged. */
static int is_secret_key(const char *key)
{
    return strstr(key, "password") != NULL || strstr(key, "secret") != NULL ||
           strstr(key, "sasl.oauthbearer.config") != NULL || strstr(key, ".key") != NULL;
}

static int conf_set(rd_kafka_conf_t *rc, const char *key, const char *val, mf_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(rc, key, val, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        if (is_secret_key(key))
            return mf_err_set(err, "could not set kafka property \"%s\"", key);
        return mf_err_set(err, "could not set kafka property \"%s\": %s", key, errstr);
    }
    return 0;
}

static int conf_overrides(rd_kafka_conf_t *rc, const char *const *ov, mf_err *err)
{
    char key[256];
    size_t i;

    for (i = 0; ov != NULL && ov[i] != NULL; i++) {
        const char *eq = strchr(ov[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - ov[i]) : 0;

        if (eq == NULL || klen == 0 || klen >= sizeof(key))
            return mf_err_set(err, "invalid kafka override %zu: expected key=value", i);
        memcpy(key, ov[i], klen);
        key[klen] = '\0';
        if (conf_set(rc, key, eq + 1, err) < 0)
            return -1;
    }
    return 0;
}

static mf_log_level log_level(int syslog_level)
{
    if (syslog_level <= 3)
        return MF_LOG_ERROR;
    if (syslog_level == 4)
        return MF_LOG_WARN;
    if (syslog_level <= 6)
        return MF_LOG_INFO;
    return MF_LOG_DEBUG;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    mf_log *log = *(mf_log **)rd_kafka_opaque(rk);

    if (log != NULL)
        MF_LOG(log, log_level(level), "kafka", MF_KV_S("facility", fac), MF_KV_S("detail", buf));
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    mf_log *log = *(mf_log **)opaque;

    (void)rk;
    if (log != NULL)
        MF_LOG(log, code == RD_KAFKA_RESP_ERR__FATAL ? MF_LOG_ERROR : MF_LOG_WARN,
               "kafka error", MF_KV_S("error", rd_kafka_err2name((rd_kafka_resp_err_t)code)),
               MF_KV_S("reason", reason));
}

/*
 * Common part: brokers, client id, logs and errors through the handle's queue (served on the
 * caller's thread by poll/consume), opaque = a struct whose first member is the mf_log *.
 */
static rd_kafka_conf_t *conf_base(const mf_kafka_conf *conf, void *opaque, mf_err *err)
{
    rd_kafka_conf_t *rc;

    if (conf == NULL || conf->brokers == NULL || conf->brokers[0] == '\0') {
        mf_err_set(err, "kafka brokers are not configured");
        return NULL;
    }
    rc = rd_kafka_conf_new();
    if (conf_set(rc, "bootstrap.servers", conf->brokers, err) < 0 ||
        conf_set(rc, "client.id", conf->client_id != NULL ? conf->client_id : "msgfleet",
                 err) < 0 ||
        conf_set(rc, "log.queue", "true", err) < 0 ||
        mf_kafka_sec_apply(conf->security, rc, err) < 0) {
        rd_kafka_conf_destroy(rc);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(rc, on_log);
    rd_kafka_conf_set_error_cb(rc, on_error);
    rd_kafka_conf_set_opaque(rc, opaque);
    return rc;
}

/* rd_kafka_new taking ownership of rc on success and on failure. */
static rd_kafka_t *new_handle(rd_kafka_type_t type, rd_kafka_conf_t *rc, mf_err *err)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, rc, errstr, sizeof(errstr));

    if (rk == NULL) {
        rd_kafka_conf_destroy(rc);
        mf_err_set(err, "could not create kafka client: %s", errstr);
        return NULL;
    }
    rd_kafka_set_log_queue(rk, NULL); /* logs to the main queue: served by our polls */
    return rk;
}

int mf_kafka_topic_name(const mf_kafka_conf *conf, const char *base, char *out, size_t cap,
                        mf_err *err)
{
    const char *prefix = conf != NULL && conf->topic_prefix != NULL ? conf->topic_prefix : "";
    int n;
    size_t i;

    if (base == NULL || base[0] == '\0')
        return mf_err_set(err, "empty topic name");
    n = snprintf(out, cap, "%s%s", prefix, base);
    if (n < 0 || (size_t)n >= cap || n > MF_KAFKA_TOPIC_MAX)
        return mf_err_set(err, "topic name \"%s%s\" is too long", prefix, base);
    for (i = 0; out[i] != '\0'; i++) {
        char ch = out[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return mf_err_set(err, "invalid character in topic name \"%s\"", out);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* producer                                                                                 */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    mf_kafka_producer *p = opaque;
    mf_kafka_dr dr;

    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && p->log != NULL)
        MF_LOG(p->log, MF_LOG_WARN, "kafka delivery failed",
               MF_KV_S("topic", rd_kafka_topic_name(m->rkt)),
               MF_KV_S("error", rd_kafka_err2str(m->err)));
    if (p->dr == NULL)
        return;
    dr.opaque = m->_private;
    dr.ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    dr.error = dr.ok ? NULL : rd_kafka_err2str(m->err);
    dr.topic = rd_kafka_topic_name(m->rkt);
    dr.partition = m->partition;
    dr.offset = m->offset;
    dr.key = m->key;
    dr.key_len = m->key_len;
    p->dr(p->dr_ctx, &dr);
}

mf_kafka_producer *mf_kafka_producer_new(const mf_kafka_conf *conf, mf_kafka_dr_fn dr,
                                         void *dr_ctx, mf_err *err)
{
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        /* 25 ms rather than 10: fuller batches, so fewer produce requests for the broker to
         * validate. With the consumers' fetch.min.bytes it took the broker's CPU from 2.1-3.0
         * to 1.8-2.2 us per message in alternating 1 M runs of neighbouring settings
         * (BENCHMARKS.md, sixth round). */
        {"linger.ms", "25"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        /* A bounded local queue: producers wait (back-pressure) instead of buffering a whole
         * campaign in memory; 25k messages / 8 MB keep batches full and RSS flat (measured at
         * 1 M recipients: the planner's rate did not change from 32 MB, its peak RSS went
         * from 76 MB to 50 MB). */
        {"queue.buffering.max.messages", "25000"},
        {"queue.buffering.max.kbytes", "8192"},
        {"message.timeout.ms", "300000"},
    };
    mf_kafka_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *rc = NULL;
    size_t i;

    if (p == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    p->log = conf != NULL ? conf->log : NULL;
    p->dr = dr;
    p->dr_ctx = dr_ctx;
    rc = conf_base(conf, p, err);
    if (rc == NULL)
        goto fail;
    for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (conf_set(rc, defaults[i][0], defaults[i][1], err) < 0)
            goto fail;
    }
    if (conf_overrides(rc, conf->overrides, err) < 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(rc, on_delivery);
    p->rk = new_handle(RD_KAFKA_PRODUCER, rc, err);
    rc = NULL; /* owned by the handle now, or destroyed */
    if (p->rk == NULL)
        goto fail;
    return p;
fail:
    if (rc != NULL)
        rd_kafka_conf_destroy(rc);
    free(p);
    return NULL;
}

void mf_kafka_producer_free(mf_kafka_producer *p)
{
    if (p == NULL)
        return;
    rd_kafka_destroy(p->rk);
    free(p);
}

static int fatal_error(rd_kafka_t *rk, mf_err *err)
{
    char errstr[512];
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, errstr, sizeof(errstr));

    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    mf_err_set(err, "fatal kafka error: %s: %s", rd_kafka_err2name(code), errstr);
    return 1;
}

int mf_kafka_produce(mf_kafka_producer *p, const char *topic, const void *key, size_t key_len,
                     const void *val, size_t val_len, void *msg_opaque, int block_ms,
                     mf_err *err)
{
    int64_t deadline = mf_clock_mono_ms() + (block_ms > 0 ? block_ms : 0);
    size_t klen = key != NULL ? key_len : 0;
    size_t vlen = val != NULL ? val_len : 0;

    for (;;) {
        rd_kafka_resp_err_t code = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)key, klen),
            RD_KAFKA_V_VALUE((void *)val, vlen),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        int64_t left;

        if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (code == RD_KAFKA_RESP_ERR__FATAL && fatal_error(p->rk, err))
            return -1;
        if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return mf_err_set(err, "could not produce to \"%s\": %s", topic,
                              rd_kafka_err2str(code));
        left = deadline - mf_clock_mono_ms();
        if (left <= 0)
            return mf_err_set(err, "could not produce to \"%s\": local queue full", topic);
        rd_kafka_poll(p->rk, left < 100 ? (int)left : 100);
    }
}

int mf_kafka_poll(mf_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int mf_kafka_flush(mf_kafka_producer *p, int timeout_ms, mf_err *err)
{
    rd_kafka_flush(p->rk, timeout_ms);
    if (fatal_error(p->rk, err))
        return -1;
    if (rd_kafka_outq_len(p->rk) > 0)
        return mf_err_set(err, "could not flush kafka producer: %d messages still in flight "
                          "after %d ms", rd_kafka_outq_len(p->rk), timeout_ms);
    return 0;
}

int mf_kafka_outq_len(mf_kafka_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

int mf_kafka_producer_fatal(mf_kafka_producer *p, mf_err *err)
{
    return fatal_error(p->rk, err);
}

/* ---------------------------------------------------------------------------------------- */
/* consumer                                                                                 */

static int is_cooperative(rd_kafka_t *rk)
{
    return strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
}

/* Ask the hook for start offsets and write them into the list. */
static int run_assign_hook(mf_kafka_consumer *c, rd_kafka_topic_partition_list_t *parts,
                           mf_err *err)
{
    mf_kafka_partition *mp;
    int i, rc;

    if (c->opts.on_assign == NULL || parts->cnt == 0)
        return 0;
    mp = calloc((size_t)parts->cnt, sizeof(*mp));
    if (mp == NULL)
        return mf_err_set(err, "out of memory");
    for (i = 0; i < parts->cnt; i++) {
        mp[i].topic = parts->elems[i].topic;
        mp[i].partition = parts->elems[i].partition;
        mp[i].offset = MF_KAFKA_OFFSET_COMMITTED;
    }
    rc = c->opts.on_assign(c->opts.hook_ctx, mp, (size_t)parts->cnt, err);
    for (i = 0; rc == 0 && i < parts->cnt; i++) {
        int64_t off = mp[i].offset;

        if (off == MF_KAFKA_OFFSET_COMMITTED)
            off = RD_KAFKA_OFFSET_INVALID;
        else if (off == MF_KAFKA_OFFSET_BEGINNING)
            off = RD_KAFKA_OFFSET_BEGINNING;
        else if (off == MF_KAFKA_OFFSET_END)
            off = RD_KAFKA_OFFSET_END;
        else if (off < 0)
            rc = mf_err_set(err, "assign hook returned invalid offset %lld",
                            (long long)mp[i].offset);
        parts->elems[i].offset = off;
    }
    free(mp);
    return rc;
}

static void run_revoke_hook(mf_kafka_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    mf_kafka_partition *mp;
    int i;

    if (c->opts.on_revoke == NULL || parts->cnt == 0)
        return;
    mp = calloc((size_t)parts->cnt, sizeof(*mp));
    if (mp == NULL)
        return;
    for (i = 0; i < parts->cnt; i++) {
        mp[i].topic = parts->elems[i].topic;
        mp[i].partition = parts->elems[i].partition;
        mp[i].offset = parts->elems[i].offset;
    }
    c->opts.on_revoke(c->opts.hook_ctx, mp, (size_t)parts->cnt);
    free(mp);
}

/* Forward (or, to == NULL, stop forwarding) the fetch queue of each partition of the priority
 * topic in parts to to. A forwarding set by the application survives the partition's fetch
 * start (librdkafka keeps it); a fetch stop clears it, so it is set again on every assign. */
static void forward_priority(mf_kafka_consumer *c, rd_kafka_t *rk,
                             const rd_kafka_topic_partition_list_t *parts, rd_kafka_queue_t *to)
{
    for (int i = 0; c->prioq != NULL && i < parts->cnt; i++) {
        rd_kafka_queue_t *q;

        if (strcmp(parts->elems[i].topic, c->prio_topic) != 0)
            continue;
        q = rd_kafka_queue_get_partition(rk, parts->elems[i].topic, parts->elems[i].partition);
        if (q == NULL)
            continue;
        rd_kafka_queue_forward(q, to);
        rd_kafka_queue_destroy(q);
    }
}

static void assign_partitions(mf_kafka_consumer *c, rd_kafka_t *rk,
                              rd_kafka_topic_partition_list_t *parts)
{
    mf_err err;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;

    mf_err_clear(&err);
    if (run_assign_hook(c, parts, &err) < 0) {
        c->failed = 1;
        mf_err_set(&c->failed_err, "partition assign hook failed: %s", err.msg);
        if (!is_cooperative(rk))
            rd_kafka_assign(rk, NULL);
        return;
    }
    if (is_cooperative(rk))
        e = rd_kafka_incremental_assign(rk, parts);
    else
        code = rd_kafka_assign(rk, parts);
    if (e != NULL || code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        c->failed = 1;
        mf_err_set(&c->failed_err, "could not assign partitions: %s",
                   e != NULL ? rd_kafka_error_string(e) : rd_kafka_err2str(code));
        if (e != NULL)
            rd_kafka_error_destroy(e);
        return;
    }
    forward_priority(c, rk, parts, c->prioq);
    c->assigned += (size_t)parts->cnt;
}

static void revoke_partitions(mf_kafka_consumer *c, rd_kafka_t *rk,
                              rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *e;

    run_revoke_hook(c, parts);
    forward_priority(c, rk, parts, NULL);
    if (c->opts.offsets == MF_KAFKA_OFFSETS_STORE && rd_kafka_assignment_lost(rk) == 0)
        rd_kafka_commit(rk, NULL, 0); /* what was stored so far; "no offset" is fine */
    if (is_cooperative(rk)) {
        e = rd_kafka_incremental_unassign(rk, parts);
        if (e != NULL)
            rd_kafka_error_destroy(e);
        c->assigned -= c->assigned >= (size_t)parts->cnt ? (size_t)parts->cnt : c->assigned;
    } else {
        rd_kafka_assign(rk, NULL);
        c->assigned = 0;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t code,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    mf_kafka_consumer *c = opaque;

    if (code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign_partitions(c, rk, parts);
        return;
    }
    if (code == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        revoke_partitions(c, rk, parts);
        return;
    }
    if (c->log != NULL)
        MF_LOG(c->log, MF_LOG_ERROR, "kafka rebalance failed",
               MF_KV_S("error", rd_kafka_err2str(code)));
    rd_kafka_assign(rk, NULL);
    c->assigned = 0;
}

static int subscribe(mf_kafka_consumer *c, const char *const *topics, mf_err *err)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t code;
    size_t i;

    for (i = 0; topics[i] != NULL; i++)
        ;
    if (i == 0)
        return mf_err_set(err, "no topics to subscribe to");
    list = rd_kafka_topic_partition_list_new((int)i);
    for (i = 0; topics[i] != NULL; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    code = rd_kafka_subscribe(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mf_err_set(err, "could not subscribe: %s", rd_kafka_err2str(code));
    return 0;
}

mf_kafka_consumer *mf_kafka_consumer_new(const mf_kafka_conf *conf,
                                         const mf_kafka_consumer_opts *opts, mf_err *err)
{
    mf_kafka_consumer *c;
    rd_kafka_conf_t *rc = NULL;
    int store = opts != NULL && opts->offsets == MF_KAFKA_OFFSETS_STORE;

    if (opts == NULL || opts->group_id == NULL || opts->group_id[0] == '\0' ||
        opts->topics == NULL) {
        mf_err_set(err, "kafka consumer needs a group id and topics");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    c->log = conf != NULL ? conf->log : NULL;
    c->opts = *opts;
    c->opts.topics = NULL;
    rc = conf_base(conf, c, err);
    if (rc == NULL)
        goto fail;
    if (conf_set(rc, "group.id", opts->group_id, err) < 0 ||
        conf_set(rc, "enable.auto.commit", store ? "true" : "false", err) < 0 ||
        conf_set(rc, "enable.auto.offset.store", "false", err) < 0 ||
        conf_set(rc, "auto.offset.reset",
                 opts->offset_reset != NULL ? opts->offset_reset : "earliest", err) < 0 ||
        conf_set(rc, "partition.assignment.strategy", "range,roundrobin", err) < 0 ||
        /* Prefetch per partition: librdkafka's 64 MB default alone would exceed a daemon's
         * memory budget (a sender reads 16 partitions: jobs and retry); 1 MB or 10k
         * messages per partition still keeps a 5,000-job batch fed. */
        conf_set(rc, "queued.max.messages.kbytes", "2048", err) < 0 ||
        conf_set(rc, "queued.min.messages", "20000", err) < 0 ||
        /* What one fetch may add per partition on top of that queue (librdkafka's default is
         * 1 MB): 8 partitions x 1 MB of overshoot was a sender's largest buffer at 1 M
         * recipients; fetches are woken per batch (wake_fetcher), so smaller ones keep up. */
        conf_set(rc, "fetch.message.max.bytes", "262144", err) < 0 ||
        /* A caught-up consumer's fetch otherwise returns as soon as one byte arrives: under
         * load, one fetch request per producer batch. Waiting for 256 KB cuts the broker's
         * request rate; a lone job waits at most 50 ms more. */
        conf_set(rc, "fetch.min.bytes", "262144", err) < 0 ||
        conf_set(rc, "fetch.wait.max.ms", "50", err) < 0 ||
        /* A subscribed topic created after start-up (the first retry or dlq message creates
         * it) must be noticed in seconds, not after librdkafka's 5-minute default. */
        conf_set(rc, "topic.metadata.refresh.interval.ms", "5000", err) < 0 ||
        /* A killed member holds its partitions until the session times out: 10 s instead
         * of librdkafka's 45 s keeps a SIGKILLed sender from stalling the group for long. */
        conf_set(rc, "session.timeout.ms", "10000", err) < 0 ||
        conf_set(rc, "heartbeat.interval.ms", "3000", err) < 0 ||
        conf_overrides(rc, conf->overrides, err) < 0)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(rc, on_rebalance);
    c->rk = new_handle(RD_KAFKA_CONSUMER, rc, err);
    rc = NULL;
    if (c->rk == NULL)
        goto fail;
    rd_kafka_poll_set_consumer(c->rk);
    if (opts->priority_topic != NULL && opts->priority_topic[0] != '\0') {
        snprintf(c->prio_topic, sizeof(c->prio_topic), "%s", opts->priority_topic);
        c->prioq = rd_kafka_queue_new(c->rk);
        if (c->prioq == NULL) {
            mf_err_set(err, "could not create the priority queue");
            goto fail;
        }
    }
    c->opts.priority_topic = NULL;
    if (subscribe(c, opts->topics, err) < 0)
        goto fail;
    return c;
fail:
    if (rc != NULL)
        rd_kafka_conf_destroy(rc);
    if (c->rk != NULL)
        rd_kafka_destroy(c->rk);
    free(c);
    return NULL;
}

void mf_kafka_consumer_free(mf_kafka_consumer *c)
{
    if (c == NULL)
        return;
    rd_kafka_consumer_close(c->rk);
    if (c->prioq != NULL)
        rd_kafka_queue_destroy(c->prioq);
    rd_kafka_destroy(c->rk);
    free(c);
}

static void fill_msg(mf_kafka_msg *m, rd_kafka_message_t *rkm)
{
    rd_kafka_timestamp_type_t tstype;

    m->topic = rd_kafka_topic_name(rkm->rkt);
    m->partition = rkm->partition;
    m->offset = rkm->offset;
    m->key = rkm->key;
    m->key_len = rkm->key != NULL ? rkm->key_len : 0;
    m->val = rkm->payload;
    m->val_len = rkm->payload != NULL ? rkm->len : 0;
    m->ts_ms = rd_kafka_message_timestamp(rkm, &tstype);
    m->rkm = rkm;
}

/* A message carrying an error event: log it (transient) or fail (fatal). */
static int consumer_event(mf_kafka_consumer *c, rd_kafka_message_t *rkm, mf_err *err)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL && fatal_error(c->rk, err))
        return -1;
    if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && c->log != NULL)
        MF_LOG(c->log, MF_LOG_WARN, "kafka consumer error",
               MF_KV_S("topic", rkm->rkt != NULL ? rd_kafka_topic_name(rkm->rkt) : ""),
               MF_KV_S("error", rd_kafka_message_errstr(rkm)));
    return 0;
}

/*
 * librdkafka 2.0 (Debian 12) stops fetching a partition once the consumer's local queue passes
 * queued.min.messages / queued.max.messages.kbytes and looks again only when its broker thread
 * wakes up: on network traffic, or after 1 s (fetch.queue.backoff.ms, which makes this
 * configurable, arrived in 2.1). A consumer with a backlog therefore drained its bounded queue
 * in a fraction of a second and then waited for the rest of it: measured, the reporter
 * recorded about 19,000 results per second in bursts, its batches 0.4-0.9 s apart. Any request
 * on the broker connection wakes that thread, so after taking a large batch the consumer asks
 * for one partition's high watermark and the next fetch starts while the batch is processed.
 * The queue stays small and the rate follows the application. The request itself is what
 * wakes the thread, so the call waits only 1 ms for its answer: a caught-up consumer's answer
 * queues behind the fetch the broker holds open (fetch.wait.max.ms), and waiting for it cost
 * the sender 0.4-0.9 s per batch (measured).
 */
static void wake_fetcher(mf_kafka_consumer *c, const rd_kafka_message_t *last)
{
    int64_t lo = -1, hi = -1;

    if (last == NULL || last->rkt == NULL)
        return;
    (void)rd_kafka_query_watermark_offsets(c->rk, rd_kafka_topic_name(last->rkt),
                                           last->partition, &lo, &hi, 1);
}

/* Priority messages waiting (never with no priority topic). */
static int priority_waiting(mf_kafka_consumer *c)
{
    return c->prioq != NULL && rd_kafka_queue_length(c->prioq) > 0;
}

/* Take up to max messages of the priority queue without waiting. */
static size_t consume_priority(mf_kafka_consumer *c, mf_kafka_msg *msgs, size_t max)
{
    size_t got = 0;
    mf_err ignored;

    while (got < max) {
        rd_kafka_message_t *rkm = rd_kafka_consume_queue(c->prioq, 0);
        if (rkm == NULL)
            break;
        if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            (void)consumer_event(c, rkm, &ignored); /* logged there */
            rd_kafka_message_destroy(rkm);
            continue;
        }
        fill_msg(&msgs[got++], rkm);
    }
    return got;
}

size_t mf_kafka_consume_priority(mf_kafka_consumer *c, mf_kafka_msg *msgs, size_t max)
{
    return c->prioq != NULL && !c->failed ? consume_priority(c, msgs, max) : 0;
}

/* Waits of a consumer with a priority topic are cut into slices of this many ms, so a
 * priority message is seen while the consumer queue is idle. */
#define PRIORITY_SLICE_MS 10

int mf_kafka_consume(mf_kafka_consumer *c, mf_kafka_msg *msgs, size_t max, int timeout_ms,
                     size_t *n, mf_err *err)
{
    int64_t deadline = mf_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    size_t got = 0;
    int rc = 0;

    if (c->prioq != NULL && max > 0 && !c->failed &&
        (got = consume_priority(c, msgs, max)) > 0) {
        *n = got;
        return 0;
    }
    while (got < max) {
        int64_t left = 1;
        rd_kafka_message_t *rkm;

        /* a priority message arrived: end this call, the next one returns it first */
        if (c->prioq != NULL && (got & 255) == 0 && got > 0 && priority_waiting(c))
            break;
        /* While messages are queued, take them without reading the clock (a clock read per
         * message was 0.5 % of the machine in a 1 M run); wait only when the queue is empty. */
        rkm = rd_kafka_consumer_poll(c->rk, 0);
        if (rkm == NULL && !c->failed) {
            if (priority_waiting(c))
                break;
            left = deadline - mf_clock_mono_ms();
            if (left > 0)
                rkm = rd_kafka_consumer_poll(c->rk, c->prioq != NULL && left > PRIORITY_SLICE_MS
                                                        ? PRIORITY_SLICE_MS : (int)left);
        }
        if (c->failed) {
            if (rkm != NULL)
                rd_kafka_message_destroy(rkm);
            rc = mf_err_set(err, "%s", c->failed_err.msg);
            break;
        }
        if (rkm == NULL) {
            if (left <= 0)
                break;
            continue;
        }
        if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = consumer_event(c, rkm, err);
            rd_kafka_message_destroy(rkm);
            if (rc < 0)
                break;
            continue;
        }
        fill_msg(&msgs[got++], rkm);
    }
    if (rc < 0) {
        mf_kafka_release(msgs, got);
        got = 0;
    }
    if (rc == 0 && max >= 100 && got >= max / 2)
        wake_fetcher(c, msgs[got - 1].rkm);
    *n = got;
    return rc;
}

void mf_kafka_release(mf_kafka_msg *msgs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (msgs[i].rkm != NULL)
            rd_kafka_message_destroy(msgs[i].rkm);
        msgs[i].rkm = NULL;
        msgs[i].key = msgs[i].val = NULL;
    }
}

int mf_kafka_store_offsets(mf_kafka_consumer *c, const mf_kafka_msg *msgs, size_t n,
                           mf_err *err)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t code;
    size_t i;
    int j, rc = 0;

    if (n == 0)
        return 0;
    list = rd_kafka_topic_partition_list_new(8);
    for (i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(list, msgs[i].topic, msgs[i].partition);

        if (tp == NULL)
            tp = rd_kafka_topic_partition_list_add(list, msgs[i].topic, msgs[i].partition);
        if (tp->offset < msgs[i].offset + 1)
            tp->offset = msgs[i].offset + 1;
    }
    code = rd_kafka_offsets_store(c->rk, list);
    for (j = 0; j < list->cnt && rc == 0; j++) {
        if (list->elems[j].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = mf_err_set(err, "could not store offset of %s [%d]: %s", list->elems[j].topic,
                            (int)list->elems[j].partition,
                            rd_kafka_err2str(list->elems[j].err));
    }
    if (rc == 0 && code != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = mf_err_set(err, "could not store offsets: %s", rd_kafka_err2str(code));
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int mf_kafka_commit(mf_kafka_consumer *c, mf_err *err)
{
    rd_kafka_resp_err_t code = rd_kafka_commit(c->rk, NULL, 0);

    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR__NO_OFFSET)
        return mf_err_set(err, "could not commit offsets: %s", rd_kafka_err2str(code));
    return 0;
}

size_t mf_kafka_assigned_count(mf_kafka_consumer *c)
{
    return c->assigned;
}

int mf_kafka_consumer_lag(mf_kafka_consumer *c, int64_t *lag, mf_err *err)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t code;
    int64_t sum = 0;
    int i;

    *lag = 0;
    code = rd_kafka_assignment(c->rk, &parts);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mf_err_set(err, "could not read the assignment: %s", rd_kafka_err2str(code));
    code = rd_kafka_position(c->rk, parts);
    for (i = 0; code == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t lo = -1, hi = -1;

        if (tp->offset < 0 ||
            rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < tp->offset)
            continue;
        sum += hi - tp->offset;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mf_err_set(err, "could not read positions: %s", rd_kafka_err2str(code));
    *lag = sum;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* admin                                                                                    */

/* A short-lived client for admin and metadata calls. */
typedef struct admin {
    mf_log *log; /* first member: the opaque seen by on_log / on_error */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
} admin;

static int admin_open(admin *a, const mf_kafka_conf *conf, mf_err *err)
{
    rd_kafka_conf_t *rc;

    memset(a, 0, sizeof(*a));
    a->log = conf != NULL ? conf->log : NULL;
    rc = conf_base(conf, a, err);
    if (rc == NULL)
        return -1;
    if (conf_overrides(rc, conf->overrides, err) < 0) {
        rd_kafka_conf_destroy(rc);
        return -1;
    }
    a->rk = new_handle(RD_KAFKA_PRODUCER, rc, err);
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
                                      specs[i].replication != 0 ? specs[i].replication : -1,
                                      errstr, sizeof(errstr));
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
    for (i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(res[i]);

        if (code != RD_KAFKA_RESP_ERR_NO_ERROR &&
            code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            mf_err_set(err, "could not create topic \"%s\": %s", rd_kafka_topic_result_name(res[i]),
                       rd_kafka_topic_result_error_string(res[i]));
            goto out;
        }
    }
    rc = 0;
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
    for (i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(res[i]);

        if (code != RD_KAFKA_RESP_ERR_NO_ERROR &&
            code != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            mf_err_set(err, "could not delete topic \"%s\": %s",
                       rd_kafka_topic_result_name(res[i]),
                       rd_kafka_topic_result_error_string(res[i]));
            goto out;
        }
    }
    rc = 0;
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
    mf_log *log; /* first member: the opaque seen by on_log / on_error */
    int code;    /* the first authentication or TLS error, 0 while there is none */
    char reason[384];
} login_check;

static void on_login_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    login_check *lc = opaque;

    on_error(rk, code, reason, opaque);
    if (lc->code == 0 && (code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
                          code == RD_KAFKA_RESP_ERR__SSL)) {
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
    lc.log = conf != NULL ? conf->log : NULL;
    rc = conf_base(conf, &lc, err);
    if (rc == NULL)
        return -1;
    if (conf_overrides(rc, conf->overrides, err) < 0) {
        rd_kafka_conf_destroy(rc);
        return -1;
    }
    rd_kafka_conf_set_error_cb(rc, on_login_error);
    rk = new_handle(RD_KAFKA_PRODUCER, rc, err);
    if (rk == NULL)
        return -1;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t code = rd_kafka_metadata(rk, 0, NULL, &md, 500);

        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        rd_kafka_poll(rk, 0); /* serves the error events */
        if (lc.code != 0) {
            ret = mf_err_set(err, "kafka brokers %s refused the connection: %s: %s",
                             conf->brokers, lc.code == RD_KAFKA_RESP_ERR__SSL
                                                ? "TLS handshake failed"
                                                : "SASL login failed",
                             lc.reason);
            break;
        }
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR && lc.log != NULL && conf->security != NULL)
            MF_LOG(lc.log, MF_LOG_INFO, "kafka connection accepted",
                   MF_KV_S("brokers", conf->brokers),
                   MF_KV_S("protocol", conf->security->protocol),
                   MF_KV_S("user", conf->security->sasl_username));
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR || mf_clock_mono_ms() >= deadline)
            break;
    }
    rd_kafka_destroy(rk);
    return ret;
}

int mf_kafka_topic_partitions(const mf_kafka_conf *conf, const char *name, int timeout_ms,
                              int *out, mf_err *err)
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
