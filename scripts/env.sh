# Addresses of the local stack (loopback only). Sourced by every script and read by the
# tests. Each value can be overridden from the environment, so a second stack (for example
# one that tests the scripts themselves) can run beside the first.
# shellcheck shell=sh
# MF_ROOT: the repository. bash knows the sourced file; a POSIX sh (dash) does not, so there
# ctest's MF_SOURCE_DIR or a search from the calling script's folder finds it.
if [ -z "${MF_ROOT:-}" ]; then
  if [ -n "${BASH_VERSION:-}" ]; then
    eval 'MF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)'
  elif [ -n "${MF_SOURCE_DIR:-}" ] && [ -f "$MF_SOURCE_DIR/scripts/env.sh" ]; then
    MF_ROOT=$MF_SOURCE_DIR
  else
    for mf_c in "$(dirname "$0")/.." "$(dirname "$0")/../.." "$(dirname "$0")/../../.." "$PWD"; do
      if [ -f "$mf_c/scripts/env.sh" ]; then
        MF_ROOT=$(cd "$mf_c" && pwd)
        break
      fi
    done
    unset mf_c
  fi
fi
: "${MF_STACK_DIR:=$MF_ROOT/.stack}"
: "${MF_PG_PORT:=55432}"
: "${MF_PGBOUNCER_PORT:=56432}"
: "${MF_MYSQL_PORT:=53306}"
: "${MF_KAFKA_PORT:=59092}"
: "${MF_KAFKA_CONTROLLER_PORT:=59093}"
# The broker's second listener: SASL_SSL (TLS, SCRAM-SHA-512 login). Its CA certificate and
# the fleet's password are files that scripts/stack.sh writes under $MF_STACK_DIR/kafka/tls.
: "${MF_KAFKA_SASL_PORT:=59094}"
: "${MF_SIM_PORT:=58080}"
: "${MF_PG_DB:=msgfleet}"
: "${MF_PG_USER:=msgfleet}"
: "${MF_PG_SHARED_BUFFERS:=2GB}"
: "${MF_PG_MAX_WAL_SIZE:=16GB}"
: "${MF_MYSQL_DB:=crm}"
: "${MF_MYSQL_USER:=crm_readonly}"
: "${MF_MYSQL_PASSWORD:=crm_readonly_pw}"
: "${MF_COOLSMS_API_KEY:=NCSTESTKEY0000001}"
: "${MF_COOLSMS_API_SECRET:=TESTSECRET0123456789ABCDEFGHIJKLMNOPQRSTUV}"
: "${MF_COOLSMS_SENDER:=0212345678}"

# Connection strings the fleet and the tests use.
: "${MF_PG_DSN:=host=127.0.0.1 port=$MF_PG_PORT dbname=$MF_PG_DB user=$MF_PG_USER}"
: "${MF_PGBOUNCER_DSN:=host=127.0.0.1 port=$MF_PGBOUNCER_PORT dbname=$MF_PG_DB user=$MF_PG_USER}"
: "${MF_MYSQL_HOST:=127.0.0.1}"
: "${MF_KAFKA_BROKERS:=127.0.0.1:$MF_KAFKA_PORT}"
: "${MF_KAFKA_SASL_BROKERS:=127.0.0.1:$MF_KAFKA_SASL_PORT}"
: "${MF_KAFKA_SASL_USER:=msgfleet}"
: "${MF_KAFKA_TLS_DIR:=$MF_STACK_DIR/kafka/tls}"
: "${MF_COOLSMS_BASE_URL:=http://127.0.0.1:$MF_SIM_PORT}"

export MF_ROOT MF_STACK_DIR MF_PG_PORT MF_PGBOUNCER_PORT MF_MYSQL_PORT MF_KAFKA_PORT \
  MF_KAFKA_CONTROLLER_PORT MF_KAFKA_SASL_PORT MF_KAFKA_SASL_BROKERS MF_KAFKA_SASL_USER \
  MF_KAFKA_TLS_DIR MF_SIM_PORT MF_PG_DB MF_PG_USER MF_MYSQL_DB MF_MYSQL_USER \
  MF_MYSQL_PASSWORD MF_COOLSMS_API_KEY MF_COOLSMS_API_SECRET MF_COOLSMS_SENDER MF_PG_DSN \
  MF_PGBOUNCER_DSN MF_MYSQL_HOST MF_KAFKA_BROKERS MF_COOLSMS_BASE_URL MF_PG_SHARED_BUFFERS \
  MF_PG_MAX_WAL_SIZE
