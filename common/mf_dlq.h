/* mf_dlq: a consumed message that cannot be handled, encoded as a dead letter (topic dlq). */
#ifndef MF_DLQ_H
#define MF_DLQ_H

#include <msgpack.h>

#include "mf_err.h"
#include "mf_kafka.h"

/*
 * Encodes into buf (cleared first) the dead letter of m: its topic, partition, offset, key and
 * value as they were consumed (a null value as empty), reason (the mf_err message that refused
 * it) and now as the time. Borrows m and reason. Returns 0, or -1 with err (encoding failed).
 * The planner's events consumer, the sender and the reporter share it, so a dead letter looks
 * the same whoever wrote it (schemas/kafka/dlq.md).
 */
int mf_dlq_encode_msg(msgpack_sbuffer *buf, const mf_kafka_msg *m, const char *reason, mf_err *err);

#endif
