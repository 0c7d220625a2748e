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
	char path[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 16];
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
	/* The maildir sits next to the config file. */
	ch = config_channel(cfg, "mail");
	assert_non_null(ch);
	assert_int_equal(ch->type, CFG_CHANNEL_MAILDIR);
	assert_non_null(realpath(src != NULL ? src : ".", dir));
	snprintf(want, sizeof(want), "%s/config/maildir", dir);
	assert_string_equal(ch->path, want);
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
	       "27:11: channel type 'smtp' is not supported yet");
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
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
