/*
 * test_store: the challenge table's promises. Single use (one winner even when
 * eight threads race), expiry on every read whether or not the sweep ran,
 * capacity counting pending records only, exactly one expiry report per
 * expired record, tombstone retention, all on the monotonic clock whatever
 * the wall clock does, and the memory a live challenge costs.
 * Times are passed in, so nothing here sleeps.
 */
#include "unit.h"
#include "store.h"
#include "challenge.h"
#include "caldate.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1700000000000LL           /* an arbitrary "now" in ms */
#define LIFE_MS 60000
#define RACE_IDS 1000
#define RACE_THREADS 8
#define MIX_THREADS 8
#define MIX_PER_THREAD 20000
#define MEM_CHALLENGES 100000
#define MEM_LIMIT_BYTES 512
#define LOCK_LINKS 5000              /* ~78 a shard: more than one batch of 64 */

/* cmocka's fail_msg longjmps: only the test's own thread may call it. Worker
 * threads print and count instead, and the test asserts the count is 0. */
#define THREAD_FAIL(errors, ...) do { \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	atomic_fetch_add((errors), 1); \
} while (0)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif

static void make_id(uint8_t id[PAGE_ID_BYTES], uint64_t n)
{
	uint64_t seed = n * 2 + 1, a = test_splitmix64(&seed), b = test_splitmix64(&seed);

	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

/* A pending challenge numbered n: a 4-choice date question for 1985-03-12. */
static void make_chal(struct chal *c, uint64_t n, int64_t created, int64_t expires)
{
	struct test_rng r;

	memset(c, 0, sizeof *c);
	make_id(c->id, n);
	c->created_ms = created;
	c->expires_ms = expires;
	c->status = CHAL_PENDING;
	c->lang = LANG_EN;
	test_rng_seed(&r, n);
	if (challenge_generate(&c->q, QUESTION_DATE, MODE_CHOICE, 4, caldate_from_ymd(1985, 3, 12),
	                       test_rng_next, &r) != 0)
		fail_msg("challenge_generate failed");
	snprintf(c->client_id, sizeof c->client_id, "%020llu", (unsigned long long)n);
	snprintf(c->phone, sizeof c->phone, "+52155500%05llu", (unsigned long long)(n % 100000));
	snprintf(c->flow, sizeof c->flow, "verificar_identidad_%llu", (unsigned long long)n);
}

static void right_answer(const struct chal *c, char *buf, size_t len)
{
	challenge_option_value(&c->q, c->q.correct, buf, len);
}

static void wrong_answer(const struct chal *c, char *buf, size_t len)
{
	challenge_option_value(&c->q, c->q.correct == 0 ? 1 : 0, buf, len);
}

static enum store_result take_str(struct store *s, const struct chal *c, int64_t now,
                                  const char *answer, struct chal *out)
{
	return store_take(s, c->id, AT(now), answer, strlen(answer), out);
}

static void test_put_get_take_once(void **state)
{
	struct store *s = store_new(100);
	struct chal c, d, out;
	char ans[CHALLENGE_ANSWER_MAX];

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	make_chal(&d, 2, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &d, AT(d.created_ms)), STORE_OK);
	assert_int_equal(store_pending(s), 2);
	assert_int_equal(store_size(s), 2);

	assert_int_equal(store_get(s, c.id, AT(T0 + 1), &out), STORE_OK);
	assert_memory_equal(out.id, c.id, PAGE_ID_BYTES);
	assert_string_equal(out.client_id, c.client_id);
	assert_string_equal(out.phone, c.phone);
	assert_string_equal(out.flow, c.flow);
	assert_int_equal(out.created_ms, T0);
	assert_int_equal(out.expires_ms, T0 + LIFE_MS);
	assert_int_equal(out.decided_ms, 0);
	assert_int_equal(out.status, CHAL_PENDING);
	assert_int_equal(out.lang, LANG_EN);
	assert_memory_equal(&out.q, &c.q, sizeof c.q);
	assert_int_equal(store_get(s, c.id, AT(T0 + 1), NULL), STORE_OK);

	right_answer(&c, ans, sizeof ans);
	assert_int_equal(take_str(s, &c, T0 + 500, ans, &out), STORE_OK);
	assert_int_equal(out.status, CHAL_APPROVED);
	assert_int_equal(out.decided_ms, T0 + 500);
	assert_string_equal(out.client_id, c.client_id);
	assert_string_equal(out.flow, c.flow);
	assert_int_equal(out.q.truth, 0);                 /* the date of birth is gone */
	assert_int_equal(store_pending(s), 1);

	/* the same right answer again decides nothing */
	assert_int_equal(take_str(s, &c, T0 + 600, ans, &out), STORE_USED);
	assert_int_equal(out.status, CHAL_APPROVED);
	assert_int_equal(out.decided_ms, T0 + 500);
	assert_int_equal(store_get(s, c.id, AT(T0 + 700), &out), STORE_USED);
	assert_int_equal(out.status, CHAL_APPROVED);

	wrong_answer(&d, ans, sizeof ans);
	assert_int_equal(take_str(s, &d, T0 + 800, ans, &out), STORE_OK);
	assert_int_equal(out.status, CHAL_DENIED);
	right_answer(&d, ans, sizeof ans);
	assert_int_equal(take_str(s, &d, T0 + 900, ans, &out), STORE_USED);
	assert_int_equal(out.status, CHAL_DENIED);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_size(s), 2);
	store_free(s);
}

