/*
 * limiter_redis: sliding windows in Redis, as limiter_mem keeps them in
 * memory: the key's events are a sorted set at mnmfa:l:<limit>:<key> scored
 * by Redis's clock in ms (at most n in any span of the window), and the
 * event reaching n sets mnmfa:L:<limit>:<key> for a full window (the lock).
 * Both keys have a TTL of the window. Each call is one Lua script, atomic in
 * Redis, so two nodes counting the same phone at once cannot both pass the
 * limit; the times are Redis's (TIME), so callers' `now` is not needed here
 * and no node's clock step moves a window.
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

#define LR_KEY_MAX LIMITER_REDIS_KEY_MAX
#define LR_PREFIX_FMT "mnmfa:l:%s:"
#define LR_NAME_MAX 32

/* KEYS: events. ARGV: n window_ms. 0 counted, else ms left (>= 1). */
static const char lr_lua_hit[] = LIMITER_REDIS_LUA
	"return (lr_hit(KEYS[1],tonumber(ARGV[1]),tonumber(ARGV[2])))\n";

/* KEYS: events. ARGV: n. 0 not locked, else ms left. */
static const char lr_lua_blocked[] = LIMITER_REDIS_LUA
	"lr_old(KEYS[1],tonumber(ARGV[1])) return lr_locked(KEYS[1])\n";

/* KEYS: events. ARGV: n. Gives back the newest event. A lock can only have
 * come from it (a locked key counts nothing), so a count back below n lifts
 * the lock. */
static const char lr_lua_refund[] = LIMITER_REDIS_LUA
	"lr_old(KEYS[1],tonumber(ARGV[1])) if redis.call('EXISTS',KEYS[1])==0 then return 0 end\n"
	"redis.call('ZPOPMAX',KEYS[1])\n"
	"if redis.call('ZCARD',KEYS[1])<tonumber(ARGV[1]) then redis.call('DEL',lr_lock(KEYS[1])) end\n"
	"return 0\n";

/* KEYS: events, gate's events. ARGV: n window_ms gate_n. {gate ms left, 0}
 * when the gate is locked (nothing counted), else {0, as hit}. */
static const char lr_lua_hit_unless[] = LIMITER_REDIS_LUA
	"lr_old(KEYS[2],tonumber(ARGV[3])) local g=lr_locked(KEYS[2]) if g>0 then return {g,0} end\n"
	"return {0,(lr_hit(KEYS[1],tonumber(ARGV[1]),tonumber(ARGV[2])))}\n";

enum { LR_HIT, LR_BLOCKED, LR_REFUND, LR_HIT_UNLESS, LR_NSCRIPTS };

struct rlimiter {
	struct limiter base;         /* first: the interface */
	struct redis *redis;
	struct redis_script scripts[LR_NSCRIPTS];
	char name[LR_NAME_MAX];
	char n[16], window_ms[24];     /* as script arguments */
	int limit;
	long long window;
};

static const struct limiter_ops lr_ops;

static int lr_secs(long long ms)
{
	return ms <= 0 ? 0 : (int)((ms + 999) / 1000);
}

static void lr_key(const struct rlimiter *l, const char *key, size_t len, char k[LR_KEY_MAX])
{
	if (len > LR_KEY_MAX - LR_NAME_MAX - 16)
		len = LR_KEY_MAX - LR_NAME_MAX - 16;   /* keys are phones and addresses: short */
	snprintf(k, LR_KEY_MAX, LR_PREFIX_FMT "%.*s", l->name, (int)len, key);
}

