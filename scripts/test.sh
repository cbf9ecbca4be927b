#!/usr/bin/env bash
# test.sh: build msgfleet and run every test against the local stack (the README's test command).
#
#   0. scripts/checksrc.sh: the source rules of HACKING.md (banned calls, line length, trailing
#      whitespace, purpose comments); it names file and line of each violation, and any
#      violation fails the suite (the tests still run). Then scripts/format_check.sh (after
#      step 1, which installs clang-format; MF_FORMAT_CHECK=0 skips it), failing the same
#      way when a file is not formatted as .clang-format says. Then scripts/analyze.sh,
#      clang's static analyzer over the tree (its own build-analyze tree, about 3.5 minutes
#      on two cores; MF_ANALYZE=0 skips it): a finding fails the suite the same way
#   1. scripts/deps.sh (fast when everything is installed)
#   2. configure and build two trees with Ninja: $MF_BUILD_DIR (default build, RelWithDebInfo)
#      and $MF_ASAN_BUILD_DIR (default build-asan, Debug with -DMF_SANITIZE=ON)
#   3. scripts/stack.sh up, then the migrations (build/tools/msgfleet/msgfleet migrate)
#   4. ctest: all tests in the normal tree (test_e2e_campaign_asan among them runs the end-to-end
#      campaign with the ASan tree's programs), the unit tests (label unit) in the ASan tree
#
# Exits non-zero when any step or test fails. Safe to run again: the builds are incremental and
# the stack is reused. The stack stays up afterwards (scripts/stack.sh down stops it), except
# under CI (CI=true) or MF_TEST_STACK_DOWN=1, where it is stopped at the end. With
# MF_STACK_EXTERNAL=1 the stack is neither started nor stopped: the tests use whatever already
# runs at the env.sh addresses (for example a shared development stack).
# Never reads standard input.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
. "$ROOT/scripts/env.sh"

: "${MF_BUILD_DIR:=build}"
: "${MF_ASAN_BUILD_DIR:=build-asan}"
case "$MF_BUILD_DIR" in /*) ;; *) MF_BUILD_DIR="$ROOT/$MF_BUILD_DIR" ;; esac
case "$MF_ASAN_BUILD_DIR" in /*) ;; *) MF_ASAN_BUILD_DIR="$ROOT/$MF_ASAN_BUILD_DIR" ;; esac
export MF_BUILD_DIR MF_ASAN_BUILD_DIR
: "${MF_CTEST_JOBS:=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

LOG_DIR="$MF_STACK_DIR/test-logs"
mkdir -p "$LOG_DIR"
exec </dev/null

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'test: error: %s\n' "$*" >&2; exit 1; }

# configure DIR CMAKE-ARGS...: (re)configure a Ninja tree; a tree made by another generator
# is configured afresh.
configure() {
  local dir=$1
  shift
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
    printf 'test: %s was configured with another generator; reconfiguring with Ninja\n' "$dir"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  cmake -S "$ROOT" -B "$dir" -G Ninja "$@" >"$LOG_DIR/cmake-$(basename "$dir").log" 2>&1 ||
    { cat "$LOG_DIR/cmake-$(basename "$dir").log" >&2; fail "cmake failed for $dir"; }
}

build() {
  ninja -C "$1" || fail "build failed in $1"
}

# run_ctest NAME DIR ARGS...: run ctest, keep its output in a log, remember pass/fail counts.
PASSED=0
FAILED=0
STATUS=0
run_ctest() {
  local name=$1 dir=$2 log="$LOG_DIR/ctest-$1.log" rc line total nfail
  shift 2
  (cd "$dir" && ctest --output-on-failure -j "$MF_CTEST_JOBS" "$@") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    nfail=$(printf '%s\n' "$line" | sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/')
    total=$(printf '%s\n' "$line" | sed -E 's/.*failed out of ([0-9]+).*/\1/')
    PASSED=$((PASSED + total - nfail))
    FAILED=$((FAILED + nfail))
    SUMMARY+=("$name: $line")
  elif grep -q 'No tests were found' "$log"; then
    SUMMARY+=("$name: no tests found")
  else
    SUMMARY+=("$name: ctest exited $rc without a summary")
    [ "$rc" -ne 0 ] && FAILED=$((FAILED + 1))
  fi
  [ "$rc" -eq 0 ] || STATUS=1
}
SUMMARY=()

