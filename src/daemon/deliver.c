/*
 * deliver: outbox rows to channels, and answers back to the outbox.  Log
 * and maildir rows are delivered at once through notify; smtp and webhook
 * rows are rendered with message and handed to netsend, whose answers
 * arrive later through the loop.  A row stays `sending` (durably) until
 * its answer is recorded, so a crash or SIGTERM in between only means the
 * row is sent again with the same key after the next start.  Maildir
 * messages are rendered from the templates too when they are loaded, so
 * every message carries the one-click links; each answer is counted for
 * /metrics, and each sent one gives the fire lag (from its step's instant
 * to its hand-over to the channel).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "deliver.h"
#include "promised/api.h"
#include "promised/backoff.h"
#include "promised/log.h"
#include "promised/message.h"
#include "promised/notify.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

/* Rows claimed per query, and queries per run. */
#define DELIVER_BATCH 32
#define DELIVER_MAX_BATCHES 64

/* How a send ended, whatever the channel type. */
enum deliver_outcome { OUT_OK, OUT_TEMP, OUT_PERM };

/* What an answer needs of its row; owned copies, so a config reload or
 * the end of a pass cannot pull anything from under a job.  It starts
 * with its kind: one netsend also carries jobs of others (feed fetches),
 * told apart by the int each job_ctx starts with. */
struct job {
	int kind;                /* DELIVER_JOB_KIND */
	struct job *prev, *next;
	int64_t id, promise_id, created_at, scheduled_at;
	int64_t handed_at;       /* when it went to the channel */
	int attempts, step_index, channel_index;
	char *step, *channel, *recipient;
	const struct config *cfg;   /* the config it was sent under */
	struct deliver *d;
};

/* An answer the store could not take (disk full, read-only): the row
 * stays `sending`, so nothing else claims it, and deliver_run writes the
 * result again until the store takes it. */
struct unrec {
	struct unrec *next;
	struct job *j;           /* owned copy */
	enum notif_state state;
	int64_t next_at, at;
	char *detail, *provider; /* NULL: none */
	int gone;                /* its row is gone or no longer sending */
	int late;                /* a write of it failed before */
};

/* A claimed row's message, rendered inside the claim's transaction:
 * the promise is read while the claim holds the database, not in a read
 * transaction of its own per row. */
struct rendered {
	int done;                /* rendered: an smtp or webhook row */
	enum deliver_outcome o;
	struct message_out m;
	char err[512];           /* why not, when o is not OUT_OK */
};

struct deliver {
	struct unrec *unrec;     /* answers still to be recorded */
	size_t nunrec;
	int batching;            /* > 0: answers wait for batch_flush */
	char lasterr[256];       /* why the last run failed */
	struct store *st;
	struct escalate *esc;
	const struct config *cfg;
	struct template_set *tpl;
	struct netsend *ns;
	struct api_metrics *metrics;          /* NULL: not counted */
	const struct message_links *links;    /* NULL: no one-click links */
	struct job *jobs;        /* in flight, for freeing on shutdown */
	size_t inflight;
	uint64_t rng;
	int answered;
	netsend_done_fn other_done;   /* answers to jobs not ours */
	void *other_ctx;
};

static int64_t
deliver_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- Jobs ------------------------------------------------------------ */

static struct job *
job_new(struct deliver *d, const struct notification *n)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->kind = DELIVER_JOB_KIND;
	j->id = n->id;
	j->promise_id = n->promise_id;
	j->created_at = n->created_at;
	j->scheduled_at = n->scheduled_at;
	j->attempts = n->attempts;
	j->step_index = n->step_index;
	j->channel_index = n->channel_index;
	j->step = xstrdup(n->step != NULL ? n->step : "");
	j->channel = xstrdup(n->channel);
	j->recipient = xstrdup(n->recipient);
	j->cfg = d->cfg;
	j->d = d;
	return j;
}

