/*
 * common: what every promisectl command does the same way — one-line
 * errors on stderr, mapping store results to sysexits.h codes, checking
 * typed text before it reaches the store, finding a promise by id or ref
 * and parsing due expressions against a site.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/phrase.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

static void vmsg(const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];

	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	(void)fprintf(stderr, "promisectl: %s%s\n", prefix, buf);
}

void
cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

int
cli_usage_err(const struct cli *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (c->cmd == NULL)
		(void)fprintf(stderr,
			      "promisectl: %s (see 'promisectl --help')\n", buf);
	else
		(void)fprintf(stderr,
			      "promisectl: %s: %s "
			      "(see 'promisectl %s --help')\n",
			      c->cmd, buf, c->cmd);
	return EX_USAGE;
}

int
cli_bad_option(const struct cli *c, int opt, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (opt == ':')
		return cli_usage_err(c, "option '%s' needs a value", arg);
	if (optopt && optopt != '?')
		return cli_usage_err(c, "unknown option '-%c'", optopt);
	return cli_usage_err(c, "unknown option '%s'", arg);
}

int
cli_store_fail(int rc, const char *err)
{
	switch (rc) {
	case STORE_NOTFOUND:
	case STORE_CONFLICT:
	case STORE_INVALID:
		cli_err("%s", err);
		return EX_DATAERR;
	case STORE_BUSY:
		cli_err("database is busy; try again (%s)", err);
		return EX_TEMPFAIL;
	case STORE_READONLY:
		cli_err("cannot write the database: %s", err);
		return EX_CANTCREAT;
	default:
		cli_err("%s", err[0] ? err : "database error");
		return EX_IOERR;
	}
}

int
cli_check_text(const char *name, const char *val, size_t max, int multiline)
{
	size_t len = strlen(val), i;

	if (len > max) {
		cli_err("%s is too long (%zu bytes; at most %zu)", name, len, max);
		return -1;
	}
	if (!util_utf8_valid(val, len)) {
		cli_err("%s is not valid UTF-8", name);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)val[i];

		if (multiline && (ch == '\n' || ch == '\t'))
			continue;
		if (ch < 0x20 || ch == 0x7f) {
			cli_err("%s contains a control character (byte %zu)",
				name, i + 1);
			return -1;
		}
	}
	return 0;
}

int
cli_read_file(const char *name, const char *path, size_t max, char **out,
	      int *toolong)
{
	char ebuf[UTIL_STRERROR_LEN];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int rc = -1;

	*toolong = 0;
	if (f == NULL) {
		cli_err("%s: cannot read %s: %s", name, path,
			util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	/* One byte more than allowed tells "too long" without reading a
	 * huge file into memory. */
	buf = xmalloc(max + 2);
	n = fread(buf, 1, max + 2, f);
	if (ferror(f)) {
		cli_err("%s: cannot read %s: %s", name, path,
			util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (n > 0 && buf[n - 1] == '\n' && n <= max + 1)
		n--;
	if (n > max || memchr(buf, '\0', n) != NULL) {
		*toolong = 1;   /* the content is refused, not the file */
		cli_err(n > max ? "%s: %s is too long (more than %zu bytes)"
				: "%s: %s contains a NUL byte (limit %zu)",
			name, path, max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (f && f != stdin)
		(void)fclose(f); /* read only: nothing to lose */
	return rc;
}

int
cli_load_promise(struct cli *c, const char *arg, struct promise *p)
{
	char err[512] = "";
	int64_t id;
	int rc;

	if (cli_check_text("the promise", arg, CLI_MAX_FIELD, 0) != 0)
		return EX_DATAERR;
	if (util_parse_int64(arg, 1, INT64_MAX, &id) == 0) {
		rc = store_get(c->st, id, p, err, sizeof(err));
		if (rc == STORE_NOTFOUND) {
			cli_err("no promise %s", arg);
			return EX_DATAERR;
		}
	} else {
		rc = store_get_by_ref(c->st, arg, p, err, sizeof(err));
		if (rc == STORE_NOTFOUND) {
			cli_err("no promise with id or ref '%s'", arg);
			return EX_DATAERR;
		}
	}
	return rc == STORE_OK ? 0 : cli_store_fail(rc, err);
}

const char *
cli_one_operand(const struct cli *c, int argc, char **argv, int optidx)
{
	if (optidx >= argc) {
		cli_usage_err(c, "which promise? give its ID or ref");
		return NULL;
	}
	if (optidx + 1 < argc) {
		cli_usage_err(c, "unexpected argument '%s'", argv[optidx + 1]);
		return NULL;
	}
	return argv[optidx];
}

int
cli_parse_due(struct cli *c, const char *opt, const char *expr,
	      const struct cal_site *site, int64_t *out)
{
	char err[512] = "";

	if (cli_check_text(opt, expr, CLI_MAX_FIELD, 0) != 0)
		return EX_DATAERR;
	if (site == NULL) {
		cli_err("%s: no site to read '%s' in; add a site to the config",
			opt, expr);
		return EX_DATAERR;
	}
	if (phrase_parse_due(expr, c->now, site, c->cfg->phrases,
			     c->cfg->nphrases, out, err, sizeof(err)) != 0) {
		cli_err("%s: %s", opt, err[0] ? err : "cannot read the time");
		return EX_DATAERR;
	}
	return 0;
}

const struct cal_site *
cli_site_of(const struct cli *c, const char *site_id)
{
	const struct cal_site *s = NULL;

	if (c->cfg == NULL)
		return NULL;
	if (site_id)
		s = config_site(c->cfg, site_id);
	if (s == NULL && c->cfg->default_site)
		s = config_site(c->cfg, c->cfg->default_site);
	if (s == NULL && c->cfg->nsites > 0)
		s = &c->cfg->sites[0];
	return s;
}

const char *
cli_tz(const struct cal_site *s)
{
	return s && s->tz ? s->tz : "UTC";
}

void
cli_staff_ids(const struct config *cfg, char *buf, size_t buflen)
{
	size_t i, off = 0;

	if (buflen == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < cfg->nstaff && off < buflen; i++) {
		int w = snprintf(buf + off, buflen - off, "%s%s",
				 i ? ", " : "", cfg->staff[i].id);

		if (w < 0 || (size_t)w >= buflen - off) {
			/* Too many to list: say so rather than cut a name. */
			if (buflen > 4)
				util_strlcpy(buf + (off < buflen - 4 ? off : buflen - 4),
					     "...", 4);
			return;
		}
		off += (size_t)w;
	}
}
