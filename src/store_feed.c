/*
 * store_feed: keeping the promises of a calendar feed in step with the
 * feed, and the feeds table that fetching reads and writes.
 *
 * A sync applies the items of one feed in one transaction, as they come
 * from the parser (store_feed_begin/_item/_end; store_feed_sync is that
 * over an array), so a feed of fifty thousand items is never held as a
 * list.  Only when every item was seen can it count what would be
 * cancelled: a feed that suddenly lacks most of its items is far more
 * likely broken (a truncated answer, a wrong account) than emptied on
 * purpose, so such an answer is refused and the transaction rolled back:
 * nothing is applied.
 *
 * It runs once per item, so the statements are prepared once per sync, a
 * new promise is written by one INSERT with its next step already worked
 * out, and the refs seen are kept in one arena, not one malloc each.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/feed.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define DEFAULT_SHARE 0.5

/* A promise of the feed as it is before the sync. */
struct existing {
	const char *ref;       /* in the run's arena */
	int64_t id;
	int closed;
	int64_t seq, mod;
	int seen;
};

/* A block of the run's string arena: refs are copied here, not one
 * malloc each, and the block never moves so the pointers stay valid. */
struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
};

/* The refs given to a run so far: open addressing over arena strings. */
struct refset {
	const char **slot;
	size_t cap, n;         /* cap is a power of two, at most half full */
};

/* The sync's working state (struct store_feed_run in store.h). */
struct store_feed_run {
	struct store *st;
	char *feed;
	char *source;          /* "feed:<feed>" */
	char *actor;
	int64_t now;
	double share;
	int started;           /* the transaction is open */
	int checks_off;        /* CHECK constraints off for the run */
	int rc;                /* the first error; later items do nothing */
	size_t nitems;         /* items given, duplicates and invalid too */
	struct existing *ex;
	size_t nex;
	struct refset seen;
	struct arena_blk *arena;
	/* Prepared once per sync: they run once per item. */
	sqlite3_stmt *ins, *marks;
	struct store_feed_result *res;
	struct store_feed_result local;
};

static const char *
arena_dup(struct arena_blk **head, const char *str)
{
	size_t len = strlen(str) + 1;
	struct arena_blk *b = *head;
	char *out;

	if (b == NULL || b->cap - b->used < len) {
		size_t cap = len > 65536 ? len : 65536;

		b = xmalloc(sizeof(*b) + cap);
		b->next = *head;
		b->used = 0;
		b->cap = cap;
		*head = b;
	}
	out = b->data + b->used;
	memcpy(out, str, len);
	b->used += len;
	return out;
}

static void
arena_free(struct arena_blk *b)
{
	struct arena_blk *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
}

static uint64_t
ref_hash(const char *str)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *str != '\0'; str++)
		h = (h ^ (unsigned char)*str) * UINT64_C(1099511628211);
	return h;
}

/* The slot of ref: where it is, or the empty one where it belongs. */
static const char **
refset_slot(const struct refset *rs, const char *ref)
{
	size_t i = (size_t)ref_hash(ref) & (rs->cap - 1);

	while (rs->slot[i] != NULL && strcmp(rs->slot[i], ref) != 0)
		i = (i + 1) & (rs->cap - 1);
	return &rs->slot[i];
}

static void
refset_grow(struct refset *rs)
{
	struct refset big;
	size_t i;

	big.cap = rs->cap > 0 ? rs->cap * 2 : 1024;
	big.n = rs->n;
	big.slot = xcalloc(big.cap, sizeof(*big.slot));
	for (i = 0; i < rs->cap; i++)
		if (rs->slot[i] != NULL)
			*refset_slot(&big, rs->slot[i]) = rs->slot[i];
	free(rs->slot);
	*rs = big;
}

/* 1 when ref is new (it is kept), 0 when it was given before. */
static int
refset_add(struct refset *rs, struct arena_blk **arena, const char *ref)
{
	const char **slot;

	if ((rs->n + 1) * 2 > rs->cap)
		refset_grow(rs);
	slot = refset_slot(rs, ref);
	if (*slot != NULL)
		return 0;
	*slot = arena_dup(arena, ref);
	rs->n++;
	return 1;
}

