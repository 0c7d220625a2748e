/*
 * Helpers shared by the libFuzzer targets: splitting one input into
 * NUL-separated fields, a private scratch folder, a site with business
 * hours and holidays, and an invariant check that aborts (so libFuzzer
 * saves the input) with a message saying which promise was broken.
 */
#ifndef PROMISED_FUZZ_COMMON_H
#define PROMISED_FUZZ_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promised/calendar.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: print why and abort(), which libFuzzer reports as
 * a crash and saves the input for. */
#define FUZZ_ASSERT(cond, ...) do {                                      \
		if (!(cond)) {                                           \
			fprintf(stderr, "invariant failed at %s:%d: %s: ",   \
				__FILE__, __LINE__, #cond);              \
			fprintf(stderr, __VA_ARGS__);                    \
			fputc('\n', stderr);                             \
			abort();                                         \
		}                                                        \
	} while (0)

/* The fixed "now" of every target: Thursday 26 Nov 2026 10:00 UTC. */
#define FUZZ_NOW (INT64_C(20783) * 86400 + 10 * 3600)

/* Copies data into an owned NUL-terminated buffer and points f[0..n-1]
 * at its NUL-separated fields (the fields past the data are ""); returns
 * the buffer to free. */
static inline char *
fuzz_fields(const uint8_t *data, size_t size, const char **f, size_t n)
{
	char *buf = xmalloc(size + 1);
	size_t i, at = 0;

	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = 0; i < n; i++) {
		if (at <= size) {
			f[i] = buf + at;
			at += strlen(buf + at) + 1;
		} else {
			f[i] = "";
		}
	}
	return buf;
}

/* A scratch folder of this process under $TMPDIR (made once). */
static inline const char *
fuzz_tmpdir(void)
{
	static char dir[512];
	const char *base = getenv("TMPDIR");

	if (dir[0] != '\0')
		return dir;
	snprintf(dir, sizeof(dir), "%s/promised-fuzz.XXXXXX",
		 base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
		abort();
	}
	return dir;
}

/* Writes len bytes to dir/name (replacing it); aborts on I/O errors,
 * which are the machine's problem, not a finding. */
static inline void
fuzz_write(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL || (len > 0 && fwrite(data, 1, len, fp) != len) ||
	    fclose(fp) != 0) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		abort();
	}
}

/* Mon-Fri 08:00-12:00 and 13:00-18:00, Sat 09:00-12:00, Sun closed, two
 * holidays (1 Dec and 25 Dec 2026); tz borrowed. */
static inline void
fuzz_site(struct cal_site *s, const char *tz)
{
	static int64_t hol[2];
	int d;

	memset(s, 0, sizeof(*s));
	s->id = (char *)"main";
	s->tz = (char *)tz;
	for (d = 0; d < 5; d++) {
		s->hours[d][0].open = 8 * 60;
		s->hours[d][0].close = 12 * 60;
		s->hours[d][1].open = 13 * 60;
		s->hours[d][1].close = 18 * 60;
		s->nranges[d] = 2;
	}
	s->hours[5][0].open = 9 * 60;
	s->hours[5][0].close = 12 * 60;
	s->nranges[5] = 1;
	hol[0] = util_days_from_civil(2026, 12, 1);
	hol[1] = util_days_from_civil(2026, 12, 25);
	s->holidays = hol;
	s->nholidays = 2;
}

#endif
