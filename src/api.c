/*
 * api: request handlers of the API port. A mint reads its fields from the
 * query string (GET), a urlencoded form or a JSON body, validates each with
 * the SPEC §4.3 rules (the first bad field is named), generates the question,
 * stores the facts and queues a `minted` audit event; the bot's answer waits
 * until that row is durable (at most MINT_WAIT_MAX_MS, or answer_wait if
 * shorter). A challenge whose row could not be written by then is withdrawn
 * from the store and the bot gets 503: no page without its `minted` row.
 */
#include "api.h"
#include "api_fields.h"
#include "app.h"
#include "audit.h"
#include "backlog.h"
#include "buf.h"
#include "caldate.h"
#include "challenge.h"
#include "crypto.h"
#include "form.h"
#include "http.h"
#include "json_out.h"
#include "limiter.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "store.h"
#include "tlsmat.h"
#include "util.h"
#include "validate.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX (FLOW_MAX_BYTES + 1)
#define RETRY_AFTER_CAPACITY_S 10
#define MINT_WAIT_MAX_MS 8000        /* under Chatfuel's 10 s JSON API timeout */
#define RETRY_AFTER_STOPPING_S 5
#define API_QUESTION_JSON_MAX 96     /* {"question":...} recorded with a minted row */
#define API_ANSWER_RESERVE 1024      /* bytes: a mint's JSON answer, the button template's included */

/* Names of the mint fields in the two APIs. */
struct mint_names {
	const char *client_id, *phone, *flow, *dob;
};
static const struct mint_names seed_names = { "client_id", "telefono", "flow_name", "fecha_cumple" };
static const struct mint_names v1_names = { "client_id", "phone", "flow_name", "dob" };

struct mint {
	struct chal c;
	int32_t dob;
	int expires_in;
	char page_id[PAGE_ID_LEN + 1];
	char url[600];
};

/* Validates the fields and fills m; answers the error itself and returns -1. */
static int mint_parse(struct app *app, struct fields *f, const struct mint_names *names, bool v1,
                      struct mint *m)
{
	static const char *const questions[] = { "date", "sum", "random" };
	static const char *const modes[] = { "choice", "entry" };
	char buf[FIELD_MAX];
	size_t len;
	const char *detail, *bad;
	int lang, question, mode;

	memset(m, 0, sizeof *m);
	if (required_field(f, names->client_id, buf, sizeof buf, &len) < 0)
		return -1;
	if (validate_client_id(buf, len, &detail) < 0) {
		bad = names->client_id;
		goto bad;
	}
	memcpy(m->c.client_id, buf, len + 1);

	if (required_field(f, names->phone, buf, sizeof buf, &len) < 0)
		return -1;
	if (validate_phone(buf, len, &detail) < 0) {
		bad = names->phone;
		goto bad;
	}
	validate_phone_stored(buf, len, m->c.phone, sizeof m->c.phone);

	if (required_field(f, names->flow, buf, sizeof buf, &len) < 0)
		return -1;
	if (validate_flow(buf, len, &detail) < 0) {
		bad = names->flow;
		goto bad;
	}
	memcpy(m->c.flow, buf, len + 1);

	if (required_field(f, names->dob, buf, sizeof buf, &len) < 0)
		return -1;
	if (validate_dob(buf, len, caldate_today_utc(), &m->dob, &detail) < 0) {
		explicit_bzero(buf, sizeof buf);
		bad = names->dob;
		goto bad;
	}
	explicit_bzero(buf, sizeof buf);

