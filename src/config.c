/*
 * config: loads the one YAML file into struct config.  libyaml composes
 * the document (keeping every node's position); tables of fields then
 * validate each mapping, so a new section or key is a new table row.  Every
 * problem is collected with its file:line:column, references between
 * sections (staff, teams, sites, policies, channels) are checked once the
 * whole file is read, and the errors are handed back sorted by position.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <regex.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "promised/config.h"
#include "promised/log.h"
#include "promised/secret.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/version.h"
#include "promised/xmalloc.h"

#define DEFAULT_DATABASE "/var/lib/promised/promised.db"
#define MAX_FIELDS 24

/* One collected error; sorted by position before it is handed out. */
struct cerr {
	int line, col;
	size_t seq;
	char *msg;
};

/* What a name read somewhere must resolve to once everything is read. */
enum ref_kind { REF_STAFF = 0, REF_TEAM, REF_SITE, REF_POLICY, REF_CHANNEL };

struct ref {
	enum ref_kind kind;
	const char *name;     /* borrowed from the config being built */
	const char *label;    /* "manager", "lead", "recipient", ... */
	const char *self;     /* staff id that may not refer to itself */
	int line, col;
};

struct ctx {
	const char *file;
	char *dir;            /* the config file's folder, absolute if possible */
	yaml_document_t *doc;
	struct config *cfg;
	struct cerr *errs;
	size_t nerrs;
	struct ref *refs;
	size_t nrefs;
	struct phrase_rule *fphrases;  /* the file's phrases, merged at the end */
	size_t nfphrases;
	const char *cur_staff_id;      /* id of the staff entry being read */
	struct retry_src *retries;     /* channels' retry mappings */
	size_t nretries;
	struct retry_src *outbox;      /* the top-level outbox mapping */
};

enum { RETRY_BASE = 0, RETRY_FACTOR, RETRY_CAP, RETRY_MAX_AGE, RETRY_NKEYS };

/* A retry mapping as read: which keys it set and where, so the checks
 * that need the merged values (cap >= base) can point at the file. */
struct retry_src {
	struct cfg_retry val;
	struct cfg_retry *dst;   /* where the merged values go */
	unsigned set;            /* 1 << RETRY_* */
	int line[RETRY_NKEYS], col[RETRY_NKEYS];
};

struct field;
struct typed_map;
typedef void (*field_fn)(struct ctx *c, yaml_node_t *v, void *dst,
			 const struct field *f);

/* One key of a mapping: its parser writes at obj + off. */
struct field {
	const char *key;
	field_fn parse;
	size_t off;
	int required;
	const void *arg;
};

struct enum_name {
	const char *name;
	int value;
};

struct enum_tab {
	const struct enum_name *names;
	size_t n;
};

/* ---- errors ------------------------------------------------------------ */

static void cerror(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
cerror_at(struct ctx *c, int line, int col, const char *msg)
{
	c->errs = xreallocarray(c->errs, c->nerrs + 1, sizeof(*c->errs));
	c->errs[c->nerrs].line = line;
	c->errs[c->nerrs].col = col;
	c->errs[c->nerrs].seq = c->nerrs;
	c->errs[c->nerrs].msg = xasprintf("%s:%d:%d: %s", c->file, line, col,
					  msg);
	c->nerrs++;
}

static void
cerror(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cerror_at(c, (int)m->line + 1, (int)m->column + 1, msg);
}

/* An error that carries its own "file:line:column: " (a template file);
 * it is listed after the config file's own errors. */
static void
cerror_raw(struct ctx *c, const char *msg)
{
	c->errs = xreallocarray(c->errs, c->nerrs + 1, sizeof(*c->errs));
	c->errs[c->nerrs].line = INT_MAX;
	c->errs[c->nerrs].col = 0;
	c->errs[c->nerrs].seq = c->nerrs;
	c->errs[c->nerrs].msg = xstrdup(msg);
	c->nerrs++;
}

static void
errs_push(struct config_errors *errs, char *msg)
{
	errs->msg = xreallocarray(errs->msg, errs->n + 1, sizeof(*errs->msg));
	errs->msg[errs->n++] = msg;
}

static int
cerr_cmp(const void *a, const void *b)
{
	const struct cerr *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* ---- nodes ------------------------------------------------------------- */

static const char *
type_name(yaml_node_type_t t)
{
	switch (t) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_SCALAR_NODE: return "a string";
	default: return "nothing";
	}
}

static const char *
kind_name(const yaml_node_t *n)
{
	return type_name(n->type);
}

/* A plain empty, "~" or "null" scalar: the key is there without a value. */
static int
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return strcmp(v, "") == 0 || strcmp(v, "~") == 0 ||
	       strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	       strcmp(v, "NULL") == 0;
}

/* 1 when n has the wanted type; null counts as an empty collection. */
static int
want(struct ctx *c, yaml_node_t *n, yaml_node_type_t type, const char *what)
{
	if (n->type == type)
		return 1;
	if (type != YAML_SCALAR_NODE && is_null(n))
		return 0;
	cerror(c, &n->start_mark, "%s: expected %s, found %s", what,
	       type_name(type), kind_name(n));
	return 0;
}

static size_t seq_len(const yaml_node_t *n);

/* Null, or a list without items. */
static int
empty_list(const yaml_node_t *n)
{
	return is_null(n) || (n->type == YAML_SEQUENCE_NODE && seq_len(n) == 0);
}

static size_t
map_len(const yaml_node_t *n)
{
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static size_t
seq_len(const yaml_node_t *n)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *
map_key(struct ctx *c, yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(c->doc, n->data.mapping.pairs.start[i].key);
}

static yaml_node_t *
map_val(struct ctx *c, yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(c->doc,
				      n->data.mapping.pairs.start[i].value);
}

static yaml_node_t *
seq_item(struct ctx *c, yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
}

/* The scalar's text, or NULL with an error naming what was expected. */
static const char *
scalar(struct ctx *c, yaml_node_t *n, const char *what)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE) {
		cerror(c, &n->start_mark, "%s: expected a string, found %s",
		       what, kind_name(n));
		return NULL;
	}
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length) {
		cerror(c, &n->start_mark, "%s: contains a NUL byte", what);
		return NULL;
	}
	return v;
}

/* 1 (and an error) when key i of map repeats an earlier key. */
static int
dup_key(struct ctx *c, yaml_node_t *map, size_t i)
{
	yaml_node_t *k = map_key(c, map, i);
	size_t j;

	for (j = 0; j < i; j++) {
		yaml_node_t *o = map_key(c, map, j);

		if (o->type == YAML_SCALAR_NODE &&
		    strcmp((char *)o->data.scalar.value,
			   (char *)k->data.scalar.value) == 0) {
			cerror(c, &k->start_mark, "duplicate key '%s'",
			       (char *)k->data.scalar.value);
			return 1;
		}
	}
	return 0;
}

/* The text of key i, or NULL (with an error) when it is unusable. */
static const char *
key_text(struct ctx *c, yaml_node_t *map, size_t i)
{
	const char *k = scalar(c, map_key(c, map, i), "key");

	if (k == NULL || dup_key(c, map, i))
		return NULL;
	return k;
}

static void
unknown_key(struct ctx *c, yaml_node_t *k, const struct field *fields,
	    size_t n)
{
	const char *key = (const char *)k->data.scalar.value;
	const char *best = NULL;
	int bestd = 3;
	size_t i;

	for (i = 0; i < n; i++) {
		int d = util_edit_distance(key, fields[i].key);

		if (d < bestd) {
			bestd = d;
			best = fields[i].key;
		}
	}
	if (best != NULL)
		cerror(c, &k->start_mark,
		       "unknown key '%s'; did you mean '%s'?", key, best);
	else
		cerror(c, &k->start_mark, "unknown key '%s'", key);
}

static int other_type_key(struct ctx *c, yaml_node_t *k,
			  const struct typed_map *tm, int which);

/* Validates a mapping against a table of fields, writing into obj.  With
 * tm, a key of another type of tm is reported as such (which: this one). */
static void
walk_map_typed(struct ctx *c, yaml_node_t *map, const struct field *fields,
	       size_t n, void *obj, const char *what,
	       const struct typed_map *tm, int which)
{
	unsigned char seen[MAX_FIELDS] = { 0 };
	size_t i, j;

	if (n > MAX_FIELDS)
		fatal("config: a table has more than %d keys", MAX_FIELDS);
	if (!want(c, map, YAML_MAPPING_NODE, what) && !is_null(map))
		return;
	for (i = 0; i < map_len(map); i++) {
		const char *key = key_text(c, map, i);

		if (key == NULL)
			continue;
		for (j = 0; j < n && strcmp(fields[j].key, key) != 0; j++)
			;
		if (j == n) {
			if (tm == NULL ||
			    !other_type_key(c, map_key(c, map, i), tm, which))
				unknown_key(c, map_key(c, map, i), fields, n);
			continue;
		}
		seen[j] = 1;
		fields[j].parse(c, map_val(c, map, i), (char *)obj + fields[j].off,
				&fields[j]);
	}
	for (j = 0; j < n; j++)
		if (fields[j].required && !seen[j])
			cerror(c, &map->start_mark, "%s: missing required key '%s'",
			       what, fields[j].key);
}

static void
walk_map(struct ctx *c, yaml_node_t *map, const struct field *fields,
	 size_t n, void *obj, const char *what)
{
	walk_map_typed(c, map, fields, n, obj, what, NULL, 0);
}

/* The value of key in map, or NULL. */
static yaml_node_t *
map_lookup(struct ctx *c, yaml_node_t *map, const char *key)
{
	size_t i;

	for (i = 0; i < map_len(map); i++) {
		yaml_node_t *k = map_key(c, map, i);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return map_val(c, map, i);
	}
	return NULL;
}

static void
add_ref(struct ctx *c, enum ref_kind kind, const char *name,
	const char *label, const yaml_node_t *at)
{
	struct ref *r;

	c->refs = xreallocarray(c->refs, c->nrefs + 1, sizeof(*c->refs));
	r = &c->refs[c->nrefs++];
	r->kind = kind;
	r->name = name;
	r->label = label;
	r->self = kind == REF_STAFF && strcmp(label, "manager") == 0 ?
		  c->cur_staff_id : NULL;
	r->line = (int)at->start_mark.line + 1;
	r->col = (int)at->start_mark.column + 1;
}

/* ---- scalar field parsers ------------------------------------------------ */

/* An owned string; null leaves an optional field unset. */
static char *
dup_string(struct ctx *c, yaml_node_t *v, const struct field *f)
{
	const char *s;

	if (is_null(v)) {
		if (f->required)
			cerror(c, &v->start_mark, "%s: needs a value", f->key);
		return NULL;
	}
	s = scalar(c, v, f->key);
	if (s == NULL)
		return NULL;
	if (*s == '\0') {
		cerror(c, &v->start_mark, "%s: must not be empty", f->key);
		return NULL;
	}
	return xstrdup(s);
}

static void
parse_string(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;

	free(*out);
	*out = dup_string(c, v, f);
}

/* A string naming something defined elsewhere; f->arg is the ref kind. */
static void
parse_refname(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;

	parse_string(c, v, dst, f);
	if (*out != NULL)
		add_ref(c, (enum ref_kind)(intptr_t)f->arg, *out, f->key, v);
}

/* A file or folder: relative paths are taken from the config's folder. */
static void
parse_path(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	char *s = dup_string(c, v, f);

	free(*out);
	*out = NULL;
	if (s == NULL)
		return;
	if (s[0] == '/') {
		*out = s;
		return;
	}
	*out = xasprintf("%s/%s", c->dir, s);
	free(s);
}

static void
parse_enum(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	const struct enum_tab *t = f->arg;
	const char *s = scalar(c, v, f->key);
	char expect[256] = "";
	size_t i, off = 0;

	if (s == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		if (strcmp(s, t->names[i].name) == 0) {
			*(int *)dst = t->names[i].value;
			return;
		}
		off += (size_t)snprintf(expect + off, sizeof(expect) - off, "%s%s",
					i == 0 ? "" : i + 1 == t->n ? " or " : ", ",
					t->names[i].name);
		if (off >= sizeof(expect))
			off = sizeof(expect) - 1;
	}
	cerror(c, &v->start_mark, "invalid %s '%s' (expected %s)", f->key, s,
	       expect);
}

/* 0 with *secs set, or -1 after reporting why. */
static int
duration_of(struct ctx *c, yaml_node_t *v, const struct field *f,
	    int64_t *secs)
{
	const char *s = scalar(c, v, f->key);

	if (s == NULL)
		return -1;
	if (util_parse_duration(s, secs) != 0) {
		cerror(c, &v->start_mark,
		       "invalid %s '%s' (a duration such as 30m, 2h, -15m or 0)",
		       f->key, s);
		return -1;
	}
	return 0;
}

static void
parse_duration(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	int64_t secs;

	if (duration_of(c, v, f, &secs) == 0)
		*(int64_t *)dst = secs;
}

/* Parses "HH:MM" into minutes; 24:00 only when allow_2400. -1 on bad
 * form, -2 when out of range. */
static int
parse_hhmm(const char *s, size_t len, int allow_2400, int *out)
{
	int h, m;

	if (len != 5 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_2400)))
		return -2;
	*out = h * 60 + m;
	return 0;
}

/* ---- database, default_site, default_policy, daemon ------------------- */

