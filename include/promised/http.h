/*
 * http: the daemon's HTTP listener (libmicrohttpd), driven by the one loop:
 * libmicrohttpd runs in its own epoll mode and hands the loop a single fd
 * to watch.  Requests are dispatched through a route table to handlers
 * that fill a response; bodies are capped.  microhttpd.h is included only
 * in http.c.
 */
#ifndef PROMISED_HTTP_H
#define PROMISED_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_request;

#define HTTP_MAX_HEADERS 8

struct http_response {
	int status;
	const char *content_type;       /* static string */
	char *body;                     /* owned by the response */
	size_t len;
	/* extra headers; names static, values owned */
	const char *hname[HTTP_MAX_HEADERS];
	char *hvalue[HTTP_MAX_HEADERS];
	size_t nheaders;
};

/* Handles one request; fills resp.  The return value is ignored unless -1,
 * which sends a 500. */
typedef int (*http_handler_fn)(void *ctx, const struct http_request *req,
			       struct http_response *resp);

/* Returns an owned server listening on listen ("127.0.0.1:8470",
 * "[::1]:8470", "0.0.0.0:8470"); port 0 picks a free port (see
 * http_port).  max_body caps request bodies (413 beyond).  NULL + err. */
struct http_server *http_new(const char *listen, size_t max_body,
			     char *err, size_t errlen);
void http_free(struct http_server *srv);
/* The port actually bound. */
int http_port(const struct http_server *srv);

/* Adds a route: method ("GET", "POST") and path; a path ending in '*'
 * matches every path with that prefix.  First match wins; unmatched paths
 * get 404, a matched path with another method 405. */
int http_route(struct http_server *srv, const char *method, const char *path,
	       http_handler_fn fn, void *ctx);

/* The fd the host loop watches for input, and how long it may wait before
 * calling http_run (-1: no limit). */
int http_fd(const struct http_server *srv);
long http_timeout_ms(const struct http_server *srv);
/* Runs pending work; call when http_fd is readable or the timeout passed. */
void http_run(struct http_server *srv);

/* Request accessors (borrowed, valid during the handler). */
const char *http_req_method(const struct http_request *req);
const char *http_req_path(const struct http_request *req);
/* A request header (case-insensitive), NULL when absent. */
const char *http_req_header(const struct http_request *req, const char *name);
/* A query argument, or a field of an application/x-www-form-urlencoded
 * body, NULL when absent. */
const char *http_req_arg(const struct http_request *req, const char *name);
/* Every form/query field in order, for signature checks over all params:
 * calls fn(ctx, name, value) for each. */
void http_req_args(const struct http_request *req,
		   void (*fn)(void *ctx, const char *name, const char *value),
		   void *ctx);
const char *http_req_body(const struct http_request *req, size_t *len);
/* The peer address as text. */
const char *http_req_peer(const struct http_request *req);

/* Response helpers: set status, type and an owned copy of body. */
void http_resp_set(struct http_response *resp, int status,
		   const char *content_type, const char *body, size_t len);
/* Adds a header (value copied). */
void http_resp_header(struct http_response *resp, const char *name,
		      const char *value);
void http_resp_clear(struct http_response *resp);

#endif
