/*
 * auditdb: the SQLite file that holds the audit log and the outbox -- its
 * schema and migrations (PRAGMA user_version), opening a connection for the
 * writer (WAL, synchronous=FULL, migrated) or a reader (read-only, schema
 * checked), and the lock file that keeps one writer per database. audit.c,
 * audit_export.c and the outbox's sender connection open the file through
 * here, so whichever starts first finds the same tables.
 *
 * Schema (PRAGMA user_version 7):
 *   audit_log(id, ts, event, page_id, client_id, phone, flow, ip, user_agent,
 *             refdata, prev_hash, hash, node), append-only: triggers refuse UPDATE
 *             and DELETE. That stops mistakes, not an intruder (who can drop
 *             them); the chain (chain.c) is what shows the intruder's edits.
 *             node (version 2): the node_id of the node that wrote the row;
 *             NULL in rows written before (hashed in the first encoding).
 *   view validation_logs(id, date, telefono, autorizacion): the prototype's
 *             table as its reports read it (version 4): the prototype's own
 *             rows (prototype_validation_logs), then each approved row with id
 *             = audit id + the prototype's last id, date "YYYY-MM-DD HH:MM:SS"
 *             UTC and autorizacion the evidence JSON (refdata with the
 *             server-observed "ip" and "user_agent").
 *   prototype_validation_logs(id, date, telefono, autorizacion): the rows of
 *             an upgraded prototype logs.db, as it wrote them; read-only.
 *   outbox(id, audit_id, kind chatfuel|webhook, state pending|sent|failed|
 *          skipped|expired, created_ms, next_attempt_ms, done_ms, attempts, client_id,
 *          flow, validated, target flow|block, body (webhook JSON), http_status,
 *          last_error): the request without any secret; the sender adds the
 *          token and the signature at send time (outbox.c reads and writes it).
 * Version 3 adds
 *   audit_checkpoint(id, row_id, head_hash, ts, pubkey, signature), append-only:
 *          the chain head signed with audit_key (checkpoint.c).
 * Version 5 adds
 *   audit_settled(id = 1, row_id): every `minted` row up to row_id has its end
 *          in the log (audit_settle.c); the one row is rewritten at each start.
 * Version 6 adds
 *   audit_runs(first_row_id, store memory|redis): one row a serving start, its
 *          first row (the chain head + 1) and its store, so a later start
 *          settles only the rows of in-memory runs (audit_settle.c). Rows
 *          before the first recorded run are those of in-memory runs.
 * Version 7 replaces the index audit_log_page_id with
 *   audit_page_index(page_id, row_id) and audit_page_mark(id = 1, through):
 *          the page id of every row up to `through`, filled by the writer in
 *          sorted slices (audit_pages.c); lookups scan the rows after it.
 *          Triggers refuse UPDATE and DELETE of the index and a mark that
 *          shrinks; `audit verify` checks the index against the rows.
 */
