#!/bin/bash
# board_browser: the live board (GET / on the daemon's HTTP listener),
# served by the real daemon over a store seeded with promisectl.
#
# The seed fills every column (lapsed, due in the next 2 hours, due
# today, acked) for two teams, and closes promises over the last 40 days
# so each person's keeping rate over the last 30 days differs.  Checked
# with curl: who is let in (board token as Bearer, ?token= traded for a
# cookie, Basic auth from a credential file) and who is refused (no
# credentials, a wrong token, a wrong password: 401 while Basic is
# configured, 403 after a reload to a token-only config); the columns,
# their team groups and the rates against the numbers worked out below;
# every promise's link to its timeline; a page that reloads itself with
# a meta refresh and carries no script.  Then headless Chromium (Debian's
# package, driven by playwright-core, tests/tools/board_shot.mjs) opens
# the board with its token link at phone (390x844) and wall-screen
# (1920x1080) size, follows a promise to its timeline, and keeps the
# screenshots in $PROMISED_BUILD_DIR/artifacts/ (board-phone.png,
# board-desktop.png, board-desktop-dark.png, board-timeline-phone.png).
# It fails on any console error, page error, failed request or request
# to anything but the daemon.  First it proves that such problems are
# noticed at all: a page that logs a console error and loads an image
# from elsewhere on purpose must fail.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM missing (apt-get install chromium)"
command -v node >/dev/null || fail "node missing (apt-get install nodejs npm)"

ARTIFACTS="$PROMISED_BUILD_DIR/artifacts"
NODE_DIR="$PROMISED_BUILD_DIR/node"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/board-*.png

need_playwright "$NODE_DIR"
# board_shot.mjs loads it through createRequire, which honours NODE_PATH.
export NODE_PATH="$NODE_DIR/node_modules"
SHOT="$PROMISED_SOURCE_DIR/tests/tools/board_shot.mjs"

# The values come from secrets.bash (tests/check/secrets.sh looks for them).
write_secret "$TEST_BOARD_TOKEN" "$KEYS/board.token"
write_secret "$TEST_BOARD_PASSWORD" "$KEYS/board.password"
TOKEN=$TEST_BOARD_TOKEN
PASSWORD=$TEST_BOARD_PASSWORD

# The clock of the seed.  The board counts "due today" in the local day
# of the team's site, so each site gets a fixed-offset zone in which it is
# early morning now (desk about 06:00, us about 05:00): whatever the hour
# of the run, the rest of the local day is longer than every "today"
# promise below, and the promise due in 30 hours falls on the next day.
NOW=$(date +%s)
H=3600
D=86400
# zone_at HOUR: an Etc/GMT zone (POSIX signs: Etc/GMT-3 is UTC+3) whose
# local hour is HOUR now; sets ZONE and OFFSET (seconds east of UTC).
zone_at() {
	local off=$((($1 - NOW / H % 24 + 48) % 24))
	[ "$off" -gt 12 ] && off=$((off - 24))
	OFFSET=$((off * H))
	if [ "$off" -gt 0 ]; then ZONE="Etc/GMT-$off"
	elif [ "$off" -lt 0 ]; then ZONE="Etc/GMT+$((-off))"
	else ZONE=Etc/UTC; fi
}
zone_at 6
DESK_TZ=$ZONE DESK_OFF=$OFFSET
zone_at 5
US_TZ=$ZONE US_OFF=$OFFSET

