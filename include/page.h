/*
 * page: every HTML page mnmfa shows, rendered on request from the store's
 * facts (never stored), in Spanish or English. All text comes from one table
 * per language; every dynamic value passes through html_escape.
 */
#ifndef MNMFA_PAGE_H
#define MNMFA_PAGE_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

struct config;

enum page_state {
	PAGE_LANDING,        /* GET /: no request */
	PAGE_NOT_FOUND,      /* unknown or expired link (404) */
	PAGE_GONE,           /* used or canceled link (410) */
	PAGE_RATE_LIMITED,   /* too many requests (429) */
	PAGE_BAD_REQUEST,    /* malformed form post (400) */
	PAGE_UNAVAILABLE,    /* the answer could not be recorded; the link still works (503) */
	PAGE_STATE_COUNT
};

/* Escapes & < > " ' into out (NUL-terminated). Returns the length written or
 * -1 if out is too small. */
long html_escape(const char *in, size_t len, char *out, size_t cap);

/* Picks es/en: the challenge's own lang (if set), else the first supported
 * language in Accept-Language (may be NULL), else the configured default. */
enum lang page_pick_lang(int chal_lang, const char *accept_language, enum lang default_lang);

/* "17 de mayo de 1990" / "May 17, 1990" */
void page_format_date(int32_t day, enum lang lang, char *buf, size_t len);

/* Renders into a malloc'd buffer; *len receives its length. now is the wall
 * clock (today's date, for an entry question); the countdown is c->left_ms. */
char *page_render_challenge(const struct config *cfg, const struct chal *c, enum lang lang,
                            int64_t now_ms, size_t *len);
char *page_render_state(const struct config *cfg, enum page_state st, enum lang lang, size_t *len);

#endif
