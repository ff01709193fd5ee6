/*
 * test_report: the HTML evidence report rendered from a hand-made timeline.
 * Every value from the log is escaped (markup in the user agent, the device
 * details, the flow), the document has no script and loads nothing, a row
 * past a break is marked as failing with the walk's reason, the checkpoint
 * line says there is none, a row's node is named, and both languages render.
 */
#include "unit.h"
#include "report.h"
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

static char *dup(const char *s)
{
	return s ? strcpy(malloc(strlen(s) + 1), s) : NULL;
}

static void fill(struct timeline_row *r, int64_t id, const char *event, const char *ua)
{
	memset(r, 0, sizeof *r);
	r->id = id;
	r->ts_ms = 1764581268123;
	r->ts = dup("2025-12-01T09:27:48.123Z");
	r->event = dup(event);
	r->page_id = dup("Qx3AbCdEfGhIjKlMnOpQrS");
	r->client_id = dup("cid-1");
	r->phone = dup("5215550001111");
	r->flow = dup("flow<i>x</i>");
	r->ip = dup("203.0.113.7");
	r->user_agent = dup(ua);
	r->hash = dup("ab12");
	r->prev_hash = dup("cd34");
	r->dev_tz = dup("Zone/<b>Bold</b>");
}

static void test_escaped_and_self_contained(void **state)
{
	struct timeline_row *rows = calloc(2, sizeof *rows);
	struct timeline tl = { .rows = rows, .n = 2, .matched = 2, .log_rows = 9, .log_head_id = 9 };
	struct timeline_query q = { .by = TIMELINE_PHONE, .value = "5215550001111<" };
	struct report_meta m = { .db_path = "logs.db", .q = &q, .made_ms = 1764581268123, .lang = LANG_EN };
	size_t len;
	char *html;

	(void)state;
	assert_non_null(rows);
	fill(&rows[0], 3, "minted", NULL);
	fill(&rows[1], 4, "approved", "UA <script>alert('x')</script> & \"q\"");
	rows[1].chain = TIMELINE_CHAIN_BAD;
	rows[1].node = dup("node-<7>");
	tl.verify.bad_id = 4;
	tl.verify.head_id = 3;
	tl.verify.reason = "hash does not match the row's contents (the row was changed)";
	tl.failing = 1;
	html = report_render(&tl, &m, &len);

	assert_int_equal(strlen(html), len);
	assert_non_null(strstr(html, "UA &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
	assert_non_null(strstr(html, "Zone/&lt;b&gt;Bold&lt;/b&gt;"));
	assert_non_null(strstr(html, "flow&lt;i&gt;x&lt;/i&gt;"));
	assert_non_null(strstr(html, "5215550001111&lt;"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<b>Bold"));
	assert_null(strstr(html, "<i>x"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "<link"));
	assert_non_null(strstr(html, "<html lang=\"en\">"));
	assert_non_null(strstr(html, "FAILS: hash does not match the row&#39;s contents"));
	assert_non_null(strstr(html, "BROKEN at row 4"));
	assert_non_null(strstr(html, "No signed checkpoint yet"));
	assert_non_null(strstr(html, "4 of 9"));
	assert_non_null(strstr(html, "Node that recorded it</dt><dd>node-&lt;7&gt;</dd>"));
	free(html);

	m.lang = LANG_ES;
	tl.n = 0;
	tl.matched = 0;
	html = report_render(&tl, &m, &len);
	assert_non_null(strstr(html, "<html lang=\"es\">"));
	assert_non_null(strstr(html, "Ninguna fila"));
	assert_non_null(strstr(html, "Aún no hay punto de control firmado"));
	free(html);
	tl.rows = rows;
	tl.n = 2;
	timeline_free(&tl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaped_and_self_contained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
