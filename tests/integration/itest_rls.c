/* itest_rls: the platform's tables under Supabase's default grants, as the public key, as a
 * signed-in user without a staff role, and as each staff role (docs/security.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_test.h"

/*
 * One database, prepared the way a Supabase project is: the roles anon, authenticated and
 * service_role, USAGE on the schema, and default privileges that grant everything on every new
 * table, sequence and function to all three; then `msgfleet migrate` (every file). The test
 * connection is the tables' owner (the fleet's role); a request is simulated the way PostgREST
 * makes it, in one transaction: set_config('request.jwt.claims', <claims>, true), SET LOCAL ROLE
 * <role>, the statement. Every write is rolled back unless a test commits it on purpose.
 */

#define SQL_MAX 1024

typedef struct rls_state {
    char db[64];
    PGconn *c;
    char workflow[40]; /* the seeded workflow, for writes that need a foreign key */
} rls_state;

static rls_state S;

/* A request's outcome: sqlstate "" on success; rows = count(*) for a read, the rows a command
 * affected for a write (-1 when it reports none, as TRUNCATE). */
typedef struct outcome {
    char sqlstate[6];
    char error[256];
    long long rows;
} outcome;

/* Who asks: a database role and the JWT claims PostgREST would set (NULL: none). */
typedef struct who {
    const char *role;
    const char *claims;
} who;

static const char MARKETER[] = "{\"sub\":\"u-marketer\",\"role\":\"authenticated\","
                               "\"app_metadata\":{\"role\":\"marketer\"}}";
static const char OPERATOR[] = "{\"sub\":\"u-operator\",\"role\":\"authenticated\","
                               "\"app_metadata\":{\"role\":\"operator\"}}";
static const char ANALYST[] = "{\"sub\":\"u-analyst\",\"role\":\"authenticated\","
                              "\"app_metadata\":{\"role\":\"analyst\"}}";
static const char ADMIN[] = "{\"sub\":\"u-admin\",\"role\":\"authenticated\","
                            "\"app_metadata\":{\"role\":\"admin\"}}";

/* Nobody here holds a staff role: the public key (with or without a staff claim: anon is the
 * key's database role whatever its claims say), and signed-in users whose claims carry no
 * staff role in app_metadata (user_metadata is editable by the user, a top-level role is the
 * database role, an unknown or differently spelt role is no role). */
static const who NOBODY[] = {
    {"anon", NULL},
    {"anon", ADMIN},
    {"authenticated", NULL},
    {"authenticated", "{}"},
    {"authenticated", "{\"sub\":\"u1\",\"role\":\"authenticated\"}"},
    {"authenticated", "{\"sub\":\"u1\",\"user_metadata\":{\"role\":\"admin\"}}"},
    {"authenticated", "{\"sub\":\"u1\",\"role\":\"admin\"}"},
    {"authenticated", "{\"sub\":\"u1\",\"app_metadata\":{\"role\":\"owner\"}}"},
    {"authenticated", "{\"sub\":\"u1\",\"app_metadata\":{\"role\":\"Admin\"}}"},
    {"authenticated", "{\"sub\":\"u1\",\"app_metadata\":{\"roles\":[\"admin\"]}}"},
};

#define NNOBODY (sizeof(NOBODY) / sizeof(NOBODY[0]))

/* The seed's tables and views, then the fleet's. */
static const char *const SEED_RELATIONS[] = {
    "workflows",
    "workflow_runs",
    "message_templates",
    "template_usage_logs",
    "individual_variable_mappings",
    "variable_query_templates",
    "message_logs",
    "system_settings",
    "user_activity_logs",
    "daily_statistics",
    "workflow_summary",
    "daily_stats_summary",
};
static const char *const FLEET_RELATIONS[] = {
    "mf_job_claims",         "mf_consumer_offsets",    "mf_status_poller",     "mf_claim_outcomes",
    "mf_claim_groups",       "mf_job_claim_states",    "mf_schema_migrations", "mf_webhook_secrets",
    "mf_webhook_signatures", "mf_webhook_idempotency", "mf_webhook_runs",
};