static void test_unknown_ids_and_duplicates(void **state)
{
	struct store *s = store_new(100);
	struct chal c, out;
	uint8_t zero[PAGE_ID_BYTES] = { 0 };

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	assert_int_equal(store_get(s, c.id, AT(T0), &out), STORE_NOT_FOUND);
	assert_int_equal(take_str(s, &c, T0, "", &out), STORE_NOT_FOUND);
	assert_int_equal(store_finish(s, c.id, AT(T0), CHAL_CANCELED, &out), STORE_NOT_FOUND);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_get(s, zero, AT(T0), &out), STORE_NOT_FOUND);
	/* a repeated id never replaces the live record */
	strcpy(c.client_id, "someone_else");
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_FULL);
	assert_int_equal(store_pending(s), 1);
	assert_int_equal(store_size(s), 1);
	assert_int_equal(store_get(s, c.id, AT(T0), &out), STORE_OK);
	assert_string_equal(out.client_id, "00000000000000000001");
	store_free(s);
}

static void test_take_after_expiry(void **state)
{
	struct store *s = store_new(100);
	struct chal c, out;
	char ans[CHALLENGE_ANSWER_MAX];

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	right_answer(&c, ans, sizeof ans);
	/* expires_ms itself is already too late */
	assert_int_equal(take_str(s, &c, T0 + LIFE_MS, ans, &out), STORE_EXPIRED);
	assert_int_equal(out.status, CHAL_EXPIRED);
	assert_int_equal(out.decided_ms, T0 + LIFE_MS);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(take_str(s, &c, T0 + 1, ans, &out), STORE_EXPIRED);   /* no way back */
	assert_int_equal(store_finish(s, c.id, AT(T0), CHAL_CANCELED, &out), STORE_EXPIRED);
	assert_int_equal(store_get(s, c.id, AT(T0 + 1), &out), STORE_EXPIRED);
	assert_int_equal(store_sweep(s, AT(T0 + 1), NULL, NULL), 1);   /* still reported once */
	store_free(s);
}

static void count_expired(void *ctx, const struct chal *c)
{
	(void)c;
	(*(int *)ctx)++;
}

static void test_get_after_expiry_without_sweep(void **state)
{
	struct store *s = store_new(100);
	struct chal c, out;
	int reports = 0;

	(void)state;
	make_chal(&c, 7, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_get(s, c.id, AT(T0 + LIFE_MS - 1), &out), STORE_OK);
	assert_int_equal(store_get(s, c.id, AT(T0 + LIFE_MS), &out), STORE_EXPIRED);
	assert_int_equal(out.status, CHAL_EXPIRED);
	assert_int_equal(out.decided_ms, T0 + LIFE_MS);
	assert_string_equal(out.client_id, c.client_id);
	assert_int_equal(out.q.truth, 0);
	assert_int_equal(store_pending(s), 0);
	/* a reader with a slower clock does not revive it */
	assert_int_equal(store_get(s, c.id, AT(T0), &out), STORE_EXPIRED);
	assert_int_equal(store_sweep(s, AT(T0 + LIFE_MS), count_expired, &reports), 1);
	assert_int_equal(reports, 1);
	assert_int_equal(store_sweep(s, AT(T0 + LIFE_MS + 1), count_expired, &reports), 0);
	assert_int_equal(reports, 1);
	store_free(s);
}

/* The wall clock steps (NTP, an operator) while the monotonic one runs on:
 * expiry, the countdown and retention follow the monotonic clock, and the
 * record's wall-clock times stay as minted. */
#define STEP_MS (3600 * 1000LL)

static struct now stepped(int64_t wall, int64_t mono)
{
	return (struct now){ .wall_ms = wall, .mono_ms = mono };
}

static void test_a_wall_clock_step_moves_no_expiry(void **state)
{
	struct store *s = store_new(100);
	struct chal c, d, out;
	char answer[CHALLENGE_ANSWER_MAX];
	int reports = 0;

	(void)state;
	make_chal(&c, 41, T0, T0 + LIFE_MS);
	make_chal(&d, 42, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(T0)), STORE_OK);
	assert_int_equal(store_put(s, &d, AT(T0)), STORE_OK);
	/* a step back of an hour extends nothing */
	assert_int_equal(store_get(s, c.id, stepped(T0 + LIFE_MS - STEP_MS, T0 + LIFE_MS - 1), &out), STORE_OK);
	assert_int_equal(out.left_ms, 1);
	assert_int_equal(out.expires_ms, T0 + LIFE_MS);
	assert_int_equal(store_get(s, c.id, stepped(T0 + LIFE_MS - STEP_MS, T0 + LIFE_MS), &out), STORE_EXPIRED);
	assert_int_equal(out.decided_ms, T0 + LIFE_MS);
	/* a step forward of an hour ends nothing early: d is answered */
	assert_int_equal(store_get(s, d.id, stepped(T0 + STEP_MS, T0 + 1000), &out), STORE_OK);
	assert_int_equal(out.left_ms, LIFE_MS - 1000);
	right_answer(&d, answer, sizeof answer);
	assert_int_equal(store_take(s, d.id, stepped(T0 + STEP_MS, T0 + 2000), answer, strlen(answer), &out),
	                 STORE_OK);
	assert_int_equal(out.status, CHAL_APPROVED);
	assert_int_equal(out.decided_ms, T0 + STEP_MS);     /* the timestamp is the wall clock's */
	/* the sweep reports c on the monotonic clock, whatever the wall says */
	assert_int_equal(store_sweep(s, stepped(T0 - STEP_MS, T0 + LIFE_MS), count_expired, &reports), 1);
	/* d's tombstone lasts its retention on the monotonic clock */
	assert_int_equal(store_get(s, d.id, stepped(T0 + 3 * STEP_MS, T0 + 2000 + STORE_DECIDED_TTL_MS - 1), &out),
	                 STORE_USED);
	assert_int_equal(store_get(s, d.id, stepped(T0 - STEP_MS, T0 + 2000 + STORE_DECIDED_TTL_MS), &out),
	                 STORE_NOT_FOUND);
	store_free(s);
}

