/*
 * test_audit: the audit log (SPEC §8) through the CLI (`audit verify`,
 * `audit head`, `audit export`) and, with the sqlite3 shell, the file itself:
 * WAL mode, the validation_logs view, no date of birth stored, and a changed
 * row breaking the chain at that row.
 */
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define SQLITE3 "/usr/bin/sqlite3"

static char *sql(struct t *t, const char *db, const char *stmt, int *rc)
{
	const char *argv[] = { SQLITE3, "-batch", "-noheader", db, stmt, NULL };
	char *out, *err;
	*rc = h_run_prog(t, argv, NULL, &out, &err);
	if (*rc != 0 && !t->failed)
		FAILF(t, "expected sqlite3 \"%s\" to succeed, got %d: %.200s", stmt, *rc, err);
	free(err);
	return out;
}

static bool has_number_token(const char *s, long long n)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", n);
	size_t l = strlen(num);
	for (const char *p = s; (p = strstr(p, num)) != NULL; p++) {
		bool left = p == s || !isdigit((unsigned char)p[-1]);
		bool right = !isdigit((unsigned char)p[l]);
		if (left && right)
			return true;
	}
	return false;
}

static bool file_has(const char *path, const char *needle)
{
	size_t len;
	char *buf = h_read_file(path, &len);
	if (buf == NULL)
		return false;
	bool found = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_audit(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-a1", "5215558000001", "FlowAudit", "1966-02-11", true, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-a2", "5215558000002", "FlowAudit", "1966-02-12", false, &m) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-a3", "5215558000003", "FlowAudit", "1966-02-13", NULL, NULL, 0, &m) == 0);
	char *path = h_printf("/v1/challenges/%s", m.id);
	struct resp rs;
	int rc = d_api(d, "DELETE", path, NULL, NULL, &rs);
	free(path);
	REQUIRE(t, rc == 0);
	resp_free(&rs);
	REQUIRE(t, fake_wait(f, 2, H_CALL_TIMEOUT_MS) == 2);
	REQUIRE(t, d_stop(d) == 0);

	char *out, *err;
	const char *verify[] = { "audit", "verify", "--db", d->db_path, NULL };
	rc = h_run(t, verify, NULL, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit verify` to exit 0 on an intact log, got %d (%.200s%.200s)", rc, out, err);
	EXPECT(t, out[0] != '\0', "expected `audit verify` to print rows checked and head hash, got nothing");
	free(out);
	free(err);

	const char *head[] = { "audit", "head", "--db", d->db_path, NULL };
	rc = h_run(t, head, NULL, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit head` to exit 0, got %d", rc);
	int hexrun = 0, best = 0;
	for (const char *p = out; *p; p++) {
		hexrun = isxdigit((unsigned char)*p) ? hexrun + 1 : 0;
		if (hexrun > best)
			best = hexrun;
	}
	EXPECT(t, best >= 64, "expected `audit head` to print a SHA-256 hash, got \"%.200s\"", out);
	free(out);
	free(err);

	const char *exp[] = { "audit", "export", "--db", d->db_path, "--format", "jsonl", NULL };
	rc = h_run(t, exp, NULL, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `audit export --format jsonl` to exit 0, got %d", rc);
	int lines = 0;
	char *copy = h_strdup(out);
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(line);
		bool obj = cJSON_IsObject(j);
		cJSON_Delete(j);
		if (!obj) {
			free(copy);
			EXPECT(t, false, "expected one JSON object per jsonl line, got \"%.200s\"", line);
		}
		lines++;
	}
	free(copy);
	EXPECT(t, lines >= 6, "expected >= 6 audit rows (3 minted, approved, denied, canceled), got %d", lines);
	static const char *const events[] = { "minted", "approved", "denied", "canceled", "cid-a1", "FlowAudit" };
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		EXPECT(t, h_contains(out, events[i]), "expected \"%s\" in the audit export, got none", events[i]);
	static const char *const dobs[] = { "1966-02-11", "1966-02-12", "1966-02-13" };
	for (size_t i = 0; i < 3; i++)
		EXPECT(t, !h_contains(out, dobs[i]), "expected no date of birth in the audit export, got %s", dobs[i]);
	free(out);
	free(err);

	const char *csv[] = { "audit", "export", "--db", d->db_path, "--format", "csv", NULL };
	rc = h_run(t, csv, NULL, &out, &err);
	BAIL(t);
	int nl = 0;
	for (const char *p = out; *p; p++)
		nl += *p == '\n';
	EXPECT(t, rc == 0 && nl >= 6, "expected `audit export --format csv` to exit 0 with >= 6 lines, got %d, %d lines", rc, nl);
	free(out);
	free(err);

	const char *since[] = { "audit", "export", "--db", d->db_path, "--format", "jsonl", "--since",
	                        "2999-01-01T00:00:00Z", NULL };
	rc = h_run(t, since, NULL, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0 && strchr(out, '{') == NULL,
	       "expected `audit export --since 2999-...` to exit 0 with no rows, got %d: %.200s", rc, out);
	free(out);
	free(err);

	/* The file itself: no date of birth in any byte. */
	char *wal = h_printf("%s-wal", d->db_path);
	for (size_t i = 0; i < 3; i++) {
		EXPECT(t, !file_has(d->db_path, dobs[i]), "expected no date of birth stored in %s, got %s",
		       d->db_path, dobs[i]);
		EXPECT(t, !file_has(wal, dobs[i]), "expected no date of birth stored in %s, got %s", wal, dobs[i]);
	}
	free(wal);
}

static void test_audit_sqlite(struct t *t)
{
	if (access(SQLITE3, X_OK) != 0) {
		FAILF(t, "expected the sqlite3 shell at %s (Debian package sqlite3), got none", SQLITE3);
		return;
	}
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-s1", "5215558000004", "FlowSql", "1966-03-01", true, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-s2", "5215558000005", "FlowSql", "1966-03-02", false, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-s3", "5215558000006", "FlowSql", "1966-03-03", true, &m) == 0);
	REQUIRE(t, fake_wait(f, 3, H_CALL_TIMEOUT_MS) == 3);
	REQUIRE(t, d_stop(d) == 0);

	int rc;
	char *out = sql(t, d->db_path, "PRAGMA journal_mode;", &rc);
	BAIL(t);
	EXPECT(t, h_icontains(out, "wal"), "expected journal_mode wal, got %s", out);
	free(out);
	out = sql(t, d->db_path, "SELECT count(*) FROM validation_logs;", &rc);
	BAIL(t);
	EXPECT(t, atoi(out) == 2, "expected 2 approved rows in validation_logs, got %s", out);
	free(out);
	out = sql(t, d->db_path, "SELECT id, date, telefono, autorizacion FROM validation_logs LIMIT 1;", &rc);
	BAIL(t);
	free(out);

	/* Change one row in the middle, as someone with the file could, and
	 * drop any trigger that would stop them. */
	out = sql(t, d->db_path, "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log';", &rc);
	BAIL(t);
	char *copy = h_strdup(out);
	for (char *save = NULL, *name = strtok_r(copy, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		char *drop = h_printf("DROP TRIGGER \"%s\";", name);
		free(sql(t, d->db_path, drop, &rc));
		free(drop);
	}
	free(copy);
	free(out);
	out = sql(t, d->db_path, "SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 2;", &rc);
	BAIL(t);
	long long victim = atoll(out);
	free(out);
	EXPECT(t, victim > 0, "expected an audit_log row id, got %lld", victim);
	char *upd = h_printf("UPDATE audit_log SET client_id='cid-tampered' WHERE id=%lld;", victim);
	free(sql(t, d->db_path, upd, &rc));
	free(upd);
	BAIL(t);

	const char *verify[] = { "audit", "verify", "--db", d->db_path, NULL };
	char *err;
	rc = h_run(t, verify, NULL, &out, &err);
	BAIL(t);
	char *all = h_printf("%s%s", out, err);
	EXPECT(t, rc == 1, "expected `audit verify` to exit 1 after a row changed, got %d (%.200s)", rc, all);
	EXPECT(t, has_number_token(all, victim), "expected `audit verify` to name row %lld, got \"%.200s\"",
	       victim, all);
	free(all);
	free(out);
	free(err);
}

/* The audit row holds the server-observed client IP (X-Forwarded-For only
 * from trusted_proxies), the user agent and the page's refdata. */
/* A newest row whose hash is not 64 hex digits (the log edited by hand):
 * the daemon refuses to start, naming the row and what to do, instead of
 * chaining new evidence to garbage. */
static void test_malformed_head_refuses_start(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-head", "5215557100003", "FlowHead", "1980-07-01", &m) == 0);
	REQUIRE(t, d_stop(d) == 0);
	sqlite3 *db = NULL;
	REQUIRE(t, sqlite3_open(d->db_path, &db) == SQLITE_OK);
	char *e = NULL;
	int rc = sqlite3_exec(db, "DROP TRIGGER audit_log_no_update;"
	                          "UPDATE audit_log SET hash = substr(hash, 1, 20) WHERE id = (SELECT max(id) FROM audit_log);",
	                      NULL, NULL, &e);
	sqlite3_close(db);
	EXPECT(t, rc == SQLITE_OK, "expected to cut the newest hash, got %s", e ? e : "?");
	sqlite3_free(e);
	const char *args[] = { "serve", "--config", d->config_path, NULL };
	char *out, *err;
	rc = h_run(t, args, NULL, &out, &err);
	BAIL(t);
	char *tail = h_tail(err, 3);
	EXPECT(t, rc == 1, "expected exit 1 on a malformed chain head, got %d (stderr: %s)", rc, tail);
	EXPECT(t, strstr(err, "malformed hash (20 characters") != NULL && strstr(err, "audit verify") != NULL,
	       "expected stderr to name the malformed hash and `audit verify`, got %s", tail);
	free(tail);
	free(out);
	free(err);
}

static void test_audit_ip(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	const char *ref = "{\"tz\":\"Zone/E2E_Marker\"}";
	for (int trusted = 0; trusted < 2; trusted++) {
		struct daemon *d = d_new(t, f);
		REQUIRE(t, d);
		if (trusted) {
			const char *cidrs[] = { "127.0.0.0/8" };
			cJSON_AddItemToObject(d->cfg, "trusted_proxies", cJSON_CreateStringArray(cidrs, 1));
		}
		REQUIRE(t, d_start(d, NULL) == 0);
		struct minted m;
		struct page pg;
		REQUIRE(t, mfa_mint_seed(d, "cid-ip", "5215558000007", "FlowIp", "1966-04-01", &m) == 0);
		REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
		char buf[40], ans[40];
		snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, m.dob, buf));
		mfa_page_free(&pg);
		char *r = h_urlenc(ref);
		char *body = h_printf("page_id=%s&respuesta=%s&refdata=%s", m.page_id, ans, r);
		free(r);
		static const char *const hdrs[] = { "X-Forwarded-For: 203.0.113.77",
		                                    "User-Agent: e2e-agent/4.2", NULL };
		struct resp rs;
		int rc = d_web_h(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body,
		                 hdrs, &rs);
		free(body);
		REQUIRE(t, rc == 0);
		EXPECT_INT(t, "answer status", 303, rs.status);
		resp_free(&rs);
		REQUIRE(t, d_stop(d) == 0);
		const char *exp[] = { "audit", "export", "--db", d->db_path, "--format", "jsonl", NULL };
		char *out, *err;
		rc = h_run(t, exp, NULL, &out, &err);
		BAIL(t);
		bool fwd = h_contains(out, "203.0.113.77"), lo = h_contains(out, "127.0.0.1");
		bool ua = h_contains(out, "e2e-agent/4.2"), rd = h_contains(out, "Zone/E2E_Marker");
		free(out);
		free(err);
		EXPECT(t, rc == 0, "expected audit export to exit 0, got %d", rc);
		if (trusted) {
			EXPECT(t, fwd, "expected X-Forwarded-For 203.0.113.77 in the audit row from a trusted proxy, got none");
		} else {
			EXPECT(t, !fwd, "expected X-Forwarded-For ignored without trusted_proxies, got 203.0.113.77 in the audit");
			EXPECT(t, lo, "expected the observed IP 127.0.0.1 in the audit, got none");
		}
		EXPECT(t, ua, "expected the user agent in the audit row, got none");
		EXPECT(t, rd, "expected the page's refdata in the audit row, got none");
	}
}

const struct test e2e_tests_audit[] = {
	{ "audit_cli_verify_head_export", test_audit, NULL },
	{ "audit_db_wal_view_and_tamper_detected", test_audit_sqlite, NULL },
	{ "audit_records_ip_agent_refdata_trusted_proxies", test_audit_ip, NULL },
	{ "audit_malformed_head_refuses_start", test_malformed_head_refuses_start, NULL },
	{ NULL, NULL, NULL },
};
