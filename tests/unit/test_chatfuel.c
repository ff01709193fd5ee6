/*
 * test_chatfuel: the Broadcasting API request and the reading of its answer
 * (chatfuel.c, with the shared verdict, excerpt and redaction of delivery.c)
 * from known inputs: the exact URL for awkward ids, flow names and tokens
 * (query values percent-encoded but for RFC 3986 unreserved, path segments
 * '.' too, so no id is a dot segment), the log URL without the token or
 * the base URL's credentials,
 * the exact verdict and error text for each kind of answer, and the token
 * taken out of error texts, plain and encoded.
 */
#include "unit.h"
#include "chatfuel.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define BASE "https://api.chatfuel.com"
#define BOT "bot 1/\xc3\xbc"                   /* "bot 1/ü" */
#define BOT_ESC "bot%201%2F%C3%BC"
#define TOKEN "tok-SECRET/4f9a&x=y"
#define TOKEN_ESC "tok-SECRET%2F4f9a%26x%3Dy"
#define CLIENT "user:42.a_b-c~"
#define CLIENT_ESC "user%3A42%2Ea_b-c~"            /* a path segment: '.' too */
#define FLOW "Resultado & m\xc3\xa1s/1?="      /* "Resultado & más/1?=" */
#define FLOW_ESC "Resultado%20%26%20m%C3%A1s%2F1%3F%3D"
#define PATH BASE "/bots/" BOT_ESC "/users/" CLIENT_ESC "/send"

#define PAGE "Qx3-_AbCdEfGhIjKlMnOpQ"                 /* base64url: unreserved as it is */

static void expect_url(struct chatfuel *cf, enum chatfuel_target target, bool validated,
                       const char *want)
{
	char *url = NULL, *log_url = NULL;
	struct chatfuel_result r = {
		.client_id = CLIENT, .target = target, .dest = FLOW, .validated = validated,
		.page_id = PAGE, .status = validated ? "approved" : "denied",
	};

	chatfuel_build_url(cf, &r, &url, &log_url);
	assert_string_equal(url, want);
	assert_string_equal(log_url, PATH);
	assert_null(strstr(log_url, "SECRET"));
	secure_wipe_str(url);
	free(url);
	free(log_url);
}

static void test_url_for_each_target_and_result(void **state)
{
	struct chatfuel *cf = chatfuel_new(BASE, BOT, TOKEN);

	(void)state;
	assert_non_null(cf);
	expect_url(cf, CHATFUEL_TARGET_FLOW, true, PATH "?chatfuel_token=" TOKEN_ESC
	           "&chatfuel_flow_name=" FLOW_ESC "&user_validated=true&mfa_page_id=" PAGE
	           "&mfa_status=approved");
	expect_url(cf, CHATFUEL_TARGET_FLOW, false, PATH "?chatfuel_token=" TOKEN_ESC
	           "&chatfuel_flow_name=" FLOW_ESC "&user_validated=false&mfa_page_id=" PAGE
	           "&mfa_status=denied");
	expect_url(cf, CHATFUEL_TARGET_BLOCK, true, PATH "?chatfuel_token=" TOKEN_ESC
	           "&chatfuel_block_name=" FLOW_ESC "&user_validated=true&mfa_page_id=" PAGE
	           "&mfa_status=approved");
	expect_url(cf, CHATFUEL_TARGET_BLOCK_ID, false, PATH "?chatfuel_token=" TOKEN_ESC
	           "&chatfuel_block_id=" FLOW_ESC "&user_validated=false&mfa_page_id=" PAGE
	           "&mfa_status=denied");
	chatfuel_free(cf);
}

static void test_base_url_trailing_slashes_and_empty_values(void **state)
{
	struct chatfuel *cf = chatfuel_new("http://127.0.0.1:8080/api//", "b", "t");
	char *url = NULL, *log_url = NULL;

	(void)state;
	{
		struct chatfuel_result r_ = { .client_id = "", .dest = "", .validated = true };
		chatfuel_build_url(cf, &r_, &url, &log_url);
	}
	assert_string_equal(url, "http://127.0.0.1:8080/api/bots/b/users//send?chatfuel_token=t"
	                         "&chatfuel_flow_name=&user_validated=true&mfa_page_id=&mfa_status=");
	assert_string_equal(log_url, "http://127.0.0.1:8080/api/bots/b/users//send");
	free(url);
	free(log_url);
	chatfuel_free(cf);
}

