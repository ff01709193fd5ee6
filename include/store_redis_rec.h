/*
 * store_redis_rec: the Redis store's record as it is read and written (a
 * private header of store_redis.c): a challenge's key mnmfa:c:<page id>,
 * its question packed in RS_Q_BYTES, request tokens, and the replies of the
 * scripts that return a record (RS_FIELDS fields, in the order of the Lua
 * R(): st cm em dm lg q ci ph fl, then the ms left until the expiry on
 * Redis's clock).
 */
#ifndef MNMFA_STORE_REDIS_REC_H
#define MNMFA_STORE_REDIS_REC_H

#include "store.h"

#include <hiredis/hiredis.h>
#include <stdint.h>

#define RS_KEY_MAX 96
#define RS_Q_BYTES 40                /* packed struct question */
#define RS_FIELDS 10                 /* st cm em dm lg q ci ph fl, ms left */
#define RS_TOKEN_HEX STORE_TOKEN_MAX

/* The record's key (and the id's base64url in b64). */
void rs_rec_key(const uint8_t id[PAGE_ID_BYTES], char *out, char b64[PAGE_ID_LEN + 1]);
void rs_pack_q(const struct question *q, uint8_t out[RS_Q_BYTES]);
/* A packed question of the wrong length reads as all zeros. */
void rs_unpack_q(const uint8_t *in, size_t len, struct question *q);
/* An integer reply, or a string of one; 0 otherwise. */
long long rs_ll(const redisReply *e);
/* The record at rep->element[at ...], as the store hands it out: a pending
 * record past its expiry on Redis's clock reads as expired (the sweep of
 * its node marks it); one that left pending has no truth and no options. */
enum store_result rs_parse(const redisReply *rep, size_t at, const uint8_t id[PAGE_ID_BYTES], struct chal *out);
/* A fresh request token (hex). */
void rs_token(char out[RS_TOKEN_HEX + 1]);
/* The reply of the answer script (and of the settle script) into out:
 * {code, locked, reached, question before, record...}, codes 0 decided by
 * this token, 1 unknown, 2 expired, 3 decided before. */
enum store_result rs_answer_reply(const redisReply *rep, const uint8_t id[PAGE_ID_BYTES], struct store_answer *out);
/* The (id, record...) entries of a reply from element `from` on, reported
 * through report: the expiries of a sweep (expired: as expired whatever
 * they read as), or the links a lockout ended. Returns how many. */
size_t rs_report(const redisReply *rep, size_t from, bool expired, store_expired_fn report, void *ctx);

#endif
