/*
 * test_evidence: `mnmfa audit show` and `mnmfa audit report` (SPEC §2) on a
 * database written by real traffic: challenges minted through the API and
 * answered through the page with a user agent and the page's refdata. A
 * found page, a phone over a period, nothing found (exit 3), a changed row
 * shown as failing (exit 1), bad arguments (exit 2 naming the argument), and
 * a report whose values are HTML-escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define EV_REFDATA "{\"ua\":\"x\",\"lang\":\"es-MX\",\"screen\":\"390x844\",\"dpr\":3," \
                   "\"tz\":\"America/Mexico_City\",\"platform\":\"iPhone\"}"
#define EV_UA "e2e-evidence/1.0 (iPhone)"
#define EV_EXIT_NONE 3

/* Mints (seed) and answers through the page with a user agent and refdata. */
static int answer_with(struct daemon *d, const char *client_id, const char *phone,
                       const char *dob, bool right, const char *ua, const char *refdata,
                       struct minted *m)
{
	struct page pg;
	char buf[40], ans[40];

	if (mfa_mint_seed(d, client_id, phone, "FlowEvidence", dob, m) != 0 ||
	    mfa_get_page(d, m->page_id, &pg) != 0)
		return -1;
	const char *a = mfa_right_answer(&pg, dob, buf);
	snprintf(ans, sizeof(ans), "%s", right ? a : mfa_wrong_answer(&pg, a));
	mfa_page_free(&pg);
	char *r = h_urlenc(refdata), *u = h_printf("User-Agent: %s", ua);
	char *body = h_printf("page_id=%s&respuesta=%s&refdata=%s", m->page_id, ans, r);
	const char *hdrs[] = { u, NULL };
	struct resp rs;
	int rc = d_web_h(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body,
	                 hdrs, &rs);
	free(r);
	free(u);
	free(body);
	if (rc != 0)
		return -1;
	long status = rs.status;
	resp_free(&rs);
	if (status != 303) {
		FAILF(d->t, "expected the answer to be taken (303), got %ld", status);
		return -1;
	}
	return 0;
}

/* Runs `mnmfa audit ARGS... --db DB` with TZ set; returns the exit code. */
static int run_audit(struct t *t, struct daemon *d, const char *const *args, char **out, char **err)
{
	const char *argv[24];
	int n = 0;

	argv[n++] = "audit";
	for (; *args != NULL && n < 20; args++)
		argv[n++] = *args;
	argv[n++] = "--db";
	argv[n++] = d->db_path;
	argv[n] = NULL;
	const char *env[] = { "TZ=America/Mexico_City", NULL };
	return h_run(t, argv, env, out, err);
}

/* The number of lines of text that contain both a and b. */
static int lines_with(const char *text, const char *a, const char *b)
{
	int n = 0;
	char *copy = h_strdup(text);
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		n += strstr(l, a) != NULL && (b == NULL || strstr(l, b) != NULL);
	free(copy);
	return n;
}

static char *sql(struct t *t, const char *db, const char *stmt)
{
	const char *argv[] = { "/usr/bin/sqlite3", "-batch", "-noheader", db, stmt, NULL };
	char *out, *err;
	int rc = h_run_prog(t, argv, NULL, &out, &err);
	if (rc != 0 && !t->failed)
		FAILF(t, "expected sqlite3 \"%s\" to succeed, got %d: %.200s", stmt, rc, err);
	free(err);
	return out;
}

