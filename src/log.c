/*
 * log: stderr lines with syslog priority prefixes, which journald turns
 * back into levels.  One line per event; callers name the promise id.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "promised/log.h"

static enum log_level log_max = LOG_LVL_INFO;
static int log_journald = 1;

static const struct {
	const char *name;
	enum log_level level;
} log_names[] = {
	{ "err", LOG_LVL_ERR },
	{ "error", LOG_LVL_ERR },
	{ "warning", LOG_LVL_WARNING },
	{ "warn", LOG_LVL_WARNING },
	{ "notice", LOG_LVL_NOTICE },
	{ "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG },
};

void
log_set_level(enum log_level level)
{
	log_max = level;
}

int
log_parse_level(const char *name, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcasecmp(name, log_names[i].name) == 0) {
			*out = log_names[i].level;
			return 0;
		}
	}
	return -1;
}

void
log_set_prefix(int journald)
{
	log_journald = journald;
}

void
log_set_buffered(void)
{
	static char buf[65536];

	(void)setvbuf(stderr, buf, _IOFBF, sizeof(buf));
}

void
log_flush(void)
{
	(void)fflush(stderr);
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];

	if (level > log_max)
		return;
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line keeps lines whole when stderr is shared. */
	if (log_journald)
		(void)fprintf(stderr, "<%d>%s\n", (int)level, line);
	else
		(void)fprintf(stderr, "promised: %s\n", line);
}

#define LOG_FN(fn, level)                     \
	void fn(const char *fmt, ...)         \
	{                                     \
		va_list ap;                   \
		va_start(ap, fmt);            \
		log_vwrite(level, fmt, ap);   \
		va_end(ap);                   \
	}

LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARNING)
LOG_FN(log_notice, LOG_LVL_NOTICE)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	log_flush();
	abort();
}
