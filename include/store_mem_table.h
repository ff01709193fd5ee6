/*
 * store_mem_table: the memory store's table, shared by store_mem.c (the
 * operations) and store_mem_table.c (records, the shards' hash tables, the
 * timer wheel and the tombstone lists). Private to those two files: the
 * layout and its trade-offs are described at the top of store_mem.c.
 * Every function taking a shard expects its lock held.
 */
#ifndef MNMFA_STORE_MEM_TABLE_H
#define MNMFA_STORE_MEM_TABLE_H

#include "store.h"
#include "store_impl.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STORE_SHARD_BITS 6
#define STORE_SHARDS (1u << STORE_SHARD_BITS)
#define STORE_BUCKETS_MIN 16         /* per shard; a power of two */
#define STORE_SWEEP_BATCH 64         /* expired records copied out per lock hold */
#define STORE_CACHE_LINE 64
#define STORE_WHEEL_TICK_MS 256      /* one wheel slot's span of due_mono */
#define STORE_WHEEL_SLOTS 4096       /* a power of two; 4096 x 256 ms = 17.5 min of expiries
                                        before records share a slot with later rounds */
#define STORE_PHONE_BUCKETS 1024     /* per shard, a power of two: pending records by phone */

struct rec {
	struct rec *next;            /* hash chain */
	struct rec *lnext;           /* wheel slot or tombstone list */
	struct rec **lprev;          /* the pointer to this record in that list */
	struct rec *pnext;           /* pending: its phone's list */
	struct rec **pprev;          /* NULL when not pending */
	uint8_t id[PAGE_ID_BYTES];
	int64_t created_ms;
	int64_t expires_ms;          /* wall clock, as the challenge was minted: for answers */
	int64_t decided_ms;          /* wall clock */
	int64_t due_mono;            /* the expiry on the monotonic clock: what is enforced */
	int64_t decided_mono;        /* the decision on it: retention counts from here */
	struct question q;
	uint8_t status;              /* enum chal_status */
	uint8_t lang;
	uint8_t unreported;          /* expired, on_expired not called yet */
	uint8_t client_len;          /* <= CLIENT_ID_MAX */
	uint8_t phone_len;           /* <= PHONE_MAX */
	uint16_t flow_len;           /* <= FLOW_MAX_BYTES */
	char text[];                 /* client_id \0 phone \0 flow \0 */
};

struct shard {
	alignas(STORE_CACHE_LINE) pthread_mutex_t lock;
	struct rec **buckets;
	size_t nbuckets;             /* a power of two */
	size_t count;
	struct rec **wheel;          /* STORE_WHEEL_SLOTS lists of pending records, by due_mono */
	struct rec **phones;         /* STORE_PHONE_BUCKETS lists: pending records by phone */
	int64_t wheel_pos;           /* lowest absolute slot that may hold a due record */
	struct rec *unreported;      /* expiries noticed by requests, for the sweep to report */
	struct rec *tomb;            /* decided records, oldest decision first */
	struct rec **tomb_tail;
};

struct mstore {
	struct store base;           /* first: the interface */
	size_t max_pending;
	atomic_llong retention_ms;   /* how long decided records stay; shrinks past the cap */
	atomic_size_t pending;
	atomic_size_t size;
	struct shard shards[STORE_SHARDS];
};

/* Ids come from a CSPRNG, but mixing both halves keeps the table even if a
 * caller (or a test) hands in structured ids. */
static inline uint64_t store_hash_id(const uint8_t id[PAGE_ID_BYTES])
{
	uint64_t a, b;

	memcpy(&a, id, sizeof a);
	memcpy(&b, id + sizeof a, sizeof b);
	a ^= b * 0x9e3779b97f4a7c15ULL;
	a ^= a >> 32;
	a *= 0xd6e8feb86659fd93ULL;
	a ^= a >> 32;
	return a;
}

/* Whole-word compare: time does not say how much of an id matched. */
static inline bool store_id_equal(const uint8_t *x, const uint8_t *y)
{
	uint64_t x0, x1, y0, y1;

	memcpy(&x0, x, 8);
	memcpy(&x1, x + 8, 8);
	memcpy(&y0, y, 8);
	memcpy(&y1, y + 8, 8);
	return ((x0 ^ y0) | (x1 ^ y1)) == 0;
}

static inline struct shard *store_shard_of(struct mstore *s, uint64_t h)
{
	return &s->shards[h >> (64 - STORE_SHARD_BITS)];
}

static inline size_t store_rec_size(const struct rec *r)
{
	return offsetof(struct rec, text) + r->client_len + r->phone_len + r->flow_len + 3;
}

/* The slot pointing at the record with this id, or NULL. Shard locked. */
static inline struct rec **store_find(struct shard *sh, uint64_t h, const uint8_t id[PAGE_ID_BYTES])
{
	struct rec **pp = &sh->buckets[h & (sh->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (store_id_equal((*pp)->id, id))
			return pp;
	return NULL;
}

static inline int64_t store_wheel_slot(int64_t mono_ms)
{
	return mono_ms >= 0 ? mono_ms / STORE_WHEEL_TICK_MS : 0;
}

/* The instant a record falls due, on both clocks. */
static inline struct now store_rec_due(const struct rec *r)
{
	return (struct now){ .wall_ms = r->expires_ms, .mono_ms = r->due_mono };
}

/* A tombstone past its retention reads as unknown (the sweep frees it). */
static inline bool store_retention_over(struct mstore *s, const struct rec *r, struct now now)
{
	return r->status != CHAL_PENDING &&
	       now.mono_ms - r->decided_mono >= atomic_load_explicit(&s->retention_ms, memory_order_relaxed);
}

static inline enum store_result store_result_of(const struct rec *r)
{
	switch (r->status) {
	case CHAL_PENDING: return STORE_OK;
	case CHAL_EXPIRED: return STORE_EXPIRED;
	default: return STORE_USED;
	}
}

void store_rec_free(struct rec *r);
void store_unlink(struct shard *sh, struct rec *r);
void store_wheel_add(struct shard *sh, struct rec *r);
void store_tomb_add(struct shard *sh, struct rec *r);
void store_resize(struct shard *sh, size_t nbuckets);
void store_forget_question(struct rec *r);

/* The bucket of a phone's limiter key (store_phone_key) in sh->phones. */
size_t store_phone_bucket(const char *phone_key);
static inline const char *store_rec_phone(const struct rec *r)
{
	return r->text + r->client_len + 1;
}
/* Puts a pending record on its phone's list; takes one off (if on it). */
void store_phone_add(struct shard *sh, struct rec *r);
void store_phone_unlink(struct rec *r);

/* Moves r out of pending (and off its phone's list). Shard locked. */
void store_decide(struct mstore *s, struct rec *r, enum chal_status status, struct now when);

/* A decision by a request (take, finish): off the wheel, onto the tombstones. */
void store_decide_now(struct mstore *s, struct shard *sh, struct rec *r,
                      enum chal_status status, struct now when);

/* Applies expiry as of now: an expiry a request noticed waits on the
 * shard's unreported list for the sweep to report it. Shard locked. */
void store_expire_due(struct mstore *s, struct shard *sh, struct rec *r, struct now now);

/* The record as a struct chal, its life left as of now (out may be NULL). */
void store_copy_out(const struct rec *r, struct now now, struct chal *out);

#endif
