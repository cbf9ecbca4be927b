/* itest_migrate: the migration runner against the dev PostgreSQL (fresh database per test). */
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
#include "mf_test.h"

/* ---- helpers (the shared ones are in tests/support/mf_test.h) ------------------------------ */

typedef mf_test_db testdb;

/* First value of the first row, strdup'ed (NULL for SQL NULL or no row). Caller frees. */
static char *scalar(PGconn *c, const char *sql)
{
    mf_err err = {{0}};
    PGresult *r = mf_pg_query(c, sql, 0, NULL, &err);
    char *v = NULL;

    if (r == NULL)
        fail_msg("%s: %s", sql, err.msg);
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static long scalar_long(PGconn *c, const char *sql)
{
    char *v = scalar(c, sql);
    long n;

    assert_non_null(v);
    n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* ---- tests -------------------------------------------------------------------------------- */

static int migrate(PGconn *c, const char *dir, mf_err *err)
{
    return mf_migrate_run(c, dir, NULL, NULL, err);
}

static void test_apply_twice_is_noop(void **state)
{
    testdb *t = *state;
    char dir[PATH_MAX];
    mf_err err = {{0}};
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), t->name, "PostgreSQL");
    int files;
    int n;

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    files = mf_test_count_migrations(dir);
    assert_true(files >= 2);

    n = migrate(c, dir, &err);
    if (n < 0)
        fail_msg("first run: %s", err.msg);
    assert_int_equal(n, files);

    n = migrate(c, dir, &err);
    if (n < 0)
        fail_msg("second run: %s", err.msg);
    assert_int_equal(n, 0);

    assert_int_equal(scalar_long(c, "SELECT count(*) FROM mf_schema_migrations"), files);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM mf_schema_migrations "
                                    "WHERE version IN ('0001', '0002') "
                                    "AND checksum ~ '^[0-9a-f]{64}$' AND applied_at <= now()"),
                     2);
    /* the seed's and the fleet's objects are there */
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                                    "AND tablename IN ('workflows', 'message_logs', "
                                    "'mf_job_claims', 'mf_consumer_offsets')"),
                     4);
    PQfinish(c);
}

/* SELECT as role; returns the SQLSTATE ("" on success) into state, count into *rows. */
static void select_as(PGconn *c, const char *role, const char *table, char *sqlstate, long *rows)
{
    char sql[256];
    PGresult *r;

    snprintf(sql, sizeof(sql), "SET ROLE %s", role);
    mf_test_pg_exec(c, sql);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    r = PQexec(c, sql);
    snprintf(sqlstate, 6, "%s", mf_pg_sqlstate(r));
    *rows = PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    mf_test_pg_exec(c, "RESET ROLE");
}

static void test_fleet_tables_closed_to_anon(void **state)
{
    static const char *const tables[] = {"mf_job_claims",       "mf_consumer_offsets",
                                         "mf_status_poller",    "mf_claim_outcomes",
                                         "mf_job_claim_states", "mf_schema_migrations"};
    static const char *const roles[] = {"anon", "authenticated"};
    testdb *t = *state;
    char dir[PATH_MAX];
    char sqlstate[6];
    mf_err err = {{0}};
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), t->name, "PostgreSQL");
    long rows;

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    if (migrate(c, dir, &err) < 0)
        fail_msg("%s", err.msg);
    mf_test_pg_exec(c, "INSERT INTO mf_job_claims (job_id, run_id, attempt, state) "
                       "VALUES (gen_random_uuid(), gen_random_uuid(), 0, 'claimed')");
    mf_test_pg_exec(c, "INSERT INTO mf_consumer_offsets (consumer_group, topic, partition, "
                       "next_offset) VALUES ('g', 't', 0, 42)");

    /* plain PostgreSQL: no privilege at all */
    for (size_t r = 0; r < 2; r++) {
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
            select_as(c, roles[r], tables[i], sqlstate, &rows);
            if (strcmp(sqlstate, "42501") != 0)
                fail_msg("%s could read %s (sqlstate \"%s\", rows %ld)", roles[r], tables[i],
                         sqlstate, rows);
        }
    }

    /* Supabase grants table privileges to anon by default: RLS must still hide every row */
    mf_test_pg_exec(c, "BEGIN");
    mf_test_pg_exec(c, "GRANT SELECT ON mf_job_claims, mf_consumer_offsets, mf_status_poller, "
                       "mf_claim_outcomes, mf_job_claim_states, mf_schema_migrations TO anon");
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        select_as(c, "anon", tables[i], sqlstate, &rows);
        assert_string_equal(sqlstate, "");
        assert_int_equal(rows, 0);
    }
    mf_test_pg_exec(c, "ROLLBACK");

    /* service_role sees the rows */
    select_as(c, "service_role", "mf_job_claims", sqlstate, &rows);
    assert_string_equal(sqlstate, "");
    assert_int_equal(rows, 1);
    select_as(c, "service_role", "mf_consumer_offsets", sqlstate, &rows);
    assert_int_equal(rows, 1);
    select_as(c, "service_role", "mf_status_poller", sqlstate, &rows);
    assert_int_equal(rows, 1);
    PQfinish(c);
}

