/*
 * loop: one thread, one epoll set, and nothing that wakes the daemon unless
 * something is due.  Each wake runs a pass: fire due steps into the outbox
 * (escalate_run), hand claimed outbox rows to their channels (deliver),
 * then re-arm the step timer at the store's next wake.  Network sends are
 * driven by the same epoll set: netsend's sockets and its one timer (a
 * timerfd armed only while something is in flight), and the HTTP
 * listener's epoll fd, with the timeout libmicrohttpd asks for only while
 * it has connections to time out.  The daemon's own
 * writes reach its inotify watch too; a pass with nothing due writes
 * nothing, so those echoes die out after one extra pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "deliver.h"
#include "httpd.h"
#include "loop.h"
#include "promised/api.h"
#include "promised/digest.h"
#include "promised/feedpoll.h"
#include "promised/log.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define NSEC 1000000000LL
/* After a database error the next pass comes this much later. */
#define LOOP_RETRY_SECS 5
/* A write seen through inotify may still be committing (the WAL is written
 * and fsynced before the index is updated): look once more this much later. */
#define LOOP_RECHECK_NS (200 * 1000000LL)
/* Configs replaced by a reload while sends of theirs were in flight. */
#define LOOP_MAX_RETIRED 8

/* What an epoll event is for: the low 32 bits of its data; netsend's
 * sockets carry their fd in the high 32 bits. */
enum loop_src { SRC_STEP = 1, SRC_TICK, SRC_SIGNAL, SRC_INOTIFY, SRC_NETTIMER,
		SRC_NET, SRC_HTTP };

struct loop {
	struct store *st;
	struct escalate *esc;
	struct config *cfg;          /* owned; swapped on SIGHUP */
	struct config *retired[LOOP_MAX_RETIRED];  /* owned; freed when answered */
	size_t nretired;
	int reload_pending;          /* a SIGHUP waits for a free slot */
	struct deliver *dl;
	struct feedpoll *fp;         /* calendar feeds and holiday calendars */
	struct httpd *hd;            /* NULL: no http section at start */
	struct digest_opts dgo;      /* from cfg; sites borrow its strings */
	struct digest_site *dgsites; /* owned */
	int digest_on;               /* an email channel is there */
	int64_t digest_due;          /* next digest instant; 0: none, 1: now */
	int feeds_answered;          /* a fetch ended since the last pass */
	char *config_path;
	char *db_dir;
	char *db_base;
	int epfd, stepfd, tickfd, sigfd, inofd, netfd;
	int64_t net_due;          /* netfd's deadline (CLOCK_MONOTONIC ns), -1: none */
	uint64_t wd_usec;            /* 0: no watchdog */
	int64_t sweep;               /* seconds; 0: no safety sweep */
	int64_t last_sweep;
	int64_t retry_at;            /* after an error; 0: none */
	char last_err[256];          /* why the last pass failed, for /healthz */
	int64_t recheck_ns;          /* realtime ns; 0: none */
	int64_t logged_next;         /* the store's next step, as last logged */
	int64_t armed_ns;            /* what stepfd is armed at; 0: disarmed */
	int need_recompute;
	int stop;
};

static int64_t
loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/* Whole seconds of CLOCK_REALTIME, the clock the step timer runs on.
 * time() may read a coarse clock that lags by a tick: a timer that fired
 * at 10:00:00.000 could still see 09:59:59, find nothing due and re-arm
 * at once, spinning until the coarse clock catches up. */
static int64_t
loop_now(void)
{
	return loop_now_ns() / NSEC;
}