static void
job_free(struct job *j)
{
	free(j->step);
	free(j->channel);
	free(j->recipient);
	free(j);
}

static void
job_link(struct deliver *d, struct job *j)
{
	j->next = d->jobs;
	if (d->jobs != NULL)
		d->jobs->prev = j;
	d->jobs = j;
	d->inflight++;
}

static void
job_unlink(struct deliver *d, struct job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		d->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
	d->inflight--;
}

/* ---- Fallback ---------------------------------------------------------- */

/* The step's channel after the job's, or NULL when there is none. */
static const char *
next_channel(struct deliver *d, const struct job *j, const struct promise *p)
{
	const struct sched_policy *pol = escalate_policy_for(d->esc, p);
	const struct sched_step *s;
	size_t next = (size_t)j->channel_index + 1;

	if (pol == NULL || j->step_index < 0 ||
	    (size_t)j->step_index >= pol->nsteps)
		return NULL;
	s = &pol->steps[j->step_index];
	/* A reload may have reordered the policy: the name must still match. */
	if (s->name == NULL || strcmp(s->name, j->step) != 0)
		return NULL;
	return next < s->nchannels ? s->channels[next] : NULL;
}

/* After a dead row: queues the step's next channel, if any. */
static void
deliver_fallback(struct deliver *d, const struct job *j, const char *reason,
		 int64_t now)
{
	struct promise p;
	const char *ch;
	char err[512];
	int64_t id = 0;

	memset(&p, 0, sizeof(p));
	/* A digest belongs to no promise and so to no policy: no fallback. */
	if (j->promise_id == 0)
		goto out;
	if (store_get(d->st, j->promise_id, &p, err, sizeof(err)) != STORE_OK) {
		log_err("promise %" PRId64 ": cannot look up a fallback: %s",
			j->promise_id, err);
		goto out;
	}
	ch = next_channel(d, j, &p);
	if (ch == NULL)
		goto out;
	if (store_outbox_fallback(d->st, j->id, ch, reason, now, &id, err,
				  sizeof(err)) != STORE_OK) {
		log_err("notification %" PRId64 ": cannot queue the fallback "
			"to %s: %s", j->id, ch, err);
		goto out;
	}
	if (id > 0)
		log_notice("promise %" PRId64 ": notification %" PRId64 " to %s "
			   "falls back from %s to %s (notification %" PRId64
			   ")", j->promise_id, j->id, j->recipient, j->channel,
			   ch, id);
out:
	promise_clear(&p);
}

/* ---- Recording answers -------------------------------------------------- */

static const struct cfg_retry *
retry_of(const struct deliver *d, const char *channel)
{
	const struct cfg_channel *ch = config_channel(d->cfg, channel);

	return ch != NULL ? &ch->retry : &d->cfg->outbox;
}

/* One answer for /metrics: its result by channel and, once sent, how
 * long after its step's instant it went to the channel. */
static void
deliver_count(struct deliver *d, const struct job *j, enum notif_state state)
{
	if (d->metrics == NULL)
		return;
	api_metrics_count_notification(d->metrics, j->channel,
				       notif_state_name(state));
	if (state == NOTIF_SENT && j->scheduled_at > 0 &&
	    j->handed_at >= j->scheduled_at)
		api_metrics_observe_lag(d->metrics,
					(double)(j->handed_at - j->scheduled_at));
}

/* Writes an answer to the outbox (and queues the fallback of a dead row);
 * STORE_OK or the store's error in err. */
static int
deliver_persist(struct deliver *d, const struct job *j, enum notif_state state,
		int64_t next, const char *detail, const char *provider,
		int64_t now, char *err, size_t errlen)
{
	int rc = store_outbox_result(d->st, j->id, state, next, detail,
				     provider, now, err, errlen);

	if (rc == STORE_OK && state == NOTIF_DEAD)
		deliver_fallback(d, j, detail, now);
	return rc;
}

/* 1 for a store error that may pass (full or read-only disk, lock);
 * a row that is gone or no longer `sending` never takes the answer. */
