/*
 * report: the manager's view of who keeps their word.  The store hands
 * over the promises made in a period (with their sent notifications
 * summed up); this file sorts them into groups, counts outcomes by each
 * promise's CURRENT state (a reopened promise counts as open again),
 * takes medians, and writes the result as an aligned table, CSV or JSON.
 * The column list is one table shared by the three writers, so they
 * cannot disagree.
 *
 * Writes cast to (void): stdio's error flag is sticky, and each writer
 * returns ferror(f) at its end, so one check covers every write.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/calendar.h"
#include "promised/report.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Names ------------------------------------------------------------ */

static const char *const by_names[] = {
	[REPORT_BY_OWNER] = "owner",
	[REPORT_BY_TEAM] = "team",
	[REPORT_BY_SITE] = "site",
};

static const char *const format_names[] = {
	[REPORT_FORMAT_TABLE] = "table",
	[REPORT_FORMAT_CSV] = "csv",
	[REPORT_FORMAT_JSON] = "json",
};

static int
parse_name(const char *const *names, size_t n, const char *name, int *out)
{
	size_t i;

	for (i = 0; name != NULL && i < n; i++) {
		if (strcmp(names[i], name) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -1;
}

int
report_by_parse(const char *name, enum report_by *out)
{
	int v;

	if (parse_name(by_names, NELEM(by_names), name, &v) != 0)
		return -1;
	*out = (enum report_by)v;
	return 0;
}

int
report_format_parse(const char *name, enum report_format *out)
{
	int v;

	if (parse_name(format_names, NELEM(format_names), name, &v) != 0)
		return -1;
	*out = (enum report_format)v;
	return 0;
}

const char *
report_by_name(enum report_by by)
{
	return (size_t)by < NELEM(by_names) ? by_names[by] : "?";
}

/* ---- Computing -------------------------------------------------------- */

/* Durations collected for the medians of one row. */
struct samples {
	int64_t *v;
	size_t n, cap;
};

static void
samples_add(struct samples *s, int64_t v)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 8 : s->cap * 2;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n++] = v;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The middle value; with an even count the mean of the two middle ones
 * (rounded down).  -1 when there is none. */
static int64_t
samples_median(struct samples *s)
{
	if (s->n == 0)
		return -1;
	qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
	if (s->n % 2 == 1)
		return s->v[s->n / 2];
	return s->v[s->n / 2 - 1] + (s->v[s->n / 2] - s->v[s->n / 2 - 1]) / 2;
}

/* A row being filled: counters plus the samples of its medians. */
struct acc {
	struct report_row row;
	struct samples late;
	struct samples r2d;     /* first notification sent -> done */
};

static void
acc_init(struct acc *a, const char *key)
{
	memset(a, 0, sizeof(*a));
	a->row.key = key != NULL ? xstrdup(key) : NULL;
	a->row.late_worst = -1;
}

/* Counts one promise into a row, by its state at now. */
static void
acc_add(struct acc *a, const struct store_report_item *it, int64_t now)
{
	struct report_row *r = &a->row;
	int done = 0;

	r->made++;
	if (it->state == PROMISE_CLOSED) {
		if (it->outcome == OUTCOME_CANCELLED) {
			r->cancelled++;
		} else if (it->outcome == OUTCOME_LATE ||
			   (it->outcome == OUTCOME_NONE &&
			    it->closed_at > it->due_at)) {
			int64_t by = it->closed_at - it->due_at;

			r->late++;
			samples_add(&a->late, by > 0 ? by : 0);
			if (by > r->late_worst)
				r->late_worst = by > 0 ? by : 0;
			done = 1;
		} else {
			r->kept++;
			done = 1;
		}
	} else if (it->due_at < now) {
		r->lapsed++;
	} else {
		r->open++;
	}
	if (it->renegotiations > 0) {
		r->renegotiated++;
		r->renegotiations += it->renegotiations;
	}
	r->escalations_sent += it->escalations_sent;
	if (done && it->first_sent_at > 0 && it->first_sent_at <= it->closed_at) {
		r->reminded_done++;
		samples_add(&a->r2d, it->closed_at - it->first_sent_at);
	}
}

static void
acc_finish(struct acc *a)
{
	struct report_row *r = &a->row;
	int64_t rated = r->kept + r->late + r->lapsed;

	r->late_median = samples_median(&a->late);
	r->reminder_to_done_median = samples_median(&a->r2d);
	r->keeping_rate = rated > 0 ? (double)r->kept / (double)rated : -1.0;
	free(a->late.v);
	free(a->r2d.v);
	a->late.v = a->r2d.v = NULL;
}

/* The group of an item; NULL when it has none.  A promise without a
 * recorded team or site falls back on its owner's team and the default
 * site of the config. */
static const char *
key_of(const struct config *cfg, enum report_by by,
       const struct store_report_item *it)
{
	const struct cfg_staff *sf;

	switch (by) {
	case REPORT_BY_TEAM:
		if (it->team != NULL && *it->team != '\0')
			return it->team;
		sf = cfg != NULL ? config_staff(cfg, it->owner) : NULL;
		return sf != NULL ? sf->team : NULL;
	case REPORT_BY_SITE:
		if (it->site != NULL && *it->site != '\0')
			return it->site;
		return cfg != NULL ? cfg->default_site : NULL;
	case REPORT_BY_OWNER:
	default:
		return it->owner;
	}
}

static int
same_key(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Keys in byte order; the group without a key goes last. */
static int
cmp_acc(const void *pa, const void *pb)
{
	const char *a = ((const struct acc *)pa)->row.key;
	const char *b = ((const struct acc *)pb)->row.key;

	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	return strcmp(a, b);
}

static const char *
zone_of(const struct config *cfg, const struct report_query *q)
{
	const struct cal_site *s = NULL;
	const struct cfg_team *t;

	if (cfg == NULL)
		return "UTC";
	if (q->site != NULL)
		s = config_site(cfg, q->site);
	if (s == NULL && q->team != NULL &&
	    (t = config_team(cfg, q->team)) != NULL)
		s = config_site(cfg, t->site);
	if (s == NULL && cfg->default_site != NULL)
		s = config_site(cfg, cfg->default_site);
	if (s == NULL && cfg->nsites > 0)
		s = &cfg->sites[0];
	return s != NULL && s->tz != NULL ? s->tz : "UTC";
}

/* Sorts the items into groups and the total. */
static void
fill(struct report *r, const struct config *cfg,
     const struct store_report_item *items, size_t n)
{
	struct acc *groups = NULL, total;
	size_t i, g, ngroups = 0, cap = 0;

	acc_init(&total, NULL);
	for (i = 0; i < n; i++) {
		const char *key = key_of(cfg, r->by, &items[i]);

		for (g = 0; g < ngroups; g++)
			if (same_key(groups[g].row.key, key))
				break;
		if (g == ngroups) {
			if (ngroups == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				groups = xreallocarray(groups, cap,
						       sizeof(*groups));
			}
			acc_init(&groups[ngroups++], key);
		}
		acc_add(&groups[g], &items[i], r->now);
		acc_add(&total, &items[i], r->now);
	}
	if (ngroups > 1)
		qsort(groups, ngroups, sizeof(*groups), cmp_acc);
	r->rows = ngroups > 0 ? xcalloc(ngroups, sizeof(*r->rows)) : NULL;
	for (g = 0; g < ngroups; g++) {
		acc_finish(&groups[g]);
		r->rows[g] = groups[g].row;
	}
	r->nrows = ngroups;
	acc_finish(&total);
	r->total = total.row;
	free(groups);
}

int
report_compute(struct store *st, const struct config *cfg,
	       const struct report_query *q, int64_t now,
	       struct report **out, char *err, size_t errlen)
{
	struct store_report_filter f;
	struct store_report_item *items = NULL;
	struct report *r = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (q->from >= q->to) {
		util_seterr(err, errlen, "the period is empty: from must lie "
			    "before to");
		return STORE_INVALID;
	}
	memset(&f, 0, sizeof(f));
	f.created_from = q->from;
	f.created_to = q->to;
	f.owner = q->owner;
	f.team = q->team;
	f.site = q->site;
	rc = store_report_items(st, &f, &items, &n, err, errlen);
	if (rc != STORE_OK)
		goto out;
	r = xcalloc(1, sizeof(*r));
	r->by = q->by;
	r->from = q->from;
	r->to = q->to;
	r->now = now;
	r->tz = xstrdup(zone_of(cfg, q));
	fill(r, cfg, items, n);
	*out = r;
out:
	store_report_items_free(items, n);
	return rc;
}

void
report_free(struct report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrows; i++)
		free(r->rows[i].key);
	free(r->rows);
	free(r->total.key);
	free(r->tz);
	free(r);
}

/* ---- Columns, shared by the writers ------------------------------------ */

enum col_kind { COL_COUNT, COL_DURATION, COL_RATE };

struct column {
	const char *head;      /* table header (no blanks: easy to split) */
	const char *name;      /* CSV header and JSON member */
	enum col_kind kind;
	size_t off;            /* of an int64_t, unused for COL_RATE */
};

#define ROWOFF(m) offsetof(struct report_row, m)

static const struct column columns[] = {
	{ "MADE", "made", COL_COUNT, ROWOFF(made) },
	{ "KEPT", "kept", COL_COUNT, ROWOFF(kept) },
	{ "LATE", "late", COL_COUNT, ROWOFF(late) },
	{ "LATE-MEDIAN", "late_median_s", COL_DURATION, ROWOFF(late_median) },
	{ "LATE-WORST", "late_worst_s", COL_DURATION, ROWOFF(late_worst) },
	{ "LAPSED", "lapsed", COL_COUNT, ROWOFF(lapsed) },
	{ "OPEN", "open", COL_COUNT, ROWOFF(open) },
	{ "CANCELLED", "cancelled", COL_COUNT, ROWOFF(cancelled) },
	{ "RENEGOTIATED", "renegotiated", COL_COUNT, ROWOFF(renegotiated) },
	{ "RENEG-TIMES", "renegotiations", COL_COUNT,
	  ROWOFF(renegotiations) },
	{ "KEEPING", "keeping_rate", COL_RATE, 0 },
	{ "ESCALATIONS", "escalations_sent", COL_COUNT,
	  ROWOFF(escalations_sent) },
	{ "REMINDED-DONE", "reminded_done", COL_COUNT, ROWOFF(reminded_done) },
	{ "REMINDER-TO-DONE", "reminder_to_done_median_s", COL_DURATION,
	  ROWOFF(reminder_to_done_median) },
};

#define NCOLS NELEM(columns)

static int64_t
col_int(const struct report_row *row, const struct column *c)
{
	return *(const int64_t *)(const void *)((const char *)row + c->off);
}

/* One cell.  human: "1h30m" and "66.7%", else seconds and a ratio with
 * four decimals; "" when the value is absent (the table shows "-"). */
static void
cell(const struct report_row *row, const struct column *c, int human,
     char *buf, size_t buflen)
{
	int64_t v;

	buf[0] = '\0';
	if (c->kind == COL_RATE) {
		if (row->keeping_rate < 0)
			return;
		if (human)
			(void)snprintf(buf, buflen, "%.1f%%",
				       row->keeping_rate * 100.0);
		else
			(void)snprintf(buf, buflen, "%.4f", row->keeping_rate);
		return;
	}
	v = col_int(row, c);
	if (c->kind == COL_DURATION && v < 0)
		return;
	if (c->kind == COL_DURATION && human)
		util_format_duration(v, buf, buflen);
	else
		(void)snprintf(buf, buflen, "%" PRId64, v);
}

/* ---- Table ------------------------------------------------------------- */

#define CELL_MAX 64

static size_t
key_width(const struct report *r)
{
	size_t i, w = strlen(report_by_name(r->by));

	if (w < strlen("TOTAL"))
		w = strlen("TOTAL");
	if (w < strlen("(none)"))
		w = strlen("(none)");
	for (i = 0; i < r->nrows; i++)
		if (r->rows[i].key != NULL && strlen(r->rows[i].key) > w)
			w = strlen(r->rows[i].key);
	return w;
}

static void
col_widths(const struct report *r, size_t *w)
{
	char buf[CELL_MAX];
	size_t i, k;

	for (k = 0; k < NCOLS; k++) {
		w[k] = strlen(columns[k].head);
		for (i = 0; i <= r->nrows; i++) {
			cell(i < r->nrows ? &r->rows[i] : &r->total,
			     &columns[k], 1, buf, sizeof(buf));
			if (strlen(buf) > w[k])
				w[k] = strlen(buf);
		}
	}
}

static void
table_row(FILE *f, const struct report_row *row, const char *key,
	  size_t kw, const size_t *w)
{
	char buf[CELL_MAX];
	size_t k;

	(void)fprintf(f, "%-*s", (int)kw, key);
	for (k = 0; k < NCOLS; k++) {
		cell(row, &columns[k], 1, buf, sizeof(buf));
		(void)fprintf(f, "  %*s", (int)w[k],
			      buf[0] != '\0' ? buf : "-");
	}
	(void)fputc('\n', f);
}

static int
report_write_table(FILE *f, const struct report *r)
{
	char from[48], to[48], head[32];
	size_t w[NCOLS], kw = key_width(r), i, k;

	cal_format_local(r->tz, r->from, 1, from, sizeof(from));
	cal_format_local(r->tz, r->to, 1, to, sizeof(to));
	(void)fprintf(f, "Promises made from %s to %s (%s), by %s\n\n", from,
		      to, r->tz, report_by_name(r->by));
	col_widths(r, w);
	(void)snprintf(head, sizeof(head), "%s", report_by_name(r->by));
	for (i = 0; head[i] != '\0'; i++)
		if (head[i] >= 'a' && head[i] <= 'z')
			head[i] = (char)(head[i] - 'a' + 'A');
	(void)fprintf(f, "%-*s", (int)kw, head);
	for (k = 0; k < NCOLS; k++)
		(void)fprintf(f, "  %*s", (int)w[k], columns[k].head);
	(void)fputc('\n', f);
	for (i = 0; i < r->nrows; i++)
		table_row(f, &r->rows[i], r->rows[i].key != NULL ?
			  r->rows[i].key : "(none)", kw, w);
	table_row(f, &r->total, "TOTAL", kw, w);
	return ferror(f) ? -1 : 0;
}

/* ---- CSV (RFC 4180: CRLF line ends, fields quoted when needed) --------- */

static void
csv_field(FILE *f, const char *s)
{
	const char *p;

	if (s == NULL || strpbrk(s, ",\"\r\n") == NULL) {
		(void)fputs(s != NULL ? s : "", f);
		return;
	}
	(void)fputc('"', f);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"')
			(void)fputc('"', f);
		(void)fputc(*p, f);
	}
	(void)fputc('"', f);
}

