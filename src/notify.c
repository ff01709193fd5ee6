/*
 * notify: the sender thread that empties the outbox.
 *
 * audit.c writes outbox rows in the same transaction as the decision's audit
 * row; this thread reads them from its own connection and delivers them with
 * libcurl multi (up to NOTIFY_INFLIGHT_MAX requests at once), so no request
 * thread ever waits on Chatfuel. The loop sleeps in curl_multi_poll until
 * curl has work, notify_wake (curl_multi_wakeup) says new rows were committed,
 * the next row comes due or the rate limit lets a held row go (next_wake
 * weighs these); nothing is kept in memory that the database does
 * not also hold, so a crash loses nothing: rows still pending are sent after
 * the next start (at least once; a crash between a 2xx and our update means
 * that row is sent again).
 *
 * What a request looks like and what its answer means belong to chatfuel.c
 * and webhook.c (verdicts in delivery.h): sent, retry (connection error,
 * timeout, 408, 429, 5xx, a Chatfuel 2xx without "success": true) or failed
 * (any other status, reason kept). Retries back off exponentially with jitter
 * (backoff.c), never sooner than a Retry-After. A result is worth sending
 * only while the flow waiting for it is fresh: a row older than
 * result_max_age (the timing's max_age) is not sent, and one whose next retry
 * would fall past it is not retried; either ends expired, with the reason.
 *
 * Secrets: the row holds no token. The token is put into the URL only in the
 * curl handle's request and is wiped with it; logs name the URL up to the
 * '?', and every error text stored or logged has the token (plain and
 * URL-encoded) and the webhook secret redacted.
 */
#include "notify.h"
#include "backoff.h"
#include "buf.h"
#include "chatfuel.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "outbox.h"
#include "util.h"
#include "webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_INFLIGHT_MAX 16               /* requests in flight at once */
#define NOTIFY_FETCH_MAX (4 * NOTIFY_INFLIGHT_MAX) /* due rows read per pass */
#define NOTIFY_RESP_MAX (16 * 1024)          /* response bytes kept; the rest is discarded */
#define NOTIFY_IDLE_MS 1000                  /* longest sleep without a wake: a safety net */
#define NOTIFY_STOP_POLL_MS 50
#define NOTIFY_RATE_WINDOW_MS 1000           /* chatfuel_rps counts requests per this window */
#define NOTIFY_RATE_SLACK_MS 50              /* spacing of window+slack / rps: arrivals stay under rps */
#define NOTIFY_USER_AGENT "mnmfa"

struct xfer {
	int64_t row_id, created_ms;
	int attempts;                      /* before this one */
	bool chatfuel;
	CURL *easy;
	char *url;                         /* holds the token for Chatfuel: wiped */
	char *log_url;                     /* the URL up to '?' */
	char *body;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	struct buf resp;                   /* at most NOTIFY_RESP_MAX bytes */
	bool cut;                          /* the answer went past NOTIFY_RESP_MAX: read no further */
};

/* One destination's state (Chatfuel, the webhook), sender thread only. */
struct dest {
	int64_t paused_until;              /* mono_ms: a 429/503 Retry-After holds every send */
	bool failing;                      /* an attempt failed since the last delivery */
	bool recovered;                    /* delivered after failures: make its waiting rows due */
};

struct notify {
	char *db_path;
	struct chatfuel *cf;               /* NULL: no credentials, dry run */
	char *block_id;                    /* chatfuel_block_id, for chatfuel_target=block_id */
	struct webhook *wh;                /* NULL: no webhook */
	struct notify_timing t;

	struct outbox_sender *outbox;
	CURLM *multi;
	pthread_t thread;
	bool started;
	int64_t started_ms;             /* rows created before are an earlier run's */
	atomic_bool stop;

	/* Sender thread only. */
	struct xfer *inflight[NOTIFY_INFLIGHT_MAX];
	int ninflight;
	struct outbox_outcome *upds;       /* outcomes not yet recorded */
	size_t nupd, capupd;
	int64_t next_send;                 /* mono_ms: the next Chatfuel send may start then */
	int64_t send_interval;             /* ms between Chatfuel sends: an even pace under rps */
	struct dest dest[2];               /* [0] webhook, [1] Chatfuel */
	uint64_t rng;

	_Atomic uint64_t st_sent, st_retried, st_failed, st_skipped, st_expired;
};

