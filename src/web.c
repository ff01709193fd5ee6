/*
 * web: request handlers of the web port. The page and the answer read
 * everything bound to a challenge (client, phone, flow) from the store, never
 * from the form. A decision is answered only after its audit row and result
 * are durable: the request is deferred until the audit writer's callback.
 *
 * An answer is decided once, with its evidence, or not at all: one the store
 * could not confirm either way is answered 503 and kept in web_doubt.c,
 * whose settle (every sweep, web_settle) hands back each that did decide its
 * page for its evidence to be written here (doubt_owed).
 */
#include "web.h"
#include "app.h"
#include "assets.h"
#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "decide.h"
#include "web_doubt.h"
#include "web_lock.h"
#include "fileio.h"
#include "form.h"
#include "http.h"
#include "limiter.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "store.h"
#include "util.h"
#include "validate.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATIC_CACHE "public, max-age=31536000, immutable"
#define BRAND_LOGO_MAX (256 * 1024)
#define ANSWER_MAX 64
#define RETRY_AFTER_UNDO_S 5          /* a decision undone: try again shortly */
#define ANSWER_WAIT_MIN_MS 250        /* an answer's shortest wait for its evidence */
struct web {
	struct app *app;
	struct http_cached **assets;       /* one per embedded asset, same order */
	struct http_cached *brand_css;
	struct http_cached *brand_logo;
	char *brand_logo_data;
	char brand_css_text[80];
	char wa_url[64];
	struct cidr proxies[CONFIG_MAX_LIST];   /* trusted_proxies, parsed once */
	int nproxies;
	struct web_doubts *doubts;         /* answers in doubt, to settle */
	struct web_locks *locks;           /* lockouts after durable denials */
};

static struct http_cached *load_brand_logo(struct web *w, const char *path)
{
	char err[512];
	size_t n;
	const char *dot = strrchr(path, '.');
	const char *ctype;

	w->brand_logo_data = file_read_capped(path, BRAND_LOGO_MAX, &n, err, sizeof err);
	if (w->brand_logo_data == NULL) {
		log_error("brand_logo: %s", err);
		return NULL;
	}
	/* config accepted only .svg and .png */
	ctype = dot != NULL && strcasecmp(dot, ".png") == 0 ? "image/png" : "image/svg+xml";
	return http_cached_new(w->brand_logo_data, n, ctype, "public, max-age=3600", NULL);
}

/* Black or white button text on the brand colour, whichever contrasts more:
 * WCAG relative luminance with linearised sRGB; above 0.1791 black wins. */
static const char *accent_ink(const char *hex)
{
	double lum = 0;
	static const double weight[3] = { 0.2126, 0.7152, 0.0722 };

	for (int i = 0; i < 3; i++) {
		unsigned v;
		double c;
		sscanf(hex + 1 + 2 * i, "%2x", &v);
		c = v / 255.0;
		c = c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
		lum += weight[i] * c;
	}
	return lum > 0.1791 ? "#000000" : "#ffffff";
}

struct web *web_new(struct app *app)
{
	struct web *w = xcalloc(1, sizeof *w);
	const struct config *cfg = &app->cfg;

	w->app = app;
	w->doubts = web_doubts_new(app->metrics, (size_t)cfg->max_pending);
	w->locks = web_locks_new(app);
	assets_init();
	w->assets = xcalloc(assets_count(), sizeof *w->assets);
	for (size_t i = 0; i < assets_count(); i++) {
		const struct asset *a = asset_at(i);
		w->assets[i] = http_cached_new(a->data, a->len, a->ctype, STATIC_CACHE, a->etag);
	}
	if (cfg->brand_color != NULL) {
		/* brand_color was validated as #rrggbb by config. */
		snprintf(w->brand_css_text, sizeof w->brand_css_text, ":root{--accent:%s;--accent-ink:%s}\n",
		         cfg->brand_color, accent_ink(cfg->brand_color));
		w->brand_css = http_cached_new(w->brand_css_text, strlen(w->brand_css_text),
		                               "text/css; charset=utf-8", "public, max-age=3600", NULL);
	}
	if (cfg->brand_logo != NULL) {
		w->brand_logo = load_brand_logo(w, cfg->brand_logo);
		if (w->brand_logo == NULL) {
			web_free(w);
			return NULL;
		}
	}
	snprintf(w->wa_url, sizeof w->wa_url, "https://wa.me/%s", cfg->wa_digits);
	for (int i = 0; i < cfg->trusted_proxies.n; i++)   /* validated by config */
		if (cidr_parse(cfg->trusted_proxies.v[i], &w->proxies[w->nproxies]) == 0)
			w->nproxies++;
	return w;
}

