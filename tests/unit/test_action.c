/*
 * Unit tests of one-click actions and SMS replies: token round trips,
 * tampering, expiry and key rotation; the reply parser in three
 * languages; Twilio and Standard Webhooks signatures checked against an
 * independent implementation (Python's hmac); the pages and the SMS hook
 * driven through a real HTTP server with a real store under /tmp.
 */
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "promised/action.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/promise.h"
#include "promised/store.h"
#include "promised/util.h"

#define HOUR INT64_C(3600)

static const char config_yaml[] =
	"database: promised.db\n"
	"default_site: leuven\n"
	"sites:\n"
	"  leuven:\n"
	"    timezone: Europe/Brussels\n"
	"    hours:\n"
	"      mon: [08:00-18:00]\n"
	"      tue: [08:00-18:00]\n"
	"      wed: [08:00-18:00]\n"
	"      thu: [08:00-18:00]\n"
	"      fri: [08:00-18:00]\n"
	"      sat: closed\n"
	"      sun: closed\n"
	"staff:\n"
	"  - id: an\n"
	"    name: An Peeters\n"
	"    phone: \"+32470100100\"\n"
	"    locale: en\n"
	"  - id: marc\n"
	"    name: Marc Janssens\n"
	"    phone: \"+32470100201\"\n"
	"    locale: nl\n"
	"    team: sales\n"
	"    manager: an\n"
	"  - id: tom\n"
	"    name: Tom Willems\n"
	"    phone: \"+32470100301\"\n"
	"    locale: en\n"
	"    team: service\n"
	"    manager: an\n"
	"  - id: sophie\n"
	"    name: Sophie Dubois\n"
	"    phone: \"+32470100202\"\n"
	"    locale: fr\n"
	"    team: sales\n"
	"    manager: an\n"
	"teams:\n"
	"  sales:\n"
	"    lead: an\n"
	"    site: leuven\n"
	"  service:\n"
	"    lead: an\n"
	"    site: leuven\n";

static const unsigned char secret1[] = "first-signing-key-0123456789abcdef";
static const unsigned char secret2[] = "second-signing-key-fedcba9876543210";
#define TWILIO_TOKEN "twilio-auth-token-12345"
/* base64("standard-webhooks-secret-bytes!!") */
#define WH_SECRET "whsec_c3RhbmRhcmQtd2ViaG9va3Mtc2VjcmV0LWJ5dGVzISE="

struct fx {
	char dir[64];
	struct store *st;
	struct config *cfg;
	struct action_key keys[2];
	struct action_opts o;
	int64_t now;
	char err[512];
	/* the HTTP server, run by a thread */
	struct http_server *srv;
	pthread_t thread;
	volatile int stop;
	char base[64];
};

static int64_t
fake_clock(void *ctx)
{
	return ((struct fx *)ctx)->now;
}

