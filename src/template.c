/*
 * template: parses and renders notification templates (`{{name}}` and
 * `{{#name}}...{{/name}}`), escapes values for text, HTML, JSON, headers
 * and form bodies, and loads the per-locale template set with the user's
 * overrides.  Unknown names are errors found when templates are loaded, so
 * a typo is reported by --check-config, not discovered in a sent message.
 * The HTML part of a message is wrapped in the locale's layout.html (the
 * document, greeting, facts, buttons and footer the kinds share), so a
 * kind's html file holds only what that kind says.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "promised/sbuf.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

#define TEMPLATE_MAX_FILE ((size_t)256 * 1024)

/* The tag a layout holds once, where the kind's rendered HTML goes. */
#define CONTENT_TAG "content"
#define LAYOUT_FILE "layout.html"
/* Size of every path buffer here; path_fits checks against it. */
#define PATH_BUF 4096

static const char *const var_names[TEMPLATE_VAR_COUNT] = {
	[TEMPLATE_VAR_TITLE] = "title",
	[TEMPLATE_VAR_DETAILS] = "details",
	[TEMPLATE_VAR_CUSTOMER_NAME] = "customer_name",
	[TEMPLATE_VAR_CUSTOMER_PHONE] = "customer_phone",
	[TEMPLATE_VAR_CUSTOMER_TEL_URI] = "customer_tel_uri",
	[TEMPLATE_VAR_CUSTOMER_EMAIL] = "customer_email",
	[TEMPLATE_VAR_VEHICLE] = "vehicle",
	[TEMPLATE_VAR_VIN] = "vin",
	[TEMPLATE_VAR_DUE_LOCAL] = "due_local",
	[TEMPLATE_VAR_DUE_RELATIVE] = "due_relative",
	[TEMPLATE_VAR_OWNER_NAME] = "owner_name",
	[TEMPLATE_VAR_OWNER_ID] = "owner_id",
	[TEMPLATE_VAR_RECIPIENT_NAME] = "recipient_name",
	[TEMPLATE_VAR_SITE] = "site",
	[TEMPLATE_VAR_PROMISE_ID] = "promise_id",
	[TEMPLATE_VAR_REF] = "ref",
	[TEMPLATE_VAR_STEP] = "step",
	[TEMPLATE_VAR_KIND] = "kind",
	[TEMPLATE_VAR_LATE_NOTE] = "late_note",
	[TEMPLATE_VAR_HISTORY] = "history",
	[TEMPLATE_VAR_SHORT_CODE] = "short_code",
	[TEMPLATE_VAR_LINK_DONE] = "link_done",
	[TEMPLATE_VAR_LINK_ACK] = "link_ack",
	[TEMPLATE_VAR_LINK_SNOOZE] = "link_snooze",
	[TEMPLATE_VAR_RECIPIENT_PHONE] = "recipient_phone",
	[TEMPLATE_VAR_RECIPIENT_EMAIL] = "recipient_email",
	[TEMPLATE_VAR_TEXT] = "text",
	[TEMPLATE_VAR_SUBJECT] = "subject",
	[TEMPLATE_VAR_IDEM_KEY] = "idem_key",
	[TEMPLATE_VAR_DUE_ISO] = "due_iso",
};

static const char *const locales[] = { "en", "nl", "fr" };
#define NLOCALES (sizeof(locales) / sizeof(locales[0]))

