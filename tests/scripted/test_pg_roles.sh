#!/bin/sh
# test_pg_roles: the PostgreSQL roles docker-compose.yml creates (docker/postgres-init/
# 10-msgfleet-roles.sh), tried on the local stack under unique names in a throwaway database:
# the owner role, no superuser, applies every migration (`msgfleet migrate`, DSN from the
# environment); the fleet role is no superuser, bypasses RLS, reads and writes the tables,
# the views and a temporary table, and can change no schema, role or database.
# Needs MF_SOURCE_DIR, MF_BUILD_DIR (set by ctest) and the local stack's PostgreSQL (its
# MF_PG_DSN is a superuser).
set -eu

: "${MF_SOURCE_DIR:?MF_SOURCE_DIR must name the source tree}"
: "${MF_BUILD_DIR:?MF_BUILD_DIR must name the build tree}"
. "$MF_SOURCE_DIR/scripts/env.sh"
CLI="$MF_BUILD_DIR/tools/msgfleet/msgfleet"
INIT="$MF_SOURCE_DIR/docker/postgres-init/10-msgfleet-roles.sh"

fail() { printf 'test_pg_roles: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'test_pg_roles: %s\n' "$*"; }

[ -x "$CLI" ] || fail "$CLI not built (ninja -C $MF_BUILD_DIR)"
[ -f "$INIT" ] || fail "$INIT missing"
command -v psql >/dev/null 2>&1 || fail "psql not found (scripts/deps.sh)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_pg_roles.XXXXXX")
TAG="$$_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
DB="mf_roles_$TAG"
OWNER="mf_t_owner_$TAG"
FLEET="mf_t_fleet_$TAG"
SUPER=$(psql "$MF_PG_DSN" -X -At -c 'SELECT current_user') ||
  fail "PostgreSQL at $MF_PG_DSN is not reachable (is the stack running?)"
cleanup() {
  psql "$MF_PG_DSN" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  psql "$MF_PG_DSN" -X -q -c "DROP ROLE IF EXISTS $FLEET" -c "DROP ROLE IF EXISTS $OWNER" \
    >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

umask 077
openssl rand -hex 16 >"$TMP/owner_pw"
openssl rand -hex 16 >"$TMP/fleet_pw"
psql "$MF_PG_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null ||
  fail "could not create database $DB"

# the init script exactly as the postgres image runs it, with this test's names
PGHOST=127.0.0.1 PGPORT="$MF_PG_PORT" POSTGRES_USER="$SUPER" POSTGRES_DB="$DB" \
  MF_PG_OWNER_ROLE="$OWNER" MF_PG_FLEET_ROLE="$FLEET" \
  MF_PG_OWNER_PASSWORD_FILE="$TMP/owner_pw" MF_PG_FLEET_PASSWORD_FILE="$TMP/fleet_pw" \
  sh "$INIT" >"$TMP/init.out" 2>&1 || fail "$INIT failed: $(cat "$TMP/init.out")"

base="host=127.0.0.1 port=$MF_PG_PORT dbname=$DB"
OWNER_DSN="$base user=$OWNER password=$(cat "$TMP/owner_pw")"
FLEET_DSN="$base user=$FLEET password=$(cat "$TMP/fleet_pw")"

# 1. the owner applies every migration without being a superuser
env MF_PG_DSN="$OWNER_DSN" "$CLI" migrate >"$TMP/migrate.out" 2>&1 ||
  fail "msgfleet migrate as $OWNER failed: $(cat "$TMP/migrate.out")"
grep -q '^applied 0001' "$TMP/migrate.out" || fail "nothing applied: $(cat "$TMP/migrate.out")"
say "the owner role (no superuser) applied $(grep -c '^applied' "$TMP/migrate.out") migrations"

# 2. the fleet role: attributes, then what the daemons do
fleet_sql() { PGPASSWORD= psql "$FLEET_DSN" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
got=$(fleet_sql -c "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles
                     WHERE rolname = current_user") || fail "cannot connect as $FLEET"
[ "$got" = "f|t|f|f" ] || fail "$FLEET attributes (super|bypassrls|createrole|createdb): $got"
fleet_sql >"$TMP/dml.out" 2>&1 <<'SQL' || fail "the fleet role cannot do its work: $(cat "$TMP/dml.out")"
INSERT INTO message_templates (name, category, message_type, content)
  VALUES ('t', 'notification', 'sms', 'hi');
INSERT INTO workflows (name, status, trigger_type) VALUES ('w', 'active', 'manual');
INSERT INTO workflow_runs (workflow_id, status, trigger_type)
  SELECT id, 'running', 'manual' FROM workflows;
UPDATE workflow_runs SET planner_owner = 'p', planner_attempts = planner_attempts + 1;
UPDATE workflows SET next_run_at = now();
SELECT count(*) FROM workflow_summary;
SELECT count(*) FROM daily_stats_summary;
SELECT count(*) FROM mf_job_claims;
BEGIN;
CREATE TEMP TABLE stage (a int) ON COMMIT DROP;
INSERT INTO stage VALUES (1);
TRUNCATE stage;
COMMIT;
DELETE FROM workflow_runs;
SQL
say "the fleet role (no superuser, BYPASSRLS) writes runs and workflows, reads the views, uses a temporary table"

# 3. ... and can change nothing else
for stmt in "CREATE TABLE mf_t_evil (a int)" "ALTER TABLE workflow_runs ADD COLUMN evil int" \
            "DROP TABLE message_logs" "CREATE ROLE mf_t_evil_$TAG" "CREATE DATABASE mf_t_evil_$TAG" \
            "ALTER ROLE $FLEET SUPERUSER" "TRUNCATE message_logs"; do
  if fleet_sql -c "$stmt" >"$TMP/evil.out" 2>&1; then
    fail "the fleet role may: $stmt"
  fi
  grep -qi 'permission denied\|must be owner\|must be superuser\|only roles with' "$TMP/evil.out" ||
    fail "$stmt failed for another reason: $(cat "$TMP/evil.out")"
done
say "the fleet role can create, alter, drop or truncate nothing and create no role or database"
