/* cmd_webhook_secret: `msgfleet webhook-secret`, create or rotate a workflow's webhook secret. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "msgfleet.h"
#include "mf_uuid.h"

/* 32 random bytes as hex behind a prefix that says what the string is. */
#define SECRET_PREFIX "whsec_"
#define SECRET_SIZE (sizeof(SECRET_PREFIX) - 1 + 64 + 1)

/* clang-format off */
static const char CREATE_SQL[] =
    "INSERT INTO mf_webhook_secrets (workflow_id, secret) SELECT id, $2 FROM workflows"
    " WHERE id = $1::uuid ON CONFLICT (workflow_id) DO NOTHING RETURNING workflow_id";
static const char ROTATE_SQL[] =
    "INSERT INTO mf_webhook_secrets (workflow_id, secret) SELECT id, $2 FROM workflows"
    " WHERE id = $1::uuid ON CONFLICT (workflow_id) DO UPDATE"
    " SET secret = EXCLUDED.secret, rotated_at = now() RETURNING workflow_id";
static const char WORKFLOW_SQL[] =
    "SELECT trigger_type, (SELECT count(*) FROM mf_webhook_secrets WHERE workflow_id = w.id)"
    " FROM workflows w WHERE id = $1::uuid";
/* clang-format on */

static void usage(FILE *out)
{
    fprintf(out, "usage: msgfleet webhook-secret WORKFLOW_ID [--rotate]\n\n"
                 "Create the signing secret of a webhook-triggered workflow and print it once\n"
                 "(it is not shown again; docs/triggers.md tells how callers sign with it).\n"
                 "  --rotate   replace an existing secret: calls signed with the old one are\n"
                 "             refused (401) from now on\n"
                 "PostgreSQL: MF_PG_DSN or the file named by MF_PG_DSN_FILE.\n");
}

static int make_secret(char out[SECRET_SIZE])
{
    static const char DIGITS[] = "0123456789abcdef";
    unsigned char raw[32];
    size_t o = sizeof(SECRET_PREFIX) - 1;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    memcpy(out, SECRET_PREFIX, o);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[o++] = DIGITS[raw[i] >> 4];
        out[o++] = DIGITS[raw[i] & 15];
    }
    out[o] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* The workflow exists (1, with a note when it is not webhook-triggered), 0 not, -1 error. */
static int check_workflow(PGconn *conn, const char *id, int rotate)
{
    const char *params[1] = {id};
    PGresult *res = msgfleet_query(conn, "webhook-secret", WORKFLOW_SQL, 1, params);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        fprintf(stderr, "msgfleet webhook-secret: no workflow %s\n", id);
        rc = 0;
    } else if (!rotate && strcmp(PQgetvalue(res, 0, 1), "0") != 0) {
        fprintf(stderr,
                "msgfleet webhook-secret: workflow %s already has a secret; --rotate "
                "replaces it\n",
                id);
    } else {
        if (strcmp(PQgetvalue(res, 0, 0), "webhook") != 0)
            fprintf(stderr,
                    "msgfleet webhook-secret: note: workflow %s is triggered by "
                    "\"%s\"; its endpoint answers 409 until trigger_type is "
                    "'webhook'\n",
                    id, PQgetvalue(res, 0, 0));
        rc = 1;
    }
    PQclear(res);
    return rc;
}

static int store(PGconn *conn, const char *id, int rotate)
{
    char secret[SECRET_SIZE];
    const char *params[2] = {id, secret};
    PGresult *res = NULL;
    int rc = MSGFLEET_EXIT_ERROR;

    if (make_secret(secret) != 0) {
        fprintf(stderr, "msgfleet webhook-secret: could not draw random bytes (libcrypto)\n");
        return rc;
    }
    res = msgfleet_query(conn, "webhook-secret", rotate ? ROTATE_SQL : CREATE_SQL, 2, params);
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        fprintf(stderr,
                "msgfleet webhook-secret: workflow %s already has a secret; --rotate "
                "replaces it\n",
                id);
        goto out;
    }
    printf("%s\n", secret);
    fflush(stdout);
    rc = MSGFLEET_EXIT_OK;
out:
    PQclear(res);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

int cmd_webhook_secret(int argc, char **argv)
{
    static const struct option opts[] = {{"dsn", required_argument, NULL, 'd'},
                                         {"rotate", no_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int rotate = 0, c, rc;
    mf_uuid u;
    mf_err err;
    PGconn *conn;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': return msgfleet_refuse_dsn("webhook-secret");
        case 'r': rotate = 1; break;
        case 'h': usage(stdout); return MSGFLEET_EXIT_OK;
        default: usage(stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    if (mf_uuid_parse(argv[optind], &u, &err) != 0) {
        fprintf(stderr, "msgfleet webhook-secret: \"%s\" is not a workflow id (a uuid)\n",
                argv[optind]);
        return MSGFLEET_EXIT_USAGE;
    }
    conn = msgfleet_connect(NULL, "webhook-secret");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    rc = check_workflow(conn, argv[optind], rotate);
    rc = rc == 1 ? store(conn, argv[optind], rotate) : MSGFLEET_EXIT_ERROR;
    PQfinish(conn);
    return rc;
}
