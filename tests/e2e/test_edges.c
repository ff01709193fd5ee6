/*
 * edges: nothing is lost at the edges. A stop while twelve clients answer on
 * kept-alive connections, answers whose clients went away before their 303,
 * tens of thousands of challenges pending at a stop, an expiry burst with
 * notify_on_expiry, and mints while the audit database is locked: every
 * minted challenge ends in the log exactly once, every 200/303 has its rows,
 * and the daemon exits 0 within stop_timeout. And Chatfuel's answers: a huge
 * 2xx is one delivery, a 429's Retry-After holds every send, sends are paced.
 * And files: RLIMIT_FSIZE is an error, not a kill; start-up errors about the
 * database name the directory and the cause. And no answer waits in a buffer
 * on a kept-alive connection.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mfa.h"
#include "tests.h"

/* ---- a client on one kept-alive connection ---- */

struct kc {
	CURL *c;
	const char *cainfo;          /* NULL: plain HTTP */
	char buf[4096];
	size_t len;
	char retry_after[16];
};

static size_t kc_body(char *p, size_t sz, size_t n, void *ud)
{
	struct kc *k = ud;
	size_t len = sz * n, room = sizeof k->buf - 1 - k->len;

	if (len < room)
		room = len;
	memcpy(k->buf + k->len, p, room);
	k->len += room;
	k->buf[k->len] = '\0';
	return len;
}

static size_t kc_header(char *p, size_t sz, size_t n, void *ud)
{
	struct kc *k = ud;
	size_t len = sz * n;

	if (len > 13 && strncasecmp(p, "Retry-After:", 12) == 0)
		snprintf(k->retry_after, sizeof k->retry_after, "%.*s", (int)(len - 12), p + 12);
	return len;
}

static void kc_init(struct kc *k, const char *cainfo)
{
	memset(k, 0, sizeof *k);
	k->c = curl_easy_init();
	k->cainfo = cainfo;
}

static void kc_free(struct kc *k)
{
	if (k->c != NULL)
		curl_easy_cleanup(k->c);
	k->c = NULL;
}

/* One request on the handle's connection (reused while the server keeps it).
 * The HTTP status, or -1 on a transport error. */
