/*
 * board_server: a stand-in for the daemon's HTTP listener in the browser
 * test of the live board.  It opens a store and a config, optionally
 * seeds promises around now that fill every column (--seed), registers
 * the board with a token on 127.0.0.1 (free port), prints "PORT <n>" and
 * serves until SIGTERM/SIGINT.  With --broken it also serves
 * /selftest-broken, a page whose script logs a console error and whose
 * image cannot load, so the test can prove it notices both.
 *
 *   board_server CONFIG DB TOKEN [--seed] [--broken]
 *
 * Built by tests/e2e/board_browser.sh against libpromised_core.a.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promised/board.h"
#include "promised/config.h"
#include "promised/http.h"
#include "promised/promise.h"
#include "promised/store.h"

#define H 3600

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct seed {
	const char *title, *customer, *owner, *team;
	int64_t made, due;      /* relative to now */
	int close;              /* 1 kept at due - 1h, 2 late at due + 2h */
	int ack;
};

static const struct seed seeds[] = {
	{ "Call back about the winter tyres quote", "Mevr. Janssens",
	  "alice", "desk", -48 * H, -3 * H, 0, 0 },
	{ "Send the invoice copy", "Garage De Smet", "bob", "desk",
	  -30 * H, -26 * H, 0, 1 },
	{ "Confirm the brake pads are in", "Dhr. Peeters", "bob", "desk",
	  -5 * H, H, 0, 0 },
	{ "<script>alert('x')</script> escaped title", "Test & Co",
	  "alice", "desk", -4 * H, H / 2, 0, 0 },
	{ "Quote for the 4 summer tyres and alignment on the family car",
	  "Familie Van den Broeck-Vermeulen", "alice", "desk", -2 * H, 5 * H,
	  0, 0 },
	{ "Ring back about the loan car", "Ms. O'Brien", "dave", "us",
	  -8 * H, 3 * H / 2, 0, 0 },
	{ "Email the service report", "ACME Fleet", "dave", "us", -8 * H,
	  26 * H, 0, 1 },
	{ "Order the roof rack", "Mr. Smith", "alice", "desk", -10 * H,
	  50 * H, 0, 1 },
	{ "Kept one", "A", "alice", "desk", -200 * H, -190 * H, 1, 0 },
	{ "Kept two", "B", "bob", "desk", -200 * H, -150 * H, 1, 0 },
	{ "Late one", "C", "bob", "desk", -200 * H, -170 * H, 2, 0 },
	{ "Kept three", "D", "dave", "us", -100 * H, -90 * H, 1, 0 },
};

static int
seed_one(struct store *st, const struct seed *s, int64_t now, char *err,
	 size_t errlen)
{
	struct promise p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.title = (char *)s->title;
	p.customer_name = (char *)s->customer;
	p.owner = (char *)s->owner;
	p.team = (char *)s->team;
	p.due_at = now + s->due;
	rc = store_add(st, &p, "test", now + s->made, err, errlen);
	if (rc == STORE_OK && s->ack)
		rc = store_ack(st, p.id, s->owner, now + s->made + 60, err,
			       errlen);
	if (rc == STORE_OK && s->close)
		rc = store_close_promise(st, p.id, OUTCOME_KEPT, s->owner, NULL,
					 now + s->due + (s->close == 1 ? -H
							 : 2 * H), err, errlen);
	return rc;
}

static int
h_broken(void *ctx, const struct http_request *req,
	 struct http_response *resp)
{
	static const char page[] = "<!DOCTYPE html><html><head>"
		"<meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
		"<title>broken</title></head><body><p>broken on purpose</p>"
		"<script>console.error('deliberate console error')</script>"
		"<img src=\"http://127.0.0.1:1/outside.png\" alt=\"\">"
		"</body></html>";

	(void)ctx;
	(void)req;
	http_resp_set(resp, 200, "text/html; charset=utf-8", page,
		      sizeof(page) - 1);
	return 0;
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
	struct board *b = NULL;
	struct board_opts o;
	char err[512] = "";
	int64_t now = (int64_t)time(NULL);
	int i, rc = 1, do_seed = 0, broken = 0;
	size_t k;

	for (i = 4; i < argc; i++) {
		do_seed |= strcmp(argv[i], "--seed") == 0;
		broken |= strcmp(argv[i], "--broken") == 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: board_server CONFIG DB TOKEN [--seed] "
			"[--broken]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	cfg = config_load(argv[1], &errs);
	st = cfg != NULL ? store_open(argv[2], NULL, err, sizeof(err)) : NULL;
	if (st == NULL) {
		fprintf(stderr, "board_server: %s\n",
			cfg == NULL && errs.n > 0 ? errs.msg[0] : err);
		goto out;
	}
	for (k = 0; do_seed && k < sizeof(seeds) / sizeof(seeds[0]); k++)
		if (seed_one(st, &seeds[k], now, err, sizeof(err)) != STORE_OK)
			goto out;
	srv = http_new("127.0.0.1:0", 65536, err, sizeof(err));
	if (srv == NULL)
		goto out;
	memset(&o, 0, sizeof(o));
	o.store = st;
	o.config = cfg;
	o.token = argv[3];
	b = board_register(srv, &o, err, sizeof(err));
	if (b == NULL || (broken && http_route(srv, "GET", "/selftest-broken",
					       h_broken, NULL) != 0))
		goto out;
	printf("PORT %d\n", http_port(srv));
	fflush(stdout);
	serve(srv);
	rc = 0;
out:
	if (rc != 0 && err[0] != '\0')
		fprintf(stderr, "board_server: %s\n", err);
	http_free(srv);
	board_free(b);
	store_close(st);
	config_free(cfg);
	config_errors_clear(&errs);
	return rc;
}
