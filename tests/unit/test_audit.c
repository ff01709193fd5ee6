/*
 * test_audit: the audit log's schema, hash chain, verify/head/export and the
 * group-committing writer, each case in its own temporary directory. Tamper
 * cases edit the file with plain SQL, as an intruder with the file would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "audit.h"
#include "audit_pages.h"
#include "auditdb.h"
#include "cmd_audit.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct env {
	char dir[64];
	char db[128];
	struct config cfg;
};

/* While stderr goes to a file: the real one and the file (a case that fails
 * before stderr_back gets both back in env_teardown, the file's text too,
 * which holds cmocka's failure message). */
static int redirected_fd = -1;
static char redirected_path[160];

/* Redirects stderr (the log) to a file until the matching stop; returns it. */
static int stderr_to(const char *path)
{
	int saved;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	redirected_fd = saved;
	snprintf(redirected_path, sizeof redirected_path, "%s", path);
	return saved;
}

static void stderr_back(int saved)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	redirected_fd = -1;
}

/* After a case that failed while stderr went to a file: stderr back, and
 * what went to the file shown. */
static void stderr_back_after_failure(void)
{
	char buf[4096];
	size_t n;
	FILE *f;

	if (redirected_fd < 0)
		return;
	stderr_back(redirected_fd);
	if ((f = fopen(redirected_path, "r")) == NULL)
		return;
	fprintf(stderr, "--- the case's stderr (%s):\n", redirected_path);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

static int env_setup(void **state)
{
	struct env *e = xcalloc(1, sizeof *e);

	strcpy(e->dir, "/tmp/mnmfa-audit-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->db, sizeof e->db, "%s/logs.db", e->dir);
	e->cfg.db_path = e->db;
	e->cfg.chatfuel_target = CHATFUEL_TARGET_FLOW;
	e->cfg.chatfuel_rps = 25;
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	stderr_back_after_failure();
	DIR *d = opendir(e->dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char p[512];
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", e->dir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(e->dir);
	free(e);
	return 0;
}

static sqlite3 *db_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void db_exec(const char *path, const char *sql)
{
	sqlite3 *db = db_open(path);
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("SQL %s failed: %s", sql, err);
	sqlite3_close(db);
}

/* Edits the file as an intruder would: first the append-only triggers go. */
static void tamper(const char *path, const char *sql)
{
	char buf[2048];

	snprintf(buf, sizeof buf, "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
	         "%s", sql);
	db_exec(path, buf);
}

static int64_t db_int(const char *path, const char *sql)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The text of the first column of the first row, or NULL for SQL NULL / no row. */
static char *db_text(const char *path, const char *sql)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Runs audit_cmd with stdout going to a file; returns the exit code and the
 * output (malloc'd) in *out. */
static int run_cmd(struct env *e, char **out, int argc, ...)
{
	char *argv[16], path[160];
	va_list ap;
	int saved, fd, rc;
	FILE *f;
	long len;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	snprintf(path, sizeof path, "%s/stdout.txt", e->dir);
	fflush(stdout);
	saved = dup(1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 1);
	close(fd);
	rc = audit_cmd(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	*out = xmalloc((size_t)len + 1);
	(*out)[fread(*out, 1, (size_t)len, f)] = '\0';
	fclose(f);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL) {
		*len = 0;
		return xstrdup("");
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void fill_event(struct audit_event *ev, enum audit_kind kind, int i)
{
	static char client[32], phone[32];

	memset(ev, 0, sizeof *ev);
	ev->kind = kind;
	snprintf(ev->page_id, sizeof ev->page_id, "page%018d", i);
	snprintf(client, sizeof client, "client-%d", i);
	snprintf(phone, sizeof phone, "+52155500%05d", i);
	ev->client_id = client;
	ev->phone = phone;
	ev->flow = "Resultado MFA";
	ev->ip = "203.0.113.7";
	ev->user_agent = (i % 3 == 0) ? NULL : "Mozilla/5.0 (test)";
	ev->refdata = (i % 4 == 0) ? "{\"tz\":\"America/Mexico_City\",\"w\":390}" : NULL;
	ev->created_ms = 1795000000000LL + i;
}

/* Writes n events of mixed kinds (synchronously: audit_close drains). */
static void write_events(struct env *e, int n)
{
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;

	assert_non_null(a);
	for (int i = 1; i <= n; i++) {
		fill_event(&ev, (enum audit_kind)(i % 7), i);
		assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	}
	audit_close(a);
}

static void expect_broken_at(struct env *e, int64_t id)
{
	struct audit_verify v;
	char *out, want[64];
	int rc = audit_verify_chain(e->db, &v);

	if (rc != 1 || v.bad_id != id)
		fail_msg("expected verify to report row %lld broken, got rc %d bad_id %lld (%s)",
		         (long long)id, rc, (long long)v.bad_id, v.reason ? v.reason : "intact");
	assert_int_equal(run_cmd(e, &out, 3, "verify", "--db", e->db), 1);
	snprintf(want, sizeof want, "row id %lld:", (long long)id);
	if (strstr(out, want) == NULL)
		fail_msg("`audit verify` should name row %lld, printed: %s", (long long)id, out);
	free(out);
}

/* ---- schema ------------------------------------------------------------ */

/* Turns a current file's page index back into schema 6's (the row-by-row
 * index, no page tables), for files made to look older. */
#define PAGES_AS_SCHEMA_6                                                                          \
	"DROP TABLE audit_page_index; DROP TABLE audit_page_mark;"                                 \
	" CREATE INDEX audit_log_page_id ON audit_log(page_id);"

static void test_schema_is_created_and_versioned(void **state)
{
	struct env *e = *state;
	struct stat sb;
	char *mode;

	write_events(e, 3);
	assert_int_equal(db_int(e->db, "PRAGMA user_version"), AUDITDB_VERSION);
	mode = db_text(e->db, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM sqlite_master WHERE name IN "
	                               "('audit_log', 'outbox', 'validation_logs')"), 3);
	assert_int_equal(stat(e->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

/* Writes a `minted` row for pages first..last on a (synchronously). */
static void submit_minted(struct audit *a, int first, int last)
{
	struct audit_event ev;

	for (int i = first; i <= last; i++) {
		fill_event(&ev, AUDIT_MINTED, i);
		assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	}
}

/* A version-5 file (before audit_runs) with a killed run's open rows: they
 * count as an in-memory run's, so a start with Redis ends them; that run's
 * own rows are a Redis run's, which a later in-memory start leaves open. */
static void test_runs_settle_only_memory_rows(void **state)
{
	struct env *e = *state;
	struct audit_verify v;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);

	assert_non_null(a);
	submit_minted(a, 1, 3);
	audit_close(a);
	db_exec(e->db, PAGES_AS_SCHEMA_6 "DROP TABLE audit_runs; PRAGMA user_version = 5");
	assert_non_null(a = audit_open_serve(&e->cfg, AUDIT_SETTLE_MARK, NULL, NULL));
	assert_int_equal(db_int(e->db, "SELECT count(DISTINCT page_id) FROM audit_log WHERE event = 'canceled' "
	                               "AND page_id <= 'page000000000000000003'"), 3);
	/* the start indexed the rows its settle wrote before serving */
	assert_int_equal(db_int(e->db, "SELECT through FROM audit_page_mark"),
	                 db_int(e->db, "SELECT max(id) FROM audit_log"));
	assert_int_equal(db_int(e->db, "SELECT first_row_id FROM audit_runs WHERE store = 'redis'"), 7);
	submit_minted(a, 4, 5);
	audit_close(a);
	assert_non_null(a = audit_open_serve(&e->cfg, AUDIT_SETTLE_ENDS, NULL, NULL));
	audit_close(a);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE event = 'canceled'"), 3);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_runs"), 2);
	assert_int_equal(db_int(e->db, "SELECT first_row_id FROM audit_runs WHERE store = 'memory'"), 9);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
}

static void expect_status(struct audit_reader *r, int page, int want_rc, const char *want)
{
	struct audit_status st;
	char id[32];
	int rc;

	snprintf(id, sizeof id, "page%018d", page);
	rc = audit_reader_status(r, id, &st);
	if (rc != want_rc || (want != NULL && strcmp(st.status, want) != 0))
		fail_msg("status of %s: rc %d \"%s\", expected rc %d \"%s\"", id, rc, rc == 0 ? st.status : "",
		         want_rc, want ? want : "");
}

/* A version-6 file: the migration puts every row's page id in the page
 * index, sets the mark to the last row and drops the row-by-row index. */
static void test_page_index_migration(void **state)
{
	struct env *e = *state;
	struct audit_verify v;
	struct audit_reader *r;

	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;

	assert_non_null(a);
	submit_minted(a, 1, 4);
	fill_event(&ev, AUDIT_APPROVED, 2);
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);
	db_exec(e->db, PAGES_AS_SCHEMA_6 "PRAGMA user_version = 6");
	/* a reader of the version-6 file, before any writer migrates it */
	assert_non_null(r = audit_reader_open(e->db));
	expect_status(r, 2, 0, "approved");
	expect_status(r, 9, 1, NULL);
	audit_reader_close(r);
	write_events(e, 2);
	assert_int_equal(db_int(e->db, "PRAGMA user_version"), AUDITDB_VERSION);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM sqlite_master WHERE name = 'audit_log_page_id'"), 0);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_page_index WHERE row_id <= 5"), 5);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_page_index i JOIN audit_log l"
	                               " ON l.id = i.row_id AND l.page_id = i.page_id"),
	                 db_int(e->db, "SELECT count(*) FROM audit_page_index"));
	/* the migration's mark; the writer closed before its idle time */
	assert_int_equal(db_int(e->db, "SELECT through FROM audit_page_mark"), 5);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, 7);
}

