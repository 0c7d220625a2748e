/*
 * version: the one formatter both programs use for --version.  The
 * library versions come from the modules that own each library (sqlite
 * only in store*.c, libyaml only in config.c, ...), read at run time where
 * the library can say so, because the shared library loaded may be newer
 * than the headers built against.
 */
#include <stdio.h>

#include "promised/config.h"
#include "promised/feed.h"
#include "promised/netsend.h"
#include "promised/store.h"
#include "promised/version.h"

#ifndef PROMISED_VERSION
#error "PROMISED_VERSION must come from CMake (project VERSION)"
#endif

const char *
version_get(void)
{
	return PROMISED_VERSION;
}

int
version_print(FILE *f, const char *prog)
{
	/* The error flag is sticky: checked once, after the flush below. */
	(void)fprintf(f, "%s %s\nsqlite %s, libical %s, libcurl %s, "
		      "libyaml %s\n", prog, version_get(), store_lib_version(),
		      feed_lib_version(), netsend_lib_version(),
		      config_lib_version());
	/* Flushed here: the programs exit right after, and a full disk or
	 * a closed pipe must show in the exit code. */
	if (fflush(f) != 0 || ferror(f))
		return -1;
	return 0;
}
