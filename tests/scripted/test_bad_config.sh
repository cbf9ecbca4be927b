#!/bin/sh
# test_bad_config: every daemon and the simulator stop at start-up on a bad setting with exit
# status 2 and a message naming the key (1 is kept for failures after start-up), and none of
# them starts anything first (each returns within seconds, no listening line).
# Needs MF_SOURCE_DIR, MF_BUILD_DIR (set by ctest); nothing of the stack is used.
set -eu

: "${MF_SOURCE_DIR:?MF_SOURCE_DIR must name the source tree}"
: "${MF_BUILD_DIR:?MF_BUILD_DIR must name the build tree}"
. "$MF_SOURCE_DIR/scripts/env.sh"

fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# check NAME BINARY KEY=VALUE [KEY=VALUE...]: the program must exit 2 naming the first KEY
# on stderr (the others are settings it needs to get that far)
check() {
    name=$1 bin=$2 kv=$3 key=${3%%=*}
    shift 3
    set +e
    env "$@" "$kv" timeout 20 "$MF_BUILD_DIR/$bin" >"$out" 2>&1 </dev/null
    rc=$?
    set -e
    if [ "$rc" -ne 2 ]; then
        echo "FAIL: $name with $kv exited $rc (want 2): $(head -c 300 "$out")"
        fail=1
    elif ! grep -q "$key" "$out"; then
        echo "FAIL: $name with $kv: the message does not name $key: $(head -c 300 "$out")"
        fail=1
    else
        echo "ok: $name with $kv: exit 2: $(head -n 1 "$out" | head -c 200)"
    fi
}

check planner planner/msgfleet-planner MF_PLANNER_POLL_MS=soon
check sender sender/msgfleet-sender MF_SENDER_BATCH_MAX=lots
check reporter reporter/msgfleet-reporter MF_REPORTER_SHUTDOWN_S=never
check coolsms-sim tools/coolsms-sim/coolsms-sim MF_SIM_LATENCY_MS=slow \
    MF_SIM_API_KEY=k MF_SIM_API_SECRET=s MF_SIM_SENDERS=0212345678
check planner planner/msgfleet-planner MF_LOG_LEVEL=chatty
check sender sender/msgfleet-sender MF_LOG_LEVEL=chatty
check reporter reporter/msgfleet-reporter MF_LOG_LEVEL=chatty
exit $fail
