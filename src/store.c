/*
 * store: the SQLite implementation of the promised store — opening and
 * migrating the database, the promise records and their state changes.
 * Every change runs in BEGIN IMMEDIATE, writes its event row and
 * recomputes next_step_at through the installed scheduler in the same
 * transaction.  The daemon's side (firing, outbox) is in store_outbox.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* "PRMD": lets open tell a promised database from any other SQLite file. */
#define STORE_APPLICATION_ID 0x50524d44
#define STORE_BUSY_DEFAULT_MS 5000

/* Numbered migrations: entry i brings the schema to version i + 1.  Only
 * ever append; a released entry never changes. */
static const char *const migrations[] = {
	/* 1: the tables of DESIGN.md §4. */
	"CREATE TABLE promises ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" ref TEXT UNIQUE,"
	" title TEXT NOT NULL,"
	" details TEXT, customer_name TEXT, customer_phone TEXT,"
	" customer_email TEXT, vehicle TEXT, vin TEXT,"
	" owner TEXT NOT NULL, team TEXT, site TEXT, policy TEXT,"
	" source TEXT, closed_by TEXT,"
	" target_at INTEGER NOT NULL DEFAULT 0,"
	" due_at INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" closed_at INTEGER NOT NULL DEFAULT 0,"
	" acked_at INTEGER NOT NULL DEFAULT 0,"
	" snoozed_until INTEGER NOT NULL DEFAULT 0,"
	" lapsed_at INTEGER NOT NULL DEFAULT 0,"
	" fired_through INTEGER NOT NULL DEFAULT 0,"
	" next_step_at INTEGER NOT NULL DEFAULT 0,"
	" renegotiations INTEGER NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL DEFAULT 'open'"
	"  CHECK (state IN ('open','acked','closed')),"
	" outcome TEXT NOT NULL DEFAULT 'none'"
	"  CHECK (outcome IN ('none','kept','late','cancelled')));"
	"CREATE INDEX promises_next_step ON promises(next_step_at);"
	/* The loop's MIN(next_step_at): one lookup in this partial index. */
	"CREATE INDEX promises_next_open ON promises(next_step_at)"
	" WHERE state <> 'closed' AND next_step_at > 0;"
	"CREATE INDEX promises_due ON promises(due_at, id);"
	"CREATE INDEX promises_owner ON promises(owner, due_at);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" promise_id INTEGER NOT NULL REFERENCES promises(id) ON DELETE CASCADE,"
	" at INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" actor TEXT NOT NULL,"
	" detail TEXT NOT NULL DEFAULT '',"
	" old_due INTEGER NOT NULL DEFAULT 0,"
	" new_due INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX events_promise ON events(promise_id, id);"
	"CREATE TABLE notifications ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" promise_id INTEGER NOT NULL REFERENCES promises(id) ON DELETE CASCADE,"
	" step TEXT NOT NULL DEFAULT '',"
	" step_index INTEGER NOT NULL DEFAULT 0,"
	" repeat INTEGER NOT NULL DEFAULT 0,"
	" channel_index INTEGER NOT NULL DEFAULT 0,"
	" channel TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" subject TEXT, body TEXT,"
	" idem_key TEXT NOT NULL UNIQUE,"
	" state TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (state IN ('pending','sending','sent','retry','dead')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" late INTEGER NOT NULL DEFAULT 0,"
	" scheduled_at INTEGER NOT NULL DEFAULT 0,"
	" next_try_at INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" sent_at INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT, provider_id TEXT);"
	"CREATE INDEX notifications_due ON notifications(state, next_try_at);"
	"CREATE INDEX notifications_promise ON notifications(promise_id, id);"
	"CREATE TABLE feeds ("
	" name TEXT PRIMARY KEY,"
	" url TEXT NOT NULL,"
	" etag TEXT, last_modified TEXT,"
	" last_ok_at INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" items INTEGER NOT NULL DEFAULT 0,"
	" added INTEGER NOT NULL DEFAULT 0,"
	" updated INTEGER NOT NULL DEFAULT 0,"
	" cancelled INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE tokens ("
	" id TEXT PRIMARY KEY,"
	" promise_id INTEGER NOT NULL REFERENCES promises(id) ON DELETE CASCADE,"
	" action TEXT NOT NULL,"
	" recipient TEXT,"
	" created_at INTEGER NOT NULL DEFAULT 0,"
	" expires_at INTEGER NOT NULL,"
	" used_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tokens_promise ON tokens(promise_id);"
	"PRAGMA application_id = 1347571012;",
	/* 2: feed sync — what the calendar said last (SEQUENCE,
	 * LAST-MODIFIED) decides whether a closed promise reopens; a feed
	 * whose last answer was refused is failing. */
	"ALTER TABLE promises ADD COLUMN feed_sequence INTEGER NOT NULL"
	" DEFAULT 0;"
	"ALTER TABLE promises ADD COLUMN feed_modified INTEGER NOT NULL"
	" DEFAULT 0;"
	"CREATE INDEX promises_source ON promises(source);"
	"ALTER TABLE feeds ADD COLUMN last_try_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE feeds ADD COLUMN failing INTEGER NOT NULL DEFAULT 0;",
	/* 3: one-click actions — what a used token did, for the page a
	 * replay shows; SMS reply codes are looked up per recipient. */
	"ALTER TABLE tokens ADD COLUMN result TEXT;"
	"CREATE INDEX notifications_recipient"
	" ON notifications(recipient, created_at);",
	/* 4: the weekly digest goes through the outbox but belongs to no
	 * promise: promise_id may be NULL.  SQLite cannot drop NOT NULL in
	 * place, so the table is rebuilt with every row and index. */
	"CREATE TABLE notifications_new ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" promise_id INTEGER REFERENCES promises(id) ON DELETE CASCADE,"
	" step TEXT NOT NULL DEFAULT '',"
	" step_index INTEGER NOT NULL DEFAULT 0,"
	" repeat INTEGER NOT NULL DEFAULT 0,"
	" channel_index INTEGER NOT NULL DEFAULT 0,"
	" channel TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" subject TEXT, body TEXT,"
	" idem_key TEXT NOT NULL UNIQUE,"
	" state TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (state IN ('pending','sending','sent','retry','dead')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" late INTEGER NOT NULL DEFAULT 0,"
	" scheduled_at INTEGER NOT NULL DEFAULT 0,"
	" next_try_at INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" sent_at INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT, provider_id TEXT);"
	"INSERT INTO notifications_new (id, promise_id, step, step_index,"
	" repeat, channel_index, channel, recipient, subject, body, idem_key,"
	" state, attempts, late, scheduled_at, next_try_at, created_at,"
	" sent_at, last_error, provider_id)"
	" SELECT id, promise_id, step, step_index, repeat, channel_index,"
	" channel, recipient, subject, body, idem_key, state, attempts, late,"
	" scheduled_at, next_try_at, created_at, sent_at, last_error,"
	" provider_id FROM notifications;"
	"DROP TABLE notifications;"
	"ALTER TABLE notifications_new RENAME TO notifications;"
	"CREATE INDEX notifications_due ON notifications(state, next_try_at);"
	"CREATE INDEX notifications_promise ON notifications(promise_id, id);"
	"CREATE INDEX notifications_recipient"
	" ON notifications(recipient, created_at);",
	/* 5: facts about the database as a whole, e.g. which config the
	 * stored schedule was computed for. */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
	/* 6: every query of next_step_at also says "open and scheduled",
	 * which promises_next_open answers alone; the full index only cost
	 * a B-tree write per promise added or fired. */
	"DROP INDEX promises_next_step;",
};

