/*
 * schedule: escalation policies and the pure functions that turn a promise,
 * its policy, its site and now into step instants.  Reads no clock, file
 * or database (DESIGN.md §3).
 */
#ifndef PROMISED_SCHEDULE_H
#define PROMISED_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "promised/calendar.h"
#include "promised/promise.h"

enum sched_anchor { SCHED_ANCHOR_DUE = 0, SCHED_ANCHOR_TARGET };
enum sched_hours { SCHED_HOURS_ANY = 0, SCHED_HOURS_BUSINESS };
/* DEFAULT: steps that only reach the owner stop on ack; others on close. */
enum sched_until { SCHED_UNTIL_DEFAULT = 0, SCHED_UNTIL_ACK, SCHED_UNTIL_CLOSE };

struct sched_step {
	char *name;              /* "reminder", "last-call", "lapse", ... */
	enum sched_anchor anchor;
	int64_t offset;          /* seconds, may be negative */
	char **recipients;       /* "owner", "owner.manager", "team.lead",
	                            a staff id, or "team:<id>" */
	size_t nrecipients;
	char **channels;         /* ordered: first used, rest are fallbacks */
	size_t nchannels;
	enum sched_hours hours;
	int64_t repeat_every;    /* 0: no repeat */
	int repeat_max;          /* extra firings after the first */
	enum sched_until until;
};

struct sched_policy {
	char *name;
	struct sched_step *steps;
	size_t nsteps;
};

/* One firing of a step: step index in the policy, repeat number (0 for
 * the first firing) and its instant (UTC seconds). */
struct sched_hit {
	size_t step;
	int repeat;
	int64_t at;
};

/* Steps due this long before now are late (the daemon was down). */
#define SCHED_LATE_AFTER 60

/* Releases the contents of a policy (not the struct itself). */
void sched_policy_clear(struct sched_policy *p);

/* The until that applies to s: DEFAULT becomes ACK when the only
 * recipient is "owner", else CLOSE. */
enum sched_until sched_step_until(const struct sched_step *s);
/* 1 when s still applies to p (not closed; not acked for until=ack). */
int sched_step_active(const struct promise *p, const struct sched_step *s);
/* Anchor + offset + repeat * every, before business hours and snooze;
 * the anchor is target_at for ANCHOR_TARGET when p has one, else due_at. */
int64_t sched_step_base(const struct promise *p, const struct sched_step *s,
			int repeat);
/* Instant of firing `repeat` of s for p: business hours through the site
 * (NULL: any hours) and the snooze applied; -1 when it never fires (the
 * site never opens, or a later repeat falls on the same instant). */
int64_t sched_step_instant(const struct promise *p,
			   const struct sched_step *s, int repeat,
			   const struct cal_site *site);
/* Next instant after p->fired_through that needs the daemon: the earliest
 * active step firing, or due_at while the lapse is not recorded; 0 when
 * nothing is left.  policy and site may be NULL. */
int64_t sched_next(const struct promise *p, const struct sched_policy *policy,
		   const struct cal_site *site, int64_t now);
/* Writes the firings with fired_through < instant <= now into hits (at
 * most max, in policy order) and returns how many.  When several instants
 * were missed and the earliest is more than SCHED_LATE_AFTER old, only the
 * most escalated one is kept; *late (if not NULL) is 1 when the kept
 * firings are late. */
size_t sched_due(const struct promise *p, const struct sched_policy *policy,
		 const struct cal_site *site, int64_t now,
		 struct sched_hit *hits, size_t max, int *late);
/* 1 when p passed its due at now and the lapse is not recorded yet. */
int sched_lapse_due(const struct promise *p, int64_t now);

#endif
