/*
 * Unit tests of the report: a seeded history with answers worked out by
 * hand (below), checked number by number for every row by owner and by
 * team, the site grouping, the zone choice, the writers and an empty
 * period.  Histories are built through the store API with explicit
 * `now` values, notifications through store_fire, store_outbox_claim and
 * store_outbox_result, exactly as the daemon leaves them.
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
#include "promised/promise.h"
#include "promised/report.h"
#include "promised/store.h"

/* 2026-11-02T00:00:00Z, a Monday: 20759 days after 1970-01-01. */
#define T0 INT64_C(1793577600)
#define H INT64_C(3600)
#define M INT64_C(60)
#define DAY (24 * H)
/* The report is taken six days in. */
#define NOW (T0 + 144 * H)

/*
 * The seeded history (times are hours after T0; the period is
 * [T0, T0 + 7 days); "sent" rows went through claim + result SENT):
 *
 *  P1  alice desk ghent  made 1   due 10   reminder sent 7 (step 7)
 *                        closed 8: kept early; reminder->done 1h
 *  P2  alice             made 2   due 20   closed 20 exactly: kept
 *  P3  alice             made 3   due 24   reminder sent 23 (step 23),
 *                        escalation to carol sent 25 (step 25 > due 24),
 *                        closed 26: late by 2h; reminder->done 3h
 *  P4  dave  us nyc      made 4   due 30   escalations at 30:15 (step
 *                        30:15 > due): to dave's lead sent, to carol
 *                        DEAD (not sent, not counted); closed 30:30:
 *                        late by 30m; reminder->done 15m
 *  P5  alice             made 5   due 30, renegotiated at 10 to 40;
 *                        escalation sent 41 (step 41 > due 40 in force);
 *                        renegotiated at 42 to 50 (the sent escalation
 *                        still counts); closed 45: kept;
 *                        renegotiated twice; reminder->done 4h
 *  P6  bob   desk ghent  made 6   due 48   cancelled at 12
 *  P7  bob               made 7   due 50   escalation sent 51; never
 *                        closed: lapsed at NOW (144)
 *  P8  dave              made 8   due 20   reminder sent 18; closed 19
 *                        (kept), reopened 21: counts by its current
 *                        state, open and past due -> lapsed; no
 *                        reminder->done (not done)
 *  P9  dave              made 9   due 200  open, not yet due -> open
 *  P12 bob               made 0 (== from, included)  due 5
 *                        closed 2: kept
 *  P13 erin (no team, no site, not in the staff list)  made 10
 *                        due 100, renegotiated at 11 to 110; still
 *                        open at NOW (144 > 110) -> lapsed
 *  P10 alice made -1 (before from) and P11 alice made 168 (== to):
 *      outside the period, though P10 is late and P11 cancelled.
 *
 * By owner (keeping rate = kept / (kept + late + lapsed)):
 *  alice: made 4 (P1 P2 P3 P5), kept 3, late 1, late median 2h, worst
 *         2h, lapsed 0, open 0, cancelled 0, renegotiated 1 (2 times),
 *         rate 3/4 = 0.75, escalations 2 (P3, P5), reminded done 3
 *         (1h, 3h, 4h) -> median 3h
 *  bob:   made 3 (P6 P7 P12), kept 1, late 0 (no median/worst), lapsed
 *         1, open 0, cancelled 1, renegotiated 0, rate 1/2 = 0.5,
 *         escalations 1 (P7), reminded done 0 (no median)
 *  dave:  made 3 (P4 P8 P9), kept 0, late 1, median 30m, worst 30m,
 *         lapsed 1, open 1, cancelled 0, renegotiated 0, rate 0/2 = 0,
 *         escalations 1 (P4; the dead one does not count), reminded
 *         done 1 (15m) -> median 15m
 *  erin:  made 1 (P13), lapsed 1, renegotiated 1 (1 time), rate 0/1 = 0
 *  total: made 11, kept 4, late 2, median of {30m, 2h} = 1h15m, worst
 *         2h, lapsed 3, open 1, cancelled 1, renegotiated 2 (3 times),
 *         rate 4/(4+2+3) = 0.4444, escalations 4, reminded done 4 with
 *         {15m, 1h, 3h, 4h} -> median (1h + 3h)/2 = 2h
 * By team: desk = alice + bob, us = dave, then erin's group without a
 * team last:
 *  desk:  made 7, kept 4, late 1, median 2h, worst 2h, lapsed 1, open 0,
 *         cancelled 1, renegotiated 1 (2), rate 4/6 = 0.6667,
 *         escalations 3, reminded done 3 -> median 3h
 */

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	struct config cfg;
	char err[512];
	int64_t p[14];     /* ids by the P numbers above */
	int seq;           /* for unique idem keys */
};

