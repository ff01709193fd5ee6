/*
 * limiter_impl: what an implementation of the limiter interface (limiter.h)
 * provides. Only the implementations include this: memory (limiter_mem.c)
 * and Redis (limiter_redis.c). Each embeds `struct limiter` first.
 */
#ifndef MNMFA_LIMITER_IMPL_H
#define MNMFA_LIMITER_IMPL_H

#include "limiter.h"

struct limiter_ops {
	void (*free)(struct limiter *l);
	int (*hit)(struct limiter *l, const char *key, size_t len, struct now now);
	int (*blocked)(struct limiter *l, const char *key, size_t len, struct now now);
	void (*refund)(struct limiter *l, const char *key, size_t len, struct now now);
	/* NULL: limiter_hit_unless makes the two calls. */
	int (*hit_unless)(struct limiter *l, struct limiter *gate, const char *key, size_t len,
	                  struct now now, int *gate_secs);
};

struct limiter {
	const struct limiter_ops *ops;
};

#endif
