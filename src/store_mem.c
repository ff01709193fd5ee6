/*
 * store_mem: the in-memory store (store.h), the default: one process's table
 * of live challenges and their tombstones.
 *
 * 64 shards, picked by the top bits of a hash of the 128-bit page id, each
 * with its own mutex and chained hash table (doubling when its load passes 1,
 * halving in the sweep when it falls below 1/4), so concurrent requests rarely
 * meet on a lock. A record is one allocation sized to fit: a compact header
 * (id, times, status, lang, the question) followed by client_id, phone and
 * flow, each NUL-terminated. Storing `struct chal` itself would cost ~700
 * bytes a record for its fixed buffers; a typical record here is ~176 bytes
 * with malloc's overhead, plus ~11 bytes of bucket array.
 *
 * max_pending bounds pending records only, through an atomic counter that a
 * put reserves with compare-and-swap before it allocates, so it is never
 * exceeded. Every transition out of pending happens under the shard lock and
 * releases one unit.
 *
 * Time: a record keeps its wall-clock times (minted, expires, decided) for
 * the answers and the log, and enforces its expiry and retention on the
 * monotonic clock (due_mono, decided_mono; now.mono_ms), so a step of the
 * wall clock neither stretches a link nor ends it early.
 *
 * Expiry: any operation that finds a pending record at or past due_mono
 * (get, take, finish or the sweep) moves it to expired on the spot, with
 * decided_ms = expires_ms, and flags it "unreported". Only the sweep calls
 * on_expired, once per flagged record, clearing the flag under the lock, so
 * each expiry is reported exactly once whoever noticed it first. The callback
 * runs outside the lock, on a copy; a record is never freed while unreported.
 *
 * A sweep costs what expires, not what is live: each shard keeps its records
 * on an intrusive list besides the hash chain (two pointers a record; the
 * wheels take 2 MB in all). Pending records hang in a timer wheel,
 * STORE_WHEEL_SLOTS slots of STORE_WHEEL_TICK_MS, by due_mono; the sweep visits only the slots whose
 * time has come since the last sweep (and the current one), and in each only
 * records that are due are taken out (one due rounds later stays). An expiry
 * a request noticed first moves to a short "unreported" list instead. Decided
 * records go to a tombstone list in the order they were decided, and the
 * sweep frees from its head while retention is over. An expiry joins that
 * list when the sweep reports it, at most a sweep after its decided_ms, so a
 * tombstone may be freed up to that much late; reads treat it as gone on
 * time all the same.
 *
 * A lockout ends its phone's pending records (store_lock_phone): each shard
 * also chains its pending records in STORE_PHONE_BUCKETS lists by a hash of
 * the phone's limiter key (two more pointers a record, 512 KB in all), kept
 * under the shard lock like the wheel, so a lockout visits 64 short lists
 * (pending / 65,536 records a list on average), not every record: 4-8 us
 * with 100,000 pending and 18-36 us with 1,000,000, where a walk of the
 * wheels took 20 ms and 0.4 s.
 *
 * Privacy: when a record leaves pending, its question's truth and options
 * (the date of birth and dates around it) are wiped; freed records are wiped.
 *
 * The record, shard and wheel structures and the moves between their lists
 * are store_mem_table.c's; this file holds the store's operations.
 */
#include "store_mem_table.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const struct store_ops mem_ops;

struct store *store_new(size_t max_pending)
{
	struct mstore *s = aligned_alloc(alignof(struct mstore), sizeof(struct mstore));

	if (s == NULL)
		fatal("%s: out of memory", __func__);
	memset(s, 0, sizeof *s);
	s->base.ops = &mem_ops;
	s->max_pending = max_pending;
	atomic_init(&s->retention_ms, STORE_DECIDED_TTL_MS);
	atomic_init(&s->pending, 0);
	atomic_init(&s->size, 0);
	for (size_t i = 0; i < STORE_SHARDS; i++) {
		struct shard *sh = &s->shards[i];
		if (pthread_mutex_init(&sh->lock, NULL) != 0)
			fatal("%s: pthread_mutex_init failed", __func__);
		sh->nbuckets = STORE_BUCKETS_MIN;
		sh->buckets = xcalloc(sh->nbuckets, sizeof *sh->buckets);
		sh->wheel = xcalloc(STORE_WHEEL_SLOTS, sizeof *sh->wheel);
		sh->phones = xcalloc(STORE_PHONE_BUCKETS, sizeof *sh->phones);
		sh->wheel_pos = INT64_MAX;   /* lowered by the first put */
		sh->tomb = NULL;
		sh->tomb_tail = &sh->tomb;
	}
	return &s->base;
}