static int
transient(int rc)
{
	return rc == STORE_ERR || rc == STORE_BUSY || rc == STORE_READONLY;
}

/* Keeps an answer the store refused, to be written by the next run. */
static void
unrec_add(struct deliver *d, const struct job *j, enum notif_state state,
	  int64_t next, const char *detail, const char *provider, int64_t now)
{
	struct unrec *u = xcalloc(1, sizeof(*u));

	u->j = xcalloc(1, sizeof(*u->j));
	*u->j = *j;
	u->j->prev = u->j->next = NULL;
	u->j->step = xstrdup(j->step);
	u->j->channel = xstrdup(j->channel);
	u->j->recipient = xstrdup(j->recipient);
	u->state = state;
	u->next_at = next;
	u->at = now;
	u->detail = detail != NULL ? xstrdup(detail) : NULL;
	u->provider = provider != NULL ? xstrdup(provider) : NULL;
	u->next = d->unrec;
	d->unrec = u;
	d->nunrec++;
}

static void
unrec_free(struct unrec *u)
{
	job_free(u->j);
	free(u->detail);
	free(u->provider);
	free(u);
}

/* Writes the kept answers inside the open batch; STORE_OK, or the
 * store's refusal (then none of them is to be taken as written). */
static int
answers_write(struct deliver *d, char *err, size_t errlen)
{
	struct unrec *u;
	int rc = STORE_OK;

	for (u = d->unrec; rc == STORE_OK && u != NULL; u = u->next) {
		rc = deliver_persist(d, u->j, u->state, u->next_at, u->detail,
				     u->provider, u->at, err, errlen);
		u->gone = rc != STORE_OK && !transient(rc);
		if (u->gone)
			rc = STORE_OK;   /* only that one is dropped */
	}
	return rc;
}

/* After the batch of answers_write ended with rc: forgets the answers
 * written, or keeps them all for the next try. */
static void
answers_done(struct deliver *d, int rc, const char *err)
{
	struct unrec *u;

	if (rc != STORE_OK) {
		/* Said once per failure, not once per loop turn. */
		if (!d->unrec->late)
			log_err("%zu answer(s) not recorded yet: %s",
				d->nunrec, err);
		for (u = d->unrec; u != NULL; u = u->next)
			u->late = 1;
		util_seterr(d->lasterr, sizeof(d->lasterr), "%zu answer(s) "
			    "not recorded: %s", d->nunrec, err);
		return;
	}
	while ((u = d->unrec) != NULL) {
		if (u->gone)
			log_err("notification %" PRId64 ": result dropped: its "
				"row is gone or no longer sending", u->j->id);
		else if (u->late)
			log_notice("notification %" PRId64 ": result recorded "
				   "late", u->j->id);
		d->unrec = u->next;
		d->nunrec--;
		unrec_free(u);
	}
}

/* Writes the kept answers in one transaction: the answers that come in
 * together cost one commit (one fsync) instead of one each.  When the
 * store refuses, all of them stay kept for the next try. */
static void
batch_flush(struct deliver *d)
{
	char err[512] = "";
	int rc;

	if (d->unrec == NULL)
		return;
	rc = store_batch_begin(d->st, err, sizeof(err));
	if (rc == STORE_OK) {
		rc = answers_write(d, err, sizeof(err));
		rc = store_batch_end(d->st, rc, err, sizeof(err));
	}
	answers_done(d, rc, err);
}

static void prerender(struct deliver *d, const struct notification *arr,
		      size_t n, int64_t now, struct rendered *rd);
static void rendered_free(struct rendered *rd, size_t n);

/* Claims up to limit rows, in one commit with the answers kept so far
 * and with the rendering of the rows' messages: a turn of the loop that
 * records answers and claims the next rows pays one fsync, not two, and
 * one lock of the database.  The claim is durable before any of its rows
 * is sent.  STORE_OK with *arr and *rd (n each), or the store's error in
 * err (nothing claimed; the answers stay kept when they were not
 * written). */
