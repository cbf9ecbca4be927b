/* itest_mysql: mf_mysql against the running MariaDB: streaming, read-only layers, paging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mysql.h>

#include "mf_mysql.h"

#define NROWS 20000

typedef struct ctx {
    char host[128];
    unsigned port;
    char ro_user[64];
    char ro_password[128];
    char admin_user[64];
    char admin_password[128];
    char db[64];     /* unique test database */
    char gen_db[64]; /* unique database for gen_sample.py */
    MYSQL *admin;
} ctx;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return (v != NULL && v[0] != '\0') ? v : def;
}

/* Deterministic Korean name for row id (three syllables, sometimes two-syllable family). */
static void expected_name(unsigned id, char *out, size_t size)
{
    static const char *const fam[] = {"김", "이", "박", "최", "정",   "강",
                                      "조", "윤", "장", "임", "남궁", "황보"};
    static const char *const syl[] = {"민", "서", "준", "지", "하", "윤", "도", "현",
                                      "우", "연", "아", "은", "수", "빈", "훈", "결"};

    snprintf(out, size, "%s%s%s", fam[id % 12], syl[(id / 12) % 16], syl[(id / 192) % 16]);
}

static int admin_exec(ctx *c, const char *sql)
{
    if (mysql_query(c->admin, sql) != 0) {
        fprintf(stderr, "admin query failed on \"%s:%u\": %s\n  query: %.200s\n", c->host, c->port,
                mysql_error(c->admin), sql);
        return -1;
    }
    return 0;
}

static long long admin_count(ctx *c, const char *sql)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    long long n = -1;

    if (admin_exec(c, sql) != 0)
        return -1;
    res = mysql_store_result(c->admin);
    if (res == NULL)
        return -1;
    row = mysql_fetch_row(res);
    if (row != NULL && row[0] != NULL)
        n = strtoll(row[0], NULL, 10);
    mysql_free_result(res);
    return n;
}

static int load_people(ctx *c)
{
    size_t cap = 1 << 20;
    char *q = malloc(cap);
    int rc = -1;

    if (q == NULL)
        return -1;
    for (unsigned start = 1; start <= NROWS; start += 1000) {
        size_t o = (size_t)snprintf(q, cap, "INSERT INTO people (id, name, note) VALUES ");
        for (unsigned id = start; id < start + 1000 && id <= NROWS; id++) {
            char name[64];

            expected_name(id, name, sizeof(name));
            if (id % 100 == 0)
                o += (size_t)snprintf(q + o, cap - o, "%s(%u,'%s',NULL)", id == start ? "" : ",",
                                      id, name);
            else
                o += (size_t)snprintf(q + o, cap - o, "%s(%u,'%s','메모 %u 😀')",
                                      id == start ? "" : ",", id, name, id);
        }
        if (admin_exec(c, q) != 0)
            goto out;
    }
    rc = 0;
out:
    free(q);
    return rc;
}

