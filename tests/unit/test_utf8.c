/*
 * test_utf8: utf8_decode against an independent oracle: the test's own
 * encoder. Every scalar value round-trips; every two- and three-byte sequence
 * decodes if and only if it is the encoding of a scalar value (so overlongs,
 * surrogates, stray continuations and truncations are refused), and the
 * classic four-byte edge cases are checked by hand.
 */
#include "unit.h"
#include "utf8.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static int encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool is_scalar(uint32_t cp)
{
	return cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

static void test_every_scalar_round_trips(void **state)
{
	(void)state;
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		unsigned char s[4];
		uint32_t got = 0xffffffff;
		int n, r;

		if (!is_scalar(cp))
			continue;
		n = encode(cp, s);
		r = utf8_decode(s, (size_t)n, &got);
		if (r != n || got != cp)
			fail_msg("U+%04X: expected %d bytes, got %d (U+%04X)", cp, n, r, got);
		if (n > 1 && utf8_decode(s, (size_t)n - 1, &got) != -1)
			fail_msg("U+%04X cut to %d bytes was decoded", cp, n - 1);
	}
}

/* Every sequence of up to three bytes: decoded iff it starts with the
 * encoding of a scalar value of that length or shorter. */
static void test_two_and_three_byte_sequences(void **state)
{
	uint8_t *valid3 = calloc(1 << 24, 1);   /* b0 b1 b2 -> 1 if a 3-byte encoding */
	uint8_t valid2[1 << 16] = { 0 };

	(void)state;
	for (uint32_t cp = 0x80; cp < 0x10000; cp++) {
		unsigned char s[4];
		int n;
		if (!is_scalar(cp))
			continue;
		n = encode(cp, s);
		if (n == 2)
			valid2[s[0] << 8 | s[1]] = 1;
		else
			valid3[s[0] << 16 | s[1] << 8 | s[2]] = 1;
	}
	for (uint32_t v = 0; v < (1u << 24); v++) {
		unsigned char s[3] = { (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v };
		uint32_t cp;
		int want = s[0] < 0x80 ? 1 : valid2[v >> 8] ? 2 : valid3[v] ? 3 : -1;
		int got = utf8_decode(s, 3, &cp);

		if (got != want)
			fail_msg("%02x %02x %02x: expected %d, got %d", s[0], s[1], s[2], want, got);
		if (v % 256 == 0) {                  /* the same bytes with only two available */
			int want2 = s[0] < 0x80 ? 1 : valid2[v >> 8] ? 2 : -1;
			if (utf8_decode(s, 2, &cp) != want2)
				fail_msg("%02x %02x (2 bytes): expected %d", s[0], s[1], want2);
		}
	}
	free(valid3);
}

static void test_four_byte_edges_and_empty(void **state)
{
	static const struct {
		const char *s;
		int want;
		uint32_t cp;
	} cases[] = {
		{ "\xf0\x90\x80\x80", 4, 0x10000 },      /* first four-byte scalar */
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff },     /* last scalar */
		{ "\xf0\x9f\x98\x80", 4, 0x1f600 },
		{ "\xf0\x8f\xbf\xbf", -1, 0 },           /* overlong U+FFFF */
		{ "\xf4\x90\x80\x80", -1, 0 },           /* U+110000 */
		{ "\xf5\x80\x80\x80", -1, 0 },           /* lead byte never used */
		{ "\xff\x80\x80\x80", -1, 0 },
		{ "\xf0\x90\x80\x7f", -1, 0 },           /* last byte not a continuation */
		{ "\xf0\x90\xc0\x80", -1, 0 },
		{ "\xed\xa0\x80", -1, 0 },               /* surrogate U+D800 */
		{ "\xc0\x80", -1, 0 },                   /* overlong NUL */
		{ "\x80", -1, 0 },                       /* stray continuation */
	};
	uint32_t cp;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int got = utf8_decode((const unsigned char *)cases[i].s, strlen(cases[i].s), &cp);
		if (got != cases[i].want || (got > 0 && cp != cases[i].cp))
			fail_msg("case %zu: expected %d, got %d", i, cases[i].want, got);
	}
	assert_int_equal(utf8_decode((const unsigned char *)"\xf0\x90\x80\x80", 3, &cp), -1);
	assert_int_equal(utf8_decode((const unsigned char *)"a", 0, &cp), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_scalar_round_trips),
		cmocka_unit_test(test_two_and_three_byte_sequences),
		cmocka_unit_test(test_four_byte_edges_and_empty),
	};

	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
