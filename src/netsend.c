/*
 * netsend: SMTP and webhook delivery, and feed fetches, through libcurl's
 * multi interface.
 *
 * Every job is prepared completely when it is submitted (curl copies the
 * strings it is given, and the secrets are read then), so the channel
 * record only has to live during the call and a config reload cannot pull
 * it away from a queued job.  A job then waits in its channel's FIFO until
 * the channel has fewer than `concurrency` transfers in flight.  The multi
 * handle's connection cache keeps connections to a server open between
 * jobs, and finished easy handles go back to a small per-channel pool.
 * Connections live in share objects keyed by everything that decides
 * whether a connection may serve another job (CA file, TLS mode, login):
 * curl does not compare the TLS settings of a STARTTLS connection before
 * reusing it, so two channels that trust different CAs must never meet
 * in one connection cache.
 *
 * The host loop owns the sockets and the one timer: curl's socket and
 * timer callbacks are forwarded to it, and it reports readiness back with
 * netsend_on_fd / netsend_on_timeout.  netsend_run drives the same multi
 * handle without a host loop (curl_multi_perform + curl_multi_poll).
 *
 * Emails and webhooks run on send threads of their own.  libcurl waits
 * for the reply to the end of DATA (and to QUIT) with a blocking call
 * even in multi mode (curl/curl#8555), which would freeze the host loop,
 * its HTTP answers and its watchdog ping for up to the channel's timeout;
 * so emails go to a mail thread, started with the first email, that owns
 * a second netsend (its own multi handle, channels and connection caches)
 * and drives it like netsend_run.  Webhooks go the same way to a webhook
 * thread of their own: a stalled mail server never holds them up, and a
 * burst's transfers run on another core while the caller prepares the
 * next ones.  Feed fetches stay on the caller's multi.  Each thread
 * shares only a mutex-protected pair of lists of struct ns_mail with the
 * caller: `submitted` (filled by netsend_smtp / netsend_http, woken with
 * curl_multi_wakeup) and `answered` (filled by the thread, announced on
 * an eventfd that the host watches like one of curl's sockets, or that
 * netsend_run polls).  Everything a transfer needs is copied into its
 * ns_mail on the caller's thread, passwords, tokens and signing secrets
 * included, so a send thread never reads the config (a reload may retire
 * it) nor the environment; answers are handed to the done callback on
 * the caller's thread only, so callers stay single-threaded.
 * netsend_free stops the threads: a progress callback makes a blocking
 * wait give up within about a second, transfers still running end
 * without an answer, and each thread is joined before its netsend is
 * freed on the caller's thread.
 *
 * A job whose preparation fails for a reason that deserves an answer (a
 * missing secret) is answered from the timer, never from inside the
 * submit call, so callers never see their callback re-entered.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "promised/netsend.h"
#include "promised/sbuf.h"
#include "promised/secret.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define NS_POOL_MAX 16            /* idle easy handles kept per channel */
#define NS_MAXCONNECTS 64         /* connections the multi keeps open */
#define NS_DEFAULT_MAX_RESPONSE 65536
#define NS_SMTP_REPLY_MAX 512     /* last SMTP reply line kept */
#define NS_DETAIL_MAX 256
#define NS_PROVIDER_MAX 128
#define NS_VALIDATOR_MAX 256      /* ETag / Last-Modified kept */
#define NS_FETCH_MAX_BYTES ((size_t)16 * 1024 * 1024)
#define NS_FETCH_MAX_REDIRS 5L
#define NS_FETCH_CHANNEL "\001fetch"   /* no config channel has this name */
#define NS_FETCH_CONCURRENCY 4
/* A send thread's longest sleep with nothing in flight: curl_multi_wakeup
 * is what wakes it for new mail; this only bounds a lost wake-up. */
#define NS_MAIL_IDLE_MS (60 * 60 * 1000)

struct ns_chan;

/* One connection cache. */
struct ns_share {
	struct ns_share *next;
	char *key;
	CURLSH *sh;
};

struct ns_job {
	struct ns_job *next;          /* channel queue, failed or running list */
	struct ns_job *prev;          /* running list only */
	struct ns_chan *chan;
	void *job_ctx;
	CURL *easy;                   /* NULL for a job that failed early */
	struct curl_slist *list;      /* HTTP headers or SMTP recipients */
	struct curl_slist *auth_hdr;  /* the list entry that holds a token */
	int http;                     /* 1: webhook, 0: smtp */
	char *payload;                /* message or body, owned */
	size_t len, off;
	char *resp;                   /* response body or last SMTP reply */
	size_t resp_len, resp_max;
	int64_t retry_after;
	int64_t connect_timeout, timeout;
	enum netsend_result early_result;   /* for a job that failed early */
	char detail[NS_DETAIL_MAX];
	/* netsend_fetch: the body grows up to resp_max, else too_big. */
	int fetch, too_big;
	int sink, sink_fd, sink_errno;  /* body_to_fd: written, not kept */
	size_t resp_cap;
	char etag[NS_VALIDATOR_MAX];
	char lastmod[NS_VALIDATOR_MAX];
};

struct ns_chan {
	struct ns_chan *next;
	char *name;
	int limit, inflight;
	struct ns_job *head, *tail;   /* waiting for a slot */
	CURL *idle[NS_POOL_MAX];
	size_t nidle;
};

struct ns_mailer;

struct netsend {
	CURLM *multi;
	netsend_watch_fn watch;
	netsend_timer_fn timer;
	void *loop_ctx;
	netsend_done_fn done;
	void *cb_ctx;
	struct ns_chan *chans;
	struct ns_share *shares;
	struct ns_job *failed_head, *failed_tail;
	struct ns_job *running;
	size_t pending;
	int64_t curl_deadline;        /* monotonic ms curl asked for; -1 none */
	/* The send threads, [0] emails and [1] webhooks; NULL before the
	 * first of each.  Two, so a stalled mail server never holds up an
	 * SMS. */
	struct ns_mailer *mailer[2];
	struct ns_mailer *owner;      /* set in a send thread's own netsend */
};

/* One email or webhook on its way through a send thread: what the
 * transfer needs (copied on the caller's thread), then its answer. */
struct ns_mail {
	struct ns_mail *next, *prev;  /* prev: the send thread's busy list */
	void *job_ctx;                /* the caller's */
	int http;                     /* 1: a webhook, 0: an email */
	struct cfg_channel ch;        /* the fields the transfer reads; strings
				       * owned */
	char *rcpt, *password, *message;
	size_t len;
	/* A webhook's key, instant (for its signature) and secrets. */
	char *idem_key, *auth_secret, *sign_secret;
	int64_t now;
	enum netsend_result result;
	long status;
	int64_t retry_after;
	char detail[NS_DETAIL_MAX];
	char response[NS_SMTP_REPLY_MAX + 1];
	char *body;                   /* a webhook's answer body, owned */
	char provider_id[NS_PROVIDER_MAX];
};

/* A send thread (mail or webhook) and what it shares with the caller's
 * thread. */
struct ns_mailer {
	pthread_t thread;
	pthread_mutex_t lock;
	struct netsend *engine;       /* the thread's, until it is joined */
	int donefd;                   /* eventfd: `answered` is not empty */
	struct ns_mail *busy;         /* the thread's: handed to the engine */
	int *socks;                   /* the thread's: sockets curl opened */
	size_t nsocks, capsocks;
	/* Under lock: */
	struct ns_mail *sub_head, *sub_tail;  /* submitted, not yet taken */
	struct ns_mail *ans_head, *ans_tail;  /* answered, not yet told */
	int stop;
};

static void mailer_stop(struct netsend *ns, int http);

/* ------------------------------------------------------------------ */
/* Classification tables                                               */

/*
 * What a curl error means for the outbox.  Anything not listed is RETRY:
 * an unknown failure is more likely transient than a verdict, and the
 * outbox gives up after the channel's max_age anyway.
 *
 *   curl error                 result      why
 *   COULDNT_RESOLVE_HOST       RETRY       DNS may be down for a while
 *   COULDNT_CONNECT            RETRY       server down or restarting
 *   OPERATION_TIMEDOUT         RETRY       slow or stalled peer
 *   SEND_ERROR / RECV_ERROR    RETRY       connection broke mid-way
 *   GOT_NOTHING                RETRY       peer closed without a reply
 *   PARTIAL_FILE               RETRY       reply cut short
 *   SEND_FAIL_REWIND           RETRY       body must be sent again
 *   WEIRD_SERVER_REPLY         RETRY       garbled reply, e.g. a dropped
 *                                          connection after DATA
 *   SSL_CONNECT_ERROR          RETRY       handshake failed (may be load)
 *   PEER_FAILED_VERIFICATION   RETRY       an admin can fix the cert;
 *                                          the detail says TLS failed
 *   SSL_CACERT_BADFILE         PERMANENT   ca_file unreadable: config
 *   USE_SSL_FAILED             PERMANENT   no STARTTLS while required
 *   LOGIN_DENIED / AUTH_ERROR  PERMANENT   wrong credentials
 *   REMOTE_ACCESS_DENIED       PERMANENT   refused outright
 *   UNSUPPORTED_PROTOCOL       PERMANENT   url outside smtp(s)/http(s)
 *   URL_MALFORMAT              PERMANENT   config error
 *   TOO_MANY_REDIRECTS         PERMANENT   redirects are not followed
 *
 * An SMTP transfer that failed after a 4xx or 5xx reply is classified by
 * that reply instead (4xx RETRY, 5xx PERMANENT), whatever curl called it.
 */
