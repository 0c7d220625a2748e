/*
 * message: turns one outbox row into what its channel sends.  The values
 * of the template variables are gathered here (the promise, its owner and
 * recipient from the config, the timeline, due in the site's zone and in
 * the recipient's language); templates then decide the wording, and mime
 * builds the email.  Values reach headers only through TEMPLATE_HEADER
 * escaping and mime, which turn every control character into a space.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "promised/action.h"
#include "promised/calendar.h"
#include "promised/log.h"
#include "promised/message.h"
#include "promised/mime.h"
#include "promised/sbuf.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define LAST_CALL_WINDOW (INT64_C(30) * 60)   /* before due: a last call */
#define LAPSE_SLACK 60               /* around due: the lapse notice */
#define HISTORY_EVENTS 5
#define MAILDIR_FROM "promised <promised@localhost>"

/* Per-language words; index 0 is English, the fallback.  Phrases are
 * split around the value (no format strings from tables). */
struct lang {
	const char *code;
	const char *wday[7];          /* Monday first */
	const char *mon[12];
	const char *future[2];        /* "in " X "" */
	const char *past[2];          /* "" X " late" */
	const char *now;
	const char *hour;             /* "h" */
	const char *day1, *days;      /* "1 day", N " days" */
	const char *late_note[2];     /* around the scheduled time */
};

