/* mf_kafka: thin librdkafka wrappers: idempotent producer, group consumer, topic admin. */
#ifndef MF_KAFKA_H
#define MF_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"
#include "mf_kafka_sec.h"
#include "mf_log.h"

/*
 * Connection settings shared by producers, consumers and the admin call. Nothing is copied
 * beyond the constructor call: the strings only need to live during it.
 */
typedef struct mf_kafka_conf {
    const char *brokers;      /* bootstrap.servers, "host:port,host:port" (required) */
    const char *client_id;    /* client.id (NULL: "msgfleet") */
    const char *topic_prefix; /* prepended to base topic names, e.g. "msgfleet." (NULL: "") */
    /* librdkafka properties applied last, each "key=value" (e.g. "compression.type=zstd",
     * "linger.ms=5"); NULL-terminated array or NULL. Values are never logged. TLS and SASL
     * come from `security` below, where they are checked. */
    const char *const *overrides;
    mf_log *log; /* librdkafka log lines and errors go here (NULL: dropped) */
    /* TLS and SASL (NULL: plaintext), applied to every client before the overrides; checked
     * with mf_kafka_sec_check when a client is made. */
    const mf_kafka_sec *security;
} mf_kafka_conf;

/* Topic base names of the fleet (schemas/kafka/README.md). */
#define MF_TOPIC_JOBS "jobs"
#define MF_TOPIC_RESULTS "results"
#define MF_TOPIC_RETRY "retry"
#define MF_TOPIC_DLQ "dlq"
#define MF_TOPIC_EVENTS "events"
/* The transactional lane (docs/pipeline.md, "Priority lane"): jobs of event, webhook and
 * transactional runs, served by the senders before the campaign's jobs, and their results,
 * recorded by a consumer of their own in each reporter. */
#define MF_TOPIC_JOBS_TX "jobs.tx"
#define MF_TOPIC_RESULTS_TX "results.tx"

/* Longest full topic name Kafka allows. */
#define MF_KAFKA_TOPIC_MAX 249

/* Full topic name = prefix + base into out (cap bytes, MF_KAFKA_TOPIC_MAX + 1 is enough).
 * Fails when the result is longer than Kafka allows or has characters other than
 * [a-zA-Z0-9._-]. */
int mf_kafka_topic_name(const mf_kafka_conf *conf, const char *base, char *out, size_t cap,
                        mf_err *err);

/* ---------------------------------------------------------------------------------------- */
/* producer (mf_kafka.c)                                                                    */

/*
 * Producer: enable.idempotence=true, acks=all, compression lz4, linger 25 ms, batches of up
 * to 10,000 messages / 1 MB, a 100,000-message (32 MB) local queue, message.timeout.ms 300 s
 * (each overridable through conf->overrides).
 */
typedef struct mf_kafka_producer mf_kafka_producer;

/* What the delivery report callback learns about one message. Pointers are valid only during
 * the callback. */
typedef struct mf_kafka_dr {
    void *opaque;      /* the msg_opaque given to mf_kafka_produce */
    int ok;            /* 1: acknowledged by all in-sync replicas; 0: failed for good */
    const char *error; /* NULL when ok, else the reason */
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1 when not known */
    const void *key;
    size_t key_len;
} mf_kafka_dr;

/* Called once per produced message, from inside mf_kafka_produce / _poll / _flush on the
 * calling thread (never from a librdkafka thread). */
typedef void (*mf_kafka_dr_fn)(void *ctx, const mf_kafka_dr *dr);

/* New producer; dr may be NULL (fire and forget, errors still logged). Returns NULL and fills
 * err when the configuration is rejected. */
mf_kafka_producer *mf_kafka_producer_new(const mf_kafka_conf *conf, mf_kafka_dr_fn dr, void *dr_ctx,
                                         mf_err *err);

/* Destroy. Call mf_kafka_flush first: messages still queued are purged and their reports are
 * not delivered. p may be NULL. */
void mf_kafka_producer_free(mf_kafka_producer *p);

/*
 * Queue one message for `topic` (a full name). key and value are copied. When the local queue
 * is full, serves delivery reports and retries for up to block_ms (backpressure), then fails
 * with "local queue full". Fails at once after a fatal error.
 */
int mf_kafka_produce(mf_kafka_producer *p, const char *topic, const void *key, size_t key_len,
                     const void *val, size_t val_len, void *msg_opaque, int block_ms, mf_err *err);

