/*
 * cmd_add: `promisectl add` — checks everything a person typed (owner on
 * staff, due readable in the site's zone and not in the past, VIN, text
 * that is valid UTF-8 and not absurdly long) before one store_add, so a
 * refused promise leaves nothing behind.
 */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

enum arg {
	A_TITLE, A_OWNER, A_DUE, A_TARGET, A_TEAM, A_SITE, A_POLICY,
	A_CUSTOMER, A_PHONE, A_EMAIL, A_VEHICLE, A_VIN, A_DETAILS, A_REF,
	A_TITLE_FILE, A_DETAILS_FILE, NARGS
};

#define OPT_BASE 1000
#define OPT_FORCE (OPT_BASE + NARGS)
#define OPT_JSON (OPT_BASE + NARGS + 1)

/* Each option that takes text: its name, longest value, and whether
 * newlines are allowed. */
static const struct {
	const char *name;
	size_t max;
	int multiline;
} args[NARGS] = {
	[A_TITLE] = { "title", CLI_MAX_TITLE, 0 },
	[A_OWNER] = { "owner", CLI_MAX_FIELD, 0 },
	[A_DUE] = { "due", CLI_MAX_FIELD, 0 },
	[A_TARGET] = { "target", CLI_MAX_FIELD, 0 },
	[A_TEAM] = { "team", CLI_MAX_FIELD, 0 },
	[A_SITE] = { "site", CLI_MAX_FIELD, 0 },
	[A_POLICY] = { "policy", CLI_MAX_FIELD, 0 },
	[A_CUSTOMER] = { "customer", CLI_MAX_FIELD, 0 },
	[A_PHONE] = { "phone", CLI_MAX_FIELD, 0 },
	[A_EMAIL] = { "email", CLI_MAX_FIELD, 0 },
	[A_VEHICLE] = { "vehicle", CLI_MAX_FIELD, 0 },
	[A_VIN] = { "vin", CLI_MAX_FIELD, 0 },
	[A_DETAILS] = { "details", CLI_MAX_DETAILS, 1 },
	[A_REF] = { "ref", CLI_MAX_FIELD, 0 },
	[A_TITLE_FILE] = { "title-file", 4096, 0 },
	[A_DETAILS_FILE] = { "details-file", 4096, 0 },
};

struct add {
	char *v[NARGS];        /* owned copies; NULL: not given */
	int force;
	const struct cfg_staff *owner;
	const struct cfg_team *team;
	const struct cal_site *site;
	int64_t due, target;
};

static void
add_clear(struct add *a)
{
	size_t i;

	for (i = 0; i < NARGS; i++)
		free(a->v[i]);
}

