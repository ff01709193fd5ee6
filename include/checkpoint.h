/*
 * checkpoint: signed checkpoints of the audit chain. An Ed25519 key
 * (audit_key, OpenSSL) signs the chain head -- the newest row's id and hash --
 * so that someone who can write the database but does not hold the key
 * cannot rewrite and rechain the rows a checkpoint covers: the checkpoint's
 * hash no longer matches, and a new signature cannot be made.
 *
 * This file owns the key (generated at first start beside db_path like the
 * development certificate, mode 0600, never in the database), the signed
 * message, signing and checking one checkpoint, and the verify walk's
 * checkpoint half (pure: it is fed rows and checkpoints in order). Storing
 * checkpoints is the signer's (checkpoint_signer below, called by the audit
 * writer after a group commits and at close); reading them is audit_export.c's.
 *
 * The signed message (every byte matters to old checkpoints):
 *   "mnmfa-checkpoint-v1\n" decimal(row_id) "\n" head_hash "\n" ts "\n"
 * row_id is the newest covered row, head_hash its 64-hex hash, ts the signing
 * time as stored ("2026-11-28T18:48:08.123Z"). The signature and the public
 * key are stored as lowercase hex (128 and 64 characters).
 */
#ifndef MNMFA_CHECKPOINT_H
#define MNMFA_CHECKPOINT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chain.h"

#define CHECKPOINT_KEY_NAME "audit.key"  /* audit_key's default file, beside db_path */
#define CHECKPOINT_EVERY_ROWS 1000      /* a checkpoint at least every this many rows */
#define CHECKPOINT_EVERY_MS 5000        /* and within this long of the first unsigned row */
#define CHECKPOINT_SIG_HEX 128          /* Ed25519 signature, hex */
#define CHECKPOINT_PUB_HEX 64           /* Ed25519 public key, hex */
#define CHECKPOINT_KEY_FILE_MAX 4096    /* bytes read of a key file at most */
#define CHECKPOINT_PATH_MAX 4096

struct checkpoint_key;

/* The key file: audit_key when set, else "audit.key" in db_path's directory.
 * 0, or -1 when it does not fit in cap. */
int checkpoint_key_path(const char *audit_key, const char *db_path, char *out, size_t cap);

/* The daemon's key: loads the private key at path, or generates one there
 * (0600, written to a temporary name and renamed) when the file does not
 * exist. NULL (logged) when it cannot be read, is not an Ed25519 private key
 * or cannot be written. */
struct checkpoint_key *checkpoint_key_ensure(const char *path);

/* For checking: a private key or a public key (PEM) at path. NULL with a
 * one-line reason in err. */
struct checkpoint_key *checkpoint_key_load(const char *path, char *err, size_t errlen);
void checkpoint_key_free(struct checkpoint_key *k);

/* The public key as hex (CHECKPOINT_PUB_HEX + 1 bytes) and as PEM on f. */
void checkpoint_key_public_hex(const struct checkpoint_key *k, char out[CHECKPOINT_PUB_HEX + 1]);
int checkpoint_key_public_pem(const struct checkpoint_key *k, FILE *f);

/* One stored checkpoint. */
struct checkpoint {
	int64_t id;                        /* its own row id */
	int64_t row_id;                    /* the newest audit row it covers */
	const char *head_hash, *ts, *pubkey, *signature;
};

/* The signed message of c (row_id, head_hash, ts) into out; returns its full
 * length like snprintf. */
size_t checkpoint_message(const struct checkpoint *c, char *out, size_t cap);

/* Signs c's message with k (a private key) into sig (hex). 0 or -1 (logged). */
int checkpoint_sign(const struct checkpoint_key *k, const struct checkpoint *c,
                    char sig[CHECKPOINT_SIG_HEX + 1]);

/* Whether c carries k's public key and a valid signature of its message. */
bool checkpoint_signature_ok(const struct checkpoint_key *k, const struct checkpoint *c);

/* ---- the verify walk's checkpoint half ---------------------------------- */

struct checkpoint_walk {
	const struct checkpoint_key *key;
	int64_t good;                      /* checkpoints found intact */
	int64_t good_row_id;               /* the newest row the last good checkpoint covers */
	int64_t bad_id;                    /* the first row not covered by good checkpoints, 0 */
	int64_t bad_checkpoint;            /* the failing checkpoint's id */
	const char *reason;                /* static text, NULL while intact */
};

void checkpoint_walk_init(struct checkpoint_walk *w, const struct checkpoint_key *key);

/* Checks checkpoint c against the row it names, whose hash the chain walk
 * computed (row_hash; NULL when the log has no such row). Checkpoints come in
 * row_id order, each after the chain walk passed its row. 0 intact, 1 broken
 * (bad_id = the first row after the last good checkpoint; stop). */
int checkpoint_walk_step(struct checkpoint_walk *w, const struct checkpoint *c,
                         const char *row_hash);

/* ---- the signer (the audit writer's thread) ----------------------------- */

struct checkpoint_signer;

/* Loads or generates the key at key_path and prepares the insert on db (the
 * writer's connection), starting after the newest stored checkpoint. NULL
 * (logged). */
struct checkpoint_signer *checkpoint_signer_new(sqlite3 *db, const char *key_path);
void checkpoint_signer_free(struct checkpoint_signer *s);

/* After a group committed rows up to head_id/head_hash: signs and stores a
 * checkpoint when CHECKPOINT_EVERY_ROWS rows or CHECKPOINT_EVERY_MS (monotonic)
 * have passed since the last one; with force (at close, or when the writer's
 * wait for work timed out) whenever a row is unsigned. 0, or -1 (logged; the
 * rows stay unsigned until the next try). */
int checkpoint_signer_after(struct checkpoint_signer *s, int64_t head_id, const char *head_hash,
                            bool force);

/* The monotonic time by which the writer should call checkpoint_signer_after
 * again even without new rows (an unsigned row waits at most this long), or 0
 * when every row is signed. */
int64_t checkpoint_signer_due_ms(const struct checkpoint_signer *s);

#endif
