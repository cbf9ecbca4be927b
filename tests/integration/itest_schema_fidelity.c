/* itest_schema_fidelity: the migrations leave the seed's schema exactly as the seed file says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_test.h"

/*
 * Database A gets the seed's SQL straight from the seed file (```sql blocks of sections 2 and
 * 4-7, extracted here, independent of schemas/pg/0001_seed.sql); database B gets the migrations.
 * Every catalog fact of the seed's objects must be identical in B: columns, constraints,
 * indexes, triggers, policies, views, functions, RLS flags, relation options and what anon and
 * authenticated may do with each table and view. B may have more: fleet columns and indexes on
 * seed tables (listed), fleet tables, views and functions. It may not have triggers, policies
 * or constraints on seed columns that the seed lacks.
 *
 * Two deliberate changes of the seed are accepted, and only in exactly the form listed in
 * ALLOWED below:
 * - the two cost totals widened from numeric(10,2) to numeric(14,2) by 0009_money.sql
 *   (docs/schema.md, "Money"), which the view daily_stats_summary passes on;
 * - row-level security by 0010_rls.sql (docs/security.md): RLS enabled on the seven seed
 *   tables the seed left open, the seed views made security_invoker, the three
 *   dev_full_access policies dropped, the staff policies added (each with its exact
 *   definition), and the privileges of anon (none) and authenticated on the seed's tables and
 *   views.
 * Every other difference of a seed object still fails (a policy, an RLS flag, a view option,
 * a privilege of anon or authenticated, a column type...), and so does a listed object with
 * any other value; each listed change must also be present, so the list cannot go stale.
 */

/* ---- seed extraction ---------------------------------------------------------------------- */

static void seed_path(char *buf, size_t cap)
{
    const char *env = getenv("MF_SEED_FILE");
    char src[PATH_MAX];
    char pattern[PATH_MAX + 64];
    glob_t g;

    if (env != NULL && env[0] != '\0') {
        snprintf(buf, cap, "%s", env);
        return;
    }
    mf_test_source_path(src, sizeof(src), ".");
    snprintf(pattern, sizeof(pattern), "%s/../shared/seeds/000_*.txt", src);
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc != 1)
        fail_msg("seed file not found: expected exactly one %s (or set MF_SEED_FILE)", pattern);
    snprintf(buf, cap, "%s", g.gl_pathv[0]);
    globfree(&g);
}

/* The ```sql blocks of sections 2, 4, 5, 6 and 7 (`### N.` headings), concatenated.
 * Caller frees. */
static char *extract_seed_sql(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    size_t cap = 1 << 16;
    size_t len = 0;
    char *out = malloc(cap);
    int section = 0;
    int in_block = 0;

    if (f == NULL)
        fail_msg("could not open seed file \"%s\"", path);
    assert_non_null(out);
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strlen(line);

        if (strncmp(line, "### ", 4) == 0 && line[4] >= '0' && line[4] <= '9')
            section = (int)strtol(line + 4, NULL, 10);
        if (!in_block && strncmp(line, "```sql", 6) == 0) {
            in_block = section == 2 || (section >= 4 && section <= 7);
            continue;
        }
        if (in_block && strncmp(line, "```", 3) == 0) {
            in_block = 0;
            continue;
        }
        if (!in_block)
            continue;
        if (len + n + 2 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        memcpy(out + len, line, n);
        len += n;
    }
    fclose(f);
    out[len] = '\0';
    return out;
}

