#!/bin/sh
# test_kafka_sasl_ssl: the fleet over the broker's SASL_SSL listener (TLS, SCRAM-SHA-512).
#   1. a wrong password stops a daemon at start-up with a message that says the login was
#      refused and does not hold the password;
#   2. a CA that did not sign the broker's certificate stops it too (the chain is verified);
#   3. a 300-customer campaign with planner, sender and reporter reaching Kafka only through
#      the SASL_SSL listener, the password read from MF_KAFKA_SASL_PASSWORD_FILE, checked row
#      by row in message_logs and in the simulator's ledger (scripts/campaign.py --check),
#      while `msgfleet tail results` follows the results over the same listener and must
#      match message_logs (--tail-results);
#   4. each daemon logged that the broker accepted its sasl_ssl login, and the password
#      appears in none of the logs.
# Needs the stack of scripts/stack.sh (its SASL_SSL listener, CA and password file).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"

fail() { printf 'test_kafka_sasl_ssl: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'test_kafka_sasl_ssl: %s\n' "$*"; }

CA="$MF_KAFKA_TLS_DIR/ca.pem"
PWFILE="$MF_KAFKA_TLS_DIR/$MF_KAFKA_SASL_USER.password"
[ -r "$CA" ] && [ -r "$PWFILE" ] ||
  fail "no SASL_SSL material in $MF_KAFKA_TLS_DIR (ca.pem, $MF_KAFKA_SASL_USER.password): start the stack with scripts/stack.sh up"
PASSWORD=$(cat "$PWFILE")
[ ${#PASSWORD} -ge 16 ] || fail "$PWFILE holds no password"
SENDER="$MF_BUILD_DIR/sender/msgfleet-sender"
[ -x "$SENDER" ] || fail "$SENDER not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_kafka_sasl_ssl.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

# The fleet's settings for the SASL_SSL listener; nothing reaches the PLAINTEXT one.
export MF_KAFKA_BROKERS="$MF_KAFKA_SASL_BROKERS" MF_KAFKA_SECURITY_PROTOCOL=sasl_ssl \
  MF_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 MF_KAFKA_SASL_USERNAME="$MF_KAFKA_SASL_USER" \
  MF_KAFKA_SASL_PASSWORD_FILE="$PWFILE" MF_KAFKA_SSL_CA_LOCATION="$CA"
unset MF_KAFKA_SASL_PASSWORD

# start_sender LOG [VAR=value...]: a sender that must stop on its own within 30 s; prints
# its exit status.
start_sender() {
  log=$1
  shift
  rc=0
  env "$@" MF_PG_DSN="$MF_PG_DSN" MF_COOLSMS_API_KEY=k MF_COOLSMS_API_SECRET=s \
    MF_TOPIC_PREFIX=mftest_sasl_start. MF_SENDER_GROUP=mftest_sasl_start \
    timeout 30 "$SENDER" >"$log" 2>&1 || rc=$?
  echo "$rc"
}

# 1. wrong password
WRONG="wrong-$PASSWORD-x"
rc=$(start_sender "$WORK/wrong.log" MF_KAFKA_SASL_PASSWORD="$WRONG")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
  fail "sender with a wrong password: exit $rc (want a start-up failure, not a run or a hang): $(tail -n 3 "$WORK/wrong.log")"
grep -q '"could not start".*SASL login failed' "$WORK/wrong.log" ||
  fail "sender with a wrong password did not say the login was refused: $(tail -n 3 "$WORK/wrong.log")"
if grep -qF -e "$WRONG" -e "$PASSWORD" "$WORK/wrong.log"; then
  fail "the sender's log holds the password"
fi
say "wrong password: exit $rc, $(grep -o 'SASL login failed[^"]*' "$WORK/wrong.log" | head -c 140)"

# 2. a CA that did not sign the broker's certificate (the system's trust store)
rc=$(start_sender "$WORK/ca.log" MF_KAFKA_SSL_CA_LOCATION=)
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "sender trusting the wrong CA: exit $rc"
grep -q '"could not start".*TLS handshake failed' "$WORK/ca.log" ||
  fail "sender trusting the wrong CA did not report the TLS failure: $(tail -n 3 "$WORK/ca.log")"
say "wrong CA: exit $rc, TLS handshake refused"

# 3. the campaign; its workspace (the daemons' logs) goes under $WORK
NAME="mftest_sasl_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
TMPDIR=$WORK python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" \
  --customers 300 --senders 1 --check --tail-results --timeout 300 --name "$NAME" \
  >"$WORK/campaign.out" 2>&1 ||
  { tail -n 30 "$WORK/campaign.out" >&2; fail "campaign over SASL_SSL failed"; }
grep 'result=ok' "$WORK/campaign.out" || fail "campaign printed no result=ok"

# 4. the daemons ran, talked to the SASL_SSL listener, and never logged the password
LOGS=$(find "$WORK" -path "*$NAME-*" -name '*.log')
for d in planner-1 sender-1 reporter-1; do
  f=$(printf '%s\n' "$LOGS" | grep "/$d.log$" || true)
  [ -n "$f" ] && [ -s "$f" ] || fail "no log of $d in the campaign's workspace"
  grep -q "\"kafka connection accepted\",\"brokers\":\"$MF_KAFKA_BROKERS\",\"protocol\":\"sasl_ssl\",\"user\":\"$MF_KAFKA_SASL_USER\"" "$f" ||
    fail "$d did not log a sasl_ssl login at $MF_KAFKA_BROKERS: $(grep -m1 kafka "$f")"
done
f=$(printf '%s\n' "$LOGS" | grep "/tail-results.log$" || true)
[ -n "$f" ] && [ -s "$f" ] || fail "msgfleet tail printed nothing over SASL_SSL"
if printf '%s\n' "$LOGS" | xargs grep -lF -e "$PASSWORD" >/dev/null 2>&1; then
  fail "the password appears in $(printf '%s\n' "$LOGS" | xargs grep -lF -e "$PASSWORD" | tr '\n' ' ')"
fi
say "ok: 300 recipients over SASL_SSL at $MF_KAFKA_BROKERS; the password is in no log"
