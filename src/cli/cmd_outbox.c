/*
 * cmd_outbox: the delivery side of promisectl — `outbox` (what is waiting,
 * retrying or dead, as a table or JSON), `outbox retry ID` (send a dead or
 * retrying notification again now) and `test-channel NAME --to STAFF`
 * (render a made-up reminder and send it through one channel at once,
 * printing what the far side answered).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/message.h"
#include "promised/netsend.h"
#include "promised/notify.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define OUTBOX_DEFAULT_LIMIT 50
#define TEST_TIMEOUT_MS 30000
#define RESPONSE_SHOWN 2000   /* bytes of a response body printed */

enum { O_STATE = 1000, O_PROMISE, O_LIMIT, O_JSON, O_TO };

struct outbox_args {
	int state;              /* -1: any */
	int64_t promise_id;     /* 0: any */
	int64_t limit;
};

/* One table cell: control characters as spaces, cut at width (on a
 * character boundary) with "…" when longer. */
static void
cell(char *buf, size_t buflen, const char *s, size_t width)
{
	size_t i, chars = 0;

	notify_sanitize(buf, buflen, s ? s : "-");
	for (i = 0; buf[i] != '\0'; i++) {
		if (((unsigned char)buf[i] & 0xC0) == 0x80)
			continue;
		if (++chars > width) {
			util_strlcpy(buf + i, "…", buflen - i);
			return;
		}
	}
}

/* ", "key": value" with value a JSON string or null. */
static void
json_field(FILE *f, const char *key, const char *val)
{
	(void)fprintf(f, ", \"%s\": ", key);
	cli_json_str(f, val);
}

/* An instant as ISO-8601 UTC, or null for 0 (unset). */
static void
json_time(FILE *f, const char *key, int64_t t)
{
	char when[32];

	util_format_utc(t, when, sizeof(when));
	json_field(f, key, t > 0 ? when : NULL);
}

static void
print_row_json(FILE *f, const struct notification *n, int first)
{
	(void)fprintf(f, "%s\n  {\"id\": %" PRId64 ", \"promise_id\": %" PRId64,
		      first ? "" : ",", n->id, n->promise_id);
	json_field(f, "state", notif_state_name(n->state));
	json_field(f, "channel", n->channel);
	json_field(f, "recipient", n->recipient);
	json_field(f, "step", n->step);
	(void)fprintf(f, ", \"attempts\": %d, \"late\": %s", n->attempts,
		      n->late ? "true" : "false");
	json_time(f, "next_try_at", n->next_try_at);
	json_time(f, "sent_at", n->sent_at);
	json_field(f, "last_error", n->last_error);
	json_field(f, "provider_id", n->provider_id);
	json_field(f, "subject", n->subject);
	json_field(f, "idem_key", n->idem_key);
	(void)fprintf(f, "}");
}

static void
print_table(FILE *f, const struct cli *c, const struct notification *arr,
	    size_t n)
{
	const char *tz = cli_tz(cli_site_of(c, NULL));
	char ch[64], rc[64], err[160], subj[256], when[64];
	size_t i;

	(void)fprintf(f, "%-6s %-8s %-10s %-10s %8s  %-16s %-30s %s\n", "ID",
		      "STATE", "CHANNEL", "RECIPIENT", "ATTEMPTS", "NEXT TRY",
		      "LAST ERROR", "SUBJECT");
	for (i = 0; i < n; i++) {
		const struct notification *r = &arr[i];
		int waiting = r->state == NOTIF_PENDING ||
			      r->state == NOTIF_RETRY;

		cell(ch, sizeof(ch), r->channel, 10);
		cell(rc, sizeof(rc), r->recipient, 10);
		cell(err, sizeof(err), r->last_error ? r->last_error : "-", 30);
		cell(subj, sizeof(subj), r->subject ? r->subject : "-", 60);
		if (waiting && r->next_try_at > 0)
			cli_fmt_local(tz, r->next_try_at, 0, when, sizeof(when));
		else
			util_strlcpy(when, "-", sizeof(when));
		(void)fprintf(f,
			      "%-6" PRId64 " %-8s %-10s %-10s %8d  %-16s "
			      "%-30s %s\n", r->id, notif_state_name(r->state),
			      ch, rc, r->attempts, when, err, subj);
	}
}

