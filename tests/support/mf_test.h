/* mf_test: support code shared by the integration tests (cmocka; failures end the test). */
#ifndef MF_TEST_H
#define MF_TEST_H

#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "mf_buf.h"

/*
 * Every helper here runs inside a cmocka test or fixture: a failure that the test cannot go
 * on from calls fail_msg() with a message naming the server or the statement, so a missing
 * server fails the test (never skips it).
 */

#define MF_TEST_PG_DSN_DEF "host=127.0.0.1 port=55432 dbname=msgfleet user=msgfleet"
#define MF_TEST_PGBOUNCER_DSN_DEF "host=127.0.0.1 port=56432 dbname=msgfleet user=msgfleet"
#define MF_TEST_BROKERS_DEF "127.0.0.1:59092"
#define MF_TEST_API_KEY_DEF "NCSTESTKEY0000001"
#define MF_TEST_API_SECRET_DEF "TESTSECRET0123456789ABCDEFGHIJKLMNOPQRSTUV"

/* ---- environment and time ---- */

/* getenv(name) when set and not empty, else def (not copied: static or caller-owned). */
const char *mf_test_env(const char *name, const char *def);
void mf_test_sleep_ms(long ms);
long long mf_test_now_ms(void);  /* wall clock, ms since the epoch */
long long mf_test_mono_ms(void); /* monotonic clock, ms */
/* Eight random lower-case hex digits into out (cap >= 9): unique names per run. */
void mf_test_tag(char *out, size_t cap);
/* <source>/rel into buf: $MF_SOURCE_DIR, else the tree this file was compiled from. */
void mf_test_source_path(char *buf, size_t cap, const char *rel);

/* ---- PostgreSQL ---- */

/* $MF_PG_DSN (direct, superuser) or the dev default. */
const char *mf_test_pg_dsn(void);
/* Connect (db NULL: the DSN's own); fails the test naming `what` ("PostgreSQL", "PgBouncer").
 * The caller PQfinish()es the connection. */
PGconn *mf_test_pg_connect(const char *dsn, const char *db, const char *what);
/* Run sql, fail the test on error. */
void mf_test_pg_exec(PGconn *c, const char *sql);
/* Run sql with text params, fail the test on error; the caller PQclear()s the result. */
PGresult *mf_test_pg_query(PGconn *c, const char *sql, int n, const char *const *p);
/* First value of the first row as a number; -1 when there is no row or it is NULL. */
long long mf_test_pg_ll(PGconn *c, const char *sql, int n, const char *const *p);
/* First value of the first row as text into out ("" when no row or NULL). */
void mf_test_pg_str(PGconn *c, const char *sql, int n, const char *const *p, char *out, size_t cap);

/* A throwaway database "mf_it_<tag>_<pid>_<random>" on admin_dsn (CREATE DATABASE). */
void mf_test_db_create(const char *admin_dsn, const char *tag, char *name, size_t cap);
/* Apply schemas/pg to c (mf_migrate_run), fail the test on error. */
void mf_test_db_migrate(PGconn *c);
/* DROP DATABASE IF EXISTS name WITH (FORCE); no-op for an empty name, which it empties. */
void mf_test_db_drop(const char *admin_dsn, char *name);

/* A throwaway database as a cmocka fixture: mf_test_db_setup creates one (migrated = no)
 * and puts an mf_test_db into *state; mf_test_db_teardown drops it and frees the state. */
typedef struct mf_test_db {
    char name[64];
} mf_test_db;

int mf_test_db_setup(void **state);
int mf_test_db_teardown(void **state);
/* Number of NNNN_*.sql files in dir (fails the test if dir cannot be read). */
int mf_test_count_migrations(const char *dir);

/* ---- child processes ---- */

/* fork+exec path with env pairs {name, value, ..., NULL} set on top of ours; stderr (and
 * stdout, unless out_fd >= 0) appended to logfile. Returns the pid (> 0) or -1. */
pid_t mf_test_spawn(const char *path, const char *const *env, const char *logfile, int out_fd);
/* SIGTERM, wait up to timeout_ms; the exit status (128 + signal when killed by one), or -1
 * when it had to be SIGKILLed. took_ms (optional) gets the time to exit. pid <= 0: 0. */
int mf_test_stop(pid_t pid, int timeout_ms, long long *took_ms);
/* Like mf_test_stop without sending a signal: for a process already sent SIGTERM. A second
 * SIGTERM means "leave now" to the daemons (exit 1), so a test that signals several processes
 * first and then waits must wait with this. */
int mf_test_wait(pid_t pid, int timeout_ms, long long *took_ms);
/* 1 when a line of the file contains needle. */
int mf_test_file_contains(const char *path, const char *needle);
/* Wait up to timeout_ms for the log line {"msg":"http listening",...,"port":N}; N. Fails the
 * test when none came. */
int mf_test_log_http_port(const char *logfile, int timeout_ms);
/* Start the CoolSMS simulator (bin) on a free port with the dev key/secret, its control
 * endpoints on (MF_SIM_CONTROL=1) and extra env pairs (may be NULL); base URL into url.
 * Returns its pid; fails the test if it did not start. */
pid_t mf_test_sim_start(const char *bin, const char *const *extra, const char *logfile, char *url,
                        size_t cap);

/* ---- HTTP ---- */

/* method (NULL: GET, or POST when body != NULL) url with body (may be NULL), timeout_ms;
 * response body into out (reset first, NUL-terminated). The status, 0 on transport failure. */
long mf_test_http(const char *method, const char *url, const char *body, long timeout_ms,
                  mf_buf *out);

/* ---- a TCP forwarder on 127.0.0.1 that a test can cut, hold and restore ---- */

typedef struct mf_test_fwd mf_test_fwd;

enum {
    MF_TEST_FWD_PASS = 0, /* relay both ways */
    MF_TEST_FWD_CUT,      /* drop every connection and close the listener (refused) */
    MF_TEST_FWD_HOLD,     /* keep connections but relay nothing (a stalled server) */
    MF_TEST_FWD_DROP
}; /* drop every connection; new ones are accepted and closed */

/* Listen on a free loopback port, relay to 127.0.0.1:up_port. Free with mf_test_fwd_stop. */
mf_test_fwd *mf_test_fwd_start(int up_port);
int mf_test_fwd_port(const mf_test_fwd *f);
/* Switch mode; returns after the relay thread has had time to apply it. */
void mf_test_fwd_set(mf_test_fwd *f, int mode);
/* Stop the thread, close everything, free f (NULL: no-op). */
void mf_test_fwd_stop(mf_test_fwd *f);

#endif