static void
parse_safety_sweep(struct ctx *c, yaml_node_t *v, void *dst,
		   const struct field *f)
{
	int64_t *out = dst;
	int64_t secs;

	if (duration_of(c, v, f, &secs) != 0)
		return;
	if (secs != 0 && secs < 60) {
		cerror(c, &v->start_mark,
		       "safety_sweep '%s' is out of range: 0 (off) or at least "
		       "60s, at most once a minute",
		       (const char *)v->data.scalar.value);
		return;
	}
	*out = secs;
}

static const struct field daemon_fields[] = {
	{ "safety_sweep", parse_safety_sweep,
	  offsetof(struct cfg_daemon, safety_sweep), 0, NULL },
};

static void
parse_daemon(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	(void)f;
	walk_map(c, v, daemon_fields, sizeof(daemon_fields) / sizeof(*daemon_fields),
		 dst, "daemon");
}

/* ---- templates ------------------------------------------------------------ */

static void
parse_templates_dir(struct ctx *c, yaml_node_t *v, void *dst,
		    const struct field *f)
{
	struct cfg_templates *t = dst;

	parse_path(c, v, &t->dir, f);
	t->given = t->dir != NULL;
}

static const struct field templates_fields[] = {
	{ "dir", parse_templates_dir, 0, 0, NULL },
	{ "override", parse_path, offsetof(struct cfg_templates, override), 0,
	  NULL },
};

static void
parse_templates(struct ctx *c, yaml_node_t *v, void *dst,
		const struct field *f)
{
	(void)f;
	walk_map(c, v, templates_fields,
		 sizeof(templates_fields) / sizeof(*templates_fields), dst,
		 "templates");
}

/* Every template file is checked as the daemon would load it.  Without a
 * `templates` key the installed folder is checked when it exists; a
 * config that names none and has none installed is read without them. */
