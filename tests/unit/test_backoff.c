/*
 * test_backoff: retry delays — the exponential series and its cap, the
 * +-20 % jitter band, Retry-After as a floor, the maximum age that turns a
 * retry into dead, and the jitter generator's range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "promised/backoff.h"

/* The shipped defaults: 30 s, doubling, at most 1 h, given up after 24 h. */
static const struct cfg_retry defaults = { 30, 2.0, 3600, 86400 };

static void
test_series_and_cap(void **state)
{
	(void)state;
	/* u = 0.5 is the middle of the jitter band: no change. */
	assert_int_equal(backoff_delay(&defaults, 1, -1, 0.5), 30);
	assert_int_equal(backoff_delay(&defaults, 2, -1, 0.5), 60);
	assert_int_equal(backoff_delay(&defaults, 3, -1, 0.5), 120);
	assert_int_equal(backoff_delay(&defaults, 7, -1, 0.5), 1920);
	/* 30 * 2^7 = 3840 > 3600. */
	assert_int_equal(backoff_delay(&defaults, 8, -1, 0.5), 3600);
	assert_int_equal(backoff_delay(&defaults, 100000, -1, 0.5), 3600);
	/* Attempts below 1 count as the first. */
	assert_int_equal(backoff_delay(&defaults, 0, -1, 0.5), 30);
}

static void
test_fractional_factor(void **state)
{
	const struct cfg_retry r = { 10, 1.5, 100, 1000 };

	(void)state;
	/* 10 * 1.5^2 = 22.5, rounded half up. */
	assert_int_equal(backoff_delay(&r, 3, -1, 0.5), 23);
}

static void
test_jitter_band(void **state)
{
	uint64_t rng = 12345;
	int64_t d, lo = INT64_MAX, hi = 0;
	int i;

	(void)state;
	/* u = 0 is -20 %, u close to 1 is +20 %. */
	assert_int_equal(backoff_delay(&defaults, 1, -1, 0.0), 24);
	assert_int_equal(backoff_delay(&defaults, 1, -1, 0.999999), 36);
	assert_int_equal(backoff_delay(&defaults, 8, -1, 0.0), 2880);
	for (i = 0; i < 10000; i++) {
		d = backoff_delay(&defaults, 2, -1, backoff_uniform(&rng));
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	assert_true(lo >= 48 && hi <= 72);
	/* 10000 draws spread over the whole band. */
	assert_true(lo <= 50 && hi >= 70);
}

static void
test_minimum_one_second(void **state)
{
	const struct cfg_retry r = { 1, 1.0, 1, 10 };

	(void)state;
	/* 0.8 s rounds to 1; never 0, which would retry in a busy loop. */
	assert_int_equal(backoff_delay(&r, 1, -1, 0.0), 1);
}

static void
test_retry_after(void **state)
{
	(void)state;
	assert_int_equal(backoff_delay(&defaults, 1, 100, 0.5), 100);
	/* A shorter Retry-After does not shorten our own backoff. */
	assert_int_equal(backoff_delay(&defaults, 1, 10, 0.5), 30);
	/* Retry-After may exceed the cap: the far side asked for it. */
	assert_int_equal(backoff_delay(&defaults, 1, 7200, 0.5), 7200);
}

static void
test_max_age(void **state)
{
	const int64_t created = 1000000;
	int64_t next = -1;

	(void)state;
	assert_int_equal(backoff_next(&defaults, created, 1, -1, 0.5,
				      created + 10, &next), 1);
	assert_int_equal(next, created + 40);
	/* Close to the deadline: one last try exactly at it. */
	assert_int_equal(backoff_next(&defaults, created, 5, -1, 0.5,
				      created + 86390, &next), 1);
	assert_int_equal(next, created + 86400);
	/* A Retry-After beyond the deadline is cut to it as well. */
	assert_int_equal(backoff_next(&defaults, created, 1, 999999, 0.5,
				      created + 100, &next), 1);
	assert_int_equal(next, created + 86400);
	/* At or past the maximum age: dead. */
	assert_int_equal(backoff_next(&defaults, created, 6, -1, 0.5,
				      created + 86400, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(backoff_next(&defaults, created, 6, -1, 0.5,
				      created + 90000, &next), 0);
}

static void
test_uniform_range(void **state)
{
	uint64_t rng = 0;
	double u, sum = 0.0;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		u = backoff_uniform(&rng);
		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
	}
	/* The mean of a uniform [0, 1) is 0.5; 100000 draws land close. */
	assert_true(sum / 100000.0 > 0.49 && sum / 100000.0 < 0.51);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series_and_cap),
		cmocka_unit_test(test_fractional_factor),
		cmocka_unit_test(test_jitter_band),
		cmocka_unit_test(test_minimum_one_second),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_max_age),
		cmocka_unit_test(test_uniform_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
