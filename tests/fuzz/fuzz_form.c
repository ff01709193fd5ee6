// max_len: 20000
/*
 * fuzz_form: query strings and urlencoded bodies (form_get) and the encoder of
 * values sent to Chatfuel (url_encode). Besides memory safety it checks the
 * contracts: a found value is NUL-terminated at the length returned and holds
 * no NUL; a value that fits in a large buffer fits the same in a just-sized
 * one and is MALFORMED in a smaller one; url_encode's output is only
 * unreserved characters and %XX, and decodes back through form_get.
 */
#include "form.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG 20480

static const char *const keys[] = {
	"page_id", "respuesta", "refdata", "client_id", "telefono", "flow_name", "fecha_cumple",
	"api_key", "lang", "format", "", "a",
};

static void check_get(const char *body, size_t len, const char *key)
{
	static char big[BIG], exact[BIG], small[BIG];
	long n = form_get(body, len, key, big, sizeof big), m;

	if (n == FORM_ABSENT || n == FORM_MALFORMED)
		return;
	if (n < 0 || (size_t)n >= sizeof big || big[n] != '\0' || memchr(big, '\0', (size_t)n) != NULL)
		abort();
	/* the same value in a buffer of exactly n + 1 bytes, and not in n */
	m = form_get(body, len, key, exact, (size_t)n + 1);
	if (m != n || memcmp(exact, big, (size_t)n + 1) != 0)
		abort();
	if (form_get(body, len, key, small, (size_t)n) != FORM_MALFORMED)
		abort();
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void check_encode(const uint8_t *data, size_t size)
{
	static char enc[3 * BIG + 1], body[3 * BIG + 8], dec[BIG + 1];
	long n = url_encode((const char *)data, size, enc, sizeof enc), d;
	size_t cap;

	if (n < 0 || (size_t)n >= sizeof enc || enc[n] != '\0')
		abort();
	for (long i = 0; i < n; i++) {
		if (enc[i] == '%') {
			if (i + 2 >= n || !strchr("0123456789ABCDEF", enc[i + 1]) ||
			    !strchr("0123456789ABCDEF", enc[i + 2]) || enc[i + 1] == '\0' || enc[i + 2] == '\0')
				abort();
			i += 2;
		} else if (!unreserved((unsigned char)enc[i])) {
			abort();
		}
	}
	/* too small a buffer is -1, never a cut value */
	cap = (size_t)n;
	if (url_encode((const char *)data, size, enc, cap) != -1)
		abort();
	url_encode((const char *)data, size, enc, sizeof enc);

	/* round trip, when the value holds no NUL (a decoded NUL is malformed) */
	memcpy(body, "v=", 2);
	memcpy(body + 2, enc, (size_t)n);
	d = form_get(body, (size_t)n + 2, "v", dec, sizeof dec);
	if (memchr(data, '\0', size) != NULL) {
		if (d != FORM_MALFORMED)
			abort();
	} else if (d != (long)size || memcmp(dec, data, size) != 0) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body, key[32];
	size_t klen = 0;

	if (size > BIG)
		return 0;
	/* a heap copy of exactly size bytes, so ASan sees any read past the end */
	body = malloc(size ? size : 1);
	memcpy(body, data, size);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		check_get(body, size, keys[i]);
	/* and a key taken from the input itself: the first pair's name */
	while (klen < size && body[klen] != '=' && body[klen] != '&')
		klen++;
	if (klen < sizeof key) {
		memcpy(key, body, klen);
		key[klen] = '\0';
		if (strlen(key) == klen)
			check_get(body, size, key);
	}
	check_encode(data, size);
	free(body);
	return 0;
}
