/*
 * api: the HTTP face for other programs.  The intake API lets a phone
 * system, DMS or CRM create, list and close promises with the same checks
 * promisectl applies (owner on staff, due readable and not past, VIN,
 * UTF-8, lengths), answering JSON with the field that is wrong; a repeat
 * with a known ref returns the existing promise so a client may retry
 * blindly.  /healthz asks the daemon's verdict; /metrics renders the
 * store's counts and the daemon's own counters as Prometheus text.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "promised/api.h"
#include "promised/calendar.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/log.h"
#include "promised/phrase.h"
#include "promised/promise.h"
#include "promised/sbuf.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define API_PREFIX "/api/v1/promises"
#define API_ACTOR "api"
#define API_MAX_TITLE 500
#define API_MAX_FIELD 500
#define API_MAX_DETAILS 65536
#define API_LIST_DEFAULT 100
#define API_LIST_MAX 1000

struct api {
	struct api_opts o;
};

/* ---- Daemon counters -------------------------------------------------- */

struct counter {
	char *a, *b;         /* label values */
	uint64_t n;
};

struct api_metrics {
	uint64_t lag[API_LAG_NBUCKETS + 1];   /* per bucket; last is +Inf */
	double lag_sum;
	uint64_t lag_count;
	struct counter *notif;
	size_t nnotif;
	struct counter *feed;
	size_t nfeed;
};

static const double lag_bounds[API_LAG_NBUCKETS] = API_LAG_BUCKETS;

struct api_metrics *
api_metrics_new(void)
{
	return xcalloc(1, sizeof(struct api_metrics));
}

static void
counters_free(struct counter *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].a);
		free(c[i].b);
	}
	free(c);
}

void
api_metrics_free(struct api_metrics *m)
{
	if (m == NULL)
		return;
	counters_free(m->notif, m->nnotif);
	counters_free(m->feed, m->nfeed);
	free(m);
}

void
api_metrics_observe_lag(struct api_metrics *m, double seconds)
{
	size_t i;

	if (m == NULL)
		return;
	if (!(seconds >= 0))    /* also NaN: a clock step is no lag */
		seconds = 0;
	for (i = 0; i < API_LAG_NBUCKETS && seconds > lag_bounds[i]; i++)
		;
	m->lag[i]++;
	m->lag_sum += seconds;
	m->lag_count++;
}

static void
counter_bump(struct counter **arr, size_t *n, const char *a, const char *b)
{
	size_t i;

	a = a ? a : "";
	b = b ? b : "";
	for (i = 0; i < *n; i++) {
		if (strcmp((*arr)[i].a, a) == 0 && strcmp((*arr)[i].b, b) == 0) {
			(*arr)[i].n++;
			return;
		}
	}
	*arr = xreallocarray(*arr, *n + 1, sizeof(**arr));
	(*arr)[*n].a = xstrdup(a);
	(*arr)[*n].b = xstrdup(b);
	(*arr)[*n].n = 1;
	(*n)++;
}

void
api_metrics_count_notification(struct api_metrics *m, const char *channel,
			       const char *result)
{
	if (m)
		counter_bump(&m->notif, &m->nnotif, channel, result);
}

void
api_metrics_count_feed(struct api_metrics *m, const char *feed,
		       const char *result)
{
	if (m)
		counter_bump(&m->feed, &m->nfeed, feed, result);
}

/* ---- Prometheus text -------------------------------------------------- */

/* A label value with \, " and newline escaped as the format requires. */
static void
buf_label(struct sbuf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			sbuf_puts(b, "\\\\");
		else if (*s == '"')
			sbuf_puts(b, "\\\"");
		else if (*s == '\n')
			sbuf_puts(b, "\\n");
		else
			sbuf_add(b, s, 1);
	}
}

static void
family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} value; k2 may be NULL. */
static void
sample2(struct sbuf *b, const char *name, const char *k1, const char *v1,
	const char *k2, const char *v2, int64_t value)
{
	sbuf_printf(b, "%s{%s=\"", name, k1);
	buf_label(b, v1);
	if (k2) {
		sbuf_printf(b, "\",%s=\"", k2);
		buf_label(b, v2);
	}
	sbuf_printf(b, "\"} %" PRId64 "\n", value);
}

static void
render_promises(struct sbuf *b, const struct store_stats *s)
{
	static const enum promise_state states[] = {
		PROMISE_OPEN, PROMISE_ACKED, PROMISE_CLOSED,
	};
	size_t i;

	family(b, "promised_promises", "gauge", "Promises by state.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		sample2(b, "promised_promises", "state",
			promise_state_name(states[i]), NULL, NULL,
			s->promises[states[i]]);
	family(b, "promised_promises_lapsed_total", "counter",
	       "Times a promise passed its due while still open.");
	sbuf_printf(b, "promised_promises_lapsed_total %" PRId64 "\n",
		    s->lapsed);
}