static const char *const kinds[] = {
	"reminder", "last_call", "lapse", "escalation"
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct {
	const char *ext;
	enum template_escape esc;
	int one_line;
} parts[TEMPLATE_PART_COUNT] = {
	[TEMPLATE_PART_SUBJECT] = { "subject", TEMPLATE_HEADER, 1 },
	[TEMPLATE_PART_TXT] = { "txt", TEMPLATE_TEXT, 0 },
	[TEMPLATE_PART_HTML] = { "html", TEMPLATE_HTML, 0 },
	[TEMPLATE_PART_SMS] = { "sms", TEMPLATE_TEXT, 1 },
};

enum op_kind { OP_TEXT, OP_VAR, OP_OPEN, OP_CLOSE, OP_CONTENT };

struct op {
	enum op_kind kind;
	int var;
	size_t off, len;   /* OP_TEXT: a span of src */
	size_t jump;       /* OP_OPEN: index of its OP_CLOSE */
};

/* struct template's `uses` has a bit per variable. */
_Static_assert(TEMPLATE_VAR_COUNT <= 64, "more variables than bits");

struct template {
	char *src;
	struct op *ops;
	size_t nops, capops;
	uint64_t uses;     /* bit v: variable v is substituted or tested */
};

struct template_set {
	struct template *t[NLOCALES][NKINDS][TEMPLATE_PART_COUNT];
	struct template *layout[NLOCALES];    /* NULL: none in that locale */
};

/* Appends one line of a load report (at most 511 bytes of text). */
static void
sb_errf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sb_errf(struct sbuf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sbuf_puts(b, line);
	sbuf_add(b, "\n", 1);
}

const char *
template_var_name(enum template_var v)
{
	if ((int)v < 0 || v >= TEMPLATE_VAR_COUNT)
		return NULL;
	return var_names[v];
}

int
template_var_lookup(const char *name)
{
	int i;

	for (i = 0; i < TEMPLATE_VAR_COUNT; i++)
		if (strcmp(var_names[i], name) == 0)
			return i;
	return -1;
}

int
template_vars_set(struct template_vars *vars, const char *name,
		  const char *value)
{
	int v = template_var_lookup(name);

	if (v < 0)
		return -1;
	vars->v[v] = value;
	return 0;
}

int
template_kind_known(const char *kind)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (strcmp(kinds[i], kind) == 0)
			return 1;
	return 0;
}

/* ---- escaping ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t k, len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) { len = 2; cp = s[0] & 0x1F; }
	else if ((s[0] & 0xF0) == 0xE0) { len = 3; cp = s[0] & 0x0F; }
	else if ((s[0] & 0xF8) == 0xF0) { len = 4; cp = s[0] & 0x07; }
	else return 0;
	if (len > n)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Appends one ASCII byte c escaped as esc. */
static void
escape_ascii(struct sbuf *b, enum template_escape esc, unsigned char c)
{
	char tmp[8];

	switch (esc) {
	case TEMPLATE_HTML:
		switch (c) {
		case '&': sbuf_puts(b, "&amp;"); return;
		case '<': sbuf_puts(b, "&lt;"); return;
		case '>': sbuf_puts(b, "&gt;"); return;
		case '"': sbuf_puts(b, "&quot;"); return;
		case '\'': sbuf_puts(b, "&#39;"); return;
		}
		break;
	case TEMPLATE_JSON:
		switch (c) {
		case '"': sbuf_puts(b, "\\\""); return;
		case '\\': sbuf_puts(b, "\\\\"); return;
		case '\n': sbuf_puts(b, "\\n"); return;
		case '\r': sbuf_puts(b, "\\r"); return;
		case '\t': sbuf_puts(b, "\\t"); return;
		}
		if (c < 0x20 || c == 0x7F) {
			(void)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			sbuf_puts(b, tmp);
			return;
		}
		break;
	case TEMPLATE_HEADER:
		if (c < 0x20 || c == 0x7F) {
			sbuf_add(b, " ", 1);
			return;
		}
		break;
	case TEMPLATE_FORM:
		if (c == ' ') {
			sbuf_add(b, "+", 1);
			return;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '*' || c == '-' ||
		      c == '.' || c == '_')) {
			(void)snprintf(tmp, sizeof(tmp), "%%%02X", c);
			sbuf_puts(b, tmp);
			return;
		}
		break;
	case TEMPLATE_TEXT:
		break;
	}
	sbuf_add(b, (const char *)&c, 1);
}

/* Appends one multi-byte UTF-8 character escaped as esc. */
static void
escape_utf8(struct sbuf *b, enum template_escape esc,
	    const unsigned char *s, size_t n)
{
	char tmp[8];
	size_t k;

	if (esc == TEMPLATE_FORM) {
		for (k = 0; k < n; k++) {
			(void)snprintf(tmp, sizeof(tmp), "%%%02X", s[k]);
			sbuf_puts(b, tmp);
		}
		return;
	}
	/* C1 controls (U+0080..U+009F) and the Unicode line and paragraph
	 * separators end lines for some readers: no header may hold one. */
	if (esc == TEMPLATE_HEADER &&
	    ((n == 2 && s[0] == 0xC2 && s[1] < 0xA0) ||
	     (n == 3 && s[0] == 0xE2 && s[1] == 0x80 &&
	      (s[2] == 0xA8 || s[2] == 0xA9)))) {
		sbuf_add(b, " ", 1);
		return;
	}
	sbuf_add(b, (const char *)s, n);
}

