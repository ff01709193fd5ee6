/*
 * store_redis: the store (store.h) in a Redis shared by several nodes, so any
 * node serves and decides any page.
 *
 * A challenge is a hash at mnmfa:c:<page id> with its facts: status, times,
 * lang, the question (packed, 40 bytes), the answer key a script compares
 * (challenge_expected_key), client id, phone, flow, and the node that minted
 * it. Its TTL is the expiry plus STORE_DECIDED_TTL_MS while pending, and
 * STORE_DECIDED_TTL_MS from the decision after, so Redis itself drops
 * tombstones. Every transition is one Lua script, atomic in Redis: a page is
 * decided once across all nodes. At the decision the question's truth and
 * options and the answer key are wiped, as in memory.
 *
 * Time: the expiry every script enforces is on Redis's clock (TIME in the
 * script: the put sets ed = Redis's now + the life), which every node
 * shares; the minted/expires/decided fields are the nodes' wall-clock
 * timestamps, for answers and the log only. So a node whose clock steps (or
 * runs apart from the others) neither stretches a link nor ends it early;
 * only a step of the Redis machine's own clock would, as it moves Redis's
 * key expiry too.
 *
 * Expiry: each node keeps a sorted set mnmfa:x:<node_id> of the ids it
 * minted, by expiry time; a decision removes the id (whoever decides), and
 * the minting node's sweep moves the overdue ones to `expired` and reports
 * each once (a script takes it out of the set and marks it in one step, and
 * keeps what it took under mnmfa:xs:<node_id> until the node's next sweep
 * says the reply arrived: a sweep Redis ran whose reply was lost is reported
 * by the next one, never dropped; only a crash between a reply and the next
 * sweep can report a batch twice).
 * The set survives a restart, so a node resumes its sweeps; a node that
 * stops leaves its pending challenges to the other nodes (no cancel at
 * stop). A per-phone set mnmfa:p:<phone> holds the pending ids of a phone:
 * when a wrong answer locks the phone, one script ends every pending link in
 * it as locked, whichever node minted it (mnmfa:pl:<token> keeps which, so a
 * retried call reports the same links).
 *
 * Round trips: get 1 (a script: the record and its time left; a page's read
 * rides with its rate_ip count in one pipelined round trip),
 * put/take/finish/reopen/withdraw 1 (a script each), an
 * answer 1 (the lockout of the page's phone is checked and counted in the
 * same script, when the lockout limiter is in this Redis too), a lockout's
 * end of the phone's other links 1 (a script).
 * Writes that decide are sent with a request token: a retry after a lost
 * connection finds its own decision instead of deciding twice. When every
 * retry fails, or no replica confirmed the decision (redis_eval_acked), the
 * caller shows 503 "try again", yet the decision may stand. An answer is
 * then STORE_IN_DOUBT: it is never undone; the caller asks rs_settle later
 * whether its token decided the page (then it writes the evidence it owes)
 * or not (then the token is fenced, so a late run of the script decides
 * nothing). A take or finish in doubt (cancel; answers whose lockout is not
 * in this Redis) is undone by the node's next sweep instead, by its token:
 * the deciding scripts keep what undoing needs under mnmfa:u:<id> (the
 * question and answer key, at most RS_UNDO_MS and never past the page's
 * expiry). A lockout in doubt is never undone: it is asked again by its
 * token and its links reported (store_redis_doubt.c keeps both kinds). The
 * Lua scripts are store_redis_lua.c's.
 */
#include "store_redis.h"
#include "store_redis_impl.h"
#include "store_redis_lua.h"
#include "store_redis_rec.h"
#include "limiter_redis.h"
#include "challenge.h"
#include "crypto.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_SWEEP_BATCH 64
#define RS_SWEEP_ROUNDS 64           /* batches per sweep at most */


