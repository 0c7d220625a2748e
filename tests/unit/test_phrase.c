/*
 * test_phrase: every shipped phrase in every locale on an ordinary
 * weekday, a Friday evening, the day before a holiday and the DST dates of
 * Brussels and New York; ISO-8601, relative and weekday forms; and the
 * malformed inputs a new user types.  Expected instants are built from
 * civil fields and the offset known to be in force (CET +1, CEST +2,
 * EST -5, EDT -4), never read from the program's output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promised/calendar.h"
#include "promised/phrase.h"
#include "promised/util.h"

#define CET 3600
#define CEST 7200
#define EST (-5 * 3600)
#define EDT (-4 * 3600)
#define PAST INT64_MIN     /* expected: "already past" */

static int64_t
at(int y, int m, int d, int h, int mi, int off)
{
	return util_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 - off;
}

static int64_t bru_holidays[1];

/* Brussels: Monday to Friday 08:00-18:00, Christmas 2026 (a Friday) off. */
static struct cal_site
bru(void)
{
	struct cal_site s;
	int d;

	memset(&s, 0, sizeof(s));
	s.id = (char *)"bru";
	s.tz = (char *)"Europe/Brussels";
	for (d = 0; d < 5; d++) {
		s.hours[d][0].open = 8 * 60;
		s.hours[d][0].close = 18 * 60;
		s.nranges[d] = 1;
	}
	bru_holidays[0] = util_days_from_civil(2026, 12, 25);
	s.holidays = bru_holidays;
	s.nholidays = 1;
	return s;
}

/* New York: Monday to Friday 09:00-17:00. */
static struct cal_site
nyc(void)
{
	struct cal_site s;
	int d;

	memset(&s, 0, sizeof(s));
	s.id = (char *)"nyc";
	s.tz = (char *)"America/New_York";
	for (d = 0; d < 5; d++) {
		s.hours[d][0].open = 9 * 60;
		s.hours[d][0].close = 17 * 60;
		s.nranges[d] = 1;
	}
	return s;
}

static int
parse(const char *in, int64_t now, const struct cal_site *s, int64_t *out,
      char *err, size_t errlen)
{
	size_t n;
	const struct phrase_rule *r = phrase_defaults(&n);

	err[0] = '\0';
	return phrase_parse_due(in, now, s, r, n, out, err, errlen);
}

/* ---- shipped phrases ------------------------------------------------------ */

enum { TONIGHT, TMORNING, TAFTERNOON, EOD, NBD, NMEANINGS };

/* Every text of each meaning: en, nl, fr, then the spellings people also
 * type (no accents, capitals, extra blanks). */
static const char *const texts[NMEANINGS][8] = {
	[TONIGHT] = { "tonight", "vanavond", "ce soir", "Tonight", "  CE   SOIR ",
		      NULL },
	[TMORNING] = { "tomorrow morning", "morgenvoormiddag", "demain matin",
		       "Tomorrow Morning", NULL },
	[TAFTERNOON] = { "tomorrow afternoon", "morgennamiddag",
			 "demain apr\xc3\xa8s-midi", "demain apres-midi",
			 "DEMAIN APR\xc3\x88S-MIDI",
			 "demain apr\xc3\xa8s-midi", NULL },
	[EOD] = { "end of day", "einde van de dag", "fin de journ\xc3\xa9" "e",
		  "fin de journee", "Einde van de dag", NULL },
	[NBD] = { "next business day", "volgende werkdag",
		  "prochain jour ouvrable", "Volgende Werkdag", NULL },
};

struct scenario {
	const char *what;
	int nyc;
	int64_t now;
	int64_t want[NMEANINGS];
};

static void
check_scenario(const struct scenario *sc)
{
	struct cal_site s = sc->nyc ? nyc() : bru();
	char err[512];
	int m, i;

	for (m = 0; m < NMEANINGS; m++) {
		for (i = 0; texts[m][i] != NULL; i++) {
			int64_t got = 0;
			int rc = parse(texts[m][i], sc->now, &s, &got, err,
				       sizeof(err));

			if (sc->want[m] == PAST) {
				if (rc != -1 || strstr(err, "is already past (") == NULL)
					fail_msg("%s: '%s' should be past, rc %d got "
						 "%lld err '%s'", sc->what, texts[m][i],
						 rc, (long long)got, err);
			} else if (rc != 0 || got != sc->want[m]) {
				fail_msg("%s: '%s' rc %d got %lld want %lld (%s)",
					 sc->what, texts[m][i], rc, (long long)got,
					 (long long)sc->want[m], err);
			}
		}
	}
}