static void
escape_append(struct sbuf *b, enum template_escape esc, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0;

	while (i < n) {
		size_t l = utf8_len(s + i, n - i);

		if (l == 0) {
			escape_utf8(b, esc,
				    (const unsigned char *)"\xEF\xBF\xBD", 3);
			i++;
		} else if (l == 1) {
			escape_ascii(b, esc, s[i]);
			i++;
		} else {
			escape_utf8(b, esc, s + i, l);
			i += l;
		}
	}
}

char *
template_escape_new(enum template_escape esc, const char *s)
{
	struct sbuf b = { 0 };

	escape_append(&b, esc, s ? s : "");
	return sbuf_take(&b);
}

/* ---- parsing ---- */

/* A place in a template, 1-based; a struct so line and column stay
 * apart. */
struct pos {
	int line, col;
};

/* Line and column (in characters) of offset off in src. */
static struct pos
position(const char *src, size_t off)
{
	struct pos at = { 1, 1 };
	size_t i;

	for (i = 0; i < off; i++) {
		if (src[i] == '\n') {
			at.line++;
			at.col = 1;
		} else if (((unsigned char)src[i] & 0xC0) != 0x80) {
			at.col++;
		}
	}
	return at;
}

static void
loc_err(struct sbuf *errs, const char *name, const char *src, size_t off,
	const char *msg)
{
	struct pos at = position(src, off);

	sb_errf(errs, "%s:%d:%d: %s", name, at.line, at.col, msg);
}

/* A stretch of the source, [off, off + len); one value, so that an
 * offset and a length cannot trade places. */
struct span {
	size_t off, len;
};

static const struct span no_text;

static size_t
add_op(struct template *t, enum op_kind kind, int var, struct span text)
{
	if (t->nops == t->capops) {
		t->capops = t->capops ? t->capops * 2 : 16;
		t->ops = xreallocarray(t->ops, t->capops, sizeof(*t->ops));
	}
	t->ops[t->nops].kind = kind;
	t->ops[t->nops].var = var;
	t->ops[t->nops].off = text.off;
	t->ops[t->nops].len = text.len;
	t->ops[t->nops].jump = 0;
	/* An unknown name (-1) is an error the parse reports. */
	if ((kind == OP_VAR || kind == OP_OPEN) && var >= 0)
		t->uses |= UINT64_C(1) << var;
	return t->nops++;
}

/* Reports an unknown name with the closest known one when it is close. */
static void
unknown_var(struct sbuf *errs, const char *name, const char *src,
	    size_t off, const char *var)
{
	char msg[256];
	int i, best = -1, bestd = 100;

	for (i = 0; i < TEMPLATE_VAR_COUNT; i++) {
		int d = util_edit_distance(var, var_names[i]);

		if (d < bestd) {
			bestd = d;
			best = i;
		}
	}
	if (best >= 0 && bestd <= 3)
		(void)snprintf(msg, sizeof(msg),
			       "unknown variable '%s'; did you mean '%s'?", var,
			       var_names[best]);
	else
		(void)snprintf(msg, sizeof(msg), "unknown variable '%s'", var);
	loc_err(errs, name, src, off, msg);
}

/* A section tag alone on its line takes the whole line with it, so that
 * sections can be written one tag per line without leaving blank lines.
 * Returns 1 and sets [*ls, *le) to the line when the tag [ts, te) stands
 * alone. */
static int
standalone(const char *src, size_t ts, size_t te, size_t *ls, size_t *le)
{
	size_t a = ts, z = te;

	while (a > 0 && (src[a - 1] == ' ' || src[a - 1] == '\t'))
		a--;
	if (a > 0 && src[a - 1] != '\n')
		return 0;
	while (src[z] == ' ' || src[z] == '\t' || src[z] == '\r')
		z++;
	if (src[z] == '\n')
		z++;
	else if (src[z] != '\0')
		return 0;
	*ls = a;
	*le = z;
	return 1;
}

struct open_sec {
	int var;           /* -1 when the name was unknown (reported) */
	size_t op, off;    /* its OP_OPEN and the tag's offset */
	size_t no, nl;     /* its name in src */
};

struct parse {
	struct template *t;
	const char *name;
	struct sbuf *errs;
	struct open_sec *stack;
	size_t depth;
	int stopped;       /* an unterminated tag ended the parse */
	int layout;        /* a layout: {{content}} is allowed, once */
	int ncontent;      /* {{content}} tags seen */
	size_t content_off;   /* the first one's offset */
};

