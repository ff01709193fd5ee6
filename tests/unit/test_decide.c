/*
 * test_decide: what each answer to a page means (decide_plan, decide_answer),
 * one case per branch: right, wrong, wrong reaching the lockout, a locked
 * phone, a page already used, expired, unknown. Each case checks every field
 * of the outcome, so a branch that logs, refunds or replies differently fails.
 */
#include "unit.h"
#include "decide.h"

#include <string.h>

#define NOW 1700000000000LL
#define DECIDED (NOW - 5)          /* the store's decided_ms, distinct from NOW */

static struct chal chal_with(enum chal_status st)
{
	struct chal c;

	memset(&c, 0, sizeof c);
	c.status = (uint8_t)st;
	c.decided_ms = st == CHAL_PENDING ? 0 : DECIDED;
	return c;
}

static void want(const char *name, const struct decide_out *got, const struct decide_out *exp)
{
#define FIELD(f, fmt) \
	if (got->f != exp->f) \
		fail_msg("%s: " #f " is " fmt ", expected " fmt, name, (long long)got->f, (long long)exp->f)
	FIELD(reply, "%lld");
	FIELD(audit, "%lld");
	if (exp->audit) {
		FIELD(kind, "%lld");
		FIELD(ts_ms, "%lld");
	}
	FIELD(notify, "%lld");
	FIELD(validated, "%lld");
	FIELD(metric, "%lld");
	FIELD(refund, "%lld");
	FIELD(undo_on_failure, "%lld");
	FIELD(refund_on_undo, "%lld");
	FIELD(then_locked, "%lld");
#undef FIELD
}

/* A page seen pending, whose attempt the lockout counted: the answer is checked. */
static void run(const char *name, struct decide_plan plan, enum store_result sr, enum chal_status st,
                bool reached, const struct decide_out *exp)
{
	struct chal c = chal_with(st);
	struct decide_in in = { .plan = plan, .sr = sr, .c = &c, .now_ms = NOW, .lockout_reached = reached };
	struct decide_out out;

	memset(&out, 0xa5, sizeof out);
	decide_answer(&in, &out);
	want(name, &out, exp);
}

static void test_plan(void **state)
{
	struct decide_plan p;

	(void)state;
	p = decide_plan(true, 0);
	assert_int_equal(p.op, DECIDE_TAKE);
	assert_true(p.reserved);
	p = decide_plan(true, 30);
	assert_int_equal(p.op, DECIDE_FINISH_LOCKED);
	assert_false(p.reserved);
	/* not pending: the phone is unknown, nothing is counted; the store says why */
	p = decide_plan(false, 0);
	assert_int_equal(p.op, DECIDE_TAKE);
	assert_false(p.reserved);
	p = decide_plan(false, 30);
	assert_int_equal(p.op, DECIDE_TAKE);
	assert_false(p.reserved);
}

static void test_right_answer(void **state)
{
	(void)state;
	run("right", decide_plan(true, 0), STORE_OK, CHAL_APPROVED, false, &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_APPROVED, .ts_ms = DECIDED,
		.notify = true, .validated = true, .metric = M_APPROVED, .refund = true,
		.undo_on_failure = true, .then_locked = false });
}

static void test_wrong_answer(void **state)
{
	(void)state;
	run("wrong", decide_plan(true, 0), STORE_OK, CHAL_DENIED, false, &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_DENIED, .ts_ms = DECIDED,
		.notify = true, .validated = false, .metric = M_DENIED, .refund = false,
		.undo_on_failure = true, .refund_on_undo = true, .then_locked = false });
}

static void test_wrong_answer_reaching_the_lockout(void **state)
{
	(void)state;
	run("wrong, limit reached", decide_plan(true, 0), STORE_OK, CHAL_DENIED, true,
	    &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_DENIED, .ts_ms = DECIDED,
		.notify = true, .validated = false, .metric = M_DENIED, .refund = false,
		.undo_on_failure = true, .refund_on_undo = true, .then_locked = true });
}

static void test_right_answer_never_locks(void **state)
{
	(void)state;
	/* the limit reached by other pages' failures: a right answer still approves */
	run("right, limit reached", decide_plan(true, 0), STORE_OK, CHAL_APPROVED, true,
	    &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_APPROVED, .ts_ms = DECIDED,
		.notify = true, .validated = true, .metric = M_APPROVED, .refund = true,
		.undo_on_failure = true, .then_locked = false });
}

static void test_locked_phone(void **state)
{
	(void)state;
	run("locked phone", decide_plan(true, 30), STORE_OK, CHAL_LOCKED, true, &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_LOCKED, .ts_ms = DECIDED,
		.notify = true, .validated = false, .metric = M_LOCKED, .refund = false,
		.undo_on_failure = true, .then_locked = false });
}

static void test_used_page(void **state)
{
	(void)state;
	/* decided between store_get and store_take: the reserved attempt goes back */
	run("used, reserved", decide_plan(true, 0), STORE_USED, CHAL_APPROVED, false,
	    &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_REPLAYED, .ts_ms = NOW,
		.notify = false, .validated = false, .metric = M_REPLAYED, .refund = true,
		.undo_on_failure = false, .then_locked = false });
	run("used", decide_plan(false, 0), STORE_USED, CHAL_DENIED, false, &(struct decide_out){
		.reply = DECIDE_TO_CHAT, .audit = true, .kind = AUDIT_REPLAYED, .ts_ms = NOW,
		.notify = false, .validated = false, .metric = M_REPLAYED, .refund = false,
		.undo_on_failure = false, .then_locked = false });
}

static void test_expired_page(void **state)
{
	(void)state;
	run("expired", decide_plan(false, 0), STORE_EXPIRED, CHAL_EXPIRED, false, &(struct decide_out){
		.reply = DECIDE_NOT_FOUND, .audit = false, .metric = M_REPLAYED, .refund = false });
	/* expired between store_get and store_take */
	run("expired, reserved", decide_plan(true, 0), STORE_EXPIRED, CHAL_EXPIRED, false,
	    &(struct decide_out){
		.reply = DECIDE_NOT_FOUND, .audit = false, .metric = M_REPLAYED, .refund = true });
}

static void test_unknown_page(void **state)
{
	(void)state;
	run("unknown", decide_plan(false, 0), STORE_NOT_FOUND, CHAL_PENDING, false,
	    &(struct decide_out){
		.reply = DECIDE_NOT_FOUND, .audit = false, .metric = M_REPLAYED, .refund = false });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_right_answer),
		cmocka_unit_test(test_wrong_answer),
		cmocka_unit_test(test_wrong_answer_reaching_the_lockout),
		cmocka_unit_test(test_right_answer_never_locks),
		cmocka_unit_test(test_locked_phone),
		cmocka_unit_test(test_used_page),
		cmocka_unit_test(test_expired_page),
		cmocka_unit_test(test_unknown_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