int
loop_block_signals(void)
{
	sigset_t set;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

/* ---- Timers ------------------------------------------------------------ */

/* Arms the step timer at the earliest of the store's next wake, a pending
 * retry and a pending recheck; disarms it when there is none of them. */
static void
loop_arm(struct loop *lp)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct itimerspec its;
	char err[512];
	int64_t next = 0, at = 0, t;

	if (store_next_wake(lp->st, &next, err, sizeof(err)) != STORE_OK) {
		log_err("cannot read the next wake-up: %s", err);
		if (lp->retry_at == 0)
			lp->retry_at = loop_now() + LOOP_RETRY_SECS;
		util_strlcpy(lp->last_err, err, sizeof(lp->last_err));
	}
	if (next > 0)
		at = next * NSEC;
	/* The store's own answer, apart from rechecks and retries that may
	 * arm the timer earlier: when a new promise is scheduled. */
	if (next != lp->logged_next) {
		char step[32];

		lp->logged_next = next;
		util_format_utc(next, step, sizeof(step));
		log_debug("next step at %s", next > 0 ? step : "none");
	}
	/* Rows due now that cannot be claimed until an answer comes: the
	 * answer starts the next pass, so a timer in the past would spin. */
	if (at > 0 && lp->dl != NULL && deliver_saturated(lp->dl) &&
	    at <= loop_now_ns())
		at = 0;
	/* Feeds at their poll times (1: at once), the digest weekly; a
	 * config with neither adds no wake-up. */
	t = lp->fp != NULL ? feedpoll_next_due(lp->fp) : 0;
	if (t > 0 && (at == 0 || t * NSEC < at))
		at = t * NSEC;
	t = lp->digest_on ? lp->digest_due : 0;
	if (t > 0 && (at == 0 || t * NSEC < at))
		at = t * NSEC;
	if (lp->recheck_ns > 0 && (at == 0 || lp->recheck_ns < at))
		at = lp->recheck_ns;
	/* After a failed pass nothing runs before the retry: what is due
	 * would fail again at once (a full or read-only disk), and the timer
	 * would spin, logging each time. */
	if (lp->retry_at > 0)
		at = lp->retry_at * NSEC;
	if (at == lp->armed_ns)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(at / NSEC);
	its.it_value.tv_nsec = (long)(at % NSEC);
	if (timerfd_settime(lp->stepfd,
			    TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its,
			    NULL) != 0) {
		log_err("timerfd_settime: %s", util_strerror(errno, ebuf,
							     sizeof(ebuf)));
		return;
	}
	lp->armed_ns = at;
	if (at == 0) {
		log_debug("nothing scheduled; sleeping until something changes");
	} else {
		char when[32];

		util_format_utc(at / NSEC, when, sizeof(when));
		log_debug("next wake-up at %s", when);
	}
}

/* The periodic timer: half the watchdog interval, or the safety sweep. */
static void
loop_arm_tick(struct loop *lp)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct itimerspec its;
	int64_t ns = 0;

	if (lp->wd_usec > 0)
		ns = (int64_t)(lp->wd_usec / 2) * 1000;
	if (lp->sweep > 0 && (ns == 0 || lp->sweep * NSEC < ns))
		ns = lp->sweep * NSEC;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(ns / NSEC);
	its.it_value.tv_nsec = (long)(ns % NSEC);
	its.it_interval = its.it_value;
	if (timerfd_settime(lp->tickfd, 0, &its, NULL) != 0)
		log_err("timerfd_settime (watchdog): %s",
			util_strerror(errno, ebuf, sizeof(ebuf)));
}

/* ---- netsend's sockets and timer -------------------------------------- */

static uint64_t
loop_net_data(int fd)
{
	return ((uint64_t)(uint32_t)fd << 32) | SRC_NET;
}

