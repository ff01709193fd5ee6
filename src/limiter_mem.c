/*
 * limiter_mem: the in-memory limiter (limiter.h), the default: a fixed-window
 * counter per key. Keys are hashed with a per-process random seed (so nobody
 * can aim collisions at a phone) and kept as 64-bit hashes, never as text.
 * The table is open-addressed with LIMITER_PROBE slots per key: a new key
 * takes a free or finished window, else evicts the probe slot whose window
 * started first. Eviction forgets a count early, which only matters once more
 * than LIMITER_SLOTS keys are active in one window; locked keys are evicted
 * last.
 */
#include "limiter.h"
#include "limiter_impl.h"
#include "crypto.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define LIMITER_STRIPES 64

struct slot {
	uint64_t key;           /* 0: free */
	int64_t start_ms;       /* window start */
	uint32_t count;
};

struct mlimiter {
	struct limiter base;          /* first: the interface */
	struct slot *slots;
	size_t mask;
	uint32_t n;
	int64_t window_ms;
	uint64_t seed;
	pthread_mutex_t locks[LIMITER_STRIPES];
};

static const struct limiter_ops mem_ops;

struct limiter *limiter_new(int n, int seconds, size_t slots)
{
	struct mlimiter *l = xcalloc(1, sizeof *l);
	size_t cap = LIMITER_PROBE;

	while (cap < slots)
		cap <<= 1;
	l->base.ops = &mem_ops;
	l->slots = xcalloc(cap, sizeof *l->slots);
	l->mask = cap - 1;
	l->n = (uint32_t)n;
	l->window_ms = (int64_t)seconds * 1000;
	if (crypto_random(&l->seed, sizeof l->seed) < 0)
		l->seed = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < LIMITER_STRIPES; i++)
		pthread_mutex_init(&l->locks[i], NULL);
	return &l->base;
}

static void mem_free(struct limiter *base)
{
	struct mlimiter *l = (struct mlimiter *)base;

	if (l == NULL)
		return;
	for (int i = 0; i < LIMITER_STRIPES; i++)
		pthread_mutex_destroy(&l->locks[i]);
	free(l->slots);
	free(l);
}

/* Seeded FNV-1a with a final avalanche; never 0. */
static uint64_t key_hash(const struct mlimiter *l, const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ l->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* The key's slot (creating it when `create`), or NULL. Caller holds the stripe
 * lock; the probe window never crosses a stripe because stripes own aligned
 * groups of LIMITER_PROBE slots. */
static struct slot *slot_find(struct mlimiter *l, uint64_t h, int64_t now, bool create)
{
	size_t base = (size_t)h & l->mask & ~(size_t)(LIMITER_PROBE - 1);
	struct slot *victim = NULL;

	for (size_t i = 0; i < LIMITER_PROBE; i++) {
		struct slot *s = &l->slots[base + i];
		if (s->key == h)
			return s;
	}
	if (!create)
		return NULL;
	for (size_t i = 0; i < LIMITER_PROBE; i++) {
		struct slot *s = &l->slots[base + i];
		bool done = s->key == 0 || now - s->start_ms >= l->window_ms;
		if (done) {
			victim = s;
			break;
		}
		/* prefer evicting keys below their limit, then the oldest window */
		if (victim == NULL || (victim->count >= l->n && s->count < l->n) ||
		    ((victim->count >= l->n) == (s->count >= l->n) && s->start_ms < victim->start_ms))
			victim = s;
	}
	victim->key = h;
	victim->start_ms = now;
	victim->count = 0;
	return victim;
}

static pthread_mutex_t *stripe(struct mlimiter *l, uint64_t h)
{
	return &l->locks[(((size_t)h & l->mask) / LIMITER_PROBE) % LIMITER_STRIPES];
}

static int seconds_left(const struct mlimiter *l, const struct slot *s, int64_t now)
{
	int64_t ms = s->start_ms + l->window_ms - now;
	return ms <= 0 ? 1 : (int)((ms + 999) / 1000);
}

static int mem_hit(struct limiter *base, const char *key, size_t len, int64_t now_ms)
{
	struct mlimiter *l = (struct mlimiter *)base;
	uint64_t h = key_hash(l, key, len);
	pthread_mutex_t *m = stripe(l, h);
	struct slot *s;
	int rc = 0;

	pthread_mutex_lock(m);
	s = slot_find(l, h, now_ms, true);
	if (now_ms - s->start_ms >= l->window_ms) {
		s->start_ms = now_ms;
		s->count = 0;
	}
	if (s->count >= l->n)
		rc = seconds_left(l, s, now_ms);
	else
		s->count++;
	pthread_mutex_unlock(m);
	return rc;
}

static int mem_blocked(struct limiter *base, const char *key, size_t len, int64_t now_ms)
{
	struct mlimiter *l = (struct mlimiter *)base;
	uint64_t h = key_hash(l, key, len);
	pthread_mutex_t *m = stripe(l, h);
	struct slot *s;
	int rc = 0;

	pthread_mutex_lock(m);
	s = slot_find(l, h, now_ms, false);
	if (s != NULL && now_ms - s->start_ms < l->window_ms && s->count >= l->n)
		rc = seconds_left(l, s, now_ms);
	pthread_mutex_unlock(m);
	return rc;
}

static void mem_refund(struct limiter *base, const char *key, size_t len, int64_t now_ms)
{
	struct mlimiter *l = (struct mlimiter *)base;
	uint64_t h = key_hash(l, key, len);
	pthread_mutex_t *m = stripe(l, h);
	struct slot *s;

	pthread_mutex_lock(m);
	s = slot_find(l, h, now_ms, false);
	if (s != NULL && now_ms - s->start_ms < l->window_ms && s->count > 0)
		s->count--;
	pthread_mutex_unlock(m);
}

static const struct limiter_ops mem_ops = {
	.free = mem_free,
	.hit = mem_hit,
	.blocked = mem_blocked,
	.refund = mem_refund,
};
