/*
 * output: how promisectl shows promises — local times of a promise's site,
 * coarse relative hints, the aligned table of `list`, the detail view of
 * `show` and the stable JSON of --json (written by hand: one escaping
 * function, RFC 8259).  Field names here are documented in
 * docs/man/promisectl.1.scd and must not change.
 *
 * Writes cast to (void): stdio's error flag is sticky, and promisectl's
 * main checks fflush and ferror on stdout once at the end.  snprintf
 * into the fixed buffers here only shapes what is shown.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "promised/calendar.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

static const char *const wdays[7] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
};

static void
fmt_offset(int off, char *buf, size_t buflen)
{
	int a = off < 0 ? -off : off;

	(void)snprintf(buf, buflen, "%c%02d:%02d", off < 0 ? '-' : '+',
		       a / 3600, (a % 3600) / 60);
}

void
cli_fmt_local(const char *tz, int64_t t, int longform, char *buf,
	      size_t buflen)
{
	struct cal_local l;
	char off[16];

	if (cal_to_local(tz, t, &l) != 0 || l.weekday < 0 || l.weekday > 6) {
		util_format_utc(t, buf, buflen);
		return;
	}
	fmt_offset(l.utcoff, off, sizeof(off));
	if (longform)
		(void)snprintf(buf, buflen, "%s %04d-%02d-%02d %02d:%02d %s",
			       wdays[l.weekday], l.year, l.month, l.day, l.hour,
			       l.min, off);
	else
		(void)snprintf(buf, buflen, "%s %02d-%02d %02d:%02d",
			       wdays[l.weekday], l.month, l.day, l.hour, l.min);
}

/* "2026-12-04T17:00:00+01:00" */
static void
fmt_iso_local(const char *tz, int64_t t, char *buf, size_t buflen)
{
	struct cal_local l;
	char off[16];

	if (cal_to_local(tz, t, &l) != 0) {
		util_format_utc(t, buf, buflen);
		return;
	}
	fmt_offset(l.utcoff, off, sizeof(off));
	(void)snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d%s", l.year,
		       l.month, l.day, l.hour, l.min, l.sec, off);
}

void
cli_fmt_relative(int64_t t, int64_t now, char *buf, size_t buflen)
{
	int64_t d = t - now, a = d < 0 ? -d : d;
	char dur[32];

	if (a < 60) {
		util_strlcpy(buf, "now", buflen);
		return;
	}
	if (a >= INT64_C(2) * 86400)
		(void)snprintf(dur, sizeof(dur), "%" PRId64 "d", a / 86400);
	else if (a >= INT64_C(10) * 3600)
		(void)snprintf(dur, sizeof(dur), "%" PRId64 "h", a / 3600);
	else
		util_format_duration(a - a % 60, dur, sizeof(dur));
	if (d > 0)
		(void)snprintf(buf, buflen, "in %s", dur);
	else
		(void)snprintf(buf, buflen, "%s late", dur);
}

/* ---- JSON ------------------------------------------------------------ */

void
cli_json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		(void)fputs("null", f);
		return;
	}
	(void)fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': (void)fputs("\\\"", f); break;
		case '\\': (void)fputs("\\\\", f); break;
		case '\n': (void)fputs("\\n", f); break;
		case '\r': (void)fputs("\\r", f); break;
		case '\t': (void)fputs("\\t", f); break;
		default:
			/* UTF-8 passes through; the store holds valid text. */
			if (*p < 0x20 || *p == 0x7f)
				(void)fprintf(f, "\\u%04x", *p);
			else
				(void)fputc(*p, f);
		}
	}
	(void)fputc('"', f);
}

static void
json_key(FILE *f, const char *key, int *first)
{
	(void)fputs(*first ? "" : ",", f);
	*first = 0;
	(void)fprintf(f, "\"%s\":", key);
}

static void
json_kstr(FILE *f, const char *key, const char *val, int *first)
{
	json_key(f, key, first);
	cli_json_str(f, val);
}

/* An instant as ISO-8601 UTC, or null for 0 (unset). */
static void
json_ktime(FILE *f, const char *key, int64_t t, int *first)
{
	char buf[40];

	json_key(f, key, first);
	if (t == 0) {
		(void)fputs("null", f);
		return;
	}
	util_format_utc(t, buf, sizeof(buf));
	cli_json_str(f, buf);
}

