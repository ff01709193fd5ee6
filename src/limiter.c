/*
 * limiter: the interface every caller uses, forwarding to the implementation
 * chosen at start (limiter_new: memory; limiter_redis_new: Redis, shared by
 * every node). What the calls mean is in limiter.h.
 */
#include "limiter.h"
#include "limiter_impl.h"

void limiter_free(struct limiter *l)
{
	if (l != NULL)
		l->ops->free(l);
}

int limiter_hit(struct limiter *l, const char *key, size_t len, int64_t now_ms)
{
	return l->ops->hit(l, key, len, now_ms);
}

int limiter_blocked(struct limiter *l, const char *key, size_t len, int64_t now_ms)
{
	return l->ops->blocked(l, key, len, now_ms);
}

int limiter_hit_unless(struct limiter *l, struct limiter *gate, const char *key, size_t len,
                       int64_t now_ms, int *gate_secs)
{
	if (l->ops->hit_unless != NULL)
		return l->ops->hit_unless(l, gate, key, len, now_ms, gate_secs);
	*gate_secs = limiter_blocked(gate, key, len, now_ms);
	return *gate_secs > 0 ? 0 : limiter_hit(l, key, len, now_ms);
}

void limiter_refund(struct limiter *l, const char *key, size_t len, int64_t now_ms)
{
	l->ops->refund(l, key, len, now_ms);
}
