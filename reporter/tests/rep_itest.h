/* rep_itest: what the reporter's integration tests share (fixture, topics, waits, metrics). */
#ifndef REP_ITEST_H
#define REP_ITEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_codec.h"
#include "mf_kafka.h"
#include "mf_uuid.h"

/* Topic names are written into these buffers (the callers' structs hold them). */
#define REP_ITEST_TOPIC_MAX 128
#define REP_ITEST_NPARTS_MAX 8

/* One test's database, topics, producer and reporter process. Zero it, then rep_itest_open. */
typedef struct rep_itest {
    char admin_dsn[512]; /* MF_PG_DSN */
    char dsn[768];       /* the reporter's: the test database on admin_dsn's server */
    char db[96];
    char prefix[64]; /* topic prefix it<name><hex>. */
    char topic[REP_ITEST_TOPIC_MAX];
    char dlq[REP_ITEST_TOPIC_MAX];
    char brokers[256];
    char group[96];          /* it<name>-<hex> */
    char bin[1200];          /* the reporter binary (MF_REPORTER_BIN) */
    char logfile[160];       /* /tmp/<log>_<hex>.log: the reporter's stderr */
    PGconn *pg;              /* the test database */
    mf_kafka_producer *prod; /* results topic; delivery reports counted below */
    int nparts;
    int64_t end[REP_ITEST_NPARTS_MAX]; /* next offset per partition, from delivery reports */
    long long dr_failed;
    pid_t reporter; /* 0 when none runs */
    int http_port;
    char wf[MF_UUID_STR_SIZE];
    char tpl[MF_UUID_STR_SIZE];
    char tpl2[MF_UUID_STR_SIZE]; /* empty unless opened with_tpl2 */
} rep_itest;

/* A running run of the test's workflow. */
typedef struct rep_itest_run {
    char id[MF_UUID_STR_SIZE];
    mf_uuid uid;
    long long started_ms;
} rep_itest_run;

/*
 * Creates and migrates the database msgfleet_<name>_..., the results topic (nparts partitions)
 * and the dead-letter topic under it<name><hex>., the producer, and seeds the prices, the SMS
 * template (and the LMS one when with_tpl2) and the workflow (rep_itest_seed). log names the
 * reporter's log file. Fails the test (cmocka) when a server is unreachable.
 */
void rep_itest_open(rep_itest *fx, const char *name, const char *log, int nparts, int with_tpl2);

/* Stops the reporter (SIGTERM, stop_ms), flushes and frees the producer, drops the database
 * and deletes the topics. */
void rep_itest_close(rep_itest *fx, int stop_ms);

/* For tests whose state is a struct of `size` bytes with the rep_itest as its first member:
 * rep_itest_new allocates it zeroed and opens the fixture (rep_itest_open; the caller frees it
 * with rep_itest_teardown), rep_itest_teardown is a cmocka teardown that closes it (stop
 * 25 s) and frees it. */
void *rep_itest_new(size_t size, const char *name, const char *log, int nparts, int with_tpl2);
int rep_itest_teardown(void **state);

/* Produces to the results topic or fails the test; rep_itest_flush waits for every delivery
 * report and fails the test on a failed one. */
void rep_itest_produce(rep_itest *fx, const char *key, const void *val, size_t len);
void rep_itest_flush(rep_itest *fx);

/* Encodes r (mf_codec_encode_result) and produces it keyed by key (NULL: r's job id); fails
 * the test on an error. */
void rep_itest_produce_result(rep_itest *fx, const char *key, const mf_result *r);

/* Fails the test when the reporter process has exited (its status and log file named). */
void rep_itest_assert_alive(rep_itest *fx);

/* Waits (monotonic clock) until the stored offsets of group reach the produced end of every
 * partition, or the run is completed; fails the test after timeout_ms or when the reporter
 * exits. */
void rep_itest_wait_offsets(rep_itest *fx, const char *group, int timeout_ms);
void rep_itest_wait_completed(rep_itest *fx, const char *run, int timeout_ms);

/* A running run of target recipients whose expansion finished finished_ago ("0 s": now; NULL:
 * not finished) into r. */
void rep_itest_make_run(rep_itest *fx, int target, const char *finished_ago, rep_itest_run *r);

/* The counters of run (NULL: every run) against a recount of their rows; fails the test on a
 * mismatch, naming it. */
void rep_itest_assert_consistent(PGconn *pg, const char *run);

/* GET path from the reporter's HTTP port; the status, the body into b. Fails the test when
 * nothing answers. */
long rep_itest_http_get(const rep_itest *fx, const char *path, mf_buf *b);

/* Sum of the samples of metric `name` (exact name) in a /metrics page whose line contains every
 * filter (either may be NULL). */
double rep_itest_metric(const char *body, const char *name, const char *f1, const char *f2);

/*
 * Creates the results topic (nparts partitions) and the dead-letter topic under prefix,
 * writes their names into topic and dlq, and returns a producer with on_dr(ctx). Fails the
 * test (cmocka) when Kafka is unreachable. The caller owns the producer.
 */
mf_kafka_producer *rep_itest_topics(const char *brokers, const char *prefix, int nparts,
                                    char topic[REP_ITEST_TOPIC_MAX], char dlq[REP_ITEST_TOPIC_MAX],
                                    mf_kafka_dr_fn on_dr, void *ctx);

/*
 * Seeds the prices setting, an SMS template (id into tpl), an LMS template when tpl2 is not
 * NULL, and a manual workflow using the SMS template (id into wf).
 */
void rep_itest_seed(PGconn *pg, char tpl[MF_UUID_STR_SIZE], char *tpl2, char wf[MF_UUID_STR_SIZE]);

/* Closes pg (may be NULL), drops the test database and deletes the two topics. */
void rep_itest_cleanup(PGconn *pg, const char *admin_dsn, char *db, const char *brokers,
                       const char *topic, const char *dlq);

#endif
