/*
 * test_web: the web port's pages (SPEC §5), the security headers on every
 * kind of response of both ports, /healthz and /metrics, the API port over
 * plain HTTP (api_tls false) and the generated certificate.
 */
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

static void test_landing(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct resp rs;
	REQUIRE(t, d_web(d, "GET", "/", NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "GET / status", 200, rs.status);
	const char *ct = resp_header(&rs, "Content-Type");
	EXPECT(t, ct && h_icontains(ct, "text/html"), "expected Content-Type text/html, got %s",
	       ct ? ct : "(none)");
	EXPECT(t, rs.len > 0, "expected a landing page body, got an empty one");
	EXPECT(t, html_tags(rs.body, "form", NULL, 0) == 0,
	       "expected no answer form on the landing page, got one");
	REQUIRE(t, mfa_check_security_headers(t, &rs) == 0);
	resp_free(&rs);
}

static void test_unknown_page(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	static const char *const paths[] = { "/AAAAAAAAAAAAAAAAAAAAAA", "/zz", "/abc-def_123" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct resp rs;
		REQUIRE(t, d_web(d, "GET", paths[i], NULL, NULL, &rs) == 0);
		long st = rs.status;
		bool link = h_contains(rs.body, "href=\"" H_WA_URL) || h_contains(rs.body, "href='" H_WA_URL);
		int rc = mfa_check_security_headers(t, &rs);
		resp_free(&rs);
		EXPECT(t, st == 404, "expected 404 for GET %s, got %ld", paths[i], st);
		EXPECT(t, link, "expected a \"back to chat\" link to %s on the 404 page for %s, got none",
		       H_WA_URL, paths[i]);
		REQUIRE(t, rc == 0);
	}
}

static int get_expect(struct t *t, struct daemon *d, bool web, const char *method,
                      const char *path, const char *ctype, const char *body, long status)
{
	struct resp rs;
	int rc = web ? d_web(d, method, path, ctype, body, &rs) : d_api(d, method, path, ctype, body, &rs);
	if (rc != 0)
		return -1;
	if (rs.status != status) {
		FAILF(t, "expected %ld from %s, got %ld", status, rs.desc, rs.status);
		rc = -1;
	} else {
		rc = mfa_check_security_headers(t, &rs);
		if (rc == 0 && !web && strcmp(path, "/metrics") != 0)
			rc = mfa_check_json_ctype(t, &rs);
	}
	resp_free(&rs);
	return rc;
}

static void test_security_headers(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted used, canceled, open;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-h1", "5215554000001", "F", "1990-03-01", true, &used) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-h2", "5215554000002", "F", "1990-03-02", NULL, NULL, 0, &canceled) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-h3", "5215554000003", "F", "1990-03-03", NULL, NULL, 0, &open) == 0);
	char *del = h_printf("/v1/challenges/%s", canceled.id);
	char *status = h_printf("/v1/challenges/%s", open.id);
	char *p_used = h_printf("/%s", used.page_id), *p_can = h_printf("/%s", canceled.page_id);
	char *p_open = h_printf("/%s", open.page_id);
	int rc = 0;
	/* API port */
	if (rc == 0)
		rc = get_expect(t, d, false, "GET", "/healthz", NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, false, "GET", "/metrics", NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, false, "GET", status, NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, false, "DELETE", del, NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, false, "GET", "/generate_dynamic_page?client_id=x", NULL, NULL, 400);
	if (rc == 0)
		rc = get_expect(t, d, false, "GET", "/nope", NULL, NULL, 404);
	if (rc == 0)
		rc = get_expect(t, d, false, "PUT", "/v1/challenges", "application/json", "{}", 405);
	if (rc == 0)
		rc = get_expect(t, d, false, "POST", "/v1/challenges", "application/json",
	                      "{\"client_id\":\"cid-h4\",\"phone\":\"5215554000004\",\"flow_name\":\"F\",\"dob\":\"1990-03-04\"}",
	                      201);
	/* web port */
	if (rc == 0)
		rc = get_expect(t, d, true, "GET", "/", NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, true, "GET", "/healthz", NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, true, "GET", p_open, NULL, NULL, 200);
	if (rc == 0)
		rc = get_expect(t, d, true, "GET", p_used, NULL, NULL, 410);
	if (rc == 0)
		rc = get_expect(t, d, true, "GET", p_can, NULL, NULL, 410);
	if (rc == 0)
		rc = get_expect(t, d, true, "GET", "/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, 404);
	t_secret(t, "1990-03-04");
	free(del);
	free(status);
	free(p_used);
	free(p_can);
	free(p_open);
	REQUIRE(t, rc == 0);
	/* 303 from /validate_answer: checked inside mfa_answer. */
	struct page pg;
	REQUIRE(t, mfa_get_page(d, open.page_id, &pg) == 0);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, open.dob, buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, open.page_id, ans, NULL) == 0);
}

