/*
 * feed_memory: checks that feed_parse streams a calendar one component at
 * a time.  Calendars of 500 and 50,000 VTODOs (with a VTIMEZONE) are made
 * in memory and parsed with a callback that only counts items; the peak
 * memory growth of each parse is compared with the small feed's (flat)
 * and with libical parsing the whole 50,000-item calendar at once, the
 * reference measured the same way in the same run.
 *
 * Each measurement runs in its own child process, so one run's freed but
 * retained heap cannot hide another's peak.  Peak growth is the rise of
 * VmHWM over VmRSS just before the parse (the high-water mark is reset
 * through /proc/self/clear_refs where the kernel allows it); the heap in
 * use (mallinfo2) is reported beside it.
 *
 * Output: one "key value" line per figure, read by bench/run.
 */
#include <errno.h>
#include <inttypes.h>
#include <libical/ical.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "promised/feed.h"

#define SMALL_N 500
#define LARGE_N 50000
#define ITEM_MAX 1024   /* bytes one generated VTODO can take */

/* 2026-11-20T08:00:00Z: every due lies in the following weeks. */
static const int64_t bench_now = INT64_C(1795161600);

static const char cal_head[] =
	"BEGIN:VCALENDAR\r\n"
	"VERSION:2.0\r\n"
	"PRODID:-//promised//bench//EN\r\n"
	"BEGIN:VTIMEZONE\r\n"
	"TZID:Europe/Brussels\r\n"
	"BEGIN:DAYLIGHT\r\n"
	"TZOFFSETFROM:+0100\r\n"
	"TZOFFSETTO:+0200\r\n"
	"TZNAME:CEST\r\n"
	"DTSTART:19700329T020000\r\n"
	"RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
	"END:DAYLIGHT\r\n"
	"BEGIN:STANDARD\r\n"
	"TZOFFSETFROM:+0200\r\n"
	"TZOFFSETTO:+0100\r\n"
	"TZNAME:CET\r\n"
	"DTSTART:19701025T030000\r\n"
	"RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
	"END:STANDARD\r\n"
	"END:VTIMEZONE\r\n";

static const char cal_tail[] = "END:VCALENDAR\r\n";

enum run_kind {
	RUN_STREAM,   /* feed_parse with a counting callback */
	RUN_LIBICAL,  /* icalparser_parse_string of the whole calendar */
};

/* What one child measured. */
struct result {
	int ok;
	size_t items;
	size_t bytes;        /* size of the calendar text */
	int64_t peak_rss;    /* bytes: VmHWM after - VmRSS before */
	int64_t peak_heap;   /* bytes: heap in use, highest sample - before */
	double seconds;
	char err[160];
};

struct counter {
	size_t items;
	size_t heap0;
	size_t heap_max;
};

static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* A field of /proc/self/status in bytes, or -1. */
static int64_t
status_kb(const char *field)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	size_t flen = strlen(field);
	int64_t v = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			v = strtoll(line + flen + 1, NULL, 10) * 1024;
			break;
		}
	}
	fclose(fp);
	return v;
}

/* Resets VmHWM to the current RSS; failure only makes the figure an
 * upper bound, since the feed is built without transient copies. */
static void
reset_hwm(void)
{
	FILE *fp = fopen("/proc/self/clear_refs", "w");

	if (fp == NULL)
		return;
	fputs("5", fp);
	fclose(fp);
}

/* One VTODO at p (room bytes); returns its length. */
static size_t
put_item(char *p, size_t room, size_t i)
{
	int day = 23 + (int)(i % 28);         /* Nov 23 .. Dec 20 */
	int month = day > 30 ? 12 : 11;
	int hour = 8 + (int)(i % 10);
	int n;

	if (day > 30)
		day -= 30;
	n = snprintf(p, room,
		"BEGIN:VTODO\r\n"
		"UID:bench-%zu@garage.example.com\r\n"
		"DTSTAMP:20261120T080000Z\r\n"
		"LAST-MODIFIED:20261120T080000Z\r\n"
		"SEQUENCE:1\r\n"
		"SUMMARY:Call back customer %zu about the winter tyre quote\r\n"
		"DESCRIPTION:Asked for a price on four winter tyres and the "
		"fitting\\, item %zu.\r\n"
		"CATEGORIES:PROMISE\r\n"
		"DUE;TZID=Europe/Brussels:2026%02d%02dT%02d0000\r\n"
		"ATTENDEE;CN=Marc Janssens:mailto:marc.janssens@example.com\r\n"
		"X-PROMISED-CUSTOMER-NAME:Customer %zu\r\n"
		"X-PROMISED-CUSTOMER-PHONE:+32470%06zu\r\n"
		"X-PROMISED-VEHICLE:VW Golf 2019\r\n"
		"STATUS:NEEDS-ACTION\r\n"
		"END:VTODO\r\n",
		i, i, i, month, day, hour, i, i % 1000000);
	return n > 0 && (size_t)n < room ? (size_t)n : 0;
}

/* The calendar text of n VTODOs, NUL-terminated, in one allocation sized
 * up front: no realloc copy raises the high-water mark before the parse.
 * Every page is written, so it is all in VmRSS before the measurement. */
