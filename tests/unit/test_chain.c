/*
 * test_chain: the audit chain's canonical encoding and hash against vectors
 * computed outside this code (Python's hashlib over the README's encoding),
 * and the verify walk: an intact chain passes, and changing any one field of
 * any one row, the id, prev_hash or hash, removing or reordering a row, each
 * breaks it at that row with the reason that names the change.
 */
#include "unit.h"

#include "chain.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROWS 6

/* Row 1 of the vectors: every kind of field, a NULL and an empty one. */
static void row1(struct chain_row *r)
{
	static const char *const f[CHAIN_FIELDS] = {
		"2026-11-28T18:48:08.123Z", "approved", "AAAAAAAAAAAAAAAAAAAAAA", "c1",
		"+5215550001111", "f", "127.0.0.1", NULL, "",
	};

	memset(r, 0, sizeof *r);
	r->id = 1;
	for (int i = 0; i < CHAIN_FIELDS; i++) {
		r->f[i] = f[i];
		r->len[i] = f[i] ? strlen(f[i]) : 0;
	}
	r->prev_hash = chain_genesis;
	r->prev_len = CHAIN_HASH_HEX;
}

static void test_encoding_known_answer(void **state)
{
	static const char want[] =
		"1:124:2026-11-28T18:48:08.123Z8:approved22:AAAAAAAAAAAAAAAAAAAAAA2:c114:+5215550001111"
		"1:f9:127.0.0.1-0:0000000000000000000000000000000000000000000000000000000000000000";
	struct chain_row r;
	char out[512];
	size_t n;

	(void)state;
	row1(&r);
	n = chain_encode(&r, out, sizeof out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	/* Too small a buffer: the full length comes back, the prefix is right. */
	memset(out, 'Z', sizeof out);
	assert_int_equal(chain_encode(&r, out, 10), strlen(want));
	assert_memory_equal(out, want, 10);
	assert_int_equal(out[10], 'Z');
	assert_int_equal(chain_encode(&r, NULL, 0), strlen(want));
}

static void test_hash_known_answers(void **state)
{
	struct chain_row r, r2 = { .id = 2 }, r3 = { .id = 3 };
	char h1[CHAIN_HASH_HEX + 1], h2[CHAIN_HASH_HEX + 1], h3[CHAIN_HASH_HEX + 1];
	char *big = xmalloc(10003);

	(void)state;
	row1(&r);
	chain_row_hash(&r, h1);
	assert_string_equal(h1, "1e25f7e7182598b052eb1764a44e7d4dbbc74a22ec5620d3ab23d3d9a7c3835a");

	/* Only ts and event set: seven "-". */
	r2.f[CHAIN_TS] = "2026-11-28T18:48:09.000Z";
	r2.f[CHAIN_EVENT] = "minted";
	r2.len[CHAIN_TS] = strlen(r2.f[CHAIN_TS]);
	r2.len[CHAIN_EVENT] = strlen(r2.f[CHAIN_EVENT]);
	r2.prev_hash = h1;
	r2.prev_len = strlen(h1);
	chain_row_hash(&r2, h2);
	assert_string_equal(h2, "5b3e5f32e354dd136b83952f27c7952d4d5fb709445ad3009a64e12a55825240");

	/* Multi-byte UTF-8 (lengths are bytes) and a message past the stack buffer. */
	big[0] = '{';
	memset(big + 1, 'x', 10000);
	big[10001] = '}';
	big[10002] = '\0';
	r3.f[CHAIN_TS] = "2026-11-28T18:48:10.000Z";
	r3.f[CHAIN_EVENT] = "denied";
	r3.f[CHAIN_USER_AGENT] = "\xc3\xb1";
	r3.f[CHAIN_REFDATA] = big;
	for (int i = 0; i < CHAIN_FIELDS; i++)
		r3.len[i] = r3.f[i] ? strlen(r3.f[i]) : 0;
	r3.prev_hash = h2;
	r3.prev_len = strlen(h2);
	assert_int_equal(chain_encode(&r3, NULL, 0), 10119);
	chain_row_hash(&r3, h3);
	assert_string_equal(h3, "d33c607a0dec52eea76d2a43a1e03721735300e7e66ec872da0210053b973ca2");

	/* The writer's reusable hasher gives the same answers, one after another. */
	{
		struct crypto_sha256_ctx *h = crypto_sha256_ctx_new();
		char again[CHAIN_HASH_HEX + 1];

		chain_row_hash_with(h, &r, again);
		assert_string_equal(again, h1);
		chain_row_hash_with(h, &r3, again);
		assert_string_equal(again, h3);
		chain_row_hash_with(h, &r2, again);
		assert_string_equal(again, h2);
		crypto_sha256_ctx_free(h);
	}
	free(big);
}

static void test_null_is_not_empty(void **state)
{
	struct chain_row r;
	char a[CHAIN_HASH_HEX + 1], b[CHAIN_HASH_HEX + 1];

	(void)state;
	row1(&r);
	chain_row_hash(&r, a);
	r.f[CHAIN_USER_AGENT] = "";          /* was NULL */
	chain_row_hash(&r, b);
	assert_string_not_equal(a, b);
	/* Moving a byte across a field boundary changes the hash too. */
	row1(&r);
	r.f[CHAIN_FLOW] = "f1";
	r.len[CHAIN_FLOW] = 2;
	r.f[CHAIN_IP] = "27.0.0.1";
	r.len[CHAIN_IP] = 8;
	chain_row_hash(&r, b);
	assert_string_not_equal(a, b);
}

/* A chain of NROWS rows built the way the writer builds it. */
struct chain {
	char text[NROWS][CHAIN_FIELDS][48];
	char prev[NROWS][CHAIN_HASH_HEX + 1];
	char hash[NROWS][CHAIN_HASH_HEX + 1];
	struct chain_row row[NROWS];
};

static void chain_build(struct chain *c)
{
	memset(c, 0, sizeof *c);
	for (int i = 0; i < NROWS; i++) {
		struct chain_row *r = &c->row[i];

		r->id = i + 1;
		for (int k = 0; k < CHAIN_FIELDS; k++) {
			snprintf(c->text[i][k], sizeof c->text[i][k], "row %d field %d", i + 1, k);
			r->f[k] = c->text[i][k];
			r->len[k] = strlen(c->text[i][k]);
		}
		if (i == 2) {
			r->f[CHAIN_REFDATA] = NULL;   /* a NULL field in the chain */
			r->len[CHAIN_REFDATA] = 0;
		}
		memcpy(c->prev[i], i == 0 ? chain_genesis : c->hash[i - 1], CHAIN_HASH_HEX + 1);
		r->prev_hash = c->prev[i];
		r->prev_len = CHAIN_HASH_HEX;
		chain_row_hash(r, c->hash[i]);
		r->hash = c->hash[i];
	}
}

/* Walks rows[0..n); returns 0 intact or 1 with w filled. */
static int walk(const struct chain_row *rows, int n, struct chain_walk *w)
{
	chain_walk_init(w);
	for (int i = 0; i < n; i++)
		if (chain_walk_step(w, &rows[i]) != 0)
			return 1;
	return 0;
}

static void test_walk_intact(void **state)
{
	struct chain *c = xmalloc(sizeof *c);
	struct chain_walk w;

	(void)state;
	chain_walk_init(&w);
	assert_int_equal(w.rows, 0);
	assert_string_equal(w.head_hash, chain_genesis);
	chain_build(c);
	assert_int_equal(walk(c->row, NROWS, &w), 0);
	assert_int_equal(w.rows, NROWS);
	assert_int_equal(w.head_id, NROWS);
	assert_string_equal(w.head_hash, c->hash[NROWS - 1]);
	assert_int_equal(w.bad_id, 0);
	assert_null(w.reason);
	free(c);
}

static void expect_broken(const struct chain_row *rows, int n, int64_t bad_id, int64_t rows_ok,
                          const char *reason_part)
{
	struct chain_walk w;

	if (walk(rows, n, &w) != 1)
		fail_msg("expected the chain broken at id %lld, the walk found it intact",
		         (long long)bad_id);
	if (w.bad_id != bad_id || w.rows != rows_ok || strstr(w.reason, reason_part) == NULL)
		fail_msg("expected broken at %lld after %lld rows (\"%s\"), got %lld after %lld (\"%s\")",
		         (long long)bad_id, (long long)rows_ok, reason_part, (long long)w.bad_id,
		         (long long)w.rows, w.reason);
}

/* Every text field of every row: one changed byte, a NULL, or an empty
 * string where there was text, is seen at that row. */
/* Version 2 (a row that names its node), against hashlib over the README's
 * encoding; the first encoding of the same row is unchanged, and clearing,
 * emptying or changing the node breaks the row. */
static void test_node_encoding_v2(void **state)
{
	static const char want[] =
		"v21:124:2026-11-28T18:48:08.123Z8:approved22:AAAAAAAAAAAAAAAAAAAAAA2:c114:+5215550001111"
		"1:f9:127.0.0.1-0:6:node-a0000000000000000000000000000000000000000000000000000000000000000";
	struct chain_row r;
	struct chain_walk w;
	char out[512], h[CHAIN_HASH_HEX + 1];
	size_t n;

	(void)state;
	row1(&r);
	r.node = "node-a";
	r.node_len = 6;
	n = chain_encode(&r, out, sizeof out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	chain_row_hash(&r, h);
	assert_string_equal(h, "fb24e6e6da58d6aeabc4f8ebbd1dbc473c767928802b12ffcecafcabf4b7da1d");
	r.node_len = 0;
	chain_row_hash(&r, h);
	assert_string_equal(h, "c682779fc519e1c8bdb3d06822e6810357996db8d432164fa1ca0a38d1042322");
	r.node = NULL;
	chain_row_hash(&r, h);
	assert_string_equal(h, "1e25f7e7182598b052eb1764a44e7d4dbbc74a22ec5620d3ab23d3d9a7c3835a");

	/* A row hashed with its node, read back with the node changed or gone. */
	static const char *const tampered[] = { NULL, "node-b", "" };
	for (size_t i = 0; i < sizeof tampered / sizeof tampered[0]; i++) {
		row1(&r);
		r.node = "node-a";
		r.node_len = 6;
		chain_row_hash(&r, h);
		r.hash = h;
		chain_walk_init(&w);
		assert_int_equal(chain_walk_step(&w, &r), 0);
		r.node = tampered[i];
		r.node_len = tampered[i] ? strlen(tampered[i]) : 0;
		chain_walk_init(&w);
		assert_int_equal(chain_walk_step(&w, &r), 1);
		assert_int_equal(w.bad_id, 1);
	}
}

static void test_every_field_tamper_flips(void **state)
{
	struct chain *c = xmalloc(sizeof *c);

	(void)state;
	for (int i = 0; i < NROWS; i++) {
		for (int k = 0; k < CHAIN_FIELDS; k++) {
			for (int how = 0; how < 3; how++) {
				chain_build(c);
				if (c->row[i].f[k] == NULL) {
					c->row[i].f[k] = "";   /* NULL became "" */
					c->row[i].len[k] = 0;
				} else if (how == 0) {
					c->text[i][k][0] ^= 1;
				} else if (how == 1) {
					c->row[i].f[k] = NULL;
				} else {
					c->row[i].len[k] = 0;
				}
				expect_broken(c->row, NROWS, i + 1, i, "row was changed");
			}
		}
	}
	free(c);
}

static void test_id_prev_and_hash_tamper(void **state)
{
	struct chain *c = xmalloc(sizeof *c);
	struct chain_row rows[NROWS];

	(void)state;
	/* An id changed (and the rows after it renumbered: still seen). */
	chain_build(c);
	c->row[3].id = 40;
	expect_broken(c->row, NROWS, 40, 3, "ids are not consecutive");
	chain_build(c);
	for (int i = 3; i < NROWS; i++)
		c->row[i].id++;
	expect_broken(c->row, NROWS, 5, 3, "ids are not consecutive");
	/* The hash column edited. */
	chain_build(c);
	c->hash[2][5] = c->hash[2][5] == 'a' ? 'b' : 'a';
	expect_broken(c->row, NROWS, 3, 2, "row was changed");
	chain_build(c);
	c->row[2].hash = NULL;
	expect_broken(c->row, NROWS, 3, 2, "row was changed");
	/* prev_hash edited, or NULL. */
	chain_build(c);
	c->prev[4][0] = c->prev[4][0] == 'a' ? 'b' : 'a';
	expect_broken(c->row, NROWS, 5, 4, "prev_hash is not the previous row's hash");
	chain_build(c);
	c->row[4].prev_hash = NULL;
	expect_broken(c->row, NROWS, 5, 4, "prev_hash is not the previous row's hash");
	/* The first row with another prev_hash: rows before it were removed. */
	chain_build(c);
	expect_broken(c->row + 2, NROWS - 2, 3, 0, "first row does not start the chain");
	/* A row removed from the middle. */
	chain_build(c);
	memcpy(rows, c->row, sizeof rows);
	memmove(rows + 2, rows + 3, sizeof rows[0] * (NROWS - 3));
	expect_broken(rows, NROWS - 1, 4, 2, "ids are not consecutive");
	/* Removed and renumbered. */
	rows[2].id = 3;
	expect_broken(rows, NROWS - 1, 3, 2, "prev_hash is not the previous row's hash");
	/* Two rows swapped, ids kept in order. */
	chain_build(c);
	memcpy(rows, c->row, sizeof rows);
	rows[1] = c->row[2];
	rows[2] = c->row[1];
	rows[1].id = 2;
	rows[2].id = 3;
	expect_broken(rows, NROWS, 2, 1, "prev_hash is not the previous row's hash");
	free(c);
}

/* The id after INT64_MAX cannot be consecutive (and must not overflow). */
static void test_id_at_the_limit(void **state)
{
	struct chain_walk w;
	struct chain_row r = { .id = INT64_MAX, .prev_hash = chain_genesis,
	                       .prev_len = CHAIN_HASH_HEX };
	char h[CHAIN_HASH_HEX + 1];

	(void)state;
	chain_row_hash(&r, h);
	r.hash = h;
	chain_walk_init(&w);
	assert_int_equal(chain_walk_step(&w, &r), 0);
	r.id = INT64_MIN;
	assert_int_equal(chain_walk_step(&w, &r), 1);
	assert_int_equal(w.bad_id, INT64_MIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding_known_answer),
		cmocka_unit_test(test_hash_known_answers),
		cmocka_unit_test(test_node_encoding_v2),
		cmocka_unit_test(test_null_is_not_empty),
		cmocka_unit_test(test_walk_intact),
		cmocka_unit_test(test_every_field_tamper_flips),
		cmocka_unit_test(test_id_prev_and_hash_tamper),
		cmocka_unit_test(test_id_at_the_limit),
	};

	return cmocka_run_group_tests_name("chain", tests, NULL, NULL);
}