static void
check_templates(struct ctx *c)
{
	struct cfg_templates *t = &c->cfg->templates;
	struct stat st;
	char *report = NULL, *line, *save = NULL;

	if (t->dir == NULL)
		t->dir = xstrdup(CONFIG_TEMPLATES_DIR);
	if (!t->given && t->override == NULL && stat(t->dir, &st) != 0)
		return;
	if (template_set_check(t->dir, t->override, &report) == 0)
		goto out;
	for (line = strtok_r(report, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		cerror_raw(c, line);
out:
	free(report);
}

/* Line `line` (1-based) of the config file into buf ("" when missing). */
static void
file_line(const char *path, int line, char *buf, size_t buflen)
{
	FILE *fp = fopen(path, "rb");
	int ch, cur = 1;

	buf[0] = '\0';
	if (fp == NULL)
		return;
	while (cur < line && (ch = getc(fp)) != EOF)
		if (ch == '\n')
			cur++;
	if (fgets(buf, (int)buflen, fp) == NULL)
		buf[0] = '\0';
	(void)fclose(fp); /* read only: nothing to lose */
}

/* The indentation of line `line`: given the first line of a literal
 * block scalar, where each of its lines starts. */
static int
file_line_indent(const char *path, int line)
{
	char buf[4096];
	int indent = 0;

	file_line(path, line, buf, sizeof(buf));
	while (buf[indent] == ' ')
		indent++;
	return indent;
}

/* A place in a file, 1-based; a struct so line and column stay apart. */
struct pos {
	int line, col;
};

/* The file column (1-based) of character `want` (1-based) of the value of
 * a one-line quoted scalar whose quote is at quote: escapes (\" \n
 * \xHH \uHHHH, '') are one character of the value but several of the
 * file. */
static int
quoted_column(const char *path, struct pos quote, bool dbl, int want)
{
	char buf[4096];
	size_t i = 0;
	int col = 1, got = 1;

	file_line(path, quote.line, buf, sizeof(buf));
	for (; buf[i] != '\0' && col < quote.col; i++)     /* to the quote */
		if (((unsigned char)buf[i] & 0xC0) != 0x80)
			col++;
	if (buf[i] == '\0')
		return quote.col + want;
	i++;
	col++;
	while (got < want && buf[i] != '\0' && buf[i] != '\n') {
		size_t n = 1;

		if (dbl && buf[i] == '\\')
			n = buf[i + 1] == 'x' ? 4 : buf[i + 1] == 'u' ? 6
			  : buf[i + 1] == 'U' ? 10 : 2;
		else if (!dbl && buf[i] == '\'' && buf[i + 1] == '\'')
			n = 2;
		else
			while (((unsigned char)buf[i + n] & 0xC0) == 0x80)
				n++;
		for (; n > 0 && buf[i] != '\0'; n--, i++)
			if (((unsigned char)buf[i] & 0xC0) != 0x80)
				col++;
		got++;
	}
	return col;
}

/* One number of a template error's position, ended by ':'; 0 or -1. */
static int
body_number(const char *s, const char **next, int *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != ':' || v > INT_MAX)
		return -1;
	*out = (int)v;
	*next = end + 1;
	return 0;
}

/* "body:LINE:COLUMN: message", as template errors start: the position,
 * and in *used where the message begins; 0, or -1 for another shape. */
static int
body_position(const char *e, struct pos *at, int *used)
{
	const char *p;

	if (strncmp(e, "body:", 5) != 0 ||
	    body_number(e + 5, &p, &at->line) != 0 ||
	    body_number(p, &p, &at->col) != 0)
		return -1;
	while (isspace((unsigned char)*p))
		p++;
	*used = (int)(p - e);
	return 0;
}

/* Reports one template error "body:L:C: msg" of the body scalar v at its
 * place in the config file: exact for one-line and literal (|) bodies,
 * else at the start of the value with the body's own line and column. */
static void
body_error(struct ctx *c, yaml_node_t *v, const char *what, const char *e)
{
	const yaml_mark_t *m = &v->start_mark;
	yaml_scalar_style_t style = v->data.scalar.style;
	struct pos at = { 0, 0 };
	int used = 0, line, column, exact = 1;
	char msg[1024];

	if (body_position(e, &at, &used) != 0) {
		cerror(c, m, "%s: body: %s", what, e);
		return;
	}
	line = (int)m->line + 1;
	column = (int)m->column + 1;
	if (style == YAML_LITERAL_SCALAR_STYLE) {
		column = file_line_indent(c->file, line + 1) + at.col;
		line += at.line;
	} else if ((style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		    style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
		   at.line == 1 && v->end_mark.line == m->line) {
		struct pos quote = { line, column };

		column = quoted_column(c->file, quote,
				       style == YAML_DOUBLE_QUOTED_SCALAR_STYLE,
				       at.col);
	} else if (style == YAML_PLAIN_SCALAR_STYLE && at.line == 1) {
		column += at.col - 1;
	} else {
		exact = 0;
	}
	if (exact)
		(void)snprintf(msg, sizeof(msg), "%s: body: %s", what,
			       e + used);
	else
		(void)snprintf(msg, sizeof(msg),
			       "%s: body line %d, column %d: %s",
			       what, at.line, at.col, e + used);
	cerror_at(c, line, column, msg);
}

/* A webhook body is a template: a typo in a variable name is found now. */
static void
check_body(struct ctx *c, yaml_node_t *cv, const struct cfg_channel *ch,
	   const char *what)
{
	yaml_node_t *v = map_lookup(c, cv, "body");
	struct template *t;
	char err[4096] = "", *line, *save = NULL;

	if (v == NULL || v->type != YAML_SCALAR_NODE || ch->webhook.body == NULL)
		return;
	t = template_parse(ch->webhook.body, "body", err, sizeof(err));
	if (t != NULL) {
		template_free(t);
		return;
	}
	for (line = strtok_r(err, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		body_error(c, v, what, line);
}

/* ---- sites -------------------------------------------------------------- */

static void
parse_timezone(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;

	parse_string(c, v, dst, f);
	if (*out != NULL && !cal_tz_valid(*out)) {
		cerror(c, &v->start_mark, "unknown time zone '%s'", *out);
		free(*out);
		*out = NULL;
	}
}

/* One "HH:MM-HH:MM" appended to day d of site s after the checks. */
static void
add_range(struct ctx *c, yaml_node_t *v, struct cal_site *s, int d)
{
	const char *r = scalar(c, v, "hours");
	const char *dash;
	int open = 0, close = 0, rc1 = 0, rc2 = 0;

	if (r == NULL)
		return;
	dash = strchr(r, '-');
	if (dash == NULL || (rc1 = parse_hhmm(r, (size_t)(dash - r), 0, &open)) == -1 ||
	    (rc2 = parse_hhmm(dash + 1, strlen(dash + 1), 1, &close)) == -1) {
		cerror(c, &v->start_mark,
		       "invalid time range '%s' (expected HH:MM-HH:MM or closed)", r);
		return;
	}
	if (rc1 != 0 || rc2 != 0)
		cerror(c, &v->start_mark,
		       "time range '%s' is out of range (00:00 to 24:00)", r);
	else if (open >= close)
		cerror(c, &v->start_mark,
		       "time range '%s' must open before it closes", r);
	else if (s->nranges[d] > 0 && open < s->hours[d][s->nranges[d] - 1].close)
		cerror(c, &v->start_mark,
		       "time range '%s' overlaps or comes before the previous one",
		       r);
	else if (s->nranges[d] == CAL_MAX_RANGES)
		cerror(c, &v->start_mark, "too many time ranges (at most %d a day)",
		       CAL_MAX_RANGES);
	else {
		s->hours[d][s->nranges[d]].open = open;
		s->hours[d][s->nranges[d]].close = close;
		s->nranges[d]++;
	}
}

static const struct field day_fields[] = {
	{ "mon", NULL, 0, 0, NULL }, { "tue", NULL, 1, 0, NULL },
	{ "wed", NULL, 2, 0, NULL }, { "thu", NULL, 3, 0, NULL },
	{ "fri", NULL, 4, 0, NULL }, { "sat", NULL, 5, 0, NULL },
	{ "sun", NULL, 6, 0, NULL },
};

/* A day's value: "closed", one range, or a list of ranges. */
static void
parse_day(struct ctx *c, yaml_node_t *v, struct cal_site *s, int d)
{
	size_t i;

	if (v->type == YAML_SCALAR_NODE &&
	    strcmp((const char *)v->data.scalar.value, "closed") == 0)
		return;
	if (v->type == YAML_SCALAR_NODE) {
		add_range(c, v, s, d);
		return;
	}
	if (!want(c, v, YAML_SEQUENCE_NODE, day_fields[d].key))
		return;
	for (i = 0; i < seq_len(v); i++)
		add_range(c, seq_item(c, v, i), s, d);
}

/* Days not listed are closed. */
static void
parse_hours(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cal_site *s = dst;
	size_t i, d, nd = sizeof(day_fields) / sizeof(*day_fields);

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	for (i = 0; i < map_len(v); i++) {
		const char *key = key_text(c, v, i);

		if (key == NULL)
			continue;
		for (d = 0; d < nd && strcmp(day_fields[d].key, key) != 0; d++)
			;
		if (d == nd)
			unknown_key(c, map_key(c, v, i), day_fields, nd);
		else
			parse_day(c, map_val(c, v, i), s, (int)day_fields[d].off);
	}
}

static int
days_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* "YYYY-MM-DD" that names a real day; 0 or -1. */
static int
parse_date(const char *s, int64_t *days)
{
	int y, m, d, y2, m2, d2, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	*days = util_days_from_civil(y, m, d);
	util_civil_from_days(*days, &y2, &m2, &d2);
	return (y2 == y && m2 == m && d2 == d) ? 0 : -1;
}

static void
parse_holidays(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cal_site *s = dst;
	size_t i, n;

	if (!want(c, v, YAML_SEQUENCE_NODE, f->key))
		return;
	n = seq_len(v);
	s->holidays = xcalloc(n, sizeof(*s->holidays));
	for (i = 0; i < n; i++) {
		yaml_node_t *it = seq_item(c, v, i);
		const char *d = scalar(c, it, f->key);

		if (d == NULL)
			continue;
		if (parse_date(d, &s->holidays[s->nholidays]) != 0)
			cerror(c, &it->start_mark,
			       "invalid date '%s' (expected YYYY-MM-DD)", d);
		else
			s->nholidays++;
	}
	qsort(s->holidays, s->nholidays, sizeof(*s->holidays), days_cmp);
}

static void parse_holidays_src(struct ctx *c, yaml_node_t *v, void *dst,
			       const struct field *f);
static void parse_holidays_every(struct ctx *c, yaml_node_t *v, void *dst,
				 const struct field *f);

static void parse_site_digest(struct ctx *c, yaml_node_t *v, void *dst,
			      const struct field *f);

static const struct field site_fields[] = {
	{ "timezone", parse_timezone, offsetof(struct cal_site, tz), 1, NULL },
	{ "digest", parse_site_digest, 0, 0, NULL },
	{ "hours", parse_hours, 0, 1, NULL },
	{ "holidays", parse_holidays, 0, 0, NULL },
	{ "holidays_url", parse_holidays_src, 0, 0, NULL },
	{ "holidays_file", parse_holidays_src, 0, 0, "path" },
	{ "holidays_every", parse_holidays_every, 0, 0, NULL },
};

static void
parse_sites(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;
	size_t i;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	cfg->sites = xcalloc(map_len(v), sizeof(*cfg->sites));
	for (i = 0; i < map_len(v); i++) {
		struct cal_site *s = &cfg->sites[cfg->nsites];
		const char *id = key_text(c, v, i);

		if (id == NULL)
			continue;
		cfg->nsites++;
		s->id = xstrdup(id);
		walk_map(c, map_val(c, v, i), site_fields,
			 sizeof(site_fields) / sizeof(*site_fields), s, id);
	}
}

/* ---- staff -------------------------------------------------------------- */

static const struct enum_name locale_names[] = {
	{ "en", 0 }, { "nl", 1 }, { "fr", 2 },
};
static const struct enum_tab locale_tab = { locale_names, 3 };

static void
parse_locale(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	int which = -1;

	parse_enum(c, v, &which, f);
	if (which >= 0) {
		free(*out);
		*out = xstrdup(locale_names[which].name);
	}
}

/* Recipients that name a role rather than a staff id or a team. */
static const char *const role_recipients[] = {
	"owner", "owner.manager", "team.lead",
};
#define NROLES (sizeof(role_recipients) / sizeof(*role_recipients))

static void
parse_staff_id(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	size_t i;
	int reserved;

	parse_string(c, v, dst, f);
	if (*out == NULL)
		return;
	reserved = strncmp(*out, "team:", 5) == 0;
	for (i = 0; i < NROLES; i++)
		reserved |= strcmp(*out, role_recipients[i]) == 0;
	if (reserved) {
		cerror(c, &v->start_mark,
		       "staff id '%s' is reserved for a recipient role", *out);
		free(*out);
		*out = NULL;
		return;
	}
	for (i = 0; i < c->cfg->nstaff; i++) {
		char *o = c->cfg->staff[i].id;

		if (&c->cfg->staff[i].id != out && o != NULL && strcmp(o, *out) == 0) {
			cerror(c, &v->start_mark, "duplicate staff id '%s'", *out);
			free(*out);
			*out = NULL;
			return;
		}
	}
}

/* 1 when s looks like name@domain.tld without blanks or separators. */
static int
email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	const char *dot = at != NULL ? strrchr(at, '.') : NULL;

	return !(at == NULL || at == s || strchr(at + 1, '@') != NULL ||
		 dot == NULL || dot == at + 1 || dot[1] == '\0' ||
		 strpbrk(s, " \t\r\n<>,;") != NULL);
}

static void
parse_email(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;

	parse_string(c, v, dst, f);
	if (*out == NULL)
		return;
	if (!email_ok(*out)) {
		cerror(c, &v->start_mark,
		       "invalid email '%s' (expected name@domain.tld)", *out);
		free(*out);
		*out = NULL;
	}
}

static void
parse_phone(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	size_t n;

	parse_string(c, v, dst, f);
	if (*out == NULL)
		return;
	n = strlen(*out);
	if ((*out)[0] != '+' || n < 9 || n > 16 ||
	    strspn(*out + 1, "0123456789") != n - 1) {
		cerror(c, &v->start_mark,
		       "invalid phone '%s' (expected E.164: + then 8 to 15 digits)",
		       *out);
		free(*out);
		*out = NULL;
	}
}

static const struct field staff_fields[] = {
	{ "id", parse_staff_id, offsetof(struct cfg_staff, id), 1, NULL },
	{ "name", parse_string, offsetof(struct cfg_staff, name), 0, NULL },
	{ "email", parse_email, offsetof(struct cfg_staff, email), 0, NULL },
	{ "phone", parse_phone, offsetof(struct cfg_staff, phone), 0, NULL },
	{ "locale", parse_locale, offsetof(struct cfg_staff, locale), 0,
	  &locale_tab },
	{ "team", parse_refname, offsetof(struct cfg_staff, team), 0,
	  (const void *)(intptr_t)REF_TEAM },
	{ "manager", parse_refname, offsetof(struct cfg_staff, manager), 0,
	  (const void *)(intptr_t)REF_STAFF },
};

/* The id of a staff mapping, read first so "manager" can be checked
 * against it whatever the key order. */
static const char *
peek_id(struct ctx *c, yaml_node_t *m)
{
	size_t i;

	for (i = 0; i < map_len(m); i++) {
		yaml_node_t *k = map_key(c, m, i), *v = map_val(c, m, i);

		if (k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, "id") == 0)
			return (const char *)v->data.scalar.value;
	}
	return NULL;
}

static void
parse_staff(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;
	size_t i;

	if (!want(c, v, YAML_SEQUENCE_NODE, f->key))
		return;
	cfg->nstaff = seq_len(v);
	cfg->staff = xcalloc(cfg->nstaff, sizeof(*cfg->staff));
	for (i = 0; i < cfg->nstaff; i++) {
		yaml_node_t *it = seq_item(c, v, i);
		struct cfg_staff *s = &cfg->staff[i];

		c->cur_staff_id = peek_id(c, it);
		walk_map(c, it, staff_fields,
			 sizeof(staff_fields) / sizeof(*staff_fields), s, "staff");
		c->cur_staff_id = NULL;
		if (s->locale == NULL)
			s->locale = xstrdup("en");
	}
}

/* ---- teams -------------------------------------------------------------- */

static const struct field team_fields[] = {
	{ "lead", parse_refname, offsetof(struct cfg_team, lead), 1,
	  (const void *)(intptr_t)REF_STAFF },
	{ "site", parse_refname, offsetof(struct cfg_team, site), 1,
	  (const void *)(intptr_t)REF_SITE },
	{ "policy", parse_refname, offsetof(struct cfg_team, policy), 0,
	  (const void *)(intptr_t)REF_POLICY },
};

static void
parse_teams(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;
	size_t i;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	cfg->teams = xcalloc(map_len(v), sizeof(*cfg->teams));
	for (i = 0; i < map_len(v); i++) {
		struct cfg_team *t = &cfg->teams[cfg->nteams];
		const char *id = key_text(c, v, i);

		if (id == NULL)
			continue;
		cfg->nteams++;
		t->id = xstrdup(id);
		walk_map(c, map_val(c, v, i), team_fields,
			 sizeof(team_fields) / sizeof(*team_fields), t, id);
	}
}

/* ---- phrases ------------------------------------------------------------ */

static void
parse_phrase_text(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	char **out = dst, *p;

	parse_string(c, v, dst, f);
	for (p = *out; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
}

static void
parse_phrase_day(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	const char *s = scalar(c, v, f->key);

	if (s != NULL && phrase_day_parse(s, (enum phrase_day *)dst) != 0)
		cerror(c, &v->start_mark,
		       "invalid day '%s' (expected today, tomorrow, "
		       "this_business_day or next_business_day)", s);
}

static void
parse_phrase_time(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	struct phrase_rule *r = dst;
	const char *s = scalar(c, v, f->key);
	int rc;

	if (s == NULL)
		return;
	if (strcmp(s, "opening") == 0) {
		r->time = PHRASE_TIME_OPENING;
		return;
	}
	if (strcmp(s, "closing") == 0) {
		r->time = PHRASE_TIME_CLOSING;
		return;
	}
	rc = parse_hhmm(s, strlen(s), 0, &r->minute);
	if (rc == -1)
		cerror(c, &v->start_mark,
		       "invalid time '%s' (expected HH:MM, opening or closing)", s);
	else if (rc == -2)
		cerror(c, &v->start_mark,
		       "time '%s' is out of range (00:00 to 23:59)", s);
	else
		r->time = PHRASE_TIME_AT;
}

static const struct field phrase_fields[] = {
	{ "text", parse_phrase_text, offsetof(struct phrase_rule, text), 1, NULL },
	{ "locale", parse_locale, offsetof(struct phrase_rule, locale), 0,
	  &locale_tab },
	{ "day", parse_phrase_day, offsetof(struct phrase_rule, day), 1, NULL },
	{ "time", parse_phrase_time, 0, 1, NULL },
};

static void
parse_phrases(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	size_t i;

	(void)dst;
	if (!want(c, v, YAML_SEQUENCE_NODE, f->key))
		return;
	c->nfphrases = seq_len(v);
	c->fphrases = xcalloc(c->nfphrases, sizeof(*c->fphrases));
	for (i = 0; i < c->nfphrases; i++) {
		walk_map(c, seq_item(c, v, i), phrase_fields,
			 sizeof(phrase_fields) / sizeof(*phrase_fields),
			 &c->fphrases[i], "phrase");
		if (c->fphrases[i].locale == NULL)
			c->fphrases[i].locale = xstrdup("en");
	}
}

/* ---- policies ----------------------------------------------------------- */

static const struct enum_name anchor_names[] = {
	{ "due", SCHED_ANCHOR_DUE }, { "target", SCHED_ANCHOR_TARGET },
};
static const struct enum_tab anchor_tab = { anchor_names, 2 };

static const struct enum_name step_hours_names[] = {
	{ "business", SCHED_HOURS_BUSINESS }, { "any", SCHED_HOURS_ANY },
};
static const struct enum_tab step_hours_tab = { step_hours_names, 2 };

static const struct enum_name until_names[] = {
	{ "ack", SCHED_UNTIL_ACK }, { "close", SCHED_UNTIL_CLOSE },
};
static const struct enum_tab until_tab = { until_names, 2 };

typedef void (*name_fn)(struct ctx *c, const char *name, yaml_node_t *at);

/* A list of names (a single string counts as a list of one); check sees
 * each kept name with its node. */
static char **
name_list(struct ctx *c, yaml_node_t *v, const char *what, size_t *n,
	  name_fn check)
{
	char **out;
	size_t i, len;
	int single = v->type == YAML_SCALAR_NODE && !is_null(v);

	*n = 0;
	if (!single && !want(c, v, YAML_SEQUENCE_NODE, what))
		return NULL;
	len = single ? 1 : seq_len(v);
	out = xcalloc(len, sizeof(*out));
	for (i = 0; i < len; i++) {
		yaml_node_t *it = single ? v : seq_item(c, v, i);
		const char *s = scalar(c, it, what);

		if (s == NULL)
			continue;
		if (*s == '\0') {
			cerror(c, &it->start_mark, "%s: must not be empty", what);
			continue;
		}
		out[*n] = xstrdup(s);
		check(c, out[*n], it);
		(*n)++;
	}
	return out;
}

static void
check_recipient(struct ctx *c, const char *r, yaml_node_t *at)
{
	size_t j;

	for (j = 0; j < NROLES; j++)
		if (strcmp(role_recipients[j], r) == 0)
			return;
	if (strncmp(r, "team:", 5) == 0)
		add_ref(c, REF_TEAM, r + 5, "team", at);
	else
		add_ref(c, REF_STAFF, r, "recipient", at);
}

static void
check_channel(struct ctx *c, const char *name, yaml_node_t *at)
{
	add_ref(c, REF_CHANNEL, name, "channel", at);
}

static void
parse_recipients(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	struct sched_step *s = dst;

	s->recipients = name_list(c, v, f->key, &s->nrecipients,
				  check_recipient);
	if (s->nrecipients == 0 && empty_list(v))
		cerror(c, &v->start_mark, "%s: at least one recipient is needed",
		       f->key);
}

static void
parse_step_channels(struct ctx *c, yaml_node_t *v, void *dst,
		    const struct field *f)
{
	struct sched_step *s = dst;

	s->channels = name_list(c, v, f->key, &s->nchannels, check_channel);
	if (s->nchannels == 0 && empty_list(v))
		cerror(c, &v->start_mark, "%s: at least one channel is needed",
		       f->key);
}

static void
parse_repeat_max(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	const char *s = scalar(c, v, f->key);
	int64_t n;

	if (s == NULL)
		return;
	if (util_parse_int64(s, 1, 100, &n) != 0) {
		cerror(c, &v->start_mark, "max '%s' is out of range (1 to 100)", s);
		return;
	}
	*(int *)dst = (int)n;
}

static void
parse_repeat_every(struct ctx *c, yaml_node_t *v, void *dst,
		   const struct field *f)
{
	int64_t secs;

	if (duration_of(c, v, f, &secs) != 0)
		return;
	if (secs <= 0)
		cerror(c, &v->start_mark,
		       "every '%s' is out of range (a duration above 0)",
		       (const char *)v->data.scalar.value);
	else
		*(int64_t *)dst = secs;
}

static const struct field repeat_fields[] = {
	{ "every", parse_repeat_every, offsetof(struct sched_step, repeat_every),
	  1, NULL },
	{ "max", parse_repeat_max, offsetof(struct sched_step, repeat_max), 1,
	  NULL },
};

static void
parse_repeat(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	walk_map(c, v, repeat_fields, sizeof(repeat_fields) / sizeof(*repeat_fields),
		 dst, f->key);
}

static const struct field step_fields[] = {
	{ "name", parse_string, offsetof(struct sched_step, name), 1, NULL },
	{ "anchor", parse_enum, offsetof(struct sched_step, anchor), 0,
	  &anchor_tab },
	{ "offset", parse_duration, offsetof(struct sched_step, offset), 0, NULL },
	{ "to", parse_recipients, 0, 1, NULL },
	{ "channels", parse_step_channels, 0, 1, NULL },
	{ "hours", parse_enum, offsetof(struct sched_step, hours), 0,
	  &step_hours_tab },
	{ "repeat", parse_repeat, 0, 0, NULL },
	{ "until", parse_enum, offsetof(struct sched_step, until), 0, &until_tab },
};

static void
parse_policy(struct ctx *c, yaml_node_t *v, struct sched_policy *p)
{
	size_t i, j;

	if (empty_list(v)) {
		cerror(c, &v->start_mark, "policy '%s' has no steps", p->name);
		return;
	}
	if (!want(c, v, YAML_SEQUENCE_NODE, p->name))
		return;
	p->nsteps = seq_len(v);
	p->steps = xcalloc(p->nsteps, sizeof(*p->steps));
	for (i = 0; i < p->nsteps; i++) {
		yaml_node_t *it = seq_item(c, v, i);

		walk_map(c, it, step_fields, sizeof(step_fields) / sizeof(*step_fields),
			 &p->steps[i], "step");
		for (j = 0; j < i && p->steps[i].name != NULL; j++)
			if (p->steps[j].name != NULL &&
			    strcmp(p->steps[j].name, p->steps[i].name) == 0) {
				cerror(c, &it->start_mark, "duplicate step '%s'",
				       p->steps[i].name);
				break;
			}
	}
}

static void
parse_policies(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;
	size_t i;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	cfg->policies = xcalloc(map_len(v), sizeof(*cfg->policies));
	for (i = 0; i < map_len(v); i++) {
		struct sched_policy *p = &cfg->policies[cfg->npolicies];
		const char *name = key_text(c, v, i);

		if (name == NULL)
			continue;
		cfg->npolicies++;
		p->name = xstrdup(name);
		parse_policy(c, map_val(c, v, i), p);
	}
}

/* ---- typed mappings --------------------------------------------------- */

/* A mapping whose 'type' key chooses the table of its other keys. */
struct typed_map {
	const char *what;                  /* "a channel", "auth" */
	const struct enum_tab *types;      /* values index tables */
	const struct field *const *tables;
	const size_t *ntables;
	void (*init)(void *obj, int which);  /* a type's defaults; may be NULL */
};

/* 1 (and an error) when key k belongs to another type of tm. */
static int
other_type_key(struct ctx *c, yaml_node_t *k, const struct typed_map *tm,
	       int which)
{
	const char *key = (const char *)k->data.scalar.value;
	size_t t, j;

	for (t = 0; t < tm->types->n; t++) {
		if ((int)t == which)
			continue;
		for (j = 0; j < tm->ntables[t]; j++)
			if (strcmp(tm->tables[t][j].key, key) == 0) {
				cerror(c, &k->start_mark,
				       "'%s' is not valid for %s of type %s", key,
				       tm->what, tm->types->names[which].name);
				return 1;
			}
	}
	return 0;
}

/* Reads a typed mapping into obj; its type, or -1 after reporting. */
static int
walk_typed(struct ctx *c, yaml_node_t *map, const struct typed_map *tm,
	   void *obj, const char *what)
{
	const struct field tf = { "type", NULL, 0, 1, tm->types };
	yaml_node_t *tv;
	int which = -1;

	if (!want(c, map, YAML_MAPPING_NODE, what) && !is_null(map))
		return -1;
	tv = map_lookup(c, map, "type");
	if (tv == NULL) {
		cerror(c, &map->start_mark, "%s: missing required key 'type'",
		       what);
		return -1;
	}
	parse_enum(c, tv, &which, &tf);
	if (which < 0)
		return -1;
	if (tm->init != NULL)
		tm->init(obj, which);
	walk_map_typed(c, map, tm->tables[which], tm->ntables[which], obj, what,
		       tm, which);
	return which;
}

/* The 'type' key of a typed mapping: walk_typed has read it already. */
static void
parse_nothing(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	(void)c; (void)v; (void)dst; (void)f;
}

/* ---- channel field parsers -------------------------------------------- */

struct int_range {
	int64_t min, max;
};

static void
parse_int_range(struct ctx *c, yaml_node_t *v, void *dst,
		const struct field *f)
{
	const struct int_range *r = f->arg;
	const char *s = scalar(c, v, f->key);
	int64_t n;

	if (s == NULL)
		return;
	if (util_parse_int64(s, r->min, r->max, &n) != 0) {
		cerror(c, &v->start_mark,
		       "%s '%s' is out of range (%" PRId64 " to %" PRId64 ")",
		       f->key, s, r->min, r->max);
		return;
	}
	*(int *)dst = (int)n;
}

static void
parse_pos_duration(struct ctx *c, yaml_node_t *v, void *dst,
		   const struct field *f)
{
	int64_t secs;

	if (duration_of(c, v, f, &secs) != 0)
		return;
	if (secs <= 0)
		cerror(c, &v->start_mark,
		       "%s '%s' is out of range (a duration above 0)", f->key,
		       (const char *)v->data.scalar.value);
	else
		*(int64_t *)dst = secs;
}

/* A file holding a secret: see secret_path for where a relative one is. */
static void
parse_secret_file(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	char **out = dst;
	char *s = dup_string(c, v, f);

	free(*out);
	*out = NULL;
	if (s == NULL)
		return;
	*out = secret_path(c->dir, s);
	free(s);
}

/* 1 when s has a byte below 0x20 (other than a tab) or DEL. */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	return 0;
}

/* A string that ends up in a header: no CR, LF or control characters. */
static void
parse_header_text(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	char **out = dst;

	parse_string(c, v, dst, f);
	if (*out != NULL && has_control(*out)) {
		cerror(c, &v->start_mark,
		       "%s contains CR, LF or another control character", f->key);
		free(*out);
		*out = NULL;
	}
}

/* "host[:port]" of len bytes; 0 with *host (owned) and *port, or -1. */
static int
split_authority(const char *s, size_t len, char **host, int *port)
{
	size_t h;
	int64_t p;
	char num[8];

	if (len > 0 && s[0] == '[') {
		for (h = 1; h < len && s[h] != ']'; h++)
			if (!isxdigit((unsigned char)s[h]) && s[h] != ':' &&
			    s[h] != '.')
				return -1;
		if (h == len || h == 1)
			return -1;
		h++;
	} else {
		for (h = 0; h < len && (isalnum((unsigned char)s[h]) ||
					s[h] == '.' || s[h] == '-' || s[h] == '_');
		     h++)
			;
		if (h == 0)
			return -1;
	}
	if (h < len) {
		if (s[h] != ':' || len - h - 1 == 0 || len - h - 1 >= sizeof(num))
			return -1;
		memcpy(num, s + h + 1, len - h - 1);
		num[len - h - 1] = '\0';
		if (util_parse_int64(num, 1, 65535, &p) != 0)
			return -1;
		*port = (int)p;
	}
	*host = xstrndup(s, h);
	return 0;
}

/* smtp://host[:port] or smtps://host[:port], an optional final '/'. */
static void
parse_smtp_url(struct ctx *c, yaml_node_t *v, void *dst,
	       const struct field *f)
{
	struct cfg_smtp *m = dst;
	const char *s = scalar(c, v, f->key), *rest;
	size_t len;
	int tls;

	if (s == NULL)
		return;
	tls = util_startswith_ci(s, "smtps://");
	if (!tls && !util_startswith_ci(s, "smtp://"))
		goto bad;
	rest = s + (tls ? 8 : 7);
	len = strlen(rest);
	if (len > 0 && rest[len - 1] == '/')
		len--;
	m->port = tls ? 465 : 25;
	if (split_authority(rest, len, &m->host, &m->port) != 0)
		goto bad;
	free(m->url);
	m->url = xstrdup(s);
	return;
bad:
	cerror(c, &v->start_mark, "invalid url '%s' (expected smtp://host[:port] "
	       "or smtps://host[:port])", s);
}

/* http(s)://host[:port][/path][?query], nothing that needs escaping. */
static void
parse_http_url(struct ctx *c, yaml_node_t *v, void *dst,
	       const struct field *f)
{
	char **out = dst;
	const char *s = scalar(c, v, f->key), *rest;
	char *host = NULL;
	size_t i, len;
	int port = 0;

	if (s == NULL)
		return;
	if (util_startswith_ci(s, "https://"))
		rest = s + 8;
	else if (util_startswith_ci(s, "http://"))
		rest = s + 7;
	else
		goto bad;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '#')
			goto bad;
	len = strcspn(rest, "/?");
	if (split_authority(rest, len, &host, &port) != 0)
		goto bad;
	free(host);
	free(*out);
	*out = xstrdup(s);
	return;
bad:
	cerror(c, &v->start_mark, "invalid url '%s' (expected http:// or "
	       "https://, a host[:port] and an optional path)", s);
}

/* "addr" or "Name <addr>"; 0 with the parts (owned; *name may be NULL),
 * or -1. */
static int
split_address(const char *s, char **name, char **addr)
{
	const char *lt = strrchr(s, '<');
	size_t len = strlen(s), n;

	*name = *addr = NULL;
	if (has_control(s) || strchr(s, '\t') != NULL ||
	    !util_utf8_valid(s, len))
		return -1;
	if (lt == NULL) {
		if (!email_ok(s))
			return -1;
		*addr = xstrdup(s);
		return 0;
	}
	if (len == 0 || s[len - 1] != '>')
		return -1;
	*addr = xstrndup(lt + 1, (size_t)(s + len - 1 - (lt + 1)));
	for (n = (size_t)(lt - s); n > 0 && s[n - 1] == ' '; n--)
		;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		*name = xstrndup(s + 1, n - 2);
	else if (n > 0)
		*name = xstrndup(s, n);
	if (!email_ok(*addr) || (*name != NULL && strpbrk(*name, "<>\"") != NULL)) {
		free(*name);
		free(*addr);
		*name = *addr = NULL;
		return -1;
	}
	return 0;
}

/* 0 with the parts of an address field, or -1 after reporting. */
static int
address_of(struct ctx *c, yaml_node_t *v, const struct field *f, char **text,
	   char **name, char **addr)
{
	*text = dup_string(c, v, f);
	if (*text == NULL)
		return -1;
	if (split_address(*text, name, addr) != 0) {
		cerror(c, &v->start_mark, "invalid %s '%s' (expected "
		       "name@domain.tld or Name <name@domain.tld>)", f->key, *text);
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

static void
parse_from(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cfg_smtp *m = dst;
	char *text, *name, *addr;

	if (address_of(c, v, f, &text, &name, &addr) != 0)
		return;
	free(m->from); free(m->from_name); free(m->from_addr);
	m->from = text;
	m->from_name = name;
	m->from_addr = addr;
}

static void
parse_address(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	char *text, *name, *addr;

	if (address_of(c, v, f, &text, &name, &addr) != 0)
		return;
	free(name);
	free(addr);
	free(*out);
	*out = text;
}

/* Bytes, optionally with a KiB or MiB suffix. */
static void
parse_size(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	const char *s = scalar(c, v, f->key);
	char num[24];
	size_t n;
	int64_t val, mul = 1;

	if (s == NULL)
		return;
	n = strspn(s, "0123456789");
	if (strcmp(s + n, "KiB") == 0)
		mul = 1024;
	else if (strcmp(s + n, "MiB") == 0)
		mul = INT64_C(1024) * 1024;
	else if (s[n] != '\0')
		n = 0;
	if (n > 0 && n < sizeof(num)) {
		memcpy(num, s, n);
		num[n] = '\0';
	}
	if (n == 0 || n >= sizeof(num) ||
	    util_parse_int64(num, 1, INT64_C(64) * 1024, &val) != 0 ||
	    val * mul < 1024 || val * mul > INT64_C(64) * 1024 * 1024) {
		cerror(c, &v->start_mark, "%s '%s' is out of range (1KiB to 64MiB; "
		       "bytes, or a number with KiB or MiB)", f->key, s);
		return;
	}
	*(int64_t *)dst = val * mul;
}

/* ---- webhook headers, auth and signing -------------------------------- */

/* Headers promised sets itself, and why a config may not. */
static const struct {
	const char *name;
	const char *why;
} reserved_headers[] = {
	{ "Host", "comes from the url" },
	{ "Content-Length", "is set by promised" },
	{ "Transfer-Encoding", "is set by promised" },
	{ "Connection", "is set by promised" },
	{ "Content-Type", "comes from 'content_type'" },
	{ "Authorization", "would put a secret in the config; use 'auth'" },
	{ "webhook-id", "is set by 'signing'" },
	{ "webhook-timestamp", "is set by 'signing'" },
	{ "webhook-signature", "is set by 'signing'" },
};
#define NRESERVED (sizeof(reserved_headers) / sizeof(*reserved_headers))

/* 0 when name may be configured, else -1 after reporting at k. */
static int
check_header_name(struct ctx *c, yaml_node_t *k, const char *name,
		  const struct cfg_webhook *w)
{
	size_t i;

	if (name[0] == '\0' ||
	    name[strspn(name, "!#$%&'*+-.^_`|~0123456789"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")] !=
		    '\0') {
		cerror(c, &k->start_mark, "invalid header name '%s' (expected "
		       "letters, digits and !#$%%&'*+-.^_`|~)", name);
		return -1;
	}
	for (i = 0; i < NRESERVED; i++)
		if (strcasecmp(name, reserved_headers[i].name) == 0) {
			cerror(c, &k->start_mark, "header '%s' %s", name,
			       reserved_headers[i].why);
			return -1;
		}
	for (i = 0; i < w->nheaders; i++)
		if (strcasecmp(name, w->headers[i].name) == 0) {
			cerror(c, &k->start_mark, "duplicate header '%s'", name);
			return -1;
		}
	return 0;
}

static void
parse_headers(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cfg_webhook *w = dst;
	size_t i;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	w->headers = xcalloc(map_len(v), sizeof(*w->headers));
	for (i = 0; i < map_len(v); i++) {
		yaml_node_t *k = map_key(c, v, i), *hv = map_val(c, v, i);
		const char *name = key_text(c, v, i), *val;

		if (name == NULL || check_header_name(c, k, name, w) != 0)
			continue;
		val = is_null(hv) ? "" : scalar(c, hv, name);
		if (val == NULL)
			continue;
		if (has_control(val)) {
			cerror(c, &hv->start_mark, "header '%s' value contains CR, "
			       "LF or another control character", name);
			continue;
		}
		w->headers[w->nheaders].name = xstrdup(name);
		w->headers[w->nheaders].value = xstrdup(val);
		w->nheaders++;
	}
}

static const struct field bearer_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "token_file", parse_secret_file,
	  offsetof(struct cfg_webhook, auth_secret_file), 1, NULL },
};

static const struct field basic_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "username", parse_header_text,
	  offsetof(struct cfg_webhook, auth_username), 1, NULL },
	{ "password_file", parse_secret_file,
	  offsetof(struct cfg_webhook, auth_secret_file), 1, NULL },
};

static const struct enum_name auth_names[] = { { "bearer", 0 }, { "basic", 1 } };
static const struct enum_tab auth_tab = { auth_names, 2 };
static const struct field *const auth_tables[] = { bearer_fields, basic_fields };
static const size_t auth_ntables[] = {
	sizeof(bearer_fields) / sizeof(*bearer_fields),
	sizeof(basic_fields) / sizeof(*basic_fields),
};
static const struct typed_map auth_map = {
	"auth", &auth_tab, auth_tables, auth_ntables, NULL,
};

static void
parse_auth(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cfg_webhook *w = dst;
	int which = walk_typed(c, v, &auth_map, w, f->key);

	w->auth = which == 0 ? CFG_AUTH_BEARER :
		  which == 1 ? CFG_AUTH_BASIC : CFG_AUTH_NONE;
}

static const struct field std_webhooks_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "secret_file", parse_secret_file,
	  offsetof(struct cfg_webhook, signing_secret_file), 1, NULL },
};