/* A UTC instant from a Brussels wall time in winter (UTC+1). */
static int64_t
brussels(int y, int m, int d, int hh, int mm)
{
	return util_days_from_civil(y, m, d) * 86400 + (hh - 1) * HOUR +
	       mm * 60;
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct config_errors errs = { 0 };
	char path[128];
	FILE *fp;
	int rc = 0;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/promised-action-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/promised.yaml", f->dir);
	fp = fopen(path, "w");
	if (fp == NULL)
		return -1;
	fputs(config_yaml, fp);
	fclose(fp);
	f->cfg = config_load(path, &errs);
	if (f->cfg == NULL) {
		fprintf(stderr, "config: %s\n", errs.n ? errs.msg[0] : "?");
		config_errors_clear(&errs);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/promised.db", f->dir);
	f->st = store_open(path, &rc, f->err, sizeof(f->err));
	if (f->st == NULL)
		return -1;
	f->keys[0] = (struct action_key){ "k1", secret1, sizeof(secret1) - 1 };
	f->keys[1] = (struct action_key){ "k0", secret2, sizeof(secret2) - 1 };
	/* Tuesday 1 December 2026, 10:00 in Leuven. */
	f->now = brussels(2026, 12, 1, 10, 0);
	f->o.store = f->st;
	f->o.cfg = f->cfg;
	f->o.public_url = "https://promised.example.com/";
	f->o.keys = f->keys;
	f->o.nkeys = 1;
	f->o.sms_provider = ACTION_SMS_TWILIO;
	f->o.sms_secret = TWILIO_TOKEN;
	f->o.sms_url = "https://promised.example.com/hooks/sms";
	f->o.clock = fake_clock;
	f->o.clock_ctx = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->srv != NULL) {
		f->stop = 1;
		pthread_join(f->thread, NULL);
		http_free(f->srv);
	}
	store_close(f->st);
	config_free(f->cfg);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int64_t
add_promise(struct fx *f, const char *title, const char *owner,
	    int64_t due)
{
	struct promise p;

	memset(&p, 0, sizeof(p));
	p.title = (char *)title;
	p.customer_name = (char *)"Mevr. <Janssens> & Zn";
	p.owner = (char *)owner;
	p.team = (char *)"sales";
	p.due_at = due;
	assert_int_equal(store_add(f->st, &p, "test", f->now - HOUR, f->err,
				   sizeof(f->err)), STORE_OK);
	return p.id;
}

static void
get_promise(struct fx *f, int64_t id, struct promise *p)
{
	assert_int_equal(store_get(f->st, id, p, f->err, sizeof(f->err)),
			 STORE_OK);
}

/* How many events of promise id have kind k (EVENT_KIND_COUNT: any),
 * contain text and come from actor (NULL: any). */
static int
count_events(struct fx *f, int64_t id, enum event_kind k, const char *text,
	     const char *actor)
{
	struct event *ev = NULL;
	size_t n = 0, i;
	int c = 0;

	assert_int_equal(store_events(f->st, id, &ev, &n, f->err,
				      sizeof(f->err)), STORE_OK);
	for (i = 0; i < n; i++) {
		if ((k == EVENT_KIND_COUNT || ev[i].kind == k) &&
		    (text == NULL ||
		    strstr(ev[i].detail, text) != NULL) &&
		    (actor == NULL || strcmp(ev[i].actor, actor) == 0))
			c++;
	}
	event_free_array(ev, n);
	return c;
}

static void
new_token(struct fx *f, int64_t id, enum action_kind k, const char *who,
	  int64_t exp, char *tok)
{
	assert_int_equal(action_token_new(&f->o, id, k, who, exp, tok,
					  ACTION_TOKEN_MAX, f->err,
					  sizeof(f->err)), 0);
}

/* ---- tokens ------------------------------------------------------- */

static void
test_token_roundtrip(void **state)
{
	struct fx *f = *state;
	struct action_token t;
	char tok[ACTION_TOKEN_MAX], link[400];
	int64_t id = add_promise(f, "Call back about the quote", "marc",
				 f->now + 4 * HOUR);

	new_token(f, id, ACTION_SNOOZE, "marc", f->now + 86400, tok);
	/* URL-safe: nothing a URL would need to escape. */
	assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
				"nopqrstuvwxyz0123456789-_."), strlen(tok));
	assert_int_equal(action_token_check(&f->o, tok, f->now, &t),
			 ACTION_TOKEN_OK);
	assert_int_equal(t.promise_id, id);
	assert_int_equal(t.action, ACTION_SNOOZE);
	assert_string_equal(t.recipient, "marc");
	assert_string_equal(t.kid, "k1");
	assert_int_equal(t.expires_at, f->now + 86400);
	assert_int_equal(strlen(t.id), 16);
	/* Two tokens for the same thing still differ (random ids). */
	assert_int_equal(action_link_new(&f->o, id, ACTION_SNOOZE, "marc",
					 f->now + 86400, link, sizeof(link),
					 f->err, sizeof(f->err)), 0);
	assert_true(util_startswith_ci(link,
				       "https://promised.example.com/a/"));
	assert_string_not_equal(link + strlen("https://promised.example.com/"
					      "a/"), tok);
	/* Ids outside the safe alphabet never make a token. */
	assert_int_equal(action_token_new(&f->o, id, ACTION_DONE, "ma|rc",
					  f->now + 60, tok, sizeof(tok),
					  f->err, sizeof(f->err)), -1);
}

/* Replaces the payload of tok with text, keeping its signature. */
static void
forge(const char *tok, const char *payload, char *out, size_t outlen)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
				"tuvwxyz0123456789-_";
	const unsigned char *in = (const unsigned char *)payload;
	size_t n = strlen(payload), i, o = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = a[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	snprintf(out + o, outlen - o, "%s", strchr(tok, '.'));
}

static void
test_token_tampered(void **state)
{
	struct fx *f = *state;
	struct action_token t;
	char tok[ACTION_TOKEN_MAX], bad[ACTION_TOKEN_MAX], payload[200];
	size_t dot;
	int64_t id = add_promise(f, "Fit winter tyres", "marc", f->now);

	new_token(f, id, ACTION_DONE, "marc", f->now + 600, tok);
	assert_int_equal(action_token_check(&f->o, tok, f->now, &t),
			 ACTION_TOKEN_OK);
	/* The same payload naming another promise. */
	snprintf(payload, sizeof(payload), "1|k1|%s|%lld|done|marc|%lld",
		 t.id, (long long)id + 1, (long long)(f->now + 600));
	forge(tok, payload, bad, sizeof(bad));
	assert_int_equal(action_token_check(&f->o, bad, f->now, &t),
			 ACTION_TOKEN_BAD_SIGNATURE);
	assert_int_equal(t.promise_id, id + 1);
	/* The unchanged payload re-encoded by the forger still verifies,
	 * so the forging itself is sound. */
	snprintf(payload, sizeof(payload), "1|k1|%s|%lld|done|marc|%lld",
		 t.id, (long long)id, (long long)(f->now + 600));
	forge(tok, payload, bad, sizeof(bad));
	assert_string_equal(bad, tok);
	/* A later expiry is refused the same way. */
	snprintf(payload, sizeof(payload), "1|k1|%s|%lld|done|marc|%lld",
		 t.id, (long long)id, (long long)(f->now + 6000000));
	forge(tok, payload, bad, sizeof(bad));
	assert_int_equal(action_token_check(&f->o, bad, f->now, &t),
			 ACTION_TOKEN_BAD_SIGNATURE);
	/* One signature character changed. */
	snprintf(bad, sizeof(bad), "%s", tok);
	dot = (size_t)(strchr(bad, '.') - bad);
	bad[dot + 5] = bad[dot + 5] == 'A' ? 'B' : 'A';
	assert_int_equal(action_token_check(&f->o, bad, f->now, &t),
			 ACTION_TOKEN_BAD_SIGNATURE);
	/* Signature cut short, or missing. */
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[strlen(bad) - 3] = '\0';
	assert_int_equal(action_token_check(&f->o, bad, f->now, &t),
			 ACTION_TOKEN_BAD_SIGNATURE);
	bad[dot] = '\0';
	assert_int_equal(action_token_check(&f->o, bad, f->now, &t),
			 ACTION_TOKEN_MALFORMED);
	assert_int_equal(action_token_check(&f->o, "garbage.x", f->now, &t),
			 ACTION_TOKEN_MALFORMED);
	assert_int_equal(action_token_check(&f->o, "", f->now, &t),
			 ACTION_TOKEN_MALFORMED);
}

