/*
 * fault_store_ro: an LD_PRELOAD library for tests/e2e/fault_store.sh that
 * turns one folder read-only at run time, as the kernel does when it
 * remounts a file system read-only after an error.  An administrator's
 * `mount -o remount,ro` is refused (EBUSY) while the daemon holds its
 * database open for writing, so a test cannot make that happen to a
 * running daemon with mount(8) alone.
 *
 * While the file named by FAULT_RO_FLAG exists, every write-type call on
 * a file under FAULT_RO_DIR fails with EROFS: write, pwrite, writev,
 * ftruncate, fallocate, fsync, fdatasync, an open for writing or
 * creating, unlink, and access() asking for W_OK.  Reads, locks and
 * the shared-memory index (mmap) are left alone.  Remove the flag file
 * and the folder is writable again.  Built by the test with
 *   cc -shared -fPIC -o fault_store_ro.so fault_store_ro.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* 1 when the fault is on (the flag file exists) and path is under the
 * folder. */
static int
ro_path(const char *path)
{
	const char *dir = getenv("FAULT_RO_DIR");
	const char *flag = getenv("FAULT_RO_FLAG");
	static int (*real_access)(const char *, int);
	size_t n;

	if (dir == NULL || flag == NULL || path == NULL)
		return 0;
	n = strlen(dir);
	if (strncmp(path, dir, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return 0;
	if (real_access == NULL)
		real_access = (int (*)(const char *, int))dlsym(RTLD_NEXT,
								  "access");
	return real_access(flag, F_OK) == 0;
}

static int
ro_fd(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t len;

	if (getenv("FAULT_RO_DIR") == NULL)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	if (len <= 0)
		return 0;
	path[len] = '\0';
	return ro_path(path);
}

#define REAL(name) static __typeof__(name) *real; \
	if (real == NULL) real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)
#define DENY(cond) do { if (cond) { errno = EROFS; return -1; } } while (0)

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	DENY(ro_fd(fd));
	return real(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite);
	DENY(ro_fd(fd));
	return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	REAL(pwrite64);
	DENY(ro_fd(fd));
	return real(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	REAL(writev);
	DENY(ro_fd(fd));
	return real(fd, iov, n);
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	DENY(ro_fd(fd));
	return real(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
	REAL(ftruncate64);
	DENY(ro_fd(fd));
	return real(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(fallocate);
	DENY(ro_fd(fd));
	return real(fd, mode, off, len);
}

int fsync(int fd)
{
	REAL(fsync);
	DENY(ro_fd(fd));
	return real(fd);
}

int fdatasync(int fd)
{
	REAL(fdatasync);
	DENY(ro_fd(fd));
	return real(fd);
}

int unlink(const char *path)
{
	REAL(unlink);
	DENY(ro_path(path));
	return real(path);
}

int access(const char *path, int mode)
{
	REAL(access);
	DENY((mode & W_OK) && ro_path(path));
	return real(path, mode);
}

static int
wants_write(int flags)
{
	return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
}

#define OPEN_MODE(flags, mode) do { \
	va_list ap; \
	mode = 0; \
	if ((flags) & (O_CREAT | O_TMPFILE)) { \
		va_start(ap, flags); \
		mode = va_arg(ap, mode_t); \
		va_end(ap); \
	} \
} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode;

	REAL(open);
	OPEN_MODE(flags, mode);
	DENY(wants_write(flags) && ro_path(path));
	return real(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode;

	REAL(open64);
	OPEN_MODE(flags, mode);
	DENY(wants_write(flags) && ro_path(path));
	return real(path, flags, mode);
}
