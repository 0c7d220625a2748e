/*
 * calendar: conversions between UTC instants and a site's local time, and
 * the site's business hours and holidays.
 *
 * Zone rules come from the system's tz database through glibc: the TZ
 * variable is set to the zone of each call and left set until another
 * zone is needed (see tz_enter); tz_lock makes each conversion whole
 * when a feed's parse thread converts too.
 * Local -> UTC is done here rather than with mktime or libical so that the
 * RFC 5545 rule holds exactly: a local time inside a gap moves forward by
 * the gap, a repeated local time means its first occurrence.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promised/calendar.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define SEARCH_DAYS 400      /* longer than any year: bounds every search */
#define TZ_NAME_MAX 128

/* TZ, glibc's loaded zone and the caches below are one state for the
 * process: a feed is parsed on a thread of its own while the caller
 * stores its items and computes schedules (feed.c). */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *
zone_or_utc(const char *tz)
{
	return (tz == NULL || *tz == '\0') ? "UTC" : tz;
}

static const char *
zone_dir(void)
{
	const char *d = util_getenv("TZDIR");

	return (d != NULL && *d != '\0') ? d : "/usr/share/zoneinfo";
}

/* Names are path components below the zone folder: letters, digits and
 * "_+-/" only, so a name can neither escape the folder nor carry a POSIX
 * rule string that glibc would interpret instead of a file. */
static int
tz_name_ok(const char *tz)
{
	const char *p;
	size_t len = strlen(tz);

	if (len == 0 || len >= TZ_NAME_MAX || tz[0] == '/' ||
	    strstr(tz, "..") != NULL || tz[len - 1] == '/')
		return 0;
	for (p = tz; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '+' ||
		      c == '-' || c == '/'))
			return 0;
	}
	return 1;
}

static int
tz_valid_locked(const char *tz)
{
	/* The last name found valid: callers convert in the same few zones
	 * over and over, and each check otherwise opens a file. */
	static char last_ok[TZ_NAME_MAX];
	char path[4096], magic[4];
	FILE *f;
	int ok = 0;

	if (tz == NULL || !tz_name_ok(tz))
		return 0;
	if (strcmp(tz, "UTC") == 0 || strcmp(tz, last_ok) == 0)
		return 1;
	if (snprintf(path, sizeof(path), "%s/%s", zone_dir(), tz) >=
	    (int)sizeof(path))
		return 0;
	f = fopen(path, "rb");
	if (f == NULL)
		return 0;
	if (fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	    memcmp(magic, "TZif", 4) == 0)
		ok = 1;
	(void)fclose(f); /* read only: nothing to lose */
	if (ok)
		util_strlcpy(last_ok, tz, sizeof(last_ok));
	return ok;
}

int
cal_tz_valid(const char *tz)
{
	int ok;

	pthread_mutex_lock(&tz_lock);
	ok = tz_valid_locked(tz);
	pthread_mutex_unlock(&tz_lock);
	return ok;
}

/* Makes tz the zone of localtime_r; -1 when the zone is unknown.  Called
 * with tz_lock held, until the conversion is done.
 *
 * TZ is left set to the last zone used: a burst of conversions in one
 * zone then costs no tzset() at all, where putting TZ back after each
 * call read two zone files per conversion.  Leaving it set also keeps
 * glibc right when a library calls tzset() behind our back (libical's
 * ICU does): it reloads the same zone.  TZ changed by anyone else since
 * is noticed and set again. */
static int
tz_enter(const char *tz)
{
	static char loaded[TZ_NAME_MAX];
	const char *cur = util_getenv("TZ");

	tz = zone_or_utc(tz);
	if (!tz_valid_locked(tz))
		return -1;
	if (cur != NULL && strcmp(cur, tz) == 0 && strcmp(loaded, tz) == 0)
		return 0;
	/* setenv is MT-unsafe: see util_getenv in util.c for why this one
	 * writer of the environment is safe here (under tz_lock). */
	if ((cur == NULL || strcmp(cur, tz) != 0) &&
	    setenv("TZ", tz, 1) != 0) // NOLINT(concurrency-mt-unsafe): only writer, under tz_lock
		return -1;
	tzset();
	util_strlcpy(loaded, tz, sizeof(loaded));
	return 0;
}

