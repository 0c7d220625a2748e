/*
 * feedpoll: polls calendar feeds and holiday calendars and applies what
 * they say.  One source = one entry with its own schedule; at most one
 * fetch per source is in flight.  Everything that reaches the store goes
 * through feedpoll_apply, so `promisectl import`, `promisectl sync
 * --here` and the daemon map and apply a calendar the same way.
 *
 * Files are read directly; their "ETag" is made of mtime and size so an
 * unchanged file costs nothing, like a 304.  A holiday calendar is always
 * fetched in full once after start-up (the days live only in memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "promised/calendar.h"
#include "promised/feedpoll.h"
#include "promised/log.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define FP_SYNC_TIMEOUT_MS 300000L   /* sync_now: the whole fetch */
#define FP_REQUEST_SUFFIX "-feedsync-"

/* One source being polled. */
struct fp_source {
	char *name;
	int holidays;
	const struct cfg_feed *cfg;   /* from the current config */
	int64_t next_due;             /* 0: at once */
	int inflight;
	int loaded;                   /* holidays: read once since start */
	int64_t *days;                /* holidays read from the calendar */
	size_t ndays;
};

/* The configured holidays of one site, kept apart from merged ones. */
struct fp_site_days {
	char *site;
	int64_t *days;
	size_t n;
};

/* The job_ctx of a fetch: kind first (see feedpoll.h). */
struct fp_job {
	int kind;
	char *name;
	int holidays;
	char *sent_etag;              /* If-None-Match sent, or NULL */
	int body_fd;                  /* unlinked file of the body; -1: memory */
	struct fp_job *next;
};

struct feedpoll {
	const struct config *cfg;
	struct store *st;
	struct netsend *ns;
	struct fp_source *src;
	size_t nsrc;
	struct fp_site_days *own;
	size_t nown;
	struct fp_job *jobs;
	size_t inflight;
	int holidays_changed;
	feedpoll_observe_fn observe;  /* NULL: none */
	void *observe_ctx;
};

/* ------------------------------------------------------------------ */
/* Mapping and applying                                                */

struct staff_ctx {
	const struct config *cfg;
};

static const char *
staff_by_email(void *ctx, const char *email)
{
	const struct config *cfg = ((struct staff_ctx *)ctx)->cfg;
	size_t i;

	for (i = 0; i < cfg->nstaff; i++)
		if (cfg->staff[i].email != NULL &&
		    strcasecmp(cfg->staff[i].email, email) == 0)
			return cfg->staff[i].id;
	return NULL;
}

/* Parse options of fd; site may be NULL. */
static void
opts_of(const struct cfg_feed *fd, const struct cal_site *site,
	struct staff_ctx *sc, struct feed_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->name = fd->name;
	o->components = fd->components;
	o->categories = (const char *const *)fd->categories;
	o->ncategories = fd->ncategories;
	o->summary_prefix = fd->summary_prefix;
	o->summary_pattern = fd->summary_pattern;
	o->use_dtend = fd->use_dtend;
	o->default_owner = fd->default_owner != NULL ? fd->default_owner
						     : "holidays";
	o->site_tz = site != NULL ? site->tz : "UTC";
	o->site = fd->holidays ? NULL : site;
	o->policy = fd->policy;
	o->horizon = fd->horizon;
	o->max_instances = fd->max_instances > 0 ? (size_t)fd->max_instances : 0;
	o->staff_fn = staff_by_email;
	o->staff_ctx = sc;
}

static int
days_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts days and drops repeats; the new count. */
static size_t
days_unique(int64_t *days, size_t n)
{
	size_t i, k = 0;

	if (n > 1)
		qsort(days, n, sizeof(*days), days_cmp);
	for (i = 0; i < n; i++)
		if (k == 0 || days[k - 1] != days[i])
			days[k++] = days[i];
	return k;
}

/* Collects the local day of every event of a holiday calendar. */
struct day_list {
	const char *tz;
	int64_t *v;
	size_t n, cap;
};

