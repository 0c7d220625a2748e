/*
 * test_config: the shipped example loads cleanly with the right values, and
 * every kind of mistake is reported with its exact file:line:column.  The
 * expected positions were counted by hand in tests/data/config/.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/config.h"
#include "promised/util.h"

static char *
data_path(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("PROMISED_TEST_DATA");

	snprintf(buf, len, "%s/config/%s", dir != NULL ? dir : "tests/data",
		 name);
	return buf;
}

/* Loads fixture name and checks it fails with exactly the expected
 * "LINE:COLUMN: message" lines, in order. */
static void
expect_errors(const char *name, const char *const *want, size_t n)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	char path[PATH_MAX], line[PATH_MAX + 1024];
	size_t i;

	data_path(name, path, sizeof(path));
	cfg = config_load(path, &errs);
	for (i = 0; i < errs.n; i++)
		print_message("%s\n", errs.msg[i]);
	assert_null(cfg);
	assert_int_equal(errs.n, n);
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s:%s", path, want[i]);
		assert_string_equal(errs.msg[i], line);
	}
	config_errors_clear(&errs);
	assert_int_equal(errs.n, 0);
}

#define EXPECT(name, ...) do { \
	static const char *const w_[] = { __VA_ARGS__ }; \
	expect_errors(name, w_, sizeof(w_) / sizeof(*w_)); \
} while (0)

static struct config *
load_ok(const char *path)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	for (i = 0; i < errs.n; i++)
		print_message("%s\n", errs.msg[i]);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	config_errors_clear(&errs);
	return cfg;
}

static void
check_example_sites(const struct config *cfg)
{
	const struct cal_site *s = config_site(cfg, "leuven");
	size_t i;

	assert_non_null(s);
	assert_string_equal(cfg->default_site, "leuven");
	assert_string_equal(s->tz, "Europe/Brussels");
	/* Monday 08:00-12:00 and 13:00-18:00, in minutes after midnight. */
	assert_int_equal(s->nranges[0], 2);
	assert_int_equal(s->hours[0][0].open, 8 * 60);
	assert_int_equal(s->hours[0][0].close, 12 * 60);
	assert_int_equal(s->hours[0][1].open, 13 * 60);
	assert_int_equal(s->hours[0][1].close, 18 * 60);
	assert_int_equal(s->nranges[4], 2);
	assert_int_equal(s->nranges[5], 1);
	assert_int_equal(s->hours[5][0].open, 9 * 60);
	assert_int_equal(s->hours[5][0].close, 12 * 60);
	assert_int_equal(s->nranges[6], 0);
	/* Ten Belgian public holidays a year for 2026 and 2027, sorted. */
	assert_int_equal(s->nholidays, 20);
	assert_true(s->holidays[0] == util_days_from_civil(2026, 1, 1));
	assert_true(s->holidays[1] == util_days_from_civil(2026, 4, 6));
	assert_true(s->holidays[19] == util_days_from_civil(2027, 12, 25));
	for (i = 1; i < s->nholidays; i++)
		assert_true(s->holidays[i - 1] < s->holidays[i]);
}

static void
check_example_people(const struct config *cfg)
{
	const struct cfg_staff *st = config_staff(cfg, "sophie");
	const struct cfg_team *t = config_team(cfg, "service");

	assert_int_equal(cfg->nstaff, 6);
	assert_non_null(st);
	assert_string_equal(st->manager, "marc");
	assert_string_equal(st->team, "sales");
	assert_string_equal(st->locale, "fr");
	assert_string_equal(st->phone, "+32470100202");
	assert_string_equal(st->email, "sophie.dubois@example.com");
	assert_null(config_staff(cfg, "an")->manager);
	assert_null(config_staff(cfg, "nobody"));
	assert_int_equal(cfg->nteams, 3);
	assert_non_null(t);
	assert_string_equal(t->lead, "tom");
	assert_string_equal(t->site, "leuven");
	assert_string_equal(t->policy, "default");
	assert_null(config_team(cfg, "parts")->policy);
}