static long kc_req(struct kc *k, const char *url, const char *ctype, const char *post, long timeout_ms)
{
	CURL *c = k->c;
	struct curl_slist *hl = NULL;
	long code = 0;
	CURLcode rc;
	char h[128];

	k->len = 0;
	k->buf[0] = '\0';
	k->retry_after[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kc_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, kc_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, k);
	if (k->cainfo != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, k->cainfo);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	if (ctype != NULL) {
		snprintf(h, sizeof h, "Content-Type: %s", ctype);
		hl = curl_slist_append(hl, h);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (post != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (rc != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* ---- the audit log, read from the test ---- */

#define SQL_ENDS "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND event IN " \
	"('approved', 'denied', 'canceled', 'locked', 'expired')"
#define SQL_DECIDED "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND event IN " \
	"('approved', 'denied')"
#define SQL_MINTED "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND event = 'minted'"

/* A write lock on the audit database, held from the test (an operator's
 * sqlite3 shell, a backup): BEGIN IMMEDIATE, waiting out the writer. */
static sqlite3 *db_lock(struct t *t, const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open(path, &db) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
			return db;
	}
	FAILF(t, "expected to take a write lock on %s, got %s", path, db ? sqlite3_errmsg(db) : "no memory");
	sqlite3_close(db);
	return NULL;
}

/* ---- minting many ---- */

#define PID_LEN 32
#define MINT_RETRIES 100
#define MINT_RETRY_MS 20

struct mint_job {
	struct daemon *d;
	int from, n;                 /* challenge numbers */
	int expires_in;              /* 0: the seed mint; else /v1/challenges with it */
	char (*ids)[PID_LEN];
	int failed;
};

static void *mint_thread(void *arg)
{
	struct mint_job *j = arg;
	struct kc k;

	kc_init(&k, j->d->api_tls ? j->d->cert_path : NULL);
	for (int i = j->from; i < j->from + j->n; i++) {
		char *url, *body = NULL;
		long st;
		cJSON *o;
		const char *pid;

		if (j->expires_in == 0) {
			char *path = h_printf("/generate_dynamic_page?client_id=c%d&telefono=%%2B52155%08d"
			                      "&flow_name=F&fecha_cumple=1990-01-02", i, i);
			url = d_api_url(j->d, path);
			free(path);
		} else {
			url = d_api_url(j->d, "/v1/challenges");
			body = h_printf("{\"client_id\":\"c%d\",\"phone\":\"+52155%08d\",\"flow_name\":\"F\","
			                "\"dob\":\"1990-01-02\",\"expires_in\":%d}", i, i, j->expires_in);
		}
		/* a 503 (the audit log busy) is retried, as a bot does */
		for (int tries = 0; (st = kc_req(&k, url, body ? "application/json" : NULL, body, 10000)) == 503 &&
		     tries < MINT_RETRIES; tries++)
			h_sleep_ms(MINT_RETRY_MS);
		free(url);
		free(body);
		o = st == 200 || st == 201 ? cJSON_Parse(k.buf) : NULL;
		pid = o ? j_str(o, st == 200 ? "page_id" : "id") : NULL;
		if (pid == NULL)
			j->failed++;
		else
			snprintf(j->ids[i], PID_LEN, "%s", pid);
		cJSON_Delete(o);
	}
	kc_free(&k);
	return NULL;
}

/* Mints n challenges from `threads` clients on kept-alive connections;
 * their page ids go to ids[0..n). */
static int mint_many(struct t *t, struct daemon *d, int n, int threads, int expires_in,
                     char (*ids)[PID_LEN])
{
	struct mint_job jobs[8];
	pthread_t th[8];
	int failed = 0;

	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct mint_job){ d, i * (n / threads), i == threads - 1 ? n - i * (n / threads) :
		                             n / threads, expires_in, ids, 0 };
		pthread_create(&th[i], NULL, mint_thread, &jobs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failed += jobs[i].failed;
	}
	if (failed > 0) {
		FAILF(t, "expected %d mints to answer 200/201 with a page id, got %d that did not", n, failed);
		return -1;
	}
	return 0;
}

/* A daemon with a plain-HTTP API (bulk minting) and no Chatfuel (dry run:
 * results are still written to the outbox). */
static struct daemon *edge_daemon(struct t *t)
{
	struct daemon *d = d_new(t, NULL);

	d_set_bool(d, "api_tls", false);
	d_del(d, "chatfuel_bot_id");
	d_del(d, "chatfuel_token");
	return d;
}

/* ---- SIGTERM while twelve clients answer ---- */

#define SA_CLIENTS 12
#define SA_EACH 8
#define SA_ROUNDS 4

struct sa_client {
	struct daemon *d;
	char (*ids)[PID_LEN];        /* this client's SA_EACH pages */
	long status[SA_EACH];
	pthread_barrier_t *go;
};

static void *sa_thread(void *arg)
{
	struct sa_client *c = arg;
	struct kc k;
	char *url = d_web_url(c->d, "/validate_answer");

	kc_init(&k, c->d->cert_path);
	pthread_barrier_wait(c->go);
	for (int i = 0; i < SA_EACH; i++) {
		char *body = h_printf("page_id=%s&respuesta=1", c->ids[i]);
		c->status[i] = kc_req(&k, url, "application/x-www-form-urlencoded", body, 8000);
		free(body);
		h_sleep_ms(15);
	}
	kc_free(&k);
	free(url);
	return NULL;
}

static void test_sigterm_during_answers(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static char ids[SA_CLIENTS * SA_EACH][PID_LEN];
	int n303 = 0, n503 = 0;

	for (int round = 0; round < SA_ROUNDS; round++) {
		struct sa_client cl[SA_CLIENTS];
		pthread_t th[SA_CLIENTS];
		pthread_barrier_t go;

		t_prefix(t, "round %d: ", round + 1);
		REQUIRE(t, d_start(d, NULL) == 0);
		memset(ids, 0, sizeof ids);
		REQUIRE(t, mint_many(t, d, SA_CLIENTS * SA_EACH, 4, 0, ids) == 0);
		pthread_barrier_init(&go, NULL, SA_CLIENTS + 1);
		for (int i = 0; i < SA_CLIENTS; i++) {
			cl[i] = (struct sa_client){ .d = d, .ids = &ids[i * SA_EACH], .go = &go };
			pthread_create(&th[i], NULL, sa_thread, &cl[i]);
		}
		pthread_barrier_wait(&go);
		h_sleep_ms(30 + 25 * round);       /* into the answers, at another point each round */
		int stop_rc = d_stop(d);
		for (int i = 0; i < SA_CLIENTS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		EXPECT(t, stop_rc == 0, "expected exit 0 after SIGTERM during answers");
		for (int i = 0; i < SA_CLIENTS; i++) {
			for (int j = 0; j < SA_EACH; j++) {
				const char *pid = cl[i].ids[j];
				long st = cl[i].status[j];
				long long ends = mfa_db_int(t, d->db_path, SQL_ENDS, pid);
				BAIL(t);
				EXPECT(t, ends == 1, "expected page %s (answer status %ld) to end in the log "
				       "exactly once, got %lld end rows", pid, st, ends);
				EXPECT(t, st == 303 || st == 503 || st == -1,
				       "expected 303, the 503 retry page or a closed connection, got %ld", st);
				if (st == 303) {
					n303++;
					EXPECT(t, mfa_db_int(t, d->db_path, SQL_DECIDED, pid) == 1,
					       "expected the 303 for page %s to have its decision row", pid);
				}
				n503 += st == 503;
			}
		}
	}
	t_prefix(t, "%s", "");
	/* the stop fell into the answers: some were answered, not all */
	EXPECT(t, n303 > 0, "expected some 303 answers over %d rounds, got none", SA_ROUNDS);
	EXPECT(t, n303 < SA_ROUNDS * SA_CLIENTS * SA_EACH,
	       "expected the stops to fall into the answers (some not 303), got all %d answered", n303);
	(void)n503;
}

/* ---- answers whose client left before the 303, then SIGTERM ---- */

#define AB_CLIENTS 48
#define AB_STOP_TIMEOUT_S 3

struct ab_client {
	struct daemon *d;
	const char *pid;
	bool at_once;                /* reset soon after sending, else give up after a while */
	int delay_ms;                /* from sending to the reset */
	long status;
};

/* Sends the answer over a fresh TLS connection and resets it soon after,
 * without reading: the person closes the tab right after tapping. 0, or -1. */
static int tls_post_and_close(int port, const char *body, int delay_ms)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;
	SSL *ssl = NULL;
	char *req = NULL;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (ctx == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto out;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		goto out;
	req = h_printf("POST /validate_answer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	               "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
	               strlen(body), body);
	if (SSL_write(ssl, req, (int)strlen(req)) == (int)strlen(req))
		rc = 0;
	h_sleep_ms(delay_ms);     /* the server may have the answer (and defer it) ... */
	{
		struct linger lg = { 1, 0 };     /* a reset, as a killed browser tab sends */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
out:
	free(req);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return rc;
}

static void *ab_thread(void *arg)
{
	struct ab_client *c = arg;
	char *body = h_printf("page_id=%s&respuesta=1", c->pid);

	if (c->at_once) {
		c->status = tls_post_and_close(c->d->web_port, body, c->delay_ms) == 0 ? -1 : -2;
	} else {
		struct kc k;
		char *url = d_web_url(c->d, "/validate_answer");
		kc_init(&k, c->d->cert_path);
		c->status = kc_req(&k, url, "application/x-www-form-urlencoded", body, 600);   /* gives up */
		kc_free(&k);
		free(url);
	}
	free(body);
	return NULL;
}

static void test_abandoned_answers_then_sigterm(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static char ids[AB_CLIENTS][PID_LEN];
	struct ab_client cl[AB_CLIENTS];
	pthread_t th[AB_CLIENTS];
	sqlite3 *db = NULL;

	d_set_int(d, "stop_timeout", AB_STOP_TIMEOUT_S);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mint_many(t, d, AB_CLIENTS, 2, 0, ids) == 0);
	/* hold the answers back: their rows cannot be written while we hold the lock */
	REQUIRE(t, (db = db_lock(t, d->db_path)) != NULL);
	for (int i = 0; i < AB_CLIENTS; i++) {
		cl[i] = (struct ab_client){ d, ids[i], i % 4 != 3, (i % 8) * 10, 0 };
		pthread_create(&th[i], NULL, ab_thread, &cl[i]);
	}
	for (int i = 0; i < AB_CLIENTS; i++)
		pthread_join(th[i], NULL);
	h_sleep_ms(300);     /* the last answers reach their handler */
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	for (int i = 0; i < AB_CLIENTS; i++)
		EXPECT(t, cl[i].status == -1, "expected client %d to give up before its answer, got %ld", i,
		       cl[i].status);
	h_sleep_ms(1500);     /* the rows are written, the answers go to closed connections */
	long long t0 = h_mono_ms();
	int rc = d_stop_within(d, SIGTERM, AB_STOP_TIMEOUT_S * 1000 + 1000);
	long long took = h_mono_ms() - t0;
	EXPECT(t, rc == 0, "expected exit 0 after SIGTERM with abandoned answers");
	EXPECT(t, took <= AB_STOP_TIMEOUT_S * 1000, "expected the stop within stop_timeout (%d s), took %lld ms",
	       AB_STOP_TIMEOUT_S, took);
	/* A reset may reach the server before the request did: then the page
	 * was never answered and is canceled at the stop. */
	for (int i = 0; i < AB_CLIENTS; i++) {
		EXPECT(t, mfa_db_int(t, d->db_path, SQL_ENDS, ids[i]) == 1,
		       "expected page %s to end in the log exactly once", ids[i]);
		if (!cl[i].at_once)
			EXPECT(t, mfa_db_int(t, d->db_path, SQL_DECIDED, ids[i]) == 1,
			       "expected the abandoned answer for page %s to be decided in the log", ids[i]);
	}
}

/* ---- tens of thousands pending at a stop ---- */

#define PS_PENDING 20000

static void test_pending_at_stop_all_canceled(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static char ids[PS_PENDING][PID_LEN];

	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mint_many(t, d, PS_PENDING, 4, 0, ids) == 0);
	long long t0 = h_mono_ms();
	int rc = d_stop_within(d, SIGTERM, 8000 + 1000);
	long long took = h_mono_ms() - t0;
	EXPECT(t, rc == 0, "expected exit 0 after SIGTERM with %d pending", PS_PENDING);
	EXPECT(t, took <= 8000, "expected the stop within stop_timeout (8 s), took %lld ms", took);
	EXPECT_INT(t, "canceled rows", PS_PENDING,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'canceled'", NULL));
	EXPECT_INT(t, "minted rows", PS_PENDING,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'minted'", NULL));
}

/* ---- open links a run could not end: written at the next start ---- */

#define OL_PENDING 300
#define OL_STOP_TIMEOUT_S 1
#define SQL_CANCELED "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND event = 'canceled'"

/* Every page of ids[0..n) ends in the log exactly once, as canceled. */
static void expect_each_canceled_once(struct t *t, struct daemon *d, char (*ids)[PID_LEN], int n,
                                      const char *when)
{
	int ends = 0, canceled = 0;

	for (int i = 0; i < n; i++) {
		ends += mfa_db_int(t, d->db_path, SQL_ENDS, ids[i]) == 1;
		canceled += mfa_db_int(t, d->db_path, SQL_CANCELED, ids[i]) == 1;
	}
	EXPECT(t, ends == n, "expected each of the %d pages to end in the log exactly once %s, got %d",
	       n, when, ends);
	EXPECT(t, canceled == n, "expected each of the %d pages to end as canceled %s, got %d", n,
	       when, canceled);
}

static void expect_verify_intact(struct t *t, struct daemon *d)
{
	const char *argv[] = { "audit", "verify", "--db", d->db_path, NULL };
	char *out = NULL, *err = NULL;
	int rc = h_run(t, argv, NULL, &out, &err);

	EXPECT(t, rc == 0, "expected `audit verify` to exit 0, got %d (%.300s %.300s)", rc, out, err);
	free(out);
	free(err);
}

/* The next start ends each page of ids once, as canceled, before it
 * serves; a clean stop and one more start add nothing; the chain holds. */
static void expect_next_starts_end_each_once(struct t *t, struct daemon *d, char (*ids)[PID_LEN])
{
	REQUIRE(t, d_start(d, NULL) == 0);
	expect_each_canceled_once(t, d, ids, OL_PENDING, "after the next start");
	REQUIRE(t, d_stop(d) == 0);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, d_stop(d) == 0);
	expect_each_canceled_once(t, d, ids, OL_PENDING, "after two more starts");
	expect_verify_intact(t, d);
}

/* A stop that cannot write its `canceled` rows before stop_timeout (here the
 * database locked from outside the whole time) loses none of them: the next
 * start writes them before it serves, once, and a later start adds none. */
static void test_stop_past_deadline_ends_at_next_start(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static char ids[OL_PENDING][PID_LEN];
	sqlite3 *db;

	d_set_int(d, "stop_timeout", OL_STOP_TIMEOUT_S);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mint_many(t, d, OL_PENDING, 2, 0, ids) == 0);
	REQUIRE(t, (db = db_lock(t, d->db_path)) != NULL);
	int rc = d_stop_within(d, SIGTERM, OL_STOP_TIMEOUT_S * 1000 + 3000);
	EXPECT(t, rc == 0, "expected exit 0 from a stop whose cancels are left to the next start");
	EXPECT_INT(t, "canceled rows after the locked stop", 0,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'canceled'", NULL));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	expect_next_starts_end_each_once(t, d, ids);
}

/* kill -9 with challenges pending: the next start cancels each, once. */
static void test_kill9_pending_ends_at_next_start(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static char ids[OL_PENDING][PID_LEN];

	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, mint_many(t, d, OL_PENDING, 2, 0, ids) == 0);
	REQUIRE(t, d_kill(d) == 0);
	EXPECT_INT(t, "minted rows at the kill", OL_PENDING,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'minted'", NULL));
	expect_next_starts_end_each_once(t, d, ids);
}

/* ---- an expiry burst with notify_on_expiry ---- */

#define EB_CHALLENGES 5000
#define EB_EXPIRES_S 10            /* the shortest expires_in */
#define EB_WAIT_MS 15000

static void test_expiry_burst_each_row_and_result(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static char ids[EB_CHALLENGES][PID_LEN];
	long long expired = 0;

	d_set_bool(d, "notify_on_expiry", true);
	REQUIRE(t, d_start(d, NULL) == 0);
	long long t0 = h_mono_ms();
	REQUIRE(t, mint_many(t, d, EB_CHALLENGES, 4, EB_EXPIRES_S, ids) == 0);
	EXPECT(t, h_mono_ms() - t0 < EB_EXPIRES_S * 1000,
	       "expected the mints to finish before the first expiry, took %lld ms", h_mono_ms() - t0);
	for (long long end = t0 + EB_EXPIRES_S * 1000 + EB_WAIT_MS; h_mono_ms() < end; h_sleep_ms(250)) {
		expired = mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'expired'", NULL);
		BAIL(t);
		if (expired >= EB_CHALLENGES)
			break;
	}
	EXPECT_INT(t, "expired rows after the burst", EB_CHALLENGES, expired);
	EXPECT_INT(t, "distinct pages with an expired row", EB_CHALLENGES,
	           mfa_db_int(t, d->db_path, "SELECT count(DISTINCT page_id) FROM audit_log WHERE event = 'expired'",
	                    NULL));
	EXPECT_INT(t, "outbox rows of expired challenges", EB_CHALLENGES,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM outbox o JOIN audit_log a ON a.id = o.audit_id "
	                    "WHERE a.event = 'expired' AND o.kind = 'chatfuel'", NULL));
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
}

/* ---- mints while the audit database is locked ---- */

#define ML_THREADS 3
#define ML_ANSWER_WAIT_S 2
#define ML_LOCK_MS 5000
#define ML_AFTER_MS 1500
#define ML_MAX 256

struct ml_job {
	struct daemon *d;
	int t;
	atomic_bool *locked, *done;
	int n200, n503, n503_no_retry, n200_no_row, nother, n200_locked;
	char ids[ML_MAX][PID_LEN];
	int nids;
};

static void *ml_thread(void *arg)
{
	struct ml_job *j = arg;
	struct kc k;

	kc_init(&k, NULL);
	for (int i = 0; !atomic_load(j->done) && i < ML_MAX; i++) {
		char *path = h_printf("/generate_dynamic_page?client_id=l%d-%d&telefono=%%2B521556%02d%05d"
		                      "&flow_name=F&fecha_cumple=1990-01-02", j->t, i, j->t, i);
		char *url = d_api_url(j->d, path);
		bool locked_before = atomic_load(j->locked);
		long st = kc_req(&k, url, NULL, NULL, 10000);
		free(path);
		free(url);
		if (st == 200) {
			cJSON *o = cJSON_Parse(k.buf);
			const char *pid = o ? j_str(o, "page_id") : NULL;
			j->n200++;
			if (locked_before && atomic_load(j->locked))
				j->n200_locked++;
			if (pid != NULL) {
				/* the row is durable when the bot has the link */
				if (mfa_db_int(j->d->t, j->d->db_path, SQL_MINTED, pid) != 1)
					j->n200_no_row++;
				snprintf(j->ids[j->nids++], PID_LEN, "%s", pid);
			}
			cJSON_Delete(o);
		} else if (st == 503) {
			j->n503++;
			if (atoi(k.retry_after) < 1)
				j->n503_no_retry++;
		} else {
			j->nother++;
		}
	}
	kc_free(&k);
	return NULL;
}

static void test_mints_during_db_lock(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	struct ml_job *jobs = calloc(ML_THREADS, sizeof *jobs);
	pthread_t th[ML_THREADS];
	atomic_bool locked = true, done = false;
	sqlite3 *db = NULL;
	int n200 = 0, n503 = 0;

	REQUIRE(t, jobs != NULL);
	d_set_int(d, "answer_wait", ML_ANSWER_WAIT_S);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, (db = db_lock(t, d->db_path)) != NULL);
	for (int i = 0; i < ML_THREADS; i++) {
		jobs[i] = (struct ml_job){ .d = d, .t = i, .locked = &locked, .done = &done };
		pthread_create(&th[i], NULL, ml_thread, &jobs[i]);
	}
	h_sleep_ms(ML_LOCK_MS);
	atomic_store(&locked, false);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	h_sleep_ms(ML_AFTER_MS);
	atomic_store(&done, true);
	for (int i = 0; i < ML_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < ML_THREADS; i++) {
		struct ml_job *j = &jobs[i];
		n200 += j->n200;
		n503 += j->n503;
		EXPECT(t, j->n200_no_row == 0, "expected every 200 to have its minted row when it came, "
		       "got %d without", j->n200_no_row);
		EXPECT(t, j->n200_locked == 0, "expected no 200 while the database was locked, got %d",
		       j->n200_locked);
		EXPECT(t, j->n503_no_retry == 0, "expected every 503 to carry Retry-After, got %d without",
		       j->n503_no_retry);
		EXPECT(t, j->nother == 0, "expected only 200 or 503, got %d others", j->nother);
	}
	EXPECT(t, n503 >= ML_THREADS, "expected the mints during the lock to get 503, got %d", n503);
	EXPECT(t, n200 > 0, "expected mints after the lock to get 200, got none");
	/* the withdrawn mints never reach the log, not even once the lock is gone */
	h_sleep_ms(500);
	EXPECT_INT(t, "minted rows (one per 200)", n200,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'minted'", NULL));
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
	EXPECT_INT(t, "canceled rows at the stop (one per 200)", n200,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'canceled'", NULL));
	free(jobs);
}

/* A short stop_timeout while mints wait on a locked database: each waiting
 * bot gets its 503 (before: the drain's deadline was the instant the writer
 * gave the answers up, so the daemons were left running, the connections
 * dropped and the exit status was 1, in most runs). */
#define SW_THREADS 50
#define SW_WARM 30                 /* mints sent on open connections; the rest connect as the stop comes */
#define SW_STOP_S 2
#define SW_READY_MS 10000          /* at most, until every connection is open */
#define SW_SENT_MS 300             /* the mints' bytes on open connections */
#define SW_EXIT_SLACK_MS 1500

struct sw_job {
	struct daemon *d;
	int i;
	atomic_int *ready;
	atomic_bool *go;
	long status;
	char retry_after[16];
};

/* Opens its connection with a /healthz first, so that the mint itself is a
 * few bytes on an open connection when the test lets it go. */
static void *sw_thread(void *arg)
{
	struct sw_job *j = arg;
	struct kc k;
	char *path = h_printf("/generate_dynamic_page?client_id=sw%d&telefono=%%2B52155770%04d"
	                      "&flow_name=F&fecha_cumple=1990-01-02", j->i, j->i);
	char *url = d_api_url(j->d, path), *health = d_api_url(j->d, "/healthz");

	kc_init(&k, NULL);
	if (j->i < SW_WARM && kc_req(&k, health, NULL, NULL, 5000) == 200)
		atomic_fetch_add(j->ready, 1);
	for (long long end = h_mono_ms() + SW_READY_MS; !atomic_load(j->go) && h_mono_ms() < end;)
		h_sleep_ms(10);
	j->status = kc_req(&k, url, NULL, NULL, 10000);
	snprintf(j->retry_after, sizeof j->retry_after, "%s", k.retry_after);
	kc_free(&k);
	free(health);
	free(url);
	free(path);
	return NULL;
}

static void test_short_stop_with_mints_waiting(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	static struct sw_job jobs[SW_THREADS];
	pthread_t th[SW_THREADS];
	sqlite3 *db = NULL;
	atomic_int ready = 0;
	atomic_bool go = false;
	int n503 = 0;

	d_set_int(d, "stop_timeout", SW_STOP_S);
	d_set_int(d, "answer_wait", 10);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, (db = db_lock(t, d->db_path)) != NULL);
	for (int i = 0; i < SW_THREADS; i++) {
		jobs[i] = (struct sw_job){ .d = d, .i = i, .ready = &ready, .go = &go };
		pthread_create(&th[i], NULL, sw_thread, &jobs[i]);
	}
	for (long long end = h_mono_ms() + SW_READY_MS; atomic_load(&ready) < SW_WARM && h_mono_ms() < end;)
		h_sleep_ms(20);
	int opened = atomic_load(&ready);
	atomic_store(&go, true);
	h_sleep_ms(SW_SENT_MS);
	int stopped = d_stop_within(d, SIGTERM, SW_STOP_S * 1000 + SW_EXIT_SLACK_MS);
	for (int i = 0; i < SW_THREADS; i++)
		pthread_join(th[i], NULL);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	for (int i = 0; i < SW_WARM; i++)
		if (jobs[i].status == 503 && atoi(jobs[i].retry_after) >= 1)
			n503++;
	EXPECT_INT(t, "connections open before the mints", SW_WARM, opened);
	EXPECT(t, stopped == 0, "expected exit 0 within stop_timeout (%d s) + %d ms", SW_STOP_S, SW_EXIT_SLACK_MS);
	EXPECT_INT(t, "waiting mints answered 503 with Retry-After at the stop", SW_WARM, n503);
	EXPECT_INT(t, "minted rows (every mint withdrawn)", 0,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'minted'", NULL));
}


/* ---- Chatfuel's answers ---- */

#define CF_BIG_BODY (40 * 1024)     /* past the 16 KiB the sender keeps */

/* A 2xx far larger than the answer cap, saying "success": true at its
 * start: one delivery, not a failure retried. */
static void test_chatfuel_big_2xx_one_delivery(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	fake_big_success(f, CF_BIG_BODY);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-big", "+5215558300001", "FlowB", "1990-01-02", true, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
	EXPECT_INT(t, "outbox rows sent after one attempt", 1,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM outbox WHERE kind = 'chatfuel' AND "
	                    "state = 'sent' AND attempts = 1", NULL));
}

#define CF_RETRY_AFTER_S 3

/* A 429 with Retry-After holds every send to Chatfuel until then, not only
 * the row that got it. */
static void test_chatfuel_429_retry_after_holds_every_send(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	fake_fail_next(f, 429, 1);
	fake_retry_after(f, CF_RETRY_AFTER_S);
	struct daemon *d = d_new(t, f);
	d_set_int(d, "chatfuel_rps", 1000);     /* the pace holds nothing back here */
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-429a", "+5215558300011", "FlowR", "1990-01-02", true, &m) == 0);
	EXPECT_INT(t, "calls after the first answer", 1, fake_wait(f, 1, H_CALL_TIMEOUT_MS));
	/* The hold starts when the daemon reads the 429, after the fake sent it. */
	long long t429 = fake_call(f, 0)->answered_ms;
	EXPECT_INT(t, "status of the first call", 429, fake_call(f, 0)->answered);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-429b", "+5215558300012", "FlowR", "1990-01-02", true, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-429c", "+5215558300013", "FlowR", "1990-01-02", false, &m) == 0);
	EXPECT(t, h_mono_ms() < t429 + CF_RETRY_AFTER_S * 1000,
	       "expected the answers within the Retry-After, took %lld ms", h_mono_ms() - t429);
	EXPECT_INT(t, "calls once the Retry-After passed", 4,
	           fake_wait(f, 4, CF_RETRY_AFTER_S * 1000 + H_CALL_TIMEOUT_MS));
	for (int i = 1; i < 4; i++)
		EXPECT(t, fake_call(f, i)->at_ms + FAKE_RECV_TICK_MS >= t429 + CF_RETRY_AFTER_S * 1000,
		       "expected no send to Chatfuel within %d s of its 429 (Retry-After), got call %d "
		       "after %lld ms", CF_RETRY_AFTER_S, i, fake_call(f, i)->at_ms - t429);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
}

