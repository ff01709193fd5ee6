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

int limiter_hit(struct limiter *l, const char *key, size_t len, struct now now)
{
	return l->ops->hit(l, key, len, now);
}

int limiter_blocked(struct limiter *l, const char *key, size_t len, struct now now)
{
	return l->ops->blocked(l, key, len, now);
}

int limiter_hit_unless(struct limiter *l, struct limiter *gate, const char *key, size_t len,
                       struct now now, int *gate_secs)
{
	if (l->ops->hit_unless != NULL)
		return l->ops->hit_unless(l, gate, key, len, now, gate_secs);
	*gate_secs = limiter_blocked(gate, key, len, now);
	return *gate_secs > 0 ? 0 : limiter_hit(l, key, len, now);
}

void limiter_refund(struct limiter *l, const char *key, size_t len, struct now now)
{
	l->ops->refund(l, key, len, now);
}
