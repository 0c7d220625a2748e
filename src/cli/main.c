/*
 * promisectl: the command-line companion of promised.  This file holds the
 * global options, the command table and the set-up every command shares:
 * the config, the database with the scheduler installed, the actor and the
 * clock.  Each command lives in a cmd_*.c file.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "promised/util.h"
#include "promised/version.h"

static int cmd_check_config(struct cli *c, int argc, char **argv);

enum needs { NEEDS_NOTHING = 0, NEEDS_DB };

struct command {
	const char *name;
	cli_handler fn;
	const char *usage;
	enum needs needs;
	const char *summary;
};

static const struct command commands[] = {
	{ "add", cli_cmd_add,
	  "add --title TEXT --owner STAFF --due WHEN [--target WHEN]\n"
	  "    [--team TEAM] [--site SITE] [--policy NAME] [--customer NAME]\n"
	  "    [--phone PHONE] [--email EMAIL] [--vehicle TEXT] [--vin VIN]\n"
	  "    [--details TEXT] [--title-file FILE] [--details-file FILE]\n"
	  "    [--ref REF] [--force] [--json]",
	  NEEDS_DB, "record a new promise" },
	{ "list", cli_cmd_list,
	  "list [--open|--all] [--overdue] [--due-today] [--owner STAFF]\n"
	  "    [--team TEAM] [--site SITE] [--json]",
	  NEEDS_DB, "list promises (open and acked by default)" },
	{ "show", cli_cmd_show, "show ID|REF [--json]", NEEDS_DB,
	  "show a promise and its timeline" },
	{ "done", cli_cmd_done,
	  "done ID|REF [--outcome kept|cancelled] [--note TEXT] [--json]",
	  NEEDS_DB, "close a promise (kept becomes late after due)" },
	{ "ack", cli_cmd_ack, "ack ID|REF [--json]", NEEDS_DB,
	  "take a promise: \"I'm on it\"" },
	{ "snooze", cli_cmd_snooze,
	  "snooze ID|REF (--until WHEN | --for DURATION) [--json]", NEEDS_DB,
	  "hold reminders until a time" },
	{ "reassign", cli_cmd_reassign,
	  "reassign ID|REF --to STAFF [--team TEAM] [--json]", NEEDS_DB,
	  "hand a promise to someone else" },
	{ "renegotiate", cli_cmd_renegotiate,
	  "renegotiate ID|REF --due WHEN --reason TEXT [--force] [--json]",
	  NEEDS_DB, "record a new due agreed with the customer" },
	{ "reopen", cli_cmd_reopen, "reopen ID|REF [--reason TEXT] [--json]",
	  NEEDS_DB, "reopen a closed promise" },
	{ "outbox", cli_cmd_outbox, "outbox [--state pending|sending|sent|retry|dead] [--promise ID] [--limit N] [--json]\n    outbox retry ID", NEEDS_DB, "list notifications; send a failed one again" },
	{ "test-channel", cli_cmd_test_channel, "test-channel NAME --to STAFF", NEEDS_NOTHING, "send a test message through a channel now" },
	{ "report", cli_cmd_report, "report [--from D] [--to D] [--by owner|team|site] [--format table|csv|json]", NEEDS_DB, "who keeps their word: promises made in a period" },
	{ "feeds", cli_cmd_feeds, "feeds [--json]", NEEDS_DB, "calendar feeds: state, last success, last error, counts" },
	{ "import", cli_cmd_import, "import FILE.ics --feed NAME [--json]", NEEDS_DB, "import a calendar file once, mapped like feed NAME" },
	{ "sync", cli_cmd_sync, "sync NAME [--here [--full]] [--json]", NEEDS_DB, "make the daemon fetch feed NAME now (--here: fetch in promisectl)" },
	{ "backup", cli_cmd_backup, "backup FILE [--json]", NEEDS_DB,
	  "copy the database to a new FILE (safe while the daemon runs)" },
	{ "check-config", cmd_check_config, "check-config [FILE]",
	  NEEDS_NOTHING, "validate the config file" },
	/* Hidden (no summary): word lists for completion/promisectl.bash. */
	{ "complete", cli_cmd_complete,
	  "complete commands|staff|promises|channels|feeds", NEEDS_NOTHING,
	  NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

const char *
cli_usage(const char *cmd)
{
	const struct command *k = find_command(cmd);

	return k ? k->usage : NULL;
}

const char *
cli_command_at(size_t i)
{
	size_t k;

	for (k = 0; k < NCOMMANDS; k++)
		if (commands[k].summary != NULL && i-- == 0)
			return commands[k].name;
	return NULL;
}

static void
print_help(FILE *f)
{
	size_t i;

	(void)fprintf(f,
		      "usage: promisectl [--config FILE] [--db FILE] [--json] "
		   "[--no-color] COMMAND [ARGS]\n"
		   "       promisectl --help | --version\n\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].summary != NULL)
			(void)fprintf(f, "  %-13s %s\n", commands[i].name,
				      commands[i].summary);
	(void)fprintf(f, "\n'promisectl COMMAND --help' shows the options of a "
		   "command.\nWHEN is e.g. \"tomorrow morning\", \"fri 16:00\", "
		   "\"in 2h\", \"2026-12-04 17:00\".\n");
}

/* Suggests the nearest command name for a typo. */
static int
unknown_command(const char *name)
{
	const char *best = NULL;
	int bestd = 3;
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		int d = util_edit_distance(name, commands[i].name);

		if (d < bestd) {
			bestd = d;
			best = commands[i].name;
		}
	}
	if (best)
		cli_err("unknown command '%s' (did you mean '%s'?)", name, best);
	else
		cli_err("unknown command '%s' (see promisectl --help)", name);
	return EX_USAGE;
}

static void
set_actor(struct cli *c)
{
	const char *env = util_getenv("PROMISED_ACTOR");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (env && *env && util_utf8_valid(env, strlen(env))) {
		util_strlcpy(c->actor, env, sizeof(c->actor));
		return;
	}
	/* A cut user name would attribute changes to someone else:
	 * fall back to the uid then. */
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res &&
	    snprintf(c->actor, sizeof(c->actor), "cli:%s", res->pw_name) <
		    (int)sizeof(c->actor))
		return;
	(void)snprintf(c->actor, sizeof(c->actor), "cli:uid%lu",
		       (unsigned long)getuid());
}

