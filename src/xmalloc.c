/*
 * xmalloc: allocation wrappers.  Out of memory is fatal (DESIGN.md §8.4).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/log.h"
#include "promised/xmalloc.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	return p;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	void *q;

	if (size != 0 && nmemb > SIZE_MAX / size)
		fatal("allocation overflow: %zu x %zu", nmemb, size);
	q = realloc(p, (nmemb * size) != 0 ? nmemb * size : 1);
	if (q == NULL)
		fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	return q;
}

char *
xstrdup(const char *s)
{
	if (s == NULL)
		return NULL;
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		fatal("xasprintf: bad format");
	s = xmalloc((size_t)len + 1);
	va_start(ap, fmt);
	/* Sized by the measuring call above: cannot be cut. */
	(void)vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return s;
}