static int
ex_cmp(const void *a, const void *b)
{
	return strcmp(((const struct existing *)a)->ref,
		      ((const struct existing *)b)->ref);
}

static struct existing *
ex_find(struct store_feed_run *s, const char *ref)
{
	struct existing k = { .ref = ref };

	if (s->nex == 0)
		return NULL;
	return bsearch(&k, s->ex, s->nex, sizeof(k), ex_cmp);
}

static int
load_existing(struct store_feed_run *s, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	size_t cap = 0;
	int rc, src;

	rc = store_prepare(s->st, "SELECT ref, id, state, feed_sequence,"
			   " feed_modified FROM promises WHERE source = ?1"
			   " AND ref IS NOT NULL", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, s->source);
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct existing *e;
		const char *state;

		if (s->nex == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			s->ex = xreallocarray(s->ex, cap, sizeof(*s->ex));
		}
		e = &s->ex[s->nex++];
		memset(e, 0, sizeof(*e));
		e->ref = arena_dup(&s->arena,
				   (const char *)sqlite3_column_text(stmt, 0));
		e->id = sqlite3_column_int64(stmt, 1);
		state = (const char *)sqlite3_column_text(stmt, 2);
		e->closed = state != NULL && strcmp(state, "closed") == 0;
		e->seq = sqlite3_column_int64(stmt, 3);
		e->mod = sqlite3_column_int64(stmt, 4);
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(s->st, src, "reading a feed's promises", err,
				  errlen);
	else if (s->nex > 1)
		qsort(s->ex, s->nex, sizeof(*s->ex), ex_cmp);
out:
	store_finalize(s->st, stmt);
	return rc;
}

/* The safety valve, once every item was given: STORE_REFUSED when the
 * answer looks broken.  An open promise is "gone" when no item (valid
 * or not) carried its ref. */
static int
check_valve(struct store_feed_run *s, char *err, size_t errlen)
{
	size_t i, open = 0, gone = 0;

	for (i = 0; i < s->nex; i++) {
		if (s->ex[i].closed)
			continue;
		open++;
		if (!s->ex[i].seen)
			gone++;
	}
	s->res->open_before = open;
	if (s->nitems == 0 && open > 0) {
		util_seterr(err, errlen, "feed %s answered with no items "
			    "while %zu of its promises are open; nothing "
			    "applied", s->feed, open);
		return STORE_REFUSED;
	}
	if (gone > 1 && (double)gone > s->share * (double)open) {
		util_seterr(err, errlen, "feed %s would cancel %zu of its %zu "
			    "open promises (more than %.0f %%); nothing "
			    "applied", s->feed, gone, open, s->share * 100.0);
		return STORE_REFUSED;
	}
	return STORE_OK;
}

/* ---- Items -------------------------------------------------------- */

static int
text_ok(const char *s, size_t max, int required)
{
	if (s == NULL || *s == '\0')
		return !required;
	return strlen(s) <= max && util_utf8_valid(s, strlen(s));
}

/* 1 when the store can keep the item; why says what is wrong. */
static int
item_ok(const struct feed_item *it, const char **why)
{
	*why = NULL;
	if (!text_ok(it->ref, 256, 1))
		*why = "ref";
	else if (!text_ok(it->title, 1000, 1))
		*why = "title";
	else if (!text_ok(it->owner, 256, 1))
		*why = "owner";
	else if (!text_ok(it->details, 65536, 0))
		*why = "details";
	else if (!text_ok(it->customer_name, 256, 0) ||
		 !text_ok(it->customer_phone, 256, 0) ||
		 !text_ok(it->customer_email, 256, 0) ||
		 !text_ok(it->vehicle, 256, 0) || !text_ok(it->site, 256, 0) ||
		 !text_ok(it->policy, 256, 0))
		*why = "a customer, site or policy field";
	else if (it->vin != NULL && *it->vin != '\0' &&
		 promise_vin_check(it->vin, NULL, NULL, 0) != 0)
		*why = "vin";
	else if (it->due_at <= 0 || it->target_at < 0)
		*why = "due";
	return *why == NULL;
}

