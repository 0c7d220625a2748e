/*
 * Tests of the pure scheduler with an injected clock: every instant is a
 * UTC number worked out from the Brussels offsets (CET = UTC+1 in winter,
 * CEST = UTC+2 from the last Sunday of March), never read from output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promised/calendar.h"
#include "promised/schedule.h"
#include "promised/util.h"

#define MIN 60
#define HOUR 3600
#define DAY 86400

static char *r_owner[] = { "owner" };
static char *r_lapse[] = { "owner", "owner.manager" };
static char *r_lead[] = { "team.lead" };
static char *r_manager[] = { "owner.manager" };
static char *r_team[] = { "team:sales" };
static char *r_staff[] = { "carol" };
static char *c_mail[] = { "mail", "log" };

/* A UTC instant from a UTC civil time. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	return util_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MIN;
}

/* Local Brussels wall time to UTC by the known offset of that date. */
static int64_t
cet(int y, int mo, int d, int h, int mi)
{
	return utc(y, mo, d, h, mi) - HOUR;
}

static int64_t
cest(int y, int mo, int d, int h, int mi)
{
	return utc(y, mo, d, h, mi) - 2 * HOUR;
}

static int64_t site_holidays[1];

/* Brussels, Monday to Friday 08:00-18:00, Monday 2026-11-30 a holiday;
 * every_day opens Saturday and Sunday too. */
static void
make_site(struct cal_site *s, int every_day)
{
	int wd;

	memset(s, 0, sizeof(*s));
	s->id = "brussels";
	s->tz = "Europe/Brussels";
	for (wd = 0; wd < 7; wd++) {
		if (wd >= 5 && !every_day)
			continue;
		s->hours[wd][0].open = 8 * 60;
		s->hours[wd][0].close = 18 * 60;
		s->nranges[wd] = 1;
	}
	site_holidays[0] = util_days_from_civil(2026, 11, 30);
	s->holidays = site_holidays;
	s->nholidays = 1;
}

static struct sched_step
step(const char *name, enum sched_anchor anchor, int64_t offset,
     char **rcpt, size_t nrcpt)
{
	struct sched_step s;

	memset(&s, 0, sizeof(s));
	s.name = (char *)name;
	s.anchor = anchor;
	s.offset = offset;
	s.recipients = rcpt;
	s.nrecipients = nrcpt;
	s.channels = c_mail;
	s.nchannels = 2;
	return s;
}

/* The shipped example: reminder 2 h before target, SMS 15 min before due,
 * lapse at due to owner and manager, team lead 1 h after due repeating
 * every 30 min at most 4 times. */
static struct sched_step example_steps[4];
static struct sched_policy example;

static void
make_example(void)
{
	example_steps[0] = step("reminder", SCHED_ANCHOR_TARGET, -2 * HOUR,
				r_owner, 1);
	example_steps[1] = step("last-call", SCHED_ANCHOR_DUE, -15 * MIN,
				r_owner, 1);
	example_steps[2] = step("lapse", SCHED_ANCHOR_DUE, 0, r_lapse, 2);
	example_steps[3] = step("lead", SCHED_ANCHOR_DUE, HOUR, r_lead, 1);
	example_steps[3].repeat_every = 30 * MIN;
	example_steps[3].repeat_max = 4;
	example.name = "standard";
	example.steps = example_steps;
	example.nsteps = 4;
}

/* Due Friday 2026-11-27 17:00 CET, target 15:00 CET. */
static struct promise
make_promise(void)
{
	struct promise p;

	memset(&p, 0, sizeof(p));
	p.id = 1;
	p.due_at = cet(2026, 11, 27, 17, 0);
	p.target_at = cet(2026, 11, 27, 15, 0);
	p.state = PROMISE_OPEN;
	return p;
}

