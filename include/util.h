/*
 * util: allocation wrappers that abort on out-of-memory, range-checked number
 * parsing (strtonum-style), a bounded string copy and the wall/monotonic clocks
 * (struct now: one reading of both).
 * Everything here is pure or trivially thread-safe.
 */
#ifndef MNMFA_UTIL_H
#define MNMFA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
/* Zeroed memory for a large table that fills as it is used: mapped from the
 * kernel, so its untouched pages cost nothing whatever the allocator
 * (tcmalloc's calloc writes every page of a large block). Freed only with
 * xunmap_zeroed and the same n and size. */
void *xmap_zeroed(size_t n, size_t size);
void xunmap_zeroed(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Parses a whole decimal integer in [min, max]. On failure returns -1 and
 * sets *err to a static description ("not a number", "too small", ...). */
int parse_ll(const char *s, long long min, long long max, long long *out, const char **err);

/* true if d is a whole number within ±2^53 (exact in a double); *out gets it.
 * Never casts an out-of-range double (undefined behaviour). */
bool double_to_whole(double d, long long *out);

/* true if s is a string with at least one character (NULL is empty). */
static inline bool nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* Copies at most dstsize-1 bytes and NUL-terminates; returns strlen(src). */
size_t strlcpy_(char *dst, const char *src, size_t dstsize);

/* Zeroes a secret string in place (explicit_bzero: not optimised away). NULL ok. */
void secure_wipe_str(char *s);

int64_t now_ms(void);       /* wall clock, UTC milliseconds since the epoch */
int64_t mono_ms(void);      /* monotonic milliseconds, for timeouts */

/* One instant on both clocks. The wall clock is for timestamps only (audit
 * rows, times shown or answered); every expiry, window and lock runs on the
 * monotonic one, so a step of the wall clock (NTP, an operator) neither
 * stretches a link or a lockout nor ends it early. */
struct now {
	int64_t wall_ms;
	int64_t mono_ms;
};
struct now now_read(void);
int64_t mono_us(void);      /* monotonic microseconds, for request durations */

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds:
 * 2026-11-28T18:48:08.123Z (buf >= 25 bytes). */
void fmt_rfc3339_ms(int64_t ms, char *buf, size_t len);
/* Same without milliseconds: 2026-11-28T18:48:08Z (buf >= 21 bytes). */
void fmt_rfc3339(int64_t ms, char *buf, size_t len);

#endif
