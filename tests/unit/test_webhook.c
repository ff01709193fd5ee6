/*
 * test_webhook: the signed webhook request and the reading of its answer
 * (webhook.c) from known inputs: the exact signature header for a known
 * secret, time and body (HMAC-SHA256 computed independently), the URL for
 * logs, the verdict of each kind of answer, and the secret redacted.
 */
#include "unit.h"
#include "webhook.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define SECRET "whsec-test"
#define T 1795000000LL
#define BODY "{\"event\":\"challenge.approved\"}"
/* HMAC-SHA256("whsec-test", "1795000000." BODY) and of "1795000000." */
#define BODY_MAC "7828f401a282599f574d8dcd904f1a296e5d74e69fb9008e8e5a439d1484c6d9"
#define EMPTY_MAC "24143fcfc7e5a7a072bab3bf18e4037166a0a263857292826b1ec00685e7ee7c"

static void test_signature_header_is_exact(void **state)
{
	struct webhook *wh = NULL;
	char hdr[WEBHOOK_SIG_HEADER_MAX];

	(void)state;
	assert_int_equal(webhook_new("https://hooks.example/in?k=v", SECRET, &wh), 0);
	assert_non_null(wh);
	webhook_sign(wh, BODY, T, hdr);
	assert_string_equal(hdr, "X-Mnmfa-Signature: t=1795000000,v1=" BODY_MAC);
	webhook_sign(wh, "", T, hdr);
	assert_string_equal(hdr, "X-Mnmfa-Signature: t=1795000000,v1=" EMPTY_MAC);
	/* another second, another signature */
	webhook_sign(wh, BODY, T + 1, hdr);
	assert_null(strstr(hdr, BODY_MAC));
	webhook_free(wh);
}

static void test_url_and_log_url(void **state)
{
	struct webhook *wh = NULL;
	char *log_url;

	(void)state;
	assert_int_equal(webhook_new("https://hooks.example/in?k=v", SECRET, &wh), 0);
	assert_string_equal(webhook_url(wh), "https://hooks.example/in?k=v");
	log_url = webhook_log_url(wh);
	assert_string_equal(log_url, "https://hooks.example/in");
	free(log_url);
	webhook_free(wh);
}

static void test_configuration(void **state)
{
	struct webhook *wh = (struct webhook *)state;   /* anything but NULL */

	assert_int_equal(webhook_new(NULL, SECRET, &wh), 0);
	assert_null(wh);
	assert_int_equal(webhook_new("", NULL, &wh), 0);
	assert_null(wh);
	/* a URL without a secret is refused */
	assert_int_equal(webhook_new("https://hooks.example/in", NULL, &wh), -1);
	assert_null(wh);
	assert_int_equal(webhook_new("https://hooks.example/in", "", &wh), -1);
	assert_null(wh);
	webhook_free(NULL);
}

static void test_verdicts(void **state)
{
	char err[DELIVERY_ERROR_MAX] = "untouched";

	(void)state;
	/* any 2xx is delivered, whatever the body */
	assert_int_equal(webhook_judge(200, "", 0, err, sizeof err), DELIVERY_SENT);
	assert_int_equal(webhook_judge(204, "{\"success\": false}", 18, err, sizeof err),
	                 DELIVERY_SENT);
	assert_string_equal(err, "untouched");
	assert_int_equal(webhook_judge(503, "busy", 4, err, sizeof err), DELIVERY_RETRY);
	assert_string_equal(err, "HTTP 503: busy");
	assert_int_equal(webhook_judge(429, "", 0, err, sizeof err), DELIVERY_RETRY);
	assert_int_equal(webhook_judge(408, "", 0, err, sizeof err), DELIVERY_RETRY);
	assert_int_equal(webhook_judge(410, "gone", 4, err, sizeof err), DELIVERY_FAILED);
	assert_string_equal(err, "HTTP 410: gone");
}

static void test_secret_is_redacted(void **state)
{
	struct webhook *wh = NULL;
	char err[DELIVERY_ERROR_MAX] = "HTTP 400: key " SECRET " and " SECRET "!";

	(void)state;
	assert_int_equal(webhook_new("https://hooks.example/in", SECRET, &wh), 0);
	webhook_redact(wh, err, sizeof err);
	assert_string_equal(err, "HTTP 400: key [redacted] and [redacted]!");
	webhook_redact(NULL, err, sizeof err);
	webhook_free(wh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_header_is_exact),
		cmocka_unit_test(test_url_and_log_url),
		cmocka_unit_test(test_configuration),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_secret_is_redacted),
	};

	log_init(LOG_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
