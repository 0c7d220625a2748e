/*
 * test_api: the intake API, /healthz and /metrics over real HTTP — a
 * store in a temporary folder, a config loaded from YAML, the api on a
 * listener at 127.0.0.1:0 driven like the daemon drives it, and libcurl
 * as the client.  The clock is injected: now is Thursday 2026-12-03
 * 09:00Z (10:00 in Brussels).  /metrics is also checked with promtool.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "promised/api.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define TOKEN "s3cret-intake-token"
#define MAX_BODY 16384

static const char config_yaml[] =
	"database: promised.db\n"
	"default_site: leuven\n"
	"sites:\n"
	"  leuven:\n"
	"    timezone: Europe/Brussels\n"
	"    hours:\n"
	"      mon: 08:00-18:00\n"
	"      tue: 08:00-18:00\n"
	"      wed: 08:00-18:00\n"
	"      thu: 08:00-18:00\n"
	"      fri: 08:00-18:00\n"
	"      sat: closed\n"
	"      sun: closed\n"
	"staff:\n"
	"  - id: marc\n"
	"    name: Marc Janssens\n"
	"    email: marc@example.com\n"
	"    phone: \"+32470100201\"\n"
	"    locale: nl\n"
	"    team: sales\n"
	"  - id: sophie\n"
	"    name: Sophie Dubois\n"
	"    email: sophie@example.com\n"
	"    phone: \"+32470100202\"\n"
	"    locale: fr\n"
	"    team: service\n"
	"teams:\n"
	"  sales:\n"
	"    lead: marc\n"
	"    site: leuven\n"
	"  service:\n"
	"    lead: sophie\n"
	"    site: leuven\n"
	"channels:\n"
	"  mail:\n"
	"    type: log\n"
	"  sms:\n"
	"    type: log\n";

static int64_t fake_now;
static int healthy = 1;

static int64_t
now_fn(void)
{
	return fake_now;
}

static int
health_fn(void *ctx, char *reason, size_t len)
{
	(void)ctx;
	if (healthy)
		return 0;
	util_strlcpy(reason, "store: database is locked", len);
	return -1;
}

struct fx {
	char dir[64];
	struct config *cfg;
	struct store *st;
	struct http_server *srv;
	struct api *api;
	struct api_metrics *m;
	struct api_opts o;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct config_errors errs = { NULL, 0 };
	char path[128], err[256] = "";
	FILE *fp;

	fake_now = util_days_from_civil(2026, 12, 3) * 86400 + 9 * 3600;
	healthy = 1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_api.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/promised.yaml", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(config_yaml, fp);
	fclose(fp);
	f->cfg = config_load(path, &errs);
	if (f->cfg == NULL)
		fail_msg("config: %s", errs.n ? errs.msg[0] : "?");
	snprintf(path, sizeof(path), "%s/promised.db", f->dir);
	f->st = store_open(path, NULL, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store: %s", err);
	f->srv = http_new("127.0.0.1:0", MAX_BODY, err, sizeof(err));
	if (f->srv == NULL)
		fail_msg("http: %s", err);
	f->m = api_metrics_new();
	f->o = (struct api_opts){
		.st = f->st, .cfg = f->cfg, .intake_token = TOKEN,
		.now_fn = now_fn, .health_fn = health_fn, .metrics = f->m,
	};
	f->api = api_register(f->srv, &f->o);
	assert_non_null(f->api);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	http_free(f->srv);
	api_free(f->api);
	api_metrics_free(f->m);
	store_close(f->st);
	config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- The client ------------------------------------------------------- */

