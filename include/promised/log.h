/*
 * log: one line per event on stderr, prefixed with <N> so journald keeps
 * the syslog priority.  fatal() is for out-of-memory and broken invariants.
 */
#ifndef PROMISED_LOG_H
#define PROMISED_LOG_H

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Sets the most verbose level that is still written (default INFO). */
void log_set_level(enum log_level level);
/* Parses "err", "warning", "notice", "info", "debug"; 0 or -1. */
int log_parse_level(const char *name, enum log_level *out);
/* Chooses "<N>" prefixes (journald) or plain "promised: " lines. */
void log_set_prefix(int journald);
/* Buffers lines until log_flush (the daemon flushes before it sleeps):
 * a burst of deliveries then costs one write, not one per line. */
void log_set_buffered(void);
void log_flush(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs at ERR and aborts the process. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
