/*
 * digest: the weekly email to managers — when it is due per site, who
 * gets it, what it says, and queueing it once per period in the outbox.
 * The instants are computed from `now` alone (pure); only digest_run and
 * digest_render read the store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/calendar.h"
#include "promised/digest.h"
#include "promised/log.h"
#include "promised/mime.h"
#include "promised/report.h"
#include "promised/sbuf.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define DIGEST_DEFAULT_MINUTE (8 * 60)
#define DIGEST_FROM "promised <promised@localhost>"
#define DIGEST_MAX_TEAMS 64
#define DIGEST_LAPSED_LIMIT 200

/* ---- When ------------------------------------------------------------ */

void
digest_opts_init(struct digest_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->weekday = 0;
	o->minute = DIGEST_DEFAULT_MINUTE;
}

/* The weekday and minute of site's digest; -1 when it has none. */
static int
site_sched(const struct digest_opts *o, const char *site, int *wd, int *min)
{
	size_t i;

	*wd = o->weekday;
	*min = o->minute;
	for (i = 0; i < o->nsites; i++) {
		if (o->sites[i].site != NULL &&
		    strcmp(o->sites[i].site, site) == 0) {
			*wd = o->sites[i].weekday;
			*min = o->sites[i].minute;
		}
	}
	return *wd < 0 || *wd > 6 || *min < 0 || *min >= 1440 ? -1 : 0;
}

/* Local minute `min` of civil day `days` in tz, as UTC (a time in a DST
 * gap moves forward, RFC 5545). */
static int
local_instant(const char *tz, int64_t days, int min, int64_t *out)
{
	int y, m, d;

	util_civil_from_days(days, &y, &m, &d);
	return cal_from_local(tz, y, m, d, min / 60, min % 60, 0, out, NULL);
}

/* The local day (civil day number) of the latest digest of site at or
 * before now; -1 when none. */
static int
latest_day(const struct config *cfg, const struct digest_opts *o,
	   const char *site, int64_t now, int64_t *day, int64_t *at)
{
	const struct cal_site *s = config_site(cfg, site);
	struct cal_local l;
	int wd, min;

	if (s == NULL || site_sched(o, site, &wd, &min) != 0 ||
	    cal_to_local(s->tz, now, &l) != 0)
		return -1;
	*day = l.days - (l.weekday - wd + 7) % 7;
	if (local_instant(s->tz, *day, min, at) != 0)
		return -1;
	if (*at > now) {
		*day -= 7;
		if (local_instant(s->tz, *day, min, at) != 0)
			return -1;
	}
	return 0;
}

int
digest_period(const struct config *cfg, const struct digest_opts *o,
	      const char *site, int64_t now, int64_t *at, int64_t *from,
	      int64_t *to)
{
	const struct cal_site *s = config_site(cfg, site);
	int64_t day;

	if (s == NULL || latest_day(cfg, o, site, now, &day, at) != 0 ||
	    local_instant(s->tz, day - 7, 0, from) != 0 ||
	    local_instant(s->tz, day, 0, to) != 0)
		return -1;
	return 0;
}

int64_t
digest_next_due(const struct config *cfg, const struct digest_opts *o,
		int64_t now)
{
	struct cal_local l;
	int64_t best = 0, day, at;
	size_t i;
	int wd, min;

	for (i = 0; i < cfg->nsites; i++) {
		const struct cal_site *s = &cfg->sites[i];

		if (site_sched(o, s->id, &wd, &min) != 0 ||
		    cal_to_local(s->tz, now, &l) != 0)
			continue;
		day = l.days + (wd - l.weekday + 7) % 7;
		if (local_instant(s->tz, day, min, &at) != 0)
			continue;
		if (at <= now && local_instant(s->tz, day + 7, min, &at) != 0)
			continue;
		if (best == 0 || at < best)
			best = at;
	}
	return best;
}

/* ---- Who ------------------------------------------------------------- */

/* The teams at site that manager leads or whose members report to
 * manager, as indices into cfg->teams; how many. */
