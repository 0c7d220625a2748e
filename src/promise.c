/*
 * promise: names of states, outcomes and event kinds (one table each, so
 * JSON output and parsing stay in step), record cleanup, and the VIN check.
 */
#include <stdlib.h>
#include <string.h>

#include "promised/promise.h"
#include "promised/util.h"

static const char *const state_names[] = {
	[PROMISE_OPEN] = "open",
	[PROMISE_ACKED] = "acked",
	[PROMISE_CLOSED] = "closed",
};

static const char *const outcome_names[] = {
	[OUTCOME_NONE] = "none",
	[OUTCOME_KEPT] = "kept",
	[OUTCOME_LATE] = "late",
	[OUTCOME_CANCELLED] = "cancelled",
};

static const char *const event_names[] = {
	[EVENT_CREATED] = "created",
	[EVENT_CHANGED] = "changed",
	[EVENT_REMINDED] = "reminded",
	[EVENT_ESCALATED] = "escalated",
	[EVENT_ACKED] = "acked",
	[EVENT_SNOOZED] = "snoozed",
	[EVENT_REASSIGNED] = "reassigned",
	[EVENT_RENEGOTIATED] = "renegotiated",
	[EVENT_CLOSED] = "closed",
	[EVENT_REOPENED] = "reopened",
	[EVENT_LAPSED] = "lapsed",
	[EVENT_NOTE] = "note",
};

static const char *const notif_names[] = {
	[NOTIF_PENDING] = "pending",
	[NOTIF_SENDING] = "sending",
	[NOTIF_SENT] = "sent",
	[NOTIF_RETRY] = "retry",
	[NOTIF_DEAD] = "dead",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *names, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || names[v] == NULL)
		return "unknown";
	return names[v];
}

static int
parse_name(const char *const *names, size_t n, const char *name, int *out)
{
	size_t i;

	for (i = 0; name != NULL && i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], name) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -1;
}

const char *
promise_state_name(enum promise_state s)
{
	return name_of(state_names, NELEM(state_names), (int)s);
}

const char *
promise_outcome_name(enum promise_outcome o)
{
	return name_of(outcome_names, NELEM(outcome_names), (int)o);
}

const char *
event_kind_name(enum event_kind k)
{
	return name_of(event_names, NELEM(event_names), (int)k);
}

int
promise_state_parse(const char *name, enum promise_state *out)
{
	int v;

	if (parse_name(state_names, NELEM(state_names), name, &v) == -1)
		return -1;
	*out = (enum promise_state)v;
	return 0;
}

int
promise_outcome_parse(const char *name, enum promise_outcome *out)
{
	int v;

	if (parse_name(outcome_names, NELEM(outcome_names), name, &v) == -1)
		return -1;
	*out = (enum promise_outcome)v;
	return 0;
}

int
event_kind_parse(const char *name, enum event_kind *out)
{
	int v;

	if (parse_name(event_names, NELEM(event_names), name, &v) == -1)
		return -1;
	*out = (enum event_kind)v;
	return 0;
}

const char *
notif_state_name(enum notif_state s)
{
	return name_of(notif_names, NELEM(notif_names), (int)s);
}

int
notif_state_parse(const char *name, enum notif_state *out)
{
	int v;

	if (parse_name(notif_names, NELEM(notif_names), name, &v) == -1)
		return -1;
	*out = (enum notif_state)v;
	return 0;
}

void
notification_clear(struct notification *n)
{
	free(n->step);
	free(n->channel);
	free(n->recipient);
	free(n->subject);
	free(n->body);
	free(n->idem_key);
	free(n->last_error);
	free(n->provider_id);
	memset(n, 0, sizeof(*n));
}

void
notification_free_array(struct notification *arr, size_t n)
{
	size_t i;

	for (i = 0; arr != NULL && i < n; i++)
		notification_clear(&arr[i]);
	free(arr);
}

void
promise_clear(struct promise *p)
{
	char **strs[] = {
		&p->ref, &p->title, &p->details, &p->customer_name,
		&p->customer_phone, &p->customer_email, &p->vehicle, &p->vin,
		&p->owner, &p->team, &p->site, &p->policy, &p->source,
		&p->closed_by,
	};
	size_t i;

	for (i = 0; i < NELEM(strs); i++)
		free(*strs[i]);
	memset(p, 0, sizeof(*p));
}

void
promise_free_array(struct promise *arr, size_t n)
{
	size_t i;

	for (i = 0; arr != NULL && i < n; i++)
		promise_clear(&arr[i]);
	free(arr);
}

void
event_free_array(struct event *arr, size_t n)
{
	size_t i;

	for (i = 0; arr != NULL && i < n; i++) {
		free(arr[i].actor);
		free(arr[i].detail);
	}
	free(arr);
}

/* ISO 3779 transliteration and weights for the check digit. */
static int
vin_value(char c)
{
	static const char *const letters = "ABCDEFGHJKLMNPRSTUVWXYZ";
	static const int values[] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5,
				      7, 9, 2, 3, 4, 5, 6, 7, 8, 9 };
	const char *p;

	if (c >= '0' && c <= '9')
		return c - '0';
	p = strchr(letters, c);
	return p != NULL ? values[p - letters] : -1;
}

int
promise_vin_check(const char *vin, int *check_digit_ok, char *err,
		  size_t errlen)
{
	static const int weights[17] = { 8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7,
					 6, 5, 4, 3, 2 };
	size_t i, len = strlen(vin);
	int sum = 0, check;

	if (len != 17) {
		util_seterr(err, errlen, "VIN must be 17 characters, got %zu",
			    len);
		return -1;
	}
	for (i = 0; i < 17; i++) {
		char c = vin[i];

		if (c == 'I' || c == 'O' || c == 'Q') {
			util_seterr(err, errlen,
				    "VIN may not contain I, O or Q (position %zu)",
				    i + 1);
			return -1;
		}
		if (vin_value(c) < 0) {
			util_seterr(err, errlen,
				    "VIN has an invalid character at position %zu "
				    "(use 0-9 and upper-case A-Z)", i + 1);
			return -1;
		}
		sum += vin_value(c) * weights[i];
	}
	check = sum % 11;
	if (check_digit_ok != NULL)
		*check_digit_ok = (check == 10 ? vin[8] == 'X' :
				   vin[8] == '0' + check);
	return 0;
}
