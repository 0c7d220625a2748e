/*
 * secret: reading a secret file.  The file is opened once, checked to be
 * a regular file of at most SECRET_MAX bytes, read whole, and trimmed of
 * the trailing newline editors add.  No message here ever carries the
 * content, and every buffer that held it is wiped before it is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "promised/secret.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

char *
secret_path(const char *dir, const char *path)
{
	const char *cred = util_getenv("CREDENTIALS_DIRECTORY");
	char *p;

	if (path[0] == '/')
		return xstrdup(path);
	if (cred != NULL && cred[0] != '\0') {
		p = xasprintf("%s/%s", cred, path);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	if (dir == NULL)
		return xstrdup(path);
	return xasprintf("%s/%s", dir, path);
}

/* Reads all of fd (at most SECRET_MAX + 1 bytes) into buf; the count or
 * -1. */
static ssize_t
read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* Checks and trims what was read; 0 or -1 with err set. */
static int
trim_secret(const char *path, char *buf, size_t n, char *err, size_t errlen)
{
	if (n > SECRET_MAX) {
		util_seterr(err, errlen, "secret file %s is larger than %d KiB",
			    path, SECRET_MAX / 1024);
		return -1;
	}
	if (memchr(buf, '\0', n) != NULL) {
		util_seterr(err, errlen, "secret file %s contains a NUL byte",
			    path);
		return -1;
	}
	while (n > 0 && strchr(" \t\r\n\v\f", buf[n - 1]) != NULL)
		n--;
	buf[n] = '\0';
	if (n == 0) {
		util_seterr(err, errlen, "secret file %s is empty (not configured)",
			    path);
		return -1;
	}
	return 0;
}

int
secret_read(const char *path, char **out, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	char *file = secret_path(NULL, path);
	char *buf = xmalloc(SECRET_MAX + 2);
	struct stat st;
	ssize_t n = -1;
	int fd, rc = -1;

	*out = NULL;
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		util_seterr(err, errlen, "cannot open secret file %s: %s", file,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		util_seterr(err, errlen, "secret file %s is not a regular file",
			    file);
		goto out;
	}
	n = read_all(fd, buf, SECRET_MAX + 1);
	if (n < 0) {
		util_seterr(err, errlen, "cannot read secret file %s: %s", file,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (trim_secret(file, buf, (size_t)n, err, errlen) != 0)
		goto out;
	*out = xstrdup(buf);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	explicit_bzero(buf, SECRET_MAX + 2);
	free(buf);
	free(file);
	return rc;
}

void
secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
