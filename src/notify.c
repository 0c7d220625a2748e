/*
 * notify: delivery of one outbox row through one channel.  The channel
 * types live in a table of {type, send}; this file has `log` (one line per
 * notification) and `maildir` (one RFC 5322 message per notification,
 * written to tmp/, fsynced and renamed into new/ so a reader never sees a
 * half-written message).  Text from customers is sanitised before it can
 * reach a header or a log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "promised/log.h"
#include "promised/notify.h"
#include "promised/sbuf.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

typedef int (*notify_send_fn)(const struct cfg_channel *ch,
			      const struct notification *n,
			      const struct cfg_staff *to, char *provider,
			      size_t providerlen, char *err, size_t errlen);

static int notify_log_send(const struct cfg_channel *, const struct notification *,
			   const struct cfg_staff *, char *, size_t, char *,
			   size_t);
static int notify_maildir_send(const struct cfg_channel *,
			       const struct notification *,
			       const struct cfg_staff *, char *, size_t, char *,
			       size_t);

static const struct {
	enum cfg_channel_type type;
	const char *name;
	notify_send_fn send;
} notify_types[] = {
	{ CFG_CHANNEL_LOG, "log", notify_log_send },
	{ CFG_CHANNEL_MAILDIR, "maildir", notify_maildir_send },
};

#define NOTIFY_NTYPES (sizeof(notify_types) / sizeof(notify_types[0]))

/* ---- Header helpers --------------------------------------------------- */

/* Adds "Name: value\n" with value taken as is (already safe). */
static void
header_add(struct sbuf *b, const char *name, const char *value)
{
	sbuf_puts(b, name);
	sbuf_add(b, ": ", 2);
	sbuf_puts(b, value);
	sbuf_add(b, "\n", 1);
}

char *
notify_sanitize(char *dst, size_t dstlen, const char *s)
{
	size_t i;

	if (dstlen == 0)
		return dst;
	util_strlcpy(dst, s ? s : "", dstlen);
	for (i = 0; dst[i] != '\0'; i++) {
		unsigned char c = (unsigned char)dst[i];

		if (c < 0x20 || c == 0x7f)
			dst[i] = ' ';
	}
	return dst;
}

/* Owned, sanitised copy of s of any length. */
static char *
notify_sanitize_dup(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *d = xmalloc(len + 1);

	return notify_sanitize(d, len + 1, s);
}

static void
notify_base64(struct sbuf *b, const unsigned char *in, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		char out[4];

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[0] = tab[(v >> 18) & 63];
		out[1] = tab[(v >> 12) & 63];
		/* ?: promotes its char arms to int: back to char. */
		out[2] = (char)(i + 1 < n ? tab[(v >> 6) & 63] : '=');
		out[3] = (char)(i + 2 < n ? tab[v & 63] : '=');
		sbuf_add(b, out, 4);
	}
}

/* Whether s has a byte that needs an encoded-word. */
static int
notify_needs_encoding(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return 1;
	}
	return 0;
}

char *
notify_header_encode(const char *value)
{
	/* 45 bytes -> 60 base64 chars -> a 72-char word (RFC 2047 allows 75). */
	const size_t chunk = 45;
	struct sbuf b = { 0 };
	char *clean = notify_sanitize_dup(value);
	const unsigned char *p = (const unsigned char *)clean;
	size_t left = strlen(clean);

	if (!notify_needs_encoding(clean)) {
		sbuf_puts(&b, clean);
		goto out;
	}
	while (left > 0) {
		size_t n = left < chunk ? left : chunk;

		/* Never split a UTF-8 sequence across two words. */
		while (n < left && n > 0 && (p[n] & 0xC0) == 0x80)
			n--;
		if (n == 0)
			n = left < chunk ? left : chunk;
		if (b.len > 0)
			sbuf_add(&b, "\n ", 2);
		sbuf_puts(&b, "=?UTF-8?B?");
		notify_base64(&b, p, n);
		sbuf_puts(&b, "?=");
		p += n;
		left -= n;
	}
out:
	free(clean);
	return sbuf_take(&b);
}

