/*
 * test_checkpoint: the signed checkpoint's pure parts -- a key generated to a
 * file (0600) and read back, in private and public form; the signed message;
 * a signature that holds for its checkpoint only (any changed field, another
 * key, a bad hex); the verify walk naming the first row after the last good
 * checkpoint, and a checkpoint past the log's end (a truncated log).
 */
#include "unit.h"

#include "checkpoint.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct env {
	char dir[64], key[96], key2[96], pub[96];
	struct checkpoint_key *k, *k2;
};

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof *e);
	FILE *f;

	snprintf(e->dir, sizeof e->dir, "/tmp/mnmfa-ckpt-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->key, sizeof e->key, "%s/sub/audit.key", e->dir);
	snprintf(e->key2, sizeof e->key2, "%s/other.key", e->dir);
	snprintf(e->pub, sizeof e->pub, "%s/audit.pub", e->dir);
	e->k = checkpoint_key_ensure(e->key);
	e->k2 = checkpoint_key_ensure(e->key2);
	assert_non_null(e->k);
	assert_non_null(e->k2);
	f = fopen(e->pub, "w");
	assert_non_null(f);
	assert_int_equal(checkpoint_key_public_pem(e->k, f), 0);
	fclose(f);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	checkpoint_key_free(e->k);
	checkpoint_key_free(e->k2);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void test_key_path_default_beside_db(void **state)
{
	char p[64];

	(void)state;
	assert_int_equal(checkpoint_key_path(NULL, "/var/lib/mnmfa/logs.db", p, sizeof p), 0);
	assert_string_equal(p, "/var/lib/mnmfa/audit.key");
	assert_int_equal(checkpoint_key_path("", "logs.db", p, sizeof p), 0);
	assert_string_equal(p, "audit.key");
	assert_int_equal(checkpoint_key_path("/etc/k", "logs.db", p, sizeof p), 0);
	assert_string_equal(p, "/etc/k");
	assert_int_equal(checkpoint_key_path(NULL, "/a/very/long/directory/name/logs.db", p, 16), -1);
}

static void test_key_file_private_and_reloaded(void **state)
{
	struct env *e = *state;
	struct checkpoint_key *again, *pub;
	char h1[CHECKPOINT_PUB_HEX + 1], h2[CHECKPOINT_PUB_HEX + 1], h3[CHECKPOINT_PUB_HEX + 1];
	char err[256];
	struct stat sb;

	assert_int_equal(stat(e->key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	again = checkpoint_key_ensure(e->key);          /* loads, does not replace */
	pub = checkpoint_key_load(e->pub, err, sizeof err);
	assert_non_null(again);
	assert_non_null(pub);
	checkpoint_key_public_hex(e->k, h1);
	checkpoint_key_public_hex(again, h2);
	checkpoint_key_public_hex(pub, h3);
	assert_string_equal(h1, h2);
	assert_string_equal(h1, h3);
	assert_int_equal(strlen(h1), CHECKPOINT_PUB_HEX);
	assert_null(checkpoint_key_ensure(e->pub));     /* the daemon needs the private half */
	assert_null(checkpoint_key_load("/nonexistent/key", err, sizeof err));
	checkpoint_key_free(again);
	checkpoint_key_free(pub);
}

static void test_message_layout(void **state)
{
	struct checkpoint c = { .row_id = 42, .head_hash = "ab", .ts = "2026-12-01T10:00:00.000Z" };
	char msg[128];
	size_t n;

	(void)state;
	n = checkpoint_message(&c, msg, sizeof msg);

	assert_int_equal(n, strlen(msg));
	assert_string_equal(msg, "mnmfa-checkpoint-v1\n42\nab\n2026-12-01T10:00:00.000Z\n");
}

static const char head[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char other[] = "2222222222222222222222222222222222222222222222222222222222222222";

static void make_cp(struct checkpoint_key *k, struct checkpoint *c, int64_t id, int64_t row,
                    const char *hash, char pub[CHECKPOINT_PUB_HEX + 1], char sig[CHECKPOINT_SIG_HEX + 1])
{
	checkpoint_key_public_hex(k, pub);
	*c = (struct checkpoint){ .id = id, .row_id = row, .head_hash = hash,
	                          .ts = "2026-12-01T10:00:00.000Z", .pubkey = pub, .signature = sig };
	assert_int_equal(checkpoint_sign(k, c, sig), 0);
}

static void test_signature_holds_only_for_its_checkpoint(void **state)
{
	struct env *e = *state;
	char pub[CHECKPOINT_PUB_HEX + 1], sig[CHECKPOINT_SIG_HEX + 1], pub2[CHECKPOINT_PUB_HEX + 1];
	struct checkpoint c, x;

	make_cp(e->k, &c, 1, 10, head, pub, sig);
	assert_true(checkpoint_signature_ok(e->k, &c));
	x = c;
	x.row_id = 11;
	assert_false(checkpoint_signature_ok(e->k, &x));
	x = c;
	x.head_hash = other;
	assert_false(checkpoint_signature_ok(e->k, &x));
	x = c;
	x.ts = "2026-12-01T10:00:00.001Z";
	assert_false(checkpoint_signature_ok(e->k, &x));
	x = c;
	sig[5] = sig[5] == '0' ? '1' : '0';
	assert_false(checkpoint_signature_ok(e->k, &x));
	sig[5] = 'G';
	assert_false(checkpoint_signature_ok(e->k, &x));
	/* signed by another key: neither that key's name nor ours makes it pass */
	make_cp(e->k2, &c, 1, 10, head, pub2, sig);
	assert_false(checkpoint_signature_ok(e->k, &c));
	c.pubkey = pub;
	assert_false(checkpoint_signature_ok(e->k, &c));
}

static void test_walk_names_first_row_after_last_good(void **state)
{
	struct env *e = *state;
	char pub[CHECKPOINT_PUB_HEX + 1], s1[CHECKPOINT_SIG_HEX + 1], s2[CHECKPOINT_SIG_HEX + 1];
	struct checkpoint c1, c2;
	struct checkpoint_walk w;

	make_cp(e->k, &c1, 1, 5, head, pub, s1);
	make_cp(e->k, &c2, 2, 9, head, pub, s2);
	checkpoint_walk_init(&w, e->k);
	assert_int_equal(checkpoint_walk_step(&w, &c1, head), 0);
	assert_int_equal(checkpoint_walk_step(&w, &c2, other), 1);  /* rows 6..9 rewritten */
	assert_int_equal(w.bad_id, 6);
	assert_int_equal(w.bad_checkpoint, 2);
	assert_int_equal(w.good, 1);
	assert_non_null(strstr(w.reason, "rechained"));

	checkpoint_walk_init(&w, e->k);
	assert_int_equal(checkpoint_walk_step(&w, &c1, head), 0);
	assert_int_equal(checkpoint_walk_step(&w, &c2, NULL), 1);   /* the log ends before row 9 */
	assert_int_equal(w.bad_id, 6);
	assert_non_null(strstr(w.reason, "removed"));

	checkpoint_walk_init(&w, e->k);
	assert_int_equal(checkpoint_walk_step(&w, &c2, head), 0);
	assert_int_equal(checkpoint_walk_step(&w, &c1, head), 1);   /* out of order */
	assert_int_equal(w.bad_id, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_path_default_beside_db),
		cmocka_unit_test(test_key_file_private_and_reloaded),
		cmocka_unit_test(test_message_layout),
		cmocka_unit_test(test_signature_holds_only_for_its_checkpoint),
		cmocka_unit_test(test_walk_names_first_row_after_last_good),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
