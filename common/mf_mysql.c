/* mf_mysql: read-only, streaming access to the customers' MySQL/MariaDB database. */
#include "mf_mysql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mysql.h>

#include "mf_phone.h"
#include "mf_sqlguard.h"

#define PARAM_MAX 1024          /* placeholders per prepared statement */
#define COL_BUF_INITIAL 256     /* initial text buffer per result column (grows) */

struct mf_mysql {
    MYSQL *my;
    mf_log *log;            /* borrowed, may be NULL */
    char *host;
    char *user;
    char *password;
    char *db;
    unsigned port;
    unsigned connect_timeout_s;
    unsigned limit_s;
    unsigned net_timeout_s;
    unsigned net_write_timeout_s;
    unsigned guard_flags;
    int skip_grant_check;
    unsigned last_errno;
    char endpoint[300];
};

/* ---------------------------------------------------------------- connection */

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

/* Close the socket without reading what the server still sends, then free. */
static void drop_connection(mf_mysql *c, MYSQL_RES *res)
{
    if (c->my == NULL)
        return;
    if (res != NULL) {
        my_socket fd = mysql_get_socket(c->my);

        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        mysql_free_result(res); /* its drain fails at once on the closed socket */
    }
    mysql_close(c->my);
    c->my = NULL;
}

/* What an error number means, in words that carry no data: the server's own text can quote
 * values (`extractvalue(1, concat(0x7e, (SELECT group_concat(name, phone) ...)))` puts
 * customers' names and phones in it). */
static const char *generic_text(unsigned no)
{
    static const struct {
        unsigned no;
        const char *text;
    } T[] = {
        {1040, "too many connections"},
        {1044, "access denied to the database"},
        {1045, "access denied (user or password)"},
        {1049, "unknown database"},
        {1052, "ambiguous column name"},
        {1053, "server shutdown in progress"},
        {1054, "unknown column"},
        {1060, "duplicate column name"},
        {1064, "syntax error in the query"},
        {1105, "unknown error"},
        {1142, "command denied to the account"},
        {1143, "column access denied to the account"},
        {1146, "table does not exist"},
        {1203, "the account has too many connections"},
        {1205, "lock wait timeout"},
        {1213, "deadlock"},
        {1222, "the SELECTs of a UNION have different numbers of columns"},
        {1226, "an account resource limit was exceeded"},
        {1241, "an operand has the wrong number of columns"},
        {1242, "a subquery returned more than one row"},
        {1248, "a derived table has no alias"},
        {1267, "illegal mix of collations"},
        {1292, "incorrect value"},
        {1305, "function or procedure does not exist"},
        {1317, "query execution was interrupted"},
        {1366, "incorrect value for a column"},
        {1370, "execute command denied to the account"},
        {1525, "incorrect value"},
        {1582, "wrong number of arguments to a function"},
        {1690, "value out of range"},
        {1792, "cannot write in a READ ONLY transaction"},
        {1927, "connection was killed"},
        {1969, "query time limit exceeded (max_statement_time)"},
        {3024, "query time limit exceeded (max_execution_time)"},
        {4031, "disconnected by the server (inactivity)"},
    };

    for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
        if (T[i].no == no)
            return T[i].text;
    }
    return "server error";
}

/*
 * Set err for a failure of `prefix` ("query failed on \"host:port\"") with error number no
 * and the library's text. A server error (any number outside the client library's
 * 2000-2999) is reported by number and generic_text only; its own text goes to the debug log
 * with numbers masked. Client errors keep their text (it is the library's, with no data).
 */
