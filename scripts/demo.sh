#!/usr/bin/env bash
# demo.sh: bring msgfleet up on this machine and show that every part answers (README command 1).
#
# Steps: dependencies, build ($MF_BUILD_DIR, default build), the local stack, the migrations,
# then a health table of the services. Each step is one function below; later steps (the
# sample campaign: CRM data, a workflow, planner -> senders -> reporter, the results) are added
# to the STEPS list. Safe to run again. Never reads standard input.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/env.sh"

: "${MF_BUILD_DIR:=build}"
case "$MF_BUILD_DIR" in /*) ;; *) MF_BUILD_DIR="$ROOT/$MF_BUILD_DIR" ;; esac
export MF_BUILD_DIR
exec </dev/null

PGBIN=/usr/lib/postgresql/15/bin
MSGFLEET="$MF_BUILD_DIR/tools/msgfleet/msgfleet"

step() { printf '\n==> %s\n' "$*"; }

demo_deps() {
  step "dependencies"
  "$ROOT/scripts/deps.sh"
}

demo_build() {
  step "build ($MF_BUILD_DIR)"
  cmake -S "$ROOT" -B "$MF_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$MF_BUILD_DIR"
}

demo_stack() {
  step "local stack"
  "$ROOT/scripts/stack.sh" up
}

demo_migrate() {
  step "migrations"
  if [ -x "$MSGFLEET" ]; then
    "$MSGFLEET" migrate
  else
    printf 'demo: %s not built; no migrations applied\n' "$MSGFLEET"
  fi
}

HEALTH_FAILED=0

# health_row NAME ADDRESS CMD...: one table row; the detail is CMD's first output line.
health_row() {
  local name=$1 addr=$2 out state
  shift 2
  if out=$("$@" 2>&1); then
    state=ok
  else
    state=FAIL
    HEALTH_FAILED=$((HEALTH_FAILED + 1))
  fi
  printf '%-12s %-22s %-5s %s\n' "$name" "$addr" "$state" "$(printf '%s\n' "$out" | head -n 1)"
}

pg_q() { "$PGBIN/psql" -X -qtA -h 127.0.0.1 -p "$1" -U "$MF_PG_USER" -d "$MF_PG_DB" -c "$2"; }
my_q() {
  mariadb --no-defaults -N -B -h 127.0.0.1 -P "$MF_MYSQL_PORT" -u "$MF_MYSQL_USER" \
    -p"$MF_MYSQL_PASSWORD" "$MF_MYSQL_DB" -e "$1"
}
sim_q() {
  python3 - "$MF_SIM_PORT" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/_sim/health" % sys.argv[1], timeout=3) as r:
    print("HTTP %d %s" % (r.status, r.read(200).decode(errors="replace").strip()))
EOF
}

demo_health() {
  step "health"
  printf '%-12s %-22s %-5s %s\n' SERVICE ADDRESS STATE DETAIL
  health_row postgresql "127.0.0.1:$MF_PG_PORT" pg_q "$MF_PG_PORT" \
    "select 'PostgreSQL ' || current_setting('server_version') || ', ' || count(*) || ' tables in public' from pg_tables where schemaname = 'public'"
  health_row pgbouncer "127.0.0.1:$MF_PGBOUNCER_PORT" pg_q "$MF_PGBOUNCER_PORT" \
    "select 'transaction pooling to PostgreSQL ' || current_setting('server_version')"
  health_row mariadb "127.0.0.1:$MF_MYSQL_PORT" my_q \
    "select concat('MariaDB ', version(), ', read-only user ', current_user())"
  health_row kafka "127.0.0.1:$MF_KAFKA_PORT" python3 "$ROOT/scripts/kafka/kafka_probe.py" \
    "127.0.0.1:$MF_KAFKA_PORT"
  if [ -x "$MF_BUILD_DIR/tools/coolsms-sim/coolsms-sim" ]; then
    health_row coolsms-sim "127.0.0.1:$MF_SIM_PORT" sim_q
  else
    printf '%-12s %-22s %-5s %s\n' coolsms-sim "127.0.0.1:$MF_SIM_PORT" "-" "not built"
  fi
  printf '\nstate and logs: %s; stop with ./scripts/stack.sh down\n' "$MF_STACK_DIR"
  if [ "$HEALTH_FAILED" -ne 0 ]; then
    printf 'demo: error: %d service(s) failed the health check\n' "$HEALTH_FAILED" >&2
    exit 1
  fi
}

# The sample campaign: 10,000 Korean-named customers (some malformed phones) in MariaDB, sample
# templates and workflows in PostgreSQL database msgfleet_demo, one run through 1 planner,
# 2 senders and 1 reporter against the CoolSMS simulator, progress, then the summary and an
# independent check of every row. The databases are kept for a look afterwards.
demo_campaign() {
  step "sample campaign"
  python3 "$ROOT/scripts/campaign.py" --build "$MF_BUILD_DIR" --name msgfleet_demo \
    --customers 10000 --senders 2 --check --keep ||
    { printf 'demo: error: the sample campaign failed (logs above)\n' >&2; exit 1; }
  printf '\nlook around: psql "%s" (database msgfleet_demo)\n' "${MF_PG_DSN/dbname=$MF_PG_DB/dbname=msgfleet_demo}"
}

# One event: an order confirmation published to the events topic of the sample campaign's
# fleet; the event-triggered workflow of the sample data sends it to the customer it names
# (docs/triggers.md), and the message's outcome is printed.
demo_event() {
  step "event-triggered message"
  python3 "$ROOT/scripts/campaign.py" --build "$MF_BUILD_DIR" --name msgfleet_demo_event \
    --customers 200 --senders 1 --then-event ||
    { printf 'demo: error: the event-triggered message failed (logs above)\n' >&2; exit 1; }
}

# Webhook: a service of the shop starts a webhook-triggered workflow with one signed call
# (docs/triggers.md). On the sample campaign's databases: a webhook workflow and its secret
# (msgfleet webhook-secret), a planner serving POST /v1/workflows/{id}/trigger, one call signed
# with HMAC-SHA256, then the message's outcome (message_logs and the simulator's ledger).
demo_webhook() {
  step "webhook-triggered workflow"
  python3 "$ROOT/scripts/webhook_demo.py" --build "$MF_BUILD_DIR" --name msgfleet_demo ||
    { printf 'demo: error: the webhook call failed (logs above)\n' >&2; exit 1; }
}

STEPS=(demo_deps demo_build demo_stack demo_migrate demo_health demo_campaign demo_event demo_webhook)

for s in "${STEPS[@]}"; do
  "$s"
done

