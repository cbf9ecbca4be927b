/* cli_common: helpers the CLI's subcommands share (database connection, option parsing). */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_config.h"
#include "mf_pg.h"
#include "msgfleet.h"

/* The CLI's one secret, read like the daemons read theirs (mf_config): MF_PG_DSN, or the file
 * named by MF_PG_DSN_FILE; never from the command line. */
typedef struct cli_config {
    char pg_dsn[1024];
} cli_config;

static const mf_config_key CLI_KEYS[] = {
    {"MF_PG_DSN", MF_CFG_SECRET, "", 0, 0, 0, 0, offsetof(cli_config, pg_dsn),
     sizeof(((cli_config *)0)->pg_dsn), MF_CFG_CLI,
     "libpq connection string of the platform database"},
};

int msgfleet_refuse_dsn(const char *cmd)
{
    fprintf(stderr,
            "msgfleet %s: --dsn is not accepted: a connection string on the command "
            "line is visible to every local user (ps, /proc); set MF_PG_DSN or "
            "MF_PG_DSN_FILE\n",
            cmd);
    return MSGFLEET_EXIT_USAGE;
}

static void warn_secret(void *arg, const char *key, const char *msg)
{
    (void)key;
    fprintf(stderr, "msgfleet %s: warning: %s\n", (const char *)arg, msg);
}

/* The Kafka commands (tail, dlq) reach the brokers the way the daemons do. */
typedef struct cli_kafka {
    mf_kafka_sec sec;
} cli_kafka;

static const mf_config_key CLI_KAFKA_KEYS[] = {MF_KAFKA_SEC_KEYS(cli_kafka, sec, MF_CFG_CLI)};

int msgfleet_kafka_security(mf_kafka_sec *out, const char *cmd)
{
    size_t n = sizeof(CLI_KAFKA_KEYS) / sizeof(CLI_KAFKA_KEYS[0]);
    mf_err err = {{0}};
    cli_kafka ck;
    int rc = -1;

    memset(&ck, 0, sizeof(ck));
    if (mf_config_load(CLI_KAFKA_KEYS, n, MF_CFG_CLI, &ck, NULL, &err) != 0 ||
        mf_kafka_sec_check(&ck.sec, &err) != 0) {
        fprintf(stderr, "msgfleet %s: %s\n", cmd, err.msg);
        goto out;
    }
    mf_config_check_secret_files(CLI_KAFKA_KEYS, n, MF_CFG_CLI, NULL, warn_secret, (void *)cmd);
    *out = ck.sec;
    rc = 0;
out:
    explicit_bzero(&ck, sizeof(ck));
    return rc;
}

PGconn *msgfleet_connect(const char *dsn, const char *cmd)
{
    mf_err err = {{0}};
    cli_config cfg;
    PGconn *conn = NULL;

    memset(&cfg, 0, sizeof(cfg));
    if (dsn == NULL) {
        if (mf_config_load(CLI_KEYS, sizeof(CLI_KEYS) / sizeof(CLI_KEYS[0]), MF_CFG_CLI, &cfg, NULL,
                           &err) != 0) {
            fprintf(stderr, "msgfleet %s: %s\n", cmd, err.msg);
            goto out;
        }
        mf_config_check_secret_files(CLI_KEYS, sizeof(CLI_KEYS) / sizeof(CLI_KEYS[0]), MF_CFG_CLI,
                                     NULL, warn_secret, (void *)cmd);
        dsn = cfg.pg_dsn;
    }
    if (dsn[0] == '\0') {
        fprintf(stderr, "msgfleet %s: no database: set MF_PG_DSN or MF_PG_DSN_FILE\n", cmd);
        goto out;
    }
    conn = mf_pg_connect(dsn, NULL, "msgfleet-cli", &err);
    if (conn == NULL)
        fprintf(stderr, "msgfleet %s: %s\n", cmd, err.msg);
out:
    explicit_bzero(&cfg, sizeof(cfg));
    return conn;
}

PGresult *msgfleet_query(PGconn *conn, const char *cmd, const char *sql, int nparams,
                         const char *const *params)
{
    mf_err err = {{0}};
    PGresult *res = mf_pg_query(conn, sql, nparams, params, &err);

    if (res == NULL)
        fprintf(stderr, "msgfleet %s: %s\n", cmd, err.msg);
    return res;
}

int msgfleet_parse_run_args(int argc, char **argv, const char *usage, const char **dsn,
                            const char **run_id, double *timeout_s)
{
    static const struct option opts[] = {{"dsn", required_argument, NULL, 'd'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char *end = NULL;
    int c;

    *dsn = NULL; /* never from the command line: msgfleet_connect reads the configuration */
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': return msgfleet_refuse_dsn(argv[0]);
        case 't':
            *timeout_s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || *timeout_s < 0) {
                fprintf(stderr, "msgfleet %s: invalid --timeout \"%s\"\n", argv[0], optarg);
                return MSGFLEET_EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage, stdout); return -1;
        default: fputs(usage, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    *run_id = argv[optind];
    return MSGFLEET_EXIT_OK;
}