static void test_capacity_counts_pending_only(void **state)
{
	struct store *s = store_new(10);
	struct chal c[14], out;
	char ans[CHALLENGE_ANSWER_MAX];

	(void)state;
	for (int i = 0; i < 14; i++)
		make_chal(&c[i], (uint64_t)i, T0, T0 + LIFE_MS + i);
	for (int i = 0; i < 10; i++)
		assert_int_equal(store_put(s, &c[i], AT(c[i].created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &c[10], AT(c[10].created_ms)), STORE_FULL);
	assert_int_equal(store_pending(s), 10);
	assert_int_equal(store_size(s), 10);
	assert_int_equal(store_get(s, c[10].id, AT(T0), &out), STORE_NOT_FOUND);

	right_answer(&c[0], ans, sizeof ans);
	assert_int_equal(take_str(s, &c[0], T0 + 1, ans, &out), STORE_OK);   /* a take frees room */
	assert_int_equal(store_put(s, &c[10], AT(c[10].created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &c[11], AT(c[11].created_ms)), STORE_FULL);
	assert_int_equal(store_finish(s, c[1].id, AT(T0 + 1), CHAL_CANCELED, &out), STORE_OK);
	assert_int_equal(store_put(s, &c[11], AT(c[11].created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &c[12], AT(c[12].created_ms)), STORE_FULL);
	/* expiry noticed by a read frees room at once, before any sweep */
	assert_int_equal(store_get(s, c[2].id, AT(T0 + LIFE_MS + 2), &out), STORE_EXPIRED);
	assert_int_equal(store_put(s, &c[12], AT(c[12].created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &c[13], AT(c[13].created_ms)), STORE_FULL);
	/* and so does the sweep */
	assert_int_equal(store_sweep(s, AT(T0 + LIFE_MS + 3), NULL, NULL), 2);  /* c[2] and c[3] */
	assert_int_equal(store_put(s, &c[13], AT(c[13].created_ms)), STORE_OK);
	assert_int_equal(store_pending(s), 10);
	assert_int_equal(store_size(s), 14);
	store_free(s);

	s = store_new(0);
	assert_int_equal(store_put(s, &c[0], AT(c[0].created_ms)), STORE_FULL);
	store_free(s);
}

static void test_finish(void **state)
{
	struct store *s = store_new(10);
	struct chal c, d, out;
	char ans[CHALLENGE_ANSWER_MAX];

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	make_chal(&d, 2, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &d, AT(d.created_ms)), STORE_OK);
	assert_int_equal(store_finish(s, c.id, AT(T0 + 5), CHAL_PENDING, &out), STORE_NOT_FOUND);
	assert_int_equal(store_finish(s, c.id, AT(T0 + 5), CHAL_EXPIRED, &out), STORE_NOT_FOUND);
	assert_int_equal(store_get(s, c.id, AT(T0 + 5), &out), STORE_OK);     /* untouched */
	assert_int_equal(store_finish(s, c.id, AT(T0 + 5), CHAL_CANCELED, &out), STORE_OK);
	assert_int_equal(out.status, CHAL_CANCELED);
	assert_int_equal(out.decided_ms, T0 + 5);
	right_answer(&c, ans, sizeof ans);
	assert_int_equal(take_str(s, &c, T0 + 6, ans, &out), STORE_USED);
	assert_int_equal(out.status, CHAL_CANCELED);
	assert_int_equal(store_finish(s, c.id, AT(T0 + 7), CHAL_LOCKED, &out), STORE_USED);
	assert_int_equal(store_get(s, c.id, AT(T0 + 8), &out), STORE_USED);
	assert_int_equal(out.status, CHAL_CANCELED);
	assert_int_equal(store_finish(s, d.id, AT(T0 + 9), CHAL_LOCKED, &out), STORE_OK);
	assert_int_equal(out.status, CHAL_LOCKED);
	assert_int_equal(store_pending(s), 0);
	assert_string_equal(chal_status_name(CHAL_LOCKED), "locked");
	assert_string_equal(chal_status_name(CHAL_PENDING), "pending");
	assert_string_equal(chal_status_name((enum chal_status)42), "unknown");
	store_free(s);
}

struct expiry_log {
	int n;
	unsigned char *seen;         /* reports per challenge number */
	uint64_t count;
};

static void log_expired(void *ctx, const struct chal *c)
{
	struct expiry_log *l = ctx;
	unsigned long long n = strtoull(c->client_id, NULL, 10);

	if (n >= l->count || c->status != CHAL_EXPIRED || c->decided_ms != c->expires_ms)
		fail_msg("bad report: client %s status %d", c->client_id, c->status);
	l->seen[n]++;
	l->n++;
}

static void test_sweep_reports_each_expiry_once(void **state)
{
	enum { N = 20000 };          /* ~300 a shard: several report batches each */
	struct store *s = store_new(N);
	struct expiry_log l = { 0, calloc(N, 1), N };
	struct chal c, out;
	char ans[CHALLENGE_ANSWER_MAX];
	int taken = 0, expect_first = 0;

	(void)state;
	/* even numbers expire at T0+100, odd at T0+200; every 7th is answered
	 * in time; every 5th is read late, so a get marks it before the sweep */
	for (uint64_t i = 0; i < N; i++) {
		make_chal(&c, i, T0, T0 + (i % 2 ? 200 : 100));
		assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
		if (i % 7 == 0) {
			right_answer(&c, ans, sizeof ans);
			assert_int_equal(take_str(s, &c, T0 + 50, ans, &out), STORE_OK);
			taken++;
		} else if (i % 5 == 0) {
			assert_int_equal(store_get(s, c.id, AT(T0 + 300), &out), STORE_EXPIRED);
		}
	}
	for (uint64_t i = 0; i < N; i++)
		if (i % 7 != 0 && (i % 2 == 0 || i % 5 == 0))
			expect_first++;
	assert_int_equal(store_sweep(s, AT(T0 + 150), log_expired, &l), expect_first);
	assert_int_equal(store_sweep(s, AT(T0 + 150), log_expired, &l), 0);
	assert_int_equal(store_sweep(s, AT(T0 + 250), log_expired, &l), N - taken - expect_first);
	assert_int_equal(store_sweep(s, AT(T0 + 400), log_expired, &l), 0);
	assert_int_equal(l.n, N - taken);
	for (uint64_t i = 0; i < N; i++)
		if (l.seen[i] != (i % 7 == 0 ? 0 : 1))
			fail_msg("challenge %llu reported %d times", (unsigned long long)i, l.seen[i]);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_size(s), N);
	free(l.seen);
	store_free(s);
}

/* The sweep visits only what is due (a timer wheel): whatever the spread of
 * expiries -- past, within a slot, rounds beyond the wheel's span -- and
 * whatever the gaps between sweeps, each sweep reports exactly the records
 * due by then and not yet reported, never one early. */
struct due_log {
	int64_t now;
	int n, early;
	unsigned char *seen;
	uint64_t count;
};

static void log_due(void *ctx, const struct chal *c)
{
	struct due_log *l = ctx;
	unsigned long long n = strtoull(c->client_id, NULL, 10);

	if (c->expires_ms > l->now)
		l->early++;
	if (n < l->count)
		l->seen[n]++;
	l->n++;
}

static void test_sweep_reports_what_is_due_in_order(void **state)
{
	enum { N = 6000 };
	/* sweep times: small steps, a step inside one 256 ms slot, jumps over
	 * many slots, and one past the whole wheel (4096 x 256 ms) */
	static const int64_t steps[] = { 1, 100, 255, 256, 257, 500, 1000, 60000, 300000,
	                                 1200000, 500, 2500000, 3000000 };
	struct store *s = store_new(N);
	struct due_log l = { .seen = calloc(N, 1), .count = N };
	int64_t *expires = calloc(N, sizeof *expires), now = T0;
	uint64_t seed = 42;
	struct chal c, out;
	char ans[CHALLENGE_ANSWER_MAX];

	(void)state;
	for (uint64_t i = 0; i < N; i++) {
		/* from 10 s in the past to 80 min ahead: several rounds of the wheel */
		expires[i] = T0 - 10000 + (int64_t)(test_splitmix64(&seed) % (80 * 60 * 1000ULL));
		make_chal(&c, i, T0, expires[i]);
		assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
		if (i % 11 == 0 && expires[i] > T0) {     /* answered in time: never reported */
			right_answer(&c, ans, sizeof ans);
			assert_int_equal(take_str(s, &c, T0, ans, &out), STORE_OK);
			expires[i] = INT64_MAX;
		}
	}
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		int want = 0;

		now += steps[k];
		for (uint64_t i = 0; i < N; i++)
			if (expires[i] <= now && l.seen[i] == 0)
				want++;
		l.now = now;
		l.n = 0;
		assert_int_equal(store_sweep(s, AT(now), log_due, &l), want);
		assert_int_equal(l.n, want);
		assert_int_equal(l.early, 0);
		for (uint64_t i = 0; i < N; i++)
			if (l.seen[i] != (expires[i] <= now ? 1 : 0))
				fail_msg("challenge %llu (expires %+lld ms) reported %d times by %+lld ms",
				         (unsigned long long)i, (long long)(expires[i] - T0), l.seen[i],
				         (long long)(now - T0));
	}
	assert_int_equal(store_pending(s), 0);
	{
		/* no tombstone freed before its retention ended (an answer's counts
		 * from T0, an expiry's from expires_ms) */
		size_t kept = 0;
		for (uint64_t i = 0; i < N; i++)
			if ((expires[i] == INT64_MAX ? T0 : expires[i]) + STORE_DECIDED_TTL_MS > now)
				kept++;
		assert_true(store_size(s) >= kept);
		assert_true(kept > 0 && kept < N);
	}
	free(l.seen);
	free(expires);
	store_free(s);
}

/* A reopened decision goes back on the wheel and expires on time. */
static void test_reopened_challenge_expires_on_time(void **state)
{
	struct store *s = store_new(10);
	struct chal c, out;
	char ans[CHALLENGE_ANSWER_MAX];
	struct due_log l = { .seen = calloc(10, 1), .count = 10 };

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	wrong_answer(&c, ans, sizeof ans);
	assert_int_equal(take_str(s, &c, T0 + 10, ans, &out), STORE_OK);
	assert_int_equal(store_reopen(s, c.id, &c.q, AT(T0 + 20)), STORE_OK);
	l.now = T0 + LIFE_MS - 1;
	assert_int_equal(store_sweep(s, AT(l.now), log_due, &l), 0);
	l.now = T0 + LIFE_MS;
	assert_int_equal(store_sweep(s, AT(l.now), log_due, &l), 1);
	assert_int_equal(l.seen[1], 1);
	assert_int_equal(l.early, 0);
	free(l.seen);
	store_free(s);
}

static void test_tombstones_kept_then_removed(void **state)
{
	struct store *s = store_new(10);
	struct chal c, e, out;
	char ans[CHALLENGE_ANSWER_MAX];
	int64_t decided = T0 + 1000;
	int reports = 0;

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	make_chal(&e, 2, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &e, AT(e.created_ms)), STORE_OK);
	right_answer(&c, ans, sizeof ans);
	assert_int_equal(take_str(s, &c, decided, ans, &out), STORE_OK);

	/* answered: queryable for the whole retention, then gone, swept or not */
	assert_int_equal(store_sweep(s, AT(decided + STORE_DECIDED_TTL_MS - 1), count_expired,
	                             &reports), 1);            /* e expired meanwhile */
	assert_int_equal(store_size(s), 2);
	assert_int_equal(store_get(s, c.id, AT(decided + STORE_DECIDED_TTL_MS - 1), &out), STORE_USED);
	assert_int_equal(store_get(s, c.id, AT(decided + STORE_DECIDED_TTL_MS), &out), STORE_NOT_FOUND);
	assert_int_equal(take_str(s, &c, decided + STORE_DECIDED_TTL_MS, ans, &out),
	                 STORE_NOT_FOUND);
	/* expired: retention counts from expires_ms */
	assert_int_equal(store_get(s, e.id, AT(T0 + LIFE_MS + STORE_DECIDED_TTL_MS - 1), &out),
	                 STORE_EXPIRED);
	assert_int_equal(store_get(s, e.id, AT(T0 + LIFE_MS + STORE_DECIDED_TTL_MS), &out),
	                 STORE_NOT_FOUND);
	assert_int_equal(store_size(s), 2);
	assert_int_equal(store_sweep(s, AT(T0 + LIFE_MS + STORE_DECIDED_TTL_MS), count_expired,
	                             &reports), 0);
	assert_int_equal(store_size(s), 0);
	assert_int_equal(reports, 1);

	/* an expiry nobody saw for longer than the retention is reported, then freed */
	make_chal(&c, 3, T0, T0 + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_sweep(s, AT(T0 + LIFE_MS + 2 * STORE_DECIDED_TTL_MS), count_expired,
	                             &reports), 1);
	assert_int_equal(reports, 2);
	assert_int_equal(store_size(s), 0);
	assert_int_equal(store_pending(s), 0);
	store_free(s);
}