static char *
make_feed(size_t n, size_t *len)
{
	size_t cap = sizeof(cal_head) + sizeof(cal_tail) + n * ITEM_MAX;
	char *buf = malloc(cap);
	size_t off, i, k;

	if (buf == NULL)
		return NULL;
	memcpy(buf, cal_head, sizeof(cal_head) - 1);
	off = sizeof(cal_head) - 1;
	for (i = 0; i < n; i++) {
		k = put_item(buf + off, cap - off, i);
		if (k == 0) {
			free(buf);
			return NULL;
		}
		off += k;
	}
	memcpy(buf + off, cal_tail, sizeof(cal_tail));
	*len = off + sizeof(cal_tail) - 1;
	return buf;
}

static int
count_item(void *ctx, const struct feed_item *it)
{
	struct counter *c = ctx;
	size_t h = heap_in_use();

	(void)it;
	c->items++;
	if (h > c->heap_max)
		c->heap_max = h;
	return 0;
}

static void
run_stream(const char *data, size_t len, struct result *r)
{
	static const char *const cats[] = { "PROMISE" };
	struct feed_opts o;
	struct feed_stats st;
	struct counter c = { 0, 0, 0 };

	memset(&o, 0, sizeof(o));
	o.name = "bench";
	o.components = FEED_VTODO;
	o.categories = cats;
	o.ncategories = 1;
	o.default_owner = "marc";
	o.site_tz = "Europe/Brussels";
	o.horizon = 60 * INT64_C(86400);
	c.heap0 = heap_in_use();
	c.heap_max = c.heap0;
	if (feed_parse(data, len, &o, bench_now, count_item, &c, &st,
		       r->err, sizeof(r->err)) != 0)
		return;
	r->items = c.items;
	r->peak_heap = (int64_t)c.heap_max - (int64_t)c.heap0;
	r->ok = 1;
}

static void
run_libical(const char *data, struct result *r)
{
	size_t heap0 = heap_in_use();
	icalcomponent *cal = icalparser_parse_string(data);

	if (cal == NULL) {
		snprintf(r->err, sizeof(r->err), "libical: %s",
			 icalerror_strerror(icalerrno));
		return;
	}
	r->items = (size_t)icalcomponent_count_components(cal,
			ICAL_VTODO_COMPONENT);
	r->peak_heap = (int64_t)heap_in_use() - (int64_t)heap0;
	icalcomponent_free(cal);
	r->ok = 1;
}

/* The child's side: build, measure one parse, report through fd. */
static void
child_measure(enum run_kind kind, size_t n, int fd)
{
	struct result r;
	size_t len = 0;
	char *data;
	int64_t rss0;
	double t0;

	memset(&r, 0, sizeof(r));
	data = make_feed(n, &len);
	if (data == NULL) {
		snprintf(r.err, sizeof(r.err), "cannot build the feed");
		goto out;
	}
	r.bytes = len;
	reset_hwm();
	rss0 = status_kb("VmRSS");
	t0 = bench_mono_seconds();
	if (kind == RUN_STREAM)
		run_stream(data, len, &r);
	else
		run_libical(data, &r);
	r.seconds = bench_mono_seconds() - t0;
	r.peak_rss = status_kb("VmHWM") - rss0;
	if (r.ok && r.items != n) {
		snprintf(r.err, sizeof(r.err), "%zu items of %zu", r.items, n);
		r.ok = 0;
	}
	free(data);
out:
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	_exit(0);
}

static int
measure(enum run_kind kind, size_t n, struct result *r)
{
	int fds[2], status = 0, rc = -1;
	pid_t pid;
	ssize_t got;

	memset(r, 0, sizeof(*r));
	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		close(fds[0]);
		child_measure(kind, n, fds[1]);
	}
	close(fds[1]);
	fds[1] = -1;
	got = read(fds[0], r, sizeof(*r));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(*r) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(r->err, sizeof(r->err), "child failed");
		goto out;
	}
	rc = r->ok ? 0 : -1;
out:
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return rc;
}

static void
print_run(const char *key, const struct result *r)
{
	printf("%s.items %zu\n", key, r->items);
	printf("%s.feed_mib %.1f\n", key, (double)r->bytes / 1048576.0);
	printf("%s.peak_rss_kib %" PRId64 "\n", key, r->peak_rss / 1024);
	printf("%s.peak_heap_kib %" PRId64 "\n", key, r->peak_heap / 1024);
	printf("%s.seconds %.2f\n", key, r->seconds);
	printf("%s.items_per_s %.0f\n", key,
	       r->seconds > 0 ? (double)r->items / r->seconds : 0.0);
}

/* Never divides by less than one page: a flat run may grow by nothing. */
static double
ratio(int64_t a, int64_t b)
{
	return (double)(a > 4096 ? a : 4096) / (double)(b > 4096 ? b : 4096);
}

int
main(void)
{
	struct result small, large, whole;

	if (measure(RUN_STREAM, SMALL_N, &small) != 0 ||
	    measure(RUN_STREAM, LARGE_N, &large) != 0) {
		fprintf(stderr, "feed_memory: feed_parse: %s\n",
			small.ok ? large.err : small.err);
		return 1;
	}
	if (measure(RUN_LIBICAL, LARGE_N, &whole) != 0) {
		fprintf(stderr, "feed_memory: %s\n", whole.err);
		return 1;
	}
	print_run("stream_500", &small);
	print_run("stream_50k", &large);
	print_run("libical_50k", &whole);
	printf("ratio.flat %.3f\n", ratio(large.peak_rss, small.peak_rss));
	printf("ratio.vs_libical %.4f\n",
	       ratio(large.peak_rss, whole.peak_rss));
	return 0;
}