static void test_healthz(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	for (int tls = 1; tls >= 0; tls--) {
		struct daemon *d = d_new(t, f);
		REQUIRE(t, d);
		d_set_bool(d, "api_tls", tls);
		REQUIRE(t, d_start(d, NULL) == 0);
		for (int web = 0; web < 2; web++) {
			struct resp rs;
			REQUIRE(t, (web ? d_web(d, "GET", "/healthz", NULL, NULL, &rs)
			                : d_api(d, "GET", "/healthz", NULL, NULL, &rs)) == 0);
			EXPECT_INT(t, "healthz status", 200, rs.status);
			REQUIRE(t, mfa_check_json_ctype(t, &rs) == 0);
			cJSON *j = resp_json(t, &rs);
			REQUIRE(t, j);
			EXPECT(t, cJSON_GetArraySize(j) == 1 && j_str(j, "status") &&
			       strcmp(j_str(j, "status"), "ok") == 0,
			       "expected {\"status\":\"ok\"} from %s, got %s", rs.desc, rs.body);
			cJSON_Delete(j);
			resp_free(&rs);
		}
		REQUIRE(t, d_stop(d) == 0);
	}
}

static void test_api_plain(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_bool(d, "api_tls", false);
	REQUIRE(t, d_start(d, NULL) == 0);
	/* plain HTTP answers (d_start polled it) and TLS does not */
	char *url = h_printf("https://127.0.0.1:%d/healthz", d->api_port);
	struct req rq = { .url = url, .cainfo = d->cert_path };
	struct resp rs;
	int rc = h_http(NULL, &rq, &rs);
	free(url);
	resp_free(&rs);
	EXPECT(t, rc != 0, "expected no TLS on the API port with api_tls false, got an HTTPS answer");
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-plain", "5215554000005", "FlowPlain", "1990-03-05",
	                               true, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-plain", "FlowPlain", true, false) == 0);
	REQUIRE(t, get_expect(t, d, false, "GET", "/nope", NULL, NULL, 404) == 0);
	/* and with api_tls true, plain HTTP is not served on the API port */
	struct daemon *d2 = d_new(t, f);
	REQUIRE(t, d2);
	REQUIRE(t, d_start(d2, NULL) == 0);
	url = h_printf("http://127.0.0.1:%d/healthz", d2->api_port);
	struct req rq2 = { .url = url };
	rc = h_http(NULL, &rq2, &rs);
	long st = rs.status;
	free(url);
	resp_free(&rs);
	/* no HTTP answer of any status: the TLS handshake fails and the
	 * connection closes */
	EXPECT(t, rc != 0, "expected no plain-HTTP service on the API port with api_tls true, got %ld", st);
}

/* The /static/... paths a challenge page references; every reference must
 * stay on the page's own host. Returns the count (paths allocated). */