/* A flood of decisions cannot hold memory for an hour: past
 * STORE_DECIDED_CAP_FACTOR x max_pending decided records, sweeps shorten the
 * retention until the excess is freed; below the cap the hour comes back. */
static void test_decided_records_capped(void **state)
{
	const size_t max_pending = 10, n = 100;
	struct store *s = store_new(max_pending);
	struct chal c, out;
	char ans[CHALLENGE_ANSWER_MAX];
	int64_t now = T0 + 1000;
	int reports = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		make_chal(&c, 1000 + i, T0, T0 + LIFE_MS);
		assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
		wrong_answer(&c, ans, sizeof ans);
		assert_int_equal(take_str(s, &c, now, ans, &out), STORE_OK);
	}
	assert_int_equal(store_size(s), n);
	/* a few sweeps, a second apart: well inside the normal hour */
	for (int i = 0; i < 30 && store_size(s) > max_pending * STORE_DECIDED_CAP_FACTOR; i++) {
		now += 1000;
		store_sweep(s, AT(now), count_expired, &reports);
	}
	assert_true(store_size(s) <= max_pending * STORE_DECIDED_CAP_FACTOR);
	assert_true(now - (T0 + 1000) < 60 * 1000);

	/* fresh decisions under the cap are kept again for the full hour */
	for (int i = 0; i < 40; i++) {
		now += 1000;
		store_sweep(s, AT(now), count_expired, &reports);
	}
	make_chal(&c, 5000, now, now + LIFE_MS);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	right_answer(&c, ans, sizeof ans);
	assert_int_equal(take_str(s, &c, now, ans, &out), STORE_OK);
	store_sweep(s, AT(now + STORE_DECIDED_TTL_MS - 1000), count_expired, &reports);
	assert_int_equal(store_get(s, c.id, AT(now + STORE_DECIDED_TTL_MS - 1000), &out), STORE_USED);
	assert_int_equal(reports, 0);
	store_free(s);
}