/* An rng_fn over a uint64_t state: xorshift64*, jitter needs spread, not secrecy. */
static uint64_t jitter_rng(void *ctx)
{
	uint64_t *x = ctx;

	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static void redact_all(struct notify *n, char *s, size_t cap)
{
	chatfuel_redact(n->cf, s, cap);
	webhook_redact(n->wh, s, cap);
}

/* The answer's body as an error text may quote it: secrets redacted from the
 * whole of it first, then (in the judge) an excerpt cut from that, so a
 * secret echoed across the cut leaves no prefix behind. Control bytes (a NUL
 * would end the search) become spaces first; the verdict does not depend on
 * them. */
static void scrub_answer(struct notify *n, struct buf *b)
{
	if (b->data == NULL)
		return;
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f)
			b->data[i] = ' ';
	redact_all(n, b->data, b->cap);
	b->len = strlen(b->data);
}

/* ---- the outbox -------------------------------------------------------- */

static void push_upd(struct notify *n, int64_t id, enum outbox_outcome_kind kind, int64_t next_ms, long http,
                     const char *err)
{
	struct outbox_outcome *u;

	if (n->nupd == n->capupd) {
		n->capupd = n->capupd ? n->capupd * 2 : 32;
		n->upds = xreallocarray(n->upds, n->capupd, sizeof *n->upds);
	}
	u = &n->upds[n->nupd++];
	u->id = id;
	u->kind = kind;
	u->next_ms = next_ms;
	u->http = http;
	strlcpy_(u->err, err ? err : "", sizeof u->err);
	redact_all(n, u->err, sizeof u->err);
}

/* Writes the outcomes gathered since the last flush in one transaction. If
 * that fails they are kept and written with the next flush (fill() leaves
 * their rows alone meanwhile); their rows stay pending: at least once. */
static void flush(struct notify *n)
{
	if (n->nupd == 0)
		return;
	if (outbox_record(n->outbox, n->upds, n->nupd, now_ms()) == 0)
		n->nupd = 0;
}

/* true if an outcome for row id waits to be written. */
static bool outcome_pending(const struct notify *n, int64_t id)
{
	for (size_t i = 0; i < n->nupd; i++)
		if (n->upds[i].id == id)
			return true;
	return false;
}

static bool in_flight(const struct notify *n, int64_t id)
{
	for (int i = 0; i < n->ninflight; i++)
		if (n->inflight[i]->row_id == id)
			return true;
	return false;
}

/* The earliest next_attempt_ms of a pending row not in flight, or -1. */
static int64_t next_due(struct notify *n)
{
	int64_t id[NOTIFY_INFLIGHT_MAX + 1], due[NOTIFY_INFLIGHT_MAX + 1];
	size_t k = outbox_earliest(n->outbox, id, due, ARRAY_LEN(id));

	for (size_t i = 0; i < k; i++)
		if (!in_flight(n, id[i]))
			return due[i];
	return -1;
}

/* ---- requests ---------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nmemb, room = NOTIFY_RESP_MAX - x->resp.len;

	if (len > room) {
		/* Past the cap the answer is read no further (curl stops the
		 * transfer) and judged by what was read. */
		if (room > 0)
			buf_add(&x->resp, p, room);
		x->cut = true;
		return 0;
	}
	buf_add(&x->resp, p, len);
	return len;
}

static void xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	secure_wipe_str(x->url);
	free(x->url);
	free(x->log_url);
	free(x->body);
	curl_slist_free_all(x->hdrs);
	buf_free(&x->resp);
	free(x);
}

/* Builds and adds the request for one outbox row. */
static struct xfer *xfer_start(struct notify *n, const struct outbox_row *r)
{
	struct xfer *x = xcalloc(1, sizeof *x);
	bool chatfuel = r->kind == OUTBOX_CHATFUEL;

