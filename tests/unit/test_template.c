/*
 * test_template: the template language (substitution, sections, errors
 * with file:line:column), every escaping, the shipped template set in
 * every locale, the email built from it (RFC 2047 subjects decoded here
 * independently, quoted-printable parts, a stable Message-ID, no header
 * injection) and SMS segment counting.  Expected strings are worked out
 * by hand from the standards, not copied from the program's output.
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

#include "promised/mime.h"
#include "promised/sms.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

static const char *const locales[] = { "en", "nl", "fr" };
static const char *const kinds[] = {
	"reminder", "last_call", "lapse", "escalation"
};

static char *
shipped_dir(void)
{
	const char *src = getenv("PROMISED_SOURCE_DIR");

	return xasprintf("%s/config/templates", src ? src : ".");
}

static char *
data_dir(const char *sub)
{
	const char *d = getenv("PROMISED_TEST_DATA");

	return d ? xasprintf("%s/templates/%s", d, sub)
		 : xasprintf("tests/data/templates/%s", sub);
}

/* Renders src with one variable set; the output is owned. */
static char *
render1(const char *src, enum template_escape esc, const char *var,
	const char *val)
{
	struct template_vars v;
	struct template *t;
	char err[512], *out = NULL;

	memset(&v, 0, sizeof(v));
	if (var != NULL)
		assert_int_equal(template_vars_set(&v, var, val), 0);
	t = template_parse(src, "t", err, sizeof(err));
	if (t == NULL)
		fail_msg("parse: %s", err);
	assert_int_equal(template_expand(t, esc, &v, &out, err, sizeof(err)),
			 0);
	template_free(t);
	return out;
}

static void
expect_render(const char *src, enum template_escape esc, const char *var,
	      const char *val, const char *want)
{
	char *out = render1(src, esc, var, val);

	assert_string_equal(out, want);
	free(out);
}

static void
expect_parse_error(const char *src, const char *want)
{
	char err[512];
	struct template *t = template_parse(src, "t.txt", err, sizeof(err));

	assert_null(t);
	assert_string_equal(err, want);
}

static void
test_substitution(void **state)
{
	(void)state;
	expect_render("Call {{customer_name}} now.", TEMPLATE_TEXT,
		      "customer_name", "Jan Peeters", "Call Jan Peeters now.");
	expect_render("{{ title }}!", TEMPLATE_TEXT, "title", "x", "x!");
	/* An unset variable is empty; text without tags is kept as is. */
	expect_render("a{{vin}}b", TEMPLATE_TEXT, NULL, NULL, "ab");
	expect_render("no tags } { here", TEMPLATE_TEXT, NULL, NULL,
		      "no tags } { here");
	assert_int_equal(template_var_lookup("customer_tel_uri"),
			 TEMPLATE_VAR_CUSTOMER_TEL_URI);
	assert_int_equal(template_var_lookup("nope"), -1);
	assert_string_equal(template_var_name(TEMPLATE_VAR_LINK_SNOOZE),
			    "link_snooze");
}

static void
test_escape_json(void **state)
{
	(void)state;
	expect_render("{\"text\":\"{{details}}\"}", TEMPLATE_JSON, "details",
		      "He said \"hi\"\nnext\ttab \\ \x01 é €",
		      "{\"text\":\"He said \\\"hi\\\"\\nnext\\ttab \\\\ "
		      "\\u0001 é €\"}");
	expect_render("{{title}}", TEMPLATE_JSON, "title", "a\rb\x1f",
		      "a\\rb\\u001f");
}

static void
test_escape_html(void **state)
{
	(void)state;
	expect_render("<p>{{title}}</p>", TEMPLATE_HTML, "title",
		      "<a href=\"x\">Tom & 'Jerry'</a>",
		      "<p>&lt;a href=&quot;x&quot;&gt;Tom &amp; "
		      "&#39;Jerry&#39;&lt;/a&gt;</p>");
	/* Template text itself is not escaped: only values are. */
	expect_render("<b>{{title}}</b>", TEMPLATE_HTML, "title", "é", "<b>é</b>");
}

static void
test_escape_header_form(void **state)
{
	(void)state;
	expect_render("Subject: {{customer_name}}", TEMPLATE_HEADER,
		      "customer_name", "Jan\r\nBcc: evil@example.com\x7f",
		      "Subject: Jan  Bcc: evil@example.com ");
	/* U+0085 (NEL) and U+2028 (LINE SEPARATOR) end lines for some. */
	expect_render("{{title}}", TEMPLATE_HEADER, "title",
		      "a\xC2\x85" "b\xE2\x80\xA8" "c\td", "a b c d");
	expect_render("to={{customer_phone}}&body={{title}}", TEMPLATE_FORM,
		      "title", "a b&c=d/é*-._~",
		      "to=&body=a+b%26c%3Dd%2F%C3%A9*-._%7E");
	/* A byte that is not UTF-8 becomes U+FFFD, never raw. */
	expect_render("{{title}}", TEMPLATE_TEXT, "title", "a\xff" "b",
		      "a\xEF\xBF\xBD" "b");
}

static void
test_sections(void **state)
{
	(void)state;
	expect_render("[{{#vin}}VIN {{vin}}{{/vin}}]", TEMPLATE_TEXT, "vin",
		      "WVW123", "[VIN WVW123]");
	expect_render("[{{#vin}}VIN {{vin}}{{/vin}}]", TEMPLATE_TEXT, "vin",
		      "", "[]");
	expect_render("[{{#vin}}a{{#ref}}b{{/ref}}c{{/vin}}]", TEMPLATE_TEXT,
		      "vin", "1", "[ac]");
	/* A section tag alone on its line takes its line with it. */
	expect_render("a\n{{#vin}}\nVIN {{vin}}\n{{/vin}}\nb\n", TEMPLATE_TEXT,
		      "vin", NULL, "a\nb\n");
	expect_render("a\n  {{#vin}}\nVIN {{vin}}\n{{/vin}}  \nb\n",
		      TEMPLATE_TEXT, "vin", "X", "a\nVIN X\nb\n");
}

