/*
 * store: live challenges and their tombstones, behind one interface with two
 * implementations chosen at start: memory (store_new, store_mem.c: one
 * process's striped hash table, the default) and Redis (store_redis.c, shared
 * by every node). Each record holds the facts (ids, times, question), never
 * rendered HTML. Expiry is enforced on every read; a sweep moves overdue
 * pending records to `expired` (reporting each once) and drops decided records
 * after their retention. Decided records ("tombstones") stay queryable for
 * status for STORE_DECIDED_TTL_MS. Thread-safe.
 *
 * Time: every call takes one `struct now`. A record's times (created_ms,
 * expires_ms, decided_ms) are wall-clock timestamps, for the log and the
 * answers; its expiry and retention run on the store's own clock -- the
 * monotonic one in memory, Redis's (TIME) in Redis, which every node shares
 * -- so a step of a node's wall clock moves neither.
 */
#ifndef MNMFA_STORE_H
#define MNMFA_STORE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "challenge.h"
#include "crypto.h"
#include "util.h"
#include "validate.h"

#include <string.h>
#include "lang.h"

#define STORE_DECIDED_TTL_MS (3600 * 1000LL)
#define STORE_DECIDED_CAP_FACTOR 2   /* decided records kept in memory: at most 2 x max_pending */
#define CLIENT_ID_MAX 128
#define PHONE_MAX 16          /* '+' and 15 digits */
#define FLOW_MAX_BYTES 512    /* 128 UTF-8 characters of at most 4 bytes */

enum chal_status {
	CHAL_PENDING = 0, CHAL_APPROVED, CHAL_DENIED, CHAL_EXPIRED, CHAL_CANCELED, CHAL_LOCKED
};
const char *chal_status_name(enum chal_status s);

/* A challenge as passed in and out of the store (copies; the store keeps its own). */
struct chal {
	uint8_t id[PAGE_ID_BYTES];
	int64_t created_ms;
	int64_t expires_ms;
	int64_t decided_ms;          /* 0 while pending */
	int64_t left_ms;             /* out: the life left as of the call, on the store's clock
	                                (0 once due); what a page counts down */
	uint8_t status;              /* enum chal_status */
	uint8_t lang;                /* enum lang, or 0xff: not set, follow Accept-Language */
	struct question q;
	char client_id[CLIENT_ID_MAX + 1];
	char phone[PHONE_MAX + 1];
	char flow[FLOW_MAX_BYTES + 1];
};

enum store_result {
	STORE_OK = 0,
	STORE_NOT_FOUND,     /* unknown id (or a tombstone past its retention) */
	STORE_EXPIRED,       /* known, pending past its expiry, or already expired */
	STORE_USED,          /* decided (approved/denied/locked) or canceled */
	STORE_FULL,          /* put: max_pending live challenges reached (or the id exists) */
	STORE_UNAVAILABLE,   /* Redis could not be reached in time: nothing was changed that
	                        the caller must account for (retry later; 503) */
	STORE_IN_DOUBT       /* store_answer: Redis may have decided the page (no reply came,
	                        or no replica confirmed it): the caller answers 503 and asks
	                        store_settle later with the answer's token */
};

struct store;

/* The in-memory store: at most max_pending pending records. */
struct store *store_new(size_t max_pending);
void store_free(struct store *s);

/* Inserts a copy of c (status must be pending). It expires after the life
 * c->expires_ms - now.wall_ms, counted on the store's clock from now on.
 * STORE_OK or STORE_FULL. */
enum store_result store_put(struct store *s, const struct chal *c, struct now now);

/* Copies the record out. Expiry is applied as of now (a pending record at or
 * past its expiry reads as expired, whatever the sweeper did). STORE_OK for
 * pending; for decided/expired/canceled, out is filled too and the result says
 * which. out may be NULL. A record that left pending has its question's truth
 * and options wiped (they reveal the date of birth); kind and mode remain. */
enum store_result store_get(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                            struct chal *out);

/* The single use: atomically decides a pending, unexpired record by checking
 * `answer` against its question. On STORE_OK out holds the record with status
 * CHAL_APPROVED or CHAL_DENIED and decided_ms = now.wall_ms. A second take of the
 * same id returns STORE_USED; an overdue one STORE_EXPIRED (and marks it). On
 * those, out holds the record as it stands (as store_get would). */
enum store_result store_take(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                             const char *answer, size_t answer_len, struct chal *out);

/* Moves a pending record to `status` (CHAL_CANCELED or CHAL_LOCKED). Same
 * results as store_take. */
enum store_result store_finish(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                               enum chal_status status, struct chal *out);

/* Called by store_sweep exactly once per record that expired, whichever call
 * (get, take, finish or sweep) noticed it first; outside the store's locks. */
typedef void (*store_expired_fn)(void *ctx, const struct chal *c);

