#!/bin/sh
# The same 10,000-recipient campaign with every daemon and the CLI going through PgBouncer in
# transaction pooling mode, as production does through Supabase's pooler.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" \
  --customers 10000 --senders 2 --check --via-pgbouncer
