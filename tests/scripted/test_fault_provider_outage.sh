#!/bin/sh
# The fault test, one fault on its own (scripts/faults.py --scenario provider-outage, docs/faults.md):
# the simulator answers every request 5xx for 30 s from 20% into the run.
# 5,000 recipients, 2 planners, 3 senders, 2 reporters; pinned seed.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/faults.py" --build "$MF_BUILD_DIR" --scenario provider-outage \
  --recipients 5000 --seed 16
