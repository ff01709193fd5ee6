/*
 * web_doubt: the answers a node told "try again" (503) because the store
 * could not say whether they decided their page (STORE_IN_DOUBT: Redis took
 * the answer but its reply was lost, or no replica confirmed it), kept with
 * what their evidence needs until the store can say (see web_doubt.c).
 */
#ifndef MNMFA_WEB_DOUBT_H
#define MNMFA_WEB_DOUBT_H

#include "store.h"

#include <stdbool.h>
#include <stdint.h>

#define WEB_DOUBTS_FIRST 64               /* room made at first; grows up to the node's max_pending */
#define WEB_DOUBT_MS (10 * 60 * 1000LL)   /* how long a node keeps asking about one */
#define WEB_DOUBT_QUIET_MS 1000           /* asked first this long after it was noted, and
                                             again this long after the store failed to answer */
#define WEB_DOUBT_UA_MAX 512              /* the user agent kept for its evidence */

struct metrics;
struct web_doubts;

/* What an answer's evidence records about its request. */
struct web_doubt_req {
	const char *ip, *user_agent, *refdata;    /* user_agent, refdata may be NULL */
};

/* Writes the evidence an answer owes, now that the store says it decided its
 * page (ans as store_answer would have filled it). false: not queued (ask
 * again at the next settle). */
typedef bool (*web_doubt_owed_fn)(void *ctx, const struct store_answer *ans, const struct web_doubt_req *req);

/* Keeps at most max answers in doubt (the node's max_pending). */
struct web_doubts *web_doubts_new(struct metrics *m, size_t max);
/* Each answer still kept is logged and counted (mnmfa_decisions_unsettled_total):
 * its page may stay decided with no audit row. */
void web_doubts_free(struct web_doubts *d);

/* Before an answer goes to the store: holds room for it, should it end in
 * doubt. false when the table is full (logged, counted in
 * mnmfa_answers_refused_total): the answer must not be sent, and is
 * answered 503, nothing decided. Thread-safe. */
bool web_doubts_reserve(struct web_doubts *d);
/* The answer did not end in doubt: gives its room back. */
void web_doubts_release(struct web_doubts *d);
/* The answer ended in doubt: keeps it (its page, the token store_answer
 * gave, its request) in the room reserved; mono_now here and in the settle
 * is mono_ms() (a wall-clock step moves no retry). Thread-safe; counted in
 * mnmfa_decisions_in_doubt_total. */
void web_doubts_add(struct web_doubts *d, const uint8_t id[PAGE_ID_BYTES], const char *token, int64_t mono_now,
                    const struct web_doubt_req *req);

/* Asks the store about each answer due (store_settle), or about every one
 * when force (the stop's last try): one that decided its page gets its
 * evidence through owed; one that did not is forgotten (the store fenced
 * it); one the store cannot tell about yet is kept, until WEB_DOUBT_MS.
 * Stops asking at the first the store cannot answer for (unreachable, or no
 * replica confirmed): the rest are asked later. */
void web_doubts_settle(struct web_doubts *d, struct store *s, int64_t mono_now, bool force, web_doubt_owed_fn owed,
                       void *ctx);

#endif
