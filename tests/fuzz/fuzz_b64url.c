// max_len: 256
/*
 * fuzz_b64url: page ids as they arrive in a path (GET /{page_id}, GET/DELETE
 * /v1/challenges/{id}) or a form field (page_id=): strict base64url without
 * padding. Checks: the decoder never writes past outcap; whatever it accepts
 * is canonical (encoding the bytes gives back the same text), and the length
 * it returns is the one the text implies.
 */
#include "crypto.h"
#include "form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_decode(const char *s, size_t n)
{
	uint8_t small[PAGE_ID_BYTES], *big = malloc(n + 1);
	char *back = malloc(n + 8);
	long got = b64url_decode(s, n, big, n + 1);

	if (got >= 0) {
		if ((size_t)got != n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0))
			abort();
		if (b64url_encode(big, (size_t)got, back) != n || memcmp(back, s, n) != 0)
			abort();
		/* a buffer one byte short is refused, not overrun (ASan watches) */
		if (got > 0) {
			uint8_t *tight = malloc((size_t)got - 1 ? (size_t)got - 1 : 1);
			if (b64url_decode(s, n, tight, (size_t)got - 1) != -1)
				abort();
			free(tight);
		}
	}
	/* the page id path: exactly 22 characters and 16 bytes */
	got = b64url_decode(s, n, small, sizeof small);
	if (got == PAGE_ID_BYTES && n != PAGE_ID_LEN)
		abort();
	free(big);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1), id[PAGE_ID_LEN + 2];
	long n;

	memcpy(s, data, size);
	check_decode(s, size);
	/* as web.c reads it from the validate form */
	n = form_get(s, size, "page_id", id, sizeof id);
	if (n >= 0)
		check_decode(id, (size_t)n);
	free(s);
	return 0;
}
