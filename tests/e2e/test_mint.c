/*
 * test_mint: minting through the seed-compatible endpoint (GET, POST form,
 * POST JSON, format=chatfuel) and the JSON API's create / status / cancel
 * (SPEC §4.1, §4.2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

static void test_mint_get(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-100", "+5215551230001", "FlowA", "1987-03-14", &m) == 0);
	EXPECT_INT(t, "expires_in", 60, m.expires_in);

	/* The JSON answer's headers. */
	struct resp rs;
	REQUIRE(t, d_api(d, "GET",
	                 "/generate_dynamic_page?client_id=cid-101&telefono=5215551230002&flow_name=FlowA&fecha_cumple=1987-03-14",
	                 NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "status", 200, rs.status);
	REQUIRE(t, mfa_check_json_ctype(t, &rs) == 0);
	REQUIRE(t, mfa_check_security_headers(t, &rs) == 0);
	resp_free(&rs);

	/* Page ids are fresh every time. */
	char ids[20][64];
	for (int i = 0; i < 20; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "cid-u%d", i);
		REQUIRE(t, mfa_mint_seed(d, cid, "+5215551230003", "FlowA", "1987-03-14", &m) == 0);
		for (int k = 0; k < i; k++)
			EXPECT(t, strcmp(ids[k], m.page_id) != 0,
			       "expected a fresh page id on every mint, got \"%s\" twice", m.page_id);
		snprintf(ids[i], sizeof(ids[i]), "%s", m.page_id);
	}
}

static int check_mint_body(struct t *t, struct daemon *d, const struct resp *rs)
{
	if (rs->status != 200) {
		FAILF(t, "expected 200 from %s, got %ld (%.200s)", rs->desc, rs->status, rs->body);
		return -1;
	}
	if (mfa_check_json_ctype(t, rs) != 0)
		return -1;
	cJSON *j = resp_json(t, rs);
	if (j == NULL)
		return -1;
	int rc = -1;
	const char *url = j_str(j, "dynamic_url"), *pid = j_str(j, "page_id");
	char *want = pid ? h_printf("%s/%s", j_str(d->cfg, "public_url"), pid) : NULL;
	const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	if (url == NULL || pid == NULL || strlen(pid) != 22 || strcmp(url, want) != 0) {
		FAILF(t, "expected dynamic_url = public_url/page_id (22 chars), got %.300s", rs->body);
	} else if (!cJSON_IsNumber(ei) || ei->valuedouble != 60) {
		FAILF(t, "expected expires_in 60, got %.300s", rs->body);
	} else if (h_parse_rfc3339(j_str(j, "expires_at")) < 0) {
		FAILF(t, "expected expires_at RFC 3339, got %.300s", rs->body);
	} else {
		rc = 0;
	}
	free(want);
	cJSON_Delete(j);
	return rc;
}

static void test_mint_post_form(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	t_secret(t, "1979-11-23");
	struct resp rs;
	REQUIRE(t, d_api(d, "POST", "/generate_dynamic_page", "application/x-www-form-urlencoded",
	                 "client_id=cid-form&telefono=%2B5215551230004&flow_name=Flow+Form&fecha_cumple=1979-11-23",
	                 &rs) == 0);
	REQUIRE(t, check_mint_body(t, d, &rs) == 0);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	char pid[64];
	snprintf(pid, sizeof(pid), "%s", j_str(j, "page_id"));
	cJSON_Delete(j);
	resp_free(&rs);

	/* The form's values were bound: answering reaches this client and flow. */
	struct page pg;
	REQUIRE(t, mfa_get_page(d, pid, &pg) == 0);
	char buf[40];
	char ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, "1979-11-23", buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, pid, ans, NULL) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-form", "Flow Form", true, false) == 0);
}

