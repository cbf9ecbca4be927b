/* mf_kafka: thin librdkafka wrappers: configuration, topic names, the idempotent producer. */
#include "mf_clock.h"
#include "mf_kafka_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Partition counts of the topics messages were produced to by affinity, read from the
 * broker's metadata and read again after PARTS_TTL_MS (a topic given more partitions). The
 * read blocks the producing thread: for at most PARTS_FIRST_WAIT_MS while the count is not
 * known, PARTS_REFRESH_WAIT_MS when the old one stays if the broker does not answer (a
 * webhook request must still get its 503 in time while Kafka is down). */
enum {
    PARTS_TOPICS = 8,
    PARTS_TTL_MS = 30000,
    PARTS_RETRY_MS = 1000,
    PARTS_FIRST_WAIT_MS = 500,
    PARTS_REFRESH_WAIT_MS = 200
};
typedef struct parts_entry {
    char topic[MF_KAFKA_TOPIC_MAX + 1];
    int count;      /* 0: not known (the metadata request failed) */
    int64_t due_ms; /* monotonic: when to read it again */
} parts_entry;

/* Every struct given to librdkafka as its opaque starts with the mf_log pointer: the log and
 * error callbacks read it from there. */
struct mf_kafka_producer {
    mf_log *log;
    rd_kafka_t *rk;
    mf_kafka_dr_fn dr;
    void *dr_ctx;
    pthread_mutex_t parts_lock; /* producers are shared by threads (the sender's workers) */
    parts_entry parts[PARTS_TOPICS];
    size_t nparts, next_part; /* entries used; the one replaced next when full */
};

/* ---------------------------------------------------------------------------------------- */
/* configuration                                                                            */


/* Property names whose values (and librdkafka's messages about them) must not be logged. */
static int is_secret_key(const char *key)
{
    return strstr(key, "password") != NULL || strstr(key, "secret") != NULL ||
           strstr(key, "sasl.oauthbearer.config") != NULL || strstr(key, ".key") != NULL;
}

int mf_kafka_rk_conf_set(rd_kafka_conf_t *rc, const char *key, const char *val, mf_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(rc, key, val, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        if (is_secret_key(key))
            return mf_err_set(err, "could not set kafka property \"%s\"", key);
        return mf_err_set(err, "could not set kafka property \"%s\": %s", key, errstr);
    }
    return 0;
}

int mf_kafka_rk_overrides(rd_kafka_conf_t *rc, const char *const *ov, mf_err *err)
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
        if (mf_kafka_rk_conf_set(rc, key, eq + 1, err) < 0)
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

void mf_kafka_rk_on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    mf_log *log = *(mf_log **)opaque;

    (void)rk;
    if (log != NULL)
        MF_LOG(log, code == RD_KAFKA_RESP_ERR__FATAL ? MF_LOG_ERROR : MF_LOG_WARN, "kafka error",
               MF_KV_S("error", rd_kafka_err2name((rd_kafka_resp_err_t)code)),
               MF_KV_S("reason", reason));
}

/*
 * Common part: brokers, client id, logs and errors through the handle's queue (served on the
 * caller's thread by poll/consume), opaque = a struct whose first member is the mf_log *.
 */
rd_kafka_conf_t *mf_kafka_rk_conf_base(const mf_kafka_conf *conf, void *opaque, mf_err *err)
{
    rd_kafka_conf_t *rc;

    if (conf == NULL || conf->brokers == NULL || conf->brokers[0] == '\0') {
        mf_err_set(err, "kafka brokers are not configured");
        return NULL;
    }
    rc = rd_kafka_conf_new();
    if (mf_kafka_rk_conf_set(rc, "bootstrap.servers", conf->brokers, err) < 0 ||
        mf_kafka_rk_conf_set(rc, "client.id",
                             conf->client_id != NULL ? conf->client_id : "msgfleet", err) < 0 ||
        mf_kafka_rk_conf_set(rc, "log.queue", "true", err) < 0 ||
        mf_kafka_sec_apply(conf->security, rc, err) < 0) {
        rd_kafka_conf_destroy(rc);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(rc, on_log);
    rd_kafka_conf_set_error_cb(rc, mf_kafka_rk_on_error);
    rd_kafka_conf_set_opaque(rc, opaque);
    return rc;
}

/* rd_kafka_new taking ownership of rc on success and on failure. */
rd_kafka_t *mf_kafka_rk_new(rd_kafka_type_t type, rd_kafka_conf_t *rc, mf_err *err)
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

mf_kafka_producer *mf_kafka_producer_new(const mf_kafka_conf *conf, mf_kafka_dr_fn dr, void *dr_ctx,
                                         mf_err *err)
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
    pthread_mutex_init(&p->parts_lock, NULL);
    p->dr = dr;
    p->dr_ctx = dr_ctx;
    rc = mf_kafka_rk_conf_base(conf, p, err);
    if (rc == NULL)
        goto fail;
    for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (mf_kafka_rk_conf_set(rc, defaults[i][0], defaults[i][1], err) < 0)
            goto fail;
    }
    if (mf_kafka_rk_overrides(rc, conf->overrides, err) < 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(rc, on_delivery);
    p->rk = mf_kafka_rk_new(RD_KAFKA_PRODUCER, rc, err);
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
    pthread_mutex_destroy(&p->parts_lock);
    free(p);
}

