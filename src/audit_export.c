/*
 * audit_export: the readers of the audit log, each on its own read-only
 * connection (WAL: they never wait for the writer): verify (the rows of a
 * database file fed to chain.c's walk), export as JSON lines or CSV, the
 * chain head, and a challenge's status from its rows for the API.
 */
#include "audit_export.h"
#include "audit_pages.h"
#include "auditdb.h"
#include "caldate.h"
#include "chain.h"
#include "checkpoint.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define ROW_COLUMNS "id, ts, event, page_id, client_id, phone, flow, ip, user_agent, refdata, " \
                    "prev_hash, hash"
#define ROW_NODE_COL 12               /* after ROW_COLUMNS: the node (schema 2), or NULL */

/* ROW_COLUMNS then the node column, for a file of either schema. */
static const char *row_select(sqlite3 *db, bool since)
{
	bool v2 = auditdb_version(db) >= 2;

	if (since)
		return v2 ? "SELECT " ROW_COLUMNS ", node FROM audit_log WHERE ts >= ? ORDER BY id"
		          : "SELECT " ROW_COLUMNS ", NULL FROM audit_log WHERE ts >= ? ORDER BY id";
	return v2 ? "SELECT " ROW_COLUMNS ", node FROM audit_log ORDER BY id"
	          : "SELECT " ROW_COLUMNS ", NULL FROM audit_log ORDER BY id";
}

/* The checkpoints of db, in row_id order, one at a time beside the row walk. */
struct cp_cursor {
	sqlite3_stmt *st;
	bool have;
	struct checkpoint c;
};

static int cp_next(struct cp_cursor *k)
{
	int step;

	k->have = false;
	if (k->st == NULL)
		return 0;
	step = sqlite3_step(k->st);
	if (step == SQLITE_DONE)
		return 0;
	if (step != SQLITE_ROW)
		return -1;
	k->have = true;
	k->c = (struct checkpoint){
		.id = sqlite3_column_int64(k->st, 0), .row_id = sqlite3_column_int64(k->st, 1),
		.head_hash = (const char *)sqlite3_column_text(k->st, 2),
		.ts = (const char *)sqlite3_column_text(k->st, 3),
		.pubkey = (const char *)sqlite3_column_text(k->st, 4),
		.signature = (const char *)sqlite3_column_text(k->st, 5) };
	return 0;
}

/* Opens the checkpoint cursor (none on a schema-1 file) and, when there are
 * checkpoints, the key that checks them. 0, or -1 (logged). */
static int cp_open(sqlite3 *db, const char *db_path, const char *key_path,
                   struct cp_cursor *k, struct checkpoint_key **key)
{
	char path[CHECKPOINT_PATH_MAX], err[512];

	memset(k, 0, sizeof *k);
	*key = NULL;
	if (sqlite3_prepare_v2(db, "SELECT id, row_id, head_hash, ts, pubkey, signature "
	                       "FROM audit_checkpoint ORDER BY row_id, id", -1, &k->st, NULL) != SQLITE_OK) {
		k->st = NULL;              /* a schema-1 database: no checkpoints yet */
		return 0;
	}
	if (cp_next(k) != 0)
		return -1;
	if (!k->have)
		return 0;
	snprintf(err, sizeof err, "the audit_key path is too long");
	if (checkpoint_key_path(key_path, db_path, path, sizeof path) != 0 ||
	    (*key = checkpoint_key_load(path, err, sizeof err)) == NULL) {
		log_error("audit verify: the log has signed checkpoints but the key to check them is "
		          "not readable: %s (give audit_key or its public half with --key)", err);
		return -1;
	}
	return 0;
}

