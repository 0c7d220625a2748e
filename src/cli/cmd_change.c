/*
 * cmd_change: the commands that move a promise along — done, ack, snooze,
 * reassign, renegotiate, reopen.  Each checks its input, then makes one
 * store call (one transaction, with its event) and says what happened.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/util.h"

enum { C_OUTCOME = 1000, C_NOTE, C_UNTIL, C_FOR, C_TO, C_TEAM, C_DUE,
       C_REASON, C_FORCE, C_JSON };

/* Everything the change commands take; each command's option table says
 * which of these it accepts. */
struct change {
	const char *outcome, *note, *until, *forlen, *to, *team, *due, *reason;
	int force;
	struct promise p;      /* the promise as it was before the change */
	char err[512];
};

#define OPT_JSON { "json", no_argument, NULL, C_JSON }
#define OPT_HELP { "help", no_argument, NULL, 'h' }
#define OPT_END { NULL, 0, NULL, 0 }

static void
take(struct cli *c, struct change *ch, int opt)
{
	switch (opt) {
	case C_OUTCOME: ch->outcome = optarg; break;
	case C_NOTE: ch->note = optarg; break;
	case C_UNTIL: ch->until = optarg; break;
	case C_FOR: ch->forlen = optarg; break;
	case C_TO: ch->to = optarg; break;
	case C_TEAM: ch->team = optarg; break;
	case C_DUE: ch->due = optarg; break;
	case C_REASON: ch->reason = optarg; break;
	case C_FORCE: ch->force = 1; break;
	case C_JSON: c->json = 1; break;
	default: break;
	}
}

/* Parses the options of a change command, checks the text ones, and loads
 * the promise named by the one operand into ch->p. */
static int
begin(struct cli *c, int argc, char **argv, const struct option *opts,
      struct change *ch)
{
	const char *arg;
	int opt;

	memset(ch, 0, sizeof(*ch));
	while ((opt = util_getopt(argc, argv, ":h", opts)) != -1) {
		if (opt < C_OUTCOME || opt > C_JSON)
			return cli_bad_option(c, opt, argv);
		take(c, ch, opt);
	}
	if ((arg = cli_one_operand(c, argc, argv, optind)) == NULL)
		return EX_USAGE;
	if ((ch->note && cli_check_text("--note", ch->note, CLI_MAX_DETAILS, 1)) ||
	    (ch->reason &&
	     cli_check_text("--reason", ch->reason, CLI_MAX_DETAILS, 1)) ||
	    (ch->to && cli_check_text("--to", ch->to, CLI_MAX_FIELD, 0)) ||
	    (ch->team && cli_check_text("--team", ch->team, CLI_MAX_FIELD, 0)))
		return EX_DATAERR;
	return cli_load_promise(c, arg, &ch->p);
}

static const char *
tz_of(const struct cli *c, const struct promise *p)
{
	return cli_tz(cli_site_of(c, p->site));
}

/* Reports the store's answer: the message (or JSON) on success. */
static int
finish(struct cli *c, struct change *ch, int rc, const char *msg)
{
	if (rc != STORE_OK)
		rc = cli_store_fail(rc, ch->err);
	else
		rc = cli_report_change(c, ch->p.id, msg);
	promise_clear(&ch->p);
	return rc;
}

static int
not_closed(struct change *ch)
{
	if (ch->p.state != PROMISE_CLOSED)
		return 0;
	cli_err("promise %" PRId64 " is closed (%s); reopen it first", ch->p.id,
		promise_outcome_name(ch->p.outcome));
	promise_clear(&ch->p);
	return EX_DATAERR;
}

