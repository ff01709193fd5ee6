/*
 * test_form: urlencoded decoding of query strings and form bodies (form_get)
 * and percent-encoding of values sent to Chatfuel (url_encode). The decoder
 * guards the validate form and mint bodies: a key must match whole, escapes
 * must be exact, and a value that does not fit is an error, never truncated.
 */
#include "unit.h"
#include "form.h"

#include <stdio.h>
#include <string.h>

/* form_get on a NUL-terminated body into a 64-byte buffer. */
static long get(const char *body, const char *key, char out[64])
{
	memset(out, 'Z', 64);
	return form_get(body, strlen(body), key, out, 64);
}

static void want_value(const char *body, const char *key, const char *want)
{
	char out[64];
	long n = get(body, key, out);

	if (n < 0)
		fail_msg("%s in \"%s\": got %ld, expected \"%s\"", key, body, n, want);
	if ((size_t)n != strlen(want) || strcmp(out, want) != 0)
		fail_msg("%s in \"%s\": got \"%s\" (%ld), expected \"%s\"", key, body, out, n, want);
}

static void want_rc(const char *body, const char *key, long want)
{
	char out[64];
	long n = get(body, key, out);

	if (n != want)
		fail_msg("%s in \"%s\": got %ld, expected %ld", key, body, n, want);
}

static void test_get_finds_keys_anywhere(void **state)
{
	(void)state;
	want_value("page_id=abc&respuesta=none", "page_id", "abc");
	want_value("page_id=abc&respuesta=none", "respuesta", "none");
	want_value("a=1&b=2&c=3", "c", "3");
	want_value("a=1", "a", "1");
	want_value("a=", "a", "");
	want_value("&&a=1&&", "a", "1");
	want_value("x=1&a=b=c", "a", "b=c");                 /* only the first '=' splits */
}

static void test_get_returns_the_first_match(void **state)
{
	(void)state;
	want_value("a=1&a=2", "a", "1");
	want_value("b=0&a=first&b=1&a=second", "a", "first");
}

static void test_get_missing_key_is_absent(void **state)
{
	(void)state;
	want_rc("", "a", FORM_ABSENT);
	want_rc("b=1&c=2", "a", FORM_ABSENT);
	want_rc("A=1", "a", FORM_ABSENT);                     /* keys are case-sensitive */
	want_rc("=a&x=a", "a", FORM_ABSENT);                  /* a value is not a key */
}

static void test_get_does_not_confuse_prefixes(void **state)
{
	(void)state;
	want_value("page_id=ID&page=P", "page", "P");
	want_value("page=P&page_id=ID", "page_id", "ID");
	want_rc("page_id=ID", "page", FORM_ABSENT);
	want_rc("page=P", "page_id", FORM_ABSENT);
	want_rc("xpage=1", "page", FORM_ABSENT);
	want_rc("pag=1", "page", FORM_ABSENT);
	want_value("respuesta_x=1&respuesta=2", "respuesta", "2");
}

static void test_get_decodes_plus_and_escapes(void **state)
{
	(void)state;
	want_value("q=a+b", "q", "a b");
	want_value("q=%2B", "q", "+");
	want_value("q=%20%26%3D%25", "q", " &=%");
	want_value("q=%41%62%7e", "q", "Ab~");               /* upper and lower case hex */
	want_value("q=%c3%b1", "q", "\xc3\xb1");            /* bytes pass through as they are */
	want_value("q=%FF", "q", "\xff");
	want_value("q=%7B%22a%22%3A1%7D", "q", "{\"a\":1}");
	want_value("q=100%25", "q", "100%");
	want_value("q=a%26b=c&b=2", "q", "a&b=c");
}

