/*
 * test_limiter: the contract of the in-memory limiter (limiter.h), with the
 * clock passed in so every case is exact: a sliding window (at most n in any
 * span of its length, around any edge), a lock that lasts a full window from
 * the event that reached n, the Retry-After seconds it answers, an event over the
 * limit not counted, refund, blocked counting nothing, the table's bound and
 * whom it evicts, and exact counts when threads share one key or one stripe.
 */
#include "unit.h"
#include "limiter.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define T0 1000000000000LL               /* some wall-clock instant, in ms */
#define WINDOW_S 60
#define WINDOW_MS (WINDOW_S * 1000LL)

static int hit(struct limiter *l, const char *key, int64_t at)
{
	return limiter_hit(l, key, strlen(key), AT(at));
}

static int blocked(struct limiter *l, const char *key, int64_t at)
{
	return limiter_blocked(l, key, strlen(key), AT(at));
}

static void refund(struct limiter *l, const char *key, int64_t at)
{
	limiter_refund(l, key, strlen(key), AT(at));
}

static void test_retry_after_and_refused_events_not_counted(void **state)
{
	struct limiter *l = limiter_new(3, WINDOW_S, LIMITER_SLOTS);

	(void)state;
	assert_int_equal(hit(l, "5215550000001", T0), 0);
	assert_int_equal(hit(l, "5215550000001", T0 + 10000), 0);
	assert_int_equal(hit(l, "5215550000001", T0 + 20000), 0);
	/* over: the seconds until the lock the third event set ends, rounded up */
	assert_int_equal(hit(l, "5215550000001", T0 + 20500), 60);
	assert_int_equal(hit(l, "5215550000001", T0 + 79000), 1);
	assert_int_equal(hit(l, "5215550000001", T0 + 79999), 1);
	/* the refused ones were not counted: three more once the lock ends */
	assert_int_equal(hit(l, "5215550000001", T0 + 80000), 0);
	assert_int_equal(hit(l, "5215550000001", T0 + 80001), 0);
	assert_int_equal(hit(l, "5215550000001", T0 + 80002), 0);
	assert_int_equal(hit(l, "5215550000001", T0 + 80003), WINDOW_S);
	limiter_free(l);
}

/* The window slides: at most n events in ANY span of the window's length,
 * also around where a window anchored at the first event would end (a burst
 * at the end of one window and the start of the next is refused). */
static void test_at_most_n_in_any_window_span(void **state)
{
	struct limiter *l = limiter_new(3, WINDOW_S, LIMITER_SLOTS);
	struct test_rng rng;
	int64_t ok[4000];
	int nok = 0;

	(void)state;
	assert_int_equal(hit(l, "edge", T0), 0);
	assert_int_equal(hit(l, "edge", T0 + 59000), 0);
	assert_int_equal(hit(l, "edge", T0 + 60500), 0);         /* T0's event has left the span */
	assert_int_equal(hit(l, "edge", T0 + 61000), 0);         /* three in [T0+59 s, T0+61 s] */
	/* a window anchored at T0 would start afresh at T0+60 s and allow a third
	 * event there: four in 2.5 s */
	assert_int_not_equal(hit(l, "edge", T0 + 61500), 0);
	limiter_free(l);

	/* Random arrivals (seeded): every span of WINDOW_MS holds at most 3 allowed. */
	l = limiter_new(3, WINDOW_S, LIMITER_SLOTS);
	test_rng_seed(&rng, 10);
	for (int64_t t = T0; nok < 4000 && t < T0 + 400 * WINDOW_MS;
	     t += (int64_t)(test_rng_next(&rng) % 40000)) {
		if (hit(l, "rand", t) == 0)
			ok[nok++] = t;
	}
	assert_true(nok > 50);
	for (int i = 0; i < nok; i++) {
		int in = 0;
		for (int k = i; k < nok && ok[k] < ok[i] + WINDOW_MS; k++)
			in++;
		if (in > 3)
			fail_msg("%d events allowed within %lld ms from +%lld ms (limit 3)", in,
			         (long long)WINDOW_MS, (long long)(ok[i] - T0));
	}
	limiter_free(l);
}

/* Reaching n locks the key for a whole window from then, however old the
 * first of those events is; the Retry-After says so. */
