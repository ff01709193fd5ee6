/*
 * app: the one object built at start-up in main and passed as closure to both
 * daemons and every worker thread. No mutable globals elsewhere.
 */
#ifndef MNMFA_APP_H
#define MNMFA_APP_H

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "redis.h"
#include "store.h"
#include "validate.h"

#include <string.h>

struct store;
struct audit;
struct notify;
struct backlog;
struct metrics;
struct http_server;
struct tls_material;
struct limiter;

struct app {
	struct config cfg;
	struct store *store;
	struct audit *audit;
	struct notify *notify;
	struct anchor *anchor;           /* audit_anchor_url's poster; NULL without it */
	struct backlog *backlog;         /* outbox backlog for /metrics; may be NULL */
	struct metrics *metrics;
	struct tls_material *tls;
	struct http_server *web;
	struct http_server *api;
	struct limiter *rate_phone;      /* mints per phone */
	struct limiter *lockout;         /* failed answers per phone */
	struct limiter *rate_ip;         /* web requests per client address */
	struct limiter *replay_log;      /* replayed rows per page and address (this node) */
	struct redis *redis;             /* with redis_url/redis_sentinels: shared by store and limiters */
};

#define APP_HEALTH_DEGRADED "{\"status\":\"degraded\",\"redis\":\"down\"}"
#define APP_RETRY_AFTER_REDIS "2"    /* seconds: reconnects back off to at most 2 s */

/* /healthz on either port: false when a part the node needs (Redis) does not
 * answer, so a balancer stops sending it requests. */
static inline bool app_healthy(struct app *app)
{
	return app->redis == NULL || redis_ping(app->redis);
}

/* Starts the audit event about challenge c: its identity and times. The
 * caller adds what only it knows (ip, user agent, refdata, notify). A
 * challenge never stored (created_ms 0: a refused mint) has no page id. */
static inline void app_event_for(struct audit_event *ev, enum audit_kind kind, const struct chal *c,
                                 int64_t ts)
{
	memset(ev, 0, sizeof *ev);
	ev->kind = kind;
	ev->ts_ms = ts;
	if (c->created_ms != 0)
		b64url_encode(c->id, PAGE_ID_BYTES, ev->page_id);
	ev->client_id = c->client_id;
	ev->phone = c->phone;
	ev->flow = c->flow;
	ev->created_ms = c->created_ms != 0 ? c->created_ms : ts;
}

/* The key the per-phone limits use: the digits, without a leading '+'. */
static inline const char *app_phone_key(const char *phone)
{
	return store_phone_key(phone);
}

#endif