static void
check_example_policy(const struct config *cfg)
{
	const struct sched_policy *p = config_policy(cfg, "default");
	const struct sched_step *s;

	assert_string_equal(cfg->default_policy, "default");
	assert_non_null(p);
	assert_int_equal(p->nsteps, 4);
	s = &p->steps[0];
	assert_string_equal(s->name, "reminder");
	assert_int_equal(s->anchor, SCHED_ANCHOR_TARGET);
	assert_true(s->offset == -2 * 3600);
	assert_int_equal(s->hours, SCHED_HOURS_BUSINESS);
	assert_int_equal(s->until, SCHED_UNTIL_ACK);
	assert_int_equal(s->nrecipients, 1);
	assert_string_equal(s->recipients[0], "owner");
	s = &p->steps[1];
	assert_string_equal(s->name, "last-call");
	assert_int_equal(s->anchor, SCHED_ANCHOR_DUE);
	assert_true(s->offset == -15 * 60);
	assert_int_equal(s->until, SCHED_UNTIL_DEFAULT);
	assert_string_equal(s->channels[0], "mail");
	s = &p->steps[2];
	assert_true(s->offset == 0);
	assert_int_equal(s->nrecipients, 2);
	assert_string_equal(s->recipients[1], "owner.manager");
	s = &p->steps[3];
	assert_string_equal(s->name, "escalation");
	assert_true(s->offset == 3600);
	assert_true(s->repeat_every == 30 * 60);
	assert_int_equal(s->repeat_max, 4);
	assert_int_equal(s->until, SCHED_UNTIL_CLOSE);
	assert_int_equal(s->hours, SCHED_HOURS_ANY);
	assert_int_equal(s->nchannels, 2);
	assert_string_equal(s->channels[1], "log");
}

static void
test_example_loads(void **state)
{
	const char *src = getenv("PROMISED_SOURCE_DIR");
	char path[PATH_MAX];
	struct config *cfg;
	const struct cfg_channel *ch;
	size_t ndef;

	(void)state;
	snprintf(path, sizeof(path), "%s/config/promised.yaml",
		 src != NULL ? src : ".");
	cfg = load_ok(path);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->database, "/var/lib/promised/promised.db");
	assert_true(cfg->daemon.safety_sweep == 0);
	check_example_sites(cfg);
	check_example_people(cfg);
	check_example_policy(cfg);
	/* The maildir is in the state folder, the one place the sandboxed
	 * service may write. */
	ch = config_channel(cfg, "mail");
	assert_non_null(ch);
	assert_int_equal(ch->type, CFG_CHANNEL_MAILDIR);
	assert_string_equal(ch->path, "/var/lib/promised/maildir");
	ch = config_channel(cfg, "log");
	assert_int_equal(ch->type, CFG_CHANNEL_LOG);
	assert_null(ch->path);
	assert_null(config_channel(cfg, "sms"));
	/* Three phrases of the file come after the shipped ones. */
	phrase_defaults(&ndef);
	assert_int_equal(cfg->nphrases, ndef + 3);
	assert_string_equal(cfg->phrases[ndef].text, "after lunch");
	assert_int_equal(cfg->phrases[ndef].day, PHRASE_DAY_THIS_BUSINESS_DAY);
	assert_int_equal(cfg->phrases[ndef].time, PHRASE_TIME_AT);
	assert_int_equal(cfg->phrases[ndef].minute, 13 * 60 + 30);
	assert_string_equal(cfg->phrases[ndef + 2].locale, "fr");
	config_free(cfg);
}

/* A file phrase with a shipped text and locale replaces the default; a
 * new one is appended; a relative database is taken from the file's
 * folder; an absent section keeps its default. */
