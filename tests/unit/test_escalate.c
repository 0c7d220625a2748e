/*
 * Tests of escalate against a real config file and a real store in a
 * temporary folder: which notifications a run queues, for whom, on which
 * channel, and what the timeline says.  The clock is injected; instants
 * are UTC numbers worked out from Brussels winter time (CET = UTC+1).
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
#include <sqlite3.h>

#include "promised/config.h"
#include "promised/escalate.h"
#include "promised/store.h"
#include "promised/util.h"

#define MIN 60
#define HOUR 3600

static const char config_yaml[] =
	"database: promised.db\n"
	"sites:\n"
	"  bru:\n"
	"    timezone: Europe/Brussels\n"
	"    hours:\n"
	"      mon: [08:00-18:00]\n"
	"      tue: [08:00-18:00]\n"
	"      wed: [08:00-18:00]\n"
	"      thu: [08:00-18:00]\n"
	"      fri: [08:00-18:00]\n"
	"      sat: closed\n"
	"      sun: closed\n"
	"staff:\n"
	"  - id: alice\n"
	"    name: Alice Martens\n"
	"    email: alice@example.com\n"
	"    team: sales\n"
	"    manager: carol\n"
	"  - id: carol\n"
	"    name: Carol Peeters\n"
	"    email: carol@example.com\n"
	"  - id: dave\n"
	"    name: Dave Wouters\n"
	"    email: dave@example.com\n"
	"    team: sales\n"
	"    manager: carol\n"
	"teams:\n"
	"  sales:\n"
	"    lead: dave\n"
	"    site: bru\n"
	"channels:\n"
	"  mail:\n"
	"    type: maildir\n"
	"    path: maildir\n"
	"  log:\n"
	"    type: log\n"
	"default_policy: standard\n"
	"policies:\n"
	"  standard:\n"
	"    - name: reminder\n"
	"      anchor: target\n"
	"      offset: -2h\n"
	"      to: [owner]\n"
	"      channels: [mail, log]\n"
	"      hours: business\n"
	"    - name: lapse\n"
	"      offset: 0\n"
	"      to: [owner, owner.manager]\n"
	"      channels: [mail]\n"
	"    - name: escalation\n"
	"      offset: +1h\n"
	"      to: [team.lead]\n"
	"      channels: [log, mail]\n"
	"      repeat:\n"
	"        every: 30m\n"
	"        max: 2\n"
	"  team-wide:\n"
	"    - name: all-hands\n"
	"      offset: 0\n"
	"      to: [team:sales, owner, alice]\n"
	"      channels: [log]\n"
	"  remind-only:\n"
	"    - name: reminder\n"
	"      anchor: target\n"
	"      offset: -2h\n"
	"      to: [owner]\n"
	"      channels: [mail]\n";

struct fixture {
	char dir[64];
	char cfgpath[128];
	char dbpath[128];
	struct config *cfg;
	struct store *st;
	struct escalate *esc;
};

static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	return util_days_from_civil(y, mo, d) * 86400 + h * HOUR + mi * MIN;
}

/* Wednesday 2026-11-25: due 16:00 CET = 15:00Z, target 14:00 CET =
 * 13:00Z, so the reminder is at 12:00 CET = 11:00Z (open hours). */
