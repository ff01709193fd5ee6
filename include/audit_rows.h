/*
 * audit_rows: writing a group of queued events into the audit log, on the
 * writer thread -- the chain head, the row hash, the prepared INSERTs (many
 * rows per statement) and each result's outbox rows, all in one transaction.
 * Only audit.c uses it (its queue and retry loop decide what to write).
 */
#ifndef MNMFA_AUDIT_ROWS_H
#define MNMFA_AUDIT_ROWS_H

#include "audit_item.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct config;
struct audit_rows;

/* Prepares the statements on the writer's connection db and reads the chain
 * head. NULL (logged) on failure. */
struct audit_rows *audit_rows_open(sqlite3 *db, const struct config *cfg);
void audit_rows_free(struct audit_rows *w);

/* Writes the group (a list through ->next) in ONE transaction: BEGIN
 * IMMEDIATE, its rows and outbox rows, COMMIT. 0, or -1 with everything
 * rolled back and the chain head as it was. *woke: outbox rows were added. */
int audit_rows_write(struct audit_rows *w, const struct item *group, int64_t now, bool *woke);

/* The chain head: the last row's id (0: none) and hash. */
int64_t audit_rows_head(const struct audit_rows *w, const char **hash);

#endif
