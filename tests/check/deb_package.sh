#!/usr/bin/env bash
# Builds the Debian package the way cmake/package.cmake says (its own Release
# build configured for /usr, in a scratch folder) and checks it:
# - the file name and the control fields (Package, Version from project(),
#   Architecture, Section);
# - Depends: the package owning every shared library that the two programs
#   link (NEEDED, found with readelf, ldd and dpkg -S) is there, tzdata is
#   there, and nothing else but the sysusers provider;
# - conffiles lists /etc/promised/promised.yaml; the maintainer scripts parse
#   (sh -n), start no service and delete no state;
# - the files: programs, unit, sysusers.d file (which must create the user
#   the unit runs as), example config, templates, man pages, completion;
# - in a private mount namespace where /usr and /etc show the unpacked
#   package on top of this system (nothing outside the scratch folder is
#   written): the installed daemon at /usr/sbin/promised accepts the
#   installed config at its default path, with the installed templates at
#   their baked-in /usr/share/promised/templates (a broken template laid on
#   top must make it fail, so the templates really are read), and
#   `systemd-analyze verify` accepts the installed unit;
# - as root, also in that namespace: postinst configure creates the user and
#   /var/lib/promised (owner promised, 0700), and postrm purge keeps it.
# Takes about 40-60 s on 2 cores, nearly all of it the Release build.
#
# Env: PROMISED_SOURCE_DIR (source tree). PROMISED_BUILD_DIR is not used: the
# package needs a build configured for /usr.
set -u

src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
fails=0
started=$SECONDS

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

for tool in cmake dpkg dpkg-deb dpkg-shlibdeps readelf ldd unshare \
	systemd-analyze systemd-sysusers; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL: $tool is not installed (scripts/lib/deps.sh lists its package)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/promised-deb.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
build=$tmp/build
root=$tmp/root
ctl=$tmp/control

# --- build the package ----------------------------------------------------
if ! cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
	-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >"$tmp/configure.log" 2>&1; then
	echo "FAIL: configure for /usr failed:" >&2
	cat "$tmp/configure.log" >&2
	exit 1
fi
if ! cmake --build "$build" -j"$(nproc)" --target package >"$tmp/package.log" 2>&1; then
	echo "FAIL: cmake --build --target package failed:" >&2
	tail -n 40 "$tmp/package.log" >&2
	exit 1
fi
pass "package target built ($((SECONDS - started)) s)"