/* netsend_watch_fn: adds, changes or removes a socket in the epoll set. */
static void
loop_net_watch(void *ctx, int fd, unsigned events)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct loop *lp = ctx;
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	if (events == 0) {
		/* The socket may be closed already: nothing left to remove. */
		(void)epoll_ctl(lp->epfd, EPOLL_CTL_DEL, fd, &ev);
		return;
	}
	if (events & NETSEND_IN)
		ev.events |= EPOLLIN;
	if (events & NETSEND_OUT)
		ev.events |= EPOLLOUT;
	ev.data.u64 = loop_net_data(fd);
	if (epoll_ctl(lp->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return;
	if (errno != ENOENT ||
	    epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		log_err("epoll_ctl (socket %d): %s", fd,
			util_strerror(errno, ebuf, sizeof(ebuf)));
}

static int64_t
loop_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* netsend_timer_fn: one relative timer; -1 disarms.  libcurl asks for a
 * zero timeout with every transfer it is given: a timer that is due
 * already is left alone, so a burst does not pay a system call each. */
static void
loop_net_timer(void *ctx, long timeout_ms)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct loop *lp = ctx;
	struct itimerspec its;
	int64_t now = loop_mono_ns(), due = -1;

	if (timeout_ms >= 0)
		due = now + (int64_t)timeout_ms * 1000000;
	if (due == lp->net_due ||
	    (timeout_ms == 0 && lp->net_due >= 0 && lp->net_due <= now))
		return;
	memset(&its, 0, sizeof(its));
	/* A zero value would disarm a timerfd: "now" is one nanosecond. */
	if (due >= 0) {
		its.it_value.tv_sec = (time_t)(due / 1000000000);
		its.it_value.tv_nsec = (long)(due % 1000000000);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(lp->netfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
		log_err("timerfd_settime (network): %s",
			util_strerror(errno, ebuf, sizeof(ebuf)));
		lp->net_due = -1;
		return;
	}
	lp->net_due = due;
}

static void
loop_on_net(struct loop *lp, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)(ev->data.u64 >> 32);
	unsigned events = 0;

	if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		events |= NETSEND_IN;
	if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		events |= NETSEND_OUT;
	deliver_on_fd(lp->dl, fd, events);
}

static void
loop_on_net_timer(struct loop *lp)
{
	uint64_t ticks;

	if (read(lp->netfd, &ticks, sizeof(ticks)) < 0)
		return;
	lp->net_due = -1;   /* fired: a timerfd is disarmed after its one shot */
	deliver_on_timeout(lp->dl);
}

/* Frees each config replaced while sends of its were in flight once the
 * last of them is answered: a daemon that is never idle still frees them,
 * and room for the next reload comes back. */
static void
loop_free_retired(struct loop *lp)
{
	size_t i = 0;

	while (i < lp->nretired) {
		if (deliver_uses_config(lp->dl, lp->retired[i])) {
			i++;
			continue;
		}
		config_free(lp->retired[i]);
		lp->retired[i] = lp->retired[--lp->nretired];
	}
}

/* ---- Feeds and the digest ---------------------------------------------- */

/* netsend's answer to a job deliver does not own: a feed fetch. */
static void
loop_on_other_done(void *ctx, const struct netsend_done *d)
{
	struct loop *lp = ctx;

	if (!feedpoll_owns_job(d->job_ctx)) {
		log_err("an answer to an unknown network job was dropped");
		return;
	}
	feedpoll_on_done(lp->fp, d, loop_now());
	lp->feeds_answered = 1;
}

/* feedpoll_observe_fn: one ended fetch for /metrics. */
static void
loop_feed_observed(void *ctx, const char *name, int holidays,
		   const struct feedpoll_report *rep)
{
	struct loop *lp = ctx;
	const char *result = rep->refused ? "refused" : rep->failed ? "error"
			     : rep->not_modified ? "not_modified" : "ok";
	char label[160];

	if (lp->hd == NULL)
		return;
	(void)snprintf(label, sizeof(label), "%s%s",
		       holidays ? "holidays:" : "",
		       name);
	api_metrics_count_feed(httpd_metrics(lp->hd), label, result);
}

/* Starts due fetches (files are read at once) and, when a holiday
 * calendar changed, merges it into the sites and recomputes: business
 * hours moved.  0, or -1 when that recompute failed. */
static int
loop_feeds(struct loop *lp, int64_t now)
{
	char err[512];

	lp->feeds_answered = 0;
	feedpoll_run(lp->fp, now);
	if (!feedpoll_holidays_changed(lp->fp))
		return 0;
	feedpoll_apply_holidays(lp->fp, lp->cfg);
	log_info("holidays from a calendar changed; recomputing the schedule");
	if (store_recompute_all(lp->st, now, err, sizeof(err)) != STORE_OK) {
		log_err("cannot recompute the schedule: %s", err);
		lp->need_recompute = 1;
		return -1;
	}
	return 0;
}

/* The digest options of lp->cfg; the digest runs at the next pass (a
 * catch-up after start-up or a reload; it never sends a period twice). */
static void
loop_digest_setup(struct loop *lp)
{
	const struct config *cfg = lp->cfg;
	size_t i;

	free(lp->dgsites);
	lp->dgsites = xcalloc(cfg->digest.nsites + 1, sizeof(*lp->dgsites));
	for (i = 0; i < cfg->digest.nsites; i++) {
		lp->dgsites[i].site = cfg->digest.sites[i].site;
		lp->dgsites[i].weekday = cfg->digest.sites[i].weekday;
		lp->dgsites[i].minute = cfg->digest.sites[i].minute;
	}
	digest_opts_init(&lp->dgo);
	lp->dgo.weekday = CFG_DIGEST_DEFAULT_WEEKDAY;
	lp->dgo.minute = CFG_DIGEST_DEFAULT_MINUTE;
	lp->dgo.sites = lp->dgsites;
	lp->dgo.nsites = cfg->digest.nsites;
	lp->dgo.channel = cfg->digest.channel;
	lp->dgo.public_url = httpd_section(cfg) != NULL ? cfg->http.public_url
						       : NULL;
	lp->digest_on = digest_channel(cfg, &lp->dgo) != NULL;
	lp->digest_due = 1;
	if (!lp->digest_on)
		log_info("digest: no smtp or maildir channel; no weekly digest");
}

/* Queues the digests due at now and finds the next instant. */
static int
loop_digest(struct loop *lp, int64_t now)
{
	char err[512];
	size_t nq = 0;

	if (!lp->digest_on || lp->digest_due == 0 || lp->digest_due > now)
		return 0;
	if (digest_run(lp->st, lp->cfg, &lp->dgo, now, &nq, err,
		       sizeof(err)) != STORE_OK) {
		log_err("digest: %s", err);
		return -1;
	}
	if (nq > 0)
		log_notice("digest: %zu email(s) queued", nq);
	lp->digest_due = digest_next_due(lp->cfg, &lp->dgo, now);
	return 0;
}

/* ---- One pass ----------------------------------------------------------- */

/* Fires due steps, delivers, re-arms.  Store errors are logged and turn
 * into a retry a few seconds later; they never end the daemon. */
static void
loop_pass(struct loop *lp)
{
	int64_t now = loop_now();
	char err[512];
	size_t nq = 0;
	int failed = 0;

	log_debug("pass");
	err[0] = '\0';
	if (loop_feeds(lp, now) != 0)
		failed = 1;
	if (lp->need_recompute) {
		if (store_recompute_all(lp->st, now, err, sizeof(err)) ==
		    STORE_OK) {
			lp->need_recompute = 0;
		} else {
			log_err("cannot recompute the schedule: %s", err);
			failed = 1;
		}
	}
	if (escalate_run(lp->esc, lp->st, now, &nq, err, sizeof(err)) != 0) {
		log_err("firing due steps failed: %s", err);
		failed = 1;
	}
	if (nq > 0)
		log_debug("%zu notification(s) queued", nq);
	if (loop_digest(lp, now) != 0)
		failed = 1;
	if (deliver_run(lp->dl, now) != 0) {
		if (!failed)
			util_seterr(err, sizeof(err), "delivery: %s",
				    deliver_last_error(lp->dl));
		failed = 1;
	}
	/* What the claims did not take along (a retry's next instant
	 * included) is written before the next wake is chosen. */
	deliver_flush(lp->dl);
	lp->retry_at = failed ? now + LOOP_RETRY_SECS : 0;
	if (failed)
		util_strlcpy(lp->last_err, err[0] ? err : "see the log",
			     sizeof(lp->last_err));
	loop_arm(lp);
}

/* ---- Event sources ------------------------------------------------------ */

/* Reads the step timer; returns 1 when a pass is needed. */
static int
loop_on_step(struct loop *lp)
{
	uint64_t ticks;
	int64_t now_ns;

	if (read(lp->stepfd, &ticks, sizeof(ticks)) < 0) {
		if (errno != ECANCELED)
			return 0;
		/* The wall clock jumped: every absolute instant may have moved
		 * past or away; recompute and re-arm. */
		log_notice("the wall clock changed; recomputing the schedule");
		lp->need_recompute = 1;
		lp->digest_due = 1;
	}
	lp->armed_ns = -1;   /* forces loop_arm to set it again */
	now_ns = loop_now_ns();
	if (lp->recheck_ns > 0 && lp->recheck_ns <= now_ns)
		lp->recheck_ns = 0;
	if (lp->retry_at > 0 && lp->retry_at * NSEC <= now_ns)
		lp->retry_at = 0;
	return 1;
}

/* The watchdog ping and, when its time has come, a safety sweep. */
static int
loop_on_tick(struct loop *lp)
{
	uint64_t ticks;
	int64_t now = loop_now();

	if (read(lp->tickfd, &ticks, sizeof(ticks)) < 0)
		return 0;
	if (lp->wd_usec > 0)
		sd_notify(0, "WATCHDOG=1");
	if (lp->sweep > 0 && now - lp->last_sweep >= lp->sweep) {
		lp->last_sweep = now;
		log_debug("safety sweep");
		return 1;
	}
	return 0;
}

/* 1 when an inotify event names the database, its WAL or its journal,
 * or a feed sync request ("<db>-feedsync-NAME", from promisectl sync). */
static int
loop_is_db_name(const struct loop *lp, const char *name)
{
	static const char *const suffix[] = { "", "-wal", "-journal" };
	static const char sync_prefix[] = "-feedsync-";
	size_t blen = strlen(lp->db_base), i;

	if (strncmp(name, lp->db_base, blen) != 0)
		return 0;
	if (strncmp(name + blen, sync_prefix, sizeof(sync_prefix) - 1) == 0)
		return 1;
	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if (strcmp(name + blen, suffix[i]) == 0)
			return 1;
	}
	return 0;
}

