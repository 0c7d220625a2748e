/*
 * Tests for feedpoll and the `feeds` section of the config: a file feed
 * polled on its schedule (an unchanged file costs nothing), a sync
 * request, an http feed served by tests/tools/http_receiver.py on
 * 127.0.0.1 (200 with an ETag, then a conditional GET answered 304), a
 * failing fetch and a refused answer that leave the promises alone, the
 * size cap, and holidays from a calendar merged into a site.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/config.h"
#include "promised/feedpoll.h"
#include "promised/netsend.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

/* 2026-11-28T12:00:00Z */
#define NOW INT64_C(1795867200)

struct fx {
	char dir[256];
	char cfgpath[300];
	char dbpath[300];
	struct config *cfg;
	struct store *st;
	struct feedpoll *fp;
	struct netsend *ns;
	int64_t now;
	pid_t peer;
};

static const char ics_two[] =
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
	"BEGIN:VTODO\r\nUID:a\r\nDUE:20261204T150000Z\r\nSUMMARY:Call A\r\n"
	"END:VTODO\r\n"
	"BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20261205T100000Z\r\n"
	"SUMMARY:Pick-up B\r\nEND:VEVENT\r\n"
	"END:VCALENDAR\r\n";

static const char ics_empty[] =
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
	"END:VCALENDAR\r\n";

static const char ics_holidays[] =
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
	"BEGIN:VEVENT\r\nUID:h1\r\nDTSTART;VALUE=DATE:20261207\r\n"
	"SUMMARY:Closing day\r\nEND:VEVENT\r\n"
	"BEGIN:VEVENT\r\nUID:h2\r\nDTSTART;VALUE=DATE:20261225\r\n"
	"SUMMARY:Christmas\r\nEND:VEVENT\r\n"
	"END:VCALENDAR\r\n";

