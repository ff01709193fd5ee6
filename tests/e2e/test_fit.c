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
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define SQLITE3 "/usr/bin/sqlite3"
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

/* The sqlite3 shell on db; its output (allocated), failing the test unless
 * it exits 0. */
static char *sql(struct t *t, const char *db, const char *stmt)
{
	const char *argv[] = { SQLITE3, "-batch", "-noheader", db, stmt, NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run_prog(t, argv, NULL, &out, &err);

	if (rc != 0 && !t->failed)
		FAILF(t, "expected sqlite3 \"%.200s\" to succeed, got %d: %.300s", stmt, rc, err);
	free(err);
	return out;
}

/* The Python prototype's logs.db, made by its own SQL: local dates, the
 * page's refdata JSON stored as a BLOB. */
static const char prototype_sql[] =
	"CREATE TABLE validation_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT, "
	"telefono TEXT, autorizacion BLOB);"
	"INSERT INTO validation_logs (date, telefono, autorizacion) VALUES "
	"('2025-06-01 09:15:00', '5215550100001', "
	" CAST('{\"ip\":\"189.203.1.1\",\"city\":\"Guadalajara\",\"device\":\"Android\"}' AS BLOB)),"
	"('2025-06-01 23:59:30', '5215550100002', "
	" CAST('{\"ip\":\"201.141.2.2\",\"city\":\"Monterrey\",\"device\":\"iPhone\"}' AS BLOB)),"
	"('2025-06-02 00:00:05', '5215550100003', CAST('{}' AS BLOB));";

/* What the prototype's rows read as (id|date|telefono|typeof|autorizacion). */
static const char prototype_rows[] =
	"1|2025-06-01 09:15:00|5215550100001|blob|{\"ip\":\"189.203.1.1\",\"city\":\"Guadalajara\",\"device\":\"Android\"}\n"
	"2|2025-06-01 23:59:30|5215550100002|blob|{\"ip\":\"201.141.2.2\",\"city\":\"Monterrey\",\"device\":\"iPhone\"}\n"
	"3|2025-06-02 00:00:05|5215550100003|blob|{}\n";

static void expect_verify_ok(struct t *t, struct daemon *d)
{
	const char *verify[] = { "audit", "verify", "--db", d->db_path, NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run(t, verify, NULL, &out, &err);

	EXPECT(t, rc == 0, "expected `audit verify` to exit 0 after the upgrade, got %d (%.200s%.200s)",
	       rc, out, err);
	free(out);
	free(err);
}

/* mnmfa starts on the prototype's logs.db, keeps its rows readable through
 * validation_logs as they were, adds its approvals in the prototype's shape,
 * and its chain verifies; a restart finds the upgraded file as it left it. */
static void test_upgrade_prototype(struct t *t)
{
	if (access(SQLITE3, X_OK) != 0) {
		FAILF(t, "expected the sqlite3 shell at %s (Debian package sqlite3), got none", SQLITE3);
		return;
	}
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	free(sql(t, d->db_path, prototype_sql));
	BAIL(t);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-up1", "5215550100004", "Pago", "1970-01-02", true, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-up2", "5215550100005", "Pago", "1970-01-03", false, &m) == 0);
	REQUIRE(t, fake_wait(f, 2, H_CALL_TIMEOUT_MS) == 2);
	REQUIRE(t, d_stop(d) == 0);

	char *out = sql(t, d->db_path, "SELECT id, date, telefono, typeof(autorizacion), autorizacion "
	                               "FROM validation_logs WHERE id <= 3 ORDER BY id;");
	BAIL(t);
	EXPECT(t, strcmp(out, prototype_rows) == 0,
	       "expected the prototype's rows unchanged through validation_logs:\n%s\ngot:\n%s",
	       prototype_rows, out);
	free(out);
	/* The new approval: one row after the prototype's, date in its shape (UTC),
	 * autorizacion the evidence JSON with the server-observed IP and agent. */
	out = sql(t, d->db_path, "SELECT count(*), "
	                         "sum(date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] "
	                         "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]'), "
	                         "json_extract(autorizacion, '$.ip'), "
	                         "json_type(autorizacion, '$.user_agent') IS NOT NULL, telefono "
	                         "FROM validation_logs WHERE id > 3;");
	BAIL(t);
	EXPECT(t, strcmp(out, "1|1|127.0.0.1|1|5215550100004\n") == 0,
	       "expected one new approved row (YYYY-MM-DD HH:MM:SS, ip 127.0.0.1, a user_agent key, "
	       "phone 5215550100004), got %s", out);
	free(out);
	out = sql(t, d->db_path, "SELECT count(*) = count(DISTINCT id) FROM validation_logs;");
	BAIL(t);
	EXPECT(t, atoi(out) == 1, "expected validation_logs ids to stay unique, got %s", out);
	free(out);
	/* A report by day, as the prototype's users wrote them, finds it. */
	out = sql(t, d->db_path, "SELECT count(*) FROM validation_logs WHERE date BETWEEN "
	                         "strftime('%Y-%m-%d 00:00:00', 'now') AND "
	                         "strftime('%Y-%m-%d 23:59:59', 'now') AND id > 3;");
	BAIL(t);
	EXPECT(t, atoi(out) == 1, "expected today's report (BETWEEN 'day 00:00:00' AND 'day 23:59:59') "
	       "to count the new approval, got %s", out);
	free(out);
	expect_verify_ok(t, d);
	BAIL(t);

	/* Restarted on the upgraded file: nothing moves, the chain grows. */
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-up3", "5215550100006", "Pago", "1970-01-04", true, &m) == 0);
	REQUIRE(t, fake_wait(f, 3, H_CALL_TIMEOUT_MS) == 3);
	REQUIRE(t, d_stop(d) == 0);
	out = sql(t, d->db_path, "SELECT count(*) FROM validation_logs;");
	BAIL(t);
	EXPECT(t, atoi(out) == 5, "expected 3 prototype rows and 2 approvals in validation_logs, got %s", out);
	free(out);
	expect_verify_ok(t, d);
}