/* Shutdown cancels what is still pending (and reports each once); a decision
 * whose evidence was lost can be reopened with its question. */
static void test_cancel_pending_and_reopen(void **state)
{
	struct store *s = store_new(10);
	struct chal a, b, e, out;
	char ans[CHALLENGE_ANSWER_MAX];
	int reports = 0;

	(void)state;
	make_chal(&a, 7001, T0, T0 + LIFE_MS);
	make_chal(&b, 7002, T0, T0 + LIFE_MS);
	make_chal(&e, 7003, T0, T0 + 10);
	assert_int_equal(store_put(s, &a, AT(a.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &b, AT(b.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &e, AT(e.created_ms)), STORE_OK);

	right_answer(&a, ans, sizeof ans);
	assert_int_equal(take_str(s, &a, T0 + 100, ans, &out), STORE_OK);
	assert_int_equal(out.status, CHAL_APPROVED);
	assert_int_equal(store_pending(s), 2);
	assert_int_equal(store_reopen(s, a.id, &a.q, AT(T0 + 200)), STORE_OK);
	assert_int_equal(store_pending(s), 3);
	assert_int_equal(store_get(s, a.id, AT(T0 + 200), &out), STORE_OK);
	assert_int_equal(take_str(s, &a, T0 + 300, ans, &out), STORE_OK);   /* answerable again */
	assert_int_equal(out.status, CHAL_APPROVED);
	assert_int_equal(store_reopen(s, b.id, &b.q, AT(T0 + 300)), STORE_NOT_FOUND); /* still pending */

	/* b pending, e overdue (left to the sweep), a decided */
	assert_int_equal(store_cancel_pending(s, AT(T0 + 400), count_expired, &reports), 1);
	assert_int_equal(reports, 1);
	assert_int_equal(store_get(s, b.id, AT(T0 + 400), &out), STORE_USED);
	assert_int_equal(out.status, CHAL_CANCELED);
	assert_int_equal(store_cancel_pending(s, AT(T0 + 500), count_expired, &reports), 0);
	assert_int_equal(store_sweep(s, AT(T0 + 500), count_expired, &reports), 1);   /* e */
	assert_int_equal(store_pending(s), 0);
	store_free(s);
}

struct locked_seen {
	int n, wrong;                /* reports; reports not locked at T0 + 500 with the question wiped */
};

static void count_locked(void *ctx, const struct chal *c)
{
	struct locked_seen *seen = ctx;

	seen->n++;
	if (c->status != CHAL_LOCKED || c->decided_ms != T0 + 500 || c->q.truth != 0 ||
	    strcmp(store_phone_key(c->phone), "5215550007777") != 0)
		seen->wrong++;
}

/* A lockout ends every pending link of its phone (however the phone was
 * written) and only those: more than a sweep batch in a shard, each
 * reported once as locked; another phone's link, an overdue one (the
 * sweep's) and a decided one are left as they are. */
static void test_lock_phone_ends_its_pending_links(void **state)
{
	struct store *s = store_new(LOCK_LINKS + 10);
	struct chal c, other, overdue, approved, out;
	char ans[CHALLENGE_ANSWER_MAX];
	struct locked_seen seen = { 0, 0 };
	int reports = 0;

	(void)state;
	for (uint64_t i = 0; i < LOCK_LINKS; i++) {
		make_chal(&c, 9000 + i, T0, T0 + LIFE_MS);
		snprintf(c.phone, sizeof c.phone, i % 2 ? "+5215550007777" : "5215550007777");
		assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	}
	make_chal(&other, 8001, T0, T0 + LIFE_MS);
	snprintf(other.phone, sizeof other.phone, "+5215550007778");
	make_chal(&overdue, 8002, T0, T0 + 100);
	make_chal(&approved, 8003, T0, T0 + LIFE_MS);
	snprintf(overdue.phone, sizeof overdue.phone, "+5215550007777");
	snprintf(approved.phone, sizeof approved.phone, "+5215550007777");
	assert_int_equal(store_put(s, &other, AT(other.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &overdue, AT(overdue.created_ms)), STORE_OK);
	assert_int_equal(store_put(s, &approved, AT(approved.created_ms)), STORE_OK);
	right_answer(&approved, ans, sizeof ans);
	assert_int_equal(take_str(s, &approved, T0 + 10, ans, &out), STORE_OK);

	assert_int_equal(store_lock_phone(s, "5215550007777", AT(T0 + 500), count_locked, &seen), LOCK_LINKS);
	assert_int_equal(seen.n, LOCK_LINKS);
	assert_int_equal(seen.wrong, 0);
	assert_int_equal(store_pending(s), 2);                /* the other phone's and the overdue one */
	make_chal(&c, 9000, T0, T0 + LIFE_MS);
	assert_int_equal(store_get(s, c.id, AT(T0 + 600), &out), STORE_USED);
	assert_int_equal(out.status, CHAL_LOCKED);
	assert_int_equal(out.decided_ms, T0 + 500);
	assert_int_equal(store_get(s, other.id, AT(T0 + 600), &out), STORE_OK);
	assert_int_equal(store_get(s, approved.id, AT(T0 + 600), &out), STORE_USED);
	assert_int_equal(out.status, CHAL_APPROVED);
	/* once only; the overdue link is the sweep's to report, as expired */
	assert_int_equal(store_lock_phone(s, "5215550007777", AT(T0 + 700), count_locked, &seen), 0);
	assert_int_equal(store_sweep(s, AT(T0 + 700), count_expired, &reports), 1);
	assert_int_equal(store_get(s, overdue.id, AT(T0 + 700), &out), STORE_EXPIRED);
	assert_int_equal(store_pending(s), 1);
	store_free(s);
}

static void test_longest_fields_round_trip(void **state)
{
	struct store *s = store_new(10);
	struct chal c, out;

	(void)state;
	make_chal(&c, 1, T0, T0 + LIFE_MS);
	memset(c.client_id, 'a', CLIENT_ID_MAX);
	c.client_id[CLIENT_ID_MAX] = '\0';
	strcpy(c.phone, "+123456789012345");
	for (int i = 0; i < FLOW_MAX_BYTES; i += 4)
		memcpy(c.flow + i, "\xf0\x9f\x98\x80", 4);     /* 128 four-byte characters */
	c.flow[FLOW_MAX_BYTES] = '\0';
	assert_int_equal(strlen(c.phone), PHONE_MAX);
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_get(s, c.id, AT(T0), &out), STORE_OK);
	assert_string_equal(out.client_id, c.client_id);
	assert_string_equal(out.phone, c.phone);
	assert_string_equal(out.flow, c.flow);
	/* empty strings too */
	make_chal(&c, 2, T0, T0 + LIFE_MS);
	c.client_id[0] = c.phone[0] = c.flow[0] = '\0';
	assert_int_equal(store_put(s, &c, AT(c.created_ms)), STORE_OK);
	assert_int_equal(store_get(s, c.id, AT(T0), &out), STORE_OK);
	assert_string_equal(out.client_id, "");
	assert_string_equal(out.flow, "");
	store_free(s);
}

struct race {
	struct store *s;
	pthread_barrier_t *start;
	const struct chal *chals;
	atomic_int *wins;
	atomic_int *errors;
	int offset;
};

static void *race_take(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->start);
	for (int k = 0; k < RACE_IDS; k++) {
		int i = (k + r->offset) % RACE_IDS;
		char ans[CHALLENGE_ANSWER_MAX];
		struct chal out;
		enum store_result res;

		right_answer(&r->chals[i], ans, sizeof ans);
		res = take_str(r->s, &r->chals[i], T0 + 1, ans, &out);
		if (res == STORE_OK)
			atomic_fetch_add(&r->wins[i], 1);
		else if (res != STORE_USED)
			THREAD_FAIL(r->errors, "take of %d: result %d", i, res);
	}
	return NULL;
}

static void test_concurrent_take_has_one_winner(void **state)
{
	struct store *s = store_new(RACE_IDS);
	struct chal *chals = calloc(RACE_IDS, sizeof *chals);
	atomic_int *wins = calloc(RACE_IDS, sizeof *wins);
	pthread_t th[RACE_THREADS];
	struct race args[RACE_THREADS];
	pthread_barrier_t start;
	atomic_int errors;

	(void)state;
	atomic_init(&errors, 0);
	for (int i = 0; i < RACE_IDS; i++) {
		make_chal(&chals[i], (uint64_t)i, T0, T0 + LIFE_MS);
		assert_int_equal(store_put(s, &chals[i], AT(chals[i].created_ms)), STORE_OK);
		atomic_init(&wins[i], 0);
	}
	pthread_barrier_init(&start, NULL, RACE_THREADS);
	for (int t = 0; t < RACE_THREADS; t++) {
		/* half the threads walk the ids in step, half offset, so both
		 * head-on races and scattered ones happen */
		args[t] = (struct race){ s, &start, chals, wins, &errors, t % 2 ? 0 : t * 97 };
		pthread_create(&th[t], NULL, race_take, &args[t]);
	}
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&start);
	assert_int_equal(atomic_load(&errors), 0);
	for (int i = 0; i < RACE_IDS; i++)
		if (atomic_load(&wins[i]) != 1)
			fail_msg("id %d was taken %d times", i, atomic_load(&wins[i]));
	assert_int_equal(store_pending(s), 0);
	free(wins);
	free(chals);
	store_free(s);
}

