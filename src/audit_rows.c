/*
 * audit_rows: a group of queued events written into the audit log in one
 * transaction, on the writer thread (see include/audit_rows.h).
 *
 * The writer must outrun minting, so a row costs as little as it can: the
 * writer owns the chain head (id and hash; the id is part of the hashed row,
 * so the writer assigns it), keeps one SHA-256 context, formats the time
 * text once a second and patches the milliseconds in, and inserts
 * AUDIT_ROWS_BATCH rows per statement (one multi-row INSERT: SQLite opens
 * the table's and indexes' cursors and halts the statement once per batch,
 * not once per row; callgrind showed that as a third of the insert's cost).
 * A group's last rows that do not fill a batch go one per statement. Every
 * parameter is bound on every row (no sqlite3_clear_bindings); the bound
 * texts (the items' own strings and this file's ts/hash slots) live until
 * the statement is reset.
 */
#include "audit_rows.h"
#include "auditdb.h"
#include "buf.h"
#include "chain.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_ROWS_BATCH 32     /* rows per multi-row INSERT (13 parameters each) */
#define AUDIT_ROWS_COLS 13      /* the INSERT's parameters per row */
#define AUDIT_TS_MAX 32         /* an RFC 3339 time with milliseconds */
/* The writer connection's page cache (SQLite's default is 2 MiB). Page ids
 * are random, so each row lands on a random leaf of the page_id index; with
 * the default cache most of those leaves were read back from the file again
 * (bench/writer: 10.6 -> 8.9 us of writer CPU a row at 200,000 rows). */
#define AUDIT_ROWS_CACHE_KIB 16384

#define AUDIT_ROWS_INSERT "INSERT INTO audit_log (id, ts, event, page_id, client_id, phone, flow, " \
	"ip, user_agent, refdata, prev_hash, hash, node) VALUES "
#define AUDIT_ROWS_TUPLE "(?,?,?,?,?,?,?,?,?,?,?,?,?)"

struct audit_rows {
	sqlite3 *db;
	sqlite3_stmt *ins_one, *ins_batch;
	struct crypto_sha256_ctx *sha;
	struct outbox_writer *outbox;
	char *node;                        /* node_id written in every row (NULL: none) */
	size_t node_len;
	int64_t ts_sec;                    /* the second ts_text formats */
	char ts_text[AUDIT_TS_MAX];
	int64_t last_id;
	char last_hash[CHAIN_HASH_HEX + 1];
	/* One statement's rows: ts[k] is row k's time; hash[k + 1] its hash and
	 * hash[k] its prev_hash (hash[0]: the head before the statement). */
	char ts[AUDIT_ROWS_BATCH][AUDIT_TS_MAX];
	char hash[AUDIT_ROWS_BATCH + 1][CHAIN_HASH_HEX + 1];
};