static void
put(struct fx *f, const char *name, const char *text)
{
	char p[400];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Writes promised.yaml with one site (site_extra appended to it), one
 * staff member and feeds_yaml, and loads it. */
static void
load_config(struct fx *f, const char *site_extra, const char *feeds_yaml)
{
	struct config_errors errs = { NULL, 0 };
	char text[4096];
	size_t i;

	snprintf(text, sizeof(text),
		 "database: db.sqlite\n"
		 "sites:\n"
		 "  ghent:\n"
		 "    timezone: Europe/Brussels\n"
		 "    hours: { mon: 08:00-18:00, tue: 08:00-18:00 }\n"
		 "    holidays: [2026-11-11]\n"
		 "%s"
		 "staff:\n"
		 "  - { id: alice, name: Alice, email: alice@example.com,"
		 " phone: \"+32470000002\", locale: en }\n"
		 "%s", site_extra, feeds_yaml);
	put(f, "promised.yaml", text);
	config_free(f->cfg);
	f->cfg = config_load(f->cfgpath, &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	config_errors_clear(&errs);
	assert_non_null(f->cfg);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char err[256];
	int rc;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_feedpoll.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cfgpath, sizeof(f->cfgpath), "%s/promised.yaml", f->dir);
	snprintf(f->dbpath, sizeof(f->dbpath), "%s/db.sqlite", f->dir);
	f->st = store_open(f->dbpath, &rc, err, sizeof(err));
	if (f->st == NULL)
		fprintf(stderr, "store_open: %s\n", err);
	assert_non_null(f->st);
	f->now = NOW;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[400];

	if (f->peer > 0) {
		kill(f->peer, SIGTERM);
		waitpid(f->peer, NULL, 0);
	}
	netsend_free(f->ns);
	feedpoll_free(f->fp);
	store_close(f->st);
	config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
status(struct fx *f, const char *feed, struct store_feed_status *s)
{
	char err[200];

	assert_int_equal(store_feed_status_get(f->st, feed, s, err,
					       sizeof(err)), STORE_OK);
}

static int
open_promises(struct fx *f)
{
	struct store_filter flt;
	struct promise *arr = NULL;
	size_t n = 0;
	char err[200];

	memset(&flt, 0, sizeof(flt));
	flt.open_only = 1;
	assert_int_equal(store_list(f->st, &flt, &arr, &n, err, sizeof(err)),
			 STORE_OK);
	promise_free_array(arr, n);
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* Config                                                              */

static void
test_config_defaults_and_errors(void **state)
{
	struct fx *f = *state;
	struct config_errors errs = { NULL, 0 };
	const struct cfg_feed *fd;
	struct config *bad;
	size_t i;
	int seen_every = 0, seen_pattern = 0, seen_owner = 0, seen_site = 0;

	load_config(f, "", "feeds:\n  crm:\n    url: cal.ics\n"
		    "    default_owner: alice\n");
	fd = config_feed(f->cfg, "crm");
	assert_non_null(fd);
	/* A relative path is taken from the config's folder. */
	assert_true(strncmp(fd->url, "/", 1) == 0);
	assert_non_null(strstr(fd->url, "/cal.ics"));
	assert_int_equal(fd->every, 300);
	assert_int_equal(fd->components, CFG_FEED_VTODO | CFG_FEED_VEVENT);
	assert_int_equal(fd->horizon, 14 * 86400);
	assert_int_equal(fd->max_instances, 500);
	assert_true(fd->max_cancel_share > 0.49 && fd->max_cancel_share < 0.51);
	assert_int_equal(fd->max_bytes, 16 * 1024 * 1024);
	assert_string_equal(fd->site, "ghent");
	assert_null(config_feed(f->cfg, "nope"));

	put(f, "bad.yaml",
	    "sites:\n  ghent:\n    timezone: Europe/Brussels\n"
	    "    hours: { mon: 08:00-18:00 }\n"
	    "staff:\n  - { id: alice, name: A, email: a@example.com,"
	    " phone: \"+32470000002\", locale: en }\n"
	    "feeds:\n"
	    "  a:\n    url: file:///x.ics\n    default_owner: alice\n"
	    "    every: 10s\n"
	    "  b:\n    url: /x.ics\n    default_owner: alice\n"
	    "    match: { summary_pattern: \"(unclosed\" }\n"
	    "  c:\n    url: https://cal.example.com/c.ics\n"
	    "  d:\n    url: /x.ics\n    default_owner: alice\n"
	    "    site: gent\n");
	snprintf(f->cfgpath + strlen(f->cfgpath) - strlen("promised.yaml"),
		 sizeof(f->cfgpath), "bad.yaml");
	bad = config_load(f->cfgpath, &errs);
	assert_null(bad);
	for (i = 0; i < errs.n; i++) {
		seen_every |= strstr(errs.msg[i], "every '10s'") != NULL;
		seen_pattern |= strstr(errs.msg[i], "summary_pattern") != NULL;
		seen_owner |= strstr(errs.msg[i], "'default_owner'") != NULL;
		seen_site |= strstr(errs.msg[i], "unknown site 'gent'") != NULL;
	}
	config_errors_clear(&errs);
	assert_true(seen_every);
	assert_true(seen_pattern);
	assert_true(seen_owner);
	assert_true(seen_site);
	snprintf(f->cfgpath, sizeof(f->cfgpath), "%s/promised.yaml", f->dir);
}

/* ------------------------------------------------------------------ */
/* File feeds                                                          */

static void
test_file_feed_schedule_and_request(void **state)
{
	struct fx *f = *state;
	struct store_feed_status s;
	char req[400], feeds[512];
	struct stat sb;

	put(f, "cal.ics", ics_two);
	snprintf(feeds, sizeof(feeds), "feeds:\n  crm:\n    url: cal.ics\n"
		 "    default_owner: alice\n    every: 10m\n");
	load_config(f, "", feeds);
	f->fp = feedpoll_new(f->cfg, f->st, NULL);
	/* Never polled: due at once. */
	assert_true(feedpoll_next_due(f->fp) <= f->now);
	assert_int_equal(feedpoll_run(f->fp, f->now), 1);
	assert_int_equal(open_promises(f), 2);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 0);
	assert_int_equal(s.items, 2);
	assert_int_equal(s.added, 2);
	assert_int_equal(s.last_ok_at, f->now);
	store_feed_status_clear(&s);
	/* Next poll 10 minutes later; nothing before. */
	assert_int_equal(feedpoll_next_due(f->fp), f->now + 600);
	assert_int_equal(feedpoll_run(f->fp, f->now + 599), 0);
	/* Unchanged file: counts stay, last_ok_at moves. */
	assert_int_equal(feedpoll_run(f->fp, f->now + 600), 1);
	status(f, "crm", &s);
	assert_int_equal(s.last_ok_at, f->now + 600);
	assert_int_equal(s.added, 2);
	store_feed_status_clear(&s);
	/* A request (promisectl sync) makes it due before its time. */
	assert_int_equal(feedpoll_request_sync(f->dbpath, "crm", feeds,
					       sizeof(feeds)), 0);
	snprintf(req, sizeof(req), "%s-feedsync-crm", f->dbpath);
	assert_int_equal(stat(req, &sb), 0);
	assert_true(feedpoll_next_due(f->fp) <= f->now + 700);
	assert_int_equal(feedpoll_run(f->fp, f->now + 700), 1);
	assert_int_equal(stat(req, &sb), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(feedpoll_next_due(f->fp), f->now + 1300);
}

/* An empty answer while the feed has open promises is refused; a broken
 * one is not applied; the feed is failing and its promises stay. */
static void
test_file_feed_refused_and_broken(void **state)
{
	struct fx *f = *state;
	struct store_feed_status s;

	put(f, "cal.ics", ics_two);
	load_config(f, "", "feeds:\n  crm:\n    url: cal.ics\n"
		    "    default_owner: alice\n");
	f->fp = feedpoll_new(f->cfg, f->st, NULL);
	assert_int_equal(feedpoll_run(f->fp, f->now), 1);
	assert_int_equal(open_promises(f), 2);

	put(f, "cal.ics", ics_empty);
	assert_int_equal(feedpoll_run(f->fp, f->now + 300), 1);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 1);
	assert_non_null(s.last_error);
	assert_non_null(strstr(s.last_error, "refused"));
	assert_int_equal(s.last_ok_at, f->now);
	store_feed_status_clear(&s);
	assert_int_equal(open_promises(f), 2);

	/* Cut short: no END:VCALENDAR. */
	put(f, "cal.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\n"
	    "UID:a\r\nDUE:20261204T150000Z\r\n");
	assert_int_equal(feedpoll_run(f->fp, f->now + 600), 1);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 1);
	assert_non_null(strstr(s.last_error, "not applied"));
	store_feed_status_clear(&s);
	assert_int_equal(open_promises(f), 2);

	/* Back to normal: failing is cleared. */
	put(f, "cal.ics", ics_two);
	assert_int_equal(feedpoll_run(f->fp, f->now + 900), 1);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 0);
	assert_null(s.last_error);
	store_feed_status_clear(&s);
}

