/*
 * audit_settle: the ends a run could not write, written at the next start.
 * With the in-memory store a challenge lives only as long as the process:
 * a stop that ran out of stop_timeout before every `canceled` row was
 * durable, a kill -9 or a power cut leave `minted` rows with no end. At the
 * next start (before serving, on the writer's connection) each of them gets
 * its `canceled` row. A mark (table audit_settled) says up to which row the
 * log is known to be settled, so a start scans only the rows of the runs
 * since then. A start with Redis settles them too (the rows of in-memory
 * runs, table audit_runs, never those of Redis runs: another node may still
 * serve those). Only audit.c uses it.
 */
#ifndef MNMFA_AUDIT_SETTLE_H
#define MNMFA_AUDIT_SETTLE_H

#include "audit_rows.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* audit_runs.store of a run with the in-memory store, and with Redis. */
#define AUDIT_RUN_MEMORY "memory"
#define AUDIT_RUN_REDIS "redis"

/* Writes a `canceled` row for every `minted` row past the mark that has no
 * end and was written by a run with the in-memory store, in groups of
 * AUDIT_GROUP_MAX, then moves the mark to the chain head; with its result
 * (as a stop's cancel does with notify_on_expiry) when the mint is at most
 * notify_age_ms old (< 0: never), so a link minted long ago sends no stale
 * result. *settled: how many. 0, or -1 (logged; the mark
 * stays, so the next start tries again). *woke: outbox rows were added.
 * between (may be NULL) runs after each group's commit, with ctx: the
 * writer's WAL checkpoint, so that a large settle does not grow the WAL. */
int audit_settle_ends(sqlite3 *db, struct audit_rows *rows, int64_t notify_age_ms, uint64_t *settled,
                      bool *woke, void (*between)(void *ctx), void *ctx);

/* Moves the mark to row_id: every `minted` row up to it has its end, or is
 * a Redis run's (another node's business). 0 or -1 (logged). */
int audit_settle_mark(sqlite3 *db, int64_t row_id);

/* Records that the run starting now writes its rows from first_row_id (the
 * chain head + 1) with a store shared through Redis (shared) or the
 * in-memory one, so later starts settle only the in-memory runs' rows.
 * 0 or -1 (logged). */
int audit_settle_run(sqlite3 *db, int64_t first_row_id, bool shared);

#endif