static void
test_anchors_and_offsets(void **state)
{
	struct promise p = make_promise();
	struct sched_step zero_target = step("t0", SCHED_ANCHOR_TARGET, 0,
					     r_owner, 1);
	struct sched_step plus_target = step("t+", SCHED_ANCHOR_TARGET,
					     30 * MIN, r_owner, 1);

	(void)state;
	make_example();
	/* 15:00 CET - 2 h = 13:00 CET = 12:00Z */
	assert_int_equal(sched_step_instant(&p, &example_steps[0], 0, NULL),
			 utc(2026, 11, 27, 12, 0));
	assert_int_equal(sched_step_instant(&p, &example_steps[1], 0, NULL),
			 utc(2026, 11, 27, 15, 45));
	assert_int_equal(sched_step_instant(&p, &example_steps[2], 0, NULL),
			 utc(2026, 11, 27, 16, 0));
	assert_int_equal(sched_step_instant(&p, &example_steps[3], 0, NULL),
			 utc(2026, 11, 27, 17, 0));
	assert_int_equal(sched_step_instant(&p, &zero_target, 0, NULL),
			 utc(2026, 11, 27, 14, 0));
	assert_int_equal(sched_step_instant(&p, &plus_target, 0, NULL),
			 utc(2026, 11, 27, 14, 30));
	/* Without a target, a target-anchored step falls back to due. */
	p.target_at = 0;
	assert_int_equal(sched_step_instant(&p, &example_steps[0], 0, NULL),
			 utc(2026, 11, 27, 14, 0));
	assert_int_equal(sched_step_instant(&p, &zero_target, 0, NULL),
			 p.due_at);
	/* A step has only one firing without repeat. */
	assert_int_equal(sched_step_instant(&p, &example_steps[1], 1, NULL), -1);
}

static void
test_until_defaults(void **state)
{
	struct sched_step s;

	(void)state;
	s = step("a", SCHED_ANCHOR_DUE, 0, r_owner, 1);
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_ACK);
	s = step("b", SCHED_ANCHOR_DUE, 0, r_lapse, 2);
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_CLOSE);
	s = step("c", SCHED_ANCHOR_DUE, 0, r_manager, 1);
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_CLOSE);
	s = step("d", SCHED_ANCHOR_DUE, 0, r_lead, 1);
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_CLOSE);
	s = step("e", SCHED_ANCHOR_DUE, 0, r_team, 1);
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_CLOSE);
	s = step("f", SCHED_ANCHOR_DUE, 0, r_staff, 1);
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_CLOSE);
	s = step("g", SCHED_ANCHOR_DUE, 0, r_owner, 1);
	s.until = SCHED_UNTIL_CLOSE;
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_CLOSE);
	s = step("h", SCHED_ANCHOR_DUE, 0, r_lead, 1);
	s.until = SCHED_UNTIL_ACK;
	assert_int_equal(sched_step_until(&s), SCHED_UNTIL_ACK);
}

/* Walks the watermark the way the daemon does: fire what is due at the
 * next instant, move fired_through there, record the lapse. */
static int64_t
advance(struct promise *p, const struct sched_policy *pol,
	const struct cal_site *site, struct sched_hit *hits, size_t *n)
{
	int64_t next = sched_next(p, pol, site, 0);
	int late = -1;

	*n = 0;
	if (next == 0)
		return 0;
	*n = sched_due(p, pol, site, next, hits, 16, &late);
	assert_int_equal(late, 0);
	if (sched_lapse_due(p, next))
		p->lapsed_at = next;
	p->fired_through = next;
	return next;
}

