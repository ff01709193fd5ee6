/*
 * json_out: appending JSON members to a buffer (see json_out.h). A mint
 * answered through cJSON built a tree of mallocs, printed it into another
 * and freed both. Here each member is written in place: room for its worst
 * case is reserved once (a string's byte can grow to six), then filled.
 */
#include "json_out.h"

#include <string.h>

#define JSON_ESC_MAX 6                 /* \u00XX: the longest a string byte becomes */
#define JSON_INT_MAX 20                /* digits and sign of a long long */

/* Writes the escaped, quoted s at p; returns the end. */
static char *quoted(char *p, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		default:
			memcpy(p, "u00", 3);
			p[3] = hex[c >> 4];
			p[4] = hex[c & 0xf];
			p += 5;
		}
	}
	*p++ = '"';
	return p;
}

/* Reserves room for a member's separator, its key and `extra` more bytes,
 * and writes the first two: a comma unless the member is the first of its
 * object or array, then "key": (key NULL: an array element or the top). */
static char *member(struct buf *b, const char *key, size_t extra)
{
	size_t klen = key != NULL ? strlen(key) : 0;
	char *p;

	buf_reserve(b, 1 + JSON_ESC_MAX * klen + 3 + extra);
	p = b->data + b->len;
	if (b->len > 0 && p[-1] != '{' && p[-1] != '[')
		*p++ = ',';
	if (key != NULL) {
		p = quoted(p, key);
		*p++ = ':';
	}
	return p;
}

/* Ends a member written at p: the buffer's length and NUL. */
static void done(struct buf *b, char *p)
{
	b->len = (size_t)(p - b->data);
	*p = '\0';
}

void json_out_open(struct buf *b, const char *key, char open)
{
	char *p = member(b, key, 1);

	*p++ = open;
	done(b, p);
}

void json_out_close(struct buf *b, char close)
{
	buf_add(b, &close, 1);
}

void json_out_str(struct buf *b, const char *key, const char *s)
{
	size_t n = strlen(s);
	char *p = member(b, key, JSON_ESC_MAX * n + 2);

	done(b, quoted(p, s));
}

void json_out_int(struct buf *b, const char *key, long long v)
{
	char digits[JSON_INT_MAX], *p = member(b, key, JSON_INT_MAX);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	int k = 0;

	do {
		digits[k++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		*p++ = '-';
	while (k > 0)
		*p++ = digits[--k];
	done(b, p);
}
