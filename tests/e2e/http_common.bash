# Shared by tests/e2e/http_*.sh (sourced, not run on its own): the daemon
# and peer helpers of delivery_common.bash, a config with an `http:`
# section on a free loopback port and its secret files, HTTP requests
# with curl, and reading one-click links out of the Maildir.

. "$(dirname "${BASH_SOURCE[0]}")/delivery_common.bash"

command -v curl >/dev/null || fail "curl is not installed"

# A free port on 127.0.0.1 (the kernel's choice, released at once).
HTTP_PORT=$(free_port)
BASE="http://127.0.0.1:$HTTP_PORT"
KEYS="$TMP/keys"
mkdir -m 700 "$KEYS"
# Secrets as an operator makes them, in files only we read; the values
# come from secrets.bash, so that tests/check/secrets.sh can look for them.
write_secret "$TEST_LINK_KEY_NEW" "$KEYS/links-new.key"
write_secret "$TEST_LINK_KEY_OLD" "$KEYS/links-old.key"
write_secret "$TEST_INTAKE_TOKEN" "$KEYS/intake.token"
write_secret "$TEST_TWILIO_TOKEN" "$KEYS/twilio.token"
INTAKE_TOKEN=$TEST_INTAKE_TOKEN
TWILIO_TOKEN=$TEST_TWILIO_TOKEN

# write_http_config: the daemon_common people (alice, manager carol, lead
# of team desk; both with a phone), the Maildir channel `mail`, and the
# policy `fast`:
#   reminder   $REMINDER (-10s)  owner   $REMINDER_CHANNELS ([mail])
#   lapse        0               owner, owner.manager   [mail]
#   escalation  +3s              team.lead   [mail], until close
# and the http section with $LINK_EXPIRY (7d) and $MAX_BODY (1MiB);
# $EXTRA_CHANNELS (YAML indented by 2) goes under channels:.
write_http_config() {
	cat >"$CFG" <<EOF
database: state/promises.db
default_site: hq
default_policy: fast
templates:
  dir: $PROMISED_SOURCE_DIR/config/templates
sites:
  hq:
    timezone: UTC
$(hours_always_open)
staff:
  - id: carol
    name: Carol Lead
    email: carol@example.com
    phone: "+32470000001"
    locale: en
    team: desk
  - id: alice
    name: Alice Desk
    email: alice@example.com
    phone: "+32470123456"
    locale: en
    team: desk
    manager: carol
teams:
  desk:
    lead: carol
    site: hq
channels:
  mail:
    type: maildir
    path: maildir
${EXTRA_CHANNELS:-}
policies:
  fast:
    - name: reminder
      offset: ${REMINDER:--10s}
      to: [owner]
      channels: ${REMINDER_CHANNELS:-[mail]}
      hours: any
    - name: lapse
      offset: 0
      to: [owner, owner.manager]
      channels: [mail]
      hours: any
    - name: escalation
      offset: +3s
      to: [team.lead]
      channels: [mail]
      hours: any
      until: close
http:
  listen: 127.0.0.1:$HTTP_PORT
  public_url: $BASE
  max_body: ${MAX_BODY:-1MiB}
  link_expiry: ${LINK_EXPIRY:-7d}
  signing_keys:
    - kid: k2
      secret_file: keys/links-new.key
    - kid: k1
      secret_file: keys/links-old.key
  intake_token_file: keys/intake.token
  sms:
    provider: twilio
    auth_token_file: keys/twilio.token
EOF
	"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
		fail "the test config does not validate: $(cat "$TMP/check.out")"
}

# start_http_daemon: start_daemon, then waits until the listener answers.
start_http_daemon() {
	local i
	start_daemon
	for i in $(seq 100); do
		curl -s -o /dev/null "$BASE/healthz" && return 0
		sleep 0.1
	done
	fail "the daemon does not answer on $BASE"
}

