/*
 * escalate: the glue between the pure scheduler, the config and the store.
 * It chooses a promise's policy and site, answers next_step_at for the
 * store, and turns the steps due at `now` into outbox rows — one per
 * recipient on the step's first channel — applied with store_fire so the
 * rows and the advanced watermark commit together (DESIGN.md §5).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/escalate.h"
#include "promised/log.h"
#include "promised/sbuf.h"
#include "promised/schedule.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

/* Promises taken from the store per query and fired in one transaction;
 * the run loops until done.  1,024 rather than 256: a burst of 2,000
 * steps went out about 8 ms sooner (fewer commits), and a batch still
 * holds the write lock for only some 20 ms. */
#define ESC_BATCH 1024
/* Firings of one promise handled in one run (policies are short). */
#define ESC_MAX_HITS 64

struct escalate {
	const struct config *cfg;
};

/* Subjects, bodies and event details are built in an sbuf.  A format
 * error here would be a bug in this file, not bad data, so it is fatal. */
static void esc_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
esc_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sbuf_vprintf(b, fmt, ap);
	va_end(ap);
	if (rc != 0)
		fatal("escalate: cannot format text");
}

/* Recipients of one step: borrowed staff ids, each once. */
struct rcpts {
	const char **id;
	size_t n, cap;
};

static void
rcpts_add(struct rcpts *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->id[i], id) == 0)
			return;
	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 8 : r->cap * 2;
		r->id = xreallocarray(r->id, r->cap, sizeof(*r->id));
	}
	r->id[r->n++] = id;
}

struct escalate *
escalate_new(const struct config *cfg)
{
	struct escalate *esc = xcalloc(1, sizeof(*esc));

	esc->cfg = cfg;
	return esc;
}

void
escalate_free(struct escalate *esc)
{
	free(esc);
}

void
escalate_set_config(struct escalate *esc, const struct config *cfg)
{
	esc->cfg = cfg;
}

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* 1 when staff id is the promise's owner. */
static int
p_owner_is(const struct promise *p, const char *id)
{
	return nonempty(p->owner) && strcmp(p->owner, id) == 0;
}

static const struct cfg_team *
team_of(const struct config *cfg, const struct promise *p)
{
	return nonempty(p->team) ? config_team(cfg, p->team) : NULL;
}

/* The promise's own policy, else its team's, else the default. */
static const struct sched_policy *
policy_of(const struct config *cfg, const struct promise *p)
{
	const struct sched_policy *pol = NULL;
	const struct cfg_team *team;

	if (cfg == NULL)
		return NULL;
	team = team_of(cfg, p);
	if (nonempty(p->policy))
		pol = config_policy(cfg, p->policy);
	if (pol == NULL && team != NULL && nonempty(team->policy))
		pol = config_policy(cfg, team->policy);
	if (pol == NULL && nonempty(cfg->default_policy))
		pol = config_policy(cfg, cfg->default_policy);
	return pol;
}

static const struct cal_site *
site_of(const struct config *cfg, const struct promise *p)
{
	const struct cal_site *site = NULL;
	const struct cfg_team *team;

	if (cfg == NULL)
		return NULL;
	team = team_of(cfg, p);
	if (nonempty(p->site))
		site = config_site(cfg, p->site);
	if (site == NULL && team != NULL && nonempty(team->site))
		site = config_site(cfg, team->site);
	if (site == NULL && nonempty(cfg->default_site))
		site = config_site(cfg, cfg->default_site);
	return site;
}

const struct sched_policy *
escalate_policy_for(const struct escalate *esc, const struct promise *p)
{
	return policy_of(esc->cfg, p);
}

int64_t
escalate_next_step_at(void *ctx, const struct promise *p, int64_t now)
{
	const struct escalate *esc = ctx;

	return sched_next(p, policy_of(esc->cfg, p), site_of(esc->cfg, p),
			  now);
}

/* ---- Recipients ---------------------------------------------------- */

typedef int (*resolve_fn)(const struct config *cfg, const struct promise *p,
			  const char *arg, struct rcpts *out);

static int
resolve_owner(const struct config *cfg, const struct promise *p,
	      const char *arg, struct rcpts *out)
{
	(void)cfg;
	(void)arg;
	if (!nonempty(p->owner))
		return -1;
	rcpts_add(out, p->owner);
	return 0;
}

static int
resolve_manager(const struct config *cfg, const struct promise *p,
		const char *arg, struct rcpts *out)
{
	const struct cfg_staff *owner;

	(void)arg;
	owner = nonempty(p->owner) ? config_staff(cfg, p->owner) : NULL;
	if (owner == NULL || !nonempty(owner->manager))
		return -1;
	rcpts_add(out, owner->manager);
	return 0;
}

