#!/usr/bin/env bash
# stack.sh: run the local stack (PostgreSQL, PgBouncer, MariaDB, Kafka, CoolSMS simulator).
#
# usage: scripts/stack.sh up|down [pg|pgb|my|kafka|sim ...] | status | reset
#
# Everything listens on 127.0.0.1 only, on the ports of scripts/env.sh (each overridable from
# the environment), and keeps its state and logs under $MF_STACK_DIR/<service>/. `up` starts
# what is not running yet and waits until each service really answers (a query, a Kafka
# metadata request, an HTTP health check). `reset` stops the stack, deletes its data (the
# downloaded Kafka jars stay) and starts it afresh. `up`/`down` with service names (pg, pgb,
# my, kafka, sim) start or stop only those, e.g. a second Kafka beside a running stack.
#
# Kafka has two client listeners: PLAINTEXT on $MF_KAFKA_PORT (the tests) and SASL_SSL on
# $MF_KAFKA_SASL_PORT (TLS with a certificate of a CA made for this stack, SCRAM-SHA-512 login
# as $MF_KAFKA_SASL_USER). The CA, the broker's key and the user's random password are made
# once under $MF_KAFKA_TLS_DIR (ca.pem, msgfleet.password) and kept across reset.
set -euo pipefail

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

: "${MF_BUILD_DIR:=build}"
case "$MF_BUILD_DIR" in /*) ;; *) MF_BUILD_DIR="$MF_ROOT/$MF_BUILD_DIR" ;; esac
: "${MF_STACK_TIMEOUT:=90}"

PGBIN=/usr/lib/postgresql/15/bin
PG_DIR="$MF_STACK_DIR/postgres"
PGB_DIR="$MF_STACK_DIR/pgbouncer"
MY_DIR="$MF_STACK_DIR/mariadb"
KAFKA_DIR="$MF_STACK_DIR/kafka"
SIM_DIR="$MF_STACK_DIR/coolsms-sim"
SIM_BIN="$MF_BUILD_DIR/tools/coolsms-sim/coolsms-sim"
KAFKA_PROBE="$MF_ROOT/scripts/kafka/kafka_probe.py"
MY_ADMIN_USER=crm_admin
MY_ADMIN_PASSWORD=crm_admin_pw

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as an OS user (postgres, mysql) when we are root, else as ourselves.
as_user() {
  local user=$1
  shift
  if is_root; then
    (cd / && runuser -u "$user" -- "$@")
  else
    (cd / && "$@")
  fi
}

# Unix sockets have a path limit (~107 bytes): keep them in the stack dir when it is short,
# otherwise in a per-stack folder under /tmp.
run_dir() {
  local d="$MF_STACK_DIR/run"
  if [ "${#d}" -gt 80 ]; then
    d="/tmp/mfstack-$(printf '%s' "$MF_STACK_DIR" | cksum | cut -d' ' -f1)"
  fi
  printf '%s\n' "$d"
}
RUN_DIR=$(run_dir)
MY_SOCK="$RUN_DIR/mariadb.sock"

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line contains PATTERN.
pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

# Fail with a clear message when a port we need is taken by something that is not ours.
require_free_port() {
  local port=$1 service=$2
  if port_open "$port"; then
    die "port $port for $service is already in use by another process (stop it, or set another port in the environment: see scripts/env.sh)"
  fi
}

show_log() {
  local f=$1
  if [ -f "$f" ]; then
    printf 'stack: last lines of %s:\n' "$f" >&2
    tail -n 30 "$f" | sed 's/^/    /' >&2
  fi
}

# wait_for SERVICE LOGFILE TIMEOUT ALIVE CMD...: retry CMD until it succeeds; give up after
# TIMEOUT seconds, or sooner when the ALIVE check (the process runs) fails after a 3 s grace.
wait_for() {
  local service=$1 log=$2 limit=$3 alive=$4 start
  shift 4
  start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge 3 ] && ! "$alive"; then
      printf 'stack: error: %s exited during start-up\n' "$service" >&2
      show_log "$log"
      exit 1
    fi
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      printf 'stack: error: %s did not answer within %ss\n' "$service" "$limit" >&2
      show_log "$log"
      exit 1
    fi
    sleep 0.5
  done
}

# stop_pid SERVICE PIDFILE PATTERN: TERM, wait up to 30 s, then KILL.
stop_pid() {
  local service=$1 pidfile=$2 pattern=$3 pid
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    say "$service not running"
    return 0
  fi
  pid=$(tr -dc '0-9' <"$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$service (pid $pid) ignored SIGTERM for 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  say "$service stopped"
}

# The postgres and mysql OS users must reach the stack dir even when the repository lies under
# a root-owned folder (for example a CI clone in /root): give every ancestor they cannot
# traverse the search (x) bit for others. Nothing becomes readable or listable by this.
prepare_dirs() {
  mkdir -p "$MF_STACK_DIR" "$RUN_DIR"
  chmod 755 "$MF_STACK_DIR"
  chmod 1777 "$RUN_DIR"
  is_root || return 0
  # Walk from / down, so each check sees its parents already fixed.
  local d="" part user rest="${MF_STACK_DIR#/}"
  while [ -n "$rest" ]; do
    part=${rest%%/*}
    d="$d/$part"
    [ "$rest" = "$part" ] && rest="" || rest=${rest#*/}
    for user in postgres mysql; do
      if id "$user" >/dev/null 2>&1 && ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
        say "granting search permission (o+x) on $d so the $user user can reach the stack dir"
        chmod o+x "$d"
      fi
    done
  done
}

