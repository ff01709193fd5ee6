/*
 * webhook: the optional signed webhook request for one result and the reading
 * of its answer. The body is the JSON the outbox row holds (built when the
 * decision was written); this module adds the signature header
 *   X-Mnmfa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." body)>
 * The secret lives only here (wiped when freed).
 */
#ifndef MNMFA_WEBHOOK_H
#define MNMFA_WEBHOOK_H

#include "delivery.h"

#include <stddef.h>

#define WEBHOOK_SIG_HEADER_MAX 160     /* the whole signature header line, NUL included */

struct webhook;

/* Copies url and secret. *out is NULL (no webhook) when url is empty or NULL.
 * 0, or -1 when a url comes without a secret (logged). */
int webhook_new(const char *url, const char *secret, struct webhook **out);
void webhook_free(struct webhook *wh);            /* wipes the secret; NULL ok */

const char *webhook_url(const struct webhook *wh);
/* The URL up to any '?', user:password@ masked, for logs. Caller frees. */
char *webhook_log_url(const struct webhook *wh);

/* Writes the signature header line for body sent at t (unix seconds) to hdr
 * (WEBHOOK_SIG_HEADER_MAX bytes). */
void webhook_sign(const struct webhook *wh, const char *body, long long t,
                  char hdr[WEBHOOK_SIG_HEADER_MAX]);

/* Replaces the secret in s (a string in a buffer of cap bytes) by
 * DELIVERY_REDACTED. */
void webhook_redact(const struct webhook *wh, char *s, size_t cap);

/* The verdict of the receiver's HTTP answer: by status alone (any 2xx is
 * delivered), as delivery_judge_status. */
enum delivery_verdict webhook_judge(long status, const char *body, size_t len, char *err,
                                    size_t cap);

#endif
