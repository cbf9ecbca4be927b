/* cmd_suppress: `msgfleet suppress add|remove|list|import`, the opt-out list (mf_suppressions). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_err.h"
#include "mf_pgarr.h"
#include "mf_phone.h"
#include "msgfleet.h"

static const char USAGE[] =
    "usage: msgfleet suppress add PHONE [--scope advertising|all] [--source operator|api]\n"
    "                             [--reason TEXT]\n"
    "       msgfleet suppress remove PHONE [--scope advertising|all]\n"
    "       msgfleet suppress list [--scope advertising|all] [--phone PHONE] [--limit N]\n"
    "       msgfleet suppress import FILE [--scope advertising|all] [--source operator|api]\n"
    "                                [--reason TEXT]\n\n"
    "The opt-out list (docs/compliance.md): the senders never send an advertising message to\n"
    "a number listed with scope 'advertising', nor any message to one listed with scope\n"
    "'all'; such jobs fail as OPTED_OUT without reaching the provider. The reporter adds the\n"
    "provider's 080 opt-outs and blocked numbers by itself.\n"
    "  add     list a number (default scope advertising, source operator); a number already\n"
    "          listed for that scope is left as it is\n"
    "  remove  take a number off the list (without --scope: off both scopes)\n"
    "  list    print the list, newest first: phone, scope, source, created_at, reason\n"
    "          (--limit, default 100; 0 = all)\n"
    "  import  list every number of FILE, one line each: PHONE[,SCOPE[,REASON]]; empty lines\n"
    "          and lines starting with # are skipped. Each bad line is reported with its\n"
    "          number and the rest is imported (exit code 1 when a line was bad). --scope,\n"
    "          --reason: for lines that do not give them\n"
    "Numbers are normalised like recipients are (010-1234-5678, +82 10 1234 5678).\n"
    "The database comes from MF_PG_DSN or MF_PG_DSN_FILE.\n";

/* clang-format off */
static const char ADD_SQL[] =
    "WITH i AS (INSERT INTO mf_suppressions (phone, scope, source, reason) "
    "SELECT DISTINCT ON (p, s) p, s, $3, nullif(r, '') "
    "FROM unnest($1::text[], $2::text[], $4::text[]) AS t(p, s, r) "
    "ON CONFLICT (phone, scope) DO NOTHING RETURNING 1) SELECT count(*) FROM i";
static const char REMOVE_SQL[] =
    "DELETE FROM mf_suppressions WHERE phone = $1 AND ($2::text IS NULL OR scope = $2)";
static const char LIST_SQL[] =
    "SELECT phone, scope, source, to_char(created_at AT TIME ZONE 'Asia/Seoul', "
    "'YYYY-MM-DD HH24:MI:SS'), coalesce(reason, '') FROM mf_suppressions "
    "WHERE ($1::text IS NULL OR scope = $1) AND ($2::text IS NULL OR phone = $2) "
    "ORDER BY created_at DESC, phone, scope LIMIT nullif($3::bigint, 0)";
/* clang-format on */

#define LINE_MAX_BYTES 1024
#define REASON_MAX 500
#define IMPORT_CHUNK 10000

typedef struct sup_opts {
    const char *scope, *source, *reason, *phone;
    long long limit;
} sup_opts;

static int valid_scope(const char *s)
{
    return strcmp(s, "advertising") == 0 || strcmp(s, "all") == 0;
}

/* Prints "msgfleet suppress: <what> \"<arg>\"<hint>" and the usage. */
static int usage_error(const char *what, const char *arg, const char *hint)
{
    fprintf(stderr, "msgfleet suppress: %s", what);
    if (arg != NULL)
        fprintf(stderr, " \"%s\"", arg);
    fprintf(stderr, "%s\n", hint);
    fputs(USAGE, stderr);
    return MSGFLEET_EXIT_USAGE;
}

/* Options after the action; leaves optind at the first operand. -1 after --help. */
static int parse_opts(int argc, char **argv, sup_opts *o)
{
    static const struct option opts[] = {
        {"scope", required_argument, NULL, 's'},  {"source", required_argument, NULL, 'o'},
        {"reason", required_argument, NULL, 'r'}, {"phone", required_argument, NULL, 'p'},
        {"limit", required_argument, NULL, 'l'},  {"dsn", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    char *end;
    int c;

    o->limit = 100;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!valid_scope(optarg))
                return usage_error("invalid --scope", optarg, " (advertising or all)");
            o->scope = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "operator") != 0 && strcmp(optarg, "api") != 0)
                return usage_error("invalid --source", optarg, " (operator or api)");
            o->source = optarg;
            break;
        case 'r':
            if (strlen(optarg) > REASON_MAX)
                return usage_error("--reason is longer than 500 bytes", NULL, "");
            o->reason = optarg;
            break;
        case 'p': o->phone = optarg; break;
        case 'l':
            o->limit = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->limit < 0 || o->limit > 100000000)
                return usage_error("invalid --limit", optarg, " (0 to 100000000)");
            break;
        case 'd': return msgfleet_refuse_dsn("suppress");
        case 'h': fputs(USAGE, stdout); return -1;
        default: fputs(USAGE, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    return MSGFLEET_EXIT_OK;
}