	if (optional_choice(f, "lang", config_lang_names, 2, -1, &lang) < 0)
		return -1;
	m->c.lang = lang < 0 ? 0xff : (uint8_t)lang;
	question = 2;
	mode = MODE_CHOICE;
	m->expires_in = app->cfg.expiration;
	if (v1) {
		long n;
		if (optional_choice(f, "question", questions, 3, 2, &question) < 0 ||
		    optional_choice(f, "mode", modes, 2, MODE_CHOICE, &mode) < 0)
			return -1;
		n = fields_get(f, "expires_in", buf, 16);
		if (n != F_ABSENT) {
			long long v;
			const char *err;
			if (n < 0 || parse_ll(buf, CONFIG_EXPIRATION_MIN, CONFIG_EXPIRATION_MAX, &v, &err) < 0) {
				http_reply_error(f->req, 400, "invalid_request", "expires_in",
				                 "expires_in must be a whole number of seconds in 10..600");
				return -1;
			}
			m->expires_in = (int)v;
		}
	}
	if (question == 2)
		question = rng_below(crypto_rng_u64, NULL, 2) ? QUESTION_SUM : QUESTION_DATE;
	if (challenge_generate(&m->c.q, (enum question_kind)question, (enum challenge_mode)mode,
	                       app->cfg.choices, m->dob, crypto_rng_u64, NULL) < 0) {
		http_reply_error(f->req, 500, "internal", NULL, "could not generate a question");
		return -1;
	}
	return 0;
bad:
	http_reply_error(f->req, 400, "invalid_request", bad, detail);
	return -1;
}

/* Queues one audit event about challenge c; notify queues
 * user_validated=false for the bot. With done, the event is waited on until
 * the mono_ms() instant give_up (audit_submit_within). */
static int api_audit(struct app *app, struct http_req *req, enum audit_kind kind,
                     const struct chal *c, int64_t ts, bool notify, audit_done_fn done, void *ctx,
                     int64_t give_up)
{
	struct audit_event ev;
	char question[API_QUESTION_JSON_MAX];

	app_event_for(&ev, kind, c, ts);
	ev.ip = req->ip;
	ev.user_agent = http_header(req, "User-Agent");
	ev.notify = notify;
	if (kind == AUDIT_MINTED) {
		/* What was asked, for the dispute report (audit show/report): the
		 * kind, the mode and how many choices, never the truth or the options. */
		snprintf(question, sizeof question, "{\"question\":\"%s\",\"mode\":\"%s\",\"choices\":%d}",
		         c->q.kind == QUESTION_SUM ? "sum" : "date",
		         c->q.mode == MODE_ENTRY ? "entry" : "choice", c->q.n_options);
		ev.refdata = question;
		ev.refdata_minified = true;
	}
	if (app->audit == NULL)
		return done != NULL ? -1 : 0;
	/* without done: an end (canceled, locked), which must not be refused */
	if ((done != NULL ? audit_submit_within(app->audit, &ev, done, ctx, give_up) :
	                    audit_submit_end(app->audit, &ev)) < 0) {
		metrics_inc(app->metrics, M_AUDIT_FAILED);
		return -1;
	}
	return 0;
}

/* The per-phone limits, checked once the fields are valid. A locked phone is
 * answered 423 and, so the bot's flow does not hang, the bot also receives
 * user_validated=false; the refusal is audited as `locked`. */
static int mint_limits(struct app *app, struct http_req *req, struct mint *m)
{
	const char *key = app_phone_key(m->c.phone);
	struct now now = now_read();
	int secs, locked_secs;

	/* The lockout, then rate_phone (counted only for a phone not locked). */
	secs = limiter_hit_unless(app->rate_phone, app->lockout, key, strlen(key), now, &locked_secs);
	if (locked_secs > 0) {
		(void)api_audit(app, req, AUDIT_LOCKED, &m->c, now.wall_ms, true, NULL, NULL, 0);
		metrics_inc(app->metrics, M_LOCKED);
		http_reply_error(req, 423, "locked", "phone",
		                 "too many failed answers for this phone; it is locked for a while");
		http_reply_retry_after(req, locked_secs);
		return -1;
	}
	if (secs > 0) {
		metrics_inc(app->metrics, M_RATE_LIMITED);
		http_reply_error(req, 429, "rate_limited", "phone",
		                 "too many challenges for this phone; retry later");
		http_reply_retry_after(req, secs);
		return -1;
	}
	return 0;
}

/* The shared store (Redis) did not answer in time: nothing was stored. */
static void api_reply_unavailable(struct app *app, struct http_req *req)
{
	metrics_inc(app->metrics, M_CAPACITY);
	http_reply_error(req, 503, "capacity", NULL, "the shared store is unreachable; retry shortly");
	http_reply_add_header(req, "Retry-After", APP_RETRY_AFTER_REDIS);
}