static void
test_walk_and_repeat_cap(void **state)
{
	struct promise p = make_promise();
	struct sched_hit hits[16];
	size_t n;
	int r;

	(void)state;
	make_example();
	assert_int_equal(advance(&p, &example, NULL, hits, &n),
			 utc(2026, 11, 27, 12, 0));
	assert_int_equal(n, 1);
	assert_int_equal(hits[0].step, 0);
	assert_int_equal(advance(&p, &example, NULL, hits, &n),
			 utc(2026, 11, 27, 15, 45));
	assert_int_equal(hits[0].step, 1);
	assert_int_equal(p.lapsed_at, 0);
	assert_int_equal(advance(&p, &example, NULL, hits, &n),
			 utc(2026, 11, 27, 16, 0));
	assert_int_equal(n, 1);
	assert_int_equal(hits[0].step, 2);
	assert_int_equal(p.lapsed_at, utc(2026, 11, 27, 16, 0));
	/* The lead: +1 h, then exactly max = 4 repeats 30 min apart. */
	for (r = 0; r <= 4; r++) {
		assert_int_equal(advance(&p, &example, NULL, hits, &n),
				 utc(2026, 11, 27, 17, 0) + r * 30 * MIN);
		assert_int_equal(n, 1);
		assert_int_equal(hits[0].step, 3);
		assert_int_equal(hits[0].repeat, r);
	}
	assert_int_equal(sched_next(&p, &example, NULL, 0), 0);
	assert_int_equal(sched_step_instant(&p, &example_steps[3], 5, NULL), -1);
}

static void
test_business_hours(void **state)
{
	struct cal_site site;
	struct promise p = make_promise();
	struct sched_step s = step("sms", SCHED_ANCHOR_DUE, 0, r_lead, 1);

	(void)state;
	make_site(&site, 0);
	s.hours = SCHED_HOURS_BUSINESS;
	/* Friday 2026-11-20 17:55 CET: open until 18:00, fires on time. */
	p.due_at = cet(2026, 11, 20, 17, 55);
	assert_int_equal(sched_step_instant(&p, &s, 0, &site),
			 utc(2026, 11, 20, 16, 55));
	/* 18:30 that Friday waits for Monday 2026-11-23 08:00 CET. */
	s.offset = 35 * MIN;
	assert_int_equal(sched_step_instant(&p, &s, 0, &site),
			 utc(2026, 11, 23, 7, 0));
	/* The same a week later skips holiday Monday 11-30 to Tuesday. */
	p.due_at = cet(2026, 11, 27, 17, 55);
	assert_int_equal(sched_step_instant(&p, &s, 0, &site),
			 utc(2026, 12, 1, 7, 0));
	/* Any hours: on time, at night too. */
	s.hours = SCHED_HOURS_ANY;
	assert_int_equal(sched_step_instant(&p, &s, 0, &site),
			 utc(2026, 11, 27, 17, 30));
	/* sched_next honours business hours too. */
	s.hours = SCHED_HOURS_BUSINESS;
	{
		struct sched_policy pol = { "b", &s, 1 };

		p.lapsed_at = p.due_at;
		assert_int_equal(sched_next(&p, &pol, &site, 0),
				 utc(2026, 12, 1, 7, 0));
	}
}

static void
test_repeats_collapse_overnight(void **state)
{
	struct cal_site site;
	struct promise p = make_promise();
	struct sched_step s = step("lead", SCHED_ANCHOR_DUE, 0, r_lead, 1);
	struct sched_hit hits[8];
	struct sched_policy pol = { "b", &s, 1 };
	int late = 0;

	(void)state;
	make_site(&site, 0);
	/* Thursday 2026-11-26 17:00 CET, every hour, 3 repeats: 17:00 fires;
	 * 18:00, 19:00, 20:00 all wait for Friday 08:00 and fire once, as
	 * the latest repeat. */
	p.due_at = cet(2026, 11, 26, 17, 0);
	p.lapsed_at = p.due_at;
	s.hours = SCHED_HOURS_BUSINESS;
	s.repeat_every = HOUR;
	s.repeat_max = 3;
	assert_int_equal(sched_step_instant(&p, &s, 0, &site),
			 utc(2026, 11, 26, 16, 0));
	assert_int_equal(sched_step_instant(&p, &s, 1, &site), -1);
	assert_int_equal(sched_step_instant(&p, &s, 2, &site), -1);
	assert_int_equal(sched_step_instant(&p, &s, 3, &site),
			 utc(2026, 11, 27, 7, 0));
	p.fired_through = utc(2026, 11, 26, 16, 0);
	assert_int_equal(sched_next(&p, &pol, &site, 0), utc(2026, 11, 27, 7, 0));
	assert_int_equal(sched_due(&p, &pol, &site, utc(2026, 11, 27, 7, 0),
				   hits, 8, &late), 1);
	assert_int_equal(hits[0].repeat, 3);
	assert_int_equal(late, 0);
}

