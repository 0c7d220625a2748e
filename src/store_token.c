/*
 * store_token: the store's side of acting from a message — one-click
 * tokens recorded so that each is used once, notes in a promise's
 * timeline, and finding the notification an SMS reply's short code names.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

static void
col_copy(sqlite3_stmt *stmt, int idx, char *dst, size_t dstlen)
{
	const unsigned char *s = sqlite3_column_text(stmt, idx);

	util_strlcpy(dst, s != NULL ? (const char *)s : "", dstlen);
}

int
store_token_add(struct store *st, const struct store_token *t, char *err,
		size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = store_prepare(st, "INSERT OR IGNORE INTO tokens (id, promise_id,"
			   " action, recipient, created_at, expires_at)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &stmt, err,
			   errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, t->id);
	sqlite3_bind_int64(stmt, 2, t->promise_id);
	store_bind_text(stmt, 3, t->action);
	store_bind_text(stmt, 4, t->recipient);
	sqlite3_bind_int64(stmt, 5, t->created_at);
	sqlite3_bind_int64(stmt, 6, t->expires_at);
	rc = store_step_done(st, stmt, "recording a token", err, errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

static int
token_read(struct store *st, const char *id, struct store_token *out,
	   char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	memset(out, 0, sizeof(*out));
	rc = store_prepare(st, "SELECT id, promise_id, action, recipient,"
			   " created_at, expires_at, used_at, result"
			   " FROM tokens WHERE id = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, id);
	src = sqlite3_step(stmt);
	if (src == SQLITE_DONE) {
		util_seterr(err, errlen, "no token %s", id);
		rc = STORE_NOTFOUND;
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = store_sqlerr(st, src, "reading a token", err, errlen);
		goto out;
	}
	col_copy(stmt, 0, out->id, sizeof(out->id));
	out->promise_id = sqlite3_column_int64(stmt, 1);
	col_copy(stmt, 2, out->action, sizeof(out->action));
	col_copy(stmt, 3, out->recipient, sizeof(out->recipient));
	out->created_at = sqlite3_column_int64(stmt, 4);
	out->expires_at = sqlite3_column_int64(stmt, 5);
	out->used_at = sqlite3_column_int64(stmt, 6);
	col_copy(stmt, 7, out->result, sizeof(out->result));
out:
	store_finalize(st, stmt);
	return rc;
}

int
store_token_get(struct store *st, const char *id, struct store_token *out,
		char *err, size_t errlen)
{
	return token_read(st, id, out, err, errlen);
}

int
store_token_use(struct store *st, const struct store_token *t, int64_t now,
		char *err, size_t errlen)
{
	struct store_token cur;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = store_token_add(st, t, err, errlen);
	if (rc == STORE_OK)
		rc = token_read(st, t->id, &cur, err, errlen);
	if (rc != STORE_OK)
		goto out;
	if (cur.used_at != 0) {
		util_seterr(err, errlen, "token %s was used already", t->id);
		rc = STORE_CONFLICT;
		goto out;
	}
	rc = store_prepare(st, "UPDATE tokens SET used_at = ?2, result = ?3"
			   " WHERE id = ?1 AND used_at = 0", &stmt, err,
			   errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, t->id);
	sqlite3_bind_int64(stmt, 2, now);
	store_bind_text(stmt, 3, t->result);
	rc = store_step_done(st, stmt, "marking a token used", err, errlen);
out:
	store_finalize(st, stmt);
	return store_end(st, rc, err, errlen);
}

int
store_note(struct store *st, int64_t promise_id, const char *actor,
	   const char *detail, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = store_prepare(st, "SELECT 1 FROM promises WHERE id = ?1", &stmt,
			   err, errlen);
	if (rc != STORE_OK)
		goto out;
	sqlite3_bind_int64(stmt, 1, promise_id);
	src = sqlite3_step(stmt);
	if (src == SQLITE_DONE) {
		util_seterr(err, errlen, "no promise %" PRId64, promise_id);
		rc = STORE_NOTFOUND;
	} else if (src != SQLITE_ROW) {
		rc = store_sqlerr(st, src, "finding a promise", err, errlen);
	}
	if (rc == STORE_OK)
		rc = store_event_add(st, promise_id, EVENT_NOTE, actor, detail,
				     0, 0, now, err, errlen);
out:
	store_finalize(st, stmt);
	return store_end(st, rc, err, errlen);
}

int
store_notification_by_code(struct store *st, const char *recipient,
			   int code, int64_t since, struct notification *out,
			   char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	memset(out, 0, sizeof(*out));
	/* The recipient index narrows this to one person's recent rows. */
	rc = store_prepare(st, "SELECT id, promise_id, step, channel,"
			   " recipient, created_at, sent_at FROM notifications"
			   " WHERE recipient = ?1 AND created_at >= ?2"
			   " AND (id % 9000) + 1000 = ?3"
			   " ORDER BY id DESC LIMIT 1", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, recipient);
	sqlite3_bind_int64(stmt, 2, since);
	sqlite3_bind_int(stmt, 3, code);
	src = sqlite3_step(stmt);
	if (src == SQLITE_DONE) {
		util_seterr(err, errlen, "no recent notification %d for %s",
			    code, recipient);
		rc = STORE_NOTFOUND;
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = store_sqlerr(st, src, "finding a notification", err,
				  errlen);
		goto out;
	}
	out->id = sqlite3_column_int64(stmt, 0);
	out->promise_id = sqlite3_column_int64(stmt, 1);
	out->step = store_col_text(stmt, 2);
	out->channel = store_col_text(stmt, 3);
	out->recipient = store_col_text(stmt, 4);
	out->created_at = sqlite3_column_int64(stmt, 5);
	out->sent_at = sqlite3_column_int64(stmt, 6);
out:
	store_finalize(st, stmt);
	return rc;
}
