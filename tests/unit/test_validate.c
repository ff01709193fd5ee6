/*
 * test_validate: the SPEC §4.3 field rules. Each rule is tested at its edges
 * (the longest accepted, the shortest refused) and against the inputs an
 * attacker or a sloppy chatbot flow would send: spaces, Unicode look-alikes,
 * control characters, malformed UTF-8 and almost-dates.
 */
#include "unit.h"
#include "caldate.h"
#include "store.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

/* Fixed "today" so the date edges do not depend on the clock: 2024-06-15. */
#define TODAY caldate_from_ymd(2024, 6, 15)

static int client_id(const char *s)
{
	const char *detail = NULL;
	int rc = validate_client_id(s, strlen(s), &detail);

	if (rc < 0 && (detail == NULL || detail[0] == '\0'))
		fail_msg("client_id \"%s\" refused without a detail", s);
	return rc;
}

static int phone(const char *s)
{
	const char *detail = NULL;
	int rc = validate_phone(s, strlen(s), &detail);

	if (rc < 0 && (detail == NULL || detail[0] == '\0'))
		fail_msg("phone \"%s\" refused without a detail", s);
	return rc;
}

static int flow_n(const char *s, size_t len)
{
	const char *detail = NULL;
	int rc = validate_flow(s, len, &detail);

	if (rc < 0 && (detail == NULL || detail[0] == '\0'))
		fail_msg("flow refused without a detail");
	return rc;
}

static int flow(const char *s)
{
	return flow_n(s, strlen(s));
}

static int dob(const char *s, int32_t today, int32_t *out)
{
	const char *detail = NULL;
	int rc = validate_dob(s, strlen(s), today, out, &detail);

	if (rc < 0 && (detail == NULL || detail[0] == '\0'))
		fail_msg("dob \"%s\" refused without a detail", s);
	return rc;
}

