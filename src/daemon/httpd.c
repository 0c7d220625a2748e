/*
 * httpd: one libmicrohttpd server with the api, action and board routes
 * on it.
 * The routes hold pointers into this struct (the action options, the
 * api handle), so a reload changes what they point to and never
 * re-registers anything.  Secrets are read from their files at start and
 * at each reload, and wiped when they are replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "promised/action.h"
#include "promised/board.h"
#include "promised/http.h"
#include "promised/log.h"
#include "promised/secret.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

/* What the config's secret files hold. */
struct secrets {
	struct action_key *keys;
	char **key_secret;
	size_t nkeys;
	char *intake;          /* NULL: no intake token configured */
	char *sms;             /* NULL: no SMS section */
	char *board_token;     /* NULL: none */
	char *board_password;  /* Basic auth of the board; NULL: none */
};

struct httpd {
	struct http_server *srv;
	struct api *api;
	struct board *board;
	struct api_metrics *metrics;
	struct store *st;
	const struct config *cfg;
	struct action_opts ao;         /* registered: its address is fixed */
	struct secrets sec;
	struct message_links links;
	char *listen;                  /* what was bound at start */
	httpd_health_fn health;
	void *health_ctx;
};

const struct cfg_http *
httpd_section(const struct config *cfg)
{
	return cfg != NULL && cfg->http.enabled ? &cfg->http : NULL;
}

static void
secrets_clear(struct secrets *s)
{
	size_t i;

	for (i = 0; i < s->nkeys; i++)
		secret_free(s->key_secret[i]);
	free(s->key_secret);
	free(s->keys);
	secret_free(s->intake);
	secret_free(s->sms);
	secret_free(s->board_token);
	secret_free(s->board_password);
	memset(s, 0, sizeof(*s));
}

/* Reads one secret file; 0 or -1 with err naming the file. */
static int
read_one(const char *what, const char *path, char **out, char *err,
	 size_t errlen)
{
	char e[512];

	if (secret_read(path, out, e, sizeof(e)) == 0)
		return 0;
	util_seterr(err, errlen, "http: %s: %s", what, e);
	return -1;
}

