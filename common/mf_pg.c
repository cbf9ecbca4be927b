/* mf_pg: PostgreSQL connection, query, transaction and COPY helpers (pooler-safe, libpq). */
#include "mf_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_DEFAULT "10"

/* Copy a libpq message into buf on one line: newlines and tabs become single spaces,
 * trailing whitespace goes. */
static void flatten(const char *msg, char *buf, size_t cap)
{
    size_t n = 0;
    int space = 0;

    if (cap == 0)
        return;
    for (const char *p = msg != NULL ? msg : ""; *p != '\0' && n + 1 < cap; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = 1;
            continue;
        }
        if (space && n > 0 && n + 2 < cap)
            buf[n++] = ' ';
        space = 0;
        buf[n++] = *p;
    }
    buf[n] = '\0';
}

const char *mf_pg_conn_label(const PGconn *conn, char *buf, size_t cap)
{
    const char *host = conn != NULL ? PQhost(conn) : NULL;
    const char *port = conn != NULL ? PQport(conn) : NULL;
    const char *db = conn != NULL ? PQdb(conn) : NULL;

    if (cap == 0)
        return buf;
    if (host == NULL || host[0] == '\0')
        host = "localhost";
    snprintf(buf, cap, "%s:%s/%s", host, port != NULL && port[0] != '\0' ? port : "5432",
             db != NULL ? db : "");
    return buf;
}

PGconn *mf_pg_connect(const char *conninfo, const char *dbname, const char *application_name,
                      mf_err *err)
{
    /* Earlier entries are defaults the expanded conninfo overrides; dbname (if any) comes
     * after it and overrides it. */
    const char *keys[5];
    const char *vals[5];
    char label[256];
    char msg[MF_ERR_MAX];
    int n = 0;
    PGconn *conn;

    keys[n] = "connect_timeout";
    vals[n++] = CONNECT_TIMEOUT_DEFAULT;
    keys[n] = "fallback_application_name";
    vals[n++] = application_name != NULL ? application_name : "msgfleet";
    keys[n] = "dbname";
    vals[n++] = conninfo != NULL ? conninfo : "";
    if (dbname != NULL) {
        keys[n] = "dbname";
        vals[n++] = dbname;
    }
    keys[n] = NULL;
    vals[n] = NULL;

    /* libpq's own parse errors quote the string, password included
     * (`missing "=" after "pw9"`): check it first and say only that it is invalid */
    if (conninfo != NULL && conninfo[0] != '\0') {
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);

        PQfreemem(perr);
        if (opts == NULL) {
            mf_err_set(err, "could not connect to postgresql: invalid connection string (not "
                            "shown: it may hold a password)");
            return NULL;
        }
        PQconninfoFree(opts);
    }
    conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL) {
        mf_err_set(err, "could not connect to \"%s\": out of memory",
                   dbname != NULL ? dbname : "postgresql");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        flatten(PQerrorMessage(conn), msg, sizeof(msg));
        mf_err_set(err, "could not connect to \"%s\": %s",
                   mf_pg_conn_label(conn, label, sizeof(label)), msg);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int mf_pg_ensure(PGconn *conn, mf_err *err)
{
    char label[256];
    char msg[MF_ERR_MAX];

    if (conn == NULL)
        return mf_err_set(err, "could not reconnect: no connection");
    if (PQstatus(conn) == CONNECTION_OK)
        return 0;
    PQreset(conn);
    if (PQstatus(conn) == CONNECTION_OK)
        return 0;
    flatten(PQerrorMessage(conn), msg, sizeof(msg));
    return mf_err_set(err, "could not reconnect to \"%s\": %s",
                      mf_pg_conn_label(conn, label, sizeof(label)), msg);
}

const char *mf_pg_sqlstate(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    return s != NULL ? s : "";
}

int mf_pg_result_check(PGconn *conn, const PGresult *res, mf_err *err)
{
    char msg[MF_ERR_MAX];
    const char *primary;
    const char *detail;

    if (res != NULL) {
        switch (PQresultStatus(res)) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_EMPTY_QUERY: return 0;
        default: break;
        }
    }
    primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary == NULL) {
        flatten(res != NULL && PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res)
                : conn != NULL                                      ? PQerrorMessage(conn)
                                                                    : "no connection",
                msg, sizeof(msg));
        return mf_err_set(err, "%s", msg[0] != '\0' ? msg : "unknown error");
    }
    flatten(primary, msg, sizeof(msg));
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (detail != NULL) {
        char d[MF_ERR_MAX];

        flatten(detail, d, sizeof(d));
        return mf_err_set(err, "%s (SQLSTATE %s): %s", msg, mf_pg_sqlstate(res), d);
    }
    return mf_err_set(err, "%s (SQLSTATE %s)", msg, mf_pg_sqlstate(res));
}

