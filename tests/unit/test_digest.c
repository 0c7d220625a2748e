/*
 * test_digest: when the weekly digest is due (per site, across DST
 * changes and gaps), who gets it, what it says, and that it is queued in
 * the outbox exactly once per manager and period — when run twice, after
 * a restart at the same instant, and as the catch-up after downtime.
 * Instants are worked out from the zones' rules in the comments, with
 * util_days_from_civil for the day numbers.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/config.h"
#include "promised/digest.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define H INT64_C(3600)
#define M INT64_C(60)
#define DAY (24 * H)

/* UTC instant of a civil date and time. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	return util_days_from_civil(y, mo, d) * DAY + h * H + mi * M;
}

static struct cal_site test_sites[] = {
	{ .id = "ghent", .tz = "Europe/Brussels" },
	{ .id = "nyc", .tz = "America/New_York" },
};
/* Managers: ghent — carol (leads desk, manages alice and bob), boss
 * (manages carol, so desk too), nomail (leads spare; no email: skipped);
 * nyc — dave (leads us).  alice, bob, erin manage nobody. */
static struct cfg_staff test_staff[] = {
	{ .id = "boss", .name = "Big Boss", .email = "boss@example.com" },
	{ .id = "carol", .name = "Carol Lead", .email = "carol@example.com",
	  .team = "desk", .manager = "boss" },
	{ .id = "alice", .name = "Alice Adams", .email = "alice@example.com",
	  .team = "desk", .manager = "carol" },
	{ .id = "bob", .name = "Bob Brown", .email = "bob@example.com",
	  .team = "desk", .manager = "carol" },
	{ .id = "dave", .name = "Dave Diaz", .email = "dave@example.com",
	  .team = "us" },
	{ .id = "erin", .name = "Erin Ek", .email = "erin@example.com",
	  .team = "us", .manager = "dave" },
	{ .id = "nomail", .name = "No Mail", .team = "spare" },
};
static struct cfg_team test_teams[] = {
	{ .id = "desk", .lead = "carol", .site = "ghent" },
	{ .id = "us", .lead = "dave", .site = "nyc" },
	{ .id = "spare", .lead = "nomail", .site = "ghent" },
};
static struct cfg_channel test_channels[] = {
	{ .name = "log", .type = CFG_CHANNEL_LOG },
	{ .name = "mail", .type = CFG_CHANNEL_MAILDIR, .path = "/nonexistent" },
};

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	struct config cfg;
	struct digest_opts o;
	char err[512];
};

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_digest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/p.db", f->dir);
	f->st = store_open(f->path, NULL, f->err, sizeof(f->err));
	assert_non_null(f->st);
	f->cfg.sites = test_sites;
	f->cfg.nsites = 2;
	f->cfg.staff = test_staff;
	f->cfg.nstaff = sizeof(test_staff) / sizeof(test_staff[0]);
	f->cfg.teams = test_teams;
	f->cfg.nteams = 3;
	f->cfg.channels = test_channels;
	f->cfg.nchannels = 2;
	f->cfg.default_site = (char *)"ghent";
	digest_opts_init(&f->o);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- When ---------------------------------------------------------------- */

static void
test_next_due_dst(void **state)
{
	struct fx *f = *state;
	static const struct digest_site only_ghent[] = {
		{ .site = "nyc", .weekday = -1 },
	};

	f->o.sites = only_ghent;
	f->o.nsites = 1;
	/* Monday 2026-03-23 08:00 CET (+1) = 07:00Z; the next Monday is
	 * after the change of 2026-03-29: 08:00 CEST (+2) = 06:00Z, so the
	 * gap between the two is 7 days minus an hour. */
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 3, 23, 6, 59)),
			 utc(2026, 3, 23, 7, 0));
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 3, 23, 7, 0)),
			 utc(2026, 3, 30, 6, 0));
	/* And back in autumn (2026-10-25): Monday 10-19 08:00 CEST = 06:00Z,
	 * Monday 10-26 08:00 CET = 07:00Z. */
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 10, 19, 6, 0)),
			 utc(2026, 10, 26, 7, 0));
	/* Sunday 02:30 does not exist in Brussels on 2026-03-29: it moves
	 * forward by the gap to 03:30 CEST = 01:30Z. */
	f->o.weekday = 6;
	f->o.minute = 2 * 60 + 30;
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 3, 28, 12, 0)),
			 utc(2026, 3, 29, 1, 30));
	/* A week earlier it is 02:30 CET = 01:30Z as well. */
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 3, 21, 12, 0)),
			 utc(2026, 3, 22, 1, 30));
}

