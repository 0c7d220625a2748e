/*
 * test_outbox_fallback: store_outbox_fallback — a dead row's copy on the
 * step's next channel with its own key, the timeline note, a second call
 * that changes nothing, and rows that may not fall back (not dead).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/promise.h"
#include "promised/store.h"

/* 2026-11-29T08:00:00Z. */
#define T0 INT64_C(1795939200)

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	int64_t pid;
	char err[512];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct promise p;
	int rc = 0;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/promised-fallback-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/promised.db", f->dir);
	f->st = store_open(f->path, &rc, f->err, sizeof(f->err));
	if (f->st == NULL)
		return -1;
	memset(&p, 0, sizeof(p));
	p.title = (char *)"Call back about the brakes";
	p.owner = (char *)"alice";
	p.due_at = T0 + 3600;
	if (store_add(f->st, &p, "reception", T0, f->err, sizeof(f->err)) !=
	    STORE_OK)
		return -1;
	f->pid = p.id;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char side[160];

	store_close(f->st);
	unlink(f->path);
	snprintf(side, sizeof(side), "%s-wal", f->path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", f->path);
	unlink(side);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Queues one row on channel sms (index 0), claims it and returns its id. */
static int64_t
queue_and_claim(struct fx *f)
{
	struct notification nt, *out = NULL;
	struct store_fire fire = { .notifs = &nt, .nnotifs = 1,
				   .fired_through = T0 + 3600,
				   .kind = EVENT_ESCALATED, .detail = "lapse" };
	size_t n = 0;
	int64_t id;

	memset(&nt, 0, sizeof(nt));
	nt.step = (char *)"lapse";
	nt.step_index = 2;
	nt.repeat = 1;
	nt.channel = (char *)"sms";
	nt.recipient = (char *)"alice";
	nt.subject = (char *)"Promise lapsed";
	nt.body = (char *)"Call the customer";
	nt.idem_key = (char *)"p1.s2.r1.alice.sms.d1";
	nt.scheduled_at = T0 + 3600;
	assert_int_equal(store_fire(f->st, f->pid, &fire, T0 + 3600, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_claim(f->st, T0 + 3600, 10, &out, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	id = out[0].id;
	notification_free_array(out, n);
	return id;
}

static size_t
notes_with(struct fx *f, const char *text)
{
	struct event *ev = NULL;
	size_t i, n = 0, c = 0;

	assert_int_equal(store_events(f->st, f->pid, &ev, &n, f->err,
				      sizeof(f->err)), STORE_OK);
	for (i = 0; i < n; i++)
		c += ev[i].kind == EVENT_NOTE && ev[i].detail != NULL &&
		     strcmp(ev[i].detail, text) == 0;
	event_free_array(ev, n);
	return c;
}

static void
test_fallback_row_and_event(void **state)
{
	struct fx *f = *state;
	struct notification *out = NULL;
	int64_t dead = queue_and_claim(f), id = -1, again = -1;
	size_t n = 0;

	assert_int_equal(store_outbox_result(f->st, dead, NOTIF_DEAD, 0,
					     "HTTP 400", NULL, T0 + 3601,
					     f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_fallback(f->st, dead, "mail", "HTTP 400",
					       T0 + 3602, &id, f->err,
					       sizeof(f->err)), STORE_OK);
	assert_true(id > dead);
	assert_int_equal(notes_with(f, "fallback from sms to mail for alice: "
				    "HTTP 400"), 1);
	/* Newest first: the fallback, then the dead row. */
	assert_int_equal(store_outbox_list(f->st, -1, f->pid, 0, &out, &n,
					   f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, id);
	assert_int_equal(out[0].state, NOTIF_PENDING);
	assert_int_equal(out[0].attempts, 0);
	assert_int_equal(out[0].channel_index, 1);
	assert_string_equal(out[0].channel, "mail");
	assert_string_equal(out[0].idem_key, "p1.s2.r1.alice.sms.d1.f1.mail");
	assert_string_equal(out[0].step, "lapse");
	assert_int_equal(out[0].step_index, 2);
	assert_int_equal(out[0].repeat, 1);
	assert_string_equal(out[0].recipient, "alice");
	assert_string_equal(out[0].body, "Call the customer");
	/* A fresh row: its age (max_age) counts from the fallback. */
	assert_int_equal(out[0].created_at, T0 + 3602);
	assert_int_equal(out[0].next_try_at, T0 + 3602);
	assert_int_equal(out[1].state, NOTIF_DEAD);
	notification_free_array(out, n);
	/* Twice: no second row, no second note. */
	assert_int_equal(store_outbox_fallback(f->st, dead, "mail", "HTTP 400",
					       T0 + 3603, &again, f->err,
					       sizeof(f->err)), STORE_OK);
	assert_int_equal(again, 0);
	assert_int_equal(notes_with(f, "fallback from sms to mail for alice: "
				    "HTTP 400"), 1);
}

static void
test_only_dead_rows(void **state)
{
	struct fx *f = *state;
	int64_t id = queue_and_claim(f), nid = -1;

	/* Still sending: refused, nothing queued. */
	assert_int_equal(store_outbox_fallback(f->st, id, "mail", "x", T0, &nid,
					       f->err, sizeof(f->err)),
			 STORE_CONFLICT);
	assert_int_equal(nid, 0);
	assert_int_equal(store_outbox_fallback(f->st, id + 100, "mail", "x", T0,
					       NULL, f->err, sizeof(f->err)),
			 STORE_NOTFOUND);
	assert_int_equal(store_outbox_fallback(f->st, id, "", "x", T0, NULL,
					       f->err, sizeof(f->err)),
			 STORE_INVALID);
}

/* A digest belongs to no promise: it can die and fall back like any
 * other row, with no timeline to write to. */
static void
test_digest_row_dies_and_falls_back(void **state)
{
	struct fx *f = *state;
	struct notification nt, *out = NULL;
	size_t n = 0;
	int added = 0;
	int64_t nid = -1;

	memset(&nt, 0, sizeof(nt));
	nt.step = (char *)"digest";
	nt.channel = (char *)"smtp";
	nt.recipient = (char *)"carol";
	nt.subject = (char *)"Week 48";
	nt.body = (char *)"Subject: Week 48\r\n\r\nreport\r\n";
	nt.idem_key = (char *)"digest.leuven.carol.2026-11-23";
	assert_int_equal(store_outbox_queue_plain(f->st, &nt, T0, &added,
						  f->err, sizeof(f->err)),
			 STORE_OK);
	assert_int_equal(added, 1);
	assert_int_equal(store_outbox_claim(f->st, T0, 10, &out, &n, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].promise_id, 0);
	assert_int_equal(store_outbox_result(f->st, out[0].id, NOTIF_DEAD, 0,
					     "550 no such user", NULL, T0,
					     f->err, sizeof(f->err)),
			 STORE_OK);
	assert_int_equal(store_outbox_fallback(f->st, out[0].id, "mail",
					       "550 no such user", T0, &nid,
					       f->err, sizeof(f->err)),
			 STORE_OK);
	assert_true(nid > out[0].id);
	notification_free_array(out, n);
	out = NULL;
	assert_int_equal(store_outbox_claim(f->st, T0, 10, &out, &n, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].id, nid);
	assert_int_equal(out[0].promise_id, 0);
	assert_string_equal(out[0].channel, "mail");
	notification_free_array(out, n);
	assert_int_equal(store_integrity_check(f->st, f->err, sizeof(f->err)),
			 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fallback_row_and_event,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_dead_rows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_digest_row_dies_and_falls_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