/* Closes the innermost section with the tag at ts named src[name]. */
static void
close_section(struct parse *ps, size_t ts, struct span name)
{
	const char *src = ps->t->src;
	size_t no = name.off, nl = name.len;
	struct open_sec *top;
	char msg[256];
	size_t close;

	if (ps->depth == 0) {
		(void)snprintf(msg, sizeof(msg),
			       "'{{/%.*s}}' closes no open section",
			       (int)nl, src + no);
		loc_err(ps->errs, ps->name, src, ts, msg);
		return;
	}
	top = &ps->stack[ps->depth - 1];
	if (top->nl != nl || memcmp(src + top->no, src + no, nl) != 0) {
		struct pos at = position(src, top->off);

		(void)snprintf(msg, sizeof(msg), "'{{/%.*s}}' does not match "
			       "'{{#%.*s}}' opened at line %d, column %d",
			       (int)nl, src + no, (int)top->nl, src + top->no,
			       at.line, at.col);
		loc_err(ps->errs, ps->name, src, ts, msg);
		ps->depth--;    /* one mistake, one message */
		return;
	}
	close = add_op(ps->t, OP_CLOSE, top->var, no_text);
	ps->t->ops[top->op].jump = close;   /* add_op may move ops */
	ps->depth--;
}

/* {{content}} at ts: where a layout takes the kind's HTML.  It is a name
 * no other template may use, never a section, and stands once in a
 * layout, outside any section, so the message can never be dropped or
 * doubled. */
static void
content_tag(struct parse *ps, char sig, size_t ts)
{
	const char *src = ps->t->src;
	char msg[160];

	if (!ps->layout) {
		loc_err(ps->errs, ps->name, src, ts, "'{{content}}' is only "
			"valid in " LAYOUT_FILE " (where a message's HTML goes)");
		return;
	}
	if (sig != 0) {
		loc_err(ps->errs, ps->name, src, ts,
			"'content' cannot be a section");
		return;
	}
	if (ps->depth > 0) {
		loc_err(ps->errs, ps->name, src, ts,
			"'{{content}}' cannot stand inside a section");
		return;
	}
	if (ps->ncontent++ > 0) {
		struct pos at = position(src, ps->content_off);

		(void)snprintf(msg, sizeof(msg),
			       "a second '{{content}}' (a layout holds "
			       "exactly one; the first is at line %d, "
			       "column %d)", at.line, at.col);
		loc_err(ps->errs, ps->name, src, ts, msg);
		return;
	}
	ps->content_off = ts;
	add_op(ps->t, OP_CONTENT, -1, no_text);
}

/* Handles the tag at ts whose name is src[no, no + nl) with sigil sig
 * ('#', '/' or 0); errors are reported into ps->errs. */
static void
parse_tag(struct parse *ps, char sig, size_t ts, size_t no, size_t nl)
{
	const char *src = ps->t->src;
	char var[65], msg[256];
	size_t i;
	int v;

	if (nl == 0 || nl >= sizeof(var)) {
		loc_err(ps->errs, ps->name, src, no, "missing or bad name in tag");
		return;
	}
	if (sig == '/') {
		close_section(ps, ts, (struct span){ no, nl });
		return;
	}
	memcpy(var, src + no, nl);
	var[nl] = '\0';
	if (strcmp(var, CONTENT_TAG) == 0) {
		content_tag(ps, sig, ts);
		return;
	}
	for (i = 0; i < nl; i++)
		if (!((var[i] >= 'a' && var[i] <= 'z') || var[i] == '_' ||
		      (var[i] >= '0' && var[i] <= '9')))
			break;
	v = template_var_lookup(var);
	if (i < nl) {
		(void)snprintf(msg, sizeof(msg), "bad variable name '%s'", var);
		loc_err(ps->errs, ps->name, src, no, msg);
	} else if (v < 0) {
		unknown_var(ps->errs, ps->name, src, no, var);
	}
	if (sig != '#') {
		add_op(ps->t, OP_VAR, v, no_text);
		return;
	}
	/* Pushed even when unknown, so its closing tag still matches. */
	ps->stack = xreallocarray(ps->stack, ps->depth + 1, sizeof(*ps->stack));
	ps->stack[ps->depth].var = v;
	ps->stack[ps->depth].off = ts;
	ps->stack[ps->depth].no = no;
	ps->stack[ps->depth].nl = nl;
	ps->stack[ps->depth].op = add_op(ps->t, OP_OPEN, v, no_text);
	ps->depth++;
}