void web_free(struct web *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; w->assets != NULL && i < assets_count(); i++)
		http_cached_free(w->assets[i]);
	free(w->assets);
	http_cached_free(w->brand_css);
	http_cached_free(w->brand_logo);
	free(w->brand_logo_data);
	web_doubts_free(w->doubts);
	web_locks_free(w->locks);
	free(w);
}

static enum lang req_lang(struct web *w, struct http_req *req, int chal_lang)
{
	return page_pick_lang(chal_lang, http_header(req, "Accept-Language"), w->app->cfg.lang);
}

static void reply_state(struct web *w, struct http_req *req, unsigned status, enum page_state st)
{
	size_t len;
	char *html = page_render_state(&w->app->cfg, st, req_lang(w, req, -1), &len);
	http_reply_take(req, status, "text/html; charset=utf-8", html, len);
}

/* The shared store (Redis) did not answer: the link still works, try again. */
static void reply_unavailable(struct web *w, struct http_req *req)
{
	reply_state(w, req, 503, PAGE_UNAVAILABLE);
	http_reply_add_header(req, "Retry-After", APP_RETRY_AFTER_REDIS);
}

static void handle_static(struct web *w, struct http_req *req, const char *name)
{
	const struct asset *a;

	if (strcmp(name, "brand.css") == 0 && w->brand_css != NULL) {
		http_reply_cached(req, 200, w->brand_css);
		return;
	}
	if (strcmp(name, "brand-logo") == 0 && w->brand_logo != NULL) {
		http_reply_cached(req, 200, w->brand_logo);
		return;
	}
	a = asset_find(name);
	if (a == NULL) {
		reply_state(w, req, 404, PAGE_NOT_FOUND);
		return;
	}
	{
		const char *inm = http_header(req, "If-None-Match");
		if (inm != NULL && strstr(inm, a->etag) != NULL) {
			http_reply_static_304(req, a->etag, STATIC_CACHE);
			return;
		}
	}
	http_reply_cached(req, 200, w->assets[a - asset_at(0)]);
}

static bool parse_page_id(const char *s, size_t len, uint8_t out[PAGE_ID_BYTES])
{
	return len == PAGE_ID_LEN && b64url_decode(s, len, out, PAGE_ID_BYTES) == PAGE_ID_BYTES;
}

static void client_ip(struct web *w, struct http_req *req, char *out, size_t len);

static void reply_ip_limited(struct web *w, struct http_req *req, int secs)
{
	metrics_inc(w->app->metrics, M_RATE_LIMITED);
	reply_state(w, req, 429, PAGE_RATE_LIMITED);
	http_reply_retry_after(req, secs);
}

/* rate_ip: pages and answers count; static files and health checks do not
 * (a page load fetches three cached assets). A page counts in handle_page,
 * with its read. */
static bool over_ip_rate(struct web *w, struct http_req *req)
{
	char ip[INET6_ADDRSTRLEN];
	int secs;

	char key[VALIDATE_IP_KEY_MAX];
	size_t klen;

	client_ip(w, req, ip, sizeof ip);
	klen = validate_ip_limit_key(ip, key, sizeof key);
	secs = limiter_hit(w->app->rate_ip, key, klen, now_read());
	if (secs == 0)
		return false;
	reply_ip_limited(w, req, secs);
	return true;
}

/* A replay is logged once per page and client address per WEB_REPLAY_LOG_S
 * (a full ~3 KB row each time would let anyone holding a used link fill the
 * disk); true when this one is not. */
static bool replay_unlogged(struct web *w, const char *page_id, const char *ip)
{
	char key[PAGE_ID_LEN + 1 + VALIDATE_IP_KEY_MAX];
	int n = snprintf(key, sizeof key, "%s ", page_id);

	n += (int)validate_ip_limit_key(ip, key + n, sizeof key - (size_t)n);
	return limiter_hit(w->app->replay_log, key, (size_t)n, now_read()) != 0;
}