/* Lookups by page id find a page's rows whether the page index holds them or
 * they come after its mark: the status the API falls back on, `audit show`. */
static void test_page_lookups_read_index_and_tail(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;
	struct audit_reader *r;
	char *out;

	assert_non_null(a);
	submit_minted(a, 1, 4);                                    /* rows 1-4 */
	fill_event(&ev, AUDIT_APPROVED, 2);                        /* row 5 */
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	fill_event(&ev, AUDIT_DENIED, 4);                          /* row 6 */
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);
	/* the index holds rows 1-3; 4-6 come after its mark */
	db_exec(e->db, "DELETE FROM audit_page_index; INSERT INTO audit_page_index"
	        " SELECT page_id, id FROM audit_log WHERE id <= 3; UPDATE audit_page_mark SET through = 3");
	assert_non_null(r = audit_reader_open(e->db));
	expect_status(r, 1, 0, "pending");     /* indexed */
	expect_status(r, 2, 0, "approved");    /* minted indexed, decided after the mark */
	expect_status(r, 4, 0, "denied");      /* both after the mark */
	expect_status(r, 9, 1, NULL);          /* no such page */
	audit_reader_close(r);
	assert_int_equal(run_cmd(e, &out, 4, "show", "--db", e->db, "page000000000000000002"), 0);
	if (strstr(out, "minted") == NULL || strstr(out, "approved") == NULL)
		fail_msg("`audit show` should list page 2's minted and approved rows, printed: %s", out);
	free(out);
	assert_int_equal(run_cmd(e, &out, 4, "show", "--db", e->db, "page000000000000000004"), 0);
	if (strstr(out, "minted") == NULL || strstr(out, "denied") == NULL)
		fail_msg("`audit show` should list page 4's minted and denied rows, printed: %s", out);
	free(out);
}

/* Polls (every 50 ms, at most 10 s) until the page index's mark is want. */
static int64_t wait_mark(struct env *e, int64_t want)
{
	int64_t through = -1;

	for (int i = 0; i < 200 && (through = db_int(e->db, "SELECT through FROM audit_page_mark")) != want;
	     i++)
		usleep(50 * 1000);
	return through;
}

static void expect_index_whole(struct env *e, int64_t n)
{
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_page_index"), n);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_page_index i JOIN audit_log l"
	                               " ON l.id = i.row_id AND l.page_id = i.page_id"), n);
}

/* The writer indexes what it writes: a whole slice between groups (a stop
 * right after the rows leaves it no idle time), the rest once it has been
 * idle a while (bounded wait). */
static void test_writer_fills_the_page_index(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	int64_t n = AUDIT_PAGES_SLICE + 100;

	assert_non_null(a);
	submit_minted(a, 1, (int)n);
	audit_close(a);
	assert_int_equal(db_int(e->db, "SELECT through FROM audit_page_mark"), AUDIT_PAGES_SLICE);
	expect_index_whole(e, AUDIT_PAGES_SLICE);
	assert_non_null(a = audit_open(&e->cfg, NULL, NULL));
	assert_int_equal(wait_mark(e, n), n);
	expect_index_whole(e, n);
	audit_close(a);
}

/* A slice that fails (here a trigger refuses its INSERT) leaves the mark
 * where it was, is logged once, not per retry, and lookups still find the
 * rows after the mark; once it can, the writer indexes them. */
