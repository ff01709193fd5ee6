/*
 * test_crash: what survives a `kill -9` (SPEC §7-8, issue 3). Results decided
 * while Chatfuel is down sit in the outbox and are delivered after a restart
 * on the same database, none lost; and a daemon killed in the middle of a
 * validation load leaves an intact hash chain holding every decision whose
 * 303 reached the browser (the redirect is only sent once the evidence is
 * durable).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

/* SIGKILL the daemon and reap it; keeps this life's stderr as stderr.lifeN.log
 * (d_start truncates stderr.log when the daemon is started again). */
static void crash(struct daemon *d, int life)
{
	(void)d_kill(d);
	char *keep = h_printf("%s/stderr.life%d.log", d->dir, life);
	rename(d->err_path, keep);
	free(keep);
}

/* `mnmfa audit verify --db` must exit 0; `when` goes in the message. */
static int verify_intact(struct t *t, struct daemon *d, const char *when)
{
	const char *argv[] = { "audit", "verify", "--db", d->db_path, NULL };
	char *out, *err;
	int rc = h_run(t, argv, NULL, &out, &err);
	if (rc >= 0 && rc != 0)
		FAILF(t, "expected `audit verify` to exit 0 %s, got %d (%.300s %.300s)", when, rc, out, err);
	else if (rc == 0 && out[0] == '\0')
		FAILF(t, "expected `audit verify` to print rows checked and the head hash %s, got nothing",
		      when);
	free(out);
	free(err);
	return t->failed ? -1 : 0;
}

/* The audit rows as parsed JSON objects (jsonl export), or NULL. */
static cJSON *export_rows(struct t *t, struct daemon *d)
{
	const char *argv[] = { "audit", "export", "--db", d->db_path, "--format", "jsonl", NULL };
	char *out, *err;
	int rc = h_run(t, argv, NULL, &out, &err);
	cJSON *rows = NULL;
	if (rc != 0) {
		if (!t->failed)
			FAILF(t, "expected `audit export` to exit 0, got %d (%.300s)", rc, err);
	} else {
		rows = cJSON_CreateArray();
		for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			cJSON *o = cJSON_Parse(line);
			if (!cJSON_IsObject(o)) {
				cJSON_Delete(o);
				cJSON_Delete(rows);
				rows = NULL;
				FAILF(t, "expected one JSON object per export line, got \"%.200s\"", line);
				break;
			}
			cJSON_AddItemToArray(rows, o);
		}
	}
	free(out);
	free(err);
	return rows;
}

static int count_rows(const cJSON *rows, const char *page_id, const char *event)
{
	int n = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, rows) {
		const char *p = j_str(o, "page_id"), *e = j_str(o, "event");
		if (p && e && strcmp(p, page_id) == 0 && strcmp(e, event) == 0)
			n++;
	}
	return n;
}

/* ---- 1. results decided while Chatfuel is down survive kill -9 ---- */

#define CR_N 5

static bool cr_right(int i)
{
	return i % 2 == 0;               /* 0, 2, 4 approved; 1, 3 denied */
}

