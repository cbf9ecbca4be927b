#!/bin/sh
# Replay of failed batches: the simulator fails 10% of messages with a permanent code and
# answers 5xx often enough that some requests outlast the sender's retries; once the cause is
# fixed, `msgfleet replay --dry-run` counts exactly what the replay then sends, the replay
# brings every valid recipient to exactly one accepted message in the simulator's ledger, and
# a second replay sends nothing.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" \
  --customers 3000 --senders 2 --replay-check