static void
test_errors(void **state)
{
	(void)state;
	expect_parse_error("Hello\n  {{custmer_name}}",
			   "t.txt:2:5: unknown variable 'custmer_name'; did "
			   "you mean 'customer_name'?");
	/* Columns count characters: "é" is one. */
	expect_parse_error("é {{zzzzzzzzzzzzzzzzzz}}",
			   "t.txt:1:5: unknown variable 'zzzzzzzzzzzzzzzzzz'");
	expect_parse_error("abc {{title", "t.txt:1:5: unterminated tag: "
			   "'{{' without '}}' on the same line");
	expect_parse_error("x\n{{title\n}}", "t.txt:2:1: unterminated tag: "
			   "'{{' without '}}' on the same line");
	expect_parse_error("{{#vin}}x", "t.txt:1:1: section '{{#vin}}' is "
			   "not closed");
	expect_parse_error("a {{/vin}}", "t.txt:1:3: '{{/vin}}' closes no "
			   "open section");
	expect_parse_error("{{#vin}}\n {{/ref}}", "t.txt:2:2: '{{/ref}}' does "
			   "not match '{{#vin}}' opened at line 1, column 1");
	expect_parse_error("{{}}", "t.txt:1:3: missing or bad name in tag");
	expect_parse_error("{{Title}}", "t.txt:1:3: bad variable name 'Title'");
	/* Every error of a file is reported, one per line. */
	expect_parse_error("{{titel}} {{#vinn}}{{/vinn}}",
			   "t.txt:1:3: unknown variable 'titel'; did you mean "
			   "'title'?\nt.txt:1:14: unknown variable 'vinn'; did "
			   "you mean 'vin'?");
}

/* Typical values of one promise for a locale and kind. */
static void
typical(struct template_vars *v, const char *loc, const char *kind)
{
	int late = strcmp(kind, "lapse") == 0 ||
		   strcmp(kind, "escalation") == 0;
	int nl = strcmp(loc, "nl") == 0, fr = strcmp(loc, "fr") == 0;

	memset(v, 0, sizeof(*v));
	v->v[TEMPLATE_VAR_TITLE] = "Call back about the brake quote";
	v->v[TEMPLATE_VAR_DETAILS] = "Front pads and discs.";
	v->v[TEMPLATE_VAR_CUSTOMER_NAME] = "Jan Peeters";
	v->v[TEMPLATE_VAR_CUSTOMER_PHONE] = "+32 470 12 34 56";
	v->v[TEMPLATE_VAR_CUSTOMER_TEL_URI] = "tel:+32470123456";
	v->v[TEMPLATE_VAR_CUSTOMER_EMAIL] = "jan.peeters@example.com";
	v->v[TEMPLATE_VAR_VEHICLE] = "VW Golf 1-ABC-123";
	v->v[TEMPLATE_VAR_VIN] = "WVWZZZ1KZAW000001";
	v->v[TEMPLATE_VAR_DUE_LOCAL] = nl ? "vr 4 dec 17:00" :
		fr ? "ven. 4 déc. 17:00" : "Fri 4 Dec 17:00";
	if (late)
		v->v[TEMPLATE_VAR_DUE_RELATIVE] = nl ? "3 u te laat" :
			fr ? "3 h de retard" : "3 h late";
	else
		v->v[TEMPLATE_VAR_DUE_RELATIVE] = nl ? "over 2 u" :
			fr ? "dans 2 h" : "in 2 h";
	v->v[TEMPLATE_VAR_OWNER_NAME] = "Alice Martin";
	v->v[TEMPLATE_VAR_OWNER_ID] = "alice";
	v->v[TEMPLATE_VAR_RECIPIENT_NAME] = late && kind[0] == 'e' ?
		"Marc Dubois" : "Alice Martin";
	v->v[TEMPLATE_VAR_SITE] = "bru";
	v->v[TEMPLATE_VAR_PROMISE_ID] = "42";
	v->v[TEMPLATE_VAR_REF] = "RO-5521";
	v->v[TEMPLATE_VAR_STEP] = "2";
	v->v[TEMPLATE_VAR_KIND] = kind;
	v->v[TEMPLATE_VAR_HISTORY] = "Fri 4 Dec 15:00 reminder to alice (email)\n"
		"Fri 4 Dec 16:45 last call to alice (sms)";
	v->v[TEMPLATE_VAR_SHORT_CODE] = "K7Q2";
	v->v[TEMPLATE_VAR_LINK_DONE] = "https://promised.example/a/x1";
}

static struct template_set *
load_shipped(void)
{
	char err[1024], *dir = shipped_dir();
	struct template_set *set = template_set_load(dir, NULL, err,
						     sizeof(err));

	if (set == NULL)
		fail_msg("shipped templates: %s", err);
	free(dir);
	return set;
}

static char *
render(const struct template_set *set, const char *loc, const char *kind,
       enum template_part part, const struct template_vars *v)
{
	char err[512], *out = NULL;

	if (template_render(set, loc, kind, part, v, &out, err,
			    sizeof(err)) != 0)
		fail_msg("%s/%s part %d: %s", loc, kind, (int)part, err);
	return out;
}