struct ns_curl_class {
	CURLcode code;
	enum netsend_result result;
	const char *detail;
};

static const struct ns_curl_class ns_curl_classes[] = {
	{ CURLE_COULDNT_RESOLVE_HOST, NETSEND_RETRY, "cannot resolve host" },
	{ CURLE_COULDNT_CONNECT, NETSEND_RETRY, "cannot connect" },
	{ CURLE_OPERATION_TIMEDOUT, NETSEND_RETRY, "timeout" },
	{ CURLE_SEND_ERROR, NETSEND_RETRY, "send failed" },
	{ CURLE_RECV_ERROR, NETSEND_RETRY, "receive failed" },
	{ CURLE_GOT_NOTHING, NETSEND_RETRY, "connection closed without a reply" },
	{ CURLE_PARTIAL_FILE, NETSEND_RETRY, "reply cut short" },
	{ CURLE_SEND_FAIL_REWIND, NETSEND_RETRY, "body could not be resent" },
	{ CURLE_WEIRD_SERVER_REPLY, NETSEND_RETRY, "unexpected server reply" },
	{ CURLE_SSL_CONNECT_ERROR, NETSEND_RETRY, "TLS handshake failed" },
	{ CURLE_PEER_FAILED_VERIFICATION, NETSEND_RETRY,
	  "TLS verification failed (server certificate not trusted)" },
	{ CURLE_SSL_CACERT_BADFILE, NETSEND_PERMANENT, "cannot read ca_file" },
	{ CURLE_USE_SSL_FAILED, NETSEND_PERMANENT,
	  "server does not offer STARTTLS" },
	{ CURLE_LOGIN_DENIED, NETSEND_PERMANENT, "login denied" },
	{ CURLE_AUTH_ERROR, NETSEND_PERMANENT, "authentication failed" },
	{ CURLE_REMOTE_ACCESS_DENIED, NETSEND_PERMANENT, "access denied" },
	{ CURLE_UNSUPPORTED_PROTOCOL, NETSEND_PERMANENT,
	  "protocol not allowed for this channel" },
	{ CURLE_URL_MALFORMAT, NETSEND_PERMANENT, "malformed url" },
	{ CURLE_TOO_MANY_REDIRECTS, NETSEND_PERMANENT,
	  "redirects are not followed" },
};

/* HTTP status classes: first matching range wins. */
struct ns_http_class {
	long lo, hi;
	enum netsend_result result;
	const char *note;             /* appended to "HTTP nnn"; may be "" */
};

static const struct ns_http_class ns_http_classes[] = {
	{ 200, 299, NETSEND_OK, "" },
	{ 300, 399, NETSEND_PERMANENT, ": redirects are not followed" },
	{ 408, 408, NETSEND_RETRY, "" },
	{ 429, 429, NETSEND_RETRY, "" },
	{ 400, 499, NETSEND_PERMANENT, "" },
	{ 500, 599, NETSEND_RETRY, "" },
};

/* SMTP's STARTTLS policy per channel setting. */
static const long ns_use_ssl[] = {
	[CFG_SMTP_STARTTLS_REQUIRED] = CURLUSESSL_ALL,
	[CFG_SMTP_STARTTLS_OPTIONAL] = CURLUSESSL_TRY,
	[CFG_SMTP_STARTTLS_NEVER] = CURLUSESSL_NONE,
	[CFG_SMTP_IMPLICIT_TLS] = CURLUSESSL_ALL,
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when s is safe inside a header or an SMTP command: no control
 * characters (CR, LF, ...), and for an address also no space or <>. */
static int
text_clean(const char *s, int address)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (address && (c == ' ' || c == '<' || c == '>'))
			return 0;
	}
	return 1;
}

static void
global_init_once(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

/* The host timer: 0 while early failures wait to be answered, else
 * whatever curl asked for (re-computed from its absolute deadline). */
static void
arm_timer(struct netsend *ns)
{
	long ms = -1;

	if (ns->timer == NULL)
		return;
	if (ns->failed_head != NULL)
		ms = 0;
	else if (ns->curl_deadline >= 0) {
		int64_t left = ns->curl_deadline - mono_ms();

		ms = left > 0 ? (long)left : 0;
	}
	ns->timer(ns->loop_ctx, ms);
}

/* ------------------------------------------------------------------ */
/* curl callbacks                                                      */

/* The parameters are libcurl's CURLMOPT_SOCKETFUNCTION signature. */
static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, // NOLINT(bugprone-easily-swappable-parameters): libcurl's signature
	       void *socketp)
{
	struct netsend *ns = userp;
	unsigned events = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= NETSEND_IN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= NETSEND_OUT;
	if (ns->watch != NULL)
		ns->watch(ns->loop_ctx, (int)fd, events);
	return 0;
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct netsend *ns = userp;

	(void)multi;
	ns->curl_deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	arm_timer(ns);
	return 0;
}

/* SMTP upload: the message, then EOF. */
static size_t
on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	struct ns_job *job = userp;
	size_t room = size * nitems, n = job->len - job->off;

	if (n > room)
		n = room;
	memcpy(buf, job->payload + job->off, n);
	job->off += n;
	return n;
}

/* A fetched body going to the caller's file (a large calendar need not
 * sit in memory); a failed write aborts the transfer. */
