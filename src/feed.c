/*
 * feed: maps an iCalendar document to promise items.
 *
 * The text is split at the BEGIN:/END: lines of its top-level components
 * by a scanner of our own (it unfolds continuation lines), and each
 * component is parsed with libical and freed before the next, so memory
 * stays bounded by the largest component, not by the feed.  A first cheap
 * pass checks the structure, reads the VTIMEZONEs and collects the
 * RECURRENCE-IDs of overrides per UID; the second pass maps VTODOs and
 * VEVENTs and expands recurring ones inside [now - 1 day, now + horizon].
 *
 * libical is trusted for parsing and for recurrence rules, not for local
 * time: every local -> UTC conversion goes through cal_from_local (the RFC
 * 5545 gap rule) once a TZID is mapped to an IANA zone.  Only a TZID that
 * maps to nothing but comes with its own VTIMEZONE is converted by libical.
 */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libical/ical.h>

#include "promised/calendar.h"
#include "promised/feed.h"
#include "promised/promise.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define DAY INT64_C(86400)
#define TZ_MAX 128
#define LINE_MAX_CAPTURE 65536  /* longer lines are cut for classification */
#define MAX_DEPTH 16            /* deeper components are skipped */
#define MAX_ZONES 256           /* cached TZIDs per parse */
#define MAX_STEPS 100000        /* recurrence iterations per rule */
#define REF_MAX 256             /* the store's limit on refs */
#define RELEASE_STEP (1 << 20)  /* feed_parse_fd gives pages back by this */
#define PIPE_BATCH 64           /* items handed over at once ... */
#define PIPE_DEPTH 8            /* ... and batches waiting at most */
/* How far an instance's UTC offset may differ from its rule's start: the
 * cheap wall-clock estimate of a due is trusted outside this margin. */
#define SKEW (6 * INT64_C(3600))

/* ---- Zone names ----------------------------------------------------- */

/* Windows (Outlook, Exchange) zone names; CLDR's "001" territory. */
static const struct {
	const char *win;
	const char *iana;
} win_zones[] = {
	{ "UTC", "UTC" },
	{ "Coordinated Universal Time", "UTC" },
	{ "GMT Standard Time", "Europe/London" },
	{ "Greenwich Standard Time", "Atlantic/Reykjavik" },
	{ "W. Europe Standard Time", "Europe/Berlin" },
	{ "Romance Standard Time", "Europe/Paris" },
	{ "Central Europe Standard Time", "Europe/Budapest" },
	{ "Central European Standard Time", "Europe/Warsaw" },
	{ "E. Europe Standard Time", "Europe/Chisinau" },
	{ "FLE Standard Time", "Europe/Kiev" },
	{ "GTB Standard Time", "Europe/Bucharest" },
	{ "Russian Standard Time", "Europe/Moscow" },
	{ "Turkey Standard Time", "Europe/Istanbul" },
	{ "Israel Standard Time", "Asia/Jerusalem" },
	{ "South Africa Standard Time", "Africa/Johannesburg" },
	{ "Arabian Standard Time", "Asia/Dubai" },
	{ "India Standard Time", "Asia/Kolkata" },
	{ "China Standard Time", "Asia/Shanghai" },
	{ "Singapore Standard Time", "Asia/Singapore" },
	{ "Tokyo Standard Time", "Asia/Tokyo" },
	{ "Korea Standard Time", "Asia/Seoul" },
	{ "AUS Eastern Standard Time", "Australia/Sydney" },
	{ "E. Australia Standard Time", "Australia/Brisbane" },
	{ "Cen. Australia Standard Time", "Australia/Adelaide" },
	{ "W. Australia Standard Time", "Australia/Perth" },
	{ "New Zealand Standard Time", "Pacific/Auckland" },
	{ "Eastern Standard Time", "America/New_York" },
	{ "Central Standard Time", "America/Chicago" },
	{ "Mountain Standard Time", "America/Denver" },
	{ "US Mountain Standard Time", "America/Phoenix" },
	{ "Pacific Standard Time", "America/Los_Angeles" },
	{ "Alaskan Standard Time", "America/Anchorage" },
	{ "Hawaiian Standard Time", "Pacific/Honolulu" },
	{ "Atlantic Standard Time", "America/Halifax" },
	{ "Newfoundland Standard Time", "America/St_Johns" },
	{ "Canada Central Standard Time", "America/Regina" },
	{ "Central Standard Time (Mexico)", "America/Mexico_City" },
	{ "SA Pacific Standard Time", "America/Bogota" },
	{ "E. South America Standard Time", "America/Sao_Paulo" },
	{ "Argentina Standard Time", "America/Buenos_Aires" },
};

/* Cities of Windows display names that are not "<Region>/<City>". */
static const struct {
	const char *city;
	const char *iana;
} display_cities[] = {
	{ "Coordinated Universal Time", "UTC" },
	{ "Dublin", "Europe/Dublin" },
	{ "Edinburgh", "Europe/London" },
	{ "Bern", "Europe/Zurich" },
	{ "Sarajevo", "Europe/Sarajevo" },
	{ "Eastern Time (US & Canada)", "America/New_York" },
	{ "Central Time (US & Canada)", "America/Chicago" },
	{ "Mountain Time (US & Canada)", "America/Denver" },
	{ "Pacific Time (US & Canada)", "America/Los_Angeles" },
	{ "Beijing", "Asia/Shanghai" },
	{ "New Delhi", "Asia/Kolkata" },
	{ "Osaka", "Asia/Tokyo" },
	{ "Canberra", "Australia/Sydney" },
	{ "Wellington", "Pacific/Auckland" },
};

static const char *const city_regions[] = {
	"Europe/", "America/", "Asia/", "Africa/", "Australia/", "Pacific/",
	"Atlantic/", "Indian/",
};

static int
try_zone(const char *name, char *buf, size_t buflen)
{
	if (!cal_tz_valid(name))
		return -1;
	return util_strlcpy(buf, name, buflen);
}

/* "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris": the first city that
 * names a zone, directly or as <Region>/<City>. */
static int
resolve_display(const char *tzid, char *buf, size_t buflen)
{
	const char *p = strchr(tzid, ')');
	char city[TZ_MAX], cand[TZ_MAX + 16];
	size_t i, j, n;

	if (p == NULL)
		return -1;
	for (p++; *p != '\0';) {
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0 && n < sizeof(city)) {
			memcpy(city, p, n);
			city[n] = '\0';
			for (i = 0; i < NELEM(display_cities); i++)
				if (strcasecmp(city, display_cities[i].city) == 0)
					return util_strlcpy(buf,
						display_cities[i].iana, buflen);
			for (j = 0; j < n; j++)
				if (city[j] == ' ')
					city[j] = '_';
			for (i = 0; i < NELEM(city_regions); i++) {
				int cn = snprintf(cand, sizeof(cand), "%s%s",
						  city_regions[i], city);

				/* A cut name could be another zone. */
				if (cn >= 0 && (size_t)cn < sizeof(cand) &&
				    try_zone(cand, buf, buflen) == 0)
					return 0;
			}
		}
		p += strcspn(p, ",");
	}
	return -1;
}

int
feed_tz_resolve(const char *tzid, char *buf, size_t buflen)
{
	const char *p;
	size_t i;

	if (tzid == NULL || *tzid == '\0')
		return -1;
	if (try_zone(tzid, buf, buflen) == 0)
		return 0;
	for (i = 0; i < NELEM(win_zones); i++)
		if (strcasecmp(tzid, win_zones[i].win) == 0)
			return util_strlcpy(buf, win_zones[i].iana, buflen);
	if (strncasecmp(tzid, "(UTC", 4) == 0 ||
	    strncasecmp(tzid, "(GMT", 4) == 0)
		return resolve_display(tzid, buf, buflen);
	/* "/freeassociation.sourceforge.net/Europe/Brussels",
	 * "/citadel.org/20070227_1/Europe/Brussels": the longest tail that
	 * is a zone. */
	for (p = strchr(tzid, '/'); p != NULL; p = strchr(p + 1, '/'))
		if (p[1] != '\0' && try_zone(p + 1, buf, buflen) == 0)
			return 0;
	return -1;
}

