/*
 * board: the live board (GET /) and a promise's timeline (GET
 * /promise/<id>), server-rendered for a phone and for a wall screen.
 * No script at all: the page reloads itself with a meta refresh, so a
 * screen left on for weeks has nothing to leak or crash.  Everything the
 * page needs is inline; the Content-Security-Policy says so to the
 * browser.  Access is checked on every request (token, cookie or Basic).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "promised/board.h"
#include "promised/calendar.h"
#include "promised/report.h"
#include "promised/sbuf.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define BOARD_COOKIE "promised_board"
#define BOARD_SOON (INT64_C(2) * 3600)
#define BOARD_RATE_PERIOD (INT64_C(30) * 86400)
#define BOARD_LIST_LIMIT 5000
#define STR_(x) #x
#define STR(x) STR_(x)
#define BOARD_CSP "default-src 'none'; style-src 'unsafe-inline'; " \
	"img-src 'self' data:"
#define HTML_TYPE "text/html; charset=utf-8"

struct board {
	struct store *st;
	const struct config *cfg;
	board_now_fn now_fn;
	void *now_ctx;
	char *token;
	char *cookie;        /* hex HMAC of the token: what the cookie holds */
	char *basic_user;
	char *basic_password;
	int secure_cookie;
	int refresh;
};

/* ---- Access ---------------------------------------------------------- */

/* Constant-time equality that does not leak the length either: both
 * sides are hashed first. */
static int
ct_equal(const char *a, size_t alen, const char *b)
{
	unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

	if (a == NULL || b == NULL)
		return 0;
	SHA256((const unsigned char *)a, alen, ha);
	SHA256((const unsigned char *)b, strlen(b), hb);
	return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

/* The cookie proves the token was shown without being the token. */
static char *
cookie_new(const char *token)
{
	static const char label[] = "promised board cookie v1";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, i;
	char *hex;

	HMAC(EVP_sha256(), token, (int)strlen(token),
	     (const unsigned char *)label, sizeof(label) - 1, mac, &maclen);
	hex = xmalloc((size_t)maclen * 2 + 1);
	for (i = 0; i < maclen; i++)
		(void)snprintf(hex + (size_t)i * 2, 3, "%02x", mac[i]);
	hex[(size_t)maclen * 2] = '\0';
	return hex;
}

/* The value of cookie `name` in a Cookie header, as pointer + length. */
static const char *
cookie_find(const char *hdr, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = hdr;

	while (p != NULL && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			*len = strcspn(p, ";");
			return p;
		}
		p = strchr(p, ';');
	}
	return NULL;
}

static int
basic_ok(const struct board *b, const char *auth)
{
	unsigned char dec[512];
	const char *in = auth + 6;
	size_t inlen, pad = 0, ulen, dlen;
	int n, ok = 0;
	char *colon;

	while (*in == ' ')
		in++;
	inlen = strlen(in);
	if (inlen == 0 || inlen % 4 != 0 || inlen / 4 * 3 >= sizeof(dec))
		return 0;
	n = EVP_DecodeBlock(dec, (const unsigned char *)in, (int)inlen);
	if (n < 0)
		return 0;
	pad = (in[inlen - 1] == '=') + (inlen > 1 && in[inlen - 2] == '=');
	dlen = (size_t)n - pad;
	dec[dlen] = '\0';
	/* Lengths from the decoded size, not strlen: "pw\0junk" must not
	 * pass for "pw". */
	colon = memchr(dec, ':', dlen);
	if (colon != NULL) {
		ulen = (size_t)(colon - (char *)dec);
		/* Both compared, always, so timing tells nothing. */
		ok = ct_equal((char *)dec, ulen, b->basic_user);
		ok &= ct_equal(colon + 1, dlen - ulen - 1, b->basic_password);
	}
	OPENSSL_cleanse(dec, sizeof(dec));
	return ok;
}

enum access { ACCESS_NO = 0, ACCESS_OK, ACCESS_SET_COOKIE };

