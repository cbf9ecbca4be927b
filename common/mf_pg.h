/* mf_pg: PostgreSQL connection, query, transaction and COPY helpers (pooler-safe, libpq). */
#ifndef MF_PG_H
#define MF_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_err.h"

/*
 * Everything here works through a transaction-mode pooler (PgBouncer, Supabase's pooler on
 * port 6543): no session state, no named prepared statements (PQexecParams uses the unnamed
 * statement), no session advisory locks. Functions take the caller's PGconn; none of them
 * keeps a reference to it.
 */

/*
 * Connect with a libpq conninfo string (key=value or postgresql:// URI). application_name is
 * used unless the conninfo (or PGAPPNAME) sets one; connect_timeout defaults to 10 s unless the
 * conninfo sets it. dbname, if not NULL, overrides the database named by conninfo.
 * On failure returns NULL and sets err to `could not connect to "host:port/db": <libpq message>`
 * (never the password). A conninfo that does not parse fails before libpq sees it, with
 * `could not connect to postgresql: invalid connection string (...)` and nothing of its text
 * (libpq's parse errors quote it, password included). The caller owns the result: PQfinish() it.
 */
PGconn *mf_pg_connect(const char *conninfo, const char *dbname, const char *application_name,
                      mf_err *err);

/* Write "host:port/db" of conn (connected or not) into buf, never a password. Returns buf. */
const char *mf_pg_conn_label(const PGconn *conn, char *buf, size_t cap);

/*
 * If conn is broken (server restart, network), try PQreset once.
 * Returns 0 if conn is (again) usable, -1 with `could not reconnect to "...": ...` otherwise.
 */
int mf_pg_ensure(PGconn *conn, mf_err *err);

/*
 * Turn a PGresult into the error convention: returns 0 when its status is COMMAND_OK,
 * TUPLES_OK, COPY_IN or COPY_OUT; otherwise -1 with err = "<server message> (SQLSTATE xxxxx)"
 * (with the detail appended when the server sent one). res may be NULL (out of memory or lost
 * connection: the connection's error message is used). Does not PQclear.
 */
int mf_pg_result_check(PGconn *conn, const PGresult *res, mf_err *err);

/* SQLSTATE of a failed result ("" when none, e.g. a lost connection). Never NULL. */
const char *mf_pg_sqlstate(const PGresult *res);

/* Whether err (set by a function of this module) carries SQLSTATE state, e.g. "23505". The
 * state is part of the error text ("... (SQLSTATE 23505) ..."), written in one place here. */
int mf_pg_err_has_sqlstate(const mf_err *err, const char *state);

/* The SQLSTATE that err (set by a function of this module) carries, into out; "" when none
 * (a lost connection, a client-side error). The first one in the text counts. Returns out. */
const char *mf_pg_err_sqlstate(const mf_err *err, char out[6]);

/*
 * What a failed statement says about the database and about retrying it, from its SQLSTATE:
 * - MF_PG_FAULT_UNREACHABLE: the server cannot be reached or went away: no SQLSTATE (connect
 *   or reconnect failure, connection lost mid-statement), class 08 (connection exception),
 *   57P01-57P05 (shutdown, crash, cannot connect now, idle timeout), 53 (out of resources:
 *   too many connections, disk full), 58 (system error). Only these make a database "down".
 * - MF_PG_FAULT_DATA: the statement's data cannot be stored, and sending the same data again
 *   fails again: class 22 (data exception: numeric field overflow, invalid text), class 23
 *   (integrity constraint violation: CHECK, NOT NULL, foreign key, unique), class 54 (program
 *   limit exceeded, e.g. an index row too large). The caller handles the conflicts it expects
 *   (e.g. 23505 of an idempotent insert) before asking.
 * - MF_PG_FAULT_OTHER: anything else (deadlock, serialization, statement timeout, a schema or
 *   permission error): may pass, is not the data's fault, does not say the server is down.
 */