static void handle_page(struct web *w, struct http_req *req, const char *id)
{
	uint8_t raw[PAGE_ID_BYTES];
	struct chal c;
	enum store_result sr;
	struct now now = now_read();
	size_t len;
	char *html, ip[INET6_ADDRSTRLEN], key[VALIDATE_IP_KEY_MAX];
	size_t klen;
	int secs;

	if (!parse_page_id(id, strlen(id), raw)) {
		if (!over_ip_rate(w, req))
			reply_state(w, req, 404, PAGE_NOT_FOUND);
		return;
	}
	/* rate_ip counted with the read: one round trip to a shared store */
	client_ip(w, req, ip, sizeof ip);
	klen = validate_ip_limit_key(ip, key, sizeof key);
	sr = store_get_counted(w->app->store, raw, now, &c, w->app->rate_ip, key, klen, &secs);
	if (secs > 0) {
		reply_ip_limited(w, req, secs);
		return;
	}
	if (sr == STORE_UNAVAILABLE) {
		reply_unavailable(w, req);
		return;
	}
	if (sr == STORE_NOT_FOUND || sr == STORE_EXPIRED) {
		reply_state(w, req, 404, PAGE_NOT_FOUND);
		return;
	}
	if (sr != STORE_OK) {
		reply_state(w, req, 410, PAGE_GONE);
		return;
	}
	html = page_render_challenge(&w->app->cfg, &c, req_lang(w, req, c.lang == 0xff ? -1 : c.lang),
	                             now.wall_ms, &len);
	metrics_inc(w->app->metrics, M_PAGES);
	http_reply_take(req, 200, "text/html; charset=utf-8", html, len);
}

static bool is_trusted(const struct web *w, const struct cidr *addr)
{
	for (int i = 0; i < w->nproxies; i++)
		if (cidr_contains(&w->proxies[i], addr))
			return true;
	return false;
}

/* The client address for the audit log: the peer, or the last address in
 * X-Forwarded-For that is not a trusted proxy, when the peer is one. */
static void client_ip(struct web *w, struct http_req *req, char *out, size_t len)
{
	struct cidr addr;
	const char *xff;

	snprintf(out, len, "%s", req->ip);
	if (w->nproxies == 0 || cidr_parse(req->ip, &addr) != 0 || !is_trusted(w, &addr))
		return;
	xff = http_header(req, "X-Forwarded-For");
	if (xff == NULL)
		return;
	/* Walk right to left: the first hop not ours is the client. */
	for (size_t end = strlen(xff); end > 0;) {
		size_t start = end;
		char hop[INET6_ADDRSTRLEN];
		char *p, *e;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		snprintf(hop, sizeof hop, "%.*s", (int)(end - start), xff + start);
		for (p = hop; *p == ' '; p++)
			;
		for (e = p + strlen(p); e > p && e[-1] == ' ';)
			*--e = '\0';
		if (strchr(p, '/') != NULL || cidr_parse(p, &addr) != 0)
			return;
		snprintf(out, len, "%s", p);
		if (!is_trusted(w, &addr))
			return;
		end = start > 0 ? start - 1 : 0;
	}
}

/* Deferred decision: answered from the audit writer once durable. */
struct decision {
	struct http_req *req;
	struct web *w;
	uint8_t id[PAGE_ID_BYTES];
	struct question q;           /* to reopen the page if the evidence is lost */
	bool refund_on_undo;         /* a denial: its attempt goes back if it is undone */
	bool then_locked;            /* it reached the lockout: that follows once durable */
	struct chal c;               /* the page as decided (for the lockout's rows) */
	int64_t ts_ms;               /* the decision's instant */
	char ip[INET6_ADDRSTRLEN];   /* the answer's, for the page's `locked` row */
	/* the event again, should the page not reopen: the decision then stands */
	enum audit_kind kind;
	bool notify, validated;
	char *user_agent, *refdata;  /* owned; NULL: none */
};

static void decision_free(void *p)
{
	struct decision *d = p;

	free(d->user_agent);
	free(d->refdata);
	explicit_bzero(d, sizeof *d);
	free(d);
}

static void audit_event_from(struct audit_event *ev, enum audit_kind kind, const struct chal *c,
                             int64_t ts, const char *ip, const char *user_agent, const char *refdata);

/* The reopen failed, so the decision stands: its event again, with no
 * instant to give up at (as an end of a challenge is), so that it has its
 * row and the bot its result (SPEC §8: every challenge ends in the log).
 * Never waits: this may run on the audit writer's thread. */