static void
test_token_expired(void **state)
{
	struct fx *f = *state;
	struct action_token t;
	char tok[ACTION_TOKEN_MAX];

	int64_t id = add_promise(f, "Fit winter tyres", "tom", f->now);

	new_token(f, id, ACTION_ACK, "tom", f->now + 600, tok);
	assert_int_equal(action_token_check(&f->o, tok, f->now + 599, &t),
			 ACTION_TOKEN_OK);
	/* Valid up to, not including, its expiry. */
	assert_int_equal(action_token_check(&f->o, tok, f->now + 600, &t),
			 ACTION_TOKEN_EXPIRED);
	assert_int_equal(t.promise_id, id);
	assert_int_equal(action_token_check(&f->o, tok, f->now + 86400, &t),
			 ACTION_TOKEN_EXPIRED);
}

static void
test_token_rotation(void **state)
{
	struct fx *f = *state;
	struct action_key rotated[2] = {
		{ "k2", secret2, sizeof(secret2) - 1 },
		{ "k1", secret1, sizeof(secret1) - 1 },
	};
	struct action_key impostor = { "k1", secret2, sizeof(secret2) - 1 };
	struct action_opts after = f->o, wrong = f->o;
	struct action_token t;
	char old_tok[ACTION_TOKEN_MAX], new_tok[ACTION_TOKEN_MAX];
	int64_t id = add_promise(f, "Fit winter tyres", "an", f->now);

	new_token(f, id, ACTION_DONE, "an", f->now + 600, old_tok);
	after.keys = rotated;
	after.nkeys = 2;
	/* The old key still verifies after the new one was put first. */
	assert_int_equal(action_token_check(&after, old_tok, f->now, &t),
			 ACTION_TOKEN_OK);
	assert_string_equal(t.kid, "k1");
	/* The new key signs. */
	assert_int_equal(action_token_new(&after, id, ACTION_DONE, "an",
					  f->now + 600, new_tok,
					  sizeof(new_tok), f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(action_token_check(&after, new_tok, f->now, &t),
			 ACTION_TOKEN_OK);
	assert_string_equal(t.kid, "k2");
	/* A verifier that does not know k2 refuses it: unknown kid. */
	assert_int_equal(action_token_check(&f->o, new_tok, f->now, &t),
			 ACTION_TOKEN_BAD_SIGNATURE);
	/* Same kid, other secret: refused. */
	wrong.keys = &impostor;
	wrong.nkeys = 1;
	assert_int_equal(action_token_check(&wrong, old_tok, f->now, &t),
			 ACTION_TOKEN_BAD_SIGNATURE);
}

static void
test_short_code(void **state)
{
	(void)state;
	assert_int_equal(action_short_code(1), 1001);
	assert_int_equal(action_short_code(8999), 9999);
	assert_int_equal(action_short_code(9000), 1000);
	assert_int_equal(action_short_code(12345), 4345);
}

/* ---- the reply parser ------------------------------------------------ */

static void
test_sms_parse(void **state)
{
	static const struct {
		const char *text;
		enum action_sms_verb verb;
		enum action_kind action;
		int code;
		int64_t duration;
		const char *lang;
	} cases[] = {
		{ "DONE 4821", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0, "en" },
		{ "4821 done", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0, "en" },
		{ "  Done   4821 \n", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0,
		  "en" },
		{ "OK 4821", ACTION_SMS_COMMAND, ACTION_ACK, 4821, 0, "en" },
		{ "ok 1000", ACTION_SMS_COMMAND, ACTION_ACK, 1000, 0, "en" },
		{ "SNOOZE 4821 1h", ACTION_SMS_COMMAND, ACTION_SNOOZE, 4821,
		  3600, "en" },
		{ "snooze 4821", ACTION_SMS_COMMAND, ACTION_SNOOZE, 4821, 0,
		  "en" },
		{ "4821 snooze 1h30m", ACTION_SMS_COMMAND, ACTION_SNOOZE, 4821,
		  5400, "en" },
		/* Found by tests/fuzz/fuzz_sms.c: the duration is
		 * case-insensitive like the rest of the reply. */
		{ "SNOOZE 4821 1H30M", ACTION_SMS_COMMAND, ACTION_SNOOZE, 4821,
		  5400, "en" },
		{ "LATER 1234 2H", ACTION_SMS_COMMAND, ACTION_SNOOZE, 1234,
		  7200, "nl" },
		{ "KLAAR 4821", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0, "nl" },
		{ "4821 Klaar", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0, "nl" },
		{ "JA 4821", ACTION_SMS_COMMAND, ACTION_ACK, 4821, 0, "nl" },
		{ "FAIT 4821", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0, "fr" },
		{ "fait 4821.", ACTION_SMS_COMMAND, ACTION_DONE, 4821, 0, "fr" },
		{ "OUI 4821", ACTION_SMS_COMMAND, ACTION_ACK, 4821, 0, "fr" },
		{ "STOP", ACTION_SMS_OPTOUT, ACTION_DONE, 0, 0, "en" },
		{ "stopall", ACTION_SMS_OPTOUT, ACTION_DONE, 0, 0, "en" },
		{ "Unsubscribe", ACTION_SMS_OPTOUT, ACTION_DONE, 0, 0, "en" },
		{ "CANCEL", ACTION_SMS_OPTOUT, ACTION_DONE, 0, 0, "en" },
		{ "end", ACTION_SMS_OPTOUT, ACTION_DONE, 0, 0, "en" },
		{ "QUIT", ACTION_SMS_OPTOUT, ACTION_DONE, 0, 0, "en" },
		{ "START", ACTION_SMS_OPTIN, ACTION_DONE, 0, 0, "en" },
		{ "HELP", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		/* garbage and near misses: help */
		{ "", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "thanks!", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "DONE", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "DONE 482", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "DONE 48210", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "DONE 0821", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "DONE abcd", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "DONE 4821 1h", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "SNOOZE 4821 soon", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "STOP 4821", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "MAYBE 4821", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
		{ "4821 4822", ACTION_SMS_HELP, ACTION_DONE, 0, 0, "en" },
	};
	struct action_sms_cmd c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		action_sms_parse(cases[i].text, &c);
		if (c.verb != cases[i].verb)
			fail_msg("\"%s\": verb %d, want %d", cases[i].text,
				 (int)c.verb, (int)cases[i].verb);
		if (c.verb != ACTION_SMS_COMMAND)
			continue;
		assert_int_equal(c.action, cases[i].action);
		assert_int_equal(c.code, cases[i].code);
		assert_int_equal(c.duration, cases[i].duration);
		assert_string_equal(c.lang, cases[i].lang);
	}
	action_sms_parse(NULL, &c);
	assert_int_equal(c.verb, ACTION_SMS_HELP);
}

/* ---- signatures against Python's hmac -------------------------------- */

/* Runs python3 with a script and arguments (no single quotes in them);
 * returns its first output line. */
static void
python(char *out, size_t outlen, const char *script, const char *const *args,
       size_t n)
{
	char cmd[4096];
	size_t len, i;
	FILE *p;

	len = (size_t)snprintf(cmd, sizeof(cmd), "python3 -c '%s'", script);
	for (i = 0; i < n; i++) {
		assert_null(strchr(args[i], '\''));
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " '%s'",
					args[i]);
	}
	assert_true(len < sizeof(cmd));
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)outlen, p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, "\n")] = '\0';
}

