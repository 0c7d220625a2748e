/*
 * backoff: the retry delays of the outbox (DESIGN.md §5).  Jitter keeps
 * the retries of many rows that failed together (a gateway outage) from
 * hitting the far side again in the same second.
 */
#include <math.h>
#include <stdint.h>

#include "promised/backoff.h"

int64_t
backoff_delay(const struct cfg_retry *r, int attempts, int64_t retry_after,
	      double u)
{
	double d = (double)r->base, cap = (double)r->cap;
	int i;

	if (attempts < 1)
		attempts = 1;
	/* Multiplying stops at the cap, so a large attempt count cannot
	 * overflow. */
	for (i = 1; i < attempts && d < cap; i++)
		d *= r->factor;
	if (d > cap)
		d = cap;
	if (u < 0.0 || u >= 1.0)
		u = 0.5;
	d *= 1.0 + (2.0 * u - 1.0) * BACKOFF_JITTER_PCT / 100.0;
	d = floor(d + 0.5);
	if (d < 1.0)
		d = 1.0;
	if (retry_after > 0 && (double)retry_after > d)
		return retry_after;
	return (int64_t)d;
}

int
backoff_next(const struct cfg_retry *r, int64_t created_at, int attempts,
	     int64_t retry_after, double u, int64_t now, int64_t *next_try_at)
{
	int64_t deadline = created_at + r->max_age;
	int64_t at;

	*next_try_at = 0;
	if (now >= deadline)
		return 0;
	at = now + backoff_delay(r, attempts, retry_after, u);
	/* One last attempt at the deadline rather than none at all. */
	*next_try_at = at > deadline ? deadline : at;
	return 1;
}

double
backoff_uniform(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	/* The top 53 bits fill a double's mantissa exactly. */
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