struct reply {
	long status;
	char *body;
	size_t len;
	char headers[4096];
	size_t hlen;
	json_t *json;          /* the body parsed, when it is JSON */
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

/* One request; auth NULL sends no Authorization header. */
static void
req(struct fx *f, const char *method, const char *path, const char *auth,
    const char *body, struct reply *r)
{
	CURLM *m = curl_multi_init();
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	struct curl_waitfd wfd = { .fd = http_fd(f->srv),
				   .events = CURL_WAIT_POLLIN };
	char url[512], hdr[256];
	int running = 1, rounds = 0;
	long t;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port(f->srv),
		 path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		h = curl_slist_append(h, hdr);
	}
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_multi_add_handle(m, e);
	while (running && rounds++ < 2000) {
		curl_multi_perform(m, &running);
		http_run(f->srv);
		t = http_timeout_ms(f->srv);
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
	r->json = json_loads(r->body, 0, NULL);
}

static void
reply_free(struct reply *r)
{
	free(r->body);
	json_decref(r->json);
}

static const char *
jstr(const struct reply *r, const char *key)
{
	return json_string_value(json_object_get(r->json, key));
}

static int64_t
jint(const struct reply *r, const char *key)
{
	return json_integer_value(json_object_get(r->json, key));
}

static void
post(struct fx *f, const char *path, const char *body, struct reply *r)
{
	req(f, "POST", path, "Bearer " TOKEN, body, r);
}

static void
get(struct fx *f, const char *path, struct reply *r)
{
	req(f, "GET", path, "Bearer " TOKEN, NULL, r);
}

static size_t
count_all(struct fx *f)
{
	struct store_filter flt;
	struct promise *arr = NULL;
	size_t n = 0;
	char err[256];

	memset(&flt, 0, sizeof(flt));
	assert_int_equal(store_list(f->st, &flt, &arr, &n, err, sizeof(err)),
			 STORE_OK);
	promise_free_array(arr, n);
	return n;
}

/* A promise added through the store, as promisectl would. */
static int64_t
seed(struct fx *f, const char *owner, const char *team, int64_t due)
{
	struct promise p;
	char err[256] = "";
	int64_t id;

	memset(&p, 0, sizeof(p));
	p.title = xstrdup("Call back about the quote");
	p.owner = xstrdup(owner);
	p.team = xstrdup(team);
	p.site = xstrdup("leuven");
	p.source = xstrdup("cli");
	p.due_at = due;
	if (store_add(f->st, &p, "test", fake_now, err, sizeof(err)) != 0)
		fail_msg("store_add: %s", err);
	id = p.id;
	promise_clear(&p);
	return id;
}

static const char create_body[] =
	"{\"title\": \"Call back with the brake quote\","
	" \"owner\": \"marc\","
	" \"due\": \"2026-12-04T17:00:00+01:00\","
	" \"target\": \"2026-12-03T20:00:00+01:00\","
	" \"ref\": \"dms-4711\","
	" \"customer\": {\"name\": \"Marie Dubois\", \"phone\": \"+32470999888\","
	"   \"email\": \"marie@example.org\"},"
	" \"vehicle\": \"VW Golf\", \"vin\": \"wvwzzz1jzxw000001\","
	" \"details\": \"Front pads\\nand discs\"}";

/* ---- Intake ----------------------------------------------------------- */

static void
test_create_and_repeat(void **state)
{
	struct fx *f = *state;
	struct reply r;
	int64_t id;
	char loc[80];

	post(f, "/api/v1/promises", create_body, &r);
	assert_int_equal(r.status, 201);
	assert_non_null(r.json);
	id = jint(&r, "id");
	assert_true(id > 0);
	assert_string_equal(jstr(&r, "owner"), "marc");
	/* Team from the owner, site from the team. */
	assert_string_equal(jstr(&r, "team"), "sales");
	assert_string_equal(jstr(&r, "site"), "leuven");
	/* 17:00 at +01:00 is 16:00Z; target 20:00+01:00 is 19:00Z. */
	assert_string_equal(jstr(&r, "due"), "2026-12-04T16:00:00Z");
	assert_string_equal(jstr(&r, "due_local"), "2026-12-04T17:00:00+01:00");
	assert_string_equal(jstr(&r, "target"), "2026-12-03T19:00:00Z");
	assert_string_equal(jstr(&r, "state"), "open");
	assert_true(json_is_null(json_object_get(r.json, "outcome")));
	assert_string_equal(jstr(&r, "source"), "api");
	assert_string_equal(jstr(&r, "ref"), "dms-4711");
	assert_string_equal(jstr(&r, "vin"), "WVWZZZ1JZXW000001");
	assert_string_equal(jstr(&r, "details"), "Front pads\nand discs");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(r.json, "customer"), "email")),
		"marie@example.org");
	snprintf(loc, sizeof(loc), "Location: /api/v1/promises/%" PRId64, id);
	assert_non_null(strstr(r.headers, loc));
	assert_non_null(strstr(r.headers, "Content-Type: application/json"));
	reply_free(&r);
	assert_int_equal(count_all(f), 1);

	/* The same ref again, even with another title: the existing one. */
	post(f, "/api/v1/promises", "{\"title\": \"Other\", \"owner\": \"sophie\","
	     " \"due\": \"in 2h\", \"ref\": \"dms-4711\"}", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(&r, "id"), id);
	assert_string_equal(jstr(&r, "title"), "Call back with the brake quote");
	assert_string_equal(jstr(&r, "owner"), "marc");
	reply_free(&r);
	post(f, "/api/v1/promises", create_body, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(&r, "id"), id);
	reply_free(&r);
	assert_int_equal(count_all(f), 1);
}

