/*
 * store_internal: what the src/store*.c files share — the handle, the
 * statement and transaction helpers, row readers and the timeline writer.
 * Private to src/store*.c; nothing else includes sqlite3.h or this file.
 */
#ifndef PROMISED_STORE_INTERNAL_H
#define PROMISED_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "promised/store.h"

/* Statements of store_prepare kept for the next use of the same SQL:
 * parsing costs more than running most of them (a burst of deliveries
 * spent a tenth of its time in sqlite3_prepare_v2). */
#define STORE_STMT_CACHE 64

struct store_stmt_slot {
	char *sql;               /* owned copy; NULL: the slot is free */
	const char *from;        /* the caller's text it was made from */
	uint32_t hash;
	int busy;                /* handed out, not yet given back */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *path;
	store_next_fn next_fn;
	void *next_ctx;
	int busy_ms;
	/* Inside store_batch_begin/end: each change is a savepoint of the
	 * batch's one transaction. */
	int in_batch;
	struct store_stmt_slot cache[STORE_STMT_CACHE];
	size_t cache_next;       /* where the next eviction looks first */
	int wal_pages;           /* in the WAL after the last commit */
};

/* Maps a sqlite3 result code to a store_rc and writes a message that says
 * what was being done and names the database file. */
int store_sqlerr(struct store *st, int src, const char *what, char *err,
		 size_t errlen);
/* Prepares sql, or hands out the kept statement of the same text when
 * it is not in use; STORE_OK or a mapped error.  Give it back with
 * store_finalize. */
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **out,
		  char *err, size_t errlen);
/* Gives back a statement of store_prepare: a kept one is reset and
 * unbound (it holds no lock then), any other finalized.  NULL is fine. */
void store_finalize(struct store *st, sqlite3_stmt *stmt);
/* Runs one statement of sql that returns no rows, through the cache of
 * store_prepare (BEGIN, COMMIT, SAVEPOINT); a sqlite3 result code. */
int store_exec(struct store *st, const char *sql);
/* BEGIN IMMEDIATE (a savepoint inside a batch); STORE_OK or
 * STORE_BUSY/STORE_READONLY/STORE_ERR. */
int store_begin(struct store *st, char *err, size_t errlen);
/* COMMIT when rc is STORE_OK, else ROLLBACK; returns the final rc. */
int store_end(struct store *st, int rc, char *err, size_t errlen);
/* Steps a statement that returns no rows; STORE_OK on SQLITE_DONE, else
 * the mapped error saying what was being done. */
int store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what,
		    char *err, size_t errlen);
/* One integer from a query with at most one text parameter (?1, bound
 * when param is not NULL); no row or a NULL result leaves *out alone. */
int store_one_int(struct store *st, const char *sql, const char *param,
		  int64_t *out, const char *what, char *err, size_t errlen);
/* Binds s as text, or NULL when s is NULL. */
int store_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
/* Returns an owned copy of a text column, NULL for SQL NULL. */
char *store_col_text(sqlite3_stmt *stmt, int idx);
/* A state / outcome column; PROMISE_OPEN / OUTCOME_NONE when NULL or not
 * a known name. */
enum promise_state store_col_state(sqlite3_stmt *stmt, int idx);
enum promise_outcome store_col_outcome(sqlite3_stmt *stmt, int idx);

/* Loads promise id inside the current transaction (STORE_NOTFOUND). */
int store_load(struct store *st, int64_t id, struct promise *out,
	       char *err, size_t errlen);
/* Writes every column of p back (by p->id). */
int store_save(struct store *st, const struct promise *p, char *err,
	       size_t errlen);
/* The installed scheduler, or the default, evaluated for p at now. */
int64_t store_next_of(struct store *st, const struct promise *p,
		      int64_t now);
/* Appends one event to the timeline of promise_id. */
int store_event_add(struct store *st, int64_t promise_id,
		    enum event_kind kind, const char *actor,
		    const char *detail, int64_t old_due, int64_t new_due,
		    int64_t now, char *err, size_t errlen);

/* Queues one notification row for promise pid (0: none); a row whose
 * idem_key exists is ignored (*added 0).  what names the step in errors.
 * Inside the caller's transaction. */
int store_outbox_insert(struct store *st, int64_t pid,
			const struct notification *nt, int64_t now, int *added,
			const char *what, char *err, size_t errlen);

#endif