static enum store_result rs_put(struct store *base, const struct chal *c, struct now now)
{
	struct rstore *s = (struct rstore *)base;
	char key[RS_KEY_MAX], pkey[RS_KEY_MAX], b64[PAGE_ID_LEN + 1], maxp[24], cm[24], em[24], lg[8];
	char x[CHALLENGE_ANSWER_MAX], xm[8], ttl[24], token[RS_TOKEN_HEX + 1], life[24];
	uint8_t q[RS_Q_BYTES];
	const char *phone = store_phone_key(c->phone);
	redisReply *rep;
	enum store_result res = STORE_UNAVAILABLE;

	rs_rec_key(c->id, key, b64);
	snprintf(pkey, sizeof pkey, "mnmfa:p:%s", phone);
	snprintf(maxp, sizeof maxp, "%zu", s->max_pending);
	snprintf(cm, sizeof cm, "%lld", (long long)c->created_ms);
	snprintf(em, sizeof em, "%lld", (long long)c->expires_ms);
	snprintf(lg, sizeof lg, "%u", c->lang);
	snprintf(xm, sizeof xm, "%d", challenge_expected_key(&c->q, x));
	snprintf(ttl, sizeof ttl, "%lld", (long long)STORE_DECIDED_TTL_MS);
	snprintf(life, sizeof life, "%lld", (long long)(c->expires_ms - now.wall_ms));
	rs_pack_q(&c->q, q);
	rs_token(token);
	{
		const char *av[] = { key, s->node_key, pkey, b64, maxp, cm, em, lg, (const char *)q, x, xm,
		                     c->client_id, c->phone, c->flow, s->node, phone, ttl, token, life };
		size_t al[ARRAY_LEN(av)];
		for (size_t i = 0; i < ARRAY_LEN(av); i++)
			al[i] = av[i] == (const char *)q ? sizeof q : strlen(av[i]);
		rep = redis_eval(s->redis, &s->scripts[RS_PUT], 3, (int)ARRAY_LEN(av), av, al,
		                 REDIS_REPEATABLE | REDIS_DURABLE);
	}
	explicit_bzero(q, sizeof q);
	explicit_bzero(x, sizeof x);
	if (rep == NULL)
		return STORE_UNAVAILABLE;
	if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0) {
		atomic_fetch_add(&s->pending, 1);
		res = STORE_OK;
	} else if (rep->type == REDIS_REPLY_INTEGER) {
		if (rep->integer == 2)
			log_error("%s: duplicate page id refused", __func__);
		res = STORE_FULL;
	}
	freeReplyObject(rep);
	return res;
}

static enum store_result rs_get(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                struct chal *out)
{
	struct rstore *s = (struct rstore *)base;
	char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1];
	const char *av[] = { key };
	redisReply *rep;
	enum store_result res;

	(void)now;                   /* Redis's clock decides */
	rs_rec_key(id, key, b64);
	rep = redis_eval(s->redis, &s->scripts[RS_GET], 1, 1, av, NULL, REDIS_REPEATABLE);
	if (rep == NULL)
		return STORE_UNAVAILABLE;
	res = rs_parse(rep, 0, id, out);
	freeReplyObject(rep);
	return res;
}

/* The page's read and the client's rate_ip count, pipelined. */
static enum store_result rs_get_counted(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                        struct chal *out, struct limiter *l, const char *ipkey, size_t len,
                                        int *limit_secs)
{
	struct rstore *s = (struct rstore *)base;
	char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1], lk[LIMITER_REDIS_KEY_MAX];
	const char *av[] = { key };
	const char *lav[3];
	struct redis_cmd cmds[2];
	struct limiter_redis_spec spec;
	enum store_result res = STORE_UNAVAILABLE;

	*limit_secs = 0;
	if (limiter_redis_spec(l, &spec) < 0 || spec.redis != s->redis ||
	    limiter_redis_hit_cmd(l, ipkey, len, &cmds[1], lav, lk) < 0) {
		*limit_secs = limiter_hit(l, ipkey, len, now);
		return rs_get(base, id, now, out);
	}
	rs_rec_key(id, key, b64);
	memset(&cmds[0], 0, sizeof cmds[0]);
	cmds[0].script = &s->scripts[RS_GET];
	cmds[0].nkeys = 1;
	cmds[0].argc = (int)ARRAY_LEN(av);
	cmds[0].argv = av;
	if (redis_pipeline(s->redis, cmds, 2) < 0)
		return STORE_UNAVAILABLE;
	*limit_secs = limiter_redis_hit_result(cmds[1].reply);
	if (cmds[0].reply != NULL)
		res = rs_parse(cmds[0].reply, 0, id, out);
	for (int i = 0; i < 2; i++)
		if (cmds[i].reply != NULL)
			freeReplyObject(cmds[i].reply);
	return res;
}