/* Drains the inotify queue; returns 1 when the database was written. */
static int
loop_on_inotify(struct loop *lp)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int hit = 0;

	for (;;) {
		ssize_t len = read(lp->inofd, buf, sizeof(buf));
		ssize_t off = 0;

		if (len <= 0)
			break;
		while (off < len) {
			const struct inotify_event *ev =
				(const struct inotify_event *)(buf + off);

			if ((ev->mask & IN_Q_OVERFLOW) ||
			    (ev->len > 0 && loop_is_db_name(lp, ev->name)))
				hit = 1;
			off += (ssize_t)sizeof(*ev) + ev->len;
		}
	}
	/* After a failed pass the retry timer runs the next one: the failed
	 * commit itself touched the WAL (a full disk takes part of a frame),
	 * and waking on that echo would retry and log in a tight loop. */
	if (hit && lp->retry_at > 0)
		return 0;
	if (hit) {
		log_debug("the database changed");
		lp->recheck_ns = loop_now_ns() + LOOP_RECHECK_NS;
	}
	return hit;
}

/* Hands the reloaded cfg to the listener; -1 (logged) when its secrets
 * cannot be read, and the reload is refused. */
static int
loop_reload_http(struct loop *lp, const struct config *cfg)
{
	char err[512];

	if (lp->hd == NULL) {
		if (httpd_section(cfg) != NULL)
			log_warn("http: the listener is configured now; it "
				 "starts at the next restart");
		return 0;
	}
	if (httpd_set_config(lp->hd, cfg, err, sizeof(err)) != 0) {
		log_err("config reload failed: %s; still running on the "
			"previous config", err);
		return -1;
	}
	return 0;
}

