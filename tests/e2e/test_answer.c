/*
 * test_answer: the challenge page and POST /validate_answer (SPEC §5, §6):
 * the page contract, right and wrong answers, single use, forged posts,
 * identity kept server-side, expiry, entry mode, the option counts.
 */
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

static bool valid_date(const char *s, long long *days)
{
	int y, m, d, n = 0;
	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10)
		return false;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	time_t ts = timegm(&tm);
	struct tm back;
	gmtime_r(&ts, &back);
	if (back.tm_year != y - 1900 || back.tm_mon != m - 1 || back.tm_mday != d)
		return false;
	*days = (long long)ts / 86400;
	return true;
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* The option list of a choice page: n+1 distinct values, "none" among them,
 * the rest all dates (within the 121-day window around dob) or all sums. */
static int check_options(struct t *t, const struct page *pg, int choices, const char *kind,
                         const char *dob)
{
	if (pg->entry) {
		FAILF(t, "expected radio options on a choice page, got an entry input");
		return -1;
	}
	if (pg->nopt != choices + 1) {
		FAILF(t, "expected %d options (choices + none), got %d", choices + 1, pg->nopt);
		return -1;
	}
	int nnone = 0;
	long long dobdays = 0;
	valid_date(dob, &dobdays);
	for (int i = 0; i < pg->nopt; i++) {
		const char *v = pg->options[i];
		for (int k = 0; k < i; k++)
			if (strcmp(pg->options[k], v) == 0) {
				FAILF(t, "expected distinct options, got \"%s\" twice", v);
				return -1;
			}
		if (strcmp(v, "none") == 0) {
			nnone++;
			continue;
		}
		long long days;
		if (strcmp(kind, "date") == 0) {
			if (!valid_date(v, &days)) {
				FAILF(t, "expected date options YYYY-MM-DD, got \"%s\"", v);
				return -1;
			}
			if (llabs(days - dobdays) > 120) {
				FAILF(t, "expected date options within 120 days of the true date, got \"%s\"", v);
				return -1;
			}
		} else {
			if (!all_digits(v) || atoi(v) < 2 || atoi(v) > 43) {
				FAILF(t, "expected sum options 2..43, got \"%s\"", v);
				return -1;
			}
		}
	}
	if (nnone != 1) {
		FAILF(t, "expected exactly one \"none\" option, got %d", nnone);
		return -1;
	}
	return 0;
}

static void test_date_question_right(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_v1(d, "cid-date", "+5215552000001", "FlowDate", "1975-01-31", "date",
	                       NULL, 0, &m) == 0);
	struct page pg;
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	int rc = check_options(t, &pg, 4, "date", m.dob);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);
	REQUIRE(t, rc == 0);
	/* refdata is the page script's device info; it must not disturb the answer. */
	char *ref = h_urlenc("{\"tz\":\"America/Mexico_City\",\"screen\":\"390x844\"}");
	char *extra = h_printf("refdata=%s", ref);
	rc = mfa_answer(d, m.page_id, ans, extra);
	free(ref);
	free(extra);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-date", "FlowDate", true, false) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &m, "approved") == 0);
}

static void test_sum_question_right(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_v1(d, "cid-sum", "+5215552000002", "FlowSum", "1968-10-27", "sum", NULL,
	                       0, &m) == 0);
	struct page pg;
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	int rc = check_options(t, &pg, 4, "sum", m.dob);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mfa_answer(d, m.page_id, ans, NULL) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-sum", "FlowSum", true, false) == 0);
}

static void test_wrong_answer(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-wrong", "+5215552000003", "FlowWrong", "1993-04-05",
	                               false, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-wrong", "FlowWrong", false, false) == 0);
}

/* Answers to a page that is no longer (or never was) pending: the SPEC fixes
 * 303 only for right/wrong answers to a pending page; for the rest a 303 to
 * wa.me, a 404/410 page or a 400 are all read as acceptable. What is fixed is
 * that nothing is decided and nothing is sent (§6). */
