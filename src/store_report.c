/*
 * store_report: the rows the manager's report is computed from — the
 * promises made in a period with, per promise, the first notification
 * that went out and how many escalation messages were sent.  One
 * statement; the report module does the counting and never sees SQL.
 */
#include <stdlib.h>
#include <string.h>

#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

/*
 * An escalation is a sent notification whose step instant lies after the
 * due that was in force when it was queued: the new_due of the last
 * due-moving event (created, renegotiated, changed by a feed) at or
 * before its created_at.  A later renegotiation does not turn an
 * escalation that went out into a reminder.
 */
static const char report_sql[] =
	"SELECT p.id, p.owner, p.team, p.site, p.due_at, p.created_at,"
	" p.closed_at, p.state, p.outcome, p.renegotiations,"
	" (SELECT MIN(n.sent_at) FROM notifications n"
	"   WHERE n.promise_id = p.id AND n.state = 'sent'),"
	" (SELECT COUNT(*) FROM notifications n"
	"   WHERE n.promise_id = p.id AND n.state = 'sent'"
	"   AND n.scheduled_at > COALESCE((SELECT e.new_due FROM events e"
	"     WHERE e.promise_id = p.id AND e.new_due > 0"
	"     AND e.at <= n.created_at ORDER BY e.id DESC LIMIT 1),"
	"     p.due_at))"
	" FROM promises p"
	" WHERE p.created_at >= ?1 AND p.created_at < ?2"
	" AND (?3 IS NULL OR p.owner = ?3) AND (?4 IS NULL OR p.team = ?4)"
	" AND (?5 IS NULL OR p.site = ?5)"
	" ORDER BY p.id";

static void
read_item(sqlite3_stmt *stmt, struct store_report_item *it)
{
	memset(it, 0, sizeof(*it));
	it->id = sqlite3_column_int64(stmt, 0);
	it->owner = store_col_text(stmt, 1);
	it->team = store_col_text(stmt, 2);
	it->site = store_col_text(stmt, 3);
	it->due_at = sqlite3_column_int64(stmt, 4);
	it->created_at = sqlite3_column_int64(stmt, 5);
	it->closed_at = sqlite3_column_int64(stmt, 6);
	it->state = store_col_state(stmt, 7);
	it->outcome = store_col_outcome(stmt, 8);
	it->renegotiations = sqlite3_column_int(stmt, 9);
	it->first_sent_at = sqlite3_column_int64(stmt, 10);  /* NULL -> 0 */
	it->escalations_sent = sqlite3_column_int64(stmt, 11);
}

int
store_report_items(struct store *st, const struct store_report_filter *f,
		   struct store_report_item **out, size_t *n, char *err,
		   size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	struct store_report_item *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc, src;

	rc = store_prepare(st, report_sql, &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	sqlite3_bind_int64(stmt, 1, f->created_from);
	sqlite3_bind_int64(stmt, 2, f->created_to);
	store_bind_text(stmt, 3, f->owner);
	store_bind_text(stmt, 4, f->team);
	store_bind_text(stmt, 5, f->site);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			arr = xreallocarray(arr, cap, sizeof(*arr));
		}
		read_item(stmt, &arr[cnt++]);
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "reading promises for a report",
				  err, errlen);
out:
	store_finalize(st, stmt);
	if (rc != STORE_OK) {
		store_report_items_free(arr, cnt);
		arr = NULL;
		cnt = 0;
	}
	*out = arr;
	*n = cnt;
	return rc;
}

void
store_report_items_free(struct store_report_item *arr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(arr[i].owner);
		free(arr[i].team);
		free(arr[i].site);
	}
	free(arr);
}
