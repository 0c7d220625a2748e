#!/usr/bin/env bash
# Memory check under valgrind (memcheck): every unit test binary, and the
# real daemon through its end-to-end test (tests/e2e/daemon_e2e.sh: start,
# promises added while it runs, reminders delivered to the Maildir channel
# on time, SIGHUP with a broken then a repaired config, SIGTERM), plus the
# SMTP and intake tests.  A
# definite leak or an invalid read, write, free or use of uninitialised
# memory fails the run: valgrind exits 99 and its report is printed.
# "Still reachable" and "possibly lost" blocks are not errors: libraries
# (OpenSSL, libcurl, glibc's locale and time zone caches) keep those on
# purpose until exit.  tests/valgrind.supp holds the suppressions, each
# for third-party noise only and with its reason.
#
# Unit tests run in parallel, one per core: 40 s for them (90 s on a busy
# machine) and 60 s for the daemon on 2 cores.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

if ! command -v valgrind >/dev/null 2>&1; then
	echo "FAIL: valgrind is not installed (scripts/lib/deps.sh lists it)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/promised-valgrind.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

VG=(valgrind -q --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite --show-leak-kinds=definite
	--track-fds=no --num-callers=30
	--suppressions="$src/tests/valgrind.supp")

# --- unit tests -------------------------------------------------------------
# tests/CMakeLists.txt builds one executable per tests/unit/test_*.c into
# the tests folder of the build; each must be there.
units=()
for c in "$src"/tests/unit/test_*.c; do
	bin=$build/tests/$(basename "$c" .c)
	if [ -x "$bin" ]; then
		units+=("$bin")
	else
		fail "$bin is not built"
	fi
done
[ "${#units[@]}" -gt 0 ] || { echo "FAIL: no unit test binaries in $build/tests" >&2; exit 1; }

# run_unit BIN: one unit test under valgrind, from the folder ctest runs it
# in, with the environment ctest gives it; "<name> <exit code>" on stdout,
# valgrind's report and the test's output in $tmp/<name>.log.
run_unit() {
	local name rc=0
	name=$(basename "$1")
	(cd "$build/tests" &&
		PROMISED_SOURCE_DIR=$src PROMISED_TEST_DATA=$src/tests/data \
			"${VG[@]}" "$1" >"$tmp/$name.log" 2>&1) || rc=$?
	echo "$name $rc"
}

# One at a time per core: valgrind is CPU bound.
start=$(date +%s)
jobs_max=$(nproc)
for bin in "${units[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
	run_unit "$bin" >>"$tmp/results" &
done
wait
results=$(cat "$tmp/results" 2>/dev/null)
while read -r name rc; do
	case $rc in
	0) echo "ok: $name clean under valgrind" ;;
	99)
		# A failed cmocka assertion leaks what the test held, so the
		# test's own last lines come too.
		fail "$name: valgrind found errors:"
		grep '^==[0-9]*==' "$tmp/$name.log" | head -n 80 >&2
		echo "--- $name's own output (last lines):" >&2
		grep -v '^==[0-9]*==' "$tmp/$name.log" | tail -n 15 >&2
		;;
	*)
		fail "$name exited with $rc under valgrind:"
		tail -n 40 "$tmp/$name.log" >&2
		;;
	esac
done <<<"$results"
[ "$(wc -l <<<"$results")" -eq "${#units[@]}" ] ||
	fail "ran $(wc -l <<<"$results") of ${#units[@]} unit tests"
echo "unit tests under valgrind: $(($(date +%s) - start)) s"

# --- the daemon, end to end -------------------------------------------------
# daemon_common.bash puts PROMISED_DAEMON_WRAPPER in front of the daemon;
# stop_daemon then insists on exit 0 after SIGTERM, so a leak (99) fails
# the scenario, and the report files are read besides.  daemon_e2e is the
# event loop, timers, inotify, Maildir delivery and SIGHUP; delivery_smtp
# and http_intake add, for a few seconds more, SMTP over STARTTLS (libcurl,
# OpenSSL) and the HTTP listener (libmicrohttpd, JSON, /metrics).
for t in daemon_e2e delivery_smtp http_intake; do
	start=$(date +%s)
	mkdir "$tmp/$t"
	if ! PROMISED_DAEMON_WRAPPER="${VG[*]} --log-file=$tmp/$t/vg.%p.log" \
		bash "$src/tests/e2e/$t.sh" >"$tmp/$t.out" 2>&1; then
		fail "tests/e2e/$t.sh failed with the daemon under valgrind:"
		tail -n 60 "$tmp/$t.out" >&2
	fi
	if [ -z "$(find "$tmp/$t" -name 'vg.*.log' | head -n 1)" ]; then
		fail "$t: the daemon never ran under valgrind (no report file)"
	fi
	for f in "$tmp/$t"/vg.*.log; do
		[ -f "$f" ] || continue
		if [ -s "$f" ]; then
			fail "$t: valgrind reported on the daemon ($(basename "$f")):"
			head -n 120 "$f" >&2
		fi
	done
	echo "$t with the daemon under valgrind: $(($(date +%s) - start)) s"
done

if [ "$fails" -ne 0 ]; then
	echo "valgrind: $fails failure(s)" >&2
	exit 1
fi
echo "ok: ${#units[@]} unit tests and the daemon in three end-to-end tests are clean under valgrind"