/* Column order shared by every SELECT of a promise and by store_save. */
#define PROMISE_COLS \
	"id, ref, title, details, customer_name, customer_phone," \
	" customer_email, vehicle, vin, owner, team, site, policy, source," \
	" closed_by, target_at, due_at, created_at, updated_at, closed_at," \
	" acked_at, snoozed_until, lapsed_at, fired_through, next_step_at," \
	" renegotiations, state, outcome"

/* Text columns 1..14 and integer columns 15..24 of PROMISE_COLS. */
static const size_t promise_str_off[] = {
	offsetof(struct promise, ref), offsetof(struct promise, title),
	offsetof(struct promise, details),
	offsetof(struct promise, customer_name),
	offsetof(struct promise, customer_phone),
	offsetof(struct promise, customer_email),
	offsetof(struct promise, vehicle), offsetof(struct promise, vin),
	offsetof(struct promise, owner), offsetof(struct promise, team),
	offsetof(struct promise, site), offsetof(struct promise, policy),
	offsetof(struct promise, source), offsetof(struct promise, closed_by),
};
static const size_t promise_int_off[] = {
	offsetof(struct promise, target_at), offsetof(struct promise, due_at),
	offsetof(struct promise, created_at),
	offsetof(struct promise, updated_at),
	offsetof(struct promise, closed_at), offsetof(struct promise, acked_at),
	offsetof(struct promise, snoozed_until),
	offsetof(struct promise, lapsed_at),
	offsetof(struct promise, fired_through),
	offsetof(struct promise, next_step_at),
};
#define COL_FIRST_INT (1 + (int)NELEM(promise_str_off))
#define COL_RENEG (COL_FIRST_INT + (int)NELEM(promise_int_off))
#define COL_STATE (COL_RENEG + 1)
#define COL_OUTCOME (COL_RENEG + 2)

static char **
str_field(struct promise *p, size_t off)
{
	return (char **)(void *)((char *)p + off);
}

static const char *
cstr_field(const struct promise *p, size_t off)
{
	return *(char *const *)(const void *)((const char *)p + off);
}

static int64_t *
int_field(struct promise *p, size_t off)
{
	return (int64_t *)(void *)((char *)p + off);
}

/* ---- Errors, statements, transactions ------------------------------ */

int
store_sqlerr(struct store *st, int src, const char *what, char *err,
	     size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	const char *path = st != NULL ? st->path : "?";
	const char *msg = st != NULL && st->db != NULL ?
			  sqlite3_errmsg(st->db) : sqlite3_errstr(src);
	int sys = st != NULL && st->db != NULL ?
		  sqlite3_system_errno(st->db) : 0;

	switch (src & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		util_seterr(err, errlen,
			    "database %s stayed locked for more than %d ms "
			    "while %s", path, st != NULL ? st->busy_ms : 0,
			    what);
		return STORE_BUSY;
	case SQLITE_READONLY:
		util_seterr(err, errlen, "database %s is read-only (%s) "
			    "while %s", path, msg, what);
		return STORE_READONLY;
	case SQLITE_NOTADB:
		util_seterr(err, errlen, "%s is not a promised database (%s)",
			    path, msg);
		return STORE_ERR;
	default:
		break;
	}
	/* An I/O error names its cause: "disk I/O error" alone does not
	 * tell a read-only file system (the kernel remounts one read-only
	 * after an error) from a failing disk.  errno may be gone by now;
	 * the file itself says whether it can still be written. */
	if ((src & 0xff) == SQLITE_IOERR && st != NULL &&
	    access(st->path, W_OK) != 0 && (errno == EROFS || errno == EACCES)) {
		util_seterr(err, errlen, "database %s is read-only (%s) while "
			    "%s", path,
			    util_strerror(errno, ebuf, sizeof(ebuf)), what);
		return STORE_READONLY;
	}
	if (sys != 0 && ((src & 0xff) == SQLITE_IOERR ||
			 (src & 0xff) == SQLITE_FULL ||
			 (src & 0xff) == SQLITE_CANTOPEN)) {
		util_seterr(err, errlen, "database %s: %s (%s) while %s", path,
			    msg, util_strerror(sys, ebuf, sizeof(ebuf)), what);
		return sys == EROFS ? STORE_READONLY : STORE_ERR;
	}
	util_seterr(err, errlen, "database %s: %s while %s", path, msg, what);
	return STORE_ERR;
}

/* FNV-1a of a statement's text, to find its slot. */
static uint32_t
sql_hash(const char *sql)
{
	uint32_t h = 2166136261u;

	for (; *sql != '\0'; sql++)
		h = (h ^ (unsigned char)*sql) * 16777619u;
	return h;
}

/* The free kept statement of sql, or NULL; *spare is then a slot to
 * keep it in: an empty one, else the next statement not in use (taken
 * in turn, so texts built at run time cannot crowd out the rest), else
 * NULL when every slot is in use. */
static struct store_stmt_slot *
cache_find(struct store *st, const char *sql, uint32_t h,
	   struct store_stmt_slot **spare)
{
	struct store_stmt_slot *c, *empty = NULL;
	size_t i;

	for (i = 0; i < STORE_STMT_CACHE; i++) {
		c = &st->cache[i];
		if (c->sql == NULL) {
			if (empty == NULL)
				empty = c;
		} else if (c->hash == h && !c->busy && strcmp(c->sql, sql) == 0) {
			return c;
		}
	}
	*spare = empty;
	for (i = 0; *spare == NULL && i < STORE_STMT_CACHE; i++) {
		c = &st->cache[(st->cache_next + i) % STORE_STMT_CACHE];
		if (!c->busy)
			*spare = c;
	}
	if (empty == NULL && *spare != NULL) {
		st->cache_next = (size_t)(*spare - st->cache + 1) %
				 STORE_STMT_CACHE;
		sqlite3_finalize((*spare)->stmt);
		free((*spare)->sql);
		memset(*spare, 0, sizeof(**spare));
	}
	return NULL;
}

/* The free kept statement made from this very text, found without
 * hashing it: the texts are nearly always string constants, so the same
 * address comes back.  The text is still compared, as a buffer may be
 * reused for another statement. */