int mf_pg_exec(PGconn *conn, const char *sql, mf_err *err)
{
    PGresult *res = PQexec(conn, sql);
    int rc = mf_pg_result_check(conn, res, err);

    PQclear(res);
    return rc;
}

PGresult *mf_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      mf_err *err)
{
    return mf_pg_query_fmt(conn, sql, nparams, params, NULL, NULL, err);
}

PGresult *mf_pg_query_fmt(PGconn *conn, const char *sql, int nparams, const char *const *params,
                          const int *lengths, const int *formats, mf_err *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, lengths, formats, 0);

    if (mf_pg_result_check(conn, res, err) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

int mf_pg_command(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  long long *affected, mf_err *err)
{
    return mf_pg_command_fmt(conn, sql, nparams, params, NULL, NULL, affected, err);
}

int mf_pg_command_fmt(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      const int *lengths, const int *formats, long long *affected, mf_err *err)
{
    PGresult *res = mf_pg_query_fmt(conn, sql, nparams, params, lengths, formats, err);

    if (res == NULL)
        return -1;
    if (affected != NULL) {
        const char *t = PQcmdTuples(res);

        *affected = t[0] != '\0' ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(res);
    return 0;
}

int mf_pg_begin(PGconn *conn, mf_err *err)
{
    if (mf_pg_exec(conn, "BEGIN", err) != 0)
        return mf_err_prefix(err, "could not begin transaction");
    return 0;
}

int mf_pg_commit(PGconn *conn, mf_err *err)
{
    if (mf_pg_exec(conn, "COMMIT", err) != 0)
        return mf_err_prefix(err, "could not commit transaction");
    /* COMMIT of an aborted transaction answers ROLLBACK with COMMAND_OK. */
    return 0;
}

void mf_pg_rollback(PGconn *conn)
{
    if (conn != NULL && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

int mf_pg_tx(PGconn *conn, mf_pg_tx_fn fn, void *arg, mf_err *err)
{
    if (mf_pg_begin(conn, err) != 0)
        return -1;
    if (fn(conn, arg, err) != 0) {
        mf_pg_rollback(conn);
        return -1;
    }
    if (PQtransactionStatus(conn) == PQTRANS_INERROR) {
        mf_pg_rollback(conn);
        return mf_err_set(err, "could not commit transaction: a statement in it failed");
    }
    if (mf_pg_commit(conn, err) != 0) {
        mf_pg_rollback(conn);
        return -1;
    }
    return 0;
}

int mf_pg_copy_begin(PGconn *conn, const char *copy_sql, mf_err *err)
{
    PGresult *res = PQexec(conn, copy_sql);
    int rc = -1;

    if (mf_pg_result_check(conn, res, err) != 0)
        goto out;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        mf_err_set(err, "statement is not COPY ... FROM STDIN");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    if (rc != 0)
        mf_err_prefix(err, "could not start copy");
    return rc;
}

int mf_pg_copy_put(PGconn *conn, const char *data, size_t len, mf_err *err)
{
    /* PQputCopyData takes an int length: feed big buffers in slices. */
    const size_t slice = (size_t)1 << 24;

    while (len > 0) {
        int n = (int)(len < slice ? len : slice);
        char msg[MF_ERR_MAX];

        if (PQputCopyData(conn, data, n) != 1) {
            flatten(PQerrorMessage(conn), msg, sizeof(msg));
            return mf_err_set(err, "could not send copy data: %s", msg);
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Collect every result after the end of COPY; the first error wins. */
static int copy_finish(PGconn *conn, long long *rows, mf_err *err)
{
    PGresult *res;
    int rc = 0;

    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == 0 && mf_pg_result_check(conn, res, err) != 0)
            rc = -1;
        else if (rc == 0 && rows != NULL && PQcmdTuples(res)[0] != '\0')
            *rows = strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    return rc;
}

int mf_pg_copy_end(PGconn *conn, long long *rows, mf_err *err)
{
    char msg[MF_ERR_MAX];

    if (rows != NULL)
        *rows = 0;
    if (PQputCopyEnd(conn, NULL) != 1) {
        flatten(PQerrorMessage(conn), msg, sizeof(msg));
        mf_err_set(err, "could not end copy: %s", msg);
        copy_finish(conn, NULL, NULL);
        return -1;
    }
    if (copy_finish(conn, rows, err) != 0)
        return mf_err_prefix(err, "copy failed");
    return 0;
}

void mf_pg_copy_abort(PGconn *conn, const char *reason)
{
    if (PQputCopyEnd(conn, reason != NULL ? reason : "aborted by client") == 1)
        copy_finish(conn, NULL, NULL);
}

int mf_pg_copy_in(PGconn *conn, const char *copy_sql, const char *data, size_t len, long long *rows,
                  mf_err *err)
{
    if (mf_pg_copy_begin(conn, copy_sql, err) != 0)
        return -1;
    if (mf_pg_copy_put(conn, data, len, err) != 0) {
        mf_pg_copy_abort(conn, "client could not send data");
        return -1;
    }
    return mf_pg_copy_end(conn, rows, err);
}

int mf_pg_err_has_sqlstate(const mf_err *err, const char *state)
{
    char tag[24];

    snprintf(tag, sizeof(tag), "(SQLSTATE %s)", state);
    return strstr(err->msg, tag) != NULL;
}

const char *mf_pg_err_sqlstate(const mf_err *err, char out[6])
{
    const char *p = err != NULL ? strstr(err->msg, "(SQLSTATE ") : NULL;
    size_t n = 0;

    out[0] = '\0';
    if (p == NULL)
        return out;
    for (p += 10; n < 5 && ((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')); p++)
        out[n++] = *p;
    out[n] = '\0';
    if (n != 5 || *p != ')')
        out[0] = '\0';
    return out;
}

mf_pg_fault mf_pg_err_fault(const mf_err *err)
{
    char st[6];

    mf_pg_err_sqlstate(err, st);
    if (st[0] == '\0' || strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 ||
        strncmp(st, "58", 2) == 0 || strncmp(st, "57P0", 4) == 0)
        return MF_PG_FAULT_UNREACHABLE;
    if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 || strncmp(st, "54", 2) == 0)
        return MF_PG_FAULT_DATA;
    return MF_PG_FAULT_OTHER;
}

const char *mf_pg_fault_name(mf_pg_fault f)
{
    switch (f) {
    case MF_PG_FAULT_UNREACHABLE: return "unreachable";
    case MF_PG_FAULT_DATA: return "data";
    default: return "other";
    }
}

const char *mf_pg_err_brief(const mf_err *err, char *out, size_t cap)
{
    const char *p = strstr(err->msg, "(SQLSTATE ");
    const char *end = p != NULL ? strchr(p, ')') : NULL;
    size_t n = end != NULL ? (size_t)(end + 1 - err->msg) : strlen(err->msg);

    snprintf(out, cap, "%.*s", (int)n, err->msg);
    return out;
}

int mf_pg_copy_field(mf_buf *b, const char *v, int first, mf_err *err)
{
    if (!first && mf_buf_append_char(b, '\t', err) != 0)
        return -1;
    if (v == NULL)
        return mf_buf_append_str(b, "\\N", err);
    for (;;) {
        /* strcspn scans many bytes at a time: most fields have nothing to escape (callgrind:
         * the byte-by-byte loop was 18 % of the reporter's instructions) */
        size_t run = strcspn(v, "\\\t\n\r");
        const char *e;

        if (mf_buf_append(b, v, run, err) != 0)
            return -1;
        v += run;
        if (*v == '\0')
            return 0;
        e = *v == '\\' ? "\\\\" : *v == '\t' ? "\\t" : *v == '\n' ? "\\n" : "\\r";
        if (mf_buf_append_str(b, e, err) != 0)
            return -1;
        v++;
    }
}
