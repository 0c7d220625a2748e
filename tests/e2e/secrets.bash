# The secrets the end-to-end tests hand to the programs (sourced, not run
# on its own).  Sourced by the tests that write them into secret files
# and by tests/check/secrets.sh, which fails when one of them shows up in
# what the suite kept under $PROMISED_BUILD_DIR/test-output: one source,
# so the check always looks for the values the tests really used.
#
# Fixed rather than drawn at each run so that the check can know them;
# each is shaped like what an operator would generate (the same lengths
# and alphabets as `head -c N /dev/urandom | base64` or `od -tx1`), long
# enough (20 characters or more) that no innocent text contains one.
# Scope: "anywhere" secrets must appear in no log, no program output and
# nothing a peer received; "logs" secrets may legitimately travel to a
# peer (in a notification, say) but never into a log or output.

# shellcheck disable=SC2034 # used by the scripts that source this file
TEST_SMTP_PASSWORD='Q2FZTqo16pk9rmGmW4Fq8tLf'
# Link-signing keys: base64 of 32 random bytes, as docs suggest.
TEST_LINK_KEY_NEW='vkNhgdm8JlCYcX2SwmTE9ellHd8bZqmLOwLLWMwnJ4I='
TEST_LINK_KEY_OLD='nnkALxU9FuiyFYhPlX1IR7JDLycyVpkLAk8jfJFYIDw='
# Standard Webhooks signing secret: "whsec_" + base64 of 24 bytes.
TEST_WEBHOOK_SECRET='whsec_4DcdOuCFWVRqTtTKDTePE5XNcjZayHJJ'
TEST_INTAKE_TOKEN='0KyJymPWBHME9QEula89EMcJ8bdEQrqO'
TEST_TWILIO_TOKEN='0742a24c3bd4066b5de272ab72fb41b0'
TEST_BOARD_TOKEN='5904cbae21339bbbe794880f9eb5beebbe7ec742a51e662e'
TEST_BOARD_PASSWORD='zN9IcEgyBUMVscqJLXabfE3u'
TEST_FEED_PASSWORD='EmzuCGRWkwrU8iIPIT32'

# test_secrets: one line per secret, "<variable> <scope>".  The board
# token may one day ride in a digest's board link, so only logs are
# forbidden to it.
test_secrets() {
	cat <<'EOF'
TEST_SMTP_PASSWORD anywhere
TEST_LINK_KEY_NEW anywhere
TEST_LINK_KEY_OLD anywhere
TEST_WEBHOOK_SECRET anywhere
TEST_INTAKE_TOKEN anywhere
TEST_TWILIO_TOKEN anywhere
TEST_BOARD_TOKEN logs
TEST_BOARD_PASSWORD anywhere
TEST_FEED_PASSWORD anywhere
EOF
}

# write_secret VALUE FILE: the secret file as an operator makes it (one
# line, readable by us only).
write_secret() {
	(umask 077 && printf '%s\n' "$1" >"$2")
	chmod 600 "$2"
}
