/*
 * test_errors: SPEC §4.3 -- every field rule of the mint endpoints, unknown
 * paths, wrong methods, oversized bodies, malformed JSON and the capacity
 * bound, each with its status, error code and field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define OK_CLIENT "cid-err"
#define OK_PHONE "5215553000001"
#define OK_FLOW "FlowErr"
#define OK_DOB "1990-01-01"

struct bad {
	const char *field;           /* seed name */
	const char *value;           /* NULL: field left out */
};

static char *seed_query(const char *field, const char *value)
{
	static const char *const names[] = { "client_id", "telefono", "flow_name", "fecha_cumple" };
	const char *vals[] = { OK_CLIENT, OK_PHONE, OK_FLOW, OK_DOB };
	char *q = h_strdup("/generate_dynamic_page?");
	bool first = true;
	for (int i = 0; i < 4; i++) {
		const char *v = vals[i];
		if (field && strcmp(field, names[i]) == 0)
			v = value;
		if (v == NULL)
			continue;
		char *e = h_urlenc(v);
		char *nq = h_printf("%s%s%s=%s", q, first ? "" : "&", names[i], e);
		free(e);
		free(q);
		q = nq;
		first = false;
	}
	return q;
}

static void printable(const char *s, char *out, size_t len)
{
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)s; s && *p && k + 5 < len; p++) {
		if (*p >= 0x20 && *p < 0x7f)
			out[k++] = (char)*p;
		else
			k += (size_t)snprintf(out + k, len - k, "\\x%02x", *p);
	}
	out[k] = '\0';
}

static void run_seed_cases(struct t *t, const char *field, const char *const *values, int n,
                           bool include_missing)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	for (int i = include_missing ? -1 : 0; i < n; i++) {
		const char *v = i < 0 ? NULL : values[i];
		char *path = seed_query(field, v);
		struct resp rs;
		int rc = d_api(d, "GET", path, NULL, NULL, &rs);
		free(path);
		REQUIRE(t, rc == 0);
		char shown[200];
		printable(v ? v : "(missing)", shown, sizeof(shown));
		if (rs.status != 400) {
			FAILF(t, "expected 400 for %s=%s, got %ld (%.200s)", field, shown, rs.status, rs.body);
			resp_free(&rs);
			return;
		}
		rc = mfa_expect_error(t, &rs, 400, "invalid_request", field);
		resp_free(&rs);
		if (rc != 0) {
			t_prefix(t, "%s=%s: ", field, shown);
			return;
		}
	}
}

static void test_bad_client_id(struct t *t)
{
	static char long_id[130];
	memset(long_id, 'a', 129);
	long_id[129] = '\0';
	const char *const v[] = { "", long_id, "a b", "a/b", "cl\xc3\xa9", "a<b", "a;b", "a%b" };
	run_seed_cases(t, "client_id", v, (int)(sizeof(v) / sizeof(v[0])), true);
}

static void test_bad_telefono(struct t *t)
{
	const char *const v[] = { "", "1234567", "1234567890123456", "+52-1555000111",
	                          "abc12345678", "++5215550001111", "52155500011 1", "+",
	                          "+1234567" };
	run_seed_cases(t, "telefono", v, (int)(sizeof(v) / sizeof(v[0])), true);
}

static void test_bad_flow_name(struct t *t)
{
	static char long_flow[130];
	memset(long_flow, 'f', 129);
	long_flow[129] = '\0';
	const char *const v[] = { "", long_flow, "flow\x01x", "line\nbreak", "bad\xff utf8",
	                          "overlong \xc0\xaf", "del\x7f" };
	run_seed_cases(t, "flow_name", v, (int)(sizeof(v) / sizeof(v[0])), true);
}

static void test_bad_fecha_cumple(struct t *t)
{
	char future[11], far_future[11];
	h_date_utc(2, future);
	h_date_utc(400, far_future);
	const char *const v[] = { "", "1990-5-17", "17/05/1990", "1990-02-30", "2023-02-29",
	                          "1900-02-29", "1990-13-01", "1990-00-10", "1990-01-00",
	                          "1990-04-31", "1899-12-31", future, far_future,
	                          "1990-01-01T00:00:00", " 1990-01-01", "19900101", "199a-01-01" };
	run_seed_cases(t, "fecha_cumple", v, (int)(sizeof(v) / sizeof(v[0])), true);
}

