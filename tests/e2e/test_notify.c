/*
 * test_notify: the results mnmfa sends (SPEC §7) -- URL encoding of every
 * value, chatfuel_target block, notify_on_expiry, retries on 5xx/429 and not
 * on other 4xx, the outbox surviving a restart, dry run without credentials,
 * the signed webhook, chatfuel_rps, and a slow Chatfuel never delaying the
 * browser's redirect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/hmac.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

static void test_url_encoding(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	static const char *const flows[] = {
		"Paso 2 & más=sí",
		"a+b/c?d#e%f;g",
		"日本語 flow 🙂",
		"quote\"apos'<>",
	};
	const int n = (int)(sizeof(flows) / sizeof(flows[0]));
	for (int i = 0; i < n; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "cid.enc:%d", i);
		struct minted m;
		REQUIRE(t, mfa_mint_and_answer(d, cid, "5215556000001", flows[i], "1990-05-01", i % 2 == 0,
		                               &m) == 0);
	}
	REQUIRE(t, mfa_expect_calls(t, f, n) == 0);
	for (int i = 0; i < n; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "cid.enc:%d", i);
		const struct fake_call *c = mfa_call_for(f, cid);
		REQUIRE(t, mfa_check_call(t, c, cid, flows[i], i % 2 == 0, false) == 0);
		EXPECT_INT(t, "query arguments (token, flow, user_validated, mfa_page_id, mfa_status)", 5,
		           c->nargs_total);
	}
}

static void test_block_target(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	/* SPEC names no config key for the block: the challenge's flow_name is
	 * sent as chatfuel_block_name. */
	d_set_str(d, "chatfuel_target", "block");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-block", "5215556000002", "Bloque Final", "1990-05-02",
	                               true, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-block", "Bloque Final", true, true) == 0);
}

static void test_notify_on_expiry(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_bool(d, "notify_on_expiry", true);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted mc, me, ma;
	REQUIRE(t, mfa_mint_v1(d, "cid-noe-cancel", "5215556000003", "FlowNoe", "1990-05-03", NULL,
	                       NULL, 0, &mc) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-noe-expire", "5215556000004", "FlowNoe", "1990-05-04", NULL,
	                       NULL, 10, &me) == 0);
	char *path = h_printf("/v1/challenges/%s", mc.id);
	struct resp rs;
	int rc = d_api(d, "DELETE", path, NULL, NULL, &rs);
	free(path);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "DELETE status", 200, rs.status);
	resp_free(&rs);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-noe-cancel", "FlowNoe", false, false) == 0);

	/* An answered challenge sends once, not again when it would have expired. */
	REQUIRE(t, mfa_mint_and_answer(d, "cid-noe-answered", "5215556000005", "FlowNoe", "1990-05-05",
	                               true, &ma) == 0);
	/* The expired one is reported by the sweeper: allow it some seconds. */
	long long deadline = h_mono_ms() + (me.expires_at - (long long)time(NULL)) * 1000 + 12000;
	while (fake_count(f) < 3 && h_mono_ms() < deadline)
		h_sleep_ms(100);
	EXPECT_INT(t, "calls (cancel, answer, expiry)", 3, fake_count(f));
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-noe-expire"), "cid-noe-expire", "FlowNoe",
	                          false, false) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-noe-answered"), "cid-noe-answered",
	                          "FlowNoe", true, false) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 3) == 0);
}

static void test_retry(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	fake_fail_next(f, 503, 1);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-retry1", "5215556000006", "FlowRetry", "1990-05-06",
	                               true, &m) == 0);
	int got = fake_wait(f, 2, 20000);
	EXPECT_INT(t, "calls after a 503 (first try + retry)", 2, got);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-retry1", "FlowRetry", true, false) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 1), "cid-retry1", "FlowRetry", true, false) == 0);

	fake_fail_next(f, 429, 1);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-retry2", "5215556000007", "FlowRetry", "1990-05-07",
	                               false, &m) == 0);
	got = fake_wait(f, 4, 20000);
	EXPECT_INT(t, "calls after a 429 (first try + retry)", 4, got);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 2), "cid-retry2", "FlowRetry", false, false) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 3), "cid-retry2", "FlowRetry", false, false) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 4) == 0);
}

static void test_no_retry_4xx(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	fake_fail_next(f, 400, 5);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-4xx", "5215556000008", "FlowBad", "1990-05-08", true,
	                               &m) == 0);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);
	int got = fake_quiet(f, 5000);
	EXPECT_INT(t, "calls after a 400 within 5 s (no retry)", 1, got);
}

