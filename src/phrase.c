/*
 * phrase: reads a due as staff type it — ISO-8601, "in 2h", "fri 16:00",
 * "demain 9h", "tomorrow morning" — and turns it into a UTC instant on the
 * site's calendar.  Pure: now, the site and the phrase table are arguments.
 *
 * Input is folded before matching: trimmed, runs of blanks made one space,
 * ASCII lower-cased, Latin-1 accented letters written as their base letter
 * ("après-midi" matches "apres-midi") and typographic apostrophes made
 * plain, so what a phone keyboard produces matches the table.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "promised/calendar.h"
#include "promised/phrase.h"
#include "promised/util.h"

#define PHRASE_MAX 200      /* longer input is certainly no due */
#define SHOWN_MAX 48        /* how much of the input an error quotes */

static const struct phrase_rule defaults[] = {
	{ (char *)"tonight", (char *)"en", PHRASE_DAY_TODAY, PHRASE_TIME_AT, 20 * 60 },
	{ (char *)"tomorrow morning", (char *)"en", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_AT, 12 * 60 },
	{ (char *)"tomorrow afternoon", (char *)"en", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_AT, 17 * 60 },
	{ (char *)"end of day", (char *)"en", PHRASE_DAY_THIS_BUSINESS_DAY,
	  PHRASE_TIME_CLOSING, 0 },
	{ (char *)"next business day", (char *)"en", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_CLOSING, 0 },
	{ (char *)"vanavond", (char *)"nl", PHRASE_DAY_TODAY, PHRASE_TIME_AT, 20 * 60 },
	{ (char *)"morgenvoormiddag", (char *)"nl", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_AT, 12 * 60 },
	{ (char *)"morgennamiddag", (char *)"nl", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_AT, 17 * 60 },
	{ (char *)"einde van de dag", (char *)"nl", PHRASE_DAY_THIS_BUSINESS_DAY,
	  PHRASE_TIME_CLOSING, 0 },
	{ (char *)"volgende werkdag", (char *)"nl", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_CLOSING, 0 },
	{ (char *)"ce soir", (char *)"fr", PHRASE_DAY_TODAY, PHRASE_TIME_AT, 20 * 60 },
	{ (char *)"demain matin", (char *)"fr", PHRASE_DAY_NEXT_BUSINESS_DAY,
	  PHRASE_TIME_AT, 12 * 60 },
	{ (char *)"demain apr\xc3\xa8s-midi", (char *)"fr",
	  PHRASE_DAY_NEXT_BUSINESS_DAY, PHRASE_TIME_AT, 17 * 60 },
	{ (char *)"fin de journ\xc3\xa9" "e", (char *)"fr",
	  PHRASE_DAY_THIS_BUSINESS_DAY, PHRASE_TIME_CLOSING, 0 },
	{ (char *)"prochain jour ouvrable", (char *)"fr",
	  PHRASE_DAY_NEXT_BUSINESS_DAY, PHRASE_TIME_CLOSING, 0 },
};

static const char *const day_names[] = {
	[PHRASE_DAY_TODAY] = "today",
	[PHRASE_DAY_TOMORROW] = "tomorrow",
	[PHRASE_DAY_THIS_BUSINESS_DAY] = "this_business_day",
	[PHRASE_DAY_NEXT_BUSINESS_DAY] = "next_business_day",
};

#define NDAYNAMES (sizeof(day_names) / sizeof(*day_names))

/* Words that start "<day> <time>": relative days and weekdays in en, nl
 * and fr, short and long.  weekday -1 = today, -2 = tomorrow. */
static const struct {
	const char *word;
	int weekday;
} day_words[] = {
	{ "today", -1 }, { "vandaag", -1 }, { "aujourd'hui", -1 },
	{ "tomorrow", -2 }, { "morgen", -2 }, { "demain", -2 },
	{ "mon", 0 }, { "monday", 0 }, { "ma", 0 }, { "maandag", 0 },
	{ "lun", 0 }, { "lundi", 0 },
	{ "tue", 1 }, { "tues", 1 }, { "tuesday", 1 }, { "di", 1 },
	{ "dinsdag", 1 }, { "mar", 1 }, { "mardi", 1 },
	{ "wed", 2 }, { "wednesday", 2 }, { "wo", 2 }, { "woensdag", 2 },
	{ "mer", 2 }, { "mercredi", 2 },
	{ "thu", 3 }, { "thur", 3 }, { "thurs", 3 }, { "thursday", 3 },
	{ "do", 3 }, { "donderdag", 3 }, { "jeu", 3 }, { "jeudi", 3 },
	{ "fri", 4 }, { "friday", 4 }, { "vr", 4 }, { "vrijdag", 4 },
	{ "ven", 4 }, { "vendredi", 4 },
	{ "sat", 5 }, { "saturday", 5 }, { "za", 5 }, { "zaterdag", 5 },
	{ "sam", 5 }, { "samedi", 5 },
	{ "sun", 6 }, { "sunday", 6 }, { "zo", 6 }, { "zondag", 6 },
	{ "dim", 6 }, { "dimanche", 6 },
};