# write_board_config BASIC: two sites and teams; desk (lead carol: alice,
# bob) and us (lead dave: erin).  No channels or policies: the daemon
# sends nothing, it only serves the board.  BASIC=1 adds Basic auth
# (user "wall") next to the board token.
write_board_config() {
	local days="      mon: [00:00-24:00]
      tue: [00:00-24:00]
      wed: [00:00-24:00]
      thu: [00:00-24:00]
      fri: [00:00-24:00]
      sat: [00:00-24:00]
      sun: [00:00-24:00]"
	cat >"$CFG" <<EOF
database: state/promises.db
default_site: ghent
sites:
  ghent:
    timezone: $DESK_TZ
    hours:
$days
  nyc:
    timezone: $US_TZ
    hours:
$days
staff:
  - id: carol
    name: Carol Lead
    email: carol@example.com
    locale: en
    team: desk
  - id: alice
    name: Alice Adams
    email: alice@example.com
    locale: en
    team: desk
    manager: carol
  - id: bob
    name: Bob Brown
    email: bob@example.com
    locale: en
    team: desk
    manager: carol
  - id: dave
    name: Dave Diaz
    email: dave@example.com
    locale: en
    team: us
  - id: erin
    name: Erin Evans
    email: erin@example.com
    locale: en
    team: us
    manager: dave
teams:
  desk:
    lead: carol
    site: ghent
  us:
    lead: dave
    site: nyc
http:
  listen: 127.0.0.1:$HTTP_PORT
  public_url: $BASE
  board_token_file: keys/board.token
EOF
	if [ "$1" = 1 ]; then
		cat >>"$CFG" <<EOF
  board_basic_user: wall
  board_basic_password_file: keys/board.password
EOF
	fi
	"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
		fail "the test config does not validate: $(cat "$TMP/check.out")"
}

# ---- The seed -----------------------------------------------------------

export PROMISED_ACTOR=tester
# at T CMD ARGS...: promisectl with its clock pinned at T (Unix seconds).
at() {
	local t=$1
	shift
	PROMISED_NOW=$t pctl "$@" >>"$TMP/seed.out" 2>&1 ||
		fail "promisectl $* at $(iso "$t"): $(tail -n 3 "$TMP/seed.out")"
}
declare -A ID
# seed KEY MADE OWNER DUE TITLE [CUSTOMER]: adds a promise at MADE (all
# times relative to NOW) and remembers its id as ID[KEY]; its title goes
# to $TMP/titles ("KEY<TAB>TITLE").
seed() {
	local out
	out=$(PROMISED_NOW=$((NOW + $2)) pctl --json add --owner "$3" \
		--due "$(iso $((NOW + $4)))" --title "$5" \
		${6:+--customer "$6"}) || fail "promisectl add '$5': $out"
	ID[$1]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' \
		<<<"$out")
	printf '%s\t%s\t%s\n' "$1" "${ID[$1]}" "$5" >>"$TMP/titles"
}
ack() { at $((NOW + $2)) ack "${ID[$1]}"; }
# close KEY AT [ARGS...]: done at AT (kept, or late when AT is past due).
close() {
	local k=$1 t=$2
	shift 2
	at $((NOW + t)) "done" "${ID[$k]}" "$@"
}

write_board_config 1
check "seeding the store with promisectl"
# On the board (column by reasoning: lapsed wins over acked; acked wins
# over the due columns; "today" is the local day of the team's site):
#   lapsed  desk: a_lapsed (alice, 3h ago), b_lapsed (bob, acked, 26h ago)
#           us:   e_lapsed (erin, 1h ago)
#   soon    desk: a_soon (alice, in 30m), b_soon (bob, in 1h)
#           us:   d_soon (dave, in 1h30m)
#   today   desk: a_today (alice, in 5h)    us: e_today (erin, in 3h)
#   acked   desk: a_acked (in 50h), a_acked_soon (in 1h, acked)
#           us:   d_acked (in 26h)
# Not on it: b_tomorrow (in 30h, the next local day, not acked) and
# every closed promise.
seed a_lapsed $((-2 * D)) alice $((-3 * H)) \
	"Call back about the winter tyres quote" "Mevr. Janssens"
seed b_lapsed $((-2 * D)) bob $((-26 * H)) "Send the invoice copy" \
	"Garage De Smet"
ack b_lapsed $((-2 * D + 60))
seed e_lapsed $((-3 * D)) erin $((-1 * H)) "Return the courtesy car keys" \
	"Ms. Lopez"
seed a_soon $((-4 * H)) alice $((30 * 60)) \
	"<script>alert('x')</script> escaped title" "Test & Co"
seed b_soon $((-5 * H)) bob $((1 * H)) "Confirm the brake pads are in" \
	"Dhr. Peeters"
seed d_soon $((-8 * H)) dave $((90 * 60)) "Ring back about the loan car" \
	"Ms. O'Brien"
seed a_today $((-2 * H)) alice $((5 * H)) \
	"Quote for the 4 summer tyres and alignment on the family car" \
	"Familie Van den Broeck-Vermeulen"