static int
claim(struct deliver *d, int64_t now, size_t limit, struct notification **arr,
      struct rendered **rd, size_t *n, char *err, size_t errlen)
{
	int rc, had = d->unrec != NULL;

	*arr = NULL;
	*rd = NULL;
	*n = 0;
	rc = store_batch_begin(d->st, err, errlen);
	if (rc == STORE_OK) {
		if (had)
			rc = answers_write(d, err, errlen);
		if (rc == STORE_OK)
			rc = store_outbox_claim(d->st, now, limit, arr, n, err,
						errlen);
		if (rc == STORE_OK && *n > 0) {
			*rd = xcalloc(*n, sizeof(**rd));
			prerender(d, *arr, *n, now, *rd);
		}
		rc = store_batch_end(d->st, rc, err, errlen);
	}
	if (had)
		answers_done(d, rc, err);
	if (rc != STORE_OK) {
		rendered_free(*rd, *n);
		notification_free_array(*arr, *n);
		*arr = NULL;
		*rd = NULL;
		*n = 0;
	}
	return rc;
}

/* Turns one answer into sent, retry or dead (and the fallback). */
static void
deliver_record(struct deliver *d, const struct job *j,
	       enum deliver_outcome o, int64_t retry_after,
	       const char *detail, const char *provider, int64_t now)
{
	enum notif_state state = NOTIF_SENT;
	int64_t next = 0;
	/* now is whole seconds, cut down: Retry-After counts from the end
	 * of that second, or the retry could come up to 1 s too early. */
	int64_t from = retry_after > 0 ? now + 1 : now;

	if (detail == NULL || *detail == '\0')
		detail = "unknown error";
	if (o == OUT_TEMP &&
	    backoff_next(retry_of(d, j->channel), j->created_at, j->attempts,
			 retry_after, backoff_uniform(&d->rng), from, &next)) {
		state = NOTIF_RETRY;
		log_warn("promise %" PRId64 ": notification %" PRId64 " to %s "
			 "via %s failed (attempt %d), retry in %" PRId64 " s: %s",
			 j->promise_id, j->id, j->recipient, j->channel,
			 j->attempts, next - from, detail);
	} else if (o != OUT_OK) {
		state = NOTIF_DEAD;
		log_err("promise %" PRId64 ": notification %" PRId64 " to %s via "
			"%s failed for good%s: %s", j->promise_id, j->id,
			j->recipient, j->channel,
			o == OUT_TEMP ? " (too old to retry)" : "", detail);
	} else {
		log_info("promise %" PRId64 ": notification %" PRId64
			 " sent via %s to %s", j->promise_id, j->id, j->channel,
			 j->recipient);
	}
	deliver_count(d, j, state);
	if (state == NOTIF_SENT)
		detail = NULL;
	if (provider != NULL && *provider == '\0')
		provider = NULL;
	/* Kept, and written with the other answers of this batch; the row
	 * stays `sending` until then (a restart would send it again). */
	unrec_add(d, j, state, next, detail, provider, now);
	if (d->batching == 0)
		batch_flush(d);
}

/* netsend's answer for one job. */
static void
deliver_on_done(void *cb_ctx, const struct netsend_done *dn)
{
	struct deliver *d = cb_ctx;
	struct job *j = dn->job_ctx;
	enum deliver_outcome o = OUT_PERM;

	if (j == NULL || j->kind != DELIVER_JOB_KIND) {
		if (d->other_done != NULL)
			d->other_done(d->other_ctx, dn);
		return;
	}
	if (dn->result == NETSEND_OK)
		o = OUT_OK;
	else if (dn->result == NETSEND_RETRY)
		o = OUT_TEMP;
	job_unlink(d, j);
	deliver_record(d, j, o, dn->retry_after, dn->detail, dn->provider_id,
		       deliver_now());
	job_free(j);
	d->answered = 1;
}