static void test_show_page(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "node_id", "node-e2e-7");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m, other;
	REQUIRE(t, answer_with(d, "cid-ev1", "5215559000001", "1971-05-17", true, EV_UA, EV_REFDATA,
	                       &m) == 0);
	REQUIRE(t, answer_with(d, "cid-ev2", "5215559000002", "1971-05-18", true, "other-agent/2",
	                       "{}", &other) == 0);
	REQUIRE(t, fake_wait(f, 2, H_CALL_TIMEOUT_MS) == 2);

	/* While the daemon runs: a reader next to the writer. */
	char *out, *err;
	const char *args[] = { "show", m.page_id, NULL };
	int rc = run_audit(t, d, args, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit show PAGE_ID` to exit 0 (found, intact), got %d: %.300s%.300s",
	       rc, out, err);
	static const char *const want[] = {
		"minted", "approved", "cid-ev1", "5215559000001", "FlowEvidence", "127.0.0.1", EV_UA,
		"390x844", "es-MX", "America/Mexico_City", "iPhone", "CST", "checkpoint: ",
		"chain: intact", "node node-e2e-7",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		EXPECT(t, h_contains(out, want[i]), "expected \"%s\" in `audit show`, got:\n%.1500s",
		       want[i], out);
	EXPECT_INT(t, "rows shown with chain ok (minted, approved)", 2, lines_with(out, "chain ok", NULL));
	EXPECT(t, h_contains(out, "question date") || h_contains(out, "question sum"),
	       "expected the question's kind from the minted row, got:\n%.1500s", out);
	EXPECT(t, !h_contains(out, "cid-ev2") && !h_contains(out, other.page_id),
	       "expected only the selected page's rows, got the other challenge's:\n%.1500s", out);
	EXPECT(t, !h_contains(out, "1971-05-17"), "expected no date of birth in `audit show`, got it");
	free(out);
	free(err);
}

/* Sleeps past the next whole second and returns it, as RFC 3339 (UTC). */
static void next_second(char out[32])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h_sleep_ms(1000 - ts.tv_nsec / 1000000 + 20);
	time_t s = ts.tv_sec + 1;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void test_show_phone_period(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted early, late, other;
	REQUIRE(t, answer_with(d, "cid-ph1", "5215559000011", "1980-01-02", true, EV_UA, EV_REFDATA,
	                       &early) == 0);
	char t1[32];
	next_second(t1);
	REQUIRE(t, answer_with(d, "cid-ph2", "5215559000011", "1980-01-02", false, EV_UA, EV_REFDATA,
	                       &late) == 0);
	REQUIRE(t, answer_with(d, "cid-ph3", "5215559000012", "1980-01-02", true, EV_UA, EV_REFDATA,
	                       &other) == 0);
	REQUIRE(t, fake_wait(f, 3, H_CALL_TIMEOUT_MS) == 3);
	REQUIRE(t, d_stop(d) == 0);

	char *out, *err;
	/* The whole history of the phone, written with a '+' this time. */
	const char *all[] = { "show", "--phone", "+5215559000011", NULL };
	int rc = run_audit(t, d, all, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit show --phone` to exit 0, got %d: %.300s", rc, err);
	EXPECT(t, h_contains(out, early.page_id) && h_contains(out, late.page_id),
	       "expected both challenges of the phone, got:\n%.1500s", out);
	EXPECT(t, h_contains(out, "4 rows match"), "expected \"4 rows match\" (2 minted, approved, denied), got:\n%.600s", out);
	EXPECT_INT(t, "rows shown signed by the checkpoint made at the stop", 4,
	           lines_with(out, "signed: checkpoint ", NULL));
	EXPECT(t, !h_contains(out, "5215559000012"), "expected no other phone's rows, got them");
	free(out);
	free(err);

	const char *since[] = { "show", "--phone", "5215559000011", "--since", t1, NULL };
	rc = run_audit(t, d, since, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit show --phone --since` to exit 0, got %d: %.300s", rc, err);
	EXPECT(t, h_contains(out, late.page_id) && !h_contains(out, early.page_id),
	       "expected only the challenge after --since %s, got:\n%.1500s", t1, out);
	EXPECT(t, h_contains(out, "denied") && !h_contains(out, "approved"),
	       "expected the later challenge's denial only, got:\n%.1500s", out);
	free(out);
	free(err);

	const char *until[] = { "show", "--phone", "5215559000011", "--until", t1, NULL };
	rc = run_audit(t, d, until, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit show --phone --until` to exit 0, got %d: %.300s", rc, err);
	EXPECT(t, h_contains(out, early.page_id) && !h_contains(out, late.page_id),
	       "expected only the challenge before --until %s, got:\n%.1500s", t1, out);
	free(out);
	free(err);

	const char *client[] = { "show", "--client", "cid-ph3", NULL };
	rc = run_audit(t, d, client, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0 && h_contains(out, other.page_id) && !h_contains(out, early.page_id),
	       "expected `audit show --client cid-ph3` to show that client's challenge only, got %d:\n%.1500s",
	       rc, out);
	free(out);
	free(err);
}

static void test_show_nothing(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, answer_with(d, "cid-none", "5215559000021", "1975-07-07", true, EV_UA, EV_REFDATA,
	                       &m) == 0);
	REQUIRE(t, d_stop(d) == 0);

	static const char *const sels[][4] = {
		{ "show", "AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL },
		{ "show", "-AAAAAAAAAAAAAAAAAAAAA", NULL, NULL },     /* ids may begin with '-' */
		{ "show", "--phone", "5215559999999", NULL },
		{ "show", "--client", "cid-nobody", NULL },
	};
	for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		char *out, *err;
		int rc = run_audit(t, d, sels[i], &out, &err);
		BAIL(t);
		EXPECT(t, rc == EV_EXIT_NONE, "expected `audit show %s %s` to exit %d (nothing matches), got %d: %.300s",
		       sels[i][1], sels[i][2] ? sels[i][2] : "", EV_EXIT_NONE, rc, out);
		EXPECT(t, h_contains(out, "no audit rows match"),
		       "expected \"no audit rows match\", got:\n%.600s", out);
		free(out);
		free(err);
	}
	/* Outside the period: the page exists, but not then. */
	const char *late[] = { "show", m.page_id, "--since", "2999-01-01", NULL };
	char *out, *err;
	int rc = run_audit(t, d, late, &out, &err);
	BAIL(t);
	EXPECT(t, rc == EV_EXIT_NONE, "expected exit %d for a period without rows, got %d", EV_EXIT_NONE, rc);
	free(out);
	free(err);
}