/* A msg-id left part may only hold atext and dots: anything else (and
 * '=' itself) becomes =XX, which keeps the mapping one-to-one. */
static void
notify_msgid_part(struct sbuf *b, const char *key)
{
	static const char extra[] = "!#$%&'*+-/?^_`{|}~.";

	for (; *key != '\0'; key++) {
		unsigned char c = (unsigned char)*key;
		char hex[4];

		if ((c < 0x80 && ((c >= 'a' && c <= 'z') ||
				  (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9'))) ||
		    (c != 0 && strchr(extra, c) != NULL)) {
			sbuf_add(b, (const char *)&c, 1);
			continue;
		}
		(void)snprintf(hex, sizeof(hex), "=%02X", c);
		sbuf_add(b, hex, 3);
	}
}

/* RFC 5322 date in UTC, independent of the locale. */
static void
notify_rfc5322_date(time_t t, char *buf, size_t buflen)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		util_strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", buflen);
		return;
	}
	(void)snprintf(buf, buflen, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		       wday[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12],
		       tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Host name usable in a Maildir file name and an address. */
static void
notify_hostname(char *buf, size_t buflen)
{
	size_t i;

	if (gethostname(buf, buflen) != 0 || buf[0] == '\0')
		util_strlcpy(buf, "localhost", buflen);
	buf[buflen - 1] = '\0';
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] == '/' || buf[i] == ':' || (unsigned char)buf[i] <= ' ')
			buf[i] = '_';
	}
}

/* "Name <email>" (name encoded) or the bare staff id. */
static void
notify_to_header(struct sbuf *b, const struct notification *n,
		 const struct cfg_staff *to)
{
	char *name;

	if (to == NULL || to->email == NULL || to->email[0] == '\0') {
		char *id = notify_sanitize_dup(to ? to->id : n->recipient);

		header_add(b, "To", id);
		free(id);
		return;
	}
	sbuf_puts(b, "To: ");
	if (to->name != NULL && to->name[0] != '\0') {
		if (notify_needs_encoding(to->name)) {
			name = notify_header_encode(to->name);
			sbuf_puts(b, name);
		} else {
			/* A quoted-string: escape the quote and backslash. */
			const char *p;

			name = notify_sanitize_dup(to->name);
			sbuf_add(b, "\"", 1);
			for (p = name; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					sbuf_add(b, "\\", 1);
				sbuf_add(b, p, 1);
			}
			sbuf_add(b, "\"", 1);
		}
		free(name);
		sbuf_add(b, " ", 1);
	}
	name = notify_sanitize_dup(to->email);
	sbuf_add(b, "<", 1);
	sbuf_puts(b, name);
	sbuf_add(b, ">\n", 2);
	free(name);
}

/* The whole message: headers, blank line, body (LF line ends, as a
 * Maildir holds them). */
static char *
notify_render_message(const struct notification *n,
		      const struct cfg_staff *to, const char *host,
		      time_t now)
{
	struct sbuf b = { 0 };
	char line[320];
	char *v;
	const char *p;

	(void)snprintf(line, sizeof(line), "promised <promised@%s>", host);
	header_add(&b, "From", line);
	notify_to_header(&b, n, to);
	v = notify_header_encode(n->subject ? n->subject : "");
	header_add(&b, "Subject", v);
	free(v);
	notify_rfc5322_date(now, line, sizeof(line));
	header_add(&b, "Date", line);
	sbuf_puts(&b, "Message-ID: <");
	notify_msgid_part(&b, n->idem_key ? n->idem_key : "");
	sbuf_puts(&b, "@promised>\n");
	header_add(&b, "Auto-Submitted", "auto-generated");
	header_add(&b, "MIME-Version", "1.0");
	header_add(&b, "Content-Type", "text/plain; charset=UTF-8");
	header_add(&b, "Content-Transfer-Encoding", "8bit");
	(void)snprintf(line, sizeof(line), "%" PRId64, n->promise_id);
	header_add(&b, "X-Promised-Promise", line);
	v = notify_sanitize_dup(n->step);
	header_add(&b, "X-Promised-Step", v);
	free(v);
	v = notify_sanitize_dup(n->recipient);
	header_add(&b, "X-Promised-Recipient", v);
	free(v);
	util_format_utc(n->scheduled_at, line, sizeof(line));
	header_add(&b, "X-Promised-Scheduled", line);
	if (n->late)
		header_add(&b, "X-Promised-Late", "yes");
	sbuf_add(&b, "\n", 1);
	/* CR never reaches the file: a Maildir message uses LF only. */
	for (p = n->body ? n->body : ""; *p != '\0'; p++) {
		if (*p != '\r')
			sbuf_add(&b, p, 1);
	}
	if (b.p[b.len - 1] != '\n')
		sbuf_add(&b, "\n", 1);
	return sbuf_take(&b);
}