step "source rules (scripts/checksrc.sh)"
if "$ROOT/scripts/checksrc.sh" 2>&1 | tee "$LOG_DIR/checksrc.log"; then
  SUMMARY+=("checksrc: clean")
else
  SUMMARY+=("checksrc: FAILED, rules of HACKING.md broken (file:line in $LOG_DIR/checksrc.log)")
  FAILED=$((FAILED + 1))
  STATUS=1
fi

step "dependencies"
"$ROOT/scripts/deps.sh" || fail "scripts/deps.sh failed"

if [ "${MF_FORMAT_CHECK:-1}" = 1 ]; then
  step "formatting (scripts/format_check.sh)"
  if "$ROOT/scripts/format_check.sh" >"$LOG_DIR/format_check.log" 2>&1; then
    SUMMARY+=("format_check: formatted")
  else
    tail -n 40 "$LOG_DIR/format_check.log"
    SUMMARY+=("format_check: FAILED, files not formatted (details in $LOG_DIR/format_check.log)")
    FAILED=$((FAILED + 1))
    STATUS=1
  fi
fi

# About 3.5 minutes on two cores; MF_ANALYZE=0 skips it (a quick local run).
if [ "${MF_ANALYZE:-1}" = 1 ]; then
  step "static analysis (scripts/analyze.sh)"
  if "$ROOT/scripts/analyze.sh" >"$LOG_DIR/analyze.log" 2>&1; then
    tail -n 1 "$LOG_DIR/analyze.log"
    SUMMARY+=("analyze: no finding")
  else
    grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$LOG_DIR/analyze.log" | sort -u
    tail -n 1 "$LOG_DIR/analyze.log"
    SUMMARY+=("analyze: FAILED, static analyzer findings (details in $LOG_DIR/analyze.log)")
    FAILED=$((FAILED + 1))
    STATUS=1
  fi
fi

step "configure and build $MF_BUILD_DIR (RelWithDebInfo)"
configure "$MF_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMF_SANITIZE=OFF
build "$MF_BUILD_DIR"

step "configure and build $MF_ASAN_BUILD_DIR (Debug, ASan+UBSan)"
configure "$MF_ASAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DMF_SANITIZE=ON
build "$MF_ASAN_BUILD_DIR"

step "local stack"
if [ "${MF_STACK_EXTERNAL:-0}" = 1 ]; then
  printf 'test: MF_STACK_EXTERNAL=1: using the services already running at the env.sh addresses\n'
else
  "$ROOT/scripts/stack.sh" up || fail "scripts/stack.sh up failed"
fi

MSGFLEET="$MF_BUILD_DIR/tools/msgfleet/msgfleet"
step "migrations"
if [ -x "$MSGFLEET" ]; then
  "$MSGFLEET" migrate || fail "msgfleet migrate failed"
else
  printf 'test: %s not built; no migrations applied\n' "$MSGFLEET"
fi

step "ctest: all tests in $MF_BUILD_DIR"
run_ctest all "$MF_BUILD_DIR"

step "ctest: unit tests in $MF_ASAN_BUILD_DIR (ASan+UBSan)"
run_ctest asan-unit "$MF_ASAN_BUILD_DIR" -L unit

if [ "${MF_STACK_EXTERNAL:-0}" != 1 ] && { [ "${CI:-}" = true ] || [ "${MF_TEST_STACK_DOWN:-0}" = 1 ]; }; then
  step "stopping the local stack"
  "$ROOT/scripts/stack.sh" down || true
fi

step "summary (logs in $LOG_DIR)"
for s in "${SUMMARY[@]}"; do
  printf '%s\n' "$s"
done
printf 'total: %d passed, %d failed\n' "$PASSED" "$FAILED"
exit "$STATUS"
