/*
 * test_page: the HTML the web port shows. html_escape and its bound; language
 * choice (challenge lang > Accept-Language > default); dates in words; and the
 * SPEC §5 page contract read from the rendered HTML: one POST form to
 * /validate_answer with a hidden page_id, one radio "respuesta" per option plus
 * "none" (or a single entry input), nothing bound to the user (client_id,
 * phone, flow) and nothing that tells the right option, every outside value
 * escaped, no inline code for the CSP, and a wa.me link on the state pages.
 */
#include "unit.h"
#include "assets.h"
#include "caldate.h"
#include "challenge.h"
#include "config.h"
#include "crypto.h"
#include "page.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WA_NUMBER "+5215550001234"
#define WA_LINK "href=\"https://wa.me/5215550001234\""
#define CLIENT_ID "client-ID-7f3a9"
#define PHONE "+5215557654321"
#define FLOW "flow-Name-QX81"

/* ---- helpers ---- */

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The tag (from '<' to '>') around html[pos], into buf; false if none. */
static bool tag_at(const char *html, const char *pos, char *buf, size_t len)
{
	const char *start, *end;

	for (start = pos; start > html && *start != '<'; start--)
		;
	end = strchr(pos, '>');
	if (*start != '<' || end == NULL)
		return false;
	snprintf(buf, len, "%.*s", (int)(end - start + 1), start);
	return true;
}

/* The tag that contains the first `needle`, into buf; false if none. */
static bool tag_with(const char *html, const char *needle, char *buf, size_t len)
{
	const char *p = strstr(html, needle);

	return p != NULL && tag_at(html, p, buf, len);
}

static void load_config(struct config *cfg, const char *const *flags)
{
	char *argv[16];
	char *envp[] = { NULL };
	int argc = 0;

	for (; flags != NULL && *flags != NULL; flags++)
		argv[argc++] = (char *)*flags;
	argv[argc] = NULL;
	if (config_load(cfg, argc, argv, envp) != 0)
		fail_msg("config_load failed");
}

static void make_chal(struct chal *c, enum question_kind kind, enum challenge_mode mode, int choices,
                      uint64_t seed)
{
	struct test_rng rng;

	memset(c, 0, sizeof *c);
	test_rng_seed(&rng, seed);
	for (int i = 0; i < PAGE_ID_BYTES; i++)
		c->id[i] = (uint8_t)(test_rng_next(&rng) >> 56);
	c->created_ms = 1700000000000LL;
	c->expires_ms = c->created_ms + 60000;
	c->left_ms = 60000;
	c->status = CHAL_PENDING;
	c->lang = 0xff;
	snprintf(c->client_id, sizeof c->client_id, "%s", CLIENT_ID);
	snprintf(c->phone, sizeof c->phone, "%s", PHONE);
	snprintf(c->flow, sizeof c->flow, "%s", FLOW);
	if (challenge_generate(&c->q, kind, mode, choices, caldate_from_ymd(1990, 5, 17),
	                       test_rng_next, &rng) != 0)
		fail_msg("challenge_generate failed");
}

static char *render(const struct config *cfg, const struct chal *c, enum lang lang)
{
	size_t len = 0;
	char *html = page_render_challenge(cfg, c, lang, c->created_ms, &len);

	assert_non_null(html);
	assert_int_equal(strlen(html), len);
	return html;
}

/* ---- html_escape ---- */

