/*
 * libFuzzer harness over the iCalendar-to-promises path: feed_parse with
 * recurrence expansion, time zones and a small site, at a fixed "now".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "promised/calendar.h"
#include "promised/feed.h"
#include "promised/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count_item(void *ctx, const struct feed_item *it)
{
	size_t *n = ctx;

	/* Touch every string so the sanitizers see bad pointers. */
	*n += strlen(it->ref) + strlen(it->title) + strlen(it->owner);
	if (it->details != NULL)
		*n += strlen(it->details);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct feed_staff staff[] = {
		{ "alice", "alice@example.com" },
	};
	static const char *const cats[] = { "callback" };
	struct cal_site site;
	struct feed_opts o;
	struct feed_stats st;
	char err[256];
	size_t n = 0;
	int d;

	memset(&site, 0, sizeof(site));
	site.id = (char *)"main";
	site.tz = (char *)"Europe/Brussels";
	for (d = 0; d < 6; d++) {
		site.hours[d][0].open = 8 * 60;
		site.hours[d][0].close = 18 * 60;
		site.nranges[d] = 1;
	}
	memset(&o, 0, sizeof(o));
	o.name = "fuzz";
	o.default_owner = "desk";
	o.site = &site;
	o.staff = staff;
	o.nstaff = 1;
	o.max_instances = 200;
	/* The first byte picks options, so both paths get exercised. */
	if (size > 0 && (data[0] & 1))
		o.use_dtend = 1;
	if (size > 0 && (data[0] & 2)) {
		o.categories = cats;
		o.ncategories = 1;
	}
	feed_parse((const char *)data, size, &o,
		   util_days_from_civil(2026, 11, 29) * 86400 + 8 * 3600,
		   count_item, &n, &st, err, sizeof(err));
	return 0;
}
