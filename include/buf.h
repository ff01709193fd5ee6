/*
 * buf: the one growable byte buffer (page HTML, audit encodings, HTTP and
 * Chatfuel bodies). A zero-initialised struct buf is empty. After any add the
 * data is NUL-terminated (the NUL is not counted in len), so text built here
 * can be used as a C string. Growth aborts on out-of-memory and on size
 * overflow, like the x* allocation wrappers; callers cap what they add.
 */
#ifndef MNMFA_BUF_H
#define MNMFA_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

void buf_add(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes and their NUL, for callers that write in place
 * (data + len, up to cap - len bytes) and then advance len themselves. */
void buf_reserve(struct buf *b, size_t n);
/* len = 0; keeps the memory for reuse. */
void buf_reset(struct buf *b);
/* The contents, NUL-terminated, for the caller to free (never NULL; *len may
 * be NULL). b is left empty. */
char *buf_take(struct buf *b, size_t *len);
void buf_free(struct buf *b);

#endif