/* ---- Scanning the text ---------------------------------------------- */

/* The position of the scanner and the unfolded current line. */
struct scan {
	const char *p, *end;
	const char *ls;        /* raw start of the current logical line */
	char *line;            /* unfolded, NUL-terminated, maybe cut */
	size_t cap;
};

/* Appends the raw bytes [q, nl) to the line at n (CRs dropped, NULs made
 * blanks, cut at the buffer's end); the new length.  Most segments are a
 * plain run ending in CR: one memcpy, checked with memchr. */
static size_t
scan_copy(struct scan *s, const char *q, const char *nl, size_t n)
{
	size_t len = (size_t)(nl - q);

	if (len > 0 && nl[-1] == '\r')
		len--;
	if (n + len + 1 < s->cap && memchr(q, '\r', len) == NULL &&
	    memchr(q, '\0', len) == NULL) {
		memcpy(s->line + n, q, len);
		return n + len;
	}
	for (; q < nl; q++)
		if (n + 1 < s->cap && *q != '\r')
			/* ?: promotes its char arms to int. */
			s->line[n++] = (char)(*q == '\0' ? ' ' : *q);
	return n;
}

/* Advances to the next logical line; 0 at the end of the data. */
static int
scan_line(struct scan *s)
{
	const char *q = s->p, *nl;
	size_t n = 0;

	if (s->p >= s->end)
		return 0;
	s->ls = s->p;
	for (;;) {
		nl = memchr(q, '\n', (size_t)(s->end - q));
		if (nl == NULL)
			nl = s->end;
		n = scan_copy(s, q, nl, n);
		q = nl;
		if (nl + 1 < s->end && (nl[1] == ' ' || nl[1] == '\t')) {
			q = nl + 2;   /* a continuation: drop EOL and one blank */
			continue;
		}
		s->p = nl < s->end ? nl + 1 : s->end;
		break;
	}
	s->line[n] = '\0';
	return 1;
}

/* Value of "NAME:value" when line's name (before ':' or ';') is name. */
static const char *
line_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) != 0 ||
	    (line[n] != ':' && line[n] != ';'))
		return NULL;
	return line + n;
}

/* "BEGIN:X" / "END:X": returns X trimmed into buf, else NULL. */
static const char *
line_marker(const char *line, const char *marker, char *buf, size_t buflen)
{
	const char *v = line_is(line, marker);
	size_t n;

	if (v == NULL || *v != ':')
		return NULL;
	v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

enum top_kind { TOP_OTHER, TOP_VTODO, TOP_VEVENT, TOP_VTIMEZONE };

/* One top-level component: its raw text range and captured lines. */
struct top {
	enum top_kind kind;
	const char *begin, *end;
	int too_deep;
	char *uid_line;        /* pass 1 only: "UID:..." */
	char *rid_line;        /* pass 1 only: "RECURRENCE-ID...:..." */
};

struct walk {
	struct scan s;
	int depth;
	size_t ncal;
	int capture;           /* pass 1: keep UID/RECURRENCE-ID lines */
	char *xwr;             /* X-WR-TIMEZONE value (pass 1) */
};

static enum top_kind
top_kind_of(const char *name)
{
	if (strcasecmp(name, "VTODO") == 0)
		return TOP_VTODO;
	if (strcasecmp(name, "VEVENT") == 0)
		return TOP_VEVENT;
	if (strcasecmp(name, "VTIMEZONE") == 0)
		return TOP_VTIMEZONE;
	return TOP_OTHER;
}

static void
top_clear(struct top *t)
{
	free(t->uid_line);
	free(t->rid_line);
	memset(t, 0, sizeof(*t));
}

/* A line at depth 1 (inside VCALENDAR, outside components). */
static int
walk_calendar_line(struct walk *w, struct top *t, const char *line)
{
	char name[32];
	const char *v;

	if (line_marker(line, "BEGIN", name, sizeof(name)) != NULL) {
		memset(t, 0, sizeof(*t));
		t->kind = top_kind_of(name);
		t->begin = w->s.ls;
		w->depth = 2;
	} else if (line_marker(line, "END", name, sizeof(name)) != NULL) {
		w->depth = 0;
	} else if (w->capture && (v = line_is(line, "X-WR-TIMEZONE")) != NULL &&
		   (v = strchr(v, ':')) != NULL) {
		free(w->xwr);
		w->xwr = xstrdup(v + 1);
	}
	return 0;
}

/* Next top-level component: 1 found (t filled), 0 at the end, -1 when
 * the text is not a complete iCalendar document (why says so). */
static int
walk_next(struct walk *w, struct top *t, char *why, size_t whylen)
{
	char name[32];

	while (scan_line(&w->s)) {
		const char *line = w->s.line;

		if (w->depth == 0) {
			if (line_marker(line, "BEGIN", name, sizeof(name)) &&
			    strcasecmp(name, "VCALENDAR") == 0) {
				w->depth = 1;
				w->ncal++;
			} else if (line[strspn(line, " \t")] != '\0' &&
				   w->ncal == 0) {
				util_seterr(why, whylen, "not an iCalendar "
					    "document (no BEGIN:VCALENDAR)");
				return -1;
			}
		} else if (w->depth == 1) {
			walk_calendar_line(w, t, line);
		} else if (line_marker(line, "BEGIN", name, sizeof(name))) {
			if (++w->depth > MAX_DEPTH)
				t->too_deep = 1;
		} else if (line_marker(line, "END", name, sizeof(name))) {
			if (--w->depth == 1) {
				t->end = w->s.p;
				return 1;
			}
		} else if (w->capture && w->depth == 2) {
			if (line_is(line, "UID") != NULL && t->uid_line == NULL)
				t->uid_line = xstrdup(line);
			else if (line_is(line, "RECURRENCE-ID") != NULL &&
				 t->rid_line == NULL)
				t->rid_line = xstrdup(line);
		}
	}
	if (w->depth != 0 || w->ncal == 0) {
		util_seterr(why, whylen, w->ncal == 0 ?
			    "not an iCalendar document (no BEGIN:VCALENDAR)" :
			    "truncated: no END:VCALENDAR");
		return -1;
	}
	return 0;
}

/* ---- Per-parse state ------------------------------------------------- */

struct zone {
	char *tzid;
	char iana[TZ_MAX];     /* "" when only ical is known */
	icaltimezone *ical;    /* the file's VTIMEZONE, when no IANA name */
	int known;
};

struct override {
	char *uid;
	int64_t key;
};

struct pctx {
	const struct feed_opts *o;
	struct zone spare;     /* a TZID resolved when the cache is full */
	int64_t now, wstart, wend;
	size_t max_inst;
	feed_item_fn cb;
	void *cbctx;
	struct feed_stats *st;
	regex_t re;
	int have_re;
	char site_tz[TZ_MAX];
	char float_tz[TZ_MAX];
	struct zone *zones;
	size_t nzones;
	struct override *ovr;
	size_t novr, ovcap;
	int stopped;
	/* feed_parse_fd: the mapped file and how far its pages were given
	 * back; NULL when the text is the caller's memory. */
	const char *map;
	const char *released;
	size_t pagesize;
};

static void
note_skip(struct pctx *c, const char *uid, const char *why)
{
	struct feed_stats *st = c->st;

	st->skipped++;
	if (st->nreasons < FEED_MAX_REASONS)
		(void)snprintf(st->reasons[st->nreasons++],
			       sizeof(st->reasons[0]),
			       "%.60s: %s", uid != NULL ? uid : "(no UID)", why);
}

static struct zone *
zone_add(struct pctx *c, const char *tzid)
{
	struct zone *z;

	if (c->nzones >= MAX_ZONES)
		return NULL;
	c->zones = xreallocarray(c->zones, c->nzones + 1, sizeof(*c->zones));
	z = &c->zones[c->nzones++];
	memset(z, 0, sizeof(*z));
	z->tzid = xstrdup(tzid);
	return z;
}

static struct zone *
zone_find(struct pctx *c, const char *tzid)
{
	size_t i;

	for (i = 0; i < c->nzones; i++)
		if (strcmp(c->zones[i].tzid, tzid) == 0)
			return &c->zones[i];
	return NULL;
}

/* Reads a VTIMEZONE: its TZID maps to IANA (directly or through libical's
 * X-LIC-LOCATION); failing that its own rules are kept for libical. */
static void
zone_from_vtimezone(struct pctx *c, const struct top *t)
{
	char *text = xstrndup(t->begin, (size_t)(t->end - t->begin));
	icalcomponent *comp = icalcomponent_new_from_string(text);
	icalproperty *prop;
	const char *tzid = NULL, *loc = NULL;
	struct zone *z = NULL;

	free(text);
	if (comp == NULL)
		return;
	if ((prop = icalcomponent_get_first_property(comp,
			ICAL_TZID_PROPERTY)) != NULL)
		tzid = icalproperty_get_tzid(prop);
	if ((prop = icalcomponent_get_first_property(comp,
			ICAL_LOCATION_PROPERTY)) != NULL)
		loc = icalproperty_get_location(prop);
	for (prop = icalcomponent_get_first_property(comp, ICAL_X_PROPERTY);
	     prop != NULL && loc == NULL;
	     prop = icalcomponent_get_next_property(comp, ICAL_X_PROPERTY))
		if (strcasecmp(icalproperty_get_x_name(prop),
			       "X-LIC-LOCATION") == 0)
			loc = icalproperty_get_x(prop);
	if (tzid == NULL || *tzid == '\0' || zone_find(c, tzid) != NULL ||
	    (z = zone_add(c, tzid)) == NULL)
		goto out;
	z->known = 1;
	if (feed_tz_resolve(tzid, z->iana, sizeof(z->iana)) == 0 ||
	    feed_tz_resolve(loc, z->iana, sizeof(z->iana)) == 0)
		goto out;
	z->iana[0] = '\0';
	z->ical = icaltimezone_new();
	if (icaltimezone_set_component(z->ical, comp)) {
		comp = NULL;   /* the zone owns it now */
	} else {
		icaltimezone_free(z->ical, 1);
		z->ical = NULL;
		z->known = 0;
	}
out:
	if (comp != NULL)
		icalcomponent_free(comp);
}

/* The zone of a TZID, resolved once per parse; NULL when unknown. */
static struct zone *
zone_get(struct pctx *c, const char *tzid)
{
	struct zone *z = zone_find(c, tzid);

	if (z != NULL)
		return z->known ? z : NULL;
	z = zone_add(c, tzid);
	if (z == NULL) {
		/* Cache full: resolve into a scratch entry. */
		z = &c->spare;
		memset(z, 0, sizeof(*z));
	}
	z->known = feed_tz_resolve(tzid, z->iana, sizeof(z->iana)) == 0;
	return z->known ? z : NULL;
}

/* ---- Times ------------------------------------------------------------ */

static int
time_sane(struct icaltimetype t)
{
	return !icaltime_is_null_time(t) && t.year >= 1900 &&
	       t.year <= 2200 && t.month >= 1 && t.month <= 12 &&
	       t.day >= 1 && t.day <= 31 && t.hour >= 0 && t.hour <= 23 &&
	       t.minute >= 0 && t.minute <= 59 && t.second >= 0 &&
	       t.second <= 60;
}

/* Wall-clock seconds of t as if it were UTC: only for differences. */
static int64_t
wall(struct icaltimetype t)
{
	int64_t d = util_days_from_civil(t.year, t.month, t.day);

	if (t.is_date)
		return d * DAY;
	return d * DAY + (int64_t)t.hour * 3600 + (int64_t)t.minute * 60 +
	       t.second;
}

/* A time as a property carries it: the value and its TZID parameter. */
struct tspec {
	struct icaltimetype t;
	const char *tzid;
	int set;
};

static struct tspec
tspec_of(icalproperty *prop, struct icaltimetype t)
{
	struct tspec s = { t, NULL, 0 };
	icalparameter *par;

	par = icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER);
	if (par != NULL)
		s.tzid = icalparameter_get_tzid(par);
	s.set = time_sane(t);
	return s;
}

