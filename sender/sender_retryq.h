/* sender_retryq: retry-topic jobs held in memory until their not-before time, and the offsets
 * that may be stored for the retry partitions while some are held. */
#ifndef SENDER_RETRYQ_H
#define SENDER_RETRYQ_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"
#include "mf_kafka.h"
#include "mf_uuid.h"

/*
 * Kafka offsets are contiguous: a job held at offset X must not be committed past. So the
 * retry partitions keep being consumed (no head-of-line blocking: a job due in 10 s behind a
 * quiet-hours job due at 08:00 goes out in 10 s), held jobs are copied here (the librdkafka
 * message is released), and the offset stored for a retry partition is the smallest held
 * offset, else the highest processed one + 1. After a crash the partition is re-read from the
 * smallest held offset; jobs after it that were already handled find their final claims and
 * are re-emitted, never resent.
 */
typedef struct sender_held {
    int32_t partition;
    int64_t offset;
    int64_t due_ms;
    void *key, *val;
    size_t klen, vlen;
    mf_uuid run;  /* the job's run (for sender_retryq_mark) */
    int in_batch; /* handed to the current batch */
    int parked;   /* its workflow is paused: not handed out, whatever due_ms says */
} sender_held;

typedef struct sender_retry_pos {
    int32_t partition;
    int64_t done; /* highest processed offset + 1, -1 when none */
} sender_retry_pos;

typedef struct sender_retryq {
    sender_held *h;
    size_t n, cap;
    size_t *taken; /* indices in h of the jobs handed to the current batch */
    size_t ntaken, taken_cap;
    sender_retry_pos *pos;
    size_t npos, poscap;
} sender_retryq;

void sender_retryq_free(sender_retryq *q);

/* Holds a copy of a message of run `run` until due_ms (parked: also until un-parked by
 * sender_retryq_mark). 0 or -1 (out of memory). */
int sender_retryq_hold(sender_retryq *q, const mf_kafka_msg *m, int64_t due_ms, const mf_uuid *run,
                       int parked, mf_err *err);

/* The job handed to the current batch at partition/offset goes back to the queue, parked
 * (its workflow was found paused). 1 when found, 0 when not. */
int sender_retryq_keep(sender_retryq *q, int32_t partition, int64_t offset);

/* What to do with the held jobs of a run: SENDER_RETRYQ_GO (as due_ms says),
 * SENDER_RETRYQ_PARK (its workflow is paused: keep it, even when due) or SENDER_RETRYQ_NOW
 * (its run was cancelled: due at once, so that a batch records it as cancelled). */
enum { SENDER_RETRYQ_GO = 0, SENDER_RETRYQ_PARK, SENDER_RETRYQ_NOW };
typedef int (*sender_retryq_state_fn)(void *arg, const mf_uuid *run);

/* Applies fn to every held job (not in a batch). */
void sender_retryq_mark(sender_retryq *q, sender_retryq_state_fn fn, void *arg);

/* Earliest due time of the jobs still held (not in a batch, not parked); INT64_MAX when none. */
int64_t sender_retryq_next_due(const sender_retryq *q);

/* Fills out[0..max) with held jobs due at `now`, parked ones excepted (topic = retry topic
 * name, rkm = NULL; key/val point into the queue until sender_retryq_batch_end) and marks them
 * in_batch. Fewer than asked when out of memory (the rest stay held). */
size_t sender_retryq_take_due(sender_retryq *q, int64_t now, const char *topic, mf_kafka_msg *out,
                              size_t max);

/* Records a processed retry-topic offset. 0 or -1 (out of memory). */
int sender_retryq_done(sender_retryq *q, int32_t partition, int64_t offset, mf_err *err);

/* Ends a batch: in_batch jobs are dropped (processed, or abandoned on stop: their offsets were
 * not stored past them). */
void sender_retryq_batch_end(sender_retryq *q);

/* Offset to store for a partition (see above); -1 when nothing is known. */
int64_t sender_retryq_position(const sender_retryq *q, int32_t partition);

/* Forgets a partition (revoked): its held jobs are re-read by the next owner. */
void sender_retryq_drop_partition(sender_retryq *q, int32_t partition);

/* Jobs held (not in a batch). */
size_t sender_retryq_held(const sender_retryq *q);

/* Of those, parked ones (their workflow paused). */
size_t sender_retryq_parked(const sender_retryq *q);

#endif
