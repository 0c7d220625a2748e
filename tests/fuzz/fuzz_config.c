/*
 * libFuzzer target: config loading (config_load, libyaml, every section).
 * config_load reads a file (it reopens it to point errors at the right
 * column), so the bytes are written to promised.yaml in a private folder
 * that also holds a few secret files a config may name (secret, token,
 * key1), so the http section can validate too.
 * Invariants: a config is returned exactly when there is no error, every
 * error has text; a returned config is consistent — a default site that
 * exists, valid zones, business hours in order inside the day, sorted
 * holidays, unique ids that the lookups find, team, manager, lead and
 * feed owner references that resolve, retry settings in their ranges.
 */
#include "fuzz_common.h"

#include "promised/config.h"

static char cfg_path[600];

static void
setup(void)
{
	char p[600];
	const char *dir;

	if (cfg_path[0] != '\0')
		return;
	dir = fuzz_tmpdir();
	snprintf(p, sizeof(p), "%s/secret", dir);
	fuzz_write(p, "s3cret-value\n", 13);
	snprintf(p, sizeof(p), "%s/token", dir);
	fuzz_write(p, "intake-token-0123456789\n", 24);
	snprintf(p, sizeof(p), "%s/key1", dir);
	fuzz_write(p, "0123456789abcdef0123456789abcdef\n", 33);
	snprintf(cfg_path, sizeof(cfg_path), "%s/promised.yaml", dir);
}

static void
check_retry(const char *what, const struct cfg_retry *r)
{
	FUZZ_ASSERT(r->base > 0 && r->factor >= 1.0 && r->factor <= 10.0 &&
		    r->cap >= r->base && r->max_age >= r->base,
		    "%s retry %lld x%g cap %lld max_age %lld", what,
		    (long long)r->base, r->factor, (long long)r->cap,
		    (long long)r->max_age);
}

static void
check_site(const struct config *cfg, const struct cal_site *s)
{
	int d, i;
	size_t h;

	FUZZ_ASSERT(s->id != NULL && config_site(cfg, s->id) == s,
		    "site lookup");
	FUZZ_ASSERT(s->tz != NULL && cal_tz_valid(s->tz), "site %s zone",
		    s->id);
	for (d = 0; d < 7; d++) {
		FUZZ_ASSERT(s->nranges[d] >= 0 && s->nranges[d] <= CAL_MAX_RANGES,
			    "site %s day %d: %d ranges", s->id, d, s->nranges[d]);
		for (i = 0; i < s->nranges[d]; i++) {
			const struct cal_range *r = &s->hours[d][i];

			FUZZ_ASSERT(r->open >= 0 && r->open < r->close &&
				    r->close <= 1440 &&
				    (i == 0 || r->open >= s->hours[d][i - 1].close),
				    "site %s day %d range %d: %d-%d", s->id, d,
				    i, r->open, r->close);
		}
	}
	for (h = 1; h < s->nholidays; h++)
		FUZZ_ASSERT(s->holidays[h - 1] <= s->holidays[h],
			    "site %s holidays out of order", s->id);
}

static void
check_people(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nstaff; i++) {
		const struct cfg_staff *s = &cfg->staff[i];

		FUZZ_ASSERT(s->id != NULL && config_staff(cfg, s->id) == s,
			    "staff lookup %s", s->id ? s->id : "(null)");
		FUZZ_ASSERT(s->team == NULL || config_team(cfg, s->team),
			    "staff %s: team %s", s->id, s->team);
		FUZZ_ASSERT(s->manager == NULL || config_staff(cfg, s->manager),
			    "staff %s: manager %s", s->id, s->manager);
	}
	for (i = 0; i < cfg->nteams; i++) {
		const struct cfg_team *t = &cfg->teams[i];

		FUZZ_ASSERT(t->id != NULL && config_team(cfg, t->id) == t,
			    "team lookup");
		FUZZ_ASSERT(t->lead != NULL && config_staff(cfg, t->lead),
			    "team %s: lead", t->id);
		FUZZ_ASSERT(t->site != NULL && config_site(cfg, t->site),
			    "team %s: site", t->id);
	}
}

static void
check_config(const struct config *cfg)
{
	size_t i, ndef;

	FUZZ_ASSERT(cfg->path != NULL && cfg->database != NULL, "path, db");
	FUZZ_ASSERT(cfg->nsites == 0 || (cfg->default_site != NULL &&
		    config_site(cfg, cfg->default_site) != NULL),
		    "default site %s", cfg->default_site ? cfg->default_site
		    : "(null)");
	for (i = 0; i < cfg->nsites; i++)
		check_site(cfg, &cfg->sites[i]);
	check_people(cfg);
	phrase_defaults(&ndef);
	FUZZ_ASSERT(cfg->nphrases >= ndef, "%zu phrases", cfg->nphrases);
	for (i = 0; i < cfg->npolicies; i++)
		FUZZ_ASSERT(config_policy(cfg, cfg->policies[i].name) ==
			    &cfg->policies[i], "policy lookup");
	check_retry("outbox", &cfg->outbox);
	for (i = 0; i < cfg->nchannels; i++) {
		FUZZ_ASSERT(config_channel(cfg, cfg->channels[i].name) ==
			    &cfg->channels[i], "channel lookup");
		check_retry(cfg->channels[i].name, &cfg->channels[i].retry);
	}
	for (i = 0; i < cfg->nfeeds; i++) {
		const struct cfg_feed *f = &cfg->feeds[i];

		FUZZ_ASSERT(config_feed(cfg, f->name) == f, "feed lookup");
		FUZZ_ASSERT(f->every >= CFG_FEED_MIN_EVERY, "feed %s every",
			    f->name);
		FUZZ_ASSERT(f->default_owner != NULL &&
			    config_staff(cfg, f->default_owner), "feed %s owner",
			    f->name);
	}
	for (i = 0; i < cfg->http.nkeys; i++) {
		size_t n = strlen(cfg->http.keys[i].kid);

		FUZZ_ASSERT(n >= 1 && n <= 16, "kid '%s'", cfg->http.keys[i].kid);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	size_t i;

	if (size > 16384)
		return 0;
	setup();
	fuzz_write(cfg_path, data, size);
	cfg = config_load(cfg_path, &errs);
	FUZZ_ASSERT((cfg != NULL) == (errs.n == 0), "config %p with %zu errors",
		    (void *)cfg, errs.n);
	for (i = 0; i < errs.n; i++)
		FUZZ_ASSERT(errs.msg[i] != NULL && errs.msg[i][0] != '\0',
			    "empty error %zu", i);
	if (cfg != NULL)
		check_config(cfg);
	config_free(cfg);
	config_errors_clear(&errs);
	return 0;
}