static int group_setup(void **state)
{
    ctx *c = calloc(1, sizeof(*c));
    char q[512];
    unsigned sfx;

    if (c == NULL)
        return -1;
    snprintf(c->host, sizeof(c->host), "%s", env_or("MF_MYSQL_HOST", "127.0.0.1"));
    c->port = (unsigned)strtoul(env_or("MF_MYSQL_PORT", "53306"), NULL, 10);
    snprintf(c->ro_user, sizeof(c->ro_user), "%s", env_or("MF_MYSQL_USER", "crm_readonly"));
    snprintf(c->ro_password, sizeof(c->ro_password), "%s",
             env_or("MF_MYSQL_PASSWORD", "crm_readonly_pw"));
    snprintf(c->admin_user, sizeof(c->admin_user), "%s",
             env_or("MF_MYSQL_ADMIN_USER", "crm_admin"));
    snprintf(c->admin_password, sizeof(c->admin_password), "%s",
             env_or("MF_MYSQL_ADMIN_PASSWORD", "crm_admin_pw"));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    sfx = (unsigned)rand() % 1000000u;
    snprintf(c->db, sizeof(c->db), "mftest_it_%d_%06u", (int)getpid(), sfx);
    snprintf(c->gen_db, sizeof(c->gen_db), "mftest_gen_%d_%06u", (int)getpid(), sfx);
    *state = c;

    c->admin = mysql_init(NULL);
    if (c->admin == NULL || mysql_options(c->admin, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0 ||
        mysql_real_connect(c->admin, c->host, c->admin_user, c->admin_password, NULL, c->port, NULL,
                           0) == NULL) {
        fprintf(stderr,
                "could not connect to MariaDB \"%s:%u\" as %s: %s "
                "(is the stack running? scripts/env.sh)\n",
                c->host, c->port, c->admin_user, c->admin ? mysql_error(c->admin) : "oom");
        if (c->admin != NULL)
            mysql_close(c->admin);
        c->admin = NULL; /* nothing to clean up in teardown */
        return -1;
    }
    snprintf(q, sizeof(q), "CREATE DATABASE `%s` CHARACTER SET utf8mb4", c->db);
    if (admin_exec(c, q) != 0) {
        fprintf(stderr, "the admin user needs CREATE on `mftest\\_%%` databases\n");
        return -1;
    }
    snprintf(q, sizeof(q), "USE `%s`", c->db);
    if (admin_exec(c, q) != 0 ||
        admin_exec(c, "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
                      "note VARCHAR(200)) DEFAULT CHARSET=utf8mb4") != 0 ||
        admin_exec(c, "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what TEXT)") ||
        admin_exec(c, "CREATE FUNCTION mf_write_fn() RETURNS INT MODIFIES SQL DATA "
                      "BEGIN INSERT INTO audit (what) VALUES ('written'); RETURN 1; END") ||
        load_people(c) != 0)
        return -1;
    /* a name that looks like SQL, for the bound-parameter test (ids above NROWS) */
    return admin_exec(c, "INSERT INTO people VALUES (30001, 'x'' OR ''1''=''1', NULL), "
                         "(30002, 'O''Brien 김', 'quote')");
}

static int group_teardown(void **state)
{
    ctx *c = *state;
    char q[160];

    if (c == NULL)
        return 0;
    if (c->admin != NULL) {
        snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", c->db);
        admin_exec(c, q);
        snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", c->gen_db);
        admin_exec(c, q);
        mysql_close(c->admin);
    }
    free(c);
    return 0;
}

static mf_mysql *open_conn(ctx *c, int admin, const char *db, unsigned limit_s)
{
    mf_mysql_config cfg = {
        .host = c->host,
        .port = c->port,
        .user = admin ? c->admin_user : c->ro_user,
        .password = admin ? c->admin_password : c->ro_password,
        .db = db ? db : c->db,
        .connect_timeout_s = 5,
        .query_time_limit_s = limit_s,
        /* the admin handle proves the layers behind the guard and the grant check */
        .unsafe_skip_grant_check = admin,
    };
    mf_err err = {{0}};
    mf_mysql *m = mf_mysql_connect(&cfg, &err);

    if (m == NULL)
        fail_msg("%s", err.msg);
    return m;
}

/* ---------------------------------------------------------------- streaming */

typedef struct people_check {
    uint64_t rows;
    uint64_t nulls;
    uint64_t bad;
    uint64_t stop_after; /* 0: never */
    int names_ok;
} people_check;

static int check_people_row(const mf_mysql_row *r, void *arg)
{
    people_check *pc = arg;
    char want[64], note[64];
    unsigned id;

    if (pc->stop_after != 0 && pc->rows == pc->stop_after)
        return 1;
    if (r->index == 0)
        pc->names_ok = r->ncols == 3 && strcmp(r->names[0], "id") == 0 &&
                       strcmp(r->names[1], "name") == 0 && strcmp(r->names[2], "note") == 0;
    id = (unsigned)strtoul(r->values[0], NULL, 10);
    expected_name(id, want, sizeof(want));
    if (id != r->index + 1 || strcmp(r->values[1], want) != 0 || r->lengths[1] != strlen(want))
        pc->bad++;
    if (r->values[2] == NULL) {
        pc->nulls++;
        if (r->lengths[2] != 0 || id % 100 != 0)
            pc->bad++;
    } else {
        snprintf(note, sizeof(note), "메모 %u 😀", id);
        if (strcmp(r->values[2], note) != 0 || r->lengths[2] != strlen(note))
            pc->bad++;
    }
    pc->rows++;
    return 0;
}

static void test_stream_korean_round_trip(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    people_check pc = {0};
    uint64_t n = 0;
    mf_err err = {{0}};

    assert_int_equal(mf_mysql_stream(m,
                                     "SELECT id, name, note FROM people WHERE id <= 20000 "
                                     "ORDER BY id;",
                                     check_people_row, &pc, &n, &err),
                     0);
    assert_int_equal(pc.rows, NROWS);
    assert_int_equal(n, NROWS);
    assert_int_equal(pc.nulls, NROWS / 100);
    assert_int_equal(pc.bad, 0);
    assert_true(pc.names_ok);
    mf_mysql_close(m);
}

static void test_stream_early_stop_then_reuse(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    people_check pc = {.stop_after = 10};
    uint64_t n = 0;
    mf_err err = {{0}};
    const char *q = "SELECT id, name, note FROM people WHERE id <= 20000 ORDER BY id";

    assert_int_equal(mf_mysql_stream(m, q, check_people_row, &pc, &n, &err), 0);
    assert_int_equal(pc.rows, 10);
    assert_int_equal(n, 10);
    /* the handle reconnects and works again, with a complete result */
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(mf_mysql_stream(m, q, check_people_row, &pc, &n, &err), 0);
    assert_int_equal(pc.rows, NROWS);
    assert_int_equal(pc.bad, 0);
    mf_mysql_close(m);
}

typedef struct stopper {
    uint64_t rows;
    uint64_t stop_after;
} stopper;

static int stop_after_n(const mf_mysql_row *r, void *arg)
{
    stopper *st = arg;

    (void)r;
    if (st->rows == st->stop_after)
        return 1;
    st->rows++;
    return 0;
}

static double now_s(void);
static int count_rows(const mf_mysql_row *r, void *arg);

static void test_early_stop_does_not_drain_huge_result(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 60);
    stopper st = {.stop_after = 10};
    uint64_t n = 0;
    mf_err err = {{0}};
    double t0 = now_s();

    /* 400 million rows: draining them would take minutes */
    assert_int_equal(mf_mysql_stream(m, "SELECT a.id, b.name FROM people a, people b", stop_after_n,
                                     &st, &n, &err),
                     0);
    assert_int_equal(n, 10);
    assert_true(now_s() - t0 < 3.0);
    /* an empty result calls nothing and succeeds */
    st.rows = 0;
    assert_int_equal(
        mf_mysql_stream(m, "SELECT id FROM people WHERE id < 0", stop_after_n, &st, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(st.rows, 0);
    mf_mysql_close(m);
}

/* ---------------------------------------------------------------- read-only layers */

static int count_rows(const mf_mysql_row *r, void *arg)
{
    (void)r;
    (*(uint64_t *)arg)++;
    return 0;
}

static void test_guard_refuses_before_server(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 1, NULL, 30); /* even a write-capable user */
    uint64_t n = 0;
    mf_err err = {{0}};
    const char *const bad[] = {
        "DELETE FROM people",
        "SELECT 1; DELETE FROM people",
        "SELECT 1 /*!50000 ; DELETE FROM people */",
        "SELECT * FROM people FOR UPDATE",
        "SELECT * FROM people INTO OUTFILE '/tmp/mf_people'",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mf_mysql_stream(m, bad[i], count_rows, &n, NULL, &err), -1);
        assert_non_null(strstr(err.msg, "refused target query"));
        assert_int_equal(mf_mysql_last_errno(m), 0); /* no server error: never sent */
        assert_int_equal(mf_mysql_query_params(m, bad[i], NULL, 0, count_rows, &n, NULL, &err), -1);
        assert_non_null(strstr(err.msg, "refused target query"));
    }
    assert_int_equal(n, 0);
    assert_int_equal(admin_count(c, "SELECT COUNT(*) FROM people"), NROWS + 2);
    mf_mysql_close(m);
}

