/*
 * audit_export: reading the audit log -- verify a database file's chain,
 * export its rows (JSON lines or CSV), print the chain head, and a
 * challenge's status from its rows (a reader opened once, for the API).
 * Each opens its own read-only connection through auditdb.c.
 */
#ifndef MNMFA_AUDIT_EXPORT_H
#define MNMFA_AUDIT_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "chain.h"

#define AUDIT_CLIENT_ID_MAX 128       /* = CLIENT_ID_MAX in store.h */

/* A challenge's status from its audit rows. status: pending, approved,
 * denied, expired, canceled or locked (the first decision); decided_ms 0
 * while pending. */
struct audit_status {
	char status[16];
	char client_id[AUDIT_CLIENT_ID_MAX + 1];
	int64_t created_ms, decided_ms;
};

struct audit_reader;

/* Opens a read-only connection to db_path for status lookups (at start,
 * before privileges are dropped). NULL (logged). */
struct audit_reader *audit_reader_open(const char *db_path);
void audit_reader_close(struct audit_reader *r);

/* The status of page_id from its rows; safe from any thread (one lookup at
 * a time). 0 found, 1 no such page id, -1 error (logged). A challenge
 * minted, never decided and older than any page can live reads expired. */
int audit_reader_status(struct audit_reader *r, const char *page_id, struct audit_status *out);

/* What `audit verify` found. */
struct audit_verify {
	int64_t rows;                       /* rows checked (up to the bad one) */
	int64_t head_id;                    /* newest intact row; 0 when empty */
	char head_hash[CHAIN_HASH_HEX + 1]; /* its hash; 64 zeros when empty */
	int64_t bad_id;                     /* first bad row id, 0 when intact */
	const char *reason;                 /* static text, NULL when intact */
	int64_t checkpoints;                /* signed checkpoints found intact */
	int64_t signed_id;                  /* the newest row they cover; 0 when none */
	int64_t bad_checkpoint;             /* the failing checkpoint's id, 0 when none */
	bool bad_index;                     /* the chain is intact, the page index is not */
};

/* Walks the chain of db_path in id order with a read-only connection, and
 * checks every signed checkpoint (checkpoint.c) against the rows with the
 * key at key_path (a private or public PEM; NULL: audit.key beside db_path).
 * 0 intact (rows after signed_id are not signed yet), 1 broken (bad_id and
 * reason set: for a checkpoint that fails, the first row after the last good
 * one), -1 unreadable, or checkpoints present but no key to check them
 * (logged). */
int audit_verify_chain_key(const char *db_path, const char *key_path, struct audit_verify *out);

/* audit_verify_chain_key with the default key path. */
int audit_verify_chain(const char *db_path, struct audit_verify *out);

enum audit_format { AUDIT_FORMAT_JSONL, AUDIT_FORMAT_CSV };

/* Streams rows with ts >= since_ms (<= 0: all) in id order to out.
 * 0, or -1 (database unreadable or write error; logged). */
int audit_export(const char *db_path, enum audit_format fmt, int64_t since_ms, FILE *out);
/* The same for several databases (the nodes of a cluster, each its own
 * chain), merged by time; each row says its node ("node" in JSON when set,
 * a last CSV column when several files are given or a row names its node). */
int audit_export_many(const char *const *paths, int n, enum audit_format fmt, int64_t since_ms, FILE *out);

/* Prints "id N hash H" of the newest row ("id 0" and 64 zeros when empty).
 * 0, or -1 (logged). */
int audit_head(const char *db_path, FILE *out);

#endif