static void test_kill9_chatfuel_down(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	fake_fail_next(f, 503, 1000000);    /* Chatfuel is down: every call answers 503 */
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);

	struct minted m[CR_N];
	char cid[CR_N][32];
	for (int i = 0; i < CR_N; i++) {
		char phone[32], dob[40];
		snprintf(cid[i], sizeof(cid[i]), "cid-crash-%d", i);
		snprintf(phone, sizeof(phone), "52155573000%02d", i);
		snprintf(dob, sizeof(dob), "1971-0%d-1%d", 1 + i, i);
		/* mfa_answer inside checks the 303 to wa.me. */
		REQUIRE(t, mfa_mint_and_answer(d, cid[i], phone, "FlowCrash", dob, cr_right(i), &m[i]) == 0);
	}
	/* The sender is trying (and getting 503): let it try at least once. */
	int tried = fake_wait(f, 1, 5000);
	EXPECT(t, tried >= 1, "expected the sender to try Chatfuel (answering 503) within 5 s, got %d calls",
	       tried);
	crash(d, 1);
	REQUIRE(t, verify_intact(t, d, "right after kill -9, before the restart") == 0);
	int n0 = fake_count(f);
	for (int i = 0; i < n0; i++)
		EXPECT(t, fake_call(f, i)->answered == 503,
		       "expected every call before the crash answered 503, got %d for call %d",
		       fake_call(f, i)->answered, i);

	/* Chatfuel is back; second life on the same directory, config and db_path. */
	fake_fail_next(f, 503, 0);
	REQUIRE(t, d_start(d, NULL) == 0);

	long long deadline = h_mono_ms() + 20000;
	int delivered = 0;
	while (h_mono_ms() < deadline) {
		delivered = 0;
		for (int i = 0; i < CR_N; i++) {
			char *path = h_printf("/bots/%s/users/%s/send", H_BOT_ID, cid[i]);
			int n = fake_count(f);
			for (int k = n0; k < n; k++)
				if (fake_call(f, k)->answered == 200 && strcmp(fake_call(f, k)->path, path) == 0) {
					delivered++;
					break;
				}
			free(path);
		}
		if (delivered == CR_N)
			break;
		h_sleep_ms(100);
	}
	fake_quiet(f, H_QUIET_WINDOW_MS);     /* let any duplicate show up */
	int n = fake_count(f);
	for (int i = 0; i < CR_N; i++) {
		char *path = h_printf("/bots/%s/users/%s/send", H_BOT_ID, cid[i]);
		int ok = 0;
		const struct fake_call *first = NULL;
		for (int k = 0; k < n; k++) {
			const struct fake_call *c = fake_call(f, k);
			if (strcmp(c->path, path) != 0)
				continue;
			/* Every try, before and after the crash, carries the right result. */
			if (mfa_check_call(t, c, cid[i], "FlowCrash", cr_right(i), false) != 0) {
				t_prefix(t, "%s (call %d of %d): ", cid[i], k, n);
				break;
			}
			if (k >= n0 && c->answered == 200) {
				ok++;
				if (first == NULL)
					first = c;
			}
		}
		free(path);
		BAIL(t);
		EXPECT(t, ok >= 1,
		       "expected the result for %s (user_validated=%s) delivered after the restart, got none "
		       "(%d of %d delivered within 20 s; %d calls before the crash, %d in all)",
		       cid[i], cr_right(i) ? "true" : "false", delivered, CR_N, n0, n);
		/* Nothing was ever accepted before the crash, so at-least-once allows
		 * no second accepted delivery here. */
		EXPECT(t, ok == 1, "expected exactly one accepted delivery for %s (none was accepted before "
		       "the crash), got %d", cid[i], ok);
	}
	REQUIRE(t, d_stop(d) == 0);
	REQUIRE(t, verify_intact(t, d, "after the crash and restart") == 0);
	cJSON *rows = export_rows(t, d);
	REQUIRE(t, rows);
	for (int i = 0; i < CR_N; i++) {
		const char *ev = cr_right(i) ? "approved" : "denied";
		int got = count_rows(rows, m[i].page_id, ev);
		if (got != 1) {
			cJSON_Delete(rows);
			EXPECT(t, false, "expected one \"%s\" audit row for page %s (%s), got %d", ev,
			       m[i].page_id, cid[i], got);
		}
	}
	cJSON_Delete(rows);
}

/* ---- 2. kill -9 in the middle of a validation load ---- */

#define LD_MAX 600
#define LD_THREADS 6
#define LD_MIN_BEFORE_KILL 40            /* 303s seen before the kill */

struct ld {
	atomic_int next;
	atomic_bool killed;
	atomic_int answering;             /* POST /validate_answer in flight */
	atomic_int n303;
	/* per validation: 0 not answered (or no 303 seen), 1 approved 303, 2 denied 303 */
	atomic_int got[LD_MAX];
	char page[LD_MAX][64];
};

struct ld_thread {
	struct ld *ld;
	struct t t;
	struct daemon d;
	char why[2048];                   /* a failure before the kill */
};

static void ld_cid(int i, char *buf, size_t len)
{
	snprintf(buf, len, "cid-load-%03d", i);
}

static void *ld_run(void *arg)
{
	struct ld_thread *th = arg;
	struct ld *ld = th->ld;
	struct daemon *d = &th->d;
	while (!atomic_load(&ld->killed)) {
		int i = atomic_fetch_add(&ld->next, 1);
		if (i >= LD_MAX)
			break;
		char cid[32], phone[32], dob[40];
		ld_cid(i, cid, sizeof(cid));
		snprintf(phone, sizeof(phone), "52155574%05d", i);
		snprintf(dob, sizeof(dob), "19%02d-%02d-%02d", 30 + i % 60, 1 + i % 12, 1 + i % 28);
		bool right = i % 3 != 0;
		struct minted m;
		struct page pg;
		char buf[40], ans[40];
		if (mfa_mint_seed(d, cid, phone, "FlowLoad", dob, &m) != 0)
			break;
		snprintf(ld->page[i], sizeof(ld->page[i]), "%s", m.page_id);
		if (mfa_get_page(d, m.page_id, &pg) != 0)
			break;
		snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, dob, buf));
		if (!right)
			snprintf(ans, sizeof(ans), "%s", mfa_wrong_answer(&pg, buf));
		mfa_page_free(&pg);
		char *body = h_printf("page_id=%s&respuesta=%s", m.page_id, ans);
		struct resp rs;
		atomic_fetch_add(&ld->answering, 1);
		int rc = d_web(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs);
		atomic_fetch_sub(&ld->answering, 1);
		free(body);
		if (rc != 0)
			break;
		long st = rs.status;
		const char *loc = resp_header(&rs, "Location");
		bool to_wa = loc && strcmp(loc, H_WA_URL) == 0;
		resp_free(&rs);
		if (st != 303 || !to_wa) {
			FAILF(&th->t, "expected 303 to %s for %s, got %ld", H_WA_URL, cid, st);
			break;
		}
		atomic_store(&ld->got[i], right ? 1 : 2);
		atomic_fetch_add(&ld->n303, 1);
	}
	/* A failure is the daemon's only when it happened before the kill: every
	 * failure the kill causes is seen after `killed` was set. */
	if (th->t.failed && !atomic_load(&ld->killed))
		snprintf(th->why, sizeof(th->why), "%s", th->t.msg);
	return NULL;
}

