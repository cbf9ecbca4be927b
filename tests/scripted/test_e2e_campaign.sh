#!/bin/sh
# End to end: a 10,000-recipient run with 1 planner, 2 senders and 1 reporter through real
# Kafka, PostgreSQL, MariaDB and the CoolSMS simulator, checked row by row (scripts/campaign.py),
# then every accepted message followed to its final delivery status.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" \
  --customers 10000 --senders 2 --check --await-delivery
