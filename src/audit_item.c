/*
 * audit_item: copying an event for the audit writer's queue (see
 * audit_item.h): one block per event, its strings cleaned so that every
 * stored field exports as valid JSON and CSV text.
 */
#include "audit_item.h"
#include "utf8.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
	[AUDIT_MINTED] = "minted", [AUDIT_APPROVED] = "approved", [AUDIT_DENIED] = "denied",
	[AUDIT_EXPIRED] = "expired", [AUDIT_CANCELED] = "canceled", [AUDIT_LOCKED] = "locked",
	[AUDIT_REPLAYED] = "replayed",
};

bool audit_kind_known(enum audit_kind k)
{
	return (unsigned)k < ARRAY_LEN(kind_names);
}

const char *audit_kind_name(enum audit_kind k)
{
	return audit_kind_known(k) ? kind_names[k] : "unknown";
}

#define AUDIT_REFDATA_PARSE_MAX (4 * AUDIT_REFDATA_MAX) /* longer input is not parsed */

/* Replaces bytes that are not valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF) and control characters but tab with '?',
 * so that every stored field exports as valid JSON and CSV text. */
static void clean_text(char *s)
{
	unsigned char *p = (unsigned char *)s, *end = p + strlen(s);

	while (p < end) {
		uint32_t cp;
		int k;

		if (*p >= 0x20 && *p < 0x7f) {      /* printable ASCII: most of every field */
			p++;
			continue;
		}
		k = utf8_decode(p, (size_t)(end - p), &cp);

		if (k < 0) {
			*p++ = '?';             /* the bad byte only: resynchronise after it */
			continue;
		}
		if ((cp < 0x20 && cp != '\t') || cp == 0x7f)
			*p = '?';
		p += k;
	}
}

/* How many bytes of s are kept: at most cap, cut at a character boundary. */
static size_t kept_len(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap + 1);

	if (n > cap) {
		n = cap;
		/* s[n] is the first byte left out; if it continues a character,
		 * leave out that character's first bytes too. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

/* refdata must be a JSON object; it is kept minified (a cJSON allocation,
 * freed by the caller), or not at all when it is not valid or longer than
 * AUDIT_REFDATA_MAX. */
static char *minify_refdata(const char *s)
{
	cJSON *j;
	char *printed;

	if (s == NULL || strnlen(s, AUDIT_REFDATA_PARSE_MAX + 1) > AUDIT_REFDATA_PARSE_MAX)
		return NULL;
	j = cJSON_ParseWithOpts(s, NULL, true);
	if (j == NULL || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	printed = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (printed != NULL && strlen(printed) > AUDIT_REFDATA_MAX) {
		free(printed);
		return NULL;
	}
	return printed;
}

struct item *audit_item_new(const struct audit_event *ev, audit_done_fn done, void *ctx)
{
	static const size_t caps[ITEM_FIELDS] = {
		[ITEM_PAGE_ID] = PAGE_ID_LEN, [ITEM_CLIENT_ID] = AUDIT_FIELD_MAX,
		[ITEM_PHONE] = AUDIT_FIELD_MAX, [ITEM_FLOW] = AUDIT_FIELD_MAX, [ITEM_IP] = AUDIT_IP_MAX,
		[ITEM_USER_AGENT] = AUDIT_UA_MAX, [ITEM_REFDATA] = AUDIT_REFDATA_MAX,
	};
	/* The page's refdata is parsed and printed again; the daemon's own (a
	 * mint's question) is already minified and skips that (a sixth of a
	 * mint's CPU went to the round trip through cJSON). */
	char *refdata = ev->refdata_minified ? NULL : minify_refdata(ev->refdata);
	const char *src[ITEM_FIELDS] = {
		ev->page_id[0] != '\0' ? ev->page_id : NULL, ev->client_id, ev->phone, ev->flow, ev->ip,
		ev->user_agent, ev->refdata_minified ? ev->refdata : refdata,
	};
	size_t len[ITEM_FIELDS], total = 0;
	struct item *it;
	char *p;

	for (int i = 0; i < ITEM_FIELDS; i++) {
		len[i] = src[i] != NULL ? kept_len(src[i], caps[i]) : 0;
		total += src[i] != NULL ? len[i] + 1 : 0;
	}
	it = xmalloc(sizeof *it + total);
	memset(it, 0, sizeof *it);
	p = it->text;
	for (int i = 0; i < ITEM_FIELDS; i++) {
		if (src[i] == NULL)
			continue;
		memcpy(p, src[i], len[i]);
		p[len[i]] = '\0';
		clean_text(p);   /* same length; in refdata bad UTF-8 only occurs inside strings */
		it->f[i] = p;
		it->len[i] = len[i];
		p += len[i] + 1;
	}
	free(refdata);
	it->kind = ev->kind;
	it->ts_ms = ev->ts_ms > 0 ? ev->ts_ms : now_ms();
	it->created_ms = ev->created_ms;
	it->notify = ev->notify;
	it->validated = ev->validated;
	it->done = done;
	it->ctx = ctx;
	it->give_up_ms = AUDIT_NO_DEADLINE;
	return it;
}

void audit_item_free(struct item *it)
{
	free(it);
}
