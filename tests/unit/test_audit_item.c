/*
 * test_audit_item: an event's strings as queued for the writer: control
 * characters (DEL included) and bytes that are not UTF-8 become '?', one
 * each, tab and every printable ASCII and valid UTF-8 character stay.
 */
#include "unit.h"
#include "audit_item.h"

#include <string.h>

static void test_fields_cleaned_byte_for_byte(void **state)
{
	char ascii[96];
	struct audit_event ev = {
		.kind = AUDIT_MINTED,
		.client_id = "a\x01" "b\x1f" "c\x7f" "d\te",
		.phone = "+52\xff" "155\xc3",             /* a stray byte, a cut character */
		.flow = "flujo é ✓ \xf0\x9f\x98\x80",        /* 2-, 3- and 4-byte characters */
		.ip = ascii,
		.user_agent = "\xe0\x80\xaf",                /* overlong '/': three bad bytes */
	};
	struct item *it;

	(void)state;
	for (int c = 0x20; c < 0x7f; c++)
		ascii[c - 0x20] = (char)c;
	ascii[0x7f - 0x20] = '\0';
	it = audit_item_new(&ev, NULL, NULL);
	assert_string_equal(it->f[ITEM_CLIENT_ID], "a?b?c?d\te");
	assert_string_equal(it->f[ITEM_PHONE], "+52?155?");
	assert_string_equal(it->f[ITEM_FLOW], ev.flow);
	assert_string_equal(it->f[ITEM_USER_AGENT], "???");
	/* the IP field keeps at most AUDIT_IP_MAX bytes of the printable run */
	assert_int_equal(it->len[ITEM_IP], strlen(it->f[ITEM_IP]));
	assert_memory_equal(it->f[ITEM_IP], ascii, it->len[ITEM_IP]);
	assert_null(it->f[ITEM_PAGE_ID]);
	audit_item_free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_cleaned_byte_for_byte),
	};
	return cmocka_run_group_tests_name("audit_item", tests, NULL, NULL);
}