#define DUE (utc(2026, 11, 25, 15, 0))
#define TARGET (utc(2026, 11, 25, 13, 0))
#define REMIND (utc(2026, 11, 25, 11, 0))
#define CREATED (utc(2026, 11, 25, 8, 0))

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct config_errors errs = { NULL, 0 };
	char err[256];
	FILE *fp;
	size_t i;

	assert_non_null(fx);
	util_strlcpy(fx->dir, "/tmp/promised-escalate-XXXXXX", sizeof(fx->dir));
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->cfgpath, sizeof(fx->cfgpath), "%s/promised.yaml", fx->dir);
	snprintf(fx->dbpath, sizeof(fx->dbpath), "%s/test.db", fx->dir);
	fp = fopen(fx->cfgpath, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(config_yaml, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	fx->cfg = config_load(fx->cfgpath, &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	config_errors_clear(&errs);
	assert_non_null(fx->cfg);
	fx->st = store_open(fx->dbpath, NULL, err, sizeof(err));
	if (fx->st == NULL)
		fprintf(stderr, "%s\n", err);
	assert_non_null(fx->st);
	fx->esc = escalate_new(fx->cfg);
	store_set_next_fn(fx->st, escalate_next_step_at, fx->esc);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char path[192];
	static const char *const files[] = {
		"test.db", "test.db-wal", "test.db-shm", "promised.yaml",
	};
	size_t i;

	store_close(fx->st);
	escalate_free(fx->esc);
	config_free(fx->cfg);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
		unlink(path);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int64_t
add_promise(struct fixture *fx, const char *owner, const char *policy)
{
	struct promise p;
	char err[256];

	memset(&p, 0, sizeof(p));
	p.title = "Call back about the brake quote";
	p.owner = (char *)owner;
	p.team = "sales";
	p.policy = (char *)policy;
	p.customer_name = "Jan Smets";
	p.customer_phone = "+32470999888";
	p.vehicle = "VW Golf";
	p.vin = "WVWZZZ1KZAW000001";
	p.due_at = DUE;
	p.target_at = TARGET;
	if (store_add(fx->st, &p, "test", CREATED, err, sizeof(err)) != 0)
		fail_msg("store_add: %s", err);
	return p.id;
}

static size_t
run(struct fixture *fx, int64_t now)
{
	size_t n = 99;
	char err[256];

	if (escalate_run(fx->esc, fx->st, now, &n, err, sizeof(err)) != 0)
		fail_msg("escalate_run: %s", err);
	return n;
}

/* Notifications of promise id, oldest first (the store lists newest
 * first). */
static size_t
outbox(struct fixture *fx, int64_t id, struct notification **out)
{
	struct notification *rows = NULL, tmp;
	size_t n = 0, i;
	char err[256];

	if (store_outbox_list(fx->st, -1, id, 1000, &rows, &n, err,
			      sizeof(err)) != 0)
		fail_msg("store_outbox_list: %s", err);
	for (i = 0; i < n / 2; i++) {
		tmp = rows[i];
		rows[i] = rows[n - 1 - i];
		rows[n - 1 - i] = tmp;
	}
	*out = rows;
	return n;
}

static size_t
count_events(struct fixture *fx, int64_t id, enum event_kind kind)
{
	struct event *ev = NULL;
	size_t n = 0, i, c = 0;
	char err[256];

	if (store_events(fx->st, id, &ev, &n, err, sizeof(err)) != 0)
		fail_msg("store_events: %s", err);
	for (i = 0; i < n; i++)
		if (ev[i].kind == kind)
			c++;
	event_free_array(ev, n);
	return c;
}

static struct promise
get(struct fixture *fx, int64_t id)
{
	struct promise p;
	char err[256];

	if (store_get(fx->st, id, &p, err, sizeof(err)) != 0)
		fail_msg("store_get: %s", err);
	return p;
}

static int
has_recipient(const struct notification *n, size_t count, const char *who)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(n[i].recipient, who) == 0)
			return 1;
	return 0;
}

static void
test_reminder_to_owner(void **state)
{
	struct fixture *fx = *state;
	int64_t id = add_promise(fx, "alice", NULL);
	struct notification *n = NULL;
	struct promise p = get(fx, id);
	char key[128];
	size_t cnt;

	assert_int_equal(p.next_step_at, REMIND);
	promise_clear(&p);
	assert_int_equal(run(fx, REMIND - 1), 0);
	assert_int_equal(run(fx, REMIND), 1);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 1);
	assert_string_equal(n[0].recipient, "alice");
	assert_string_equal(n[0].channel, "mail");
	assert_int_equal(n[0].channel_index, 0);
	assert_string_equal(n[0].step, "reminder");
	assert_int_equal(n[0].step_index, 0);
	assert_int_equal(n[0].repeat, 0);
	assert_int_equal(n[0].late, 0);
	assert_int_equal(n[0].scheduled_at, REMIND);
	snprintf(key, sizeof(key), "p%lld.s0.r0.alice.mail.d%lld",
		 (long long)id, (long long)DUE);
	assert_string_equal(n[0].idem_key, key);
	/* Due 16:00 Brussels time, not the UTC 15:00. */
	assert_non_null(strstr(n[0].subject, "Reminder: "));
	assert_non_null(strstr(n[0].subject, "2026-11-25 16:00"));
	assert_non_null(strstr(n[0].body, "Jan Smets"));
	assert_non_null(strstr(n[0].body, "+32470999888"));
	assert_non_null(strstr(n[0].body, "WVWZZZ1KZAW000001"));
	assert_null(strstr(n[0].body, "late"));
	notification_free_array(n, cnt);
	assert_int_equal(count_events(fx, id, EVENT_REMINDED), 1);
	assert_int_equal(count_events(fx, id, EVENT_ESCALATED), 0);
	p = get(fx, id);
	assert_int_equal(p.fired_through, REMIND);
	assert_int_equal(p.next_step_at, DUE);
	promise_clear(&p);
}