/* Converts a DATE-TIME to UTC; the reason lands in why on failure. */
static int
conv_datetime(struct pctx *c, const struct tspec *s, int64_t *out,
	      const char **why)
{
	const struct icaltimetype *t = &s->t;
	const char *zone = c->float_tz;
	struct zone *z;

	if (icaltime_is_utc(*t)) {
		*out = wall(*t);
		return 0;
	}
	if (s->tzid != NULL && *s->tzid != '\0') {
		z = zone_get(c, s->tzid);
		if (z == NULL) {
			*why = "unknown time zone (TZID)";
			return -1;
		}
		if (z->iana[0] == '\0') {
			struct icaltimetype tt = *t;

			tt.zone = NULL;
			*out = (int64_t)icaltime_as_timet_with_zone(tt,
								    z->ical);
			c->st->zone_fallbacks++;
			return 0;
		}
		zone = z->iana;
	}
	if (cal_from_local(zone, t->year, t->month, t->day, t->hour,
			   t->minute, t->second > 59 ? 59 : t->second, out,
			   NULL) != 0) {
		*why = "time cannot be converted";
		return -1;
	}
	return 0;
}

/* An all-day date as an instant: the site's closing time that day, else
 * 23:59 local (edge 1); the opening, else 00:00 (edge 0). */
static int
conv_date(struct pctx *c, int y, int m, int d, bool edge, int64_t *out)
{
	int64_t days = util_days_from_civil(y, m, d), t = -1;

	if (c->o->site != NULL && c->o->site->tz != NULL)
		t = edge ? cal_day_close(c->o->site, days) :
		    cal_day_open(c->o->site, days);
	if (t > 0) {
		*out = t;
		return 0;
	}
	return cal_from_local(c->site_tz, y, m, d, edge ? 23 : 0,
			      edge ? 59 : 0, 0, out, NULL);
}

/* s shifted by shift wall-clock seconds (and extra_days), as UTC; edge
 * as in conv_date. */
static int
conv_point(struct pctx *c, const struct tspec *s, int64_t shift,
	   int extra_days, bool edge, int64_t *out, const char **why)
{
	struct tspec x = *s;

	icaltime_adjust(&x.t, (int)(shift / DAY) + extra_days, 0, 0,
			(int)(shift % DAY));
	if (!time_sane(x.t)) {
		*why = "time out of range";
		return -1;
	}
	if (x.t.is_date) {
		if (conv_date(c, x.t.year, x.t.month, x.t.day, edge, out) != 0) {
			*why = "date cannot be converted";
			return -1;
		}
		return 0;
	}
	return conv_datetime(c, &x, out, why);
}

/* Key of a recurrence instant: UTC seconds, or the date's midnight as if
 * UTC for all-day items; str gets the RECURRENCE-ID text of the ref. */
static int
conv_key(struct pctx *c, const struct tspec *s, int64_t *key, char *str,
	 size_t len)
{
	const char *why = NULL;
	char utc[32];

	if (s->t.is_date) {
		*key = wall(s->t);
		(void)snprintf(str, len, "%04d%02d%02d", s->t.year, s->t.month,
			       s->t.day);
		return 0;
	}
	if (conv_datetime(c, s, key, &why) != 0)
		return -1;
	util_format_utc(*key, utc, sizeof(utc));
	/* "2026-12-04T16:00:00Z" -> "20261204T160000Z" */
	(void)snprintf(str, len, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", utc, utc + 5,
		       utc + 8, utc + 11, utc + 14, utc + 17);
	return 0;
}

/* ---- One component ---------------------------------------------------- */

enum cust_field { CF_NAME, CF_PHONE, CF_EMAIL, CF_VEHICLE, CF_VIN, CF_COUNT };

static const char *const cust_props[CF_COUNT] = {
	"X-PROMISED-CUSTOMER-NAME", "X-PROMISED-CUSTOMER-PHONE",
	"X-PROMISED-CUSTOMER-EMAIL", "X-PROMISED-CUSTOMER-VEHICLE",
	"X-PROMISED-CUSTOMER-VIN",
};

/* What a component says, read in one walk over its properties.  Strings
 * are borrowed from the component. */
