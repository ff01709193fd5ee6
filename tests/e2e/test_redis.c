/*
 * test_redis: several nodes on one Redis (SPEC §3 redis_url, node_id). Each
 * test starts its own redis-server (and haproxy, redis-sentinel) on free
 * loopback ports: a challenge minted on one node is served and decided on
 * another, decided once however many answers race on both, limits and
 * lockouts add up across nodes, an expiry is audited once, a dead Redis is
 * 503 and /healthz degraded until it is back, a balancer in front works, and
 * a Sentinel failover under load leaves exactly one decision per answer.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "servers.h"
#include "tests.h"

#define RT_PAGES 20
#define RT_RACERS 10                  /* simultaneous answers per page */
#define RT_RECOVER_MS 8000            /* Redis back until minting works */
#define RT_FAILOVER_MS 20000          /* master killed until a mint works again */
#define RT_SENTINEL_PAGES 12
#define RT_STALL_FROM_MS 9300           /* after a 10 s mint: Redis stopped ... */
#define RT_STALL_MS 2700                /* ... across its expiry */
#define RT_FS_LIMIT 1024                /* bytes: every audit write fails past it (a full disk) */
#define RT_SETTLE_MS 5000               /* a node's sweeps settle what it owes within this */

/* Rows of `event` (for page_id, when not NULL) in one node's audit log. */
static long rows(struct t *t, const struct daemon *d, const char *event, const char *page_id)
{
	return mfa_audit_rows(t, d, event, page_id);
}

/* Waits (bounded: ms) until d's log has want rows of `event` for page_id
 * (NULL: any page); the count then. */
static long rows_within(struct t *t, const struct daemon *d, const char *event, const char *page_id, long want,
                        int ms)
{
	long n = rows(t, d, event, page_id);
	for (long long end = h_mono_ms() + ms; h_mono_ms() < end && n < want; h_sleep_ms(50))
		n = rows(t, d, event, page_id);
	return n;
}

/* Waits (bounded) until `event` rows for page_id across both logs reach
 * want: rows that follow a reply (replayed, locked) are written just after it. */
static long rows_settle(struct t *t, const struct daemon *a, const struct daemon *b, const char *event,
                        const char *page_id, long want)
{
	long n = 0;
	for (long long end = h_mono_ms() + 3000; h_mono_ms() < end; h_sleep_ms(20)) {
		n = rows(t, a, event, page_id) + (b != NULL ? rows(t, b, event, page_id) : 0);
		if (n >= want)
			break;
	}
	h_sleep_ms(50);
	return rows(t, a, event, page_id) + (b != NULL ? rows(t, b, event, page_id) : 0);
}

/* A node on the Redis at redis_port (or Sentinel when sentinels is set). */
static struct daemon *node(struct t *t, struct fake_cf *f, const char *id, int redis_port,
                           const char *const *sentinels)
{
	struct daemon *d = d_new(t, f);
	if (d == NULL)
		return NULL;
	if (sentinels != NULL) {
		cJSON *list = cJSON_CreateArray();
		for (int i = 0; sentinels[i] != NULL; i++)
			cJSON_AddItemToArray(list, cJSON_CreateString(sentinels[i]));
		cJSON_AddItemToObject(d->cfg, "redis_sentinels", list);
		d_set_str(d, "redis_master", "mm");
	} else {
		char *url = h_printf("redis://127.0.0.1:%d/0", redis_port);
		d_set_str(d, "redis_url", url);
		free(url);
	}
	d_set_str(d, "node_id", id);
	return d;
}

/* rate_phone and lockout, each when not NULL. */
static void set_limits(struct daemon *d, const char *rate_phone, const char *lockout)
{
	if (rate_phone != NULL)
		d_set_str(d, "rate_phone", rate_phone);
	if (lockout != NULL)
		d_set_str(d, "lockout", lockout);
}

/* Node A, not started, on a fresh Redis (its pid in *redis when not NULL)
 * and a fake Chatfuel, its limits set (set_limits). */
static struct daemon *fresh_node(struct t *t, struct fake_cf **f, int *port, pid_t *redis, const char *rate_phone,
                                 const char *lockout)
{
	struct daemon *a;
	pid_t pid = srv_redis(t, 0, 0, port);

	if (redis != NULL)
		*redis = pid;
	if (pid <= 0 || (*f = t_fake(t)) == NULL || (a = node(t, *f, "node-a", *port, NULL)) == NULL)
		return NULL;
	set_limits(a, rate_phone, lockout);
	return a;
}

/* Two started nodes A and B on one fresh Redis. */
static int two_nodes(struct t *t, struct fake_cf **f, struct daemon **a, struct daemon **b, int *port,
                     const char *rate_phone, const char *lockout)
{
	if ((*a = fresh_node(t, f, port, NULL, rate_phone, lockout)) == NULL ||
	    (*b = node(t, *f, "node-b", *port, NULL)) == NULL)
		return -1;
	set_limits(*b, rate_phone, lockout);
	return d_start(*a, NULL) == 0 && d_start(*b, NULL) == 0 ? 0 : -1;
}

/* A copy of d for another thread, failing on that thread's own t (own, in
 * the thread's struct, zeroed here), which the thread may reset. */
static void bind_copy(struct t *t, struct t *own, struct daemon *copy, const struct daemon *d)
{
	memset(own, 0, sizeof *own);
	own->name = t->name;
	snprintf(own->dir, sizeof own->dir, "%s", t->dir);
	*copy = *d;
	copy->t = own;
}

static void test_two_nodes_share(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted m;
	struct resp rs;

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, NULL) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-r1", "5215550101001", "FlowR", "1980-05-17", NULL, NULL, 0, &m) == 0);
	REQUIRE(t, mfa_answer_page(b, m.page_id, "1980-05-17", true) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-r1", "FlowR", true, false) == 0);
	REQUIRE(t, mfa_expect_status(t, a, &m, "approved") == 0);
	char *path = h_printf("/%s", m.page_id);
	REQUIRE(t, d_web(a, "GET", path, NULL, NULL, &rs) == 0);
	free(path);
	EXPECT_INT(t, "node A's page status for a challenge node B decided", 410, rs.status);
	resp_free(&rs);
	/* The evidence is where the decision was taken. */
	EXPECT_INT(t, "minted rows on A", 1, rows_settle(t, a, NULL, "minted", m.page_id, 1));
	EXPECT_INT(t, "approved rows on B", 1, rows(t, b, "approved", m.page_id));
	EXPECT_INT(t, "approved rows on A", 0, rows(t, a, "approved", m.page_id));
	/* Each log verifies on its own; exported together they merge by time,
	 * every row naming its node: minted on A, then approved on B. */
	REQUIRE(t, rows_settle(t, b, NULL, "approved", m.page_id, 1) == 1);
	for (int i = 0; i < 2; i++) {
		const char *verify[] = { "audit", "verify", "--db", (i ? b : a)->db_path, NULL };
		char *out = NULL, *err = NULL;
		int rc = h_run(t, verify, NULL, &out, &err);
		EXPECT(t, rc == 0, "expected audit verify of node %c's log to pass, got %d: %s", i ? 'B' : 'A', rc,
		       err ? err : "");
		free(out);
		free(err);
	}
	{
		const char *exp[] = { "audit", "export", "--db", a->db_path, "--db", b->db_path, NULL };
		char *out = NULL, *err = NULL;
		int rc = h_run(t, exp, NULL, &out, &err);
		const char *minted = out ? strstr(out, "\"event\":\"minted\"") : NULL;
		const char *approved = out ? strstr(out, "\"event\":\"approved\"") : NULL;
		EXPECT(t, rc == 0 && minted != NULL && approved != NULL && minted < approved,
		       "expected the merged export to list minted before approved, got %d: %.400s", rc, out ? out : "");
		char *nl = strchr(minted, '\n');
		EXPECT(t, nl != NULL && memmem(minted, (size_t)(nl - minted), "\"node\":\"node-a\"", 15) != NULL,
		       "expected the minted row to name node-a, got %.300s", minted);
		nl = strchr(approved, '\n');
		EXPECT(t, nl != NULL && memmem(approved, (size_t)(nl - approved), "\"node\":\"node-b\"", 15) != NULL,
		       "expected the approved row to name node-b, got %.300s", approved);
		free(out);
		free(err);
	}
	REQUIRE(t, d_api(b, "GET", "/metrics", NULL, NULL, &rs) == 0);
	EXPECT(t, rs.status == 200 && rs.body != NULL && strstr(rs.body, "\nmnmfa_redis_up 1\n") != NULL &&
	       strstr(rs.body, "\nmnmfa_node_info{node=\"node-b\"} 1\n") != NULL &&
	       strstr(rs.body, "\nmnmfa_redis_round_trips_total ") != NULL &&
	       strstr(rs.body, "\nmnmfa_redis_errors_total 0\n") != NULL,
	       "expected /metrics with mnmfa_redis_up 1, round trips and 0 errors, got %.300s",
	       rs.body ? rs.body : "(none)");
	resp_free(&rs);
}

struct racer {
	struct t t;
	struct daemon d;             /* shallow copy bound to this thread's t */
	const char *page_id;
	const char *answer;
	long status;
};

static void *race_one(void *arg)
{
	struct racer *r = arg;
	char *p = h_urlenc(r->page_id), *a = h_urlenc(r->answer);
	char *body = h_printf("page_id=%s&respuesta=%s", p, a);
	struct resp rs;

	if (d_web(&r->d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs) == 0) {
		r->status = rs.status;
		resp_free(&rs);
	}
	free(p);
	free(a);
	free(body);
	return NULL;
}

static void test_racing_answers_decided_once(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	static struct minted m[RT_PAGES];
	static char answers[RT_PAGES][40];
	static struct racer r[RT_RACERS];

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, NULL) == 0);
	for (int i = 0; i < RT_PAGES; i++) {
		char cid[32], phone[32];
		snprintf(cid, sizeof cid, "cid-race-%02d", i);
		snprintf(phone, sizeof phone, "52155502%05d", i);
		REQUIRE(t, mfa_mint_v1(i % 2 ? a : b, cid, phone, "FlowRace", "1975-09-23", NULL, NULL, 0, &m[i]) == 0);
		REQUIRE(t, mfa_page_answer(i % 2 ? b : a, m[i].page_id, "1975-09-23", true, answers[i]) != NULL);
	}
	for (int i = 0; i < RT_PAGES; i++) {
		pthread_t tid[RT_RACERS];
		for (int k = 0; k < RT_RACERS; k++) {
			memset(&r[k], 0, sizeof r[k]);
			bind_copy(t, &r[k].t, &r[k].d, k % 2 ? b : a);
			r[k].page_id = m[i].page_id;
			r[k].answer = answers[i];
			EXPECT(t, pthread_create(&tid[k], NULL, race_one, &r[k]) == 0, "expected a thread, got none");
		}
		for (int k = 0; k < RT_RACERS; k++)
			pthread_join(tid[k], NULL);
		for (int k = 0; k < RT_RACERS; k++)
			EXPECT(t, r[k].status == 303, "expected every racing answer to return to the chat (303), "
			       "got %ld for page %d answer %d", r[k].status, i, k);
		long decided = rows(t, a, "approved", m[i].page_id) + rows(t, b, "approved", m[i].page_id);
		/* Every racer after the first is a replay; each node logs one per page
		 * and address per minute (issue 10), and both nodes saw replays from
		 * 127.0.0.1: one replayed row in each log. */
		long replayed = rows_settle(t, a, b, "replayed", m[i].page_id, 2);
		EXPECT(t, decided == 1 && replayed == 2,
		       "expected page %d decided once and one replayed row per node (2) across both logs, "
		       "got %ld and %ld", i, decided, replayed);
	}
	REQUIRE(t, mfa_expect_calls(t, f, RT_PAGES) == 0);
	for (int i = 0; i < RT_PAGES; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "cid-race-%02d", i);
		EXPECT(t, mfa_call_for(f, cid) != NULL, "expected a Chatfuel call for %s, got none", cid);
	}
}