static void test_seed_usage_trigger_and_run_dedup(void **state)
{
    static const char *const usage_once =
        "INSERT INTO template_usage_logs (template_id, workflow_id, workflow_run_id) "
        "SELECT t.id, w.id, r.id FROM message_templates t, workflows w, workflow_runs r "
        "ON CONFLICT (workflow_run_id, template_id) WHERE workflow_run_id IS NOT NULL "
        "DO NOTHING";
    testdb *t = *state;
    char dir[PATH_MAX];
    mf_err err = {{0}};
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), t->name, "PostgreSQL");
    char *v;

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    if (migrate(c, dir, &err) < 0)
        fail_msg("%s", err.msg);
    mf_test_pg_exec(c, "INSERT INTO message_templates (name, message_type, content) "
                       "VALUES ('환영', 'sms', '#{name}님 환영합니다')");
    assert_int_equal(scalar_long(c, "SELECT usage_count FROM message_templates"), 0);
    v = scalar(c, "SELECT last_used_at FROM message_templates");
    assert_null(v);
    free(v); /* NULL unless the assertion failed */

    mf_test_pg_exec(c, "INSERT INTO template_usage_logs (template_id) "
                       "SELECT id FROM message_templates");
    assert_int_equal(scalar_long(c, "SELECT usage_count FROM message_templates"), 1);
    v = scalar(c, "SELECT last_used_at FROM message_templates");
    assert_non_null(v);
    free(v);

    /* one usage row per (run, template), whatever the number of attempts */
    mf_test_pg_exec(c, "INSERT INTO workflows (name, trigger_type) VALUES ('w', 'manual')");
    mf_test_pg_exec(c, "INSERT INTO workflow_runs (workflow_id, status) SELECT id, 'running' "
                       "FROM workflows");
    mf_test_pg_exec(c, usage_once);
    mf_test_pg_exec(c, usage_once);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM template_usage_logs "
                                    "WHERE workflow_run_id IS NOT NULL"),
                     1);
    assert_int_equal(scalar_long(c, "SELECT usage_count FROM message_templates"), 2);
    /* the fleet's defaulted columns on a seed insert */
    assert_int_equal(scalar_long(c, "SELECT expanded_count + invalid_count FROM workflow_runs"), 0);
    PQfinish(c);
}

/* ANALYZE skips the claim tables' arrays (hashing their elements was the cost of every
 * autovacuum analyze) and still gathers the columns queries filter on. */
static void test_claim_arrays_not_analysed(void **state)
{
    testdb *t = *state;
    char dir[PATH_MAX];
    mf_err err = {{0}};
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), t->name, "PostgreSQL");

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    if (migrate(c, dir, &err) < 0)
        fail_msg("%s", err.msg);
    mf_test_pg_exec(c, "INSERT INTO mf_claim_outcomes (chunk_id, job_ids, states, "
                       "provider_message_ids, group_ids, status_codes, messages, channels, "
                       "sent_ms) SELECT gen_random_uuid(), ARRAY[gen_random_uuid()], "
                       "'{accepted}', '{M1}', '{G1}', '{2000}', '{ok}', '{sms}', '{1}' "
                       "FROM generate_series(1, 200)");
    mf_test_pg_exec(c, "INSERT INTO mf_claim_groups (chunk_id, group_id, job_ids, open_job_ids) "
                       "SELECT gen_random_uuid(), 'G1', ARRAY[gen_random_uuid()], "
                       "ARRAY[gen_random_uuid()] FROM generate_series(1, 200)");
    mf_test_pg_exec(c, "ANALYZE mf_claim_outcomes, mf_claim_groups");
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' "
                                    "AND tablename IN ('mf_claim_outcomes', 'mf_claim_groups') "
                                    "AND attname IN ('job_ids', 'states', "
                                    "'provider_message_ids', 'group_ids', 'status_codes', "
                                    "'messages', 'channels', 'sent_ms', 'open_job_ids')"),
                     0);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' "
                                    "AND tablename IN ('mf_claim_outcomes', 'mf_claim_groups') "
                                    "AND attname IN ('chunk_id', 'group_id')"),
                     3);
    PQfinish(c);
}