/* The arguments the deciding scripts (take, answer) start with: the record
 * key, id, now (the wall clock's: the decision's timestamp), the tombstone's life, this request's token, and the answer
 * read in each form a question compares (challenge_answer_key). */
struct rs_decide_args {
	char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1], now[24], ttl[24], token[RS_TOKEN_HEX + 1];
	char keys[CHALLENGE_KEY_FORMS][CHALLENGE_ANSWER_MAX];
};

static void rs_decide_args_fill(struct rs_decide_args *a, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                const char *answer, size_t answer_len)
{
	rs_rec_key(id, a->key, a->b64);
	snprintf(a->now, sizeof a->now, "%lld", (long long)now.wall_ms);
	snprintf(a->ttl, sizeof a->ttl, "%lld", (long long)STORE_DECIDED_TTL_MS);
	rs_token(a->token);
	for (int f = 0; f < CHALLENGE_KEY_FORMS; f++)
		challenge_answer_key((enum challenge_key)f, answer, answer_len, a->keys[f]);
}

/* Runs a deciding script (take or finish). A reply that never came, or a
 * decision no replica confirmed, leaves it in doubt (it may stand): it is
 * noted for the next sweep's undo and the caller gets NULL (503). The
 * arguments are wiped either way. */
static redisReply *rs_eval_deciding(struct rstore *s, int script, int argc, const char **av,
                                    struct rs_decide_args *a, const uint8_t id[PAGE_ID_BYTES],
                                    struct now now)
{
	struct redis_ack ack;
	redisReply *rep = redis_eval_acked(s->redis, &s->scripts[script], 1, argc, av, NULL,
	                                   REDIS_REPEATABLE | REDIS_DURABLE, &ack);

	if (rep != NULL && !ack.acked && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
	    rs_ll(rep->element[0]) == 0) {
		freeReplyObject(rep);
		rep = NULL;
	}
	if (rep == NULL && ack.sent)
		rs_doubt_add(s, id, a->token, now);
	explicit_bzero(a, sizeof *a);
	return rep;
}

/* take (status CHAL_PENDING: check the answer) or finish (status given). */
static enum store_result rs_decide(struct rstore *s, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                   const char *answer, size_t answer_len, enum chal_status status,
                                   struct chal *out)
{
	struct rs_decide_args a;
	char st[4] = "";
	redisReply *rep;
	enum store_result res = STORE_UNAVAILABLE;

	rs_decide_args_fill(&a, id, now, answer, answer_len);
	if (status != CHAL_PENDING)
		snprintf(st, sizeof st, "%d", (int)status);
	{
		const char *av[] = { a.key, a.b64, a.now, a.ttl, a.token, a.keys[0], a.keys[1], a.keys[2], st };
		rep = rs_eval_deciding(s, RS_TAKE, (int)ARRAY_LEN(av), av, &a, id, now);
	}
	if (rep == NULL)
		return STORE_UNAVAILABLE;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1) {
		long long code = rs_ll(rep->element[0]);
		if (code == 1) {
			res = STORE_NOT_FOUND;
		} else {
			res = rs_parse(rep, 1, id, out);
			if (code == 0 && res != STORE_NOT_FOUND)
				res = STORE_OK;
			if (code == 2)
				res = STORE_EXPIRED;
		}
	}
	freeReplyObject(rep);
	return res;
}

