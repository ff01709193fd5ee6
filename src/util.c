/*
 * util: allocation wrappers, range-checked parsing, clocks and time formatting.
 */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static void oom(void)
{
	fputs("mnmfa: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

void *xmap_zeroed(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		oom();
	p = mmap(NULL, n * size > 0 ? n * size : 1, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		oom();
	return p;
}

void xunmap_zeroed(void *p, size_t n, size_t size)
{
	if (p != NULL)
		munmap(p, n * size > 0 ? n * size : 1);
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		oom();
	p = realloc(p, (n * size) != 0 ? n * size : 1);
	if (p == NULL)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int parse_ll(const char *s, long long min, long long max, long long *out, const char **err)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9'))) {
		*err = "not a whole number";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*err = "not a whole number";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*err = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*err = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

bool double_to_whole(double d, long long *out)
{
	const double lim = 9007199254740992.0;   /* 2^53 */

	if (!(d >= -lim && d <= lim))             /* also false for NaN */
		return false;
	if (d != (double)(long long)d)
		return false;
	*out = (long long)d;
	return true;
}

size_t strlcpy_(char *dst, const char *src, size_t dstsize)
{
	size_t len = strlen(src);

	if (dstsize > 0) {
		size_t n = len < dstsize - 1 ? len : dstsize - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void secure_wipe_str(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct now now_read(void)
{
	return (struct now){ .wall_ms = now_ms(), .mono_ms = mono_ms() };
}

int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fmt_time(int64_t ms, char *buf, size_t len, bool with_ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	if (with_ms)
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void fmt_rfc3339_ms(int64_t ms, char *buf, size_t len)
{
	fmt_time(ms, buf, len, true);
}

void fmt_rfc3339(int64_t ms, char *buf, size_t len)
{
	fmt_time(ms, buf, len, false);
}
