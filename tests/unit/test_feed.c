/*
 * Unit tests of calendar feeds: mapping VTODOs and VEVENTs to items (time
 * zones by every name calendars use, floating and all-day times, the DST
 * gap, recurrence with EXDATE/RDATE/overrides and the instance cap, owner
 * mapping) and the store sync (new, moved, completed, gone, closed not
 * reopened) with one test per safety-valve case, the item-by-item run
 * the fetcher uses (valve at the end, rolled back whole) and parsing from
 * a file (feed_parse_fd).  Expected instants are
 * worked out by hand from the zone rules, written as UTC wall times.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/calendar.h"
#include "promised/feed.h"
#include "promised/promise.h"
#include "promised/store.h"
#include "promised/util.h"

#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)

/* A UTC instant written as its wall time. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	return util_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60;
}

/* "Now" for every test: Sunday 2026-11-29 08:00 UTC. */
#define NOW utc(2026, 11, 29, 8, 0)

static const struct feed_staff staff[] = {
	{ "alice", "alice@example.com" },
	{ "bob", "bob@example.com" },
};

/* Brussels; Mon-Fri 08:00-18:00, Sat 09:00-12:00, Sunday closed. */
static struct cal_site site;

static void
site_init(void)
{
	int d;

	memset(&site, 0, sizeof(site));
	site.id = (char *)"main";
	site.tz = (char *)"Europe/Brussels";
	for (d = 0; d < 5; d++) {
		site.hours[d][0].open = 8 * 60;
		site.hours[d][0].close = 18 * 60;
		site.nranges[d] = 1;
	}
	site.hours[5][0].open = 9 * 60;
	site.hours[5][0].close = 12 * 60;
	site.nranges[5] = 1;
}

static struct feed_opts
opts(void)
{
	struct feed_opts o;

	memset(&o, 0, sizeof(o));
	o.name = "test";
	o.default_owner = "desk";
	o.site = &site;
	o.staff = staff;
	o.nstaff = 2;
	return o;
}

static char *
slurp(const char *name, size_t *len)
{
	const char *dir = getenv("PROMISED_TEST_DATA");
	char path[1024];
	char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/ics/%s",
		 dir != NULL ? dir : "tests/data", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Parses a fixture into *list; returns feed_parse's result. */
static int
parse_file(const char *name, const struct feed_opts *o,
	   struct feed_items *list, struct feed_stats *st)
{
	char err[256] = "";
	size_t len;
	char *data = slurp(name, &len);
	int rc;

	memset(list, 0, sizeof(*list));
	rc = feed_parse(data, len, o, NOW, feed_items_add, list, st, err,
			sizeof(err));
	if (rc != 0)
		fprintf(stderr, "feed_parse %s: %s\n", name, err);
	free(data);
	return rc;
}

static const struct feed_item *
find(const struct feed_items *l, const char *ref)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].ref, ref) == 0)
			return &l->v[i];
	return NULL;
}

static const struct feed_item *
must(const struct feed_items *l, const char *ref)
{
	const struct feed_item *it = find(l, ref);

	if (it == NULL)
		fail_msg("no item %s", ref);
	return it;
}

/* ---- Mapping ---------------------------------------------------------- */

static void
test_basic_mapping(void **state)
{
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;
	const struct feed_item *it;

	(void)state;
	assert_int_equal(parse_file("basic.ics", &o, &l, &st), 0);
	assert_int_equal(st.components, 8);
	assert_int_equal(l.n, 6);
	assert_int_equal(st.skipped, 2);   /* no UID, no due */
	assert_true(st.nreasons == 2);

	/* Brussels in December is UTC+1. */
	it = must(&l, "feed:test:todo-1");
	assert_int_equal(it->due_at, utc(2026, 12, 4, 15, 0));
	assert_int_equal(it->target_at, utc(2026, 12, 4, 8, 0));
	assert_string_equal(it->title, "Call back about the brake pads");
	assert_string_equal(it->details,
			    "Quote for front pads, customer waits for a call.");
	assert_string_equal(it->owner, "alice");
	assert_string_equal(it->customer_name, "Jan Peeters");
	assert_string_equal(it->customer_phone, "+32470123456");
	assert_string_equal(it->customer_email, "jan@example.be");
	assert_string_equal(it->vehicle, "VW Golf");
	assert_string_equal(it->vin, "WVWZZZ1KZ6W000001");
	assert_string_equal(it->site, "main");
	assert_int_equal(it->sequence, 2);
	assert_int_equal(it->last_modified, utc(2026, 11, 28, 9, 30));
	assert_false(it->completed);
	assert_false(it->cancelled);

	/* VEVENT: due from DTSTART; owner from the second ATTENDEE, matched
	 * by e-mail without regard to case. */
	it = must(&l, "feed:test:event-1");
	assert_int_equal(it->due_at, utc(2026, 12, 5, 10, 0));
	assert_int_equal(it->target_at, 0);
	assert_string_equal(it->owner, "bob");
	assert_null(it->customer_name);

	it = must(&l, "feed:test:done-1");
	assert_true(it->completed);
	assert_int_equal(it->completed_at, utc(2026, 11, 30, 10, 0));
	assert_string_equal(it->owner, "desk");
	it = must(&l, "feed:test:pct-1");
	assert_true(it->completed);
	assert_int_equal(it->completed_at, NOW);
	it = must(&l, "feed:test:cancel-1");
	assert_true(it->cancelled);
	assert_false(it->completed);
	/* DTSTART + DURATION, no target without a DUE. */
	it = must(&l, "feed:test:dur-1");
	assert_int_equal(it->due_at, utc(2026, 12, 2, 10, 0));
	assert_int_equal(it->target_at, 0);
	feed_items_free(&l);
}