static struct store_stmt_slot *
cache_find_same(struct store *st, const char *sql)
{
	struct store_stmt_slot *c;
	size_t i;

	for (i = 0; i < STORE_STMT_CACHE; i++) {
		c = &st->cache[i];
		if (c->from == sql && c->sql != NULL && !c->busy &&
		    strcmp(c->sql, sql) == 0)
			return c;
	}
	return NULL;
}

int
store_prepare(struct store *st, const char *sql, sqlite3_stmt **out,
	      char *err, size_t errlen)
{
	struct store_stmt_slot *spare = NULL, *c = cache_find_same(st, sql);
	uint32_t h = 0;
	int src;

	if (c == NULL) {
		h = sql_hash(sql);
		c = cache_find(st, sql, h, &spare);
	}
	if (c != NULL) {
		c->from = sql;
		c->busy = 1;
		*out = c->stmt;
		return STORE_OK;
	}
	src = sqlite3_prepare_v3(st->db, sql, -1,
				 spare != NULL ? SQLITE_PREPARE_PERSISTENT : 0,
				 out, NULL);
	if (src != SQLITE_OK) {
		*out = NULL;
		return store_sqlerr(st, src, "preparing a statement", err,
				    errlen);
	}
	/* With every slot in use (a second user of one text, say) the
	 * statement is its own, finalized after use. */
	if (spare != NULL) {
		spare->sql = xstrdup(sql);
		spare->from = sql;
		spare->hash = h;
		spare->busy = 1;
		spare->stmt = *out;
	}
	return STORE_OK;
}