# The expected name comes from the sources, not from the build output.
version=$(sed -n 's/^project(promised VERSION \([0-9][0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
deb=$build/promised_${version}_${arch}.deb
if [ -z "$version" ]; then
	echo "FAIL: no version in project() of $src/CMakeLists.txt" >&2
	exit 1
fi
if [ ! -f "$deb" ]; then
	echo "FAIL: $deb was not made; found: $(cd "$build" && ls ./*.deb 2>&1)" >&2
	exit 1
fi
pass "$(basename "$deb")"

# --- control fields ---------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
expect_field() { # name expected
	local got
	got=$(field "$1")
	if [ "$got" = "$2" ]; then pass "$1: $got"; else fail "$1 is '$got', expected '$2'"; fi
}
expect_field Package promised
expect_field Version "$version"
expect_field Architecture "$arch"
expect_field Section admin
if field Maintainer | grep -Eq '^[^<>]+ <[^<> ]+@[^<> ]+>$'; then
	pass "Maintainer: $(field Maintainer)"
else
	fail "Maintainer is not 'Name <address>': $(field Maintainer)"
fi

# --- Depends against the libraries the programs link -------------------------
dpkg-deb -x "$deb" "$root" || { echo "FAIL: dpkg-deb -x" >&2; exit 1; }
dpkg-deb -e "$deb" "$ctl" || { echo "FAIL: dpkg-deb -e" >&2; exit 1; }

# The Debian package owning the file that provides soname for the binary.
owner_of() { # binary soname
	local path p
	path=$(ldd "$1" | awk -v so="$2" '$1 == so && $2 == "=>" { print $3 }')
	[ -n "$path" ] || return 1
	# dpkg may know the file under /lib or /usr/lib (merged /usr).
	for p in "$path" "$(readlink -f "$path")" "/usr${path#/usr}" "${path#/usr}"; do
		dpkg-query -S "$p" 2>/dev/null | grep -v '^diversion' |
			sed -n '1s/^\([^:,]*\)[:,].*/\1/p' | grep . && return 0
	done
	return 1
}

needed_pkgs=""
for bin in usr/sbin/promised usr/bin/promisectl; do
	[ -x "$root/$bin" ] || continue
	for so in $(readelf -d "$root/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		if pkg=$(owner_of "$root/$bin" "$so"); then
			needed_pkgs="$needed_pkgs $pkg"
		else
			fail "$bin needs $so, which no installed package provides"
		fi
	done
done
needed_pkgs=$(tr ' ' '\n' <<<"$needed_pkgs" | grep . | sort -u | tr '\n' ' ')
[ -n "$needed_pkgs" ] || fail "no NEEDED libraries found in the programs"

depends=$(field Depends)
# Every alternative named in Depends, one per line.
dep_names=$(printf '%s\n' "$depends" | tr ',|' '\n\n' |
	sed -E 's/^[[:space:]]*([^ (]+).*/\1/' | grep .)
for pkg in $needed_pkgs; do
	if printf '%s\n' "$dep_names" | grep -qx "$pkg"; then
		pass "Depends has $pkg"
	else
		fail "Depends lacks $pkg (a library of the programs); Depends: $depends"
	fi
done
printf '%s\n' "$dep_names" | grep -qx tzdata && pass "Depends has tzdata" ||
	fail "Depends lacks tzdata (time zones of the sites)"
# Nothing else: no -dev packages, nothing the programs do not use. The
# postinst needs systemd-sysusers, from systemd or its standalone build.
while IFS= read -r name; do
	case " $needed_pkgs tzdata systemd systemd-standalone-sysusers " in
	*" $name "*) ;;
	*) fail "Depends names $name, which the programs do not need" ;;
	esac
done <<<"$dep_names"
# Every entry is "name" or "name (op version)", alternatives with |.
if printf '%s\n' "$depends" | tr ',' '\n' | grep -vEq \
	'^ *[a-z0-9][a-z0-9.+-]+( \((>=|<=|=|<<|>>) [0-9][^)]*\))?( \| [a-z0-9][a-z0-9.+-]+( \([^)]*\))?)* *$'; then
	fail "Depends is not well formed: $depends"
fi

# --- conffiles and maintainer scripts ----------------------------------------
if [ -f "$ctl/conffiles" ] && grep -qx '/etc/promised/promised.yaml' "$ctl/conffiles"; then
	pass "conffiles lists /etc/promised/promised.yaml"
else
	fail "conffiles does not list /etc/promised/promised.yaml"
fi
for s in postinst prerm postrm; do
	if [ ! -f "$ctl/$s" ]; then
		fail "no $s in the package"
	elif [ ! -x "$ctl/$s" ]; then
		fail "$s is not executable"
	elif ! sh -n "$ctl/$s"; then
		fail "$s does not parse (sh -n)"
	else
		pass "$s parses"
	fi
done
# Decisions the scripts must keep: the service is not enabled or started
# on install (the example config is not the operator's), and the database
# is never deleted.
code() { grep -v '^[[:space:]]*#' "$@"; } # the commands, not the comments
if code "$ctl/postinst" |
	grep -Eq '(systemctl|deb-systemd-invoke|deb-systemd-helper)[^#]* (enable|start)( |$)'; then
	fail "postinst enables or starts the service"
else
	pass "postinst neither enables nor starts the service"
fi
if code "$ctl/postinst" "$ctl/prerm" "$ctl/postrm" | grep -Eq 'rm [^#]*/var/lib'; then
	fail "a maintainer script removes /var/lib/promised"
fi