/* Words that may stand between the day and the time ("fri at 16:00"). */
static const char *const connectors[] = { "at ", "om ", "a " };

/* Prefixes of a relative due; the sign stays with the duration. */
static const struct {
	const char *prefix;
	size_t skip;
} rel_prefixes[] = {
	{ "in ", 3 }, { "over ", 5 }, { "dans ", 5 }, { "+", 0 }, { "-", 0 },
};

/* Base letters of U+00C0..U+00FF ('.' = kept as it is). */
static const char latin1_fold[] =
	"aaaaaa.ceeeeiiii.nooooo.ouuuuy.." "aaaaaa.ceeeeiiii.nooooo.ouuuuy.y";

struct ctx {
	const char *shown;           /* the input as errors quote it */
	const char *text;            /* folded input */
	int64_t now;
	const struct cal_site *site;
	struct cal_local today;      /* now in the site's zone */
	const struct phrase_rule *rules;
	size_t nrules;
	int64_t *out;
	char *err;
	size_t errlen;
};

const struct phrase_rule *
phrase_defaults(size_t *n)
{
	if (n != NULL)
		*n = sizeof(defaults) / sizeof(*defaults);
	return defaults;
}

int
phrase_day_parse(const char *name, enum phrase_day *out)
{
	size_t i;

	for (i = 0; name != NULL && i < NDAYNAMES; i++) {
		if (strcmp(name, day_names[i]) == 0) {
			*out = (enum phrase_day)i;
			return 0;
		}
	}
	return -1;
}

const char *
phrase_day_name(enum phrase_day d)
{
	if ((size_t)d >= NDAYNAMES)
		return "?";
	return day_names[d];
}

/* Folds s (see the file comment) into out; -1 when it does not fit. */
static int
fold(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	int space = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	for (; *p != '\0'; p++) {
		char c = (char)tolower(*p < 0x80 ? *p : 0);

		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = 1;
			continue;
		}
		if (*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF &&
		    latin1_fold[p[1] - 0x80] != '.') {
			c = latin1_fold[*++p - 0x80];
		} else if (*p == 0xE2 && p[1] == 0x80 &&
			   (p[2] == 0x98 || p[2] == 0x99)) {
			c = '\'';
			p += 2;
		} else if (*p >= 0x80) {
			c = (char)*p;
		}
		if (n + (size_t)space + 2 > outlen)
			return -1;
		if (space && n > 0)
			out[n++] = ' ';
		space = 0;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* The input as an error message quotes it: trimmed and, when long, cut at
 * a character boundary. */
static void
quote_input(const char *in, char *out, size_t outlen)
{
	size_t len;

	while (isspace((unsigned char)*in))
		in++;
	len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len < outlen) {
		memcpy(out, in, len);
		out[len] = '\0';
		return;
	}
	len = outlen - 4;
	while (len > 0 && ((unsigned char)in[len] & 0xC0) == 0x80)
		len--;
	memcpy(out, in, len);
	memcpy(out + len, "...", 4);
}

/* ---- resolving ----------------------------------------------------------- */

/* Minute `minute` of civil day `days` in the site's zone (RFC 5545). */
static int
at_minute(const struct ctx *c, int64_t days, int minute, int64_t *out)
{
	int y, m, d;

	if (minute >= 1440) {
		days += minute / 1440;
		minute %= 1440;
	}
	util_civil_from_days(days, &y, &m, &d);
	return cal_from_local(c->site->tz, y, m, d, minute / 60, minute % 60, 0,
			      out, NULL);
}

/* Accepts t only when it lies after now: a phrase naming a moment that
 * has gone by is a slip, not a promise. */
