/*
 * loop: the daemon's one event loop (DESIGN.md §3).  It sleeps in
 * epoll_wait on a timerfd armed at the next step or retry, a signalfd, an
 * inotify watch on the database folder, a periodic timer for the systemd
 * watchdog and the optional safety sweep, and the sockets and timer of
 * network sends while any are in flight.  Private to src/daemon/.
 */
#ifndef PROMISED_DAEMON_LOOP_H
#define PROMISED_DAEMON_LOOP_H

#include "promised/config.h"
#include "promised/escalate.h"
#include "promised/store.h"

struct loop;

/* Sets up the loop's file descriptors over an open store and a running
 * escalate engine (both borrowed) and cfg (owned from now on, replaced on
 * SIGHUP).  The signals TERM, INT and HUP must be blocked already.
 * Returns an owned loop or NULL with err filled in. */
struct loop *loop_new(struct store *st, struct escalate *esc,
		      struct config *cfg, const char *config_path,
		      char *err, size_t errlen);
/* Makes the next pass recompute every promise's next step first. */
void loop_request_recompute(struct loop *lp);
/* Runs until SIGTERM or SIGINT; returns 0, or -1 when epoll itself failed. */
int loop_run(struct loop *lp);
/* Closes the descriptors and frees the current config; NULL is allowed. */
void loop_free(struct loop *lp);

/* Blocks TERM, INT and HUP (they are read from a signalfd) and ignores
 * PIPE; 0 or -1. */
int loop_block_signals(void);

#endif