static const struct enum_name signing_names[] = { { "standard-webhooks", 0 } };
static const struct enum_tab signing_tab = { signing_names, 1 };
static const struct field *const signing_tables[] = { std_webhooks_fields };
static const size_t signing_ntables[] = {
	sizeof(std_webhooks_fields) / sizeof(*std_webhooks_fields),
};
static const struct typed_map signing_map = {
	"signing", &signing_tab, signing_tables, signing_ntables, NULL,
};

static void
parse_signing(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cfg_webhook *w = dst;

	if (walk_typed(c, v, &signing_map, w, f->key) == 0)
		w->signing = CFG_SIGNING_STANDARD_WEBHOOKS;
}

/* ---- retry and outbox --------------------------------------------------- */

static const struct cfg_retry retry_defaults = { 30, 2.0, 3600, 86400 };

/* The retry_src whose member dst is (fields carry their offset). */
static struct retry_src *
retry_of(void *dst, const struct field *f)
{
	return (struct retry_src *)(void *)((char *)dst - f->off);
}

static void
retry_mark(void *dst, const struct field *f, const yaml_node_t *v)
{
	struct retry_src *r = retry_of(dst, f);
	int k = (int)(intptr_t)f->arg;

	r->set |= 1u << k;
	r->line[k] = (int)v->start_mark.line + 1;
	r->col[k] = (int)v->start_mark.column + 1;
}