/* PROMISED_NOW (Unix seconds or YYYY-MM-DDTHH:MM:SSZ) pins the clock so
 * demos and tests see the same "tomorrow" every time. */
static int
set_now(struct cli *c)
{
	const char *env = util_getenv("PROMISED_NOW");

	c->now = (int64_t)time(NULL);
	if (env == NULL || *env == '\0')
		return 0;
	if (util_parse_int64(env, 0, INT64_C(253402300799), &c->now) == 0)
		return 0;
	if (util_parse_utc(env, &c->now) == 0)
		return 0;
	cli_err("PROMISED_NOW '%s' is not Unix seconds or "
		"YYYY-MM-DDTHH:MM:SSZ", env);
	return EX_USAGE;
}

static int
load_config(struct cli *c)
{
	struct config_errors errs = { 0 };
	size_t i;

	c->cfg = config_load(c->config_path, &errs);
	if (c->cfg)
		return 0;
	cli_err("cannot load config %s:", c->config_path);
	for (i = 0; i < errs.n; i++)
		(void)fprintf(stderr, "%s\n", errs.msg[i]);
	if (errs.n == 0)
		(void)fprintf(stderr, "%s: unreadable or invalid\n",
			      c->config_path);
	config_errors_clear(&errs);
	return EX_CONFIG;
}

