/*
 * libFuzzer target: template rendering and the emails built from it.
 * The input is NUL-separated fields: the subject, text and HTML templates
 * of a reminder, then the promise's title, customer name, phone, email,
 * vehicle, details and ref, the recipient's name and email, the sender
 * (From), Reply-To and the notification's idem_key.
 *
 * Each input goes three ways: (1) each template is parsed and expanded
 * with every escaping, and an escaping must keep what it promises (no
 * control character from a value in a header, a valid JSON string, no
 * markup in HTML, only URL-safe bytes in a form body); (2) the templates
 * are loaded as a template set and the promise is rendered as an email
 * for an SMTP channel (message_render); (3) the raw values go straight to
 * mime_build_message.  Every email must have only the headers the builder
 * writes, each once, each one logical line (a continuation starts with a
 * space or tab), CRLF line ends with no bare CR or LF anywhere, lines of
 * at most 998 characters, and intact MIME boundaries: no fuzzed value may
 * add a header such as "Bcc:" or split the message.
 */
#include <ctype.h>
#include <sys/stat.h>

#include <jansson.h>

#include "fuzz_common.h"

#include "promised/config.h"
#include "promised/message.h"
#include "promised/mime.h"
#include "promised/template.h"

enum {
	F_SUBJECT, F_TXT, F_HTML, F_TITLE, F_CNAME, F_CPHONE, F_CEMAIL,
	F_VEHICLE, F_DETAILS, F_REF, F_RNAME, F_REMAIL, F_FROM, F_REPLY,
	F_IDEM, NF
};

static const char CONFIG[] =
	"sites:\n"
	"  main:\n"
	"    timezone: Europe/Brussels\n"
	"    hours:\n"
	"      mon: [08:00-18:00]\n"
	"      tue: [08:00-18:00]\n"
	"staff:\n"
	"  - id: alice\n"
	"    name: Alice Owner\n"
	"    email: alice@example.com\n"
	"    locale: en\n"
	"channels:\n"
	"  mail:\n"
	"    type: smtp\n"
	"    url: smtp://mail.example.com:2525\n"
	"    starttls: never\n"
	"    from: Promised <promised@example.com>\n"
	"    reply_to: desk@example.com\n";

/* The other English files a set needs; the reminder's come from the
 * input. */
static const char *const OTHER_KINDS[] = { "last_call", "lapse",
					   "escalation" };
static const char *const PARTS[] = { "subject", "txt", "html", "sms" };

static struct config *cfg;
static char tpl_dir[600];

static void
write_tpl(const char *kind, const char *part, const char *text)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/en/%s.%s", tpl_dir, kind, part);
	fuzz_write(p, text, strlen(text));
}

static void
setup(void)
{
	struct config_errors errs = { 0 };
	char p[700];
	size_t k, i;

	if (cfg != NULL)
		return;
	snprintf(tpl_dir, sizeof(tpl_dir), "%s/templates", fuzz_tmpdir());
	snprintf(p, sizeof(p), "%s/en", tpl_dir);
	if (mkdir(tpl_dir, 0700) != 0 || mkdir(p, 0700) != 0)
		abort();
	for (k = 0; k < 3; k++)
		for (i = 0; i < 4; i++)
			write_tpl(OTHER_KINDS[k], PARTS[i], "{{title}}\n");
	write_tpl("reminder", "sms", "{{title}} {{short_code}}\n");
	snprintf(p, sizeof(p), "%s/promised.yaml", fuzz_tmpdir());
	fuzz_write(p, CONFIG, sizeof(CONFIG) - 1);
	cfg = config_load(p, &errs);
	if (cfg == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		abort();
	}
}

/* ---- (1) escaping ----------------------------------------------------- */

static int
has_byte_of(const char *s, const char *set, int controls)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (strchr(set, *s) != NULL || (controls && (c < 0x20 || c == 0x7f)))
			return 1;
	}
	return 0;
}

static void
check_escape(const struct template *t, const char *src,
	     const struct template_vars *vars)
{
	char err[512], *out = NULL;
	json_t *j;
	size_t i;

	for (i = TEMPLATE_TEXT; i <= TEMPLATE_FORM; i++) {
		err[0] = '\0';
		if (template_expand(t, (enum template_escape)i, vars, &out, err,
				    sizeof(err)) != 0) {
			FUZZ_ASSERT(err[0] != '\0', "expand failed silently");
			continue;
		}
		FUZZ_ASSERT(util_utf8_valid(out, strlen(out)) ||
			    !util_utf8_valid(src, strlen(src)),
			    "escape %zu: output not UTF-8", i);
		if (i == TEMPLATE_HEADER && !has_byte_of(src, "", 1))
			FUZZ_ASSERT(!has_byte_of(out, "", 1),
				    "a control character in a header: '%s'", out);
		if (i == TEMPLATE_HTML && !has_byte_of(src, "<>\"'", 0))
			FUZZ_ASSERT(!has_byte_of(out, "<>\"'", 0),
				    "markup in escaped HTML: '%s'", out);
		if (i == TEMPLATE_FORM && !has_byte_of(src, "&= ", 1))
			FUZZ_ASSERT(!has_byte_of(out, "&= ", 1),
				    "a separator in a form value: '%s'", out);
		if (i == TEMPLATE_JSON && !has_byte_of(src, "\"\\", 1) &&
		    util_utf8_valid(src, strlen(src))) {
			char *doc = xasprintf("[\"%s\"]", out);

			j = json_loads(doc, JSON_DECODE_ANY, NULL);
			FUZZ_ASSERT(j != NULL, "not a JSON string: %s", doc);
			json_decref(j);
			free(doc);
		}
		free(out);
		out = NULL;
	}
}

