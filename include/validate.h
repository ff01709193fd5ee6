/*
 * validate: the SPEC §4.3 field rules for outside input, as pure functions.
 * Each returns 0, or -1 with *detail set to a static sentence for the API's
 * "detail". Inputs are (pointer, length) and need not be NUL-terminated.
 */
#ifndef MNMFA_VALIDATE_H
#define MNMFA_VALIDATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define FLOW_MAX_CHARS 128

int validate_client_id(const char *s, size_t len, const char **detail);
#define PHONE_DIGITS_MIN 8
#define PHONE_DIGITS_MAX 15

int validate_phone(const char *s, size_t len, const char **detail);
/* The one phone canonicalisation: s must be 8 to 15 ASCII digits after an
 * optional leading '+' or international prefix "00" ("00521..." and
 * "+521..." are one phone). Returns the number of digits and points *digits at
 * the first one after the prefix (inside s), or -1. The per-phone limits key on these digits,
 * and whatsapp_number's wa.me link is built from them. */
int validate_phone_digits(const char *s, size_t len, const char **digits);
/* A valid phone as it is kept: as sent, but the "00" prefix written '+'
 * (so it fits PHONE_MAX and reads as E.164). Returns its length; 0 when s is
 * not a valid phone. out holds cap bytes (PHONE_MAX + 1 is enough). */
size_t validate_phone_stored(const char *s, size_t len, char *out, size_t cap);
int validate_flow(const char *s, size_t len, const char **detail);
/* A real calendar date YYYY-MM-DD between 1900-01-01 and today (day number). */
int validate_dob(const char *s, size_t len, int32_t today, int32_t *out, const char **detail);
/* Well-formed UTF-8 without control characters; returns code points or -1. */
long utf8_printable_len(const char *s, size_t len);

/* true when a string in the JSON text s[0..len) holds a NUL byte (a \u0000
 * escape, or a raw NUL, which cJSON would keep and C strings would cut at);
 * key gets the top-level member it is in (its name, if the NUL is in a
 * name; "" at the top level). Strings are lexed with their escapes, so an
 * escaped backslash before "u0000" is not a NUL. */
bool validate_json_nul_member(const char *s, size_t len, char *key, size_t cap);

/* An IPv4/IPv6 network ("10.0.0.0/8", "fd00::/8") or address ("::1", a
 * /32 or /128), for trusted_proxies and X-Forwarded-For hops. */
struct cidr {
	int family;                     /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

/* 0, or -1 if s is not an address with an optional /prefix in range. */
int cidr_parse(const char *s, struct cidr *out);
/* The key an address's rate_ip counts under, into out (VALIDATE_IP_KEY_MAX
 * bytes): an IPv6 address by its /64 ("2001:db8:1:2::/64": one subscriber's
 * network, all of whose addresses are free to it), an IPv4-mapped one as its
 * IPv4 address, anything else as it is. Returns its length. */
#define VALIDATE_IP_KEY_MAX 64
size_t validate_ip_limit_key(const char *ip, char *out, size_t cap);
/* true if addr (a parsed address) lies inside net. */
bool cidr_contains(const struct cidr *net, const struct cidr *addr);

#endif
