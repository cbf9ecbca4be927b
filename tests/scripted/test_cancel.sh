#!/bin/sh
# Cancel a 100,000-recipient run mid-flight while a run of another workflow sends to the same
# recipients: the simulator's ledger stops growing for the cancelled run within 2 s of the
# cancel (its own timestamps), every recipient has exactly one row ('sent' with exactly one
# accepted message, or 'cancelled' with none), the other run is not disturbed, counters equal
# a recount, and `msgfleet replay --status cancelled` then reaches exactly the cancelled
# recipients, each once (scripts/halt_check.py).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/halt_check.py" --build "$MF_BUILD_DIR" --mode cancel \
  --customers 100000 --other 60000 --senders 2
