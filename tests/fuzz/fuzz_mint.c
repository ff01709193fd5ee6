// max_len: 20000
/*
 * fuzz_mint: the API port's request handler (api_handle) on outside input:
 * seed mints from query strings, urlencoded and JSON bodies, v1 JSON
 * challenges, status/cancel ids. The real api, store, limiter, metrics and
 * field rules run; only the HTTP transport (libmicrohttpd), the audit writer
 * and the notifier are replaced by the stubs below (when api.c calls a new
 * function of theirs, add its stub here). Checks: memory safety and UB; every
 * request gets exactly one answer; every JSON answer is a JSON object; a 2xx
 * mint answer carries a 22-character page id.
 *
 * Input: byte 0 picks the route, method, Content-Type and whether api_keys are
 * set; then a line with the query string (or the id for /v1/challenges/{id}),
 * a line with the Authorization header, and the body.
 */
#include "app.h"
#include "api.h"
#include "config.h"
#include "crypto.h"
#include "form.h"
#include "http.h"
#include "audit.h"
#include "backlog.h"
#include "limiter.h"
#include "metrics.h"
#include "notify.h"
#include "store.h"
#include "tlsmat.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUZZ_STORE_MAX 64

/* ---- one request's fake transport ---- */

struct fake {
	const char *query;           /* raw query string, query_len bytes */
	size_t query_len;
	const char *auth;            /* Authorization, NUL-terminated, or NULL */
	const char *ctype;           /* Content-Type, or NULL */
	char *decoded[32];           /* http_query results, freed after the request */
	int n_decoded;
	int replies;
	unsigned status;
	bool deferred, resumed;      /* http_defer / http_resume were called */
	char *json;                  /* the last JSON reply */
};

static struct fake *cur;

const char *http_header(struct http_req *r, const char *name)
{
	(void)r;
	if (strcasecmp(name, "Authorization") == 0)
		return cur->auth;
	if (strcasecmp(name, "Content-Type") == 0)
		return cur->ctype;
	return NULL;
}

const char *http_query_n(struct http_req *r, const char *name, size_t *len)
{
	char *buf;
	long n;

	(void)r;
	if (cur->query == NULL || cur->n_decoded == 32)
		return NULL;
	buf = malloc(cur->query_len + 1);
	n = form_get(cur->query, cur->query_len, name, buf, cur->query_len + 1);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	cur->decoded[cur->n_decoded++] = buf;
	*len = (size_t)n;
	return buf;
}

const char *http_query(struct http_req *r, const char *name)
{
	size_t len;

	return http_query_n(r, name, &len);
}

void http_content_type(struct http_req *r, char *buf, size_t len)
{
	(void)r;
	snprintf(buf, len, "%s", cur->ctype ? cur->ctype : "");
}

/* An answer set before http_defer is held until http_resume and may be
 * replaced meanwhile (a mint's 200, replaced by a 503 when its row fails):
 * one answer still. */
static void answered(unsigned status)
{
	if (cur->resumed)
		abort();                 /* nothing may change an answer once resumed */
	if (!(cur->deferred && cur->replies == 1))
		cur->replies++;
	cur->status = status;
}

/* Keeps a JSON answer's text for the checks after the request. */
static void keep_json(char *text)
{
	cJSON *back = cJSON_Parse(text);

	if (back == NULL || !cJSON_IsObject(back))
		abort();
	cJSON_Delete(back);
	free(cur->json);
	cur->json = text;
}

void http_reply(struct http_req *r, unsigned status, const char *ctype, const void *body, size_t len)
{
	(void)r;
	(void)ctype;
	(void)body;
	(void)len;
	answered(status);
}

void http_reply_take(struct http_req *r, unsigned status, const char *ctype, char *body, size_t len)
{
	(void)r;
	if (body == NULL || strlen(body) != len)
		abort();
	answered(status);
	if (ctype != NULL && strncmp(ctype, "application/json", 16) == 0)
		keep_json(body);
	else
		free(body);
}