/* SIGHUP: swap in the new config only when it validated as a whole. */
static void
loop_reload(struct loop *lp)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	char err[512];
	size_t i;
	int skipped = 0;

	/* No room for one more retired config: the reload waits (it is not
	 * dropped) until a send of an older one is answered. */
	if (lp->nretired == LOOP_MAX_RETIRED) {
		if (!lp->reload_pending)
			log_notice("config reload deferred: %zu earlier configs "
				   "still wait for their sends to finish",
				   lp->nretired);
		lp->reload_pending = 1;
		return;
	}
	lp->reload_pending = 0;
	cfg = config_load(lp->config_path, &errs);
	if (cfg == NULL) {
		for (i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		log_err("config reload failed (%zu error(s)); still running on "
			"the previous config", errs.n);
		config_errors_clear(&errs);
		return;
	}
	if (lp->cfg->database != NULL && cfg->database != NULL &&
	    strcmp(lp->cfg->database, cfg->database) != 0)
		log_warn("the database path changed in the config; it takes "
			 "effect at the next restart");
	if (loop_reload_http(lp, cfg) != 0) {
		config_free(cfg);
		return;
	}
	/* Sources keep their schedule; calendar holidays join the sites. */
	feedpoll_set_config(lp->fp, cfg);
	feedpoll_apply_holidays(lp->fp, cfg);
	escalate_set_config(lp->esc, cfg);
	deliver_set_config(lp->dl, cfg);
	/* netsend may still read channels of the old config. */
	if (deliver_uses_config(lp->dl, lp->cfg))
		lp->retired[lp->nretired++] = lp->cfg;
	else
		config_free(lp->cfg);
	lp->cfg = cfg;
	loop_digest_setup(lp);
	/* A reload of the same file (a SIGHUP storm, a unit reload) does
	 * not walk every promise. */
	if (escalate_refresh(lp->esc, lp->st, loop_now(), &skipped, err,
			     sizeof(err)) != STORE_OK) {
		log_err("cannot recompute the schedule: %s", err);
		lp->need_recompute = 1;
	}
	if (lp->sweep != cfg->daemon.safety_sweep) {
		lp->sweep = cfg->daemon.safety_sweep;
		loop_arm_tick(lp);
	}
	log_notice("config reloaded from %s", lp->config_path);
}