static enum access
access_check(const struct board *b, const struct http_request *req)
{
	const char *auth = http_req_header(req, "Authorization");
	const char *ck = http_req_header(req, "Cookie");
	const char *q = http_req_arg(req, "token");
	const char *v;
	size_t vlen = 0;

	if (b->token != NULL) {
		if (auth != NULL && util_startswith_ci(auth, "Bearer ")) {
			v = auth + 7;
			if (ct_equal(v, strlen(v), b->token))
				return ACCESS_OK;
		}
		v = ck != NULL ? cookie_find(ck, BOARD_COOKIE, &vlen) : NULL;
		if (v != NULL && ct_equal(v, vlen, b->cookie))
			return ACCESS_OK;
		if (q != NULL && ct_equal(q, strlen(q), b->token))
			return ACCESS_SET_COOKIE;
	}
	if (b->basic_user != NULL && auth != NULL &&
	    util_startswith_ci(auth, "Basic ") && basic_ok(b, auth))
		return ACCESS_OK;
	return ACCESS_NO;
}

static void
page_headers(const struct board *b, struct http_response *resp)
{
	(void)b;
	http_resp_header(resp, "Content-Security-Policy", BOARD_CSP);
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
	http_resp_header(resp, "X-Frame-Options", "DENY");
}

/* Where ?token= redirects to: the same path without the query.  The
 * path arrives percent-decoded, so one with anything but plain URL
 * characters (a CR/LF would void the Location header) goes to the board
 * itself instead. */
static const char *
redirect_target(const struct http_request *req)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-._~";
	const char *path = http_req_path(req);

	if (path[0] != '/' || path[1] == '/' || path[strspn(path, ok)] != '\0')
		return "/";
	return path;
}

/* Fills resp with the refusal; 1 when the request may go on. */
static int
access_gate(const struct board *b, const struct http_request *req,
	    struct http_response *resp)
{
	static const char refused[] = "<!DOCTYPE html><html lang=\"en\"><head>"
		"<meta charset=\"utf-8\"><title>promised</title>"
		"<link rel=\"icon\" href=\"data:,\"></head><body>"
		"<h1>Not allowed</h1><p>Open the board with its link "
		"(it carries the board token).</p></body></html>\n";
	char *cookie;

	switch (access_check(b, req)) {
	case ACCESS_OK:
		return 1;
	case ACCESS_SET_COOKIE:
		/* Trade the token in the URL for a cookie at once, so it
		 * leaves the address bar, the history and the refresh. */
		cookie = xasprintf(BOARD_COOKIE "=%s; Path=/; HttpOnly; "
				   "SameSite=Strict; Max-Age=31536000%s",
				   b->cookie, b->secure_cookie ? "; Secure" : "");
		http_resp_set(resp, 303, "text/plain; charset=utf-8",
			      "See the board.\n", 15);
		http_resp_header(resp, "Set-Cookie", cookie);
		http_resp_header(resp, "Location", redirect_target(req));
		http_resp_header(resp, "Referrer-Policy", "no-referrer");
		free(cookie);
		return 0;
	case ACCESS_NO:
		break;
	}
	http_resp_set(resp, b->basic_user != NULL ? 401 : 403, HTML_TYPE,
		      refused, sizeof(refused) - 1);
	if (b->basic_user != NULL)
		http_resp_header(resp, "WWW-Authenticate",
				 "Basic realm=\"promised\", charset=\"UTF-8\"");
	page_headers(b, resp);
	return 0;
}

/* ---- Page frame ------------------------------------------------------ */

