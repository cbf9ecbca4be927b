/* itest_pgbouncer: migrations, parameters and COPY through PgBouncer in transaction mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_pgbin.h"
#include "mf_test.h"

/* ---- helpers (each itest is one file; the schema tests share this block by copy) ---------- */


typedef mf_test_db testdb;

static PGconn *direct(const char *db)
{
    return mf_test_pg_connect(mf_test_pg_dsn(), db, "PostgreSQL");
}

static PGconn *bouncer(const char *db)
{
    return mf_test_pg_connect(mf_test_env("MF_PGBOUNCER_DSN", MF_TEST_PGBOUNCER_DSN_DEF), db,
                              "PgBouncer");
}

static long scalar_long(PGconn *c, const char *sql)
{
    mf_err err = {{0}};
    PGresult *r = mf_pg_query(c, sql, 0, NULL, &err);
    long n;

    if (r == NULL)
        fail_msg("%s: %s", sql, err.msg);
    assert_int_equal(PQntuples(r), 1);
    n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* The connection really goes through a proxy: client port differs from the server's. */
static void assert_through_bouncer(PGconn *c)
{
    PGconn *d = direct(NULL);
    long server_port = scalar_long(d, "SELECT current_setting('port')::int");

    PQfinish(d);
    assert_int_not_equal(strtol(PQport(c), NULL, 10), server_port);
    assert_int_equal(scalar_long(c, "SELECT inet_server_port()"), server_port);
}

/* ---- tests -------------------------------------------------------------------------------- */

#define RUNNERS 4

typedef struct runner_arg {
    const char *db;
    const char *dir;
    int applied;
    mf_err err;
} runner_arg;

static void *runner(void *p)
{
    runner_arg *a = p;
    PGconn *c = mf_pg_connect(mf_test_env("MF_PGBOUNCER_DSN", MF_TEST_PGBOUNCER_DSN_DEF), a->db,
                              "itest_pgbouncer", &a->err);

    a->applied = c != NULL ? mf_migrate_run(c, a->dir, NULL, NULL, &a->err) : -1;
    PQfinish(c);
    return NULL;
}

static void test_migrate_through_bouncer(void **state)
{
    testdb *t = *state;
    char dir[PATH_MAX];
    pthread_t th[RUNNERS];
    runner_arg args[RUNNERS];
    mf_err err = {{0}};
    PGconn *c = bouncer(t->name);
    PGconn *d;
    int files;
    int total = 0;

    assert_through_bouncer(c);
    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    files = mf_test_count_migrations(dir);

    /* concurrent runners through the pooler: each file applied exactly once */
    for (int i = 0; i < RUNNERS; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].db = t->name;
        args[i].dir = dir;
        assert_int_equal(pthread_create(&th[i], NULL, runner, &args[i]), 0);
    }
    for (int i = 0; i < RUNNERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (args[i].applied < 0)
            fail_msg("runner %d: %s", i, args[i].err.msg);
        total += args[i].applied;
    }
    assert_int_equal(total, files);

    /* and once more: up to date */
    assert_int_equal(mf_migrate_run(c, dir, NULL, NULL, &err), 0);
    PQfinish(c);

    /* verified on the server directly */
    d = direct(t->name);
    assert_int_equal(scalar_long(d, "SELECT count(*) FROM mf_schema_migrations"), files);
    assert_int_equal(scalar_long(d, "SELECT count(*) FROM pg_tables WHERE tablename IN "
                                    "('workflows', 'mf_job_claims', 'mf_consumer_offsets')"),
                     3);
    assert_int_equal(scalar_long(d, "SELECT count(*) FROM pg_trigger WHERE tgname = "
                                    "'update_template_usage_count'"),
                     1);
    PQfinish(d);
}

#define COPY_ROWS 20000

