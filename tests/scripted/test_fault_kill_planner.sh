#!/bin/sh
# The fault test, one fault on its own (scripts/faults.py --scenario kill-planner, docs/faults.md):
# SIGKILL of the planner holding the run's expansion lease, 0.3 s after the trigger; restarted 2 s later.
# 5,000 recipients, 2 planners, 3 senders, 2 reporters; pinned seed.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/faults.py" --build "$MF_BUILD_DIR" --scenario kill-planner \
  --recipients 5000 --seed 11
