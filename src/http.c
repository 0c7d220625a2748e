/*
 * http: the HTTP listener over libmicrohttpd in its external epoll mode, so
 * the daemon's one loop watches a single fd and calls http_run; no thread
 * of libmicrohttpd's own.  Bodies are gathered across the access-handler
 * calls up to a cap, query and form fields are decoded once, and a route
 * table picks the handler.  Every answer says `no-store` (unless the
 * handler chose otherwise) and `nosniff`: links are opened by mail
 * scanners and proxies that must not keep or reinterpret what they saw.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "promised/http.h"
#include "promised/log.h"
#include "promised/sbuf.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

/* A client streaming far past the cap (chunked, no Content-Length) is cut
 * off instead of being read to the end just to be told 413. */
#define HTTP_DISCARD_FACTOR 4

struct route {
	char *method;
	char *path;          /* without the trailing '*' of a prefix */
	size_t plen;
	int prefix;
	http_handler_fn fn;
	void *ctx;
};

struct http_server {
	struct MHD_Daemon *d;
	size_t max_body;
	struct route *routes;
	size_t nroutes;
	int port;
	int epoll_fd;
};

struct http_arg {
	char *name;
	char *value;
};

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	struct sbuf body;    /* NUL-terminated for handlers' convenience */
	size_t discarded;    /* bytes past max_body, thrown away */
	struct http_arg *args;
	size_t nargs;
	char peer[INET6_ADDRSTRLEN + 1];
};

/* ---- Responses ------------------------------------------------------- */

void
http_resp_set(struct http_response *resp, int status,
	      const char *content_type, const char *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = xmalloc(len + 1);
	if (len)
		memcpy(resp->body, body, len);
	resp->body[len] = '\0';
	resp->len = len;
}

void
http_resp_header(struct http_response *resp, const char *name,
		 const char *value)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->hname[i], name) == 0) {
			free(resp->hvalue[i]);
			resp->hvalue[i] = xstrdup(value);
			return;
		}
	}
	if (resp->nheaders == HTTP_MAX_HEADERS) {
		/* A fixed table is a programming limit, not a runtime one. */
		log_warn("http: more than %d response headers; %s dropped",
			 HTTP_MAX_HEADERS, name);
		return;
	}
	resp->hname[resp->nheaders] = name;
	resp->hvalue[resp->nheaders] = xstrdup(value);
	resp->nheaders++;
}

void
http_resp_clear(struct http_response *resp)
{
	size_t i;

	free(resp->body);
	for (i = 0; i < resp->nheaders; i++)
		free(resp->hvalue[i]);
	memset(resp, 0, sizeof(*resp));
}

static void
resp_json_error(struct http_response *resp, int status, const char *msg)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "{\"error\":\"%s\"}", msg);

	http_resp_set(resp, status, "application/json", buf, (size_t)n);
}

static int
has_header(const struct http_response *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->hname[i], name) == 0)
			return 1;
	return 0;
}

/* Queues resp on conn (copied) and clears it. */
static enum MHD_Result
send_response(struct MHD_Connection *conn, struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t i;

	if (resp->status < 100 || resp->status > 599)
		resp_json_error(resp, 500, "internal error");
	r = MHD_create_response_from_buffer(resp->len, resp->body ? resp->body
					    : (void *)"", MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		http_resp_clear(resp);
		return MHD_NO;
	}
	if (resp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					resp->content_type);
	for (i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->hname[i], resp->hvalue[i]);
	if (!has_header(resp, "Cache-Control"))
		MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	http_resp_clear(resp);
	return ret;
}

/* ---- Request state --------------------------------------------------- */

const char *
http_req_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_req_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_req_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_req_arg(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nargs; i++)
		if (strcmp(req->args[i].name, name) == 0)
			return req->args[i].value;
	return NULL;
}

void
http_req_args(const struct http_request *req,
	      void (*fn)(void *ctx, const char *name, const char *value),
	      void *ctx)
{
	size_t i;

	for (i = 0; i < req->nargs; i++)
		fn(ctx, req->args[i].name, req->args[i].value);
}

const char *
http_req_body(const struct http_request *req, size_t *len)
{
	if (len)
		*len = req->body.len;
	return req->body.p ? req->body.p : "";
}

const char *
http_req_peer(const struct http_request *req)
{
	return req->peer;
}

