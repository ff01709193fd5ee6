/*
 * limiter_redis: fixed-window counters in Redis at mnmfa:l:<limit>:<key>, a
 * string holding the count with a TTL of the window. Each call is one Lua
 * script, atomic in Redis, so two nodes counting the same phone at once
 * cannot both pass the limit. The window's end is the key's TTL, read with
 * Redis's clock; callers' now_ms is not needed here.
 */
#include "limiter_redis.h"
#include "limiter_impl.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LR_KEY_MAX 192
#define LR_NAME_MAX 32

/* KEYS: counter. ARGV: n window_ms. 0 counted, else ms left (>= 1). */
static const char lr_lua_hit[] =
	"local c=tonumber(redis.call('GET',KEYS[1]) or '0')\n"
	"if c>=tonumber(ARGV[1]) then local t=redis.call('PTTL',KEYS[1])\n"
	"  if t<1 then redis.call('PEXPIRE',KEYS[1],ARGV[2]) t=tonumber(ARGV[2]) end return t end\n"
	"if redis.call('INCR',KEYS[1])==1 then redis.call('PEXPIRE',KEYS[1],ARGV[2]) end\n"
	"return 0\n";

/* KEYS: counter. ARGV: n. 0 under the limit, else ms left. */
static const char lr_lua_blocked[] =
	"local c=tonumber(redis.call('GET',KEYS[1]) or '0')\n"
	"if c<tonumber(ARGV[1]) then return 0 end\n"
	"local t=redis.call('PTTL',KEYS[1]) if t<1 then return 1 end return t\n";

/* KEYS: counter. Gives one back. */
static const char lr_lua_refund[] =
	"local c=tonumber(redis.call('GET',KEYS[1]) or '0')\n"
	"if c>0 then redis.call('DECR',KEYS[1]) end return 0\n";

enum { LR_HIT, LR_BLOCKED, LR_REFUND, LR_NSCRIPTS };

struct rlimiter {
	struct limiter base;         /* first: the interface */
	struct redis *redis;
	struct redis_script scripts[LR_NSCRIPTS];
	char name[LR_NAME_MAX];
	char n[16], window_ms[24];
};

static int lr_call(struct rlimiter *l, int script, const char *key, size_t len, bool with_window)
{
	char k[LR_KEY_MAX];
	const char *av[3];
	redisReply *rep;
	long long v = 0;

	if (len > LR_KEY_MAX - LR_NAME_MAX - 16)
		len = LR_KEY_MAX - LR_NAME_MAX - 16;   /* keys are phones and addresses: short */
	snprintf(k, sizeof k, "mnmfa:l:%s:%.*s", l->name, (int)len, key);
	av[0] = k;
	av[1] = l->n;
	av[2] = l->window_ms;
	rep = redis_eval(l->redis, &l->scripts[script], 1, with_window ? 3 : 2, av, NULL, 0);
	if (rep == NULL)
		return 0;
	if (rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	freeReplyObject(rep);
	return v <= 0 ? 0 : (int)((v + 999) / 1000);
}

static int lr_hit(struct limiter *base, const char *key, size_t len, int64_t now_ms)
{
	(void)now_ms;
	return lr_call((struct rlimiter *)base, LR_HIT, key, len, true);
}

static int lr_blocked(struct limiter *base, const char *key, size_t len, int64_t now_ms)
{
	(void)now_ms;
	return lr_call((struct rlimiter *)base, LR_BLOCKED, key, len, false);
}

static void lr_refund(struct limiter *base, const char *key, size_t len, int64_t now_ms)
{
	(void)now_ms;
	(void)lr_call((struct rlimiter *)base, LR_REFUND, key, len, false);
}

static void lr_free(struct limiter *base)
{
	free(base);
}

static const struct limiter_ops lr_ops = {
	.free = lr_free,
	.hit = lr_hit,
	.blocked = lr_blocked,
	.refund = lr_refund,
};

struct limiter *limiter_redis_new(struct redis *redis, const char *name, int n, int seconds)
{
	struct rlimiter *l = xcalloc(1, sizeof *l);

	l->base.ops = &lr_ops;
	l->redis = redis;
	snprintf(l->name, sizeof l->name, "%s", name);
	snprintf(l->n, sizeof l->n, "%d", n);
	snprintf(l->window_ms, sizeof l->window_ms, "%lld", (long long)seconds * 1000);
	redis_script_init(&l->scripts[LR_HIT], "limiter hit", lr_lua_hit);
	redis_script_init(&l->scripts[LR_BLOCKED], "limiter blocked", lr_lua_blocked);
	redis_script_init(&l->scripts[LR_REFUND], "limiter refund", lr_lua_refund);
	return &l->base;
}
