/* mf_mysql_int: what the MySQL module's files share (the connection; not for callers). */
#ifndef MF_MYSQL_INT_H
#define MF_MYSQL_INT_H

/*
 * The module is two files: mf_mysql.c (connecting, session set-up, grant check, errors,
 * the read-only transaction) and mf_mysql_stream.c (the queries: text-protocol stream,
 * prepared statements, keyset paging, parameter lookups). Callers include mf_mysql.h only.
 */
#include <mysql.h>

#include "mf_mysql.h"

struct mf_mysql {
    MYSQL *my;
    mf_log *log; /* borrowed, may be NULL */
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

/* Close the socket without reading what the server still sends, then free res (may be NULL)
 * and the connection; the next call reconnects. */
void mf_mysql_conn_drop(mf_mysql *c, MYSQL_RES *res);

/* Set err for a failure of `prefix` with error number no and the library's text (a server's
 * text only to the debug log, numbers masked); records no as the last errno. Returns -1. */
int mf_mysql_conn_report(mf_mysql *c, mf_err *err, const char *prefix, unsigned no,
                         const char *text);

/* Record the connection's current error for `what`. Returns -1. */
int mf_mysql_conn_fail(mf_mysql *c, mf_err *err, const char *what);

/* Server gone / lost connection: close, so that the next call reconnects. */
void mf_mysql_conn_drop_if_lost(mf_mysql *c);

/* Connect when not connected. 0, or -1 with err. */
int mf_mysql_conn_ensure(mf_mysql *c, mf_err *err);

/* The target query through the SQL guard (*body_len: its length without a trailing ';').
 * 0, or -1 with err. */
int mf_mysql_tx_guard(mf_mysql *c, const char *sql, size_t *body_len, mf_err *err);

/* START TRANSACTION READ ONLY. 0, or -1 with err (a lost connection dropped). */
int mf_mysql_tx_begin_ro(mf_mysql *c, mf_err *err);

/* Roll back (nothing was written); if that fails the connection is dropped. */
void mf_mysql_tx_end_ro(mf_mysql *c);

#endif