static void test_restart(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	/* First life: Chatfuel unreachable, the result stays in the outbox. */
	struct daemon *d1 = d_new(t, NULL);
	REQUIRE(t, d1);
	REQUIRE(t, d_start(d1, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d1, "cid-outbox", "5215556000009", "FlowOutbox", "1990-05-09",
	                               true, &m) == 0);
	h_sleep_ms(300);
	REQUIRE(t, d_stop(d1) == 0);
	/* Second life on the same database, Chatfuel back. */
	struct daemon *d2 = d_new(t, f);
	REQUIRE(t, d2);
	d_set_str(d2, "db_path", d1->db_path);
	REQUIRE(t, d_start(d2, NULL) == 0);
	int got = fake_wait(f, 1, 20000);
	EXPECT_INT(t, "calls after restart (outbox row delivered)", 1, got);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-outbox", "FlowOutbox", true, false) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
}

static void test_dry_run(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_del(d, "chatfuel_bot_id");
	d_del(d, "chatfuel_token");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-dry", "5215556000010", "FlowDry", "1990-05-10", true,
	                               &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 0) == 0);
	REQUIRE(t, d_stop(d) == 0);
	char *err = h_read_file(d->err_path, NULL);
	bool warned = err && (h_icontains(err, "dry") || h_icontains(err, "chatfuel"));
	free(err);
	EXPECT(t, warned, "expected a start-up warning about the dry run, got none on stderr");
}

static const struct fake_call *call_with_path(struct fake_cf *f, const char *path)
{
	int n = fake_count(f);
	for (int i = 0; i < n; i++)
		if (strcmp(fake_call(f, i)->path, path) == 0)
			return fake_call(f, i);
	return NULL;
}

static void test_webhook(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	char *hook = h_printf("http://127.0.0.1:%d/hook", fake_port(f));
	d_set_str(d, "webhook_url", hook);
	free(hook);
	d_set_str(d, "webhook_secret", "whsec-test-42");
	t_secret(t, "whsec-test-42");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-hook", "+5215556000011", "FlowHook", "1990-05-11",
	                               false, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-hook"), "cid-hook", "FlowHook", false,
	                          false) == 0);
	const struct fake_call *c = call_with_path(f, "/hook");
	EXPECT(t, c != NULL, "expected a webhook POST to /hook, got none");
	EXPECT_STR(t, "webhook method", "POST", c->method);
	EXPECT(t, c->ctype && strncasecmp(c->ctype, "application/json", 16) == 0,
	       "expected webhook Content-Type application/json, got %s", c->ctype ? c->ctype : "(none)");
	cJSON *j = cJSON_Parse(c->body);
	EXPECT(t, j != NULL, "expected a JSON webhook body, got %.200s", c->body);
	const char *keys[] = { "event", "page_id", "client_id", "phone", "flow_name", "status", "decided_at" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (cJSON_GetObjectItemCaseSensitive(j, keys[i]) == NULL) {
			cJSON_Delete(j);
			EXPECT(t, false, "expected \"%s\" in the webhook body, got %.300s", keys[i], c->body);
		}
	bool ok = j_str(j, "client_id") && strcmp(j_str(j, "client_id"), "cid-hook") == 0 &&
	          j_str(j, "flow_name") && strcmp(j_str(j, "flow_name"), "FlowHook") == 0 &&
	          j_str(j, "page_id") && strcmp(j_str(j, "page_id"), m.page_id) == 0 &&
	          j_str(j, "status") && strcmp(j_str(j, "status"), "denied") == 0 &&
	          h_parse_rfc3339(j_str(j, "decided_at")) > 0;
	bool no_dob = !h_contains(c->body, "1990-05-11");
	cJSON_Delete(j);
	EXPECT(t, ok, "expected client_id cid-hook, flow FlowHook, the page id, status denied and decided_at, got %.300s",
	       c->body);
	EXPECT(t, no_dob, "expected no date of birth in the webhook, got %.300s", c->body);

	/* X-Mnmfa-Signature: t=UNIX,v1=HEX with HEX = HMAC-SHA256(secret, t "." body). */
	const char *sig = c->signature;
	EXPECT(t, sig != NULL, "expected an X-Mnmfa-Signature header, got none");
	long long ts = 0;
	char hex[129] = "";
	EXPECT(t, sscanf(sig, "t=%lld,v1=%128[0-9a-fA-F]", &ts, hex) == 2,
	       "expected X-Mnmfa-Signature \"t=UNIX,v1=HEX\", got \"%s\"", sig);
	long long now = (long long)time(NULL);
	EXPECT(t, ts > now - 60 && ts <= now + 5, "expected t near now (%lld), got %lld", now, ts);
	char *msg = h_printf("%lld.%s", ts, c->body);
	unsigned char mac[32];
	unsigned int maclen = 0;
	HMAC(EVP_sha256(), "whsec-test-42", 13, (const unsigned char *)msg, strlen(msg), mac, &maclen);
	free(msg);
	char want[65];
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", mac[i]);
	EXPECT(t, strcasecmp(want, hex) == 0, "expected v1=%s, got v1=%s", want, hex);
}

