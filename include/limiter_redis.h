/*
 * limiter_redis: the limiter (limiter.h) as counters in the Redis every node
 * shares, so rate_phone, lockout and rate_ip hold across nodes. Same sliding
 * windows as in memory: at most n events in any span of `seconds`, and the
 * event reaching n locks the key for a full window (keys with a TTL in
 * Redis). One round trip a call.
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

/* The Lua a script that counts starts with (limiter_redis's own, and
 * store_redis's answer, which counts in the same step). The events of key k
 * (<prefix><key>) are a sorted set of Redis-clock ms; its lock is the same
 * name under mnmfa:L: instead of mnmfa:l: (so no key's events can be
 * another's lock). lr_old(k, n): an older version's string counter at k
 * (a fixed window's count) is dropped, and one already at n becomes the lock
 * for what was left of its window, so a phone locked before an upgrade stays
 * locked after it; every script calls it on each key before reading it.
 * lr_locked(k): ms the lock lasts, 0 none. lr_hit(k, n, w):
 * 0 and 1 when this event reached n (and locked k for w ms), 0 and 0 when
 * counted, or ms left and 0 when refused (nothing counted). Each member is
 * the event's Redis time in us, made unique with '+'s. */
#define LIMITER_REDIS_LUA \
	"local function lr_lock(k) return 'mnmfa:L:'..string.sub(k,9) end\n" \
	"local function lr_locked(k) local t=redis.call('PTTL',lr_lock(k))\n" \
	"  if t==-1 then redis.call('PEXPIRE',lr_lock(k),1) return 1 end\n" \
	"  if t<1 then return 0 end return t end\n" \
	"local function lr_old(k,n) if redis.call('TYPE',k).ok~='string' then return end\n" \
	"  if tonumber(redis.call('GET',k) or '0')>=n then local t=redis.call('PTTL',k)\n" \
	"    if t>0 then redis.call('SET',lr_lock(k),'1','PX',t) end end\n" \
	"  redis.call('DEL',k) end\n" \
	"local function lr_hit(k,n,w)\n" \
	"  lr_old(k,n)\n" \
	"  local t=lr_locked(k) if t>0 then return t,0 end\n" \
	"  local c=redis.call('TIME')\n" \
	"  local now=tonumber(c[1])*1000+math.floor(tonumber(c[2])/1000)\n" \
	"  local m=c[1]..string.format('%06d',tonumber(c[2]))\n" \
	"  redis.call('ZREMRANGEBYSCORE',k,'-inf',now-w)\n" \
	"  local cnt=redis.call('ZCARD',k)\n" \
	"  if cnt>=n then local o=redis.call('ZRANGE',k,0,0,'WITHSCORES')\n" \
	"    t=tonumber(o[2])+w-now if t<1 then t=1 end return t,0 end\n" \
	"  while redis.call('ZSCORE',k,m) do m=m..'+' end\n" \
	"  redis.call('ZADD',k,now,m) redis.call('PEXPIRE',k,w)\n" \
	"  if cnt+1>=n then redis.call('SET',lr_lock(k),'1','PX',w) return 0,1 end\n" \
	"  return 0,0 end\n"

/* How a Redis limiter keeps its counts, for a script that counts in the same
 * step (store_redis's answer): the events of key are <prefix><key>, counted
 * with LIMITER_REDIS_LUA. */
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
