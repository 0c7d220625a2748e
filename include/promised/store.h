/*
 * store: the durable state of promised — promises, their event timeline,
 * the notification outbox, feeds and action tokens.  The API speaks the
 * domain; that it is SQLite (WAL, synchronous=FULL, BEGIN IMMEDIATE,
 * prepared statements) is known only to store*.c.  Every change writes its
 * event row and recomputes next_step_at in the same transaction.
 */
#ifndef PROMISED_STORE_H
#define PROMISED_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "promised/promise.h"

struct store;

/* Result codes: 0 is success; callers map them to exit codes. */
enum store_rc {
	STORE_OK = 0,
	STORE_ERR = -1,        /* I/O or database error; err says what */
	STORE_NOTFOUND = -2,   /* no promise with that id/ref */
	STORE_BUSY = -3,       /* database stayed locked past the busy timeout */
	STORE_CONFLICT = -4,   /* not allowed in the promise's state */
	STORE_READONLY = -5,   /* the database file cannot be written */
	STORE_INVALID = -6,    /* a value is invalid; err names the field */
	STORE_REFUSED = -7,    /* a feed sync was not applied; err says why */
};

/*
 * Computes a promise's next step instant (UTC seconds, 0 for none) at
 * `now`.  The daemon and promisectl install the scheduler here so that
 * every change recomputes next_step_at inside its own transaction.
 */
typedef int64_t (*store_next_fn)(void *ctx, const struct promise *p,
				 int64_t now);

/* Opens (creating if needed) the database at path and applies pending
 * migrations.  Returns an owned handle or NULL with err filled in;
 * *rc (if not NULL) gets STORE_READONLY, STORE_BUSY or STORE_ERR. */
struct store *store_open(const char *path, int *rc, char *err, size_t errlen);
/* Closes the handle; NULL is allowed. */
/* Copies the WAL into the database when a burst left much in it; the
 * daemon calls it when it is about to sleep with nothing in flight. */
void store_idle(struct store *st);
void store_close(struct store *st);
/* Returns the schema version (PRAGMA user_version). */
int store_schema_version(struct store *st);
/* Installs the scheduler; fn NULL restores the default (next = due_at
 * while open or acked and not yet past fired_through, else 0). */
void store_set_next_fn(struct store *st, store_next_fn fn, void *ctx);
/* Runs PRAGMA integrity_check; 0 when "ok". */
int store_integrity_check(struct store *st, char *err, size_t errlen);
/* Path of the database file (borrowed). */
const char *store_path(const struct store *st);
/* Version of the SQLite library loaded at run time, "3.40.1" (static). */
const char *store_lib_version(void);

/* What store_backup wrote. */
struct store_backup_info {
	int64_t bytes;      /* size of the backup file */
	int64_t promises;   /* promises in the copy */
};
/* Copies the database, consistent as of one instant, to a new file at
 * path with SQLite's online backup API; safe while the daemon writes.
 * The copy is written beside path under a temporary name, checked
 * (integrity_check), synced and renamed into place, so path never holds a
 * partial backup; it is a standalone rollback-journal database (no -wal
 * file needed).  Never overwrites: STORE_CONFLICT when path exists or is
 * the database itself, STORE_READONLY when path cannot be created (folder
 * missing, not a folder or not writable), STORE_BUSY when the database
 * stayed locked past the busy timeout, STORE_ERR otherwise; err names the
 * file.  info (may be NULL) is filled in on success. */
int store_backup(struct store *st, const char *path,
		 struct store_backup_info *info, char *err, size_t errlen);

/* Adds p (id, created_at, updated_at, state, outcome are set by the store;
 * an empty ref gets "promised:<id>").  On success p->id is filled in.
 * A ref that exists already gives STORE_CONFLICT and *p->id of the
 * existing promise. */
int store_add(struct store *st, struct promise *p, const char *actor,
	      int64_t now, char *err, size_t errlen);
/* Fills *out (owned strings; promise_clear() them) with promise id. */
int store_get(struct store *st, int64_t id, struct promise *out,
	      char *err, size_t errlen);