static void test_get_bad_escapes_are_malformed(void **state)
{
	static const char *const bad[] = {
		"q=%", "q=%4", "q=a%", "q=%G0", "q=%0G", "q=%%41", "q=% 1", "q=%-1", "q=%+1",
		"q=%00", "q=a%00b", "q=%4&x=1", "q=%\xc3\xb1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		want_rc(bad[i], "q", FORM_MALFORMED);
	/* a malformed value elsewhere does not spoil other keys */
	want_value("x=%zz&q=ok", "q", "ok");
}

static void test_get_raw_nul_is_malformed(void **state)
{
	static const char body[] = "q=a\0b&r=1";
	char out[64];

	(void)state;
	assert_int_equal(form_get(body, sizeof body - 1, "q", out, sizeof out), FORM_MALFORMED);
	assert_int_equal(form_get(body, sizeof body - 1, "r", out, sizeof out), 1);
	assert_string_equal(out, "1");
}

static void test_get_respects_the_length_given(void **state)
{
	char out[64];

	(void)state;
	/* the body is not NUL-terminated: only len bytes are read */
	assert_int_equal(form_get("a=12345", 5, "a", out, sizeof out), 3);
	assert_string_equal(out, "123");
	assert_int_equal(form_get("a=1&b=2", 3, "b", out, sizeof out), FORM_ABSENT);
	assert_int_equal(form_get("a=%41", 4, "a", out, sizeof out), FORM_MALFORMED);
	assert_int_equal(form_get("a=1", 0, "a", out, sizeof out), FORM_ABSENT);
}

static void test_get_value_must_fit(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'Z', sizeof out);
	assert_int_equal(form_get("v=1234567", 9, "v", out, sizeof out), 7);     /* 7 + NUL */
	assert_string_equal(out, "1234567");
	memset(out, 'Z', sizeof out);
	assert_int_equal(form_get("v=12345678", 10, "v", out, sizeof out), FORM_MALFORMED);
	assert_int_equal(form_get("v=%41%41%41%41%41%41%41", 23, "v", out, sizeof out), 7);
	assert_string_equal(out, "AAAAAAA");
	assert_int_equal(form_get("v=%41%41%41%41%41%41%41%41", 26, "v", out, sizeof out),
	                 FORM_MALFORMED);
	assert_int_equal(form_get("v=", 2, "v", out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(form_get("v=1", 3, "v", out, 1), FORM_MALFORMED);
	assert_int_equal(form_get("v=1", 3, "v", out, 0), FORM_MALFORMED);
}

static void test_get_key_without_equals_is_empty(void **state)
{
	(void)state;
	want_value("flag", "flag", "");
	want_value("a=1&flag&b=2", "flag", "");
	want_value("flag&flag=1", "flag", "");                /* still the first match */
	want_rc("flagx", "flag", FORM_ABSENT);
}

static void want_encoded(const char *in, const char *want)
{
	char out[256];
	long n = url_encode(in, strlen(in), out, sizeof out);

	if (n < 0 || (size_t)n != strlen(want) || strcmp(out, want) != 0)
		fail_msg("url_encode(\"%s\"): got \"%s\" (%ld), expected \"%s\"", in,
		         n < 0 ? "" : out, n, want);
}

static void test_url_encode_keeps_unreserved(void **state)
{
	(void)state;
	want_encoded("", "");
	want_encoded("ABCXYZabcxyz0189-._~", "ABCXYZabcxyz0189-._~");
	want_encoded("flow_name.v2", "flow_name.v2");
}

static void test_url_encode_escapes_everything_else(void **state)
{
	char out[16];

	(void)state;
	want_encoded("a b", "a%20b");
	want_encoded("+", "%2B");
	want_encoded("&=?#/%", "%26%3D%3F%23%2F%25");
	want_encoded("\"'<>", "%22%27%3C%3E");
	want_encoded("\n\r\t", "%0A%0D%09");
	want_encoded("\x7f", "%7F");
	want_encoded("ñ", "%C3%B1");
	want_encoded("\xf0\x9f\x98\x80", "%F0%9F%98%80");
	want_encoded("\xff", "%FF");
	/* NUL bytes inside the length are encoded, not a terminator */
	assert_int_equal(url_encode("a\0b", 3, out, sizeof out), 5);
	assert_string_equal(out, "a%00b");
}

static void test_url_encode_overflow_is_an_error(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(url_encode("1234567", 7, out, sizeof out), 7);    /* exactly fits */
	assert_string_equal(out, "1234567");
	assert_int_equal(url_encode("12345678", 8, out, sizeof out), -1);
	assert_int_equal(url_encode("ab ", 3, out, 6), 5);                /* "ab%20" + NUL */
	assert_string_equal(out, "ab%20");
	assert_int_equal(url_encode("ab ", 3, out, 5), -1);
	assert_int_equal(url_encode("  ", 2, out, 6), -1);
	assert_int_equal(url_encode("", 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(url_encode("", 0, out, 0), -1);
	assert_int_equal(url_encode("a", 1, out, 1), -1);
}

/* A path segment keeps no '.', so "." and ".." cannot be dot segments. */
static void test_url_encode_segment_encodes_dots(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(url_encode_segment("..", 2, out, sizeof out), 6);
	assert_string_equal(out, "%2E%2E");
	assert_int_equal(url_encode_segment(".", 1, out, sizeof out), 3);
	assert_string_equal(out, "%2E");
	assert_int_equal(url_encode_segment("a.b:c-_~/", 9, out, sizeof out), 15);
	assert_string_equal(out, "a%2Eb%3Ac-_~%2F");
	assert_int_equal(url_encode_segment("..", 2, out, 6), -1);           /* no room for NUL */
}

static void test_url_encode_round_trips_through_form_get(void **state)
{
	char in[256], enc[800], body[820], out[300];

	(void)state;
	for (int i = 0; i < 255; i++)
		in[i] = (char)(i + 1);                       /* every byte but NUL */
	in[255] = '\0';
	assert_int_equal(url_encode(in, 255, enc, sizeof enc), 255 + 2 * (255 - 66));
	snprintf(body, sizeof body, "x=1&v=%s&y=2", enc);
	assert_int_equal(form_get(body, strlen(body), "v", out, sizeof out), 255);
	assert_memory_equal(out, in, 255);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_finds_keys_anywhere),
		cmocka_unit_test(test_get_returns_the_first_match),
		cmocka_unit_test(test_get_missing_key_is_absent),
		cmocka_unit_test(test_get_does_not_confuse_prefixes),
		cmocka_unit_test(test_get_decodes_plus_and_escapes),
		cmocka_unit_test(test_get_bad_escapes_are_malformed),
		cmocka_unit_test(test_get_raw_nul_is_malformed),
		cmocka_unit_test(test_get_respects_the_length_given),
		cmocka_unit_test(test_get_value_must_fit),
		cmocka_unit_test(test_get_key_without_equals_is_empty),
		cmocka_unit_test(test_url_encode_keeps_unreserved),
		cmocka_unit_test(test_url_encode_escapes_everything_else),
		cmocka_unit_test(test_url_encode_overflow_is_an_error),
		cmocka_unit_test(test_url_encode_segment_encodes_dots),
		cmocka_unit_test(test_url_encode_round_trips_through_form_get),
	};

	return cmocka_run_group_tests_name("form", tests, NULL, NULL);
}
