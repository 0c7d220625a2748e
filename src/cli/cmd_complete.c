/*
 * cmd_complete: the hidden `promisectl complete WHAT` that feeds the bash
 * completion (completion/promisectl.bash) one word per line: command
 * names, staff ids, channel and feed names of the config, and the ids of
 * open promises.  It runs on every TAB, so it stays silent: a config or
 * database that cannot be read yields no words and exit 0 rather than
 * error text on the user's half-typed line, and it never creates a
 * database that does not exist yet.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "cli.h"

/* Enough for any counter; a longer list would not fit a screen of
 * candidates anyway, and the newest are the likeliest to be typed. */
#define COMPLETE_MAX_PROMISES 200

/* The config, or NULL without a word: completion must not print errors. */
static struct config *
quiet_config(const struct cli *c)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(c->config_path, &errs);

	config_errors_clear(&errs);
	return cfg;
}

static void
print_commands(void)
{
	const char *name;
	size_t i;

	for (i = 0; (name = cli_command_at(i)) != NULL; i++)
		printf("%s\n", name);
}

static void
print_config_words(const struct config *cfg, const char *what)
{
	size_t i;

	if (strcmp(what, "staff") == 0)
		for (i = 0; i < cfg->nstaff; i++)
			printf("%s\n", cfg->staff[i].id);
	else if (strcmp(what, "channels") == 0)
		for (i = 0; i < cfg->nchannels; i++)
			printf("%s\n", cfg->channels[i].name);
	else
		for (i = 0; i < cfg->nfeeds; i++)
			printf("%s\n", cfg->feeds[i].name);
}

static int
by_id_desc(const void *a, const void *b)
{
	const struct promise *x = a, *y = b;

	return (x->id < y->id) - (x->id > y->id);
}

/* Open and acked promises, newest (highest id) first.  The database must
 * exist already: store_open would create it. */
static void
print_promises(const struct cli *c, const struct config *cfg)
{
	const char *path = c->db_opt ? c->db_opt : cfg ? cfg->database : NULL;
	struct store_filter f;
	struct promise *arr = NULL;
	struct store *st = NULL;
	struct stat sb;
	char err[512];
	size_t n = 0, i;
	int rc = 0;

	if (path == NULL || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		goto out;
	st = store_open(path, &rc, err, sizeof(err));
	if (st == NULL)
		goto out;
	memset(&f, 0, sizeof(f));
	f.open_only = 1;
	f.now = c->now;
	if (store_list(st, &f, &arr, &n, err, sizeof(err)) != STORE_OK)
		goto out;
	qsort(arr, n, sizeof(*arr), by_id_desc);
	for (i = 0; i < n && i < COMPLETE_MAX_PROMISES; i++)
		printf("%" PRId64 "\n", arr[i].id);
out:
	promise_free_array(arr, n);
	store_close(st);
}

int
cli_cmd_complete(struct cli *c, int argc, char **argv)
{
	static const char *const kinds[] = {
		"commands", "staff", "promises", "channels", "feeds",
	};
	struct config *cfg = NULL;
	const char *what;
	size_t i;

	if (argc != 2)
		return cli_usage_err(c, "give one of commands, staff, promises, "
				     "channels, feeds");
	what = argv[1];
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(what, kinds[i]) == 0)
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return cli_usage_err(c, "unknown word list '%s'", what);
	if (i == 0) {
		print_commands();
		return EX_OK;
	}
	cfg = quiet_config(c);
	if (i == 2)
		print_promises(c, cfg);
	else if (cfg != NULL)
		print_config_words(cfg, what);
	config_free(cfg);
	return EX_OK;
}