static const char board_css[] =
	":root{--bg:#eef0f4;--fg:#15181e;--card:#fff;--item:#f7f8fa;"
	"--mute:#586070;--line:#d8dce4;--lapsed:#c92a2a;--soon:#d9480f;"
	"--today:#1864ab;--acked:#2b8a3e;color-scheme:light dark}"
	"@media (prefers-color-scheme:dark){:root{--bg:#0d0f13;--fg:#e9ecf1;"
	"--card:#171a21;--item:#1f232c;--mute:#9aa3b3;--line:#2b303b;"
	"--lapsed:#ff6b6b;--soon:#ffa94d;--today:#74c0fc;--acked:#69db7c}}"
	"*{box-sizing:border-box}html{font-size:16px}"
	"body{margin:0;padding:1rem;background:var(--bg);color:var(--fg);"
	"font:1rem/1.4 system-ui,-apple-system,'Segoe UI',Roboto,"
	"'Helvetica Neue',Arial,sans-serif}"
	"header{display:flex;flex-wrap:wrap;align-items:baseline;"
	"justify-content:space-between;gap:.25rem 1rem;margin:0 0 1rem}"
	"h1{font-size:1.5rem;margin:0}.now{margin:0;color:var(--mute)}"
	".cols{display:grid;grid-template-columns:1fr;gap:1rem}"
	".col{background:var(--card);border-radius:.6rem;padding:.75rem;"
	"border-top:.4rem solid var(--c);min-width:0}"
	".col>h2{display:flex;justify-content:space-between;margin:0 0 .25rem;"
	"font-size:1.2rem;color:var(--c)}"
	".col h3,.rates h3{margin:.75rem 0 .25rem;font-size:.8rem;"
	"text-transform:uppercase;letter-spacing:.06em;color:var(--mute)}"
	".lapsed{--c:var(--lapsed)}.soon{--c:var(--soon)}"
	".today{--c:var(--today)}.acked{--c:var(--acked)}"
	"ul{list-style:none;margin:0;padding:0}"
	".card{background:var(--item);border-left:.3rem solid var(--c);"
	"border-radius:.3rem;padding:.45rem .6rem;margin:.4rem 0}"
	".card a{color:var(--fg);font-weight:600;text-decoration:none;"
	"overflow-wrap:anywhere}.card a:hover,.card a:focus{"
	"text-decoration:underline}"
	".meta,.due{display:block;color:var(--mute);font-size:.9rem;"
	"overflow-wrap:anywhere}.due b{color:var(--c);font-weight:600}"
	".empty{color:var(--mute);font-style:italic;margin:.5rem 0}"
	".rates{margin-top:1rem;background:var(--card);border-radius:.6rem;"
	"padding:.75rem}.rates h2{margin:0;font-size:1.2rem}"
	".teams{display:grid;grid-template-columns:repeat(auto-fill,"
	"minmax(15rem,1fr));gap:0 1.5rem}"
	".rate{display:flex;justify-content:space-between;gap:.5rem;"
	"padding:.2rem 0;border-bottom:1px solid var(--line)}"
	".rate small{color:var(--mute)}"
	"footer{margin-top:1rem;color:var(--mute);font-size:.85rem}"
	"a{color:var(--today)}"
	"table{border-collapse:collapse;width:100%;background:var(--card)}"
	"th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;"
	"border-bottom:1px solid var(--line);overflow-wrap:break-word}"
	"th{color:var(--mute);font-weight:600}td.w,td.k{white-space:nowrap}"
	"td.k{font-weight:600}"
	"dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;"
	"background:var(--card);padding:.75rem;border-radius:.6rem}"
	"dt{color:var(--mute)}dd{margin:0;overflow-wrap:anywhere}"
	/* A phone shows each event as a small block: when, what, detail. */
	"@media (max-width:599px){thead{display:none}"
	"table,tbody,tr,td{display:block}tr{padding:.45rem .6rem;"
	"border-bottom:1px solid var(--line)}td{border:0;padding:0}"
	"td.w{color:var(--mute);font-size:.85rem}.hide-s{display:none}}"
	"@media (min-width:700px){.cols{grid-template-columns:repeat(2,"
	"minmax(0,1fr))}}"
	"@media (min-width:1200px){.cols{grid-template-columns:repeat(4,"
	"minmax(0,1fr))}}"
	"@media (min-width:1800px){html{font-size:22px}body{padding:1.25rem}}";

static void
page_open(const struct board *b, struct sbuf *sb, const char *title)
{
	sbuf_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		  "<meta charset=\"utf-8\">"
		  "<meta name=\"viewport\" content=\"width=device-width, "
		  "initial-scale=1\">"
		  "<meta name=\"color-scheme\" content=\"light dark\">");
	sbuf_printf(sb, "<meta http-equiv=\"refresh\" content=\"%d\">",
		    b->refresh);
	/* An empty icon: the browser asks for nothing else. */
	sbuf_puts(sb, "<link rel=\"icon\" href=\"data:,\"><title>");
	sbuf_html(sb, title);
	sbuf_puts(sb, "</title><style>");
	sbuf_puts(sb, board_css);
	sbuf_puts(sb, "</style></head><body>\n");
}