static void mem_free(struct store *base)
{
	struct mstore *s = (struct mstore *)base;

	if (s == NULL)
		return;
	for (size_t i = 0; i < STORE_SHARDS; i++) {
		struct shard *sh = &s->shards[i];
		for (size_t b = 0; b < sh->nbuckets; b++) {
			struct rec *r = sh->buckets[b], *next;
			for (; r != NULL; r = next) {
				next = r->next;
				store_rec_free(r);
			}
		}
		free(sh->buckets);
		free(sh->wheel);
		free(sh->phones);
		pthread_mutex_destroy(&sh->lock);
	}
	free(s);
}

/* Takes one unit of max_pending, or fails without overshooting it. */
static bool store_reserve_pending(struct mstore *s)
{
	size_t n = atomic_load(&s->pending);

	do {
		if (n >= s->max_pending)
			return false;
	} while (!atomic_compare_exchange_weak(&s->pending, &n, n + 1));
	return true;
}

static enum store_result mem_put(struct store *base, const struct chal *c, struct now now)
{
	struct mstore *s = (struct mstore *)base;
	size_t clen = strnlen(c->client_id, CLIENT_ID_MAX);
	size_t plen = strnlen(c->phone, PHONE_MAX);
	size_t flen = strnlen(c->flow, FLOW_MAX_BYTES);
	uint64_t h = store_hash_id(c->id);
	struct shard *sh = store_shard_of(s, h);
	struct rec *r;
	char *p;

	if (!store_reserve_pending(s))
		return STORE_FULL;

	r = xmalloc(offsetof(struct rec, text) + clen + plen + flen + 3);
	memset(r, 0, offsetof(struct rec, text));
	memcpy(r->id, c->id, PAGE_ID_BYTES);
	r->created_ms = c->created_ms;
	r->expires_ms = c->expires_ms;
	r->due_mono = now.mono_ms + (c->expires_ms - now.wall_ms);
	r->status = CHAL_PENDING;            /* whatever c says: a put starts a challenge */
	r->lang = c->lang;
	r->q = c->q;
	r->client_len = (uint8_t)clen;
	r->phone_len = (uint8_t)plen;
	r->flow_len = (uint16_t)flen;
	p = r->text;
	memcpy(p, c->client_id, clen);
	p[clen] = '\0';
	p += clen + 1;
	memcpy(p, c->phone, plen);
	p[plen] = '\0';
	p += plen + 1;
	memcpy(p, c->flow, flen);
	p[flen] = '\0';

	pthread_mutex_lock(&sh->lock);
	if (store_find(sh, h, c->id) != NULL) {
		pthread_mutex_unlock(&sh->lock);
		/* 128 random bits never repeat; a repeat is a caller's bug, and
		 * overwriting a live challenge would hand it to someone else. */
		log_error("%s: duplicate page id refused", __func__);
		store_rec_free(r);
		atomic_fetch_sub(&s->pending, 1);
		return STORE_FULL;
	}
	r->next = sh->buckets[h & (sh->nbuckets - 1)];
	sh->buckets[h & (sh->nbuckets - 1)] = r;
	store_wheel_add(sh, r);
	store_phone_add(sh, r);
	if (++sh->count > sh->nbuckets)
		store_resize(sh, sh->nbuckets * 2);
	pthread_mutex_unlock(&sh->lock);
	atomic_fetch_add(&s->size, 1);
	return STORE_OK;
}

/* Locks the id's shard and finds its record, applying expiry and retention.
 * Returns the record (shard left locked) or NULL (shard unlocked). */
static struct rec *store_lock_rec(struct mstore *s, const uint8_t id[PAGE_ID_BYTES],
                                  struct now now, struct shard **shp)
{
	uint64_t h = store_hash_id(id);
	struct shard *sh = store_shard_of(s, h);
	struct rec **pp;