static void
add_arg(struct http_request *req, char *name, char *value)
{
	req->args = xreallocarray(req->args, req->nargs + 1,
				  sizeof(*req->args));
	req->args[req->nargs].name = name;
	req->args[req->nargs].value = value;
	req->nargs++;
}

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
	      const char *value)
{
	(void)kind;
	add_arg(cls, xstrdup(key), xstrdup(value ? value : ""));
	return MHD_YES;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes n bytes of application/x-www-form-urlencoded text ('+' is a
 * space, %XX a byte; a broken escape stays as it is). */
static char *
form_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
			   hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

static void
parse_form(struct http_request *req)
{
	const char *p = req->body.p, *end = p + req->body.len, *amp, *eq;

	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp > p) {
			eq = memchr(p, '=', (size_t)(amp - p));
			if (eq == NULL)
				add_arg(req, form_decode(p, (size_t)(amp - p)),
					xstrdup(""));
			else
				add_arg(req, form_decode(p, (size_t)(eq - p)),
					form_decode(eq + 1,
						    (size_t)(amp - eq - 1)));
		}
		p = amp + 1;
	}
}

static void
fill_peer(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	socklen_t salen;

	util_strlcpy(req->peer, "unknown", sizeof(req->peer));
	ci = MHD_get_connection_info(req->conn,
				     MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		: sizeof(struct sockaddr_in);
	if (getnameinfo(sa, salen, req->peer, sizeof(req->peer), NULL, 0,
			NI_NUMERICHOST) != 0)
		util_strlcpy(req->peer, "unknown", sizeof(req->peer));
}

static void
request_free(struct http_request *req)
{
	size_t i;

	if (req == NULL)
		return;
	for (i = 0; i < req->nargs; i++) {
		free(req->args[i].name);
		free(req->args[i].value);
	}
	free(req->args);
	sbuf_free(&req->body);
	free(req);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	request_free(*con_cls);
	*con_cls = NULL;
}

/* ---- Dispatch -------------------------------------------------------- */

static int
method_is(const char *want, const char *method)
{
	/* HEAD is answered like GET; libmicrohttpd drops the body. */
	if (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0)
		return 1;
	return strcmp(want, method) == 0;
}

static int
path_is(const struct route *r, const char *path)
{
	if (r->prefix)
		return strncmp(path, r->path, r->plen) == 0;
	return strcmp(path, r->path) == 0;
}

static void
append_allow(char *allow, size_t len, const char *method)
{
	if (strstr(allow, method))
		return;
	if (allow[0])
		strncat(allow, ", ", len - strlen(allow) - 1);
	strncat(allow, method, len - strlen(allow) - 1);
}

static enum MHD_Result
dispatch(struct http_server *srv, struct http_request *req)
{
	struct http_response resp;
	const struct route *hit = NULL;
	const char *ctype;
	char allow[128] = "", msg[96];
	size_t i;

	memset(&resp, 0, sizeof(resp));
	if (req->discarded > 0) {
		(void)snprintf(msg, sizeof(msg),
			       "{\"error\":\"body too large\","
			       "\"max\":%zu}", srv->max_body);
		http_resp_set(&resp, 413, "application/json", msg, strlen(msg));
		return send_response(req->conn, &resp);
	}
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
				  collect_query, req);
	ctype = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ctype && util_startswith_ci(ctype,
					"application/x-www-form-urlencoded"))
		parse_form(req);
	fill_peer(req);
	for (i = 0; i < srv->nroutes && hit == NULL; i++) {
		if (!path_is(&srv->routes[i], req->path))
			continue;
		if (method_is(srv->routes[i].method, req->method))
			hit = &srv->routes[i];
		else
			append_allow(allow, sizeof(allow), srv->routes[i].method);
	}
	if (hit == NULL && allow[0] == '\0') {
		resp_json_error(&resp, 404, "not found");
	} else if (hit == NULL) {
		resp_json_error(&resp, 405, "method not allowed");
		http_resp_header(&resp, "Allow", allow);
	} else if (hit->fn(hit->ctx, req, &resp) == -1 || resp.status == 0) {
		http_resp_clear(&resp);
		resp_json_error(&resp, 500, "internal error");
	}
	return send_response(req->conn, &resp);
}

/* Declared lengths beyond the cap are refused before any body is read. */
static int
declared_too_big(struct MHD_Connection *conn, size_t max_body)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t n;

	if (cl == NULL || util_parse_int64(cl, 0, INT64_MAX, &n) != 0)
		return 0;
	return (uint64_t)n > (uint64_t)max_body;
}