static void
page_close(const struct board *b, struct sbuf *sb)
{
	sbuf_printf(sb, "<footer>Reloads every %d s.</footer>\n"
		    "</body></html>\n", b->refresh);
}

/* ---- Time helpers ---------------------------------------------------- */

static const char *
zone_of_site(const struct config *cfg, const char *site)
{
	const struct cal_site *s = site != NULL ? config_site(cfg, site) : NULL;

	if (s == NULL && cfg->default_site != NULL)
		s = config_site(cfg, cfg->default_site);
	return s != NULL && s->tz != NULL ? s->tz : "UTC";
}

/* The zone of the team's site, else the promise's site, else default. */
static const char *
zone_of(const struct config *cfg, const struct promise *p)
{
	const struct cfg_team *t = p->team ? config_team(cfg, p->team) : NULL;

	return zone_of_site(cfg, t != NULL ? t->site : p->site);
}

/* The site whose day counts for p: its team's, else its own. */
static const char *
site_of(const struct config *cfg, const struct promise *p)
{
	const struct cfg_team *t = p->team ? config_team(cfg, p->team) : NULL;

	if (t != NULL && t->site != NULL)
		return t->site;
	return p->site != NULL ? p->site : "";
}

/* The first instant of the local day after now's, in tz. */
static int64_t
end_of_day(const char *tz, int64_t now)
{
	struct cal_local l;
	int64_t out;

	if (cal_to_local(tz, now, &l) != 0 ||
	    cal_day_start(tz, l.days + 1, &out) != 0)
		return now - now % 86400 + 86400;
	return out;
}

/* "in 1h30m" / "2h ago", to the minute. */
static void
relative(int64_t t, int64_t now, char *buf, size_t buflen)
{
	int64_t d = t >= now ? t - now : now - t;
	char dur[32];

	d -= d % 60;
	if (d == 0) {
		util_strlcpy(buf, "now", buflen);
		return;
	}
	util_format_duration(d, dur, sizeof(dur));
	(void)snprintf(buf, buflen, t >= now ? "in %s" : "%s ago", dur);
}

/* "17:00" today, else "2026-11-30 17:00", in tz. */
static void
due_local(const char *tz, int64_t t, int64_t now, char *buf, size_t buflen)
{
	struct cal_local a, b;

	if (cal_to_local(tz, t, &a) == 0 && cal_to_local(tz, now, &b) == 0 &&
	    a.days == b.days) {
		(void)snprintf(buf, buflen, "today %02d:%02d", a.hour, a.min);
		return;
	}
	cal_format_local(tz, t, 0, buf, buflen);
}

static const char *
staff_name(const struct config *cfg, const char *id)
{
	const struct cfg_staff *s = id != NULL ? config_staff(cfg, id) : NULL;

	return s != NULL && s->name != NULL ? s->name : id;
}

/* ---- The board ------------------------------------------------------- */

enum column { COL_LAPSED, COL_SOON, COL_TODAY, COL_ACKED, COL_COUNT,
	      COL_NONE = COL_COUNT };

static const struct {
	const char *cls;
	const char *title;
	const char *empty;
} columns[COL_COUNT] = {
	{ "lapsed", "Lapsed", "Nothing lapsed." },
	{ "soon", "Due in 2 hours", "Nothing due in the next 2 hours." },
	{ "today", "Due today", "Nothing else due today." },
	{ "acked", "Acked", "Nothing acked." },
};

/* Lapsed first: an acked promise past due is still a broken one. */
static enum column
column_of(const struct config *cfg, const struct promise *p, int64_t now)
{
	if (p->state == PROMISE_CLOSED)
		return COL_NONE;
	if (p->due_at < now)
		return COL_LAPSED;
	if (p->state == PROMISE_ACKED)
		return COL_ACKED;
	if (p->due_at < now + BOARD_SOON)
		return COL_SOON;
	if (p->due_at < end_of_day(zone_of(cfg, p), now))
		return COL_TODAY;
	return COL_NONE;
}

