/*
 * store_outbox: the daemon's side of the store — when to wake, which
 * promises have due steps, firing a step (notifications, lapse, watermark
 * and next_step_at in one transaction) and the outbox state machine
 * pending -> sending -> sent | retry | dead.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

/* Queues a notification row; a row whose idem_key exists is ignored. */
#define INSERT_NOTIF_SQL \
	"INSERT OR IGNORE INTO notifications" \
	" (promise_id, step, step_index, repeat, channel_index," \
	" channel, recipient, subject, body, idem_key, state," \
	" attempts, late, scheduled_at, next_try_at, created_at)" \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10," \
	" 'pending', 0, ?11, ?12, ?13, ?14)"

#define NOTIF_COLS \
	"id, promise_id, step, step_index, repeat, channel_index, channel," \
	" recipient, subject, body, idem_key, state, attempts, late," \
	" scheduled_at, next_try_at, created_at, sent_at, last_error," \
	" provider_id"

/* One MIN over an index; *out stays when the result is NULL. */
static int
min_of(struct store *st, const char *sql, const char *state, int64_t *out,
       char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = store_prepare(st, sql, &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	if (state != NULL)
		store_bind_text(stmt, 1, state);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		if (sqlite3_column_type(stmt, 0) != SQLITE_NULL)
			*out = sqlite3_column_int64(stmt, 0);
	} else {
		rc = store_sqlerr(st, src, "finding the next wake-up", err,
				  errlen);
	}
out:
	store_finalize(st, stmt);
	return rc;
}

int
store_next_wake(struct store *st, int64_t *out, char *err, size_t errlen)
{
	static const char *const states[] = { "pending", "retry" };
	int64_t best = 0, v;
	size_t i;
	int rc;

	*out = 0;
	v = 0;
	rc = min_of(st, "SELECT MIN(next_step_at) FROM promises"
		    " WHERE state <> 'closed' AND next_step_at > 0", NULL, &v,
		    err, errlen);
	if (rc != STORE_OK)
		return rc;
	best = v;
	/* One query per state so each is a single (state, next_try_at)
	 * index lookup. */
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		v = 0;
		rc = min_of(st, "SELECT MIN(next_try_at) FROM notifications"
			    " WHERE state = ?1", states[i], &v, err, errlen);
		if (rc != STORE_OK)
			return rc;
		if (v > 0 && (best == 0 || v < best))
			best = v;
	}
	*out = best;
	return STORE_OK;
}

/* ---- Firing --------------------------------------------------------- */

static int
check_fire(const struct store_fire *f, char *err, size_t errlen)
{
	size_t i;

	if (f->kind != EVENT_REMINDED && f->kind != EVENT_ESCALATED) {
		util_seterr(err, errlen, "fire kind must be reminded or "
			    "escalated");
		return STORE_INVALID;
	}
	for (i = 0; i < f->nnotifs; i++) {
		const struct notification *nt = &f->notifs[i];

		if (nt->idem_key == NULL || *nt->idem_key == '\0' ||
		    nt->channel == NULL || nt->recipient == NULL) {
			util_seterr(err, errlen, "notification %zu needs an "
				    "idem_key, a channel and a recipient", i);
			return STORE_INVALID;
		}
	}
	return STORE_OK;
}

/* Binds nt to a prepared INSERT_NOTIF_SQL (promise id 0: none) and
 * steps it; *added is 1 when the row is new, 0 when its idem_key was
 * already queued. */