static void
test_create_phrase_due(void **state)
{
	struct fx *f = *state;
	struct reply r;

	/* Thursday 10:00 in Brussels: "tomorrow 9:00" is Friday 09:00
	 * +01:00, 08:00Z.  No ref: one is generated. */
	post(f, "/api/v1/promises", "{\"title\": \"Ring back\", \"owner\":"
	     " \"sophie\", \"due\": \"tomorrow 9:00\", \"team\": \"sales\"}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(&r, "due"), "2026-12-04T08:00:00Z");
	assert_string_equal(jstr(&r, "team"), "sales");
	assert_non_null(jstr(&r, "ref"));
	assert_true(json_is_null(json_object_get(r.json, "target")));
	reply_free(&r);
}

static void
test_bad_json(void **state)
{
	struct fx *f = *state;
	struct reply r;

	/* The '}' after the trailing comma is byte 15 of line 1. */
	post(f, "/api/v1/promises", "{\"title\": \"x\",}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(r.json);
	assert_true(util_startswith_ci(jstr(&r, "error"), "invalid JSON"));
	assert_int_equal(jint(&r, "line"), 1);
	assert_int_equal(jint(&r, "column"), 15);
	assert_int_equal(jint(&r, "position"), 15);
	reply_free(&r);
	post(f, "/api/v1/promises", "[1, 2]", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(&r, "error"), "the body must be a JSON object");
	reply_free(&r);
	post(f, "/api/v1/promises", "{\"title\": 12, \"owner\": \"marc\","
	     " \"due\": \"in 2h\"}", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(&r, "field"), "title");
	reply_free(&r);
	post(f, "/api/v1/promises", "{\"titel\": \"x\"}", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(&r, "field"), "titel");
	reply_free(&r);
	post(f, "/api/v1/promises", "{\"title\": \"x\", \"title\": \"y\"}", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	assert_int_equal(count_all(f), 0);
}

/* Found by tests/fuzz/fuzz_intake.c: jansson quotes the input near a bad
 * escape and may cut it inside a UTF-8 character; the 400 must still say
 * what is wrong. */
static void
test_bad_json_cut_utf8(void **state)
{
	struct fx *f = *state;
	struct reply r;

	post(f, "/api/v1/promises", "{\"title\": \"Lef\\u00e\xc2\xa3\", "
	     "\"owner\": \"marc\", \"due\": \"in 2h\"}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(r.json);
	assert_non_null(jstr(&r, "error"));
	assert_true(util_startswith_ci(jstr(&r, "error"), "invalid JSON"));
	assert_int_equal(jint(&r, "line"), 1);
	reply_free(&r);
	assert_int_equal(count_all(f), 0);
}

static void
test_auth(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct api_opts o;

	req(f, "POST", "/api/v1/promises", NULL, create_body, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
	assert_non_null(jstr(&r, "error"));
	reply_free(&r);
	req(f, "POST", "/api/v1/promises", "Bearer wrong", create_body, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	/* A prefix of the token is not the token. */
	req(f, "POST", "/api/v1/promises", "Bearer s3cret", create_body, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	req(f, "POST", "/api/v1/promises", "Basic " TOKEN, create_body, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	req(f, "GET", "/api/v1/promises", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	req(f, "POST", "/api/v1/promises/1/close", "Bearer x", "{}", &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	assert_int_equal(count_all(f), 0);
	/* Without a token configured the API is off, not open. */
	o = f->o;
	o.intake_token = NULL;
	api_set_opts(f->api, &o);
	req(f, "POST", "/api/v1/promises", "Bearer ", create_body, &r);
	assert_int_equal(r.status, 503);
	reply_free(&r);
	assert_int_equal(count_all(f), 0);
}

static void
test_oversized(void **state)
{
	struct fx *f = *state;
	size_t n = MAX_BODY + 100, i;
	char *body = xmalloc(n + 1);
	struct reply r;

	memcpy(body, "{\"details\": \"", 13);
	for (i = 13; i < n - 2; i++)
		body[i] = 'a';
	memcpy(body + n - 2, "\"}", 3);
	post(f, "/api/v1/promises", body, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(jstr(&r, "error"), "body too large");
	assert_int_equal(jint(&r, "max"), MAX_BODY);
	reply_free(&r);
	free(body);
	assert_int_equal(count_all(f), 0);
}

struct bad_case {
	const char *body;
	int status;
	const char *field;
};

static void
test_validation(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"title\": \"x\", \"owner\": \"nobody\", \"due\": \"in 2h\"}",
		  422, "owner" },
		/* 2026-12-02 is the day before now. */
		{ "{\"title\": \"x\", \"owner\": \"marc\","
		  " \"due\": \"2026-12-02T17:00:00+01:00\"}", 422, "due" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"someday\"}",
		  422, "due" },
		{ "{\"owner\": \"marc\", \"due\": \"in 2h\"}", 422, "title" },
		{ "{\"title\": \"\", \"owner\": \"marc\", \"due\": \"in 2h\"}",
		  422, "title" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"vin\": \"WVWZZZ1JZXW00000\"}", 422, "vin" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"vin\": \"WVWZZZ1JZXW00000O\"}", 422, "vin" },
		{ "{\"title\": \"a\\u0007b\", \"owner\": \"marc\","
		  " \"due\": \"in 2h\"}", 422, "title" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"target\": \"in 3h\"}", 422, "target" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"team\": \"parts\"}", 422, "team" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"site\": \"gent\"}", 422, "site" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"policy\": \"gold\"}", 422, "policy" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"customer\": {\"email\": \"nope\"}}", 422, "customer.email" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"customer\": \"Marie\"}", 400, "customer" },
		{ "{\"title\": \"x\", \"owner\": \"marc\", \"due\": \"in 2h\","
		  " \"customer\": {\"nmae\": \"Marie\"}}", 400, "nmae" },
	};
	struct fx *f = *state;
	struct reply r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		post(f, "/api/v1/promises", cases[i].body, &r);
		if (r.status != cases[i].status || r.json == NULL ||
		    jstr(&r, "field") == NULL ||
		    strcmp(jstr(&r, "field"), cases[i].field) != 0)
			fail_msg("case %zu: %ld %s", i, r.status, r.body);
		assert_non_null(jstr(&r, "error"));
		reply_free(&r);
	}
	/* A title of 501 bytes is one too many. */
	{
		char body[700];
		char title[502];

		memset(title, 't', 501);
		title[501] = '\0';
		snprintf(body, sizeof(body), "{\"title\": \"%s\", \"owner\":"
			 " \"marc\", \"due\": \"in 2h\"}", title);
		post(f, "/api/v1/promises", body, &r);
		assert_int_equal(r.status, 422);
		assert_string_equal(jstr(&r, "field"), "title");
		reply_free(&r);
	}
	assert_int_equal(count_all(f), 0);
}

/* ---- Listing, fetching, closing ---------------------------------------- */

static void
test_list_filters(void **state)
{
	struct fx *f = *state;
	struct reply r;
	int64_t a, b, c, d;
	char err[256];

	a = seed(f, "marc", "sales", fake_now + 7200);
	b = seed(f, "marc", "sales", fake_now + 3600);
	c = seed(f, "sophie", "service", fake_now + 600);
	d = seed(f, "sophie", "service", fake_now + 900);
	assert_int_equal(store_close_promise(f->st, d, OUTCOME_KEPT, "test",
					     NULL, fake_now, err, sizeof(err)), 0);
	assert_int_equal(store_ack(f->st, c, "test", fake_now, err,
				   sizeof(err)), 0);
	/* Open means not closed; ordered by due. */
	get(f, "/api/v1/promises", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(r.json));
	assert_int_equal(json_array_size(r.json), 3);
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(r.json, 0), "id")), c);
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(r.json, 2), "id")), a);
	reply_free(&r);
	get(f, "/api/v1/promises?state=open&owner=marc", &r);
	assert_int_equal(json_array_size(r.json), 2);
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(r.json, 0), "id")), b);
	reply_free(&r);
	get(f, "/api/v1/promises?team=service", &r);
	assert_int_equal(json_array_size(r.json), 1);
	reply_free(&r);
	get(f, "/api/v1/promises?state=acked", &r);
	assert_int_equal(json_array_size(r.json), 1);
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(r.json, 0), "id")), c);
	reply_free(&r);
	get(f, "/api/v1/promises?state=closed", &r);
	assert_int_equal(json_array_size(r.json), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(r.json, 0), "outcome")), "kept");
	reply_free(&r);
	get(f, "/api/v1/promises?state=all&site=leuven", &r);
	assert_int_equal(json_array_size(r.json), 4);
	reply_free(&r);
	get(f, "/api/v1/promises?state=all&limit=2", &r);
	assert_int_equal(json_array_size(r.json), 2);
	reply_free(&r);
	get(f, "/api/v1/promises?owner=nobody", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 0);
	reply_free(&r);
	get(f, "/api/v1/promises?state=lost", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(&r, "field"), "state");
	reply_free(&r);
	get(f, "/api/v1/promises?limit=0", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(&r, "field"), "limit");
	reply_free(&r);
}

