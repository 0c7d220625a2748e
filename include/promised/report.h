/*
 * report: who keeps their word.  Counts the promises made (created) in a
 * period, grouped by owner, team or site, plus a total: kept on time,
 * late (median and worst lateness), lapsed and still open, cancelled,
 * renegotiated, the keeping rate, escalations sent and the median time
 * from the first notification to done.  Reads the store, writes a table,
 * CSV (RFC 4180) or JSON.  docs/man/promisectl.1.scd defines every number.
 */
#ifndef PROMISED_REPORT_H
#define PROMISED_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "promised/config.h"
#include "promised/store.h"

enum report_by {
	REPORT_BY_OWNER = 0,
	REPORT_BY_TEAM,
	REPORT_BY_SITE,
};

enum report_format {
	REPORT_FORMAT_TABLE = 0,
	REPORT_FORMAT_CSV,
	REPORT_FORMAT_JSON,
};

/* What to report on.  The filters let one team's manager (the weekly
 * digest) get the report of that team alone. */
struct report_query {
	int64_t from;              /* created_at >= from (UTC seconds) */
	int64_t to;                /* created_at < to; from < to */
	enum report_by by;
	const char *owner;         /* NULL: every owner */
	const char *team;          /* NULL: every team */
	const char *site;          /* NULL: every site */
};

/* One group (or the total).  Durations are seconds; -1 means "no value"
 * (no late promise, nothing to rate, no reminded promise done). */
struct report_row {
	char *key;                 /* owner/team/site id; NULL: none, or total */
	int64_t made;              /* created in the period */
	int64_t kept;              /* closed at or before due */
	int64_t late;              /* closed after due */
	int64_t late_median;       /* median of closed_at - due_at of late */
	int64_t late_worst;        /* the largest of them */
	int64_t lapsed;            /* open or acked, due before now */
	int64_t open;              /* open or acked, due now or later */
	int64_t cancelled;
	int64_t renegotiated;      /* promises renegotiated at least once */
	int64_t renegotiations;    /* how often, in total */
	double keeping_rate;       /* kept / (kept + late + lapsed); -1: none */
	int64_t escalations_sent;  /* escalation messages that went out */
	int64_t reminded_done;     /* kept or late with a notification sent */
	int64_t reminder_to_done_median;  /* median of closed_at - first sent */
};

struct report {
	enum report_by by;
	int64_t from, to, now;
	char *tz;                  /* zone of the local times shown */
	struct report_row *rows;   /* by key; the group without a key last */
	size_t nrows;
	struct report_row total;
};

/* Parses "owner", "team", "site" / "table", "csv", "json"; 0 or -1. */
int report_by_parse(const char *name, enum report_by *out);
int report_format_parse(const char *name, enum report_format *out);
/* Stable name of a grouping. */
const char *report_by_name(enum report_by by);

/* Computes the report of q at now.  cfg (may be NULL) supplies the zone
 * (the filtered site's, the filtered team's site's, else the default
 * site's) and the keys of promises without a team or site.  Returns
 * STORE_OK with an owned *out (report_free), a store_rc, or
 * STORE_INVALID when from >= to; err says why. */
int report_compute(struct store *st, const struct config *cfg,
		   const struct report_query *q, int64_t now,
		   struct report **out, char *err, size_t errlen);
/* Releases a report; NULL is allowed. */
void report_free(struct report *r);

/* Writes r as fmt: 0, or -1 when f reported a write error.  The table
 * shows durations as "1h30m" and times in r->tz; CSV and JSON give
 * seconds. */
int report_write(FILE *f, const struct report *r, enum report_format fmt);

#endif