/* 1 when p belongs to team group g (g == nteams: no configured team). */
static int
in_group(const struct config *cfg, const struct promise *p, size_t g)
{
	if (g < cfg->nteams)
		return p->team != NULL && strcmp(p->team, cfg->teams[g].id) == 0;
	return p->team == NULL || config_team(cfg, p->team) == NULL;
}

static void
card(const struct board *b, struct sbuf *sb, const struct promise *p,
     int64_t now)
{
	const char *tz = zone_of(b->cfg, p);
	char due[64], rel[64];

	due_local(tz, p->due_at, now, due, sizeof(due));
	relative(p->due_at, now, rel, sizeof(rel));
	/* Another site's local time says which clock it is. */
	if (strcmp(tz, zone_of_site(b->cfg, NULL)) != 0)
		/* Display only: a site name cut short still reads. */
		(void)snprintf(due + strlen(due), sizeof(due) - strlen(due),
			       " %s", site_of(b->cfg, p));
	sbuf_printf(sb, "<li class=\"card\"><a href=\"/promise/%" PRId64 "\">",
		    p->id);
	sbuf_html(sb, p->title);
	sbuf_puts(sb, "</a><span class=\"meta\">");
	if (p->customer_name != NULL && *p->customer_name) {
		sbuf_html(sb, p->customer_name);
		sbuf_puts(sb, " · ");
	}
	sbuf_html(sb, staff_name(b->cfg, p->owner));
	sbuf_puts(sb, "</span><span class=\"due\"><b>");
	sbuf_html(sb, due);
	sbuf_puts(sb, "</b> · ");
	sbuf_html(sb, rel);
	sbuf_puts(sb, "</span></li>\n");
}

static void
column_html(const struct board *b, struct sbuf *sb, enum column c,
	    const struct promise *ps, const enum column *cols, size_t n,
	    int64_t now)
{
	size_t g, i, count = 0, shown;

	for (i = 0; i < n; i++)
		count += cols[i] == c;
	sbuf_printf(sb, "<section class=\"col %s\"><h2><span>%s</span>"
		    "<span class=\"n\">%zu</span></h2>\n", columns[c].cls,
		    columns[c].title, count);
	for (g = 0; g <= b->cfg->nteams; g++) {
		shown = 0;
		for (i = 0; i < n; i++) {
			if (cols[i] != c || !in_group(b->cfg, &ps[i], g))
				continue;
			if (shown++ == 0) {
				sbuf_puts(sb, "<h3>");
				sbuf_html(sb, g < b->cfg->nteams ?
					  b->cfg->teams[g].id : "No team");
				sbuf_puts(sb, "</h3><ul>\n");
			}
			card(b, sb, &ps[i], now);
		}
		if (shown > 0)
			sbuf_puts(sb, "</ul>\n");
	}
	if (count == 0)
		sbuf_printf(sb, "<p class=\"empty\">%s</p>\n",
			    columns[c].empty);
	sbuf_puts(sb, "</section>\n");
}

static const struct report_row *
rate_row(const struct report *r, const char *owner)
{
	size_t i;

	for (i = 0; r != NULL && i < r->nrows; i++)
		if (r->rows[i].key != NULL && strcmp(r->rows[i].key, owner) == 0)
			return &r->rows[i];
	return NULL;
}

static void
rate_item(const struct board *b, struct sbuf *sb, const struct report *r,
	  const char *owner)
{
	const struct report_row *row = rate_row(r, owner);

	sbuf_puts(sb, "<li class=\"rate\"><span>");
	sbuf_html(sb, staff_name(b->cfg, owner));
	sbuf_puts(sb, "</span>");
	if (row == NULL || row->keeping_rate < 0) {
		sbuf_puts(sb, "<span><b>–</b> <small>no promises due</small>"
			  "</span></li>\n");
		return;
	}
	sbuf_printf(sb, "<span><b>%.0f%%</b> <small>%" PRId64 " of %" PRId64
		    " kept</small></span></li>\n", row->keeping_rate * 100.0,
		    row->kept, row->kept + row->late + row->lapsed);
}

