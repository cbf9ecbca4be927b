/* mf_migrate: apply schemas/pg/NNNN_*.sql in order, once each, safely under concurrency. */
#ifndef MF_MIGRATE_H
#define MF_MIGRATE_H

#include <libpq-fe.h>

#include "mf_err.h"

/*
 * Migration files are `<digits>_<name>.sql` in one directory; the digits are the version
 * (recorded in mf_schema_migrations(version, checksum, applied_at)), applied in numeric order.
 * Other files are ignored; two files with the same version are an error. Each file runs with
 * the simple query protocol (PQexec: several statements, `$$` bodies) inside its own transaction,
 * so it must not contain BEGIN/COMMIT or CREATE INDEX CONCURRENTLY.
 *
 * Concurrency: every transaction of the runner takes pg_advisory_xact_lock(MF_MIGRATE_LOCK_KEY)
 * first (transaction-scoped: works through a transaction-mode pooler), and re-checks the
 * version under the lock, so concurrent runners never apply a file twice.
 */
#define MF_MIGRATE_LOCK_KEY "7883108497233174900"

/* Called after each migration is committed. */
typedef void (*mf_migrate_applied_fn)(const char *version, const char *file, void *arg);

/*
 * Create the Supabase roles if missing (plain PostgreSQL): anon and authenticated NOLOGIN,
 * service_role NOLOGIN BYPASSRLS. A no-op where they exist (Supabase). Safe against concurrent
 * callers on any database of the cluster. Needs CREATEROLE (and superuser for BYPASSRLS) only
 * when a role is actually missing. 0 or -1 with err.
 */
int mf_migrate_ensure_roles(PGconn *conn, mf_err *err);

/*
 * The bootstrap: mf_migrate_ensure_roles plus the mf_schema_migrations table (RLS on, nothing
 * granted to anon/authenticated). Idempotent; mf_migrate_run calls it first. 0 or -1 with err.
 */
int mf_migrate_bootstrap(PGconn *conn, mf_err *err);

/*
 * Bootstrap, then apply every migration of dir that is not yet recorded, in order.
 * Before applying anything, verifies that each already applied file still has its recorded
 * checksum (sha256 of the file): a changed file is an error naming it and nothing is applied.
 * A failing file is rolled back (nothing of it stays) and reported with its name and line.
 * on_applied (optional) is called after each commit. conn must be idle (no open transaction).
 * Returns the number of migrations applied by this call (0 = up to date) or -1 with err.
 */
int mf_migrate_run(PGconn *conn, const char *dir, mf_migrate_applied_fn on_applied, void *arg,
                   mf_err *err);

#endif