struct cinfo {
	int todo;
	const char *uid, *summary, *desc, *xowner;
	const char *cust[CF_COUNT];
	struct tspec start, due, end, rid, completed_t;
	struct icaldurationtype dur;
	int has_dur, has_rrule, has_rdate, completed, cancelled;
	int64_t sequence;
	struct tspec modified;
	int cat_match;
};

static void
read_x(struct cinfo *ci, icalproperty *prop)
{
	const char *name = icalproperty_get_x_name(prop);
	size_t i;

	if (name == NULL)
		return;
	if (strcasecmp(name, "X-PROMISED-OWNER") == 0) {
		ci->xowner = icalproperty_get_x(prop);
		return;
	}
	for (i = 0; i < CF_COUNT; i++)
		if (strcasecmp(name, cust_props[i]) == 0)
			ci->cust[i] = icalproperty_get_x(prop);
}

/* 1 when one of the comma-separated values is in the option's list. */
static int
categories_match(const struct feed_opts *o, const char *v)
{
	size_t i, n;

	while (v != NULL && *v != '\0') {
		while (*v == ' ' || *v == ',')
			v++;
		n = strcspn(v, ",");
		while (n > 0 && v[n - 1] == ' ')
			n--;
		for (i = 0; i < o->ncategories; i++)
			if (o->categories[i] != NULL &&
			    strlen(o->categories[i]) == n &&
			    strncasecmp(v, o->categories[i], n) == 0)
				return 1;
		v += strcspn(v, ",");
	}
	return 0;
}

static void
read_prop(struct pctx *c, struct cinfo *ci, icalproperty *prop)
{
	enum icalproperty_status s;

	switch (icalproperty_isa(prop)) {
	case ICAL_UID_PROPERTY: ci->uid = icalproperty_get_uid(prop); break;
	case ICAL_SUMMARY_PROPERTY:
		ci->summary = icalproperty_get_summary(prop); break;
	case ICAL_DESCRIPTION_PROPERTY:
		ci->desc = icalproperty_get_description(prop); break;
	case ICAL_DTSTART_PROPERTY:
		ci->start = tspec_of(prop, icalproperty_get_dtstart(prop)); break;
	case ICAL_DUE_PROPERTY:
		ci->due = tspec_of(prop, icalproperty_get_due(prop)); break;
	case ICAL_DTEND_PROPERTY:
		ci->end = tspec_of(prop, icalproperty_get_dtend(prop)); break;
	case ICAL_RECURRENCEID_PROPERTY:
		ci->rid = tspec_of(prop, icalproperty_get_recurrenceid(prop));
		break;
	case ICAL_COMPLETED_PROPERTY:
		ci->completed = 1;
		ci->completed_t = tspec_of(prop, icalproperty_get_completed(prop));
		break;
	case ICAL_LASTMODIFIED_PROPERTY:
		ci->modified = tspec_of(prop, icalproperty_get_lastmodified(prop));
		break;
	case ICAL_DURATION_PROPERTY:
		ci->dur = icalproperty_get_duration(prop);
		ci->has_dur = !icaldurationtype_is_bad_duration(ci->dur);
		break;
	case ICAL_SEQUENCE_PROPERTY:
		ci->sequence = icalproperty_get_sequence(prop); break;
	case ICAL_PERCENTCOMPLETE_PROPERTY:
		if (icalproperty_get_percentcomplete(prop) >= 100)
			ci->completed = 1;
		break;
	case ICAL_STATUS_PROPERTY:
		s = icalproperty_get_status(prop);
		if (s == ICAL_STATUS_COMPLETED)
			ci->completed = 1;
		else if (s == ICAL_STATUS_CANCELLED)
			ci->cancelled = 1;
		break;
	case ICAL_CATEGORIES_PROPERTY:
		if (c->o->ncategories > 0 &&
		    categories_match(c->o, icalproperty_get_categories(prop)))
			ci->cat_match = 1;
		break;
	case ICAL_RRULE_PROPERTY: ci->has_rrule = 1; break;
	case ICAL_RDATE_PROPERTY: ci->has_rdate = 1; break;
	case ICAL_X_PROPERTY: read_x(ci, prop); break;
	default: break;
	}
}

static void
read_info(struct pctx *c, icalcomponent *comp, struct cinfo *ci)
{
	icalproperty *prop;

	memset(ci, 0, sizeof(*ci));
	ci->todo = icalcomponent_isa(comp) == ICAL_VTODO_COMPONENT;
	for (prop = icalcomponent_get_first_property(comp, ICAL_ANY_PROPERTY);
	     prop != NULL;
	     prop = icalcomponent_get_next_property(comp, ICAL_ANY_PROPERTY))
		read_prop(c, ci, prop);
}

/* 0 when the options take this component. */
static int
filtered(struct pctx *c, const struct cinfo *ci)
{
	const struct feed_opts *o = c->o;
	const char *sum = ci->summary != NULL ? ci->summary : "";
	unsigned comps = o->components != 0 ? o->components :
			 FEED_VTODO | FEED_VEVENT;

	if (!(comps & (ci->todo ? FEED_VTODO : FEED_VEVENT)))
		return 1;
	if (o->ncategories > 0 && !ci->cat_match)
		return 1;
	if (o->summary_prefix != NULL && *o->summary_prefix != '\0' &&
	    !util_startswith_ci(sum, o->summary_prefix))
		return 1;
	if (c->have_re && regexec(&c->re, sum, 0, NULL, 0) != 0)
		return 1;
	return 0;
}

static const char *
staff_lookup(const struct feed_opts *o, const char *addr)
{
	const char *id;
	size_t i;

	if (addr == NULL || !util_startswith_ci(addr, "mailto:"))
		return NULL;
	addr += 7;
	if (o->staff_fn != NULL && (id = o->staff_fn(o->staff_ctx, addr)))
		return id;
	for (i = 0; i < o->nstaff; i++)
		if (o->staff[i].email != NULL &&
		    strcasecmp(o->staff[i].email, addr) == 0)
			return o->staff[i].id;
	return NULL;
}

/* X-PROMISED-OWNER, else the first ATTENDEE, then the ORGANIZER, whose
 * address belongs to the staff, else the feed's default owner. */
static const char *
owner_of(struct pctx *c, icalcomponent *comp, const struct cinfo *ci)
{
	icalproperty *p;
	const char *id;

	if (ci->xowner != NULL && *ci->xowner != '\0')
		return ci->xowner;
	for (p = icalcomponent_get_first_property(comp, ICAL_ATTENDEE_PROPERTY);
	     p != NULL;
	     p = icalcomponent_get_next_property(comp, ICAL_ATTENDEE_PROPERTY))
		if ((id = staff_lookup(c->o, icalproperty_get_attendee(p))))
			return id;
	p = icalcomponent_get_first_property(comp, ICAL_ORGANIZER_PROPERTY);
	if (p != NULL && (id = staff_lookup(c->o,
					    icalproperty_get_organizer(p))))
		return id;
	return c->o->default_owner;
}

/* Text fit for the store: valid UTF-8, cut to max bytes at a character
 * boundary; NULL when empty or not UTF-8.  *owned gets any copy. */
static const char *
fit_text(const char *s, size_t max, char **owned)
{
	size_t n;

	*owned = NULL;
	if (s == NULL || *s == '\0')
		return NULL;
	n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		*owned = xstrndup(s, n);
		s = *owned;
	}
	if (!util_utf8_valid(s, n)) {
		free(*owned);
		*owned = NULL;
		return NULL;
	}
	return s;
}