/* Reminders every 30 min from 2 h before due to the owner, plus an
 * escalation at due + 1 h to the team lead. */
static struct sched_step ack_steps[2];
static struct sched_policy ack_policy = { "ack", ack_steps, 2 };

static void
make_ack_policy(void)
{
	ack_steps[0] = step("reminder", SCHED_ANCHOR_DUE, -2 * HOUR, r_owner, 1);
	ack_steps[0].repeat_every = 30 * MIN;
	ack_steps[0].repeat_max = 4;
	ack_steps[1] = step("lead", SCHED_ANCHOR_DUE, HOUR, r_lead, 1);
}

static void
test_ack_stops_reminders_not_escalation(void **state)
{
	struct promise p = make_promise();
	struct sched_hit hits[8];
	int late = 0;

	(void)state;
	make_ack_policy();
	/* Open: the first reminder fires, the next waits 30 min later. */
	p.fired_through = p.due_at - 2 * HOUR;
	assert_int_equal(sched_next(&p, &ack_policy, NULL, 0),
			 p.due_at - 90 * MIN);
	p.state = PROMISE_ACKED;
	p.acked_at = p.due_at - 100 * MIN;
	/* Acked: no reminder left; the lapse at due, then the lead. */
	assert_int_equal(sched_next(&p, &ack_policy, NULL, 0), p.due_at);
	assert_int_equal(sched_due(&p, &ack_policy, NULL, p.due_at, hits, 8,
				   &late), 0);
	assert_int_equal(sched_lapse_due(&p, p.due_at), 1);
	p.lapsed_at = p.due_at;
	p.fired_through = p.due_at;
	assert_int_equal(sched_next(&p, &ack_policy, NULL, 0), p.due_at + HOUR);
	assert_int_equal(sched_due(&p, &ack_policy, NULL, p.due_at + HOUR,
				   hits, 8, &late), 1);
	assert_int_equal(hits[0].step, 1);
	assert_int_equal(late, 0);
	/* An owner step with until: close keeps going after the ack. */
	ack_steps[0].until = SCHED_UNTIL_CLOSE;
	p.fired_through = p.due_at - 2 * HOUR;
	p.lapsed_at = 0;
	assert_int_equal(sched_next(&p, &ack_policy, NULL, 0),
			 p.due_at - 90 * MIN);
	/* Closed: nothing at all. */
	p.state = PROMISE_CLOSED;
	assert_int_equal(sched_next(&p, &ack_policy, NULL, 0), 0);
	assert_int_equal(sched_due(&p, &ack_policy, NULL, p.due_at + DAY,
				   hits, 8, &late), 0);
	assert_int_equal(sched_lapse_due(&p, p.due_at + DAY), 0);
}

