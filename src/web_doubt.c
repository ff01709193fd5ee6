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
 *
 * Nothing is dropped: an answer holds its room here before it goes to the
 * store (web_doubts_reserve), so a full table refuses the answer (503,
 * nothing decided) rather than forget one Redis decided; the room counts
 * answers kept, reserved and being settled alike, so a settle always puts
 * back what it kept. What is still here when the node stops is logged and
 * counted, one by one.
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
	size_t max;                       /* answers in doubt at most */
	pthread_mutex_t lock;             /* guards the ones below */
	struct doubt *v;                  /* vcap entries, n kept */
	size_t n, vcap;
	size_t held;                      /* room taken: kept, reserved and being settled */
	bool full_logged;                 /* the table's filling was logged (until it has room) */
};

struct web_doubts *web_doubts_new(struct metrics *m, size_t max)
{
	struct web_doubts *d = xcalloc(1, sizeof *d);

	d->metrics = m;
	d->max = max;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

static void doubt_drop(struct doubt *x)
{
	free(x->user_agent);
	free(x->refdata);
	explicit_bzero(x, sizeof *x);
}

/* Room for need entries in v (need <= held <= max). Lock held. */
static void doubts_room(struct web_doubts *d, size_t need)
{
	size_t c = d->vcap;

	if (need <= c)
		return;
	while (c < need)
		c = c == 0 ? WEB_DOUBTS_FIRST : 2 * c;
	d->v = xreallocarray(d->v, c, sizeof *d->v);
	d->vcap = c;
}

static void doubt_b64(const struct doubt *x, char b64[PAGE_ID_LEN + 1])
{
	b64url_encode(x->id, PAGE_ID_BYTES, b64);
}

void web_doubts_free(struct web_doubts *d)
{
	char b64[PAGE_ID_LEN + 1];

	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		doubt_b64(&d->v[i], b64);
		log_error("stop: an answer in doubt for page %.8s... was not settled: the page may stay decided "
		          "with no audit row and no result for the bot", b64);
		metrics_inc(d->metrics, M_DOUBT_UNSETTLED);
		metrics_inc(d->metrics, M_AUDIT_FAILED);
		doubt_drop(&d->v[i]);
	}
	free(d->v);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

bool web_doubts_reserve(struct web_doubts *d)
{
	bool ok, log_now = false;

	pthread_mutex_lock(&d->lock);
	ok = d->held < d->max;
	if (ok) {
		d->held++;
	} else if (!d->full_logged) {
		d->full_logged = log_now = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (!ok) {
		metrics_inc(d->metrics, M_DOUBT_REFUSED);
		if (log_now)
			log_error("redis: %zu answers in doubt (max_pending): answers are refused (503, nothing "
			          "decided) until they are settled", d->max);
	}
	return ok;
}

/* Gives back k units of room. Lock held. */
static void doubts_unhold(struct web_doubts *d, size_t k)
{
	d->held -= k;
	if (d->held < d->max)
		d->full_logged = false;
}

void web_doubts_release(struct web_doubts *d)
{
	pthread_mutex_lock(&d->lock);
	doubts_unhold(d, 1);
	pthread_mutex_unlock(&d->lock);
}

void web_doubts_add(struct web_doubts *d, const uint8_t id[PAGE_ID_BYTES], const char *token, int64_t mono_now,
                    const struct web_doubt_req *req)
{
	struct doubt *x;

	metrics_inc(d->metrics, M_IN_DOUBT);
	pthread_mutex_lock(&d->lock);
	doubts_room(d, d->n + 1);         /* n < held: reserved */
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

/* Asks about one answer due. true: settled (drop it). *answered false: the
 * store could not say (unreachable, or no replica confirmed): ask no more
 * this time. */
static bool settle_one(struct web_doubts *d, struct doubt *x, struct store *s, int64_t mono_now,
                       web_doubt_owed_fn owed, void *ctx, bool *answered)
{
	struct store_answer ans;
	struct web_doubt_req req = { x->ip, x->user_agent, x->refdata };
	char b64[PAGE_ID_LEN + 1];
	enum store_result sr = STORE_UNAVAILABLE;
	bool done = false;

	doubt_b64(x, b64);
	memset(&ans, 0, sizeof ans);
	if (*answered)                   /* one the store could not answer for: the rest later */
		sr = store_settle(s, x->id, x->token, &ans);
	*answered = sr != STORE_UNAVAILABLE && sr != STORE_IN_DOUBT;
	if (!*answered)
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
		metrics_inc(d->metrics, M_DOUBT_UNSETTLED);
		metrics_inc(d->metrics, M_AUDIT_FAILED);
	}
	explicit_bzero(&ans, sizeof ans);
	return done;
}

void web_doubts_settle(struct web_doubts *d, struct store *s, int64_t mono_now, bool force, web_doubt_owed_fn owed,
                       void *ctx)
{
	struct doubt *todo;
	size_t n, kept = 0;
	bool answered = true;

	pthread_mutex_lock(&d->lock);
	n = d->n;
	if (n == 0) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	todo = xmalloc(n * sizeof *todo);
	memcpy(todo, d->v, n * sizeof *todo);
	d->n = 0;                          /* their room stays held */
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		if ((force || mono_now >= todo[i].next_ms) &&
		    settle_one(d, &todo[i], s, mono_now, owed, ctx, &answered))
			doubt_drop(&todo[i]);
		else
			todo[kept++] = todo[i];
	}
	/* The kept ones back first (the oldest), then those added meanwhile:
	 * their room was held throughout, so all fit. */
	pthread_mutex_lock(&d->lock);
	doubts_room(d, kept + d->n);
	memmove(d->v + kept, d->v, d->n * sizeof *d->v);
	memcpy(d->v, todo, kept * sizeof *todo);
	d->n += kept;
	doubts_unhold(d, n - kept);
	pthread_mutex_unlock(&d->lock);
	explicit_bzero(todo, n * sizeof *todo);
	free(todo);
}
