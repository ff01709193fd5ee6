/*
 * delivery: the pieces of reading one delivery attempt's answer that do not
 * depend on the target. Chatfuel's own rule (a 2xx must also say "success":
 * true) is in chatfuel.c; the sender (notify.c) turns a verdict into the row's
 * next state and time.
 */
#include "delivery.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define HTTP_REQUEST_TIMEOUT 408
#define HTTP_TOO_MANY_REQUESTS 429

enum delivery_verdict delivery_judge_status(long status, const char *body, size_t len, char *err,
                                            size_t cap)
{
	char excerpt[DELIVERY_EXCERPT_MAX + 1];

	if (status >= 200 && status <= 299)
		return DELIVERY_SENT;
	if (err != NULL && cap > 0) {
		delivery_excerpt(body, len, excerpt, sizeof excerpt);
		snprintf(err, cap, "HTTP %ld: %s", status, excerpt);
	}
	if (status == HTTP_REQUEST_TIMEOUT || status == HTTP_TOO_MANY_REQUESTS || status >= 500)
		return DELIVERY_RETRY;
	return DELIVERY_FAILED;
}

void delivery_excerpt(const char *body, size_t len, char *out, size_t cap)
{
	size_t n = len < DELIVERY_EXCERPT_MAX ? len : DELIVERY_EXCERPT_MAX;

	if (cap == 0)
		return;
	if (body == NULL || n >= cap)
		n = body == NULL ? 0 : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body[i];
		out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	out[n] = '\0';
}

void delivery_redact(char *s, size_t cap, const char *secret)
{
	static const char mark[] = DELIVERY_REDACTED;
	const size_t mlen = sizeof mark - 1;
	size_t slen;
	char *p, *from = s;

	if (!nonempty(secret))
		return;
	slen = strlen(secret);
	while ((p = strstr(from, secret)) != NULL) {
		size_t at = (size_t)(p - s), tail = strlen(p + slen);

		if (at + mlen >= cap) {
			*p = '\0';
			return;
		}
		if (at + mlen + tail + 1 > cap)
			tail = cap - 1 - at - mlen;
		memmove(p + mlen, p + slen, tail);
		memcpy(p, mark, mlen);
		p[mlen + tail] = '\0';
		from = p + mlen;    /* never search inside the mark */
	}
}
