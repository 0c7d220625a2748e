# Shared by scripts/demo and scripts/test: installs the Debian packages that
# are missing, and only those.  Sourced, not executed.

PROMISED_BUILD_DEPS="gcc make cmake pkg-config libc6-dev libsqlite3-dev
libyaml-dev libical-dev libcurl4-openssl-dev libsystemd-dev libssl-dev
libmicrohttpd-dev libjansson-dev
tzdata scdoc
dpkg-dev file"
PROMISED_TEST_DEPS="libcmocka-dev sqlite3 python3 python3-aiosmtpd python3-icalendar
openssl strace libclang-rt-14-dev prometheus
systemd procps chromium nodejs curl radicale faketime valgrind
clang clang-tidy nginx-light man-db groff-base
binutils util-linux"

deps_missing() {
	local pkg missing=""
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q "install ok installed"; then
			missing="$missing $pkg"
		fi
	done
	echo "$missing"
}

deps_install() {
	local missing
	# shellcheck disable=SC2086,SC2048
	missing=$(deps_missing $*)
	if [ -z "$missing" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: these Debian packages are missing:$missing" >&2
		echo "error: run as root, or install them with: sudo apt-get install$missing" >&2
		exit 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	deps_no_services_begin
	# shellcheck disable=SC2086
	if ! apt-get install -y -qq --no-install-recommends $missing; then
		deps_no_services_end
		exit 1
	fi
	deps_no_services_end
}

# Some test peers (nginx-light, radicale, prometheus) are packaged as
# services that start on install; the tests run their own instances on
# free ports, and a system nginx wanting port 80 could even make the
# install fail.  Debian's policy-rc.d hook (exit 101: "not allowed")
# keeps them from starting; a hook the machine already has is left alone.
DEPS_POLICY=/usr/sbin/policy-rc.d
DEPS_POLICY_OURS=

deps_no_services_begin() {
	[ -e "$DEPS_POLICY" ] && return 0
	printf '#!/bin/sh\n# scripts/lib/deps.sh: no service starts while it installs\nexit 101\n' >"$DEPS_POLICY"
	chmod 755 "$DEPS_POLICY"
	DEPS_POLICY_OURS=1
	trap deps_no_services_end EXIT
}

deps_no_services_end() {
	if [ -n "$DEPS_POLICY_OURS" ]; then
		rm -f "$DEPS_POLICY"
		DEPS_POLICY_OURS=
	fi
}