static void test_show_tampered(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted a, b;
	REQUIRE(t, answer_with(d, "cid-tm1", "5215559000031", "1969-09-09", true, EV_UA, EV_REFDATA,
	                       &a) == 0);
	REQUIRE(t, answer_with(d, "cid-tm2", "5215559000031", "1969-09-09", true, EV_UA, EV_REFDATA,
	                       &b) == 0);
	REQUIRE(t, fake_wait(f, 2, H_CALL_TIMEOUT_MS) == 2);
	REQUIRE(t, d_stop(d) == 0);

	/* Someone with the file changes the second page's approval (its IP) after
	 * dropping the append-only triggers. */
	free(sql(t, d->db_path, "DROP TRIGGER audit_log_no_update;"));
	BAIL(t);
	char *q = h_printf("SELECT id FROM audit_log WHERE page_id='%s' AND event='approved';", b.page_id);
	char *idtext = sql(t, d->db_path, q);
	free(q);
	BAIL(t);
	long long victim = atoll(idtext);
	free(idtext);
	EXPECT(t, victim > 0, "expected the approved row's id, got %lld", victim);
	/* ... and plants terminal escapes: ESC[2J, a C1 CSI (U+009B) and a bare 0x9B byte. */
	q = h_printf("UPDATE audit_log SET ip='198.51.100.9', user_agent='ua' || char(27) || '[2J' ||"
	             " char(155) || CAST(X'9B' AS TEXT) || 'end' WHERE id=%lld;", victim);
	free(sql(t, d->db_path, q));
	free(q);
	BAIL(t);

	char *out, *err;
	const char *phone[] = { "show", "--phone", "5215559000031", NULL };
	int rc = run_audit(t, d, phone, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 1, "expected `audit show` to exit 1 when a row shown fails verification, got %d:\n%.1500s",
	       rc, out);
	char *mark = h_printf("#%lld ", victim);
	EXPECT(t, h_contains(out, mark), "expected row %s in the output, got:\n%.1500s", mark, out);
	free(mark);
	EXPECT_INT(t, "rows shown failing", 1, lines_with(out, "chain FAILS", "changed"));
	EXPECT_INT(t, "rows shown intact (both minted rows, the first approval)", 3,
	           lines_with(out, "chain ok", NULL));
	EXPECT(t, h_contains(out, "BROKEN"), "expected the header to say the chain is broken, got:\n%.800s", out);
	EXPECT(t, h_contains(out, "ua?[2J??end"), "expected the planted controls shown as '?', got:\n%.1500s", out);
	EXPECT(t, strchr(out, 0x1b) == NULL && strchr(out, (char)0x9b) == NULL,
	       "expected no escape or C1 control byte printed to the terminal, got one");
	free(out);
	free(err);

	/* The first page's rows all come before the changed row: intact, exit 0. */
	const char *first[] = { "show", a.page_id, NULL };
	rc = run_audit(t, d, first, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected exit 0 for rows before the break, got %d:\n%.1500s", rc, out);
	EXPECT(t, h_contains(out, "BROKEN"), "expected the header to still report the break, got:\n%.800s", out);
	free(out);
	free(err);

	/* The report says the same. */
	char *html = h_printf("%s/tampered.html", t->dir);
	const char *rep[] = { "report", "--phone", "5215559000031", "--out", html, "--lang", "en", NULL };
	rc = run_audit(t, d, rep, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 1, "expected `audit report` to exit 1 with a failing row, got %d: %.300s", rc, err);
	free(out);
	free(err);
	char *doc = h_read_file(html, NULL);
	free(html);
	EXPECT(t, doc && h_contains(doc, "FAILS: hash does not match"),
	       "expected the report to mark the changed row as failing, got %.300s", doc ? doc : "(none)");
	free(doc);
}

struct bad_case {
	const char *args[8];
	const char *names;           /* what stderr must mention */
};

static const struct bad_case bad_cases[] = {
	{ { "show", NULL }, "PAGE_ID" },
	{ { "show", "--phone", "5215559000041", "--client", "cid-x", NULL }, "--client" },
	{ { "show", "--phone", NULL }, "--phone" },
	{ { "show", "--phone", "", NULL }, "--phone" },
	{ { "show", "not-a-page-id", NULL }, "PAGE_ID" },
	{ { "show", "--client", "c", "--since", "yesterday", NULL }, "--since" },
	{ { "show", "--client", "c", "--until", "2026-13-01", NULL }, "--until" },
	{ { "show", "--client", "c", "--since", "2026-11-02", "--until", "2026-11-01", NULL }, "--until" },
	{ { "show", "--client", "c", "--bogus", NULL }, "--bogus" },
	{ { "report", "--client", "c", NULL }, "--out" },
	{ { "report", "--client", "c", "--out", "x.html", "--lang", "fr", NULL }, "--lang" },
};

static void test_bad_args(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *out, *err;
		int rc = run_audit(t, d, bad_cases[i].args, &out, &err);
		BAIL(t);
		EXPECT(t, rc == 2, "expected exit 2 for bad arguments (case %zu, %s), got %d: %.300s",
		       i, bad_cases[i].names, rc, err);
		EXPECT(t, h_contains(err, bad_cases[i].names),
		       "expected the message to name %s (case %zu), got \"%.300s\"", bad_cases[i].names, i, err);
		free(out);
		free(err);
	}
}

