/*
 * test_calendar: local <-> UTC conversion on real DST transition dates
 * (Europe/Brussels and America/New_York), business days, holidays and the
 * next opening of a site.  Every expected instant is built from civil
 * fields and the offset known to be in force (CET +1, CEST +2, EST -5,
 * EDT -4), never read from the program's output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "promised/calendar.h"
#include "promised/util.h"

#define CET 3600
#define CEST 7200
#define EST (-5 * 3600)
#define EDT (-4 * 3600)

/* The UTC instant of a wall time y-m-d h:mi in a zone off seconds east. */
static int64_t
at(int y, int m, int d, int h, int mi, int off)
{
	return util_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 - off;
}

static int64_t
day(int y, int m, int d)
{
	return util_days_from_civil(y, m, d);
}

/* Brussels, Monday to Friday 08:00-18:00, closed at the weekend. */
static void
office(struct cal_site *s)
{
	int d;

	memset(s, 0, sizeof(*s));
	s->id = (char *)"bru";
	s->tz = (char *)"Europe/Brussels";
	for (d = 0; d < 5; d++) {
		s->hours[d][0].open = 8 * 60;
		s->hours[d][0].close = 18 * 60;
		s->nranges[d] = 1;
	}
}

struct conv {
	const char *tz;
	int y, m, d, h, mi;
	int64_t want;
	int shifted;
};

static void
test_from_local_dst(void **state)
{
	const struct conv cases[] = {
		/* Brussels spring forward 02:00 CET -> 03:00 CEST. */
		{ "Europe/Brussels", 2026, 3, 29, 2, 30, at(2026, 3, 29, 3, 30, CEST), 1 },
		{ "Europe/Brussels", 2026, 3, 29, 2, 0, at(2026, 3, 29, 3, 0, CEST), 1 },
		{ "Europe/Brussels", 2026, 3, 29, 3, 30, at(2026, 3, 29, 3, 30, CEST), 0 },
		{ "Europe/Brussels", 2026, 3, 29, 1, 30, at(2026, 3, 29, 1, 30, CET), 0 },
		{ "Europe/Brussels", 2026, 3, 29, 3, 0, at(2026, 3, 29, 3, 0, CEST), 0 },
		/* Brussels fall back 03:00 CEST -> 02:00 CET: first occurrence. */
		{ "Europe/Brussels", 2026, 10, 25, 2, 30, at(2026, 10, 25, 2, 30, CEST), 0 },
		{ "Europe/Brussels", 2026, 10, 25, 2, 0, at(2026, 10, 25, 2, 0, CEST), 0 },
		{ "Europe/Brussels", 2026, 10, 25, 3, 30, at(2026, 10, 25, 3, 30, CET), 0 },
		{ "Europe/Brussels", 2026, 10, 25, 1, 59, at(2026, 10, 25, 1, 59, CEST), 0 },
		/* New York spring forward 02:00 EST -> 03:00 EDT. */
		{ "America/New_York", 2026, 3, 8, 2, 30, at(2026, 3, 8, 3, 30, EDT), 1 },
		{ "America/New_York", 2026, 3, 8, 1, 59, at(2026, 3, 8, 1, 59, EST), 0 },
		{ "America/New_York", 2026, 3, 8, 3, 0, at(2026, 3, 8, 3, 0, EDT), 0 },
		/* New York fall back 02:00 EDT -> 01:00 EST: first occurrence. */
		{ "America/New_York", 2026, 11, 1, 1, 30, at(2026, 11, 1, 1, 30, EDT), 0 },
		{ "America/New_York", 2026, 11, 1, 2, 30, at(2026, 11, 1, 2, 30, EST), 0 },
		/* Ordinary times. */
		{ "Europe/Brussels", 2026, 12, 2, 10, 0, at(2026, 12, 2, 10, 0, CET), 0 },
		{ "Europe/Brussels", 2026, 7, 1, 0, 0, at(2026, 7, 1, 0, 0, CEST), 0 },
		{ "America/New_York", 2026, 1, 1, 0, 0, at(2026, 1, 1, 0, 0, EST), 0 },
		{ "America/New_York", 2026, 6, 30, 23, 59, at(2026, 6, 30, 23, 59, EDT), 0 },
		{ "UTC", 2026, 3, 29, 2, 30, at(2026, 3, 29, 2, 30, 0), 0 },
		{ "Asia/Kolkata", 2026, 3, 29, 2, 30, at(2026, 3, 29, 2, 30, 19800), 0 },
	};
	size_t i;

	(void)state;
	/* Spot-check the expected values themselves against the rule. */
	assert_int_equal(at(2026, 3, 29, 3, 30, CEST), at(2026, 3, 29, 1, 30, 0));
	assert_int_equal(at(2026, 10, 25, 2, 30, CEST), at(2026, 10, 25, 0, 30, 0));
	assert_int_equal(at(2026, 3, 8, 3, 30, EDT), at(2026, 3, 8, 7, 30, 0));
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct conv *c = &cases[i];
		int64_t got = 0;
		int sh = -1;

		assert_int_equal(cal_from_local(c->tz, c->y, c->m, c->d, c->h,
						c->mi, 0, &got, &sh), 0);
		if (got != c->want || sh != c->shifted)
			fail_msg("case %zu (%s %04d-%02d-%02d %02d:%02d): got %lld "
				 "shifted %d, want %lld shifted %d", i, c->tz, c->y,
				 c->m, c->d, c->h, c->mi, (long long)got, sh,
				 (long long)c->want, c->shifted);
	}
}

