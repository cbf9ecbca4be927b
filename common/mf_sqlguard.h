/* mf_sqlguard: accept only one read-only SELECT (or WITH ... SELECT) as a target query. */
#ifndef MF_SQLGUARD_H
#define MF_SQLGUARD_H

#include <stddef.h>

#include "mf_err.h"

/*
 * The guard is the first read-only layer (see docs/mysql.md): it rejects what is
 * not a single SELECT before anything reaches the server. It is a lexer, not a parser: it
 * knows MySQL/MariaDB string literals ('..', "..", with backslash escapes unless the
 * session's sql_mode has NO_BACKSLASH_ESCAPES), backtick identifiers, and the comment forms
 * `-- ` (dash dash followed by a space or control character), `#` and slash-star comments.
 * MySQL executable comments (slash-star-bang, as in "slash-star!50000 DELETE", and
 * MariaDB's slash-star-M-bang) are code the server runs, so they are rejected outright, and
 * so are MySQL 8 optimizer hints (slash-star-plus), which can set session variables such as
 * sql_mode or the time limit for the statement (SET_VAR).
 * The guard is the first of four layers: the read-only session/transaction, the
 * single-statement protocol and a SELECT-only account still stand behind it.
 *
 * Accepted: optional leading whitespace, comments and parentheses, then SELECT, or WITH
 * [RECURSIVE] cte AS (...)[, ...] followed by SELECT; at most one trailing `;` followed only
 * by whitespace and comments.
 * Rejected (each with its own message): an empty query, any other statement (INSERT,
 * UPDATE, DELETE, SHOW, CALL, SET, WITH ... DELETE ...), a second statement after `;`,
 * SELECT ... INTO OUTFILE / DUMPFILE / @variable, FOR UPDATE, FOR SHARE,
 * LOCK IN SHARE MODE, NEXT VALUE FOR, unterminated strings, identifiers and comments, and
 * calls of the banned functions: lock functions (GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS,
 * IS_FREE_LOCK, IS_USED_LOCK), SLEEP, BENCHMARK, replication waits (MASTER_POS_WAIT,
 * SOURCE_POS_WAIT, MASTER_GTID_WAIT, WAIT_FOR_EXECUTED_GTID_SET,
 * WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS), LOAD_FILE, NEXTVAL and SETVAL. A call is any
 * identifier followed by `(` (whitespace and comments between are skipped), whether the name
 * is bare, backtick-quoted or double-quoted; the same word without `(` (a column) is fine.
 * Also rejected: a statement whose last token is a '-' right after another '-' ("SELECT a --"
 * cut from "SELECT a ---- x"): the body below is sent without what followed it, and there
 * "--" before the end of the text is a comment to the server, not the operators checked.
 * Reserved words used as column names after a dot (t.`update` is fine, t.update is not)
 * may be rejected: the guard errs on the side of refusing.
 */

/* Flags that mirror the session's sql_mode (mf_mysql reads @@sql_mode on connect). */
enum {
    MF_SQLGUARD_NO_BACKSLASH_ESCAPES = 1 << 0, /* a backslash is an ordinary character */
};

/*
 * Check sql (NUL-terminated). Returns 0 if acceptable, -1 with a message in err otherwise.
 * On success, if body_len is not NULL, it receives the length of the statement proper: the
 * prefix of sql up to the end of its last token, without the trailing `;` and without
 * trailing whitespace and comments, so that a caller can wrap it as a derived table.
 */
int mf_sqlguard_check(const char *sql, unsigned flags, size_t *body_len, mf_err *err);

/*
 * Check one line of SHOW GRANTS output (MySQL or MariaDB) for an account that must only read.
 * Allowed: USAGE, SELECT and SHOW VIEW (column lists included), without GRANT OPTION.
 * Returns 0 when the line grants nothing more (lines that are not GRANT statements, such as
 * a partial REVOKE or SET DEFAULT ROLE, also give 0); -1 with err naming the first other
 * privilege and its object, e.g. `account holds INSERT on `crm`.*` (never the rest of the
 * line: MariaDB prints the password hash in it); 1 when the line grants roles
 * (`GRANT `r`@`%` TO ...`): their names, as the server quoted them, go into roles as
 * NUL-terminated strings one after the other (cap bytes), their count into *nroles, for
 * the caller to check with SHOW GRANTS FOR each.
 */
int mf_sqlguard_grant_line(const char *line, char *roles, size_t cap, size_t *nroles, mf_err *err);

#endif