static void
json_events(FILE *f, const struct event *ev, size_t nev)
{
	size_t i;

	(void)fputs(",\"events\":[", f);
	for (i = 0; i < nev; i++) {
		int first = 1;

		(void)fputs(i ? ",{" : "{", f);
		json_ktime(f, "at", ev[i].at, &first);
		json_kstr(f, "kind", event_kind_name(ev[i].kind), &first);
		json_kstr(f, "actor", ev[i].actor, &first);
		json_kstr(f, "detail", ev[i].detail, &first);
		json_ktime(f, "old_due", ev[i].old_due, &first);
		json_ktime(f, "new_due", ev[i].new_due, &first);
		(void)fputc('}', f);
	}
	(void)fputc(']', f);
}

void
cli_json_promise(FILE *f, const struct cli *c, const struct promise *p,
		 const struct event *ev, size_t nev, int with_events)
{
	const char *tz = cli_tz(cli_site_of(c, p->site));
	char buf[64];
	int first = 1, cfirst = 1;

	(void)fprintf(f, "{\"id\":%" PRId64, p->id);
	first = 0;
	json_kstr(f, "ref", p->ref, &first);
	json_kstr(f, "title", p->title, &first);
	json_kstr(f, "details", p->details, &first);
	json_key(f, "customer", &first);
	(void)fputc('{', f);
	json_kstr(f, "name", p->customer_name, &cfirst);
	json_kstr(f, "phone", p->customer_phone, &cfirst);
	json_kstr(f, "email", p->customer_email, &cfirst);
	(void)fputc('}', f);
	json_kstr(f, "vehicle", p->vehicle, &first);
	json_kstr(f, "vin", p->vin, &first);
	json_kstr(f, "owner", p->owner, &first);
	json_kstr(f, "team", p->team, &first);
	json_kstr(f, "site", p->site, &first);
	json_kstr(f, "policy", p->policy, &first);
	json_kstr(f, "state", promise_state_name(p->state), &first);
	json_kstr(f, "outcome", p->outcome == OUTCOME_NONE ? NULL :
		  promise_outcome_name(p->outcome), &first);
	json_ktime(f, "due", p->due_at, &first);
	fmt_iso_local(tz, p->due_at, buf, sizeof(buf));
	json_kstr(f, "due_local", buf, &first);
	json_ktime(f, "target", p->target_at, &first);
	json_ktime(f, "created", p->created_at, &first);
	json_ktime(f, "updated", p->updated_at, &first);
	json_ktime(f, "closed", p->closed_at, &first);
	json_kstr(f, "closed_by", p->closed_by, &first);
	json_ktime(f, "acked", p->acked_at, &first);
	json_ktime(f, "snoozed_until", p->snoozed_until, &first);
	json_ktime(f, "lapsed", p->lapsed_at, &first);
	json_ktime(f, "next_step", p->next_step_at, &first);
	json_key(f, "renegotiations", &first);
	(void)fprintf(f, "%d", p->renegotiations);
	json_kstr(f, "source", p->source, &first);
	if (with_events)
		json_events(f, ev, nev);
	(void)fputc('}', f);
}

/* ---- show ------------------------------------------------------------ */

static void
field(FILE *f, const char *name, const char *val)
{
	const char *nl;

	if (val == NULL || *val == '\0')
		return;
	(void)fprintf(f, "%-14s", name);
	/* Continuation lines of multi-line text stay in the value column. */
	while ((nl = strchr(val, '\n')) != NULL) {
		(void)fprintf(f, "%.*s\n%-14s", (int)(nl - val), val, "");
		val = nl + 1;
	}
	(void)fprintf(f, "%s\n", val);
}

static void
time_field(FILE *f, const char *name, const char *tz, int64_t t,
	   const char *extra)
{
	char buf[64], line[640];

	if (t == 0)
		return;
	cli_fmt_local(tz, t, 1, buf, sizeof(buf));
	(void)snprintf(line, sizeof(line), "%s%s", buf, extra ? extra : "");
	field(f, name, line);
}

static void
print_timeline(FILE *f, const char *tz, const struct event *ev, size_t nev)
{
	char at[64], o[64], n[64];
	size_t i;

	(void)fprintf(f, "\ntimeline:\n");
	for (i = 0; i < nev; i++) {
		cli_fmt_local(tz, ev[i].at, 1, at, sizeof(at));
		(void)fprintf(f, "  %s  %-12s  %-12s", at,
			      event_kind_name(ev[i].kind),
			      ev[i].actor ? ev[i].actor : "-");
		/* Only a move of the due is shown; "created" says its due in
		 * its detail. */
		if (ev[i].old_due && ev[i].new_due) {
			cli_fmt_local(tz, ev[i].old_due, 0, o, sizeof(o));
			cli_fmt_local(tz, ev[i].new_due, 0, n, sizeof(n));
			(void)fprintf(f, "  due %s -> %s", o, n);
		}
		if (ev[i].detail && *ev[i].detail)
			(void)fprintf(f, "  %s", ev[i].detail);
		(void)fputc('\n', f);
	}
}

