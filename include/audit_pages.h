/*
 * audit_pages: the audit log's page-id index (schema 7), kept by the writer
 * in sorted slices instead of row by row.
 *
 * Page ids are random, so an index on audit_log(page_id) put every row of a
 * group on its own random leaf: a group of 35 mints wrote ~40 pages to the
 * WAL instead of ~4, and its commit and the checkpoints after it paid for
 * them (the mint's serial stage). audit_page_index(page_id, row_id) holds
 * the pairs of every row up to audit_page_mark.through; the writer adds the
 * rows after it AUDIT_PAGES_SLICE at a time (between groups, one INSERT ...
 * SELECT in page-id order, its own transaction), and the rest once it has
 * been idle for AUDIT_PAGES_IDLE_MS. Lookups read the index and scan the
 * rows after the mark, so they never miss a row: AUDIT_PAGE_ROWS says how.
 * The index is derived data: not hashed, built by the migration from the
 * rows themselves, never a reason to refuse a write. Triggers refuse plain
 * SQL edits of it (as for audit_log), and `audit verify` checks it against
 * the rows (audit_pages_check): a row left out would be hidden from `audit
 * show`.
 */
#ifndef MNMFA_AUDIT_PAGES_H
#define MNMFA_AUDIT_PAGES_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define AUDIT_PAGES_VERSION 7         /* the schema version that has the tables */
/* Rows indexed by one slice. Larger slices touch fewer leaves a row once the
 * index outgrows them (4,096 random keys into ~4,000 leaves write ~2,600;
 * 16,384 write ~4,100 for four times the rows) but hold the writer longer:
 * mint-only runs at 200,000-600,000 rows, six each, medians 21,600 (4,096)
 * and 24,100 (16,384) mints/s, p99 30-44 and 43-111 ms. */
#define AUDIT_PAGES_SLICE 16384
#define AUDIT_PAGES_IDLE_MS 250       /* the writer indexes a shorter tail after this long idle */
#define AUDIT_PAGES_RETRY_MS 1000     /* after a failed slice, the next try waits this long */

/* An SQL condition, true for the rows of table alias T whose page id is the
 * SQL expression PAGE (a parameter such as "?1", or a column): the indexed
 * rows, then the rows after the mark (a scan of at most about a slice). Only
 * on a schema of AUDIT_PAGES_VERSION or later. AUDIT_PAGE_ROWS_UPTO ends
 * the scan at row id LAST (SQL), for a caller that writes rows while it
 * reads: the start's settle, whose own rows would otherwise lengthen the
 * scan of every row it checks after them. */
#define AUDIT_PAGE_ROWS_SCAN(T, PAGE, SCAN_END)                                                   \
	T ".id IN (SELECT row_id FROM audit_page_index WHERE page_id = " PAGE                     \
	" UNION ALL SELECT id FROM audit_log WHERE id > (SELECT through FROM audit_page_mark)"    \
	SCAN_END " AND page_id = " PAGE ")"
#define AUDIT_PAGE_ROWS(T, PAGE) AUDIT_PAGE_ROWS_SCAN(T, PAGE, "")
#define AUDIT_PAGE_ROWS_UPTO(T, PAGE, LAST) AUDIT_PAGE_ROWS_SCAN(T, PAGE, " AND id <= " LAST)

struct audit_pages;

/* On the writer's connection (migrated): reads the mark and prepares the
 * slice's statements. NULL (logged) on failure. */
struct audit_pages *audit_pages_open(sqlite3 *db);
void audit_pages_free(struct audit_pages *p);

/* The last row id the index holds. */
int64_t audit_pages_through(const struct audit_pages *p);

/* Indexes the rows after the mark up to row id upto, in one transaction
 * (none is open on the connection). 0 (also when there is nothing to do);
 * -1 when it failed (logged, at most every few seconds; rolled back, the
 * mark unchanged): the next slice then waits AUDIT_PAGES_RETRY_MS. */
int audit_pages_fill(struct audit_pages *p, int64_t upto, int64_t now_mono_ms);

/* Checks the index of db (a reader) against the rows up to its mark: every
 * row with a page id listed under it, nothing else listed, the mark not past
 * the newest row. 0 consistent; 1 not (*bad_id and *reason, static text,
 * set: the first row concerned); -1 on an SQL error (logged). */
int audit_pages_check(sqlite3 *db, int64_t *bad_id, const char **reason);

/* Whether a whole slice waits with the chain head at head (and no failure
 * within AUDIT_PAGES_RETRY_MS). */
bool audit_pages_slice_due(const struct audit_pages *p, int64_t head, int64_t now_mono_ms);

/* When the rows after the mark are to be indexed if no group is written
 * after last_group_mono_ms: AUDIT_PAGES_IDLE_MS later (or at the end of a
 * failure's wait). 0: none waits. */
int64_t audit_pages_idle_at(const struct audit_pages *p, int64_t head, int64_t last_group_mono_ms);

#endif