# req METHOD URL [CURL_ARGS...]: one request; sets STATUS and leaves the
# body in $TMP/resp.body and the headers in $TMP/resp.hdr.
req() {
	local method=$1 url=$2
	shift 2
	STATUS=$(curl -sS -X "$method" -o "$TMP/resp.body" -D "$TMP/resp.hdr" \
		-w '%{http_code}' "$@" "$url") || fail "curl $method $url failed"
	# The daemon's answer is its output: kept (keep_output.bash).  Not
	# the query, which may hold a credential the test sent.
	KEEP_WHAT="$method ${url%%\?*} -> $STATUS" \
		keep_append logs/http-answers.log "$TMP/resp.hdr" "$TMP/resp.body"
}

# header NAME: the value of a header of the last answer ("" when absent).
header() {
	python3 - "$TMP/resp.hdr" "$1" <<'PY'
import sys
name = sys.argv[2].lower()
for line in open(sys.argv[1], encoding="latin-1"):
    k, sep, v = line.partition(":")
    if sep and k.strip().lower() == name:
        print(v.strip())
        break
PY
}

body() {
	cat "$TMP/resp.body"
}

# expect_status WANT WHAT: the last answer's status must be WANT.
expect_status() {
	[ "$STATUS" = "$1" ] ||
		fail "$2: status $STATUS, expected $1: $(head -c 400 "$TMP/resp.body")"
}

# state_of ID: "<state> <outcome> <closed_by or ->" from the database.
state_of() {
	sqlite3 "$DB" "SELECT state || ' ' || outcome || ' ' ||
		coalesce(closed_by, '-') FROM promises WHERE id = $1"
}

# links_of PROMISE STEP: every one-click link in the plain text of the
# Maildir messages of that promise and step, one per line as
# "<action> <recipient> <url>"; action and recipient are read from the
# token's payload ("1|kid|id|promise|action|recipient|expiry", base64url
# before the '.'; see include/promised/action.h).
links_of() {
	[ -d "$MAILDIR/new" ] || return 0
	python3 - "$MAILDIR/new" "$1" "$2" <<'PY'
import base64, email, os, re, sys
folder, promise, step = sys.argv[1:4]
for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), "rb") as fp:
        m = email.message_from_binary_file(fp)
    if m["X-Promised-Promise"] != promise or m["X-Promised-Step"] != step:
        continue
    for part in m.walk():
        if part.get_content_type() != "text/plain":
            continue
        text = part.get_payload(decode=True).decode("utf-8", "replace")
        for url in re.findall(r"https?://[^\s<>\"]+/a/[A-Za-z0-9._-]+", text):
            tok = url.rsplit("/a/", 1)[1].split(".")[0]
            payload = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
            f = payload.decode().split("|")
            print(f[4], f[5], url)
PY
}

# wait_link PROMISE STEP ACTION SECONDS: prints the first link of that
# action once a message of the step carries one.
wait_link() {
	local i l
	for i in $(seq $(($4 * 10))); do
		l=$(links_of "$1" "$2" | awk -v a="$3" '$1 == a { print $3; exit }')
		if [ -n "$l" ]; then
			echo "$l"
			return 0
		fi
		sleep 0.1
	done
	fail "promise $1: no '$3' link in a '$2' message within $4 s"
}

# steps_of PROMISE: the steps of its Maildir messages, sorted, one line.
steps_of() {
	messages | awk -v p="$1" '$1 == p { print $2 }' | sort | tr '\n' ' '
}

# playwright-core from npm into the folder $1, never a browser of its own.
# The browser tests run side by side: one installs while the other waits
# on the lock, then finds it there (two npm runs in one folder collide).
need_playwright() {
	export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
	local rc=0

	mkdir -p "$1"
	(
		flock 9 || exit 1
		[ -d "$1/node_modules/playwright-core" ] && exit 0
		command -v npm >/dev/null || exit 2
		npm install --no-save --no-audit --no-fund --prefix "$1" \
			playwright-core >/dev/null
	) 9>"$1/.install.lock" || rc=$?
	case $rc in
	0) ;;
	2) fail "npm missing (apt-get install npm)" ;;
	*) fail "npm install playwright-core" ;;
	esac
}