static void test_client_id_accepts_allowed_characters(void **state)
{
	static const char *const good[] = {
		"a", "Z", "0", "_", "...", ".a", "a..", ":", "-", "1234567890", "user_42", "psid:12345.67-89",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-",
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (client_id(good[i]) != 0)
			fail_msg("client_id \"%s\" was refused", good[i]);
}

static void test_client_id_length_is_1_to_128(void **state)
{
	char s[200];

	(void)state;
	memset(s, 'a', sizeof s);
	s[128] = '\0';
	assert_int_equal(client_id(s), 0);
	s[128] = 'a';
	s[129] = '\0';
	assert_int_equal(client_id(s), -1);
	assert_int_equal(client_id(""), -1);
	/* the length given wins over the NUL: 0 bytes of a non-empty string */
	{
		const char *detail;
		assert_int_equal(validate_client_id("abc", 0, &detail), -1);
	}
}

static void test_client_id_refuses_other_characters(void **state)
{
	static const char *const bad[] = {
		" ", "a b", " abc", "abc ", "abc\t", "abc\n", "a/b", "a+b", "a%20b", "a&b", "a=b",
		"a;b", "a,b", "a'b", "a\"b", "<script>", "a@b", "a#b", "a?b", "a\\b", "a~b",
		"caf\xc3\xa9",               /* é */
		"\xd0\xb0",                  /* Cyrillic а, looks like a */
		"abc\xef\xbc\x8d",           /* fullwidth hyphen */
		"\xff", "\x7f", "\x01",
	};
	const char *detail;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (client_id(bad[i]) != -1)
			fail_msg("client_id \"%s\" was accepted", bad[i]);
	assert_int_equal(validate_client_id("ab\0cd", 5, &detail), -1);     /* embedded NUL */
}

/* A client_id is a path segment of the Chatfuel call: never a dot segment. */
static void test_client_id_refuses_dot_segments(void **state)
{
	const char *detail = NULL;

	(void)state;
	assert_int_equal(validate_client_id(".", 1, &detail), -1);
	assert_string_equal(detail, "client_id may not be . or ..");
	assert_int_equal(validate_client_id("..", 2, &detail), -1);
	assert_int_equal(validate_client_id("...", 2, &detail), -1);       /* the length wins */
	assert_int_equal(validate_client_id("...", 3, &detail), 0);
}

/* len 0: strlen(json) */
static void expect_nul_member(const char *json, size_t len, bool want, const char *want_key)
{
	char key[32] = "untouched";
	bool got = validate_json_nul_member(json, len ? len : strlen(json), key, sizeof key);

	if (got != want)
		fail_msg("%s: NUL %s", json, got ? "found" : "not found");
	if (want)
		assert_string_equal(key, want_key);
}

static void test_json_nul_is_found_and_named(void **state)
{
	static const char raw[] = "{\"a\":\"x\",\"flow_name\":\"ab\0cd\"}";

	(void)state;
	expect_nul_member("{\"client_id\":\"abc\\u0000def\",\"phone\":\"1\"}", 0, true,
	                  "client_id");
	expect_nul_member("{\"a\":\"1\",\"phone\":\"\\u0000\"}", 0, true, "phone");
	expect_nul_member(raw, sizeof raw - 1, true, "flow_name");              /* a raw NUL */
	expect_nul_member("{\"q\":{\"x\":[\"\\u0000\"]},\"z\":1}", 0, true, "q");  /* nested */
	expect_nul_member("{\"a\\u0000b\":1}", 0, true, "a");                   /* in a name */
	/* not a NUL: an escaped backslash then u0000, other \u escapes, no strings */
	expect_nul_member("{\"a\":\"\\\\u0000\"}", 0, false, NULL);
	expect_nul_member("{\"a\":\"\\u0001\\u00e9\",\"b\":[1,2,{\"c\":null}]}", 0, false, NULL);
	expect_nul_member("{\"a\":\"\\u000", 0, false, NULL);              /* cut short */
	expect_nul_member("", 0, false, NULL);
}

static void test_phone_accepts_8_to_15_digits_with_optional_plus(void **state)
{
	static const char *const good[] = {
		"12345678", "+12345678", "123456789012345", "+123456789012345", "5215550000000",
		"+5215550000000", "00000000",
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (phone(good[i]) != 0)
			fail_msg("phone \"%s\" was refused", good[i]);
}

static void test_phone_refuses_wrong_lengths_and_characters(void **state)
{
	static const char *const bad[] = {
		"", "+", "++12345678", "1234567", "+1234567", "1234567890123456", "+1234567890123456",
		"1234567a", "abcdefgh", "+52 155 5000 0000", "52-155-5000", "(521)5550000",
		" 12345678", "12345678 ", "12345678+", "1+2345678", "+-12345678", "１２３４５６７８",
		"12345678\n", "0x12345678",
	};
	const char *detail;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (phone(bad[i]) != -1)
			fail_msg("phone \"%s\" was accepted", bad[i]);
	assert_int_equal(validate_phone("1234\0" "5678", 9, &detail), -1);
	assert_int_equal(validate_phone("+", 1, &detail), -1);
	assert_int_equal(validate_phone("12345678", 0, &detail), -1);
}

static void test_flow_accepts_printable_utf8(void **state)
{
	static const char *const good[] = {
		"a", "checkout", "Flujo de pago", "pago ñandú", "日本語のフロー", "emoji \xf0\x9f\x98\x80",
		"~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", "\xc2\xa0",    /* U+00A0, first after C1 */
		"\xef\xbf\xbd",                                      /* U+FFFD */
		"\xf4\x8f\xbf\xbf",                                  /* U+10FFFF, the last */
		"\xed\x9f\xbf", "\xee\x80\x80",                      /* around the surrogates */
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (flow(good[i]) != 0)
			fail_msg("flow \"%s\" was refused", good[i]);
}

static void test_flow_counts_characters_not_bytes(void **state)
{
	char s[4 * 130 + 1];
	size_t o = 0;

	(void)state;
	for (int i = 0; i < 128; i++) {
		memcpy(s + o, "\xf0\x9f\x98\x80", 4);         /* U+1F600, four bytes */
		o += 4;
	}
	s[o] = '\0';
	assert_int_equal(utf8_printable_len(s, o), 128);
	assert_int_equal(flow(s), 0);                     /* 128 characters, 512 bytes */
	memcpy(s + o, "\xf0\x9f\x98\x80", 4);
	s[o + 4] = '\0';
	assert_int_equal(flow(s), -1);                    /* 129 characters */

	memset(s, 'x', 129);
	s[128] = '\0';
	assert_int_equal(flow(s), 0);
	s[128] = 'x';
	s[129] = '\0';
	assert_int_equal(flow(s), -1);

	o = 0;                                            /* 128 two-byte characters */
	for (int i = 0; i < 128; i++) {
		memcpy(s + o, "\xc3\xb1", 2);
		o += 2;
	}
	assert_int_equal(flow_n(s, o), 0);
	memcpy(s + o, "a", 1);
	assert_int_equal(flow_n(s, o + 1), -1);
	assert_int_equal(flow(""), -1);
}

static void test_flow_refuses_controls_and_malformed_utf8(void **state)
{
	static const struct { const char *s; size_t len; const char *why; } bad[] = {
		{ "a\x01", 2, "C0 control" },
		{ "\t", 1, "tab" },
		{ "a\nb", 3, "newline" },
		{ "a\rb", 3, "carriage return" },
		{ "\x1b[31m", 5, "escape" },
		{ "a\x7f", 2, "DEL" },
		{ "a\0b", 3, "NUL" },
		{ "\xc2\x80", 2, "C1 control U+0080" },
		{ "\xc2\x85", 2, "C1 NEL U+0085" },
		{ "\xc2\x9f", 2, "C1 control U+009F" },
		{ "\xc0\xaf", 2, "overlong '/' (C0)" },
		{ "\xc1\xbf", 2, "overlong (C1)" },
		{ "\xe0\x80\xaf", 3, "overlong three-byte '/'" },
		{ "\xe0\x9f\xbf", 3, "overlong three-byte U+07FF" },
		{ "\xf0\x80\x80\xaf", 4, "overlong four-byte '/'" },
		{ "\xf0\x8f\xbf\xbf", 4, "overlong four-byte U+FFFF" },
		{ "\xed\xa0\x80", 3, "surrogate U+D800" },
		{ "\xed\xbf\xbf", 3, "surrogate U+DFFF" },
		{ "\xed\xa0\xbd\xed\xb8\x80", 6, "CESU-8 surrogate pair" },
		{ "\xf4\x90\x80\x80", 4, "beyond U+10FFFF" },
		{ "\xf5\x80\x80\x80", 4, "lead byte F5" },
		{ "\xf8\x88\x80\x80\x80", 5, "five-byte form" },
		{ "\xfc\x84\x80\x80\x80\x80", 6, "six-byte form" },
		{ "\xfe", 1, "byte FE" },
		{ "\xff", 1, "byte FF" },
		{ "\x80", 1, "lone continuation byte" },
		{ "a\xbf", 2, "continuation after ASCII" },
		{ "\xc3", 1, "truncated two-byte" },
		{ "a\xe2\x82", 3, "truncated three-byte" },
		{ "\xf0\x9f\x98", 3, "truncated four-byte" },
		{ "\xc3" "a", 2, "lead byte then ASCII" },
		{ "\xe2" "a\xac", 3, "ASCII inside a sequence" },
		{ "\xf0\x9f\x98\x80\x80", 5, "extra continuation byte" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (flow_n(bad[i].s, bad[i].len) != -1)
			fail_msg("flow with %s was accepted", bad[i].why);
		if (utf8_printable_len(bad[i].s, bad[i].len) != -1)
			fail_msg("utf8_printable_len counted %s", bad[i].why);
	}
	/* a valid sequence cut by the length given is truncated too */
	assert_int_equal(flow_n("\xe2\x82\xac", 2), -1);
	assert_int_equal(flow_n("\xe2\x82\xac", 3), 0);
}

static void test_dob_accepts_real_dates_in_range(void **state)
{
	int32_t d = 0;
	char today[11];

	(void)state;
	assert_int_equal(dob("1990-05-17", TODAY, &d), 0);
	assert_int_equal(d, caldate_from_ymd(1990, 5, 17));
	assert_int_equal(dob("1900-01-01", TODAY, &d), 0);
	assert_int_equal(d, caldate_from_ymd(1900, 1, 1));
	assert_int_equal(dob("2000-02-29", TODAY, &d), 0);              /* leap: divisible by 400 */
	assert_int_equal(dob("1996-02-29", TODAY, &d), 0);
	assert_int_equal(dob("2024-02-29", TODAY, &d), 0);
	assert_int_equal(dob("1999-12-31", TODAY, &d), 0);
	assert_int_equal(dob("2024-06-15", TODAY, &d), 0);              /* today */
	assert_int_equal(d, TODAY);

	/* and with the real clock, as the API calls it */
	caldate_format(caldate_today_utc(), today, sizeof today);
	assert_int_equal(dob(today, caldate_today_utc(), &d), 0);
	assert_int_equal(d, caldate_today_utc());
}

static void test_dob_refuses_out_of_range_and_unreal_dates(void **state)
{
	static const char *const bad[] = {
		"1899-12-31", "1800-01-01", "0001-01-01", "0000-01-01",
		"2024-06-16",                   /* tomorrow */
		"2025-01-01", "9999-12-31",
		"1900-02-29",                   /* not leap: divisible by 100 */
		"2023-02-29", "1990-02-30", "1990-04-31", "1990-06-31", "1990-09-31", "1990-11-31",
		"1990-13-01", "1990-00-10", "1990-05-00", "1990-05-32", "1990-01-99",
	};
	int32_t d = 4242;
	char tomorrow[11];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (dob(bad[i], TODAY, &d) != -1)
			fail_msg("dob \"%s\" was accepted", bad[i]);
	assert_int_equal(d, 4242);                                      /* untouched on error */

	caldate_format(caldate_today_utc() + 1, tomorrow, sizeof tomorrow);
	assert_int_equal(dob(tomorrow, caldate_today_utc(), &d), -1);
}

static void test_dob_refuses_other_formats(void **state)
{
	static const char *const bad[] = {
		"", "1990-5-17", "1990-05-7", "90-05-17", "1990/05/17", "1990.05.17", "19900517",
		"17-05-1990", "05/17/1990", " 1990-05-17", "1990-05-17 ", "1990-05-17x",
		"1990-05-17T00:00:00Z", "1990-05-17\n", "+990-05-17", "-990-05-17", "1990-+5-17",
		"1990--5-17", "1990-05--7", "1990-05- 7", "1990- 5-17", "199O-05-17", "１９９０-05-17",
		"1990_05_17", "1990-05", "1990",
	};
	int32_t d;
	const char *detail;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (dob(bad[i], TODAY, &d) != -1)
			fail_msg("dob \"%s\" was accepted", bad[i]);
	assert_int_equal(validate_dob("1990-05-17", 9, TODAY, &d, &detail), -1);
	assert_int_equal(validate_dob("1990-05\0-17", 10, TODAY, &d, &detail), -1);
}

static void test_cidr(void **state)
{
	struct cidr net, a;

	(void)state;
	assert_int_equal(cidr_parse("10.0.0.0/8", &net), 0);
	assert_int_equal(cidr_parse("10.200.3.4", &a), 0);
	assert_true(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("11.0.0.1", &a), 0);
	assert_false(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("192.168.1.128/25", &net), 0);
	assert_int_equal(cidr_parse("192.168.1.200", &a), 0);
	assert_true(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("192.168.1.127", &a), 0);
	assert_false(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("fd00::/8", &net), 0);
	assert_int_equal(cidr_parse("fd12::1", &a), 0);
	assert_true(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("10.0.0.1", &a), 0);
	assert_false(cidr_contains(&net, &a));          /* families differ */
	assert_int_equal(cidr_parse("127.0.0.1", &net), 0);   /* an address is a /32 */
	assert_int_equal(cidr_parse("127.0.0.2", &a), 0);
	assert_false(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("0.0.0.0/0", &net), 0);
	assert_true(cidr_contains(&net, &a));
	assert_int_equal(cidr_parse("10.0.0.0/33", &net), -1);
	assert_int_equal(cidr_parse("::/129", &net), -1);
	assert_int_equal(cidr_parse("10.0.0.0/", &net), -1);
	assert_int_equal(cidr_parse("10.0.0.0/8x", &net), -1);
	assert_int_equal(cidr_parse("10.0.0/8", &net), -1);
	assert_int_equal(cidr_parse("", &net), -1);
	assert_int_equal(cidr_parse("/8", &net), -1);
	assert_int_equal(cidr_parse("example.com", &net), -1);
}

/* The one canonical form of a phone: the digits after an optional '+'. */
static void test_phone_digits(void **state)
{
	static const struct { const char *s; const char *digits; } ok[] = {
		{ "+5215550000000", "5215550000000" }, { "5215550000000", "5215550000000" },
		{ "12345678", "12345678" }, { "+123456789012345", "123456789012345" },
		/* 00 is the international prefix: the same phone as '+' */
		{ "005215550000000", "5215550000000" }, { "00123456789012345", "123456789012345" },
		{ "0012345678", "12345678" }, { "00000000", "00000000" }, { "001234567", "001234567" },
	};
	static const char *const bad[] = {
		"", "+", "1234567", "+1234567", "1234567890123456", "+52 155", "++12345678",
		"001234567890123456", "+0012345678901234567",
		"12345678+", "1234567a", "+１２３４５６７８",
	};
	const char *d = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int n = validate_phone_digits(ok[i].s, strlen(ok[i].s), &d);
		if (n != (int)strlen(ok[i].digits) || strncmp(d, ok[i].digits, (size_t)n) != 0)
			fail_msg("\"%s\": got %d digits, expected \"%s\"", ok[i].s, n, ok[i].digits);
		if (phone(ok[i].s) != 0)
			fail_msg("validate_phone refused \"%s\"", ok[i].s);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (validate_phone_digits(bad[i], strlen(bad[i]), &d) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		if (phone(bad[i]) != -1)
			fail_msg("validate_phone accepted \"%s\"", bad[i]);
	}
	{
		char out[PHONE_MAX + 1];
		assert_int_equal(validate_phone_stored("00123456789012345", 17, out, sizeof out), 16);
		assert_string_equal(out, "+123456789012345");
		assert_int_equal(validate_phone_stored("5215550000000", 13, out, sizeof out), 13);
		assert_string_equal(out, "5215550000000");
		assert_int_equal(validate_phone_stored("+5215550000000", 14, out, sizeof out), 14);
		assert_string_equal(out, "+5215550000000");
		assert_int_equal(validate_phone_stored("0012", 4, out, sizeof out), 0);
	}
	/* len bounds the input */
	assert_int_equal(validate_phone_digits("+123456789xyz", 10, &d), 9);
}

/* rate_ip's key: IPv6 by its /64, IPv4 (and IPv4 on a v6 socket) as is. */
static void test_ip_limit_key(void **state)
{
	static const struct { const char *ip, *key; } cases[] = {
		{ "203.0.113.9", "203.0.113.9" },
		{ "2001:db8:1:2::1", "2001:db8:1:2::/64" },
		{ "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64" },
		{ "2001:db8:1:3::1", "2001:db8:1:3::/64" },
		{ "::ffff:198.51.100.4", "198.51.100.4" },
		{ "::1", "::/64" },
		{ "not an address", "not an address" },
	};
	char out[VALIDATE_IP_KEY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = validate_ip_limit_key(cases[i].ip, out, sizeof out);
		if (strcmp(out, cases[i].key) != 0 || n != strlen(out))
			fail_msg("\"%s\": got \"%s\" (%zu), expected \"%s\"", cases[i].ip, out, n, cases[i].key);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phone_digits),
		cmocka_unit_test(test_ip_limit_key),
		cmocka_unit_test(test_client_id_accepts_allowed_characters),
		cmocka_unit_test(test_client_id_length_is_1_to_128),
		cmocka_unit_test(test_client_id_refuses_other_characters),
		cmocka_unit_test(test_client_id_refuses_dot_segments),
		cmocka_unit_test(test_json_nul_is_found_and_named),
		cmocka_unit_test(test_phone_accepts_8_to_15_digits_with_optional_plus),
		cmocka_unit_test(test_phone_refuses_wrong_lengths_and_characters),
		cmocka_unit_test(test_flow_accepts_printable_utf8),
		cmocka_unit_test(test_flow_counts_characters_not_bytes),
		cmocka_unit_test(test_flow_refuses_controls_and_malformed_utf8),
		cmocka_unit_test(test_dob_accepts_real_dates_in_range),
		cmocka_unit_test(test_dob_refuses_out_of_range_and_unreal_dates),
		cmocka_unit_test(test_dob_refuses_other_formats),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
