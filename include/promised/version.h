/*
 * version: what `promised --version` and `promisectl --version` print —
 * the program's version (CMake's project() VERSION) and the versions of
 * the libraries in use, so an operator's bug report says what ran.
 */
#ifndef PROMISED_VERSION_H
#define PROMISED_VERSION_H

#include <stdio.h>

/* The version of promised, "0.1.0" (static). */
const char *version_get(void);
/* Writes two lines to f:
 *   <prog> <version>
 *   sqlite X, libical X, libcurl X, libyaml X
 * and flushes f.  Returns 0, or -1 when writing failed. */
int version_print(FILE *f, const char *prog);

#endif
