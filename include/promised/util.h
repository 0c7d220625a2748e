/*
 * util: small helpers shared by every module: error buffers, bounded string
 * handling, number parsing with range checks, durations and UTC formatting.
 */
#ifndef PROMISED_UTIL_H
#define PROMISED_UTIL_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

/* Writes a formatted message into err (if err and errlen are non-zero). */
void util_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Room for any util_strerror text. */
#define UTIL_STRERROR_LEN 128

/* Thread-safe strerror: writes the text of errnum into buf (len bytes,
 * always NUL-terminated) and returns buf.  errno is left unchanged. */
const char *util_strerror(int errnum, char *buf, size_t len);

/* getenv; the one place that calls it (see util.c for why that is safe
 * here).  Returns borrowed memory, or NULL when name is unset. */
const char *util_getenv(const char *name);

/* getopt_long without the index argument; the one place that calls it
 * (see util.c).  Same return values and optind/optarg/optopt. */
int util_getopt(int argc, char *const argv[], const char *optstring,
		const struct option *longopts);

/* 1 when n, an snprintf return value, says the whole text fitted in a
 * buffer of size bytes; 0 when it was cut or snprintf failed. */
int util_fits(int n, size_t size);

/* Copies src into dst of size dstlen, always NUL-terminated; returns 0, or
 * -1 when src had to be truncated. */
int util_strlcpy(char *dst, const char *src, size_t dstlen);

/* Parses a whole decimal integer within [min, max]; 0 or -1. */
int util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parses exactly n (1 to 9) ASCII digits at s, as in fixed-width dates
 * and times; 0 or -1 (a sign, a space or a short field is an error). */
int util_parse_digits(const char *s, size_t n, int *out);

/* Parses exactly "2026-11-29T08:00:00Z" (the inverse of util_format_utc;
 * second 60 allowed, the day checked against the month); 0 or -1. */
int util_parse_utc(const char *s, int64_t *out);

/* Parses a duration such as "30m", "2h", "1h30m", "90s", "2d", "0",
 * optionally signed ("-15m", "+1h"), into seconds; 0 or -1. */
int util_parse_duration(const char *s, int64_t *out);

/* Formats seconds as a short duration ("2h", "1h30m", "-15m", "0"). */
void util_format_duration(int64_t secs, char *buf, size_t buflen);

/* Formats a UTC instant as "2026-11-29T08:00:00Z". */
void util_format_utc(int64_t t, char *buf, size_t buflen);

/* Returns 1 when s is valid UTF-8 without NUL, else 0. */
int util_utf8_valid(const char *s, size_t len);

/* Returns 1 when s (case-insensitively) starts with prefix. */
int util_startswith_ci(const char *s, const char *prefix);

/* Levenshtein distance between a and b, capped at 100. */
int util_edit_distance(const char *a, const char *b);

/* Civil date arithmetic, independent of any time zone. */
int64_t util_days_from_civil(int y, int m, int d);
void util_civil_from_days(int64_t z, int *y, int *m, int *d);
/* Day of week of a civil day number: 0 = Monday ... 6 = Sunday. */
int util_weekday(int64_t days);

#endif
