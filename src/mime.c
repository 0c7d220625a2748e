/*
 * mime: turns a rendered notification into the bytes of an email.  Every
 * choice that could differ between two attempts (boundary, Message-ID) is
 * derived from the idem_key, and every header value goes through the
 * header escaping of template, so customer data cannot start a header.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promised/mime.h"
#include "promised/sbuf.h"
#include "promised/template.h"
#include "promised/util.h"
#include "promised/xmalloc.h"

static void
base64_add(struct sbuf *b, const unsigned char *s, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		/* ?: promotes its char arms to int: back to char. */
		q[2] = (char)(i + 1 < n ? tab[(v >> 6) & 63] : '=');
		q[3] = (char)(i + 2 < n ? tab[v & 63] : '=');
		sbuf_add(b, q, 4);
	}
}

/* Appends s (already free of control characters) as encoded-words. */
static void
encode_words(struct sbuf *b, const char *s, size_t used)
{
	size_t n = strlen(s), i = 0;
	int first = 1;

	while (i < n) {
		/* A word is "=?UTF-8?B?" + base64 + "?=": 12 + 4 per 3 bytes;
		 * a continuation line starts with one space. */
		size_t cap = first ? (used < 60 ? 76 - used : 16) : 75;
		size_t max = (cap > 75 ? 75 : cap) - 12, j;

		max = max / 4 * 3;
		j = i + max >= n ? n : i + max;
		while (j < n && j > i && ((unsigned char)s[j] & 0xC0) == 0x80)
			j--;
		if (j == i)
			j = n < i + 4 ? n : i + 4;  /* cannot happen with UTF-8 */
		if (!first)
			sbuf_puts(b, "\r\n ");
		sbuf_puts(b, "=?UTF-8?B?");
		base64_add(b, (const unsigned char *)s + i, j - i);
		sbuf_puts(b, "?=");
		i = j;
		first = 0;
	}
}

static int
needs_encoding(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p >= 0x80)
			return 1;
	return strstr(s, "=?") != NULL || strlen(s) > 900;
}

/* Appends ASCII s, folding before spaces so that lines stay within 76
 * characters where the words allow; unfolding gives s back unchanged. */
static void
fold_ascii(struct sbuf *b, const char *s, size_t used)
{
	size_t i = 0, col = used;

	while (s[i] != '\0') {
		size_t j = i + 1;

		while (s[j] != '\0' && s[j] != ' ')
			j++;
		if (s[i] == ' ' && col + (j - i) > 76 && col > 1 &&
		    s[i + 1] != ' ' && s[i + 1] != '\0') {
			sbuf_puts(b, "\r\n");
			col = 0;
		}
		sbuf_add(b, s + i, j - i);
		col += j - i;
		i = j;
	}
}

char *
mime_encode_header_value(const char *utf8, size_t used)
{
	char *clean = template_escape_new(TEMPLATE_HEADER, utf8);
	struct sbuf b = { 0 };

	if (needs_encoding(clean))
		encode_words(&b, clean, used);
	else
		fold_ascii(&b, clean, used);
	free(clean);
	return sbuf_take(&b);
}

char *
mime_header_new(const char *name, const char *value)
{
	char *v = mime_encode_header_value(value ? value : "",
					   strlen(name) + 2);
	char *line = xasprintf("%s: %s\r\n", name, v);

	free(v);
	return line;
}

static int
addr_ok(const char *a, size_t n)
{
	size_t i;

	if (n == 0 || n > 254 || memchr(a, '@', n) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= 0x20 || c >= 0x7F || strchr("<>,;\"()[]\\", c))
			return 0;
	}
	return 1;
}

/* Appends a display name: as is, quoted, or encoded. */
static void
display_name(struct sbuf *b, const char *name)
{
	const char *p;

	if (needs_encoding(name)) {
		encode_words(b, name, 10);
		return;
	}
	if (strpbrk(name, "()<>[]:;@\\,.\"") == NULL) {
		sbuf_puts(b, name);
		return;
	}
	sbuf_add(b, "\"", 1);
	for (p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_add(b, "\\", 1);
		sbuf_add(b, p, 1);
	}
	sbuf_add(b, "\"", 1);
}