# ---------------------------------------------------------------- PostgreSQL
pg_running() { [ -f "$PG_DIR/data/PG_VERSION" ] && as_user postgres "$PGBIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

pg_psql() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$MF_PG_PORT" -U postgres "$@"
}

pg_up() {
  [ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 not found in $PGBIN (run scripts/deps.sh)"
  mkdir -p "$PG_DIR"
  if is_root; then chown postgres "$PG_DIR"; fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    say "postgresql: initdb in $PG_DIR/data"
    rm -rf "$PG_DIR/data"
    as_user postgres "$PGBIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { show_log "$PG_DIR/initdb.log"; die "initdb failed"; }
    printf "\ninclude_if_exists = 'msgfleet.conf'\n" >>"$PG_DIR/data/postgresql.conf"
  fi
  # Rewritten on every up so port changes apply at the next start.
  cat >"$PG_DIR/data/msgfleet.conf" <<EOF
# Written by scripts/stack.sh: a local test server, loopback only.
port = $MF_PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN_DIR'
max_connections = 200
# Sized for a campaign: the indexes a run writes in random key order (primary key,
# recipient phone) stay in shared buffers, and checkpoints come seldom enough that a
# page is not written to the WAL in full again and again. Server restart for
# shared_buffers: scripts/stack.sh down pg && scripts/stack.sh up pg.
shared_buffers = $MF_PG_SHARED_BUFFERS
max_wal_size = $MF_PG_MAX_WAL_SIZE
checkpoint_timeout = 30min
timezone = 'UTC'
log_timezone = 'UTC'
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  cat >"$PG_DIR/data/pg_hba.conf" <<EOF
# Written by scripts/stack.sh: trust on loopback only (local test stack).
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
EOF
  if is_root; then chown postgres "$PG_DIR/data/msgfleet.conf" "$PG_DIR/data/pg_hba.conf"; fi
  if pg_running; then
    say "postgresql already running on 127.0.0.1:$MF_PG_PORT (settings reloaded)"
    # applies the rewritten msgfleet.conf except what needs a restart (shared_buffers)
    as_user postgres "$PGBIN/pg_ctl" -D "$PG_DIR/data" reload </dev/null >/dev/null 2>&1 9>&- ||
      say "postgresql: reload failed; restart it (down pg, up pg) for the new settings"
  else
    require_free_port "$MF_PG_PORT" postgresql
    say "postgresql: starting on 127.0.0.1:$MF_PG_PORT"
    as_user postgres "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgresql.log" -w \
      -t "$MF_STACK_TIMEOUT" start </dev/null >"$PG_DIR/pg_ctl.out" 2>&1 9>&- ||
      { show_log "$PG_DIR/postgresql.log"; show_log "$PG_DIR/pg_ctl.out"; die "postgresql did not start"; }
  fi
  wait_for postgresql "$PG_DIR/postgresql.log" "$MF_STACK_TIMEOUT" pg_running pg_psql -d postgres -c 'select 1'
  pg_psql -d postgres <<EOF
SELECT 'CREATE ROLE "$MF_PG_USER" LOGIN SUPERUSER'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$MF_PG_USER') \gexec
SELECT 'CREATE DATABASE "$MF_PG_DB" OWNER "$MF_PG_USER" ENCODING ''UTF8'' TEMPLATE template0'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$MF_PG_DB') \gexec
EOF
  "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$MF_PG_PORT" -U "$MF_PG_USER" -d "$MF_PG_DB" -c 'select 1' >/dev/null ||
    die "postgresql: cannot connect as $MF_PG_USER to $MF_PG_DB"
  say "postgresql ready (db $MF_PG_DB, user $MF_PG_USER)"
}

pg_down() {
  if pg_running; then
    as_user postgres "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
    say "postgresql stopped"
  else
    say "postgresql not running"
  fi
}

# ---------------------------------------------------------------- PgBouncer
pgb_running() { pid_alive "$PGB_DIR/pgbouncer.pid" pgbouncer; }

pgb_up() {
  command -v pgbouncer >/dev/null 2>&1 || die "pgbouncer not found (run scripts/deps.sh)"
  mkdir -p "$PGB_DIR"
  cat >"$PGB_DIR/pgbouncer.ini" <<EOF
; Written by scripts/stack.sh: transaction pooling like Supabase's pooler, loopback only.
[databases]
* = host=127.0.0.1 port=$MF_PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $MF_PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGB_DIR/userlist.txt
admin_users = postgres
stats_users = postgres, $MF_PG_USER
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
EOF
  printf '"%s" ""\n"postgres" ""\n' "$MF_PG_USER" >"$PGB_DIR/userlist.txt"
  touch "$PGB_DIR/pgbouncer.log" "$PGB_DIR/pgbouncer.out"
  if is_root; then chown -R postgres "$PGB_DIR"; fi
  if pgb_running; then
    say "pgbouncer already running on 127.0.0.1:$MF_PGBOUNCER_PORT"
  else
    require_free_port "$MF_PGBOUNCER_PORT" pgbouncer
    say "pgbouncer: starting on 127.0.0.1:$MF_PGBOUNCER_PORT"
    rm -f "$PGB_DIR/pgbouncer.pid"
    as_user postgres pgbouncer -d "$PGB_DIR/pgbouncer.ini" </dev/null >>"$PGB_DIR/pgbouncer.out" 2>&1 9>&- ||
      { show_log "$PGB_DIR/pgbouncer.out"; show_log "$PGB_DIR/pgbouncer.log"; die "pgbouncer did not start"; }
  fi
  wait_for pgbouncer "$PGB_DIR/pgbouncer.log" "$MF_STACK_TIMEOUT" pgb_running \
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$MF_PGBOUNCER_PORT" -U "$MF_PG_USER" -d "$MF_PG_DB" -c 'select 1'
  say "pgbouncer ready (transaction pooling)"
}

pgb_down() { stop_pid pgbouncer "$PGB_DIR/pgbouncer.pid" pgbouncer; }

# ---------------------------------------------------------------- MariaDB
my_running() { pid_alive "$MY_DIR/mariadbd.pid" mariadbd; }

# Alive during start-up: mariadbd writes its pid file only after InnoDB is up.
MY_LAUNCH_PID=
my_alive() { my_running || { [ -n "$MY_LAUNCH_PID" ] && kill -0 "$MY_LAUNCH_PID" 2>/dev/null; }; }

my_root() { mariadb --no-defaults -S "$MY_SOCK" -u root "$@"; }

my_up() {
  command -v mariadbd >/dev/null 2>&1 || die "mariadbd not found (run scripts/deps.sh)"
  mkdir -p "$MY_DIR"
  if is_root; then chown mysql "$MY_DIR"; fi
  if [ ! -d "$MY_DIR/data/mysql" ]; then
    say "mariadb: mariadb-install-db in $MY_DIR/data"
    rm -rf "$MY_DIR/data"
    mariadb-install-db --no-defaults --user=mysql --datadir="$MY_DIR/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$MY_DIR/install.log" 2>&1 ||
      { show_log "$MY_DIR/install.log"; die "mariadb-install-db failed"; }
  fi
  if my_running; then
    say "mariadb already running on 127.0.0.1:$MF_MYSQL_PORT"
  else
    require_free_port "$MF_MYSQL_PORT" mariadb
    say "mariadb: starting on 127.0.0.1:$MF_MYSQL_PORT"
    rm -f "$MY_DIR/mariadbd.pid"
    setsid mariadbd --no-defaults --user=mysql --datadir="$MY_DIR/data" \
      --port="$MF_MYSQL_PORT" --bind-address=127.0.0.1 --socket="$MY_SOCK" \
      --pid-file="$MY_DIR/mariadbd.pid" --log-error="$MY_DIR/mariadb.log" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --skip-name-resolve --max-connections=200 --innodb-buffer-pool-size=256M \
      </dev/null >>"$MY_DIR/mariadbd.out" 2>&1 9>&- &
    MY_LAUNCH_PID=$!
  fi
  wait_for mariadb "$MY_DIR/mariadb.log" "$MF_STACK_TIMEOUT" my_alive my_root -e 'select 1'
  # Anonymous accounts would shadow the named ones; the read-only account gets SELECT only
  # (seed section 3.1), the admin account loads sample data. Tests make throwaway databases
  # named mftest_*, the demo msgfleet_demo*: the admin account may write them, the read-only
  # one only read them.
  my_root <<EOF
CREATE DATABASE IF NOT EXISTS \`$MF_MYSQL_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS '$MF_MYSQL_USER'@'%' IDENTIFIED BY '$MF_MYSQL_PASSWORD';
ALTER USER '$MF_MYSQL_USER'@'%' IDENTIFIED BY '$MF_MYSQL_PASSWORD';
GRANT SELECT ON \`$MF_MYSQL_DB\`.* TO '$MF_MYSQL_USER'@'%';
CREATE USER IF NOT EXISTS '$MY_ADMIN_USER'@'%' IDENTIFIED BY '$MY_ADMIN_PASSWORD';
ALTER USER '$MY_ADMIN_USER'@'%' IDENTIFIED BY '$MY_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON \`$MF_MYSQL_DB\`.* TO '$MY_ADMIN_USER'@'%';
GRANT ALL PRIVILEGES ON \`mftest\\_%\`.* TO '$MY_ADMIN_USER'@'%';
GRANT SELECT ON \`mftest\\_%\`.* TO '$MF_MYSQL_USER'@'%';
GRANT ALL PRIVILEGES ON \`msgfleet\\_demo%\`.* TO '$MY_ADMIN_USER'@'%';
GRANT SELECT ON \`msgfleet\\_demo%\`.* TO '$MF_MYSQL_USER'@'%';
FLUSH PRIVILEGES;
EOF
  wait_for mariadb "$MY_DIR/mariadb.log" 10 my_running mariadb --no-defaults -h 127.0.0.1 -P "$MF_MYSQL_PORT" \
    -u "$MF_MYSQL_USER" -p"$MF_MYSQL_PASSWORD" "$MF_MYSQL_DB" -e 'select 1'
  say "mariadb ready (db $MF_MYSQL_DB, read-only user $MF_MYSQL_USER, admin $MY_ADMIN_USER)"
}

my_down() {
  if ! my_running; then
    rm -f "$MY_DIR/mariadbd.pid"
    say "mariadb not running"
    return 0
  fi
  local pid
  pid=$(tr -dc '0-9' <"$MY_DIR/mariadbd.pid")
  mariadb-admin --no-defaults -S "$MY_SOCK" -u root shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "mariadb (pid $pid) did not shut down in 60 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$MY_DIR/mariadbd.pid"
  say "mariadb stopped"
}

# ---------------------------------------------------------------- Kafka
kafka_running() { pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; }

kafka_probe() { python3 "$KAFKA_PROBE" "127.0.0.1:$MF_KAFKA_PORT" 3; }

# The SASL_SSL listener completes a TLS handshake whose certificate chains to the stack's CA
# and names 127.0.0.1.
kafka_tls_probe() {
  openssl s_client -connect "127.0.0.1:$MF_KAFKA_SASL_PORT" -CAfile "$MF_KAFKA_TLS_DIR/ca.pem" \
    -verify_return_error -verify_ip 127.0.0.1 </dev/null >/dev/null 2>&1
}

# The stack's own CA, the broker's key and certificate (PEM, for the SASL_SSL listener) and
# the SCRAM password of the fleet's user: made when missing, never replaced, so clients keep
# trusting the CA and the password file stays valid across restarts and resets.
kafka_tls_files() {
  local d=$MF_KAFKA_TLS_DIR log=$MF_KAFKA_TLS_DIR/openssl.log
  command -v openssl >/dev/null 2>&1 || die "openssl not found (needed for the kafka SASL_SSL listener)"
  mkdir -p "$d"
  chmod 700 "$d"
  if [ ! -f "$d/ca.pem" ] || [ ! -f "$d/ca.key" ]; then
    say "kafka: making the stack's CA in $d"
    (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout "$d/ca.key" \
      -out "$d/ca.pem" -subj "/CN=msgfleet local stack CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign") >"$log" 2>&1 ||
      { show_log "$log"; die "kafka: could not make the CA"; }
    rm -f "$d/broker.pem"
  fi
  if [ ! -f "$d/broker.pem" ]; then
    say "kafka: making the broker's TLS certificate (127.0.0.1, localhost)"
    (umask 077 &&
      openssl req -newkey rsa:2048 -nodes -keyout "$d/broker.key" -out "$d/broker.csr" \
        -subj "/CN=localhost" &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/broker.ext" &&
      openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 3650 -extfile "$d/broker.ext" -out "$d/broker.crt" &&
      cat "$d/broker.key" "$d/broker.crt" "$d/ca.pem" >"$d/broker.pem") >>"$log" 2>&1 ||
      { show_log "$log"; die "kafka: could not make the broker certificate"; }
    rm -f "$d/broker.csr" "$d/broker.ext"
  fi
  if [ ! -s "$d/$MF_KAFKA_SASL_USER.password" ]; then
    (umask 077 && openssl rand -hex 24 >"$d/$MF_KAFKA_SASL_USER.password") ||
      die "kafka: could not write $d/$MF_KAFKA_SASL_USER.password"
  fi
  chmod 644 "$d/ca.pem"
  chmod 600 "$d/ca.key" "$d/broker.key" "$d/broker.pem" "$d/$MF_KAFKA_SASL_USER.password"
}

# Creates or updates the SCRAM-SHA-512 credential of the fleet's user through the PLAINTEXT
# listener. Idempotent. ConfigCommand takes the password only as an argument (its
# --add-config-file rejects SCRAM entries), so for the few seconds it runs a local user could
# read this loopback-only stack's password in ps; real clusters set credentials their own way.
kafka_scram_user() {
  local cp="$KAFKA_DIR/libs/*"
  java -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -cp "$cp" kafka.admin.ConfigCommand \
    --bootstrap-server "127.0.0.1:$MF_KAFKA_PORT" --alter --entity-type users \
    --entity-name "$MF_KAFKA_SASL_USER" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(cat "$MF_KAFKA_TLS_DIR/$MF_KAFKA_SASL_USER.password")]" \
    >"$KAFKA_DIR/scram.log" 2>&1 ||
    { show_log "$KAFKA_DIR/scram.log"; die "kafka: could not set the SCRAM credential of $MF_KAFKA_SASL_USER"; }
}

kafka_up() {
  command -v java >/dev/null 2>&1 || die "java not found (Java 17 is needed for Kafka)"
  [ -f "$KAFKA_DIR/libs/kafka_2.13-3.9.1.jar" ] || die "kafka jars missing in $KAFKA_DIR/libs (run scripts/deps.sh)"
  mkdir -p "$KAFKA_DIR/data"
  kafka_tls_files
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by scripts/stack.sh: single node KRaft broker+controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$MF_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$MF_KAFKA_PORT,CONTROLLER://127.0.0.1:$MF_KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$MF_KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$MF_KAFKA_PORT,SASL_SSL://127.0.0.1:$MF_KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$MF_KAFKA_TLS_DIR/broker.pem
log.dirs=$KAFKA_DIR/data
num.partitions=8
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
EOF
  cat >"$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  local cp="$KAFKA_DIR/libs/*" log4j="-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties"
  local started=0
  if kafka_running; then
    say "kafka already running on 127.0.0.1:$MF_KAFKA_PORT"
  else
    started=1
    require_free_port "$MF_KAFKA_PORT" kafka
    require_free_port "$MF_KAFKA_CONTROLLER_PORT" "kafka controller"
    require_free_port "$MF_KAFKA_SASL_PORT" "kafka SASL_SSL listener"
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
      local id
      id=$(java "$log4j" -cp "$cp" kafka.tools.StorageTool random-uuid 2>>"$KAFKA_DIR/format.log") ||
        { show_log "$KAFKA_DIR/format.log"; die "kafka: could not make a cluster id"; }
      say "kafka: formatting storage (cluster id $id)"
      java "$log4j" -cp "$cp" kafka.tools.StorageTool format -t "$id" \
        -c "$KAFKA_DIR/server.properties" --ignore-formatted >>"$KAFKA_DIR/format.log" 2>&1 ||
        { show_log "$KAFKA_DIR/format.log"; die "kafka: storage format failed"; }
    fi
    say "kafka: starting on 127.0.0.1:$MF_KAFKA_PORT (controller $MF_KAFKA_CONTROLLER_PORT)"
    rm -f "$KAFKA_DIR/kafka.pid"
    # sh writes its own pid and execs java, so the pid file names the JVM.
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_DIR/kafka.pid" \
      java -Xmx512m -Xms256m "$log4j" -cp "$cp" kafka.Kafka "$KAFKA_DIR/server.properties" \
      </dev/null >>"$KAFKA_DIR/kafka.log" 2>&1 9>&- &
  fi
  wait_for kafka "$KAFKA_DIR/kafka.log" "$MF_STACK_TIMEOUT" kafka_running kafka_probe
  if [ "$started" -eq 0 ] && ! port_open "$MF_KAFKA_SASL_PORT"; then
    die "kafka on 127.0.0.1:$MF_KAFKA_PORT runs without the SASL_SSL listener on port $MF_KAFKA_SASL_PORT (started with an older configuration): restart it with scripts/stack.sh down kafka && scripts/stack.sh up kafka"
  fi
  kafka_scram_user
  wait_for "kafka SASL_SSL listener" "$KAFKA_DIR/kafka.log" 30 kafka_running kafka_tls_probe
  say "kafka ready ($(kafka_probe 2>&1)); SASL_SSL on 127.0.0.1:$MF_KAFKA_SASL_PORT as $MF_KAFKA_SASL_USER (CA $MF_KAFKA_TLS_DIR/ca.pem)"
}

kafka_down() { stop_pid kafka "$KAFKA_DIR/kafka.pid" kafka.Kafka; }

# ---------------------------------------------------------------- CoolSMS simulator
sim_running() { pid_alive "$SIM_DIR/coolsms-sim.pid" coolsms-sim; }

sim_health() {
  python3 - "$MF_SIM_PORT" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/_sim/health" % sys.argv[1], timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

sim_up() {
  if [ ! -x "$SIM_BIN" ]; then
    say "coolsms-sim: not built yet ($SIM_BIN missing); skipping it (build with ninja -C $MF_BUILD_DIR)"
    return 0
  fi
  mkdir -p "$SIM_DIR"
  if sim_running; then
    say "coolsms-sim already running on 127.0.0.1:$MF_SIM_PORT"
  else
    require_free_port "$MF_SIM_PORT" coolsms-sim
    say "coolsms-sim: starting on 127.0.0.1:$MF_SIM_PORT"
    rm -f "$SIM_DIR/coolsms-sim.pid"
    # the dev stack's simulator is for tests and the demo: its control endpoints are on
    MF_SIM_PORT="$MF_SIM_PORT" MF_SIM_API_KEY="$MF_COOLSMS_API_KEY" \
      MF_SIM_API_SECRET="$MF_COOLSMS_API_SECRET" MF_SIM_SENDERS="$MF_COOLSMS_SENDER" \
      MF_SIM_CONTROL=1 \
      setsid sh -c 'echo $$ >"$0"; exec "$@"' "$SIM_DIR/coolsms-sim.pid" "$SIM_BIN" \
      </dev/null >>"$SIM_DIR/coolsms-sim.log" 2>&1 9>&- &
  fi
  wait_for coolsms-sim "$SIM_DIR/coolsms-sim.log" 30 sim_running sim_health
  say "coolsms-sim ready"
}

sim_down() { stop_pid coolsms-sim "$SIM_DIR/coolsms-sim.pid" coolsms-sim; }

# ---------------------------------------------------------------- commands
# status_line NAME ADDRESS RUNNING(0/1) ANSWERS-CMD...
status_line() {
  local name=$1 addr=$2 running=$3 state
  shift 3
  if [ "$running" -ne 0 ]; then
    if port_open "${addr##*:}"; then
      state="stopped (port taken by another process)"
    else
      state=stopped
    fi
  elif "$@" >/dev/null 2>&1; then
    state=up
  else
    state="running, not answering"
  fi
  printf '%-12s %-22s %s\n' "$name" "$addr" "$state"
}

cmd_status() {
  local r
  printf '%-12s %-22s %s\n' SERVICE ADDRESS STATE
  pg_running && r=0 || r=1
  status_line postgresql "127.0.0.1:$MF_PG_PORT" "$r" pg_psql -d postgres -c 'select 1'
  pgb_running && r=0 || r=1
  status_line pgbouncer "127.0.0.1:$MF_PGBOUNCER_PORT" "$r" \
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$MF_PGBOUNCER_PORT" -U "$MF_PG_USER" -d "$MF_PG_DB" -c 'select 1'
  my_running && r=0 || r=1
  status_line mariadb "127.0.0.1:$MF_MYSQL_PORT" "$r" my_root -e 'select 1'
  kafka_running && r=0 || r=1
  status_line kafka "127.0.0.1:$MF_KAFKA_PORT" "$r" kafka_probe
  status_line kafka-sasl "127.0.0.1:$MF_KAFKA_SASL_PORT" "$r" kafka_tls_probe
  if sim_running; then r=0; else r=1; fi
  if [ "$r" -ne 0 ] && [ ! -x "$SIM_BIN" ]; then
    printf '%-12s %-22s %s\n' coolsms-sim "127.0.0.1:$MF_SIM_PORT" "not built"
  else
    status_line coolsms-sim "127.0.0.1:$MF_SIM_PORT" "$r" sim_health
  fi
}

# Services named on the command line (default: all), in start order.
SERVICES="pg pgb my kafka sim"
pick_services() {
  [ $# -eq 0 ] && return 0
  local s
  for s in "$@"; do
    case " $SERVICES " in *" $s "*) ;; *) die "unknown service \"$s\" (one of: $SERVICES)" ;; esac
  done
  SERVICES="$*"
}
wanted() { case " $SERVICES " in *" $1 "*) return 0 ;; esac; return 1; }

# The stack's ports lie inside Linux's ephemeral port range (32768-60999 by default): a
# loopback client connection (one of PgBouncer's pooled server connections, a readiness probe)
# may get one of them as its source port and make a later service's bind fail with "Address
# already in use". Where this user may change it (root on a test machine), the ports are added
# to the kernel's reserved list, which automatic port assignment skips; elsewhere nothing
# changes. Best effort: a failure here is not an error.
port_reserved() { # port_reserved PORT LIST: LIST as the kernel prints it (a,b-c,...)
  local port=$1 item lo hi
  local IFS=,
  for item in $2; do
    lo=${item%-*}
    hi=${item#*-}
    if [ "$port" -ge "$lo" ] && [ "$port" -le "$hi" ]; then return 0; fi
  done
  return 1
}

reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur want p
  [ -w "$f" ] || return 0
  cur=$(cat "$f" 2>/dev/null) || return 0
  want=$cur
  for p in "$MF_PG_PORT" "$MF_PGBOUNCER_PORT" "$MF_MYSQL_PORT" "$MF_KAFKA_PORT" \
    "$MF_KAFKA_CONTROLLER_PORT" "$MF_KAFKA_SASL_PORT" "$MF_SIM_PORT"; do
    port_reserved "$p" "$want" || want=${want:+$want,}$p
  done
  if [ "$want" != "$cur" ] && printf '%s\n' "$want" >"$f" 2>/dev/null; then
    say "ports reserved from the kernel's ephemeral range: $(cat "$f" 2>/dev/null)"
  fi
  return 0
}

cmd_up() {
  prepare_dirs
  reserve_ports
  if wanted pg; then pg_up; fi
  if wanted pgb; then pgb_up; fi
  if wanted my; then my_up; fi
  if wanted kafka; then kafka_up; fi
  if wanted sim; then sim_up; fi
  say "up: state and logs in $MF_STACK_DIR"
}

cmd_down() {
  if wanted sim; then sim_down; fi
  if wanted kafka; then kafka_down; fi
  if wanted pgb; then pgb_down; fi
  if wanted my; then my_down; fi
  if wanted pg; then pg_down; fi
}

cmd_reset() {
  cmd_down
  say "reset: deleting data under $MF_STACK_DIR (keeping the kafka jars)"
  rm -rf "$PG_DIR" "$PGB_DIR" "$MY_DIR" "$SIM_DIR" "$KAFKA_DIR/data" "$KAFKA_DIR/kafka.log" \
    "$KAFKA_DIR/format.log" "$KAFKA_DIR/server.properties" "$KAFKA_DIR/log4j.properties"
  cmd_up
}

# One stack command at a time per stack dir.
lock_stack() {
  mkdir -p "$MF_STACK_DIR"
  exec 9>"$MF_STACK_DIR/.lock"
  flock -w 600 9 || die "another stack.sh holds $MF_STACK_DIR/.lock"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) pick_services "$@"; lock_stack; cmd_up ;;
  down) pick_services "$@"; lock_stack; cmd_down ;;
  status) cmd_status ;;
  reset) lock_stack; cmd_reset ;;
  *) printf 'usage: %s up|down [pg|pgb|my|kafka|sim ...] | status | reset\n' "$0" >&2; exit 2 ;;
esac