/* The lead of the promise's team, or of the owner's team. */
static int
resolve_lead(const struct config *cfg, const struct promise *p,
	     const char *arg, struct rcpts *out)
{
	const struct cfg_team *team = team_of(cfg, p);
	const struct cfg_staff *owner;

	(void)arg;
	if (team == NULL && nonempty(p->owner)) {
		owner = config_staff(cfg, p->owner);
		if (owner != NULL && nonempty(owner->team))
			team = config_team(cfg, owner->team);
	}
	if (team == NULL || !nonempty(team->lead))
		return -1;
	rcpts_add(out, team->lead);
	return 0;
}

static int
resolve_team(const struct config *cfg, const struct promise *p,
	     const char *arg, struct rcpts *out)
{
	size_t i, found = 0;

	(void)p;
	for (i = 0; i < cfg->nstaff; i++) {
		if (cfg->staff[i].team != NULL &&
		    strcmp(cfg->staff[i].team, arg) == 0) {
			rcpts_add(out, cfg->staff[i].id);
			found++;
		}
	}
	return found > 0 ? 0 : -1;
}

static int
resolve_staff(const struct config *cfg, const struct promise *p,
	      const char *arg, struct rcpts *out)
{
	const struct cfg_staff *s = config_staff(cfg, arg);

	(void)p;
	if (s == NULL)
		return -1;
	rcpts_add(out, s->id);
	return 0;
}

/* Recipient words; an entry with prefix set matches "prefix<arg>". */
static const struct {
	const char *word;
	int prefix;
	resolve_fn fn;
} resolvers[] = {
	{ "owner", 0, resolve_owner },
	{ "owner.manager", 0, resolve_manager },
	{ "team.lead", 0, resolve_lead },
	{ "team:", 1, resolve_team },
};

/* Resolves every recipient word of s into out; a word that names nobody
 * is skipped with a warning, the others still get their message. */
static void
resolve_step(const struct config *cfg, const struct promise *p,
	     const struct sched_step *s, struct rcpts *out)
{
	size_t i, k, len;
	const char *spec, *arg;
	resolve_fn fn;

	for (i = 0; i < s->nrecipients; i++) {
		spec = s->recipients[i];
		fn = resolve_staff;     /* anything else is a staff id */
		arg = spec;
		for (k = 0; k < sizeof(resolvers) / sizeof(resolvers[0]); k++) {
			len = strlen(resolvers[k].word);
			if (resolvers[k].prefix ?
			    strncmp(spec, resolvers[k].word, len) == 0 :
			    strcmp(spec, resolvers[k].word) == 0) {
				fn = resolvers[k].fn;
				arg = resolvers[k].prefix ? spec + len : spec;
				break;
			}
		}
		if (fn(cfg, p, arg, out) != 0)
			log_warn("promise %" PRId64 ": step %s: recipient %s"
				 " does not resolve; skipped", p->id,
				 s->name, spec);
	}
}

/* ---- Firing -------------------------------------------------------- */

/* What one promise's run collects before store_fire applies it. */
struct firing {
	const struct config *cfg;
	const struct promise *p;
	const struct sched_policy *policy;
	const char *tz;
	int64_t now;
	int late;
	struct notification *notifs;
	size_t n, cap;
	struct sbuf detail;
	int escalated;          /* some step reached beyond the owner */
};

static const char *
orempty(const char *s)
{
	return nonempty(s) ? s : "-";
}

/* Reminder before due, lapse at due (or to the owner after it), any
 * other step past due or beyond the owner an escalation. */
static const char *
subject_word(const struct firing *f, const struct sched_step *s,
	     const struct sched_hit *h, int reminder)
{
	if (h->at < f->p->due_at)
		return reminder ? "Reminder" : "Escalation";
	if (reminder || sched_step_base(f->p, s, h->repeat) <= f->p->due_at)
		return "Lapsed";
	return "Escalation";
}

static char *
render_body(const struct firing *f, const char *due)
{
	const struct promise *p = f->p;
	const struct cfg_staff *owner = nonempty(p->owner) ?
		config_staff(f->cfg, p->owner) : NULL;
	struct sbuf b = { 0 };

	esc_printf(&b, "%s\n\n", orempty(p->title));
	if (nonempty(p->details))
		esc_printf(&b, "%s\n\n", p->details);
	esc_printf(&b, "Customer: %s\n", orempty(p->customer_name));
	esc_printf(&b, "Phone:    %s\n", orempty(p->customer_phone));
	esc_printf(&b, "Email:    %s\n", orempty(p->customer_email));
	esc_printf(&b, "Vehicle:  %s\n", orempty(p->vehicle));
	esc_printf(&b, "VIN:      %s\n", orempty(p->vin));
	esc_printf(&b, "Due:      %s\n", due);
	if (owner != NULL && nonempty(owner->name))
		esc_printf(&b, "Owner:    %s (%s)\n", owner->name, owner->id);
	else
		esc_printf(&b, "Owner:    %s\n", orempty(p->owner));
	esc_printf(&b, "Promise:  %" PRId64 " (%s)\n", p->id, orempty(p->ref));
	if (f->late)
		esc_printf(&b, "\n(late: sent after downtime)\n");
	return sbuf_take(&b);
}