/* The page id the answer page shows (its hidden input), for a seed mint. */
static int mint_page(struct daemon *d, const char *client, const char *phone, const char *dob,
                     struct minted *m, struct page *pg)
{
	if (mfa_mint_seed(d, client, phone, "Pago", dob, m) != 0)
		return -1;
	return mfa_get_page(d, m->page_id, pg);
}

/* Two open links for one user: the broadcast says which one answered and
 * how (mfa_page_id, mfa_status beside user_validated). */
static void test_broadcast_attributes(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m1, m2;
	struct page p1, p2;
	char buf[40], right[40];
	REQUIRE(t, mint_page(d, "cid-two", "5215557100001", "1980-03-04", &m1, &p1) == 0);
	int rc = mint_page(d, "cid-two", "5215557100001", "1980-03-04", &m2, &p2);
	if (rc == 0) {
		snprintf(right, sizeof right, "%s", mfa_right_answer(&p2, "1980-03-04", buf));
		rc = mfa_answer(d, m2.page_id, right, NULL);
	}
	if (rc == 0) {
		snprintf(right, sizeof right, "%s", mfa_right_answer(&p1, "1980-03-04", buf));
		rc = mfa_answer(d, m1.page_id, mfa_wrong_answer(&p1, right), NULL);
	}
	mfa_page_free(&p1);
	mfa_page_free(&p2);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	for (int i = 0; i < 2; i++) {
		const struct fake_call *c = fake_call(f, i);
		const char *pid = fake_arg(c, "mfa_page_id"), *st = fake_arg(c, "mfa_status");
		bool second = pid != NULL && strcmp(pid, m2.page_id) == 0;
		EXPECT(t, pid != NULL && (second || strcmp(pid, m1.page_id) == 0),
		       "expected mfa_page_id to be one of the two pages (%s, %s), got %s (%s)", m1.page_id,
		       m2.page_id, pid ? pid : "(none)", c->raw_uri);
		EXPECT_STR(t, "mfa_status", second ? "approved" : "denied", st);
		REQUIRE(t, mfa_check_call(t, c, "cid-two", "Pago", second, false) == 0);
	}
	EXPECT(t, strcmp(fake_arg(fake_call(f, 0), "mfa_page_id"),
	                 fake_arg(fake_call(f, 1), "mfa_page_id")) != 0,
	       "expected the two results to name different pages");
}

/* chatfuel_target=block_id sends chatfuel_block_id (it survives renaming the
 * block) and neither name; without chatfuel_block_id the config is refused. */