/* Wall-clock seconds of a broken-down time, counted as if it were UTC. */
static int64_t
wall_seconds(int y, int mo, int d, int h, int mi, int s)
{
	return util_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
	       (int64_t)mi * 60 + s;
}

/* localtime_r in the current zone; fills out; 0 or -1. */
static int
local_now_zone(int64_t t, struct cal_local *out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int64_t wall;

	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return -1;
	out->year = tm.tm_year + 1900;
	out->month = tm.tm_mon + 1;
	out->day = tm.tm_mday;
	out->hour = tm.tm_hour;
	out->min = tm.tm_min;
	out->sec = tm.tm_sec;
	out->days = util_days_from_civil(out->year, out->month, out->day);
	out->weekday = util_weekday(out->days);
	wall = wall_seconds(out->year, out->month, out->day, tm.tm_hour,
			    tm.tm_min, tm.tm_sec);
	out->utcoff = (int)(wall - t);
	return 0;
}

static int
fields_valid(int y, int mo, int d, int h, int mi, int s)
{
	int y2, m2, d2;

	if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
		return 0;
	util_civil_from_days(util_days_from_civil(y, mo, d), &y2, &m2, &d2);
	return y2 == y && m2 == mo && d2 == d;
}

/*
 * RFC 5545 in the current zone.  The offsets in force a day before and a
 * day after bracket every transition that can touch this wall time; each
 * offset whose instant reads back as the same wall time is a solution.
 */
static int
from_local_zone(int64_t wall, int64_t *out, int *shifted)
{
	struct cal_local before, after, back;
	int64_t cand[2], best = 0;
	int i, found = 0;

	if (local_now_zone(wall - 86400, &before) != 0 ||
	    local_now_zone(wall + 86400, &after) != 0)
		return -1;
	cand[0] = wall - before.utcoff;
	cand[1] = wall - after.utcoff;
	for (i = 0; i < 2; i++) {
		if (local_now_zone(cand[i], &back) != 0)
			return -1;
		if (wall_seconds(back.year, back.month, back.day, back.hour,
				 back.min, back.sec) != wall)
			continue;
		if (!found || cand[i] < best)
			best = cand[i];
		found = 1;
	}
	if (shifted != NULL)
		*shifted = !found;
	/* In a gap the offset before it carries the wall time forward by
	 * exactly the gap's length. */
	*out = found ? best : cand[0];
	return 0;
}

int
cal_to_local(const char *tz, int64_t t, struct cal_local *out)
{
	int rc;

	pthread_mutex_lock(&tz_lock);
	rc = tz_enter(tz) != 0 ? -1 : local_now_zone(t, out);
	pthread_mutex_unlock(&tz_lock);
	return rc;
}

int
cal_from_local(const char *tz, int year, int month, int day, int hour,
	       int min, int sec, int64_t *out, int *shifted)
{
	int rc;

	if (shifted != NULL)
		*shifted = 0;
	if (!fields_valid(year, month, day, hour, min, sec))
		return -1;
	pthread_mutex_lock(&tz_lock);
	rc = tz_enter(tz) != 0 ? -1 :
	     from_local_zone(wall_seconds(year, month, day, hour, min, sec),
			     out, shifted);
	pthread_mutex_unlock(&tz_lock);
	return rc;
}

int
cal_day_start(const char *tz, int64_t days, int64_t *out)
{
	int y, m, d;

	util_civil_from_days(days, &y, &m, &d);
	return cal_from_local(tz, y, m, d, 0, 0, 0, out, NULL);
}

/* ---- business hours ------------------------------------------------------ */

int
cal_is_holiday(const struct cal_site *s, int64_t days)
{
	size_t lo = 0, hi;

	if (s == NULL || s->holidays == NULL)
		return 0;
	hi = s->nholidays;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->holidays[mid] == days)
			return 1;
		if (s->holidays[mid] < days)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
cal_is_business_day(const struct cal_site *s, int64_t days)
{
	if (s == NULL || s->nranges[util_weekday(days)] <= 0)
		return 0;
	return !cal_is_holiday(s, days);
}

