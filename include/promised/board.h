/*
 * board: the live board on the HTTP listener.  GET / shows every promise
 * that needs eyes now in four columns — lapsed, due in the next 2 hours,
 * due today (the local day of the team's site), acked — grouped by team,
 * with each person's keeping rate over the last 30 days; GET /promise/<id>
 * shows one promise's timeline.  Pages are server-rendered HTML5 with
 * inline CSS only, no script at all, and reload themselves with
 * <meta http-equiv="refresh">; the Content-Security-Policy forbids
 * loading anything from outside the server.
 *
 * Access: a board token (Authorization: Bearer, or ?token= once, which
 * answers with a redirect that sets an HttpOnly, SameSite=Strict cookie
 * so the refresh carries no token in the URL) or Basic auth.  Secrets are
 * compared in constant time.  With neither configured every request is
 * refused.
 */
#ifndef PROMISED_BOARD_H
#define PROMISED_BOARD_H

#include <stdint.h>

#include "promised/config.h"
#include "promised/http.h"
#include "promised/store.h"

/* The clock of the board; NULL in the options means time(NULL). */
typedef int64_t (*board_now_fn)(void *ctx);

/* Everything the board needs; strings are copied, store and config are
 * borrowed and must outlive the board (or the next board_set_opts). */
struct board_opts {
	struct store *store;
	const struct config *config;
	board_now_fn now_fn;
	void *now_ctx;
	const char *token;          /* board token; NULL or "": none */
	const char *basic_user;     /* Basic auth; NULL: none */
	const char *basic_password; /* from the credential file */
	const char *public_url;     /* "https://promised.example.com"; an
				     * https URL makes the cookie Secure;
				     * NULL: none */
	int refresh;                /* seconds between reloads; 0: 30 */
};

struct board;

/* Registers GET / and GET /promise/<id> on srv and returns the owned
 * board (board_free it after http_free).  NULL + err when o lacks the
 * store or config. */
struct board *board_register(struct http_server *srv,
			     const struct board_opts *o, char *err,
			     size_t errlen);
/* Replaces the options (after a config reload); 0, or -1 + err. */
int board_set_opts(struct board *b, const struct board_opts *o, char *err,
		   size_t errlen);
/* Releases the board; NULL is allowed. */
void board_free(struct board *b);

/* Renders the board page at now into *out (owned, *len bytes): what GET /
 * answers to an authorised request.  STORE_OK or a store_rc + err. */
int board_render(struct board *b, int64_t now, char **out, size_t *len,
		 char *err, size_t errlen);

#endif