static void test_block_id_target(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "chatfuel_target", "block_id");
	REQUIRE(t, d_write_config(d) == 0);
	const char *args[] = { "check-config", "--config", d->config_path, NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run(t, args, NULL, &out, &err);
	EXPECT(t, rc == 2 && h_contains(err, "chatfuel_block_id"),
	       "expected check-config to exit 2 naming chatfuel_block_id, got %d (%.300s)", rc, err);
	free(out);
	free(err);
	d_set_str(d, "chatfuel_block_id", "64a1b2c3d4e5f6a7b8c9d0e1");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-bid", "5215557100002", "Pago", "1980-03-05", true, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	const struct fake_call *c = fake_call(f, 0);
	EXPECT_STR(t, "chatfuel_block_id", "64a1b2c3d4e5f6a7b8c9d0e1", fake_arg(c, "chatfuel_block_id"));
	EXPECT(t, !fake_has_arg(c, "chatfuel_flow_name") && !fake_has_arg(c, "chatfuel_block_name"),
	       "expected no flow or block name beside chatfuel_block_id, got %s", c->raw_uri);
	EXPECT_STR(t, "mfa_status", "approved", fake_arg(c, "mfa_status"));
	EXPECT_STR(t, "mfa_page_id", m.page_id, fake_arg(c, "mfa_page_id"));
}

/* A result older than result_max_age is not sent: it ends expired in the
 * outbox with the reason, and /metrics counts it. Chatfuel fails the first
 * attempt; the daemon stops, and starts again past the age. */
static void test_result_max_age(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_int(d, "result_max_age", 3);
	REQUIRE(t, d_start(d, NULL) == 0);
	fake_fail_next(f, 500, 1);
	struct minted m;
	long long decided = h_mono_ms();
	REQUIRE(t, mfa_mint_and_answer(d, "cid-age", "5215557100003", "Pago", "1980-03-06", true, &m) == 0);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);
	REQUIRE(t, d_stop(d) == 0);
	EXPECT_INT(t, "Chatfuel calls before the stop (the failed first attempt)", 1, fake_count(f));
	long long wait = decided + 3500 - h_mono_ms();
	if (wait > 0)
		h_sleep_ms(wait);
	REQUIRE(t, d_start(d, NULL) == 0);
	char *out = NULL;
	long long until = h_mono_ms() + H_CALL_TIMEOUT_MS;
	bool expired = false;
	while (!expired && h_mono_ms() < until) {
		free(out);
		out = sql(t, d->db_path, "SELECT state || '|' || last_error FROM outbox WHERE kind = 'chatfuel';");
		BAIL(t);
		expired = strncmp(out, "expired|", 8) == 0;
		if (!expired)
			h_sleep_ms(100);
	}
	EXPECT(t, expired && h_contains(out, "result_max_age"),
	       "expected the outbox row to end expired naming result_max_age, got %s", out);
	free(out);
	EXPECT_INT(t, "Chatfuel calls after the restart (none: too old)", 1, fake_quiet(f, H_QUIET_WINDOW_MS));
	struct resp rs;
	REQUIRE(t, d_api(d, "GET", "/metrics", NULL, NULL, &rs) == 0);
	EXPECT(t, h_contains(rs.body, "\nmnmfa_results_expired_total 1\n"),
	       "expected mnmfa_results_expired_total 1 in /metrics, got %.200s",
	       h_contains(rs.body, "mnmfa_results_expired_total") ?
	       strstr(rs.body, "mnmfa_results_expired_total") : "(none)");
	resp_free(&rs);
}

const struct test e2e_tests_fit[] = {
	{ "fit_broadcast_page_id_and_status", test_broadcast_attributes, NULL },
	{ "fit_chatfuel_target_block_id", test_block_id_target, NULL },
	{ "fit_result_max_age_expires", test_result_max_age, NULL },
	{ "fit_upgrade_prototype_logs_db", test_upgrade_prototype, NULL },
	{ "fit_chatfuel_post_query_format_lang", test_chatfuel_post_query, NULL },
	{ "fit_chatfuel_text_reply", test_chatfuel_text_reply, NULL },
	{ "fit_chatfuel_full_json_profile", test_chatfuel_full_profile, NULL },
	{ NULL, NULL, NULL },
};