int
cli_cmd_done(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "outcome", required_argument, NULL, C_OUTCOME },
		{ "note", required_argument, NULL, C_NOTE },
		OPT_JSON, OPT_HELP, OPT_END,
	};
	enum promise_outcome o = OUTCOME_KEPT;
	struct change ch;
	struct promise after;
	char msg[256], due[64];
	int rc;

	if ((rc = begin(c, argc, argv, opts, &ch)) != 0)
		return rc;
	if (ch.outcome && (promise_outcome_parse(ch.outcome, &o) != 0 ||
			   (o != OUTCOME_KEPT && o != OUTCOME_CANCELLED))) {
		promise_clear(&ch.p);
		return cli_usage_err(c, "--outcome is kept or cancelled, not '%s'",
				     ch.outcome);
	}
	if ((rc = not_closed(&ch)) != 0)
		return rc;
	rc = store_close_promise(c->st, ch.p.id, o, c->actor, ch.note, c->now,
				 ch.err, sizeof(ch.err));
	memset(&after, 0, sizeof(after));
	if (rc == STORE_OK)
		rc = store_get(c->st, ch.p.id, &after, ch.err, sizeof(ch.err));
	cli_fmt_local(tz_of(c, &ch.p), ch.p.due_at, 1, due, sizeof(due));
	if (after.outcome == OUTCOME_LATE)
		(void)snprintf(msg, sizeof(msg), "closed promise %" PRId64
			       ": late (due was %s)", ch.p.id, due);
	else
		(void)snprintf(msg, sizeof(msg),
			       "closed promise %" PRId64 ": %s",
			       ch.p.id, promise_outcome_name(after.outcome));
	promise_clear(&after);
	return finish(c, &ch, rc, msg);
}

int
cli_cmd_ack(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, OPT_HELP, OPT_END };
	struct change ch;
	char msg[128];
	int rc;

	if ((rc = begin(c, argc, argv, opts, &ch)) != 0 ||
	    (rc = not_closed(&ch)) != 0)
		return rc;
	rc = store_ack(c->st, ch.p.id, c->actor, c->now, ch.err, sizeof(ch.err));
	(void)snprintf(msg, sizeof(msg), "acked promise %" PRId64, ch.p.id);
	return finish(c, &ch, rc, msg);
}

int
cli_cmd_snooze(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "until", required_argument, NULL, C_UNTIL },
		{ "for", required_argument, NULL, C_FOR },
		OPT_JSON, OPT_HELP, OPT_END,
	};
	struct change ch;
	int64_t until = 0, d = 0;
	char msg[256], when[64];
	int rc;

	if ((rc = begin(c, argc, argv, opts, &ch)) != 0)
		return rc;
	if ((ch.until == NULL) == (ch.forlen == NULL)) {
		rc = cli_usage_err(c, "give either --until WHEN or --for DURATION");
	} else if (ch.forlen) {
		if (util_parse_duration(ch.forlen, &d) != 0 || d <= 0) {
			cli_err("--for: '%s' is not a duration such as 30m or 2h",
				ch.forlen);
			rc = EX_DATAERR;
		}
		until = c->now + d;
	} else {
		rc = cli_parse_due(c, "--until", ch.until,
				   cli_site_of(c, ch.p.site), &until);
	}
	if (rc == 0 && until <= c->now) {
		cli_fmt_local(tz_of(c, &ch.p), until, 1, when, sizeof(when));
		cli_err("--until %s is not in the future", when);
		rc = EX_DATAERR;
	}
	if (rc == 0)
		rc = not_closed(&ch);
	if (rc != 0) {
		promise_clear(&ch.p);
		return rc;
	}
	rc = store_snooze(c->st, ch.p.id, until, c->actor, c->now, ch.err,
			  sizeof(ch.err));
	cli_fmt_local(tz_of(c, &ch.p), until, 1, when, sizeof(when));
	(void)snprintf(msg, sizeof(msg), "snoozed promise %" PRId64 " until %s",
		       ch.p.id, when);
	return finish(c, &ch, rc, msg);
}