/* Same, by ref. */
int store_get_by_ref(struct store *st, const char *ref, struct promise *out,
		     char *err, size_t errlen);

struct store_filter {
	int open_only;          /* state open or acked */
	int overdue;            /* open/acked and due_at < now */
	int64_t due_from;       /* 0: no bound; due_at >= due_from */
	int64_t due_to;         /* 0: no bound; due_at < due_to */
	const char *owner;      /* NULL: any */
	const char *team;
	const char *site;
	int64_t now;            /* for overdue */
	size_t limit;           /* 0: no limit */
};
/* Lists matching promises ordered by due_at, id into an owned array
 * (promise_free_array). */
int store_list(struct store *st, const struct store_filter *f,
	       struct promise **out, size_t *n, char *err, size_t errlen);

/* Closes a promise.  outcome is OUTCOME_KEPT or OUTCOME_CANCELLED; KEPT
 * becomes OUTCOME_LATE when now > due_at.  Closing a closed promise is
 * STORE_CONFLICT. */
int store_close_promise(struct store *st, int64_t id,
			enum promise_outcome outcome, const char *actor,
			const char *note, int64_t now, char *err, size_t errlen);
/* "I'm on it": open -> acked. */
int store_ack(struct store *st, int64_t id, const char *actor, int64_t now,
	      char *err, size_t errlen);
/* Suppresses reminders until `until` (> now). */
int store_snooze(struct store *st, int64_t id, int64_t until,
		 const char *actor, int64_t now, char *err, size_t errlen);
/* Hands the promise to new_owner (and new_team when not NULL); an acked
 * promise becomes open again, since the new owner has not taken it yet. */
int store_reassign(struct store *st, int64_t id, const char *new_owner,
		   const char *new_team, const char *actor, int64_t now,
		   char *err, size_t errlen);
/* A new due agreed with the customer; reason is required.  Clears
 * lapsed_at and moves every later step. */
int store_renegotiate(struct store *st, int64_t id, int64_t new_due,
		      const char *reason, const char *actor, int64_t now,
		      char *err, size_t errlen);
/* Reopens a closed promise (state open, outcome none). */
int store_reopen(struct store *st, int64_t id, const char *reason,
		 const char *actor, int64_t now, char *err, size_t errlen);
/* Events of a promise in time order into an owned array. */
int store_events(struct store *st, int64_t id, struct event **out,
		 size_t *n, char *err, size_t errlen);

/* ---- The daemon's side: waking, firing steps, the outbox ---------- */

/* Earliest instant the daemon must act: MIN(next_step_at) of promises that
 * are not closed, and MIN(next_try_at) of pending/retry notifications;
 * *out = 0 when nothing is scheduled.  One index lookup each. */
int store_next_wake(struct store *st, int64_t *out, char *err, size_t errlen);
/* Promises (not closed) with 0 < next_step_at <= now, oldest first, at
 * most limit (0: all), read whole into an owned array (free each with
 * promise_clear, then the array).  Inside a batch what is read stays
 * true until the batch ends. */
int store_due_loaded(struct store *st, int64_t now, size_t limit,
		     struct promise **out, size_t *n, char *err,
		     size_t errlen);

/* A batch: the changes made until store_batch_end share one transaction,
 * so many of them cost one commit (one fsync) instead of one each.  Each
 * change inside is still all-or-nothing on its own (a savepoint); the
 * batch's commit makes them all durable at once, or none of them when it
 * fails (rc other than STORE_OK rolls the whole batch back).  Nothing
 * outside the batch may write through the same handle meanwhile. */
int store_batch_begin(struct store *st, char *err, size_t errlen);
int store_batch_end(struct store *st, int rc, char *err, size_t errlen);

/* What firing the due steps of one promise changes, applied in one
 * transaction: notifications inserted (a duplicate idem_key is skipped,
 * so a step can never be queued twice), one reminded/escalated event per
 * notification batch with `detail`, the lapse (lapsed_at and its event,
 * once) when mark_lapsed, fired_through advanced, next_step_at recomputed
 * through the installed scheduler. */