/* Runs a reload that waited for a free slot; 1 when it ran. */
static int
loop_reload_deferred(struct loop *lp)
{
	if (!lp->reload_pending || lp->nretired == LOOP_MAX_RETIRED ||
	    lp->stop)
		return 0;
	loop_reload(lp);
	return 1;
}

/* Reads pending signals; returns 1 when a pass is needed. */
static int
loop_on_signal(struct loop *lp)
{
	struct signalfd_siginfo si;
	int pass = 0;

	while (read(lp->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			loop_reload(lp);
			sd_notify(0, "READY=1");
			pass = 1;
		} else {
			log_notice("signal %u received; stopping",
				   (unsigned)si.ssi_signo);
			lp->stop = 1;
		}
	}
	return pass && !lp->stop;
}

/* ---- Set-up and the loop -------------------------------------------------- */

static int
loop_add_fd(struct loop *lp, int fd, enum loop_src src)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = (uint64_t)src;
	return epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Splits the database path into folder and file name for inotify. */
static void
loop_split_db(struct loop *lp, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		lp->db_dir = xstrdup(".");
		lp->db_base = xstrdup(path);
	} else {
		lp->db_dir = slash == path ? xstrdup("/")
					   : xstrndup(path, (size_t)(slash - path));
		lp->db_base = xstrdup(slash + 1);
	}
}

