/*
 * delivery: what chatfuel.c and webhook.c share about one attempt's answer:
 * the verdict an HTTP status gives a row, a printable excerpt of the response
 * for last_error, and the redaction of a secret from any text kept or logged.
 * Pure: no I/O, no clock.
 */
#ifndef MNMFA_DELIVERY_H
#define MNMFA_DELIVERY_H

#include <stddef.h>

#define DELIVERY_ERROR_MAX 512          /* bytes of last_error kept, NUL included */
#define DELIVERY_EXCERPT_MAX 200        /* response bytes quoted in an error */
#define DELIVERY_REDACTED "[redacted]"

enum delivery_verdict {
	DELIVERY_SENT,                  /* done: the row is sent */
	DELIVERY_RETRY,                 /* try again after a backoff */
	DELIVERY_FAILED,                /* give up now: the reason is kept */
};

/* The verdict of an HTTP answer by its status alone: 2xx sent; 408, 429 and
 * 5xx retry; anything else failed. Unless sent, err gets "HTTP <status>:
 * <excerpt of body>" (err may be NULL when sent is all the caller wants). */
enum delivery_verdict delivery_judge_status(long status, const char *body, size_t len, char *err,
                                            size_t cap);

/* At most DELIVERY_EXCERPT_MAX bytes of body (and fewer than cap), control
 * characters as spaces, NUL-terminated. */
void delivery_excerpt(const char *body, size_t len, char *out, size_t cap);

/* Replaces every occurrence of secret (NULL or "" for none) in s, a string in
 * a buffer of cap bytes, by DELIVERY_REDACTED, cutting what no longer fits. */
void delivery_redact(char *s, size_t cap, const char *secret);

#endif