static int
insert_one(struct store *st, sqlite3_stmt *stmt, int64_t pid,
	   const struct notification *nt, int64_t now, int *added,
	   const char *what, char *err, size_t errlen)
{
	int src;

	*added = 0;
	sqlite3_reset(stmt);
	if (pid != 0)
		sqlite3_bind_int64(stmt, 1, pid);
	else
		sqlite3_bind_null(stmt, 1);
	store_bind_text(stmt, 2, nt->step != NULL ? nt->step : "");
	sqlite3_bind_int(stmt, 3, nt->step_index);
	sqlite3_bind_int(stmt, 4, nt->repeat);
	sqlite3_bind_int(stmt, 5, nt->channel_index);
	store_bind_text(stmt, 6, nt->channel);
	store_bind_text(stmt, 7, nt->recipient);
	store_bind_text(stmt, 8, nt->subject);
	store_bind_text(stmt, 9, nt->body);
	store_bind_text(stmt, 10, nt->idem_key);
	sqlite3_bind_int(stmt, 11, nt->late != 0);
	sqlite3_bind_int64(stmt, 12, nt->scheduled_at);
	sqlite3_bind_int64(stmt, 13, nt->next_try_at > 0 ? nt->next_try_at
			   : now);
	sqlite3_bind_int64(stmt, 14, now);
	src = sqlite3_step(stmt);
	if (src != SQLITE_DONE)
		return store_sqlerr(st, src, what, err, errlen);
	*added = sqlite3_changes(st->db) > 0;
	return STORE_OK;
}

int
store_outbox_insert(struct store *st, int64_t pid,
		    const struct notification *nt, int64_t now, int *added,
		    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*added = 0;
	rc = store_prepare(st, INSERT_NOTIF_SQL, &stmt, err, errlen);
	if (rc == STORE_OK)
		rc = insert_one(st, stmt, pid, nt, now, added, what, err,
				errlen);
	store_finalize(st, stmt);
	return rc;
}

/* INSERT OR IGNORE: a step already queued (same idem_key) is skipped. */
static int
insert_notifs(struct store *st, int64_t pid, const struct store_fire *f,
	      int64_t now, size_t *added, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	size_t i;
	int rc, one = 0;

	*added = 0;
	rc = store_prepare(st, INSERT_NOTIF_SQL, &stmt, err, errlen);
	for (i = 0; rc == STORE_OK && i < f->nnotifs; i++) {
		rc = insert_one(st, stmt, pid, &f->notifs[i], now, &one,
				"queueing a notification", err, errlen);
		*added += (size_t)one;
	}
	store_finalize(st, stmt);
	return rc;
}

/* Writes what firing changes: the lapse, the watermark and the next
 * step.  Not store_save: an UPDATE of every column rewrites the entry of
 * every index (ref, due, owner, source), four B-tree writes per step for
 * nothing. */