/* Parses every tag of ps->t->src.  Errors are collected; after an
 * unterminated tag the rest of the file cannot be read as tags. */
static void
parse_all(struct parse *ps)
{
	const char *src = ps->t->src;
	size_t pos = 0;

	for (;;) {
		const char *p = strstr(src + pos, "{{"), *q;
		size_t ts, te, no, nl, ls, le, text_end;
		char sig = 0;

		if (p == NULL) {
			if (src[pos] != '\0')
				add_op(ps->t, OP_TEXT, -1,
				       (struct span){ pos, strlen(src + pos) });
			return;
		}
		ts = (size_t)(p - src);
		q = strstr(p + 2, "}}");
		if (q == NULL || memchr(p, '\n', (size_t)(q - p)) != NULL) {
			loc_err(ps->errs, ps->name, src, ts,
				"unterminated tag: '{{' without '}}' on the "
				"same line");
			ps->stopped = 1;
			return;
		}
		te = (size_t)(q - src) + 2;
		no = ts + 2;
		while (src[no] == ' ')
			no++;
		if (src[no] == '#' || src[no] == '/')
			sig = src[no++];
		while (src[no] == ' ')
			no++;
		nl = (size_t)(q - src) - no;
		while (nl > 0 && src[no + nl - 1] == ' ')
			nl--;
		text_end = ts;
		/* {{content}} alone on its line takes the line too: the
		 * content brings its own line ends. */
		if ((sig != 0 || (nl == sizeof(CONTENT_TAG) - 1 &&
				  memcmp(src + no, CONTENT_TAG, nl) == 0)) &&
		    standalone(src, ts, te, &ls, &le)) {
			text_end = ls;
			te = le;
		}
		if (text_end > pos)
			add_op(ps->t, OP_TEXT, -1,
			       (struct span){ pos, text_end - pos });
		parse_tag(ps, sig, ts, no, nl);
		pos = te;
	}
}

void
template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->src);
	free(t->ops);
	free(t);
}

int
template_uses(const struct template *t, enum template_var var)
{
	return t != NULL && (t->uses & (UINT64_C(1) << var)) != 0;
}

int
template_set_uses(const struct template_set *set, enum template_part part,
		  enum template_var var)
{
	size_t l, k;

	if (set == NULL || (int)part < 0 || part >= TEMPLATE_PART_COUNT)
		return 0;
	for (l = 0; l < NLOCALES; l++) {
		if (part == TEMPLATE_PART_HTML &&
		    template_uses(set->layout[l], var))
			return 1;
		for (k = 0; k < NKINDS; k++) {
			if (template_uses(set->t[l][k][part], var))
				return 1;
		}
	}
	return 0;
}

/* Parses src (a layout when layout is set), appending errors to errs;
 * NULL when there were any. */
static struct template *
parse_into(const char *src, const char *name, int layout, struct sbuf *errs)
{
	struct parse ps;
	size_t before = errs->len, i;

	memset(&ps, 0, sizeof(ps));
	ps.t = xcalloc(1, sizeof(*ps.t));
	ps.t->src = xstrdup(src);
	ps.name = name;
	ps.errs = errs;
	ps.layout = layout;
	if (!util_utf8_valid(src, strlen(src)))
		sb_errf(errs, "%s: not valid UTF-8", name);
	else
		parse_all(&ps);
	if (layout && ps.ncontent == 0 && !ps.stopped && errs->len == before)
		sb_errf(errs, "%s:1:1: a layout needs one '{{content}}' tag "
			"where the message's HTML goes; there is none", name);
	for (i = ps.depth; i > 0 && !ps.stopped; i--) {
		const struct open_sec *o = &ps.stack[i - 1];
		char msg[128];

		(void)snprintf(msg, sizeof(msg),
			       "section '{{#%.*s}}' is not closed",
			       (int)o->nl, src + o->no);
		loc_err(errs, name, src, o->off, msg);
	}
	free(ps.stack);
	if (errs->len != before) {
		template_free(ps.t);
		return NULL;
	}
	return ps.t;
}

