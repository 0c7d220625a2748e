/*
 * test_http: the listener on 127.0.0.1 with a free port, driven the way
 * the daemon drives it (wait on http_fd, then http_run) interleaved with a
 * libcurl multi client in the same thread: routing, 404/405, prefixes,
 * query and form fields, the body cap (declared and chunked), the default
 * headers, handler failures and bad listen addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "promised/http.h"
#include "promised/xmalloc.h"

#define MAX_BODY 1000

struct reply {
	long status;
	char *body;
	size_t len;
	char headers[4096];
	size_t hlen;
};

struct upload {
	size_t left;
};

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;

	r->body = xreallocarray(r->body, r->len + sz * n + 1, 1);
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t room = sizeof(r->headers) - r->hlen - 1;
	size_t take = sz * n < room ? sz * n : room;

	memcpy(r->headers + r->hlen, p, take);
	r->hlen += take;
	r->headers[r->hlen] = '\0';
	return sz * n;
}

/* Feeds `left` bytes of 'x' with no declared length (chunked). */
static size_t
on_read(char *p, size_t sz, size_t n, void *ud)
{
	struct upload *u = ud;
	size_t take = sz * n < u->left ? sz * n : u->left;

	if (take > 100)
		take = 100;
	memset(p, 'x', take);
	u->left -= take;
	return take;
}

/* Runs one request against srv, pumping both sides until curl is done. */
static void
fetch(struct http_server *srv, const char *method, const char *path,
      const char *hdr, const char *body, size_t blen, size_t chunked,
      struct reply *r)
{
	CURLM *m = curl_multi_init();
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	struct curl_waitfd wfd = { .fd = http_fd(srv), .events = CURL_WAIT_POLLIN };
	struct upload up = { chunked };
	char url[512];
	int running = 1, rounds = 0;
	long t;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port(srv), path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	if (hdr)
		h = curl_slist_append(h, hdr);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)blen);
	} else if (chunked) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, &up);
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_multi_add_handle(m, e);
	while (running && rounds++ < 2000) {
		curl_multi_perform(m, &running);
		http_run(srv);
		t = http_timeout_ms(srv);
		curl_multi_poll(m, &wfd, 1, t >= 0 && t < 10 ? (int)t : 10, NULL);
	}
	assert_int_equal(running, 0);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	curl_multi_remove_handle(m, e);
	curl_easy_cleanup(e);
	curl_multi_cleanup(m);
	curl_slist_free_all(h);
	if (r->body == NULL)
		r->body = xstrdup("");
}

/* 1 when the raw response headers hold the line "name: value". */
static int
has_header(const struct reply *r, const char *line)
{
	const char *p = r->headers;
	size_t n = strlen(line);

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, line, n) == 0 && (p[n] == '\r' || p[n] == '\n'))
			return 1;
	}
	return 0;
}

/* ---- Handlers --------------------------------------------------------- */

static int
h_hello(void *ctx, const struct http_request *req, struct http_response *resp)
{
	const char *name = http_req_arg(req, "name");
	char buf[256];
	int n;

	(void)ctx;
	n = snprintf(buf, sizeof(buf), "hello %s", name ? name : "nobody");
	http_resp_set(resp, 200, "text/plain; charset=utf-8", buf, (size_t)n);
	http_resp_header(resp, "X-Greeting", "yes");
	return 0;
}

static void
join_arg(void *ctx, const char *name, const char *value)
{
	char *buf = ctx;
	size_t len = strlen(buf);

	snprintf(buf + len, 512 - len, "%s=%s;", name, value);
}

static int
h_form(void *ctx, const struct http_request *req, struct http_response *resp)
{
	char buf[512] = "";

	(void)ctx;
	http_req_args(req, join_arg, buf);
	http_resp_set(resp, 200, "text/plain", buf, strlen(buf));
	return 0;
}

static int
h_path(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	http_resp_set(resp, 200, "text/plain", http_req_path(req),
		      strlen(http_req_path(req)));
	return 0;
}

static int
h_echo(void *ctx, const struct http_request *req, struct http_response *resp)
{
	size_t len;
	const char *b = http_req_body(req, &len);

	(void)ctx;
	http_resp_set(resp, 201, "application/octet-stream", b, len);
	return 0;
}

