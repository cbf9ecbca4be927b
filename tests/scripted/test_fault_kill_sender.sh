#!/bin/sh
# The fault test, one fault on its own (scripts/faults.py --scenario kill-sender, docs/faults.md):
# SIGKILL of one sender 40% into the run; restarted 2 s later.
# 5,000 recipients, 2 planners, 3 senders, 2 reporters; pinned seed.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/faults.py" --build "$MF_BUILD_DIR" --scenario kill-sender \
  --recipients 5000 --seed 12