static void test_mint_post_json(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	t_secret(t, "1979-11-24");
	struct resp rs;
	REQUIRE(t, d_api(d, "POST", "/generate_dynamic_page", "application/json",
	                 "{\"client_id\":\"cid-json\",\"telefono\":\"+5215551230005\","
	                 "\"flow_name\":\"Flow JSON\",\"fecha_cumple\":\"1979-11-24\"}",
	                 &rs) == 0);
	REQUIRE(t, check_mint_body(t, d, &rs) == 0);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	char pid[64];
	snprintf(pid, sizeof(pid), "%s", j_str(j, "page_id"));
	cJSON_Delete(j);
	resp_free(&rs);

	struct page pg;
	REQUIRE(t, mfa_get_page(d, pid, &pg) == 0);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, "1979-11-24", buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, pid, ans, NULL) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-json", "Flow JSON", true, false) == 0);
}

static void test_mint_format_chatfuel(struct t *t)
{
	/* chatfuel_reply=button: the text message, then Messenger's button
	 * template (test_fit covers the default, text only). */
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "chatfuel_reply", "button");
	REQUIRE(t, d_start(d, NULL) == 0);
	t_secret(t, "1991-06-30");
	struct resp rs;
	REQUIRE(t, d_api(d, "GET",
	                 "/generate_dynamic_page?client_id=cid-cf&telefono=5215551230006&flow_name=FlowCF&fecha_cumple=1991-06-30&format=chatfuel",
	                 NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "status", 200, rs.status);
	REQUIRE(t, mfa_check_json_ctype(t, &rs) == 0);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	const cJSON *mu = j_path(j, "set_attributes.mfa_url");
	const cJSON *mp = j_path(j, "set_attributes.mfa_page_id");
	EXPECT(t, cJSON_IsString(mu) && cJSON_IsString(mp),
	       "expected set_attributes.mfa_url and mfa_page_id strings, got %.300s", rs.body);
	char *want = h_printf("%s/%s", j_str(d->cfg, "public_url"), mp->valuestring);
	EXPECT(t, strlen(mp->valuestring) == 22, "expected a 22-char mfa_page_id, got \"%s\"",
	       mp->valuestring);
	EXPECT_STR(t, "set_attributes.mfa_url", want, mu->valuestring);
	free(want);
	const cJSON *m0 = j_path(j, "messages.0.text");
	EXPECT(t, cJSON_IsString(m0) && h_contains(m0->valuestring, mu->valuestring),
	       "expected messages[0].text holding the link, got %.300s", rs.body);
	EXPECT_INT(t, "messages", 2, cJSON_GetArraySize(j_path(j, "messages")));
	const cJSON *ty = j_path(j, "messages.1.attachment.type");
	const cJSON *tt = j_path(j, "messages.1.attachment.payload.template_type");
	const cJSON *tx = j_path(j, "messages.1.attachment.payload.text");
	const cJSON *bt = j_path(j, "messages.1.attachment.payload.buttons.0.type");
	const cJSON *bu = j_path(j, "messages.1.attachment.payload.buttons.0.url");
	const cJSON *bl = j_path(j, "messages.1.attachment.payload.buttons.0.title");
	const cJSON *bs = j_path(j, "messages.1.attachment.payload.buttons");
	EXPECT(t, cJSON_IsString(ty) && strcmp(ty->valuestring, "template") == 0,
	       "expected messages[1].attachment.type \"template\", got %.300s", rs.body);
	EXPECT(t, cJSON_IsString(tt) && strcmp(tt->valuestring, "button") == 0,
	       "expected payload.template_type \"button\", got %.300s", rs.body);
	EXPECT(t, cJSON_IsString(tx) && tx->valuestring[0],
	       "expected a payload.text, got %.300s", rs.body);
	EXPECT(t, cJSON_IsString(bt) && strcmp(bt->valuestring, "web_url") == 0,
	       "expected buttons[0].type \"web_url\", got %.300s", rs.body);
	EXPECT(t, cJSON_IsString(bl) && bl->valuestring[0],
	       "expected a buttons[0].title, got %.300s", rs.body);
	EXPECT(t, cJSON_GetArraySize(bs) <= 3, "expected at most 3 buttons (Chatfuel's limit), got %d",
	       cJSON_GetArraySize(bs));
	EXPECT(t, cJSON_IsString(bu), "expected buttons[0].url, got %.300s", rs.body);
	EXPECT_STR(t, "buttons[0].url", mu->valuestring, bu->valuestring);
	char pid[64];
	snprintf(pid, sizeof(pid), "%s", mp->valuestring);
	cJSON_Delete(j);
	resp_free(&rs);
	struct page pg;
	REQUIRE(t, mfa_get_page(d, pid, &pg) == 0);
	mfa_page_free(&pg);
}