static void
test_shipped_check(void **state)
{
	char *dir = shipped_dir(), *report = (char *)"x";

	(void)state;
	assert_int_equal(template_set_check(dir, NULL, &report), 0);
	assert_null(report);
	free(dir);
}

static void
test_shipped_render_all(void **state)
{
	struct template_set *set = load_shipped();
	struct template_vars v;
	size_t l, k;
	int p;

	(void)state;
	for (l = 0; l < 3; l++)
		for (k = 0; k < 4; k++) {
			typical(&v, locales[l], kinds[k]);
			for (p = 0; p < TEMPLATE_PART_COUNT; p++) {
				char *out = render(set, locales[l], kinds[k],
						   (enum template_part)p, &v);

				assert_true(strlen(out) > 20);
				assert_null(strstr(out, "{{"));
				assert_non_null(strstr(out, "Jan Peeters"));
				assert_true(util_utf8_valid(out, strlen(out)));
				if (p == TEMPLATE_PART_SUBJECT ||
				    p == TEMPLATE_PART_SMS)
					assert_null(strchr(out, '\n'));
				if (p == TEMPLATE_PART_HTML)
					assert_non_null(strstr(out,
					    "<a href=\"tel:+32470123456\">"
					    "+32 470 12 34 56</a>"));
				if (p == TEMPLATE_PART_TXT) {
					assert_non_null(strstr(out,
					    "WVWZZZ1KZAW000001"));
					assert_non_null(strstr(out,
					    "last call to alice (sms)"));
				}
				free(out);
			}
		}
	template_set_free(set);
}

/* The four kinds read differently; the escalation names the owner, how
 * late it is and what was tried. */
static void
test_shipped_kinds_differ(void **state)
{
	struct template_set *set = load_shipped();
	struct template_vars v;
	char *subj[4], *esc;
	size_t l, i, j;

	(void)state;
	for (l = 0; l < 3; l++) {
		for (i = 0; i < 4; i++) {
			typical(&v, locales[l], kinds[i]);
			subj[i] = render(set, locales[l], kinds[i],
					 TEMPLATE_PART_SUBJECT, &v);
		}
		for (i = 0; i < 4; i++)
			for (j = i + 1; j < 4; j++)
				assert_string_not_equal(subj[i], subj[j]);
		for (i = 0; i < 4; i++)
			free(subj[i]);
		typical(&v, locales[l], "escalation");
		esc = render(set, locales[l], "escalation", TEMPLATE_PART_TXT,
			     &v);
		assert_non_null(strstr(esc, "Alice Martin"));
		assert_non_null(strstr(esc, v.v[TEMPLATE_VAR_DUE_RELATIVE]));
		assert_non_null(strstr(esc, "reminder to alice (email)"));
		assert_non_null(strstr(esc, "Marc Dubois"));
		free(esc);
	}
	template_set_free(set);
}

