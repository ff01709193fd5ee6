/*
 * audit_settle: at start-up, the `canceled` rows a run could not write (see
 * include/audit_settle.h). Runs on the writer's connection before the
 * writer thread starts, through the writer's own audit_rows_write, so the
 * rows join the chain as any other.
 *
 * Only the rows of runs with the in-memory store are settled: a run's
 * store is that of the audit_runs row with the greatest first row at or
 * before it (none: a run from before the table, the in-memory store). A
 * Redis run's challenges outlive it on the other nodes, which end them.
 *
 * A `minted` row has ended when the log holds an approved, denied, expired,
 * canceled or locked row of the same page id (the page index answers that
 * per row: the writer fills it to the chain head before settling, and the
 * rows after its mark are scanned only up to that head, never the settle's
 * own). The scan reads at most AUDIT_GROUP_MAX open rows at a time,
 * resuming after the last one by id, and writes each batch as one group
 * before reading on; it stops at the chain head read when it began, so the
 * rows it writes are never read back.
 */
#include "audit_settle.h"
#include "audit_pages.h"
#include "auditdb.h"
#include "caldate.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

#define SETTLE_SQL_OPEN                                                                           \
	"SELECT m.id, m.ts, m.page_id, m.client_id, m.phone, m.flow FROM audit_log m"             \
	" WHERE m.id > ?1 AND m.id <= ?2 AND m.event = 'minted' AND m.page_id IS NOT NULL"        \
	" AND NOT EXISTS (SELECT 1 FROM audit_log e WHERE "                                       \
	AUDIT_PAGE_ROWS_UPTO("e", "m.page_id", "?2")                                              \
	" AND e.event IN"                                                                         \
	" ('approved', 'denied', 'expired', 'canceled', 'locked'))"                              \
	" AND COALESCE((SELECT r.store FROM audit_runs r WHERE r.first_row_id <= m.id"            \
	" ORDER BY r.first_row_id DESC LIMIT 1), '" AUDIT_RUN_MEMORY "') = '" AUDIT_RUN_MEMORY "'"  \
	" ORDER BY m.id LIMIT ?3"

static int64_t mark_get(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t id = -1;

	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(row_id), 0) FROM audit_settled", -1, &st,
	                       NULL) != SQLITE_OK) {
		log_error("audit: reading the settled mark: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

/* Runs one INSERT of the settle's tables with ?1 = n and ?2 = text (when
 * not NULL); 0, or -1 logged as "audit: <what>: <error>". */
static int write_one(sqlite3 *db, const char *sql, int64_t n, const char *text, const char *what)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("audit: %s: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, n);
	if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_error("audit: %s: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

int audit_settle_mark(sqlite3 *db, int64_t row_id)
{
	return write_one(db, "INSERT OR REPLACE INTO audit_settled (id, row_id) VALUES (1, ?1)", row_id, NULL,
	                 "moving the settled mark");
}

int audit_settle_run(sqlite3 *db, int64_t first_row_id, bool shared)
{
	/* A run that wrote nothing shares its first row with the next: the
	 * later one's store is the one its rows had. */
	return write_one(db, "INSERT OR REPLACE INTO audit_runs (first_row_id, store) VALUES (?1, ?2)",
	                 first_row_id, shared ? AUDIT_RUN_REDIS : AUDIT_RUN_MEMORY, "recording this run's store");
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Reads the next open rows after *from (at most AUDIT_GROUP_MAX) into a
 * list of `canceled` events; *from moves to the last one read. */
static struct item *read_open(sqlite3_stmt *st, int64_t *from, int64_t to, int64_t notify_age_ms,
                              size_t *n)
{
	struct item *head = NULL, **tail = &head;
	int64_t now = now_ms();
	int rc;

	*n = 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, *from);
	sqlite3_bind_int64(st, 2, to);
	sqlite3_bind_int(st, 3, AUDIT_GROUP_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_event ev = { .kind = AUDIT_CANCELED, .ts_ms = now };
		const char *page_id = col(st, 2);
		struct item *it;

		*from = sqlite3_column_int64(st, 0);
		if (col(st, 1) == NULL || caldate_parse_rfc3339(col(st, 1), &ev.created_ms) != 0)
			ev.created_ms = now;
		/* A result only while a bot could still use it (result_max_age
		 * after the latest its link could have ended). */
		ev.notify = notify_age_ms >= 0 && now - ev.created_ms <= notify_age_ms;
		snprintf(ev.page_id, sizeof ev.page_id, "%s", page_id);
		ev.client_id = col(st, 3);
		ev.phone = col(st, 4);
		ev.flow = col(st, 5);
		it = audit_item_new(&ev, NULL, NULL);
		*tail = it;
		tail = &it->next;
		(*n)++;
	}
	sqlite3_reset(st);          /* no read open across the group's COMMIT */
	if (rc != SQLITE_DONE) {
		log_error("audit: reading the challenges a run left open: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
		*n = SIZE_MAX;
	}
	return head;
}

static void free_list(struct item *it)
{
	while (it != NULL) {
		struct item *next = it->next;
		audit_item_free(it);
		it = next;
	}
}

int audit_settle_ends(sqlite3 *db, struct audit_rows *rows, int64_t notify_age_ms, uint64_t *settled,
                      bool *woke, void (*between)(void *ctx), void *ctx)
{
	const char *hash;
	int64_t head = audit_rows_head(rows, &hash), from = mark_get(db);
	sqlite3_stmt *st;
	int rc = 0;

	*settled = 0;
	*woke = false;
	if (from < 0)
		return -1;
	if (from >= head)
		return 0;
	if (sqlite3_prepare_v2(db, SETTLE_SQL_OPEN, -1, &st, NULL) != SQLITE_OK) {
		log_error("audit: reading the challenges a run left open: %s", sqlite3_errmsg(db));
		return -1;
	}
	for (;;) {
		size_t n;
		bool w = false;
		struct item *group = read_open(st, &from, head, notify_age_ms, &n);

		if (n == SIZE_MAX) {
			free_list(group);
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		rc = audit_rows_write(rows, group, now_ms(), &w);
		free_list(group);
		if (rc != 0)
			break;
		*settled += n;
		*woke = *woke || w;
		if (between != NULL)
			between(ctx);
	}
	sqlite3_finalize(st);
	if (rc == 0)
		rc = audit_settle_mark(db, audit_rows_head(rows, &hash));
	return rc;
}