static void test_server_refuses_raw_write(void **state)
{
    ctx *c = *state;
    MYSQL *ro = mysql_init(NULL);
    MYSQL *rw = mysql_init(NULL);
    unsigned e;

    /* layer 3, the read-only user, with the guard bypassed (raw C API) */
    assert_non_null(
        mysql_real_connect(ro, c->host, c->ro_user, c->ro_password, c->db, c->port, NULL, 0));
    assert_int_equal(mysql_query(ro, "INSERT INTO people VALUES (40000, 'x', NULL)"), 1);
    assert_int_equal(mysql_errno(ro), 1142); /* command denied */
    /* layer 2, the read-only transaction, even for a user who may write */
    assert_non_null(
        mysql_real_connect(rw, c->host, c->admin_user, c->admin_password, c->db, c->port, NULL, 0));
    assert_int_equal(mysql_query(rw, "SET SESSION TRANSACTION READ ONLY"), 0);
    assert_int_equal(mysql_query(rw, "START TRANSACTION READ ONLY"), 0);
    assert_int_equal(mysql_query(rw, "INSERT INTO people VALUES (40000, 'x', NULL)"), 1);
    e = mysql_errno(rw);
    assert_int_equal(e, 1792); /* cannot execute statement in a READ ONLY transaction */
    assert_int_equal(mysql_query(rw, "ROLLBACK"), 0);
    mysql_close(ro);
    mysql_close(rw);
    assert_int_equal(admin_count(c, "SELECT COUNT(*) FROM people WHERE id = 40000"), 0);
}