/* Stores the challenge (mint_answer then waits for its `minted` row).
 * Answers 4xx/5xx itself. */
static int mint_commit(struct app *app, struct http_req *req, struct mint *m)
{
	enum store_result sr;
	struct now now;

	if (mint_limits(app, req, m) < 0)
		return -1;
	if (crypto_random(m->c.id, PAGE_ID_BYTES) < 0) {
		http_reply_error(req, 500, "internal", NULL, "no randomness available");
		return -1;
	}
	now = now_read();
	m->c.created_ms = now.wall_ms;
	m->c.expires_ms = now.wall_ms + (int64_t)m->expires_in * 1000;   /* shown; enforced on the store's clock */
	m->c.status = CHAL_PENDING;
	sr = store_put(app->store, &m->c, now);
	if (sr == STORE_UNAVAILABLE) {
		api_reply_unavailable(app, req);
		return -1;
	}
	if (sr != STORE_OK) {
		metrics_inc(app->metrics, M_CAPACITY);
		http_reply_error(req, 503, "capacity", NULL, "too many challenges are pending; retry shortly");
		http_reply_retry_after(req, RETRY_AFTER_CAPACITY_S);
		return -1;
	}
	b64url_encode(m->c.id, PAGE_ID_BYTES, m->page_id);
	snprintf(m->url, sizeof m->url, "%s/%s", app->cfg.public_url, m->page_id);
	return 0;
}

/* The format=chatfuel reply, a Chatfuel JSON API response: the link in
 * attributes for the flow, and a plain text message holding it, which every
 * channel shows (WhatsApp makes the URL a link; a button template is a
 * Messenger/Instagram message that WhatsApp does not render). With
 * chatfuel_reply=button a button template follows the text. */
static void chatfuel_reply(struct buf *b, const struct mint *m, enum chatfuel_reply kind)
{
	bool en = m->c.lang == LANG_EN;
	const char *prompt = en ?
	        "To continue, confirm it's you. The link works once and expires soon." :
	        "Para continuar, confirma que eres tú. El enlace sirve una vez y vence pronto.";
	char text[sizeof m->url + 160];

	json_out_open(b, NULL, '{');
	json_out_open(b, "set_attributes", '{');
	json_out_str(b, "mfa_url", m->url);
	json_out_str(b, "mfa_page_id", m->page_id);
	json_out_close(b, '}');
	json_out_open(b, "messages", '[');
	json_out_open(b, NULL, '{');
	snprintf(text, sizeof text, "%s %s", prompt, m->url);
	json_out_str(b, "text", text);
	json_out_close(b, '}');
	if (kind == CHATFUEL_REPLY_BUTTON) {
		json_out_open(b, NULL, '{');
		json_out_open(b, "attachment", '{');
		json_out_str(b, "type", "template");
		json_out_open(b, "payload", '{');
		json_out_str(b, "template_type", "button");
		json_out_str(b, "text", prompt);
		json_out_open(b, "buttons", '[');
		json_out_open(b, NULL, '{');
		json_out_str(b, "type", "web_url");
		json_out_str(b, "url", m->url);
		json_out_str(b, "title", en ? "Verify" : "Verificar");
		json_out_close(b, '}');
		json_out_close(b, ']');
		json_out_close(b, '}');
		json_out_close(b, '}');
		json_out_close(b, '}');
	}
	json_out_close(b, ']');
	json_out_close(b, '}');
}

/* A mint's answer, held until its `minted` row is durable. */
struct mint_wait {
	struct http_req *req;
	struct app *app;
	uint8_t id[PAGE_ID_BYTES];
};

/* No challenge without its `minted` row: the row could not be queued or
 * written in time, so the challenge goes (nobody has its link yet) and the
 * bot is told to retry, instead of the answer made ready before the wait. */
static void mint_withdraw(struct mint_wait *mw, const char *detail, int retry_after)
{
	store_withdraw(mw->app->store, mw->id);
	metrics_inc(mw->app->metrics, M_CAPACITY);
	metrics_inc(mw->app->metrics, M_MINT_REJECTED);
	http_reply_error(mw->req, 503, "capacity", NULL, detail);
	http_reply_retry_after(mw->req, retry_after);
}

