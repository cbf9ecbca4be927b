#!/bin/sh
# analyze.sh: clang's static analyzer over the tree's own C code; exits 1 on any finding.
#
# usage: scripts/analyze.sh [FILE.c...]
#
# Configures (does not build) a tree of its own, $MF_ANALYZE_BUILD_DIR (default
# build-analyze), for its compile_commands.json, then runs clang-tidy with the clang-analyzer-*
# checks on every translation unit of the repository's own code in it (common/, the daemons,
# tools/, tests/), or on the given files, $MF_ANALYZE_JOBS at a time (default: the number of
# CPUs). Findings in the tree's headers count; system and library headers do not. Two checks
# are off because they flag no bug: security.insecureAPI.DeprecatedOrUnsafeBufferHandling
# (every memcpy and snprintf, for want of C11 Annex K) and optin.performance.Padding (struct
# layout). A false positive is silenced at its line: /* NOLINT(clang-analyzer-...): why */.
#
# Prints each finding (file:line:column: warning: message [check]) with the analyzer's path
# notes, then a summary line; the full output is kept in $MF_ANALYZE_BUILD_DIR/analyze.log.
# Exits 0 when there is no finding, 1 when there is any (or a file does not compile), 2 when
# it cannot run (clang-tidy missing: scripts/deps.sh installs it).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cd "$ROOT" || exit 2

CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
BUILD=${MF_ANALYZE_BUILD_DIR:-$ROOT/build-analyze}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
JOBS=${MF_ANALYZE_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
CHECKS='-*,clang-analyzer-*'
CHECKS="$CHECKS,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling"
CHECKS="$CHECKS,-clang-analyzer-optin.performance.Padding"

die() { printf 'analyze: %s\n' "$*" >&2; exit 2; }

command -v "$CLANG_TIDY" >/dev/null 2>&1 ||
    die "$CLANG_TIDY not found (scripts/deps.sh installs it)"
command -v cmake >/dev/null 2>&1 || die "cmake not found"

mkdir -p "$BUILD" || die "could not create $BUILD"
GEN=
if command -v ninja >/dev/null 2>&1 && [ ! -f "$BUILD/CMakeCache.txt" ]; then
    GEN="-G Ninja"
fi
# shellcheck disable=SC2086
cmake -S "$ROOT" -B "$BUILD" $GEN -DCMAKE_BUILD_TYPE=Debug -DMF_SANITIZE=OFF \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$BUILD/cmake.log" 2>&1 ||
    { cat "$BUILD/cmake.log" >&2; die "cmake failed (log: $BUILD/cmake.log)"; }
[ -f "$BUILD/compile_commands.json" ] || die "no $BUILD/compile_commands.json after cmake"

if [ "$#" -gt 0 ]; then
    FILES=$(for f in "$@"; do
        case "$f" in /*) printf '%s\n' "$f" ;; *) printf '%s\n' "$ROOT/$f" ;; esac
    done)
else
    # Every file of the compile database under the repository, not in a build folder, once.
    FILES=$(python3 -c '
import json, os, sys
root, build = sys.argv[1], sys.argv[2]
seen = set()
for e in json.load(open(os.path.join(build, "compile_commands.json"))):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, root)
    top = rel.split(os.sep)[0]
    if rel.startswith("..") or top.startswith("build") or top in (".stack", "bench"):
        continue
    if f not in seen:
        seen.add(f)
        print(f)
' "$ROOT" "$BUILD") || die "could not read $BUILD/compile_commands.json"
fi
[ -n "$FILES" ] || die "no translation unit to analyze"
NFILES=$(printf '%s\n' "$FILES" | wc -l)

LOG="$BUILD/analyze.log"
START=$(date +%s)
printf 'analyze: %d translation units, %s jobs, %s\n' "$NFILES" "$JOBS" \
    "$("$CLANG_TIDY" --version | grep -i version | head -n 1 | sed 's/^ *//')"
# -Wno-error: the tree's -Werror would turn a warning clang has and gcc has not into an error
# here; warnings are the compiler's business, findings the analyzer's. The header filter
# admits the tree's own headers only.
printf '%s\n' "$FILES" | xargs -P "$JOBS" -n 1 "$CLANG_TIDY" -p "$BUILD" --quiet \
    --checks="$CHECKS" --header-filter="^$ROOT/(common|planner|sender|reporter|tools|tests)/" \
    --extra-arg=-Wno-error >"$LOG" 2>&1
rc=$?
TOOK=$(( $(date +%s) - START ))

# A finding is "path:line:col: warning|error: text [check]"; the same one reached from several
# translation units (a header) counts once.
FINDINGS=$(grep -E '^/[^:]+:[0-9]+:[0-9]+: (warning|error): ' "$LOG" | sort -u)
if [ -n "$FINDINGS" ]; then
    # Each finding with its path notes, as clang-tidy printed them.
    NOISE='^[0-9]+ (warnings?|errors?)( and [0-9]+ errors?)? generated\.$'
    NOISE="$NOISE|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing"
    grep -vE "$NOISE" "$LOG" | sed "s|^$ROOT/||"
    printf 'analyze: %d finding(s) in %d translation units (%d s); log: %s\n' \
        "$(printf '%s\n' "$FINDINGS" | wc -l)" "$NFILES" "$TOOK" "$LOG" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$LOG" >&2
    printf 'analyze: clang-tidy failed (exit %d); log: %s\n' "$rc" "$LOG" >&2
    exit 1
fi
printf 'analyze: no finding in %d translation units (%d s)\n' "$NFILES" "$TOOK"
exit 0
