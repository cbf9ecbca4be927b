#!/bin/sh
# test_compose: docker-compose.yml is valid and sets only variables its programs know.
#
# 1. `docker-compose config -q` validates the file (Debian package docker-compose).
# 2. Every environment variable set on a service that runs the msgfleet image must be a
#    configuration key of the program it runs: the daemons' keys come from their
#    `--config-doc` tables (first column; a secret key also allows <KEY>_FILE), the CLI's from
#    the MF_* variables its sources read, the simulator's from `coolsms-sim --help` and
#    `--print-docs`. A misspelt, retired or invented variable fails, naming it.
# 3. Each daemon's health check calls /healthz on its own MF_HTTP_PORT.
# 4. Self-check: the same check on a copy with an invented sender variable must fail.
#
# Needs MF_SOURCE_DIR and MF_BUILD_DIR (set by ctest).
set -eu

: "${MF_SOURCE_DIR:?MF_SOURCE_DIR must name the source tree}"
: "${MF_BUILD_DIR:?MF_BUILD_DIR must name the build tree}"
COMPOSE_FILE="$MF_SOURCE_DIR/docker-compose.yml"

fail() { printf 'test_compose: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'test_compose: %s\n' "$*"; }

command -v docker-compose >/dev/null 2>&1 ||
  fail "docker-compose not found: install the Debian package docker-compose (scripts/deps.sh does)"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"
python3 -c 'import yaml' 2>/dev/null ||
  fail "python3 module yaml missing (Debian package python3-yaml, a docker-compose dependency)"
[ -f "$COMPOSE_FILE" ] || fail "$COMPOSE_FILE missing"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_compose.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# docker-compose runs in a clean environment (the test runner exports the local stack's MF_*
# addresses, which would otherwise be interpolated), with dummies for what the file requires
# from the operator's env file.
compose() {
  env -i PATH="$PATH" HOME="$TMP" COMPOSE_PROJECT_NAME=msgfleet-compose-test \
    MF_PG_PASSWORD=compose-test-password docker-compose "$@"
}

# ---------------------------------------------------------------- known keys per program
# keys_from_doc BINARY OUT: the first column of `BINARY --config-doc`, plus NAME_FILE for secrets.
keys_from_doc() {
  [ -x "$1" ] || fail "$1 not built (ninja -C $MF_BUILD_DIR)"
  "$1" --config-doc >"$TMP/doc.md" || fail "$1 --config-doc failed"
  awk -F'|' '/^\| `MF_/ {
      name = $2; type = $3
      gsub(/[ `]/, "", name); gsub(/ /, "", type)
      print name
      if (type == "secret") print name "_FILE"
    }' "$TMP/doc.md" >"$2"
  [ -s "$2" ] || fail "no keys in the --config-doc output of $1"
}

keys_from_doc "$MF_BUILD_DIR/planner/msgfleet-planner" "$TMP/keys.msgfleet-planner"
keys_from_doc "$MF_BUILD_DIR/sender/msgfleet-sender" "$TMP/keys.msgfleet-sender"
keys_from_doc "$MF_BUILD_DIR/reporter/msgfleet-reporter" "$TMP/keys.msgfleet-reporter"

# The CLI reads MF_PG_DSN or MF_PG_DSN_FILE through mf_config, a few more with getenv.
{
  echo MF_PG_DSN
  echo MF_PG_DSN_FILE
  grep -ho 'getenv("MF_[A-Z0-9_]*")' "$MF_SOURCE_DIR"/tools/msgfleet/*.c |
    sed 's/getenv("\(.*\)")/\1/'
} | sort -u >"$TMP/keys.msgfleet"

SIM="$MF_BUILD_DIR/tools/coolsms-sim/coolsms-sim"
[ -x "$SIM" ] || fail "$SIM not built (ninja -C $MF_BUILD_DIR)"
{ "$SIM" --help 2>&1 || true; "$SIM" --print-docs; } |
  grep -o 'MF_SIM_[A-Z0-9_]*[A-Z0-9]' | sort -u >"$TMP/keys.coolsms-sim"
grep -qx MF_SIM_LATENCY_MS "$TMP/keys.coolsms-sim" ||
  fail "could not read the simulator's variables from $SIM --help/--print-docs"

# ---------------------------------------------------------------- the check
# check FILE [PROJECT_DIR]: validate FILE, then print "service<TAB>program<TAB>VAR" for
# every variable of an msgfleet-image service into $TMP/vars and compare. Returns 1 when a
# variable is unknown (each one printed), 0 when all are known.
check() {
  dir=${2:-$(dirname "$1")}
  compose -f "$1" --project-directory "$dir" config -q ||
    fail "docker-compose config -q rejected $1"
  compose -f "$1" --project-directory "$dir" config >"$TMP/resolved.yml" ||
    fail "docker-compose config failed on $1"
  python3 - "$TMP/resolved.yml" >"$TMP/vars" <<'EOF' || fail "could not read the resolved compose file"
import sys, yaml

with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
for name, svc in sorted(doc.get("services", {}).items()):
    if not str(svc.get("image", "")).startswith("msgfleet:"):
        continue
    cmd = svc.get("command") or []
    if isinstance(cmd, str):
        cmd = cmd.split()
    entry = svc.get("entrypoint") or []
    if isinstance(entry, str):
        entry = entry.split()
    words = " ".join(list(entry) + list(cmd))
    if "coolsms-sim" in words and not cmd[0].startswith("msgfleet"):
        prog = "coolsms-sim"
    elif cmd:
        prog = cmd[0].rsplit("/", 1)[-1]
    else:
        prog = "(none)"
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    if not env:
        print("%s\t%s\t-" % (name, prog))
    # A daemon's health check must ask its own /healthz port.
    if prog in ("msgfleet-planner", "msgfleet-sender", "msgfleet-reporter"):
        test = " ".join(str(t) for t in (svc.get("healthcheck") or {}).get("test") or [])
        want = "127.0.0.1:%s/healthz" % env.get("MF_HTTP_PORT", "?")
        if "MF_HTTP_PORT" not in env or want not in test:
            print("!\t%s\thealth check does not call %s (MF_HTTP_PORT): %s" % (name, want, test))
    for var in sorted(env):
        print("%s\t%s\t%s" % (name, prog, var))
EOF
  [ -s "$TMP/vars" ] || fail "no msgfleet services found in $1"
  bad=0
  tab=$(printf '\t')
  while IFS="$tab" read -r svc prog var; do
    if [ "$svc" = ! ]; then
      printf 'test_compose: service %s: %s\n' "$prog" "$var" >&2
      bad=1
      continue
    fi
    [ -f "$TMP/keys.$prog" ] || {
      printf 'test_compose: service %s runs "%s", which has no key list\n' "$svc" "$prog" >&2
      bad=1
      continue
    }
    [ "$var" = - ] && continue
    if ! grep -qx "$var" "$TMP/keys.$prog"; then
      printf 'test_compose: service %s sets %s, which %s does not know\n' "$svc" "$var" "$prog" >&2
      bad=1
    fi
  done <"$TMP/vars"
  return "$bad"
}

check "$COMPOSE_FILE" || fail "docker-compose.yml does not match the programs (see above; reference: docs/config.md)"
for svc in planner sender reporter migrate; do
  grep -q "^$svc$(printf '\t')" "$TMP/vars" || fail "service $svc missing from docker-compose.yml"
done
nvars=$(grep -vc "$(printf '\t')-\$" "$TMP/vars" || true)
say "docker-compose.yml valid; $nvars variables on $(cut -f1 "$TMP/vars" | sort -u | wc -l) fleet services, all known; daemon health checks on MF_HTTP_PORT"

# Self-check: an invented variable on the sender must be caught.
sed 's/^\( *\)MF_SENDER_GROUP: .*/&\
\1MF_SENDER_BOGUS_KNOB: "1"/' "$COMPOSE_FILE" >"$TMP/bogus.yml"
grep -q MF_SENDER_BOGUS_KNOB "$TMP/bogus.yml" || fail "self-check: could not inject a variable"
if check "$TMP/bogus.yml" "$MF_SOURCE_DIR" 2>"$TMP/bogus.err"; then
  fail "self-check: an unknown variable (MF_SENDER_BOGUS_KNOB) was not detected"
fi
grep -q 'service sender sets MF_SENDER_BOGUS_KNOB' "$TMP/bogus.err" ||
  fail "self-check: the failure did not name the unknown variable: $(cat "$TMP/bogus.err")"
say "self-check: an invented variable is reported"