int mf_kafka_rk_fatal(rd_kafka_t *rk, mf_err *err)
{
    char errstr[512];
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, errstr, sizeof(errstr));

    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    mf_err_set(err, "fatal kafka error: %s: %s", rd_kafka_err2name(code), errstr);
    return 1;
}

/* Queues one message for partition (RD_KAFKA_PARTITION_UA: the key's), with backpressure. */
static int produce_to(mf_kafka_producer *p, const char *topic, int32_t partition, const void *key,
                      size_t key_len, const void *val, size_t val_len, void *msg_opaque,
                      int block_ms, mf_err *err)
{
    int64_t deadline = mf_clock_mono_ms() + (block_ms > 0 ? block_ms : 0);
    size_t klen = key != NULL ? key_len : 0;
    size_t vlen = val != NULL ? val_len : 0;

    for (;;) {
        rd_kafka_resp_err_t code = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, klen),
            RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        int64_t left;

        if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (code == RD_KAFKA_RESP_ERR__FATAL && mf_kafka_rk_fatal(p->rk, err))
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

int mf_kafka_produce(mf_kafka_producer *p, const char *topic, const void *key, size_t key_len,
                     const void *val, size_t val_len, void *msg_opaque, int block_ms, mf_err *err)
{
    return produce_to(p, topic, RD_KAFKA_PARTITION_UA, key, key_len, val, val_len, msg_opaque,
                      block_ms, err);
}

/* The partition count of topic from the broker's metadata; 0 when the request fails. */
static int read_partition_count(rd_kafka_t *rk, const char *topic, int wait_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int count = 0;

    if (rkt == NULL)
        return 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, wait_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        count = md->topics[0].partition_cnt;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return count;
}

/* The cache entry of topic (a new one replaces the oldest when the table is full). The caller
 * holds parts_lock. */
static parts_entry *parts_slot(mf_kafka_producer *p, const char *topic)
{
    parts_entry *e;

    for (size_t i = 0; i < p->nparts; i++)
        if (strcmp(p->parts[i].topic, topic) == 0)
            return &p->parts[i];
    if (p->nparts < PARTS_TOPICS) {
        e = &p->parts[p->nparts++];
    } else {
        e = &p->parts[p->next_part];
        p->next_part = (p->next_part + 1) % PARTS_TOPICS;
    }
    snprintf(e->topic, sizeof(e->topic), "%s", topic);
    e->count = 0;
    e->due_ms = 0;
    return e;
}

/* topic's partition count as last read (read now when it is due: one thread reads while the
 * others go on with the count they had); 0 when it is not known. */
static int partition_count(mf_kafka_producer *p, const char *topic)
{
    int64_t now = mf_clock_mono_ms();
    parts_entry *e;
    int count, fresh;

    pthread_mutex_lock(&p->parts_lock);
    e = parts_slot(p, topic);
    count = e->count;
    if (now < e->due_ms) {
        pthread_mutex_unlock(&p->parts_lock);
        return count;
    }
    e->due_ms = now + PARTS_RETRY_MS; /* the others do not ask too */
    pthread_mutex_unlock(&p->parts_lock);
    fresh = read_partition_count(p->rk, topic,
                                 count > 0 ? PARTS_REFRESH_WAIT_MS : PARTS_FIRST_WAIT_MS);
    pthread_mutex_lock(&p->parts_lock);
    e = parts_slot(p, topic);
    if (fresh > 0)
        e->count = count = fresh;
    /* from the answer or the give-up: a broker that does not answer is asked once a second */
    e->due_ms = mf_clock_mono_ms() + (fresh > 0 ? PARTS_TTL_MS : PARTS_RETRY_MS);
    pthread_mutex_unlock(&p->parts_lock);
    return count;
}

int32_t mf_kafka_affinity_partition(const char *affinity, int partitions)
{
    uint32_t h = 2166136261u; /* FNV-1a: the same in every process and build */

    if (affinity == NULL || affinity[0] == '\0' || partitions <= 0)
        return -1;
    for (const unsigned char *c = (const unsigned char *)affinity; *c != '\0'; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return (int32_t)(h % (uint32_t)partitions);
}

int mf_kafka_produce_affine(mf_kafka_producer *p, const char *topic, const char *affinity,
                            const void *key, size_t key_len, const void *val, size_t val_len,
                            void *msg_opaque, int block_ms, mf_err *err)
{
    int32_t partition = RD_KAFKA_PARTITION_UA;

    if (affinity != NULL && affinity[0] != '\0') {
        int32_t a = mf_kafka_affinity_partition(affinity, partition_count(p, topic));

        if (a >= 0)
            partition = a;
    }
    return produce_to(p, topic, partition, key, key_len, val, val_len, msg_opaque, block_ms, err);
}

int mf_kafka_poll(mf_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int mf_kafka_flush(mf_kafka_producer *p, int timeout_ms, mf_err *err)
{
    rd_kafka_flush(p->rk, timeout_ms);
    if (mf_kafka_rk_fatal(p->rk, err))
        return -1;
    if (rd_kafka_outq_len(p->rk) > 0)
        return mf_err_set(err,
                          "could not flush kafka producer: %d messages still in flight "
                          "after %d ms",
                          rd_kafka_outq_len(p->rk), timeout_ms);
    return 0;
}

int mf_kafka_outq_len(mf_kafka_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

int mf_kafka_producer_fatal(mf_kafka_producer *p, mf_err *err)
{
    return mf_kafka_rk_fatal(p->rk, err);
}
