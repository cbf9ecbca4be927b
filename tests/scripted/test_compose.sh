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
# 4. Hardening, on every service: no-new-privileges, cap_drop ALL (only the two database
#    servers add capabilities back), a memory limit; a read-only root filesystem on the
#    fleet's services and the relays; secrets only through files (no variable named like a
#    password, secret, token, API key or DSN unless it is <NAME>_FILE, no value holding
#    "password="); PostgreSQL's superuser is not the fleet's: the fleet and migrate read their
#    DSNs from secret files and the init script creates both roles NOSUPERUSER.
#    Kafka: the daemons use TLS (MF_KAFKA_SECURITY_PROTOCOL ssl or sasl_ssl); the broker's
#    PLAINTEXT and CONTROLLER listeners bind the container's loopback only.
#    The Dockerfile's runtime stage runs as a numeric non-root user and sets no secret.
# 5. Self-checks: the same check on copies with an invented sender variable, with a service
#    that may gain privileges and with a plain-text DSN must fail.
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
# addresses, which would otherwise be interpolated): the file needs nothing from an env file.
compose() {
  env -i PATH="$PATH" HOME="$TMP" COMPOSE_PROJECT_NAME=msgfleet-compose-test \
    docker-compose "$@"
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

# Hardening of every service (fleet image or not).
import re
SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|_DSN)$")
for name, svc in sorted(doc.get("services", {}).items()):
    image = str(svc.get("image", ""))
    def bad(msg):
        print("!\t%s\t%s" % (name, msg))
    opts = [str(o).replace(" ", "") for o in svc.get("security_opt") or []]
    if "no-new-privileges:true" not in opts:
        bad("no security_opt no-new-privileges:true")
    if "ALL" not in [str(c).upper() for c in svc.get("cap_drop") or []]:
        bad("cap_drop does not drop ALL")
    added = [str(c).upper() for c in svc.get("cap_add") or []]
    if added and not image.startswith(("postgres:", "mariadb:")):
        bad("cap_add on a service that is not a database server: %s" % added)
    if "SYS_ADMIN" in added or "ALL" in added:
        bad("cap_add %s" % added)
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not svc.get("mem_limit") and not limits.get("memory"):
        bad("no memory limit (mem_limit)")
    if image.startswith(("msgfleet:", "msgfleet-sim-relay:")) and svc.get("read_only") is not True:
        bad("root filesystem not read-only (read_only: true)")
    if svc.get("privileged"):
        bad("privileged")
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    for var, val in sorted(env.items()):
        if SECRETISH.search(var) and not var.endswith("_FILE"):
            bad("%s is a secret in the environment: pass it as %s_FILE" % (var, var))
        if "password=" in str(val).lower():
            bad("%s holds a password" % var)
    if image.startswith("postgres:") and env.get("POSTGRES_USER") in (None, "", "msgfleet",
                                                                      "msgfleet_owner"):
        bad("POSTGRES_USER (the superuser) must not be a fleet role")
    if image.startswith("msgfleet:"):
        cmd = svc.get("command") or [""]
        prog = (cmd if isinstance(cmd, list) else cmd.split())[0]
        want = {"msgfleet-planner": "pg_fleet_dsn", "msgfleet-sender": "pg_fleet_dsn",
                "msgfleet-reporter": "pg_fleet_dsn", "msgfleet": "pg_migrate_dsn"}.get(prog)
        if want and env.get("MF_PG_DSN_FILE") != "/run/secrets/" + want:
            bad("MF_PG_DSN_FILE is not /run/secrets/%s" % want)
        if prog in ("msgfleet-planner", "msgfleet-sender", "msgfleet-reporter") and \
                env.get("MF_KAFKA_SECURITY_PROTOCOL") not in ("ssl", "sasl_ssl"):
            bad("Kafka without TLS (MF_KAFKA_SECURITY_PROTOCOL is %s)"
                % env.get("MF_KAFKA_SECURITY_PROTOCOL", "unset: plaintext"))
    # The reporter's spool of held results must be on a volume: a file in the container's
    # tmpfs is memory and counts against its mem_limit.
    if image.startswith("msgfleet:") and prog == "msgfleet-reporter":
        hold = env.get("MF_REPORTER_HOLD_DIR", "/tmp")
        targets = []
        for v in svc.get("volumes") or []:
            if isinstance(v, dict):
                if v.get("type", "volume") in ("volume", "bind"):
                    targets.append(str(v.get("target", "")))
            elif ":" in str(v):
                targets.append(str(v).split(":")[1])
        if hold not in targets:
            bad("MF_REPORTER_HOLD_DIR (%s) is not a volume's mount point" % hold)
    if image.startswith("apache/kafka:"):
        for l in str(env.get("KAFKA_LISTENERS", "")).split(","):
            proto, _, addr = l.strip().partition("://")
            if proto in ("PLAINTEXT", "CONTROLLER") and \
                    not addr.startswith(("localhost:", "127.0.0.1:")):
                bad("Kafka listener %s is reachable from the network without TLS" % l.strip())
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