struct template *
template_parse(const char *src, const char *name, char *err, size_t errlen)
{
	struct sbuf errs = { 0 };
	struct template *t;

	t = parse_into(src, name, 0, &errs);
	if (t == NULL) {
		if (errs.len > 0 && errs.p[errs.len - 1] == '\n')
			errs.p[--errs.len] = '\0';
		util_seterr(err, errlen, "%s", errs.p);
	}
	sbuf_free(&errs);
	return t;
}

/* Renders t into *out (owned); a layout's {{content}} becomes content,
 * which is already rendered and escaped, as is. */
static void
expand(const struct template *t, enum template_escape esc,
       const struct template_vars *vars, const char *content, char **out)
{
	struct sbuf b = { 0 };
	size_t i;

	for (i = 0; i < t->nops; i++) {
		const struct op *o = &t->ops[i];
		const char *val = o->var >= 0 ? vars->v[o->var] : NULL;

		switch (o->kind) {
		case OP_TEXT:
			sbuf_add(&b, t->src + o->off, o->len);
			break;
		case OP_VAR:
			if (val != NULL)
				escape_append(&b, esc, val);
			break;
		case OP_OPEN:
			if (val == NULL || val[0] == '\0')
				i = o->jump;
			break;
		case OP_CLOSE:
			break;
		case OP_CONTENT:
			if (content != NULL)
				sbuf_puts(&b, content);
			break;
		}
	}
	*out = sbuf_take(&b);
}

int
template_expand(const struct template *t, enum template_escape esc,
		const struct template_vars *vars, char **out,
		char *err, size_t errlen)
{
	if (t == NULL || vars == NULL) {
		util_seterr(err, errlen, "no template or no values");
		*out = NULL;
		return -1;
	}
	expand(t, esc, vars, NULL, out);
	return 0;
}

/* ---- the set ---- */

/* Reads path into *out (owned).  Returns 1, 0 when the file does not
 * exist, or -1 after reporting why it could not be read. */
static int
read_file(const char *path, char **out, struct sbuf *errs)
{
	char ebuf[UTIL_STRERROR_LEN];
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int rc = -1;

	*out = NULL;
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		sb_errf(errs, "%s: %s", path, util_strerror(errno, ebuf,
							    sizeof(ebuf)));
		return -1;
	}
	buf = xmalloc(TEMPLATE_MAX_FILE + 1);
	n = fread(buf, 1, TEMPLATE_MAX_FILE + 1, f);
	if (ferror(f)) {
		sb_errf(errs, "%s: read error", path);
		goto out;
	}
	if (n > TEMPLATE_MAX_FILE) {
		sb_errf(errs, "%s: larger than 256 KiB", path);
		goto out;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		sb_errf(errs, "%s: contains a NUL byte", path);
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = 1;
out:
	free(buf);
	(void)fclose(f); /* read only: nothing to lose */
	return rc;
}

/* Loads one file, the override's when present; a missing file is an
 * error only in English, which every other locale falls back to. */
/* A path cut to the buffer would name another file: an error. */
static int
path_fits(int n, const char *dir, struct sbuf *errs)
{
	if (util_fits(n, PATH_BUF))
		return 1;
	sb_errf(errs, "%s: path too long", dir);
	return 0;
}

static struct template *
load_one(const char *dir, const char *odir, size_t l, size_t k, size_t p,
	 struct sbuf *errs)
{
	char path[PATH_BUF];
	char *src = NULL;
	struct template *t;
	int rc = 0;

	if (odir != NULL) {
		if (!path_fits(snprintf(path, sizeof(path), "%s/%s/%s.%s", odir,
					locales[l], kinds[k], parts[p].ext),
			       odir, errs))
			return NULL;
		rc = read_file(path, &src, errs);
	}
	if (rc == 0) {
		if (!path_fits(snprintf(path, sizeof(path), "%s/%s/%s.%s", dir,
					locales[l], kinds[k], parts[p].ext),
			       dir, errs))
			return NULL;
		rc = read_file(path, &src, errs);
		if (rc == 0 && l == 0)
			sb_errf(errs, "%s: missing (every English template "
				"must exist)", path);
	}
	if (rc <= 0)
		return NULL;
	t = parse_into(src, path, 0, errs);
	free(src);
	return t;
}

/* Loads the layout of locale l, the override's when present.  Every
 * layout is optional: a locale without one uses the English one, and
 * without an English one the kinds' HTML is sent as it is. */