void http_reply_json(struct http_req *r, unsigned status, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);

	(void)r;
	cJSON_Delete(obj);
	if (text == NULL)
		abort();
	answered(status);
	keep_json(text);
}

void http_reply_error(struct http_req *r, unsigned status, const char *code, const char *field,
                      const char *detail)
{
	cJSON *o = cJSON_CreateObject();

	if (status < 400 || code == NULL || detail == NULL)
		abort();
	cJSON_AddStringToObject(o, "error", code);
	if (field != NULL)
		cJSON_AddStringToObject(o, "field", field);
	cJSON_AddStringToObject(o, "detail", detail);
	http_reply_json(r, status, o);
}

void http_reply_add_header(struct http_req *r, const char *name, const char *value)
{
	(void)r;
	if (cur->replies == 0 || name == NULL || value == NULL)
		abort();
}

void http_reply_retry_after(struct http_req *r, int seconds)
{
	(void)r;
	if (cur->replies == 0 || seconds < 1)
		abort();
}

void http_reply_health(struct http_req *r)
{
	(void)r;
	answered(200);
}

int audit_submit(struct audit *a, const struct audit_event *ev, audit_done_fn done, void *ctx)
{
	(void)a;
	(void)ev;
	(void)done;
	(void)ctx;
	return 0;
}

/* A mint waits for its minted row: here the row is durable at once. */
int audit_submit_within(struct audit *a, const struct audit_event *ev, audit_done_fn done,
                        void *ctx, int64_t give_up_mono_ms)
{
	(void)a;
	(void)ev;
	(void)give_up_mono_ms;
	done(ctx, 0);
	return 0;
}

int audit_submit_end(struct audit *a, const struct audit_event *ev)
{
	(void)a;
	(void)ev;
	return 0;
}

bool http_defer(struct http_req *r)
{
	(void)r;
	if (cur->deferred)
		abort();
	cur->deferred = true;
	return true;
}

void http_resume(struct http_req *r)
{
	(void)r;
	if (!cur->deferred || cur->resumed || cur->replies != 1)
		abort();                 /* resumed once, with its answer */
	cur->resumed = true;
}

int audit_lookup(struct audit *a, const char *page_id, struct audit_status *out)
{
	(void)a;
	(void)page_id;
	memset(out, 0, sizeof *out);
	return 1;   /* not in the log */
}

void audit_get_stats(struct audit *a, struct audit_stats *out)
{
	(void)a;
	memset(out, 0, sizeof *out);
}

void notify_get_stats(struct notify *n, struct notify_stats *out)
{
	(void)n;
	memset(out, 0, sizeof *out);
}

int backlog_sample(struct backlog *b, int64_t now, uint64_t *pending, double *oldest_age_s)
{
	(void)b;
	(void)now;
	*pending = 0;
	*oldest_age_s = 0;
	return 0;
}

int64_t tls_material_not_after(const struct tls_material *tm)
{
	(void)tm;
	return 0;
}

/* ---- the application ---- */

static struct app app;

/* A fresh store and limiters per input: runs stay independent and every run
 * frees what it allocated (so libFuzzer's leak check stays cheap and exact). */
/* Stands for the audit writer (the stubs above never look inside), so that
 * a mint takes its durable path rather than the no-log refusal. */
static char fake_audit;

static void app_open(void)
{
	app.audit = (struct audit *)&fake_audit;
	app.store = store_new(FUZZ_STORE_MAX);
	/* generous limits: the point is the parsers, not hitting 429 at once */
	app.rate_phone = limiter_new(1000000, 60, 64);
	app.lockout = limiter_new(3, 60, 64);
	app.rate_ip = limiter_new(1000000, 60, 64);
}