# The image: its last stage (the runtime) runs as a numeric non-root user and bakes no secret.
DOCKERFILE="$MF_SOURCE_DIR/Dockerfile"
[ -f "$DOCKERFILE" ] || fail "$DOCKERFILE missing"
last_user=$(awk '/^FROM /{u=""} /^USER /{u=$2} END{print u}' "$DOCKERFILE")
case "$last_user" in
  ''|0|0:*|root|root:*) fail "the runtime stage of the Dockerfile runs as root (USER \"$last_user\")" ;;
  *[!0-9:]*) fail "the runtime stage's USER should be numeric (uid:gid), is \"$last_user\"" ;;
esac
if grep -Eiq '^(ENV|ARG) .*(PASSWORD|SECRET|TOKEN|API_KEY)' "$DOCKERFILE"; then
  fail "the Dockerfile sets a secret-like ENV or ARG"
fi

# The roles the postgres service's init script creates: neither may be a superuser.
INIT="$MF_SOURCE_DIR/docker/postgres-init/10-msgfleet-roles.sh"
[ -f "$INIT" ] || fail "$INIT missing"
grep -q '/docker-entrypoint-initdb.d/10-msgfleet-roles.sh' "$COMPOSE_FILE" ||
  fail "the postgres service does not mount $INIT"
for role in owner fleet; do
  grep -q "^CREATE ROLE :\"$role\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" "$INIT" ||
    fail "$INIT does not create the $role role NOSUPERUSER NOCREATEDB NOCREATEROLE"
done
if grep -v '^#' "$INIT" | grep -i 'superuser' | grep -vqi 'nosuperuser'; then
  fail "$INIT grants SUPERUSER"
fi

check "$COMPOSE_FILE" || fail "docker-compose.yml does not match the programs (see above; reference: docs/config.md)"
for svc in planner sender reporter migrate; do
  grep -q "^$svc$(printf '\t')" "$TMP/vars" || fail "service $svc missing from docker-compose.yml"
done
nvars=$(grep -vc "$(printf '\t')-\$" "$TMP/vars" || true)
say "docker-compose.yml valid; $nvars variables on $(cut -f1 "$TMP/vars" | sort -u | wc -l) fleet services, all known; daemon health checks on MF_HTTP_PORT; every service hardened"

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

# Self-checks of the hardening: a sender that may gain privileges, a plain-text DSN.
python3 - "$COMPOSE_FILE" "$TMP/weak.yml" <<'EOF' || fail "self-check: could not write the weakened copy"
import sys
out, in_sender = [], False
for l in open(sys.argv[1]).read().split("\n"):
    if l.startswith("  ") and not l.startswith("   ") and l.strip().endswith(":"):
        in_sender = l.strip() == "sender:"
    if in_sender and l.strip() == "security_opt: *no-new-privileges":
        continue
    if l.strip() == "MF_KAFKA_SECURITY_PROTOCOL: sasl_ssl":
        continue
    out.append(l)
    if in_sender and l.strip() == "MF_SENDER_GROUP: msgfleet-sender":
        out.append(l[: len(l) - len(l.lstrip())] + 'MF_PG_DSN: "host=postgres password=x"')
open(sys.argv[2], "w").write("\n".join(out))
EOF
if check "$TMP/weak.yml" "$MF_SOURCE_DIR" 2>"$TMP/weak.err"; then
  fail "self-check: a weakened sender service was not detected"
fi
grep -q 'service sender: no security_opt no-new-privileges' "$TMP/weak.err" ||
  fail "self-check: a service without no-new-privileges was not named: $(cat "$TMP/weak.err")"
grep -q 'service sender: MF_PG_DSN is a secret in the environment' "$TMP/weak.err" ||
  fail "self-check: a plain-text DSN was not named: $(cat "$TMP/weak.err")"
grep -q 'service sender: Kafka without TLS' "$TMP/weak.err" ||
  fail "self-check: a daemon reaching Kafka without TLS was not named: $(cat "$TMP/weak.err")"
say "self-check: a service without no-new-privileges, a secret in the environment and Kafka without TLS are reported"
