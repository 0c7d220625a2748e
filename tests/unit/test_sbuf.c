/*
 * test_sbuf: the growing string — appends past the first allocation keep
 * every byte and the terminating NUL, printf output of any length arrives
 * whole, each HTML special character becomes its entity, and take/free
 * leave an empty, reusable buffer.  Expected strings are built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promised/sbuf.h"

static void
test_empty(void **state)
{
	struct sbuf b = { 0 };
	char *s;

	(void)state;
	/* Nothing appended: take still hands back a string, not NULL. */
	s = sbuf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	/* A zero-length append allocates, so p can be used as a string. */
	sbuf_add(&b, "", 0);
	assert_non_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.p[0], '\0');
	sbuf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
test_growth(void **state)
{
	struct sbuf b = { 0 };
	size_t i;

	(void)state;
	/* 10000 bytes one at a time: many times any first allocation. */
	for (i = 0; i < 10000; i++)
		sbuf_add(&b, &"0123456789"[i % 10], 1);
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[b.len], '\0');
	assert_int_equal(strlen(b.p), 10000);
	for (i = 0; i < 10000; i++)
		if (b.p[i] != (char)('0' + i % 10))
			fail_msg("byte %zu is %c", i, b.p[i]);
	/* One append larger than everything so far. */
	{
		char *big = malloc(50000);

		assert_non_null(big);
		memset(big, 'x', 50000);
		sbuf_add(&b, big, 50000);
		free(big);
	}
	assert_int_equal(b.len, 60000);
	assert_int_equal(b.p[9999], '9');
	assert_int_equal(b.p[10000], 'x');
	assert_int_equal(b.p[59999], 'x');
	assert_int_equal(b.p[60000], '\0');
	sbuf_free(&b);
}

static void
test_binary(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	/* Request bodies may hold NUL bytes: len counts them. */
	sbuf_add(&b, "a\0b", 3);
	sbuf_puts(&b, "cd");
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.p, "a\0bcd", 6);
	sbuf_free(&b);
}

static void
test_printf(void **state)
{
	struct sbuf b = { 0 };
	char *long_s, *want, *got;
	size_t i;

	(void)state;
	assert_int_equal(sbuf_printf(&b, "%d-%s-%c", 42, "x", 'y'), 0);
	assert_string_equal(b.p, "42-x-y");
	assert_int_equal(b.len, 6);
	/* Empty output appends nothing and keeps what is there. */
	assert_int_equal(sbuf_printf(&b, "%s", ""), 0);
	assert_string_equal(b.p, "42-x-y");
	sbuf_free(&b);

	/* 5000 bytes through one %s: longer than any stack buffer a
	 * formatter might use, so a cut would show. */
	long_s = malloc(5001);
	assert_non_null(long_s);
	for (i = 0; i < 5000; i++)
		long_s[i] = (char)('a' + i % 26);
	long_s[5000] = '\0';
	sbuf_puts(&b, "[");
	assert_int_equal(sbuf_printf(&b, "<%s>%zu", long_s, (size_t)5000), 0);
	assert_int_equal(b.len, 1 + 1 + 5000 + 1 + 4);
	want = malloc(5008);
	assert_non_null(want);
	want[0] = '[';
	want[1] = '<';
	memcpy(want + 2, long_s, 5000);
	memcpy(want + 5002, ">5000", 6);
	got = sbuf_take(&b);
	assert_string_equal(got, want);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(got);
	free(want);
	free(long_s);
}

static void
test_html(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "&", "&amp;" },
		{ "<", "&lt;" },
		{ ">", "&gt;" },
		{ "\"", "&quot;" },
		{ "'", "&#39;" },
		{ "plain text", "plain text" },
		{ "", "" },
		{ "a<b>&\"c'd", "a&lt;b&gt;&amp;&quot;c&#39;d" },
		/* Already-escaped text is escaped again: callers pass raw
		 * text only. */
		{ "&amp;", "&amp;amp;" },
		/* UTF-8 passes through byte for byte. */
		{ "Ren\xc3\xa9 <r\xc3\xa9>", "Ren\xc3\xa9 &lt;r\xc3\xa9&gt;" },
	};
	struct sbuf b = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sbuf_puts(&b, "=");
		sbuf_html(&b, cases[i].in);
		assert_string_equal(b.p + 1, cases[i].out);
		sbuf_free(&b);
	}
	/* NULL appends nothing. */
	sbuf_puts(&b, "x");
	sbuf_html(&b, NULL);
	assert_string_equal(b.p, "x");
	assert_int_equal(b.len, 1);
	sbuf_free(&b);
}

static void
test_take_then_reuse(void **state)
{
	struct sbuf b = { 0 };
	char *first, *second;

	(void)state;
	sbuf_puts(&b, "first");
	first = sbuf_take(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	sbuf_puts(&b, "second");
	second = sbuf_take(&b);
	/* Two separate strings: the first was not overwritten. */
	assert_string_equal(first, "first");
	assert_string_equal(second, "second");
	assert_ptr_not_equal(first, second);
	free(first);
	free(second);
	/* Freeing an empty buffer is harmless. */
	sbuf_free(&b);
	sbuf_free(&b);
	assert_null(b.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_take_then_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
