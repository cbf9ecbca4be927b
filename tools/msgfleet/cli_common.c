/* cli_common: helpers the CLI's subcommands share (database connection, option parsing). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "msgfleet.h"

/* The DSN from $MF_PG_DSN, else from the file named by $MF_PG_DSN_FILE (it may hold a
 * password, so deployments keep it in a secret file as for the daemons). */
static const char *dsn_from_env(char *buf, size_t cap)
{
    const char *dsn = getenv("MF_PG_DSN");
    const char *path = getenv("MF_PG_DSN_FILE");
    FILE *f;
    size_t n;

    if ((dsn != NULL && *dsn != '\0') || path == NULL || *path == '\0')
        return dsn;
    f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

PGconn *msgfleet_connect(const char *dsn, const char *cmd)
{
    mf_err err = {{0}};
    char from_file[1024];
    PGconn *conn;

    if (dsn == NULL)
        dsn = dsn_from_env(from_file, sizeof(from_file));
    if (dsn == NULL || dsn[0] == '\0') {
        fprintf(stderr, "msgfleet %s: no database: give --dsn or set MF_PG_DSN (or MF_PG_DSN_FILE)\n",
                cmd);
        return NULL;
    }
    conn = mf_pg_connect(dsn, NULL, "msgfleet-cli", &err);
    if (conn == NULL)
        fprintf(stderr, "msgfleet %s: %s\n", cmd, err.msg);
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
    static const struct option opts[] = {
        {"dsn", required_argument, NULL, 'd'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char *end = NULL;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': *dsn = optarg; break;
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
