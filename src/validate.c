/*
 * validate: field rules for minted challenges (SPEC §4.3). Pure; fuzzed and
 * unit-tested. Limits come from store.h so a valid field always fits a record.
 */
#include "validate.h"
#include "caldate.h"
#include "store.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int validate_client_id(const char *s, size_t len, const char **detail)
{
	if (len == 0 || len > CLIENT_ID_MAX) {
		*detail = "client_id must be 1 to 128 characters";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		          c == '_' || c == '.' || c == ':' || c == '-';
		if (!ok) {
			*detail = "client_id may only hold letters, digits and _ . : -";
			return -1;
		}
	}
	/* It is a path segment of the Chatfuel call: "." and ".." would name
	 * another resource (SPEC §4.3). */
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
		*detail = "client_id may not be . or ..";
		return -1;
	}
	return 0;
}

int validate_phone_digits(const char *s, size_t len, const char **digits)
{
	/* '+', or the international prefix "00" that many phones show instead:
	 * "00521..." is the phone +521... (SPEC §4.3), one phone, one counter. */
	size_t i = len > 0 && s[0] == '+' ? 1 : 0;

	if (i == 0 && len >= 2 + PHONE_DIGITS_MIN && len <= 2 + PHONE_DIGITS_MAX && s[0] == '0' &&
	    s[1] == '0')
		i = 2;              /* else "00000000" stays eight digits */

	if (len - i < PHONE_DIGITS_MIN || len - i > PHONE_DIGITS_MAX)
		return -1;
	for (size_t k = i; k < len; k++)
		if (s[k] < '0' || s[k] > '9')
			return -1;
	*digits = s + i;
	return (int)(len - i);
}

size_t validate_phone_stored(const char *s, size_t len, char *out, size_t cap)
{
	const char *digits;
	int n = validate_phone_digits(s, len, &digits);
	size_t k = 0;

	if (n < 0 || cap == 0)
		return 0;
	if (digits != s && k + 1 < cap)     /* '+' as sent, or "00" written '+' */
		out[k++] = '+';
	for (int i = 0; i < n && k + 1 < cap; i++)
		out[k++] = digits[i];
	out[k] = '\0';
	return k;
}

int validate_phone(const char *s, size_t len, const char **detail)
{
	const char *digits;

	if (validate_phone_digits(s, len, &digits) < 0) {
		*detail = "phone must be 8 to 15 digits with an optional leading + (or 00)";
		return -1;
	}
	return 0;
}

long utf8_printable_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long count = 0;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		int n = utf8_decode(p + i, len - i, &cp);

		/* C0 controls, DEL and the C1 controls are not printable */
		if (n < 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return -1;
		i += (size_t)n;
		count++;
	}
	return count;
}

int validate_flow(const char *s, size_t len, const char **detail)
{
	long n;

	if (len == 0) {
		*detail = "flow_name must not be empty";
		return -1;
	}
	if (len > FLOW_MAX_BYTES) {
		*detail = "flow_name must be at most 128 characters";
		return -1;
	}
	n = utf8_printable_len(s, len);
	if (n < 0) {
		*detail = "flow_name must be printable UTF-8 text";
		return -1;
	}
	if (n > FLOW_MAX_CHARS) {
		*detail = "flow_name must be at most 128 characters";
		return -1;
	}
	return 0;
}

int validate_dob(const char *s, size_t len, int32_t today, int32_t *out, const char **detail)
{
	int32_t d;

	if (caldate_parse(s, len, &d) < 0) {
		*detail = "expected a real calendar date YYYY-MM-DD";
		return -1;
	}
	if (d < caldate_from_ymd(CALDATE_MIN_YEAR, 1, 1) || d > today) {
		*detail = "date must be between 1900-01-01 and today";
		return -1;
	}
	*out = d;
	return 0;
}

int cidr_parse(const char *s, struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (n == 0 || n >= sizeof addr)
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	out->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	max = out->family == AF_INET6 ? 128 : 32;
	memset(out->addr, 0, sizeof out->addr);
	if (inet_pton(out->family, addr, out->addr) != 1)
		return -1;
	out->bits = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		int bits = 0;
		if (*p == '\0' || strlen(p) > 3)
			return -1;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			bits = bits * 10 + (*p - '0');
		}
		if (bits > max)
			return -1;
		out->bits = bits;
	}
	return 0;
}

bool cidr_contains(const struct cidr *net, const struct cidr *addr)
{
	int bits = net->bits;

	if (net->family != addr->family)
		return false;
	if (memcmp(net->addr, addr->addr, (size_t)(bits / 8)) != 0)
		return false;
	if (bits % 8 != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
		if ((net->addr[bits / 8] & mask) != (addr->addr[bits / 8] & mask))
			return false;
	}
	return true;
}

/* A \u escape at p (just after the backslash and 'u') naming U+0000. */
static bool escape_is_nul(const char *p, const char *end)
{
	return end - p >= 4 && memcmp(p, "0000", 4) == 0;
}

bool validate_json_nul_member(const char *s, size_t len, char *key, size_t cap)
{
	const char *p = s, *end = s + len;
	int depth = 0;
	bool expect_key = false;

	if (cap == 0)
		return false;
	key[0] = '\0';
	while (p < end) {
		char c = *p++;
		if (c == '{' || c == '[') {
			depth++;
			expect_key = depth == 1 && c == '{';
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',') {
			expect_key = depth == 1;
		} else if (c == '\0') {
			return true;                /* outside any string: not JSON either */
		} else if (c == '"') {
			bool is_key = expect_key && depth == 1, nul = false;
			size_t k = 0;
			expect_key = false;
			while (p < end && *p != '"') {
				char d = *p++;
				if (d == '\0') {
					nul = true;
				} else if (d == '\\' && p < end) {
					d = *p++;
					if (d == 'u' && escape_is_nul(p, end))
						nul = true;
					if (d == 'u')
						p += end - p < 4 ? end - p : 4;
					else if (is_key && !nul && k + 1 < cap)
						key[k++] = d;
					continue;
				}
				if (is_key && !nul && k + 1 < cap)
					key[k++] = d;
			}
			p += p < end;               /* the closing quote */
			if (is_key)
				key[k] = '\0';
			if (nul)
				return true;
		}
	}
	return false;
}

size_t validate_ip_limit_key(const char *ip, char *out, size_t cap)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int n;

	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, sizeof mapped) == 0 &&
		    inet_ntop(AF_INET, a + 12, text, sizeof text) != NULL) {
			n = snprintf(out, cap, "%s", text);         /* an IPv4 client on a v6 socket */
		} else {
			/* One /64 is one subscriber's network: its addresses are free to it. */
			memset(a + 8, 0, 8);
			if (inet_ntop(AF_INET6, a, text, sizeof text) == NULL)
				text[0] = '\0';
			n = snprintf(out, cap, "%s/64", text);
		}
	} else {
		n = snprintf(out, cap, "%s", ip);
	}
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}
