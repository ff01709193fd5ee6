/*
 * form: urlencoded key/value decoding. The daemon collects bodies itself (at
 * most 16 KiB) and decodes them here, so no MHD_PostProcessor (and none of its
 * multipart parsing) ever sees outside input.
 */
#include "form.h"

#include <stdbool.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes in[0..n) into out; -1 if malformed or too long. */
static long form_decode(const char *in, size_t n, char *out, size_t outcap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '\0') {
			return -1;
		}
		if (o + 1 >= outcap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

long form_get(const char *body, size_t len, const char *key, char *out, size_t outcap)
{
	size_t klen = strlen(key), i = 0;

	if (outcap == 0)
		return FORM_MALFORMED;
	while (i < len) {
		const char *pair = body + i, *amp = memchr(pair, '&', len - i);
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		const char *eq = memchr(pair, '=', plen);
		size_t nlen = eq ? (size_t)(eq - pair) : plen;

		if (nlen == klen && memcmp(pair, key, klen) == 0) {
			long r;
			if (eq == NULL) {
				out[0] = '\0';
				return 0;
			}
			r = form_decode(eq + 1, plen - nlen - 1, out, outcap);
			return r < 0 ? FORM_MALFORMED : r;
		}
		i += plen + 1;
	}
	return FORM_ABSENT;
}

static long encode(const char *in, size_t len, char *out, size_t cap, bool keep_dot)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || (c == '.' && keep_dot) || c == '_' || c == '~') {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
}

long url_encode(const char *in, size_t len, char *out, size_t cap)
{
	return encode(in, len, out, cap, true);
}

long url_encode_segment(const char *in, size_t len, char *out, size_t cap)
{
	return encode(in, len, out, cap, false);
}