static int report(mf_mysql *c, mf_err *err, const char *prefix, unsigned no, const char *text)
{
    char masked[MF_ERR_MAX];

    c->last_errno = no;
    if (no == 0 || (no >= 2000 && no < 3000))
        return mf_err_set(err, "%s: %s", prefix, text != NULL ? text : "unknown error");
    mf_phone_mask_text(text, masked, sizeof(masked));
    MF_LOG(c->log, MF_LOG_DEBUG, "mysql server error", MF_KV_S("endpoint", c->endpoint),
           MF_KV_I("errno", no), MF_KV_S("context", prefix), MF_KV_S("server_text", masked));
    return mf_err_set(err, "%s: mysql error %u: %s", prefix, no, generic_text(no));
}

/* Record the server error. A lost connection is dropped later, by drop_if_lost, once
 * results and statements that point into it are freed. */
static int fail(mf_mysql *c, mf_err *err, const char *what)
{
    char prefix[400];

    snprintf(prefix, sizeof(prefix), "%s on \"%s\"", what, c->endpoint);
    if (c->my == NULL)
        return report(c, err, prefix, 0, "not connected");
    return report(c, err, prefix, mysql_errno(c->my), mysql_error(c->my));
}

/* Server gone / lost connection: close, so that the next call reconnects. */
static void drop_if_lost(mf_mysql *c)
{
    unsigned no = c->last_errno;

    if (no == 2006 || no == 2013 || no == 2055)
        drop_connection(c, NULL);
}

static int run(mf_mysql *c, const char *sql, mf_err *err)
{
    if (mysql_real_query(c->my, sql, strlen(sql)) != 0)
        return fail(c, err, "could not prepare session");
    return 0;
}

/* Read the session's sql_mode back after pinning it: the guard must lex quotes exactly as
 * the server does, so a mode that changes quoting and survived the pin is refused. */
static int read_sql_mode(mf_mysql *c, mf_err *err)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    int rc = 0;

    if (mysql_real_query(c->my, "SELECT @@SESSION.sql_mode", 25) != 0)
        return fail(c, err, "could not read sql_mode");
    res = mysql_store_result(c->my);
    if (res == NULL)
        return fail(c, err, "could not read sql_mode");
    row = mysql_fetch_row(res);
    c->guard_flags = 0;
    if (row != NULL && row[0] != NULL && strstr(row[0], "NO_BACKSLASH_ESCAPES") != NULL)
        c->guard_flags |= MF_SQLGUARD_NO_BACKSLASH_ESCAPES;
    if (row != NULL && row[0] != NULL && strstr(row[0], "ANSI_QUOTES") != NULL)
        rc = mf_err_set(err, "could not prepare session on \"%s\": sql_mode still has "
                             "ANSI_QUOTES after it was set", c->endpoint);
    mysql_free_result(res);
    return rc;
}

/* Session: utf8mb4, the pinned sql_mode, every transaction READ ONLY, the time limit,
 * optional write timeout. */
static int setup_session(mf_mysql *c, mf_err *err)
{
    char q[128];
    const char *info = mysql_get_server_info(c->my);

    if (run(c, "SET NAMES utf8mb4", err) != 0 ||
        run(c, "SET SESSION sql_mode = '" MF_MYSQL_SQL_MODE "'", err) != 0 ||
        run(c, "SET SESSION TRANSACTION READ ONLY", err) != 0)
        return -1;
    if (info != NULL && strstr(info, "MariaDB") != NULL)
        snprintf(q, sizeof(q), "SET SESSION max_statement_time = %u", c->limit_s);
    else
        snprintf(q, sizeof(q), "SET SESSION max_execution_time = %llu",
                 (unsigned long long)c->limit_s * 1000ULL);
    if (run(c, q, err) != 0)
        return -1;
    if (c->net_write_timeout_s > 0) {
        snprintf(q, sizeof(q), "SET SESSION net_write_timeout = %u", c->net_write_timeout_s);
        if (run(c, q, err) != 0)
            return -1;
    }
    return read_sql_mode(c, err);
}

/* Check every line of one SHOW GRANTS statement; role names into roles (see
 * mf_sqlguard_grant_line). nested: a role's own grants, which may not grant further roles. */