/* Reads every secret the http section names into *s. */
static int
secrets_load(struct secrets *s, const struct cfg_http *hc, char *err,
	     size_t errlen)
{
	size_t i;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->keys = xcalloc(hc->nkeys ? hc->nkeys : 1, sizeof(*s->keys));
	s->key_secret = xcalloc(hc->nkeys ? hc->nkeys : 1,
				sizeof(*s->key_secret));
	for (i = 0; i < hc->nkeys; i++) {
		if (read_one("signing key", hc->keys[i].secret_file,
			     &s->key_secret[i], err, errlen) != 0)
			goto out;
		s->nkeys = i + 1;
		s->keys[i].kid = hc->keys[i].kid;
		s->keys[i].secret = (const unsigned char *)s->key_secret[i];
		s->keys[i].secret_len = strlen(s->key_secret[i]);
	}
	if (hc->intake_token_file != NULL &&
	    read_one("intake token", hc->intake_token_file, &s->intake, err,
		     errlen) != 0)
		goto out;
	if (hc->sms.enabled && hc->sms.secret_file != NULL &&
	    read_one("sms secret", hc->sms.secret_file, &s->sms, err,
		     errlen) != 0)
		goto out;
	if (hc->board_token_file != NULL &&
	    read_one("board token", hc->board_token_file, &s->board_token, err,
		     errlen) != 0)
		goto out;
	if (hc->board_basic_password_file != NULL &&
	    read_one("board password", hc->board_basic_password_file,
		     &s->board_password, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		secrets_clear(s);
	return rc;
}

/* The api's view of the daemon: store, config, token, health, counters. */
static void
apply_api(struct httpd *h)
{
	struct api_opts o;

	memset(&o, 0, sizeof(o));
	o.st = h->st;
	o.cfg = h->cfg;
	o.intake_token = h->sec.intake;
	o.health_fn = h->health;
	o.health_ctx = h->health_ctx;
	o.metrics = h->metrics;
	if (h->api == NULL)
		h->api = api_register(h->srv, &o);
	else
		api_set_opts(h->api, &o);
}

/* The board's options: registered at start, replaced at each reload.
 * Without an http section (removed by a reload) it refuses everyone. */
static int
apply_board(struct httpd *h, const struct cfg_http *hc, char *err,
	    size_t errlen)
{
	struct board_opts o;

	memset(&o, 0, sizeof(o));
	o.store = h->st;
	o.config = h->cfg;
	if (hc != NULL) {
		o.token = h->sec.board_token;
		o.basic_user = hc->board_basic_user;
		o.basic_password = h->sec.board_password;
		o.public_url = hc->public_url;
	}
	if (h->board == NULL) {
		h->board = board_register(h->srv, &o, err, errlen);
		return h->board != NULL ? 0 : -1;
	}
	return board_set_opts(h->board, &o, err, errlen);
}

/* The action options from the config and the secrets just read. */
static void
apply_action(struct httpd *h, const struct cfg_http *hc)
{
	struct action_opts *o = &h->ao;

	memset(o, 0, sizeof(*o));
	o->store = h->st;
	o->cfg = h->cfg;
	o->public_url = hc->public_url;
	o->keys = h->sec.keys;
	o->nkeys = h->sec.nkeys;
	o->sms_provider = hc->sms.provider == CFG_SMS_STANDARD_WEBHOOKS
				  ? ACTION_SMS_STANDARD : ACTION_SMS_TWILIO;
	o->sms_secret = h->sec.sms;
	o->sms_url = hc->sms.url;
	o->sms_from_field = hc->sms.from_field;
	o->sms_text_field = hc->sms.text_field;
	h->links.action = o;
	h->links.expiry = hc->link_expiry;
}

/* 1 when listen names a loopback address (127.0.0.0/8, [::1],
 * localhost). */
static int
is_loopback(const char *listen)
{
	return strncmp(listen, "127.", 4) == 0 ||
	       strncmp(listen, "[::1]:", 6) == 0 ||
	       strncmp(listen, "localhost:", 10) == 0;
}

struct httpd *
httpd_new(struct store *st, const struct config *cfg, httpd_health_fn health,
	  void *health_ctx, char *err, size_t errlen)
{
	const struct cfg_http *hc = httpd_section(cfg);
	struct httpd *h = NULL;

	if (hc == NULL) {
		util_seterr(err, errlen, "the config has no http section");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->st = st;
	h->cfg = cfg;
	h->health = health;
	h->health_ctx = health_ctx;
	if (secrets_load(&h->sec, hc, err, errlen) != 0)
		goto fail;
	h->srv = http_new(hc->listen, (size_t)hc->max_body, err, errlen);
	if (h->srv == NULL)
		goto fail;
	h->listen = xstrdup(hc->listen);
	h->metrics = api_metrics_new();
	apply_action(h, hc);
	if (action_register(h->srv, &h->ao, err, errlen) != 0)
		goto fail;
	apply_api(h);
	if (apply_board(h, hc, err, errlen) != 0)
		goto fail;
	if (h->sec.board_token == NULL && h->sec.board_password == NULL)
		log_info("http: no board token or password; the board at / "
			 "refuses every request");
	if (!is_loopback(hc->listen))
		log_notice("http: listening on %s, which is reachable from "
			   "other hosts", hc->listen);
	log_info("http: listening on %s (port %d), links to %s", hc->listen,
		 http_port(h->srv), hc->public_url);
	return h;
fail:
	httpd_free(h);
	return NULL;
}

int
httpd_set_config(struct httpd *h, const struct config *cfg, char *err,
		 size_t errlen)
{
	const struct cfg_http *hc = httpd_section(cfg);
	struct secrets s;

	if (hc == NULL) {
		/* Nothing may point into the old config any more: links and
		 * replies are refused until the restart closes the port. */
		log_warn("http: the http section was removed from the config; "
			 "the listener stops at the next restart");
		secrets_clear(&h->sec);
		h->cfg = cfg;
		memset(&h->ao, 0, sizeof(h->ao));
		h->ao.store = h->st;
		h->ao.cfg = cfg;
		h->links.action = NULL;
		apply_api(h);
		if (apply_board(h, NULL, err, errlen) != 0)
			log_err("http: board: %s", err);
		return 0;
	}
	if (secrets_load(&s, hc, err, errlen) != 0)
		return -1;
	if (strcmp(hc->listen, h->listen) != 0)
		log_warn("http: listen changed to %s; it takes effect at the "
			 "next restart (still on %s)", hc->listen, h->listen);
	secrets_clear(&h->sec);
	h->sec = s;
	h->cfg = cfg;
	apply_action(h, hc);
	apply_api(h);
	if (apply_board(h, hc, err, errlen) != 0)
		log_err("http: board: %s", err);
	return 0;
}

void
httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	/* The routes point into h: the server goes first. */
	http_free(h->srv);
	board_free(h->board);
	api_free(h->api);
	api_metrics_free(h->metrics);
	secrets_clear(&h->sec);
	free(h->listen);
	free(h);
}

int
httpd_fd(const struct httpd *h)
{
	return http_fd(h->srv);
}

long
httpd_timeout_ms(const struct httpd *h)
{
	return http_timeout_ms(h->srv);
}

void
httpd_run(struct httpd *h)
{
	http_run(h->srv);
}

struct api_metrics *
httpd_metrics(struct httpd *h)
{
	return h->metrics;
}

const struct message_links *
httpd_links(const struct httpd *h)
{
	return &h->links;
}
