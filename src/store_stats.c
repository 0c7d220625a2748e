/*
 * store_stats: the counts /metrics exposes — promises by state, lapses,
 * the outbox by state and by channel, and how long the oldest message
 * still to be delivered has waited.  Read in one deferred transaction so
 * a scrape sees one consistent snapshot without taking the write lock.
 */
#include <stdlib.h>
#include <string.h>

#include "promised/store.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

static int
count_promises(struct store *st, struct store_stats *out, char *err,
	       size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	enum promise_state s;
	int rc, src;

	rc = store_prepare(st, "SELECT state, COUNT(*) FROM promises"
			   " GROUP BY state", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);

		if (name && promise_state_parse(name, &s) == 0)
			out->promises[s] = sqlite3_column_int64(stmt, 1);
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "counting promises", err, errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

static int
count_outbox(struct store *st, struct store_stats *out, char *err,
	     size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	struct store_stats_notif *row;
	enum notif_state s;
	size_t cap = 0;
	int rc, src;

	rc = store_prepare(st, "SELECT channel, state, COUNT(*)"
			   " FROM notifications GROUP BY channel, state"
			   " ORDER BY channel, state", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 1);

		if (name == NULL || notif_state_parse(name, &s) != 0)
			continue;
		if (out->nnotifs == cap) {
			cap = cap ? cap * 2 : 16;
			out->notifs = xreallocarray(out->notifs, cap,
						    sizeof(*out->notifs));
		}
		row = &out->notifs[out->nnotifs++];
		row->channel = store_col_text(stmt, 0);
		if (row->channel == NULL)
			row->channel = xstrdup("");
		row->state = s;
		row->count = sqlite3_column_int64(stmt, 2);
		out->outbox[s] += row->count;
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "counting the outbox", err, errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

int
store_stats(struct store *st, struct store_stats *out, int64_t now,
	    char *err, size_t errlen)
{
	int64_t oldest = 0;
	int rc, src, began = 0;

	memset(out, 0, sizeof(*out));
	src = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = store_sqlerr(st, src, "starting to read metrics", err,
				  errlen);
		goto out;
	}
	began = 1;
	if ((rc = count_promises(st, out, err, errlen)) != STORE_OK ||
	    (rc = store_one_int(st, "SELECT COUNT(*) FROM events WHERE kind = ?",
			  event_kind_name(EVENT_LAPSED), &out->lapsed,
			  "counting lapses", err, errlen)) != STORE_OK ||
	    (rc = count_outbox(st, out, err, errlen)) != STORE_OK ||
	    (rc = store_one_int(st, "SELECT MIN(created_at) FROM notifications"
			  " WHERE state IN ('pending', 'retry', 'sending')",
			  NULL, &oldest, "reading the outbox age", err,
			  errlen)) != STORE_OK)
		goto out;
	if (oldest > 0 && now > oldest)
		out->oldest_pending_age = now - oldest;
out:
	if (began)
		sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != STORE_OK)
		store_stats_clear(out);
	return rc;
}

void
store_stats_clear(struct store_stats *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nnotifs; i++)
		free(s->notifs[i].channel);
	free(s->notifs);
	memset(s, 0, sizeof(*s));
}