static void
csv_row(FILE *f, const char *what, const struct report_row *row)
{
	char buf[CELL_MAX];
	size_t k;

	(void)fputs(what, f);
	(void)fputc(',', f);
	csv_field(f, row->key);
	for (k = 0; k < NCOLS; k++) {
		cell(row, &columns[k], 0, buf, sizeof(buf));
		(void)fputc(',', f);
		(void)fputs(buf, f);
	}
	(void)fputs("\r\n", f);
}

static int
report_write_csv(FILE *f, const struct report *r)
{
	size_t i, k;

	(void)fprintf(f, "row,%s", report_by_name(r->by));
	for (k = 0; k < NCOLS; k++)
		(void)fprintf(f, ",%s", columns[k].name);
	(void)fputs("\r\n", f);
	for (i = 0; i < r->nrows; i++)
		csv_row(f, "group", &r->rows[i]);
	csv_row(f, "total", &r->total);
	return ferror(f) ? -1 : 0;
}

/* ---- JSON -------------------------------------------------------------- */

static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		(void)fputs("null", f);
		return;
	}
	(void)fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			(void)fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			(void)fprintf(f, "\\u%04x", *p);
		else
			(void)fputc(*p, f);
	}
	(void)fputc('"', f);
}

static void
json_row(FILE *f, const struct report_row *row, int with_key)
{
	char buf[CELL_MAX];
	size_t k;

	(void)fputc('{', f);
	if (with_key) {
		(void)fputs("\"key\": ", f);
		json_str(f, row->key);
		(void)fputs(", ", f);
	}
	for (k = 0; k < NCOLS; k++) {
		cell(row, &columns[k], 0, buf, sizeof(buf));
		(void)fprintf(f, "%s\"%s\": %s", k > 0 ? ", " : "",
			      columns[k].name,
			      buf[0] != '\0' ? buf : "null");
	}
	(void)fputc('}', f);
}