/*
 * mf_kafka_produce onto the partition of `affinity` (mf_kafka_affinity_partition with the
 * topic's partition count) instead of the key's: messages of one affinity land on one
 * partition whatever their keys, in every process that produces them this way. The count is
 * read from the broker's metadata and again every 30 s (a topic given more partitions); while
 * it is not known, and for a NULL or "" affinity, the key decides as in mf_kafka_produce.
 * Thread-safe like mf_kafka_produce.
 */
int mf_kafka_produce_affine(mf_kafka_producer *p, const char *topic, const char *affinity,
                            const void *key, size_t key_len, const void *val, size_t val_len,
                            void *msg_opaque, int block_ms, mf_err *err);

/* The partition of affinity among `partitions`: FNV-1a (32 bit) of its bytes modulo the
 * count; -1 for a NULL or "" affinity or a count <= 0. */
int32_t mf_kafka_affinity_partition(const char *affinity, int partitions);

/* Serve delivery reports and errors for up to timeout_ms. Returns the number of events. */
int mf_kafka_poll(mf_kafka_producer *p, int timeout_ms);

/* Wait until every queued message has its delivery report, for at most timeout_ms. Fails with
 * "%d messages still in flight" when the deadline passes. */
int mf_kafka_flush(mf_kafka_producer *p, int timeout_ms, mf_err *err);

/* Messages queued or in flight (not yet reported). */
int mf_kafka_outq_len(mf_kafka_producer *p);

/* 1 when the producer hit a fatal error (idempotence guarantees lost: the caller must stop,
 * and restart with a new producer); the reason goes to err. 0 otherwise. */
int mf_kafka_producer_fatal(mf_kafka_producer *p, mf_err *err);

/* ---------------------------------------------------------------------------------------- */
/* consumer (mf_kafka_consumer.c)                                                           */

typedef enum mf_kafka_offsets {
    /* enable.auto.commit=true, enable.auto.offset.store=false: the caller stores the offset of
     * each message after processing it (mf_kafka_store_offsets); stored offsets are committed
     * in the background and on close. At-least-once. */
    MF_KAFKA_OFFSETS_STORE = 0,
    /* nothing is committed to Kafka at all: the caller keeps offsets elsewhere (the reporter:
     * in PostgreSQL, in the same transaction as its writes) and returns them from the assign
     * hook. */
    MF_KAFKA_OFFSETS_EXTERNAL
} mf_kafka_offsets;

/* Special start offsets an assign hook may set. */
#define MF_KAFKA_OFFSET_BEGINNING (-2)
#define MF_KAFKA_OFFSET_END (-1)
#define MF_KAFKA_OFFSET_COMMITTED (-1001) /* the group's committed offset, else auto.offset.reset */

typedef struct mf_kafka_partition {
    const char *topic;
    int32_t partition;
    int64_t offset; /* in: MF_KAFKA_OFFSET_COMMITTED; the assign hook may set where to start */
} mf_kafka_partition;

/* Called when the group assigns partitions, before any message of them is fetched. Set
 * parts[i].offset to start elsewhere than the committed offset. Returning -1 (with err) makes
 * the consumer fail: the next mf_kafka_consume returns -1 with that reason, and the process
 * should exit (it will be reassigned elsewhere or restarted). */
typedef int (*mf_kafka_assign_fn)(void *ctx, mf_kafka_partition *parts, size_t n, mf_err *err);

/* Called when partitions are taken away (eager protocol: all of them), before they are. */
typedef void (*mf_kafka_revoke_fn)(void *ctx, const mf_kafka_partition *parts, size_t n);

typedef struct mf_kafka_consumer_opts {
    const char *group_id;         /* required */
    const char *const *topics;    /* full names, NULL-terminated, required */
    mf_kafka_offsets offsets;     /* see above */
    mf_kafka_assign_fn on_assign; /* may be NULL */
    mf_kafka_revoke_fn on_revoke; /* may be NULL */
    void *hook_ctx;
    /* auto.offset.reset when there is no committed offset: "earliest" (NULL) or "latest" */
    const char *offset_reset;
    /* One of topics (full name) whose messages are served first, or NULL: its partitions are
     * consumed through a queue of their own, and mf_kafka_consume returns only its messages
     * while it has any; a call busy with other messages (or waiting for some) returns early
     * when one arrives, so the next call delivers it (docs/pipeline.md, "Priority lane").
     * Without priority messages the consumer works as without one, except that a wait is cut
     * into 10 ms slices. */
    const char *priority_topic;
} mf_kafka_consumer_opts;

typedef struct mf_kafka_consumer mf_kafka_consumer;

/* New consumer, subscribed to opts->topics (eager range,roundrobin assignment). */
mf_kafka_consumer *mf_kafka_consumer_new(const mf_kafka_conf *conf,
                                         const mf_kafka_consumer_opts *opts, mf_err *err);

