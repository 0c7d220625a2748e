# Shared by scripts/demo and scripts/test: installs the Debian packages that
# are missing, and only those.  Sourced, not executed.

PROMISED_BUILD_DEPS="gcc make cmake pkg-config libc6-dev libsqlite3-dev
libyaml-dev libical-dev libcurl4-openssl-dev libsystemd-dev libssl-dev
libmicrohttpd-dev libjansson-dev
tzdata"
PROMISED_TEST_DEPS="libcmocka-dev sqlite3 python3 python3-aiosmtpd python3-icalendar
openssl strace libclang-rt-14-dev prometheus
systemd procps chromium nodejs curl radicale faketime
clang"

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
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
}
