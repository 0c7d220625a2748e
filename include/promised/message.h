/*
 * message: renders one notification for its channel.  It gathers the
 * template variables (the promise, its owner, the recipient, the last
 * events of its timeline, due in the site's local time and how long until
 * or since) and produces what the channel sends: a complete email for smtp
 * and maildir, the channel's body template for a webhook, one line for log.
 */
#ifndef PROMISED_MESSAGE_H
#define PROMISED_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "promised/config.h"
#include "promised/promise.h"
#include "promised/template.h"

struct action_opts;

/* Longest one-click link a message holds (plus the NUL). */
#define MESSAGE_LINK_MAX 512

/* What the one-click links of a message need (DESIGN.md §7): the action
 * options that sign them (public_url and at least one key) and how long a
 * link stays valid.  Without them (NULL, or no key) a message has no
 * links; the SMS short code is always there. */
struct message_links {
	const struct action_opts *action;   /* borrowed */
	int64_t expiry;                     /* seconds after rendering */
};

/* Which message a notification is, from its step instant (scheduled_at)
 * against due: "reminder" (earlier than 30 min before due), "last_call"
 * (from 30 min to 60 s before due), "lapse" (within 60 s of due),
 * "escalation" (later). */
const char *message_kind(const struct notification *n,
			 const struct promise *p);

struct message_out {
	char *data;          /* owned: email text, webhook body or log line */
	size_t len;
	char *rcpt;          /* owned: email address or phone of the recipient */
	char *subject;       /* owned: rendered subject (for logs, outbox) */
};

/*
 * Renders n (to staff n->recipient) for channel ch in the recipient's
 * locale.  events are the promise's timeline (the last few are shown).
 * 0, or -1 with err (a recipient without email for smtp, without phone
 * for an SMS webhook, is a permanent error: *permanent is set).
 */
int message_render(const struct config *cfg, const struct template_set *tpl,
		   const struct cfg_channel *ch, const struct notification *n,
		   const struct promise *p, const struct event *events,
		   size_t nevents, int64_t now, struct message_out *out,
		   int *permanent, char *err, size_t errlen);
void message_out_clear(struct message_out *out);

/* 1 when a message for ch (NULL: the subject and text of
 * message_render_text) shows the promise's history, so the caller must
 * read its timeline; 0 when events may be NULL. */
int message_uses_history(const struct template_set *tpl,
			 const struct cfg_channel *ch);

/* message_render with the one-click links Done, I'm on it and Snooze for
 * n's promise and recipient (links may be NULL: none).  Each link's token
 * is recorded in the store of links->action when it has one. */
int message_render_linked(const struct config *cfg,
			  const struct template_set *tpl,
			  const struct cfg_channel *ch,
			  const struct notification *n, const struct promise *p,
			  const struct event *events, size_t nevents,
			  const struct message_links *links, int64_t now,
			  struct message_out *out, int *permanent, char *err,
			  size_t errlen);

/* Renders only the subject and the plain text of n for its recipient, as
 * message_render would (what the log and maildir channels show).  0 with
 * *subject and *text owned, or -1 with err. */
int message_render_text(const struct config *cfg,
			const struct template_set *tpl,
			const struct notification *n, const struct promise *p,
			const struct event *events, size_t nevents,
			int64_t now, char **subject, char **text,
			char *err, size_t errlen);
/* message_render_text with the one-click links (see
 * message_render_linked). */
int message_render_text_linked(const struct config *cfg,
			       const struct template_set *tpl,
			       const struct notification *n,
			       const struct promise *p,
			       const struct event *events, size_t nevents,
			       const struct message_links *links, int64_t now,
			       char **subject, char **text, char *err,
			       size_t errlen);

#endif
