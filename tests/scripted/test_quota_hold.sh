#!/bin/sh
# The provider's daily quota set below a run's size: the fleet stops at or under it with
# nothing failed (no provider quota failure, no failed row), the run held (send_hold 'quota',
# a quota_hold log entry); the quota raised, the run resumes and completes with every
# recipient sent exactly once. The fleet goes through PgBouncer in transaction pooling, as in
# production (scripts/rules_check.py --mode quota).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/rules_check.py" --build "$MF_BUILD_DIR" --mode quota \
  --customers 200 --quota 40 --senders 2 --via-pgbouncer