static int
day_add(void *ctx, const struct feed_item *it)
{
	struct day_list *l = ctx;
	struct cal_local lt;

	if (it->cancelled || cal_to_local(l->tz, it->due_at, &lt) != 0)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap > 0 ? l->cap * 2 : 32;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = lt.days;
	return 0;
}

/* Reads the days of a holiday calendar into *days (owned). */
static int
parse_holidays(const struct cfg_feed *fd, const struct cal_site *site,
	       const char *data, size_t len, int64_t now, int64_t **days,
	       size_t *ndays, struct feedpoll_report *rep)
{
	struct staff_ctx sc = { NULL };
	struct day_list l = { site != NULL ? site->tz : "UTC", NULL, 0, 0 };
	struct feed_opts o;

	opts_of(fd, site, &sc, &o);
	/* Holidays already past this year still count for reports. */
	if (feed_parse(data, len, &o, now - 366 * INT64_C(86400), day_add, &l,
		       &rep->stats, rep->error, sizeof(rep->error)) != 0) {
		free(l.v);
		return -1;
	}
	*ndays = days_unique(l.v, l.n);
	*days = l.v;
	rep->holidays = *ndays;
	return 0;
}

/* Hands each parsed item straight to the store run: the feed is never
 * held as a list of items. */
struct apply_ctx {
	struct store_feed_run *run;
	int rc;
	char why[256];
};

static int
apply_item(void *ctx, const struct feed_item *it)
{
	struct apply_ctx *a = ctx;

	a->rc = store_feed_item(a->run, it, a->why, sizeof(a->why));
	return a->rc != STORE_OK;
}

/* Parses the body (text in memory, or the file at body_fd when >= 0)
 * and applies it as one store run. */
static int
apply_body(const struct config *cfg, struct store *st,
	   const struct cfg_feed *fd, const char *data, size_t len,
	   int body_fd, int64_t now, const char *actor,
	   struct feedpoll_report *rep)
{
	struct staff_ctx sc = { cfg };
	struct apply_ctx a;
	struct feed_opts o;
	char why[256];
	int rc = -1, prc, src;

	memset(&a, 0, sizeof(a));
	opts_of(fd, config_site(cfg, fd->site), &sc, &o);
	src = store_feed_begin(st, fd->name, fd->max_cancel_share, actor, now,
			       &rep->res, &a.run, why, sizeof(why));
	if (src != STORE_OK) {
		(void)snprintf(rep->error, sizeof(rep->error), "%s", why);
		goto out;
	}
	prc = body_fd >= 0 ?
	      feed_parse_fd(body_fd, &o, now, apply_item, &a, &rep->stats,
			    why, sizeof(why)) :
	      feed_parse(data, len, &o, now, apply_item, &a, &rep->stats, why,
			 sizeof(why));
	if (a.rc != STORE_OK || prc != 0) {
		/* A store error stopped the parse: that one is the cause. */
		if (a.rc != STORE_OK)
			(void)snprintf(rep->error, sizeof(rep->error), "%s",
				       a.why);
		else
			(void)snprintf(rep->error, sizeof(rep->error),
				       "not applied: %s", why);
		store_feed_end(a.run, a.rc != STORE_OK ? a.rc : STORE_ERR,
			       why, sizeof(why));
		goto out;
	}
	src = store_feed_end(a.run, STORE_OK, why, sizeof(why));
	if (src != STORE_OK) {
		rep->refused = src == STORE_REFUSED;
		(void)snprintf(rep->error, sizeof(rep->error), "%s%s",
			       rep->refused ? "refused: " : "", why);
		goto out;
	}
	rc = 0;
out:
	rep->failed = rc != 0;
	return rc;
}

int
feedpoll_apply(const struct config *cfg, struct store *st,
	       const struct cfg_feed *fd, const char *data, size_t len,
	       int64_t now, const char *actor, struct feedpoll_report *rep)
{
	return apply_body(cfg, st, fd, data, len, -1, now, actor, rep);
}

/* ------------------------------------------------------------------ */
/* The feeds table                                                     */

