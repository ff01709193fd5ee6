/*
 * web_lock: a phone's lockout after the denial that reached it (web_lock.h).
 * web.c calls web_lock_after_denial only once that denial is durable (the
 * decision's callback, on the audit writer's thread) or stands in the store
 * for good (an answer in doubt that did decide its page), so a denial that
 * is withdrawn (its page reopened, the person told to try again) locks
 * nothing. In order: the page's `locked` row (after its `denied` row), then
 * store_lock_phone ends the phone's other pending links, each with its own
 * `locked` row and a false result for the bot (a Redis round trip, as the
 * undo's reopen on the same thread already is).
 *
 * These rows end challenges already minted, so they are never refused:
 * queued past the normal limit (audit_submit_end), and when even that
 * refuses (the queue at AUDIT_QUEUE_HARD_MAX), handed to the main thread's
 * sweep (web_locks_drain), which may wait for room, where the writer's own
 * thread must not (it would wait for itself) and a request thread must not
 * (it serves every connection on it). The handoff needs no cap of its own:
 * each entry is a row about a link that was pending, and a link ends once,
 * so it never holds more entries than the store had pending challenges. A
 * link is counted in mnmfa_challenges_locked_total when its row is queued.
 * At stop, what the last drain could not queue is logged and counted lost.
 */
#include "web_lock.h"
#include "app.h"
#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEB_LOCK_UA_MAX AUDIT_UA_MAX

/* A row the audit queue refused, for the sweep to queue. */
struct handoff {
	struct handoff *next;
	struct chal c;
	int64_t ts;
	bool link;                        /* a link the lockout ended (a result, counted) */
	char ip[INET6_ADDRSTRLEN];        /* the denied page's row: its answer's */
	char *user_agent;                 /* owned; NULL: none */
};

struct web_locks {
	struct app *app;
	pthread_mutex_t lock;             /* guards the list */
	struct handoff *head, **tail;
};

struct web_locks *web_locks_new(struct app *app)
{
	struct web_locks *l = xcalloc(1, sizeof *l);

	l->app = app;
	pthread_mutex_init(&l->lock, NULL);
	l->tail = &l->head;
	return l;
}

static void handoff_free(struct handoff *h)
{
	free(h->user_agent);
	explicit_bzero(h, sizeof *h);
	free(h);
}

void web_locks_free(struct web_locks *l)
{
	size_t lost = 0;

	if (l == NULL)
		return;
	for (struct handoff *h = l->head, *next; h != NULL; h = next) {
		next = h->next;
		lost++;
		metrics_inc(l->app->metrics, M_AUDIT_FAILED);
		handoff_free(h);
	}
	if (lost > 0)
		log_error("audit: stop: %zu locked rows of a lockout could not be queued in time", lost);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static void event_of(struct audit_event *ev, const struct chal *c, int64_t ts, bool link, const char *ip,
                     const char *user_agent)
{
	app_event_for(ev, AUDIT_LOCKED, c, ts);
	if (link) {
		ev->notify = true;          /* the bot is told false, as for any lockout */
		ev->validated = false;
	} else {
		ev->ip = ip;
		ev->user_agent = user_agent;
	}
}

/* Queues a `locked` row without waiting, or hands it to the sweep. */
static void row_submit(struct web_locks *l, const struct chal *c, int64_t ts, bool link, const char *ip,
                       const char *user_agent)
{
	struct audit_event ev;
	struct handoff *h;

	event_of(&ev, c, ts, link, ip, user_agent);
	if (audit_submit_end(l->app->audit, &ev) == 0) {
		if (link)
			metrics_inc(l->app->metrics, M_LOCKED);
		return;
	}
	h = xcalloc(1, sizeof *h);
	h->c = *c;
	h->ts = ts;
	h->link = link;
	snprintf(h->ip, sizeof h->ip, "%s", ip != NULL ? ip : "");
	h->user_agent = user_agent != NULL ? xstrndup(user_agent, WEB_LOCK_UA_MAX) : NULL;
	pthread_mutex_lock(&l->lock);
	*l->tail = h;
	l->tail = &h->next;
	pthread_mutex_unlock(&l->lock);
	log_warn("audit: queue full; a lockout's locked row is handed to the sweep");
}

static void on_link_locked(void *ctx, const struct chal *c)
{
	row_submit(ctx, c, c->decided_ms, true, NULL, NULL);
}

void web_lock_after_denial(struct web_locks *l, const struct chal *c, int64_t ts, const char *ip,
                           const char *user_agent)
{
	char id[PAGE_ID_LEN + 1];
	size_t others;

	row_submit(l, c, ts, false, ip, user_agent);
	/* stamped as the denial; which links are still open is the present's */
	others = store_lock_phone(l->app->store, app_phone_key(c->phone),
	                          (struct now){ .wall_ms = ts, .mono_ms = mono_ms() }, on_link_locked, l);
	b64url_encode(c->id, PAGE_ID_BYTES, id);
	log_info("a phone was locked after %d failed answers (page %s; %zu other pending links ended)",
	         l->app->cfg.lockout.n, id, others);
}

void web_locks_drain(struct web_locks *l, int64_t until_mono_ms)
{
	struct handoff *todo, *h;

	/* first the links of lockouts whose reply was lost (Redis) */
	store_lock_settle(l->app->store, now_read(), on_link_locked, l);

	pthread_mutex_lock(&l->lock);
	todo = l->head;
	l->head = NULL;
	l->tail = &l->head;
	pthread_mutex_unlock(&l->lock);
	while ((h = todo) != NULL) {
		struct audit_event ev;

		event_of(&ev, &h->c, h->ts, h->link, h->ip[0] != '\0' ? h->ip : NULL, h->user_agent);
		if (audit_submit_wait(l->app->audit, &ev, until_mono_ms) < 0)
			break;
		if (h->link)
			metrics_inc(l->app->metrics, M_LOCKED);
		todo = h->next;
		handoff_free(h);
	}
	if (todo == NULL)
		return;
	/* Kept, ahead of any handed off meanwhile. */
	pthread_mutex_lock(&l->lock);
	for (h = todo; h->next != NULL; h = h->next)
		;
	h->next = l->head;
	if (l->head == NULL)
		l->tail = &h->next;
	l->head = todo;
	pthread_mutex_unlock(&l->lock);
}