static void test_write_hidden_in_select_is_refused(void **state)
{
    ctx *c = *state;
    mf_mysql *rw = open_conn(c, 1, NULL, 30);
    mf_mysql *ro = open_conn(c, 0, NULL, 30);
    uint64_t n = 0;
    mf_err err = {{0}};

    /* passes the guard (it is a SELECT), but the function writes */
    assert_int_equal(mf_mysql_stream(rw, "SELECT mf_write_fn()", count_rows, &n, NULL, &err), -1);
    assert_int_equal(mf_mysql_last_errno(rw), 1792);
    assert_non_null(strstr(err.msg, "READ ONLY"));
    assert_int_equal(mf_mysql_query_params(rw, "SELECT mf_write_fn() FROM people WHERE id = ?",
                                           (const char *const[]){"1"}, 1, count_rows, &n, NULL,
                                           &err),
                     -1);
    assert_int_equal(mf_mysql_last_errno(rw), 1792);
    assert_int_equal(mf_mysql_stream(ro, "SELECT mf_write_fn()", count_rows, &n, NULL, &err), -1);
    assert_true(mf_mysql_last_errno(ro) == 1370 || mf_mysql_last_errno(ro) == 1792);
    assert_int_equal(admin_count(c, "SELECT COUNT(*) FROM audit"), 0);
    /* the handles still work afterwards */
    n = 0;
    assert_int_equal(mf_mysql_stream(rw, "SELECT 1", count_rows, &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    mf_mysql_close(rw);
    mf_mysql_close(ro);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_time_limit_stops_slow_query(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 1);
    uint64_t n = 0;
    mf_err err = {{0}};
    double t0 = now_s(), dt;

    /* SLEEP is refused by the guard: a join of 8e12 rows keeps the server busy instead */
    assert_int_equal(mf_mysql_stream(m, "SELECT COUNT(*) FROM people a, people b, people c",
                                     count_rows, &n, NULL, &err),
                     -1);
    dt = now_s() - t0;
    assert_true(dt < 3.5);
    assert_int_equal(mf_mysql_last_errno(m), 1969);
    assert_non_null(strstr(err.msg, "max_statement_time"));
    assert_non_null(strstr(err.msg, c->host));
    /* same through the prepared-statement path */
    t0 = now_s();
    assert_int_equal(mf_mysql_query_params(m,
                                           "SELECT COUNT(*) FROM people a, people b, "
                                           "people c WHERE a.id > ?",
                                           (const char *const[]){"0"}, 1, count_rows, &n, NULL,
                                           &err),
                     -1);
    assert_true(now_s() - t0 < 3.5);
    assert_int_equal(mf_mysql_last_errno(m), 1969);
    /* and the connection is still usable */
    n = 0;
    assert_int_equal(mf_mysql_stream(m, "SELECT 1", count_rows, &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    mf_mysql_close(m);
}

typedef struct session_vars {
    char conn_id[32];
    char ro[8];
    char limit[32];
    char charset[32];
} session_vars;

static int read_session(const mf_mysql_row *r, void *arg)
{
    session_vars *sv = arg;

    snprintf(sv->conn_id, sizeof(sv->conn_id), "%s", r->values[0]);
    snprintf(sv->ro, sizeof(sv->ro), "%s", r->values[1]);
    snprintf(sv->limit, sizeof(sv->limit), "%s", r->values[2]);
    snprintf(sv->charset, sizeof(sv->charset), "%s", r->values[3]);
    return 0;
}

static void test_reconnects_after_lost_connection(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 1, NULL, 7);
    const char *q = "SELECT CONNECTION_ID(), @@SESSION.tx_read_only, "
                    "@@SESSION.max_statement_time, @@character_set_client";
    session_vars a, b;
    char kill[64];
    uint64_t n = 0;
    mf_err err = {{0}};

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(mf_mysql_stream(m, q, read_session, &a, NULL, &err), 0);
    assert_string_equal(a.ro, "1");
    assert_int_equal(strtol(a.limit, NULL, 10), 7);
    assert_string_equal(a.charset, "utf8mb4");
    snprintf(kill, sizeof(kill), "KILL CONNECTION %s", a.conn_id);
    assert_int_equal(admin_exec(c, kill), 0);
    /* the first call after the kill fails with a lost connection, the next one reconnects */
    if (mf_mysql_stream(m, "SELECT 1", count_rows, &n, NULL, &err) != 0)
        assert_true(mf_mysql_last_errno(m) == 2006 || mf_mysql_last_errno(m) == 2013);
    assert_int_equal(mf_mysql_stream(m, q, read_session, &b, NULL, &err), 0);
    assert_string_not_equal(a.conn_id, b.conn_id);
    assert_string_equal(b.ro, "1"); /* session settings re-applied */
    assert_int_equal(strtol(b.limit, NULL, 10), 7);
    assert_string_equal(b.charset, "utf8mb4");
    mf_mysql_close(m);
}

typedef struct one_text {
    char value[256];
    uint64_t rows;
} one_text;

static int read_one_text(const mf_mysql_row *r, void *arg)
{
    one_text *ot = arg;

    snprintf(ot->value, sizeof(ot->value), "%s", r->values[0] ? r->values[0] : "(null)");
    ot->rows++;
    return 0;
}

/* The session's sql_mode is pinned whatever the server's default, so that the guard and the
 * server agree on quoting: with ANSI_QUOTES the string below would be an identifier and the
 * server would write the file. */
static void test_sql_mode_is_pinned(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    one_text ot = {{0}, 0};
    mf_err err = {{0}};

    assert_int_equal(
        mf_mysql_stream(m, "SELECT @@SESSION.sql_mode", read_one_text, &ot, NULL, &err), 0);
    assert_string_equal(ot.value, MF_MYSQL_SQL_MODE);
    memset(&ot, 0, sizeof(ot));
    assert_int_equal(mf_mysql_stream(m, "SELECT 1 AS \"a\\\" INTO OUTFILE '/tmp/mf_o' -- \"",
                                     read_one_text, &ot, NULL, &err),
                     0);
    assert_int_equal(ot.rows, 1);
    assert_string_equal(ot.value, "1");
    /* the same after a reconnect (the session is set up again) */
    memset(&ot, 0, sizeof(ot));
    assert_int_equal(
        mf_mysql_stream(m, "SELECT id FROM people", stop_after_n, &(stopper){0, 1}, NULL, &err), 0);
    assert_int_equal(
        mf_mysql_stream(m, "SELECT @@SESSION.sql_mode", read_one_text, &ot, NULL, &err), 0);
    assert_string_equal(ot.value, MF_MYSQL_SQL_MODE);
    mf_mysql_close(m);
}

/* The server's error text can quote customer data (error-based extraction through
 * extractvalue): the error carries only the number and a generic text; the server's text
 * goes to the debug log with phone numbers masked. */
static void test_server_error_text_stays_out_of_errors(void **state)
{
    ctx *c = *state;
    char path[] = "/tmp/mf_itest_mysql_log_XXXXXX";
    int fd = mkstemp(path);
    mf_log *log = mf_log_new("itest", MF_LOG_DEBUG, fd);
    mf_mysql_config cfg = {.host = c->host,
                           .port = c->port,
                           .user = c->ro_user,
                           .password = c->ro_password,
                           .db = c->db,
                           .connect_timeout_s = 5,
                           .query_time_limit_s = 30,
                           .log = log};
    mf_err err = {{0}};
    mf_mysql *m;
    char name1[64], logtext[4096] = {0};
    uint64_t n = 0;
    const char *q = "SELECT extractvalue(1, concat(0x7e, '010-1234-5678', "
                    "(SELECT group_concat(name) FROM people WHERE id <= 3)))";

    assert_true(fd >= 0 && log != NULL);
    m = mf_mysql_connect(&cfg, &err);
    assert_non_null(m);
    expected_name(1, name1, sizeof(name1));
    assert_int_equal(mf_mysql_stream(m, q, count_rows, &n, NULL, &err), -1);
    if (strstr(err.msg, "mysql error 1105") == NULL || strstr(err.msg, name1) != NULL ||
        strstr(err.msg, "1234") != NULL || strstr(err.msg, "XPATH") != NULL)
        fail_msg("unexpected message: %s", err.msg);
    assert_int_equal(mf_mysql_query_params(m, q, NULL, 0, count_rows, &n, NULL, &err), -1);
    if (strstr(err.msg, "mysql error 1105") == NULL || strstr(err.msg, name1) != NULL)
        fail_msg("unexpected message: %s", err.msg);
    /* the debug log has the server's text, the phone masked */
    assert_true(pread(fd, logtext, sizeof(logtext) - 1, 0) > 0);
    if (strstr(logtext, "010-****-5678") == NULL || strstr(logtext, "1234") != NULL ||
        strstr(logtext, "\"errno\":1105") == NULL)
        fail_msg("unexpected debug log: %s", logtext);
    mf_mysql_close(m);
    mf_log_free(log);
    close(fd);
    unlink(path);
}

/* ---------------------------------------------------------------- paging */

typedef struct page_seen {
    unsigned char *seen; /* per id, 1..NROWS */
    uint64_t dup;
    uint64_t bad;
    uint64_t in_page;
    uint64_t stop_at; /* stop once in_page reaches this (0: never) */
    int key_col;      /* 0: id is an integer column; 1: text key "k000123" */
} page_seen;

static int page_row(const mf_mysql_row *r, void *arg)
{
    page_seen *ps = arg;
    const char *idtxt;
    unsigned long id;
    char want[64];

    if (ps->stop_at != 0 && ps->in_page == ps->stop_at)
        return 1;
    idtxt = ps->key_col ? r->values[0] + 1 : r->values[0];
    id = strtoul(idtxt, NULL, 10);
    if (id < 1 || id > NROWS) {
        ps->bad++;
        return 0;
    }
    expected_name((unsigned)id, want, sizeof(want));
    if (strcmp(r->values[1], want) != 0)
        ps->bad++;
    if (ps->seen[id]++ != 0)
        ps->dup++;
    ps->in_page++;
    return 0;
}

static void page_all(ctx *c, const char *sql, const char *key, int key_col, unsigned limit,
                     uint64_t stop_at, unsigned *pages_out)
{
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    page_seen ps = {.key_col = key_col, .stop_at = stop_at};
    mf_mysql_key k;
    unsigned pages = 0;
    uint64_t n = 0;
    mf_err err = {{0}};

    memset(&k, 0, sizeof(k));
    ps.seen = calloc(NROWS + 1, 1);
    assert_non_null(ps.seen);
    for (;;) {
        ps.in_page = 0;
        if (mf_mysql_stream_page(m, sql, key, &k, limit, page_row, &ps, &n, &err) != 0)
            fail_msg("%s", err.msg);
        assert_int_equal(n, ps.in_page);
        pages++;
        assert_true(pages < 1000);
        if (n < limit && (stop_at == 0 || n < stop_at))
            break;
    }
    assert_int_equal(k.type, key_col ? MF_MYSQL_KEY_TEXT : MF_MYSQL_KEY_INT);
    if (key_col)
        assert_string_equal(k.text, "k020000");
    else
        assert_int_equal(k.i, NROWS);
    for (unsigned id = 1; id <= NROWS; id++)
        assert_int_equal(ps.seen[id], 1);
    assert_int_equal(ps.dup, 0);
    assert_int_equal(ps.bad, 0);
    *pages_out = pages;
    free(ps.seen);
    mf_mysql_close(m);
}

static void test_paging_by_int_key(void **state)
{
    unsigned pages = 0;

    /* user query with its own ORDER BY, a trailing comment and semicolon */
    page_all(*state, "SELECT id, name FROM people WHERE id <= 20000 ORDER BY name; -- tail", "id",
             0, 3000, 0, &pages);
    assert_int_equal(pages, 7); /* 6 full pages of 3000 and one of 2000 */
}

static void test_paging_by_text_key(void **state)
{
    unsigned pages = 0;

    page_all(*state,
             "SELECT CONCAT('k', LPAD(id, 6, '0')) AS k, name FROM people "
             "WHERE id <= 20000",
             "k", 1, 4000, 0, &pages);
    assert_int_equal(pages, 6); /* 5 full pages, then an empty one */
}

static void test_paging_resumes_after_early_stop(void **state)
{
    unsigned pages = 0;

    /* every page stops after 1234 of 5000 rows; the key makes the next page resume */
    page_all(*state, "SELECT id, name FROM people WHERE id <= 20000", "id", 0, 5000, 1234, &pages);
    assert_int_equal(pages, 17); /* ceil(20000 / 1234) */
}

static void test_paging_rejects_bad_input(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    mf_mysql_key k;
    uint64_t n = 0, cnt = 0;
    mf_err err = {{0}};

    memset(&k, 0, sizeof(k));
    assert_int_equal(mf_mysql_stream_page(m, "SELECT id FROM people", "nope", &k, 10, count_rows,
                                          &cnt, &n, &err),
                     -1);
    assert_non_null(strstr(err.msg, "nope"));
    assert_int_equal(mf_mysql_stream_page(m, "DELETE FROM people", "id", &k, 10, count_rows, &cnt,
                                          &n, &err),
                     -1);
    assert_non_null(strstr(err.msg, "refused"));
    assert_int_equal(mf_mysql_stream_page(m, "SELECT id, note FROM people WHERE id > 19990", "note",
                                          &k, 100, count_rows, &cnt, &n, &err),
                     -1);
    assert_non_null(strstr(err.msg, "NULL"));
    assert_int_equal(k.type, MF_MYSQL_KEY_NONE); /* unchanged: no row consumed before it */
    mf_mysql_close(m);
}

/* ---------------------------------------------------------------- bound parameters */

typedef struct names_seen {
    uint64_t rows;
    char last[128];
} names_seen;

static int remember_name(const mf_mysql_row *r, void *arg)
{
    names_seen *ns = arg;

    snprintf(ns->last, sizeof(ns->last), "%s", r->values[1] ? r->values[1] : "(null)");
    ns->rows++;
    return 0;
}

static void test_bound_param_is_data(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    names_seen ns = {0};
    uint64_t n = 0;
    mf_err err = {{0}};
    const char *q = "SELECT id, name FROM people WHERE name = ?";

    assert_int_equal(mf_mysql_query_params(m, q, (const char *const[]){"x' OR '1'='1"}, 1,
                                           remember_name, &ns, &n, &err),
                     0);
    assert_int_equal(ns.rows, 1);
    assert_string_equal(ns.last, "x' OR '1'='1");
    memset(&ns, 0, sizeof(ns));
    assert_int_equal(mf_mysql_query_params(m, q, (const char *const[]){"O'Brien 김"}, 1,
                                           remember_name, &ns, &n, &err),
                     0);
    assert_int_equal(ns.rows, 1);
    assert_string_equal(ns.last, "O'Brien 김");
    memset(&ns, 0, sizeof(ns));
    assert_int_equal(mf_mysql_query_params(m, q, (const char *const[]){"' OR 1=1 -- "}, 1,
                                           remember_name, &ns, &n, &err),
                     0);
    assert_int_equal(ns.rows, 0);
    /* NULL parameter is SQL NULL; several parameters; a long value that grows the buffer */
    assert_int_equal(mf_mysql_query_params(m, "SELECT id, name FROM people WHERE name <=> ?",
                                           (const char *const[]){NULL}, 1, remember_name, &ns, &n,
                                           &err),
                     0);
    assert_int_equal(ns.rows, 0);
    assert_int_equal(mf_mysql_query_params(
                         m, "SELECT id, REPEAT(name, 300) FROM people WHERE id IN (?, ?, ?)",
                         (const char *const[]){"1", "2", "30002"}, 3, remember_name, &ns, &n, &err),
                     0);
    assert_int_equal(ns.rows, 3);
    assert_int_equal(n, 3);
    assert_int_equal(strlen(ns.last), sizeof(ns.last) - 1); /* truncated copy of a long value */
    /* the wrong number of parameters is an error */
    assert_int_equal(mf_mysql_query_params(m, q, NULL, 0, remember_name, &ns, &n, &err), -1);
    assert_non_null(strstr(err.msg, "1 placeholders but 0 parameters"));
    mf_mysql_close(m);
}

typedef struct longval {
    uint64_t rows;
    uint64_t bad;
} longval;

static int check_long(const mf_mysql_row *r, void *arg)
{
    longval *lv = arg;
    char want[64];
    size_t wl;
    unsigned id = (unsigned)strtoul(r->values[0], NULL, 10);

    expected_name(id, want, sizeof(want));
    wl = strlen(want);
    if (r->lengths[1] != wl * 300 || strlen(r->values[1]) != wl * 300 ||
        memcmp(r->values[1] + wl * 299, want, wl) != 0)
        lv->bad++;
    lv->rows++;
    return 0;
}

static void test_prepared_long_values_intact(void **state)
{
    ctx *c = *state;
    mf_mysql *m = open_conn(c, 0, NULL, 30);
    longval lv = {0};
    mf_mysql_key k;
    uint64_t n = 0;
    mf_err err = {{0}};

    memset(&k, 0, sizeof(k));
    assert_int_equal(mf_mysql_stream_page(m,
                                          "SELECT id, REPEAT(name, 300) AS r FROM people "
                                          "WHERE id <= 20000",
                                          "id", &k, 500, check_long, &lv, &n, &err),
                     0);
    assert_int_equal(lv.rows, 500);
    assert_int_equal(lv.bad, 0);
    mf_mysql_close(m);
}

/* ---------------------------------------------------------------- connection errors */

static void test_connect_errors_name_the_server(void **state)
{
    ctx *c = *state;
    mf_mysql_config cfg = {.host = c->host,
                           .port = c->port,
                           .user = c->ro_user,
                           .password = "wrong-secret-pw",
                           .db = c->db,
                           .connect_timeout_s = 3};
    mf_err err = {{0}};
    char want[200];

    snprintf(want, sizeof(want), "could not connect to \"%s:%u\": ", c->host, c->port);
    assert_null(mf_mysql_connect(&cfg, &err));
    assert_non_null(strstr(err.msg, want));
    assert_null(strstr(err.msg, "wrong-secret-pw"));
    cfg.password = c->ro_password;
    cfg.port = 1;
    assert_null(mf_mysql_connect(&cfg, &err));
    snprintf(want, sizeof(want), "could not connect to \"%s:1\": ", c->host);
    assert_non_null(strstr(err.msg, want));
}

/* An account that could write is refused at connect, naming the grant and never the password
 * hash SHOW GRANTS prints; the read-only account passes (every other test connects with it). */
static void test_connect_refuses_write_capable_account(void **state)
{
    ctx *c = *state;
    mf_mysql_config cfg = {.host = c->host,
                           .port = c->port,
                           .user = c->admin_user,
                           .password = c->admin_password,
                           .db = c->db,
                           .connect_timeout_s = 5};
    mf_err err = {{0}};

    assert_null(mf_mysql_connect(&cfg, &err));
    if (strstr(err.msg, "refusing mysql account") == NULL ||
        strstr(err.msg, "holds ALL PRIVILEGES on `") == NULL ||
        strstr(err.msg, "PASSWORD") != NULL || strstr(err.msg, "*6C") != NULL)
        fail_msg("unexpected message: %s", err.msg);
    assert_non_null(strstr(err.msg, c->host));
}

/* ---------------------------------------------------------------- gen_sample.py */

typedef struct phones {
    uint64_t rows;
    uint64_t malformed;
} phones;

/* Valid: 010-dddd-dddd, 010dddddddd, +82 10-dddd-dddd, +8210dddddddd. */
static int phone_ok(const char *p)
{
    char d[32];
    size_t n = 0;

    if (p == NULL)
        return 0;
    if (strncmp(p, "+82", 3) == 0) {
        d[n++] = '0';
        p += 3;
    }
    for (; *p != '\0'; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (*p < '0' || *p > '9' || n >= sizeof(d) - 1)
            return 0;
        d[n++] = *p;
    }
    d[n] = '\0';
    return n == 11 && strncmp(d, "010", 3) == 0;
}

static int count_phone(const mf_mysql_row *r, void *arg)
{
    phones *ph = arg;

    if (!phone_ok(r->values[0]))
        ph->malformed++;
    ph->rows++;
    return 0;
}

static uint64_t stream_count(mf_mysql *m, const char *sql)
{
    names_seen ns = {0};
    mf_err err = {{0}};

    if (mf_mysql_stream(m, sql, remember_name, &ns, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    return (uint64_t)strtoull(ns.last, NULL, 10);
}

/* The source tree: $MF_SOURCE_DIR (set by ctest), else derived from this file's path. */
static void source_dir(char *out, size_t size)
{
    const char *env = getenv("MF_SOURCE_DIR");
    const char *cut;

    if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
        return;
    }
    cut = strstr(__FILE__, "/tests/integration/");
    snprintf(out, size, "%.*s", cut ? (int)(cut - __FILE__) : 1, cut ? __FILE__ : ".");
}

static void test_gen_sample_loads_2000(void **state)
{
    ctx *c = *state;
    char src[512];
    char cmd[1024];
    phones ph = {0};
    mf_mysql *m;
    mf_err err = {{0}};

    source_dir(src, sizeof(src));
    /* the password goes through the environment, not the command line */
    assert_int_equal(setenv("MF_MYSQL_ADMIN_PASSWORD", c->admin_password, 1), 0);
    snprintf(cmd, sizeof(cmd),
             "python3 '%s/schemas/mysql/gen_sample.py' --customers 2000 "
             "--seed 7 --db '%s' --create-schema "
             "--host '%s' --port %u --user '%s' --truncate",
             src, c->gen_db, c->host, c->port, c->admin_user);
    assert_int_equal(system(cmd), 0);
    /* idempotent: the same seed again, without --truncate, changes nothing */
    *strstr(cmd, " --truncate") = '\0';
    assert_int_equal(system(cmd), 0);
    m = open_conn(c, 0, c->gen_db, 30);
    assert_int_equal(stream_count(m, "SELECT 0, COUNT(*) FROM customers"), 2000);
    assert_true(stream_count(m, "SELECT 0, COUNT(*) FROM subscriptions") > 1000);
    assert_true(stream_count(m, "SELECT 0, COUNT(*) FROM subscriptions WHERE status = "
                                "'active' AND end_date BETWEEN CURDATE() AND CURDATE() + "
                                "INTERVAL 7 DAY") > 0);
    assert_true(stream_count(m, "SELECT 0, COUNT(*) FROM (SELECT name, phone, email, "
                                "created_at FROM customers GROUP BY 1, 2, 3, 4 "
                                "HAVING COUNT(*) > 1) d") >= 1);
    assert_true(stream_count(m, "SELECT 0, COUNT(DISTINCT status) FROM subscriptions") == 3);
    assert_true(stream_count(m, "SELECT 0, COUNT(*) FROM customers WHERE name REGEXP "
                                "'^[가-힣]{3,4}$'") == 2000);
    assert_int_equal(
        mf_mysql_stream(m, "SELECT phone FROM customers", count_phone, &ph, NULL, &err), 0);
    assert_int_equal(ph.rows, 2000);
    /* default share 3%: expect roughly 60 of 2000 */
    assert_true(ph.malformed >= 20 && ph.malformed <= 120);
    mf_mysql_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_korean_round_trip),
        cmocka_unit_test(test_stream_early_stop_then_reuse),
        cmocka_unit_test(test_early_stop_does_not_drain_huge_result),
        cmocka_unit_test(test_guard_refuses_before_server),
        cmocka_unit_test(test_server_refuses_raw_write),
        cmocka_unit_test(test_write_hidden_in_select_is_refused),
        cmocka_unit_test(test_time_limit_stops_slow_query),
        cmocka_unit_test(test_reconnects_after_lost_connection),
        cmocka_unit_test(test_sql_mode_is_pinned),
        cmocka_unit_test(test_server_error_text_stays_out_of_errors),
        cmocka_unit_test(test_paging_by_int_key),
        cmocka_unit_test(test_paging_by_text_key),
        cmocka_unit_test(test_paging_resumes_after_early_stop),
        cmocka_unit_test(test_paging_rejects_bad_input),
        cmocka_unit_test(test_bound_param_is_data),
        cmocka_unit_test(test_prepared_long_values_intact),
        cmocka_unit_test(test_connect_errors_name_the_server),
        cmocka_unit_test(test_connect_refuses_write_capable_account),
        cmocka_unit_test(test_gen_sample_loads_2000),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