static int
save_fired(struct store *st, const struct promise *p, char *err,
	   size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = store_prepare(st, "UPDATE promises SET lapsed_at = ?2,"
			   " fired_through = ?3, next_step_at = ?4"
			   " WHERE id = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, p->id);
	sqlite3_bind_int64(stmt, 2, p->lapsed_at);
	sqlite3_bind_int64(stmt, 3, p->fired_through);
	sqlite3_bind_int64(stmt, 4, p->next_step_at);
	rc = store_step_done(st, stmt, "updating a promise", err, errlen);
	store_finalize(st, stmt);
	return rc;
}

static int
fire_tx(struct store *st, struct promise *p, const struct store_fire *f,
	int64_t now, char *err, size_t errlen)
{
	char due[32], *detail = NULL;
	size_t added = 0;
	int rc;

	if (p->state == PROMISE_CLOSED) {
		util_seterr(err, errlen, "promise %" PRId64 " is closed; "
			    "nothing fired", p->id);
		return STORE_CONFLICT;
	}
	/* The lapse happens once, however often its step fires. */
	if (f->mark_lapsed && p->lapsed_at == 0) {
		p->lapsed_at = now;
		util_format_utc(p->due_at, due, sizeof(due));
		detail = xasprintf("due %s passed while %s", due,
				   promise_state_name(p->state));
		rc = store_event_add(st, p->id, EVENT_LAPSED, "promised",
				     detail, 0, 0, now, err, errlen);
		free(detail);
		if (rc != STORE_OK)
			return rc;
	}
	rc = insert_notifs(st, p->id, f, now, &added, err, errlen);
	if (rc == STORE_OK && added > 0)
		rc = store_event_add(st, p->id, f->kind, "promised",
				     f->detail, 0, 0, now, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if (f->fired_through > p->fired_through)
		p->fired_through = f->fired_through;
	p->next_step_at = store_next_of(st, p, now);
	return save_fired(st, p, err, errlen);
}

int
store_fire(struct store *st, int64_t promise_id,
	   const struct store_fire *fire, int64_t now, char *err,
	   size_t errlen)
{
	struct promise p;
	int rc;

	memset(&p, 0, sizeof(p));
	rc = check_fire(fire, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = store_load(st, promise_id, &p, err, errlen);
	if (rc == STORE_OK)
		rc = fire_tx(st, &p, fire, now, err, errlen);
	rc = store_end(st, rc, err, errlen);
	promise_clear(&p);
	return rc;
}

int
store_fire_loaded(struct store *st, struct promise *p,
		  const struct store_fire *fire, int64_t now, int guarded,
		  char *err, size_t errlen)
{
	int rc;

	if (!st->in_batch)
		return store_fire(st, p->id, fire, now, err, errlen);
	rc = check_fire(fire, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if (!guarded)
		return fire_tx(st, p, fire, now, err, errlen);
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = fire_tx(st, p, fire, now, err, errlen);
	return store_end(st, rc, err, errlen);
}

static int
open_ids(struct store *st, int64_t **ids, size_t *n, char *err,
	 size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	size_t cap = 0;
	int rc, src;

	*ids = NULL;
	*n = 0;
	rc = store_prepare(st, "SELECT id FROM promises"
			   " WHERE state <> 'closed' ORDER BY id", &stmt, err,
			   errlen);
	if (rc != STORE_OK)
		return rc;
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			*ids = xreallocarray(*ids, cap, sizeof(**ids));
		}
		(*ids)[(*n)++] = sqlite3_column_int64(stmt, 0);
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "listing open promises", err,
				  errlen);
	store_finalize(st, stmt);
	return rc;
}

/* The recompute itself, inside the caller's transaction. */
static int
recompute_tx(struct store *st, int64_t now, char *err, size_t errlen)
{
	struct promise p;
	sqlite3_stmt *upd = NULL;
	int64_t *ids = NULL, next;
	size_t i, n = 0;
	int rc;

	rc = open_ids(st, &ids, &n, err, errlen);
	/* Only next_step_at changes: writing that one column instead of the
	 * whole row keeps a reload of a large site short. */
	if (rc == STORE_OK)
		rc = store_prepare(st, "UPDATE promises SET next_step_at = ?2"
				   " WHERE id = ?1", &upd, err, errlen);
	for (i = 0; rc == STORE_OK && i < n; i++) {
		rc = store_load(st, ids[i], &p, err, errlen);
		if (rc != STORE_OK)
			break;
		next = store_next_of(st, &p, now);
		if (next != p.next_step_at) {
			sqlite3_bind_int64(upd, 1, p.id);
			sqlite3_bind_int64(upd, 2, next);
			rc = store_step_done(st, upd, "updating a promise", err,
					     errlen);
			sqlite3_reset(upd);
		}
		promise_clear(&p);
	}
	store_finalize(st, upd);
	free(ids);
	return rc;
}

int
store_recompute_all(struct store *st, int64_t now, char *err, size_t errlen)
{
	int rc = store_begin(st, err, errlen);

	if (rc != STORE_OK)
		return rc;
	return store_end(st, recompute_tx(st, now, err, errlen), err, errlen);
}

/* Reads (fp NULL: nothing to compare) or writes the schedule's
 * fingerprint; *same is 1 when the stored one equals fp. */
static int
schedule_mark(struct store *st, const char *fp, int write, int *same,
	      char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	const unsigned char *v;
	int rc, src;

	rc = store_prepare(st, write ?
			   "INSERT OR REPLACE INTO meta (key, value)"
			   " VALUES ('schedule', ?1)" :
			   "SELECT value FROM meta WHERE key = 'schedule'",
			   &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if (write) {
		store_bind_text(stmt, 1, fp);
		rc = store_step_done(st, stmt, "recording the schedule", err,
				     errlen);
	} else {
		src = sqlite3_step(stmt);
		v = src == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
		*same = v != NULL && strcmp((const char *)v, fp) == 0;
		if (src != SQLITE_ROW && src != SQLITE_DONE)
			rc = store_sqlerr(st, src, "reading the schedule",
					  err, errlen);
	}
	store_finalize(st, stmt);
	return rc;
}

int
store_recompute_for(struct store *st, const char *fingerprint, int64_t now,
		    int *skipped, char *err, size_t errlen)
{
	int rc, same = 0;

	*skipped = 0;
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = schedule_mark(st, fingerprint, 0, &same, err, errlen);
	if (rc == STORE_OK && same) {
		*skipped = 1;
		return store_end(st, STORE_OK, err, errlen);
	}
	if (rc == STORE_OK)
		rc = recompute_tx(st, now, err, errlen);
	if (rc == STORE_OK)
		rc = schedule_mark(st, fingerprint, 1, &same, err, errlen);
	return store_end(st, rc, err, errlen);
}

/* ---- The outbox ----------------------------------------------------- */

static void
read_notif(sqlite3_stmt *stmt, struct notification *nt)
{
	const char *s;

	memset(nt, 0, sizeof(*nt));
	nt->id = sqlite3_column_int64(stmt, 0);
	nt->promise_id = sqlite3_column_int64(stmt, 1);
	nt->step = store_col_text(stmt, 2);
	nt->step_index = sqlite3_column_int(stmt, 3);
	nt->repeat = sqlite3_column_int(stmt, 4);
	nt->channel_index = sqlite3_column_int(stmt, 5);
	nt->channel = store_col_text(stmt, 6);
	nt->recipient = store_col_text(stmt, 7);
	nt->subject = store_col_text(stmt, 8);
	nt->body = store_col_text(stmt, 9);
	nt->idem_key = store_col_text(stmt, 10);
	s = (const char *)sqlite3_column_text(stmt, 11);
	if (s == NULL || notif_state_parse(s, &nt->state) == -1)
		nt->state = NOTIF_PENDING;
	nt->attempts = sqlite3_column_int(stmt, 12);
	nt->late = sqlite3_column_int(stmt, 13);
	nt->scheduled_at = sqlite3_column_int64(stmt, 14);
	nt->next_try_at = sqlite3_column_int64(stmt, 15);
	nt->created_at = sqlite3_column_int64(stmt, 16);
	nt->sent_at = sqlite3_column_int64(stmt, 17);
	nt->last_error = store_col_text(stmt, 18);
	nt->provider_id = store_col_text(stmt, 19);
}

/* Steps a prepared SELECT of NOTIF_COLS into an owned array. */
static int
collect_notifs(struct store *st, sqlite3_stmt *stmt,
	       struct notification **out, size_t *n, char *err,
	       size_t errlen)
{
	struct notification *arr = NULL;
	size_t cnt = 0, cap = 0;
	int src;

	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			arr = xreallocarray(arr, cap, sizeof(*arr));
		}
		read_notif(stmt, &arr[cnt++]);
	}
	if (src != SQLITE_DONE) {
		notification_free_array(arr, cnt);
		*out = NULL;
		*n = 0;
		return store_sqlerr(st, src, "reading the outbox", err,
				    errlen);
	}
	*out = arr;
	*n = cnt;
	return STORE_OK;
}

/* Runs one statement without parameters. */
static int
exec_plain(struct store *st, const char *sql, const char *what, char *err,
	   size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = store_prepare(st, sql, &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	src = sqlite3_step(stmt);
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, what, err, errlen);
	store_finalize(st, stmt);
	return rc;
}

int
store_outbox_recover(struct store *st, size_t *n, char *err, size_t errlen)
{
	int rc;

	*n = 0;
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = exec_plain(st, "UPDATE notifications SET state = 'pending'"
			" WHERE state = 'sending'", "recovering the outbox",
			err, errlen);
	if (rc == STORE_OK)
		*n = (size_t)sqlite3_changes(st->db);
	return store_end(st, rc, err, errlen);
}

/* Oldest next_try_at first, then oldest row. */
static int
ready_cmp(const void *va, const void *vb)
{
	const struct notification *a = va, *b = vb;

	if (a->next_try_at != b->next_try_at)
		return a->next_try_at < b->next_try_at ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Claims up to limit rows of one state due at now, appending them to
 * *out: one statement, whose inner SELECT reads the rows in the order of
 * the (state, next_try_at) index, so only the rows taken are read (with
 * "state IN (pending, retry)" SQLite sorted every ready row for each
 * claim: a burst of 10,000 read 10,000 rows per 32 claimed). */
static int
claim_of(struct store *st, const char *state, int64_t now, size_t limit,
	 struct notification **out, size_t *n, char *err, size_t errlen)
{
	struct notification *arr = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t cnt = 0;
	int rc;

	if (limit == 0)
		return STORE_OK;
	rc = store_prepare(st, "UPDATE notifications SET state = 'sending',"
			   " attempts = attempts + 1 WHERE id IN"
			   " (SELECT id FROM notifications"
			   " WHERE state = ?1 AND next_try_at <= ?2"
			   " ORDER BY next_try_at, id LIMIT ?3)"
			   " RETURNING " NOTIF_COLS, &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	store_bind_text(stmt, 1, state);
	sqlite3_bind_int64(stmt, 2, now);
	sqlite3_bind_int64(stmt, 3, limit > INT64_MAX ? -1 : (int64_t)limit);
	rc = collect_notifs(st, stmt, &arr, &cnt, err, errlen);
	store_finalize(st, stmt);
	if (rc == STORE_OK && cnt > 0) {
		*out = xreallocarray(*out, *n + cnt, sizeof(**out));
		memcpy(*out + *n, arr, cnt * sizeof(*arr));
		*n += cnt;
	}
	free(arr);
	return rc;
}

/* Up to limit retry and pending rows due at now (0: all), claimed, in
 * the order they fell due.  Retries are taken first, so that no more
 * than limit rows are ever claimed.  On an error *out holds what was
 * claimed, for the caller to free. */
static int
claim_rows(struct store *st, int64_t now, size_t limit,
	   struct notification **out, size_t *n, char *err, size_t errlen)
{
	int rc;

	if (limit == 0)
		limit = SIZE_MAX / 2;
	rc = claim_of(st, "retry", now, limit, out, n, err, errlen);
	if (rc == STORE_OK)
		rc = claim_of(st, "pending", now, limit - *n, out, n, err,
			      errlen);
	if (rc == STORE_OK && *n > 1)
		qsort(*out, *n, sizeof(**out), ready_cmp);
	return rc;
}

int
store_outbox_claim(struct store *st, int64_t now, size_t limit,
		   struct notification **out, size_t *n, char *err,
		   size_t errlen)
{
	int rc;

	*out = NULL;
	*n = 0;
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = claim_rows(st, now, limit, out, n, err, errlen);
	rc = store_end(st, rc, err, errlen);
	if (rc != STORE_OK) {
		notification_free_array(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

static int
load_notif(struct store *st, int64_t id, struct notification *nt,
	   char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	struct notification *arr = NULL;
	size_t n = 0;
	int rc;

	rc = store_prepare(st, "SELECT " NOTIF_COLS
			   " FROM notifications WHERE id = ?1", &stmt, err,
			   errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	rc = collect_notifs(st, stmt, &arr, &n, err, errlen);
	store_finalize(st, stmt);
	if (rc == STORE_OK && n == 0) {
		util_seterr(err, errlen, "no notification %" PRId64, id);
		rc = STORE_NOTFOUND;
	}
	if (rc == STORE_OK) {
		*nt = arr[0];
		free(arr);
	}
	return rc;
}

static int
save_result(struct store *st, const struct notification *nt, char *err,
	    size_t errlen)
{
	sqlite3_stmt *stmt;
	int rc, src;

	rc = store_prepare(st, "UPDATE notifications SET state = ?2,"
			   " next_try_at = ?3, sent_at = ?4,"
			   " last_error = ?5, provider_id = ?6"
			   " WHERE id = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, nt->id);
	store_bind_text(stmt, 2, notif_state_name(nt->state));
	sqlite3_bind_int64(stmt, 3, nt->next_try_at);
	sqlite3_bind_int64(stmt, 4, nt->sent_at);
	store_bind_text(stmt, 5, nt->last_error);
	store_bind_text(stmt, 6, nt->provider_id);
	src = sqlite3_step(stmt);
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "recording a send result", err,
				  errlen);
	store_finalize(st, stmt);
	return rc;
}

/* Applies the result to the loaded row; a dead row leaves a note. */
static int
result_tx(struct store *st, struct notification *nt, enum notif_state state,
	  int64_t next_try_at, const char *error, const char *provider_id,
	  int64_t now, char *err, size_t errlen)
{
	char *detail;
	int rc;

	if (nt->state != NOTIF_SENDING) {
		util_seterr(err, errlen, "notification %" PRId64 " is %s, not "
			    "sending", nt->id, notif_state_name(nt->state));
		return STORE_CONFLICT;
	}
	nt->state = state;
	if (state == NOTIF_SENT) {
		nt->sent_at = now;
		free(nt->provider_id);
		nt->provider_id = xstrdup(provider_id);
	} else {
		free(nt->last_error);
		nt->last_error = xstrdup(error != NULL ? error : "unknown error");
		if (state == NOTIF_RETRY)
			nt->next_try_at = next_try_at > now ? next_try_at : now;
	}
	rc = save_result(st, nt, err, errlen);
	/* A digest belongs to no promise: there is no timeline to note in. */
	if (rc != STORE_OK || state != NOTIF_DEAD || nt->promise_id == 0)
		return rc;
	detail = xasprintf("notification %" PRId64 " to %s via %s dead: %s",
			   nt->id, nt->recipient, nt->channel, nt->last_error);
	rc = store_event_add(st, nt->promise_id, EVENT_NOTE, "promised",
			     detail, 0, 0, now, err, errlen);
	free(detail);
	return rc;
}

/* The common answer, without reading the row first: a `sending` row
 * becomes sent (*done = 1).  *done = 0 when the row is not `sending`
 * (or gone): the caller reads it to say which. */
static int
mark_sent(struct store *st, int64_t id, const char *provider_id, int64_t now,
	  int *done, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*done = 0;
	rc = store_prepare(st, "UPDATE notifications SET state = 'sent',"
			   " sent_at = ?2, provider_id = ?3"
			   " WHERE id = ?1 AND state = 'sending'", &stmt, err,
			   errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, now);
	store_bind_text(stmt, 3, provider_id);
	rc = store_step_done(st, stmt, "recording a send result", err,
			     errlen);
	if (rc == STORE_OK)
		*done = sqlite3_changes(st->db) > 0;
	store_finalize(st, stmt);
	return rc;
}

int
store_outbox_result(struct store *st, int64_t id, enum notif_state state,
		    int64_t next_try_at, const char *error,
		    const char *provider_id, int64_t now, char *err,
		    size_t errlen)
{
	struct notification nt;
	int rc, done = 0;

	memset(&nt, 0, sizeof(nt));
	if (state != NOTIF_SENT && state != NOTIF_RETRY &&
	    state != NOTIF_DEAD) {
		util_seterr(err, errlen, "a send result is sent, retry or "
			    "dead, not %s", notif_state_name(state));
		return STORE_INVALID;
	}
	/* One statement is a change of its own (no savepoint, and a commit
	 * of its own outside a batch). */
	if (state == NOTIF_SENT) {
		rc = mark_sent(st, id, provider_id, now, &done, err, errlen);
		if (rc != STORE_OK || done)
			return rc;
	}
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = load_notif(st, id, &nt, err, errlen);
	if (rc == STORE_OK)
		rc = result_tx(st, &nt, state, next_try_at, error,
			       provider_id, now, err, errlen);
	rc = store_end(st, rc, err, errlen);
	notification_clear(&nt);
	return rc;
}

int
store_outbox_list(struct store *st, int state, int64_t promise_id,
		  size_t limit, struct notification **out, size_t *n,
		  char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (state >= NOTIF_STATE_COUNT) {
		util_seterr(err, errlen, "unknown notification state %d",
			    state);
		return STORE_INVALID;
	}
	rc = store_prepare(st, "SELECT " NOTIF_COLS " FROM notifications"
			   " WHERE (?1 IS NULL OR state = ?1)"
			   " AND (?2 = 0 OR promise_id = ?2)"
			   " ORDER BY id DESC LIMIT ?3", &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	store_bind_text(stmt, 1, state < 0 ? NULL :
			notif_state_name((enum notif_state)state));
	sqlite3_bind_int64(stmt, 2, promise_id);
	sqlite3_bind_int64(stmt, 3, limit == 0 || limit > INT64_MAX ? -1 :
			   (int64_t)limit);
	rc = collect_notifs(st, stmt, out, n, err, errlen);
	store_finalize(st, stmt);
	return rc;
}

int
store_outbox_retry(struct store *st, int64_t id, int64_t now, char *err,
		   size_t errlen)
{
	struct notification nt;
	int rc;

	memset(&nt, 0, sizeof(nt));
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = load_notif(st, id, &nt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	if (nt.state != NOTIF_DEAD && nt.state != NOTIF_RETRY) {
		util_seterr(err, errlen, "notification %" PRId64 " is %s; only "
			    "dead or retry rows can be retried", id,
			    notif_state_name(nt.state));
		rc = STORE_CONFLICT;
		goto out;
	}
	nt.state = NOTIF_PENDING;
	nt.next_try_at = now;
	rc = save_result(st, &nt, err, errlen);
out:
	rc = store_end(st, rc, err, errlen);
	notification_clear(&nt);
	return rc;
}

/* ---- Fallback ------------------------------------------------------- */

static int
fallback_tx(struct store *st, const struct notification *nt,
	    const char *channel, const char *reason, int64_t now,
	    int64_t *new_id, char *err, size_t errlen)
{
	struct notification m;
	char *detail;
	int added = 0, rc;

	if (nt->state != NOTIF_DEAD) {
		util_seterr(err, errlen, "notification %" PRId64 " is %s; only "
			    "a dead row falls back", nt->id,
			    notif_state_name(nt->state));
		return STORE_CONFLICT;
	}
	/* The same row on the next channel, due at once. */
	m = *nt;
	m.channel_index = nt->channel_index + 1;
	m.channel = (char *)channel;
	m.idem_key = xasprintf("%s.f%d.%s", nt->idem_key, m.channel_index,
			       channel);
	m.next_try_at = 0;
	rc = store_outbox_insert(st, nt->promise_id, &m, now, &added,
				 "queueing a fallback", err, errlen);
	free(m.idem_key);
	if (rc != STORE_OK || !added)
		return rc;
	*new_id = sqlite3_last_insert_rowid(st->db);
	if (nt->promise_id == 0)
		return rc;
	detail = xasprintf("fallback from %s to %s for %s: %s", nt->channel,
			   channel, nt->recipient,
			   reason != NULL ? reason : "unknown error");
	rc = store_event_add(st, nt->promise_id, EVENT_NOTE, "promised",
			     detail, 0, 0, now, err, errlen);
	free(detail);
	return rc;
}

int
store_outbox_fallback(struct store *st, int64_t dead_id,
		      const char *next_channel, const char *reason,
		      int64_t now, int64_t *new_id, char *err, size_t errlen)
{
	struct notification nt;
	int64_t id = 0;
	int rc;

	memset(&nt, 0, sizeof(nt));
	if (new_id != NULL)
		*new_id = 0;
	if (next_channel == NULL || *next_channel == '\0') {
		util_seterr(err, errlen, "a fallback needs a channel");
		return STORE_INVALID;
	}
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = load_notif(st, dead_id, &nt, err, errlen);
	if (rc == STORE_OK)
		rc = fallback_tx(st, &nt, next_channel, reason, now, &id, err,
				 errlen);
	rc = store_end(st, rc, err, errlen);
	notification_clear(&nt);
	if (rc == STORE_OK && new_id != NULL)
		*new_id = id;
	return rc;
}