/* FNV-1a: a stable short stand-in for UIDs too long for a ref. */
static uint64_t
fnv1a(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static char *
make_ref(const char *name, const char *uid, const char *rid)
{
	char *ref = rid != NULL ? xasprintf("feed:%s:%s:%s", name, uid, rid) :
		    xasprintf("feed:%s:%s", name, uid);

	if (strlen(ref) <= REF_MAX && util_utf8_valid(ref, strlen(ref)))
		return ref;
	free(ref);
	return rid != NULL ?
	       xasprintf("feed:%s:~%016llx:%s", name,
			 (unsigned long long)fnv1a(uid), rid) :
	       xasprintf("feed:%s:~%016llx", name,
			 (unsigned long long)fnv1a(uid));
}

/* ---- Items -------------------------------------------------------------- */

/* The due of DTSTART + DURATION; an all-day start with whole days ends
 * with the last day it covers. */
static int
dur_due(struct pctx *c, const struct tspec *start,
	struct icaldurationtype dur, int64_t shift, int64_t *due,
	const char **why)
{
	int64_t secs = icaldurationtype_as_int(dur);

	if (start->t.is_date) {
		int64_t days = secs / DAY;

		if (days > 36600 || days < -36600) {
			*why = "DURATION out of range";
			return -1;
		}
		return conv_point(c, start, shift, days > 0 ? (int)days - 1 : 0,
				  true, due, why);
	}
	if (conv_point(c, start, shift, 0, true, due, why) != 0)
		return -1;
	*due += secs;
	return 0;
}

/* Due and target of the item whose times are shifted by `shift` wall
 * seconds (0 for the component itself, else a recurrence instance). */
static int
item_times(struct pctx *c, const struct cinfo *ci, int64_t shift,
	   int64_t *due, int64_t *target, const char **why)
{
	int extra;

	*target = 0;
	if (ci->todo) {
		if (ci->due.set) {
			if (conv_point(c, &ci->due, shift, 0, true, due,
				       why) != 0)
				return -1;
			if (ci->start.set && conv_point(c, &ci->start, shift,
						0, false, target, why) != 0)
				*target = 0;
			return 0;
		}
		if (ci->start.set && ci->has_dur)
			return dur_due(c, &ci->start, ci->dur, shift, due, why);
		*why = "no DUE (nor DTSTART with DURATION)";
		return -1;
	}
	if (!ci->start.set) {
		*why = "no valid DTSTART";
		return -1;
	}
	if (c->o->use_dtend && ci->end.set) {
		/* An all-day DTEND is exclusive: the event ends the day
		 * before. */
		extra = ci->end.t.is_date &&
			wall(ci->end.t) > wall(ci->start.t) ? -1 : 0;
		return conv_point(c, &ci->end, shift, extra, true, due, why);
	}
	if (c->o->use_dtend && ci->has_dur)
		return dur_due(c, &ci->start, ci->dur, shift, due, why);
	return conv_point(c, &ci->start, shift, 0, true, due, why);
}

/* Fills the text fields of it; copies made are listed in own[]. */
static void
item_texts(struct feed_item *it, const struct cinfo *ci, char **own)
{
	static const size_t cust_off[CF_COUNT] = {
		offsetof(struct feed_item, customer_name),
		offsetof(struct feed_item, customer_phone),
		offsetof(struct feed_item, customer_email),
		offsetof(struct feed_item, vehicle),
		offsetof(struct feed_item, vin),
	};
	const char *s;
	size_t i;

	s = fit_text(ci->summary, 1000, &own[0]);
	it->title = (char *)(s != NULL ? s : "(no summary)");
	it->details = (char *)fit_text(ci->desc, 65536, &own[1]);
	for (i = 0; i < CF_COUNT; i++)
		*(char **)(void *)((char *)it + cust_off[i]) =
			(char *)fit_text(ci->cust[i], 256, &own[2 + i]);
	/* The store keeps only well-formed VINs. */
	if (it->vin != NULL && promise_vin_check(it->vin, NULL, NULL, 0) != 0)
		it->vin = NULL;
}

/* Maps the component (shifted to one instance) and hands it over. */
static void
emit(struct pctx *c, icalcomponent *comp, const struct cinfo *ci,
     int64_t shift, const char *rid)
{
	struct feed_item it;
	char *own[2 + CF_COUNT], *owner_copy = NULL;
	const char *why = NULL, *owner;
	size_t i;

	memset(&it, 0, sizeof(it));
	memset(own, 0, sizeof(own));
	if (item_times(c, ci, shift, &it.due_at, &it.target_at, &why) != 0 ||
	    it.due_at <= 0) {
		note_skip(c, ci->uid, why != NULL ? why : "due before 1970");
		return;
	}
	owner = fit_text(owner_of(c, comp, ci), 256, &owner_copy);
	if (owner == NULL) {
		note_skip(c, ci->uid, "no owner (no default_owner)");
		return;
	}
	it.owner = (char *)owner;
	it.ref = make_ref(c->o->name, ci->uid, rid);
	it.uid = (char *)ci->uid;
	it.recurrence_id = (char *)rid;
	it.site = c->o->site != NULL ? c->o->site->id : NULL;
	it.policy = (char *)c->o->policy;
	item_texts(&it, ci, own);
	it.cancelled = ci->cancelled;
	it.completed = ci->completed && !ci->cancelled;
	if (it.completed) {
		it.completed_at = c->now;
		if (ci->completed_t.set && conv_datetime(c, &ci->completed_t,
					&it.completed_at, &why) != 0)
			it.completed_at = c->now;
	}
	it.sequence = ci->sequence;
	if (ci->modified.set && !ci->modified.t.is_date &&
	    conv_datetime(c, &ci->modified, &it.last_modified, &why) != 0)
		it.last_modified = 0;
	c->st->items++;
	if (c->cb(c->cbctx, &it) != 0)
		c->stopped = 1;
	free(it.ref);
	free(owner_copy);
	for (i = 0; i < NELEM(own); i++)
		free(own[i]);
}

/* ---- Recurrence ----------------------------------------------------------- */

struct inst {
	struct icaltimetype t;
	int64_t key;
};

struct expansion {
	const struct cinfo *ci;
	struct tspec base;      /* the time the rule recurs from */
	int64_t off;            /* approx. due - wall(base), for skipping */
	struct inst *v;
	size_t n, cap;
	int capped;
};

static int
inst_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct inst *)a)->key;
	int64_t y = ((const struct inst *)b)->key;

	return x < y ? -1 : x > y;
}

/* Adds instance t when its due falls in the window: 1 added, 0 not,
 * 2 when the due lies past the window (the rule can stop). */
static int
exp_add(struct pctx *c, struct expansion *e, struct icaltimetype t)
{
	int64_t approx = wall(t) + e->off, due, target, key;
	const char *why = NULL;
	struct tspec s = e->base;
	char rid[32];

	if (!time_sane(t))
		return 0;
	/* Instances live in the base's zone (UTC stays UTC). */
	t.zone = e->base.t.zone;
	if (approx > c->wend + SKEW)
		return 2;
	if (approx < c->wstart - SKEW)
		return 0;
	if (item_times(c, e->ci, wall(t) - wall(e->base.t), &due, &target,
		       &why) != 0)
		return 0;
	if (due > c->wend)
		return 2;
	s.t = t;
	if (due < c->wstart || conv_key(c, &s, &key, rid, sizeof(rid)) != 0)
		return 0;
	/* The rule yields DTSTART again: not a second instance. */
	if (e->n > 0 && (e->v[0].key == key || e->v[e->n - 1].key == key))
		return 0;
	if (e->n >= c->max_inst) {
		e->capped = 1;
		return 2;
	}
	if (e->n == e->cap) {
		e->cap = e->cap == 0 ? 16 : e->cap * 2;
		e->v = xreallocarray(e->v, e->cap, sizeof(*e->v));
	}
	e->v[e->n].t = t;
	e->v[e->n++].key = key;
	return 1;
}

/* Seconds of one step of a rule whose steps are all alike, else 0. */
static int64_t
rule_period(const struct icalrecurrencetype *r)
{
	static const struct {
		icalrecurrencetype_frequency freq;
		int64_t secs;
	} periods[] = {
		{ ICAL_SECONDLY_RECURRENCE, 1 },
		{ ICAL_MINUTELY_RECURRENCE, 60 },
		{ ICAL_HOURLY_RECURRENCE, 3600 },
		{ ICAL_DAILY_RECURRENCE, DAY },
		{ ICAL_WEEKLY_RECURRENCE, 7 * DAY },
	};
	size_t i;

	for (i = 0; i < NELEM(periods); i++)
		if (periods[i].freq == r->freq)
			return periods[i].secs * (r->interval > 0 ?
						  r->interval : 1);
	return 0;
}

