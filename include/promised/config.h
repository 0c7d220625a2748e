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

struct cfg_channel {
	char *name;
	enum cfg_channel_type type;
	char *path;        /* maildir: the Maildir folder; log: file or NULL (stderr) */
};

struct cfg_daemon {
	int64_t safety_sweep;  /* seconds; 0 = off, else >= 60 */
};

struct config {
	char *path;                      /* the file it came from */
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
};

/* Every problem found in one load. */
struct config_errors {
	char **msg;        /* "file:line:column: message" */
	size_t n;
};

/* Loads and validates path.  Returns an owned config, or NULL with every
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

#endif