void
cli_print_promise(FILE *f, const struct cli *c, const struct promise *p,
		  const struct event *ev, size_t nev)
{
	const struct cal_site *site = cli_site_of(c, p->site);
	const struct cfg_staff *owner = config_staff(c->cfg, p->owner);
	const char *tz = cli_tz(site);
	char buf[512], rel[64];

	(void)fprintf(f, "promise %" PRId64 "\n", p->id);
	field(f, "ref:", p->ref);
	field(f, "title:", p->title);
	if (p->state == PROMISE_CLOSED)
		(void)snprintf(buf, sizeof(buf), "closed (%s)",
			       promise_outcome_name(p->outcome));
	else
		util_strlcpy(buf, promise_state_name(p->state), sizeof(buf));
	field(f, "state:", buf);
	cli_fmt_relative(p->due_at, c->now, rel, sizeof(rel));
	(void)snprintf(buf, sizeof(buf), " (%s)", rel);
	time_field(f, "due:", tz, p->due_at,
		   p->state == PROMISE_CLOSED ? NULL : buf);
	time_field(f, "target:", tz, p->target_at, NULL);
	(void)snprintf(buf, sizeof(buf), "%s%s%s%s", p->owner ? p->owner : "-",
		       owner && owner->name ? " (" : "",
		       owner && owner->name ? owner->name : "",
		       owner && owner->name ? ")" : "");
	field(f, "owner:", buf);
	field(f, "team:", p->team);
	(void)snprintf(buf, sizeof(buf), "%s (%s)", p->site ? p->site : "-",
		       tz);
	field(f, "site:", buf);
	field(f, "policy:", p->policy);
	field(f, "customer:", p->customer_name);
	field(f, "phone:", p->customer_phone);
	field(f, "email:", p->customer_email);
	field(f, "vehicle:", p->vehicle);
	field(f, "vin:", p->vin);
	field(f, "details:", p->details);
	time_field(f, "created:", tz, p->created_at, NULL);
	time_field(f, "updated:", tz, p->updated_at, NULL);
	time_field(f, "acked:", tz, p->acked_at, NULL);
	time_field(f, "snoozed till:", tz, p->snoozed_until, NULL);
	(void)snprintf(buf, sizeof(buf), " by %s",
		       p->closed_by ? p->closed_by : "-");
	time_field(f, "closed:", tz, p->closed_at, buf);
	time_field(f, "lapsed:", tz, p->lapsed_at, NULL);
	time_field(f, "next step:", tz, p->next_step_at, NULL);
	if (p->renegotiations) {
		(void)snprintf(buf, sizeof(buf), "%d", p->renegotiations);
		field(f, "renegotiated:", buf);
	}
	field(f, "source:", p->source);
	print_timeline(f, tz, ev, nev);
}

/* ---- list ------------------------------------------------------------ */

enum { COL_ID, COL_DUE, COL_STATE, COL_OWNER, COL_CUSTOMER, COL_TITLE, NCOL };

static const char *const col_names[NCOL] = {
	"ID", "DUE", "STATE", "OWNER", "CUSTOMER", "TITLE",
};

/* Columns on screen: code points, close enough for names and titles. */
static size_t
u8_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

/* Cuts s to at most w code points, ending in "..." when cut. */
static void
u8_truncate(char *s, size_t w)
{
	size_t n = 0, i;

	if (w < 4 || u8_width(s) <= w)
		return;
	for (i = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == w - 3)
			break;
	}
	util_strlcpy(s + i, "...", 4);
}

struct row {
	char *cell[NCOL];
	int colour;   /* 0 none, 1 red (overdue), 2 yellow (due within 2h) */
};

