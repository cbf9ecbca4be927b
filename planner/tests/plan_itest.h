/* plan_itest: what the planner's integration tests set up alike (database, topics, planners). */
#ifndef PLAN_ITEST_H
#define PLAN_ITEST_H

#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_kafka.h"

/* A test program's own PostgreSQL database (migrated), topic prefix and consumer. */
typedef struct plan_itest {
    char suffix[16]; /* random hex, part of every name */
    char pg_admin_dsn[512];
    char pg_db[64];
    char pg_dsn[640]; /* the test database */
    PGconn *pg;
    char topic_prefix[64]; /* "<name>_<suffix>." */
    char topic_jobs[128], topic_results[128];
    mf_kafka_consumer *consumer; /* plan_itest_consumer, then the caller's */
    mf_codec *codec;
} plan_itest;

/* Zeroes b, draws the suffix and names the topic prefix ("<name>_<suffix>.") and the jobs and
 * results topics. 0, or -1 when the names do not fit. */
int plan_itest_names(plan_itest *b, const char *name);

/* Creates the test database (tag in its name) on MF_PG_DSN, connects b->pg and migrates it;
 * fails the test when PostgreSQL is unreachable. */
void plan_itest_pg_setup(plan_itest *b, const char *tag);

/* sql with text params on b->pg; fails the test on error. The caller PQclear()s. */
PGresult *plan_itest_q(plan_itest *b, const char *sql, int n, const char *const *params);

/* First column of the first row into out ("" for NULL); fails the test when there is none. */
void plan_itest_val(plan_itest *b, const char *sql, int n, const char *const *params, char *out,
                    size_t cap);

/*
 * Starts msgfleet-planner (MF_PLANNER_BIN) as instance with nothing of the test's own
 * environment: env ("KEY=value", NULL-terminated, may be NULL) comes first, so it wins (getenv
 * takes the first), then the database, brokers, topic prefix, instance id, the MariaDB
 * address and read-only account, and MF_PLANNER_POLL_MS=100. Its stderr goes to log_path
 * (truncated) unless log_path is NULL. Returns the pid.
 */
pid_t plan_itest_start(const plan_itest *b, const char *instance, const char *const *env,
                       const char *log_path);

/* SIGTERM, then wait up to timeout_ms; the exit status (128 + signal when killed by one, -1
 * when it had to be SIGKILLed). *pid = 0; a pid of 0 is a no-op returning 0. */
int plan_itest_stop(pid_t *pid, int timeout_ms);

/* Waits until run's expansion is recorded or it left 'running'; fails the test naming the
 * run (`<noun> <id> was not planned within N s`) after timeout_s. */
void plan_itest_wait_planned(plan_itest *b, const char *noun, const char *run, int timeout_s);

/* The consumer of the jobs and results topics (client id client, group "<group>-<suffix>",
 * earliest offsets) and the codec, made on the first call. Fails the test without Kafka. */
void plan_itest_consumer(plan_itest *b, const char *client, const char *group);

/* Frees the consumer and the codec, deletes both topics, closes b->pg and drops the
 * database. Planners are the caller's to stop first. */
void plan_itest_teardown(plan_itest *b);

#endif
