#!/bin/sh
# The fault test, one fault on its own (scripts/faults.py --scenario restart-postgres, docs/faults.md):
# PostgreSQL stopped (fast) 40% into the run and started again 3 s later.
# 5,000 recipients, 2 planners, 3 senders, 2 reporters; pinned seed.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/faults.py" --build "$MF_BUILD_DIR" --scenario restart-postgres \
  --recipients 5000 --seed 15
