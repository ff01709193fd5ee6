/*
 * chatfuel: the Broadcasting API request for one result and the reading of its
 * answer. The token lives only here (plain and percent-encoded, wiped when
 * freed) and in the URL handed to the sender; chatfuel_redact takes it out of
 * any text that leaves the module.
 */
#ifndef MNMFA_CHATFUEL_H
#define MNMFA_CHATFUEL_H

#include "config.h"
#include "delivery.h"

#include <stdbool.h>
#include <stddef.h>

#define CHATFUEL_BODY "{}"             /* the request's body: everything is in the query */

struct chatfuel;

/* Copies the base URL, bot id and token. NULL when bot_id or token is empty
 * or NULL: without credentials results are not sent (dry run). */
struct chatfuel *chatfuel_new(const char *base_url, const char *bot_id, const char *token);
void chatfuel_free(struct chatfuel *cf);          /* wipes the token; NULL ok */

/* One result as the Broadcasting API takes it. */
struct chatfuel_result {
	const char *client_id;
	enum chatfuel_target target;      /* which parameter names the destination */
	const char *dest;                 /* flow name, block name or block id */
	bool validated;                   /* user_validated */
	const char *page_id, *status;     /* mfa_page_id, mfa_status (approved, denied, ...) */
};

/* The URL to POST CHATFUEL_BODY to for one result:
 *   {base}/bots/{bot}/users/{client}/send?chatfuel_token=T
 *       &chatfuel_flow_name=D (chatfuel_block_name, chatfuel_block_id by target)
 *       &user_validated=true|false&mfa_page_id=ID&mfa_status=S
 * every value percent-encoded, base without trailing '/'. *url holds the
 * token: the caller wipes it (secure_wipe_str) and frees it. *log_url, for
 * logs, is the same URL up to the '?'. */
void chatfuel_build_url(const struct chatfuel *cf, const struct chatfuel_result *r, char **url,
                        char **log_url);

/* Replaces the token, plain and percent-encoded, in s (a string in a buffer
 * of cap bytes) by DELIVERY_REDACTED. */
void chatfuel_redact(const struct chatfuel *cf, char *s, size_t cap);

/* The verdict of an HTTP answer from the Broadcasting API: a 2xx is sent only
 * if its body is JSON with "success": true, otherwise retried; other statuses
 * as delivery_judge_status. Unless sent, err gets the reason with an excerpt
 * of the body. */
enum delivery_verdict chatfuel_judge(long status, const char *body, size_t len, char *err,
                                     size_t cap);

#endif
