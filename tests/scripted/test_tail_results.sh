#!/bin/sh
# The analytics feed: `msgfleet tail results` follows the results topic during a run; every
# line parses as JSON and the jobs with a first outcome equal the run's message_logs rows.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" \
  --customers 3000 --senders 1 --check --tail-results
