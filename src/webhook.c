/*
 * webhook: signing webhook requests and reading their answers, with no
 * transfer of its own (notify.c sends). The signature covers the timestamp
 * and the exact body bytes, so a receiver can reject replays and changes
 * (README: Webhook); the body is sent as the row holds it, never rebuilt.
 */
#include "webhook.h"
#include "crypto.h"
#include "log.h"
#include "url.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOK_STAMP_MAX 24           /* "<unix seconds>." */

struct webhook {
	char *url;
	char *secret;                      /* wiped */
};

int webhook_new(const char *url, const char *secret, struct webhook **out)
{
	struct webhook *wh;

	*out = NULL;
	if (!nonempty(url))
		return 0;
	if (!nonempty(secret)) {
		log_error("%s: webhook_url is set without webhook_secret", __func__);
		return -1;
	}
	wh = xcalloc(1, sizeof *wh);
	wh->url = xstrdup(url);
	wh->secret = xstrdup(secret);
	*out = wh;
	return 0;
}

void webhook_free(struct webhook *wh)
{
	if (wh == NULL)
		return;
	free(wh->url);
	secure_wipe_str(wh->secret);
	free(wh->secret);
	free(wh);
}

const char *webhook_url(const struct webhook *wh)
{
	return wh->url;
}

char *webhook_log_url(const struct webhook *wh)
{
	char *head = xstrndup(wh->url, strcspn(wh->url, "?")), *shown = url_mask_dup(head);

	free(head);
	return shown;
}

void webhook_sign(const struct webhook *wh, const char *body, long long t,
                  char hdr[WEBHOOK_SIG_HEADER_MAX])
{
	uint8_t mac[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1], stamp[WEBHOOK_STAMP_MAX];
	size_t blen = strlen(body), mlen;
	char *msg;
	int k;

	k = snprintf(stamp, sizeof stamp, "%lld.", t);
	mlen = (size_t)k + blen;
	msg = xmalloc(mlen + 1);
	memcpy(msg, stamp, (size_t)k);
	memcpy(msg + k, body, blen + 1);
	crypto_hmac_sha256(wh->secret, strlen(wh->secret), msg, mlen, mac);
	free(msg);
	hex_encode(mac, sizeof mac, hex);
	snprintf(hdr, WEBHOOK_SIG_HEADER_MAX, "X-Mnmfa-Signature: t=%lld,v1=%s", t, hex);
}

void webhook_redact(const struct webhook *wh, char *s, size_t cap)
{
	if (wh != NULL)
		delivery_redact(s, cap, wh->secret);
}

enum delivery_verdict webhook_judge(long status, const char *body, size_t len, char *err,
                                    size_t cap)
{
	return delivery_judge_status(status, body, len, err, cap);
}