static size_t
on_write_sink(struct ns_job *job, const char *data, size_t n)
{
	size_t off = 0;
	ssize_t w;

	while (off < n) {
		w = write(job->sink_fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			job->sink_errno = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	job->resp_len += n;
	return n;
}

/* A fetched body: grown as it arrives; past resp_max the transfer is
 * aborted, since a cut calendar must never be taken for the whole one. */
static size_t
on_write_fetch(struct ns_job *job, const char *data, size_t n)
{
	if (n > job->resp_max - job->resp_len) {
		job->too_big = 1;
		return 0;
	}
	if (job->sink)
		return on_write_sink(job, data, n);
	if (job->resp_len + n + 1 > job->resp_cap) {
		size_t cap = job->resp_cap > 0 ? job->resp_cap : 65536;

		while (cap < job->resp_len + n + 1)
			cap *= 2;
		job->resp = xreallocarray(job->resp, cap, 1);
		job->resp_cap = cap;
	}
	memcpy(job->resp + job->resp_len, data, n);
	job->resp_len += n;
	job->resp[job->resp_len] = '\0';
	return n;
}

/* Response body: kept up to resp_max bytes, the rest read and dropped
 * so the transfer still completes. */
static size_t
on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct ns_job *job = userp;
	size_t n = size * nmemb, keep = job->resp_max - job->resp_len;

	if (job->fetch)
		return on_write_fetch(job, data, n);
	if (keep > n)
		keep = n;
	if (keep > 0) {
		if (job->resp == NULL)
			job->resp = xmalloc(job->resp_max + 1);
		memcpy(job->resp + job->resp_len, data, keep);
		job->resp_len += keep;
		job->resp[job->resp_len] = '\0';
	}
	return n;
}

/* The value after "Name:" when line is that header, else NULL. */
static const char *
header_value(const char *line, const char *name)
{
	const char *v;

	if (!util_startswith_ci(line, name) || line[strlen(name)] != ':')
		return NULL;
	v = line + strlen(name) + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	return v;
}

static const char *const ns_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Retry-After as delta-seconds or an IMF-fixdate ("Sun, 06 Nov 1994
 * 08:49:37 GMT"); seconds from now, or -1 when unreadable. */
static int64_t
parse_retry_after(const char *v, int64_t now)
{
	int64_t secs, t;
	int d, y, h, mi, s, m;

	if (util_parse_int64(v, 0, 100000000, &secs) == 0)
		return secs;
	/* Fixed columns: "Sun, 06 Nov 1994 08:49:37 GMT". */
	if (strlen(v) < 29 || strncmp(v + 3, ", ", 2) != 0 || v[7] != ' ' ||
	    v[11] != ' ' || v[16] != ' ' || v[19] != ':' || v[22] != ':' ||
	    strncmp(v + 25, " GMT", 4) != 0 ||
	    util_parse_digits(v + 5, 2, &d) != 0 ||
	    util_parse_digits(v + 12, 4, &y) != 0 ||
	    util_parse_digits(v + 17, 2, &h) != 0 ||
	    util_parse_digits(v + 20, 2, &mi) != 0 ||
	    util_parse_digits(v + 23, 2, &s) != 0)
		return -1;
	for (m = 0; m < 12 && strncmp(ns_months[m], v + 8, 3) != 0; m++)
		;
	if (m == 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -1;
	t = util_days_from_civil(y, m + 1, d) * 86400 + (int64_t)h * 3600 +
	    (int64_t)mi * 60 + s;
	return t > now ? t - now : 0;
}

/* Copies one header line without its CR LF into buf. */
static void
header_line(const char *data, size_t n, char *buf, size_t buflen)
{
	while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
		n--;
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, data, n);
	buf[n] = '\0';
}

/* HTTP: Retry-After of the final response.  SMTP: curl hands the
 * server's reply lines here; the last one is kept as the answer. */
static size_t
on_header(char *data, size_t size, size_t nitems, void *userp)
{
	struct ns_job *job = userp;
	size_t n = size * nitems;
	char line[NS_SMTP_REPLY_MAX];
	const char *v;

	header_line(data, n, line, sizeof(line));
	if (!job->http) {
		if (line[0] == '\0')
			return n;
		job->resp_len = 0;
		on_write(line, 1, strlen(line), job);
		return n;
	}
	if (util_startswith_ci(line, "HTTP/")) {
		/* A new response (after a redirect): forget the last one's. */
		job->retry_after = -1;
		job->etag[0] = job->lastmod[0] = '\0';
	} else if (job->fetch && (v = header_value(line, "ETag")) != NULL)
		util_strlcpy(job->etag, v, sizeof(job->etag));
	else if (job->fetch &&
		 (v = header_value(line, "Last-Modified")) != NULL)
		util_strlcpy(job->lastmod, v, sizeof(job->lastmod));
	else if (util_startswith_ci(line, "Retry-After:")) {
		v = line + strlen("Retry-After:");
		while (*v == ' ' || *v == '\t')
			v++;
		job->retry_after = parse_retry_after(v, (int64_t)time(NULL));
	}
	return n;
}

/* A transfer of a send thread gives up as soon as netsend_free stops
 * the thread: the only way out of curl's blocking wait for the reply to
 * the end of DATA, which calls this about once a second. */
static int
on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, // NOLINT(bugprone-easily-swappable-parameters): libcurl's signature
	    curl_off_t ultotal, curl_off_t ulnow)
{
	struct netsend *ns = clientp;
	int stop;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (ns->owner == NULL)
		return 0;
	pthread_mutex_lock(&ns->owner->lock);
	stop = ns->owner->stop;
	pthread_mutex_unlock(&ns->owner->lock);
	return stop;
}

/* Send thread: every socket curl opens is noted, so stopping
 * can shut them all down first (see mailer_main). */
static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose,
	       struct curl_sockaddr *addr)
{
	struct ns_mailer *w = clientp;
	int fd;

	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
		    addr->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (w->nsocks == w->capsocks) {
		w->capsocks = w->capsocks > 0 ? w->capsocks * 2 : 8;
		w->socks = xreallocarray(w->socks, w->capsocks,
					 sizeof(*w->socks));
	}
	w->socks[w->nsocks++] = fd;
	return fd;
}

static int
on_close_socket(void *clientp, curl_socket_t fd)
{
	struct ns_mailer *w = clientp;
	size_t i;

	for (i = 0; i < w->nsocks; i++) {
		if (w->socks[i] == fd) {
			w->socks[i] = w->socks[--w->nsocks];
			break;
		}
	}
	return close(fd);
}

/* ------------------------------------------------------------------ */
/* Channels and jobs                                                   */

static struct ns_chan *
chan_get(struct netsend *ns, const struct cfg_channel *ch)
{
	struct ns_chan *c;

	for (c = ns->chans; c != NULL; c = c->next)
		if (strcmp(c->name, ch->name) == 0)
			break;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(ch->name);
		c->next = ns->chans;
		ns->chans = c;
	}
	/* The latest config wins. */
	c->limit = ch->concurrency > 0 ? ch->concurrency : 1;
	return c;
}

static CURL *
chan_take_easy(struct ns_chan *c)
{
	if (c->nidle > 0)
		return c->idle[--c->nidle];
	return curl_easy_init();
}

/* The connection cache for transfers with these settings (created on
 * first use, kept until netsend_free); NULL when curl cannot make one. */
static CURLSH *
share_get(struct netsend *ns, const struct cfg_channel *ch)
{
	struct ns_share *s;
	char *key;

	key = xasprintf("%d|%d|%s|%s|%s", (int)ch->type, (int)ch->smtp.tls,
			ch->ca_file != NULL ? ch->ca_file : "",
			ch->smtp.username != NULL ? ch->smtp.username : "",
			ch->smtp.password_file != NULL ?
			ch->smtp.password_file : "");
	for (s = ns->shares; s != NULL; s = s->next)
		if (strcmp(s->key, key) == 0)
			break;
	if (s != NULL) {
		free(key);
		return s->sh;
	}
	s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->sh = curl_share_init();
	if (s->sh == NULL || curl_share_setopt(s->sh, CURLSHOPT_SHARE,
					       CURL_LOCK_DATA_CONNECT) !=
	    CURLSHE_OK) {
		if (s->sh != NULL)
			curl_share_cleanup(s->sh);
		free(s->key);
		free(s);
		return NULL;
	}
	s->next = ns->shares;
	ns->shares = s;
	return s->sh;
}

/* Wipes the job's header entry that carried a secret, then frees the
 * header list. */
static void
free_list(struct ns_job *job)
{
	struct curl_slist *secret_entry = job->auth_hdr;

	if (secret_entry != NULL && secret_entry->data != NULL)
		OPENSSL_cleanse(secret_entry->data, strlen(secret_entry->data));
	curl_slist_free_all(job->list);
}

static void
job_free(struct ns_job *job)
{
	struct ns_chan *c = job->chan;

	if (job->easy != NULL) {
		curl_easy_setopt(job->easy, CURLOPT_SHARE, NULL);
		curl_easy_reset(job->easy);
		if (c->nidle < NS_POOL_MAX && c->nidle < (size_t)c->limit)
			c->idle[c->nidle++] = job->easy;
		else
			curl_easy_cleanup(job->easy);
	}
	free_list(job);
	free(job->payload);
	free(job->resp);
	free(job);
}

static struct ns_job *
job_take(struct ns_chan *c, void *job_ctx, int http, char *payload,
	 size_t len)
{
	struct ns_job *job = xcalloc(1, sizeof(*job));

	job->chan = c;
	job->job_ctx = job_ctx;
	job->http = http;
	job->payload = payload;
	job->len = len;
	job->retry_after = -1;
	return job;
}

/* A NUL-terminated copy of len bytes of data. */
static char *
dup_bytes(const char *data, size_t len)
{
	char *p = xmalloc(len + 1);

	memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

static struct ns_job *
job_new(struct ns_chan *c, void *job_ctx, int http, const char *payload,
	size_t len)
{
	return job_take(c, job_ctx, http, dup_bytes(payload, len), len);
}

/* Starts waiting jobs while the channel has free slots. */
static void
chan_pump(struct netsend *ns, struct ns_chan *c)
{
	struct ns_job *job;

	while (c->inflight < c->limit && c->head != NULL) {
		job = c->head;
		c->head = job->next;
		if (c->head == NULL)
			c->tail = NULL;
		job->prev = NULL;
		job->next = ns->running;
		if (ns->running != NULL)
			ns->running->prev = job;
		ns->running = job;
		c->inflight++;
		curl_multi_add_handle(ns->multi, job->easy);
	}
}

static void
enqueue(struct netsend *ns, struct ns_job *job)
{
	struct ns_chan *c = job->chan;

	job->next = NULL;
	if (c->tail != NULL)
		c->tail->next = job;
	else
		c->head = job;
	c->tail = job;
	ns->pending++;
	chan_pump(ns, c);
}

/* A job that could not be prepared but deserves an answer: answered on
 * the next timer tick. */
static void
defer_failure(struct netsend *ns, struct ns_job *job,
	      enum netsend_result result, const char *detail)
{
	if (job->easy != NULL) {
		curl_easy_setopt(job->easy, CURLOPT_SHARE, NULL);
		curl_easy_cleanup(job->easy);
		job->easy = NULL;
	}
	job->early_result = result;
	util_strlcpy(job->detail, detail, sizeof(job->detail));
	job->next = NULL;
	if (ns->failed_tail != NULL)
		ns->failed_tail->next = job;
	else
		ns->failed_head = job;
	ns->failed_tail = job;
	ns->pending++;
	arm_timer(ns);
}

/* ------------------------------------------------------------------ */
/* Preparing transfers                                                 */

/* Options every transfer shares; 0 or -1. */
static int
setup_common(struct netsend *ns, struct ns_job *job,
	     const struct cfg_channel *ch, const char *url,
	     const char *protocols)
{
	CURLSH *share = share_get(ns, ch);
	CURL *e = job->easy;
	int ok = 1;

	if (share == NULL)
		return -1;
	ok &= curl_easy_setopt(e, CURLOPT_SHARE, share) == CURLE_OK;

	job->connect_timeout = ch->connect_timeout > 0 ? ch->connect_timeout : 10;
	job->timeout = ch->timeout > 0 ? ch->timeout : 60;
	ok &= curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protocols) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, job) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			       (long)(job->connect_timeout * 1000)) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			       (long)(job->timeout * 1000)) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	if (ch->ca_file != NULL)
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, ch->ca_file) ==
		      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, job) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, job) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "promised") == CURLE_OK;
	return ok ? 0 : -1;
}

