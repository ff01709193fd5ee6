/*
 * test_deadline: the connection deadline thread (deadline.c) on socketpairs:
 * a socket is shut down once its deadline passes (its peer reads end of
 * file), not before; a deadline moved to none or later holds; a removed
 * entry is never touched.
 */
#include "unit.h"
#include "deadline.h"
#include "util.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define AT_MS 300
#define SLACK_MS (DEADLINE_TICK_MS + 400)

/* Milliseconds until peer reads end of file, or -1 within ms. */
static int64_t eof_within(int peer, int ms)
{
	int64_t start = mono_ms();
	struct pollfd p = { .fd = peer, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return recv(peer, &c, 1, MSG_DONTWAIT) == 0 ? mono_ms() - start : -1;
}

static void test_shut_down_when_due_and_not_before(void **state)
{
	struct deadlines *ds = deadlines_start("test");
	int a[2], b[2], c[2];
	struct deadline *da, *db, *dc;
	int64_t t;

	(void)state;
	assert_non_null(ds);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
	da = deadlines_add(ds, a[0], mono_ms() + AT_MS);
	db = deadlines_add(ds, b[0], mono_ms() + AT_MS);
	dc = deadlines_add(ds, c[0], mono_ms() + AT_MS);
	deadlines_set(ds, db, 0);                        /* none now */
	deadlines_remove(ds, dc);                        /* forgotten */
	t = eof_within(a[1], AT_MS + SLACK_MS);
	if (t < AT_MS - 50)
		fail_msg("shut down after %lld ms, before its deadline (%d ms)", (long long)t, AT_MS);
	assert_int_equal(eof_within(b[1], SLACK_MS), -1);
	assert_int_equal(eof_within(c[1], 1), -1);
	deadlines_set(ds, db, mono_ms() + 100);          /* due again */
	assert_true(eof_within(b[1], 100 + SLACK_MS) >= 0);
	deadlines_remove(ds, da);
	deadlines_stop(ds);                              /* frees db too */
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
		close(c[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shut_down_when_due_and_not_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
