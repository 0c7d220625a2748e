/*
 * cmd_view: the read-only commands — `list` (filters, table or JSON) and
 * `show` (one promise with its whole timeline).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/calendar.h"
#include "promised/util.h"

enum { L_OPEN = 1000, L_ALL, L_OVERDUE, L_TODAY, L_OWNER, L_TEAM, L_SITE,
       L_JSON };

struct list_args {
	struct store_filter f;
	int open, all, today;
};

/* [start of today, start of tomorrow) in the site's zone. */
static int
today_bounds(const struct cal_site *site, int64_t now, int64_t *from,
	     int64_t *to)
{
	struct cal_local l;

	if (cal_to_local(site->tz, now, &l) != 0 ||
	    cal_day_start(site->tz, l.days, from) != 0)
		return -1;
	return cal_day_start(site->tz, l.days + 1, to);
}

/* Filters name people and places of the config; a name it does not know
 * (someone who left) still filters, with a warning about the typo risk. */
static int
check_filters(struct cli *c, struct list_args *a)
{
	const struct store_filter *f = &a->f;

	if ((f->owner && cli_check_text("--owner", f->owner, CLI_MAX_FIELD, 0)) ||
	    (f->team && cli_check_text("--team", f->team, CLI_MAX_FIELD, 0)) ||
	    (f->site && cli_check_text("--site", f->site, CLI_MAX_FIELD, 0)))
		return EX_DATAERR;
	if (f->owner && config_staff(c->cfg, f->owner) == NULL)
		cli_warn("'%s' is not on staff in %s", f->owner, c->config_path);
	if (f->team && config_team(c->cfg, f->team) == NULL)
		cli_warn("no team '%s' in %s", f->team, c->config_path);
	if (f->site && config_site(c->cfg, f->site) == NULL) {
		cli_err("unknown site '%s'", f->site);
		return EX_DATAERR;
	}
	return 0;
}

static int
list_args(struct cli *c, int argc, char **argv, struct list_args *a)
{
	static const struct option opts[] = {
		{ "open", no_argument, NULL, L_OPEN },
		{ "all", no_argument, NULL, L_ALL },
		{ "overdue", no_argument, NULL, L_OVERDUE },
		{ "due-today", no_argument, NULL, L_TODAY },
		{ "owner", required_argument, NULL, L_OWNER },
		{ "team", required_argument, NULL, L_TEAM },
		{ "site", required_argument, NULL, L_SITE },
		{ "json", no_argument, NULL, L_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = util_getopt(argc, argv, ":h", opts)) != -1) {
		switch (opt) {
		case L_OPEN: a->open = 1; break;
		case L_ALL: a->all = 1; break;
		case L_OVERDUE: a->f.overdue = 1; break;
		case L_TODAY: a->today = 1; break;
		case L_OWNER: a->f.owner = optarg; break;
		case L_TEAM: a->f.team = optarg; break;
		case L_SITE: a->f.site = optarg; break;
		case L_JSON: c->json = 1; break;
		default: return cli_bad_option(c, opt, argv);
		}
	}
	if (optind < argc)
		return cli_usage_err(c, "unexpected argument '%s'", argv[optind]);
	if (a->open && a->all)
		return cli_usage_err(c, "--open and --all exclude each other");
	return 0;
}

int
cli_cmd_list(struct cli *c, int argc, char **argv)
{
	struct list_args a;
	const struct cal_site *site;
	struct promise *arr = NULL;
	size_t n = 0, i;
	char err[512] = "";
	int rc;

	memset(&a, 0, sizeof(a));
	if ((rc = list_args(c, argc, argv, &a)) != 0 ||
	    (rc = check_filters(c, &a)) != 0)
		return rc;
	a.f.open_only = !a.all;
	a.f.now = c->now;
	site = cli_site_of(c, a.f.site);
	if (a.today && (site == NULL || today_bounds(site, c->now, &a.f.due_from,
						     &a.f.due_to) != 0)) {
		cli_err("--due-today: cannot tell today's date in the site's zone");
		return EX_DATAERR;
	}
	rc = store_list(c->st, &a.f, &arr, &n, err, sizeof(err));
	if (rc != STORE_OK)
		return cli_store_fail(rc, err);
	if (c->json) {
		(void)fputc('[', stdout);
		for (i = 0; i < n; i++) {
			(void)fputs(i ? ",\n" : "\n", stdout);
			cli_json_promise(stdout, c, &arr[i], NULL, 0, 0);
		}
		(void)fputs(n ? "\n]\n" : "]\n", stdout);
	} else if (n == 0) {
		printf("no promises\n");
	} else {
		cli_print_table(stdout, c, arr, n);
	}
	promise_free_array(arr, n);
	return EX_OK;
}

int
cli_cmd_show(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct promise p;
	struct event *ev = NULL;
	size_t nev = 0;
	const char *arg;
	char err[512] = "";
	int opt, rc;

	memset(&p, 0, sizeof(p));
	while ((opt = util_getopt(argc, argv, ":h", opts)) != -1) {
		if (opt != 'j')
			return cli_bad_option(c, opt, argv);
		c->json = 1;
	}
	if ((arg = cli_one_operand(c, argc, argv, optind)) == NULL)
		return EX_USAGE;
	if ((rc = cli_load_promise(c, arg, &p)) != 0)
		goto out;
	rc = store_events(c->st, p.id, &ev, &nev, err, sizeof(err));
	if (rc != STORE_OK) {
		rc = cli_store_fail(rc, err);
		goto out;
	}
	if (c->json) {
		cli_json_promise(stdout, c, &p, ev, nev, 1);
		(void)fputc('\n', stdout);
	} else {
		cli_print_promise(stdout, c, &p, ev, nev);
	}
	rc = EX_OK;
out:
	event_free_array(ev, nev);
	promise_clear(&p);
	return rc;
}