/* Normalises a number given on the command line; prints why not. */
static int normalize_arg(const char *in, char *out)
{
    mf_err e;

    if (mf_phone_normalize(in, out, MF_PHONE_MAX, NULL, &e) != 0) {
        fprintf(stderr, "msgfleet suppress: \"%s\": %s\n", in, e.msg);
        return -1;
    }
    return 0;
}

/* Runs ADD_SQL with the arrays (phones, scopes, reasons); *added gets the new rows. */
static int insert_arrays(PGconn *conn, mf_pgarr *a, const char *source, long long *added)
{
    const char *params[4];
    PGresult *res;
    mf_err e;

    if ((params[0] = mf_pgarr_finish(&a[0], &e)) == NULL ||
        (params[1] = mf_pgarr_finish(&a[1], &e)) == NULL ||
        (params[3] = mf_pgarr_finish(&a[2], &e)) == NULL) {
        fprintf(stderr, "msgfleet suppress: %s\n", e.msg);
        return -1;
    }
    params[2] = source;
    res = msgfleet_query(conn, "suppress", ADD_SQL, 4, params);
    if (res == NULL)
        return -1;
    *added += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    for (int k = 0; k < 3; k++)
        mf_pgarr_reset(&a[k]);
    return 0;
}

static int add_row(mf_pgarr *a, const char *phone, const char *scope, const char *reason)
{
    mf_err e;

    if (mf_pgarr_add(&a[0], phone, &e) != 0 || mf_pgarr_add(&a[1], scope, &e) != 0 ||
        mf_pgarr_add(&a[2], reason != NULL ? reason : "", &e) != 0) {
        fprintf(stderr, "msgfleet suppress: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int do_add(PGconn *conn, const char *phone_in, const sup_opts *o)
{
    char phone[MF_PHONE_MAX];
    const char *scope = o->scope ? o->scope : "advertising";
    mf_pgarr a[3];
    long long added = 0;
    int rc = MSGFLEET_EXIT_ERROR;

    if (normalize_arg(phone_in, phone) != 0)
        return MSGFLEET_EXIT_ERROR;
    for (int k = 0; k < 3; k++)
        mf_pgarr_init(&a[k]);
    if (add_row(a, phone, scope, o->reason) == 0 &&
        insert_arrays(conn, a, o->source ? o->source : "operator", &added) == 0) {
        printf(added ? "%s listed (scope %s)\n" : "%s was already listed (scope %s)\n", phone,
               scope);
        rc = MSGFLEET_EXIT_OK;
    }
    for (int k = 0; k < 3; k++)
        mf_pgarr_free(&a[k]);
    return rc;
}

static int do_remove(PGconn *conn, const char *phone_in, const sup_opts *o)
{
    char phone[MF_PHONE_MAX];
    const char *params[2];
    PGresult *res;
    long long n;

    if (normalize_arg(phone_in, phone) != 0)
        return MSGFLEET_EXIT_ERROR;
    params[0] = phone;
    params[1] = o->scope;
    res = msgfleet_query(conn, "suppress", REMOVE_SQL, 2, params);
    if (res == NULL)
        return MSGFLEET_EXIT_ERROR;
    n = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    printf(n ? "%s removed (%lld entr%s)\n" : "%s was not listed\n", phone, n,
           n == 1 ? "y" : "ies");
    return MSGFLEET_EXIT_OK;
}

static int do_list(PGconn *conn, const sup_opts *o)
{
    char phone[MF_PHONE_MAX], limit[32];
    const char *params[3];
    PGresult *res;

    if (o->phone != NULL && normalize_arg(o->phone, phone) != 0)
        return MSGFLEET_EXIT_ERROR;
    snprintf(limit, sizeof(limit), "%lld", o->limit);
    params[0] = o->scope;
    params[1] = o->phone != NULL ? phone : NULL;
    params[2] = limit;
    res = msgfleet_query(conn, "suppress", LIST_SQL, 3, params);
    if (res == NULL)
        return MSGFLEET_EXIT_ERROR;
    printf("%-12s %-11s %-14s %-19s %s\n", "phone", "scope", "source", "created (KST)", "reason");
    for (int r = 0; r < PQntuples(res); r++)
        printf("%-12s %-11s %-14s %-19s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
               PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
    PQclear(res);
    return MSGFLEET_EXIT_OK;
}

/* ---- import ------------------------------------------------------------------------------- */

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* Splits "PHONE[,SCOPE[,REASON]]" in place. 0, or -1 with why in msg. */
static int parse_line(char *line, const sup_opts *o, char *phone, const char **scope,
                      const char **reason, char *msg, size_t msgsz)
{
    char *c1 = strchr(line, ','), *c2 = NULL;
    mf_err e;

    *scope = o->scope ? o->scope : "advertising";
    *reason = o->reason;
    if (c1 != NULL) {
        *c1++ = '\0';
        c2 = strchr(c1, ',');
        if (c2 != NULL)
            *c2++ = '\0';
        c1 = trim(c1);
        if (*c1 != '\0' && !valid_scope(c1)) {
            snprintf(msg, msgsz, "invalid scope \"%.40s\" (advertising or all)", c1);
            return -1;
        }
        if (*c1 != '\0')
            *scope = c1;
        if (c2 != NULL && *(c2 = trim(c2)) != '\0') {
            if (strlen(c2) > REASON_MAX) {
                snprintf(msg, msgsz, "reason longer than %d bytes", REASON_MAX);
                return -1;
            }
            *reason = c2;
        }
    }
    if (mf_phone_normalize(trim(line), phone, MF_PHONE_MAX, NULL, &e) != 0) {
        snprintf(msg, msgsz, "%s", e.msg);
        return -1;
    }
    return 0;
}

typedef struct import_state {
    PGconn *conn;
    const sup_opts *o;
    const char *path;
    mf_pgarr a[3];
    size_t pending;
    long long lines, good, bad, added;
} import_state;

static int import_line(import_state *st, char *raw, int too_long)
{
    char phone[MF_PHONE_MAX], msg[MF_ERR_MAX + 64];
    const char *scope, *reason;
    char *line = trim(raw);

    st->lines++;
    if (too_long) {
        fprintf(stderr, "%s:%lld: line longer than %d bytes\n", st->path, st->lines,
                LINE_MAX_BYTES - 2);
        st->bad++;
        return 0;
    }
    if (*line == '\0' || *line == '#')
        return 0;
    if (parse_line(line, st->o, phone, &scope, &reason, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "%s:%lld: %s\n", st->path, st->lines, msg);
        st->bad++;
        return 0;
    }
    if (add_row(st->a, phone, scope, reason) != 0)
        return -1;
    st->good++;
    if (++st->pending == IMPORT_CHUNK) {
        st->pending = 0;
        return insert_arrays(st->conn, st->a, st->o->source ? st->o->source : "operator",
                             &st->added);
    }
    return 0;
}

static int read_file(import_state *st, FILE *f)
{
    char buf[LINE_MAX_BYTES];

    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t n = strlen(buf);
        int too_long = n == sizeof(buf) - 1 && buf[n - 1] != '\n' && !feof(f);

        if (too_long) { /* skip the rest of the line */
            int ch;

            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
        }
        if (import_line(st, buf, too_long) != 0)
            return -1;
    }
    if (ferror(f)) {
        fprintf(stderr, "msgfleet suppress: could not read \"%s\"\n", st->path);
        return -1;
    }
    if (st->pending > 0 &&
        insert_arrays(st->conn, st->a, st->o->source ? st->o->source : "operator", &st->added) != 0)
        return -1;
    return 0;
}

static int do_import(PGconn *conn, const char *path, const sup_opts *o)
{
    import_state st;
    FILE *f = fopen(path, "r");
    int rc;

    if (f == NULL) {
        fprintf(stderr, "msgfleet suppress: could not open \"%s\"\n", path);
        return MSGFLEET_EXIT_ERROR;
    }
    memset(&st, 0, sizeof(st));
    st.conn = conn;
    st.o = o;
    st.path = path;
    for (int k = 0; k < 3; k++)
        mf_pgarr_init(&st.a[k]);
    rc = read_file(&st, f);
    fclose(f);
    for (int k = 0; k < 3; k++)
        mf_pgarr_free(&st.a[k]);
    if (rc != 0)
        return MSGFLEET_EXIT_ERROR;
    printf("imported %s: %lld number(s) read, %lld newly listed, %lld already listed, "
           "%lld bad line(s)\n",
           path, st.good, st.added, st.good - st.added, st.bad);
    return st.bad > 0 ? MSGFLEET_EXIT_ERROR : MSGFLEET_EXIT_OK;
}

int cmd_suppress(int argc, char **argv)
{
    sup_opts o;
    const char *action;
    PGconn *conn;
    int rc, want;

    memset(&o, 0, sizeof(o));
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            fputs(USAGE, stdout);
            return MSGFLEET_EXIT_OK;
        }
        fputs(USAGE, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    action = argv[1];
    want = strcmp(action, "list") == 0 ? 0 : 1;
    if (strcmp(action, "add") != 0 && strcmp(action, "remove") != 0 &&
        strcmp(action, "list") != 0 && strcmp(action, "import") != 0)
        return usage_error("unknown action", action, " (add, remove, list, import)");
    rc = parse_opts(argc - 1, argv + 1, &o);
    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    if (argc - 1 - optind != want)
        return usage_error(want ? "expected one operand" : "list takes no operand", NULL, "");
    conn = msgfleet_connect(NULL, "suppress");
    if (conn == NULL)
        return MSGFLEET_EXIT_ERROR;
    if (strcmp(action, "add") == 0)
        rc = do_add(conn, argv[1 + optind], &o);
    else if (strcmp(action, "remove") == 0)
        rc = do_remove(conn, argv[1 + optind], &o);
    else if (strcmp(action, "list") == 0)
        rc = do_list(conn, &o);
    else
        rc = do_import(conn, argv[1 + optind], &o);
    PQfinish(conn);
    return rc;
}