static void
test_phrase_override_and_defaults(void **state)
{
	const struct phrase_rule *def;
	struct config *cfg;
	char path[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 32];
	size_t ndef, i, tonight = SIZE_MAX;

	(void)state;
	def = phrase_defaults(&ndef);
	for (i = 0; i < ndef; i++)
		if (strcmp(def[i].text, "tonight") == 0 &&
		    strcmp(def[i].locale, "en") == 0)
			tonight = i;
	assert_true(tonight != SIZE_MAX);
	cfg = load_ok(data_path("phrases_override.yaml", path, sizeof(path)));
	assert_int_equal(cfg->nphrases, ndef + 1);
	assert_string_equal(cfg->phrases[tonight].text, "tonight");
	assert_int_equal(cfg->phrases[tonight].day, PHRASE_DAY_TODAY);
	assert_int_equal(cfg->phrases[tonight].time, PHRASE_TIME_AT);
	assert_int_equal(cfg->phrases[tonight].minute, 21 * 60);
	assert_string_equal(cfg->phrases[ndef].text, "before closing");
	assert_string_equal(cfg->phrases[ndef].locale, "en");
	assert_int_equal(cfg->phrases[ndef].time, PHRASE_TIME_CLOSING);
	assert_non_null(realpath(data_path("", dir, sizeof(dir)), dir));
	snprintf(want, sizeof(want), "%s/state/promised.db", dir);
	assert_string_equal(cfg->database, want);
	assert_int_equal(cfg->nsites, 0);
	assert_null(cfg->default_site);
	assert_null(cfg->default_policy);
	config_free(cfg);
}

static void
test_empty_file_gives_defaults(void **state)
{
	struct config *cfg;
	char path[PATH_MAX];
	size_t ndef;

	(void)state;
	cfg = load_ok(data_path("empty.yaml", path, sizeof(path)));
	phrase_defaults(&ndef);
	assert_string_equal(cfg->database, "/var/lib/promised/promised.db");
	assert_int_equal(cfg->nphrases, ndef);
	assert_int_equal(cfg->nstaff, 0);
	assert_true(cfg->daemon.safety_sweep == 0);
	config_free(cfg);
}

static void
test_syntax_error(void **state)
{
	(void)state;
	EXPECT("syntax.yaml",
	       "2:12: YAML syntax error: mapping values are not allowed in this "
	       "context");
}

static void
test_unknown_key(void **state)
{
	(void)state;
	EXPECT("unknown_key.yaml",
	       "6:5: unknown key 'holliday'; did you mean 'holidays'?");
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	EXPECT("duplicate_key.yaml", "4:5: duplicate key 'timezone'");
}

static void
test_wrong_type(void **state)
{
	(void)state;
	EXPECT("wrong_type.yaml",
	       "4:7: timezone: expected a string, found a mapping",
	       "8:3: staff: expected a list, found a mapping");
}

static void
test_out_of_range(void **state)
{
	(void)state;
	EXPECT("out_of_range.yaml",
	       "5:26: time range '13:00-25:00' is out of range (00:00 to 24:00)",
	       "7:17: safety_sweep '10s' is out of range: 0 (off) or at least "
	       "60s, at most once a minute");
}

static void
test_bad_timezone(void **state)
{
	(void)state;
	EXPECT("bad_timezone.yaml", "3:15: unknown time zone 'Europe/Brusels'");
}

static void
test_bad_date(void **state)
{
	(void)state;
	EXPECT("bad_date.yaml",
	       "8:9: invalid date '2026-02-30' (expected YYYY-MM-DD)");
}

static void
test_dangling_manager(void **state)
{
	(void)state;
	EXPECT("dangling_manager.yaml",
	       "5:14: manager 'ann' is not on staff; did you mean 'an'?");
}

static void
test_team_without_lead(void **state)
{
	(void)state;
	EXPECT("team_no_lead.yaml", "8:5: sales: missing required key 'lead'");
}

static void
test_team_unknown_site(void **state)
{
	(void)state;
	EXPECT("team_unknown_site.yaml", "11:11: unknown site 'leuven'");
}