#define NSEED (sizeof(SEED_RELATIONS) / sizeof(SEED_RELATIONS[0]))
#define NFLEET (sizeof(FLEET_RELATIONS) / sizeof(FLEET_RELATIONS[0]))

/* One INSERT, UPDATE and DELETE per seed table, writes through the updatable seed view
 * (workflow_summary groups rows: nobody can write through it), and TRUNCATE, which RLS does
 * not filter. {wf} stands for the seeded workflow's id. Each one writes when the owner runs it. */
static const char *const WRITES[] = {
    "INSERT INTO workflows (name, trigger_type) VALUES ('x', 'manual')",
    "UPDATE workflows SET description = 'x'",
    "DELETE FROM workflows",
    "INSERT INTO workflow_runs (workflow_id, status) VALUES ('{wf}', 'running')",
    "UPDATE workflow_runs SET status = 'cancelled'",
    "DELETE FROM workflow_runs",
    "INSERT INTO message_templates (name, message_type, content) VALUES ('x', 'sms', 'x')",
    "UPDATE message_templates SET content = 'x'",
    "DELETE FROM message_templates",
    "INSERT INTO template_usage_logs (workflow_id) VALUES ('{wf}')",
    "UPDATE template_usage_logs SET success = false",
    "DELETE FROM template_usage_logs",
    "INSERT INTO individual_variable_mappings (variable_name, source_type)"
    " VALUES ('x', 'static')",
    "UPDATE individual_variable_mappings SET default_value = 'x'",
    "DELETE FROM individual_variable_mappings",
    "INSERT INTO variable_query_templates (template_name, query_sql) VALUES ('x', 'SELECT 1')",
    "UPDATE variable_query_templates SET query_sql = 'SELECT * FROM customers'",
    "DELETE FROM variable_query_templates",
    "INSERT INTO message_logs (message_type, status, recipient_phone)"
    " VALUES ('sms', 'sent', '01000000000')",
    "UPDATE message_logs SET status = 'failed'",
    "DELETE FROM message_logs",
    "INSERT INTO system_settings (setting_key, setting_value) VALUES ('x', '1')",
    "UPDATE system_settings SET setting_value = '\"x\"'",
    "DELETE FROM system_settings",
    "INSERT INTO user_activity_logs (user_id, action) VALUES ('u1', 'x')",
    "UPDATE user_activity_logs SET action = 'x'",
    "DELETE FROM user_activity_logs",
    "INSERT INTO daily_statistics (stat_date) VALUES ('2001-01-01')",
    "UPDATE daily_statistics SET messages_sent = 1",
    "DELETE FROM daily_statistics",
    "INSERT INTO daily_stats_summary (stat_date) VALUES ('2001-01-02')",
    "UPDATE daily_stats_summary SET messages_sent = 1",
    "DELETE FROM daily_stats_summary",
    "TRUNCATE workflows CASCADE",
    "TRUNCATE workflow_runs CASCADE",
    "TRUNCATE message_templates CASCADE",
    "TRUNCATE template_usage_logs",
    "TRUNCATE individual_variable_mappings",
    "TRUNCATE variable_query_templates",
    "TRUNCATE message_logs",
    "TRUNCATE system_settings",
    "TRUNCATE user_activity_logs",
    "TRUNCATE daily_statistics",
    "TRUNCATE mf_job_claims",
    "UPDATE mf_status_poller SET owner = 'x'",
    "DELETE FROM mf_schema_migrations",
};

#define NWRITES (sizeof(WRITES) / sizeof(WRITES[0]))

/* ---- requests ----------------------------------------------------------------------------- */

static void exec_ok(const char *sql)
{
    mf_test_pg_exec(S.c, sql);
}

