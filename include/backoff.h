/*
 * backoff: how long a failed delivery waits before its next attempt. Pure: the
 * inputs are the arguments and an injected rng_fn, no clock, no I/O, so it is
 * unit-tested on its own (tests/unit/test_backoff.c).
 */
#ifndef MNMFA_BACKOFF_H
#define MNMFA_BACKOFF_H

#include "challenge.h"          /* rng_fn */

#include <stdint.h>

/* The delay in ms before attempt attempts+1, after attempts (>= 1) failed ones:
 * d = base_ms * 2^(attempts-1), at most cap_ms, then half fixed and half
 * random: a value in [d/2, d/2 + d/2] drawn with rng. Never overflows, for any
 * attempts. base_ms < 1 counts as 1, cap_ms < base_ms as base_ms. */
int64_t backoff(int attempts, int64_t base_ms, int64_t cap_ms, rng_fn rng, void *ctx);

#endif