struct mix {
	struct store *s;
	int thread;
	atomic_bool *stop;
	atomic_long *reports;
	atomic_int *errors;
};

static void count_expired_atomic(void *ctx, const struct chal *c)
{
	struct mix *m = ctx;

	if (c->status != CHAL_EXPIRED)
		THREAD_FAIL(m->errors, "reported with status %d", c->status);
	atomic_fetch_add(m->reports, 1);
}

/* Puts, reads and decides its own ids; every third one is born expired. */
static void *mix_worker(void *arg)
{
	struct mix *m = arg;

	for (int k = 0; k < MIX_PER_THREAD; k++) {
		uint64_t n = (uint64_t)m->thread * MIX_PER_THREAD + (uint64_t)k;
		bool dead = k % 3 == 0;
		char ans[CHALLENGE_ANSWER_MAX];
		struct chal c, out;

		make_chal(&c, n, T0, dead ? T0 - 1 : T0 + LIFE_MS);
		if (store_put(m->s, &c, AT(c.created_ms)) != STORE_OK)
			THREAD_FAIL(m->errors, "put %llu failed", (unsigned long long)n);
		if (store_get(m->s, c.id, AT(T0), &out) != (dead ? STORE_EXPIRED : STORE_OK) ||
		    strcmp(out.client_id, c.client_id) != 0)
			THREAD_FAIL(m->errors, "get %llu: wrong record", (unsigned long long)n);
		if (!dead) {
			right_answer(&c, ans, sizeof ans);
			if (take_str(m->s, &c, T0, ans, &out) != STORE_OK ||
			    out.status != CHAL_APPROVED)
				THREAD_FAIL(m->errors, "take %llu failed", (unsigned long long)n);
		}
	}
	return NULL;
}