static int
open_db(struct cli *c)
{
	const char *path = c->db_opt ? c->db_opt : c->cfg->database;
	char err[512] = "";
	int rc = STORE_ERR;

	if (path == NULL || *path == '\0') {
		cli_err("%s names no database; use --db FILE", c->config_path);
		return EX_CONFIG;
	}
	c->st = store_open(path, &rc, err, sizeof(err));
	if (c->st == NULL) {
		if (rc == STORE_BUSY) {
			cli_err("database is busy; try again (%s)", err);
			return EX_TEMPFAIL;
		}
		/* The store's messages name the file already. */
		if (err[0] && strstr(err, path) != NULL)
			cli_err("%s", err);
		else
			cli_err("cannot open database %s: %s", path,
				err[0] ? err : "unknown error");
		return EX_CANTCREAT;
	}
	c->esc = escalate_new(c->cfg);
	store_set_next_fn(c->st, escalate_next_step_at, c->esc);
	return 0;
}

static int
cmd_check_config(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	while ((opt = util_getopt(argc, argv, ":h", opts)) != -1) {
		if (opt != 'h')
			return cli_bad_option(c, opt, argv);
		printf("usage: promisectl %s\n", cli_usage(c->cmd));
		return EX_OK;
	}
	if (argc - optind > 1)
		return cli_usage_err(c, "takes at most one FILE");
	if (argc - optind == 1)
		c->config_path = argv[optind];
	rc = load_config(c);
	if (rc == 0)
		printf("%s: OK\n", c->config_path);
	return rc;
}

/* Parses the options before the command; returns -1 to go on, else the
 * exit code.  *first gets the index of the command. */
static int
global_options(struct cli *c, int argc, char **argv, int *first)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-color", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = util_getopt(argc, argv, "+:c:d:hV", opts)) != -1) {
		switch (opt) {
		case 'c': c->config_path = optarg; break;
		case 'd': c->db_opt = optarg; break;
		case 'j': c->json = 1; break;
		case 'n': c->no_color = 1; break;
		case 'h': print_help(stdout); return EX_OK;
		case 'V':
			return version_print(stdout, "promisectl") == 0 ?
			       EX_OK : EX_IOERR;
		default: return cli_bad_option(c, opt, argv);
		}
	}
	if (optind >= argc) {
		print_help(stderr);
		return EX_USAGE;
	}
	*first = optind;
	return -1;
}

/* "promisectl add --help" works without a config or a database. */
static int
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static void
teardown(struct cli *c)
{
	store_close(c->st);
	escalate_free(c->esc);
	config_free(c->cfg);
}

int
main(int argc, char **argv)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct cli c;
	const struct command *k;
	const char *env;
	int first = 0, rc;

	memset(&c, 0, sizeof(c));
	env = util_getenv("PROMISED_CONFIG");
	c.config_path = env && *env ? env : CONFIG_DEFAULT_PATH;
	env = util_getenv("PROMISED_DB");
	c.db_opt = env && *env ? env : NULL;
	rc = global_options(&c, argc, argv, &first);
	if (rc >= 0)
		return rc;
	k = find_command(argv[first]);
	if (k == NULL)
		return unknown_command(argv[first]);
	c.cmd = k->name;
	if (wants_help(argc - first, argv + first)) {
		printf("usage: promisectl %s\n", k->usage);
		return EX_OK;
	}
	set_actor(&c);
	rc = set_now(&c);
	if (rc == 0 && k->needs == NEEDS_DB)
		rc = load_config(&c);
	if (rc == 0 && k->needs == NEEDS_DB)
		rc = open_db(&c);
	if (rc == 0) {
		optind = 0;   /* glibc: restart the scan for the command */
		rc = k->fn(&c, argc - first, argv + first);
	}
	teardown(&c);
	/* Output goes through stdio, whose error flag is sticky: every
	 * (void) fputs/fprintf on stdout is checked here, once. */
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
		cli_err("cannot write output: %s", util_strerror(errno, ebuf,
								 sizeof(ebuf)));
		rc = EX_IOERR;
	}
	return rc;
}