static void test_lock_lasts_a_full_window(void **state)
{
	struct limiter *l = limiter_new(3, WINDOW_S, LIMITER_SLOTS);

	(void)state;
	assert_int_equal(hit(l, "p", T0), 0);
	assert_int_equal(hit(l, "p", T0 + 59000), 0);
	assert_int_equal(hit(l, "p", T0 + 59500), 0);              /* the third: locked */
	assert_int_equal(blocked(l, "p", T0 + 59500), WINDOW_S);
	assert_int_equal(blocked(l, "p", T0 + 61000), 59);          /* T0's event is gone: still locked */
	assert_int_equal(hit(l, "p", T0 + 100000), 20);
	assert_int_equal(blocked(l, "p", T0 + 59500 + WINDOW_MS - 1), 1);
	assert_int_equal(blocked(l, "p", T0 + 59500 + WINDOW_MS), 0);
	assert_int_equal(hit(l, "p", T0 + 59500 + WINDOW_MS), 0);   /* a fresh span */
	assert_int_equal(blocked(l, "p", T0 + 59500 + WINDOW_MS), 0);
	limiter_free(l);
}

/* The wall clock steps while the monotonic one runs on: windows and locks
 * follow the monotonic clock. */
static void test_a_wall_clock_step_moves_no_window_or_lock(void **state)
{
	struct limiter *l = limiter_new(2, WINDOW_S, 64);
	const int64_t step = 24 * 3600 * 1000LL;

	(void)state;
	assert_int_equal(limiter_hit(l, "p", 1, (struct now){ T0, T0 }), 0);
	assert_int_equal(limiter_hit(l, "p", 1, (struct now){ T0 + 1000, T0 + 1000 }), 0);   /* locked */
	/* a day forward on the wall, a second on the monotonic clock: still locked */
	assert_int_equal(limiter_blocked(l, "p", 1, (struct now){ T0 + step, T0 + 2000 }), WINDOW_S - 1);
	assert_int_not_equal(limiter_hit(l, "p", 1, (struct now){ T0 + step, T0 + 2000 }), 0);
	/* a day back on the wall once the window has passed: the lock is over */
	assert_int_equal(limiter_blocked(l, "p", 1, (struct now){ T0 - step, T0 + 1000 + WINDOW_MS }), 0);
	assert_int_equal(limiter_hit(l, "p", 1, (struct now){ T0 - step, T0 + 1000 + WINDOW_MS }), 0);
	limiter_free(l);
}

static void test_keys_are_separate_and_bounded_by_len(void **state)
{
	struct limiter *l = limiter_new(1, WINDOW_S, LIMITER_SLOTS);

	(void)state;
	assert_int_equal(hit(l, "a", T0), 0);
	assert_int_not_equal(hit(l, "a", T0), 0);
	assert_int_equal(hit(l, "b", T0), 0);
	assert_int_equal(hit(l, "ab", T0), 0);
	/* only len bytes are the key: "abc" cut to 2 is "ab" */
	assert_int_not_equal(limiter_hit(l, "abc", 2, AT(T0)), 0);
	assert_int_equal(limiter_hit(l, "abc", 3, AT(T0)), 0);
	limiter_free(l);
}

static void test_refund_gives_back_one_event(void **state)
{
	struct limiter *l = limiter_new(2, WINDOW_S, LIMITER_SLOTS);

	(void)state;
	assert_int_equal(hit(l, "k", T0), 0);
	assert_int_equal(hit(l, "k", T0 + 1), 0);
	assert_int_not_equal(hit(l, "k", T0 + 2), 0);
	refund(l, "k", T0 + 3);
	assert_int_equal(hit(l, "k", T0 + 4), 0);           /* exactly one given back */
	assert_int_not_equal(hit(l, "k", T0 + 5), 0);

	/* nothing to give back: no count below zero, no window created */
	refund(l, "fresh", T0);
	refund(l, "fresh", T0);
	assert_int_equal(hit(l, "fresh", T0), 0);
	assert_int_equal(hit(l, "fresh", T0), 0);
	assert_int_not_equal(hit(l, "fresh", T0), 0);

	/* two refunds of one event: the second finds nothing to give back */
	assert_int_equal(hit(l, "twice", T0), 0);
	refund(l, "twice", T0);
	refund(l, "twice", T0);
	assert_int_equal(hit(l, "twice", T0), 0);
	assert_int_equal(hit(l, "twice", T0), 0);
	assert_int_not_equal(hit(l, "twice", T0), 0);

	/* a refund after the window ended does not carry into the next one */
	assert_int_equal(hit(l, "late", T0), 0);
	refund(l, "late", T0 + WINDOW_MS);
	assert_int_equal(hit(l, "late", T0 + WINDOW_MS), 0);
	assert_int_equal(hit(l, "late", T0 + WINDOW_MS), 0);
	assert_int_not_equal(hit(l, "late", T0 + WINDOW_MS), 0);
	limiter_free(l);
}

