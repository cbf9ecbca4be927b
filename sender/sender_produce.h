/* sender_produce: what the sender writes to Kafka (results, retry jobs, dead letters) and the
 * delivery reports of the batch. */
#ifndef SENDER_PRODUCE_H
#define SENDER_PRODUCE_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"
#include "mf_kafka.h"
#include "sender_slot.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* The producer's delivery report callback (ctx: the sender_ctx): counts the batch's pending
 * acknowledgements and remembers the first failure. */
void sender_produce_on_delivery(void *ctx, const mf_kafka_dr *dr);

/* Produces to a full topic name, counting the delivery report. */
int sender_produce(sender_ctx *s, const char *topic, const void *key, size_t klen, const void *val,
                   size_t vlen, mf_err *err);

/* Dead-letters message i of the batch (the original key and bytes, with reason). */
int sender_produce_dlq(sender_ctx *s, size_t i, const char *reason, mf_err *err);

/* Produces the result of every SLOT_FINAL slot (they become SLOT_DONE); acknowledgements are
 * awaited at the end of the batch, before its offsets are stored. */
int sender_produce_finals(sender_ctx *s, mf_err *err);

/* Produces the slot's job to the retry topic with not-before nb_ms (wall clock; key = job
 * id). */
int sender_produce_retry(sender_ctx *s, sender_slot *sl, int64_t nb_ms, mf_err *err);

/* Waits for every delivery report of the batch. 0 when all were acknowledged; -1 when one
 * failed for good (or the producer is fatal); 1 when a stop deadline passed while the broker
 * was away (the batch is abandoned: offsets not stored). A broker that is down for a while
 * only makes this wait: librdkafka keeps retrying for message.timeout.ms. */
int sender_produce_await(sender_ctx *s, mf_err *err);

#endif