static void
parse_retry_duration(struct ctx *c, yaml_node_t *v, void *dst,
		     const struct field *f)
{
	int64_t before = *(int64_t *)dst;

	*(int64_t *)dst = 0;
	parse_pos_duration(c, v, dst, f);
	if (*(int64_t *)dst > 0)
		retry_mark(dst, f, v);
	else
		*(int64_t *)dst = before;
}

static void
parse_retry_factor(struct ctx *c, yaml_node_t *v, void *dst,
		   const struct field *f)
{
	const char *s = scalar(c, v, f->key);
	char *end;
	double x;

	if (s == NULL)
		return;
	errno = 0;
	x = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(x >= 1.0 && x <= 10.0)) {
		cerror(c, &v->start_mark,
		       "factor '%s' is out of range (a number from 1.0 to 10.0)", s);
		return;
	}
	*(double *)dst = x;
	retry_mark(dst, f, v);
}

static const struct field retry_fields[] = {
	{ "base", parse_retry_duration, offsetof(struct retry_src, val.base), 0,
	  (const void *)(intptr_t)RETRY_BASE },
	{ "factor", parse_retry_factor, offsetof(struct retry_src, val.factor), 0,
	  (const void *)(intptr_t)RETRY_FACTOR },
	{ "cap", parse_retry_duration, offsetof(struct retry_src, val.cap), 0,
	  (const void *)(intptr_t)RETRY_CAP },
	{ "max_age", parse_retry_duration, offsetof(struct retry_src, val.max_age),
	  0, (const void *)(intptr_t)RETRY_MAX_AGE },
};
#define NRETRY_FIELDS (sizeof(retry_fields) / sizeof(*retry_fields))

/* A channel's retry: read now, merged over the outbox's at the end. */
static void
parse_chan_retry(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	struct retry_src *r;

	c->retries = xreallocarray(c->retries, c->nretries + 1,
				   sizeof(*c->retries));
	r = &c->retries[c->nretries++];
	memset(r, 0, sizeof(*r));
	r->dst = dst;
	walk_map(c, v, retry_fields, NRETRY_FIELDS, r, f->key);
}

static void
parse_outbox(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;

	c->outbox = xcalloc(1, sizeof(*c->outbox));
	c->outbox->dst = &cfg->outbox;
	walk_map(c, v, retry_fields, NRETRY_FIELDS, c->outbox, f->key);
}

static void
retry_overlay(struct cfg_retry *out, const struct retry_src *r)
{
	if (r->set & (1u << RETRY_BASE))
		out->base = r->val.base;
	if (r->set & (1u << RETRY_FACTOR))
		out->factor = r->val.factor;
	if (r->set & (1u << RETRY_CAP))
		out->cap = r->val.cap;
	if (r->set & (1u << RETRY_MAX_AGE))
		out->max_age = r->val.max_age;
}

/* key's value must not be below base; reported at key when this mapping
 * set it, else at its base, and not at all when it set neither. */
static void
retry_check_pair(struct ctx *c, const struct retry_src *r, int key,
		 int64_t val, int64_t base, const char *name)
{
	char a[32], b[32], msg[128];
	int at = (r->set & (1u << key)) ? key : RETRY_BASE;

	if (val >= base || !(r->set & ((1u << key) | (1u << RETRY_BASE))))
		return;
	util_format_duration(val, a, sizeof(a));
	util_format_duration(base, b, sizeof(b));
	(void)snprintf(msg, sizeof(msg), "retry %s %s is less than base %s",
		       name, a, b);
	cerror_at(c, r->line[at], r->col[at], msg);
}

static void
retry_check(struct ctx *c, const struct retry_src *r)
{
	retry_check_pair(c, r, RETRY_CAP, r->dst->cap, r->dst->base, "cap");
	retry_check_pair(c, r, RETRY_MAX_AGE, r->dst->max_age, r->dst->base,
			 "max_age");
}

/* Outbox over the defaults, then each channel's retry over the outbox. */
static void
apply_retry(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	cfg->outbox = retry_defaults;
	if (c->outbox != NULL) {
		retry_overlay(&cfg->outbox, c->outbox);
		retry_check(c, c->outbox);
	}
	for (i = 0; i < cfg->nchannels; i++)
		cfg->channels[i].retry = cfg->outbox;
	for (i = 0; i < c->nretries; i++) {
		retry_overlay(c->retries[i].dst, &c->retries[i]);
		retry_check(c, &c->retries[i]);
	}
}

/* ---- channels ----------------------------------------------------------- */

static const struct int_range smtp_concurrency = { 1, 16 };
static const struct int_range webhook_concurrency = { 1, 64 };

static const struct enum_name starttls_names[] = {
	{ "required", CFG_SMTP_STARTTLS_REQUIRED },
	{ "optional", CFG_SMTP_STARTTLS_OPTIONAL },
	{ "never", CFG_SMTP_STARTTLS_NEVER },
};
static const struct enum_tab starttls_tab = { starttls_names, 3 };

static const struct enum_name method_names[] = {
	{ "POST", CFG_HTTP_POST }, { "PUT", CFG_HTTP_PUT },
};
static const struct enum_tab method_tab = { method_names, 2 };

#define CH(m) offsetof(struct cfg_channel, m)
#define RETRY_FIELD { "retry", parse_chan_retry, CH(retry), 0, NULL }

static const struct field log_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "path", parse_path, CH(path), 0, NULL },
	RETRY_FIELD,
};

static const struct field maildir_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "path", parse_path, CH(path), 1, NULL },
	RETRY_FIELD,
};

static const struct field smtp_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "url", parse_smtp_url, CH(smtp), 1, NULL },
	{ "starttls", parse_enum, CH(smtp.tls), 0, &starttls_tab },
	{ "username", parse_header_text, CH(smtp.username), 0, NULL },
	{ "password_file", parse_secret_file, CH(smtp.password_file), 0, NULL },
	{ "from", parse_from, CH(smtp), 1, NULL },
	{ "reply_to", parse_address, CH(smtp.reply_to), 0, NULL },
	{ "concurrency", parse_int_range, CH(concurrency), 0, &smtp_concurrency },
	{ "connect_timeout", parse_pos_duration, CH(connect_timeout), 0, NULL },
	{ "timeout", parse_pos_duration, CH(timeout), 0, NULL },
	{ "ca_file", parse_path, CH(ca_file), 0, NULL },
	RETRY_FIELD,
};

static const struct field webhook_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "url", parse_http_url, CH(webhook.url), 1, NULL },
	{ "method", parse_enum, CH(webhook.method), 0, &method_tab },
	{ "headers", parse_headers, CH(webhook), 0, NULL },
	{ "body", parse_string, CH(webhook.body), 1, NULL },
	{ "content_type", parse_header_text, CH(webhook.content_type), 0, NULL },
	{ "auth", parse_auth, CH(webhook), 0, NULL },
	{ "signing", parse_signing, CH(webhook), 0, NULL },
	{ "concurrency", parse_int_range, CH(concurrency), 0,
	  &webhook_concurrency },
	{ "connect_timeout", parse_pos_duration, CH(connect_timeout), 0, NULL },
	{ "timeout", parse_pos_duration, CH(timeout), 0, NULL },
	{ "max_response", parse_size, CH(webhook.max_response), 0, NULL },
	{ "ca_file", parse_path, CH(ca_file), 0, NULL },
	RETRY_FIELD,
};

/* Indexed by enum cfg_channel_type. */
static const struct enum_name channel_type_names[] = {
	{ "log", CFG_CHANNEL_LOG }, { "maildir", CFG_CHANNEL_MAILDIR },
	{ "smtp", CFG_CHANNEL_SMTP }, { "webhook", CFG_CHANNEL_WEBHOOK },
};
static const struct enum_tab channel_type_tab = { channel_type_names, 4 };
static const struct field *const channel_tables[] = {
	log_fields, maildir_fields, smtp_fields, webhook_fields,
};
static const size_t channel_ntables[] = {
	sizeof(log_fields) / sizeof(*log_fields),
	sizeof(maildir_fields) / sizeof(*maildir_fields),
	sizeof(smtp_fields) / sizeof(*smtp_fields),
	sizeof(webhook_fields) / sizeof(*webhook_fields),
};

/* A type's defaults, set before its keys are read. */
static void
channel_init(void *obj, int which)
{
	struct cfg_channel *ch = obj;

	ch->type = (enum cfg_channel_type)which;
	if (ch->type != CFG_CHANNEL_SMTP && ch->type != CFG_CHANNEL_WEBHOOK)
		return;
	ch->connect_timeout = 10;
	ch->timeout = 60;
	if (ch->type == CFG_CHANNEL_SMTP) {
		ch->concurrency = 2;
		ch->smtp.tls = CFG_SMTP_STARTTLS_REQUIRED;
	} else {
		ch->concurrency = 4;
		ch->webhook.method = CFG_HTTP_POST;
		ch->webhook.max_response = INT64_C(64) * 1024;
	}
}

static const struct typed_map channel_map = {
	"a channel", &channel_type_tab, channel_tables, channel_ntables,
	channel_init,
};

/* What needs the whole smtp mapping: TLS mode and the credentials. */
static void
finish_smtp(struct ctx *c, yaml_node_t *cv, struct cfg_channel *ch,
	    const char *what)
{
	struct cfg_smtp *m = &ch->smtp;
	yaml_node_t *st = map_lookup(c, cv, "starttls");

	if (m->url != NULL && util_startswith_ci(m->url, "smtps://")) {
		if (st != NULL)
			cerror(c, &st->start_mark, "starttls does not apply to "
			       "smtps:// (TLS from the first byte)");
		m->tls = CFG_SMTP_IMPLICIT_TLS;
	}
	if ((m->username == NULL) != (m->password_file == NULL))
		cerror(c, &cv->start_mark, "%s: '%s' needs '%s'", what,
		       m->username != NULL ? "username" : "password_file",
		       m->username != NULL ? "password_file" : "username");
	else if (m->username != NULL && st != NULL &&
		 (m->tls == CFG_SMTP_STARTTLS_OPTIONAL ||
		  m->tls == CFG_SMTP_STARTTLS_NEVER))
		cerror(c, &st->start_mark, "starttls '%s' could send the password "
		       "in clear text (use required, or smtps://)",
		       starttls_names[m->tls].name);
}