/* The row's RFC 3339 time; gmtime and printf once a second, not per row. */
static void format_ts(struct audit_rows *w, int64_t ms, char out[AUDIT_TS_MAX])
{
	int64_t sec = ms / 1000;
	int frac = (int)(ms % 1000);
	size_t n;

	if (sec != w->ts_sec) {
		fmt_rfc3339_ms(sec * 1000, w->ts_text, sizeof w->ts_text);
		w->ts_sec = sec;
	}
	memcpy(out, w->ts_text, AUDIT_TS_MAX);
	/* "...:SS.mmmZ": the milliseconds are the three digits before the 'Z'. */
	n = strlen(out);
	if (ms < 0 || n < 5 || out[n - 5] != '.') {
		fmt_rfc3339_ms(ms, out, AUDIT_TS_MAX);
		return;
	}
	out[n - 4] = (char)('0' + frac / 100);
	out[n - 3] = (char)('0' + frac / 10 % 10);
	out[n - 2] = (char)('0' + frac % 10);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

/* Hashes row k of the statement (id w->last_id + 1 + k) into hash[k + 1]
 * and binds its parameters from base + 1 on. */
static void bind_row(struct audit_rows *w, sqlite3_stmt *st, int k, const struct item *it)
{
	static const int chain_of[ITEM_FIELDS] = {
		[ITEM_PAGE_ID] = CHAIN_PAGE_ID, [ITEM_CLIENT_ID] = CHAIN_CLIENT_ID,
		[ITEM_PHONE] = CHAIN_PHONE, [ITEM_FLOW] = CHAIN_FLOW, [ITEM_IP] = CHAIN_IP,
		[ITEM_USER_AGENT] = CHAIN_USER_AGENT, [ITEM_REFDATA] = CHAIN_REFDATA,
	};
	struct chain_row r = { .id = w->last_id + 1 + k };
	int base = k * AUDIT_ROWS_COLS;

	format_ts(w, it->ts_ms, w->ts[k]);
	r.f[CHAIN_TS] = w->ts[k];
	r.len[CHAIN_TS] = strlen(w->ts[k]);
	r.f[CHAIN_EVENT] = audit_kind_name(it->kind);
	r.len[CHAIN_EVENT] = strlen(r.f[CHAIN_EVENT]);
	for (int i = 0; i < ITEM_FIELDS; i++) {
		r.f[chain_of[i]] = it->f[i];
		r.len[chain_of[i]] = it->len[i];
	}
	r.node = w->node;
	r.node_len = w->node_len;
	r.prev_hash = w->hash[k];
	r.prev_len = CHAIN_HASH_HEX;
	chain_row_hash_with(w->sha, &r, w->hash[k + 1]);

	sqlite3_bind_int64(st, base + 1, r.id);
	for (int i = 0; i < CHAIN_FIELDS; i++)
		bind_text(st, base + i + 2, r.f[i], r.len[i]);
	sqlite3_bind_text(st, base + 11, w->hash[k], CHAIN_HASH_HEX, SQLITE_STATIC);
	sqlite3_bind_text(st, base + 12, w->hash[k + 1], CHAIN_HASH_HEX, SQLITE_STATIC);
	bind_text(st, base + 13, r.node, r.node_len);
}

/* Inserts the n rows of rows[] with one statement (n is 1 or
 * AUDIT_ROWS_BATCH), then their outbox rows, and moves the head. */
static int insert_rows(struct audit_rows *w, const struct item *const *rows, int n, int64_t now,
                       bool *woke)
{
	sqlite3_stmt *st = n == 1 ? w->ins_one : w->ins_batch;
	int rc;

	memcpy(w->hash[0], w->last_hash, sizeof w->hash[0]);
	for (int k = 0; k < n; k++)
		bind_row(w, st, k, rows[k]);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_error("%s: %s", __func__, sqlite3_errmsg(w->db));
		return -1;
	}
	/* The outbox rows point at their audit rows, so they come after them. */
	for (int k = 0; k < n; k++) {
		const struct item *it = rows[k];
		if (it->notify && outbox_write(w->outbox, &(struct outbox_result){
		        .audit_id = w->last_id + 1 + k, .event = audit_kind_name(it->kind),
		        .page_id = it->f[ITEM_PAGE_ID], .client_id = it->f[ITEM_CLIENT_ID],
		        .phone = it->f[ITEM_PHONE], .flow = it->f[ITEM_FLOW], .decided_at = w->ts[k],
		        .validated = it->validated }, now, woke) != 0)
			return -1;
	}
	w->last_id += n;
	memcpy(w->last_hash, w->hash[n], sizeof w->last_hash);
	return 0;
}

/* The group's rows, AUDIT_ROWS_BATCH to a statement while that many are left. */
static int insert_group(struct audit_rows *w, const struct item *group, int64_t now, bool *woke)
{
	const struct item *rows[AUDIT_ROWS_BATCH];
	const struct item *it = group;

	while (it != NULL) {
		int n = 0;
		const struct item *p = it;
		while (p != NULL && n < AUDIT_ROWS_BATCH) {
			rows[n++] = p;
			p = p->next;
		}
		if (n == AUDIT_ROWS_BATCH) {
			if (insert_rows(w, rows, n, now, woke) != 0)
				return -1;
		} else {
			for (int k = 0; k < n; k++)
				if (insert_rows(w, &rows[k], 1, now, woke) != 0)
					return -1;
		}
		it = p;
	}
	return 0;
}