/* ---- Sending ------------------------------------------------------------ */

/* The promise of n and, when the message shows it, its timeline, for
 * rendering; STORE_OK or why not (*p and *ev are for the caller to free
 * either way). */
static int
load_promise(struct deliver *d, const struct notification *n, int history,
	     struct promise *p, struct event **ev, size_t *nev, char *err,
	     size_t errlen)
{
	int rc = store_get(d->st, n->promise_id, p, err, errlen);

	if (rc == STORE_OK && history)
		rc = store_events(d->st, n->promise_id, ev, nev, err, errlen);
	return rc;
}

/* The outcome of a notify_* return code. */
static enum deliver_outcome
notify_outcome(int rc)
{
	return rc == NOTIFY_OK ? OUT_OK : rc == NOTIFY_TEMP ? OUT_TEMP
			       : OUT_PERM;
}

/* The subject and plain text of n from the templates (with its links);
 * OUT_OK with both NULL when no templates are loaded. */
static enum deliver_outcome
render_text(struct deliver *d, const struct notification *n, int64_t now,
	    char **subject, char **text, char *err, size_t errlen)
{
	struct promise p;
	struct event *ev = NULL;
	size_t nev = 0;
	enum deliver_outcome o = OUT_TEMP;

	*subject = *text = NULL;
	memset(&p, 0, sizeof(p));
	if (d->tpl == NULL)
		return OUT_OK;
	if (load_promise(d, n, message_uses_history(d->tpl, NULL), &p, &ev,
			 &nev, err, errlen) != STORE_OK)
		goto out;
	if (message_render_text_linked(d->cfg, d->tpl, n, &p, ev, nev,
				       d->links, now, subject, text, err,
				       errlen) != 0)
		goto out;
	o = OUT_OK;
out:
	event_free_array(ev, nev);
	promise_clear(&p);
	return o;
}

/* log and maildir: delivered before this returns.  A maildir message is
 * rendered from the templates (with its links) when they are loaded; else
 * it is the plain text the step was fired with. */
static void
send_sync(struct deliver *d, const struct cfg_channel *ch,
	  const struct notification *n, struct job *j, int64_t now)
{
	char err[512] = "", provider[256] = "";
	struct notification m = *n;
	char *subject = NULL, *text = NULL;
	int rc;

	if (ch->type == CFG_CHANNEL_MAILDIR) {
		/* The plain text still tells the recipient what is due. */
		if (render_text(d, n, now, &subject, &text, err,
				sizeof(err)) != OUT_OK)
			log_warn("promise %" PRId64 ": notification %" PRId64
				 ": sent without its template: %s",
				 n->promise_id, n->id, err);
		if (text != NULL) {
			m.subject = subject;
			m.body = text;
		}
	}
	rc = notify_send(ch, &m, config_staff(d->cfg, n->recipient), provider,
			 sizeof(provider), err, sizeof(err));
	deliver_record(d, j, notify_outcome(rc), -1, err, provider, now);
	free(subject);
	free(text);
}

/* Renders n for ch; OUT_OK, or why not. */
static enum deliver_outcome
render(struct deliver *d, const struct cfg_channel *ch,
       const struct notification *n, int64_t now, struct message_out *out,
       char *err, size_t errlen)
{
	struct promise p;
	struct event *ev = NULL;
	size_t nev = 0;
	int permanent = 0;
	enum deliver_outcome o = OUT_TEMP;

	memset(&p, 0, sizeof(p));
	if (d->tpl == NULL) {
		util_seterr(err, errlen, "no message templates are loaded");
		goto out;
	}
	if (load_promise(d, n, message_uses_history(d->tpl, ch), &p, &ev,
			 &nev, err, errlen) != STORE_OK)
		goto out;
	if (message_render_linked(d->cfg, d->tpl, ch, n, &p, ev, nev, d->links,
				  now, out, &permanent, err, errlen) != 0) {
		o = permanent ? OUT_PERM : OUT_TEMP;
		goto out;
	}
	o = OUT_OK;
out:
	event_free_array(ev, nev);
	promise_clear(&p);
	return o;
}