static struct template *
load_layout(const char *dir, const char *odir, size_t l, struct sbuf *errs)
{
	char path[PATH_BUF];
	char *src = NULL;
	struct template *t;
	int rc = 0;

	if (odir != NULL) {
		if (!path_fits(snprintf(path, sizeof(path),
					"%s/%s/" LAYOUT_FILE,
					odir, locales[l]), odir, errs))
			return NULL;
		rc = read_file(path, &src, errs);
	}
	if (rc == 0) {
		if (!path_fits(snprintf(path, sizeof(path),
					"%s/%s/" LAYOUT_FILE,
					dir, locales[l]), dir, errs))
			return NULL;
		rc = read_file(path, &src, errs);
	}
	if (rc <= 0)
		return NULL;
	t = parse_into(src, path, 1, errs);
	free(src);
	return t;
}

/* Returns the index of name in tab, or -1. */
static int
index_of(const char *const *tab, size_t n, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(tab[i]) == len && strncmp(tab[i], name, len) == 0)
			return (int)i;
	return -1;
}

/* A file in the override folder that no locale, kind and part names is
 * almost always a typo ("remider.txt"); it would silently do nothing. */
static void
check_override_names(const char *odir, struct sbuf *errs)
{
	size_t l;
	struct dirent *e;
	DIR *d;

	for (l = 0; l < NLOCALES; l++) {
		char path[PATH_BUF];

		if (!path_fits(snprintf(path, sizeof(path), "%s/%s", odir,
					locales[l]), odir, errs))
			return;
		d = opendir(path);
		if (d == NULL)
			continue;
		/* readdir_r is deprecated; glibc's readdir is safe on a
		 * stream no other thread sees, as d here. */
		while ((e = readdir(d)) != NULL) { // NOLINT(concurrency-mt-unsafe): d is local
			const char *dot = strrchr(e->d_name, '.');
			size_t i;
			int ok = 0;

			if (e->d_name[0] == '.' ||
			    strcmp(e->d_name, LAYOUT_FILE) == 0)
				continue;
			for (i = 0; dot != NULL && i < TEMPLATE_PART_COUNT; i++)
				if (strcmp(dot + 1, parts[i].ext) == 0)
					ok = 1;
			if (!ok || index_of(kinds, NKINDS, e->d_name,
					    (size_t)(dot - e->d_name)) < 0)
				sb_errf(errs, "%s/%s: not a template name "
					"(<kind>.<part>, kinds: reminder, "
					"last_call, lapse, escalation; parts: "
					"subject, txt, html, sms; or "
					LAYOUT_FILE ")", path,
					e->d_name);
		}
		closedir(d);
	}
}

static struct template_set *
load_all(const char *dir, const char *odir, struct sbuf *errs)
{
	struct template_set *set = xcalloc(1, sizeof(*set));
	struct stat st;
	size_t l, k, p;

	if (dir == NULL || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		sb_errf(errs, "%s: not a folder of templates",
			dir ? dir : "(none)");
		return set;
	}
	if (odir != NULL) {
		if (stat(odir, &st) != 0 || !S_ISDIR(st.st_mode))
			sb_errf(errs, "%s: override folder not found", odir);
		else
			check_override_names(odir, errs);
	}
	for (l = 0; l < NLOCALES; l++) {
		for (k = 0; k < NKINDS; k++)
			for (p = 0; p < TEMPLATE_PART_COUNT; p++)
				set->t[l][k][p] = load_one(dir, odir, l, k, p,
							   errs);
		set->layout[l] = load_layout(dir, odir, l, errs);
	}
	return set;
}

static int
count_lines(const struct sbuf *b)
{
	size_t i;
	int n = 0;

	for (i = 0; i < b->len; i++)
		if (b->p[i] == '\n')
			n++;
	return n;
}

struct template_set *
template_set_load(const char *dir, const char *override_dir,
		  char *err, size_t errlen)
{
	struct sbuf errs = { 0 };
	struct template_set *set;
	int n;

	set = load_all(dir, override_dir, &errs);
	n = count_lines(&errs);
	if (n > 0) {
		char *nl = strchr(errs.p, '\n');

		*nl = '\0';
		if (n > 1)
			util_seterr(err, errlen, "%s (and %d more)", errs.p,
				    n - 1);
		else
			util_seterr(err, errlen, "%s", errs.p);
		template_set_free(set);
		set = NULL;
	}
	sbuf_free(&errs);
	return set;
}