static void decision_stands(struct decision *d)
{
	struct audit_event ev;

	audit_event_from(&ev, d->kind, &d->c, d->ts_ms, d->ip, d->user_agent, d->refdata);
	ev.notify = d->notify;
	ev.validated = d->validated;
	if (audit_submit_end(d->w->app->audit, &ev) < 0) {
		log_error("audit: the row of a decision that stands could not be queued again (the log is "
		          "stopping or full): its page stays used with no audit row");
		metrics_inc(d->w->app->metrics, M_AUDIT_FAILED);
	}
	if (d->then_locked)    /* a denial that stands: the lockout it reached follows */
		web_lock_after_denial(d->w->locks, &d->c, d->ts_ms, d->ip, d->user_agent);
}

/* The decision could not be made durable: undo it so the link works again,
 * and tell the person to retry, rather than send them back to a bot that
 * will never hear the result. When even the reopen fails (the store
 * unavailable, or the page expired meanwhile) the decision stands: its event
 * is queued again with no instant to give up at (decision_stands), so it gets
 * its row and the bot its result once the log can be written; its link
 * answers 410. That is logged and counted (mnmfa_decisions_not_reopened_total). */
static void decision_undo(struct decision *d)
{
	struct http_req *req = d->req;
	enum store_result sr = store_reopen(d->w->app->store, d->id, &d->q, now_read());

	if (sr != STORE_OK) {
		char b64[PAGE_ID_LEN + 1];
		b64url_encode(d->id, PAGE_ID_BYTES, b64);
		log_error("audit: a decision without its audit row could not be undone (%s): page %.8s... "
		          "stays decided; its audit row and result are queued again",
		          sr == STORE_UNAVAILABLE ? "the store is unavailable" : "the page is no longer open",
		          b64);
		metrics_inc(d->w->app->metrics, M_REOPEN_FAILED);
		decision_stands(d);
	} else if (d->refund_on_undo) {
		/* the denial never happened: its attempt does not count */
		const char *key = app_phone_key(d->c.phone);
		limiter_refund(d->w->app->lockout, key, strlen(key), now_read());
	}
	metrics_inc(d->w->app->metrics, M_AUDIT_FAILED);
	reply_state(d->w, req, 503, PAGE_UNAVAILABLE);
	http_reply_retry_after(req, RETRY_AFTER_UNDO_S);
}

static void decision_durable(void *ctx, int rc)
{
	struct decision *d = ctx;
	struct http_req *req = d->req;

	if (rc != 0) {
		log_error("audit: a decision could not be written; the page was reopened");
		decision_undo(d);
	} else {
		/* The denial is durable: now the lockout it reached (never waits
		 * here, on the writer's thread); before the reply, so that the
		 * person's other links already say so. */
		if (d->then_locked)
			web_lock_after_denial(d->w->locks, &d->c, d->ts_ms, d->ip, http_header(req, "User-Agent"));
		http_reply_redirect(req, 303, d->w->wa_url);
	}
	http_resume(req);
}

static void audit_event_from(struct audit_event *ev, enum audit_kind kind, const struct chal *c,
                             int64_t ts, const char *ip, const char *user_agent, const char *refdata)
{
	app_event_for(ev, kind, c, ts);
	ev->ip = ip;
	ev->user_agent = user_agent;
	ev->refdata = refdata;
}

/* The evidence an answer in doubt owes, now that the store says it decided
 * the page: its rows as handle_validate would have written them, without
 * a reply (the person was answered 503). false: not queued, ask again. */
static bool doubt_owed(void *ctx, const struct store_answer *ans, const struct web_doubt_req *d)
{
	struct web *w = ctx;
	struct app *app = w->app;
	struct decide_in in = { .c = &ans->c, .sr = STORE_OK, .now_ms = ans->c.decided_ms };
	struct decide_out out;
	struct audit_event ev;

	in.plan = decide_plan(ans->pending, ans->locked ? 1 : 0);
	in.lockout_reached = ans->lockout_reached;
	decide_answer(&in, &out);
	audit_event_from(&ev, out.kind, &ans->c, out.ts_ms, d->ip, d->user_agent, d->refdata);
	ev.notify = out.notify;
	ev.validated = out.validated;
	if (audit_submit(app->audit, &ev, NULL, NULL) < 0)
		return false;
	metrics_inc(app->metrics, out.metric);
	if (out.then_locked)   /* the decision stands (never undone): the lockout follows */
		web_lock_after_denial(w->locks, &ans->c, out.ts_ms, d->ip, d->user_agent);
	return true;
}