static void
note_invalid(struct store_feed_run *s, const struct feed_item *it,
	     const char *why)
{
	s->res->invalid++;
	if (s->res->first_invalid[0] == '\0')
		(void)snprintf(s->res->first_invalid,
			       sizeof(s->res->first_invalid),
			       "%.120s: invalid %s",
			       it->ref != NULL ? it->ref : "?", why);
}

/* Prepares *slot once per sync; resets it for the next use. */
static int
run_stmt(struct store_feed_run *s, sqlite3_stmt **slot, const char *sql,
	 char *err, size_t errlen)
{
	if (*slot != NULL)
		return STORE_OK;   /* reset after its last step */
	return store_prepare(s->st, sql, slot, err, errlen);
}

static int
save_feed_marks(struct store_feed_run *s, int64_t id,
		const struct feed_item *it, char *err, size_t errlen)
{
	int rc;

	rc = run_stmt(s, &s->marks, "UPDATE promises SET feed_sequence = ?2,"
		      " feed_modified = ?3 WHERE id = ?1", err, errlen);
	if (rc != STORE_OK)
		return rc;
	sqlite3_bind_int64(s->marks, 1, id);
	sqlite3_bind_int64(s->marks, 2, it->sequence);
	sqlite3_bind_int64(s->marks, 3, it->last_modified);
	rc = store_step_done(s->st, s->marks, "saving a feed item's version",
			     err, errlen);
	sqlite3_reset(s->marks);
	return rc;
}

/* Copies the item's descriptive fields into p (owned copies). */
static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL && *src != '\0' ? xstrdup(src) : NULL;
}

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || *a == '\0')
		return b != NULL && *b != '\0';
	return b == NULL || strcmp(a, b) != 0;
}

/* The item's fields in the same order as the names below. */
static const size_t item_fields[] = {
	offsetof(struct feed_item, title), offsetof(struct feed_item, details),
	offsetof(struct feed_item, customer_name),
	offsetof(struct feed_item, customer_phone),
	offsetof(struct feed_item, customer_email),
	offsetof(struct feed_item, vehicle), offsetof(struct feed_item, vin),
};
static const size_t promise_fields[] = {
	offsetof(struct promise, title), offsetof(struct promise, details),
	offsetof(struct promise, customer_name),
	offsetof(struct promise, customer_phone),
	offsetof(struct promise, customer_email),
	offsetof(struct promise, vehicle), offsetof(struct promise, vin),
};
static const char *const field_names[] = {
	"title", "details", "customer_name", "customer_phone",
	"customer_email", "vehicle", "vin",
};

static const char *
item_field(const struct feed_item *it, size_t i)
{
	return *(char *const *)(const void *)((const char *)it +
					      item_fields[i]);
}

static char **
promise_field(struct promise *p, size_t i)
{
	return (char **)(void *)((char *)p + promise_fields[i]);
}

/* Binds text the caller keeps alive until the statement is reset
 * (SQLITE_STATIC: no copy per value); NULL binds NULL. */
static void
bind_kept(sqlite3_stmt *stmt, int idx, const char *str)
{
	if (str == NULL)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_text(stmt, idx, str, -1, SQLITE_STATIC);
}

/* Empty text is stored as NULL, as set_str keeps it. */
static const char *
or_null(const char *str)
{
	return str != NULL && *str != '\0' ? str : NULL;
}

/* A new promise, written whole by one INSERT: its next step is worked
 * out first from the row as it will be (the scheduler reads no id). */