static void
parse_channel(struct ctx *c, yaml_node_t *cv, struct cfg_channel *ch)
{
	char what[160];
	int which;

	(void)snprintf(what, sizeof(what), "channel '%s'", ch->name);
	which = walk_typed(c, cv, &channel_map, ch, what);
	if (which == CFG_CHANNEL_SMTP)
		finish_smtp(c, cv, ch, what);
	if (which == CFG_CHANNEL_WEBHOOK && ch->webhook.content_type == NULL)
		ch->webhook.content_type = xstrdup("application/json");
	if (which == CFG_CHANNEL_WEBHOOK)
		check_body(c, cv, ch, what);
}

static void
parse_channels(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;
	size_t i;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	cfg->channels = xcalloc(map_len(v), sizeof(*cfg->channels));
	for (i = 0; i < map_len(v); i++) {
		struct cfg_channel *ch = &cfg->channels[cfg->nchannels];
		const char *name = key_text(c, v, i);

		if (name == NULL)
			continue;
		cfg->nchannels++;
		ch->name = xstrdup(name);
		parse_channel(c, map_val(c, v, i), ch);
	}
}

/* ---- calendar feeds --------------------------------------------------- */

#define FD(m) offsetof(struct cfg_feed, m)

/* Defaults of a feed or a holiday calendar, set before its keys. */
static void
feed_init(struct cfg_feed *fd, int holidays)
{
	fd->every = holidays ? CFG_HOLIDAYS_DEFAULT_EVERY : CFG_FEED_DEFAULT_EVERY;
	fd->components = CFG_FEED_VTODO | CFG_FEED_VEVENT;
	fd->horizon = INT64_C(14) * 86400;
	fd->max_instances = 500;
	fd->max_cancel_share = 0.5;
	fd->max_bytes = CFG_FEED_DEFAULT_MAX_BYTES;
	fd->timeout = 60;
	fd->connect_timeout = 10;
	fd->holidays = holidays;
}

/* A path (relative: from the config's folder), file:///abs, or an
 * http(s) url; stored as an absolute path or the url. */
static void
parse_feed_url(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	const char *s = scalar(c, v, f->key);

	if (s == NULL)
		return;
	if (util_startswith_ci(s, "http://") || util_startswith_ci(s, "https://")) {
		parse_http_url(c, v, dst, f);
		return;
	}
	if (util_startswith_ci(s, "file://")) {
		const char *p = s + 7;

		if (util_startswith_ci(p, "localhost/"))
			p += 9;
		if (p[0] != '/' || p[1] == '\0') {
			cerror(c, &v->start_mark, "invalid %s '%s' (a file:// url "
			       "needs an absolute path)", f->key, s);
			return;
		}
		free(*out);
		*out = xstrdup(p);
		return;
	}
	if (strstr(s, "://") != NULL) {
		cerror(c, &v->start_mark, "invalid %s '%s' (expected a path, "
		       "file://, http:// or https://)", f->key, s);
		return;
	}
	parse_path(c, v, dst, f);
}

static void
parse_feed_every(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	int64_t secs;

	if (duration_of(c, v, f, &secs) != 0)
		return;
	if (secs < CFG_FEED_MIN_EVERY)
		cerror(c, &v->start_mark, "%s '%s' is out of range (at least "
		       "30s)", f->key, (const char *)v->data.scalar.value);
	else
		*(int64_t *)dst = secs;
}

static const struct enum_name component_names[] = {
	{ "VTODO", CFG_FEED_VTODO }, { "VEVENT", CFG_FEED_VEVENT },
};
static const struct enum_tab component_tab = { component_names, 2 };

static void
parse_components(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	const struct field ef = { "component", NULL, 0, 0, &component_tab };
	unsigned *out = dst, bits = 0;
	size_t i;

	if (!want(c, v, YAML_SEQUENCE_NODE, f->key))
		return;
	for (i = 0; i < seq_len(v); i++) {
		int which = 0;

		parse_enum(c, seq_item(c, v, i), &which, &ef);
		bits |= (unsigned)which;
	}
	if (bits == 0)
		cerror(c, &v->start_mark, "%s: list VTODO, VEVENT or both",
		       f->key);
	else
		*out = bits;
}

static void
parse_categories(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	struct cfg_feed *fd = (struct cfg_feed *)(void *)((char *)dst - f->off);
	size_t i;

	if (!want(c, v, YAML_SEQUENCE_NODE, f->key))
		return;
	fd->categories = xcalloc(seq_len(v) + 1, sizeof(*fd->categories));
	for (i = 0; i < seq_len(v); i++) {
		char *s = dup_string(c, seq_item(c, v, i), f);

		if (s != NULL)
			fd->categories[fd->ncategories++] = s;
	}
}

/* A POSIX extended regular expression that must compile. */
static void
parse_regex(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst, msg[160];
	regex_t re;
	int rc;

	parse_string(c, v, dst, f);
	if (*out == NULL)
		return;
	rc = regcomp(&re, *out, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &re, msg, sizeof(msg));
		cerror(c, &v->start_mark, "invalid %s '%s': %s", f->key, *out,
		       msg);
		free(*out);
		*out = NULL;
		return;
	}
	regfree(&re);
}

static const struct field match_fields[] = {
	{ "categories", parse_categories, FD(categories), 0, NULL },
	{ "summary_prefix", parse_string, FD(summary_prefix), 0, NULL },
	{ "summary_pattern", parse_regex, FD(summary_pattern), 0, NULL },
};

static void
parse_match(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	walk_map(c, v, match_fields, sizeof(match_fields) / sizeof(*match_fields),
		 dst, f->key);
}

static void
parse_bool(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	static const struct enum_name names[] = {
		{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
	};
	static const struct enum_tab tab = { names, 4 };
	const struct field ef = { f->key, NULL, 0, 0, &tab };

	parse_enum(c, v, dst, &ef);
}

static void
parse_share(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	const char *s = scalar(c, v, f->key);
	char *end;
	double x;

	if (s == NULL)
		return;
	errno = 0;
	x = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(x >= 0.0 && x <= 1.0)) {
		cerror(c, &v->start_mark, "%s '%s' is out of range (a number "
		       "from 0 to 1)", f->key, s);
		return;
	}
	*(double *)dst = x;
}

static const struct field feed_bearer_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "token_file", parse_secret_file, FD(auth_secret_file), 1, NULL },
};

static const struct field feed_basic_fields[] = {
	{ "type", parse_nothing, 0, 1, NULL },
	{ "username", parse_header_text, FD(auth_username), 1, NULL },
	{ "password_file", parse_secret_file, FD(auth_secret_file), 1, NULL },
};

static const struct field *const feed_auth_tables[] = {
	feed_bearer_fields, feed_basic_fields,
};
static const size_t feed_auth_ntables[] = {
	sizeof(feed_bearer_fields) / sizeof(*feed_bearer_fields),
	sizeof(feed_basic_fields) / sizeof(*feed_basic_fields),
};
static const struct typed_map feed_auth_map = {
	"auth", &auth_tab, feed_auth_tables, feed_auth_ntables, NULL,
};

static void
parse_feed_auth(struct ctx *c, yaml_node_t *v, void *dst,
		const struct field *f)
{
	struct cfg_feed *fd = dst;
	int which = walk_typed(c, v, &feed_auth_map, fd, f->key);

	fd->auth = which == 0 ? CFG_AUTH_BEARER :
		   which == 1 ? CFG_AUTH_BASIC : CFG_AUTH_NONE;
}

static const struct int_range instances_range = { 1, 100000 };

static const struct field feed_fields[] = {
	{ "url", parse_feed_url, FD(url), 1, NULL },
	{ "auth", parse_feed_auth, 0, 0, NULL },
	{ "every", parse_feed_every, FD(every), 0, NULL },
	{ "components", parse_components, FD(components), 0, NULL },
	{ "match", parse_match, 0, 0, NULL },
	{ "use_dtend", parse_bool, FD(use_dtend), 0, NULL },
	{ "default_owner", parse_refname, FD(default_owner), 1,
	  (const void *)(intptr_t)REF_STAFF },
	{ "site", parse_refname, FD(site), 0, (const void *)(intptr_t)REF_SITE },
	{ "policy", parse_refname, FD(policy), 0,
	  (const void *)(intptr_t)REF_POLICY },
	{ "horizon", parse_pos_duration, FD(horizon), 0, NULL },
	{ "max_instances", parse_int_range, FD(max_instances), 0,
	  &instances_range },
	{ "max_cancel_share", parse_share, FD(max_cancel_share), 0, NULL },
	{ "max_bytes", parse_size, FD(max_bytes), 0, NULL },
	{ "timeout", parse_pos_duration, FD(timeout), 0, NULL },
	{ "connect_timeout", parse_pos_duration, FD(connect_timeout), 0, NULL },
	{ "ca_file", parse_path, FD(ca_file), 0, NULL },
};

/* Feed names end up in refs ("feed:<name>:<uid>") and on command lines. */
static int
feed_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789_.-");

	return n > 0 && s[n] == '\0' && n <= 64;
}

static void
parse_feeds(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct config *cfg = dst;
	char what[160];
	size_t i;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	cfg->feeds = xcalloc(map_len(v), sizeof(*cfg->feeds));
	for (i = 0; i < map_len(v); i++) {
		struct cfg_feed *fd = &cfg->feeds[cfg->nfeeds];
		const char *name = key_text(c, v, i);

		if (name == NULL)
			continue;
		if (!feed_name_ok(name))
			cerror(c, &map_key(c, v, i)->start_mark, "invalid feed name "
			       "'%s' (letters, digits, '_', '.', '-')", name);
		cfg->nfeeds++;
		fd->name = xstrdup(name);
		feed_init(fd, 0);
		(void)snprintf(what, sizeof(what), "feed '%s'", name);
		walk_map(c, map_val(c, v, i), feed_fields,
			 sizeof(feed_fields) / sizeof(*feed_fields), fd, what);
	}
}

/* The holiday calendar of site s, created on first use. */
static struct cfg_feed *
holiday_feed_of(struct ctx *c, const struct cal_site *s)
{
	struct config *cfg = c->cfg;
	struct cfg_feed *fd;
	size_t i;

	for (i = 0; i < cfg->nholiday_feeds; i++)
		if (strcmp(cfg->holiday_feeds[i].site, s->id) == 0)
			return &cfg->holiday_feeds[i];
	cfg->holiday_feeds = xreallocarray(cfg->holiday_feeds,
					   cfg->nholiday_feeds + 1,
					   sizeof(*cfg->holiday_feeds));
	fd = &cfg->holiday_feeds[cfg->nholiday_feeds++];
	memset(fd, 0, sizeof(*fd));
	feed_init(fd, 1);
	fd->name = xstrdup(s->id);
	fd->site = xstrdup(s->id);
	fd->components = CFG_FEED_VEVENT;
	fd->horizon = INT64_C(400) * 86400;
	fd->max_instances = 2000;
	return fd;
}

/* holidays_url (http(s) or a path) and holidays_file (a path). */
static void
parse_holidays_src(struct ctx *c, yaml_node_t *v, void *dst,
		   const struct field *f)
{
	struct cfg_feed *fd = holiday_feed_of(c, dst);

	if (fd->url != NULL) {
		cerror(c, &v->start_mark, "%s: give holidays_url or "
		       "holidays_file, not both", f->key);
		return;
	}
	if (f->arg != NULL)
		parse_path(c, v, &fd->url, f);
	else
		parse_feed_url(c, v, &fd->url, f);
}

static void
parse_holidays_every(struct ctx *c, yaml_node_t *v, void *dst,
		     const struct field *f)
{
	parse_feed_every(c, v, &holiday_feed_of(c, dst)->every, f);
}

/* A site may name holidays_every without a source: that is an error. */
static void
check_holiday_feeds(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	for (i = 0; i < cfg->nholiday_feeds; i++)
		if (cfg->holiday_feeds[i].url == NULL) {
			char msg[200];

			(void)snprintf(msg, sizeof(msg),
				       "site '%s': holidays_every "
				       "needs holidays_url or holidays_file",
				       cfg->holiday_feeds[i].site);
			cerror_raw(c, msg);
		}
}

/* Every feed belongs to a site: default_site when not given. */
static void
feed_defaults(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	for (i = 0; i < cfg->nfeeds; i++)
		if (cfg->feeds[i].site == NULL && cfg->default_site != NULL)
			cfg->feeds[i].site = xstrdup(cfg->default_site);
	check_holiday_feeds(c);
}

static void
feed_clear(struct cfg_feed *fd)
{
	size_t i;

	for (i = 0; i < fd->ncategories; i++)
		free(fd->categories[i]);
	free(fd->categories);
	free(fd->name); free(fd->url); free(fd->auth_username);
	free(fd->auth_secret_file); free(fd->summary_prefix);
	free(fd->summary_pattern); free(fd->default_owner); free(fd->site);
	free(fd->policy); free(fd->ca_file);
}

