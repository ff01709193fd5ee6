// max_len: 20000
/*
 * fuzz_refdata: the page's device info as the validate form posts it
 * (refdata=...), through the same steps as the daemon: form_get into a
 * AUDIT_REFDATA_MAX + 1 buffer (web.c), then audit_item_new, which makes
 * the event the writer queues (refdata parsed from a bounded string, kept
 * only if it is a JSON object, minified, cleaned to valid UTF-8; every other
 * outside text, the User-Agent here, cut at a character boundary and
 * cleaned).
 * Checks: memory safety; a kept refdata is a JSON object of at most
 * AUDIT_REFDATA_MAX bytes in valid UTF-8; cleaned text is valid UTF-8 with no
 * control character but tab, at most cap bytes.
 */
#include "audit_item.h"
#include "form.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Well-formed UTF-8 (RFC 3629) without C0 controls but tab, and without DEL. */
static bool clean_utf8(const unsigned char *s)
{
	while (*s != '\0') {
		uint32_t cp;
		size_t k;
		if (*s < 0x80) {
			if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
				return false;
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) { cp = *s & 0x1f; k = 2; }
		else if ((*s & 0xf0) == 0xe0) { cp = *s & 0x0f; k = 3; }
		else if ((*s & 0xf8) == 0xf0) { cp = *s & 0x07; k = 4; }
		else return false;
		for (size_t j = 1; j < k; j++) {
			if ((s[j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += k;
	}
	return true;
}

/* A kept field is NUL-terminated at its recorded length, at most cap bytes,
 * clean UTF-8. */
static void check_kept(const struct item *it, int field, size_t cap)
{
	const char *s = it->f[field];

	if (s != NULL && (strlen(s) != it->len[field] || it->len[field] > cap ||
	                  !clean_utf8((const unsigned char *)s)))
		abort();
}

/* Queues nothing: builds the event's item as audit_submit does and checks
 * what it kept of refdata and of the User-Agent. */
static void check_item(const char *refdata, const char *ua, bool refdata_wanted)
{
	struct audit_event ev;
	struct item *it;

	memset(&ev, 0, sizeof ev);
	ev.kind = AUDIT_APPROVED;
	ev.ts_ms = 1;
	ev.client_id = "c";
	ev.phone = "5215550000000";
	ev.flow = "F";
	ev.ip = "127.0.0.1";
	ev.user_agent = ua;
	ev.refdata = refdata;
	it = audit_item_new(&ev, NULL, NULL);
	check_kept(it, ITEM_REFDATA, AUDIT_REFDATA_MAX);
	check_kept(it, ITEM_USER_AGENT, AUDIT_UA_MAX);
	if (it->f[ITEM_USER_AGENT] == NULL)
		abort();
	if (refdata_wanted && it->f[ITEM_REFDATA] != NULL) {
		cJSON *back = cJSON_Parse(it->f[ITEM_REFDATA]);
		if (back == NULL || !cJSON_IsObject(back))
			abort();
		cJSON_Delete(back);
	}
	audit_item_free(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1), *refdata;
	long n;

	memcpy(body, data, size);
	body[size] = '\0';

	refdata = malloc(AUDIT_REFDATA_MAX + 1);
	n = form_get(body, size, "refdata", refdata, AUDIT_REFDATA_MAX + 1);
	if (n > 0)
		check_item(refdata, body, true);
	/* the whole input as one unbounded string too (audit must bound it itself) */
	check_item(body, body, false);
	free(refdata);
	free(body);
	return 0;
}
