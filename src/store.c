/*
 * store: the interface every caller uses, forwarding to the implementation
 * chosen at start (store_new: memory; store_redis_new: Redis). What the
 * calls mean is in store.h; both implementations keep those meanings, and
 * the unit and end-to-end tests hold each to them.
 */
#include "store.h"
#include "store_impl.h"
#include "limiter.h"
#include "util.h"

#include <string.h>

const char *chal_status_name(enum chal_status s)
{
	switch (s) {
	case CHAL_PENDING: return "pending";
	case CHAL_APPROVED: return "approved";
	case CHAL_DENIED: return "denied";
	case CHAL_EXPIRED: return "expired";
	case CHAL_CANCELED: return "canceled";
	case CHAL_LOCKED: return "locked";
	}
	return "unknown";
}

void store_free(struct store *s)
{
	if (s != NULL)
		s->ops->free(s);
}

enum store_result store_put(struct store *s, const struct chal *c, struct now now)
{
	return s->ops->put(s, c, now);
}

enum store_result store_get(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                            struct chal *out)
{
	return s->ops->get(s, id, now, out);
}

enum store_result store_take(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                             const char *answer, size_t answer_len, struct chal *out)
{
	return s->ops->take(s, id, now, answer, answer_len, out);
}

enum store_result store_finish(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                               enum chal_status status, struct chal *out)
{
	return s->ops->finish(s, id, now, status, out);
}

size_t store_sweep(struct store *s, struct now now, store_expired_fn on_expired, void *ctx)
{
	return s->ops->sweep(s, now, on_expired, ctx);
}

enum store_result store_reopen(struct store *s, const uint8_t id[PAGE_ID_BYTES], const struct question *q,
                               struct now now)
{
	return s->ops->reopen(s, id, q, now);
}

size_t store_cancel_pending(struct store *s, struct now now, store_expired_fn on_canceled, void *ctx)
{
	return s->ops->cancel_pending(s, now, on_canceled, ctx);
}

size_t store_lock_phone(struct store *s, const char *phone_key, struct now now, store_expired_fn on_locked,
                        void *ctx)
{
	return s->ops->lock_phone(s, phone_key, now, on_locked, ctx);
}

size_t store_lock_settle(struct store *s, struct now now, store_expired_fn on_locked, void *ctx)
{
	return s->ops->lock_settle != NULL ? s->ops->lock_settle(s, now, on_locked, ctx) : 0;
}

enum store_result store_get_counted(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                    struct chal *out, struct limiter *l, const char *key, size_t len,
                                    int *limit_secs)
{
	if (s->ops->get_counted != NULL)
		return s->ops->get_counted(s, id, now, out, l, key, len, limit_secs);
	*limit_secs = limiter_hit(l, key, len, now);
	return store_get(s, id, now, out);
}

enum store_result store_answer_steps(struct store *s, struct limiter *lockout, const uint8_t id[PAGE_ID_BYTES],
                                     struct now now, const char *answer, size_t answer_len,
                                     struct store_answer *out)
{
	struct chal *c = &out->c;
	char key[PHONE_MAX + 1] = "";
	bool reserved = false;
	enum store_result sr;

	memset(out, 0, sizeof *out);
	sr = store_get(s, id, now, c);
	if (sr == STORE_UNAVAILABLE)
		return sr;
	out->pending = sr == STORE_OK;
	if (out->pending) {
		out->q_before = c->q;
		strlcpy_(key, store_phone_key(c->phone), sizeof key);
		/* counted before the check, so simultaneous answers cannot pass together */
		out->locked = limiter_hit(lockout, key, strlen(key), now) > 0;
		reserved = !out->locked;
	}
	if (out->locked)
		sr = store_finish(s, id, now, CHAL_LOCKED, c);
	else
		sr = store_take(s, id, now, answer, answer_len, c);
	if (sr == STORE_OK && c->status == CHAL_DENIED)
		out->lockout_reached = limiter_blocked(lockout, key, strlen(key), now) > 0;
	else if (reserved)
		limiter_refund(lockout, key, strlen(key), now);   /* right, or nothing decided */
	return sr;
}

enum store_result store_answer(struct store *s, struct limiter *lockout, const uint8_t id[PAGE_ID_BYTES],
                               struct now now, const char *answer, size_t answer_len,
                               struct store_answer *out)
{
	if (s->ops->answer != NULL)
		return s->ops->answer(s, lockout, id, now, answer, answer_len, out);
	return store_answer_steps(s, lockout, id, now, answer, answer_len, out);
}

enum store_result store_settle(struct store *s, const uint8_t id[PAGE_ID_BYTES], const char *token,
                               struct store_answer *out)
{
	memset(out, 0, sizeof *out);
	if (s->ops->settle == NULL)
		return STORE_NOT_FOUND;
	return s->ops->settle(s, id, token, out);
}

enum store_result store_withdraw(struct store *s, const uint8_t id[PAGE_ID_BYTES])
{
	/* An implementation without its own withdraw ends the record as
	 * canceled instead: its page then answers "already used". */
	if (s->ops->withdraw == NULL)
		return store_finish(s, id, now_read(), CHAL_CANCELED, NULL);
	return s->ops->withdraw(s, id);
}

size_t store_pending(const struct store *s)
{
	return s->ops->pending(s);
}

size_t store_size(const struct store *s)
{
	return s->ops->size(s);
}
