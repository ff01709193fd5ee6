/*
 * decide: what an answer posted to a challenge page means, as a pure function
 * of what the store and the phone's lockout said. No HTTP and no I/O: web.c
 * asks the store and the limiter, hands their results here, and then does
 * what comes back (the lockout refund, the audit rows, the reply).
 *
 * An answer is decided in two steps:
 *  1. decide_plan, before the answer is checked. A page seen pending has a
 *     known phone, and one attempt is counted against that phone's lockout
 *     first (limiter_hit), so simultaneous answers to several pages of one
 *     phone cannot get past the limit together. A phone already locked ends
 *     the page as `locked` whatever the answer.
 *  2. decide_answer, from the result of the store call the plan chose: the
 *     audit event, whether the reserved attempt is given back (a right answer,
 *     or no answer was checked), whether the reply waits for the event to be
 *     durable (and the decision is undone if it cannot be), and whether a
 *     `locked` event follows (the failure reached the limit).
 */
#ifndef MNMFA_DECIDE_H
#define MNMFA_DECIDE_H

#include "audit.h"
#include "metrics.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

/* The store call that checks (or ends) the page. */
enum decide_op {
	DECIDE_TAKE,            /* store_take: check the answer */
	DECIDE_FINISH_LOCKED    /* store_finish(CHAL_LOCKED): the phone is locked out */
};

struct decide_plan {
	enum decide_op op;
	bool reserved;          /* one attempt was counted against the phone's lockout */
};

/* pending: store_get found the page pending (so its phone is known and one
 * attempt was offered to the lockout). lockout_secs: what limiter_hit answered
 * for that attempt (0 counted, > 0 the phone is locked); ignored unless pending. */
struct decide_plan decide_plan(bool pending, int lockout_secs);

enum decide_reply {
	DECIDE_TO_CHAT,         /* 303 back to the chat */
	DECIDE_NOT_FOUND        /* 404: unknown or expired page */
};

struct decide_in {
	struct decide_plan plan;
	enum store_result sr;   /* of the call plan.op named */
	const struct chal *c;   /* the record as that call left it */
	int64_t now_ms;         /* the one instant of this answer */
	bool lockout_reached;   /* after the call, the phone's failures reached the limit */
};

struct decide_out {
	enum decide_reply reply;
	bool audit;             /* an event of kind `kind` at ts_ms is written */
	enum audit_kind kind;
	int64_t ts_ms;
	bool notify;            /* the event also queues a result for the bot... */
	bool validated;         /* ...with this user_validated */
	enum metric metric;     /* counted once */
	bool refund;            /* give the reserved attempt back to the lockout */
	/* The reply waits until the event is durable; if it cannot be written,
	 * the decision is undone (the page reopened) and the reply is 503. */
	bool undo_on_failure;
	bool refund_on_undo;    /* ...and then the attempt the denial kept is given back */
	bool then_locked;       /* once the decision is durable, a `locked` event (at ts_ms, no
	                           result) follows, and the phone's other pending links end */
};

void decide_answer(const struct decide_in *in, struct decide_out *out);

#endif
