#!/usr/bin/env bash
# The config's `http:` section through `promised --check-config`: a valid
# section passes; each mistake is reported with file:line:column and the
# key; a secret file that cannot be read fails the load; a listener on a
# non-loopback address starts with a notice; without the section nothing
# listens.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"

write_http_config
cp "$CFG" "$TMP/good.yaml"

# bad SED_EXPR PATTERN WHAT: the config with SED_EXPR applied must fail
# --check-config with an error matching "promised.yaml:LINE:COL: PATTERN",
# LINE being the first line that matches the text after 's|' up to '|'.
bad() {
	local expr=$1 pattern=$2 what=$3 rc
	cp "$TMP/good.yaml" "$CFG"
	sed -i "$expr" "$CFG"
	set +e
	"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1
	rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "$what: accepted"
	grep -Eq "promised\.yaml:[0-9]+:[0-9]+: $pattern" "$TMP/check.out" ||
		fail "$what: $(cat "$TMP/check.out")"
	echo "  $what: $(grep -E "$pattern" "$TMP/check.out" | head -n1)"
}

check "a valid http section passes"
"$PD" --check-config --config "$CFG" >/dev/null || fail "rejected"

check "each mistake is reported with its position"
bad 's|^  listen: .*|  listen: 127.0.0.1|' "invalid listen" "listen without a port"
bad 's|^  listen: .*|  listen: 127.0.0.1:99999|' "invalid listen" "listen port out of range"
bad 's|^  public_url: .*|  public_url: ftp://example.com|' "invalid url" "public_url not http(s)"
bad 's|^  public_url: \(.*\)|  public_url: \1/|' "public_url .* must not end in '/'" "public_url with a trailing slash"
bad '/^  public_url: /d' "http: missing required key 'public_url'" "no public_url"
bad 's|kid: k2|kid: "bad kid!"|' "invalid kid" "a kid with spaces"
bad 's|kid: k1|kid: k2|' "signing_keys: kid 'k2' is given twice" "a kid twice"
bad 's|keys/links-old.key|keys/missing.key|' "secret_file: " "a missing key file"
bad 's|keys/twilio.token|keys/missing.token|' "auth_token_file: " "a missing Twilio token"
bad 's|provider: twilio|provider: nexmo|' "invalid provider 'nexmo'" "an unknown SMS provider"
bad 's|^  link_expiry: .*|  link_expiry: -5m|' "link_expiry" "a negative link_expiry"
bad 's|^  max_body: .*|  max_body: 10GiB|' "max_body" "max_body out of range"
bad 's|^  max_body: .*|  max_bdy: 1MiB|' "unknown key 'max_bdy'; did you mean 'max_body'\\?" "a misspelt key"

check "an empty secret file is refused too"
: >"$KEYS/empty.key"
bad 's|keys/links-old.key|keys/empty.key|' "secret_file: " "an empty key file"

check "a non-loopback listen address starts with a notice"
cp "$TMP/good.yaml" "$CFG"
sed -i "s|^  listen: .*|  listen: 0.0.0.0:$HTTP_PORT|" "$CFG"
start_http_daemon
grep -q "http: listening on 0.0.0.0:$HTTP_PORT, which is reachable from other hosts" "$LOG" ||
	fail "no notice about 0.0.0.0"

check "a changed listen address on SIGHUP is logged as needing a restart"
other=$(free_port)
sed -i "s|^  listen: .*|  listen: 127.0.0.1:$other|" "$CFG"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q 'config reloaded' "$LOG" && break; sleep 0.1; done
grep -q "listen changed to 127.0.0.1:$other; it takes effect at the next restart" "$LOG" ||
	fail "no restart note for the new listen address"
curl -s -o /dev/null "$BASE/healthz" || fail "the old address stopped answering"
stop_daemon

check "without an http section nothing listens"
python3 - "$TMP/good.yaml" "$CFG" <<'PY'
import sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(text[:text.index("\nhttp:\n") + 1])
PY
"$PD" --check-config --config "$CFG" >/dev/null || fail "the config without http is refused"
start_daemon
sleep 0.5
if curl -s -o /dev/null "$BASE/healthz"; then
	fail "something answers on $BASE without an http section"
fi
stop_daemon
echo "PASS"