static int
loop_open_fds(struct loop *lp, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	sigset_t set;
	const char *what = "epoll";

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp->epfd < 0)
		goto fail;
	what = "timerfd";
	lp->stepfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	lp->tickfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	lp->netfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lp->stepfd < 0 || lp->tickfd < 0 || lp->netfd < 0)
		goto fail;
	what = "signalfd";
	lp->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (lp->sigfd < 0)
		goto fail;
	what = "inotify";
	lp->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (lp->inofd < 0 ||
	    inotify_add_watch(lp->inofd, lp->db_dir,
			      IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
				      IN_CREATE) < 0)
		goto fail;
	what = "epoll_ctl";
	if (loop_add_fd(lp, lp->stepfd, SRC_STEP) != 0 ||
	    loop_add_fd(lp, lp->tickfd, SRC_TICK) != 0 ||
	    loop_add_fd(lp, lp->sigfd, SRC_SIGNAL) != 0 ||
	    loop_add_fd(lp, lp->inofd, SRC_INOTIFY) != 0 ||
	    loop_add_fd(lp, lp->netfd, SRC_NETTIMER) != 0)
		goto fail;
	return 0;
fail:
	util_seterr(err, errlen, "%s (%s): %s", what, lp->db_dir,
		    util_strerror(errno, ebuf, sizeof(ebuf)));
	return -1;
}

/* /healthz: the loop answers (it runs the handler), the store answers a
 * trivial query, a config is loaded and the last pass did not fail. */
static int
loop_health(void *ctx, char *reason, size_t reasonlen)
{
	struct loop *lp = ctx;
	char err[256];
	int64_t next = 0;

	if (lp->cfg == NULL) {
		util_seterr(reason, reasonlen, "config: none loaded");
		return -1;
	}
	if (store_next_wake(lp->st, &next, err, sizeof(err)) != STORE_OK) {
		util_seterr(reason, reasonlen, "store: %s", err);
		return -1;
	}
	if (lp->retry_at > 0) {
		util_seterr(reason, reasonlen, "loop: the last pass failed, "
			    "retrying: %s", lp->last_err);
		return -1;
	}
	return 0;
}