int64_t
cal_next_business_day(const struct cal_site *s, int64_t days)
{
	int64_t d;

	for (d = days + 1; d <= days + SEARCH_DAYS; d++)
		if (cal_is_business_day(s, d))
			return d;
	return -1;
}

/* Minute `minute` (0..1440) of civil day `days` in the current zone. */
static int
minute_zone(int64_t days, int minute, int64_t *out)
{
	int y, m, d;

	if (minute == 1440) {
		days++;
		minute = 0;
	}
	util_civil_from_days(days, &y, &m, &d);
	return from_local_zone(wall_seconds(y, m, d, minute / 60, minute % 60, 0),
			       out, NULL);
}

static int
range_count(const struct cal_site *s, int64_t days)
{
	int n;

	if (!cal_is_business_day(s, days))
		return 0;
	n = s->nranges[util_weekday(days)];
	return n > CAL_MAX_RANGES ? CAL_MAX_RANGES : n;
}

/* Opening (which = 0) or closing (1) of a business day. */
static int64_t
day_edge(const struct cal_site *s, int64_t days, int which)
{
	const struct cal_range *r;
	int64_t t = -1;
	int n = range_count(s, days);

	if (n == 0)
		return -1;
	r = &s->hours[util_weekday(days)][which ? n - 1 : 0];
	pthread_mutex_lock(&tz_lock);
	if (tz_enter(s->tz) != 0 ||
	    minute_zone(days, which ? r->close : r->open, &t) != 0)
		t = -1;
	pthread_mutex_unlock(&tz_lock);
	return t;
}

int64_t
cal_day_open(const struct cal_site *s, int64_t days)
{
	return day_edge(s, days, 0);
}

int64_t
cal_day_close(const struct cal_site *s, int64_t days)
{
	return day_edge(s, days, 1);
}

/* With the site's zone in force: t when open at t, else the next opening
 * within the search bound, else -1.  Ranges are compared as instants so a
 * range that spans a DST change keeps its real length. */
static int64_t
next_open_zone(const struct cal_site *s, int64_t t)
{
	struct cal_local loc;
	int64_t d;
	int i, n;

	if (local_now_zone(t, &loc) != 0)
		return -1;
	for (d = loc.days; d <= loc.days + SEARCH_DAYS; d++) {
		const struct cal_range *r = s->hours[util_weekday(d)];

		n = range_count(s, d);
		for (i = 0; i < n; i++) {
			int64_t o, c;

			if (minute_zone(d, r[i].open, &o) != 0 ||
			    minute_zone(d, r[i].close, &c) != 0)
				return -1;
			if (c <= t)
				continue;
			return o <= t ? t : o;
		}
	}
	return -1;
}

int64_t
cal_next_open(const struct cal_site *s, int64_t t)
{
	int64_t r;

	if (s == NULL)
		return -1;
	pthread_mutex_lock(&tz_lock);
	r = tz_enter(s->tz) != 0 ? -1 : next_open_zone(s, t);
	pthread_mutex_unlock(&tz_lock);
	return r;
}

int
cal_is_open(const struct cal_site *s, int64_t t)
{
	return cal_next_open(s, t) == t;
}

void
cal_format_local(const char *tz, int64_t t, int with_offset, char *buf,
		 size_t buflen)
{
	struct cal_local l;
	int off, a;

	if (buf == NULL || buflen == 0)
		return;
	if (cal_to_local(tz, t, &l) != 0) {
		util_format_utc(t, buf, buflen);
		return;
	}
	if (!with_offset) {
		(void)snprintf(buf, buflen, "%04d-%02d-%02d %02d:%02d", l.year,
			       l.month,
			       l.day, l.hour, l.min);
		return;
	}
	off = l.utcoff;
	a = off < 0 ? -off : off;
	(void)snprintf(buf, buflen, "%04d-%02d-%02d %02d:%02d %c%02d:%02d",
		       l.year, l.month, l.day, l.hour, l.min,
		       off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
}

void
cal_site_clear(struct cal_site *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->tz);
	free(s->holidays);
	s->id = NULL;
	s->tz = NULL;
	s->holidays = NULL;
	s->nholidays = 0;
}
