/*
 * utf8: the one UTF-8 decoder (RFC 3629). Pure. Callers decide which code
 * points they accept (field validation refuses controls, the audit log
 * replaces them).
 */
#ifndef MNMFA_UTF8_H
#define MNMFA_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s (n bytes available, n may be 0). Returns the
 * bytes it uses (1..4) with the code point in *cp, or -1 for a sequence that
 * is invalid, overlong, a surrogate, beyond U+10FFFF or cut short by n. */
int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