void
store_finalize(struct store *st, sqlite3_stmt *stmt)
{
	size_t i;

	if (stmt == NULL)
		return;
	for (i = 0; i < STORE_STMT_CACHE; i++) {
		if (st->cache[i].stmt == stmt && st->cache[i].sql != NULL) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			st->cache[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(stmt);
}

int
store_exec(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	char err[16];
	int src;

	if (store_prepare(st, sql, &stmt, err, sizeof(err)) != STORE_OK)
		return sqlite3_errcode(st->db);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	store_finalize(st, stmt);
	return src == SQLITE_DONE ? SQLITE_OK : src;
}

/* Finalizes every kept statement, before closing. */
static void
cache_clear(struct store *st)
{
	size_t i;

	for (i = 0; i < STORE_STMT_CACHE; i++) {
		sqlite3_finalize(st->cache[i].stmt);
		free(st->cache[i].sql);
		memset(&st->cache[i], 0, sizeof(st->cache[i]));
	}
}

int
store_one_int(struct store *st, const char *sql, const char *param,
	      int64_t *out, const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = store_prepare(st, sql, &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	if (param)
		store_bind_text(stmt, 1, param);
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		if (sqlite3_column_type(stmt, 0) != SQLITE_NULL)
			*out = sqlite3_column_int64(stmt, 0);
	} else if (src != SQLITE_DONE) {
		rc = store_sqlerr(st, src, what, err, errlen);
	}
out:
	store_finalize(st, stmt);
	return rc;
}

int
store_begin(struct store *st, char *err, size_t errlen)
{
	int src = store_exec(st, st->in_batch ? "SAVEPOINT change" :
			     "BEGIN IMMEDIATE");

	if (src != SQLITE_OK)
		return store_sqlerr(st, src, "starting a write", err, errlen);
	return STORE_OK;
}

/* The end of one change inside a batch: kept, or undone alone. */
static int
end_savepoint(struct store *st, int rc, char *err, size_t errlen)
{
	int src;

	if (rc == STORE_OK) {
		src = store_exec(st, "RELEASE change");
		if (src == SQLITE_OK)
			return STORE_OK;
		rc = store_sqlerr(st, src, "keeping a change", err, errlen);
	}
	(void)sqlite3_exec(st->db, "ROLLBACK TO change; RELEASE change", NULL,
			   NULL, NULL);
	return rc;
}

int
store_end(struct store *st, int rc, char *err, size_t errlen)
{
	int src;

	if (st->in_batch)
		return end_savepoint(st, rc, err, errlen);
	if (rc == STORE_OK) {
		src = store_exec(st, "COMMIT");
		if (src == SQLITE_OK)
			return STORE_OK;
		rc = store_sqlerr(st, src, "committing", err, errlen);
	}
	if (!sqlite3_get_autocommit(st->db))
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
store_batch_begin(struct store *st, char *err, size_t errlen)
{
	int rc;

	if (st->in_batch) {
		util_seterr(err, errlen, "a batch is already open");
		return STORE_ERR;
	}
	rc = store_begin(st, err, errlen);
	if (rc == STORE_OK)
		st->in_batch = 1;
	return rc;
}

int
store_batch_end(struct store *st, int rc, char *err, size_t errlen)
{
	if (!st->in_batch) {
		util_seterr(err, errlen, "no batch is open");
		return STORE_ERR;
	}
	st->in_batch = 0;
	return store_end(st, rc, err, errlen);
}

int
store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
}

char *
store_col_text(sqlite3_stmt *stmt, int idx)
{
	const unsigned char *s = sqlite3_column_text(stmt, idx);

	if (s == NULL)
		return NULL;
	return xstrndup((const char *)s,
			(size_t)sqlite3_column_bytes(stmt, idx));
}

enum promise_state
store_col_state(sqlite3_stmt *stmt, int idx)
{
	const char *s = (const char *)sqlite3_column_text(stmt, idx);
	enum promise_state v;

	if (s == NULL || promise_state_parse(s, &v) == -1)
		return PROMISE_OPEN;
	return v;
}

enum promise_outcome
store_col_outcome(sqlite3_stmt *stmt, int idx)
{
	const char *s = (const char *)sqlite3_column_text(stmt, idx);
	enum promise_outcome v;

	if (s == NULL || promise_outcome_parse(s, &v) == -1)
		return OUTCOME_NONE;
	return v;
}

/* ---- Opening and migrating ----------------------------------------- */

static int
busy_timeout_ms(void)
{
	const char *env = util_getenv("PROMISED_BUSY_TIMEOUT_MS");
	int64_t v;

	if (env != NULL && util_parse_int64(env, 0, 3600000, &v) == 0)
		return (int)v;
	return STORE_BUSY_DEFAULT_MS;
}

static int
wal_exists(const char *path)
{
	char *wal = xasprintf("%s-wal", path);
	int ok = access(wal, W_OK) == 0;

	free(wal);
	return ok;
}

/* Checks before sqlite3 does, so the message names the file or folder
 * that is read-only instead of sqlite's "unable to open". */
static int
check_path(const char *path, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	char *dir = xstrdup(path), *slash;
	int rc = STORE_OK;

	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		util_strlcpy(dir, ".", strlen(dir) + 1);
	if (access(path, F_OK) == 0) {
		if (access(path, R_OK | W_OK) != 0) {
			util_seterr(err, errlen, "database %s is read-only "
				    "(%s)", path, util_strerror(errno, ebuf,
								sizeof(ebuf)));
			rc = errno == EACCES || errno == EROFS ?
			     STORE_READONLY : STORE_ERR;
		} else if (access(dir, W_OK) != 0 && !wal_exists(path)) {
			/* WAL mode creates <db>-wal and <db>-shm beside it. */
			util_seterr(err, errlen, "database %s cannot be "
				    "written: folder %s is read-only (%s)",
				    path, dir, util_strerror(errno, ebuf,
							     sizeof(ebuf)));
			rc = STORE_READONLY;
		}
	} else if (errno != ENOENT) {
		util_seterr(err, errlen, "cannot open database %s: %s", path,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		rc = STORE_ERR;
	} else if (access(dir, F_OK) != 0) {
		util_seterr(err, errlen, "cannot create database %s: folder "
			    "%s: %s", path, dir, util_strerror(errno, ebuf,
							       sizeof(ebuf)));
		rc = STORE_ERR;
	} else if (access(dir, W_OK) != 0) {
		util_seterr(err, errlen, "cannot create database %s: folder "
			    "%s is read-only (%s)", path, dir,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		rc = STORE_READONLY;
	}
	free(dir);
	return rc;
}

static int
pragma_int(struct store *st, const char *sql, int *out, char *err,
	   size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	rc = store_prepare(st, sql, &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	else
		rc = store_sqlerr(st, src, "reading the schema version", err,
				  errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

/* A database we did not create: some other program's SQLite file. */
static int
check_foreign(struct store *st, int version, char *err, size_t errlen)
{
	int appid = 0, ntables = 0, rc;

	rc = pragma_int(st, "PRAGMA application_id", &appid, err, errlen);
	if (rc == STORE_OK)
		rc = pragma_int(st, "SELECT count(*) FROM sqlite_master",
				&ntables, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if ((version == 0 && ntables > 0) ||
	    (version > 0 && appid != STORE_APPLICATION_ID)) {
		util_seterr(err, errlen, "%s is not a promised database "
			    "(another program's SQLite file)", st->path);
		return STORE_ERR;
	}
	if (version > (int)NELEM(migrations)) {
		util_seterr(err, errlen, "database %s has schema version %d, "
			    "newer than this program knows (%d); upgrade "
			    "promised", st->path, version,
			    (int)NELEM(migrations));
		return STORE_ERR;
	}
	return STORE_OK;
}

static int
migrate(struct store *st, char *err, size_t errlen)
{
	char sql[64];
	int rc, src, version = 0;

	rc = pragma_int(st, "PRAGMA user_version", &version, err, errlen);
	if (rc == STORE_OK)
		rc = check_foreign(st, version, err, errlen);
	if (rc != STORE_OK || version == (int)NELEM(migrations))
		return rc;
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	/* Another process may have migrated while we waited for the lock. */
	rc = pragma_int(st, "PRAGMA user_version", &version, err, errlen);
	if (rc == STORE_OK)
		rc = check_foreign(st, version, err, errlen);
	for (; rc == STORE_OK && version < (int)NELEM(migrations); version++) {
		src = sqlite3_exec(st->db, migrations[version], NULL, NULL,
				   NULL);
		if (src == SQLITE_OK) {
			/* PRAGMA takes no parameters; the number is ours. */
			(void)snprintf(sql, sizeof(sql),
				       "PRAGMA user_version = %d",
				       version + 1);
			src = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		}
		if (src != SQLITE_OK)
			rc = store_sqlerr(st, src, "migrating the schema",
					  err, errlen);
	}
	return store_end(st, rc, err, errlen);
}

/* Checkpoints: SQLite's own copies the WAL into the database whenever a
 * commit leaves 1,000 pages in it, in the middle of a burst of
 * deliveries (a twentieth of its time).  The daemon checkpoints when it
 * is idle instead (store_idle); this hook only keeps the WAL bounded
 * when the daemon never is, and for promisectl. */
#define STORE_WAL_MAX_PAGES 4000
#define STORE_WAL_IDLE_PAGES 1000

static int
wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
	struct store *st = ctx;

	st->wal_pages = pages;
	if (pages >= STORE_WAL_MAX_PAGES &&
	    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
				      NULL, NULL) == SQLITE_OK)
		st->wal_pages = 0;
	return SQLITE_OK;
}

void
store_idle(struct store *st)
{
	if (st == NULL || st->wal_pages < STORE_WAL_IDLE_PAGES)
		return;
	/* PASSIVE: a reader (promisectl) is never waited for. */
	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
				      NULL, NULL) == SQLITE_OK)
		st->wal_pages = 0;
}

static int
configure(struct store *st, char *err, size_t errlen)
{
	static const char *const pragmas[] = {
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = FULL",
		"PRAGMA foreign_keys = ON",
		/* Each change of a batch is a savepoint, whose undo pages
		 * (the sub-journal) are temporary: in a file they cost a
		 * write per page per change, a third of a burst's time. */
		"PRAGMA temp_store = MEMORY",
		/* A WAL grown by a burst shrinks back to 4 MiB when reused. */
		"PRAGMA journal_size_limit = 4194304",
	};
	size_t i;
	int src;

	sqlite3_busy_timeout(st->db, st->busy_ms);
	sqlite3_extended_result_codes(st->db, 1);
	for (i = 0; i < NELEM(pragmas); i++) {
		src = sqlite3_exec(st->db, pragmas[i], NULL, NULL, NULL);
		if (src != SQLITE_OK)
			return store_sqlerr(st, src, "opening", err, errlen);
	}
	/* Replaces SQLite's automatic checkpoint (see wal_hook). */
	sqlite3_wal_hook(st->db, wal_hook, st);
	return STORE_OK;
}

struct store *
store_open(const char *path, int *rc, char *err, size_t errlen)
{
	struct store *st = NULL;
	int r, src;

	if (path == NULL || *path == '\0') {
		util_seterr(err, errlen, "no database path given");
		r = STORE_ERR;
		goto out;
	}
	r = check_path(path, err, errlen);
	if (r != STORE_OK)
		goto out;
	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->busy_ms = busy_timeout_ms();
	src = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			      SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		r = store_sqlerr(st, src, "opening", err, errlen);
		goto out;
	}
	r = configure(st, err, errlen);
	if (r == STORE_OK)
		r = migrate(st, err, errlen);
out:
	if (r != STORE_OK) {
		store_close(st);
		st = NULL;
	}
	if (rc != NULL)
		*rc = r;
	return st;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	cache_clear(st);
	sqlite3_close_v2(st->db);
	free(st->path);
	free(st);
}

int
store_schema_version(struct store *st)
{
	int v = -1;

	if (pragma_int(st, "PRAGMA user_version", &v, NULL, 0) != STORE_OK)
		return -1;
	return v;
}

void
store_set_next_fn(struct store *st, store_next_fn fn, void *ctx)
{
	st->next_fn = fn;
	st->next_ctx = ctx;
}

const char *
store_path(const struct store *st)
{
	return st->path;
}

const char *
store_lib_version(void)
{
	return sqlite3_libversion();
}

int
store_integrity_check(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	const char *res;
	int rc, src;

	rc = store_prepare(st, "PRAGMA integrity_check", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	src = sqlite3_step(stmt);
	if (src != SQLITE_ROW) {
		rc = store_sqlerr(st, src, "checking integrity", err, errlen);
		goto out;
	}
	res = (const char *)sqlite3_column_text(stmt, 0);
	if (res == NULL || strcmp(res, "ok") != 0) {
		util_seterr(err, errlen, "database %s fails its integrity "
			    "check: %s", st->path, res != NULL ? res : "?");
		rc = STORE_ERR;
	}
out:
	store_finalize(st, stmt);
	return rc;
}

/* ---- Promise rows --------------------------------------------------- */

static void
read_promise(sqlite3_stmt *stmt, struct promise *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(stmt, 0);
	for (i = 0; i < NELEM(promise_str_off); i++)
		*str_field(p, promise_str_off[i]) =
			store_col_text(stmt, 1 + (int)i);
	for (i = 0; i < NELEM(promise_int_off); i++)
		*int_field(p, promise_int_off[i]) =
			sqlite3_column_int64(stmt, COL_FIRST_INT + (int)i);
	p->renegotiations = sqlite3_column_int(stmt, COL_RENEG);
	p->state = store_col_state(stmt, COL_STATE);
	p->outcome = store_col_outcome(stmt, COL_OUTCOME);
}

/* Runs a one-row promise SELECT whose ?1 is bound by the caller. */
static int
fetch_promise(struct store *st, sqlite3_stmt *stmt, struct promise *out,
	      const char *what, char *err, size_t errlen)
{
	int src = sqlite3_step(stmt);

	if (src == SQLITE_ROW) {
		read_promise(stmt, out);
		return STORE_OK;
	}
	if (src == SQLITE_DONE) {
		util_seterr(err, errlen, "no promise %s", what);
		return STORE_NOTFOUND;
	}
	return store_sqlerr(st, src, "reading a promise", err, errlen);
}

int
store_load(struct store *st, int64_t id, struct promise *out, char *err,
	   size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	char what[32];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_prepare(st, "SELECT " PROMISE_COLS
			   " FROM promises WHERE id = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	(void)snprintf(what, sizeof(what), "%" PRId64, id);
	rc = fetch_promise(st, stmt, out, what, err, errlen);
	store_finalize(st, stmt);
	return rc;
}

/* Binds the columns 2.. of PROMISE_COLS (everything but id). */
static void
bind_promise(sqlite3_stmt *stmt, const struct promise *p)
{
	size_t i;
	int col = 2;

	for (i = 0; i < NELEM(promise_str_off); i++)
		store_bind_text(stmt, col++, cstr_field(p, promise_str_off[i]));
	for (i = 0; i < NELEM(promise_int_off); i++)
		sqlite3_bind_int64(stmt, col++, *(const int64_t *)(const void *)
				   ((const char *)p + promise_int_off[i]));
	sqlite3_bind_int(stmt, col++, p->renegotiations);
	store_bind_text(stmt, col++, promise_state_name(p->state));
	store_bind_text(stmt, col, promise_outcome_name(p->outcome));
}

int
store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what,
		char *err, size_t errlen)
{
	int src = sqlite3_step(stmt);

	if (src != SQLITE_DONE)
		return store_sqlerr(st, src, what, err, errlen);
	return STORE_OK;
}

int
store_save(struct store *st, const struct promise *p, char *err,
	   size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = store_prepare(st,
		"UPDATE promises SET ref = ?2, title = ?3,"
		" details = ?4, customer_name = ?5, customer_phone = ?6,"
		" customer_email = ?7, vehicle = ?8, vin = ?9, owner = ?10,"
		" team = ?11, site = ?12, policy = ?13, source = ?14,"
		" closed_by = ?15, target_at = ?16, due_at = ?17,"
		" created_at = ?18, updated_at = ?19, closed_at = ?20,"
		" acked_at = ?21, snoozed_until = ?22, lapsed_at = ?23,"
		" fired_through = ?24, next_step_at = ?25,"
		" renegotiations = ?26, state = ?27, outcome = ?28"
		" WHERE id = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, p->id);
	bind_promise(stmt, p);
	rc = store_step_done(st, stmt, "updating a promise", err, errlen);
	store_finalize(st, stmt);
	return rc;
}

static int64_t
default_next(const struct promise *p)
{
	if (p->state != PROMISE_CLOSED && p->due_at > p->fired_through)
		return p->due_at;
	return 0;
}

int64_t
store_next_of(struct store *st, const struct promise *p, int64_t now)
{
	int64_t next;

	if (st->next_fn == NULL)
		return default_next(p);
	next = st->next_fn(st->next_ctx, p, now);
	return next > 0 ? next : 0;
}

int
store_event_add(struct store *st, int64_t promise_id, enum event_kind kind,
		const char *actor, const char *detail, int64_t old_due,
		int64_t new_due, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_prepare(st, "INSERT INTO events"
			   " (promise_id, at, kind, actor, detail, old_due,"
			   " new_due) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			   &stmt, err, errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, promise_id);
	sqlite3_bind_int64(stmt, 2, now);
	/* Not copied (SQLITE_STATIC): the texts outlive the step, and the
	 * statement is reset right after it. */
	sqlite3_bind_text(stmt, 3, event_kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, actor != NULL && *actor != '\0' ? actor :
			  "system", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, detail != NULL ? detail : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, old_due);
	sqlite3_bind_int64(stmt, 7, new_due);
	rc = store_step_done(st, stmt, "writing an event", err, errlen);
	store_finalize(st, stmt);
	return rc;
}

/* ---- Adding --------------------------------------------------------- */

struct field_rule {
	const char *name;
	size_t off;
	size_t max;
	int required;
};

static const struct field_rule field_rules[] = {
	{ "ref", offsetof(struct promise, ref), 256, 0 },
	{ "title", offsetof(struct promise, title), 1000, 1 },
	{ "details", offsetof(struct promise, details), 65536, 0 },
	{ "customer_name", offsetof(struct promise, customer_name), 256, 0 },
	{ "customer_phone", offsetof(struct promise, customer_phone), 256, 0 },
	{ "customer_email", offsetof(struct promise, customer_email), 256, 0 },
	{ "vehicle", offsetof(struct promise, vehicle), 256, 0 },
	{ "vin", offsetof(struct promise, vin), 256, 0 },
	{ "owner", offsetof(struct promise, owner), 256, 1 },
	{ "team", offsetof(struct promise, team), 256, 0 },
	{ "site", offsetof(struct promise, site), 256, 0 },
	{ "policy", offsetof(struct promise, policy), 256, 0 },
	{ "source", offsetof(struct promise, source), 256, 0 },
};

/* Length and encoding of one text value; name is the field for err. */
static int
check_text(const char *name, const char *s, size_t max, int required,
	   char *err, size_t errlen)
{
	size_t len;

	if (s == NULL || *s == '\0') {
		if (!required)
			return STORE_OK;
		util_seterr(err, errlen, "%s is required", name);
		return STORE_INVALID;
	}
	len = strlen(s);
	if (len > max) {
		util_seterr(err, errlen, "%s is too long (%zu bytes; at most "
			    "%zu)", name, len, max);
		return STORE_INVALID;
	}
	if (!util_utf8_valid(s, len)) {
		util_seterr(err, errlen, "%s is not valid UTF-8", name);
		return STORE_INVALID;
	}
	return STORE_OK;
}

static int
validate(const struct promise *p, char *err, size_t errlen)
{
	char verr[128];
	size_t i;
	int rc;

	for (i = 0; i < NELEM(field_rules); i++) {
		const struct field_rule *r = &field_rules[i];

		rc = check_text(r->name, cstr_field(p, r->off), r->max,
				r->required, err, errlen);
		if (rc != STORE_OK)
			return rc;
	}
	if (p->due_at <= 0) {
		util_seterr(err, errlen, "due_at is required (a UTC time "
			    "after 1970)");
		return STORE_INVALID;
	}
	if (p->target_at < 0) {
		util_seterr(err, errlen, "target_at is invalid (negative)");
		return STORE_INVALID;
	}
	/* The check digit only warns (callers tell the user); the store
	 * keeps a VIN that is well-formed. */
	if (p->vin != NULL && *p->vin != '\0' &&
	    promise_vin_check(p->vin, NULL, verr, sizeof(verr)) == -1) {
		util_seterr(err, errlen, "vin is invalid: %s", verr);
		return STORE_INVALID;
	}
	return STORE_OK;
}

static int
find_ref(struct store *st, const char *ref, int64_t *id, char *err,
	 size_t errlen)
{
	*id = 0;
	return store_one_int(st, "SELECT id FROM promises WHERE ref = ?1", ref,
			     id, "looking up a ref", err, errlen);
}

static int
insert_promise(struct store *st, struct promise *row, char *err,
	       size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = store_prepare(st, "INSERT INTO promises (" PROMISE_COLS ")"
			   " VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
			   " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
			   " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27,"
			   " ?28)", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	bind_promise(stmt, row);
	rc = store_step_done(st, stmt, "adding a promise", err, errlen);
	if (rc == STORE_OK)
		row->id = sqlite3_last_insert_rowid(st->db);
out:
	store_finalize(st, stmt);
	return rc;
}

/* Inside the transaction: duplicate check, insert, ref, event. */
static int
add_tx(struct store *st, struct promise *p, struct promise *row,
       const char *actor, int64_t now, char *err, size_t errlen)
{
	char due[32], target[32];
	char *detail = NULL;
	int64_t other;
	int rc;

	if (row->ref != NULL && *row->ref != '\0') {
		rc = find_ref(st, row->ref, &other, err, errlen);
		if (rc == STORE_OK && other != 0) {
			p->id = other;
			util_seterr(err, errlen, "ref %s exists already "
				    "(promise %" PRId64 ")", row->ref, other);
			rc = STORE_CONFLICT;
		}
		if (rc != STORE_OK)
			goto out;
	} else {
		row->ref = NULL;
	}
	rc = insert_promise(st, row, err, errlen);
	if (rc != STORE_OK)
		goto out;
	if (row->ref == NULL) {
		row->ref = xasprintf("promised:%" PRId64, row->id);
		rc = find_ref(st, row->ref, &other, err, errlen);
		if (rc == STORE_OK && other != 0) {
			util_seterr(err, errlen, "ref %s is taken by promise "
				    "%" PRId64, row->ref, other);
			rc = STORE_CONFLICT;
		}
	}
	row->next_step_at = store_next_of(st, row, now);
	if (rc == STORE_OK)
		rc = store_save(st, row, err, errlen);
	if (rc != STORE_OK)
		goto out;
	util_format_utc(row->due_at, due, sizeof(due));
	util_format_utc(row->target_at, target, sizeof(target));
	detail = row->target_at > 0 ?
		 xasprintf("due %s, target %s, owner %s", due, target,
			   row->owner) :
		 xasprintf("due %s, owner %s", due, row->owner);
	rc = store_event_add(st, row->id, EVENT_CREATED, actor, detail, 0,
			     row->due_at, now, err, errlen);
out:
	free(detail);
	return rc;
}

int
store_add(struct store *st, struct promise *p, const char *actor,
	  int64_t now, char *err, size_t errlen)
{
	struct promise row;
	char *genref = NULL;
	int rc;

	rc = validate(p, err, errlen);
	if (rc != STORE_OK)
		return rc;
	/* A shallow copy: the strings stay the caller's; only a generated
	 * ref is ours. */
	row = *p;
	row.id = 0;
	row.created_at = row.updated_at = now;
	row.state = PROMISE_OPEN;
	row.outcome = OUTCOME_NONE;
	row.closed_at = row.acked_at = row.lapsed_at = 0;
	row.fired_through = row.snoozed_until = 0;
	row.renegotiations = 0;
	row.closed_by = NULL;
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = add_tx(st, p, &row, actor, now, err, errlen);
	if (row.ref != p->ref)
		genref = row.ref;
	rc = store_end(st, rc, err, errlen);
	if (rc == STORE_OK) {
		p->id = row.id;
		p->created_at = p->updated_at = now;
		p->state = PROMISE_OPEN;
		p->outcome = OUTCOME_NONE;
		p->next_step_at = row.next_step_at;
	}
	free(genref);
	return rc;
}

int
store_get(struct store *st, int64_t id, struct promise *out, char *err,
	  size_t errlen)
{
	return store_load(st, id, out, err, errlen);
}

/* Reads every row of stmt (PROMISE_COLS) into an owned array; STORE_OK,
 * or the error of reading them (what says what was read; nothing is
 * returned then). */
static int
collect_promises(struct store *st, sqlite3_stmt *stmt, const char *what,
		 struct promise **out, size_t *n, char *err, size_t errlen)
{
	struct promise *arr = NULL;
	size_t cnt = 0, cap = 0;
	int src;

	*out = NULL;
	*n = 0;
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			arr = xreallocarray(arr, cap, sizeof(*arr));
		}
		read_promise(stmt, &arr[cnt++]);
	}
	if (src != SQLITE_DONE) {
		promise_free_array(arr, cnt);
		return store_sqlerr(st, src, what, err, errlen);
	}
	*out = arr;
	*n = cnt;
	return STORE_OK;
}

int
store_due_loaded(struct store *st, int64_t now, size_t limit,
		 struct promise **out, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	rc = store_prepare(st, "SELECT " PROMISE_COLS " FROM promises"
			   " WHERE state <> 'closed' AND next_step_at > 0"
			   " AND next_step_at <= ?1"
			   " ORDER BY next_step_at, id LIMIT ?2", &stmt, err,
			   errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, now);
	sqlite3_bind_int64(stmt, 2, limit == 0 || limit > INT64_MAX ? -1 :
			   (int64_t)limit);
	rc = collect_promises(st, stmt, "reading due promises", out, n, err,
			      errlen);
	store_finalize(st, stmt);
	return rc;
}

int
store_get_by_ref(struct store *st, const char *ref, struct promise *out,
		 char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	char what[300];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_prepare(st, "SELECT " PROMISE_COLS
			   " FROM promises WHERE ref = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, ref != NULL ? ref : "");
	(void)snprintf(what, sizeof(what), "with ref %s",
		       ref != NULL ? ref : "");
	rc = fetch_promise(st, stmt, out, what, err, errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

/* ---- Listing -------------------------------------------------------- */

static void
bind_filter(sqlite3_stmt *stmt, const struct store_filter *f)
{
	sqlite3_bind_int(stmt, 1, f->open_only != 0);
	sqlite3_bind_int(stmt, 2, f->overdue != 0);
	sqlite3_bind_int64(stmt, 3, f->now);
	sqlite3_bind_int64(stmt, 4, f->due_from);
	sqlite3_bind_int64(stmt, 5, f->due_to);
	store_bind_text(stmt, 6, f->owner);
	store_bind_text(stmt, 7, f->team);
	store_bind_text(stmt, 8, f->site);
	sqlite3_bind_int64(stmt, 9, f->limit == 0 || f->limit > INT64_MAX ?
			   -1 : (int64_t)f->limit);
}

int
store_list(struct store *st, const struct store_filter *f,
	   struct promise **out, size_t *n, char *err, size_t errlen)
{
	static const struct store_filter none;
	sqlite3_stmt *stmt = NULL;
	int rc;

	*out = NULL;
	*n = 0;

	rc = store_prepare(st, "SELECT " PROMISE_COLS " FROM promises WHERE"
		" (?1 = 0 OR state <> 'closed')"
		" AND (?2 = 0 OR (state <> 'closed' AND due_at < ?3))"
		" AND (?4 = 0 OR due_at >= ?4) AND (?5 = 0 OR due_at < ?5)"
		" AND (?6 IS NULL OR owner = ?6) AND (?7 IS NULL OR team = ?7)"
		" AND (?8 IS NULL OR site = ?8)"
		" ORDER BY due_at, id LIMIT ?9", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	bind_filter(stmt, f != NULL ? f : &none);
	rc = collect_promises(st, stmt, "listing promises", out, n, err,
			      errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

int
store_events(struct store *st, int64_t id, struct event **out, size_t *n,
	     char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	struct event *arr = NULL, *e;
	struct promise p;
	size_t cnt = 0, cap = 0;
	int rc, src;

	rc = store_load(st, id, &p, err, errlen);
	promise_clear(&p);
	if (rc == STORE_OK)
		rc = store_prepare(st, "SELECT id, promise_id, at, kind, actor,"
				   " detail, old_due, new_due FROM events"
				   " WHERE promise_id = ?1 ORDER BY id",
				   &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	sqlite3_bind_int64(stmt, 1, id);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			arr = xreallocarray(arr, cap, sizeof(*arr));
		}
		e = &arr[cnt++];
		memset(e, 0, sizeof(*e));
		e->id = sqlite3_column_int64(stmt, 0);
		e->promise_id = sqlite3_column_int64(stmt, 1);
		e->at = sqlite3_column_int64(stmt, 2);
		if (event_kind_parse((const char *)sqlite3_column_text(stmt, 3),
				     &e->kind) == -1)
			e->kind = EVENT_NOTE;
		e->actor = store_col_text(stmt, 4);
		e->detail = store_col_text(stmt, 5);
		e->old_due = sqlite3_column_int64(stmt, 6);
		e->new_due = sqlite3_column_int64(stmt, 7);
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "reading events", err, errlen);
out:
	store_finalize(st, stmt);
	if (rc != STORE_OK) {
		event_free_array(arr, cnt);
		arr = NULL;
		cnt = 0;
	}
	*out = arr;
	*n = cnt;
	return rc;
}

/* ---- State changes -------------------------------------------------- */

/* What a change asks for and the event it leaves behind. */
struct change {
	const char *actor;
	const char *text;            /* note, reason, new owner */
	const char *team;
	int64_t when;                /* until, new due */
	enum promise_outcome outcome;
	/* filled in by the apply function */
	enum event_kind kind;
	char *detail;                /* owned */
	int64_t old_due, new_due;
};

typedef int (*apply_fn)(struct promise *p, struct change *c, int64_t now,
			char *err, size_t errlen);

static int
not_closed(const struct promise *p, const char *what, char *err,
	   size_t errlen)
{
	if (p->state != PROMISE_CLOSED)
		return STORE_OK;
	util_seterr(err, errlen, "promise %" PRId64 " is closed; cannot %s "
		    "it (reopen it first)", p->id, what);
	return STORE_CONFLICT;
}

/* Load, apply, recompute next_step_at, save and log: one transaction. */
static int
change_promise(struct store *st, int64_t id, apply_fn apply,
	       struct change *c, int64_t now, char *err, size_t errlen)
{
	struct promise p;
	int rc;

	memset(&p, 0, sizeof(p));
	rc = store_begin(st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = store_load(st, id, &p, err, errlen);
	if (rc != STORE_OK)
		goto out;
	rc = apply(&p, c, now, err, errlen);
	if (rc != STORE_OK)
		goto out;
	p.updated_at = now;
	p.next_step_at = store_next_of(st, &p, now);
	rc = store_save(st, &p, err, errlen);
	if (rc == STORE_OK)
		rc = store_event_add(st, id, c->kind, c->actor, c->detail,
				     c->old_due, c->new_due, now, err, errlen);
out:
	rc = store_end(st, rc, err, errlen);
	promise_clear(&p);
	free(c->detail);
	c->detail = NULL;
	return rc;
}

static int
apply_close(struct promise *p, struct change *c, int64_t now, char *err,
	    size_t errlen)
{
	enum promise_outcome o = c->outcome;
	int rc = not_closed(p, "close", err, errlen);

	if (rc != STORE_OK)
		return rc;
	if (o == OUTCOME_KEPT && now > p->due_at)
		o = OUTCOME_LATE;
	p->state = PROMISE_CLOSED;
	p->outcome = o;
	p->closed_at = now;
	free(p->closed_by);
	p->closed_by = xstrdup(c->actor != NULL ? c->actor : "system");
	c->kind = EVENT_CLOSED;
	c->detail = c->text != NULL && *c->text != '\0' ?
		    xasprintf("%s: %s", promise_outcome_name(o), c->text) :
		    xstrdup(promise_outcome_name(o));
	return STORE_OK;
}

int
store_close_promise(struct store *st, int64_t id,
		    enum promise_outcome outcome, const char *actor,
		    const char *note, int64_t now, char *err, size_t errlen)
{
	struct change c = { .actor = actor, .text = note,
			    .outcome = outcome };
	int rc;

	if (outcome != OUTCOME_KEPT && outcome != OUTCOME_CANCELLED) {
		util_seterr(err, errlen, "outcome must be kept or cancelled");
		return STORE_INVALID;
	}
	rc = check_text("note", note, 65536, 0, err, errlen);
	if (rc != STORE_OK)
		return rc;
	return change_promise(st, id, apply_close, &c, now, err, errlen);
}

static int
apply_ack(struct promise *p, struct change *c, int64_t now, char *err,
	  size_t errlen)
{
	int rc = not_closed(p, "ack", err, errlen);

	if (rc != STORE_OK)
		return rc;
	if (p->state == PROMISE_ACKED) {
		util_seterr(err, errlen, "promise %" PRId64 " is already acked",
			    p->id);
		return STORE_CONFLICT;
	}
	p->state = PROMISE_ACKED;
	p->acked_at = now;
	c->kind = EVENT_ACKED;
	c->detail = xasprintf("taken by %s",
			      c->actor != NULL ? c->actor : "system");
	return STORE_OK;
}

int
store_ack(struct store *st, int64_t id, const char *actor, int64_t now,
	  char *err, size_t errlen)
{
	struct change c = { .actor = actor };

	return change_promise(st, id, apply_ack, &c, now, err, errlen);
}

static int
apply_snooze(struct promise *p, struct change *c, int64_t now, char *err,
	     size_t errlen)
{
	char until[32];
	int rc = not_closed(p, "snooze", err, errlen);

	(void)now;
	if (rc != STORE_OK)
		return rc;
	p->snoozed_until = c->when;
	util_format_utc(c->when, until, sizeof(until));
	c->kind = EVENT_SNOOZED;
	c->detail = xasprintf("until %s", until);
	return STORE_OK;
}

int
store_snooze(struct store *st, int64_t id, int64_t until, const char *actor,
	     int64_t now, char *err, size_t errlen)
{
	struct change c = { .actor = actor, .when = until };

	if (until <= now) {
		util_seterr(err, errlen, "until must be in the future");
		return STORE_INVALID;
	}
	return change_promise(st, id, apply_snooze, &c, now, err, errlen);
}

static int
apply_reassign(struct promise *p, struct change *c, int64_t now, char *err,
	       size_t errlen)
{
	int rc = not_closed(p, "reassign", err, errlen);

	(void)now;
	if (rc != STORE_OK)
		return rc;
	if (p->owner != NULL && strcmp(p->owner, c->text) == 0) {
		util_seterr(err, errlen, "promise %" PRId64 " already belongs "
			    "to %s", p->id, c->text);
		return STORE_CONFLICT;
	}
	c->kind = EVENT_REASSIGNED;
	c->detail = c->team != NULL ?
		    xasprintf("%s -> %s (team %s)", p->owner, c->text, c->team) :
		    xasprintf("%s -> %s", p->owner, c->text);
	free(p->owner);
	p->owner = xstrdup(c->text);
	if (c->team != NULL) {
		free(p->team);
		p->team = xstrdup(c->team);
	}
	/* The new owner has not taken it yet. */
	if (p->state == PROMISE_ACKED) {
		p->state = PROMISE_OPEN;
		p->acked_at = 0;
	}
	return STORE_OK;
}

int
store_reassign(struct store *st, int64_t id, const char *new_owner,
	       const char *new_team, const char *actor, int64_t now,
	       char *err, size_t errlen)
{
	struct change c = { .actor = actor, .text = new_owner,
			    .team = new_team };
	int rc;

	rc = check_text("owner", new_owner, 256, 1, err, errlen);
	if (rc == STORE_OK)
		rc = check_text("team", new_team, 256, 0, err, errlen);
	if (rc != STORE_OK)
		return rc;
	return change_promise(st, id, apply_reassign, &c, now, err, errlen);
}

static int
apply_renegotiate(struct promise *p, struct change *c, int64_t now,
		  char *err, size_t errlen)
{
	char from[32], to[32];
	int rc = not_closed(p, "renegotiate", err, errlen);

	(void)now;
	if (rc != STORE_OK)
		return rc;
	c->kind = EVENT_RENEGOTIATED;
	c->old_due = p->due_at;
	c->new_due = c->when;
	util_format_utc(p->due_at, from, sizeof(from));
	util_format_utc(c->when, to, sizeof(to));
	c->detail = xasprintf("due %s -> %s: %s", from, to, c->text);
	p->due_at = c->when;
	p->renegotiations++;
	p->lapsed_at = 0;
	return STORE_OK;
}

int
store_renegotiate(struct store *st, int64_t id, int64_t new_due,
		  const char *reason, const char *actor, int64_t now,
		  char *err, size_t errlen)
{
	struct change c = { .actor = actor, .text = reason, .when = new_due };
	int rc;

	if (new_due <= now) {
		util_seterr(err, errlen, "new due must be in the future");
		return STORE_INVALID;
	}
	rc = check_text("reason", reason, 65536, 1, err, errlen);
	if (rc != STORE_OK)
		return rc;
	return change_promise(st, id, apply_renegotiate, &c, now, err,
			      errlen);
}

static int
apply_reopen(struct promise *p, struct change *c, int64_t now, char *err,
	     size_t errlen)
{
	(void)now;
	if (p->state != PROMISE_CLOSED) {
		util_seterr(err, errlen, "promise %" PRId64 " is not closed",
			    p->id);
		return STORE_CONFLICT;
	}
	p->state = PROMISE_OPEN;
	p->outcome = OUTCOME_NONE;
	p->closed_at = 0;
	p->acked_at = 0;
	free(p->closed_by);
	p->closed_by = NULL;
	c->kind = EVENT_REOPENED;
	c->detail = xstrdup(c->text != NULL ? c->text : "");
	return STORE_OK;
}

int
store_reopen(struct store *st, int64_t id, const char *reason,
	     const char *actor, int64_t now, char *err, size_t errlen)
{
	struct change c = { .actor = actor, .text = reason };
	int rc;

	rc = check_text("reason", reason, 65536, 0, err, errlen);
	if (rc != STORE_OK)
		return rc;
	return change_promise(st, id, apply_reopen, &c, now, err, errlen);
}
