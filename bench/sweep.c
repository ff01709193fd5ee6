/*
 * bench/sweep: what one expiry sweep costs with many live challenges, for
 * `make bench` (not a test). Puts LIVE pending challenges into the memory
 * store, minted over SWEEP_MINT_S seconds at an even rate and each living
 * SWEEP_LIFE_S seconds, then sweeps every SWEEP_INTERVAL_MS of simulated
 * time: SWEEP_TICKS sweeps before the first expiry (nothing due: what a
 * tick costs with that many live), then SWEEP_TICKS while they expire
 * (SWEEP_LIVE / SWEEP_MINT_S a second). Prints one line:
 *   SWEEP live=N idle_median_us=.. idle_max_us=.. due_median_us=..
 *   due_per_tick=.. us_per_expiry=.. reported=R
 * Usage: sweep [LIVE]
 */
#include "challenge.h"
#include "server.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWEEP_LIVE_DEFAULT 1000000
#define SWEEP_MINT_S 40              /* 25,000 mints a second */
#define SWEEP_LIFE_S 600
#define SWEEP_TICKS 40               /* 20 s of sweeps, twice */
#define SWEEP_T0 1800000000000LL

static int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void on_expired(void *ctx, const struct chal *c)
{
	(void)c;
	(*(size_t *)ctx)++;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long live = argc > 1 ? atol(argv[1]) : SWEEP_LIVE_DEFAULT;
	struct store *s;
	struct chal c;
	int64_t t[SWEEP_TICKS], idle[SWEEP_TICKS], start, due_total = 0;
	size_t reported = 0;

	if (live <= 0) {
		fprintf(stderr, "usage: %s [LIVE]\n", argv[0]);
		return 2;
	}
	s = store_new((size_t)live);
	memset(&c, 0, sizeof c);
	strcpy(c.client_id, "bench-client");
	strcpy(c.phone, "+5215550000000");
	strcpy(c.flow, "bench_flow");
	for (long i = 0; i < live; i++) {
		uint64_t a = (uint64_t)i * 0x9e3779b97f4a7c15ULL + 1, b = ~a * 0xd6e8feb86659fd93ULL;
		memcpy(c.id, &a, 8);
		memcpy(c.id + 8, &b, 8);
		c.created_ms = SWEEP_T0 + i * (SWEEP_MINT_S * 1000LL) / live;
		c.expires_ms = c.created_ms + SWEEP_LIFE_S * 1000LL;
		if (store_put(s, &c, (struct now){ c.created_ms, c.created_ms }) != STORE_OK) {
			fprintf(stderr, "sweep: store_put failed at %ld\n", i);
			return 1;
		}
	}
	/* nothing due yet, then the first expiries */
	start = SWEEP_T0 + SWEEP_LIFE_S * 1000LL - (int64_t)SWEEP_TICKS * SWEEP_INTERVAL_MS;
	for (int k = 0; k < 2 * SWEEP_TICKS; k++) {
		int64_t at = start + (int64_t)k * SWEEP_INTERVAL_MS;
		int64_t t0 = now_us();
		store_sweep(s, (struct now){ at, at }, on_expired, &reported);
		if (k < SWEEP_TICKS) {
			idle[k] = now_us() - t0;
		} else {
			t[k - SWEEP_TICKS] = now_us() - t0;
			due_total += t[k - SWEEP_TICKS];
		}
	}
	qsort(idle, SWEEP_TICKS, sizeof idle[0], cmp_i64);
	qsort(t, SWEEP_TICKS, sizeof t[0], cmp_i64);
	printf("SWEEP live=%ld idle_median_us=%lld idle_max_us=%lld due_median_us=%lld due_per_tick=%zu "
	       "us_per_expiry=%.2f reported=%zu\n", live, (long long)idle[SWEEP_TICKS / 2],
	       (long long)idle[SWEEP_TICKS - 1], (long long)t[SWEEP_TICKS / 2],
	       reported / SWEEP_TICKS, reported ? (double)due_total / (double)reported : 0.0, reported);
	store_free(s);
	return 0;
}