static int copy_rows(PGconn *c, void *arg, mf_err *err)
{
    char line[96];
    char *buf = malloc((size_t)COPY_ROWS * sizeof(line));
    size_t len = 0;
    int rc = -1;
    long long rows = 0;

    (void)arg;
    if (buf == NULL)
        return mf_err_set(err, "out of memory");
    for (int i = 0; i < COPY_ROWS; i++) {
        int n = snprintf(line, sizeof(line), "reporter\tmf.results\t%d\t%d\n", i, i * 2);

        memcpy(buf + len, line, (size_t)n);
        len += (size_t)n;
    }
    /* rows split across buffers on purpose */
    if (mf_pg_copy_begin(c,
                         "COPY mf_consumer_offsets (consumer_group, topic, partition, "
                         "next_offset) FROM STDIN",
                         err) != 0)
        goto out;
    if (mf_pg_copy_put(c, buf, len / 3, err) != 0 ||
        mf_pg_copy_put(c, buf + len / 3, len - len / 3, err) != 0) {
        mf_pg_copy_abort(c, "test could not send");
        goto out;
    }
    if (mf_pg_copy_end(c, &rows, err) != 0)
        goto out;
    if (rows != COPY_ROWS) {
        mf_err_set(err, "copied %lld rows, expected %d", rows, COPY_ROWS);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

static void test_copy_through_bouncer(void **state)
{
    static const char bad[] = "reporter\tmf.results\t1\t5\nreporter\tmf.results\tnot-a-number\t6\n";
    testdb *t = *state;
    char dir[PATH_MAX];
    mf_err err = {{0}};
    PGconn *c = bouncer(t->name);
    long long rows = -1;

    assert_through_bouncer(c);
    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    if (mf_migrate_run(c, dir, NULL, NULL, &err) < 0)
        fail_msg("%s", err.msg);

    /* a COPY in a transaction (with a statement before it) */
    if (mf_pg_tx(c, copy_rows, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM mf_consumer_offsets"), COPY_ROWS);
    assert_int_equal(scalar_long(c, "SELECT sum(next_offset) - sum(partition) * 2 "
                                    "FROM mf_consumer_offsets"),
                     0);

    /* a failing COPY (outside a transaction) reports the error and leaves nothing behind */
    assert_int_equal(mf_pg_copy_in(c,
                                   "COPY mf_consumer_offsets (consumer_group, topic, "
                                   "partition, next_offset) FROM STDIN",
                                   bad, sizeof(bad) - 1, &rows, &err),
                     -1);
    if (strstr(err.msg, "copy failed") == NULL || strstr(err.msg, "22P02") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM mf_consumer_offsets "
                                    "WHERE next_offset = 5 AND partition = 1"),
                     0);

    /* the pooled connection is usable after the error; parameters use the unnamed statement */
    for (int i = 0; i < 50; i++) {
        char num[16];
        const char *params[1] = {num};
        PGresult *r;

        snprintf(num, sizeof(num), "%d", i);
        r = mf_pg_query(c,
                        "SELECT next_offset FROM mf_consumer_offsets "
                        "WHERE consumer_group = 'reporter' AND partition = $1::int",
                        1, params, &err);
        if (r == NULL)
            fail_msg("%s", err.msg);
        assert_int_equal(PQntuples(r), 1);
        assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), i * 2);
        PQclear(r);
    }
    PQfinish(c);
}

/* Binary COPY rows and binary array parameters (mf_pgbin) through the pooler: what the server
 * stores is what was sent, NULLs included, and bad text is refused, not stored. */
static void test_binary_through_bouncer(void **state)
{
    static const mf_uuid u = {{0x01, 0x8f, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00,
                               0x00, 0x00, 0x00, 0x00, 0x2a}};
    static const char *want = "018f0000-0000-8000-8000-00000000002a|7|홍길동 \t\"q\"|*|-5";
    testdb *t = *state;
    mf_err err = {{0}};
    PGconn *c = bouncer(t->name);
    mf_pgbin_arr ids, names, nums;
    const char *params[3];
    int lengths[3], formats[3] = {1, 1, 1};
    mf_buf b;
    PGresult *r;
    long long rows = -1;

    assert_through_bouncer(c);
    if (mf_pg_exec(c, "CREATE TABLE bin_t (id uuid, n int, name text, note text, big bigint)",
                   &err) != 0)
        fail_msg("%s", err.msg);
    mf_buf_init(&b, 0);
    assert_int_equal(mf_pgbin_copy_header(&b, &err), 0);
    assert_int_equal(mf_pgbin_copy_row(&b, 5, &err), 0);
    assert_int_equal(mf_pgbin_uuid(&b, &u, &err) | mf_pgbin_int4(&b, 7, &err) |
                         mf_pgbin_text(&b, "홍길동 \t\"q\"", &err) | mf_pgbin_text(&b, NULL, &err) |
                         mf_pgbin_int8(&b, -5, &err),
                     0);
    assert_int_equal(mf_pgbin_copy_trailer(&b, &err), 0);
    if (mf_pg_copy_in(c, "COPY bin_t FROM STDIN (FORMAT binary)", b.data, b.len, &rows, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rows, 1);
    r = mf_pg_query(c,
                    "SELECT id || '|' || n || '|' || name || '|' || coalesce(note, '*') "
                    "|| '|' || big FROM bin_t",
                    0, NULL, &err);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);

    /* text that is not UTF-8 is refused (22021), and nothing is stored */
    mf_buf_reset(&b);
    assert_int_equal(mf_pgbin_copy_header(&b, &err) | mf_pgbin_copy_row(&b, 5, &err) |
                         mf_pgbin_uuid(&b, &u, &err) | mf_pgbin_int4(&b, 8, &err) |
                         mf_pgbin_text(&b, "bad \xff", &err) | mf_pgbin_text(&b, NULL, &err) |
                         mf_pgbin_int8(&b, 0, &err) | mf_pgbin_copy_trailer(&b, &err),
                     0);
    assert_int_equal(
        mf_pg_copy_in(c, "COPY bin_t FROM STDIN (FORMAT binary)", b.data, b.len, NULL, &err), -1);
    if (strstr(err.msg, "22021") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM bin_t"), 1);
    mf_buf_free(&b);

    /* array parameters: three arrays of one row each, then all empty */
    mf_pgbin_arr_init(&ids, MF_PGBIN_OID_UUID);
    mf_pgbin_arr_init(&names, MF_PGBIN_OID_TEXT);
    mf_pgbin_arr_init(&nums, MF_PGBIN_OID_INT8);
    for (int round = 0; round < 2; round++) {
        const char *sql = "SELECT count(*), string_agg(i || '|' || coalesce(s, '*') || '|' || k, "
                          "',' ORDER BY k) FROM unnest($1::uuid[], $2::text[], $3::bigint[]) "
                          "AS x(i, s, k)";

        mf_pgbin_arr_reset(&ids);
        mf_pgbin_arr_reset(&names);
        mf_pgbin_arr_reset(&nums);
        if (round == 0)
            assert_int_equal(mf_pgbin_arr_uuid(&ids, &u, &err) | mf_pgbin_arr_uuid(&ids, &u, &err) |
                                 mf_pgbin_arr_text(&names, "이름", &err) |
                                 mf_pgbin_arr_text(&names, NULL, &err) |
                                 mf_pgbin_arr_int8(&nums, 1, &err) |
                                 mf_pgbin_arr_int8(&nums, 1LL << 40, &err),
                             0);
        params[0] = mf_pgbin_arr_finish(&ids, &lengths[0], &err);
        params[1] = mf_pgbin_arr_finish(&names, &lengths[1], &err);
        params[2] = mf_pgbin_arr_finish(&nums, &lengths[2], &err);
        r = mf_pg_query_fmt(c, sql, 3, params, lengths, formats, &err);
        if (r == NULL)
            fail_msg("%s", err.msg);
        if (round == 0) {
            assert_string_equal(PQgetvalue(r, 0, 0), "2");
            assert_string_equal(PQgetvalue(r, 0, 1),
                                "018f0000-0000-8000-8000-00000000002a|이름|1,"
                                "018f0000-0000-8000-8000-00000000002a|*|1099511627776");
        } else {
            assert_string_equal(PQgetvalue(r, 0, 0), "0");
        }
        PQclear(r);
    }
    /* an element type that does not match the cast is refused */
    params[0] = mf_pgbin_arr_finish(&names, &lengths[0], &err);
    assert_null(
        mf_pg_query_fmt(c, "SELECT cardinality($1::uuid[])", 1, params, lengths, formats, &err));
    if (strstr(err.msg, "element type") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    mf_pgbin_arr_free(&ids);
    mf_pgbin_arr_free(&names);
    mf_pgbin_arr_free(&nums);
    PQfinish(c);
}

static void test_copy_rejects_non_copy(void **state)
{
    testdb *t = *state;
    mf_err err = {{0}};
    PGconn *c = bouncer(t->name);

    assert_int_equal(mf_pg_copy_begin(c, "SELECT 1", &err), -1);
    if (strstr(err.msg, "not COPY") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(scalar_long(c, "SELECT 2"), 2);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_through_bouncer, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_copy_through_bouncer, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_copy_rejects_non_copy, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_binary_through_bouncer, mf_test_db_setup,
                                        mf_test_db_teardown),
    };

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