/* Each person's keeping rate over [now - 30 days, now), by team. */
static int
rates_html(const struct board *b, struct sbuf *sb, int64_t now, char *err,
	   size_t errlen)
{
	const struct config *cfg = b->cfg;
	struct report_query q = { .from = now - BOARD_RATE_PERIOD, .to = now,
				  .by = REPORT_BY_OWNER };
	struct report *r = NULL;
	size_t g, i, shown;
	int rc;

	rc = report_compute(b->st, cfg, &q, now, &r, err, errlen);
	if (rc != STORE_OK)
		return rc;
	sbuf_puts(sb, "<section class=\"rates\"><h2>Keeping rate, last 30 "
		  "days</h2><div class=\"teams\">\n");
	for (g = 0; g <= cfg->nteams; g++) {
		shown = 0;
		for (i = 0; i < cfg->nstaff; i++) {
			const struct cfg_staff *s = &cfg->staff[i];
			int mine = g < cfg->nteams ?
				(s->team != NULL && strcmp(s->team,
					cfg->teams[g].id) == 0) :
				(s->team == NULL || config_team(cfg, s->team)
				 == NULL);

			if (!mine)
				continue;
			if (shown++ == 0) {
				sbuf_puts(sb, "<div class=\"team\"><h3>");
				sbuf_html(sb, g < cfg->nteams ? cfg->teams[g].id
					  : "No team");
				sbuf_puts(sb, "</h3><ul>\n");
			}
			rate_item(b, sb, r, s->id);
		}
		if (shown > 0)
			sbuf_puts(sb, "</ul></div>\n");
	}
	sbuf_puts(sb, "</div></section>\n");
	report_free(r);
	return STORE_OK;
}

int
board_render(struct board *b, int64_t now, char **out, size_t *len,
	     char *err, size_t errlen)
{
	struct store_filter f = { .open_only = 1, .now = now,
				  .limit = BOARD_LIST_LIMIT };
	struct promise *ps = NULL;
	enum column *cols = NULL;
	struct sbuf sb = { 0 };
	size_t n = 0, i;
	const char *zone;
	char when[64];
	int c, rc;

	rc = store_list(b->st, &f, &ps, &n, err, errlen);
	if (rc != STORE_OK)
		goto out;
	cols = xcalloc(n + 1, sizeof(*cols));
	for (i = 0; i < n; i++)
		cols[i] = column_of(b->cfg, &ps[i], now);
	page_open(b, &sb, "Promises — board");
	zone = zone_of_site(b->cfg, NULL);
	cal_format_local(zone, now, 0, when, sizeof(when));
	sbuf_puts(&sb, "<header><h1>Promises</h1><p class=\"now\">As of ");
	sbuf_html(&sb, when);
	sbuf_puts(&sb, " (");
	sbuf_html(&sb, zone);
	sbuf_puts(&sb, ")</p>");
	/* Ordered by due, so what is cut off is due last: say so rather
	 * than let a wall screen look complete. */
	if (n >= BOARD_LIST_LIMIT)
		sbuf_puts(&sb, "<p class=\"now\">Only the "
			  STR(BOARD_LIST_LIMIT)
			  " open promises due first are shown.</p>");
	sbuf_puts(&sb, "</header>\n<main class=\"cols\">\n");
	for (c = 0; c < COL_COUNT; c++)
		column_html(b, &sb, (enum column)c, ps, cols, n, now);
	sbuf_puts(&sb, "</main>\n");
	rc = rates_html(b, &sb, now, err, errlen);
	if (rc != STORE_OK)
		goto out;
	page_close(b, &sb);
	*len = sb.len;
	*out = sbuf_take(&sb);
out:
	sbuf_free(&sb);
	free(cols);
	promise_free_array(ps, n);
	return rc;
}

/* ---- The timeline ---------------------------------------------------- */

