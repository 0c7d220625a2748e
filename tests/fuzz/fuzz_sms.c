/*
 * libFuzzer target: inbound SMS replies.  The input is NUL-separated
 * fields: the reply text, then the URL the provider posted to, then form
 * name/value pairs.  It checks action_sms_parse (a command has a real
 * four-digit code, a known action and language, a duration only for a
 * snooze and within 30 days; upper case and surrounding blanks change
 * nothing), the segment count of the text (sms_length/sms_segments agree
 * with GSM 03.38 / UCS-2 arithmetic), and both webhook signature checks:
 * a signature the harness computes as the providers document it must be
 * accepted, and one that differs, or a stale timestamp, refused.
 */
#include <ctype.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_common.h"

#include "promised/action.h"
#include "promised/sms.h"

#define NF 10
#define TOKEN "fuzz-twilio-auth-token"
/* "whsec_" + base64 of "0123456789abcdef0123456789abcdef" */
#define WHSEC "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define WHKEY "0123456789abcdef0123456789abcdef"

static void
b64(const unsigned char *in, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? a[v & 63] : '=';
	}
	out[o] = '\0';
}

static void
cmd_equal(const char *what, const char *a, const char *b,
	  const struct action_sms_cmd *x, const struct action_sms_cmd *y)
{
	FUZZ_ASSERT(x->verb == y->verb &&
		    (x->verb != ACTION_SMS_COMMAND ||
		     (x->action == y->action && x->code == y->code &&
		      x->duration == y->duration &&
		      strcmp(x->lang, y->lang) == 0)),
		    "%s changes the reply: '%s' -> %d/%d/%d/%lld, "
		    "'%s' -> %d/%d/%d/%lld", what, a, x->verb, x->action,
		    x->code, (long long)x->duration, b, y->verb, y->action,
		    y->code, (long long)y->duration);
}

static void
check_parse(const char *text)
{
	struct action_sms_cmd c, d;
	size_t n = strlen(text), i;
	char *v;

	action_sms_parse(text, &c);
	FUZZ_ASSERT(c.verb >= ACTION_SMS_HELP && c.verb <= ACTION_SMS_OPTIN,
		    "verb %d", c.verb);
	if (c.verb == ACTION_SMS_COMMAND) {
		FUZZ_ASSERT(c.code >= 1000 && c.code <= 9999, "code %d", c.code);
		FUZZ_ASSERT(c.action == ACTION_DONE || c.action == ACTION_ACK ||
			    c.action == ACTION_SNOOZE, "action %d", c.action);
		FUZZ_ASSERT(c.duration == 0 || (c.action == ACTION_SNOOZE &&
			    c.duration > 0 && c.duration <= 30 * 86400),
			    "duration %lld", (long long)c.duration);
		FUZZ_ASSERT(c.lang != NULL && (strcmp(c.lang, "en") == 0 ||
			    strcmp(c.lang, "nl") == 0 ||
			    strcmp(c.lang, "fr") == 0), "lang");
	}
	v = xmalloc(n + 3);
	for (i = 0; i <= n; i++)
		v[i] = (char)toupper((unsigned char)text[i]);
	action_sms_parse(v, &d);
	cmd_equal("upper case", text, v, &c, &d);
	v[0] = ' ';
	memcpy(v + 1, text, n);
	v[n + 1] = '\n';
	v[n + 2] = '\0';
	/* Only while the padded text still fits the parser's buffer. */
	if (n + 2 < 160) {
		action_sms_parse(v, &d);
		cmd_equal("surrounding blanks", text, v, &c, &d);
	}
	free(v);
}