int audit_rows_write(struct audit_rows *w, const struct item *group, int64_t now, bool *woke)
{
	int64_t saved_id = w->last_id;
	char saved_hash[CHAIN_HASH_HEX + 1];

	memcpy(saved_hash, w->last_hash, sizeof saved_hash);
	*woke = false;
	if (auditdb_exec(w->db, "BEGIN IMMEDIATE", "begin") != 0)
		return -1;
	if (insert_group(w, group, now, woke) == 0 && auditdb_exec(w->db, "COMMIT", "commit") == 0)
		return 0;
	if (!sqlite3_get_autocommit(w->db))
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	w->last_id = saved_id;
	memcpy(w->last_hash, saved_hash, sizeof saved_hash);
	return -1;
}

int64_t audit_rows_head(const struct audit_rows *w, const char **hash)
{
	*hash = w->last_hash;
	return w->last_id;
}

static int load_head(struct audit_rows *w)
{
	sqlite3_stmt *st;
	int rc;

	w->last_id = 0;
	memcpy(w->last_hash, chain_genesis, sizeof w->last_hash);
	if (sqlite3_prepare_v2(w->db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", -1,
	                       &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		w->last_id = sqlite3_column_int64(st, 0);
		size_t n = h != NULL ? strlen(h) : 0;
		if (n != CHAIN_HASH_HEX || strspn(h, "0123456789abcdef") != CHAIN_HASH_HEX) {
			/* The next row would chain to garbage: evidence after it could
			 * not be told from a forgery. The operator decides (verify,
			 * restore), not the writer. */
			log_error("audit: the newest row (id %lld) has a malformed hash (%zu characters, not "
			          "%d hex digits): new rows cannot chain to it; run `mnmfa audit verify` and "
			          "restore the database from a backup", (long long)w->last_id, n, CHAIN_HASH_HEX);
			sqlite3_finalize(st);
			return -2;
		}
		memcpy(w->last_hash, h, CHAIN_HASH_HEX + 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int prepare(sqlite3 *db, int rows, sqlite3_stmt **out)
{
	struct buf sql = { 0 };
	int rc;

	buf_puts(&sql, AUDIT_ROWS_INSERT);
	for (int k = 0; k < rows; k++)
		buf_puts(&sql, k == 0 ? AUDIT_ROWS_TUPLE : "," AUDIT_ROWS_TUPLE);
	rc = sqlite3_prepare_v3(db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT, out, NULL);
	buf_free(&sql);
	if (rc != SQLITE_OK) {
		log_error("audit: cannot prepare the insert: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

struct audit_rows *audit_rows_open(sqlite3 *db, const struct config *cfg)
{
	struct audit_rows *w = xcalloc(1, sizeof *w);

	w->db = db;
	w->ts_sec = INT64_MIN;
	if (cfg->node_id != NULL) {
		w->node = xstrdup(cfg->node_id);
		w->node_len = strlen(w->node);
	}
	{
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d", AUDIT_ROWS_CACHE_KIB);
		if (auditdb_exec(db, pragma, "cache_size") != 0)
			goto fail;
	}
	if (prepare(db, 1, &w->ins_one) != 0 || prepare(db, AUDIT_ROWS_BATCH, &w->ins_batch) != 0)
		goto fail;
	if ((w->outbox = outbox_writer_new(db, cfg)) == NULL)
		goto fail;
	switch (load_head(w)) {
	case 0:
		break;
	case -2:
		goto fail;               /* said why */
	default:
		log_error("audit: cannot read the chain head: %s", sqlite3_errmsg(db));
		goto fail;
	}
	w->sha = crypto_sha256_ctx_new();
	return w;
fail:
	audit_rows_free(w);
	return NULL;
}

void audit_rows_free(struct audit_rows *w)
{
	if (w == NULL)
		return;
	sqlite3_finalize(w->ins_one);
	sqlite3_finalize(w->ins_batch);
	crypto_sha256_ctx_free(w->sha);
	outbox_writer_free(w->outbox);
	free(w->node);
	free(w);
}
