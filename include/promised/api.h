/*
 * api: what other programs talk to over HTTP — the intake API (create,
 * list and close promises as JSON, with a bearer token), /healthz for
 * supervisors and /metrics in the Prometheus text format.  Everything the
 * handlers need comes in struct api_opts, so the daemon decides where the
 * store, the config, the clock and the health verdict come from.
 */
#ifndef PROMISED_API_H
#define PROMISED_API_H

#include <stddef.h>
#include <stdint.h>

struct http_server;
struct store;
struct config;

/* Counters only the running daemon knows (they start at zero with the
 * process): fire lag, send attempts by channel and result, feed fetches
 * by feed and result.  Opaque; one thread. */
struct api_metrics;

/* The upper bounds (seconds) of the fire lag histogram; +Inf follows. */
#define API_LAG_BUCKETS { 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300 }
#define API_LAG_NBUCKETS 9

/* Returns owned, zeroed counters. */
struct api_metrics *api_metrics_new(void);
void api_metrics_free(struct api_metrics *m);
/* One notification sent `seconds` after its step's instant. */
void api_metrics_observe_lag(struct api_metrics *m, double seconds);
/* One send attempt through channel ended with result ("sent", "retry",
 * "dead"). */
void api_metrics_count_notification(struct api_metrics *m,
				    const char *channel, const char *result);
/* One fetch of feed ended with result ("ok", "not_modified", "error",
 * "refused"). */
void api_metrics_count_feed(struct api_metrics *m, const char *feed,
			    const char *result);

struct api_opts {
	struct store *st;
	const struct config *cfg;       /* staff, teams, sites, phrases */
	const char *intake_token;       /* NULL: /api/v1 answers 503 */
	int64_t (*now_fn)(void);        /* NULL: time(NULL) */
	/* 0 when the loop, store and config are fine, else -1 with the
	 * reason in reason; NULL: always fine. */
	int (*health_fn)(void *ctx, char *reason, size_t reasonlen);
	void *health_ctx;
	struct api_metrics *metrics;    /* NULL: those series stay at zero */
};

struct api;

/* Registers /api/v1/promises, /api/v1/promises/<id or ref>[/close],
 * /healthz and /metrics on srv and returns the owned handle their
 * handlers share.  The opts are copied; what they point to must stay
 * valid until api_set_opts replaces them or api_free.  Free the api after
 * http_free(srv). */
struct api *api_register(struct http_server *srv, const struct api_opts *o);
/* Replaces the opts (a reloaded config, a new token); takes effect with
 * the next request. */
void api_set_opts(struct api *a, const struct api_opts *o);
void api_free(struct api *a);

/* Renders the /metrics body (owned, NUL-terminated) for o at now; NULL
 * with err on a store error. */
char *api_metrics_render(const struct api_opts *o, int64_t now, char *err,
			 size_t errlen);

#endif
