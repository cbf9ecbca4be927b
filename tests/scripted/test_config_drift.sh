#!/bin/sh
# test_config_drift: docs/config.md equals what the built programs print (--config-doc), so
# the configuration reference cannot drift from the code. On failure, regenerate with
#   scripts/gen_config_doc.sh <build dir>
# and commit the result. Needs MF_SOURCE_DIR and MF_BUILD_DIR (set by ctest).
set -eu

: "${MF_SOURCE_DIR:?MF_SOURCE_DIR must name the source tree}"
: "${MF_BUILD_DIR:?MF_BUILD_DIR must name the build tree}"
DOC="$MF_SOURCE_DIR/docs/config.md"
GEN="$MF_SOURCE_DIR/scripts/gen_config_doc.sh"

fail() { printf 'test_config_drift: FAIL: %s\n' "$*" >&2; exit 1; }

for b in planner/msgfleet-planner sender/msgfleet-sender reporter/msgfleet-reporter \
         tools/coolsms-sim/coolsms-sim; do
  [ -x "$MF_BUILD_DIR/$b" ] || fail "$MF_BUILD_DIR/$b not built (ninja -C $MF_BUILD_DIR)"
done
[ -f "$DOC" ] || fail "$DOC missing: run scripts/gen_config_doc.sh $MF_BUILD_DIR"

TMP=$(mktemp "${TMPDIR:-/tmp}/test_config_drift.XXXXXX")
trap 'rm -f "$TMP"' EXIT INT TERM
sh "$GEN" -o "$TMP" "$MF_BUILD_DIR" >/dev/null || fail "$GEN failed"

# The generated text must hold every program's table: a broken generator must not pass by
# writing an empty file that happens to equal an empty doc.
for section in msgfleet-planner msgfleet-sender msgfleet-reporter 'msgfleet (CLI)' coolsms-sim; do
  grep -q "^## $section" "$TMP" || fail "generated reference lacks the section \"$section\""
done
for key in MF_PG_DSN MF_PLANNER_POLL_MS MF_SENDER_BATCH_MAX MF_REPORTER_BATCH_MAX MF_SIM_LATENCY_MS; do
  grep -q "\`$key\`" "$TMP" || fail "generated reference lacks $key"
done

if ! diff -u "$DOC" "$TMP"; then
  fail "docs/config.md differs from the programs' --config-doc output (diff above: - committed, + code); run: scripts/gen_config_doc.sh $MF_BUILD_DIR"
fi
printf 'test_config_drift: docs/config.md matches the %s keys the programs print\n' \
  "$(grep -c '^| `MF_' "$TMP")"