/* ---- maildir ---------------------------------------------------------- */

/* mkdir -p for the Maildir and its tmp, new and cur folders. */
static int
notify_maildir_prepare(const char *dir, char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char path[4096];
	size_t i, k;

	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", dir, sub[i]) >=
		    sizeof(path)) {
			util_seterr(err, errlen, "maildir %s: path too long", dir);
			return NOTIFY_PERM;
		}
		/* Parents first, then the folder itself. */
		for (k = 1; path[k] != '\0'; k++) {
			if (path[k] != '/')
				continue;
			path[k] = '\0';
			if (mkdir(path, 0700) != 0 && errno != EEXIST)
				goto fail;
			path[k] = '/';
		}
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			goto fail;
	}
	return NOTIFY_OK;
fail:
	util_seterr(err, errlen, "maildir: cannot create %s: %s", path,
		    util_strerror(errno, ebuf, sizeof(ebuf)));
	return NOTIFY_TEMP;
}

static int
notify_write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, s, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

/* fsync a folder so a rename into it survives a power cut. */
static void
notify_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Writes msg (len bytes; CR dropped, as a Maildir holds LF lines) into
 * the Maildir of ch: tmp/ first, fsynced, then renamed into new/. */
static int
notify_maildir_write(const struct cfg_channel *ch, const char *msg,
		     size_t len, char *provider, size_t providerlen,
		     char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	static unsigned seq;
	char host[256], name[512], tmp[4096], dst[4096];
	struct timeval tv;
	struct sbuf b = { 0 };
	size_t i;
	int fd = -1, rc;

	if (ch->path == NULL || ch->path[0] == '\0') {
		util_seterr(err, errlen, "channel %s: maildir has no path",
			    ch->name);
		return NOTIFY_PERM;
	}
	rc = notify_maildir_prepare(ch->path, err, errlen);
	if (rc != NOTIFY_OK)
		goto out;
	for (i = 0; i < len; i++) {
		if (msg[i] != '\r')
			sbuf_add(&b, &msg[i], 1);
	}
	if (b.len == 0 || b.p[b.len - 1] != '\n')
		sbuf_add(&b, "\n", 1);
	notify_hostname(host, sizeof(host));
	gettimeofday(&tv, NULL);
	/* A cut name or path would write somewhere else: refuse instead. */
	if (!util_fits(snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%u.%s",
			   (long long)tv.tv_sec, (long)tv.tv_usec,
			   (long)getpid(), ++seq, host), sizeof(name)) ||
	    !util_fits(snprintf(tmp, sizeof(tmp), "%s/tmp/%s", ch->path, name),
		  sizeof(tmp)) ||
	    !util_fits(snprintf(dst, sizeof(dst), "%s/new/%s", ch->path, name),
		  sizeof(dst))) {
		util_seterr(err, errlen, "maildir: %s: path too long",
			    ch->path);
		rc = NOTIFY_PERM;
		goto out;
	}
	rc = NOTIFY_TEMP;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		util_seterr(err, errlen, "maildir: %s: %s", tmp,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (notify_write_all(fd, b.p, b.len) != 0 || fsync(fd) != 0) {
		util_seterr(err, errlen, "maildir: writing %s: %s", tmp,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, dst) != 0) {
		util_seterr(err, errlen, "maildir: rename into %s: %s", dst,
			    util_strerror(errno, ebuf, sizeof(ebuf)));
		unlink(tmp);
		goto out;
	}
	/* Shorter than dst, which fitted. */
	(void)snprintf(tmp, sizeof(tmp), "%s/new", ch->path);
	notify_sync_dir(tmp);
	if (provider != NULL)
		util_strlcpy(provider, name, providerlen);
	rc = NOTIFY_OK;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	sbuf_free(&b);
	return rc;
}