static void
escapes(const char **f, const struct template_vars *vars)
{
	struct template *t;
	char err[1024];
	int i;

	for (i = F_SUBJECT; i <= F_HTML; i++) {
		err[0] = '\0';
		t = template_parse(f[i], "fuzz", err, sizeof(err));
		if (t == NULL) {
			FUZZ_ASSERT(err[0] != '\0', "parse failed silently");
			continue;
		}
		check_escape(t, f[i], vars);
		template_free(t);
	}
}

/* ---- the email -------------------------------------------------------- */

static const char *const HEADERS[] = {
	"From", "To", "Reply-To", "Subject", "Date", "Message-ID",
	"Auto-Submitted", "X-Auto-Response-Suppress", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
};
#define NHEADERS (sizeof(HEADERS) / sizeof(*HEADERS))

/* Every CR is followed by LF, every LF preceded by CR, no line longer
 * than RFC 5322's 998 characters unless it is one word that cannot be
 * folded (a header is folded before blanks only). */
static void
check_lines(const char *m, size_t len)
{
	size_t i, col = 0, blank = 0;

	for (i = 0; i < len; i++) {
		if (m[i] == '\r')
			FUZZ_ASSERT(i + 1 < len && m[i + 1] == '\n',
				    "bare CR at %zu", i);
		if (m[i] == '\n') {
			FUZZ_ASSERT(i > 0 && m[i - 1] == '\r', "bare LF at %zu", i);
			col = blank = 0;
		} else if (m[i] != '\r') {
			/* a blank that starts a new word, past the name */
			if (col > 0 && m[i] == ' ' && i + 1 < len &&
			    m[i + 1] != ' ' && m[i + 1] != '\r' &&
			    m[i - 1] != ':')
				blank++;
			FUZZ_ASSERT(++col <= 998 || blank == 0,
				    "line longer than 998 at %zu", i);
		}
		FUZZ_ASSERT(m[i] != '\0', "NUL at %zu", i);
	}
}

/* Checks the header section; returns where the body starts. */
static const char *
check_headers(const char *m, int have_reply, int multipart)
{
	int count[NHEADERS] = { 0 };
	const char *p = m, *eol, *colon;
	size_t i, nlen;

	while ((eol = strstr(p, "\r\n")) != NULL && eol != p) {
		if (*p == ' ' || *p == '\t') {
			FUZZ_ASSERT(p != m, "the message starts with a blank");
			p = eol + 2;
			continue;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		FUZZ_ASSERT(colon != NULL, "a header line without a name: %.*s",
			    (int)(eol - p), p);
		nlen = (size_t)(colon - p);
		for (i = 0; i < NHEADERS; i++)
			if (strlen(HEADERS[i]) == nlen &&
			    strncmp(HEADERS[i], p, nlen) == 0)
				break;
		FUZZ_ASSERT(i < NHEADERS, "an unexpected header: %.*s",
			    (int)(eol - p), p);
		count[i]++;
		p = eol + 2;
	}
	FUZZ_ASSERT(eol != NULL, "no end of the header section");
	for (i = 0; i < NHEADERS; i++) {
		int want = 1;

		if (strcmp(HEADERS[i], "Reply-To") == 0)
			want = have_reply;
		else if (strcmp(HEADERS[i], "Content-Transfer-Encoding") == 0)
			want = !multipart;
		FUZZ_ASSERT(count[i] == want, "%s %d times (want %d)",
			    HEADERS[i], count[i], want);
	}
	return eol + 2;
}

/* Lines of body that are exactly line; n of them. */
static size_t
count_lines(const char *body, const char *line)
{
	size_t n = 0, len = strlen(line);
	const char *p = body;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");
		size_t l = eol ? (size_t)(eol - p) : strlen(p);

		if (l == len && memcmp(p, line, len) == 0)
			n++;
		p += l + (eol ? 2 : 0);
	}
	return n;
}