static void
test_shipped_phrases(void **state)
{
	const struct scenario sc[] = {
		{ "weekday Wed 10:00", 0, at(2026, 12, 2, 10, 0, CET),
		  { at(2026, 12, 2, 20, 0, CET), at(2026, 12, 3, 12, 0, CET),
		    at(2026, 12, 3, 17, 0, CET), at(2026, 12, 2, 18, 0, CET),
		    at(2026, 12, 3, 18, 0, CET) } },
		{ "weekday Wed 21:00", 0, at(2026, 12, 2, 21, 0, CET),
		  { PAST, at(2026, 12, 3, 12, 0, CET), at(2026, 12, 3, 17, 0, CET),
		    PAST, at(2026, 12, 3, 18, 0, CET) } },
		{ "Friday 19:00", 0, at(2026, 12, 4, 19, 0, CET),
		  { at(2026, 12, 4, 20, 0, CET), at(2026, 12, 7, 12, 0, CET),
		    at(2026, 12, 7, 17, 0, CET), PAST,
		    at(2026, 12, 7, 18, 0, CET) } },
		{ "Saturday", 0, at(2026, 12, 5, 11, 0, CET),
		  { at(2026, 12, 5, 20, 0, CET), at(2026, 12, 7, 12, 0, CET),
		    at(2026, 12, 7, 17, 0, CET), at(2026, 12, 7, 18, 0, CET),
		    at(2026, 12, 7, 18, 0, CET) } },
		{ "Thursday before the Friday holiday", 0,
		  at(2026, 12, 24, 10, 0, CET),
		  { at(2026, 12, 24, 20, 0, CET), at(2026, 12, 28, 12, 0, CET),
		    at(2026, 12, 28, 17, 0, CET), at(2026, 12, 24, 18, 0, CET),
		    at(2026, 12, 28, 18, 0, CET) } },
		{ "Brussels spring Sat", 0, at(2026, 3, 28, 10, 0, CET),
		  { at(2026, 3, 28, 20, 0, CET), at(2026, 3, 30, 12, 0, CEST),
		    at(2026, 3, 30, 17, 0, CEST), at(2026, 3, 30, 18, 0, CEST),
		    at(2026, 3, 30, 18, 0, CEST) } },
		{ "Brussels spring Sun 00:30 CET", 0, at(2026, 3, 29, 0, 30, CET),
		  { at(2026, 3, 29, 20, 0, CEST), at(2026, 3, 30, 12, 0, CEST),
		    at(2026, 3, 30, 17, 0, CEST), at(2026, 3, 30, 18, 0, CEST),
		    at(2026, 3, 30, 18, 0, CEST) } },
		{ "Brussels spring Sun 10:00 CEST", 0, at(2026, 3, 29, 10, 0, CEST),
		  { at(2026, 3, 29, 20, 0, CEST), at(2026, 3, 30, 12, 0, CEST),
		    at(2026, 3, 30, 17, 0, CEST), at(2026, 3, 30, 18, 0, CEST),
		    at(2026, 3, 30, 18, 0, CEST) } },
		{ "Brussels autumn Fri 19:00 CEST", 0, at(2026, 10, 23, 19, 0, CEST),
		  { at(2026, 10, 23, 20, 0, CEST), at(2026, 10, 26, 12, 0, CET),
		    at(2026, 10, 26, 17, 0, CET), PAST,
		    at(2026, 10, 26, 18, 0, CET) } },
		{ "Brussels autumn Sun 01:00 CEST", 0, at(2026, 10, 25, 1, 0, CEST),
		  { at(2026, 10, 25, 20, 0, CET), at(2026, 10, 26, 12, 0, CET),
		    at(2026, 10, 26, 17, 0, CET), at(2026, 10, 26, 18, 0, CET),
		    at(2026, 10, 26, 18, 0, CET) } },
		{ "Brussels autumn Sun 10:00 CET", 0, at(2026, 10, 25, 10, 0, CET),
		  { at(2026, 10, 25, 20, 0, CET), at(2026, 10, 26, 12, 0, CET),
		    at(2026, 10, 26, 17, 0, CET), at(2026, 10, 26, 18, 0, CET),
		    at(2026, 10, 26, 18, 0, CET) } },
		{ "New York spring Sun 01:00 EST", 1, at(2026, 3, 8, 1, 0, EST),
		  { at(2026, 3, 8, 20, 0, EDT), at(2026, 3, 9, 12, 0, EDT),
		    at(2026, 3, 9, 17, 0, EDT), at(2026, 3, 9, 17, 0, EDT),
		    at(2026, 3, 9, 17, 0, EDT) } },
		{ "New York spring Sun 10:00 EDT", 1, at(2026, 3, 8, 10, 0, EDT),
		  { at(2026, 3, 8, 20, 0, EDT), at(2026, 3, 9, 12, 0, EDT),
		    at(2026, 3, 9, 17, 0, EDT), at(2026, 3, 9, 17, 0, EDT),
		    at(2026, 3, 9, 17, 0, EDT) } },
		{ "New York autumn Sun 01:30 EDT", 1, at(2026, 11, 1, 1, 30, EDT),
		  { at(2026, 11, 1, 20, 0, EST), at(2026, 11, 2, 12, 0, EST),
		    at(2026, 11, 2, 17, 0, EST), at(2026, 11, 2, 17, 0, EST),
		    at(2026, 11, 2, 17, 0, EST) } },
		{ "New York autumn Sun 10:00 EST", 1, at(2026, 11, 1, 10, 0, EST),
		  { at(2026, 11, 1, 20, 0, EST), at(2026, 11, 2, 12, 0, EST),
		    at(2026, 11, 2, 17, 0, EST), at(2026, 11, 2, 17, 0, EST),
		    at(2026, 11, 2, 17, 0, EST) } },
		{ "New York Friday 16:00 EST", 1, at(2026, 11, 6, 16, 0, EST),
		  { at(2026, 11, 6, 20, 0, EST), at(2026, 11, 9, 12, 0, EST),
		    at(2026, 11, 9, 17, 0, EST), at(2026, 11, 6, 17, 0, EST),
		    at(2026, 11, 9, 17, 0, EST) } },
	};
	size_t i;

	(void)state;
	/* The offsets behind the expectations, worked out by hand. */
	assert_int_equal(at(2026, 3, 29, 20, 0, CEST), at(2026, 3, 29, 18, 0, 0));
	assert_int_equal(at(2026, 3, 8, 20, 0, EDT), at(2026, 3, 9, 0, 0, 0));
	for (i = 0; i < sizeof(sc) / sizeof(*sc); i++)
		check_scenario(&sc[i]);
}

