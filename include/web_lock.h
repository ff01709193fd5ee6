/*
 * web_lock: what a lockout does once the denial that reached it is durable
 * (see web_lock.c): the page's own `locked` row, then the phone's other
 * pending links ended, each with its `locked` row and a false result.
 */
#ifndef MNMFA_WEB_LOCK_H
#define MNMFA_WEB_LOCK_H

#include <stdint.h>

#define WEB_LOCK_DRAIN_MS 250     /* a sweep waits this long at most for room for the rows handed to it */

struct app;
struct chal;
struct web_locks;

struct web_locks *web_locks_new(struct app *app);
/* Rows still handed off are logged and counted (mnmfa_audit_failures_total). */
void web_locks_free(struct web_locks *l);

/* A denial of c, at ts, brought its phone to the lockout, and is durable (or
 * stands in the store, never undone): queues the page's `locked` row (ip and
 * user_agent of its answer; user_agent may be NULL), then ends the phone's
 * other pending links (store_lock_phone). Never waits for the audit queue,
 * so it may run on the audit writer's thread: a row the queue refuses is
 * handed to web_locks_drain. */
void web_lock_after_denial(struct web_locks *l, const struct chal *c, int64_t ts, const char *ip,
                           const char *user_agent);

/* The main thread's sweep: queues the rows handed off, waiting for room
 * until the mono_ms() instant until; what is still refused then is kept for
 * the next drain. */
void web_locks_drain(struct web_locks *l, int64_t until_mono_ms);

#endif
