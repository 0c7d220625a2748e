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

static int
insert_plain(struct store *st, const struct notification *n, int64_t now,
	     int *added, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = store_prepare(st, "INSERT OR IGNORE INTO notifications"
		" (promise_id, step, step_index, repeat, channel_index,"
		" channel, recipient, subject, body, idem_key, state,"
		" attempts, late, scheduled_at, next_try_at, created_at)"
		" VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
		" 'pending', 0, ?10, ?11, ?12, ?13)", &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	store_bind_text(stmt, 1, n->step != NULL ? n->step : "");
	sqlite3_bind_int(stmt, 2, n->step_index);
	sqlite3_bind_int(stmt, 3, n->repeat);
	sqlite3_bind_int(stmt, 4, n->channel_index);
	store_bind_text(stmt, 5, n->channel);
	store_bind_text(stmt, 6, n->recipient);
	store_bind_text(stmt, 7, n->subject);
	store_bind_text(stmt, 8, n->body);
	store_bind_text(stmt, 9, n->idem_key);
	sqlite3_bind_int(stmt, 10, n->late != 0);
	sqlite3_bind_int64(stmt, 11, n->scheduled_at);
	sqlite3_bind_int64(stmt, 12, n->next_try_at > 0 ? n->next_try_at
			   : now);
	sqlite3_bind_int64(stmt, 13, now);
	src = sqlite3_step(stmt);
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "queueing a notification", err,
				  errlen);
	else
		*added = sqlite3_changes(st->db) > 0;
	sqlite3_finalize(stmt);
	return rc;
}

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
	rc = insert_plain(st, n, now, added, err, errlen);
	return store_end(st, rc, err, errlen);
}

int
store_outbox_has_key(struct store *st, const char *idem_key, int *found,
		     char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*found = 0;
	rc = store_prepare(st, "SELECT 1 FROM notifications WHERE idem_key = ?1",
			   &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	store_bind_text(stmt, 1, idem_key);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		*found = 1;
	else if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "looking up a notification", err,
				  errlen);
	sqlite3_finalize(stmt);
	return rc;
}

int
store_first_promise_at(struct store *st, int64_t *at, char *err,
		       size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	*at = 0;
	/* A scan of the promises; the digest asks once per run. */
	rc = store_prepare(st, "SELECT MIN(created_at) FROM promises", &stmt,
			   err, errlen);
	if (rc != STORE_OK)
		return rc;
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		*at = sqlite3_column_int64(stmt, 0);
	else if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "reading the first promise", err,
				  errlen);
	sqlite3_finalize(stmt);
	return rc;
}
