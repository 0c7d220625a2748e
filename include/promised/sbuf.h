/*
 * sbuf: a growing, always NUL-terminated string.  Mail bodies, HTML pages,
 * metrics and signed payloads are all built piece by piece into one of
 * these; out of memory is fatal (DESIGN.md §8.4), so appends cannot fail.
 */
#ifndef PROMISED_SBUF_H
#define PROMISED_SBUF_H

#include <stdarg.h>
#include <stddef.h>

/* A zeroed struct sbuf is empty and ready.  p is NULL until the first
 * append; after any append p[len] is '\0'.  p may hold NUL bytes before
 * len when binary data was added. */
struct sbuf {
	char *p;
	size_t len, cap;
};

/* Appends the n bytes at s (n may be 0: the buffer is still allocated). */
void sbuf_add(struct sbuf *b, const char *s, size_t n);
/* Appends the NUL-terminated string s. */
void sbuf_puts(struct sbuf *b, const char *s);
/* Appends formatted text of any length; 0, or -1 on a format error (then
 * nothing is appended). */
int sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* sbuf_printf with a va_list. */
int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Appends s escaped for HTML/XML text and attribute values (& < > " ');
 * s NULL appends nothing. */
void sbuf_html(struct sbuf *b, const char *s);
/* Returns the owned string (never NULL, "" when empty) and empties b. */
char *sbuf_take(struct sbuf *b);
/* Frees the string and empties b. */
void sbuf_free(struct sbuf *b);

#endif
