/*
 * Unit tests of the store: migrations and re-open, every promise change
 * and the event it leaves, validation of bad input, read-only and foreign
 * files, the scheduler hook, firing steps and the outbox state machine.
 * Each test works on its own database in a fresh folder under /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/promise.h"
#include "promised/store.h"
#include "../../src/store_internal.h"   /* the statement cache */

/* 2026-11-29T08:00:00Z: 20786 days after 1970-01-01, plus 8 h. */
#define T0 INT64_C(1795939200)
#define HOUR INT64_C(3600)

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	char err[512];
};

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int rc = 0;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/promised-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/promised.db", f->dir);
	f->st = store_open(f->path, &rc, f->err, sizeof(f->err));
	if (f->st == NULL) {
		fprintf(stderr, "store_open: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int ok = 0;

	if (f->st != NULL) {
		ok = store_integrity_check(f->st, f->err, sizeof(f->err));
		if (ok != 0)
			fprintf(stderr, "integrity: %s\n", f->err);
		store_close(f->st);
	}
	chmod(f->dir, 0700);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return ok;
}

static void
reopen(struct fx *f)
{
	int rc = 0;

	store_close(f->st);
	f->st = store_open(f->path, &rc, f->err, sizeof(f->err));
	assert_non_null(f->st);
	assert_int_equal(rc, STORE_OK);
}

static void
sample(struct promise *p, const char *title, const char *owner,
       int64_t due)
{
	memset(p, 0, sizeof(*p));
	p->title = (char *)title;
	p->owner = (char *)owner;
	p->due_at = due;
}

static int64_t
add_simple(struct fx *f, const char *owner, int64_t due)
{
	struct promise p;

	sample(&p, "Call back about the brakes", owner, due);
	assert_int_equal(store_add(f->st, &p, "reception", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	assert_true(p.id > 0);
	return p.id;
}

static void
get(struct fx *f, int64_t id, struct promise *out)
{
	assert_int_equal(store_get(f->st, id, out, f->err, sizeof(f->err)),
			 STORE_OK);
}

/* Returns the number of events and copies the last one's fields. */
static size_t
last_event(struct fx *f, int64_t id, struct event *last, char *detail,
	   size_t dlen, char *actor, size_t alen)
{
	struct event *ev = NULL;
	size_t n = 0;

	assert_int_equal(store_events(f->st, id, &ev, &n, f->err,
				      sizeof(f->err)), STORE_OK);
	assert_true(n > 0);
	*last = ev[n - 1];
	snprintf(detail, dlen, "%s", ev[n - 1].detail);
	snprintf(actor, alen, "%s", ev[n - 1].actor);
	last->detail = last->actor = NULL;
	event_free_array(ev, n);
	return n;
}

static void
write_be32(const char *path, long off, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24),
			       (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, 4, off), 4);
	close(fd);
}

static uint32_t
read_be32(const char *path, long off)
{
	unsigned char b[4];
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 4, off), 4);
	close(fd);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* ---- Opening and migrations ----------------------------------------- */

/* The number of migrations in store.c: 1 the tables, 2 feed sync,
 * 3 one-click actions, 4 digest rows without a promise, 5 meta. */
#define SCHEMA_LATEST 6

static void
test_migrations_fresh(void **state)
{
	struct fx *f = *state;
	struct store *second;
	char head[16];
	int rc = -99, fd;

	assert_int_equal(store_schema_version(f->st), SCHEMA_LATEST);
	assert_string_equal(store_path(f->st), f->path);
	/* A second handle on the same file sees the migrated schema. */
	second = store_open(f->path, &rc, f->err, sizeof(f->err));
	assert_non_null(second);
	assert_int_equal(rc, STORE_OK);
	assert_int_equal(store_schema_version(second), SCHEMA_LATEST);
	store_close(second);
	store_close(f->st);
	f->st = NULL;
	/* Closing the last handle checkpoints the WAL into the file, whose
	 * header holds user_version (offset 60) and application_id (68). */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, head, 16), 16);
	close(fd);
	assert_memory_equal(head, "SQLite format 3", 16);
	assert_int_equal(read_be32(f->path, 60), SCHEMA_LATEST);
	assert_int_equal(read_be32(f->path, 68), 0x50524d44);
	reopen(f);
}

static void
test_reopen_preserves_data(void **state)
{
	struct fx *f = *state;
	struct promise p;
	struct event last;
	char detail[256], actor[64];
	int64_t id = add_simple(f, "alice", T0 + 2 * HOUR);

	reopen(f);
	assert_int_equal(store_schema_version(f->st), SCHEMA_LATEST);
	get(f, id, &p);
	assert_string_equal(p.title, "Call back about the brakes");
	assert_string_equal(p.owner, "alice");
	assert_int_equal(p.due_at, T0 + 2 * HOUR);
	promise_clear(&p);
	assert_int_equal(last_event(f, id, &last, detail, sizeof(detail),
				    actor, sizeof(actor)), 1);
	assert_int_equal(last.kind, EVENT_CREATED);
	/* A second id follows the first: the table was not re-created. */
	assert_int_equal(add_simple(f, "bob", T0 + HOUR), id + 1);
}

static void
test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	int rc = 0;

	store_close(f->st);
	f->st = NULL;
	write_be32(f->path, 60, 99);
	assert_null(store_open(f->path, &rc, f->err, sizeof(f->err)));
	assert_int_equal(rc, STORE_ERR);
	assert_non_null(strstr(f->err, "newer"));
	assert_non_null(strstr(f->err, f->path));
	write_be32(f->path, 60, SCHEMA_LATEST);
	reopen(f);
}

static void
test_not_a_database(void **state)
{
	struct fx *f = *state;
	char path[160];
	FILE *fp;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("Customer Jansen: call back tonight about the quote.\n"
	      "This is a text file, not a database, and long enough to "
	      "fill a database header of one hundred bytes.\n", fp);
	fclose(fp);
	assert_null(store_open(path, &rc, f->err, sizeof(f->err)));
	assert_int_equal(rc, STORE_ERR);
	assert_non_null(strstr(f->err, path));
	assert_non_null(strstr(f->err, "not a promised database"));

	/* A kernel file: readable, not a database. */
	if (access("/proc/version", R_OK) == 0) {
		assert_null(store_open("/proc/version", &rc, f->err,
				       sizeof(f->err)));
		assert_int_not_equal(rc, STORE_OK);
		assert_non_null(strstr(f->err, "/proc/version"));
	}
}

static void
test_foreign_sqlite_file(void **state)
{
	struct fx *f = *state;
	int rc = 0;

	/* Same schema version, another program's application id. */
	store_close(f->st);
	f->st = NULL;
	write_be32(f->path, 68, 0x12345678);
	assert_null(store_open(f->path, &rc, f->err, sizeof(f->err)));
	assert_int_equal(rc, STORE_ERR);
	assert_non_null(strstr(f->err, "not a promised database"));
	write_be32(f->path, 68, 0x50524d44);
	reopen(f);
}