static void
test_renegotiate_moves_later_steps(void **state)
{
	struct promise p = make_promise();
	int64_t old_due = p.due_at, before[4];
	size_t i;
	struct sched_hit hits[8];
	int late = 0;

	(void)state;
	make_example();
	p.target_at = 0;
	for (i = 0; i < 4; i++)
		before[i] = sched_step_instant(&p, &example_steps[i], 0, NULL);
	/* The reminder (due - 2 h) and the last call fired; then the
	 * customer agreed to Monday 2026-11-30 10:00 CET. */
	p.fired_through = old_due - 15 * MIN;
	p.due_at = cet(2026, 11, 30, 10, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(sched_step_instant(&p, &example_steps[i], 0, NULL),
				 before[i] + (p.due_at - old_due));
	/* Monday 10:00 CET - 2 h = 07:00Z: the reminder fires again. */
	assert_int_equal(sched_next(&p, &example, NULL, 0),
			 utc(2026, 11, 30, 7, 0));
	assert_int_equal(sched_due(&p, &example, NULL, utc(2026, 11, 30, 7, 0),
				   hits, 8, &late), 1);
	assert_int_equal(hits[0].step, 0);
	/* Nothing of the old schedule is due in between. */
	assert_int_equal(sched_due(&p, &example, NULL, old_due + 2 * HOUR,
				   hits, 8, &late), 0);
	/* A due moved a little earlier does not refire steps before the
	 * watermark (15:45Z): Friday 16:50 CET leaves the lapse at 15:50Z
	 * as the next instant, not the reminder or last call. */
	p.due_at = cet(2026, 11, 27, 16, 50);
	assert_int_equal(sched_next(&p, &example, NULL, 0),
			 utc(2026, 11, 27, 15, 50));
	assert_int_equal(sched_due(&p, &example, NULL, utc(2026, 11, 27, 15, 50),
				   hits, 8, &late), 1);
	assert_int_equal(hits[0].step, 2);
}

static void
test_snooze_defers_reminders_only(void **state)
{
	struct promise p = make_promise();
	struct sched_step steps[2];
	struct sched_policy pol = { "s", steps, 2 };
	struct sched_hit hits[8];
	int late = 0;

	(void)state;
	steps[0] = step("reminder", SCHED_ANCHOR_DUE, -2 * HOUR, r_owner, 1);
	steps[0].repeat_every = 30 * MIN;
	steps[0].repeat_max = 4;
	steps[1] = step("manager", SCHED_ANCHOR_DUE, -HOUR, r_manager, 1);
	/* Snoozed until 45 min before due: the reminders at -2 h, -1.5 h
	 * and -1 h become one at -45 min; the escalation at -1 h stays. */
	p.snoozed_until = p.due_at - 45 * MIN;
	assert_int_equal(sched_step_instant(&p, &steps[0], 0, NULL), -1);
	assert_int_equal(sched_step_instant(&p, &steps[0], 1, NULL), -1);
	assert_int_equal(sched_step_instant(&p, &steps[0], 2, NULL),
			 p.due_at - 45 * MIN);
	assert_int_equal(sched_step_instant(&p, &steps[0], 3, NULL),
			 p.due_at - 30 * MIN);
	assert_int_equal(sched_step_instant(&p, &steps[1], 0, NULL),
			 p.due_at - HOUR);
	assert_int_equal(sched_next(&p, &pol, NULL, 0), p.due_at - HOUR);
	assert_int_equal(sched_due(&p, &pol, NULL, p.due_at - HOUR, hits, 8,
				   &late), 1);
	assert_int_equal(hits[0].step, 1);
	p.fired_through = p.due_at - HOUR;
	assert_int_equal(sched_next(&p, &pol, NULL, 0), p.due_at - 45 * MIN);
	assert_int_equal(sched_due(&p, &pol, NULL, p.due_at - 45 * MIN, hits,
				   8, &late), 1);
	assert_int_equal(hits[0].step, 0);
	assert_int_equal(hits[0].repeat, 2);
	assert_int_equal(late, 0);
}

static void
test_catch_up_after_downtime(void **state)
{
	struct promise p = make_promise();
	struct sched_hit hits[16];
	int64_t now;
	int late = 0;

	(void)state;
	make_example();
	/* Down from 11:00Z until 18:30Z: reminder 12:00, last call 15:45,
	 * lapse 16:00, lead 17:00, 17:30, 18:00, 18:30 were all missed. */
	p.fired_through = utc(2026, 11, 27, 11, 0);
	now = utc(2026, 11, 27, 18, 30);
	assert_int_equal(sched_due(&p, &example, NULL, now, hits, 16, &late), 1);
	assert_int_equal(late, 1);
	assert_int_equal(hits[0].step, 3);
	assert_int_equal(hits[0].repeat, 3);
	assert_int_equal(hits[0].at, now);
	/* Up again 20 min after the lapse: lapse and nothing else missed. */
	p.fired_through = utc(2026, 11, 27, 15, 45);
	now = utc(2026, 11, 27, 16, 20);
	assert_int_equal(sched_due(&p, &example, NULL, now, hits, 16, &late), 1);
	assert_int_equal(hits[0].step, 2);
	assert_int_equal(late, 1);
	/* Two instants missed by less than a minute: both fire, on time. */
	p.fired_through = utc(2026, 11, 27, 12, 0);
	example_steps[1].offset = -30;
	now = utc(2026, 11, 27, 16, 0) + 20;
	assert_int_equal(sched_due(&p, &example, NULL, now, hits, 16, &late), 2);
	assert_int_equal(late, 0);
	assert_int_equal(hits[0].step, 1);
	assert_int_equal(hits[1].step, 2);
	/* The watermark: nothing at or before fired_through again. */
	p.fired_through = now;
	assert_int_equal(sched_due(&p, &example, NULL, now, hits, 16, &late), 0);
}

static void
test_lapse_without_step_at_due(void **state)
{
	struct promise p = make_promise();

	(void)state;
	make_ack_policy();
	ack_steps[0].repeat_every = 0;
	/* Only a reminder at -2 h and the lead at +1 h: due is still an
	 * instant of its own so the lapse is recorded on time. */
	p.fired_through = p.due_at - 2 * HOUR;
	assert_int_equal(sched_next(&p, &ack_policy, NULL, 0), p.due_at);
	assert_int_equal(sched_lapse_due(&p, p.due_at - 1), 0);
	assert_int_equal(sched_lapse_due(&p, p.due_at), 1);
	/* Without any policy: only the lapse, then nothing. */
	p.fired_through = 0;
	assert_int_equal(sched_next(&p, NULL, NULL, 0), p.due_at);
	p.lapsed_at = p.due_at;
	p.fired_through = p.due_at;
	assert_int_equal(sched_next(&p, NULL, NULL, 0), 0);
	assert_int_equal(sched_lapse_due(&p, p.due_at + HOUR), 0);
}

/* A promise typed in 20 minutes before its due: the reminder (2 h before
 * target) and the last call (15 min before due) lay before it existed and
 * are skipped; the lapse at due is the first step, and nothing is late. */
static void
test_steps_before_creation_are_skipped(void **state)
{
	struct promise p = make_promise();
	struct sched_hit hits[8];
	int late = -1;

	(void)state;
	make_example();
	p.created_at = p.due_at - 20 * MIN + 30;
	assert_int_equal(sched_next(&p, &example, NULL, p.created_at),
			 p.due_at - 15 * MIN);
	p.created_at = p.due_at - 10 * MIN;
	assert_int_equal(sched_next(&p, &example, NULL, p.created_at),
			 p.due_at);
	assert_int_equal(sched_due(&p, &example, NULL, p.due_at - MIN, hits,
				   8, &late), 0);
	assert_int_equal(sched_due(&p, &example, NULL, p.due_at, hits, 8,
				   &late), 1);
	assert_int_equal(hits[0].step, 2);
	assert_int_equal(late, 0);
	/* A promise created exactly at a step's instant still gets it. */
	p.created_at = p.due_at;
	assert_int_equal(sched_next(&p, &example, NULL, p.created_at),
			 p.due_at);
}

static void
test_dst_spring_forward(void **state)
{
	struct cal_site weekdays, every_day;
	struct promise p;
	struct sched_step s = step("night", SCHED_ANCHOR_DUE, HOUR, r_lead, 1);
	struct cal_local l;

	(void)state;
	make_site(&weekdays, 0);
	make_site(&every_day, 1);
	memset(&p, 0, sizeof(p));
	/* Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z.  Due
	 * at 01:30 CET (00:30Z); a step at +1 h lands on 02:30 by winter
	 * reckoning, a wall time that does not exist that night. */
	p.due_at = cet(2026, 3, 29, 1, 30);
	assert_int_equal(p.due_at, utc(2026, 3, 29, 0, 30));
	/* Any hours: an hour is 3600 s, so it fires at 01:30Z, which the
	 * clocks show as 03:30 CEST. */
	assert_int_equal(sched_step_instant(&p, &s, 0, &weekdays),
			 utc(2026, 3, 29, 1, 30));
	assert_int_equal(cal_to_local("Europe/Brussels", utc(2026, 3, 29, 1, 30),
				      &l), 0);
	assert_int_equal(l.hour, 3);
	assert_int_equal(l.min, 30);
	assert_int_equal(l.utcoff, 2 * HOUR);
	/* Business hours on a site open every day: 08:00 CEST that
	 * Sunday, i.e. 06:00Z, not the winter 07:00Z. */
	s.hours = SCHED_HOURS_BUSINESS;
	assert_int_equal(sched_step_instant(&p, &s, 0, &every_day),
			 cest(2026, 3, 29, 8, 0));
	assert_int_equal(cest(2026, 3, 29, 8, 0), utc(2026, 3, 29, 6, 0));
	/* Mon-Fri site: Monday 2026-03-30 08:00 CEST = 06:00Z. */
	assert_int_equal(sched_step_instant(&p, &s, 0, &weekdays),
			 utc(2026, 3, 30, 6, 0));
	/* The day before, still winter: 08:00 CET Saturday = 07:00Z. */
	p.due_at = cet(2026, 3, 28, 1, 30);
	assert_int_equal(sched_step_instant(&p, &s, 0, &every_day),
			 utc(2026, 3, 28, 7, 0));
	/* A repeat across the jump keeps its UTC spacing: 00:30Z + 1 h +
	 * 2 x 30 min = 02:30Z (04:30 CEST). */
	p.due_at = cet(2026, 3, 29, 1, 30);
	s.hours = SCHED_HOURS_ANY;
	s.repeat_every = 30 * MIN;
	s.repeat_max = 2;
	assert_int_equal(sched_step_instant(&p, &s, 2, &weekdays),
			 utc(2026, 3, 29, 2, 30));
}

static void
test_policy_clear(void **state)
{
	struct sched_policy pol;
	size_t i;

	(void)state;
	memset(&pol, 0, sizeof(pol));
	sched_policy_clear(&pol);
	assert_null(pol.steps);
	pol.name = malloc(8);
	util_strlcpy(pol.name, "p", 8);
	pol.nsteps = 2;
	pol.steps = calloc(2, sizeof(*pol.steps));
	for (i = 0; i < 2; i++) {
		pol.steps[i].name = malloc(4);
		util_strlcpy(pol.steps[i].name, "s", 4);
		pol.steps[i].nrecipients = 1;
		pol.steps[i].recipients = calloc(1, sizeof(char *));
		pol.steps[i].recipients[0] = malloc(6);
		util_strlcpy(pol.steps[i].recipients[0], "owner", 6);
	}
	sched_policy_clear(&pol);
	assert_null(pol.name);
	assert_int_equal(pol.nsteps, 0);
	sched_policy_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchors_and_offsets),
		cmocka_unit_test(test_until_defaults),
		cmocka_unit_test(test_walk_and_repeat_cap),
		cmocka_unit_test(test_business_hours),
		cmocka_unit_test(test_repeats_collapse_overnight),
		cmocka_unit_test(test_ack_stops_reminders_not_escalation),
		cmocka_unit_test(test_renegotiate_moves_later_steps),
		cmocka_unit_test(test_snooze_defers_reminders_only),
		cmocka_unit_test(test_catch_up_after_downtime),
		cmocka_unit_test(test_lapse_without_step_at_due),
		cmocka_unit_test(test_dst_spring_forward),
		cmocka_unit_test(test_steps_before_creation_are_skipped),
		cmocka_unit_test(test_policy_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