/* Runs one RRULE.  A rule without COUNT starts at a whole number of its
 * periods before the window (same weekday and time of day as DTSTART),
 * so a rule begun years ago does not walk through those years; every
 * rule is bounded by the window, the cap and MAX_STEPS. */
static void
exp_rrule(struct pctx *c, struct expansion *e, struct icalrecurrencetype r)
{
	struct icaltimetype start = e->base.t, next;
	icalrecur_iterator *it;
	int64_t ahead, period = rule_period(&r);
	long steps;

	/* A rule more often than daily from an all-day start has no time
	 * of day to step by: libical's iterator then spins for minutes
	 * inside one call (found by fuzzing).  Such a rule is not expanded
	 * and counts as capped. */
	if (start.is_date && period > 0 && period % DAY != 0) {
		e->capped = 1;
		return;
	}
	start.zone = NULL;
	ahead = (c->wstart - 2 * SKEW) - (wall(start) + e->off);
	if (r.count == 0 && period > 0 && ahead > period &&
	    ahead < INT64_C(300) * 366 * DAY &&
	    (!start.is_date || period % DAY == 0)) {
		ahead -= ahead % period;
		icaltime_adjust(&start, (int)(ahead / DAY), 0, 0,
				(int)(ahead % DAY));
	}
	it = icalrecur_iterator_new(r, start);
	if (it == NULL)
		return;
	for (steps = 0; steps < MAX_STEPS; steps++) {
		next = icalrecur_iterator_next(it);
		if (icaltime_is_null_time(next) || exp_add(c, e, next) == 2)
			break;
	}
	if (steps == MAX_STEPS)
		e->capped = 1;
	icalrecur_iterator_free(it);
}

static int
override_cmp(const void *a, const void *b)
{
	const struct override *x = a, *y = b;
	int d = strcmp(x->uid, y->uid);

	if (d != 0)
		return d;
	return x->key < y->key ? -1 : x->key > y->key;
}

static int
is_overridden(struct pctx *c, const char *uid, int64_t key)
{
	struct override k = { (char *)uid, key };

	return c->novr > 0 && bsearch(&k, c->ovr, c->novr, sizeof(k),
				      override_cmp) != NULL;
}

/* 1 when an EXDATE of the component removes instance i. */
static int
is_excluded(struct pctx *c, icalcomponent *comp, const struct inst *i)
{
	icalproperty *p;
	struct tspec ex;
	int64_t key;
	char rid[32];

	for (p = icalcomponent_get_first_property(comp, ICAL_EXDATE_PROPERTY);
	     p != NULL;
	     p = icalcomponent_get_next_property(comp, ICAL_EXDATE_PROPERTY)) {
		ex = tspec_of(p, icalproperty_get_exdate(p));
		if (!ex.set)
			continue;
		if (ex.t.is_date || i->t.is_date) {
			if (ex.t.year == i->t.year && ex.t.month == i->t.month &&
			    ex.t.day == i->t.day)
				return 1;
		} else if (conv_key(c, &ex, &key, rid, sizeof(rid)) == 0 &&
			   key == i->key) {
			return 1;
		}
	}
	return 0;
}

static void
exp_rdates(struct pctx *c, icalcomponent *comp, struct expansion *e)
{
	struct icaldatetimeperiodtype dp;
	struct icaltimetype t;
	icalproperty *p;

	for (p = icalcomponent_get_first_property(comp, ICAL_RDATE_PROPERTY);
	     p != NULL && !e->capped;
	     p = icalcomponent_get_next_property(comp, ICAL_RDATE_PROPERTY)) {
		dp = icalproperty_get_rdate(p);
		t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
		/* An RDATE in UTC or with its own zone is taken at the
		 * base's wall clock: good enough for the usual same-zone
		 * case and bounded in every other. */
		if (icaltime_is_utc(t) && !icaltime_is_utc(e->base.t))
			continue;
		t.is_date = e->base.t.is_date;
		exp_add(c, e, t);
	}
}

/* Expands a recurring component into its instances in the window. */
static void
expand(struct pctx *c, icalcomponent *comp, const struct cinfo *ci)
{
	struct expansion e;
	icalproperty *p;
	const char *why = NULL;
	int64_t due, target;
	size_t i, emitted = 0;
	char rid[32];

	memset(&e, 0, sizeof(e));
	e.ci = ci;
	e.base = ci->start.set ? ci->start : ci->due;
	if (!e.base.set || item_times(c, ci, 0, &due, &target, &why) != 0) {
		note_skip(c, ci->uid, why != NULL ? why : "no DTSTART");
		return;
	}
	e.off = due - wall(e.base.t);
	exp_add(c, &e, e.base.t);
	for (p = icalcomponent_get_first_property(comp, ICAL_RRULE_PROPERTY);
	     p != NULL && !e.capped;
	     p = icalcomponent_get_next_property(comp, ICAL_RRULE_PROPERTY))
		exp_rrule(c, &e, icalproperty_get_rrule(p));
	exp_rdates(c, comp, &e);
	if (e.n > 1)
		qsort(e.v, e.n, sizeof(*e.v), inst_cmp);
	for (i = 0; i < e.n && !c->stopped; i++) {
		struct tspec s = e.base;
		int64_t key;

		if ((i > 0 && e.v[i].key == e.v[i - 1].key) ||
		    is_overridden(c, ci->uid, e.v[i].key) ||
		    is_excluded(c, comp, &e.v[i]))
			continue;
		s.t = e.v[i].t;
		if (conv_key(c, &s, &key, rid, sizeof(rid)) != 0)
			continue;
		emit(c, comp, ci, wall(e.v[i].t) - wall(e.base.t), rid);
		emitted++;
	}
	if (e.capped)
		c->st->capped++;
	if (emitted == 0)
		c->st->outside++;
	free(e.v);
}

/* An override (a component with RECURRENCE-ID): its own item when the
 * instance it replaces, or its own due, lies in the window. */
static void
emit_override(struct pctx *c, icalcomponent *comp, const struct cinfo *ci)
{
	const char *why = NULL;
	int64_t key, due, target;
	char rid[32];

	if (conv_key(c, &ci->rid, &key, rid, sizeof(rid)) != 0) {
		note_skip(c, ci->uid, "RECURRENCE-ID cannot be converted");
		return;
	}
	if (item_times(c, ci, 0, &due, &target, &why) != 0) {
		note_skip(c, ci->uid, why);
		return;
	}
	if ((ci->rid.t.is_date || key < c->wstart || key > c->wend) &&
	    (due < c->wstart || due > c->wend)) {
		c->st->outside++;
		return;
	}
	emit(c, comp, ci, 0, rid);
}

/* ---- The two passes ---------------------------------------------------- */

/* Pass 1, per override: remembers (UID, instant) of its RECURRENCE-ID. */
struct pending {
	char *uid_line, *rid_line;
};

static void
override_add(struct pctx *c, const struct pending *pd)
{
	icalproperty *up = icalproperty_new_from_string(pd->uid_line);
	icalproperty *rp = icalproperty_new_from_string(pd->rid_line);
	struct tspec s;
	const char *uid;
	int64_t key;
	char rid[32];

	if (up == NULL || rp == NULL ||
	    icalproperty_isa(up) != ICAL_UID_PROPERTY ||
	    icalproperty_isa(rp) != ICAL_RECURRENCEID_PROPERTY)
		goto out;
	uid = icalproperty_get_uid(up);
	s = tspec_of(rp, icalproperty_get_recurrenceid(rp));
	if (uid == NULL || !s.set ||
	    conv_key(c, &s, &key, rid, sizeof(rid)) != 0)
		goto out;
	if (c->novr == c->ovcap) {
		c->ovcap = c->ovcap == 0 ? 16 : c->ovcap * 2;
		c->ovr = xreallocarray(c->ovr, c->ovcap, sizeof(*c->ovr));
	}
	c->ovr[c->novr].uid = xstrdup(uid);
	c->ovr[c->novr++].key = key;
out:
	if (up != NULL)
		icalproperty_free(up);
	if (rp != NULL)
		icalproperty_free(rp);
}