static int
insert_item(struct store_feed_run *s, const struct feed_item *it, char *err,
	    size_t errlen)
{
	struct promise p;
	sqlite3_stmt *stmt;
	size_t i;
	int rc;

	rc = run_stmt(s, &s->ins, "INSERT OR IGNORE INTO promises (ref,"
		      " title, details, customer_name, customer_phone,"
		      " customer_email, vehicle, vin, owner, site, policy,"
		      " source, target_at, due_at, created_at, updated_at,"
		      " next_step_at, feed_sequence, feed_modified) VALUES"
		      " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		      " ?13, ?14, ?15, ?15, ?16, ?17, ?18)", err, errlen);
	if (rc != STORE_OK)
		return rc;
	/* Borrowed strings: p is only read by the scheduler. */
	memset(&p, 0, sizeof(p));
	p.ref = it->ref;
	p.owner = it->owner;
	for (i = 0; i < NELEM(item_fields); i++)
		*promise_field(&p, i) = (char *)or_null(item_field(it, i));
	p.site = (char *)or_null(it->site);
	p.policy = (char *)or_null(it->policy);
	p.source = s->source;
	p.target_at = it->target_at;
	p.due_at = it->due_at;
	p.created_at = p.updated_at = s->now;
	p.state = PROMISE_OPEN;
	p.outcome = OUTCOME_NONE;
	p.next_step_at = store_next_of(s->st, &p, s->now);
	stmt = s->ins;
	bind_kept(stmt, 1, p.ref);
	for (i = 0; i < NELEM(item_fields); i++)
		bind_kept(stmt, 2 + (int)i, *promise_field(&p, i));
	bind_kept(stmt, 9, p.owner);
	bind_kept(stmt, 10, p.site);
	bind_kept(stmt, 11, p.policy);
	bind_kept(stmt, 12, p.source);
	sqlite3_bind_int64(stmt, 13, p.target_at);
	sqlite3_bind_int64(stmt, 14, p.due_at);
	sqlite3_bind_int64(stmt, 15, s->now);
	sqlite3_bind_int64(stmt, 16, p.next_step_at);
	sqlite3_bind_int64(stmt, 17, it->sequence);
	sqlite3_bind_int64(stmt, 18, it->last_modified);
	rc = store_step_done(s->st, stmt, "adding a feed promise", err, errlen);
	sqlite3_reset(stmt);
	return rc;
}