/* Reads a secret for a transfer.  0, or -1 with detail set to a message
 * that names the file, never its content. */
static int
read_secret(const char *what, const char *path, char **out, char *detail,
	    size_t detaillen)
{
	char why[200];

	*out = NULL;
	if (path == NULL) {
		util_seterr(detail, detaillen, "no %s configured", what);
		return -1;
	}
	if (secret_read(path, out, why, sizeof(why)) != 0) {
		util_seterr(detail, detaillen, "cannot read %s: %s", what, why);
		return -1;
	}
	return 0;
}

/* SMTP options, with the password already read (NULL: no AUTH); 0 or -1
 * (setopt). */
static int
setup_smtp(struct netsend *ns, struct ns_job *job,
	   const struct cfg_channel *ch, const char *rcpt, const char *password)
{
	CURL *e = job->easy;
	char *addr;
	int ok = 1;

	job->resp_max = NS_SMTP_REPLY_MAX;
	if (setup_common(ns, job, ch, ch->smtp.url, "smtp,smtps") != 0)
		return -1;
	ok &= curl_easy_setopt(e, CURLOPT_USE_SSL,
			       ns_use_ssl[ch->smtp.tls]) == CURLE_OK;
	addr = xasprintf("<%s>", ch->smtp.from_addr);
	ok &= curl_easy_setopt(e, CURLOPT_MAIL_FROM, addr) == CURLE_OK;
	free(addr);
	addr = xasprintf("<%s>", rcpt);
	job->list = curl_slist_append(NULL, addr);
	free(addr);
	ok &= job->list != NULL;
	ok &= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, job->list) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_READDATA, job) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
			       (curl_off_t)job->len) == CURLE_OK;
	/* Every wait for a reply, QUIT's too when a cached connection is
	 * closed, is bounded by the channel's timeout, not curl's 120 s. */
	ok &= curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
			       (long)job->timeout) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_XFERINFODATA, ns) == CURLE_OK;
	if (ns->owner != NULL) {
		ok &= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
				       on_open_socket) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, ns->owner) ==
		      CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION,
				       on_close_socket) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, ns->owner) ==
		      CURLE_OK;
	}
	if (ch->smtp.username != NULL) {
		ok &= curl_easy_setopt(e, CURLOPT_USERNAME, ch->smtp.username) ==
		      CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_PASSWORD,
				       password != NULL ? password : "") ==
		      CURLE_OK;
	}
	return ok ? 0 : -1;
}

/* Appends "name: value" to the job's header list. */
static int
add_header(struct ns_job *job, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(job->list, line);

	OPENSSL_cleanse(line, strlen(line));
	free(line);
	if (l == NULL)
		return -1;
	job->list = l;
	return 0;
}

/* The secrets a webhook or a fetch sends, read on the caller's thread
 * (the send thread reads neither files nor the environment): 0, or 1
 * with detail naming the file that could not be read.  NULL where none
 * is configured. */
static int
read_http_secrets(const struct cfg_webhook *wh, char **auth, char **sign,
		  char *detail, size_t detaillen)
{
	*auth = *sign = NULL;
	if (wh->auth != CFG_AUTH_NONE &&
	    read_secret(wh->auth == CFG_AUTH_BEARER ? "token_file"
						    : "password_file",
			wh->auth_secret_file, auth, detail, detaillen) != 0)
		return 1;
	if (wh->signing != CFG_SIGNING_NONE &&
	    read_secret("secret_file", wh->signing_secret_file, sign, detail,
			detaillen) != 0) {
		secret_free(*auth);
		*auth = NULL;
		return 1;
	}
	return 0;
}

/* Authorization per the channel with its secret (read before); 0 or -1. */
static int
setup_auth(struct ns_job *job, const struct cfg_webhook *wh,
	   const char *secret)
{
	char *value = NULL;
	struct curl_slist *last;
	int rc = -1, ok = 1;

	if (wh->auth == CFG_AUTH_NONE)
		return 0;
	if (secret == NULL)
		return -1;
	if (wh->auth == CFG_AUTH_BEARER) {
		value = xasprintf("Bearer %s", secret);
		if (add_header(job, "Authorization", value) != 0)
			goto out;
		for (last = job->list; last->next != NULL; last = last->next)
			;
		job->auth_hdr = last;
	} else {
		ok &= curl_easy_setopt(job->easy, CURLOPT_HTTPAUTH,
				       (long)CURLAUTH_BASIC) == CURLE_OK;
		ok &= curl_easy_setopt(job->easy, CURLOPT_USERNAME,
				       wh->auth_username != NULL ?
				       wh->auth_username : "") == CURLE_OK;
		ok &= curl_easy_setopt(job->easy, CURLOPT_PASSWORD, secret) ==
		      CURLE_OK;
	}
	rc = ok ? 0 : -1;
out:
	if (value != NULL)
		OPENSSL_cleanse(value, strlen(value));
	free(value);
	return rc;
}

/* Standard Webhooks headers with the secret (read before); 0, 1 (detail
 * set: the secret is not a usable key) or -1. */
static int
setup_signing(struct ns_job *job, const struct cfg_webhook *wh,
	      const char *secret, const char *idem_key, int64_t now,
	      char *detail, size_t detaillen)
{
	char sig[128], ts[32], why[200];

	if (wh->signing == CFG_SIGNING_NONE)
		return 0;
	if (secret == NULL)
		return -1;
	if (netsend_sign(secret, idem_key, now, job->payload, job->len, sig,
			 sizeof(sig), why, sizeof(why)) != 0) {
		util_seterr(detail, detaillen, "secret_file: %s", why);
		return 1;
	}
	(void)snprintf(ts, sizeof(ts), "%lld", (long long)now);
	if (add_header(job, "webhook-timestamp", ts) != 0 ||
	    add_header(job, "webhook-signature", sig) != 0)
		return -1;
	return 0;
}

static const char *const ns_methods[] = {
	[CFG_HTTP_POST] = "POST",
	[CFG_HTTP_PUT] = "PUT",
};

/* Webhook options; 0, 1 (detail set: answer PERMANENT) or -1. */
static int
setup_http(struct netsend *ns, struct ns_job *job,
	   const struct cfg_channel *ch, const char *idem_key, int64_t now,
	   const char *auth_secret, const char *sign_secret, char *detail,
	   size_t detaillen)
{
	const struct cfg_webhook *wh = &ch->webhook;
	CURL *e = job->easy;
	size_t i;
	int ok = 1, rc;

	job->resp_max = wh->max_response > 0 ? (size_t)wh->max_response
					      : NS_DEFAULT_MAX_RESPONSE;
	if (setup_common(ns, job, ch, wh->url, "http,https") != 0)
		return -1;
	ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
			       ns_methods[wh->method]) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->payload) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			       (curl_off_t)job->len) == CURLE_OK;
	for (i = 0; i < wh->nheaders; i++)
		ok &= add_header(job, wh->headers[i].name,
				 wh->headers[i].value) == 0;
	ok &= add_header(job, "Content-Type", wh->content_type != NULL ?
			 wh->content_type : "application/json") == 0;
	ok &= add_header(job, "webhook-id", idem_key) == 0;
	ok &= add_header(job, "Idempotency-Key", idem_key) == 0;
	/* No "Expect: 100-continue" round trip for large bodies. */
	ok &= add_header(job, "Expect", "") == 0;
	if (!ok)
		return -1;
	rc = setup_signing(job, wh, sign_secret, idem_key, now, detail,
			   detaillen);
	if (rc == 0)
		rc = setup_auth(job, wh, auth_secret);
	if (rc != 0)
		return rc;
	if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->list) != CURLE_OK)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Finishing transfers                                                 */

