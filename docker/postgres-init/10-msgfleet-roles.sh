#!/bin/sh
# 10-msgfleet-roles: the PostgreSQL roles of docker-compose.yml, created on the first start of
# an empty data volume (the postgres image runs /docker-entrypoint-initdb.d/* as its superuser).
#
#   msgfleet_owner  owns the database and everything the migrations create; `msgfleet migrate`
#                   connects as it. Not a superuser, cannot create roles or databases.
#   msgfleet        the fleet's daemons: connect, temporary tables (the reporter's staging
#                   table), and SELECT/INSERT/UPDATE/DELETE on the tables, USAGE on the
#                   sequences and EXECUTE on the functions msgfleet_owner creates. BYPASSRLS
#                   (the fleet reads and writes every run), nothing else: not a superuser, no
#                   DDL, cannot create roles or databases.
#   anon, authenticated, service_role  the Supabase roles the migrations refer to, created here
#                   when missing (service_role's BYPASSRLS needs a superuser).
#
# The passwords come from the secret files pg_owner_password and pg_fleet_password (readable by
# the container's postgres user, uid 999); the same passwords go into the DSN files
# pg_migrate_dsn and pg_fleet_dsn that migrate and the daemons read (docs/operations.md,
# "Docker Compose"). tests/scripted/test_pg_roles.sh runs this script against the local stack
# with other role names (MF_PG_OWNER_ROLE, MF_PG_FLEET_ROLE) and password files.
set -eu
owner_role=${MF_PG_OWNER_ROLE:-msgfleet_owner}
fleet_role=${MF_PG_FLEET_ROLE:-msgfleet}
owner_pw=$(cat "${MF_PG_OWNER_PASSWORD_FILE:-/run/secrets/pg_owner_password}")
fleet_pw=$(cat "${MF_PG_FLEET_PASSWORD_FILE:-/run/secrets/pg_fleet_password}")
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="$owner_role" -v fleet="$fleet_role" -v owner_pw="$owner_pw" -v fleet_pw="$fleet_pw" \
  -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', r) FROM unnest(ARRAY['anon', 'authenticated']) r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT 'CREATE ROLE service_role NOLOGIN BYPASSRLS'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') \gexec
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_pw';
CREATE ROLE :"fleet" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS
  PASSWORD :'fleet_pw';
-- the owner of the database owns its public schema (pg_database_owner, PostgreSQL 15)
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"fleet";
GRANT USAGE ON SCHEMA public TO :"fleet";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"fleet";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"fleet";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT EXECUTE ON FUNCTIONS TO :"fleet";
SQL
unset owner_pw fleet_pw