static int
future(struct ctx *c, int64_t t)
{
	struct cal_local l;

	if (t > c->now) {
		*c->out = t;
		return 1;
	}
	if (cal_to_local(c->site->tz, t, &l) != 0)
		l.hour = l.min = 0;
	util_seterr(c->err, c->errlen, "'%s' is already past (%02d:%02d)",
		    c->shown, l.hour, l.min);
	return -1;
}

static int64_t
rule_day(const struct ctx *c, enum phrase_day d)
{
	int64_t today = c->today.days;

	switch (d) {
	case PHRASE_DAY_TODAY:
		return today;
	case PHRASE_DAY_TOMORROW:
		return today + 1;
	case PHRASE_DAY_THIS_BUSINESS_DAY:
		if (cal_is_business_day(c->site, today))
			return today;
		return cal_next_business_day(c->site, today);
	case PHRASE_DAY_NEXT_BUSINESS_DAY:
		return cal_next_business_day(c->site, today);
	}
	return -1;
}

static int
resolve_rule(struct ctx *c, const struct phrase_rule *r)
{
	int64_t d = rule_day(c, r->day), t = -1;
	int y, m, dd;

	if (d < 0) {
		util_seterr(c->err, c->errlen,
			    "'%s': site '%s' has no business days", c->shown,
			    c->site->id ? c->site->id : "?");
		return -1;
	}
	if (r->time == PHRASE_TIME_AT) {
		if (at_minute(c, d, r->minute, &t) != 0)
			t = -1;
	} else if (r->time == PHRASE_TIME_OPENING) {
		t = cal_day_open(c->site, d);
	} else {
		t = cal_day_close(c->site, d);
	}
	if (t < 0) {
		util_civil_from_days(d, &y, &m, &dd);
		util_seterr(c->err, c->errlen,
			    "'%s': the site has no opening hours on %04d-%02d-%02d",
			    c->shown, y, m, dd);
		return -1;
	}
	return future(c, t);
}

/* ---- forms --------------------------------------------------------------- */
/* Each form returns 1 (read, *out set), 0 (not this form) or -1 (this
 * form, but wrong; err set). */

static int
form_phrase(struct ctx *c)
{
	char buf[PHRASE_MAX + 1];
	size_t i;

	for (i = 0; i < c->nrules; i++) {
		if (c->rules[i].text == NULL ||
		    fold(c->rules[i].text, buf, sizeof(buf)) != 0)
			continue;
		if (strcmp(buf, c->text) == 0)
			return resolve_rule(c, &c->rules[i]);
	}
	return 0;
}

/* n digits at s into *v; 0 or -1. */
static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* "16:00", "9:00", "9h", "16h30", "16u30" as minutes after midnight.
 * 0, -1 (not a time) or -2 (a time out of range, such as 25:00). */
static int
parse_time(const char *s, int *minute)
{
	int h, m = 0;
	size_t nd = 0;

	while (nd < 3 && isdigit((unsigned char)s[nd]))
		nd++;
	if (nd < 1 || nd > 2 || digits(s, (int)nd, &h) != 0)
		return -1;
	s += nd;
	if (*s != ':' && *s != 'h' && *s != 'u')
		return -1;
	if (*s++ == ':' || *s != '\0') {
		if (strlen(s) != 2 || digits(s, 2, &m) != 0)
			return -1;
	}
	if (h > 23 || m > 59)
		return -2;
	*minute = h * 60 + m;
	return 0;
}

static int
time_error(struct ctx *c, const char *t)
{
	util_seterr(c->err, c->errlen,
		    "cannot read due '%s': '%s' is not a time of day "
		    "(00:00 to 23:59)", c->shown, t);
	return -1;
}

/* A bare time means today at that time. */
static int
form_time(struct ctx *c)
{
	int minute, rc = parse_time(c->text, &minute);
	int64_t t;

	if (rc == -1)
		return 0;
	if (rc == -2)
		return time_error(c, c->text);
	if (at_minute(c, c->today.days, minute, &t) != 0)
		return -1;
	return future(c, t);
}

static int
find_day_word(const char *w, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(day_words) / sizeof(*day_words); i++)
		if (strlen(day_words[i].word) == len &&
		    strncmp(day_words[i].word, w, len) == 0)
			return (int)i;
	return -1;
}

/* "fri 16:00": the first such weekday whose time is still ahead — today
 * when today is that weekday and the time has not passed, else within the
 * next seven days.  "today 17:00" and "tomorrow 9:00" name their day. */
