#!/bin/sh
# checksrc.sh: the source rules of HACKING.md over every .c/.h file of the tree.
#
# usage: scripts/checksrc.sh [FILE...]
#        scripts/checksrc.sh --list    (print the files it would check, one a line)
#
# Without arguments it checks every .c and .h file under the repository, except build folders
# (build*, or any folder holding a CMakeCache.txt), .git, .stack and node_modules. The rules:
#
#   banned  a call of sprintf, vsprintf, strcpy, strcat, atoi, atol, atoll, gets, strtok,
#           sscanf or strerror (word match outside comments and string literals, so
#           curl_easy_strerror, strerror_r and mf_err_errno_str pass)
#   long    a line longer than 100 columns (a UTF-8 character counts as one column)
#   space   whitespace at the end of a line
#   header  a first line that is not the purpose comment "/* name: what the file holds"
#
# Prints one "file:line: rule: message" line per violation and exits 1 when there is any,
# 0 when the files are clean, 2 when it cannot run. POSIX sh and awk; fast (well under a
# second over the tree), so scripts/test.sh runs it before building.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cd "$ROOT" || exit 2

MAX_COLUMNS=100

list_files() {
    find . -type d \( -name .git -o -name .stack -o -name node_modules -o -name 'build*' \
        -o -exec test -f '{}/CMakeCache.txt' \; \) -prune \
        -o -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | LC_ALL=C sort
}

if [ "${1:-}" = --list ]; then
    list_files
    exit
fi
if [ "$#" -gt 0 ]; then
    for f in "$@"; do
        [ -f "$f" ] || { printf 'checksrc: no such file: %s\n' "$f" >&2; exit 2; }
    done
    FILES=$(printf '%s\n' "$@")
else
    FILES=$(list_files) || { printf 'checksrc: could not list the source files\n' >&2; exit 2; }
fi
[ -n "$FILES" ] || { printf 'checksrc: no .c/.h files found\n' >&2; exit 2; }

# Bytes, not the locale's characters: the column count subtracts the UTF-8 continuation bytes
# itself, so the result does not depend on the awk or the locale.
# xargs exits 123 when an awk run exits 1 (violations found).
printf '%s\n' "$FILES" | LC_ALL=C xargs awk -v max="$MAX_COLUMNS" '
function report(rule, msg) {
    printf "%s:%d: %s: %s\n", FILENAME, FNR, rule, msg
    problems++
    bad[FILENAME] = 1
}

# The line with comments and string and character literals blanked out; in_comment carries
# an open /* comment over to the next line.
function code_of(line,    out, m, c, lit) {
    out = ""
    while (line != "") {
        if (in_comment) {
            m = index(line, "*/")
            if (m == 0)
                return out
            line = substr(line, m + 2)
            in_comment = 0
            out = out " "
            continue
        }
        m = match(line, /["\047\/]/)
        if (m == 0)
            return out line
        out = out substr(line, 1, m - 1)
        line = substr(line, m)
        c = substr(line, 1, 1)
        if (c == "/") {
            if (substr(line, 2, 1) == "*") {
                in_comment = 1
                line = substr(line, 3)
            } else if (substr(line, 2, 1) == "/") {
                return out
            } else {
                out = out "/"
                line = substr(line, 2)
            }
            continue
        }
        lit = (c == "\"") ? "^\"([^\"\\\\]|\\\\.)*\"?" : "^\047([^\047\\\\]|\\\\.)*\047?"
        match(line, lit)
        out = out c c
        line = substr(line, RLENGTH + 1)
    }
    return out
}

BEGIN {
    banned = "(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|atoi|atol|atoll|gets|strtok|" \
             "sscanf|strerror)[ \t]*\\("
    hint["sprintf"] = "use snprintf"
    hint["vsprintf"] = "use vsnprintf"
    hint["strcpy"] = "use a bounded copy (snprintf, or memcpy of a checked length)"
    hint["strcat"] = "use a bounded append (snprintf at the end, or mf_buf)"
    hint["atoi"] = "use strtol with full checks"
    hint["atol"] = "use strtol with full checks"
    hint["atoll"] = "use strtoll with full checks"
    hint["gets"] = "use fgets"
    hint["strtok"] = "use strtok_r or a loop over strchr"
    hint["sscanf"] = "use strtol and friends with full checks"
    hint["strerror"] = "use mf_err_errno_str (common/mf_err.h): strerror is not thread-safe"
}

FNR == 1 {
    files++
    in_comment = 0
    if ($0 !~ /^\/\* [A-Za-z0-9_. -]+: [^ ]/)
        report("header", "the first line must be the purpose comment \"/* name: what it holds\"")
}

{
    line = $0
    if (line ~ /[ \t\r\f\v]+$/)
        report("space", "trailing whitespace")
    cols = length(line)
    tmp = line
    cols -= gsub(/[\200-\277]/, "", tmp)
    if (cols > max)
        report("long", sprintf("line is %d columns, more than %d", cols, max))
    code = code_of(line)
    while (match(code, banned)) {
        call = substr(code, RSTART, RLENGTH)
        sub(/^[^A-Za-z]/, "", call)
        sub(/[ \t]*\($/, "", call)
        report("banned", call " is banned: " hint[call])
        code = substr(code, RSTART + RLENGTH)
    }
}

END {
    nbad = 0
    for (f in bad)
        nbad++
    if (problems > 0) {
        printf "checksrc: %d problem(s) in %d of %d files (rules: HACKING.md)\n", problems,
               nbad, files > "/dev/stderr"
        exit 1
    }
    printf "checksrc: %d files clean\n", files
}
'
rc=$?
case $rc in
    0) exit 0 ;;
    123) exit 1 ;;
    *) printf 'checksrc: awk failed (exit %d)\n' "$rc" >&2; exit 2 ;;
esac