static int
parse_args(struct cli *c, int argc, char **argv, struct add *a)
{
	struct option opts[NARGS + 4];
	size_t i;
	int opt;

	for (i = 0; i < NARGS; i++)
		opts[i] = (struct option){ args[i].name, required_argument,
					   NULL, OPT_BASE + (int)i };
	opts[NARGS] = (struct option){ "force", no_argument, NULL, OPT_FORCE };
	opts[NARGS + 1] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	opts[NARGS + 2] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[NARGS + 3] = (struct option){ NULL, 0, NULL, 0 };
	while ((opt = util_getopt(argc, argv, ":h", opts)) != -1) {
		if (opt >= OPT_BASE && opt < OPT_BASE + NARGS) {
			free(a->v[opt - OPT_BASE]);
			a->v[opt - OPT_BASE] = xstrdup(optarg);
		} else if (opt == OPT_FORCE) {
			a->force = 1;
		} else if (opt == OPT_JSON) {
			c->json = 1;
		} else {
			return cli_bad_option(c, opt, argv);
		}
	}
	if (optind < argc)
		return cli_usage_err(c, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Replaces a --x-file option by the file's content in slot `into`. */
static int
from_file(struct add *a, enum arg file, enum arg into)
{
	char name[64], *text = NULL;
	int toolong;

	if (a->v[file] == NULL)
		return 0;
	(void)snprintf(name, sizeof(name), "--%s", args[file].name);
	if (a->v[into]) {
		cli_err("%s and --%s cannot both be given", name, args[into].name);
		return EX_USAGE;
	}
	if (cli_read_file(name, a->v[file], args[into].max, &text,
			  &toolong) != 0)
		return toolong ? EX_DATAERR : EX_NOINPUT;
	a->v[into] = text;
	return 0;
}

static int
check_args(struct cli *c, struct add *a)
{
	static const enum arg required[] = { A_TITLE, A_OWNER, A_DUE };
	char name[64];
	size_t i;
	int rc;

	if ((rc = from_file(a, A_TITLE_FILE, A_TITLE)) != 0 ||
	    (rc = from_file(a, A_DETAILS_FILE, A_DETAILS)) != 0)
		return rc;
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (a->v[required[i]] == NULL)
			return cli_usage_err(c, "--%s is required",
					     args[required[i]].name);
		if (a->v[required[i]][0] == '\0')
			return cli_usage_err(c, "--%s needs a value",
					     args[required[i]].name);
	}
	for (i = 0; i < A_TITLE_FILE; i++) {
		if (a->v[i] == NULL)
			continue;
		(void)snprintf(name, sizeof(name), "--%s", args[i].name);
		if (cli_check_text(name, a->v[i], args[i].max,
				   args[i].multiline) != 0)
			return EX_DATAERR;
		if (a->v[i][0] == '\0') {
			/* An empty optional value means "not given". */
			free(a->v[i]);
			a->v[i] = NULL;
		}
	}
	return 0;
}

/* Owner, team, site and policy must all be known to the config. */
static int
resolve_people(struct cli *c, struct add *a)
{
	const char *site_id;
	char known[512];

	a->owner = config_staff(c->cfg, a->v[A_OWNER]);
	if (a->owner == NULL) {
		cli_staff_ids(c->cfg, known, sizeof(known));
		cli_err("unknown owner '%s' (known: %s)", a->v[A_OWNER], known);
		return EX_DATAERR;
	}
	if (a->v[A_TEAM] == NULL && a->owner->team)
		a->v[A_TEAM] = xstrdup(a->owner->team);
	if (a->v[A_TEAM]) {
		a->team = config_team(c->cfg, a->v[A_TEAM]);
		if (a->team == NULL) {
			cli_err("unknown team '%s'", a->v[A_TEAM]);
			return EX_DATAERR;
		}
	}
	site_id = a->v[A_SITE] ? a->v[A_SITE]
		: a->team && a->team->site ? a->team->site : c->cfg->default_site;
	a->site = site_id ? config_site(c->cfg, site_id) : NULL;
	if (a->site == NULL) {
		cli_err("unknown site '%s'", site_id ? site_id : "(none)");
		return EX_DATAERR;
	}
	if (a->v[A_SITE] == NULL)
		a->v[A_SITE] = xstrdup(a->site->id);
	if (a->v[A_POLICY] && config_policy(c->cfg, a->v[A_POLICY]) == NULL) {
		cli_err("unknown policy '%s'", a->v[A_POLICY]);
		return EX_DATAERR;
	}
	return 0;
}

static int
resolve_times(struct cli *c, struct add *a)
{
	char due[64], target[64];
	int rc;

	if ((rc = cli_parse_due(c, "--due", a->v[A_DUE], a->site, &a->due)))
		return rc;
	a->target = 0;
	if (a->v[A_TARGET] &&
	    (rc = cli_parse_due(c, "--target", a->v[A_TARGET], a->site,
				&a->target)))
		return rc;
	cli_fmt_local(a->site->tz, a->due, 1, due, sizeof(due));
	if (a->target > a->due) {
		cli_fmt_local(a->site->tz, a->target, 1, target, sizeof(target));
		cli_err("target %s is after due %s", target, due);
		return EX_DATAERR;
	}
	if (a->due < c->now && !a->force) {
		cli_err("due %s is in the past; use --force to add it anyway",
			due);
		return EX_DATAERR;
	}
	return 0;
}

static int
check_contact(struct add *a)
{
	const char *e = a->v[A_EMAIL], *at;
	int digit_ok = 1;
	char err[256] = "";
	size_t i;

	if (e) {
		at = strchr(e, '@');
		if (at == NULL || at == e || at[1] == '\0' ||
		    strchr(at + 1, '@') || strchr(e, ' ')) {
			cli_err("--email '%s' is not an email address", e);
			return EX_DATAERR;
		}
	}
	if (a->v[A_VIN] == NULL)
		return 0;
	for (i = 0; a->v[A_VIN][i]; i++)
		a->v[A_VIN][i] = (char)toupper((unsigned char)a->v[A_VIN][i]);
	if (promise_vin_check(a->v[A_VIN], &digit_ok, err, sizeof(err)) != 0) {
		cli_err("--vin: %s", err[0] ? err : "not a valid VIN");
		return EX_DATAERR;
	}
	if (!digit_ok)
		cli_warn("VIN %s: check digit does not match; stored anyway",
			 a->v[A_VIN]);
	return 0;
}

/* Moves the checked values into a promise record (which then owns them). */
static void
build(struct add *a, struct promise *p)
{
	static const struct {
		enum arg arg;
		size_t off;
	} slots[] = {
		{ A_TITLE, offsetof(struct promise, title) },
		{ A_DETAILS, offsetof(struct promise, details) },
		{ A_CUSTOMER, offsetof(struct promise, customer_name) },
		{ A_PHONE, offsetof(struct promise, customer_phone) },
		{ A_EMAIL, offsetof(struct promise, customer_email) },
		{ A_VEHICLE, offsetof(struct promise, vehicle) },
		{ A_VIN, offsetof(struct promise, vin) },
		{ A_OWNER, offsetof(struct promise, owner) },
		{ A_TEAM, offsetof(struct promise, team) },
		{ A_SITE, offsetof(struct promise, site) },
		{ A_POLICY, offsetof(struct promise, policy) },
		{ A_REF, offsetof(struct promise, ref) },
	};
	size_t i;

	for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		*(char **)((char *)p + slots[i].off) = a->v[slots[i].arg];
		a->v[slots[i].arg] = NULL;
	}
	p->source = xstrdup("cli");
	p->due_at = a->due;
	p->target_at = a->target;
}

