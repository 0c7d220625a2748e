/*
 * cli: what the files of promisectl share — the run context handed to every
 * command, the command handlers, error reporting with sysexits.h codes,
 * input checks and the human / JSON renderers.  Private to src/cli/.
 */
#ifndef PROMISED_CLI_H
#define PROMISED_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "promised/config.h"
#include "promised/escalate.h"
#include "promised/promise.h"
#include "promised/store.h"

/* Longest accepted values, in bytes, of what people type. */
#define CLI_MAX_TITLE 500
#define CLI_MAX_FIELD 500
#define CLI_MAX_DETAILS 65536

/* Everything a command needs; main.c sets it up in dependency order and
 * tears it down in reverse. */
struct cli {
	const char *config_path;   /* resolved: --config, PROMISED_CONFIG, default */
	const char *db_opt;        /* --db or PROMISED_DB; NULL: the config's */
	const char *cmd;           /* the running command; NULL before one */
	int json;                  /* --json given globally or to the command */
	int no_color;              /* --no-color given */
	struct config *cfg;        /* owned; NULL for check-config */
	struct store *st;          /* owned; NULL unless the command needs it */
	struct escalate *esc;      /* owned; the scheduler installed in st */
	char actor[128];           /* PROMISED_ACTOR or "cli:<user>" */
	int64_t now;               /* one clock reading for the whole run */
};

/* One entry of the command table. */
typedef int (*cli_handler)(struct cli *c, int argc, char **argv);

/* ---- Commands (each returns a sysexits.h code) ---------------------- */
int cli_cmd_add(struct cli *c, int argc, char **argv);
int cli_cmd_list(struct cli *c, int argc, char **argv);
int cli_cmd_show(struct cli *c, int argc, char **argv);
int cli_cmd_done(struct cli *c, int argc, char **argv);
int cli_cmd_ack(struct cli *c, int argc, char **argv);
int cli_cmd_snooze(struct cli *c, int argc, char **argv);
int cli_cmd_reassign(struct cli *c, int argc, char **argv);
int cli_cmd_renegotiate(struct cli *c, int argc, char **argv);
int cli_cmd_reopen(struct cli *c, int argc, char **argv);
int cli_cmd_outbox(struct cli *c, int argc, char **argv);
int cli_cmd_test_channel(struct cli *c, int argc, char **argv);
int cli_cmd_report(struct cli *c, int argc, char **argv);
int cli_cmd_feeds(struct cli *c, int argc, char **argv);
int cli_cmd_import(struct cli *c, int argc, char **argv);
int cli_cmd_sync(struct cli *c, int argc, char **argv);
int cli_cmd_backup(struct cli *c, int argc, char **argv);
int cli_cmd_complete(struct cli *c, int argc, char **argv);

/* Usage text of a command (from the table in main.c); NULL if unknown. */
const char *cli_usage(const char *cmd);
/* Name of the i-th command shown by --help (hidden ones skipped); NULL
 * past the end. */
const char *cli_command_at(size_t i);

/* ---- Errors and input (common.c) ------------------------------------ */
/* Prints "promisectl: <message>" as one line on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "promisectl: warning: <message>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a bad command line ("<cmd>: <message>") plus a pointer to
 * --help; returns EX_USAGE. */
int cli_usage_err(const struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reports a failed store call (message in err) and returns the exit code
 * of its store_rc: NOTFOUND/CONFLICT/INVALID -> EX_DATAERR, BUSY ->
 * EX_TEMPFAIL, READONLY -> EX_CANTCREAT, anything else -> EX_IOERR. */
int cli_store_fail(int rc, const char *err);
/* Reports an option getopt_long rejected (opt is its return value) and
 * returns EX_USAGE. */
int cli_bad_option(const struct cli *c, int opt, char **argv);

/* Checks a value typed for option `name`: valid UTF-8, at most max bytes,
 * no control characters (newline and tab allowed when multiline).
 * Returns 0, or -1 after printing the reason. */
int cli_check_text(const char *name, const char *val, size_t max,
		   int multiline);
/* Reads a file of at most max bytes (one trailing newline dropped) into
 * an owned string; "-" is stdin.  0 or -1 after printing the reason
 * (*toolong set to 1 when the content was refused: too big or holding a
 * NUL byte; 0 when the file could not be read). */
int cli_read_file(const char *name, const char *path, size_t max,
		  char **out, int *toolong);

/* Parses the promise argument (a number is an id, anything else a ref)
 * and loads it into *p.  Returns 0 or the exit code after printing. */
int cli_load_promise(struct cli *c, const char *arg, struct promise *p);
/* Expects exactly one operand (the promise) after the options; returns
 * it or NULL after a usage error. */
const char *cli_one_operand(const struct cli *c, int argc, char **argv,
			    int optidx);
/* Parses a due expression for site (the site's zone, business days and the
 * config's phrases); 0 or EX_DATAERR after printing. */
int cli_parse_due(struct cli *c, const char *opt, const char *expr,
		  const struct cal_site *site, int64_t *out);
/* The site of a promise, else the default site, else NULL. */
const struct cal_site *cli_site_of(const struct cli *c, const char *site_id);
/* Zone of a site (NULL site: "UTC"). */
const char *cli_tz(const struct cal_site *s);
/* Staff list "alice, bob, ..." for "unknown owner" messages. */
void cli_staff_ids(const struct config *cfg, char *buf, size_t buflen);

/* ---- Output (output.c) ----------------------------------------------- */
/* "Fri 2026-12-04 17:00 +01:00" (long) or "Fri 12-04 17:00" (short). */
void cli_fmt_local(const char *tz, int64_t t, int longform, char *buf,
		   size_t buflen);
/* "in 2h", "3h late", "now": how far t is from now, coarsely. */
void cli_fmt_relative(int64_t t, int64_t now, char *buf, size_t buflen);
/* Writes s as a JSON string (RFC 8259), or null when s is NULL. */
void cli_json_str(FILE *f, const char *s);
/* Writes p as one JSON object; events (may be NULL) add "events". */
void cli_json_promise(FILE *f, const struct cli *c, const struct promise *p,
		      const struct event *ev, size_t nev, int with_events);
/* Prints p with every field in its site's local time, then the timeline. */
void cli_print_promise(FILE *f, const struct cli *c, const struct promise *p,
		       const struct event *ev, size_t nev);
/* Prints promises as an aligned table (colour when c allows it). */
void cli_print_table(FILE *f, const struct cli *c, const struct promise *arr,
		     size_t n);
/* After a change: prints `msg` (human) or the promise's JSON object. */
int cli_report_change(struct cli *c, int64_t id, const char *msg);

#endif