static void *mix_sweeper(void *arg)
{
	struct mix *m = arg;

	while (!atomic_load(m->stop))
		store_sweep(m->s, AT(T0), count_expired_atomic, m);
	return NULL;
}

static void test_concurrent_mixed_traffic(void **state)
{
	struct store *s = store_new(MIX_THREADS * MIX_PER_THREAD);
	pthread_t th[MIX_THREADS], sweeper;
	struct mix args[MIX_THREADS], sargs;
	atomic_bool stop;
	atomic_long reports;
	atomic_int errors;
	long dead = 0;

	(void)state;
	atomic_init(&stop, false);
	atomic_init(&reports, 0);
	atomic_init(&errors, 0);
	sargs = (struct mix){ s, -1, &stop, &reports, &errors };
	pthread_create(&sweeper, NULL, mix_sweeper, &sargs);
	for (int t = 0; t < MIX_THREADS; t++) {
		args[t] = (struct mix){ s, t, &stop, &reports, &errors };
		pthread_create(&th[t], NULL, mix_worker, &args[t]);
	}
	for (int t = 0; t < MIX_THREADS; t++)
		pthread_join(th[t], NULL);
	atomic_store(&stop, true);
	pthread_join(sweeper, NULL);
	store_sweep(s, AT(T0), count_expired_atomic, &sargs);

	assert_int_equal(atomic_load(&errors), 0);
	for (int k = 0; k < MIX_PER_THREAD; k++)
		dead += k % 3 == 0;
	assert_int_equal(atomic_load(&reports), dead * MIX_THREADS);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_size(s), MIX_THREADS * MIX_PER_THREAD);
	assert_int_equal(store_sweep(s, AT(T0 + LIFE_MS + STORE_DECIDED_TTL_MS), NULL, NULL), 0);
	assert_int_equal(store_size(s), 0);
	store_free(s);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_memory_and_speed_per_challenge(void **state)
{
	struct chal *chals = calloc(MEM_CHALLENGES, sizeof *chals);
	struct store *s = store_new(MEM_CHALLENGES);
	struct mallinfo2 before, after;
	struct timespec t0;
	double secs, per;

	(void)state;
	for (int i = 0; i < MEM_CHALLENGES; i++)
		make_chal(&chals[i], (uint64_t)i, T0, T0 + LIFE_MS);
	before = mallinfo2();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < MEM_CHALLENGES; i++)
		assert_int_equal(store_put(s, &chals[i], AT(chals[i].created_ms)), STORE_OK);
	secs = seconds_since(&t0);
	after = mallinfo2();
	per = (double)(after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) /
	      MEM_CHALLENGES;
	printf("    %d puts in %.3f s: %.0f puts/s; %.1f bytes per live challenge "
	       "(client_id %zu, phone %zu, flow %zu bytes)%s\n", MEM_CHALLENGES, secs,
	       MEM_CHALLENGES / secs, per, strlen(chals[0].client_id), strlen(chals[0].phone),
	       strlen(chals[0].flow), UNDER_SANITIZER ? " [sanitizer: not meaningful]" : "");
	if (!UNDER_SANITIZER && per > MEM_LIMIT_BYTES)
		fail_msg("%.1f bytes per live challenge, limit %d", per, MEM_LIMIT_BYTES);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < MEM_CHALLENGES; i++)
		assert_int_equal(store_get(s, chals[i].id, AT(T0), NULL), STORE_OK);
	printf("    %d gets: %.0f gets/s\n", MEM_CHALLENGES, MEM_CHALLENGES / seconds_since(&t0));
	free(chals);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_take_once),
		cmocka_unit_test(test_unknown_ids_and_duplicates),
		cmocka_unit_test(test_take_after_expiry),
		cmocka_unit_test(test_get_after_expiry_without_sweep),
		cmocka_unit_test(test_a_wall_clock_step_moves_no_expiry),
		cmocka_unit_test(test_capacity_counts_pending_only),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_sweep_reports_each_expiry_once),
		cmocka_unit_test(test_sweep_reports_what_is_due_in_order),
		cmocka_unit_test(test_reopened_challenge_expires_on_time),
		cmocka_unit_test(test_tombstones_kept_then_removed),
		cmocka_unit_test(test_decided_records_capped),
		cmocka_unit_test(test_cancel_pending_and_reopen),
		cmocka_unit_test(test_lock_phone_ends_its_pending_links),
		cmocka_unit_test(test_longest_fields_round_trip),
		cmocka_unit_test(test_concurrent_take_has_one_winner),
		cmocka_unit_test(test_concurrent_mixed_traffic),
		cmocka_unit_test(test_memory_and_speed_per_challenge),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