static int post_raw(struct daemon *d, const char *body, long *status)
{
	struct resp rs;
	if (d_web(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs) != 0)
		return -1;
	*status = rs.status;
	int rc = 0;
	if (rs.status == 303) {
		const char *loc = resp_header(&rs, "Location");
		if (loc == NULL || strcmp(loc, H_WA_URL) != 0) {
			FAILF(d->t, "expected Location %s with the 303, got %s", H_WA_URL, loc ? loc : "(none)");
			rc = -1;
		}
	} else if (rs.status != 400 && rs.status != 404 && rs.status != 410) {
		FAILF(d->t, "expected 303 (or 400/404/410) for a post to a non-pending page, got %ld (body %s)",
		      rs.status, body);
		rc = -1;
	}
	if (rc == 0)
		rc = mfa_check_security_headers(d->t, &rs);
	resp_free(&rs);
	return rc;
}

static void test_second_answer(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	struct page pg;
	REQUIRE(t, mfa_mint_seed(d, "cid-twice", "+5215552000004", "FlowTwice", "1990-12-25", &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	char buf[40], right[40], wrong[40];
	snprintf(right, sizeof(right), "%s", mfa_right_answer(&pg, m.dob, buf));
	snprintf(wrong, sizeof(wrong), "%s", mfa_wrong_answer(&pg, right));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, m.page_id, right, NULL) == 0);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) >= 1);

	long st;
	char *body = h_printf("page_id=%s&respuesta=%s", m.page_id, wrong);
	REQUIRE(t, post_raw(d, body, &st) == 0);
	free(body);
	body = h_printf("page_id=%s&respuesta=%s", m.page_id, right);
	REQUIRE(t, post_raw(d, body, &st) == 0);
	free(body);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-twice", "FlowTwice", true, false) == 0);

	struct resp rs;
	char *path = h_printf("/%s", m.page_id);
	int rc = d_web(d, "GET", path, NULL, NULL, &rs);
	free(path);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "page status once used", 410, rs.status);
	EXPECT(t, h_contains(rs.body, H_WA_URL), "expected a link to %s on the 410 page, got none",
	       H_WA_URL);
	resp_free(&rs);
}

static void test_forged_post(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-victim", "+5215552000005", "FlowVictim", "1982-08-08", &m) == 0);
	static const char *const bodies[] = {
		"page_id=AAAAAAAAAAAAAAAAAAAAAA&respuesta=",
		"page_id=AAAAAAAAAAAAAAAAAAAAAA&respuesta=&client_id=cid-victim&flow_name=FlowVictim",
		"respuesta=",
		"page_id=&respuesta=",
		"page_id=x&respuesta=none",
		"page_id=AAAAAAAAAAAAAAAAAAAAAA&respuesta=none",
		"",
	};
	long st;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		REQUIRE(t, post_raw(d, bodies[i], &st) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 0) == 0);
	/* The real page is untouched. */
	struct page pg;
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	mfa_page_free(&pg);
}

