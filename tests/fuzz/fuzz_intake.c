/*
 * libFuzzer target: the intake API's JSON (POST /api/v1/promises and
 * POST /api/v1/promises/<id>/close in api.c) over an in-memory store and
 * a fixed config.  The handlers are reached through the http.h interface,
 * which this file implements itself (so src/http.c and libmicrohttpd stay
 * out): api_register hands us its routes and we call them with the input
 * as the request body.
 * Invariants: the answer is always JSON with a status the API documents
 * (never 500); broken JSON is a 400; an error names itself; a 201 comes
 * only for a body with title, owner and due, stores exactly the title and
 * owner that were sent with a due not before now, and the promise can be
 * read back by its id and ref with the same values.
 */
#include <strings.h>

#include <jansson.h>

#include "fuzz_common.h"

#include "promised/api.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/store.h"

#define TOKEN "fuzz-intake-token"
#define PREFIX "/api/v1/promises"

static const char CONFIG[] =
	"sites:\n"
	"  main:\n"
	"    timezone: Europe/Brussels\n"
	"    hours:\n"
	"      mon: [08:00-12:00, 13:00-18:00]\n"
	"      tue: [08:00-12:00, 13:00-18:00]\n"
	"      wed: [08:00-12:00, 13:00-18:00]\n"
	"      thu: [08:00-12:00, 13:00-18:00]\n"
	"      fri: [08:00-12:00, 13:00-18:00]\n"
	"      sat: [09:00-12:00]\n"
	"    holidays: [2026-12-25]\n"
	"  gent:\n"
	"    timezone: America/New_York\n"
	"    hours:\n"
	"      mon: [09:00-17:00]\n"
	"staff:\n"
	"  - id: alice\n"
	"    name: Alice\n"
	"    email: alice@example.com\n"
	"    team: service\n"
	"  - id: bob\n"
	"    name: Bob\n"
	"    email: bob@example.com\n"
	"teams:\n"
	"  service:\n"
	"    lead: bob\n"
	"    site: main\n";

/* ---- http.h, as far as the handlers use it ---------------------------- */

struct http_request {
	const char *method, *path, *body;
	size_t len;
};

struct route {
	const char *method, *path;
	http_handler_fn fn;
	void *ctx;
};

struct http_server {
	struct route r[16];
	size_t n;
};

struct http_server *
http_new(const char *listen, size_t max_body, char *err, size_t errlen)
{
	(void)listen; (void)max_body; (void)err; (void)errlen;
	return xcalloc(1, sizeof(struct http_server));
}

void http_free(struct http_server *srv) { free(srv); }
int http_port(const struct http_server *srv) { (void)srv; return 0; }
int http_fd(const struct http_server *srv) { (void)srv; return -1; }
long http_timeout_ms(const struct http_server *srv) { (void)srv; return -1; }
void http_run(struct http_server *srv) { (void)srv; }

int
http_route(struct http_server *srv, const char *method, const char *path,
	   http_handler_fn fn, void *ctx)
{
	if (srv->n >= 16)
		return -1;
	srv->r[srv->n++] = (struct route){ method, path, fn, ctx };
	return 0;
}

const char *http_req_method(const struct http_request *q) { return q->method; }
const char *http_req_path(const struct http_request *q) { return q->path; }
const char *http_req_peer(const struct http_request *q) { (void)q; return "127.0.0.1"; }
const char *http_req_arg(const struct http_request *q, const char *n) { (void)q; (void)n; return NULL; }

void
http_req_args(const struct http_request *q,
	      void (*fn)(void *ctx, const char *name, const char *value),
	      void *ctx)
{
	(void)q; (void)fn; (void)ctx;
}

const char *
http_req_header(const struct http_request *q, const char *name)
{
	(void)q;
	return strcasecmp(name, "Authorization") == 0 ? "Bearer " TOKEN : NULL;
}

const char *
http_req_body(const struct http_request *q, size_t *len)
{
	*len = q->len;
	return q->body;
}

void
http_resp_set(struct http_response *resp, int status,
	      const char *content_type, const char *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = xmalloc(len + 1);
	memcpy(resp->body, body, len);
	resp->body[len] = '\0';
	resp->len = len;
}

void
http_resp_header(struct http_response *resp, const char *name,
		 const char *value)
{
	if (resp->nheaders >= HTTP_MAX_HEADERS)
		abort();
	resp->hname[resp->nheaders] = name;
	resp->hvalue[resp->nheaders++] = xstrdup(value);
}

