/* mf_kafka_consumer: the Kafka group consumer (rebalance hooks, priority topic, offsets, lag). */
#include "mf_clock.h"
#include "mf_kafka_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mf_kafka_consumer {
    mf_log *log;
    rd_kafka_t *rk;
    mf_kafka_consumer_opts opts; /* topics pointer not used after subscribe */
    size_t assigned;
    uint32_t revokes; /* revocations so far: stamped on each returned message */
    int failed;       /* the assign hook failed: every consume fails with failed_err */
    mf_err failed_err;
    /* opts.priority_topic: its partitions' messages are forwarded to this queue, which
     * mf_kafka_consume serves before the consumer queue (NULL: no priority topic) */
    rd_kafka_queue_t *prioq;
    char prio_topic[MF_KAFKA_TOPIC_MAX + 1];
};

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

    c->revokes++;
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
    if (conf == NULL) { /* (mf_kafka_rk_conf_base refuses it too; said here for the analyzer) */
        mf_err_set(err, "kafka brokers are not configured");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    c->log = conf->log;
    c->opts = *opts;
    c->opts.topics = NULL;
    rc = mf_kafka_rk_conf_base(conf, c, err);
    if (rc == NULL)
        goto fail;
    if (mf_kafka_rk_conf_set(rc, "group.id", opts->group_id, err) < 0 ||
        mf_kafka_rk_conf_set(rc, "enable.auto.commit", store ? "true" : "false", err) < 0 ||
        mf_kafka_rk_conf_set(rc, "enable.auto.offset.store", "false", err) < 0 ||
        mf_kafka_rk_conf_set(rc, "auto.offset.reset",
                             opts->offset_reset != NULL ? opts->offset_reset : "earliest",
                             err) < 0 ||
        mf_kafka_rk_conf_set(rc, "partition.assignment.strategy", "range,roundrobin", err) < 0 ||
        /* Prefetch per partition: librdkafka's 64 MB default alone would exceed a daemon's
         * memory budget (a sender reads 16 partitions: jobs and retry); 1 MB or 10k
         * messages per partition still keeps a 5,000-job batch fed. */
        mf_kafka_rk_conf_set(rc, "queued.max.messages.kbytes", "2048", err) < 0 ||
        mf_kafka_rk_conf_set(rc, "queued.min.messages", "20000", err) < 0 ||
        /* What one fetch may add per partition on top of that queue (librdkafka's default is
         * 1 MB): 8 partitions x 1 MB of overshoot was a sender's largest buffer at 1 M
         * recipients; fetches are woken per batch (wake_fetcher), so smaller ones keep up. */
        mf_kafka_rk_conf_set(rc, "fetch.message.max.bytes", "262144", err) < 0 ||
        /* A caught-up consumer's fetch otherwise returns as soon as one byte arrives: under
         * load, one fetch request per producer batch. Waiting for 256 KB cuts the broker's
         * request rate; a lone job waits at most 50 ms more. */
        mf_kafka_rk_conf_set(rc, "fetch.min.bytes", "262144", err) < 0 ||
        mf_kafka_rk_conf_set(rc, "fetch.wait.max.ms", "50", err) < 0 ||
        /* A subscribed topic created after start-up (the first retry or dlq message creates
         * it) must be noticed in seconds, not after librdkafka's 5-minute default. */
        mf_kafka_rk_conf_set(rc, "topic.metadata.refresh.interval.ms", "5000", err) < 0 ||
        /* A killed member holds its partitions until the session times out: 10 s instead
         * of librdkafka's 45 s keeps a SIGKILLed sender from stalling the group for long. */
        mf_kafka_rk_conf_set(rc, "session.timeout.ms", "10000", err) < 0 ||
        mf_kafka_rk_conf_set(rc, "heartbeat.interval.ms", "3000", err) < 0 ||
        mf_kafka_rk_overrides(rc, conf->overrides, err) < 0)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(rc, on_rebalance);
    c->rk = mf_kafka_rk_new(RD_KAFKA_CONSUMER, rc, err);
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

static void fill_msg(const mf_kafka_consumer *c, mf_kafka_msg *m, rd_kafka_message_t *rkm)
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
    m->revokes = c->revokes;
}

/* A message carrying an error event: log it (transient) or fail (fatal). */
static int consumer_event(mf_kafka_consumer *c, rd_kafka_message_t *rkm, mf_err *err)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL && mf_kafka_rk_fatal(c->rk, err))
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
    (void)rd_kafka_query_watermark_offsets(c->rk, rd_kafka_topic_name(last->rkt), last->partition,
                                           &lo, &hi, 1);
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
        fill_msg(c, &msgs[got++], rkm);
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

    if (c->prioq != NULL && max > 0 && !c->failed && (got = consume_priority(c, msgs, max)) > 0) {
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
                                                        ? PRIORITY_SLICE_MS
                                                        : (int)left);
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
        fill_msg(c, &msgs[got++], rkm);
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

int mf_kafka_store_offsets(mf_kafka_consumer *c, const mf_kafka_msg *msgs, size_t n, mf_err *err)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t code;
    size_t i;
    int j, rc = 0;

    if (n == 0)
        return 0;
    list = rd_kafka_topic_partition_list_new(8);
    for (i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(list, msgs[i].topic,
                                                                            msgs[i].partition);

        if (tp == NULL)
            tp = rd_kafka_topic_partition_list_add(list, msgs[i].topic, msgs[i].partition);
        if (tp->offset < msgs[i].offset + 1)
            tp->offset = msgs[i].offset + 1;
    }
    code = rd_kafka_offsets_store(c->rk, list);
    for (j = 0; j < list->cnt && rc == 0; j++) {
        if (list->elems[j].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = mf_err_set(err, "could not store offset of %s [%d]: %s", list->elems[j].topic,
                            (int)list->elems[j].partition, rd_kafka_err2str(list->elems[j].err));
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

uint32_t mf_kafka_consumer_revokes(const mf_kafka_consumer *c)
{
    return c->revokes;
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