char *
mime_address_new(const char *name_addr)
{
	char *clean = template_escape_new(TEMPLATE_HEADER, name_addr);
	struct sbuf b = { 0 };
	char *lt, *end, *name, *addr;
	size_t n = strlen(clean);

	while (n > 0 && clean[n - 1] == ' ')
		clean[--n] = '\0';
	name = clean;
	while (*name == ' ')
		name++;
	lt = strrchr(name, '<');
	if (lt != NULL && n > 0 && clean[n - 1] == '>') {
		addr = lt + 1;
		end = clean + n - 1;
		*lt = '\0';
		for (n = strlen(name); n > 0 && name[n - 1] == ' '; n--)
			name[n - 1] = '\0';
	} else {
		addr = name;
		end = clean + n;
		name = clean + n;   /* empty */
	}
	if (!addr_ok(addr, (size_t)(end - addr)))
		goto out;
	sbuf_add(&b, "", 0);
	if (*name != '\0') {
		display_name(&b, name);
		sbuf_puts(&b, " <");
	}
	sbuf_add(&b, addr, (size_t)(end - addr));
	if (*name != '\0')
		sbuf_puts(&b, ">");
out:
	free(clean);
	return b.p;
}

void
mime_date(int64_t t, char *buf, size_t buflen)
{
	static const char *const days[] = {
		"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t sec = t - day * 86400;
	int y, m, d;

	util_civil_from_days(day, &y, &m, &d);
	(void)snprintf(buf, buflen, "%s, %d %s %04d %02d:%02d:%02d +0000",
		       days[util_weekday(day)], d, months[m - 1], y,
		       (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}

char *
mime_message_id_new(const char *idem_key)
{
	struct sbuf b = { 0 };
	const unsigned char *p;

	sbuf_puts(&b, "<");
	for (p = (const unsigned char *)idem_key; *p != '\0'; p++) {
		char hex[4];

		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') ||
		    (*p < 0x7F && strchr("!#$%&'*+-/?^_`{|}~", *p) != NULL)) {
			sbuf_add(&b, (const char *)p, 1);
			continue;
		}
		(void)snprintf(hex, sizeof(hex), "=%02X", *p);
		sbuf_puts(&b, hex);
	}
	sbuf_puts(&b, "@promised.invalid>");
	return sbuf_take(&b);
}

/* FNV-1a, 64 bits, from a given start: stable across builds and hosts. */
static uint64_t
fnv1a(const char *s, uint64_t h)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void
mime_boundary(const char *idem_key, char *buf, size_t buflen)
{
	(void)snprintf(buf, buflen, "=_promised_%016llx%016llx",
		       (unsigned long long)fnv1a(idem_key,
						 0xcbf29ce484222325ULL),
		       (unsigned long long)fnv1a(idem_key,
						 0x84222325cbf29ce4ULL));
}

/* Appends the quoted-printable form of one line (without its end). */
static void
qp_line(struct sbuf *b, const unsigned char *s, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		char tok[4];
		size_t tl = 1;
		int lit = (c >= 33 && c <= 126 && c != '=') ||
			  ((c == ' ' || c == '\t') && i + 1 < n);

		/* Lines starting with "." or "From " are altered by some
		 * transports; encoding their first byte keeps them intact. */
		if (i == 0 && (c == '.' || (n >= 5 && memcmp(s, "From ", 5) == 0)))
			lit = 0;
		if (lit) {
			tok[0] = (char)c;
		} else {
			(void)snprintf(tok, sizeof(tok), "=%02X", c);
			tl = 3;
		}
		if (col + tl > 75) {
			sbuf_puts(b, "=\r\n");
			col = 0;
		}
		sbuf_add(b, tok, tl);
		col += tl;
	}
}

char *
mime_qp_encode_new(const char *text)
{
	struct sbuf b = { 0 };
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		size_t m = n;

		if (m > 0 && p[m - 1] == '\r')
			m--;
		qp_line(&b, (const unsigned char *)p, m);
		sbuf_puts(&b, "\r\n");
		p += n + (nl ? 1 : 0);
	}
	return sbuf_take(&b);
}