static int
notify_maildir_send(const struct cfg_channel *ch, const struct notification *n,
		    const struct cfg_staff *to, char *provider,
		    size_t providerlen, char *err, size_t errlen)
{
	char host[256];
	char *msg;
	int rc;

	notify_hostname(host, sizeof(host));
	msg = notify_render_message(n, to, host, time(NULL));
	rc = notify_maildir_write(ch, msg, strlen(msg), provider, providerlen,
				  err, errlen);
	free(msg);
	return rc;
}

int
notify_maildir_raw(const struct cfg_channel *ch, const char *msg, size_t len,
		   char *provider, size_t providerlen, char *err,
		   size_t errlen)
{
	if (ch->type != CFG_CHANNEL_MAILDIR) {
		util_seterr(err, errlen, "channel %s is not a maildir", ch->name);
		return NOTIFY_PERM;
	}
	return notify_maildir_write(ch, msg, len, provider, providerlen, err,
				    errlen);
}

/* ---- log -------------------------------------------------------------- */

static int
notify_log_send(const struct cfg_channel *ch, const struct notification *n,
		const struct cfg_staff *to, char *provider, size_t providerlen,
		char *err, size_t errlen)
{
	char ebuf[UTIL_STRERROR_LEN];
	char subject[512], rcpt[128], when[32];
	char *line = NULL;
	int fd = -1, rc = NOTIFY_OK;

	(void)provider;
	(void)providerlen;
	notify_sanitize(subject, sizeof(subject), n->subject);
	notify_sanitize(rcpt, sizeof(rcpt), to ? to->id : n->recipient);
	if (ch->path == NULL || ch->path[0] == '\0') {
		log_info("promise %" PRId64 ": notification %" PRId64
			 " to %s%s: %s", n->promise_id, n->id, rcpt,
			 n->late ? " (late)" : "", subject);
		goto out;
	}
	util_format_utc(time(NULL), when, sizeof(when));
	line = xasprintf("%s promise %" PRId64 " notification %" PRId64
			 " to %s%s: %s\n", when, n->promise_id, n->id, rcpt,
			 n->late ? " (late)" : "", subject);
	fd = open(ch->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	/* One write() with O_APPEND keeps concurrent lines whole. */
	if (fd < 0 || notify_write_all(fd, line, strlen(line)) != 0) {
		util_seterr(err, errlen, "log channel %s: %s: %s", ch->name,
			    ch->path, util_strerror(errno, ebuf, sizeof(ebuf)));
		rc = NOTIFY_TEMP;
	}
out:
	if (fd >= 0)
		close(fd);
	free(line);
	return rc;
}

/* ---- Dispatch --------------------------------------------------------- */

int
notify_type_supported(enum cfg_channel_type t)
{
	size_t i;

	for (i = 0; i < NOTIFY_NTYPES; i++) {
		if (notify_types[i].type == t)
			return 1;
	}
	return 0;
}

int
notify_send(const struct cfg_channel *ch, const struct notification *n,
	    const struct cfg_staff *to, char *provider, size_t providerlen,
	    char *err, size_t errlen)
{
	size_t i;

	if (provider != NULL && providerlen > 0)
		provider[0] = '\0';
	for (i = 0; i < NOTIFY_NTYPES; i++) {
		if (notify_types[i].type == ch->type)
			return notify_types[i].send(ch, n, to, provider,
						    providerlen, err, errlen);
	}
	util_seterr(err, errlen, "channel %s: this build cannot deliver "
		    "through its type", ch->name);
	return NOTIFY_PERM;
}