static int64_t
notif_count(const struct store_stats *s, const char *channel,
	    enum notif_state state)
{
	size_t i;

	for (i = 0; i < s->nnotifs; i++)
		if (s->notifs[i].state == state &&
		    strcmp(s->notifs[i].channel, channel) == 0)
			return s->notifs[i].count;
	return 0;
}

/* One channel's final results; seen[] keeps a channel from repeating. */
static void
render_channel(struct sbuf *b, const struct store_stats *s, const char *ch)
{
	sample2(b, "promised_notifications_total", "channel", ch, "result",
		"sent", notif_count(s, ch, NOTIF_SENT));
	sample2(b, "promised_notifications_total", "channel", ch, "result",
		"dead", notif_count(s, ch, NOTIF_DEAD));
}

static void
render_outbox(struct sbuf *b, const struct store_stats *s,
	      const struct config *cfg)
{
	static const enum notif_state depth[] = {
		NOTIF_PENDING, NOTIF_RETRY, NOTIF_SENDING,
	};
	size_t i, j;

	/* Only final states: a count of rows in retry can fall, and a
	 * counter must not. */
	family(b, "promised_notifications_total", "counter",
	       "Notifications delivered (sent) or given up (dead), by channel.");
	for (i = 0; i < s->nnotifs; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(s->notifs[j].channel, s->notifs[i].channel) == 0)
				break;
		if (j == i)
			render_channel(b, s, s->notifs[i].channel);
	}
	for (i = 0; cfg && i < cfg->nchannels; i++) {
		for (j = 0; j < s->nnotifs; j++)
			if (strcmp(s->notifs[j].channel, cfg->channels[i].name) == 0)
				break;
		if (j == s->nnotifs)
			render_channel(b, s, cfg->channels[i].name);
	}
	family(b, "promised_outbox_depth", "gauge",
	       "Notifications not yet delivered, by outbox state.");
	for (i = 0; i < sizeof(depth) / sizeof(depth[0]); i++)
		sample2(b, "promised_outbox_depth", "state",
			notif_state_name(depth[i]), NULL, NULL,
			s->outbox[depth[i]]);
	family(b, "promised_outbox_oldest_pending_age_seconds", "gauge",
	       "Seconds the oldest undelivered notification has waited.");
	sbuf_printf(b, "promised_outbox_oldest_pending_age_seconds %" PRId64
		    "\n", s->oldest_pending_age);
}

static void
render_counters(struct sbuf *b, const char *name, const char *help,
		const char *ka, const char *kb, const struct counter *c,
		size_t n)
{
	size_t i;

	family(b, name, "counter", help);
	for (i = 0; i < n; i++)
		sample2(b, name, ka, c[i].a, kb, c[i].b, (int64_t)c[i].n);
}

static void
render_feeds(struct sbuf *b, const struct store_feed_status *fs, size_t n,
	     const struct api_metrics *m)
{
	size_t i;

	render_counters(b, "promised_feed_fetch_total",
			"Feed fetches since the daemon started, by feed and "
			"result.", "feed", "result", m ? m->feed : NULL,
			m ? m->nfeed : 0);
	family(b, "promised_feed_last_success_timestamp_seconds", "gauge",
	       "When each feed last synced (Unix seconds; 0: never).");
	for (i = 0; i < n; i++)
		sample2(b, "promised_feed_last_success_timestamp_seconds",
			"feed", fs[i].name, NULL, NULL, fs[i].last_ok_at);
	family(b, "promised_feed_up", "gauge",
	       "1 when the feed's last fetch worked, else 0.");
	for (i = 0; i < n; i++)
		sample2(b, "promised_feed_up", "feed", fs[i].name, NULL, NULL,
			fs[i].failing ? 0 : 1);
}

