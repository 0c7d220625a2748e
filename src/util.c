/*
 * util: helpers every module shares — error buffers, bounded strings,
 * checked number and duration parsing, civil-date arithmetic.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promised/util.h"

void
util_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	/* An error message may be cut to the caller's buffer. */
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* strerror shares one static buffer between threads (and libcurl's
 * resolver runs in threads); strerror_r does not.  With _GNU_SOURCE glibc
 * declares the GNU strerror_r, which returns a pointer that may or may not
 * be buf; elsewhere it is the XSI one, which returns 0 or an error. */
const char *
util_strerror(int errnum, char *buf, size_t len)
{
	int saved = errno;

	if (buf == NULL || len == 0)
		return "";
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	{
		const char *s = strerror_r(errnum, buf, len);

		/* A static text: copied, and a cut one still reads. */
		if (s != buf)
			(void)util_strlcpy(buf, s, len);
	}
#else
	/* An unknown errnum, or a buffer too small: the number will do. */
	if (strerror_r(errnum, buf, len) != 0)
		(void)snprintf(buf, len, "error %d", errnum);
#endif
	errno = saved;
	return buf;
}

/* concurrency-mt-unsafe flags getenv and getopt_long by their POSIX
 * contract.  Both are called here only: glibc's getenv is safe against
 * other readers, and the only writer of the environment is calendar.c's
 * TZ switch, under its lock; while a feed's parse thread converts times,
 * the other thread reads the environment only under that lock too.  The
 * send threads' own code never reads it (netsend copies what they
 * need); libcurl there may look at proxy variables.  TZ is added at the
 * first conversion (a message is rendered before it is sent, so that is
 * normally before any send thread starts) and later only replaced when
 * another zone is used, which does not move the environment array.
 * getopt keeps its state in globals (optind, optarg); both programs parse
 * their arguments on the main thread before any other thread exists. */
const char *
util_getenv(const char *name)
{
	return getenv(name); // NOLINT(concurrency-mt-unsafe): see above
}

int
util_getopt(int argc, char *const argv[], const char *optstring,
	    const struct option *longopts)
{
	return getopt_long(argc, argv, optstring, longopts, NULL); // NOLINT(concurrency-mt-unsafe): see above
}

int
util_fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

int
util_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t len = strlen(src);

	if (dstlen == 0)
		return -1;
	if (len >= dstlen) {
		memcpy(dst, src, dstlen - 1);
		dst[dstlen - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int
util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int64_t
unit_seconds(char c)
{
	switch (c) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return INT64_C(7) * 86400;
	default: return 0;
	}
}

int
util_parse_digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
util_parse_utc(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, y2, mo2, d2;
	int64_t days;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    util_parse_digits(s, 4, &y) != 0 ||
	    util_parse_digits(s + 5, 2, &mo) != 0 ||
	    util_parse_digits(s + 8, 2, &d) != 0 ||
	    util_parse_digits(s + 11, 2, &h) != 0 ||
	    util_parse_digits(s + 14, 2, &mi) != 0 ||
	    util_parse_digits(s + 17, 2, &sec) != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return -1;
	days = util_days_from_civil(y, mo, d);
	util_civil_from_days(days, &y2, &mo2, &d2);
	if (y2 != y || mo2 != mo || d2 != d)
		return -1;
	*out = days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
	return 0;
}

int
util_parse_duration(const char *s, int64_t *out)
{
	int64_t total = 0, sign = 1;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	if (*p == '+' || *p == '-')
		sign = (*p++ == '-') ? -1 : 1;
	if (strcmp(p, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		int64_t n = 0, unit;

		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (n > 100000000)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		unit = unit_seconds(*p);
		if (unit == 0)
			return -1;
		p++;
		total += n * unit;
		if (total > INT64_C(100) * 365 * 86400)
			return -1;
	}
	*out = sign * total;
	return 0;
}

void
util_format_duration(int64_t secs, char *buf, size_t buflen)
{
	char tmp[64];
	size_t off = 0;
	int64_t a = secs < 0 ? -secs : secs;
	int64_t d = a / 86400, h = (a % 86400) / 3600, m = (a % 3600) / 60;
	int64_t s = a % 60;

	if (secs == 0) {
		util_strlcpy(buf, "0", buflen);
		return;
	}
	if (secs < 0)
		tmp[off++] = '-';
	if (d)
		off += (size_t)snprintf(tmp + off, sizeof(tmp) - off, "%" PRId64 "d", d);
	if (h)
		off += (size_t)snprintf(tmp + off, sizeof(tmp) - off, "%" PRId64 "h", h);
	if (m)
		off += (size_t)snprintf(tmp + off, sizeof(tmp) - off, "%" PRId64 "m", m);
	if (s && d == 0)
		(void)snprintf(tmp + off, sizeof(tmp) - off, "%" PRId64 "s", s);
	util_strlcpy(buf, tmp, buflen);
}

void
util_format_utc(int64_t t, char *buf, size_t buflen)
{
	int y, mo, d;
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t rem = t - days * 86400;

	util_civil_from_days(days, &y, &mo, &d);
	(void)snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d,
		       (int)(rem / 3600), (int)(rem % 3600 / 60),
		       (int)(rem % 60));
}

int
util_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n, k;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
		else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
		else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
		else return 0;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

int
util_startswith_ci(const char *s, const char *prefix)
{
	while (*prefix != '\0') {
		if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
			return 0;
		s++;
		prefix++;
	}
	return 1;
}

int
util_edit_distance(const char *a, const char *b)
{
	int row[65], i, j;
	int la = (int)strlen(a), lb = (int)strlen(b);

	if (la > 64 || lb > 64)
		return 100;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		int prev = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			int cur = row[j];
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = prev + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb] > 100 ? 100 : row[lb];
}

/* Howard Hinnant's civil-date algorithms: exact for the proleptic
 * Gregorian calendar, with no time zone involved. */
int64_t
util_days_from_civil(int y, int m, int d)
{
	int64_t yy = y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* y, m, d are out-parameters in calendar order, the mirror of
 * util_days_from_civil(y, m, d); the check's "used together" rule, which
 * silences that function, cannot see through pointers. */
void
util_civil_from_days(int64_t z, int *y, int *m, int *d) // NOLINT(bugprone-easily-swappable-parameters): see above
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int
util_weekday(int64_t days)
{
	/* 1970-01-01 (day 0) was a Thursday (3 when Monday is 0). */
	int64_t w = (days + 3) % 7;

	return (int)(w < 0 ? w + 7 : w);
}