static void
test_policy_unknown_channel(void **state)
{
	(void)state;
	EXPECT("policy_unknown_channel.yaml",
	       "9:18: unknown channel 'mial'; did you mean 'mail'?",
	       "9:24: unknown channel 'sms'");
}

static void
test_duplicate_staff(void **state)
{
	(void)state;
	EXPECT("duplicate_staff.yaml", "5:9: duplicate staff id 'an'");
}

/* "+12345678" (8 digits, the shortest E.164 accepted) is not reported. */
static void
test_bad_phone(void **state)
{
	(void)state;
	EXPECT("bad_phone.yaml",
	       "3:12: invalid phone '0470 12 34 56' (expected E.164: + then 8 "
	       "to 15 digits)",
	       "5:12: invalid phone '+1234567' (expected E.164: + then 8 to 15 "
	       "digits)");
}

static void
test_bad_email(void **state)
{
	(void)state;
	EXPECT("bad_email.yaml",
	       "3:12: invalid email 'an.example.com' (expected name@domain.tld)",
	       "5:12: invalid email 'marc@example' (expected name@domain.tld)");
}

static void
test_bad_locale(void **state)
{
	(void)state;
	EXPECT("bad_locale.yaml",
	       "3:13: invalid locale 'de' (expected en, nl or fr)");
}

/* Errors of every section at once, sorted by position, references too. */
static void
test_all_errors_reported(void **state)
{
	(void)state;
	EXPECT("multiple.yaml",
	       "2:1: unknown key 'colour'",
	       "5:15: unknown time zone 'Mars/Olympus'",
	       "7:12: time range '12:00-08:00' must open before it closes",
	       "8:7: unknown key 'funday'",
	       "11:14: staff 'an' cannot be their own manager",
	       "12:13: invalid locale 'EN' (expected en, nl or fr)",
	       "15:11: lead 'nobody' is not on staff",
	       "17:13: unknown policy 'fast'",
	       "21:19: unknown team 'salse'; did you mean 'sales'?",
	       "23:23: every '0' is out of range (a duration above 0)",
	       "23:31: max '200' is out of range (1 to 100)",
	       "24:14: invalid until 'never' (expected ack or close)",
	       "27:5: channel 'log': missing required key 'url'",
	       "27:5: channel 'log': missing required key 'from'");
}

/* ---- channels ---------------------------------------------------------- */

/* The folder of the fixtures, absolute, as relative paths resolve. */
static void
fixture_dir(char *buf)
{
	char rel[PATH_MAX];

	assert_non_null(realpath(data_path("", rel, sizeof(rel)), buf));
}

static void
check_retry(const struct cfg_retry *r, int64_t base, double factor,
	    int64_t cap, int64_t max_age)
{
	assert_true(r->base == base);
	assert_true(r->factor == factor);
	assert_true(r->cap == cap);
	assert_true(r->max_age == max_age);
}