static int
store_it(struct cli *c, struct promise *p)
{
	char err[512] = "", due[64], msg[160];
	int rc;

	rc = store_add(c->st, p, c->actor, c->now, err, sizeof(err));
	if (rc == STORE_CONFLICT && p->ref && p->id > 0) {
		cli_err("ref '%s' is already used by promise %" PRId64, p->ref,
			p->id);
		return EX_DATAERR;
	}
	if (rc != STORE_OK)
		return cli_store_fail(rc, err);
	cli_fmt_local(cli_tz(cli_site_of(c, p->site)), p->due_at, 1, due,
		      sizeof(due));
	(void)snprintf(msg, sizeof(msg), "added promise %" PRId64 " (due %s)",
		       p->id, due);
	return cli_report_change(c, p->id, msg);
}

int
cli_cmd_add(struct cli *c, int argc, char **argv)
{
	struct add a;
	struct promise p;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&p, 0, sizeof(p));
	if ((rc = parse_args(c, argc, argv, &a)) != 0 ||
	    (rc = check_args(c, &a)) != 0 ||
	    (rc = resolve_people(c, &a)) != 0 ||
	    (rc = resolve_times(c, &a)) != 0 ||
	    (rc = check_contact(&a)) != 0)
		goto out;
	build(&a, &p);
	rc = store_it(c, &p);
out:
	promise_clear(&p);
	add_clear(&a);
	return rc;
}