static void test_escape_the_five_characters(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(html_escape("&<>\"'", 5, out, sizeof out), 24);
	assert_string_equal(out, "&amp;&lt;&gt;&quot;&#39;");
	assert_int_equal(html_escape("plain text ñ", 13, out, sizeof out), 13);
	assert_string_equal(out, "plain text ñ");
	assert_int_equal(html_escape("", 0, out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(html_escape("a<b>c", 3, out, sizeof out), 6);     /* only len bytes */
	assert_string_equal(out, "a&lt;b");
	assert_int_equal(html_escape("<script>alert(1)</script>", 25, out, sizeof out), 37);
	assert_null(strchr(out, '<'));
}

static void test_escape_overflow_is_an_error(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(html_escape("1234567", 7, out, sizeof out), 7);     /* exactly fits */
	assert_int_equal(html_escape("12345678", 8, out, sizeof out), -1);
	assert_int_equal(html_escape("&", 1, out, 6), 5);
	assert_string_equal(out, "&amp;");
	assert_int_equal(html_escape("&", 1, out, 5), -1);                   /* no room for NUL */
	assert_int_equal(html_escape("a&", 2, out, 6), -1);
	assert_int_equal(html_escape("\"", 1, out, 6), -1);                  /* &quot; is 6 */
	assert_int_equal(html_escape("", 0, out, 1), 0);
	assert_int_equal(html_escape("", 0, out, 0), -1);
}

/* ---- language ---- */

static void test_pick_lang(void **state)
{
	static const struct {
		int chal;
		const char *accept;
		enum lang def;
		enum lang want;
	} cases[] = {
		{ LANG_EN, "es", LANG_ES, LANG_EN },                  /* the challenge's own lang wins */
		{ LANG_ES, "en-US,en;q=0.9", LANG_EN, LANG_ES },
		{ 0xff, "en-US,en;q=0.9", LANG_ES, LANG_EN },
		{ 0xff, "fr, es;q=0.5", LANG_EN, LANG_ES },
		{ 0xff, "fr-FR,fr;q=0.9,en;q=0.8,es;q=0.7", LANG_ES, LANG_EN },
		{ 0xff, "fr", LANG_ES, LANG_ES },                     /* nothing supported: default */
		{ 0xff, "fr", LANG_EN, LANG_EN },
		{ 0xff, "es;q=0", LANG_EN, LANG_EN },                 /* q=0 means "not acceptable" */
		{ 0xff, "es;q=0.0", LANG_EN, LANG_EN },
		{ 0xff, "es;q=0.000", LANG_EN, LANG_EN },
		{ 0xff, "es;q=0.001", LANG_EN, LANG_ES },
		{ 0xff, "es;q=0, en", LANG_ES, LANG_EN },
		{ 0xff, "es-MX", LANG_EN, LANG_ES },
		{ 0xff, "ES", LANG_EN, LANG_ES },
		{ 0xff, "EN-gb", LANG_ES, LANG_EN },
		{ 0xff, "english", LANG_ES, LANG_ES },                /* a tag starting with "en" is not en */
		{ 0xff, "esperanto", LANG_EN, LANG_EN },
		{ 0xff, "*", LANG_EN, LANG_EN },
		{ 0xff, "", LANG_EN, LANG_EN },
		{ 0xff, NULL, LANG_EN, LANG_EN },
		{ 0xff, NULL, LANG_ES, LANG_ES },
		{ 0xff, NULL, LANG_ES, LANG_ES },
		{ 0xff, ",,, ;;;q=,", LANG_EN, LANG_EN },
		{ 0xff, "de;q=1.0, en;q=0.5", LANG_ES, LANG_EN },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum lang got = page_pick_lang(cases[i].chal, cases[i].accept, cases[i].def);
		if (got != cases[i].want)
			fail_msg("chal %d, Accept-Language \"%s\", default %s: got %s", cases[i].chal,
			         cases[i].accept ? cases[i].accept : "(none)",
			         cases[i].def == LANG_EN ? "en" : "es", got == LANG_EN ? "en" : "es");
	}
}

static void test_format_date_in_words(void **state)
{
	char buf[64];

	(void)state;
	page_format_date(caldate_from_ymd(1990, 5, 17), LANG_ES, buf, sizeof buf);
	assert_string_equal(buf, "17 de mayo de 1990");
	page_format_date(caldate_from_ymd(1990, 5, 17), LANG_EN, buf, sizeof buf);
	assert_string_equal(buf, "May 17, 1990");
	page_format_date(caldate_from_ymd(1900, 1, 1), LANG_ES, buf, sizeof buf);
	assert_string_equal(buf, "1 de enero de 1900");
	page_format_date(caldate_from_ymd(2000, 12, 31), LANG_EN, buf, sizeof buf);
	assert_string_equal(buf, "December 31, 2000");
	page_format_date(caldate_from_ymd(2024, 9, 9), LANG_ES, buf, sizeof buf);
	assert_string_equal(buf, "9 de septiembre de 2024");
	memset(buf, 'Z', sizeof buf);
	page_format_date(caldate_from_ymd(1990, 5, 17), LANG_ES, buf, 6);    /* truncated, bounded */
	assert_string_equal(buf, "17 de");
	assert_int_equal(buf[6], 'Z');
}

/* ---- the challenge page ---- */

static void check_form(const char *html, const struct chal *c)
{
	char tag[512], id[PAGE_ID_LEN + 1], want[64];

	if (count(html, "<form") != 1)
		fail_msg("expected exactly one <form>, found %d", count(html, "<form"));
	assert_true(tag_with(html, "<form", tag, sizeof tag));
	if (strstr(tag, " method=\"post\"") == NULL || strstr(tag, " action=\"/validate_answer\"") == NULL)
		fail_msg("form tag is not a POST to /validate_answer: %s", tag);

	b64url_encode(c->id, PAGE_ID_BYTES, id);
	if (count(html, "name=\"page_id\"") != 1)
		fail_msg("expected one page_id input");
	assert_true(tag_with(html, "name=\"page_id\"", tag, sizeof tag));
	snprintf(want, sizeof want, "value=\"%s\"", id);
	if (strncmp(tag, "<input", 6) != 0 || strstr(tag, "type=\"hidden\"") == NULL ||
	    strstr(tag, want) == NULL)
		fail_msg("page_id input should be hidden with %s: %s", want, tag);
	/* inside the form */
	assert_true(strstr(html, "<form") < strstr(html, "name=\"page_id\""));
	assert_true(strstr(html, "name=\"page_id\"") < strstr(html, "</form>"));
}

static void check_choice_options(const char *html, const struct question *q)
{
	char value[CHALLENGE_ANSWER_MAX], want[64], tag[256];
	const char *p;
	int radios = 0;

	if (count(html, "name=\"respuesta\"") != q->n_options + 1)
		fail_msg("expected %d respuesta inputs, found %d", q->n_options + 1,
		         count(html, "name=\"respuesta\""));
	for (p = strstr(html, "name=\"respuesta\""); p != NULL; p = strstr(p + 1, "name=\"respuesta\"")) {
		assert_true(tag_at(html, p, tag, sizeof tag));
		if (strncmp(tag, "<input", 6) != 0 || strstr(tag, "type=\"radio\"") == NULL)
			fail_msg("a respuesta field that is not a radio: %s", tag);
		radios++;
	}
	assert_int_equal(radios, q->n_options + 1);
	for (int i = 0; i < q->n_options; i++) {
		int32_t d;
		challenge_option_value(q, i, value, sizeof value);
		if (q->kind == QUESTION_DATE) {
			if (caldate_parse(value, strlen(value), &d) != 0 || d != q->options[i])
				fail_msg("date option %d has value \"%s\"", i, value);
		} else {
			char num[16];
			snprintf(num, sizeof num, "%d", q->options[i]);
			if (strcmp(value, num) != 0 || q->options[i] < 2 || q->options[i] > 43)
				fail_msg("sum option %d has value \"%s\"", i, value);
		}
		snprintf(want, sizeof want, "value=\"%s\"", value);
		if (count(html, want) != 1)
			fail_msg("option value %s appears %d times", want, count(html, want));
		assert_true(tag_with(html, want, tag, sizeof tag));
		if (strstr(tag, "type=\"radio\"") == NULL || strstr(tag, "name=\"respuesta\"") == NULL)
			fail_msg("option %s is not a respuesta radio: %s", value, tag);
	}
	assert_true(tag_with(html, "value=\"none\"", tag, sizeof tag));
	if (strstr(tag, "type=\"radio\"") == NULL || strstr(tag, "name=\"respuesta\"") == NULL)
		fail_msg("\"none\" is not a respuesta radio: %s", tag);
	assert_int_equal(count(html, "type=\"radio\""), q->n_options + 1);
}

/* Nothing bound to the user, no inline code, no third-party host. */
static void check_hygiene(const char *html)
{
	if (strstr(html, CLIENT_ID) != NULL || strstr(html, PHONE) != NULL ||
	    strstr(html, PHONE + 1) != NULL || strstr(html, FLOW) != NULL)
		fail_msg("the page shows the client_id, phone or flow");
	if (strstr(html, "name=\"client_id\"") != NULL || strstr(html, "name=\"telefono\"") != NULL ||
	    strstr(html, "name=\"flow_name\"") != NULL)
		fail_msg("the page has a client_id/telefono/flow_name field");
	if (strstr(html, "<style") != NULL || strstr(html, " style=") != NULL ||
	    strstr(html, " onclick=") != NULL || strstr(html, " onload=") != NULL ||
	    strstr(html, "javascript:") != NULL)
		fail_msg("inline style or script: the CSP forbids it");
	for (const char *p = strstr(html, "<script"); p != NULL; p = strstr(p + 1, "<script")) {
		char tag[256];
		assert_true(tag_with(p, "<script", tag, sizeof tag));
		if (strstr(tag, " src=\"/static/") == NULL)
			fail_msg("a script that is not a /static/ file: %s", tag);
		if (strncmp(strchr(p, '>') + 1, "</script>", 9) != 0)
			fail_msg("a script with inline content");
	}
	for (const char *p = strstr(html, "http"); p != NULL; p = strstr(p + 1, "http"))
		if (strncmp(p, "https://wa.me/", 14) != 0 && strncmp(p, "http-equiv", 10) != 0)
			fail_msg("a link to another host: %.40s", p);
	if (strstr(html, "//") != NULL && count(html, "//") != count(html, "https://wa.me/"))
		fail_msg("a protocol-relative or absolute URL besides wa.me");
}

static void test_challenge_page_date_choice(void **state)
{
	struct config cfg;
	struct chal c;

	(void)state;
	load_config(&cfg, (const char *const[]){ "--whatsapp-number", WA_NUMBER, NULL });
	for (int choices = CHALLENGE_MIN_CHOICES; choices <= CHALLENGE_MAX_CHOICES; choices++) {
		for (int lang = LANG_ES; lang <= LANG_EN; lang++) {
			make_chal(&c, QUESTION_DATE, MODE_CHOICE, choices, 1000 + (uint64_t)choices);
			char *html = render(&cfg, &c, (enum lang)lang);
			check_form(html, &c);
			check_choice_options(html, &c.q);
			check_hygiene(html);
			assert_non_null(strstr(html, lang == LANG_EN ? "<html lang=\"en\">" : "<html lang=\"es\">"));
			free(html);
		}
	}
	config_free(&cfg);
}

static void test_challenge_page_shows_dates_in_words(void **state)
{
	struct config cfg;
	struct chal c;
	char shown[64];

	(void)state;
	load_config(&cfg, NULL);
	make_chal(&c, QUESTION_DATE, MODE_CHOICE, 4, 7);
	for (int lang = LANG_ES; lang <= LANG_EN; lang++) {
		char *html = render(&cfg, &c, (enum lang)lang);
		for (int i = 0; i < c.q.n_options; i++) {
			page_format_date(c.q.options[i], (enum lang)lang, shown, sizeof shown);
			if (strstr(html, shown) == NULL)
				fail_msg("the page does not show \"%s\"", shown);
		}
		assert_non_null(strstr(html, lang == LANG_EN ? "None of the options" : "Ninguna de las opciones"));
		free(html);
	}
	config_free(&cfg);
}

static void test_challenge_page_sum_choice(void **state)
{
	struct config cfg;
	struct chal c;

	(void)state;
	load_config(&cfg, NULL);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		make_chal(&c, QUESTION_SUM, MODE_CHOICE, 2 + (int)(seed % 7), seed);
		char *html = render(&cfg, &c, seed % 2 ? LANG_EN : LANG_ES);
		check_form(html, &c);
		check_choice_options(html, &c.q);
		check_hygiene(html);
		free(html);
	}
	config_free(&cfg);
}

static void test_challenge_page_entry_mode(void **state)
{
	struct config cfg;
	struct chal c;
	char tag[512];

	(void)state;
	load_config(&cfg, NULL);
	for (int kind = QUESTION_DATE; kind <= QUESTION_SUM; kind++) {
		make_chal(&c, (enum question_kind)kind, MODE_ENTRY, 4, 99);
		char *html = render(&cfg, &c, LANG_ES);
		check_form(html, &c);
		check_hygiene(html);
		assert_int_equal(count(html, "name=\"respuesta\""), 1);
		assert_int_equal(count(html, "type=\"radio\""), 0);
		assert_true(tag_with(html, "name=\"respuesta\"", tag, sizeof tag));
		if (strncmp(tag, "<input", 6) != 0 || strstr(tag, "type=\"hidden\"") != NULL)
			fail_msg("entry input: %s", tag);
		assert_true(strstr(html, "<form") < strstr(html, "name=\"respuesta\""));
		assert_true(strstr(html, "name=\"respuesta\"") < strstr(html, "</form>"));
		free(html);
	}
	config_free(&cfg);
}

/* The page must not depend on which option is right (nor on the truth). */
static void test_challenge_page_does_not_tell_the_answer(void **state)
{
	struct config cfg;
	struct chal c, other;

	(void)state;
	load_config(&cfg, NULL);
	for (int kind = QUESTION_DATE; kind <= QUESTION_SUM; kind++) {
		make_chal(&c, (enum question_kind)kind, MODE_CHOICE, 4, 4242);
		char *a = render(&cfg, &c, LANG_EN);
		other = c;
		other.q.correct = (uint8_t)((c.q.correct + 1) % (c.q.n_options + 1));
		other.q.truth = c.q.truth + 1;
		char *b = render(&cfg, &other, LANG_EN);
		if (strcmp(a, b) != 0)
			fail_msg("the page differs with the position of the right answer");
		free(a);
		free(b);
	}
	config_free(&cfg);
}

static void test_brand_name_is_escaped(void **state)
{
	struct config cfg;
	struct chal c;
	size_t len;
	char *html;

	(void)state;
	load_config(&cfg, (const char *const[]){ "--brand-name", "<b>&\"'", "--whatsapp-number",
	                                          WA_NUMBER, NULL });
	make_chal(&c, QUESTION_DATE, MODE_CHOICE, 4, 5);
	html = render(&cfg, &c, LANG_ES);
	assert_null(strstr(html, "<b>"));
	assert_null(strstr(html, "&\"'"));
	assert_non_null(strstr(html, "&lt;b&gt;&amp;&quot;&#39;"));
	free(html);
	for (int st = 0; st < PAGE_STATE_COUNT; st++) {
		html = page_render_state(&cfg, (enum page_state)st, LANG_EN, &len);
		assert_null(strstr(html, "<b>"));
		assert_non_null(strstr(html, "&lt;b&gt;&amp;&quot;&#39;"));
		free(html);
	}
	config_free(&cfg);
}

static void test_state_pages_link_back_to_chat(void **state)
{
	struct config cfg;
	size_t len;

	(void)state;
	load_config(&cfg, (const char *const[]){ "--whatsapp-number", WA_NUMBER, NULL });
	for (int lang = LANG_ES; lang <= LANG_EN; lang++) {
		for (int st = 0; st < PAGE_STATE_COUNT; st++) {
			char *html = page_render_state(&cfg, (enum page_state)st, (enum lang)lang, &len);
			assert_non_null(html);
			assert_int_equal(strlen(html), len);
			if (strstr(html, WA_LINK) == NULL)
				fail_msg("state page %d (%s) has no wa.me link", st, lang ? "en" : "es");
			assert_non_null(strstr(html, lang == LANG_EN ? "<html lang=\"en\">" : "<html lang=\"es\">"));
			assert_non_null(strstr(html, lang == LANG_EN ? "Back to chat" : "Volver al chat"));
			assert_null(strstr(html, "<form"));
			check_hygiene(html);
			free(html);
		}
	}
	config_free(&cfg);

	/* without a number there is nowhere to link to */
	load_config(&cfg, NULL);
	for (int st = 0; st < PAGE_STATE_COUNT; st++) {
		char *html = page_render_state(&cfg, (enum page_state)st, LANG_ES, &len);
		assert_null(strstr(html, "wa.me"));
		free(html);
	}
	config_free(&cfg);
}

static void test_state_pages_differ_by_state(void **state)
{
	struct config cfg;
	size_t len;
	char *pages[PAGE_STATE_COUNT];

	(void)state;
	load_config(&cfg, NULL);
	for (int st = 0; st < PAGE_STATE_COUNT; st++)
		pages[st] = page_render_state(&cfg, (enum page_state)st, LANG_EN, &len);
	assert_non_null(strstr(pages[PAGE_NOT_FOUND], "not valid or has expired"));
	assert_non_null(strstr(pages[PAGE_GONE], "already been used"));
	for (int a = 0; a < PAGE_STATE_COUNT; a++)
		for (int b = a + 1; b < PAGE_STATE_COUNT; b++)
			if (strcmp(pages[a], pages[b]) == 0)
				fail_msg("state pages %d and %d are the same", a, b);
	for (int st = 0; st < PAGE_STATE_COUNT; st++)
		free(pages[st]);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_the_five_characters),
		cmocka_unit_test(test_escape_overflow_is_an_error),
		cmocka_unit_test(test_pick_lang),
		cmocka_unit_test(test_format_date_in_words),
		cmocka_unit_test(test_challenge_page_date_choice),
		cmocka_unit_test(test_challenge_page_shows_dates_in_words),
		cmocka_unit_test(test_challenge_page_sum_choice),
		cmocka_unit_test(test_challenge_page_entry_mode),
		cmocka_unit_test(test_challenge_page_does_not_tell_the_answer),
		cmocka_unit_test(test_brand_name_is_escaped),
		cmocka_unit_test(test_state_pages_link_back_to_chat),
		cmocka_unit_test(test_state_pages_differ_by_state),
	};

	assets_init();
	return cmocka_run_group_tests_name("page", tests, NULL, NULL);
}
