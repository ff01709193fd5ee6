/*
 * test_redis: the reconnect delay of a Redis connection (redis.c): it grows
 * from REDIS_BACKOFF_MIN_MS to REDIS_BACKOFF_MAX_MS, never past it however
 * many failures, and is jittered: the same failure count gives delays spread
 * over [d/2, d] for a seeded RNG, so the threads of several nodes that lost
 * Redis together do not all reconnect at the same instant.
 */
#include "unit.h"
#include "redis.h"

#include <limits.h>

#define DRAWS 10000
#define MANY_FAILURES 200

static void test_grows_to_the_cap_and_stays(void **state)
{
	(void)state;
	for (int f = 1; f <= MANY_FAILURES; f++) {
		int64_t lo = redis_reconnect_delay(f, rng_zero, NULL), hi = redis_reconnect_delay(f, rng_max, NULL);
		if (lo < 1 || hi > REDIS_BACKOFF_MAX_MS || lo > hi)
			fail_msg("failure %d: delays [%lld, %lld] ms, outside [1, %d]", f, (long long)lo,
			         (long long)hi, REDIS_BACKOFF_MAX_MS);
	}
	assert_true(redis_reconnect_delay(1, rng_max, NULL) <= REDIS_BACKOFF_MIN_MS);
	/* at the cap, without jitter: half of it, never an immediate retry */
	assert_int_equal(redis_reconnect_delay(MANY_FAILURES, rng_zero, NULL), REDIS_BACKOFF_MAX_MS / 2);
	assert_int_equal(redis_reconnect_delay(INT_MAX, rng_zero, NULL), REDIS_BACKOFF_MAX_MS / 2);
	assert_true(redis_reconnect_delay(INT_MAX, rng_max, NULL) <= REDIS_BACKOFF_MAX_MS);
}

static void test_jittered_within_half_to_whole(void **state)
{
	const int failures = 4;             /* d = 400 ms */
	const int64_t d = REDIS_BACKOFF_MIN_MS * 8, edge = d / 20;
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	struct test_rng r;

	(void)state;
	test_rng_seed(&r, 12);
	for (int k = 0; k < DRAWS; k++) {
		int64_t v = redis_reconnect_delay(failures, test_rng_next, &r);
		if (v < d / 2 || v > d)
			fail_msg("draw %d: %lld ms, outside [%lld, %lld]", k, (long long)v, (long long)(d / 2),
			         (long long)d);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (lo > d / 2 + edge || hi < d - edge)
		fail_msg("reconnect delays spread only over [%lld, %lld] of [%lld, %lld]", (long long)lo,
		         (long long)hi, (long long)(d / 2), (long long)d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_to_the_cap_and_stays),
		cmocka_unit_test(test_jittered_within_half_to_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
