/*
 * test_json_out: the JSON writer gives, byte for byte, what cJSON prints for
 * the same members (every byte value in a string, nesting, numbers), and the
 * text parses back to the same values.
 */
#include "unit.h"
#include "json_out.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void want_same_as_cjson(struct buf *b, cJSON *o)
{
	char *want = cJSON_PrintUnformatted(o);

	if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
		fail_msg("expected %s, got %.*s", want, (int)b->len, b->data);
	free(want);
	cJSON_Delete(o);
	buf_free(b);
}

static void test_every_byte_escaped_as_cjson(void **state)
{
	struct buf b = { 0 };
	cJSON *o = cJSON_CreateObject(), *back;
	char s[256];

	(void)state;
	for (int i = 1; i < 256; i++)
		s[i - 1] = (char)i;            /* every byte value but NUL, in one string */
	s[255] = '\0';
	json_out_open(&b, NULL, '{');
	json_out_str(&b, "all", s);
	json_out_str(&b, "k\"\\\n", "");
	json_out_close(&b, '}');
	cJSON_AddStringToObject(o, "all", s);
	cJSON_AddStringToObject(o, "k\"\\\n", "");
	back = cJSON_Parse(b.data);
	assert_non_null(back);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(back, "all")), s);
	cJSON_Delete(back);
	want_same_as_cjson(&b, o);
}

static void test_nesting_and_numbers_as_cjson(void **state)
{
	struct buf b = { 0 };
	cJSON *o = cJSON_CreateObject(), *attrs, *msgs, *msg, *empty;

	(void)state;
	json_out_open(&b, NULL, '{');
	json_out_open(&b, "set_attributes", '{');
	json_out_str(&b, "mfa_url", "https://h/x?a=1&b=\"2\"");
	json_out_int(&b, "n", -600);
	json_out_close(&b, '}');
	json_out_open(&b, "messages", '[');
	json_out_open(&b, NULL, '{');
	json_out_str(&b, "text", "Para continuar, confirma que eres tú.");
	json_out_close(&b, '}');
	json_out_open(&b, NULL, '{');
	json_out_open(&b, "empty", '[');
	json_out_close(&b, ']');
	json_out_close(&b, '}');
	json_out_str(&b, NULL, "last");
	json_out_close(&b, ']');
	json_out_int(&b, "expires_in", 2147483647);
	json_out_close(&b, '}');

	attrs = cJSON_AddObjectToObject(o, "set_attributes");
	cJSON_AddStringToObject(attrs, "mfa_url", "https://h/x?a=1&b=\"2\"");
	cJSON_AddNumberToObject(attrs, "n", -600);
	msgs = cJSON_AddArrayToObject(o, "messages");
	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "text", "Para continuar, confirma que eres tú.");
	cJSON_AddItemToArray(msgs, msg);
	msg = cJSON_CreateObject();
	empty = cJSON_AddArrayToObject(msg, "empty");
	(void)empty;
	cJSON_AddItemToArray(msgs, msg);
	cJSON_AddItemToArray(msgs, cJSON_CreateString("last"));
	cJSON_AddNumberToObject(o, "expires_in", 2147483647);
	want_same_as_cjson(&b, o);
}

static void test_int_extremes(void **state)
{
	struct buf b = { 0 };

	(void)state;
	json_out_open(&b, NULL, '[');
	json_out_int(&b, NULL, LLONG_MIN);
	json_out_int(&b, NULL, LLONG_MAX);
	json_out_int(&b, NULL, 0);
	json_out_close(&b, ']');
	assert_string_equal(b.data, "[-9223372036854775808,9223372036854775807,0]");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_escaped_as_cjson),
		cmocka_unit_test(test_nesting_and_numbers_as_cjson),
		cmocka_unit_test(test_int_extremes),
	};
	return cmocka_run_group_tests_name("json_out", tests, NULL, NULL);
}