static void test_kill9_during_load(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);

	static struct ld ld;
	static struct ld_thread th[LD_THREADS];
	memset(&ld, 0, sizeof(ld));
	pthread_t tids[LD_THREADS];
	int started = 0;
	for (int k = 0; k < LD_THREADS; k++) {
		memset(&th[k], 0, sizeof(th[k]));
		th[k].ld = &ld;
		th[k].t.name = t->name;
		snprintf(th[k].t.dir, sizeof(th[k].t.dir), "%s", t->dir);
		th[k].d = *d;
		th[k].d.t = &th[k].t;
		if (pthread_create(&tids[k], NULL, ld_run, &th[k]) != 0)
			break;
		started++;
	}
	/* Kill once enough 303s went out, at a moment a POST is in flight if one
	 * comes within the window. */
	long long deadline = h_mono_ms() + 15000;
	while (atomic_load(&ld.n303) < LD_MIN_BEFORE_KILL && h_mono_ms() < deadline &&
	       atomic_load(&ld.next) < LD_MAX)
		h_sleep_ms(5);
	long long until = h_mono_ms() + 500;
	while (atomic_load(&ld.answering) == 0 && h_mono_ms() < until)
		;
	int in_flight = atomic_load(&ld.answering);
	atomic_store(&ld.killed, true);
	crash(d, 1);
	for (int k = 0; k < started; k++)
		pthread_join(tids[k], NULL);
	EXPECT_INT(t, "load threads started", LD_THREADS, started);
	for (int k = 0; k < started; k++)
		EXPECT(t, th[k].why[0] == '\0', "thread %d before the kill: %s", k, th[k].why);
	int n303 = atomic_load(&ld.n303);
	EXPECT(t, n303 >= LD_MIN_BEFORE_KILL, "expected >= %d validations answered 303 before the kill, got %d",
	       LD_MIN_BEFORE_KILL, n303);

	/* The crashed database as left on disk (WAL not checkpointed) verifies. */
	REQUIRE(t, verify_intact(t, d, "right after kill -9 during load, before any restart") == 0);
	/* Restart on the same database: it opens (both /healthz answer) ... */
	REQUIRE(t, d_start(d, NULL) == 0);
	int last = atomic_load(&ld.next);
	if (last > LD_MAX)
		last = LD_MAX;
	/* ... every validation whose 303 went out has its decision row ... */
	cJSON *rows = export_rows(t, d);
	REQUIRE(t, rows);
	int checked = 0;
	for (int i = 0; i < last; i++) {
		int g = atomic_load(&ld.got[i]);
		if (g == 0)
			continue;
		const char *ev = g == 1 ? "approved" : "denied";
		int n = count_rows(rows, ld.page[i], ev);
		if (n != 1) {
			char cid[32];
			ld_cid(i, cid, sizeof(cid));
			cJSON_Delete(rows);
			EXPECT(t, false, "expected one \"%s\" audit row for %s (page %s, its 303 came before the "
			       "kill; %d validations got 303, %d POSTs in flight at the kill), got %d",
			       ev, cid, ld.page[i], n303, in_flight, n);
		}
		checked++;
	}
	cJSON_Delete(rows);
	EXPECT_INT(t, "validations checked in the audit log", n303, checked);
	/* ... and its result reaches Chatfuel, with the right value (sent before
	 * the kill or from the outbox after the restart). */
	long long dl = h_mono_ms() + 20000;
	int missing = -1;
	while (h_mono_ms() < dl) {
		missing = -1;
		for (int i = 0; i < last && missing < 0; i++) {
			char cid[32];
			ld_cid(i, cid, sizeof(cid));
			if (atomic_load(&ld.got[i]) != 0 && mfa_call_for(f, cid) == NULL)
				missing = i;
		}
		if (missing < 0)
			break;
		h_sleep_ms(100);
	}
	if (missing >= 0) {
		char cid[32];
		ld_cid(missing, cid, sizeof(cid));
		EXPECT(t, false, "expected the result for %s (answered 303 before the kill) delivered within "
		       "20 s of the restart, got no Chatfuel call", cid);
	}
	for (int i = 0; i < last; i++) {
		int g = atomic_load(&ld.got[i]);
		char cid[32];
		ld_cid(i, cid, sizeof(cid));
		if (g != 0 && mfa_check_call(t, mfa_call_for(f, cid), cid, "FlowLoad", g == 1, false) != 0) {
			t_prefix(t, "%s: ", cid);
			return;
		}
	}
	REQUIRE(t, d_stop(d) == 0);
	REQUIRE(t, verify_intact(t, d, "after kill -9 during load and a restart") == 0);
}

const struct test e2e_tests_crash[] = {
	{ "crash_kill9_while_chatfuel_down_delivers_after_restart", test_kill9_chatfuel_down, NULL },
	{ "crash_kill9_during_load_chain_intact", test_kill9_during_load, NULL },
	{ NULL, NULL, NULL },
};