	pthread_mutex_lock(&sh->lock);
	pp = store_find(sh, h, id);
	if (pp == NULL)
		goto fail;
	store_expire_due(s, sh, *pp, now);
	if (store_retention_over(s, *pp, now))
		goto fail;
	*shp = sh;
	return *pp;
fail:
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static enum store_result mem_get(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                            struct chal *out)
{
	struct mstore *s = (struct mstore *)base;
	struct shard *sh;
	struct rec *r = store_lock_rec(s, id, now, &sh);
	enum store_result res;

	if (r == NULL)
		return STORE_NOT_FOUND;
	store_copy_out(r, now, out);
	res = store_result_of(r);
	pthread_mutex_unlock(&sh->lock);
	return res;
}

static enum store_result mem_take(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                             const char *answer, size_t answer_len, struct chal *out)
{
	struct mstore *s = (struct mstore *)base;
	struct shard *sh;
	struct rec *r = store_lock_rec(s, id, now, &sh);
	enum store_result res;

	if (r == NULL)
		return STORE_NOT_FOUND;
	res = store_result_of(r);
	if (res == STORE_OK) {
		bool right = challenge_check(&r->q, answer, answer_len);
		store_decide_now(s, sh, r, right ? CHAL_APPROVED : CHAL_DENIED, now);
	}
	store_copy_out(r, now, out);
	pthread_mutex_unlock(&sh->lock);
	return res;
}

static enum store_result mem_finish(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                               enum chal_status status, struct chal *out)
{
	struct mstore *s = (struct mstore *)base;
	struct shard *sh;
	struct rec *r;
	enum store_result res;

	/* Expired has its own path (reported by the sweep); pending is no end. */
	if (status != CHAL_CANCELED && status != CHAL_LOCKED && status != CHAL_APPROVED &&
	    status != CHAL_DENIED) {
		log_error("%s: cannot finish a challenge as %s", __func__, chal_status_name(status));
		return STORE_NOT_FOUND;
	}
	r = store_lock_rec(s, id, now, &sh);
	if (r == NULL)
		return STORE_NOT_FOUND;
	res = store_result_of(r);
	if (res == STORE_OK)
		store_decide_now(s, sh, r, status, now);
	store_copy_out(r, now, out);
	pthread_mutex_unlock(&sh->lock);
	return res;
}

/* Frees one tombstone: off its list and its hash chain. */
static void store_drop(struct mstore *s, struct shard *sh, struct rec *r)
{
	struct rec **pp = store_find(sh, store_hash_id(r->id), r->id);

	store_unlink(sh, r);
	if (pp != NULL)
		*pp = r->next;
	store_rec_free(r);
	sh->count--;
	atomic_fetch_sub(&s->size, 1);
}

/* The wheel slots due by now, from where the last sweep stopped: expires
 * what is due, moves it to the tombstones and copies up to STORE_SWEEP_BATCH
 * newly reportable records into batch; then frees the tombstones whose
 * retention is over. Shard locked. Returns how many were copied; *more says
 * the batch filled up first (the next call goes on from there). */
static size_t store_sweep_shard(struct mstore *s, struct shard *sh, struct now now,
                                struct chal *batch, bool *more)
{
	int64_t cur = store_wheel_slot(now.mono_ms);
	size_t n = 0;