/* Starts the listener when the config has an http section. */
static int
loop_start_http(struct loop *lp, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	if (httpd_section(lp->cfg) == NULL)
		return 0;
	lp->hd = httpd_new(lp->st, lp->cfg, loop_health, lp, err, errlen);
	if (lp->hd == NULL)
		return -1;
	if (loop_add_fd(lp, httpd_fd(lp->hd), SRC_HTTP) != 0) {
		util_seterr(err, errlen, "epoll_ctl (http): %s",
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	deliver_set_http(lp->dl, httpd_metrics(lp->hd), httpd_links(lp->hd));
	return 0;
}

struct loop *
loop_new(struct store *st, struct escalate *esc, struct config *cfg,
	 const char *config_path, char *err, size_t errlen)
{
	struct loop *lp = xcalloc(1, sizeof(*lp));

	lp->st = st;
	lp->esc = esc;
	lp->cfg = cfg;
	lp->config_path = xstrdup(config_path);
	lp->epfd = lp->stepfd = lp->tickfd = lp->sigfd = lp->inofd = -1;
	lp->netfd = -1;
	lp->net_due = -1;
	lp->armed_ns = -1;
	lp->sweep = cfg->daemon.safety_sweep;
	lp->last_sweep = loop_now();
	loop_split_db(lp, store_path(st));
	if (loop_open_fds(lp, err, errlen) != 0) {
		loop_free(lp);
		return NULL;
	}
	lp->dl = deliver_new(st, esc, cfg, loop_net_watch, loop_net_timer, lp,
			     err, errlen);
	if (lp->dl == NULL) {
		loop_free(lp);
		return NULL;
	}
	/* Feeds fetch through deliver's netsend; their answers come back
	 * here (deliver's jobs carry another kind). */
	lp->fp = feedpoll_new(cfg, st, deliver_netsend(lp->dl));
	deliver_set_other_done(lp->dl, loop_on_other_done, lp);
	feedpoll_set_observer(lp->fp, loop_feed_observed, lp);
	if (loop_start_http(lp, err, errlen) != 0) {
		loop_free(lp);
		return NULL;
	}
	loop_digest_setup(lp);
	if (sd_watchdog_enabled(0, &lp->wd_usec) <= 0)
		lp->wd_usec = 0;
	loop_arm_tick(lp);
	return lp;
}

void
loop_request_recompute(struct loop *lp)
{
	lp->need_recompute = 1;
}

/* How long epoll_wait may sleep for the listener's sake (-1: no limit). */
static int
loop_http_wait(const struct loop *lp)
{
	long t;

	if (lp->hd == NULL)
		return -1;
	t = httpd_timeout_ms(lp->hd);
	if (t < 0)
		return -1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

int
loop_run(struct loop *lp)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct epoll_event evs[32];
	int i, n, pass = 1, http, wait_ms;

	while (!lp->stop) {
		if (pass)
			loop_pass(lp);
		pass = 0;
		/* The hold of the last wake-up ends after its pass. */
		deliver_release(lp->dl);
		/* No timeout of our own: only a due instant or an event wakes
		 * us; libmicrohttpd asks for one only while connections are
		 * open. */
		wait_ms = loop_http_wait(lp);
		if (deliver_inflight(lp->dl) == 0)
			store_idle(lp->st);
		log_flush();
		n = epoll_wait(lp->epfd, evs, 32, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", util_strerror(errno, ebuf,
								sizeof(ebuf)));
			return -1;
		}
		http = n == 0 && wait_ms >= 0;
		/* The answers of this wake-up share one commit, with the
		 * claim of the pass they cause. */
		deliver_hold(lp->dl);
		for (i = 0; i < n; i++) {
			switch ((enum loop_src)(evs[i].data.u64 & 0xffffffffu)) {
			case SRC_STEP:
				pass |= loop_on_step(lp);
				break;
			case SRC_TICK:
				pass |= loop_on_tick(lp);
				break;
			case SRC_SIGNAL:
				pass |= loop_on_signal(lp);
				break;
			case SRC_INOTIFY:
				pass |= loop_on_inotify(lp);
				break;
			case SRC_NETTIMER:
				loop_on_net_timer(lp);
				break;
			case SRC_NET:
				loop_on_net(lp, &evs[i]);
				break;
			case SRC_HTTP:
				http = 1;
				break;
			}
		}
		if (lp->hd != NULL && (http || wait_ms == 0))
			httpd_run(lp->hd);
		/* Answers free room for more rows and may move the next wake. */
		if (deliver_take_answered(lp->dl) && !lp->stop)
			pass = 1;
		/* A fetch ended: its holidays may have changed, its next poll
		 * is to be armed. */
		if (lp->feeds_answered && !lp->stop)
			pass = 1;
		loop_free_retired(lp);
		pass |= loop_reload_deferred(lp);
		if (!pass && lp->armed_ns < 0)
			loop_arm(lp);
	}
	/* Stopped in the middle of a wake-up: its answers are written. */
	deliver_release(lp->dl);
	return 0;
}

void
loop_free(struct loop *lp)
{
	int *fds[6];
	size_t i;

	if (lp == NULL)
		return;
	/* In-flight sends are abandoned before the config they read goes;
	 * netsend (inside deliver) before feedpoll, whose jobs it holds. */
	deliver_free(lp->dl);
	feedpoll_free(lp->fp);
	free(lp->dgsites);
	/* Before the config its routes read. */
	httpd_free(lp->hd);
	fds[0] = &lp->epfd;
	fds[1] = &lp->stepfd;
	fds[2] = &lp->tickfd;
	fds[3] = &lp->sigfd;
	fds[4] = &lp->inofd;
	fds[5] = &lp->netfd;
	for (i = 0; i < 6; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
	}
	for (i = 0; i < lp->nretired; i++)
		config_free(lp->retired[i]);
	config_free(lp->cfg);
	free(lp->config_path);
	free(lp->db_dir);
	free(lp->db_base);
	free(lp);
}