static void
test_from_local_invalid(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(cal_from_local("Europe/Brussels", 2026, 2, 30, 9, 0, 0,
					&t, NULL), -1);
	assert_int_equal(cal_from_local("Europe/Brussels", 2026, 13, 1, 9, 0, 0,
					&t, NULL), -1);
	assert_int_equal(cal_from_local("Europe/Brussels", 2026, 1, 1, 24, 0, 0,
					&t, NULL), -1);
	assert_int_equal(cal_from_local("Mars/Olympus", 2026, 1, 1, 9, 0, 0, &t,
					NULL), -1);
	assert_int_equal(cal_from_local("Europe/Brussels", 2028, 2, 29, 9, 0, 0,
					&t, NULL), 0);
	assert_int_equal(t, at(2028, 2, 29, 9, 0, CET));
}

static void
test_to_local(void **state)
{
	struct cal_local l;
	const char *zones[] = { "Europe/Brussels", "America/New_York" };
	int64_t t;
	size_t z;

	(void)state;
	assert_int_equal(cal_to_local("Europe/Brussels", at(2026, 3, 29, 1, 30, 0),
				      &l), 0);
	assert_int_equal(l.hour, 3);
	assert_int_equal(l.min, 30);
	assert_int_equal(l.utcoff, CEST);
	assert_int_equal(l.weekday, 6);
	assert_int_equal(l.days, day(2026, 3, 29));
	assert_int_equal(cal_to_local("America/New_York",
				      at(2026, 11, 1, 6, 30, 0), &l), 0);
	assert_int_equal(l.hour, 1);
	assert_int_equal(l.utcoff, EST);
	assert_int_equal(cal_to_local("America/New_York",
				      at(2026, 11, 1, 5, 30, 0), &l), 0);
	assert_int_equal(l.hour, 1);
	assert_int_equal(l.utcoff, EDT);
	/* Round trip every hour across both transitions of 2026: any
	 * instant that is not the second pass of a repeated hour comes back. */
	for (z = 0; z < 2; z++) {
		for (t = at(2026, 3, 1, 0, 0, 0); t < at(2026, 11, 5, 0, 0, 0);
		     t += 3600) {
			int64_t back;

			assert_int_equal(cal_to_local(zones[z], t, &l), 0);
			assert_int_equal(cal_from_local(zones[z], l.year, l.month,
							l.day, l.hour, l.min,
							l.sec, &back, NULL), 0);
			if (back != t)
				assert_int_equal(back, t - 3600);
		}
	}
}