static int
add_item(struct store_feed_run *s, const struct feed_item *it, char *err,
	 size_t errlen)
{
	char due[32], buf[512], *own = NULL;
	int rc, w;

	rc = insert_item(s, it, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if (sqlite3_changes(s->st->db) == 0) {
		/* The ref belongs to a promise from elsewhere. */
		note_invalid(s, it, "ref (taken by another promise)");
		return STORE_OK;
	}
	util_format_utc(it->due_at, due, sizeof(due));
	/* On the stack unless a long name or owner needs more. */
	w = snprintf(buf, sizeof(buf), "from feed %s: due %s, owner %s",
		     s->feed, due, it->owner);
	if (w < 0 || (size_t)w >= sizeof(buf))
		own = xasprintf("from feed %s: due %s, owner %s", s->feed,
				due, it->owner);
	rc = store_event_add(s->st, sqlite3_last_insert_rowid(s->st->db),
			     EVENT_CREATED, s->actor, own != NULL ? own : buf,
			     0, it->due_at, s->now, err, errlen);
	if (rc == STORE_OK)
		s->res->added++;
	free(own);
	return rc;
}

/* Closes p inside the sync; outcome KEPT turns LATE after the due. */
static int
close_in_sync(struct store_feed_run *s, struct promise *p,
	      enum promise_outcome o, int64_t at, const char *why, char *err,
	      size_t errlen)
{
	char *detail;
	int rc;

	if (o == OUTCOME_KEPT && at > p->due_at)
		o = OUTCOME_LATE;
	p->state = PROMISE_CLOSED;
	p->outcome = o;
	p->closed_at = at > 0 && at <= s->now ? at : s->now;
	set_str(&p->closed_by, s->source);
	detail = xasprintf("%s: %s", promise_outcome_name(o), why);
	rc = store_event_add(s->st, p->id, EVENT_CLOSED, s->actor, detail, 0,
			     0, s->now, err, errlen);
	free(detail);
	return rc;
}

/* Due, descriptive fields and (when the item changed) owner. */
static int
update_fields(struct store_feed_run *s, struct promise *p,
	      const struct feed_item *it, int item_changed, int *touched,
	      char *err, size_t errlen)
{
	char from[32], to[32], names[160], *detail;
	size_t i;
	int rc = STORE_OK;

	if (p->due_at != it->due_at) {
		util_format_utc(p->due_at, from, sizeof(from));
		util_format_utc(it->due_at, to, sizeof(to));
		detail = xasprintf("changed by feed %s: due %s -> %s", s->feed,
				   from, to);
		rc = store_event_add(s->st, p->id, EVENT_CHANGED, s->actor,
				     detail, p->due_at, it->due_at, s->now,
				     err, errlen);
		free(detail);
		p->due_at = it->due_at;
		p->lapsed_at = 0;
		s->res->moved++;
		*touched = 1;
	}
	names[0] = '\0';
	for (i = 0; i < NELEM(item_fields); i++) {
		if (!str_differs(*promise_field(p, i), item_field(it, i)))
			continue;
		set_str(promise_field(p, i), item_field(it, i));
		/* names[] holds every field name at once: never cut. */
		(void)snprintf(names + strlen(names),
			       sizeof(names) - strlen(names), "%s%s",
			       names[0] != '\0' ? ", " : "", field_names[i]);
	}
	if (p->target_at != it->target_at) {
		p->target_at = it->target_at;
		(void)snprintf(names + strlen(names),
			       sizeof(names) - strlen(names), "%starget",
			       names[0] != '\0' ? ", " : "");
	}
	if (rc == STORE_OK && names[0] != '\0') {
		detail = xasprintf("changed by feed %s: %s", s->feed, names);
		rc = store_event_add(s->st, p->id, EVENT_CHANGED, s->actor,
				     detail, 0, 0, s->now, err, errlen);
		free(detail);
		s->res->updated++;
		*touched = 1;
	}
	/* Owner changes made in promised stand until the calendar item
	 * itself changes again. */
	if (rc == STORE_OK && item_changed && str_differs(p->owner, it->owner)) {
		detail = xasprintf("%s -> %s (feed %s)", p->owner, it->owner,
				   s->feed);
		rc = store_event_add(s->st, p->id, EVENT_REASSIGNED, s->actor,
				     detail, 0, 0, s->now, err, errlen);
		free(detail);
		set_str(&p->owner, it->owner);
		if (p->state == PROMISE_ACKED) {
			p->state = PROMISE_OPEN;
			p->acked_at = 0;
		}
		*touched = 1;
	}
	return rc;
}

static int
reopen_in_sync(struct store_feed_run *s, struct promise *p, char *err,
	       size_t errlen)
{
	char *detail;
	int rc;

	p->state = PROMISE_OPEN;
	p->outcome = OUTCOME_NONE;
	p->closed_at = p->acked_at = 0;
	set_str(&p->closed_by, NULL);
	detail = xasprintf("reopened by feed %s: the calendar item changed",
			   s->feed);
	rc = store_event_add(s->st, p->id, EVENT_REOPENED, s->actor, detail,
			     0, 0, s->now, err, errlen);
	free(detail);
	s->res->reopened++;
	return rc;
}

static int
update_item(struct store_feed_run *s, struct existing *e,
	    const struct feed_item *it, char *err, size_t errlen)
{
	struct promise p;
	char *why = NULL;
	int changed = it->sequence > e->seq || it->last_modified > e->mod;
	int touched = 0, rc;

	rc = store_load(s->st, e->id, &p, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if (p.state == PROMISE_CLOSED) {
		if (!changed || it->completed || it->cancelled)
			goto marks;
		rc = reopen_in_sync(s, &p, err, errlen);
		touched = 1;
	}
	if (rc == STORE_OK)
		rc = update_fields(s, &p, it, changed, &touched, err, errlen);
	if (rc == STORE_OK && (it->cancelled || it->completed)) {
		why = xasprintf("%s in feed %s", it->cancelled ? "cancelled" :
				"completed", s->feed);
		rc = close_in_sync(s, &p, it->cancelled ? OUTCOME_CANCELLED :
				   OUTCOME_KEPT, it->cancelled ? s->now :
				   it->completed_at, why, err, errlen);
		if (it->cancelled)
			s->res->cancelled++;
		else
			s->res->completed++;
		touched = 1;
	}
	if (rc == STORE_OK && touched) {
		p.updated_at = s->now;
		p.next_step_at = store_next_of(s->st, &p, s->now);
		rc = store_save(s->st, &p, err, errlen);
	}
marks:
	if (rc == STORE_OK && !touched)
		s->res->unchanged++;
	if (rc == STORE_OK && (it->sequence != e->seq ||
			       it->last_modified != e->mod))
		rc = save_feed_marks(s, e->id, it, err, errlen);
	free(why);
	promise_clear(&p);
	return rc;
}

/* Cancels an open promise whose item is gone from the feed. */
static int
remove_gone(struct store_feed_run *s, struct existing *e, char *err,
	    size_t errlen)
{
	struct promise p;
	char *why;
	int rc;

	rc = store_load(s->st, e->id, &p, err, errlen);
	if (rc != STORE_OK)
		return rc;
	why = xasprintf("gone from feed %s", s->feed);
	rc = close_in_sync(s, &p, OUTCOME_CANCELLED, s->now, why, err, errlen);
	if (rc == STORE_OK) {
		p.updated_at = s->now;
		p.next_step_at = store_next_of(s->st, &p, s->now);
		rc = store_save(s->st, &p, err, errlen);
	}
	s->res->removed++;
	free(why);
	promise_clear(&p);
	return rc;
}

/* The CHECKs of the state and outcome columns cost SQLite two small
 * temporary tables per row written, a sixth of a large first sync.  Every
 * state and outcome a sync writes comes from promise_state_name /
 * promise_outcome_name, so they are switched off for the run and on
 * again at its end (a connection setting, never stored). */
static void
checks_set(struct store_feed_run *s, int on)
{
	if (s->checks_off == !on)
		return;
	if (sqlite3_exec(s->st->db, on ? "PRAGMA ignore_check_constraints = 0"
			 : "PRAGMA ignore_check_constraints = 1", NULL, NULL,
			 NULL) == SQLITE_OK)
		s->checks_off = !on;
}

/* Opens the transaction and reads the feed's promises: at the first
 * item, so a feed that fails to parse never takes the write lock. */
static int
run_start(struct store_feed_run *s, char *err, size_t errlen)
{
	int rc;

	if (s->started)
		return STORE_OK;
	checks_set(s, 0);
	rc = store_begin(s->st, err, errlen);
	if (rc != STORE_OK)
		return rc;
	s->started = 1;
	return load_existing(s, err, errlen);
}

int
store_feed_begin(struct store *st, const char *feed, double max_cancel_share,
		 const char *actor, int64_t now, struct store_feed_result *res,
		 struct store_feed_run **out, char *err, size_t errlen)
{
	struct store_feed_run *s;

	*out = NULL;
	if (feed == NULL || *feed == '\0') {
		util_seterr(err, errlen, "feed sync needs a feed name");
		return STORE_INVALID;
	}
	s = xcalloc(1, sizeof(*s));
	s->st = st;
	s->feed = xstrdup(feed);
	s->source = xasprintf("feed:%s", feed);
	s->actor = xstrdup(actor != NULL ? actor : s->source);
	s->now = now;
	s->share = max_cancel_share > 0 && max_cancel_share <= 1 ?
		   max_cancel_share : DEFAULT_SHARE;
	s->res = res != NULL ? res : &s->local;
	memset(s->res, 0, sizeof(*s->res));
	*out = s;
	return STORE_OK;
}

static int
run_item(struct store_feed_run *s, const struct feed_item *it, char *err,
	 size_t errlen)
{
	struct existing *e;
	const char *why;

	if (it->ref == NULL) {
		util_seterr(err, errlen, "feed %s: item %zu has no ref",
			    s->feed, s->nitems);
		return STORE_INVALID;
	}
	s->nitems++;
	if (!refset_add(&s->seen, &s->arena, it->ref)) {
		s->res->duplicates++;
		return STORE_OK;
	}
	e = ex_find(s, it->ref);
	if (e != NULL)
		e->seen = 1;
	if (!item_ok(it, &why))
		note_invalid(s, it, why);
	else if (e != NULL)
		return update_item(s, e, it, err, errlen);
	else if (it->completed || it->cancelled)
		s->res->unchanged++;   /* nothing to promise */
	else
		return add_item(s, it, err, errlen);
	return STORE_OK;
}

int
store_feed_item(struct store_feed_run *s, const struct feed_item *it,
		char *err, size_t errlen)
{
	if (s->rc != STORE_OK) {
		util_seterr(err, errlen, "feed %s: the sync failed already",
			    s->feed);
		return s->rc;
	}
	s->rc = run_start(s, err, errlen);
	if (s->rc == STORE_OK)
		s->rc = run_item(s, it, err, errlen);
	return s->rc;
}

/* Every item was given: the valve, then the promises gone from it. */
static int
run_finish(struct store_feed_run *s, char *err, size_t errlen)
{
	size_t i, open_before;
	int rc;

	rc = run_start(s, err, errlen);
	if (rc == STORE_OK)
		rc = check_valve(s, err, errlen);
	if (rc == STORE_REFUSED) {
		/* Refused answers change nothing, as if never applied. */
		open_before = s->res->open_before;
		memset(s->res, 0, sizeof(*s->res));
		s->res->open_before = open_before;
	}
	for (i = 0; i < s->nex && rc == STORE_OK; i++)
		if (!s->ex[i].seen && !s->ex[i].closed)
			rc = remove_gone(s, &s->ex[i], err, errlen);
	return rc;
}

int
store_feed_end(struct store_feed_run *s, int rc, char *err, size_t errlen)
{
	if (s == NULL)
		return rc;
	if (rc == STORE_OK)
		rc = s->rc;
	if (rc == STORE_OK)
		rc = run_finish(s, err, errlen);
	store_finalize(s->st, s->ins);
	store_finalize(s->st, s->marks);
	if (s->started)
		rc = store_end(s->st, rc, err, errlen);
	checks_set(s, 1);
	free(s->seen.slot);
	arena_free(s->arena);
	free(s->ex);
	free(s->feed);
	free(s->source);
	free(s->actor);
	free(s);
	return rc;
}

/* Item indices ordered by ref, then position: the array form applies a
 * feed in ref order, duplicates adjacent and the first one first. */
struct item_ix {
	const struct feed_item *it;
	size_t pos;
};

static int
ix_cmp(const void *a, const void *b)
{
	const struct item_ix *x = a, *y = b;
	int d = strcmp(x->it->ref, y->it->ref);

	if (d != 0)
		return d;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int
store_feed_sync(struct store *st, const char *feed,
		const struct feed_item *items, size_t n,
		double max_cancel_share, const char *actor, int64_t now,
		struct store_feed_result *res, char *err, size_t errlen)
{
	struct store_feed_run *run = NULL;
	struct item_ix *ix = NULL;
	size_t i;
	int rc;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (feed == NULL || *feed == '\0' || (n > 0 && items == NULL)) {
		util_seterr(err, errlen, "feed sync needs a feed name");
		return STORE_INVALID;
	}
	for (i = 0; i < n; i++)
		if (items[i].ref == NULL) {
			util_seterr(err, errlen, "feed %s: item %zu has no "
				    "ref", feed, i);
			return STORE_INVALID;
		}
	ix = xcalloc(n > 0 ? n : 1, sizeof(*ix));
	for (i = 0; i < n; i++) {
		ix[i].it = &items[i];
		ix[i].pos = i;
	}
	qsort(ix, n, sizeof(*ix), ix_cmp);
	rc = store_feed_begin(st, feed, max_cancel_share, actor, now, res,
			      &run, err, errlen);
	for (i = 0; i < n && rc == STORE_OK; i++)
		rc = store_feed_item(run, ix[i].it, err, errlen);
	rc = store_feed_end(run, rc, err, errlen);
	free(ix);
	return rc;
}

/* ---- The feeds table ------------------------------------------------ */

int
store_feed_status_set(struct store *st, const struct store_feed_status *fs,
		      char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (fs == NULL || fs->name == NULL || *fs->name == '\0') {
		util_seterr(err, errlen, "feed status needs a name");
		return STORE_INVALID;
	}
	rc = store_prepare(st, "INSERT OR REPLACE INTO feeds (name, url,"
			   " etag, last_modified, last_ok_at, last_try_at,"
			   " last_error, items, added, updated, cancelled,"
			   " failing) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
			   " ?9, ?10, ?11, ?12)", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, fs->name);
	store_bind_text(stmt, 2, fs->url != NULL ? fs->url : "");
	store_bind_text(stmt, 3, fs->etag);
	store_bind_text(stmt, 4, fs->last_modified);
	sqlite3_bind_int64(stmt, 5, fs->last_ok_at);
	sqlite3_bind_int64(stmt, 6, fs->last_try_at);
	store_bind_text(stmt, 7, fs->last_error);
	sqlite3_bind_int64(stmt, 8, fs->items);
	sqlite3_bind_int64(stmt, 9, fs->added);
	sqlite3_bind_int64(stmt, 10, fs->updated);
	sqlite3_bind_int64(stmt, 11, fs->cancelled);
	sqlite3_bind_int(stmt, 12, fs->failing != 0);
	rc = store_step_done(st, stmt, "saving a feed's status", err, errlen);
out:
	store_finalize(st, stmt);
	return rc;
}

#define FEED_COLS \
	"name, url, etag, last_modified, last_ok_at, last_try_at," \
	" last_error, items, added, updated, cancelled, failing"

static void
read_status(sqlite3_stmt *stmt, struct store_feed_status *fs)
{
	memset(fs, 0, sizeof(*fs));
	fs->name = store_col_text(stmt, 0);
	fs->url = store_col_text(stmt, 1);
	fs->etag = store_col_text(stmt, 2);
	fs->last_modified = store_col_text(stmt, 3);
	fs->last_ok_at = sqlite3_column_int64(stmt, 4);
	fs->last_try_at = sqlite3_column_int64(stmt, 5);
	fs->last_error = store_col_text(stmt, 6);
	fs->items = sqlite3_column_int64(stmt, 7);
	fs->added = sqlite3_column_int64(stmt, 8);
	fs->updated = sqlite3_column_int64(stmt, 9);
	fs->cancelled = sqlite3_column_int64(stmt, 10);
	fs->failing = sqlite3_column_int(stmt, 11);
}

int
store_feed_status_get(struct store *st, const char *name,
		      struct store_feed_status *out, char *err,
		      size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc, src;

	memset(out, 0, sizeof(*out));
	rc = store_prepare(st, "SELECT " FEED_COLS " FROM feeds WHERE"
			   " name = ?1", &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	store_bind_text(stmt, 1, name != NULL ? name : "");
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		read_status(stmt, out);
	} else if (src == SQLITE_DONE) {
		util_seterr(err, errlen, "no feed %s", name != NULL ? name : "");
		rc = STORE_NOTFOUND;
	} else {
		rc = store_sqlerr(st, src, "reading a feed's status", err,
				  errlen);
	}
out:
	store_finalize(st, stmt);
	return rc;
}

int
store_feed_status_list(struct store *st, struct store_feed_status **out,
		       size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	struct store_feed_status *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc, src;

	rc = store_prepare(st, "SELECT " FEED_COLS " FROM feeds ORDER BY name",
			   &stmt, err, errlen);
	if (rc != STORE_OK)
		goto out;
	while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			arr = xreallocarray(arr, cap, sizeof(*arr));
		}
		read_status(stmt, &arr[cnt++]);
	}
	if (src != SQLITE_DONE)
		rc = store_sqlerr(st, src, "listing feeds", err, errlen);
out:
	store_finalize(st, stmt);
	if (rc != STORE_OK) {
		store_feed_status_free_array(arr, cnt);
		arr = NULL;
		cnt = 0;
	}
	*out = arr;
	*n = cnt;
	return rc;
}

void
store_feed_status_clear(struct store_feed_status *fs)
{
	if (fs == NULL)
		return;
	free(fs->name);
	free(fs->url);
	free(fs->etag);
	free(fs->last_modified);
	free(fs->last_error);
	memset(fs, 0, sizeof(*fs));
}

void
store_feed_status_free_array(struct store_feed_status *arr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_feed_status_clear(&arr[i]);
	free(arr);
}
