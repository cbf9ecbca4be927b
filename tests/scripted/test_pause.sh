#!/bin/sh
# Pause a workflow the way the web UI does while its run sends, then `msgfleet resume` it: the
# run stops sending within 2 s and stays 'running' with nothing failed, `msgfleet watch` shows
# it held, a paused schedule does not fire; after the resume the run completes with every
# recipient sent exactly once and counters equal a recount (scripts/halt_check.py).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/halt_check.py" --build "$MF_BUILD_DIR" --mode pause \
  --customers 20000 --senders 2 --rate 2000
