/*
 * store_redis_rec: how the Redis store's records read and write
 * (store_redis_rec.h): keys, the packed question, the replies of its scripts.
 */
#include "store_redis_rec.h"
#include "crypto.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define RS_ANSWER_HEAD 4              /* code, locked, reached, question before */

void rs_rec_key(const uint8_t id[PAGE_ID_BYTES], char *out, char b64[PAGE_ID_LEN + 1])
{
	b64url_encode(id, PAGE_ID_BYTES, b64);
	snprintf(out, RS_KEY_MAX, "mnmfa:c:%s", b64);
}

static void rs_put32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;

	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

static int32_t rs_get32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

void rs_pack_q(const struct question *q, uint8_t out[RS_Q_BYTES])
{
	out[0] = q->kind;
	out[1] = q->mode;
	out[2] = q->n_options;
	out[3] = q->correct;
	rs_put32(out + 4, q->truth);
	for (int i = 0; i < CHALLENGE_MAX_CHOICES; i++)
		rs_put32(out + 8 + 4 * i, q->options[i]);
}

void rs_unpack_q(const uint8_t *in, size_t len, struct question *q)
{
	memset(q, 0, sizeof *q);
	if (len != RS_Q_BYTES)
		return;
	q->kind = in[0];
	q->mode = in[1];
	q->n_options = in[2];
	q->correct = in[3];
	q->truth = rs_get32(in + 4);
	for (int i = 0; i < CHALLENGE_MAX_CHOICES; i++)
		q->options[i] = rs_get32(in + 8 + 4 * i);
}

long long rs_ll(const redisReply *e)
{
	long long v = 0;
	const char *err;

	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING && parse_ll(e->str, -(1LL << 53), 1LL << 53, &v, &err) == 0)
		return v;
	return 0;
}

static void rs_str(const redisReply *e, char *out, size_t cap)
{
	size_t n = e->type == REDIS_REPLY_STRING ? e->len : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(out, n > 0 ? e->str : "", n);
	out[n] = '\0';
}

/* The record at rep->element[at ...], as the store hands it out: a pending
 * record past its expiry on Redis's clock reads as expired (the sweep of its
 * node marks it); one that left pending has no truth and no options. */
enum store_result rs_parse(const redisReply *rep, size_t at, const uint8_t id[PAGE_ID_BYTES], struct chal *out)
{
	struct redisReply *const *e = rep->element + at;
	struct chal c;
	enum store_result res;
	long long left;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < at + RS_FIELDS || e[0]->type != REDIS_REPLY_STRING)
		return STORE_NOT_FOUND;
	memset(&c, 0, sizeof c);
	memcpy(c.id, id, PAGE_ID_BYTES);
	c.status = (uint8_t)rs_ll(e[0]);
	c.created_ms = rs_ll(e[1]);
	c.expires_ms = rs_ll(e[2]);
	c.decided_ms = rs_ll(e[3]);
	c.lang = (uint8_t)rs_ll(e[4]);
	if (e[5]->type == REDIS_REPLY_STRING)
		rs_unpack_q((const uint8_t *)e[5]->str, e[5]->len, &c.q);
	rs_str(e[6], c.client_id, sizeof c.client_id);
	rs_str(e[7], c.phone, sizeof c.phone);
	rs_str(e[8], c.flow, sizeof c.flow);
	left = rs_ll(e[9]);
	c.left_ms = left > 0 ? left : 0;
	if (c.status == CHAL_PENDING && left <= 0) {
		c.status = CHAL_EXPIRED;
		c.decided_ms = c.expires_ms;
	}
	if (c.status != CHAL_PENDING) {
		c.q.truth = 0;
		memset(c.q.options, 0, sizeof c.q.options);
	}
	res = c.status == CHAL_PENDING ? STORE_OK : c.status == CHAL_EXPIRED ? STORE_EXPIRED : STORE_USED;
	if (out != NULL)
		*out = c;
	explicit_bzero(&c, sizeof c);
	return res;
}

void rs_token(char out[RS_TOKEN_HEX + 1])
{
	uint8_t raw[RS_TOKEN_HEX / 2];

	if (crypto_random(raw, sizeof raw) < 0)
		memset(raw, 0, sizeof raw);    /* still unique enough with the id in the key */
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The answer script's reply (and the settle script's) into out. */
enum store_result rs_answer_reply(const redisReply *rep, const uint8_t id[PAGE_ID_BYTES], struct store_answer *out)
{
	enum store_result res = STORE_UNAVAILABLE;

	if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1) {
		long long code = rs_ll(rep->element[0]);
		res = STORE_NOT_FOUND;
		if (code != 1 && rep->elements >= RS_ANSWER_HEAD + RS_FIELDS) {
			const redisReply *qb = rep->element[3];
			res = rs_parse(rep, RS_ANSWER_HEAD, id, &out->c);
			if (code == 0 && res != STORE_NOT_FOUND) {
				res = STORE_OK;
				out->pending = true;
				out->locked = rs_ll(rep->element[1]) == 1;
				out->lockout_reached = rs_ll(rep->element[2]) == 1;
				if (qb->type == REDIS_REPLY_STRING)
					rs_unpack_q((const uint8_t *)qb->str, qb->len, &out->q_before);
			}
			if (code == 2)
				res = STORE_EXPIRED;
		}
	}
	return res;
}

/* The (id, record...) entries of a reply from element `from` on, reported
 * through report: the expiries of a sweep (expired: as expired whatever
 * they read as), or the links a lockout ended. */
size_t rs_report(const redisReply *rep, size_t from, bool expired, store_expired_fn report, void *ctx)
{
	size_t reported = 0;

	for (size_t i = from; i + 1 + RS_FIELDS <= rep->elements; i += 1 + RS_FIELDS) {
		uint8_t id[PAGE_ID_BYTES];
		struct chal c;
		const redisReply *e = rep->element[i];

		if (e->type != REDIS_REPLY_STRING || e->len != PAGE_ID_LEN ||
		    b64url_decode(e->str, e->len, id, sizeof id) != PAGE_ID_BYTES)
			continue;
		if (rs_parse(rep, i + 1, id, &c) == STORE_NOT_FOUND)
			continue;
		if (expired) {
			c.status = CHAL_EXPIRED;
			c.decided_ms = c.expires_ms;
		}
		if (report != NULL)
			report(ctx, &c);
		reported++;
		explicit_bzero(&c, sizeof c);
	}
	return reported;
}

/* Redis's clock in microseconds (TIME), or -1 when Redis cannot say. */