seed e_today $((-1 * H)) erin $((3 * H)) "Book the wheel alignment" "Mr. Chen"
seed a_acked $((-10 * H)) alice $((50 * H)) "Order the roof rack" "Mr. Smith"
ack a_acked $((-10 * H + 60))
seed a_acked_soon $((-3 * H)) alice $((1 * H)) "Fit the tow bar" "Mr. Adams"
ack a_acked_soon $((-3 * H + 60))
seed d_acked $((-8 * H)) dave $((26 * H)) "Email the service report" \
	"ACME Fleet"
ack d_acked $((-8 * H + 60))
seed b_tomorrow $((-1 * H)) bob $((30 * H)) "Not on the board yet"

# Closed ones.  The rate counts promises made in [now - 30d, now):
# kept / (kept + late + lapsed); cancelled and not yet due do not count.
#   alice: kept 2, late 1, lapsed 1 (a_lapsed)         -> 2 of 4, 50%
#   bob:   kept 3 (one exactly at due), lapsed 1        -> 3 of 4, 75%
#   dave:  kept 1; a late one made 40 days ago is out  -> 1 of 1, 100%
#   erin:  late 1, cancelled 1, lapsed 1 (e_lapsed)     -> 0 of 2, 0%
#   carol: nothing                                      -> none
seed a_k1 $((-10 * D)) alice $((-9 * D)) "Kept one"
close a_k1 $((-9 * D - H))
seed a_k2 $((-8 * D)) alice $((-7 * D)) "Kept two"
close a_k2 $((-7 * D - 2 * H))
seed a_l1 $((-6 * D)) alice $((-5 * D)) "Late one"
close a_l1 $((-5 * D + 2 * H))
seed b_k1 $((-20 * D)) bob $((-19 * D)) "Bob kept one"
close b_k1 $((-19 * D - H))
seed b_k2 $((-18 * D)) bob $((-17 * D)) "Bob kept two"
close b_k2 $((-17 * D - 5 * H))
seed b_k3 $((-16 * D)) bob $((-15 * D)) "Bob kept at due"
close b_k3 $((-15 * D))
seed d_k1 $((-12 * D)) dave $((-11 * D)) "Dave kept one"
close d_k1 $((-11 * D - H))
seed d_old $((-40 * D)) dave $((-39 * D - H)) "Dave late long ago"
close d_old $((-39 * D))
seed e_l1 $((-15 * D)) erin $((-14 * D)) "Erin late one"
close e_l1 $((-14 * D + 3 * H))
seed e_c1 $((-14 * D)) erin $((-13 * D)) "Erin cancelled one"
close e_c1 $((-13 * D - H)) --outcome cancelled

start_http_daemon

# ---- Access -------------------------------------------------------------

# refused WANT WHAT CURL_ARGS...: GET / must answer WANT and show no
# promise.
refused() {
	local want=$1 what=$2
	shift 2
	req GET "$BASE/" "$@"
	expect_status "$want" "$what"
	if grep -q 'winter tyres' "$TMP/resp.body"; then
		fail "$what: the refusal shows promises"
	fi
}
BASIC_WRONG=$(printf 'wall:%s' "${PASSWORD}x" | base64 -w0)
BASIC_USER_WRONG=$(printf 'other:%s' "$PASSWORD" | base64 -w0)
BASIC_OK=$(printf 'wall:%s' "$PASSWORD" | base64 -w0)

check "token and Basic configured: no or wrong credentials get 401"
refused 401 "no credentials"
[ -n "$(header WWW-Authenticate)" ] || fail "a 401 without WWW-Authenticate"
refused 401 "a wrong Bearer token" -H "Authorization: Bearer ${TOKEN}0"
refused 401 "a wrong ?token=" --data-urlencode "token=${TOKEN%?}" -G
refused 401 "a forged cookie" -H "Cookie: promised_board=$TOKEN"
refused 401 "a wrong Basic password" -H "Authorization: Basic $BASIC_WRONG"
refused 401 "a wrong Basic user" -H "Authorization: Basic $BASIC_USER_WRONG"
refused 401 "the token as Basic password" \
	-H "Authorization: Basic $(printf 'wall:%s' "$TOKEN" | base64 -w0)"