static void
render_lag(struct sbuf *b, const struct api_metrics *m)
{
	uint64_t cum = 0;
	size_t i;

	family(b, "promised_fire_lag_seconds", "histogram",
	       "Seconds from a step's instant to the send of its notification.");
	for (i = 0; i <= API_LAG_NBUCKETS; i++) {
		cum += m ? m->lag[i] : 0;
		if (i < API_LAG_NBUCKETS)
			sbuf_printf(b, "promised_fire_lag_seconds_bucket"
				    "{le=\"%g\"} %" PRIu64 "\n", lag_bounds[i],
				    cum);
		else
			sbuf_printf(b, "promised_fire_lag_seconds_bucket"
				    "{le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	sbuf_printf(b, "promised_fire_lag_seconds_sum %.6f\n",
		    m ? m->lag_sum : 0.0);
	sbuf_printf(b, "promised_fire_lag_seconds_count %" PRIu64 "\n",
		    m ? m->lag_count : 0);
}

char *
api_metrics_render(const struct api_opts *o, int64_t now, char *err,
		   size_t errlen)
{
	struct store_stats s;
	struct store_feed_status *fs = NULL;
	struct sbuf b = { 0 };
	size_t nfs = 0;

	memset(&s, 0, sizeof(s));
	if (store_stats(o->st, &s, now, err, errlen) != STORE_OK ||
	    store_feed_status_list(o->st, &fs, &nfs, err, errlen) != STORE_OK)
		goto out;
	render_promises(&b, &s);
	render_outbox(&b, &s, o->cfg);
	render_counters(&b, "promised_notification_attempts_total",
			"Send attempts since the daemon started, by channel "
			"and result.", "channel", "result",
			o->metrics ? o->metrics->notif : NULL,
			o->metrics ? o->metrics->nnotif : 0);
	render_feeds(&b, fs, nfs, o->metrics);
	render_lag(&b, o->metrics);
out:
	store_stats_clear(&s);
	store_feed_status_free_array(fs, nfs);
	return b.p;
}

/* ---- JSON answers ----------------------------------------------------- */

static int64_t
api_now(const struct api *a)
{
	return a->o.now_fn ? a->o.now_fn() : (int64_t)time(NULL);
}

/* Sends j (reference stolen) with status. */
static void
reply_json(struct http_response *resp, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);

	if (text == NULL)
		fatal("api: cannot serialise a JSON answer");
	http_resp_set(resp, status, "application/json", text, strlen(text));
	free(text);
	json_decref(j);
}

/* {"error": msg, "field": field} (field may be NULL). */
static void
reply_error(struct http_response *resp, int status, const char *field,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reply_error(struct http_response *resp, int status, const char *field,
	    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_object();
	json_object_set_new(j, "error", json_string(msg));
	if (field)
		json_object_set_new(j, "field", json_string(field));
	reply_json(resp, status, j);
}

static void
reply_store_error(struct http_response *resp, int rc, const char *err)
{
	if (rc == STORE_BUSY) {
		reply_error(resp, 503, NULL, "the database is busy; try again");
		http_resp_header(resp, "Retry-After", "1");
		return;
	}
	reply_error(resp, 500, NULL, "database error: %s",
		    err && err[0] ? err : "unknown");
}

static void
set_time(json_t *o, const char *key, int64_t t)
{
	char buf[40];

	if (t == 0) {
		json_object_set_new(o, key, json_null());
		return;
	}
	util_format_utc(t, buf, sizeof(buf));
	json_object_set_new(o, key, json_string(buf));
}

static void
set_str(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, s ? json_string(s) : json_null());
}

/* "2026-12-04T17:00:00+01:00" in the promise's site. */
static void
set_local(const struct api *a, json_t *o, const struct promise *p)
{
	const struct cal_site *site = NULL;
	struct cal_local l;
	char buf[64];
	int off;

	if (a->o.cfg && p->site)
		site = config_site(a->o.cfg, p->site);
	if (site == NULL && a->o.cfg && a->o.cfg->default_site)
		site = config_site(a->o.cfg, a->o.cfg->default_site);
	if (site == NULL || cal_to_local(site->tz, p->due_at, &l) != 0) {
		util_format_utc(p->due_at, buf, sizeof(buf));
	} else {
		off = l.utcoff < 0 ? -l.utcoff : l.utcoff;
		(void)snprintf(buf, sizeof(buf),
			       "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
			       l.year, l.month, l.day, l.hour, l.min, l.sec,
			       l.utcoff < 0 ? '-' : '+', off / 3600,
			       (off % 3600) / 60);
	}
	json_object_set_new(o, "due_local", json_string(buf));
}

/* The promise with promisectl --json's field names (without events). */
static json_t *
promise_json(const struct api *a, const struct promise *p)
{
	json_t *o = json_object(), *c = json_object();

	json_object_set_new(o, "id", json_integer(p->id));
	set_str(o, "ref", p->ref);
	set_str(o, "title", p->title);
	set_str(o, "details", p->details);
	set_str(c, "name", p->customer_name);
	set_str(c, "phone", p->customer_phone);
	set_str(c, "email", p->customer_email);
	json_object_set_new(o, "customer", c);
	set_str(o, "vehicle", p->vehicle);
	set_str(o, "vin", p->vin);
	set_str(o, "owner", p->owner);
	set_str(o, "team", p->team);
	set_str(o, "site", p->site);
	set_str(o, "policy", p->policy);
	set_str(o, "state", promise_state_name(p->state));
	set_str(o, "outcome", p->outcome == OUTCOME_NONE ? NULL
		: promise_outcome_name(p->outcome));
	set_time(o, "due", p->due_at);
	set_local(a, o, p);
	set_time(o, "target", p->target_at);
	set_time(o, "created", p->created_at);
	set_time(o, "updated", p->updated_at);
	set_time(o, "closed", p->closed_at);
	set_str(o, "closed_by", p->closed_by);
	set_time(o, "acked", p->acked_at);
	set_time(o, "snoozed_until", p->snoozed_until);
	set_time(o, "lapsed", p->lapsed_at);
	set_time(o, "next_step", p->next_step_at);
	json_object_set_new(o, "renegotiations", json_integer(p->renegotiations));
	set_str(o, "source", p->source);
	return o;
}