static void
add_part(struct sbuf *b, const char *boundary, const char *type,
	 const char *body)
{
	char *qp = mime_qp_encode_new(body);

	sbuf_puts(b, "--");
	sbuf_puts(b, boundary);
	sbuf_puts(b, "\r\nContent-Type: ");
	sbuf_puts(b, type);
	sbuf_puts(b, "; charset=UTF-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	sbuf_puts(b, qp);
	free(qp);
}

/* Appends "Name: <address>\r\n"; -1 when the address is not usable. */
static int
add_address(struct sbuf *b, const char *name, const char *value,
	    char *err, size_t errlen)
{
	char *a = value ? mime_address_new(value) : NULL;

	if (a == NULL) {
		util_seterr(err, errlen, "%s: not a usable address", name);
		return -1;
	}
	sbuf_puts(b, name);
	sbuf_puts(b, ": ");
	sbuf_puts(b, a);
	sbuf_puts(b, "\r\n");
	free(a);
	return 0;
}

static void
add_body(struct sbuf *b, const struct mime_msg *m)
{
	char boundary[64];
	char *qp;

	sbuf_puts(b, "MIME-Version: 1.0\r\n");
	if (m->html == NULL) {
		qp = mime_qp_encode_new(m->text ? m->text : "");
		sbuf_puts(b, "Content-Type: text/plain; charset=UTF-8\r\n"
			  "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		sbuf_puts(b, qp);
		free(qp);
		return;
	}
	mime_boundary(m->idem_key, boundary, sizeof(boundary));
	sbuf_puts(b, "Content-Type: multipart/alternative;\r\n boundary=\"");
	sbuf_puts(b, boundary);
	sbuf_puts(b, "\"\r\n\r\n"
		  "This is a multi-part message in MIME format.\r\n\r\n");
	add_part(b, boundary, "text/plain", m->text ? m->text : "");
	add_part(b, boundary, "text/html", m->html);
	sbuf_puts(b, "--");
	sbuf_puts(b, boundary);
	sbuf_puts(b, "--\r\n");
}

int
mime_build_message(const struct mime_msg *m, char **out, size_t *len,
		   char *err, size_t errlen)
{
	struct sbuf b = { 0 };
	char date[64], *line;
	int rc = -1;

	*out = NULL;
	*len = 0;
	if (m->idem_key == NULL || m->idem_key[0] == '\0') {
		util_seterr(err, errlen, "a message needs an idem_key");
		goto out;
	}
	if (add_address(&b, "From", m->from, err, errlen) != 0 ||
	    add_address(&b, "To", m->to, err, errlen) != 0 ||
	    (m->reply_to != NULL &&
	     add_address(&b, "Reply-To", m->reply_to, err, errlen) != 0))
		goto out;
	line = mime_header_new("Subject", m->subject);
	sbuf_puts(&b, line);
	free(line);
	mime_date(m->date, date, sizeof(date));
	sbuf_puts(&b, "Date: ");
	sbuf_puts(&b, date);
	line = mime_message_id_new(m->idem_key);
	sbuf_puts(&b, "\r\nMessage-ID: ");
	sbuf_puts(&b, line);
	free(line);
	sbuf_puts(&b, "\r\nAuto-Submitted: auto-generated\r\n"
		   "X-Auto-Response-Suppress: All\r\n");
	add_body(&b, m);
	*len = b.len;
	*out = sbuf_take(&b);
	rc = 0;
out:
	sbuf_free(&b);
	return rc;
}
