/*
 * limiter_mem: the in-memory limiter (limiter.h), the default: a sliding
 * window per key. Each key keeps the times of its last n events (a ring), so
 * "n per window" means at most n in ANY span of the window's length -- a fixed
 * window would let 2n through around its edge. Reaching n locks the key for a
 * full window from that event ("locked until"), so a lockout set just before
 * an old event leaves the span still lasts the whole window.
 *
 * Keys are hashed with a per-process random seed (so nobody can aim
 * collisions at a phone) and kept as 64-bit hashes, never as text. The table
 * is open-addressed with LIMITER_PROBE slots per key: a new key takes a free
 * or idle slot, else evicts the probe slot whose newest event is oldest;
 * locked keys are evicted last. Eviction forgets a count early, which only
 * matters once more than the table's keys are active in one window. The
 * event rings share one array of at most LIMITER_EVENTS_MAX times: a large n
 * gets fewer slots. Times are CLOCK_MONOTONIC ms (now.mono_ms): a step of the
 * wall clock changes no window and no lock.
 */
#include "limiter.h"
#include "limiter_impl.h"
#include "crypto.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define LIMITER_STRIPES 64
#define LIMITER_EVENTS_MAX (1u << 22)   /* event times held per limiter at most (32 MiB) */

struct slot {
	uint64_t key;           /* 0: free */
	int64_t last_ms;        /* the newest event, for eviction */
	int64_t locked_until;   /* 0: not locked */
	uint32_t head, count;   /* the ring: oldest at head, count events */
};

struct mlimiter {
	struct limiter base;          /* first: the interface */
	struct slot *slots;
	int64_t *events;              /* n per slot */
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

	while (cap < slots && (cap << 1) * (size_t)n <= LIMITER_EVENTS_MAX)
		cap <<= 1;
	l->base.ops = &mem_ops;
	/* Mapped: pages of slots and rings no key has reached cost nothing. */
	l->slots = xmap_zeroed(cap, sizeof *l->slots);
	l->events = xmap_zeroed(cap * (size_t)n, sizeof *l->events);
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
	xunmap_zeroed(l->events, (l->mask + 1) * (size_t)l->n, sizeof *l->events);
	xunmap_zeroed(l->slots, l->mask + 1, sizeof *l->slots);
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

static int64_t *ring(struct mlimiter *l, const struct slot *s)
{
	return l->events + (size_t)(s - l->slots) * l->n;
}

/* Forgets the events that left the span (now - window, now] and a lock
 * that ended. */
static void prune(struct mlimiter *l, struct slot *s, int64_t now)
{
	int64_t *ev = ring(l, s);

	while (s->count > 0 && now - ev[s->head] >= l->window_ms) {
		s->head = (s->head + 1) % l->n;
		s->count--;
	}
	if (s->locked_until != 0 && now >= s->locked_until)
		s->locked_until = 0;
}

static bool locked(const struct slot *s, int64_t now)
{
	return s->locked_until > now;
}

static bool idle(const struct mlimiter *l, const struct slot *s, int64_t now)
{
	return s->key == 0 || (!locked(s, now) && now - s->last_ms >= l->window_ms);
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
		if (idle(l, s, now)) {
			victim = s;
			break;
		}
		/* prefer evicting keys not locked, then the one idle longest */
		if (victim == NULL || (locked(victim, now) && !locked(s, now)) ||
		    (locked(victim, now) == locked(s, now) && s->last_ms < victim->last_ms))
			victim = s;
	}
	*victim = (struct slot){ .key = h, .last_ms = now };
	return victim;
}

static pthread_mutex_t *stripe(struct mlimiter *l, uint64_t h)
{
	return &l->locks[(((size_t)h & l->mask) / LIMITER_PROBE) % LIMITER_STRIPES];
}

static int seconds_until(int64_t until, int64_t now)
{
	int64_t ms = until - now;
	return ms <= 0 ? 1 : (int)((ms + 999) / 1000);
}

static int mem_hit(struct limiter *base, const char *key, size_t len, struct now t)
{
	int64_t now = t.mono_ms;
	struct mlimiter *l = (struct mlimiter *)base;
	uint64_t h = key_hash(l, key, len);
	pthread_mutex_t *m = stripe(l, h);
	struct slot *s;
	int rc = 0;

	pthread_mutex_lock(m);
	s = slot_find(l, h, now, true);
	prune(l, s, now);
	if (locked(s, now)) {
		rc = seconds_until(s->locked_until, now);
	} else if (s->count >= l->n) {    /* not reached: reaching n locks */
		rc = seconds_until(ring(l, s)[s->head] + l->window_ms, now);
	} else {
		ring(l, s)[(s->head + s->count) % l->n] = now;
		s->count++;
		s->last_ms = now;
		if (s->count == l->n)
			s->locked_until = now + l->window_ms;
	}
	pthread_mutex_unlock(m);
	return rc;
}

static int mem_blocked(struct limiter *base, const char *key, size_t len, struct now t)
{
	int64_t now = t.mono_ms;
	struct mlimiter *l = (struct mlimiter *)base;
	uint64_t h = key_hash(l, key, len);
	pthread_mutex_t *m = stripe(l, h);
	struct slot *s;
	int rc = 0;

	pthread_mutex_lock(m);
	s = slot_find(l, h, now, false);
	if (s != NULL && locked(s, now))
		rc = seconds_until(s->locked_until, now);
	pthread_mutex_unlock(m);
	return rc;
}

/* Gives back the newest event. A lock can only have come from it (a locked
 * key counts nothing), so a count back below n lifts the lock. */
static void mem_refund(struct limiter *base, const char *key, size_t len, struct now t)
{
	int64_t now = t.mono_ms;
	struct mlimiter *l = (struct mlimiter *)base;
	uint64_t h = key_hash(l, key, len);
	pthread_mutex_t *m = stripe(l, h);
	struct slot *s;

	pthread_mutex_lock(m);
	s = slot_find(l, h, now, false);
	if (s != NULL) {
		prune(l, s, now);
		if (s->count > 0) {
			s->count--;
			if (s->count < l->n)
				s->locked_until = 0;
		}
	}
	pthread_mutex_unlock(m);
}

static const struct limiter_ops mem_ops = {
	.free = mem_free,
	.hit = mem_hit,
	.blocked = mem_blocked,
	.refund = mem_refund,
};
