/* mf_migrate: apply schemas/pg/NNNN_*.sql in order, once each, safely under concurrency. */
#include "mf_migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mf_pg.h"

#define MAX_FILES 1000
#define MAX_FILE_BYTES ((size_t)16 * 1024 * 1024)
#define VERSION_MAX 19

#define LOCK_SQL "SELECT pg_advisory_xact_lock(" MF_MIGRATE_LOCK_KEY ")"

/* Roles Supabase has and plain PostgreSQL lacks. The sub-block swallows the error a concurrent
 * creator (on any database of the cluster) causes; roles are cluster-wide, advisory locks not. */
/* clang-format off */
static const char ROLES_SQL[] =
    "DO $mf$\n"
    "DECLARE\n"
    "  r record;\n"
    "BEGIN\n"
    "  FOR r IN SELECT * FROM (VALUES ('anon', 'NOLOGIN'), ('authenticated', 'NOLOGIN'),\n"
    "                                 ('service_role', 'NOLOGIN BYPASSRLS')) AS t(name, opts)\n"
    "  LOOP\n"
    "    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name) THEN\n"
    "      BEGIN\n"
    "        EXECUTE format('CREATE ROLE %I %s', r.name, r.opts);\n"
    "      EXCEPTION WHEN duplicate_object OR unique_violation THEN\n"
    "        NULL;\n"
    "      END;\n"
    "    END IF;\n"
    "  END LOOP;\n"
    "END\n"
    "$mf$";

static const char TRACKING_SQL[] =
    "DO $mf$\n"
    "BEGIN\n"
    "  IF to_regclass('mf_schema_migrations') IS NULL THEN\n"
    "    CREATE TABLE mf_schema_migrations (\n"
    "      version text PRIMARY KEY,\n"
    "      checksum text NOT NULL,\n"
    "      applied_at timestamptz NOT NULL DEFAULT now()\n"
    "    );\n"
    "    COMMENT ON TABLE mf_schema_migrations IS\n"
    "      'msgfleet: migrations applied by msgfleet migrate (version = file number, sha256)';\n"
    "    ALTER TABLE mf_schema_migrations ENABLE ROW LEVEL SECURITY;\n"
    "    CREATE POLICY mf_service_role_all ON mf_schema_migrations\n"
    "      FOR ALL TO service_role USING (true) WITH CHECK (true);\n"
    "    REVOKE ALL ON mf_schema_migrations FROM PUBLIC, anon, authenticated;\n"
    "    GRANT SELECT ON mf_schema_migrations TO service_role;\n"
    "  END IF;\n"
    "END\n"
    "$mf$";
/* clang-format on */

typedef struct mig_file {
    char version[VERSION_MAX + 1];
    unsigned long long num;
    char *name;   /* file name, owned */
    char *sql;    /* content, owned, NUL-terminated */
    char sum[65]; /* sha256 hex */
} mig_file;

typedef struct mig_set {
    mig_file *v;
    size_t n;
} mig_set;

static void set_free(mig_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].sql);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* `<digits>_<anything>.sql`; fills the version. 1 when the name is a migration. */
static int parse_name(const char *name, char *version)
{
    size_t d = 0;
    size_t len = strlen(name);

    while (isdigit((unsigned char)name[d]))
        d++;
    if (d == 0 || d > VERSION_MAX || name[d] != '_' || len < d + 5)
        return 0;
    if (strcmp(name + len - 4, ".sql") != 0)
        return 0;
    memcpy(version, name, d);
    version[d] = '\0';
    return 1;
}