static void
check_smtp_channels(const struct config *cfg, const char *dir)
{
	const struct cfg_channel *ch = config_channel(cfg, "mail");
	char want[PATH_MAX + 64];

	assert_non_null(ch);
	assert_int_equal(ch->type, CFG_CHANNEL_SMTP);
	assert_string_equal(ch->smtp.url, "smtp://mail.example.com:587");
	assert_string_equal(ch->smtp.host, "mail.example.com");
	assert_int_equal(ch->smtp.port, 587);
	assert_int_equal(ch->smtp.tls, CFG_SMTP_STARTTLS_REQUIRED);
	assert_string_equal(ch->smtp.username, "promised@example.com");
	snprintf(want, sizeof(want), "%s/secrets/smtp-password", dir);
	assert_string_equal(ch->smtp.password_file, want);
	assert_string_equal(ch->smtp.from, "Garage Peeters <promised@example.com>");
	assert_string_equal(ch->smtp.from_name, "Garage Peeters");
	assert_string_equal(ch->smtp.from_addr, "promised@example.com");
	assert_string_equal(ch->smtp.reply_to, "service@example.com");
	assert_int_equal(ch->concurrency, 3);
	assert_true(ch->connect_timeout == 10);
	assert_true(ch->timeout == 60);
	assert_string_equal(ch->ca_file, "/etc/ssl/test-ca.pem");
	/* base and cap from the channel, factor and max_age from outbox. */
	check_retry(&ch->retry, 10, 3.0, 5 * 60, 2 * 86400);

	ch = config_channel(cfg, "secure");
	assert_int_equal(ch->smtp.tls, CFG_SMTP_IMPLICIT_TLS);
	assert_string_equal(ch->smtp.host, "[::1]");
	assert_int_equal(ch->smtp.port, 465);
	assert_string_equal(ch->smtp.from_name, "Peeters, Garage");
	assert_string_equal(ch->smtp.from_addr, "alerts@example.com");
	assert_null(ch->smtp.username);
	assert_null(ch->smtp.password_file);
	assert_null(ch->smtp.reply_to);
	assert_null(ch->ca_file);
	assert_int_equal(ch->concurrency, 2);
	check_retry(&ch->retry, 60, 3.0, 2 * 3600, 2 * 86400);
}

static void
check_webhook_channels(const struct config *cfg, const char *dir)
{
	const struct cfg_channel *ch = config_channel(cfg, "sms");
	const struct cfg_webhook *w = &ch->webhook;
	char want[PATH_MAX + 64];

	assert_int_equal(ch->type, CFG_CHANNEL_WEBHOOK);
	assert_string_equal(w->url,
			    "https://sms.example.com/api/v1/messages?source=promised");
	assert_int_equal(w->method, CFG_HTTP_PUT);
	assert_int_equal(w->nheaders, 2);
	assert_string_equal(w->headers[0].name, "X-Tenant");
	assert_string_equal(w->headers[0].value, "garage-peeters");
	assert_string_equal(w->headers[1].name, "Accept");
	assert_string_equal(w->body,
			    "{\"to\": \"{{recipient_phone}}\", \"text\": \"{{text}}\"}");
	assert_string_equal(w->content_type, "application/json");
	assert_int_equal(w->auth, CFG_AUTH_BEARER);
	assert_null(w->auth_username);
	assert_string_equal(w->auth_secret_file, "/run/keys/sms-token");
	assert_int_equal(w->signing, CFG_SIGNING_STANDARD_WEBHOOKS);
	snprintf(want, sizeof(want), "%s/whsec", dir);
	assert_string_equal(w->signing_secret_file, want);
	assert_true(ch->connect_timeout == 5);
	assert_true(ch->timeout == 20);
	assert_true(w->max_response == 8192);
	assert_int_equal(ch->concurrency, 64);

	ch = config_channel(cfg, "form");
	w = &ch->webhook;
	assert_int_equal(w->method, CFG_HTTP_POST);
	assert_int_equal(w->nheaders, 0);
	assert_string_equal(w->content_type, "application/x-www-form-urlencoded");
	assert_int_equal(w->auth, CFG_AUTH_BASIC);
	assert_string_equal(w->auth_username, "ACXXXXXXXX");
	snprintf(want, sizeof(want), "%s/twilio-token", dir);
	assert_string_equal(w->auth_secret_file, want);
	assert_int_equal(w->signing, CFG_SIGNING_NONE);
	assert_null(w->signing_secret_file);
	assert_true(w->max_response == 64 * 1024);
	assert_int_equal(ch->concurrency, 4);
	assert_true(ch->connect_timeout == 10 && ch->timeout == 60);
	check_retry(&ch->retry, 60, 1.5, 2 * 3600, 3600);
}

