/*
 * phrase: turns what staff type or say ("tomorrow morning", "vr 16:00",
 * "in 2h", "2026-12-01T09:00") into a due instant.  Pure: the caller passes
 * now, the site and the phrase table.
 */
#ifndef PROMISED_PHRASE_H
#define PROMISED_PHRASE_H

#include <stddef.h>
#include <stdint.h>

#include "promised/calendar.h"

enum phrase_day {
	PHRASE_DAY_TODAY = 0,          /* the local day of now */
	PHRASE_DAY_TOMORROW,           /* the next calendar day */
	PHRASE_DAY_THIS_BUSINESS_DAY,  /* today if a business day, else next */
	PHRASE_DAY_NEXT_BUSINESS_DAY,  /* first business day after today */
};

enum phrase_time {
	PHRASE_TIME_AT = 0,            /* `minute` after local midnight */
	PHRASE_TIME_OPENING,           /* the site's opening that day */
	PHRASE_TIME_CLOSING,           /* the site's closing that day */
};

/* One row of the phrase table: text (lower case, as typed) -> day rule and
 * a local time. */
struct phrase_rule {
	char *text;
	char *locale;                  /* "en", "nl", "fr" */
	enum phrase_day day;
	enum phrase_time time;
	int minute;                    /* for PHRASE_TIME_AT */
};

/* The shipped defaults for en, nl and fr (borrowed, static). */
const struct phrase_rule *phrase_defaults(size_t *n);
/* Parses "today", "tomorrow", "this_business_day", "next_business_day";
 * 0 or -1. */
int phrase_day_parse(const char *name, enum phrase_day *out);
const char *phrase_day_name(enum phrase_day d);

/*
 * Parses a due: ISO-8601 with an offset or Z (absolute), ISO-8601 without
 * one (the site's zone), "YYYY-MM-DD HH:MM", relative ("in 2h", "+30m",
 * "in 1h30m"), weekday + time in en/nl/fr ("fri 16:00", "vr 16:00",
 * "ven 16:00", the next such day strictly after now), "today 17:00",
 * "tomorrow 9:00", or a phrase of the table (case-insensitive).
 * Returns 0 with *out set, or -1 with a reason naming the input.
 *
 * Choices: a weekday means today when today is that weekday and the time
 * is still ahead, else the next one within seven days.  A date alone
 * ("2026-12-01") means that day's closing, or 23:59 local when the site is
 * closed that day.  Times are "16:00", "9:00", "9h" or "16h30"; a bare time
 * means today.  Phrases, "today ...", bare times and relative dues must
 * lie after now ("'tonight' is already past (20:00)"); absolute ISO-8601
 * dates are returned even when past, for the caller to refuse or accept.
 * Matching ignores case, extra blanks and accents ("apres-midi").
 */
int phrase_parse_due(const char *input, int64_t now,
		     const struct cal_site *site,
		     const struct phrase_rule *rules, size_t nrules,
		     int64_t *out, char *err, size_t errlen);

#endif
