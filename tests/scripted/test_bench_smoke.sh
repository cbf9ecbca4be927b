#!/bin/sh
# Benchmark harness, short run: bench/bench.py with 10,000 recipients on the local stack (every
# stage: warm-up, latency, end to end with delivery reports, COPY floors (seed schema, migrated
# schema, reports UPDATE), solapi SDK peers (INSERT and COPY), scale-out). Asserts that it ran and
# printed its summary line with plausible figures, and wrote the time series and the chart.
# The figures themselves are not judged here (BENCHMARKS.md holds the full run).
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
out=$(mktemp -d "${TMPDIR:-/tmp}/mf-bench-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
python3 "$MF_SOURCE_DIR/bench/bench.py" --recipients 10000 --build "$MF_BUILD_DIR" \
  --tx-rounds 1 --events-rate 200 --events-seconds 3 \
  --rate-recipients 2000 --rate-workflow-per-min 60000 \
  --out "$out" >"$out/bench.log" 2>&1 || {
  tail -n 60 "$out/bench.log"
  echo "test_bench_smoke: FAIL: bench.py exited non-zero" >&2
  exit 1
}
last=$(tail -n 1 "$out/bench.log")
echo "$last"
fail() { tail -n 40 "$out/bench.log"; echo "test_bench_smoke: FAIL: $1" >&2; exit 1; }
n='[0-9][0-9]*\(\.[0-9][0-9]*\)\{0,1\}'
echo "$last" | grep -q "^bench: recipients=10000 e2e_s=$n seed_floor_s=$n seed_floor_ratio=$n floor_s=$n floor_ratio=$n final_s=$n final_ratio=$n peer_s=$n peer_speedup=$n copy_peer_s=$n copy_peer_speedup=$n first_send_ms=$n transactional_under_load_ms=$n max_rss_mb=$n scale_1_2_4=$n,$n,$n\$" ||
  fail "last line is not the summary line: $last"
# every figure measured (a skipped or broken stage prints 0)
for key in e2e_s seed_floor_s floor_s final_s peer_s copy_peer_s first_send_ms max_rss_mb \
           transactional_under_load_ms; do
  v=$(echo "$last" | sed -n "s/.* $key=\([0-9.]*\).*/\1/p")
  awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "$key is $v"
done
echo "$last" | grep -q 'scale_1_2_4=[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*$' || fail "scale-out figures missing"
grep -q '^bench: events: 600 of 600 sent exactly once, 0 duplicated, 0 missing' "$out/bench.log" ||
  fail "the events stage did not send each event exactly once"
grep -q '^bench: e2e: 9995 recipients' "$out/bench.log" || fail "the e2e run did not record 9995 recipients"
[ "$(wc -l <"$out/timeseries-10000.csv")" -ge 2 ] || fail "time series CSV is empty"
[ -s "$out/timeseries-10000.png" ] || fail "chart PNG missing"
head -c 8 "$out/timeseries-10000.png" | od -An -c | grep -q 'P   N   G' || fail "chart is not a PNG"
echo "test_bench_smoke: ok"