static void test_rps(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_int(d, "chatfuel_rps", 5);
	REQUIRE(t, d_start(d, NULL) == 0);
	enum { N = 15 };
	struct minted m[N];
	char ans[N][40];
	for (int i = 0; i < N; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "cid-rps%d", i);
		REQUIRE(t, mfa_mint_seed(d, cid, "5215556000012", "FlowRps", "1990-05-12", &m[i]) == 0);
		struct page pg;
		REQUIRE(t, mfa_get_page(d, m[i].page_id, &pg) == 0);
		char buf[40];
		snprintf(ans[i], sizeof(ans[i]), "%s", mfa_right_answer(&pg, m[i].dob, buf));
		mfa_page_free(&pg);
	}
	long long t0 = h_mono_ms();
	for (int i = 0; i < N; i++)
		REQUIRE(t, mfa_answer(d, m[i].page_id, ans[i], NULL) == 0);
	long long answered = h_mono_ms() - t0;
	REQUIRE(t, fake_wait(f, N, 20000) == N);
	long long span = fake_call(f, N - 1)->at_ms - fake_call(f, 0)->at_ms;
	/* 15 calls at 5/s need at least two seconds whatever the burst allowance
	 * (up to 5 at once); the answers themselves took `answered` ms. */
	EXPECT(t, span >= 1800, "expected 15 calls at chatfuel_rps 5 to span >= 1.8 s, got %lld ms (answers took %lld ms)",
	       span, answered);
	/* And no 1-second window holds more than 2 * rps. */
	for (int i = 0; i + 10 < N; i++) {
		long long w = fake_call(f, i + 10)->at_ms - fake_call(f, i)->at_ms;
		EXPECT(t, w >= 900, "expected no 11 calls within 1 s at chatfuel_rps 5, got calls %d..%d within %lld ms",
		       i, i + 10, w);
	}
}

static void test_slow_chatfuel(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	fake_delay(f, 3000);
	for (int i = 0; i < 3; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "cid-slow%d", i);
		struct minted m;
		REQUIRE(t, mfa_mint_seed(d, cid, "5215556000013", "FlowSlow", "1990-05-13", &m) == 0);
		struct page pg;
		REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
		char buf[40], ans[40];
		snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, m.dob, buf));
		mfa_page_free(&pg);
		long long t0 = h_mono_ms();
		REQUIRE(t, mfa_answer(d, m.page_id, ans, NULL) == 0);
		long long took = h_mono_ms() - t0;
		EXPECT(t, took < 1500, "expected the 303 without waiting for a slow Chatfuel, got it after %lld ms",
		       took);
	}
	REQUIRE(t, fake_wait(f, 3, 20000) == 3);
}

const struct test e2e_tests_notify[] = {
	{ "chatfuel_values_url_encoded", test_url_encoding, NULL },
	{ "chatfuel_target_block_sends_block_name", test_block_target, NULL },
	{ "notify_on_expiry_sends_false_for_cancel_and_expiry", test_notify_on_expiry, NULL },
	{ "chatfuel_retries_on_503_and_429", test_retry, NULL },
	{ "chatfuel_no_retry_on_400", test_no_retry_4xx, NULL },
	{ "outbox_delivered_after_restart", test_restart, NULL },
	{ "dry_run_without_credentials_sends_nothing", test_dry_run, NULL },
	{ "webhook_signed_hmac_sha256", test_webhook, NULL },
	{ "chatfuel_rps_limits_send_rate", test_rps, NULL },
	{ "slow_chatfuel_never_delays_redirect", test_slow_chatfuel, NULL },
	{ NULL, NULL, NULL },
};