static int count_occurrences(const char *s, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- catalog snapshots -------------------------------------------------------------------- */

/* Rows (key, value, aux) of one catalog query, as PGresult columns 0, 1, 2. */
typedef struct snap {
    PGresult *res;
} snap;

static snap take(PGconn *c, const char *sql)
{
    mf_err err = {{0}};
    snap s = {mf_pg_query(c, sql, 0, NULL, &err)};

    if (s.res == NULL)
        fail_msg("%s: %s", sql, err.msg);
    return s;
}

static int find_key(const snap *s, const char *key)
{
    for (int i = 0; i < PQntuples(s->res); i++) {
        if (strcmp(PQgetvalue(s->res, i, 0), key) == 0)
            return i;
    }
    return -1;
}

/* 1 when key "table.name" belongs to a table of the seed. */
static int on_seed_table(const snap *tables, const char *key)
{
    char t[256];
    const char *dot = strchr(key, '.');
    size_t n = dot != NULL ? (size_t)(dot - key) : strlen(key);

    if (n >= sizeof(t))
        return 0;
    memcpy(t, key, n);
    t[n] = '\0';
    return find_key(tables, t) >= 0;
}

/* 1 when any column of the comma-separated list cols of table key's table is a seed column. */
static int touches_seed_column(const snap *columns, const char *key, const char *cols)
{
    char table[256];
    char col[512];
    const char *dot = strchr(key, '.');
    size_t tn = dot != NULL ? (size_t)(dot - key) : 0;

    if (tn == 0 || tn >= sizeof(table))
        return 0;
    memcpy(table, key, tn);
    table[tn] = '\0';
    for (const char *p = cols; *p != '\0';) {
        size_t n = strcspn(p, ",");

        snprintf(col, sizeof(col), "%s.%.*s", table, (int)n, p);
        if (find_key(columns, col) >= 0)
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

enum extra_rule {
    EXTRA_ALLOWED,        /* B may add these (listed) */
    EXTRA_NOT_ON_SEED,    /* B may add these, but not on a seed table */
    EXTRA_NOT_ON_SEED_COL /* B may add these, but not on a seed column */
};

typedef struct category {
    const char *name;
    const char *sql; /* columns: key, value[, aux = comma-separated columns] */
    enum extra_rule rule;
} category;

/* compare() takes the seed's tables and columns from the first two */
static const category CATEGORIES[] = {
    {"table",
     "SELECT c.relname, c.relkind::text || '|rls=' || c.relrowsecurity || '|force=' || "
     "c.relforcerowsecurity || '|' || c.relpersistence::text || '|options=' || "
     "coalesce(array_to_string(c.reloptions, ','), '') || '|' "
     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
     "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p')",
     EXTRA_ALLOWED},
    {"column",
     "SELECT c.relname || '.' || a.attname, a.attnum || '|' || "
     "format_type(a.atttypid, a.atttypmod) || '|notnull=' || a.attnotnull || '|default=' || "
     "coalesce(pg_get_expr(d.adbin, d.adrelid), '<none>') || '|collation=' || a.attcollation "
     "|| '|' || a.attidentity::text || a.attgenerated::text "
     "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
     "JOIN pg_namespace n ON n.oid = c.relnamespace "
     "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
     "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p') AND a.attnum > 0 "
     "AND NOT a.attisdropped",
     EXTRA_ALLOWED},
    {"constraint",
     "SELECT c.relname || '.' || con.conname, con.contype::text || '|' || "
     "pg_get_constraintdef(con.oid) || '|deferrable=' || con.condeferrable, "
     "coalesce((SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_attribute a "
     "WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)), '') "
     "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
     "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
     EXTRA_NOT_ON_SEED_COL},
    {"index",
     "SELECT tablename || '.' || indexname, indexdef FROM pg_indexes "
     "WHERE schemaname = 'public'",
     EXTRA_ALLOWED},
    {"trigger",
     "SELECT c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid) || '|enabled=' || "
     "t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
     "JOIN pg_namespace n ON n.oid = c.relnamespace "
     "WHERE n.nspname = 'public' AND NOT t.tgisinternal",
     EXTRA_NOT_ON_SEED},
    {"policy",
     "SELECT tablename || '.' || policyname, permissive || '|' || roles::text || '|' || cmd || "
     "'|' || coalesce(qual, '<none>') || '|' || coalesce(with_check, '<none>') "
     "FROM pg_policies WHERE schemaname = 'public'",
     EXTRA_NOT_ON_SEED},
    {"view",
     "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c "
     "JOIN pg_namespace n ON n.oid = c.relnamespace "
     "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')",
     EXTRA_ALLOWED},
    {"function",
     "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
     "pg_get_functiondef(p.oid) FROM pg_proc p "
     "JOIN pg_namespace n ON n.oid = p.pronamespace "
     "WHERE n.nspname = 'public' AND p.prokind = 'f'",
     EXTRA_ALLOWED},
    /* what Supabase's public key (anon) and signed-in users (authenticated) may do with each
     * relation, PUBLIC's grants included (RLS then filters the rows) */
    {"privilege",
     "SELECT c.relname, 'anon=' || array_to_string(ARRAY(SELECT p FROM unnest(ARRAY["
     "'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p "
     "WHERE has_table_privilege('anon', c.oid, p)), ',') || '|authenticated=' || "
     "array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', "
     "'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p "
     "WHERE has_table_privilege('authenticated', c.oid, p)), ',') || '|' "
     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
     "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p')",
     EXTRA_ALLOWED},
};

#define NCATEGORIES (sizeof(CATEGORIES) / sizeof(CATEGORIES[0]))

/* A seed fact the migrations change on purpose, in category `cat`, object `key`:
 * CHANGE: the seed's value with `from` replaced once by `to` must be the migrated value, byte
 *         for byte;
 * DROP:   the seed's object must be gone after the migrations;
 * ADD:    the migrations add the object to a seed table with exactly the value `to`. */
enum allowed_kind { CHANGE, DROP, ADD };

typedef struct allowed_change {
    enum allowed_kind kind;
    const char *cat;
    const char *key;
    const char *from;
    const char *to;
} allowed_change;

/* 0010_rls.sql's policies as pg_policies shows them: permissive|roles|cmd|qual|with_check */
#define STAFF_ROLE "( SELECT mf_jwt_staff_role() AS mf_jwt_staff_role)"
#define STAFF_IN(LIST) "(" STAFF_ROLE " = ANY (ARRAY[" LIST "]))"
#define ALL4 "'admin'::text, 'operator'::text, 'marketer'::text, 'analyst'::text"
#define MGR3 "'admin'::text, 'operator'::text, 'marketer'::text"
#define READ_BY(LIST) "PERMISSIVE|{authenticated}|SELECT|" STAFF_IN(LIST) "|<none>"
#define MANAGED_BY(LIST) "PERMISSIVE|{authenticated}|ALL|" STAFF_IN(LIST) "|" STAFF_IN(LIST)
#define APPEND_BY(LIST) "PERMISSIVE|{authenticated}|INSERT|<none>|" STAFF_IN(LIST)
#define ADMIN "(" STAFF_ROLE " = 'admin'::text)"

/* RLS switched on where the seed left it off */
#define RLS_ON(T)                                                                                  \
    {                                                                                              \
        CHANGE, "table", T, "|rls=false|", "|rls=true|"                                            \
    }
/* authenticated gets the privileges RLS governs (never TRUNCATE, REFERENCES, TRIGGER) */
#define STAFF_TABLE(T)                                                                             \
    {                                                                                              \
        CHANGE, "privilege", T, "|authenticated=|", "|authenticated=SELECT,INSERT,UPDATE,DELETE|"  \
    }

static const allowed_change ALLOWED[] = {
    /* 0009_money.sql */
    {CHANGE, "column", "workflow_runs.total_cost", "|numeric(10,2)|", "|numeric(14,2)|"},
    {CHANGE, "column", "daily_statistics.total_cost", "|numeric(10,2)|", "|numeric(14,2)|"},
    {CHANGE, "column", "daily_stats_summary.total_cost", "|numeric(10,2)|", "|numeric(14,2)|"},
    /* 0010_rls.sql */
    RLS_ON("workflow_runs"),
    RLS_ON("template_usage_logs"),
    RLS_ON("variable_query_templates"),
    RLS_ON("message_logs"),
    RLS_ON("system_settings"),
    RLS_ON("user_activity_logs"),
    RLS_ON("daily_statistics"),
    {CHANGE, "table", "workflow_summary", "|options=|", "|options=security_invoker=true|"},
    {CHANGE, "table", "daily_stats_summary", "|options=|", "|options=security_invoker=true|"},
    STAFF_TABLE("workflows"),
    STAFF_TABLE("workflow_runs"),
    STAFF_TABLE("message_templates"),
    STAFF_TABLE("template_usage_logs"),
    STAFF_TABLE("individual_variable_mappings"),
    STAFF_TABLE("variable_query_templates"),
    STAFF_TABLE("message_logs"),
    STAFF_TABLE("system_settings"),
    STAFF_TABLE("user_activity_logs"),
    STAFF_TABLE("daily_statistics"),
    {CHANGE, "privilege", "workflow_summary", "|authenticated=|", "|authenticated=SELECT|"},
    {CHANGE, "privilege", "daily_stats_summary", "|authenticated=|", "|authenticated=SELECT|"},
    {DROP, "policy", "workflows.dev_full_access", NULL, NULL},
    {DROP, "policy", "message_templates.dev_full_access", NULL, NULL},
    {DROP, "policy", "individual_variable_mappings.dev_full_access", NULL, NULL},
    {ADD, "policy", "workflows.staff_read", NULL, READ_BY(ALL4)},
    {ADD, "policy", "workflows.staff_manage", NULL, MANAGED_BY(MGR3)},
    {ADD, "policy", "message_templates.staff_read", NULL, READ_BY(ALL4)},
    {ADD, "policy", "message_templates.staff_manage", NULL, MANAGED_BY(MGR3)},
    {ADD, "policy", "individual_variable_mappings.staff_manage", NULL, MANAGED_BY(MGR3)},
    {ADD, "policy", "variable_query_templates.staff_manage", NULL, MANAGED_BY(MGR3)},
    {ADD, "policy", "workflow_runs.staff_read", NULL, READ_BY(ALL4)},
    {ADD, "policy", "workflow_runs.staff_manage", NULL, MANAGED_BY(MGR3)},
    {ADD, "policy", "message_logs.staff_read", NULL, READ_BY(ALL4)},
    {ADD, "policy", "daily_statistics.staff_read", NULL, READ_BY(ALL4)},
    {ADD, "policy", "template_usage_logs.staff_read", NULL, READ_BY(ALL4)},
    {ADD, "policy", "template_usage_logs.staff_append", NULL, APPEND_BY(MGR3)},
    {ADD, "policy", "user_activity_logs.staff_read", NULL,
     READ_BY("'admin'::text, 'analyst'::text")},
    {ADD, "policy", "user_activity_logs.staff_append", NULL,
     "PERMISSIVE|{authenticated}|INSERT|<none>|(" STAFF_IN(
         ALL4) " AND ((user_id)::text = ( SELECT mf_jwt_subject() AS mf_jwt_subject)))"},
    {ADD, "policy", "system_settings.staff_read", NULL,
     "PERMISSIVE|{authenticated}|SELECT|(" ADMIN
     " OR (" STAFF_IN("'operator'::text, "
                      "'marketer'::text, 'analyst'::text") " AND (is_encrypted IS FALSE)))|<none>"},
    {ADD, "policy", "system_settings.admin_manage", NULL,
     "PERMISSIVE|{authenticated}|ALL|" ADMIN "|" ADMIN},
};

#define NALLOWED (sizeof(ALLOWED) / sizeof(ALLOWED[0]))

/* The index in ALLOWED of the change of kind that turns seed value a (NULL: none) into
 * migrated value b (NULL: none) of cat/key, or -1 when the difference is not an allowed one. */
static int allowed_index(enum allowed_kind kind, const char *cat, const char *key, const char *a,
                         const char *b)
{
    for (size_t i = 0; i < NALLOWED; i++) {
        const allowed_change *c = &ALLOWED[i];
        const char *at;
        char want[1024];

        if (c->kind != kind || strcmp(c->cat, cat) != 0 || strcmp(c->key, key) != 0)
            continue;
        if (kind == DROP)
            return (int)i;
        if (kind == ADD)
            return strcmp(c->to, b) == 0 ? (int)i : -1;
        at = strstr(a, c->from);
        if (at == NULL)
            return -1;
        if (snprintf(want, sizeof(want), "%.*s%s%s", (int)(at - a), a, c->to,
                     at + strlen(c->from)) >= (int)sizeof(want))
            return -1;
        return strcmp(want, b) == 0 ? (int)i : -1;
    }
    return -1;
}

/* Compare database a (seed) with b (migrations); print every difference; return their number.
 * The ALLOWED changes are not differences, but each one missing from b counts as one.
 * B's additions to seed tables are printed as a list when verbose. */
static int compare(PGconn *a, PGconn *b, int verbose)
{
    snap tables = take(a, CATEGORIES[0].sql);
    snap columns = take(a, CATEGORIES[1].sql);
    int diffs = 0;
    int seen[NALLOWED] = {0};

    assert_int_equal(PQntuples(tables.res), 12); /* 10 tables and 2 views */
    for (size_t k = 0; k < NCATEGORIES; k++) {
        const category *cat = &CATEGORIES[k];
        snap sa = take(a, cat->sql);
        snap sb = take(b, cat->sql);

        for (int i = 0; i < PQntuples(sa.res); i++) {
            const char *key = PQgetvalue(sa.res, i, 0);
            int j = find_key(&sb, key);

            if (j < 0) {
                int ak = allowed_index(DROP, cat->name, key, PQgetvalue(sa.res, i, 1), NULL);

                if (ak >= 0) {
                    seen[ak] = 1;
                    if (verbose)
                        print_message("allowed change of the seed: %s %s dropped\n", cat->name,
                                      key);
                    continue;
                }
                print_error("%s %s: missing after migrations\n", cat->name, key);
                diffs++;
            } else if (strcmp(PQgetvalue(sa.res, i, 1), PQgetvalue(sb.res, j, 1)) != 0) {
                int ak = allowed_index(CHANGE, cat->name, key, PQgetvalue(sa.res, i, 1),
                                       PQgetvalue(sb.res, j, 1));

                if (ak >= 0) {
                    seen[ak] = 1;
                    if (verbose)
                        print_message("allowed change of the seed: %s %s %s -> %s\n", cat->name,
                                      key, ALLOWED[ak].from, ALLOWED[ak].to);
                    continue;
                }
                print_error("%s %s differs:\n  seed:       %s\n  migrations: %s\n", cat->name, key,
                            PQgetvalue(sa.res, i, 1), PQgetvalue(sb.res, j, 1));
                diffs++;
            }
        }
        for (int j = 0; j < PQntuples(sb.res); j++) {
            const char *key = PQgetvalue(sb.res, j, 0);

            if (find_key(&sa, key) >= 0)
                continue;
            if (cat->rule == EXTRA_NOT_ON_SEED && on_seed_table(&tables, key)) {
                int ak = allowed_index(ADD, cat->name, key, NULL, PQgetvalue(sb.res, j, 1));

                if (ak >= 0) {
                    seen[ak] = 1;
                    if (verbose)
                        print_message("allowed change of the seed: %s %s added\n", cat->name, key);
                    continue;
                }
                print_error("%s %s: added to a seed table:\n  migrations: %s\n", cat->name, key,
                            PQgetvalue(sb.res, j, 1));
                diffs++;
            } else if (cat->rule == EXTRA_NOT_ON_SEED_COL && on_seed_table(&tables, key) &&
                       touches_seed_column(&columns, key, PQgetvalue(sb.res, j, 2))) {
                print_error("%s %s: added on a seed column: %s\n", cat->name, key,
                            PQgetvalue(sb.res, j, 1));
                diffs++;
            } else if (verbose && on_seed_table(&tables, key)) {
                print_message("fleet addition on a seed table: %s %s\n", cat->name, key);
            }
        }
        PQclear(sa.res);
        PQclear(sb.res);
    }
    for (size_t k = 0; k < NALLOWED; k++) {
        const allowed_change *c = &ALLOWED[k];

        if (seen[k])
            continue;
        if (c->kind == CHANGE)
            print_error("%s %s: the allowed change %s -> %s is not in the migrations\n", c->cat,
                        c->key, c->from, c->to);
        else
            print_error("%s %s: the allowed %s is not in the migrations%s%s\n", c->cat, c->key,
                        c->kind == DROP ? "drop" : "addition", c->kind == ADD ? ": " : "",
                        c->kind == ADD ? c->to : "");
        diffs++;
    }
    PQclear(tables.res);
    PQclear(columns.res);
    return diffs;
}

/* ---- test --------------------------------------------------------------------------------- */

typedef struct dbs {
    char a[64];
    char b[64];
} dbs;

static int setup_dbs(void **state)
{
    *state = calloc(1, sizeof(dbs));
    return *state != NULL ? 0 : -1;
}

/* Runs even when the test failed: no database is left behind. */
static int teardown_dbs(void **state)
{
    dbs *d = *state;

    mf_test_db_drop(mf_test_pg_dsn(), d->a);
    mf_test_db_drop(mf_test_pg_dsn(), d->b);
    free(d);
    return 0;
}

static void test_migrations_match_seed(void **state)
{
    dbs *d = *state;
    char path[PATH_MAX];
    char src[PATH_MAX];
    char dir[PATH_MAX + 16];
    char *db_a = d->a;
    char *db_b = d->b;
    mf_err err = {{0}};
    PGconn *a;
    PGconn *b;
    char *sql;

    seed_path(path, sizeof(path));
    sql = extract_seed_sql(path);
    /* the extraction itself must have found the whole contract */
    assert_int_equal(count_occurrences(sql, "CREATE TABLE "), 10);
    assert_int_equal(count_occurrences(sql, "CREATE INDEX "), 16);
    assert_int_equal(count_occurrences(sql, "CREATE TRIGGER "), 3);
    assert_int_equal(count_occurrences(sql, "CREATE POLICY "), 6);
    assert_int_equal(count_occurrences(sql, "CREATE OR REPLACE VIEW "), 2);
    assert_null(strstr(sql, "AUTO_INCREMENT")); /* not the MySQL section */

    mf_test_db_create(mf_test_pg_dsn(), "fida", db_a, sizeof(d->a));
    mf_test_db_create(mf_test_pg_dsn(), "fidb", db_b, sizeof(d->b));
    a = mf_test_pg_connect(mf_test_pg_dsn(), db_a, "PostgreSQL");
    b = mf_test_pg_connect(mf_test_pg_dsn(), db_b, "PostgreSQL");

    if (mf_migrate_ensure_roles(a, &err) != 0)
        fail_msg("%s", err.msg);
    mf_test_pg_exec(a, sql);
    free(sql);

    mf_test_source_path(src, sizeof(src), ".");
    snprintf(dir, sizeof(dir), "%s/schemas/pg", src);
    if (mf_migrate_run(b, dir, NULL, NULL, &err) < 0)
        fail_msg("%s", err.msg);

    assert_int_equal(compare(a, b, 1), 0);

    /* the comparison can fail: change a seed CHECK and a seed default in B, add a trigger */
    mf_test_pg_exec(b, "ALTER TABLE message_logs DROP CONSTRAINT message_logs_status_check");
    mf_test_pg_exec(
        b, "ALTER TABLE message_logs ADD CONSTRAINT message_logs_status_check CHECK "
           "(status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled', 'accepted'))");
    mf_test_pg_exec(b, "ALTER TABLE workflows ALTER COLUMN status SET DEFAULT 'active'");
    mf_test_pg_exec(b, "CREATE TRIGGER mf_it_extra BEFORE UPDATE ON message_logs "
                       "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()");
    mf_test_pg_exec(b, "ALTER TABLE workflow_runs ADD CONSTRAINT mf_it_extra_check "
                       "CHECK (target_count >= 0)");
    /* the cost widening is allowed only as listed: another type for an allowed column, or
     * the same widening of another seed column, is a difference */
    mf_test_pg_exec(b,
                    "DO $$ DECLARE d text := pg_get_viewdef('daily_stats_summary'); BEGIN"
                    " DROP VIEW daily_stats_summary;"
                    " ALTER TABLE daily_statistics ALTER COLUMN total_cost TYPE NUMERIC(16,2);"
                    " EXECUTE 'CREATE VIEW daily_stats_summary WITH (security_invoker = true) AS '"
                    " || d; GRANT SELECT ON daily_stats_summary TO authenticated; END $$");
    mf_test_pg_exec(b, "ALTER TABLE message_logs ALTER COLUMN cost TYPE NUMERIC(14,2)");
    print_message("expected differences follow (self-check of the comparison):\n");
    /* the 4 above; message_logs.cost; daily_statistics.total_cost and the view's column, each
     * once as a difference and once as an allowed change no longer present */
    assert_int_equal(compare(a, b, 0), 9);

    /* the security changes are allowed only as listed too */
    mf_test_pg_exec(b, "CREATE POLICY mf_it_extra ON message_logs FOR SELECT TO anon "
                       "USING (true)"); /* an unlisted policy: 1 */
    mf_test_pg_exec(b, "ALTER POLICY staff_read ON workflows USING (true)");         /* 2 */
    mf_test_pg_exec(b, "ALTER TABLE user_activity_logs DISABLE ROW LEVEL SECURITY"); /* 1 */
    mf_test_pg_exec(b, "ALTER VIEW workflow_summary RESET (security_invoker)");      /* 1 */
    mf_test_pg_exec(b, "CREATE POLICY dev_full_access ON message_templates FOR ALL "
                       "TO anon, authenticated USING (true) WITH CHECK (true)"); /* 1 */
    mf_test_pg_exec(b, "GRANT SELECT ON system_settings TO anon");               /* 2 */
    mf_test_pg_exec(b, "GRANT TRUNCATE ON workflow_runs TO authenticated");      /* 2 */
    /* a value that is neither the seed's nor the listed one counts as a difference and as a
     * listed change no longer present; back to the seed's value only as the latter */
    assert_int_equal(compare(a, b, 0), 9 + 10);

    PQfinish(a);
    PQfinish(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_match_seed, setup_dbs, teardown_dbs),
    };

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