#include "auditdb.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* migrations[v] takes a database from user_version v to v + 1. Append only. */
static const char *const migrations[AUDITDB_VERSION] = {
	"CREATE TABLE audit_log ("
	" id INTEGER PRIMARY KEY,"
	" ts TEXT NOT NULL,"
	" event TEXT NOT NULL,"
	" page_id TEXT, client_id TEXT, phone TEXT, flow TEXT,"
	" ip TEXT, user_agent TEXT, refdata TEXT,"
	" prev_hash TEXT NOT NULL,"
	" hash TEXT NOT NULL);"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
	"CREATE INDEX audit_log_ts ON audit_log(ts);"
	"CREATE INDEX audit_log_page_id ON audit_log(page_id);"
	"CREATE VIEW validation_logs AS"
	" SELECT id, ts AS date, phone AS telefono, 'true' AS autorizacion"
	" FROM audit_log WHERE event = 'approved';"
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY,"
	" audit_id INTEGER NOT NULL REFERENCES audit_log(id),"
	" kind TEXT NOT NULL CHECK (kind IN ('chatfuel', 'webhook')),"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),"
	" created_ms INTEGER NOT NULL,"
	" next_attempt_ms INTEGER NOT NULL,"
	" done_ms INTEGER,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" client_id TEXT, flow TEXT, validated INTEGER, target TEXT,"
	" body TEXT,"
	" http_status INTEGER,"
	" last_error TEXT);"
	"CREATE INDEX outbox_due ON outbox(next_attempt_ms) WHERE state = 'pending';",
	/* 1 -> 2: each row names the node that wrote it (several nodes on Redis). */
	"ALTER TABLE audit_log ADD COLUMN node TEXT;",
	/* 2 -> 3: signed checkpoints of the chain (checkpoint.c); old rows unchanged. */
	"CREATE TABLE audit_checkpoint ("
	" id INTEGER PRIMARY KEY,"
	" row_id INTEGER NOT NULL,"
	" head_hash TEXT NOT NULL,"
	" ts TEXT NOT NULL,"
	" pubkey TEXT NOT NULL,"
	" signature TEXT NOT NULL);"
	"CREATE INDEX audit_checkpoint_row ON audit_checkpoint(row_id);"
	"CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint"
	" BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;"
	"CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint"
	" BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;",
	/* 3 -> 4: validation_logs reads as the prototype's table did: its own rows
	 * (adopted by db_adopt_prototype, else none) and then mnmfa's approvals in
	 * its shape; the outbox gains the state expired (result_max_age), which
	 * a CHECK can only learn by rebuilding the table. */
	"CREATE TABLE IF NOT EXISTS " AUDITDB_PROTOTYPE_TABLE " ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT, telefono TEXT, autorizacion BLOB);"
	"CREATE TRIGGER IF NOT EXISTS prototype_no_insert BEFORE INSERT ON " AUDITDB_PROTOTYPE_TABLE
	" BEGIN SELECT RAISE(ABORT, '" AUDITDB_PROTOTYPE_TABLE " is read-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS prototype_no_update BEFORE UPDATE ON " AUDITDB_PROTOTYPE_TABLE
	" BEGIN SELECT RAISE(ABORT, '" AUDITDB_PROTOTYPE_TABLE " is read-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS prototype_no_delete BEFORE DELETE ON " AUDITDB_PROTOTYPE_TABLE
	" BEGIN SELECT RAISE(ABORT, '" AUDITDB_PROTOTYPE_TABLE " is read-only'); END;"
	"DROP VIEW IF EXISTS validation_logs;"
	"CREATE VIEW validation_logs AS"
	" SELECT id, date, telefono, autorizacion FROM " AUDITDB_PROTOTYPE_TABLE
	" UNION ALL"
	" SELECT (SELECT COALESCE(MAX(id), 0) FROM " AUDITDB_PROTOTYPE_TABLE ") + id,"
	" substr(ts, 1, 10) || ' ' || substr(ts, 12, 8),"
	" phone,"
	" json_set(COALESCE(CASE WHEN json_valid(refdata) THEN"
	"   CASE json_type(refdata) WHEN 'object' THEN refdata END END, '{}'),"
	"   '$.ip', ip, '$.user_agent', user_agent)"
	" FROM audit_log WHERE event = 'approved';"
	"CREATE TABLE outbox_v4 ("
	" id INTEGER PRIMARY KEY,"
	" audit_id INTEGER NOT NULL REFERENCES audit_log(id),"
	" kind TEXT NOT NULL CHECK (kind IN ('chatfuel', 'webhook')),"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped', 'expired')),"
	" created_ms INTEGER NOT NULL,"
	" next_attempt_ms INTEGER NOT NULL,"
	" done_ms INTEGER,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" client_id TEXT, flow TEXT, validated INTEGER, target TEXT,"
	" body TEXT,"
	" http_status INTEGER,"
	" last_error TEXT);"
	"INSERT INTO outbox_v4 (id, audit_id, kind, state, created_ms, next_attempt_ms, done_ms,"
	" attempts, client_id, flow, validated, target, body, http_status, last_error)"
	" SELECT id, audit_id, kind, state, created_ms, next_attempt_ms, done_ms, attempts,"
	" client_id, flow, validated, target, body, http_status, last_error FROM outbox;"
	"DROP TABLE outbox;"
	"ALTER TABLE outbox_v4 RENAME TO outbox;"
	"CREATE INDEX outbox_due ON outbox(next_attempt_ms) WHERE state = 'pending';",
	/* 4 -> 5: up to which row every `minted` row has its end (audit_settle.c);
	 * none yet: the first start scans the whole log once. */
	"CREATE TABLE IF NOT EXISTS audit_settled ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" row_id INTEGER NOT NULL);",
	/* 5 -> 6: each serving start's first row and store (audit_settle.c);
	 * the rows before the first one are from in-memory runs. */
	"CREATE TABLE IF NOT EXISTS audit_runs ("
	" first_row_id INTEGER PRIMARY KEY,"
	" store TEXT NOT NULL CHECK (store IN ('memory', 'redis')));",
	/* 6 -> 7: the page-id index as a table the writer fills in slices
	 * (audit_pages.c), from every row there is; the row-by-row index goes. */
	"CREATE TABLE audit_page_index ("
	" page_id TEXT NOT NULL,"
	" row_id INTEGER NOT NULL,"
	" PRIMARY KEY (page_id, row_id)) WITHOUT ROWID;"
	"INSERT INTO audit_page_index (page_id, row_id)"
	" SELECT page_id, id FROM audit_log WHERE page_id IS NOT NULL ORDER BY page_id;"
	"CREATE TABLE audit_page_mark ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" through INTEGER NOT NULL);"
	"INSERT INTO audit_page_mark (id, through) SELECT 1, COALESCE(MAX(id), 0) FROM audit_log;"
	"CREATE TRIGGER audit_page_index_no_update BEFORE UPDATE ON audit_page_index"
	" BEGIN SELECT RAISE(ABORT, 'audit_page_index is append-only'); END;"
	"CREATE TRIGGER audit_page_index_no_delete BEFORE DELETE ON audit_page_index"
	" BEGIN SELECT RAISE(ABORT, 'audit_page_index is append-only'); END;"
	"CREATE TRIGGER audit_page_mark_grows BEFORE UPDATE ON audit_page_mark"
	" WHEN NEW.through < OLD.through OR NEW.id <> OLD.id"
	" BEGIN SELECT RAISE(ABORT, 'audit_page_mark only grows'); END;"
	"CREATE TRIGGER audit_page_mark_no_delete BEFORE DELETE ON audit_page_mark"
	" BEGIN SELECT RAISE(ABORT, 'audit_page_mark is kept'); END;"
	"DROP INDEX IF EXISTS audit_log_page_id;",
};

