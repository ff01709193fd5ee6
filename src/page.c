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

/* Appends s escaped for HTML text and attribute values. */
static void put_escaped(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	buf_reserve(b, n * HTML_ESCAPE_MAX_GROWTH);
	b->len += (size_t)html_escape(s, n, b->data + b->len, b->cap - b->len);
}

long html_escape(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (in[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: break;
		}
		if (rep != NULL) {
			size_t n = strlen(rep);
			if (o + n >= cap)
				return -1;
			memcpy(out + o, rep, n);
			o += n;
		} else {
			if (o + 1 >= cap)
				return -1;
			out[o++] = in[i];
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
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

void page_format_date(int32_t day, enum lang lang, char *buf, size_t len)
{
	int y, m, d;

	caldate_to_ymd(day, &y, &m, &d);
	if (lang == LANG_EN)
		snprintf(buf, len, "%s %d, %d", months[LANG_EN][m - 1], d, y);
	else
		snprintf(buf, len, "%d de %s de %d", d, months[LANG_ES][m - 1], y);
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

static void asset_link(struct buf *b, const char *fmt, const char *name)
{
	const struct asset *a = asset_find(name);
	char url[96];

	snprintf(url, sizeof url, "/static/%s?v=%s", name, a ? a->version : "0");
	buf_printf(b, fmt, url);
}

static void render_head(struct buf *b, const struct config *cfg, enum lang lang, const char *title,
                        bool script)
{
	buf_printf(b, "<!doctype html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
	          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	          "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
	          "<meta name=\"color-scheme\" content=\"light dark\">\n"
	          "<meta name=\"format-detection\" content=\"telephone=no\">\n<title>", lang_codes[lang]);
	put_escaped(b, title);
	if (cfg->brand_name != NULL) {
		buf_puts(b, " · ");
		put_escaped(b, cfg->brand_name);
	}
	buf_puts(b, "</title>\n");
	asset_link(b, "<link rel=\"stylesheet\" href=\"%s\">\n", "app.css");
	asset_link(b, "<link rel=\"icon\" href=\"%s\" type=\"image/svg+xml\">\n", "favicon.svg");
	if (cfg->brand_color != NULL)
		asset_link(b, "<link rel=\"stylesheet\" href=\"%s\">\n", "brand.css");
	if (script)
		asset_link(b, "<script src=\"%s\" defer></script>\n", "app.js");
	buf_puts(b, "</head>\n<body>\n<main>\n<header>");
	if (cfg->brand_logo != NULL)
		buf_puts(b, "<img src=\"/static/brand-logo\" alt=\"\">");
	else
		asset_link(b, "<img src=\"%s\" alt=\"\">", "logo.svg");
	if (cfg->brand_name != NULL) {
		buf_puts(b, "<span class=\"brand\">");
		put_escaped(b, cfg->brand_name);
		buf_puts(b, "</span>");
	}
	buf_puts(b, "</header>\n");
}

/* The "back to chat" button; on the challenge page it stays hidden until the
 * script sees the link expire (extra is then " id=\"back\" hidden"). */
static void render_back(struct buf *b, const struct config *cfg, enum lang lang, const char *extra)
{
	if (cfg->wa_digits[0] != '\0') {
		buf_printf(b, "<a class=\"button\" href=\"https://wa.me/%s\"%s>", cfg->wa_digits, extra);
		put_escaped(b, strings[lang][S_BACK]);
		buf_puts(b, "</a>\n");
	}
}

static void render_foot(struct buf *b, enum lang lang)
{
	buf_puts(b, "<footer>");
	put_escaped(b, strings[lang][S_FOOTER]);
	buf_puts(b, "</footer>\n</main>\n</body>\n</html>\n");
}

/* "Este enlace vence en 1:00": the timer's text before the script takes over,
 * so a page without JavaScript still says how long it had when it loaded. */
static void render_timer(struct buf *b, enum lang lang, int64_t left)
{
	const char *t = strings[lang][S_TIMER], *slot = strstr(t, "{s}");
	char mmss[24];

	snprintf(mmss, sizeof mmss, "%lld:%02lld", (long long)(left / 60), (long long)(left % 60));
	buf_puts(b, "<p class=\"timer\" id=\"timer\" role=\"timer\" data-template=\"");
	put_escaped(b, t);
	buf_puts(b, "\">");
	if (slot != NULL) {
		char head[128];
		snprintf(head, sizeof head, "%.*s", (int)(slot - t), t);
		put_escaped(b, head);
		buf_puts(b, mmss);
		put_escaped(b, slot + 3);
	}
	buf_puts(b, "</p>\n");
}

static void render_entry(struct buf *b, const struct question *q, enum lang lang, int64_t now)
{
	if (q->kind == QUESTION_SUM) {
		buf_puts(b, "<input class=\"entry\" type=\"number\" name=\"respuesta\" min=\"2\" max=\"43\" "
		       "inputmode=\"numeric\" required aria-describedby=\"hint\" aria-label=\"");
		put_escaped(b, strings[lang][S_ENTRY_SUM]);
	} else {
		char today[16];
		caldate_format((int32_t)(now / MS_PER_DAY), today, sizeof today);
		buf_printf(b, "<input class=\"entry\" type=\"date\" name=\"respuesta\" min=\"1900-01-01\" "
		          "max=\"%s\" required aria-label=\"", today);
		put_escaped(b, strings[lang][S_ENTRY_DATE]);
	}
	buf_puts(b, "\">\n");
}

static void render_options(struct buf *b, const struct question *q, enum lang lang)
{
	for (int i = 0; i < q->n_options; i++) {
		char value[CHALLENGE_ANSWER_MAX], shown[64];
		challenge_option_value(q, i, value, sizeof value);
		if (q->kind == QUESTION_DATE)
			page_format_date(q->options[i], lang, shown, sizeof shown);
		else
			snprintf(shown, sizeof shown, "%s", value);
		buf_printf(b, "<label class=\"option\"><input type=\"radio\" name=\"respuesta\" "
		          "value=\"%s\" required> ", value);
		put_escaped(b, shown);
		buf_puts(b, "</label>\n");
	}
	buf_puts(b, "<label class=\"option\"><input type=\"radio\" name=\"respuesta\" value=\"none\" "
	       "required> ");
	put_escaped(b, strings[lang][S_NONE]);
	buf_puts(b, "</label>\n");
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
	int64_t left = (c->expires_ms - now + 999) / 1000;

	if (left < 0)
		left = 0;
	buf_reserve(&b, PAGE_INITIAL_CAP);
	b64url_encode(c->id, PAGE_ID_BYTES, id);
	render_head(&b, cfg, lang, strings[lang][S_TITLE], true);
	buf_puts(&b, "<h1>");
	put_escaped(&b, strings[lang][S_TITLE]);
	buf_puts(&b, "</h1>\n<p>");
	put_escaped(&b, strings[lang][S_INTRO]);
	buf_printf(&b, "</p>\n<form method=\"post\" action=\"/validate_answer\" id=\"challenge\" "
	          "data-expires-in=\"%lld\">\n<input type=\"hidden\" name=\"page_id\" value=\"%s\">\n"
	          "<input type=\"hidden\" name=\"refdata\" id=\"refdata\" value=\"\">\n",
	          (long long)left, id);
	buf_puts(&b, q->kind == QUESTION_SUM ? "<fieldset aria-describedby=\"hint\">\n<legend><h2>"
	                                   : "<fieldset>\n<legend><h2>");
	put_escaped(&b, strings[lang][q->kind == QUESTION_SUM ? S_Q_SUM : S_Q_DATE]);
	buf_puts(&b, "</h2></legend>\n");
	if (q->kind == QUESTION_SUM) {
		buf_puts(&b, "<p class=\"hint\" id=\"hint\">");
		put_escaped(&b, strings[lang][S_Q_SUM_HINT]);
		buf_puts(&b, "</p>\n");
	}
	if (q->mode == MODE_ENTRY)
		render_entry(&b, q, lang, now);
	else
		render_options(&b, q, lang);
	buf_puts(&b, "</fieldset>\n<button class=\"button\" id=\"send\" type=\"submit\">");
	put_escaped(&b, strings[lang][S_SUBMIT]);
	buf_puts(&b, "</button>\n");
	render_timer(&b, lang, left);
	/* An alert region present from the start (empty), so screen readers
	 * announce the text the script puts in it; the ticking timer stays quiet. */
	buf_puts(&b, "<p class=\"alert\" id=\"expired\" role=\"alert\" data-text=\"");
	put_escaped(&b, strings[lang][S_EXPIRED]);
	buf_puts(&b, "\"></p>\n</form>\n");
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
	buf_puts(&b, "<h1>");
	put_escaped(&b, strings[lang][heads[st][0]]);
	buf_puts(&b, "</h1>\n<p>");
	put_escaped(&b, strings[lang][heads[st][1]]);
	buf_puts(&b, "</p>\n");
	render_back(&b, cfg, lang, "");
	render_foot(&b, lang);
	return buf_take(&b, len);
}
