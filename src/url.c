/*
 * url: the scheme rule and the masked printable form of outbound URLs
 * (include/url.h). Parses only as far as scheme://[userinfo@]host: the rest
 * of a URL is libcurl's business.
 */
#include "url.h"
#include "util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define URL_HOST_MAX 256

/* Points at what follows "scheme://", or NULL. */
static const char *after_scheme(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL || p == url)
		return NULL;
	for (const char *s = url; s < p; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (s > url && ((*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))))
			return NULL;
	return p + 3;
}

/* The length of the authority (userinfo@host:port) starting at a. */
static size_t authority_len(const char *a)
{
	return strcspn(a, "/?#");
}

bool url_host(const char *url, char *host, size_t cap)
{
	const char *a = after_scheme(url), *at, *h;
	size_t alen, hlen;

	if (a == NULL || cap == 0)
		return false;
	alen = authority_len(a);
	at = memrchr(a, '@', alen);
	h = at ? at + 1 : a;
	alen -= (size_t)(h - a);
	if (alen > 0 && h[0] == '[') {
		const char *close = memchr(h, ']', alen);
		if (close == NULL)
			return false;
		h++;
		hlen = (size_t)(close - h);
	} else {
		const char *colon = memchr(h, ':', alen);
		hlen = colon ? (size_t)(colon - h) : alen;
	}
	if (hlen == 0 || hlen >= cap)
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return true;
}

static bool host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

bool url_scheme_allowed(const char *url)
{
	char host[URL_HOST_MAX];

	if (strncasecmp(url, "https://", 8) == 0)
		return url_host(url, host, sizeof host);
	if (strncasecmp(url, "http://", 7) == 0)
		return url_host(url, host, sizeof host) && host_is_loopback(host);
	return false;
}

void url_mask(const char *url, char *out, size_t cap)
{
	const char *a = after_scheme(url), *at, *q;
	size_t alen;

	if (cap == 0)
		return;
	if (a == NULL) {
		strlcpy_(out, url, cap);
		return;
	}
	alen = authority_len(a);
	at = memrchr(a, '@', alen);
	q = strchr(a, '?');
	if (at != NULL)
		snprintf(out, cap, "%.*s" URL_MASK "%.*s", (int)(a - url), url,
		         (int)((q ? q : a + strlen(a)) - at), at);
	else
		snprintf(out, cap, "%.*s", (int)((q ? q : a + strlen(a)) - url), url);
	if (q != NULL) {
		size_t n = strlen(out);
		snprintf(out + n, cap - n, "?" URL_MASK);
	}
}

char *url_mask_dup(const char *url)
{
	size_t cap = strlen(url) + 2 * sizeof URL_MASK + 2;
	char *out = xmalloc(cap);

	url_mask(url, out, cap);
	return out;
}