static void
fill_row(const struct cli *c, const struct promise *p, struct row *r)
{
	const char *tz = cli_tz(cli_site_of(c, p->site));
	char due[64], rel[64];
	int closed = p->state == PROMISE_CLOSED;

	cli_fmt_local(tz, p->due_at, 0, due, sizeof(due));
	cli_fmt_relative(p->due_at, c->now, rel, sizeof(rel));
	r->cell[COL_ID] = xasprintf("%" PRId64, p->id);
	r->cell[COL_DUE] = closed ? xstrdup(due) : xasprintf("%s (%s)", due, rel);
	r->cell[COL_STATE] = closed ? xasprintf("closed/%s",
				promise_outcome_name(p->outcome))
			   : xstrdup(promise_state_name(p->state));
	r->cell[COL_OWNER] = xstrdup(p->owner ? p->owner : "-");
	r->cell[COL_CUSTOMER] = xstrdup(p->customer_name ? p->customer_name : "-");
	r->cell[COL_TITLE] = xstrdup(p->title ? p->title : "");
	r->colour = 0;
	if (!closed && p->due_at < c->now)
		r->colour = 1;
	else if (!closed && p->due_at - c->now <= INT64_C(2) * 3600)
		r->colour = 2;
}

static int
use_colour(const struct cli *c)
{
	const char *nc = util_getenv("NO_COLOR");

	return !c->no_color && (nc == NULL || *nc == '\0') &&
	       isatty(STDOUT_FILENO);
}

static size_t
term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Fits the table to the terminal by cutting customer and title. */
static void
fit_rows(struct row *rows, size_t n, size_t width[NCOL])
{
	size_t used = 0, i, j, room;

	if (width[COL_CUSTOMER] > 20)
		width[COL_CUSTOMER] = 20;
	for (j = 0; j < COL_TITLE; j++)
		used += width[j] + 2;
	room = term_width();
	room = room > used + 10 ? room - used : 10;
	if (width[COL_TITLE] > room)
		width[COL_TITLE] = room;
	for (i = 0; i < n; i++) {
		u8_truncate(rows[i].cell[COL_CUSTOMER], width[COL_CUSTOMER]);
		u8_truncate(rows[i].cell[COL_TITLE], width[COL_TITLE]);
	}
}

static void
print_cell(FILE *f, const char *s, size_t w, int last, const char *on)
{
	size_t pad = w > u8_width(s) ? w - u8_width(s) : 0;

	(void)fprintf(f, "%s%s%s", on ? on : "", s, on ? "\033[0m" : "");
	if (!last)
		(void)fprintf(f, "%*s", (int)(pad + 2), "");
}

void
cli_print_table(FILE *f, const struct cli *c, const struct promise *arr,
		size_t n)
{
	static const char *const colours[3] = { NULL, "\033[31m", "\033[33m" };
	struct row *rows = xcalloc(n ? n : 1, sizeof(*rows));
	size_t width[NCOL], i, j;
	int colour = use_colour(c);

	for (j = 0; j < NCOL; j++)
		width[j] = u8_width(col_names[j]);
	for (i = 0; i < n; i++) {
		fill_row(c, &arr[i], &rows[i]);
		for (j = 0; j < NCOL; j++)
			if (u8_width(rows[i].cell[j]) > width[j])
				width[j] = u8_width(rows[i].cell[j]);
	}
	if (isatty(STDOUT_FILENO))
		fit_rows(rows, n, width);
	for (j = 0; j < NCOL; j++)
		print_cell(f, col_names[j], width[j], j == NCOL - 1, NULL);
	(void)fputc('\n', f);
	for (i = 0; i < n; i++) {
		for (j = 0; j < NCOL; j++)
			print_cell(f, rows[i].cell[j], width[j], j == NCOL - 1,
				   colour && j == COL_DUE ?
				   colours[rows[i].colour] : NULL);
		(void)fputc('\n', f);
		for (j = 0; j < NCOL; j++)
			free(rows[i].cell[j]);
	}
	free(rows);
}

int
cli_report_change(struct cli *c, int64_t id, const char *msg)
{
	struct promise p;
	struct event *ev = NULL;
	size_t nev = 0;
	char err[512] = "";
	int rc;

	if (!c->json) {
		printf("%s\n", msg);
		return EX_OK;
	}
	memset(&p, 0, sizeof(p));
	rc = store_get(c->st, id, &p, err, sizeof(err));
	if (rc == STORE_OK)
		rc = store_events(c->st, id, &ev, &nev, err, sizeof(err));
	if (rc != STORE_OK) {
		rc = cli_store_fail(rc, err);
		goto out;
	}
	cli_json_promise(stdout, c, &p, ev, nev, 1);
	(void)fputc('\n', stdout);
	rc = EX_OK;
out:
	event_free_array(ev, nev);
	promise_clear(&p);
	return rc;
}