static void test_boundaries_accepted(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	char cid[129], flow[129], wide[3 * 128 + 1], yesterday[11];
	const char *set = "Az09_.:-";
	for (int i = 0; i < 128; i++) {
		cid[i] = set[i % 8];
		flow[i] = (char)('!' + i % 90);
	}
	cid[128] = flow[128] = '\0';
	wide[0] = '\0';
	for (int i = 0; i < 128; i++)
		strcat(wide, i % 2 ? "\xc3\xb1" : "\xe6\x97\xa5");  /* ñ, 日: 128 characters */
	h_date_utc(-1, yesterday);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, cid, OK_PHONE, OK_FLOW, OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", "12345678", OK_FLOW, OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", "+123456789012345", OK_FLOW, OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, flow, OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, wide, OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, "F", OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, "Paso 2 & más=sí 🙂", OK_DOB, &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, OK_FLOW, "1900-01-01", &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, OK_FLOW, "2000-02-29", &m) == 0);
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, OK_FLOW, yesterday, &m) == 0);
}

struct v1_case {
	const char *body;
	const char *field;
};

static void test_v1_bad_fields(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	static const struct v1_case cases[] = {
		{ "{\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\"}", "client_id" },
		{ "{\"client_id\":\"a b\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\"}", "client_id" },
		{ "{\"client_id\":\"c\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\"}", "phone" },
		{ "{\"client_id\":\"c\",\"phone\":\"1234567\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\"}", "phone" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"dob\":\"1990-01-01\"}", "flow_name" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"\",\"dob\":\"1990-01-01\"}", "flow_name" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\"}", "dob" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-02-30\"}", "dob" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1899-12-31\"}", "dob" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\",\"question\":\"riddle\"}", "question" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\",\"mode\":\"essay\"}", "mode" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\",\"expires_in\":5}", "expires_in" },
		{ "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\",\"expires_in\":601}", "expires_in" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp rs;
		REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json", cases[i].body, &rs) == 0);
		int rc = mfa_expect_error(t, &rs, 400, "invalid_request", cases[i].field);
		resp_free(&rs);
		if (rc != 0) {
			t_prefix(t, "body %s: ", cases[i].body);
			return;
		}
	}
	static const char *const malformed[] = { "{not json", "[1,2]", "", "\"str\"" };
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct resp rs;
		REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json", malformed[i], &rs) == 0);
		int rc = mfa_expect_error(t, &rs, 400, "invalid_request", NULL);
		resp_free(&rs);
		if (rc != 0) {
			t_prefix(t, "malformed body '%s': ", malformed[i]);
			return;
		}
	}
}

static void test_unknown_path(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	static const char *const paths[] = { "/nope", "/v1/nope", "/v2/challenges", "/generate_dynamic_page/x",
	                                     "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA/extra", "/.env" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct resp rs;
		REQUIRE(t, d_api(d, "GET", paths[i], NULL, NULL, &rs) == 0);
		int rc = mfa_expect_error(t, &rs, 404, "not_found", NULL);
		if (rc == 0)
			rc = mfa_check_security_headers(t, &rs);
		resp_free(&rs);
		REQUIRE(t, rc == 0);
	}
}

static void test_wrong_method(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_v1(d, "cid-m", "5215553000002", "F", "1990-01-02", NULL, NULL, 0, &m) == 0);
	char *status_path = h_printf("/v1/challenges/%s", m.id);
	const struct { const char *method, *path; } cases[] = {
		{ "DELETE", "/generate_dynamic_page" },
		{ "PUT", "/generate_dynamic_page" },
		{ "PUT", "/v1/challenges" },
		{ "DELETE", "/v1/challenges" },
		{ "POST", "/healthz" },
		{ "DELETE", "/healthz" },
		{ "PUT", status_path },
		{ "POST", status_path },
		{ "PATCH", status_path },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp rs;
		int rc = d_api(d, cases[i].method, cases[i].path, "application/json", "{}", &rs);
		if (rc == 0) {
			rc = mfa_expect_error(t, &rs, 405, "method_not_allowed", NULL);
			if (rc == 0)
				rc = mfa_check_security_headers(t, &rs);
			resp_free(&rs);
		}
		if (rc != 0)
			break;
	}
	free(status_path);
	BAIL(t);
	/* A wrong method changed nothing. */
	REQUIRE(t, mfa_expect_status(t, d, &m, "pending") == 0);
}