static enum store_result rs_take(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                 const char *answer, size_t answer_len, struct chal *out)
{
	return rs_decide((struct rstore *)base, id, now, answer, answer_len, CHAL_PENDING, out);
}

static enum store_result rs_finish(struct store *base, const uint8_t id[PAGE_ID_BYTES], struct now now,
                                   enum chal_status status, struct chal *out)
{
	if (status != CHAL_CANCELED && status != CHAL_LOCKED && status != CHAL_APPROVED &&
	    status != CHAL_DENIED) {
		log_error("%s: cannot finish a challenge as %s", __func__, chal_status_name(status));
		return STORE_NOT_FOUND;
	}
	return rs_decide((struct rstore *)base, id, now, "", 0, status, out);
}

static enum store_result rs_answer(struct store *base, struct limiter *lockout, const uint8_t id[PAGE_ID_BYTES],
                                   struct now now, const char *answer, size_t answer_len,
                                   struct store_answer *out)
{
	struct rstore *s = (struct rstore *)base;
	struct rs_decide_args a;
	char prefix[RS_KEY_MAX], n[16], window[24];
	struct limiter_redis_spec spec;
	redisReply *rep;
	enum store_result res;
	struct redis_ack ack;

	/* The lockout elsewhere (memory): the steps one by one. */
	if (limiter_redis_spec(lockout, &spec) < 0 || spec.redis != s->redis)
		return store_answer_steps(base, lockout, id, now, answer, answer_len, out);
	memset(out, 0, sizeof *out);
	rs_decide_args_fill(&a, id, now, answer, answer_len);
	snprintf(prefix, sizeof prefix, "%s", spec.prefix);
	snprintf(n, sizeof n, "%d", spec.n);
	snprintf(window, sizeof window, "%lld", spec.window_ms);
	{
		const char *av[] = { a.key, a.b64, a.now, a.ttl, a.token, a.keys[0], a.keys[1], a.keys[2],
		                     prefix, n, window };
		rep = redis_eval_acked(s->redis, &s->scripts[RS_ANSWER], 1, (int)ARRAY_LEN(av), av, NULL,
		                       REDIS_REPEATABLE | REDIS_DURABLE, &ack);
	}
	/* Sent without a reply (Redis may still run it), or decided and not on
	 * a replica: in doubt. The caller answers 503 and settles it
	 * (rs_settle). Never sent: unavailable, nothing decided. */
	snprintf(out->token, sizeof out->token, "%s", a.token);
	explicit_bzero(&a, sizeof a);
	if (rep == NULL)
		res = ack.sent ? STORE_IN_DOUBT : STORE_UNAVAILABLE;
	else
		res = rs_answer_reply(rep, id, out);
	if (res == STORE_OK && !ack.acked)
		res = STORE_IN_DOUBT;
	if (res != STORE_IN_DOUBT)
		explicit_bzero(out->token, sizeof out->token);
	if (rep != NULL)
		freeReplyObject(rep);
	return res;
}