/* Hands data to netsend for ch (rcpt for smtp, idem_key for a webhook);
 * the answer comes later through the loop.  A send that cannot start is
 * recorded at once. */
static void
hand_over(struct deliver *d, const struct cfg_channel *ch, struct job *j,
	  const char *rcpt, const char *idem_key, const char *data,
	  size_t len, int64_t now)
{
	char err[512] = "";
	int rc;

	/* Linked first: netsend may answer before it returns. */
	job_link(d, j);
	if (ch->type == CFG_CHANNEL_SMTP)
		rc = netsend_smtp(d->ns, ch, rcpt, data, len, j, err,
				  sizeof(err));
	else
		rc = netsend_http(d->ns, ch, idem_key, data, len, now, j, err,
				  sizeof(err));
	if (rc == 0)
		return;
	job_unlink(d, j);
	deliver_record(d, j, OUT_TEMP, -1, err, NULL, now);
	job_free(j);
}

/* Renders the smtp and webhook rows of a claim (the others are sent
 * as they are, or render as they send). */
static void
prerender(struct deliver *d, const struct notification *arr, size_t n,
	  int64_t now, struct rendered *rd)
{
	const struct cfg_channel *ch;
	size_t i;

	for (i = 0; i < n; i++) {
		ch = config_channel(d->cfg, arr[i].channel);
		if (ch == NULL || arr[i].promise_id == 0 ||
		    (ch->type != CFG_CHANNEL_SMTP &&
		     ch->type != CFG_CHANNEL_WEBHOOK))
			continue;
		rd[i].done = 1;
		rd[i].o = render(d, ch, &arr[i], now, &rd[i].m, rd[i].err,
				 sizeof(rd[i].err));
	}
}

static void
rendered_free(struct rendered *rd, size_t n)
{
	size_t i;

	for (i = 0; rd != NULL && i < n; i++)
		message_out_clear(&rd[i].m);
	free(rd);
}

/* smtp and webhook: rendered with the claim, answered later through the
 * loop. */
static void
send_async(struct deliver *d, const struct cfg_channel *ch,
	   const struct notification *n, const struct rendered *rd,
	   struct job *j, int64_t now)
{
	if (rd->o != OUT_OK) {
		deliver_record(d, j, rd->o, -1, rd->err, NULL, now);
		job_free(j);
	} else {
		hand_over(d, ch, j, rd->m.rcpt, n->idem_key, rd->m.data,
			  rd->m.len, now);
	}
}

/* A digest row (no promise): its body is the complete message built
 * when it was queued, sent as it is so every retry is the same email. */
static void
send_digest(struct deliver *d, const struct cfg_channel *ch,
	    const struct notification *n, struct job *j, int64_t now)
{
	const struct cfg_staff *to = config_staff(d->cfg, n->recipient);
	const char *body = n->body != NULL ? n->body : "";
	char err[512] = "", provider[256] = "";
	int rc;

	switch (ch->type) {
	case CFG_CHANNEL_SMTP:
		if (to == NULL || to->email == NULL || *to->email == '\0') {
			util_seterr(err, sizeof(err), "%s has no email address "
				    "in the config", n->recipient);
			break;
		}
		hand_over(d, ch, j, to->email, NULL, body, strlen(body), now);
		return;
	case CFG_CHANNEL_MAILDIR:
		rc = notify_maildir_raw(ch, body, strlen(body), provider,
					sizeof(provider), err, sizeof(err));
		deliver_record(d, j, notify_outcome(rc), -1, err, provider,
			       now);
		job_free(j);
		return;
	case CFG_CHANNEL_LOG:
		/* One line with the subject, as for any notification. */
		rc = notify_send(ch, n, to, provider, sizeof(provider), err,
				 sizeof(err));
		deliver_record(d, j, notify_outcome(rc), -1, err, provider,
			       now);
		job_free(j);
		return;
	default:
		util_seterr(err, sizeof(err), "digest needs an email channel");
		break;
	}
	deliver_record(d, j, OUT_PERM, -1, err, NULL, now);
	job_free(j);
}

