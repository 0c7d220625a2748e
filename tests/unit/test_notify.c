/*
 * test_notify: the log and maildir channels — atomic Maildir delivery,
 * the headers a mail reader relies on, header injection through CR/LF,
 * RFC 2047 encoded-words, and one appended line per logged notification.
 */
#include <dirent.h>
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

#include "promised/notify.h"
#include "promised/xmalloc.h"

struct fixture {
	char dir[64];
	char maildir[128];
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_notify.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->maildir, sizeof(f->maildir), "%s/mail/inbox", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct notification
sample(const char *subject)
{
	struct notification n;

	memset(&n, 0, sizeof(n));
	n.id = 7;
	n.promise_id = 12;
	n.step = (char *)"reminder";
	n.channel = (char *)"mail";
	n.recipient = (char *)"alice";
	n.subject = (char *)subject;
	n.body = (char *)"Call Marie Dubois back about the brake quote.\r\n";
	n.idem_key = (char *)"12:reminder:0:alice:mail:1795939200";
	n.scheduled_at = 1795939200;
	return n;
}

static const struct cfg_staff alice = {
	.id = (char *)"alice", .name = (char *)"Alice Martin",
	.email = (char *)"alice@example.com",
};

/* Names of the files in dir (not . and ..); returns how many. */
static size_t
list_dir(const char *dir, char names[][256], size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n < max)
			snprintf(names[n], 256, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = xcalloc(1, 65536);
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Delivers n and returns the text of the one new message. */
static char *
deliver_one(struct fixture *f, const struct notification *n,
	    const struct cfg_staff *to)
{
	struct cfg_channel ch = { .name = (char *)"mail",
				  .type = CFG_CHANNEL_MAILDIR,
				  .path = f->maildir };
	char names[4][256], path[512], sub[256], provider[256], err[256];

	assert_int_equal(notify_send(&ch, n, to, provider, sizeof(provider),
				     err, sizeof(err)), NOTIFY_OK);
	snprintf(sub, sizeof(sub), "%s/new", f->maildir);
	assert_int_equal(list_dir(sub, names, 4), 1);
	assert_string_equal(names[0], provider);
	snprintf(sub, sizeof(sub), "%s/tmp", f->maildir);
	assert_int_equal(list_dir(sub, names, 4), 0);
	snprintf(sub, sizeof(sub), "%s/cur", f->maildir);
	assert_int_equal(list_dir(sub, names, 4), 0);
	snprintf(path, sizeof(path), "%s/new/%s", f->maildir, provider);
	return slurp(path);
}

/* 1 when a header line (before the blank line) starts with prefix. */
static int
has_header_line(const char *msg, const char *prefix)
{
	const char *end = strstr(msg, "\n\n");
	const char *p = msg;

	assert_non_null(end);
	while (p < end) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return 1;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return 0;
}

static void
test_maildir_message(void **state)
{
	struct fixture *f = *state;
	struct notification n = sample("Call back Marie Dubois");
	char *msg;

	n.late = 1;
	msg = deliver_one(f, &n, &alice);
	assert_true(has_header_line(msg, "From: promised <promised@"));
	assert_true(has_header_line(msg,
				    "To: \"Alice Martin\" <alice@example.com>\n"));
	assert_true(has_header_line(msg, "Subject: Call back Marie Dubois\n"));
	assert_true(has_header_line(msg, "Date: "));
	/* ':' is not allowed in a msg-id, so it is written as =3A. */
	assert_true(has_header_line(msg, "Message-ID: <12=3Areminder=3A0=3A"
				    "alice=3Amail=3A1795939200@promised>\n"));
	assert_true(has_header_line(msg, "Auto-Submitted: auto-generated\n"));
	assert_true(has_header_line(msg, "MIME-Version: 1.0\n"));
	assert_true(has_header_line(msg, "Content-Type: text/plain; "
				    "charset=UTF-8\n"));
	assert_true(has_header_line(msg, "Content-Transfer-Encoding: 8bit\n"));
	assert_true(has_header_line(msg, "X-Promised-Promise: 12\n"));
	assert_true(has_header_line(msg, "X-Promised-Late: yes\n"));
	/* 2026-11-29 is day 20786 since 1970 (20454 + 332): 1795910400, + 8 h. */
	assert_true(has_header_line(msg,
				    "X-Promised-Scheduled: 2026-11-29T08:00:00Z\n"));
	assert_non_null(strstr(msg, "\n\nCall Marie Dubois back about the "
			       "brake quote.\n"));
	assert_null(strchr(msg, '\r'));
	free(msg);
}

static void
test_maildir_not_late_no_email(void **state)
{
	struct fixture *f = *state;
	struct notification n = sample("Reminder");
	struct cfg_staff bob = { .id = (char *)"bob" };
	char *msg = deliver_one(f, &n, &bob);

	assert_false(has_header_line(msg, "X-Promised-Late:"));
	assert_true(has_header_line(msg, "To: bob\n"));
	free(msg);
}

static void
test_maildir_header_injection(void **state)
{
	struct fixture *f = *state;
	struct notification n =
		sample("Call back\r\nBcc: evil@example.com\r\n\r\nfake body");
	struct cfg_staff evil = alice;
	char *msg;

	evil.name = (char *)"Alice\r\nCc: other@example.com";
	msg = deliver_one(f, &n, &evil);
	assert_false(has_header_line(msg, "Bcc:"));
	assert_false(has_header_line(msg, "Cc:"));
	assert_false(has_header_line(msg, "fake body"));
	assert_true(has_header_line(msg, "Subject: Call back  Bcc: "
				    "evil@example.com    fake body\n"));
	assert_true(has_header_line(msg, "To: \"Alice  Cc: other@example.com\""
				    " <alice@example.com>\n"));
	free(msg);
}

static void
test_encoded_word(void **state)
{
	struct fixture *f = *state;
	struct notification n = sample("Caf\xc3\xa9");
	char *msg;

	/* "Café" = 43 61 66 C3 A9 -> base64 Q2Fmw6k= */
	msg = deliver_one(f, &n, &alice);
	assert_true(has_header_line(msg, "Subject: =?UTF-8?B?Q2Fmw6k=?=\n"));
	free(msg);
}

static void
test_encoded_word_long(void **state)
{
	char subject[256] = "";
	char *enc, *p;
	size_t i, words = 0;

	(void)state;
	/* 40 x "é" = 80 bytes: more than one 45-byte word, and 45 is odd, so
	 * a careless split would cut an "é" in half. */
	for (i = 0; i < 40; i++)
		memcpy(subject + 2 * i, "\xc3\xa9", 3);
	enc = notify_header_encode(subject);
	for (p = enc; (p = strstr(p, "=?UTF-8?B?")) != NULL; p++) {
		char *end = strstr(p, "?=");

		assert_non_null(end);
		assert_true(end + 2 - p <= 75);
		/* 44 bytes (22 x é) -> 60 base64 chars; 36 -> 48. */
		assert_true(end - p - 10 == 60 || end - p - 10 == 48);
		words++;
	}
	assert_int_equal(words, 2);
	assert_non_null(strstr(enc, "?=\n =?UTF-8?B?"));
	free(enc);
	enc = notify_header_encode("plain\tascii\n");
	assert_string_equal(enc, "plain ascii ");
	free(enc);
}

static void
test_message_id_stable(void **state)
{
	struct fixture *f = *state;
	struct cfg_channel ch = { .name = (char *)"mail",
				  .type = CFG_CHANNEL_MAILDIR,
				  .path = f->maildir };
	struct notification n = sample("Again");
	char names[4][256], sub[256], path[512], err[256];
	char *a, *b;

	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_OK);
	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_OK);
	snprintf(sub, sizeof(sub), "%s/new", f->maildir);
	assert_int_equal(list_dir(sub, names, 4), 2);
	assert_string_not_equal(names[0], names[1]);
	snprintf(path, sizeof(path), "%s/%s", sub, names[0]);
	a = slurp(path);
	snprintf(path, sizeof(path), "%s/%s", sub, names[1]);
	b = slurp(path);
	*strstr(strstr(a, "Message-ID:"), "\n") = '\0';
	*strstr(strstr(b, "Message-ID:"), "\n") = '\0';
	assert_string_equal(strstr(a, "Message-ID:"), strstr(b, "Message-ID:"));
	free(a);
	free(b);
}