static void test_limits_across_nodes(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted m[3];
	struct resp rs;
	const char *body = "{\"client_id\":\"cid-lim\",\"phone\":\"5215550303000\",\"flow_name\":\"F\","
	                   "\"dob\":\"1990-01-02\"}";

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, "3/600", "2/600") == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-lim", "5215550303000", "F", "1990-01-02", NULL, NULL, 0, &m[0]) == 0);
	REQUIRE(t, mfa_mint_v1(b, "cid-lim", "5215550303000", "F", "1990-01-02", NULL, NULL, 0, &m[1]) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-lim", "5215550303000", "F", "1990-01-02", NULL, NULL, 0, &m[2]) == 0);
	REQUIRE(t, d_api(b, "POST", "/v1/challenges", "application/json", body, &rs) == 0);
	EXPECT_INT(t, "the 4th mint for a phone with rate_phone 3/600, on the other node", 429, rs.status);
	EXPECT(t, resp_header(&rs, "Retry-After") != NULL, "expected Retry-After on 429, got none");
	resp_free(&rs);

	/* Two wrong answers, one on each node, lock the phone (lockout 2/600). */
	REQUIRE(t, mfa_answer_page(a, m[0].page_id, "1990-01-02", false) == 0);
	REQUIRE(t, mfa_answer_page(b, m[1].page_id, "1990-01-02", false) == 0);
	EXPECT_INT(t, "locked rows on B after the second wrong answer", 1,
	           rows_settle(t, b, NULL, "locked", m[1].page_id, 1));
	/* Locked everywhere: the third page, minted on A, ended as locked with
	 * the lockout B reached (its row in B's log). */
	REQUIRE(t, mfa_expect_status(t, a, &m[2], "locked") == 0);
	EXPECT_INT(t, "locked rows on B for the third page, minted on A", 1,
	           rows_settle(t, b, NULL, "locked", m[2].page_id, 1));
	const char *other = "{\"client_id\":\"cid-lim\",\"phone\":\"+5215550303000\",\"flow_name\":\"F\","
	                    "\"dob\":\"1990-01-02\"}";
	REQUIRE(t, d_api(b, "POST", "/v1/challenges", "application/json", other, &rs) == 0);
	EXPECT_INT(t, "a mint for the locked phone (written with '+') on the other node", 423, rs.status);
	resp_free(&rs);
}

/* A lockout reached on node A ends the phone's link minted on node B at
 * once (lockout 1/600: one wrong answer locks): B's page and status say so
 * without an answer, one `locked` row, one false result for the bot. */
static void test_lockout_ends_links_across_nodes(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted first, other;

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, "1/600") == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-rlo", "5215550404000", "FlowFirst", "1990-01-02", NULL, NULL, 0, &first) == 0);
	REQUIRE(t, mfa_mint_v1(b, "cid-rlo", "+5215550404000", "FlowOther", "1990-01-02", NULL, NULL, 0, &other) == 0);
	REQUIRE(t, mfa_answer_page(a, first.page_id, "1990-01-02", false) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);   /* the denial's result and the other link's */
	struct daemon *logs[] = { a, b, NULL };
	REQUIRE(t, mfa_expect_ended_locked(t, b, logs, f, &other) == 0);
	REQUIRE(t, mfa_expect_status(t, a, &other, "locked") == 0);
	/* the denied link's own locked row: on A, the node that decided it, only */
	EXPECT_INT(t, "locked rows for the denied link on A (after its denial)", 1,
	           rows_settle(t, a, NULL, "locked", first.page_id, 1));
	EXPECT_INT(t, "locked rows for the denied link on B", 0, rows(t, b, "locked", first.page_id));
}

/* Sliding windows in Redis (rate_phone 3/8, lockout 2/8): a fixed window
 * starting at t0 would open afresh at t0+8 s; here the events at t0+5.5 s
 * reach the limit and lock for a full window, so at t0+8.3 s a 4th mint is
 * 429 and a mint for the phone locked at t0+5.5 s is 423. (Eight seconds, not
 * four: the second batch's two durable mints and answer must fit before the
 * fixed window's end, and under load they once took 1.8 s.) */
static void test_windows_slide(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a;
	int port;
	struct minted p1[3], p2[3];
	struct resp rs;
	const char *body = "{\"client_id\":\"cid-win\",\"phone\":\"5215550304000\",\"flow_name\":\"F\","
	                   "\"dob\":\"1990-01-02\"}";

	REQUIRE(t, (a = fresh_node(t, &f, &port, NULL, "3/8", "2/8")) != NULL && d_start(a, NULL) == 0);

	long long t0 = h_mono_ms();
	REQUIRE(t, mfa_mint_v1(a, "cid-win", "5215550304000", "F", "1990-01-02", NULL, NULL, 0, &p1[0]) == 0);
	for (int i = 0; i < 3; i++)
		REQUIRE(t, mfa_mint_v1(a, "cid-win", "5215550304111", "F", "1990-01-02", NULL, NULL, 0, &p2[i]) == 0);
	REQUIRE(t, mfa_answer_page(a, p2[0].page_id, "1990-01-02", false) == 0);

	h_sleep_ms((int)(t0 + 5500 - h_mono_ms()));
	REQUIRE(t, mfa_mint_v1(a, "cid-win", "5215550304000", "F", "1990-01-02", NULL, NULL, 0, &p1[1]) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-win", "5215550304000", "F", "1990-01-02", NULL, NULL, 0, &p1[2]) == 0);
	REQUIRE(t, mfa_answer_page(a, p2[1].page_id, "1990-01-02", false) == 0);
	EXPECT(t, h_mono_ms() < t0 + 8000, "expected the first window's events within 8 s, took %lld ms",
	       h_mono_ms() - t0);

	h_sleep_ms((int)(t0 + 8300 - h_mono_ms()));
	REQUIRE(t, d_api(a, "POST", "/v1/challenges", "application/json", body, &rs) == 0);
	EXPECT_INT(t, "a 4th mint 0.3 s after a fixed window's end (rate_phone 3/8, 3rd at 5.5 s)", 429, rs.status);
	const char *ra = resp_header(&rs, "Retry-After");
	EXPECT(t, ra != NULL && atoi(ra) >= 5, "expected Retry-After >= 5 (locked until 13.5 s), got %s",
	       ra != NULL ? ra : "none");
	resp_free(&rs);
	/* The locked phone's third page ended with the lock at 5.5 s; at 8.3 s the
	 * phone is still locked. */
	REQUIRE(t, mfa_expect_status(t, a, &p2[2], "locked") == 0);
	const char *locked_body = "{\"client_id\":\"cid-win\",\"phone\":\"5215550304111\",\"flow_name\":\"F\","
	                          "\"dob\":\"1990-01-02\"}";
	REQUIRE(t, d_api(a, "POST", "/v1/challenges", "application/json", locked_body, &rs) == 0);
	EXPECT_INT(t, "a mint 0.3 s after a fixed window's end for the phone locked at 5.5 s", 423, rs.status);
	resp_free(&rs);
}

/* A node killed with challenges it minted still pending: its log has their
 * `minted` rows and no end, but they live in Redis and the other node serves
 * them, so its next start cancels nothing (with the in-memory store it would
 * record them as canceled). */
static void test_killed_node_start_cancels_nothing(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted mb;

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, NULL) == 0);
	REQUIRE(t, mfa_mint_v1(b, "cid-kill-b", "5215550404003", "F", "1991-02-03", NULL, NULL, 0, &mb) == 0);
	REQUIRE(t, d_kill(b) == 0);
	REQUIRE(t, d_start(b, NULL) == 0);
	EXPECT_INT(t, "canceled rows on B after its restart", 0, rows(t, b, "canceled", mb.page_id));
	REQUIRE(t, mfa_expect_status(t, a, &mb, "pending") == 0);
	REQUIRE(t, d_stop(b) == 0);
	EXPECT_INT(t, "canceled rows on B after its stop", 0, rows(t, b, "canceled", mb.page_id));
}

/* `audit verify` of d's log passes. */
static void expect_log_verifies(struct t *t, struct daemon *d)
{
	const char *argv[] = { "audit", "verify", "--db", d->db_path, NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run(t, argv, NULL, &out, &err);

	EXPECT(t, rc == 0, "expected audit verify of %s to pass, got %d: %s", d->db_path, rc, err ? err : "");
	free(out);
	free(err);
}

/* A node that served through Redis, stopped, then started without it: the
 * challenge it minted still lives in Redis and node B ends it, so the
 * in-memory start cancels nothing of the Redis run's (else A's log says
 * canceled and B's approved: two ends in the deployment). */
static void test_redis_run_then_memory_start_cancels_nothing(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted m;

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, NULL) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-runs-a", "5215550404005", "F", "1991-02-03", NULL, NULL, 0, &m) == 0);
	REQUIRE(t, d_stop(a) == 0);
	EXPECT_INT(t, "canceled rows on A at its stop with Redis", 0, rows(t, a, "canceled", m.page_id));
	d_del(a, "redis_url");
	REQUIRE(t, d_start(a, NULL) == 0);
	EXPECT_INT(t, "canceled rows on A after its start without Redis", 0, rows(t, a, "canceled", m.page_id));
	REQUIRE(t, mfa_answer_page(b, m.page_id, "1991-02-03", true) == 0);
	EXPECT_INT(t, "approved rows on B", 1, rows_settle(t, b, NULL, "approved", m.page_id, 1));
	REQUIRE(t, d_stop(a) == 0);
	REQUIRE(t, d_stop(b) == 0);
	EXPECT_INT(t, "canceled rows on A after its stop without Redis", 0, rows(t, a, "canceled", m.page_id));
	EXPECT_INT(t, "ends on A and B for the page (approved on B)", 1,
	           mfa_db_int(t, a->db_path, "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND event != 'minted'",
	                      m.page_id) +
	           mfa_db_int(t, b->db_path, "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND event != 'minted'",
	                      m.page_id));
	expect_log_verifies(t, a);
	expect_log_verifies(t, b);
}

