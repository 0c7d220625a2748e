/*
 * config: the one YAML file (libyaml) parsed into one struct over defaults.
 * Every error is collected, not just the first, as "file:line:column:
 * message"; a config is only used when it validated as a whole.  Each
 * top-level section is an entry of a table in config.c.
 */
#ifndef PROMISED_CONFIG_H
#define PROMISED_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "promised/calendar.h"
#include "promised/phrase.h"
#include "promised/schedule.h"

#define CONFIG_DEFAULT_PATH PROMISED_SYSCONFDIR "/promised/promised.yaml"
#define CONFIG_TEMPLATES_DIR PROMISED_DATADIR "/promised/templates"

struct cfg_staff {
	char *id;
	char *name;
	char *email;
	char *phone;       /* E.164: +32470123456 */
	char *locale;      /* en, nl, fr */
	char *team;        /* may be NULL */
	char *manager;     /* staff id, may be NULL */
};

struct cfg_team {
	char *id;
	char *lead;        /* staff id, required */
	char *site;        /* site id, required */
	char *policy;      /* NULL: the default policy */
};

enum cfg_channel_type {
	CFG_CHANNEL_LOG = 0,
	CFG_CHANNEL_MAILDIR,
	CFG_CHANNEL_SMTP,
	CFG_CHANNEL_WEBHOOK,
};

/* Outbox retries: wait base, then base*factor, ... up to cap (plus
 * jitter); a notification older than max_age is given up (dead). */
struct cfg_retry {
	int64_t base;      /* seconds, > 0; default 30s */
	double factor;     /* 1.0 to 10.0; default 2.0 */
	int64_t cap;       /* seconds, >= base; default 1h */
	int64_t max_age;   /* seconds, >= base; default 24h */
};

enum cfg_smtp_tls {
	CFG_SMTP_STARTTLS_REQUIRED = 0,  /* smtp://: refuse a server without it */
	CFG_SMTP_STARTTLS_OPTIONAL,      /* smtp://: upgrade when offered */
	CFG_SMTP_STARTTLS_NEVER,         /* smtp://: plain text */
	CFG_SMTP_IMPLICIT_TLS,           /* smtps://: TLS from the first byte */
};

struct cfg_smtp {
	char *url;             /* as written: smtp://host[:port] or smtps://... */
	char *host;
	int port;              /* from the url; 25 (smtp) or 465 (smtps) if absent */
	enum cfg_smtp_tls tls;
	char *username;        /* NULL: no AUTH */
	char *password_file;   /* set exactly when username is */
	char *from;            /* as written: "addr" or "Name <addr>" */
	char *from_addr;       /* the bare address, for MAIL FROM */
	char *from_name;       /* NULL when none */
	char *reply_to;        /* NULL when none; same forms as from */
};

enum cfg_http_method {
	CFG_HTTP_POST = 0,
	CFG_HTTP_PUT,
};

enum cfg_auth_type {
	CFG_AUTH_NONE = 0,
	CFG_AUTH_BEARER,       /* Authorization: Bearer <token_file> */
	CFG_AUTH_BASIC,        /* Authorization: Basic username:<password_file> */
};

enum cfg_signing_type {
	CFG_SIGNING_NONE = 0,
	CFG_SIGNING_STANDARD_WEBHOOKS,  /* webhook-id/-timestamp/-signature */
};

struct cfg_header {
	char *name;            /* an HTTP token */
	char *value;           /* no CR, LF or other control characters */
};

struct cfg_webhook {
	char *url;             /* http:// or https:// */
	enum cfg_http_method method;
	struct cfg_header *headers;
	size_t nheaders;
	char *body;            /* template text */
	char *content_type;    /* default application/json */
	enum cfg_auth_type auth;
	char *auth_username;   /* basic */
	char *auth_secret_file;  /* bearer: token_file; basic: password_file */
	enum cfg_signing_type signing;
	char *signing_secret_file;
	int64_t max_response;  /* bytes of a response body kept; default 64 KiB */
};

/* Secret files (password_file, token_file, secret_file) and ca_file are
 * absolute: a relative name is looked up in $CREDENTIALS_DIRECTORY when
 * it exists there (systemd LoadCredential=), else in the config's folder.
 * The secrets themselves are read with secret_read at send time. */