static void
test_next_due_per_site(void **state)
{
	struct fx *f = *state;
	static const struct digest_site sites[] = {
		{ .site = "nyc", .weekday = 4, .minute = 17 * 60 },
	};
	int64_t at, from, to;

	f->o.sites = sites;
	f->o.nsites = 1;
	/* Friday 2026-11-27 12:00Z: New York's Friday 17:00 EST (-5) is
	 * 22:00Z, before Ghent's Monday 11-30 08:00 CET = 07:00Z. */
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 11, 27, 12, 0)),
			 utc(2026, 11, 27, 22, 0));
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 11, 27, 22, 0)),
			 utc(2026, 11, 30, 7, 0));
	/* New York's Sunday 2026-11-01 01:30 happens twice (EDT, then EST):
	 * the first one, 01:30 EDT (-4) = 05:30Z. */
	static const struct digest_site sunday[] = {
		{ .site = "nyc", .weekday = 6, .minute = 90 },
		{ .site = "ghent", .weekday = -1 },
	};
	f->o.sites = sunday;
	f->o.nsites = 2;
	assert_int_equal(digest_next_due(&f->cfg, &f->o,
					 utc(2026, 10, 31, 12, 0)),
			 utc(2026, 11, 1, 5, 30));
	/* Period of the Ghent digest (default Monday 08:00) at Monday
	 * 2026-11-30 07:00Z: [11-23 00:00 CET, 11-30 00:00 CET). */
	digest_opts_init(&f->o);
	assert_int_equal(digest_period(&f->cfg, &f->o, "ghent",
				       utc(2026, 11, 30, 7, 0), &at, &from,
				       &to), 0);
	assert_int_equal(at, utc(2026, 11, 30, 7, 0));
	assert_int_equal(from, utc(2026, 11, 22, 23, 0));
	assert_int_equal(to, utc(2026, 11, 29, 23, 0));
	/* A minute earlier it is still last week's. */
	assert_int_equal(digest_period(&f->cfg, &f->o, "ghent",
				       utc(2026, 11, 30, 6, 59), &at, &from,
				       &to), 0);
	assert_int_equal(at, utc(2026, 11, 23, 7, 0));
	/* No digest anywhere. */
	f->o.weekday = -1;
	assert_int_equal(digest_next_due(&f->cfg, &f->o, utc(2026, 11, 30, 0,
							     0)), 0);
}

/* ---- Queueing -------------------------------------------------------------- */

static int64_t
add(struct fx *f, const char *title, const char *owner, const char *team,
    int64_t made, int64_t due)
{
	struct promise p;

	memset(&p, 0, sizeof(p));
	p.title = (char *)title;
	p.owner = (char *)owner;
	p.team = (char *)team;
	p.site = (char *)(strcmp(team, "us") == 0 ? "nyc" : "ghent");
	p.due_at = due;
	assert_int_equal(store_add(f->st, &p, "reception", made, f->err,
				   sizeof(f->err)), STORE_OK);
	return p.id;
}

/* The desk's week of 2026-11-23 (Brussels), by hand:
 *   alice  "Quote for Jan" made 11-24 10:00Z, due 11-25 10:00Z,
 *          closed 11-25 09:00Z: kept
 *   alice  "Lapsed brakes" made 11-26, due 11-27 10:00Z, open: lapsed
 *   bob    "Late tyres" made 11-24, due 11-24 15:00Z, closed 17:00Z:
 *          late by 2h
 *   bob    "Old promise" made 11-10 (before the period), due 11-12,
 *          open: not in the report, but lapsed right now
 * Report: made 3, kept 1, late 1 (median 2h, worst 2h), lapsed 1,
 * rate 1 / 3 = 33%.  Lapsed right now: 2. */
static void
seed(struct fx *f)
{
	int64_t id;

	id = add(f, "Quote for Jan", "alice", "desk", utc(2026, 11, 24, 10, 0),
		 utc(2026, 11, 25, 10, 0));
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "alice",
					     NULL, utc(2026, 11, 25, 9, 0),
					     f->err, sizeof(f->err)), STORE_OK);
	add(f, "Lapsed brakes", "alice", "desk", utc(2026, 11, 26, 10, 0),
	    utc(2026, 11, 27, 10, 0));
	id = add(f, "Late tyres", "bob", "desk", utc(2026, 11, 24, 9, 0),
		 utc(2026, 11, 24, 15, 0));
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "bob",
					     NULL, utc(2026, 11, 24, 17, 0),
					     f->err, sizeof(f->err)), STORE_OK);
	add(f, "Old promise", "bob", "desk", utc(2026, 11, 10, 9, 0),
	    utc(2026, 11, 12, 9, 0));
	add(f, "US callback", "erin", "us", utc(2026, 11, 24, 15, 0),
	    utc(2026, 11, 28, 15, 0));
}

