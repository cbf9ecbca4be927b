#!/bin/sh
# The priority lane: a 10-recipient transactional run and one event, triggered while a
# 100,000-recipient campaign is sending, are sent before the campaign's last message and
# before at least half of it (judged on the order of the simulator's ledger, not on time);
# both runs complete with true counters.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/triggers_check.py" lane --build "$MF_BUILD_DIR" \
  --customers 100000