struct cfg_channel {
	char *name;
	enum cfg_channel_type type;
	char *path;        /* maildir: the Maildir folder; log: file or NULL (stderr) */
	struct cfg_retry retry;    /* the channel's own, over the outbox's */
	/* smtp and webhook */
	int concurrency;           /* smtp 1..16 (2), webhook 1..64 (4) */
	int64_t connect_timeout;   /* seconds, default 10 */
	int64_t timeout;           /* seconds, whole transfer, default 60 */
	char *ca_file;             /* NULL: the system's trust store */
	struct cfg_smtp smtp;      /* type smtp only */
	struct cfg_webhook webhook;  /* type webhook only */
};

/* Message templates (see template.h): dir holds <locale>/<kind>.<part>;
 * a file of the same name under override replaces the shipped one. */
struct cfg_templates {
	char *dir;         /* default PROMISED_DATADIR "/promised/templates" */
	char *override;    /* NULL: none */
	int given;         /* 1 when the file set templates.dir */
};

/* Components of a feed (the same bits as enum feed_component). */
#define CFG_FEED_VTODO 1
#define CFG_FEED_VEVENT 2

#define CFG_FEED_DEFAULT_EVERY 300
#define CFG_FEED_MIN_EVERY 30
#define CFG_FEED_DEFAULT_MAX_BYTES (INT64_C(16) * 1024 * 1024)
#define CFG_HOLIDAYS_DEFAULT_EVERY 86400

/* A calendar feed (feeds: NAME: ...), or a site's holiday calendar
 * (sites: ID: holidays_url/holidays_file), which is read like a feed but
 * only yields days.  url is either http(s)://... as written, or an
 * absolute path (a file:// url or a relative path is turned into one). */
struct cfg_feed {
	char *name;            /* [A-Za-z0-9_.-]+; the site id for holidays */
	char *url;
	enum cfg_auth_type auth;
	char *auth_username;   /* basic */
	char *auth_secret_file;  /* bearer: token_file; basic: password_file */
	int64_t every;         /* seconds between polls; >= 30 */
	unsigned components;   /* CFG_FEED_* bits; default both */
	char **categories;     /* match any of these; none: no filter */
	size_t ncategories;
	char *summary_prefix;  /* NULL: none */
	char *summary_pattern; /* POSIX ERE, checked to compile; NULL: none */
	int use_dtend;         /* VEVENT due from DTEND */
	char *default_owner;   /* staff id; required for feeds */
	char *site;            /* site id; default: default_site */
	char *policy;          /* NULL: the site's / default policy */
	int64_t horizon;       /* seconds; default 14 days */
	int max_instances;     /* per recurring item; default 500 */
	double max_cancel_share;   /* 0..1; default 0.5 */
	int64_t max_bytes;     /* answer size cap; default 16 MiB */
	int64_t timeout;       /* seconds, whole transfer; default 60 */
	int64_t connect_timeout;   /* seconds; default 10 */
	char *ca_file;         /* NULL: the system's trust store */
	int holidays;          /* 1: a site's holiday calendar */
};

/* The HTTP listener (DESIGN.md §7).  Secret files are resolved like a
 * channel's (see struct cfg_channel) and must be readable at load. */
#define CFG_HTTP_DEFAULT_LISTEN "127.0.0.1:8470"
#define CFG_HTTP_DEFAULT_MAX_BODY (INT64_C(1024) * 1024)
#define CFG_HTTP_DEFAULT_LINK_EXPIRY (INT64_C(7) * 86400)

/* One key that signs or verifies one-click links. */
struct cfg_signing_key {
	char *kid;             /* 1-16 of [A-Za-z0-9_-] */
	char *secret_file;
};

enum cfg_sms_provider {
	CFG_SMS_TWILIO = 0,            /* X-Twilio-Signature, TwiML replies */
	CFG_SMS_STANDARD_WEBHOOKS,     /* webhook-signature, JSON replies */
};

/* Inbound SMS replies (POST /hooks/sms); the answer to a reply goes back
 * in the HTTP response, in the provider's format. */
struct cfg_http_sms {
	int enabled;           /* 1 when the sms section is given */
	enum cfg_sms_provider provider;
	char *secret_file;     /* Twilio: auth_token_file; else secret_file */
	char *from_field;      /* default "From" */
	char *text_field;      /* default "Body" */
	char *url;             /* as configured at the provider; default
				* public_url + "/hooks/sms" */
};

