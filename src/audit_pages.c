/*
 * audit_pages: the page-id index, filled in slices on the writer's
 * connection (see include/audit_pages.h).
 *
 * A slice is "INSERT ... SELECT ... ORDER BY page_id" over a range of row
 * ids: SQLite inserts the pairs in key order, so the leaves it touches are
 * each written once per slice, however many of the slice's rows they take.
 * INSERT OR IGNORE: a slice that ran before a crash without its COMMIT left
 * nothing, and one that committed moved the mark with it, but a pair that
 * is already there is never an error (a mark rebuilt from 0 re-lists them).
 * Failures are logged here, throttled, never per attempt.
 */
#include "audit_pages.h"
#include "auditdb.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>

#define PAGES_FAIL_LOG_MS 10000        /* a failing slice is logged this often */

struct audit_pages {
	sqlite3 *db;
	sqlite3_stmt *fill, *mark;
	int64_t through;                   /* the last row id the index holds */
	int64_t retry_at_ms;               /* after a failure: no slice before then */
	int64_t logged_ms;                 /* the last failure logged */
};

struct audit_pages *audit_pages_open(sqlite3 *db)
{
	struct audit_pages *p = xcalloc(1, sizeof *p);
	sqlite3_stmt *st = NULL;
	int step;

	p->db = db;
	if (sqlite3_prepare_v2(db, "SELECT through FROM audit_page_mark", -1, &st, NULL) != SQLITE_OK ||
	    ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
		log_error("audit: reading the page index's mark: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (step == SQLITE_ROW)
		p->through = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (step == SQLITE_DONE) {
		/* Removed by hand (its trigger dropped first): the index is
		 * listed again from the first row, over what it still holds. */
		log_warn("audit: the page index's mark is missing; the page index is rebuilt from the "
		         "first row (run `mnmfa audit verify` to see what else was edited)");
		if (auditdb_exec(db, "INSERT INTO audit_page_mark (id, through) VALUES (1, 0)",
		                 "page index mark") != 0)
			goto fail;
	}
	if (sqlite3_prepare_v3(db, "INSERT OR IGNORE INTO audit_page_index (page_id, row_id)"
	                       " SELECT page_id, id FROM audit_log WHERE id > ?1 AND id <= ?2"
	                       " AND page_id IS NOT NULL ORDER BY page_id", -1,
	                       SQLITE_PREPARE_PERSISTENT, &p->fill, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, "UPDATE audit_page_mark SET through = ?1", -1,
	                       SQLITE_PREPARE_PERSISTENT, &p->mark, NULL) != SQLITE_OK) {
		log_error("audit: preparing the page index's statements: %s", sqlite3_errmsg(db));
		goto fail;
	}
	return p;
fail:
	sqlite3_finalize(st);
	audit_pages_free(p);
	return NULL;
}

void audit_pages_free(struct audit_pages *p)
{
	if (p == NULL)
		return;
	sqlite3_finalize(p->fill);
	sqlite3_finalize(p->mark);
	free(p);
}

int64_t audit_pages_through(const struct audit_pages *p)
{
	return p->through;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int audit_pages_fill(struct audit_pages *p, int64_t upto, int64_t now_mono_ms)
{
	if (upto <= p->through)
		return 0;
	if (sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(p->fill, 1, p->through);
	sqlite3_bind_int64(p->fill, 2, upto);
	sqlite3_bind_int64(p->mark, 1, upto);
	if (step_reset(p->fill) != 0 || step_reset(p->mark) != 0 ||
	    sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	p->through = upto;
	return 0;
fail:
	if (now_mono_ms - p->logged_ms >= PAGES_FAIL_LOG_MS) {
		log_warn("audit: the page index could not take rows %lld-%lld (%s); lookups by page id "
		         "scan them meanwhile, and it tries again", (long long)p->through + 1,
		         (long long)upto, sqlite3_errmsg(p->db));
		p->logged_ms = now_mono_ms;
	}
	if (!sqlite3_get_autocommit(p->db))
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	p->retry_at_ms = now_mono_ms + AUDIT_PAGES_RETRY_MS;
	return -1;
}

/* The id the query sql (no parameters) returns in its first column: 0
 * for none (NULL), -1 on an error. */
static int64_t first_id(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t id = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("audit verify: the page index: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);        /* NULL (none) reads as 0 */
	else
		log_error("audit verify: the page index: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return id;
}

int audit_pages_check(sqlite3 *db, int64_t *bad_id, const char **reason)
{
	static const struct {
		const char *sql, *reason;
	} checks[] = {
		{ "SELECT CASE WHEN (SELECT count(*) FROM audit_page_mark) = 1 THEN 0"
		  " ELSE COALESCE((SELECT min(id) FROM audit_log), 1) END",
		  "the page index's mark (audit_page_mark) was removed" },
		{ "SELECT min(l.id) FROM audit_log l WHERE l.id <= (SELECT through FROM audit_page_mark)"
		  " AND l.page_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_page_index i"
		  " WHERE i.page_id = l.page_id AND i.row_id = l.id)",
		  "the page index (audit_page_index) leaves this row out: `audit show` would not list it" },
		{ "SELECT min(i.row_id) FROM audit_page_index i"
		  " WHERE i.row_id > (SELECT through FROM audit_page_mark) OR NOT EXISTS"
		  " (SELECT 1 FROM audit_log l WHERE l.id = i.row_id AND l.page_id = i.page_id)",
		  "the page index (audit_page_index) lists this row under a page id it does not have" },
	};

	for (size_t i = 0; i < ARRAY_LEN(checks); i++) {
		int64_t id = first_id(db, checks[i].sql);
		if (id < 0)
			return -1;
		if (id > 0) {
			*bad_id = id;
			*reason = checks[i].reason;
			return 1;
		}
	}
	return 0;
}

bool audit_pages_slice_due(const struct audit_pages *p, int64_t head, int64_t now_mono_ms)
{
	return now_mono_ms >= p->retry_at_ms && head - p->through >= AUDIT_PAGES_SLICE;
}

int64_t audit_pages_idle_at(const struct audit_pages *p, int64_t head, int64_t last_group_mono_ms)
{
	int64_t at = last_group_mono_ms + AUDIT_PAGES_IDLE_MS;

	if (head <= p->through)
		return 0;
	return at > p->retry_at_ms ? at : p->retry_at_ms;
}