static void
check_email(const char *m, size_t len, const char *idem, int have_reply,
	    int multipart)
{
	const char *body;
	char boundary[64], *line;

	FUZZ_ASSERT(strlen(m) == len, "length %zu, text %zu", len, strlen(m));
	check_lines(m, len);
	body = check_headers(m, have_reply, multipart);
	if (!multipart)
		return;
	mime_boundary(idem, boundary, sizeof(boundary));
	line = xasprintf("--%s", boundary);
	FUZZ_ASSERT(count_lines(body, line) == 2, "%zu part delimiters",
		    count_lines(body, line));
	free(line);
	line = xasprintf("--%s--", boundary);
	FUZZ_ASSERT(count_lines(body, line) == 1, "closing delimiter");
	free(line);
}

/* ---- (2) a rendered notification and (3) raw values ------------------- */

static void
render(const char **f)
{
	struct template_set *set;
	struct cfg_staff *st = &cfg->staff[0];
	struct cfg_channel *ch = &cfg->channels[0];
	char *saved[4] = { st->name, st->email, ch->smtp.from,
			   ch->smtp.reply_to };
	struct notification n;
	struct promise p;
	struct message_out out;
	char err[1024];
	int perm = 0;

	write_tpl("reminder", "subject", f[F_SUBJECT]);
	write_tpl("reminder", "txt", f[F_TXT]);
	write_tpl("reminder", "html", f[F_HTML]);
	set = template_set_load(tpl_dir, NULL, err, sizeof(err));
	if (set == NULL)
		return;
	memset(&p, 0, sizeof(p));
	memset(&n, 0, sizeof(n));
	p.id = 42;
	p.title = (char *)f[F_TITLE];
	p.customer_name = (char *)f[F_CNAME];
	p.customer_phone = (char *)f[F_CPHONE];
	p.customer_email = (char *)f[F_CEMAIL];
	p.vehicle = (char *)f[F_VEHICLE];
	p.details = (char *)f[F_DETAILS];
	p.ref = (char *)f[F_REF];
	p.owner = (char *)"alice";
	p.site = (char *)"main";
	p.due_at = FUZZ_NOW + 4 * 3600;
	n.id = 7;
	n.step = (char *)"reminder";
	n.channel = (char *)"mail";
	n.recipient = (char *)"alice";
	n.idem_key = (char *)(f[F_IDEM][0] ? f[F_IDEM] : "42/reminder/0/alice");
	n.scheduled_at = FUZZ_NOW;
	/* The config validated these; the builder must hold even so. */
	if (f[F_RNAME][0] != '\0')
		st->name = (char *)f[F_RNAME];
	if (f[F_REMAIL][0] != '\0')
		st->email = (char *)f[F_REMAIL];
	if (f[F_FROM][0] != '\0')
		ch->smtp.from = (char *)f[F_FROM];
	if (f[F_REPLY][0] != '\0')
		ch->smtp.reply_to = (char *)f[F_REPLY];
	if (message_render(cfg, set, ch, &n, &p, NULL, 0, FUZZ_NOW, &out,
			   &perm, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(strpbrk(out.subject, "\r\n") == NULL,
			    "a subject of more than one line: '%s'", out.subject);
		check_email(out.data, out.len, n.idem_key, 1, 1);
		message_out_clear(&out);
	}
	st->name = saved[0];
	st->email = saved[1];
	ch->smtp.from = saved[2];
	ch->smtp.reply_to = saved[3];
	template_set_free(set);
}

static void
raw_mime(const char **f)
{
	struct mime_msg m;
	char err[256], *out = NULL;
	size_t len = 0;

	memset(&m, 0, sizeof(m));
	m.from = f[F_FROM][0] ? f[F_FROM] : "Promised <promised@example.com>";
	m.to = f[F_RNAME][0] ? f[F_RNAME] : "alice@example.com";
	m.reply_to = f[F_REPLY][0] ? f[F_REPLY] : NULL;
	m.subject = f[F_SUBJECT];
	m.text = f[F_TXT];
	m.html = f[F_HTML][0] ? f[F_HTML] : NULL;
	m.idem_key = f[F_IDEM][0] ? f[F_IDEM] : "42/reminder/0/alice";
	m.date = FUZZ_NOW;
	if (mime_build_message(&m, &out, &len, err, sizeof(err)) == 0)
		check_email(out, len, m.idem_key, m.reply_to != NULL,
			    m.html != NULL);
	else
		FUZZ_ASSERT(err[0] != '\0', "build failed silently");
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template_vars vars;
	const char *f[NF];
	char *buf;
	int i;

	if (size > 8192)
		return 0;
	setup();
	buf = fuzz_fields(data, size, f, NF);
	/* Real idem keys are short (promise/step/repeat/recipient/channel/
	 * due); a Message-ID is one word and cannot be folded. */
	if (strlen(f[F_IDEM]) > 100)
		((char *)f[F_IDEM])[100] = '\0';
	memset(&vars, 0, sizeof(vars));
	for (i = 0; i < TEMPLATE_VAR_COUNT; i++)
		vars.v[i] = f[F_TITLE + i % (NF - F_TITLE)];
	escapes(f, &vars);
	render(f);
	raw_mime(f);
	free(buf);
	return 0;
}
