/*
 * test_message: which message a notification is (reminder, last call,
 * lapse, escalation by its step instant), the variables filled from the
 * promise, the staff and the timeline in each language, emails per locale
 * from the shipped templates, webhook bodies escaped for JSON and form
 * encoding, permanent errors for recipients without an address, and no
 * header made from a customer name holding CR LF.  Expected strings are
 * worked out by hand: 2026-12-04 is a Friday (2026-01-01 is a Thursday,
 * 337 days earlier), and Brussels is UTC+1 in December.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/config.h"
#include "promised/message.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

/* 2026-12-04T16:00:00Z = Fri 4 Dec 17:00 in Brussels. */
#define DUE INT64_C(1796400000)

struct fx {
	char dir[64];
	struct config *cfg;
	struct template_set *tpl;      /* shipped templates */
	struct template_set *vars;     /* overrides that print variables */
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char config_yaml[] =
	"database: x.db\n"
	"sites:\n"
	"  ghent:\n"
	"    timezone: Europe/Brussels\n"
	"    hours:\n"
	"      mon: [08:00-18:00]\n"
	"staff:\n"
	"  - {id: emma, name: Emma Claes, email: emma@example.com,"
	" phone: \"+32470100302\", locale: en}\n"
	"  - {id: tom, name: Tom Willems, email: tom@example.com,"
	" phone: \"+32470100301\", locale: nl}\n"
	"  - {id: luc, name: Luc Lambert, email: luc@example.com,"
	" phone: \"+32470100401\", locale: fr}\n"
	"  - {id: nomail, name: No Mail, locale: en}\n"
	"channels:\n"
	"  mail: {type: maildir, path: maildir}\n"
	"  smtp: {type: smtp, url: \"smtp://127.0.0.1:2525\","
	" starttls: never, from: \"Garage <noreply@example.com>\"}\n"
	"  log: {type: log}\n"
	"  sms:\n"
	"    type: webhook\n"
	"    url: http://127.0.0.1:9/sms\n"
	"    body: '{\"to\": \"{{recipient_phone}}\", \"text\": \"{{text}}\","
	" \"name\": \"{{customer_name}}\", \"id\": \"{{idem_key}}\"}'\n"
	"  form:\n"
	"    type: webhook\n"
	"    url: http://127.0.0.1:9/form\n"
	"    content_type: application/x-www-form-urlencoded\n"
	"    body: \"To={{recipient_phone}}&Name={{customer_name}}\"\n"
	"templates:\n"
	"  dir: %s/config/templates\n";

/* Every variable the tests look at, on one line each. */
static const char vars_txt[] =
	"due_local={{due_local}}\n"
	"due_relative={{due_relative}}\n"
	"due_iso={{due_iso}}\n"
	"tel={{customer_tel_uri}}\n"
	"code={{short_code}}\n"
	"owner={{owner_name}}/{{owner_id}}\n"
	"to={{recipient_name}}/{{recipient_email}}/{{recipient_phone}}\n"
	"kind={{kind}} step={{step}} id={{promise_id}} vin={{vin}}\n"
	"late={{late_note}}\n"
	"history:\n{{history}}\n";

static int
setup(void **state)
{
	const char *src = getenv("PROMISED_SOURCE_DIR");
	struct config_errors errs = { 0 };
	struct fx *f = xcalloc(1, sizeof(*f));
	char path[256], *yaml, err[1024] = "";
	const char *const loc[] = { "en", "nl", "fr" };
	size_t i;

	*state = f;
	util_strlcpy(f->dir, "/tmp/test_message.XXXXXX", sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
	yaml = xasprintf(config_yaml, src ? src : ".");
	snprintf(path, sizeof(path), "%s/p.yaml", f->dir);
	write_file(path, yaml);
	free(yaml);
	f->cfg = config_load(path, &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	config_errors_clear(&errs);
	assert_non_null(f->cfg);
	f->tpl = template_set_load(f->cfg->templates.dir, NULL, err, sizeof(err));
	assert_non_null(f->tpl);
	snprintf(path, sizeof(path), "%s/over", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/over/%s", f->dir, loc[i]);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/over/%s/escalation.txt", f->dir,
			 loc[i]);
		write_file(path, vars_txt);
		snprintf(path, sizeof(path), "%s/over/%s/reminder.txt", f->dir,
			 loc[i]);
		write_file(path, vars_txt);
	}
	snprintf(path, sizeof(path), "%s/over", f->dir);
	f->vars = template_set_load(f->cfg->templates.dir, path, err,
				    sizeof(err));
	if (f->vars == NULL)
		fprintf(stderr, "%s\n", err);
	assert_non_null(f->vars);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	if (f == NULL)
		return 0;
	template_set_free(f->tpl);
	template_set_free(f->vars);
	config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A promise due DUE owned by emma, and its notification to `to`. */
static void
make(struct promise *p, struct notification *n, const char *to,
     const char *customer, int64_t sched)
{
	memset(p, 0, sizeof(*p));
	memset(n, 0, sizeof(*n));
	p->id = 42;
	p->title = (char *)"Call back about the brake quote";
	p->customer_name = (char *)customer;
	p->customer_phone = (char *)"+32 470 12 34 56";
	p->vehicle = (char *)"VW Golf 1-ABC-123";
	p->vin = (char *)"1M8GDM9AXKP042788";
	p->owner = (char *)"emma";
	p->site = (char *)"ghent";
	p->ref = (char *)"RO-1";
	p->due_at = DUE;
	n->id = 123456;
	n->promise_id = 42;
	n->step = (char *)"reminder";
	n->recipient = (char *)to;
	n->idem_key = (char *)"42/0/0/emma/mail/1796400000";
	n->scheduled_at = sched;
}

static void
test_kind(void **state)
{
	static const struct {
		int64_t off;
		const char *kind;
	} cases[] = {
		{ -7200, "reminder" },
		{ -1801, "reminder" },
		{ -1800, "last_call" },      /* 30 min before: within the window */
		{ -900, "last_call" },
		{ -61, "last_call" },
		{ -60, "lapse" },            /* due +-60 s */
		{ 0, "lapse" },
		{ 60, "lapse" },
		{ 61, "escalation" },
		{ 3600, "escalation" },
	};
	struct promise p;
	struct notification n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		make(&p, &n, "emma", "Jan", DUE + cases[i].off);
		assert_string_equal(message_kind(&n, &p), cases[i].kind);
	}
}

/* The line of text that starts with key. */
static void
assert_line(const char *text, const char *line)
{
	char *want = xasprintf("\n%s\n", line), *hay = xasprintf("\n%s\n", text);

	if (strstr(hay, want) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
	free(want);
	free(hay);
}

static void
render_vars(struct fx *f, const char *to, int64_t sched, int64_t now,
	    const struct event *ev, size_t nev, int late, char **text)
{
	struct promise p;
	struct notification n;
	char *subject = NULL, err[512] = "";

	make(&p, &n, to, "Jan Peeters", sched);
	n.late = late;
	assert_int_equal(message_render_text(f->cfg, f->vars, &n, &p, ev, nev,
					     now, &subject, text, err,
					     sizeof(err)), 0);
	free(subject);
}

static void
test_vars_en(void **state)
{
	struct fx *f = *state;
	struct event ev[7];
	char *t = NULL;
	size_t i;

	memset(ev, 0, sizeof(ev));
	for (i = 0; i < 7; i++) {
		ev[i].at = DUE - 7200 + (int64_t)i * 60;
		ev[i].kind = EVENT_NOTE;
		ev[i].detail = (char *)"x";
	}
	ev[6].kind = EVENT_REMINDED;
	ev[6].detail = (char *)"mail\nsecond line";
	ev[6].at = DUE - 3600;     /* 15:00Z = 16:00 in Brussels */
	render_vars(f, "emma", DUE - 7200, DUE - 7200, ev, 7, 0, &t);
	assert_line(t, "due_local=Fri 4 Dec 17:00");
	assert_line(t, "due_relative=in 2 h");
	assert_line(t, "due_iso=2026-12-04T16:00:00Z");
	assert_line(t, "tel=tel:+32470123456");
	assert_line(t, "code=7456");
	assert_line(t, "owner=Emma Claes/emma");
	assert_line(t, "to=Emma Claes/emma@example.com/+32470100302");
	assert_line(t, "kind=reminder step=reminder id=42 "
		       "vin=1M8GDM9AXKP042788");
	assert_line(t, "late=");
	/* Only the last five events; a detail stays on its line. */
	assert_line(t, "Fri 4 Dec 16:00 reminded (mail second line)");
	assert_line(t, "Fri 4 Dec 15:02 note (x)");
	assert_null(strstr(t, "15:01"));
	assert_null(strstr(t, "15:00 note"));
	free(t);
}

static void
test_vars_locales(void **state)
{
	struct fx *f = *state;
	char *t = NULL;

	/* Escalation three hours after due, sent late. */
	render_vars(f, "tom", DUE + 3 * 3600, DUE + 3 * 3600, NULL, 0, 1, &t);
	assert_line(t, "due_local=vr 4 dec 17:00");
	assert_line(t, "due_relative=3 u te laat");
	assert_line(t, "kind=escalation step=reminder id=42 "
		       "vin=1M8GDM9AXKP042788");
	assert_non_null(strstr(t, "late=Laat verstuurd"));
	assert_non_null(strstr(t, "(vr 4 dec 20:00)"));
	free(t);
	render_vars(f, "luc", DUE + 3 * 3600, DUE + 3 * 3600, NULL, 0, 0, &t);
	assert_line(t, "due_local=ven. 4 d\xc3\xa9" "c. 17:00");
	assert_line(t, "due_relative=3 h de retard");
	assert_line(t, "late=");
	free(t);
	render_vars(f, "luc", DUE - 7200, DUE - 7200, NULL, 0, 0, &t);
	assert_line(t, "due_relative=dans 2 h");
	free(t);
	render_vars(f, "tom", DUE - 7200, DUE - 7200 - 45 * 60, NULL, 0, 0, &t);
	assert_line(t, "due_relative=over 2 u 45 min");
	free(t);
	render_vars(f, "emma", DUE + 3 * 3600, DUE + 3 * 3600, NULL, 0, 0, &t);
	assert_line(t, "due_relative=3 h late");
	free(t);
}

static int
render(struct fx *f, const char *channel, const char *to,
       const char *customer, struct message_out *out, int *perm,
       char *err, size_t errlen)
{
	struct promise p;
	struct notification n;

	make(&p, &n, to, customer, DUE - 7200);
	return message_render(f->cfg, f->tpl, config_channel(f->cfg, channel),
			      &n, &p, NULL, 0, DUE - 7200, out, perm, err,
			      errlen);
}

static void
test_email_locales(void **state)
{
	static const char *const who[] = { "emma", "tom", "luc" };
	struct fx *f = *state;
	struct message_out out;
	char err[512] = "";
	int perm = 0;
	size_t i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(render(f, "mail", who[i], "Zo\xc3\xab Fran\xc3\xa7"
					"ois", &out, &perm, err, sizeof(err)), 0);
		/* é, ë and ç make every subject an encoded word. */
		assert_non_null(strstr(out.data, "\r\nSubject: =?UTF-8?B?"));
		assert_non_null(strstr(out.data, "multipart/alternative"));
		assert_non_null(strstr(out.data, "Content-Type: text/plain; "
					"charset=UTF-8"));
		assert_non_null(strstr(out.data, "Content-Type: text/html; "
					"charset=UTF-8"));
		assert_non_null(strstr(out.data, "Message-ID: <42/0/0/emma/mail/"
					"1796400000@promised.invalid>"));
		assert_non_null(strstr(out.data, "From: promised "
					"<promised@localhost>"));
		assert_non_null(strstr(out.rcpt, "@example.com"));
		assert_non_null(strstr(out.subject, "Call back about the brake"));
		message_out_clear(&out);
	}
	assert_int_equal(render(f, "smtp", "luc", "Jan", &out, &perm, err,
				sizeof(err)), 0);
	assert_non_null(strstr(out.data, "From: Garage <noreply@example.com>"));
	assert_non_null(strstr(out.data, "To: Luc Lambert <luc@example.com>"));
	assert_string_equal(out.rcpt, "luc@example.com");
	/* "Rappel : ... échéance ven. 4 déc. 17:00" */
	assert_non_null(strstr(out.subject, "\xc3\xa9" "ch\xc3\xa9" "ance ven. "
			       "4 d\xc3\xa9" "c. 17:00"));
	message_out_clear(&out);
}

static void
test_webhook_json(void **state)
{
	struct fx *f = *state;
	struct message_out out;
	char err[512] = "";
	int perm = 0;

	assert_int_equal(render(f, "sms", "emma", "Jan \"The Hammer\"\nPeeters "
				"\xe2\x98\x83\\", &out, &perm, err,
				sizeof(err)), 0);
	assert_string_equal(out.rcpt, "+32470100302");
	assert_non_null(strstr(out.data, "\"to\": \"+32470100302\""));
	assert_non_null(strstr(out.data, "\"name\": \"Jan \\\"The Hammer\\\"\\n"
			       "Peeters \xe2\x98\x83\\\\\""));
	assert_non_null(strstr(out.data, "\"id\": \"42/0/0/emma/mail/"
			       "1796400000\""));
	/* The SMS text went in escaped as well: the one raw newline is none. */
	assert_non_null(strstr(out.data, "\"text\": \"Reminder: Call back"));
	assert_null(strchr(out.data, '\n'));
	assert_int_equal(out.len, strlen(out.data));
	message_out_clear(&out);
}

static void
test_webhook_form(void **state)
{
	struct fx *f = *state;
	struct message_out out;
	char err[512] = "";
	int perm = 0;

	assert_int_equal(render(f, "form", "tom", "A B&C=\xc3\xa9", &out, &perm,
				err, sizeof(err)), 0);
	assert_string_equal(out.data, "To=%2B32470100301&Name=A+B%26C%3D%C3%A9");
	message_out_clear(&out);
}

static void
test_permanent(void **state)
{
	struct fx *f = *state;
	struct message_out out;
	char err[512] = "";
	int perm = 0;

	assert_int_equal(render(f, "smtp", "nomail", "Jan", &out, &perm, err,
				sizeof(err)), -1);
	assert_int_equal(perm, 1);
	assert_non_null(strstr(err, "no email"));
	assert_null(out.data);
	perm = 0;
	assert_int_equal(render(f, "mail", "nomail", "Jan", &out, &perm, err,
				sizeof(err)), -1);
	assert_int_equal(perm, 1);
	perm = 0;
	assert_int_equal(render(f, "sms", "nomail", "Jan", &out, &perm, err,
				sizeof(err)), -1);
	assert_int_equal(perm, 1);
	assert_non_null(strstr(err, "no phone"));
	/* A log line needs no address. */
	perm = 0;
	assert_int_equal(render(f, "log", "nomail", "Jan", &out, &perm, err,
				sizeof(err)), 0);
	assert_int_equal(perm, 0);
	assert_non_null(strstr(out.data, "promise 42: Reminder: Call back"));
	assert_non_null(strstr(out.data, " -> nomail"));
	message_out_clear(&out);
}

static void
test_no_header_injection(void **state)
{
	struct fx *f = *state;
	struct message_out out;
	char err[512] = "", *end;
	int perm = 0;

	assert_int_equal(render(f, "smtp", "emma", "Evil\r\nBcc: x@evil.example"
				"\r\n", &out, &perm, err, sizeof(err)), 0);
	end = strstr(out.data, "\r\n\r\n");
	assert_non_null(end);
	*end = '\0';    /* the header section only */
	assert_null(strstr(out.data, "\nBcc:"));
	assert_null(strstr(out.data, "\rBcc:"));
	assert_null(strchr(out.subject, '\r'));
	assert_null(strchr(out.subject, '\n'));
	assert_non_null(strstr(out.subject, "Evil Bcc: x@evil.example"));
	message_out_clear(&out);
	/* The log line stays one line too. */
	assert_int_equal(render(f, "log", "emma", "Evil\nsecond", &out, &perm,
				err, sizeof(err)), 0);
	assert_null(strchr(out.data, '\n'));
	message_out_clear(&out);
}

/* The timeline is read only for messages that show it. */
static void
test_uses_history(void **state)
{
	struct fx *f = *state;
	struct cfg_channel hook = *config_channel(f->cfg, "sms");
	struct template *t;
	char err[256];

	/* The shipped emails show the history, the shipped SMS does not. */
	assert_true(message_uses_history(f->tpl, config_channel(f->cfg,
								"smtp")));
	assert_true(message_uses_history(f->tpl, config_channel(f->cfg,
								"mail")));
	assert_true(message_uses_history(f->tpl, NULL));
	assert_false(message_uses_history(f->tpl, config_channel(f->cfg,
								 "sms")));
	assert_false(message_uses_history(f->tpl, config_channel(f->cfg,
								 "log")));
	/* A webhook body of its own that shows it. */
	hook.webhook.body = "{\"h\": \"{{#history}}{{history}}{{/history}}\"}";
	assert_true(message_uses_history(f->tpl, &hook));
	t = template_parse("{{#history}}seen{{/history}}", "t", err,
			   sizeof(err));
	assert_non_null(t);
	assert_true(template_uses(t, TEMPLATE_VAR_HISTORY));
	assert_false(template_uses(t, TEMPLATE_VAR_TITLE));
	template_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_vars_en),
		cmocka_unit_test(test_vars_locales),
		cmocka_unit_test(test_email_locales),
		cmocka_unit_test(test_webhook_json),
		cmocka_unit_test(test_webhook_form),
		cmocka_unit_test(test_permanent),
		cmocka_unit_test(test_no_header_injection),
		cmocka_unit_test(test_uses_history),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