static void test_failed_slices_keep_the_mark(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_reader *r;
	char log[160], *text;
	size_t len;
	int saved, n = 0;

	assert_non_null(a);
	snprintf(log, sizeof log, "%s/stderr.txt", e->dir);
	db_exec(e->db, "CREATE TRIGGER refuse BEFORE INSERT ON audit_page_index"
	        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
	log_init(LOG_WARN, false);
	saved = stderr_to(log);
	submit_minted(a, 1, 10);
	usleep(AUDIT_PAGES_IDLE_MS * 1000 + 2 * AUDIT_PAGES_RETRY_MS * 1000);  /* a try, two retries */
	stderr_back(saved);
	log_init(LOG_ERROR, false);
	assert_int_equal(db_int(e->db, "SELECT through FROM audit_page_mark"), 0);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_page_index"), 0);
	assert_non_null(r = audit_reader_open(e->db));
	expect_status(r, 7, 0, "pending");
	audit_reader_close(r);
	text = slurp(log, &len);
	for (const char *p = text; (p = strstr(p, "the page index could not take rows")) != NULL; p++)
		n++;
	if (n != 1)
		fail_msg("expected one warning for the failing slices, the log has: %s", text);
	free(text);
	db_exec(e->db, "DROP TRIGGER refuse");
	assert_int_equal(wait_mark(e, 10), 10);
	expect_index_whole(e, 10);
	audit_close(a);
}

/* The index refuses plain SQL edits, and `audit verify` finds the edits an
 * intruder who drops the triggers makes: a row left out, a row listed under
 * another page, the mark removed (which the next writer rebuilds). */
static void test_page_index_edits_are_refused_and_found(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_verify v;
	sqlite3 *db;
	char *out;

	assert_non_null(a);
	submit_minted(a, 1, 6);
	assert_int_equal(wait_mark(e, 6), 6);
	audit_close(a);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	db = db_open(e->db);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_page_index WHERE row_id = 3", NULL, NULL,
	                                  NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_page_mark SET through = 2", NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_page_mark", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	db_exec(e->db, "DROP TRIGGER audit_page_index_no_delete; DROP TRIGGER audit_page_index_no_update;"
	        " DROP TRIGGER audit_page_mark_no_delete; DELETE FROM audit_page_index WHERE row_id = 3");
	assert_int_equal(audit_verify_chain(e->db, &v), 1);
	assert_true(v.bad_index);
	assert_int_equal(v.bad_id, 3);
	assert_int_equal(run_cmd(e, &out, 3, "verify", "--db", e->db), 1);
	if (strstr(out, "row id 3:") == NULL || strstr(out, "leaves this row out") == NULL)
		fail_msg("`audit verify` should name row 3 as left out of the page index, printed: %s", out);
	free(out);

	db_exec(e->db, "INSERT INTO audit_page_index VALUES ('page000000000000000003', 3);"
	        " UPDATE audit_page_index SET page_id = 'page000000000000000001' WHERE row_id = 5");
	assert_int_equal(audit_verify_chain(e->db, &v), 1);
	assert_int_equal(v.bad_id, 5);

	db_exec(e->db, "UPDATE audit_page_index SET page_id = 'page000000000000000005' WHERE row_id = 5;"
	        " DELETE FROM audit_page_mark");
	assert_int_equal(audit_verify_chain(e->db, &v), 1);
	assert_true(v.bad_index);
	/* the next writer rebuilds the mark and lists every row again */
	assert_non_null(a = audit_open(&e->cfg, NULL, NULL));
	assert_int_equal(wait_mark(e, 6), 6);
	audit_close(a);
	expect_index_whole(e, 6);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
}

/* A version-1 file (before node_id) is migrated: its rows keep verifying in
 * the first encoding, new rows carry the node in the second, and the export
 * shows the node; two files export merged by time. */
static void test_node_rows_after_migration(void **state)
{
	struct env *e = *state;
	struct audit_verify v;
	char *out, *db2;
	int n = 0;

	write_events(e, 3);
	db_exec(e->db, PAGES_AS_SCHEMA_6 "DROP TABLE audit_checkpoint; DROP TABLE audit_settled; DROP TABLE audit_runs; ALTER TABLE audit_log DROP COLUMN node; "
	        "PRAGMA user_version = 1");
	e->cfg.node_id = (char *)"node-a";
	write_events(e, 2);
	assert_int_equal(db_int(e->db, "PRAGMA user_version"), AUDITDB_VERSION);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE node IS NULL"), 3);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE node = 'node-a'"), 2);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, 5);
	/* a changed node breaks its row */
	db_exec(e->db, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET node = 'node-b' WHERE id = 4");
	assert_int_equal(audit_verify_chain(e->db, &v), 1);
	assert_int_equal(v.bad_id, 4);
	db_exec(e->db, "UPDATE audit_log SET node = 'node-a' WHERE id = 4");
	assert_int_equal(audit_verify_chain(e->db, &v), 0);

	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--format=csv"), 0);
	if (strstr(out, ",prev_hash,hash,node\r\n") == NULL || strstr(out, ",node-a\r\n") == NULL)
		fail_msg("expected a node column naming node-a, got:\n%s", out);
	free(out);

	/* a second node's file, written later: merged after, each row with its node */
	db2 = xstrdup(e->db);
	db2[strlen(db2) - 1] = '2';
	e->cfg.db_path = db2;
	e->cfg.node_id = (char *)"node-b";
	write_events(e, 2);
	assert_int_equal(run_cmd(e, &out, 5, "export", "--db", e->db, "--db", db2), 0);
	for (char *line = out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, n++) {
		*nl = '\0';
		if (n >= 5 && strstr(line, "\"node\":\"node-b\"") == NULL)
			fail_msg("expected row %d of the merge from node-b, got %s", n, line);
		if (n >= 3 && n < 5 && strstr(line, "\"node\":\"node-a\"") == NULL)
			fail_msg("expected row %d of the merge from node-a, got %s", n, line);
	}
	assert_int_equal(n, 7);
	free(out);
	e->cfg.db_path = e->db;
	e->cfg.node_id = NULL;
	free(db2);
}

static void test_newer_schema_is_refused(void **state)
{
	struct env *e = *state;

	char path[160];
	int saved;

	write_events(e, 1);
	db_exec(e->db, "PRAGMA user_version = 99");
	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);
	assert_null(audit_open(&e->cfg, NULL, NULL));
	stderr_back(saved);
	/* refused for the version, not for any other failure, and left as it was */
	{
		size_t len;
		char *log = slurp(path, &len);
		if (strstr(log, "has schema version 99, newer than this build's") == NULL)
			fail_msg("expected the refusal to name schema version 99, got \"%s\"", log);
		free(log);
	}
	assert_int_equal(db_int(e->db, "PRAGMA user_version"), 99);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log"), 1);
}

static void test_plain_sql_edits_are_refused(void **state)
{
	struct env *e = *state;
	sqlite3 *db;
	char *err = NULL;

	write_events(e, 3);
	db = db_open(e->db);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_log SET phone = 'x' WHERE id = 2", NULL,
	                                  NULL, &err), SQLITE_OK);
	assert_non_null(strstr(err, "append-only"));
	sqlite3_free(err);
	err = NULL;
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_log WHERE id = 2", NULL, NULL, &err),
	                     SQLITE_OK);
	assert_non_null(strstr(err, "append-only"));
	sqlite3_free(err);
	sqlite3_close(db);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log"), 3);
}