static void
test_maildir_errors(void **state)
{
	struct fixture *f = *state;
	struct notification n = sample("x");
	struct cfg_channel ch = { .name = (char *)"mail",
				  .type = CFG_CHANNEL_MAILDIR };
	char path[256], err[256] = "";
	FILE *fp;

	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_PERM);
	assert_non_null(strstr(err, "no path"));
	/* A file where the Maildir should be: temporary, the admin can fix it. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	ch.path = path;
	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_TEMP);
	ch.type = CFG_CHANNEL_WEBHOOK;
	assert_false(notify_type_supported(CFG_CHANNEL_WEBHOOK));
	assert_true(notify_type_supported(CFG_CHANNEL_MAILDIR));
	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_PERM);
}

static void
test_log_channel(void **state)
{
	struct fixture *f = *state;
	char path[256], err[256];
	struct cfg_channel ch = { .name = (char *)"audit",
				  .type = CFG_CHANNEL_LOG, .path = path };
	struct notification n = sample("Call back\nMarie");
	char *text, *p;
	size_t lines = 0;

	snprintf(path, sizeof(path), "%s/notify.log", f->dir);
	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_OK);
	n.id = 8;
	n.late = 1;
	assert_int_equal(notify_send(&ch, &n, NULL, NULL, 0, err,
				     sizeof(err)), NOTIFY_OK);
	text = slurp(path);
	for (p = text; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	assert_non_null(strstr(text, "promise 12 notification 7 to alice: "
			       "Call back Marie\n"));
	assert_non_null(strstr(text, "promise 12 notification 8 to alice "
			       "(late): Call back Marie\n"));
	free(text);
	/* Without a path the line goes to the daemon's log. */
	ch.path = NULL;
	assert_int_equal(notify_send(&ch, &n, &alice, NULL, 0, err,
				     sizeof(err)), NOTIFY_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_maildir_message, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_maildir_not_late_no_email,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_header_injection,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_encoded_word, setup,
						teardown),
		cmocka_unit_test(test_encoded_word_long),
		cmocka_unit_test_setup_teardown(test_message_id_stable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_maildir_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_channel, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
