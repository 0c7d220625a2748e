/*
 * feedpoll: keeps calendar feeds (config `feeds:`) and sites' holiday
 * calendars (`holidays_url` / `holidays_file`) in step, inside the
 * daemon's loop.  Each source is fetched every `every` seconds with a
 * conditional GET through netsend (files are read directly); a 200 is
 * mapped with feed_parse and applied with store_feed_sync, a 304 only
 * updates the feeds table.  A failed or refused answer marks the feed
 * failing with the reason and leaves its promises as they are.  A site's
 * holiday calendar has its row in the feeds table (and its /metrics
 * label) as "holidays:<site>", apart from a feed of the same name.
 *
 * Holidays from calendars are kept in memory per site;
 * feedpoll_apply_holidays merges them into the sites of a config.
 *
 * `promisectl sync NAME` asks the daemon to fetch now by creating the
 * file "<database>-feedsync-<NAME>" next to the database (the daemon's
 * inotify watch on that folder wakes it); feedpoll_next_due then reports
 * the feed as due and the request is removed when its fetch starts.
 */
#ifndef PROMISED_FEEDPOLL_H
#define PROMISED_FEEDPOLL_H

#include <stddef.h>
#include <stdint.h>

#include "promised/config.h"
#include "promised/feed.h"
#include "promised/netsend.h"
#include "promised/store.h"

struct feedpoll;

/* Job routing: every netsend job that feedpoll submits has a job_ctx
 * pointing to a struct whose first member is an int holding
 * FEEDPOLL_JOB_KIND.  A host that submits jobs of its own gives them a
 * job_ctx starting with an int of another value, and routes a done
 * callback to feedpoll_on_done when feedpoll_owns_job says so. */
#define FEEDPOLL_JOB_KIND 0x46454544   /* "FEED" */

/* What one fetch-and-apply did. */
struct feedpoll_report {
	int not_modified;              /* 304, the ETag sent came back, or
					* a file unchanged */
	long status;                   /* HTTP status; 0 for a file */
	int failed;                    /* nothing applied; error says why */
	int refused;                   /* failed by the safety valve */
	size_t holidays;               /* days read (holiday calendars) */
	struct store_feed_result res;  /* counts of the store sync */
	struct feed_stats stats;       /* what the parse saw */
	char error[300];
};

/* A poller over cfg's feeds (borrowed until feedpoll_set_config or
 * feedpoll_free), writing to st and fetching through ns (may be NULL when
 * every source is a file).  Sources never tried are due at once. */
struct feedpoll *feedpoll_new(const struct config *cfg, struct store *st,
			      struct netsend *ns);
/* Releases; jobs still in flight must have been dropped (netsend_free)
 * first.  NULL is allowed. */
void feedpoll_free(struct feedpoll *fp);
/* Switches to a freshly loaded config: sources of the same name keep
 * their schedule and holidays, the site holidays of cfg are taken as the
 * configured ones (call before feedpoll_apply_holidays on it). */
void feedpoll_set_config(struct feedpoll *fp, const struct config *cfg);
/* Earliest instant a source is due (a requested sync or a source never
 * polled: 1, i.e. at once); 0 when nothing is to be polled. */
int64_t feedpoll_next_due(struct feedpoll *fp);
/* Starts every fetch due at now (or requested); returns how many started. */
int feedpoll_run(struct feedpoll *fp, int64_t now);
/* 1 when job_ctx (from a netsend_done) belongs to feedpoll. */
int feedpoll_owns_job(const void *job_ctx);
/* Applies one finished fetch (d from netsend's done callback). */
void feedpoll_on_done(struct feedpoll *fp, const struct netsend_done *d,
		      int64_t now);
/* Fetches in flight. */
size_t feedpoll_inflight(const struct feedpoll *fp);
/* 1 once after the holidays read from calendars changed. */
int feedpoll_holidays_changed(struct feedpoll *fp);
/* Sets every site of cfg to its configured holidays plus those read
 * from its calendar (sorted, no duplicates); cfg is the one last given
 * to feedpoll_new / feedpoll_set_config. */
void feedpoll_apply_holidays(const struct feedpoll *fp, struct config *cfg);

/* Called after every finished attempt of a source (a file read, an
 * answered fetch, a fetch that could not start) with the source's name,
 * 1 for a holiday calendar, and what happened: for a host's counters. */
typedef void (*feedpoll_observe_fn)(void *ctx, const char *name,
				    int holidays,
				    const struct feedpoll_report *rep);
/* Sets (fn NULL: clears) the observer. */
void feedpoll_set_observer(struct feedpoll *fp, feedpoll_observe_fn fn,
			   void *ctx);

/* Maps data (len bytes) of feed fd and applies it as one sync: for
 * `promisectl import` and every fetch.  0, or -1 with rep->error set
 * (rep->refused for the safety valve); the feeds table is not touched. */
int feedpoll_apply(const struct config *cfg, struct store *st,
		   const struct cfg_feed *fd, const char *data, size_t len,
		   int64_t now, const char *actor, struct feedpoll_report *rep);
/* Fetches feed `name` now without a host loop (netsend_run), applies it
 * and records the outcome in the feeds table, as the daemon would.  full:
 * no conditional request.  0 (rep says what happened, including a
 * failure of the feed), or -1 with err when it could not even try. */
int feedpoll_sync_now(const struct config *cfg, struct store *st,
		      const char *name, int64_t now, int full,
		      struct feedpoll_report *rep, char *err, size_t errlen);
/* Records a sync request for feed `name` of the database at db_path. */
int feedpoll_request_sync(const char *db_path, const char *name, char *err,
			  size_t errlen);

#endif