static void app_close(void)
{
	store_free(app.store);
	limiter_free(app.rate_phone);
	limiter_free(app.lockout);
	limiter_free(app.rate_ip);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *args[] = { NULL };
	char *envp[] = { NULL };
	FILE *null = fopen("/dev/null", "w");

	(void)argc;
	(void)argv;
	if (null != NULL)
		stderr = null;           /* log lines; sanitizer reports still go to fd 2 */
	if (config_load(&app.cfg, 0, args, envp) != 0)
		abort();
	app.metrics = metrics_new();
	return 0;
}

static const char *take_line(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));

	*len = nl ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl ? nl + 1 : end;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http_method methods[4] = { HTTP_GET, HTTP_POST, HTTP_DELETE, HTTP_HEAD };
	static const char *const ctypes[4] = {
		"application/json", "application/x-www-form-urlencoded", NULL, "multipart/form-data",
	};
	static char fuzz_key[] = "fuzz-key-0123456789";
	struct fake f = { 0 };
	struct http_req req = { 0 };
	const char *p, *end, *line;
	char path[64], *auth = NULL;
	size_t len;
	uint8_t sel;
	bool keys;

	if (size < 1 || size > HTTP_BODY_MAX + 1024)
		return 0;
	sel = data[0];
	p = (const char *)data + 1;
	end = (const char *)data + size;

	line = take_line(&p, end, &len);
	switch (sel & 3) {
	case 0: snprintf(path, sizeof path, "/generate_dynamic_page"); break;
	case 1: snprintf(path, sizeof path, "/v1/challenges"); break;
	case 2:
		snprintf(path, sizeof path, "/v1/challenges/%.*s", (int)(len < 40 ? len : 40), line);
		if (strlen(path) != 15 + (len < 40 ? len : 40))
			return 0;                        /* a NUL cannot be in a path */
		line = NULL;
		break;
	default: snprintf(path, sizeof path, (sel & 0x80) ? "/metrics" : "/healthz"); break;
	}
	f.query = line;
	f.query_len = line ? len : 0;

	line = take_line(&p, end, &len);
	if (len > 0) {
		auth = malloc(len + 1);
		memcpy(auth, line, len);
		auth[len] = '\0';
		f.auth = auth;
	}
	f.ctype = ctypes[(sel >> 4) & 3];

	req.method = methods[(sel >> 2) & 3];
	req.path = path;
	req.body_len = (size_t)(end - p);
	req.body = malloc(req.body_len + 1);
	memcpy(req.body, p, req.body_len);
	req.body[req.body_len] = '\0';
	req.body_too_large = req.body_len > HTTP_BODY_MAX;
	snprintf(req.ip, sizeof req.ip, "127.0.0.1");
	req.loopback = true;

	keys = (sel & 0x40) != 0;
	if (keys) {
		app.cfg.api_keys.n = 1;
		app.cfg.api_keys.v[0] = fuzz_key;
		req.loopback = false;
	}
	cur = &f;
	app_open();
	api_handle(&app, &req);
	if (req.state_free != NULL)
		req.state_free(req.state);
	app_close();
	cur = NULL;
	if (keys)
		app.cfg.api_keys.n = 0;

	/* every request gets one answer (a mint's once its row is durable:
	 * at once with the stubs above) */
	if (f.replies != 1 || f.deferred != f.resumed)
		abort();
	if ((f.status == 200 || f.status == 201) && f.json != NULL &&
	    (strcmp(path, "/generate_dynamic_page") == 0 || strcmp(path, "/v1/challenges") == 0)) {
		cJSON *o = cJSON_Parse(f.json);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "page_id");
		if (id == NULL)
			id = cJSON_GetObjectItemCaseSensitive(o, "id");
		if (id == NULL) {
			const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(o, "set_attributes");
			id = cJSON_GetObjectItemCaseSensitive(attrs, "mfa_page_id");
		}
		if (!cJSON_IsString(id) || strlen(id->valuestring) != PAGE_ID_LEN)
			abort();
		cJSON_Delete(o);
	}
	for (int i = 0; i < f.n_decoded; i++)
		free(f.decoded[i]);
	free(f.json);
	free(auth);
	free(req.body);
	return 0;
}