/* On the audit writer's thread, once per mint of its group: the answer was
 * built on the request's thread, so a durable row only resumes it. */
static void mint_durable(void *ctx, int rc)
{
	struct mint_wait *mw = ctx;

	if (rc == 0) {
		metrics_inc(mw->app->metrics, M_MINTED);
	} else {
		log_error("audit: a minted row could not be written in time; the challenge was "
		          "withdrawn and the bot told to retry");
		mint_withdraw(mw, "the audit log is not writable right now; retry shortly",
		              RETRY_AFTER_CAPACITY_S);
	}
	http_resume(mw->req);
}

/* Queues the `minted` row and defers the bot's answer (the JSON text in b,
 * taken here) until it is durable. The answer is made ready now, on this
 * thread: the writer's thread only resumes it. */
static void mint_answer(struct app *app, struct http_req *req, struct mint *m, unsigned status,
                        struct buf *b)
{
	struct mint_wait *mw = xcalloc(1, sizeof *mw);
	int64_t wait = (int64_t)app->cfg.answer_wait * 1000;
	size_t len;
	char *json = buf_take(b, &len);

	mw->req = req;
	mw->app = app;
	memcpy(mw->id, m->c.id, sizeof mw->id);
	req->state = mw;
	req->state_free = free;
	http_reply_take(req, status, "application/json; charset=utf-8", json, len);
	if (!http_defer(req)) {
		mint_withdraw(mw, "the service is restarting; retry shortly", RETRY_AFTER_STOPPING_S);
		return;
	}
	if (wait > MINT_WAIT_MAX_MS)
		wait = MINT_WAIT_MAX_MS;
	if (api_audit(app, req, AUDIT_MINTED, &m->c, m->c.created_ms, false, mint_durable, mw,
	              mono_ms() + wait) < 0) {
		/* the audit writer is behind (queue full): back-pressure, like capacity */
		mint_withdraw(mw, "the audit log is busy; retry shortly", RETRY_AFTER_CAPACITY_S);
		http_resume(req);
	}
}

static void handle_seed_mint(struct app *app, struct http_req *req)
{
	struct fields f;
	struct mint m;
	char ts[32], fmt[16];
	struct buf b = { 0 };
	long n;

	if (fields_open(&f, req) < 0)
		return;
	f.seed = true;
	if (mint_parse(app, &f, &seed_names, false, &m) < 0 || mint_commit(app, req, &m) < 0) {
		metrics_inc(app->metrics, M_MINT_REJECTED);
		fields_close(&f);
		return;
	}
	n = fields_get(&f, "format", fmt, sizeof fmt);
	fields_close(&f);
	buf_reserve(&b, API_ANSWER_RESERVE);
	if (n > 0 && strcmp(fmt, "chatfuel") == 0) {
		chatfuel_reply(&b, &m, app->cfg.chatfuel_reply);
		mint_answer(app, req, &m, 200, &b);
		return;
	}
	fmt_rfc3339(m.c.expires_ms, ts, sizeof ts);
	json_out_open(&b, NULL, '{');
	json_out_str(&b, "dynamic_url", m.url);
	json_out_str(&b, "page_id", m.page_id);
	json_out_int(&b, "expires_in", m.expires_in);
	json_out_str(&b, "expires_at", ts);
	json_out_close(&b, '}');
	mint_answer(app, req, &m, 200, &b);
}

static void handle_v1_create(struct app *app, struct http_req *req)
{
	struct fields f;
	struct mint m;
	char ts[32];
	struct buf b = { 0 };

	if (fields_open(&f, req) < 0)
		return;
	if (mint_parse(app, &f, &v1_names, true, &m) < 0 || mint_commit(app, req, &m) < 0) {
		metrics_inc(app->metrics, M_MINT_REJECTED);
		fields_close(&f);
		return;
	}
	fields_close(&f);
	fmt_rfc3339(m.c.expires_ms, ts, sizeof ts);
	buf_reserve(&b, API_ANSWER_RESERVE);
	json_out_open(&b, NULL, '{');
	json_out_str(&b, "id", m.page_id);
	json_out_str(&b, "url", m.url);
	json_out_str(&b, "status", "pending");
	json_out_str(&b, "expires_at", ts);
	json_out_close(&b, '}');
	mint_answer(app, req, &m, 201, &b);
}