static void
test_missing_folder(void **state)
{
	struct fx *f = *state;
	char path[160];
	int rc = 0;

	snprintf(path, sizeof(path), "%s/no/such/folder/p.db", f->dir);
	assert_null(store_open(path, &rc, f->err, sizeof(f->err)));
	assert_int_equal(rc, STORE_ERR);
	assert_non_null(strstr(f->err, path));
	assert_null(store_open("", &rc, f->err, sizeof(f->err)));
	assert_int_equal(rc, STORE_ERR);
}

/* Runs the read-only checks as the current user; returns 0 when every
 * check held, else the number of the failed check. */
static int
readonly_checks(const char *db, const char *rodir)
{
	char err[512], newdb[200];
	struct store *st;
	int rc = 0;

	st = store_open(db, &rc, err, sizeof(err));
	if (st != NULL || rc != STORE_READONLY || strstr(err, db) == NULL)
		return 1;
	snprintf(newdb, sizeof(newdb), "%s/new.db", rodir);
	st = store_open(newdb, &rc, err, sizeof(err));
	if (st != NULL || rc != STORE_READONLY || strstr(err, rodir) == NULL)
		return 2;
	return 0;
}

/*
 * A read-only database file.  root ignores file modes, so when the tests
 * run as root the checks run in a child that has dropped to the unprivileged
 * user "nobody" (65534); for it the 0444 file and the 0555 folder are
 * really read-only, and the open fails in the same way it does for staff.
 */
static void
test_readonly_database(void **state)
{
	struct fx *f = *state;
	char rodir[160];
	int status = 0;
	pid_t pid;

	add_simple(f, "alice", T0 + HOUR);
	store_close(f->st);
	f->st = NULL;
	snprintf(rodir, sizeof(rodir), "%s/ro", f->dir);
	assert_int_equal(mkdir(rodir, 0555), 0);
	assert_int_equal(chmod(rodir, 0555), 0);
	assert_int_equal(chmod(f->path, 0444), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	if (geteuid() != 0) {
		assert_int_equal(readonly_checks(f->path, rodir), 0);
	} else {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(77);
			_exit(readonly_checks(f->path, rodir));
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) == 77)
			skip();
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(chmod(f->path, 0644), 0);
	reopen(f);
}

/* ---- Adding and validation ------------------------------------------ */

static void
test_add_get_all_fields(void **state)
{
	struct fx *f = *state;
	struct promise p, g;
	struct event last;
	char detail[256], actor[64];

	sample(&p, "Car ready for pick-up", "alice", T0 + 10 * HOUR);
	p.ref = (char *)"dms:RO-1234";
	p.details = (char *)"Brake pads front; customer waits";
	p.customer_name = (char *)"Jan Jansen";
	p.customer_phone = (char *)"+32470123456";
	p.customer_email = (char *)"jan@example.org";
	p.vehicle = (char *)"Ford Focus";
	p.vin = (char *)"1M8GDM9AXKP042788";
	p.team = (char *)"service";
	p.site = (char *)"gent";
	p.policy = (char *)"standard";
	p.source = (char *)"cli";
	p.target_at = T0 + 8 * HOUR;
	p.state = PROMISE_CLOSED;	/* ignored: the store sets it */
	assert_int_equal(store_add(f->st, &p, "reception", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	assert_int_equal(p.state, PROMISE_OPEN);
	get(f, p.id, &g);
	assert_string_equal(g.ref, "dms:RO-1234");
	assert_string_equal(g.details, "Brake pads front; customer waits");
	assert_string_equal(g.customer_name, "Jan Jansen");
	assert_string_equal(g.customer_phone, "+32470123456");
	assert_string_equal(g.customer_email, "jan@example.org");
	assert_string_equal(g.vehicle, "Ford Focus");
	assert_string_equal(g.vin, "1M8GDM9AXKP042788");
	assert_string_equal(g.team, "service");
	assert_string_equal(g.site, "gent");
	assert_string_equal(g.policy, "standard");
	assert_string_equal(g.source, "cli");
	assert_null(g.closed_by);
	assert_int_equal(g.target_at, T0 + 8 * HOUR);
	assert_int_equal(g.due_at, T0 + 10 * HOUR);
	assert_int_equal(g.created_at, T0);
	assert_int_equal(g.updated_at, T0);
	assert_int_equal(g.state, PROMISE_OPEN);
	assert_int_equal(g.outcome, OUTCOME_NONE);
	/* Default scheduler: the due while it is still ahead. */
	assert_int_equal(g.next_step_at, T0 + 10 * HOUR);
	promise_clear(&g);
	assert_int_equal(store_get_by_ref(f->st, "dms:RO-1234", &g, f->err,
					  sizeof(f->err)), STORE_OK);
	assert_int_equal(g.id, p.id);
	promise_clear(&g);
	assert_int_equal(store_get_by_ref(f->st, "dms:nope", &g, f->err,
					  sizeof(f->err)), STORE_NOTFOUND);
	assert_int_equal(store_get(f->st, 999, &g, f->err, sizeof(f->err)),
			 STORE_NOTFOUND);
	assert_int_equal(last_event(f, p.id, &last, detail, sizeof(detail),
				    actor, sizeof(actor)), 1);
	assert_int_equal(last.kind, EVENT_CREATED);
	assert_string_equal(actor, "reception");
	assert_string_equal(detail, "due 2026-11-29T18:00:00Z, target "
			    "2026-11-29T16:00:00Z, owner alice");
	assert_int_equal(last.at, T0);
	assert_int_equal(last.new_due, T0 + 10 * HOUR);
}

static void
test_generated_ref(void **state)
{
	struct fx *f = *state;
	struct promise p, g;
	char want[32];

	sample(&p, "Send the quote", "bob", T0 + HOUR);
	p.ref = (char *)"";
	assert_int_equal(store_add(f->st, &p, "bob", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	get(f, p.id, &g);
	snprintf(want, sizeof(want), "promised:%lld", (long long)p.id);
	assert_string_equal(g.ref, want);
	promise_clear(&g);
	sample(&p, "Another", "bob", T0 + HOUR);
	assert_int_equal(store_add(f->st, &p, "bob", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	get(f, p.id, &g);
	snprintf(want, sizeof(want), "promised:%lld", (long long)p.id);
	assert_string_equal(g.ref, want);
	promise_clear(&g);
}

static void
test_duplicate_ref(void **state)
{
	struct fx *f = *state;
	struct promise p;
	int64_t first;
	size_t n = 0;
	struct promise *arr = NULL;

	sample(&p, "Call back", "alice", T0 + HOUR);
	p.ref = (char *)"crm:42";
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	first = p.id;
	sample(&p, "Call back again", "bob", T0 + 2 * HOUR);
	p.ref = (char *)"crm:42";
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(p.id, first);
	assert_non_null(strstr(f->err, "crm:42"));
	assert_int_equal(store_list(f->st, NULL, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	promise_free_array(arr, n);
}

struct bad_case {
	const char *field;     /* member to set */
	const char *value;
	const char *want;      /* expected start of err */
};

static void
set_field(struct promise *p, const char *field, const char *value)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "title", offsetof(struct promise, title) },
		{ "owner", offsetof(struct promise, owner) },
		{ "details", offsetof(struct promise, details) },
		{ "customer_name", offsetof(struct promise, customer_name) },
		{ "customer_phone", offsetof(struct promise, customer_phone) },
		{ "customer_email", offsetof(struct promise, customer_email) },
		{ "vehicle", offsetof(struct promise, vehicle) },
		{ "vin", offsetof(struct promise, vin) },
		{ "team", offsetof(struct promise, team) },
		{ "site", offsetof(struct promise, site) },
		{ "ref", offsetof(struct promise, ref) },
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].name, field) == 0)
			*(const char **)(void *)((char *)p + fields[i].off) =
				value;
}

static void
test_validation(void **state)
{
	struct fx *f = *state;
	static char long257[258], long65537[65538];
	const struct bad_case cases[] = {
		{ "title", NULL, "title is required" },
		{ "title", "", "title is required" },
		{ "title", "Call \xff back", "title is not valid UTF-8" },
		{ "title", "\xc3\x28", "title is not valid UTF-8" },
		{ "owner", NULL, "owner is required" },
		{ "owner", "", "owner is required" },
		{ "owner", long257, "owner is too long (257 bytes; at most 256)" },
		{ "details", long65537,
		  "details is too long (65537 bytes; at most 65536)" },
		{ "customer_name", "Jan \xed\xa0\x80", "customer_name is not "
		  "valid UTF-8" },
		{ "customer_phone", long257, "customer_phone is too long" },
		{ "customer_email", long257, "customer_email is too long" },
		{ "vehicle", long257, "vehicle is too long" },
		{ "team", long257, "team is too long" },
		{ "site", "\xfe", "site is not valid UTF-8" },
		{ "ref", long257, "ref is too long" },
		{ "vin", "1M8GDM9AXKP04278", "vin is invalid" },
		{ "vin", "1M8GDM9AXKP0I2788", "vin is invalid" },
	};
	struct promise p, *arr = NULL;
	size_t i, n = 0;

	memset(long257, 'x', 257);
	memset(long65537, 'y', 65537);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sample(&p, "Call back", "alice", T0 + HOUR);
		set_field(&p, cases[i].field, cases[i].value);
		f->err[0] = '\0';
		assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
					   sizeof(f->err)), STORE_INVALID);
		if (strncmp(f->err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
				 f->err, cases[i].want);
	}
	sample(&p, "Call back", "alice", 0);
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_INVALID);
	assert_non_null(strstr(f->err, "due_at"));
	sample(&p, "Call back", "alice", -5);
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_INVALID);
	/* Nothing of the above was stored. */
	assert_int_equal(store_list(f->st, NULL, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 0);
	promise_free_array(arr, n);
}