static int
outbox_retry(struct cli *c, int argc, char **argv, int idx)
{
	char err[512] = "";
	int64_t id;
	int rc;

	if (idx + 1 >= argc)
		return cli_usage_err(c, "retry: which notification? give its ID");
	if (idx + 2 < argc)
		return cli_usage_err(c, "unexpected argument '%s'", argv[idx + 2]);
	if (util_parse_int64(argv[idx + 1], 1, INT64_MAX, &id) != 0)
		return cli_usage_err(c, "retry: '%s' is not a notification ID",
				     argv[idx + 1]);
	rc = store_outbox_retry(c->st, id, c->now, err, sizeof(err));
	if (rc != STORE_OK)
		return cli_store_fail(rc, err);
	if (c->json)
		printf("{\"id\": %" PRId64 ", \"state\": \"pending\"}\n", id);
	else
		printf("notification %" PRId64 " queued again\n", id);
	return EX_OK;
}

static int
outbox_args(struct cli *c, int argc, char **argv, struct outbox_args *a)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, O_STATE },
		{ "promise", required_argument, NULL, O_PROMISE },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	enum notif_state st;
	int opt;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		switch (opt) {
		case O_STATE:
			if (notif_state_parse(optarg, &st) != 0)
				return cli_usage_err(c, "--state: '%s' is not one "
						     "of pending, sending, sent, "
						     "retry, dead", optarg);
			a->state = (int)st;
			break;
		case O_PROMISE:
			if (util_parse_int64(optarg, 1, INT64_MAX,
					     &a->promise_id) != 0)
				return cli_usage_err(c, "--promise: '%s' is not "
						     "a promise ID", optarg);
			break;
		case O_LIMIT:
			if (util_parse_int64(optarg, 1, 100000, &a->limit) != 0)
				return cli_usage_err(c, "--limit: '%s' is not a "
						     "number from 1 to 100000",
						     optarg);
			break;
		case O_JSON: c->json = 1; break;
		default: return cli_bad_option(c, opt, argv);
		}
	}
	return 0;
}

int
cli_cmd_outbox(struct cli *c, int argc, char **argv)
{
	struct outbox_args a = { -1, 0, OUTBOX_DEFAULT_LIMIT };
	struct notification *arr = NULL;
	char err[512] = "";
	size_t n = 0, i;
	int rc;

	rc = outbox_args(c, argc, argv, &a);
	if (rc != 0)
		return rc;
	if (optind < argc && strcmp(argv[optind], "retry") == 0)
		return outbox_retry(c, argc, argv, optind);
	if (optind < argc)
		return cli_usage_err(c, "unexpected argument '%s'", argv[optind]);
	rc = store_outbox_list(c->st, a.state, a.promise_id, (size_t)a.limit,
			       &arr, &n, err, sizeof(err));
	if (rc != STORE_OK)
		return cli_store_fail(rc, err);
	if (c->json) {
		printf("[");
		for (i = 0; i < n; i++)
			print_row_json(stdout, &arr[i], i == 0);
		printf("%s]\n", n ? "\n" : "");
	} else if (n == 0) {
		printf("no notifications\n");
	} else {
		print_table(stdout, c, arr, n);
	}
	notification_free_array(arr, n);
	return EX_OK;
}

/* ---- test-channel ------------------------------------------------------ */

/* What the far side said. */
struct answer {
	int done;
	enum netsend_result result;
	long status;
	int64_t retry_after;
	char detail[512];
	char *response;
	char provider[256];
};

static void
on_done(void *cb_ctx, const struct netsend_done *d)
{
	struct answer *a = cb_ctx;

	a->done = 1;
	a->result = d->result;
	a->status = d->status;
	a->retry_after = d->retry_after;
	util_strlcpy(a->detail, d->detail ? d->detail : "", sizeof(a->detail));
	util_strlcpy(a->provider, d->provider_id ? d->provider_id : "",
		     sizeof(a->provider));
	free(a->response);
	a->response = xstrdup(d->response ? d->response : "");
}