/* ---- top level ------------------------------------------------------------ */

/* ---- http ----------------------------------------------------------------- */

#define HT(m) offsetof(struct cfg_http, m)
#define HS(m) offsetof(struct cfg_http_sms, m)
#define HTTP_MAX_KEYS 8

/* A secret file named by the http section must be readable now: a
 * listener that starts without its keys would refuse every link. */
static void
check_secret_now(struct ctx *c, yaml_node_t *v, const char *key,
		 const char *path)
{
	char err[512], *secret = NULL;

	if (path == NULL)
		return;
	if (secret_read(path, &secret, err, sizeof(err)) != 0)
		cerror(c, &v->start_mark, "%s: %s", key, err);
	secret_free(secret);
}

static void
parse_http_secret(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	parse_secret_file(c, v, dst, f);
	check_secret_now(c, v, f->key, *(char **)dst);
}

/* host:port or [v6]:port, the port 1-65535. */
static void
parse_listen(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;
	const char *s = scalar(c, v, f->key), *colon;
	char *host = NULL;
	int port = 0;

	if (s == NULL)
		return;
	colon = strrchr(s, ':');
	if (colon == NULL || colon == s || colon[1] == '\0' ||
	    split_authority(s, strlen(s), &host, &port) != 0 || port == 0) {
		cerror(c, &v->start_mark, "invalid %s '%s' (expected host:port "
		       "such as 127.0.0.1:8470 or [::1]:8470)", f->key, s);
		free(host);
		return;
	}
	free(host);
	free(*out);
	*out = xstrdup(s);
}

/* An http(s) URL the links start with: no trailing '/', query or
 * fragment (the path of a link is appended to it). */
static void
parse_public_url(struct ctx *c, yaml_node_t *v, void *dst,
		 const struct field *f)
{
	char **out = dst;
	size_t len;

	parse_http_url(c, v, dst, f);
	if (*out == NULL)
		return;
	len = strlen(*out);
	if ((*out)[len - 1] == '/' || strchr(*out, '?') != NULL) {
		cerror(c, &v->start_mark, "%s '%s' must not end in '/' or "
		       "have a query (links are <%s>/a/...)", f->key, *out,
		       f->key);
		free(*out);
		*out = NULL;
	}
}

/* 1-16 of [A-Za-z0-9_-]: the kid travels inside every token. */
static int
kid_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789_-");

	return n > 0 && n <= 16 && s[n] == '\0';
}

static void
parse_kid(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	char **out = dst;

	parse_string(c, v, dst, f);
	if (*out != NULL && !kid_ok(*out)) {
		cerror(c, &v->start_mark, "invalid %s '%s' (1 to 16 letters, "
		       "digits, '_' or '-')", f->key, *out);
		free(*out);
		*out = NULL;
	}
}

static const struct field key_fields[] = {
	{ "kid", parse_kid, offsetof(struct cfg_signing_key, kid), 1, NULL },
	{ "secret_file", parse_http_secret,
	  offsetof(struct cfg_signing_key, secret_file), 1, NULL },
};

static void
parse_signing_keys(struct ctx *c, yaml_node_t *v, void *dst,
		   const struct field *f)
{
	struct cfg_http *h = dst;
	size_t i, j, n;

	if (!want(c, v, YAML_SEQUENCE_NODE, f->key))
		return;
	n = seq_len(v);
	if (n == 0 || n > HTTP_MAX_KEYS) {
		cerror(c, &v->start_mark, "%s: give 1 to %d keys (the first "
		       "signs, all verify)", f->key, HTTP_MAX_KEYS);
		return;
	}
	h->keys = xcalloc(n, sizeof(*h->keys));
	for (i = 0; i < n; i++) {
		yaml_node_t *kv = seq_item(c, v, i);
		struct cfg_signing_key *k = &h->keys[h->nkeys++];

		walk_map(c, kv, key_fields,
			 sizeof(key_fields) / sizeof(*key_fields), k,
			 "a signing key");
		for (j = 0; k->kid != NULL && j + 1 < h->nkeys; j++)
			if (h->keys[j].kid != NULL &&
			    strcmp(h->keys[j].kid, k->kid) == 0)
				cerror(c, &kv->start_mark, "%s: kid '%s' is "
				       "given twice", f->key, k->kid);
	}
}

static const struct enum_name sms_provider_names[] = {
	{ "twilio", CFG_SMS_TWILIO },
	{ "standard-webhooks", CFG_SMS_STANDARD_WEBHOOKS },
};
static const struct enum_tab sms_provider_tab = { sms_provider_names, 2 };

static const struct field twilio_fields[] = {
	{ "provider", parse_nothing, 0, 1, NULL },
	{ "auth_token_file", parse_http_secret, HS(secret_file), 1, NULL },
	{ "from_field", parse_string, HS(from_field), 0, NULL },
	{ "text_field", parse_string, HS(text_field), 0, NULL },
	{ "url", parse_http_url, HS(url), 0, NULL },
};

static const struct field stdhook_fields[] = {
	{ "provider", parse_nothing, 0, 1, NULL },
	{ "secret_file", parse_http_secret, HS(secret_file), 1, NULL },
	{ "from_field", parse_string, HS(from_field), 0, NULL },
	{ "text_field", parse_string, HS(text_field), 0, NULL },
	{ "url", parse_http_url, HS(url), 0, NULL },
};

static void
parse_sms(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	const struct field pf = { "provider", NULL, 0, 1, &sms_provider_tab };
	struct cfg_http_sms *s = dst;
	yaml_node_t *pv;
	int which = -1;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	pv = map_lookup(c, v, "provider");
	if (pv == NULL) {
		cerror(c, &v->start_mark, "sms: missing required key "
		       "'provider' (twilio or standard-webhooks)");
		return;
	}
	parse_enum(c, pv, &which, &pf);
	if (which < 0)
		return;
	s->enabled = 1;
	s->provider = (enum cfg_sms_provider)which;
	if (s->provider == CFG_SMS_TWILIO)
		walk_map(c, v, twilio_fields,
			 sizeof(twilio_fields) / sizeof(*twilio_fields), s, "sms");
	else
		walk_map(c, v, stdhook_fields,
			 sizeof(stdhook_fields) / sizeof(*stdhook_fields), s,
			 "sms");
}

static const struct field http_fields[] = {
	{ "listen", parse_listen, HT(listen), 0, NULL },
	{ "public_url", parse_public_url, HT(public_url), 1, NULL },
	{ "max_body", parse_size, HT(max_body), 0, NULL },
	{ "link_expiry", parse_pos_duration, HT(link_expiry), 0, NULL },
	{ "signing_keys", parse_signing_keys, 0, 0, NULL },
	{ "intake_token_file", parse_http_secret, HT(intake_token_file), 0,
	  NULL },
	{ "sms", parse_sms, HT(sms), 0, NULL },
	{ "board_token_file", parse_http_secret, HT(board_token_file), 0,
	  NULL },
	{ "board_basic_user", parse_string, HT(board_basic_user), 0, NULL },
	{ "board_basic_password_file", parse_http_secret,
	  HT(board_basic_password_file), 0, NULL },
};

/* An `http:` section turns the listener on; its defaults come first. */
static void
parse_http(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	struct cfg_http *h = dst;

	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	h->enabled = 1;
	h->listen = xstrdup(CFG_HTTP_DEFAULT_LISTEN);
	h->max_body = CFG_HTTP_DEFAULT_MAX_BODY;
	h->link_expiry = CFG_HTTP_DEFAULT_LINK_EXPIRY;
	walk_map(c, v, http_fields, sizeof(http_fields) / sizeof(*http_fields),
		 h, "http");
	if ((h->board_basic_user == NULL) !=
	    (h->board_basic_password_file == NULL))
		cerror(c, &v->start_mark, "http: board_basic_user and "
		       "board_basic_password_file go together");
	if (h->sms.enabled) {
		if (h->sms.from_field == NULL)
			h->sms.from_field = xstrdup("From");
		if (h->sms.text_field == NULL)
			h->sms.text_field = xstrdup("Body");
		if (h->sms.url == NULL && h->public_url != NULL)
			h->sms.url = xasprintf("%s/hooks/sms", h->public_url);
	}
}

static void
http_clear(struct cfg_http *h)
{
	size_t i;

	for (i = 0; i < h->nkeys; i++) {
		free(h->keys[i].kid);
		free(h->keys[i].secret_file);
	}
	free(h->keys);
	free(h->listen); free(h->public_url); free(h->intake_token_file);
	free(h->sms.secret_file); free(h->sms.from_field);
	free(h->sms.text_field); free(h->sms.url);
	free(h->board_token_file); free(h->board_basic_user);
	free(h->board_basic_password_file);
}

/* ---- digest --------------------------------------------------------------- */

static const struct enum_name weekday_names[] = {
	{ "mon", 0 }, { "tue", 1 }, { "wed", 2 }, { "thu", 3 }, { "fri", 4 },
	{ "sat", 5 }, { "sun", 6 },
};
static const struct enum_tab weekday_tab = { weekday_names, 7 };

/* "HH:MM", 00:00 to 23:59. */
static void
parse_digest_time(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	const char *s = scalar(c, v, f->key);

	if (s != NULL && parse_hhmm(s, strlen(s), 0, dst) != 0)
		cerror(c, &v->start_mark, "invalid %s '%s' (expected HH:MM, "
		       "00:00 to 23:59)", f->key, s);
}

#define DS(m) offsetof(struct cfg_digest_site, m)
static const struct field site_digest_fields[] = {
	{ "weekday", parse_enum, DS(weekday), 0, &weekday_tab },
	{ "time", parse_digest_time, DS(minute), 0, NULL },
};

/* sites: ID: digest: {weekday, time} or `off`.  dst is the site. */
static void
parse_site_digest(struct ctx *c, yaml_node_t *v, void *dst,
		  const struct field *f)
{
	const struct cal_site *site = dst;
	struct cfg_digest *dg = &c->cfg->digest;
	struct cfg_digest_site *ds;

	dg->sites = xreallocarray(dg->sites, dg->nsites + 1, sizeof(*dg->sites));
	ds = &dg->sites[dg->nsites++];
	ds->site = xstrdup(site->id);
	ds->weekday = CFG_DIGEST_DEFAULT_WEEKDAY;
	ds->minute = CFG_DIGEST_DEFAULT_MINUTE;
	if (v->type == YAML_SCALAR_NODE) {
		if (strcmp((const char *)v->data.scalar.value, "off") == 0)
			ds->weekday = -1;
		else
			cerror(c, &v->start_mark, "%s: expected `off` or a "
			       "mapping with weekday and time", f->key);
		return;
	}
	walk_map(c, v, site_digest_fields, sizeof(site_digest_fields) /
		 sizeof(*site_digest_fields), ds, "digest");
}

static const struct field digest_fields[] = {
	{ "channel", parse_refname, offsetof(struct cfg_digest, channel), 0,
	  (const void *)(intptr_t)REF_CHANNEL },
};

static void
parse_digest(struct ctx *c, yaml_node_t *v, void *dst, const struct field *f)
{
	if (!want(c, v, YAML_MAPPING_NODE, f->key))
		return;
	walk_map(c, v, digest_fields, sizeof(digest_fields) /
		 sizeof(*digest_fields), dst, "digest");
}

/* The digest is an email: a webhook channel cannot carry it. */
static void
check_digest(struct ctx *c)
{
	const struct cfg_channel *ch;
	char msg[300];

	if (c->cfg->digest.channel == NULL)
		return;
	ch = config_channel(c->cfg, c->cfg->digest.channel);
	if (ch == NULL || ch->type != CFG_CHANNEL_WEBHOOK)
		return;
	(void)snprintf(msg, sizeof(msg),
		       "%s: digest.channel: '%s' is a webhook; the digest "
		       "needs an email channel (smtp, maildir or log)",
		       c->file, ch->name);
	cerror_raw(c, msg);
}

static void
digest_clear(struct cfg_digest *dg)
{
	size_t i;

	for (i = 0; i < dg->nsites; i++)
		free(dg->sites[i].site);
	free(dg->sites);
	free(dg->channel);
}

static const struct field sections[] = {
	{ "database", parse_path, offsetof(struct config, database), 0, NULL },
	{ "default_site", parse_refname, offsetof(struct config, default_site), 0,
	  (const void *)(intptr_t)REF_SITE },
	{ "default_policy", parse_refname, offsetof(struct config, default_policy),
	  0, (const void *)(intptr_t)REF_POLICY },
	{ "sites", parse_sites, 0, 0, NULL },
	{ "staff", parse_staff, 0, 0, NULL },
	{ "teams", parse_teams, 0, 0, NULL },
	{ "phrases", parse_phrases, 0, 0, NULL },
	{ "policies", parse_policies, 0, 0, NULL },
	{ "channels", parse_channels, 0, 0, NULL },
	{ "outbox", parse_outbox, 0, 0, NULL },
	{ "daemon", parse_daemon, offsetof(struct config, daemon), 0, NULL },
	{ "templates", parse_templates, offsetof(struct config, templates), 0,
	  NULL },
	{ "feeds", parse_feeds, 0, 0, NULL },
	{ "http", parse_http, offsetof(struct config, http), 0, NULL },
	{ "digest", parse_digest, offsetof(struct config, digest), 0, NULL },
};

