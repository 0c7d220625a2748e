/*
 * calendar: sites — an IANA time zone, weekly business hours and holidays —
 * and the conversions between UTC instants and a site's local time.  Pure:
 * every function takes the instant it reasons about; none reads the clock.
 * Local -> UTC follows RFC 5545: a local time inside a DST gap moves
 * forward by the gap, a repeated local time means its first occurrence.
 */
#ifndef PROMISED_CALENDAR_H
#define PROMISED_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#define CAL_MAX_RANGES 4

/* One opening of a day, minutes after local midnight: open < close <= 1440. */
struct cal_range {
	int open;
	int close;
};

struct cal_site {
	char *id;
	char *tz;                                    /* IANA name */
	struct cal_range hours[7][CAL_MAX_RANGES];   /* [0] = Monday */
	int nranges[7];                              /* 0: closed that day */
	int64_t *holidays;                           /* civil day numbers, sorted */
	size_t nholidays;
};

/* A broken-down local time. */
struct cal_local {
	int year, month, day;        /* month 1-12 */
	int hour, min, sec;
	int weekday;                 /* 0 = Monday ... 6 = Sunday */
	int64_t days;                /* civil day number (util_days_from_civil) */
	int utcoff;                  /* seconds east of UTC */
};

/* Returns 1 when tz names a zone this system knows, else 0. */
int cal_tz_valid(const char *tz);
/* Converts instant t to local time in zone tz; 0 or -1. */
int cal_to_local(const char *tz, int64_t t, struct cal_local *out);
/* Converts a local wall time in zone tz to UTC with the RFC 5545 rule;
 * *shifted (if not NULL) is set to 1 when the time fell in a gap. 0 / -1. */
int cal_from_local(const char *tz, int year, int month, int day, int hour,
		   int min, int sec, int64_t *out, int *shifted);
/* The first instant (local midnight, or the end of a gap over it) of
 * civil day `days` in zone tz; 0 / -1. */
int cal_day_start(const char *tz, int64_t days, int64_t *out);

/* 1 when the civil day is a holiday of the site. */
int cal_is_holiday(const struct cal_site *s, int64_t days);
/* 1 when the civil day has opening hours and is no holiday. */
int cal_is_business_day(const struct cal_site *s, int64_t days);
/* The first business day strictly after civil day `days` (bounded search:
 * -1 when the site has no business day at all). */
int64_t cal_next_business_day(const struct cal_site *s, int64_t days);
/* 1 when the site is open at instant t. */
int cal_is_open(const struct cal_site *s, int64_t t);
/* t itself when the site is open at t, else the next opening instant;
 * -1 when the site never opens. */
int64_t cal_next_open(const struct cal_site *s, int64_t t);
/* Opening / closing instant of the business day `days` (first range's
 * open, last range's close); -1 when that day has no hours. */
int64_t cal_day_open(const struct cal_site *s, int64_t days);
int64_t cal_day_close(const struct cal_site *s, int64_t days);

/* Formats t in the site's zone as "2026-11-29 17:00" (with " +01:00" when
 * with_offset). */
void cal_format_local(const char *tz, int64_t t, int with_offset,
		      char *buf, size_t buflen);

/* Releases the strings and arrays of s (not s itself). */
void cal_site_clear(struct cal_site *s);

#endif