static void
test_holidays_merged(void **state)
{
	struct fx *f = *state;
	const struct cal_site *site;
	int64_t d1111 = util_days_from_civil(2026, 11, 11);
	int64_t d1207 = util_days_from_civil(2026, 12, 7);
	int64_t d1225 = util_days_from_civil(2026, 12, 25);

	put(f, "hol.ics", ics_holidays);
	load_config(f, "    holidays_file: hol.ics\n", "");
	assert_int_equal(f->cfg->nholiday_feeds, 1);
	assert_int_equal(f->cfg->holiday_feeds[0].every, 86400);
	f->fp = feedpoll_new(f->cfg, f->st, NULL);
	assert_int_equal(feedpoll_run(f->fp, f->now), 1);
	assert_int_equal(feedpoll_holidays_changed(f->fp), 1);
	assert_int_equal(feedpoll_holidays_changed(f->fp), 0);
	feedpoll_apply_holidays(f->fp, f->cfg);
	site = config_site(f->cfg, "ghent");
	/* The configured day plus the calendar's two, sorted. */
	assert_int_equal(site->nholidays, 3);
	assert_int_equal(site->holidays[0], d1111);
	assert_int_equal(site->holidays[1], d1207);
	assert_int_equal(site->holidays[2], d1225);
	/* Applying again does not pile up days. */
	feedpoll_apply_holidays(f->fp, f->cfg);
	assert_int_equal(site->nholidays, 3);
	/* Next refresh a day later. */
	assert_int_equal(feedpoll_next_due(f->fp), f->now + 86400);
}