static void
take_body(struct http_request *req, size_t max_body, const char *data,
	  size_t n)
{
	if (req->discarded > 0 || req->body.len + n > max_body) {
		req->discarded += n;
		return;
	}
	sbuf_add(&req->body, data, n);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload,
	   size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	struct http_response resp;
	char msg[96];

	(void)version;
	if (req == NULL) {
		req = xcalloc(1, sizeof(*req));
		req->conn = conn;
		req->method = method;
		req->path = url;
		*con_cls = req;
		if (!declared_too_big(conn, srv->max_body))
			return MHD_YES;
		memset(&resp, 0, sizeof(resp));
		(void)snprintf(msg, sizeof(msg),
			       "{\"error\":\"body too large\","
			       "\"max\":%zu}", srv->max_body);
		http_resp_set(&resp, 413, "application/json", msg, strlen(msg));
		return send_response(conn, &resp);
	}
	if (*upload_size > 0) {
		take_body(req, srv->max_body, upload, *upload_size);
		*upload_size = 0;
		if (req->discarded > HTTP_DISCARD_FACTOR * srv->max_body + 65536)
			return MHD_NO;
		return MHD_YES;
	}
	return dispatch(srv, req);
}

/* ---- The server ------------------------------------------------------ */

/* "127.0.0.1:8470", "[::1]:8470", "0.0.0.0:0" -> a socket address. */
static int
parse_listen(const char *listen, struct sockaddr_storage *ss, int *v6,
	     char *err, size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *colon, *port;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	int64_t pn;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		colon = strstr(listen, "]:");
		port = colon ? colon + 2 : NULL;
		hlen = colon ? (size_t)(colon - listen - 1) : 0;
		listen++;
	} else {
		colon = strrchr(listen, ':');
		port = colon ? colon + 1 : NULL;
		hlen = colon ? (size_t)(colon - listen) : 0;
	}
	if (port == NULL || hlen == 0 || hlen >= sizeof(host) ||
	    util_parse_int64(port, 0, 65535, &pn) != 0) {
		util_seterr(err, errlen, "listen address '%s' is not "
			    "HOST:PORT (127.0.0.1:8470, [::1]:8470)", listen);
		return -1;
	}
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	*v6 = 0;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)pn);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)pn);
		*v6 = 1;
		return 0;
	}
	util_seterr(err, errlen, "listen address '%s': '%s' is not an IPv4 "
		    "or IPv6 address", listen, host);
	return -1;
}

struct http_server *
http_new(const char *listen, size_t max_body, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct http_server *srv = NULL;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL;
	int v6;

	if (parse_listen(listen, &ss, &v6, err, errlen) != 0)
		goto out;
	if (v6)
		flags |= MHD_USE_IPv6;
	srv = xcalloc(1, sizeof(*srv));
	srv->max_body = max_body;
	errno = 0;
	srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)128,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
				  MHD_OPTION_END);
	if (srv->d == NULL) {
		util_seterr(err, errlen, "cannot listen on %s: %s", listen,
			    errno ? util_strerror(errno, ebuf, sizeof(ebuf))
				  : "libmicrohttpd failed");
		free(srv);
		srv = NULL;
		goto out;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? (int)info->port : -1;
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD);
	srv->epoll_fd = info ? info->epoll_fd : -1;
	if (srv->port <= 0 || srv->epoll_fd < 0) {
		util_seterr(err, errlen, "listening on %s: no port or epoll "
			    "fd from libmicrohttpd", listen);
		http_free(srv);
		srv = NULL;
	}
out:
	return srv;
}

void
http_free(struct http_server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	if (srv->d)
		MHD_stop_daemon(srv->d);
	for (i = 0; i < srv->nroutes; i++) {
		free(srv->routes[i].method);
		free(srv->routes[i].path);
	}
	free(srv->routes);
	free(srv);
}

int
http_port(const struct http_server *srv)
{
	return srv->port;
}

int
http_route(struct http_server *srv, const char *method, const char *path,
	   http_handler_fn fn, void *ctx)
{
	struct route *r;
	size_t len = strlen(path);

	if (fn == NULL || len == 0 || path[0] != '/')
		return -1;
	srv->routes = xreallocarray(srv->routes, srv->nroutes + 1,
				    sizeof(*srv->routes));
	r = &srv->routes[srv->nroutes++];
	r->method = xstrdup(method);
	r->prefix = path[len - 1] == '*';
	r->plen = r->prefix ? len - 1 : len;
	r->path = xstrndup(path, r->plen);
	r->fn = fn;
	r->ctx = ctx;
	return 0;
}

int
http_fd(const struct http_server *srv)
{
	return srv->epoll_fd;
}

long
http_timeout_ms(const struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(srv->d, &t) != MHD_YES)
		return -1;
	return t > (MHD_UNSIGNED_LONG_LONG)LONG_MAX ? LONG_MAX : (long)t;
}

void
http_run(struct http_server *srv)
{
	MHD_run(srv->d);
}