/* An in-memory run killed -9 with a challenge pending, then a start with
 * Redis: nothing serves that challenge any more, so the Redis start writes
 * its `canceled` row, once (a start that only moved the mark over it left it
 * without an end for good). */
static void test_memory_kill_then_redis_start_ends_it(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a;
	int port, st;
	struct minted m;

	REQUIRE(t, (a = fresh_node(t, &f, &port, NULL, NULL, NULL)) != NULL);
	char *url = h_printf("redis://127.0.0.1:%d/0", port);
	d_del(a, "redis_url");
	REQUIRE(t, d_start(a, NULL) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-runs-k", "5215550404006", "F", "1991-02-03", NULL, NULL, 0, &m) == 0);
	kill(a->pid, SIGKILL);
	while (waitpid(a->pid, &st, 0) < 0 && errno == EINTR)
		;
	a->pid = 0;
	d_set_str(a, "redis_url", url);
	free(url);
	REQUIRE(t, d_start(a, NULL) == 0);
	EXPECT_INT(t, "canceled rows after the start with Redis", 1, rows(t, a, "canceled", m.page_id));
	REQUIRE(t, d_stop(a) == 0);
	d_del(a, "redis_url");
	REQUIRE(t, d_start(a, NULL) == 0);
	REQUIRE(t, d_stop(a) == 0);
	EXPECT_INT(t, "canceled rows after one more start without Redis", 1, rows(t, a, "canceled", m.page_id));
	expect_log_verifies(t, a);
}

static void test_expiry_audited_once(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted ma, mb;

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, NULL) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-exp-a", "5215550404001", "F", "1991-02-03", NULL, NULL, 10, &ma) == 0);
	REQUIRE(t, mfa_mint_v1(b, "cid-exp-b", "5215550404002", "F", "1991-02-03", NULL, NULL, 10, &mb) == 0);
	/* B stops before its challenge expires: no cancel (A may still serve it),
	 * and B's next start audits the expiry. */
	REQUIRE(t, d_stop(b) == 0);
	EXPECT_INT(t, "expired rows on A for A's challenge", 1, rows_within(t, a, "expired", ma.page_id, 1, 14000));
	EXPECT_INT(t, "canceled rows on B at its stop", 0, rows(t, b, "canceled", mb.page_id));
	EXPECT_INT(t, "expired rows on A for B's challenge (B audits its own)", 0,
	           rows(t, a, "expired", mb.page_id));
	REQUIRE(t, d_start(b, NULL) == 0);
	rows_within(t, b, "expired", mb.page_id, 1, 5000);
	h_sleep_ms(1200);                 /* a few more sweeps on both nodes */
	EXPECT_INT(t, "expired rows on B for B's challenge after its restart", 1, rows(t, b, "expired", mb.page_id));
	EXPECT_INT(t, "expired rows on A, A's challenge, still", 1, rows(t, a, "expired", ma.page_id));
	EXPECT_INT(t, "expired rows on B for A's challenge", 0, rows(t, b, "expired", ma.page_id));
	REQUIRE(t, mfa_expect_status(t, b, &ma, "expired") == 0);
}

/* A TCP relay on loopback between one node and Redis that can swallow
 * Redis's replies to the commands that name one page: those commands still
 * reach Redis and run, their answers never come back (a reply lost on the
 * way); the node's other commands (its limits, its sweeps) pass. */
#define RT_RELAY_CONNS 16
#define RT_RELAY_BUF 16384

struct relay {
	int listen_fd, port, redis_port;
	atomic_bool drop, stop;
	char needle[64];                   /* with drop: a connection that sends this ... */
	bool doomed[RT_RELAY_CONNS];       /* ... gets no reply from then on */
	int doom_max, ndoomed;             /* doom_max > 0: only the first doom_max connections */
	pthread_t tid;
	int fd[RT_RELAY_CONNS][2];         /* the node's side, Redis's side; -1: free */
};

static int relay_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void relay_close(struct relay *r, int k)
{
	close(r->fd[k][0]);
	close(r->fd[k][1]);
	r->fd[k][0] = r->fd[k][1] = -1;
	r->doomed[k] = false;
}

/* Moves what one side sent to the other (Redis's replies dropped when asked). */
static void relay_pass(struct relay *r, int k, int from)
{
	char buf[RT_RELAY_BUF];
	ssize_t n = read(r->fd[k][from], buf, sizeof buf);

	if (n <= 0) {
		relay_close(r, k);
		return;
	}
	if (atomic_load(&r->drop)) {          /* the needle is set before drop */
		if (from == 0 && !r->doomed[k] && memmem(buf, (size_t)n, r->needle, strlen(r->needle)) != NULL &&
		    (r->doom_max == 0 || r->ndoomed < r->doom_max)) {
			r->doomed[k] = true;
			r->ndoomed++;
		}
		if (from == 1 && r->doomed[k])
			return;
	}
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(r->fd[k][1 - from], buf + off, (size_t)(n - off));
		if (w <= 0) {
			relay_close(r, k);
			return;
		}
		off += w;
	}
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd p[1 + 2 * RT_RELAY_CONNS];
		int slot[1 + 2 * RT_RELAY_CONNS], n = 1;

		p[0] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
		for (int k = 0; k < RT_RELAY_CONNS; k++)
			for (int side = 0; side < 2 && r->fd[k][0] >= 0; side++) {
				slot[n] = k * 2 + side;
				p[n++] = (struct pollfd){ .fd = r->fd[k][side], .events = POLLIN };
			}
		if (poll(p, (nfds_t)n, 50) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int c = accept(r->listen_fd, NULL, NULL), k = 0;
			while (k < RT_RELAY_CONNS && r->fd[k][0] >= 0)
				k++;
			int up = c >= 0 && k < RT_RELAY_CONNS ? relay_connect(r->redis_port) : -1;
			if (up < 0) {
				if (c >= 0)
					close(c);
			} else {
				r->fd[k][0] = c;
				r->fd[k][1] = up;
			}
		}
		for (int i = 1; i < n; i++) {
			int k = slot[i] / 2, side = slot[i] % 2;
			/* a pair closed earlier in this round has -1 here */
			if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) && r->fd[k][side] == p[i].fd)
				relay_pass(r, k, side);
		}
	}
	for (int k = 0; k < RT_RELAY_CONNS; k++)
		if (r->fd[k][0] >= 0)
			relay_close(r, k);
	close(r->listen_fd);
	return NULL;
}

static int relay_start(struct t *t, struct relay *r, int redis_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;

	memset(r, 0, sizeof *r);
	memset(r->fd, -1, sizeof r->fd);
	r->redis_port = redis_port;
	r->port = h_free_port();
	sa.sin_port = htons((uint16_t)r->port);
	r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (r->listen_fd < 0 || setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(r->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(r->listen_fd, 16) != 0 ||
	    pthread_create(&r->tid, NULL, relay_run, r) != 0) {
		FAILF(t, "expected a relay to Redis on port %d, got none", r->port);
		return -1;
	}
	return 0;
}

static void relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->tid, NULL);
}

/* Node A on a fresh Redis and node B on it through the relay rl, both
 * started, lockout set when not NULL. */
static int relayed_nodes(struct t *t, struct relay *rl, struct fake_cf **f, int *port, struct daemon **a,
                         struct daemon **b, const char *lockout)
{
	if ((*a = fresh_node(t, f, port, NULL, NULL, lockout)) == NULL || relay_start(t, rl, *port) != 0 ||
	    (*b = node(t, *f, "node-b", rl->port, NULL)) == NULL)
		return -1;
	set_limits(*b, NULL, lockout);
	return d_start(*a, NULL) == 0 && d_start(*b, NULL) == 0 ? 0 : -1;
}

/* Redis stalls (SIGSTOP) across a page's expiry: the minting node's sweeps
 * reach Redis, which runs them once it wakes, but their replies never come
 * back. The expiry is still audited, once. */
static void test_expiry_survives_lost_sweep_reply(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a;
	int port;
	struct minted m;
	pid_t redis;

	REQUIRE(t, (a = fresh_node(t, &f, &port, &redis, NULL, NULL)) != NULL && d_start(a, NULL) == 0);
	long long minted = h_mono_ms();
	REQUIRE(t, mfa_mint_v1(a, "cid-stall", "5215550404101", "F", "1991-02-03", NULL, NULL, 10, &m) == 0);
	h_sleep_ms((int)(minted + RT_STALL_FROM_MS - h_mono_ms()));
	REQUIRE(t, kill(redis, SIGSTOP) == 0);
	h_sleep_ms(RT_STALL_MS);            /* the expiry falls in here: sweeps sent, replies lost */
	REQUIRE(t, kill(redis, SIGCONT) == 0);
	rows_within(t, a, "expired", m.page_id, 1, 5000);
	h_sleep_ms(1200);                   /* a few more sweeps: no second row */
	EXPECT_INT(t, "expired rows for a page whose expiry Redis ran while its replies were lost", 1,
	           rows(t, a, "expired", m.page_id));
	REQUIRE(t, mfa_expect_status(t, a, &m, "expired") == 0);
}



/* An integer reply of the test's own Redis (":N"), or LLONG_MIN. */
static long long redis_int(int port, const char *cmd)
{
	char *r = srv_redis_cmd(port, cmd);
	long long v = r != NULL && r[0] == ':' ? strtoll(r + 1, NULL, 10) : LLONG_MIN;
	free(r);
	return v;
}

/* The Redis value of a page's status field, or '?'. */
static char page_st(int port, const char *page_id)
{
	char *hs = h_printf("HGET mnmfa:c:%s st", page_id), *r = srv_redis_cmd(port, hs);
	char st = r != NULL && strncmp(r, "$1\r\n", 4) == 0 ? r[4] : '?';
	free(hs);
	free(r);
	return st;
}

/* How many keys match pattern in the test's Redis (KEYS' "*N"), or -1. */
static long redis_keys(int port, const char *pattern)
{
	char *cmd = h_printf("KEYS %s", pattern), *r = srv_redis_cmd(port, cmd);
	long n = r != NULL && r[0] == '*' ? strtol(r + 1, NULL, 10) : -1;
	free(cmd);
	free(r);
	return n;
}

/* Every audit write of d fails (RLIMIT_FSIZE reached, as a full disk) or
 * works again. */
static int audit_disk_full(struct daemon *d, bool full)
{
	struct rlimit small = { RT_FS_LIMIT, RLIM_INFINITY }, big = { RLIM_INFINITY, RLIM_INFINITY };
	return prlimit(d->pid, RLIMIT_FSIZE, full ? &small : &big, NULL);
}

/* A node on a fresh Redis whose answers wait 1 s for their evidence. */
/* answer_wait of the reopen test: Redis must be stalled (the test polls the
 * page's state) before the answer's wait ends and the node tries the reopen;
 * 1 s was not always enough under make sanitize beside other suites. */
