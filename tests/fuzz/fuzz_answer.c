// max_len: 20000
/*
 * fuzz_answer: what Chatfuel or a webhook receiver answers is outside input,
 * read by chatfuel_judge (cJSON, the "success" rule, the excerpt) and turned
 * into error text that delivery_redact cleans of secrets. The first bytes
 * choose the HTTP status, the error buffer's size and a secret; the rest is
 * the body. Checks: memory safety (ASan), the verdict follows the status
 * rule, error text fits its buffer and has no control character, and a
 * secret sharing no character with the mark never survives redaction.
 */
#include "chatfuel.h"
#include "delivery.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const long statuses[] = { 200, 201, 204, 299, 300, 400, 404, 408, 429, 500, 503, 599 };

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A secret of 1..16 bytes from p, none of them NUL or a character of the mark. */
static size_t take_secret(const uint8_t *p, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < 16; i++)
		if (p[i] != '\0' && strchr(DELIVERY_REDACTED, p[i]) == NULL)
			out[k++] = (char)p[i];
	out[k] = '\0';
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[DELIVERY_ERROR_MAX], secret[17];
	const char *body;
	size_t cap, len;
	long status;
	enum delivery_verdict v;

	if (size < 8)
		return 0;
	status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
	cap = 1 + (size_t)data[1] * 2;               /* 1..511 */
	take_secret(data + 2, 6, secret);
	body = (const char *)data + 8;
	len = size - 8;

	memset(err, 'X', sizeof err);
	v = chatfuel_judge(status, body, len, err, cap);
	if (v != DELIVERY_SENT && v != DELIVERY_RETRY && v != DELIVERY_FAILED)
		abort();
	if (status < 200 || status > 299) {
		bool retry = status == 408 || status == 429 || status >= 500;
		if (v != (retry ? DELIVERY_RETRY : DELIVERY_FAILED))
			abort();
	}
	if (v == DELIVERY_SENT)
		return 0;
	if (memchr(err, '\0', cap) == NULL || !printable(err))
		abort();

	/* the secret planted in the error text is redacted wherever it lands */
	if (secret[0] != '\0') {
		size_t elen = strlen(err), at = len % (elen + 1), slen = strlen(secret);
		char *text = malloc(elen + slen + 1 > cap ? elen + slen + 1 : cap);   /* cap bytes at least */

		memcpy(text, err, at);
		memcpy(text + at, secret, slen);
		memcpy(text + at + slen, err + at, elen - at + 1);
		if (elen + slen >= cap)
			text[cap - 1] = '\0';      /* as it would sit in a cap-byte buffer */
		delivery_redact(text, cap, secret);
		if (memchr(text, '\0', cap) == NULL || strstr(text, secret) != NULL)
			abort();
		free(text);
	}
	return 0;
}
