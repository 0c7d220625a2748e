#!/usr/bin/env bash
# promised --version and promisectl --version: the program's version is
# the VERSION of the project() line in CMakeLists.txt, and the second line
# names the sqlite, libical, libcurl and libyaml in use, each equal to what
# pkg-config reports (Debian's -dev packages match the runtime libraries).
# Both exit 0 and write nothing on stderr.
set -euo pipefail

: "${PROMISED_BUILD_DIR:?set PROMISED_BUILD_DIR to the build folder}"
: "${PROMISED_SOURCE_DIR:?set PROMISED_SOURCE_DIR to the source folder}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promised-version.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
NCHECK=0

fail() {
	echo "FAIL: $*" >&2
	echo "--- stdout:" >&2
	cat "$TMP/out" >&2 2>/dev/null || true
	echo "--- stderr:" >&2
	cat "$TMP/err" >&2 2>/dev/null || true
	exit 1
}

check() {
	NCHECK=$((NCHECK + 1))
	echo "check $NCHECK: $*"
}

command -v pkg-config >/dev/null || fail "pkg-config is not installed"

version=$(sed -nE 's/^project\(promised[[:space:]]+VERSION[[:space:]]+([0-9][0-9.]*)[[:space:]].*/\1/p' \
	"$PROMISED_SOURCE_DIR/CMakeLists.txt")
[ -n "$version" ] || fail "no 'project(promised VERSION x.y.z ...)' line in CMakeLists.txt"

mod() {
	pkg-config --modversion "$1" || fail "pkg-config knows no $1"
}
libs="sqlite $(mod sqlite3), libical $(mod libical), libcurl $(mod libcurl), libyaml $(mod yaml-0.1)"

for prog in promised promisectl; do
	check "$prog --version prints $prog $version and the libraries"
	bin="$PROMISED_BUILD_DIR/$prog"
	[ -x "$bin" ] || fail "$bin not built"
	set +e
	"$bin" --version >"$TMP/out" 2>"$TMP/err"
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || fail "$prog --version: exit $rc, expected 0"
	[ ! -s "$TMP/err" ] || fail "$prog --version wrote to stderr"
	expected=$(printf '%s %s\n%s' "$prog" "$version" "$libs")
	got=$(cat "$TMP/out")
	[ "$got" = "$expected" ] ||
		fail "$prog --version: got '$got', expected '$expected'"
done

echo "PASS: $NCHECK checks"
