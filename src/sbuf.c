/*
 * sbuf: the one growing string of promised.  Each output (mail, page,
 * metrics, HMAC input) is built by appending, so the buffer keeps itself
 * NUL-terminated and callers can hand p to string functions at any time.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promised/log.h"
#include "promised/sbuf.h"
#include "promised/xmalloc.h"

/* Small enough for a header line, large enough that a short mail needs
 * no second allocation. */
#define SBUF_MIN_CAP 256

/* Makes room for n more bytes plus the terminating NUL.  Doubling keeps
 * appending a byte at a time linear overall. */
static void
sbuf_reserve(struct sbuf *b, size_t n)
{
	size_t cap;

	if (n > SIZE_MAX - b->len - 1)
		fatal("sbuf: string too long");
	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : SBUF_MIN_CAP;
	while (cap < b->len + n + 1)
		cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
	b->p = xreallocarray(b->p, cap, 1);
	b->cap = cap;
}

void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	sbuf_reserve(b, n);
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

int
sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	/* Measure first so long values (a customer name, a whole stylesheet)
	 * are never cut short. */
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -1;
	sbuf_reserve(b, (size_t)n);
	/* Sized by the measuring call above: cannot be cut. */
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
sbuf_html(struct sbuf *b, const char *s)
{
	/* The apostrophe as &#39;: &apos; is not HTML 4 and some mail
	 * clients still render it literally. */
	static const struct {
		char c;
		const char *ent;
	} ents[] = {
		{ '&', "&amp;" }, { '<', "&lt;" }, { '>', "&gt;" },
		{ '"', "&quot;" }, { '\'', "&#39;" },
	};
	const char *run = s;
	size_t i;

	if (s == NULL)
		return;
	for (; *s != '\0'; s++) {
		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
			if (ents[i].c == *s)
				break;
		if (i == sizeof(ents) / sizeof(ents[0]))
			continue;
		sbuf_add(b, run, (size_t)(s - run));
		sbuf_puts(b, ents[i].ent);
		run = s + 1;
	}
	sbuf_add(b, run, (size_t)(s - run));
}

char *
sbuf_take(struct sbuf *b)
{
	char *s = b->p != NULL ? b->p : xstrdup("");

	memset(b, 0, sizeof(*b));
	return s;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
