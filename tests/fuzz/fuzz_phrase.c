/*
 * libFuzzer target: due phrases (phrase_parse_due) at a fixed "now" on a
 * site with business hours and holidays.  The first byte picks the site's
 * zone (DST, half-hour and 45-minute offsets, the date line, one zone that
 * does not exist) and one of a few "now"s around DST changes; the rest is
 * the phrase.  Invariants: a due is within years 1..9999; a due without a
 * year in it (phrases, weekdays, bare times, relative) lies after now; a
 * failure says why; and the documented leniencies hold — the same input
 * in upper case, or with its blanks doubled, gives the same answer.
 */
#include <ctype.h>

#include "fuzz_common.h"

#include "promised/phrase.h"

#define T_MIN (INT64_C(-62135596800))
#define T_MAX (INT64_C(253402300799))

static const char *const zones[] = {
	"Europe/Brussels", "America/New_York", "Australia/Lord_Howe",
	"Asia/Kathmandu", "Pacific/Chatham", "Pacific/Kiritimati", "UTC",
	"America/St_Johns", "Nowhere/Atlantis",
};
#define NZONES (sizeof(zones) / sizeof(*zones))

static const int64_t nows[] = {
	FUZZ_NOW,                                   /* Thu 26 Nov 2026 */
	INT64_C(20540) * 86400 + 23 * 3600 + 30 * 60, /* Sat 28 Mar 23:30,
						       * EU DST starts next */
	INT64_C(20750) * 86400 + 23 * 3600,         /* Sat 24 Oct 23:00 */
	INT64_C(20818) * 86400 + 22 * 3600 + 59 * 60, /* Thu 31 Dec 22:59 */
};
#define NNOWS (sizeof(nows) / sizeof(*nows))

struct result {
	int rc;
	int64_t due;
	char err[256];
};

static void
parse(const char *in, int64_t now, const struct cal_site *site,
      const struct phrase_rule *rules, size_t nrules, struct result *r)
{
	r->err[0] = '\0';
	r->due = 0;
	r->rc = phrase_parse_due(in, now, site, rules, nrules, &r->due,
				 r->err, sizeof(r->err));
	FUZZ_ASSERT(r->rc == 0 || r->rc == -1, "rc %d", r->rc);
	FUZZ_ASSERT(r->rc == 0 || r->err[0] != '\0', "no reason for '%s'", in);
}

/* 1 when text holds four digits in a row: a year, so maybe absolute. */
static int
has_year(const char *s)
{
	int run = 0;

	for (; *s != '\0'; s++) {
		run = isdigit((unsigned char)*s) ? run + 1 : 0;
		if (run >= 4)
			return 1;
	}
	return 0;
}

/* The input changed as "ignores case" or "ignores extra blanks" says it
 * may be: same answer expected. */
static void
check_same(const char *what, const char *in, const char *variant,
	   const struct result *a, int64_t now, const struct cal_site *site,
	   const struct phrase_rule *rules, size_t nrules)
{
	struct result b;

	parse(variant, now, site, rules, nrules, &b);
	FUZZ_ASSERT(a->rc == b.rc && (a->rc != 0 || a->due == b.due),
		    "%s changes the answer: '%s' -> %d %lld, '%s' -> %d %lld",
		    what, in, a->rc, (long long)a->due, variant, b.rc,
		    (long long)b.due);
}

static void
variants(const char *in, const struct result *a, int64_t now,
	 const struct cal_site *site, const struct phrase_rule *rules,
	 size_t nrules)
{
	size_t n = strlen(in), i, j = 0;
	char *v = xmalloc(2 * n + 1);

	for (i = 0; i <= n; i++)
		v[i] = (char)toupper((unsigned char)in[i]);
	check_same("upper case", in, v, a, now, site, rules, nrules);
	for (i = 0; i < n; i++) {
		v[j++] = in[i];
		if (in[i] == ' ')
			v[j++] = ' ';
	}
	v[j] = '\0';
	check_same("doubled blanks", in, v, a, now, site, rules, nrules);
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct phrase_rule extra[] = {
		{ (char *)"after lunch", (char *)"en", PHRASE_DAY_TODAY,
		  PHRASE_TIME_AT, 14 * 60 },
		{ (char *)"first thing", (char *)"en",
		  PHRASE_DAY_NEXT_BUSINESS_DAY, PHRASE_TIME_OPENING, 0 },
		{ (char *)"morgen bij sluiten", (char *)"nl",
		  PHRASE_DAY_TOMORROW, PHRASE_TIME_CLOSING, 0 },
	};
	struct phrase_rule rules[64];
	const struct phrase_rule *def;
	struct cal_site site;
	struct result r;
	size_t ndef, nrules;
	int64_t now;
	const char *in;
	char *buf;

	if (size < 1 || size > 512)
		return 0;
	def = phrase_defaults(&ndef);
	if (ndef + 3 > 64)
		abort();
	memcpy(rules, def, ndef * sizeof(*rules));
	memcpy(rules + ndef, extra, sizeof(extra));
	nrules = ndef + 3;
	fuzz_site(&site, zones[data[0] % NZONES]);
	now = nows[(data[0] / NZONES) % NNOWS];
	buf = fuzz_fields(data + 1, size - 1, &in, 1);
	parse(in, now, &site, rules, nrules, &r);
	if (r.rc == 0) {
		FUZZ_ASSERT(r.due >= T_MIN && r.due <= T_MAX, "'%s' -> %lld",
			    in, (long long)r.due);
		FUZZ_ASSERT(has_year(in) || r.due >= now,
			    "'%s' -> %lld, before now %lld", in,
			    (long long)r.due, (long long)now);
	}
	variants(in, &r, now, &site, rules, nrules);
	free(buf);
	return 0;
}
