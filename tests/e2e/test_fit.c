/*
 * test_fit: mnmfa as the people who run it meet it -- Chatfuel wiring as the
 * README writes it (a POST whose format and lang ride in the query string, the
 * plain text reply every channel shows, the "full JSON profile" body), the
 * result telling the flow which challenge answered (mfa_page_id, mfa_status,
 * chatfuel_block_id, result_max_age), a lockout ending the phone's other
 * links, and the in-place upgrade of the Python prototype's logs.db.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define FIT_PROMPT_EN "confirm it's you"
#define FIT_PROMPT_ES "confirma que eres tú"

/* Checks a format=chatfuel reply: set_attributes {mfa_url, mfa_page_id}, one
 * plain text message holding the link in the language wanted, and (unless
 * chatfuel_reply=button) nothing else. Copies the page id out. */
static int check_text_reply(struct t *t, struct daemon *d, const struct resp *rs, bool en,
                            char page_id[64])
{
	cJSON *j;
	int rc = -1;

	if (rs->status != 200) {
		FAILF(t, "expected 200 from the mint, got %ld: %.300s", rs->status, rs->body);
		return -1;
	}
	if ((j = resp_json(t, rs)) == NULL)
		return -1;
	const cJSON *mu = j_path(j, "set_attributes.mfa_url");
	const cJSON *mp = j_path(j, "set_attributes.mfa_page_id");
	const cJSON *msgs = j_path(j, "messages");
	const cJSON *txt = j_path(j, "messages.0.text");
	if (!cJSON_IsString(mu) || !cJSON_IsString(mp)) {
		FAILF(t, "expected set_attributes.mfa_url and mfa_page_id, got %.300s", rs->body);
		goto out;
	}
	char *want = h_printf("%s/%s", j_str(d->cfg, "public_url"), mp->valuestring);
	bool same = strcmp(want, mu->valuestring) == 0;
	free(want);
	if (!same) {
		FAILF(t, "expected mfa_url to be public_url/mfa_page_id, got %.300s", rs->body);
		goto out;
	}
	if (cJSON_GetArraySize(msgs) != 1 || !cJSON_IsString(txt)) {
		FAILF(t, "expected exactly one message, a plain text one, got %.400s", rs->body);
		goto out;
	}
	if (!h_contains(txt->valuestring, mu->valuestring)) {
		FAILF(t, "expected the text message to hold the link %s, got \"%s\"", mu->valuestring,
		      txt->valuestring);
		goto out;
	}
	if (!h_contains(txt->valuestring, en ? FIT_PROMPT_EN : FIT_PROMPT_ES)) {
		FAILF(t, "expected the %s prompt in the text, got \"%s\"", en ? "English" : "Spanish",
		      txt->valuestring);
		goto out;
	}
	snprintf(page_id, 64, "%s", mp->valuestring);
	rc = 0;
out:
	cJSON_Delete(j);
	return rc;
}

/* The README's wiring: a JSON API block, POST to
 * /generate_dynamic_page?format=chatfuel&lang=en, the fields in the body
 * (JSON, then URL-encoded). */
static void test_chatfuel_post_query(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	t_secret(t, "1991-02-03");
	static const struct {
		const char *ctype, *body;
	} bodies[] = {
		{ "application/json", "{\"client_id\":\"cid-cfq1\",\"telefono\":\"5215557000001\","
		                      "\"flow_name\":\"Pago\",\"fecha_cumple\":\"1991-02-03\"}" },
		{ "application/x-www-form-urlencoded",
		  "client_id=cid-cfq2&telefono=5215557000002&flow_name=Pago&fecha_cumple=1991-02-03" },
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct resp rs;
		char pid[64];
		REQUIRE(t, d_api(d, "POST", "/generate_dynamic_page?format=chatfuel&lang=en",
		                 bodies[i].ctype, bodies[i].body, &rs) == 0);
		int rc = check_text_reply(t, d, &rs, true, pid);
		resp_free(&rs);
		if (rc != 0)
			t_prefix(t, "POST %s: ", bodies[i].ctype);
		REQUIRE(t, rc == 0);
		/* The page speaks the query's language too. */
		struct page pg;
		REQUIRE(t, mfa_get_page(d, pid, &pg) == 0);
		bool en = h_contains(pg.html, "lang=\"en\"");
		mfa_page_free(&pg);
		EXPECT(t, en, "expected the page of a lang=en mint in English (<html lang=\"en\">)");
	}
}

/* Default chatfuel_reply=text: a GET with format=chatfuel gets the text. */
static void test_chatfuel_text_reply(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	t_secret(t, "1991-02-04");
	struct resp rs;
	char pid[64];
	REQUIRE(t, d_api(d, "GET",
	                 "/generate_dynamic_page?client_id=cid-cft&telefono=5215557000003&flow_name=Pago"
	                 "&fecha_cumple=1991-02-04&format=chatfuel", NULL, NULL, &rs) == 0);
	int rc = check_text_reply(t, d, &rs, false, pid);
	EXPECT(t, rc != 0 || !h_contains(rs.body, "attachment"),
	       "expected no attachment with chatfuel_reply=text, got %.300s", rs.body);
	resp_free(&rs);
}

/* Chatfuel's "full JSON profile": every attribute under Chatfuel's own
 * names; the user is "chatfuel user id", and the result goes to that user. */
static void test_chatfuel_full_profile(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	t_secret(t, "1991-02-05");
	struct resp rs;
	char pid[64];
	REQUIRE(t, d_api(d, "POST", "/generate_dynamic_page?format=chatfuel", "application/json",
	                 "{\"chatfuel user id\":\"7700123\",\"messenger user id\":\"990011\","
	                 "\"first name\":\"Ana\",\"telefono\":\"5215557000004\",\"flow_name\":\"Pago\","
	                 "\"fecha_cumple\":\"1991-02-05\",\"locale\":\"es_MX\"}", &rs) == 0);
	int rc = check_text_reply(t, d, &rs, false, pid);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	struct page pg;
	char buf[40], ans[40];
	REQUIRE(t, mfa_get_page(d, pid, &pg) == 0);
	snprintf(ans, sizeof ans, "%s", mfa_right_answer(&pg, "1991-02-05", buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, pid, ans, NULL) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "7700123", "Pago", true, false) == 0);
}

const struct test e2e_tests_fit[] = {
	{ "fit_chatfuel_post_query_format_lang", test_chatfuel_post_query, NULL },
	{ "fit_chatfuel_text_reply", test_chatfuel_text_reply, NULL },
	{ "fit_chatfuel_full_json_profile", test_chatfuel_full_profile, NULL },
	{ NULL, NULL, NULL },
};