static struct cal_site test_sites[] = {
	{ .id = "ghent", .tz = "Europe/Brussels" },
	{ .id = "nyc", .tz = "America/New_York" },
};
static struct cfg_staff test_staff[] = {
	{ .id = "carol", .team = "desk" },
	{ .id = "alice", .team = "desk", .manager = "carol" },
	{ .id = "bob", .team = "desk", .manager = "carol" },
	{ .id = "dave", .team = "us" },
};
static struct cfg_team test_teams[] = {
	{ .id = "desk", .lead = "carol", .site = "ghent" },
	{ .id = "us", .lead = "dave", .site = "nyc" },
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

static int64_t
add(struct fx *f, const char *owner, const char *team, const char *site,
    int64_t made, int64_t due)
{
	struct promise p;

	memset(&p, 0, sizeof(p));
	p.title = (char *)"Call back about the quote";
	p.owner = (char *)owner;
	p.team = (char *)team;
	p.site = (char *)site;
	p.due_at = due;
	assert_int_equal(store_add(f->st, &p, "reception", made, f->err,
				   sizeof(f->err)), STORE_OK);
	return p.id;
}

/* Fires one notification for promise id at `at` (step instant
 * `scheduled`), claims it and records `result`. */
static void
notify(struct fx *f, int64_t id, const char *rcpt, int64_t at,
       int64_t scheduled, enum event_kind kind, enum notif_state result)
{
	struct notification nt, *claimed = NULL;
	struct store_fire fire;
	char key[64];
	size_t n = 0;

	memset(&nt, 0, sizeof(nt));
	snprintf(key, sizeof(key), "test.%d", ++f->seq);
	nt.step = (char *)"step";
	nt.channel = (char *)"log";
	nt.recipient = (char *)rcpt;
	nt.idem_key = key;
	nt.scheduled_at = scheduled;
	memset(&fire, 0, sizeof(fire));
	fire.notifs = &nt;
	fire.nnotifs = 1;
	fire.fired_through = at;
	fire.kind = kind;
	assert_int_equal(store_fire(f->st, id, &fire, at, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_claim(f->st, at, 10, &claimed, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_outbox_result(f->st, claimed[0].id, result, 0,
					     result == NOTIF_DEAD ? "HTTP 400" :
					     NULL, NULL, at, f->err,
					     sizeof(f->err)), STORE_OK);
	notification_free_array(claimed, n);
}

static void
close_at(struct fx *f, int64_t id, enum promise_outcome o, int64_t at)
{
	assert_int_equal(store_close_promise(f->st, id, o, "alice", NULL, at,
					     f->err, sizeof(f->err)), STORE_OK);
}

static void
reneg(struct fx *f, int64_t id, int64_t due, int64_t at)
{
	assert_int_equal(store_renegotiate(f->st, id, due, "customer asked",
					   "alice", at, f->err,
					   sizeof(f->err)), STORE_OK);
}

static void
seed(struct fx *f)
{
	const enum event_kind R = EVENT_REMINDED, E = EVENT_ESCALATED;

	f->p[1] = add(f, "alice", "desk", "ghent", T0 + 1 * H, T0 + 10 * H);
	notify(f, f->p[1], "alice", T0 + 7 * H, T0 + 7 * H, R, NOTIF_SENT);
	close_at(f, f->p[1], OUTCOME_KEPT, T0 + 8 * H);

	f->p[2] = add(f, "alice", "desk", "ghent", T0 + 2 * H, T0 + 20 * H);
	close_at(f, f->p[2], OUTCOME_KEPT, T0 + 20 * H);

	f->p[3] = add(f, "alice", "desk", "ghent", T0 + 3 * H, T0 + 24 * H);
	notify(f, f->p[3], "alice", T0 + 23 * H, T0 + 23 * H, R, NOTIF_SENT);
	notify(f, f->p[3], "carol", T0 + 25 * H, T0 + 25 * H, E, NOTIF_SENT);
	close_at(f, f->p[3], OUTCOME_KEPT, T0 + 26 * H);

	f->p[4] = add(f, "dave", "us", "nyc", T0 + 4 * H, T0 + 30 * H);
	notify(f, f->p[4], "dave", T0 + 30 * H + 15 * M, T0 + 30 * H + 15 * M,
	       E, NOTIF_SENT);
	notify(f, f->p[4], "carol", T0 + 30 * H + 15 * M,
	       T0 + 30 * H + 15 * M, E, NOTIF_DEAD);
	close_at(f, f->p[4], OUTCOME_KEPT, T0 + 30 * H + 30 * M);

	f->p[5] = add(f, "alice", "desk", "ghent", T0 + 5 * H, T0 + 30 * H);
	reneg(f, f->p[5], T0 + 40 * H, T0 + 10 * H);
	notify(f, f->p[5], "carol", T0 + 41 * H, T0 + 41 * H, E, NOTIF_SENT);
	reneg(f, f->p[5], T0 + 50 * H, T0 + 42 * H);
	close_at(f, f->p[5], OUTCOME_KEPT, T0 + 45 * H);

	f->p[6] = add(f, "bob", "desk", "ghent", T0 + 6 * H, T0 + 48 * H);
	close_at(f, f->p[6], OUTCOME_CANCELLED, T0 + 12 * H);

	f->p[7] = add(f, "bob", "desk", "ghent", T0 + 7 * H, T0 + 50 * H);
	notify(f, f->p[7], "carol", T0 + 51 * H, T0 + 51 * H, E, NOTIF_SENT);

	f->p[8] = add(f, "dave", "us", "nyc", T0 + 8 * H, T0 + 20 * H);
	notify(f, f->p[8], "dave", T0 + 18 * H, T0 + 18 * H, R, NOTIF_SENT);
	close_at(f, f->p[8], OUTCOME_KEPT, T0 + 19 * H);
	assert_int_equal(store_reopen(f->st, f->p[8], "not fixed", "dave",
				      T0 + 21 * H, f->err, sizeof(f->err)),
			 STORE_OK);

	f->p[9] = add(f, "dave", "us", "nyc", T0 + 9 * H, T0 + 200 * H);

	f->p[12] = add(f, "bob", "desk", "ghent", T0, T0 + 5 * H);
	close_at(f, f->p[12], OUTCOME_KEPT, T0 + 2 * H);

	f->p[13] = add(f, "erin", NULL, NULL, T0 + 10 * H, T0 + 100 * H);
	reneg(f, f->p[13], T0 + 110 * H, T0 + 11 * H);

	f->p[10] = add(f, "alice", "desk", "ghent", T0 - H, T0 + 2 * H);
	close_at(f, f->p[10], OUTCOME_KEPT, T0 + 9 * H);
	f->p[11] = add(f, "alice", "desk", "ghent", T0 + 7 * DAY, T0 + 8 * DAY);
	close_at(f, f->p[11], OUTCOME_CANCELLED, T0 + 7 * DAY + H);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int rc = 0;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/promised-report-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/promised.db", f->dir);
	f->st = store_open(f->path, &rc, f->err, sizeof(f->err));
	if (f->st == NULL) {
		fprintf(stderr, "store_open: %s\n", f->err);
		return -1;
	}
	f->cfg.default_site = (char *)"ghent";
	f->cfg.sites = test_sites;
	f->cfg.nsites = 2;
	f->cfg.staff = test_staff;
	f->cfg.nstaff = 4;
	f->cfg.teams = test_teams;
	f->cfg.nteams = 2;
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

static struct report *
compute(struct fx *f, enum report_by by, const char *team)
{
	struct report_query q = { .from = T0, .to = T0 + 7 * DAY, .by = by,
				  .team = team };
	struct report *r = NULL;

	assert_int_equal(report_compute(f->st, &f->cfg, &q, NOW, &r, f->err,
					sizeof(f->err)), STORE_OK);
	assert_non_null(r);
	return r;
}

/* Expected numbers of one row; rate in ten-thousandths, -1: none. */
struct want {
	const char *key;
	int64_t made, kept, late, late_median, late_worst, lapsed, open;
	int64_t cancelled, renegotiated, renegotiations;
	int64_t rate_e4;
	int64_t escalations, reminded_done, r2d_median;
};

static void
check_row(const struct report_row *r, const struct want *w)
{
	if (w->key == NULL)
		assert_null(r->key);
	else
		assert_string_equal(r->key, w->key);
	assert_int_equal(r->made, w->made);
	assert_int_equal(r->kept, w->kept);
	assert_int_equal(r->late, w->late);
	assert_int_equal(r->late_median, w->late_median);
	assert_int_equal(r->late_worst, w->late_worst);
	assert_int_equal(r->lapsed, w->lapsed);
	assert_int_equal(r->open, w->open);
	assert_int_equal(r->cancelled, w->cancelled);
	assert_int_equal(r->renegotiated, w->renegotiated);
	assert_int_equal(r->renegotiations, w->renegotiations);
	if (w->rate_e4 < 0)
		assert_true(r->keeping_rate < 0);
	else
		assert_int_equal((int64_t)(r->keeping_rate * 10000 + 0.5),
				 w->rate_e4);
	assert_int_equal(r->escalations_sent, w->escalations);
	assert_int_equal(r->reminded_done, w->reminded_done);
	assert_int_equal(r->reminder_to_done_median, w->r2d_median);
}

static const struct want want_total = {
	NULL, 11, 4, 2, 75 * M, 2 * H, 3, 1, 1, 2, 3, 4444, 4, 4, 2 * H
};

static void
test_by_owner(void **state)
{
	static const struct want want[] = {
		{ "alice", 4, 3, 1, 2 * H, 2 * H, 0, 0, 0, 1, 2, 7500, 2, 3,
		  3 * H },
		{ "bob", 3, 1, 0, -1, -1, 1, 0, 1, 0, 0, 5000, 1, 0, -1 },
		{ "dave", 3, 0, 1, 30 * M, 30 * M, 1, 1, 0, 0, 0, 0, 1, 1,
		  15 * M },
		{ "erin", 1, 0, 0, -1, -1, 1, 0, 0, 1, 1, 0, 0, 0, -1 },
	};
	struct fx *f = *state;
	struct report *r;
	size_t i;

	seed(f);
	r = compute(f, REPORT_BY_OWNER, NULL);
	assert_int_equal(r->nrows, 4);
	for (i = 0; i < r->nrows; i++)
		check_row(&r->rows[i], &want[i]);
	check_row(&r->total, &want_total);
	assert_string_equal(r->tz, "Europe/Brussels");
	report_free(r);
}

static void
test_by_team(void **state)
{
	static const struct want want[] = {
		{ "desk", 7, 4, 1, 2 * H, 2 * H, 1, 0, 1, 1, 2, 6667, 3, 3,
		  3 * H },
		{ "us", 3, 0, 1, 30 * M, 30 * M, 1, 1, 0, 0, 0, 0, 1, 1,
		  15 * M },
		{ NULL, 1, 0, 0, -1, -1, 1, 0, 0, 1, 1, 0, 0, 0, -1 },
	};
	struct fx *f = *state;
	struct report *r;
	size_t i;

	seed(f);
	r = compute(f, REPORT_BY_TEAM, NULL);
	assert_int_equal(r->nrows, 3);
	for (i = 0; i < r->nrows; i++)
		check_row(&r->rows[i], &want[i]);
	check_row(&r->total, &want_total);
	report_free(r);
}

/* One team's report (what the weekly digest asks for): only its rows,
 * its total equals its row, and times in the team's site zone. */
static void
test_one_team(void **state)
{
	static const struct want us = {
		"us", 3, 0, 1, 30 * M, 30 * M, 1, 1, 0, 0, 0, 0, 1, 1, 15 * M
	};
	struct want total = us;
	struct fx *f = *state;
	struct report *r;

	seed(f);
	r = compute(f, REPORT_BY_TEAM, "us");
	assert_int_equal(r->nrows, 1);
	check_row(&r->rows[0], &us);
	total.key = NULL;
	check_row(&r->total, &total);
	assert_string_equal(r->tz, "America/New_York");
	report_free(r);
}

/* By site: a promise without a site counts for the default site. */
static void
test_by_site(void **state)
{
	struct fx *f = *state;
	struct report *r;

	seed(f);
	r = compute(f, REPORT_BY_SITE, NULL);
	assert_int_equal(r->nrows, 2);
	assert_string_equal(r->rows[0].key, "ghent");
	assert_int_equal(r->rows[0].made, 8);      /* alice 4, bob 3, erin 1 */
	assert_int_equal(r->rows[0].lapsed, 2);    /* P7, P13 */
	assert_string_equal(r->rows[1].key, "nyc");
	assert_int_equal(r->rows[1].made, 3);
	assert_int_equal(r->total.made, 11);
	report_free(r);
}

static char *
written(const struct report *r, enum report_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&buf, &len);

	assert_non_null(mf);
	assert_int_equal(report_write(mf, r, fmt), 0);
	assert_int_equal(fclose(mf), 0);
	return buf;
}

static void
test_writers(void **state)
{
	struct fx *f = *state;
	struct report *r;
	char *out;

	seed(f);
	r = compute(f, REPORT_BY_OWNER, NULL);
	out = written(r, REPORT_FORMAT_CSV);
	assert_non_null(strstr(out, "row,owner,made,kept,late,late_median_s,"
			       "late_worst_s,lapsed,open,cancelled,"
			       "renegotiated,renegotiations,keeping_rate,"
			       "escalations_sent,reminded_done,"
			       "reminder_to_done_median_s\r\n"));
	assert_non_null(strstr(out, "\r\ngroup,bob,3,1,0,,,1,0,1,0,0,0.5000,"
			       "1,0,\r\n"));
	assert_non_null(strstr(out, "\r\ntotal,,11,4,2,4500,7200,3,1,1,2,3,"
			       "0.4444,4,4,7200\r\n"));
	free(out);
	out = written(r, REPORT_FORMAT_JSON);
	assert_non_null(strstr(out, "\"total\": {\"made\": 11, \"kept\": 4, "
			       "\"late\": 2, \"late_median_s\": 4500, "
			       "\"late_worst_s\": 7200, \"lapsed\": 3, "));
	assert_non_null(strstr(out, "{\"key\": \"bob\", \"made\": 3, "
			       "\"kept\": 1, \"late\": 0, "
			       "\"late_median_s\": null, "));
	/* 2026-11-02 00:00 UTC is 01:00 in Brussels (CET, +01:00). */
	assert_non_null(strstr(out, "\"from_local\": \"2026-11-02 01:00 "
			       "+01:00\""));
	free(out);
	out = written(r, REPORT_FORMAT_TABLE);
	assert_non_null(strstr(out, "Promises made from 2026-11-02 01:00 "
			       "+01:00 to 2026-11-09 01:00 +01:00 "
			       "(Europe/Brussels), by owner\n"));
	/* Durations human-readable, rates in percent, "-" for none. */
	assert_non_null(strstr(out, "1h15m"));
	assert_non_null(strstr(out, "44.4%"));
	assert_non_null(strstr(out, "\nTOTAL "));
	assert_non_null(strstr(out, "\nbob "));
	free(out);
	report_free(r);
}

static void
test_csv_quoting(void **state)
{
	struct fx *f = *state;
	struct report *r;
	char *out;

	(void)add(f, "o'neil, \"jr\"", NULL, NULL, T0 + H, T0 + 200 * H);
	r = compute(f, REPORT_BY_OWNER, NULL);
	out = written(r, REPORT_FORMAT_CSV);
	assert_non_null(strstr(out, "\r\ngroup,\"o'neil, \"\"jr\"\"\",1,0,"));
	free(out);
	out = written(r, REPORT_FORMAT_JSON);
	assert_non_null(strstr(out, "\"key\": \"o'neil, \\\"jr\\\"\""));
	free(out);
	report_free(r);
}

static void
test_empty_and_invalid(void **state)
{
	struct fx *f = *state;
	struct report_query q = { .from = T0, .to = T0 };
	struct report *r = NULL;
	enum report_by by;
	enum report_format fmt;

	assert_int_equal(report_compute(f->st, &f->cfg, &q, NOW, &r, f->err,
					sizeof(f->err)), STORE_INVALID);
	assert_null(r);
	r = compute(f, REPORT_BY_OWNER, NULL);
	assert_int_equal(r->nrows, 0);
	assert_int_equal(r->total.made, 0);
	assert_true(r->total.keeping_rate < 0);
	assert_int_equal(r->total.late_median, -1);
	report_free(r);
	assert_int_equal(report_by_parse("team", &by), 0);
	assert_int_equal(by, REPORT_BY_TEAM);
	assert_int_equal(report_by_parse("nonsense", &by), -1);
	assert_int_equal(report_format_parse("csv", &fmt), 0);
	assert_int_equal(fmt, REPORT_FORMAT_CSV);
	assert_int_equal(report_format_parse("xml", &fmt), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_by_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_team, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_team, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_site, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_quoting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_invalid, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