int auditdb_exec(sqlite3 *db, const char *sql, const char *what)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("audit: %s: %s", what, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int db_user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int auditdb_version(sqlite3 *db)
{
	int v;

	return db_user_version(db, &v) == 0 ? v : -1;
}

/* The Python prototype's logs.db (SPEC §8): a table validation_logs (id,
 * date, telefono, autorizacion) and no schema version. Its table is renamed,
 * rows untouched, to AUDITDB_PROTOTYPE_TABLE, where migration 4 makes it
 * read-only and reads it through the validation_logs view again. Its rows
 * stay outside the hash chain: mnmfa did not observe them (their IP is what
 * the browser said, their date local time), and hashing them now would dress
 * them as evidence they are not. 0, or -1 (logged). */
static int db_adopt_prototype(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st;
	int found;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
	                           "name = 'validation_logs'", -1, &st, NULL) != SQLITE_OK)
		return -1;
	found = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (found == 0)
		return 0;
	if (auditdb_exec(db, "ALTER TABLE validation_logs RENAME TO " AUDITDB_PROTOTYPE_TABLE,
	                 "adopting the prototype's validation_logs") != 0)
		return -1;
	log_info("audit: %s is the Python prototype's database: its validation_logs rows are kept, "
	         "unchanged and read-only, in " AUDITDB_PROTOTYPE_TABLE " and still read through "
	         "validation_logs", path);
	return 0;
}