/* Did the answer with this token decide the page? (store_settle) */
static enum store_result rs_settle(struct store *base, const uint8_t id[PAGE_ID_BYTES], const char *token,
                                   struct store_answer *out)
{
	struct rstore *s = (struct rstore *)base;
	char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1];
	const char *av[] = { key, b64, token };
	struct redis_ack ack;
	redisReply *rep;
	enum store_result res;

	rs_rec_key(id, key, b64);
	rep = redis_eval_acked(s->redis, &s->scripts[RS_SETTLE], 1, (int)ARRAY_LEN(av), av, NULL,
	                       REDIS_REPEATABLE | REDIS_DURABLE, &ack);
	if (rep == NULL)
		return STORE_UNAVAILABLE;
	res = rs_answer_reply(rep, id, out);
	freeReplyObject(rep);
	if (res == STORE_OK && !ack.acked)
		return STORE_IN_DOUBT;
	return res == STORE_OK ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_result rs_reopen(struct store *base, const uint8_t id[PAGE_ID_BYTES],
                                   const struct question *q, struct now now)
{
	struct rstore *s = (struct rstore *)base;
	char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1], ttl[24], x[CHALLENGE_ANSWER_MAX], xm[8];
	uint8_t qb[RS_Q_BYTES];
	redisReply *rep;
	enum store_result res = STORE_NOT_FOUND;

	(void)now;                   /* "before its expiry" is Redis's clock's */
	rs_rec_key(id, key, b64);
	snprintf(ttl, sizeof ttl, "%lld", (long long)STORE_DECIDED_TTL_MS);
	snprintf(xm, sizeof xm, "%d", challenge_expected_key(q, x));
	rs_pack_q(q, qb);
	{
		const char *av[] = { key, b64, (const char *)qb, x, xm, ttl };
		size_t al[] = { strlen(key), strlen(b64), sizeof qb, strlen(x), strlen(xm), strlen(ttl) };
		rep = redis_eval(s->redis, &s->scripts[RS_REOPEN], 1, (int)ARRAY_LEN(av), av, al, REDIS_REPEATABLE);
	}
	explicit_bzero(qb, sizeof qb);
	explicit_bzero(x, sizeof x);
	if (rep == NULL)
		return STORE_UNAVAILABLE;
	if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
		res = STORE_OK;
	freeReplyObject(rep);
	return res;
}

/* A mint whose `minted` row never became durable: gone, not canceled. */
static enum store_result rs_withdraw(struct store *base, const uint8_t id[PAGE_ID_BYTES])
{
	struct rstore *s = (struct rstore *)base;
	char key[RS_KEY_MAX], b64[PAGE_ID_LEN + 1];
	const char *av[] = { key, b64 };
	redisReply *rep;
	enum store_result res = STORE_NOT_FOUND;

	rs_rec_key(id, key, b64);
	rep = redis_eval(s->redis, &s->scripts[RS_WITHDRAW], 1, (int)ARRAY_LEN(av), av, NULL, REDIS_REPEATABLE);
	if (rep == NULL) {
		log_error("redis: a mint without its audit row could not be withdrawn; page %.8s... stays "
		          "pending until it expires (nobody has its link)", b64);
		return STORE_UNAVAILABLE;
	}
	if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0) {
		res = STORE_OK;
		if (atomic_load(&s->pending) > 0)
			atomic_fetch_sub(&s->pending, 1);
	}
	freeReplyObject(rep);
	return res;
}

static long long rs_redis_us(struct rstore *s)
{
	const char *av[] = { "TIME" };
	redisReply *rep = redis_command(s->redis, (int)ARRAY_LEN(av), av, NULL);
	long long us = -1;

	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
		us = rs_ll(rep->element[0]) * 1000000 + rs_ll(rep->element[1]);
	if (rep != NULL)
		freeReplyObject(rep);
	return us;
}

static size_t rs_sweep(struct store *base, struct now now, store_expired_fn on_expired, void *ctx)
{
	struct rstore *s = (struct rstore *)base;
	char batch[16], ttl[24], seq[24], ack[24];
	const char *av[] = { s->node_key, s->swept_key, batch, ttl, seq, ack };
	size_t reported = 0;

	snprintf(batch, sizeof batch, "%d", RS_SWEEP_BATCH);
	snprintf(ttl, sizeof ttl, "%lld", (long long)STORE_DECIDED_TTL_MS);
	rs_doubts_undo(s, now);
	pthread_mutex_lock(&s->sweep_lock);
	/* seq grows across restarts too (it starts from Redis's clock in
	 * microseconds), so an older call that Redis runs late is told apart
	 * from a newer one; no node's clock takes part. */
	if (s->sweep_seq == 0 && (s->sweep_seq = rs_redis_us(s)) <= 0) {
		s->sweep_seq = 0;
		pthread_mutex_unlock(&s->sweep_lock);
		return 0;
	}
	for (int round = 0; round < RS_SWEEP_ROUNDS; round++) {
		redisReply *rep;
		long long taken;

		s->sweep_seq++;
		snprintf(seq, sizeof seq, "%lld", s->sweep_seq);
		snprintf(ack, sizeof ack, "%lld", s->sweep_ack);
		rep = redis_eval(s->redis, &s->scripts[RS_SWEEP], 2, (int)ARRAY_LEN(av), av, NULL, REDIS_REPEATABLE);
		if (rep == NULL)
			break;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2) {
			freeReplyObject(rep);
			break;
		}
		s->sweep_ack = s->sweep_seq;
		atomic_store(&s->pending, (size_t)rs_ll(rep->element[0]));
		taken = rs_ll(rep->element[1]);
		reported += rs_report(rep, 2, true, on_expired, ctx);
		freeReplyObject(rep);
		if (taken < RS_SWEEP_BATCH)
			break;
	}
	pthread_mutex_unlock(&s->sweep_lock);
	return reported;
}