/* A mapped file's pages before upto were read: give them back, a
 * megabyte at a time, so the resident memory of a large feed stays a
 * window, not the file (they are read again from the file if needed). */
static void
release_read(struct pctx *c, const char *upto)
{
	uintptr_t from, to;

	if (c->map == NULL || upto - c->released < RELEASE_STEP)
		return;
	from = (uintptr_t)c->released & ~(uintptr_t)(c->pagesize - 1);
	to = (uintptr_t)upto & ~(uintptr_t)(c->pagesize - 1);
	if (to > from)
		(void)madvise((void *)from, to - from, MADV_DONTNEED);
	c->released = upto;
}

static void
walk_init(struct walk *w, const char *data, size_t len, int capture)
{
	memset(w, 0, sizeof(*w));
	w->s.p = data;
	w->s.end = data + len;
	w->s.cap = LINE_MAX_CAPTURE;
	w->s.line = xmalloc(w->s.cap);
	w->capture = capture;
}

/* Checks the structure, reads the zones, collects the overrides. */
static int
pass_one(struct pctx *c, const char *data, size_t len, char *err,
	 size_t errlen)
{
	struct walk w;
	struct top t;
	struct pending *pd = NULL;
	size_t npd = 0, i;
	int r;

	walk_init(&w, data, len, 1);
	memset(&t, 0, sizeof(t));
	while ((r = walk_next(&w, &t, err, errlen)) == 1) {
		if (t.kind == TOP_VTIMEZONE && !t.too_deep)
			zone_from_vtimezone(c, &t);
		if (t.kind != TOP_VTIMEZONE && t.kind != TOP_OTHER &&
		    t.uid_line != NULL && t.rid_line != NULL) {
			pd = xreallocarray(pd, npd + 1, sizeof(*pd));
			pd[npd].uid_line = t.uid_line;
			pd[npd++].rid_line = t.rid_line;
			t.uid_line = t.rid_line = NULL;
		}
		top_clear(&t);
		release_read(c, w.s.p);
	}
	c->released = c->map;
	top_clear(&t);
	if (r == 0 && w.xwr != NULL &&
	    feed_tz_resolve(w.xwr, c->float_tz, sizeof(c->float_tz)) != 0)
		util_strlcpy(c->float_tz, c->site_tz, sizeof(c->float_tz));
	/* Zones are known now, so RECURRENCE-IDs can be converted. */
	for (i = 0; i < npd; i++) {
		if (r == 0)
			override_add(c, &pd[i]);
		free(pd[i].uid_line);
		free(pd[i].rid_line);
	}
	free(pd);
	if (c->novr > 1)
		qsort(c->ovr, c->novr, sizeof(*c->ovr), override_cmp);
	free(w.s.line);
	free(w.xwr);
	return r;
}

static void
map_component(struct pctx *c, const struct top *t)
{
	char *text = xstrndup(t->begin, (size_t)(t->end - t->begin));
	icalcomponent *comp = icalcomponent_new_from_string(text);
	icalcomponent_kind k;
	struct cinfo ci;

	free(text);
	c->st->components++;
	k = comp != NULL ? icalcomponent_isa(comp) : ICAL_NO_COMPONENT;
	if (k != ICAL_VTODO_COMPONENT && k != ICAL_VEVENT_COMPONENT) {
		note_skip(c, NULL, "component cannot be parsed");
		goto out;
	}
	read_info(c, comp, &ci);
	if (filtered(c, &ci)) {
		c->st->filtered++;
	} else if (ci.uid == NULL || *ci.uid == '\0') {
		note_skip(c, ci.summary, "no UID");
	} else if (ci.rid.set) {
		emit_override(c, comp, &ci);
	} else if (ci.has_rrule || ci.has_rdate) {
		expand(c, comp, &ci);
	} else {
		emit(c, comp, &ci, 0, NULL);
	}
out:
	if (comp != NULL)
		icalcomponent_free(comp);
}

/* Maps the VTODOs and VEVENTs, one parsed component at a time. */
static int
pass_two(struct pctx *c, const char *data, size_t len, char *err,
	 size_t errlen)
{
	struct walk w;
	struct top t;
	int r;

	walk_init(&w, data, len, 0);
	memset(&t, 0, sizeof(t));
	while (!c->stopped && (r = walk_next(&w, &t, err, errlen)) == 1) {
		if (t.too_deep && t.kind != TOP_OTHER)
			note_skip(c, NULL, "components nested too deep");
		else if (t.kind == TOP_VTODO || t.kind == TOP_VEVENT)
			map_component(c, &t);
		top_clear(&t);
		release_read(c, w.s.p);
	}
	free(w.s.line);
	if (c->stopped) {
		util_seterr(err, errlen, "stopped by the caller");
		return -1;
	}
	return 0;
}

static int
ctx_init(struct pctx *c, const struct feed_opts *o, int64_t now,
	 char *err, size_t errlen)
{
	const char *tz = o->site_tz;
	int64_t horizon = o->horizon > 0 ? o->horizon : FEED_DEFAULT_HORIZON;
	int rc;

	if (o->name == NULL || *o->name == '\0') {
		util_seterr(err, errlen, "feed has no name");
		return -1;
	}
	if ((tz == NULL || *tz == '\0') && o->site != NULL)
		tz = o->site->tz;
	if (tz == NULL || *tz == '\0')
		tz = "UTC";
	if (util_strlcpy(c->site_tz, tz, sizeof(c->site_tz)) != 0 ||
	    !cal_tz_valid(c->site_tz)) {
		util_seterr(err, errlen, "feed %s: unknown time zone %s",
			    o->name, tz);
		return -1;
	}
	util_strlcpy(c->float_tz, c->site_tz, sizeof(c->float_tz));
	c->o = o;
	c->now = now;
	c->wstart = now - DAY;
	c->wend = now + (horizon > INT64_C(3660) * DAY ?
			 INT64_C(3660) * DAY : horizon);
	c->max_inst = o->max_instances > 0 ? o->max_instances :
		      FEED_DEFAULT_MAX_INSTANCES;
	if (o->summary_pattern != NULL && *o->summary_pattern != '\0') {
		rc = regcomp(&c->re, o->summary_pattern,
			     REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			util_seterr(err, errlen, "feed %s: invalid summary "
				    "pattern %s", o->name, o->summary_pattern);
			return -1;
		}
		c->have_re = 1;
	}
	return 0;
}

static void
ctx_free(struct pctx *c)
{
	size_t i;

	for (i = 0; i < c->nzones; i++) {
		free(c->zones[i].tzid);
		if (c->zones[i].ical != NULL)
			icaltimezone_free(c->zones[i].ical, 1);
	}
	free(c->zones);
	for (i = 0; i < c->novr; i++)
		free(c->ovr[i].uid);
	free(c->ovr);
	if (c->have_re)
		regfree(&c->re);
}

/* Both entry points: data is the caller's text, or map (the same
 * pointer) a mapping whose read pages may be given back. */