static int lr_call(struct rlimiter *l, int script, const char *key, size_t len, bool with_window)
{
	char k[LR_KEY_MAX];
	const char *av[3];
	redisReply *rep;
	long long v = 0;

	lr_key(l, key, len, k);
	av[0] = k;
	av[1] = l->n;
	av[2] = l->window_ms;
	rep = redis_eval(l->redis, &l->scripts[script], 1, with_window ? 3 : 2, av, NULL, 0);
	if (rep == NULL)
		return 0;
	if (rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	freeReplyObject(rep);
	return lr_secs(v);
}

static int lr_hit(struct limiter *base, const char *key, size_t len, struct now now)
{
	(void)now;
	return lr_call((struct rlimiter *)base, LR_HIT, key, len, true);
}

static int lr_blocked(struct limiter *base, const char *key, size_t len, struct now now)
{
	(void)now;
	return lr_call((struct rlimiter *)base, LR_BLOCKED, key, len, false);
}

static void lr_refund(struct limiter *base, const char *key, size_t len, struct now now)
{
	(void)now;
	(void)lr_call((struct rlimiter *)base, LR_REFUND, key, len, false);
}

static int lr_hit_unless(struct limiter *base, struct limiter *gate, const char *key, size_t len,
                         struct now now, int *gate_secs)
{
	struct rlimiter *l = (struct rlimiter *)base;
	const struct rlimiter *g = (const struct rlimiter *)gate;
	char k[LR_KEY_MAX], gk[LR_KEY_MAX];
	const char *av[5];
	redisReply *rep;
	int secs = 0;

	if (gate->ops != &lr_ops || g->redis != l->redis) {
		*gate_secs = limiter_blocked(gate, key, len, now);
		return *gate_secs > 0 ? 0 : lr_hit(base, key, len, now);
	}
	lr_key(l, key, len, k);
	lr_key(g, key, len, gk);
	av[0] = k;
	av[1] = gk;
	av[2] = l->n;
	av[3] = l->window_ms;
	av[4] = g->n;
	*gate_secs = 0;
	rep = redis_eval(l->redis, &l->scripts[LR_HIT_UNLESS], 2, 5, av, NULL, 0);
	if (rep == NULL)
		return 0;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER) {
		*gate_secs = lr_secs(rep->element[0]->integer);
		secs = lr_secs(rep->element[1]->integer);
	}
	freeReplyObject(rep);
	return secs;
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
	.hit_unless = lr_hit_unless,
};

int limiter_redis_spec(const struct limiter *base, struct limiter_redis_spec *out)
{
	const struct rlimiter *l = (const struct rlimiter *)base;

	if (base == NULL || base->ops != &lr_ops)
		return -1;
	out->redis = l->redis;
	snprintf(out->prefix, sizeof out->prefix, LR_PREFIX_FMT, l->name);
	out->n = l->limit;
	out->window_ms = l->window;
	return 0;
}

int limiter_redis_hit_cmd(struct limiter *base, const char *key, size_t len, struct redis_cmd *cmd,
                          const char *av[3], char k[LIMITER_REDIS_KEY_MAX])
{
	struct rlimiter *l = (struct rlimiter *)base;

	if (base == NULL || base->ops != &lr_ops)
		return -1;
	lr_key(l, key, len, k);
	av[0] = k;
	av[1] = l->n;
	av[2] = l->window_ms;
	memset(cmd, 0, sizeof *cmd);
	cmd->script = &l->scripts[LR_HIT];
	cmd->nkeys = 1;
	cmd->argc = 3;
	cmd->argv = av;
	return 0;
}

int limiter_redis_hit_result(const redisReply *rep)
{
	return rep != NULL && rep->type == REDIS_REPLY_INTEGER ? lr_secs(rep->integer) : 0;
}

struct limiter *limiter_redis_new(struct redis *redis, const char *name, int n, int seconds)
{
	struct rlimiter *l = xcalloc(1, sizeof *l);

	l->base.ops = &lr_ops;
	l->redis = redis;
	snprintf(l->name, sizeof l->name, "%s", name);
	l->limit = n;
	l->window = (long long)seconds * 1000;
	snprintf(l->n, sizeof l->n, "%d", n);
	snprintf(l->window_ms, sizeof l->window_ms, "%lld", (long long)seconds * 1000);
	redis_script_init(&l->scripts[LR_HIT], "limiter hit", lr_lua_hit);
	redis_script_init(&l->scripts[LR_BLOCKED], "limiter blocked", lr_lua_blocked);
	redis_script_init(&l->scripts[LR_REFUND], "limiter refund", lr_lua_refund);
	redis_script_init(&l->scripts[LR_HIT_UNLESS], "limiter hit unless", lr_lua_hit_unless);
	return &l->base;
}