static const char *const result_names[] = {
	[NETSEND_OK] = "delivered",
	[NETSEND_RETRY] = "failed for now (would be retried)",
	[NETSEND_PERMANENT] = "failed for good (would not be retried)",
};

static void
print_answer(const struct answer *a)
{
	size_t len = strlen(a->response);

	printf("result: %s\n", (size_t)a->result < 3 ? result_names[a->result]
						      : "unknown");
	if (a->status != 0)
		printf("status: %ld\n", a->status);
	if (a->detail[0] != '\0')
		printf("detail: %s\n", a->detail);
	if (a->retry_after >= 0)
		printf("retry after: %" PRId64 "s\n", a->retry_after);
	if (a->provider[0] != '\0')
		printf("provider id: %s\n", a->provider);
	if (len > 0)
		printf("response (%zu bytes):\n%.*s%s\n", len,
		       (int)(len > RESPONSE_SHOWN ? RESPONSE_SHOWN : len),
		       a->response, len > RESPONSE_SHOWN ? "\n[...]" : "");
}

/* smtp and webhook: through netsend, waiting for the answer here. */
static int
send_network(const struct cfg_channel *ch, const struct notification *n,
	     const struct message_out *m, int64_t now)
{
	struct answer a;
	struct netsend *ns;
	char err[512] = "";
	int rc = EX_UNAVAILABLE, q;

	memset(&a, 0, sizeof(a));
	ns = netsend_new(NULL, NULL, NULL, on_done, &a, err, sizeof(err));
	if (ns == NULL) {
		cli_err("test-channel: %s", err);
		return EX_SOFTWARE;
	}
	if (ch->type == CFG_CHANNEL_SMTP)
		q = netsend_smtp(ns, ch, m->rcpt, m->data, m->len, NULL, err,
				 sizeof(err));
	else
		q = netsend_http(ns, ch, n->idem_key, m->data, m->len, now, NULL,
				 err, sizeof(err));
	if (q != 0) {
		cli_err("test-channel: %s", err);
		goto out;
	}
	if (netsend_run(ns, TEST_TIMEOUT_MS) != 0 || !a.done) {
		cli_err("test-channel: no answer within %d s", TEST_TIMEOUT_MS / 1000);
		goto out;
	}
	print_answer(&a);
	rc = a.result == NETSEND_OK ? EX_OK : EX_UNAVAILABLE;
out:
	netsend_free(ns);
	free(a.response);
	return rc;
}

/* log and maildir: delivered by notify before it returns. */
static int
send_local(struct cli *c, const struct template_set *tpl,
	   const struct cfg_channel *ch, struct notification *n,
	   const struct promise *p, const struct cfg_staff *to)
{
	char err[512] = "", provider[256] = "";
	int rc;

	if (message_render_text(c->cfg, tpl, n, p, NULL, 0, c->now, &n->subject,
				&n->body, err, sizeof(err)) != 0) {
		cli_err("test-channel: cannot render the message: %s", err);
		return EX_CONFIG;
	}
	rc = notify_send(ch, n, to, provider, sizeof(provider), err,
			 sizeof(err));
	printf("result: %s\n", rc == NOTIFY_OK ? "delivered"
			       : rc == NOTIFY_TEMP ? "failed for now"
						   : "failed for good");
	if (err[0] != '\0')
		printf("detail: %s\n", err);
	if (provider[0] != '\0')
		printf("provider id: %s\n", provider);
	return rc == NOTIFY_OK ? EX_OK : EX_UNAVAILABLE;
}

/* The made-up promise and notification of a test message: a reminder,
 * due in an hour, owned by the recipient. */
static void
test_message(struct cli *c, const struct cfg_channel *ch,
	     const struct cfg_staff *to, struct promise *p,
	     struct notification *n)
{
	const struct cal_site *site = cli_site_of(c, NULL);