static void
test_defaults_table(void **state)
{
	const char *want[][2] = {
		{ "tonight", "en" }, { "vanavond", "nl" }, { "ce soir", "fr" },
		{ "tomorrow morning", "en" }, { "morgenvoormiddag", "nl" },
		{ "demain matin", "fr" }, { "tomorrow afternoon", "en" },
		{ "morgennamiddag", "nl" }, { "demain apr\xc3\xa8s-midi", "fr" },
		{ "end of day", "en" }, { "einde van de dag", "nl" },
		{ "fin de journ\xc3\xa9" "e", "fr" }, { "next business day", "en" },
		{ "volgende werkdag", "nl" }, { "prochain jour ouvrable", "fr" },
	};
	const struct phrase_rule *r;
	size_t n, i, j;

	(void)state;
	r = phrase_defaults(&n);
	assert_int_equal(n, sizeof(want) / sizeof(*want));
	for (i = 0; i < sizeof(want) / sizeof(*want); i++) {
		for (j = 0; j < n; j++)
			if (strcmp(r[j].text, want[i][0]) == 0)
				break;
		assert_true(j < n);
		assert_string_equal(r[j].locale, want[i][1]);
	}
}

static void
test_past_message(void **state)
{
	struct cal_site s = bru();
	char err[256];
	int64_t t;

	(void)state;
	assert_int_equal(parse("tonight", at(2026, 12, 2, 21, 0, CET), &s, &t,
			       err, sizeof(err)), -1);
	assert_string_equal(err, "'tonight' is already past (20:00)");
	assert_int_equal(parse("tonight", at(2026, 12, 2, 20, 0, CET), &s, &t,
			       err, sizeof(err)), -1);
	assert_int_equal(parse("tonight", at(2026, 12, 2, 19, 59, CET), &s, &t,
			       err, sizeof(err)), 0);
}

