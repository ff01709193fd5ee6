/*
 * page: HTML for the web port. A page is a few KB built into one growing
 * buffer per request. Styles and the script are files under /static/ (the
 * CSP forbids inline code); values that come from outside (brand name, page
 * id, option values) are escaped by html_escape and nothing else prints them.
 */
#include "page.h"
#include "assets.h"
#include "buf.h"
#include "caldate.h"
#include "config.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE_INITIAL_CAP 6144
#define HTML_ESCAPE_MAX_GROWTH 6     /* "'" becomes "&#39;": 5 bytes, plus room */
#define MS_PER_DAY 86400000LL

/* html_escape's replacements; escape_of[c] is 1 + the index of c's, or 0. */
static const char *const escapes[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };
static const unsigned char escape_len[] = { 5, 4, 4, 6, 5 };
static const unsigned char escape_of[256] = {
	['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5,
};

long html_escape(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	/* Runs of bytes that need nothing are copied whole (the page's texts are
	 * mostly such runs): a table look-up a byte, one memcpy a run. */
	while (i < len) {
		size_t start = i, n;
		unsigned e;
		while (i < len && escape_of[(unsigned char)in[i]] == 0)
			i++;
		n = i - start;
		if (n > 0) {
			if (o + n >= cap)
				return -1;
			memcpy(out + o, in + start, n);
			o += n;
		}
		if (i == len)
			break;
		e = escape_of[(unsigned char)in[i++]] - 1u;
		if (o + escape_len[e] >= cap)
			return -1;
		memcpy(out + o, escapes[e], escape_len[e]);
		o += escape_len[e];
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* Appends n bytes of s escaped for HTML text and attribute values. */
static void put_escaped_n(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n * HTML_ESCAPE_MAX_GROWTH);
	b->len += (size_t)html_escape(s, n, b->data + b->len, b->cap - b->len);
}

static void put_escaped(struct buf *b, const char *s)
{
	put_escaped_n(b, s, strlen(s));
}

/* A string literal, its length known at compile time. */
#define PUT_LIT(b, lit) buf_add((b), (lit), sizeof(lit) - 1)

/* The decimal digits of v, at least `width` of them (zero-padded). */
static void put_uint(struct buf *b, uint64_t v, int width)
{
	char num[24];
	size_t k = sizeof num;

	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
		width--;
	} while (v != 0 || width > 0);
	buf_add(b, num + k, sizeof num - k);
}

/* ---- strings: one table per language ---- */

enum str {
	S_TITLE, S_Q_DATE, S_Q_SUM, S_Q_SUM_HINT, S_INTRO, S_NONE, S_SUBMIT, S_TIMER, S_EXPIRED,
	S_ENTRY_DATE, S_ENTRY_SUM, S_BACK, S_FOOTER,
	S_LANDING_H, S_LANDING_P, S_404_H, S_404_P, S_410_H, S_410_P, S_429_H, S_429_P,
	S_400_H, S_400_P, S_503_H, S_503_P, S_COUNT
};

static const char *const strings[2][S_COUNT] = {
	[LANG_ES] = {
		[S_TITLE] = "Confirma que eres tú",
		[S_Q_DATE] = "¿Cuál es tu fecha de nacimiento?",
		[S_Q_SUM] = "¿Cuánto suman el mes y el día de tu fecha de nacimiento?",
		[S_Q_SUM_HINT] = "Por ejemplo, si naciste el 17 de mayo: 5 + 17 = 22.",
		[S_INTRO] = "Responde para continuar en WhatsApp. Este enlace es personal y de un solo uso.",
		[S_NONE] = "Ninguna de las opciones",
		[S_SUBMIT] = "Confirmar",
		[S_TIMER] = "Este enlace vence en {s}",
		[S_EXPIRED] = "Este enlace ha vencido. Vuelve al chat para pedir uno nuevo.",
		[S_ENTRY_DATE] = "Fecha de nacimiento",
		[S_ENTRY_SUM] = "Mes + día",
		[S_BACK] = "Volver al chat",
		[S_FOOTER] = "Verificación segura. Nunca compartas este enlace.",
		[S_LANDING_H] = "No hay ninguna solicitud de verificación",
		[S_LANDING_P] = "Abre el enlace que recibiste en tu chat de WhatsApp.",
		[S_404_H] = "Este enlace no es válido o ha vencido",
		[S_404_P] = "Vuelve al chat para pedir un enlace nuevo.",
		[S_410_H] = "Este enlace ya fue usado",
		[S_410_P] = "Cada enlace sirve una sola vez. Vuelve al chat para continuar.",
		[S_429_H] = "Demasiados intentos",
		[S_429_P] = "Espera un momento y vuelve a intentarlo.",
		[S_400_H] = "No pudimos leer tu respuesta",
		[S_400_P] = "Vuelve al chat para pedir un enlace nuevo.",
		[S_503_H] = "No pudimos registrar tu respuesta",
		[S_503_P] = "Tu enlace sigue activo: vuelve atrás e inténtalo de nuevo en un momento.",
	},
	[LANG_EN] = {
		[S_TITLE] = "Confirm it's you",
		[S_Q_DATE] = "What is your date of birth?",
		[S_Q_SUM] = "What do the month and the day of your date of birth add up to?",
		[S_Q_SUM_HINT] = "For example, if you were born on May 17: 5 + 17 = 22.",
		[S_INTRO] = "Answer to continue in WhatsApp. This link is personal and works once.",
		[S_NONE] = "None of the options",
		[S_SUBMIT] = "Confirm",
		[S_TIMER] = "This link expires in {s}",
		[S_EXPIRED] = "This link has expired. Go back to the chat to ask for a new one.",
		[S_ENTRY_DATE] = "Date of birth",
		[S_ENTRY_SUM] = "Month + day",
		[S_BACK] = "Back to chat",
		[S_FOOTER] = "Secure verification. Never share this link.",
		[S_LANDING_H] = "There is no verification request",
		[S_LANDING_P] = "Open the link you received in your WhatsApp chat.",
		[S_404_H] = "This link is not valid or has expired",
		[S_404_P] = "Go back to the chat to ask for a new link.",
		[S_410_H] = "This link has already been used",
		[S_410_P] = "Each link works once. Go back to the chat to continue.",
		[S_429_H] = "Too many attempts",
		[S_429_P] = "Wait a moment and try again.",
		[S_400_H] = "We could not read your answer",
		[S_400_P] = "Go back to the chat to ask for a new link.",
		[S_503_H] = "We could not record your answer",
		[S_503_P] = "Your link still works: go back and try again in a moment.",
	},
};

static const char *const months[2][12] = {
	[LANG_ES] = { "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
	              "septiembre", "octubre", "noviembre", "diciembre" },
	[LANG_EN] = { "January", "February", "March", "April", "May", "June", "July", "August",
	              "September", "October", "November", "December" },
};

static const char *const lang_codes[2] = { [LANG_ES] = "es", [LANG_EN] = "en" };

/* A signed decimal number. */
static void put_int(struct buf *b, int64_t v)
{
	if (v < 0)
		PUT_LIT(b, "-");
	put_uint(b, v < 0 ? -(uint64_t)v : (uint64_t)v, 1);
}

/* "17 de mayo de 1990" / "May 17, 1990". */
static void put_date_words(struct buf *b, int32_t day, enum lang lang)
{
	int y, m, d;

	caldate_to_ymd(day, &y, &m, &d);
	if (lang == LANG_EN) {
		buf_puts(b, months[LANG_EN][m - 1]);
		PUT_LIT(b, " ");
		put_int(b, d);
		PUT_LIT(b, ", ");
		put_int(b, y);
	} else {
		put_int(b, d);
		PUT_LIT(b, " de ");
		buf_puts(b, months[LANG_ES][m - 1]);
		PUT_LIT(b, " de ");
		put_int(b, y);
	}
}

void page_format_date(int32_t day, enum lang lang, char *buf, size_t len)
{
	struct buf t = { 0 };

	put_date_words(&t, day, lang == LANG_EN ? LANG_EN : LANG_ES);
	strlcpy_(buf, t.data, len);
	buf_free(&t);
}

static int lang_from_tag(const char *s, size_t n)
{
	if (n >= 2 && strncasecmp(s, "es", 2) == 0 && (n == 2 || s[2] == '-' || s[2] == '_'))
		return LANG_ES;
	if (n >= 2 && strncasecmp(s, "en", 2) == 0 && (n == 2 || s[2] == '-' || s[2] == '_'))
		return LANG_EN;
	return -1;
}

enum lang page_pick_lang(int chal_lang, const char *accept_language, enum lang default_lang)
{
	if (chal_lang == LANG_ES || chal_lang == LANG_EN)
		return (enum lang)chal_lang;
	if (accept_language != NULL) {
		/* First supported tag with q > 0, in the order the browser lists them
		 * (browsers list by preference; q-values only ever decrease). */
		const char *p = accept_language;
		while (*p != '\0') {
			size_t n;
			int l;
			while (*p == ' ' || *p == ',')
				p++;
			n = strcspn(p, ";,");
			l = lang_from_tag(p, n);
			p += n;
			if (*p == ';') {
				/* only within this tag's parameters: linear in the header */
				size_t seg = strcspn(p, ",");
				const char *q = memmem(p, seg, "q=", 2);
				if (q != NULL && strncmp(q, "q=0", 3) == 0 &&
				    strspn(q + 3, ".0") == strcspn(q + 3, ", "))
					l = -1;
				p += seg;
			}
			if (l >= 0)
				return (enum lang)l;
		}
	}
	return default_lang;
}

/* before + "/static/NAME?v=VERSION" + after. */
static void asset_link(struct buf *b, const char *before, const char *name, const char *after)
{
	const struct asset *a = asset_find(name);

	buf_puts(b, before);
	PUT_LIT(b, "/static/");
	buf_puts(b, name);
	PUT_LIT(b, "?v=");
	buf_puts(b, a ? a->version : "0");
	buf_puts(b, after);
}

static void render_head(struct buf *b, const struct config *cfg, enum lang lang, const char *title,
                        bool script)
{
	PUT_LIT(b, "<!doctype html>\n<html lang=\"");
	buf_puts(b, lang_codes[lang]);
	PUT_LIT(b, "\">\n<head>\n<meta charset=\"utf-8\">\n"
	        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	        "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
	        "<meta name=\"color-scheme\" content=\"light dark\">\n"
	        "<meta name=\"format-detection\" content=\"telephone=no\">\n<title>");
	put_escaped(b, title);
	if (cfg->brand_name != NULL) {
		PUT_LIT(b, " · ");
		put_escaped(b, cfg->brand_name);
	}
	PUT_LIT(b, "</title>\n");
	asset_link(b, "<link rel=\"stylesheet\" href=\"", "app.css", "\">\n");
	asset_link(b, "<link rel=\"icon\" href=\"", "favicon.svg", "\" type=\"image/svg+xml\">\n");
	if (cfg->brand_color != NULL)
		asset_link(b, "<link rel=\"stylesheet\" href=\"", "brand.css", "\">\n");
	if (script)
		asset_link(b, "<script src=\"", "app.js", "\" defer></script>\n");
	PUT_LIT(b, "</head>\n<body>\n<main>\n<header>");
	if (cfg->brand_logo != NULL)
		PUT_LIT(b, "<img src=\"/static/brand-logo\" alt=\"\">");
	else
		asset_link(b, "<img src=\"", "logo.svg", "\" alt=\"\">");
	if (cfg->brand_name != NULL) {
		PUT_LIT(b, "<span class=\"brand\">");
		put_escaped(b, cfg->brand_name);
		PUT_LIT(b, "</span>");
	}
	PUT_LIT(b, "</header>\n");
}

/* The "back to chat" button; on the challenge page it stays hidden until the
 * script sees the link expire (extra is then " id=\"back\" hidden"). */
static void render_back(struct buf *b, const struct config *cfg, enum lang lang, const char *extra)
{
	if (cfg->wa_digits[0] != '\0') {
		PUT_LIT(b, "<a class=\"button\" href=\"https://wa.me/");
		buf_puts(b, cfg->wa_digits);
		PUT_LIT(b, "\"");
		buf_puts(b, extra);
		PUT_LIT(b, ">");
		put_escaped(b, strings[lang][S_BACK]);
		PUT_LIT(b, "</a>\n");
	}
}

static void render_foot(struct buf *b, enum lang lang)
{
	PUT_LIT(b, "<footer>");
	put_escaped(b, strings[lang][S_FOOTER]);
	PUT_LIT(b, "</footer>\n</main>\n</body>\n</html>\n");
}

/* "Este enlace vence en 1:00": the timer's text before the script takes over,
 * so a page without JavaScript still says how long it had when it loaded.
 * left >= 0. */
static void render_timer(struct buf *b, enum lang lang, int64_t left)
{
	const char *t = strings[lang][S_TIMER], *slot = strstr(t, "{s}");

	PUT_LIT(b, "<p class=\"timer\" id=\"timer\" role=\"timer\" data-template=\"");
	put_escaped(b, t);
	PUT_LIT(b, "\">");
	if (slot != NULL) {
		put_escaped_n(b, t, (size_t)(slot - t));
		put_uint(b, (uint64_t)(left / 60), 1);
		PUT_LIT(b, ":");
		put_uint(b, (uint64_t)(left % 60), 2);
		put_escaped(b, slot + 3);
	}
	PUT_LIT(b, "</p>\n");
}

static void render_entry(struct buf *b, const struct question *q, enum lang lang, int64_t now)
{
	if (q->kind == QUESTION_SUM) {
		PUT_LIT(b, "<input class=\"entry\" type=\"number\" name=\"respuesta\" min=\"2\" max=\"43\" "
		        "inputmode=\"numeric\" required aria-describedby=\"hint\" aria-label=\"");
		put_escaped(b, strings[lang][S_ENTRY_SUM]);
	} else {
		char today[16];
		caldate_format((int32_t)(now / MS_PER_DAY), today, sizeof today);
		PUT_LIT(b, "<input class=\"entry\" type=\"date\" name=\"respuesta\" min=\"1900-01-01\" "
		        "max=\"");
		buf_puts(b, today);
		PUT_LIT(b, "\" required aria-label=\"");
		put_escaped(b, strings[lang][S_ENTRY_DATE]);
	}
	PUT_LIT(b, "\">\n");
}

static void render_options(struct buf *b, const struct question *q, enum lang lang)
{
	for (int i = 0; i < q->n_options; i++) {
		char value[CHALLENGE_ANSWER_MAX];
		challenge_option_value(q, i, value, sizeof value);
		PUT_LIT(b, "<label class=\"option\"><input type=\"radio\" name=\"respuesta\" value=\"");
		buf_puts(b, value);
		PUT_LIT(b, "\" required> ");
		/* a date in words, or the number: neither has a byte to escape */
		if (q->kind == QUESTION_DATE)
			put_date_words(b, q->options[i], lang);
		else
			put_escaped(b, value);
		PUT_LIT(b, "</label>\n");
	}
	PUT_LIT(b, "<label class=\"option\"><input type=\"radio\" name=\"respuesta\" value=\"none\" "
	        "required> ");
	put_escaped(b, strings[lang][S_NONE]);
	PUT_LIT(b, "</label>\n");
}

/*
 * The SPEC §5 contract: one <form method="post" action="/validate_answer">
 * with a hidden page_id and the respuesta radios (or one entry input). The
 * script (assets/app.js) only adds: it fills refdata, runs the countdown from
 * data-expires-in, and at zero disables the form, fills the alert and shows
 * the hidden back-to-chat button. Without it the form still posts.
 */
char *page_render_challenge(const struct config *cfg, const struct chal *c, enum lang lang,
                            int64_t now, size_t *len)
{
	struct buf b = { 0 };
	const struct question *q = &c->q;
	char id[PAGE_ID_LEN + 1];
	int64_t left = (c->left_ms + 999) / 1000;    /* the store's clock, not the wall's */

	if (left < 0)
		left = 0;
	buf_reserve(&b, PAGE_INITIAL_CAP);
	b64url_encode(c->id, PAGE_ID_BYTES, id);
	render_head(&b, cfg, lang, strings[lang][S_TITLE], true);
	PUT_LIT(&b, "<h1>");
	put_escaped(&b, strings[lang][S_TITLE]);
	PUT_LIT(&b, "</h1>\n<p>");
	put_escaped(&b, strings[lang][S_INTRO]);
	PUT_LIT(&b, "</p>\n<form method=\"post\" action=\"/validate_answer\" id=\"challenge\" "
	        "data-expires-in=\"");
	put_uint(&b, (uint64_t)left, 1);
	PUT_LIT(&b, "\">\n<input type=\"hidden\" name=\"page_id\" value=\"");
	buf_puts(&b, id);
	PUT_LIT(&b, "\">\n<input type=\"hidden\" name=\"refdata\" id=\"refdata\" value=\"\">\n");
	if (q->kind == QUESTION_SUM)
		PUT_LIT(&b, "<fieldset aria-describedby=\"hint\">\n<legend><h2>");
	else
		PUT_LIT(&b, "<fieldset>\n<legend><h2>");
	put_escaped(&b, strings[lang][q->kind == QUESTION_SUM ? S_Q_SUM : S_Q_DATE]);
	PUT_LIT(&b, "</h2></legend>\n");
	if (q->kind == QUESTION_SUM) {
		PUT_LIT(&b, "<p class=\"hint\" id=\"hint\">");
		put_escaped(&b, strings[lang][S_Q_SUM_HINT]);
		PUT_LIT(&b, "</p>\n");
	}
	if (q->mode == MODE_ENTRY)
		render_entry(&b, q, lang, now);
	else
		render_options(&b, q, lang);
	PUT_LIT(&b, "</fieldset>\n<button class=\"button\" id=\"send\" type=\"submit\">");
	put_escaped(&b, strings[lang][S_SUBMIT]);
	PUT_LIT(&b, "</button>\n");
	render_timer(&b, lang, left);
	/* An alert region present from the start (empty), so screen readers
	 * announce the text the script puts in it; the ticking timer stays quiet. */
	PUT_LIT(&b, "<p class=\"alert\" id=\"expired\" role=\"alert\" data-text=\"");
	put_escaped(&b, strings[lang][S_EXPIRED]);
	PUT_LIT(&b, "\"></p>\n</form>\n");
	render_back(&b, cfg, lang, " id=\"back\" hidden");
	render_foot(&b, lang);
	return buf_take(&b, len);
}

char *page_render_state(const struct config *cfg, enum page_state st, enum lang lang, size_t *len)
{
	static const enum str heads[PAGE_STATE_COUNT][2] = {
		[PAGE_LANDING] = { S_LANDING_H, S_LANDING_P },
		[PAGE_NOT_FOUND] = { S_404_H, S_404_P },
		[PAGE_GONE] = { S_410_H, S_410_P },
		[PAGE_RATE_LIMITED] = { S_429_H, S_429_P },
		[PAGE_BAD_REQUEST] = { S_400_H, S_400_P },
		[PAGE_UNAVAILABLE] = { S_503_H, S_503_P },
	};
	struct buf b = { 0 };

	buf_reserve(&b, PAGE_INITIAL_CAP);
	render_head(&b, cfg, lang, strings[lang][heads[st][0]], false);
	PUT_LIT(&b, "<h1>");
	put_escaped(&b, strings[lang][heads[st][0]]);
	PUT_LIT(&b, "</h1>\n<p>");
	put_escaped(&b, strings[lang][heads[st][1]]);
	PUT_LIT(&b, "</p>\n");
	render_back(&b, cfg, lang, "");
	render_foot(&b, lang);
	return buf_take(&b, len);
}
