/*
 * test_sockaddr: bind addresses parsed numerically (never looked up) and
 * peer addresses shown as text with the loopback flag: IPv4, IPv6, an
 * IPv4-mapped IPv6 peer shown as IPv4, and an unknown family.
 */
#include "unit.h"
#include "log.h"
#include "sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void peer(const char *text, int family, char *ip, size_t cap, bool *loopback)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(sockaddr_from_bind(text, 443, &ss, &len), 0);
	assert_int_equal(ss.ss_family, family);
	sockaddr_text((const struct sockaddr *)&ss, ip, cap, loopback);
}

static void test_peers_as_text(void **state)
{
	static const struct {
		const char *addr;
		int family;
		const char *text;           /* as logged and audited */
		bool loopback;
	} cases[] = {
		{ "127.0.0.9", AF_INET, "127.0.0.9", true },
		{ "203.0.113.7", AF_INET, "203.0.113.7", false },
		{ "::1", AF_INET6, "::1", true },
		{ "2001:db8::5", AF_INET6, "2001:db8::5", false },
		{ "::ffff:127.0.0.1", AF_INET6, "127.0.0.1", true },      /* mapped: shown as IPv4 */
		{ "::ffff:198.51.100.2", AF_INET6, "198.51.100.2", false },
	};
	char ip[64];
	bool lo;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		peer(cases[i].addr, cases[i].family, ip, sizeof ip, &lo);
		assert_string_equal(ip, cases[i].text);
		assert_int_equal(lo, cases[i].loopback);
	}
}

static void test_unknown_peer(void **state)
{
	struct sockaddr sa = { .sa_family = AF_UNIX };
	char ip[64] = "x";
	bool lo = true;

	(void)state;
	sockaddr_text(NULL, ip, sizeof ip, &lo);
	assert_string_equal(ip, "unknown");
	assert_false(lo);
	lo = true;
	sockaddr_text(&sa, ip, sizeof ip, &lo);
	assert_string_equal(ip, "unknown");
	assert_false(lo);
}

static void test_bind_must_be_numeric(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	assert_int_equal(sockaddr_from_bind("localhost", 443, &ss, &len), -1);
	assert_int_equal(sockaddr_from_bind("0.0.0.0", 8443, &ss, &len), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8443);
	assert_int_equal(len, sizeof(struct sockaddr_in));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peers_as_text),
		cmocka_unit_test(test_unknown_peer),
		cmocka_unit_test(test_bind_must_be_numeric),
	};

	log_init(LOG_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
