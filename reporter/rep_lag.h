/* rep_lag: results-topic watermarks for the consumer lag gauge and the Kafka health check. */
#ifndef REP_LAG_H
#define REP_LAG_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"
#include "mf_kafka_sec.h"

/* mf_kafka keeps its consumer handle private and has no lag query, so the reporter asks the
 * brokers itself through a small librdkafka handle of its own (no group, nothing consumed). */
typedef struct rep_lag rep_lag;

/* brokers / client_id / sec (TLS and SASL, NULL: plaintext) are copied into the librdkafka
 * configuration. NULL with err. */
rep_lag *rep_lag_new(const char *brokers, const char *client_id, const mf_kafka_sec *sec,
                     mf_err *err);
void rep_lag_free(rep_lag *l); /* l may be NULL */

/*
 * Lag of a consumer positioned at next[i] on partition parts[i] of `topic`: the sum of
 * (high watermark - next[i]); next[i] < 0 (nothing stored yet) counts from the low watermark.
 * With n == 0 it only checks that a broker answers (cluster metadata). Each broker round trip
 * waits at most timeout_ms. 0 with *lag, or -1 with err (no broker reachable, unknown topic).
 */
int rep_lag_query(rep_lag *l, const char *topic, const int32_t *parts, const int64_t *next,
                  size_t n, int timeout_ms, long long *lag, mf_err *err);

#endif
