/*
 * assets: the page's own CSS, script, logo and favicon, embedded at build time
 * from assets/ and served from /static/NAME with a content-hash ETag and
 * long-lived caching; pages link them as /static/NAME?v=HASH so a new build
 * is fetched at once.
 */
#ifndef MNMFA_ASSETS_H
#define MNMFA_ASSETS_H

#include <stddef.h>

struct asset {
	const char *name;          /* "app.css" */
	const unsigned char *data;
	size_t len;
	const char *ctype;
	char etag[20];             /* "\"" + 16 hex of SHA-256 + "\"" */
	char version[9];           /* first 8 hex of SHA-256, for ?v= */
};

/* Computes the hashes once at start-up (idempotent, not thread-safe: call
 * from main before the servers start). */
void assets_init(void);
const struct asset *asset_find(const char *name);
size_t assets_count(void);
const struct asset *asset_at(size_t i);

#endif