static void test_validation_logs_view_shows_approved_rows(void **state)
{
	struct env *e = *state;
	char *v;

	write_events(e, 14);     /* kinds cycle: ids 1 and 8 are approved */
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM validation_logs"), 2);
	/* autorizacion: the evidence, refdata with the server-observed ip and
	 * user agent, as the prototype stored the page's device JSON there */
	v = db_text(e->db, "SELECT telefono || '|' || autorizacion FROM validation_logs WHERE id = 8");
	assert_string_equal(v, "+5215550000008|{\"tz\":\"America/Mexico_City\",\"w\":390,"
	                       "\"ip\":\"203.0.113.7\",\"user_agent\":\"Mozilla/5.0 (test)\"}");
	free(v);
	v = db_text(e->db, "SELECT autorizacion FROM validation_logs WHERE id = 1");
	assert_string_equal(v, "{\"ip\":\"203.0.113.7\",\"user_agent\":\"Mozilla/5.0 (test)\"}");
	free(v);
	/* date: the prototype's "YYYY-MM-DD HH:MM:SS", in UTC, the audit row's ts */
	v = db_text(e->db, "SELECT date || '|' || (SELECT ts FROM audit_log WHERE id = 1) "
	                   "FROM validation_logs WHERE id = 1");
	assert_int_equal(strlen(v), 19 + 1 + 24);
	assert_int_equal(v[10], ' ');
	assert_memory_equal(v, v + 20, 10);
	assert_memory_equal(v + 11, v + 20 + 11, 8);
	free(v);
}

/* ---- chain ------------------------------------------------------------- */

static void test_verify_intact_chain(void **state)
{
	struct env *e = *state;
	struct audit_verify v;
	char *out, *head, want[160];
	int saved;

	write_events(e, 50);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, 50);
	assert_int_equal(v.head_id, 50);
	head = db_text(e->db, "SELECT hash FROM audit_log WHERE id = 50");
	assert_string_equal(v.head_hash, head);
	assert_int_equal(db_int(e->db, "SELECT prev_hash = printf('%064d', 0) FROM audit_log "
	                               "WHERE id = 1"), 1);

	assert_int_equal(run_cmd(e, &out, 3, "verify", "--db", e->db), 0);
	assert_non_null(strstr(out, "50 rows checked"));
	assert_non_null(strstr(out, head));
	free(out);
	snprintf(want, sizeof want, "%s/stderr.txt", e->dir);
	saved = stderr_to(want);
	assert_int_equal(run_cmd(e, &out, 2, "head", "--db=/nonexistent/x.db"), 1);
	stderr_back(saved);
	free(out);
	snprintf(want, sizeof want, "--db=%s", e->db);
	assert_int_equal(run_cmd(e, &out, 2, "head", want), 0);
	snprintf(want, sizeof want, "id 50 hash %s\n", head);
	assert_string_equal(out, want);
	free(out);
	free(head);
}

static void test_empty_log_verifies(void **state)
{
	struct env *e = *state;
	struct audit_verify v;

	write_events(e, 0);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, 0);
	assert_int_equal(v.head_id, 0);
}

static void test_chain_continues_across_reopen(void **state)
{
	struct env *e = *state;
	struct audit_verify v;

	write_events(e, 10);
	write_events(e, 10);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, 20);
}

static void test_verify_catches_modified_field(void **state)
{
	struct env *e = *state;

	write_events(e, 40);
	tamper(e->db, "UPDATE audit_log SET phone = '+5215559999999' WHERE id = 17");
	expect_broken_at(e, 17);
}

static void test_verify_catches_modified_event(void **state)
{
	struct env *e = *state;

	write_events(e, 40);
	tamper(e->db, "UPDATE audit_log SET event = 'approved' WHERE id = 23");
	expect_broken_at(e, 23);
}

static void test_verify_tells_null_from_empty(void **state)
{
	struct env *e = *state;

	write_events(e, 10);     /* id 3: user_agent NULL */
	tamper(e->db, "UPDATE audit_log SET user_agent = '' WHERE id = 3");
	expect_broken_at(e, 3);
}

static void test_verify_catches_deleted_row(void **state)
{
	struct env *e = *state;

	write_events(e, 40);
	tamper(e->db, "DELETE FROM audit_log WHERE id = 20");
	expect_broken_at(e, 21);
}

static void test_verify_catches_deleted_first_row(void **state)
{
	struct env *e = *state;

	write_events(e, 5);
	tamper(e->db, "DELETE FROM audit_log WHERE id = 1");
	expect_broken_at(e, 2);
}

static void test_verify_catches_renumbered_rows(void **state)
{
	struct env *e = *state;

	write_events(e, 10);
	/* Remove row 5 and move the later rows down, as if it never existed. */
	tamper(e->db, "DELETE FROM audit_log WHERE id = 5;"
	               "UPDATE audit_log SET id = id - 1 WHERE id > 5");
	expect_broken_at(e, 5);
}

static void test_verify_catches_swapped_rows(void **state)
{
	struct env *e = *state;

	write_events(e, 40);
	/* Swap every column but the id between rows 10 and 30. */
	tamper(e->db,
	        "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE id IN (10, 30);"
	        "UPDATE audit_log SET (ts, event, page_id, client_id, phone, flow, ip, user_agent, "
	        " refdata, prev_hash, hash) = (SELECT ts, event, page_id, client_id, phone, flow, ip,"
	        " user_agent, refdata, prev_hash, hash FROM t WHERE t.id = 40 - audit_log.id)"
	        " WHERE id IN (10, 30);");
	expect_broken_at(e, 10);
}

static void test_verify_catches_swapped_contents_keeping_hashes(void **state)
{
	struct env *e = *state;

	write_events(e, 40);
	tamper(e->db,
	        "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE id IN (12, 13);"
	        "UPDATE audit_log SET (ts, event, page_id, client_id, phone, flow, ip, user_agent,"
	        " refdata) = (SELECT ts, event, page_id, client_id, phone, flow, ip, user_agent,"
	        " refdata FROM t WHERE t.id = 25 - audit_log.id) WHERE id IN (12, 13);");
	expect_broken_at(e, 12);
}

static void test_verify_missing_database_is_not_intact(void **state)
{
	struct env *e = *state;
	char *out, path[160];
	int saved;

	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);
	assert_int_equal(run_cmd(e, &out, 3, "verify", "--db", "/nonexistent/logs.db"), 1);
	stderr_back(saved);
	free(out);
}

/* ---- export ------------------------------------------------------------ */

static const char *const cols[] = {
	"id", "ts", "event", "page_id", "client_id", "phone", "flow", "ip", "user_agent",
	"refdata", "prev_hash", "hash",
};

