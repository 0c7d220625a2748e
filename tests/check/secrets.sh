#!/usr/bin/env bash
# No test secret in any log or output of the integration suite: scripts/test
# runs the end-to-end tests first, which keep what the programs printed
# under $PROMISED_BUILD_DIR/test-output/<test>/ (tests/e2e/keep_output.bash:
# the daemon's log, promisectl's stdout and stderr, the peers' own output,
# the daemon's HTTP answers; and, under received/, what the peers received)
# and ctest's record of the test scripts' own output
# (test-output/ctest-e2e.log).  This check then looks there for every
# secret of tests/e2e/secrets.bash, the file the tests take them from:
# the SMTP password, link-signing keys, webhook signing secret, intake,
# Twilio and board tokens, board and feed passwords.  A secret fails the
# check in any log or output; one of scope "anywhere" also in what a peer
# received (an SMTP password must not even reach the SMTP server outside
# the AUTH exchange, which is encoded and not recorded).
#
# Besides each whole secret it looks for its first and last 16 characters
# (a log that cuts a token short still leaks most of it) and, for the
# base64 keys, the hex of the decoded bytes.  It fails, too, when there is
# too little to search: a run that collected nothing must not pass.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
out=$build/test-output
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# shellcheck disable=SC1091 # a path known at run time
. "$src/tests/e2e/secrets.bash" || { echo "FAIL: cannot read secrets.bash" >&2; exit 1; }

# --- was anything collected? ----------------------------------------------
if [ ! -d "$out" ]; then
	echo "FAIL: $out does not exist: run the end-to-end tests first (scripts/test does)" >&2
	exit 1
fi
# ctest's copy of the test scripts' output: every e2e test prints a line
# per check, so a whole run writes tens of kilobytes.
ctlog=$out/ctest-e2e.log
if [ ! -f "$ctlog" ] || [ "$(stat -c %s "$ctlog")" -lt 10000 ]; then
	fail "$ctlog is missing or under 10 kB: the e2e output was not recorded"
fi
# Every e2e test built on the shared helpers (which keep the output) kept
# something: at least the daemon's log or what promisectl printed.  The
# others have only their own output, in ctest-e2e.log.
ntests=0
for t in "$src"/tests/e2e/*.sh; do
	name=$(basename "$t" .sh)
	grep -Eq '^[[:space:]]*\.[[:space:]].*_common\.bash' "$t" || continue
	ntests=$((ntests + 1))
	if [ -z "$(find "$out/$name/logs" -type f -size +0 2>/dev/null | head -n 1)" ]; then
		fail "test-output/$name/logs is missing or empty: $name kept no output"
	fi
done
[ "$ntests" -gt 0 ] || fail "no e2e test uses the helpers of tests/e2e"
total=$(du -sb "$out" | cut -f1)
if [ "$total" -lt $((ntests * 2000)) ]; then
	fail "test-output holds only $total bytes for $ntests tests: suspiciously little"
fi

# --- the secrets themselves -------------------------------------------------
list=$(mktemp) || exit 1
trap 'rm -f "$list"' EXIT
while read -r var scope; do
	value=${!var:-}
	if [ "${#value}" -lt 20 ]; then
		fail "$var is ${#value} characters: too short to be told from innocent text"
		continue
	fi
	printf '%s\t%s\t%s\n' "$var" "$scope" "$value" >>"$list"
done < <(test_secrets)
[ -s "$list" ] || { echo "FAIL: no secrets listed" >&2; exit 1; }

echo "searching $(find "$out" -type f | wc -l) files ($total bytes) for $(wc -l <"$list") secrets"
/usr/bin/python3 - "$out" "$list" <<'PY' || fails=$((fails + 1))
import base64, binascii, os, sys

out, listfile = sys.argv[1], sys.argv[2]
needles = []  # (bytes, name, scope)
for line in open(listfile, encoding="utf-8"):
    name, scope, value = line.rstrip("\n").split("\t")
    forms = {value, value[:16], value[-16:]}
    raw = value[len("whsec_"):] if value.startswith("whsec_") else value
    try:
        decoded = base64.b64decode(raw, validate=True)
        if len(decoded) >= 16:
            forms.add(decoded.hex())
    except (binascii.Error, ValueError):
        pass
    for f in forms:
        needles.append((f.encode(), name, scope))

found = 0
for root, _, files in os.walk(out):
    for fn in sorted(files):
        path = os.path.join(root, fn)
        rel = os.path.relpath(path, out)
        received = os.sep + "received" + os.sep in os.sep + rel
        with open(path, "rb") as fp:
            for no, line in enumerate(fp, 1):
                hits = [(n, name) for n, name, scope in needles
                        if n in line and (not received or scope == "anywhere")]
                if not hits:
                    continue
                found += 1
                shown = line
                for n, name in sorted(hits, key=lambda h: -len(h[0])):
                    shown = shown.replace(n, b"<" + name.encode() + b">")
                text = shown.decode("utf-8", "replace").rstrip()[:300]
                names = ", ".join(sorted({name for _, name in hits}))
                print(f"FAIL: {rel}:{no}: {names}: {text}", file=sys.stderr)
sys.exit(1 if found else 0)
PY

if [ "$fails" -ne 0 ]; then
	echo "secrets: $fails failure(s)" >&2
	exit 1
fi
echo "ok: no test secret in the logs and output of $ntests e2e tests"