static void reply_status(struct http_req *req, const char *id, const char *status,
                         const char *client_id, int64_t created_ms, int64_t decided_ms)
{
	cJSON *o = cJSON_CreateObject();
	char ts[32];

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "client_id", client_id);
	fmt_rfc3339_ms(created_ms, ts, sizeof ts);
	cJSON_AddStringToObject(o, "created_at", ts);
	if (decided_ms == 0) {
		cJSON_AddNullToObject(o, "decided_at");
	} else {
		fmt_rfc3339_ms(decided_ms, ts, sizeof ts);
		cJSON_AddStringToObject(o, "decided_at", ts);
	}
	http_reply_json(req, 200, o);
}

static void reply_chal_status(struct http_req *req, const char *id, const struct chal *c)
{
	int64_t decided = 0;

	if (c->status != CHAL_PENDING)
		decided = c->decided_ms ? c->decided_ms : c->expires_ms;
	reply_status(req, id, chal_status_name((enum chal_status)c->status), c->client_id,
	             c->created_ms, decided);
}

static void handle_v1_item(struct app *app, struct http_req *req, const char *id)
{
	uint8_t raw[PAGE_ID_BYTES];
	struct chal c;
	enum store_result sr;

	if (strlen(id) != PAGE_ID_LEN || b64url_decode(id, PAGE_ID_LEN, raw, sizeof raw) != PAGE_ID_BYTES) {
		http_reply_error(req, 404, "not_found", NULL, "no such challenge");
		return;
	}
	if (req->method == HTTP_DELETE) {
		sr = store_finish(app->store, raw, now_read(), CHAL_CANCELED, &c);
		if (sr == STORE_OK) {
			(void)api_audit(app, req, AUDIT_CANCELED, &c, c.decided_ms, app->cfg.notify_on_expiry,
			                NULL, NULL, 0);
			metrics_inc(app->metrics, M_CANCELED);
		}
	} else {
		sr = store_get(app->store, raw, now_read(), &c);
	}
	if (sr == STORE_UNAVAILABLE) {
		api_reply_unavailable(app, req);
		return;
	}
	if (sr == STORE_NOT_FOUND) {
		/* Decided long ago (or under memory pressure): the audit log remembers. */
		struct audit_status as;
		if (app->audit != NULL && audit_lookup(app->audit, id, &as) == 0) {
			reply_status(req, id, as.status, as.client_id, as.created_ms, as.decided_ms);
			return;
		}
		http_reply_error(req, 404, "not_found", NULL, "no such challenge");
		return;
	}
	reply_chal_status(req, id, &c);
}