void web_settle(struct web *w, bool last)
{
	web_doubts_settle(w->doubts, w->app->store, mono_ms(), last, doubt_owed, w);
	web_locks_drain(w->locks, mono_ms() + WEB_LOCK_DRAIN_MS);
}

/* How long an answer waits for its evidence: answer_wait, but at most half
 * the link's remaining life (as the store read it, before the decision), so
 * that the "try again" page finds it valid. */
static int64_t answer_wait_ms(const struct web *w, int64_t left_ms)
{
	int64_t wait = (int64_t)w->app->cfg.answer_wait * 1000, half = left_ms / 2;

	if (half < wait)
		wait = half;
	return wait < ANSWER_WAIT_MIN_MS ? ANSWER_WAIT_MIN_MS : wait;
}

/* Queues the decision's event and defers the reply until it is durable (at
 * most answer_wait_ms); undoes the decision if it cannot be queued, or when
 * the server is stopping and defers nothing more. */
static void submit_decision(struct web *w, struct http_req *req, const struct audit_event *ev,
                            struct decision *d, int64_t wait_ms)
{
	d->req = req;
	d->w = w;
	req->state = d;
	req->state_free = decision_free;
	if (!http_defer(req)) {
		log_debug("stop: an answer came while stopping; the page was reopened, the person told to retry");
		decision_undo(d);
		return;
	}
	if (audit_submit_within(w->app->audit, ev, decision_durable, d, mono_ms() + wait_ms) < 0) {
		log_error("audit: queue full or stopped; a decision was undone, the page reopened");
		decision_undo(d);
		http_resume(req);
	}
}

static void handle_validate(struct web *w, struct http_req *req)
{
	struct app *app = w->app;
	char ct[64], id[PAGE_ID_LEN + 2], answer[ANSWER_MAX], ip[INET6_ADDRSTRLEN];
	char *refdata = NULL;
	uint8_t raw[PAGE_ID_BYTES];
	long idlen, alen, rlen;
	struct chal c;
	struct audit_event ev;
	struct question q_before;
	struct now now = now_read();        /* one instant for the whole decision */
	struct store_answer ans;
	struct decide_in in = { .c = &c, .now_ms = now.wall_ms };
	struct decide_out out;

	memset(&q_before, 0, sizeof q_before);
	if (req->body_too_large) {
		reply_state(w, req, 413, PAGE_BAD_REQUEST);
		return;
	}
	http_content_type(req, ct, sizeof ct);
	if (strcmp(ct, "application/x-www-form-urlencoded") != 0) {
		reply_state(w, req, 400, PAGE_BAD_REQUEST);
		return;
	}
	idlen = form_get(req->body, req->body_len, "page_id", id, sizeof id);
	if (idlen < 0 || !parse_page_id(id, (size_t)idlen, raw)) {
		metrics_inc(app->metrics, M_REPLAYED);
		reply_state(w, req, 404, PAGE_NOT_FOUND);
		return;
	}
	alen = form_get(req->body, req->body_len, "respuesta", answer, sizeof answer);
	if (alen < 0)
		alen = 0, answer[0] = '\0';
	refdata = xmalloc(AUDIT_REFDATA_MAX + 1);
	rlen = form_get(req->body, req->body_len, "refdata", refdata, AUDIT_REFDATA_MAX + 1);
	if (rlen <= 0) {
		free(refdata);
		refdata = NULL;
	}
	client_ip(w, req, ip, sizeof ip);

	/* The facts decide_answer needs: the page as it stood, the phone's
	 * lockout, the store's verdict, from one store_answer (which also keeps
	 * the lockout's count: out.refund is done). */
	if (!web_doubts_reserve(w->doubts))
		goto unavailable;       /* no room to keep it should it end in doubt: not sent */
	in.sr = store_answer(app->store, app->lockout, raw, now, answer, (size_t)alen, &ans);
	explicit_bzero(answer, sizeof answer);
	if (in.sr == STORE_IN_DOUBT) {
		/* decided once, with its evidence, or not at all: web_settle says which */
		web_doubts_add(w->doubts, raw, ans.token, now.mono_ms,
		               &(struct web_doubt_req){ ip, http_header(req, "User-Agent"), refdata });
		goto unavailable;
	}
	web_doubts_release(w->doubts);
	if (in.sr == STORE_UNAVAILABLE)
		goto unavailable;       /* nothing decided or counted: the person tries again */
	c = ans.c;
	q_before = ans.q_before;
	in.plan = decide_plan(ans.pending, ans.locked ? 1 : 0);
	in.lockout_reached = ans.lockout_reached;
	decide_answer(&in, &out);

	metrics_inc(app->metrics, out.metric);
	if (out.audit && out.kind == AUDIT_REPLAYED && replay_unlogged(w, id, ip)) {
		out.audit = false;
		metrics_inc(app->metrics, M_REPLAYS_UNLOGGED);
	}
	if (out.audit) {
		audit_event_from(&ev, out.kind, &c, out.ts_ms, ip, http_header(req, "User-Agent"), refdata);
		ev.notify = out.notify;
		ev.validated = out.validated;
	}
	if (out.undo_on_failure) {
		struct decision *d = xcalloc(1, sizeof *d);

		memcpy(d->id, raw, sizeof d->id);
		d->q = q_before;
		d->refund_on_undo = out.refund_on_undo;
		d->then_locked = out.then_locked;
		d->c = c;
		d->ts_ms = out.ts_ms;
		snprintf(d->ip, sizeof d->ip, "%s", ip);
		d->kind = ev.kind;
		d->notify = ev.notify;
		d->validated = ev.validated;
		d->user_agent = ev.user_agent != NULL ? xstrndup(ev.user_agent, AUDIT_UA_MAX) : NULL;
		d->refdata = ev.refdata != NULL ? xstrdup(ev.refdata) : NULL;
		submit_decision(w, req, &ev, d, answer_wait_ms(w, c.left_ms));
	} else {
		if (out.audit && audit_submit(app->audit, &ev, NULL, NULL) < 0)
			metrics_inc(app->metrics, M_AUDIT_FAILED);
		if (out.reply == DECIDE_TO_CHAT)
			http_reply_redirect(req, 303, w->wa_url);
		else
			reply_state(w, req, 404, PAGE_NOT_FOUND);
	}
	goto out;
unavailable:
	reply_unavailable(w, req);
out:
	explicit_bzero(answer, sizeof answer);
	explicit_bzero(&q_before, sizeof q_before);
	explicit_bzero(&ans, sizeof ans);
	free(refdata);
}


