/*
 * promise: the plain records every layer passes around — a promise, its
 * events and its notifications — with their state names.  Strings are
 * owned by the record and released with the matching _free function.
 */
#ifndef PROMISED_PROMISE_H
#define PROMISED_PROMISE_H

#include <stddef.h>
#include <stdint.h>

enum promise_state {
	PROMISE_OPEN = 0,
	PROMISE_ACKED,
	PROMISE_CLOSED,
};

enum promise_outcome {
	OUTCOME_NONE = 0,
	OUTCOME_KEPT,       /* closed at or before due */
	OUTCOME_LATE,       /* closed after due */
	OUTCOME_CANCELLED,
};

struct promise {
	int64_t id;
	char *ref;            /* unique external key; generated when empty */
	char *title;
	char *details;
	char *customer_name;
	char *customer_phone;
	char *customer_email;
	char *vehicle;
	char *vin;
	char *owner;          /* staff id */
	char *team;
	char *site;
	char *policy;         /* NULL: team's or default policy */
	char *source;         /* "cli", "api", "feed:<name>" ... */
	char *closed_by;
	int64_t target_at;    /* 0: none */
	int64_t due_at;       /* UTC seconds; always set */
	int64_t created_at;
	int64_t updated_at;
	int64_t closed_at;    /* 0: not closed */
	int64_t acked_at;     /* 0: not acked */
	int64_t snoozed_until;/* 0: not snoozed */
	int64_t lapsed_at;    /* 0: not lapsed; set once by the daemon */
	int64_t fired_through;/* schedule watermark: steps at or before it are done */
	int64_t next_step_at; /* 0: nothing scheduled */
	int renegotiations;   /* how often the due moved by agreement */
	enum promise_state state;
	enum promise_outcome outcome;
};

enum event_kind {
	EVENT_CREATED = 0,
	EVENT_CHANGED,
	EVENT_REMINDED,
	EVENT_ESCALATED,
	EVENT_ACKED,
	EVENT_SNOOZED,
	EVENT_REASSIGNED,
	EVENT_RENEGOTIATED,
	EVENT_CLOSED,
	EVENT_REOPENED,
	EVENT_LAPSED,
	EVENT_NOTE,          /* anything else worth keeping in the timeline */
	EVENT_KIND_COUNT
};

struct event {
	int64_t id;
	int64_t promise_id;
	int64_t at;
	enum event_kind kind;
	char *actor;
	char *detail;        /* human text: "due 2026-11-29T17:00Z -> ...", reason */
	int64_t old_due;     /* 0 unless the event moved the due */
	int64_t new_due;
};

/* Returns the stable lower-case name of a state/outcome/event kind. */
const char *promise_state_name(enum promise_state s);
const char *promise_outcome_name(enum promise_outcome o);
const char *event_kind_name(enum event_kind k);
/* Parses a name back; 0 or -1. */
int promise_state_parse(const char *name, enum promise_state *out);
int promise_outcome_parse(const char *name, enum promise_outcome *out);
int event_kind_parse(const char *name, enum event_kind *out);

/* Releases the strings of p (not p itself) and zeroes it. */
void promise_clear(struct promise *p);
/* Releases an array of n promises returned by the store. */
void promise_free_array(struct promise *arr, size_t n);
/* Releases an array of n events returned by the store. */
void event_free_array(struct event *arr, size_t n);

/* VIN check: 0 when vin is 17 characters of [A-HJ-NPR-Z0-9], else -1 with
 * the reason in err.  *check_digit_ok is set to 0 when the North-American
 * check digit (position 9) does not match; that is only a warning. */
int promise_vin_check(const char *vin, int *check_digit_ok,
		      char *err, size_t errlen);

#endif