static int db_migrate(sqlite3 *db, const char *path)
{
	char sql[64];
	int v;

	/* IMMEDIATE: audit and notify may both open a fresh file; one migrates,
	 * the other waits on the lock and then finds the current version. */
	if (auditdb_exec(db, "BEGIN IMMEDIATE", "begin migration") != 0)
		return -1;
	if (db_user_version(db, &v) != 0) {
		log_error("audit: %s: cannot read user_version: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (v > AUDITDB_VERSION) {
		log_error("audit: %s has schema version %d, newer than this build's %d; refusing to "
		          "write to it", path, v, AUDITDB_VERSION);
		goto fail;
	}
	if (v == 0 && db_adopt_prototype(db, path) != 0)
		goto fail;
	for (; v < AUDITDB_VERSION; v++) {
		if (auditdb_exec(db, migrations[v], "migration") != 0)
			goto fail;
		log_info("audit: %s migrated to schema version %d", path, v + 1);
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", AUDITDB_VERSION);
	if (auditdb_exec(db, sql, "set user_version") != 0 || auditdb_exec(db, "COMMIT", "commit migration") != 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Says what the operator must fix when the database's directory or file
 * cannot be written: SQLite would only say "unable to open database file"
 * or "attempt to write a readonly database". 0 when both look writable. */
static int check_writable(const char *path)
{
	char dir[AUDITDB_PATH_MAX + 1];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	int e;

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (access(dir, W_OK | X_OK) != 0) {
		e = errno;
		if (e == ENOENT || e == ENOTDIR)
			log_error("audit: cannot open %s: directory %s does not exist", path, dir);
		else
			log_error("audit: cannot open %s: %s on directory %s: mnmfa needs to create %s, "
			          "%s-wal and %s-shm there", path, e == EACCES ? "permission denied" :
			          e == EROFS ? "read-only file system" : strerror(e), dir, base, base, base);
		return -1;
	}
	if (access(path, R_OK | W_OK) != 0 && errno != ENOENT) {
		e = errno;
		log_error("audit: cannot open %s for writing: %s", path,
		          e == EACCES ? "permission denied on the file" : strerror(e));
		return -1;
	}
	return 0;
}

int auditdb_open(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int fd;
	bool wal;

	*out = NULL;
	if (check_writable(path) != 0)
		return -1;
	/* Create the file ourselves so that it, and the -wal/-shm files SQLite
	 * derives from its mode, are private: they hold phone numbers. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	/* NOMUTEX: each connection opened here is used by one thread (the
	 * writer's, the sender's), so SQLite's per-call mutex is pure cost. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		log_error("audit: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, AUDITDB_BUSY_MS);
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		log_error("audit: %s: cannot set WAL mode: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (!wal) {
		log_error("audit: %s: the database refused WAL mode", path);
		goto fail;
	}
	if (auditdb_exec(db, "PRAGMA synchronous = FULL", "synchronous") != 0 ||
	    db_migrate(db, path) != 0)
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return -1;
}

int auditdb_open_reader(const char *path, sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int v;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, AUDITDB_BUSY_MS);
	if (db_user_version(db, &v) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (v < 1) {
		snprintf(err, errlen, "%s is not an mnmfa audit database", path);
		goto fail;
	}
	if (v > AUDITDB_VERSION) {
		snprintf(err, errlen, "%s has schema version %d, newer than this build's %d", path, v,
		         AUDITDB_VERSION);
		goto fail;
	}
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return -1;
}

/* One writer per database: the chain head is cached by the writer, so a
 * second mnmfa appending to the same file would break every later group.
 * An flock on "<db_path>.lock" (released by the kernel if we die) keeps a
 * second instance out with a clear error. */
int auditdb_lock(const char *db_path)
{
	char path[AUDITDB_PATH_MAX + sizeof ".lock"];
	int fd;

	snprintf(path, sizeof path, "%s.lock", db_path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("audit: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("audit: %s is in use by another mnmfa process (one instance per db_path)", db_path);
		close(fd);
		return -1;
	}
	return fd;
}
