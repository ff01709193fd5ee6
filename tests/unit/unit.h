/*
 * unit.h: what several cmocka tests share: the cmocka includes in the order it
 * needs, and a seeded PRNG (xoshiro256** seeded by splitmix64) so statistical
 * tests are deterministic and never flake. Header-only, all static.
 */
#ifndef MNMFA_TESTS_UNIT_H
#define MNMFA_TESTS_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util.h"

/* One instant with both clocks reading ms: the tests that do not make them
 * diverge. */
#define AT(ms) ((struct now){ .wall_ms = (ms), .mono_ms = (ms) })

/* Fixed "random" sources for code that takes an RNG callback: the lowest
 * and the highest draw. */
static inline uint64_t rng_zero(void *ctx)
{
	(void)ctx;
	return 0;
}

static inline uint64_t rng_max(void *ctx)
{
	(void)ctx;
	return UINT64_MAX;
}

struct test_rng {
	uint64_t s[4];
};

static inline uint64_t test_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void test_rng_seed(struct test_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = test_splitmix64(&seed);
}

static inline uint64_t test_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* An rng_fn: ctx is a struct test_rng. */
static inline uint64_t test_rng_next(void *ctx)
{
	struct test_rng *r = ctx;
	uint64_t *s = r->s;
	uint64_t result = test_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = test_rotl(s[3], 45);
	return result;
}

#endif