static void test_export_jsonl_round_trips(void **state)
{
	struct env *e = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	char *out, *line, *save = NULL;
	int n = 0;

	write_events(e, 30);
	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--format=jsonl"), 0);
	db = db_open(e->db);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT id, ts, event, page_id, client_id, phone, "
	                 "flow, ip, user_agent, refdata, prev_hash, hash FROM audit_log ORDER BY id",
	                 -1, &st, NULL), SQLITE_OK);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal((int64_t)cJSON_GetObjectItem(j, "id")->valuedouble,
		                 sqlite3_column_int64(st, 0));
		for (int c = 1; c < 12; c++) {
			cJSON *f = cJSON_GetObjectItemCaseSensitive(j, cols[c]);
			assert_non_null(f);
			if (sqlite3_column_type(st, c) == SQLITE_NULL)
				assert_true(cJSON_IsNull(f));
			else
				assert_string_equal(f->valuestring, (const char *)sqlite3_column_text(st, c));
		}
		cJSON_Delete(j);
		n++;
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(n, 30);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(out);
}

static void test_export_since_filters_on_time(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;
	char *out;
	int lines = 0;

	assert_non_null(a);
	for (int i = 0; i < 10; i++) {
		fill_event(&ev, AUDIT_MINTED, i);
		ev.ts_ms = 1795000000000LL + i * 60000LL;   /* one a minute */
		assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	}
	audit_close(a);
	/* 1795000000000 ms = 2026-11-18T11:06:40Z; rows at +0..+9 minutes. */
	assert_int_equal(run_cmd(e, &out, 5, "export", "--db", e->db, "--since",
	                         "2026-11-18T11:11:40Z"), 0);
	for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 5);
	assert_non_null(strstr(out, "\"ts\":\"2026-11-18T11:11:40.000Z\""));
	assert_null(strstr(out, "\"ts\":\"2026-11-18T11:10:40.000Z\""));
	free(out);
	/* An offset is honoured: 09:31:40+01:00 is the same instant. */
	assert_int_equal(run_cmd(e, &out, 5, "export", "--db", e->db, "--since",
	                         "2026-11-18T12:11:40.000+01:00"), 0);
	lines = 0;
	for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 5);
	free(out);
}

static void test_export_csv_quotes_fields(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;
	char *out;

	assert_non_null(a);
	fill_event(&ev, AUDIT_APPROVED, 1);
	ev.user_agent = "Agent, \"quoted\"";
	ev.ip = "";
	ev.refdata = NULL;
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);
	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--format=csv"), 0);
	static const char header[] =
		"id,ts,event,page_id,client_id,phone,flow,ip,user_agent,refdata,prev_hash,hash\r\n";
	assert_true(strncmp(out, header, sizeof header - 1) == 0);
	/* ip "" is a quoted empty field, refdata NULL an empty one */
	assert_non_null(strstr(out, ",Resultado MFA,\"\",\"Agent, \"\"quoted\"\"\",,"));
	free(out);
}

/* OWASP's rule: every text cell starting with = + - @ tab or CR is guarded
 * with a leading ', "+1+HYPERLINK" and "-1+cmd" included; only a phone made
 * of digits stays as it is. (A CR never reaches the log: it is stored as ?.) */
static void test_export_csv_guards_formulas(void **state)
{
	static const struct { const char *ua, *want; } cases[] = {
		{ "-1+cmd|' /C calc'!A0", ",\"'-1+cmd|' /C calc'!A0\"," },
		{ "+1+HYPERLINK(\"http://x\")", ",\"'+1+HYPERLINK(\"\"http://x\"\")\"," },
		{ "=1+1", ",\"'=1+1\"," },
		{ "@SUM(A1)", ",\"'@SUM(A1)\"," },
		{ "\tx", ",\"'\tx\"," },
		{ "-", ",\"'-\"," },
		{ "Mozilla-5", ",Mozilla-5," },
	};
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;
	char *out;

	assert_non_null(a);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		fill_event(&ev, AUDIT_APPROVED, (int)i + 1);
		ev.user_agent = cases[i].ua;
		assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	}
	audit_close(a);
	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--format=csv"), 0);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (strstr(out, cases[i].want) == NULL)
			fail_msg("user agent %s: expected %s in\n%.1500s", cases[i].ua, cases[i].want, out);
	assert_non_null(strstr(out, ",+5215550000001,"));       /* a phone is a number */
	free(out);
}

static void test_cmd_rejects_bad_usage(void **state)
{
	struct env *e = *state;
	char *out, path[160];
	int saved;

	write_events(e, 1);
	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);
	assert_int_equal(run_cmd(e, &out, 1, "frobnicate"), 2);
	free(out);
	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--format=xml"), 2);
	free(out);
	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--since=yesterday"), 2);
	free(out);
	assert_int_equal(run_cmd(e, &out, 4, "export", "--db", e->db, "--since=2026-02-30"), 2);
	free(out);
	assert_int_equal(run_cmd(e, &out, 3, "verify", "--format", "csv"), 2);
	free(out);
	assert_int_equal(run_cmd(e, &out, 2, "verify", "--db"), 2);
	free(out);
	assert_int_equal(run_cmd(e, &out, 2, "export", "--help"), 0);
	assert_non_null(strstr(out, "usage:"));
	free(out);
	assert_int_equal(run_cmd(e, &out, 0), 2);
	free(out);
	stderr_back(saved);
}

/* ---- what is stored ---------------------------------------------------- */

static void test_event_fields_are_bounded_and_checked(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;
	char ua[AUDIT_UA_MAX + 100], big[AUDIT_REFDATA_MAX + 100], *v;

	assert_non_null(a);
	memset(ua, 'u', sizeof ua - 1);
	ua[sizeof ua - 1] = '\0';
	memcpy(ua + AUDIT_UA_MAX - 1, "\xc3\xa9", 2);   /* an é across the cut */
	snprintf(big, sizeof big, "{\"k\":\"%0*d\"}", AUDIT_REFDATA_MAX, 0);

	fill_event(&ev, AUDIT_APPROVED, 1);
	ev.user_agent = ua;
	ev.refdata = "{ \"tz\" : \"UTC\",\n \"w\": 390 }";
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	fill_event(&ev, AUDIT_DENIED, 2);
	ev.refdata = "{\"tz\": ";                   /* not JSON */
	ev.user_agent = "bad \xff utf8 \x01 ctl";
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	fill_event(&ev, AUDIT_DENIED, 3);
	ev.refdata = "[1, 2]";                      /* JSON, not an object */
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	fill_event(&ev, AUDIT_DENIED, 4);
	ev.refdata = big;                           /* an object, too long */
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);

	assert_int_equal(db_int(e->db, "SELECT length(CAST(user_agent AS BLOB)) FROM audit_log "
	                               "WHERE id = 1"), AUDIT_UA_MAX - 1);
	v = db_text(e->db, "SELECT refdata FROM audit_log WHERE id = 1");
	assert_string_equal(v, "{\"tz\":\"UTC\",\"w\":390}");
	free(v);
	assert_null(db_text(e->db, "SELECT refdata FROM audit_log WHERE id = 2"));
	assert_null(db_text(e->db, "SELECT refdata FROM audit_log WHERE id = 3"));
	assert_null(db_text(e->db, "SELECT refdata FROM audit_log WHERE id = 4"));
	v = db_text(e->db, "SELECT user_agent FROM audit_log WHERE id = 2");
	assert_string_equal(v, "bad ? utf8 ? ctl");
	free(v);
}