static const char twilio_py[] =
	"import sys,hmac,hashlib,base64\n"
	"a=sys.argv[1:]\n"
	"s=a[1]+\"\".join(k+v for k,v in sorted(zip(a[2::2],a[3::2])))\n"
	"d=hmac.new(a[0].encode(),s.encode(),hashlib.sha1).digest()\n"
	"print(base64.b64encode(d).decode())\n";

static const char standard_py[] =
	"import sys,hmac,hashlib,base64\n"
	"sec,i,ts,body=sys.argv[1:5]\n"
	"k=base64.b64decode(sec[len(\"whsec_\"):])\n"
	"m=(i+\".\"+ts+\".\"+body).encode()\n"
	"d=hmac.new(k,m,hashlib.sha256).digest()\n"
	"print(\"v1,\"+base64.b64encode(d).decode())\n";

static void
twilio_sig(const char *url, const char *const *kv, size_t n, char *out,
	   size_t outlen)
{
	const char *args[16];
	size_t i;

	args[0] = TWILIO_TOKEN;
	args[1] = url;
	for (i = 0; i < n && i < 14; i++)
		args[2 + i] = kv[i];
	python(out, outlen, twilio_py, args, n + 2);
}

static void
test_twilio_signature(void **state)
{
	static const char url[] = "https://promised.example.com/hooks/sms";
	/* Twilio sorts by name: AccountSid, Body, From, MessageSid, To. */
	const char *kv[] = { "From", "+32470100201", "To", "+3225550100",
			     "Body", "DONE 4821", "MessageSid", "SM0123",
			     "AccountSid", "AC0123" };
	const char *names[5], *values[5];
	char sig[128], other[128];
	size_t i;

	(void)state;
	twilio_sig(url, kv, 10, sig, sizeof(sig));
	for (i = 0; i < 5; i++) {
		names[i] = kv[2 * i];
		values[i] = kv[2 * i + 1];
	}
	assert_true(action_sms_twilio_valid(TWILIO_TOKEN, url, names, values,
					    5, sig));
	/* One byte of a value changed. */
	values[2] = "DONE 4822";
	assert_false(action_sms_twilio_valid(TWILIO_TOKEN, url, names, values,
					     5, sig));
	values[2] = "DONE 4821";
	/* Another URL, another token, a changed signature, none. */
	assert_false(action_sms_twilio_valid(TWILIO_TOKEN,
					     "https://promised.example.com/"
					     "hooks/smS", names, values, 5,
					     sig));
	assert_false(action_sms_twilio_valid("other-token", url, names,
					     values, 5, sig));
	snprintf(other, sizeof(other), "%s", sig);
	other[3] = other[3] == 'a' ? 'b' : 'a';
	assert_false(action_sms_twilio_valid(TWILIO_TOKEN, url, names, values,
					     5, other));
	assert_false(action_sms_twilio_valid(TWILIO_TOKEN, url, names, values,
					     5, NULL));
	assert_false(action_sms_twilio_valid(TWILIO_TOKEN, url, names, values,
					     5, ""));
}