/* ------------------------------------------------------------------ */
/* HTTP feeds                                                          */

static const char *
python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
						     : "python3";
}

/* Starts the receiver with extra arguments; returns its port. */
static int
start_receiver(struct fx *f, const char *const *extra)
{
	char tool[512], logp[400], line[32];
	const char *src = getenv("PROMISED_SOURCE_DIR");
	char *argv[24];
	int fds[2], port = -1;
	size_t n = 0, i, k = 0;
	struct pollfd pfd;

	snprintf(tool, sizeof(tool), "%s/tests/tools/http_receiver.py",
		 src != NULL ? src : ".");
	snprintf(logp, sizeof(logp), "%s/recv.log", f->dir);
	argv[k++] = (char *)python();
	argv[k++] = tool;
	argv[k++] = "--log";
	argv[k++] = logp;
	for (i = 0; extra[i] != NULL && k < 22; i++)
		argv[k++] = (char *)extra[i];
	argv[k] = NULL;
	assert_int_equal(pipe(fds), 0);
	f->peer = fork();
	assert_true(f->peer >= 0);
	if (f->peer == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (n < sizeof(line) - 1 && poll(&pfd, 1, 15000) == 1) {
		ssize_t r = read(fds[0], line + n, 1);

		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(fds[0]);
	if (n > 0)
		port = (int)strtol(line, NULL, 10);
	if (port <= 0)
		fail_msg("http_receiver.py did not start");
	return port;
}

static char *
receiver_log(struct fx *f)
{
	char p[400];
	FILE *fp;
	char *buf = xcalloc(1, 1 << 20);

	snprintf(p, sizeof(p), "%s/recv.log", f->dir);
	fp = fopen(p, "r");
	assert_non_null(fp);
	(void)!fread(buf, 1, (1 << 20) - 1, fp);
	fclose(fp);
	return buf;
}

static void
on_done(void *cb_ctx, const struct netsend_done *d)
{
	struct fx *f = cb_ctx;

	assert_true(feedpoll_owns_job(d->job_ctx));
	feedpoll_on_done(f->fp, d, f->now);
}

/* Runs the due fetches of f at `at` to completion. */
static void
poll_at(struct fx *f, int64_t at, int want_started)
{
	f->now = at;
	assert_int_equal(feedpoll_run(f->fp, at), want_started);
	assert_int_equal(netsend_run(f->ns, 20000), 0);
	assert_int_equal(feedpoll_inflight(f->fp), 0);
}

static void
http_setup(struct fx *f, const char *const *extra, const char *more)
{
	char feeds[600], err[200];
	int port = start_receiver(f, extra);

	snprintf(feeds, sizeof(feeds), "feeds:\n  crm:\n"
		 "    url: http://127.0.0.1:%d/alice/cal/\n"
		 "    default_owner: alice\n%s", port, more);
	load_config(f, "", feeds);
	f->ns = netsend_new(NULL, NULL, NULL, on_done, f, err, sizeof(err));
	assert_non_null(f->ns);
	f->fp = feedpoll_new(f->cfg, f->st, f->ns);
}

static void
test_http_etag_then_304(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "--etag", "\"v1\"", "--body", ics_two,
				"--content-type", "text/calendar", NULL };
	struct store_feed_status s;
	char *log, *second;

	http_setup(f, extra, "");
	poll_at(f, NOW, 1);
	assert_int_equal(open_promises(f), 2);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 0);
	assert_non_null(s.etag);
	assert_string_equal(s.etag, "\"v1\"");
	assert_int_equal(s.added, 2);
	store_feed_status_clear(&s);

	poll_at(f, NOW + 300, 1);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 0);
	assert_int_equal(s.last_ok_at, NOW + 300);
	assert_int_equal(s.last_try_at, NOW + 300);
	/* The counts are those of the last applied answer. */
	assert_int_equal(s.added, 2);
	store_feed_status_clear(&s);
	assert_int_equal(open_promises(f), 2);

	log = receiver_log(f);
	second = strstr(log, "\"n\": 2");
	assert_non_null(second);
	/* The first GET was unconditional, the second carried the ETag. */
	assert_true(strstr(log, "If-None-Match") > second);
	assert_non_null(strstr(second, "\"If-None-Match\", \"\\\"v1\\\"\""));
	assert_non_null(strstr(second, "\"answer\": \"304\""));
	assert_non_null(strstr(log, "\"method\": \"GET\""));
	free(log);
}

