/*
 * schedule: turns a promise, its policy and its site into step instants.
 * Pure (DESIGN.md §3): every answer derives from the promise's fields, the
 * policy, the site and the `now` passed in, so a renegotiated due moves
 * every later step and a restart recomputes exactly what was pending.
 * The watermark p->fired_through marks everything at or before it as done.
 */
#include <stdlib.h>
#include <string.h>

#include "promised/schedule.h"

void
sched_policy_clear(struct sched_policy *p)
{
	size_t i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->nsteps; i++) {
		struct sched_step *s = &p->steps[i];

		free(s->name);
		for (j = 0; j < s->nrecipients; j++)
			free(s->recipients[j]);
		free(s->recipients);
		for (j = 0; j < s->nchannels; j++)
			free(s->channels[j]);
		free(s->channels);
	}
	free(p->steps);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

enum sched_until
sched_step_until(const struct sched_step *s)
{
	if (s->until != SCHED_UNTIL_DEFAULT)
		return s->until;
	/* Reminders to the owner alone stop once someone is on it;
	 * anything that tells other people is an escalation. */
	if (s->nrecipients == 1 && strcmp(s->recipients[0], "owner") == 0)
		return SCHED_UNTIL_ACK;
	return SCHED_UNTIL_CLOSE;
}

int
sched_step_active(const struct promise *p, const struct sched_step *s)
{
	if (p->state == PROMISE_CLOSED)
		return 0;
	if (p->state == PROMISE_ACKED && sched_step_until(s) == SCHED_UNTIL_ACK)
		return 0;
	return 1;
}

/* How many firings a step has: the first plus its capped repeats. */
static int
step_firings(const struct sched_step *s)
{
	if (s->repeat_every <= 0 || s->repeat_max <= 0)
		return 1;
	return s->repeat_max + 1;
}

int64_t
sched_step_base(const struct promise *p, const struct sched_step *s,
		int repeat)
{
	int64_t anchor = p->due_at;

	if (s->anchor == SCHED_ANCHOR_TARGET && p->target_at != 0)
		anchor = p->target_at;
	return anchor + s->offset + (int64_t)repeat * s->repeat_every;
}

/* The snooze first (a reminder waits for its end), then business hours,
 * so a snooze that ends at night does not wake anyone up.  Both maps are
 * monotonic in the base, so firings of one step stay in order. */
static int64_t
firing_at(const struct promise *p, const struct sched_step *s, int repeat,
	  const struct cal_site *site)
{
	int64_t t = sched_step_base(p, s, repeat);

	if (sched_step_until(s) == SCHED_UNTIL_ACK && p->snoozed_until > t)
		t = p->snoozed_until;
	if (s->hours == SCHED_HOURS_BUSINESS && site != NULL)
		t = cal_next_open(site, t);
	return t;
}

int64_t
sched_step_instant(const struct promise *p, const struct sched_step *s,
		   int repeat, const struct cal_site *site)
{
	int64_t t;

	if (repeat < 0 || repeat >= step_firings(s))
		return -1;
	t = firing_at(p, s, repeat, site);
	if (t < 0)
		return -1;
	/* Repeats pushed onto the same instant (a night, a snooze) fire
	 * once, as the latest of them. */
	if (repeat + 1 < step_firings(s) &&
	    firing_at(p, s, repeat + 1, site) == t)
		return -1;
	return t;
}

/*
 * Everything at or before the watermark is done.  Steps that lay before
 * the promise was created are done too: whoever typed the promise knows
 * of it already, and a burst of stale reminders would only teach people
 * to ignore them.
 */
static int64_t
done_through(const struct promise *p)
{
	if (p->created_at - 1 > p->fired_through)
		return p->created_at - 1;
	return p->fired_through;
}

int
sched_lapse_due(const struct promise *p, int64_t now)
{
	return p->state != PROMISE_CLOSED && p->lapsed_at == 0 &&
	       now >= p->due_at;
}

int64_t
sched_next(const struct promise *p, const struct sched_policy *policy,
	   const struct cal_site *site, int64_t now)
{
	int64_t best = 0, t;
	size_t i;
	int r;

	(void)now;
	if (p->state == PROMISE_CLOSED)
		return 0;
	for (i = 0; policy != NULL && i < policy->nsteps; i++) {
		const struct sched_step *s = &policy->steps[i];

		if (!sched_step_active(p, s))
			continue;
		for (r = 0; r < step_firings(s); r++) {
			t = sched_step_instant(p, s, r, site);
			if (t <= done_through(p))
				continue;
			if (best == 0 || t < best)
				best = t;
			break;          /* later repeats are later still */
		}
	}
	/* The lapse must be noticed even when no step sits at due. */
	if (p->lapsed_at == 0 && p->due_at > done_through(p) &&
	    (best == 0 || p->due_at < best))
		best = p->due_at;
	return best;
}

/* What the due firings look like as a whole. */
struct due_scan {
	size_t n;
	int64_t first, last;
	struct sched_hit top;   /* most escalated: highest step, then repeat */
};

static void
scan_due(const struct promise *p, const struct sched_policy *policy,
	 const struct cal_site *site, int64_t now, struct due_scan *sc,
	 struct sched_hit *hits, size_t max)
{
	size_t i;
	int r;
	int64_t t;

	memset(sc, 0, sizeof(*sc));
	for (i = 0; policy != NULL && i < policy->nsteps; i++) {
		const struct sched_step *s = &policy->steps[i];

		if (!sched_step_active(p, s))
			continue;
		for (r = 0; r < step_firings(s); r++) {
			t = sched_step_instant(p, s, r, site);
			if (t <= done_through(p) || t > now)
				continue;
			if (sc->n == 0 || t < sc->first)
				sc->first = t;
			if (sc->n == 0 || t > sc->last)
				sc->last = t;
			sc->top.step = i;
			sc->top.repeat = r;
			sc->top.at = t;
			if (hits != NULL && sc->n < max) {
				hits[sc->n].step = i;
				hits[sc->n].repeat = r;
				hits[sc->n].at = t;
			}
			sc->n++;
		}
	}
}

size_t
sched_due(const struct promise *p, const struct sched_policy *policy,
	  const struct cal_site *site, int64_t now, struct sched_hit *hits,
	  size_t max, int *late)
{
	struct due_scan sc;
	size_t n;

	if (late != NULL)
		*late = 0;
	if (p->state == PROMISE_CLOSED)
		return 0;
	scan_due(p, policy, site, now, &sc, hits, max);
	if (sc.n == 0)
		return 0;
	/* Catch-up after downtime: one message of the most escalated missed
	 * step instead of replaying every old reminder (DESIGN.md §5).  The
	 * scan visits steps, then repeats, in order, so its last hit is the
	 * most escalated one. */
	if (sc.first != sc.last && sc.first < now - SCHED_LATE_AFTER) {
		if (late != NULL)
			*late = 1;
		if (hits == NULL || max == 0)
			return 0;
		hits[0] = sc.top;
		return 1;
	}
	if (late != NULL && sc.first < now - SCHED_LATE_AFTER)
		*late = 1;
	n = sc.n < max ? sc.n : max;
	return hits != NULL ? n : 0;
}
