#!/bin/sh
# The planner's webhook endpoint end to end: signed calls (python's hmac, and curl with openssl)
# start runs whose messages reach message_logs and the simulator's ledger exactly once; an
# Idempotency-Key retry returns the same run; every error code (400, 401, 404, 405, 409, 413,
# 429) answers JSON and starts nothing; secrets stay out of logs and out of anon's reach.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/tests/scripted/webhook_check.py"
