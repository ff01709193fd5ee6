/*
 * auditdb: opening the audit database with the right pragmas, bringing its
 * schema up to date (PRAGMA user_version), and the one-writer lock file. Used
 * by the audit writer (audit.c), the readers (audit_export.c) and the outbox's
 * sender connection (outbox.c).
 */
#ifndef MNMFA_AUDITDB_H
#define MNMFA_AUDITDB_H

#include <sqlite3.h>
#include <stddef.h>

#define AUDITDB_VERSION 7             /* schema version this build writes */
#define AUDITDB_PROTOTYPE_TABLE "prototype_validation_logs" /* an upgraded prototype's rows */
#define AUDITDB_BUSY_MS 10000         /* busy_timeout: how long a connection waits for the lock */
#define AUDITDB_PATH_MAX 4096         /* = db_path's longest value in config.c */

/* Opens path read-write (creating it with mode 0600), sets WAL,
 * synchronous=FULL and busy_timeout, and migrates the schema to
 * AUDITDB_VERSION. Refuses a file whose schema is newer than this build.
 * 0, or -1 (logged; *out is NULL). */
int auditdb_open(const char *path, sqlite3 **out);

/* Opens path read-only for verify/export/head/status; checks that it holds an
 * mnmfa schema. 0, or -1 with a one-line reason in err. */
int auditdb_open_reader(const char *path, sqlite3 **out, char *err, size_t errlen);

/* PRAGMA user_version of an open database, or -1. Readers select the node
 * column only from version 2. */
int auditdb_version(sqlite3 *db);

/* sqlite3_exec that logs "audit: what: reason" on failure. 0 or -1. */
int auditdb_exec(sqlite3 *db, const char *sql, const char *what);

/* One writer per database: the chain head is cached by the writer, so a
 * second process appending to the same file would break every later group.
 * Takes an flock on "<db_path>.lock" (released by the kernel if we die).
 * Returns the descriptor to close at the end, or -1 (logged: another process
 * holds it, or the file cannot be opened). */
int auditdb_lock(const char *db_path);

#endif
