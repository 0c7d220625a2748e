/*
 * action: acting on a promise straight from a message, without logging in.
 *
 * One-click links.  A link is <public_url>/a/<token>; the token is
 *   base64url(payload) "." base64url(HMAC-SHA256(key, payload))
 * and the payload is the text
 *   "1|<kid>|<token id: 16 hex>|<promise id>|<action>|<recipient>|<expiry>"
 * (version 1, key id, a random 64-bit token id, the promise, the action
 * name, the recipient's staff id, the expiry in UTC seconds).  The first
 * key of the options signs; every key verifies, so a key can be rotated
 * by putting the new one first and keeping the old one until its links
 * have expired.  GET /a/<token> shows a confirmation page and changes
 * nothing (mail scanners open links); POST /a/<token> acts once: the
 * token id is recorded as used in the tokens table right after the action,
 * and a replay shows what was done and when.  A forged, tampered or
 * expired token gets a 403 page and, when the promise is readable from
 * it, a note in the promise's timeline.
 *
 * SMS replies.  POST /hooks/sms takes a provider's inbound message,
 * checks its signature (Twilio's X-Twilio-Signature or Standard Webhooks)
 * and understands "DONE 4821", "4821 done", "OK 4821", "SNOOZE 4821 1h",
 * "KLAAR 4821", "FAIT 4821", "JA 4821", "OUI 4821" case-insensitively.
 *
 * Short codes.  The code of a notification is derived from its id:
 *   code = (id % 9000) + 1000          (always four digits, 1000..9999)
 * so the message renders it without storing anything.  A reply's code is
 * looked up among the notifications sent to the sender (whose phone names
 * the staff member) in the last ACTION_CODE_WINDOW seconds, newest first:
 * only the person a notification went to can act through it, and two of
 * one person's notifications share a code only when 9000 notifications
 * were queued between them.
 */
#ifndef PROMISED_ACTION_H
#define PROMISED_ACTION_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct http_server;

/* How far back a reply's short code is looked up: 7 days. */
#define ACTION_CODE_WINDOW (INT64_C(7) * 86400)
/* Snooze from a link or a reply without a duration: 30 minutes. */
#define ACTION_SNOOZE_DEFAULT 1800
/* Longest token action_token_new writes (plus the NUL). */
#define ACTION_TOKEN_MAX 256

enum action_kind {
	ACTION_DONE = 0,       /* close kept (late after due) */
	ACTION_ACK,            /* "I'm on it" */
	ACTION_SNOOZE,         /* 30 min, or until the next opening */
	ACTION_HANDOVER,       /* to a colleague chosen on the page */
	ACTION_UNREACHABLE,    /* the customer could not be reached */
	ACTION_KIND_COUNT
};

/* "done", "ack", "snooze", "handover", "unreachable". */
const char *action_kind_name(enum action_kind k);
/* Parses a name back; 0 or -1. */
int action_kind_parse(const char *name, enum action_kind *out);

/* A signing key: kid is 1-16 of [A-Za-z0-9_-]; the secret is the bytes of
 * a credential file (secret_read).  Borrowed by the options. */
struct action_key {
	const char *kid;
	const unsigned char *secret;
	size_t secret_len;
};

/* Who signs inbound SMS webhooks, which also decides the reply format. */
enum action_sms_provider {
	ACTION_SMS_TWILIO = 0,     /* X-Twilio-Signature; TwiML replies */
	ACTION_SMS_STANDARD,       /* Standard Webhooks; JSON {"reply": ...} */
};

/* Everything the module needs; all pointers borrowed for its lifetime. */
struct action_opts {
	struct store *store;
	const struct config *cfg;         /* staff, teams and sites */
	const char *public_url;           /* "https://promised.example.com" */
	const struct action_key *keys;    /* keys[0] signs */
	size_t nkeys;
	/* SMS replies */
	enum action_sms_provider sms_provider;
	const char *sms_secret;           /* Twilio auth token, or "whsec_..." */
	const char *sms_url;              /* URL the provider posts to (for
					   * Twilio's signature); NULL:
					   * public_url + "/hooks/sms" */
	const char *sms_from_field;       /* NULL: "From" */
	const char *sms_text_field;       /* NULL: "Body" */
	/* The clock; NULL: time(). */
	int64_t (*clock)(void *ctx);
	void *clock_ctx;
};

/* What a verified token says. */
struct action_token {
	char kid[17];
	char id[17];               /* token id, 16 lower-case hex digits */
	int64_t promise_id;
	enum action_kind action;
	char recipient[65];        /* staff id */
	int64_t expires_at;
};

