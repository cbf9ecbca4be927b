/* mf_mysql: read-only access to the customers' MySQL/MariaDB database: the connection. */
#include "mf_mysql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mf_phone.h"
#include "mf_sqlguard.h"

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
void mf_mysql_conn_drop(mf_mysql *c, MYSQL_RES *res)
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
int mf_mysql_conn_report(mf_mysql *c, mf_err *err, const char *prefix, unsigned no,
                         const char *text)
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

/* Record the server error. A lost connection is dropped later, by mf_mysql_conn_drop_if_lost, once
 * results and statements that point into it are freed. */
int mf_mysql_conn_fail(mf_mysql *c, mf_err *err, const char *what)
{
    char prefix[400];

    snprintf(prefix, sizeof(prefix), "%s on \"%s\"", what, c->endpoint);
    if (c->my == NULL)
        return mf_mysql_conn_report(c, err, prefix, 0, "not connected");
    return mf_mysql_conn_report(c, err, prefix, mysql_errno(c->my), mysql_error(c->my));
}

/* Server gone / lost connection: close, so that the next call reconnects. */
void mf_mysql_conn_drop_if_lost(mf_mysql *c)
{
    unsigned no = c->last_errno;

    if (no == 2006 || no == 2013 || no == 2055)
        mf_mysql_conn_drop(c, NULL);
}

static int run(mf_mysql *c, const char *sql, mf_err *err)
{
    if (mysql_real_query(c->my, sql, strlen(sql)) != 0)
        return mf_mysql_conn_fail(c, err, "could not prepare session");
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
        return mf_mysql_conn_fail(c, err, "could not read sql_mode");
    res = mysql_store_result(c->my);
    if (res == NULL)
        return mf_mysql_conn_fail(c, err, "could not read sql_mode");
    row = mysql_fetch_row(res);
    c->guard_flags = 0;
    if (row != NULL && row[0] != NULL && strstr(row[0], "NO_BACKSLASH_ESCAPES") != NULL)
        c->guard_flags |= MF_SQLGUARD_NO_BACKSLASH_ESCAPES;
    if (row != NULL && row[0] != NULL && strstr(row[0], "ANSI_QUOTES") != NULL)
        rc = mf_err_set(err,
                        "could not prepare session on \"%s\": sql_mode still has "
                        "ANSI_QUOTES after it was set",
                        c->endpoint);
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
        return mf_mysql_conn_fail(c, err, "could not read the account's grants");
    res = mysql_store_result(c->my);
    if (res == NULL)
        return mf_mysql_conn_fail(c, err, "could not read the account's grants");
    while (rc == 0 && (row = mysql_fetch_row(res)) != NULL) {
        size_t n = 0;
        int r = mf_sqlguard_grant_line(row[0], roles ? roles + used : NULL, roles ? cap - used : 0,
                                       &n, err);

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
    return mf_err_prefix(err,
                         "refusing mysql account \"%s\" on \"%s\" (the fleet reads with "
                         "an account that holds only SELECT)",
                         c->user, c->endpoint);
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
    if (mysql_real_connect(my, c->host, c->user, c->password, c->db, c->port, NULL, 0) == NULL) {
        char prefix[340];

        snprintf(prefix, sizeof(prefix), "could not connect to \"%s\"", c->endpoint);
        mf_mysql_conn_report(c, err, prefix, mysql_errno(my), mysql_error(my));
        mysql_close(my);
        return -1;
    }
    c->my = my;
    if (setup_session(c, err) != 0 || (!c->skip_grant_check && check_grants(c, err) != 0)) {
        mf_mysql_conn_drop(c, NULL);
        return -1;
    }
    return 0;
}

int mf_mysql_conn_ensure(mf_mysql *c, mf_err *err)
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
    mf_mysql_conn_drop(conn, NULL);
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

int mf_mysql_tx_guard(mf_mysql *c, const char *sql, size_t *body_len, mf_err *err)
{
    if (c == NULL)
        return mf_err_set(err, "no mysql connection");
    c->last_errno = 0;
    if (mf_sqlguard_check(sql, c->guard_flags, body_len, err) != 0)
        return mf_err_prefix(err, "refused target query");
    return 0;
}

int mf_mysql_tx_begin_ro(mf_mysql *c, mf_err *err)
{
    if (mysql_real_query(c->my, "START TRANSACTION READ ONLY", 27) != 0) {
        mf_mysql_conn_fail(c, err, "could not start read-only transaction");
        mf_mysql_conn_drop_if_lost(c);
        return -1;
    }
    return 0;
}

/* Roll back (nothing was written); if that fails the connection is dropped. */
void mf_mysql_tx_end_ro(mf_mysql *c)
{
    if (c->my != NULL && mysql_real_query(c->my, "ROLLBACK", 8) != 0)
        mf_mysql_conn_drop(c, NULL);
}