static int
form_day_word(struct ctx *c)
{
	const char *sp = strchr(c->text, ' '), *rest;
	int k, minute, rc, wd;
	size_t i;
	int64_t d, t;

	k = find_day_word(c->text, sp ? (size_t)(sp - c->text) : strlen(c->text));
	if (k < 0)
		return 0;
	if (sp == NULL) {
		util_seterr(c->err, c->errlen,
			    "cannot read due '%s': add a time, e.g. '%s 16:00'",
			    c->shown, day_words[k].word);
		return -1;
	}
	rest = sp + 1;
	for (i = 0; i < sizeof(connectors) / sizeof(*connectors); i++)
		if (strncmp(rest, connectors[i], strlen(connectors[i])) == 0)
			rest += strlen(connectors[i]);
	rc = parse_time(rest, &minute);
	if (rc == -1)
		return 0;
	if (rc == -2)
		return time_error(c, rest);
	wd = day_words[k].weekday;
	d = c->today.days + (wd == -2 ? 1 : 0);
	if (wd >= 0)
		d += (wd - c->today.weekday + 7) % 7;
	if (at_minute(c, d, minute, &t) != 0)
		return -1;
	if (wd >= 0 && t <= c->now && at_minute(c, d + 7, minute, &t) != 0)
		return -1;
	return future(c, t);
}

static int
form_relative(struct ctx *c)
{
	char dur[PHRASE_MAX + 1];
	const char *p = NULL;
	size_t i, n = 0;
	int64_t secs;

	for (i = 0; i < sizeof(rel_prefixes) / sizeof(*rel_prefixes); i++) {
		if (strncmp(c->text, rel_prefixes[i].prefix,
			    strlen(rel_prefixes[i].prefix)) == 0) {
			p = c->text + rel_prefixes[i].skip;
			break;
		}
	}
	if (p == NULL)
		return 0;
	for (; *p != '\0'; p++)          /* "in 1h 30m" reads as "1h30m" */
		if (*p != ' ')
			dur[n++] = *p;
	dur[n] = '\0';
	if (util_parse_duration(dur, &secs) != 0) {
		util_seterr(c->err, c->errlen,
			    "cannot read due '%s': expected a duration such as "
			    "'in 2h', 'in 30m' or 'in 1h30m'", c->shown);
		return -1;
	}
	if (secs <= 0) {
		util_seterr(c->err, c->errlen,
			    "'%s' is not ahead of now: a relative due must be "
			    "positive", c->shown);
		return -1;
	}
	*c->out = c->now + secs;
	return 1;
}

/* ---- ISO-8601 ------------------------------------------------------------ */

struct iso {
	int y, mo, d, h, mi, s;
	int has_time, has_off, off;   /* off: seconds east of UTC */
};

/* "z", "+01:00", "+0100" or "+01" at s; 0 or -1. */
static int
iso_offset(const char *s, struct iso *v)
{
	int oh, om = 0, sign;

	if (*s == '\0')
		return 0;
	v->has_off = 1;
	if (strcmp(s, "z") == 0)
		return 0;
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s++ == '-' ? -1 : 1;
	if (digits(s, 2, &oh) != 0)
		return -1;
	s += 2;
	if (*s == ':')
		s++;
	if (*s != '\0' && (strlen(s) != 2 || digits(s, 2, &om) != 0))
		return -1;
	if (oh > 14 || om > 59)
		return -1;
	v->off = sign * (oh * 3600 + om * 60);
	return 0;
}

/* Splits "YYYY-MM-DD[(t| )HH:MM[:SS][offset]]"; 0 or -1 (ranges are
 * checked by the caller). */
static int
iso_split(const char *s, struct iso *v)
{
	memset(v, 0, sizeof(*v));
	if (digits(s, 4, &v->y) != 0 || s[4] != '-' ||
	    digits(s + 5, 2, &v->mo) != 0 || s[7] != '-' ||
	    digits(s + 8, 2, &v->d) != 0)
		return -1;
	s += 10;
	if (*s == '\0')
		return 0;
	if ((*s != 't' && *s != ' ') || digits(s + 1, 2, &v->h) != 0 ||
	    s[3] != ':' || digits(s + 4, 2, &v->mi) != 0)
		return -1;
	v->has_time = 1;
	s += 6;
	if (*s == ':') {
		if (digits(s + 1, 2, &v->s) != 0)
			return -1;
		s += 3;
	}
	return iso_offset(s, v);
}

