/*
 * test_caldate: every day of 0001..9999 against libc's timegm and gmtime_r, the
 * strict "YYYY-MM-DD" and RFC 3339 parsers (what they must refuse matters as much as what they
 * accept: one guards the date of birth field) and the formatter.
 */
#include "unit.h"
#include "caldate.h"

#include <stdio.h>
#include <stdlib.h>
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

/* Every day of 0001..9999 against libc, which of the dates exist included:
 * the month lengths come from timegm (the first of the next month minus the
 * first of this one), never from caldate's own rule, and every day number
 * is turned back into a date by gmtime_r. */
static void test_every_day_matches_libc(void **state)
{
	int32_t prev = caldate_from_ymd(1, 1, 1) - 1;

	(void)state;
	for (int y = 1; y <= 9999; y++)
		for (int m = 1; m <= 12; m++) {
			int32_t first = days_by_timegm(y, m, 1);
			int len = (m == 12 ? days_by_timegm(y + 1, 1, 1) : days_by_timegm(y, m + 1, 1)) - first;

			for (int d = 1; d <= 31; d++) {
				struct tm tm;
				time_t secs;
				int32_t n;
				int yy, mm, dd;

				if (caldate_valid_ymd(y, m, d) != (d <= len))
					fail_msg("%04d-%02d-%02d: valid %d, libc says the month has %d days", y, m,
					         d, caldate_valid_ymd(y, m, d), len);
				if (d > len)
					continue;
				n = caldate_from_ymd(y, m, d);
				if (n != first + d - 1 || n != prev + 1)
					fail_msg("%04d-%02d-%02d: got day %d, timegm %d, previous day %d", y, m,
					         d, n, first + d - 1, prev);
				prev = n;
				secs = (time_t)n * 86400;
				if (gmtime_r(&secs, &tm) == NULL)
					fail_msg("gmtime_r(%lld) failed", (long long)secs);
				caldate_to_ymd(n, &yy, &mm, &dd);
				if (yy != tm.tm_year + 1900 || mm != tm.tm_mon + 1 || dd != tm.tm_mday)
					fail_msg("day %d: got %04d-%02d-%02d, gmtime %04d-%02d-%02d", n, yy, mm, dd,
					         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
			}
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

/* Month lengths and leap years against libc: the days from the first of the
 * month to the first of the next, by timegm. */
static void test_leap_years_and_month_days_match_timegm(void **state)
{
	(void)state;
	for (int y = 1601; y <= 2600; y++) {
		bool leap = days_by_timegm(y, 3, 1) - days_by_timegm(y, 2, 1) == 29;
		if (caldate_is_leap(y) != leap)
			fail_msg("%d: leap %d, timegm says %d", y, caldate_is_leap(y), leap);
		for (int m = 1; m <= 12; m++) {
			int want = m == 12 ? days_by_timegm(y + 1, 1, 1) - days_by_timegm(y, 12, 1)
			                   : days_by_timegm(y, m + 1, 1) - days_by_timegm(y, m, 1);
			if (caldate_month_days(y, m) != want)
				fail_msg("%04d-%02d: %d days, timegm says %d", y, m, caldate_month_days(y, m), want);
		}
	}
	assert_true(caldate_is_leap(2000));
	assert_false(caldate_is_leap(1900));
	assert_false(caldate_is_leap(2100));
	assert_true(caldate_is_leap(2024));
}

static int64_t rfc(const char *s)
{
	int64_t ms = 12345;

	if (caldate_parse_rfc3339(s, &ms) != 0)
		fail_msg("\"%s\" was refused", s);
	return ms;
}

static void test_rfc3339_known_instants(void **state)
{
	(void)state;
	assert_int_equal(rfc("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(rfc("1970-01-02T00:00:00Z"), 86400000);
	assert_int_equal(rfc("1970-01-02T00:00:00.123Z"), 86400123);
	assert_int_equal(rfc("1970-01-02T00:00:00.1Z"), 86400100);
	assert_int_equal(rfc("1970-01-02T00:00:00.123999Z"), 86400123);   /* truncated */
	assert_int_equal(rfc("1970-01-02T01:00:00+01:00"), 86400000);
	assert_int_equal(rfc("1970-01-01T19:00:00-05:00"), 86400000);
	assert_int_equal(rfc("1970-01-01t00:00:00z"), 0);
	assert_int_equal(rfc("1969-12-31T23:59:59Z"), -1000);
	assert_int_equal(rfc("1969-12-31T23:59:59.500Z"), -500);
	/* 2026-11-28T18:48:08.123Z, as the daemon writes it (date -u -d ... +%s) */
	assert_int_equal(rfc("2026-11-28T18:48:08.123Z"), 1795891688123LL);
	assert_int_equal(rfc("2000-02-29T12:00:00+05:30"), 951805800000LL);
	assert_int_equal(rfc("2016-12-31T23:59:60Z"), rfc("2016-12-31T23:59:59Z"));   /* leap second */
}

/* Against libc: gmtime_r formats an instant, the parser must give it back. */
static void test_rfc3339_matches_gmtime(void **state)
{
	struct test_rng rng;

	(void)state;
	test_rng_seed(&rng, 3339);
	for (int i = 0; i < 200000; i++) {
		/* 0001-01-01 .. 9999-12-31, in seconds */
		int64_t lo = -62135596800LL, hi = 253402300799LL;
		time_t t = (time_t)(lo + (int64_t)(test_rng_next(&rng) % (uint64_t)(hi - lo + 1)));
		int ms = (int)(test_rng_next(&rng) % 1000);
		int off = (int)(test_rng_next(&rng) % (2 * 24 * 60 - 1)) - (24 * 60 - 1);
		time_t local = t + off * 60;
		struct tm tm;
		char s[64], *p;
		int64_t got;

		if (gmtime_r(&local, &tm) == NULL)
			fail_msg("gmtime_r(%lld) failed", (long long)local);
		if (tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
			continue;                        /* the offset pushed it out of range */
		p = s + strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (tm.tm_year + 1900 < 1000)
			continue;                        /* glibc does not pad %Y to four digits */
		if (i % 2 == 0)
			p += sprintf(p, ".%03d", ms);
		else
			ms = 0;
		if (off == 0 && i % 3 == 0)
			sprintf(p, "Z");
		else
			sprintf(p, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
		if (caldate_parse_rfc3339(s, &got) != 0)
			fail_msg("\"%s\" was refused", s);
		if (got != (int64_t)t * 1000 + ms)
			fail_msg("\"%s\": got %lld, expected %lld", s, (long long)got,
			         (long long)t * 1000 + ms);
	}
}

static void test_rfc3339_refuses_everything_else(void **state)
{
	static const char *const bad[] = {
		"", "1970-01-01", "1970-01-01T00:00Z", "1970-01-01T00:00:00", "1970-01-01 00:00:00Z",
		"1970-01-01T00:00:00+0100", "1970-01-01T00:00:00+01", "1970-01-01T00:00:00.Z",
		"1970-01-01T24:00:00Z", "1970-01-01T00:60:00Z", "1970-01-01T00:00:61Z",
		"1970-02-30T00:00:00Z", "1970-13-01T00:00:00Z", "0000-01-01T00:00:00Z",
		"1970-01-01T00:00:00+24:00", "1970-01-01T00:00:00+01:60", "1970-01-01T00:00:00ZZ",
		"1970-01-01T00:00:00Z ", " 1970-01-01T00:00:00Z", "70-01-01T00:00:00Z",
		"1970-1-01T00:00:00Z", "1970-01-01T0:00:00Z", "1970-01-01T00:00:00.12a3Z",
		"1970-01-01T00:00:00 Z", "1970-01-01X00:00:00Z", "1970-01-01T00:00:00+01:00x",
	};
	int64_t ms = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (caldate_parse_rfc3339(bad[i], &ms) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(caldate_parse_rfc3339(NULL, &ms), -1);
	assert_int_equal(ms, 12345);
}

/* The command-line form: the full syntax, plus a bare date, a space, no
 * seconds, no offset (UTC). */
static void test_time_arg_shorthands(void **state)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "1970-01-02", 86400000 },
		{ "1970-01-02T00:00", 86400000 },
		{ "1970-01-02 00:00:00", 86400000 },
		{ "1970-01-02T01:00+01:00", 86400000 },
		{ "1970-01-02T00:00:00.250", 86400250 },
		{ "1970-01-02T00:00:00.250Z", 86400250 },
	};
	static const char *const bad[] = {
		"", "1970-01-02T", "1970-01-02T00", "1970-02-30", "1970-01-02 x", "1970-01-02T00:00+01",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (caldate_parse_time_arg(ok[i].s, &ms) != 0)
			fail_msg("\"%s\" was refused", ok[i].s);
		if (ms != ok[i].ms)
			fail_msg("\"%s\": got %lld, expected %lld", ok[i].s, (long long)ms,
			         (long long)ok[i].ms);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (caldate_parse_time_arg(bad[i], &ms) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_day_numbers),
		cmocka_unit_test(test_every_day_matches_libc),
		cmocka_unit_test(test_round_trip_all_years),
		cmocka_unit_test(test_validity_and_leap_years),
		cmocka_unit_test(test_parse_accepts_real_dates),
		cmocka_unit_test(test_parse_refuses_everything_else),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_today_is_utc),
		cmocka_unit_test(test_leap_years_and_month_days_match_timegm),
		cmocka_unit_test(test_rfc3339_known_instants),
		cmocka_unit_test(test_rfc3339_matches_gmtime),
		cmocka_unit_test(test_rfc3339_refuses_everything_else),
		cmocka_unit_test(test_time_arg_shorthands),
	};

	return cmocka_run_group_tests_name("caldate", tests, NULL, NULL);
}