	x->row_id = r->id;
	x->created_ms = r->created_ms;
	x->attempts = r->attempts;
	x->chatfuel = chatfuel;
	if ((x->easy = curl_easy_init()) == NULL)
		goto fail;
	if (chatfuel) {
		struct chatfuel_result cr = {
			.client_id = r->client_id, .target = (enum chatfuel_target)r->target,
			.dest = r->target == CHATFUEL_TARGET_BLOCK_ID ? n->block_id : r->flow,
			.validated = r->validated, .page_id = r->evidence.page_id, .status = r->evidence.event,
		};
		chatfuel_build_url(n->cf, &cr, &x->url, &x->log_url);
		x->body = xstrdup(CHATFUEL_BODY);
	} else {
		char sig[WEBHOOK_SIG_HEADER_MAX];

		x->url = xstrdup(webhook_url(n->wh));
		x->log_url = webhook_log_url(n->wh);
		x->body = xstrdup(r->body ? r->body : "{}");
		webhook_sign(n->wh, x->body, (long long)(now_ms() / 1000), sig);
		if ((x->hdrs = curl_slist_append(x->hdrs, sig)) == NULL)
			goto fail;
	}
	x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
	if (x->hdrs == NULL || (x->hdrs = curl_slist_append(x->hdrs, "Expect:")) == NULL)
		goto fail;
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_PATH_AS_IS, 1L);     /* no dot-segment folding */
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)n->t.http_timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, NOTIFY_USER_AGENT);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(n->multi, x->easy) != CURLM_OK)
		goto fail;
	return x;
fail:
	xfer_free(x);
	return NULL;
}

/* Chatfuel allows chatfuel_rps requests per second per bot: sends are paced
 * evenly (a token bucket holding one token, refilled every send_interval),
 * so no sliding second sees more than rps and there are no bursts. Returns
 * 0 and takes the token, or the milliseconds until it is back. */
static int64_t rate_take(struct notify *n)
{
	int64_t now = mono_ms();

	if (now < n->next_send)
		return n->next_send - now;
	n->next_send = now + n->send_interval;
	return 0;
}

/* Starts due rows while there is room. Returns -1, or how long until the
 * rate limit lets a waiting Chatfuel row go. */
static int64_t fill(struct notify *n, int64_t now)
{
	struct outbox_row r;
	int64_t rate_wait = -1;

	outbox_due_start(n->outbox, now, NOTIFY_FETCH_MAX);
	while (n->ninflight < NOTIFY_INFLIGHT_MAX && outbox_due_next(n->outbox, &r) == 1) {
		int64_t id = r.id;
		bool chatfuel = r.kind == OUTBOX_CHATFUEL;
		const char *problem;
		struct xfer *x;

		if (in_flight(n, id) || outcome_pending(n, id))
			continue;
		if ((problem = outbox_evidence_problem(&r.evidence, &r)) != NULL) {
			log_error("notify: outbox row %lld not sent: %s", (long long)id, problem);
			push_upd(n, id, OUTBOX_FAILED, 0, 0, problem);
			continue;
		}
		if (now - r.created_ms > n->t.max_age_ms) {
			char why[DELIVERY_ERROR_MAX];
			snprintf(why, sizeof why, "expired: decided %lld s ago, past result_max_age (%lld s); "
			         "not sent", (long long)((now - r.created_ms) / 1000),
			         (long long)(n->t.max_age_ms / 1000));
			log_warn("notify: outbox row %lld %s", (long long)id, why);
			push_upd(n, id, OUTBOX_EXPIRED, 0, 0, why);
			atomic_fetch_add_explicit(&n->st_expired, 1, memory_order_relaxed);
			continue;
		}
		if (chatfuel && n->cf == NULL && r.created_ms < n->started_ms) {
			/* Written by an earlier run that had credentials: keep it for a
			 * run that has them again (every start makes pending rows due). */
			push_upd(n, id, OUTBOX_RETRY, now + NOTIFY_DRY_RUN_HOLD_MS, 0,
			         "dry run: kept pending for a run with Chatfuel credentials");
			continue;
		}
		if (chatfuel && n->cf == NULL) {
			log_debug("dry run: outbox row %lld not sent (no Chatfuel credentials)", (long long)id);
			push_upd(n, id, OUTBOX_SKIPPED, 0, 0, "dry run: no Chatfuel credentials");
			atomic_fetch_add_explicit(&n->st_skipped, 1, memory_order_relaxed);
			continue;
		}
		if (!chatfuel && n->wh == NULL) {
			push_upd(n, id, OUTBOX_SKIPPED, 0, 0, "webhook_url not set");
			atomic_fetch_add_explicit(&n->st_skipped, 1, memory_order_relaxed);
			continue;
		}
		if (mono_ms() < n->dest[chatfuel].paused_until) {
			/* held by a Retry-After: not before then, for any row */
			int64_t w = n->dest[chatfuel].paused_until - mono_ms();
			rate_wait = rate_wait < 0 || w < rate_wait ? w : rate_wait;
			continue;
		}
		if (chatfuel) {
			int64_t w = rate_take(n);
			if (w > 0) {
				rate_wait = rate_wait < 0 || w < rate_wait ? w : rate_wait;
				continue;
			}
		}
		if ((x = xfer_start(n, &r)) == NULL) {
			log_error("notify: cannot start a request for outbox row %lld", (long long)id);
			push_upd(n, id, OUTBOX_RETRY, now + n->t.backoff_base_ms, 0, "cannot start request");
			continue;
		}
		n->inflight[n->ninflight++] = x;
	}
	outbox_due_end(n->outbox);
	return rate_wait;
}

