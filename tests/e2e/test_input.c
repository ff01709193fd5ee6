/*
 * test_input: crafted input at the edge (issue 10): a NUL byte anywhere in a
 * field is a 400 naming it (GET %00, JSON \u0000, form %00); a client_id of
 * "." or ".." is refused, and every other id reaches Chatfuel as one fully
 * percent-encoded path segment; plain http:// outbound URLs only to
 * loopback; URL credentials masked in check-config, config errors and logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define IN_PHONE "5215553100001"
#define IN_FLOW "FlowIn"
#define IN_DOB "1990-01-01"

/* One request that must be a 400 invalid_request naming `field`. */
static int expect_400(struct t *t, struct daemon *d, const char *method, const char *path,
                      const char *ctype, const char *body, size_t body_len, const char *field)
{
	struct resp rs;
	struct req rq = { .method = method, .ctype = ctype, .body = body, .body_len = body_len };
	char *url = d_api_url(d, path);
	int rc;

	rq.url = url;
	rq.cainfo = d->cert_path;
	rc = h_http(t, &rq, &rs);
	free(url);
	if (rc != 0)
		return -1;
	rc = mfa_expect_error(t, &rs, 400, "invalid_request", field);
	if (rc == 0 && !h_contains(rs.body, "NUL") && !h_contains(rs.body, "may not be")) {
		FAILF(t, "%s %s: expected the detail to say why, got %.200s", method, path, rs.body);
		rc = -1;
	}
	if (rc != 0)
		t_prefix(t, "%s %s (%.80s): ", method, path, body ? body : "");
	resp_free(&rs);
	return rc;
}

static void test_nul_in_any_field_is_named(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	static const char *const seed[][2] = {
		{ "/generate_dynamic_page?client_id=abc%00def&telefono=" IN_PHONE "&flow_name=" IN_FLOW
		  "&fecha_cumple=" IN_DOB, "client_id" },
		{ "/generate_dynamic_page?client_id=abc&telefono=" IN_PHONE "&flow_name=Flow%00x"
		  "&fecha_cumple=" IN_DOB, "flow_name" },
		{ "/generate_dynamic_page?client_id=abc&telefono=" IN_PHONE "%00&flow_name=" IN_FLOW
		  "&fecha_cumple=" IN_DOB, "telefono" },
	};
	for (size_t i = 0; i < sizeof seed / sizeof seed[0]; i++)
		REQUIRE(t, expect_400(t, d, "GET", seed[i][0], NULL, NULL, 0, seed[i][1]) == 0);

	static const char *const json[][2] = {
		{ "{\"client_id\":\"abc\\u0000def\",\"phone\":\"" IN_PHONE "\",\"flow_name\":\"" IN_FLOW
		  "\",\"dob\":\"" IN_DOB "\"}", "client_id" },
		{ "{\"client_id\":\"abc\",\"phone\":\"" IN_PHONE "\",\"flow_name\":\"Flow\\u0000\","
		  "\"dob\":\"" IN_DOB "\"}", "flow_name" },
	};
	for (size_t i = 0; i < sizeof json / sizeof json[0]; i++)
		REQUIRE(t, expect_400(t, d, "POST", "/v1/challenges", "application/json", json[i][0], 0,
		                      json[i][1]) == 0);
	/* a raw NUL byte inside a JSON string, which cJSON would keep */
	static const char raw[] = "{\"client_id\":\"ab\0c\",\"phone\":\"" IN_PHONE "\",\"flow_name\":\""
	                          IN_FLOW "\",\"dob\":\"" IN_DOB "\"}";
	REQUIRE(t, expect_400(t, d, "POST", "/v1/challenges", "application/json", raw, sizeof raw - 1,
	                      "client_id") == 0);

	/* the form body was refused before; it still is, naming the field */
	struct resp rs;
	REQUIRE(t, d_api(d, "POST", "/generate_dynamic_page", "application/x-www-form-urlencoded",
	                 "client_id=abc%00&telefono=" IN_PHONE "&flow_name=" IN_FLOW
	                 "&fecha_cumple=" IN_DOB, &rs) == 0);
	int rc = mfa_expect_error(t, &rs, 400, "invalid_request", "client_id");
	resp_free(&rs);
	REQUIRE(t, rc == 0);

	/* and a well-formed mint still works: \u0001 and an escaped backslash are no NUL */
	REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json",
	                 "{\"client_id\":\"abc\",\"phone\":\"" IN_PHONE "\",\"flow_name\":\"a\\\\u0000b\","
	                 "\"dob\":\"" IN_DOB "\"}", &rs) == 0);
	EXPECT(t, rs.status == 201, "expected 201 for flow_name a\\\\u0000b (no NUL), got %ld %.200s",
	       rs.status, rs.body);
	resp_free(&rs);
}

