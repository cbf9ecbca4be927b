/* mf_sqlguard: accept only one read-only SELECT (or WITH ... SELECT) as a target query. */
#include "mf_sqlguard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum tok_type { TOK_END, TOK_WORD, TOK_STRING, TOK_QIDENT, TOK_PUNCT };

typedef struct token {
    enum tok_type type;
    size_t off;
    size_t len;
} token;

typedef struct lexer {
    const char *s;
    size_t pos;
    unsigned flags;
} lexer;

static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c >= 0x80;
}

/* A "-- " comment needs the second dash followed by whitespace or a control character. */
static int is_dash_comment(const char *p)
{
    unsigned char c;

    if (p[0] != '-' || p[1] != '-')
        return 0;
    c = (unsigned char)p[2];
    return c <= 0x20 || c == 0x7f; /* includes the end of the string */
}

/* Skip whitespace and comments. Returns 0, or -1 on an executable or unterminated comment. */
static int skip_space(lexer *lx, mf_err *err)
{
    const char *s = lx->s;

    for (;;) {
        unsigned char c = (unsigned char)s[lx->pos];

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            lx->pos++;
        } else if (c == '#' || is_dash_comment(s + lx->pos)) {
            const char *nl = strchr(s + lx->pos, '\n');
            lx->pos = nl ? (size_t)(nl - s) + 1 : strlen(s);
        } else if (c == '/' && s[lx->pos + 1] == '*') {
            const char *p = s + lx->pos + 2;
            const char *end;

            if (p[0] == '!' || (p[0] == 'M' && p[1] == '!'))
                return mf_err_set(err,
                                  "executable comments (/*! ... */) are not allowed "
                                  "(at offset %zu)",
                                  lx->pos);
            /* MySQL 8 optimizer hints can change session variables for the statement
             * (SET_VAR: sql_mode, the time limit) */
            if (p[0] == '+')
                return mf_err_set(err,
                                  "optimizer hints (/*+ ... */) are not allowed "
                                  "(at offset %zu)",
                                  lx->pos);
            end = strstr(p, "*/");
            if (end == NULL)
                return mf_err_set(err, "unterminated comment starting at offset %zu", lx->pos);
            lx->pos = (size_t)(end - s) + 2;
        } else {
            return 0;
        }
    }
}

static int lex_quoted(lexer *lx, token *t, mf_err *err)
{
    const char *s = lx->s;
    char q = s[lx->pos];
    size_t i = lx->pos + 1;
    int backslash = q != '`' && !(lx->flags & MF_SQLGUARD_NO_BACKSLASH_ESCAPES);

    for (;;) {
        if (s[i] == '\0')
            return mf_err_set(err, "unterminated %s starting at offset %zu",
                              q == '`' ? "quoted identifier" : "string literal", lx->pos);
        if (backslash && s[i] == '\\') {
            if (s[i + 1] == '\0')
                return mf_err_set(err, "unterminated string literal starting at offset %zu",
                                  lx->pos);
            i += 2;
        } else if (s[i] == q) {
            if (s[i + 1] == q) {
                i += 2;
            } else {
                i++;
                break;
            }
        } else {
            i++;
        }
    }
    t->type = q == '`' ? TOK_QIDENT : TOK_STRING;
    t->off = lx->pos;
    t->len = i - lx->pos;
    lx->pos = i;
    return 0;
}

/* Next token after whitespace and comments. Returns 0 (TOK_END at the end) or -1. */
static int lex_next(lexer *lx, token *t, mf_err *err)
{
    const char *s = lx->s;
    unsigned char c;

    if (skip_space(lx, err) != 0)
        return -1;
    c = (unsigned char)s[lx->pos];
    t->off = lx->pos;
    if (c == '\0') {
        t->type = TOK_END;
        t->len = 0;
        return 0;
    }
    if (c == '\'' || c == '"' || c == '`')
        return lex_quoted(lx, t, err);
    if (is_word_char(c)) {
        size_t i = lx->pos;

        while (is_word_char((unsigned char)s[i]))
            i++;
        t->type = TOK_WORD;
        t->len = i - lx->pos;
        lx->pos = i;
        return 0;
    }
    t->type = TOK_PUNCT;
    t->len = 1;
    lx->pos++;
    return 0;
}

