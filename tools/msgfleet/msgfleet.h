/* msgfleet: the operators' CLI; shared declarations of the subcommands. */
#ifndef MSGFLEET_H
#define MSGFLEET_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_config.h"
#include "mf_kafka_sec.h"

/* Exit codes of every subcommand. */
#define MSGFLEET_EXIT_OK 0
#define MSGFLEET_EXIT_ERROR 1
#define MSGFLEET_EXIT_USAGE 2

/* A subcommand: argv[0] is the subcommand's name; returns an exit code above. */
typedef int (*msgfleet_cmd_fn)(int argc, char **argv);

typedef struct msgfleet_cmd {
    const char *name;
    const char *summary; /* one line for `msgfleet --help` */
    msgfleet_cmd_fn run;
} msgfleet_cmd;

/* Subcommands, one file each (cmd_<name>.c). Add new ones to the table in main.c. */
int cmd_migrate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_dlq(int argc, char **argv);
int cmd_suppress(int argc, char **argv);
int cmd_webhook_secret(int argc, char **argv);

/* Connects to the platform database: dsn NULL (what every subcommand passes) reads
 * MF_PG_DSN, or the file named by MF_PG_DSN_FILE, through mf_config like the daemons do; a
 * connection string never comes from the command line. Prints `msgfleet <cmd>: <error>` and
 * returns NULL on failure. The caller PQfinish()es the connection. */
PGconn *msgfleet_connect(const char *dsn, const char *cmd);

/* Reads the Kafka TLS and SASL keys the daemons read (MF_KAFKA_SECURITY_PROTOCOL,
 * MF_KAFKA_SASL_*, MF_KAFKA_SSL_*) into out and checks them. Returns 0, or -1 after printing
 * "msgfleet <cmd>: <reason>". Wipe out with explicit_bzero after use. */
int msgfleet_kafka_security(mf_kafka_sec *out, const char *cmd);

/* `--dsn` was given: prints why it is refused (argv is readable by every local user) and
 * returns MSGFLEET_EXIT_USAGE. */
int msgfleet_refuse_dsn(const char *cmd);

/* mf_pg_query that prints the error as `msgfleet <cmd>: ...`; caller PQclear()s. */
PGresult *msgfleet_query(PGconn *conn, const char *cmd, const char *sql, int nparams,
                         const char *const *params);

/* Parses `<cmd> RUN_ID [--timeout S]`. Returns MSGFLEET_EXIT_OK, USAGE on bad arguments
 * (usage printed to stderr; `--dsn` is refused, msgfleet_refuse_dsn), or -1 after --help
 * (usage printed to stdout). *dsn is set to NULL. */
int msgfleet_parse_run_args(int argc, char **argv, const char *usage, const char **dsn,
                            const char **run_id, double *timeout_s);

/* Follows a run until it leaves 'running' (a cancelled run: until its last job has its row,
 * completed_at) or timeout_s passes (0 = no limit): a progress bar on a terminal, a plain line
 * every 2 s otherwise; a held run shows "running (paused)". Returns an exit code: 0 completed,
 * 1 failed/cancelled/timeout/error. */
int msgfleet_watch_run(PGconn *conn, const char *run_id, double timeout_s);

/* Prints the summary of a run from PostgreSQL. Returns an exit code. */
int msgfleet_print_summary(PGconn *conn, const char *run_id);

/*
 * Find the repository's schemas/pg: $MF_SCHEMA_DIR, else a `schemas/pg` (holding
 * 0001_seed.sql) in the executable's directory or any parent of it, else in the working
 * directory or any parent, else <prefix>/share/msgfleet/schemas/pg, else the source tree the
 * binary was built from. Writes the path into buf; returns 0, or -1 when none exists.
 */
int msgfleet_schema_dir(char *buf, size_t cap);

#endif
