/*
 * digest: the weekly email to managers.  Per site, on a weekday and local
 * time (default Monday 08:00), every manager (staff who are someone's
 * `manager`, and team leads) with teams at that site gets one email: the
 * report of the previous 7 local days for each of their teams and the
 * promises of those teams that are lapsed right now.  It is queued in the
 * normal outbox (so it retries) with the idem_key
 * "digest.<site>.<manager>.<period-start-date>", which makes it
 * idempotent per period: a second run, a restart at the very instant, or
 * the catch-up after downtime never queues the same week twice.
 *
 * The row: promise_id 0 (NULL in the store), step "digest", channel the
 * digest's email channel, recipient the manager's staff id, subject the
 * rendered subject and body a complete RFC 5322 message (CRLF), to be
 * sent as it is.
 */
#ifndef PROMISED_DIGEST_H
#define PROMISED_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "promised/config.h"
#include "promised/store.h"

#define DIGEST_STEP "digest"

/* When one site's digest goes out. */
struct digest_site {
	const char *site;      /* site id */
	int weekday;           /* 0 = Monday ... 6 = Sunday; -1: no digest */
	int minute;            /* minute of the local day, 0..1439 */
};

struct digest_opts {
	int weekday;           /* for sites not listed; -1: none */
	int minute;
	const struct digest_site *sites;   /* per-site overrides, borrowed */
	size_t nsites;
	const char *channel;   /* email channel name; NULL: the first smtp
				* channel, else the first maildir one */
	const char *public_url;    /* the board's address for a link, or NULL */
};

/* Sets the defaults: Monday 08:00 for every site, channel chosen. */
void digest_opts_init(struct digest_opts *o);

/* The latest digest instant of site at or before now and its period
 * [*from, *to) (the 7 local days before the instant's local day), all
 * UTC; -1 when the site has no digest or its zone is unknown. */
int digest_period(const struct config *cfg, const struct digest_opts *o,
		  const char *site, int64_t now, int64_t *at, int64_t *from,
		  int64_t *to);

/* The first digest instant of any site strictly after now; 0 when no
 * site has a digest.  Pure. */
int64_t digest_next_due(const struct config *cfg,
			const struct digest_opts *o, int64_t now);

/* The channel digests go through: o->channel, else the first smtp
 * channel, else the first maildir one; NULL when there is none. */
const struct cfg_channel *digest_channel(const struct config *cfg,
					 const struct digest_opts *o);

/* Queues, for every site whose latest digest instant is <= now, one
 * email per manager of that site for that period unless it was queued
 * already.  *queued (may be NULL) gets how many were queued now.  A
 * manager without an email address is skipped (logged), and so is a
 * period whose instant is older than the first promise (no catch-up
 * of weeks before the database was in service).  0, or a
 * store_rc with err. */
int digest_run(struct store *st, const struct config *cfg,
	       const struct digest_opts *o, int64_t now, size_t *queued,
	       char *err, size_t errlen);

/* A digest's period, [from, to) in UTC: one value, so that the two ends
 * and now cannot be passed in each other's place. */
struct digest_period {
	int64_t from, to;
};

/* A rendered digest; every field owned. */
struct digest_text {
	char *subject, *text, *html;
};

/* Renders the digest of manager for site and period at now into *out.
 * What digest_run sends. */
int digest_render(struct store *st, const struct config *cfg,
		  const struct digest_opts *o, const char *site,
		  const char *manager, struct digest_period period,
		  int64_t now, struct digest_text *out, char *err,
		  size_t errlen);

#endif