struct cfg_http {
	int enabled;           /* 1 when the http section is given */
	char *listen;          /* host:port; default 127.0.0.1:8470 */
	char *public_url;      /* http(s)://..., no trailing slash */
	int64_t max_body;      /* bytes; default 1 MiB */
	int64_t link_expiry;   /* seconds; default 7 days */
	struct cfg_signing_key *keys;   /* keys[0] signs; all verify */
	size_t nkeys;
	char *intake_token_file;        /* NULL: the intake API answers 503 */
	struct cfg_http_sms sms;
	/* The live board (GET /): a token, Basic auth, or both; with
	 * neither every request to it is refused. */
	char *board_token_file;         /* NULL: no board token */
	char *board_basic_user;         /* set exactly when the password is */
	char *board_basic_password_file;
};

/* The weekly digest: `digest:` per site ({weekday, time} or off; default
 * Monday 08:00 local) and `digest: {channel: NAME}` at the top. */
#define CFG_DIGEST_DEFAULT_WEEKDAY 0       /* Monday */
#define CFG_DIGEST_DEFAULT_MINUTE (8 * 60)

struct cfg_digest_site {
	char *site;            /* site id */
	int weekday;           /* 0 = Monday ... 6 = Sunday; -1: off */
	int minute;            /* minute of the local day */
};

struct cfg_digest {
	char *channel;         /* smtp, maildir or log channel; NULL: the
				* first smtp channel, else the first maildir */
	struct cfg_digest_site *sites;   /* sites that set `digest:` */
	size_t nsites;
};

struct cfg_daemon {
	int64_t safety_sweep;  /* seconds; 0 = off, else >= 60 */
};

struct config {
	char *path;                      /* the file it came from */
	char fingerprint[65];            /* see config_fingerprint */
	char *database;                  /* resolved against the file's folder */
	char *default_site;              /* first site when not given */
	char *default_policy;            /* NULL: none */
	struct cal_site *sites;
	size_t nsites;
	struct cfg_staff *staff;
	size_t nstaff;
	struct cfg_team *teams;
	size_t nteams;
	struct phrase_rule *phrases;     /* shipped defaults, then the file's */
	size_t nphrases;
	struct sched_policy *policies;
	size_t npolicies;
	struct cfg_channel *channels;
	size_t nchannels;
	struct cfg_daemon daemon;
	struct cfg_retry outbox;         /* defaults for every channel's retry */
	struct cfg_templates templates;  /* relative paths: from the file's folder */
	struct cfg_feed *feeds;          /* feeds: promises from calendars */
	size_t nfeeds;
	struct cfg_feed *holiday_feeds;  /* sites' holidays_url/_file */
	size_t nholiday_feeds;
	struct cfg_http http;            /* http: the listener; see above */
	struct cfg_digest digest;        /* the weekly digest; see above */
};

/* Every problem found in one load. */
struct config_errors {
	char **msg;        /* "file:line:column: message" */
	size_t n;
};

/* Loads and validates path, including the message templates (when
 * templates.dir is given or the default folder exists) and every webhook
 * body template: an unknown variable is an error with its position.
 * Returns an owned config, or NULL with every
 * problem appended to errs (config_errors_clear it). */
struct config *config_load(const char *path, struct config_errors *errs);
/* Releases a config; NULL is allowed. */
void config_free(struct config *cfg);
void config_errors_clear(struct config_errors *errs);

/* Lookups; return borrowed records or NULL. */
const struct cfg_staff *config_staff(const struct config *cfg, const char *id);
const struct cfg_team *config_team(const struct config *cfg, const char *id);
const struct cal_site *config_site(const struct config *cfg, const char *id);
const struct sched_policy *config_policy(const struct config *cfg,
					 const char *name);
const struct cfg_channel *config_channel(const struct config *cfg,
					 const char *name);
const struct cfg_feed *config_feed(const struct config *cfg, const char *name);

/* Version of the libyaml loaded at run time, "0.2.5" (static). */
const char *config_lib_version(void);

/* What the schedule of the promises depends on, as 64 hex digits: the
 * bytes of cfg's file as loaded and the program's version (which may
 * change how steps are computed).  0, or -1 when it is not known. */
#define CONFIG_FINGERPRINT_LEN 65
int config_fingerprint(const struct config *cfg, char *out, size_t outlen);

#endif