/* ---- references ----------------------------------------------------------- */

static const char *
ref_name_at(const struct config *cfg, enum ref_kind k, size_t i)
{
	switch (k) {
	case REF_STAFF: return i < cfg->nstaff ? cfg->staff[i].id : NULL;
	case REF_TEAM: return i < cfg->nteams ? cfg->teams[i].id : NULL;
	case REF_SITE: return i < cfg->nsites ? cfg->sites[i].id : NULL;
	case REF_POLICY: return i < cfg->npolicies ? cfg->policies[i].name : NULL;
	case REF_CHANNEL: return i < cfg->nchannels ? cfg->channels[i].name : NULL;
	}
	return NULL;
}

static size_t
ref_count(const struct config *cfg, enum ref_kind k)
{
	switch (k) {
	case REF_STAFF: return cfg->nstaff;
	case REF_TEAM: return cfg->nteams;
	case REF_SITE: return cfg->nsites;
	case REF_POLICY: return cfg->npolicies;
	case REF_CHANNEL: return cfg->nchannels;
	}
	return 0;
}

static void
check_ref(struct ctx *c, const struct ref *r)
{
	static const char *const kinds[] = {
		"staff member", "team", "site", "policy", "channel",
	};
	const char *best = NULL;
	char msg[512], hint[160] = "";
	size_t i, n = ref_count(c->cfg, r->kind);
	int bestd = 3;

	if (r->self != NULL && strcmp(r->self, r->name) == 0) {
		(void)snprintf(msg, sizeof(msg),
			       "staff '%s' cannot be their own manager",
			       r->name);
		cerror_at(c, r->line, r->col, msg);
		return;
	}
	for (i = 0; i < n; i++) {
		const char *name = ref_name_at(c->cfg, r->kind, i);
		int d;

		if (name == NULL)
			continue;
		if (strcmp(name, r->name) == 0)
			return;
		d = util_edit_distance(name, r->name);
		if (d < bestd) {
			bestd = d;
			best = name;
		}
	}
	if (best != NULL)
		(void)snprintf(hint, sizeof(hint), "; did you mean '%s'?",
			       best);
	if (r->kind == REF_STAFF)
		(void)snprintf(msg, sizeof(msg), "%s '%s' is not on staff%s",
			       r->label, r->name, hint);
	else
		(void)snprintf(msg, sizeof(msg), "unknown %s '%s'%s",
			       kinds[r->kind],
			       r->name, hint);
	cerror_at(c, r->line, r->col, msg);
}

/* ---- assembly ------------------------------------------------------------- */

static void
phrase_rule_clear(struct phrase_rule *r)
{
	free(r->text);
	free(r->locale);
	r->text = NULL;
	r->locale = NULL;
}

/* Shipped defaults first; a file phrase with the same text and locale
 * replaces its default, the others are appended. */
static void
merge_phrases(struct ctx *c)
{
	struct config *cfg = c->cfg;
	const struct phrase_rule *def;
	size_t ndef, i, j;

	def = phrase_defaults(&ndef);
	cfg->phrases = xcalloc(ndef + c->nfphrases, sizeof(*cfg->phrases));
	for (i = 0; i < ndef; i++) {
		cfg->phrases[i] = def[i];
		cfg->phrases[i].text = xstrdup(def[i].text);
		cfg->phrases[i].locale = xstrdup(def[i].locale);
	}
	cfg->nphrases = ndef;
	for (i = 0; i < c->nfphrases; i++) {
		struct phrase_rule *r = &c->fphrases[i];

		if (r->text == NULL)
			continue;
		for (j = 0; j < cfg->nphrases; j++)
			if (strcmp(cfg->phrases[j].text, r->text) == 0 &&
			    strcmp(cfg->phrases[j].locale, r->locale) == 0)
				break;
		if (j < cfg->nphrases)
			phrase_rule_clear(&cfg->phrases[j]);
		else
			cfg->nphrases++;
		cfg->phrases[j] = *r;
		r->text = r->locale = NULL;
	}
}

static void
apply_defaults(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	if (cfg->database == NULL)
		cfg->database = xstrdup(DEFAULT_DATABASE);
	if (cfg->default_site == NULL && cfg->nsites > 0)
		cfg->default_site = xstrdup(cfg->sites[0].id);
	merge_phrases(c);
	feed_defaults(c);
	apply_retry(c);
	check_templates(c);
	for (i = 0; i < c->nrefs; i++)
		check_ref(c, &c->refs[i]);
	check_digest(c);
}

/* The absolute folder of the file at path (or its relative one). */
static char *
file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *abs;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	abs = realpath(dir, NULL);
	if (abs == NULL)
		return dir;
	free(dir);
	return abs;
}

/* Line and column of byte offset off of fp (a reader error only knows
 * its offset). */
static struct pos
offset_position(FILE *fp, size_t off)
{
	struct pos at = { 1, 1 };
	size_t i;
	int ch;

	rewind(fp);
	for (i = 0; i < off && (ch = getc(fp)) != EOF; i++) {
		if (ch == '\n') {
			at.line++;
			at.col = 1;
		} else if ((ch & 0xC0) != 0x80) {
			at.col++;
		}
	}
	return at;
}

static void
syntax_error(struct ctx *c, const yaml_parser_t *p, FILE *fp)
{
	char msg[512];

	if (p->error == YAML_READER_ERROR) {
		struct pos at = offset_position(fp, p->problem_offset);

		(void)snprintf(msg, sizeof(msg), "cannot read the file: %s",
			       p->problem ? p->problem : "read error");
		cerror_at(c, at.line, at.col, msg);
		return;
	}
	if (p->context != NULL)
		cerror(c, &p->problem_mark, "YAML syntax error: %s %s",
		       p->problem ? p->problem : "?", p->context);
	else
		cerror(c, &p->problem_mark, "YAML syntax error: %s",
		       p->problem ? p->problem : "?");
}

/* Parses the open file into c (doc must be deleted by the caller). */
static void
load_doc(struct ctx *c, FILE *fp, yaml_document_t *doc, int *have_doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	yaml_node_t *root;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, doc)) {
		syntax_error(c, &parser, fp);
		goto out;
	}
	*have_doc = 1;
	c->doc = doc;
	root = yaml_document_get_root_node(doc);
	if (root != NULL)
		walk_map(c, root, sections, sizeof(sections) / sizeof(*sections),
			 c->cfg, "top level");
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(c, &parser, fp);
		goto out;
	}
	if (yaml_document_get_root_node(&extra) != NULL)
		cerror(c, &extra.start_mark, "only one YAML document is allowed");
	yaml_document_delete(&extra);
out:
	yaml_parser_delete(&parser);
}

static void
ctx_finish(struct ctx *c, struct config_errors *errs)
{
	size_t i;

	if (c->nerrs > 1)
		qsort(c->errs, c->nerrs, sizeof(*c->errs), cerr_cmp);
	for (i = 0; i < c->nerrs; i++)
		errs_push(errs, c->errs[i].msg);
	free(c->errs);
	free(c->refs);
	for (i = 0; i < c->nfphrases; i++)
		phrase_rule_clear(&c->fphrases[i]);
	free(c->fphrases);
	free(c->retries);
	free(c->outbox);
	free(c->dir);
}

/* SHA-256 of the open file's bytes and the program's version into out
 * (64 hex digits), then back to the file's start; "" when it fails.  The
 * same open file is parsed next, so the fingerprint is of what was read
 * even when the file is replaced meanwhile. */
static void
hash_file(FILE *fp, char out[CONFIG_FINGERPRINT_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[8192];
	const char *v = version_get();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	size_t n, i;

	out[0] = '\0';
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (EVP_DigestUpdate(ctx, buf, n) != 1)
			goto out;
	/* A NUL cannot be in a version; it keeps file and version apart. */
	if (ferror(fp) || EVP_DigestUpdate(ctx, "", 1) != 1 ||
	    EVP_DigestUpdate(ctx, v, strlen(v)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 ||
	    (size_t)mdlen * 2 >= CONFIG_FINGERPRINT_LEN)
		goto out;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = "0123456789abcdef"[md[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	out[(size_t)mdlen * 2] = '\0';
out:
	EVP_MD_CTX_free(ctx);
	if (fseek(fp, 0, SEEK_SET) != 0)
		out[0] = '\0';
	clearerr(fp);
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct ctx c = { .file = path };
	yaml_document_t doc;
	int have_doc = 0;
	FILE *fp = fopen(path, "rb");

	if (fp == NULL) {
		errs_push(errs, xasprintf("%s: cannot open: %s", path,
					  util_strerror(errno, ebuf,
							sizeof(ebuf))));
		return NULL;
	}
	c.cfg = xcalloc(1, sizeof(*c.cfg));
	c.cfg->path = xstrdup(path);
	c.dir = file_dir(path);
	hash_file(fp, c.cfg->fingerprint);
	load_doc(&c, fp, &doc, &have_doc);
	(void)fclose(fp); /* read only: nothing to lose */
	if (have_doc)
		apply_defaults(&c);
	if (have_doc)
		yaml_document_delete(&doc);
	if (c.nerrs > 0) {
		config_free(c.cfg);
		c.cfg = NULL;
	}
	ctx_finish(&c, errs);
	return c.cfg;
}

static void
channel_clear(struct cfg_channel *ch)
{
	struct cfg_smtp *m = &ch->smtp;
	struct cfg_webhook *w = &ch->webhook;
	size_t i;

	free(ch->name); free(ch->path); free(ch->ca_file);
	free(m->url); free(m->host); free(m->username); free(m->password_file);
	free(m->from); free(m->from_addr); free(m->from_name); free(m->reply_to);
	for (i = 0; i < w->nheaders; i++) {
		free(w->headers[i].name);
		free(w->headers[i].value);
	}
	free(w->headers); free(w->url); free(w->body); free(w->content_type);
	free(w->auth_username); free(w->auth_secret_file);
	free(w->signing_secret_file);
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nsites; i++)
		cal_site_clear(&cfg->sites[i]);
	for (i = 0; i < cfg->nstaff; i++) {
		struct cfg_staff *s = &cfg->staff[i];

		free(s->id); free(s->name); free(s->email); free(s->phone);
		free(s->locale); free(s->team); free(s->manager);
	}
	for (i = 0; i < cfg->nteams; i++) {
		free(cfg->teams[i].id); free(cfg->teams[i].lead);
		free(cfg->teams[i].site); free(cfg->teams[i].policy);
	}
	for (i = 0; i < cfg->nphrases; i++)
		phrase_rule_clear(&cfg->phrases[i]);
	for (i = 0; i < cfg->npolicies; i++)
		sched_policy_clear(&cfg->policies[i]);
	for (i = 0; i < cfg->nchannels; i++)
		channel_clear(&cfg->channels[i]);
	for (i = 0; i < cfg->nfeeds; i++)
		feed_clear(&cfg->feeds[i]);
	for (i = 0; i < cfg->nholiday_feeds; i++)
		feed_clear(&cfg->holiday_feeds[i]);
	http_clear(&cfg->http);
	digest_clear(&cfg->digest);
	free(cfg->feeds); free(cfg->holiday_feeds);
	free(cfg->sites); free(cfg->staff); free(cfg->teams);
	free(cfg->phrases); free(cfg->policies); free(cfg->channels);
	free(cfg->path); free(cfg->database); free(cfg->default_site);
	free(cfg->default_policy);
	free(cfg->templates.dir); free(cfg->templates.override);
	free(cfg);
}

void
config_errors_clear(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

const struct cfg_staff *
config_staff(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; cfg != NULL && id != NULL && i < cfg->nstaff; i++)
		if (cfg->staff[i].id != NULL && strcmp(cfg->staff[i].id, id) == 0)
			return &cfg->staff[i];
	return NULL;
}

const struct cfg_team *
config_team(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; cfg != NULL && id != NULL && i < cfg->nteams; i++)
		if (strcmp(cfg->teams[i].id, id) == 0)
			return &cfg->teams[i];
	return NULL;
}

const struct cal_site *
config_site(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; cfg != NULL && id != NULL && i < cfg->nsites; i++)
		if (strcmp(cfg->sites[i].id, id) == 0)
			return &cfg->sites[i];
	return NULL;
}

const struct sched_policy *
config_policy(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg != NULL && name != NULL && i < cfg->npolicies; i++)
		if (strcmp(cfg->policies[i].name, name) == 0)
			return &cfg->policies[i];
	return NULL;
}

const struct cfg_channel *
config_channel(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg != NULL && name != NULL && i < cfg->nchannels; i++)
		if (strcmp(cfg->channels[i].name, name) == 0)
			return &cfg->channels[i];
	return NULL;
}

const struct cfg_feed *
config_feed(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg != NULL && name != NULL && i < cfg->nfeeds; i++)
		if (strcmp(cfg->feeds[i].name, name) == 0)
			return &cfg->feeds[i];
	return NULL;
}

const char *
config_lib_version(void)
{
	return yaml_get_version_string();
}

int
config_fingerprint(const struct config *cfg, char *out, size_t outlen)
{
	if (cfg == NULL || cfg->fingerprint[0] == '\0' ||
	    outlen < CONFIG_FINGERPRINT_LEN)
		return -1;
	util_strlcpy(out, cfg->fingerprint, outlen);
	return 0;
}