static void
test_locale_fallback(void **state)
{
	struct template_set *set = load_shipped();
	struct template_vars v;
	char *en, *other, *nl, *nlbe, err[256], *out;

	(void)state;
	typical(&v, "en", "reminder");
	en = render(set, "en", "reminder", TEMPLATE_PART_SUBJECT, &v);
	other = render(set, "de", "reminder", TEMPLATE_PART_SUBJECT, &v);
	assert_string_equal(en, other);
	free(other);
	other = render(set, NULL, "reminder", TEMPLATE_PART_SUBJECT, &v);
	assert_string_equal(en, other);
	nl = render(set, "nl", "reminder", TEMPLATE_PART_SUBJECT, &v);
	nlbe = render(set, "nl_BE", "reminder", TEMPLATE_PART_SUBJECT, &v);
	assert_string_equal(nl, nlbe);
	assert_string_not_equal(nl, en);
	assert_true(strncmp(nl, "Herinnering: ", 13) == 0);
	assert_int_equal(template_render(set, "en", "remind",
					 TEMPLATE_PART_TXT, &v, &out, err,
					 sizeof(err)), -1);
	assert_null(out);
	assert_string_equal(err, "unknown message kind 'remind'");
	free(en);
	free(other);
	free(nl);
	free(nlbe);
	template_set_free(set);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

/* A locale may lack files: those come from English.  English may not. */
static void
test_missing_file_fallback(void **state)
{
	char tmp[] = "/tmp/promised-tpl-XXXXXX", path[512], err[512], *out;
	struct template_set *set;
	struct template_vars v;
	size_t k;
	int p;
	static const char *const ext[] = { "subject", "txt", "html", "sms" };

	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/en", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	for (k = 0; k < 4; k++)
		for (p = 0; p < 4; p++) {
			char name[64];

			snprintf(name, sizeof(name), "%s.%s", kinds[k], ext[p]);
			write_file(path, name, "EN {{title}}\n");
		}
	snprintf(path, sizeof(path), "%s/nl", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file(path, "reminder.subject", "NL {{title}}\n");
	set = template_set_load(tmp, NULL, err, sizeof(err));
	assert_non_null(set);
	memset(&v, 0, sizeof(v));
	v.v[TEMPLATE_VAR_TITLE] = "x";
	out = render(set, "nl", "reminder", TEMPLATE_PART_SUBJECT, &v);
	assert_string_equal(out, "NL x");
	free(out);
	out = render(set, "nl", "reminder", TEMPLATE_PART_TXT, &v);
	assert_string_equal(out, "EN x\n");
	free(out);
	template_set_free(set);

	/* Without en/lapse.sms the set does not load. */
	snprintf(path, sizeof(path), "%s/en/lapse.sms", tmp);
	assert_int_equal(unlink(path), 0);
	assert_null(template_set_load(tmp, NULL, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/en/lapse.sms: missing (every "
		 "English template must exist)", tmp);
	assert_string_equal(err, path);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
	assert_int_equal(system(path), 0);
}

static void
test_override(void **state)
{
	char *dir = shipped_dir(), *odir = data_dir("override"), err[512];
	struct template_set *set;
	struct template_vars v;
	char *out;

	(void)state;
	set = template_set_load(dir, odir, err, sizeof(err));
	if (set == NULL)
		fail_msg("%s", err);
	typical(&v, "nl", "reminder");
	out = render(set, "nl", "reminder", TEMPLATE_PART_SMS, &v);
	assert_string_equal(out, "Eigen tekst: Call back about the brake "
			    "quote (K7Q2)");
	free(out);
	out = render(set, "nl", "reminder", TEMPLATE_PART_SUBJECT, &v);
	assert_true(strncmp(out, "Herinnering: ", 13) == 0);
	free(out);
	template_set_free(set);
	free(odir);
	free(dir);
}

static void
test_override_typo(void **state)
{
	char *dir = shipped_dir(), *odir = data_dir("override_typo");
	char err[1024], *want, *report = NULL;

	(void)state;
	assert_null(template_set_load(dir, odir, err, sizeof(err)));
	want = xasprintf("%s/en/reminder.txt:3:15: unknown variable "
			 "'custmer_name'; did you mean 'customer_name'?", odir);
	assert_string_equal(err, want);
	assert_int_equal(template_set_check(dir, odir, &report), 1);
	assert_non_null(report);
	assert_non_null(strstr(report, want));
	free(report);
	free(want);
	free(odir);
	free(dir);
}

/* ---- layouts ---- */

/* A template folder in /tmp with every English file ("EN {{title}}")
 * and then the given files (path, text; NULL-terminated), which may
 * replace them or add others in en or nl.  Owned path. */
static char *
tpl_dir_new(const char *const *files)
{
	char tmp[] = "/tmp/promised-tpl-XXXXXX", path[512];
	static const char *const ext[] = { "subject", "txt", "html", "sms" };
	size_t k, p;

	assert_non_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/en", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/nl", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	for (k = 0; k < 4; k++)
		for (p = 0; p < 4; p++) {
			char name[64];

			snprintf(name, sizeof(name), "en/%s.%s", kinds[k],
				 ext[p]);
			write_file(tmp, name, "EN {{title}}\n");
		}
	for (; files != NULL && files[0] != NULL; files += 2)
		write_file(tmp, files[0], files[1]);
	return xstrdup(tmp);
}

static void
tpl_dir_free(char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

/* Loading dir must fail with exactly "<dir>/<file>:<rest>". */
static void
expect_load_error(const char *dir, const char *file, const char *rest)
{
	char err[1024], *want = xasprintf("%s/%s:%s", dir, file, rest);

	assert_null(template_set_load(dir, NULL, err, sizeof(err)));
	assert_string_equal(err, want);
	assert_int_equal(template_set_check(dir, NULL, NULL), 1);
	free(want);
}

/* The kind's HTML goes where {{content}} stands (the tag's line with
 * it); the rest of the page is the layout's, with the subject for its
 * title; the text part is not wrapped; a locale without a layout uses
 * the English one. */
static void
test_layout_applied(void **state)
{
	static const char *const files[] = {
		"en/layout.html", "<html><title>{{subject}}</title>\n"
				  "  {{content}}  \n<i>{{site}}</i></html>\n",
		"en/reminder.html", "<p>{{title}}</p>\n",
		"en/reminder.subject", "Do {{title}}\n  now\n",
		"nl/reminder.html", "<p>NL {{title}}</p>\n",
		NULL
	};
	char *dir = tpl_dir_new(files), err[512], *out;
	struct template_set *set = template_set_load(dir, NULL, err,
						     sizeof(err));
	struct template_vars v;

	(void)state;
	if (set == NULL)
		fail_msg("%s", err);
	memset(&v, 0, sizeof(v));
	v.v[TEMPLATE_VAR_TITLE] = "it";
	v.v[TEMPLATE_VAR_SITE] = "bru";
	out = render(set, "en", "reminder", TEMPLATE_PART_HTML, &v);
	assert_string_equal(out, "<html><title>Do it now</title>\n"
			    "<p>it</p>\n<i>bru</i></html>\n");
	free(out);
	/* nl has its own reminder.html but no layout: the English one. */
	out = render(set, "nl", "reminder", TEMPLATE_PART_HTML, &v);
	assert_string_equal(out, "<html><title>Do it now</title>\n"
			    "<p>NL it</p>\n<i>bru</i></html>\n");
	free(out);
	out = render(set, "en", "reminder", TEMPLATE_PART_TXT, &v);
	assert_string_equal(out, "EN it\n");
	free(out);
	/* A subject the caller set is the one the layout shows. */
	v.v[TEMPLATE_VAR_SUBJECT] = "Given";
	out = render(set, "en", "reminder", TEMPLATE_PART_HTML, &v);
	assert_string_equal(out, "<html><title>Given</title>\n"
			    "<p>it</p>\n<i>bru</i></html>\n");
	free(out);
	template_set_free(set);
	tpl_dir_free(dir);
}

/* Count of non-overlapping occurrences of needle in s. */
static int
count_of(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

/* The shipped kinds are fragments in the shipped layout: one whole page
 * each, with the kind's own words, the facts, the links and the footer;
 * the escalation, a whole page of its own, is sent as it is. */
static void
test_layout_shipped(void **state)
{
	struct template_set *set = load_shipped();
	struct template_vars v;
	size_t l, k;

	(void)state;
	for (l = 0; l < 3; l++)
		for (k = 0; k < 4; k++) {
			char *out, *subj, *title;

			typical(&v, locales[l], kinds[k]);
			v.v[TEMPLATE_VAR_LINK_ACK] = "https://p.example/a/y2";
			out = render(set, locales[l], kinds[k],
				     TEMPLATE_PART_HTML, &v);
			subj = render(set, locales[l], kinds[k],
				      TEMPLATE_PART_SUBJECT, &v);
			title = xasprintf("<title>%s</title>", subj);
			assert_true(strncmp(out, "<!DOCTYPE html>\n", 16) == 0);
			assert_int_equal(count_of(out, "<html"), 1);
			assert_int_equal(count_of(out, "</html>"), 1);
			assert_int_equal(count_of(out, "<body"), 1);
			assert_non_null(strstr(out, title));
			assert_non_null(strstr(out, "<strong>Call back about "
					       "the brake quote</strong>"));
			assert_non_null(strstr(out, "<a href=\"mailto:"
					       "jan.peeters@example.com\">"));
			assert_non_null(strstr(out, "<a href=\"https://"
					       "promised.example/a/x1\""));
			assert_non_null(strstr(out, "<a href=\"https://"
					       "p.example/a/y2\""));
			assert_non_null(strstr(out, " #42</p>") ?
					strstr(out, " #42</p>") :
					strstr(out, "n° 42</p>"));
			assert_null(strstr(out, "{{"));
			free(title);
			free(subj);
			free(out);
		}
	template_set_free(set);
}

/* A layout holds exactly one {{content}}, outside any section; each
 * mistake is reported with its file, line and column. */
static void
test_layout_content_errors(void **state)
{
	static const char *const none[] = {
		"en/layout.html", "<html>\n<p>{{title}}</p>\n</html>\n", NULL
	};
	static const char *const two[] = {
		"nl/layout.html", "<html>\n{{content}}\n<hr>{{content}}\n",
		NULL
	};
	static const char *const in_section[] = {
		"en/layout.html", "<html>\n{{#title}}\n {{content}}\n"
				  "{{/title}}\n", NULL
	};
	static const char *const as_section[] = {
		"en/layout.html", "{{content}}\n{{#content}}x{{/content}}\n",
		NULL
	};
	char *dir;

	(void)state;
	dir = tpl_dir_new(none);
	expect_load_error(dir, "en/layout.html", "1:1: a layout needs one "
			  "'{{content}}' tag where the message's HTML goes; "
			  "there is none");
	tpl_dir_free(dir);
	dir = tpl_dir_new(two);
	expect_load_error(dir, "nl/layout.html", "3:5: a second "
			  "'{{content}}' (a layout holds exactly one; the "
			  "first is at line 2, column 1)");
	tpl_dir_free(dir);
	dir = tpl_dir_new(in_section);
	expect_load_error(dir, "en/layout.html", "3:2: '{{content}}' cannot "
			  "stand inside a section");
	tpl_dir_free(dir);
	dir = tpl_dir_new(as_section);
	assert_null(template_set_load(dir, NULL, NULL, 0));
	assert_int_equal(template_set_check(dir, NULL, NULL), 2);
	tpl_dir_free(dir);
}

/* {{content}} belongs to layouts only: in a kind's template or any
 * other template it is an error at its position. */
static void
test_content_outside_layout(void **state)
{
	static const char *const files[] = {
		"en/layout.html", "<html>{{content}}</html>\n",
		"en/lapse.html", "<p>{{title}}</p>\n<div>{{content}}</div>\n",
		NULL
	};
	char *dir;

	(void)state;
	expect_parse_error("Hi {{ content }}", "t.txt:1:4: '{{content}}' is "
			   "only valid in layout.html (where a message's "
			   "HTML goes)");
	dir = tpl_dir_new(files);
	expect_load_error(dir, "en/lapse.html", "2:6: '{{content}}' is only "
			  "valid in layout.html (where a message's HTML "
			  "goes)");
	tpl_dir_free(dir);
}

/* layout.html in the override folder replaces the shipped layout of its
 * locale only, and is not taken for a misspelt template name. */
static void
test_layout_override(void **state)
{
	char *dir = shipped_dir(), *odir = data_dir("override_layout");
	char err[512], *out;
	struct template_set *set;
	struct template_vars v;

	(void)state;
	assert_int_equal(template_set_check(dir, odir, NULL), 0);
	set = template_set_load(dir, odir, err, sizeof(err));
	if (set == NULL)
		fail_msg("%s", err);
	typical(&v, "nl", "reminder");
	out = render(set, "nl", "reminder", TEMPLATE_PART_HTML, &v);
	assert_string_equal(out,
	    "<div class=\"eigen\" title=\"Herinnering: Call back about the "
	    "brake quote voor Jan Peeters, uiterlijk vr 4 dec 17:00\">\n"
	    "<p>Voor Alice Martin</p>\n"
	    "<p>Je hebt Jan Peeters iets beloofd:</p>\n"
	    "<p style=\"font-size: 1.2em;\"><strong>Call back about the "
	    "brake quote</strong></p>\n"
	    "<p>Uiterlijk vr 4 dec 17:00 (over 2 u).</p>\n"
	    "<footer>bru</footer>\n</div>\n");
	free(out);
	typical(&v, "en", "reminder");
	out = render(set, "en", "reminder", TEMPLATE_PART_HTML, &v);
	assert_true(strncmp(out, "<!DOCTYPE html>\n", 16) == 0);
	assert_null(strstr(out, "eigen"));
	free(out);
	template_set_free(set);
	free(odir);
	free(dir);
}

/* Values in a layout are escaped for HTML like anywhere in the HTML
 * part; the content, already rendered and escaped, goes in as it is
 * (escaped once, not twice). */
static void
test_layout_escaping(void **state)
{
	static const char *const files[] = {
		"en/layout.html", "<h1>{{recipient_name}}</h1>"
				  "<title>{{subject}}</title>\n{{content}}\n"
				  "<a href=\"{{link_done}}\">x</a>\n",
		"en/reminder.html", "<b>{{title}}</b>\n",
		"en/reminder.subject", "S {{title}}\n",
		NULL
	};
	char *dir = tpl_dir_new(files), err[512], *out;
	struct template_set *set = template_set_load(dir, NULL, err,
						     sizeof(err));
	struct template_vars v;

	(void)state;
	if (set == NULL)
		fail_msg("%s", err);
	memset(&v, 0, sizeof(v));
	v.v[TEMPLATE_VAR_RECIPIENT_NAME] = "<script>\"O'Neil\" & co";
	v.v[TEMPLATE_VAR_TITLE] = "a<b & c";
	v.v[TEMPLATE_VAR_LINK_DONE] = "https://x.example/a?t=1&u=\"2\"";
	out = render(set, "en", "reminder", TEMPLATE_PART_HTML, &v);
	assert_string_equal(out,
	    "<h1>&lt;script&gt;&quot;O&#39;Neil&quot; &amp; co</h1>"
	    "<title>S a&lt;b &amp; c</title>\n"
	    "<b>a&lt;b &amp; c</b>\n"
	    "<a href=\"https://x.example/a?t=1&amp;u=&quot;2&quot;\">x</a>\n");
	free(out);
	template_set_free(set);
	tpl_dir_free(dir);
}

/* ---- independent decoders for the email checks ---- */

static int
b64val(char c)
{
	const char *tab =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(tab, c);

	return c != '\0' && p != NULL ? (int)(p - tab) : -1;
}

/* Decodes base64 s[0..n) onto the end of out. */
static void
b64_decode(const char *s, size_t n, char *out)
{
	size_t i, o = strlen(out);

	assert_int_equal(n % 4, 0);
	for (i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);
		int c = s[i + 2] == '=' ? 0 : b64val(s[i + 2]);
		int d = s[i + 3] == '=' ? 0 : b64val(s[i + 3]);

		assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
		out[o++] = (char)((a << 2) | (b >> 4));
		if (s[i + 2] != '=')
			out[o++] = (char)(((b & 15) << 4) | (c >> 2));
		if (s[i + 3] != '=')
			out[o++] = (char)(((c & 3) << 6) | d);
	}
	out[o] = '\0';
}

/* Decodes a header value of "=?UTF-8?B?...?=" words separated by folding
 * white space, checking every word's and every line's length. */
static void
decode_2047(const char *v, size_t first_used, char *out)
{
	const char *p = v;
	size_t line = first_used;

	out[0] = '\0';
	while (*p != '\0') {
		const char *end;

		if (strncmp(p, "\r\n ", 3) == 0) {
			p += 3;
			line = 1;
			continue;
		}
		assert_true(strncmp(p, "=?UTF-8?B?", 10) == 0);
		end = strstr(p + 10, "?=");
		assert_non_null(end);
		assert_true((size_t)(end + 2 - p) <= 75);
		line += (size_t)(end + 2 - p);
		assert_true(line <= 76);
		b64_decode(p + 10, (size_t)(end - (p + 10)), out);
		p = end + 2;
	}
}

static void
test_rfc2047(void **state)
{
	const char *subj = "Réparation prête: Zoë, façade et ça";
	char out[4096], *v, *line, big[1024];
	size_t i;

	(void)state;
	v = mime_encode_header_value(subj, 9);
	decode_2047(v, 9, out);
	assert_string_equal(out, subj);
	free(v);
	/* Long: 150 two-byte characters must fold, never split one. */
	for (i = 0; i < 150; i++)
		memcpy(big + 2 * i, i % 3 == 0 ? "é" : i % 3 == 1 ? "ë" : "ç",
		       2);
	big[300] = '\0';
	v = mime_encode_header_value(big, 9);
	assert_non_null(strstr(v, "\r\n "));
	decode_2047(v, 9, out);
	assert_string_equal(out, big);
	free(v);
	/* Plain ASCII stays readable. */
	line = mime_header_new("Subject", "Reminder: brakes");
	assert_string_equal(line, "Subject: Reminder: brakes\r\n");
	free(line);
	/* ASCII that looks like an encoded word is encoded itself. */
	v = mime_encode_header_value("=?x?=", 9);
	decode_2047(v, 9, out);
	assert_string_equal(out, "=?x?=");
	free(v);
}

/* Decodes quoted-printable (CRLF lines, soft breaks) into out. */
static void
qp_decode(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' &&
		    s[i + 2] == '\n') {
			i += 3;
		} else if (s[i] == '=') {
			char hex[3] = { s[i + 1], s[i + 2], 0 };

			assert_true(i + 2 < n);
			out[o++] = (char)strtol(hex, NULL, 16);
			i += 3;
		} else if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			out[o++] = '\n';
			i += 2;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
}

static const char *text_body =
	"Hello Alice,\n\nYou promised Zoë Façade: café réparé €\n"
	".leading dot\nFrom the desk\ntrailing space \n"
	"A long line that goes on and on = with an equals sign and more "
	"words to pass seventy-six characters easily, and then some more.\n";

static char *
build(const char *idem, const char *to)
{
	struct mime_msg m;
	char err[256], *out;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.from = "promised <promised@example.com>";
	m.to = to;
	m.reply_to = "Service desk <desk@example.com>";
	m.subject = "Réparation: ë et ç";
	m.text = text_body;
	m.html = "<p>Caf\xC3\xA9 &amp; co</p>\n";
	m.idem_key = idem;
	m.date = util_days_from_civil(2026, 11, 29) * 86400 + 9 * 3600 +
		 4 * 60 + 18;
	if (mime_build_message(&m, &out, &len, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(len, strlen(out));
	return out;
}

/* The text between the part header's blank line and the next boundary. */
static void
part_body(const char *msg, const char *type, char *out)
{
	const char *p = strstr(msg, type), *start, *end;

	assert_non_null(p);
	start = strstr(p, "\r\n\r\n");
	assert_non_null(start);
	start += 4;
	end = strstr(start, "\r\n--=_promised_");
	assert_non_null(end);
	qp_decode(start, (size_t)(end + 2 - start), out);
}

static void
test_multipart(void **state)
{
	char *msg = build("42:3:email:alice", "Alice <alice@example.com>");
	char body[4096], boundary[64], *close;
	const char *p;

	(void)state;
	assert_non_null(strstr(msg, "From: promised <promised@example.com>\r\n"));
	assert_non_null(strstr(msg, "To: Alice <alice@example.com>\r\n"));
	assert_non_null(strstr(msg, "Reply-To: Service desk "
				    "<desk@example.com>\r\n"));
	assert_non_null(strstr(msg, "\r\nDate: Sun, 29 Nov 2026 09:04:18 "
				    "+0000\r\n"));
	assert_non_null(strstr(msg, "\r\nAuto-Submitted: auto-generated\r\n"));
	assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "Content-Type: multipart/alternative;"));
	mime_boundary("42:3:email:alice", boundary, sizeof(boundary));
	assert_true(strncmp(boundary, "=_promised_", 11) == 0);
	assert_int_equal(strlen(boundary), 11 + 32);
	close = xasprintf("\r\n--%s--\r\n", boundary);
	assert_non_null(strstr(msg, close));
	free(close);
	part_body(msg, "Content-Type: text/plain; charset=UTF-8", body);
	assert_string_equal(body, text_body);
	part_body(msg, "Content-Type: text/html; charset=UTF-8", body);
	assert_string_equal(body, "<p>Café &amp; co</p>\n");
	assert_int_equal(strstr(msg, "text/plain") < strstr(msg, "text/html"),
			 1);
	/* Every line ends in CRLF and fits 76 characters; no body line
	 * starts with "." or "From ". */
	for (p = msg; *p != '\0';) {
		const char *e = strstr(p, "\r\n");

		assert_non_null(e);
		assert_true(e - p <= 76);
		assert_null(memchr(p, '\n', (size_t)(e - p)));
		assert_false(*p == '.');
		assert_false(strncmp(p, "From ", 5) == 0);
		p = e + 2;
	}
	free(msg);
}

static void
test_message_id(void **state)
{
	char *a = build("42:3:email:alice", "alice@example.com");
	char *b = build("42:3:email:alice", "alice@example.com");
	char *c = build("42:4:email:alice", "alice@example.com");
	char *id;

	(void)state;
	/* A retry is the same message, byte for byte. */
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "\r\nMessage-ID: "
				  "<42=3A3=3Aemail=3Aalice@promised.invalid>\r\n"));
	assert_string_not_equal(a, c);
	id = mime_message_id_new("a.b c<d>=é");
	assert_string_equal(id, "<a=2Eb=20c=3Cd=3E=3D=C3=A9@promised.invalid>");
	free(id);
	free(a);
	free(b);
	free(c);
}

/* Every line of the header block must be a known header or a folded
 * continuation of one. */
static void
assert_headers_clean(const char *msg)
{
	static const char *const known[] = {
		"From: ", "To: ", "Reply-To: ", "Subject: ", "Date: ",
		"Message-ID: ", "Auto-Submitted: ", "X-Auto-Response-Suppress: ",
		"MIME-Version: ", "Content-Type: ", " ",
	};
	const char *p = msg, *end = strstr(msg, "\r\n\r\n");
	size_t i;

	assert_non_null(end);
	while (p < end) {
		int ok = 0;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strncmp(p, known[i], strlen(known[i])) == 0)
				ok = 1;
		if (!ok)
			fail_msg("unexpected header line: %.40s", p);
		p = strstr(p, "\r\n") + 2;
	}
}

static void
test_header_injection(void **state)
{
	struct template_set *set = load_shipped();
	struct template_vars v;
	struct mime_msg m;
	char err[256], *subject, *msg;
	size_t len;

	(void)state;
	typical(&v, "en", "reminder");
	v.v[TEMPLATE_VAR_CUSTOMER_NAME] = "Jan\r\nBcc: evil@example.com\r\n";
	subject = render(set, "en", "reminder", TEMPLATE_PART_SUBJECT, &v);
	assert_null(strpbrk(subject, "\r\n"));
	memset(&m, 0, sizeof(m));
	m.from = "promised@example.com";
	m.to = "Jan\r\nBcc: evil@example.com <jan@example.com>";
	m.subject = subject;
	m.text = "x\n";
	m.html = "<p>x</p>\n";
	m.idem_key = "1:1:email:jan";
	assert_int_equal(mime_build_message(&m, &msg, &len, err, sizeof(err)),
			 0);
	assert_headers_clean(msg);
	assert_null(strstr(msg, "\r\nBcc:"));
	free(msg);
	/* A raw subject with CR LF is neutralised by the builder as well. */
	m.subject = "a\r\nBcc: evil@example.com";
	assert_int_equal(mime_build_message(&m, &msg, &len, err, sizeof(err)),
			 0);
	assert_headers_clean(msg);
	assert_non_null(strstr(msg, "Subject: a  Bcc: evil@example.com\r\n"));
	free(msg);
	/* An address with a line break inside the address is refused. */
	m.to = "jan@exa\r\nmple.com";
	assert_int_equal(mime_build_message(&m, &msg, &len, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "To: not a usable address");
	free(subject);
	template_set_free(set);
}

static void
test_addresses_and_date(void **state)
{
	char *a, d[64];

	(void)state;
	a = mime_address_new("Peeters, Jan <jan@example.com>");
	assert_string_equal(a, "\"Peeters, Jan\" <jan@example.com>");
	free(a);
	a = mime_address_new("  jan@example.com ");
	assert_string_equal(a, "jan@example.com");
	free(a);
	a = mime_address_new("Zoë <zoe@example.com>");
	assert_string_equal(a, "=?UTF-8?B?Wm/Dqw==?= <zoe@example.com>");
	free(a);
	assert_null(mime_address_new("not an address"));
	mime_date(0, d, sizeof(d));
	assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
	/* 29 February 2028 is a Tuesday. */
	mime_date(util_days_from_civil(2028, 2, 29) * 86400 + 23 * 3600 +
		  59 * 60 + 59, d, sizeof(d));
	assert_string_equal(d, "Tue, 29 Feb 2028 23:59:59 +0000");
}

static char *
repeat(const char *s, int n)
{
	size_t l = strlen(s);
	char *out = xmalloc(l * (size_t)n + 1);
	int i;

	for (i = 0; i < n; i++)
		memcpy(out + l * (size_t)i, s, l);
	out[l * (size_t)n] = '\0';
	return out;
}

static void
expect_sms(const char *unit, int n, int want_segments, int want_ucs2)
{
	char *s = repeat(unit, n);
	int ucs2 = -1;

	assert_int_equal(sms_segments(s, &ucs2), want_segments);
	assert_int_equal(ucs2, want_ucs2);
	free(s);
}

static void
test_sms_segments(void **state)
{
	char *s;
	int ucs2;

	(void)state;
	expect_sms("a", 160, 1, 0);
	expect_sms("a", 161, 2, 0);
	expect_sms("a", 306, 2, 0);     /* 2 x 153 */
	expect_sms("a", 307, 3, 0);
	expect_sms("[", 80, 1, 0);      /* extension: 2 septets each */
	expect_sms("€", 81, 2, 0);
	expect_sms("é", 160, 1, 0);     /* é, è, à, ù, Ç are GSM-7 */
	expect_sms("Ç", 160, 1, 0);
	expect_sms("ç", 70, 1, 1);      /* lowercase ç is not */
	expect_sms("ç", 71, 2, 1);
	expect_sms("ë", 134, 2, 1);     /* 2 x 67 */
	expect_sms("ë", 135, 3, 1);
	expect_sms("😀", 35, 1, 1);     /* outside the BMP: 2 units each */
	expect_sms("😀", 36, 2, 1);
	expect_sms("`", 1, 1, 1);
	/* One extension character tips 159 plain ones over 160. */
	s = repeat("a", 159);
	{
		char *t = xasprintf("%s€", s);

		assert_int_equal(sms_length(t, &ucs2), 161);
		assert_int_equal(ucs2, 0);
		assert_int_equal(sms_segments(t, NULL), 2);
		free(t);
	}
	free(s);
	assert_int_equal(sms_length("ç😀", &ucs2), 3);
	assert_int_equal(ucs2, 1);
	assert_int_equal(sms_segments("", &ucs2), 1);
	assert_int_equal(sms_segments("a\xff", &ucs2), -1);
}

static void
test_shipped_sms_fit(void **state)
{
	struct template_set *set = load_shipped();
	struct template_vars v;
	size_t l, k;

	(void)state;
	for (l = 0; l < 3; l++)
		for (k = 0; k < 4; k++) {
			char *out;
			int ucs2 = -1, seg;

			typical(&v, locales[l], kinds[k]);
			out = render(set, locales[l], kinds[k],
				     TEMPLATE_PART_SMS, &v);
			seg = sms_segments(out, &ucs2);
			if (seg != 1 || ucs2 != 0)
				fail_msg("%s/%s.sms: %d segments%s (%d): %s",
					 locales[l], kinds[k], seg,
					 ucs2 ? " UCS-2" : "",
					 sms_length(out, NULL), out);
			assert_non_null(strstr(out, "K7Q2"));
			free(out);
		}
	template_set_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_substitution),
		cmocka_unit_test(test_escape_json),
		cmocka_unit_test(test_escape_html),
		cmocka_unit_test(test_escape_header_form),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_shipped_check),
		cmocka_unit_test(test_shipped_render_all),
		cmocka_unit_test(test_shipped_kinds_differ),
		cmocka_unit_test(test_locale_fallback),
		cmocka_unit_test(test_missing_file_fallback),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_override_typo),
		cmocka_unit_test(test_layout_applied),
		cmocka_unit_test(test_layout_shipped),
		cmocka_unit_test(test_layout_content_errors),
		cmocka_unit_test(test_content_outside_layout),
		cmocka_unit_test(test_layout_override),
		cmocka_unit_test(test_layout_escaping),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_addresses_and_date),
		cmocka_unit_test(test_sms_segments),
		cmocka_unit_test(test_shipped_sms_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
