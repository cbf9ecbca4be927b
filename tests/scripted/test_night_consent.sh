#!/bin/sh
# Night-time consent and Kakao advertising hours with an injected sender clock
# (MF_SENDER_CLOCK_OFFSET_MS) at 20:59, 21:00, 07:59 and 08:00 KST: consenting recipients of a
# promotion SMS are sent at night, the others wait for 08:00 (no row, nothing at the
# provider), Kakao advertising waits for 08:00 from 20:00 on; at 07:59 the deferred ones go
# out at 08:00 and not before. Checked on the simulator's ledger and message_logs
# (scripts/rules_check.py --mode consent).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/rules_check.py" --build "$MF_BUILD_DIR" --mode consent \
  --customers 200 --max-id 60