static void
check_segments(const char *text)
{
	int ucs2 = -1, ucs2b = -1, len, seg, per, single;

	len = sms_length(text, &ucs2);
	seg = sms_segments(text, &ucs2b);
	FUZZ_ASSERT((len < 0) == (seg < 0), "length %d, segments %d", len,
		    seg);
	FUZZ_ASSERT((len < 0) == !util_utf8_valid(text, strlen(text)),
		    "length %d for UTF-8 validity %d", len,
		    util_utf8_valid(text, strlen(text)));
	if (len < 0)
		return;
	FUZZ_ASSERT(ucs2 == ucs2b && (ucs2 == 0 || ucs2 == 1), "ucs2 %d/%d",
		    ucs2, ucs2b);
	single = ucs2 ? 70 : 160;
	per = ucs2 ? 67 : 153;
	if (len <= single) {
		FUZZ_ASSERT(seg == 1, "%d units in %d segments", len, seg);
		return;
	}
	/* A two-unit character is never split, so a part may hold one unit
	 * less than per. */
	FUZZ_ASSERT(seg >= (len + per - 1) / per &&
		    seg <= (len + per - 2) / (per - 1),
		    "%d units in %d segments", len, seg);
}

struct pair {
	const char *name, *value;
};

static int
pair_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->value, b->value);
}

/* Twilio: base64(HMAC-SHA1(token, url + sorted name value ...)). */
static void
check_twilio(const char *url, const char **f, size_t np)
{
	const char *names[NF], *values[NF];
	struct pair p[NF];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char sig[64], *msg;
	size_t i, len = strlen(url), at;

	for (i = 0; i < np; i++) {
		p[i].name = names[i] = f[2 * i];
		p[i].value = values[i] = f[2 * i + 1];
		len += strlen(f[2 * i]) + strlen(f[2 * i + 1]);
	}
	qsort(p, np, sizeof(*p), pair_cmp);
	msg = xmalloc(len + 1);
	at = strlen(url);
	memcpy(msg, url, at);
	for (i = 0; i < np; i++) {
		memcpy(msg + at, p[i].name, strlen(p[i].name));
		at += strlen(p[i].name);
		memcpy(msg + at, p[i].value, strlen(p[i].value));
		at += strlen(p[i].value);
	}
	HMAC(EVP_sha1(), TOKEN, (int)strlen(TOKEN), (unsigned char *)msg, at,
	     mac, &maclen);
	b64(mac, maclen, sig);
	FUZZ_ASSERT(action_sms_twilio_valid(TOKEN, url, names, values, np, sig)
		    == 1, "a correct Twilio signature is refused");
	sig[0] = sig[0] == 'A' ? 'B' : 'A';
	FUZZ_ASSERT(action_sms_twilio_valid(TOKEN, url, names, values, np, sig)
		    == 0, "a wrong Twilio signature is accepted");
	free(msg);
}

/* Standard Webhooks: "v1," base64(HMAC-SHA256(key, id.ts.body)). */
static void
check_standard(const char *id, const char *body)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char ts[32], sig[80], *msg;
	int64_t now = FUZZ_NOW;
	int n;

	if (id[0] == '\0')
		return;
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	msg = xasprintf("%s.%s.%s", id, ts, body);
	HMAC(EVP_sha256(), WHKEY, (int)strlen(WHKEY), (unsigned char *)msg,
	     strlen(msg), mac, &maclen);
	memcpy(sig, "v1,", 3);
	b64(mac, maclen, sig + 3);
	n = action_sms_standard_valid(WHSEC, id, ts, sig, body, strlen(body),
				      now);
	FUZZ_ASSERT(n == 1, "a correct webhook signature is refused");
	n = action_sms_standard_valid(WHSEC, id, ts, sig, body, strlen(body),
				      now + 301);
	FUZZ_ASSERT(n == 0, "a stale webhook signature is accepted");
	sig[3] = sig[3] == 'A' ? 'B' : 'A';
	n = action_sms_standard_valid(WHSEC, id, ts, sig, body, strlen(body),
				      now);
	FUZZ_ASSERT(n == 0, "a wrong webhook signature is accepted");
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[NF + 2];
	size_t np = 0;
	char *buf;

	if (size > 4096)
		return 0;
	buf = fuzz_fields(data, size, f, NF + 2);
	check_parse(f[0]);
	check_segments(f[0]);
	while (np < NF / 2 && f[2 + 2 * np][0] != '\0')
		np++;
	check_twilio(f[1], f + 2, np);
	check_standard(f[1], f[0]);
	free(buf);
	return 0;
}
