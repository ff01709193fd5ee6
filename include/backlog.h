/*
 * backlog: how far behind result delivery is, for /metrics -- the number of
 * outbox rows still pending and the age of the oldest. One read-only SQLite
 * connection opened at start (before privileges are dropped), serialised by
 * its own lock; a scrape costs one indexed query.
 */
#ifndef MNMFA_BACKLOG_H
#define MNMFA_BACKLOG_H

#include <stdint.h>

struct backlog;

/* Opens db_path (the schema must exist: call after audit_open). NULL on
 * failure (logged). */
struct backlog *backlog_open(const char *db_path);
void backlog_close(struct backlog *b);

/* Pending outbox rows and the age in seconds of the oldest (0 when none) at
 * now_ms. 0, or -1 (logged; outputs zeroed). */
int backlog_sample(struct backlog *b, int64_t now_ms, uint64_t *pending, double *oldest_age_s);

#endif