static const struct ns_curl_class *
curl_class(CURLcode rc)
{
	size_t i;

	for (i = 0; i < sizeof(ns_curl_classes) / sizeof(ns_curl_classes[0]);
	     i++)
		if (ns_curl_classes[i].code == rc)
			return &ns_curl_classes[i];
	return NULL;
}

/* Result and detail of a failed transfer from curl's error alone. */
static enum netsend_result
classify_curl(struct ns_job *job, CURLcode rc)
{
	const struct ns_curl_class *cc = curl_class(rc);
	curl_off_t connected = 0;
	long fresh = 1;

	if (rc == CURLE_OPERATION_TIMEDOUT) {
		curl_easy_getinfo(job->easy, CURLINFO_CONNECT_TIME_T, &connected);
		/* A reused connection has no connect time of its own. */
		curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &fresh);
		if (connected == 0 && fresh != 0)
			(void)snprintf(job->detail, sizeof(job->detail),
				       "connect timeout after %llds",
				       (long long)job->connect_timeout);
		else
			(void)snprintf(job->detail, sizeof(job->detail),
				       "timeout after %llds",
				       (long long)job->timeout);
		return NETSEND_RETRY;
	}
	if (cc == NULL) {
		util_strlcpy(job->detail, curl_easy_strerror(rc),
			     sizeof(job->detail));
		return NETSEND_RETRY;
	}
	util_strlcpy(job->detail, cc->detail, sizeof(job->detail));
	return cc->result;
}

static enum netsend_result
classify_smtp(struct ns_job *job, CURLcode rc, long code)
{
	const struct ns_curl_class *cc = curl_class(rc);

	if (rc == CURLE_OK) {
		(void)snprintf(job->detail, sizeof(job->detail), "SMTP %ld",
			       code);
		return NETSEND_OK;
	}
	if (code >= 400 && code <= 599) {
		(void)snprintf(job->detail, sizeof(job->detail), "SMTP %ld%s%s",
			       code, cc != NULL ? ": " : "",
			       cc != NULL ? cc->detail : "");
		return code < 500 ? NETSEND_RETRY : NETSEND_PERMANENT;
	}
	return classify_curl(job, rc);
}

static enum netsend_result
classify_http(struct ns_job *job, CURLcode rc, long code)
{
	size_t i;

	if (rc != CURLE_OK)
		return classify_curl(job, rc);
	for (i = 0; i < sizeof(ns_http_classes) / sizeof(ns_http_classes[0]);
	     i++) {
		const struct ns_http_class *hc = &ns_http_classes[i];

		if (code >= hc->lo && code <= hc->hi) {
			(void)snprintf(job->detail, sizeof(job->detail),
				       "HTTP %ld%s", code, hc->note);
			return hc->result;
		}
	}
	(void)snprintf(job->detail, sizeof(job->detail), "HTTP %ld: unexpected",
		       code);
	return NETSEND_RETRY;
}

/* A fetch: 2xx and 304 are answers; an oversized body is a verdict. */
static enum netsend_result
classify_fetch(struct ns_job *job, CURLcode rc, long code)
{
	char ebuf[UTIL_STRERROR_LEN];
	if ((rc == CURLE_WRITE_ERROR && job->too_big) ||
	    rc == CURLE_FILESIZE_EXCEEDED) {
		(void)snprintf(job->detail, sizeof(job->detail),
			       "answer larger than %zu bytes", job->resp_max);
		return NETSEND_PERMANENT;
	}
	if (rc == CURLE_WRITE_ERROR && job->sink_errno != 0) {
		(void)snprintf(job->detail, sizeof(job->detail), "cannot keep "
			       "the answer: %s",
			       util_strerror(job->sink_errno, ebuf,
					     sizeof(ebuf)));
		return NETSEND_RETRY;
	}
	if (rc == CURLE_TOO_MANY_REDIRECTS) {
		util_strlcpy(job->detail, "more than 5 redirects",
			     sizeof(job->detail));
		return NETSEND_PERMANENT;
	}
	if (rc == CURLE_OK && code == 304) {
		util_strlcpy(job->detail, "HTTP 304 not modified",
			     sizeof(job->detail));
		return NETSEND_OK;
	}
	if (rc == CURLE_OK && code >= 300 && code <= 399) {
		(void)snprintf(job->detail, sizeof(job->detail),
			       "HTTP %ld: redirect "
			       "without a usable location", code);
		return NETSEND_PERMANENT;
	}
	return classify_http(job, rc, code);
}

/* The value of "key": "..." or "key": 123 in a JSON text, by a plain
 * scan (a gateway's message id); 0 when found. */