/* A 429/503's Retry-After (ms, 0 if none), capped at
 * NOTIFY_RETRY_AFTER_MAX_MS (said in the log); it holds every send to that
 * destination until then, not only this row's. */
static int64_t retry_after(struct notify *n, struct xfer *x, const char *what)
{
	curl_off_t ra = 0;
	int64_t ms;

	if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
		return 0;
	ms = (int64_t)ra * 1000;
	if (ms > NOTIFY_RETRY_AFTER_MAX_MS) {
		log_warn("notify: %s asked to wait %lld s (Retry-After); waiting the cap of %lld s instead",
		         what, (long long)ra, (long long)(NOTIFY_RETRY_AFTER_MAX_MS / 1000));
		ms = NOTIFY_RETRY_AFTER_MAX_MS;
	}
	if (mono_ms() + ms > n->dest[x->chatfuel].paused_until) {
		n->dest[x->chatfuel].paused_until = mono_ms() + ms;
		log_warn("notify: %s answered %s with Retry-After %lld s: no sends to it until then", what,
		         "429/503", (long long)(ms / 1000));
	}
	return ms;
}

/* Decides what one finished request means for its row. */
static void finish(struct notify *n, struct xfer *x, CURLcode res)
{
	const char *what = x->chatfuel ? "chatfuel" : "webhook";
	char err[DELIVERY_ERROR_MAX];
	int attempts = x->attempts + 1;
	int64_t now = now_ms(), at_least = 0, next;
	long code = 0;
	enum delivery_verdict v;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_WRITE_ERROR && x->cut && code > 0) {
		log_debug("notify: %s row %lld: answer longer than %d bytes, judged by its start", what,
		          (long long)x->row_id, NOTIFY_RESP_MAX);
		res = CURLE_OK;
	}
	if (res != CURLE_OK) {
		snprintf(err, sizeof err, "%s%s%s", curl_easy_strerror(res), x->errbuf[0] ? ": " : "",
		         x->errbuf);
		code = 0;
		v = DELIVERY_RETRY;
	} else {
		scrub_answer(n, &x->resp);
		v = x->chatfuel ? chatfuel_judge(code, x->resp.data, x->resp.len, err, sizeof err) :
		                  webhook_judge(code, x->resp.data, x->resp.len, err, sizeof err);
		if (v == DELIVERY_SENT) {
			log_debug("notify: %s row %lld delivered (HTTP %ld, attempt %d)", what,
			          (long long)x->row_id, code, attempts);
			push_upd(n, x->row_id, OUTBOX_SENT, 0, code, NULL);
			atomic_fetch_add_explicit(&n->st_sent, 1, memory_order_relaxed);
			if (n->dest[x->chatfuel].failing) {
				n->dest[x->chatfuel].failing = false;
				n->dest[x->chatfuel].recovered = true;
			}
			return;
		}
		if (code == 429 || code == 503)
			at_least = retry_after(n, x, what);
	}
	n->dest[x->chatfuel].failing = true;
	redact_all(n, err, sizeof err);
	if (v == DELIVERY_RETRY) {
		int64_t d = backoff(attempts, n->t.backoff_base_ms, n->t.backoff_cap_ms, jitter_rng,
		                    &n->rng);
		next = now + (d > at_least ? d : at_least);
		if (next - x->created_ms <= n->t.max_age_ms) {
			log_warn("notify: %s row %lld attempt %d failed (%s): POST %s; retry in %lld ms",
			         what, (long long)x->row_id, attempts, err, x->log_url,
			         (long long)(next - now));
			push_upd(n, x->row_id, OUTBOX_RETRY, next, code, err);
			atomic_fetch_add_explicit(&n->st_retried, 1, memory_order_relaxed);
			return;
		}
		char gave[DELIVERY_ERROR_MAX];
		int k = snprintf(gave, sizeof gave, "expired: the next retry would pass result_max_age "
		                 "(%lld s); %d attempts, last: ", (long long)(n->t.max_age_ms / 1000),
		                 attempts);
		strlcpy_(gave + k, err, sizeof gave - (size_t)k);
		log_warn("notify: %s row %lld %s: POST %s", what, (long long)x->row_id, gave, x->log_url);
		push_upd(n, x->row_id, OUTBOX_EXPIRED, 0, code, gave);
		atomic_fetch_add_explicit(&n->st_expired, 1, memory_order_relaxed);
		return;
	}
	log_error("notify: %s row %lld failed for good (%s): POST %s", what, (long long)x->row_id, err,
	          x->log_url);
	push_upd(n, x->row_id, OUTBOX_FAILED, 0, code, err);
	atomic_fetch_add_explicit(&n->st_failed, 1, memory_order_relaxed);
}

