/*
 * store_impl: what an implementation of the store interface (store.h)
 * provides. Only the implementations include this: the memory table
 * (store_mem.c) and Redis (store_redis.c). Each embeds `struct store` as its
 * first member; store.c forwards every call through `ops`.
 */
#ifndef MNMFA_STORE_IMPL_H
#define MNMFA_STORE_IMPL_H

#include "store.h"

struct store_ops {
	void (*free)(struct store *s);
	enum store_result (*put)(struct store *s, const struct chal *c, struct now now);
	enum store_result (*get)(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
	                         struct chal *out);
	enum store_result (*take)(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
	                          const char *answer, size_t answer_len, struct chal *out);
	enum store_result (*finish)(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
	                            enum chal_status status, struct chal *out);
	size_t (*sweep)(struct store *s, struct now now, store_expired_fn on_expired, void *ctx);
	enum store_result (*reopen)(struct store *s, const uint8_t id[PAGE_ID_BYTES],
	                            const struct question *q, struct now now);
	size_t (*cancel_pending)(struct store *s, struct now now, store_expired_fn on_canceled, void *ctx);
	size_t (*lock_phone)(struct store *s, const char *phone_key, struct now now, store_expired_fn on_locked,
	                     void *ctx);
	/* NULL: nothing to settle (memory). */
	size_t (*lock_settle)(struct store *s, struct now now, store_expired_fn on_locked, void *ctx);
	/* NULL: store_get_counted calls limiter_hit, then get. */
	enum store_result (*get_counted)(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
	                                 struct chal *out, struct limiter *l, const char *key, size_t len,
	                                 int *limit_secs);
	/* NULL: store_answer runs store_answer_steps. */
	enum store_result (*answer)(struct store *s, struct limiter *lockout, const uint8_t id[PAGE_ID_BYTES],
	                            struct now now, const char *answer, size_t answer_len,
	                            struct store_answer *out);
	/* NULL: never in doubt (store_settle answers STORE_NOT_FOUND). */
	enum store_result (*settle)(struct store *s, const uint8_t id[PAGE_ID_BYTES], const char *token,
	                            struct store_answer *out);
	/* NULL: store_withdraw finishes the record as canceled. */
	enum store_result (*withdraw)(struct store *s, const uint8_t id[PAGE_ID_BYTES]);
	size_t (*pending)(const struct store *s);
	size_t (*size)(const struct store *s);
};

struct store {
	const struct store_ops *ops;
};

/* store_answer as separate calls: get, the lockout's hit, take or finish,
 * the lockout's blocked or refund. */
enum store_result store_answer_steps(struct store *s, struct limiter *lockout, const uint8_t id[PAGE_ID_BYTES],
                                     struct now now, const char *answer, size_t answer_len,
                                     struct store_answer *out);

#endif
