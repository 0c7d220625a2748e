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

/* Releases the contents of a policy (not the struct itself). */
void sched_policy_clear(struct sched_policy *p);

#endif