/* A promise whose steps cannot be written (a trigger refuses its
 * event) fails alone: the batch, fired without a savepoint per promise,
 * is rolled back and fired again with one, and the others' steps are
 * kept. */
static void
test_broken_promise_fails_alone(void **state)
{
	struct fixture *fx = *state;
	int64_t a = add_promise(fx, "alice", NULL);
	int64_t b = add_promise(fx, "alice", NULL);
	int64_t c = add_promise(fx, "alice", NULL);
	struct notification *n = NULL;
	struct promise p;
	char path[192], sql[256], err[256] = "";
	size_t queued = 99;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/test.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "CREATE TRIGGER broken BEFORE INSERT ON"
		 " events WHEN NEW.promise_id = %lld AND NEW.kind ="
		 " 'reminded' BEGIN SELECT RAISE(ABORT, 'refused by test');"
		 " END;", (long long)b);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(escalate_run(fx->esc, fx->st, REMIND, &queued, err,
				      sizeof(err)), -1);
	assert_non_null(strstr(err, "refused by test"));
	assert_int_equal(queued, 2);
	assert_int_equal(count_events(fx, a, EVENT_REMINDED), 1);
	assert_int_equal(count_events(fx, c, EVENT_REMINDED), 1);
	assert_int_equal(count_events(fx, b, EVENT_REMINDED), 0);
	assert_int_equal(outbox(fx, b, &n), 0);
	free(n);
	n = NULL;
	assert_int_equal(outbox(fx, c, &n), 1);
	notification_free_array(n, 1);
	/* Nothing of b was kept: its step is still to come. */
	p = get(fx, b);
	assert_int_equal(p.fired_through, 0);
	assert_int_equal(p.next_step_at, REMIND);
	promise_clear(&p);
}