static void test_dot_client_ids_are_refused(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	static const char *const ids[] = { ".", "..", "%2E", "%2E%2E" };
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char *path = h_printf("/generate_dynamic_page?client_id=%s&telefono=" IN_PHONE
		                      "&flow_name=" IN_FLOW "&fecha_cumple=" IN_DOB, ids[i]);
		int rc = expect_400(t, d, "GET", path, NULL, NULL, 0, "client_id");
		free(path);
		REQUIRE(t, rc == 0);
	}
	REQUIRE(t, expect_400(t, d, "POST", "/v1/challenges", "application/json",
	                      "{\"client_id\":\"..\",\"phone\":\"" IN_PHONE "\",\"flow_name\":\""
	                      IN_FLOW "\",\"dob\":\"" IN_DOB "\"}", 0, "client_id") == 0);
}

/* Dots and colons of an id are encoded on the wire (the fake sees the raw
 * request line), so no party on the way can fold a segment. */
static void test_client_id_is_one_encoded_segment(struct t *t)
{
	struct fake_cf *fake;
	struct daemon *d = mfa_start_default(t, &fake);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "a..b:.", IN_PHONE, IN_FLOW, IN_DOB, true, &m) == 0);
	REQUIRE(t, fake_wait(fake, 1, H_CALL_TIMEOUT_MS) >= 1);
	const struct fake_call *c = fake_call(fake, 0);
	EXPECT(t, h_contains(c->raw_uri, "/bots/" H_BOT_ID "/users/a%2E%2Eb%3A%2E/send?"),
	       "expected the client_id as one encoded segment on the request line, got %.200s",
	       c->raw_uri);
	REQUIRE(t, mfa_check_call(t, c, "a..b:.", IN_FLOW, true, false) == 0);
}

/* Runs check-config (or serve) and returns its exit code; out/err joined. */
static int run_cfg(struct t *t, struct daemon *d, const char *cmd, char **all)
{
	const char *args[] = { cmd, "--config", d->config_path, NULL };
	char *out, *err;
	int rc;

	if (d_write_config(d) != 0)
		return -1;
	rc = h_run(t, args, NULL, &out, &err);
	if (rc < 0)
		return rc;
	*all = h_printf("%s\n%s", out, err);
	free(out);
	free(err);
	return rc;
}

static void test_plain_http_only_to_loopback(struct t *t)
{
	static const struct { const char *key, *url; int want; } cases[] = {
		{ "chatfuel_base_url", "http://api.chatfuel.com", 2 },
		{ "chatfuel_base_url", "http://10.1.2.3:8080", 2 },
		{ "chatfuel_base_url", "http://127.0.0.1.example.com", 2 },
		{ "webhook_url", "http://hooks.example.com/x", 2 },
		{ "webhook_url", "http://[::2]/x", 2 },
		{ "chatfuel_base_url", "https://api.chatfuel.com", 0 },
		{ "chatfuel_base_url", "http://127.0.0.1:9", 0 },
		{ "webhook_url", "http://localhost:9/hook", 0 },
		{ "webhook_url", "http://[::1]:9/hook", 0 },
	};
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	d_set_str(d, "webhook_secret", "whsec-in-1");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *all = NULL;
		d_del(d, "webhook_url");
		d_del(d, "chatfuel_base_url");
		d_set_str(d, cases[i].key, cases[i].url);
		int rc = run_cfg(t, d, "check-config", &all);
		BAIL(t);
		EXPECT(t, rc == cases[i].want, "%s=%s: expected check-config to exit %d, got %d (%.300s)",
		       cases[i].key, cases[i].url, cases[i].want, rc, all);
		EXPECT(t, rc == 0 || h_contains(all, cases[i].key), "%s=%s: expected the error to name "
		       "the key, got %.300s", cases[i].key, cases[i].url, all);
		free(all);
	}
}

