/*
 * test_replay: replays cannot fill the disk, and one IPv6 /64 is one address
 * for rate_ip (issue 10, finding 8). Posts to a page already decided write at
 * most one `replayed` row per page and client address per minute; the rest
 * are counted in /metrics (mnmfa_replays_not_logged_total). A second address
 * gets its own row. Addresses come through X-Forwarded-For from a trusted
 * proxy (loopback), so the test can speak from many addresses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define REPLAYS 6

static long post_from(struct daemon *d, const char *page_id, const char *ip)
{
	char *body = h_printf("page_id=%s&respuesta=none", page_id);
	char *xff = h_printf("X-Forwarded-For: %s", ip);
	const char *hdrs[] = { xff, NULL };
	struct resp rs;
	long st = -1;

	if (d_web_h(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, hdrs,
	            &rs) == 0) {
		st = rs.status;
		resp_free(&rs);
	}
	free(body);
	free(xff);
	return st;
}

static struct daemon *start_proxied(struct t *t, struct fake_cf **f, const char *rate_ip)
{
	*f = t_fake(t);
	if (*f == NULL)
		return NULL;
	struct daemon *d = d_new(t, *f);
	if (d == NULL)
		return NULL;
	const char *cidrs[] = { "127.0.0.1" };
	cJSON_AddItemToObject(d->cfg, "trusted_proxies", cJSON_CreateStringArray(cidrs, 1));
	d_set_str(d, "rate_ip", rate_ip);
	return d_start(d, NULL) == 0 ? d : NULL;
}

static void test_replays_logged_once_per_page_and_address(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = start_proxied(t, &f, "100/60");
	struct minted m;

	REQUIRE(t, d);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-rep", "5215558200001", "FlowR", "1973-03-03", false, &m) == 0);
	for (int i = 0; i < REPLAYS; i++) {
		long st = post_from(d, m.page_id, "203.0.113.9");
		EXPECT(t, st == 303, "expected replay %d to answer 303, got %ld", i + 1, st);
	}
	EXPECT(t, post_from(d, m.page_id, "198.51.100.4") == 303, "expected a replay from another address to answer 303");
	long long unlogged = mfa_metric(t, d, "mnmfa_replays_not_logged_total");
	REQUIRE(t, d_stop(d) == 0);
	long long rows = mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'replayed'", NULL);
	long long first = mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'replayed' "
	                                            "AND ip = '203.0.113.9'", NULL);
	EXPECT(t, rows == 2, "expected 2 replayed rows (one per address), got %lld", rows);
	EXPECT(t, first == 1, "expected 1 replayed row for %d replays from one address within a minute, got %lld",
	       REPLAYS, first);
	EXPECT(t, unlogged == REPLAYS - 1, "expected mnmfa_replays_not_logged_total %d, got %lld", REPLAYS - 1,
	       unlogged);
}

static void test_rate_ip_keys_ipv6_by_64(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = start_proxied(t, &f, "3/60");
	static const char *const same64[] = {
		"2001:db8:1:2::1", "2001:db8:1:2:aaaa::7", "2001:db8:1:2:ffff:ffff:ffff:fffe",
		"2001:db8:1:2::99",
	};
	char *xff;
	struct resp rs;
	long st[4];

	REQUIRE(t, d);
	for (int i = 0; i < 4; i++) {
		xff = h_printf("X-Forwarded-For: %s", same64[i]);
		const char *hdrs[] = { xff, NULL };
		REQUIRE(t, d_web_h(d, "GET", "/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, hdrs, &rs) == 0);
		st[i] = rs.status;
		resp_free(&rs);
		free(xff);
	}
	EXPECT(t, st[0] == 404 && st[1] == 404 && st[2] == 404,
	       "expected the first 3 requests of one /64 answered (404), got %ld %ld %ld", st[0], st[1], st[2]);
	EXPECT(t, st[3] == 429, "expected the 4th address of the same /64 rate-limited (429), got %ld", st[3]);
	const char *other[] = { "X-Forwarded-For: 2001:db8:1:3::1", NULL };
	REQUIRE(t, d_web_h(d, "GET", "/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, other, &rs) == 0);
	EXPECT(t, rs.status == 404, "expected another /64 not limited (404), got %ld", rs.status);
	resp_free(&rs);
}

const struct test e2e_tests_replay[] = {
	{ "replay_one_row_per_page_and_address_per_minute", test_replays_logged_once_per_page_and_address, NULL },
	{ "rate_ip_keys_ipv6_by_64", test_rate_ip_keys_ipv6_by_64, NULL },
	{ NULL, NULL, NULL },
};
