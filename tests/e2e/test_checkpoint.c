/*
 * test_checkpoint: evidence an intruder cannot forge without audit_key
 * (issue 10, finding 9). The daemon signs the chain head (at every stop here);
 * someone who can write the database rewrites a decision and rechains every
 * row with the documented encoding, as they could before checkpoints existed,
 * and `audit verify` must fail naming the first row after the last good
 * checkpoint. `audit pubkey` prints the key's public half; the key file is
 * 0600 and its text is never in the database. A result row inserted into the
 * outbox by hand, without the chained audit row it claims, is never sent.
 * With audit_anchor_url, the head a stop signs reaches the anchor, signed.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define CKPT_WAIT_MS 5000

static int db_run(struct t *t, sqlite3 *db, const char *q)
{
	char *err = NULL;

	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK) {
		FAILF(t, "expected \"%s\" to run, got: %s", q, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* What an intruder with write access and the README's encoding does: change
 * one row, then recompute every prev_hash and hash so the chain is whole. */
static int rewrite_and_rechain(struct t *t, const char *path, long long victim)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	char prev[CHAIN_HASH_HEX + 1], hash[CHAIN_HASH_HEX + 1], *q;
	int rc = -1;

	memcpy(prev, chain_genesis, sizeof prev);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	q = h_printf("DROP TRIGGER audit_log_no_update; "
	             "UPDATE audit_log SET event = 'approved' WHERE id = %lld;", victim);
	rc = db_run(t, db, q);
	free(q);
	if (rc != 0 || db_run(t, db, "BEGIN") != 0)
		goto out;
	rc = -1;
	if (sqlite3_prepare_v2(db, "SELECT id, ts, event, page_id, client_id, phone, flow, ip, "
	                       "user_agent, refdata, node FROM audit_log ORDER BY id", -1, &sel,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", -1,
	                       &upd, NULL) != SQLITE_OK) {
		FAILF(t, "expected the rechain statements to prepare, got: %s", sqlite3_errmsg(db));
		goto out;
	}
	while (sqlite3_step(sel) == SQLITE_ROW) {
		struct chain_row r = { .id = sqlite3_column_int64(sel, 0) };
		for (int i = 0; i < CHAIN_FIELDS; i++) {
			r.f[i] = (const char *)sqlite3_column_text(sel, i + 1);
			r.len[i] = r.f[i] ? (size_t)sqlite3_column_bytes(sel, i + 1) : 0;
		}
		r.node = (const char *)sqlite3_column_text(sel, 10);
		r.node_len = r.node ? (size_t)sqlite3_column_bytes(sel, 10) : 0;
		r.prev_hash = prev;
		r.prev_len = strlen(prev);
		chain_row_hash(&r, hash);
		sqlite3_bind_text(upd, 1, prev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(upd, 2, hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 3, r.id);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			FAILF(t, "expected the rechain update to run, got: %s", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(upd);
		memcpy(prev, hash, sizeof prev);
	}
	rc = db_run(t, db, "COMMIT");
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sqlite3_close(db);
	return rc;
}

static int verify(struct t *t, struct daemon *d, char **all)
{
	const char *argv[] = { "audit", "verify", "--db", d->db_path, NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run(t, argv, NULL, &out, &err);

	*all = h_printf("%s%s", out ? out : "", err ? err : "");
	free(out);
	free(err);
	return rc;
}

static void test_rechained_log_fails_verify(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	struct minted m;
	char *all, *key_path, *want;
	int rc;

	REQUIRE(t, d);
	/* Three runs, each ending in a clean stop that signs the head. */
	REQUIRE(t, mfa_mint_and_answer(d, "cid-k1", "5215558100001", "FlowK", "1971-01-01", true, &m) == 0);
	REQUIRE(t, d_stop(d) == 0);
	long long first_end = mfa_db_int(t, d->db_path, "SELECT max(id) FROM audit_log", NULL);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-k2", "5215558100002", "FlowK", "1971-01-02", false, &m) == 0);
	REQUIRE(t, d_stop(d) == 0);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-k3", "5215558100003", "FlowK", "1971-01-03", true, &m) == 0);
	REQUIRE(t, d_stop(d) == 0);
	BAIL(t);

	/* One checkpoint per stop, and one more whenever a run stayed idle for
	 * CHECKPOINT_EVERY_MS with rows unsigned (a slow machine): count them. */
	long long ncp = mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_checkpoint", NULL);
	EXPECT(t, ncp >= 3, "expected a signed checkpoint at each of the 3 stops, got %lld", ncp);
	rc = verify(t, d, &all);
	char *cpline = h_printf("signed checkpoints: %lld intact", ncp);
	EXPECT(t, rc == 0, "expected verify to exit 0 on the untouched log, got %d: %.300s", rc, all);
	EXPECT(t, h_contains(all, cpline), "expected verify to report \"%s\", got: %.300s", cpline, all);
	free(cpline);
	free(all);

	/* The key: beside db_path, 0600, its text not in the database. */
	key_path = h_printf("%s/audit.key", d->dir);
	struct stat sb;
	EXPECT(t, stat(key_path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	       "expected %s with mode 0600, got %s %o", key_path, stat(key_path, &sb) == 0 ? "mode" : "no file",
	       (unsigned)(sb.st_mode & 0777));
	size_t klen, dlen;
	char *key = h_read_file(key_path, &klen), *dbtext = h_read_file(d->db_path, &dlen);
	REQUIRE(t, key != NULL && dbtext != NULL);
	char *b64 = strstr(key, "-----\n");
	REQUIRE(t, b64 != NULL);
	EXPECT(t, memmem(dbtext, dlen, b64 + 6, 40) == NULL, "expected the private key's text nowhere in the database");
	free(key);
	free(dbtext);

	const char *pub[] = { "audit", "pubkey", "--key", key_path, NULL };
	char *out, *err;
	rc = h_run(t, pub, NULL, &out, &err);
	BAIL(t);
	long long cps = mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_checkpoint WHERE pubkey = "
	                                     "(SELECT pubkey FROM audit_checkpoint LIMIT 1)", NULL);
	EXPECT(t, rc == 0 && strncmp(out, "ed25519 ", 8) == 0 && strlen(out) > 8 + 64 &&
	       h_contains(out, "BEGIN PUBLIC KEY") && !h_contains(out, "PRIVATE"),
	       "expected `audit pubkey` to print \"ed25519 HEX\" and a PEM public key, got %d: %.300s%.200s",
	       rc, out, err);
	EXPECT(t, cps == ncp, "expected all %lld checkpoints signed with one key, got %lld", ncp, cps);
	free(out);
	free(err);
	free(key_path);

	/* Flip the second run's denial to an approval and rechain everything. */
	long long victim = mfa_db_int(t, d->db_path, "SELECT id FROM audit_log WHERE event = 'denied'", NULL);
	REQUIRE(t, victim > first_end);
	/* the last checkpoint before the rewritten row: the first stop's, or a
	 * timed one in the second run before the denial */
	char *q = h_printf("SELECT max(row_id) FROM audit_checkpoint WHERE row_id < %lld", victim);
	long long good = mfa_db_int(t, d->db_path, q, NULL);
	free(q);
	REQUIRE(t, good >= first_end);
	REQUIRE(t, rewrite_and_rechain(t, d->db_path, victim) == 0);
	rc = verify(t, d, &all);
	want = h_printf("broken at row id %lld:", good + 1);
	EXPECT(t, rc == 1, "expected verify to exit 1 on a rewritten, rechained log, got %d: %.300s", rc, all);
	EXPECT(t, h_contains(all, want),
	       "expected verify to name row %lld (the first after the last good checkpoint), got: %.300s",
	       good + 1, all);
	free(want);
	free(all);
}

/* A row inserted into the outbox by SQL while the daemon runs, claiming an
 * approval for a client that has none, is never sent: it fails "no evidence". */
static void test_forged_outbox_row_not_sent(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	struct minted m;
	sqlite3 *db = NULL;
	char *q;

	REQUIRE(t, d);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-real", "5215558100010", "FlowO", "1972-02-02", false, &m) == 0);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);
	long long denied = mfa_db_int(t, d->db_path, "SELECT id FROM audit_log WHERE event = 'denied'", NULL);
	long long minted = mfa_db_int(t, d->db_path, "SELECT id FROM audit_log WHERE event = 'minted'", NULL);
	BAIL(t);
	REQUIRE(t, sqlite3_open(d->db_path, &db) == SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	/* An approval pinned on the real denial, one on a minted row, one on
	 * another client's row, one on a row that does not exist. */
	q = h_printf("INSERT INTO outbox (audit_id, kind, state, created_ms, next_attempt_ms, client_id, "
	             "flow, validated, target) VALUES "
	             "(%lld, 'chatfuel', 'pending', strftime('%%s','now')*1000, 0, 'cid-real', 'FlowO', 1, 'flow'),"
	             "(%lld, 'chatfuel', 'pending', strftime('%%s','now')*1000, 0, 'cid-real', 'FlowO', 1, 'flow'),"
	             "(%lld, 'chatfuel', 'pending', strftime('%%s','now')*1000, 0, 'cid-evil', 'FlowO', 0, 'flow'),"
	             "(999999, 'chatfuel', 'pending', strftime('%%s','now')*1000, 0, 'cid-evil', 'FlowO', 1, 'flow');",
	             denied, minted, denied);
	int rc = db_run(t, db, q);
	free(q);
	sqlite3_close(db);
	REQUIRE(t, rc == 0);
	/* Make the sender look now (it also polls on its own). */
	REQUIRE(t, mfa_mint_and_answer(d, "cid-real2", "5215558100011", "FlowO", "1972-02-03", true, &m) == 0);
	REQUIRE(t, fake_wait(f, 2, H_CALL_TIMEOUT_MS) == 2);
	long long deadline = h_mono_ms() + CKPT_WAIT_MS, failed = 0;
	while (h_mono_ms() < deadline &&
	       (failed = mfa_db_int(t, d->db_path, "SELECT count(*) FROM outbox WHERE state = 'failed' AND "
	                                      "last_error LIKE 'no evidence%'", NULL)) < 4)
		h_sleep_ms(50);
	EXPECT(t, failed == 4, "expected the 4 forged outbox rows failed \"no evidence\", got %lld", failed);
	int calls = fake_quiet(f, 500);
	EXPECT(t, calls == 2, "expected only the 2 real results sent to Chatfuel, got %d calls", calls);
	for (int i = 0; i < calls; i++) {
		const struct fake_call *c = fake_call(f, i);
		EXPECT(t, !h_contains(c->path, "cid-evil"), "expected no call for cid-evil, got %s", c->path);
	}
	REQUIRE(t, d_stop(d) == 0);
	size_t loglen;
	char *log = h_read_file(d->err_path, &loglen);
	EXPECT(t, log && h_contains(log, "no evidence"), "expected the refusal logged, got none");
	free(log);
}

/* With audit_anchor_url, the checkpoint a stop signs reaches the anchor,
 * signed like the webhook, and names the head the log holds. */
static void test_anchor_receives_signed_head(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	char *base = fake_base_url(f), *url = h_printf("%s/anchor", base);
	d_set_str(d, "audit_anchor_url", url);
	d_set_str(d, "webhook_secret", "anchor-secret-7");
	free(url);
	free(base);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-anc", "5215558300001", "FlowA", "1974-04-04", true, &m) == 0);
	REQUIRE(t, d_stop(d) == 0);

	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char head[80] = "", sigdb[140] = "";
	long long row = -1;
	REQUIRE(t, sqlite3_open_v2(d->db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT row_id, head_hash, signature FROM audit_checkpoint ORDER BY id DESC "
	                       "LIMIT 1", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		row = sqlite3_column_int64(st, 0);
		snprintf(head, sizeof head, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(sigdb, sizeof sigdb, "%s", (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	REQUIRE(t, row > 0);

	const struct fake_call *last = NULL;
	for (int i = 0; i < fake_count(f); i++) {
		const struct fake_call *c = fake_call(f, i);
		if (strcmp(c->path, "/anchor") == 0)
			last = c;
	}
	REQUIRE(t, last != NULL);
	cJSON *j = cJSON_Parse(last->body);
	const cJSON *jr = j ? cJSON_GetObjectItemCaseSensitive(j, "row_id") : NULL;
	EXPECT(t, j && j_str(j, "head_hash") && strcmp(j_str(j, "head_hash"), head) == 0 &&
	       j_str(j, "signature") && strcmp(j_str(j, "signature"), sigdb) == 0 &&
	       cJSON_IsNumber(jr) && (long long)jr->valuedouble == row,
	       "expected the anchor to receive the newest checkpoint (row %lld, %s), got %.400s", row, head,
	       last->body);
	cJSON_Delete(j);
	long long ts = 0;
	char hex[129] = "";
	EXPECT(t, last->signature && sscanf(last->signature, "t=%lld,v1=%128[0-9a-fA-F]", &ts, hex) == 2,
	       "expected X-Mnmfa-Signature on the anchor post, got %s", last->signature ? last->signature : "none");
	char *msg = h_printf("%lld.%s", ts, last->body);
	unsigned char mac[32];
	unsigned int maclen = 0;
	HMAC(EVP_sha256(), "anchor-secret-7", 15, (const unsigned char *)msg, strlen(msg), mac, &maclen);
	free(msg);
	char want[65];
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", mac[i]);
	EXPECT(t, strcasecmp(want, hex) == 0, "expected v1=%s, got v1=%s", want, hex);
}

const struct test e2e_tests_checkpoint[] = {
	{ "checkpoint_rewritten_rechained_log_fails_verify", test_rechained_log_fails_verify, NULL },
	{ "checkpoint_forged_outbox_row_not_sent", test_forged_outbox_row_not_sent, NULL },
	{ "checkpoint_anchor_receives_signed_head", test_anchor_receives_signed_head, NULL },
	{ NULL, NULL, NULL },
};
