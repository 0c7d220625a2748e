#!/usr/bin/env bash
# Static analysis: clang-tidy with the project's .clang-tidy (bugprone-*,
# cert-err33-c, cert-err34-c, concurrency-mt-unsafe, readability-function-size
# at 150 lines) over every C file of the daemon, the CLI and the core library,
# and the project headers they include.  Any finding fails, and so does
# anything that would make a clean result meaningless: clang-tidy missing, no
# compile_commands.json, a check switched off in .clang-tidy, a file
# clang-tidy could not process, or no file checked at all.
#
# Env: PROMISED_BUILD_DIR (build folder, configured with
# CMAKE_EXPORT_COMPILE_COMMANDS), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
tidy=clang-tidy
required_checks="cert-err33-c cert-err34-c concurrency-mt-unsafe
readability-function-size bugprone-narrowing-conversions
bugprone-easily-swappable-parameters bugprone-not-null-terminated-result"

if ! command -v "$tidy" >/dev/null 2>&1; then
	echo "FAIL: $tidy is not installed (Debian package clang-tidy)" >&2
	exit 1
fi
if [ ! -f "$build/compile_commands.json" ]; then
	echo "FAIL: $build/compile_commands.json is missing (CMAKE_EXPORT_COMPILE_COMMANDS)" >&2
	exit 1
fi
if [ ! -f "$src/.clang-tidy" ]; then
	echo "FAIL: $src/.clang-tidy is missing" >&2
	exit 1
fi
"$tidy" --version | grep -i version

tmp=$(mktemp -d /tmp/promised-tidy.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The configuration really enables what the project promises: a weakened
# .clang-tidy must not pass as a clean run.
enabled=$(cd "$src/src" && "$tidy" --list-checks 2>&1)
for check in $required_checks; do
	if ! grep -qx "[[:space:]]*$check" <<<"$enabled"; then
		echo "FAIL: .clang-tidy does not enable $check" >&2
		exit 1
	fi
done

# And the checker bites: a file with known defects must produce findings
# under the same configuration (catches a clang-tidy that silently checks
# nothing, e.g. a broken config file that it ignores).
cat >"$tmp/bad.c" <<'C'
#include <stdio.h>
#include <string.h>
const char *bad(int e);
const char *bad(int e) { fputs("x", stdout); return strerror(e); }
C
"$tidy" --quiet --config-file="$src/.clang-tidy" "$tmp/bad.c" -- -std=c11 \
	>"$tmp/bad.out" 2>&1
for check in cert-err33-c concurrency-mt-unsafe; do
	if ! grep -q "\[$check" "$tmp/bad.out"; then
		echo "FAIL: clang-tidy did not report $check on a known-bad file:" >&2
		cat "$tmp/bad.out" >&2
		exit 1
	fi
done

# One clang-tidy per file, as many at once as there are cores.  Each writes
# its own log and exit status so that nothing is lost in interleaving.
mapfile -t files < <(cd "$src" && ls src/*.c src/cli/*.c src/daemon/*.c 2>/dev/null)
if [ "${#files[@]}" -eq 0 ]; then
	echo "FAIL: no source files found under $src/src" >&2
	exit 1
fi
export tidy build src tmp
run_one() {
	local f=$1 log
	log=$tmp/$(echo "$f" | tr / _).log
	"$tidy" -p "$build" --quiet "$src/$f" >"$log" 2>&1
	echo $? >"$log.rc"
}
export -f run_one
printf '%s\n' "${files[@]}" | xargs -P"$(nproc)" -I{} bash -c 'run_one "$1"' _ {}

checked=0 failed_files=0
for f in "${files[@]}"; do
	log=$tmp/$(echo "$f" | tr / _).log
	if [ ! -f "$log.rc" ]; then
		echo "FAIL: clang-tidy did not run on $f" >&2
		failed_files=$((failed_files + 1))
		continue
	fi
	checked=$((checked + 1))
	if [ "$(cat "$log.rc")" != 0 ]; then
		failed_files=$((failed_files + 1))
	fi
done
# A finding in a header shows up once per file including it: count it once.
cat "$tmp"/*.log | grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' |
	sort -u >"$tmp/findings"
findings=$(wc -l <"$tmp/findings")
errors=$(cat "$tmp"/*.log | grep -ciE '^error:|error while processing|Error while trying to load' || true)

if [ "$findings" -gt 0 ] || [ "$failed_files" -gt 0 ] || [ "$errors" -gt 0 ]; then
	cat "$tmp"/*.log | grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' >&2
	echo "--- per check:" >&2
	grep -oE '\[[a-z0-9.-]+(,-warnings-as-errors)?\]$' "$tmp/findings" |
		sed 's/,-warnings-as-errors//' | sort | uniq -c | sort -rn >&2
	echo "FAIL: $findings finding(s), $errors clang-tidy error(s), $failed_files file(s) not clean, of $checked checked" >&2
	exit 1
fi
if [ "$checked" -ne "${#files[@]}" ]; then
	echo "FAIL: checked $checked of ${#files[@]} files" >&2
	exit 1
fi
echo "ok: clang-tidy clean over $checked files"
