/* mf_mysql_stream: the customers' MySQL queries: text stream, prepared statements, paging. */
#include "mf_mysql_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARAM_MAX 1024      /* placeholders per prepared statement */
#define COL_BUF_INITIAL 256 /* initial text buffer per result column (grows) */

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

int mf_mysql_stream(mf_mysql *conn, const char *sql, mf_mysql_row_cb cb, void *arg, uint64_t *nrows,
                    mf_err *err)
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
    if (mf_mysql_tx_guard(conn, sql, &body_len, err) != 0 || mf_mysql_conn_ensure(conn, err) != 0 ||
        mf_mysql_tx_begin_ro(conn, err) != 0)
        return -1;
    if (mysql_real_query(conn->my, sql, body_len) != 0) {
        mf_mysql_conn_fail(conn, err, "query failed");
        goto out;
    }
    res = mysql_use_result(conn->my);
    if (res == NULL) {
        mf_mysql_conn_fail(conn, err, "query returned no result set");
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
                mf_mysql_conn_fail(conn, err, "query failed");
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
        mf_mysql_conn_drop(conn, res); /* do not drain a huge result */
    } else {
        if (res != NULL)
            mysql_free_result(res);
        mf_mysql_tx_end_ro(conn);
        mf_mysql_conn_drop_if_lost(conn);
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
    if (!p->bind || !p->buf || !p->cap || !p->len || !p->is_null || !p->trunc || !p->values ||
        !p->lengths || !p->names)
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
    const char *column; /* NULL: no key tracking */
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
        return mf_mysql_conn_fail(c, err, what);
    snprintf(prefix, sizeof(prefix), "%s on \"%s\"", what, c->endpoint);
    return mf_mysql_conn_report(c, err, prefix, mysql_stmt_errno(st),
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

    if (mf_mysql_conn_ensure(c, err) != 0 || mf_mysql_tx_begin_ro(c, err) != 0)
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
    mf_mysql_tx_end_ro(c);
    mf_mysql_conn_drop_if_lost(c);
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

int mf_mysql_stream_page(mf_mysql *conn, const char *sql, const char *key_column, mf_mysql_key *key,
                         unsigned limit, mf_mysql_row_cb cb, void *arg, uint64_t *nrows,
                         mf_err *err)
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
    if (mf_mysql_tx_guard(conn, sql, &body_len, err) != 0)
        return -1;
    has_key = key->type != MF_MYSQL_KEY_NONE;
    cap = body_len + 2 * strlen(qk) + 128;
    text = malloc(cap);
    if (text == NULL)
        return mf_err_set(err, "out of memory");
    n = snprintf(text, cap,
                 "SELECT * FROM (\n%.*s\n) AS mf_page %s%s%s ORDER BY mf_page.%s "
                 "LIMIT ?",
                 (int)body_len, sql, has_key ? "WHERE mf_page." : "", has_key ? qk : "",
                 has_key ? " > ?" : "", qk);
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
    if (mf_mysql_tx_guard(conn, sql, &body_len, err) != 0)
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