static void test_decision_writes_outbox_rows_in_same_transaction(void **state)
{
	struct env *e = *state;
	struct audit *a;
	struct audit_event ev;
	char *body;
	cJSON *j;

	e->cfg.chatfuel_bot_id = (char *)"bot1";
	e->cfg.chatfuel_token = (char *)"tok";
	e->cfg.webhook_url = (char *)"http://127.0.0.1:9/hook";
	e->cfg.webhook_secret = (char *)"sec";
	a = audit_open(&e->cfg, NULL, NULL);
	assert_non_null(a);
	fill_event(&ev, AUDIT_MINTED, 1);
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	fill_event(&ev, AUDIT_APPROVED, 1);
	ev.ts_ms = 1795000000123LL;
	ev.notify = true;
	ev.validated = true;
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);

	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox"), 2);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE audit_id = 2 AND "
	                               "state = 'pending' AND client_id = 'client-1' AND "
	                               "flow = 'Resultado MFA' AND validated = 1"), 2);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE kind = 'chatfuel' AND "
	                               "target = 'flow' AND body IS NULL"), 1);
	body = db_text(e->db, "SELECT body FROM outbox WHERE kind = 'webhook'");
	j = cJSON_Parse(body);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, "challenge.approved");
	assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "approved");
	assert_string_equal(cJSON_GetObjectItem(j, "page_id")->valuestring, "page000000000000000001");
	assert_string_equal(cJSON_GetObjectItem(j, "client_id")->valuestring, "client-1");
	assert_string_equal(cJSON_GetObjectItem(j, "phone")->valuestring, "+5215550000001");
	assert_string_equal(cJSON_GetObjectItem(j, "flow_name")->valuestring, "Resultado MFA");
	assert_string_equal(cJSON_GetObjectItem(j, "decided_at")->valuestring,
	                    "2026-11-18T11:06:40.123Z");
	cJSON_Delete(j);
	free(body);
	/* The token is added at send time only. */
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE "
	                               "coalesce(body, '') LIKE '%tok%' OR target LIKE '%tok%'"), 0);
}

static void test_without_credentials_results_are_skipped(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;

	assert_non_null(a);
	fill_event(&ev, AUDIT_DENIED, 1);
	ev.notify = true;
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE kind = 'chatfuel' AND "
	                               "state = 'skipped' AND validated = 0"), 1);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE kind = 'webhook'"), 0);
}

/* ---- the writer -------------------------------------------------------- */

struct durable_ctx {
	const char *db;
	int rc;
	int64_t rows_seen, outbox_seen;
};

static void on_durable(void *ctx, int rc)
{
	struct durable_ctx *d = ctx;

	d->rc = rc;
	/* The callback runs after the commit: a fresh connection sees both rows. */
	d->rows_seen = db_int(d->db, "SELECT count(*) FROM audit_log WHERE event = 'approved'");
	d->outbox_seen = db_int(d->db, "SELECT count(*) FROM outbox");
}

static void test_done_runs_after_the_group_is_durable(void **state)
{
	struct env *e = *state;
	struct durable_ctx d = { e->db, -5, 0, 0 };
	struct audit *a;
	struct audit_event ev;

	e->cfg.chatfuel_bot_id = (char *)"bot1";
	e->cfg.chatfuel_token = (char *)"tok";
	a = audit_open(&e->cfg, NULL, NULL);
	assert_non_null(a);
	fill_event(&ev, AUDIT_APPROVED, 1);
	ev.notify = true;
	ev.validated = true;
	assert_int_equal(audit_submit(a, &ev, on_durable, &d), 0);
	audit_close(a);
	assert_int_equal(d.rc, 0);
	assert_int_equal(d.rows_seen, 1);
	assert_int_equal(d.outbox_seen, 1);
}

#define GC_THREADS 8
#define GC_EACH 500

struct gc {
	struct audit *a;
	int t;
	_Atomic int *ok, *bad, *called;
};

static void gc_done(void *ctx, int rc)
{
	struct gc *g = ctx;

	atomic_fetch_add(rc == 0 ? g->ok : g->bad, 1);
	atomic_fetch_add(g->called, 1);
}

static void *gc_thread(void *arg)
{
	struct gc *g = arg;
	struct audit_event ev;
	char client[32];

	for (int i = 0; i < GC_EACH; i++) {
		memset(&ev, 0, sizeof ev);
		ev.kind = i % 2 ? AUDIT_APPROVED : AUDIT_DENIED;
		snprintf(ev.page_id, sizeof ev.page_id, "t%dp%d", g->t, i);
		snprintf(client, sizeof client, "c%d-%d", g->t, i);
		ev.client_id = client;
		ev.phone = "+5215550000000";
		ev.flow = "f";
		ev.notify = true;
		ev.validated = i % 2;
		while (audit_submit(g->a, &ev, gc_done, g) != 0)
			usleep(100);
	}
	return NULL;
}

static void test_group_commit_under_concurrency(void **state)
{
	struct env *e = *state;
	struct gc g[GC_THREADS];
	pthread_t th[GC_THREADS];
	_Atomic int ok = 0, bad = 0, called = 0;
	struct audit_stats stats;
	struct audit_verify v;
	char path[160], *log;
	size_t len;
	int saved;

	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	assert_non_null(a);
	for (int t = 0; t < GC_THREADS; t++) {
		g[t] = (struct gc){ a, t, &ok, &bad, &called };
		assert_int_equal(pthread_create(&th[t], NULL, gc_thread, &g[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);
	audit_get_stats(a, &stats);
	audit_close(a);
	stderr_back(saved);

	assert_int_equal(atomic_load(&called), GC_THREADS * GC_EACH);
	assert_int_equal(atomic_load(&ok), GC_THREADS * GC_EACH);
	assert_int_equal(atomic_load(&bad), 0);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log"), GC_THREADS * GC_EACH);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox"), GC_THREADS * GC_EACH);
	assert_int_equal(db_int(e->db, "SELECT count(DISTINCT page_id) FROM audit_log"),
	                 GC_THREADS * GC_EACH);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, GC_THREADS * GC_EACH);
	/* The point of the writer: far fewer commits (fsyncs) than events. */
	if (stats.groups >= (uint64_t)GC_THREADS * GC_EACH / 2)
		fail_msg("expected grouped commits, got %llu groups for %d events",
		         (unsigned long long)stats.groups, GC_THREADS * GC_EACH);
	log = slurp(path, &len);
	if (strstr(log, "locked") != NULL || strstr(log, "error") != NULL)
		fail_msg("the log should be clean, it says: %s", log);
	free(log);
}

