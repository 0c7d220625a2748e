/*
 * cmd_report: `promisectl report` — who keeps their word.  Reads the
 * period (--from/--to as local dates of the default site, or any WHEN
 * expression), the grouping and the output format, and hands the rest to
 * the report module.  The period is half-open: [from, to).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/report.h"
#include "promised/util.h"

#define REPORT_DEFAULT_DAYS 7

enum { O_FROM = 1000, O_TO, O_BY, O_FORMAT, O_JSON };

struct report_args {
	const char *from;          /* as typed; NULL: default */
	const char *to;
	enum report_by by;
	enum report_format format;
	int format_given;
};

static int
report_args(struct cli *c, int argc, char **argv, struct report_args *a)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "by", required_argument, NULL, O_BY },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		switch (opt) {
		case O_FROM: a->from = optarg; break;
		case O_TO: a->to = optarg; break;
		case O_BY:
			if (report_by_parse(optarg, &a->by) != 0)
				return cli_usage_err(c, "--by: '%s' is not one "
						     "of owner, team, site",
						     optarg);
			break;
		case O_FORMAT:
			if (report_format_parse(optarg, &a->format) != 0)
				return cli_usage_err(c, "--format: '%s' is not "
						     "one of table, csv, json",
						     optarg);
			a->format_given = 1;
			break;
		case O_JSON: c->json = 1; break;
		default: return cli_bad_option(c, opt, argv);
		}
	}
	if (optind < argc)
		return cli_usage_err(c, "unexpected argument '%s'", argv[optind]);
	if (!a->format_given && c->json)
		a->format = REPORT_FORMAT_JSON;
	return 0;
}

/* Exactly "DDDD-DD-DD" with digits. */
static int
date_shaped(const char *s)
{
	size_t i;

	if (strlen(s) != 10)
		return 0;
	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return 0;
		} else if (s[i] < '0' || s[i] > '9') {
			return 0;
		}
	}
	return 1;
}

/* "2026-11-01": the start of that local day.  1 when s has that shape
 * (then *rc is 0 or EX_DATAERR), 0 when it does not. */
static int
parse_date(const char *opt, const char *s, const char *tz, int64_t *out,
	   int *rc)
{
	int y, m, d, y2, m2, d2;
	int64_t days;

	if (!date_shaped(s) || util_parse_digits(s, 4, &y) != 0 ||
	    util_parse_digits(s + 5, 2, &m) != 0 ||
	    util_parse_digits(s + 8, 2, &d) != 0)
		return 0;
	*rc = 0;
	days = util_days_from_civil(y, m, d);
	util_civil_from_days(days, &y2, &m2, &d2);
	if (m < 1 || m > 12 || d < 1 || y2 != y || m2 != m || d2 != d ||
	    cal_day_start(tz, days, out) != 0) {
		cli_err("%s: '%s' is not a date (YYYY-MM-DD)", opt, s);
		*rc = EX_DATAERR;
	}
	return 1;
}

static int
parse_when(struct cli *c, const char *opt, const char *s,
	   const struct cal_site *site, int64_t *out)
{
	int rc = 0;

	if (parse_date(opt, s, cli_tz(site), out, &rc))
		return rc;
	return cli_parse_due(c, opt, s, site, out);
}

/* Default and typed bounds: to defaults to now; from to the local
 * midnight seven days before the day `to` falls on. */
static int
period(struct cli *c, const struct report_args *a, int64_t *from,
       int64_t *to)
{
	const struct cal_site *site = cli_site_of(c, NULL);
	const char *tz = cli_tz(site);
	struct cal_local loc;
	char f[48], t[48];
	int rc;

	*to = c->now;
	if (a->to != NULL && (rc = parse_when(c, "--to", a->to, site, to)) != 0)
		return rc;
	if (a->from != NULL) {
		rc = parse_when(c, "--from", a->from, site, from);
		if (rc != 0)
			return rc;
	} else if (cal_to_local(tz, *to, &loc) != 0 ||
		   cal_day_start(tz, loc.days - REPORT_DEFAULT_DAYS,
				  from) != 0) {
		cli_err("cannot compute the start of the period in %s", tz);
		return EX_SOFTWARE;
	}
	if (*from >= *to) {
		cal_format_local(tz, *from, 1, f, sizeof(f));
		cal_format_local(tz, *to, 1, t, sizeof(t));
		cli_err("--from (%s) must lie before --to (%s)", f, t);
		return EX_DATAERR;
	}
	return 0;
}

int
cli_cmd_report(struct cli *c, int argc, char **argv)
{
	struct report_args a;
	struct report_query q;
	struct report *r = NULL;
	char err[512] = "";
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&q, 0, sizeof(q));
	rc = report_args(c, argc, argv, &a);
	if (rc == 0)
		rc = period(c, &a, &q.from, &q.to);
	if (rc != 0)
		return rc;
	q.by = a.by;
	rc = report_compute(c->st, c->cfg, &q, c->now, &r, err, sizeof(err));
	if (rc != STORE_OK)
		return cli_store_fail(rc, err);
	rc = EX_OK;
	if (report_write(stdout, r, a.format) != 0) {
		cli_err("cannot write the report");
		rc = EX_IOERR;
	}
	report_free(r);
	return rc;
}
