/*
 * httpd: the daemon's HTTP listener (DESIGN.md §7) — the intake API,
 * /healthz, /metrics, one-click links, SMS replies and the live board on one
 * libmicrohttpd server driven by the loop.  It owns the secrets the
 * config names (signing keys, the intake token, the SMS provider's
 * secret) and the counters only the running daemon knows.  Private to
 * src/daemon/.
 */
#ifndef PROMISED_DAEMON_HTTPD_H
#define PROMISED_DAEMON_HTTPD_H

#include <stddef.h>

#include "promised/api.h"
#include "promised/config.h"
#include "promised/message.h"
#include "promised/store.h"

struct httpd;

/* The http section of cfg, or NULL when the config has none (then
 * nothing listens). */
const struct cfg_http *httpd_section(const struct config *cfg);

/* 0 while the loop, store and config are fine, else -1 with the reason. */
typedef int (*httpd_health_fn)(void *ctx, char *reason, size_t reasonlen);

/* Starts listening as cfg's http section says (the section must be
 * there) over st (borrowed).  Returns an owned listener, or NULL with err
 * (a secret that cannot be read, an address that cannot be bound). */
struct httpd *httpd_new(struct store *st, const struct config *cfg,
			httpd_health_fn health, void *health_ctx,
			char *err, size_t errlen);
/* Uses cfg (borrowed, replacing the previous one) from the next request
 * on: keys, tokens and the SMS settings are read again.  0, or -1 with
 * err when a secret cannot be read (the previous settings stay). */
int httpd_set_config(struct httpd *h, const struct config *cfg,
		     char *err, size_t errlen);
void httpd_free(struct httpd *h);

/* The fd the loop watches for input, and how long it may sleep before
 * httpd_run must be called (-1: until the fd is readable). */
int httpd_fd(const struct httpd *h);
long httpd_timeout_ms(const struct httpd *h);
void httpd_run(struct httpd *h);

/* The daemon's counters (for deliver) and what messages need to carry
 * one-click links; both stay valid until httpd_free. */
struct api_metrics *httpd_metrics(struct httpd *h);
const struct message_links *httpd_links(const struct httpd *h);

#endif