struct store_fire {
	const struct notification *notifs;   /* state, ids ignored */
	size_t nnotifs;
	int64_t fired_through;
	int mark_lapsed;
	enum event_kind kind;                /* EVENT_REMINDED or ESCALATED */
	const char *detail;                  /* event text, may be NULL */
};
int store_fire(struct store *st, int64_t promise_id,
	       const struct store_fire *fire, int64_t now,
	       char *err, size_t errlen);
/* store_fire for *p as read inside the open batch (see
 * store_batch_begin): nobody else can have changed it since, so it is
 * not read again.  Outside a batch it is read again.  *p is updated.
 * guarded: the change is a savepoint of its own.  Unguarded it costs two
 * statements less, and a failure other than STORE_CONFLICT (a closed
 * promise, refused before anything is written) or STORE_INVALID may
 * leave part of it written: the caller must then roll the whole batch
 * back. */
int store_fire_loaded(struct store *st, struct promise *p,
		      const struct store_fire *fire, int64_t now, int guarded,
		      char *err, size_t errlen);

/* Recomputes next_step_at of every promise that is not closed (after a
 * config reload changed policies or sites), in one transaction. */
int store_recompute_all(struct store *st, int64_t now, char *err,
			size_t errlen);
/* The same, unless the stored schedule was computed for `fingerprint`
 * (a config and program version; see config_fingerprint): then nothing
 * is done and *skipped is 1.  A recompute records the fingerprint in the
 * same transaction, so a start or a reload with an unchanged config does
 * not walk a million promises. */
int store_recompute_for(struct store *st, const char *fingerprint,
			int64_t now, int *skipped, char *err, size_t errlen);

/* At start-up: rows left in `sending` by a crash go back to pending with
 * the same idem_key, to be sent again.  *n gets how many. */
int store_outbox_recover(struct store *st, size_t *n, char *err,
			 size_t errlen);
/* Claims up to limit pending/retry rows with next_try_at <= now: marks
 * them sending (durably, attempts + 1) and returns them owned. */
int store_outbox_claim(struct store *st, int64_t now, size_t limit,
		       struct notification **out, size_t *n,
		       char *err, size_t errlen);
/* Records the result of a send: state SENT (sent_at = now, provider_id),
 * RETRY (next_try_at, error) or DEAD (error; an event in the timeline). */
int store_outbox_result(struct store *st, int64_t id, enum notif_state state,
			int64_t next_try_at, const char *error,
			const char *provider_id, int64_t now,
			char *err, size_t errlen);
/* Lists notifications, newest first; state < 0 means any; promise_id 0
 * means any. */
int store_outbox_list(struct store *st, int state, int64_t promise_id,
		      size_t limit, struct notification **out, size_t *n,
		      char *err, size_t errlen);
/* Puts a dead or retry row back to pending now (promisectl outbox retry). */
int store_outbox_retry(struct store *st, int64_t id, int64_t now,
		       char *err, size_t errlen);
/* Queues the fallback of dead notification dead_id on the step's next
 * channel, in one transaction: a pending copy (same promise, step, repeat,
 * recipient, subject and body) with channel_index + 1, channel
 * next_channel and idem_key "<old key>.f<channel_index + 1>.<channel>",
 * plus the event "fallback from <ch> to <next> for <recipient>: <reason>".
 * Queueing the same fallback twice changes nothing.  *new_id (may be
 * NULL) gets the new row's id, or 0 when it existed already. */
int store_outbox_fallback(struct store *st, int64_t dead_id,
			  const char *next_channel, const char *reason,
			  int64_t now, int64_t *new_id, char *err,
			  size_t errlen);

/* ---- Reports (store_report.c) -------------------------------------- */

/* What the report needs of one promise; strings owned. */
struct store_report_item {
	int64_t id;
	char *owner;
	char *team;                /* NULL: none */
	char *site;                /* NULL: none */
	int64_t due_at;            /* the current due */
	int64_t created_at;
	int64_t closed_at;         /* 0: not closed */
	enum promise_state state;
	enum promise_outcome outcome;
	int renegotiations;
	int64_t first_sent_at;     /* first notification sent; 0: none */
	int64_t escalations_sent;  /* sent, step instant after the due in
				    * force when it was queued */
};

