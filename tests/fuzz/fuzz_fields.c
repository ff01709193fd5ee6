// max_len: 1024
/*
 * fuzz_fields: the SPEC §4.3 field rules (validate_*), the strict date parser
 * and the answer check (challenge_check gets the form's `respuesta` as sent).
 * Each accepted input is checked against a plain reference: a valid client_id
 * holds only [A-Za-z0-9_.:-], a valid phone only digits after an optional '+',
 * a parsed date formats back to the same ten bytes, a valid flow is 1..128
 * well-formed printable characters, and a right answer is exactly the right
 * option's value.
 */
#include "caldate.h"
#include "challenge.h"
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A deterministic rng from the input's first bytes (splitmix64). */
static uint64_t fuzz_rng(void *ctx)
{
	uint64_t *x = ctx, z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Independent UTF-8 reader: code points, or -1 if malformed or not printable. */
static long ref_printable(const unsigned char *s, size_t len)
{
	long n = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k;
		if (s[i] < 0x80) { cp = s[i]; k = 1; }
		else if ((s[i] & 0xe0) == 0xc0) { cp = s[i] & 0x1f; k = 2; }
		else if ((s[i] & 0xf0) == 0xe0) { cp = s[i] & 0x0f; k = 3; }
		else if ((s[i] & 0xf8) == 0xf0) { cp = s[i] & 0x07; k = 4; }
		else return -1;
		if (i + k > len)
			return -1;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 ||
		    (cp >= 0x7f && cp <= 0x9f))
			return -1;
		i += k;
		n++;
	}
	return n;
}

static void check_validators(const char *s, size_t len)
{
	const char *detail = NULL;
	int32_t d = 0, today = caldate_from_ymd(2030, 1, 1);
	char back[11];
	long n;

	if (validate_client_id(s, len, &detail) == 0) {
		if (len < 1 || len > 128)
			abort();
		for (size_t i = 0; i < len; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-", s[i]) ||
			    s[i] == '\0')
				abort();
	} else if (detail == NULL) {
		abort();
	}

	detail = NULL;
	if (validate_phone(s, len, &detail) == 0) {
		/* 8-15 digits after an optional '+' or the international prefix 00 */
		size_t i = len > 0 && s[0] == '+';
		bool prefix00 = i == 0 && len >= 2 && s[0] == '0' && s[1] == '0';
		if ((len - i < 8 || len - i > 15) && !(prefix00 && len >= 10 && len <= 17))
			abort();
		for (; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				abort();
	} else if (detail == NULL) {
		abort();
	}

	n = utf8_printable_len(s, len);
	if (n != ref_printable((const unsigned char *)s, len))
		abort();
	detail = NULL;
	if (validate_flow(s, len, &detail) == 0) {
		if (n < 1 || n > FLOW_MAX_CHARS)
			abort();
	} else if (detail == NULL || (len > 0 && n >= 1 && n <= FLOW_MAX_CHARS && len <= 512)) {
		abort();
	}

	if (caldate_parse(s, len, &d) == 0) {
		caldate_format(d, back, sizeof back);
		if (len != 10 || memcmp(back, s, 10) != 0)
			abort();
		detail = NULL;
		if (validate_dob(s, len, today, &d, &detail) == 0) {
			if (d < caldate_from_ymd(1900, 1, 1) || d > today)
				abort();
		} else if (detail == NULL) {
			abort();
		}
	} else if (validate_dob(s, len, today, &d, &detail) == 0) {
		abort();
	}
}

/* The first 8 bytes pick a question; the rest is the answer as posted. */
static void check_answer(const uint8_t *data, size_t size)
{
	struct question q;
	uint64_t seed = 0;
	char value[CHALLENGE_ANSWER_MAX];
	const char *answer;
	size_t alen;
	int choices, kind, mode;
	int32_t dob;
	bool ok;

	if (size < 8)
		return;
	memcpy(&seed, data, 8);
	kind = data[0] & 1;
	mode = (data[0] >> 1) & 1;
	choices = CHALLENGE_MIN_CHOICES + data[1] % (CHALLENGE_MAX_CHOICES - CHALLENGE_MIN_CHOICES + 1);
	dob = caldate_from_ymd(1900, 1, 1) + (int32_t)(fuzz_rng(&seed) % 47000);
	if (challenge_generate(&q, (enum question_kind)kind, (enum challenge_mode)mode, choices, dob,
	                       fuzz_rng, &seed) != 0)
		abort();
	answer = (const char *)data + 8;
	alen = size - 8;
	ok = challenge_check(&q, answer, alen);
	if (q.mode == MODE_CHOICE) {
		challenge_option_value(&q, q.correct, value, sizeof value);
		if (ok != (alen == strlen(value) && memcmp(answer, value, alen) == 0))
			abort();
	} else if (ok) {
		int32_t v;
		if (kind == QUESTION_DATE && (caldate_parse(answer, alen, &v) != 0 || v != q.truth))
			abort();
		if (kind == QUESTION_SUM && (alen > 2 || q.truth < 2 || q.truth > 43))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy: the rules take (pointer, length), never a NUL */
	char *s = malloc(size ? size : 1);

	memcpy(s, data, size);
	check_validators(s, size);
	free(s);
	check_answer(data, size);
	return 0;
}
