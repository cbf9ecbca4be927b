#!/bin/sh
# format_check.sh: whether the tree's C files are formatted as .clang-format says.
#
# usage: scripts/format_check.sh [FILE...]
#
# Without arguments it checks the files scripts/checksrc.sh checks (every .c and .h file of the
# tree but build folders, .stack and node_modules). Runs `clang-format --dry-run --Werror`:
# prints clang-format's complaint (file:line:column and the line as it should be) for every
# place that would change, and exits 1 when any file is not formatted, 0 when all are, 2 when
# it cannot run (clang-format missing: scripts/deps.sh installs it). Changes nothing; to format
# a file: clang-format -i FILE. The style was tuned with Debian 12's clang-format 14; another
# major version may format some constructs differently.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cd "$ROOT" || exit 2

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
die() { printf 'format_check: %s\n' "$*" >&2; exit 2; }

command -v "$CLANG_FORMAT" >/dev/null 2>&1 ||
    die "$CLANG_FORMAT not found (scripts/deps.sh installs it)"
[ -f "$ROOT/.clang-format" ] || die "$ROOT/.clang-format missing"

if [ "$#" -gt 0 ]; then
    FILES=$(printf '%s\n' "$@")
else
    FILES=$("$ROOT/scripts/checksrc.sh" --list) || exit 2
fi
[ -n "$FILES" ] || die "no .c/.h files found"

LOG=$(mktemp) || exit 2
trap 'rm -f "$LOG"' EXIT
# --Werror makes each file that would change exit non-zero; xargs then exits 123.
printf '%s\n' "$FILES" | xargs "$CLANG_FORMAT" --style=file --dry-run --Werror >"$LOG" 2>&1
rc=$?
cat "$LOG"
total=$(printf '%s\n' "$FILES" | wc -l)
bad=$(grep -E '^[^ :]+:[0-9]+:[0-9]+: error: code should be clang-formatted' "$LOG" |
      cut -d: -f1 | sort -u | wc -l)
case $rc in
    0)
        printf 'format_check: %d files formatted (%s)\n' "$total" \
            "$("$CLANG_FORMAT" --version | head -n 1)"
        exit 0 ;;
    123)
        printf 'format_check: %d of %d files not formatted as .clang-format says\n' \
            "$bad" "$total" >&2
        exit 1 ;;
    *)
        printf 'format_check: %s failed (exit %d)\n' "$CLANG_FORMAT" "$rc" >&2
        exit 2 ;;
esac