req GET "$BASE/promise/${ID[a_lapsed]}"
expect_status 401 "a timeline without credentials"
if grep -q 'winter tyres' "$TMP/resp.body"; then fail "the refused timeline shows the promise"; fi

check "the right Basic password, the Bearer token and ?token= get in"
req GET "$BASE/" -H "Authorization: Basic $BASIC_OK"
expect_status 200 "Basic auth"
grep -q 'winter tyres' "$TMP/resp.body" || fail "Basic auth: no board"
req GET "$BASE/" -H "Authorization: Bearer $TOKEN"
expect_status 200 "Bearer token"
cp "$TMP/resp.body" "$TMP/board.html"
cp "$TMP/resp.hdr" "$TMP/board.hdr"
req GET "$BASE/?token=$TOKEN"
expect_status 303 "?token="
COOKIE=$(header Set-Cookie)
[ "$(header Location)" = / ] || fail "?token= redirects to '$(header Location)'"
case $COOKIE in
promised_board=*HttpOnly*) ;;
*) fail "?token= sets no HttpOnly cookie: '$COOKIE'" ;;
esac
case $COOKIE in *"$TOKEN"*) fail "the cookie holds the token itself" ;; esac
req GET "$BASE/" -H "Cookie: ${COOKIE%%;*}"
expect_status 200 "the cookie"

# ---- The page -----------------------------------------------------------

check "the page: CSP, a meta refresh, no script, nothing from outside"
cp "$TMP/board.hdr" "$TMP/resp.hdr"
csp=$(header Content-Security-Policy)
case $csp in "default-src 'none';"*) ;; *) fail "CSP is '$csp'" ;; esac
case $csp in *script-src*) fail "the CSP allows scripts: $csp" ;; esac
python3 - "$TMP/board.html" <<'PY' || fail "the page is not self-contained"
import re, sys
from html.parser import HTMLParser
html = open(sys.argv[1], encoding="utf-8").read()
refresh, urls, scripts = [], [], 0
class P(HTMLParser):
    def handle_starttag(self, tag, attrs):
        global scripts
        a = dict(attrs)
        if tag == "script":
            scripts += 1
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            refresh.append(a.get("content"))
        for k in ("href", "src", "action", "srcset", "poster", "data"):
            if a.get(k) is not None:
                urls.append(a[k])
P().feed(html)
assert scripts == 0, f"{scripts} script elements"
assert "<script" not in html, "an unescaped <script"
assert len(refresh) == 1 and re.fullmatch(r"\d+", refresh[0] or "") \
    and 0 < int(refresh[0]) <= 300, f"meta refresh {refresh}"
for u in urls:
    # Same origin (a path) or the empty data: icon; never a scheme or //.
    assert u.startswith("/") and not u.startswith("//") or u == "data:,", u
assert not re.search(r"url\(\s*['\"]?(https?:)?//", html), "a CSS url() outside"
assert not re.search(r"@import", html), "a CSS @import"
PY

check "columns, team groups and keeping rates are as seeded"
python3 - "$TMP/board.html" "$TMP/titles" "$DESK_OFF" "$US_OFF" "$NOW" <<'PY' || fail "the board is not as seeded"
import sys, time
from html.parser import HTMLParser
html = open(sys.argv[1], encoding="utf-8").read()
ids = {}
for line in open(sys.argv[2], encoding="utf-8"):
    key, pid, title = line.rstrip("\n").split("\t")
    ids[key] = (int(pid), title)
desk_off, us_off, now = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