#define BIG_GROUP 100      /* more than the rows the writer inserts per statement */
#define BIG_GROUP_WAIT_MS 10000

/* A group of many rows (the writer inserts several per statement): every
 * row chains, and each result's outbox rows point at its own audit row, with
 * that row's time. The database is held locked while the events queue, so
 * they reach the writer in at most two groups. */
static void test_a_big_group_keeps_each_result_on_its_row(void **state)
{
	struct env *e = *state;
	struct audit_stats stats;
	struct audit_verify v;
	struct audit_event ev;
	struct audit *a;
	sqlite3 *locker;
	char path[160];
	int saved, notified = 0;

	e->cfg.chatfuel_bot_id = (char *)"bot1";
	e->cfg.chatfuel_token = (char *)"tok";
	e->cfg.webhook_url = (char *)"http://127.0.0.1:9/hook";
	e->cfg.webhook_secret = (char *)"sec";
	e->cfg.node_id = (char *)"node-a";
	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);
	a = audit_open(&e->cfg, NULL, NULL);
	assert_non_null(a);
	locker = db_open(e->db);
	assert_int_equal(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 1; i <= BIG_GROUP; i++) {
		fill_event(&ev, i % 3 == 0 ? AUDIT_APPROVED : AUDIT_MINTED, i);
		ev.ts_ms = 1795000000000LL + 7 * i;
		ev.notify = i % 3 == 0;
		ev.validated = true;
		notified += ev.notify;
		assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	}
	assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(locker);
	for (int i = 0; i < BIG_GROUP_WAIT_MS; i++) {      /* bounded: 10 s */
		audit_get_stats(a, &stats);
		if (stats.written == BIG_GROUP)
			break;
		usleep(1000);
	}
	audit_close(a);
	stderr_back(saved);
	assert_int_equal(stats.written, BIG_GROUP);
	if (stats.groups > 2)
		fail_msg("the events queued behind the lock should make at most two groups, got %llu",
		         (unsigned long long)stats.groups);

	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, BIG_GROUP);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE node = 'node-a' AND "
	                               "page_id = printf('page%018d', id) AND "
	                               "client_id = 'client-' || id"), BIG_GROUP);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox"), 2 * notified);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox o JOIN audit_log r ON "
	                               "r.id = o.audit_id WHERE r.event = 'approved' AND "
	                               "r.client_id = o.client_id"), 2 * notified);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox o JOIN audit_log r ON "
	                               "r.id = o.audit_id WHERE o.kind = 'webhook' AND "
	                               "json_extract(o.body, '$.decided_at') = r.ts AND "
	                               "json_extract(o.body, '$.page_id') = r.page_id"), notified);
}

#define FULL_WAIT_MS 60000     /* the queue's rows written once the lock goes (bounded) */

/* Back-pressure: with the database locked elsewhere the queue fills; the
 * submit past AUDIT_QUEUE_MAX is refused (the request answers 503), so is a
 * wait for room that ends first, while a challenge's end is still taken (up
 * to AUDIT_QUEUE_HARD_MAX). Once the lock goes, every accepted event is a
 * row of an intact chain and the queue takes events again. */
static void test_a_full_queue_refuses_and_loses_nothing(void **state)
{
	struct env *e = *state;
	struct audit_stats stats;
	struct audit_verify v;
	struct audit_event ev;
	struct audit *a;
	sqlite3 *locker;
	char path[160], *log;
	size_t len;
	int saved, i, accepted = 0;

	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);
	a = audit_open(&e->cfg, NULL, NULL);
	assert_non_null(a);
	locker = db_open(e->db);
	assert_int_equal(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	/* One event the writer takes as its group and retries against the lock:
	 * from then on nothing leaves the queue. */
	fill_event(&ev, AUDIT_MINTED, 1);
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	for (i = 0; i < 10000; i++) {           /* bounded: 10 s */
		audit_get_stats(a, &stats);
		if (stats.queued == 0)
			break;
		usleep(1000);
	}
	assert_int_equal(stats.queued, 0);
	for (i = 2; i <= AUDIT_QUEUE_MAX + 2; i++) {
		fill_event(&ev, AUDIT_MINTED, i);
		if (audit_submit(a, &ev, NULL, NULL) != 0)
			break;
		accepted++;
	}
	assert_int_equal(accepted, AUDIT_QUEUE_MAX);
	fill_event(&ev, AUDIT_MINTED, i + 1);
	assert_int_equal(audit_submit_wait(a, &ev, mono_ms() + 50), -1);
	fill_event(&ev, AUDIT_EXPIRED, 2);
	assert_int_equal(audit_submit_end(a, &ev), 0);
	audit_get_stats(a, &stats);
	assert_int_equal(stats.queued, AUDIT_QUEUE_MAX + 1);
	assert_int_equal(stats.rejected, 2);
	assert_int_equal(stats.written, 0);

	assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(locker);
	for (i = 0; i < FULL_WAIT_MS; i++) {
		audit_get_stats(a, &stats);
		if (stats.written == (uint64_t)AUDIT_QUEUE_MAX + 2)
			break;
		usleep(1000);
	}
	assert_int_equal(stats.written, AUDIT_QUEUE_MAX + 2);
	fill_event(&ev, AUDIT_MINTED, AUDIT_QUEUE_MAX + 10);
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	audit_close(a);
	stderr_back(saved);

	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, AUDIT_QUEUE_MAX + 3);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE event = 'minted'"),
	                 AUDIT_QUEUE_MAX + 2);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE event = 'expired' AND "
	                               "page_id = 'page000000000000000002'"), 1);
	log = slurp(path, &len);
	const char *full = strstr(log, "audit: queue full (65536 events)");
	if (full == NULL || strstr(full + strlen("audit: queue full"), "queue full") != NULL)
		fail_msg("expected one \"queue full\" error (throttled), the log says: %s", log);
	free(log);
}

static void test_events_in_one_thread_keep_their_order(void **state)
{
	struct env *e = *state;

	write_events(e, 100);
	/* ids follow submission order: page i has id i */
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE "
	                               "page_id = printf('page%018d', id)"), 100);
}

/* The writer formats a second once and patches the milliseconds in: rows
 * either side of a second boundary, and back, read as fmt_rfc3339_ms says. */