static int check_grants_of(mf_mysql *c, const char *sql, int nested, char *roles, size_t cap,
                           size_t *nroles, mf_err *err)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    size_t used = 0;
    int rc = 0;

    *nroles = 0;
    if (mysql_real_query(c->my, sql, strlen(sql)) != 0)
        return fail(c, err, "could not read the account's grants");
    res = mysql_store_result(c->my);
    if (res == NULL)
        return fail(c, err, "could not read the account's grants");
    while (rc == 0 && (row = mysql_fetch_row(res)) != NULL) {
        size_t n = 0;
        int r = mf_sqlguard_grant_line(row[0], roles ? roles + used : NULL,
                                       roles ? cap - used : 0, &n, err);

        if (r == 1 && nested)
            rc = mf_err_set(err, "account holds a role that holds further roles");
        else if (r < 0)
            rc = -1;
        for (size_t i = 0; r == 1 && i < n; i++) {
            used += strlen(roles + used) + 1;
            (*nroles)++;
        }
    }
    mysql_free_result(res);
    return rc;
}

/*
 * Refuse an account that could do more than read: SHOW GRANTS of the current user and of
 * each role it holds may list only USAGE, SELECT and SHOW VIEW (docs/mysql.md). The message
 * names the privilege and its object, never the line (it carries the password hash).
 */
static int check_grants(mf_mysql *c, mf_err *err)
{
    char roles[1024], q[320];
    size_t nroles = 0, off = 0, dummy;

    if (check_grants_of(c, "SHOW GRANTS", 0, roles, sizeof(roles), &nroles, err) != 0)
        goto refuse;
    for (size_t i = 0; i < nroles; i++, off += strlen(roles + off) + 1) {
        snprintf(q, sizeof(q), "SHOW GRANTS FOR %s", roles + off);
        if (check_grants_of(c, q, 1, NULL, 0, &dummy, err) != 0) {
            mf_err_prefix(err, "role %.64s", roles + off);
            goto refuse;
        }
    }
    return 0;
refuse:
    return mf_err_prefix(err, "refusing mysql account \"%s\" on \"%s\" (the fleet reads with "
                              "an account that holds only SELECT)", c->user, c->endpoint);
}

static int set_options(MYSQL *my, const mf_mysql *c)
{
    unsigned int zero = 0;
    my_bool no = 0;

    if (mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &c->connect_timeout_s) != 0 ||
        mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &c->net_timeout_s) != 0 ||
        mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &c->net_timeout_s) != 0 ||
        mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0 ||
        mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &zero) != 0 ||
        mysql_options(my, MYSQL_OPT_RECONNECT, &no) != 0)
        return -1;
    return 0;
}

static int connect_now(mf_mysql *c, mf_err *err)
{
    MYSQL *my = mysql_init(NULL);

    if (my == NULL)
        return mf_err_set(err, "could not connect to \"%s\": out of memory", c->endpoint);
    if (set_options(my, c) != 0) {
        mysql_close(my);
        return mf_err_set(err, "could not connect to \"%s\": could not set client options",
                          c->endpoint);
    }
    /* client flags 0: no CLIENT_MULTI_STATEMENTS, no CLIENT_LOCAL_FILES */
    if (mysql_real_connect(my, c->host, c->user, c->password, c->db, c->port, NULL, 0) ==
        NULL) {
        char prefix[340];

        snprintf(prefix, sizeof(prefix), "could not connect to \"%s\"", c->endpoint);
        report(c, err, prefix, mysql_errno(my), mysql_error(my));
        mysql_close(my);
        return -1;
    }
    c->my = my;
    if (setup_session(c, err) != 0 || (!c->skip_grant_check && check_grants(c, err) != 0)) {
        drop_connection(c, NULL);
        return -1;
    }
    return 0;
}

static int ensure_connected(mf_mysql *c, mf_err *err)
{
    return c->my != NULL ? 0 : connect_now(c, err);
}

