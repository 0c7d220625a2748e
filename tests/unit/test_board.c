/*
 * test_board: the live board on a real HTTP listener (127.0.0.1, free
 * port) over a real store, driven single-threaded with libcurl multi the
 * way the daemon's loop drives it, at an injected now.  Access (token,
 * cookie, Bearer, Basic; refusals 401/403), the column of each promise,
 * the per-team local day, HTML escaping, the keeping rates worked out by
 * hand below, the timeline page and the page's security headers.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "promised/board.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/store.h"
#include "promised/xmalloc.h"

#define H INT64_C(3600)
#define DAY (24 * H)
/* 2026-11-30T09:00:00Z, a Monday: 10:00 in Brussels (CET, +1), 04:00 in
 * New York (EST, -5).  2026-11-02T00:00Z is 1793577600; + 28 days + 9h. */
#define NOW (INT64_C(1793577600) + 28 * DAY + 9 * H)
#define TOKEN "s3cret-board-token"

/*
 * Promises (owner, team) and where they belong at NOW:
 *   lapsed   alice desk  due NOW-3h, open, renegotiated once -> lapsed
 *   soon     bob   desk  due NOW+1h                          -> 2 hours
 *   xss      bob   desk  due NOW+30m, title with <script>    -> 2 hours
 *   tonight  bob   desk  due 21:00 Brussels = NOW+11h        -> today
 *   acked    bob   desk  due NOW+1d, acked                   -> acked
 *   tomorrow bob   desk  due NOW+1d, open                    -> nowhere
 *   ny       dave  us    due NOW+16h = 20:00 New York today
 *                        (02:00 tomorrow in Brussels)        -> today
 * Keeping rate over [NOW-30d, NOW) by owner, by hand:
 *   alice: 3 kept (made NOW-10d, closed before due), 1 late, plus
 *          "lapsed" (open, past due) -> 3 / (3 + 1 + 1) = 60%, 3 of 5
 *   bob:   1 kept, 1 cancelled (not rated); a late one made NOW-40d is
 *          outside the period -> 1 / 1 = 100%, 1 of 1
 *   dave, carol: nothing rated -> "–"
 */

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	struct config cfg;
	struct http_server *srv;
	struct board *b;
	int64_t now;
	int64_t lapsed_id;
	char err[512];
};

struct reply {
	long status;
	char *body;
	size_t len;
	char headers[4096];
	size_t hlen;
};

static struct cal_site test_sites[] = {
	{ .id = "ghent", .tz = "Europe/Brussels" },
	{ .id = "nyc", .tz = "America/New_York" },
};
static struct cfg_staff test_staff[] = {
	{ .id = "carol", .name = "Carol Lead", .team = "desk" },
	{ .id = "alice", .name = "Alice Adams", .team = "desk",
	  .manager = "carol" },
	{ .id = "bob", .name = "Bob Brown", .team = "desk",
	  .manager = "carol" },
	{ .id = "dave", .name = "Dave Diaz", .team = "us" },
};
static struct cfg_team test_teams[] = {
	{ .id = "desk", .lead = "carol", .site = "ghent" },
	{ .id = "us", .lead = "dave", .site = "nyc" },
};