static void
add_notif(struct firing *f, const struct sched_step *s,
	  const struct sched_hit *h, const char *rcpt, const char *subject,
	  const char *body)
{
	struct notification *n;

	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 8 : f->cap * 2;
		f->notifs = xreallocarray(f->notifs, f->cap, sizeof(*n));
	}
	n = &f->notifs[f->n++];
	memset(n, 0, sizeof(*n));
	n->promise_id = f->p->id;
	n->step = xstrdup(s->name);
	n->step_index = (int)h->step;
	n->repeat = h->repeat;
	n->channel_index = 0;
	n->channel = xstrdup(s->channels[0]);
	n->recipient = xstrdup(rcpt);
	n->subject = xstrdup(subject);
	n->body = xstrdup(body);
	n->idem_key = xasprintf("p%" PRId64 ".s%zu.r%d.%s.%s.d%" PRId64,
				f->p->id, h->step, h->repeat, rcpt,
				s->channels[0], f->p->due_at);
	n->state = NOTIF_PENDING;
	n->late = f->late;
	n->scheduled_at = h->at;
	n->next_try_at = f->now;
	n->created_at = f->now;
}

/* Queues one firing: one notification per recipient on the first
 * channel, one clause of the event detail, one log line. */
static void
queue_hit(struct firing *f, const struct sched_hit *h)
{
	const struct sched_step *s = &f->policy->steps[h->step];
	struct rcpts r = { NULL, 0, 0 };
	struct sbuf who = { 0 };
	char due[48], *subject = NULL, *body = NULL;
	size_t i;
	int reminder = 1;

	resolve_step(f->cfg, f->p, s, &r);
	if (s->nchannels == 0 || r.n == 0) {
		log_warn("promise %" PRId64 ": step %s has no %s; nothing "
			 "queued", f->p->id, s->name,
			 s->nchannels == 0 ? "channel" : "recipient");
		goto out;
	}
	for (i = 0; i < r.n; i++) {
		if (p_owner_is(f->p, r.id[i]) == 0)
			reminder = 0;
		esc_printf(&who, "%s%s", i > 0 ? ", " : "", r.id[i]);
	}
	if (!reminder)
		f->escalated = 1;
	cal_format_local(f->tz, f->p->due_at, 0, due, sizeof(due));
	subject = xasprintf("%s: %s (due %s)", subject_word(f, s, h, reminder),
			    orempty(f->p->title), due);
	cal_format_local(f->tz, f->p->due_at, 1, due, sizeof(due));
	body = render_body(f, due);
	for (i = 0; i < r.n; i++)
		add_notif(f, s, h, r.id[i], subject, body);
	esc_printf(&f->detail, "%sstep %s%s to %s via %s%s",
		   f->detail.len > 0 ? "; " : "", s->name,
		   h->repeat > 0 ? " (repeat)" : "", who.p, s->channels[0],
		   f->late ? " (late)" : "");
	log_info("promise %" PRId64 ": step %s repeat %d to %s via %s%s",
		 f->p->id, s->name, h->repeat, who.p, s->channels[0],
		 f->late ? " (late: sent after downtime)" : "");
out:
	free(r.id);
	sbuf_free(&who);
	free(subject);
	free(body);
}

/* Fires the due steps of p (read inside escalate_run's batch) at now, as
 * one change of the batch. */
static int
fire_one(const struct escalate *esc, struct store *st, struct promise *p,
	 int64_t now, int guarded, size_t *nqueued, char *err, size_t errlen)
{
	struct sched_hit hits[ESC_MAX_HITS];
	struct firing f;
	struct store_fire sf;
	const struct cal_site *site;
	size_t i, n;
	int rc;

	memset(&f, 0, sizeof(f));
	site = site_of(esc->cfg, p);
	f.cfg = esc->cfg;
	f.p = p;
	f.policy = policy_of(esc->cfg, p);
	f.tz = site != NULL ? site->tz : "UTC";
	f.now = now;
	n = sched_due(p, f.policy, site, now, hits, ESC_MAX_HITS, &f.late);
	for (i = 0; i < n; i++)
		queue_hit(&f, &hits[i]);
	memset(&sf, 0, sizeof(sf));
	sf.notifs = f.notifs;
	sf.nnotifs = f.n;
	/* Everything at or before now is settled, fired or superseded. */
	sf.fired_through = now;
	sf.mark_lapsed = sched_lapse_due(p, now);
	sf.kind = f.escalated ? EVENT_ESCALATED : EVENT_REMINDED;
	sf.detail = f.detail.p;
	/* Read inside the batch: not read again. */
	rc = store_fire_loaded(st, p, &sf, now, guarded, err, errlen);
	if (rc != STORE_OK)
		goto out;
	if (sf.mark_lapsed)
		log_info("promise %" PRId64 ": lapsed", p->id);
	*nqueued += f.n;
out:
	notification_free_array(f.notifs, f.n);
	sbuf_free(&f.detail);
	return rc;
}

