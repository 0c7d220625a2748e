/*
 * promised: the daemon.  Loads and validates the config, opens the store,
 * installs the scheduler, repairs what a crash left behind (outbox rows in
 * `sending`, a schedule computed under an older config), sets up the
 * event loop (with the HTTP listener when the config has an `http:`
 * section), tells systemd it is ready and hands over to the loop.  It
 * never forks: systemd (Type=notify) or the shell that started it
 * supervises it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "loop.h"
#include "promised/config.h"
#include "promised/escalate.h"
#include "promised/log.h"
#include "promised/store.h"
#include "promised/util.h"
#include "promised/version.h"

struct opts {
	const char *config;
	const char *db;
	int check_only;
};

static const char usage_text[] =
	"usage: promised [--config FILE] [--db FILE] [--foreground]\n"
	"                [--log-level err|warning|notice|info|debug]\n"
	"       promised --check-config [--config FILE]\n"
	"\n"
	"  --config FILE     the config (default: $PROMISED_CONFIG, else "
	CONFIG_DEFAULT_PATH ")\n"
	"  --db FILE         the database (default: $PROMISED_DB, else the "
	"config's)\n"
	"  --foreground      stay in the foreground (promised never forks;\n"
	"                    accepted so scripts and units can say so)\n"
	"  --log-level L     most verbose level written to stderr (info)\n"
	"  --check-config    validate the config, print OK or every error\n"
	"  --version, --help\n";

enum opt_id { OPT_CONFIG = 'c', OPT_DB = 'd', OPT_FG = 'f', OPT_LEVEL = 'l',
	      OPT_CHECK = 'C', OPT_HELP = 'h', OPT_VERSION = 'V' };

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "db", required_argument, NULL, OPT_DB },
	{ "foreground", no_argument, NULL, OPT_FG },
	{ "log-level", required_argument, NULL, OPT_LEVEL },
	{ "check-config", no_argument, NULL, OPT_CHECK },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Parses argv into o; returns -1 to go on, else the exit code. */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	enum log_level level;
	int c;

	while ((c = util_getopt(argc, argv, "c:d:fl:h", long_opts)) != -1) {
		switch (c) {
		case OPT_CONFIG: o->config = optarg; break;
		case OPT_DB: o->db = optarg; break;
		case OPT_FG: break;
		case OPT_CHECK: o->check_only = 1; break;
		case OPT_LEVEL:
			if (log_parse_level(optarg, &level) != 0) {
				(void)fprintf(stderr,
					      "promised: --log-level: unknown "
					      "level '%s'\n", optarg);
				return EX_USAGE;
			}
			log_set_level(level);
			break;
		case OPT_HELP: (void)fputs(usage_text, stdout); return EX_OK;
		case OPT_VERSION:
			return version_print(stdout, "promised") == 0 ?
			       EX_OK : EX_IOERR;
		default: (void)fputs(usage_text, stderr); return EX_USAGE;
		}
	}
	if (optind < argc) {
		(void)fprintf(stderr, "promised: unexpected argument '%s'\n",
			      argv[optind]);
		return EX_USAGE;
	}
	if (o->config == NULL)
		o->config = util_getenv("PROMISED_CONFIG");
	if (o->config == NULL || o->config[0] == '\0')
		o->config = CONFIG_DEFAULT_PATH;
	if (o->db == NULL) {
		o->db = util_getenv("PROMISED_DB");
		if (o->db != NULL && o->db[0] == '\0')
			o->db = NULL;
	}
	return -1;
}

/* Loads the config; every error is reported, as a log line (to_log) or
 * on stderr as is (--check-config). */
static struct config *
load_config(const char *path, int to_log)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	for (i = 0; cfg == NULL && i < errs.n; i++) {
		if (to_log)
			log_err("%s", errs.msg[i]);
		else
			(void)fprintf(stderr, "%s\n", errs.msg[i]);
	}
	if (cfg == NULL && errs.n == 0) {
		if (to_log)
			log_err("%s: cannot load the config", path);
		else
			(void)fprintf(stderr, "%s: cannot load the config\n",
				      path);
	}
	config_errors_clear(&errs);
	return cfg;
}

static int
store_rc_exit(int rc)
{
	switch (rc) {
	case STORE_BUSY: return EX_TEMPFAIL;
	case STORE_READONLY: return EX_CANTCREAT;
	default: return EX_IOERR;
	}
}

/* What a crash or a config change while down left behind.  Failures are
 * logged, not fatal: the loop's next pass retries the recompute. */
static void
repair_after_start(struct store *st, struct escalate *esc, int64_t now,
		   int *need_recompute)
{
	char err[512];
	size_t n = 0;
	int skipped = 0;

	if (store_outbox_recover(st, &n, err, sizeof(err)) != STORE_OK)
		log_err("cannot recover interrupted notifications: %s", err);
	else if (n > 0)
		log_notice("%zu notification(s) interrupted by a crash will be "
			   "sent again", n);
	*need_recompute = 0;
	if (escalate_refresh(esc, st, now, &skipped, err, sizeof(err)) !=
	    STORE_OK) {
		log_err("cannot recompute the schedule: %s", err);
		*need_recompute = 1;
	} else if (!skipped) {
		log_info("the config changed since the last start: schedule "
			 "recomputed");
	}
}

static int
run_daemon(const struct opts *o, struct config *cfg)
{
	struct escalate *esc = NULL;
	struct store *st = NULL;
	struct loop *lp = NULL;
	const char *db = o->db ? o->db : cfg->database;
	char err[1024];
	int rc = 0, ex = EX_OK, need_recompute;

	if (db == NULL || db[0] == '\0') {
		log_err("%s: no database configured (set database: or --db)",
			o->config);
		ex = EX_CONFIG;
		goto out;
	}
	st = store_open(db, &rc, err, sizeof(err));
	if (st == NULL) {
		log_err("cannot open the database: %s", err);
		ex = store_rc_exit(rc);
		goto out;
	}
	esc = escalate_new(cfg);
	store_set_next_fn(st, escalate_next_step_at, esc);
	repair_after_start(st, esc, time(NULL), &need_recompute);
	lp = loop_new(st, esc, cfg, o->config, err, sizeof(err));
	cfg = NULL;   /* the loop owns it now, also on failure */
	if (lp == NULL) {
		log_err("cannot set up the event loop: %s", err);
		ex = EX_OSERR;
		goto out;
	}
	if (need_recompute)
		loop_request_recompute(lp);
	sd_notify(0, "READY=1\nSTATUS=running");
	log_notice("ready: database %s, config %s", store_path(st), o->config);
	log_set_buffered();   /* the loop flushes before it sleeps */
	if (loop_run(lp) != 0)
		ex = EX_OSERR;
	sd_notify(0, "STOPPING=1");
	log_notice("stopped");
out:
	store_close(st);
	escalate_free(esc);
	loop_free(lp);
	config_free(cfg);
	return ex;
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct config *cfg;
	int rc;

	log_set_prefix(1);
	rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.check_only) {
		cfg = load_config(o.config, 0);
		if (cfg == NULL)
			return EX_CONFIG;
		printf("%s: OK\n", o.config);
		config_free(cfg);
		return EX_OK;
	}
	if (loop_block_signals() != 0) {
		log_err("cannot block signals");
		return EX_OSERR;
	}
	cfg = load_config(o.config, 1);
	if (cfg == NULL) {
		log_err("%s: the config has errors; not starting", o.config);
		return EX_CONFIG;
	}
	return run_daemon(&o, cfg);
}