/* Config phrases at 02:30 / 01:30 land in a gap or a repeated hour. */
static void
test_config_phrases_dst(void **state)
{
	const struct phrase_rule rules[] = {
		{ (char *)"late night", (char *)"en", PHRASE_DAY_TODAY,
		  PHRASE_TIME_AT, 150 },
		{ (char *)"early", (char *)"en", PHRASE_DAY_TOMORROW,
		  PHRASE_TIME_AT, 150 },
		{ (char *)"half past one", (char *)"en", PHRASE_DAY_TODAY,
		  PHRASE_TIME_AT, 90 },
		{ (char *)"first thing", (char *)"en", PHRASE_DAY_NEXT_BUSINESS_DAY,
		  PHRASE_TIME_OPENING, 0 },
	};
	const struct {
		const char *text;
		int nyc;
		int64_t now, want;
	} cases[] = {
		{ "late night", 0, at(2026, 3, 29, 0, 30, CET),
		  at(2026, 3, 29, 3, 30, CEST) },
		{ "early", 0, at(2026, 3, 28, 10, 0, CET),
		  at(2026, 3, 29, 3, 30, CEST) },
		{ "late night", 0, at(2026, 10, 25, 0, 30, CEST),
		  at(2026, 10, 25, 2, 30, CEST) },
		{ "late night", 1, at(2026, 3, 8, 0, 30, EST),
		  at(2026, 3, 8, 3, 30, EDT) },
		{ "half past one", 1, at(2026, 11, 1, 0, 30, EDT),
		  at(2026, 11, 1, 1, 30, EDT) },
		{ "First Thing", 0, at(2026, 12, 4, 19, 0, CET),
		  at(2026, 12, 7, 8, 0, CET) },
		{ "first thing", 1, at(2026, 3, 6, 19, 0, EST),
		  at(2026, 3, 9, 9, 0, EDT) },
	};
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(at(2026, 3, 29, 3, 30, CEST), at(2026, 3, 29, 1, 30, 0));
	assert_int_equal(at(2026, 3, 8, 3, 30, EDT), at(2026, 3, 8, 7, 30, 0));
	assert_int_equal(at(2026, 11, 1, 1, 30, EDT), at(2026, 11, 1, 5, 30, 0));
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct cal_site s = cases[i].nyc ? nyc() : bru();
		int64_t got = 0;
		int rc = phrase_parse_due(cases[i].text, cases[i].now, &s, rules,
					  sizeof(rules) / sizeof(*rules), &got,
					  err, sizeof(err));

		if (rc != 0 || got != cases[i].want)
			fail_msg("case %zu '%s': rc %d got %lld want %lld (%s)", i,
				 cases[i].text, rc, (long long)got,
				 (long long)cases[i].want, err);
	}
	/* The default phrases are not known to a table without them. */
	{
		struct cal_site s = bru();
		int64_t got;

		assert_int_equal(phrase_parse_due("tonight",
						  at(2026, 12, 2, 10, 0, CET), &s,
						  rules, 1, &got, err, sizeof(err)),
				 -1);
	}
}

/* ---- other forms ---------------------------------------------------------- */

struct form_case {
	const char *in;
	int64_t want;
};

static void
check_forms(const struct form_case *fc, size_t n, int64_t now)
{
	struct cal_site s = bru();
	char err[512];
	size_t i;

	for (i = 0; i < n; i++) {
		int64_t got = 0;
		int rc = parse(fc[i].in, now, &s, &got, err, sizeof(err));

		if (rc != 0 || got != fc[i].want)
			fail_msg("'%s': rc %d got %lld want %lld (%s)", fc[i].in, rc,
				 (long long)got, (long long)fc[i].want, err);
	}
}