static void
send_one(struct deliver *d, const struct notification *n,
	 const struct rendered *rd, int64_t now)
{
	const struct cfg_channel *ch = config_channel(d->cfg, n->channel);
	struct job *j = job_new(d, n);
	char err[256];

	j->handed_at = now;
	if (ch == NULL) {
		util_seterr(err, sizeof(err), "no channel named %s in the config",
			    n->channel);
		deliver_record(d, j, OUT_PERM, -1, err, NULL, now);
		job_free(j);
	} else if (n->promise_id == 0) {
		send_digest(d, ch, n, j, now);
	} else if (rd->done) {
		send_async(d, ch, n, rd, j, now);
	} else {
		send_sync(d, ch, n, j, now);
		job_free(j);
	}
}

int
deliver_run(struct deliver *d, int64_t now)
{
	struct notification *arr = NULL;
	struct rendered *rd = NULL;
	char err[512];
	size_t n = 0, i, limit;
	int batch;

	/* Answers the store refused before: nothing new until they are in. */
	if (d->unrec != NULL && d->unrec->late) {
		batch_flush(d);
		if (d->unrec != NULL)
			return -1;
	}
	for (batch = 0; batch < DELIVER_MAX_BATCHES; batch++) {
		limit = DELIVER_MAX_INFLIGHT - d->inflight;
		if (limit > DELIVER_BATCH)
			limit = DELIVER_BATCH;
		if (d->inflight >= DELIVER_MAX_INFLIGHT || limit == 0)
			break;
		if (claim(d, now, limit, &arr, &rd, &n, err,
			  sizeof(err)) != STORE_OK) {
			log_err("cannot claim notifications: %s", err);
			util_seterr(d->lasterr, sizeof(d->lasterr), "cannot "
				    "claim notifications: %s", err);
			return -1;
		}
		/* Answers that come at once (log, maildir, a failed
		 * hand-over) are written together. */
		deliver_hold(d);
		for (i = 0; i < n; i++)
			send_one(d, &arr[i], &rd[i], now);
		deliver_release(d);
		rendered_free(rd, n);
		notification_free_array(arr, n);
		if (n < limit)
			break;
	}
	return 0;
}

/* ---- Set-up ------------------------------------------------------------- */

/* 1 when the config has a channel that needs the message templates. */
static int
needs_templates(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nchannels; i++) {
		if (cfg->channels[i].type == CFG_CHANNEL_SMTP ||
		    cfg->channels[i].type == CFG_CHANNEL_WEBHOOK)
			return 1;
	}
	return 0;
}

/* 1 when a Maildir channel would use templates that are there: named in
 * the config, or installed. */
static int
wants_templates(const struct config *cfg)
{
	struct stat sb;
	size_t i;

	for (i = 0; i < cfg->nchannels; i++) {
		if (cfg->channels[i].type == CFG_CHANNEL_MAILDIR)
			return cfg->templates.given ||
			       (cfg->templates.dir != NULL &&
				stat(cfg->templates.dir, &sb) == 0);
	}
	return 0;
}

/* Loads the templates of cfg; NULL (logged) when they cannot be used. */
static struct template_set *
load_templates(const struct config *cfg)
{
	char ebuf[UTIL_STRERROR_LEN];
	const char *dir = cfg->templates.dir;
	struct template_set *set;
	struct stat sb;
	char err[1024];

	if (!needs_templates(cfg) && !wants_templates(cfg))
		return NULL;
	if (dir == NULL || stat(dir, &sb) != 0) {
		log_err("message templates: cannot read %s: %s",
			dir != NULL ? dir : "(no folder)",
			util_strerror(errno, ebuf, sizeof(ebuf)));
		return NULL;
	}
	set = template_set_load(dir, cfg->templates.override, err,
				sizeof(err));
	if (set == NULL)
		log_err("message templates: %s", err);
	return set;
}

