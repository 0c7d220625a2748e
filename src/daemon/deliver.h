/*
 * deliver: the daemon's side of the outbox (DESIGN.md §5).  It claims due
 * rows, hands log and maildir rows to notify at once and smtp and webhook
 * rows to netsend inside the loop, and turns every answer into sent,
 * retry (backoff with jitter, Retry-After) or dead, after which the step's
 * next channel is queued.  Private to src/daemon/.
 */
#ifndef PROMISED_DAEMON_DELIVER_H
#define PROMISED_DAEMON_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "promised/config.h"
#include "promised/escalate.h"
#include "promised/netsend.h"
#include "promised/store.h"

/* The first int of every job_ctx deliver gives netsend ("OUTB"); other
 * jobs on the same netsend start with another value (FEEDPOLL_JOB_KIND). */
#define DELIVER_JOB_KIND 0x4f555442

/* Rows in flight (claimed and not yet answered) at most. */
#define DELIVER_MAX_INFLIGHT 64

struct deliver;

/* Returns an owned engine over st, esc and cfg (borrowed; cfg must stay
 * alive while jobs of it are in flight).  watch and timer are netsend's
 * hooks into the host loop. */
struct deliver *deliver_new(struct store *st, struct escalate *esc,
			    const struct config *cfg, netsend_watch_fn watch,
			    netsend_timer_fn timer, void *loop_ctx,
			    char *err, size_t errlen);
/* Abandons what is in flight (those rows stay `sending` and are sent again
 * after the next start) and frees; NULL is allowed. */
void deliver_free(struct deliver *d);
/* Uses cfg from now on and reloads the message templates. */
void deliver_set_config(struct deliver *d, const struct config *cfg);
struct api_metrics;
struct message_links;
/* Counts answers and fire lag in metrics, and gives messages the links
 * of links (both borrowed; NULL: none). */
void deliver_set_http(struct deliver *d, struct api_metrics *metrics,
		      const struct message_links *links);
/* The netsend engine, for other kinds of jobs (feed fetches); their
 * answers go to fn (set with deliver_set_other_done), never counted as
 * rows.  Valid until deliver_free. */
struct netsend *deliver_netsend(struct deliver *d);
void deliver_set_other_done(struct deliver *d, netsend_done_fn fn,
			    void *ctx);
/* Claims due rows while there is room and sends them; -1 on a store
 * error (the loop retries a little later).  Answers kept by a hold are
 * written in the same commit as the first claim. */
int deliver_run(struct deliver *d, int64_t now);
/* Rows in flight. */
size_t deliver_inflight(const struct deliver *d);
/* 1 when a send in flight was started under cfg (it may read cfg's
 * channels until answered). */
int deliver_uses_config(const struct deliver *d, const struct config *cfg);
/* 1 when no more rows can be claimed until an answer comes. */
int deliver_saturated(const struct deliver *d);
/* 1 when answers came in since the last call (room to claim more, and
 * the next wake may have moved). */
int deliver_take_answered(struct deliver *d);

/* Between hold and release (nested), answers are kept in memory and
 * written together when the outermost release comes, or with the next
 * claim of deliver_run, or by deliver_flush: the loop holds from one
 * wake-up's events to the end of the pass they cause, so its answers
 * and its next claim cost one commit. */
void deliver_hold(struct deliver *d);
void deliver_release(struct deliver *d);
void deliver_flush(struct deliver *d);

/* Why the last deliver_run returned -1 (for /healthz). */
const char *deliver_last_error(const struct deliver *d);
/* The loop's readiness reports for netsend's sockets and timer. */
void deliver_on_fd(struct deliver *d, int fd, unsigned events);
void deliver_on_timeout(struct deliver *d);

#endif
