/*
 * mime: builds the RFC 5322 / MIME email for a notification: encoded-word
 * subjects and display names (RFC 2047), quoted-printable text and HTML
 * parts in multipart/alternative, Date, a Message-ID and a boundary both
 * derived from the notification's idem_key, so that a retried message is
 * byte-identical to the first attempt.  Header values can never carry a
 * CR, LF or other control character: each becomes a space.
 * Pure: the date is an argument, nothing is random.
 */
#ifndef PROMISED_MIME_H
#define PROMISED_MIME_H

#include <stddef.h>
#include <stdint.h>

/* One message; every string UTF-8 and borrowed. */
struct mime_msg {
	const char *from;      /* "addr@x" or "Display Name <addr@x>" */
	const char *to;        /* same forms */
	const char *reply_to;  /* same forms, or NULL for none */
	const char *subject;
	const char *text;      /* the text/plain part */
	const char *html;      /* the text/html part, or NULL for text only */
	const char *idem_key;  /* the notification's key: Message-ID, boundary */
	int64_t date;          /* UTC seconds */
};

/* Returns an owned header value for utf8: control characters become
 * spaces; when it holds non-ASCII bytes (or "=?") it becomes RFC 2047
 * B encoded-words of at most 75 characters, never splitting a character,
 * folded with CRLF SP so that no line exceeds 76 characters when `used`
 * characters ("Subject: ") precede it on the first line. */
char *mime_encode_header_value(const char *utf8, size_t used);

/* Returns an owned "Name: value\r\n" line with value as above. */
char *mime_header_new(const char *name, const char *value);

/* Returns an owned address header value for "addr" or "Name <addr>": the
 * name is quoted or encoded as needed; NULL when the address itself is
 * not plausible (empty, spaces, control characters, no '@'). */
char *mime_address_new(const char *name_addr);

/* Writes t as an RFC 5322 date, "Sun, 29 Nov 2026 09:04:18 +0000". */
void mime_date(int64_t t, char *buf, size_t buflen);

/* Returns an owned "<key@promised.invalid>" for idem_key, with every
 * character that may not stand in a message id (and '=' and '.') written
 * as =XX, so distinct keys give distinct ids. */
char *mime_message_id_new(const char *idem_key);

/* Writes the multipart boundary for idem_key ("=_promised_" + 32 hex
 * digits); "=_" cannot occur in quoted-printable data. */
void mime_boundary(const char *idem_key, char *buf, size_t buflen);

/* Returns owned quoted-printable for text: CRLF line ends, lines of at
 * most 76 characters, a leading '.' or "From " encoded. */
char *mime_qp_encode_new(const char *text);

/* Builds the whole message (CRLF line ends) into *out (owned, *len bytes,
 * NUL-terminated).  0, or -1 with err (bad address, no idem_key). */
int mime_build_message(const struct mime_msg *m, char **out, size_t *len,
		       char *err, size_t errlen);

#endif