#define CF_RPS 5
#define CF_RESULTS 12
#define CF_WINDOW_MS 1000

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* Sends are paced evenly at chatfuel_rps: no sliding second holds more, and
 * none go out in a burst. Arrivals are the fake's kernel receive times, so a
 * loaded machine running the fake late cannot bunch them. */
static void test_chatfuel_pacing_in_a_sliding_second(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	d_set_int(d, "chatfuel_rps", CF_RPS);
	REQUIRE(t, d_start(d, NULL) == 0);
	for (int i = 0; i < CF_RESULTS; i++) {
		char cid[32], phone[32];
		struct minted m;
		snprintf(cid, sizeof cid, "cid-pace%d", i);
		snprintf(phone, sizeof phone, "+52155583001%02d", i);
		REQUIRE(t, mfa_mint_and_answer(d, cid, phone, "FlowP", "1990-01-02", i % 2 == 0, &m) == 0);
	}
	EXPECT_INT(t, "calls", CF_RESULTS, fake_wait(f, CF_RESULTS, CF_RESULTS * 1000 / CF_RPS + H_CALL_TIMEOUT_MS));
	long long from = 0;
	int most = fake_most_in_window(f, CF_WINDOW_MS, &from);
	EXPECT(t, most <= CF_RPS, "expected at most %d sends in any second (chatfuel_rps), got %d "
	       "in the second from %lld ms after the first", CF_RPS, most, from);
	long long at[CF_RESULTS];
	for (int i = 0; i < CF_RESULTS; i++)
		at[i] = fake_call(f, i)->at_ms;
	qsort(at, CF_RESULTS, sizeof at[0], cmp_ll);
	for (int i = 1; i < CF_RESULTS; i++)
		EXPECT(t, at[i] - at[i - 1] >= 1000 / CF_RPS / 2,
		       "expected sends paced about %d ms apart, got %lld ms between calls %d and %d",
		       1000 / CF_RPS, at[i] - at[i - 1], i - 1, i);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
}

