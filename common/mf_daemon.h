/* mf_daemon: what every daemon shares: the stop signal flag, common settings, start-up. */
#ifndef MF_DAEMON_H
#define MF_DAEMON_H

#include <signal.h>
#include <stddef.h>

#include "mf_config.h"
#include "mf_err.h"
#include "mf_kafka_sec.h"
#include "mf_log.h"

/* Settings every daemon reads. Embed as a member named `common` in the daemon's own
 * settings struct and put MF_DAEMON_COMMON_KEYS(your_struct, programs) in its key table. */
typedef struct mf_daemon_common {
    char log_level[16];
    char pg_dsn[1024];
    char kafka_brokers[512];
    char topic_prefix[64];
    long long http_port;
    char http_bind[64];
    char instance_id[128];
    mf_kafka_sec kafka_sec; /* TLS and SASL of the Kafka clients (mf_kafka_sec_check) */
} mf_daemon_common;

#define MF_DAEMON_STR_KEY(T, field, name, def, progs, desc)                                        \
    {                                                                                              \
        name, MF_CFG_STR, def, 0, 0, 0, 0, offsetof(T, common.field),                              \
            sizeof(((T *)0)->common.field), progs, desc                                            \
    }

/* clang-format off */
#define MF_DAEMON_COMMON_KEYS(T, progs)                                                         \
    MF_DAEMON_STR_KEY(T, log_level, "MF_LOG_LEVEL", "info", progs,                              \
                      "log level: debug, info, warn or error"),                                 \
    {"MF_PG_DSN", MF_CFG_SECRET, NULL, 0, 0, 0, 0, offsetof(T, common.pg_dsn),                 \
     sizeof(((T *)0)->common.pg_dsn), progs,                                                    \
     "libpq connection string of the platform database (Supabase pooler or PgBouncer in "     \
     "transaction mode is fine); secret because it may hold a password"},                     \
    MF_DAEMON_STR_KEY(T, kafka_brokers, "MF_KAFKA_BROKERS", "127.0.0.1:9092", progs,            \
                      "Kafka bootstrap servers, comma separated"),                              \
    MF_DAEMON_STR_KEY(T, topic_prefix, "MF_TOPIC_PREFIX", "msgfleet.", progs,                   \
                      "prefix of every topic name (jobs, results, retry, dlq, events)"),        \
    {"MF_HTTP_PORT", MF_CFG_INT, "0", 0, 65535, 0, 0, offsetof(T, common.http_port), 0, progs,  \
     "port of /healthz, /livez and /metrics (0: pick a free port)"},                           \
    MF_DAEMON_STR_KEY(T, http_bind, "MF_HTTP_BIND", "127.0.0.1", progs,                         \
                      "IPv4 address /healthz and /metrics listen on (0.0.0.0 in containers)"), \
    MF_DAEMON_STR_KEY(T, instance_id, "MF_INSTANCE_ID", "", progs,                              \
                      "name of this process in claims, leases and logs (empty: host-pid)"),    \
    MF_KAFKA_SEC_KEYS(T, common.kafka_sec, progs)
/* clang-format on */

/* Installs SIGTERM/SIGINT handlers: the first sets the stop flag, the second exits at once
 * (work in flight is redelivered and deduplicated, so nothing is lost). SIGPIPE is ignored.
 * Returns 0 or -1. */
int mf_daemon_install_signals(mf_err *err);

/* True once a stop was requested. */
int mf_daemon_stopping(void);

/* Requests a stop from inside the process (fatal errors, tests). */
void mf_daemon_request_stop(void);

/* Fills common->instance_id with "<host>-<pid>" when it is empty. */
void mf_daemon_default_instance(mf_daemon_common *common);

/* Caps glibc's malloc arenas at 2 unless MALLOC_ARENA_MAX is set. Call first in main, before
 * any thread starts. librdkafka, libcurl and the daemons' own threads otherwise each get an
 * arena that keeps its freed memory: the sender's peak RSS in a 300k benchmark was 49.7-56.4 MB
 * with the default and 46.8-49.8 MB with 2 arenas, at the same speed. */
void mf_daemon_tune_memory(void);

/* Logs a warning for every secret the daemon reads from a file that group or others may read
 * (mf_config_check_secret_files on the environment). Call once the logger exists. */
void mf_daemon_warn_secret_files(const mf_config_key *table, size_t n, unsigned program,
                                 mf_log *log);

/*
 * What every daemon does once its settings are loaded: the log level (MF_LOG_LEVEL), the
 * logger named `role` on stderr, the signal handlers, libcurl's global state (before any
 * thread) and the warnings about readable secret files. Returns the logger (the caller frees
 * it, after curl_global_cleanup), or NULL after printing why on stderr as "program: ..." with
 * *status set to the exit status: 2 for a bad log level (a bad configuration, like any other
 * setting), 1 when the process could not start.
 */
mf_log *mf_daemon_start(const char *program, const char *role, const char *log_level,
                        const mf_config_key *table, size_t n, unsigned program_bit, int *status);

/* Handles the arguments every daemon understands. Returns 1 when the program should exit
 * with status 0 (after --help or --config-doc), 0 to go on, -1 on an unknown argument. */
int mf_daemon_handle_args(int argc, char **argv, const char *program_name,
                          const mf_config_key *table, size_t n);

#endif