static void
dl_item(struct sbuf *sb, const char *term, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	sbuf_puts(sb, "<dt>");
	sbuf_html(sb, term);
	sbuf_puts(sb, "</dt><dd>");
	sbuf_html(sb, value);
	sbuf_puts(sb, "</dd>");
}

static void
promise_facts(const struct board *b, struct sbuf *sb, const struct promise *p,
	      int64_t now)
{
	const char *tz = zone_of(b->cfg, p);
	char due[128], rel[64], state[64];

	cal_format_local(tz, p->due_at, 1, due, sizeof(due));
	relative(p->due_at, now, rel, sizeof(rel));
	/* Display only, like the state below. */
	(void)snprintf(due + strlen(due), sizeof(due) - strlen(due), " (%s)",
		       rel);
	(void)snprintf(state, sizeof(state), "%s%s%s",
		       promise_state_name(p->state),
		       p->outcome != OUTCOME_NONE ? ", " : "",
		       p->outcome != OUTCOME_NONE ?
		       promise_outcome_name(p->outcome) : "");
	sbuf_puts(sb, "<dl>");
	dl_item(sb, "Due", due);
	dl_item(sb, "State", state);
	dl_item(sb, "Customer", p->customer_name);
	dl_item(sb, "Phone", p->customer_phone);
	dl_item(sb, "Owner", staff_name(b->cfg, p->owner));
	dl_item(sb, "Team", p->team);
	dl_item(sb, "Site", p->site);
	dl_item(sb, "Vehicle", p->vehicle);
	dl_item(sb, "Reference", p->ref);
	dl_item(sb, "Details", p->details);
	sbuf_puts(sb, "</dl>\n");
}

static void
events_html(struct sbuf *sb, const char *tz, const struct event *ev,
	    size_t n)
{
	char when[64];
	size_t i;

	sbuf_puts(sb, "<h2>Timeline</h2><table><thead><tr><th>When</th>"
		  "<th>What</th><th class=\"hide-s\">Who</th><th>Detail</th>"
		  "</tr></thead><tbody>\n");
	for (i = 0; i < n; i++) {
		cal_format_local(tz, ev[i].at, 0, when, sizeof(when));
		sbuf_puts(sb, "<tr><td class=\"w\">");
		sbuf_html(sb, when);
		sbuf_puts(sb, "</td><td class=\"k\">");
		sbuf_html(sb, event_kind_name(ev[i].kind));
		sbuf_puts(sb, "</td><td class=\"hide-s\">");
		sbuf_html(sb, ev[i].actor);
		sbuf_puts(sb, "</td><td>");
		sbuf_html(sb, ev[i].detail);
		sbuf_puts(sb, "</td></tr>\n");
	}
	sbuf_puts(sb, "</tbody></table>\n");
}

/* The timeline page of promise id; STORE_NOTFOUND when there is none. */
static int
timeline_render(struct board *b, int64_t id, int64_t now, struct sbuf *sb,
		char *err, size_t errlen)
{
	struct promise p;
	struct event *ev = NULL;
	size_t nev = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	rc = store_get(b->st, id, &p, err, errlen);
	if (rc == STORE_OK)
		rc = store_events(b->st, id, &ev, &nev, err, errlen);
	if (rc != STORE_OK)
		goto out;
	page_open(b, sb, p.title);
	sbuf_puts(sb, "<header><h1>");
	sbuf_html(sb, p.title);
	sbuf_puts(sb, "</h1><p class=\"now\"><a href=\"/\">← Board</a></p>"
		  "</header>\n<main>\n");
	promise_facts(b, sb, &p, now);
	events_html(sb, zone_of(b->cfg, &p), ev, nev);
	sbuf_puts(sb, "</main>\n");
	page_close(b, sb);
out:
	event_free_array(ev, nev);
	promise_clear(&p);
	return rc;
}

/* ---- Handlers -------------------------------------------------------- */

static int64_t
board_now(const struct board *b)
{
	return b->now_fn != NULL ? b->now_fn(b->now_ctx) : (int64_t)time(NULL);
}

