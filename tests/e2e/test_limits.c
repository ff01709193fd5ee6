/*
 * test_limits: who may mint and how often (SPEC §3, §4): rate_phone (429 with
 * Retry-After), lockout after failed answers (423), rate_ip on the web port,
 * and api_keys in all three accepted forms.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

static int mint_status(struct daemon *d, const char *client_id, const char *phone,
                       struct resp *rs)
{
	char *path = h_printf("/generate_dynamic_page?client_id=%s&telefono=%s&flow_name=F&fecha_cumple=1990-06-01",
	                      client_id, phone);
	int rc = d_api(d, "GET", path, NULL, NULL, rs);
	free(path);
	return rc;
}

static void test_rate_phone(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "rate_phone", "2/900");
	REQUIRE(t, d_start(d, NULL) == 0);
	t_secret(t, "1990-06-01");
	struct resp rs;
	for (int i = 0; i < 2; i++) {
		REQUIRE(t, mint_status(d, "cid-rp", "5215557000001", &rs) == 0);
		long st = rs.status;
		resp_free(&rs);
		EXPECT(t, st == 200, "expected mint %d of 2 allowed to answer 200, got %ld", i + 1, st);
	}
	REQUIRE(t, mint_status(d, "cid-rp", "5215557000001", &rs) == 0);
	int rc = mfa_expect_error(t, &rs, 429, "rate_limited", NULL);
	const char *ra = resp_header(&rs, "Retry-After");
	bool ra_ok = ra && atoi(ra) > 0 && atoi(ra) <= 900;
	char rabuf[64];
	snprintf(rabuf, sizeof(rabuf), "%s", ra ? ra : "(none)");
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	EXPECT(t, ra_ok, "expected Retry-After of 1..900 s on the 429, got %s", rabuf);
	/* The same phone through the JSON API, with or without '+', is the same phone. */
	REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json",
	                 "{\"client_id\":\"cid-rp\",\"phone\":\"+5215557000001\",\"flow_name\":\"F\",\"dob\":\"1990-06-01\"}",
	                 &rs) == 0);
	rc = mfa_expect_error(t, &rs, 429, "rate_limited", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	/* And with the international prefix 00 instead of '+' (SPEC §4.3). */
	REQUIRE(t, mint_status(d, "cid-rp", "005215557000001", &rs) == 0);
	rc = mfa_expect_error(t, &rs, 429, "rate_limited", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	/* Another phone is not affected. */
	REQUIRE(t, mint_status(d, "cid-rp", "5215557000002", &rs) == 0);
	long st = rs.status;
	resp_free(&rs);
	EXPECT_INT(t, "mint status for another phone", 200, st);
}

/* How many of the recorded calls name this flow; each of them must be a
 * well-formed user_validated=false call for client_id. -1 (recorded on the
 * test) when one is not. The sender has several calls in flight, so they are
 * matched by flow, never by arrival order. */
static int denials_for_flow(struct t *t, struct fake_cf *f, const char *client_id,
                            const char *flow)
{
	int n = fake_count(f), found = 0;
	for (int i = 0; i < n; i++) {
		const struct fake_call *c = fake_call(f, i);
		const char *fl = fake_arg(c, "chatfuel_flow_name");
		if (fl == NULL || strcmp(fl, flow) != 0)
			continue;
		if (mfa_check_call(t, c, client_id, flow, false, false) != 0)
			return -1;
		found++;
	}
	return found;
}

static void test_lockout(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "lockout", "2/86400");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	/* Two wrong answers, each in its own flow so that its result is told apart. */
	REQUIRE(t, mfa_mint_and_answer(d, "cid-lock", "5215557000003", "FlowLock1", "1990-06-02", false, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-lock", "5215557000003", "FlowLock2", "1990-06-02", false, &m) == 0);
	struct resp rs;
	t_secret(t, "1990-06-01");
	REQUIRE(t, mint_status(d, "cid-lock", "5215557000003", &rs) == 0);
	int rc = mfa_expect_error(t, &rs, 423, "locked", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	/* The same phone written +P or 00P is the same locked phone. */
	REQUIRE(t, mint_status(d, "cid-lock", "005215557000003", &rs) == 0);
	rc = mfa_expect_error(t, &rs, 423, "locked", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mint_status(d, "cid-lock", "%2B5215557000003", &rs) == 0);
	rc = mfa_expect_error(t, &rs, 423, "locked", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mint_status(d, "cid-lock", "5215557000004", &rs) == 0);
	long st = rs.status;
	resp_free(&rs);
	EXPECT_INT(t, "mint status for another phone", 200, st);
	/* Each denial was reported once, and each of the three refusals (flow F)
	 * told the bot false; the other phone's pending mint sent nothing. */
	REQUIRE(t, mfa_expect_calls(t, f, 5) == 0);
	EXPECT_INT(t, "calls for the first denial (FlowLock1)", 1,
	           denials_for_flow(t, f, "cid-lock", "FlowLock1"));
	EXPECT_INT(t, "calls for the second denial (FlowLock2)", 1,
	           denials_for_flow(t, f, "cid-lock", "FlowLock2"));
	EXPECT_INT(t, "calls for the three 423 refusals (flow F)", 3,
	           denials_for_flow(t, f, "cid-lock", "F"));
}

/* A lockout ends the phone's other pending links at once (issue 11 point 4):
 * with lockout 1/86400 the wrong answer on the first of two links locks the
 * phone, and the second, never answered, is locked right away: its page, its
 * status, one `locked` row and one false result for the bot. */
static void test_lockout_ends_other_links(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "lockout", "1/86400");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted first, other;
	REQUIRE(t, mfa_mint_v1(d, "cid-lo", "5215557000005", "FlowFirst", "1990-06-02", NULL, NULL, 0, &first) == 0);
	/* the same phone written with '+': one phone for the lockout */
	REQUIRE(t, mfa_mint_v1(d, "cid-lo", "+5215557000005", "FlowOther", "1990-06-02", NULL, NULL, 0, &other) == 0);
	REQUIRE(t, mfa_answer_page(d, first.page_id, "1990-06-02", false) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &first, "denied") == 0);
	/* the denial's result and the other link's */
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	struct daemon *logs[] = { d, NULL };
	REQUIRE(t, mfa_expect_ended_locked(t, d, logs, f, &other) == 0);
	EXPECT_INT(t, "calls for the denial (FlowFirst)", 1, denials_for_flow(t, f, "cid-lo", "FlowFirst"));
	/* the denial counts as denied, the link it ended as locked */
	EXPECT_INT(t, "mnmfa_challenges_denied_total", 1, mfa_metric(t, d, "mnmfa_challenges_denied_total"));
	EXPECT_INT(t, "mnmfa_challenges_locked_total", 1, mfa_metric(t, d, "mnmfa_challenges_locked_total"));
}

/* A lockout follows its denial only once the denial is durable (issue 11
 * point 4 review): lockout 1/3600, answer_wait 1, the audit database held by
 * another writer. The wrong answer that would lock the phone cannot be
 * written in time, so it is withdrawn (503, the page reopened): the phone's
 * other link stays open, nobody gets a `locked` row or a false result, and
 * the failed attempt is given back, so the right answer then approves. */
static void test_lockout_waits_for_its_denial(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "lockout", "1/3600");
	d_set_int(d, "answer_wait", 1);
	REQUIRE(t, d_start(d, NULL) == 0);
	const char *dob = "1975-09-14";
	struct minted a, b;
	struct page pg;
	struct resp rs;
	char buf[40], wrong[40], right[40];
	REQUIRE(t, mfa_mint_v1(d, "cid-lw", "5215557900001", "FlowLwA", dob, NULL, NULL, 0, &a) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-lw", "5215557900001", "FlowLwB", dob, NULL, NULL, 0, &b) == 0);
	REQUIRE(t, mfa_get_page(d, a.page_id, &pg) == 0);
	snprintf(right, sizeof right, "%s", mfa_right_answer(&pg, dob, buf));
	snprintf(wrong, sizeof wrong, "%s", mfa_wrong_answer(&pg, right));
	mfa_page_free(&pg);
	h_sleep_ms(300);   /* the minted rows are written before the hold */

	sqlite3 *db = NULL;
	REQUIRE(t, sqlite3_open(d->db_path, &db) == SQLITE_OK);
	REQUIRE(t, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	char *body = h_printf("page_id=%s&respuesta=%s", a.page_id, wrong);
	int rc = d_web(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs);
	free(body);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "the wrong answer while the audit log is held", 503, rs.status);
	resp_free(&rs);

	/* the other link was not ended: its page is open, its status pending */
	char *path = h_printf("/%s", b.page_id);
	REQUIRE(t, d_web(d, "GET", path, NULL, NULL, &rs) == 0);
	free(path);
	EXPECT_INT(t, "the other link's page after the withdrawn denial", 200, rs.status);
	resp_free(&rs);
	REQUIRE(t, mfa_expect_status(t, d, &b, "pending") == 0);
	/* the attempt was given back: the right answer approves (not locked) */
	REQUIRE(t, mfa_answer(d, a.page_id, right, NULL) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &a, "approved") == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	/* the one result: the approval (none for the other link) */
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-lw", "FlowLwA", true, false) == 0);
	EXPECT_INT(t, "locked rows for the answered page", 0, mfa_audit_rows(t, d, "locked", a.page_id));
	EXPECT_INT(t, "locked rows for the other link", 0, mfa_audit_rows(t, d, "locked", b.page_id));
	EXPECT_INT(t, "denied rows for the answered page", 0, mfa_audit_rows(t, d, "denied", a.page_id));
	REQUIRE(t, mfa_expect_status(t, d, &b, "pending") == 0);
}

static void test_rate_ip(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	d_set_str(d, "rate_ip", "5/60");
	REQUIRE(t, d_start(d, NULL) == 0);
	long first429 = -1;
	const char *ra_seen = NULL;
	char rabuf[64] = "";
	for (int i = 0; i < 12 && first429 < 0; i++) {
		struct resp rs;
		REQUIRE(t, d_web(d, "GET", "/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, &rs) == 0);
		if (rs.status == 429) {
			first429 = i;
			ra_seen = resp_header(&rs, "Retry-After");
			snprintf(rabuf, sizeof(rabuf), "%s", ra_seen ? ra_seen : "(none)");
		} else {
			EXPECT(t, rs.status == 404, "expected 404 or 429 from %s, got %ld", rs.desc, rs.status);
		}
		resp_free(&rs);
	}
	EXPECT(t, first429 >= 0, "expected a 429 within 12 web requests at rate_ip 5/60, got none");
	EXPECT(t, ra_seen != NULL, "expected Retry-After on the web port's 429, got none");
	(void)rabuf;
}

static void test_api_keys(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	const char *keys[] = { "k1-secret-api-key", "k2-other-api-key" };
	cJSON_AddItemToObject(d->cfg, "api_keys", cJSON_CreateStringArray(keys, 2));
	t_secret(t, keys[0]);
	t_secret(t, keys[1]);
	REQUIRE(t, d_start(d, NULL) == 0);       /* /healthz needs no key */
	t_secret(t, "1990-06-03");
	const char *q = "/generate_dynamic_page?client_id=cid-key&telefono=5215557000005&flow_name=F&fecha_cumple=1990-06-03";
	struct resp rs;
	static const char *const none[] = { NULL };
	static const char *const wrong[] = { "Authorization: Bearer nope", NULL };
	static const char *const bearer[] = { "Authorization: Bearer k1-secret-api-key", NULL };
	static const char *const xkey[] = { "X-API-Key: k2-other-api-key", NULL };
	REQUIRE(t, d_api_h(d, "GET", q, NULL, NULL, none, &rs) == 0);
	int rc = mfa_expect_error(t, &rs, 401, "unauthorized", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	REQUIRE(t, d_api_h(d, "GET", q, NULL, NULL, wrong, &rs) == 0);
	rc = mfa_expect_error(t, &rs, 401, "unauthorized", NULL);
	if (rc == 0)
		rc = mfa_check_security_headers(t, &rs);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	REQUIRE(t, d_api_h(d, "GET", q, NULL, NULL, bearer, &rs) == 0);
	EXPECT_INT(t, "status with Authorization: Bearer", 200, rs.status);
	resp_free(&rs);
	REQUIRE(t, d_api_h(d, "GET", q, NULL, NULL, xkey, &rs) == 0);
	EXPECT_INT(t, "status with X-API-Key", 200, rs.status);
	resp_free(&rs);
	char *qk = h_printf("%s&api_key=k1-secret-api-key", q);
	rc = d_api_h(d, "GET", qk, NULL, NULL, none, &rs);
	free(qk);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "status with api_key= in the query", 200, rs.status);
	resp_free(&rs);
	REQUIRE(t, d_api_h(d, "GET", "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, none, &rs) == 0);
	rc = mfa_expect_error(t, &rs, 401, "unauthorized", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	REQUIRE(t, d_api_h(d, "GET", "/healthz", NULL, NULL, none, &rs) == 0);
	EXPECT_INT(t, "status of /healthz without a key", 200, rs.status);
	resp_free(&rs);
}

/* VmRSS of a running daemon in KiB, -1 when unreadable. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#define RSS_SLACK_KIB (16 * 1024)

/* The limiters' tables are sized for their largest n (up to 32 MiB each) and
 * cost memory only as keys fill them: an idle daemon with huge limits holds
 * about what one with the defaults holds, whatever the allocator (tcmalloc's
 * calloc writes every page of a large block). */
static void test_idle_limit_tables_cost_nothing(struct t *t)
{
	struct daemon *small = d_new(t, NULL), *big = d_new(t, NULL);
	long rs, rb;

	REQUIRE(t, small && big);
	d_set_str(big, "rate_ip", "1000000/1");
	d_set_str(big, "rate_phone", "1000000/1");
	d_set_str(big, "lockout", "1000000/1");
	REQUIRE(t, d_start(small, NULL) == 0);
	REQUIRE(t, d_start(big, NULL) == 0);
	rs = rss_kib(small->pid);
	rb = rss_kib(big->pid);
	REQUIRE(t, rs > 0 && rb > 0);
	EXPECT(t, rb - rs < RSS_SLACK_KIB,
	       "expected an idle daemon with limits of 1000000/1 to hold less than %d KiB more than one "
	       "with the defaults, got %ld KiB against %ld KiB", RSS_SLACK_KIB, rb, rs);
}

const struct test e2e_tests_limits[] = {
	{ "rate_phone_429_with_retry_after", test_rate_phone, NULL },
	{ "lockout_after_failed_answers_423", test_lockout, NULL },
	{ "lockout_ends_other_pending_links", test_lockout_ends_other_links, NULL },
	{ "lockout_waits_for_its_denial", test_lockout_waits_for_its_denial, NULL },
	{ "rate_ip_429_on_web_port", test_rate_ip, NULL },
	{ "api_keys_bearer_header_query_401", test_api_keys, NULL },
	{ "limits_idle_tables_cost_nothing_until_used", test_idle_limit_tables_cost_nothing, NULL },
	{ NULL, NULL, NULL },
};
