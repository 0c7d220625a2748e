/*
 * store_backup: `promisectl backup FILE` — a copy of the live database
 * through SQLite's online backup API.  The database runs in WAL mode, so
 * copying every page in one sqlite3_backup_step(-1) holds a read
 * transaction only: the daemon keeps writing, and the copy is the database
 * as of the instant that transaction began (stepping in chunks would
 * restart from scratch whenever the daemon commits in between, and might
 * never finish under steady writes).  The copy is built under a temporary
 * name in FILE's folder and only renamed to FILE once it is complete,
 * checked and on disk, so FILE is either absent or a whole backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "promised/store.h"
#include "promised/util.h"
#include "promised/xmalloc.h"
#include "store_internal.h"

/* How long to sleep between tries while the source is locked. */
#define BACKUP_RETRY_MS 25

/* The folder part of path ("." for a bare name, "/" for "/x"); owned. */
static char *
folder_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xasprintf("%.*s", (int)(slash - path), path);
}

/* Refuses a target that exists, is the database, or cannot be created,
 * before any work, with a message that names the problem. */
static int
check_target(const struct store *st, const char *path, const char *dir,
	     char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct stat ts, ds;

	if (stat(path, &ts) == 0 && stat(st->path, &ds) == 0 &&
	    ts.st_dev == ds.st_dev && ts.st_ino == ds.st_ino) {
		util_seterr(err, errlen, "cannot back up to %s: that is the "
			    "database itself", path);
		return STORE_CONFLICT;
	}
	if (lstat(path, &ts) == 0) {
		util_seterr(err, errlen, "cannot back up to %s: %s", path,
			    S_ISDIR(ts.st_mode) ? "it is a folder; give the "
			    "name of a new file" : "the file exists; a backup "
			    "never overwrites a file");
		return STORE_CONFLICT;
	}
	if (stat(dir, &ds) != 0) {
		util_seterr(err, errlen, "cannot back up to %s: folder %s %s%s",
			    path, dir, errno == ENOENT ? "does not exist" :
			    "cannot be read: ", errno == ENOENT ? "" :
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		return STORE_READONLY;
	}
	if (!S_ISDIR(ds.st_mode)) {
		util_seterr(err, errlen, "cannot back up to %s: %s is not a "
			    "folder", path, dir);
		return STORE_READONLY;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		util_seterr(err, errlen, "cannot back up to %s: folder %s is "
			    "not writable (%s)", path, dir,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		return STORE_READONLY;
	}
	return STORE_OK;
}

static int
dst_fail(sqlite3 *dst, int src, const char *path, const char *what,
	 char *err, size_t errlen)
{
	util_seterr(err, errlen, "cannot back up to %s: %s: %s", path, what,
		    dst != NULL && sqlite3_errcode(dst) == src ?
		    sqlite3_errmsg(dst) : sqlite3_errstr(src));
	switch (src & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return STORE_BUSY;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN: return STORE_READONLY;
	default: return STORE_ERR;
	}
}

/* Copies every page in one step; a locked source is retried until the
 * store's busy timeout has passed. */
static int
copy_pages(struct store *st, sqlite3 *dst, const char *path, char *err,
	   size_t errlen)
{
	sqlite3_backup *b;
	int src, waited = 0;

	b = sqlite3_backup_init(dst, "main", st->db, "main");
	if (b == NULL)
		return dst_fail(dst, sqlite3_errcode(dst), path,
				"starting the copy", err, errlen);
	for (;;) {
		src = sqlite3_backup_step(b, -1);
		if ((src != SQLITE_BUSY && src != SQLITE_LOCKED) ||
		    waited >= st->busy_ms)
			break;
		sqlite3_sleep(BACKUP_RETRY_MS);
		waited += BACKUP_RETRY_MS;
	}
	sqlite3_backup_finish(b);
	if (src != SQLITE_DONE)
		return dst_fail(dst, src, path, "copying", err, errlen);
	return STORE_OK;
}

/* One row, first column as text (NULL when none) or integer. */
static int
dst_query(sqlite3 *dst, const char *sql, char *txt, size_t txtlen,
	  int64_t *num)
{
	sqlite3_stmt *stmt = NULL;
	int src;

	src = sqlite3_prepare_v2(dst, sql, -1, &stmt, NULL);
	if (src != SQLITE_OK)
		goto out;
	src = sqlite3_step(stmt);
	if (src == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(stmt, 0);

		if (txt != NULL)
			util_strlcpy(txt, t != NULL ? t : "", txtlen);
		if (num != NULL)
			*num = sqlite3_column_int64(stmt, 0);
		src = SQLITE_OK;
	}
out:
	sqlite3_finalize(stmt);
	return src;
}

/* The pages carry the source's WAL marker: switching the copy to a
 * rollback journal makes it a file that stands alone.  Then checks it
 * and counts what it holds. */
static int
finish_copy(sqlite3 *dst, const char *path, struct store_backup_info *info,
	    char *err, size_t errlen)
{
	char mode[32] = "", res[256] = "";
	int src;

	src = dst_query(dst, "PRAGMA journal_mode = DELETE", mode,
			sizeof(mode), NULL);
	if (src != SQLITE_OK)
		return dst_fail(dst, src, path, "leaving WAL mode", err,
				errlen);
	src = dst_query(dst, "PRAGMA integrity_check", res, sizeof(res), NULL);
	if (src != SQLITE_OK)
		return dst_fail(dst, src, path, "checking the copy", err,
				errlen);
	if (strcmp(mode, "delete") != 0 || strcmp(res, "ok") != 0) {
		util_seterr(err, errlen, "cannot back up to %s: the copy "
			    "fails its check (journal mode %s, integrity %s)",
			    path, mode, res);
		return STORE_ERR;
	}
	src = dst_query(dst, "SELECT count(*) FROM promises", NULL, 0,
			&info->promises);
	if (src != SQLITE_OK)
		return dst_fail(dst, src, path, "counting promises", err,
				errlen);
	return STORE_OK;
}

/* Moves tmp to path unless path exists by now (another backup may have
 * raced us); file systems without RENAME_NOREPLACE get link + unlink,
 * which refuses an existing path just the same. */
static int
move_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(tmp, path) != 0)
		return -1;
	unlink(tmp);
	return 0;
}