typedef enum mf_pg_fault {
    MF_PG_FAULT_UNREACHABLE,
    MF_PG_FAULT_DATA,
    MF_PG_FAULT_OTHER
} mf_pg_fault;
mf_pg_fault mf_pg_err_fault(const mf_err *err);

/* A short name of a fault for logs and metrics: "unreachable", "data", "other". */
const char *mf_pg_fault_name(mf_pg_fault f);

/* err's message without the server's DETAIL (the text after "(SQLSTATE xxxxx)"), into out:
 * a data error's detail quotes the failing row ("Failing row contains (...)"), i.e. phone
 * numbers and message texts, which must not reach logs or dead-letter reasons. Returns out. */
const char *mf_pg_err_brief(const mf_err *err, char *out, size_t cap);

/*
 * Run sql (one or more statements, simple query protocol, no parameters) and discard the
 * result. Returns 0 or -1 with err set as mf_pg_result_check does.
 */
int mf_pg_exec(PGconn *conn, const char *sql, mf_err *err);

/*
 * Run one statement with text parameters through the unnamed prepared statement
 * (PQexecParams; pooler-safe). params may be NULL when nparams is 0; a NULL element is SQL NULL.
 * Returns the result (caller PQclear()s it) or NULL with err set.
 */
PGresult *mf_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      mf_err *err);

/* Like mf_pg_query but discards the result; *affected (optional) gets PQcmdTuples as a number. */
int mf_pg_command(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  long long *affected, mf_err *err);

/* The same two with per-parameter byte lengths and formats (0 text, 1 binary, as PQexecParams
 * takes them; both may be NULL: all text). Binary values (mf_pgbin) need no terminating NUL.
 * Results are text. */
PGresult *mf_pg_query_fmt(PGconn *conn, const char *sql, int nparams, const char *const *params,
                          const int *lengths, const int *formats, mf_err *err);
int mf_pg_command_fmt(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      const int *lengths, const int *formats, long long *affected, mf_err *err);

/* BEGIN / COMMIT. 0 or -1 with err. */
int mf_pg_begin(PGconn *conn, mf_err *err);
int mf_pg_commit(PGconn *conn, mf_err *err);
/* ROLLBACK, best effort (a broken connection has no transaction left to roll back). */
void mf_pg_rollback(PGconn *conn);

/*
 * Run fn inside BEGIN ... COMMIT; ROLLBACK if fn returns -1 or COMMIT fails. fn must not commit
 * or roll back itself. Returns fn's result (0) or -1 with err (fn's message, or the commit's).
 */
typedef int (*mf_pg_tx_fn)(PGconn *conn, void *arg, mf_err *err);
int mf_pg_tx(PGconn *conn, mf_pg_tx_fn fn, void *arg, mf_err *err);

/*
 * COPY ... FROM STDIN in three steps, for bulk writes: begin with the COPY statement, put any
 * number of buffers (text or csv format, as the statement says; chunking is up to the caller,
 * rows may span buffers), end to finish; *rows (optional) gets the number of rows copied.
 * On error after begin, call mf_pg_copy_abort (end does that itself on failure) so the
 * connection is usable again. Works inside or outside a transaction, and through PgBouncer.
 */
int mf_pg_copy_begin(PGconn *conn, const char *copy_sql, mf_err *err);
int mf_pg_copy_put(PGconn *conn, const char *data, size_t len, mf_err *err);
int mf_pg_copy_end(PGconn *conn, long long *rows, mf_err *err);
void mf_pg_copy_abort(PGconn *conn, const char *reason);

/* Append v as one field of a COPY text-format row to b: NULL as \N, backslash, tab, newline
 * and carriage return escaped, a tab before it unless first. 0 or -1 (out of memory). */
int mf_pg_copy_field(mf_buf *b, const char *v, int first, mf_err *err);

/* The three steps at once for a single buffer. */
int mf_pg_copy_in(PGconn *conn, const char *copy_sql, const char *data, size_t len, long long *rows,
                  mf_err *err);

#endif
