/*
 * test_buf: the growable buffer. Contents are checked byte for byte against
 * what was added, across many growths, with embedded NULs, printf output
 * longer than any first guess, reset and take.
 */
#include "unit.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

static void want_contents(const struct buf *b, const char *want, size_t n)
{
	if (b->len != n)
		fail_msg("expected length %zu, got %zu", n, b->len);
	if (n > 0 && memcmp(b->data, want, n) != 0)
		fail_msg("expected \"%.*s\", got \"%.*s\"", (int)n, want, (int)b->len, b->data);
	if (b->data == NULL || b->data[b->len] != '\0')
		fail_msg("expected a NUL after %zu bytes", n);
	if (b->cap <= b->len)
		fail_msg("capacity %zu does not leave room for the NUL after %zu", b->cap, b->len);
}

static void test_zero_initialised_is_empty(void **state)
{
	struct buf b = { 0 };
	size_t len = 99;
	char *s;

	(void)state;
	assert_int_equal(b.len, 0);
	buf_add(&b, "", 0);
	want_contents(&b, "", 0);
	buf_free(&b);
	assert_null(b.data);

	s = buf_take(&b, &len);                     /* never-used buffer: "" */
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
}

static void test_add_grows_and_keeps_every_byte(void **state)
{
	struct buf b = { 0 };
	char *want = malloc(100000);
	size_t n = 0;

	(void)state;
	for (int i = 0; n + 7 < 100000; i++) {
		char chunk[7];
		for (int k = 0; k < 7; k++)
			chunk[k] = (char)((i * 7 + k) % 251);   /* includes NUL bytes */
		buf_add(&b, chunk, (size_t)(i % 7) + 1);
		memcpy(want + n, chunk, (size_t)(i % 7) + 1);
		n += (size_t)(i % 7) + 1;
		if (b.data[b.len] != '\0')
			fail_msg("no NUL after add %d", i);
	}
	want_contents(&b, want, n);
	buf_free(&b);
	free(want);
}

static void test_puts_and_printf(void **state)
{
	struct buf b = { 0 };
	char big[5000];

	(void)state;
	buf_puts(&b, "a");
	buf_printf(&b, "<%d|%s>", 42, "x");
	buf_puts(&b, "");
	want_contents(&b, "a<42|x>", 7);

	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	buf_reset(&b);
	buf_printf(&b, "[%s]", big);             /* longer than the space left: second pass */
	assert_int_equal(b.len, sizeof big + 1);
	assert_int_equal(b.data[0], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[2500], 'q');
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
	struct buf b = { 0 };
	char *before;
	size_t cap;

	(void)state;
	for (int i = 0; i < 100; i++)
		buf_puts(&b, "0123456789");
	before = b.data;
	cap = b.cap;
	buf_reset(&b);
	want_contents(&b, "", 0);
	assert_ptr_equal(b.data, before);
	assert_int_equal(b.cap, cap);
	buf_puts(&b, "again");
	want_contents(&b, "again", 5);
	buf_free(&b);
}

static void test_reserve_for_writing_in_place(void **state)
{
	struct buf b = { 0 };

	(void)state;
	buf_puts(&b, "ab");
	buf_reserve(&b, 1000);
	assert_true(b.cap - b.len >= 1001);
	memcpy(b.data + b.len, "cd", 3);
	b.len += 2;
	want_contents(&b, "abcd", 4);
	buf_free(&b);
}

static void test_take_hands_over_and_empties(void **state)
{
	struct buf b = { 0 };
	size_t len = 0;
	char *s;

	(void)state;
	buf_puts(&b, "hello");
	s = buf_take(&b, &len);
	assert_string_equal(s, "hello");
	assert_int_equal(len, 5);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_puts(&b, "new");                      /* reusable after take */
	want_contents(&b, "new", 3);
	free(s);
	s = buf_take(&b, NULL);
	assert_string_equal(s, "new");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_initialised_is_empty),
		cmocka_unit_test(test_add_grows_and_keeps_every_byte),
		cmocka_unit_test(test_puts_and_printf),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_reserve_for_writing_in_place),
		cmocka_unit_test(test_take_hands_over_and_empties),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