static int
json_scalar(const char *json, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), n;
	const char *p = json, *v;

	while ((p = strchr(p, '"')) != NULL) {
		p++;
		if (strncmp(p, key, klen) != 0 || p[klen] != '"')
			continue;
		v = p + klen + 1;
		while (isspace((unsigned char)*v))
			v++;
		if (*v++ != ':')
			continue;
		while (isspace((unsigned char)*v))
			v++;
		if (*v == '"')
			v++;
		n = strcspn(v, "\",}] \t\r\n\\");
		if (n == 0 || n >= outlen)
			continue;
		memcpy(out, v, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* Tells the caller and frees the job (already off every list). */
static void
job_answer(struct netsend *ns, struct ns_job *job, enum netsend_result res,
	   long code)
{
	struct netsend_done d;
	char provider[NS_PROVIDER_MAX] = "";

	if (job->http && res == NETSEND_OK && job->resp != NULL &&
	    json_scalar(job->resp, "sid", provider, sizeof(provider)) != 0 &&
	    json_scalar(job->resp, "id", provider, sizeof(provider)) != 0)
		provider[0] = '\0';
	memset(&d, 0, sizeof(d));
	d.job_ctx = job->job_ctx;
	d.result = res;
	d.status = code;
	d.retry_after = job->http ? job->retry_after : -1;
	d.detail = job->detail;
	d.response = job->resp != NULL ? job->resp : "";
	d.provider_id = provider;
	if (job->fetch) {
		d.response_len = job->resp_len;
		d.etag = job->etag[0] != '\0' ? job->etag : NULL;
		d.last_modified = job->lastmod[0] != '\0' ? job->lastmod : NULL;
	}
	ns->pending--;
	if (ns->done != NULL)
		ns->done(ns->cb_ctx, &d);
	job_free(job);
}

/* After a failed SMTP transfer curl may keep its connection for the next
 * email although the session is stuck (after a timeout the reply to the
 * end of DATA is still owed, and the next MAIL FROM would wait behind
 * it).  Shutting the socket down makes curl find the connection dead and
 * drop it without a QUIT. */
static void
smtp_discard_conn(CURL *easy)
{
	curl_socket_t fd = CURL_SOCKET_BAD;

	if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
	    fd != CURL_SOCKET_BAD)
		(void)shutdown(fd, SHUT_RDWR);
}

static void
running_unlink(struct netsend *ns, struct ns_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		ns->running = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->next = job->prev = NULL;
}

/* Answers every finished transfer and fills the freed slots. */
static void
process_done(struct netsend *ns)
{
	CURLMsg *msg;
	struct ns_job *job;
	struct ns_chan *c;
	enum netsend_result res;
	CURLcode rc;
	CURL *easy;
	long code;
	int left;

	while ((msg = curl_multi_info_read(ns->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;
		job = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&job);
		if (rc != CURLE_OK && !job->http)
			smtp_discard_conn(easy);
		curl_multi_remove_handle(ns->multi, easy);
		code = 0;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		c = job->chan;
		running_unlink(ns, job);
		c->inflight--;
		res = job->fetch ? classify_fetch(job, rc, code) :
		      job->http ? classify_http(job, rc, code)
				: classify_smtp(job, rc, code);
		job_answer(ns, job, res, code);
		chan_pump(ns, c);
	}
}

/* Answers jobs that failed before they could start. */
static void
flush_failed(struct netsend *ns)
{
	struct ns_job *job;

	while ((job = ns->failed_head) != NULL) {
		ns->failed_head = job->next;
		if (ns->failed_head == NULL)
			ns->failed_tail = NULL;
		job_answer(ns, job, job->early_result, 0);
	}
}

/* ------------------------------------------------------------------ */
/* API                                                                 */

struct netsend *
netsend_new(netsend_watch_fn watch, netsend_timer_fn timer, void *loop_ctx,
	    netsend_done_fn done, void *cb_ctx, char *err, size_t errlen)
{
	struct netsend *ns = NULL;
	int ok = 1;

	/* A peer that closes early must not kill the process. */
	(void)signal(SIGPIPE, SIG_IGN); /* fails only for a bad signo */
	global_init_once();
	ns = xcalloc(1, sizeof(*ns));
	ns->watch = watch;
	ns->timer = timer;
	ns->loop_ctx = loop_ctx;
	ns->done = done;
	ns->cb_ctx = cb_ctx;
	ns->curl_deadline = -1;
	ns->multi = curl_multi_init();
	if (ns->multi == NULL) {
		util_seterr(err, errlen, "curl_multi_init failed");
		goto fail;
	}
	ok &= curl_multi_setopt(ns->multi, CURLMOPT_SOCKETFUNCTION,
				on_curl_socket) == CURLM_OK;
	ok &= curl_multi_setopt(ns->multi, CURLMOPT_SOCKETDATA, ns) == CURLM_OK;
	ok &= curl_multi_setopt(ns->multi, CURLMOPT_TIMERFUNCTION,
				on_curl_timer) == CURLM_OK;
	ok &= curl_multi_setopt(ns->multi, CURLMOPT_TIMERDATA, ns) == CURLM_OK;
	ok &= curl_multi_setopt(ns->multi, CURLMOPT_MAXCONNECTS,
				(long)NS_MAXCONNECTS) == CURLM_OK;
	if (!ok) {
		util_seterr(err, errlen, "cannot set up curl's multi handle");
		goto fail;
	}
	return ns;
fail:
	netsend_free(ns);
	return NULL;
}

static void
free_job_list(struct ns_job *job)
{
	struct ns_job *next;

	for (; job != NULL; job = next) {
		next = job->next;
		job_free(job);
	}
}

void
netsend_free(struct netsend *ns)
{
	struct ns_chan *c, *cnext;
	struct ns_share *s, *snext;
	struct ns_job *job;

	if (ns == NULL)
		return;
	mailer_stop(ns, 0);
	mailer_stop(ns, 1);
	for (job = ns->running; job != NULL; job = job->next)
		curl_multi_remove_handle(ns->multi, job->easy);
	free_job_list(ns->running);
	free_job_list(ns->failed_head);
	for (c = ns->chans; c != NULL; c = c->next)
		free_job_list(c->head);
	for (c = ns->chans; c != NULL; c = cnext) {
		cnext = c->next;
		while (c->nidle > 0)
			curl_easy_cleanup(c->idle[--c->nidle]);
		free(c->name);
		free(c);
	}
	if (ns->multi != NULL)
		curl_multi_cleanup(ns->multi);
	for (s = ns->shares; s != NULL; s = snext) {
		snext = s->next;
		curl_share_cleanup(s->sh);
		free(s->key);
		free(s);
	}
	free(ns);
}

/* Common tail of netsend_smtp/netsend_http: prepared (0) → queue,
 * needs an answer (1) → deferred PERMANENT, setopt failure (-1). */
static int
submit(struct netsend *ns, struct ns_job *job, int prep, const char *detail,
       char *err, size_t errlen)
{
	if (prep == 0) {
		enqueue(ns, job);
		return 0;
	}
	if (prep == 1) {
		defer_failure(ns, job, NETSEND_PERMANENT, detail);
		return 0;
	}
	util_seterr(err, errlen, "channel %s: cannot set up the transfer",
		    job->chan->name);
	job_free(job);
	return -1;
}

/* ------------------------------------------------------------------ */
/* The send threads                                                   */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
mail_free(struct ns_mail *m)
{
	size_t i;

	free(m->ch.name);
	free(m->ch.ca_file);
	free(m->ch.smtp.url);
	free(m->ch.smtp.from_addr);
	free(m->ch.smtp.username);
	free(m->ch.smtp.password_file);
	free(m->ch.webhook.url);
	for (i = 0; i < m->ch.webhook.nheaders; i++) {
		free(m->ch.webhook.headers[i].name);
		free(m->ch.webhook.headers[i].value);
	}
	free(m->ch.webhook.headers);
	free(m->ch.webhook.content_type);
	free(m->ch.webhook.auth_username);
	free(m->rcpt);
	secret_free(m->password);
	free(m->message);
	free(m->idem_key);
	secret_free(m->auth_secret);
	secret_free(m->sign_secret);
	free(m->body);
	free(m);
}

static void
mail_list_free(struct ns_mail *m)
{
	struct ns_mail *next;

	for (; m != NULL; m = next) {
		next = m->next;
		mail_free(m);
	}
}

/* What every transfer needs of its channel, and its payload, copied on
 * the caller's thread, so a send thread reads nothing a config reload
 * may free. */
static struct ns_mail *
work_new(const struct cfg_channel *ch, const char *payload, size_t len,
	 void *job_ctx)
{
	struct ns_mail *m = xcalloc(1, sizeof(*m));

	m->job_ctx = job_ctx;
	m->http = ch->type == CFG_CHANNEL_WEBHOOK;
	m->ch.name = xstrdup(ch->name);
	m->ch.type = ch->type;
	m->ch.concurrency = ch->concurrency;
	m->ch.connect_timeout = ch->connect_timeout;
	m->ch.timeout = ch->timeout;
	m->ch.ca_file = dup_or_null(ch->ca_file);
	m->message = dup_bytes(payload, len);
	m->len = len;
	return m;
}

/* An email; the password is taken over. */
static struct ns_mail *
mail_new(const struct cfg_channel *ch, const char *rcpt, const char *message,
	 size_t len, char *password, void *job_ctx)
{
	struct ns_mail *m = work_new(ch, message, len, job_ctx);

	m->ch.smtp.url = xstrdup(ch->smtp.url);
	m->ch.smtp.tls = ch->smtp.tls;
	m->ch.smtp.from_addr = xstrdup(ch->smtp.from_addr);
	m->ch.smtp.username = dup_or_null(ch->smtp.username);
	m->ch.smtp.password_file = dup_or_null(ch->smtp.password_file);
	m->rcpt = xstrdup(rcpt);
	m->password = password;
	return m;
}

/* A webhook; the secrets are taken over. */
static struct ns_mail *
hook_new(const struct cfg_channel *ch, const char *idem_key, const char *body,
	 size_t len, int64_t now, char *auth_secret, char *sign_secret,
	 void *job_ctx)
{
	const struct cfg_webhook *wh = &ch->webhook;
	struct ns_mail *m = work_new(ch, body, len, job_ctx);
	size_t i;

	m->ch.webhook.url = xstrdup(wh->url);
	m->ch.webhook.method = wh->method;
	m->ch.webhook.nheaders = wh->nheaders;
	m->ch.webhook.headers = xcalloc(wh->nheaders + 1,
					sizeof(*m->ch.webhook.headers));
	for (i = 0; i < wh->nheaders; i++) {
		m->ch.webhook.headers[i].name = xstrdup(wh->headers[i].name);
		m->ch.webhook.headers[i].value =
			xstrdup(wh->headers[i].value);
	}
	m->ch.webhook.content_type = dup_or_null(wh->content_type);
	m->ch.webhook.auth = wh->auth;
	m->ch.webhook.auth_username = dup_or_null(wh->auth_username);
	m->ch.webhook.signing = wh->signing;
	m->ch.webhook.max_response = wh->max_response;
	m->idem_key = xstrdup(idem_key);
	m->auth_secret = auth_secret;
	m->sign_secret = sign_secret;
	m->now = now;
	return m;
}

/* Send thread: moves a transfer from the busy list to `answered` and
 * wakes the caller's thread. */
static void
mailer_answer(struct ns_mailer *w, struct ns_mail *m)
{
	uint64_t one = 1;
	ssize_t r;

	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		w->busy = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	m->next = m->prev = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->ans_tail != NULL)
		w->ans_tail->next = m;
	else
		w->ans_head = m;
	w->ans_tail = m;
	pthread_mutex_unlock(&w->lock);
	/* Cannot fail short of a counter overflow. */
	r = write(w->donefd, &one, sizeof(one));
	(void)r;
}

/* Send thread: the done callback of its netsend. */
static void
mailer_on_done(void *cb_ctx, const struct netsend_done *d)
{
	struct ns_mail *m = d->job_ctx;

	m->result = d->result;
	m->status = d->status;
	m->retry_after = d->retry_after;
	util_strlcpy(m->detail, d->detail, sizeof(m->detail));
	if (m->http)
		m->body = xstrdup(d->response);
	else
		util_strlcpy(m->response, d->response, sizeof(m->response));
	util_strlcpy(m->provider_id, d->provider_id, sizeof(m->provider_id));
	mailer_answer(cb_ctx, m);
}

/* Send thread: hands one submitted email or webhook to its netsend. */
static void
mailer_queue(struct ns_mailer *w, struct ns_mail *m)
{
	struct netsend *ns = w->engine;
	struct ns_job *job;
	char detail[NS_DETAIL_MAX] = "";
	int prep = -1;

	m->prev = NULL;
	m->next = w->busy;
	if (w->busy != NULL)
		w->busy->prev = m;
	w->busy = m;
	/* The payload moves to the job: no second copy. */
	job = job_take(chan_get(ns, &m->ch), m, m->http, m->message, m->len);
	m->message = NULL;
	job->easy = chan_take_easy(job->chan);
	if (job->easy != NULL && m->http)
		prep = setup_http(ns, job, &m->ch, m->idem_key, m->now,
				  m->auth_secret, m->sign_secret, detail,
				  sizeof(detail));
	else if (job->easy != NULL)
		prep = setup_smtp(ns, job, &m->ch, m->rcpt, m->password);
	/* curl keeps its own copies. */
	secret_free(m->password);
	secret_free(m->auth_secret);
	secret_free(m->sign_secret);
	m->password = m->auth_secret = m->sign_secret = NULL;
	if (prep == 0) {
		enqueue(ns, job);
		return;
	}
	if (prep == 1) {
		/* Answered through the engine like any transfer. */
		defer_failure(ns, job, NETSEND_PERMANENT, detail);
		return;
	}
	job_free(job);
	m->result = NETSEND_RETRY;
	(void)snprintf(m->detail, sizeof(m->detail),
		       "channel %s: cannot set up the transfer", m->ch.name);
	mailer_answer(w, m);
}

/* One round of a netsend without a host loop: early failures, curl's
 * work, finished transfers. */
static void
engine_step(struct netsend *ns)
{
	int running;

	flush_failed(ns);
	curl_multi_perform(ns->multi, &running);
	process_done(ns);
}

/* A send thread: takes submitted transfers, drives its netsend, sleeps
 * in curl_multi_poll until a socket, curl's timer or a wake-up. */
static void *
mailer_main(void *arg)
{
	struct ns_mailer *w = arg;
	struct ns_mail *m, *next;
	int stop, running;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		stop = w->stop;
		m = stop ? NULL : w->sub_head;
		if (!stop)
			w->sub_head = w->sub_tail = NULL;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		for (; m != NULL; m = next) {
			next = m->next;
			mailer_queue(w, m);
		}
		engine_step(w->engine);
		if (curl_multi_poll(w->engine->multi, NULL, 0, NS_MAIL_IDLE_MS,
				    NULL) != CURLM_OK)
			(void)poll(NULL, 0, 100);   /* never spin */
	}
	/* Every connection is shut down, and the transfers still running
	 * fail on that now: removing one later would make curl end a cut
	 * message with its end-of-data mark (or send an empty one), and
	 * closing one would wait for QUIT's reply.  The answers are dropped
	 * with the rest. */
	for (i = 0; i < w->nsocks; i++)
		(void)shutdown(w->socks[i], SHUT_RDWR);
	curl_multi_perform(w->engine->multi, &running);
	process_done(w->engine);
	return NULL;
}