static void
test_iso(void **state)
{
	const struct form_case fc[] = {
		{ "2026-12-01T09:00:00+01:00", at(2026, 12, 1, 8, 0, 0) },
		{ "2026-12-01T09:00:00Z", at(2026, 12, 1, 9, 0, 0) },
		{ "2026-12-01t09:00z", at(2026, 12, 1, 9, 0, 0) },
		{ "2026-12-01T09:00:00-05:00", at(2026, 12, 1, 14, 0, 0) },
		{ "2026-12-01T09:00+0530", at(2026, 12, 1, 3, 30, 0) },
		{ "2026-12-01T09:00", at(2026, 12, 1, 9, 0, CET) },
		{ "2026-12-01 09:00", at(2026, 12, 1, 9, 0, CET) },
		{ "2026-12-01T09:00:30", at(2026, 12, 1, 9, 0, CET) + 30 },
		{ "2026-07-01T09:00", at(2026, 7, 1, 9, 0, CEST) },
		{ "2026-03-29T02:30", at(2026, 3, 29, 3, 30, CEST) },
		{ "2026-10-25T02:30", at(2026, 10, 25, 2, 30, CEST) },
		{ "2028-02-29T12:00", at(2028, 2, 29, 12, 0, CET) },
		/* A date alone: that day's closing, or 23:59 when closed. */
		{ "2026-12-01", at(2026, 12, 1, 18, 0, CET) },
		{ "2026-12-05", at(2026, 12, 5, 23, 59, CET) },
		{ "2026-12-25", at(2026, 12, 25, 23, 59, CET) },
		/* Absolute times in the past are read; refusing them (or not)
		 * is the caller's decision. */
		{ "2025-01-01T00:00Z", at(2025, 1, 1, 0, 0, 0) },
	};

	(void)state;
	check_forms(fc, sizeof(fc) / sizeof(*fc), at(2026, 11, 30, 10, 0, CET));
}

static void
test_relative(void **state)
{
	int64_t now = at(2026, 12, 2, 10, 0, CET);
	const struct form_case fc[] = {
		{ "in 2h", now + 7200 }, { "in 30m", now + 1800 },
		{ "in 1h30m", now + 5400 }, { "in 1h 30m", now + 5400 },
		{ "+30m", now + 1800 }, { "+2h", now + 7200 },
		{ "IN 2H", now + 7200 }, { "in 2d", now + 2 * 86400 },
		{ "over 2h", now + 7200 }, { "dans 45m", now + 2700 },
	};

	(void)state;
	check_forms(fc, sizeof(fc) / sizeof(*fc), now);
}

/* Now is Wednesday 2026-12-02 10:00 in Brussels. */
static void
test_weekdays(void **state)
{
	const char *names[7][6] = {
		{ "mon", "monday", "ma", "maandag", "lun", "lundi" },
		{ "tue", "tuesday", "di", "dinsdag", "mar", "mardi" },
		{ "wed", "wednesday", "wo", "woensdag", "mer", "mercredi" },
		{ "thu", "thursday", "do", "donderdag", "jeu", "jeudi" },
		{ "fri", "friday", "vr", "vrijdag", "ven", "vendredi" },
		{ "sat", "saturday", "za", "zaterdag", "sam", "samedi" },
		{ "sun", "sunday", "zo", "zondag", "dim", "dimanche" },
	};
	struct cal_site s = bru();
	int64_t now = at(2026, 12, 2, 10, 0, CET), got;
	char in[64], err[256];
	int w, k;

	(void)state;
	for (w = 0; w < 7; w++) {
		/* Wednesday is weekday 2; 16:00 today is still ahead. */
		int ahead = (w - 2 + 7) % 7;
		int64_t want = at(2026, 12, 2 + ahead, 16, 0, CET);

		for (k = 0; k < 6; k++) {
			snprintf(in, sizeof(in), "%s 16:00", names[w][k]);
			if (parse(in, now, &s, &got, err, sizeof(err)) != 0 ||
			    got != want)
				fail_msg("'%s': got %lld want %lld (%s)", in,
					 (long long)got, (long long)want, err);
		}
	}
	{
		const struct form_case fc[] = {
			{ "Fri 16h", at(2026, 12, 4, 16, 0, CET) },
			{ "vendredi 16h30", at(2026, 12, 4, 16, 30, CET) },
			{ "vrijdag 9u30", at(2026, 12, 4, 9, 30, CET) },
			{ "fri at 9:05", at(2026, 12, 4, 9, 5, CET) },
			{ "ven \xc3\xa0 9h", at(2026, 12, 4, 9, 0, CET) },
			/* Wednesday 09:00 has passed today: next week. */
			{ "wed 09:00", at(2026, 12, 9, 9, 0, CET) },
			{ "wed 10:00", at(2026, 12, 9, 10, 0, CET) },
			{ "wed 10:01", at(2026, 12, 2, 10, 1, CET) },
			{ "today 17:00", at(2026, 12, 2, 17, 0, CET) },
			{ "vandaag 17:00", at(2026, 12, 2, 17, 0, CET) },
			{ "aujourd'hui 17h", at(2026, 12, 2, 17, 0, CET) },
			{ "aujourd\xe2\x80\x99hui 17h", at(2026, 12, 2, 17, 0, CET) },
			{ "tomorrow 9:00", at(2026, 12, 3, 9, 0, CET) },
			{ "morgen 9:00", at(2026, 12, 3, 9, 0, CET) },
			{ "demain 9h", at(2026, 12, 3, 9, 0, CET) },
			{ "16:30", at(2026, 12, 2, 16, 30, CET) },
			{ "16h30", at(2026, 12, 2, 16, 30, CET) },
		};

		check_forms(fc, sizeof(fc) / sizeof(*fc), now);
	}
	/* A weekday across the spring change keeps its wall time. */
	assert_int_equal(parse("mon 9:00", at(2026, 3, 27, 10, 0, CET), &s, &got,
			       err, sizeof(err)), 0);
	assert_int_equal(got, at(2026, 3, 30, 9, 0, CEST));
}