static size_t
manager_teams(const struct config *cfg, const char *site, const char *mgr,
	      size_t *idx, size_t max)
{
	size_t t, i, n = 0;
	int mine;

	for (t = 0; t < cfg->nteams && n < max; t++) {
		const struct cfg_team *tm = &cfg->teams[t];

		if (tm->site == NULL || strcmp(tm->site, site) != 0)
			continue;
		mine = tm->lead != NULL && strcmp(tm->lead, mgr) == 0;
		for (i = 0; !mine && i < cfg->nstaff; i++) {
			const struct cfg_staff *s = &cfg->staff[i];

			mine = s->manager != NULL && s->team != NULL &&
			       strcmp(s->manager, mgr) == 0 &&
			       strcmp(s->team, tm->id) == 0;
		}
		if (mine)
			idx[n++] = t;
	}
	return n;
}

static const char *
staff_name(const struct config *cfg, const char *id)
{
	const struct cfg_staff *s = id != NULL ? config_staff(cfg, id) : NULL;

	if (s != NULL && s->name != NULL)
		return s->name;
	return id != NULL ? id : "";
}

/* ---- What ------------------------------------------------------------ */

struct render {
	struct sbuf txt, html;
	const struct config *cfg;
	const char *tz;
	int64_t now;
	struct digest_period period;
};

static void
rate_text(double rate, char *buf, size_t buflen)
{
	if (rate < 0)
		util_strlcpy(buf, "-", buflen);
	else
		(void)snprintf(buf, buflen, "%.0f%%", rate * 100.0);
}

static void
dur_text(int64_t secs, char *buf, size_t buflen)
{
	if (secs < 0)
		util_strlcpy(buf, "-", buflen);
	else
		util_format_duration(secs - secs % 60, buf, buflen);
}

static void
row_summary(struct render *r, const struct report_row *row)
{
	char rate[16], med[32], worst[32];

	rate_text(row->keeping_rate, rate, sizeof(rate));
	dur_text(row->late_median, med, sizeof(med));
	dur_text(row->late_worst, worst, sizeof(worst));
	sbuf_printf(&r->txt, "  Made %" PRId64 ", kept %" PRId64 ", late %"
		    PRId64 " (median %s, worst %s), lapsed %" PRId64 ", open %"
		    PRId64 ", cancelled %" PRId64 "\n  Keeping rate %s, "
		    "renegotiated %" PRId64 " (%" PRId64 " times), "
		    "escalations %" PRId64 "\n", row->made, row->kept,
		    row->late, med, worst, row->lapsed, row->open,
		    row->cancelled, rate, row->renegotiated,
		    row->renegotiations, row->escalations_sent);
	sbuf_printf(&r->html, "<p style=\"margin:4px 0\"><b style=\"font-size:"
		    "20px\">%s</b> keeping rate &middot; made %" PRId64
		    " &middot; kept %" PRId64 " &middot; late %" PRId64
		    " (median %s, worst %s) &middot; lapsed %" PRId64
		    " &middot; open %" PRId64 " &middot; cancelled %" PRId64
		    " &middot; renegotiated %" PRId64 " &middot; escalations %"
		    PRId64 "</p>\n", rate, row->made, row->kept, row->late, med,
		    worst, row->lapsed, row->open, row->cancelled,
		    row->renegotiated, row->escalations_sent);
}

static void
people_table(struct render *r, const struct report *rep)
{
	static const char td[] = "<td style=\"padding:4px 8px;border-bottom:"
		"1px solid #ddd\">";
	char rate[16];
	size_t i;

	if (rep->nrows == 0)
		return;
	sbuf_printf(&r->html, "<table style=\"border-collapse:collapse;"
		    "margin:6px 0\"><tr>%sPerson</td>%sMade</td>%sKept</td>"
		    "%sLate</td>%sLapsed</td>%sRate</td></tr>\n", td, td, td,
		    td, td, td);
	for (i = 0; i < rep->nrows; i++) {
		const struct report_row *row = &rep->rows[i];
		const char *who = row->key != NULL ?
			staff_name(r->cfg, row->key) : "(nobody)";

		rate_text(row->keeping_rate, rate, sizeof(rate));
		sbuf_printf(&r->txt, "    %-24s made %3" PRId64 "  kept %3"
			    PRId64 "  late %3" PRId64 "  lapsed %3" PRId64
			    "  rate %s\n", who, row->made, row->kept, row->late,
			    row->lapsed, rate);
		sbuf_printf(&r->html, "<tr>%s", td);
		sbuf_html(&r->html, who);
		sbuf_printf(&r->html, "</td>%s%" PRId64 "</td>%s%" PRId64
			    "</td>%s%" PRId64 "</td>%s%" PRId64 "</td>%s%s"
			    "</td></tr>\n", td, row->made, td, row->kept, td,
			    row->late, td, row->lapsed, td, rate);
	}
	sbuf_puts(&r->html, "</table>\n");
}

