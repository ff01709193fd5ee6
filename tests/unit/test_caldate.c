/*
 * test_caldate: day numbers against libc's timegm, leap-year validity, the
 * strict "YYYY-MM-DD" parser (what it must refuse matters as much as what it
 * accepts: it guards the date of birth field) and the formatter.
 */
#include "unit.h"
#include "caldate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int32_t days_by_timegm(int y, int m, int d)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };

	return (int32_t)(timegm(&tm) / 86400);      /* midnight: exact division */
}

static void test_known_day_numbers(void **state)
{
	(void)state;
	assert_int_equal(caldate_from_ymd(1970, 1, 1), 0);
	assert_int_equal(caldate_from_ymd(1969, 12, 31), -1);
	assert_int_equal(caldate_from_ymd(2000, 3, 1), 11017);
	assert_int_equal(caldate_from_ymd(1900, 1, 1), -25567);
	assert_int_equal(caldate_from_ymd(1, 1, 1), -719162);
	assert_int_equal(caldate_from_ymd(9999, 12, 31), 2932896);
}

static void test_matches_timegm_1800_to_2200(void **state)
{
	int32_t prev = caldate_from_ymd(1800, 1, 1) - 1;

	(void)state;
	for (int y = 1800; y <= 2200; y++)
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= 31; d++) {
				if (!caldate_valid_ymd(y, m, d))
					continue;
				int32_t n = caldate_from_ymd(y, m, d);
				if (n != days_by_timegm(y, m, d) || n != prev + 1)
					fail_msg("%04d-%02d-%02d: got %d, timegm %d, previous day %d", y, m,
					         d, n, days_by_timegm(y, m, d), prev);
				prev = n;
			}
}

static void test_round_trip_all_years(void **state)
{
	(void)state;
	for (int32_t n = caldate_from_ymd(1, 1, 1); n <= caldate_from_ymd(9999, 12, 31); n++) {
		int y, m, d;
		caldate_to_ymd(n, &y, &m, &d);
		if (!caldate_valid_ymd(y, m, d) || caldate_from_ymd(y, m, d) != n)
			fail_msg("day %d became %04d-%02d-%02d", n, y, m, d);
	}
}

static void test_validity_and_leap_years(void **state)
{
	(void)state;
	assert_true(caldate_valid_ymd(2000, 2, 29));    /* divisible by 400 */
	assert_false(caldate_valid_ymd(1900, 2, 29));   /* by 100, not 400 */
	assert_true(caldate_valid_ymd(2024, 2, 29));
	assert_false(caldate_valid_ymd(2023, 2, 29));
	assert_true(caldate_valid_ymd(2023, 2, 28));
	assert_false(caldate_valid_ymd(2023, 4, 31));
	assert_true(caldate_valid_ymd(2023, 12, 31));
	assert_false(caldate_valid_ymd(2023, 0, 1));
	assert_false(caldate_valid_ymd(2023, 13, 1));
	assert_false(caldate_valid_ymd(2023, 1, 0));
	assert_false(caldate_valid_ymd(2023, 1, 32));
	assert_false(caldate_valid_ymd(0, 1, 1));
	assert_false(caldate_valid_ymd(10000, 1, 1));
	assert_false(caldate_valid_ymd(-5, 1, 1));
}

static void test_parse_accepts_real_dates(void **state)
{
	static const struct { const char *s; int y, m, d; } ok[] = {
		{ "1985-03-12", 1985, 3, 12 }, { "2000-02-29", 2000, 2, 29 },
		{ "1900-01-01", 1900, 1, 1 }, { "0001-01-01", 1, 1, 1 },
		{ "9999-12-31", 9999, 12, 31 }, { "1899-12-31", 1899, 12, 31 },
	};
	int32_t n;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (caldate_parse(ok[i].s, strlen(ok[i].s), &n) != 0)
			fail_msg("\"%s\" was refused", ok[i].s);
		assert_int_equal(n, caldate_from_ymd(ok[i].y, ok[i].m, ok[i].d));
	}
	/* len bounds the input: the bytes after it are not looked at */
	assert_int_equal(caldate_parse("2001-01-01xyz", 10, &n), 0);
	assert_int_equal(n, caldate_from_ymd(2001, 1, 1));
}

static void test_parse_refuses_everything_else(void **state)
{
	static const char *const bad[] = {
		"", "1985-3-12", "1985-03-1", "85-03-12", "+985-03-12", "-985-03-12",
		" 1985-03-12", "1985-03-12 ", "1985/03/12", "1985-03-12x", "19850312",
		"1985-02-29", "1900-02-29", "2023-04-31", "1985-00-12", "1985-13-12",
		"1985-03-00", "1985-03-32", "0000-01-01", "1985--3-12", "1985-0x-12",
		"1985-03-1a", "abcd-ef-gh", "１９８５-03-12", "1985-03-12\n", "1985 03 12",
		"2024-02-30", "10000-01-01",
	};
	int32_t n = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (caldate_parse(bad[i], strlen(bad[i]), &n) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(caldate_parse("1985-03-12", 9, &n), -1);          /* cut short */
	assert_int_equal(caldate_parse("1985-03\0-12", 10, &n), -1);       /* embedded NUL */
	assert_int_equal(caldate_parse(NULL, 10, &n), -1);
	assert_int_equal(n, 12345);                                         /* untouched */
}

static void test_format(void **state)
{
	char buf[11];

	(void)state;
	caldate_format(0, buf, sizeof buf);
	assert_string_equal(buf, "1970-01-01");
	caldate_format(caldate_from_ymd(2000, 2, 29), buf, sizeof buf);
	assert_string_equal(buf, "2000-02-29");
	caldate_format(caldate_from_ymd(1, 1, 1), buf, sizeof buf);
	assert_string_equal(buf, "0001-01-01");
	caldate_format(caldate_from_ymd(9999, 12, 31), buf, sizeof buf);
	assert_string_equal(buf, "9999-12-31");
	for (int32_t n = -30000; n < 30000; n += 7) {
		int32_t back;
		caldate_format(n, buf, sizeof buf);
		assert_int_equal(caldate_parse(buf, strlen(buf), &back), 0);
		assert_int_equal(back, n);
	}
}

static void test_today_is_utc(void **state)
{
	time_t before, after;
	int32_t today;

	(void)state;
	before = time(NULL);
	today = caldate_today_utc();
	after = time(NULL);
	if (today != before / 86400 && today != after / 86400)
		fail_msg("today %d, time() says %lld", today, (long long)(before / 86400));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_day_numbers),
		cmocka_unit_test(test_matches_timegm_1800_to_2200),
		cmocka_unit_test(test_round_trip_all_years),
		cmocka_unit_test(test_validity_and_leap_years),
		cmocka_unit_test(test_parse_accepts_real_dates),
		cmocka_unit_test(test_parse_refuses_everything_else),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_today_is_utc),
	};

	return cmocka_run_group_tests_name("caldate", tests, NULL, NULL);
}