/* The feeds-table row of a source (owned): a feed's name, or
 * "holidays:<site>" for a site's holiday calendar.  Feed names cannot
 * hold ':', so a feed named like a site never shares its row. */
static char *
row_name(const struct cfg_feed *fd)
{
	return fd->holidays ? xasprintf("holidays:%s", fd->name)
			    : xstrdup(fd->name);
}

/* Records the outcome of one attempt; rep NULL: a fetch error (err). */
static void
record(struct store *st, const struct cfg_feed *fd, int64_t now,
       const struct feedpoll_report *rep, const char *etag,
       const char *lastmod, const char *err)
{
	struct store_feed_status s;
	char e[256], *row = row_name(fd);

	memset(&s, 0, sizeof(s));
	if (store_feed_status_get(st, row, &s, e, sizeof(e)) != STORE_OK)
		memset(&s, 0, sizeof(s));
	free(s.name);
	s.name = row;
	free(s.url);
	s.url = xstrdup(fd->url);
	s.last_try_at = now;
	free(s.last_error);
	s.last_error = NULL;
	if (rep == NULL || rep->failed) {
		s.failing = 1;
		s.last_error = xstrdup(rep != NULL ? rep->error : err);
	} else {
		s.failing = 0;
		s.last_ok_at = now;
		if (!rep->not_modified) {
			free(s.etag);
			free(s.last_modified);
			s.etag = etag != NULL ? xstrdup(etag) : NULL;
			s.last_modified = lastmod != NULL ? xstrdup(lastmod) : NULL;
			s.items = fd->holidays ? (int64_t)rep->holidays :
				  (int64_t)rep->stats.items;
			s.added = (int64_t)rep->res.added;
			s.updated = (int64_t)(rep->res.moved + rep->res.updated +
					      rep->res.completed +
					      rep->res.reopened);
			s.cancelled = (int64_t)(rep->res.cancelled +
						rep->res.removed);
		}
	}
	if (store_feed_status_set(st, &s, e, sizeof(e)) != STORE_OK)
		log_warn("feed %s: cannot record its state: %s",
			fd->name, e);
	store_feed_status_clear(&s);
}

/* ------------------------------------------------------------------ */
/* Sources                                                             */

static int
is_http(const char *url)
{
	return util_startswith_ci(url, "http://") ||
	       util_startswith_ci(url, "https://");
}

/* Reads a file source; its validator is "file:<mtime>:<size>".  1 when
 * it equals etag (unchanged), 0 with *data (owned), -1 with err. */
