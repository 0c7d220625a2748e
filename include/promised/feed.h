/*
 * feed: turns an iCalendar document (a calendar feed) into promise items.
 * VTODOs and VEVENTs are mapped one component at a time — time zones
 * first — so a feed with tens of thousands of items never holds more than
 * one parsed component; recurring items are expanded inside a horizon.
 * Pure apart from reading the system's zone files: the caller passes `now`.
 * Fetching and the store sync live elsewhere (store_feed_sync in store.h).
 */
#ifndef PROMISED_FEED_H
#define PROMISED_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "promised/calendar.h"

/* Components a feed takes promises from (bit flags; 0 means both). */
enum feed_component {
	FEED_VTODO = 1,
	FEED_VEVENT = 2,
};

#define FEED_DEFAULT_HORIZON (14 * INT64_C(86400))
#define FEED_DEFAULT_MAX_INSTANCES 500
#define FEED_MAX_REASONS 4

/* One member of the staff as far as owner mapping needs it. */
struct feed_staff {
	const char *id;
	const char *email;
};

/* Maps an e-mail address (without "mailto:") to a staff id, or NULL. */
typedef const char *(*feed_staff_fn)(void *ctx, const char *email);

struct feed_opts {
	const char *name;               /* feed name: refs "feed:<name>:..." */
	unsigned components;            /* enum feed_component bits; 0: both */
	const char *const *categories;  /* match any of these (case-insens.) */
	size_t ncategories;             /* 0: no category filter */
	const char *summary_prefix;     /* NULL: none; case-insensitive */
	const char *summary_pattern;    /* POSIX extended regex; NULL: none */
	int use_dtend;                  /* VEVENT due from DTEND, not DTSTART */
	const char *default_owner;      /* owner when nothing else maps */
	const char *site_tz;            /* zone of floating times; NULL: site's */
	const struct cal_site *site;    /* all-day dues end with its day */
	const char *policy;             /* copied into every item; may be NULL */
	int64_t horizon;                /* seconds after now; 0: 14 days */
	size_t max_instances;           /* per recurring item; 0: 500 */
	const struct feed_staff *staff; /* e-mail lookup table ... */
	size_t nstaff;
	feed_staff_fn staff_fn;         /* ... or a callback (tried first) */
	void *staff_ctx;
};

/* One promise as the feed states it.  Strings are owned by the item when
 * it came from feed_item_copy, else borrowed for the callback's duration. */
struct feed_item {
	char *ref;             /* feed:<name>:<UID>[:<RECURRENCE-ID>] */
	char *uid;
	char *recurrence_id;   /* "20261204T160000Z" / "20261204"; NULL */
	char *title;
	char *details;
	char *customer_name;
	char *customer_phone;
	char *customer_email;
	char *vehicle;
	char *vin;
	char *owner;           /* staff id */
	char *site;            /* opts->site->id, or NULL */
	char *policy;          /* opts->policy, or NULL */
	int64_t due_at;        /* UTC seconds */
	int64_t target_at;     /* 0: none */
	int completed;
	int64_t completed_at;  /* when completed: COMPLETED, else now */
	int cancelled;
	int64_t sequence;      /* SEQUENCE, 0 when absent */
	int64_t last_modified; /* LAST-MODIFIED (UTC seconds), 0 when absent */
};

/* What a parse saw. */
struct feed_stats {
	size_t components;     /* top-level VTODO/VEVENT components read */
	size_t items;          /* items handed to the callback */
	size_t filtered;       /* left out by components/match options */
	size_t skipped;        /* could not be mapped; see reasons */
	size_t outside;        /* recurring items without an instance in range */
	size_t capped;         /* recurring items cut at max_instances */
	size_t zone_fallbacks; /* times converted with a file's own VTIMEZONE */
	size_t nreasons;       /* reasons kept (at most FEED_MAX_REASONS) */
	char reasons[FEED_MAX_REASONS][160];
};

/* Receives one item; a non-zero return stops the parse (feed_parse then
 * returns -1 with "stopped"). */
typedef int (*feed_item_fn)(void *ctx, const struct feed_item *it);

/* Parses data (len bytes, need not be NUL-terminated) and calls cb once
 * per item.  0 on success (items that cannot be mapped are skipped and
 * counted in *st, which may be NULL); -1 when data is empty, not
 * iCalendar, truncated (no END:VCALENDAR) or the options are invalid,
 * with the reason in err. */
int feed_parse(const char *data, size_t len, const struct feed_opts *o,
	       int64_t now, feed_item_fn cb, void *ctx, struct feed_stats *st,
	       char *err, size_t errlen);

/* feed_parse over the regular file open at fd (from its start to its
 * size): the file is mapped and the pages already read are given back as
 * the parse goes, so a feed of many megabytes costs a window of resident
 * memory, not its size.  The file must not shrink meanwhile (meant for a
 * private temporary file). */
int feed_parse_fd(int fd, const struct feed_opts *o, int64_t now,
		  feed_item_fn cb, void *ctx, struct feed_stats *st,
		  char *err, size_t errlen);

/* Maps a TZID as calendars write it (IANA, Windows/Outlook name, "(UTC+01:00)
 * Brussels, ..." display name, "/vendor/.../Europe/Brussels") to an IANA
 * name in buf; 0, or -1 when no zone is known for it. */
int feed_tz_resolve(const char *tzid, char *buf, size_t buflen);

/* Deep copy of src into dst (owned strings). */
void feed_item_copy(struct feed_item *dst, const struct feed_item *src);
/* Releases the strings of an owned item and zeroes it. */
void feed_item_clear(struct feed_item *it);

/* A growable array of owned items; feed_items_add is a feed_item_fn that
 * appends a copy, so feed_parse(..., feed_items_add, &list, ...) collects
 * a whole feed for store_feed_sync. */
struct feed_items {
	struct feed_item *v;
	size_t n;
	size_t cap;
};
int feed_items_add(void *list, const struct feed_item *it);
/* Releases every item and the array; the list is empty afterwards. */
void feed_items_free(struct feed_items *list);

/* Version of the libical in use, "3.0.16" (static; for --version).
 * libical 3 has no runtime call, so this is the version built against. */
const char *feed_lib_version(void);

#endif