static int
h_info(void *ctx, const struct http_request *req, struct http_response *resp)
{
	const char *v = http_req_header(req, "x-test");
	char buf[256];
	int n;

	(void)ctx;
	n = snprintf(buf, sizeof(buf), "%s %s %s", http_req_method(req),
		     http_req_peer(req), v ? v : "-");
	http_resp_set(resp, 200, "text/plain", buf, (size_t)n);
	http_resp_header(resp, "Cache-Control", "max-age=60");
	return 0;
}

static int
h_fail(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	(void)req;
	/* Whatever was started is dropped in favour of the 500. */
	http_resp_set(resp, 200, "text/plain", "half", 4);
	return -1;
}

static int
setup(void **state)
{
	char err[256] = "";
	struct http_server *srv = http_new("127.0.0.1:0", MAX_BODY, err,
					   sizeof(err));

	if (srv == NULL)
		fail_msg("http_new: %s", err);
	assert_int_equal(http_route(srv, "GET", "/hello", h_hello, NULL), 0);
	assert_int_equal(http_route(srv, "POST", "/form", h_form, NULL), 0);
	assert_int_equal(http_route(srv, "GET", "/files/*", h_path, NULL), 0);
	assert_int_equal(http_route(srv, "POST", "/echo", h_echo, NULL), 0);
	assert_int_equal(http_route(srv, "PUT", "/echo", h_echo, NULL), 0);
	assert_int_equal(http_route(srv, "GET", "/info", h_info, NULL), 0);
	assert_int_equal(http_route(srv, "GET", "/fail", h_fail, NULL), 0);
	assert_int_equal(http_route(srv, "GET", "relative", h_fail, NULL), -1);
	*state = srv;
	return 0;
}

static int
teardown(void **state)
{
	http_free(*state);
	return 0;
}

static void
reply_free(struct reply *r)
{
	free(r->body);
}

/* ---- Tests ------------------------------------------------------------ */

static void
test_port_and_fd(void **state)
{
	struct http_server *srv = *state;

	assert_true(http_port(srv) > 0 && http_port(srv) < 65536);
	assert_true(http_fd(srv) >= 0);
}