static void
lapsed_list(struct render *r, const struct promise *ps, size_t n)
{
	char due[64], ago[32];
	size_t i;

	sbuf_printf(&r->txt, "  Lapsed right now: %zu\n", n);
	sbuf_printf(&r->html, "<p style=\"margin:8px 0 2px\"><b>Lapsed right "
		    "now: %zu</b></p>\n", n);
	if (n > 0)
		sbuf_puts(&r->html,
			  "<ul style=\"margin:0;padding-left:20px\">");
	for (i = 0; i < n; i++) {
		cal_format_local(r->tz, ps[i].due_at, 0, due, sizeof(due));
		dur_text(r->now - ps[i].due_at, ago, sizeof(ago));
		sbuf_printf(&r->txt, "    - %s", ps[i].title);
		if (ps[i].customer_name != NULL && *ps[i].customer_name)
			sbuf_printf(&r->txt, " (%s)", ps[i].customer_name);
		sbuf_printf(&r->txt, " - %s - due %s, %s ago [#%" PRId64 "]\n",
			    staff_name(r->cfg, ps[i].owner), due, ago,
			    ps[i].id);
		sbuf_puts(&r->html, "<li>");
		sbuf_html(&r->html, ps[i].title);
		if (ps[i].customer_name != NULL && *ps[i].customer_name) {
			sbuf_puts(&r->html, " (");
			sbuf_html(&r->html, ps[i].customer_name);
			sbuf_puts(&r->html, ")");
		}
		sbuf_puts(&r->html, " &mdash; ");
		sbuf_html(&r->html, staff_name(r->cfg, ps[i].owner));
		sbuf_printf(&r->html, " &mdash; due %s, %s ago</li>\n", due,
			    ago);
	}
	if (n > 0)
		sbuf_puts(&r->html, "</ul>\n");
}

/* One team's section: its report and its lapsed promises. */
static int
team_section(struct render *r, struct store *st, const char *team,
	     int64_t from, int64_t to, char *err, size_t errlen)
{
	struct report_query q = { .from = from, .to = to,
				  .by = REPORT_BY_OWNER, .team = team };
	struct store_filter f = { .overdue = 1, .team = team, .now = r->now,
				  .limit = DIGEST_LAPSED_LIMIT };
	struct report *rep = NULL;
	struct promise *ps = NULL;
	size_t n = 0;
	int rc;

	rc = report_compute(st, r->cfg, &q, r->now, &rep, err, errlen);
	if (rc == STORE_OK)
		rc = store_list(st, &f, &ps, &n, err, errlen);
	if (rc != STORE_OK)
		goto out;
	sbuf_printf(&r->txt, "\nTeam %s\n", team);
	sbuf_puts(&r->html, "<h2 style=\"font-size:18px;margin:18px 0 4px\">"
		  "Team ");
	sbuf_html(&r->html, team);
	sbuf_puts(&r->html, "</h2>\n");
	row_summary(r, &rep->total);
	people_table(r, rep);
	lapsed_list(r, ps, n);
out:
	promise_free_array(ps, n);
	report_free(rep);
	return rc;
}

static void
render_head(struct render *r, const char *mgr)
{
	char a[64], b[64];

	cal_format_local(r->tz, r->period.from, 0, a, sizeof(a));
	/* The last day of the period, not the first after it. */
	cal_format_local(r->tz, r->period.to - 1, 0, b, sizeof(b));
	sbuf_printf(&r->txt, "Hello %s,\n\nPromises made from %.10s to %.10s "
		    "(%s), as of now.\n", staff_name(r->cfg, mgr), a, b, r->tz);
	sbuf_puts(&r->html, "<!DOCTYPE html><html><body style=\"font-family:"
		  "Arial,Helvetica,sans-serif;font-size:15px;color:#1a1a1a\">"
		  "<p>Hello ");
	sbuf_html(&r->html, staff_name(r->cfg, mgr));
	sbuf_printf(&r->html, ",</p><p>Promises made from %.10s to %.10s ("
		    "%s), as of now.</p>\n", a, b, r->tz);
}