static void test_row_times_across_second_boundaries(void **state)
{
	static const int64_t times[] = {
		1795000000999LL, 1795000001000LL, 1795000001005LL, 1795000000999LL, 1795000059870LL,
		1795000060001LL,
	};
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;

	assert_non_null(a);
	for (size_t i = 0; i < ARRAY_LEN(times); i++) {
		fill_event(&ev, AUDIT_MINTED, (int)i + 1);
		ev.ts_ms = times[i];
		assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
	}
	audit_close(a);
	for (size_t i = 0; i < ARRAY_LEN(times); i++) {
		char want[40], sql[80], *got;

		fmt_rfc3339_ms(times[i], want, sizeof want);
		snprintf(sql, sizeof sql, "SELECT ts FROM audit_log WHERE id = %zu", i + 1);
		got = db_text(e->db, sql);
		assert_string_equal(got, want);
		free(got);
	}
	{
		char *out = NULL;
		assert_int_equal(run_cmd(e, &out, 3, "verify", "--db", e->db), 0);
		free(out);
	}
}

#define SUBMIT_WAIT_MAX 30000      /* ms a case waits for room in the queue, in all */

/* A refused submit (the queue full): waits 1 ms for room, at most
 * SUBMIT_WAIT_MAX in all, so a writer that stopped writing fails the case
 * instead of hanging it. */
static void submit_wait(int *waits)
{
	if (++*waits > SUBMIT_WAIT_MAX)
		fail_msg("the audit queue stayed full for %d ms: the writer is not writing", SUBMIT_WAIT_MAX);
	usleep(1000);
}

#define CKPT_EVENTS 100000           /* past AUDIT_CHECKPOINT_FRAMES WAL frames */
#define CKPT_DB_MIN_BYTES (1 << 20)

static void count_done(void *ctx, int rc)
{
	assert_int_equal(rc, 0);
	atomic_fetch_add((_Atomic int *)ctx, 1);
}

/* The writer turns SQLite's automatic checkpoint off and checkpoints between
 * groups itself: while it is still open, the rows reach the database file,
 * the WAL does not just grow. */
static void test_writer_checkpoints_the_wal(void **state)
{
	struct env *e = *state;
	struct audit *a = audit_open(&e->cfg, NULL, NULL);
	struct audit_event ev;
	_Atomic int done = 0;
	struct stat st;

	assert_non_null(a);
	for (int i = 1, waits = 0; i <= CKPT_EVENTS; i++) {
		fill_event(&ev, AUDIT_MINTED, i);
		while (audit_submit(a, &ev, count_done, &done) != 0)
			submit_wait(&waits);
	}
	for (int i = 0; i < 30000 && atomic_load(&done) < CKPT_EVENTS; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&done), CKPT_EVENTS);
	usleep(100000);                  /* the checkpoint follows the last callbacks */
	assert_int_equal(stat(e->db, &st), 0);
	assert_true(st.st_size >= CKPT_DB_MIN_BYTES);
	audit_close(a);
}

#define SETTLE_WAL_OPEN 250000     /* open rows whose cancels fill ~90 MiB of WAL */

/* The start's settle writes its cancels in groups and checkpoints between
 * them as the writer does: the WAL stays about AUDIT_CHECKPOINT_FRAMES long
 * however many challenges a killed run left open, and never holds the whole
 * settle (it is reused, never shrunk, so it would stay that size on disk). */
static void test_the_settle_keeps_the_wal_short(void **state)
{
	struct env *e = *state;
	struct audit_event ev;
	struct audit_verify v;
	struct audit *a;
	struct stat st;
	char wal[160], path[160];
	int page_size, saved;

	snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
	saved = stderr_to(path);          /* the queue fills while the rows are written */
	/* A run that records no mark at its close, as a killed one: its rows stay open. */
	assert_non_null(a = audit_open(&e->cfg, NULL, NULL));
	for (int i = 1, waits = 0; i <= SETTLE_WAL_OPEN; i++) {
		fill_event(&ev, AUDIT_MINTED, i);
		while (audit_submit(a, &ev, NULL, NULL) != 0)
			submit_wait(&waits);
	}
	audit_close(a);
	assert_non_null(a = audit_open_serve(&e->cfg, AUDIT_SETTLE_ENDS, NULL, NULL));
	snprintf(wal, sizeof wal, "%s-wal", e->db);
	assert_int_equal(stat(wal, &st), 0);
	page_size = (int)db_int(e->db, "PRAGMA page_size");
	audit_close(a);
	stderr_back(saved);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM audit_log WHERE event = 'canceled'"),
	                 SETTLE_WAL_OPEN);
	/* a checkpoint's worth of frames, one group's and the index's fill */
	if (st.st_size > (off_t)(AUDIT_CHECKPOINT_FRAMES + AUDIT_GROUP_MAX) * (page_size + 24))
		fail_msg("the settle left a WAL of %lld bytes (%lld frames of %d bytes), more than %d frames",
		         (long long)st.st_size, (long long)st.st_size / (page_size + 24), page_size,
		         AUDIT_CHECKPOINT_FRAMES + AUDIT_GROUP_MAX);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, 2 * SETTLE_WAL_OPEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
		T(test_schema_is_created_and_versioned),
		T(test_node_rows_after_migration),
		T(test_page_index_migration),
		T(test_page_lookups_read_index_and_tail),
		T(test_writer_fills_the_page_index),
		T(test_failed_slices_keep_the_mark),
		T(test_page_index_edits_are_refused_and_found),
		T(test_runs_settle_only_memory_rows),
		T(test_newer_schema_is_refused),
		T(test_plain_sql_edits_are_refused),
		T(test_validation_logs_view_shows_approved_rows),
		T(test_verify_intact_chain),
		T(test_empty_log_verifies),
		T(test_chain_continues_across_reopen),
		T(test_verify_catches_modified_field),
		T(test_verify_catches_modified_event),
		T(test_verify_tells_null_from_empty),
		T(test_verify_catches_deleted_row),
		T(test_verify_catches_deleted_first_row),
		T(test_verify_catches_renumbered_rows),
		T(test_verify_catches_swapped_rows),
		T(test_verify_catches_swapped_contents_keeping_hashes),
		T(test_verify_missing_database_is_not_intact),
		T(test_export_jsonl_round_trips),
		T(test_export_since_filters_on_time),
		T(test_export_csv_quotes_fields),
		T(test_export_csv_guards_formulas),
		T(test_cmd_rejects_bad_usage),
		T(test_event_fields_are_bounded_and_checked),
		T(test_decision_writes_outbox_rows_in_same_transaction),
		T(test_without_credentials_results_are_skipped),
		T(test_done_runs_after_the_group_is_durable),
		T(test_group_commit_under_concurrency),
		T(test_a_big_group_keeps_each_result_on_its_row),
		T(test_a_full_queue_refuses_and_loses_nothing),
		T(test_events_in_one_thread_keep_their_order),
		T(test_row_times_across_second_boundaries),
		T(test_writer_checkpoints_the_wal),
		T(test_the_settle_keeps_the_wal_short),
#undef T
	};

	log_init(LOG_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
