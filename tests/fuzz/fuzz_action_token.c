/*
 * libFuzzer target: the signed one-click tokens (action_token_new and
 * action_token_check) with two fixed keys.  The first byte picks a mode:
 *   0  the rest is a token as it arrives in a link;
 *   1  the rest is a payload, which the harness signs with key "k1" the
 *      way action.c documents (base64url(payload) "." base64url(HMAC)),
 *      so the payload parser is reached behind a valid signature;
 *   2  the rest gives the fields of a new token (round trip).
 * Invariants: only a token signed with a known key verifies, and then its
 * fields are well-formed; a token that verifies stops verifying when any
 * one character changes or when its key is retired; a new token verifies
 * with the same fields; action_token_new refuses exactly the fields the
 * header says it refuses.
 */
#include <ctype.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_common.h"

#include "promised/action.h"

static const char B64URL[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const unsigned char SECRET1[] = "fuzz-secret-one-0123456789abcdef";
static const unsigned char SECRET2[] = "fuzz-secret-two-fedcba9876543210";

static const struct action_key KEYS[] = {
	{ "k1", SECRET1, sizeof(SECRET1) - 1 },
	{ "k2", SECRET2, sizeof(SECRET2) - 1 },
};

static void
opts_with(struct action_opts *o, const struct action_key *keys, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->public_url = "https://promised.example.com";
	o->keys = keys;
	o->nkeys = n;
}

static void
b64url(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = B64URL[v >> 18];
		out[o++] = B64URL[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = B64URL[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = B64URL[v & 63];
	}
	out[o] = '\0';
}

static int
recipient_ok(const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._@+-", s[i]) == NULL)
			return 0;
	return n >= 1 && n <= 64;
}

/* Fields of a token that verified (or expired: the MAC was good). */
static void
check_fields(const struct action_token *t, int64_t now, int rc)
{
	size_t i;

	FUZZ_ASSERT(strcmp(t->kid, "k1") == 0 || strcmp(t->kid, "k2") == 0,
		    "kid '%s'", t->kid);
	FUZZ_ASSERT(strlen(t->id) == 16, "id '%s'", t->id);
	for (i = 0; i < 16; i++)
		FUZZ_ASSERT(isxdigit((unsigned char)t->id[i]), "id '%s'", t->id);
	FUZZ_ASSERT(t->promise_id >= 1, "promise %lld",
		    (long long)t->promise_id);
	FUZZ_ASSERT((unsigned)t->action < ACTION_KIND_COUNT, "action %d",
		    (int)t->action);
	FUZZ_ASSERT(recipient_ok(t->recipient), "recipient '%s'",
		    t->recipient);
	FUZZ_ASSERT(rc == ACTION_TOKEN_OK ? t->expires_at > now
		    : t->expires_at <= now, "expiry %lld, rc %d",
		    (long long)t->expires_at, rc);
}

/* A token that verifies must stop verifying when character `pos` is
 * changed (base64url has one encoding per value, so any change counts)
 * and when its key is no longer configured. */
static void
check_tamper(const char *tok, size_t pos, int64_t now)
{
	struct action_opts o;
	struct action_token t;
	size_t n = strlen(tok);
	char *bad = xstrdup(tok);
	const char *at;

	opts_with(&o, KEYS, 2);
	pos %= n;
	at = strchr(B64URL, bad[pos]);
	bad[pos] = bad[pos] == '.' ? 'A'
		 : B64URL[at != NULL ? (at - B64URL + 1) % 64 : 0];
	FUZZ_ASSERT(action_token_check(&o, bad, now, &t) != ACTION_TOKEN_OK,
		    "'%s' changed at %zu to '%s' still verifies", tok, pos, bad);
	free(bad);
	opts_with(&o, KEYS + 1, 1);
	FUZZ_ASSERT(action_token_check(&o, tok, now, &t) ==
		    ACTION_TOKEN_BAD_SIGNATURE, "'%s' verifies without k1", tok);
}

static void
mode_raw(const char *tok, int64_t now)
{
	struct action_opts o;
	struct action_token t;
	int rc;

	opts_with(&o, KEYS, 2);
	rc = action_token_check(&o, tok, now, &t);
	FUZZ_ASSERT(rc >= ACTION_TOKEN_OK && rc <= ACTION_TOKEN_EXPIRED,
		    "rc %d", rc);
	if (rc == ACTION_TOKEN_OK || rc == ACTION_TOKEN_EXPIRED)
		check_fields(&t, now, rc);
}

static void
mode_signed(const char *payload, size_t len, size_t pos, int64_t now)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct action_opts o;
	struct action_token t;
	char *tok = xmalloc(2 * len + 128);
	size_t tl;
	int rc;

	HMAC(EVP_sha256(), SECRET1, (int)sizeof(SECRET1) - 1,
	     (const unsigned char *)payload, len, mac, &maclen);
	b64url((const unsigned char *)payload, len, tok);
	tl = strlen(tok);
	tok[tl++] = '.';
	b64url(mac, maclen, tok + tl);
	opts_with(&o, KEYS, 2);
	rc = action_token_check(&o, tok, now, &t);
	if (rc == ACTION_TOKEN_OK || rc == ACTION_TOKEN_EXPIRED) {
		/* Only k1's secret signed it. */
		FUZZ_ASSERT(strcmp(t.kid, "k1") == 0, "verified as '%s'", t.kid);
		check_fields(&t, now, rc);
	}
	if (rc == ACTION_TOKEN_OK)
		check_tamper(tok, pos, now);
	free(tok);
}

static void
mode_new(const uint8_t *d, size_t n, int64_t now)
{
	struct action_opts o;
	struct action_token t;
	char tok[ACTION_TOKEN_MAX], err[256], *rcpt;
	int64_t pid = 0, exp;
	unsigned act;
	size_t i;
	int rc;

	if (n < 12)
		return;
	for (i = 0; i < 8; i++)
		pid = (int64_t)((uint64_t)pid << 8 | d[i]);
	pid = d[0] & 0x80 ? pid : pid % 100000;  /* mostly small ids */
	act = d[8] % (ACTION_KIND_COUNT + 1);
	exp = now + ((int64_t)(int8_t)d[9]) * 3600 + d[10];
	rcpt = xstrndup((const char *)d + 12, n - 12);
	opts_with(&o, KEYS, 2);
	rc = action_token_new(&o, pid, (enum action_kind)act, rcpt, exp, tok,
			      sizeof(tok), err, sizeof(err));
	FUZZ_ASSERT((rc == 0) == (pid > 0 && act < ACTION_KIND_COUNT &&
				  recipient_ok(rcpt)),
		    "new(%lld, %u, '%s') = %d (%s)", (long long)pid, act, rcpt,
		    rc, err);
	if (rc == 0) {
		FUZZ_ASSERT(strspn(tok, B64URL) + 1 + strspn(strchr(tok, '.') + 1,
			    B64URL) == strlen(tok), "token '%s'", tok);
		rc = action_token_check(&o, tok, now, &t);
		FUZZ_ASSERT(rc == (exp > now ? ACTION_TOKEN_OK
				   : ACTION_TOKEN_EXPIRED), "check = %d", rc);
		check_fields(&t, now, rc);
		FUZZ_ASSERT(strcmp(t.kid, "k1") == 0 && t.promise_id == pid &&
			    t.action == (enum action_kind)act &&
			    strcmp(t.recipient, rcpt) == 0 &&
			    t.expires_at == exp, "fields differ for '%s'", tok);
		if (rc == ACTION_TOKEN_OK)
			check_tamper(tok, d[11], now);
	}
	free(rcpt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f;
	char *buf;

	if (size < 2 || size > 1024)
		return 0;
	switch (data[0] % 3) {
	case 0:
		buf = fuzz_fields(data + 1, size - 1, &f, 1);
		mode_raw(f, FUZZ_NOW);
		free(buf);
		break;
	case 1:
		buf = fuzz_fields(data + 2, size - 2, &f, 1);
		mode_signed(f, strlen(f), data[1], FUZZ_NOW);
		free(buf);
		break;
	default:
		mode_new(data + 1, size - 1, FUZZ_NOW);
		break;
	}
	return 0;
}
