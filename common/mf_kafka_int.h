/* mf_kafka_int: what the Kafka wrappers' files share (librdkafka set-up; not for callers). */
#ifndef MF_KAFKA_INT_H
#define MF_KAFKA_INT_H

/*
 * The wrappers are one module in three files: mf_kafka.c (configuration, topic names, the
 * producer), mf_kafka_consumer.c (the group consumer) and mf_kafka_admin.c (topics, login
 * check, metadata). Every struct given to librdkafka as its opaque starts with the mf_log
 * pointer: the log and error callbacks read it from there. Callers include mf_kafka.h only.
 */
#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"

/* rd_kafka_conf_set with a message that never shows a secret property's value. */
int mf_kafka_rk_conf_set(rd_kafka_conf_t *rc, const char *key, const char *val, mf_err *err);

/* The "key=value" overrides of ov (NULL-terminated, may be NULL) applied to rc. */
int mf_kafka_rk_overrides(rd_kafka_conf_t *rc, const char *const *ov, mf_err *err);

/* The error callback: librdkafka's errors logged through the opaque's mf_log. */
void mf_kafka_rk_on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque);

/* Brokers, client id, security, logs and errors through the handle's queue; opaque = a struct
 * whose first member is the mf_log *. The caller owns the result (rd_kafka_conf_destroy, or
 * mf_kafka_rk_new). NULL with err. */
rd_kafka_conf_t *mf_kafka_rk_conf_base(const mf_kafka_conf *conf, void *opaque, mf_err *err);

/* rd_kafka_new taking ownership of rc on success and on failure. */
rd_kafka_t *mf_kafka_rk_new(rd_kafka_type_t type, rd_kafka_conf_t *rc, mf_err *err);

/* 1 with err when rk has hit a fatal error, else 0. */
int mf_kafka_rk_fatal(rd_kafka_t *rk, mf_err *err);

#endif
