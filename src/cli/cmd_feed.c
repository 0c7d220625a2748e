/*
 * cmd_feed: calendar feeds from promisectl — `feeds` (each feed's state
 * from the feeds table), `import FILE.ics --feed NAME` (a one-off import
 * mapped and synced exactly like a fetch of that feed) and `sync NAME`
 * (asks the running daemon to fetch now; --here fetches in promisectl).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/feedpoll.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define IMPORT_MAX_BYTES ((size_t)64 * 1024 * 1024)

enum { O_JSON = 1000, O_FEED, O_HERE, O_FULL };

/* The row of feed name in rows, or NULL. */
static const struct store_feed_status *
row_of(const struct store_feed_status *rows, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

static const char *
state_of(const struct store_feed_status *r)
{
	if (r == NULL || r->last_try_at == 0)
		return "never";
	return r->failing ? "failing" : "ok";
}

static void
feed_json(const struct cli *c, const struct cfg_feed *fd,
	  const struct store_feed_status *r, int first)
{
	char when[32];

	(void)c;
	printf("%s\n  {\"name\": ", first ? "" : ",");
	cli_json_str(stdout, fd->name);
	printf(", \"url\": ");
	cli_json_str(stdout, fd->url);
	printf(", \"state\": ");
	cli_json_str(stdout, state_of(r));
	util_format_utc(r != NULL ? r->last_ok_at : 0, when, sizeof(when));
	printf(", \"last_ok_at\": ");
	cli_json_str(stdout, r != NULL && r->last_ok_at > 0 ? when : NULL);
	util_format_utc(r != NULL ? r->last_try_at : 0, when, sizeof(when));
	printf(", \"last_try_at\": ");
	cli_json_str(stdout, r != NULL && r->last_try_at > 0 ? when : NULL);
	printf(", \"last_error\": ");
	cli_json_str(stdout, r != NULL ? r->last_error : NULL);
	printf(", \"etag\": ");
	cli_json_str(stdout, r != NULL ? r->etag : NULL);
	printf(", \"items\": %" PRId64 ", \"added\": %" PRId64
	       ", \"updated\": %" PRId64 ", \"cancelled\": %" PRId64 "}",
	       r != NULL ? r->items : 0, r != NULL ? r->added : 0,
	       r != NULL ? r->updated : 0, r != NULL ? r->cancelled : 0);
}

static void
feed_line(const struct cli *c, const struct cfg_feed *fd,
	  const struct store_feed_status *r)
{
	char when[64] = "-";

	if (r != NULL && r->last_ok_at > 0)
		cli_fmt_local(cli_tz(cli_site_of(c, fd->site)), r->last_ok_at, 1,
			      when, sizeof(when));
	printf("%-16s %-8s %-28s %6" PRId64 " %6" PRId64 " %6" PRId64 " %6"
	       PRId64 "  %s\n", fd->name, state_of(r), when,
	       r != NULL ? r->items : 0, r != NULL ? r->added : 0,
	       r != NULL ? r->updated : 0, r != NULL ? r->cancelled : 0,
	       fd->url);
	if (r != NULL && r->last_error != NULL)
		printf("%-16s last error: %s\n", "", r->last_error);
}

int
cli_cmd_feeds(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct store_feed_status *rows = NULL;
	char err[512] = "";
	size_t n = 0, i;
	int opt, rc;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		if (opt != O_JSON)
			return cli_bad_option(c, opt, argv);
		c->json = 1;
	}
	if (optind < argc)
		return cli_usage_err(c, "unexpected argument '%s'", argv[optind]);
	rc = store_feed_status_list(c->st, &rows, &n, err, sizeof(err));
	if (rc != STORE_OK)
		return cli_store_fail(rc, err);
	if (c->json)
		printf("[");
	else if (c->cfg->nfeeds == 0)
		printf("no feeds in %s\n", c->cfg->path);
	else
		printf("%-16s %-8s %-28s %6s %6s %6s %6s  %s\n", "NAME", "STATE",
		       "LAST SUCCESS", "ITEMS", "ADDED", "UPD", "CANC", "URL");
	for (i = 0; i < c->cfg->nfeeds; i++) {
		const struct cfg_feed *fd = &c->cfg->feeds[i];

		if (c->json)
			feed_json(c, fd, row_of(rows, n, fd->name), i == 0);
		else
			feed_line(c, fd, row_of(rows, n, fd->name));
	}
	if (c->json)
		printf("%s]\n", c->cfg->nfeeds > 0 ? "\n" : "");
	store_feed_status_free_array(rows, n);
	return EX_OK;
}