static void
render_tail(struct render *r, const struct digest_opts *o)
{
	if (o->public_url != NULL && *o->public_url) {
		sbuf_printf(&r->txt, "\nLive board: %s/\n", o->public_url);
		sbuf_puts(&r->html, "<p><a href=\"");
		sbuf_html(&r->html, o->public_url);
		sbuf_puts(&r->html, "/\">Live board</a></p>\n");
	}
	sbuf_puts(&r->txt, "\n-- \npromised, weekly digest\n");
	sbuf_puts(&r->html, "<p style=\"color:#666;font-size:12px\">promised, "
		  "weekly digest</p></body></html>\n");
}

int
digest_render(struct store *st, const struct config *cfg,
	      const struct digest_opts *o, const char *site,
	      const char *manager, struct digest_period period, int64_t now,
	      struct digest_text *out, char *err, size_t errlen)
{
	const struct cal_site *s = config_site(cfg, site);
	struct render r;
	size_t idx[DIGEST_MAX_TEAMS], n, i;
	char day[64];
	int rc = STORE_OK;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.now = now;
	r.period = period;
	r.tz = s != NULL ? s->tz : "UTC";
	n = manager_teams(cfg, site, manager, idx, DIGEST_MAX_TEAMS);
	render_head(&r, manager);
	for (i = 0; i < n && rc == STORE_OK; i++)
		rc = team_section(&r, st, cfg->teams[idx[i]].id, period.from,
				  period.to, err, errlen);
	render_tail(&r, o);
	if (rc != STORE_OK) {
		sbuf_free(&r.txt);
		sbuf_free(&r.html);
		return rc;
	}
	cal_format_local(r.tz, period.from, 0, day, sizeof(day));
	out->subject = xasprintf("Promises kept: the week of %.10s (%s)", day,
				 site);
	out->text = sbuf_take(&r.txt);
	out->html = sbuf_take(&r.html);
	return STORE_OK;
}

/* ---- Queueing ---------------------------------------------------------- */

const struct cfg_channel *
digest_channel(const struct config *cfg, const struct digest_opts *o)
{
	size_t i;

	if (o->channel != NULL)
		return config_channel(cfg, o->channel);
	for (i = 0; i < cfg->nchannels; i++)
		if (cfg->channels[i].type == CFG_CHANNEL_SMTP)
			return &cfg->channels[i];
	for (i = 0; i < cfg->nchannels; i++)
		if (cfg->channels[i].type == CFG_CHANNEL_MAILDIR)
			return &cfg->channels[i];
	return NULL;
}

/* "Name <addr>", or addr when the name would need quoting. */
static char *
to_address(const struct cfg_staff *m)
{
	if (m->name == NULL || *m->name == '\0' ||
	    strpbrk(m->name, "<>\"\\@,;:") != NULL)
		return xstrdup(m->email);
	return xasprintf("%s <%s>", m->name, m->email);
}

struct job {
	const char *site;
	const struct cfg_staff *mgr;
	const struct cfg_channel *ch;
	int64_t at, from, to;
	char key[256];
};

