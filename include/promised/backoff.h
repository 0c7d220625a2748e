/*
 * backoff: when an outbox row that failed for now is tried again.
 * Exponential backoff with jitter under a channel's cfg_retry, Retry-After
 * honoured, and a maximum age after which the row is given up (dead).
 * Pure: the clock and the random number are arguments.
 */
#ifndef PROMISED_BACKOFF_H
#define PROMISED_BACKOFF_H

#include <stdint.h>

#include "promised/config.h"

/* Jitter spread: a delay lands within +-BACKOFF_JITTER_PCT percent. */
#define BACKOFF_JITTER_PCT 20

/* Delay in seconds (>= 1) before attempt attempts+1, after `attempts`
 * failed attempts (>= 1): min(cap, base * factor^(attempts-1)) moved by
 * the jitter u in [0, 1) to within +-20 %, then at least retry_after
 * (seconds; < 0 means none). */
int64_t backoff_delay(const struct cfg_retry *r, int attempts,
		      int64_t retry_after, double u);

/* Decides what a temporary failure at now becomes for a row created at
 * created_at: 1 and *next_try_at (never past created_at + max_age) for a
 * retry, or 0 when the row is max_age old or older (dead).  created_at
 * and now are apart so that the two instants cannot trade places. */
int backoff_next(const struct cfg_retry *r, int64_t created_at, int attempts,
		 int64_t retry_after, double u, int64_t now,
		 int64_t *next_try_at);

/* A small PRNG (splitmix64) for the jitter: advances *state and returns a
 * uniform double in [0, 1).  Seed the state from getrandom. */
double backoff_uniform(uint64_t *state);

#endif