static void
test_channels_load(void **state)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct config *cfg;
	const struct cfg_channel *ch;

	(void)state;
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	fixture_dir(dir);
	cfg = load_ok(data_path("channels_ok.yaml", path, sizeof(path)));
	assert_int_equal(cfg->nchannels, 5);
	check_retry(&cfg->outbox, 60, 3.0, 2 * 3600, 2 * 86400);
	check_smtp_channels(cfg, dir);
	check_webhook_channels(cfg, dir);
	ch = config_channel(cfg, "log");
	assert_int_equal(ch->type, CFG_CHANNEL_LOG);
	check_retry(&ch->retry, 60, 3.0, 2 * 3600, 2 * 86400);
	config_free(cfg);
}

/* With systemd's LoadCredential=, a relative secret name that exists in
 * $CREDENTIALS_DIRECTORY is taken from there; the others stay next to
 * the config. */
static void
test_channels_credentials_directory(void **state)
{
	char cred[] = "/tmp/promised-cred-XXXXXX";
	char path[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 64];
	struct config *cfg;
	FILE *fp;

	(void)state;
	fixture_dir(dir);
	assert_non_null(mkdtemp(cred));
	snprintf(want, sizeof(want), "%s/whsec", cred);
	fp = fopen(want, "w");
	assert_non_null(fp);
	fputs("whsec_c2VjcmV0\n", fp);
	fclose(fp);
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", cred, 1), 0);
	cfg = load_ok(data_path("channels_ok.yaml", path, sizeof(path)));
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	assert_string_equal(config_channel(cfg, "sms")->webhook.signing_secret_file,
			    want);
	snprintf(want, sizeof(want), "%s/twilio-token", dir);
	assert_string_equal(config_channel(cfg, "form")->webhook.auth_secret_file,
			    want);
	config_free(cfg);
	snprintf(want, sizeof(want), "%s/whsec", cred);
	assert_int_equal(unlink(want), 0);
	assert_int_equal(rmdir(cred), 0);
}

/* Without an outbox section every channel gets 30s x2 up to 1h, for 24h. */
static void
test_retry_defaults(void **state)
{
	const char *src = getenv("PROMISED_SOURCE_DIR");
	char path[PATH_MAX];
	struct config *cfg;
	size_t i;

	(void)state;
	cfg = load_ok(data_path("empty.yaml", path, sizeof(path)));
	check_retry(&cfg->outbox, 30, 2.0, 3600, 86400);
	config_free(cfg);
	snprintf(path, sizeof(path), "%s/config/promised.yaml",
		 src != NULL ? src : ".");
	cfg = load_ok(path);
	assert_int_equal(cfg->nchannels, 2);
	for (i = 0; i < cfg->nchannels; i++)
		check_retry(&cfg->channels[i].retry, 30, 2.0, 3600, 86400);
	config_free(cfg);
}

static void
test_smtp_bad_scheme(void **state)
{
	(void)state;
	EXPECT("smtp_bad_scheme.yaml",
	       "4:10: invalid url 'http://mail.example.com' (expected "
	       "smtp://host[:port] or smtps://host[:port])");
}

static void
test_smtp_missing_from(void **state)
{
	(void)state;
	EXPECT("smtp_no_from.yaml",
	       "3:5: channel 'mail': missing required key 'from'");
}

static void
test_smtp_key_of_another_type(void **state)
{
	(void)state;
	EXPECT("smtp_body.yaml",
	       "6:5: 'body' is not valid for a channel of type smtp",
	       "7:5: unknown key 'frm'; did you mean 'from'?");
}

/* A password only ever travels over TLS; smtps:// has no STARTTLS. */
static void
test_smtp_tls_and_credentials(void **state)
{
	(void)state;
	EXPECT("smtp_tls.yaml",
	       "5:15: starttls 'never' could send the password in clear text "
	       "(use required, or smtps://)",
	       "12:15: starttls does not apply to smtps:// (TLS from the first "
	       "byte)",
	       "15:5: channel 'half': 'password_file' needs 'username'",
	       "18:11: invalid from 'Promised <promised@example>' (expected "
	       "name@domain.tld or Name <name@domain.tld>)");
}