/* Starts a send thread, with every signal blocked in it (signals are
 * the host's, read from its signalfd); 0 or -1. */
static int
mailer_start(struct netsend *ns, int http, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct ns_mailer *w = xcalloc(1, sizeof(*w));
	sigset_t all, old;
	int rc;

	w->donefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->donefd < 0) {
		util_seterr(err, errlen, "eventfd: %s",
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	w->engine = netsend_new(NULL, NULL, NULL, mailer_on_done, w, err,
				errlen);
	if (w->engine == NULL)
		goto fail;
	w->engine->owner = w;
	pthread_mutex_init(&w->lock, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, mailer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		util_seterr(err, errlen, "cannot start the %s thread: %s",
			    http ? "webhook" : "mail",
			    util_strerror(rc, ebuf, sizeof(ebuf)));
		pthread_mutex_destroy(&w->lock);
		goto fail;
	}
	ns->mailer[http] = w;
	if (ns->watch != NULL)
		ns->watch(ns->loop_ctx, w->donefd, NETSEND_IN);
	return 0;
fail:
	netsend_free(w->engine);
	if (w->donefd >= 0)
		close(w->donefd);
	free(w);
	return -1;
}

/* Stops and joins a send thread; what it has not answered yet is
 * dropped without a callback. */
static void
mailer_stop(struct netsend *ns, int http)
{
	struct ns_mailer *w = ns->mailer[http];

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_mutex_unlock(&w->lock);
	curl_multi_wakeup(w->engine->multi);
	pthread_join(w->thread, NULL);
	/* Joined: its netsend and lists belong to this thread now.  Closing
	 * cached connections may wait for QUIT's reply, at most the
	 * channel's timeout. */
	netsend_free(w->engine);
	free(w->socks);
	mail_list_free(w->busy);
	mail_list_free(w->sub_head);
	mail_list_free(w->ans_head);
	if (ns->watch != NULL)
		ns->watch(ns->loop_ctx, w->donefd, 0);
	close(w->donefd);
	pthread_mutex_destroy(&w->lock);
	free(w);
	ns->mailer[http] = NULL;
}

/* Caller's thread: tells the callback the answers send thread w has
 * ready. */
static void
mailer_drain(struct netsend *ns, struct ns_mailer *w)
{
	struct ns_mail *m, *next;
	struct netsend_done d;
	uint64_t count;
	ssize_t r;

	if (w == NULL)
		return;
	/* Read before taking the list: an answer posted after the read
	 * makes the eventfd readable again. */
	r = read(w->donefd, &count, sizeof(count));
	(void)r;
	pthread_mutex_lock(&w->lock);
	m = w->ans_head;
	w->ans_head = w->ans_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; m != NULL; m = next) {
		next = m->next;
		memset(&d, 0, sizeof(d));
		d.job_ctx = m->job_ctx;
		d.result = m->result;
		d.status = m->status;
		d.retry_after = m->http ? m->retry_after : -1;
		d.detail = m->detail;
		d.response = m->http ? (m->body != NULL ? m->body : "")
				     : m->response;
		d.provider_id = m->provider_id;
		ns->pending--;
		if (ns->done != NULL)
			ns->done(ns->cb_ctx, &d);
		mail_free(m);
	}
}

/* Queues one email or webhook for the send thread (started with the
 * first); 0 or -1. */
static int
mailer_submit(struct netsend *ns, struct ns_mail *m, char *err,
	      size_t errlen)
{
	struct ns_mailer *w;
	int wake;

	if (ns->mailer[m->http] == NULL &&
	    mailer_start(ns, m->http, err, errlen) != 0) {
		mail_free(m);
		return -1;
	}
	w = ns->mailer[m->http];
	pthread_mutex_lock(&w->lock);
	/* Woken when the list fills: the thread takes all of it after any
	 * wake-up, so the items queued behind the first need none (a burst
	 * costs a system call per batch, not per transfer). */
	wake = w->sub_head == NULL;
	if (w->sub_tail != NULL)
		w->sub_tail->next = m;
	else
		w->sub_head = m;
	w->sub_tail = m;
	pthread_mutex_unlock(&w->lock);
	if (wake)
		curl_multi_wakeup(w->engine->multi);
	ns->pending++;
	return 0;
}

/* Checks and copies an email on the caller's thread (the password is
 * read here too) and hands it to the mail thread. */
int
netsend_smtp(struct netsend *ns, const struct cfg_channel *ch,
	     const char *rcpt_addr, const char *message, size_t len,
	     void *job_ctx, char *err, size_t errlen)
{
	struct ns_job *job;
	char detail[NS_DETAIL_MAX] = "", *password = NULL;

	if (ch->type != CFG_CHANNEL_SMTP || ch->smtp.url == NULL ||
	    ch->smtp.from_addr == NULL) {
		util_seterr(err, errlen, "channel %s is not an smtp channel",
			    ch->name);
		return -1;
	}
	if (rcpt_addr == NULL || rcpt_addr[0] == '\0' ||
	    !text_clean(rcpt_addr, 1) || !text_clean(ch->smtp.from_addr, 1)) {
		util_seterr(err, errlen, "channel %s: invalid address",
			    ch->name);
		return -1;
	}
	if (ch->smtp.username != NULL &&
	    read_secret("password_file", ch->smtp.password_file, &password,
			detail, sizeof(detail)) != 0) {
		job = job_new(chan_get(ns, ch), job_ctx, 0, "", 0);
		defer_failure(ns, job, NETSEND_PERMANENT, detail);
		return 0;
	}
	return mailer_submit(ns, mail_new(ch, rcpt_addr, message, len,
					  password, job_ctx), err, errlen);
}