static struct notification *
outbox(struct fx *f, size_t *n)
{
	struct notification *out = NULL;

	assert_int_equal(store_outbox_list(f->st, -1, 0, 100, &out, n, f->err,
					   sizeof(f->err)), STORE_OK);
	return out;
}

static const struct notification *
by_key(const struct notification *arr, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(arr[i].idem_key, key) == 0)
			return &arr[i];
	return NULL;
}

static void
run(struct fx *f, int64_t now, size_t expect)
{
	size_t queued = 99;

	assert_int_equal(digest_run(f->st, &f->cfg, &f->o, now, &queued,
				    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(queued, expect);
}

static void
test_once_per_manager_and_period(void **state)
{
	struct fx *f = *state;
	const struct notification *n;
	struct notification *arr;
	size_t cnt;
	int64_t now = utc(2026, 11, 30, 7, 0);   /* Monday 08:00 Brussels */

	seed(f);
	/* Ghent: carol and boss for the week from 11-23 (nomail has no
	 * address).  New York's Monday 08:00 EST (13:00Z) has not come yet,
	 * so its latest digest is the one of 11-23 for the week from 11-16,
	 * never queued: the catch-up sends it now. */
	run(f, now, 3);
	arr = outbox(f, &cnt);
	assert_int_equal(cnt, 3);
	n = by_key(arr, cnt, "digest.ghent.carol.2026-11-23");
	assert_non_null(n);
	assert_int_equal(n->promise_id, 0);
	assert_string_equal(n->step, "digest");
	assert_string_equal(n->channel, "mail");
	assert_string_equal(n->recipient, "carol");
	assert_int_equal(n->state, NOTIF_PENDING);
	assert_int_equal(n->scheduled_at, now);
	assert_int_equal(n->late, 0);
	assert_non_null(strstr(n->subject, "2026-11-23"));
	assert_non_null(strstr(n->body, "To: Carol Lead <carol@example.com>"));
	assert_non_null(strstr(n->body, "Subject: Promises kept"));
	assert_non_null(strstr(n->body, "Content-Type: multipart/alternative"));
	assert_non_null(by_key(arr, cnt, "digest.ghent.boss.2026-11-23"));
	n = by_key(arr, cnt, "digest.nyc.dave.2026-11-16");
	assert_non_null(n);
	assert_int_equal(n->scheduled_at, utc(2026, 11, 23, 13, 0));
	assert_int_equal(n->late, 1);
	notification_free_array(arr, cnt);

	/* Twice: nothing new; a restart (a new handle) at the same instant:
	 * nothing new. */
	run(f, now, 0);
	store_close(f->st);
	f->st = store_open(f->path, NULL, f->err, sizeof(f->err));
	assert_non_null(f->st);
	run(f, now, 0);
	run(f, now + 5 * H, 0);
	/* New York's instant: one more, for dave. */
	run(f, utc(2026, 11, 30, 13, 0), 1);
	arr = outbox(f, &cnt);
	assert_int_equal(cnt, 4);
	assert_non_null(by_key(arr, cnt, "digest.nyc.dave.2026-11-23"));
	notification_free_array(arr, cnt);
}

/* One promise made long before every instant of these tests: the
 * database has been in service since 2026-11-02. */
static void
in_service(struct fx *f)
{
	add(f, "First promise", "alice", "desk", utc(2026, 11, 2, 9, 0),
	    utc(2026, 11, 2, 17, 0));
}

static void
test_outbox_carries_it(void **state)
{
	struct fx *f = *state;
	struct notification *claimed = NULL;
	size_t n = 0;

	in_service(f);
	run(f, utc(2026, 11, 30, 7, 0), 3);
	/* The daemon's claim takes them like any other row. */
	assert_int_equal(store_outbox_claim(f->st, utc(2026, 11, 30, 7, 0), 10,
					    &claimed, &n, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_outbox_result(f->st, claimed[0].id, NOTIF_SENT,
					     0, NULL, "250 ok",
					     utc(2026, 11, 30, 7, 1), f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_result(f->st, claimed[1].id, NOTIF_RETRY,
					     utc(2026, 11, 30, 8, 0), "421",
					     NULL, utc(2026, 11, 30, 7, 1),
					     f->err, sizeof(f->err)), STORE_OK);
	notification_free_array(claimed, n);
	/* A row sent or waiting for its retry is not queued again. */
	run(f, utc(2026, 11, 30, 7, 2), 0);
}

static void
test_catch_up_after_downtime(void **state)
{
	struct fx *f = *state;
	static const struct digest_site no_nyc[] = {
		{ .site = "nyc", .weekday = -1 },
	};
	struct notification *arr;
	const struct notification *n;
	size_t cnt;

	f->o.sites = no_nyc;
	f->o.nsites = 1;
	in_service(f);
	/* Monday 2026-11-30 06:00Z, an hour before the instant: last week's
	 * digest (of 11-23, for the week from 11-16) goes out. */
	run(f, utc(2026, 11, 30, 6, 0), 2);
	/* Down from 06:30Z until Wednesday 12-02 10:00Z: this week's is
	 * sent once when it comes back, marked late. */
	run(f, utc(2026, 12, 2, 10, 0), 2);
	run(f, utc(2026, 12, 2, 10, 0), 0);
	run(f, utc(2026, 12, 6, 23, 0), 0);
	arr = outbox(f, &cnt);
	assert_int_equal(cnt, 4);
	n = by_key(arr, cnt, "digest.ghent.carol.2026-11-23");
	assert_non_null(n);
	assert_int_equal(n->scheduled_at, utc(2026, 11, 30, 7, 0));
	assert_int_equal(n->late, 1);
	notification_free_array(arr, cnt);
	/* The next Monday's comes on time. */
	run(f, utc(2026, 12, 7, 7, 0), 2);
}

/* A database put in service on Wednesday 11-25 never sends the digest
 * of an instant before that (Monday 11-23); its first is on 11-30. */
static void
test_no_catch_up_before_service(void **state)
{
	struct fx *f = *state;
	static const struct digest_site no_nyc[] = {
		{ .site = "nyc", .weekday = -1 },
	};

	f->o.sites = no_nyc;
	f->o.nsites = 1;
	run(f, utc(2026, 11, 25, 12, 0), 0);   /* no promise at all yet */
	add(f, "Quote", "alice", "desk", utc(2026, 11, 25, 12, 0),
	    utc(2026, 11, 26, 12, 0));
	run(f, utc(2026, 11, 25, 12, 0), 0);
	run(f, utc(2026, 11, 30, 6, 59), 0);
	run(f, utc(2026, 11, 30, 7, 0), 2);    /* carol and boss */
}

static void
test_content(void **state)
{
	struct fx *f = *state;
	struct digest_period week = { utc(2026, 11, 22, 23, 0),
				      utc(2026, 11, 29, 23, 0) };
	struct digest_text out = { 0 };
	const char *text;

	seed(f);
	assert_int_equal(digest_render(f->st, &f->cfg, &f->o, "ghent", "carol",
				       week, utc(2026, 11, 30, 7, 0), &out,
				       f->err, sizeof(f->err)),
			 STORE_OK);
	text = out.text;
	assert_string_equal(out.subject,
			    "Promises kept: the week of 2026-11-23 "
			    "(ghent)");
	assert_non_null(strstr(text, "Hello Carol Lead,"));
	assert_non_null(strstr(text, "from 2026-11-23 to 2026-11-29"));
	assert_non_null(strstr(text, "Team desk"));
	assert_non_null(strstr(text, "Made 3, kept 1, late 1 (median 2h, "
			       "worst 2h), lapsed 1, open 0, cancelled 0"));
	assert_non_null(strstr(text, "Keeping rate 33%"));
	assert_non_null(strstr(text, "Lapsed right now: 2"));
	assert_non_null(strstr(text, "Lapsed brakes"));
	assert_non_null(strstr(text, "Old promise"));
	assert_null(strstr(text, "US callback"));   /* not carol's team */
	assert_null(strstr(text, "Team us"));
	assert_non_null(strstr(out.html, "Lapsed brakes"));
	assert_non_null(strstr(out.html,
			       "<b style=\"font-size:20px\">33%</b>"));
	free(out.subject);
	free(out.text);
	free(out.html);
}

static void
test_no_channel(void **state)
{
	struct fx *f = *state;
	size_t queued = 7;

	f->cfg.nchannels = 0;
	assert_int_equal(digest_run(f->st, &f->cfg, &f->o,
				    utc(2026, 11, 30, 7, 0), &queued, f->err,
				    sizeof(f->err)), STORE_INVALID);
	assert_int_equal(queued, 0);
	assert_non_null(strstr(f->err, "no email channel"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_next_due_dst, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_next_due_per_site, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_once_per_manager_and_period,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_carries_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_after_downtime,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_catch_up_before_service,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_channel, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
