#!/bin/sh
# compose_secrets.sh: make the secret files docker-compose.yml mounts, with fresh random
# passwords, the DSNs that match them, and the owner and mode each reader needs.
#
#   scripts/compose_secrets.sh [DIR]      DIR: ${MF_SECRETS_DIR:-./secrets}
#
# Existing files are kept (run it again after deleting one to replace it). CoolSMS: the key
# and secret default to the simulator's test values; put the real ones in
# coolsms_api_key / coolsms_api_secret before sending for real.
# Owners: files the fleet reads belong to uid 10001 (the image's user), the passwords the
# postgres container's init script reads to uid 999 (its postgres user), the Kafka broker's
# keystore and its password to uid 1000 (the apache/kafka image's user); every file is 0400,
# so nobody else on the host or in another container can read it. chown needs root; without
# it the files stay yours and you must chown them as printed.
# Kafka TLS: a CA made here signs the broker's certificate (names kafka and localhost); the
# fleet trusts kafka_ca.pem. The CA's key is not kept: to renew, delete kafka_ca.pem and
# kafka.keystore.p12 and run this again. kafka_fleet_password is the fleet's SCRAM login.
set -eu
DIR=${1:-${MF_SECRETS_DIR:-./secrets}}
FLEET_UID=10001
PG_UID=999
KAFKA_UID=1000

say() { printf 'compose_secrets: %s\n' "$*"; }
command -v openssl >/dev/null 2>&1 || { say "openssl not found"; exit 1; }
umask 077
mkdir -p "$DIR"

# put NAME OWNER VALUE: write DIR/NAME once, mode 0400, owned by OWNER when we can.
put() {
  f="$DIR/$1"
  if [ -e "$f" ]; then
    say "$f exists, kept"
  else
    printf '%s\n' "$3" >"$f"
    say "$f written"
  fi
  chmod 0400 "$f"
  if [ "$(id -u)" = 0 ]; then
    chown "$2:$2" "$f"
  else
    say "  run as root: chown $2:$2 $f"
  fi
}

# read_or NAME DEFAULT: the current value of DIR/NAME, else DEFAULT
read_or() {
  if [ -r "$DIR/$1" ]; then head -n 1 "$DIR/$1"; else printf '%s' "$2"; fi
}

owner_pw=$(read_or pg_owner_password "$(openssl rand -hex 24)")
fleet_pw=$(read_or pg_fleet_password "$(openssl rand -hex 24)")
put pg_superuser_password "$PG_UID" "$(openssl rand -hex 24)"
put pg_owner_password "$PG_UID" "$owner_pw"
put pg_fleet_password "$PG_UID" "$fleet_pw"
put pg_migrate_dsn "$FLEET_UID" \
  "host=postgres port=5432 dbname=msgfleet user=msgfleet_owner password=$owner_pw connect_timeout=10"
put pg_fleet_dsn "$FLEET_UID" \
  "host=postgres port=5432 dbname=msgfleet user=msgfleet password=$fleet_pw connect_timeout=10"
put mysql_password "$FLEET_UID" "$(openssl rand -hex 24)"
put mysql_root_password "$FLEET_UID" "$(openssl rand -hex 24)"
put coolsms_api_key "$FLEET_UID" NCSTESTKEY0000001
put coolsms_api_secret "$FLEET_UID" TESTSECRET0123456789ABCDEFGHIJKLMNOPQRSTUV
put kafka_fleet_password "$FLEET_UID" "$(openssl rand -hex 24)"
put kafka_keystore_password "$KAFKA_UID" "$(openssl rand -hex 24)"

# The broker's keystore (PKCS12: key, certificate, CA) and the CA certificate the fleet
# trusts, made together so that they match.
if [ -e "$DIR/kafka.keystore.p12" ] && [ -e "$DIR/kafka_ca.pem" ]; then
  say "$DIR/kafka.keystore.p12 and kafka_ca.pem exist, kept"
else
  rm -f "$DIR/kafka.keystore.p12" "$DIR/kafka_ca.pem"
  work=$(mktemp -d)
  if ! (openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout "$work/ca.key" \
          -out "$work/ca.pem" -subj "/CN=msgfleet Kafka CA" \
          -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey rsa:2048 -nodes -keyout "$work/broker.key" -out "$work/broker.csr" \
          -subj "/CN=kafka" &&
        printf 'subjectAltName=DNS:kafka,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$work/ext" &&
        openssl x509 -req -in "$work/broker.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
          -CAcreateserial -days 3650 -extfile "$work/ext" -out "$work/broker.crt" &&
        openssl pkcs12 -export -name kafka -in "$work/broker.crt" -inkey "$work/broker.key" \
          -certfile "$work/ca.pem" -passout "file:$DIR/kafka_keystore_password" \
          -out "$DIR/kafka.keystore.p12" &&
        cp "$work/ca.pem" "$DIR/kafka_ca.pem") >"$work/openssl.log" 2>&1; then
    cat "$work/openssl.log" >&2
    rm -rf "$work"
    say "could not make the Kafka TLS files"
    exit 1
  fi
  rm -rf "$work"
  say "$DIR/kafka.keystore.p12 and $DIR/kafka_ca.pem written"
fi
for f in kafka.keystore.p12:$KAFKA_UID kafka_ca.pem:$FLEET_UID; do
  chmod 0400 "$DIR/${f%%:*}"
  if [ "$(id -u)" = 0 ]; then chown "${f##*:}:${f##*:}" "$DIR/${f%%:*}"; else say "  run as root: chown ${f##*:}:${f##*:} $DIR/${f%%:*}"; fi
done
say "done: $DIR"
