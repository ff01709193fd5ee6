/*
 * test_web_lock: a lockout's rows never wait on the thread that ends the
 * links (the audit writer's, in an answer's callback): with the audit queue
 * full to its hard limit and the database held by another writer, the
 * phone's other link is ended at once, its row handed to the sweep and not
 * counted yet; once the database is free the sweep's drain queues it, and
 * both `locked` rows (the denied page's and the link's) are written.
 */
#include "unit.h"
#include "app.h"
#include "audit.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "web_lock.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOCK_RETURN_MS 3000       /* web_lock_after_denial must be back well within this */
#define WRITTEN_MS 60000          /* the writer empties its full queue within this */

struct env {
	char dir[64];
	char db[128];
	struct app app;
	struct web_locks *locks;
	struct chal denied, link;
	atomic_bool returned;
};

static void make_chal(struct chal *c, uint8_t n, int64_t decided)
{
	int64_t t0 = now_read().wall_ms;

	memset(c, 0, sizeof *c);
	memset(c->id, n, sizeof c->id);
	c->created_ms = t0;
	c->expires_ms = t0 + 600000;
	c->decided_ms = decided;
	c->status = decided != 0 ? CHAL_DENIED : CHAL_PENDING;
	snprintf(c->client_id, sizeof c->client_id, "client-lock");
	snprintf(c->phone, sizeof c->phone, "+5215550004242");
	snprintf(c->flow, sizeof c->flow, "Resultado MFA");
}

static long db_count(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long n = -1;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static long locked_metric(struct metrics *m)
{
	struct metrics_sample s;
	char *text, *p;
	long v = -1;

	memset(&s, 0, sizeof s);
	text = metrics_render(m, &s);
	p = strstr(text, "\nmnmfa_challenges_locked_total ");
	if (p != NULL)
		v = strtol(p + strlen("\nmnmfa_challenges_locked_total "), NULL, 10);
	free(text);
	return v;
}

static void *lock_thread(void *arg)
{
	struct env *e = arg;

	web_lock_after_denial(e->locks, &e->denied, e->denied.decided_ms, "203.0.113.9", "Mozilla/5.0 (test)");
	atomic_store(&e->returned, true);
	return NULL;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char p[512];
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

static void test_lockout_rows_never_wait_on_a_full_queue(void **state)
{
	struct env *e = xcalloc(1, sizeof *e);
	struct audit_event ev;
	struct audit_stats st;
	struct chal out;
	sqlite3 *locker = NULL;
	pthread_t th;
	char sql[256], page[PAGE_ID_LEN + 1];
	long filled = 0;

	(void)state;
	strcpy(e->dir, "/tmp/mnmfa-weblock-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->db, sizeof e->db, "%s/logs.db", e->dir);
	e->app.cfg.db_path = e->db;
	e->app.cfg.chatfuel_target = CHATFUEL_TARGET_FLOW;
	e->app.cfg.chatfuel_rps = 25;
	e->app.cfg.chatfuel_bot_id = (char *)"bot1";
	e->app.cfg.chatfuel_token = (char *)"tok";
	e->app.cfg.lockout.n = 1;
	e->app.audit = audit_open(&e->app.cfg, NULL, NULL);
	assert_non_null(e->app.audit);
	e->app.store = store_new(16);
	e->app.metrics = metrics_new();
	e->locks = web_locks_new(&e->app);
	make_chal(&e->denied, 0x11, now_read().wall_ms);
	make_chal(&e->link, 0x22, 0);
	assert_int_equal(store_put(e->app.store, &e->link, now_read()), STORE_OK);

	/* the database held, the queue full to its hard limit */
	assert_int_equal(sqlite3_open(e->db, &locker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	app_event_for(&ev, AUDIT_MINTED, &e->link, e->link.created_ms);
	/* (the writer holds one group out of the queue, retrying it) */
	while (filled <= AUDIT_QUEUE_HARD_MAX + AUDIT_GROUP_MAX && audit_submit_end(e->app.audit, &ev) == 0)
		filled++;
	assert_true(filled >= AUDIT_QUEUE_HARD_MAX && filled <= AUDIT_QUEUE_HARD_MAX + AUDIT_GROUP_MAX);

	assert_int_equal(pthread_create(&th, NULL, lock_thread, e), 0);
	for (int64_t end = mono_ms() + LOCK_RETURN_MS; !atomic_load(&e->returned) && mono_ms() < end;)
		usleep(1000);
	if (!atomic_load(&e->returned)) {
		sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL);   /* let it go, then report */
		pthread_join(th, NULL);
		fail_msg("the lockout waited for room in a full audit queue for %d ms", LOCK_RETURN_MS);
	}
	pthread_join(th, NULL);
	/* the link is ended at once; its row not queued yet, so not counted */
	assert_int_equal(store_get(e->app.store, e->link.id, now_read(), &out), STORE_USED);
	assert_int_equal(out.status, CHAL_LOCKED);
	assert_int_equal(locked_metric(e->app.metrics), 0);

	/* the sweep's drain: refused while the queue is full, kept, then queued */
	web_locks_drain(e->locks, mono_ms() + 10);
	assert_int_equal(locked_metric(e->app.metrics), 0);
	assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(locker);
	web_locks_drain(e->locks, mono_ms() + WRITTEN_MS);
	assert_int_equal(locked_metric(e->app.metrics), 1);
	for (int64_t end = mono_ms() + WRITTEN_MS; mono_ms() < end; usleep(10000)) {
		audit_get_stats(e->app.audit, &st);
		if (st.written == (uint64_t)filled + 2)
			break;
	}
	audit_close(e->app.audit);
	assert_int_equal(st.written, (uint64_t)filled + 2);
	b64url_encode(e->denied.id, PAGE_ID_BYTES, page);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM audit_log WHERE event='locked' AND page_id='%s' "
	         "AND ip='203.0.113.9'", page);
	assert_int_equal(db_count(e->db, sql), 1);
	b64url_encode(e->link.id, PAGE_ID_BYTES, page);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM audit_log WHERE event='locked' AND page_id='%s'", page);
	assert_int_equal(db_count(e->db, sql), 1);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox o JOIN audit_log r ON r.id = o.audit_id "
	         "WHERE r.event='locked' AND r.page_id='%s'", page);
	assert_int_equal(db_count(e->db, sql), 1);     /* the bot told false for the link */

	web_locks_free(e->locks);
	store_free(e->app.store);
	metrics_free(e->app.metrics);
	rm_dir(e->dir);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lockout_rows_never_wait_on_a_full_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