static void
test_standard_signature(void **state)
{
	struct fx *f = *state;
	static const char body[] =
		"{\"from\":\"+32470100201\",\"text\":\"DONE 4821\"}";
	char ts[32], late[32], sig[128], both[300];
	const char *args[4];

	snprintf(ts, sizeof(ts), "%lld", (long long)f->now);
	args[0] = WH_SECRET;
	args[1] = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
	args[2] = ts;
	args[3] = body;
	python(sig, sizeof(sig), standard_py, args, 4);
	assert_true(action_sms_standard_valid(WH_SECRET, args[1], ts, sig,
					      body, strlen(body), f->now));
	/* Several signatures (rotation): any one that matches. */
	snprintf(both, sizeof(both), "v1,AAAA %s", sig);
	assert_true(action_sms_standard_valid(WH_SECRET, args[1], ts, both,
					      body, strlen(body), f->now));
	/* One byte of the body changed. */
	assert_false(action_sms_standard_valid(WH_SECRET, args[1], ts, sig,
					       "{\"from\":\"+32470100201\","
					       "\"text\":\"DONE 4822\"}",
					       strlen(body), f->now));
	/* Another id, a timestamp older than five minutes. */
	assert_false(action_sms_standard_valid(WH_SECRET, "msg_other", ts, sig,
					       body, strlen(body), f->now));
	assert_true(action_sms_standard_valid(WH_SECRET, args[1], ts, sig,
					      body, strlen(body),
					      f->now + 300));
	assert_false(action_sms_standard_valid(WH_SECRET, args[1], ts, sig,
					       body, strlen(body),
					       f->now + 301));
	snprintf(late, sizeof(late), "%lld", (long long)f->now + 1);
	assert_false(action_sms_standard_valid(WH_SECRET, args[1], late, sig,
					       body, strlen(body), f->now));
	assert_false(action_sms_standard_valid(WH_SECRET, args[1], ts, NULL,
					       body, strlen(body), f->now));
}

/* ---- pages through the real HTTP server ------------------------------ */

static void *
serve(void *arg)
{
	struct fx *f = arg;
	struct pollfd pfd;
	long t;

	while (!f->stop) {
		pfd.fd = http_fd(f->srv);
		pfd.events = POLLIN;
		t = http_timeout_ms(f->srv);
		poll(&pfd, 1, t < 0 || t > 50 ? 50 : (int)t);
		http_run(f->srv);
	}
	return NULL;
}

static void
start_server(struct fx *f)
{
	f->srv = http_new("127.0.0.1:0", 65536, f->err, sizeof(f->err));
	assert_non_null(f->srv);
	assert_int_equal(action_register(f->srv, &f->o, f->err,
					 sizeof(f->err)), 0);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d",
		 http_port(f->srv));
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