mf_mysql *mf_mysql_connect(const mf_mysql_config *cfg, mf_err *err)
{
    mf_mysql *c;
    int failed = 0;

    if (cfg == NULL || cfg->host == NULL || cfg->user == NULL || cfg->db == NULL) {
        mf_err_set(err, "mysql config needs host, user and db");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    c->host = dup_or_null(cfg->host, &failed);
    c->user = dup_or_null(cfg->user, &failed);
    c->password = dup_or_null(cfg->password, &failed);
    c->db = dup_or_null(cfg->db, &failed);
    c->port = cfg->port ? cfg->port : 3306;
    c->connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s : 10;
    c->limit_s = cfg->query_time_limit_s ? cfg->query_time_limit_s : 300;
    c->net_timeout_s = cfg->net_timeout_s ? cfg->net_timeout_s : c->limit_s + 30;
    c->net_write_timeout_s = cfg->net_write_timeout_s;
    c->skip_grant_check = cfg->unsafe_skip_grant_check;
    c->log = cfg->log;
    snprintf(c->endpoint, sizeof(c->endpoint), "%s:%u", cfg->host, c->port);
    if (failed) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    if (connect_now(c, err) != 0)
        goto fail;
    return c;
fail:
    mf_mysql_close(c);
    return NULL;
}

void mf_mysql_close(mf_mysql *conn)
{
    if (conn == NULL)
        return;
    drop_connection(conn, NULL);
    free(conn->host);
    free(conn->user);
    wipe_free(conn->password);
    free(conn->db);
    free(conn);
}

unsigned mf_mysql_last_errno(const mf_mysql *conn)
{
    return conn ? conn->last_errno : 0;
}

const char *mf_mysql_endpoint(const mf_mysql *conn)
{
    return conn ? conn->endpoint : "";
}

/* ---------------------------------------------------------------- transactions */

static int guard(mf_mysql *c, const char *sql, size_t *body_len, mf_err *err)
{
    if (c == NULL)
        return mf_err_set(err, "no mysql connection");
    c->last_errno = 0;
    if (mf_sqlguard_check(sql, c->guard_flags, body_len, err) != 0)
        return mf_err_prefix(err, "refused target query");
    return 0;
}

static int begin_ro(mf_mysql *c, mf_err *err)
{
    if (mysql_real_query(c->my, "START TRANSACTION READ ONLY", 27) != 0) {
        fail(c, err, "could not start read-only transaction");
        drop_if_lost(c);
        return -1;
    }
    return 0;
}

/* Roll back (nothing was written); if that fails the connection is dropped. */
static void end_ro(mf_mysql *c)
{
    if (c->my != NULL && mysql_real_query(c->my, "ROLLBACK", 8) != 0)
        drop_connection(c, NULL);
}

/* ---------------------------------------------------------------- text protocol stream */

static const char **column_names(MYSQL_FIELD *fields, unsigned n)
{
    const char **names = calloc(n ? n : 1, sizeof(*names));

    if (names == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        names[i] = fields[i].name;
    return names;
}

int mf_mysql_stream(mf_mysql *conn, const char *sql, mf_mysql_row_cb cb, void *arg,
                    uint64_t *nrows, mf_err *err)
{
    MYSQL_RES *res = NULL;
    const char **names = NULL;
    mf_mysql_row r = {0};
    size_t body_len = 0;
    int rc = -1, stopped = 0;

    if (nrows != NULL)
        *nrows = 0;
    if (cb == NULL)
        return mf_err_set(err, "no row callback given");
    if (guard(conn, sql, &body_len, err) != 0 || ensure_connected(conn, err) != 0 ||
        begin_ro(conn, err) != 0)
        return -1;
    if (mysql_real_query(conn->my, sql, body_len) != 0) {
        fail(conn, err, "query failed");
        goto out;
    }
    res = mysql_use_result(conn->my);
    if (res == NULL) {
        fail(conn, err, "query returned no result set");
        goto out;
    }
    r.ncols = mysql_num_fields(res);
    names = column_names(mysql_fetch_fields(res), r.ncols);
    if (names == NULL) {
        mf_err_set(err, "out of memory");
        stopped = 1;
        goto out;
    }
    r.names = names;
    for (;;) {
        MYSQL_ROW row = mysql_fetch_row(res);

        if (row == NULL) {
            if (mysql_errno(conn->my) != 0) {
                fail(conn, err, "query failed");
                goto out;
            }
            break;
        }
        r.values = (const char *const *)row;
        r.lengths = mysql_fetch_lengths(res);
        if (cb(&r, arg) != 0) {
            stopped = 1;
            break;
        }
        r.index++;
    }
    rc = 0;
out:
    if (nrows != NULL)
        *nrows = r.index;
    if (stopped && res != NULL) {
        drop_connection(conn, res); /* do not drain a huge result */
    } else {
        if (res != NULL)
            mysql_free_result(res);
        end_ro(conn);
        drop_if_lost(conn);
    }
    free(names);
    return rc;
}

/* ---------------------------------------------------------------- prepared statements */

typedef struct pcols {
    unsigned n;
    MYSQL_BIND *bind;
    char **buf;
    size_t *cap;
    unsigned long *len;
    my_bool *is_null;
    my_bool *trunc;
    const char **names;
    const char **values;
    unsigned long *lengths;
} pcols;

static void pcols_free(pcols *p)
{
    if (p->buf != NULL) {
        for (unsigned i = 0; i < p->n; i++)
            free(p->buf[i]);
    }
    free(p->bind);
    free(p->buf);
    free(p->cap);
    free(p->len);
    free(p->is_null);
    free(p->trunc);
    free(p->names);
    free(p->values);
    free(p->lengths);
    memset(p, 0, sizeof(*p));
}

static int pcols_init(pcols *p, MYSQL_FIELD *fields, unsigned n)
{
    size_t m = n ? n : 1;

    p->n = n;
    p->bind = calloc(m, sizeof(*p->bind));
    p->buf = calloc(m, sizeof(*p->buf));
    p->cap = calloc(m, sizeof(*p->cap));
    p->len = calloc(m, sizeof(*p->len));
    p->is_null = calloc(m, sizeof(*p->is_null));
    p->trunc = calloc(m, sizeof(*p->trunc));
    p->values = calloc(m, sizeof(*p->values));
    p->lengths = calloc(m, sizeof(*p->lengths));
    p->names = column_names(fields, n);
    if (!p->bind || !p->buf || !p->cap || !p->len || !p->is_null || !p->trunc ||
        !p->values || !p->lengths || !p->names)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        p->buf[i] = malloc(COL_BUF_INITIAL);
        if (p->buf[i] == NULL)
            return -1;
        p->cap[i] = COL_BUF_INITIAL;
        p->bind[i].buffer_type = MYSQL_TYPE_STRING;
        p->bind[i].buffer = p->buf[i];
        p->bind[i].buffer_length = COL_BUF_INITIAL - 1; /* room for our NUL */
        p->bind[i].length = &p->len[i];
        p->bind[i].is_null = &p->is_null[i];
        p->bind[i].error = &p->trunc[i];
    }
    return 0;
}

/* A value did not fit: grow its buffer, fetch it again, keep the bigger buffer bound. */
static int pcols_refetch(pcols *p, MYSQL_STMT *st, mf_err *err)
{
    for (unsigned i = 0; i < p->n; i++) {
        char *nb;

        if (!p->trunc[i] || p->is_null[i])
            continue;
        nb = realloc(p->buf[i], (size_t)p->len[i] + 1);
        if (nb == NULL)
            return mf_err_set(err, "out of memory");
        p->buf[i] = nb;
        p->cap[i] = (size_t)p->len[i] + 1;
        p->bind[i].buffer = nb;
        p->bind[i].buffer_length = p->len[i];
        if (mysql_stmt_fetch_column(st, &p->bind[i], i, 0) != 0)
            return mf_err_set(err, "could not fetch column %u: %s", i, mysql_stmt_error(st));
        p->trunc[i] = 0;
    }
    if (mysql_stmt_bind_result(st, p->bind) != 0)
        return mf_err_set(err, "could not bind result: %s", mysql_stmt_error(st));
    return 0;
}

static void pcols_row(pcols *p, mf_mysql_row *r)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (p->is_null[i]) {
            p->values[i] = NULL;
            p->lengths[i] = 0;
        } else {
            p->buf[i][p->len[i]] = '\0';
            p->values[i] = p->buf[i];
            p->lengths[i] = p->len[i];
        }
    }
    r->ncols = p->n;
    r->names = p->names;
    r->values = p->values;
    r->lengths = p->lengths;
}

