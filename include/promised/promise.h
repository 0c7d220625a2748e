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

enum notif_state {
	NOTIF_PENDING = 0,   /* queued, waiting for next_try_at */
	NOTIF_SENDING,       /* handed to a channel; durable before the send */
	NOTIF_SENT,
	NOTIF_RETRY,         /* failed for now; waits for next_try_at */
	NOTIF_DEAD,          /* failed for good; the step's next channel follows */
	NOTIF_STATE_COUNT
};

/* One message to one recipient through one channel (the outbox row). */
struct notification {
	int64_t id;
	int64_t promise_id;
	char *step;          /* step name of the policy */
	int step_index;      /* index in the policy */
	int repeat;          /* 0 for the first firing */
	int channel_index;   /* index in the step's channel list (fallbacks) */
	char *channel;       /* channel name from the config */
	char *recipient;     /* staff id */
	char *subject;
	char *body;
	char *idem_key;      /* UNIQUE: promise/step/repeat/recipient/channel/due */
	enum notif_state state;
	int attempts;
	int late;            /* 1: sent after downtime, later than its step */
	int64_t scheduled_at;/* the step instant it belongs to */
	int64_t next_try_at;
	int64_t created_at;
	int64_t sent_at;
	char *last_error;
	char *provider_id;
};

/* Returns the stable lower-case name of a state/outcome/event kind. */
const char *promise_state_name(enum promise_state s);
const char *promise_outcome_name(enum promise_outcome o);
const char *event_kind_name(enum event_kind k);
const char *notif_state_name(enum notif_state s);
int notif_state_parse(const char *name, enum notif_state *out);
/* Releases the strings of n (not n itself) and zeroes it. */
void notification_clear(struct notification *n);
void notification_free_array(struct notification *arr, size_t n);
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