static int word_is(const lexer *lx, const token *t, const char *w)
{
    size_t n = strlen(w);

    return t->type == TOK_WORD && t->len == n && strncasecmp(lx->s + t->off, w, n) == 0;
}

static int punct_is(const lexer *lx, const token *t, char c)
{
    return t->type == TOK_PUNCT && lx->s[t->off] == c;
}

/* Upper-case copy of a token (truncated) for messages. */
static const char *tok_text(const lexer *lx, const token *t, char *buf, size_t size)
{
    size_t n = t->len < size - 1 ? t->len : size - 1;

    for (size_t i = 0; i < n; i++) {
        char c = lx->s[t->off + i];
        buf[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    buf[n] = '\0';
    return buf;
}

static int peek(const lexer *lx, token *t)
{
    lexer copy = *lx;

    if (lex_next(&copy, t, NULL) != 0)
        t->type = TOK_END;
    return 0;
}

/* Functions with effects outside the statement: locks that outlive the transaction, waits
 * that hold a connection (sleep, benchmark, replication waits), file reads, sequences. */
static const char *const banned_functions[] = {
    "GET_LOCK",
    "RELEASE_LOCK",
    "RELEASE_ALL_LOCKS",
    "IS_FREE_LOCK",
    "IS_USED_LOCK",
    "SLEEP",
    "BENCHMARK",
    "MASTER_POS_WAIT",
    "SOURCE_POS_WAIT",
    "MASTER_GTID_WAIT",
    "WAIT_FOR_EXECUTED_GTID_SET",
    "WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS",
    "LOAD_FILE",
    "NEXTVAL",
    "SETVAL",
    NULL,
};

/* The name a token spells: a bare word as is, a quoted identifier (or a double-quoted
 * string, which is an identifier under ANSI_QUOTES) without its quotes and with doubled
 * quotes undone; upper-cased into buf. Returns 0, or -1 when it does not fit (then it
 * cannot be a banned name either). */
static int name_of(const lexer *lx, const token *t, char *buf, size_t size)
{
    const char *p = lx->s + t->off;
    size_t n = t->len, o = 0;
    char q = 0;

    if (t->type != TOK_WORD) {
        q = p[0];
        p++;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (q != 0 && c == q && i + 1 < n && p[i + 1] == q)
            i++;
        if (o + 1 >= size)
            return -1;
        buf[o++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    buf[o] = '\0';
    return 0;
}

/* Any identifier followed by `(` (after whitespace and comments) is a function call, whether
 * the name is bare, backtick-quoted or double-quoted: refuse the banned ones. */
static int check_call(const lexer *lx, const token *t, mf_err *err)
{
    token nx = {0};
    char name[72];

    if (t->type != TOK_WORD && t->type != TOK_QIDENT &&
        !(t->type == TOK_STRING && lx->s[t->off] == '"'))
        return 0;
    peek(lx, &nx);
    if (!punct_is(lx, &nx, '(') || name_of(lx, t, name, sizeof(name)) != 0)
        return 0;
    for (size_t i = 0; banned_functions[i] != NULL; i++) {
        if (strcmp(name, banned_functions[i]) == 0)
            return mf_err_set(err, "function %s is not allowed in a target query",
                              banned_functions[i]);
    }
    return 0;
}

/* Checks that apply to every word anywhere in the statement. */
static int check_word(const lexer *lx, const token *t, mf_err *err)
{
    token nx = {0};
    char buf[40];

    if (t->type != TOK_WORD)
        return 0;
    if (word_is(lx, t, "INTO")) {
        peek(lx, &nx);
        if (word_is(lx, &nx, "OUTFILE"))
            return mf_err_set(err, "SELECT ... INTO OUTFILE is not allowed");
        if (word_is(lx, &nx, "DUMPFILE"))
            return mf_err_set(err, "SELECT ... INTO DUMPFILE is not allowed");
        if (punct_is(lx, &nx, '@'))
            return mf_err_set(err, "SELECT ... INTO @variable is not allowed");
        return mf_err_set(err, "INTO is not allowed in a target query");
    }
    if (word_is(lx, t, "FOR")) {
        peek(lx, &nx);
        if (word_is(lx, &nx, "UPDATE") || word_is(lx, &nx, "SHARE"))
            return mf_err_set(err, "locking reads (FOR %s) are not allowed",
                              tok_text(lx, &nx, buf, sizeof(buf)));
        return 0;
    }
    if (word_is(lx, t, "LOCK")) {
        peek(lx, &nx);
        if (word_is(lx, &nx, "IN"))
            return mf_err_set(err, "locking reads (LOCK IN SHARE MODE) are not allowed");
        return 0;
    }
    if (word_is(lx, t, "NEXT")) {
        peek(lx, &nx);
        if (word_is(lx, &nx, "VALUE"))
            return mf_err_set(err, "NEXT VALUE FOR changes a sequence and is not allowed");
        return 0;
    }
    return 0;
}

enum state {
    ST_LEAD,   /* before the first keyword; '(' allowed */
    ST_W_NAME, /* after WITH or ',': expect [RECURSIVE] cte name */
    ST_W_AFTER_NAME,
    ST_W_COLS,      /* inside the column list */
    ST_W_AS,        /* expect AS */
    ST_W_OPEN,      /* expect '(' of the cte body */
    ST_W_BODY,      /* inside the cte body */
    ST_W_AFTER_CTE, /* expect ',' or the main SELECT */
    ST_MAIN,        /* the SELECT itself */
};

typedef struct walker {
    enum state st;
    int depth;
    int base;
    int recursive_seen;
} walker;

static int reject_first(const lexer *lx, const token *t, int in_with, mf_err *err)
{
    char buf[40];

    if (t->type == TOK_WORD)
        return mf_err_set(err,
                          in_with ? "WITH must be followed by SELECT, not %s"
                                  : "only a single SELECT statement is allowed, not %s",
                          tok_text(lx, t, buf, sizeof(buf)));
    return mf_err_set(err, "query must start with SELECT or WITH (offset %zu)", t->off);
}

/* Advance the statement-shape state machine by one token. */
static int walk(walker *w, const lexer *lx, const token *t, mf_err *err)
{
    int open = punct_is(lx, t, '(');
    int close = punct_is(lx, t, ')');

    switch (w->st) {
    case ST_LEAD:
        if (open)
            return w->depth++, 0;
        if (word_is(lx, t, "SELECT"))
            return w->st = ST_MAIN, 0;
        if (word_is(lx, t, "WITH")) {
            w->base = w->depth;
            w->recursive_seen = 0;
            return w->st = ST_W_NAME, 0;
        }
        return reject_first(lx, t, 0, err);
    case ST_W_NAME:
        if (!w->recursive_seen && word_is(lx, t, "RECURSIVE"))
            return w->recursive_seen = 1, 0;
        w->recursive_seen = 1;
        if (t->type == TOK_WORD || t->type == TOK_QIDENT)
            return w->st = ST_W_AFTER_NAME, 0;
        return mf_err_set(err, "malformed WITH clause at offset %zu", t->off);
    case ST_W_AFTER_NAME:
        if (open)
            return w->depth++, w->st = ST_W_COLS, 0;
        if (word_is(lx, t, "AS"))
            return w->st = ST_W_OPEN, 0;
        return mf_err_set(err, "malformed WITH clause at offset %zu", t->off);
    case ST_W_COLS:
    case ST_W_BODY:
        if (open)
            w->depth++;
        else if (close && --w->depth == w->base)
            w->st = w->st == ST_W_COLS ? ST_W_AS : ST_W_AFTER_CTE;
        return 0;
    case ST_W_AS:
        if (word_is(lx, t, "AS"))
            return w->st = ST_W_OPEN, 0;
        return mf_err_set(err, "malformed WITH clause at offset %zu", t->off);
    case ST_W_OPEN:
        if (open)
            return w->depth++, w->st = ST_W_BODY, 0;
        return mf_err_set(err, "malformed WITH clause at offset %zu", t->off);
    case ST_W_AFTER_CTE:
        if (punct_is(lx, t, ','))
            return w->st = ST_W_NAME, 0;
        if (open)
            return w->depth++, w->st = ST_LEAD, 0;
        if (word_is(lx, t, "SELECT"))
            return w->st = ST_MAIN, 0;
        return reject_first(lx, t, 1, err);
    case ST_MAIN: return 0;
    }
    return 0;
}

/* After a ';' only whitespace and comments may follow. */
static int check_trailing(lexer *lx, mf_err *err)
{
    token t = {0};

    if (lex_next(lx, &t, err) != 0)
        return -1;
    if (t.type != TOK_END)
        return mf_err_set(err,
                          "multiple statements are not allowed (second statement at "
                          "offset %zu)",
                          t.off);
    return 0;
}

int mf_sqlguard_check(const char *sql, unsigned flags, size_t *body_len, mf_err *err)
{
    lexer lx = {.s = sql, .pos = 0, .flags = flags};
    walker w = {.st = ST_LEAD};
    token t = {0};
    size_t end = 0;
    int any = 0;

    if (sql == NULL)
        return mf_err_set(err, "query is empty");
    for (;;) {
        if (lex_next(&lx, &t, err) != 0)
            return -1;
        if (t.type == TOK_END)
            break;
        if (punct_is(&lx, &t, ';')) {
            if (check_trailing(&lx, err) != 0)
                return -1;
            break;
        }
        any = 1;
        if (check_word(&lx, &t, err) != 0 || check_call(&lx, &t, err) != 0 ||
            walk(&w, &lx, &t, err) != 0)
            return -1;
        end = t.off + t.len;
    }
    if (!any)
        return mf_err_set(err, "query is empty");
    if (w.st != ST_MAIN)
        return mf_err_set(err, w.st == ST_LEAD ? "query has no SELECT"
                                               : "WITH clause is not followed by SELECT");
    /* The body goes to the server without what followed it: two '-' operators at its very
     * end, say "SELECT a --" cut from "SELECT a ---\v...", would then read as a "-- "
     * comment (a control character, the end of the text, follows), so the server would not
     * parse the tokens that were checked. */
    if (end >= 2 && sql[end - 1] == '-' && sql[end - 2] == '-')
        return mf_err_set(err, "query ends with \"--\", which would start a comment once the "
                               "rest of the text is cut off");
    if (body_len != NULL)
        *body_len = end;
    return 0;
}

/* ---------------------------------------------------------------- SHOW GRANTS lines */

/* What a read-only account may hold: nothing that writes, locks, reads files or other
 * sessions, administers the server or grants. */
static const char *const read_privileges[] = {"USAGE", "SELECT", "SHOW VIEW", NULL};

/* Copy s[off, end) into out (cap bytes), trimmed and cut to fit. */
static void copy_span(const char *s, size_t off, size_t end, char *out, size_t cap)
{
    size_t n;

    while (off < end && (s[off] == ' ' || s[off] == '\t'))
        off++;
    while (end > off && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    n = end - off < cap - 1 ? end - off : cap - 1;
    memcpy(out, s + off, n);
    out[n] = '\0';
}

/* One privilege item: its words (outside a column list) upper-cased and space-separated. */
typedef struct grant_item {
    char name[64];
    size_t off, end; /* raw span in the line */
} grant_item;

static void item_add_word(grant_item *it, const lexer *lx, const token *t)
{
    size_t n = strlen(it->name);
    char buf[40];

    if (n + t->len + 2 >= sizeof(it->name))
        return;
    snprintf(it->name + n, sizeof(it->name) - n, "%s%s", n > 0 ? " " : "",
             tok_text(lx, t, buf, sizeof(buf)));
}

static int is_read_privilege(const char *name)
{
    for (size_t i = 0; read_privileges[i] != NULL; i++) {
        if (strcmp(name, read_privileges[i]) == 0)
            return 1;
    }
    return 0;
}

/* Append a role's raw text to the NUL-separated list. */
static int add_role(const char *s, const grant_item *it, char *roles, size_t cap, size_t *used,
                    size_t *nroles, mf_err *err)
{
    size_t n = it->end - it->off;

    if (roles == NULL || *used + n + 1 > cap)
        return mf_err_set(err, "account holds too many roles to check");
    copy_span(s, it->off, it->end, roles + *used, n + 1);
    *used += strlen(roles + *used) + 1;
    if (nroles != NULL) /* may be NULL, like in mf_sqlguard_grant_line */
        (*nroles)++;
    return 0;
}

int mf_sqlguard_grant_line(const char *line, char *roles, size_t cap, size_t *nroles, mf_err *err)
{
    lexer lx = {.s = line, .pos = 0, .flags = 0};
    grant_item items[32];
    size_t nitems = 0, used = 0, on_end = 0, obj_off = 0;
    int depth = 0, is_role = 0, fresh = 0;
    token t = {0};
    char obj[128];

    if (nroles != NULL)
        *nroles = 0;
    if (line == NULL || lex_next(&lx, &t, NULL) != 0 || !word_is(&lx, &t, "GRANT"))
        return 0; /* not a grant (REVOKE of a partial revoke, SET DEFAULT ROLE ...) */
    memset(items, 0, sizeof(items));
    for (;;) {
        if (lex_next(&lx, &t, NULL) != 0 || t.type == TOK_END)
            return mf_err_set(err, "could not parse a line of SHOW GRANTS");
        if (depth == 0 && (word_is(&lx, &t, "ON") || word_is(&lx, &t, "TO"))) {
            is_role = word_is(&lx, &t, "TO");
            on_end = t.off + t.len;
            break;
        }
        if (depth == 0 && punct_is(&lx, &t, ',')) {
            fresh = 1;
            continue;
        }
        if (nitems == 0 || fresh) {
            if (nitems == sizeof(items) / sizeof(items[0]))
                return mf_err_set(err, "could not parse a line of SHOW GRANTS");
            items[nitems++].off = t.off;
            fresh = 0;
        }
        if (punct_is(&lx, &t, '('))
            depth++;
        else if (punct_is(&lx, &t, ')') && depth > 0)
            depth--;
        else if (depth == 0 && t.type == TOK_WORD)
            item_add_word(&items[nitems - 1], &lx, &t);
        items[nitems - 1].end = t.off + t.len;
    }
    if (is_role) {
        for (size_t i = 0; i < nitems; i++) {
            if (add_role(line, &items[i], roles, cap, &used, nroles, err) != 0)
                return -1;
        }
        return 1;
    }
    /* the object: from ON to TO */
    obj_off = on_end;
    for (;;) {
        if (lex_next(&lx, &t, NULL) != 0 || t.type == TOK_END)
            return mf_err_set(err, "could not parse a line of SHOW GRANTS");
        if (word_is(&lx, &t, "TO"))
            break;
    }
    copy_span(line, obj_off, t.off, obj, sizeof(obj));
    for (size_t i = 0; i < nitems; i++) {
        if (!is_read_privilege(items[i].name))
            return mf_err_set(err, "account holds %s on %s", items[i].name, obj);
    }
    /* after TO: the account, IDENTIFIED BY ..., then WITH GRANT OPTION and limits */
    for (;;) {
        if (lex_next(&lx, &t, NULL) != 0 || t.type == TOK_END)
            break;
        if (word_is(&lx, &t, "GRANT")) {
            token nx;

            peek(&lx, &nx);
            if (word_is(&lx, &nx, "OPTION"))
                return mf_err_set(err, "account holds GRANT OPTION on %s", obj);
        }
    }
    return 0;
}