/* "." and ".." as a client or bot id are path segments, never dot segments
 * that would post to /bots/BOT/send or /bots/BOT/users/send. */
static void test_dot_ids_stay_inside_their_segment(void **state)
{
	struct chatfuel *cf = chatfuel_new("https://user:pw@cf.example/x", "..", "t");
	char *url = NULL, *log_url = NULL;

	(void)state;
	{
		struct chatfuel_result r_ = { .client_id = "..", .dest = "F", .validated = true };
		chatfuel_build_url(cf, &r_, &url, &log_url);
	}
	assert_string_equal(url, "https://user:pw@cf.example/x/bots/%2E%2E/users/%2E%2E/send"
	                         "?chatfuel_token=t&chatfuel_flow_name=F&user_validated=true&mfa_page_id=&mfa_status=");
	assert_string_equal(log_url, "https://(hidden)@cf.example/x/bots/%2E%2E/users/%2E%2E/send");
	free(url);
	free(log_url);
	{
		struct chatfuel_result r_ = { .client_id = ".", .dest = "F", .validated = true };
		chatfuel_build_url(cf, &r_, &url, &log_url);
	}
	assert_non_null(strstr(url, "/users/%2E/send?"));
	free(url);
	free(log_url);
	chatfuel_free(cf);
}

static void test_no_credentials_is_a_dry_run(void **state)
{
	(void)state;
	assert_null(chatfuel_new(BASE, NULL, TOKEN));
	assert_null(chatfuel_new(BASE, "", TOKEN));
	assert_null(chatfuel_new(BASE, BOT, NULL));
	assert_null(chatfuel_new(BASE, BOT, ""));
	chatfuel_free(NULL);
}

static enum delivery_verdict judge(long status, const char *body, char *err, size_t cap)
{
	return chatfuel_judge(status, body, body ? strlen(body) : 0, err, cap);
}

static void expect_verdict(long status, const char *body, enum delivery_verdict want,
                           const char *want_err)
{
	char err[DELIVERY_ERROR_MAX] = "untouched";
	enum delivery_verdict got = judge(status, body, err, sizeof err);

	if (got != want)
		fail_msg("HTTP %ld with %s: verdict %d, want %d", status, body ? body : "(no body)",
		         (int)got, (int)want);
	assert_string_equal(err, want_err);
}

static void test_verdicts(void **state)
{
	(void)state;
	/* delivered: a 2xx that says success */
	expect_verdict(200, "{\"success\": true, \"result\": \"ok\"}", DELIVERY_SENT, "untouched");
	expect_verdict(201, "{\"success\":true}", DELIVERY_SENT, "untouched");
	expect_verdict(299, " {\"result\":1,\"success\":true} ", DELIVERY_SENT, "untouched");
	/* a 2xx without "success": true is tried again */
	expect_verdict(200, "{\"success\": false, \"result\": \"try later\"}", DELIVERY_RETRY,
	               "HTTP 200 without \"success\": true: {\"success\": false, \"result\": \"try later\"}");
	expect_verdict(200, "{\"success\": \"true\"}", DELIVERY_RETRY,
	               "HTTP 200 without \"success\": true: {\"success\": \"true\"}");
	expect_verdict(200, "{\"Success\": true}", DELIVERY_RETRY,
	               "HTTP 200 without \"success\": true: {\"Success\": true}");
	expect_verdict(200, "[true]", DELIVERY_RETRY, "HTTP 200 without \"success\": true: [true]");
	/* a 2xx with nothing readable is delivered; a body cut at the cap is read as text */
	expect_verdict(200, "ok", DELIVERY_SENT, "untouched");
	expect_verdict(204, "", DELIVERY_SENT, "untouched");
	expect_verdict(200, NULL, DELIVERY_SENT, "untouched");
	expect_verdict(200, "<html>gateway</html>", DELIVERY_SENT, "untouched");
	expect_verdict(200, "{\"success\": true, \"result\": \"aaaa", DELIVERY_SENT, "untouched");
	expect_verdict(200, "{\"result\": \"aaaa", DELIVERY_SENT, "untouched");
	expect_verdict(200, "{\"success\" :\nfalse, \"result\": \"aaaa", DELIVERY_RETRY,
	               "HTTP 200 without \"success\": true: {\"success\" : false, \"result\": \"aaaa");
	/* retried by status, whatever the body says */
	expect_verdict(408, "slow", DELIVERY_RETRY, "HTTP 408: slow");
	expect_verdict(429, "{\"success\": true}", DELIVERY_RETRY, "HTTP 429: {\"success\": true}");
	expect_verdict(500, "internal error", DELIVERY_RETRY, "HTTP 500: internal error");
	expect_verdict(503, "", DELIVERY_RETRY, "HTTP 503: ");
	expect_verdict(599, "x", DELIVERY_RETRY, "HTTP 599: x");
	/* failed for good: every other status */
	expect_verdict(400, "{\"success\": false, \"result\": \"unknown flow\"}", DELIVERY_FAILED,
	               "HTTP 400: {\"success\": false, \"result\": \"unknown flow\"}");
	expect_verdict(401, "bad token", DELIVERY_FAILED, "HTTP 401: bad token");
	expect_verdict(404, "", DELIVERY_FAILED, "HTTP 404: ");
	expect_verdict(409, "", DELIVERY_FAILED, "HTTP 409: ");
	expect_verdict(301, "moved", DELIVERY_FAILED, "HTTP 301: moved");
	expect_verdict(199, "", DELIVERY_FAILED, "HTTP 199: ");
}