/* Checks and copies a webhook on the caller's thread (its secrets are
 * read here) and hands it to the send thread: the transfers of a burst
 * then run beside the caller's own work, on another core. */
int
netsend_http(struct netsend *ns, const struct cfg_channel *ch,
	     const char *idem_key, const char *body, size_t len, int64_t now,
	     void *job_ctx, char *err, size_t errlen)
{
	struct ns_job *job;
	char detail[NS_DETAIL_MAX] = "", *auth = NULL, *sign = NULL;

	if (ch->type != CFG_CHANNEL_WEBHOOK || ch->webhook.url == NULL) {
		util_seterr(err, errlen, "channel %s is not a webhook channel",
			    ch->name);
		return -1;
	}
	if (idem_key == NULL || idem_key[0] == '\0' ||
	    !text_clean(idem_key, 0)) {
		util_seterr(err, errlen, "channel %s: invalid idempotency key",
			    ch->name);
		return -1;
	}
	if (read_http_secrets(&ch->webhook, &auth, &sign, detail,
			      sizeof(detail)) != 0) {
		job = job_new(chan_get(ns, ch), job_ctx, 1, "", 0);
		defer_failure(ns, job, NETSEND_PERMANENT, detail);
		return 0;
	}
	return mailer_submit(ns, hook_new(ch, idem_key, body, len, now, auth,
					  sign, job_ctx), err, errlen);
}

/* Fetch options on top of setup_common: GET, redirects to http(s) only,
 * validators, size cap and auth.  0, 1 (detail set) or -1. */
static int
setup_fetch(struct netsend *ns, struct ns_job *job,
	    const struct netsend_fetch_req *req, char *detail,
	    size_t detaillen)
{
	struct cfg_channel ch;
	struct cfg_webhook wh;
	CURL *e = job->easy;
	char *secret, *unused;
	int ok = 1;

	memset(&ch, 0, sizeof(ch));
	ch.name = (char *)NS_FETCH_CHANNEL;
	ch.type = CFG_CHANNEL_WEBHOOK;
	ch.connect_timeout = req->connect_timeout;
	ch.timeout = req->timeout;
	ch.ca_file = (char *)req->ca_file;
	job->resp_max = req->max_bytes > 0 ? (size_t)req->max_bytes
					   : NS_FETCH_MAX_BYTES;
	job->sink = req->body_to_fd && req->body_fd >= 0;
	job->sink_fd = req->body_fd;
	if (setup_common(ns, job, &ch, req->url, "http,https") != 0)
		return -1;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_MAXREDIRS, NS_FETCH_MAX_REDIRS) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
			       (curl_off_t)job->resp_max) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	ok &= add_header(job, "Accept", "text/calendar, */*;q=0.5") == 0;
	if (req->etag != NULL && text_clean(req->etag, 0))
		ok &= add_header(job, "If-None-Match", req->etag) == 0;
	if (req->last_modified != NULL && text_clean(req->last_modified, 0))
		ok &= add_header(job, "If-Modified-Since",
				 req->last_modified) == 0;
	if (!ok)
		return -1;
	memset(&wh, 0, sizeof(wh));
	wh.auth = req->auth;
	wh.auth_username = (char *)req->username;
	wh.auth_secret_file = (char *)req->secret_file;
	if (read_http_secrets(&wh, &secret, &unused, detail, detaillen) != 0)
		return 1;
	ok = setup_auth(job, &wh, secret);
	secret_free(secret);
	secret_free(unused);
	if (ok != 0)
		return ok;
	if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->list) != CURLE_OK)
		return -1;
	return 0;
}

int
netsend_fetch(struct netsend *ns, const struct netsend_fetch_req *req,
	      void *job_ctx, char *err, size_t errlen)
{
	struct cfg_channel ch;
	struct ns_job *job;
	char detail[NS_DETAIL_MAX] = "";
	int prep;

	if (req->url == NULL || (!util_startswith_ci(req->url, "http://") &&
				 !util_startswith_ci(req->url, "https://")) ||
	    !text_clean(req->url, 1)) {
		util_seterr(err, errlen, "fetch: not an http(s) url");
		return -1;
	}
	memset(&ch, 0, sizeof(ch));
	ch.name = (char *)NS_FETCH_CHANNEL;
	ch.concurrency = NS_FETCH_CONCURRENCY;
	job = job_new(chan_get(ns, &ch), job_ctx, 1, "", 0);
	job->fetch = 1;
	job->easy = chan_take_easy(job->chan);
	prep = job->easy == NULL ? -1 :
	       setup_fetch(ns, job, req, detail, sizeof(detail));
	return submit(ns, job, prep, detail, err, errlen);
}

void
netsend_on_fd(struct netsend *ns, int fd, unsigned events)
{
	int running, mask = 0, k;

	for (k = 0; k < 2; k++) {
		if (ns->mailer[k] != NULL && fd == ns->mailer[k]->donefd) {
			mailer_drain(ns, ns->mailer[k]);
			return;
		}
	}
	if (events & NETSEND_IN)
		mask |= CURL_CSELECT_IN;
	if (events & NETSEND_OUT)
		mask |= CURL_CSELECT_OUT;
	curl_multi_socket_action(ns->multi, (curl_socket_t)fd, mask, &running);
	process_done(ns);
}

void
netsend_on_timeout(struct netsend *ns)
{
	int running;

	flush_failed(ns);
	curl_multi_socket_action(ns->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	process_done(ns);
	/* The host timer is one-shot: ask again for what curl still wants. */
	arm_timer(ns);
}

size_t
netsend_pending(const struct netsend *ns)
{
	return ns->pending;
}

int
netsend_run(struct netsend *ns, long timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms, left;
	struct curl_waitfd fds[2];
	unsigned int nfds;
	int k;

	for (;;) {
		engine_step(ns);
		for (k = 0; k < 2; k++)
			mailer_drain(ns, ns->mailer[k]);
		if (ns->pending == 0)
			return 0;
		left = deadline - mono_ms();
		if (left <= 0)
			return -1;
		if (left > 1000)
			left = 1000;
		if (ns->failed_head != NULL)
			left = 0;
		/* The send threads' answers wake the poll too. */
		memset(fds, 0, sizeof(fds));
		nfds = 0;
		for (k = 0; k < 2; k++) {
			if (ns->mailer[k] == NULL)
				continue;
			fds[nfds].fd = ns->mailer[k]->donefd;
			fds[nfds++].events = CURL_WAIT_POLLIN;
		}
		if (curl_multi_poll(ns->multi, fds, nfds, (int)left,
				    NULL) != CURLM_OK)
			return -1;
	}
}

/* The HMAC key: base64 after "whsec_", else the secret's own bytes.
 * Returns the key length, or -1. */
static int
signing_key(const char *secret, unsigned char *key, size_t keylen)
{
	const char *b64;
	size_t n, pad = 0;
	int got;

	if (strncmp(secret, "whsec_", 6) != 0) {
		n = strlen(secret);
		if (n == 0 || n > keylen)
			return -1;
		memcpy(key, secret, n);
		return (int)n;
	}
	b64 = secret + 6;
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > keylen)
		return -1;
	got = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
	if (got < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	return got - (int)pad > 0 ? got - (int)pad : -1;
}

int
netsend_sign(const char *secret, const char *id, int64_t timestamp,
	     const char *body, size_t len, char *out, size_t outlen,
	     char *err, size_t errlen)
{
	unsigned char key[SECRET_MAX], mac[EVP_MAX_MD_SIZE], b64[4 * 24];
	unsigned int maclen = 0;
	struct sbuf msg = { 0 };
	int keylen, rc = -1;

	keylen = signing_key(secret, key, sizeof(key));
	if (keylen < 0) {
		util_seterr(err, errlen, "the signing secret is not usable "
			    "(empty, too long or bad base64 after whsec_)");
		goto out;
	}
	/* "id.timestamp.body"; the body is bytes, not a string. */
	if (sbuf_printf(&msg, "%s.%lld.", id, (long long)timestamp) != 0) {
		util_seterr(err, errlen, "cannot format the signed message");
		goto out;
	}
	sbuf_add(&msg, body, len);
	if (HMAC(EVP_sha256(), key, keylen, (unsigned char *)msg.p, msg.len,
		 mac, &maclen) == NULL) {
		util_seterr(err, errlen, "HMAC-SHA256 failed");
		goto out;
	}
	EVP_EncodeBlock(b64, mac, (int)maclen);
	if (snprintf(out, outlen, "v1,%s", (char *)b64) >= (int)outlen) {
		util_seterr(err, errlen, "signature buffer too small");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	sbuf_free(&msg);
	return rc;
}

const char *
netsend_lib_version(void)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

	return vi != NULL && vi->version != NULL ? vi->version : "unknown";
}