/* Paging bookkeeping: which result column is the key, and where to store it. */
typedef struct keytrack {
    const char *column;   /* NULL: no key tracking */
    int idx;
    int is_int;
    mf_mysql_key *key;
} keytrack;

static int is_int_type(enum enum_field_types t)
{
    return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT || t == MYSQL_TYPE_LONG ||
           t == MYSQL_TYPE_INT24 || t == MYSQL_TYPE_LONGLONG || t == MYSQL_TYPE_YEAR;
}

static int keytrack_find(keytrack *kt, MYSQL_FIELD *fields, unsigned n, mf_err *err)
{
    kt->idx = -1;
    if (kt->column == NULL)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(fields[i].name, kt->column) == 0) {
            kt->idx = (int)i;
            kt->is_int = is_int_type(fields[i].type);
            return 0;
        }
    }
    return mf_err_set(err, "key column \"%s\" is not in the result", kt->column);
}

static int keytrack_save(keytrack *kt, const mf_mysql_row *r, mf_err *err)
{
    const char *v;
    unsigned long n;
    char *end;
    long long x;

    if (kt->idx < 0)
        return 0;
    v = r->values[kt->idx];
    n = r->lengths[kt->idx];
    if (v == NULL)
        return mf_err_set(err, "key column \"%s\" is NULL in row %llu", kt->column,
                          (unsigned long long)r->index);
    if (kt->is_int) {
        errno = 0;
        x = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0')
            return mf_err_set(err, "key column \"%s\" value is not an integer", kt->column);
        kt->key->type = MF_MYSQL_KEY_INT;
        kt->key->i = x;
        return 0;
    }
    if (n >= sizeof(kt->key->text))
        return mf_err_set(err, "key column \"%s\" value is longer than %d bytes", kt->column,
                          MF_MYSQL_KEY_MAX - 1);
    memcpy(kt->key->text, v, n);
    kt->key->text[n] = '\0';
    kt->key->text_len = n;
    kt->key->type = MF_MYSQL_KEY_TEXT;
    return 0;
}