static void
test_huge_title(void **state)
{
	struct fx *f = *state;
	size_t len = 10 * 1024 * 1024;
	char *title = malloc(len + 1);
	struct promise p;

	assert_non_null(title);
	memset(title, 'a', len);
	title[len] = '\0';
	sample(&p, title, "alice", T0 + HOUR);
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_INVALID);
	assert_string_equal(f->err,
			    "title is too long (10485760 bytes; at most 1000)");
	/* 1000 bytes is the limit and still fits. */
	title[1000] = '\0';
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	free(title);
}

static void
test_vin_check_digit_only_warns(void **state)
{
	struct fx *f = *state;
	struct promise p, g;

	/* Position 9 should be X; 5 is a wrong check digit, still stored. */
	sample(&p, "Order parts", "alice", T0 + HOUR);
	p.vin = (char *)"1M8GDM9A5KP042788";
	assert_int_equal(store_add(f->st, &p, "a", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	get(f, p.id, &g);
	assert_string_equal(g.vin, "1M8GDM9A5KP042788");
	promise_clear(&g);
}

static void
test_sql_text_verbatim(void **state)
{
	struct fx *f = *state;
	const char *evil = "Robert'); DROP TABLE promises;--";
	const char *evil2 = "x' OR '1'='1";
	struct promise p, g, *arr = NULL;
	struct store_filter flt = { 0 };
	size_t n = 0;

	sample(&p, evil, evil2, T0 + HOUR);
	p.customer_name = (char *)"O'Brien \"Bobby\" %s %n \\";
	p.ref = (char *)"'; DELETE FROM events; --";
	assert_int_equal(store_add(f->st, &p, evil2, T0, f->err,
				   sizeof(f->err)), STORE_OK);
	get(f, p.id, &g);
	assert_string_equal(g.title, evil);
	assert_string_equal(g.owner, evil2);
	assert_string_equal(g.customer_name, "O'Brien \"Bobby\" %s %n \\");
	assert_string_equal(g.ref, "'; DELETE FROM events; --");
	promise_clear(&g);
	/* The owner filter matches exactly, not as SQL. */
	add_simple(f, "alice", T0 + HOUR);
	flt.owner = evil2;
	assert_int_equal(store_list(f->st, &flt, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(arr[0].title, evil);
	promise_free_array(arr, n);
}

/* ---- State changes --------------------------------------------------- */

static void
test_close_kept_exactly_at_due(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "alice",
					     "called back", T0 + HOUR, f->err,
					     sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.state, PROMISE_CLOSED);
	assert_int_equal(g.outcome, OUTCOME_KEPT);
	assert_int_equal(g.closed_at, T0 + HOUR);
	assert_string_equal(g.closed_by, "alice");
	assert_int_equal(g.next_step_at, 0);
	promise_clear(&g);
	assert_int_equal(last_event(f, id, &last, detail, sizeof(detail),
				    actor, sizeof(actor)), 2);
	assert_int_equal(last.kind, EVENT_CLOSED);
	assert_string_equal(detail, "kept: called back");
	assert_string_equal(actor, "alice");
	/* Closing twice is a conflict and leaves no event. */
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "bob",
					     NULL, T0 + 2 * HOUR, f->err,
					     sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(last_event(f, id, &last, detail, sizeof(detail),
				    actor, sizeof(actor)), 2);
}

static void
test_close_late_and_cancelled(void **state)
{
	struct fx *f = *state;
	int64_t a = add_simple(f, "alice", T0 + HOUR);
	int64_t b = add_simple(f, "alice", T0 + HOUR);
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_close_promise(f->st, a, OUTCOME_KEPT, "alice",
					     NULL, T0 + HOUR + 1, f->err,
					     sizeof(f->err)), STORE_OK);
	get(f, a, &g);
	assert_int_equal(g.outcome, OUTCOME_LATE);
	promise_clear(&g);
	last_event(f, a, &last, detail, sizeof(detail), actor, sizeof(actor));
	assert_string_equal(detail, "late");
	/* Cancelled stays cancelled, however late. */
	assert_int_equal(store_close_promise(f->st, b, OUTCOME_CANCELLED,
					     "mgr", "customer sold the car",
					     T0 + 5 * HOUR, f->err,
					     sizeof(f->err)), STORE_OK);
	get(f, b, &g);
	assert_int_equal(g.outcome, OUTCOME_CANCELLED);
	promise_clear(&g);
	/* Only kept or cancelled may be asked for. */
	assert_int_equal(store_close_promise(f->st, b, OUTCOME_LATE, "x",
					     NULL, T0, f->err, sizeof(f->err)),
			 STORE_INVALID);
	assert_int_equal(store_close_promise(f->st, 999, OUTCOME_KEPT, "x",
					     NULL, T0, f->err, sizeof(f->err)),
			 STORE_NOTFOUND);
}

static void
test_ack(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_ack(f->st, id, "alice", T0 + 60, f->err,
				   sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.state, PROMISE_ACKED);
	assert_int_equal(g.acked_at, T0 + 60);
	assert_int_equal(g.updated_at, T0 + 60);
	promise_clear(&g);
	assert_int_equal(last_event(f, id, &last, detail, sizeof(detail),
				    actor, sizeof(actor)), 2);
	assert_int_equal(last.kind, EVENT_ACKED);
	assert_string_equal(actor, "alice");
	assert_int_equal(store_ack(f->st, id, "alice", T0 + 61, f->err,
				   sizeof(f->err)), STORE_CONFLICT);
	assert_non_null(strstr(f->err, "already acked"));
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "alice",
					     NULL, T0 + 90, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_ack(f->st, id, "alice", T0 + 91, f->err,
				   sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(store_ack(f->st, 999, "alice", T0, f->err,
				   sizeof(f->err)), STORE_NOTFOUND);
}

static void
test_snooze(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + 4 * HOUR);
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_snooze(f->st, id, T0, "alice", T0, f->err,
				      sizeof(f->err)), STORE_INVALID);
	assert_int_equal(store_snooze(f->st, id, T0 + 2 * HOUR, "alice", T0,
				      f->err, sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.snoozed_until, T0 + 2 * HOUR);
	promise_clear(&g);
	last_event(f, id, &last, detail, sizeof(detail), actor, sizeof(actor));
	assert_int_equal(last.kind, EVENT_SNOOZED);
	assert_string_equal(detail, "until 2026-11-29T10:00:00Z");
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_CANCELLED,
					     "a", NULL, T0, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_snooze(f->st, id, T0 + HOUR, "alice", T0,
				      f->err, sizeof(f->err)), STORE_CONFLICT);
}

static void
test_reassign(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + 4 * HOUR);
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_ack(f->st, id, "alice", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	assert_int_equal(store_reassign(f->st, id, "alice", NULL, "mgr", T0,
					f->err, sizeof(f->err)),
			 STORE_CONFLICT);
	assert_int_equal(store_reassign(f->st, id, "", NULL, "mgr", T0,
					f->err, sizeof(f->err)), STORE_INVALID);
	assert_int_equal(store_reassign(f->st, id, "bob", NULL, "mgr", T0 + 5,
					f->err, sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_string_equal(g.owner, "bob");
	/* bob has not taken it yet. */
	assert_int_equal(g.state, PROMISE_OPEN);
	assert_int_equal(g.acked_at, 0);
	promise_clear(&g);
	last_event(f, id, &last, detail, sizeof(detail), actor, sizeof(actor));
	assert_int_equal(last.kind, EVENT_REASSIGNED);
	assert_string_equal(detail, "alice -> bob");
	assert_string_equal(actor, "mgr");
	assert_int_equal(store_reassign(f->st, id, "carol", "parts", "mgr",
					T0 + 6, f->err, sizeof(f->err)),
			 STORE_OK);
	get(f, id, &g);
	assert_string_equal(g.team, "parts");
	promise_clear(&g);
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "carol",
					     NULL, T0 + 7, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_reassign(f->st, id, "dave", NULL, "mgr", T0 + 8,
					f->err, sizeof(f->err)),
			 STORE_CONFLICT);
}

static void
test_renegotiate(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct store_fire fire = { .kind = EVENT_ESCALATED,
				   .fired_through = T0 + HOUR,
				   .mark_lapsed = 1 };
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_fire(f->st, id, &fire, T0 + HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.lapsed_at, T0 + HOUR);
	assert_int_equal(g.next_step_at, 0);
	promise_clear(&g);
	assert_int_equal(store_renegotiate(f->st, id, T0 + HOUR, "x", "alice",
					   T0 + 2 * HOUR, f->err,
					   sizeof(f->err)), STORE_INVALID);
	assert_int_equal(store_renegotiate(f->st, id, T0 + 26 * HOUR, "",
					   "alice", T0 + 2 * HOUR, f->err,
					   sizeof(f->err)), STORE_INVALID);
	assert_non_null(strstr(f->err, "reason"));
	assert_int_equal(store_renegotiate(f->st, id, T0 + 26 * HOUR,
					   "parts arrive tomorrow", "alice",
					   T0 + 2 * HOUR, f->err,
					   sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.due_at, T0 + 26 * HOUR);
	assert_int_equal(g.renegotiations, 1);
	assert_int_equal(g.lapsed_at, 0);
	/* The new due is ahead of the watermark: scheduled again. */
	assert_int_equal(g.next_step_at, T0 + 26 * HOUR);
	promise_clear(&g);
	last_event(f, id, &last, detail, sizeof(detail), actor, sizeof(actor));
	assert_int_equal(last.kind, EVENT_RENEGOTIATED);
	assert_int_equal(last.old_due, T0 + HOUR);
	assert_int_equal(last.new_due, T0 + 26 * HOUR);
	assert_non_null(strstr(detail, "parts arrive tomorrow"));
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "a",
					     NULL, T0 + 3 * HOUR, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_renegotiate(f->st, id, T0 + 50 * HOUR, "again",
					   "alice", T0 + 3 * HOUR, f->err,
					   sizeof(f->err)), STORE_CONFLICT);
}

static void
test_reopen(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct promise g;
	struct event last;
	char detail[256], actor[64];

	assert_int_equal(store_reopen(f->st, id, "why", "alice", T0, f->err,
				      sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "alice",
					     NULL, T0 + 10, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_reopen(f->st, id, "customer called: not fixed",
				      "mgr", T0 + 20, f->err,
				      sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.state, PROMISE_OPEN);
	assert_int_equal(g.outcome, OUTCOME_NONE);
	assert_int_equal(g.closed_at, 0);
	assert_null(g.closed_by);
	assert_int_equal(g.next_step_at, T0 + HOUR);
	promise_clear(&g);
	assert_int_equal(last_event(f, id, &last, detail, sizeof(detail),
				    actor, sizeof(actor)), 3);
	assert_int_equal(last.kind, EVENT_REOPENED);
	assert_string_equal(detail, "customer called: not fixed");
	assert_string_equal(actor, "mgr");
}

static void
test_list_filters(void **state)
{
	struct fx *f = *state;
	struct promise p, *arr = NULL;
	struct store_filter flt;
	size_t n = 0;
	int64_t a, b, c, d;

	sample(&p, "a", "alice", T0 + 3 * HOUR);
	p.team = (char *)"service";
	p.site = (char *)"gent";
	assert_int_equal(store_add(f->st, &p, "x", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	a = p.id;
	sample(&p, "b", "bob", T0 + HOUR);
	p.team = (char *)"parts";
	p.site = (char *)"gent";
	assert_int_equal(store_add(f->st, &p, "x", T0, f->err,
				   sizeof(f->err)), STORE_OK);
	b = p.id;
	c = add_simple(f, "alice", T0 + HOUR);       /* same due as b */
	d = add_simple(f, "alice", T0 + 2 * HOUR);
	assert_int_equal(store_close_promise(f->st, d, OUTCOME_KEPT, "x",
					     NULL, T0, f->err, sizeof(f->err)),
			 STORE_OK);

	assert_int_equal(store_list(f->st, NULL, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 4);
	/* due_at, then id */
	assert_int_equal(arr[0].id, b);
	assert_int_equal(arr[1].id, c);
	assert_int_equal(arr[2].id, d);
	assert_int_equal(arr[3].id, a);
	promise_free_array(arr, n);

	memset(&flt, 0, sizeof(flt));
	flt.open_only = 1;
	flt.owner = "alice";
	assert_int_equal(store_list(f->st, &flt, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(arr[0].id, c);
	assert_int_equal(arr[1].id, a);
	promise_free_array(arr, n);

	memset(&flt, 0, sizeof(flt));
	flt.overdue = 1;
	flt.now = T0 + 2 * HOUR + 30 * 60;
	assert_int_equal(store_list(f->st, &flt, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);      /* b and c; d is closed */
	promise_free_array(arr, n);

	memset(&flt, 0, sizeof(flt));
	flt.due_from = T0 + 2 * HOUR;
	flt.due_to = T0 + 3 * HOUR;  /* exclusive */
	assert_int_equal(store_list(f->st, &flt, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(arr[0].id, d);
	promise_free_array(arr, n);

	memset(&flt, 0, sizeof(flt));
	flt.site = "gent";
	flt.team = "service";
	assert_int_equal(store_list(f->st, &flt, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(arr[0].id, a);
	promise_free_array(arr, n);

	memset(&flt, 0, sizeof(flt));
	flt.limit = 3;
	assert_int_equal(store_list(f->st, &flt, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 3);
	promise_free_array(arr, n);
}

/* ---- The scheduler hook --------------------------------------------- */

struct sched {
	int calls;
	enum promise_state seen_state;
	int64_t seen_now;
};

/* One hour before due while open, ten minutes after due once acked,
 * nothing when closed. */
static int64_t
fake_next(void *ctx, const struct promise *p, int64_t now)
{
	struct sched *s = ctx;

	s->calls++;
	s->seen_state = p->state;
	s->seen_now = now;
	if (p->state == PROMISE_CLOSED)
		return 0;
	return p->state == PROMISE_ACKED ? p->due_at + 600 :
	       p->due_at - HOUR;
}

static void
test_custom_next_fn(void **state)
{
	struct fx *f = *state;
	struct sched s = { 0 };
	struct promise g;
	int64_t id, other;

	store_set_next_fn(f->st, fake_next, &s);
	id = add_simple(f, "alice", T0 + 5 * HOUR);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.seen_now, T0);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, T0 + 4 * HOUR);
	promise_clear(&g);

	assert_int_equal(store_ack(f->st, id, "alice", T0 + 1, f->err,
				   sizeof(f->err)), STORE_OK);
	assert_int_equal(s.calls, 2);
	/* The scheduler sees the promise as the change left it. */
	assert_int_equal(s.seen_state, PROMISE_ACKED);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, T0 + 5 * HOUR + 600);
	promise_clear(&g);

	assert_int_equal(store_renegotiate(f->st, id, T0 + 8 * HOUR, "later",
					   "alice", T0 + 2, f->err,
					   sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, T0 + 8 * HOUR + 600);
	promise_clear(&g);

	/* A refused change does not call it. */
	assert_int_equal(store_ack(f->st, id, "alice", T0 + 3, f->err,
				   sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(s.calls, 3);

	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "alice",
					     NULL, T0 + 4, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(s.seen_state, PROMISE_CLOSED);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, 0);
	promise_clear(&g);

	/* Back to the default, then recompute every open promise. */
	store_set_next_fn(f->st, NULL, NULL);
	other = add_simple(f, "bob", T0 + 6 * HOUR);
	get(f, other, &g);
	assert_int_equal(g.next_step_at, T0 + 6 * HOUR);
	promise_clear(&g);
	store_set_next_fn(f->st, fake_next, &s);
	s.calls = 0;
	assert_int_equal(store_recompute_all(f->st, T0 + 10, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(s.calls, 1);   /* the closed one is skipped */
	get(f, other, &g);
	assert_int_equal(g.next_step_at, T0 + 5 * HOUR);
	promise_clear(&g);
}

/* A recompute for a fingerprint is done once: the same fingerprint again
 * (a restart or a reload of the same config) walks nothing, another one
 * recomputes and is remembered, also across a reopen. */
static void
test_recompute_for(void **state)
{
	struct fx *f = *state;
	struct sched s = { 0 };
	struct promise g;
	int64_t id;
	int skipped = -1;

	id = add_simple(f, "alice", T0 + 6 * HOUR);
	store_set_next_fn(f->st, fake_next, &s);
	assert_int_equal(store_recompute_for(f->st, "A", T0, &skipped, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(skipped, 0);
	assert_int_equal(s.calls, 1);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, T0 + 5 * HOUR);
	promise_clear(&g);

	s.calls = 0;
	assert_int_equal(store_recompute_for(f->st, "A", T0, &skipped, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(skipped, 1);
	assert_int_equal(s.calls, 0);

	/* Remembered in the database, not in the handle. */
	reopen(f);
	store_set_next_fn(f->st, NULL, NULL);
	assert_int_equal(store_recompute_for(f->st, "A", T0, &skipped, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(skipped, 1);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, T0 + 5 * HOUR);
	promise_clear(&g);

	/* Another config: recomputed with the scheduler now installed. */
	assert_int_equal(store_recompute_for(f->st, "B", T0, &skipped, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(skipped, 0);
	get(f, id, &g);
	assert_int_equal(g.next_step_at, T0 + 6 * HOUR);
	promise_clear(&g);
}

/* While a change holds the write lock, a second handle is busy. */
struct busy_probe {
	const char *path;
	int rc;
	char err[512];
};

static int64_t
probe_next(void *ctx, const struct promise *p, int64_t now)
{
	struct busy_probe *b = ctx;
	struct store *other;
	struct promise q;
	int orc = 0;

	(void)now;
	other = store_open(b->path, &orc, b->err, sizeof(b->err));
	if (other == NULL) {
		b->rc = 100 + orc;
		return p->due_at;
	}
	sample(&q, "second writer", "bob", T0 + HOUR);
	b->rc = store_add(other, &q, "bob", T0, b->err, sizeof(b->err));
	store_close(other);
	return p->due_at;
}

static void
test_busy(void **state)
{
	struct fx *f = *state;
	struct busy_probe b = { .path = f->path, .rc = 1 };
	struct promise *arr = NULL;
	size_t n = 0;

	setenv("PROMISED_BUSY_TIMEOUT_MS", "50", 1);
	store_set_next_fn(f->st, probe_next, &b);
	add_simple(f, "alice", T0 + HOUR);
	unsetenv("PROMISED_BUSY_TIMEOUT_MS");
	store_set_next_fn(f->st, NULL, NULL);
	assert_int_equal(b.rc, STORE_BUSY);
	assert_non_null(strstr(b.err, f->path));
	assert_int_equal(store_list(f->st, NULL, &arr, &n, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	promise_free_array(arr, n);
}

/* ---- Firing and the outbox ------------------------------------------ */

static void
notif(struct notification *nt, const char *key, const char *to,
      const char *channel)
{
	memset(nt, 0, sizeof(*nt));
	nt->step = (char *)"lapse";
	nt->step_index = 2;
	nt->channel = (char *)channel;
	nt->recipient = (char *)to;
	nt->subject = (char *)"Promise lapsed";
	nt->body = (char *)"Call Jan Jansen back";
	nt->idem_key = (char *)key;
	nt->scheduled_at = T0 + HOUR;
}

static size_t
count_kind(struct fx *f, int64_t id, enum event_kind k)
{
	struct event *ev = NULL;
	size_t i, n = 0, c = 0;

	assert_int_equal(store_events(f->st, id, &ev, &n, f->err,
				      sizeof(f->err)), STORE_OK);
	for (i = 0; i < n; i++)
		c += ev[i].kind == k;
	event_free_array(ev, n);
	return c;
}

static void
test_fire_once(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct notification ns[2], *out = NULL;
	struct store_fire fire = { .notifs = ns, .nnotifs = 2,
				   .fired_through = T0 + HOUR,
				   .mark_lapsed = 1,
				   .kind = EVENT_ESCALATED,
				   .detail = "lapse: alice, mgr" };
	struct promise g;
	size_t n = 0;

	notif(&ns[0], "k1", "alice", "sms");
	notif(&ns[1], "k2", "mgr", "mail");
	assert_int_equal(store_fire(f->st, id, &fire, T0 + HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_fire(f->st, id, &fire, T0 + HOUR + 5, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_list(f->st, -1, id, 0, &out, &n, f->err,
					   sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);
	/* newest first */
	assert_string_equal(out[0].idem_key, "k2");
	assert_string_equal(out[1].idem_key, "k1");
	assert_int_equal(out[1].state, NOTIF_PENDING);
	assert_int_equal(out[1].step_index, 2);
	assert_int_equal(out[1].scheduled_at, T0 + HOUR);
	assert_int_equal(out[1].next_try_at, T0 + HOUR);
	assert_string_equal(out[1].body, "Call Jan Jansen back");
	notification_free_array(out, n);
	assert_int_equal(count_kind(f, id, EVENT_LAPSED), 1);
	assert_int_equal(count_kind(f, id, EVENT_ESCALATED), 1);
	get(f, id, &g);
	assert_int_equal(g.lapsed_at, T0 + HOUR);
	assert_int_equal(g.fired_through, T0 + HOUR);
	assert_int_equal(g.next_step_at, 0);
	promise_clear(&g);

	/* The watermark never moves back. */
	fire.fired_through = T0;
	fire.nnotifs = 0;
	assert_int_equal(store_fire(f->st, id, &fire, T0 + 2 * HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	get(f, id, &g);
	assert_int_equal(g.fired_through, T0 + HOUR);
	assert_int_equal(g.lapsed_at, T0 + HOUR);
	promise_clear(&g);

	fire.kind = EVENT_ACKED;
	assert_int_equal(store_fire(f->st, id, &fire, T0, f->err,
				    sizeof(f->err)), STORE_INVALID);
	fire.kind = EVENT_REMINDED;
	assert_int_equal(store_fire(f->st, 999, &fire, T0, f->err,
				    sizeof(f->err)), STORE_NOTFOUND);
	assert_int_equal(store_close_promise(f->st, id, OUTCOME_KEPT, "a",
					     NULL, T0 + 3 * HOUR, f->err,
					     sizeof(f->err)), STORE_OK);
	assert_int_equal(store_fire(f->st, id, &fire, T0 + 3 * HOUR, f->err,
				    sizeof(f->err)), STORE_CONFLICT);
}

/* Outbox rows of promise id. */
static size_t
count_notifs(struct fx *f, int64_t id)
{
	struct notification *out = NULL;
	size_t n = 0;

	assert_int_equal(store_outbox_list(f->st, -1, id, 0, &out, &n, f->err,
					   sizeof(f->err)), STORE_OK);
	notification_free_array(out, n);
	return n;
}

/* A batch commits its changes together; a change that fails inside it
 * is undone alone; a batch ended with an error keeps nothing. */
static void
test_batch(void **state)
{
	struct fx *f = *state;
	int64_t a = add_simple(f, "alice", T0 + HOUR);
	int64_t b = add_simple(f, "bob", T0 + HOUR);
	struct notification ns[1];
	struct store_fire fire = { .notifs = ns, .nnotifs = 1,
				   .fired_through = T0 + HOUR,
				   .kind = EVENT_REMINDED };
	struct promise g;

	notif(&ns[0], "ka", "alice", "mail");
	assert_int_equal(store_batch_begin(f->st, f->err, sizeof(f->err)),
			 STORE_OK);
	/* No batch inside a batch. */
	assert_int_equal(store_batch_begin(f->st, f->err, sizeof(f->err)),
			 STORE_ERR);
	assert_int_equal(store_fire(f->st, a, &fire, T0 + HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	/* Fails inside the batch (no such promise): the other stays. */
	assert_int_equal(store_fire(f->st, 999, &fire, T0 + HOUR, f->err,
				    sizeof(f->err)), STORE_NOTFOUND);
	notif(&ns[0], "kb", "bob", "mail");
	assert_int_equal(store_fire(f->st, b, &fire, T0 + HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_batch_end(f->st, STORE_OK, f->err,
					 sizeof(f->err)), STORE_OK);
	assert_int_equal(store_batch_end(f->st, STORE_OK, f->err,
					 sizeof(f->err)), STORE_ERR);
	/* Durable: seen through a fresh handle. */
	reopen(f);
	assert_int_equal(count_notifs(f, a), 1);
	assert_int_equal(count_notifs(f, b), 1);

	/* Ended with an error: nothing of it is kept. */
	notif(&ns[0], "ka2", "alice", "mail");
	fire.fired_through = T0 + 2 * HOUR;
	assert_int_equal(store_batch_begin(f->st, f->err, sizeof(f->err)),
			 STORE_OK);
	assert_int_equal(store_fire(f->st, a, &fire, T0 + 2 * HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_batch_end(f->st, STORE_ERR, f->err,
					 sizeof(f->err)), STORE_ERR);
	assert_int_equal(count_notifs(f, a), 1);
	get(f, a, &g);
	assert_int_equal(g.fired_through, T0 + HOUR);
	promise_clear(&g);
	/* Outside a batch each change commits on its own again. */
	assert_int_equal(store_fire(f->st, a, &fire, T0 + 2 * HOUR, f->err,
				    sizeof(f->err)), STORE_OK);
	reopen(f);
	assert_int_equal(count_notifs(f, a), 2);
}

static void
test_next_wake_and_due(void **state)
{
	struct fx *f = *state;
	int64_t wake = -1, a, b, c;
	struct notification ns[1], *out = NULL;
	struct store_fire fire = { .notifs = ns, .nnotifs = 1,
				   .kind = EVENT_REMINDED };
	size_t n = 0;

	assert_int_equal(store_next_wake(f->st, &wake, f->err,
					 sizeof(f->err)), STORE_OK);
	assert_int_equal(wake, 0);
	a = add_simple(f, "alice", T0 + 3 * HOUR);
	b = add_simple(f, "bob", T0 + 2 * HOUR);
	c = add_simple(f, "carol", T0 + HOUR);
	assert_int_equal(store_close_promise(f->st, c, OUTCOME_KEPT, "carol",
					     NULL, T0, f->err, sizeof(f->err)),
			 STORE_OK);
	assert_int_equal(store_next_wake(f->st, &wake, f->err,
					 sizeof(f->err)), STORE_OK);
	assert_int_equal(wake, T0 + 2 * HOUR);

	/* Due at T0 + 3h: bob's then alice's, read whole, at most limit;
	 * carol's is closed. */
	{
		struct promise *ps = NULL;

		assert_int_equal(store_due_loaded(f->st, T0 + 3 * HOUR, 0, &ps,
						  &n, f->err, sizeof(f->err)),
				 STORE_OK);
		assert_int_equal(n, 2);
		assert_int_equal(ps[0].id, b);
		assert_string_equal(ps[0].owner, "bob");
		assert_int_equal(ps[0].due_at, T0 + 2 * HOUR);
		assert_int_equal(ps[1].id, a);
		promise_clear(&ps[0]);
		promise_clear(&ps[1]);
		free(ps);
		assert_int_equal(store_due_loaded(f->st, T0 + 3 * HOUR, 1, &ps,
						  &n, f->err, sizeof(f->err)),
				 STORE_OK);
		assert_int_equal(n, 1);
		assert_int_equal(ps[0].id, b);
		promise_clear(&ps[0]);
		free(ps);
		assert_int_equal(store_due_loaded(f->st, T0 + HOUR, 0, &ps, &n,
						  f->err, sizeof(f->err)),
				 STORE_OK);
		assert_int_equal(n, 0);
		free(ps);
	}

	/* A notification to retry earlier than any step wins. */
	notif(&ns[0], "r1", "alice", "sms");
	ns[0].next_try_at = T0 + 30 * 60;
	assert_int_equal(store_fire(f->st, a, &fire, T0, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_next_wake(f->st, &wake, f->err,
					 sizeof(f->err)), STORE_OK);
	assert_int_equal(wake, T0 + 30 * 60);
	assert_int_equal(store_outbox_claim(f->st, T0 + 30 * 60, 0, &out, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_outbox_result(f->st, out[0].id, NOTIF_RETRY,
					     T0 + 40 * 60, "timeout", NULL,
					     T0 + 30 * 60, f->err,
					     sizeof(f->err)), STORE_OK);
	notification_free_array(out, n);
	assert_int_equal(store_next_wake(f->st, &wake, f->err,
					 sizeof(f->err)), STORE_OK);
	assert_int_equal(wake, T0 + 40 * 60);
}

/* One integer from a statement of store_prepare, given back after. */
static int64_t
ask(struct fx *f, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int64_t v;

	assert_int_equal(store_prepare(f->st, sql, &stmt, f->err,
				       sizeof(f->err)), STORE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	store_finalize(f->st, stmt);
	return v;
}

/* The statement cache: more texts than it keeps, the same text twice
 * at once, and every slot in use; each answer stays right. */
static void
test_statement_cache(void **state)
{
	struct fx *f = *state;
	sqlite3_stmt *held[STORE_STMT_CACHE + 1], *a = NULL, *b = NULL;
	char sql[64];
	int i;

	for (i = 0; i < 3 * STORE_STMT_CACHE; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		assert_int_equal(ask(f, sql), i);
	}
	assert_int_equal(ask(f, "SELECT 5"), 5);
	assert_int_equal(store_prepare(f->st, "SELECT 7", &a, f->err,
				       sizeof(f->err)), STORE_OK);
	assert_int_equal(store_prepare(f->st, "SELECT 7", &b, f->err,
				       sizeof(f->err)), STORE_OK);
	assert_ptr_not_equal(a, b);
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	store_finalize(f->st, a);
	store_finalize(f->st, b);
	for (i = 0; i <= STORE_STMT_CACHE; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d + 1000", i);
		assert_int_equal(store_prepare(f->st, sql, &held[i], f->err,
					       sizeof(f->err)), STORE_OK);
	}
	for (i = 0; i <= STORE_STMT_CACHE; i++) {
		assert_int_equal(sqlite3_step(held[i]), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(held[i], 0), i + 1000);
		store_finalize(f->st, held[i]);
	}
	assert_int_equal(ask(f, "SELECT 1000"), 1000);
	/* Writes still go through the kept BEGIN and COMMIT. */
	add_simple(f, "alice", T0 + HOUR);
}

/* Claims take pending and retry rows together, oldest next_try_at
 * first, and at most the limit. */
static void
test_outbox_claim_order(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct notification ns[4], *out = NULL;
	struct store_fire fire = { .notifs = ns, .nnotifs = 4,
				   .kind = EVENT_REMINDED,
				   .fired_through = T0 };
	size_t n = 0;

	notif(&ns[0], "k1", "alice", "sms");
	notif(&ns[1], "k2", "bob", "sms");
	notif(&ns[2], "k3", "carol", "sms");
	notif(&ns[3], "k4", "dave", "sms");
	ns[0].next_try_at = T0 + 30;
	ns[1].next_try_at = T0 + 10;
	ns[2].next_try_at = T0 + 20;
	ns[3].next_try_at = T0 + 100;   /* not yet */
	assert_int_equal(store_fire(f->st, id, &fire, T0, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_claim(f->st, T0 + 50, 1, &out, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].idem_key, "k2");
	/* k2 fails and is due again at T0 + 15, before k3 and k1. */
	assert_int_equal(store_outbox_result(f->st, out[0].id, NOTIF_RETRY,
					     T0 + 15, "timeout", NULL, T0 + 12,
					     f->err, sizeof(f->err)),
			 STORE_OK);
	notification_free_array(out, n);
	assert_int_equal(store_outbox_claim(f->st, T0 + 50, 2, &out, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].idem_key, "k2");
	assert_int_equal(out[0].attempts, 2);
	assert_string_equal(out[1].idem_key, "k3");
	notification_free_array(out, n);
	assert_int_equal(store_outbox_claim(f->st, T0 + 50, 5, &out, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].idem_key, "k1");
	notification_free_array(out, n);
}

static void
test_outbox_round_trip(void **state)
{
	struct fx *f = *state;
	int64_t id = add_simple(f, "alice", T0 + HOUR);
	struct notification ns[3], *out = NULL, *all = NULL;
	struct store_fire fire = { .notifs = ns, .nnotifs = 3,
				   .kind = EVENT_REMINDED,
				   .fired_through = T0 };
	struct event last;
	char detail[256], actor[64], want[256];
	size_t n = 0, nall = 0, rec = 0;
	int64_t dead_id;

	notif(&ns[0], "o1", "alice", "sms");
	notif(&ns[1], "o2", "bob", "sms");
	notif(&ns[2], "o3", "carol", "mail");
	ns[2].next_try_at = T0 + HOUR;    /* not yet */
	assert_int_equal(store_fire(f->st, id, &fire, T0, f->err,
				    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_claim(f->st, T0, 5, &out, &n, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].state, NOTIF_SENDING);
	assert_int_equal(out[0].attempts, 1);
	notification_free_array(out, n);
	/* Claimed rows are not claimed twice. */
	assert_int_equal(store_outbox_claim(f->st, T0, 5, &out, &n, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 0);
	free(out);
	/* A crash: sending rows go back to pending, same key. */
	assert_int_equal(store_outbox_recover(f->st, &rec, f->err,
					      sizeof(f->err)), STORE_OK);
	assert_int_equal(rec, 2);
	assert_int_equal(store_outbox_claim(f->st, T0 + 1, 5, &out, &n, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].attempts, 2);
	assert_string_equal(out[0].idem_key, "o1");
	assert_int_equal(store_outbox_result(f->st, out[0].id, NOTIF_SENT, 0,
					     NULL, "msg-77", T0 + 2, f->err,
					     sizeof(f->err)), STORE_OK);
	dead_id = out[1].id;
	assert_int_equal(store_outbox_result(f->st, dead_id, NOTIF_DEAD, 0,
					     "550 no such user", NULL, T0 + 3,
					     f->err, sizeof(f->err)), STORE_OK);
	/* A result for a row that is not being sent is refused. */
	assert_int_equal(store_outbox_result(f->st, out[0].id, NOTIF_SENT, 0,
					     NULL, "x", T0 + 4, f->err,
					     sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(store_outbox_result(f->st, out[0].id, NOTIF_PENDING,
					     0, NULL, NULL, T0 + 4, f->err,
					     sizeof(f->err)), STORE_INVALID);
	assert_int_equal(store_outbox_result(f->st, 999, NOTIF_SENT, 0, NULL,
					     NULL, T0 + 4, f->err,
					     sizeof(f->err)), STORE_NOTFOUND);
	notification_free_array(out, n);

	last_event(f, id, &last, detail, sizeof(detail), actor, sizeof(actor));
	assert_int_equal(last.kind, EVENT_NOTE);
	snprintf(want, sizeof(want), "notification %lld to bob via sms dead: "
		 "550 no such user", (long long)dead_id);
	assert_string_equal(detail, want);

	assert_int_equal(store_outbox_list(f->st, NOTIF_SENT, 0, 0, &all,
					   &nall, f->err, sizeof(f->err)),
			 STORE_OK);
	assert_int_equal(nall, 1);
	assert_string_equal(all[0].provider_id, "msg-77");
	assert_int_equal(all[0].sent_at, T0 + 2);
	notification_free_array(all, nall);
	assert_int_equal(store_outbox_list(f->st, NOTIF_DEAD, 0, 0, &all,
					   &nall, f->err, sizeof(f->err)),
			 STORE_OK);
	assert_int_equal(nall, 1);
	assert_string_equal(all[0].last_error, "550 no such user");
	notification_free_array(all, nall);
	assert_int_equal(store_outbox_list(f->st, -1, 0, 2, &all, &nall,
					   f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(nall, 2);
	notification_free_array(all, nall);
	assert_int_equal(store_outbox_list(f->st, -1, id + 1, 0, &all, &nall,
					   f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(nall, 0);
	free(all);

	/* promisectl outbox retry: dead goes back to pending, now. */
	assert_int_equal(store_outbox_retry(f->st, dead_id, T0 + 100, f->err,
					    sizeof(f->err)), STORE_OK);
	assert_int_equal(store_outbox_retry(f->st, dead_id, T0 + 100, f->err,
					    sizeof(f->err)), STORE_CONFLICT);
	assert_int_equal(store_outbox_claim(f->st, T0 + 100, 5, &out, &n,
					    f->err, sizeof(f->err)), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].id, dead_id);
	assert_int_equal(out[0].attempts, 3);
	notification_free_array(out, n);
	assert_int_equal(store_outbox_retry(f->st, 999, T0, f->err,
					    sizeof(f->err)), STORE_NOTFOUND);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_migrations_fresh),
		T(test_reopen_preserves_data),
		T(test_newer_schema_refused),
		T(test_not_a_database),
		T(test_foreign_sqlite_file),
		T(test_missing_folder),
		T(test_readonly_database),
		T(test_add_get_all_fields),
		T(test_generated_ref),
		T(test_duplicate_ref),
		T(test_validation),
		T(test_huge_title),
		T(test_vin_check_digit_only_warns),
		T(test_sql_text_verbatim),
		T(test_close_kept_exactly_at_due),
		T(test_close_late_and_cancelled),
		T(test_ack),
		T(test_snooze),
		T(test_reassign),
		T(test_renegotiate),
		T(test_reopen),
		T(test_list_filters),
		T(test_custom_next_fn),
		T(test_busy),
		T(test_fire_once),
		T(test_batch),
		T(test_recompute_for),
		T(test_next_wake_and_due),
		T(test_outbox_round_trip),
		T(test_outbox_claim_order),
		T(test_statement_cache),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