struct resp {
	long status;
	char body[32768];
	size_t len;
	char headers[4096];
	size_t hlen;
};

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t k = size * n;

	if (r->len + k < sizeof(r->body)) {
		memcpy(r->body + r->len, p, k);
		r->len += k;
		r->body[r->len] = '\0';
	}
	return k;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t k = size * n;

	if (r->hlen + k < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

/* One request; body NULL means GET. */
static void
request(struct fx *f, const char *path, const char *body,
	struct curl_slist *hdrs, struct resp *r)
{
	char url[512];
	CURL *c = curl_easy_init();

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", f->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (hdrs != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

static void
test_page_done(void **state)
{
	struct fx *f = *state;
	char tok[ACTION_TOKEN_MAX], path[400];
	struct promise before, after;
	struct store_token row;
	struct action_token t;
	struct resp r;
	int64_t id = add_promise(f, "Quote for the <Golf> service",
				 "marc", f->now + 4 * HOUR);
	int nev;

	start_server(f);
	new_token(f, id, ACTION_DONE, "marc", f->now + 86400, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	get_promise(f, id, &before);
	nev = count_events(f, id, EVENT_KIND_COUNT, NULL, NULL);

	/* GET: a confirmation page in Marc's language; nothing changes. */
	request(f, path, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.headers, "Cache-Control: no-store");
	assert_contains(r.headers, "Referrer-Policy: no-referrer");
	assert_contains(r.headers, "text/html");
	assert_contains(r.body, "<html lang=\"nl\">");
	assert_contains(r.body, "Quote for the &lt;Golf&gt; service");
	assert_contains(r.body, "Mevr. &lt;Janssens&gt; &amp; Zn");
	/* Due 14:00 in Leuven (13:00Z in winter). */
	assert_contains(r.body, "2026-12-01 14:00");
	assert_contains(r.body, "Marc Janssens");
	assert_contains(r.body, "<form method=\"post\">");
	assert_contains(r.body, "</style>");
	assert_null(strstr(r.body, "<script"));
	assert_true(r.len > 9);
	assert_string_equal(r.body + r.len - 8, "</html>\n");
	request(f, path, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	get_promise(f, id, &after);
	assert_int_equal(after.state, PROMISE_OPEN);
	assert_int_equal(after.updated_at, before.updated_at);
	assert_int_equal(count_events(f, id, EVENT_KIND_COUNT, NULL, NULL),
			 nev);
	promise_clear(&after);

	/* POST: closed kept, once. */
	f->now += 60;
	request(f, path, "", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "Gemarkeerd als afgehandeld.");
	get_promise(f, id, &after);
	assert_int_equal(after.state, PROMISE_CLOSED);
	assert_int_equal(after.outcome, OUTCOME_KEPT);
	assert_string_equal(after.closed_by, "link:marc");
	promise_clear(&after);
	promise_clear(&before);
	assert_int_equal(count_events(f, id, EVENT_CLOSED, NULL, "link:marc"),
			 1);
	/* The token row says it was used, when, and what for. */
	assert_int_equal(action_token_check(&f->o, tok, f->now, &t),
			 ACTION_TOKEN_OK);
	assert_int_equal(store_token_get(f->st, t.id, &row, f->err,
					 sizeof(f->err)), STORE_OK);
	assert_int_equal(row.used_at, f->now);
	assert_int_equal(row.promise_id, id);
	assert_string_equal(row.result, "done");

	/* A replay: "already done" with what and when, nothing new. */
	f->now += 3600;
	request(f, path, "", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "Al gedaan");
	assert_contains(r.body, "Gemarkeerd als afgehandeld.");
	/* Used at 10:01 Leuven time. */
	assert_contains(r.body, "2026-12-01 10:01");
	assert_int_equal(count_events(f, id, EVENT_CLOSED, NULL, NULL), 1);
	/* GET of a used link shows the same. */
	request(f, path, NULL, NULL, &r);
	assert_contains(r.body, "Al gedaan");
}

static int64_t
event_count_all(struct fx *f, int64_t id)
{
	return count_events(f, id, EVENT_KIND_COUNT, NULL, NULL);
}

static void
test_page_refused(void **state)
{
	struct fx *f = *state;
	char tok[ACTION_TOKEN_MAX], path[400], bad[ACTION_TOKEN_MAX];
	struct promise p;
	struct resp r;
	size_t dot;
	int64_t id = add_promise(f, "Deliver the car", "tom",
				 f->now + 4 * HOUR);

	start_server(f);
	/* Expired an hour ago. */
	new_token(f, id, ACTION_DONE, "tom", f->now - HOUR, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	request(f, path, "", NULL, &r);
	assert_int_equal(r.status, 403);
	assert_contains(r.body, "This link has expired");
	assert_contains(r.headers, "Cache-Control: no-store");
	assert_int_equal(count_events(f, id, EVENT_NOTE,
				      "refused action link: expired",
				      "link:tom"), 1);
	get_promise(f, id, &p);
	assert_int_equal(p.state, PROMISE_OPEN);
	promise_clear(&p);

	/* Tampered signature. */
	new_token(f, id, ACTION_DONE, "tom", f->now + HOUR, tok);
	snprintf(bad, sizeof(bad), "%s", tok);
	dot = (size_t)(strchr(bad, '.') - bad);
	bad[dot + 2] = bad[dot + 2] == 'x' ? 'y' : 'x';
	snprintf(path, sizeof(path), "/a/%s", bad);
	request(f, path, NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_contains(r.body, "This link is not valid");
	assert_int_equal(count_events(f, id, EVENT_NOTE,
				      "refused action link: bad signature",
				      "link:tom"), 1);
	request(f, path, "", NULL, &r);
	assert_int_equal(r.status, 403);
	assert_int_equal(count_events(f, id, EVENT_NOTE,
				      "refused action link: bad signature",
				      "link:tom"), 2);
	get_promise(f, id, &p);
	assert_int_equal(p.state, PROMISE_OPEN);
	promise_clear(&p);

	/* Garbage: 403 in English, no event anywhere: created + 3 notes. */
	request(f, "/a/not-a-token", NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_contains(r.body, "<html lang=\"en\">");
	assert_int_equal(event_count_all(f, id), 4);
}

static void
test_page_handover_snooze_unreachable(void **state)
{
	struct fx *f = *state;
	char tok[ACTION_TOKEN_MAX], path[400];
	struct promise p;
	struct resp r;
	const char *sophie, *tom;
	int64_t id = add_promise(f, "Order the part", "marc",
				 f->now + 4 * HOUR);

	start_server(f);
	new_token(f, id, ACTION_HANDOVER, "an", f->now + HOUR, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	request(f, path, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "<select id=\"to\" name=\"to\" required>");
	/* Sales (marc's team) first, the owner himself not at all. */
	sophie = strstr(r.body, "<option value=\"sophie\">Sophie Dubois<");
	tom = strstr(r.body, "<option value=\"tom\">");
	assert_non_null(sophie);
	assert_non_null(tom);
	assert_true(sophie < tom);
	assert_null(strstr(r.body, "value=\"marc\""));
	/* No colleague, or an unknown one: asked again, nothing changes. */
	request(f, path, "to=nobody", NULL, &r);
	assert_int_equal(r.status, 400);
	request(f, path, "to=sophie", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "Handed over to Sophie Dubois.");
	get_promise(f, id, &p);
	assert_string_equal(p.owner, "sophie");
	assert_string_equal(p.team, "sales");
	promise_clear(&p);

	/* Snooze at 17:45 on a Tuesday: 18:15 is closed, so until the
	 * next opening, Wednesday 08:00 (07:00Z). */
	f->now = brussels(2026, 12, 1, 17, 45);
	new_token(f, id, ACTION_SNOOZE, "sophie", f->now + HOUR, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	request(f, path, NULL, NULL, &r);
	assert_contains(r.body, "<html lang=\"fr\">");
	assert_contains(r.body, "2026-12-02 08:00");
	request(f, path, "", NULL, &r);
	assert_int_equal(r.status, 200);
	get_promise(f, id, &p);
	assert_int_equal(p.snoozed_until, brussels(2026, 12, 2, 8, 0));
	promise_clear(&p);

	/* At 10:00 the 30 minutes stand. */
	f->now = brussels(2026, 12, 2, 10, 0);
	new_token(f, id, ACTION_SNOOZE, "sophie", f->now + HOUR, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	request(f, path, "", NULL, &r);
	get_promise(f, id, &p);
	assert_int_equal(p.snoozed_until, f->now + 1800);
	promise_clear(&p);

	/* Unreachable: attempts are counted in the timeline. */
	new_token(f, id, ACTION_UNREACHABLE, "sophie", f->now + HOUR, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	request(f, path, "", NULL, &r);
	assert_contains(r.body, "tentative 1");
	new_token(f, id, ACTION_UNREACHABLE, "sophie", f->now + HOUR, tok);
	snprintf(path, sizeof(path), "/a/%s", tok);
	request(f, path, "", NULL, &r);
	assert_contains(r.body, "tentative 2");
	assert_int_equal(count_events(f, id, EVENT_NOTE,
				      "customer unreachable (attempt 2)",
				      "link:sophie"), 1);
	get_promise(f, id, &p);
	assert_int_equal(p.state, PROMISE_OPEN);
	promise_clear(&p);
}

/* Queues one notification of promise id to recipient; returns its id. */
static int64_t
queue_notification(struct fx *f, int64_t id, const char *recipient,
		   const char *key)
{
	struct notification n, *out = NULL;
	struct store_fire fire = { .notifs = &n, .nnotifs = 1,
				   .fired_through = f->now,
				   .kind = EVENT_REMINDED };
	size_t cnt = 0;
	int64_t nid;

	memset(&n, 0, sizeof(n));
	n.step = (char *)"remind";
	n.channel = (char *)"sms";
	n.recipient = (char *)recipient;
	n.subject = (char *)"reminder";
	n.body = (char *)"text";
	n.idem_key = (char *)key;
	n.scheduled_at = f->now;
	n.next_try_at = f->now;
	assert_int_equal(store_fire(f->st, id, &fire, f->now, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_list(f->st, -1, id, 1, &out, &cnt,
					   f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(cnt, 1);
	nid = out[0].id;
	notification_free_array(out, cnt);
	return nid;
}

/* POSTs a Twilio-style SMS from phone with text; signed when sign. */
static void
post_sms(struct fx *f, const char *phone, const char *text, int sign,
	 struct resp *r)
{
	char url[128], body[512], sig[128], hdr[200], ephone[64], etext[128];
	const char *kv[] = { "From", phone, "To", "+3225550100", "Body", text,
			     "MessageSid", "SM0001" };
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	char *e1 = curl_easy_escape(c, phone, 0), *e2 = curl_easy_escape(c,
								text, 0);

	snprintf(ephone, sizeof(ephone), "%s", e1);
	snprintf(etext, sizeof(etext), "%s", e2);
	curl_free(e1);
	curl_free(e2);
	curl_easy_cleanup(c);
	snprintf(url, sizeof(url), "%s/hooks/sms", f->base);
	snprintf(body, sizeof(body), "From=%s&To=%%2B3225550100&Body=%s"
		 "&MessageSid=SM0001", ephone, etext);
	if (sign) {
		twilio_sig(url, kv, 8, sig, sizeof(sig));
		snprintf(hdr, sizeof(hdr), "X-Twilio-Signature: %s", sig);
		h = curl_slist_append(h, hdr);
	}
	request(f, "/hooks/sms", body, h, r);
	curl_slist_free_all(h);
}

static void
test_sms_flow(void **state)
{
	struct fx *f = *state;
	char text[64], url[128];
	struct promise p;
	struct resp r;
	int64_t id = add_promise(f, "Call back Mr Peeters", "marc",
				 f->now + 4 * HOUR);
	int64_t nid = queue_notification(f, id, "marc", "n1");
	int code = action_short_code(nid);

	start_server(f);
	snprintf(url, sizeof(url), "%s/hooks/sms", f->base);
	f->o.sms_url = url;
	snprintf(text, sizeof(text), "DONE %d", code);

	/* No signature: 403 and nothing happens. */
	post_sms(f, "+32470100201", text, 0, &r);
	assert_int_equal(r.status, 403);
	get_promise(f, id, &p);
	assert_int_equal(p.state, PROMISE_OPEN);
	promise_clear(&p);

	/* From another staff member's phone: not theirs to act on. */
	post_sms(f, "+32470100202", text, 1, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.headers, "text/xml");
	assert_contains(r.body, "<Response><Message>");
	/* Sophie's phone: the code is none of hers (told in French). */
	assert_contains(r.body, "ne correspond");
	get_promise(f, id, &p);
	assert_int_equal(p.state, PROMISE_OPEN);
	promise_clear(&p);

	/* Garbage from the right phone: help, in Dutch. */
	post_sms(f, "+32470100201", "wat?", 1, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "KLAAR 1234");

	/* STOP: acknowledged without a message. */
	post_sms(f, "+32470100201", "STOP", 1, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "<Response></Response>");

	/* The recipient's own phone, signed: closed. */
	post_sms(f, "+32470100201", text, 1, &r);
	assert_int_equal(r.status, 200);
	assert_contains(r.body, "Gemarkeerd als afgehandeld.");
	get_promise(f, id, &p);
	assert_int_equal(p.state, PROMISE_CLOSED);
	assert_string_equal(p.closed_by, "sms:marc");
	promise_clear(&p);
}

static void
test_sms_standard_json(void **state)
{
	struct fx *f = *state;
	char body[200], ts[32], sig[128], h1[200], h2[64], h3[64];
	const char *args[4];
	struct curl_slist *h = NULL;
	struct promise p;
	struct resp r;
	int64_t id = add_promise(f, "Check the tyres", "sophie",
				 f->now + 4 * HOUR);
	int64_t nid = queue_notification(f, id, "sophie", "n2");

	f->o.sms_provider = ACTION_SMS_STANDARD;
	f->o.sms_secret = WH_SECRET;
	f->o.sms_from_field = "from";
	f->o.sms_text_field = "text";
	start_server(f);
	snprintf(body, sizeof(body), "{\"from\":\"+32 470 10 02 02\","
		 "\"text\":\"snooze %d 2h\"}", action_short_code(nid));
	snprintf(ts, sizeof(ts), "%lld", (long long)f->now);
	args[0] = WH_SECRET;
	args[1] = "msg_1";
	args[2] = ts;
	args[3] = body;
	python(sig, sizeof(sig), standard_py, args, 4);
	snprintf(h1, sizeof(h1), "webhook-signature: %s", sig);
	snprintf(h2, sizeof(h2), "webhook-id: msg_1");
	snprintf(h3, sizeof(h3), "webhook-timestamp: %s", ts);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, h2);
	h = curl_slist_append(h, h3);
	/* Without the signature header: refused. */
	request(f, "/hooks/sms", body, h, &r);
	assert_int_equal(r.status, 403);
	h = curl_slist_append(h, h1);
	request(f, "/hooks/sms", body, h, &r);
	curl_slist_free_all(h);
	assert_int_equal(r.status, 200);
	assert_contains(r.headers, "application/json");
	assert_contains(r.body, "{\"reply\":");
	get_promise(f, id, &p);
	assert_int_equal(p.snoozed_until, f->now + 2 * HOUR);
	promise_clear(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_token_tampered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_token_expired, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation, setup,
						teardown),
		cmocka_unit_test(test_short_code),
		cmocka_unit_test(test_sms_parse),
		cmocka_unit_test(test_twilio_signature),
		cmocka_unit_test_setup_teardown(test_standard_signature, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_done, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_page_handover_snooze_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_flow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sms_standard_json, setup,
						teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