enum action_token_rc {
	ACTION_TOKEN_OK = 0,
	ACTION_TOKEN_MALFORMED,    /* not a token: nothing in it is readable */
	ACTION_TOKEN_BAD_SIGNATURE,/* readable, but unknown kid or wrong MAC */
	ACTION_TOKEN_EXPIRED,      /* genuine, past its expiry */
};

/* Writes a new token for promise_id/action/recipient valid until
 * expires_at into out (ACTION_TOKEN_MAX is enough), and records its id in
 * the tokens table when opts->store is set.  0, or -1 with err. */
int action_token_new(const struct action_opts *o, int64_t promise_id,
		     enum action_kind action, const char *recipient,
		     int64_t expires_at, char *out, size_t outlen,
		     char *err, size_t errlen);
/* Same, as the full link "<public_url>/a/<token>". */
int action_link_new(const struct action_opts *o, int64_t promise_id,
		    enum action_kind action, const char *recipient,
		    int64_t expires_at, char *out, size_t outlen,
		    char *err, size_t errlen);
/* Verifies token at now in constant time; *out is filled whenever the
 * payload could be read (also for BAD_SIGNATURE and EXPIRED). */
enum action_token_rc action_token_check(const struct action_opts *o,
					const char *token, int64_t now,
					struct action_token *out);

/* The four-digit short code of notification id (see above). */
int action_short_code(int64_t notification_id);

/* What an SMS reply asks for. */
enum action_sms_verb {
	ACTION_SMS_HELP = 0,       /* anything not understood, or HELP */
	ACTION_SMS_COMMAND,        /* action + code (+ duration for snooze) */
	ACTION_SMS_OPTOUT,         /* STOP-style keyword: the provider's */
	ACTION_SMS_OPTIN,          /* START-style keyword: the provider's */
};

struct action_sms_cmd {
	enum action_sms_verb verb;
	enum action_kind action;   /* DONE, ACK or SNOOZE */
	int code;                  /* 1000..9999 */
	int64_t duration;          /* snooze seconds; 0: the default */
	const char *lang;          /* "en", "nl", "fr": the keyword's language */
};

/* Parses a reply text (case-insensitive; surrounding blanks ignored). */
void action_sms_parse(const char *text, struct action_sms_cmd *out);

/* Twilio: sig == base64(HMAC-SHA1(auth_token, url + name1 value1 ...))
 * with the POST parameters sorted by name (then value).  1 when valid. */
int action_sms_twilio_valid(const char *auth_token, const char *url,
			    const char *const *names,
			    const char *const *values, size_t n,
			    const char *sig);
/* Standard Webhooks: one of the space-separated "v1,<base64>" entries of
 * sig is base64(HMAC-SHA256(base64-decoded secret after "whsec_",
 * id "." timestamp "." body)) and timestamp is within 5 minutes of now.
 * 1 when valid. */
int action_sms_standard_valid(const char *secret, const char *id,
			      const char *timestamp, const char *sig,
			      const char *body, size_t len, int64_t now);

/* A response for the HTTP layer. */
struct action_reply {
	int status;
	const char *content_type;  /* static */
	char *body;                /* owned */
	size_t len;
	int page;                  /* 1: an action page (no-store headers) */
};
void action_reply_clear(struct action_reply *r);

/* GET or POST /a/<token>; to is the chosen colleague of a handover POST
 * (NULL otherwise).  Fills *out; 0, or -1 on an internal error (out still
 * holds a 500 page). */
int action_page(const struct action_opts *o, const char *method,
		const char *token, const char *to, struct action_reply *out);

/* An inbound SMS webhook, as the HTTP layer received it. */
struct action_sms_in {
	const char *url;           /* full URL it was posted to; NULL: opts */
	const char *content_type;
	const char *body;
	size_t len;
	const char *const *names;  /* form fields in order */
	const char *const *values;
	size_t nparams;
	const char *twilio_signature;
	const char *webhook_id;
	const char *webhook_timestamp;
	const char *webhook_signature;
};
/* POST /hooks/sms: 403 without a valid signature (nothing happens),
 * else 200 with the answer in the provider's format. */
int action_sms(const struct action_opts *o, const struct action_sms_in *in,
	       struct action_reply *out);

/* Registers GET/POST /a/ * and POST /hooks/sms on srv; o must outlive
 * srv.  0 or -1 with err. */
int action_register(struct http_server *srv, const struct action_opts *o,
		    char *err, size_t errlen);

#endif
