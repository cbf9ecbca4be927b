/* test_sqlguard: the single-SELECT checker accepts reads and refuses everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mf_sqlguard.h"

typedef struct gcase {
    const char *sql;
    const char *want_err; /* NULL: must be accepted; else a substring of the message */
} gcase;

static void run_cases(const gcase *cases, size_t n, unsigned flags)
{
    int failures = 0;

    for (size_t i = 0; i < n; i++) {
        mf_err err = {{0}};
        int rc = mf_sqlguard_check(cases[i].sql, flags, NULL, &err);

        if (cases[i].want_err == NULL && rc != 0) {
            fprintf(stderr, "expected accept: [%s] got: %s\n", cases[i].sql, err.msg);
            failures++;
        } else if (cases[i].want_err != NULL &&
                   (rc == 0 || strstr(err.msg, cases[i].want_err) == NULL)) {
            fprintf(stderr, "expected reject with \"%s\": [%s] got rc=%d msg=\"%s\"\n",
                    cases[i].want_err, cases[i].sql, rc, err.msg);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_accepts_plain_selects(void **state)
{
    static const gcase cases[] = {
        {"SELECT 1", NULL},
        {"select id, name from customers", NULL},
        {"  \n\t SELECT id FROM customers;", NULL},
        {"SELECT id FROM customers ;  \n", NULL},
        {"SELECT id FROM customers; -- trailing comment", NULL},
        {"SELECT id FROM customers; /* note */ # and another", NULL},
        {"((SELECT id FROM customers))", NULL},
        {"(SELECT 1) UNION ALL (SELECT 2)", NULL},
        {"SeLeCt name FROM customers WHERE name = '김민준'", NULL},
        {"SELECT 'a;b' AS x", NULL},
        {"SELECT \"DELETE FROM x; DROP TABLE y\" AS x", NULL},
        {"SELECT 'it''s' AS x", NULL},
        {"SELECT 'back\\'slash; DROP TABLE t' AS x", NULL},
        {"SELECT `weird;name`, `a``b` FROM t", NULL},
        {"SELECT id -- DELETE FROM customers;\nFROM customers", NULL},
        {"SELECT id # DELETE FROM customers;\nFROM customers", NULL},
        {"SELECT /* ; DELETE FROM customers */ id FROM customers", NULL},
        {"SELECT 1--1", NULL},
        {"SELECT REPLACE(phone, '-', '') AS phone, INSERT('abc', 1, 1, 'x') FROM customers", NULL},
        {"SELECT CONVERT(name USING utf8mb4), CAST(x AS CHAR CHARACTER SET utf8mb4) FROM t", NULL},
        {"SELECT c.id FROM customers c JOIN subscriptions s ON s.customer_id = c.id "
         "WHERE s.status = 'active' AND s.end_date < CURDATE() + INTERVAL 7 DAY "
         "ORDER BY c.id LIMIT 100",
         NULL},
        {"WITH a AS (SELECT id FROM customers) SELECT * FROM a", NULL},
        {"with recursive r (n) as (select 1 union all select n + 1 from r where n < 5) "
         "select n from r",
         NULL},
        {"WITH a AS (SELECT 1 AS x), `b` AS (SELECT 2 AS y) SELECT * FROM a, b", NULL},
        {"WITH a AS (SELECT 1) (SELECT * FROM a)", NULL},
        {"SELECT sleep, `benchmark`, t.get_lock FROM t", NULL}, /* columns, not calls */
        {"SELECT \"GET_LOCK\" AS x", NULL}, /* a string (sql_mode is pinned, see mf_mysql) */
        {"SELECT x'4142', _utf8mb4'가', N'abc'", NULL},
        {"SELECT id FROM customers /* + not a hint */", NULL},
        {"SELECT id FROM customers -- /*+ in a comment\n", NULL},
        {"SELECT 1 FOR SYSTEM_TIME", NULL}, /* only FOR UPDATE / FOR SHARE are refused */
        {"SELECT @a, @@version", NULL},
        {"SELECT ?, name FROM customers WHERE phone = ?", NULL},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_rejects_other_statements(void **state)
{
    static const gcase cases[] = {
        {"", "query is empty"},
        {"   ", "query is empty"},
        {"-- only a comment\n", "query is empty"},
        {";", "query is empty"},
        {"DELETE FROM customers", "only a single SELECT statement is allowed, not DELETE"},
        {"delete from customers", "not DELETE"},
        {"  (UPDATE customers SET name = 'x')", "not UPDATE"},
        {"INSERT INTO customers VALUES (1)", "not INSERT"},
        {"REPLACE INTO customers VALUES (1)", "not REPLACE"},
        {"DROP TABLE customers", "not DROP"},
        {"TRUNCATE customers", "not TRUNCATE"},
        {"SHOW TABLES", "not SHOW"},
        {"CALL p()", "not CALL"},
        {"SET @a = 1", "not SET"},
        {"DO SLEEP(1)", "not DO"},
        {"LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "not LOAD"},
        {"HANDLER t OPEN", "not HANDLER"},
        {"TABLE customers", "not TABLE"},
        {"VALUES (1)", "not VALUES"},
        {"EXPLAIN SELECT 1", "not EXPLAIN"},
        {"'SELECT 1'", "must start with SELECT or WITH"},
        {"(", "no SELECT"},
        {"WITH a AS (SELECT 1) DELETE FROM customers",
         "WITH must be followed by SELECT, not DELETE"},
        {"WITH a AS (SELECT 1) UPDATE t SET x = 1", "not UPDATE"},
        {"WITH a AS (SELECT 1)", "not followed by SELECT"},
        {"WITH SELECT 1", "malformed WITH"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_rejects_multiple_statements(void **state)
{
    static const gcase cases[] = {
        {"SELECT 1; DROP TABLE x", "multiple statements"},
        {"SELECT 1;DELETE FROM customers;", "multiple statements"},
        {"SELECT 1;;", "multiple statements"},
        {"SELECT 1; SELECT 2", "multiple statements"},
        {"SELECT 'a;' ; DELETE FROM t", "multiple statements"},
        {"SELECT 1 /* x */ ; /* y */ DROP TABLE t", "multiple statements"},
        {"SELECT 1; -- ok\nDROP TABLE t", "multiple statements"},
        {"SELECT (1; DROP TABLE t)", "multiple statements"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_rejects_hidden_code(void **state)
{
    static const gcase cases[] = {
        {"SELECT 1 /*!50000 ; DELETE FROM customers*/", "executable comments"},
        {"/*!50000 DELETE*/ FROM customers", "executable comments"},
        {"SELECT /*! 1 */", "executable comments"},
        {"SELECT 1 /*M!100000 , 2 */", "executable comments"},
        {"SELECT /*+ SET_VAR(sql_mode = 'ANSI_QUOTES') */ 1", "optimizer hints"},
        {"SELECT /*+ MAX_EXECUTION_TIME(100000000) */ id FROM customers", "optimizer hints"},
        {"SELECT id FROM customers /*+ MAX_EXECUTION_TIME(1000) */", "optimizer hints"},
        {"WITH a AS (SELECT /*+ BKA(t) */ 1) SELECT * FROM a", "optimizer hints"},
        {"SELECT 1 /* never closed", "unterminated comment"},
        {"SELECT 'never closed", "unterminated string"},
        {"SELECT \"never closed", "unterminated string"},
        {"SELECT `never closed", "unterminated quoted identifier"},
        {"SELECT 'ends in backslash\\", "unterminated string"},
        /* the backslash escapes the quote: the string swallows the rest (no way out) */
        {"SELECT 'a\\'; DELETE FROM t; -- '", NULL},
        /* a dash-dash without a space is arithmetic, not a comment: DELETE is real code */
        {"SELECT 1 --1; DELETE FROM t", "multiple statements"},
        {"SELECT 1--x\n; DELETE FROM t", "multiple statements"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_no_backslash_escapes_mode(void **state)
{
    static const gcase cases[] = {
        /* with NO_BACKSLASH_ESCAPES 'a\' is a whole string and the DELETE is a statement */
        {"SELECT 'a\\'; DELETE FROM t; -- '", "multiple statements"},
        {"SELECT 'a\\' AS x", NULL},
        {"SELECT 'it''s'", NULL},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), MF_SQLGUARD_NO_BACKSLASH_ESCAPES);
}

static void test_rejects_side_effects(void **state)
{
    static const gcase cases[] = {
        {"SELECT * FROM customers INTO OUTFILE '/tmp/x'", "INTO OUTFILE is not allowed"},
        {"SELECT * INTO OUTFILE '/tmp/x' FROM customers", "INTO OUTFILE"},
        {"SELECT name FROM customers LIMIT 1 INTO DUMPFILE '/tmp/x'", "INTO DUMPFILE"},
        {"SELECT name INTO @n FROM customers LIMIT 1", "INTO @variable"},
        {"select name into n from customers", "INTO is not allowed"},
        {"SELECT * FROM customers FOR UPDATE", "FOR UPDATE"},
        {"select * from customers for update;", "FOR UPDATE"},
        {"SELECT * FROM customers FOR SHARE", "FOR SHARE"},
        {"SELECT * FROM customers LOCK IN SHARE MODE", "LOCK IN SHARE MODE"},
        {"SELECT * FROM (SELECT id FROM customers FOR UPDATE) t", "FOR UPDATE"},
        {"WITH a AS (SELECT * FROM t FOR UPDATE) SELECT * FROM a", "FOR UPDATE"},
        {"SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE"},
        {"SELECT GET_LOCK('x', 10)", "GET_LOCK"},
        {"SELECT release_all_locks()", "RELEASE_ALL_LOCKS"},
        {"SELECT NEXTVAL(s)", "NEXTVAL"},
        {"SELECT NEXT VALUE FOR s", "NEXT VALUE FOR"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

/* Any identifier followed by `(` is a function name, quoted or not, spaced or not. */
static void test_rejects_banned_calls_however_spelled(void **state)
{
    static const gcase cases[] = {
        {"SELECT `GET_LOCK`('x', 0)", "GET_LOCK"},
        {"SELECT `get_lock` ('x', 0)", "GET_LOCK"},
        {"SELECT \"GET_LOCK\"('x', 0)", "GET_LOCK"}, /* an identifier under ANSI_QUOTES */
        {"SELECT GET_LOCK /* c */ ('x', 0)", "GET_LOCK"},
        {"SELECT GET_LOCK\n-- c\n('x', 0)", "GET_LOCK"},
        {"SELECT `RELEASE_ALL_LOCKS`()", "RELEASE_ALL_LOCKS"},
        {"SELECT RELEASE_LOCK('x')", "RELEASE_LOCK"},
        {"SELECT IS_USED_LOCK('x'), 1", "IS_USED_LOCK"},
        {"SELECT IS_FREE_LOCK('x')", "IS_FREE_LOCK"},
        {"SELECT `LOAD_FILE`('/etc/passwd')", "LOAD_FILE"},
        {"SELECT SLEEP(1)", "SLEEP"},
        {"SELECT id FROM t WHERE `sleep`(10) = 0", "SLEEP"},
        {"SELECT BENCHMARK(100000000, MD5('x'))", "BENCHMARK"},
        {"SELECT `benchmark`(1, 1)", "BENCHMARK"},
        {"SELECT MASTER_POS_WAIT('f', 4)", "MASTER_POS_WAIT"},
        {"SELECT SOURCE_POS_WAIT('f', 4)", "SOURCE_POS_WAIT"},
        {"SELECT MASTER_GTID_WAIT('0-1-1')", "MASTER_GTID_WAIT"},
        {"SELECT WAIT_FOR_EXECUTED_GTID_SET('x')", "WAIT_FOR_EXECUTED_GTID_SET"},
        {"SELECT WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS('x')", "WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS"},
        {"SELECT `sl``eep`(1)", NULL}, /* another name: sl`eep */
        {"SELECT {fn SLEEP(1)}", "SLEEP"},
        {"WITH a AS (SELECT `Sleep`(1)) SELECT * FROM a", "SLEEP"},
        {"SELECT db.`get_lock`('x', 0)", "GET_LOCK"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_body_len_strips_tail(void **state)
{
    static const struct {
        const char *sql;
        const char *body;
    } cases[] = {
        {"SELECT 1", "SELECT 1"},
        {"  SELECT 1 ;  -- x", "  SELECT 1"},
        {"SELECT id FROM t -- trailing comment", "SELECT id FROM t"},
        {"SELECT id FROM t # hash comment\n\n", "SELECT id FROM t"},
        {"SELECT 'x;y' /* c */;", "SELECT 'x;y'"},
        {"SELECT `a` -- c\nFROM t;", "SELECT `a` -- c\nFROM t"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mf_err err = {{0}};
        size_t len = 0;

        assert_int_equal(mf_sqlguard_check(cases[i].sql, 0, &len, &err), 0);
        assert_int_equal(len, strlen(cases[i].body));
        assert_memory_equal(cases[i].sql, cases[i].body, len);
    }
}

/* Found by fuzz_sqlguard (corpus input trailing_dashes): the body is sent to the server
 * without what followed it, so it must lex the same on its own. Two '-' operators right
 * before a "-- " comment ("SELECT a ----\v...") left a body ending in "--", which the server
 * reads as a comment start (the end of the text follows): the text sent was not the token
 * stream that was checked. Such a query is refused; every accepted body checks again to
 * itself. */
static void test_body_stands_alone(void **state)
{
    static const char *const accepted[] = {
        "SELECT 1--1",      "SELECT a - -- c\nFROM t", "SELECT a -- -\n",
        "SELECT a - 1 ;--", "SELECT `--` FROM t -- x", "SELECT '--' -- y",
    };
    static const gcase refused[] = {
        {"SELECT * ----\v--------OM t FOR UPDATE", "ends with \"--\""},
        {"SELECT a ----\x01", "ends with \"--\""},
        {"SELECT a -----", "ends with \"--\""},
        {"SELECT a ---- ;", "ends with \"--\""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        char body[128];
        size_t len = 0, again = 0;
        mf_err err = {{0}};

        if (mf_sqlguard_check(accepted[i], 0, &len, &err) != 0)
            fail_msg("refused [%s]: %s", accepted[i], err.msg);
        assert_true(len < sizeof(body));
        memcpy(body, accepted[i], len);
        body[len] = '\0';
        if (mf_sqlguard_check(body, 0, &again, &err) != 0 || again != len)
            fail_msg("body [%s] of [%s] does not check to itself", body, accepted[i]);
    }
    run_cases(refused, sizeof(refused) / sizeof(refused[0]), 0);
}

static void test_null_and_err_null(void **state)
{
    size_t len = 123;

    (void)state;
    assert_int_equal(mf_sqlguard_check(NULL, 0, &len, NULL), -1);
    assert_int_equal(mf_sqlguard_check("DELETE FROM t", 0, NULL, NULL), -1);
    assert_int_equal(mf_sqlguard_check("SELECT 1", 0, NULL, NULL), 0);
    assert_int_equal(len, 123);
}

/* SHOW GRANTS lines of MariaDB and MySQL 8: only reading privileges pass. */
static void test_grant_lines(void **state)
{
    static const gcase cases[] = {
        /* the test stack's crm_readonly, verbatim (MariaDB 10.11) */
        {"GRANT USAGE ON *.* TO `crm_readonly`@`%` IDENTIFIED BY PASSWORD "
         "'*F9A49059B773B999260655E0C712712BE17FB8D7'",
         NULL},
        {"GRANT SELECT ON `crm`.* TO `crm_readonly`@`%`", NULL},
        {"GRANT SELECT ON `mftest\\_%`.* TO `crm_readonly`@`%`", NULL},
        {"GRANT USAGE ON *.* TO `ro`@`%`", NULL},
        {"GRANT SELECT, SHOW VIEW ON `crm`.* TO `ro`@`%`", NULL},
        {"GRANT SELECT (`id`, `phone`) ON `crm`.`customers` TO 'ro'@'%'", NULL},
        {"REVOKE INSERT ON `mysql`.* FROM `ro`@`%`", NULL},
        {"SET DEFAULT ROLE `readers` FOR `ro`@`%`", NULL},
        /* writers and the dangerous ones, named with their object */
        {"GRANT ALL PRIVILEGES ON `crm`.* TO `crm_admin`@`%`", "holds ALL PRIVILEGES on `crm`.*"},
        {"GRANT SELECT, INSERT, UPDATE ON `db1`.* TO `jeffrey`@`localhost`",
         "holds INSERT on `db1`.*"},
        {"GRANT SELECT (`id`), UPDATE (`name`) ON `crm`.`customers` TO `ro`@`%`",
         "holds UPDATE on `crm`.`customers`"},
        {"GRANT FILE ON *.* TO `ro`@`%`", "holds FILE on *.*"},
        {"GRANT SUPER ON *.* TO 'ro'@'%'", "holds SUPER"},
        {"GRANT PROCESS ON *.* TO `ro`@`%` IDENTIFIED BY PASSWORD '*ABC'", "holds PROCESS on *.*"},
        {"GRANT USAGE, REPLICATION CLIENT ON *.* TO `ro`@`%`", "holds REPLICATION CLIENT"},
        {"GRANT CREATE TEMPORARY TABLES ON `crm`.* TO `ro`@`%`", "holds CREATE TEMPORARY TABLES"},
        {"GRANT LOCK TABLES ON `crm`.* TO `ro`@`%`", "holds LOCK TABLES"},
        {"GRANT EXECUTE ON PROCEDURE `crm`.`p` TO `ro`@`%`",
         "holds EXECUTE on PROCEDURE `crm`.`p`"},
        {"GRANT PROXY ON ''@'%' TO 'ro'@'%' WITH GRANT OPTION", "holds PROXY"},
        {"GRANT BACKUP_ADMIN,BINLOG_ADMIN ON *.* TO `ro`@`%`", "holds BACKUP_ADMIN"},
        {"GRANT SELECT ON `crm`.* TO `ro`@`%` WITH GRANT OPTION", "holds GRANT OPTION on `crm`.*"},
        {"grant select, delete on crm.* to ro@'%'", "holds DELETE on crm.*"},
        {"GRANT SELECT ON", "could not parse"},
    };
    int failures = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mf_err err = {{0}};
        int rc = mf_sqlguard_grant_line(cases[i].sql, NULL, 0, NULL, &err);

        if ((cases[i].want_err == NULL && rc != 0) ||
            (cases[i].want_err != NULL &&
             (rc != -1 || strstr(err.msg, cases[i].want_err) == NULL))) {
            fprintf(stderr, "grant line [%s]: rc=%d msg=\"%s\", want %s\n", cases[i].sql, rc,
                    err.msg, cases[i].want_err ? cases[i].want_err : "accepted");
            failures++;
        }
        /* the password hash never reaches the message */
        if (strstr(err.msg, "*ABC") != NULL || strstr(err.msg, "IDENTIFIED") != NULL)
            failures++;
    }
    assert_int_equal(failures, 0);
}

static void test_grant_line_roles(void **state)
{
    char roles[128];
    size_t n = 0;
    mf_err err = {{0}};

    (void)state;
    /* MySQL 8 */
    assert_int_equal(mf_sqlguard_grant_line("GRANT `r1`@`%`,`r 2`@`%` TO `ro`@`%`", roles,
                                            sizeof(roles), &n, &err),
                     1);
    assert_int_equal(n, 2);
    assert_string_equal(roles, "`r1`@`%`");
    assert_string_equal(roles + strlen(roles) + 1, "`r 2`@`%`");
    /* MariaDB */
    assert_int_equal(
        mf_sqlguard_grant_line("GRANT `readers` TO `ro`@`%`", roles, sizeof(roles), &n, &err), 1);
    assert_int_equal(n, 1);
    assert_string_equal(roles, "`readers`");
    /* no room: refused rather than unchecked */
    assert_int_equal(mf_sqlguard_grant_line("GRANT `readers` TO `ro`@`%`", roles, 4, &n, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_plain_selects),
        cmocka_unit_test(test_rejects_other_statements),
        cmocka_unit_test(test_rejects_multiple_statements),
        cmocka_unit_test(test_rejects_hidden_code),
        cmocka_unit_test(test_no_backslash_escapes_mode),
        cmocka_unit_test(test_rejects_side_effects),
        cmocka_unit_test(test_rejects_banned_calls_however_spelled),
        cmocka_unit_test(test_body_len_strips_tail),
        cmocka_unit_test(test_body_stands_alone),
        cmocka_unit_test(test_grant_lines),
        cmocka_unit_test(test_grant_line_roles),
        cmocka_unit_test(test_null_and_err_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