static const struct lang langs[] = {
	{ "en",
	  { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" },
	  { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	    "Oct", "Nov", "Dec" },
	  { "in ", "" }, { "", " late" }, "now", "h", "1 day", " days",
	  { "Sent late: promised was not running at the scheduled time (",
	    ")." } },
	{ "nl",
	  { "ma", "di", "wo", "do", "vr", "za", "zo" },
	  { "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep",
	    "okt", "nov", "dec" },
	  { "over ", "" }, { "", " te laat" }, "nu", "u", "1 dag", " dagen",
	  { "Laat verstuurd: promised draaide niet op het geplande tijdstip (",
	    ")." } },
	{ "fr",
	  { "lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim." },
	  { "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août",
	    "sept.", "oct.", "nov.", "déc." },
	  { "dans ", "" }, { "", " de retard" }, "maintenant", "h", "1 jour",
	  " jours",
	  { "Envoyé en retard : promised ne tournait pas à l'heure prévue (",
	    ")." } },
};
#define NLANGS (sizeof(langs) / sizeof(langs[0]))

/* "nl", "nl_BE", "nl-BE" -> Dutch; anything unknown -> English. */
static const struct lang *
lang_of(const char *locale)
{
	size_t i;

	if (locale == NULL || strlen(locale) < 2 ||
	    (locale[2] != '\0' && locale[2] != '_' && locale[2] != '-'))
		return &langs[0];
	for (i = 0; i < NLANGS; i++)
		if (strncasecmp(langs[i].code, locale, 2) == 0)
			return &langs[i];
	return &langs[0];
}

const char *
message_kind(const struct notification *n, const struct promise *p)
{
	int64_t t = n->scheduled_at, due = p->due_at;

	if (t < due - LAST_CALL_WINDOW)
		return "reminder";
	if (t < due - LAPSE_SLACK)
		return "last_call";
	if (t <= due + LAPSE_SLACK)
		return "lapse";
	return "escalation";
}

/* "Fri 4 Dec 17:00" in zone tz and the words of lg. */
static void
format_local(const struct lang *lg, const char *tz, int64_t t, char *buf,
	     size_t buflen)
{
	struct cal_local lt;

	if (cal_to_local(tz, t, &lt) != 0) {
		util_format_utc(t, buf, buflen);
		return;
	}
	(void)snprintf(buf, buflen, "%s %d %s %02d:%02d",
		       lg->wday[lt.weekday % 7],
		       lt.day, lg->mon[(lt.month - 1) % 12], lt.hour, lt.min);
}

/* "2 h 30 min", "45 min", "3 days": a distance people read at a glance. */
static void
format_span(const struct lang *lg, int64_t secs, char *buf, size_t buflen)
{
	int64_t min = (secs + 30) / 60, h = min / 60, d;

	if (min < 60) {
		(void)snprintf(buf, buflen, "%" PRId64 " min", min);
	} else if (h < 10 && min % 60 != 0) {
		(void)snprintf(buf, buflen, "%" PRId64 " %s %" PRId64 " min", h,
			       lg->hour, min % 60);
	} else if (h < 48) {
		(void)snprintf(buf, buflen, "%" PRId64 " %s", (min + 30) / 60,
			       lg->hour);
	} else {
		d = (h + 12) / 24;
		if (d == 1)
			util_strlcpy(buf, lg->day1, buflen);
		else
			(void)snprintf(buf, buflen, "%" PRId64 "%s", d,
				       lg->days);
	}
}

/* "in 2 h" / "3 h late" / "now" in the words of lg. */
static void
format_relative(const struct lang *lg, int64_t due, int64_t now, char *buf,
		size_t buflen)
{
	int64_t d = due - now;
	const char *const *around = d > 0 ? lg->future : lg->past;
	char span[64];

	if (d > -60 && d < 60) {
		util_strlcpy(buf, lg->now, buflen);
		return;
	}
	format_span(lg, d > 0 ? d : -d, span, sizeof(span));
	(void)snprintf(buf, buflen, "%s%s%s", around[0], span, around[1]);
}

/* The last few events, one per line: "Fri 4 Dec 15:00 reminded (mail)".
 * An event's detail is kept on its line and shortened. */
static char *
history_new(const struct lang *lg, const char *tz, const struct event *ev,
	    size_t nev)
{
	struct sbuf b = { 0 };
	size_t i = nev > HISTORY_EVENTS ? nev - HISTORY_EVENTS : 0;
	char when[64], detail[121];

	for (; ev != NULL && i < nev; i++) {
		format_local(lg, tz, ev[i].at, when, sizeof(when));
		if (b.len > 0)
			sbuf_puts(&b, "\n");
		sbuf_puts(&b, when);
		sbuf_puts(&b, " ");
		sbuf_puts(&b, event_kind_name(ev[i].kind));
		if (ev[i].detail != NULL && ev[i].detail[0] != '\0') {
			char *d;

			util_strlcpy(detail, ev[i].detail, sizeof(detail));
			for (d = detail; *d != '\0'; d++)
				if ((unsigned char)*d < 0x20 || *d == 0x7F)
					*d = ' ';
			sbuf_puts(&b, " (");
			sbuf_puts(&b, detail);
			sbuf_puts(&b, ")");
		}
	}
	return sbuf_take(&b);
}

/* "tel:+32470123456" from "+32 470 12 34 56"; "" when there are no
 * digits. */
static void
tel_uri(const char *phone, char *buf, size_t buflen)
{
	size_t w = 0;
	const char *s;

	buf[0] = '\0';
	if (phone == NULL || buflen < 8)
		return;
	memcpy(buf, "tel:", 4);
	w = 4;
	for (s = phone; *s != '\0' && w + 1 < buflen; s++)
		if ((*s >= '0' && *s <= '9') || (*s == '+' && w == 4))
			buf[w++] = *s;
	buf[w] = '\0';
	if (w == 4 || (w == 5 && buf[4] == '+'))
		buf[0] = '\0';
}

/* The values of one message: template_vars borrows from here. */
struct msgvals {
	struct template_vars v;
	const struct lang *lang;
	const char *locale;
	const char *kind;
	char due_local[64], due_rel[64], due_iso[32], sched[64];
	char tel[64], id[24], code[8];
	char link[3][MESSAGE_LINK_MAX];    /* done, ack, snooze */
	char *history, *late_note;
};

static void
msgvals_clear(struct msgvals *m)
{
	free(m->history);
	free(m->late_note);
}

/* The site's zone: the promise's site, else the default site. */
static const char *
zone_of(const struct config *cfg, const struct promise *p)
{
	const struct cal_site *s = config_site(cfg, p->site);

	if (s == NULL)
		s = config_site(cfg, cfg->default_site);
	return s != NULL && s->tz != NULL ? s->tz : "UTC";
}

static void
set_people(struct msgvals *m, const struct config *cfg,
	   const struct notification *n, const struct promise *p)
{
	const struct cfg_staff *owner = config_staff(cfg, p->owner);
	const struct cfg_staff *to = config_staff(cfg, n->recipient);
	const char **v = m->v.v;

	v[TEMPLATE_VAR_OWNER_ID] = p->owner;
	v[TEMPLATE_VAR_OWNER_NAME] = owner && owner->name ? owner->name
							   : p->owner;
	v[TEMPLATE_VAR_RECIPIENT_NAME] = to && to->name ? to->name
							: n->recipient;
	v[TEMPLATE_VAR_RECIPIENT_EMAIL] = to ? to->email : NULL;
	v[TEMPLATE_VAR_RECIPIENT_PHONE] = to ? to->phone : NULL;
	m->locale = to && to->locale ? to->locale : "en";
	m->lang = lang_of(m->locale);
}

/* Fills every variable but text and subject (the rendered parts). */
static void
msgvals_fill(struct msgvals *m, const struct config *cfg,
	     const struct notification *n, const struct promise *p,
	     const struct event *ev, size_t nev, int64_t now)
{
	const char *tz = zone_of(cfg, p);
	const char **v = m->v.v;

	memset(m, 0, sizeof(*m));
	set_people(m, cfg, n, p);
	m->kind = message_kind(n, p);
	format_local(m->lang, tz, p->due_at, m->due_local, sizeof(m->due_local));
	format_relative(m->lang, p->due_at, now, m->due_rel, sizeof(m->due_rel));
	util_format_utc(p->due_at, m->due_iso, sizeof(m->due_iso));
	tel_uri(p->customer_phone, m->tel, sizeof(m->tel));
	(void)snprintf(m->id, sizeof(m->id), "%" PRId64, p->id);
	/* Four digits from the notification id, as action reads them back:
	 * short enough to type in an SMS reply; replies are matched together
	 * with the sender. */
	(void)snprintf(m->code, sizeof(m->code), "%d",
		       action_short_code(n->id));
	m->history = history_new(m->lang, tz, ev, nev);
	if (n->late) {
		format_local(m->lang, tz, n->scheduled_at, m->sched,
			     sizeof(m->sched));
		m->late_note = xasprintf("%s%s%s", m->lang->late_note[0],
					 m->sched, m->lang->late_note[1]);
	}
	v[TEMPLATE_VAR_TITLE] = p->title;
	v[TEMPLATE_VAR_DETAILS] = p->details;
	v[TEMPLATE_VAR_CUSTOMER_NAME] = p->customer_name;
	v[TEMPLATE_VAR_CUSTOMER_PHONE] = p->customer_phone;
	v[TEMPLATE_VAR_CUSTOMER_TEL_URI] = m->tel;
	v[TEMPLATE_VAR_CUSTOMER_EMAIL] = p->customer_email;
	v[TEMPLATE_VAR_VEHICLE] = p->vehicle;
	v[TEMPLATE_VAR_VIN] = p->vin;
	v[TEMPLATE_VAR_DUE_LOCAL] = m->due_local;
	v[TEMPLATE_VAR_DUE_RELATIVE] = m->due_rel;
	v[TEMPLATE_VAR_DUE_ISO] = m->due_iso;
	v[TEMPLATE_VAR_SITE] = p->site;
	v[TEMPLATE_VAR_PROMISE_ID] = m->id;
	v[TEMPLATE_VAR_REF] = p->ref;
	v[TEMPLATE_VAR_STEP] = n->step;
	v[TEMPLATE_VAR_KIND] = m->kind;
	v[TEMPLATE_VAR_LATE_NOTE] = m->late_note;
	v[TEMPLATE_VAR_HISTORY] = m->history;
	v[TEMPLATE_VAR_SHORT_CODE] = m->code;
	v[TEMPLATE_VAR_IDEM_KEY] = n->idem_key;
}

/* The one-click links of n for its recipient; a link that cannot be made
 * is left out (the message still goes, with the SMS code). */
static void
msgvals_links(struct msgvals *m, const struct message_links *links,
	      const struct notification *n, const struct promise *p,
	      int64_t now)
{
	static const enum action_kind kinds[3] = { ACTION_DONE, ACTION_ACK,
						   ACTION_SNOOZE };
	static const enum template_var vars[3] = { TEMPLATE_VAR_LINK_DONE,
						   TEMPLATE_VAR_LINK_ACK,
						   TEMPLATE_VAR_LINK_SNOOZE };
	char err[256];
	size_t i;

	if (links == NULL || links->action == NULL ||
	    links->action->nkeys == 0 || links->action->public_url == NULL ||
	    n->recipient == NULL || p->id <= 0)
		return;
	for (i = 0; i < 3; i++) {
		if (action_link_new(links->action, p->id, kinds[i], n->recipient,
				    now + links->expiry, m->link[i],
				    sizeof(m->link[i]), err, sizeof(err)) != 0) {
			log_warn("promise %" PRId64 ": no %s link in the "
				 "message: %s", p->id, action_kind_name(kinds[i]),
				 err);
			m->link[i][0] = '\0';
			continue;
		}
		m->v.v[vars[i]] = m->link[i];
	}
}

/* "Name <addr>" when the name can stand in an address header as is,
 * else the bare address. */
static char *
to_address_new(const char *name, const char *addr)
{
	if (name == NULL || name[0] == '\0' || strpbrk(name, "<>\"\\@,;:") ||
	    !util_utf8_valid(name, strlen(name)))
		return xstrdup(addr);
	return xasprintf("%s <%s>", name, addr);
}

/* smtp and maildir: a complete email. */
static int
render_email(const struct template_set *tpl, const struct cfg_channel *ch,
	     struct msgvals *m, int64_t now, struct message_out *out,
	     int *permanent, char *err, size_t errlen)
{
	const char *email = m->v.v[TEMPLATE_VAR_RECIPIENT_EMAIL];
	char *txt = NULL, *html = NULL, *to = NULL;
	struct mime_msg mm;
	int rc = -1;

	if (email == NULL || email[0] == '\0') {
		*permanent = 1;
		util_seterr(err, errlen, "recipient '%s' has no email address",
			    m->v.v[TEMPLATE_VAR_RECIPIENT_NAME]);
		goto out;
	}
	if (template_render(tpl, m->locale, m->kind, TEMPLATE_PART_SUBJECT,
			    &m->v, &out->subject, err, errlen) != 0 ||
	    template_render(tpl, m->locale, m->kind, TEMPLATE_PART_TXT, &m->v,
			    &txt, err, errlen) != 0 ||
	    template_render(tpl, m->locale, m->kind, TEMPLATE_PART_HTML, &m->v,
			    &html, err, errlen) != 0)
		goto out;
	to = to_address_new(m->v.v[TEMPLATE_VAR_RECIPIENT_NAME], email);
	memset(&mm, 0, sizeof(mm));
	mm.from = ch->type == CFG_CHANNEL_SMTP && ch->smtp.from ? ch->smtp.from
								 : MAILDIR_FROM;
	mm.reply_to = ch->type == CFG_CHANNEL_SMTP ? ch->smtp.reply_to : NULL;
	mm.to = to;
	mm.subject = out->subject;
	mm.text = txt;
	mm.html = html;
	mm.idem_key = m->v.v[TEMPLATE_VAR_IDEM_KEY];
	mm.date = now;
	if (mime_build_message(&mm, &out->data, &out->len, err, errlen) != 0) {
		*permanent = 1;   /* the same data fails the same way again */
		goto out;
	}
	out->rcpt = xstrdup(email);
	rc = 0;
out:
	free(txt);
	free(html);
	free(to);
	return rc;
}

/* How a webhook body's values are escaped, from its content type. */
static enum template_escape
body_escape(const char *content_type)
{
	static const struct {
		const char *type;
		enum template_escape esc;
	} tab[] = {
		{ "application/json", TEMPLATE_JSON },
		{ "application/x-www-form-urlencoded", TEMPLATE_FORM },
	};
	size_t i, n;

	for (i = 0; content_type != NULL && i < sizeof(tab) / sizeof(*tab);
	     i++) {
		n = strlen(tab[i].type);
		if (strncasecmp(content_type, tab[i].type, n) == 0 &&
		    (content_type[n] == '\0' || content_type[n] == ';' ||
		     content_type[n] == ' '))
			return tab[i].esc;
	}
	return TEMPLATE_TEXT;
}

/* webhook: the channel's body with the SMS text and the subject as
 * variables.  A body that sends to the recipient's phone needs one. */
static int
render_webhook(const struct template_set *tpl, const struct cfg_channel *ch,
	       struct msgvals *m, struct message_out *out, int *permanent,
	       char *err, size_t errlen)
{
	const char *phone = m->v.v[TEMPLATE_VAR_RECIPIENT_PHONE];
	const char *body = ch->webhook.body ? ch->webhook.body : "";
	struct template *t = NULL;
	char *text = NULL;
	int rc = -1;

	if ((phone == NULL || phone[0] == '\0') &&
	    strstr(body, "recipient_phone") != NULL) {
		*permanent = 1;
		util_seterr(err, errlen, "recipient '%s' has no phone number",
			    m->v.v[TEMPLATE_VAR_RECIPIENT_NAME]);
		goto out;
	}
	t = template_parse(body, ch->name, err, errlen);
	if (t == NULL) {
		*permanent = 1;
		goto out;
	}
	/* The SMS text only when the body sends it; the subject is kept
	 * for the outbox and the log either way. */
	if ((template_uses(t, TEMPLATE_VAR_TEXT) &&
	     template_render(tpl, m->locale, m->kind, TEMPLATE_PART_SMS,
			     &m->v, &text, err, errlen) != 0) ||
	    template_render(tpl, m->locale, m->kind, TEMPLATE_PART_SUBJECT,
			    &m->v, &out->subject, err, errlen) != 0)
		goto out;
	m->v.v[TEMPLATE_VAR_TEXT] = text;
	m->v.v[TEMPLATE_VAR_SUBJECT] = out->subject;
	if (template_expand(t, body_escape(ch->webhook.content_type), &m->v,
			    &out->data, err, errlen) != 0)
		goto out;
	out->len = strlen(out->data);
	out->rcpt = xstrdup(phone && phone[0] ? phone
			    : m->v.v[TEMPLATE_VAR_RECIPIENT_NAME]);
	rc = 0;
out:
	m->v.v[TEMPLATE_VAR_TEXT] = NULL;
	m->v.v[TEMPLATE_VAR_SUBJECT] = NULL;
	template_free(t);
	free(text);
	return rc;
}

/* log: "promise N: <subject> -> recipient", one line. */
static int
render_log(const struct template_set *tpl, const struct notification *n,
	   struct msgvals *m, struct message_out *out, char *err,
	   size_t errlen)
{
	char *rcpt;

	if (template_render(tpl, m->locale, m->kind, TEMPLATE_PART_SUBJECT,
			    &m->v, &out->subject, err, errlen) != 0)
		return -1;
	rcpt = template_escape_new(TEMPLATE_HEADER, n->recipient);
	out->data = xasprintf("promise %s: %s -> %s", m->id, out->subject,
			      rcpt);
	out->len = strlen(out->data);
	out->rcpt = rcpt;
	return 0;
}

int
message_render(const struct config *cfg, const struct template_set *tpl,
	       const struct cfg_channel *ch, const struct notification *n,
	       const struct promise *p, const struct event *events,
	       size_t nevents, int64_t now, struct message_out *out,
	       int *permanent, char *err, size_t errlen)
{
	return message_render_linked(cfg, tpl, ch, n, p, events, nevents,
				     NULL, now, out, permanent, err, errlen);
}

int
message_render_linked(const struct config *cfg,
		      const struct template_set *tpl,
		      const struct cfg_channel *ch,
		      const struct notification *n, const struct promise *p,
		      const struct event *events, size_t nevents,
		      const struct message_links *links, int64_t now,
		      struct message_out *out, int *permanent, char *err,
		      size_t errlen)
{
	struct msgvals m;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*permanent = 0;
	if (cfg == NULL || tpl == NULL || ch == NULL || n == NULL || p == NULL) {
		util_seterr(err, errlen, "nothing to render");
		return -1;
	}
	msgvals_fill(&m, cfg, n, p, events, nevents, now);
	msgvals_links(&m, links, n, p, now);
	switch (ch->type) {
	case CFG_CHANNEL_SMTP:
	case CFG_CHANNEL_MAILDIR:
		rc = render_email(tpl, ch, &m, now, out, permanent, err, errlen);
		break;
	case CFG_CHANNEL_WEBHOOK:
		rc = render_webhook(tpl, ch, &m, out, permanent, err, errlen);
		break;
	case CFG_CHANNEL_LOG:
		rc = render_log(tpl, n, &m, out, err, errlen);
		break;
	default:
		*permanent = 1;
		util_seterr(err, errlen, "channel '%s': unknown type", ch->name);
		break;
	}
	msgvals_clear(&m);
	if (rc != 0)
		message_out_clear(out);
	return rc;
}

int
message_uses_history(const struct template_set *tpl,
		     const struct cfg_channel *ch)
{
	enum template_var h = TEMPLATE_VAR_HISTORY;
	const char *body;

	if (ch == NULL)
		return template_set_uses(tpl, TEMPLATE_PART_SUBJECT, h) ||
		       template_set_uses(tpl, TEMPLATE_PART_TXT, h);
	switch (ch->type) {
	case CFG_CHANNEL_SMTP:
	case CFG_CHANNEL_MAILDIR:
		return template_set_uses(tpl, TEMPLATE_PART_SUBJECT, h) ||
		       template_set_uses(tpl, TEMPLATE_PART_TXT, h) ||
		       template_set_uses(tpl, TEMPLATE_PART_HTML, h);
	case CFG_CHANNEL_WEBHOOK:
		/* The body's own text is parsed at render time: any use
		 * of the name is taken for one. */
		body = ch->webhook.body != NULL ? ch->webhook.body : "";
		return strstr(body, "history") != NULL ||
		       template_set_uses(tpl, TEMPLATE_PART_SMS, h) ||
		       template_set_uses(tpl, TEMPLATE_PART_SUBJECT, h);
	case CFG_CHANNEL_LOG:
		return template_set_uses(tpl, TEMPLATE_PART_SUBJECT, h);
	default:
		return 1;
	}
}

void
message_out_clear(struct message_out *out)
{
	if (out == NULL)
		return;
	free(out->data);
	free(out->rcpt);
	free(out->subject);
	memset(out, 0, sizeof(*out));
}

int
message_render_text(const struct config *cfg, const struct template_set *tpl,
		    const struct notification *n, const struct promise *p,
		    const struct event *events, size_t nevents, int64_t now,
		    char **subject, char **text, char *err, size_t errlen)
{
	return message_render_text_linked(cfg, tpl, n, p, events, nevents,
					  NULL, now, subject, text, err,
					  errlen);
}

int
message_render_text_linked(const struct config *cfg,
			   const struct template_set *tpl,
			   const struct notification *n,
			   const struct promise *p,
			   const struct event *events, size_t nevents,
			   const struct message_links *links, int64_t now,
			   char **subject, char **text, char *err,
			   size_t errlen)
{
	struct msgvals m;
	int rc = -1;

	*subject = NULL;
	*text = NULL;
	if (cfg == NULL || tpl == NULL || n == NULL || p == NULL) {
		util_seterr(err, errlen, "nothing to render");
		return -1;
	}
	msgvals_fill(&m, cfg, n, p, events, nevents, now);
	msgvals_links(&m, links, n, p, now);
	if (template_render(tpl, m.locale, m.kind, TEMPLATE_PART_SUBJECT, &m.v,
			    subject, err, errlen) != 0 ||
	    template_render(tpl, m.locale, m.kind, TEMPLATE_PART_TXT, &m.v,
			    text, err, errlen) != 0) {
		free(*subject);
		free(*text);
		*subject = *text = NULL;
		goto out;
	}
	rc = 0;
out:
	msgvals_clear(&m);
	return rc;
}