#define RT_REOPEN_WAIT_S 4

static struct daemon *short_wait_node(struct t *t, struct fake_cf **f, int *port, pid_t *redis, int wait_s)
{
	struct daemon *a = fresh_node(t, f, port, redis, NULL, NULL);

	if (a == NULL)
		return NULL;
	d_set_int(a, "answer_wait", wait_s);
	return d_start(a, NULL) == 0 ? a : NULL;
}

static long post_answer(struct daemon *d, const char *page_id, const char *answer)
{
	char *form = h_printf("page_id=%s&respuesta=%s", page_id, answer);
	struct resp rs;
	long st = 0;

	if (d_web(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", form, &rs) == 0) {
		st = rs.status;
		resp_free(&rs);
	}
	free(form);
	return st;
}

/* Mints a 120 s challenge on d and reads its page: the right answer (in
 * buf), or NULL. */
static const char *mint_for_answer(struct t *t, struct daemon *d, const char *cid, const char *phone,
                                   struct minted *m, char buf[40])
{
	if (mfa_mint_v1(d, cid, phone, "F", "1991-02-03", NULL, NULL, 120, m) != 0)
		return NULL;
	const char *right = mfa_page_answer(d, m->page_id, "1991-02-03", true, buf);
	if (right == NULL && !t->failed)
		FAILF(t, "expected a right answer on the page of %s, got none", cid);
	return right;
}

/* A decision whose audit row cannot be written is undone: the page is
 * pending again, and so is its phone's set of pending pages, with an expiry
 * (a set without one would stay in Redis for ever). */
static void test_reopen_keeps_phone_set_expiry(struct t *t)
{
	struct fake_cf *f;
	int port;
	pid_t redis;
	struct daemon *a = short_wait_node(t, &f, &port, &redis, 1);
	struct minted m;
	struct page pg;
	char buf[40];

	REQUIRE(t, a != NULL);
	const char *right = mint_for_answer(t, a, "cid-reopen", "5215550404301", &m, buf);
	REQUIRE(t, right != NULL);
	REQUIRE(t, audit_disk_full(a, true) == 0);
	long st = post_answer(a, m.page_id, right);
	REQUIRE(t, audit_disk_full(a, false) == 0);
	EXPECT_INT(t, "answer status while the audit log cannot be written", 503, st);
	REQUIRE(t, mfa_get_page(a, m.page_id, &pg) == 0);      /* open again */
	mfa_page_free(&pg);
	char *hs = h_printf("SISMEMBER mnmfa:p:5215550404301 %s", m.page_id);
	EXPECT_INT(t, "the reopened page back in its phone's pending set", 1, redis_int(port, hs));
	free(hs);
	long long pttl = redis_int(port, "PTTL mnmfa:p:5215550404301");
	EXPECT(t, pttl > 0 && pttl <= (120 + 3600) * 1000LL,
	       "expected the phone's pending set to expire with the page (PTTL in (0, 3720000]), got %lld", pttl);
	EXPECT_INT(t, "the person's next answer", 303, post_answer(a, m.page_id, right));
	EXPECT_INT(t, "approved rows", 1, rows_settle(t, a, NULL, "approved", m.page_id, 1));
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
}

struct stall {
	int port;
	const char *page_id;
	pid_t redis;
	bool stopped;
};

/* Stops Redis once the page is decided there: the node is then waiting for
 * the decision's audit row, which cannot be written. */
static void *stall_when_decided(void *arg)
{
	struct stall *s = arg;

	for (long long end = h_mono_ms() + 5000; h_mono_ms() < end; h_sleep_ms(5)) {
		char st = page_st(s->port, s->page_id);
		if (st != '?' && st != '0') {
			s->stopped = kill(s->redis, SIGSTOP) == 0;
			break;
		}
	}
	return NULL;
}

struct poster {
	struct t t;
	struct daemon d;
	const char *page_id, *answer;
	long status;
};

static void *post_one(void *arg)
{
	struct poster *p = arg;
	p->status = post_answer(&p->d, p->page_id, p->answer);
	p->t.failed = false;
	return NULL;
}

/* The audit row of a decision cannot be written and Redis stalls before the
 * page can be reopened: the decision stands. That is counted
 * (mnmfa_decisions_not_reopened_total), the person was told "try again" and
 * the link then answers 410; the decision's row is queued again with no
 * instant to give up at, so once the log can be written it has its row and
 * the bot its result (every challenge ends in the log). */
static void test_reopen_failure_counted(struct t *t)
{
	struct fake_cf *f;
	int port;
	pid_t redis;
	struct daemon *a = short_wait_node(t, &f, &port, &redis, RT_REOPEN_WAIT_S);
	struct minted m;
	struct resp rs;
	char buf[40];
	static struct poster p;
	struct stall s;
	pthread_t tp, ts;

	REQUIRE(t, a != NULL);
	const char *right = mint_for_answer(t, a, "cid-noreopen", "5215550404302", &m, buf);
	REQUIRE(t, right != NULL);
	memset(&p, 0, sizeof p);
	bind_copy(t, &p.t, &p.d, a);
	p.page_id = m.page_id;
	p.answer = right;
	s = (struct stall){ .port = port, .page_id = m.page_id, .redis = redis };
	REQUIRE(t, audit_disk_full(a, true) == 0);
	REQUIRE(t, pthread_create(&ts, NULL, stall_when_decided, &s) == 0);
	REQUIRE(t, pthread_create(&tp, NULL, post_one, &p) == 0);
	pthread_join(ts, NULL);
	pthread_join(tp, NULL);
	if (s.stopped)
		kill(redis, SIGCONT);
	REQUIRE(t, audit_disk_full(a, false) == 0);
	EXPECT(t, s.stopped, "expected the page decided in Redis within 5 s, got it still pending");
	EXPECT_INT(t, "answer status (no audit row, no reopen)", 503, p.status);
	REQUIRE(t, d_api(a, "GET", "/metrics", NULL, NULL, &rs) == 0);
	EXPECT(t, rs.body != NULL && strstr(rs.body, "\nmnmfa_decisions_not_reopened_total 1\n") != NULL,
	       "expected mnmfa_decisions_not_reopened_total 1, got %.200s",
	       rs.body && strstr(rs.body, "not_reopened") ? strstr(rs.body, "not_reopened") : "(none)");
	resp_free(&rs);
	char *path = h_printf("/%s", m.page_id);
	REQUIRE(t, d_web(a, "GET", path, NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "the page's status after a decision that could not be undone", 410, rs.status);
	resp_free(&rs);
	free(path);
	EXPECT_INT(t, "approved rows of the decision that stands", 1, rows_settle(t, a, NULL, "approved", m.page_id, 1));
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-noreopen"), "cid-noreopen", "F", true, false) == 0);
}

/* A mint whose `minted` row cannot be written is refused (503) and
 * withdrawn: no record is left in Redis for any node to find, not even a
 * canceled one. */
static void test_withdrawn_mint_leaves_nothing(struct t *t)
{
	struct fake_cf *f;
	int port;
	pid_t redis;
	struct daemon *a = short_wait_node(t, &f, &port, &redis, 1);
	struct minted m;
	struct resp rs;
	const char *body = "{\"client_id\":\"cid-wd\",\"phone\":\"5215550404303\",\"flow_name\":\"F\","
	                   "\"dob\":\"1991-02-03\"}";

	REQUIRE(t, a != NULL);
	REQUIRE(t, mfa_mint_v1(a, "cid-wd", "5215550404303", "F", "1991-02-03", NULL, NULL, 120, &m) == 0);
	REQUIRE(t, audit_disk_full(a, true) == 0);
	int rc = d_api(a, "POST", "/v1/challenges", "application/json", body, &rs);
	REQUIRE(t, audit_disk_full(a, false) == 0);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "mint status while the audit log cannot be written", 503, rs.status);
	resp_free(&rs);
	EXPECT_INT(t, "challenge records in Redis (the refused mint's withdrawn)", 1, redis_keys(port, "mnmfa:c:*"));
	EXPECT_INT(t, "node-a's expiry set", 1, redis_int(port, "ZCARD mnmfa:x:node-a"));
	EXPECT_INT(t, "the phone's pending set", 1, redis_int(port, "SCARD mnmfa:p:5215550404303"));
}

/* node_id defaults to the host name (SPEC §3); under Redis it names the
 * node's expiry set, which a changed host name would orphan: the node warns
 * at start. A node with its own node_id does not. */
static void test_node_id_default_warns(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;

	REQUIRE(t, srv_redis(t, 0, 0, &port) > 0 && (f = t_fake(t)) != NULL);
	a = d_new(t, f);
	b = node(t, f, "node-b", port, NULL);
	REQUIRE(t, a != NULL && b != NULL);
	char *url = h_printf("redis://127.0.0.1:%d/0", port);
	d_set_str(a, "redis_url", url);
	free(url);
	REQUIRE(t, d_start(a, NULL) == 0 && d_start(b, NULL) == 0);
	char *ea = h_read_file(a->err_path, NULL), *eb = h_read_file(b->err_path, NULL);
	EXPECT(t, ea != NULL && h_contains(ea, "node_id is not set: using the host name") &&
	       h_contains(ea, "Set node_id"),
	       "expected a warning that node_id is the host name, got: %s", ea ? h_tail(ea, 5) : "(none)");
	EXPECT(t, eb != NULL && !h_contains(eb, "node_id is not set"),
	       "expected no node_id warning with node_id set, got: %s", eb ? h_tail(eb, 5) : "(none)");
	free(ea);
	free(eb);
}

/* B's answer reaches Redis and decides the page, but every reply to B is
 * lost (a relay swallows them) for longer than B's retries: B shows "try
 * again" (503). The page is decided by that answer, once, with its
 * evidence: once Redis's replies come through again, B's sweep finds its own
 * decision and writes the approved row and the result it owes. The page is
 * never open again, so A's later answer is a replay (303 back to the chat),
 * not a second decision, and no node reports "already used" for a decision
 * that is then undone. */
static void test_answer_reply_lost_is_settled(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted m;
	struct resp rs;
	char answer[40];
	static struct relay rl;

	REQUIRE(t, relayed_nodes(t, &rl, &f, &port, &a, &b, NULL) == 0);
	/* One answer first, so Redis has the answer script and runs it by its sha. */
	REQUIRE(t, mfa_mint_v1(a, "cid-doubt-0", "5215550404200", "F", "1991-02-03", NULL, NULL, 120, &m) == 0);
	EXPECT_INT(t, "a first (wrong) answer", 303, post_answer(b, m.page_id, "none"));
	const char *right = mint_for_answer(t, a, "cid-doubt", "5215550404201", &m, answer);
	REQUIRE(t, right != NULL);
	snprintf(rl.needle, sizeof rl.needle, "%s", m.page_id);
	atomic_store(&rl.drop, true);
	long st = post_answer(b, m.page_id, right);
	char in_redis = page_st(port, m.page_id);
	h_sleep_ms(1200);                   /* B's sweeps meanwhile: nothing comes back, nothing written */
	long early = rows(t, b, "approved", m.page_id);
	atomic_store(&rl.drop, false);
	EXPECT_INT(t, "answer status while Redis's replies are lost", 503, st);
	EXPECT(t, in_redis == '1', "expected the answer to have decided the page in Redis (st 1), got st %c", in_redis);
	EXPECT_INT(t, "approved rows while B hears nothing", 0, early);
	/* B owes the decision: its sweeps write it once Redis answers again. */
	EXPECT_INT(t, "approved rows on B, the node that took the answer", 1,
	           rows_within(t, b, "approved", m.page_id, 1, RT_SETTLE_MS));
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-doubt"), "cid-doubt", "F", true, false) == 0);
	char *path = h_printf("/%s", m.page_id);
	REQUIRE(t, d_web(a, "GET", path, NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "A's page status for the settled decision", 410, rs.status);
	resp_free(&rs);
	EXPECT_INT(t, "the person's retry on A (a replay)", 303, post_answer(a, m.page_id, right));
	EXPECT_INT(t, "replayed rows on A", 1, rows_settle(t, a, NULL, "replayed", m.page_id, 1));
	h_sleep_ms(1200);                   /* more sweeps on both nodes: nothing undone, nothing twice */
	EXPECT_INT(t, "approved rows across both logs", 1,
	           rows(t, a, "approved", m.page_id) + rows(t, b, "approved", m.page_id));
	REQUIRE(t, mfa_expect_status(t, a, &m, "approved") == 0);
	REQUIRE(t, d_web(b, "GET", path, NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "B's page status after more sweeps", 410, rs.status);
	resp_free(&rs);
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	free(path);
	relay_stop(&rl);
}

/* A lockout whose reply is lost (a relay swallows every reply to node B's
 * lock call) is never undone: Redis ran it, so node A already shows the
 * phone's other link used (410). Once Redis's replies come through again,
 * B's sweeps ask again by the call's token and write the `locked` row and the
 * false result it owes, once; the link stays locked (before: B's sweep undid
 * the lock, reopening a link A had shown used, and no row was written). */
static void test_lockout_reply_lost_is_settled(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted first, other;
	struct resp rs;
	char wrong[40];
	static struct relay rl;

	REQUIRE(t, relayed_nodes(t, &rl, &f, &port, &a, &b, "1/600") == 0);
	/* One lockout first, so Redis has the lock script and runs it by its sha. */
	REQUIRE(t, mfa_mint_v1(b, "cid-rll-0", "5215550404299", "F", "1990-01-02", NULL, NULL, 0, &first) == 0);
	/* A wrong answer known from the page ("none" is right when no option
	 * is: then no lockout ran, the script was not cached, and the lost
	 * reply was EVALSHA's NOSCRIPT, so the lock never ran at all). */
	REQUIRE(t, mfa_page_answer(b, first.page_id, "1990-01-02", false, wrong) != NULL);
	EXPECT_INT(t, "a first wrong answer (a first lockout)", 303, post_answer(b, first.page_id, wrong));
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_mint_v1(b, "cid-rll", "5215550404300", "FlowFirst", "1990-01-02", NULL, NULL, 0, &first) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-rll", "5215550404300", "FlowOther", "1990-01-02", NULL, NULL, 0, &other) == 0);
	REQUIRE(t, mfa_page_answer(b, first.page_id, "1990-01-02", false, wrong) != NULL);
	snprintf(rl.needle, sizeof rl.needle, "mnmfa:pl:");     /* the lock call's result key */
	atomic_store(&rl.drop, true);
	EXPECT_INT(t, "the wrong answer on B, its lockout's reply lost", 303, post_answer(b, first.page_id, wrong));
	h_sleep_ms(1200);                   /* B's sweeps meanwhile: nothing comes back, nothing written */
	/* The lock runs once the denial is durable, on B's writer thread: on a
	 * loaded machine it may come later than the 303, so A's page is read
	 * until it shows the lock, within a deadline, the replies still lost. */
	char *path = h_printf("/%s", other.page_id);
	long st = 0;
	for (long long end = h_mono_ms() + RT_SETTLE_MS; h_mono_ms() < end && st != 410; ) {
		REQUIRE(t, d_web(a, "GET", path, NULL, NULL, &rs) == 0);
		st = rs.status;
		resp_free(&rs);
		if (st != 410)
			h_sleep_ms(100);
	}
	long early = rows(t, b, "locked", other.page_id);
	EXPECT_INT(t, "A's page for the other link (locked in Redis)", 410, st);
	atomic_store(&rl.drop, false);
	EXPECT_INT(t, "locked rows for the other link while B hears nothing", 0, early);
	/* B owes the link's row: its sweeps write it once Redis answers again */
	EXPECT_INT(t, "locked rows for the other link on B, the node that locked it", 1,
	           rows_within(t, b, "locked", other.page_id, 1, RT_SETTLE_MS));
	REQUIRE(t, mfa_expect_calls(t, f, 3) == 0);   /* and now the denial's result and the other link's */
	const struct fake_call *c = NULL;
	for (int i = 0; i < fake_count(f); i++) {
		const char *fl = fake_arg(fake_call(f, i), "chatfuel_flow_name");
		if (fl != NULL && strcmp(fl, "FlowOther") == 0)
			c = fake_call(f, i);
	}
	REQUIRE(t, c != NULL);
	REQUIRE(t, mfa_check_call(t, c, "cid-rll", "FlowOther", false, false) == 0);
	EXPECT(t, strcmp(fake_arg(c, "mfa_status"), "locked") == 0, "expected the other link's result locked, got %s",
	       fake_arg(c, "mfa_status"));
	h_sleep_ms(1200);                   /* more sweeps on both nodes: nothing undone, nothing twice */
	REQUIRE(t, d_web(a, "GET", path, NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "A's page for the other link after B's sweeps", 410, rs.status);
	resp_free(&rs);
	free(path);
	REQUIRE(t, mfa_expect_status(t, a, &other, "locked") == 0);
	EXPECT_INT(t, "locked rows for the other link across both logs", 1,
	           rows(t, a, "locked", other.page_id) + rows(t, b, "locked", other.page_id));
	REQUIRE(t, mfa_expect_calls(t, f, 3) == 0);
	relay_stop(&rl);
}

/* B's answer decides the page but its reply is lost once; B's retry (the
 * same token) finds its own decision. Its audit row then cannot be written,
 * so B reopens the page, with the question as it stood before the decision
 * (the retry's reply carries it): the person can answer it again, rightly. */
static void test_retry_own_decision_reopens_its_question(struct t *t)
{
	struct fake_cf *f;
	struct daemon *b;
	int port;
	struct minted m;
	char answer[40], again[40];
	static struct relay rl;

	REQUIRE(t, srv_redis(t, 0, 0, &port) > 0 && (f = t_fake(t)) != NULL);
	REQUIRE(t, relay_start(t, &rl, port) == 0);
	b = node(t, f, "node-b", rl.port, NULL);
	REQUIRE(t, b != NULL);
	d_set_int(b, "answer_wait", 1);
	REQUIRE(t, d_start(b, NULL) == 0);
	/* One answer first, so Redis has the answer script and runs it by its sha. */
	REQUIRE(t, mfa_mint_v1(b, "cid-own-0", "5215550404205", "F", "1991-02-03", NULL, NULL, 120, &m) == 0);
	EXPECT_INT(t, "a first (wrong) answer", 303, post_answer(b, m.page_id, "none"));
	const char *right = mint_for_answer(t, b, "cid-own", "5215550404206", &m, answer);
	REQUIRE(t, right != NULL);
	snprintf(rl.needle, sizeof rl.needle, "%s", m.page_id);
	rl.doom_max = 1;                    /* the first try's reply only */
	atomic_store(&rl.drop, true);
	REQUIRE(t, audit_disk_full(b, true) == 0);
	long st = post_answer(b, m.page_id, right);
	REQUIRE(t, audit_disk_full(b, false) == 0);
	atomic_store(&rl.drop, false);
	EXPECT_INT(t, "answer status (decided by the retry, no audit row)", 503, st);
	const char *right2 = mfa_page_answer(b, m.page_id, "1991-02-03", true, again);      /* open again */
	REQUIRE(t, right2 != NULL);
	EXPECT_INT(t, "the person's next, right answer", 303, post_answer(b, m.page_id, right2));
	EXPECT_INT(t, "approved rows", 1, rows_settle(t, b, NULL, "approved", m.page_id, 1));
	REQUIRE(t, mfa_expect_calls(t, f, 2) == 0);
	REQUIRE(t, mfa_check_call(t, mfa_call_for(f, "cid-own"), "cid-own", "F", true, false) == 0);
	relay_stop(&rl);
}

/* The replica is in sync with the master at rport, within a deadline. */
static int replica_synced(struct t *t, int rport)
{
	for (long long end = h_mono_ms() + 5000; h_mono_ms() < end; h_sleep_ms(50)) {
		char *info = srv_redis_cmd(rport, "INFO replication");
		bool ok = info != NULL && strstr(info, "master_link_status:up") != NULL;
		free(info);
		if (ok)
			return 0;
	}
	FAILF(t, "expected the replica on port %d in sync within 5 s, got it not", rport);
	return -1;
}

/* The master at mport lists its replica online (what a node's ROLE reads
 * when it connects), within a deadline. */
static int master_lists_replica(struct t *t, int mport)
{
	for (long long end = h_mono_ms() + 5000; h_mono_ms() < end; h_sleep_ms(50)) {
		char *info = srv_redis_cmd(mport, "INFO replication");
		bool ok = info != NULL && strstr(info, "state=online") != NULL;
		free(info);
		if (ok)
			return 0;
	}
	FAILF(t, "expected the master on port %d to list its replica online within 5 s, got it not", mport);
	return -1;
}

/* A started node A on a master whose replica is in sync and listed; the
 * replica's pid in *replica, its port in *rport when not NULL. */
static struct daemon *replicated_node(struct t *t, struct fake_cf **f, int *mport, pid_t *replica, int *rport)
{
	int port;
	struct daemon *a;

	if (srv_redis(t, 0, 0, mport) <= 0)
		return NULL;
	*replica = srv_redis(t, 0, *mport, &port);
	if (rport != NULL)
		*rport = port;
	if (*replica <= 0 || replica_synced(t, port) != 0 || master_lists_replica(t, *mport) != 0)
		return NULL;
	if ((*f = t_fake(t)) == NULL || (a = node(t, *f, "node-a", *mport, NULL)) == NULL)
		return NULL;
	return d_start(a, NULL) == 0 ? a : NULL;
}

/* A master with a replica, the replica stalled (SIGSTOP): WAIT gets no
 * replica, so a failover now could forget the decision. The answer is not
 * answered on it (503, nothing written); once the replica has it, the node
 * writes its evidence, once, and the person's retry is a replay (303). */
static void test_unconfirmed_decision_not_answered(struct t *t)
{
	int mport, rport;
	pid_t replica;
	struct fake_cf *f;
	struct minted m;
	char buf[40];
	struct daemon *a = replicated_node(t, &f, &mport, &replica, &rport);

	REQUIRE(t, a != NULL);
	const char *right = mint_for_answer(t, a, "cid-wait", "5215550404304", &m, buf);
	REQUIRE(t, right != NULL);
	REQUIRE(t, kill(replica, SIGSTOP) == 0);
	long st = post_answer(a, m.page_id, right);
	h_sleep_ms(1200);                  /* sweeps: still no replica, still nothing written */
	long early = rows(t, a, "approved", m.page_id);
	REQUIRE(t, kill(replica, SIGCONT) == 0);
	EXPECT_INT(t, "answer status while no replica confirms", 503, st);
	EXPECT_INT(t, "approved rows while no replica confirms", 0, early);
	EXPECT_INT(t, "approved rows once the replica has the decision", 1,
	           rows_within(t, a, "approved", m.page_id, 1, RT_SETTLE_MS));
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	EXPECT_INT(t, "the person's retry (a replay)", 303, post_answer(a, m.page_id, right));
	REQUIRE(t, mfa_expect_status(t, a, &m, "approved") == 0);
	EXPECT_INT(t, "approved rows in the end", 1, rows(t, a, "approved", m.page_id));
	char held = page_st(rport, m.page_id);
	EXPECT(t, held == '1', "expected the replica to hold the page approved (st 1), got st %c", held);
}

/* A replica that joins after the node connected (and learned of none) is
 * waited for too: the node asks ROLE again within REDIS_ROLE_MS (1 s), so
 * an answer that replica cannot confirm is in doubt (503), not confirmed by
 * the master alone. */
static void test_replica_joining_later_is_waited_for(struct t *t)
{
	int mport, rport;
	pid_t replica;
	struct fake_cf *f;
	struct daemon *a;
	struct minted m;
	char buf[40];

	REQUIRE(t, (a = fresh_node(t, &f, &mport, NULL, NULL, NULL)) != NULL && d_start(a, NULL) == 0);
	const char *right = mint_for_answer(t, a, "cid-join", "5215550405801", &m, buf);
	REQUIRE(t, right != NULL);
	EXPECT_INT(t, "an answer before there is a replica", 303, post_answer(a, m.page_id, right));
	right = mint_for_answer(t, a, "cid-join2", "5215550405802", &m, buf);
	REQUIRE(t, right != NULL);
	long long joined = h_mono_ms();
	replica = srv_redis(t, 0, mport, &rport);
	REQUIRE(t, replica > 0 && replica_synced(t, rport) == 0 && master_lists_replica(t, mport) == 0);
	h_sleep_ms((int)(joined + 1200 - h_mono_ms()));      /* past REDIS_ROLE_MS */
	REQUIRE(t, kill(replica, SIGSTOP) == 0);
	long st = post_answer(a, m.page_id, right);
	REQUIRE(t, kill(replica, SIGCONT) == 0);
	EXPECT_INT(t, "an answer the replica that joined could not confirm", 503, st);
	EXPECT_INT(t, "its approved row once the replica has it", 1, rows_settle(t, a, NULL, "approved", m.page_id, 1));
}

#define RT_FULL_ROOM 3                 /* answers node A keeps in doubt at most (its max_pending) */

/* A's metric line "name value" is there. */
static bool has_metric(struct daemon *d, const char *line)
{
	struct resp rs;
	char *want = h_printf("\n%s\n", line);
	bool ok = d_api(d, "GET", "/metrics", NULL, NULL, &rs) == 0 && rs.body != NULL &&
	          strstr(rs.body, want) != NULL;
	if (rs.body != NULL)
		resp_free(&rs);
	free(want);
	return ok;
}

/* A node keeps at most max_pending answers in doubt; with the replica
 * stalled every answer is in doubt, so the one past them is refused before
 * Redis sees it (503 + Retry-After, the page still open), never decided and
 * forgotten. Once the replica is back, each kept answer gets its row and
 * result, and the refused one is answered when the person tries again. */
static void test_doubts_full_refuses(struct t *t)
{
	int mport, rport;
	pid_t replica;
	struct fake_cf *f;
	struct daemon *a, *b;
	struct minted m[RT_FULL_ROOM + 1];
	char buf[RT_FULL_ROOM + 1][40];
	const char *right[RT_FULL_ROOM + 1];
	long st[RT_FULL_ROOM];
	struct resp rs;

	REQUIRE(t, srv_redis(t, 0, 0, &mport) > 0);
	replica = srv_redis(t, 0, mport, &rport);
	REQUIRE(t, replica > 0 && replica_synced(t, rport) == 0 && master_lists_replica(t, mport) == 0);
	REQUIRE(t, (f = t_fake(t)) != NULL && (a = node(t, f, "node-a", mport, NULL)) != NULL &&
	           (b = node(t, f, "node-b", mport, NULL)) != NULL);
	d_set_int(a, "max_pending", RT_FULL_ROOM);
	REQUIRE(t, d_start(a, NULL) == 0 && d_start(b, NULL) == 0);
	for (int i = 0; i <= RT_FULL_ROOM; i++) {      /* minted on B: A's max_pending is for its doubts */
		char cid[32], phone[32];
		snprintf(cid, sizeof cid, "cid-full-%d", i);
		snprintf(phone, sizeof phone, "52155504055%02d", i);
		right[i] = mint_for_answer(t, b, cid, phone, &m[i], buf[i]);
		REQUIRE(t, right[i] != NULL);
	}
	REQUIRE(t, kill(replica, SIGSTOP) == 0);
	for (int i = 0; i < RT_FULL_ROOM; i++)
		st[i] = post_answer(a, m[i].page_id, right[i]);
	char *form = h_printf("page_id=%s&respuesta=%s", m[RT_FULL_ROOM].page_id, right[RT_FULL_ROOM]);
	int rc = d_web(a, "POST", "/validate_answer", "application/x-www-form-urlencoded", form, &rs);
	free(form);
	char last = page_st(mport, m[RT_FULL_ROOM].page_id);
	bool refused = has_metric(a, "mnmfa_answers_refused_total 1");
	REQUIRE(t, kill(replica, SIGCONT) == 0);
	REQUIRE(t, rc == 0);
	for (int i = 0; i < RT_FULL_ROOM; i++)
		EXPECT_INT(t, "an answer while no replica confirms (in doubt)", 503, st[i]);
	EXPECT_INT(t, "the answer past max_pending in doubt", 503, rs.status);
	EXPECT(t, resp_header(&rs, "Retry-After") != NULL, "expected Retry-After on the refused answer, got none");
	resp_free(&rs);
	EXPECT(t, last == '0', "expected the refused answer's page still pending in Redis (st 0), got st %c", last);
	EXPECT(t, refused, "expected mnmfa_answers_refused_total 1 on node A");
	EXPECT_INT(t, "approved rows of the answers kept in doubt", RT_FULL_ROOM,
	           rows_within(t, a, "approved", NULL, RT_FULL_ROOM, RT_SETTLE_MS));
	EXPECT_INT(t, "the refused answer, tried again", 303,
	           post_answer(a, m[RT_FULL_ROOM].page_id, right[RT_FULL_ROOM]));
	EXPECT_INT(t, "its approved row", 1, rows_settle(t, a, NULL, "approved", m[RT_FULL_ROOM].page_id, 1));
	REQUIRE(t, mfa_expect_calls(t, f, RT_FULL_ROOM + 1) == 0);
	for (int i = 0; i <= RT_FULL_ROOM; i++)
		EXPECT(t, page_st(mport, m[i].page_id) == '1', "expected page %d approved in Redis", i);
}

/* The node stops right after an answer it kept in doubt (within the second
 * its sweeps would wait before asking): the stop's last settle still asks,
 * and the decision's row is written before the node exits. */
static void test_stop_settles_fresh_doubt(struct t *t)
{
	int mport;
	pid_t replica;
	struct fake_cf *f;
	struct minted m;
	char buf[40];
	struct daemon *a = replicated_node(t, &f, &mport, &replica, NULL);

	REQUIRE(t, a != NULL);
	const char *right = mint_for_answer(t, a, "cid-fresh", "5215550405601", &m, buf);
	REQUIRE(t, right != NULL);
	REQUIRE(t, kill(replica, SIGSTOP) == 0);
	long st = post_answer(a, m.page_id, right);
	REQUIRE(t, kill(replica, SIGCONT) == 0);
	REQUIRE(t, d_stop(a) == 0);
	EXPECT_INT(t, "answer status while no replica confirms", 503, st);
	EXPECT_INT(t, "approved rows after the stop", 1, rows(t, a, "approved", m.page_id));
}

/* The node stops while the replica is still stalled: the answer it kept in
 * doubt cannot be settled, and the stop says so (not dropped in silence). */
static void test_stop_logs_unsettled_doubt(struct t *t)
{
	int mport;
	pid_t replica;
	struct fake_cf *f;
	struct minted m;
	char buf[40], id8[9];
	struct daemon *a = replicated_node(t, &f, &mport, &replica, NULL);

	REQUIRE(t, a != NULL);
	const char *right = mint_for_answer(t, a, "cid-unsettled", "5215550405602", &m, buf);
	REQUIRE(t, right != NULL);
	REQUIRE(t, kill(replica, SIGSTOP) == 0);
	long st = post_answer(a, m.page_id, right);
	int rc = d_stop(a);
	REQUIRE(t, kill(replica, SIGCONT) == 0);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "answer status while no replica confirms", 503, st);
	char *err = h_read_file(a->err_path, NULL);
	snprintf(id8, sizeof id8, "%.8s", m.page_id);
	char *want = h_printf("an answer in doubt for page %s... was not settled", id8);
	EXPECT(t, err != NULL && h_contains(err, want), "expected the stop to log \"%s\", got none", want);
	free(want);
	free(err);
}

/* The previous version kept each limit as a string counter with the
 * window's TTL. A phone at its lockout (or rate_phone) on such a counter is
 * still refused after the upgrade, for what was left of that window, and a
 * counter below its limit is simply dropped. */
static void test_old_counters_keep_locks(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a;
	int port;
	struct minted m;
	struct resp rs;
	char buf[40];

	REQUIRE(t, (a = fresh_node(t, &f, &port, NULL, "3/600", "2/600")) != NULL && d_start(a, NULL) == 0);
	/* a page first, for the answer below, before its phone's old counter */
	const char *right = mint_for_answer(t, a, "cid-old-c", "5215550405703", &m, buf);
	REQUIRE(t, right != NULL);
	const char *setup[] = {
		"SET mnmfa:l:lockout:5215550405701 2 PX 30000",      /* locked before the upgrade */
		"SET mnmfa:l:rate_phone:5215550405702 3 PX 30000",   /* at rate_phone */
		"SET mnmfa:l:lockout:5215550405703 2 PX 30000",      /* the page's phone, locked */
		"SET mnmfa:l:lockout:5215550405704 1 PX 30000",      /* below the lockout */
	};
	for (size_t i = 0; i < sizeof setup / sizeof *setup; i++) {
		char *r = srv_redis_cmd(port, setup[i]);
		REQUIRE(t, r != NULL && strncmp(r, "+OK", 3) == 0);
		free(r);
	}
	static const struct { const char *phone; long status; } mints[] = {
		{ "5215550405701", 423 }, { "5215550405702", 429 }, { "5215550405704", 201 },
	};
	for (size_t i = 0; i < sizeof mints / sizeof *mints; i++) {
		char *body = h_printf("{\"client_id\":\"cid-old\",\"phone\":\"%s\",\"flow_name\":\"F\","
		                      "\"dob\":\"1990-01-02\"}", mints[i].phone);
		REQUIRE(t, d_api(a, "POST", "/v1/challenges", "application/json", body, &rs) == 0);
		free(body);
		EXPECT_INT(t, mints[i].phone, mints[i].status, rs.status);
		if (mints[i].status != 201) {
			const char *ra = resp_header(&rs, "Retry-After");
			EXPECT(t, ra != NULL && atoi(ra) >= 25 && atoi(ra) <= 30,
			       "expected Retry-After in [25, 30] (the old counter's 30 s), got %s", ra ? ra : "none");
		}
		resp_free(&rs);
	}
	EXPECT_INT(t, "the right answer of a phone locked before the upgrade", 303, post_answer(a, m.page_id, right));
	REQUIRE(t, mfa_expect_status(t, a, &m, "locked") == 0);
}

#define RT_LOAD_REQUESTS 60            /* per loader thread, across the kill */
#define RT_DOWN_PAGES 12               /* answered one after another across the kill */
#define RT_DOWN_BEFORE 3               /* of them answered before it */

struct loader {
	struct t t;
	struct daemon d;
	atomic_int ok;               /* 201 */
	int refused, other;          /* 503 with Retry-After; anything else */
	long other_status;
};

/* Mints in a loop while Redis is killed: each is minted or refused with a
 * 503 and Retry-After, none hangs, none fails otherwise. */
static void *load_mints(void *arg)
{
	struct loader *l = arg;
	const char *body = "{\"client_id\":\"cid-load\",\"phone\":\"5215550505999\",\"flow_name\":\"F\","
	                   "\"dob\":\"1992-03-04\"}";

	for (int i = 0; i < RT_LOAD_REQUESTS; i++) {
		struct resp rs;
		if (d_api(&l->d, "POST", "/v1/challenges", "application/json", body, &rs) != 0) {
			l->other++;
			l->t.failed = false;
			continue;
		}
		if (rs.status == 201)
			l->ok++;
		else if (rs.status == 503 && resp_header(&rs, "Retry-After") != NULL)
			l->refused++;
		else
			l->other++, l->other_status = rs.status;
		resp_free(&rs);
		h_sleep_ms(10);
	}
	return NULL;
}

/* Answers pages in turn, alternating nodes: RT_DOWN_BEFORE of them before
 * Redis is killed, the next ones racing the kill, the last once it is dead. */
struct down_answerer {
	struct t t;
	struct daemon da, db;
	struct minted *m;
	char (*answers)[40];
	long status[RT_DOWN_PAGES];
	atomic_int done;
	atomic_bool killing, killed;
};

static void wait_flag(atomic_bool *flag)
{
	for (long long end = h_mono_ms() + 15000; h_mono_ms() < end && !atomic_load(flag);)
		h_sleep_ms(2);
}

static void *down_answer(void *arg)
{
	struct down_answerer *s = arg;

	for (int i = 0; i < RT_DOWN_PAGES; i++) {
		if (i == RT_DOWN_BEFORE)
			wait_flag(&s->killing);
		if (i == RT_DOWN_PAGES - 1)
			wait_flag(&s->killed);
		s->status[i] = post_answer(i % 2 ? &s->db : &s->da, s->m[i].page_id, s->answers[i]);
		s->t.failed = false;
		atomic_store(&s->done, i + 1);
	}
	return NULL;
}

static void test_redis_down_is_503(struct t *t)
{
	struct fake_cf *f;
	struct daemon *a, *b;
	int port;
	struct minted m;
	struct resp rs;
	const char *body = "{\"client_id\":\"cid-down\",\"phone\":\"5215550505000\",\"flow_name\":\"F\","
	                   "\"dob\":\"1992-03-04\"}";

	REQUIRE(t, two_nodes(t, &f, &a, &b, &port, NULL, NULL) == 0);
	REQUIRE(t, mfa_mint_v1(a, "cid-down", "5215550505000", "F", "1992-03-04", NULL, NULL, 0, &m) == 0);
	static struct minted dm[RT_DOWN_PAGES];
	static char danswers[RT_DOWN_PAGES][40];
	static struct down_answerer da;
	for (int i = 0; i < RT_DOWN_PAGES; i++) {
		char cid[32], phone[32];
		snprintf(cid, sizeof cid, "cid-down-%02d", i);
		snprintf(phone, sizeof phone, "52155505051%02d", i);
		REQUIRE(t, mint_for_answer(t, i % 2 ? b : a, cid, phone, &dm[i], danswers[i]) != NULL);
	}
	memset(&da, 0, sizeof da);
	bind_copy(t, &da.t, &da.da, a);
	da.db = *b;
	da.db.t = &da.t;
	da.m = dm;
	da.answers = danswers;
	static struct loader ld[2];
	pthread_t tid[2], atid;
	REQUIRE(t, pthread_create(&atid, NULL, down_answer, &da) == 0);
	for (int k = 0; k < 2; k++) {
		memset(&ld[k], 0, sizeof ld[k]);
		bind_copy(t, &ld[k].t, &ld[k].d, k ? b : a);
		EXPECT(t, pthread_create(&tid[k], NULL, load_mints, &ld[k]) == 0, "expected a thread, got none");
	}
	/* under load: once both nodes are minting (a loaded machine may take
	 * longer than a fixed pause to get the first one through) */
	h_sleep_ms(300);
	for (long long end = h_mono_ms() + 10000; h_mono_ms() < end && (atomic_load(&ld[0].ok) == 0 ||
	     atomic_load(&ld[1].ok) == 0 || atomic_load(&da.done) < RT_DOWN_BEFORE);)
		h_sleep_ms(5);
	atomic_store(&da.killing, true);
	srv_kill(t, t->procs[0], SIGKILL);   /* answers in flight */
	atomic_store(&da.killed, true);
	for (int k = 0; k < 2; k++)
		pthread_join(tid[k], NULL);
	pthread_join(atid, NULL);
	for (int k = 0; k < 2; k++)
		EXPECT(t, ld[k].other == 0 && ld[k].ok > 0 && ld[k].refused > 0,
		       "expected node %c's mints across the kill to be 201 then 503 + Retry-After only, got "
		       "%d minted, %d refused, %d otherwise (last %ld)", k ? 'B' : 'A', atomic_load(&ld[k].ok), ld[k].refused,
		       ld[k].other, ld[k].other_status);
	for (int i = 0; i < 20; i++) {      /* under load: every request refused, none hangs */
		struct daemon *d = i % 2 ? a : b;
		REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json", body, &rs) == 0);
		EXPECT_INT(t, "mint status with Redis down", 503, rs.status);
		EXPECT(t, resp_header(&rs, "Retry-After") != NULL, "expected Retry-After on 503, got none");
		resp_free(&rs);
	}
	char *path = h_printf("/%s", m.page_id);
	REQUIRE(t, d_web(b, "GET", path, NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "page status with Redis down", 503, rs.status);
	resp_free(&rs);
	char *form = h_printf("page_id=%s&respuesta=none", m.page_id);
	REQUIRE(t, d_web(a, "POST", "/validate_answer", "application/x-www-form-urlencoded", form, &rs) == 0);
	EXPECT_INT(t, "answer status with Redis down", 503, rs.status);
	resp_free(&rs);
	free(form);
	REQUIRE(t, d_web(a, "GET", "/healthz", NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "web /healthz with Redis down", 503, rs.status);
	EXPECT(t, rs.body != NULL && strstr(rs.body, "\"redis\":\"down\"") != NULL &&
	       strstr(rs.body, "\"status\":\"degraded\"") != NULL,
	       "expected {\"status\":\"degraded\",\"redis\":\"down\"}, got %s", rs.body ? rs.body : "(none)");
	resp_free(&rs);
	REQUIRE(t, d_api(b, "GET", "/healthz", NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "API /healthz with Redis down", 503, rs.status);
	resp_free(&rs);
	REQUIRE(t, d_api(a, "GET", "/metrics", NULL, NULL, &rs) == 0);
	EXPECT(t, rs.body != NULL && strstr(rs.body, "\nmnmfa_redis_up 0\n") != NULL &&
	       strstr(rs.body, "\nmnmfa_redis_errors_total 0\n") == NULL,
	       "expected /metrics with mnmfa_redis_up 0 and errors counted, got %.300s", rs.body ? rs.body : "(none)");
	resp_free(&rs);
	EXPECT_INT(t, "decisions written while Redis was down", 0, rows(t, a, "denied", NULL) + rows(t, b, "denied", NULL));

	REQUIRE(t, srv_redis(t, port, 0, NULL) > 0);
	long long end = h_mono_ms() + RT_RECOVER_MS;
	long status = 0;
	while (h_mono_ms() < end && status != 201) {
		REQUIRE(t, d_api(a, "POST", "/v1/challenges", "application/json", body, &rs) == 0);
		status = rs.status;
		resp_free(&rs);
		if (status != 201)
			h_sleep_ms(100);
	}
	EXPECT_INT(t, "mint status once Redis is back", 201, status);
	for (status = 0; h_mono_ms() < end && status != 200; h_sleep_ms(100)) {
		REQUIRE(t, d_web(b, "GET", "/healthz", NULL, NULL, &rs) == 0);
		status = rs.status;
		resp_free(&rs);
	}
	EXPECT_INT(t, "web /healthz once Redis is back", 200, status);
	free(path);
	/* Each answer that raced the kill ends decided once, with its row and its
	 * result (303), or was told "try again" (503) and decided nothing, also
	 * after both nodes settled what they were in doubt about. */
	h_sleep_ms(1500);
	int back = 0, again = 0;
	for (int i = 0; i < RT_DOWN_PAGES; i++) {
		EXPECT(t, da.status[i] == 303 || da.status[i] == 503,
		       "expected answer %d across the kill to be 303 or 503, got %ld", i, da.status[i]);
		back += da.status[i] == 303;
		again += da.status[i] == 503;
	}
	REQUIRE(t, mfa_expect_calls(t, f, back) == 0);
	for (int i = 0; i < RT_DOWN_PAGES; i++) {
		long want = da.status[i] == 303 ? 1 : 0;
		long decided = rows_settle(t, a, b, "approved", dm[i].page_id, want);
		char cid[32];
		snprintf(cid, sizeof cid, "cid-down-%02d", i);
		EXPECT(t, decided == want && (mfa_call_for(f, cid) != NULL) == (want == 1),
		       "expected answer %d (%ld) decided %ld time(s) with as many results, got %ld row(s) and %s",
		       i, da.status[i], want, decided, mfa_call_for(f, cid) ? "a result" : "no result");
	}
	EXPECT(t, back >= RT_DOWN_BEFORE && again >= 1, "expected the answers before the kill back in the chat and "
	       "those after it told to try again, got %d and %d", back, again);
}

/* The daemon as reached through a balancer: same certificate, other ports. */
static struct daemon via(const struct daemon *d, int web_port, int api_port)
{
	struct daemon v = *d;
	v.web_port = web_port;
	v.api_port = api_port;
	return v;
}

static void test_haproxy_round_robin(struct t *t)
{
	int port, web_lb, api_lb;
	struct fake_cf *f;
	struct daemon *a, *b;

	REQUIRE(t, srv_redis(t, 0, 0, &port) > 0);
	f = t_fake(t);
	REQUIRE(t, f);
	a = node(t, f, "node-a", port, NULL);
	b = node(t, f, "node-b", port, NULL);
	REQUIRE(t, a && b);
	web_lb = h_free_port();
	api_lb = h_free_port();
	char *pub = h_printf("https://127.0.0.1:%d", web_lb);
	d_set_str(a, "public_url", pub);
	d_set_str(b, "public_url", pub);
	free(pub);
	REQUIRE(t, d_start(a, NULL) == 0);
	/* One certificate for the name the balancer answers to. */
	d_set_str(b, "tls_cert", a->cert_path);
	d_set_str(b, "tls_key", a->key_path);
	snprintf(b->cert_path, sizeof b->cert_path, "%s", a->cert_path);
	REQUIRE(t, d_start(b, NULL) == 0);
	int webs[2] = { a->web_port, b->web_port }, apis[2] = { a->api_port, b->api_port };
	REQUIRE(t, srv_haproxy(t, "web", web_lb, webs, 2) > 0);
	REQUIRE(t, srv_haproxy(t, "api", api_lb, apis, 2) > 0);
	struct daemon lb = via(a, web_lb, api_lb);

	struct minted m[4];
	for (int i = 0; i < 4; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "cid-lb-%d", i);
		REQUIRE(t, mfa_mint_v1(&lb, cid, "5215550606000", "FlowLB", "1970-07-07", NULL, NULL, 0, &m[i]) == 0);
	}
	/* Both nodes serve (round robin is per connection; a balancer's retry may
	 * shift one), and every mint is on exactly one of them. */
	long ma = rows_settle(t, a, NULL, "minted", NULL, 1), mb = rows_settle(t, b, NULL, "minted", NULL, 1);
	EXPECT(t, ma >= 1 && mb >= 1 && ma + mb == 4,
	       "expected 4 mints spread over both nodes, got %ld on A and %ld on B", ma, mb);
	for (int i = 0; i < 4; i++) {
		REQUIRE(t, mfa_answer_page(&lb, m[i].page_id, "1970-07-07", true) == 0);
		REQUIRE(t, mfa_expect_status(t, &lb, &m[i], "approved") == 0);
	}
	REQUIRE(t, mfa_expect_calls(t, f, 4) == 0);
	EXPECT_INT(t, "approved rows across both nodes", 4, rows(t, a, "approved", NULL) + rows(t, b, "approved", NULL));
}

struct sent_answerer {
	struct t t;
	struct daemon d;
	struct minted *m;
	char (*answers)[40];
	long *final;                 /* per page: the last status answered */
	int from, to;
	long long end;
};

/* Answers its pages, retrying a 503 or a broken connection (the failover)
 * until something else comes, all within one deadline. */
static void *sent_answer(void *arg)
{
	struct sent_answerer *s = arg;
	for (int i = s->from; i < s->to; i++) {
		for (;;) {
			char *form = h_printf("page_id=%s&respuesta=%s", s->m[i].page_id, s->answers[i]);
			struct resp rs;
			long st = 0;
			if (d_web(&s->d, "POST", "/validate_answer", "application/x-www-form-urlencoded", form, &rs) == 0) {
				st = rs.status;
				resp_free(&rs);
			}
			free(form);
			s->t.failed = false;     /* a transport error during the failover is retried */
			s->final[i] = st;
			if ((st != 503 && st != 0) || h_mono_ms() >= s->end)
				break;
			h_sleep_ms(100);
		}
		h_sleep_ms(60);
	}
	return NULL;
}

static void test_sentinel_failover(struct t *t)
{
	int mport, rport, sport;
	pid_t master;
	struct fake_cf *f;
	static struct minted m[RT_SENTINEL_PAGES];
	static char answers[RT_SENTINEL_PAGES][40];
	static struct sent_answerer s[2];
	static long final[RT_SENTINEL_PAGES];

	master = srv_redis(t, 0, 0, &mport);
	REQUIRE(t, master > 0);
	REQUIRE(t, srv_redis(t, 0, mport, &rport) > 0);
	REQUIRE(t, srv_sentinel(t, "mm", mport, &sport) > 0);
	char dead[32], live[32];
	snprintf(dead, sizeof dead, "127.0.0.1:%d", h_free_port());
	snprintf(live, sizeof live, "127.0.0.1:%d", sport);
	const char *sentinels[] = { dead, live, NULL };
	f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *a = node(t, f, "node-a", 0, sentinels), *b = node(t, f, "node-b", 0, sentinels);
	REQUIRE(t, a && b && d_start(a, NULL) == 0 && d_start(b, NULL) == 0);
	REQUIRE(t, replica_synced(t, rport) == 0);    /* before the master goes */
	for (int i = 0; i < RT_SENTINEL_PAGES; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "cid-sent-%02d", i);
		REQUIRE(t, mfa_mint_v1(i % 2 ? a : b, cid, "5215550707000", "FlowS", "1966-06-16", NULL, NULL, 0, &m[i]) == 0);
		REQUIRE(t, mfa_page_answer(i % 2 ? b : a, m[i].page_id, "1966-06-16", true, answers[i]) != NULL);
	}
	pthread_t tid[2];
	for (int k = 0; k < 2; k++) {
		memset(&s[k], 0, sizeof s[k]);
		bind_copy(t, &s[k].t, &s[k].d, k ? b : a);
		s[k].m = m;
		s[k].answers = answers;
		s[k].from = k * RT_SENTINEL_PAGES / 2;
		s[k].to = (k + 1) * RT_SENTINEL_PAGES / 2;
		s[k].final = final;
		s[k].end = h_mono_ms() + RT_FAILOVER_MS;
		EXPECT(t, pthread_create(&tid[k], NULL, sent_answer, &s[k]) == 0, "expected a thread, got none");
	}
	h_sleep_ms(250);                    /* some answers in, the rest race the failover */
	srv_kill(t, master, SIGKILL);
	for (int k = 0; k < 2; k++)
		pthread_join(tid[k], NULL);

	/* Every page was minted (and replicated) before the failover, so every
	 * answer ends in a decision, exactly one, on one node (an answer the
	 * failover left in doubt is written by its node's next sweep). */
	for (int i = 0; i < RT_SENTINEL_PAGES; i++) {
		long decided = rows_settle(t, a, b, "approved", m[i].page_id, 1);
		EXPECT(t, final[i] == 303, "expected page %d's answer back to the chat (303) after the "
		       "failover, got %ld", i, final[i]);
		EXPECT(t, decided == 1, "expected page %d decided exactly once across both logs after the "
		       "failover, got %ld", i, decided);
	}
	REQUIRE(t, mfa_expect_calls(t, f, RT_SENTINEL_PAGES) == 0);
	struct minted after;
	REQUIRE(t, mfa_mint_v1(a, "cid-sent-after", "5215550707001", "FlowS", "1966-06-16", NULL, NULL, 0, &after) == 0);
}

const struct test e2e_tests_redis[] = {
	{ "redis_two_nodes_share_challenges", test_two_nodes_share, NULL },
	{ "redis_racing_answers_decided_once", test_racing_answers_decided_once, NULL },
	{ "redis_limits_and_lockout_across_nodes", test_limits_across_nodes, NULL },
	{ "redis_windows_slide_and_locks_last_a_window", test_windows_slide, NULL },
	{ "redis_lockout_ends_other_links_on_every_node", test_lockout_ends_links_across_nodes, NULL },
	{ "redis_lockout_reply_lost_is_settled", test_lockout_reply_lost_is_settled, NULL },
	{ "redis_expiry_audited_once_by_minting_node", test_expiry_audited_once, NULL },
	{ "redis_killed_node_start_cancels_nothing", test_killed_node_start_cancels_nothing, NULL },
	{ "redis_run_then_memory_start_cancels_nothing", test_redis_run_then_memory_start_cancels_nothing, NULL },
	{ "redis_memory_kill_then_redis_start_ends_it", test_memory_kill_then_redis_start_ends_it, NULL },
	{ "redis_expiry_audited_when_sweep_reply_lost", test_expiry_survives_lost_sweep_reply, NULL },
	{ "redis_answer_reply_lost_is_settled", test_answer_reply_lost_is_settled, NULL },
	{ "redis_retry_own_decision_reopens_its_question", test_retry_own_decision_reopens_its_question, NULL },
	{ "redis_unconfirmed_decision_not_answered", test_unconfirmed_decision_not_answered, NULL },
	{ "redis_doubts_full_refuses", test_doubts_full_refuses, NULL },
	{ "redis_old_counters_keep_locks", test_old_counters_keep_locks, NULL },
	{ "redis_replica_joining_later_is_waited_for", test_replica_joining_later_is_waited_for, NULL },
	{ "redis_stop_settles_fresh_doubt", test_stop_settles_fresh_doubt, NULL },
	{ "redis_stop_logs_unsettled_doubt", test_stop_logs_unsettled_doubt, NULL },
	{ "redis_reopen_keeps_phone_set_expiry", test_reopen_keeps_phone_set_expiry, NULL },
	{ "redis_reopen_failure_counted", test_reopen_failure_counted, NULL },
	{ "redis_withdrawn_mint_leaves_nothing", test_withdrawn_mint_leaves_nothing, NULL },
	{ "redis_node_id_default_warns", test_node_id_default_warns, NULL },
	{ "redis_down_503_then_recovers", test_redis_down_is_503, NULL },
	{ "redis_haproxy_round_robin_whole_flow", test_haproxy_round_robin, NULL },
	{ "redis_sentinel_failover_decides_once", test_sentinel_failover, NULL },
	{ NULL, NULL, NULL },
};
