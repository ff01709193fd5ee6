/*
 * test_concurrency: many clients at once -- 50 challenges minted, opened and
 * answered from 8 threads give 50 Chatfuel calls, one per client id -- and
 * the logs at debug level in JSON never carrying a secret or a birth date.
 */
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define CC_N 50
#define CC_THREADS 8

struct cc {
	struct daemon *d;
	atomic_int next;
	char dobs[CC_N][48];
};

struct cc_thread {
	struct cc *cc;
	struct t t;                  /* failures of this thread */
	struct daemon d;             /* shallow copy bound to this thread's t */
};

static void *cc_run(void *arg)
{
	struct cc_thread *th = arg;
	for (;;) {
		int i = atomic_fetch_add(&th->cc->next, 1);
		if (i >= CC_N || th->t.failed)
			break;
		char cid[32], phone[32];
		snprintf(cid, sizeof(cid), "cid-cc-%02d", i);
		snprintf(phone, sizeof(phone), "52155590%05d", i);
		struct minted m;
		if (mfa_mint_and_answer(&th->d, cid, phone, "FlowCC", th->cc->dobs[i], true, &m) != 0)
			break;
	}
	return NULL;
}

static void test_concurrent(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	static struct cc cc;
	static struct cc_thread th[CC_THREADS];
	cc.d = d;
	atomic_store(&cc.next, 0);
	for (int i = 0; i < CC_N; i++) {
		snprintf(cc.dobs[i], sizeof(cc.dobs[i]), "19%02d-%02d-%02d", 40 + i, 1 + i % 12, 1 + i % 28);
		t_secret(t, cc.dobs[i]);
	}
	pthread_t tids[CC_THREADS];
	for (int k = 0; k < CC_THREADS; k++) {
		memset(&th[k], 0, sizeof(th[k]));
		th[k].cc = &cc;
		th[k].t.name = t->name;
		snprintf(th[k].t.dir, sizeof(th[k].t.dir), "%s", t->dir);
		th[k].d = *d;
		th[k].d.t = &th[k].t;
		EXPECT(t, pthread_create(&tids[k], NULL, cc_run, &th[k]) == 0,
		       "expected to start thread %d, got failure", k);
	}
	for (int k = 0; k < CC_THREADS; k++)
		pthread_join(tids[k], NULL);
	for (int k = 0; k < CC_THREADS; k++)
		if (th[k].t.failed) {
			FAILF(t, "thread %d: %s", k, th[k].t.msg);
			return;
		}
	int got = fake_wait(f, CC_N, 20000);
	EXPECT_INT(t, "Chatfuel calls for 50 concurrent challenges", CC_N, got);
	REQUIRE(t, mfa_expect_calls(t, f, CC_N) == 0);
	int seen[CC_N] = { 0 };
	for (int i = 0; i < CC_N; i++) {
		const struct fake_call *c = fake_call(f, i);
		int idx = -1;
		if (sscanf(c->path, "/bots/" H_BOT_ID "/users/cid-cc-%d/send", &idx) != 1 || idx < 0 ||
		    idx >= CC_N) {
			FAILF(t, "expected a call for one of cid-cc-00..49, got %s", c->path);
			return;
		}
		char cid[32];
		snprintf(cid, sizeof(cid), "cid-cc-%02d", idx);
		REQUIRE(t, mfa_check_call(t, c, cid, "FlowCC", true, false) == 0);
		seen[idx]++;
	}
	for (int i = 0; i < CC_N; i++)
		EXPECT(t, seen[i] == 1, "expected exactly one call for cid-cc-%02d, got %d", i, seen[i]);
}

static void test_logs_debug_json(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_str(d, "log_level", "debug");
	d_set_str(d, "log_format", "json");
	const char *keys[] = { "k-log-secret-9" };
	cJSON_AddItemToObject(d->cfg, "api_keys", cJSON_CreateStringArray(keys, 1));
	t_secret(t, keys[0]);
	REQUIRE(t, d_start(d, NULL) == 0);
	static const char *const auth[] = { "X-API-Key: k-log-secret-9", NULL };
	struct resp rs;
	t_secret(t, "1955-12-01");
	t_secret(t, "1955-12-02");
	t_secret(t, "1955-12-03");
	REQUIRE(t, d_api_h(d, "GET",
	                   "/generate_dynamic_page?client_id=cid-log1&telefono=5215559100001&flow_name=FlowLog&fecha_cumple=1955-12-01&api_key=k-log-secret-9",
	                   NULL, NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "GET mint with api_key status", 200, rs.status);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	char pid[64];
	snprintf(pid, sizeof(pid), "%s", j_str(j, "page_id") ? j_str(j, "page_id") : "");
	cJSON_Delete(j);
	resp_free(&rs);
	REQUIRE(t, d_api_h(d, "POST", "/generate_dynamic_page", "application/x-www-form-urlencoded",
	                   "client_id=cid-log2&telefono=5215559100002&flow_name=FlowLog&fecha_cumple=1955-12-02",
	                   auth, &rs) == 0);
	EXPECT_INT(t, "POST form mint status", 200, rs.status);
	resp_free(&rs);
	REQUIRE(t, d_api_h(d, "POST", "/v1/challenges", "application/json",
	                   "{\"client_id\":\"cid-log3\",\"phone\":\"5215559100003\",\"flow_name\":\"FlowLog\",\"dob\":\"1955-12-03\"}",
	                   auth, &rs) == 0);
	EXPECT_INT(t, "POST /v1/challenges status", 201, rs.status);
	resp_free(&rs);
	struct page pg;
	REQUIRE(t, mfa_get_page(d, pid, &pg) == 0);
	char buf[40], ans[40];
	snprintf(ans, sizeof(ans), "%s", mfa_right_answer(&pg, "1955-12-01", buf));
	mfa_page_free(&pg);
	REQUIRE(t, mfa_answer(d, pid, ans, NULL) == 0);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);
	REQUIRE(t, d_stop(d) == 0);      /* scans stderr for the token, key and dates */
	char *err = h_read_file(d->err_path, NULL);
	EXPECT(t, err && err[0], "expected debug logs on stderr, got none");
	int lines = 0;
	for (char *save = NULL, *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(line);
		bool ok = cJSON_IsObject(o);
		cJSON_Delete(o);
		if (!ok) {
			char shown[200];
			snprintf(shown, sizeof(shown), "%s", line);
			free(err);
			EXPECT(t, false, "expected every log line to be a JSON object with log_format json, got \"%s\"",
			       shown);
		}
		lines++;
	}
	free(err);
	EXPECT(t, lines > 0, "expected log lines, got %d", lines);
}

const struct test e2e_tests_concurrency[] = {
	{ "concurrent_50_challenges_8_threads", test_concurrent, NULL },
	{ "logs_debug_json_never_leak_secrets", test_logs_debug_json, NULL },
	{ NULL, NULL, NULL },
};
