#!/usr/bin/env bash
# deps.sh: install what a fresh Debian 12 machine needs to build msgfleet and run its local stack.
#
# Idempotent: when every Debian package is already installed apt is not touched at all, the
# Kafka jars are fetched only when missing, and the Node.js packages only when node_modules does
# not match the committed package-lock.json. Needs root (or sudo) only when something is missing.
# Installing the database servers never leaves their system services running on the default
# ports: the local stack (scripts/stack.sh) runs its own instances on its own ports.
set -euo pipefail

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

KAFKA_VERSION=3.9.1
KAFKA_LIBS="$MF_STACK_DIR/kafka/libs"

# Debian packages: build tool chain, client libraries the fleet links, the servers of the local
# stack, and the tools scripts and tests call (gnuplot for benchmark plots, promtool to check
# the metrics text format, clang-format for scripts/format_check.sh, clang-tidy's static
# analyzer for scripts/analyze.sh).
PACKAGES=(
  build-essential cmake ninja-build pkg-config clang-format clang-tidy
  librdkafka-dev libpq-dev default-libmysqlclient-dev libmariadb-dev libcurl4-openssl-dev
  libmsgpack-dev libcmocka-dev libmicrohttpd-dev libjansson-dev libyajl-dev libssl-dev
  postgresql-15 postgresql-client mariadb-server mariadb-client pgbouncer
  gnuplot-nox prometheus docker-compose python3 curl procps kcat openssl
)

# Node.js projects installed from their committed package-lock.json (npm ci, exact versions):
# the official CoolSMS/SOLAPI SDK for the contract test and the benchmark's peer.
NODE_PROJECTS=(tests/contract bench/peer)

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
  local p status
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
      *" installed") ;;
      *) printf '%s\n' "$p" ;;
    esac
  done
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (run this script as root or install sudo)"
  fi
}

# Stop a system service that a package may have started on a default port (5432, 3306, 6432,
# 9090). Best effort: containers have no init system, so fall back to the daemons' own tools.
stop_system_services() {
  local ver cluster
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver cluster _ status _; do
      if [ "$status" = online ]; then
        say "stopping system postgresql cluster $ver/$cluster (the stack runs its own)"
        as_root pg_ctlcluster "$ver" "$cluster" stop -m fast || true
      fi
    done
  fi
  local svc
  for svc in mariadb pgbouncer prometheus; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      if systemctl is-active --quiet "$svc" 2>/dev/null; then
        say "stopping system service $svc (the stack runs its own)"
        as_root systemctl stop "$svc" || true
        as_root systemctl disable "$svc" >/dev/null 2>&1 || true
      fi
    elif [ -x "/etc/init.d/$svc" ] && as_root "/etc/init.d/$svc" status >/dev/null 2>&1; then
      say "stopping system service $svc (the stack runs its own)"
      as_root "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  if [ -z "$missing" ]; then
    say "all ${#PACKAGES[@]} Debian packages already installed"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing//$'\n'/ }"
  say "installing Debian packages: ${missing//$'\n'/ }"

  # Keep maintainer scripts from starting services (postgresql, mariadb, pgbouncer,
  # prometheus) while they install. An existing policy-rc.d is left as it is.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    added_policy=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1 apt-get update -q || rc=$?
  if [ "$rc" -eq 0 ]; then
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1 apt-get install -y -q --no-install-recommends \
      $missing || rc=$?
  fi
  if [ "$added_policy" -eq 1 ]; then
    as_root rm -f "$policy"
  fi
  [ "$rc" -eq 0 ] || die "apt-get failed (exit $rc)"
  stop_system_services
  missing=$(missing_packages)
  [ -z "$missing" ] || die "packages still missing after apt-get: ${missing//$'\n'/ }"
  say "Debian packages installed"
}

check_tools() {
  local t
  for t in java mvn cmake ninja gcc; do
    command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found on PATH (needed: Java 17, Maven, CMake, Ninja, GCC)"
  done
}

fetch_kafka() {
  if [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] &&
     [ -f "$KAFKA_LIBS/kafka-clients-$KAFKA_VERSION.jar" ] &&
     [ -f "$KAFKA_LIBS/slf4j-reload4j-1.7.36.jar" ]; then
    say "kafka $KAFKA_VERSION jars present in $KAFKA_LIBS"
    return 0
  fi
  say "fetching kafka $KAFKA_VERSION jars into $KAFKA_LIBS (maven)"
  mkdir -p "$KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never dependency:copy-dependencies -f "$MF_ROOT/scripts/kafka/pom.xml" \
    -DoutputDirectory="$KAFKA_LIBS" </dev/null >"$MF_STACK_DIR/kafka/mvn.log" 2>&1 ||
    { tail -n 40 "$MF_STACK_DIR/kafka/mvn.log" >&2; die "mvn could not fetch the kafka jars (log: $MF_STACK_DIR/kafka/mvn.log)"; }
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] ||
    die "kafka_2.13-$KAFKA_VERSION.jar missing in $KAFKA_LIBS after mvn"
  say "kafka jars fetched"
}

# node and npm: Debian's nodejs and npm packages when the machine has neither (a node from
# another source, e.g. NodeSource, brings its own npm and is left alone).
install_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    say "node $(node --version) and npm $(npm --version) present"
    return 0
  fi
  local pkgs=()
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  command -v apt-get >/dev/null 2>&1 || die "node/npm not found and no apt-get; install: ${pkgs[*]}"
  say "installing Debian packages: ${pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" ||
    die "apt-get install ${pkgs[*]} failed"
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    die "node or npm still missing after apt-get"
}

# Whether dir/node_modules holds exactly the versions of dir/package-lock.json.
node_modules_current() {
  node -e '
    const fs = require("fs"), path = require("path"), dir = process.argv[1];
    const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
    for (const [p, e] of Object.entries(lock.packages || {})) {
      if (p === "" || e.dev || e.optional) continue;
      let v = null;
      try { v = JSON.parse(fs.readFileSync(path.join(dir, p, "package.json"), "utf8")).version; } catch {}
      if (v !== e.version) process.exit(1);
    }' "$1"
}

install_node_modules() {
  local rel dir
  for rel in "${NODE_PROJECTS[@]}"; do
    dir="$MF_ROOT/$rel"
    [ -f "$dir/package-lock.json" ] || die "$rel/package-lock.json missing"
    if node_modules_current "$dir"; then
      say "$rel/node_modules matches its package-lock.json"
      continue
    fi
    say "installing $rel/node_modules (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
      die "npm ci failed in $rel (is the npm registry reachable?)"
    node_modules_current "$dir" || die "$rel/node_modules does not match package-lock.json after npm ci"
  done
}

main() {
  install_packages
  check_tools
  fetch_kafka
  install_node
  install_node_modules
  say "ok"
}

main "$@"
