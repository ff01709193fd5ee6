/*
 * assets: the table of embedded files. The bytes come from the generated
 * build/gen/assets_data.h; content types are decided by extension here.
 */
#include "assets.h"
#include "crypto.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

struct asset_src {
	const char *name;
	const unsigned char *data;
	size_t len;
};

#include "assets_data.h"

static struct asset table[ARRAY_LEN(asset_srcs)];
static bool table_ready;

static const char *ctype_for(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	if (strcmp(dot, ".ico") == 0)
		return "image/x-icon";
	return "application/octet-stream";
}

void assets_init(void)
{
	if (table_ready)
		return;
	for (size_t i = 0; i < ARRAY_LEN(asset_srcs); i++) {
		uint8_t h[SHA256_LEN];
		char hex[2 * SHA256_LEN + 1];
		struct asset *a = &table[i];

		a->name = asset_srcs[i].name;
		a->data = asset_srcs[i].data;
		a->len = asset_srcs[i].len;
		a->ctype = ctype_for(a->name);
		crypto_sha256(a->data, a->len, h);
		hex_encode(h, SHA256_LEN, hex);
		snprintf(a->etag, sizeof a->etag, "\"%.16s\"", hex);
		snprintf(a->version, sizeof a->version, "%.8s", hex);
	}
	table_ready = true;
}

const struct asset *asset_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (table[i].name != NULL && strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

size_t assets_count(void)
{
	return ARRAY_LEN(table);
}

const struct asset *asset_at(size_t i)
{
	return i < ARRAY_LEN(table) ? &table[i] : NULL;
}