static void
test_tz_valid(void **state)
{
	(void)state;
	assert_true(cal_tz_valid("Europe/Brussels"));
	assert_true(cal_tz_valid("America/New_York"));
	assert_true(cal_tz_valid("UTC"));
	assert_false(cal_tz_valid(""));
	assert_false(cal_tz_valid(NULL));
	assert_false(cal_tz_valid("Europe/Brusels"));
	assert_false(cal_tz_valid("../../etc/passwd"));
	assert_false(cal_tz_valid("/etc/localtime"));
	assert_false(cal_tz_valid("Europe"));
	assert_false(cal_tz_valid("CET-1CEST,M3.5.0,M10.5.0/3"));
}

static void
test_business_days(void **state)
{
	struct cal_site s;
	int64_t hol[] = { day(2026, 12, 25), day(2027, 1, 1) };

	(void)state;
	office(&s);
	s.holidays = hol;
	s.nholidays = 2;
	assert_true(cal_is_business_day(&s, day(2026, 12, 2)));    /* Wed */
	assert_false(cal_is_business_day(&s, day(2026, 12, 5)));   /* Sat */
	assert_false(cal_is_business_day(&s, day(2026, 12, 6)));   /* Sun */
	assert_true(cal_is_holiday(&s, day(2026, 12, 25)));
	assert_false(cal_is_holiday(&s, day(2026, 12, 24)));
	assert_false(cal_is_business_day(&s, day(2026, 12, 25)));  /* Fri hol */
	assert_int_equal(cal_next_business_day(&s, day(2026, 12, 4)),
			 day(2026, 12, 7));
	assert_int_equal(cal_next_business_day(&s, day(2026, 12, 24)),
			 day(2026, 12, 28));
	assert_int_equal(cal_next_business_day(&s, day(2026, 12, 31)),
			 day(2027, 1, 4));
	assert_int_equal(cal_day_open(&s, day(2026, 12, 2)),
			 at(2026, 12, 2, 8, 0, CET));
	assert_int_equal(cal_day_close(&s, day(2026, 7, 1)),
			 at(2026, 7, 1, 18, 0, CEST));
	assert_int_equal(cal_day_close(&s, day(2026, 12, 5)), -1);
	assert_int_equal(cal_day_open(&s, day(2026, 12, 25)), -1);
}

static void
test_next_open(void **state)
{
	struct cal_site s;
	int64_t hol[] = { day(2026, 12, 7) };     /* a Monday */
	int64_t t;

	(void)state;
	office(&s);
	/* Friday 2026-12-04 17:55: open now. */
	t = at(2026, 12, 4, 17, 55, CET);
	assert_int_equal(cal_next_open(&s, t), t);
	assert_true(cal_is_open(&s, t));
	/* Friday 18:00 exactly is closed; 18:05 waits for Monday 08:00. */
	assert_false(cal_is_open(&s, at(2026, 12, 4, 18, 0, CET)));
	assert_int_equal(cal_next_open(&s, at(2026, 12, 4, 18, 5, CET)),
			 at(2026, 12, 7, 8, 0, CET));
	/* Early morning waits for the same day's opening. */
	assert_int_equal(cal_next_open(&s, at(2026, 12, 2, 6, 0, CET)),
			 at(2026, 12, 2, 8, 0, CET));
	/* A holiday Monday moves it to Tuesday. */
	s.holidays = hol;
	s.nholidays = 1;
	assert_int_equal(cal_next_open(&s, at(2026, 12, 4, 18, 5, CET)),
			 at(2026, 12, 8, 8, 0, CET));
	/* Across the spring DST change: Friday evening to Monday in CEST. */
	s.nholidays = 0;
	assert_int_equal(cal_next_open(&s, at(2026, 3, 27, 19, 0, CET)),
			 at(2026, 3, 30, 8, 0, CEST));
}

