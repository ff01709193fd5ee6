/*
 * store_redis_doubt: the Redis store's calls whose reply was lost (Redis may
 * have run them): a take or finish in doubt is undone by the node's next
 * sweep, by its token (rs_doubts_undo); a lockout in doubt is never undone,
 * since other nodes may already have shown its links used and locked: the
 * next sweeps ask again by its token (the script keeps what it locked under
 * mnmfa:pl:<token>, so a repeat reports the same links and locks nothing
 * more), and the links it locked are reported for their rows and results
 * (rs_lock_settle, from store_lock_settle). Answers in doubt are settled by
 * the caller instead (web_doubt.c, store_settle). Each table slot of a
 * lockout is held before its call, so a lost reply always has one.
 */
#include "store_redis_impl.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis may have run it after the node gave up and answered 503. */
void rs_doubt_add(struct rstore *s, const uint8_t id[PAGE_ID_BYTES], const char *token, struct now now)
{
	struct rs_doubt *d;

	pthread_mutex_lock(&s->doubt_lock);
	if (s->ndoubts + s->reserved >= RS_DOUBT_MAX) {
		pthread_mutex_unlock(&s->doubt_lock);
		log_error("redis: %d decisions already in doubt; one more may stay decided with no audit row",
		          RS_DOUBT_MAX);
		return;
	}
	d = &s->doubts[s->ndoubts++];
	memcpy(d->id, id, PAGE_ID_BYTES);
	snprintf(d->token, sizeof d->token, "%s", token);
	d->until_mono = now.mono_ms + RS_UNDO_MS;
	pthread_mutex_unlock(&s->doubt_lock);
}

/* One run of the lock script by token (a repeat reports what the first
 * locked). false: no reply (Redis may have run it). */
static bool rs_lock_run(struct rstore *s, const char *phone_key, const char *token, int64_t wall_ms,
                        store_expired_fn on_locked, void *ctx, size_t *reported)
{
	char pkey[RS_KEY_MAX], lkey[RS_KEY_MAX], wall[24], ttl[24];
	const char *av[] = { pkey, lkey, wall, ttl, token };
	redisReply *rep;

	snprintf(pkey, sizeof pkey, "mnmfa:p:%s", phone_key);
	snprintf(lkey, sizeof lkey, "mnmfa:pl:%s", token);
	snprintf(wall, sizeof wall, "%lld", (long long)wall_ms);
	snprintf(ttl, sizeof ttl, "%lld", (long long)STORE_DECIDED_TTL_MS);
	rep = redis_eval(s->redis, &s->scripts[RS_LOCK_PHONE], 2, (int)ARRAY_LEN(av), av, NULL,
	                 REDIS_REPEATABLE | REDIS_DURABLE);
	if (rep == NULL)
		return false;
	if (rep->type == REDIS_REPLY_ARRAY)
		*reported += rs_report(rep, 0, false, on_locked, ctx);
	freeReplyObject(rep);
	return true;
}

/* Settles the doubts of one kind: undoes every decision in doubt that Redis
 * did make (lockouts false), or asks again about every lockout in doubt
 * (true: the links it locked are reported through on_locked, never undone);
 * keeps those Redis cannot be asked about yet, until it is too late. */