static void test_blocked_counts_nothing(void **state)
{
	struct limiter *l = limiter_new(3, WINDOW_S, LIMITER_SLOTS);

	(void)state;
	assert_int_equal(blocked(l, "p", T0), 0);            /* unknown key */
	for (int i = 0; i < 100; i++)
		assert_int_equal(blocked(l, "p", T0 + i), 0);
	assert_int_equal(hit(l, "p", T0), 0);
	assert_int_equal(hit(l, "p", T0), 0);
	assert_int_equal(blocked(l, "p", T0 + 1000), 0);     /* 2 of 3: not yet */
	assert_int_equal(hit(l, "p", T0), 0);
	/* locked while the count reached n, until the window ends */
	assert_int_equal(blocked(l, "p", T0 + 1000), 59);
	assert_int_equal(blocked(l, "p", T0 + 59999), 1);
	assert_int_equal(blocked(l, "p", T0 + WINDOW_MS), 0);
	/* refund lifts it */
	assert_int_equal(hit(l, "q", T0), 0);
	assert_int_equal(hit(l, "q", T0), 0);
	assert_int_equal(hit(l, "q", T0), 0);
	refund(l, "q", T0 + 1);
	assert_int_equal(blocked(l, "q", T0 + 1), 0);
	limiter_free(l);
}

/* The smallest table is one probe group: LIMITER_PROBE keys at once. */
static void test_table_is_bounded_and_evicts_the_oldest_window(void **state)
{
	struct limiter *l = limiter_new(2, WINDOW_S, 1);
	char key[32];

	(void)state;
	/* LIMITER_PROBE locked keys fill it; one more evicts the oldest window */
	for (int i = 0; i <= LIMITER_PROBE; i++) {
		snprintf(key, sizeof key, "locked%d", i);
		assert_int_equal(hit(l, key, T0 + i), 0);
		assert_int_equal(hit(l, key, T0 + i), 0);
	}
	assert_int_equal(blocked(l, "locked0", T0 + 100), 0);        /* forgotten */
	for (int i = 1; i <= LIMITER_PROBE; i++) {
		snprintf(key, sizeof key, "locked%d", i);
		if (blocked(l, key, T0 + 100) == 0)
			fail_msg("%s was evicted; only the oldest window should be", key);
	}
	limiter_free(l);
}

static void test_flood_of_keys_does_not_evict_a_locked_key(void **state)
{
	struct limiter *l = limiter_new(3, WINDOW_S, 1);
	char key[32];

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(hit(l, "victim", T0), 0);
	assert_int_not_equal(blocked(l, "victim", T0), 0);
	/* ten thousand other keys, each below its limit, all newer */
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "flood%d", i);
		assert_int_equal(hit(l, key, T0 + 1 + i), 0);
	}
	if (blocked(l, "victim", T0 + 10001) == 0)
		fail_msg("a locked key was evicted by keys below their limit");
	assert_int_not_equal(hit(l, "victim", T0 + 10002), 0);
	limiter_free(l);
}

/* Well below LIMITER_SLOTS, every key keeps its own count. */
static void test_full_size_table_keeps_thousands_of_keys(void **state)
{
	struct limiter *l = limiter_new(2, WINDOW_S, LIMITER_SLOTS);
	char key[32];

	(void)state;
	for (int i = 0; i < 4000; i++) {
		snprintf(key, sizeof key, "+52155%07d", i);
		assert_int_equal(hit(l, key, T0), 0);
		assert_int_equal(hit(l, key, T0), 0);
	}
	for (int i = 0; i < 4000; i++) {
		snprintf(key, sizeof key, "+52155%07d", i);
		if (hit(l, key, T0 + 1) == 0)
			fail_msg("%s got a third event in its window", key);
	}
	limiter_free(l);
}

#define THREADS 8
#define EACH 2000
#define STRIPE_ROUNDS 20000

struct job {
	struct limiter *l;
	char key[32];
	int allowed;
	pthread_barrier_t *go;
};

static void *hammer(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(j->go);
	for (int i = 0; i < EACH; i++)
		if (limiter_hit(j->l, j->key, strlen(j->key), AT(T0 + i % 1000)) == 0)
			j->allowed++;
	return NULL;
}

static void *hit_and_refund(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(j->go);
	for (int i = 0; i < EACH; i++)
		if (limiter_hit(j->l, j->key, strlen(j->key), AT(T0)) == 0) {
			j->allowed++;
			limiter_refund(j->l, j->key, strlen(j->key), AT(T0));
		}
	return NULL;
}