static int page_static_refs(struct t *t, struct daemon *d, char *paths[32])
{
	struct minted m;
	struct page pg;
	if (mfa_mint_seed(d, "cid-assets", "5215554000006", "F", "1990-03-06", &m) != 0 ||
	    mfa_get_page(d, m.page_id, &pg) != 0)
		return -1;
	static const struct { const char *tag, *attr; } refs[] = {
		{ "script", "src" }, { "link", "href" }, { "img", "src" }, { "iframe", "src" },
		{ "source", "src" }, { "object", "data" }, { "form", "action" },
	};
	int np = 0;
	for (size_t r = 0; r < sizeof(refs) / sizeof(refs[0]) && !t->failed; r++) {
		struct tag tg[16];
		int n = html_tags(pg.html, refs[r].tag, tg, 16);
		if (n > 16)
			n = 16;
		for (int i = 0; i < n; i++) {
			const char *v = tag_attr(&tg[i], refs[r].attr);
			if (v == NULL || strncmp(v, "data:", 5) == 0)
				continue;
			if (strstr(v, "//") != NULL) {
				FAILF(t, "expected the page to reference only its own host, got <%s %s=\"%s\">",
				      refs[r].tag, refs[r].attr, v);
				break;
			}
			if (strncmp(v, "/static/", 8) == 0 && np < 32)
				paths[np++] = h_strdup(v);
		}
		tags_free(tg, n);
	}
	mfa_page_free(&pg);
	return t->failed ? -1 : np;
}

static void test_page_assets(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	char *paths[32];
	int np = page_static_refs(t, d, paths);
	REQUIRE(t, np >= 0);
	for (int i = 0; i < np; i++) {
		struct resp rs;
		REQUIRE(t, d_web(d, "GET", paths[i], NULL, NULL, &rs) == 0);
		EXPECT(t, rs.status == 200 && rs.len > 0, "expected 200 with a body for GET %s, got %ld",
		       paths[i], rs.status);
		/* Cache-Control on assets is its own test below. */
		REQUIRE(t, mfa_check_security_headers_opt(t, &rs, false) == 0);
		resp_free(&rs);
		free(paths[i]);
	}
}

/* SPEC §5: "Every response carries Cache-Control: no-store" -- the page's
 * own static assets included. */
/* Issue 5 (newer than SPEC §5's "every response no-store", and so it wins for
 * /static/): the page's own assets are versioned (?v=HASH) and cached for a
 * year with an ETag that revalidates to 304; they still carry every other
 * security header. Everything else stays no-store (security_headers_*). */
static void test_static_cached_with_etag(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	char *paths[32];
	int np = page_static_refs(t, d, paths);
	REQUIRE(t, np >= 0);
	EXPECT(t, np > 0, "expected the page to reference /static/ assets, got none");
	for (int i = 0; i < np; i++) {
		struct resp rs;
		REQUIRE(t, d_web(d, "GET", paths[i], NULL, NULL, &rs) == 0);
		const char *cc = resp_header(&rs, "Cache-Control");
		const char *etag = resp_header(&rs, "ETag");
		char shown[128], tag[64];
		snprintf(shown, sizeof(shown), "%s", cc ? cc : "(none)");
		snprintf(tag, sizeof(tag), "%s", etag ? etag : "");
		EXPECT(t, h_contains(paths[i], "?v="), "expected a versioned asset URL, got %s", paths[i]);
		EXPECT(t, cc && h_icontains(cc, "max-age=31536000") && h_icontains(cc, "immutable"),
		       "expected long-lived caching on GET %s, got \"%s\"", paths[i], shown);
		EXPECT(t, etag != NULL, "expected an ETag on GET %s", paths[i]);
		mfa_check_security_headers_opt(t, &rs, false);
		resp_free(&rs);
		if (tag[0] != '\0') {
			char line[96];
			snprintf(line, sizeof(line), "If-None-Match: %s", tag);
			const char *hdr[] = { line, NULL };
			REQUIRE(t, d_web_h(d, "GET", paths[i], NULL, NULL, hdr, &rs) == 0);
			EXPECT_INT(t, "conditional GET status", 304, rs.status);
			resp_free(&rs);
		}
		free(paths[i]);
	}
}