int
cli_cmd_reassign(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, C_TO },
		{ "team", required_argument, NULL, C_TEAM },
		OPT_JSON, OPT_HELP, OPT_END,
	};
	const struct cfg_staff *to;
	const char *team;
	struct change ch;
	char msg[256], known[512];
	int rc;

	if ((rc = begin(c, argc, argv, opts, &ch)) != 0)
		return rc;
	if (ch.to == NULL) {
		promise_clear(&ch.p);
		return cli_usage_err(c, "--to STAFF is required");
	}
	if ((to = config_staff(c->cfg, ch.to)) == NULL) {
		cli_staff_ids(c->cfg, known, sizeof(known));
		cli_err("unknown owner '%s' (known: %s)", ch.to, known);
		promise_clear(&ch.p);
		return EX_DATAERR;
	}
	/* The promise follows the new owner into their team unless told. */
	team = ch.team ? ch.team : to->team;
	if (team && config_team(c->cfg, team) == NULL) {
		cli_err("unknown team '%s'", team);
		promise_clear(&ch.p);
		return EX_DATAERR;
	}
	if ((rc = not_closed(&ch)) != 0)
		return rc;
	rc = store_reassign(c->st, ch.p.id, to->id, team, c->actor, c->now,
			    ch.err, sizeof(ch.err));
	(void)snprintf(msg, sizeof(msg),
		       "reassigned promise %" PRId64 " from %s to %s",
		       ch.p.id, ch.p.owner ? ch.p.owner : "-", to->id);
	return finish(c, &ch, rc, msg);
}

int
cli_cmd_renegotiate(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "due", required_argument, NULL, C_DUE },
		{ "reason", required_argument, NULL, C_REASON },
		{ "force", no_argument, NULL, C_FORCE },
		OPT_JSON, OPT_HELP, OPT_END,
	};
	struct change ch;
	int64_t due = 0;
	char msg[256], was[64], now[64];
	int rc;

	if ((rc = begin(c, argc, argv, opts, &ch)) != 0)
		return rc;
	if (ch.due == NULL || ch.reason == NULL || ch.reason[0] == '\0')
		rc = cli_usage_err(c, "--due WHEN and --reason TEXT are required");
	else
		rc = cli_parse_due(c, "--due", ch.due, cli_site_of(c, ch.p.site),
				   &due);
	cli_fmt_local(tz_of(c, &ch.p), due, 1, now, sizeof(now));
	if (rc == 0 && due < c->now && !ch.force) {
		cli_err("due %s is in the past; use --force to set it anyway", now);
		rc = EX_DATAERR;
	}
	if (rc == 0)
		rc = not_closed(&ch);
	if (rc != 0) {
		promise_clear(&ch.p);
		return rc;
	}
	rc = store_renegotiate(c->st, ch.p.id, due, ch.reason, c->actor, c->now,
			       ch.err, sizeof(ch.err));
	cli_fmt_local(tz_of(c, &ch.p), ch.p.due_at, 1, was, sizeof(was));
	(void)snprintf(msg, sizeof(msg), "renegotiated promise %" PRId64
		       ": due %s (was %s)", ch.p.id, now, was);
	return finish(c, &ch, rc, msg);
}

int
cli_cmd_reopen(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, C_REASON },
		OPT_JSON, OPT_HELP, OPT_END,
	};
	struct change ch;
	char msg[128];
	int rc;

	if ((rc = begin(c, argc, argv, opts, &ch)) != 0)
		return rc;
	if (ch.p.state != PROMISE_CLOSED) {
		cli_err("promise %" PRId64 " is not closed (%s)", ch.p.id,
			promise_state_name(ch.p.state));
		promise_clear(&ch.p);
		return EX_DATAERR;
	}
	rc = store_reopen(c->st, ch.p.id, ch.reason, c->actor, c->now, ch.err,
			  sizeof(ch.err));
	(void)snprintf(msg, sizeof(msg), "reopened promise %" PRId64, ch.p.id);
	return finish(c, &ch, rc, msg);
}
