#!/bin/sh
# Two senders share one account rate (MF_SENDER_ACCOUNT_RATE 100/s): on the ledger's
# acceptedAt times no 2 s window holds more than the rate allows (plus the bucket's burst,
# 5 % tolerance) and the run is not faster than the rate; both senders sent part of it
# (scripts/rules_check.py --mode rate). Not a throughput test: the bound is an upper one.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/rules_check.py" --build "$MF_BUILD_DIR" --mode rate \
  --customers 1000 --rate 100 --senders 2
