/* mf_mysql: read-only, streaming access to the customers' MySQL/MariaDB database. */
#ifndef MF_MYSQL_H
#define MF_MYSQL_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"
#include "mf_log.h"

/*
 * Read-only by construction (docs/mysql.md): every query passes mf_sqlguard first, runs in
 * a session set to READ ONLY inside START TRANSACTION READ ONLY (rolled back afterwards)
 * under a server-side time limit, on a connection without multi-statement support and
 * without LOCAL INFILE, as an account that holds only SELECT (checked on every connect).
 */

typedef struct mf_mysql mf_mysql;

/*
 * The session's sql_mode, set on every connect whatever the server's default: the guard lexes
 * quotes the way this mode does (ANSI_QUOTES would make "..." an identifier, so that a string
 * the guard skipped could hide INTO OUTFILE; PIPES_AS_CONCAT, NO_BACKSLASH_ESCAPES and the
 * like would change what a target query means from one server to the next).
 */
#define MF_MYSQL_SQL_MODE "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

typedef struct mf_mysql_config {
    const char *host;             /* "127.0.0.1"; required */
    unsigned port;                /* 0: 3306 */
    const char *user;             /* required */
    const char *password;         /* may be NULL; copied, never logged, wiped on close */
    const char *db;               /* required */
    unsigned connect_timeout_s;   /* 0: 10 */
    unsigned query_time_limit_s;  /* server-side limit per statement; 0: 300 */
    unsigned net_timeout_s;       /* client socket read/write timeout; 0: limit + 30 */
    unsigned net_write_timeout_s; /* session net_write_timeout; 0: leave server default */
    /* Tests only (no configuration key sets it): accept an account that may write, to prove
     * that the read-only transaction stops what the guard lets through. */
    int unsafe_skip_grant_check;
    /* Borrowed, may be NULL: receives the server's own error text at debug level, numbers
     * masked (errors themselves carry only the number and a generic text). */
    mf_log *log;
} mf_mysql_config;

/* One result row, valid only during the callback. Nothing is allocated per row. */
typedef struct mf_mysql_row {
    unsigned ncols;
    const char *const *names;     /* column names (same pointers for every row) */
    const char *const *values;    /* NUL-terminated text; NULL means SQL NULL */
    const unsigned long *lengths; /* byte length of each value (0 for NULL) */
    uint64_t index;               /* 0-based row number within this call */
} mf_mysql_row;

/*
 * Row callback: return 0 to continue, non-zero to stop. The row on which it returns
 * non-zero counts as NOT consumed (paging does not advance past it).
 */
typedef int (*mf_mysql_row_cb)(const mf_mysql_row *row, void *arg);

/*
 * Errors of every function here: `<what> on "host:port": mysql error 1146: table does not
 * exist`. A server error is reported by its number and a generic text, never the server's
 * message, which can quote data (customers' names and phones through extractvalue() or a
 * bad value); that message goes to cfg->log at debug level with phone numbers masked.
 * Errors of the client library (2000-2999: lost connection, cannot connect) keep its text.
 */

/*
 * Connect now (fails fast) and prepare the session: utf8mb4, MF_MYSQL_SQL_MODE, READ ONLY,
 * time limit. Then SHOW GRANTS (of the account and of each role it holds) may list only
 * USAGE, SELECT and SHOW VIEW: an account that can write, or holds FILE, SUPER, PROCESS or
 * anything else, is refused with `refusing mysql account "u" on "host:port" (...): account
 * holds INSERT on `crm`.*`. Every reconnect checks again.
 * The returned handle owns copies of all config strings; free with mf_mysql_close.
 * Errors: `could not connect to "host:port": <server message>`.
 */
mf_mysql *mf_mysql_connect(const mf_mysql_config *cfg, mf_err *err);

/* Close the connection and wipe the password copy. NULL is fine. */
void mf_mysql_close(mf_mysql *conn);

/*
 * Stream the result of one guarded SELECT with mysql_use_result (constant memory).
 * If the callback stops early, the connection is shut down instead of draining the rest
 * of a possibly huge result; the handle reconnects transparently on its next call.
 * *nrows (may be NULL) receives the number of rows consumed.
 */
int mf_mysql_stream(mf_mysql *conn, const char *sql, mf_mysql_row_cb cb, void *arg, uint64_t *nrows,
                    mf_err *err);

/* Key of the last row consumed by paging; zero-initialise for "from the beginning". */
enum { MF_MYSQL_KEY_NONE = 0, MF_MYSQL_KEY_INT, MF_MYSQL_KEY_TEXT };
#define MF_MYSQL_KEY_MAX 256

typedef struct mf_mysql_key {
    int type;                    /* MF_MYSQL_KEY_* */
    long long i;                 /* for MF_MYSQL_KEY_INT */
    char text[MF_MYSQL_KEY_MAX]; /* for MF_MYSQL_KEY_TEXT, NUL-terminated */
    size_t text_len;
} mf_mysql_key;

/*
 * One page of a guarded SELECT, ordered by a unique, NOT NULL key column of its result:
 *   SELECT * FROM (<sql>) AS mf_page WHERE mf_page.`key` > ? ORDER BY mf_page.`key` LIMIT n
 * (the WHERE is left out when key->type is MF_MYSQL_KEY_NONE). The key is a bound
 * parameter of a prepared statement, never spliced into the text. On return *key holds the
 * key of the last row consumed (it is unchanged if none was) and *nrows the count: fewer
 * than limit rows without an early stop means the end was reached. The key type is taken
 * from the column: integer columns give MF_MYSQL_KEY_INT, anything else MF_MYSQL_KEY_TEXT.
 * sql must not contain `?` placeholders; its column names must be unique.
 */
int mf_mysql_stream_page(mf_mysql *conn, const char *sql, const char *key_column, mf_mysql_key *key,
                         unsigned limit, mf_mysql_row_cb cb, void *arg, uint64_t *nrows,
                         mf_err *err);

/*
 * Run a guarded SELECT with `?` placeholders bound to params (text values; a NULL entry
 * binds SQL NULL) through the prepared-statement API, in a read-only transaction.
 * nparams must equal the number of placeholders. Rows are delivered like mf_mysql_stream.
 */
int mf_mysql_query_params(mf_mysql *conn, const char *sql, const char *const *params,
                          unsigned nparams, mf_mysql_row_cb cb, void *arg, uint64_t *nrows,
                          mf_err *err);

/* Server error number of the last failure on this handle (0 if none), e.g. 1969 for
 * "query execution was interrupted (max_statement_time exceeded)". */
unsigned mf_mysql_last_errno(const mf_mysql *conn);

/* "host:port" of this handle, for messages. */
const char *mf_mysql_endpoint(const mf_mysql *conn);

#endif
