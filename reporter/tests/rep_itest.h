/* rep_itest: what the reporter's integration tests set up alike (topics, seed rows, cleanup). */
#ifndef REP_ITEST_H
#define REP_ITEST_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_kafka.h"
#include "mf_uuid.h"

/* Topic names are written into these buffers (the callers' structs hold them). */
#define REP_ITEST_TOPIC_MAX 128

/*
 * Creates the results topic (nparts partitions) and the dead-letter topic under prefix,
 * writes their names into topic and dlq, and returns a producer with on_dr(ctx). Fails the
 * test (cmocka) when Kafka is unreachable. The caller owns the producer.
 */
mf_kafka_producer *rep_itest_topics(const char *brokers, const char *prefix, int nparts,
                                    char topic[REP_ITEST_TOPIC_MAX],
                                    char dlq[REP_ITEST_TOPIC_MAX], mf_kafka_dr_fn on_dr,
                                    void *ctx);

/*
 * Seeds the prices setting, an SMS template (id into tpl), an LMS template when tpl2 is not
 * NULL, and a manual workflow using the SMS template (id into wf).
 */
void rep_itest_seed(PGconn *pg, char tpl[MF_UUID_STR_SIZE], char *tpl2,
                    char wf[MF_UUID_STR_SIZE]);

/* Closes pg (may be NULL), drops the test database and deletes the two topics. */
void rep_itest_cleanup(PGconn *pg, const char *admin_dsn, char *db, const char *brokers,
                       const char *topic, const char *dlq);

#endif