void
http_resp_clear(struct http_response *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		free(resp->hvalue[i]);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/* ---- the target ------------------------------------------------------- */

static struct http_server *srv;
static struct config *cfg;
static struct store *st;

static int64_t
fixed_now(void)
{
	return FUZZ_NOW;
}

static void
setup(void)
{
	struct config_errors errs = { 0 };
	struct api_opts o;
	char p[600], err[256];
	size_t i;

	if (srv != NULL)
		return;
	snprintf(p, sizeof(p), "%s/promised.yaml", fuzz_tmpdir());
	fuzz_write(p, CONFIG, sizeof(CONFIG) - 1);
	cfg = config_load(p, &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	/* In memory: nothing to fsync, and a fresh store per process. */
	st = store_open(":memory:", NULL, err, sizeof(err));
	if (cfg == NULL || st == NULL) {
		fprintf(stderr, "setup: %s\n", err);
		abort();
	}
	memset(&o, 0, sizeof(o));
	o.st = st;
	o.cfg = cfg;
	o.intake_token = TOKEN;
	o.now_fn = fixed_now;
	srv = http_new("127.0.0.1:0", 1 << 20, err, sizeof(err));
	/* The api handle lives as long as the process. */
	(void)api_register(srv, &o);
}

/* Calls the route for method and path as http.c would (first match; a
 * trailing '*' matches a prefix) and checks the answer's form. */
static json_t *
call(const char *method, const char *path, const char *body, size_t len,
     int *status)
{
	struct http_request q = { method, path, body, len };
	struct http_response r;
	const struct route *rt = NULL;
	json_error_t je;
	json_t *j;
	size_t i, n;

	for (i = 0; i < srv->n && rt == NULL; i++) {
		n = strlen(srv->r[i].path);
		if (strcmp(srv->r[i].method, method) == 0 &&
		    (strcmp(srv->r[i].path, path) == 0 ||
		     (srv->r[i].path[n - 1] == '*' &&
		      strncmp(srv->r[i].path, path, n - 1) == 0)))
			rt = &srv->r[i];
	}
	FUZZ_ASSERT(rt != NULL, "no route for %s %s", method, path);
	memset(&r, 0, sizeof(r));
	FUZZ_ASSERT(rt->fn(rt->ctx, &q, &r) != -1, "%s %s: -1", method, path);
	FUZZ_ASSERT(r.body != NULL && r.content_type != NULL &&
		    strcmp(r.content_type, "application/json") == 0,
		    "%s %s: no JSON answer", method, path);
	j = json_loadb(r.body, r.len, 0, &je);
	FUZZ_ASSERT(j != NULL && json_is_object(j), "%s %s: answer %s",
		    method, path, r.body);
	*status = r.status;
	FUZZ_ASSERT(r.status == 200 || r.status == 201 || r.status == 400 ||
		    r.status == 404 || r.status == 409 || r.status == 422,
		    "%s %s: status %d: %s", method, path, r.status, r.body);
	FUZZ_ASSERT(r.status < 400 ||
		    json_is_string(json_object_get(j, "error")),
		    "%s %s: an error without text: %s", method, path, r.body);
	http_resp_clear(&r);
	return j;
}

static const char *
str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A 201: what was sent is what was stored, and it reads back. */
static void
check_created(json_t *in, json_t *out)
{
	const char *title = str_of(in, "title"), *owner = str_of(in, "owner");
	json_t *got;
	char path[128];
	int status;

	FUZZ_ASSERT(title && owner && str_of(in, "due"), "201 without "
		    "title, owner and due");
	FUZZ_ASSERT(strcmp(str_of(out, "title"), title) == 0 &&
		    strcmp(str_of(out, "owner"), owner) == 0,
		    "stored '%s' for '%s'", str_of(out, "title"), title);
	FUZZ_ASSERT(strcmp(str_of(out, "due"), "2026-11-26T10:00:00Z") >= 0,
		    "due %s before now", str_of(out, "due"));
	snprintf(path, sizeof(path), PREFIX "/%lld",
		 (long long)json_integer_value(json_object_get(out, "id")));
	got = call("GET", path, NULL, 0, &status);
	FUZZ_ASSERT(status == 200 && json_equal(got, out),
		    "%s reads back differently", path);
	json_decref(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in, *out;
	int status;

	if (size > 65536)
		return 0;
	setup();
	in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	out = call("POST", PREFIX, (const char *)data, size, &status);
	if (in == NULL)
		FUZZ_ASSERT(status == 400, "broken JSON answered %d", status);
	if (status == 201)
		check_created(in, out);
	json_decref(out);
	/* The same body as a close request for promise 1 (created by the
	 * first input that succeeds): outcome and note. */
	out = call("POST", PREFIX "/1/close", (const char *)data, size,
		   &status);
	if (in == NULL && size > 0)
		FUZZ_ASSERT(status == 400, "broken JSON closed: %d", status);
	json_decref(out);
	json_decref(in);
	return 0;
}
