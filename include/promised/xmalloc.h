/*
 * xmalloc: allocation that never returns NULL.  Running out of memory is
 * fatal in promised (DESIGN.md §8.4), so callers need no NULL checks.
 */
#ifndef PROMISED_XMALLOC_H
#define PROMISED_XMALLOC_H

#include <stddef.h>

/* Returns owned memory of n bytes; aborts the process when out of memory. */
void *xmalloc(size_t n);
/* Returns owned, zeroed memory for nmemb * size bytes; aborts on overflow. */
void *xcalloc(size_t nmemb, size_t size);
/* Resizes p to nmemb * size bytes; aborts on overflow or out of memory. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
/* Returns an owned copy of s, or NULL when s is NULL. */
char *xstrdup(const char *s);
/* Returns an owned, NUL-terminated copy of the first n bytes of s. */
char *xstrndup(const char *s, size_t n);
/* Returns an owned string built like snprintf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