static size_t rs_doubts_settle(struct rstore *s, struct now now, bool lockouts, store_expired_fn on_locked,
                               void *ctx)
{
	struct rs_doubt *todo;
	size_t n, kept = 0, reported = 0;

	pthread_mutex_lock(&s->doubt_lock);
	n = s->ndoubts;
	if (n == 0) {
		pthread_mutex_unlock(&s->doubt_lock);
		return 0;
	}
	todo = xmalloc(n * sizeof *todo);
	memcpy(todo, s->doubts, n * sizeof *todo);
	s->ndoubts = 0;
	s->reserved += n;                /* their slots stay theirs meanwhile */
	pthread_mutex_unlock(&s->doubt_lock);
	for (size_t i = 0; i < n; i++) {
		char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1], ttl[24];
		const char *av[] = { key, b64, todo[i].token, ttl };
		redisReply *rep;

		if (lockouts != (todo[i].phone[0] != '\0')) {
			todo[kept++] = todo[i];         /* the other kind's */
			continue;
		}
		if (now.mono_ms >= todo[i].until_mono) {
			if (lockouts)
				log_error("redis: a lockout whose reply was lost could not be asked about in %lld s; "
				          "the links it locked may have no locked row", RS_LOCK_DOUBT_MS / 1000);
			continue;
		}
		if (lockouts) {
			size_t before = reported;
			if (!rs_lock_run(s, todo[i].phone, todo[i].token, todo[i].wall_ms, on_locked, ctx, &reported))
				todo[kept++] = todo[i];
			else if (reported > before)
				log_warn("redis: a lockout whose reply was lost had ended %zu links; their rows are "
				         "written now", reported - before);
			continue;
		}
		rs_rec_key(todo[i].id, key, b64);
		snprintf(ttl, sizeof ttl, "%lld", (long long)STORE_DECIDED_TTL_MS);
		rep = redis_eval(s->redis, &s->scripts[RS_UNDO], 1, (int)ARRAY_LEN(av), av, NULL,
		                 REDIS_REPEATABLE | REDIS_DURABLE);
		if (rep == NULL) {
			todo[kept++] = todo[i];
			continue;
		}
		if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
			log_warn("redis: a decision whose reply was lost was undone; page %.8s... is open again", b64);
		freeReplyObject(rep);
	}
	pthread_mutex_lock(&s->doubt_lock);
	s->reserved -= n;
	for (size_t i = 0; i < kept; i++)
		s->doubts[s->ndoubts++] = todo[i];
	pthread_mutex_unlock(&s->doubt_lock);
	explicit_bzero(todo, n * sizeof *todo);
	free(todo);
	return reported;
}

void rs_doubts_undo(struct rstore *s, struct now now)
{
	(void)rs_doubts_settle(s, now, false, NULL, NULL);
}

/* A lockout whose reply is lost is kept in doubt: the next sweeps ask again
 * by its token (rs_lock_settle) and report the links it locked, for their
 * rows. Its slot is held before the call, so that one is always there; with
 * the table full the links are not ended now (each ends as locked when
 * answered, or expires). */
size_t rs_lock_phone(struct store *base, const char *phone_key, struct now now,
                            store_expired_fn on_locked, void *ctx)
{
	struct rstore *s = (struct rstore *)base;
	char token[RS_TOKEN_HEX + 1];
	size_t reported = 0;
	bool replied;

	pthread_mutex_lock(&s->doubt_lock);
	replied = s->ndoubts + s->reserved < RS_DOUBT_MAX;
	s->reserved += replied;
	pthread_mutex_unlock(&s->doubt_lock);
	if (!replied) {
		log_error("redis: %d calls already in doubt; a locked phone's other links stay pending (each ends "
		          "as locked when answered)", RS_DOUBT_MAX);
		return 0;
	}
	rs_token(token);
	replied = rs_lock_run(s, phone_key, token, now.wall_ms, on_locked, ctx, &reported);
	pthread_mutex_lock(&s->doubt_lock);
	s->reserved--;
	if (!replied) {
		struct rs_doubt *d = &s->doubts[s->ndoubts++];

		memset(d, 0, sizeof *d);
		snprintf(d->phone, sizeof d->phone, "%s", phone_key);
		snprintf(d->token, sizeof d->token, "%s", token);
		d->wall_ms = now.wall_ms;
		d->until_mono = now.mono_ms + RS_LOCK_DOUBT_MS;
	}
	pthread_mutex_unlock(&s->doubt_lock);
	if (!replied)
		log_warn("redis: a lockout's reply was lost; the next sweeps ask again and write the rows it owes");
	return reported;
}

size_t rs_lock_settle(struct store *base, struct now now, store_expired_fn on_locked, void *ctx)
{
	return rs_doubts_settle((struct rstore *)base, now, true, on_locked, ctx);
}