/* A statement error; an error met while fetching unbuffered rows may be recorded on the
 * connection instead of the statement, so fall back to it. */
static int stmt_fail(mf_mysql *c, MYSQL_STMT *st, mf_err *err, const char *what)
{
    char prefix[400];

    if (mysql_stmt_errno(st) == 0 && c->my != NULL && mysql_errno(c->my) != 0)
        return fail(c, err, what);
    snprintf(prefix, sizeof(prefix), "%s on \"%s\"", what, c->endpoint);
    return report(c, err, prefix, mysql_stmt_errno(st),
                  mysql_stmt_errno(st) ? mysql_stmt_error(st) : "unknown error");
}

/* Fetch all rows of an executed statement into the callback. */
static int fetch_rows(mf_mysql *c, MYSQL_STMT *st, pcols *p, keytrack *kt, mf_mysql_row_cb cb,
                      void *arg, uint64_t *count, mf_err *err)
{
    mf_mysql_row r = {0};

    for (;;) {
        int f = mysql_stmt_fetch(st);

        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1)
            return stmt_fail(c, st, err, "query failed");
        if (f == MYSQL_DATA_TRUNCATED && pcols_refetch(p, st, err) != 0)
            return -1;
        pcols_row(p, &r);
        if (cb(&r, arg) != 0)
            break;
        if (keytrack_save(kt, &r, err) != 0)
            return -1;
        r.index++;
        *count = r.index;
    }
    return 0;
}


