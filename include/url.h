/*
 * url: what mnmfa needs to know about a configured outbound URL (the
 * Chatfuel base, the webhook): whether plain http:// is acceptable (only to
 * a loopback host: anything else would carry the token or the signed result
 * across a network in clear) and a printable form with its credentials
 * (user:password@ and the query, where tokens go) masked, for check-config,
 * config errors and logs. Pure: no resolving, no I/O.
 */
#ifndef MNMFA_URL_H
#define MNMFA_URL_H

#include <stdbool.h>
#include <stddef.h>

#define URL_MASK "(hidden)"

/* true for https://..., and for http:// whose host is a loopback literal
 * (127.0.0.0/8, [::1]) or localhost; false for anything else. */
bool url_scheme_allowed(const char *url);

/* The host of url as written (brackets of an IPv6 literal removed) into
 * host; false when url has no "scheme://host". */
bool url_host(const char *url, char *host, size_t cap);

/* url with any user:password@ replaced by URL_MASK@ and any query by
 * ?URL_MASK, into out (cut to fit; always NUL-terminated). Text that is not
 * a URL is copied unchanged. */
void url_mask(const char *url, char *out, size_t cap);
/* The same, allocated (never cut). */
char *url_mask_dup(const char *url);

#endif
