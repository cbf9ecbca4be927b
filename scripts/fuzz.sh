#!/bin/sh
# fuzz.sh: build the libFuzzer targets of tests/fuzz and run each on its corpus for a while.
#
#   scripts/fuzz.sh [-m] [SECONDS] [TARGET...]
#
# SECONDS per target (default 600); TARGET names as in tests/fuzz/fuzz_<name>.c (default: all).
# Installs clang and its runtime (Debian: clang, libclang-rt-14-dev) when missing, configures
# $MF_FUZZ_BUILD_DIR (default build-fuzz) with -DMF_FUZZ=ON and builds the targets. Each run
# reads tests/fuzz/corpus/<name>/ and writes what it finds new to a scratch directory
# ($MF_FUZZ_BUILD_DIR/fuzz-work/<name>/new); the repository's corpus is changed only with -m,
# which merges corpus and new inputs, minimised (-merge=1), back into tests/fuzz/corpus/<name>/
# (files named by hand, seeds and the inputs of fixed findings, are always kept); -m with
# SECONDS 0 only merges what the last runs found.
# Crash, leak and timeout inputs land in $MF_FUZZ_BUILD_DIR/fuzz-work/<name>/ (crash-*,
# leak-*, timeout-*, oom-*). Runs niced (MF_FUZZ_NICE, default 10), one target after another.
# Prints one line per target: executions, exec/s, cov and ft from libFuzzer's last status
# line, corpus size, and the crash file if any. Exits 1 when any target found a crash.
# Never reads standard input.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${MF_FUZZ_BUILD_DIR:=$ROOT/build-fuzz}"
: "${MF_FUZZ_NICE:=10}"
: "${MF_FUZZ_MAX_LEN:=8192}"
WORK="$MF_FUZZ_BUILD_DIR/fuzz-work"
CORPUS="$ROOT/tests/fuzz/corpus"
exec </dev/null

say() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 2; }

MERGE=0
if [ "${1:-}" = -m ]; then
  MERGE=1
  shift
fi
SECONDS_EACH=600
case "${1:-}" in
  '') ;;
  *[!0-9]*) ;;
  *) SECONDS_EACH=$1; shift ;;
esac
[ "$SECONDS_EACH" -gt 0 ] || [ "$MERGE" = 1 ] ||
  die "SECONDS must be a positive number of seconds (0 only with -m)"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (or install clang and libclang-rt-14-dev by hand)"
  fi
}

# clang and the libFuzzer/sanitizer runtime; apt is not touched when both are present.
install_clang() {
  missing=
  for p in clang libclang-rt-14-dev; do
    case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
      *" installed") ;;
      *) missing="$missing $p" ;;
    esac
  done
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand:$missing"
  say "installing Debian packages:$missing"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
    die "apt-get update failed"
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    $missing >/dev/null || die "apt-get install$missing failed"
}

install_clang
if [ $# -eq 0 ]; then
  for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    [ "$n" = fuzz_replay ] || set -- "$@" "${n#fuzz_}"
  done
fi
for t in "$@"; do
  [ -f "$ROOT/tests/fuzz/fuzz_$t.c" ] || die "no fuzz target \"$t\" (tests/fuzz/fuzz_$t.c)"
done

say "building the targets in $MF_FUZZ_BUILD_DIR (clang, libFuzzer, ASan+UBSan)"
mkdir -p "$WORK"
CC=clang cmake -S "$ROOT" -B "$MF_FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMF_FUZZ=ON >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log" >&2; die "cmake failed"; }
targets=
for t in "$@"; do targets="$targets fuzz_$t"; done
# shellcheck disable=SC2086
ninja -C "$MF_FUZZ_BUILD_DIR" $targets >"$WORK/build.log" 2>&1 ||
  { tail -n 40 "$WORK/build.log" >&2; die "build failed (log: $WORK/build.log)"; }

# is_hash_name NAME: whether NAME is 40 hex digits (how libFuzzer names the inputs it keeps).
is_hash_name() {
  case "$1" in
    *[!0-9a-f]*) return 1 ;;
  esac
  [ ${#1} -eq 40 ]
}

# final_stat NAME LOG: a value of libFuzzer's -print_final_stats block.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

STATUS=0
printf '%-18s %12s %8s %6s %7s %7s  %s\n' target execs exec/s cov ft corpus crash
for t in "$@"; do
  dir="$WORK/$t"
  log="$dir/run.log"
  rc=0
  if [ "$SECONDS_EACH" -gt 0 ]; then
    rm -rf "$dir/new"
    mkdir -p "$dir/new" "$CORPUS/$t"
    nice -n "$MF_FUZZ_NICE" "$MF_FUZZ_BUILD_DIR/tests/fuzz/fuzz_$t" \
      -max_total_time="$SECONDS_EACH" -max_len="$MF_FUZZ_MAX_LEN" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
      "$dir/new" "$CORPUS/$t" >"$log" 2>&1 || rc=$?
  fi
  [ -f "$log" ] || die "$t has not been fuzzed yet: nothing to merge"
  # the last status line ("#N DONE cov: X ft: Y corp: ..." or the one before a crash)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ "$MERGE" = 1 ] && [ -z "$crash" ]; then
    rm -rf "$dir/merged"
    mkdir -p "$dir/merged"
    # edges only (-use_counters=0): tens of files that reach every edge the run reached,
    # rather than the hundreds that keep each hit-count bucket (those stay in new/)
    "$MF_FUZZ_BUILD_DIR/tests/fuzz/fuzz_$t" -merge=1 -use_counters=0 \
      -max_len="$MF_FUZZ_MAX_LEN" "$dir/merged" "$CORPUS/$t" "$dir/new" >"$dir/merge.log" 2>&1 ||
      die "merge failed for $t (log: $dir/merge.log)"
    # inputs named by hand (seeds, the input of each fixed finding) stay as they are; the
    # rest (libFuzzer names them by the SHA-1 of their content) is replaced by the merge
    for f in "$CORPUS/$t"/*; do
      [ -f "$f" ] || continue
      if is_hash_name "$(basename "$f")"; then
        rm -f "$f"
      else
        rm -f "$dir/merged/$(sha1sum "$f" | cut -c1-40)"
      fi
    done
    for f in "$dir/merged"/*; do
      [ -f "$f" ] && cp "$f" "$CORPUS/$t/"
    done
  fi
  size=$(find "$CORPUS/$t" -type f | wc -l)
  printf '%-18s %12s %8s %6s %7s %7s  %s\n' "$t" "$(final_stat number_of_executed_units "$log")" \
    "$(final_stat average_exec_per_sec "$log")" "${cov:-?}" "${ft:-?}" "$size" "${crash:--}"
  if [ -n "$crash" ] || [ "$rc" -ne 0 ]; then
    STATUS=1
    [ -n "$crash" ] || say "$t: exit $rc without a crash file (log: $log)"
  fi
done
exit "$STATUS"
