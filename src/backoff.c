/*
 * backoff: the retry delay of the sender (notify.c): exponential from a base,
 * capped, with jitter so that rows that failed together (Chatfuel down for a
 * minute) do not all come back in the same millisecond. Half of the delay is
 * fixed so that a retry is never immediate, half random for the spread.
 */
#include "backoff.h"

int64_t backoff(int attempts, int64_t base_ms, int64_t cap_ms, rng_fn rng, void *ctx)
{
	int64_t d = base_ms > 0 ? base_ms : 1;

	if (cap_ms < d)
		cap_ms = d;
	/* doubling stops at the cap, so d never exceeds cap_ms (no overflow) */
	for (int i = 1; i < attempts && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	return d / 2 + (int64_t)(rng(ctx) % (uint64_t)(d / 2 + 1));
}
