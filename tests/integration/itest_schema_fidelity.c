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
 * Every catalog fact of the seed's objects must be identical in B. B may have more: fleet
 * columns and indexes on seed tables (listed), fleet tables, views and functions. It may not
 * have triggers, policies or constraints on seed columns that the seed lacks.
 *
 * One deliberate change of the seed is accepted, and only in exactly the form listed in
 * ALLOWED below: the two cost totals widened from numeric(10,2) to numeric(14,2) by
 * 0009_money.sql (docs/schema.md, "Money"), which the view daily_stats_summary passes on.
 * Every other difference of a seed object still fails, and so does the same column with any
 * other type; each listed change must also be present, so the list cannot go stale.
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
    mf_err err = { { 0 } };
    snap s = { mf_pg_query(c, sql, 0, NULL, &err) };

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

static const category CATEGORIES[] = {
    { "table",
      "SELECT c.relname, c.relkind::text || '|rls=' || c.relrowsecurity || '|force=' || "
      "c.relforcerowsecurity || '|' || c.relpersistence::text "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p')",
      EXTRA_ALLOWED },
    { "column",
      "SELECT c.relname || '.' || a.attname, a.attnum || '|' || "
      "format_type(a.atttypid, a.atttypmod) || '|notnull=' || a.attnotnull || '|default=' || "
      "coalesce(pg_get_expr(d.adbin, d.adrelid), '<none>') || '|collation=' || a.attcollation "
      "|| '|' || a.attidentity::text || a.attgenerated::text "
      "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
      "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p') AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      EXTRA_ALLOWED },
    { "constraint",
      "SELECT c.relname || '.' || con.conname, con.contype::text || '|' || "
      "pg_get_constraintdef(con.oid) || '|deferrable=' || con.condeferrable, "
      "coalesce((SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_attribute a "
      "WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)), '') "
      "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
      EXTRA_NOT_ON_SEED_COL },
    { "index",
      "SELECT tablename || '.' || indexname, indexdef FROM pg_indexes "
      "WHERE schemaname = 'public'",
      EXTRA_ALLOWED },
    { "trigger",
      "SELECT c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid) || '|enabled=' || "
      "t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = 'public' AND NOT t.tgisinternal",
      EXTRA_NOT_ON_SEED },
    { "policy",
      "SELECT tablename || '.' || policyname, permissive || '|' || roles::text || '|' || cmd || "
      "'|' || coalesce(qual, '<none>') || '|' || coalesce(with_check, '<none>') "
      "FROM pg_policies WHERE schemaname = 'public'",
      EXTRA_NOT_ON_SEED },
    { "view",
      "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')",
      EXTRA_ALLOWED },
    { "function",
      "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
      "pg_get_functiondef(p.oid) FROM pg_proc p "
      "JOIN pg_namespace n ON n.oid = p.pronamespace "
      "WHERE n.nspname = 'public' AND p.prokind = 'f'",
      EXTRA_ALLOWED },
};

#define NCATEGORIES (sizeof(CATEGORIES) / sizeof(CATEGORIES[0]))

/* A seed fact the migrations change on purpose: in category `cat`, object `key`, the seed's
 * value with `from` replaced once by `to` must be the migrated value, byte for byte. */
typedef struct allowed_change {
    const char *cat;
    const char *key;
    const char *from;
    const char *to;
} allowed_change;

static const allowed_change ALLOWED[] = {
    { "column", "workflow_runs.total_cost", "|numeric(10,2)|", "|numeric(14,2)|" },
    { "column", "daily_statistics.total_cost", "|numeric(10,2)|", "|numeric(14,2)|" },
    { "column", "daily_stats_summary.total_cost", "|numeric(10,2)|", "|numeric(14,2)|" },
};

#define NALLOWED (sizeof(ALLOWED) / sizeof(ALLOWED[0]))

/* The index in ALLOWED of the change that turns seed value a into migrated value b of
 * cat/key, or -1 when the difference is not an allowed one. */
static int allowed_index(const char *cat, const char *key, const char *a, const char *b)
{
    for (size_t i = 0; i < NALLOWED; i++) {
        const allowed_change *c = &ALLOWED[i];
        const char *at;
        char want[1024];

        if (strcmp(c->cat, cat) != 0 || strcmp(c->key, key) != 0)
            continue;
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
    int seen[NALLOWED] = { 0 };

    assert_int_equal(PQntuples(tables.res), 12); /* 10 tables and 2 views */
    for (size_t k = 0; k < NCATEGORIES; k++) {
        const category *cat = &CATEGORIES[k];
        snap sa = take(a, cat->sql);
        snap sb = take(b, cat->sql);

        for (int i = 0; i < PQntuples(sa.res); i++) {
            const char *key = PQgetvalue(sa.res, i, 0);
            int j = find_key(&sb, key);

            if (j < 0) {
                print_error("%s %s: missing after migrations\n", cat->name, key);
                diffs++;
            } else if (strcmp(PQgetvalue(sa.res, i, 1), PQgetvalue(sb.res, j, 1)) != 0) {
                int ak = allowed_index(cat->name, key, PQgetvalue(sa.res, i, 1),
                                      PQgetvalue(sb.res, j, 1));

                if (ak >= 0) {
                    seen[ak] = 1;
                    if (verbose)
                        print_message("allowed change of the seed: %s %s %s -> %s\n",
                                      cat->name, key, ALLOWED[ak].from, ALLOWED[ak].to);
                    continue;
                }
                print_error("%s %s differs:\n  seed:       %s\n  migrations: %s\n", cat->name,
                            key, PQgetvalue(sa.res, i, 1), PQgetvalue(sb.res, j, 1));
                diffs++;
            }
        }
        for (int j = 0; j < PQntuples(sb.res); j++) {
            const char *key = PQgetvalue(sb.res, j, 0);

            if (find_key(&sa, key) >= 0)
                continue;
            if (cat->rule == EXTRA_NOT_ON_SEED && on_seed_table(&tables, key)) {
                print_error("%s %s: added to a seed table\n", cat->name, key);
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
        if (!seen[k]) {
            print_error("%s %s: the allowed change %s -> %s is not in the migrations\n",
                        ALLOWED[k].cat, ALLOWED[k].key, ALLOWED[k].from, ALLOWED[k].to);
            diffs++;
        }
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
    mf_err err = { { 0 } };
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
    mf_test_pg_exec(b, "ALTER TABLE message_logs ADD CONSTRAINT message_logs_status_check CHECK "
               "(status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled', 'accepted'))");
    mf_test_pg_exec(b, "ALTER TABLE workflows ALTER COLUMN status SET DEFAULT 'active'");
    mf_test_pg_exec(b, "CREATE TRIGGER mf_it_extra BEFORE UPDATE ON message_logs "
               "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()");
    mf_test_pg_exec(b, "ALTER TABLE workflow_runs ADD CONSTRAINT mf_it_extra_check "
               "CHECK (target_count >= 0)");
    /* the cost widening is allowed only as listed: another type for an allowed column, or
     * the same widening of another seed column, is a difference */
    mf_test_pg_exec(b, "DO $$ DECLARE d text := pg_get_viewdef('daily_stats_summary'); BEGIN"
               " DROP VIEW daily_stats_summary;"
               " ALTER TABLE daily_statistics ALTER COLUMN total_cost TYPE NUMERIC(16,2);"
               " EXECUTE 'CREATE VIEW daily_stats_summary AS ' || d; END $$");
    mf_test_pg_exec(b, "ALTER TABLE message_logs ALTER COLUMN cost TYPE NUMERIC(14,2)");
    print_message("expected differences follow (self-check of the comparison):\n");
    /* the 4 above; message_logs.cost; daily_statistics.total_cost and the view's column, each
     * once as a difference and once as an allowed change no longer present */
    assert_int_equal(compare(a, b, 0), 9);

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