# --- files --------------------------------------------------------------------
check_file() { # path-in-root what
	if [ -f "$root/$1" ]; then pass "$1 ($2)"; else fail "$1 missing ($2)"; fi
}
for bin in usr/sbin/promised usr/bin/promisectl; do
	if [ -f "$root/$bin" ] && [ -x "$root/$bin" ]; then
		pass "$bin executable"
	else
		fail "$bin missing or not executable"
	fi
done
unit=
for u in lib/systemd/system/promised.service usr/lib/systemd/system/promised.service; do
	[ -f "$root/$u" ] && unit=$u
done
[ -n "$unit" ] && pass "$unit" || fail "promised.service not in (/usr)/lib/systemd/system"
if [ -n "$unit" ]; then
	grep -qx 'ExecStart=/usr/sbin/promised --foreground --config /etc/promised/promised.yaml' \
		"$root/$unit" && pass "unit runs /usr/sbin/promised on /etc/promised/promised.yaml" ||
		fail "unit ExecStart: $(grep '^ExecStart=' "$root/$unit")"
fi
unit_user=$([ -n "$unit" ] && sed -n 's/^User=//p' "$root/$unit")
sysusers=usr/lib/sysusers.d/promised.conf
check_file "$sysusers" "sysusers.d"
check_file etc/promised/promised.yaml "example config"
cmp -s "$root/etc/promised/promised.yaml" "$src/config/promised.yaml" ||
	fail "etc/promised/promised.yaml differs from config/promised.yaml"
while IFS= read -r -d '' t; do
	check_file "usr/share/promised/templates/${t#"$src/config/templates/"}" template
done < <(find "$src/config/templates" -type f -print0)
while IFS= read -r -d '' t; do
	check_file "usr/share/promised/presets/${t#"$src/config/presets/"}" "channel preset"
done < <(find "$src/config/presets" -type f -print0)
for page in man8/promised.8 man1/promisectl.1 man5/promised.yaml.5; do
	if [ -f "$root/usr/share/man/$page" ] || [ -f "$root/usr/share/man/$page.gz" ]; then
		pass "man page $page"
	else
		fail "man page usr/share/man/$page(.gz) missing"
	fi
done
check_file usr/share/bash-completion/completions/promisectl "bash completion"
# Nothing may land in /usr/etc or /usr/local (a wrong prefix or a relative
# sysconfdir), and dpkg-deb -c must show root ownership.
[ -e "$root/usr/etc" ] && fail "the package has files in /usr/etc"
[ -e "$root/usr/local" ] && fail "the package has files in /usr/local"
if dpkg-deb -c "$deb" | awk '$2 != "root/root"' | grep -q .; then
	fail "files not owned by root/root: $(dpkg-deb -c "$deb" | awk '$2 != "root/root"' | head -n3)"
fi

# The sysusers.d file must create the user the unit runs as: run it on an
# empty scratch root and look at the passwd it writes.
if [ -f "$root/$sysusers" ]; then
	mkdir -p "$tmp/sysroot/etc"
	if systemd-sysusers --root="$tmp/sysroot" "$root/$sysusers" >"$tmp/sysusers.log" 2>&1 &&
		entry=$(grep "^${unit_user:-promised}:" "$tmp/sysroot/etc/passwd"); then
		pass "sysusers.d creates User=${unit_user:-?} ($entry)"
		[ "$unit_user" = promised ] || fail "unit User= is '$unit_user', expected promised"
		case "$entry" in
		*:/var/lib/promised:/usr/sbin/nologin) ;;
		*) fail "user entry has an unexpected home or shell: $entry" ;;
		esac
	else
		fail "systemd-sysusers did not create '${unit_user:-promised}': $(cat "$tmp/sysusers.log")"
	fi
fi