/* Run sql as w in one transaction, committed when commit, else rolled back. */
static outcome request(const who *w, const char *sql, int is_read, int commit)
{
    char role[96];
    const char *params[1] = {w->claims};
    outcome o;
    PGresult *r;

    memset(&o, 0, sizeof(o));
    exec_ok("BEGIN");
    if (w->claims != NULL)
        PQclear(
            mf_test_pg_query(S.c, "SELECT set_config('request.jwt.claims', $1, true)", 1, params));
    snprintf(role, sizeof(role), "SET LOCAL ROLE %s", w->role);
    exec_ok(role);
    r = PQexec(S.c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK) {
        if (is_read)
            o.rows = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        else
            o.rows = PQcmdTuples(r)[0] != '\0' ? strtoll(PQcmdTuples(r), NULL, 10) : -1;
    } else {
        snprintf(o.sqlstate, sizeof(o.sqlstate), "%s", mf_pg_sqlstate(r));
        snprintf(o.error, sizeof(o.error), "%s", PQresultErrorMessage(r));
        o.rows = -1;
    }
    PQclear(r);
    exec_ok(commit && o.sqlstate[0] == '\0' ? "COMMIT" : "ROLLBACK");
    return o;
}

/* The owner's own outcome (no SET ROLE), rolled back. */
static outcome as_owner(const char *sql, int is_read)
{
    outcome o;
    PGresult *r;

    memset(&o, 0, sizeof(o));
    exec_ok("BEGIN");
    r = PQexec(S.c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        o.rows = is_read ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : PQntuples(r);
    else if (PQresultStatus(r) == PGRES_COMMAND_OK)
        o.rows = PQcmdTuples(r)[0] != '\0' ? strtoll(PQcmdTuples(r), NULL, 10) : -1;
    else
        snprintf(o.sqlstate, sizeof(o.sqlstate), "%s", mf_pg_sqlstate(r));
    PQclear(r);
    exec_ok("ROLLBACK");
    return o;
}

static long long count_as(const who *w, const char *relation, outcome *o)
{
    char sql[SQL_MAX];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", relation);
    *o = request(w, sql, 1, 0);
    return o->rows;
}

static const char *claims_text(const who *w)
{
    return w->claims != NULL ? w->claims : "(no claims)";
}

/* w reads no row of relation: refused for lack of privilege, or zero rows. */
static void expect_no_read(const who *w, const char *relation)
{
    outcome o;

    count_as(w, relation, &o);
    if (o.sqlstate[0] != '\0' && strcmp(o.sqlstate, "42501") != 0)
        fail_msg("%s %s: SELECT %s failed with %s, not a refusal: %s", w->role, claims_text(w),
                 relation, o.sqlstate, o.error);
    if (o.sqlstate[0] == '\0' && o.rows != 0)
        fail_msg("%s %s read %lld rows of %s", w->role, claims_text(w), o.rows, relation);
}

/* w writes nothing with sql: refused (privilege or policy, SQLSTATE 42501) or zero rows. */
static void expect_no_write(const who *w, const char *sql)
{
    outcome o = request(w, sql, 0, 0);

    if (o.sqlstate[0] != '\0' && strcmp(o.sqlstate, "42501") != 0)
        fail_msg("%s %s: \"%s\" failed with %s, not a refusal: %s", w->role, claims_text(w), sql,
                 o.sqlstate, o.error);
    if (o.sqlstate[0] == '\0' && o.rows != 0)
        fail_msg("%s %s: \"%s\" wrote (%lld rows)", w->role, claims_text(w), sql, o.rows);
}

static void expect_rows(const who *w, const char *sql, int is_read, int commit, long long want)
{
    outcome o = request(w, sql, is_read, commit);

    if (o.sqlstate[0] != '\0')
        fail_msg("%s %s: \"%s\" failed: %s", w->role, claims_text(w), sql, o.error);
    if (o.rows != want)
        fail_msg("%s %s: \"%s\" gave %lld rows, want %lld", w->role, claims_text(w), sql, o.rows,
                 want);
}

static void expect_refused(const who *w, const char *sql)
{
    outcome o = request(w, sql, 0, 0);

    if (strcmp(o.sqlstate, "42501") != 0)
        fail_msg("%s %s: \"%s\" was not refused (sqlstate \"%s\", rows %lld)", w->role,
                 claims_text(w), sql, o.sqlstate, o.rows);
}

static void write_sql(size_t i, char *out, size_t cap)
{
    const char *at = strstr(WRITES[i], "{wf}");

    if (at != NULL)
        snprintf(out, cap, "%.*s%s%s", (int)(at - WRITES[i]), WRITES[i], S.workflow, at + 4);
    else
        snprintf(out, cap, "%s", WRITES[i]);
}

/* ---- fixture ------------------------------------------------------------------------------ */

static void seed_rows(void)
{
    PGresult *r = mf_test_pg_query(S.c,
                                   "INSERT INTO workflows (name, status, trigger_type,"
                                   " target_config) VALUES ('가입 환영', 'active', 'manual',"
                                   " '{\"query\":\"SELECT id, phone FROM customers\"}')"
                                   " RETURNING id",
                                   0, NULL);

    snprintf(S.workflow, sizeof(S.workflow), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    exec_ok("INSERT INTO message_templates (name, message_type, content)"
            " VALUES ('환영', 'sms', '#{name}님 환영합니다')");
    exec_ok("INSERT INTO workflow_runs (workflow_id, status)"
            " SELECT id, 'completed' FROM workflows");
    exec_ok("INSERT INTO template_usage_logs (template_id, workflow_id)"
            " SELECT t.id, w.id FROM message_templates t, workflows w");
    exec_ok("INSERT INTO individual_variable_mappings (variable_name, source_type, source_field)"
            " VALUES ('grade', 'static', 'VIP')");
    exec_ok("INSERT INTO variable_query_templates (template_name, query_sql)"
            " VALUES ('points', 'SELECT points FROM customers WHERE id = ?')");
    exec_ok("INSERT INTO message_logs (workflow_run_id, message_type, status, recipient_phone,"
            " recipient_name, message_content) SELECT id, 'sms', 'delivered', '01012345678',"
            " '홍길동', '홍길동님 환영합니다' FROM workflow_runs");
    exec_ok("INSERT INTO system_settings (setting_key, setting_value, is_encrypted) VALUES"
            " ('default_sender', '\"0212345678\"', false),"
            " ('coolsms_api_secret', '\"c2VjcmV0\"', true)");
    exec_ok("INSERT INTO user_activity_logs (user_id, action) VALUES ('u-admin', 'login')");
    exec_ok("INSERT INTO daily_statistics (stat_date, messages_sent) VALUES ('2026-11-25', 1)");
    exec_ok("INSERT INTO mf_job_claims (job_id, run_id, attempt, state)"
            " VALUES (gen_random_uuid(), gen_random_uuid(), 1, 'claimed')");
    exec_ok("INSERT INTO mf_consumer_offsets (consumer_group, topic, partition, next_offset)"
            " VALUES ('g', 't', 0, 1)");
    exec_ok("INSERT INTO mf_claim_outcomes (chunk_id, job_ids, states, provider_message_ids,"
            " group_ids, status_codes, messages, channels, sent_ms) VALUES (gen_random_uuid(),"
            " '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')");
    exec_ok("INSERT INTO mf_claim_groups (chunk_id, group_id, job_ids)"
            " VALUES (gen_random_uuid(), 'G4V20261125', '{}')");
    exec_ok("INSERT INTO mf_webhook_secrets (workflow_id, secret) SELECT id,"
            " 'whsec_0123456789abcdef0123456789abcdef' FROM workflows");
    exec_ok("INSERT INTO mf_webhook_signatures (workflow_id, signature) SELECT id, 'ab'"
            " FROM workflows");
    exec_ok("INSERT INTO mf_webhook_idempotency (workflow_id, idempotency_key, run_id)"
            " SELECT workflow_id, 'k', id FROM workflow_runs");
    exec_ok("INSERT INTO mf_webhook_runs (run_id, workflow_id) SELECT id, workflow_id"
            " FROM workflow_runs");
}

static int group_setup(void **state)
{
    mf_err err = {{0}};

    (void)state;
    memset(&S, 0, sizeof(S));
    mf_test_db_create(mf_test_pg_dsn(), "rls", S.db, sizeof(S.db));
    S.c = mf_test_pg_connect(mf_test_pg_dsn(), S.db, "PostgreSQL");
    if (mf_migrate_ensure_roles(S.c, &err) != 0)
        fail_msg("%s", err.msg);
    /* what a Supabase project grants before any migration runs */
    exec_ok("GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role");
    exec_ok("ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT ALL ON TABLES TO anon, authenticated, service_role");
    exec_ok("ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT ALL ON SEQUENCES TO anon, authenticated, service_role");
    exec_ok("ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role");
    exec_ok("GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role");
    mf_test_db_migrate(S.c);
    seed_rows();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (S.c != NULL)
        PQfinish(S.c);
    S.c = NULL;
    mf_test_db_drop(mf_test_pg_dsn(), S.db);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* The checks below can fail: the owner reads rows of every relation and every write
 * statement writes when the owner runs it. */
static void test_self_check(void **state)
{
    char sql[SQL_MAX];

    (void)state;
    for (size_t i = 0; i < NSEED; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", SEED_RELATIONS[i]);
        if (as_owner(sql, 1).rows < 1)
            fail_msg("the owner reads no row of %s: the read checks would prove nothing",
                     SEED_RELATIONS[i]);
    }
    for (size_t i = 0; i < NFLEET; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", FLEET_RELATIONS[i]);
        if (as_owner(sql, 1).rows < 1)
            fail_msg("the owner reads no row of %s", FLEET_RELATIONS[i]);
    }
    for (size_t i = 0; i < NWRITES; i++) {
        outcome o;

        write_sql(i, sql, sizeof(sql));
        o = as_owner(sql, 0);
        if (o.sqlstate[0] != '\0' || o.rows == 0)
            fail_msg("the owner's \"%s\": sqlstate \"%s\", rows %lld: the statement proves "
                     "nothing",
                     sql, o.sqlstate, o.rows);
    }
}

/* Whatever the default grants gave, anon holds no privilege on any relation, sequence or fleet
 * function of the schema, and authenticated none on the fleet's relations nor the privileges
 * RLS does not govern (TRUNCATE, REFERENCES, TRIGGER) on any. */
static void test_privileges(void **state)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT string_agg(format('%s %s %s', r.rolname, c.relname, p), ', ' ORDER BY 1)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r(rolname)"
        " CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE',"
        "   'REFERENCES', 'TRIGGER']) AS p"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p', 'f')"
        "   AND has_table_privilege(r.rolname, c.oid, p)"
        "   AND (r.rolname = 'anon' OR c.relname LIKE 'mf\\_%'"
        "        OR p IN ('TRUNCATE', 'REFERENCES', 'TRIGGER'))";
    static const char seq_sql[] =
        "SELECT string_agg(format('%s %s %s', r.rolname, c.relname, p), ', ')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r(rolname)"
        " CROSS JOIN unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) AS p"
        " WHERE n.nspname = 'public' AND c.relkind = 'S'"
        "   AND has_sequence_privilege(r.rolname, c.oid, p)";
    static const char fn_sql[] =
        "SELECT string_agg(p.proname, ', ') FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.proname LIKE 'mf\\_%'"
        "   AND has_function_privilege('anon', p.oid, 'EXECUTE')";
    /* clang-format on */
    char got[4096];

    (void)state;
    mf_test_pg_str(S.c, sql, 0, NULL, got, sizeof(got));
    if (got[0] != '\0')
        fail_msg("privileges that must not exist: %s", got);
    mf_test_pg_str(S.c, seq_sql, 0, NULL, got, sizeof(got));
    if (got[0] != '\0')
        fail_msg("sequence privileges that must not exist: %s", got);
    mf_test_pg_str(S.c, fn_sql, 0, NULL, got, sizeof(got));
    if (got[0] != '\0')
        fail_msg("anon may execute: %s", got);
    /* the sequences exist (the check above is not vacuous) */
    assert_true(mf_test_pg_ll(S.c,
                              "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                              " ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                              " AND c.relkind = 'S'",
                              0, NULL) >= 2);
}

static void no_access(void)
{
    char sql[SQL_MAX];

    for (size_t k = 0; k < NNOBODY; k++) {
        for (size_t i = 0; i < NSEED; i++)
            expect_no_read(&NOBODY[k], SEED_RELATIONS[i]);
        for (size_t i = 0; i < NFLEET; i++)
            expect_no_read(&NOBODY[k], FLEET_RELATIONS[i]);
        for (size_t i = 0; i < NWRITES; i++) {
            write_sql(i, sql, sizeof(sql));
            expect_no_write(&NOBODY[k], sql);
        }
    }
}

/* The public key and a signed-in user without a staff role read and write nothing. */
static void test_nobody_reads_or_writes(void **state)
{
    (void)state;
    no_access();
    /* anon is refused outright, it holds no privilege at all */
    for (size_t i = 0; i < NSEED; i++) {
        outcome o;

        count_as(&NOBODY[0], SEED_RELATIONS[i], &o);
        if (strcmp(o.sqlstate, "42501") != 0)
            fail_msg("anon was not refused reading %s (sqlstate \"%s\")", SEED_RELATIONS[i],
                     o.sqlstate);
    }
}

static void test_marketer_manages_workflows(void **state)
{
    const who m = {"authenticated", MARKETER};
    char sql[SQL_MAX];

    (void)state;
    expect_rows(&m, "SELECT count(*) FROM workflows", 1, 0, 1);
    expect_rows(&m, "SELECT count(*) FROM workflow_summary", 1, 0, 1);
    /* an edit that stays */
    expect_rows(&m, "UPDATE workflows SET description = 'edited by a marketer'", 0, 1, 1);
    assert_int_equal(mf_test_pg_ll(S.c,
                                   "SELECT count(*) FROM workflows"
                                   " WHERE description = 'edited by a marketer'",
                                   0, NULL),
                     1);
    expect_rows(&m, "INSERT INTO workflows (name, trigger_type) VALUES ('새 캠페인', 'manual')", 0,
                0, 1);
    expect_rows(&m, "DELETE FROM workflows", 0, 0, 1);
    expect_rows(&m, "UPDATE message_templates SET content = '#{name}님 반갑습니다'", 0, 0, 1);
    expect_rows(&m, "UPDATE variable_query_templates SET description = 'x'", 0, 0, 1);
    expect_rows(&m, "UPDATE individual_variable_mappings SET default_value = 'x'", 0, 0, 1);
    snprintf(sql, sizeof(sql),
             "INSERT INTO workflow_runs (workflow_id, status, trigger_type)"
             " VALUES ('%s', 'running', 'manual')",
             S.workflow);
    expect_rows(&m, sql, 0, 0, 1);
    expect_rows(&m, "SELECT count(*) FROM message_logs", 1, 0, 1);
    /* outcomes are the fleet's to write; settings the admins' */
    expect_no_write(&m, "UPDATE message_logs SET status = 'failed'");
    expect_refused(&m, "INSERT INTO message_logs (message_type, status) VALUES ('sms', 'sent')");
    expect_no_write(&m, "UPDATE system_settings SET setting_value = '\"x\"'");
    expect_refused(&m, "INSERT INTO system_settings (setting_key, setting_value)"
                       " VALUES ('x', '1')");
    expect_no_write(&m, "UPDATE daily_statistics SET messages_sent = 0");
    /* the settings that are not secret, not the audit trail */
    expect_rows(&m, "SELECT count(*) FROM system_settings", 1, 0, 1);
    expect_rows(&m, "SELECT count(*) FROM system_settings WHERE is_encrypted", 1, 0, 0);
    expect_rows(&m, "SELECT count(*) FROM user_activity_logs", 1, 0, 0);
    /* they append their own actions only */
    expect_rows(&m,
                "INSERT INTO user_activity_logs (user_id, action)"
                " VALUES ('u-marketer', 'workflow.update')",
                0, 0, 1);
    expect_refused(&m, "INSERT INTO user_activity_logs (user_id, action)"
                       " VALUES ('u-admin', 'workflow.update')");
    expect_refused(&m, "TRUNCATE workflows CASCADE");
}

static void test_operator_manages_runs(void **state)
{
    const who o = {"authenticated", OPERATOR};

    (void)state;
    expect_rows(&o, "UPDATE workflow_runs SET status = 'cancelled'", 0, 0, 1);
    expect_rows(&o, "UPDATE workflows SET status = 'paused'", 0, 0, 1);
    expect_no_write(&o, "UPDATE system_settings SET setting_value = '\"x\"'");
}

static void test_analyst_reads_results(void **state)
{
    const who a = {"authenticated", ANALYST};

    (void)state;
    expect_rows(&a, "SELECT count(*) FROM message_logs", 1, 0, 1);
    expect_rows(&a, "SELECT count(*) FROM daily_statistics", 1, 0, 1);
    expect_rows(&a, "SELECT count(*) FROM daily_stats_summary", 1, 0, 1);
    expect_rows(&a, "SELECT count(*) FROM workflow_runs", 1, 0, 1);
    expect_rows(&a, "SELECT count(*) FROM template_usage_logs", 1, 0, 1);
    expect_rows(&a, "SELECT count(*) FROM user_activity_logs", 1, 0, 1);
    /* workflows and templates read-only */
    expect_rows(&a, "SELECT count(*) FROM workflows", 1, 0, 1);
    expect_rows(&a, "SELECT count(*) FROM workflow_summary", 1, 0, 1);
    expect_no_write(&a, "UPDATE workflows SET status = 'active', description = 'x'");
    expect_no_write(&a, "DELETE FROM workflows");
    expect_refused(&a, "INSERT INTO workflows (name, trigger_type) VALUES ('x', 'manual')");
    expect_no_write(&a, "UPDATE message_templates SET content = 'x'");
    expect_refused(&a, "INSERT INTO workflow_runs (status) VALUES ('running')");
    expect_no_write(&a, "UPDATE message_logs SET status = 'failed'");
    /* not the MySQL queries of the variable tables */
    expect_rows(&a, "SELECT count(*) FROM variable_query_templates", 1, 0, 0);
    expect_rows(&a, "SELECT count(*) FROM individual_variable_mappings", 1, 0, 0);
    expect_rows(&a, "SELECT count(*) FROM system_settings", 1, 0, 1);
}

static void test_admin_changes_settings(void **state)
{
    const who a = {"authenticated", ADMIN};
    const who m = {"authenticated", MARKETER};

    (void)state;
    expect_rows(&a, "SELECT count(*) FROM system_settings", 1, 0, 2);
    expect_rows(&a,
                "UPDATE system_settings SET setting_value = '\"0299998888\"'"
                " WHERE setting_key = 'default_sender'",
                0, 1, 1);
    assert_int_equal(mf_test_pg_ll(S.c,
                                   "SELECT count(*) FROM system_settings WHERE"
                                   " setting_value = '\"0299998888\"'",
                                   0, NULL),
                     1);
    expect_rows(&a,
                "INSERT INTO system_settings (setting_key, setting_value)"
                " VALUES ('quiet_hours', '{\"from\":\"21:00\"}')",
                0, 0, 1);
    /* the marketer sees the change, cannot make one */
    expect_rows(&m,
                "SELECT count(*) FROM system_settings WHERE"
                " setting_value = '\"0299998888\"'",
                1, 0, 1);
    expect_no_write(&m, "DELETE FROM system_settings");
    /* the fleet's key reads everything */
    expect_rows(&(const who){"service_role", NULL}, "SELECT count(*) FROM message_logs", 1, 0, 1);
}

/* A project whose owner later runs GRANT ... ON ALL TABLES again (the Supabase dashboard, a
 * copied script): the privileges are back, and RLS alone must still hold. Runs last. */
static void test_rls_holds_without_revokes(void **state)
{
    (void)state;
    exec_ok("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public"
            " TO anon, authenticated");
    assert_int_equal(mf_test_pg_ll(S.c,
                                   "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                                   " ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                                   " AND c.relkind IN ('r', 'v')"
                                   " AND NOT has_table_privilege('anon', c.oid, 'SELECT')",
                                   0, NULL),
                     0);
    no_access();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_check),
        cmocka_unit_test(test_privileges),
        cmocka_unit_test(test_nobody_reads_or_writes),
        cmocka_unit_test(test_marketer_manages_workflows),
        cmocka_unit_test(test_operator_manages_runs),
        cmocka_unit_test(test_analyst_reads_results),
        cmocka_unit_test(test_admin_changes_settings),
        cmocka_unit_test(test_rls_holds_without_revokes),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
