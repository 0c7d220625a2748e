/*
 * action_server: a stand-in for the daemon's HTTP listener in the browser
 * test of one-click links.  It adds one promise, prints a signed link for
 * it, and serves the action pages on 127.0.0.1 until SIGTERM/SIGINT.
 *
 *   action_server CONFIG DB KEYFILE ACTION RECIPIENT
 *
 * prints "PROMISE <id>" and "LINK <url>" on stdout, then serves.
 * Built by tests/e2e/action_browser.sh against libpromised_core.a.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promised/action.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/promise.h"
#include "promised/secret.h"
#include "promised/store.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t
add_promise(struct store *st, const char *owner, int64_t now)
{
	struct promise p;
	char err[256];

	memset(&p, 0, sizeof(p));
	p.title = (char *)"Call back about the winter tyres quote";
	p.customer_name = (char *)"Mevr. Janssens";
	p.owner = (char *)owner;
	p.due_at = now + 2 * 3600;
	if (store_add(st, &p, "test", now, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "action_server: %s\n", err);
		return -1;
	}
	return p.id;
}

static void
serve(struct http_server *srv)
{
	struct pollfd pfd;
	long t;

	while (!stop) {
		pfd.fd = http_fd(srv);
		pfd.events = POLLIN;
		t = http_timeout_ms(srv);
		poll(&pfd, 1, t < 0 || t > 200 ? 200 : (int)t);
		http_run(srv);
	}
}

int
main(int argc, char **argv)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct http_server *srv = NULL;
	struct action_opts o;
	struct action_key key;
	enum action_kind kind;
	char *secret = NULL, err[512] = "", url[64], link[512];
	int64_t id, now = (int64_t)time(NULL);
	int rc = 1;

	if (argc != 6 || action_kind_parse(argv[4], &kind) != 0) {
		fprintf(stderr, "usage: action_server CONFIG DB KEYFILE "
			"ACTION RECIPIENT\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	cfg = config_load(argv[1], &errs);
	st = cfg != NULL ? store_open(argv[2], NULL, err, sizeof(err)) : NULL;
	if (st == NULL || secret_read(argv[3], &secret, err, sizeof(err)) != 0) {
		fprintf(stderr, "action_server: %s\n",
			cfg == NULL && errs.n > 0 ? errs.msg[0] : err);
		goto out;
	}
	srv = http_new("127.0.0.1:0", 65536, err, sizeof(err));
	if (srv == NULL)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_port(srv));
	key = (struct action_key){ "k1", (const unsigned char *)secret,
				   strlen(secret) };
	memset(&o, 0, sizeof(o));
	o.store = st;
	o.cfg = cfg;
	o.public_url = url;
	o.keys = &key;
	o.nkeys = 1;
	id = add_promise(st, argv[5], now);
	if (id < 0 || action_register(srv, &o, err, sizeof(err)) != 0 ||
	    action_link_new(&o, id, kind, argv[5], now + 3600, link,
			    sizeof(link), err, sizeof(err)) != 0)
		goto out;
	printf("PROMISE %lld\nLINK %s\n", (long long)id, link);
	fflush(stdout);
	serve(srv);
	rc = 0;
out:
	if (rc != 0 && err[0] != '\0')
		fprintf(stderr, "action_server: %s\n", err);
	http_free(srv);
	store_close(st);
	secret_free(secret);
	config_free(cfg);
	config_errors_clear(&errs);
	return rc;
}