static void drop_inflight(struct notify *n, struct xfer *x)
{
	for (int i = 0; i < n->ninflight; i++) {
		if (n->inflight[i] == x) {
			n->inflight[i] = n->inflight[--n->ninflight];
			break;
		}
	}
	curl_multi_remove_handle(n->multi, x->easy);
	xfer_free(x);
}

static void reap(struct notify *n)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(n->multi, &left)) != NULL) {
		struct xfer *x = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		finish(n, x, m->data.result);
		drop_inflight(n, x);
	}
}

/* A destination answered again after failures: the rows waiting in backoff
 * for it are due now, not at their backoff (after the outcomes are written,
 * so that none of them is set back). */
static void make_recovered_due(struct notify *n)
{
	for (int chatfuel = 0; chatfuel < 2; chatfuel++) {
		if (!n->dest[chatfuel].recovered || n->nupd > 0)
			continue;
		n->dest[chatfuel].recovered = false;
		if (outbox_make_due(n->outbox, chatfuel ? "chatfuel" : "webhook", now_ms()) == 0)
			log_info("notify: %s answers again; the results waiting for it are sent now",
			         chatfuel ? "chatfuel" : "webhook");
	}
}

/* How long the loop may sleep in curl_multi_poll, at most NOTIFY_IDLE_MS (a
 * safety net). The poll ends earlier by itself for the other two sources: the
 * sockets and timers of in-flight transfers, and wake requests (notify_wake
 * is curl_multi_wakeup). This function weighs the two it must compute:
 *   - the rate limit: rate_wait ms (-1: none) until fill() may start a
 *     Chatfuel row it had to hold back;
 *   - due rows: until the earliest pending row not in flight comes due, only
 *     while a transfer slot is free (a full set of transfers wakes the loop
 *     when one finishes). A row that came due while fill() ran is started at
 *     once, unless the rate limit is what holds rows back. */
static int64_t next_wake(struct notify *n, int64_t now, int64_t rate_wait)
{
	int64_t wait = NOTIFY_IDLE_MS, due;

	if (rate_wait >= 0 && rate_wait < wait)
		wait = rate_wait;
	if (n->ninflight < NOTIFY_INFLIGHT_MAX && (due = next_due(n)) >= 0) {
		if (due > now && due - now < wait)
			wait = due - now;
		else if (due <= now && rate_wait < 0)
			wait = 0;
	}
	return wait;
}

static void *sender_main(void *arg)
{
	struct notify *n = arg;
	int running, aborted;
	int64_t deadline;

	while (!atomic_load(&n->stop)) {
		int64_t now, rate_wait = -1;

		curl_multi_perform(n->multi, &running);
		reap(n);
		flush(n);
		make_recovered_due(n);
		now = now_ms();
		if (n->ninflight < NOTIFY_INFLIGHT_MAX) {
			rate_wait = fill(n, now);
			flush(n);
		}
		curl_multi_poll(n->multi, NULL, 0, (int)next_wake(n, now, rate_wait), NULL);
	}

	/* Stopping: let requests in flight finish for a moment; the rest stay
	 * pending and go out after the next start. */
	deadline = mono_ms() + n->t.stop_grace_ms;
	while (n->ninflight > 0 && mono_ms() < deadline) {
		curl_multi_perform(n->multi, &running);
		reap(n);
		if (n->ninflight > 0)
			curl_multi_poll(n->multi, NULL, 0, NOTIFY_STOP_POLL_MS, NULL);
	}
	aborted = n->ninflight;
	while (n->ninflight > 0)
		drop_inflight(n, n->inflight[0]);
	flush(n);
	if (aborted > 0)
		log_info("notify: %d requests still in flight at stop; they are sent after the next start",
		         aborted);
	return NULL;
}

/* ---- lifetime ---------------------------------------------------------- */

