/*
 * api: the API port (SPEC §4): the seed-compatible mint, the JSON API for
 * challenges, health and metrics. Authenticates with api_keys (or loopback
 * only when none are set).
 */
#ifndef MNMFA_API_H
#define MNMFA_API_H

struct http_req;

/* The http_handler_fn of the API port; ctx is the struct app. */
void api_handle(void *ctx, struct http_req *req);

#endif