static void
error_page(const struct board *b, struct http_response *resp, int status,
	   const char *msg)
{
	struct sbuf sb = { 0 };

	page_open(b, &sb, "promised");
	sbuf_puts(&sb, "<header><h1>");
	sbuf_html(&sb, msg);
	sbuf_puts(&sb, "</h1><p class=\"now\"><a href=\"/\">← Board</a></p>"
		  "</header>\n");
	page_close(b, &sb);
	http_resp_set(resp, status, HTML_TYPE, sb.p, sb.len);
	page_headers(b, resp);
	sbuf_free(&sb);
}

static int
h_board(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct board *b = ctx;
	char err[512], *page = NULL;
	size_t len = 0;

	if (!access_gate(b, req, resp))
		return 0;
	if (board_render(b, board_now(b), &page, &len, err, sizeof(err)) !=
	    STORE_OK) {
		error_page(b, resp, 503, "The board is not available now");
		return 0;
	}
	http_resp_set(resp, 200, HTML_TYPE, page, len);
	page_headers(b, resp);
	free(page);
	return 0;
}

static int
h_timeline(void *ctx, const struct http_request *req,
	   struct http_response *resp)
{
	struct board *b = ctx;
	const char *s = http_req_path(req) + strlen("/promise/");
	struct sbuf sb = { 0 };
	char err[512];
	int64_t id;
	int rc;

	if (!access_gate(b, req, resp))
		return 0;
	if (util_parse_int64(s, 1, INT64_MAX, &id) != 0) {
		error_page(b, resp, 404, "No such promise");
		return 0;
	}
	rc = timeline_render(b, id, board_now(b), &sb, err, sizeof(err));
	if (rc == STORE_OK) {
		http_resp_set(resp, 200, HTML_TYPE, sb.p, sb.len);
		page_headers(b, resp);
	} else {
		error_page(b, resp, rc == STORE_NOTFOUND ? 404 : 503,
			   rc == STORE_NOTFOUND ? "No such promise"
			   : "The timeline is not available now");
	}
	sbuf_free(&sb);
	return 0;
}

/* ---- Life cycle ------------------------------------------------------ */

static void
opts_clear(struct board *b)
{
	if (b->token != NULL)
		OPENSSL_cleanse(b->token, strlen(b->token));
	if (b->basic_password != NULL)
		OPENSSL_cleanse(b->basic_password, strlen(b->basic_password));
	free(b->token);
	free(b->cookie);
	free(b->basic_user);
	free(b->basic_password);
	b->token = b->cookie = b->basic_user = b->basic_password = NULL;
}

int
board_set_opts(struct board *b, const struct board_opts *o, char *err,
	       size_t errlen)
{
	if (o == NULL || o->store == NULL || o->config == NULL) {
		util_seterr(err, errlen, "board: no store or config given");
		return -1;
	}
	opts_clear(b);
	b->st = o->store;
	b->cfg = o->config;
	b->now_fn = o->now_fn;
	b->now_ctx = o->now_ctx;
	if (o->token != NULL && *o->token) {
		b->token = xstrdup(o->token);
		b->cookie = cookie_new(o->token);
	}
	if (o->basic_user != NULL && *o->basic_user) {
		b->basic_user = xstrdup(o->basic_user);
		b->basic_password = xstrdup(o->basic_password != NULL ?
					    o->basic_password : "");
	}
	b->secure_cookie = o->public_url != NULL &&
		util_startswith_ci(o->public_url, "https://");
	b->refresh = o->refresh > 0 ? o->refresh : 30;
	return 0;
}

struct board *
board_register(struct http_server *srv, const struct board_opts *o,
	       char *err, size_t errlen)
{
	struct board *b = xcalloc(1, sizeof(*b));

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (board_set_opts(b, o, err, errlen) != 0 ||
	    http_route(srv, "GET", "/", h_board, b) != 0 ||
	    http_route(srv, "GET", "/promise/*", h_timeline, b) != 0) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			util_seterr(err, errlen, "board: cannot add routes");
		board_free(b);
		return NULL;
	}
	return b;
}

void
board_free(struct board *b)
{
	if (b == NULL)
		return;
	opts_clear(b);
	free(b);
}
