#!/bin/sh
# The SDK contract test as ctest runs it (tests/CMakeLists.txt; see tests/contract/README.md).
#   run.sh live     the official SDK against a simulator it starts itself (no stack needed)
#   run.sh capture  a small campaign on the local stack with the simulator's request capture on,
#                   then every captured fleet request checked with the SDK's request schemas
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${MF_SOURCE_DIR:?}" "${MF_BUILD_DIR:?}"
command -v node >/dev/null 2>&1 || { echo "contract: node not found (run scripts/deps.sh)" >&2; exit 1; }
# scripts/deps.sh installs node_modules; a tree that skipped it gets them here, from the lock.
if [ ! -f "$here/node_modules/solapi/package.json" ]; then
  echo "contract: installing tests/contract/node_modules (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "contract: npm ci failed in $here (run scripts/deps.sh)" >&2; exit 1; }
fi
sim="$MF_BUILD_DIR/tools/coolsms-sim/coolsms-sim"
case "${1:-}" in
  live)
    exec node "$here/contract.js" --sim "$sim"
    ;;
  capture)
    . "$MF_SOURCE_DIR/scripts/env.sh"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/mf-contract.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    # 1,200 recipients (SMS and, from id 1000 on, LMS texts; invalid phones), then the
    # alimtalk workflow (Kakao options, variables, buttons); one sender.
    python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$MF_BUILD_DIR" --customers 1200 \
      --senders 1 --check --then-alimtalk --sim-capture "$tmp/capture.jsonl"
    node "$here/contract.js" --no-live --capture "$tmp/capture.jsonl"
    ;;
  *)
    echo "usage: run.sh live|capture" >&2
    exit 2
    ;;
esac