/* What a sync or an import did, in one paragraph (or JSON). */
static void
print_report(const struct cli *c, const char *name,
	     const struct feedpoll_report *r)
{
	const struct store_feed_result *s = &r->res;

	if (c->json) {
		printf("{\"feed\": ");
		cli_json_str(stdout, name);
		printf(", \"status\": %ld", r->status);
		printf(", \"applied\": %s, \"not_modified\": %s, \"refused\": %s,"
		       " \"error\": ", !r->failed && !r->not_modified ? "true" :
		       "false", r->not_modified ? "true" : "false",
		       r->refused ? "true" : "false");
		cli_json_str(stdout, r->failed ? r->error : NULL);
		printf(", \"items\": %zu, \"skipped\": %zu, \"added\": %zu, "
		       "\"moved\": %zu, \"updated\": %zu, \"completed\": %zu, "
		       "\"cancelled\": %zu, \"removed\": %zu, \"reopened\": %zu,"
		       " \"unchanged\": %zu}\n", r->stats.items, r->stats.skipped,
		       s->added, s->moved, s->updated, s->completed, s->cancelled,
		       s->removed, s->reopened, s->unchanged);
		return;
	}
	if (r->not_modified) {
		printf("feed %s: not modified (%s)\n", name,
		       r->status == 304 ? "HTTP 304" : r->status != 0 ?
		       "the same ETag" : "file unchanged");
		return;
	}
	if (r->failed) {
		printf("feed %s: %s\n", name, r->error);
		return;
	}
	printf("feed %s: %zu items (%zu skipped, %zu filtered): %zu added, "
	       "%zu moved, %zu updated, %zu completed, %zu cancelled, %zu "
	       "removed, %zu reopened, %zu unchanged\n", name, r->stats.items,
	       r->stats.skipped, r->stats.filtered, s->added, s->moved,
	       s->updated, s->completed, s->cancelled, s->removed, s->reopened,
	       s->unchanged);
}

int
cli_cmd_import(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "feed", required_argument, NULL, O_FEED },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	const struct cfg_feed *fd;
	struct feedpoll_report rep;
	const char *feed = NULL, *file;
	char *data = NULL, actor[200];
	int opt, toolong = 0, rc;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		if (opt == O_FEED)
			feed = optarg;
		else if (opt == O_JSON)
			c->json = 1;
		else
			return cli_bad_option(c, opt, argv);
	}
	file = cli_one_operand(c, argc, argv, optind);
	if (file == NULL)
		return EX_USAGE;
	if (feed == NULL)
		return cli_usage_err(c, "--feed NAME is required");
	fd = config_feed(c->cfg, feed);
	if (fd == NULL) {
		cli_err("import: no feed '%s' in %s", feed, c->cfg->path);
		return EX_DATAERR;
	}
	if (cli_read_file("FILE", file, IMPORT_MAX_BYTES, &data, &toolong) != 0)
		return toolong ? EX_DATAERR : EX_NOINPUT;
	memset(&rep, 0, sizeof(rep));
	(void)snprintf(actor, sizeof(actor), "%s (import into feed %s)",
		       c->actor, feed);
	rc = feedpoll_apply(c->cfg, c->st, fd, data, strlen(data), c->now,
			    actor, &rep);
	free(data);
	if (rc != 0) {
		cli_err("import: %s: %s", file, rep.error);
		if (c->json)
			print_report(c, feed, &rep);
		return EX_DATAERR;
	}
	print_report(c, feed, &rep);
	return EX_OK;
}

int
cli_cmd_sync(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "here", no_argument, NULL, O_HERE },
		{ "full", no_argument, NULL, O_FULL },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct feedpoll_report rep;
	const char *name;
	char err[512] = "";
	int opt, here = 0, full = 0;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		switch (opt) {
		case O_HERE: here = 1; break;
		case O_FULL: full = 1; break;
		case O_JSON: c->json = 1; break;
		default: return cli_bad_option(c, opt, argv);
		}
	}
	name = cli_one_operand(c, argc, argv, optind);
	if (name == NULL)
		return EX_USAGE;
	if (config_feed(c->cfg, name) == NULL) {
		cli_err("sync: no feed '%s' in %s", name, c->cfg->path);
		return EX_DATAERR;
	}
	if (!here) {
		if (feedpoll_request_sync(store_path(c->st), name, err,
					  sizeof(err)) != 0) {
			cli_err("sync: %s", err);
			return EX_CANTCREAT;
		}
		printf("feed %s: sync requested; the running daemon fetches it "
		       "now (see promisectl feeds)\n", name);
		return EX_OK;
	}
	if (feedpoll_sync_now(c->cfg, c->st, name, c->now, full, &rep, err,
			      sizeof(err)) != 0) {
		cli_err("sync: %s", err);
		return EX_UNAVAILABLE;
	}
	print_report(c, name, &rep);
	return rep.failed ? EX_TEMPFAIL : EX_OK;
}