static void run_threads(struct job *jobs, int n, void *(*fn)(void *))
{
	pthread_t th[THREADS];
	pthread_barrier_t go;

	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		jobs[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, fn, &jobs[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);       /* each thread makes a bounded number of calls */
	pthread_barrier_destroy(&go);
}

/* One key, many threads: exactly n events get through, none lost or doubled. */
static void test_threads_on_one_key_count_exactly(void **state)
{
	struct limiter *l = limiter_new(5000, WINDOW_S, LIMITER_SLOTS);
	struct job jobs[THREADS];
	int total = 0;

	(void)state;
	for (int i = 0; i < THREADS; i++)
		jobs[i] = (struct job){ .l = l, .key = "shared" };
	run_threads(jobs, THREADS, hammer);
	for (int i = 0; i < THREADS; i++)
		total += jobs[i].allowed;
	assert_int_equal(total, 5000);

	/* hit-then-refund from every thread leaves the count where it began */
	struct limiter *r = limiter_new(3, WINDOW_S, LIMITER_SLOTS);
	for (int i = 0; i < THREADS; i++)
		jobs[i] = (struct job){ .l = r, .key = "answer" };
	run_threads(jobs, THREADS, hit_and_refund);
	total = 0;
	for (int i = 0; i < THREADS; i++)
		total += jobs[i].allowed;
	assert_true(total > 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(hit(r, "answer", T0), 0);
	assert_int_not_equal(hit(r, "answer", T0), 0);
	limiter_free(r);
	limiter_free(l);
}

/* Each round every thread starts a new key at the same instant, in a table of
 * one probe group whose previous keys' windows have all ended: the threads
 * claim slots in one group at once, which only the group's stripe lock keeps
 * apart. A lost claim restarts a key's count and lets a fourth event in. */
static void *new_key_rounds(void *arg)
{
	struct job *j = arg;
	char key[48];

	for (int r = 0; r < STRIPE_ROUNDS; r++) {
		int64_t at = T0 + (int64_t)r * 2 * WINDOW_MS;
		int ok = 0;

		snprintf(key, sizeof key, "%s-r%d", j->key, r);
		pthread_barrier_wait(j->go);
		for (int i = 0; i < 6; i++)
			ok += limiter_hit(j->l, key, strlen(key), AT(at)) == 0;
		if (ok != 3)
			j->allowed = -1 - r;          /* reported by the main thread */
	}
	return NULL;
}

static void many_keys(size_t slots)
{
	struct limiter *l = limiter_new(700, WINDOW_S, slots);
	struct job jobs[THREADS];

	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){ .l = l };
		snprintf(jobs[i].key, sizeof jobs[i].key, "phone-%d", i);
	}
	run_threads(jobs, THREADS, hammer);
	for (int i = 0; i < THREADS; i++)
		if (jobs[i].allowed != 700)
			fail_msg("%s (%zu slots): %d events allowed, expected 700", jobs[i].key, slots,
			         jobs[i].allowed);
	limiter_free(l);
}

/* Many keys, many threads at once: the stripes keep every key's count exact,
 * also when all the keys share one probe group (the smallest table: the
 * stripe must own the group, not the key). */
static void test_threads_on_many_keys_count_exactly(void **state)
{
	(void)state;
	_Static_assert(THREADS <= LIMITER_PROBE, "the keys must fit one probe group");
	struct limiter *l = limiter_new(3, WINDOW_S, 1);
	struct job jobs[THREADS];

	many_keys(1);
	many_keys(LIMITER_SLOTS);
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){ .l = l };
		snprintf(jobs[i].key, sizeof jobs[i].key, "t%d", i);
	}
	run_threads(jobs, THREADS, new_key_rounds);
	for (int i = 0; i < THREADS; i++)
		if (jobs[i].allowed < 0)
			fail_msg("thread %d, round %d: a new key did not get exactly 3 events", i,
			         -1 - jobs[i].allowed);
	limiter_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_and_refused_events_not_counted),
		cmocka_unit_test(test_at_most_n_in_any_window_span),
		cmocka_unit_test(test_lock_lasts_a_full_window),
		cmocka_unit_test(test_a_wall_clock_step_moves_no_window_or_lock),
		cmocka_unit_test(test_keys_are_separate_and_bounded_by_len),
		cmocka_unit_test(test_refund_gives_back_one_event),
		cmocka_unit_test(test_blocked_counts_nothing),
		cmocka_unit_test(test_table_is_bounded_and_evicts_the_oldest_window),
		cmocka_unit_test(test_flood_of_keys_does_not_evict_a_locked_key),
		cmocka_unit_test(test_full_size_table_keeps_thousands_of_keys),
		cmocka_unit_test(test_threads_on_one_key_count_exactly),
		cmocka_unit_test(test_threads_on_many_keys_count_exactly),
	};

	return cmocka_run_group_tests_name("limiter", tests, NULL, NULL);
}