int
template_set_check(const char *dir, const char *override_dir,
		   char **report)
{
	struct sbuf errs = { 0 };
	int n;

	template_set_free(load_all(dir, override_dir, &errs));
	n = count_lines(&errs);
	if (report != NULL)
		*report = errs.p;
	else
		sbuf_free(&errs);
	return n;
}

void
template_set_free(struct template_set *set)
{
	size_t l, k, p;

	if (set == NULL)
		return;
	for (l = 0; l < NLOCALES; l++) {
		for (k = 0; k < NKINDS; k++)
			for (p = 0; p < TEMPLATE_PART_COUNT; p++)
				template_free(set->t[l][k][p]);
		template_free(set->layout[l]);
	}
	free(set);
}

/* Joins lines with single spaces and trims the ends: a subject or an SMS
 * is one line whatever the template's layout. */
static void
one_line(char *s)
{
	char *r = s, *w = s;
	int space = 0;

	for (; *r != '\0'; r++) {
		if (*r == '\n' || *r == '\r' || *r == '\t' || *r == ' ') {
			space = w != s;
			continue;
		}
		if (space)
			*w++ = ' ';
		space = 0;
		*w++ = *r;
	}
	*w = '\0';
}

/* 1 when the HTML template t is a whole document (it starts with
 * <!DOCTYPE or <html): such a template is sent as it is, without the
 * layout, so a full page written before layouts existed still works. */
static int
whole_document(const struct template *t)
{
	const char *s = t->src;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	return strncasecmp(s, "<!doctype", 9) == 0 ||
	       strncasecmp(s, "<html", 5) == 0;
}

/* Wraps the rendered HTML *out of kind k in layout lt: the layout sees
 * the same values, and `subject` is the message's rendered subject when
 * the caller has not set it (for the page's <title>). */
static void
apply_layout(const struct template_set *set, const struct template *lt,
	     int l, int k, const struct template_vars *vars, char **out)
{
	const struct template *st = set->t[l][k][TEMPLATE_PART_SUBJECT];
	struct template_vars lv = *vars;
	char *subject = NULL, *page = NULL;

	if (st == NULL)
		st = set->t[0][k][TEMPLATE_PART_SUBJECT];
	if ((lv.v[TEMPLATE_VAR_SUBJECT] == NULL ||
	     lv.v[TEMPLATE_VAR_SUBJECT][0] == '\0') && st != NULL) {
		expand(st, TEMPLATE_HEADER, vars, NULL, &subject);
		one_line(subject);
		lv.v[TEMPLATE_VAR_SUBJECT] = subject;
	}
	expand(lt, TEMPLATE_HTML, &lv, *out, &page);
	free(subject);
	free(*out);
	*out = page;
}

int
template_render(const struct template_set *set, const char *locale,
		const char *kind, enum template_part part,
		const struct template_vars *vars, char **out,
		char *err, size_t errlen)
{
	const struct template *t = NULL, *lt;
	int l = -1, k;

	*out = NULL;
	if ((int)part < 0 || part >= TEMPLATE_PART_COUNT) {
		util_seterr(err, errlen, "no such template part");
		return -1;
	}
	k = kind ? index_of(kinds, NKINDS, kind, strlen(kind)) : -1;
	if (k < 0) {
		util_seterr(err, errlen, "unknown message kind '%s'",
			    kind ? kind : "(none)");
		return -1;
	}
	/* "nl", "nl_BE", "nl-BE.UTF-8": the language is the first two. */
	if (locale != NULL && strlen(locale) >= 2 &&
	    (locale[2] == '\0' || locale[2] == '_' || locale[2] == '-'))
		l = index_of(locales, NLOCALES, locale, 2);
	if (l >= 0)
		t = set->t[l][k][part];
	if (t == NULL) {
		l = 0;
		t = set->t[0][k][part];
	}
	if (template_expand(t, parts[part].esc, vars, out, err, errlen) != 0)
		return -1;
	if (parts[part].one_line)
		one_line(*out);
	if (part != TEMPLATE_PART_HTML || whole_document(t))
		return 0;
	/* The layout of the locale the content came from, so a message
	 * falling back to English is English throughout. */
	lt = set->layout[l] ? set->layout[l] : set->layout[0];
	if (lt == NULL)
		return 0;
	apply_layout(set, lt, l, k, vars, out);
	return 0;
}
