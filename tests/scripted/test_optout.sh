#!/bin/sh
# Opt-outs and the advertising frequency cap end to end (docs/compliance.md): an opted-out
# number never reaches the provider (scope advertising vs all vs a non-advertising message), a
# 1061 answer lists the number and the next run skips it, the reporter's sync imports the
# provider's 080 list, the cap is exact with 2 senders and two runs at once and with 4 sessions
# racing on mf_send_gate() through PgBouncer, `msgfleet suppress import` reports bad lines
# (scripts/optout_check.py).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/optout_check.py" --build "$MF_BUILD_DIR"
