/*
 * decide: the meaning of an answer (see decide.h). Pure: it reads its
 * arguments and writes its result, nothing else.
 */
#include "decide.h"

#include <string.h>

struct decide_plan decide_plan(bool pending, int lockout_secs)
{
	if (!pending)
		return (struct decide_plan){ .op = DECIDE_TAKE, .reserved = false };
	if (lockout_secs > 0)
		return (struct decide_plan){ .op = DECIDE_FINISH_LOCKED, .reserved = false };
	return (struct decide_plan){ .op = DECIDE_TAKE, .reserved = true };
}

void decide_answer(const struct decide_in *in, struct decide_out *out)
{
	const struct chal *c = in->c;
	bool decided = in->sr == STORE_OK;
	bool denied = decided && c->status == CHAL_DENIED;

	memset(out, 0, sizeof *out);
	/* Only a counted wrong answer keeps its attempt. */
	out->refund = in->plan.reserved && !denied;
	if (decided) {
		bool approved = c->status == CHAL_APPROVED;

		out->kind = approved ? AUDIT_APPROVED : c->status == CHAL_LOCKED ? AUDIT_LOCKED : AUDIT_DENIED;
		out->metric = approved ? M_APPROVED : out->kind == AUDIT_LOCKED ? M_LOCKED : M_DENIED;
		out->reply = DECIDE_TO_CHAT;
		out->audit = true;
		out->ts_ms = c->decided_ms;
		out->notify = true;
		out->validated = approved;
		out->undo_on_failure = true;
		/* the failure was counted before the check; reaching the limit locks the phone */
		out->then_locked = denied && in->lockout_reached;
		/* an undone denial never happened: the attempt it kept goes back */
		out->refund_on_undo = in->plan.reserved && denied;
	} else if (in->sr == STORE_USED) {
		/* Decided already: the person goes back to the chat, the retry is logged. */
		out->kind = AUDIT_REPLAYED;
		out->metric = M_REPLAYED;
		out->reply = DECIDE_TO_CHAT;
		out->audit = true;
		out->ts_ms = in->now_ms;
	} else {
		out->metric = M_REPLAYED;
		out->reply = DECIDE_NOT_FOUND;
	}
}