static int
report_write_json(FILE *f, const struct report *r)
{
	char t[48];
	size_t i;

	(void)fprintf(f, "{\"by\": \"%s\", \"tz\": ", report_by_name(r->by));
	json_str(f, r->tz);
	util_format_utc(r->from, t, sizeof(t));
	(void)fprintf(f, ",\n \"from\": %" PRId64 ", \"from_utc\": \"%s\", ",
		      r->from, t);
	cal_format_local(r->tz, r->from, 1, t, sizeof(t));
	(void)fputs("\"from_local\": ", f);
	json_str(f, t);
	util_format_utc(r->to, t, sizeof(t));
	(void)fprintf(f, ",\n \"to\": %" PRId64 ", \"to_utc\": \"%s\", ", r->to,
		      t);
	cal_format_local(r->tz, r->to, 1, t, sizeof(t));
	(void)fputs("\"to_local\": ", f);
	json_str(f, t);
	(void)fprintf(f, ",\n \"now\": %" PRId64 ",\n \"rows\": [", r->now);
	for (i = 0; i < r->nrows; i++) {
		(void)fputs(i > 0 ? ",\n  " : "\n  ", f);
		json_row(f, &r->rows[i], 1);
	}
	(void)fputs(r->nrows > 0 ? "\n ],\n \"total\": " : "],\n \"total\": ",
		    f);
	json_row(f, &r->total, 0);
	(void)fputs("}\n", f);
	return ferror(f) ? -1 : 0;
}

int
report_write(FILE *f, const struct report *r, enum report_format fmt)
{
	switch (fmt) {
	case REPORT_FORMAT_CSV:
		return report_write_csv(f, r);
	case REPORT_FORMAT_JSON:
		return report_write_json(f, r);
	case REPORT_FORMAT_TABLE:
	default:
		return report_write_table(f, r);
	}
}
