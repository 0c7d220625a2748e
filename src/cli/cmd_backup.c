/*
 * cmd_backup: `promisectl backup FILE` — a consistent copy of the database
 * taken with SQLite's online backup API while the daemon keeps running
 * (store_backup does the copying).  Refuses to overwrite anything and
 * says what it wrote: the file, its size and how many promises it holds.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sysexits.h>

#include "cli.h"
#include "promised/util.h"

enum { O_JSON = 1000 };

/* A target that cannot be created is EX_CANTCREAT ("a user specified
 * output file cannot be created"), whatever the reason. */
static int
backup_exit(int rc)
{
	switch (rc) {
	case STORE_CONFLICT:
	case STORE_READONLY: return EX_CANTCREAT;
	case STORE_BUSY: return EX_TEMPFAIL;
	default: return EX_IOERR;
	}
}

int
cli_cmd_backup(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct store_backup_info info;
	const char *file;
	char err[1024] = "";
	int opt, rc;

	while ((opt = util_getopt(argc, argv, ":", opts)) != -1) {
		if (opt != O_JSON)
			return cli_bad_option(c, opt, argv);
		c->json = 1;
	}
	if (optind >= argc)
		return cli_usage_err(c, "where to? give the FILE to write");
	if (optind + 1 < argc)
		return cli_usage_err(c, "unexpected argument '%s'",
				     argv[optind + 1]);
	file = argv[optind];
	if (*file == '\0')
		return cli_usage_err(c, "FILE is empty");
	rc = store_backup(c->st, file, &info, err, sizeof(err));
	if (rc != STORE_OK) {
		cli_err("%s", err);
		return backup_exit(rc);
	}
	if (c->json) {
		printf("{\"path\": ");
		cli_json_str(stdout, file);
		printf(", \"database\": ");
		cli_json_str(stdout, store_path(c->st));
		printf(", \"bytes\": %" PRId64 ", \"promises\": %" PRId64 "}\n",
		       info.bytes, info.promises);
	} else {
		printf("backup of %s written to %s: %" PRId64 " bytes, %"
		       PRId64 " promise%s\n", store_path(c->st), file,
		       info.bytes, info.promises, info.promises == 1 ? "" : "s");
	}
	return EX_OK;
}