/* A store error that may have left part of an unguarded change
 * written (see store_fire_loaded). */
static int
partial(int rc)
{
	return rc != STORE_OK && rc != STORE_CONFLICT && rc != STORE_INVALID;
}

/* What one batch did. */
struct fire_count {
	size_t due;       /* promises read */
	size_t fired;     /* of which fired */
	size_t queued;    /* notifications queued (kept once committed) */
};

/* Fires one batch of due promises, read whole inside the batch's
 * transaction, counting into *fc.
 * Unguarded, the changes are not savepoints of their own (two
 * statements less for each promise, a sixth of the firing); a store
 * error then rolls the whole batch back and returns 1, for the caller
 * to fire it again guarded, where one broken promise is undone alone.
 * 0, -1 (some promise failed) or -2 (the batch was not committed). */
static int
fire_batch(struct escalate *esc, struct store *st, int64_t now, int guarded,
	   struct fire_count *fc, char *err, size_t errlen)
{
	struct promise *ps = NULL;
	char e[256];
	size_t i, queued = 0;
	int rc = 0, src, frc;

	fc->due = fc->fired = 0;
	/* One commit for the batch: 2,000 steps due in the same second
	 * cost a few fsyncs, not 2,000. */
	if (store_batch_begin(st, err, errlen) != STORE_OK)
		return -2;
	src = store_due_loaded(st, now, ESC_BATCH, &ps, &fc->due, err,
			       errlen);
	for (i = 0; src == STORE_OK && i < fc->due; i++) {
		frc = fire_one(esc, st, &ps[i], now, guarded, &queued, e,
			       sizeof(e));
		if (frc == STORE_OK) {
			fc->fired++;
			continue;
		}
		if (!guarded && partial(frc)) {
			src = frc;
			rc = 1;
			break;
		}
		/* One broken promise must not hold up the others. */
		log_warn("promise %" PRId64 ": steps not fired: %s", ps[i].id,
			 e);
		util_seterr(err, errlen, "promise %" PRId64 ": %s", ps[i].id,
			    e);
		rc = -1;
	}
	promise_free_array(ps, fc->due);
	/* Nothing of the batch was kept when it cannot commit: the next
	 * pass fires the same steps again. */
	if (store_batch_end(st, src, err, errlen) != STORE_OK)
		return rc == 1 ? 1 : -2;
	fc->queued += queued;
	return rc;
}

int
escalate_run(struct escalate *esc, struct store *st, int64_t now,
	     size_t *nqueued, char *err, size_t errlen)
{
	struct fire_count fc = { 0, 0, 0 };
	struct promise *first = NULL;
	size_t n = 0;
	int rc = 0, brc;

	*nqueued = 0;
	for (;;) {
		/* A look outside any transaction first: a pass with nothing
		 * due takes no write lock. */
		if (store_due_loaded(st, now, 1, &first, &n, err,
				     errlen) != STORE_OK)
			return -1;
		promise_free_array(first, n);
		first = NULL;
		if (n == 0)
			break;
		brc = fire_batch(esc, st, now, 0, &fc, err, errlen);
		if (brc == 1)
			brc = fire_batch(esc, st, now, 1, &fc, err, errlen);
		*nqueued = fc.queued;
		if (brc == -2) {
			*nqueued = 0;
			return -1;
		}
		if (brc != 0)
			rc = -1;
		/* A short batch was the last; a batch without progress would
		 * only come back the same. */
		if (fc.due < ESC_BATCH || fc.fired == 0)
			break;
	}
	return rc;
}

int
escalate_refresh(struct escalate *esc, struct store *st, int64_t now,
		 int *skipped, char *err, size_t errlen)
{
	char fp[CONFIG_FINGERPRINT_LEN];

	*skipped = 0;
	/* Without a fingerprint nothing can be trusted: recompute. */
	if (config_fingerprint(esc->cfg, fp, sizeof(fp)) != 0)
		return store_recompute_all(st, now, err, errlen);
	return store_recompute_for(st, fp, now, skipped, err, errlen);
}
