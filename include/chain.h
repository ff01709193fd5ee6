/*
 * chain: the audit log's hash chain as pure functions -- the canonical
 * encoding of a row, its SHA-256 and the verify walk. No SQLite and no I/O
 * here: the writer (audit.c) hashes the rows it appends, the reader
 * (audit_export.c) feeds the rows it reads to the walk, and the unit test and
 * the fuzzer drive both directly.
 *
 * The encoding (also in the README; existing databases depend on every byte):
 *
 *   enc(x)  = "-"                     when x is NULL
 *           = decimal(len(x)) ":" x   otherwise (len in bytes; "" is "0:")
 *   msg     = enc(id) enc(ts) enc(event) enc(page_id) enc(client_id)
 *             enc(phone) enc(flow) enc(ip) enc(user_agent) enc(refdata)
 *             prev_hash
 *   hash    = lowercase hex of SHA-256(msg)
 *
 * Version 2, for a row that names its node (node_id; every row written since
 * several nodes were possible): the same with "v2" in front and the node
 * after refdata:
 *
 *   msg2    = "v2" enc(id) enc(ts) ... enc(refdata) enc(node) prev_hash
 *
 * A row without a node (written before) keeps the first encoding, so old rows
 * still verify; one with a node cannot be read as the first encoding (which
 * starts with a digit), and clearing or changing its node changes its hash.
 *
 * id is its decimal text; ts is the stored text ("2026-11-28T18:48:08.123Z");
 * prev_hash is the previous row's hash as its 64 hex characters, and 64 "0"
 * for the first row. The length prefixes make the encoding unambiguous (no
 * separator can be forged inside a field) and keep NULL apart from "".
 *
 * The walk takes the rows in id order and reports the first row whose id is
 * not the previous id + 1 (a row was removed), whose prev_hash is not the
 * previous row's hash (removed or reordered) or whose hash does not match its
 * contents (changed). A truncated tail cannot be seen from inside the rows.
 */
#ifndef MNMFA_CHAIN_H
#define MNMFA_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define CHAIN_HASH_HEX (2 * SHA256_LEN)
#define CHAIN_FIELDS 9                /* text fields hashed after the id */
#define CHAIN_V2_MARK "v2"            /* starts the encoding of a row with a node */

/* The text fields in their hashed order: f[CHAIN_TS] .. f[CHAIN_REFDATA]. */
enum chain_field {
	CHAIN_TS, CHAIN_EVENT, CHAIN_PAGE_ID, CHAIN_CLIENT_ID, CHAIN_PHONE, CHAIN_FLOW, CHAIN_IP,
	CHAIN_USER_AGENT, CHAIN_REFDATA
};

/* 64 '0': the prev_hash of the first row. */
extern const char chain_genesis[CHAIN_HASH_HEX + 1];

/* One row as stored. f[i] is NULL for SQL NULL, else len[i] bytes (not
 * necessarily NUL-terminated). prev_hash and hash are NUL-terminated as read
 * (NULL when the column is NULL); prev_len is prev_hash's stored length. */
struct chain_row {
	int64_t id;
	const char *f[CHAIN_FIELDS];
	size_t len[CHAIN_FIELDS];
	const char *node;                 /* NULL: a row of the first encoding */
	size_t node_len;
	const char *prev_hash;
	size_t prev_len;
	const char *hash;                 /* ignored by chain_row_hash */
};

/* Writes the canonical encoding of r (its msg) into out, at most cap bytes;
 * returns the full length, like snprintf (out may be NULL when cap is 0). */
size_t chain_encode(const struct chain_row *r, char *out, size_t cap);

/* The row's hash: lowercase hex of SHA-256(chain_encode(r)). */
void chain_row_hash(const struct chain_row *r, char out[CHAIN_HASH_HEX + 1]);
/* The same through a reusable hasher (the writer's: no allocation per row). */
struct crypto_sha256_ctx;
void chain_row_hash_with(struct crypto_sha256_ctx *h, const struct chain_row *r,
                         char out[CHAIN_HASH_HEX + 1]);

/* The walk's state and result. Zeroed by chain_walk_init. */
struct chain_walk {
	int64_t rows;                       /* rows checked and intact */
	int64_t head_id;                    /* newest intact row; 0 when none */
	char head_hash[CHAIN_HASH_HEX + 1]; /* its hash; chain_genesis when none */
	int64_t bad_id;                     /* the first bad row's id, 0 while intact */
	const char *reason;                 /* static text, NULL while intact */
};

void chain_walk_init(struct chain_walk *w);

/* Checks the next row (in id order) against the rows before it. 0 intact
 * so far; 1 broken at this row (bad_id and reason set; stop walking). */
int chain_walk_step(struct chain_walk *w, const struct chain_row *r);

#endif