# --- the installed package at work, in a private mount namespace ----------------
# /usr and /etc become overlays: the unpacked package on top of this system,
# with writes going to a tmpfs that vanishes with the namespace; /run is an
# empty tmpfs (so no script talks to a running systemd) and so is /var/lib.
# The installed programs thus run from their real paths with the paths
# baked into them. Root uses a plain mount namespace; anyone else a user
# namespace mapped to root (enough for everything but the postinst).
if [ "$(id -u)" -eq 0 ]; then ns=(unshare --mount --propagation private)
else ns=(unshare --user --map-root-user --mount --propagation private); fi
mkdir -p "$tmp/up" "$tmp/empty" "$tmp/broken/usr/share/promised/templates/en"
in_root() { # extra-lowerdir-for-/usr (or "") command...
	"${ns[@]}" bash -c '
		set -e
		root=$1 up=$2 extra=$3; shift 3
		mount -t tmpfs tmpfs "$up"
		for d in usr etc var/lib; do
			mkdir -p "$up/$d/upper" "$up/$d/work"
			lower=/$d
			[ -d "$root/$d" ] && lower=$root/$d:$lower
			[ "$d" = usr ] && [ -n "$extra" ] && lower=$extra:$lower
			[ "$d" = var/lib ] && lower=$up/$d/empty && mkdir -p "$lower"
			mount -t overlay overlay -o "lowerdir=$lower,upperdir=$up/$d/upper,workdir=$up/$d/work" "/$d"
		done
		mount -t tmpfs tmpfs /run
		cd /
		"$@"' in_root "$root" "$tmp/up" "$@"
}

# Without --config: the default path baked in is /etc/promised/promised.yaml.
out=$(in_root "" /usr/sbin/promised --check-config 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^/etc/promised/promised.yaml: OK$'; then
	pass "installed promised --check-config accepts the installed config at its default path"
else
	fail "installed promised --check-config (exit $rc): $out"
fi
out=$(in_root "" /usr/sbin/promised --check-config --config /etc/promised/promised.yaml 2>&1)
rc=$?
[ "$rc" -eq 0 ] && pass "--check-config --config /etc/promised/promised.yaml" ||
	fail "--check-config --config /etc/promised/promised.yaml (exit $rc): $out"
# The same with one installed template replaced by a broken one (an unknown
# {{name}}): the check must now fail, so the run above did read the
# installed templates at /usr/share/promised/templates.
cp -r "$root/usr/share/promised/templates/en/." "$tmp/broken/usr/share/promised/templates/en/"
printf 'Promise {{no_such_field_here}} is due\n' >"$tmp/broken/usr/share/promised/templates/en/reminder.txt"
out=$(in_root "$tmp/broken/usr" /usr/sbin/promised --check-config 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'reminder'; then
	pass "a broken installed template makes --check-config fail (exit $rc)"
else
	fail "--check-config did not notice a broken template in /usr/share/promised/templates (exit $rc): $out"
fi

if [ -n "$unit" ]; then
	out=$(in_root "" systemd-analyze verify --man=no --generators=no \
		--recursive-errors=no "/$unit" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && ! printf '%s\n' "$out" | grep -qF promised; then
		pass "systemd-analyze verify on the installed unit"
	else
		fail "systemd-analyze verify /$unit (exit $rc): $out"
	fi
fi

# postinst configure, then postrm purge, in the namespace (root only: the
# state folder is chowned to the new user).
if [ "$(id -u)" -ne 0 ]; then
	echo "note: not root, so postinst/postrm were not run (they create a system user)"
else
	cp "$ctl/postinst" "$ctl/postrm" "$tmp/"
	out=$(in_root "" sh -c '
		sh "$1" configure "" && id promised &&
		stat -c "state %U:%G %a" /var/lib/promised &&
		sh "$2" purge 2>&1 && stat -c "kept %U %a" /var/lib/promised' \
		sh "$tmp/postinst" "$tmp/postrm" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -qx 'state promised:promised 700'; then
		pass "postinst creates user promised and /var/lib/promised (promised:promised 0700)"
	else
		fail "postinst configure (exit $rc): $out"
	fi
	if printf '%s\n' "$out" | grep -qx 'kept promised 700'; then
		pass "postrm purge keeps /var/lib/promised"
	else
		fail "postrm purge did not keep /var/lib/promised: $out"
	fi
fi

echo "deb_package: $((SECONDS - started)) s"
if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "deb_package: all checks passed"
