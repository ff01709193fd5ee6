/*
 * Status queries (GET /v1/challenges/{id}) for challenges the store no longer
 * holds: decided records are capped at 2 x max_pending, and past the cap the
 * audit log answers. Proves the memory bound and that the answer survives it.
 */
#include "mfa.h"
#include "tests.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_N 12

/* The number after "name " in a Prometheus text body, or -1. */
static long long metric_value(const char *body, const char *name)
{
	char key[96];
	const char *p;

	snprintf(key, sizeof key, "\n%s ", name);
	p = strstr(body, key);
	return p ? atoll(p + strlen(key)) : -1;
}

static void test_status_from_audit_after_cap(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_int(d, "max_pending", 2);
	REQUIRE(t, d_start(d, NULL) == 0);

	struct minted m[STATUS_N];
	for (int i = 0; i < STATUS_N; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "cid-status-%d", i);
		REQUIRE(t, mfa_mint_and_answer(d, cid, "5215558100001", "FlowS", "1988-02-03", i % 2 == 0,
		                               &m[i]) == 0);
	}
	/* The sweeps (every 500 ms) shrink the retention until at most
	 * 2 x max_pending decided challenges stay in memory. */
	long long held = -1;
	for (int i = 0; i < 40; i++) {
		struct resp rs;
		REQUIRE(t, d_api(d, "GET", "/metrics", NULL, NULL, &rs) == 0);
		held = metric_value(rs.body, "mnmfa_challenges_held");
		resp_free(&rs);
		if (held >= 0 && held <= 4)
			break;
		h_sleep_ms(500);
	}
	EXPECT(t, held >= 0 && held <= 4, "expected at most 4 challenges held, got %lld", held);

	/* Every one of them still answers with its decision, from the audit log. */
	for (int i = 0; i < STATUS_N; i++) {
		char path[400];
		struct resp rs;
		snprintf(path, sizeof path, "/v1/challenges/%.64s", m[i].page_id);
		REQUIRE(t, d_api(d, "GET", path, NULL, NULL, &rs) == 0);
		cJSON *j = resp_json(t, &rs);
		EXPECT_INT(t, "status query", 200, rs.status);
		const char *st = j ? j_str(j, "status") : NULL;
		const char *cid = j ? j_str(j, "client_id") : NULL;
		const char *want = i % 2 == 0 ? "approved" : "denied";
		EXPECT(t, st && strcmp(st, want) == 0, "expected status %s for challenge %d, got %s", want,
		       i, st ? st : "(none)");
		EXPECT(t, cid && strcmp(cid, m[i].client_id) == 0, "expected client_id %s, got %s",
		       m[i].client_id, cid ? cid : "(none)");
		EXPECT(t, j && j_str(j, "decided_at") != NULL, "expected decided_at for challenge %d", i);
		cJSON_Delete(j);
		resp_free(&rs);
	}
	/* An id nobody minted is still unknown. */
	struct resp rs;
	REQUIRE(t, d_api(d, "GET", "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, &rs) == 0);
	mfa_expect_error(t, &rs, 404, "not_found", NULL);
	resp_free(&rs);
}

const struct test e2e_tests_status[] = {
	{ "status_from_audit_log_after_memory_cap", test_status_from_audit_after_cap, NULL },
	{ NULL, NULL, NULL },
};

/* ---- durability under a locked audit database, and stopping meanwhile ---- */

struct answer_job {
	struct daemon *d;
	const char *page_id;
	const char *answer;
	long status;
	long long took_ms;
};

static void *answer_thread(void *arg)
{
	struct answer_job *j = arg;
	char *body = h_printf("page_id=%s&respuesta=%s", j->page_id, j->answer);
	struct resp rs;
	long long t0 = h_mono_ms();

	if (d_web(j->d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs) == 0) {
		j->status = rs.status;
		resp_free(&rs);
	}
	j->took_ms = h_mono_ms() - t0;
	free(body);
	return NULL;
}

/* A lock held on the audit database (a backup, an operator's sqlite3 shell)
 * delays the answer until its evidence is durable, and a SIGTERM in the
 * meantime waits for it: the 303 comes, the row is on disk, exit is clean. */
static void test_locked_db_then_sigterm(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-lockdb", "5215558200002", "FlowL", "1987-04-05", &m) == 0);
	/* the right answer, read off the page: the decision is known, approved */
	struct page pg;
	char buf[40], ans[40];
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	snprintf(ans, sizeof ans, "%s", mfa_right_answer(&pg, m.dob, buf));
	mfa_page_free(&pg);
	h_sleep_ms(300);   /* the minted row is written before the lock */

	sqlite3 *db = NULL;
	REQUIRE(t, sqlite3_open(d->db_path, &db) == SQLITE_OK);
	REQUIRE(t, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);

	struct answer_job job = { .d = d, .page_id = m.page_id, .answer = ans };
	pthread_t th;
	REQUIRE(t, pthread_create(&th, NULL, answer_thread, &job) == 0);
	h_sleep_ms(500);
	REQUIRE(t, kill(d->pid, SIGTERM) == 0);
	h_sleep_ms(1500);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	pthread_join(th, NULL);

	EXPECT_INT(t, "answer status while the audit db was locked", 303, job.status);
	EXPECT(t, job.took_ms >= 1500, "expected the 303 only after the lock was released, got it after %lld ms",
	       job.took_ms);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit after SIGTERM");

	REQUIRE(t, sqlite3_open(d->db_path, &db) == SQLITE_OK);
	sqlite3_stmt *st = NULL;
	int approved = 0, denied = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FILTER (WHERE event = 'approved'), "
	                       "count(*) FILTER (WHERE event = 'denied') FROM audit_log WHERE page_id = ?1",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, m.page_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			approved = sqlite3_column_int(st, 0);
			denied = sqlite3_column_int(st, 1);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	EXPECT_INT(t, "approved rows for the page answered right", 1, approved);
	EXPECT_INT(t, "denied rows for the page answered right", 0, denied);
}


/* ---- lockout under simultaneous wrong answers ---- */

#define LOCK_PAGES 8

struct wrong_job {
	struct daemon *d;
	char page_id[64];
	char wrong[40];
	pthread_barrier_t *go;
	int rc;
};

static void *wrong_thread(void *arg)
{
	struct wrong_job *j = arg;

	pthread_barrier_wait(j->go);
	j->rc = mfa_answer(j->d, j->page_id, j->wrong, NULL);
	return NULL;
}

/* Eight pages of one phone answered wrongly at the same instant: the lockout
 * (3 failures) still holds, because each attempt is counted before its answer
 * is checked. At most 3 end denied, the rest locked; the bot hears false 8 times. */
static void test_lockout_simultaneous(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "lockout", "3/3600");
	REQUIRE(t, d_start(d, NULL) == 0);

	struct wrong_job jobs[LOCK_PAGES];
	struct minted m[LOCK_PAGES];
	pthread_barrier_t go;
	pthread_t th[LOCK_PAGES];
	pthread_barrier_init(&go, NULL, LOCK_PAGES);
	for (int i = 0; i < LOCK_PAGES; i++) {
		char cid[32];
		struct page pg;
		snprintf(cid, sizeof cid, "cid-race-%d", i);
		REQUIRE(t, mfa_mint_v1(d, cid, "5215558300003", "FlowR", "1991-07-08", "date", NULL, 0, &m[i]) == 0);
		REQUIRE(t, mfa_get_page(d, m[i].page_id, &pg) == 0);
		char right[40];
		const char *r = mfa_right_answer(&pg, "1991-07-08", right);
		const char *w = mfa_wrong_answer(&pg, r);
		jobs[i] = (struct wrong_job){ .d = d, .go = &go };
		snprintf(jobs[i].page_id, sizeof jobs[i].page_id, "%.60s", m[i].page_id);
		snprintf(jobs[i].wrong, sizeof jobs[i].wrong, "%.36s", w ? w : "none");
		mfa_page_free(&pg);
	}
	for (int i = 0; i < LOCK_PAGES; i++)
		REQUIRE(t, pthread_create(&th[i], NULL, wrong_thread, &jobs[i]) == 0);
	for (int i = 0; i < LOCK_PAGES; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);

	int denied = 0, locked = 0;
	for (int i = 0; i < LOCK_PAGES; i++) {
		char path[200];
		struct resp rs;
		EXPECT_INT(t, "answer rc", 0, jobs[i].rc);
		snprintf(path, sizeof path, "/v1/challenges/%.64s", m[i].page_id);
		REQUIRE(t, d_api(d, "GET", path, NULL, NULL, &rs) == 0);
		cJSON *j = resp_json(t, &rs);
		const char *st = j ? j_str(j, "status") : NULL;
		denied += st && strcmp(st, "denied") == 0;
		locked += st && strcmp(st, "locked") == 0;
		cJSON_Delete(j);
		resp_free(&rs);
	}
	EXPECT(t, denied <= 3, "expected at most 3 denied answers before the lockout, got %d", denied);
	EXPECT_INT(t, "denied + locked pages", LOCK_PAGES, denied + locked);
	EXPECT(t, fake_wait(f, LOCK_PAGES, H_CALL_TIMEOUT_MS) >= LOCK_PAGES,
	       "expected %d user_validated=false results", LOCK_PAGES);
}

