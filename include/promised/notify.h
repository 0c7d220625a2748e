/*
 * notify: hands one notification (an outbox row) to one channel.  Each
 * channel type is an entry of a table {type, send}; `log` writes one line,
 * `maildir` one RFC 5322 message delivered atomically (tmp/ then new/).
 * Network channels (smtp, webhook) are added to the same table.
 */
#ifndef PROMISED_NOTIFY_H
#define PROMISED_NOTIFY_H

#include <stddef.h>

#include "promised/config.h"
#include "promised/promise.h"

/* Result of a send: the outbox turns these into sent, retry or dead. */
enum notify_rc {
	NOTIFY_OK = 0,         /* delivered; the far side has it */
	NOTIFY_TEMP = -1,      /* failed for now; retry later */
	NOTIFY_PERM = -2,      /* failed for good; do not retry */
};

/* Delivers n through channel ch to staff member `to` (may be NULL when the
 * recipient is not on staff any more: the staff id is used).  On success
 * provider (if not NULL) gets an identifier of the delivered copy (the
 * Maildir file name), else a NUL string.  Returns an enum notify_rc with
 * the reason in err. */
int notify_send(const struct cfg_channel *ch, const struct notification *n,
		const struct cfg_staff *to, char *provider, size_t providerlen,
		char *err, size_t errlen);

/* Delivers msg (len bytes, a complete RFC 5322 message, e.g. one built
 * when it was queued) as it is into the Maildir of ch (type maildir);
 * CRLF line ends are stored as LF.  provider as for notify_send. */
int notify_maildir_raw(const struct cfg_channel *ch, const char *msg,
		       size_t len, char *provider, size_t providerlen,
		       char *err, size_t errlen);

/* 1 when this build can deliver through channels of type t, else 0. */
int notify_type_supported(enum cfg_channel_type t);

/* Copies s into dst (size dstlen) with every control character (CR, LF,
 * TAB, DEL ...) replaced by a space, so text from customers cannot start a
 * new header or log line.  Returns dst. */
char *notify_sanitize(char *dst, size_t dstlen, const char *s);

/* Encodes a header value for RFC 5322: sanitised, and as an RFC 2047
 * encoded-word (=?UTF-8?B?...?=, split into words of at most 75 chars)
 * when it contains non-ASCII bytes.  Returns an owned string. */
char *notify_header_encode(const char *value);

#endif