static int
read_source_file(const struct cfg_feed *fd, const char *etag, char **data,
		 size_t *len, char *tag, size_t taglen, char *err,
		 size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct stat sb;
	int64_t max = fd->max_bytes > 0 ? fd->max_bytes
					: CFG_FEED_DEFAULT_MAX_BYTES;
	ssize_t got;
	size_t off = 0;
	int fd_ = -1, rc = -1;

	*data = NULL;
	fd_ = open(fd->url, O_RDONLY | O_CLOEXEC);
	if (fd_ < 0 || fstat(fd_, &sb) != 0) {
		util_seterr(err, errlen, "cannot read %s: %s", fd->url,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (int64_t)sb.st_size > max) {
		util_seterr(err, errlen, "%s: %s", fd->url, S_ISREG(sb.st_mode) ?
			    "file larger than max_bytes" : "not a regular file");
		goto out;
	}
	/* Three numbers, at most 66 characters; the caller's tag has 96. */
	(void)snprintf(tag, taglen, "file:%lld.%09ld:%lld",
		       (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
		       (long long)sb.st_size);
	if (etag != NULL && strcmp(etag, tag) == 0) {
		rc = 1;
		goto out;
	}
	*data = xmalloc((size_t)sb.st_size + 1);
	while (off < (size_t)sb.st_size &&
	       (got = read(fd_, *data + off, (size_t)sb.st_size - off)) > 0)
		off += (size_t)got;
	(*data)[off] = '\0';
	*len = off;
	rc = 0;
out:
	if (fd_ >= 0)
		close(fd_);
	if (rc != 0) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

static struct fp_source *
source_find(struct feedpoll *fp, const char *name, int holidays)
{
	size_t i;

	for (i = 0; i < fp->nsrc; i++)
		if (fp->src[i].holidays == holidays &&
		    strcmp(fp->src[i].name, name) == 0)
			return &fp->src[i];
	return NULL;
}

/* The request file of feed name next to the database; owned. */
static char *
request_path(const char *db_path, const char *name)
{
	return xasprintf("%s" FP_REQUEST_SUFFIX "%s", db_path, name);
}

/* 1 when source s has a pending request.  It is due "long ago" (1)
 * rather than at the file's mtime: the caller's clock may be injected. */
static int64_t
requested_at(const struct feedpoll *fp, const struct fp_source *s)
{
	struct stat sb;
	char *p;
	int64_t t = 0;

	if (s->holidays || fp->st == NULL)
		return 0;
	p = request_path(store_path(fp->st), s->name);
	if (stat(p, &sb) == 0)
		t = 1;
	free(p);
	return t;
}

static void
request_clear(const struct feedpoll *fp, const struct fp_source *s)
{
	char *p;

	if (s->holidays || fp->st == NULL)
		return;
	p = request_path(store_path(fp->st), s->name);
	unlink(p);
	free(p);
}

/* A holiday calendar's days changed: keep them, note the change. */
static void
holidays_store(struct feedpoll *fp, struct fp_source *s, int64_t *days,
	       size_t n)
{
	if (n != s->ndays || (n > 0 && memcmp(days, s->days,
					      n * sizeof(*days)) != 0))
		fp->holidays_changed = 1;
	free(s->days);
	s->days = days;
	s->ndays = n;
	s->loaded = 1;
}

/* One info line for a sync that changed something ("feed desk: 2 added,
 * 1 moved"); an unchanged feed stays quiet. */
static void
log_changes(const char *name, const struct store_feed_result *r)
{
	const struct { const char *what; size_t n; } c[] = {
		{ "added", r->added }, { "moved", r->moved },
		{ "updated", r->updated }, { "completed", r->completed },
		{ "cancelled", r->cancelled }, { "removed", r->removed },
		{ "reopened", r->reopened }, { "invalid", r->invalid },
	};
	char line[300] = "";
	size_t i, len = 0;
	int w;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (c[i].n == 0 || len >= sizeof(line))
			continue;
		w = snprintf(line + len, sizeof(line) - len, "%s%zu %s",
			     len > 0 ? ", " : "", c[i].n, c[i].what);
		if (w > 0)
			len += (size_t)w;
	}
	if (len > 0)
		log_info("feed %s: %s", name, line);
}

/* Applies an answer (data NULL: not modified) and records it. */
static void
source_apply(struct feedpoll *fp, struct fp_source *s, const char *data,
	     size_t len, int body_fd, int64_t now, const char *etag,
	     const char *lastmod, struct feedpoll_report *rep)
{
	const struct cfg_feed *fd = s->cfg;
	int64_t *days = NULL;
	size_t ndays = 0;
	char actor[100];

	memset(rep, 0, sizeof(*rep));
	rep->not_modified = data == NULL;
	if (data != NULL && fd->holidays) {
		if (parse_holidays(fd, config_site(fp->cfg, fd->site), data, len,
				   now, &days, &ndays, rep) == 0)
			holidays_store(fp, s, days, ndays);
		else
			rep->failed = 1;
	} else if (data != NULL) {
		(void)snprintf(actor, sizeof(actor), "feed:%s", fd->name);
		apply_body(fp->cfg, fp->st, fd, data, len, body_fd, now, actor,
			   rep);
	}
	if (rep->failed)
		log_warn("feed %s: %s", fd->name, rep->error);
	else if (data != NULL && !fd->holidays)
		log_changes(fd->name, &rep->res);
	record(fp->st, fd, now, rep, etag, lastmod, NULL);
}

/* Stored validators of s, unless a full fetch is needed. */
static void
validators(struct feedpoll *fp, struct fp_source *s, int full,
	   struct store_feed_status *st)
{
	char e[200], *row;

	memset(st, 0, sizeof(*st));
	if (full || (s->holidays && !s->loaded))
		return;
	row = row_name(s->cfg);
	if (store_feed_status_get(fp->st, row, st, e, sizeof(e)) != STORE_OK)
		memset(st, 0, sizeof(*st));
	free(row);
}

/* A file source, at once. */
static void
start_file(struct feedpoll *fp, struct fp_source *s, int64_t now, int full,
	   struct feedpoll_report *rep)
{
	struct store_feed_status st;
	char tag[96], err[300], *data = NULL;
	size_t len = 0;
	int rc;

	validators(fp, s, full, &st);
	rc = read_source_file(s->cfg, st.etag, &data, &len, tag, sizeof(tag),
			      err, sizeof(err));
	store_feed_status_clear(&st);
	if (rc < 0) {
		memset(rep, 0, sizeof(*rep));
		rep->failed = 1;
		util_strlcpy(rep->error, err, sizeof(rep->error));
		log_warn("feed %s: %s", s->name, err);
		record(fp->st, s->cfg, now, NULL, NULL, NULL, err);
		return;
	}
	source_apply(fp, s, rc == 1 ? NULL : data, len, -1, now, tag, NULL,
		     rep);
	free(data);
}

static void
job_free(struct fp_job *job)
{
	if (job->body_fd >= 0)
		close(job->body_fd);
	free(job->sent_etag);
	free(job->name);
	free(job);
}

/* An unlinked file for a feed's body, in the database's folder (the
 * daemon can write there) or else /tmp: a calendar of many megabytes
 * then sits in the page cache, not in the daemon's memory, and is parsed
 * from there (feed_parse_fd).  -1 when neither works: memory it is. */
static int
body_tmpfile(const struct feedpoll *fp)
{
	const char *db = fp->st != NULL ? store_path(fp->st) : NULL;
	const char *slash = db != NULL ? strrchr(db, '/') : NULL;
	char *dir;
	int fd;

	dir = slash == NULL ? xstrdup(".") : slash == db ? xstrdup("/") :
	      xstrndup(db, (size_t)(slash - db));
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(dir);
	return fd;
}

/* An http(s) source: a netsend job.  0 when queued. */
static int
start_http(struct feedpoll *fp, struct fp_source *s, int full, int64_t now)
{
	const struct cfg_feed *fd = s->cfg;
	struct netsend_fetch_req req;
	struct store_feed_status st;
	struct fp_job *job;
	char err[256];
	int rc;

	if (fp->ns == NULL) {
		record(fp->st, fd, now, NULL, NULL, NULL, "no network engine");
		return -1;
	}
	validators(fp, s, full, &st);
	memset(&req, 0, sizeof(req));
	req.url = fd->url;
	req.auth = fd->auth;
	req.username = fd->auth_username;
	req.secret_file = fd->auth_secret_file;
	req.etag = st.etag;
	req.last_modified = st.last_modified;
	req.max_bytes = fd->max_bytes;
	req.timeout = fd->timeout;
	req.connect_timeout = fd->connect_timeout;
	req.ca_file = fd->ca_file;
	job = xcalloc(1, sizeof(*job));
	job->kind = FEEDPOLL_JOB_KIND;
	job->name = xstrdup(s->name);
	job->holidays = s->holidays;
	job->sent_etag = st.etag != NULL ? xstrdup(st.etag) : NULL;
	/* Holiday calendars are small and parsed apart: memory is fine. */
	job->body_fd = s->holidays ? -1 : body_tmpfile(fp);
	req.body_to_fd = job->body_fd >= 0;
	req.body_fd = job->body_fd;
	rc = netsend_fetch(fp->ns, &req, job, err, sizeof(err));
	store_feed_status_clear(&st);
	if (rc != 0) {
		record(fp->st, fd, now, NULL, NULL, NULL, err);
		job_free(job);
		return -1;
	}
	job->next = fp->jobs;
	fp->jobs = job;
	s->inflight = 1;
	fp->inflight++;
	return 0;
}

static void
observe(const struct feedpoll *fp, const struct fp_source *s,
	const struct feedpoll_report *rep)
{
	if (fp->observe != NULL)
		fp->observe(fp->observe_ctx, s->name, s->holidays, rep);
}

/* Starts source s now (a file is done at once). */
static int
source_start(struct feedpoll *fp, struct fp_source *s, int64_t now, int full,
	     struct feedpoll_report *rep)
{
	request_clear(fp, s);
	s->next_due = now + (s->cfg->every > 0 ? s->cfg->every
					       : CFG_FEED_DEFAULT_EVERY);
	if (!is_http(s->cfg->url)) {
		start_file(fp, s, now, full, rep);
		observe(fp, s, rep);
		return 0;
	}
	if (start_http(fp, s, full, now) == 0)
		return 0;
	memset(rep, 0, sizeof(*rep));
	rep->failed = 1;
	util_strlcpy(rep->error, "the fetch could not start",
		     sizeof(rep->error));
	observe(fp, s, rep);
	return -1;
}

void
feedpoll_set_observer(struct feedpoll *fp, feedpoll_observe_fn fn, void *ctx)
{
	fp->observe = fn;
	fp->observe_ctx = ctx;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */

static void
add_source(struct feedpoll *fp, const struct cfg_feed *fd,
	   struct fp_source *old, size_t nold)
{
	struct fp_source *s = &fp->src[fp->nsrc++];
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < nold; i++)
		if (old[i].name != NULL && old[i].holidays == fd->holidays &&
		    strcmp(old[i].name, fd->name) == 0) {
			*s = old[i];
			memset(&old[i], 0, sizeof(old[i]));
			break;
		}
	if (s->name == NULL) {
		s->name = xstrdup(fd->name);
		s->holidays = fd->holidays;
	}
	s->cfg = fd;
}

static void
own_days_free(struct feedpoll *fp)
{
	size_t i;

	for (i = 0; i < fp->nown; i++) {
		free(fp->own[i].site);
		free(fp->own[i].days);
	}
	free(fp->own);
	fp->own = NULL;
	fp->nown = 0;
}

static void
own_days_reset(struct feedpoll *fp, const struct config *cfg)
{
	size_t i;

	own_days_free(fp);
	fp->own = xcalloc(cfg->nsites + 1, sizeof(*fp->own));
	fp->nown = cfg->nsites;
	for (i = 0; i < cfg->nsites; i++) {
		const struct cal_site *site = &cfg->sites[i];

		fp->own[i].site = xstrdup(site->id);
		fp->own[i].n = site->nholidays;
		fp->own[i].days = xcalloc(site->nholidays + 1, sizeof(int64_t));
		if (site->nholidays > 0)
			memcpy(fp->own[i].days, site->holidays,
			       site->nholidays * sizeof(int64_t));
	}
}

void
feedpoll_set_config(struct feedpoll *fp, const struct config *cfg)
{
	struct fp_source *old = fp->src;
	size_t nold = fp->nsrc, i;

	fp->cfg = cfg;
	fp->src = xcalloc(cfg->nfeeds + cfg->nholiday_feeds + 1,
			  sizeof(*fp->src));
	fp->nsrc = 0;
	for (i = 0; i < cfg->nfeeds; i++)
		add_source(fp, &cfg->feeds[i], old, nold);
	for (i = 0; i < cfg->nholiday_feeds; i++)
		add_source(fp, &cfg->holiday_feeds[i], old, nold);
	for (i = 0; i < nold; i++) {
		if (old[i].ndays > 0)
			fp->holidays_changed = 1;
		free(old[i].name);
		free(old[i].days);
	}
	free(old);
	own_days_reset(fp, cfg);
}

struct feedpoll *
feedpoll_new(const struct config *cfg, struct store *st, struct netsend *ns)
{
	struct feedpoll *fp = xcalloc(1, sizeof(*fp));
	size_t i;

	fp->st = st;
	fp->ns = ns;
	feedpoll_set_config(fp, cfg);
	/* Resume each feed's schedule from its last attempt. */
	for (i = 0; i < fp->nsrc; i++) {
		struct fp_source *s = &fp->src[i];
		struct store_feed_status row;
		char e[200];

		if (s->holidays || store_feed_status_get(st, s->name, &row, e,
							 sizeof(e)) != STORE_OK)
			continue;
		if (row.last_try_at > 0)
			s->next_due = row.last_try_at + s->cfg->every;
		store_feed_status_clear(&row);
	}
	return fp;
}

void
feedpoll_free(struct feedpoll *fp)
{
	struct fp_job *j, *next;
	size_t i;

	if (fp == NULL)
		return;
	for (j = fp->jobs; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	for (i = 0; i < fp->nsrc; i++) {
		free(fp->src[i].name);
		free(fp->src[i].days);
	}
	own_days_free(fp);
	free(fp->src);
	free(fp);
}

int64_t
feedpoll_next_due(struct feedpoll *fp)
{
	int64_t best = 0, t;
	size_t i;

	for (i = 0; i < fp->nsrc; i++) {
		const struct fp_source *s = &fp->src[i];

		if (s->inflight)
			continue;
		t = requested_at(fp, s);
		if (t == 0)
			t = s->next_due > 0 ? s->next_due : 1;
		if (best == 0 || t < best)
			best = t;
	}
	return best;
}

int
feedpoll_run(struct feedpoll *fp, int64_t now)
{
	struct feedpoll_report rep;
	int started = 0;
	size_t i;

	for (i = 0; i < fp->nsrc; i++) {
		struct fp_source *s = &fp->src[i];

		if (s->inflight)
			continue;
		if (s->next_due > now && requested_at(fp, s) == 0)
			continue;
		if (source_start(fp, s, now, 0, &rep) == 0)
			started++;
	}
	return started;
}

int
feedpoll_owns_job(const void *job_ctx)
{
	return job_ctx != NULL && *(const int *)job_ctx == FEEDPOLL_JOB_KIND;
}

/* Takes job off the list; 0, or -1 when it is not ours. */
static int
job_unlink(struct feedpoll *fp, struct fp_job *job)
{
	struct fp_job **pp;

	for (pp = &fp->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			return 0;
		}
	return -1;
}

/* The outcome of a finished fetch into rep (sets not_modified/failed). */
static void
done_apply(struct feedpoll *fp, struct fp_source *s, const struct fp_job *job,
	   const struct netsend_done *d, int64_t now,
	   struct feedpoll_report *rep)
{
	char err[300];

	/* Some servers (Radicale 3.1) ignore If-None-Match on a GET and
	 * answer 200 with the ETag that was sent: unchanged all the same. */
	if (d->result == NETSEND_OK && (d->status == 304 ||
	    (job->sent_etag != NULL && d->etag != NULL &&
	     strcmp(job->sent_etag, d->etag) == 0))) {
		source_apply(fp, s, NULL, 0, -1, now, NULL, NULL, rep);
		rep->status = d->status;
		return;
	}
	if (d->result == NETSEND_OK) {
		source_apply(fp, s, d->response != NULL ? d->response : "",
			     d->response_len, job->body_fd, now, d->etag,
			     d->last_modified, rep);
		rep->status = d->status;
		return;
	}
	memset(rep, 0, sizeof(*rep));
	rep->failed = 1;
	rep->status = d->status;
	(void)snprintf(err, sizeof(err), "fetch failed: %s", d->detail);
	util_strlcpy(rep->error, err, sizeof(rep->error));
	log_warn("feed %s: %s", s->name, err);
	record(fp->st, s->cfg, now, NULL, NULL, NULL, err);
}

/* feedpoll_on_done with the report kept (sync_now reads it). */
static void
on_done_report(struct feedpoll *fp, const struct netsend_done *d,
	       int64_t now, struct feedpoll_report *rep)
{
	struct fp_job *job = d->job_ctx;
	struct fp_source *s;

	if (!feedpoll_owns_job(job) || job_unlink(fp, job) != 0)
		return;
	fp->inflight--;
	s = source_find(fp, job->name, job->holidays);
	/* A source dropped by a config reload meanwhile: nothing to do. */
	if (s != NULL) {
		s->inflight = 0;
		done_apply(fp, s, job, d, now, rep);
		observe(fp, s, rep);
	}
	job_free(job);
}

void
feedpoll_on_done(struct feedpoll *fp, const struct netsend_done *d,
		 int64_t now)
{
	struct feedpoll_report rep;

	on_done_report(fp, d, now, &rep);
}

size_t
feedpoll_inflight(const struct feedpoll *fp)
{
	return fp->inflight;
}

int
feedpoll_holidays_changed(struct feedpoll *fp)
{
	int c = fp->holidays_changed;

	fp->holidays_changed = 0;
	return c;
}

void
feedpoll_apply_holidays(const struct feedpoll *fp, struct config *cfg)
{
	size_t i, j, n;

	for (i = 0; i < cfg->nsites && i < fp->nown; i++) {
		struct cal_site *site = &cfg->sites[i];
		const struct fp_site_days *own = &fp->own[i];
		int64_t *days;
		const struct fp_source *s = NULL;

		for (j = 0; j < fp->nsrc && s == NULL; j++)
			if (fp->src[j].holidays &&
			    strcmp(fp->src[j].name, site->id) == 0)
				s = &fp->src[j];
		n = own->n + (s != NULL ? s->ndays : 0);
		days = xcalloc(n + 1, sizeof(*days));
		if (own->n > 0)
			memcpy(days, own->days, own->n * sizeof(*days));
		if (s != NULL && s->ndays > 0)
			memcpy(days + own->n, s->days, s->ndays * sizeof(*days));
		free(site->holidays);
		site->holidays = days;
		site->nholidays = days_unique(days, n);
	}
}

/* ------------------------------------------------------------------ */
/* promisectl's side                                                   */

struct sync_ctx {
	struct feedpoll *fp;
	int64_t now;
	struct feedpoll_report *rep;
};

static void
sync_done(void *cb_ctx, const struct netsend_done *d)
{
	struct sync_ctx *sc = cb_ctx;

	on_done_report(sc->fp, d, sc->now, sc->rep);
}

int
feedpoll_sync_now(const struct config *cfg, struct store *st,
		  const char *name, int64_t now, int full,
		  struct feedpoll_report *rep, char *err, size_t errlen)
{
	struct sync_ctx sc = { NULL, now, rep };
	struct netsend *ns = NULL;
	struct fp_source *s;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (config_feed(cfg, name) == NULL) {
		util_seterr(err, errlen, "no feed '%s' in the config", name);
		return -1;
	}
	ns = netsend_new(NULL, NULL, NULL, sync_done, &sc, err, errlen);
	if (ns == NULL)
		return -1;
	sc.fp = feedpoll_new(cfg, st, ns);
	s = source_find(sc.fp, name, 0);
	if (source_start(sc.fp, s, now, full, rep) != 0) {
		util_seterr(err, errlen, "feed %s: cannot start the fetch", name);
		goto out;
	}
	if (s->inflight && netsend_run(ns, FP_SYNC_TIMEOUT_MS) != 0) {
		util_seterr(err, errlen, "feed %s: the fetch did not finish", name);
		goto out;
	}
	rc = 0;
out:
	netsend_free(ns);
	feedpoll_free(sc.fp);
	return rc;
}

int
feedpoll_request_sync(const char *db_path, const char *name, char *err,
		      size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	char *p = request_path(db_path, name);
	int fd, rc = -1;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		util_seterr(err, errlen, "cannot record the request in %s: %s", p,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	/* The write (close after write) is what inotify reports. */
	rc = (int)write(fd, name, strlen(name));
	if (close(fd) != 0 || rc < 0) {
		rc = -1;
		util_seterr(err, errlen, "cannot write %s: %s", p,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}
