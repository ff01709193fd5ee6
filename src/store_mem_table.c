/*
 * store_mem_table: the memory store's records and table (store_mem_table.h):
 * a record's one allocation, the shard's chained hash table and its
 * resizing, the timer wheel of pending records, the pending records by
 * phone, the unreported expiries and the tombstone list, and the moves of a record between them. The
 * operations that use them, and why the table is shaped so, are
 * store_mem.c's.
 */
#include "store_mem_table.h"
#include "util.h"

#include <stdlib.h>

void store_rec_free(struct rec *r)
{
	explicit_bzero(r, store_rec_size(r));
	free(r);
}

void store_unlink(struct shard *sh, struct rec *r)
{
	*r->lprev = r->lnext;
	if (r->lnext != NULL)
		r->lnext->lprev = r->lprev;
	else if (sh->tomb_tail == &r->lnext)
		sh->tomb_tail = r->lprev;
	r->lnext = NULL;
	r->lprev = NULL;
}

void store_wheel_add(struct shard *sh, struct rec *r)
{
	int64_t slot = store_wheel_slot(r->due_mono);
	struct rec **head = &sh->wheel[slot & (STORE_WHEEL_SLOTS - 1)];

	if (slot < sh->wheel_pos)
		sh->wheel_pos = slot;    /* an expiry behind the sweep: looked at next time */
	r->lnext = *head;
	if (*head != NULL)
		(*head)->lprev = &r->lnext;
	*head = r;
	r->lprev = head;
}

void store_tomb_add(struct shard *sh, struct rec *r)
{
	r->lnext = NULL;
	r->lprev = sh->tomb_tail;
	*sh->tomb_tail = r;
	sh->tomb_tail = &r->lnext;
}

void store_resize(struct shard *sh, size_t nbuckets)
{
	struct rec **nb = xcalloc(nbuckets, sizeof *nb);

	for (size_t i = 0; i < sh->nbuckets; i++) {
		struct rec *r = sh->buckets[i], *next;
		for (; r != NULL; r = next) {
			size_t b = store_hash_id(r->id) & (nbuckets - 1);
			next = r->next;
			r->next = nb[b];
			nb[b] = r;
		}
	}
	free(sh->buckets);
	sh->buckets = nb;
	sh->nbuckets = nbuckets;
}

void store_forget_question(struct rec *r)
{
	r->q.truth = 0;
	memset(r->q.options, 0, sizeof r->q.options);
}
/* FNV-1a. */
size_t store_phone_bucket(const char *phone_key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *phone_key != '\0'; phone_key++)
		h = (h ^ (uint8_t)*phone_key) * 0x100000001b3ULL;
	return (size_t)(h & (STORE_PHONE_BUCKETS - 1));
}

void store_phone_add(struct shard *sh, struct rec *r)
{
	struct rec **head = &sh->phones[store_phone_bucket(store_phone_key(store_rec_phone(r)))];

	r->pnext = *head;
	if (*head != NULL)
		(*head)->pprev = &r->pnext;
	*head = r;
	r->pprev = head;
}

void store_phone_unlink(struct rec *r)
{
	if (r->pprev == NULL)
		return;
	*r->pprev = r->pnext;
	if (r->pnext != NULL)
		r->pnext->pprev = r->pprev;
	r->pnext = NULL;
	r->pprev = NULL;
}

void store_decide(struct mstore *s, struct rec *r, enum chal_status status, struct now when)
{
	r->status = (uint8_t)status;
	r->decided_ms = when.wall_ms;
	r->decided_mono = when.mono_ms;
	store_forget_question(r);
	store_phone_unlink(r);
	atomic_fetch_sub(&s->pending, 1);
}


void store_decide_now(struct mstore *s, struct shard *sh, struct rec *r,
                      enum chal_status status, struct now when)
{
	store_decide(s, r, status, when);
	store_unlink(sh, r);
	store_tomb_add(sh, r);
}


void store_expire_due(struct mstore *s, struct shard *sh, struct rec *r, struct now now)
{
	if (r->status != CHAL_PENDING || now.mono_ms < r->due_mono)
		return;
	store_decide(s, r, CHAL_EXPIRED, store_rec_due(r));
	r->unreported = 1;
	store_unlink(sh, r);
	r->lnext = sh->unreported;
	if (sh->unreported != NULL)
		sh->unreported->lprev = &r->lnext;
	sh->unreported = r;
	r->lprev = &sh->unreported;
}

void store_copy_out(const struct rec *r, struct now now, struct chal *out)
{
	const char *phone = r->text + r->client_len + 1;
	const char *flow = phone + r->phone_len + 1;

	if (out == NULL)
		return;
	memset(out, 0, sizeof *out);
	memcpy(out->id, r->id, PAGE_ID_BYTES);
	out->created_ms = r->created_ms;
	out->expires_ms = r->expires_ms;
	out->decided_ms = r->decided_ms;
	out->left_ms = r->due_mono > now.mono_ms ? r->due_mono - now.mono_ms : 0;
	out->status = r->status;
	out->lang = r->lang;
	out->q = r->q;
	memcpy(out->client_id, r->text, r->client_len);
	memcpy(out->phone, phone, r->phone_len);
	memcpy(out->flow, flow, r->flow_len);
}