	*more = false;
	while (sh->unreported != NULL) {
		struct rec *r = sh->unreported;

		if (n == STORE_SWEEP_BATCH) {
			*more = true;
			return n;
		}
		store_copy_out(r, now, &batch[n++]);
		r->unreported = 0;
		store_unlink(sh, r);
		store_tomb_add(sh, r);
	}
	if (sh->wheel_pos < cur - (STORE_WHEEL_SLOTS - 1))
		sh->wheel_pos = cur - (STORE_WHEEL_SLOTS - 1);   /* every slot once */
	while (sh->wheel_pos <= cur) {
		struct rec *r = sh->wheel[sh->wheel_pos & (STORE_WHEEL_SLOTS - 1)], *next;

		for (; r != NULL; r = next) {
			next = r->lnext;
			if (now.mono_ms < r->due_mono)
				continue;        /* later in this slot, or a later round */
			if (n == STORE_SWEEP_BATCH) {
				*more = true;
				return n;
			}
			store_decide(s, r, CHAL_EXPIRED, store_rec_due(r));
			store_copy_out(r, now, &batch[n++]);
			store_unlink(sh, r);
			store_tomb_add(sh, r);
		}
		if (sh->wheel_pos == cur)
			break;               /* the current slot is looked at again next time */
		sh->wheel_pos++;
	}
	while (sh->tomb != NULL && store_retention_over(s, sh->tomb, now))
		store_drop(s, sh, sh->tomb);
	return n;
}

/* Decided records are bounded too: while more than STORE_DECIDED_CAP_FACTOR x
 * max_pending of them are held, every sweep shortens their retention in
 * proportion (so a flood of decisions converges on the cap within a few
 * sweeps), and once well under the cap it grows back to the full hour.
 * Statuses no longer in memory are answered from the audit log. */
static void store_adjust_retention(struct mstore *s)
{
	size_t size = atomic_load(&s->size), pending = atomic_load(&s->pending);
	size_t decided = size > pending ? size - pending : 0;
	size_t cap = s->max_pending * STORE_DECIDED_CAP_FACTOR;
	long long ttl = atomic_load_explicit(&s->retention_ms, memory_order_relaxed);

	if (cap > 0 && decided > cap)
		ttl = (long long)((double)ttl * (double)cap / (double)decided);
	else if (decided < cap / 2 && ttl < STORE_DECIDED_TTL_MS)
		ttl = ttl * 2 + 1000 < STORE_DECIDED_TTL_MS ? ttl * 2 + 1000 : STORE_DECIDED_TTL_MS;
	atomic_store_explicit(&s->retention_ms, ttl, memory_order_relaxed);
}

static size_t mem_sweep(struct store *base, struct now now, store_expired_fn on_expired, void *ctx)
{
	struct mstore *s = (struct mstore *)base;
	struct chal *batch = xcalloc(STORE_SWEEP_BATCH, sizeof *batch);
	size_t reported = 0;

	store_adjust_retention(s);

	for (size_t i = 0; i < STORE_SHARDS; i++) {
		struct shard *sh = &s->shards[i];
		bool more;
		do {
			size_t n;

			pthread_mutex_lock(&sh->lock);
			n = store_sweep_shard(s, sh, now, batch, &more);
			if (sh->nbuckets > STORE_BUCKETS_MIN && sh->count < sh->nbuckets / 4)
				store_resize(sh, sh->nbuckets / 2);
			pthread_mutex_unlock(&sh->lock);
			/* Outside the lock: the callback may take its time or call
			 * back into the store. A full batch means a rescan; flags
			 * already cleared keep records from being reported twice. */
			for (size_t j = 0; j < n; j++)
				if (on_expired != NULL)
					on_expired(ctx, &batch[j]);
			reported += n;
		} while (more);
	}
	explicit_bzero(batch, STORE_SWEEP_BATCH * sizeof *batch);
	free(batch);
	return reported;
}

/* Shutdown: every record still pending is canceled and reported, so that no
 * challenge silently vanishes with the process. Same batching as the sweep. */
static size_t mem_cancel_pending(struct store *base, struct now now, store_expired_fn on_canceled, void *ctx)
{
	struct mstore *s = (struct mstore *)base;
	struct chal *batch = xcalloc(STORE_SWEEP_BATCH, sizeof *batch);
	size_t reported = 0;

	for (size_t i = 0; i < STORE_SHARDS; i++) {
		struct shard *sh = &s->shards[i];
		size_t n;
		do {
			n = 0;
			pthread_mutex_lock(&sh->lock);
			for (size_t w = 0; w < STORE_WHEEL_SLOTS && n < STORE_SWEEP_BATCH; w++) {
				struct rec *r = sh->wheel[w], *next;
				for (; r != NULL && n < STORE_SWEEP_BATCH; r = next) {
					next = r->lnext;
					if (r->status != CHAL_PENDING || now.mono_ms >= r->due_mono)
						continue;
					store_decide_now(s, sh, r, CHAL_CANCELED, now);
					store_copy_out(r, now, &batch[n++]);
				}
			}
			pthread_mutex_unlock(&sh->lock);
			for (size_t j = 0; j < n; j++)
				if (on_canceled != NULL)
					on_canceled(ctx, &batch[j]);
			reported += n;
		} while (n == STORE_SWEEP_BATCH);
	}
	explicit_bzero(batch, STORE_SWEEP_BATCH * sizeof *batch);
	free(batch);
	return reported;
}

/* A lockout: the phone's pending, unexpired records in every shard end as
 * locked, each reported once, batched as the sweep is (the callback outside
 * the lock). Overdue ones are left to the sweep. */
static size_t mem_lock_phone(struct store *base, const char *phone_key, struct now now,
                             store_expired_fn on_locked, void *ctx)
{
	struct mstore *s = (struct mstore *)base;
	struct chal *batch = xcalloc(STORE_SWEEP_BATCH, sizeof *batch);
	size_t bucket = store_phone_bucket(phone_key), reported = 0;

	for (size_t i = 0; i < STORE_SHARDS; i++) {
		struct shard *sh = &s->shards[i];
		size_t n;
		do {
			struct rec *r, *next;

			n = 0;
			pthread_mutex_lock(&sh->lock);
			for (r = sh->phones[bucket]; r != NULL && n < STORE_SWEEP_BATCH; r = next) {
				next = r->pnext;
				if (now.mono_ms >= r->due_mono || strcmp(store_phone_key(store_rec_phone(r)), phone_key) != 0)
					continue;
				store_decide_now(s, sh, r, CHAL_LOCKED, now);
				store_copy_out(r, now, &batch[n++]);
			}
			pthread_mutex_unlock(&sh->lock);
			for (size_t j = 0; j < n; j++)
				if (on_locked != NULL)
					on_locked(ctx, &batch[j]);
			reported += n;
		} while (n == STORE_SWEEP_BATCH);
	}
	explicit_bzero(batch, STORE_SWEEP_BATCH * sizeof *batch);
	free(batch);
	return reported;
}

/* Undoes a decision whose evidence could not be written (the audit log
 * failed): the page is pending again, so the person can answer once more. */
static enum store_result mem_reopen(struct store *base, const uint8_t id[PAGE_ID_BYTES], const struct question *q,
                               struct now now)
{
	struct mstore *s = (struct mstore *)base;
	uint64_t h = store_hash_id(id);
	struct shard *sh = store_shard_of(s, h);
	struct rec **pp;
	enum store_result res = STORE_NOT_FOUND;

