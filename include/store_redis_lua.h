/*
 * store_redis_lua: the Lua scripts store_redis.c runs in Redis, one per
 * transition of a challenge (put, take, answer, reopen, undo, sweep and its
 * acknowledgement, the lock of a phone's pending links, withdraw, settle)
 * and the read, each atomic in Redis and on Redis's clock. The key layout
 * and why each script exists are in store_redis.c's top comment; the C side of each
 * script (its arguments and reply) is the rs_* function of the same name.
 */
#ifndef MNMFA_STORE_REDIS_LUA_H
#define MNMFA_STORE_REDIS_LUA_H

#define RS_UNDO_MS 30000             /* a decision can be undone this long (within the page's life) */

enum rs_script {
	RS_PUT, RS_GET, RS_TAKE, RS_ANSWER, RS_REOPEN, RS_UNDO, RS_SWEEP, RS_SWEEP_ACK, RS_LOCK_PHONE, RS_WITHDRAW,
	RS_SETTLE, RS_NSCRIPTS
};

struct rs_script_src {
	const char *name;            /* in logs */
	const char *src;             /* the Lua text */
};

extern const struct rs_script_src store_redis_scripts[RS_NSCRIPTS];

#endif