static void handle_metrics(struct app *app, struct http_req *req)
{
	struct metrics_sample ms = { .pending = store_pending(app->store), .held = store_size(app->store) };
	struct audit_stats as = { 0 };
	struct notify_stats ns = { 0 };
	char *text;

	if (app->audit != NULL)
		audit_get_stats(app->audit, &as);
	if (app->notify != NULL)
		notify_get_stats(app->notify, &ns);
	ms.audit_written = as.written;
	ms.audit_groups = as.groups;
	ms.audit_failed = as.failed;
	ms.audit_rejected = as.rejected;
	ms.audit_queued = as.queued;
	ms.sent = ns.sent;
	ms.retried = ns.retried;
	ms.failed = ns.failed;
	ms.skipped = ns.skipped;
	ms.expired = ns.expired;
	if (app->backlog != NULL)
		(void)backlog_sample(app->backlog, now_ms(), &ms.outbox_pending, &ms.outbox_oldest_age_s);
	ms.tls_not_after_s = tls_material_not_after(app->tls);
	ms.result_max_age_s = app->cfg.result_max_age;
	ms.node = app->cfg.node_id;
	if (app->redis != NULL) {
		struct redis_stats rs;
		redis_get_stats(app->redis, &rs);
		ms.redis = true;
		ms.redis_up = rs.up;
		ms.redis_calls = rs.calls;
		ms.redis_errors = rs.errors;
		ms.redis_latency_us = rs.latency_us;
	}
	text = metrics_render(app->metrics, &ms);
	http_reply_take(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

/* api_keys: Bearer, X-API-Key or ?api_key=, compared in constant time. With
 * none configured only loopback peers are served. */
static bool api_authorized(struct app *app, struct http_req *req)
{
	const struct strlist *keys = &app->cfg.api_keys;
	const char *cand[3];
	const char *auth = http_header(req, "Authorization");
	size_t qlen = 0;
	bool ok = false;

	if (keys->n == 0)
		/* A request relayed by a local reverse proxy is not a local client. */
		return req->loopback && http_header(req, "X-Forwarded-For") == NULL &&
		       http_header(req, "Forwarded") == NULL;
	cand[0] = auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
	cand[1] = http_header(req, "X-API-Key");
	cand[2] = http_query_n(req, "api_key", &qlen);
	if (cand[2] != NULL && memchr(cand[2], '\0', qlen) != NULL)
		cand[2] = NULL;              /* "KEY%00junk" is not KEY */
	for (int c = 0; c < 3; c++) {
		if (cand[c] == NULL)
			continue;
		for (int k = 0; k < keys->n; k++)
			ok |= ct_equal(cand[c], strlen(cand[c]), keys->v[k], strlen(keys->v[k]));
	}
	return ok;
}

static void method_not_allowed(struct http_req *req, const char *allow)
{
	http_reply_error(req, 405, "method_not_allowed", NULL, "method not allowed on this path");
	http_reply_add_header(req, "Allow", allow);
}

/* The route label of /metrics' request durations (a fixed set). */
static enum metric_route api_route(const char *path)
{
	if (strcmp(path, "/generate_dynamic_page") == 0)
		return MR_API_MINT_SEED;
	if (strcmp(path, "/v1/challenges") == 0)
		return MR_API_CHALLENGES;
	if (strncmp(path, "/v1/challenges/", 15) == 0 && strchr(path + 15, '/') == NULL)
		return MR_API_CHALLENGE;
	if (strcmp(path, "/healthz") == 0)
		return MR_API_HEALTHZ;
	if (strcmp(path, "/metrics") == 0)
		return MR_API_METRICS;
	return MR_API_OTHER;
}

void api_handle(void *ctx, struct http_req *req)
{
	struct app *app = ctx;
	const char *path = req->path;
	bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;

	req->route = api_route(path);

	if (strcmp(path, "/healthz") == 0) {
		if (get && app_healthy(app))
			http_reply_health(req);
		else if (get)
			http_reply(req, 503, "application/json; charset=utf-8", APP_HEALTH_DEGRADED,
			           strlen(APP_HEALTH_DEGRADED));
		else
			method_not_allowed(req, "GET, HEAD");
		return;
	}
	if (!api_authorized(app, req)) {
		http_reply_error(req, 401, "unauthorized", NULL, app->cfg.api_keys.n ?
		                 "a valid API key is required (Authorization: Bearer, X-API-Key or api_key)" :
		                 "no api_keys are configured: only loopback clients are served");
		http_reply_add_header(req, "WWW-Authenticate", "Bearer");
		return;
	}
	if (req->body_too_large) {
		http_reply_error(req, 413, "too_large", NULL, "the request body is larger than 16 KiB");
		return;
	}
	if (strcmp(path, "/generate_dynamic_page") == 0) {
		/* not HEAD: a link checker must not mint challenges */
		if (req->method == HTTP_GET || req->method == HTTP_POST)
			handle_seed_mint(app, req);
		else
			method_not_allowed(req, "GET, POST");
	} else if (strcmp(path, "/v1/challenges") == 0) {
		if (req->method == HTTP_POST)
			handle_v1_create(app, req);
		else
			method_not_allowed(req, "POST");
	} else if (strncmp(path, "/v1/challenges/", 15) == 0 && strchr(path + 15, '/') == NULL) {
		if (get || req->method == HTTP_DELETE)
			handle_v1_item(app, req, path + 15);
		else
			method_not_allowed(req, "GET, DELETE");
	} else if (strcmp(path, "/metrics") == 0) {
		if (get)
			handle_metrics(app, req);
		else
			method_not_allowed(req, "GET");
	} else {
		http_reply_error(req, 404, "not_found", NULL, "no such endpoint");
	}
}