static void
test_exact_route_and_query(void **state)
{
	struct reply r;

	fetch(*state, "GET", "/hello?name=J%C3%BCrgen+P&x", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello J\xc3\xbcrgen P");
	assert_true(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
	assert_true(has_header(&r, "X-Greeting: yes"));
	assert_true(has_header(&r, "Cache-Control: no-store"));
	assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
	reply_free(&r);
	fetch(*state, "HEAD", "/hello", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	reply_free(&r);
}

static void
test_not_found(void **state)
{
	struct reply r;

	fetch(*state, "GET", "/nope", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error\":\"not found\"}");
	assert_true(has_header(&r, "Content-Type: application/json"));
	assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
	assert_true(has_header(&r, "Cache-Control: no-store"));
	reply_free(&r);
	/* An exact route is not a prefix. */
	fetch(*state, "GET", "/hello/there", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void
test_method_not_allowed(void **state)
{
	struct reply r;

	fetch(*state, "DELETE", "/echo", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: POST, PUT"));
	assert_string_equal(r.body, "{\"error\":\"method not allowed\"}");
	reply_free(&r);
	fetch(*state, "POST", "/hello", NULL, "", 0, 0, &r);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: GET"));
	reply_free(&r);
}

static void
test_prefix_route(void **state)
{
	struct reply r;

	fetch(*state, "GET", "/files/a/b.txt", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "/files/a/b.txt");
	reply_free(&r);
	/* The prefix is "/files/": "/files" itself is another path. */
	fetch(*state, "GET", "/files", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void
test_form_fields(void **state)
{
	static const char body[] = "a=1+2&b=x%26y%3D&&c&d=%zz";
	struct reply r;

	fetch(*state, "POST", "/form?q=%C3%A9", "Content-Type: "
	      "application/x-www-form-urlencoded", body, strlen(body), 0, &r);
	assert_int_equal(r.status, 200);
	/* Query first, then the form in order; a broken escape stays. */
	assert_string_equal(r.body, "q=\xc3\xa9;a=1 2;b=x&y=;c=;d=%zz;");
	reply_free(&r);
	/* Another content type is not parsed as a form. */
	fetch(*state, "POST", "/form", "Content-Type: text/plain", body,
	      strlen(body), 0, &r);
	assert_string_equal(r.body, "");
	reply_free(&r);
}

static void
test_body_cap(void **state)
{
	char *big = xmalloc(MAX_BODY + 2);
	struct reply r;

	memset(big, 'b', MAX_BODY + 1);
	big[MAX_BODY + 1] = '\0';
	/* Exactly the cap is fine and arrives whole. */
	fetch(*state, "POST", "/echo", NULL, big, MAX_BODY, 0, &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.len, MAX_BODY);
	assert_memory_equal(r.body, big, MAX_BODY);
	reply_free(&r);
	/* One byte more, declared in Content-Length: refused up front. */
	fetch(*state, "POST", "/echo", NULL, big, MAX_BODY + 1, 0, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.body, "{\"error\":\"body too large\",\"max\":1000}");
	assert_true(has_header(&r, "Cache-Control: no-store"));
	reply_free(&r);
	/* Chunked, with no length: noticed while reading. */
	fetch(*state, "POST", "/echo", NULL, NULL, 0, 3 * MAX_BODY, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.body, "{\"error\":\"body too large\",\"max\":1000}");
	reply_free(&r);
	/* A chunked body under the cap is gathered across calls. */
	fetch(*state, "POST", "/echo", NULL, NULL, 0, 950, &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.len, 950);
	reply_free(&r);
	free(big);
}

static void
test_headers_peer_cache(void **state)
{
	struct reply r;

	fetch(*state, "GET", "/info", "X-TEST: v1", NULL, 0, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "GET 127.0.0.1 v1");
	/* The handler's own Cache-Control replaces the default. */
	assert_true(has_header(&r, "Cache-Control: max-age=60"));
	assert_false(has_header(&r, "Cache-Control: no-store"));
	assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
	reply_free(&r);
}

static void
test_handler_failure(void **state)
{
	struct reply r;

	fetch(*state, "GET", "/fail", NULL, NULL, 0, 0, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "{\"error\":\"internal error\"}");
	reply_free(&r);
}

static void
test_response_helpers(void **state)
{
	struct http_response resp;
	int i;
	char name[HTTP_MAX_HEADERS + 2][8];

	(void)state;
	memset(&resp, 0, sizeof(resp));
	http_resp_set(&resp, 200, "text/plain", "a", 1);
	http_resp_set(&resp, 202, "text/html", "bc", 2);
	assert_int_equal(resp.status, 202);
	assert_string_equal(resp.body, "bc");
	http_resp_header(&resp, "X-A", "1");
	http_resp_header(&resp, "x-a", "2");
	assert_int_equal(resp.nheaders, 1);
	assert_string_equal(resp.hvalue[0], "2");
	for (i = 0; i < HTTP_MAX_HEADERS + 2; i++) {
		snprintf(name[i], sizeof(name[i]), "X-%d", i);
		http_resp_header(&resp, name[i], "v");
	}
	assert_int_equal(resp.nheaders, HTTP_MAX_HEADERS);
	http_resp_clear(&resp);
	assert_null(resp.body);
	assert_int_equal(resp.nheaders, 0);
}

static void
test_bad_listen(void **state)
{
	struct http_server *srv = *state, *other;
	char err[256], addr[64];

	(void)state;
	err[0] = '\0';
	assert_null(http_new("nonsense", 10, err, sizeof(err)));
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_null(http_new("127.0.0.1:99999", 10, err, sizeof(err)));
	assert_null(http_new("localhost:80", 10, err, sizeof(err)));
	assert_non_null(strstr(err, "not an IPv4 or IPv6 address"));
	assert_null(http_new("[::1", 10, err, sizeof(err)));
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", http_port(srv));
	other = http_new(addr, 10, err, sizeof(err));
	assert_null(other);
	assert_non_null(strstr(err, "cannot listen on"));
}

static void
test_ipv6_loopback(void **state)
{
	char err[256] = "";
	struct http_server *srv = http_new("[::1]:0", 100, err, sizeof(err));

	(void)state;
	if (srv == NULL) {
		/* A host without IPv6 cannot bind ::1; say so, do not pass. */
		print_message("no IPv6 loopback here: %s\n", err);
		skip();
	}
	assert_true(http_port(srv) > 0);
	http_free(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_and_fd),
		cmocka_unit_test(test_exact_route_and_query),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_prefix_route),
		cmocka_unit_test(test_form_fields),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_headers_peer_cache),
		cmocka_unit_test(test_handler_failure),
		cmocka_unit_test(test_response_helpers),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_ipv6_loopback),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	curl_global_cleanup();
	return rc;
}
