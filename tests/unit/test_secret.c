/*
 * test_secret: secret files are read whole, trimmed at the end only,
 * refused when too large, empty or not a regular file, and found in
 * $CREDENTIALS_DIRECTORY when systemd provides one.
 */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/secret.h"

static char tmpdir[] = "/tmp/promised-secret-XXXXXX";

/* Writes n bytes of data to tmpdir/name and returns its path in buf. */
static const char *
put_file(const char *name, const char *data, size_t n, char *buf, size_t len)
{
	FILE *fp;

	snprintf(buf, len, "%s/%s", tmpdir, name);
	fp = fopen(buf, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static void
expect_error(const char *path, const char *want)
{
	char err[PATH_MAX + 128] = "";
	char *s = (char *)0x1;

	assert_int_equal(secret_read(path, &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_string_equal(err, want);
}

static void
expect_secret(const char *path, const char *want)
{
	char err[PATH_MAX + 128] = "";
	char *s = NULL;

	assert_int_equal(secret_read(path, &s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(s);
	assert_string_equal(s, want);
	secret_free(s);
}

static int
setup(void **state)
{
	(void)state;
	unsetenv("CREDENTIALS_DIRECTORY");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

/* Removes the files the tests wrote, then the folder (no sub-folders). */
static int
teardown(void **state)
{
	char p[PATH_MAX];
	DIR *d = opendir(tmpdir);
	struct dirent *e;

	(void)state;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	return rmdir(tmpdir);
}

/* The trailing newline (LF or CR LF) and blanks go; inner and leading
 * spaces are part of the secret. */
static void
test_trims_the_end_only(void **state)
{
	char p[PATH_MAX];

	(void)state;
	expect_secret(put_file("lf", "s3cret\n", 7, p, sizeof(p)), "s3cret");
	expect_secret(put_file("crlf", "pass word\r\n\r\n", 13, p, sizeof(p)),
		      "pass word");
	expect_secret(put_file("lead", "  x\t \n", 6, p, sizeof(p)), "  x");
	expect_secret(put_file("bare", "abc", 3, p, sizeof(p)), "abc");
}

static void
test_size_limit(void **state)
{
	char p[PATH_MAX], want[PATH_MAX + 64];
	char *big = malloc(SECRET_MAX + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'k', SECRET_MAX + 1);
	/* Exactly 4096 bytes is accepted, whole. */
	put_file("max", big, SECRET_MAX, p, sizeof(p));
	{
		char err[64];
		char *s = NULL;

		assert_int_equal(secret_read(p, &s, err, sizeof(err)), 0);
		assert_int_equal(strlen(s), SECRET_MAX);
		secret_free(s);
	}
	put_file("big", big, SECRET_MAX + 1, p, sizeof(p));
	snprintf(want, sizeof(want), "secret file %s is larger than 4 KiB", p);
	expect_error(p, want);
	free(big);
}

static void
test_empty_is_an_error(void **state)
{
	char p[PATH_MAX], want[PATH_MAX + 64];

	(void)state;
	put_file("empty", "", 0, p, sizeof(p));
	snprintf(want, sizeof(want), "secret file %s is empty (not configured)",
		 p);
	expect_error(p, want);
	put_file("blank", " \n\n", 3, p, sizeof(p));
	snprintf(want, sizeof(want), "secret file %s is empty (not configured)",
		 p);
	expect_error(p, want);
}

static void
test_unusable_files(void **state)
{
	char p[PATH_MAX], want[PATH_MAX + 64];

	(void)state;
	snprintf(p, sizeof(p), "%s/missing", tmpdir);
	snprintf(want, sizeof(want),
		 "cannot open secret file %s: No such file or directory", p);
	expect_error(p, want);
	snprintf(want, sizeof(want), "secret file %s is not a regular file",
		 tmpdir);
	expect_error(tmpdir, want);
	put_file("nul", "ab\0cd\n", 6, p, sizeof(p));
	snprintf(want, sizeof(want), "secret file %s contains a NUL byte", p);
	expect_error(p, want);
}

/* A relative name is taken from $CREDENTIALS_DIRECTORY when the file is
 * there; an absolute one never is. */
static void
test_credentials_directory(void **state)
{
	char p[PATH_MAX], other[PATH_MAX], want[PATH_MAX + 64];
	char *r;

	(void)state;
	put_file("smtp-password", "from-credentials\n", 17, p, sizeof(p));
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", tmpdir, 1), 0);
	expect_secret("smtp-password", "from-credentials");
	r = secret_path("/etc/promised", "smtp-password");
	assert_string_equal(r, p);
	free(r);
	/* Not in the credentials folder: the config's folder. */
	r = secret_path("/etc/promised", "token");
	assert_string_equal(r, "/etc/promised/token");
	free(r);
	put_file("abs", "absolute\n", 9, other, sizeof(other));
	expect_secret(other, "absolute");
	r = secret_path("/etc/promised", "/run/keys/x");
	assert_string_equal(r, "/run/keys/x");
	free(r);
	snprintf(want, sizeof(want),
		 "cannot open secret file no-such-credential: No such file or "
		 "directory");
	expect_error("no-such-credential", want);
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	r = secret_path("/etc/promised", "smtp-password");
	assert_string_equal(r, "/etc/promised/smtp-password");
	free(r);
	r = secret_path(NULL, "smtp-password");
	assert_string_equal(r, "smtp-password");
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trims_the_end_only),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_empty_is_an_error),
		cmocka_unit_test(test_unusable_files),
		cmocka_unit_test(test_credentials_directory),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
