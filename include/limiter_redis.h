/*
 * limiter_redis: the limiter (limiter.h) as counters in the Redis every node
 * shares, so rate_phone, lockout and rate_ip hold across nodes. Same fixed
 * windows as in memory: a key's window starts at its first counted event
 * and lasts `seconds` (a key with a TTL in Redis). One round trip a call.
 */
#ifndef MNMFA_LIMITER_REDIS_H
#define MNMFA_LIMITER_REDIS_H

#include "limiter.h"

#include "redis.h"

/* name tells the limits apart in Redis ("rate_phone", "lockout", "rate_ip").
 * redis is shared, not owned. When Redis cannot be reached, hit and blocked
 * answer 0 (nothing is refused on a limit that cannot be read: the store
 * call that follows fails too, and is answered 503). */
struct limiter *limiter_redis_new(struct redis *redis, const char *name, int n, int seconds);

/* How a Redis limiter keeps its counts, for a script that counts in the same
 * step (store_redis's answer): the counter of key is <prefix><key>, a string
 * with a TTL of the window. */
struct limiter_redis_spec {
	struct redis *redis;
	char prefix[64];
	int n;
	long long window_ms;
};
/* 0 and the spec for a Redis limiter; -1 for any other. */
int limiter_redis_spec(const struct limiter *l, struct limiter_redis_spec *out);

/* limiter_hit as a command to send in a pipeline with others (one round
 * trip): fills cmd (its argv points into the caller's av[3] and k); the
 * reply gives limiter_hit's result through limiter_redis_hit_result. -1 for
 * a limiter not in Redis. */
#define LIMITER_REDIS_KEY_MAX 192
int limiter_redis_hit_cmd(struct limiter *l, const char *key, size_t len, struct redis_cmd *cmd,
                          const char *av[3], char k[LIMITER_REDIS_KEY_MAX]);
int limiter_redis_hit_result(const redisReply *rep);

#endif