static void
test_malformed(void **state)
{
	const char *bad[] = {
		"", "   ", "tomorow morning", "2026-13-01", "2026-02-30",
		"2026-12-01T25:00", "2026-12-01T09:60", "2026-12-01T09:00+15:00",
		"2026-12-01X09:00", "2026-1-1", "25:00", "fri 25:00", "fri 16:60",
		"friday", "fri sometime", "in -2h", "in 0m", "in 2x", "in", "-30m",
		"tonight please", "blah", "today 9:00", "9:00", "16:0",
		"2026-12-01T09:00:00+01:00 extra",
	};
	struct cal_site s = bru();
	int64_t now = at(2026, 12, 2, 10, 0, CET), got;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		got = 12345;
		if (parse(bad[i], now, &s, &got, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted as %lld", bad[i], (long long)got);
		if (err[0] == '\0')
			fail_msg("'%s': no reason given", bad[i]);
		assert_int_equal(got, 12345);
	}
}

static void
test_error_messages(void **state)
{
	struct cal_site s = bru();
	int64_t now = at(2026, 12, 2, 10, 0, CET), got;
	char err[512], *huge;

	(void)state;
	assert_int_equal(parse("blah", now, &s, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot read due 'blah': expected ISO-8601 "
			    "(2026-12-01T09:00), 'in 2h', 'fri 16:00' or a phrase "
			    "such as 'tomorrow morning'");
	assert_int_equal(parse("tomorow morning", now, &s, &got, err,
			       sizeof(err)), -1);
	assert_non_null(strstr(err, "'tomorow morning'"));
	assert_non_null(strstr(err, "did you mean 'tomorrow morning'"));
	assert_int_equal(parse("2026-02-30", now, &s, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'2026-02-30'"));
	assert_int_equal(parse("fri 25:00", now, &s, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'fri 25:00'"));
	assert_int_equal(parse("in -2h", now, &s, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'in -2h'"));
	/* Very long input: refused, and the message quotes only its start. */
	huge = malloc(1 << 20);
	assert_non_null(huge);
	memset(huge, 'x', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	assert_int_equal(parse(huge, now, &s, &got, err, sizeof(err)), -1);
	assert_true(strlen(err) < 200);
	assert_non_null(strstr(err, "xxx..."));
	free(huge);
	/* No site: an error, not a crash. */
	assert_int_equal(parse("tonight", now, NULL, &got, err, sizeof(err)), -1);
	assert_int_equal(parse(NULL, now, &s, &got, err, sizeof(err)), -1);
}

static void
test_day_names(void **state)
{
	enum phrase_day d;
	int i;

	(void)state;
	for (i = PHRASE_DAY_TODAY; i <= PHRASE_DAY_NEXT_BUSINESS_DAY; i++) {
		assert_int_equal(phrase_day_parse(phrase_day_name((enum phrase_day)i),
						  &d), 0);
		assert_int_equal((int)d, i);
	}
	assert_int_equal(phrase_day_parse("next_business_day", &d), 0);
	assert_int_equal(d, PHRASE_DAY_NEXT_BUSINESS_DAY);
	assert_int_equal(phrase_day_parse("someday", &d), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_phrases),
		cmocka_unit_test(test_defaults_table),
		cmocka_unit_test(test_past_message),
		cmocka_unit_test(test_config_phrases_dst),
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_weekdays),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_day_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
