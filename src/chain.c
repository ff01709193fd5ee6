/*
 * chain: the canonical row encoding, the row hash and the verify walk (see
 * include/chain.h for the encoding). Pure: only SHA-256 from crypto.c.
 */
#include "chain.h"
#include "crypto.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN_STACK_MSG 8192          /* rows up to this size are hashed without malloc */

const char chain_genesis[CHAIN_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* Appends n bytes at *pos, as far as cap allows; *pos counts them all. */
static void put(char *out, size_t cap, size_t *pos, const void *p, size_t n)
{
	if (*pos < cap)
		memcpy(out + *pos, p, n < cap - *pos ? n : cap - *pos);
	*pos += n;
}

/* Appends the decimal digits of v (snprintf costs more than the hash of a
 * short field: every row encodes eleven numbers). */
static void put_decimal(char *out, size_t cap, size_t *pos, uint64_t v)
{
	char num[24];
	size_t k = sizeof num;

	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(out, cap, pos, num + k, sizeof num - k);
}

static void put_field(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (s == NULL) {
		put(out, cap, pos, "-", 1);
		return;
	}
	put_decimal(out, cap, pos, n);
	put(out, cap, pos, ":", 1);
	put(out, cap, pos, s, n);
}

size_t chain_encode(const struct chain_row *r, char *out, size_t cap)
{
	char num[24];
	size_t pos = 0, k = 0;

	if (r->node != NULL)
		put(out, cap, &pos, CHAIN_V2_MARK, strlen(CHAIN_V2_MARK));
	/* The id is encoded like a field: its length, ':', its digits. */
	if (r->id < 0)
		put(num, sizeof num, &k, "-", 1);
	put_decimal(num, sizeof num, &k, r->id < 0 ? -(uint64_t)r->id : (uint64_t)r->id);
	put_field(out, cap, &pos, num, k);
	for (int i = 0; i < CHAIN_FIELDS; i++)
		put_field(out, cap, &pos, r->f[i], r->len[i]);
	if (r->node != NULL)
		put_field(out, cap, &pos, r->node, r->node_len);
	if (r->prev_hash != NULL)
		put(out, cap, &pos, r->prev_hash, r->prev_len);
	return pos;
}

void chain_row_hash(const struct chain_row *r, char out[CHAIN_HASH_HEX + 1])
{
	chain_row_hash_with(NULL, r, out);
}

void chain_row_hash_with(struct crypto_sha256_ctx *h, const struct chain_row *r,
                         char out[CHAIN_HASH_HEX + 1])
{
	char stack[CHAIN_STACK_MSG];
	uint8_t md[SHA256_LEN];
	size_t n = chain_encode(r, stack, sizeof stack);
	char *msg = stack;

	if (n > sizeof stack) {
		msg = xmalloc(n);
		chain_encode(r, msg, n);
	}
	if (h != NULL)
		crypto_sha256_ctx_digest(h, msg, n, md);
	else
		crypto_sha256(msg, n, md);
	if (msg != stack)
		free(msg);
	hex_encode(md, sizeof md, out);
}

void chain_walk_init(struct chain_walk *w)
{
	memset(w, 0, sizeof *w);
	memcpy(w->head_hash, chain_genesis, sizeof w->head_hash);
}

int chain_walk_step(struct chain_walk *w, const struct chain_row *r)
{
	char calc[CHAIN_HASH_HEX + 1];

	w->bad_id = r->id;
	if (w->rows > 0 && (w->head_id == INT64_MAX || r->id != w->head_id + 1)) {
		w->reason = "the row before it is missing (ids are not consecutive)";
		return 1;
	}
	/* head_hash is what this row's prev_hash must be: the previous row's
	 * hash, or the genesis hash before the first row. */
	if (r->prev_hash == NULL || strcmp(r->prev_hash, w->head_hash) != 0) {
		w->reason = w->rows == 0 && strcmp(w->head_hash, chain_genesis) == 0 ?
		            "the first row does not start the chain (rows before it were removed)" :
		            "prev_hash is not the previous row's hash (a row was removed or reordered)";
		return 1;
	}
	chain_row_hash(r, calc);
	if (r->hash == NULL || strcmp(r->hash, calc) != 0) {
		w->reason = "hash does not match the row's contents (the row was changed)";
		return 1;
	}
	memcpy(w->head_hash, calc, sizeof calc);
	w->head_id = r->id;
	w->rows++;
	w->bad_id = 0;
	return 0;
}