/* Expires overdue pending records, reports every expiry not reported yet
 * through on_expired (may be NULL), and frees decided records older than
 * STORE_DECIDED_TTL_MS. Returns the number of expiries reported. */
size_t store_sweep(struct store *s, struct now now, store_expired_fn on_expired, void *ctx);

/* Puts a decided (approved/denied/locked), unexpired record back to pending
 * with its question q (taken before the decision wiped it): for a decision
 * whose audit row could not be written. STORE_OK or STORE_NOT_FOUND. */
enum store_result store_reopen(struct store *s, const uint8_t id[PAGE_ID_BYTES], const struct question *q,
                               struct now now);

/* Shutdown: cancels every record still pending (overdue ones are left to
 * store_sweep) and calls on_canceled for each. Returns how many. */
size_t store_cancel_pending(struct store *s, struct now now, store_expired_fn on_canceled, void *ctx);

/* A phone just locked out (a wrong answer brought its failures to the
 * lockout's limit): every pending, unexpired record whose phone has this key
 * (store_phone_key) ends as CHAL_LOCKED at now, its question wiped, and is
 * reported once through on_locked (outside the store's locks). Overdue
 * records are left to the sweep. Returns how many were reported. In memory
 * each shard's list of that phone's pending records; in Redis one script
 * over the phone's set of pending ids, whichever node minted them. */
size_t store_lock_phone(struct store *s, const char *phone_key, struct now now, store_expired_fn on_locked,
                        void *ctx);

/* The lockouts whose reply was lost (Redis may have run them): each is asked
 * again by its token, and the links it did lock are reported once through
 * on_locked, so their rows are written; never undone (other nodes may have
 * shown those links locked). Called with every sweep. Memory: none. */
size_t store_lock_settle(struct store *s, struct now now, store_expired_fn on_locked, void *ctx);

struct limiter;

/* The key a phone's limits are counted under (rate_phone, lockout, in
 * memory and in Redis): its canonical digits. */
static inline const char *store_phone_key(const char *phone)
{
	const char *digits;

	return validate_phone_digits(phone, strlen(phone), &digits) < 0 ? phone : digits;
}

#define STORE_TOKEN_MAX 32           /* a deciding request's token (hex) */

/* What store_answer found and did, for decide_answer. */
struct store_answer {
	bool pending;                /* the page was pending: its phone's lockout was consulted */
	bool locked;                 /* ...the phone was locked out: the page ended as `locked` */
	bool lockout_reached;        /* a wrong answer brought the phone's failures to the limit */
	struct question q_before;    /* the question as it stood, to reopen the page */
	struct chal c;               /* the record as the call left it */
	char token[STORE_TOKEN_MAX + 1];   /* on STORE_IN_DOUBT: the answer's, for store_settle */
};

/* One answer to a page, as one step. The page's phone's lockout (failed
 * answers per phone, under store_phone_key) is consulted first: a locked
 * phone ends the page as `locked` whatever the answer; else the answer is
 * checked as store_take does, and a wrong one is counted. Simultaneous
 * answers to several pages of one phone cannot get past the limit together.
 * Results as store_take; on STORE_UNAVAILABLE nothing was decided or
 * counted. In memory the steps run one by one (the attempt is counted before
 * the check and given back unless the answer was wrong); in Redis, with the
 * lockout in the same Redis, as one script. */
enum store_result store_answer(struct store *s, struct limiter *lockout, const uint8_t id[PAGE_ID_BYTES],
                               struct now now, const char *answer, size_t answer_len,
                               struct store_answer *out);

/* After store_answer returned STORE_IN_DOUBT with token: did that answer
 * decide the page? STORE_OK: it did (out as store_answer would have filled
 * it; the caller owes the decision's evidence); STORE_NOT_FOUND: it did not,
 * and now never will (a late run of it is refused); STORE_IN_DOUBT (decided,
 * not yet confirmed by a replica) or STORE_UNAVAILABLE: ask again later.
 * The memory store is never in doubt: STORE_NOT_FOUND. */
enum store_result store_settle(struct store *s, const uint8_t id[PAGE_ID_BYTES], const char *token,
                               struct store_answer *out);

/* store_get, and one event counted on l for key (what limiter_hit says goes
 * to *limit_secs), in one round trip where both are in Redis. The record is
 * read whatever the limit says; the caller refuses over the limit. */
enum store_result store_get_counted(struct store *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                    struct chal *out, struct limiter *l, const char *key, size_t len,
                                    int *limit_secs);
/* Removes a pending record as if it had never been put, reporting nothing:
 * for a mint whose `minted` audit row could not be written in time (the bot
 * got 503; the page then answers 404). STORE_OK or STORE_NOT_FOUND (no such
 * pending record). */
enum store_result store_withdraw(struct store *s, const uint8_t id[PAGE_ID_BYTES]);

size_t store_pending(const struct store *s);     /* live pending count */
size_t store_size(const struct store *s);        /* all records held */

#endif