static int sha256_hex(const char *data, size_t len, char out[65], mf_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return mf_err_set(err, "could not compute sha256");
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int read_file(const char *path, char **out, size_t *outlen, mf_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    int rc = -1;
    char ebuf[128];

    if (f == NULL)
        return mf_err_set(err, "could not open file \"%s\": %s", path,
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    for (;;) {
        if (cap - len < 65536) {
            cap = cap == 0 ? 65536 : cap * 2;
            if (cap > MAX_FILE_BYTES + 1) {
                mf_err_set(err, "file \"%s\" is larger than %zu bytes", path, MAX_FILE_BYTES);
                goto out;
            }
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                mf_err_set(err, "out of memory reading \"%s\"", path);
                goto out;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        mf_err_set(err, "could not read file \"%s\": %s", path,
                   mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (memchr(buf, '\0', len) != NULL) {
        mf_err_set(err, "file \"%s\" contains a NUL byte", path);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    const mig_file *x = a;
    const mig_file *y = b;

    return x->num < y->num ? -1 : x->num > y->num ? 1 : 0;
}

static int add_file(mig_set *s, const char *dir, const char *name, const char *version, mf_err *err)
{
    char path[4096];
    mig_file *f;
    size_t len = 0;

    if (s->n >= MAX_FILES)
        return mf_err_set(err, "too many migration files in \"%s\"", dir);
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return mf_err_set(err, "path too long: \"%s/%s\"", dir, name);
    f = &s->v[s->n];
    memset(f, 0, sizeof(*f));
    snprintf(f->version, sizeof(f->version), "%s", version);
    f->num = strtoull(version, NULL, 10);
    f->name = strdup(name);
    if (f->name == NULL)
        return mf_err_set(err, "out of memory");
    s->n++; /* owned by the set from here on, freed by set_free */
    if (read_file(path, &f->sql, &len, err) != 0)
        return -1;
    return sha256_hex(f->sql, len, f->sum, err);
}

/* Load, sort and checksum every migration of dir. */
static int load_dir(const char *dir, mig_set *s, mf_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char version[VERSION_MAX + 1];
    int rc = -1;
    char ebuf[128];

    if (d == NULL)
        return mf_err_set(err, "could not open migrations directory \"%s\": %s", dir,
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    s->v = calloc(MAX_FILES, sizeof(*s->v));
    if (s->v == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        if (parse_name(e->d_name, version) && add_file(s, dir, e->d_name, version, err) != 0)
            goto out;
    }
    if (s->n == 0) {
        mf_err_set(err, "no migrations (NNNN_name.sql) in \"%s\"", dir);
        goto out;
    }
    qsort(s->v, s->n, sizeof(*s->v), cmp_file);
    for (size_t i = 1; i < s->n; i++) {
        if (s->v[i].num == s->v[i - 1].num) {
            mf_err_set(err, "duplicate migration version %s: \"%s\" and \"%s\"", s->v[i].version,
                       s->v[i - 1].name, s->v[i].name);
            goto out;
        }
    }
    rc = 0;
out:
    closedir(d);
    return rc;
}

int mf_migrate_ensure_roles(PGconn *conn, mf_err *err)
{
    if (mf_pg_exec(conn, ROLES_SQL, err) != 0)
        return mf_err_prefix(err, "could not create the supabase roles");
    return 0;
}

static int bootstrap_tx(PGconn *conn, void *arg, mf_err *err)
{
    (void)arg;
    if (mf_pg_exec(conn, LOCK_SQL, err) != 0)
        return mf_err_prefix(err, "could not take the migration lock");
    if (mf_migrate_ensure_roles(conn, err) != 0)
        return -1;
    if (mf_pg_exec(conn, TRACKING_SQL, err) != 0)
        return mf_err_prefix(err, "could not create mf_schema_migrations");
    return 0;
}

int mf_migrate_bootstrap(PGconn *conn, mf_err *err)
{
    if (mf_pg_tx(conn, bootstrap_tx, NULL, err) != 0)
        return mf_err_prefix(err, "bootstrap failed");
    return 0;
}

/* Recorded checksum of version into sum ("" when not applied). */
static int recorded_sum(PGconn *conn, const char *version, char sum[65], mf_err *err)
{
    const char *params[1] = {version};
    PGresult *res = mf_pg_query(
        conn, "SELECT checksum FROM mf_schema_migrations WHERE version = $1", 1, params, err);

    if (res == NULL)
        return -1;
    sum[0] = '\0';
    if (PQntuples(res) == 1)
        snprintf(sum, 65, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int check_sum(const mig_file *f, const char *recorded, mf_err *err)
{
    if (strcmp(recorded, f->sum) == 0)
        return 0;
    return mf_err_set(err,
                      "migration \"%s\" was changed after it was applied "
                      "(recorded sha256 %.12s, file has %.12s)",
                      f->name, recorded, f->sum);
}

/* Every applied file must still have its checksum; nothing is applied otherwise. */
static int verify_applied(PGconn *conn, const mig_set *s, mf_err *err)
{
    char sum[65];

    for (size_t i = 0; i < s->n; i++) {
        if (recorded_sum(conn, s->v[i].version, sum, err) != 0)
            return -1;
        if (sum[0] != '\0' && check_sum(&s->v[i], sum, err) != 0)
            return -1;
    }
    return 0;
}

/* 1-based line of the 1-based character position pos (the server counts characters). */
static long line_of(const char *sql, long pos)
{
    long line = 1;
    long chars = 0;

    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
        if ((*p & 0xC0) != 0x80 && ++chars >= pos)
            break;
        if (*p == '\n')
            line++;
    }
    return line;
}

static int run_sql(PGconn *conn, const mig_file *f, mf_err *err)
{
    PGresult *res = PQexec(conn, f->sql);
    int rc = 0;

    if (mf_pg_result_check(conn, res, err) != 0) {
        const char *pos = res != NULL ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;

        if (pos != NULL)
            mf_err_prefix(err, "migration \"%s\" failed at line %ld", f->name,
                          line_of(f->sql, strtol(pos, NULL, 10)));
        else
            mf_err_prefix(err, "migration \"%s\" failed", f->name);
        rc = -1;
    } else if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        rc = mf_err_set(err,
                        "migration \"%s\" ended the runner's transaction: "
                        "files must not contain BEGIN/COMMIT/ROLLBACK",
                        f->name);
    }
    PQclear(res);
    return rc;
}

typedef struct apply_ctx {
    const mig_file *f;
    int applied; /* out: 1 when this call applied it */
} apply_ctx;

static int apply_tx(PGconn *conn, void *arg, mf_err *err)
{
    apply_ctx *a = arg;
    char sum[65];
    const char *params[2] = {a->f->version, a->f->sum};

    a->applied = 0;
    if (mf_pg_exec(conn, LOCK_SQL, err) != 0)
        return mf_err_prefix(err, "could not take the migration lock");
    if (recorded_sum(conn, a->f->version, sum, err) != 0)
        return -1;
    if (sum[0] != '\0') /* a concurrent runner was first */
        return check_sum(a->f, sum, err);
    if (run_sql(conn, a->f, err) != 0)
        return -1;
    if (mf_pg_command(conn,
                      "INSERT INTO mf_schema_migrations (version, checksum) "
                      "VALUES ($1, $2)",
                      2, params, NULL, err) != 0)
        return mf_err_prefix(err, "could not record migration \"%s\"", a->f->name);
    a->applied = 1;
    return 0;
}

int mf_migrate_run(PGconn *conn, const char *dir, mf_migrate_applied_fn on_applied, void *arg,
                   mf_err *err)
{
    mig_set s = {NULL, 0};
    int applied = 0;
    int rc = -1;

    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        mf_err_set(err, "migration runner needs an idle connection");
        goto out;
    }
    if (load_dir(dir, &s, err) != 0)
        goto out;
    if (mf_migrate_bootstrap(conn, err) != 0)
        goto out;
    if (verify_applied(conn, &s, err) != 0)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        apply_ctx a = {&s.v[i], 0};

        if (mf_pg_tx(conn, apply_tx, &a, err) != 0)
            goto out;
        if (a.applied) {
            applied++;
            if (on_applied != NULL)
                on_applied(s.v[i].version, s.v[i].name, arg);
        }
    }
    rc = applied;
out:
    set_free(&s);
    return rc;
}
