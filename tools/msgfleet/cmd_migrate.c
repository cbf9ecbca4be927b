/* cmd_migrate: `msgfleet migrate`, apply the PostgreSQL migrations not applied yet. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "mf_err.h"
#include "mf_migrate.h"
#include "mf_pg.h"
#include "msgfleet.h"

static void migrate_usage(FILE *out)
{
    fprintf(out,
            "usage: msgfleet migrate [--dir DIR]\n\n"
            "Apply every schemas/pg/NNNN_*.sql not yet recorded in mf_schema_migrations, in\n"
            "order, each in its own transaction. Creates the Supabase roles anon, authenticated\n"
            "and service_role first where they are missing (plain PostgreSQL).\n\n"
            "The database: MF_PG_DSN (a libpq connection string or URI), or the file named by\n"
            "MF_PG_DSN_FILE; never the command line, where every local user could read it.\n\n"
            "  --dir DIR   migrations directory (default: $MF_SCHEMA_DIR, else the\n"
            "              repository's schemas/pg found from the executable or the cwd)\n"
            "  --help      this text\n");
}

static void print_applied(const char *version, const char *file, void *arg)
{
    (void)arg;
    printf("applied %s (%s)\n", version, file);
    fflush(stdout);
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dsn", required_argument, NULL, 'd'},
        {"dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    char found[PATH_MAX];
    PGconn *conn = NULL;
    mf_err err = {{0}};
    int c;
    int n;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': return msgfleet_refuse_dsn("migrate");
        case 'D': dir = optarg; break;
        case 'h': migrate_usage(stdout); return MSGFLEET_EXIT_OK;
        default:
            fprintf(stderr, "msgfleet migrate: invalid option \"%s\"\n", argv[optind - 1]);
            migrate_usage(stderr);
            return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "msgfleet migrate: unexpected argument \"%s\"\n", argv[optind]);
        return MSGFLEET_EXIT_USAGE;
    }
    if (dir == NULL) {
        if (msgfleet_schema_dir(found, sizeof(found)) != 0) {
            fprintf(stderr, "msgfleet migrate: could not find schemas/pg: give --dir or set "
                            "MF_SCHEMA_DIR\n");
            return MSGFLEET_EXIT_USAGE;
        }
        dir = found;
    }
    conn = msgfleet_connect(NULL, "migrate");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    n = mf_migrate_run(conn, dir, print_applied, NULL, &err);
    PQfinish(conn);
    if (n < 0) {
        fprintf(stderr, "msgfleet migrate: %s\n", err.msg);
        return MSGFLEET_EXIT_ERROR;
    }
    if (n == 0)
        printf("up to date\n");
    return MSGFLEET_EXIT_OK;
}