int audit_verify_chain_key(const char *db_path, const char *key_path, struct audit_verify *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct checkpoint_key *key = NULL;
	struct cp_cursor cp = { 0 };
	struct chain_walk w;
	struct checkpoint_walk cw;
	char err[512];
	int rc = -1, step;

	chain_walk_init(&w);
	checkpoint_walk_init(&cw, NULL);
	out->bad_index = false;
	if (auditdb_open_reader(db_path, &db, err, sizeof err) != 0) {
		log_error("audit verify: %s", err);
		goto out;
	}
	if (sqlite3_prepare_v2(db, row_select(db, false), -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	if (cp_open(db, db_path, key_path, &cp, &key) != 0)
		goto out;
	cw.key = key;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct chain_row r = { .id = sqlite3_column_int64(st, 0) };

		r.node = (const char *)sqlite3_column_text(st, ROW_NODE_COL);
		r.node_len = r.node ? (size_t)sqlite3_column_bytes(st, ROW_NODE_COL) : 0;

		for (int i = 0; i < CHAIN_FIELDS; i++) {
			r.f[i] = (const char *)sqlite3_column_text(st, i + 1);
			r.len[i] = r.f[i] ? (size_t)sqlite3_column_bytes(st, i + 1) : 0;
		}
		r.prev_hash = (const char *)sqlite3_column_text(st, 10);
		r.prev_len = (size_t)sqlite3_column_bytes(st, 10);
		r.hash = (const char *)sqlite3_column_text(st, 11);
		if (chain_walk_step(&w, &r) != 0) {
			rc = 1;
			goto out;
		}
		/* A checkpoint naming a row before this one names a row that is
		 * not in the log (ids are consecutive from the first). */
		while (cp.have && cp.c.row_id <= r.id) {
			if (checkpoint_walk_step(&cw, &cp.c, cp.c.row_id == r.id ? w.head_hash : NULL) != 0) {
				rc = 1;
				goto out;
			}
			if (cp_next(&cp) != 0)
				goto sqlfail;
		}
	}
	if (step != SQLITE_DONE)
		goto sqlfail;
	if (cp.have && checkpoint_walk_step(&cw, &cp.c, NULL) != 0) {
		rc = 1;                       /* checkpoints past the last row: a truncated log */
		goto out;
	}
	/* A row the page index leaves out is hidden from `audit show`. */
	if (auditdb_version(db) >= AUDIT_PAGES_VERSION &&
	    (rc = audit_pages_check(db, &w.bad_id, &w.reason)) != 0) {
		out->bad_index = rc == 1;
		goto out;
	}
	rc = 0;
	goto out;
sqlfail:
	log_error("audit verify: %s: %s", db_path, sqlite3_errmsg(db));
	w.bad_id = 0;
	rc = -1;
out:
	out->rows = w.rows;
	out->head_id = w.head_id;
	memcpy(out->head_hash, w.head_hash, sizeof out->head_hash);
	out->bad_id = w.bad_id;
	out->reason = w.reason;
	out->checkpoints = cw.good;
	out->signed_id = cw.good_row_id;
	out->bad_checkpoint = cw.bad_checkpoint;
	if (cw.reason != NULL && w.reason == NULL) {
		out->bad_id = cw.bad_id;
		out->reason = cw.reason;
	}
	sqlite3_finalize(cp.st);
	checkpoint_key_free(key);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int audit_verify_chain(const char *db_path, struct audit_verify *out)
{
	return audit_verify_chain_key(db_path, NULL, out);
}

/* A phone as the phone column holds it: an optional '+' and digits only. A
 * spreadsheet reads it as a number, never a formula. */
static bool csv_phone_number(const char *s)
{
	if (*s == '+')
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A field a spreadsheet would run as a formula (OWASP's rule: it starts with
 * =, +, -, @, tab or CR). "-1+cmd|..." and "+1+HYPERLINK(...)" are formulas
 * too, so only a whole number in the phone column is exempt. */
static bool csv_formula_like(const char *s, bool phone)
{
	if (phone && csv_phone_number(s))
		return false;
	return s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
	       s[0] == '\r';
}

/* RFC 4180: quoted when needed; NULL is an empty field, "" a quoted empty one.
 * Formula-like fields (user agent, refdata, flow come from outside) get a
 * leading ' inside the quotes, as OWASP advises against CSV injection. */
static void csv_field(FILE *out, const char *s, bool first, bool phone)
{
	bool formula;

	if (!first)
		fputc(',', out);
	if (s == NULL)
		return;
	formula = csv_formula_like(s, phone);
	if (!formula && *s != '\0' && strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ' &&
	    s[strlen(s) - 1] != ' ') {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static const char *const column_names[] = {
	"id", "ts", "event", "page_id", "client_id", "phone", "flow", "ip", "user_agent",
	"refdata", "prev_hash", "hash",
};
#define CSV_PHONE_COLUMN 5      /* column_names[5]: its numbers are not guarded */

/* One database being merged: its reader and its current row. */
struct export_src {
	const char *path;
	sqlite3 *db;
	sqlite3_stmt *st;
	bool row;                         /* st holds a row */
};

static void export_row(sqlite3_stmt *st, enum audit_format fmt, bool node_col, FILE *out)
{
	const char *node = (const char *)sqlite3_column_text(st, ROW_NODE_COL);

	if (fmt == AUDIT_FORMAT_CSV) {
		fprintf(out, "%lld", (long long)sqlite3_column_int64(st, 0));
		for (int i = 1; i < (int)ARRAY_LEN(column_names); i++)
			csv_field(out, (const char *)sqlite3_column_text(st, i), false,
			          i == CSV_PHONE_COLUMN);
		if (node_col)
			csv_field(out, node, false, false);
		fputs("\r\n", out);
	} else {
		cJSON *o = cJSON_CreateObject();
		char *line;

		cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
		for (int i = 1; i < (int)ARRAY_LEN(column_names); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			if (v != NULL)
				cJSON_AddStringToObject(o, column_names[i], v);
			else
				cJSON_AddNullToObject(o, column_names[i]);
		}
		if (node != NULL)
			cJSON_AddStringToObject(o, "node", node);
		line = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (line == NULL)
			abort();
		fputs(line, out);
		fputc('\n', out);
		free(line);
	}
}

/* true when some row of db names its node (schema 2). */
static bool has_nodes(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool yes = false;

	if (auditdb_version(db) >= 2 &&
	    sqlite3_prepare_v2(db, "SELECT 1 FROM audit_log WHERE node IS NOT NULL LIMIT 1", -1, &st,
	                       NULL) == SQLITE_OK)
		yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

static int src_step(struct export_src *s)
{
	int step = sqlite3_step(s->st);

	s->row = step == SQLITE_ROW;
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		return 0;
	log_error("audit export: %s: %s", s->path, sqlite3_errmsg(s->db));
	return -1;
}

/* The source whose row comes first in time (ties: the earlier file, then
 * its id order, which the cursor keeps), or -1 when all are done. */
static int src_next(const struct export_src *src, int n)
{
	int best = -1;

	for (int i = 0; i < n; i++) {
		if (!src[i].row)
			continue;
		if (best < 0) {
			best = i;
			continue;
		}
		const char *a = (const char *)sqlite3_column_text(src[i].st, 1);
		const char *b = (const char *)sqlite3_column_text(src[best].st, 1);
		if (strcmp(a ? a : "", b ? b : "") < 0)
			best = i;
	}
	return best;
}

int audit_export_many(const char *const *paths, int n, enum audit_format fmt, int64_t since_ms, FILE *out)
{
	struct export_src *src = xcalloc((size_t)n, sizeof *src);
	char err[512], since[32];
	bool node_col = n > 1;
	int rc = -1, k;

	fmt_rfc3339_ms(since_ms > 0 ? since_ms : 0, since, sizeof since);
	for (int i = 0; i < n; i++) {
		src[i].path = paths[i];
		if (auditdb_open_reader(paths[i], &src[i].db, err, sizeof err) != 0) {
			log_error("audit export: %s", err);
			goto out;
		}
		if (sqlite3_prepare_v2(src[i].db, row_select(src[i].db, since_ms > 0), -1, &src[i].st,
		                       NULL) != SQLITE_OK) {
			log_error("audit export: %s: %s", paths[i], sqlite3_errmsg(src[i].db));
			goto out;
		}
		if (since_ms > 0)
			sqlite3_bind_text(src[i].st, 1, since, -1, SQLITE_TRANSIENT);
		node_col = node_col || has_nodes(src[i].db);
		if (src_step(&src[i]) != 0)
			goto out;
	}
	if (fmt == AUDIT_FORMAT_CSV) {
		for (size_t i = 0; i < ARRAY_LEN(column_names); i++)
			csv_field(out, column_names[i], i == 0, false);
		if (node_col)
			csv_field(out, "node", false, false);
		fputs("\r\n", out);
	}
	/* Each file in id order; several merged by time (the writer's fixed-width
	 * UTC text compares as time). */
	while ((k = src_next(src, n)) >= 0) {
		export_row(src[k].st, fmt, node_col, out);
		if (ferror(out))
			break;
		if (src_step(&src[k]) != 0)
			goto out;
	}
	if (ferror(out) || fflush(out) != 0) {
		log_error("audit export: writing the output failed: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < n; i++) {
		sqlite3_finalize(src[i].st);
		sqlite3_close(src[i].db);
	}
	free(src);
	return rc;
}

int audit_export(const char *db_path, enum audit_format fmt, int64_t since_ms, FILE *out)
{
	return audit_export_many(&db_path, 1, fmt, since_ms, out);
}

int audit_head(const char *db_path, FILE *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[512];
	int rc = -1, step;

	if (auditdb_open_reader(db_path, &db, err, sizeof err) != 0) {
		log_error("audit head: %s", err);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", -1, &st,
	                       NULL) != SQLITE_OK)
		goto sqlfail;
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		fprintf(out, "id %lld hash %s\n", (long long)sqlite3_column_int64(st, 0), h ? h : "");
	} else if (step == SQLITE_DONE) {
		fprintf(out, "id 0 hash %s\n", chain_genesis);
	} else {
		goto sqlfail;
	}
	rc = 0;
	goto out;
sqlfail:
	log_error("audit head: %s: %s", db_path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

struct audit_reader {
	pthread_mutex_t lock;              /* one lookup at a time on the connection */
	sqlite3 *db;
	sqlite3_stmt *lookup;
};

struct audit_reader *audit_reader_open(const char *db_path)
{
	struct audit_reader *r = xcalloc(1, sizeof *r);
	char err[256];

	pthread_mutex_init(&r->lock, NULL);
	if (auditdb_open_reader(db_path, &r->db, err, sizeof err) != 0) {
		log_error("audit_open: %s", err);
		goto fail;
	}
	if (sqlite3_prepare_v3(r->db, auditdb_version(r->db) >= AUDIT_PAGES_VERSION
	                       ? "SELECT event, ts, client_id FROM audit_log l WHERE "
	                         AUDIT_PAGE_ROWS("l", "?1") " ORDER BY id"
	                       : "SELECT event, ts, client_id FROM audit_log WHERE page_id = ?1 ORDER BY id",
	                       -1, SQLITE_PREPARE_PERSISTENT,
	                       &r->lookup, NULL) != SQLITE_OK) {
		log_error("audit_open: %s", sqlite3_errmsg(r->db));
		goto fail;
	}
	return r;
fail:
	audit_reader_close(r);
	return NULL;
}

void audit_reader_close(struct audit_reader *r)
{
	if (r == NULL)
		return;
	sqlite3_finalize(r->lookup);
	sqlite3_close(r->db);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* The status of one challenge as its audit rows tell it: for status queries
 * about challenges the store no longer holds (the rare path: old or unknown
 * ids). WAL readers never wait for the writer. */
int audit_reader_status(struct audit_reader *r, const char *page_id, struct audit_status *out)
{
	static const char *const decisions[] = { "approved", "denied", "expired", "canceled", "locked" };
	sqlite3_stmt *st = r->lookup;
	int rc = 1, step;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&r->lock);
	if (sqlite3_bind_text(st, 1, page_id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		log_error("audit_lookup: %s", sqlite3_errmsg(r->db));
		rc = -1;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ev = (const char *)sqlite3_column_text(st, 0);
		const char *ts = (const char *)sqlite3_column_text(st, 1);
		const char *cid = (const char *)sqlite3_column_text(st, 2);
		int64_t ms = 0;

		if (ev == NULL || ts == NULL || caldate_parse_time_arg(ts, &ms) != 0)
			continue;
		if (strcmp(ev, "minted") == 0) {
			snprintf(out->client_id, sizeof out->client_id, "%s", cid ? cid : "");
			out->created_ms = ms;
			snprintf(out->status, sizeof out->status, "pending");
			rc = 0;
			continue;
		}
		for (size_t i = 0; rc == 0 && i < ARRAY_LEN(decisions); i++) {
			if (strcmp(ev, decisions[i]) == 0 && out->decided_ms == 0) {
				snprintf(out->status, sizeof out->status, "%s", decisions[i]);
				out->decided_ms = ms;
			}
		}
	}
	if (step != SQLITE_DONE) {
		log_error("audit_lookup: %s", sqlite3_errmsg(r->db));
		rc = -1;
	}
	/* Minted, never decided, and older than any page can live: the process
	 * died (kill -9) before it could record the expiry. */
	if (rc == 0 && out->decided_ms == 0 &&
	    now_ms() - out->created_ms > (int64_t)CONFIG_EXPIRATION_MAX * 1000)
		snprintf(out->status, sizeof out->status, "expired");
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&r->lock);
	return rc;
}
