/*
 * escalate: joins the pure scheduler to the config and the store.  It
 * picks a promise's policy (the promise's own, else its team's, else the
 * default) and site, computes next_step_at for the store, and turns due
 * steps into notifications for the outbox.
 */
#ifndef PROMISED_ESCALATE_H
#define PROMISED_ESCALATE_H

#include <stddef.h>
#include <stdint.h>

#include "promised/config.h"
#include "promised/promise.h"
#include "promised/store.h"

struct escalate;

/* Returns an owned engine over cfg (borrowed; must outlive the engine or
 * be replaced with escalate_set_config first). */
struct escalate *escalate_new(const struct config *cfg);
void escalate_free(struct escalate *esc);
/* Swaps in a new, validated config (SIGHUP reload). */
void escalate_set_config(struct escalate *esc, const struct config *cfg);

/* The policy that applies to p (its own, else its team's, else the
 * default), borrowed from the current config; NULL when there is none. */
const struct sched_policy *escalate_policy_for(const struct escalate *esc,
					       const struct promise *p);

/* A store_next_fn: ctx is the struct escalate.  Next step instant of p at
 * now under its policy and site, 0 when nothing is left. */
int64_t escalate_next_step_at(void *ctx, const struct promise *p,
			      int64_t now);

/* Brings every open promise's next_step_at in line with the engine's
 * config, unless the store says it already is (same config file and
 * program version, store_recompute_for): a start or a reload with an
 * unchanged config costs one lookup, not a walk over every promise.
 * *skipped is 1 then.  STORE_OK or the store's error. */
int escalate_refresh(struct escalate *esc, struct store *st, int64_t now,
		     int *skipped, char *err, size_t errlen);

/* Fires every step due at now: for each due promise, resolves recipients,
 * renders the notifications and applies them with store_fire (one
 * savepoint per promise, one transaction per batch of promises).  After downtime only the most escalated missed
 * step is queued, marked late.  *nqueued gets the notifications queued. */
int escalate_run(struct escalate *esc, struct store *st, int64_t now,
		 size_t *nqueued, char *err, size_t errlen);

#endif
