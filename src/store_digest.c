/*
 * store_digest: outbox rows that belong to no promise — the weekly
 * digest.  They share the notifications table (and so its retries,
 * claim and crash recovery) with promise_id NULL; the unique idem_key
 * makes queueing idempotent across restarts.
 */
#include <stdint.h>
#include <string.h>

#include "promised/store.h"
#include "promised/util.h"
#include "store_internal.h"

int
store_outbox_queue_plain(struct store *st, const struct notification *n,
			 int64_t now, int *added, char *err, size_t errlen)
{
	int rc, dummy = 0;

	if (added == NULL)
		added = &dummy;
	*added = 0;
	if (n == NULL || n->idem_key == NULL || *n->idem_key == '\0' ||
	    n->channel == NULL || n->recipient == NULL) {
		util_seterr(err, errlen, "a notification needs an idem_key, a "
			    "channel and a recipient");
		return STORE_INVALID;
	}
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = store_outbox_insert(st, 0, n, now, added,
				 "queueing a notification", err, errlen);
	return store_end(st, rc, err, errlen);
}

int
store_outbox_has_key(struct store *st, const char *idem_key, int *found,
		     char *err, size_t errlen)
{
	int64_t v = 0;
	int rc;

	rc = store_one_int(st, "SELECT 1 FROM notifications WHERE idem_key = ?1",
			   idem_key, &v, "looking up a notification", err,
			   errlen);
	*found = v == 1;
	return rc;
}

int
store_first_promise_at(struct store *st, int64_t *at, char *err,
		       size_t errlen)
{
	*at = 0;
	/* A scan of the promises; the digest asks once per run. */
	return store_one_int(st, "SELECT MIN(created_at) FROM promises", NULL,
			     at, "reading the first promise", err, errlen);
}