/* Close (leave the group; in STORE mode commit stored offsets) then destroy. Release every
 * message first. c may be NULL. */
void mf_kafka_consumer_free(mf_kafka_consumer *c);

/* One consumed message. key/val point into librdkafka's buffer: valid until
 * mf_kafka_release(). */
typedef struct mf_kafka_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL when the message has no key */
    size_t key_len;
    const void *val; /* NULL for a null value */
    size_t val_len;
    int64_t ts_ms; /* message timestamp, -1 when absent */
    void *rkm;     /* the rd_kafka_message_t */
    /* the consumer's revocations when the message was returned (mf_kafka_consumer_revokes):
     * a rebalance hook runs inside mf_kafka_consume, so one call can return messages from
     * before a revocation, of partitions that now start again elsewhere */
    uint32_t revokes;
} mf_kafka_msg;

/*
 * Fill up to max messages, waiting at most timeout_ms in total (returns early once max are
 * there; 0 messages after the timeout is not an error). Rebalance hooks run inside this call.
 * Transient errors (broker down, unknown topic while it is being created) are logged and
 * skipped; -1 only on a fatal error or a failed assign hook. *n is set in every case.
 */
int mf_kafka_consume(mf_kafka_consumer *c, mf_kafka_msg *msgs, size_t max, int timeout_ms,
                     size_t *n, mf_err *err);

/* Up to max messages of the priority topic (mf_kafka_consumer_opts.priority_topic) that are
 * already fetched, without waiting; 0 without a priority topic. */
size_t mf_kafka_consume_priority(mf_kafka_consumer *c, mf_kafka_msg *msgs, size_t max);

/* Give messages back to librdkafka (their key/val become invalid). */
void mf_kafka_release(mf_kafka_msg *msgs, size_t n);

/* Store offset+1 of each message (per partition, the highest wins) for the next commit
 * (STORE mode). Fails e.g. for partitions no longer assigned. */
int mf_kafka_store_offsets(mf_kafka_consumer *c, const mf_kafka_msg *msgs, size_t n, mf_err *err);

/* Commit the stored offsets now and wait for the broker (STORE mode; normally the background
 * auto-commit and close do it). "nothing to commit" is success. */
int mf_kafka_commit(mf_kafka_consumer *c, mf_err *err);

/* Number of partitions currently assigned to this consumer (0 before the first rebalance). */
size_t mf_kafka_assigned_count(mf_kafka_consumer *c);

/* Consumer lag: the sum over the assigned partitions of (high watermark - position), from
 * librdkafka's cached watermarks (no broker round trip; they refresh with every fetch).
 * Partitions whose position or watermark is not known yet count 0. */
int mf_kafka_consumer_lag(mf_kafka_consumer *c, int64_t *lag, mf_err *err);

/* How many revocations the consumer has run (counted before its revoke hook is called). */
uint32_t mf_kafka_consumer_revokes(const mf_kafka_consumer *c);

/* ---------------------------------------------------------------------------------------- */
/* admin (mf_kafka_admin.c)                                                                 */

typedef struct mf_kafka_topic_spec {
    const char *name; /* full name */
    int partitions;   /* > 0 */
    int replication;  /* -1: broker default */
} mf_kafka_topic_spec;

/* Create each topic that does not exist yet (an existing one is left as it is, whatever its
 * partition count), waiting up to timeout_ms. */
int mf_kafka_ensure_topics(const mf_kafka_conf *conf, const mf_kafka_topic_spec *specs, size_t n,
                           int timeout_ms, mf_err *err);

/* Delete topics (tests, the CLI); missing topics are not an error. */
int mf_kafka_delete_topics(const mf_kafka_conf *conf, const char *const *names, size_t n,
                           int timeout_ms, mf_err *err);

/*
 * Start-up check of the connection settings: asks the brokers for metadata until one answers
 * (logged at info level with the protocol and user) or timeout_ms passes. Fails at once,
 * with librdkafka's reason, when the brokers refuse the SASL login or the TLS handshake
 * fails (a configuration error that retrying will not fix); brokers that do not answer at
 * all within timeout_ms are not an error (the clients keep retrying, as they do after
 * start-up).
 */
int mf_kafka_check_login(const mf_kafka_conf *conf, int timeout_ms, mf_err *err);

/* How long the daemons' start-up login check waits for an answer. */
#define MF_KAFKA_LOGIN_CHECK_MS 10000

/* Partition count of an existing topic into *out; fails when the topic does not exist. */
int mf_kafka_topic_partitions(const mf_kafka_conf *conf, const char *name, int timeout_ms, int *out,
                              mf_err *err);

#endif