static void test_report_escaped(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	const char *ua = "Evil/1 <script>alert(1)</script> \"q\" 'a' & co";
	const char *ref = "{\"screen\":\"<img src=x onerror=alert(2)>\",\"lang\":\"en-US\","
	                  "\"tz\":\"Europe/Madrid\"}";
	REQUIRE(t, answer_with(d, "cid-html", "5215559000051", "1988-08-08", true, ua, ref,
	                       &m) == 0);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);
	REQUIRE(t, d_stop(d) == 0);

	char *html = h_printf("%s/report.html", t->dir);
	const char *args[] = { "report", m.page_id, "--out", html, "--lang", "en", NULL };
	char *out, *err;
	int rc = run_audit(t, d, args, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit report` to exit 0, got %d: %.300s%.300s", rc, out, err);
	free(out);
	free(err);
	size_t len;
	char *doc = h_read_file(html, &len);
	EXPECT(t, doc != NULL && len > 0, "expected the report at %s, got none", html);
	struct stat st;
	EXPECT(t, stat(html, &st) == 0 && (st.st_mode & 077) == 0,
	       "expected the report to be private (0600), got mode %o", (unsigned)st.st_mode & 0777);
	free(html);

	EXPECT(t, h_contains(doc, "Evil/1 &lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; &#39;a&#39; &amp; co"),
	       "expected the user agent HTML-escaped in the report, got %.200s", doc);
	EXPECT(t, h_contains(doc, "&lt;img src=x onerror=alert(2)&gt;"),
	       "expected the device screen HTML-escaped in the report, got none");
	static const char *const never[] = { "<script", "<img", "<link", "@import", "url(",
	                                     "http://", "https://", "1988-08-08" };
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		EXPECT(t, !h_icontains(doc, never[i]), "expected no \"%s\" in the report, got one", never[i]);
	const char *const want[] = { "<style>", "@page", "Europe/Madrid", "mnmfa audit verify",
	                                    "signed checkpoints (Ed25519, audit_key) intact, covering rows up to id",
	                                    "signed at", m.page_id, "127.0.0.1" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		EXPECT(t, h_contains(doc, want[i]), "expected \"%s\" in the report, got none", want[i]);
	free(doc);

	/* Only the report in the directory: the temporary name was renamed. */
	DIR *dir = opendir(t->dir);
	EXPECT(t, dir != NULL, "expected to list %s", t->dir);
	int tmp = 0;
	for (struct dirent *e; (e = readdir(dir)) != NULL;)
		tmp += strstr(e->d_name, ".tmp") != NULL;
	closedir(dir);
	EXPECT_INT(t, "temporary files left next to the report", 0, tmp);

	/* Nothing matches: exit 3, and the report says so in Spanish. */
	char *none = h_printf("%s/none.html", t->dir);
	const char *args2[] = { "report", "--phone", "5215559999999", "--out", none, NULL };
	rc = run_audit(t, d, args2, &out, &err);
	BAIL(t);
	EXPECT(t, rc == EV_EXIT_NONE, "expected `audit report` to exit %d when nothing matches, got %d",
	       EV_EXIT_NONE, rc);
	free(out);
	free(err);
	doc = h_read_file(none, NULL);
	free(none);
	EXPECT(t, doc && h_contains(doc, "lang=\"es\"") && h_contains(doc, "Ninguna fila"),
	       "expected a Spanish report saying nothing matches, got %.200s", doc ? doc : "(none)");
	free(doc);
}

const struct test e2e_tests_evidence[] = {
	{ "evidence_show_page_found", test_show_page, NULL },
	{ "evidence_show_phone_over_period", test_show_phone_period, NULL },
	{ "evidence_show_nothing_matches_exit_3", test_show_nothing, NULL },
	{ "evidence_show_tampered_row_fails_exit_1", test_show_tampered, NULL },
	{ "evidence_bad_arguments_exit_2", test_bad_args, NULL },
	{ "evidence_report_escaped_self_contained", test_report_escaped, NULL },
	{ NULL, NULL, NULL },
};