class Board(HTMLParser):
    """cols: {class: {"n": count, "groups": [(team, [(href, title, due)])]}};
    rates: {team: [(name, text)]}."""
    def __init__(self):
        super().__init__()
        self.cols, self.rates, self.stack = {}, {}, []
        self.col = self.rate_team = None
        self.text = None
        self.in_rates = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if self.text is not None:
            self.text += " "   # <span>Name</span><span>50%</span>
        if tag == "section" and "col" in cls:
            self.col = {"n": None, "groups": []}
            self.cols[cls[1]] = self.col
        if tag == "section" and "rates" in cls:
            self.in_rates, self.col = True, None
        if tag == "span" and "n" in cls:
            self.begin("n")
        if tag == "h3":
            self.begin("h3")
        if tag == "li" and "card" in cls:
            self.card = {"href": None, "title": "", "due": ""}
        if tag == "a" and self.col is not None:
            self.card["href"] = a.get("href")
            self.begin("title")
        if tag == "span" and "due" in cls and self.col is not None:
            self.begin("due")
        if tag == "li" and "rate" in cls:
            self.begin("rate")
    def begin(self, what):
        self.text, self.what = "", what
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
    def handle_data(self, d):
        if self.text is not None:
            self.text += d
    def handle_endtag(self, tag):
        w = self.text is not None and self.what
        if w:
            self.text = " ".join(self.text.split())
        if w == "n" and tag == "span":
            self.col["n"] = int(self.text)
        elif w == "h3" and tag == "h3":
            if self.in_rates:
                self.rate_team = self.text
                self.rates[self.text] = []
            else:
                self.col["groups"].append((self.text, []))
        elif w == "title" and tag == "a":
            self.card["title"] = self.text
        elif w == "due" and tag == "span":
            self.card["due"] = self.text
            self.col["groups"][-1][1].append(self.card)
        elif w == "rate" and tag == "li":
            self.rates[self.rate_team].append(self.text)
        else:
            return
        self.text = None

b = Board()
b.feed(html)
want = {
    "lapsed": [("desk", ["a_lapsed", "b_lapsed"]), ("us", ["e_lapsed"])],
    "soon": [("desk", ["a_soon", "b_soon"]), ("us", ["d_soon"])],
    "today": [("desk", ["a_today"]), ("us", ["e_today"])],
    "acked": [("desk", ["a_acked", "a_acked_soon"]), ("us", ["d_acked"])],
}
problems = []
assert list(b.cols) == ["lapsed", "soon", "today", "acked"], list(b.cols)
for col, groups in want.items():
    got = b.cols[col]
    n = sum(len(keys) for _, keys in groups)
    if got["n"] != n:
        problems.append(f"{col}: header count {got['n']}, expected {n}")
    teams = [t for t, _ in got["groups"]]
    if teams != [t for t, _ in groups]:
        problems.append(f"{col}: groups {teams}, expected {[t for t, _ in groups]}")
    for (team, keys), (gteam, cards) in zip(groups, got["groups"]):
        exp = sorted((f"/promise/{ids[k][0]}", ids[k][1]) for k in keys)
        have = sorted((c["href"], c["title"]) for c in cards)
        if exp != have:
            problems.append(f"{col}/{team}: {have}, expected {exp}")
# "today HH:MM" in the site's own zone; the us site says which clock.
# (The relative part depends on the seconds since the seed: not checked.)
def hhmm(t, off):
    return time.strftime("%H:%M", time.gmtime(t + off))
for key, due, off, site in (("a_today", now + 5 * 3600, desk_off, ""),
                            ("e_today", now + 3 * 3600, us_off, " nyc")):
    card = [c for g in b.cols["today"]["groups"] for c in g[1]
            if c["title"] == ids[key][1]]
    want_due = f"today {hhmm(due, off)}{site} ·"
    if not card or not card[0]["due"].startswith(want_due):
        problems.append(f"{key}: due '{card[0]['due'] if card else None}',"
                        f" expected '{want_due}'")
for absent in ("Not on the board yet", "Kept one", "Erin cancelled one",
               "Dave late long ago"):
    if absent in html:
        problems.append(f"'{absent}' is on the board")
want_rates = {
    "desk": ["Carol Lead – no promises due", "Alice Adams 50% 2 of 4 kept",
             "Bob Brown 75% 3 of 4 kept"],
    "us": ["Dave Diaz 100% 1 of 1 kept", "Erin Evans 0% 0 of 2 kept"],
}
if b.rates != want_rates:
    problems.append(f"rates {b.rates}, expected {want_rates}")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

check "every promise on the board links to a timeline that works"
links=$(grep -o 'href="/promise/[0-9]*"' "$TMP/board.html" | sed 's/^href="//; s/"$//')
[ "$(wc -l <<<"$links")" = 11 ] || fail "$(wc -l <<<"$links") timeline links, expected 11"
while IFS=$'\t' read -r key pid title; do
	grep -qx "/promise/$pid" <<<"$links" || continue
	req GET "$BASE/promise/$pid" -H "Cookie: ${COOKIE%%;*}"
	expect_status 200 "the timeline of $key"
	python3 - "$TMP/resp.body" "$title" <<'PY' || fail "the timeline of $key ($pid) is not its own"