static void test_url_credentials_are_masked(struct t *t)
{
	/* check-config: user:password@ and the query hidden */
	struct daemon *d = d_new(t, NULL);
	char *all = NULL;
	REQUIRE(t, d);
	d_set_str(d, "webhook_url", "https://hookuser:hookpw-1@127.0.0.1:9/hook?key=qtok-1");
	d_set_str(d, "webhook_secret", "whsec-in-2");
	int rc = run_cfg(t, d, "check-config", &all);
	BAIL(t);
	EXPECT(t, rc == 0, "expected check-config to exit 0, got %d (%.300s)", rc, all);
	EXPECT(t, h_contains(all, "127.0.0.1:9/hook"), "expected the webhook host shown, got %.400s", all);
	EXPECT(t, !h_contains(all, "hookpw-1") && !h_contains(all, "qtok-1") &&
	       !h_contains(all, "hookuser"), "expected the URL's credentials masked, got %.600s", all);
	free(all);

	/* a config error quoting the bad value */
	d_set_str(d, "webhook_url", "http://hookuser:hookpw-1@hooks.example/x");
	rc = run_cfg(t, d, "check-config", &all);
	BAIL(t);
	EXPECT(t, rc == 2 && h_contains(all, "webhook_url"), "expected exit 2 naming webhook_url, "
	       "got %d (%.300s)", rc, all);
	EXPECT(t, !h_contains(all, "hookpw-1"), "expected the password masked in the error, got %.300s",
	       all);
	free(all);

	/* logs: a failing webhook and Chatfuel behind URLs with credentials */
	struct fake_cf *fake = t_fake(t);
	REQUIRE(t, fake);
	struct daemon *s = d_new(t, fake);
	REQUIRE(t, s);
	char *base = fake_base_url(fake);
	char *cf = h_printf("http://cfuser:cfpw-1@%s", base + 7);
	char *hook = h_printf("http://hookuser:hookpw-1@%s/hook", base + 7);
	d_set_str(s, "chatfuel_base_url", cf);
	d_set_str(s, "webhook_url", hook);
	d_set_str(s, "webhook_secret", "whsec-in-3");
	d_set_str(s, "log_level", "debug");
	t_secret(s->t, "cfpw-1");
	t_secret(s->t, "hookpw-1");
	free(base);
	free(cf);
	free(hook);
	fake_fail_next(fake, 500, 2);
	REQUIRE(t, d_start(s, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(s, "cid-mask", IN_PHONE, IN_FLOW, IN_DOB, true, &m) == 0);
	REQUIRE(t, fake_wait(fake, 3, H_CALL_TIMEOUT_MS) >= 3);
	REQUIRE(t, d_stop(s) == 0);
	size_t len;
	char *log = h_read_file(s->err_path, &len);
	REQUIRE(t, log);
	EXPECT(t, h_contains(log, "(hidden)@"), "expected the log to name the masked URLs, got %.600s",
	       log);
	free(log);
	/* the teardown scan fails the test if cfpw-1 or hookpw-1 reached a log */
}

const struct test e2e_tests_input[] = {
	{ "input_nul_in_any_field_is_named", test_nul_in_any_field_is_named, NULL },
	{ "input_dot_client_ids_are_refused", test_dot_client_ids_are_refused, NULL },
	{ "input_client_id_is_one_encoded_segment", test_client_id_is_one_encoded_segment, NULL },
	{ "input_plain_http_only_to_loopback", test_plain_http_only_to_loopback, NULL },
	{ "input_url_credentials_are_masked", test_url_credentials_are_masked, NULL },
	{ NULL, NULL, NULL },
};