static void test_excerpt_is_printable_and_capped(void **state)
{
	char body[1000], err[DELIVERY_ERROR_MAX], small[16];

	(void)state;
	/* control characters become spaces */
	expect_verdict(500, "line one\r\nline\ttwo\x7f\x01!", DELIVERY_RETRY,
	               "HTTP 500: line one  line two  !");
	/* at most DELIVERY_EXCERPT_MAX bytes of the body */
	memset(body, 'a', sizeof body - 1);
	body[sizeof body - 1] = '\0';
	assert_int_equal(judge(502, body, err, sizeof err), DELIVERY_RETRY);
	assert_int_equal(strlen(err), strlen("HTTP 502: ") + DELIVERY_EXCERPT_MAX);
	/* and never past the caller's buffer */
	assert_int_equal(judge(502, body, small, sizeof small), DELIVERY_RETRY);
	assert_string_equal(small, "HTTP 502: aaaaa");
	/* a NUL inside the body is a control character too */
	assert_int_equal(chatfuel_judge(400, "a\0b", 3, err, sizeof err), DELIVERY_FAILED);
	assert_string_equal(err, "HTTP 400: a b");
}

static void test_token_is_redacted_plain_and_encoded(void **state)
{
	struct chatfuel *cf = chatfuel_new(BASE, BOT, TOKEN);
	char err[DELIVERY_ERROR_MAX];

	(void)state;
	assert_int_equal(judge(400, "bad chatfuel_token=" TOKEN_ESC " (" TOKEN ")", err, sizeof err),
	                 DELIVERY_FAILED);
	chatfuel_redact(cf, err, sizeof err);
	assert_string_equal(err, "HTTP 400: bad chatfuel_token=[redacted] ([redacted])");
	/* the mark does not fit in the buffer: the text ends before the token */
	{
		struct chatfuel *short_tok = chatfuel_new(BASE, BOT, "tok");
		char tiny[16] = "0123456789abtok";

		chatfuel_redact(short_tok, tiny, sizeof tiny);
		assert_string_equal(tiny, "0123456789ab");
		chatfuel_free(short_tok);
	}
	/* no credentials, nothing to redact */
	chatfuel_redact(NULL, err, sizeof err);
	chatfuel_free(cf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_for_each_target_and_result),
		cmocka_unit_test(test_base_url_trailing_slashes_and_empty_values),
		cmocka_unit_test(test_dot_ids_stay_inside_their_segment),
		cmocka_unit_test(test_no_credentials_is_a_dry_run),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_excerpt_is_printable_and_capped),
		cmocka_unit_test(test_token_is_redacted_plain_and_encoded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