static int
parse_text(const char *data, size_t len, const char *map,
	   const struct feed_opts *o, int64_t now, feed_item_fn cb, void *ctx,
	   struct feed_stats *st, char *err, size_t errlen)
{
	struct feed_stats local;
	struct pctx c;
	size_t i;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (st == NULL)
		st = &local;
	memset(st, 0, sizeof(*st));
	if (o == NULL || cb == NULL) {
		util_seterr(err, errlen, "no feed options or callback");
		return -1;
	}
	for (i = 0; data != NULL && i < len; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' &&
		    data[i] != '\n')
			break;
	if (data == NULL || i == len) {
		util_seterr(err, errlen, "feed %s: empty answer", o->name);
		return -1;
	}
	c.st = st;
	c.cb = cb;
	c.cbctx = ctx;
	c.map = c.released = map;
	c.pagesize = (size_t)sysconf(_SC_PAGESIZE);
	if (ctx_init(&c, o, now, err, errlen) != 0)
		goto out;
	icalerror_set_errors_are_fatal(0);
	if (pass_one(&c, data, len, err, errlen) != 0 ||
	    pass_two(&c, data, len, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	ctx_free(&c);
	return rc;
}

int
feed_parse(const char *data, size_t len, const struct feed_opts *o,
	   int64_t now, feed_item_fn cb, void *ctx, struct feed_stats *st,
	   char *err, size_t errlen)
{
	return parse_text(data, len, NULL, o, now, cb, ctx, st, err, errlen);
}

/*
 * feed_parse_fd parses on a thread of its own and calls cb on the
 * caller's: the caller writes each item to the database while the next
 * ones are parsed, so a large feed costs about the longer of the two,
 * not their sum.  Items cross over as owned copies, PIPE_BATCH at a time
 * (one lock per batch); at most PIPE_DEPTH batches wait, which bounds
 * the memory.  The parse thread touches nothing of the caller's but the
 * options (read-only) and *st; time zones are shared through calendar's
 * lock.
 */
struct pipe_batch {
	struct feed_item it[PIPE_BATCH];
	size_t n;
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* a batch was queued or taken, or an end */
	struct pipe_batch *q[PIPE_DEPTH];
	size_t head, count;
	int done;                /* the parse returned */
	int stop;                /* the caller's cb asked to stop */
	struct pipe_batch *fill; /* the parse thread's own */
	/* The parse: its input, result and error. */
	const char *map;
	size_t len;
	const struct feed_opts *o;
	int64_t now;
	struct feed_stats *st;
	int rc;
	char err[512];
};

static void
batch_free(struct pipe_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		feed_item_clear(&b->it[i]);
	free(b);
}

/* Queues the filled batch; 1 when the caller stopped (it is freed). */
static int
pipe_hand_over(struct pipe *p)
{
	struct pipe_batch *b = p->fill;
	int stopped;

	p->fill = NULL;
	pthread_mutex_lock(&p->mu);
	while (p->count == PIPE_DEPTH && !p->stop)
		pthread_cond_wait(&p->cv, &p->mu);
	stopped = p->stop;
	if (!stopped) {
		p->q[(p->head + p->count) % PIPE_DEPTH] = b;
		p->count++;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (stopped)
		batch_free(b);
	return stopped;
}

/* The parse thread's feed_item_fn. */
static int
pipe_push(void *ctx, const struct feed_item *it)
{
	struct pipe *p = ctx;

	if (p->fill == NULL)
		p->fill = xcalloc(1, sizeof(*p->fill));
	feed_item_copy(&p->fill->it[p->fill->n++], it);
	return p->fill->n == PIPE_BATCH ? pipe_hand_over(p) : 0;
}

static void *
pipe_parse(void *arg)
{
	struct pipe *p = arg;

	p->rc = parse_text(p->map, p->len, p->map, p->o, p->now, pipe_push, p,
			   p->st, p->err, sizeof(p->err));
	if (p->fill != NULL && p->fill->n > 0)
		(void)pipe_hand_over(p);
	batch_free(p->fill);
	p->fill = NULL;
	pthread_mutex_lock(&p->mu);
	p->done = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* The next batch, or NULL once the parse is done and all are taken. */
static struct pipe_batch *
pipe_take(struct pipe *p)
{
	struct pipe_batch *b = NULL;

	pthread_mutex_lock(&p->mu);
	while (p->count == 0 && !p->done)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->count > 0) {
		b = p->q[p->head];
		p->head = (p->head + 1) % PIPE_DEPTH;
		p->count--;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return b;
}

/* Runs the parse of map on a thread and cb here; -1 with err when the
 * thread cannot start (the caller parses in place then). */
static int
parse_piped(const char *map, size_t len, const struct feed_opts *o,
	    int64_t now, feed_item_fn cb, void *ctx, struct feed_stats *st,
	    char *err, size_t errlen, int *started)
{
	struct pipe p;
	struct pipe_batch *b;
	pthread_t th;
	size_t i;
	int stopped = 0;

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	p.map = map;
	p.len = len;
	p.o = o;
	p.now = now;
	p.st = st;
	*started = pthread_create(&th, NULL, pipe_parse, &p) == 0;
	if (!*started)
		goto out;
	while ((b = pipe_take(&p)) != NULL) {
		for (i = 0; i < b->n && !stopped; i++)
			stopped = cb(ctx, &b->it[i]) != 0;
		batch_free(b);
		if (stopped && !p.stop) {
			pthread_mutex_lock(&p.mu);
			p.stop = 1;
			pthread_cond_broadcast(&p.cv);
			pthread_mutex_unlock(&p.mu);
		}
	}
	pthread_join(th, NULL);
	/* The parse may have ended before it saw the stop. */
	if (stopped && p.rc == 0) {
		p.rc = -1;
		util_strlcpy(p.err, "stopped by the caller", sizeof(p.err));
	}
	if (p.rc != 0)
		util_strlcpy(err, p.err, errlen);
out:
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	return *started ? p.rc : -1;
}

int
feed_parse_fd(int fd, const struct feed_opts *o, int64_t now,
	      feed_item_fn cb, void *ctx, struct feed_stats *st, char *err,
	      size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct feed_stats local;
	struct stat sb;
	void *map;
	size_t len;
	int rc, started = 0;

	if (fstat(fd, &sb) != 0)
		sb.st_mode = 0;
	if (!S_ISREG(sb.st_mode)) {
		util_seterr(err, errlen, "feed %s: cannot read the answer "
			    "(not a regular file)", o != NULL ? o->name : "?");
		return -1;
	}
	len = (size_t)sb.st_size;
	if (len == 0)   /* mmap refuses 0 bytes; the parse says "empty" */
		return parse_text("", 0, NULL, o, now, cb, ctx, st, err,
				  errlen);
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		util_seterr(err, errlen, "feed %s: cannot map the answer: %s",
			    o != NULL ? o->name : "?",
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	(void)madvise(map, len, MADV_SEQUENTIAL);
	if (st == NULL)
		st = &local;
	rc = parse_piped(map, len, o, now, cb, ctx, st, err, errlen, &started);
	if (!started)
		rc = parse_text(map, len, map, o, now, cb, ctx, st, err,
				errlen);
	munmap(map, len);
	return rc;
}

/* ---- Owned items --------------------------------------------------------- */

static const size_t item_str_off[] = {
	offsetof(struct feed_item, ref), offsetof(struct feed_item, uid),
	offsetof(struct feed_item, recurrence_id),
	offsetof(struct feed_item, title), offsetof(struct feed_item, details),
	offsetof(struct feed_item, customer_name),
	offsetof(struct feed_item, customer_phone),
	offsetof(struct feed_item, customer_email),
	offsetof(struct feed_item, vehicle), offsetof(struct feed_item, vin),
	offsetof(struct feed_item, owner), offsetof(struct feed_item, site),
	offsetof(struct feed_item, policy),
};

static char **
item_str(struct feed_item *it, size_t off)
{
	return (char **)(void *)((char *)it + off);
}

void
feed_item_copy(struct feed_item *dst, const struct feed_item *src)
{
	size_t i;

	*dst = *src;
	for (i = 0; i < NELEM(item_str_off); i++)
		*item_str(dst, item_str_off[i]) =
			xstrdup(*item_str((struct feed_item *)(void *)
					  (uintptr_t)src, item_str_off[i]));
}

void
feed_item_clear(struct feed_item *it)
{
	size_t i;

	for (i = 0; i < NELEM(item_str_off); i++)
		free(*item_str(it, item_str_off[i]));
	memset(it, 0, sizeof(*it));
}

int
feed_items_add(void *list, const struct feed_item *it)
{
	struct feed_items *l = list;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	feed_item_copy(&l->v[l->n++], it);
	return 0;
}

void
feed_items_free(struct feed_items *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		feed_item_clear(&list->v[i]);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

/* libical 3 only has compile-time macros, ICAL_VERSION is just "3.0" and
 * the parts are parenthesised, so the number is printed from them. */
const char *
feed_lib_version(void)
{
	static char buf[32];

	(void)snprintf(buf, sizeof(buf), "%d.%d.%d", ICAL_MAJOR_VERSION,
		       ICAL_MINOR_VERSION, ICAL_PATCH_VERSION);
	return buf;
}
