/*
 * anchor: posting the newest signed checkpoint to audit_anchor_url (see
 * include/anchor.h). One thread, one read-only connection, one libcurl easy
 * handle per post; nothing here is on a request's path.
 */
#include "anchor.h"
#include "auditdb.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "webhook.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct anchor {
	struct webhook *wh;               /* the URL and the secret that signs */
	char *node;
	sqlite3 *db;
	sqlite3_stmt *newest;
	int64_t posted;                   /* the newest checkpoint id posted */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping, started;
};

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* The newest checkpoint as the body to post, or NULL (none newer than
 * posted, or unreadable). *id is its id. */
static char *newest_body(struct anchor *a, int64_t *id)
{
	sqlite3_stmt *st = a->newest;
	char *body = NULL;

	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > a->posted) {
		cJSON *o = cJSON_CreateObject();
		static const char *const names[] = { "head_hash", "ts", "public_key", "signature" };
		char *printed;

		*id = sqlite3_column_int64(st, 0);
		cJSON_AddStringToObject(o, "event", "audit.checkpoint");
		if (a->node != NULL)
			cJSON_AddStringToObject(o, "node", a->node);
		cJSON_AddNumberToObject(o, "checkpoint_id", (double)*id);
		cJSON_AddNumberToObject(o, "row_id", (double)sqlite3_column_int64(st, 1));
		for (int i = 0; i < 4; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i + 2);
			cJSON_AddStringToObject(o, names[i], v ? v : "");
		}
		printed = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (printed == NULL)
			abort();
		body = xstrdup(printed);
		free(printed);
	}
	sqlite3_reset(st);
	return body;
}

/* One POST. 0 when the receiver answered 2xx. */
static int post(struct anchor *a, const char *body, long timeout_ms)
{
	CURL *easy = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char sig[WEBHOOK_SIG_HEADER_MAX], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;

	if (easy == NULL)
		return -1;
	webhook_sign(a->wh, body, (long long)time(NULL), sig);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, sig);
	curl_easy_setopt(easy, CURLOPT_URL, webhook_url(a->wh));
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(easy);
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(easy);
	if (rc == CURLE_OK && status >= 200 && status < 300)
		return 0;
	{
		char *url = webhook_log_url(a->wh);
		log_warn("anchor: posting the checkpoint to %s failed: %s", url,
		         rc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(rc)) : "HTTP status not 2xx");
		free(url);
	}
	return -1;
}

static void post_newest(struct anchor *a, long timeout_ms)
{
	int64_t id = 0;
	char *body = newest_body(a, &id);

	if (body != NULL && post(a, body, timeout_ms) == 0)
		a->posted = id;
	free(body);
}

static void *anchor_main(void *arg)
{
	struct anchor *a = arg;

	pthread_mutex_lock(&a->lock);
	while (!a->stopping) {
		int64_t due = mono_ms() + ANCHOR_POLL_MS;
		struct timespec ts = { .tv_sec = (time_t)(due / 1000), .tv_nsec = (long)(due % 1000) * 1000000 };

		pthread_cond_timedwait(&a->cond, &a->lock, &ts);   /* cond on CLOCK_MONOTONIC */
		if (a->stopping)
			break;
		pthread_mutex_unlock(&a->lock);
		post_newest(a, ANCHOR_TIMEOUT_MS);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void anchor_free(struct anchor *a)
{
	sqlite3_finalize(a->newest);
	sqlite3_close(a->db);
	webhook_free(a->wh);
	free(a->node);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int anchor_start(const struct config *cfg, struct anchor **out)
{
	struct anchor *a;
	pthread_condattr_t ca;
	char err[256];

	*out = NULL;
	if (!nonempty(cfg->audit_anchor_url))
		return 0;
	a = xcalloc(1, sizeof *a);
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	a->node = cfg->node_id ? xstrdup(cfg->node_id) : NULL;
	if (webhook_new(cfg->audit_anchor_url, cfg->webhook_secret, &a->wh) != 0 || a->wh == NULL)
		goto fail;
	if (auditdb_open_reader(cfg->db_path, &a->db, err, sizeof err) != 0) {
		log_error("anchor: %s", err);
		goto fail;
	}
	if (sqlite3_prepare_v2(a->db, "SELECT id, row_id, head_hash, ts, pubkey, signature FROM "
	                       "audit_checkpoint ORDER BY id DESC LIMIT 1", -1, &a->newest, NULL) != SQLITE_OK) {
		log_error("anchor: %s", sqlite3_errmsg(a->db));
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, anchor_main, a) != 0) {
		log_error("anchor: cannot start its thread");
		goto fail;
	}
	a->started = true;
	*out = a;
	return 0;
fail:
	anchor_free(a);
	return -1;
}

void anchor_stop(struct anchor *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	post_newest(a, ANCHOR_STOP_TIMEOUT_MS);   /* the checkpoint the stop signed */
	anchor_free(a);
}