	pthread_mutex_lock(&sh->lock);
	pp = store_find(sh, h, id);
	if (pp != NULL && ((*pp)->status == CHAL_APPROVED || (*pp)->status == CHAL_DENIED ||
	                   (*pp)->status == CHAL_LOCKED) && now.mono_ms < (*pp)->due_mono) {
		(*pp)->status = CHAL_PENDING;
		(*pp)->decided_ms = 0;
		(*pp)->q = *q;
		store_unlink(sh, *pp);
		store_wheel_add(sh, *pp);
		store_phone_add(sh, *pp);
		atomic_fetch_add(&s->pending, 1);
		res = STORE_OK;
	}
	pthread_mutex_unlock(&sh->lock);
	return res;
}

/* A mint whose `minted` row could not be written: the record goes as if it
 * had never been put (its page answers 404, nothing is reported). */
static enum store_result mem_withdraw(struct store *base, const uint8_t id[PAGE_ID_BYTES])
{
	struct mstore *s = (struct mstore *)base;
	uint64_t h = store_hash_id(id);
	struct shard *sh = store_shard_of(s, h);
	struct rec **pp, *r;

	pthread_mutex_lock(&sh->lock);
	pp = store_find(sh, h, id);
	if (pp == NULL || (*pp)->status != CHAL_PENDING) {
		pthread_mutex_unlock(&sh->lock);
		return STORE_NOT_FOUND;
	}
	r = *pp;
	store_phone_unlink(r);
	store_drop(s, sh, r);          /* off the wheel and the table, freed */
	pthread_mutex_unlock(&sh->lock);
	atomic_fetch_sub(&s->pending, 1);
	return STORE_OK;
}

static size_t mem_pending(const struct store *base)
{
	const struct mstore *s = (const struct mstore *)base;
	return atomic_load(&s->pending);
}

static size_t mem_size(const struct store *base)
{
	const struct mstore *s = (const struct mstore *)base;
	return atomic_load(&s->size);
}

static const struct store_ops mem_ops = {
	.free = mem_free,
	.put = mem_put,
	.get = mem_get,
	.take = mem_take,
	.finish = mem_finish,
	.sweep = mem_sweep,
	.reopen = mem_reopen,
	.cancel_pending = mem_cancel_pending,
	.lock_phone = mem_lock_phone,
	.withdraw = mem_withdraw,
	.pending = mem_pending,
	.size = mem_size,
};