/* Which promises: created in [created_from, created_to); NULL strings
 * match anything. */
struct store_report_filter {
	int64_t created_from;
	int64_t created_to;
	const char *owner;
	const char *team;
	const char *site;
};

/* Promises matching f, by id, into an owned array
 * (store_report_items_free). */
int store_report_items(struct store *st, const struct store_report_filter *f,
		       struct store_report_item **out, size_t *n,
		       char *err, size_t errlen);
void store_report_items_free(struct store_report_item *arr, size_t n);

/* ---- Action tokens, notes and reply codes (store_token.c) --------- */

/* A row of the tokens table: a one-click link, used at most once. */
struct store_token {
	char id[17];           /* the token id (hex) */
	int64_t promise_id;
	char action[16];       /* done, ack, snooze, handover, unreachable */
	char recipient[65];    /* staff id */
	int64_t created_at;
	int64_t expires_at;
	int64_t used_at;       /* 0: not used */
	char result[200];      /* what the use did ("snooze:<until>" ...) */
};

/* Records a new token (a known id is left as it is). */
int store_token_add(struct store *st, const struct store_token *t,
		    char *err, size_t errlen);
/* Fills *out with token id, or STORE_NOTFOUND. */
int store_token_get(struct store *st, const char *id,
		    struct store_token *out, char *err, size_t errlen);
/* Marks token t->id used at now with t->result, recording it first when
 * it is not known yet, in one transaction; STORE_CONFLICT when it was
 * used already. */
int store_token_use(struct store *st, const struct store_token *t,
		    int64_t now, char *err, size_t errlen);
/* Appends a note (EVENT_NOTE) to the timeline of promise_id;
 * STORE_NOTFOUND when there is no such promise. */
int store_note(struct store *st, int64_t promise_id, const char *actor,
	       const char *detail, int64_t now, char *err, size_t errlen);
/* The newest notification to recipient created at or after since whose
 * short code ((id % 9000) + 1000) is code, into *out (id, promise_id,
 * step, channel, recipient, created_at, sent_at; notification_clear it),
 * or STORE_NOTFOUND. */
int store_notification_by_code(struct store *st, const char *recipient,
			       int code, int64_t since,
			       struct notification *out, char *err,
			       size_t errlen);

/* ---- Metrics (store_stats.c) -------------------------------------- */

/* Notifications of one channel in one outbox state. */
struct store_stats_notif {
	char *channel;
	enum notif_state state;
	int64_t count;
};

/* What /metrics reports from the database. */
struct store_stats {
	int64_t promises[PROMISE_CLOSED + 1];   /* by enum promise_state */
	int64_t lapsed;             /* lapse events ever recorded */
	int64_t outbox[NOTIF_STATE_COUNT];      /* rows by enum notif_state */
	int64_t oldest_pending_age; /* seconds since the oldest row still to
				     * deliver (pending, retry, sending) was
				     * queued; 0 when there is none */
	struct store_stats_notif *notifs;       /* by channel, state; owned */
	size_t nnotifs;
};

/* Fills *out (store_stats_clear it) in one read transaction. */
int store_stats(struct store *st, struct store_stats *out, int64_t now,
		char *err, size_t errlen);
void store_stats_clear(struct store_stats *s);

/* ---- Notifications of no promise: the digest (store_digest.c) ---- */

/* Queues n (promise_id ignored and stored as NULL; state pending,
 * next_try_at = n->next_try_at or now) with INSERT OR IGNORE by
 * n->idem_key, so queueing the same key twice changes nothing.  *added
 * (may be NULL) is 1 when the row was inserted, 0 when the key existed. */
int store_outbox_queue_plain(struct store *st, const struct notification *n,
			     int64_t now, int *added, char *err,
			     size_t errlen);
/* *at = when the oldest promise was made (the database's first day
 * in service); 0 when there is none. */
int store_first_promise_at(struct store *st, int64_t *at, char *err,
			   size_t errlen);
/* *found = 1 when a notification with idem_key exists (any state). */
int store_outbox_has_key(struct store *st, const char *idem_key, int *found,
			 char *err, size_t errlen);