static int64_t
fx_now(void *ctx)
{
	return ((struct fx *)ctx)->now;
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

static int64_t
add(struct fx *f, const char *title, const char *owner, const char *team,
    int64_t made, int64_t due)
{
	struct promise p;

	memset(&p, 0, sizeof(p));
	p.title = (char *)title;
	p.customer_name = (char *)"Jan Peeters";
	p.owner = (char *)owner;
	p.team = (char *)team;
	p.site = (char *)(strcmp(team, "us") == 0 ? "nyc" : "ghent");
	p.due_at = due;
	assert_int_equal(store_add(f->st, &p, "reception", made, f->err,
				   sizeof(f->err)), STORE_OK);
	return p.id;
}

static void
close_at(struct fx *f, int64_t id, enum promise_outcome o, int64_t at)
{
	assert_int_equal(store_close_promise(f->st, id, o, "alice", NULL, at,
					     f->err, sizeof(f->err)), STORE_OK);
}

static void
seed(struct fx *f)
{
	int64_t id;

	f->lapsed_id = add(f, "Lapsed quote", "alice", "desk", NOW - 2 * DAY,
			   NOW - 5 * H);
	assert_int_equal(store_renegotiate(f->st, f->lapsed_id, NOW - 3 * H,
					   "customer asked for Monday",
					   "alice", NOW - DAY, f->err,
					   sizeof(f->err)), STORE_OK);
	add(f, "Soon call", "bob", "desk", NOW - DAY, NOW + H);
	add(f, "<script>alert(1)</script> & co", "bob", "desk", NOW - DAY,
	    NOW + H / 2);
	add(f, "Tonight parts", "bob", "desk", NOW - DAY, NOW + 11 * H);
	id = add(f, "Acked tyres", "bob", "desk", NOW - DAY, NOW + DAY);
	assert_int_equal(store_ack(f->st, id, "bob", NOW - H, f->err,
				   sizeof(f->err)), STORE_OK);
	add(f, "Tomorrow brakes", "bob", "desk", NOW - DAY, NOW + DAY);
	add(f, "New York callback", "dave", "us", NOW - DAY, NOW + 16 * H);
	/* History for the keeping rates. */
	for (int i = 0; i < 3; i++) {
		id = add(f, "Kept on time", "alice", "desk", NOW - 10 * DAY,
			 NOW - 9 * DAY);
		close_at(f, id, OUTCOME_KEPT, NOW - 9 * DAY - H);
	}
	id = add(f, "Kept late", "alice", "desk", NOW - 10 * DAY, NOW - 9 * DAY);
	close_at(f, id, OUTCOME_KEPT, NOW - 8 * DAY);
	id = add(f, "Bob kept", "bob", "desk", NOW - 5 * DAY, NOW - 4 * DAY);
	close_at(f, id, OUTCOME_KEPT, NOW - 5 * DAY);
	id = add(f, "Bob cancelled", "bob", "desk", NOW - 5 * DAY, NOW - 4 * DAY);
	close_at(f, id, OUTCOME_CANCELLED, NOW - 5 * DAY);
	id = add(f, "Bob old late", "bob", "desk", NOW - 40 * DAY,
		 NOW - 39 * DAY);
	close_at(f, id, OUTCOME_KEPT, NOW - 38 * DAY);
}

static void
fx_opts(struct fx *f, struct board_opts *o, const char *user)
{
	memset(o, 0, sizeof(*o));
	o->store = f->st;
	o->config = &f->cfg;
	o->now_fn = fx_now;
	o->now_ctx = f;
	o->token = TOKEN;
	o->basic_user = user;
	o->basic_password = user != NULL ? "wall-pass" : NULL;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct board_opts o;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_board.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/p.db", f->dir);
	f->st = store_open(f->path, NULL, f->err, sizeof(f->err));
	assert_non_null(f->st);
	f->cfg.sites = test_sites;
	f->cfg.nsites = 2;
	f->cfg.staff = test_staff;
	f->cfg.nstaff = 4;
	f->cfg.teams = test_teams;
	f->cfg.nteams = 2;
	f->cfg.default_site = (char *)"ghent";
	f->now = NOW;
	seed(f);
	f->srv = http_new("127.0.0.1:0", 4096, f->err, sizeof(f->err));
	assert_non_null(f->srv);
	fx_opts(f, &o, NULL);
	f->b = board_register(f->srv, &o, f->err, sizeof(f->err));
	assert_non_null(f->b);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	http_free(f->srv);
	board_free(f->b);
	store_close(f->st);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- The client --------------------------------------------------------- */

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

/* GET path with up to two extra header lines (NULL for none). */
static void
get(struct fx *f, const char *path, const char *h1, const char *h2,
    struct reply *r)
{
	CURLM *m = curl_multi_init();
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	struct curl_waitfd wfd = { .fd = http_fd(f->srv),
				   .events = CURL_WAIT_POLLIN };
	char url[512];
	int running = 1, rounds = 0;
	long t;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port(f->srv),
		 path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	if (h1)
		h = curl_slist_append(h, h1);
	if (h2)
		h = curl_slist_append(h, h2);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_multi_add_handle(m, e);
	while (running && rounds++ < 4000) {
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
}

/* The value of response header name (copied into buf), or NULL. */
static const char *
header(const struct reply *r, const char *name, char *buf, size_t buflen)
{
	const char *p = r->headers;
	size_t n = strlen(name), len;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			len = strcspn(p, "\r\n");
			if (len >= buflen)
				len = buflen - 1;
			memcpy(buf, p, len);
			buf[len] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* The text of the board's column section of class cls (owned). */
static char *
column(const char *page, const char *cls)
{
	char open[64];
	const char *a, *e;

	snprintf(open, sizeof(open), "<section class=\"col %s\">", cls);
	a = strstr(page, open);
	assert_non_null(a);
	e = strstr(a, "</section>");
	assert_non_null(e);
	return xstrndup(a, (size_t)(e - a));
}

/* ---- Tests ---------------------------------------------------------------- */

static void
test_refused_without_token(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char buf[256];

	get(f, "/", NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_null(strstr(r.body, "Lapsed quote"));
	assert_null(header(&r, "WWW-Authenticate", buf, sizeof(buf)));
	free(r.body);
	get(f, "/?token=wrong", NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_null(header(&r, "Set-Cookie", buf, sizeof(buf)));
	free(r.body);
	get(f, "/", "Authorization: Bearer wrong", NULL, &r);
	assert_int_equal(r.status, 403);
	free(r.body);
	get(f, "/", "Cookie: promised_board=" TOKEN, NULL, &r);
	assert_int_equal(r.status, 403);   /* the cookie is not the token */
	free(r.body);
	get(f, "/promise/1", NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_null(strstr(r.body, "Lapsed quote"));
	free(r.body);
}

static void
test_token_then_cookie(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char buf[512], cookie[600], *semi;

	/* A path that decodes to a CR/LF still gets a Location: the board. */
	get(f, "/promise/1%0d%0aX-Evil:%20y?token=" TOKEN, NULL, NULL, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(header(&r, "Location", buf, sizeof(buf)), "/");
	assert_null(header(&r, "X-Evil", buf, sizeof(buf)));
	free(r.body);
	get(f, "/promise/1?token=" TOKEN, NULL, NULL, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(header(&r, "Location", buf, sizeof(buf)),
			    "/promise/1");
	free(r.body);
	get(f, "/?token=" TOKEN, NULL, NULL, &r);
	assert_int_equal(r.status, 303);
	assert_string_equal(header(&r, "Location", buf, sizeof(buf)), "/");
	assert_non_null(header(&r, "Set-Cookie", buf, sizeof(buf)));
	assert_non_null(strstr(buf, "HttpOnly"));
	assert_non_null(strstr(buf, "SameSite=Strict"));
	assert_non_null(strstr(buf, "Path=/"));
	assert_null(strstr(buf, TOKEN));   /* never the token itself */
	free(r.body);
	semi = strchr(buf, ';');
	assert_non_null(semi);
	*semi = '\0';
	snprintf(cookie, sizeof(cookie), "Cookie: other=1; %s", buf);
	get(f, "/", cookie, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "Lapsed quote"));
	free(r.body);
	get(f, "/", "Authorization: Bearer " TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	free(r.body);
	/* A new token makes the old cookie worthless. */
	{
		struct board_opts o;

		fx_opts(f, &o, NULL);
		o.token = "another-token";
		assert_int_equal(board_set_opts(f->b, &o, f->err,
						sizeof(f->err)), 0);
	}
	get(f, "/", cookie, NULL, &r);
	assert_int_equal(r.status, 403);
	free(r.body);
}

static void
test_basic_auth(void **state)
{
	struct fx *f = *state;
	struct board_opts o;
	struct reply r;
	char buf[256];

	fx_opts(f, &o, "wall");
	assert_int_equal(board_set_opts(f->b, &o, f->err, sizeof(f->err)), 0);
	get(f, "/", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(header(&r, "WWW-Authenticate", buf, sizeof(buf)));
	assert_non_null(strstr(buf, "Basic realm=\"promised\""));
	free(r.body);
	/* wall:wrong */
	get(f, "/", "Authorization: Basic d2FsbDp3cm9uZw==", NULL, &r);
	assert_int_equal(r.status, 401);
	free(r.body);
	/* wall:wall-pass\0x: the password is not cut at a NUL byte */
	get(f, "/", "Authorization: Basic d2FsbDp3YWxsLXBhc3MAeA==", NULL, &r);
	assert_int_equal(r.status, 401);
	free(r.body);
	/* wall:wall-pass */
	get(f, "/", "Authorization: Basic d2FsbDp3YWxsLXBhc3M=", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "Lapsed quote"));
	free(r.body);
}

static void
test_columns(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char *c;
	char buf[256];

	get(f, "/", "Authorization: Bearer " TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Security-Policy", buf,
				   sizeof(buf)), "default-src 'none'; "
			    "style-src 'unsafe-inline'; img-src 'self' data:");
	assert_non_null(strstr(r.body, "<meta http-equiv=\"refresh\" "
			       "content=\"30\">"));
	assert_null(strstr(r.body, "<script"));
	assert_null(strstr(r.body, "src=\"http"));
	/* The clock of a wall screen says which zone it speaks. */
	assert_non_null(strstr(r.body, "(Europe/Brussels)</p>"));
	assert_null(strstr(r.body, "open promises due first are shown"));

	c = column(r.body, "lapsed");
	assert_non_null(strstr(c, "Lapsed quote"));
	assert_non_null(strstr(c, "Alice Adams"));
	assert_non_null(strstr(c, "Jan Peeters"));
	/* Due NOW-3h = 06:00Z = 07:00 Brussels, today. */
	assert_non_null(strstr(c, "today 07:00"));
	assert_non_null(strstr(c, "3h ago"));
	assert_non_null(strstr(c, "/promise/"));
	assert_null(strstr(c, "Soon call"));
	free(c);

	c = column(r.body, "soon");
	assert_non_null(strstr(c, "Soon call"));
	assert_non_null(strstr(c, "in 1h"));
	assert_non_null(strstr(c, "&lt;script&gt;alert(1)&lt;/script&gt; "
			       "&amp; co"));
	assert_null(strstr(c, "Tonight parts"));
	assert_null(strstr(c, "Acked tyres"));
	free(c);

	c = column(r.body, "today");
	assert_non_null(strstr(c, "Tonight parts"));
	assert_non_null(strstr(c, "today 21:00"));
	/* New York's day, not Brussels': 20:00 local. */
	assert_non_null(strstr(c, "New York callback"));
	assert_non_null(strstr(c, "today 20:00 nyc"));
	assert_non_null(strstr(c, "<h3>us</h3>"));
	assert_non_null(strstr(c, "<h3>desk</h3>"));
	assert_null(strstr(c, "Soon call"));
	free(c);

	c = column(r.body, "acked");
	assert_non_null(strstr(c, "Acked tyres"));
	assert_null(strstr(c, "Tomorrow brakes"));
	free(c);

	assert_null(strstr(r.body, "Tomorrow brakes"));
	assert_null(strstr(r.body, "Kept on time"));
	assert_null(strstr(r.body, "<script>"));
	free(r.body);
}

/* The rate list item of a person (owned). */
static char *
rate_of(const char *page, const char *name)
{
	const char *a = strstr(page, name), *e;

	assert_non_null(a);
	a = strstr(page, "class=\"rates\"");
	assert_non_null(a);
	a = strstr(a, name);
	assert_non_null(a);
	e = strstr(a, "</li>");
	assert_non_null(e);
	return xstrndup(a, (size_t)(e - a));
}

static void
test_keeping_rates(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char *s;

	get(f, "/", "Authorization: Bearer " TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	s = rate_of(r.body, "Alice Adams");
	assert_non_null(strstr(s, "<b>60%</b>"));
	assert_non_null(strstr(s, "3 of 5 kept"));
	free(s);
	s = rate_of(r.body, "Bob Brown");
	assert_non_null(strstr(s, "<b>100%</b>"));
	assert_non_null(strstr(s, "1 of 1 kept"));
	free(s);
	s = rate_of(r.body, "Dave Diaz");
	assert_non_null(strstr(s, "<b>–</b>"));
	free(s);
	s = rate_of(r.body, "Carol Lead");
	assert_non_null(strstr(s, "<b>–</b>"));
	free(s);
	free(r.body);
}

static void
test_timeline(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char path[64];

	snprintf(path, sizeof(path), "/promise/%lld", (long long)f->lapsed_id);
	get(f, path, "Authorization: Bearer " TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<h1>Lapsed quote</h1>"));
	assert_non_null(strstr(r.body, "<td class=\"k\">created</td>"));
	assert_non_null(strstr(r.body, "<td class=\"k\">renegotiated</td>"));
	assert_non_null(strstr(r.body, "customer asked for Monday"));
	/* Created NOW-2d = 2026-11-28 09:00Z = 10:00 Brussels. */
	assert_non_null(strstr(r.body, "2026-11-28 10:00"));
	assert_non_null(strstr(r.body, "href=\"/\""));
	free(r.body);
	get(f, "/promise/999999", "Authorization: Bearer " TOKEN, NULL, &r);
	assert_int_equal(r.status, 404);
	free(r.body);
	get(f, "/promise/abc", "Authorization: Bearer " TOKEN, NULL, &r);
	assert_int_equal(r.status, 404);
	free(r.body);
}

static void
test_time_moves(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char *c;

	/* Two hours later "Soon call" (due NOW+1h) has lapsed. */
	f->now = NOW + 2 * H;
	get(f, "/", "Authorization: Bearer " TOKEN, NULL, &r);
	c = column(r.body, "lapsed");
	assert_non_null(strstr(c, "Soon call"));
	assert_non_null(strstr(c, "1h ago"));
	free(c);
	free(r.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refused_without_token,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_then_cookie, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_basic_auth, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keeping_rates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_moves, setup,
						teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
