/*
 * netsend: network delivery (SMTP and HTTP webhooks) through libcurl's
 * multi interface, driven by the daemon's one loop: no thread per send.
 * The host loop watches the sockets and the single timer that netsend
 * asks for and calls back on readiness.  Emails alone run on one mail
 * thread of netsend's own (libcurl blocks while it waits for an SMTP
 * reply to the end of DATA); its answers come back through one more fd
 * the host watches, so every callback still runs on the host's thread.
 * Protocols are limited per channel (smtp/smtps, http/https), TLS is
 * verified, response bodies are capped, and jobs beyond a channel's
 * concurrency wait in a queue.
 */
#ifndef PROMISED_NETSEND_H
#define PROMISED_NETSEND_H

#include <stddef.h>
#include <stdint.h>

#include "promised/config.h"

struct netsend;

enum netsend_result {
	NETSEND_OK = 0,       /* the far side accepted it */
	NETSEND_RETRY,        /* network error, timeout, 5xx, 429, SMTP 4xx */
	NETSEND_PERMANENT,    /* other 4xx, SMTP 5xx, bad config or secret */
};

/* What became of one job; valid only during the callback. */
struct netsend_done {
	void *job_ctx;            /* as given at submit */
	enum netsend_result result;
	long status;              /* HTTP status or SMTP reply code; 0: none */
	int64_t retry_after;      /* seconds from Retry-After; -1: none */
	const char *detail;       /* "HTTP 503", "connect timeout", ... */
	const char *response;     /* response body (capped), or SMTP's last
				   * reply line; may be "" */
	const char *provider_id;  /* e.g. a gateway's message id; may be "" */
	/* netsend_fetch only (0 / NULL for other jobs): */
	size_t response_len;      /* bytes of response (a body may hold NULs) */
	const char *etag;         /* ETag of the answer, or NULL */
	const char *last_modified;  /* Last-Modified of the answer, or NULL */
};
typedef void (*netsend_done_fn)(void *cb_ctx, const struct netsend_done *d);

/* Socket interest for the host loop: events is a mask of NETSEND_IN and
 * NETSEND_OUT (unsigned, as bit masks are, and so never mistaken for the
 * fd next to it); 0 means stop watching fd.  Besides curl's sockets this
 * is the mail thread's eventfd (NETSEND_IN, from the first email on),
 * which is reported back through netsend_on_fd like any other. */
#define NETSEND_IN 1u
#define NETSEND_OUT 2u
typedef void (*netsend_watch_fn)(void *loop_ctx, int fd, unsigned events);
/* The one timer netsend needs: fire after timeout_ms; -1 disarms.  It is
 * one-shot: after it fired, netsend arms it again when it still needs it. */
typedef void (*netsend_timer_fn)(void *loop_ctx, long timeout_ms);

/* Returns an owned engine; done is called once per job with cb_ctx, never
 * from inside netsend_smtp/netsend_http (a job that fails before it can
 * start, e.g. on a missing secret, is answered from the next timer tick).
 * Ignores SIGPIPE for the whole process. */
struct netsend *netsend_new(netsend_watch_fn watch, netsend_timer_fn timer,
			    void *loop_ctx, netsend_done_fn done,
			    void *cb_ctx, char *err, size_t errlen);
/* Aborts what is in flight (no callbacks) and frees; NULL is allowed.
 * Stops and joins the mail thread: about a second at most when a server
 * stalls mid-email; closing cached mail connections may wait for QUIT's
 * reply up to the channel's timeout. */
void netsend_free(struct netsend *ns);

/* Queues one email: envelope from the channel's `from`, to rcpt_addr;
 * message is the complete RFC 5322 text (copied, as is everything of ch
 * the transfer needs; the password file is read now).  -1 only when the
 * job cannot even be queued (err says why; e.g. the mail thread cannot
 * start). */
int netsend_smtp(struct netsend *ns, const struct cfg_channel *ch,
		 const char *rcpt_addr, const char *message, size_t len,
		 void *job_ctx, char *err, size_t errlen);
/* Queues one webhook request with the channel's method, headers, auth and
 * content type; body is final (copied).  idem_key goes out as
 * webhook-id / Idempotency-Key; with signing, webhook-timestamp (now) and
 * webhook-signature (v1, HMAC-SHA256 over id.timestamp.body). */
int netsend_http(struct netsend *ns, const struct cfg_channel *ch,
		 const char *idem_key, const char *body, size_t len,
		 int64_t now, void *job_ctx, char *err, size_t errlen);

/* A conditional GET of a calendar feed (or any document).  Redirects
 * are followed up to 5 times and only to http/https; TLS is verified; an
 * answer larger than max_bytes fails ("answer larger than N bytes").  The
 * done callback gets NETSEND_OK with status 200 and the body in
 * response/response_len, or NETSEND_OK with status 304 (not modified, no
 * body); any other status or a network error is RETRY or PERMANENT as
 * for webhooks.  Only http:// and https:// urls: callers read files
 * themselves.
 *
 * Routing convention: one netsend serves every kind of job, so a host
 * with several kinds makes each job_ctx point to a struct whose first
 * member is an int-sized kind tag (see enum feedpoll_job_kind in
 * feedpoll.h) and dispatches on it in its done callback. */
struct netsend_fetch_req {
	const char *url;
	enum cfg_auth_type auth;
	const char *username;        /* basic */
	const char *secret_file;     /* basic: password; bearer: token */
	const char *etag;            /* If-None-Match; NULL: none */
	const char *last_modified;   /* If-Modified-Since; NULL: none */
	int64_t max_bytes;           /* <= 0: 16 MiB */
	int64_t timeout;             /* seconds; <= 0: 60 */
	int64_t connect_timeout;     /* seconds; <= 0: 10 */
	const char *ca_file;         /* NULL: the system's trust store */
	/* body_to_fd: the body is written to body_fd (the caller's, left
	 * open) instead of memory; response is then "" and response_len
	 * the bytes written.  The max_bytes cap holds all the same. */
	int body_to_fd;
	int body_fd;
};
/* Queues one fetch (strings are copied); -1 only when it cannot even be
 * queued (err says why).  A missing secret is answered PERMANENT. */
int netsend_fetch(struct netsend *ns, const struct netsend_fetch_req *req,
		  void *job_ctx, char *err, size_t errlen);

/* The host loop reports readiness of a watched fd (events as above). */
void netsend_on_fd(struct netsend *ns, int fd, unsigned events);
/* The host loop reports that the requested timer fired. */
void netsend_on_timeout(struct netsend *ns);
/* Jobs queued or in flight. */
size_t netsend_pending(const struct netsend *ns);
/* For promisectl: runs until every job is done or timeout_ms passed,
 * without a host loop (watch/timer may be NULL then).  0 or -1. */
int netsend_run(struct netsend *ns, long timeout_ms);

/* Standard Webhooks signature of (id, timestamp, body) with secret
 * ("whsec_" + base64 key, or raw bytes): writes "v1,<base64>" into out. */
int netsend_sign(const char *secret, const char *id, int64_t timestamp,
		 const char *body, size_t len, char *out, size_t outlen,
		 char *err, size_t errlen);

/* Version of the libcurl loaded at run time, "7.88.1" (static). */
const char *netsend_lib_version(void);

#endif
