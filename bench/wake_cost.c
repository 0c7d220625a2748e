/*
 * wake_cost: what the daemon pays to decide when to wake up next.  A
 * store in a fresh temporary folder gets N open promises (default
 * 100,000); then store_next_wake — the one index lookup per wake — is
 * timed against the reference in the same run, a full scan of the open
 * promises with store_list.  For information it also times
 * escalate_next_step_at over every promise under the shipped example
 * policy (calendar.c switches TZ for each call, so this is the per-promise
 * price of a reload's recompute) and store_recompute_all.
 *
 * The first ADD_N promises go in through store_add (its rate is reported);
 * the rest in one transaction through the sqlite3 command-line tool, as
 * the daemon's wake-up test does, since one durable transaction per
 * promise would take minutes.
 *
 * Usage: wake_cost CONFIG.yaml [N].  Output: "key value" lines.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "promised/config.h"
#include "promised/escalate.h"
#include "promised/promise.h"
#include "promised/store.h"

#define DEFAULT_N 100000
#define ADD_N 1000
#define WAKE_CALLS 20000
#define SCAN_RUNS 3

/* 2026-11-20T08:00:00Z; dues spread over the following 30 days. */
static const int64_t bench_now = INT64_C(1795161600);

/* Due of promise i: a different hour and day for neighbours, so the
 * scheduler sees business hours, evenings and weekends. */
static int64_t
due_of(size_t i)
{
	return bench_now + 3600 + (int64_t)(i % 30) * 86400 +
	       (int64_t)((i * 7919) % 86400);
}

/* Adds promises 0..n-1 through the store's API; seconds taken or -1. */
static double
add_via_api(struct store *st, size_t n)
{
	char err[256], title[64];
	double t0 = bench_mono_seconds();
	size_t i;

	for (i = 0; i < n; i++) {
		struct promise p;

		memset(&p, 0, sizeof(p));
		snprintf(title, sizeof(title), "Call back customer %zu", i);
		p.title = title;
		p.owner = "marc";
		p.team = "sales";
		p.site = "leuven";
		p.source = "bench";
		p.due_at = due_of(i);
		if (store_add(st, &p, "bench", bench_now, err,
			      sizeof(err)) != STORE_OK) {
			fprintf(stderr, "wake_cost: store_add: %s\n", err);
			return -1;
		}
	}
	return bench_mono_seconds() - t0;
}

/* Promises from..n-1 in one transaction with the sqlite3 tool. */
static int
add_via_sqlite3(const char *db, size_t from, size_t n)
{
	char cmd[600];
	FILE *fp;

	if (from >= n)
		return 0;
	snprintf(cmd, sizeof(cmd), "sqlite3 -batch '%s'", db);
	fp = popen(cmd, "w");
	if (fp == NULL)
		return -1;
	fprintf(fp,
		"BEGIN;\n"
		"WITH RECURSIVE n(i) AS (SELECT %zu UNION ALL SELECT i + 1 "
		"FROM n WHERE i < %zu)\n"
		"INSERT INTO promises (ref, title, owner, team, site, source,"
		" due_at, created_at, updated_at, next_step_at, state,"
		" outcome)\n"
		"SELECT 'bench:' || i, 'Call back customer ' || i, 'marc',"
		" 'sales', 'leuven', 'bench',"
		" %" PRId64 " + (i %% 30) * 86400 + (i * 7919) %% 86400,"
		" %" PRId64 ", %" PRId64 ","
		" %" PRId64 " + (i %% 30) * 86400 + (i * 7919) %% 86400,"
		" 'open', 'none' FROM n;\n"
		"COMMIT;\n",
		from, n - 1, bench_now + 3600, bench_now, bench_now,
		bench_now + 3600);
	return pclose(fp) == 0 ? 0 : -1;
}

/* Mean seconds of one store_next_wake over WAKE_CALLS calls. */
static double
time_next_wake(struct store *st, int64_t *wake)
{
	char err[256];
	double t0 = bench_mono_seconds();
	size_t i;

	for (i = 0; i < WAKE_CALLS; i++) {
		if (store_next_wake(st, wake, err, sizeof(err)) != STORE_OK) {
			fprintf(stderr, "wake_cost: store_next_wake: %s\n",
				err);
			return -1;
		}
	}
	return (bench_mono_seconds() - t0) / WAKE_CALLS;
}

/* Fastest of SCAN_RUNS full scans; the last list is kept in *out. */
static double
time_scan(struct store *st, struct promise **out, size_t *n)
{
	struct store_filter f;
	char err[256];
	double best = -1;
	int r;

	memset(&f, 0, sizeof(f));
	f.open_only = 1;
	f.now = bench_now;
	*out = NULL;
	*n = 0;
	for (r = 0; r < SCAN_RUNS; r++) {
		double t0, dt;

		promise_free_array(*out, *n);
		*out = NULL;
		t0 = bench_mono_seconds();
		if (store_list(st, &f, out, n, err, sizeof(err)) != STORE_OK) {
			fprintf(stderr, "wake_cost: store_list: %s\n", err);
			return -1;
		}
		dt = bench_mono_seconds() - t0;
		if (best < 0 || dt < best)
			best = dt;
	}
	return best;
}