/* The route label of /metrics' request durations (a fixed set). */
static enum metric_route web_route(const char *path)
{
	if (strcmp(path, "/") == 0)
		return MR_WEB_LANDING;
	if (strcmp(path, "/validate_answer") == 0)
		return MR_WEB_ANSWER;
	if (strcmp(path, "/healthz") == 0)
		return MR_WEB_HEALTHZ;
	if (strncmp(path, "/static/", 8) == 0)
		return MR_WEB_STATIC;
	if (path[0] == '/' && strchr(path + 1, '/') == NULL)
		return MR_WEB_PAGE;
	return MR_WEB_OTHER;
}

/* GET /<page id>: counted against rate_ip by handle_page itself. */
static bool is_page_path(const char *path)
{
	return strcmp(path, "/") != 0 && strcmp(path, "/healthz") != 0 && strncmp(path, "/static/", 8) != 0 &&
	       strcmp(path, "/validate_answer") != 0;
}

void web_handle(void *ctx, struct http_req *req)
{
	struct web *w = ctx;
	const char *path = req->path;
	bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;

	req->route = web_route(path);

	if (strcmp(path, "/healthz") != 0 && strncmp(path, "/static/", 8) != 0 &&
	    !(get && is_page_path(path)) && over_ip_rate(w, req))
		return;

	if (strcmp(path, "/validate_answer") == 0) {
		if (req->method == HTTP_POST)
			handle_validate(w, req);
		else
			reply_state(w, req, 405, PAGE_BAD_REQUEST), http_reply_add_header(req, "Allow", "POST");
		return;
	}
	if (!get) {
		reply_state(w, req, 405, PAGE_BAD_REQUEST);
		http_reply_add_header(req, "Allow", "GET, HEAD");
		return;
	}
	if (strcmp(path, "/") == 0)
		reply_state(w, req, 200, PAGE_LANDING);
	else if (strcmp(path, "/healthz") == 0 && app_healthy(w->app))
		http_reply_health(req);
	else if (strcmp(path, "/healthz") == 0)
		http_reply(req, 503, "application/json; charset=utf-8", APP_HEALTH_DEGRADED,
		           strlen(APP_HEALTH_DEGRADED));
	else if (strncmp(path, "/static/", 8) == 0)
		handle_static(w, req, path + 8);
	else
		handle_page(w, req, path + 1);
}