/* ---- files ---- */

#define FS_LIMIT 1024               /* bytes: every write of the audit log fails past it */

static long mint_one(struct daemon *d, int i, char pid[PID_LEN])
{
	struct kc k;
	char *path = h_printf("/generate_dynamic_page?client_id=f%d&telefono=%%2B5215559%07d"
	                      "&flow_name=F&fecha_cumple=1990-01-02", i, i);
	char *url = d_api_url(d, path);
	long st;

	kc_init(&k, NULL);
	st = kc_req(&k, url, NULL, NULL, 10000);
	pid[0] = '\0';
	if (st == 200) {
		cJSON *o = cJSON_Parse(k.buf);
		const char *p = o ? j_str(o, "page_id") : NULL;
		snprintf(pid, PID_LEN, "%s", p ? p : "");
		cJSON_Delete(o);
	}
	kc_free(&k);
	free(url);
	free(path);
	return st;
}

/* RLIMIT_FSIZE reached: the write fails with EFBIG like a full disk (the
 * mint is refused, the daemon lives on), and once there is room again the
 * audit log is written. */
static void test_file_size_limit_is_an_error(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	char pid[PID_LEN];
	struct rlimit small = { FS_LIMIT, RLIM_INFINITY }, big = { RLIM_INFINITY, RLIM_INFINITY };
	int st = 0;

	d_set_int(d, "answer_wait", 1);
	REQUIRE(t, d_start(d, NULL) == 0);
	EXPECT_INT(t, "mint before the limit", 200, mint_one(d, 1, pid));
	EXPECT(t, prlimit(d->pid, RLIMIT_FSIZE, &small, NULL) == 0, "expected prlimit to set RLIMIT_FSIZE");
	long during = mint_one(d, 2, pid);
	pid_t gone = waitpid(d->pid, &st, WNOHANG);
	if (gone == d->pid) {
		d->pid = 0;
		FAILF(t, "expected the daemon to live on past RLIMIT_FSIZE, got it dead (%s %d)",
		      WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		return;
	}
	EXPECT_INT(t, "mint while the audit log cannot grow", 503, during);
	EXPECT(t, prlimit(d->pid, RLIMIT_FSIZE, &big, NULL) == 0, "expected prlimit to lift RLIMIT_FSIZE");
	EXPECT_INT(t, "mint once there is room again", 200, mint_one(d, 3, pid));
	EXPECT_INT(t, "minted row of the mint after the limit", 1, mfa_db_int(t, d->db_path, SQL_MINTED, pid));
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
	EXPECT_INT(t, "minted rows (the refused mint has none)", 2,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'minted'", NULL));
}

#define NOBODY 65534

/* Runs `mnmfa serve` as nobody against d's config; expects exit 1 and a
 * start-up error that names the directory and what is needed there. */
static void expect_db_error_as_nobody(struct t *t, struct daemon *d, const char *dir)
{
	const char *argv[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
	                       h_daemon_path, "serve", "--config", d->config_path, NULL };
	char *err = NULL, *want = h_printf("permission denied on directory %s", dir);
	int rc;

	REQUIRE(t, d_write_config(d) == 0);
	chmod(d->config_path, 0644);
	rc = h_run_prog(t, argv, NULL, NULL, &err);
	EXPECT_INT(t, "exit code of serve with an unwritable database directory", 1, rc);
	EXPECT(t, err != NULL && h_contains(err, want) && h_contains(err, "logs.db-wal"),
	       "expected the start-up error to say \"%s\" and name logs.db-wal, got: %s", want,
	       err ? h_tail(err, 3) : "(nothing)");
	free(want);
	free(err);
}

static void test_startup_db_errors_name_path_and_cause(struct t *t)
{
	struct daemon *d = edge_daemon(t);
	char *up = h_printf("%s/..", t->dir);
	char *noperm = h_printf("%s/noperm", t->dir), *ro = h_printf("%s/ro", t->dir);
	char *ro_db = h_printf("%s/logs.db", ro);
	const char *cp[] = { "/bin/cp", d->db_path, ro_db, NULL };

	REQUIRE(t, d_start(d, NULL) == 0);             /* certificate, key and a database */
	REQUIRE(t, d_stop(d) == 0);
	/* nobody may read the configuration and the pair, not write the directories */
	EXPECT(t, chmod(up, 0711) == 0 && chmod(t->dir, 0711) == 0 && chmod(d->dir, 0711) == 0 &&
	       chmod(d->cert_path, 0644) == 0 && chmod(d->key_path, 0644) == 0,
	       "expected to open the test directories to nobody");
	/* an unwritable directory, no database yet */
	EXPECT(t, mkdir(noperm, 0755) == 0, "expected to make %s", noperm);
	d_set_str(d, "db_path", h_printf("%s/logs.db", noperm));
	expect_db_error_as_nobody(t, d, noperm);
	/* a read-only directory holding nobody's database */
	EXPECT(t, mkdir(ro, 0755) == 0 && h_run_prog(t, cp, NULL, NULL, NULL) == 0 &&
	       chown(ro_db, NOBODY, NOBODY) == 0 && chown(ro, NOBODY, NOBODY) == 0 && chmod(ro, 0555) == 0,
	       "expected to make the read-only directory %s", ro);
	d_set_str(d, "db_path", ro_db);
	expect_db_error_as_nobody(t, d, ro);
	free(up);
	free(noperm);
	free(ro);
	free(ro_db);
}

/* ---- every answer leaves at once on a kept-alive connection ---- */

#define LA_ROUNDS 10
/* A response held back (corked in TLS or TCP with nothing left to push it) is
 * sent by the kernel's 200 ms cork limit or by the client's next request: the
 * LA_ROUNDS * 5 answers below would take 10 s; at once they take well under
 * a second on a loaded machine. */
#define LA_BUDGET_MS 5000

/* Small answers (/healthz, a 404), a page, a mint's and an answer's (both
 * deferred until their audit row is durable), one after another on one
 * kept-alive connection per port: each must leave when it is ready. */
static void test_answers_leave_at_once(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	struct kc api, web;
	long long t0, ms;
	int bad = 0;

	REQUIRE(t, d);
	d_del(d, "chatfuel_bot_id");
	d_del(d, "chatfuel_token");
	REQUIRE(t, d_start(d, NULL) == 0);
	char *health = d_web_url(d, "/healthz");
	char *unknown = d_web_url(d, "/AAAAAAAAAAAAAAAAAAAAAA");
	char *answer = d_web_url(d, "/validate_answer");
	kc_init(&api, d->api_tls ? d->cert_path : NULL);
	kc_init(&web, d->cert_path);
	t0 = h_mono_ms();
	for (int i = 0; i < LA_ROUNDS && bad == 0; i++) {
		char *path = h_printf("/generate_dynamic_page?client_id=la%d&telefono=%%2B5215558%07d"
		                      "&flow_name=F&fecha_cumple=1990-01-02", i, i);
		char *mint = d_api_url(d, path), *page = NULL, *body = NULL;
		long st[5];
		cJSON *o;
		const char *pid;

		st[0] = kc_req(&api, mint, NULL, NULL, 10000);
		o = st[0] == 200 ? cJSON_Parse(api.buf) : NULL;
		pid = o ? j_str(o, "page_id") : NULL;
		if (pid != NULL) {
			char *pp = h_printf("/%s", pid);
			page = d_web_url(d, pp);
			body = h_printf("page_id=%s&respuesta=none", pid);
			free(pp);
		}
		cJSON_Delete(o);
		st[1] = kc_req(&web, health, NULL, NULL, 10000);
		st[2] = kc_req(&web, unknown, NULL, NULL, 10000);
		st[3] = page ? kc_req(&web, page, NULL, NULL, 10000) : -1;
		st[4] = body ? kc_req(&web, answer, "application/x-www-form-urlencoded", body, 10000) : -1;
		if (st[0] != 200 || st[1] != 200 || st[2] != 404 || st[3] != 200 || st[4] != 303) {
			FAILF(t, "round %d: expected mint 200, /healthz 200, unknown page 404, page 200, answer "
			      "303, got %ld, %ld, %ld, %ld, %ld", i, st[0], st[1], st[2], st[3], st[4]);
			bad = 1;
		}
		free(path);
		free(mint);
		free(page);
		free(body);
	}
	ms = h_mono_ms() - t0;
	EXPECT(t, bad != 0 || ms < LA_BUDGET_MS,
	       "expected %d answers on two kept-alive connections within %d ms (each leaving when ready), "
	       "took %lld ms: answers are held back", LA_ROUNDS * 5, LA_BUDGET_MS, ms);
	kc_free(&api);
	kc_free(&web);
	free(health);
	free(unknown);
	free(answer);
}

/* A mint's and an answer's response wait for their audit row, are queued
 * from a resumed connection and leave as one TLS record (tlscork.c): with
 * `Connection: close` libmicrohttpd closes right after them, and they must
 * still arrive whole (the JSON with its page id, the 303 with its Location),
 * with their rows written. */
static void test_deferred_answers_whole_before_the_close(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	const char *close_hdr[] = { "Connection: close", NULL };
	struct resp r;
	cJSON *o;

	REQUIRE(t, d);
	d_del(d, "chatfuel_bot_id");
	d_del(d, "chatfuel_token");
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, d_api_h(d, "GET", "/generate_dynamic_page?client_id=dc1&telefono=%2B5215558100001"
	                   "&flow_name=F&fecha_cumple=1990-01-02", NULL, NULL, close_hdr, &r) == 0);
	EXPECT_INT(t, "mint status with Connection: close", 200, r.status);
	EXPECT(t, h_contains(resp_header(&r, "Connection") ? resp_header(&r, "Connection") : "", "close"),
	       "expected the mint's answer to say Connection: close, got %s",
	       resp_header(&r, "Connection") ? resp_header(&r, "Connection") : "(none)");
	o = resp_json(t, &r);
	const char *pid = o ? j_str(o, "page_id") : NULL;
	char *page_id = pid ? h_printf("%s", pid) : NULL;
	cJSON_Delete(o);
	resp_free(&r);
	REQUIRE(t, page_id != NULL);
	struct page pg;
	char buf[40];
	REQUIRE(t, mfa_get_page(d, page_id, &pg) == 0);
	char *ans = h_urlenc(mfa_right_answer(&pg, "1990-01-02", buf));
	mfa_page_free(&pg);
	char *body = h_printf("page_id=%s&respuesta=%s", page_id, ans);
	free(ans);
	char *url = d_web_url(d, "/validate_answer");
	struct req q = { .method = "POST", .url = url, .ctype = "application/x-www-form-urlencoded",
	                 .body = body, .headers = close_hdr, .cainfo = d->cert_path };
	REQUIRE(t, h_http(t, &q, &r) == 0);
	EXPECT_INT(t, "answer status with Connection: close", 303, r.status);
	EXPECT(t, resp_header(&r, "Location") != NULL && h_contains(resp_header(&r, "Location"), "wa.me"),
	       "expected the answer's 303 to carry its Location (wa.me), got %s",
	       resp_header(&r, "Location") ? resp_header(&r, "Location") : "(none)");
	resp_free(&r);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
	EXPECT_INT(t, "minted and approved rows of the link", 2,
	           mfa_db_int(t, d->db_path, "SELECT count(*) FROM audit_log WHERE page_id = ?1 AND "
	                      "event IN ('minted', 'approved')", page_id));
	free(body);
	free(url);
	free(page_id);
}

const struct test e2e_tests_edges[] = {
	{ "edges_sigterm_during_answers_from_12_clients", test_sigterm_during_answers, NULL },
	{ "edges_abandoned_answers_then_sigterm", test_abandoned_answers_then_sigterm, NULL },
	{ "edges_pending_at_stop_all_canceled", test_pending_at_stop_all_canceled, NULL },
	{ "edges_stop_past_deadline_ends_at_next_start", test_stop_past_deadline_ends_at_next_start, NULL },
	{ "edges_kill9_pending_ends_at_next_start", test_kill9_pending_ends_at_next_start, NULL },
	{ "edges_expiry_burst_each_row_and_result", test_expiry_burst_each_row_and_result, NULL },
	{ "edges_mints_during_db_lock", test_mints_during_db_lock, NULL },
	{ "edges_short_stop_with_mints_waiting", test_short_stop_with_mints_waiting, NULL },
	{ "edges_chatfuel_big_2xx_one_delivery", test_chatfuel_big_2xx_one_delivery, NULL },
	{ "edges_chatfuel_429_retry_after_holds_every_send", test_chatfuel_429_retry_after_holds_every_send, NULL },
	{ "edges_chatfuel_pacing_in_a_sliding_second", test_chatfuel_pacing_in_a_sliding_second, NULL },
	{ "edges_file_size_limit_is_an_error", test_file_size_limit_is_an_error, NULL },
	{ "edges_startup_db_errors_name_path_and_cause", test_startup_db_errors_name_path_and_cause, NULL },
	{ "edges_answers_leave_at_once_on_kept_alive_connections", test_answers_leave_at_once, NULL },
	{ "edges_deferred_answers_whole_before_the_close", test_deferred_answers_whole_before_the_close, NULL },
	{ NULL, NULL, NULL },
};