static void notify_free(struct notify *n)
{
	while (n->ninflight > 0)
		drop_inflight(n, n->inflight[0]);
	if (n->multi != NULL)
		curl_multi_cleanup(n->multi);
	outbox_sender_close(n->outbox);
	free(n->db_path);
	free(n->block_id);
	chatfuel_free(n->cf);
	webhook_free(n->wh);
	free(n->upds);
	free(n);
	curl_global_cleanup();
}

struct notify *notify_start_timing(const struct config *cfg, const struct notify_timing *t)
{
	struct notify *n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("%s: curl_global_init failed", __func__);
		return NULL;
	}
	n = xcalloc(1, sizeof *n);
	n->t = (struct notify_timing){ NOTIFY_BACKOFF_BASE_MS, NOTIFY_BACKOFF_CAP_MS,
	                               NOTIFY_HTTP_TIMEOUT_MS, (int64_t)cfg->result_max_age * 1000,
	                               NOTIFY_STOP_GRACE_MS };
	if (t != NULL) {
		if (t->backoff_base_ms > 0) n->t.backoff_base_ms = t->backoff_base_ms;
		if (t->backoff_cap_ms > 0) n->t.backoff_cap_ms = t->backoff_cap_ms;
		if (t->http_timeout_ms > 0) n->t.http_timeout_ms = t->http_timeout_ms;
		if (t->max_age_ms > 0) n->t.max_age_ms = t->max_age_ms;
		if (t->stop_grace_ms > 0) n->t.stop_grace_ms = t->stop_grace_ms;
	}
	if (n->t.backoff_cap_ms < n->t.backoff_base_ms)
		n->t.backoff_cap_ms = n->t.backoff_base_ms;
	n->db_path = xstrdup(cfg->db_path);
	if (cfg->chatfuel_block_id != NULL)
		n->block_id = xstrdup(cfg->chatfuel_block_id);
	if (outbox_chatfuel_on(cfg))                        /* else a dry run: no client */
		n->cf = chatfuel_new(cfg->chatfuel_base_url,     /* config: never empty */
		                     cfg->chatfuel_bot_id, cfg->chatfuel_token);
	if (webhook_new(cfg->webhook_url, cfg->webhook_secret, &n->wh) != 0)
		goto fail;
	/* config: chatfuel_rps 1..1000, so at least 1 ms */
	n->send_interval = (NOTIFY_RATE_WINDOW_MS + NOTIFY_RATE_SLACK_MS) / cfg->chatfuel_rps;
	if (crypto_random(&n->rng, sizeof n->rng) != 0 || n->rng == 0)
		n->rng = (uint64_t)mono_ms() | 1;

	n->started_ms = now_ms();
	if ((n->outbox = outbox_sender_open(n->db_path, n->started_ms)) == NULL)
		goto fail;
	if ((n->multi = curl_multi_init()) == NULL) {
		log_error("%s: curl_multi_init failed", __func__);
		goto fail;
	}
	curl_multi_setopt(n->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)NOTIFY_INFLIGHT_MAX);
	if (pthread_create(&n->thread, NULL, sender_main, n) != 0) {
		log_error("%s: cannot start the sender thread", __func__);
		goto fail;
	}
	n->started = true;
	log_info("notify: sender started (chatfuel %s, webhook %s)",
	         n->cf != NULL ? "on" : "off (dry run)", n->wh != NULL ? "on" : "off");
	return n;
fail:
	notify_free(n);
	return NULL;
}

struct notify *notify_start(const struct config *cfg)
{
	return notify_start_timing(cfg, NULL);
}

void notify_wake(void *ctx)
{
	struct notify *n = ctx;

	if (n != NULL)
		curl_multi_wakeup(n->multi);
}

void notify_get_stats(struct notify *n, struct notify_stats *out)
{
	out->sent = atomic_load_explicit(&n->st_sent, memory_order_relaxed);
	out->retried = atomic_load_explicit(&n->st_retried, memory_order_relaxed);
	out->failed = atomic_load_explicit(&n->st_failed, memory_order_relaxed);
	out->skipped = atomic_load_explicit(&n->st_skipped, memory_order_relaxed);
	out->expired = atomic_load_explicit(&n->st_expired, memory_order_relaxed);
}

void notify_stop(struct notify *n)
{
	if (n == NULL)
		return;
	atomic_store(&n->stop, true);
	curl_multi_wakeup(n->multi);
	if (n->started)
		pthread_join(n->thread, NULL);
	notify_free(n);
}
