/*
 * form: application/x-www-form-urlencoded decoding (request bodies and query
 * strings) and URL encoding. Pure; fuzzed.
 */
#ifndef MNMFA_FORM_H
#define MNMFA_FORM_H

#include <stddef.h>

#define FORM_ABSENT (-1)
#define FORM_MALFORMED (-2)     /* bad %-escape, or the value does not fit */

/* Finds the first `key` in body[0..len) and decodes its value ('+' is a space,
 * %XX escapes) into out (NUL-terminated). Returns the decoded length,
 * FORM_ABSENT or FORM_MALFORMED. A decoded NUL byte is malformed. */
long form_get(const char *body, size_t len, const char *key, char *out, size_t outcap);

/* Percent-encodes everything but unreserved characters (RFC 3986). Returns
 * the length written, or -1 if it does not fit in cap (incl. NUL). */
long url_encode(const char *in, size_t len, char *out, size_t cap);
/* The same for a URL path segment: '.' is encoded too, so that no segment
 * can be a "." or ".." that a client, proxy or server would resolve. */
long url_encode_segment(const char *in, size_t len, char *out, size_t cap);

#endif