/* Prepare, bind, execute and fetch sql (already guarded/wrapped) in a read-only trx. */
static int run_prepared(mf_mysql *c, const char *sql, size_t len, MYSQL_BIND *params,
                        unsigned nparams, keytrack *kt, mf_mysql_row_cb cb, void *arg,
                        uint64_t *count, mf_err *err)
{
    MYSQL_STMT *st = NULL;
    MYSQL_RES *meta = NULL;
    pcols p = {0};
    int rc = -1;

    if (ensure_connected(c, err) != 0 || begin_ro(c, err) != 0)
        return -1;
    st = mysql_stmt_init(c->my);
    if (st == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    if (mysql_stmt_prepare(st, sql, len) != 0) {
        stmt_fail(c, st, err, "could not prepare query");
        goto out;
    }
    if (mysql_stmt_param_count(st) != nparams) {
        mf_err_set(err, "query has %lu placeholders but %u parameters were given",
                   mysql_stmt_param_count(st), nparams);
        goto out;
    }
    if (nparams > 0 && mysql_stmt_bind_param(st, params) != 0) {
        stmt_fail(c, st, err, "could not bind parameters");
        goto out;
    }
    meta = mysql_stmt_result_metadata(st);
    if (meta == NULL) {
        mf_err_set(err, "query returned no result set");
        goto out;
    }
    if (pcols_init(&p, mysql_fetch_fields(meta), mysql_num_fields(meta)) != 0) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    if (keytrack_find(kt, mysql_fetch_fields(meta), p.n, err) != 0)
        goto out;
    if (mysql_stmt_bind_result(st, p.bind) != 0) {
        stmt_fail(c, st, err, "could not bind result");
        goto out;
    }
    if (mysql_stmt_execute(st) != 0) {
        stmt_fail(c, st, err, "query failed");
        goto out;
    }
    rc = fetch_rows(c, st, &p, kt, cb, arg, count, err);
out:
    if (meta != NULL)
        mysql_free_result(meta);
    if (st != NULL)
        mysql_stmt_close(st); /* drains what is left: pages and lookups are bounded */
    pcols_free(&p);
    end_ro(c);
    drop_if_lost(c);
    return rc;
}

/* ---------------------------------------------------------------- paging and lookups */

/* Backtick-quote an identifier into out; -1 if it does not fit or is unusable. */
static int quote_ident(const char *name, char *out, size_t size)
{
    size_t o = 0;

    if (name == NULL || name[0] == '\0' || strlen(name) > 64 || size < 3)
        return -1;
    out[o++] = '`';
    for (const char *p = name; *p != '\0'; p++) {
        if (o + 3 >= size)
            return -1;
        if (*p == '`')
            out[o++] = '`';
        out[o++] = *p;
    }
    out[o++] = '`';
    out[o] = '\0';
    return 0;
}

int mf_mysql_stream_page(mf_mysql *conn, const char *sql, const char *key_column,
                         mf_mysql_key *key, unsigned limit, mf_mysql_row_cb cb, void *arg,
                         uint64_t *nrows, mf_err *err)
{
    char qk[160];
    char *text = NULL;
    size_t body_len = 0, cap;
    MYSQL_BIND b[2];
    unsigned long key_len = 0;
    unsigned lim = limit;
    keytrack kt = {.column = key_column, .key = key};
    uint64_t count = 0;
    int n, has_key, rc = -1;

    if (nrows != NULL)
        *nrows = 0;
    if (cb == NULL)
        return mf_err_set(err, "no row callback given");
    if (key == NULL || limit == 0)
        return mf_err_set(err, "paging needs a key and a limit above 0");
    if (quote_ident(key_column, qk, sizeof(qk)) != 0)
        return mf_err_set(err, "invalid key column name");
    if (guard(conn, sql, &body_len, err) != 0)
        return -1;
    has_key = key->type != MF_MYSQL_KEY_NONE;
    cap = body_len + 2 * strlen(qk) + 128;
    text = malloc(cap);
    if (text == NULL)
        return mf_err_set(err, "out of memory");
    n = snprintf(text, cap, "SELECT * FROM (\n%.*s\n) AS mf_page %s%s%s ORDER BY mf_page.%s "
                            "LIMIT ?", (int)body_len, sql, has_key ? "WHERE mf_page." : "",
                 has_key ? qk : "", has_key ? " > ?" : "", qk);
    if (n < 0 || (size_t)n >= cap) {
        mf_err_set(err, "query too long");
        goto out;
    }
    memset(b, 0, sizeof(b));
    if (has_key && key->type == MF_MYSQL_KEY_INT) {
        b[0].buffer_type = MYSQL_TYPE_LONGLONG;
        b[0].buffer = &key->i;
    } else if (has_key) {
        key_len = (unsigned long)key->text_len;
        b[0].buffer_type = MYSQL_TYPE_STRING;
        b[0].buffer = key->text;
        b[0].buffer_length = key_len;
        b[0].length = &key_len;
    }
    b[has_key].buffer_type = MYSQL_TYPE_LONG;
    b[has_key].buffer = &lim;
    b[has_key].is_unsigned = 1;
    rc = run_prepared(conn, text, (size_t)n, b, has_key ? 2 : 1, &kt, cb, arg, &count, err);
    if (rc != 0 && conn->last_errno == 1054 && err != NULL) {
        char msg[MF_ERR_MAX];

        snprintf(msg, sizeof(msg), "%s", err->msg);
        mf_err_set(err, "%s (is the key column \"%.64s\" a column of the result?)", msg,
                   key_column);
    }
out:
    if (nrows != NULL)
        *nrows = count;
    free(text);
    return rc;
}

int mf_mysql_query_params(mf_mysql *conn, const char *sql, const char *const *params,
                          unsigned nparams, mf_mysql_row_cb cb, void *arg, uint64_t *nrows,
                          mf_err *err)
{
    MYSQL_BIND *b = NULL;
    unsigned long *lens = NULL;
    keytrack kt = {0};
    size_t body_len = 0;
    uint64_t count = 0;
    int rc = -1;

    if (nrows != NULL)
        *nrows = 0;
    if (cb == NULL)
        return mf_err_set(err, "no row callback given");
    if (nparams > PARAM_MAX || (nparams > 0 && params == NULL))
        return mf_err_set(err, "invalid parameter list (%u parameters)", nparams);
    if (guard(conn, sql, &body_len, err) != 0)
        return -1;
    b = calloc(nparams ? nparams : 1, sizeof(*b));
    lens = calloc(nparams ? nparams : 1, sizeof(*lens));
    if (b == NULL || lens == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < nparams; i++) {
        if (params[i] == NULL) {
            b[i].buffer_type = MYSQL_TYPE_NULL;
            continue;
        }
        lens[i] = (unsigned long)strlen(params[i]);
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = (void *)(uintptr_t)params[i];
        b[i].buffer_length = lens[i];
        b[i].length = &lens[i];
    }
    rc = run_prepared(conn, sql, body_len, b, nparams, &kt, cb, arg, &count, err);
out:
    if (nrows != NULL)
        *nrows = count;
    free(b);
    free(lens);
    return rc;
}