static void
test_use_dtend_and_filters(void **state)
{
	static const char *const cats[] = { "Callback" };
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;
	const char *ics =
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
		"BEGIN:VEVENT\r\nUID:e1\r\nDTSTART:20261205T100000Z\r\n"
		"DTEND:20261205T113000Z\r\nSUMMARY:PROMISE: wheels\r\n"
		"CATEGORIES:Workshop,callback\r\nEND:VEVENT\r\n"
		"BEGIN:VEVENT\r\nUID:e2\r\nDTSTART:20261205T100000Z\r\n"
		"SUMMARY:PROMISE: other\r\nCATEGORIES:Private\r\nEND:VEVENT\r\n"
		"BEGIN:VEVENT\r\nUID:e3\r\nDTSTART:20261205T100000Z\r\n"
		"SUMMARY:lunch\r\nCATEGORIES:Callback\r\nEND:VEVENT\r\n"
		"BEGIN:VTODO\r\nUID:t1\r\nDUE:20261205T100000Z\r\n"
		"SUMMARY:PROMISE: todo\r\nCATEGORIES:Callback\r\nEND:VTODO\r\n"
		"END:VCALENDAR\r\n";
	char err[256];

	(void)state;
	o.use_dtend = 1;
	o.components = FEED_VEVENT;
	o.categories = cats;
	o.ncategories = 1;
	o.summary_prefix = "promise:";
	memset(&l, 0, sizeof(l));
	assert_int_equal(feed_parse(ics, strlen(ics), &o, NOW, feed_items_add,
				    &l, &st, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].ref, "feed:test:e1");
	assert_int_equal(l.v[0].due_at, utc(2026, 12, 5, 11, 30));
	assert_int_equal(st.filtered, 3);
	feed_items_free(&l);

	/* A pattern instead of the prefix; a bad pattern is an error. */
	o.summary_prefix = NULL;
	o.summary_pattern = "^(PROMISE|lunch)";
	o.ncategories = 0;
	assert_int_equal(feed_parse(ics, strlen(ics), &o, NOW, feed_items_add,
				    &l, &st, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	feed_items_free(&l);
	o.summary_pattern = "([";
	assert_int_equal(feed_parse(ics, strlen(ics), &o, NOW, feed_items_add,
				    &l, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pattern"));
	feed_items_free(&l);
}

static void
test_windows_and_prefixed_zones(void **state)
{
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;

	(void)state;
	assert_int_equal(parse_file("zones.ics", &o, &l, &st), 0);
	/* W. Europe Standard Time = Europe/Berlin, UTC+1 in December. */
	assert_int_equal(must(&l, "feed:test:win-1")->due_at,
			 utc(2026, 12, 4, 15, 0));
	/* "(UTC+01:00) Brussels, ..." = Europe/Brussels. */
	assert_int_equal(must(&l, "feed:test:display-1")->due_at,
			 utc(2026, 12, 7, 8, 30));
	/* New York in December is UTC-5. */
	assert_int_equal(must(&l, "feed:test:prefixed-1")->due_at,
			 utc(2026, 12, 7, 14, 30));
	assert_int_equal(must(&l, "feed:test:citadel-1")->due_at,
			 utc(2026, 12, 7, 8, 30));
	/* Eastern Standard Time in July is EDT, UTC-4. */
	assert_int_equal(must(&l, "feed:test:eastern-1")->due_at,
			 utc(2026, 7, 1, 16, 0));
	/* 02:30 does not exist on 2026-03-29 in Brussels: RFC 5545 moves
	 * it forward by the gap to 03:30 CEST = 01:30Z (libical alone
	 * would say 00:30Z). */
	assert_int_equal(must(&l, "feed:test:gap-1")->due_at,
			 utc(2026, 3, 29, 1, 30));
	/* A zone the file defines but nobody knows: its own rules, +03:00. */
	assert_int_equal(must(&l, "feed:test:custom-1")->due_at,
			 utc(2026, 12, 4, 9, 0));
	assert_int_equal(st.zone_fallbacks, 1);
	/* No VTIMEZONE, no mapping: skipped with a reason. */
	assert_null(find(&l, "feed:test:unknown-1"));
	assert_int_equal(st.skipped, 1);
	assert_non_null(strstr(st.reasons[0], "unknown-1"));
	feed_items_free(&l);
}

static void
test_tz_resolve(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(feed_tz_resolve("Romance Standard Time", buf,
					 sizeof(buf)), 0);
	assert_string_equal(buf, "Europe/Paris");
	assert_int_equal(feed_tz_resolve("central europe standard time", buf,
					 sizeof(buf)), 0);
	assert_string_equal(buf, "Europe/Budapest");
	assert_int_equal(feed_tz_resolve("Central European Standard Time",
					 buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Europe/Warsaw");
	assert_int_equal(feed_tz_resolve("GMT Standard Time", buf,
					 sizeof(buf)), 0);
	assert_string_equal(buf, "Europe/London");
	assert_int_equal(feed_tz_resolve("Pacific Standard Time", buf,
					 sizeof(buf)), 0);
	assert_string_equal(buf, "America/Los_Angeles");
	assert_int_equal(feed_tz_resolve("(UTC+01:00) Amsterdam, Berlin, "
					 "Bern, Rome, Stockholm, Vienna", buf,
					 sizeof(buf)), 0);
	assert_string_equal(buf, "Europe/Amsterdam");
	assert_int_equal(feed_tz_resolve("(UTC-05:00) Eastern Time (US & "
					 "Canada)", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "America/New_York");
	assert_int_equal(feed_tz_resolve("/mozilla.org/20050126_1/Europe/"
					 "Berlin", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Europe/Berlin");
	assert_int_equal(feed_tz_resolve("Mars Standard Time", buf,
					 sizeof(buf)), -1);
	assert_int_equal(feed_tz_resolve("../../etc/passwd", buf,
					 sizeof(buf)), -1);
}

static void
test_floating_and_all_day(void **state)
{
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;

	(void)state;
	/* X-WR-TIMEZONE: Chicago, UTC-6 in December. */
	assert_int_equal(parse_file("floating-wr.ics", &o, &l, &st), 0);
	assert_int_equal(must(&l, "feed:test:float-wr-1")->due_at,
			 utc(2026, 12, 4, 15, 0));
	feed_items_free(&l);

	assert_int_equal(parse_file("floating.ics", &o, &l, &st), 0);
	/* Floating: the site's zone, Brussels UTC+1. */
	assert_int_equal(must(&l, "feed:test:float-1")->due_at,
			 utc(2026, 12, 4, 8, 0));
	/* All day: Friday closes 18:00, Saturday 12:00 (local); Sunday is
	 * closed, so 23:59 local. */
	assert_int_equal(must(&l, "feed:test:allday-fri")->due_at,
			 utc(2026, 12, 4, 17, 0));
	assert_int_equal(must(&l, "feed:test:allday-sat")->due_at,
			 utc(2026, 12, 5, 11, 0));
	assert_int_equal(must(&l, "feed:test:allday-sun")->due_at,
			 utc(2026, 12, 6, 22, 59));
	/* An all-day VEVENT: the close of its first day (Monday)... */
	assert_int_equal(must(&l, "feed:test:allday-event")->due_at,
			 utc(2026, 12, 7, 17, 0));
	feed_items_free(&l);
	/* ...or, by DTEND, of its last day: DTEND 12-09 is exclusive. */
	o.use_dtend = 1;
	assert_int_equal(parse_file("floating.ics", &o, &l, &st), 0);
	assert_int_equal(must(&l, "feed:test:allday-event")->due_at,
			 utc(2026, 12, 8, 17, 0));
	feed_items_free(&l);
}

static void
test_recurrence(void **state)
{
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;
	const struct feed_item *it;
	char ref[96];
	int d, n = 0;
	size_t i;

	(void)state;
	assert_int_equal(parse_file("recur.ics", &o, &l, &st), 0);
	/* Window: [2026-11-28 08:00Z, 2026-12-13 08:00Z].  daily-1 runs
	 * 11-30 .. 12-09 at 10:00 Brussels (09:00Z); 12-02 is excluded,
	 * 12-03 is overridden, RDATE adds 12-12 15:00 (14:00Z). */
	for (d = 30; d <= 39; d++) {
		int day = d <= 30 ? d : d - 30, mon = d <= 30 ? 11 : 12;

		snprintf(ref, sizeof(ref), "feed:test:daily-1:2026%02d%02d"
			 "T090000Z", mon, day);
		it = find(&l, ref);
		if (mon == 12 && day == 2) {
			assert_null(it);
			continue;
		}
		assert_non_null(it);
		if (mon == 12 && day == 3) {
			assert_string_equal(it->title, "Moved to the afternoon");
			assert_int_equal(it->due_at, utc(2026, 12, 3, 13, 0));
			assert_string_equal(it->recurrence_id,
					    "20261203T090000Z");
		} else {
			assert_string_equal(it->title, "Daily check");
			assert_int_equal(it->due_at,
					 utc(2026, mon, day, 9, 0));
		}
	}
	it = must(&l, "feed:test:daily-1:20261212T140000Z");
	assert_int_equal(it->due_at, utc(2026, 12, 12, 14, 0));
	for (i = 0; i < l.n; i++)
		if (strncmp(l.v[i].ref, "feed:test:daily-1:", 18) == 0)
			n++;
	assert_int_equal(n, 10);
	/* An infinite weekly rule is bounded by the horizon: dues 11-29
	 * and 12-06 at 10:00Z; 12-13 10:00Z lies past the window. */
	it = must(&l, "feed:test:weekly-1:20261129T090000Z");
	assert_int_equal(it->due_at, utc(2026, 11, 29, 10, 0));
	assert_int_equal(it->target_at, utc(2026, 11, 29, 9, 0));
	must(&l, "feed:test:weekly-1:20261206T090000Z");
	assert_null(find(&l, "feed:test:weekly-1:20261213T090000Z"));
	assert_null(find(&l, "feed:test:weekly-1:20261122T090000Z"));
	/* Hourly since 2020, due 30 min after each start: starts
	 * 11-28 08:00Z .. 12-13 07:00Z = 15 * 24 = 360 instances. */
	for (n = 0, i = 0; i < l.n; i++)
		if (strncmp(l.v[i].ref, "feed:test:hourly-1:", 19) == 0)
			n++;
	assert_int_equal(n, 360);
	must(&l, "feed:test:hourly-1:20261128T080000Z");
	must(&l, "feed:test:hourly-1:20261213T070000Z");
	assert_null(find(&l, "feed:test:hourly-1:20261128T070000Z"));
	/* old-1 ended in 2020. */
	assert_int_equal(st.outside, 1);
	assert_int_equal(st.capped, 0);
	assert_int_equal(l.n, 10 + 2 + 360);
	feed_items_free(&l);
}

static void
test_recurrence_cap(void **state)
{
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;
	const char *ics =
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
		"BEGIN:VTODO\r\nUID:sec\r\nDTSTART:19700102T000000Z\r\n"
		"DUE:19700102T000001Z\r\nRRULE:FREQ=SECONDLY\r\n"
		"SUMMARY:every second forever\r\nEND:VTODO\r\n"
		"BEGIN:VTODO\r\nUID:min\r\nDTSTART:20261128T000000Z\r\n"
		"DUE:20261128T090000Z\r\nRRULE:FREQ=MINUTELY;COUNT=100000000\r\n"
		"SUMMARY:every minute\r\nEND:VTODO\r\n"
		"END:VCALENDAR\r\n";
	char err[256];
	size_t i, nsec = 0;

	(void)state;
	o.max_instances = 50;
	memset(&l, 0, sizeof(l));
	assert_int_equal(feed_parse(ics, strlen(ics), &o, NOW, feed_items_add,
				    &l, &st, err, sizeof(err)), 0);
	for (i = 0; i < l.n; i++)
		nsec += strncmp(l.v[i].ref, "feed:test:sec:", 14) == 0;
	assert_int_equal(nsec, 50);
	assert_int_equal(l.n, 100);
	assert_int_equal(st.capped, 2);
	feed_items_free(&l);
}

/* Every 13 minutes from an all-day start: there is no time of day to step
 * by, and libical's iterator spun for over half a minute in one call
 * (a fuzzer's find).  The rule is not expanded and counts as capped; the
 * rest of the feed is read as usual. */
static void
test_subdaily_rule_on_a_date(void **state)
{
	struct feed_opts o = opts();
	struct feed_items l;
	struct feed_stats st;
	const char *ics =
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
		"BEGIN:VTODO\r\nUID:d\r\nDTSTART;VALUE=DATE:20261206\r\n"
		"DUE;VALUE=DATE:20261206\r\n"
		"RRULE:FREQ=MINUTELY;INTERVAL=13;BYHOUR=9,10\r\n"
		"SUMMARY:every 13 minutes of a day\r\nEND:VTODO\r\n"
		"BEGIN:VTODO\r\nUID:plain\r\nDUE:20261201T120000Z\r\n"
		"SUMMARY:call back\r\nEND:VTODO\r\n"
		"END:VCALENDAR\r\n";
	char err[256];

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(feed_parse(ics, strlen(ics), &o, NOW, feed_items_add,
				    &l, &st, err, sizeof(err)), 0);
	/* Before, the iterator ran (for 37 s) and the rule was not capped. */
	assert_int_equal(st.capped, 1);
	/* The item's own instance stays, beside the plain one. */
	assert_int_equal(l.n, 2);
	must(&l, "feed:test:plain");
	feed_items_free(&l);
}

static void
test_rejected_documents(void **state)
{
	static const char *const bad[] = {
		"",
		"   \r\n\r\n",
		"<html><body>502 Bad Gateway</body></html>",
		"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:x\r\n"
		"DUE:20261201T120000Z\r\n",
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:x\r\n"
		"DUE:20261201T120000Z\r\nEND:VTODO\r\n",
	};
	struct feed_opts o = opts();
	struct feed_items l;
	char err[256];
	size_t i;

	(void)state;
	memset(&l, 0, sizeof(l));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(feed_parse(bad[i], strlen(bad[i]), &o, NOW,
					    feed_items_add, &l, NULL, err,
					    sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(l.n, 0);
}

/* Many components: parsed one at a time, quickly. */
static void
test_many_items(void **state)
{
	struct feed_opts o = opts();
	struct feed_stats st;
	size_t cap = 50000 * 120 + 64, len = 0, i;
	char *buf = malloc(cap), err[256];
	struct feed_items l;

	(void)state;
	assert_non_null(buf);
	len += (size_t)snprintf(buf + len, cap - len, "BEGIN:VCALENDAR\r\n");
	for (i = 0; i < 50000; i++)
		len += (size_t)snprintf(buf + len, cap - len,
			"BEGIN:VTODO\r\nUID:u%zu\r\nDUE:20261201T120000Z\r\n"
			"SUMMARY:n%zu\r\nEND:VTODO\r\n", i, i);
	len += (size_t)snprintf(buf + len, cap - len, "END:VCALENDAR\r\n");
	memset(&l, 0, sizeof(l));
	assert_int_equal(feed_parse(buf, len, &o, NOW, feed_items_add, &l,
				    &st, err, sizeof(err)), 0);
	assert_int_equal(l.n, 50000);
	assert_string_equal(l.v[49999].ref, "feed:test:u49999");
	feed_items_free(&l);
	free(buf);
}

/* A callback that stops the parse at its 1000th item. */
static int
stop_at_1000(void *ctx, const struct feed_item *it)
{
	size_t *calls = ctx;

	assert_non_null(it->ref);
	return ++*calls == 1000;
}

/* feed_parse_fd over a file of more than a megabyte (its pages are given
 * back as the parse goes, on a thread of its own) yields the same items
 * in the same order as feed_parse over the same bytes in memory; a stop
 * from the callback ends it there; a cut file and an empty one are
 * errors. */
static void
test_parse_fd(void **state)
{
	struct feed_opts o = opts();
	struct feed_stats st;
	size_t cap = 20000 * 120 + 64, len = 0, i, calls;
	char *buf = malloc(cap), err[256], path[] = "/tmp/promised-fd-XXXXXX";
	struct feed_items l, m;
	int fd;

	(void)state;
	assert_non_null(buf);
	len += (size_t)snprintf(buf + len, cap - len, "BEGIN:VCALENDAR\r\n");
	for (i = 0; i < 20000; i++)
		len += (size_t)snprintf(buf + len, cap - len,
			"BEGIN:VTODO\r\nUID:u%zu\r\nDUE:20261201T120000Z\r\n"
			"SUMMARY:n%zu\r\nEND:VTODO\r\n", i, i);
	len += (size_t)snprintf(buf + len, cap - len, "END:VCALENDAR\r\n");
	assert_true(len > 1024 * 1024);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	memset(&l, 0, sizeof(l));
	memset(&m, 0, sizeof(m));
	assert_int_equal(feed_parse_fd(fd, &o, NOW, feed_items_add, &l, &st,
				       err, sizeof(err)), 0);
	assert_int_equal(feed_parse(buf, len, &o, NOW, feed_items_add, &m,
				    NULL, err, sizeof(err)), 0);
	assert_int_equal(l.n, 20000);
	assert_int_equal(st.items, 20000);
	assert_int_equal(m.n, l.n);
	for (i = 0; i < l.n; i++) {
		assert_string_equal(l.v[i].ref, m.v[i].ref);
		assert_string_equal(l.v[i].title, m.v[i].title);
		assert_true(l.v[i].due_at == m.v[i].due_at);
	}
	assert_string_equal(l.v[19999].ref, "feed:test:u19999");
	feed_items_free(&l);
	feed_items_free(&m);
	/* The callback stops it: no item after that one. */
	calls = 0;
	assert_int_equal(feed_parse_fd(fd, &o, NOW, stop_at_1000, &calls, NULL,
				       err, sizeof(err)), -1);
	assert_int_equal(calls, 1000);
	assert_non_null(strstr(err, "stopped"));
	/* Cut before END:VCALENDAR: the parse thread's error comes back. */
	assert_int_equal(ftruncate(fd, (off_t)(len / 2)), 0);
	err[0] = '\0';
	assert_int_equal(feed_parse_fd(fd, &o, NOW, feed_items_add, &l, NULL,
				       err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	feed_items_free(&l);
	/* The same file cut to nothing. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(feed_parse_fd(fd, &o, NOW, feed_items_add, &l, NULL,
				       err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty answer"));
	assert_int_equal(l.n, 0);
	close(fd);
	free(buf);
}

/* ---- Store sync ---------------------------------------------------------- */

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	char err[512];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int rc = 0;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/promised-feed-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/promised.db", f->dir);
	f->st = store_open(f->path, &rc, f->err, sizeof(f->err));
	if (f->st == NULL) {
		fprintf(stderr, "store_open: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char p[160];
	int ok;

	ok = store_integrity_check(f->st, f->err, sizeof(f->err));
	store_close(f->st);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return ok;
}

static struct feed_item
mk(const char *ref, int64_t due)
{
	struct feed_item it;

	memset(&it, 0, sizeof(it));
	it.ref = (char *)ref;
	it.title = (char *)"Call back";
	it.owner = (char *)"alice";
	it.site = (char *)"main";
	it.due_at = due;
	return it;
}

static void
get(struct fx *f, const char *ref, struct promise *p)
{
	if (store_get_by_ref(f->st, ref, p, f->err, sizeof(f->err)) != 0)
		fail_msg("%s: %s", ref, f->err);
}

static size_t
nevents(struct fx *f, int64_t id)
{
	struct event *ev;
	size_t n;

	assert_int_equal(store_events(f->st, id, &ev, &n, f->err,
				      sizeof(f->err)), 0);
	event_free_array(ev, n);
	return n;
}

static int
last_event(struct fx *f, int64_t id, enum event_kind kind, const char *text)
{
	struct event *ev;
	size_t n, i;
	int found = 0;

	assert_int_equal(store_events(f->st, id, &ev, &n, f->err,
				      sizeof(f->err)), 0);
	for (i = 0; i < n; i++)
		if (ev[i].kind == kind && strstr(ev[i].detail, text) != NULL)
			found = 1;
	event_free_array(ev, n);
	return found;
}

static int
do_sync(struct fx *f, struct feed_item *items, size_t n, int64_t now,
     struct store_feed_result *res)
{
	return store_feed_sync(f->st, "test", items, n, 0.5, NULL, now, res,
			       f->err, sizeof(f->err));
}

static void
test_sync_lifecycle(void **state)
{
	struct fx *f = *state;
	struct feed_item items[3];
	struct store_feed_result res;
	struct promise p;
	int64_t due = utc(2026, 12, 4, 15, 0);

	items[0] = mk("feed:test:a", due);
	items[1] = mk("feed:test:b", due);
	items[2] = mk("feed:test:c", due);
	items[0].customer_name = (char *)"Jan";
	assert_int_equal(do_sync(f, items, 3, NOW, &res), 0);
	assert_int_equal(res.added, 3);
	get(f, "feed:test:a", &p);
	assert_string_equal(p.source, "feed:test");
	assert_string_equal(p.customer_name, "Jan");
	assert_string_equal(p.site, "main");
	assert_int_equal(p.due_at, due);
	assert_int_equal(p.next_step_at, due);   /* the default scheduler */
	promise_clear(&p);

	/* Same answer again: nothing changes. */
	assert_int_equal(do_sync(f, items, 3, NOW + 60, &res), 0);
	assert_int_equal(res.unchanged, 3);
	assert_int_equal(res.added + res.moved + res.updated, 0);

	/* a's DUE moves, b completes (after its due: late), c is gone. */
	items[0].due_at = due + 2 * HOUR;
	items[1].completed = 1;
	items[1].completed_at = due + HOUR;
	assert_int_equal(do_sync(f, items, 2, NOW + 120, &res), 0);
	assert_int_equal(res.moved, 1);
	assert_int_equal(res.completed, 1);
	assert_int_equal(res.removed, 1);
	get(f, "feed:test:a", &p);
	assert_int_equal(p.due_at, due + 2 * HOUR);
	assert_int_equal(p.next_step_at, due + 2 * HOUR);
	assert_true(last_event(f, p.id, EVENT_CHANGED, "changed by feed test"));
	promise_clear(&p);
	get(f, "feed:test:b", &p);
	assert_int_equal(p.state, PROMISE_CLOSED);
	assert_int_equal(p.outcome, OUTCOME_LATE);
	promise_clear(&p);
	get(f, "feed:test:c", &p);
	assert_int_equal(p.state, PROMISE_CLOSED);
	assert_int_equal(p.outcome, OUTCOME_CANCELLED);
	assert_int_equal(p.next_step_at, 0);
	assert_true(last_event(f, p.id, EVENT_CLOSED, "gone from feed test"));
	promise_clear(&p);
}

static void
test_sync_closed_not_reopened(void **state)
{
	struct fx *f = *state;
	struct feed_item items[2];
	struct store_feed_result res;
	struct promise p;
	int64_t due = utc(2026, 12, 4, 15, 0), id;
	size_t ev;

	items[0] = mk("feed:test:a", due);
	items[1] = mk("feed:test:b", due);
	items[0].sequence = 1;
	assert_int_equal(do_sync(f, items, 2, NOW, &res), 0);
	get(f, "feed:test:a", &p);
	/* Closed in promised: the next syncs do not undo that... */
	assert_int_equal(store_close_promise(f->st, p.id, OUTCOME_KEPT, "alice",
					     NULL, NOW + 10, f->err,
					     sizeof(f->err)), 0);
	ev = nevents(f, p.id);
	items[0].due_at = due + HOUR;   /* moved, but SEQUENCE unchanged */
	assert_int_equal(do_sync(f, items, 2, NOW + 20, &res), 0);
	promise_clear(&p);
	get(f, "feed:test:a", &p);
	assert_int_equal(p.state, PROMISE_CLOSED);
	assert_int_equal(p.due_at, due);
	assert_int_equal(nevents(f, p.id), ev);
	promise_clear(&p);
	/* ...until the calendar item itself changes (SEQUENCE grows). */
	items[0].sequence = 2;
	assert_int_equal(do_sync(f, items, 2, NOW + 30, &res), 0);
	assert_int_equal(res.reopened, 1);
	get(f, "feed:test:a", &p);
	assert_int_equal(p.state, PROMISE_OPEN);
	assert_int_equal(p.due_at, due + HOUR);
	assert_true(last_event(f, p.id, EVENT_REOPENED, "feed test"));
	id = p.id;
	promise_clear(&p);
	/* A newer LAST-MODIFIED counts as a change as well. */
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "alice",
					     NULL, NOW + 40, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(do_sync(f, items, 2, NOW + 50, &res), 0);
	assert_int_equal(res.reopened, 0);
	items[0].last_modified = NOW + 45;
	assert_int_equal(do_sync(f, items, 2, NOW + 60, &res), 0);
	assert_int_equal(res.reopened, 1);
}

/* ---- Safety valve: one test per case --------------------------------------- */

#define VALVE_N 4

/* Four open promises from the feed, and a snapshot of them. */
struct snap {
	int64_t due[VALVE_N], updated[VALVE_N];
	size_t events[VALVE_N];
	enum promise_state state[VALVE_N];
};

static const char *const valve_refs[VALVE_N] = {
	"feed:test:v0", "feed:test:v1", "feed:test:v2", "feed:test:v3",
};

static void
valve_seed(struct fx *f)
{
	struct feed_item items[VALVE_N];
	size_t i;

	for (i = 0; i < VALVE_N; i++)
		items[i] = mk(valve_refs[i], utc(2026, 12, 4, 15, 0) +
			      (int64_t)i * HOUR);
	assert_int_equal(do_sync(f, items, VALVE_N, NOW, NULL), 0);
}

static void
valve_snap(struct fx *f, struct snap *s)
{
	struct promise p;
	size_t i;

	for (i = 0; i < VALVE_N; i++) {
		get(f, valve_refs[i], &p);
		s->due[i] = p.due_at;
		s->updated[i] = p.updated_at;
		s->state[i] = p.state;
		s->events[i] = nevents(f, p.id);
		promise_clear(&p);
	}
}

/* What the fetcher does with an answer: parse, then sync; the result of
 * whichever step refused it. */
static int
valve_apply(struct fx *f, const char *data)
{
	struct feed_opts o = opts();
	struct feed_items l;
	int rc;

	memset(&l, 0, sizeof(l));
	rc = feed_parse(data, strlen(data), &o, NOW + 600, feed_items_add, &l,
			NULL, f->err, sizeof(f->err));
	if (rc == 0)
		rc = store_feed_sync(f->st, "test", l.v, l.n, 0.5, NULL,
				     NOW + 600, NULL, f->err, sizeof(f->err));
	feed_items_free(&l);
	return rc;
}

static void
valve_untouched(struct fx *f, const struct snap *before)
{
	struct snap after;
	size_t i;

	valve_snap(f, &after);
	for (i = 0; i < VALVE_N; i++) {
		assert_int_equal(after.state[i], PROMISE_OPEN);
		assert_int_equal(after.due[i], before->due[i]);
		assert_int_equal(after.updated[i], before->updated[i]);
		assert_int_equal(after.events[i], before->events[i]);
	}
}

static void
test_valve_empty(void **state)
{
	struct fx *f = *state;
	struct snap s;

	valve_seed(f);
	valve_snap(f, &s);
	/* An empty body, and a calendar without a single item. */
	assert_int_equal(valve_apply(f, ""), -1);
	assert_non_null(strstr(f->err, "empty"));
	valve_untouched(f, &s);
	assert_int_equal(valve_apply(f, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
				     "END:VCALENDAR\r\n"), STORE_REFUSED);
	assert_non_null(strstr(f->err, "no items"));
	valve_untouched(f, &s);
}

static void
test_valve_unparseable(void **state)
{
	struct fx *f = *state;
	struct snap s;

	valve_seed(f);
	valve_snap(f, &s);
	assert_int_equal(valve_apply(f, "<html><h1>503 Service Unavailable"
				     "</h1></html>\n"), -1);
	assert_non_null(strstr(f->err, "not an iCalendar"));
	valve_untouched(f, &s);
}

static void
test_valve_truncated(void **state)
{
	struct fx *f = *state;
	struct snap s;

	valve_seed(f);
	valve_snap(f, &s);
	/* The answer broke off after the first item. */
	assert_int_equal(valve_apply(f, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
		"BEGIN:VTODO\r\nUID:v0\r\nDUE:20261204T150000Z\r\n"
		"SUMMARY:Call back\r\nEND:VTODO\r\nBEGIN:VTODO\r\nUID:v1\r\n"
		"DUE:2026120"), -1);
	assert_non_null(strstr(f->err, "truncated"));
	valve_untouched(f, &s);
}

static void
test_valve_too_many_cancelled(void **state)
{
	struct fx *f = *state;
	struct store_feed_result res;
	struct feed_item items[2];
	struct snap s;

	valve_seed(f);
	valve_snap(f, &s);
	/* Only v0 is left: 3 of 4 open promises (75 %) would go. */
	assert_int_equal(valve_apply(f, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
		"BEGIN:VTODO\r\nUID:v0\r\nDUE:20261204T150000Z\r\n"
		"SUMMARY:Call back\r\nX-PROMISED-OWNER:alice\r\nEND:VTODO\r\n"
		"END:VCALENDAR\r\n"), STORE_REFUSED);
	assert_non_null(strstr(f->err, "would cancel 3 of its 4"));
	valve_untouched(f, &s);
	/* Exactly half (2 of 4) is still applied. */
	items[0] = mk(valve_refs[0], s.due[0]);
	items[1] = mk(valve_refs[1], s.due[1]);
	assert_int_equal(do_sync(f, items, 2, NOW + 700, &res), 0);
	assert_int_equal(res.removed, 2);
}

/* The item-by-item run checks the valve only at its end: items applied
 * before it (a moved due, a new promise) are rolled back with the rest. */
static void
test_stream_refused_rolls_back(void **state)
{
	struct fx *f = *state;
	struct store_feed_result res;
	struct store_feed_run *run;
	struct feed_item it;
	struct promise p;
	struct snap s;

	valve_seed(f);
	valve_snap(f, &s);
	assert_int_equal(store_feed_begin(f->st, "test", 0.5, NULL, NOW + 600,
					  &res, &run, f->err,
					  sizeof(f->err)), 0);
	it = mk(valve_refs[0], s.due[0] + DAY);
	assert_int_equal(store_feed_item(run, &it, f->err, sizeof(f->err)), 0);
	it = mk("feed:test:new", s.due[0]);
	assert_int_equal(store_feed_item(run, &it, f->err, sizeof(f->err)), 0);
	/* v1..v3 (3 of 4 open) are missing. */
	assert_int_equal(store_feed_end(run, STORE_OK, f->err,
					sizeof(f->err)), STORE_REFUSED);
	assert_non_null(strstr(f->err, "would cancel 3 of its 4"));
	assert_int_equal(res.open_before, 4);
	assert_int_equal(res.added + res.moved + res.removed, 0);
	valve_untouched(f, &s);
	assert_int_equal(store_get_by_ref(f->st, "feed:test:new", &p, f->err,
					  sizeof(f->err)), STORE_NOTFOUND);
}

/* Feed order: the first item of a ref counts, later ones are duplicates;
 * an item without a ref fails the run, which then applies nothing. */
static void
test_stream_duplicates_and_failure(void **state)
{
	struct fx *f = *state;
	struct store_feed_result res;
	struct store_feed_run *run;
	struct feed_item it[3], noref;
	struct promise p;
	int64_t due = utc(2026, 12, 4, 15, 0);
	size_t i;

	it[0] = mk("feed:test:a", due);
	it[1] = mk("feed:test:b", due);
	it[2] = mk("feed:test:a", due + DAY);
	noref = mk(NULL, due);
	assert_int_equal(store_feed_begin(f->st, "test", 0.5, NULL, NOW, &res,
					  &run, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_feed_item(run, &it[0], f->err,
					 sizeof(f->err)), 0);
	assert_int_equal(store_feed_item(run, &noref, f->err,
					 sizeof(f->err)), STORE_INVALID);
	assert_non_null(strstr(f->err, "has no ref"));
	/* Later items do nothing and report the failure again. */
	assert_int_equal(store_feed_item(run, &it[1], f->err,
					 sizeof(f->err)), STORE_INVALID);
	assert_int_equal(store_feed_end(run, STORE_INVALID, f->err,
					sizeof(f->err)), STORE_INVALID);
	assert_int_equal(store_get_by_ref(f->st, "feed:test:a", &p, f->err,
					  sizeof(f->err)), STORE_NOTFOUND);
	assert_int_equal(store_feed_begin(f->st, "test", 0.5, NULL, NOW, &res,
					  &run, f->err, sizeof(f->err)), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(store_feed_item(run, &it[i], f->err,
						 sizeof(f->err)), 0);
	assert_int_equal(store_feed_end(run, STORE_OK, f->err,
					sizeof(f->err)), 0);
	assert_int_equal(res.added, 2);
	assert_int_equal(res.duplicates, 1);
	get(f, "feed:test:a", &p);
	assert_true(p.due_at == due);
	assert_true(p.next_step_at == due);   /* the default scheduler */
	assert_int_equal(nevents(f, p.id), 1);
	assert_true(last_event(f, p.id, EVENT_CREATED, "from feed test: due "));
	promise_clear(&p);
	assert_int_equal(store_feed_begin(f->st, "", 0.5, NULL, NOW, &res,
					  &run, f->err, sizeof(f->err)),
			 STORE_INVALID);
	assert_null(run);
}

static void
test_feed_status(void **state)
{
	struct fx *f = *state;
	struct store_feed_status s, got, *all;
	size_t n;

	memset(&s, 0, sizeof(s));
	s.name = (char *)"workshop";
	s.url = (char *)"https://cal.example/workshop.ics";
	s.etag = (char *)"\"abc\"";
	s.last_ok_at = NOW;
	s.last_try_at = NOW + 300;
	s.last_error = (char *)"feed workshop answered with no items";
	s.items = 12;
	s.failing = 1;
	assert_int_equal(store_feed_status_set(f->st, &s, f->err,
					       sizeof(f->err)), 0);
	assert_int_equal(store_feed_status_get(f->st, "workshop", &got, f->err,
					       sizeof(f->err)), 0);
	assert_string_equal(got.etag, "\"abc\"");
	assert_int_equal(got.failing, 1);
	assert_int_equal(got.items, 12);
	assert_int_equal(got.last_try_at, NOW + 300);
	assert_null(got.last_modified);
	store_feed_status_clear(&got);
	s.failing = 0;
	s.last_error = NULL;
	assert_int_equal(store_feed_status_set(f->st, &s, f->err,
					       sizeof(f->err)), 0);
	assert_int_equal(store_feed_status_list(f->st, &all, &n, f->err,
						sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].failing, 0);
	assert_null(all[0].last_error);
	store_feed_status_free_array(all, n);
	assert_int_equal(store_feed_status_get(f->st, "nope", &got, f->err,
					       sizeof(f->err)), STORE_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_mapping),
		cmocka_unit_test(test_use_dtend_and_filters),
		cmocka_unit_test(test_windows_and_prefixed_zones),
		cmocka_unit_test(test_tz_resolve),
		cmocka_unit_test(test_floating_and_all_day),
		cmocka_unit_test(test_recurrence),
		cmocka_unit_test(test_recurrence_cap),
		cmocka_unit_test(test_subdaily_rule_on_a_date),
		cmocka_unit_test(test_rejected_documents),
		cmocka_unit_test(test_many_items),
		cmocka_unit_test(test_parse_fd),
		cmocka_unit_test_setup_teardown(test_sync_lifecycle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sync_closed_not_reopened,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_valve_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_valve_unparseable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_valve_truncated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_valve_too_many_cancelled,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_refused_rolls_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stream_duplicates_and_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_status, setup,
						teardown),
	};

	site_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