/* ---- Calendar feeds (store_feed.c) --------------------------------- */

struct feed_item;

/* What one feed sync did (or, when refused, would have done). */
struct store_feed_result {
	size_t added;          /* new promises */
	size_t moved;          /* due changed: "changed by feed NAME" */
	size_t updated;        /* title, customer, target or owner changed */
	size_t completed;      /* closed kept/late by the calendar */
	size_t cancelled;      /* closed cancelled: STATUS:CANCELLED */
	size_t removed;        /* closed cancelled: gone from the feed */
	size_t reopened;       /* closed here, changed in the calendar */
	size_t unchanged;
	size_t invalid;        /* items the store cannot keep; see below */
	size_t duplicates;     /* a ref seen twice: the first one counts */
	size_t open_before;    /* open promises of the feed before the sync */
	char first_invalid[200];
};

/* Applies the complete item list of feed `feed` in one transaction:
 * upsert by ref (source "feed:<feed>"), close completed/cancelled items,
 * cancel open promises whose ref is gone, reopen a closed promise only
 * when its SEQUENCE grew or LAST-MODIFIED is newer.  Safety valve: an
 * empty list while the feed has open promises, or more than
 * max_cancel_share (<= 0: 0.5) of them gone (a single one is always
 * allowed), changes nothing and returns STORE_REFUSED with the reason.
 * res (may be NULL) gets the counts. */
int store_feed_sync(struct store *st, const char *feed,
		    const struct feed_item *items, size_t n,
		    double max_cancel_share, const char *actor, int64_t now,
		    struct store_feed_result *res, char *err, size_t errlen);

/* The same sync fed one item at a time, so that a large feed is never
 * held whole: store_feed_begin, store_feed_item for each item in the
 * feed's order (the first item of a ref counts, later ones are
 * duplicates), store_feed_end.  The transaction opens at the first item;
 * the valve is checked at the end, and a refused or failed sync is rolled
 * back whole.  feed and actor are copied; res (may be NULL) must live
 * until store_feed_end.  STORE_INVALID without a feed name. */
struct store_feed_run;
int store_feed_begin(struct store *st, const char *feed,
		     double max_cancel_share, const char *actor, int64_t now,
		     struct store_feed_result *res, struct store_feed_run **out,
		     char *err, size_t errlen);
/* Applies one item (borrowed for the call).  After a failure every later
 * call does nothing and returns the same code. */
int store_feed_item(struct store_feed_run *run, const struct feed_item *it,
		    char *err, size_t errlen);
/* Ends the run and frees it (NULL is allowed: returns rc).  rc other than
 * STORE_OK (e.g. the parse failed) rolls back and is returned, err left
 * alone; else the valve is checked, promises gone from the feed are
 * cancelled and the sync is committed. */
int store_feed_end(struct store_feed_run *run, int rc, char *err,
		   size_t errlen);

/* A row of the feeds table: what fetching last saw. */
struct store_feed_status {
	char *name;
	char *url;
	char *etag;            /* for If-None-Match; NULL: none */
	char *last_modified;   /* HTTP Last-Modified text; NULL: none */
	int64_t last_ok_at;    /* last successful sync, 0: never */
	int64_t last_try_at;   /* last attempt, 0: never */
	char *last_error;      /* NULL when the last attempt worked */
	int64_t items, added, updated, cancelled;   /* last sync's counts */
	int failing;           /* 1 while the last attempt failed */
};

/* Inserts or replaces the row s->name (every column). */
int store_feed_status_set(struct store *st, const struct store_feed_status *s,
			  char *err, size_t errlen);
/* Fills *out (owned; store_feed_status_clear) or STORE_NOTFOUND. */
int store_feed_status_get(struct store *st, const char *name,
			  struct store_feed_status *out, char *err,
			  size_t errlen);
/* Every row, by name, into an owned array. */
int store_feed_status_list(struct store *st, struct store_feed_status **out,
			   size_t *n, char *err, size_t errlen);
/* Releases the strings of s and zeroes it / an array of n rows. */
void store_feed_status_clear(struct store_feed_status *s);
void store_feed_status_free_array(struct store_feed_status *arr, size_t n);

#endif