static void
test_webhook_bad_header_name(void **state)
{
	(void)state;
	EXPECT("webhook_bad_header.yaml",
	       "7:7: invalid header name 'X Tenant' (expected letters, digits "
	       "and !#$%&'*+-.^_`|~)");
}

static void
test_webhook_header_cr(void **state)
{
	(void)state;
	EXPECT("webhook_header_cr.yaml",
	       "7:15: header 'X-Note' value contains CR, LF or another control "
	       "character");
}

static void
test_webhook_unknown_auth_type(void **state)
{
	(void)state;
	EXPECT("webhook_auth_type.yaml",
	       "7:13: invalid type 'digest' (expected bearer or basic)");
}

static void
test_webhook_misc_errors(void **state)
{
	(void)state;
	EXPECT("webhook_misc.yaml",
	       "3:5: channel 'hook': missing required key 'body'",
	       "4:10: invalid url 'ftp://example.com/x' (expected http:// or "
	       "https://, a host[:port] and an optional path)",
	       "5:13: invalid method 'GET' (expected POST or PUT)",
	       "6:18: concurrency '65' is out of range (1 to 64)",
	       "7:19: max_response '100' is out of range (1KiB to 64MiB; bytes, "
	       "or a number with KiB or MiB)",
	       "9:7: header 'Authorization' would put a secret in the config; "
	       "use 'auth'",
	       "11:7: duplicate header 'X-Tenant'",
	       "13:7: signing: missing required key 'secret_file'",
	       "15:7: auth: missing required key 'username'",
	       "15:7: auth: missing required key 'password_file'",
	       "16:7: 'token_file' is not valid for auth of type basic");
}

static void
test_channel_type_errors(void **state)
{
	(void)state;
	EXPECT("channel_type.yaml",
	       "3:11: invalid type 'sms' (expected log, maildir, smtp or "
	       "webhook)",
	       "5:5: channel 'b': missing required key 'type'");
}

static void
test_retry_factor_out_of_range(void **state)
{
	(void)state;
	EXPECT("retry_factor.yaml",
	       "2:11: factor '12' is out of range (a number from 1.0 to 10.0)",
	       "7:15: factor '0.5' is out of range (a number from 1.0 to 10.0)",
	       "8:7: unknown key 'bsae'; did you mean 'base'?");
}

/* cap below base, in one mapping, and between a channel's base and the
 * outbox's cap (reported where the channel set its base). */
static void
test_retry_cap_below_base(void **state)
{
	(void)state;
	EXPECT("retry_cap.yaml",
	       "6:28: retry cap 30s is less than base 1m",
	       "10:13: retry cap 2m is less than base 5m");
}