static void test_metrics(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-metrics", "5215554000007", "F", "1990-03-07", &m) == 0);
	struct resp rs;
	REQUIRE(t, d_api(d, "GET", "/metrics", NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "GET /metrics status", 200, rs.status);
	const char *ct = resp_header(&rs, "Content-Type");
	EXPECT(t, ct && h_icontains(ct, "text/plain"),
	       "expected Prometheus text (Content-Type text/plain), got %s", ct ? ct : "(none)");
	EXPECT(t, h_contains(rs.body, "# TYPE "), "expected # TYPE lines in /metrics, got %.200s",
	       rs.body);
	EXPECT(t, !h_contains(rs.body, "1990-03-07") && !h_contains(rs.body, "cid-metrics"),
	       "expected no request data in /metrics, got %.200s", rs.body);
	resp_free(&rs);
}

static void test_autogen_cert(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct stat st;
	EXPECT(t, stat(d->cert_path, &st) == 0, "expected tls_autogen to write %s, got none",
	       d->cert_path);
	EXPECT(t, stat(d->key_path, &st) == 0, "expected tls_autogen to write %s, got none",
	       d->key_path);
	/* STYLE: keys are written with mode 0600. */
	EXPECT(t, (st.st_mode & 077) == 0, "expected the generated key to be mode 0600, got %03o",
	       (unsigned)(st.st_mode & 0777));
	/* A restart reuses the pair rather than generating a new one. */
	char *before = h_read_file(d->cert_path, NULL);
	REQUIRE(t, d_stop(d) == 0);
	REQUIRE(t, d_start(d, NULL) == 0);
	char *after = h_read_file(d->cert_path, NULL);
	bool same = before && after && strcmp(before, after) == 0;
	free(before);
	free(after);
	EXPECT(t, same, "expected the existing certificate to be reused on restart, got a new one");
}

static int page_lang(struct t *t, struct daemon *d, const char *page_id, const char *accept,
                     char out[8])
{
	char *path = h_printf("/%s", page_id);
	char *hdr = accept ? h_printf("Accept-Language: %s", accept) : NULL;
	const char *hdrs[] = { hdr, NULL };
	struct resp rs;
	int rc = d_web_h(d, "GET", path, NULL, NULL, hdrs, &rs);
	free(path);
	free(hdr);
	if (rc != 0)
		return -1;
	struct tag tg[1];
	int n = html_tags(rs.body, "html", tg, 1);
	const char *l = n == 1 ? tag_attr(&tg[0], "lang") : NULL;
	snprintf(out, 8, "%s", l ? l : "");
	if (n >= 1)
		tags_free(tg, 1);
	if (rs.status != 200) {
		FAILF(t, "expected 200 for the page, got %ld", rs.status);
		rc = -1;
	} else if (l == NULL) {
		FAILF(t, "expected <html lang=...> on the page, got none");
		rc = -1;
	}
	resp_free(&rs);
	return rc;
}

static void test_page_lang(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted plain, en;
	REQUIRE(t, mfa_mint_seed(d, "cid-lang1", "5215554000008", "F", "1990-03-08", &plain) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-lang2", "5215554000009", "F", "1990-03-09", NULL, NULL, 0, &en) == 0);
	/* a per-challenge lang through the seed endpoint */
	struct resp rs;
	t_secret(t, "1990-03-10");
	REQUIRE(t, d_api(d, "GET",
	                 "/generate_dynamic_page?client_id=cid-lang3&telefono=5215554000010&flow_name=F&fecha_cumple=1990-03-10&lang=en",
	                 NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "mint with lang=en status", 200, rs.status);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	char pid_en[64];
	snprintf(pid_en, sizeof(pid_en), "%s", j_str(j, "page_id") ? j_str(j, "page_id") : "");
	cJSON_Delete(j);
	resp_free(&rs);
	char l[8];
	REQUIRE(t, page_lang(t, d, plain.page_id, NULL, l) == 0);
	EXPECT_STR(t, "page language by default", "es", l);
	REQUIRE(t, page_lang(t, d, plain.page_id, "en-US,en;q=0.9", l) == 0);
	EXPECT_STR(t, "page language with Accept-Language en-US", "en", l);
	REQUIRE(t, page_lang(t, d, pid_en, NULL, l) == 0);
	EXPECT_STR(t, "page language of a challenge minted with lang=en", "en", l);
	REQUIRE(t, page_lang(t, d, en.page_id, "fr-FR", l) == 0);
	EXPECT_STR(t, "page language with an unsupported Accept-Language", "es", l);
}

static void test_brand_escaped(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	d_set_str(d, "brand_name", "Banco A&B <Norte>");
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	struct page pg;
	REQUIRE(t, mfa_mint_seed(d, "cid-brand", "5215554000011", "F", "1990-03-11", &m) == 0);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	bool raw = h_contains(pg.html, "<Norte>");
	bool esc = h_contains(pg.html, "Banco A&amp;B &lt;Norte&gt;");
	mfa_page_free(&pg);
	EXPECT(t, !raw, "expected brand_name escaped in the page, got it raw");
	EXPECT(t, esc, "expected the brand name \"Banco A&amp;B &lt;Norte&gt;\" on the page, got none");
}

static void test_sighup_reload(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	char *dir = h_printf("%s/newpair", t->dir);
	const char *args[] = { "gen-cert", "--out", dir, NULL };
	char *out, *err;
	int rc = h_run(t, args, NULL, &out, &err);
	free(out);
	free(err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected gen-cert to exit 0, got %d", rc);
	/* Put the new pair in place atomically (key first), then SIGHUP. */
	char *nk = h_printf("%s/key.pem", dir), *nc = h_printf("%s/cert.pem", dir);
	EXPECT(t, rename(nk, d->key_path) == 0 && rename(nc, d->cert_path) == 0,
	       "expected to replace the key pair, got %s", "a rename failure");
	free(nk);
	free(nc);
	free(dir);
	kill(d->pid, SIGHUP);
	/* d->cert_path now holds only the new certificate: pinned requests
	 * succeed once the daemon serves it. */
	long long deadline = h_mono_ms() + 5000;
	bool web = false, api = false;
	while (h_mono_ms() < deadline && !(web && api)) {
		struct resp rs;
		char *u1 = d_web_url(d, "/healthz"), *u2 = d_api_url(d, "/healthz");
		struct req q1 = { .url = u1, .cainfo = d->cert_path }, q2 = { .url = u2, .cainfo = d->cert_path };
		if (!web && h_http(NULL, &q1, &rs) == 0)
			web = rs.status == 200;
		resp_free(&rs);
		if (!api && h_http(NULL, &q2, &rs) == 0)
			api = rs.status == 200;
		resp_free(&rs);
		free(u1);
		free(u2);
		if (!(web && api))
			h_sleep_ms(100);
	}
	EXPECT(t, web, "expected the web port to serve the new certificate within 5 s of SIGHUP, got the old one");
	EXPECT(t, api, "expected the API port to serve the new certificate within 5 s of SIGHUP, got the old one");
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-hup", "5215554000012", "F", "1990-03-12", &m) == 0);
}

const struct test e2e_tests_web[] = {
	{ "web_landing_200", test_landing, NULL },
	{ "web_unknown_page_404_links_back", test_unknown_page, NULL },
	{ "security_headers_on_every_response_kind", test_security_headers, NULL },
	{ "healthz_both_ports_tls_and_plain", test_healthz, NULL },
	{ "api_tls_false_serves_plain_http", test_api_plain, NULL },
	{ "page_assets_local_only", test_page_assets, NULL },
	{ "static_assets_cached_with_etag", test_static_cached_with_etag, NULL },
	{ "metrics_prometheus_text", test_metrics, NULL },
	{ "tls_autogen_writes_reusable_pair", test_autogen_cert, NULL },
	{ "page_language_default_header_and_override", test_page_lang, NULL },
	{ "brand_name_html_escaped", test_brand_escaped, NULL },
	{ "sighup_reloads_certificate", test_sighup_reload, NULL },
	{ NULL, NULL, NULL },
};