/* One mnmfa per database: a second one on the same db_path exits 1 and says
 * why, instead of forking the audit chain. */
static void test_second_instance_refused(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	char *web = h_printf("%d", h_free_port()), *api = h_printf("%d", h_free_port());
	const char *args[] = { "serve", "--config", d->config_path, "--web-port", web, "--api-port", api,
	                       NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run(t, args, NULL, &out, &err);
	EXPECT_INT(t, "second instance exit code", 1, rc);
	EXPECT(t, err && h_contains(err, "another mnmfa"), "expected the error to name the other process, got %.300s",
	       err ? err : "(none)");
	free(out);
	free(err);
	free(web);
	free(api);
}

/* Without api_keys only local clients are served; a request relayed by a
 * local reverse proxy (it carries X-Forwarded-For) is not one. */
static void test_proxied_request_not_local(struct t *t)
{
	struct daemon *d = mfa_start_default(t, NULL);
	REQUIRE(t, d);
	const char *hdr[] = { "X-Forwarded-For: 203.0.113.9", NULL };
	struct resp rs;
	REQUIRE(t, d_api_h(d, "GET", "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, hdr, &rs) == 0);
	mfa_expect_error(t, &rs, 401, "unauthorized", NULL);
	resp_free(&rs);
	REQUIRE(t, d_api(d, "GET", "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "direct local request", 404, rs.status);
	resp_free(&rs);
}

const struct test e2e_tests_durability[] = {
	{ "locked_audit_db_delays_303_and_sigterm_waits", test_locked_db_then_sigterm, NULL },
	{ "lockout_holds_under_simultaneous_answers", test_lockout_simultaneous, NULL },
	{ "second_instance_on_same_db_refused", test_second_instance_refused, NULL },
	{ "proxied_request_without_keys_not_local", test_proxied_request_not_local, NULL },
	{ NULL, NULL, NULL },
};
