/*
 * test_url: the outbound URL rules (url.c): plain http:// only to a loopback
 * host, and the masked form of a URL for check-config and logs, with its
 * user:password@ and query hidden.
 */
#include "unit.h"
#include "url.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void test_http_only_to_loopback(void **state)
{
	static const char *const ok[] = {
		"https://api.chatfuel.com", "https://u:p@example.com/x", "HTTPS://example.com",
		"http://127.0.0.1:8080", "http://127.9.9.9/x", "http://localhost/hook",
		"http://LOCALHOST:1", "http://[::1]:8080/x", "http://u:p@127.0.0.1/",
	};
	static const char *const bad[] = {
		"http://api.chatfuel.com", "http://10.0.0.1/x", "http://[::2]/", "http://128.0.0.1",
		"http://127.0.0.1.example.com/", "http://localhost.example.com",
		"http://127.0.0.1@evil.example/", "ftp://127.0.0.1", "127.0.0.1", "https://", "http://",
		"http://[::1", "",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ok); i++)
		if (!url_scheme_allowed(ok[i]))
			fail_msg("%s was refused", ok[i]);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (url_scheme_allowed(bad[i]))
			fail_msg("%s was accepted", bad[i]);
}

static void expect_mask(const char *url, const char *want)
{
	char out[128], *dup = url_mask_dup(url);

	url_mask(url, out, sizeof out);
	if (strcmp(out, want) != 0 || strcmp(dup, want) != 0)
		fail_msg("%s: masked as %s / %s, expected %s", url, out, dup, want);
	free(dup);
}

static void test_credentials_are_masked(void **state)
{
	char tiny[12];

	(void)state;
	expect_mask("https://user:s3cret@hooks.example/x?token=abc",
	            "https://" URL_MASK "@hooks.example/x?" URL_MASK);
	expect_mask("https://:pw@h", "https://" URL_MASK "@h");
	expect_mask("https://h.example/p?q", "https://h.example/p?" URL_MASK);
	expect_mask("https://h.example/a@b", "https://h.example/a@b");      /* @ in the path */
	expect_mask("http://127.0.0.1:8080", "http://127.0.0.1:8080");
	expect_mask("not a url", "not a url");
	url_mask("https://user:pw@h/x", tiny, sizeof tiny);                 /* cut, never the pw */
	assert_null(strstr(tiny, "pw"));
	assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_only_to_loopback),
		cmocka_unit_test(test_credentials_are_masked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
