#!/bin/sh
# The fault test, one fault on its own (scripts/faults.py --scenario restart-kafka, docs/faults.md):
# the Kafka broker stopped 30% into the run and started again 3 s later.
# 5,000 recipients, 2 planners, 3 senders, 2 reporters; pinned seed.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/faults.py" --build "$MF_BUILD_DIR" --scenario restart-kafka \
  --recipients 5000 --seed 14
