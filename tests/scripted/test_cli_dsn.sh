#!/bin/sh
# test_cli_dsn: the CLI takes its database from MF_PG_DSN or MF_PG_DSN_FILE, never from the
# command line (argv is readable by every local user through ps and /proc):
# 1. `--dsn` is refused by every subcommand (exit 2), without echoing the value;
# 2. `msgfleet migrate` migrates a fresh database named only by MF_PG_DSN_FILE (a 0600 file);
# 3. a DSN file that others may read gets a warning naming it (never its content).
# Needs MF_SOURCE_DIR, MF_BUILD_DIR (set by ctest) and the local stack's PostgreSQL.
set -eu

: "${MF_SOURCE_DIR:?MF_SOURCE_DIR must name the source tree}"
: "${MF_BUILD_DIR:?MF_BUILD_DIR must name the build tree}"
. "$MF_SOURCE_DIR/scripts/env.sh"
CLI="$MF_BUILD_DIR/tools/msgfleet/msgfleet"

fail() { printf 'test_cli_dsn: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'test_cli_dsn: %s\n' "$*"; }

[ -x "$CLI" ] || fail "$CLI not built (ninja -C $MF_BUILD_DIR)"
command -v psql >/dev/null 2>&1 || fail "psql not found (scripts/deps.sh)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_cli_dsn.XXXXXX")
DB="mf_cli_dsn_$$"
cleanup() {
  psql "$MF_PG_DSN" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# 1. --dsn refused everywhere, the value never printed
for cmd in "migrate" "run wf" "watch 00000000-0000-0000-0000-000000000000" \
           "summary 00000000-0000-0000-0000-000000000000" \
           "replay 00000000-0000-0000-0000-000000000000" \
           "cancel 00000000-0000-0000-0000-000000000000" "pause wf" "resume wf" \
           "webhook-secret 00000000-0000-0000-0000-000000000000"; do
  rc=0
  # shellcheck disable=SC2086
  "$CLI" $cmd --dsn "host=127.0.0.1 password=pw9secret" >"$TMP/out" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "msgfleet $cmd --dsn: exit $rc, want 2: $(cat "$TMP/out")"
  grep -q -- '--dsn is not accepted' "$TMP/out" || fail "msgfleet $cmd --dsn: $(cat "$TMP/out")"
  if grep -q pw9secret "$TMP/out"; then fail "msgfleet $cmd echoed the DSN: $(cat "$TMP/out")"; fi
done
say "--dsn refused by migrate, run, watch, summary, replay, cancel, pause, resume and webhook-secret"

# 2. migrate from MF_PG_DSN_FILE alone
psql "$MF_PG_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null ||
  fail "could not create database $DB on $MF_PG_DSN (is the stack running?)"
umask 077
printf '%s dbname=%s\n' "$MF_PG_DSN" "$DB" >"$TMP/dsn"
env -u MF_PG_DSN MF_PG_DSN_FILE="$TMP/dsn" "$CLI" migrate >"$TMP/out" 2>&1 ||
  fail "msgfleet migrate with MF_PG_DSN_FILE failed: $(cat "$TMP/out")"
grep -q '^applied 0001' "$TMP/out" || fail "migrate applied nothing: $(cat "$TMP/out")"
env -u MF_PG_DSN MF_PG_DSN_FILE="$TMP/dsn" "$CLI" migrate >"$TMP/out" 2>&1 ||
  fail "second msgfleet migrate failed: $(cat "$TMP/out")"
grep -q '^up to date' "$TMP/out" || fail "second migrate: $(cat "$TMP/out")"
say "migrate reads MF_PG_DSN_FILE"
grep -q warning "$TMP/out" && fail "warning for a 0600 DSN file: $(cat "$TMP/out")"

# 3. a world-readable DSN file: warned about, still used
chmod 0644 "$TMP/dsn"
env -u MF_PG_DSN MF_PG_DSN_FILE="$TMP/dsn" "$CLI" migrate >"$TMP/out" 2>&1 ||
  fail "msgfleet migrate with a 0644 MF_PG_DSN_FILE failed: $(cat "$TMP/out")"
grep -q "warning: secret file MF_PG_DSN_FILE \"$TMP/dsn\" is readable by every user" "$TMP/out" ||
  fail "no warning for a world-readable DSN file: $(cat "$TMP/out")"
if grep -q "$DB" "$TMP/out"; then fail "the warning shows the DSN: $(cat "$TMP/out")"; fi
say "a world-readable MF_PG_DSN_FILE is warned about"