/* Renders and queues one manager's digest; *added 1 when queued. */
static int
queue_one(struct store *st, const struct config *cfg,
	  const struct digest_opts *o, const struct job *j, int64_t now,
	  int *added, char *err, size_t errlen)
{
	struct digest_text dt = { 0 };
	struct digest_period period = { j->from, j->to };
	char *to = NULL, *msg = NULL;
	size_t len = 0;
	struct mime_msg mm;
	struct notification n;
	int rc;

	rc = digest_render(st, cfg, o, j->site, j->mgr->id, period, now, &dt,
			   err, errlen);
	if (rc != STORE_OK)
		goto out;
	to = to_address(j->mgr);
	memset(&mm, 0, sizeof(mm));
	mm.from = j->ch->type == CFG_CHANNEL_SMTP && j->ch->smtp.from ?
		j->ch->smtp.from : DIGEST_FROM;
	mm.reply_to = j->ch->type == CFG_CHANNEL_SMTP ? j->ch->smtp.reply_to
		: NULL;
	mm.to = to;
	mm.subject = dt.subject;
	mm.text = dt.text;
	mm.html = dt.html;
	mm.idem_key = j->key;
	mm.date = now;
	if (mime_build_message(&mm, &msg, &len, err, errlen) != 0) {
		rc = STORE_INVALID;
		goto out;
	}
	memset(&n, 0, sizeof(n));
	n.step = (char *)DIGEST_STEP;
	n.channel = j->ch->name;
	n.recipient = j->mgr->id;
	n.subject = dt.subject;
	n.body = msg;
	n.idem_key = (char *)j->key;
	n.scheduled_at = j->at;
	/* Sent after downtime rather than at its instant. */
	n.late = now - j->at > 300;
	rc = store_outbox_queue_plain(st, &n, now, added, err, errlen);
out:
	free(dt.subject);
	free(dt.text);
	free(dt.html);
	free(to);
	free(msg);
	return rc;
}

/* Every manager of one site for the period whose instant is j->at. */
static int
run_site(struct store *st, const struct config *cfg,
	 const struct digest_opts *o, struct job *j, int64_t now,
	 size_t *queued, char *err, size_t errlen)
{
	struct cal_local l;
	size_t idx[DIGEST_MAX_TEAMS], i;
	int rc = STORE_OK, found, added, kn;

	if (cal_to_local(config_site(cfg, j->site)->tz, j->from, &l) != 0)
		return STORE_OK;
	for (i = 0; i < cfg->nstaff && rc == STORE_OK; i++) {
		j->mgr = &cfg->staff[i];
		if (manager_teams(cfg, j->site, j->mgr->id, idx, 1) == 0)
			continue;
		kn = snprintf(j->key, sizeof(j->key),
			      "digest.%s.%s.%04d-%02d-%02d", j->site,
			      j->mgr->id, l.year, l.month, l.day);
		/* A cut key could be another manager's: skip, loudly. */
		if (kn < 0 || (size_t)kn >= sizeof(j->key)) {
			log_warn("digest: key for %s/%s too long; no digest",
				 j->site, j->mgr->id);
			continue;
		}
		rc = store_outbox_has_key(st, j->key, &found, err, errlen);
		if (rc != STORE_OK || found)
			continue;
		if (j->mgr->email == NULL || *j->mgr->email == '\0') {
			log_warn("digest: %s has no email address; no digest "
				 "for %s", j->mgr->id, j->site);
			continue;
		}
		rc = queue_one(st, cfg, o, j, now, &added, err, errlen);
		if (rc == STORE_OK && added)
			(*queued)++;
	}
	return rc;
}

int
digest_run(struct store *st, const struct config *cfg,
	   const struct digest_opts *o, int64_t now, size_t *queued,
	   char *err, size_t errlen)
{
	struct job j;
	size_t i, dummy = 0;
	int64_t first = 0;
	int rc;

	if (queued == NULL)
		queued = &dummy;
	*queued = 0;
	memset(&j, 0, sizeof(j));
	j.ch = digest_channel(cfg, o);
	if (j.ch == NULL || (j.ch->type != CFG_CHANNEL_SMTP &&
			     j.ch->type != CFG_CHANNEL_MAILDIR &&
			     j.ch->type != CFG_CHANNEL_LOG)) {
		util_seterr(err, errlen, "digest: no email channel (smtp or "
			    "maildir) %s%s", o->channel ? "named " : "",
			    o->channel ? o->channel : "is configured");
		return STORE_INVALID;
	}
	/* A period that came due before the first promise was made is
	 * not caught up: a new installation starts with the next digest,
	 * not with a report of a week it never saw. */
	rc = store_first_promise_at(st, &first, err, errlen);
	for (i = 0; i < cfg->nsites && rc == STORE_OK; i++) {
		j.site = cfg->sites[i].id;
		if (digest_period(cfg, o, j.site, now, &j.at, &j.from, &j.to)
		    != 0 || first == 0 || j.at < first)
			continue;
		rc = run_site(st, cfg, o, &j, now, queued, err, errlen);
	}
	return rc;
}