/* ---- Requests --------------------------------------------------------- */

/* Equal strings in time that depends on the lengths only. */
static int
secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la == lb ? 0 : 1;

	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[lb ? i % lb : 0]);
	return d == 0;
}

/* 1 when the request may use the intake API; else resp is filled. */
static int
authorized(const struct api *a, const struct http_request *req,
	   struct http_response *resp)
{
	const char *h;

	if (a->o.intake_token == NULL || a->o.intake_token[0] == '\0') {
		reply_error(resp, 503, NULL, "the intake API is disabled: "
			    "no token is configured");
		return 0;
	}
	h = http_req_header(req, "Authorization");
	if (h && util_startswith_ci(h, "Bearer ")) {
		h += 7;
		while (*h == ' ')
			h++;
		if (secret_equal(h, a->o.intake_token))
			return 1;
	}
	reply_error(resp, 401, NULL, h ? "the bearer token is not valid"
		    : "an Authorization: Bearer token is required");
	http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"promised\"");
	return 0;
}

/* The body as JSON; NULL with resp filled when it is not (empty_ok: an
 * empty body gives an empty object). */
static json_t *
body_json(const struct http_request *req, struct http_response *resp,
	  int empty_ok)
{
	json_error_t je;
	json_t *j, *e, *msg;
	size_t len;
	const char *body = http_req_body(req, &len);

	if (len == 0 && empty_ok)
		return json_object();
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		e = json_object();
		/* jansson's text quotes the input near the error, which may
		 * be cut inside a UTF-8 sequence; json_sprintf refuses that
		 * and the answer would lose its "error". */
		msg = json_sprintf("invalid JSON: %s", je.text);
		if (msg == NULL)
			msg = json_string("invalid JSON");
		json_object_set_new(e, "error", msg);
		json_object_set_new(e, "line", json_integer(je.line));
		json_object_set_new(e, "column", json_integer(je.column));
		json_object_set_new(e, "position", json_integer(je.position));
		reply_json(resp, 400, e);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		reply_error(resp, 400, NULL, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Text checks shared by every field: length, UTF-8, control bytes. */
static int
check_text(struct http_response *resp, const char *field, const char *v,
	   size_t max, int multiline)
{
	size_t len = strlen(v), i;

	if (len > max) {
		reply_error(resp, 422, field, "%s is too long (%zu bytes; at "
			    "most %zu)", field, len, max);
		return -1;
	}
	if (!util_utf8_valid(v, len)) {
		reply_error(resp, 422, field, "%s is not valid UTF-8", field);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (multiline && (ch == '\n' || ch == '\t' || ch == '\r'))
			continue;
		if (ch < 0x20 || ch == 0x7f) {
			reply_error(resp, 422, field, "%s contains a control "
				    "character (byte %zu)", field, i + 1);
			return -1;
		}
	}
	return 0;
}

/* Looks a promise up by numeric id or by ref; fills resp on failure. */
static int
find_promise(struct api *a, const char *key, struct promise *p,
	     struct http_response *resp)
{
	char err[512] = "";
	int64_t id;
	int rc;

	if (util_parse_int64(key, 1, INT64_MAX, &id) == 0)
		rc = store_get(a->o.st, id, p, err, sizeof(err));
	else
		rc = store_get_by_ref(a->o.st, key, p, err, sizeof(err));
	if (rc == STORE_NOTFOUND)
		reply_error(resp, 404, NULL, "no promise with id or ref '%s'",
			    key);
	else if (rc != STORE_OK)
		reply_store_error(resp, rc, err);
	return rc == STORE_OK ? 0 : -1;
}

/* ---- POST /api/v1/promises ------------------------------------------- */

enum fld {
	F_TITLE, F_OWNER, F_DUE, F_TARGET, F_TEAM, F_SITE, F_POLICY,
	F_CNAME, F_CPHONE, F_CEMAIL, F_VEHICLE, F_VIN, F_DETAILS, F_REF, NFLD
};

/* Each field: its JSON key (under "customer" for the customer's), the
 * name errors use, its longest value, whether newlines are allowed, and
 * where the promise keeps it (0: not copied as it is). */
static const struct {
	const char *key;
	int in_customer;
	const char *name;
	size_t max;
	int multiline;
	size_t off;
} flds[NFLD] = {
	[F_TITLE] = { "title", 0, "title", API_MAX_TITLE, 0,
		      offsetof(struct promise, title) },
	[F_OWNER] = { "owner", 0, "owner", API_MAX_FIELD, 0,
		      offsetof(struct promise, owner) },
	[F_DUE] = { "due", 0, "due", API_MAX_FIELD, 0, 0 },
	[F_TARGET] = { "target", 0, "target", API_MAX_FIELD, 0, 0 },
	[F_TEAM] = { "team", 0, "team", API_MAX_FIELD, 0,
		     offsetof(struct promise, team) },
	[F_SITE] = { "site", 0, "site", API_MAX_FIELD, 0,
		     offsetof(struct promise, site) },
	[F_POLICY] = { "policy", 0, "policy", API_MAX_FIELD, 0,
		       offsetof(struct promise, policy) },
	[F_CNAME] = { "name", 1, "customer.name", API_MAX_FIELD, 0,
		      offsetof(struct promise, customer_name) },
	[F_CPHONE] = { "phone", 1, "customer.phone", API_MAX_FIELD, 0,
		       offsetof(struct promise, customer_phone) },
	[F_CEMAIL] = { "email", 1, "customer.email", API_MAX_FIELD, 0,
		       offsetof(struct promise, customer_email) },
	[F_VEHICLE] = { "vehicle", 0, "vehicle", API_MAX_FIELD, 0,
			offsetof(struct promise, vehicle) },
	[F_VIN] = { "vin", 0, "vin", API_MAX_FIELD, 0,
		    offsetof(struct promise, vin) },
	[F_DETAILS] = { "details", 0, "details", API_MAX_DETAILS, 1,
			offsetof(struct promise, details) },
	[F_REF] = { "ref", 0, "ref", API_MAX_FIELD, 0,
		    offsetof(struct promise, ref) },
};

struct intake {
	char *v[NFLD];          /* owned; NULL: absent, null or empty */
	const struct cfg_staff *owner;
	const struct cfg_team *team;
	const struct cal_site *site;
	int64_t due, target;
};

static void
intake_clear(struct intake *in)
{
	size_t i;

	for (i = 0; i < NFLD; i++)
		free(in->v[i]);
}

/* Keys of obj not in the table are refused, so a typo is not ignored. */
static int
unknown_key(json_t *obj, int customer, struct http_response *resp)
{
	const char *key;
	json_t *val;
	size_t i;

	json_object_foreach(obj, key, val) {
		(void)val;
		for (i = 0; i < NFLD; i++)
			if (flds[i].in_customer == customer &&
			    strcmp(flds[i].key, key) == 0)
				break;
		if (i == NFLD && !(customer == 0 && strcmp(key, "customer") == 0)) {
			reply_error(resp, 400, key, "unknown field '%s%s'",
				    customer ? "customer." : "", key);
			return -1;
		}
	}
	return 0;
}

static int
read_fields(json_t *root, struct intake *in, struct http_response *resp)
{
	json_t *cust = json_object_get(root, "customer"), *v;
	size_t i;

	if (unknown_key(root, 0, resp) != 0)
		return -1;
	if (cust && !json_is_null(cust) && !json_is_object(cust)) {
		reply_error(resp, 400, "customer", "customer must be an object "
			    "with name, phone and email");
		return -1;
	}
	if (json_is_object(cust) && unknown_key(cust, 1, resp) != 0)
		return -1;
	for (i = 0; i < NFLD; i++) {
		v = json_object_get(flds[i].in_customer ? cust : root,
				    flds[i].key);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			reply_error(resp, 400, flds[i].name, "%s must be a "
				    "string", flds[i].name);
			return -1;
		}
		if (check_text(resp, flds[i].name, json_string_value(v),
			       flds[i].max, flds[i].multiline) != 0)
			return -1;
		if (json_string_length(v) > 0)
			in->v[i] = xstrdup(json_string_value(v));
	}
	for (i = 0; i < NFLD; i++) {
		if ((i == F_TITLE || i == F_OWNER || i == F_DUE) &&
		    in->v[i] == NULL) {
			reply_error(resp, 422, flds[i].name, "%s is required",
				    flds[i].name);
			return -1;
		}
	}
	return 0;
}

/* Owner, team, site and policy must all be known to the config. */
static int
resolve_people(const struct config *cfg, struct intake *in,
	       struct http_response *resp)
{
	const char *site_id;

	in->owner = config_staff(cfg, in->v[F_OWNER]);
	if (in->owner == NULL) {
		reply_error(resp, 422, "owner", "unknown owner '%s'",
			    in->v[F_OWNER]);
		return -1;
	}
	if (in->v[F_TEAM] == NULL && in->owner->team)
		in->v[F_TEAM] = xstrdup(in->owner->team);
	if (in->v[F_TEAM]) {
		in->team = config_team(cfg, in->v[F_TEAM]);
		if (in->team == NULL) {
			reply_error(resp, 422, "team", "unknown team '%s'",
				    in->v[F_TEAM]);
			return -1;
		}
	}
	site_id = in->v[F_SITE] ? in->v[F_SITE]
		: in->team && in->team->site ? in->team->site : cfg->default_site;
	in->site = site_id ? config_site(cfg, site_id) : NULL;
	if (in->site == NULL) {
		reply_error(resp, 422, "site", "unknown site '%s'",
			    site_id ? site_id : "(none)");
		return -1;
	}
	if (in->v[F_SITE] == NULL)
		in->v[F_SITE] = xstrdup(in->site->id);
	if (in->v[F_POLICY] && config_policy(cfg, in->v[F_POLICY]) == NULL) {
		reply_error(resp, 422, "policy", "unknown policy '%s'",
			    in->v[F_POLICY]);
		return -1;
	}
	return 0;
}

static int
resolve_times(const struct config *cfg, struct intake *in, int64_t now,
	      struct http_response *resp)
{
	char err[512] = "", due[40];

	if (phrase_parse_due(in->v[F_DUE], now, in->site, cfg->phrases,
			     cfg->nphrases, &in->due, err, sizeof(err)) != 0) {
		reply_error(resp, 422, "due", "due: %s", err);
		return -1;
	}
	if (in->v[F_TARGET] &&
	    phrase_parse_due(in->v[F_TARGET], now, in->site, cfg->phrases,
			     cfg->nphrases, &in->target, err, sizeof(err)) != 0) {
		reply_error(resp, 422, "target", "target: %s", err);
		return -1;
	}
	util_format_utc(in->due, due, sizeof(due));
	if (in->due < now) {
		reply_error(resp, 422, "due", "due %s is in the past", due);
		return -1;
	}
	if (in->v[F_TARGET] && in->target > in->due) {
		reply_error(resp, 422, "target", "target is after due %s", due);
		return -1;
	}
	return 0;
}

static int
check_contact(struct intake *in, struct http_response *resp)
{
	const char *e = in->v[F_CEMAIL], *at;
	char err[256] = "";
	int digit_ok = 1;
	size_t i;

	if (e) {
		at = strchr(e, '@');
		if (at == NULL || at == e || at[1] == '\0' ||
		    strchr(at + 1, '@') || strchr(e, ' ')) {
			reply_error(resp, 422, "customer.email", "'%s' is not "
				    "an email address", e);
			return -1;
		}
	}
	if (in->v[F_VIN] == NULL)
		return 0;
	for (i = 0; in->v[F_VIN][i]; i++)
		if (in->v[F_VIN][i] >= 'a' && in->v[F_VIN][i] <= 'z')
			in->v[F_VIN][i] = (char)(in->v[F_VIN][i] - 'a' + 'A');
	/* A check digit that does not match is only a warning, as in
	 * promisectl: many European VINs do not use it. */
	if (promise_vin_check(in->v[F_VIN], &digit_ok, err, sizeof(err)) != 0) {
		reply_error(resp, 422, "vin", "vin: %s",
			    err[0] ? err : "not a valid VIN");
		return -1;
	}
	return 0;
}

/* Moves the checked values into p (which then owns them). */
static void
build(struct intake *in, struct promise *p)
{
	size_t i;

	for (i = 0; i < NFLD; i++) {
		if (flds[i].off == 0)
			continue;
		*(char **)((char *)p + flds[i].off) = in->v[i];
		in->v[i] = NULL;
	}
	p->source = xstrdup("api");
	p->due_at = in->due;
	p->target_at = in->target;
}

/* 200 with the promise that has ref already; 0 when there is none. */
static int
existing_ref(struct api *a, const char *ref, struct http_response *resp)
{
	struct promise p;
	char err[512] = "";
	int rc;

	memset(&p, 0, sizeof(p));
	rc = store_get_by_ref(a->o.st, ref, &p, err, sizeof(err));
	if (rc == STORE_OK)
		reply_json(resp, 200, promise_json(a, &p));
	else if (rc != STORE_NOTFOUND)
		reply_store_error(resp, rc, err);
	promise_clear(&p);
	return rc == STORE_NOTFOUND ? 0 : 1;
}

static void
store_new(struct api *a, struct promise *p, int64_t now,
	  struct http_response *resp)
{
	struct promise stored;
	char err[512] = "", loc[64];
	int rc;

	memset(&stored, 0, sizeof(stored));
	rc = store_add(a->o.st, p, API_ACTOR, now, err, sizeof(err));
	if (rc == STORE_CONFLICT && p->ref) {
		/* Another request with the same ref won the race. */
		if (existing_ref(a, p->ref, resp) == 0)
			reply_error(resp, 409, "ref", "ref '%s' is taken",
				    p->ref);
		return;
	}
	if (rc == STORE_INVALID) {
		reply_error(resp, 422, NULL, "%s", err);
		return;
	}
	if (rc != STORE_OK) {
		reply_store_error(resp, rc, err);
		return;
	}
	/* Answer with what was stored: the generated ref, the times and
	 * the next step are the store's. */
	(void)snprintf(loc, sizeof(loc), "%" PRId64, p->id);
	if (find_promise(a, loc, &stored, resp) == 0) {
		reply_json(resp, 201, promise_json(a, &stored));
		(void)snprintf(loc, sizeof(loc), API_PREFIX "/%" PRId64, p->id);
		http_resp_header(resp, "Location", loc);
	}
	promise_clear(&stored);
}

static int
h_create(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	struct intake in;
	struct promise p;
	json_t *root = NULL;
	int64_t now = api_now(a);

	memset(&in, 0, sizeof(in));
	memset(&p, 0, sizeof(p));
	if (!authorized(a, req, resp) ||
	    (root = body_json(req, resp, 0)) == NULL ||
	    read_fields(root, &in, resp) != 0)
		goto out;
	if (in.v[F_REF] && existing_ref(a, in.v[F_REF], resp))
		goto out;
	if (resolve_people(a->o.cfg, &in, resp) != 0 ||
	    resolve_times(a->o.cfg, &in, now, resp) != 0 ||
	    check_contact(&in, resp) != 0)
		goto out;
	build(&in, &p);
	store_new(a, &p, now, resp);
out:
	json_decref(root);
	intake_clear(&in);
	promise_clear(&p);
	return 0;
}

/* ---- GET /api/v1/promises --------------------------------------------- */

/* state=: which states a list holds; "open" means not closed, as in
 * promisectl list. */
static const struct {
	const char *name;
	int open_only;
	int state;              /* -1: any */
} list_states[] = {
	{ "open", 1, -1 },
	{ "acked", 1, PROMISE_ACKED },
	{ "closed", 0, PROMISE_CLOSED },
	{ "all", 0, -1 },
};

static int
list_args(const struct http_request *req, struct store_filter *f,
	  int *state, struct http_response *resp)
{
	const char *s = http_req_arg(req, "state"), *l = http_req_arg(req, "limit");
	int64_t lim = API_LIST_DEFAULT;
	size_t i;

	for (i = 0; s && i < sizeof(list_states) / sizeof(list_states[0]); i++)
		if (strcmp(s, list_states[i].name) == 0)
			break;
	if (s && i == sizeof(list_states) / sizeof(list_states[0])) {
		reply_error(resp, 400, "state", "state must be open, acked, "
			    "closed or all");
		return -1;
	}
	if (s == NULL)
		i = 0;
	if (l && util_parse_int64(l, 1, API_LIST_MAX, &lim) != 0) {
		reply_error(resp, 400, "limit", "limit must be a number from 1 "
			    "to %d", API_LIST_MAX);
		return -1;
	}
	f->open_only = list_states[i].open_only;
	*state = list_states[i].state;
	f->owner = http_req_arg(req, "owner");
	f->team = http_req_arg(req, "team");
	f->site = http_req_arg(req, "site");
	/* A state the store cannot filter on is filtered here, after. */
	f->limit = *state < 0 ? (size_t)lim : 0;
	return (int)lim;
}

static int
h_list(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	struct store_filter f;
	struct promise *arr = NULL;
	size_t n = 0, i;
	char err[512] = "";
	json_t *out;
	int state, lim, rc;

	memset(&f, 0, sizeof(f));
	if (!authorized(a, req, resp) ||
	    (lim = list_args(req, &f, &state, resp)) < 0)
		return 0;
	f.now = api_now(a);
	rc = store_list(a->o.st, &f, &arr, &n, err, sizeof(err));
	if (rc != STORE_OK) {
		reply_store_error(resp, rc, err);
		return 0;
	}
	out = json_array();
	for (i = 0; i < n && json_array_size(out) < (size_t)lim; i++)
		if (state < 0 || (int)arr[i].state == state)
			json_array_append_new(out, promise_json(a, &arr[i]));
	promise_free_array(arr, n);
	reply_json(resp, 200, out);
	return 0;
}

/* ---- /api/v1/promises/<key>[/close] ----------------------------------- */

/* The <key> of the path, owned; NULL when the path has another shape. */
static char *
path_key(const struct http_request *req, const char *suffix)
{
	const char *rest = http_req_path(req) + strlen(API_PREFIX "/");
	size_t len = strlen(rest), slen = suffix ? strlen(suffix) : 0;

	if (suffix) {
		if (len <= slen || strcmp(rest + len - slen, suffix) != 0)
			return NULL;
		len -= slen;
	}
	return len ? xstrndup(rest, len) : NULL;
}

static int
h_get(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	struct promise p;
	char *key;

	if (!authorized(a, req, resp))
		return 0;
	key = path_key(req, NULL);
	memset(&p, 0, sizeof(p));
	if (key == NULL)
		reply_error(resp, 404, NULL, "not found");
	else if (find_promise(a, key, &p, resp) == 0)
		reply_json(resp, 200, promise_json(a, &p));
	promise_clear(&p);
	free(key);
	return 0;
}

/* {"outcome": "kept"|"cancelled", "note": ...}, both optional. */
static int
close_args(json_t *root, enum promise_outcome *outcome, const char **note,
	   struct http_response *resp)
{
	json_t *o = json_object_get(root, "outcome");
	json_t *n = json_object_get(root, "note");

	*outcome = OUTCOME_KEPT;
	*note = NULL;
	if (o && !json_is_null(o)) {
		if (json_is_string(o) &&
		    strcmp(json_string_value(o), "cancelled") == 0)
			*outcome = OUTCOME_CANCELLED;
		else if (!json_is_string(o) ||
			 strcmp(json_string_value(o), "kept") != 0) {
			reply_error(resp, 422, "outcome", "outcome must be "
				    "\"kept\" or \"cancelled\"");
			return -1;
		}
	}
	if (n && !json_is_null(n)) {
		if (!json_is_string(n)) {
			reply_error(resp, 400, "note", "note must be a string");
			return -1;
		}
		*note = json_string_value(n);
		if (check_text(resp, "note", *note, API_MAX_FIELD, 1) != 0)
			return -1;
	}
	return 0;
}

static int
h_close(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	enum promise_outcome outcome;
	struct promise p;
	const char *note;
	char *key = NULL, err[512] = "";
	json_t *root = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	if (!authorized(a, req, resp))
		goto out;
	if ((key = path_key(req, "/close")) == NULL) {
		reply_error(resp, 404, NULL, "not found");
		goto out;
	}
	if ((root = body_json(req, resp, 1)) == NULL ||
	    close_args(root, &outcome, &note, resp) != 0 ||
	    find_promise(a, key, &p, resp) != 0)
		goto out;
	rc = store_close_promise(a->o.st, p.id, outcome, API_ACTOR, note,
				 api_now(a), err, sizeof(err));
	if (rc == STORE_CONFLICT)
		reply_error(resp, 409, NULL, "promise %" PRId64 " is already "
			    "closed", p.id);
	else if (rc == STORE_NOTFOUND)
		reply_error(resp, 404, NULL, "no promise %" PRId64, p.id);
	else if (rc != STORE_OK)
		reply_store_error(resp, rc, err);
	if (rc != STORE_OK)
		goto out;
	promise_clear(&p);
	if (find_promise(a, key, &p, resp) == 0)
		reply_json(resp, 200, promise_json(a, &p));
out:
	json_decref(root);
	promise_clear(&p);
	free(key);
	return 0;
}

/* ---- /healthz and /metrics -------------------------------------------- */

static int
h_health(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	char reason[256] = "", body[300];
	int n;

	(void)req;
	if (a->o.health_fn == NULL ||
	    a->o.health_fn(a->o.health_ctx, reason, sizeof(reason)) == 0) {
		http_resp_set(resp, 200, "text/plain; charset=utf-8", "ok\n", 3);
		return 0;
	}
	n = snprintf(body, sizeof(body), "%s\n",
		     reason[0] ? reason : "unhealthy");
	http_resp_set(resp, 503, "text/plain; charset=utf-8", body,
		      (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
	return 0;
}

static int
h_metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	char err[512] = "";
	char *text;

	(void)req;
	text = api_metrics_render(&a->o, api_now(a), err, sizeof(err));
	if (text == NULL) {
		reply_store_error(resp, STORE_ERR, err);
		return 0;
	}
	http_resp_set(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
		      text, strlen(text));
	free(text);
	return 0;
}

/* ---- Registration ----------------------------------------------------- */

struct api *
api_register(struct http_server *srv, const struct api_opts *o)
{
	static const struct {
		const char *method, *path;
		http_handler_fn fn;
	} routes[] = {
		{ "POST", API_PREFIX, h_create },
		{ "GET", API_PREFIX, h_list },
		{ "POST", API_PREFIX "/*", h_close },
		{ "GET", API_PREFIX "/*", h_get },
		{ "GET", "/healthz", h_health },
		{ "GET", "/metrics", h_metrics },
	};
	struct api *a = xcalloc(1, sizeof(*a));
	size_t i;

	a->o = *o;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		/* Only a malformed path fails, and these are constants. */
		if (http_route(srv, routes[i].method, routes[i].path,
			       routes[i].fn, a) != 0)
			fatal("api: cannot add route %s", routes[i].path);
	}
	return a;
}

void
api_set_opts(struct api *a, const struct api_opts *o)
{
	a->o = *o;
}

void
api_free(struct api *a)
{
	free(a);
}