/* A node that stops leaves its challenges to the others, and its expiries to
 * its own next start: nothing is canceled. It only tells Redis that the last
 * sweep result reached it, so its next start does not report it again. */
static size_t rs_cancel_pending(struct store *base, struct now now, store_expired_fn on_canceled, void *ctx)
{
	struct rstore *s = (struct rstore *)base;
	char ack[24];
	const char *av[] = { s->swept_key, ack };
	redisReply *rep;

	(void)now, (void)on_canceled, (void)ctx;
	pthread_mutex_lock(&s->sweep_lock);
	snprintf(ack, sizeof ack, "%lld", s->sweep_ack);
	rep = s->sweep_ack > 0
		? redis_eval(s->redis, &s->scripts[RS_SWEEP_ACK], 1, (int)ARRAY_LEN(av), av, NULL, REDIS_REPEATABLE)
		: NULL;
	pthread_mutex_unlock(&s->sweep_lock);
	if (rep != NULL)
		freeReplyObject(rep);
	return 0;
}

static size_t rs_pending(const struct store *base)
{
	return atomic_load(&((const struct rstore *)base)->pending);
}

static void rs_free(struct store *base)
{
	struct rstore *s = (struct rstore *)base;

	pthread_mutex_destroy(&s->sweep_lock);
	pthread_mutex_destroy(&s->doubt_lock);
	explicit_bzero(s->doubts, RS_DOUBT_MAX * sizeof *s->doubts);
	free(s->doubts);
	free(base);
}

static const struct store_ops rs_ops = {
	.free = rs_free,
	.put = rs_put,
	.get = rs_get,
	.take = rs_take,
	.finish = rs_finish,
	.sweep = rs_sweep,
	.reopen = rs_reopen,
	.cancel_pending = rs_cancel_pending,
	.lock_phone = rs_lock_phone,
	.lock_settle = rs_lock_settle,
	.answer = rs_answer,
	.withdraw = rs_withdraw,
	.settle = rs_settle,
	.get_counted = rs_get_counted,
	.pending = rs_pending,
	.size = rs_pending,          /* what this node holds in Redis: its pending */
};

struct store *store_redis_new(const struct store_redis_opts *o)
{
	struct rstore *s = xcalloc(1, sizeof *s);

	s->base.ops = &rs_ops;
	s->redis = o->redis;
	for (int i = 0; i < RS_NSCRIPTS; i++)
		redis_script_init(&s->scripts[i], store_redis_scripts[i].name, store_redis_scripts[i].src);
	s->max_pending = o->max_pending;
	snprintf(s->node, sizeof s->node, "%s", o->node_id);
	snprintf(s->node_key, sizeof s->node_key, "mnmfa:x:%s", o->node_id);
	snprintf(s->swept_key, sizeof s->swept_key, "mnmfa:xs:%s", o->node_id);
	pthread_mutex_init(&s->sweep_lock, NULL);
	pthread_mutex_init(&s->doubt_lock, NULL);
	s->doubts = xcalloc(RS_DOUBT_MAX, sizeof *s->doubts);
	atomic_init(&s->pending, 0);
	return &s->base;
}
