/*
 * limiter: "n events per window" per key (a phone, an IP address), behind one
 * interface with two implementations chosen at start: memory (limiter_new,
 * limiter_mem.c: a table of bounded size where an attacker who sends many
 * distinct keys only evicts the stalest keys) and Redis (shared by every
 * node). In memory the window slides -- at most n events in any span of the
 * window's length -- and the event that reaches n locks the key for a full
 * window from then (limiter_blocked is that lock). Used for rate_phone (mints per phone), lockout (failed answers per
 * phone) and rate_ip (web requests per client address). Thread-safe.
 * Windows and locks run on now.mono_ms in memory and on Redis's clock in
 * Redis, never on the wall clock: a clock step neither lifts a lock nor
 * stretches it.
 */
#ifndef MNMFA_LIMITER_H
#define MNMFA_LIMITER_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define LIMITER_SLOTS (1u << 16)        /* keys tracked per limiter */
#define LIMITER_PROBE 8                 /* slots searched per key before evicting */

struct limiter;

/* In memory: n events per `seconds`; slots is rounded up to a power of two. */
struct limiter *limiter_new(int n, int seconds, size_t slots);
void limiter_free(struct limiter *l);

/* Counts one event for key. Returns 0 if it is within the limit, else the
 * seconds until the key may count again (for Retry-After; >= 1). An event
 * over the limit is not counted. */
int limiter_hit(struct limiter *l, const char *key, size_t len, struct now now);

/* Seconds until the key is under its limit again (>= 1), or 0 if it is now;
 * counts nothing. For lockout: the key is locked while its count reached n. */
int limiter_blocked(struct limiter *l, const char *key, size_t len, struct now now);

/* Gives back one event counted by limiter_hit in the current window: an
 * attempt reserved before its outcome was known, that turned out not to
 * count (a right answer). */
void limiter_refund(struct limiter *l, const char *key, size_t len, struct now now);

/* limiter_blocked(gate, key) and, when that is 0, limiter_hit(l, key), as
 * one step where both limiters are in the same Redis (one round trip): a
 * mint checks the phone's lockout and counts against its rate_phone.
 * *gate_secs gets what limiter_blocked said; the return is what limiter_hit
 * said (0 when gated: nothing counted). */
int limiter_hit_unless(struct limiter *l, struct limiter *gate, const char *key, size_t len,
                       struct now now, int *gate_secs);

#endif
