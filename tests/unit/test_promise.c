/*
 * Unit tests of the promise records: state, outcome, event kind and
 * notification state names round-trip through their parsers, the records
 * release what they own, and the VIN check follows ISO 3779.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promised/promise.h"
#include "promised/xmalloc.h"

static void
test_state_names(void **state)
{
	static const char *const want[] = { "open", "acked", "closed" };
	enum promise_state s;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_string_equal(promise_state_name((enum promise_state)i),
				    want[i]);
		assert_int_equal(promise_state_parse(want[i], &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(promise_state_name((enum promise_state)7),
			    "unknown");
	assert_int_equal(promise_state_parse("Open", &s), -1);
	assert_int_equal(promise_state_parse(NULL, &s), -1);
}

static void
test_outcome_names(void **state)
{
	static const char *const want[] = { "none", "kept", "late",
					    "cancelled" };
	enum promise_outcome o;
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_string_equal(
			promise_outcome_name((enum promise_outcome)i), want[i]);
		assert_int_equal(promise_outcome_parse(want[i], &o), 0);
		assert_int_equal(o, i);
	}
	assert_int_equal(promise_outcome_parse("renegotiated", &o), -1);
	assert_string_equal(promise_outcome_name((enum promise_outcome)-1),
			    "unknown");
}

static void
test_event_names(void **state)
{
	static const char *const want[EVENT_KIND_COUNT] = {
		"created", "changed", "reminded", "escalated", "acked",
		"snoozed", "reassigned", "renegotiated", "closed", "reopened",
		"lapsed", "note",
	};
	enum event_kind k;
	int i;

	(void)state;
	for (i = 0; i < EVENT_KIND_COUNT; i++) {
		assert_string_equal(event_kind_name((enum event_kind)i),
				    want[i]);
		assert_int_equal(event_kind_parse(want[i], &k), 0);
		assert_int_equal(k, i);
	}
	assert_string_equal(event_kind_name(EVENT_KIND_COUNT), "unknown");
	assert_int_equal(event_kind_parse("", &k), -1);
}

static void
test_notif_names(void **state)
{
	static const char *const want[NOTIF_STATE_COUNT] = {
		"pending", "sending", "sent", "retry", "dead",
	};
	enum notif_state s;
	int i;

	(void)state;
	for (i = 0; i < NOTIF_STATE_COUNT; i++) {
		assert_string_equal(notif_state_name((enum notif_state)i),
				    want[i]);
		assert_int_equal(notif_state_parse(want[i], &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(notif_state_name(NOTIF_STATE_COUNT), "unknown");
	assert_int_equal(notif_state_parse("failed", &s), -1);
}

/* Under ASan a leak or double free here fails the test. */
static void
test_clear_releases(void **state)
{
	struct promise p, *arr;
	struct notification n, *narr;
	struct event *ev;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.ref = xstrdup("r");
	p.title = xstrdup("t");
	p.closed_by = xstrdup("c");
	p.due_at = 5;
	promise_clear(&p);
	assert_null(p.title);
	assert_int_equal(p.due_at, 0);

	memset(&n, 0, sizeof(n));
	n.idem_key = xstrdup("k");
	n.provider_id = xstrdup("p");
	notification_clear(&n);
	assert_null(n.idem_key);

	arr = xcalloc(2, sizeof(*arr));
	arr[1].owner = xstrdup("alice");
	promise_free_array(arr, 2);
	narr = xcalloc(1, sizeof(*narr));
	narr[0].body = xstrdup("b");
	notification_free_array(narr, 1);
	ev = xcalloc(1, sizeof(*ev));
	ev[0].actor = xstrdup("a");
	ev[0].detail = xstrdup("d");
	event_free_array(ev, 1);
	promise_free_array(NULL, 0);
}

static void
test_vin_valid(void **state)
{
	char err[128];
	int ok = -1;

	(void)state;
	/* Weighted sum of 1M8GDM9A_KP042788 is 351; 351 mod 11 = 10, so
	 * the check digit is X. */
	assert_int_equal(promise_vin_check("1M8GDM9AXKP042788", &ok, err,
					   sizeof(err)), 0);
	assert_int_equal(ok, 1);
	/* 11111111111111111: weights sum to 89, 89 mod 11 = 1. */
	assert_int_equal(promise_vin_check("11111111111111111", &ok, err,
					   sizeof(err)), 0);
	assert_int_equal(ok, 1);
	assert_int_equal(promise_vin_check("1M8GDM9AXKP042788", NULL, err,
					   sizeof(err)), 0);
}

static void
test_vin_wrong_check_digit_warns(void **state)
{
	char err[128];
	int ok = -1;

	(void)state;
	assert_int_equal(promise_vin_check("1M8GDM9A1KP042788", &ok, err,
					   sizeof(err)), 0);
	assert_int_equal(ok, 0);
	/* European VINs often carry no check digit: still accepted. */
	assert_int_equal(promise_vin_check("WVWZZZ1JZXW000001", &ok, err,
					   sizeof(err)), 0);
}

static void
test_vin_invalid(void **state)
{
	char err[128];
	int ok = -1;

	(void)state;
	assert_int_equal(promise_vin_check("1M8GDM9AXKP04278", &ok, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "17"));
	assert_non_null(strstr(err, "16"));
	assert_int_equal(promise_vin_check("1M8GDM9AXKP0427888", &ok, err,
					   sizeof(err)), -1);
	assert_int_equal(promise_vin_check("", &ok, err, sizeof(err)), -1);
	assert_int_equal(promise_vin_check("1M8GDM9AXKP0I2788", &ok, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "I, O or Q"));
	assert_non_null(strstr(err, "position 13"));
	assert_int_equal(promise_vin_check("OM8GDM9AXKP042788", &ok, err,
					   sizeof(err)), -1);
	assert_int_equal(promise_vin_check("1M8GDM9AXKP04278Q", &ok, err,
					   sizeof(err)), -1);
	assert_int_equal(promise_vin_check("1m8gdm9axkp042788", &ok, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "position 2"));
	assert_int_equal(promise_vin_check("1M8GDM9AXKP04278-", &ok, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "position 17"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_outcome_names),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_notif_names),
		cmocka_unit_test(test_clear_releases),
		cmocka_unit_test(test_vin_valid),
		cmocka_unit_test(test_vin_wrong_check_digit_warns),
		cmocka_unit_test(test_vin_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