/* Seconds for escalate_next_step_at over arr; *steps counts non-zero. */
static double
time_escalate(struct escalate *esc, const struct promise *arr, size_t n,
	      size_t *steps)
{
	double t0 = bench_mono_seconds();
	size_t i;

	*steps = 0;
	for (i = 0; i < n; i++)
		if (escalate_next_step_at(esc, &arr[i], bench_now) > 0)
			(*steps)++;
	return bench_mono_seconds() - t0;
}

static struct config *
load_config(const char *path)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "wake_cost: %s\n", errs.msg[i]);
	config_errors_clear(&errs);
	return cfg;
}

/* Removes the database and its WAL files, then the folder. */
static void
remove_dir(const char *dir)
{
	static const char *const files[] = {
		"wake.db", "wake.db-wal", "wake.db-shm", "wake.db-journal",
	};
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

struct figures {
	size_t n;
	double add_s, bulk_s, wake_s, scan_s, esc_s, recompute_s;
	size_t listed, steps;
	int64_t wake;
};

/* Fills the store, then takes every figure; 0 or -1. */
static int
measure(struct store *st, const char *db, struct escalate *esc,
	struct figures *fg)
{
	struct promise *arr = NULL;
	char err[256];
	size_t add_n = fg->n < ADD_N ? fg->n : ADD_N;
	double t0;
	int rc = -1;

	if ((fg->add_s = add_via_api(st, add_n)) < 0)
		goto out;
	t0 = bench_mono_seconds();
	if (add_via_sqlite3(db, add_n, fg->n) != 0) {
		fprintf(stderr, "wake_cost: bulk insert with sqlite3 failed\n");
		goto out;
	}
	fg->bulk_s = bench_mono_seconds() - t0;
	if ((fg->wake_s = time_next_wake(st, &fg->wake)) < 0 ||
	    (fg->scan_s = time_scan(st, &arr, &fg->listed)) < 0)
		goto out;
	fg->esc_s = time_escalate(esc, arr, fg->listed, &fg->steps);
	store_set_next_fn(st, escalate_next_step_at, esc);
	t0 = bench_mono_seconds();
	if (store_recompute_all(st, bench_now, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "wake_cost: store_recompute_all: %s\n", err);
		goto out;
	}
	fg->recompute_s = bench_mono_seconds() - t0;
	rc = 0;
out:
	promise_free_array(arr, fg->listed);
	return rc;
}

static void
print_figures(const struct figures *fg, size_t add_n)
{
	printf("promises %zu\n", fg->n);
	printf("listed_open %zu\n", fg->listed);
	printf("store_add_per_s %.0f\n",
	       fg->add_s > 0 ? (double)add_n / fg->add_s : 0.0);
	printf("bulk_insert_s %.2f\n", fg->bulk_s);
	printf("next_wake_us %.3f\n", fg->wake_s * 1e6);
	printf("next_wake_at %" PRId64 "\n", fg->wake);
	printf("full_scan_ms %.2f\n", fg->scan_s * 1e3);
	printf("ratio.scan_over_wake %.0f\n",
	       fg->wake_s > 0 ? fg->scan_s / fg->wake_s : 0.0);
	printf("escalate_us_per_promise %.2f\n",
	       fg->listed > 0 ? fg->esc_s * 1e6 / (double)fg->listed : 0.0);
	printf("escalate_with_step %zu\n", fg->steps);
	printf("recompute_all_s %.2f\n", fg->recompute_s);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/promised-bench-XXXXXX", db[64], err[256];
	struct figures fg;
	struct config *cfg = NULL;
	struct escalate *esc = NULL;
	struct store *st = NULL;
	int rc = 1;

	memset(&fg, 0, sizeof(fg));
	fg.n = DEFAULT_N;
	if (argc < 2 || argc > 3 ||
	    (argc == 3 && (fg.n = strtoul(argv[2], NULL, 10)) == 0)) {
		fprintf(stderr, "usage: wake_cost CONFIG.yaml [N]\n");
		return 2;
	}
	if ((cfg = load_config(argv[1])) == NULL || mkdtemp(dir) == NULL)
		goto out;
	snprintf(db, sizeof(db), "%s/wake.db", dir);
	if ((st = store_open(db, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wake_cost: %s\n", err);
		goto cleanup;
	}
	esc = escalate_new(cfg);
	if (measure(st, db, esc, &fg) != 0)
		goto cleanup;
	if (fg.listed != fg.n) {
		fprintf(stderr, "wake_cost: listed %zu of %zu\n", fg.listed,
			fg.n);
		goto cleanup;
	}
	print_figures(&fg, fg.n < ADD_N ? fg.n : ADD_N);
	rc = 0;
cleanup:
	store_close(st);
	remove_dir(dir);
out:
	escalate_free(esc);
	config_free(cfg);
	return rc;
}
