#!/bin/sh
# shellcheck disable=SC2016 # backquotes in single-quoted text are Markdown, not commands
# gen_config_doc.sh: write docs/config.md from the programs' own configuration tables.
#
# usage: scripts/gen_config_doc.sh [-o FILE] [BUILD_DIR]
#
# BUILD_DIR (default: $MF_BUILD_DIR, else build/) holds the built daemons; each prints its
# table with `--config-doc` (common/mf_config.c), the simulator its knobs with
# `--print-docs`. -o writes somewhere else than docs/config.md ("-" for stdout);
# tests/scripted/test_config_drift.sh uses it to compare. A program that is not built gets a
# placeholder section and a warning, so the drift test fails until it is built and the file
# regenerated.
set -eu
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/docs/config.md"
while [ $# -gt 0 ]; do
  case "$1" in
    -o) [ $# -ge 2 ] || { echo "usage: $0 [-o FILE] [BUILD_DIR]" >&2; exit 2; }
        OUT=$2; shift 2 ;;
    -h|--help) sed -n '3,12p' "$0"; exit 0 ;;
    -*) echo "usage: $0 [-o FILE] [BUILD_DIR]" >&2; exit 2 ;;
    *) break ;;
  esac
done
BUILD=${1:-${MF_BUILD_DIR:-build}}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac

warn() { printf 'gen_config_doc: warning: %s\n' "$*" >&2; }

# section TITLE BINARY INTRO: a program's table from --config-doc.
section() {
  printf '\n## %s\n\n%s\n\n' "$1" "$3"
  if [ -x "$BUILD/$2" ]; then
    # The same table regardless of the caller's environment: it prints defaults, not values.
    env -i "$BUILD/$2" --config-doc
  else
    warn "$BUILD/$2 not built: placeholder section written; rebuild and run this again"
    printf '_Not built when this file was generated: run `scripts/gen_config_doc.sh` again._\n'
  fi
}

