/*
 * test_backoff: the sender's retry delay (backoff.c) from known inputs: the
 * exact delays of a fixed RNG, growth up to the cap and never past it, the
 * jitter inside [d/2, d] and spread across it for a seeded RNG, and no
 * overflow however many attempts or however large the base.
 */
#include "unit.h"
#include "backoff.h"
#include "util.h"

#include <limits.h>

#define BASE_MS 1000
#define CAP_MS (300 * 1000)
#define DRAWS 10000
#define MANY_ATTEMPTS 200

/* Returns *ctx: a chosen raw value. */
static uint64_t rng_fixed(void *ctx)
{
	return *(const uint64_t *)ctx;
}

/* d for attempts 1..10 with base 1 s and cap 5 min, written out by hand. */
static const int64_t full_delay[] = {
	1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000,
};

static void test_fixed_rng_gives_exact_delays(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(full_delay); i++) {
		int attempts = (int)i + 1;
		int64_t d = full_delay[i];
		uint64_t top = (uint64_t)(d / 2);       /* the largest jitter */

		/* no jitter: half the delay, never an immediate retry */
		assert_int_equal(backoff(attempts, BASE_MS, CAP_MS, rng_zero, NULL), d / 2);
		/* the largest jitter: the whole delay */
		assert_int_equal(backoff(attempts, BASE_MS, CAP_MS, rng_fixed, &top), d);
	}
}

static void test_grows_until_the_cap_then_stays(void **state)
{
	int64_t prev = 0;

	(void)state;
	for (int attempts = 1; attempts <= MANY_ATTEMPTS; attempts++) {
		int64_t lo = backoff(attempts, BASE_MS, CAP_MS, rng_zero, NULL);

		if (lo < prev)
			fail_msg("attempt %d waits %lld ms, less than attempt %d (%lld ms)", attempts,
			         (long long)lo, attempts - 1, (long long)prev);
		if (lo == prev && lo != CAP_MS / 2)
			fail_msg("attempt %d waits %lld ms like the one before, below the cap", attempts,
			         (long long)lo);
		prev = lo;
	}
	assert_int_equal(prev, CAP_MS / 2);
}

static void test_never_past_the_cap(void **state)
{
	static const int attempts[] = { 10, 11, 31, 32, 33, 63, 64, 65, 1000, INT_MAX };
	struct test_rng r;

	(void)state;
	test_rng_seed(&r, 7);
	for (size_t i = 0; i < ARRAY_LEN(attempts); i++) {
		for (int k = 0; k < DRAWS / 10; k++) {
			int64_t d = backoff(attempts[i], BASE_MS, CAP_MS, test_rng_next, &r);
			if (d < CAP_MS / 2 || d > CAP_MS)
				fail_msg("attempt %d waits %lld ms, outside [%d, %d]", attempts[i],
				         (long long)d, CAP_MS / 2, CAP_MS);
		}
		assert_true(backoff(attempts[i], BASE_MS, CAP_MS, rng_max, NULL) <= CAP_MS);
	}
}

static void test_jitter_stays_inside_and_spreads(void **state)
{
	const int attempts = 3;             /* d = 4000 ms */
	const int64_t d = 4000, edge = d / 20;
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	struct test_rng r;

	(void)state;
	test_rng_seed(&r, 42);
	for (int k = 0; k < DRAWS; k++) {
		int64_t v = backoff(attempts, BASE_MS, CAP_MS, test_rng_next, &r);
		if (v < d / 2 || v > d)
			fail_msg("draw %d: %lld ms, outside [%lld, %lld]", k, (long long)v,
			         (long long)(d / 2), (long long)d);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	/* 10,000 uniform draws over 2,001 values reach both ends' 5% */
	if (lo > d / 2 + edge || hi < d - edge)
		fail_msg("jitter spread only over [%lld, %lld] of [%lld, %lld]", (long long)lo,
		         (long long)hi, (long long)(d / 2), (long long)d);
}

static void test_no_overflow_with_huge_values(void **state)
{
	static const int64_t bases[] = { INT64_MAX / 3, INT64_MAX / 2, INT64_MAX - 1, INT64_MAX };
	struct test_rng r;

	(void)state;
	test_rng_seed(&r, 3);
	for (size_t i = 0; i < ARRAY_LEN(bases); i++) {
		for (int attempts = 1; attempts <= MANY_ATTEMPTS; attempts++) {
			int64_t v = backoff(attempts, bases[i], INT64_MAX, test_rng_next, &r);
			if (v < bases[i] / 2)
				fail_msg("base %lld, attempt %d: %lld ms, below half the base",
				         (long long)bases[i], attempts, (long long)v);
			assert_true(backoff(attempts, bases[i], INT64_MAX, rng_max, NULL) >= bases[i] / 2);
		}
	}
	/* INT_MAX attempts with a cap at the top of the range */
	assert_int_equal(backoff(INT_MAX, 1, INT64_MAX, rng_zero, NULL), INT64_MAX / 2);
}

static void test_odd_arguments(void **state)
{
	(void)state;
	/* a cap below the base is the base */
	assert_int_equal(backoff(5, BASE_MS, 10, rng_zero, NULL), BASE_MS / 2);
	/* zero or negative attempts: the first delay */
	assert_int_equal(backoff(0, BASE_MS, CAP_MS, rng_zero, NULL), BASE_MS / 2);
	assert_int_equal(backoff(-3, BASE_MS, CAP_MS, rng_zero, NULL), BASE_MS / 2);
	/* a base below 1 ms counts as 1 ms */
	assert_int_equal(backoff(1, 0, CAP_MS, rng_max, NULL), 0);
	assert_int_equal(backoff(2, -5, CAP_MS, rng_zero, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_rng_gives_exact_delays),
		cmocka_unit_test(test_grows_until_the_cap_then_stays),
		cmocka_unit_test(test_never_past_the_cap),
		cmocka_unit_test(test_jitter_stays_inside_and_spreads),
		cmocka_unit_test(test_no_overflow_with_huge_values),
		cmocka_unit_test(test_odd_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