static void
test_lapse_once_and_idempotent(void **state)
{
	struct fixture *fx = *state;
	int64_t id = add_promise(fx, "alice", NULL);
	struct notification *n = NULL;
	struct promise p;
	size_t cnt;

	assert_int_equal(run(fx, REMIND), 1);
	assert_int_equal(run(fx, DUE), 2);
	/* The same now again, and a little later: nothing new. */
	assert_int_equal(run(fx, DUE), 0);
	assert_int_equal(run(fx, DUE + 10 * MIN), 0);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 3);
	assert_int_equal(has_recipient(n + 1, 2, "alice"), 1);
	assert_int_equal(has_recipient(n + 1, 2, "carol"), 1);
	assert_string_equal(n[1].step, "lapse");
	assert_string_equal(n[2].step, "lapse");
	assert_non_null(strstr(n[1].subject, "Lapsed: "));
	notification_free_array(n, cnt);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 1);
	assert_int_equal(count_events(fx, id, EVENT_ESCALATED), 1);
	p = get(fx, id);
	assert_int_equal(p.lapsed_at, DUE);
	assert_int_equal(p.next_step_at, DUE + HOUR);
	promise_clear(&p);
	/* The escalation and its two repeats go to the lead on "log", the
	 * first channel, then nothing is left. */
	assert_int_equal(run(fx, DUE + HOUR), 1);
	assert_int_equal(run(fx, DUE + 90 * MIN), 1);
	assert_int_equal(run(fx, DUE + 2 * HOUR), 1);
	assert_int_equal(run(fx, DUE + 5 * HOUR), 0);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 6);
	assert_string_equal(n[5].recipient, "dave");
	assert_string_equal(n[5].channel, "log");
	assert_int_equal(n[5].repeat, 2);
	notification_free_array(n, cnt);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 1);
	p = get(fx, id);
	assert_int_equal(p.next_step_at, 0);
	promise_clear(&p);
}

static void
test_catch_up_after_downtime(void **state)
{
	struct fixture *fx = *state;
	int64_t id = add_promise(fx, "alice", NULL);
	struct notification *n = NULL;
	size_t cnt;

	/* Down from before the reminder until 1 h 45 after due: reminder,
	 * lapse, escalation and its first repeat were missed.  One
	 * notification: the repeat (most escalated), marked late. */
	assert_int_equal(run(fx, DUE + 105 * MIN), 1);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 1);
	assert_string_equal(n[0].step, "escalation");
	assert_int_equal(n[0].repeat, 1);
	assert_string_equal(n[0].recipient, "dave");
	assert_int_equal(n[0].late, 1);
	assert_int_equal(n[0].scheduled_at, DUE + 90 * MIN);
	assert_non_null(strstr(n[0].body, "(late: sent after downtime)"));
	notification_free_array(n, cnt);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 1);
	/* The next repeat comes on time again. */
	assert_int_equal(run(fx, DUE + 2 * HOUR), 1);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 2);
	assert_int_equal(n[1].late, 0);
	notification_free_array(n, cnt);
}

static void
test_ack_stops_reminder_not_escalation(void **state)
{
	struct fixture *fx = *state;
	int64_t id = add_promise(fx, "alice", NULL);
	struct notification *n = NULL;
	struct promise p;
	char err[256];
	size_t cnt;

	if (store_ack(fx->st, id, "alice", CREATED + HOUR, err,
		      sizeof(err)) != 0)
		fail_msg("store_ack: %s", err);
	p = get(fx, id);
	assert_int_equal(p.next_step_at, DUE);
	promise_clear(&p);
	/* No reminder to the owner once acked. */
	assert_int_equal(run(fx, REMIND), 0);
	/* The lapse step tells the manager too, so it stops only on close;
	 * then the lead gets the escalation on time. */
	assert_int_equal(run(fx, DUE), 2);
	assert_int_equal(run(fx, DUE + HOUR), 1);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 3);
	assert_string_equal(n[2].recipient, "dave");
	assert_string_equal(n[2].step, "escalation");
	assert_int_equal(n[2].late, 0);
	assert_non_null(strstr(n[2].subject, "Escalation: "));
	notification_free_array(n, cnt);
	assert_int_equal(count_events(fx, id, EVENT_REMINDED), 0);
	assert_int_equal(count_events(fx, id, EVENT_ESCALATED), 2);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 1);
	/* Closed: nothing more, and nothing scheduled. */
	if (store_close_promise(fx->st, id, OUTCOME_KEPT, "alice", NULL,
				DUE + 80 * MIN, err, sizeof(err)) != 0)
		fail_msg("store_close_promise: %s", err);
	assert_int_equal(run(fx, DUE + 2 * HOUR), 0);
	p = get(fx, id);
	assert_int_equal(p.next_step_at, 0);
	promise_clear(&p);
}