static void
test_close(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char path[96];
	int64_t id = seed(f, "marc", "sales", fake_now + 3600);

	snprintf(path, sizeof(path), "/api/v1/promises/%" PRId64, id);
	get(f, path, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(&r, "id"), id);
	reply_free(&r);
	snprintf(path, sizeof(path), "/api/v1/promises/%" PRId64 "/close", id);
	post(f, path, "{\"outcome\": \"done\"}", &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(jstr(&r, "field"), "outcome");
	reply_free(&r);
	post(f, path, "{\"outcome\": \"cancelled\", \"note\": \"customer "
	     "sold the car\"}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "state"), "closed");
	assert_string_equal(jstr(&r, "outcome"), "cancelled");
	assert_string_equal(jstr(&r, "closed_by"), "api");
	reply_free(&r);
	post(f, path, "{}", &r);
	assert_int_equal(r.status, 409);
	reply_free(&r);
	post(f, "/api/v1/promises/99999/close", "{}", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	get(f, "/api/v1/promises/99999", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	post(f, "/api/v1/promises/99999/reopen", "{}", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void
test_close_by_ref_empty_body(void **state)
{
	struct fx *f = *state;
	struct reply r;

	post(f, "/api/v1/promises", create_body, &r);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	/* No body: kept, and before the due it stays kept. */
	req(f, "POST", "/api/v1/promises/dms-4711/close", "Bearer " TOKEN, NULL,
	    &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "outcome"), "kept");
	reply_free(&r);
}

/* ---- Health and metrics ------------------------------------------------ */

static void
test_healthz(void **state)
{
	struct fx *f = *state;
	struct reply r;

	req(f, "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	reply_free(&r);
	healthy = 0;
	req(f, "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "store: database is locked\n");
	reply_free(&r);
	req(f, "POST", "/healthz", NULL, "{}", &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
}

/* Two notifications on mail and one on sms for promise id, queued at now
 * by store_fire (with a lapse). */
static void
seed_outbox(struct fx *f, int64_t id)
{
	struct notification n[3];
	struct store_fire fire;
	static const char *ch[3] = { "mail", "mail", "sms" };
	static const char *key[3] = { "k1", "k2", "k3" };
	char err[256] = "";
	size_t i;

	memset(n, 0, sizeof(n));
	for (i = 0; i < 3; i++) {
		n[i].step = (char *)"lapse";
		n[i].channel = (char *)ch[i];
		n[i].recipient = (char *)"marc";
		n[i].subject = (char *)"Lapsed";
		n[i].body = (char *)"Lapsed";
		n[i].idem_key = (char *)key[i];
		n[i].scheduled_at = fake_now;
		n[i].next_try_at = fake_now;
	}
	memset(&fire, 0, sizeof(fire));
	fire.notifs = n;
	fire.nnotifs = 3;
	fire.fired_through = fake_now;
	fire.mark_lapsed = 1;
	fire.kind = EVENT_ESCALATED;
	if (store_fire(f->st, id, &fire, fake_now, err, sizeof(err)) != 0)
		fail_msg("store_fire: %s", err);
}

static void
outbox_results(struct fx *f)
{
	struct notification *arr = NULL;
	size_t n = 0, i;
	char err[256] = "";

	assert_int_equal(store_outbox_claim(f->st, fake_now, 2, &arr, &n, err,
					    sizeof(err)), 0);
	assert_int_equal(n, 2);
	/* The first claimed is sent, the second dead; the third stays
	 * pending. */
	for (i = 0; i < n; i++)
		assert_int_equal(store_outbox_result(f->st, arr[i].id,
			i == 0 ? NOTIF_SENT : NOTIF_DEAD, 0,
			i == 0 ? NULL : "550 no such user", NULL,
			fake_now + 5, err, sizeof(err)), 0);
	notification_free_array(arr, n);
}

/* 1 when text has the whole line. */
static int
has_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static void
promtool_check(const char *dir, const char *text)
{
	char path[128], cmd[300], out[4096];
	FILE *fp;
	size_t n;
	int st;

	assert_int_equal(system("command -v promtool >/dev/null 2>&1"), 0);
	snprintf(path, sizeof(path), "%s/metrics.txt", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	n = fread(out, 1, sizeof(out) - 1, fp);
	out[n] = '\0';
	st = pclose(fp);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("promtool check metrics failed:\n%s\n---\n%s", out,
			 text);
}

/* 2 open, 1 closed; one lapse; on mail one sent and one dead, on sms one
 * pending; a feed with quotes and a backslash in its name; three fire
 * lags and some daemon counters. */
static void
seed_metrics(struct fx *f)
{
	struct store_feed_status fs;
	char err[256] = "";
	int64_t a;

	a = seed(f, "marc", "sales", fake_now - 600 + 7200);
	seed(f, "sophie", "service", fake_now + 7200);
	assert_int_equal(store_close_promise(f->st, seed(f, "marc", "sales",
		fake_now + 60), OUTCOME_CANCELLED, "t", NULL, fake_now, err,
		sizeof(err)), 0);
	seed_outbox(f, a);
	outbox_results(f);
	memset(&fs, 0, sizeof(fs));
	fs.name = (char *)"work\"shop\\cal";
	fs.url = (char *)"https://cal.example.com/w.ics";
	fs.last_ok_at = fake_now - 300;
	fs.last_try_at = fake_now - 300;
	assert_int_equal(store_feed_status_set(f->st, &fs, err, sizeof(err)), 0);
	api_metrics_observe_lag(f->m, 0.05);
	api_metrics_observe_lag(f->m, 0.7);
	api_metrics_observe_lag(f->m, 400);
	api_metrics_count_notification(f->m, "mail", "sent");
	api_metrics_count_notification(f->m, "mail", "sent");
	api_metrics_count_feed(f->m, "work\"shop\\cal", "ok");
}

static void
test_metrics(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char line[160];

	seed_metrics(f);
	fake_now += 90;

	req(f, "GET", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: text/plain; "
			       "version=0.0.4"));
	assert_true(has_line(r.body, "# TYPE promised_promises gauge"));
	assert_true(has_line(r.body, "promised_promises{state=\"open\"} 2"));
	assert_true(has_line(r.body, "promised_promises{state=\"acked\"} 0"));
	assert_true(has_line(r.body, "promised_promises{state=\"closed\"} 1"));
	assert_true(has_line(r.body, "# TYPE promised_promises_lapsed_total "
			     "counter"));
	assert_true(has_line(r.body, "promised_promises_lapsed_total 1"));
	assert_true(has_line(r.body, "promised_notifications_total{channel="
			     "\"mail\",result=\"sent\"} 1"));
	assert_true(has_line(r.body, "promised_notifications_total{channel="
			     "\"mail\",result=\"dead\"} 1"));
	assert_true(has_line(r.body, "promised_notifications_total{channel="
			     "\"sms\",result=\"sent\"} 0"));
	assert_true(has_line(r.body, "promised_outbox_depth{state=\"pending\"} 1"));
	assert_true(has_line(r.body, "promised_outbox_depth{state=\"retry\"} 0"));
	assert_true(has_line(r.body, "promised_outbox_depth{state=\"sending\"} 0"));
	/* Queued at the old now, read 90 s later. */
	assert_true(has_line(r.body, "promised_outbox_oldest_pending_age_seconds"
			     " 90"));
	assert_true(has_line(r.body, "promised_notification_attempts_total{"
			     "channel=\"mail\",result=\"sent\"} 2"));
	assert_true(has_line(r.body, "promised_feed_fetch_total{feed="
			     "\"work\\\"shop\\\\cal\",result=\"ok\"} 1"));
	snprintf(line, sizeof(line), "promised_feed_last_success_timestamp_"
		 "seconds{feed=\"work\\\"shop\\\\cal\"} %" PRId64,
		 fake_now - 90 - 300);
	assert_true(has_line(r.body, line));
	assert_true(has_line(r.body, "# TYPE promised_fire_lag_seconds "
			     "histogram"));
	/* 0.05 <= 0.1; 0.7 <= 1; 400 only in +Inf. */
	assert_true(has_line(r.body, "promised_fire_lag_seconds_bucket"
			     "{le=\"0.1\"} 1"));
	assert_true(has_line(r.body, "promised_fire_lag_seconds_bucket"
			     "{le=\"0.5\"} 1"));
	assert_true(has_line(r.body, "promised_fire_lag_seconds_bucket"
			     "{le=\"1\"} 2"));
	assert_true(has_line(r.body, "promised_fire_lag_seconds_bucket"
			     "{le=\"300\"} 2"));
	assert_true(has_line(r.body, "promised_fire_lag_seconds_bucket"
			     "{le=\"+Inf\"} 3"));
	assert_true(has_line(r.body, "promised_fire_lag_seconds_sum 400.750000"));
	assert_true(has_line(r.body, "promised_fire_lag_seconds_count 3"));
	promtool_check(f->dir, r.body);
	reply_free(&r);
}

static void
test_metrics_empty(void **state)
{
	struct fx *f = *state;
	struct api_opts o = f->o;
	char err[256] = "";
	char *text;

	/* No daemon counters and an empty store still give every family. */
	o.metrics = NULL;
	text = api_metrics_render(&o, fake_now, err, sizeof(err));
	assert_non_null(text);
	assert_true(has_line(text, "promised_promises{state=\"open\"} 0"));
	assert_true(has_line(text, "promised_outbox_oldest_pending_age_seconds 0"));
	assert_true(has_line(text, "promised_fire_lag_seconds_count 0"));
	assert_true(has_line(text, "promised_notifications_total{channel="
			     "\"mail\",result=\"sent\"} 0"));
	promtool_check(f->dir, text);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_repeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_phrase_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_json_cut_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_by_ref_empty_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_empty, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
