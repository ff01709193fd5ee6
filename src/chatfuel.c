/*
 * chatfuel: building Broadcasting API requests and reading their answers,
 * with no transfer of its own (notify.c sends). Chatfuel answers 200 with
 * "success": false when it could not run the flow for now, so such a 2xx is
 * retried; a 2xx with "success": true, or with nothing readable (no body, not
 * JSON; a body cut at NOTIFY_RESP_MAX is read as far as it goes), is a
 * delivery.
 *
 * The token goes into the query (that is how the Broadcasting API takes it),
 * so the full URL is a secret: it is kept in one allocation the caller wipes,
 * logs get the URL up to the '?', and error texts are passed through
 * chatfuel_redact (the token may come back in an answer, percent-encoded).
 */
#include "chatfuel.h"
#include "form.h"
#include "url.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHATFUEL_URL_SLACK 128         /* the fixed text of the URL, generously */

struct chatfuel {
	char *base_url;                    /* without trailing '/' */
	char *bot_esc;                     /* bot id, a percent-encoded path segment */
	char *token, *token_esc;           /* secrets: wiped */
};

/* Percent-encodes every byte but ALPHA / DIGIT / "-" / "." / "_" / "~"
 * (RFC 3986 unreserved). */
static char *escape(const char *s)
{
	char *c = curl_easy_escape(NULL, s, 0);
	char *out;

	if (c == NULL)
		abort();        /* only on out of memory */
	out = xstrdup(c);
	secure_wipe_str(c);
	curl_free(c);
	return out;
}

/* A path segment, fully percent-encoded ('.' included: url_encode_segment),
 * and libcurl is told not to rewrite the path (CURLOPT_PATH_AS_IS). */
static char *escape_segment(const char *s)
{
	size_t n = strlen(s), cap = 3 * n + 1;
	char *out = xmalloc(cap);

	if (url_encode_segment(s, n, out, cap) < 0)
		abort();        /* cannot happen: 3 bytes a byte always fit */
	return out;
}

static void free_secret(char *s)
{
	secure_wipe_str(s);
	free(s);
}

struct chatfuel *chatfuel_new(const char *base_url, const char *bot_id, const char *token)
{
	struct chatfuel *cf;
	size_t blen;

	if (!nonempty(bot_id) || !nonempty(token))
		return NULL;
	cf = xcalloc(1, sizeof *cf);
	blen = strlen(base_url);
	while (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	cf->base_url = xstrndup(base_url, blen);
	cf->bot_esc = escape_segment(bot_id);
	cf->token = xstrdup(token);
	cf->token_esc = escape(token);
	return cf;
}

void chatfuel_free(struct chatfuel *cf)
{
	if (cf == NULL)
		return;
	free(cf->base_url);
	free(cf->bot_esc);
	free_secret(cf->token);
	free_secret(cf->token_esc);
	free(cf);
}

void chatfuel_build_url(const struct chatfuel *cf, const struct chatfuel_result *r, char **url,
                        char **log_url)
{
	static const char *const params[] = {
		[CHATFUEL_TARGET_FLOW] = "chatfuel_flow_name", [CHATFUEL_TARGET_BLOCK] = "chatfuel_block_name",
		[CHATFUEL_TARGET_BLOCK_ID] = "chatfuel_block_id",
	};
	char *client = escape_segment(r->client_id), *dest = escape(r->dest);
	char *page = escape(r->page_id ? r->page_id : ""), *status = escape(r->status ? r->status : "");
	const char *param = params[r->target];
	const char *val = r->validated ? "true" : "false";
	size_t len = strlen(cf->base_url) + strlen(cf->bot_esc) + strlen(client) +
	             strlen(cf->token_esc) + strlen(param) + strlen(dest) + strlen(val) +
	             strlen(page) + strlen(status) + CHATFUEL_URL_SLACK;
	int k;

	*url = xmalloc(len);
	k = snprintf(*url, len, "%s/bots/%s/users/%s/send", cf->base_url, cf->bot_esc, client);
	*log_url = url_mask_dup(*url);           /* no query yet; credentials in the base hidden */
	snprintf(*url + k, len - (size_t)k,
	         "?chatfuel_token=%s&%s=%s&user_validated=%s&mfa_page_id=%s&mfa_status=%s",
	         cf->token_esc, param, dest, val, page, status);
	free(client);
	free(dest);
	free(page);
	free(status);
}

void chatfuel_redact(const struct chatfuel *cf, char *s, size_t cap)
{
	if (cf == NULL)
		return;
	delivery_redact(s, cap, cf->token);
	delivery_redact(s, cap, cf->token_esc);
}

/* What a 2xx body says: 1 "success": true, 0 "success" anything else, -1
 * nothing (no body, not JSON, or cut at the cap without the key). A body
 * cut at the cap is not JSON; its "success" is then read off the text. */
static int says_success(const char *body, size_t len)
{
	cJSON *j;
	const char *p, *end;
	int said;

	if (body == NULL || len == 0)
		return -1;
	if ((j = cJSON_ParseWithLength(body, len)) != NULL) {
		said = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "success")) ? 1 : 0;
		cJSON_Delete(j);
		return said;
	}
	end = body + len;
	p = memmem(body, len, "\"success\"", 9);
	if (p == NULL)
		return -1;
	for (p += 9; p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':'); p++)
		;
	return (size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0 ? 1 : 0;
}

enum delivery_verdict chatfuel_judge(long status, const char *body, size_t len, char *err,
                                     size_t cap)
{
	char excerpt[DELIVERY_EXCERPT_MAX + 1];

	if (status < 200 || status > 299)
		return delivery_judge_status(status, body, len, err, cap);
	/* "success": true, or a 2xx that says nothing we can read (an empty or
	 * non-JSON body): delivered. Only a "success" that is not true retries. */
	if (says_success(body, len) != 0)
		return DELIVERY_SENT;
	if (err != NULL && cap > 0) {
		delivery_excerpt(body, len, excerpt, sizeof excerpt);
		snprintf(err, cap, "HTTP %ld without \"success\": true: %s", status, excerpt);
	}
	return DELIVERY_RETRY;
}