	memset(p, 0, sizeof(*p));
	memset(n, 0, sizeof(*n));
	p->title = xstrdup("Test message from promised");
	p->customer_name = xstrdup("Test Customer");
	p->owner = xstrdup(to->id);
	p->site = site ? xstrdup(site->id) : NULL;
	p->ref = xstrdup("test");
	p->due_at = c->now + 3600;
	p->created_at = c->now;
	n->step = xstrdup("test");
	n->channel = xstrdup(ch->name);
	n->recipient = xstrdup(to->id);
	/* Unique per second: a gateway that drops repeats still takes the
	 * next test. */
	n->idem_key = xasprintf("test/%s/%s/%" PRId64, ch->name, to->id,
				c->now);
	n->scheduled_at = c->now;
	n->created_at = c->now;
	n->state = NOTIF_SENDING;
}

static int
test_load_config(struct cli *c)
{
	struct config_errors errs = { 0 };
	size_t i;

	c->cfg = config_load(c->config_path, &errs);
	if (c->cfg != NULL)
		return 0;
	cli_err("cannot load config %s:", c->config_path);
	for (i = 0; i < errs.n; i++)
		(void)fprintf(stderr, "%s\n", errs.msg[i]);
	config_errors_clear(&errs);
	return EX_CONFIG;
}

/* Sends the test message of ch to `to`; the templates are loaded here. */
static int
test_send(struct cli *c, const struct cfg_channel *ch,
	  const struct cfg_staff *to)
{
	struct template_set *tpl;
	struct message_out m;
	struct promise p;
	struct notification n;
	char err[1024] = "";
	int permanent = 0, rc = EX_CONFIG;

	tpl = template_set_load(c->cfg->templates.dir, c->cfg->templates.override,
				err, sizeof(err));
	if (tpl == NULL) {
		cli_err("test-channel: message templates: %s", err);
		return EX_CONFIG;
	}
	memset(&m, 0, sizeof(m));
	test_message(c, ch, to, &p, &n);
	if (ch->type == CFG_CHANNEL_LOG || ch->type == CFG_CHANNEL_MAILDIR) {
		rc = send_local(c, tpl, ch, &n, &p, to);
		goto out;
	}
	if (message_render(c->cfg, tpl, ch, &n, &p, NULL, 0, c->now, &m,
			   &permanent, err, sizeof(err)) != 0) {
		cli_err("test-channel: %s", err);
		rc = permanent ? EX_DATAERR : EX_SOFTWARE;
		goto out;
	}
	printf("sending to %s through %s (%s)\n", m.rcpt, ch->name,
	       m.subject ? m.subject : "");
	/* Shown before a slow send; main's final fflush and ferror catch
	 * a failed write. */
	(void)fflush(stdout);
	rc = send_network(ch, &n, &m, c->now);
out:
	message_out_clear(&m);
	notification_clear(&n);
	promise_clear(&p);
	template_set_free(tpl);
	return rc;
}

int
cli_cmd_test_channel(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, O_TO },
		{ NULL, 0, NULL, 0 },
	};
	const struct cfg_channel *ch;
	const struct cfg_staff *to;
	const char *to_id = NULL;
	int opt, rc;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		if (opt != O_TO)
			return cli_bad_option(c, opt, argv);
		to_id = optarg;
	}
	if (optind >= argc)
		return cli_usage_err(c, "which channel? give its NAME");
	if (optind + 1 < argc)
		return cli_usage_err(c, "unexpected argument '%s'",
				     argv[optind + 1]);
	if (to_id == NULL)
		return cli_usage_err(c, "--to STAFF is required");
	rc = test_load_config(c);
	if (rc != 0)
		return rc;
	ch = config_channel(c->cfg, argv[optind]);
	if (ch == NULL) {
		cli_err("test-channel: no channel '%s' in %s", argv[optind],
			c->config_path);
		return EX_DATAERR;
	}
	to = config_staff(c->cfg, to_id);
	if (to == NULL) {
		cli_err("test-channel: '%s' is not on staff in %s", to_id,
			c->config_path);
		return EX_DATAERR;
	}
	return test_send(c, ch, to);
}
