#!/bin/sh
# The end-to-end campaign test (test_e2e_campaign.sh) once more, with every program it starts
# (planner, senders, reporter, simulator, CLI) from the ASan+UBSan tree $MF_ASAN_BUILD_DIR
# (default build-asan; scripts/test.sh builds it): any sanitizer report fails the test. The
# suite runs it once, from the normal tree (scripts/test.sh runs only the unit tests in the
# ASan tree). The daemons' logs (stdout and stderr) are kept in a folder that is printed.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"

asan_dir=${MF_ASAN_BUILD_DIR:-$MF_SOURCE_DIR/build-asan}
case "$asan_dir" in /*) ;; *) asan_dir="$MF_SOURCE_DIR/$asan_dir" ;; esac
fail() { printf 'test_e2e_campaign_asan: error: %s\n' "$*" >&2; exit 1; }

grep -q '^MF_SANITIZE:BOOL=ON$' "$asan_dir/CMakeCache.txt" 2>/dev/null ||
  fail "$asan_dir is not a tree configured with -DMF_SANITIZE=ON (set MF_ASAN_BUILD_DIR, or" \
       "build it: cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMF_SANITIZE=ON)"
for p in planner/msgfleet-planner sender/msgfleet-sender reporter/msgfleet-reporter \
         tools/coolsms-sim/coolsms-sim tools/msgfleet/msgfleet; do
  [ -x "$asan_dir/$p" ] || fail "$asan_dir/$p is not built (ninja -C $asan_dir)"
done

# A report stops the program (-fno-sanitize-recover=all does it for UBSan already) and goes
# to its stderr, which campaign.py writes into the program's log; leaks are reported at exit.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# campaign.py makes its workspace (one log per program) with tempfile: TMPDIR puts it here
work=$(mktemp -d "${TMPDIR:-/tmp}/mfasan-XXXXXX")
chmod 755 "$work"
printf 'test_e2e_campaign_asan: programs from %s; logs under %s\n' "$asan_dir" "$work"
rc=0
TMPDIR=$work python3 "$MF_SOURCE_DIR/scripts/campaign.py" --build "$asan_dir" \
  --customers 10000 --senders 2 --check --await-delivery || rc=$?

logs=$(find "$work" -name '*.log' -type f | sort)
for name in coolsms-sim planner-1 sender-1 sender-2 reporter-1; do
  printf '%s\n' "$logs" | grep -q "/$name\.log\$" || fail "no log of $name under $work"
done
found=0
for f in $logs; do
  if grep -Eq 'runtime error:|(Address|Leak|UndefinedBehavior)Sanitizer' "$f"; then
    found=1
    printf 'test_e2e_campaign_asan: sanitizer report in %s:\n' "$f" >&2
    grep -E -A 40 'runtime error:|(Address|Leak|UndefinedBehavior)Sanitizer' "$f" | head -n 80 >&2
  fi
done
[ "$found" -eq 0 ] || fail "the sanitizers reported errors (logs above, all under $work)"
[ "$rc" -eq 0 ] || fail "campaign.py exited $rc (logs under $work)"
printf 'test_e2e_campaign_asan: no sanitizer report in %d logs\n' "$(printf '%s\n' "$logs" | wc -l)"
