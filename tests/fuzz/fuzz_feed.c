/*
 * libFuzzer target: the iCalendar-to-promises path (feed_parse) with
 * recurrence expansion, time zones, categories and a small site, at a
 * fixed "now".  Beyond "no crash": every item a parse hands out must be
 * one the store could take — a ref under the feed's name that ends with
 * its RECURRENCE-ID, UTF-8 strings, an owner, a due in a sane range — and
 * the counts in the stats must match what the callback saw.
 */
#include "fuzz_common.h"

#include "promised/feed.h"

#define HORIZON (14 * INT64_C(86400))
#define MAX_INST 50
/* Years 1 to 9999: what iCalendar can write at all. */
#define T_MIN (INT64_C(-62135596800))
#define T_MAX (INT64_C(253402300799))

struct seen {
	size_t items;
};

static void
check_text(const char *what, const char *s, int required)
{
	FUZZ_ASSERT(!required || (s != NULL && s[0] != '\0'), "%s missing",
		    what);
	if (s != NULL)
		FUZZ_ASSERT(util_utf8_valid(s, strlen(s)), "%s not UTF-8", what);
}

static int
check_item(void *ctx, const struct feed_item *it)
{
	struct seen *sn = ctx;
	size_t rl, il;

	sn->items++;
	check_text("ref", it->ref, 1);
	/* The UID itself need not be UTF-8: only the ref is stored, and a
	 * ref that would not be is hashed. */
	FUZZ_ASSERT(it->uid != NULL && it->uid[0] != '\0', "no uid");
	check_text("title", it->title, 0);
	check_text("details", it->details, 0);
	check_text("owner", it->owner, 1);
	check_text("customer_name", it->customer_name, 0);
	check_text("customer_email", it->customer_email, 0);
	FUZZ_ASSERT(strncmp(it->ref, "feed:fuzz:", 10) == 0, "ref %s",
		    it->ref);
	/* The store's limit on refs (long UIDs are hashed). */
	FUZZ_ASSERT(strlen(it->ref) <= 256 + 64, "ref of %zu bytes",
		    strlen(it->ref));
	if (it->recurrence_id != NULL) {
		rl = strlen(it->ref);
		il = strlen(it->recurrence_id);
		FUZZ_ASSERT(il > 0 && rl > il + 1 &&
			    it->ref[rl - il - 1] == ':' &&
			    strcmp(it->ref + rl - il, it->recurrence_id) == 0,
			    "ref %s does not end with :%s", it->ref,
			    it->recurrence_id);
	}
	FUZZ_ASSERT(it->due_at >= T_MIN && it->due_at <= T_MAX, "due %lld",
		    (long long)it->due_at);
	FUZZ_ASSERT(it->target_at == 0 ||
		    (it->target_at >= T_MIN && it->target_at <= T_MAX),
		    "target %lld", (long long)it->target_at);
	FUZZ_ASSERT(!it->completed || it->completed_at != 0,
		    "completed without a time");
	FUZZ_ASSERT(it->site != NULL && strcmp(it->site, "main") == 0,
		    "site %s", it->site ? it->site : "(null)");
	return 0;
}

static void
opts_init(struct feed_opts *o, const struct cal_site *site, uint8_t sel)
{
	static const struct feed_staff staff[] = {
		{ "alice", "alice@example.com" },
		{ "bob", "Bob@Example.com" },
	};
	static const char *const cats[] = { "callback", "Terugbellen" };

	memset(o, 0, sizeof(*o));
	o->name = "fuzz";
	o->default_owner = "desk";
	o->site = site;
	o->staff = staff;
	o->nstaff = 2;
	o->horizon = HORIZON;
	o->max_instances = MAX_INST;
	o->use_dtend = sel & 1;
	if (sel & 2) {
		o->categories = cats;
		o->ncategories = 2;
	}
	o->components = (sel >> 2) & 3;
	if (sel & 16)
		o->summary_prefix = "[promise]";
	if (sel & 32)
		o->summary_pattern = "^(call|bel) .*[0-9]";
	if (sel & 64)
		o->site_tz = "America/New_York";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cal_site site;
	struct feed_opts o;
	struct feed_stats st;
	struct seen sn = { 0 };
	char err[256];
	uint8_t sel = 0;
	int rc;

	/* A first byte other than the 'B' of BEGIN: picks the options (and
	 * is not part of the calendar), so every path gets exercised. */
	if (size > 0 && data[0] != 'B') {
		sel = data[0];
		data++;
		size--;
	}

	fuzz_site(&site, "Europe/Brussels");
	opts_init(&o, &site, sel);
	memset(&st, 0, sizeof(st));
	rc = feed_parse((const char *)data, size, &o, FUZZ_NOW, check_item,
			&sn, &st, err, sizeof(err));
	if (rc != 0) {
		FUZZ_ASSERT(err[0] != '\0', "failure without a reason");
		return 0;
	}
	FUZZ_ASSERT(st.items == sn.items, "stats say %zu items, saw %zu",
		    st.items, sn.items);
	FUZZ_ASSERT(st.nreasons <= FEED_MAX_REASONS, "%zu reasons",
		    st.nreasons);
	return 0;
}