static int
iso_error(struct ctx *c, const char *why)
{
	util_seterr(c->err, c->errlen,
		    "cannot read due '%s': %s (expected e.g. 2026-12-01T09:00 "
		    "or 2026-12-01T09:00:00+01:00)", c->shown, why);
	return -1;
}

static int
form_iso(struct ctx *c)
{
	struct iso v;
	int64_t days, t;
	int y, m, d;

	if (digits(c->text, 4, &y) != 0 || c->text[4] != '-')
		return 0;
	if (iso_split(c->text, &v) != 0)
		return iso_error(c, "not a date-time");
	days = util_days_from_civil(v.y, v.mo, v.d);
	util_civil_from_days(days, &y, &m, &d);
	if (v.mo < 1 || v.mo > 12 || v.d < 1 || y != v.y || m != v.mo ||
	    d != v.d)
		return iso_error(c, "no such date");
	if (v.h > 23 || v.mi > 59 || v.s > 59)
		return iso_error(c, "no such time of day");
	if (v.has_off) {
		t = days * 86400 + (int64_t)v.h * 3600 + (int64_t)v.mi * 60 +
		    v.s - v.off;
	} else if (v.has_time) {
		if (cal_from_local(c->site->tz, v.y, v.mo, v.d, v.h, v.mi, v.s,
				   &t, NULL) != 0)
			return iso_error(c, "cannot place it in the site's zone");
	} else {
		/* A date alone means the end of that day: its closing when
		 * the site opens then, else 23:59. */
		t = cal_day_close(c->site, days);
		if (t < 0 && at_minute(c, days, 23 * 60 + 59, &t) != 0)
			return iso_error(c, "cannot place it in the site's zone");
	}
	*c->out = t;
	return 1;
}

/* ---- entry --------------------------------------------------------------- */

static int (*const forms[])(struct ctx *) = {
	form_phrase, form_iso, form_relative, form_day_word, form_time,
};

static void
unknown_error(struct ctx *c)
{
	char buf[PHRASE_MAX + 1], hint[PHRASE_MAX + 32] = "";
	size_t i;
	int best = 3;

	for (i = 0; i < c->nrules; i++) {
		int dist;

		if (c->rules[i].text == NULL ||
		    fold(c->rules[i].text, buf, sizeof(buf)) != 0)
			continue;
		dist = util_edit_distance(buf, c->text);
		if (dist < best) {
			best = dist;
			(void)snprintf(hint, sizeof(hint),
				       " (did you mean '%s'?)",
				       c->rules[i].text);
		}
	}
	util_seterr(c->err, c->errlen,
		    "cannot read due '%s': expected ISO-8601 (2026-12-01T09:00), "
		    "'in 2h', 'fri 16:00' or a phrase such as 'tomorrow morning'%s",
		    c->shown, hint);
}

int
phrase_parse_due(const char *input, int64_t now, const struct cal_site *site,
		 const struct phrase_rule *rules, size_t nrules, int64_t *out,
		 char *err, size_t errlen)
{
	char text[PHRASE_MAX + 1], shown[SHOWN_MAX];
	struct ctx c;
	size_t i;
	int rc = 0;

	if (input == NULL)
		input = "";
	quote_input(input, shown, sizeof(shown));
	c = (struct ctx){ .shown = shown, .text = text, .now = now,
			  .site = site, .rules = rules, .nrules = nrules,
			  .out = out, .err = err, .errlen = errlen };
	if (fold(input, text, sizeof(text)) != 0) {
		util_seterr(err, errlen, "cannot read due '%s': too long "
			    "(at most %d characters)", shown, PHRASE_MAX);
		return -1;
	}
	if (site == NULL || cal_to_local(site->tz, now, &c.today) != 0) {
		util_seterr(err, errlen, "cannot read due '%s': the site has no "
			    "usable time zone", shown);
		return -1;
	}
	if (text[0] == '\0') {
		util_seterr(err, errlen, "the due is empty: expected ISO-8601 "
			    "(2026-12-01T09:00), 'in 2h', 'fri 16:00' or a "
			    "phrase such as 'tomorrow morning'");
		return -1;
	}
	for (i = 0; i < sizeof(forms) / sizeof(*forms) && rc == 0; i++)
		rc = forms[i](&c);
	if (rc == 0)
		unknown_error(&c);
	return rc == 1 ? 0 : -1;
}