/* Makes the finished copy durable, then visible under its name. */
static int
publish(int fd, const char *tmp, const char *path, const char *dir,
	char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	int dfd;

	if (fsync(fd) != 0) {
		util_seterr(err, errlen, "cannot back up to %s: syncing %s: "
			    "%s", path, tmp,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		return STORE_ERR;
	}
	if (move_noreplace(tmp, path) != 0) {
		util_seterr(err, errlen, "cannot back up to %s: %s", path,
			    errno == EEXIST ? "the file appeared while the "
			    "backup ran (not overwritten)" :
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		return errno == EEXIST ? STORE_CONFLICT : STORE_ERR;
	}
	/* The rename itself is durable once the folder is synced. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return STORE_OK;
}

static void
remove_tmp(const char *tmp)
{
	static const char *const sfx[] = { "", "-journal", "-wal", "-shm" };
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char *f = xasprintf("%s%s", tmp, sfx[i]);

		unlink(f);
		free(f);
	}
}

int
store_backup(struct store *st, const char *path,
	     struct store_backup_info *info, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	struct store_backup_info got = { 0, 0 };
	char *dir = folder_of(path), *tmp = NULL;
	sqlite3 *dst = NULL;
	struct stat sb;
	int fd = -1, rc, src;

	rc = check_target(st, path, dir, err, errlen);
	if (rc != STORE_OK)
		goto out;
	tmp = xasprintf("%s.tmp-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);   /* mode 0600: it holds customer data */
	if (fd < 0) {
		util_seterr(err, errlen, "cannot back up to %s: cannot create "
			    "a file in folder %s: %s", path, dir,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		rc = errno == EACCES || errno == EROFS || errno == EPERM ?
		     STORE_READONLY : STORE_ERR;
		goto out;
	}
	src = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE |
			      SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		rc = dst_fail(dst, src, path, "opening the copy", err, errlen);
		goto out;
	}
	rc = copy_pages(st, dst, path, err, errlen);
	if (rc == STORE_OK)
		rc = finish_copy(dst, path, &got, err, errlen);
	src = sqlite3_close(dst);
	dst = NULL;
	if (rc == STORE_OK && src != SQLITE_OK)
		rc = dst_fail(NULL, src, path, "closing the copy", err, errlen);
	if (rc == STORE_OK)
		rc = publish(fd, tmp, path, dir, err, errlen);
	if (rc == STORE_OK && stat(path, &sb) == 0)
		got.bytes = (int64_t)sb.st_size;
out:
	sqlite3_close(dst);
	if (fd >= 0)
		close(fd);
	if (rc != STORE_OK && tmp != NULL && fd >= 0)
		remove_tmp(tmp);
	if (rc == STORE_OK && info != NULL)
		*info = got;
	free(tmp);
	free(dir);
	return rc;
}