static void test_v1_lifecycle(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_v1(d, "cid-v1", "+5215551230007", "FlowV1", "1984-07-09", NULL, NULL, 0,
	                       &m) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &m, "pending") == 0);

	struct page pg;
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, m.page_id, ans, NULL) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &m, "approved") == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-v1", "FlowV1", true, false) == 0);
}

static void test_v1_denied(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_v1(d, "cid-v1d", "+5215551230008", "FlowV1", "1984-07-10", "date", NULL,
	                       0, &m) == 0);
	struct page pg;
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_wrong_answer(&pg, mfa_right_answer(&pg, m.dob, buf)));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, m.page_id, ans, NULL) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &m, "denied") == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-v1d", "FlowV1", false, false) == 0);
}

static void test_v1_cancel(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_v1(d, "cid-v1c", "+5215551230009", "FlowV1", "1984-07-11", NULL, NULL, 0,
	                       &m) == 0);
	struct page pg;
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);

	char *path = h_printf("/v1/challenges/%s", m.id);
	struct resp rs;
	int rc = d_api(d, "DELETE", path, NULL, NULL, &rs);
	free(path);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "DELETE status", 200, rs.status);
	REQUIRE(t, mfa_check_json_ctype(t, &rs) == 0);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	EXPECT_STR(t, "status after DELETE", "canceled", j_str(j, "status"));
	cJSON_Delete(j);
	resp_free(&rs);
	REQUIRE(t, mfa_expect_status(t, d, &m, "canceled") == 0);

	/* The page now shows as unavailable: 410 with a way back to the chat. */
	path = h_printf("/%s", m.page_id);
	rc = d_web(d, "GET", path, NULL, NULL, &rs);
	free(path);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "page status after cancel", 410, rs.status);
	EXPECT(t, h_contains(rs.body, H_WA_URL), "expected a link to %s on the 410 page, got none",
	       H_WA_URL);
	REQUIRE(t, mfa_check_security_headers(t, &rs) == 0);
	resp_free(&rs);

	/* Even the right answer decides nothing now, and nothing is sent
	 * (notify_on_expiry is off). */
	char *body = h_printf("page_id=%s&respuesta=%s", m.page_id, ans);
	rc = d_web(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs);
	free(body);
	REQUIRE(t, rc == 0);
	/* SPEC §5: /validate_answer answers 303 to the chat, whatever the answer meets */
	EXPECT_INT(t, "answer to a canceled page status", 303, rs.status);
	EXPECT_STR(t, "answer to a canceled page Location", H_WA_URL, resp_header(&rs, "Location"));
	resp_free(&rs);
	REQUIRE(t, mfa_expect_calls(t, f, 0) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &m, "canceled") == 0);
}

static void test_v1_unknown_id(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct resp rs;
	REQUIRE(t, d_api(d, "GET", "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, &rs) == 0);
	REQUIRE(t, mfa_expect_error(t, &rs, 404, "not_found", NULL) == 0);
	resp_free(&rs);
	REQUIRE(t, d_api(d, "DELETE", "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, &rs) == 0);
	REQUIRE(t, mfa_expect_error(t, &rs, 404, "not_found", NULL) == 0);
	resp_free(&rs);
}

const struct test e2e_tests_mint[] = {
	{ "mint_get_returns_dynamic_url", test_mint_get, NULL },
	{ "mint_post_form_binds_fields", test_mint_post_form, NULL },
	{ "mint_post_json_binds_fields", test_mint_post_json, NULL },
	{ "mint_format_chatfuel_button", test_mint_format_chatfuel, NULL },
	{ "v1_create_pending_then_approved", test_v1_lifecycle, NULL },
	{ "v1_wrong_answer_denied", test_v1_denied, NULL },
	{ "v1_cancel_then_page_410_and_nothing_sent", test_v1_cancel, NULL },
	{ "v1_unknown_id_404", test_v1_unknown_id, NULL },
	{ NULL, NULL, NULL },
};
