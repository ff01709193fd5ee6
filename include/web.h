/*
 * web: the web port (SPEC §5): landing page, challenge pages, the answer
 * post, static assets and health.
 */
#ifndef MNMFA_WEB_H
#define MNMFA_WEB_H

#include <stdbool.h>

#define WEB_REPLAY_LOG_S 60       /* one `replayed` row per page and address per this long */

struct app;
struct http_req;
struct web;

/* Prepares the shared responses (assets, brand css/logo). NULL on failure
 * (logged: unreadable brand_logo). */
struct web *web_new(struct app *app);
void web_free(struct web *w);

/* Settles the answers this node answered 503 because the store could not
 * say whether they decided their page: writes the evidence of each that
 * did, forgets each that did not (see web.c). Called with every sweep (main
 * thread); asks the store once per answer, and stops at the first the store
 * cannot answer for. last (the stop's): asks about every one, even those
 * noted this last second; web_free logs and counts any left. */
void web_settle(struct web *w, bool last);

/* The http_handler_fn of the web port; ctx is the struct web. */
void web_handle(void *ctx, struct http_req *req);

#endif