/* Copy the repository's migrations into a fresh temporary directory. */
static void copy_schemas(char *tmp, size_t cap)
{
    char dir[PATH_MAX];
    char cmd[2 * PATH_MAX + 64];

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    snprintf(tmp, cap, "/tmp/mf_it_schemas_XXXXXX");
    assert_non_null(mkdtemp(tmp));
    snprintf(cmd, sizeof(cmd), "cp '%s'/[0-9]*.sql '%s'/", dir, tmp);
    assert_int_equal(system(cmd), 0);
}

static void remove_dir(const char *tmp)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *dir, const char *name, const char *mode, const char *text)
{
    char path[PATH_MAX + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, mode);
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void test_changed_file_is_refused(void **state)
{
    testdb *t = *state;
    char tmp[PATH_MAX];
    mf_err err = {{0}};
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), t->name, "PostgreSQL");

    copy_schemas(tmp, sizeof(tmp));
    if (migrate(c, tmp, &err) < 0)
        fail_msg("%s", err.msg);
    write_file(tmp, "0002_fleet.sql", "a", "\n-- edited after it was applied\n");
    write_file(tmp, "9999_new.sql", "w", "CREATE TABLE mf_it_never (x int);\n");
    assert_int_equal(migrate(c, tmp, &err), -1);
    if (strstr(err.msg, "\"0002_fleet.sql\"") == NULL || strstr(err.msg, "changed") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    /* nothing applied after the refusal */
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM pg_tables "
                                    "WHERE tablename = 'mf_it_never'"),
                     0);
    remove_dir(tmp);
    PQfinish(c);
}

static void test_failing_file_rolls_back(void **state)
{
    testdb *t = *state;
    char tmp[PATH_MAX];
    mf_err err = {{0}};
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), t->name, "PostgreSQL");

    copy_schemas(tmp, sizeof(tmp));
    write_file(tmp, "9000_bad.sql", "w",
               "-- 한글 comment: positions count characters\n"
               "CREATE TABLE mf_it_partial (x int);\n"
               "SELEC broken;\n");
    assert_int_equal(migrate(c, tmp, &err), -1);
    if (strstr(err.msg, "\"9000_bad.sql\" failed at line 3") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM pg_tables "
                                    "WHERE tablename = 'mf_it_partial'"),
                     0);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM mf_schema_migrations "
                                    "WHERE version = '9000'"),
                     0);
    assert_int_equal(scalar_long(c, "SELECT count(*) FROM mf_schema_migrations "
                                    "WHERE version IN ('0001', '0002')"),
                     2);

    /* fixed file: applies, the earlier ones are skipped */
    write_file(tmp, "9000_bad.sql", "w", "CREATE TABLE mf_it_partial (x int);\n");
    assert_int_equal(migrate(c, tmp, &err), 1);
    remove_dir(tmp);
    PQfinish(c);
}

#define RUNNERS 6

typedef struct runner_arg {
    const char *db;
    const char *dir;
    int applied;
    mf_err err;
} runner_arg;

static void *runner(void *p)
{
    runner_arg *a = p;
    PGconn *c = mf_pg_connect(mf_test_pg_dsn(), a->db, "itest_migrate", &a->err);

    a->applied = c != NULL ? mf_migrate_run(c, a->dir, NULL, NULL, &a->err) : -1;
    PQfinish(c);
    return NULL;
}

static void test_concurrent_runners_apply_once(void **state)
{
    testdb *t = *state;
    char dir[PATH_MAX];
    pthread_t th[RUNNERS];
    runner_arg args[RUNNERS];
    int total = 0;

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
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
    assert_int_equal(total, mf_test_count_migrations(dir));
}

static void test_connect_error_names_server_not_password(void **state)
{
    mf_err err = {{0}};
    PGconn *c;

    (void)state;
    c = mf_pg_connect("postgresql://someone:s3cretpw@127.0.0.1:1/nodb", NULL, "itest", &err);
    assert_null(c);
    if (strncmp(err.msg, "could not connect to \"127.0.0.1:1/nodb\": ", 41) != 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_null(strstr(err.msg, "s3cretpw"));
    assert_null(strchr(err.msg, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_twice_is_noop, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_fleet_tables_closed_to_anon, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_seed_usage_trigger_and_run_dedup, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_claim_arrays_not_analysed, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_is_refused, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_failing_file_rolls_back, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_runners_apply_once, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test(test_connect_error_names_server_not_password),
    };

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