void
deliver_set_config(struct deliver *d, const struct config *cfg)
{
	struct template_set *tpl = load_templates(cfg);

	/* Keep the templates that worked when the new ones do not load. */
	if (tpl != NULL || (!needs_templates(cfg) && !wants_templates(cfg))) {
		template_set_free(d->tpl);
		d->tpl = tpl;
	}
	d->cfg = cfg;
}

struct deliver *
deliver_new(struct store *st, struct escalate *esc, const struct config *cfg,
	    netsend_watch_fn watch, netsend_timer_fn timer, void *loop_ctx,
	    char *err, size_t errlen)
{
	struct deliver *d = xcalloc(1, sizeof(*d));

	d->st = st;
	d->esc = esc;
	d->cfg = cfg;
	d->ns = netsend_new(watch, timer, loop_ctx, deliver_on_done, d, err,
			    errlen);
	if (d->ns == NULL) {
		free(d);
		return NULL;
	}
	if (getrandom(&d->rng, sizeof(d->rng), 0) != (ssize_t)sizeof(d->rng))
		d->rng = (uint64_t)deliver_now() ^ (uint64_t)(uintptr_t)d;
	d->tpl = load_templates(cfg);
	return d;
}

void
deliver_free(struct deliver *d)
{
	struct job *j, *next;

	if (d == NULL)
		return;
	if (d->inflight > 0)
		log_notice("%zu notification(s) in flight are left for the next "
			   "start", d->inflight);
	/* No callbacks from here on: the jobs are freed below. */
	netsend_free(d->ns);
	for (j = d->jobs; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	if (d->nunrec > 0)
		log_notice("%zu answer(s) not recorded; those rows are sent "
			   "again after the next start", d->nunrec);
	while (d->unrec != NULL) {
		struct unrec *u = d->unrec;

		d->unrec = u->next;
		unrec_free(u);
	}
	template_set_free(d->tpl);
	free(d);
}

void
deliver_set_http(struct deliver *d, struct api_metrics *metrics,
		 const struct message_links *links)
{
	d->metrics = metrics;
	d->links = links;
}

struct netsend *
deliver_netsend(struct deliver *d)
{
	return d->ns;
}

void
deliver_set_other_done(struct deliver *d, netsend_done_fn fn, void *ctx)
{
	d->other_done = fn;
	d->other_ctx = ctx;
}

size_t
deliver_inflight(const struct deliver *d)
{
	return d->inflight;
}

int
deliver_uses_config(const struct deliver *d, const struct config *cfg)
{
	const struct job *j;

	for (j = d->jobs; j != NULL; j = j->next) {
		if (j->cfg == cfg)
			return 1;
	}
	return 0;
}

int
deliver_saturated(const struct deliver *d)
{
	return d->inflight >= DELIVER_MAX_INFLIGHT;
}

const char *
deliver_last_error(const struct deliver *d)
{
	return d->lasterr;
}

int
deliver_take_answered(struct deliver *d)
{
	int a = d->answered;

	d->answered = 0;
	return a;
}

void
deliver_hold(struct deliver *d)
{
	d->batching++;
}

void
deliver_flush(struct deliver *d)
{
	batch_flush(d);
}

void
deliver_release(struct deliver *d)
{
	if (d->batching > 0 && --d->batching == 0)
		batch_flush(d);
}

void
deliver_on_fd(struct deliver *d, int fd, unsigned events)
{
	deliver_hold(d);
	netsend_on_fd(d->ns, fd, events);
	deliver_release(d);
}

void
deliver_on_timeout(struct deliver *d)
{
	deliver_hold(d);
	netsend_on_timeout(d->ns);
	deliver_release(d);
}
