#!/bin/sh
# The analytics feed and the dead-letter topic, on a real run:
# - `msgfleet tail results` follows the results topic during the run; every line parses as
#   JSON and the jobs with a first outcome equal the run's message_logs rows;
# - undecodable messages injected into the jobs topic reach the dead-letter topic with their
#   reason, `msgfleet dlq list` shows them, `msgfleet dlq replay` sends them back (once).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" \
  --customers 3000 --senders 1 --check --tail-results --inject-garbage 5