import html, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
h1 = re.search(r"<h1>(.*?)</h1>", page, re.S)
assert h1 and html.unescape(h1.group(1)) == sys.argv[2], h1 and h1.group(1)
assert "<script" not in page
assert re.search(r"<td class=\"k\">created</td>", page), "no 'created' event"
PY
done <"$TMP/titles"
req GET "$BASE/promise/999999" -H "Authorization: Bearer $TOKEN"
expect_status 404 "an unknown promise"
req GET "$BASE/promise/12abc" -H "Authorization: Bearer $TOKEN"
expect_status 404 "a malformed id"

# ---- The browser --------------------------------------------------------

check "the browser check notices a console error and an outside request"
cat >"$TMP/broken.py" <<'PY'
# A page that logs a console error and loads an image from another
# origin (that fails), on purpose; prints its port first.
import http.server, sys
PAGE = (b"<!DOCTYPE html><html><head><meta charset='utf-8'>"
        b"<link rel='icon' href='data:,'><title>broken</title></head>"
        b"<body><p>broken on purpose</p>"
        b"<script>console.error('deliberate console error')</script>"
        b"<img src='http://127.0.0.1:1/outside.png' alt=''></body></html>")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
start_peer broken "$TMP/broken.py"
if node "$SHOT" "http://127.0.0.1:$PEER_PORT/" "$TMP" selftest \
	>"$TMP/selftest.out" 2>&1; then
	cat "$TMP/selftest.out" >&2
	fail "a page with a deliberate console error passed"
fi
for want in 'console error: deliberate console error' \
	'request outside the server: http://127.0.0.1:1/outside.png'; do
	grep -qF "$want" "$TMP/selftest.out" || {
		cat "$TMP/selftest.out" >&2
		fail "the self-test did not report: $want"
	}
done
kill_peer "$PEER_PID"

check "Chromium: phone and wall screen, no console error, nothing outside"
node "$SHOT" "$BASE/?token=$TOKEN" "$ARTIFACTS" board >"$TMP/shot.out" 2>&1 || {
	cat "$TMP/shot.out" >&2
	fail "board_shot failed"
}
for f in board-phone.png board-desktop.png board-desktop-dark.png board-timeline-phone.png; do
	[ -s "$ARTIFACTS/$f" ] || fail "no $ARTIFACTS/$f"
done
python3 - "$ARTIFACTS" <<'PY' || fail "the screenshots have the wrong size"
import struct, sys
for name, w, minh in (("board-phone.png", 780, 1688),       # 390x844 at 2x
                      ("board-timeline-phone.png", 780, 1688),
                      ("board-desktop.png", 1920, 1080),
                      ("board-desktop-dark.png", 1920, 1080)):
    head = open(f"{sys.argv[1]}/{name}", "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", name
    pw, ph = struct.unpack(">II", head[16:24])
    assert pw == w and ph >= minh, (name, pw, ph)
PY

# ---- A reload to a token-only board -------------------------------------

check "after a reload without Basic auth: 403, and the password no longer works"
write_board_config 0
mark=$(grep -c 'config reloaded' "$LOG" || true)
kill -HUP "$PID"
for _ in $(seq 50); do
	[ "$(grep -c 'config reloaded' "$LOG" || true)" -gt "$mark" ] && break
	sleep 0.1
done
[ "$(grep -c 'config reloaded' "$LOG" || true)" -gt "$mark" ] ||
	fail "the daemon did not reload its config"
refused 403 "no credentials (token only)"
refused 403 "the old Basic password" -H "Authorization: Basic $BASIC_OK"
refused 403 "a wrong Bearer token (token only)" -H "Authorization: Bearer x$TOKEN"
req GET "$BASE/" -H "Authorization: Bearer $TOKEN"
expect_status 200 "the Bearer token after the reload"

check "the daemon stops cleanly on SIGTERM"
stop_daemon
echo "ok: screenshots in $ARTIFACTS"
