/*
 * audit_db: private to audit.c and notify.c. Opening the SQLite file with the
 * right pragmas and bringing its schema up to date (PRAGMA user_version), so
 * that whichever of the two modules starts first finds the same tables.
 * Implemented in audit.c.
 */
#ifndef MNMFA_AUDIT_DB_H
#define MNMFA_AUDIT_DB_H

#include <sqlite3.h>
#include <stddef.h>

#define AUDIT_DB_VERSION 1            /* schema version this build writes */
#define AUDIT_DB_BUSY_MS 10000        /* busy_timeout: how long a connection waits for the lock */

/* Opens path read-write (creating it with mode 0600), sets WAL,
 * synchronous=FULL and busy_timeout, and migrates the schema to
 * AUDIT_DB_VERSION. Refuses a file whose schema is newer than this build.
 * 0, or -1 (logged; *out is NULL). */
int audit_db_open(const char *path, sqlite3 **out);

/* Opens path read-only for verify/export/head; checks that it holds an mnmfa
 * schema. 0, or -1 with a one-line reason in err. */
int audit_db_open_reader(const char *path, sqlite3 **out, char *err, size_t errlen);

#endif