static void
test_recipients_resolve_and_dedupe(void **state)
{
	struct fixture *fx = *state;
	int64_t a = add_promise(fx, "alice", "team-wide");
	int64_t c = add_promise(fx, "carol", NULL);
	struct notification *n = NULL;
	size_t cnt;

	/* team:sales is alice and dave; owner and "alice" are alice again.
	 * carol's promise missed its reminder (11:00Z) too, so it gets the
	 * lapse alone, late: 2 + 1. */
	assert_int_equal(run(fx, DUE), 3);
	cnt = outbox(fx, a, &n);
	assert_int_equal(cnt, 2);
	assert_int_equal(has_recipient(n, cnt, "alice"), 1);
	assert_int_equal(has_recipient(n, cnt, "dave"), 1);
	assert_string_equal(n[0].channel, "log");
	notification_free_array(n, cnt);
	/* carol has no manager: the lapse reaches carol only, and the
	 * missing manager is skipped with a warning. */
	cnt = outbox(fx, c, &n);
	assert_int_equal(cnt, 1);
	assert_string_equal(n[0].recipient, "carol");
	assert_string_equal(n[0].step, "lapse");
	assert_int_equal(n[0].late, 1);
	notification_free_array(n, cnt);
	assert_int_equal(count_events(fx, c, EVENT_LAPSED), 1);
	assert_int_equal(count_events(fx, a, EVENT_LAPSED), 1);
}

static void
test_lapse_without_step_at_due(void **state)
{
	struct fixture *fx = *state;
	int64_t id = add_promise(fx, "alice", "remind-only");
	struct promise p;

	assert_int_equal(run(fx, REMIND), 1);
	p = get(fx, id);
	assert_int_equal(p.next_step_at, DUE);
	promise_clear(&p);
	/* Nothing to send at due, but the lapse is recorded on time. */
	assert_int_equal(run(fx, DUE), 0);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 1);
	p = get(fx, id);
	assert_int_equal(p.lapsed_at, DUE);
	assert_int_equal(p.next_step_at, 0);
	promise_clear(&p);
	assert_int_equal(run(fx, DUE + HOUR), 0);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 1);
}

static void
test_renegotiate_fires_again(void **state)
{
	struct fixture *fx = *state;
	int64_t id = add_promise(fx, "alice", NULL);
	struct notification *n = NULL;
	struct promise p;
	char err[256], key[128];
	size_t cnt;

	assert_int_equal(run(fx, REMIND), 1);
	/* One day later: the reminder (target stays, so it is anchored on
	 * the old target and already done) and the lapse move with due. */
	if (store_renegotiate(fx->st, id, DUE + 86400, "customer asked",
			      "alice", REMIND + HOUR, err, sizeof(err)) != 0)
		fail_msg("store_renegotiate: %s", err);
	p = get(fx, id);
	assert_int_equal(p.next_step_at, DUE + 86400);
	promise_clear(&p);
	assert_int_equal(run(fx, DUE + 10 * MIN), 0);
	assert_int_equal(count_events(fx, id, EVENT_LAPSED), 0);
	assert_int_equal(run(fx, DUE + 86400), 2);
	cnt = outbox(fx, id, &n);
	assert_int_equal(cnt, 3);
	assert_int_equal(n[1].scheduled_at, DUE + 86400);
	/* A new due is a new key, so the store does not drop it. */
	snprintf(key, sizeof(key), "p%lld.s1.r0.%s.mail.d%lld", (long long)id,
		 n[1].recipient, (long long)(DUE + 86400));
	assert_string_equal(n[1].idem_key, key);
	notification_free_array(n, cnt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reminder_to_owner, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_broken_promise_fails_alone,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lapse_once_and_idempotent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_after_downtime,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_ack_stops_reminder_not_escalation, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_recipients_resolve_and_dedupe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lapse_without_step_at_due,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_renegotiate_fires_again,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