static void test_identity_not_from_form(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	struct page pg;
	REQUIRE(t, mfa_mint_seed(d, "cid-owner", "+5215552000006", "FlowOwner", "1970-02-28", &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	char buf[40], right[40];
	snprintf(right, sizeof(right), "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, m.page_id, right,
	                      "client_id=cid-attacker&flow_name=EvilFlow&telefono=5215550009999"
	                      "&chatfuel_flow_name=EvilFlow") == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-owner", "FlowOwner", true, false) == 0);
}

static void test_page_hides_identity(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted m;
	struct page pg;
	REQUIRE(t, mfa_mint_seed(d, "cid-Zq93xLk", "+5215559876543", "FlowUniqueName42", "1988-09-19",
	                         &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	bool leak_c = h_contains(pg.html, "cid-Zq93xLk"), leak_p = h_contains(pg.html, "5559876543"),
	     leak_f = h_contains(pg.html, "FlowUniqueName42");
	mfa_page_free(&pg);
	EXPECT(t, !leak_c, "expected the page never to contain the client_id, got it there");
	EXPECT(t, !leak_p, "expected the page never to contain the phone, got it there");
	EXPECT(t, !leak_f, "expected the page never to contain the flow name, got it there");

	struct resp rs;
	char *path = h_printf("/%s", m.page_id);
	int rc = d_web(d, "GET", path, NULL, NULL, &rs);
	free(path);
	REQUIRE(t, rc == 0);
	const char *ct = resp_header(&rs, "Content-Type");
	EXPECT(t, ct && h_icontains(ct, "text/html"), "expected Content-Type text/html, got %s",
	       ct ? ct : "(none)");
	REQUIRE(t, mfa_check_security_headers(t, &rs) == 0);
	resp_free(&rs);
}

static void test_hostile_flow(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	const char *flow = "<script>x</script>";
	struct minted m;
	struct page pg;
	REQUIRE(t, mfa_mint_seed(d, "cid-xss", "+5215552000007", flow, "1999-03-03", &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	bool raw = h_contains(pg.html, "<script>x"), esc = h_contains(pg.html, "&lt;script&gt;x");
	char buf[40], right[40];
	snprintf(right, sizeof(right), "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);
	EXPECT(t, !raw, "expected the page not to contain the flow <script>x</script>, got it raw");
	EXPECT(t, !esc, "expected the page not to contain the flow at all, got it escaped");
	REQUIRE(t, mfa_answer(d, m.page_id, right, NULL) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-xss", flow, true, false) == 0);
}

static void test_expiry(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_int(d, "expiration", 10);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted ms, mv, mx;
	struct page pg;
	REQUIRE(t, mfa_mint_seed(d, "cid-exp1", "+5215552000008", "FlowExp", "1977-05-05", &ms) == 0);
	EXPECT_INT(t, "expires_in", 10, ms.expires_in);
	REQUIRE(t, mfa_mint_v1(d, "cid-exp2", "+5215552000009", "FlowExp", "1977-05-06", "sum", NULL,
	                       0, &mv) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-exp3", "+5215552000010", "FlowExp", "1977-05-07", "date", NULL,
	                       10, &mx) == 0);
	REQUIRE(t, mfa_get_page(d, ms.page_id, &pg) == 0);
	char buf[40], right[40];
	snprintf(right, sizeof(right), "%s", mfa_right_answer(&pg, ms.dob, buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_get_page(d, mv.page_id, &pg) == 0);
	mfa_page_free(&pg);

	/* Expiry is enforced on every read, not by a sweeper's schedule:
	 * 1.2 s after expires_at the page is gone. */
	long long latest = ms.expires_at > mx.expires_at ? ms.expires_at : mx.expires_at;
	while ((long long)time(NULL) < latest + 1)
		h_sleep_ms(100);
	h_sleep_ms(200);

	const char *ids[] = { ms.page_id, mv.page_id, mx.page_id };
	for (int i = 0; i < 3; i++) {
		struct resp rs;
		char *path = h_printf("/%s", ids[i]);
		int rc = d_web(d, "GET", path, NULL, NULL, &rs);
		free(path);
		REQUIRE(t, rc == 0);
		EXPECT_INT(t, "status of an expired page", 404, rs.status);
		EXPECT(t, h_contains(rs.body, H_WA_URL),
		       "expected a link to %s on the expired page, got none", H_WA_URL);
		resp_free(&rs);
	}
	char *body = h_printf("page_id=%s&respuesta=%s", ms.page_id, right);
	long st;
	int rc = post_raw(d, body, &st);
	free(body);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 0) == 0);
	REQUIRE(t, mfa_expect_status(t, d, &mv, "expired") == 0);
	REQUIRE(t, mfa_expect_status(t, d, &mx, "expired") == 0);
}

static void test_entry_mode(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted ms, md;
	struct page pg;
	REQUIRE(t, mfa_mint_v1(d, "cid-entry-sum", "+5215552000011", "FlowEntry", "1981-11-29", "sum",
	                       "entry", 0, &ms) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-entry-date", "+5215552000012", "FlowEntry", "1981-11-30",
	                       "date", "entry", 0, &md) == 0);
	REQUIRE(t, mfa_get_page(d, ms.page_id, &pg) == 0);
	bool entry = pg.entry;
	mfa_page_free(&pg);
	EXPECT(t, entry, "expected a single respuesta entry input in entry mode, got radio options");
	REQUIRE(t, mfa_get_page(d, md.page_id, &pg) == 0);
	entry = pg.entry;
	mfa_page_free(&pg);
	EXPECT(t, entry, "expected a single respuesta entry input in entry mode, got radio options");
	REQUIRE(t, mfa_answer(d, ms.page_id, "40", NULL) == 0);       /* 11 + 29 */
	REQUIRE(t, mfa_answer(d, md.page_id, "1981-11-30", NULL) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-entry-sum"), "cid-entry-sum", "FlowEntry", true,
	                          false) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-entry-date"), "cid-entry-date", "FlowEntry",
	                          true, false) == 0);
}

static void test_choices_config(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_int(d, "choices", 8);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	struct page pg;
	REQUIRE(t, mfa_mint_v1(d, "cid-ch8", "+5215552000013", "FlowCh", "1960-06-15", "date", NULL,
	                       0, &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	int rc = check_options(t, &pg, 8, "date", m.dob);
	mfa_page_free(&pg);
	REQUIRE(t, rc == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-ch8s", "+5215552000013", "FlowCh", "1960-06-15", "sum", NULL,
	                       0, &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	rc = check_options(t, &pg, 8, "sum", m.dob);
	mfa_page_free(&pg);
	REQUIRE(t, rc == 0);
}

static void test_question_random(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	int dates = 0, sums = 0;
	for (int i = 0; i < 16; i++) {
		struct minted m;
		struct page pg;
		char cid[32];
		snprintf(cid, sizeof(cid), "cid-rnd%d", i);
		REQUIRE(t, mfa_mint_v1(d, cid, "+5215552000014", "FlowRnd", "1985-05-20", "random", NULL,
		                       0, &m) == 0);
		REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
		bool is_date = false;
		for (int k = 0; k < pg.nopt; k++)
			if (strchr(pg.options[k], '-'))
				is_date = true;
		int rc = check_options(t, &pg, 4, is_date ? "date" : "sum", m.dob);
		mfa_page_free(&pg);
		REQUIRE(t, rc == 0);
		if (is_date)
			dates++;
		else
			sums++;
	}
	EXPECT(t, dates > 0 && sums > 0,
	       "expected question \"random\" to give both kinds over 16 challenges, got %d date and %d sum",
	       dates, sums);
}

const struct test e2e_tests_answer[] = {
	{ "answer_date_question_right_validates", test_date_question_right, NULL },
	{ "answer_sum_question_right_validates", test_sum_question_right, NULL },
	{ "answer_wrong_sends_false", test_wrong_answer, NULL },
	{ "answer_second_post_decides_nothing", test_second_answer, NULL },
	{ "answer_forged_page_sends_nothing", test_forged_post, NULL },
	{ "answer_identity_never_read_from_form", test_identity_not_from_form, NULL },
	{ "page_hides_client_phone_flow", test_page_hides_identity, NULL },
	{ "page_hostile_flow_name_not_rendered", test_hostile_flow, NULL },
	{ "expired_page_404_and_nothing_sent", test_expiry, NULL },
	{ "entry_mode_accepts_typed_answer", test_entry_mode, NULL },
	{ "page_option_count_follows_choices", test_choices_config, NULL },
	{ "question_random_gives_both_kinds", test_question_random, NULL },
	{ NULL, NULL, NULL },
};
