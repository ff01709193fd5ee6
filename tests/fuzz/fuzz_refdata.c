// max_len: 20000
/*
 * fuzz_refdata: the page's device info as the validate form posts it
 * (refdata=...), through the same steps as the daemon: form_get into a
 * AUDIT_REFDATA_MAX + 1 buffer (web.c), then audit's own copy_refdata (parse
 * a bounded string, keep it only if it is a JSON object, minified, cleaned to
 * valid UTF-8) and copy_text for the other outside text (User-Agent). audit.c
 * is included whole so its static helpers are the ones tested.
 * Checks: memory safety; a kept refdata is a JSON object of at most
 * AUDIT_REFDATA_MAX bytes in valid UTF-8; cleaned text is valid UTF-8 with no
 * control character but tab, at most cap bytes.
 */
#include "../../src/form.c"
#include "../../src/audit.c"

#include <stdint.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1), *refdata, *kept, *ua;
	long n;

	memcpy(body, data, size);
	body[size] = '\0';

	refdata = malloc(AUDIT_REFDATA_MAX + 1);
	n = form_get(body, size, "refdata", refdata, AUDIT_REFDATA_MAX + 1);
	if (n > 0) {
		kept = copy_refdata(refdata);
		if (kept != NULL) {
			cJSON *back = cJSON_Parse(kept);
			if (strlen(kept) > AUDIT_REFDATA_MAX || back == NULL || !cJSON_IsObject(back) ||
			    !clean_utf8((const unsigned char *)kept))
				abort();
			cJSON_Delete(back);
			free(kept);
		}
	}
	/* the whole input as one unbounded string too (audit must bound it itself) */
	kept = copy_refdata(body);
	if (kept != NULL) {
		if (strlen(kept) > AUDIT_REFDATA_MAX || !clean_utf8((const unsigned char *)kept))
			abort();
		free(kept);
	}
	ua = copy_text(body, AUDIT_UA_MAX);
	if (ua == NULL || strlen(ua) > AUDIT_UA_MAX || !clean_utf8((const unsigned char *)ua))
		abort();
	free(ua);
	free(refdata);
	free(body);
	return 0;
}
