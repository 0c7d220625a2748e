/*
 * bench_clock.h: the one clock the benchmark programs time themselves
 * with (monotonic, so a wall-clock step cannot bend a figure).
 */
#ifndef PROMISED_BENCH_CLOCK_H
#define PROMISED_BENCH_CLOCK_H

#include <time.h>

static inline double
bench_mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
