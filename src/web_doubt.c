/*
 * web_doubt: answers in doubt (web_doubt.h). An answer is decided once, with
 * its evidence, or not at all: one the store could not confirm either way is
 * answered 503 and kept here with its address, user agent and refdata. The
 * sweeps ask the store about each (web_doubts_settle, from web_settle), first
 * WEB_DOUBT_QUIET_MS after it was noted and again that long after the store
 * last failed to answer, so that a stalled Redis that wakes runs the answer
 * it had queued before it is asked (the person's answer then counts). If that
 * answer did decide the page, the node writes the decision's row and result
 * it owes, as if the answer had been confirmed at once (the person's retry is
 * then a replay, back to the chat); if not, the store fences it so it never
 * will, and the page is simply still open. A decision in the store is never
 * undone from here, so no node can have reported "already used" for a
 * decision that then vanishes (short of a failover losing one no replica
 * had, which the replica's confirmation guards).
 */
#include "web_doubt.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct doubt {
	uint8_t id[PAGE_ID_BYTES];
	char token[STORE_TOKEN_MAX + 1];
	int64_t next_ms, until_ms;        /* asked again from next_ms; given up at until_ms */
	char ip[INET6_ADDRSTRLEN];
	char *user_agent, *refdata;       /* owned; NULL: none */
};

struct web_doubts {
	struct metrics *metrics;
	pthread_mutex_t lock;             /* guards the two below */
	struct doubt *v;                  /* WEB_DOUBTS_MAX */
	size_t n;
};

struct web_doubts *web_doubts_new(struct metrics *m)
{
	struct web_doubts *d = xcalloc(1, sizeof *d);

	d->metrics = m;
	pthread_mutex_init(&d->lock, NULL);
	d->v = xcalloc(WEB_DOUBTS_MAX, sizeof *d->v);
	return d;
}

static void doubt_drop(struct doubt *x)
{
	free(x->user_agent);
	free(x->refdata);
	explicit_bzero(x, sizeof *x);
}

void web_doubts_free(struct web_doubts *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		doubt_drop(&d->v[i]);
	free(d->v);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void web_doubts_add(struct web_doubts *d, const uint8_t id[PAGE_ID_BYTES], const char *token, int64_t mono_now,
                    const struct web_doubt_req *req)
{
	struct doubt *x;

	metrics_inc(d->metrics, M_IN_DOUBT);
	pthread_mutex_lock(&d->lock);
	if (d->n == WEB_DOUBTS_MAX) {
		pthread_mutex_unlock(&d->lock);
		log_error("redis: %d answers already in doubt; one more may stay decided with no audit row",
		          WEB_DOUBTS_MAX);
		metrics_inc(d->metrics, M_AUDIT_FAILED);
		return;
	}
	x = &d->v[d->n++];
	memcpy(x->id, id, sizeof x->id);
	snprintf(x->token, sizeof x->token, "%s", token);
	x->next_ms = mono_now + WEB_DOUBT_QUIET_MS;
	x->until_ms = mono_now + WEB_DOUBT_MS;
	snprintf(x->ip, sizeof x->ip, "%s", req->ip);
	x->user_agent = req->user_agent != NULL ? xstrndup(req->user_agent, WEB_DOUBT_UA_MAX) : NULL;
	x->refdata = req->refdata != NULL ? xstrdup(req->refdata) : NULL;
	pthread_mutex_unlock(&d->lock);
}

/* Asks about one answer due. true: settled (drop it). */
static bool settle_one(struct web_doubts *d, struct doubt *x, struct store *s, int64_t mono_now,
                       web_doubt_owed_fn owed, void *ctx, bool *reachable)
{
	struct store_answer ans;
	struct web_doubt_req req = { x->ip, x->user_agent, x->refdata };
	char b64[PAGE_ID_LEN + 1];
	enum store_result sr = STORE_UNAVAILABLE;
	bool done = false;

	b64url_encode(x->id, PAGE_ID_BYTES, b64);
	memset(&ans, 0, sizeof ans);
	if (*reachable)                  /* one unreachable store: the rest later */
		sr = store_settle(s, x->id, x->token, &ans);
	*reachable = sr != STORE_UNAVAILABLE;
	if (sr == STORE_UNAVAILABLE)
		x->next_ms = mono_now + WEB_DOUBT_QUIET_MS;
	if (sr == STORE_OK) {
		done = owed(ctx, &ans, &req);
		if (done)
			log_warn("an answer shown \"try again\" had decided page %.8s... (%s): its evidence and "
			         "result are written now", b64, chal_status_name(ans.c.status));
	} else if (sr == STORE_NOT_FOUND) {
		done = true;
		log_info("an answer shown \"try again\" did not decide page %.8s...: it stays open", b64);
	} else if (mono_now >= x->until_ms) {
		done = true;
		log_error("an answer in doubt for page %.8s... could not be settled in %lld s: the page may "
		          "stay decided with no audit row", b64, WEB_DOUBT_MS / 1000);
		metrics_inc(d->metrics, M_AUDIT_FAILED);
	}
	explicit_bzero(&ans, sizeof ans);
	return done;
}

void web_doubts_settle(struct web_doubts *d, struct store *s, int64_t mono_now, web_doubt_owed_fn owed, void *ctx)
{
	struct doubt *todo;
	size_t n, kept = 0;
	bool reachable = true;

	pthread_mutex_lock(&d->lock);
	n = d->n;
	if (n == 0) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	todo = xmalloc(n * sizeof *todo);
	memcpy(todo, d->v, n * sizeof *todo);
	d->n = 0;
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		if (mono_now >= todo[i].next_ms && settle_one(d, &todo[i], s, mono_now, owed, ctx, &reachable))
			doubt_drop(&todo[i]);
		else
			todo[kept++] = todo[i];
	}
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < kept; i++) {
		if (d->n < WEB_DOUBTS_MAX)
			d->v[d->n++] = todo[i];       /* added meanwhile: still room for these */
		else
			doubt_drop(&todo[i]);
	}
	pthread_mutex_unlock(&d->lock);
	explicit_bzero(todo, n * sizeof *todo);
	free(todo);
}
