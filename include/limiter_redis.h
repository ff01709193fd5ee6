/*
 * limiter_redis: the limiter (limiter.h) as counters in the Redis every node
 * shares, so rate_phone, lockout and rate_ip hold across nodes. Same fixed
 * windows as in memory: a key's window starts at its first counted event
 * and lasts `seconds` (a key with a TTL in Redis). One round trip a call.
 */
#ifndef MNMFA_LIMITER_REDIS_H
#define MNMFA_LIMITER_REDIS_H

#include "limiter.h"

struct redis;

/* name tells the limits apart in Redis ("rate_phone", "lockout", "rate_ip").
 * redis is shared, not owned. When Redis cannot be reached, hit and blocked
 * answer 0 (nothing is refused on a limit that cannot be read: the store
 * call that follows fails too, and is answered 503). */
struct limiter *limiter_redis_new(struct redis *redis, const char *name, int n, int seconds);

#endif
