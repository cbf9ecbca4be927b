#!/bin/sh
# A workflow limited by message_config.rate_per_minute (1,200/min) sends its ~190 recipients
# at that pace (about 9.5 s, from the ledger), while an unlimited run started beside it on the
# same partitions completes in a fraction of that: the limit defers the limited workflow's jobs
# on the retry topic and holds up no one else (scripts/rules_check.py --mode wfrate).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/rules_check.py" --build "$MF_BUILD_DIR" --mode wfrate \
  --customers 200 --per-min 1200 --senders 2