/* Each shipped preset, pasted under a minimal config, loads cleanly. */
static void
load_preset(const char *name, const char *channel, enum cfg_auth_type auth)
{
	static const char head[] =
		"sites:\n"
		"  main:\n"
		"    timezone: Europe/Brussels\n"
		"    hours:\n"
		"      mon: [08:00-17:00]\n"
		"staff:\n"
		"  - id: an\n"
		"    phone: \"+32470100100\"\n";
	const char *src = getenv("PROMISED_SOURCE_DIR");
	char preset[PATH_MAX], tmp[] = "/tmp/promised-preset-XXXXXX";
	char buf[4096];
	struct config *cfg;
	const struct cfg_channel *ch;
	FILE *in, *out;
	size_t n;
	int fd;

	snprintf(preset, sizeof(preset), "%s/config/presets/%s",
		 src != NULL ? src : ".", name);
	in = fopen(preset, "r");
	assert_non_null(in);
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	out = fdopen(fd, "w");
	assert_non_null(out);
	fputs(head, out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	cfg = load_ok(tmp);
	assert_int_equal(unlink(tmp), 0);
	assert_int_equal(cfg->nchannels, 1);
	ch = config_channel(cfg, channel);
	assert_non_null(ch);
	assert_int_equal(ch->type, CFG_CHANNEL_WEBHOOK);
	assert_int_equal(ch->webhook.auth, auth);
	assert_non_null(strstr(ch->webhook.body, "{{recipient_phone}}"));
	assert_non_null(strstr(ch->webhook.body, "{{text}}"));
	config_free(cfg);
}

/* Writes text to a new temporary file; its path into path. */
static void
write_tmp(char *path, size_t len, const char *text)
{
	FILE *f;
	int fd;

	snprintf(path, len, "/tmp/promised-fp.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* The fingerprint is of the bytes loaded: the same text gives the same
 * one, a changed byte (even in a comment) another. */
static void
test_fingerprint(void **state)
{
	char p1[64], p2[64], p3[64], a[CONFIG_FINGERPRINT_LEN],
	     b[CONFIG_FINGERPRINT_LEN], c[CONFIG_FINGERPRINT_LEN];
	const char *text = "default_site: s\nsites:\n  s:\n"
			   "    timezone: UTC\n    hours:\n"
			   "      mon: 08:00-18:00\n";
	struct config *x, *y, *z;
	char more[256];
	size_t i;

	(void)state;
	snprintf(more, sizeof(more), "%s# changed\n", text);
	write_tmp(p1, sizeof(p1), text);
	write_tmp(p2, sizeof(p2), text);
	write_tmp(p3, sizeof(p3), more);
	x = load_ok(p1);
	y = load_ok(p2);
	z = load_ok(p3);
	assert_int_equal(config_fingerprint(x, a, sizeof(a)), 0);
	assert_int_equal(config_fingerprint(y, b, sizeof(b)), 0);
	assert_int_equal(config_fingerprint(z, c, sizeof(c)), 0);
	assert_int_equal(strlen(a), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* No room for it: refused, not cut. */
	assert_int_equal(config_fingerprint(x, a, 10), -1);
	config_free(x);
	config_free(y);
	config_free(z);
	assert_int_equal(unlink(p1), 0);
	assert_int_equal(unlink(p2), 0);
	assert_int_equal(unlink(p3), 0);
}

static void
test_presets_load(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	load_preset("sms-json-gateway.yaml", "sms", CFG_AUTH_BEARER);
	load_preset("twilio.yaml", "twilio", CFG_AUTH_BASIC);
}

static void
test_missing_file(void **state)
{
	struct config_errors errs = { 0 };
	char path[PATH_MAX], want[PATH_MAX + 64];

	(void)state;
	data_path("no-such-file.yaml", path, sizeof(path));
	assert_null(config_load(path, &errs));
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
		 path);
	assert_string_equal(errs.msg[0], want);
	config_errors_clear(&errs);
	config_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_phrase_override_and_defaults),
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_timezone),
		cmocka_unit_test(test_bad_date),
		cmocka_unit_test(test_dangling_manager),
		cmocka_unit_test(test_team_without_lead),
		cmocka_unit_test(test_team_unknown_site),
		cmocka_unit_test(test_policy_unknown_channel),
		cmocka_unit_test(test_duplicate_staff),
		cmocka_unit_test(test_bad_phone),
		cmocka_unit_test(test_bad_email),
		cmocka_unit_test(test_bad_locale),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_channels_load),
		cmocka_unit_test(test_channels_credentials_directory),
		cmocka_unit_test(test_retry_defaults),
		cmocka_unit_test(test_smtp_bad_scheme),
		cmocka_unit_test(test_smtp_missing_from),
		cmocka_unit_test(test_smtp_key_of_another_type),
		cmocka_unit_test(test_smtp_tls_and_credentials),
		cmocka_unit_test(test_webhook_bad_header_name),
		cmocka_unit_test(test_webhook_header_cr),
		cmocka_unit_test(test_webhook_unknown_auth_type),
		cmocka_unit_test(test_webhook_misc_errors),
		cmocka_unit_test(test_channel_type_errors),
		cmocka_unit_test(test_retry_factor_out_of_range),
		cmocka_unit_test(test_retry_cap_below_base),
		cmocka_unit_test(test_presets_load),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_fingerprint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
