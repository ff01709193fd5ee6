/*
 * store_redis_impl: the Redis store's state (a private header of
 * store_redis.c and store_redis_doubt.c, which keeps its calls in doubt).
 */
#ifndef MNMFA_STORE_REDIS_IMPL_H
#define MNMFA_STORE_REDIS_IMPL_H

#include "store_impl.h"
#include "store_redis.h"
#include "store_redis_lua.h"
#include "store_redis_rec.h"
#include "redis.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define RS_DOUBT_MAX 1024            /* decisions (and lockouts) in doubt a node keeps */
#define RS_LOCK_DOUBT_MS (10 * 60 * 1000LL)   /* a lockout in doubt is asked about this long */

/* A call whose outcome is unknown (no reply): a take or finish, undone by
 * the next sweep if Redis did run it; or a lockout, asked again. */
struct rs_doubt {
	uint8_t id[PAGE_ID_BYTES];   /* a take or finish: its page, undone */
	char phone[PHONE_MAX + 1];   /* a lockout (else ""): its phone's key, asked again */
	char token[RS_TOKEN_HEX + 1];
	int64_t wall_ms;             /* a lockout: its instant */
	int64_t until_mono;          /* undoing (asking) is possible until then (mono_ms) */
};

struct rstore {
	struct store base;           /* first: the interface */
	struct redis *redis;
	struct redis_script scripts[RS_NSCRIPTS];
	size_t max_pending;
	char node[STORE_NODE_MAX + 1];
	char node_key[RS_KEY_MAX];
	char swept_key[RS_KEY_MAX];  /* mnmfa:xs:<node>: the last sweep's result */
	pthread_mutex_t sweep_lock;  /* one sweep at a time; guards the two below */
	long long sweep_seq;         /* the last sweep call's seq */
	long long sweep_ack;         /* the seq of the last sweep reply received (0: none yet) */
	pthread_mutex_t doubt_lock;  /* guards the three below */
	size_t reserved;             /* slots held for lockouts under way */
	struct rs_doubt *doubts;     /* RS_DOUBT_MAX */
	size_t ndoubts;
	atomic_size_t pending;       /* this node's, as of the last put or sweep */
};

/* store_redis_doubt.c. A deciding call got no reply (or no replica's
 * confirmation): kept for the next sweep to undo. */
void rs_doubt_add(struct rstore *s, const uint8_t id[PAGE_ID_BYTES], const char *token, struct now now);
/* The sweep's: undoes the takes and finishes in doubt that Redis did make. */
void rs_doubts_undo(struct rstore *s, struct now now);
size_t rs_lock_phone(struct store *base, const char *phone_key, struct now now, store_expired_fn on_locked,
                     void *ctx);
size_t rs_lock_settle(struct store *base, struct now now, store_expired_fn on_locked, void *ctx);

#endif