static void test_too_large(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	size_t sizes[] = { 16 * 1024 + 1, 64 * 1024 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		char *body = malloc(n + 1);
		REQUIRE(t, body);
		const char *head = "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\","
		                   "\"dob\":\"1990-01-01\",\"pad\":\"";
		size_t hl = strlen(head);
		memcpy(body, head, hl);
		memset(body + hl, 'a', n - hl - 2);
		memcpy(body + n - 2, "\"}", 2);
		body[n] = '\0';
		struct resp rs;
		int rc = d_api(d, "POST", "/v1/challenges", "application/json", body, &rs);
		if (rc == 0) {
			rc = mfa_expect_error(t, &rs, 413, "too_large", NULL);
			resp_free(&rs);
		}
		/* The same through the seed endpoint as a form. */
		if (rc == 0) {
			const char *fh = "client_id=c&telefono=5215553000001&flow_name=F&fecha_cumple=1990-01-01&pad=";
			size_t fl = strlen(fh);
			memcpy(body, fh, fl);
			memset(body + fl, 'a', n - fl);
			body[n] = '\0';
			rc = d_api(d, "POST", "/generate_dynamic_page", "application/x-www-form-urlencoded",
			           body, &rs);
			if (rc == 0) {
				rc = mfa_expect_error(t, &rs, 413, "too_large", NULL);
				resp_free(&rs);
			}
		}
		free(body);
		REQUIRE(t, rc == 0);
	}
	/* The daemon still serves. */
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "c", OK_PHONE, OK_FLOW, OK_DOB, &m) == 0);
}

static void test_capacity(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_int(d, "max_pending", 3);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m[3];
	for (int i = 0; i < 3; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "cid-cap%d", i);
		REQUIRE(t, mfa_mint_seed(d, cid, "5215553000003", "F", "1990-01-03", &m[i]) == 0);
	}
	struct resp rs;
	REQUIRE(t, d_api(d, "GET",
	                 "/generate_dynamic_page?client_id=cid-cap3&telefono=5215553000003&flow_name=F&fecha_cumple=1990-01-03",
	                 NULL, NULL, &rs) == 0);
	int rc = mfa_expect_error(t, &rs, 503, "capacity", NULL);
	const char *ra = resp_header(&rs, "Retry-After");
	bool ra_ok = ra && atoi(ra) > 0;
	char rabuf[64];
	snprintf(rabuf, sizeof(rabuf), "%s", ra ? ra : "(none)");
	if (rc == 0)
		rc = mfa_check_security_headers(t, &rs);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	EXPECT(t, ra_ok, "expected Retry-After seconds on the 503, got %s", rabuf);
	REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json",
	                 "{\"client_id\":\"c\",\"phone\":\"5215553000001\",\"flow_name\":\"F\",\"dob\":\"1990-01-01\"}",
	                 &rs) == 0);
	rc = mfa_expect_error(t, &rs, 503, "capacity", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
}

const struct test e2e_tests_errors[] = {
	{ "mint_rejects_bad_client_id", test_bad_client_id, NULL },
	{ "mint_rejects_bad_telefono", test_bad_telefono, NULL },
	{ "mint_rejects_bad_flow_name", test_bad_flow_name, NULL },
	{ "mint_rejects_bad_fecha_cumple", test_bad_fecha_cumple, NULL },
	{ "mint_accepts_boundary_values", test_boundaries_accepted, NULL },
	{ "v1_rejects_bad_fields_and_json", test_v1_bad_fields, NULL },
	{ "api_unknown_path_404", test_unknown_path, NULL },
	{ "api_wrong_method_405", test_wrong_method, NULL },
	{ "api_body_over_16k_413", test_too_large, NULL },
	{ "api_max_pending_503_capacity", test_capacity, NULL },
	{ NULL, NULL, NULL },
};
