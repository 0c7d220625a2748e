/*
 * The real-world calendar files that Debian's python3-icalendar installs
 * are run through feed_parse: each one either parses or is rejected with
 * a reason, and nothing crashes (the sanitizer build catches the rest).
 * The files are used where the package installs them; the test fails
 * when there are none, since then it would prove nothing.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promised/calendar.h"
#include "promised/feed.h"
#include "promised/util.h"

#define DEFAULT_DIR "/usr/lib/python3/dist-packages/icalendar"

static size_t nfiles, nparsed, nrejected;

static int
count_item(void *ctx, const struct feed_item *it)
{
	size_t *n = ctx;

	assert_non_null(it->ref);
	assert_true(strncmp(it->ref, "feed:real:", 10) == 0);
	assert_non_null(it->title);
	assert_true(it->due_at > 0);
	(*n)++;
	return 0;
}

static void
check_file(const char *path)
{
	struct cal_site site;
	struct feed_opts o;
	struct feed_stats st;
	char err[256] = "", *buf;
	size_t n = 0, len;
	long sz;
	FILE *f = fopen(path, "rb");
	int rc;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz >= 0);
	rewind(f);
	buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	len = fread(buf, 1, (size_t)sz, f);
	fclose(f);
	memset(&site, 0, sizeof(site));
	site.id = (char *)"main";
	site.tz = (char *)"Europe/Brussels";
	memset(&o, 0, sizeof(o));
	o.name = "real";
	o.default_owner = "desk";
	o.site = &site;
	rc = feed_parse(buf, len, &o,
			util_days_from_civil(2026, 11, 29) * 86400 + 8 * 3600,
			count_item, &n, &st, err, sizeof(err));
	free(buf);
	if (rc == 0) {
		nparsed++;
		assert_int_equal(n, st.items);
		printf("  parsed   %s: %zu items, %zu skipped%s%s\n", path, n,
		       st.skipped, st.nreasons > 0 ? " — " : "",
		       st.nreasons > 0 ? st.reasons[0] : "");
	} else {
		assert_int_equal(rc, -1);
		assert_true(err[0] != '\0');
		nrejected++;
		printf("  rejected %s: %s\n", path, err);
	}
}

static int
visit(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	size_t len = strlen(path);

	(void)sb;
	(void)ftw;
	if (flag == FTW_F && len > 4 && strcmp(path + len - 4, ".ics") == 0) {
		nfiles++;
		check_file(path);
	}
	return 0;
}

static void
test_realworld_files(void **state)
{
	const char *dir = getenv("PROMISED_ICALENDAR_DIR");

	(void)state;
	if (dir == NULL || *dir == '\0')
		dir = DEFAULT_DIR;
	assert_int_equal(nftw(dir, visit, 16, FTW_PHYS), 0);
	if (nfiles == 0)
		fail_msg("no .ics files under %s: install python3-icalendar",
			 dir);
	assert_int_equal(nparsed + nrejected, nfiles);
	printf("%zu files: %zu parsed, %zu rejected\n", nfiles, nparsed,
	       nrejected);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_realworld_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