static void
test_http_failure_keeps_promises(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "--script", "200,503,401", "--body", ics_two,
				NULL };
	struct store_feed_status s;

	http_setup(f, extra, "");
	poll_at(f, NOW, 1);
	assert_int_equal(open_promises(f), 2);
	poll_at(f, NOW + 300, 1);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 1);
	assert_non_null(strstr(s.last_error, "HTTP 503"));
	assert_int_equal(s.last_ok_at, NOW);
	assert_int_equal(s.last_try_at, NOW + 300);
	store_feed_status_clear(&s);
	poll_at(f, NOW + 600, 1);
	status(f, "crm", &s);
	assert_non_null(strstr(s.last_error, "HTTP 401"));
	store_feed_status_clear(&s);
	assert_int_equal(open_promises(f), 2);
}

static void
test_http_size_cap(void **state)
{
	struct fx *f = *state;
	/* 2000 copies of a 10-byte body: 20000 bytes > 1 KiB. */
	const char *extra[] = { "--body", "0123456789", "--body-repeat",
				"2000", NULL };
	struct store_feed_status s;

	http_setup(f, extra, "    max_bytes: 1KiB\n");
	poll_at(f, NOW, 1);
	status(f, "crm", &s);
	assert_int_equal(s.failing, 1);
	assert_non_null(strstr(s.last_error, "larger than 1024 bytes"));
	store_feed_status_clear(&s);
	assert_int_equal(open_promises(f), 0);
}

static void
test_sync_now_http(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "--etag", "\"v7\"", "--body", ics_two, NULL };
	struct feedpoll_report rep;
	char err[200];

	http_setup(f, extra, "");
	assert_int_equal(feedpoll_sync_now(f->cfg, f->st, "crm", NOW, 0, &rep,
					   err, sizeof(err)), 0);
	assert_int_equal(rep.failed, 0);
	assert_int_equal(rep.not_modified, 0);
	assert_int_equal(rep.res.added, 2);
	assert_int_equal(feedpoll_sync_now(f->cfg, f->st, "crm", NOW + 60, 0,
					   &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.not_modified, 1);
	/* --full skips the validators. */
	assert_int_equal(feedpoll_sync_now(f->cfg, f->st, "crm", NOW + 120, 1,
					   &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.not_modified, 0);
	assert_int_equal(rep.res.unchanged, 2);
	assert_int_equal(feedpoll_sync_now(f->cfg, f->st, "nope", NOW, 0, &rep,
					   err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no feed 'nope'"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_defaults_and_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_feed_schedule_and_request,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_feed_refused_and_broken,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_holidays_merged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_etag_then_304, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_failure_keeps_promises,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_size_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sync_now_http, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