# The CLI has no full table: list the MF_* variables its sources read with getenv, plus the
# secret its mf_config table reads (MF_PG_DSN, or the file named by MF_PG_DSN_FILE).
cli_section() {
  printf '\n## msgfleet (CLI)\n\n'
  printf 'The CLI takes options (`msgfleet <command> --help`); these variables are their defaults.\n\n'
  printf '| variable | used by | meaning |\n|---|---|---|\n'
  {
    grep -o 'getenv("MF_[A-Z0-9_]*")' "$ROOT"/tools/msgfleet/*.c
    for v in MF_PG_DSN MF_PG_DSN_FILE; do
      printf '%s/cli_dsn.c:getenv("%s")\n' "$ROOT/tools/msgfleet" "$v"
    done
    # the Kafka TLS/SASL keys, read through the daemons' table (common/mf_kafka_sec.h)
    for v in MF_KAFKA_SECURITY_PROTOCOL MF_KAFKA_SASL_MECHANISM MF_KAFKA_SASL_USERNAME \
             MF_KAFKA_SASL_PASSWORD MF_KAFKA_SASL_PASSWORD_FILE MF_KAFKA_SSL_CA_LOCATION \
             MF_KAFKA_SSL_CERTIFICATE_LOCATION MF_KAFKA_SSL_KEY_LOCATION \
             MF_KAFKA_SSL_KEY_PASSWORD MF_KAFKA_SSL_KEY_PASSWORD_FILE MF_KAFKA_SSL_VERIFY_HOSTNAME; do
      printf '%s/cli_kafka.c:getenv("%s")\n' "$ROOT/tools/msgfleet" "$v"
    done
  } |
    sed -e 's|^.*/cmd_\([a-z]*\)\.c:getenv("\(.*\)")$|\2 \1|' \
        -e 's|^.*/cli_common\.c:getenv("\(.*\)")$|\1 run,_watch,_summary|' \
        -e 's|^.*/cli_dsn\.c:getenv("\(.*\)")$|\1 migrate,_run,_watch,_summary,_replay|' \
        -e 's|^.*/cli_kafka\.c:getenv("\(.*\)")$|\1 tail,_dlq|' \
        -e 's|^.*/schema_dir\.c:getenv("\(.*\)")$|\1 migrate|' \
        -e 's|^.*/[a-z_]*\.c:getenv("\(.*\)")$|\1 other|' |
    sort -u | awk '
      { gsub(/,_/, ", ", $2); cmds[$1] = ($1 in cmds) ? cmds[$1] ", " $2 : $2 }
      END {
        m["MF_PG_DSN"] = "libpq connection string of the platform database (never taken from the command line: `--dsn` is refused)"
        m["MF_PG_DSN_FILE"] = "file holding MF_PG_DSN (used when MF_PG_DSN is empty)"
        m["MF_SCHEMA_DIR"] = "folder of the PostgreSQL migrations (`--dir` overrides; default: schemas/pg found next to the executable or above the working directory)"
        m["MF_KAFKA_BROKERS"] = "Kafka bootstrap servers (`--brokers` overrides)"
        m["MF_TOPIC_PREFIX"] = "prefix of the topic names (`--prefix` overrides)"
        k = "Kafka TLS/SASL setting, as for the daemons (above); a bad value stops the command with a message naming the key"
        m["MF_KAFKA_SECURITY_PROTOCOL"] = m["MF_KAFKA_SASL_MECHANISM"] = m["MF_KAFKA_SASL_USERNAME"] = k
        m["MF_KAFKA_SSL_CA_LOCATION"] = m["MF_KAFKA_SSL_CERTIFICATE_LOCATION"] = k
        m["MF_KAFKA_SSL_KEY_LOCATION"] = m["MF_KAFKA_SSL_VERIFY_HOSTNAME"] = k
        m["MF_KAFKA_SASL_PASSWORD"] = m["MF_KAFKA_SSL_KEY_PASSWORD"] = "secret: " k
        m["MF_KAFKA_SASL_PASSWORD_FILE"] = m["MF_KAFKA_SSL_KEY_PASSWORD_FILE"] = "file holding the secret of the same name without _FILE"
        for (v in cmds) {
          c = cmds[v]
          printf "| `%s` | %s | %s |\n", v, c, (v in m) ? m[v] : "see `msgfleet <command> --help`"
        }
      }' | sort
}

sim_section() {
  printf '\n## coolsms-sim (test and demo simulator)\n\n'
  printf 'Start-up settings (`MF_SIM_PORT`, `MF_SIM_API_KEY`, `MF_SIM_API_SECRET`, `MF_SIM_SENDERS`, `MF_SIM_SEED`, `MF_SIM_ACCOUNT_ID`, `MF_SIM_CONTROL`) are described in docs/simulator.md. Knobs (environment at start, `POST /_sim/config` at run time when `MF_SIM_CONTROL` is on):\n\n'
  if [ -x "$BUILD/tools/coolsms-sim/coolsms-sim" ]; then
    # Only the knob table: the first table of --print-docs.
    env -i "$BUILD/tools/coolsms-sim/coolsms-sim" --print-docs | awk '/^$/ { exit } { print }'
  else
    warn "$BUILD/tools/coolsms-sim/coolsms-sim not built: placeholder section written"
    printf '_Not built when this file was generated: run `scripts/gen_config_doc.sh` again._\n'
  fi
}

generate() {
  cat <<'EOF'
# Configuration reference

<!-- Generated by scripts/gen_config_doc.sh from the programs' own tables: do not edit. -->

**Generated file: do not edit by hand.** Every daemon reads its configuration from environment
variables through one table per program (common/mf_config.h) and prints that table with
`--config-doc`; this file is those tables, written by `scripts/gen_config_doc.sh`. After
changing a table, rebuild and regenerate:

```sh
ninja -C build && scripts/gen_config_doc.sh build
```

`tests/scripted/test_config_drift.sh` fails (with a diff) when this file differs from what the
binaries print, and `tests/scripted/test_compose.sh` fails when docker-compose.yml sets a
variable a program does not know.

Rules common to all keys: a missing **required** key, an unparsable value or a value out of
bounds stops the program at start-up with a message naming the key and exit status 2
(every daemon and the simulator; 1 is a failure after start-up). Booleans accept true/false, 1/0, yes/no, on/off. A **secret** key that is unset or
empty is read from the file named by `<KEY>_FILE` (one trailing newline is removed), which is
how container secrets are passed; such a file that its group or every user may read is
reported at start-up by a warning naming it. Secrets are never logged or printed. Operating the fleet:
docs/operations.md.
EOF
  section msgfleet-planner planner/msgfleet-planner \
    'Claims runs, fires schedules and expands runs into jobs (docs/planner.md).'
  section msgfleet-sender sender/msgfleet-sender \
    'Consumes jobs, claims them and sends them through CoolSMS (docs/sender.md).'
  section msgfleet-reporter reporter/msgfleet-reporter \
    'Writes results to PostgreSQL exactly once, closes finished runs and polls final delivery statuses (docs/pipeline.md).'
  cli_section
  sim_section
}

if [ "$OUT" = - ]; then
  generate
else
  tmp="$OUT.tmp.$$"
  trap 'rm -f "$tmp"' EXIT INT TERM
  generate >"$tmp"
  mv "$tmp" "$OUT"
  trap - EXIT INT TERM
  printf 'gen_config_doc: wrote %s\n' "$OUT"
fi