static void
test_lunch_break(void **state)
{
	struct cal_site s;

	(void)state;
	office(&s);
	s.hours[2][0].close = 12 * 60;
	s.hours[2][1].open = 13 * 60;
	s.hours[2][1].close = 18 * 60;
	s.nranges[2] = 2;      /* Wednesdays close for lunch */
	assert_true(cal_is_open(&s, at(2026, 12, 2, 11, 59, CET)));
	assert_false(cal_is_open(&s, at(2026, 12, 2, 12, 30, CET)));
	assert_int_equal(cal_next_open(&s, at(2026, 12, 2, 12, 30, CET)),
			 at(2026, 12, 2, 13, 0, CET));
	assert_int_equal(cal_day_open(&s, day(2026, 12, 2)),
			 at(2026, 12, 2, 8, 0, CET));
	assert_int_equal(cal_day_close(&s, day(2026, 12, 2)),
			 at(2026, 12, 2, 18, 0, CET));
}

static void
test_dst_opening(void **state)
{
	struct cal_site s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.tz = (char *)"Europe/Brussels";
	s.hours[6][0].open = 2 * 60 + 30;   /* Sundays 02:30-24:00 */
	s.hours[6][0].close = 1440;
	s.nranges[6] = 1;
	/* 02:30 does not exist on 2026-03-29: it opens at 03:30 CEST. */
	assert_int_equal(cal_next_open(&s, at(2026, 3, 28, 12, 0, CET)),
			 at(2026, 3, 29, 3, 30, CEST));
	/* On 2026-10-25 it means the first 02:30, still CEST. */
	assert_int_equal(cal_next_open(&s, at(2026, 10, 24, 12, 0, CEST)),
			 at(2026, 10, 25, 2, 30, CEST));
	/* Closing at 24:00 is the next local midnight. */
	assert_int_equal(cal_day_close(&s, day(2026, 3, 29)),
			 at(2026, 3, 30, 0, 0, CEST));
	assert_true(cal_is_open(&s, at(2026, 3, 29, 23, 59, CEST)));
}

static void
test_never_open(void **state)
{
	struct cal_site s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.tz = (char *)"Europe/Brussels";
	assert_int_equal(cal_next_open(&s, at(2026, 12, 2, 10, 0, CET)), -1);
	assert_false(cal_is_open(&s, at(2026, 12, 2, 10, 0, CET)));
	assert_int_equal(cal_next_business_day(&s, day(2026, 12, 2)), -1);
	assert_int_equal(cal_day_open(&s, day(2026, 12, 2)), -1);
}

static void
test_format_local(void **state)
{
	char buf[64];

	(void)state;
	cal_format_local("Europe/Brussels", at(2026, 11, 29, 17, 0, CET), 0, buf,
			 sizeof(buf));
	assert_string_equal(buf, "2026-11-29 17:00");
	cal_format_local("Europe/Brussels", at(2026, 7, 1, 9, 5, CEST), 1, buf,
			 sizeof(buf));
	assert_string_equal(buf, "2026-07-01 09:05 +02:00");
	cal_format_local("America/New_York", at(2026, 3, 8, 3, 30, EDT), 1, buf,
			 sizeof(buf));
	assert_string_equal(buf, "2026-03-08 03:30 -04:00");
	/* A TZ set by someone else since, or a tzset() from a library,
	 * does not move the zone of the next conversion. */
	setenv("TZ", "Asia/Tokyo", 1);
	cal_format_local("Europe/Brussels", 0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01 01:00");
	setenv("TZ", "Asia/Tokyo", 1);
	tzset();
	cal_format_local("Europe/Brussels", 0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01 01:00");
	tzset();
	cal_format_local("America/New_York", 0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31 19:00");
	unsetenv("TZ");
	tzset();
	cal_format_local("Europe/Brussels", 0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01 01:00");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_local_dst),
		cmocka_unit_test(test_from_local_invalid),
		cmocka_unit_test(test_to_local),
		cmocka_unit_test(test_tz_valid),
		cmocka_unit_test(test_business_days),
		cmocka_unit_test(test_next_open),
		cmocka_unit_test(test_lunch_break),
		cmocka_unit_test(test_dst_opening),
		cmocka_unit_test(test_never_open),
		cmocka_unit_test(test_format_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
