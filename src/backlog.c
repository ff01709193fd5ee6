/*
 * backlog: the outbox's pending rows, counted through the partial index that
 * notify's sender uses to find due rows (outbox_due: WHERE state = 'pending'),
 * so a scrape reads only the rows still waiting, however large the table.
 */
#include "backlog.h"
#include "auditdb.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>

#define BACKLOG_ERR_MAX 512

struct backlog {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *st;
};

struct backlog *backlog_open(const char *db_path)
{
	struct backlog *b = xcalloc(1, sizeof *b);
	char err[BACKLOG_ERR_MAX];

	if (auditdb_open_reader(db_path, &b->db, err, sizeof err) != 0) {
		log_error("%s: %s", __func__, err);
		free(b);
		return NULL;
	}
	if (sqlite3_prepare_v3(b->db, "SELECT count(*), min(created_ms) FROM outbox"
	                       " WHERE state = 'pending'", -1, SQLITE_PREPARE_PERSISTENT, &b->st,
	                       NULL) != SQLITE_OK) {
		log_error("%s: %s: %s", __func__, db_path, sqlite3_errmsg(b->db));
		sqlite3_close(b->db);
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

void backlog_close(struct backlog *b)
{
	if (b == NULL)
		return;
	sqlite3_finalize(b->st);
	sqlite3_close(b->db);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int backlog_sample(struct backlog *b, int64_t now_ms, uint64_t *pending, double *oldest_age_s)
{
	int rc = -1;

	*pending = 0;
	*oldest_age_s = 0;
	pthread_mutex_lock(&b->lock);
	if (sqlite3_step(b->st) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(b->st, 0);

		*pending = n > 0 ? (uint64_t)n : 0;
		if (n > 0 && sqlite3_column_type(b->st, 1) != SQLITE_NULL) {
			int64_t age = now_ms - sqlite3_column_int64(b->st, 1);
			*oldest_age_s = age > 0 ? (double)age / 1000.0 : 0;
		}
		rc = 0;
	} else {
		log_error("%s: %s", __func__, sqlite3_errmsg(b->db));
	}
	sqlite3_reset(b->st);
	pthread_mutex_unlock(&b->lock);
	return rc;
}
