/*
 * test_notify: delivery of results from the outbox against a fake Chatfuel
 * (and webhook) server: a plain-HTTP libmicrohttpd daemon on 127.0.0.1 inside
 * the test that answers from a script (500, 429, 200 with "success": false, a
 * hang past the client timeout, 400 ...) or is not there at all. Timing is
 * shortened with notify_start_timing so the file runs in seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "delivery.h"
#include "log.h"
#include "notify.h"
#include "util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN "tok-SECRET/4f9a&x=y"          /* needs escaping; "SECRET" is searched for */
#define HOOK_SECRET "whsec-SECRET-2"
#define CLIENT "user:42.a_b-c"
#define FLOW "Resultado & más/1?="
#define BOT "bot-1"
#define REQ_MAX 4096
#define SCRIPT_MAX 16
#define WAIT_MS 10000
/* The waits inside the code under test (notify_stop, audit_close, a join of
 * the sender) have no deadline of their own; the whole run has this one, so
 * that a hang there ends the run as a failure instead of stalling the suite. */
#define SUITE_DEADLINE_S 240

/* ---- the fake server --------------------------------------------------- */

enum act { ACT_OK = 0, ACT_FALSE, ACT_500, ACT_503, ACT_429, ACT_429_RA1, ACT_HANG, ACT_400,
           ACT_500_ECHO, ACT_400_ECHO, ACT_400_ECHO_CUT };

struct req {
	char method[8], path[256];
	char token[128], flow[256], block[256], validated[16];
	bool has_flow, has_block;
	char ctype[128], sig[256];
	char body[2048];
	int64_t at;                   /* mono_ms when the request was complete */
};

struct script {
	enum act act[SCRIPT_MAX];
	int n, pos;
};

struct fake {
	struct MHD_Daemon *d;
	int port;
	int hang_ms;
	pthread_mutex_t mu;
	struct script chatfuel, hook;  /* answers in order; then ACT_OK */
	struct req *reqs;
	int nreq;
};

struct conn_body {
	size_t len;
	char buf[2048];
};

static void fake_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static void copy_arg(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name,
                     char *out, size_t cap, bool *present)
{
	const char *v = MHD_lookup_connection_value(c, kind, name);

	if (present != NULL)
		*present = v != NULL;
	strlcpy_(out, v ? v : "", cap);
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
	struct fake *f = cls;
	struct conn_body *cb = *con_cls;
	struct script *s;
	struct req *r;
	struct MHD_Response *resp;
	char body[512];
	enum act act;
	unsigned status = 200;
	enum MHD_Result ret;

	(void)version;
	if (cb == NULL) {
		*con_cls = calloc(1, sizeof *cb);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t room = sizeof cb->buf - 1 - cb->len;
		size_t n = *upload_data_size < room ? *upload_data_size : room;
		memcpy(cb->buf + cb->len, upload_data, n);
		cb->len += n;
		cb->buf[cb->len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}

	pthread_mutex_lock(&f->mu);
	s = strncmp(url, "/hook", 5) == 0 ? &f->hook : &f->chatfuel;
	act = s->pos < s->n ? s->act[s->pos++] : ACT_OK;
	if (f->nreq < REQ_MAX) {
		r = &f->reqs[f->nreq++];
		strlcpy_(r->method, method, sizeof r->method);
		strlcpy_(r->path, url, sizeof r->path);
		copy_arg(c, MHD_GET_ARGUMENT_KIND, "chatfuel_token", r->token, sizeof r->token, NULL);
		copy_arg(c, MHD_GET_ARGUMENT_KIND, "chatfuel_flow_name", r->flow, sizeof r->flow,
		         &r->has_flow);
		copy_arg(c, MHD_GET_ARGUMENT_KIND, "chatfuel_block_name", r->block, sizeof r->block,
		         &r->has_block);
		copy_arg(c, MHD_GET_ARGUMENT_KIND, "user_validated", r->validated, sizeof r->validated,
		         NULL);
		copy_arg(c, MHD_HEADER_KIND, "Content-Type", r->ctype, sizeof r->ctype, NULL);
		copy_arg(c, MHD_HEADER_KIND, "X-Mnmfa-Signature", r->sig, sizeof r->sig, NULL);
		memcpy(r->body, cb->buf, cb->len + 1);
		r->at = mono_ms();
	}
	pthread_mutex_unlock(&f->mu);

	snprintf(body, sizeof body, "{\"success\": true, \"result\": \"ok\"}");
	switch (act) {
	case ACT_OK:
		break;
	case ACT_FALSE:
		snprintf(body, sizeof body, "{\"success\": false, \"result\": \"try later\"}");
		break;
	case ACT_500:
		status = 500;
		snprintf(body, sizeof body, "internal error");
		break;
	case ACT_503:
		status = 503;
		snprintf(body, sizeof body, "unavailable");
		break;
	case ACT_429:
	case ACT_429_RA1:
		status = 429;
		snprintf(body, sizeof body, "{\"success\": false, \"result\": \"slow down\"}");
		break;
	case ACT_HANG:
		usleep((useconds_t)f->hang_ms * 1000);
		break;
	case ACT_400:
		status = 400;
		snprintf(body, sizeof body, "{\"success\": false, \"result\": \"unknown flow\"}");
		break;
	case ACT_500_ECHO:
	case ACT_400_ECHO: {
		/* a careless server that repeats the request's token back */
		const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "chatfuel_token");
		status = act == ACT_500_ECHO ? 500 : 400;
		snprintf(body, sizeof body, "bad request: chatfuel_token=%s", t ? t : "");
		break;
	}
	case ACT_400_ECHO_CUT: {
		/* the echoed token starts 12 bytes before the 200-byte excerpt ends */
		const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "chatfuel_token");
		static const char key[] = "chatfuel_token=";
		int pad = DELIVERY_EXCERPT_MAX - 12 - (int)(sizeof key - 1);
		status = 400;
		snprintf(body, sizeof body, "%*s%s%s", pad, "", key, t ? t : "");
		memset(body, 'x', (size_t)pad);
		break;
	}
	}
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (act == ACT_429_RA1)
		MHD_add_response_header(resp, "Retry-After", "1");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int fake_listen(struct fake *f, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                        (uint16_t)port, NULL, NULL, fake_handler, f,
	                        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_NOTIFY_COMPLETED, fake_completed, NULL,
	                        MHD_OPTION_END);
	if (f->d == NULL)
		return -1;
	f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
	return 0;
}

static void fake_stop(struct fake *f)
{
	if (f->d != NULL)
		MHD_stop_daemon(f->d);
	f->d = NULL;
}

static int fake_count(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->nreq;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* A port on which nothing listens (it was free a moment ago). */
static int closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- the environment of one case --------------------------------------- */

struct env {
	char dir[64], db[128], base[64], hook[80], errlog[128];
	struct config cfg;
	struct notify_timing timing;
	struct fake fake;
	struct notify *n;
	struct audit *a;
	int saved_stderr;
};

static int env_setup(void **state)
{
	struct env *e = xcalloc(1, sizeof *e);

	strcpy(e->dir, "/tmp/mnmfa-notify-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->db, sizeof e->db, "%s/logs.db", e->dir);
	snprintf(e->errlog, sizeof e->errlog, "%s/stderr.txt", e->dir);
	pthread_mutex_init(&e->fake.mu, NULL);
	e->fake.reqs = xcalloc(REQ_MAX, sizeof *e->fake.reqs);
	e->fake.hang_ms = 700;
	if (fake_listen(&e->fake, 0) != 0)
		return -1;
	snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d", e->fake.port);
	snprintf(e->hook, sizeof e->hook, "http://127.0.0.1:%d/hook", e->fake.port);
	e->cfg.db_path = e->db;
	e->cfg.chatfuel_bot_id = (char *)BOT;
	e->cfg.chatfuel_token = (char *)TOKEN;
	e->cfg.chatfuel_base_url = e->base;
	e->cfg.chatfuel_target = CHATFUEL_TARGET_FLOW;
	e->cfg.chatfuel_rps = 1000;
	e->cfg.result_max_age = 900;
	e->timing = (struct notify_timing){ .backoff_base_ms = 40, .backoff_cap_ms = 200,
	                                    .http_timeout_ms = 300, .stop_grace_ms = 200 };
	/* The log goes to a file each case can read (and search for secrets). */
	fflush(stderr);
	e->saved_stderr = dup(2);
	int fd = open(e->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	*state = e;
	return 0;
}

static void env_stop(struct env *e)
{
	audit_close(e->a);          /* main's order: audit first, then the sender */
	e->a = NULL;
	notify_stop(e->n);
	e->n = NULL;
}

/* cmocka prints a failed check's message to stderr, which is the case's log
 * file here: the lines of it that are not log lines go to the real stderr,
 * so a failure says why before the file is removed. */
static void relay_failure_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (f == NULL)
		return;
	while (getline(&line, &cap, f) > 0)
		if (!isdigit((unsigned char)line[0]) && strncmp(line, "{\"time\"", 7) != 0)
			fputs(line, stderr);
	free(line);
	fclose(f);
}

static int env_teardown(void **state)
{
	struct env *e = *state;
	DIR *d;
	struct dirent *de;

	env_stop(e);
	fake_stop(&e->fake);
	fflush(stderr);
	dup2(e->saved_stderr, 2);
	close(e->saved_stderr);
	relay_failure_lines(e->errlog);
	log_init(LOG_ERROR, false);
	d = opendir(e->dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		char p[512];
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", e->dir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(e->dir);
	pthread_mutex_destroy(&e->fake.mu);
	free(e->fake.reqs);
	free(e);
	return 0;
}

static void env_start(struct env *e)
{
	e->n = notify_start_timing(&e->cfg, &e->timing);
	assert_non_null(e->n);
	e->a = audit_open(&e->cfg, notify_wake, e->n);
	assert_non_null(e->a);
}

static void script(struct script *s, int n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		s->act[i] = (enum act)va_arg(ap, int);
	va_end(ap);
	s->n = n;
	s->pos = 0;
}

static void decide(struct env *e, struct audit *a, enum audit_kind kind, const char *client,
                   bool validated)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof ev);
	ev.kind = kind;
	strcpy(ev.page_id, "AAAAAAAAAAAAAAAAAAAAAA");
	ev.client_id = client;
	ev.phone = "+5215550000000";
	ev.flow = FLOW;
	ev.ip = "127.0.0.1";
	ev.notify = true;
	ev.validated = validated;
	ev.ts_ms = 1795000000123LL;
	(void)e;
	assert_int_equal(audit_submit(a, &ev, NULL, NULL), 0);
}

static int64_t db_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *db_text(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Polls until the query returns want, or fails the case after WAIT_MS. */
static void wait_for(struct env *e, const char *sql, int64_t want)
{
	int64_t deadline = mono_ms() + WAIT_MS, got = -1;

	while (mono_ms() < deadline) {
		got = db_int(e->db, sql);
		if (got == want)
			return;
		usleep(20 * 1000);
	}
	fail_msg("waited %d ms for `%s` to be %lld; it is %lld", WAIT_MS, sql, (long long)want,
	         (long long)got);
}

/* Polls until the fake has seen at least n requests, or fails after WAIT_MS. */
static void wait_requests(struct env *e, int n)
{
	int64_t deadline = mono_ms() + WAIT_MS;

	while (fake_count(&e->fake) < n) {
		if (mono_ms() >= deadline)
			fail_msg("waited %d ms for %d requests; the fake has seen %d", WAIT_MS, n,
			         fake_count(&e->fake));
		usleep(10 * 1000);
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*len = 0;
	if (f == NULL)
		return xstrdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void expect_chatfuel_request(const struct req *r, const char *client, bool block,
                                    const char *validated)
{
	char path[256];

	snprintf(path, sizeof path, "/bots/%s/users/%s/send", BOT, client);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, path);
	assert_string_equal(r->token, TOKEN);
	assert_int_equal(r->has_flow, !block);
	assert_int_equal(r->has_block, block);
	assert_string_equal(block ? r->block : r->flow, FLOW);
	assert_string_equal(r->validated, validated);
	assert_string_equal(r->ctype, "application/json");
	assert_string_equal(r->body, "{}");
}

/* ---- cases ------------------------------------------------------------- */

static void test_result_arrives_through_every_kind_of_failure(void **state)
{
	struct env *e = *state;

	script(&e->fake.chatfuel, 5, ACT_500, ACT_429, ACT_FALSE, ACT_HANG, ACT_OK);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 1);
	assert_int_equal(fake_count(&e->fake), 5);
	for (int i = 0; i < 5; i++)
		expect_chatfuel_request(&e->fake.reqs[i], CLIENT, false, "true");
	assert_int_equal(db_int(e->db, "SELECT attempts FROM outbox"), 5);
	assert_int_equal(db_int(e->db, "SELECT http_status FROM outbox"), 200);
	assert_int_equal(db_int(e->db, "SELECT last_error IS NULL AND done_ms > 0 FROM outbox"), 1);
	/* sent once: nothing more arrives */
	usleep(200 * 1000);
	assert_int_equal(fake_count(&e->fake), 5);
}

static void test_block_target_and_denied_result(void **state)
{
	struct env *e = *state;

	e->cfg.chatfuel_target = CHATFUEL_TARGET_BLOCK;
	env_start(e);
	decide(e, e->a, AUDIT_DENIED, "c2", false);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 1);
	assert_int_equal(fake_count(&e->fake), 1);
	expect_chatfuel_request(&e->fake.reqs[0], "c2", true, "false");
}

static void test_retry_after_is_honoured(void **state)
{
	struct env *e = *state;

	script(&e->fake.chatfuel, 1, ACT_429_RA1);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 1);
	assert_int_equal(fake_count(&e->fake), 2);
	if (e->fake.reqs[1].at - e->fake.reqs[0].at < 900)
		fail_msg("Retry-After: 1 should delay the retry by a second, it came after %lld ms",
		         (long long)(e->fake.reqs[1].at - e->fake.reqs[0].at));
}

/* The loop wakes when a retry comes due, not at its one-second safety net:
 * three backoffs of at most 40, 80 and 160 ms take well under the 3 s that
 * three idle sleeps would. */
static void test_retries_go_out_when_due(void **state)
{
	struct env *e = *state;
	int64_t took;

	script(&e->fake.chatfuel, 3, ACT_500, ACT_500, ACT_500);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 1);
	assert_int_equal(fake_count(&e->fake), 4);
	took = e->fake.reqs[3].at - e->fake.reqs[0].at;
	if (took > 1500)
		fail_msg("three retries with backoff <= 160 ms took %lld ms: the loop slept past "
		         "their due time", (long long)took);
}

static void test_client_error_fails_the_row_without_retry(void **state)
{
	struct env *e = *state;
	char *err;

	script(&e->fake.chatfuel, 1, ACT_400);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'failed'", 1);
	err = db_text(e->db, "SELECT last_error FROM outbox");
	assert_non_null(err);
	if (strstr(err, "400") == NULL || strstr(err, "unknown flow") == NULL)
		fail_msg("last_error should keep the status and Chatfuel's reason, it is: %s", err);
	free(err);
	assert_int_equal(db_int(e->db, "SELECT http_status FROM outbox"), 400);
	assert_int_equal(db_int(e->db, "SELECT attempts FROM outbox"), 1);
	usleep(300 * 1000);
	assert_int_equal(fake_count(&e->fake), 1);
}

static void test_server_down_then_up(void **state)
{
	struct env *e = *state;
	int port = closed_port();
	char *err;

	fake_stop(&e->fake);
	snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d", port);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT attempts >= 2 FROM outbox", 1);
	assert_int_equal(db_int(e->db, "SELECT state = 'pending' FROM outbox"), 1);
	err = db_text(e->db, "SELECT last_error FROM outbox");
	assert_non_null(err);
	assert_non_null(strstr(err, "onnect"));
	free(err);
	assert_int_equal(fake_listen(&e->fake, port), 0);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 1);
	assert_int_equal(fake_count(&e->fake), 1);
	expect_chatfuel_request(&e->fake.reqs[0], CLIENT, false, "true");
}

#define MAX_AGE_TEST_MS 1500
#define MAX_AGE_BACKOFF_MS (4 * MAX_AGE_TEST_MS)   /* a retry >= half of it away: past the age */

static void test_expires_past_max_age(void **state)
{
	struct env *e = *state;
	char *err, got[DELIVERY_ERROR_MAX];
	bool ok;

	script(&e->fake.chatfuel, 1, ACT_500);
	/* Long enough that the first attempt (and its 500) comes before the age
	 * runs out even when the sender thread is scheduled late (it once was,
	 * past 300 ms, under load 20: the row expired with no HTTP 500 in it).
	 * The retry after it is at least MAX_AGE_BACKOFF_MS / 2 away, so it
	 * would pass the age: the row expires then, by that check alone (with
	 * retries due before the age, a late sender could reach one only past
	 * it, and the scan's check would expire the row instead). */
	e->timing.max_age_ms = MAX_AGE_TEST_MS;
	e->timing.backoff_base_ms = e->timing.backoff_cap_ms = MAX_AGE_BACKOFF_MS;
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'expired'", 1);
	assert_int_equal(fake_count(&e->fake), 1);
	err = db_text(e->db, "SELECT last_error FROM outbox");
	assert_non_null(err);
	ok = strstr(err, "next retry would pass result_max_age") != NULL && strstr(err, "HTTP 500") != NULL;
	snprintf(got, sizeof got, "%s", err);
	free(err);
	if (!ok)
		fail_msg("last_error should say the next retry would pass result_max_age, after HTTP 500; "
		         "it is: %s", got);
}

static void test_webhook_is_signed(void **state)
{
	struct env *e = *state;
	uint8_t mac[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1], v1[80], *msg;
	long long t;
	struct req *r;
	cJSON *j;

	e->cfg.chatfuel_bot_id = NULL;       /* webhook only; Chatfuel in dry run */
	e->cfg.chatfuel_token = NULL;
	e->cfg.webhook_url = e->hook;
	e->cfg.webhook_secret = (char *)HOOK_SECRET;
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE kind = 'webhook' AND state = 'sent'", 1);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE kind = 'chatfuel' AND "
	                               "state = 'skipped'"), 1);
	assert_int_equal(fake_count(&e->fake), 1);
	r = &e->fake.reqs[0];
	assert_string_equal(r->path, "/hook");
	assert_string_equal(r->ctype, "application/json");
	if (sscanf(r->sig, "t=%lld,v1=%79s", &t, v1) != 2)
		fail_msg("X-Mnmfa-Signature should be t=UNIX,v1=HEX, it is '%s'", r->sig);
	assert_true(llabs(t - now_ms() / 1000) < 30);
	msg = xmalloc(strlen(r->body) + 32);
	sprintf(msg, "%lld.%s", t, r->body);
	crypto_hmac_sha256(HOOK_SECRET, strlen(HOOK_SECRET), msg, strlen(msg), mac);
	hex_encode(mac, sizeof mac, hex);
	assert_string_equal(v1, hex);
	free(msg);
	j = cJSON_Parse(r->body);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, "challenge.approved");
	assert_string_equal(cJSON_GetObjectItem(j, "page_id")->valuestring, "AAAAAAAAAAAAAAAAAAAAAA");
	assert_string_equal(cJSON_GetObjectItem(j, "client_id")->valuestring, CLIENT);
	assert_string_equal(cJSON_GetObjectItem(j, "phone")->valuestring, "+5215550000000");
	assert_string_equal(cJSON_GetObjectItem(j, "flow_name")->valuestring, FLOW);
	assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "approved");
	assert_string_equal(cJSON_GetObjectItem(j, "decided_at")->valuestring,
	                    "2026-11-18T11:06:40.123Z");
	cJSON_Delete(j);
}

static void test_webhook_5xx_is_retried(void **state)
{
	struct env *e = *state;

	e->cfg.webhook_url = e->hook;
	e->cfg.webhook_secret = (char *)HOOK_SECRET;
	script(&e->fake.hook, 2, ACT_503, ACT_500);
	env_start(e);
	decide(e, e->a, AUDIT_DENIED, CLIENT, false);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 2);
	assert_int_equal(db_int(e->db, "SELECT attempts FROM outbox WHERE kind = 'webhook'"), 3);
	assert_int_equal(db_int(e->db, "SELECT attempts FROM outbox WHERE kind = 'chatfuel'"), 1);
}

static bool contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void test_secrets_never_in_log_or_database(void **state)
{
	struct env *e = *state;
	char path[160], *buf, *err;
	size_t len;

	log_init(LOG_DEBUG, false);
	e->cfg.webhook_url = e->hook;
	e->cfg.webhook_secret = (char *)HOOK_SECRET;
	script(&e->fake.chatfuel, 2, ACT_500_ECHO, ACT_400_ECHO);
	script(&e->fake.hook, 1, ACT_500);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state IN ('sent', 'failed')", 2);
	err = db_text(e->db, "SELECT last_error FROM outbox WHERE kind = 'chatfuel'");
	assert_non_null(err);
	assert_non_null(strstr(err, "[redacted]"));
	free(err);
	env_stop(e);
	fflush(stderr);

	buf = slurp(e->errlog, &len);
	assert_true(contains(buf, len, "retry in"));      /* the log did record the failures */
	assert_true(contains(buf, len, "/bots/" BOT "/users/"));
	if (contains(buf, len, "SECRET"))
		fail_msg("a secret reached the log:\n%s", buf);
	free(buf);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s%s", e->db, i == 0 ? "" : i == 1 ? "-wal" : "-shm");
		buf = slurp(path, &len);
		if (contains(buf, len, "SECRET"))
			fail_msg("a secret is stored in %s", path);
		free(buf);
	}
}

/* Redaction comes before the excerpt is cut: a token echoed across the
 * 200-byte cut leaves none of itself in last_error or the log. */
static void test_token_across_the_excerpt_cut_leaves_no_prefix(void **state)
{
	struct env *e = *state;
	char *buf, *err;
	size_t len;

	log_init(LOG_DEBUG, false);
	script(&e->fake.chatfuel, 1, ACT_400_ECHO_CUT);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'failed'", 1);
	err = db_text(e->db, "SELECT last_error FROM outbox WHERE kind = 'chatfuel'");
	assert_non_null(err);
	assert_non_null(strstr(err, "HTTP 400: xxxx"));
	if (strstr(err, "tok-") != NULL)
		fail_msg("a prefix of the token is in last_error: %s", err);
	free(err);
	env_stop(e);
	fflush(stderr);
	buf = slurp(e->errlog, &len);
	assert_true(contains(buf, len, "HTTP 400: xxxx"));
	if (contains(buf, len, "tok-"))
		fail_msg("a prefix of the token reached the log:\n%s", buf);
	free(buf);
}

static void test_pending_rows_are_sent_after_start(void **state)
{
	struct env *e = *state;
	struct audit *a;
	char client[16];

	/* A daemon that wrote its decisions and died before sending them. */
	a = audit_open(&e->cfg, NULL, NULL);
	assert_non_null(a);
	for (int i = 0; i < 5; i++) {
		snprintf(client, sizeof client, "c%d", i);
		decide(e, a, AUDIT_APPROVED, client, true);
	}
	audit_close(a);
	assert_int_equal(db_int(e->db, "SELECT count(*) FROM outbox WHERE state = 'pending'"), 5);
	assert_int_equal(fake_count(&e->fake), 0);

	e->n = notify_start_timing(&e->cfg, &e->timing);
	assert_non_null(e->n);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 5);
	assert_int_equal(fake_count(&e->fake), 5);
	for (int i = 0; i < 5; i++) {
		bool seen = false;
		snprintf(client, sizeof client, "c%d", i);
		for (int k = 0; k < 5; k++)
			seen |= strstr(e->fake.reqs[k].path, client) != NULL;
		assert_true(seen);
	}
}

static void test_dry_run_without_credentials(void **state)
{
	struct env *e = *state;
	char *buf;
	size_t len;

	e->cfg.chatfuel_bot_id = NULL;
	e->cfg.chatfuel_token = NULL;
	log_init(LOG_INFO, false);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'skipped'", 1);
	usleep(100 * 1000);
	assert_int_equal(fake_count(&e->fake), 0);
	fflush(stderr);
	buf = slurp(e->errlog, &len);
	assert_true(contains(buf, len, "dry run: results are only audited"));
	free(buf);
}

static void test_rate_limit_per_second(void **state)
{
	struct env *e = *state;
	char client[16];

	e->cfg.chatfuel_rps = 4;
	env_start(e);
	for (int i = 0; i < 6; i++) {
		snprintf(client, sizeof client, "c%d", i);
		decide(e, e->a, AUDIT_APPROVED, client, true);
	}
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", 6);
	assert_int_equal(fake_count(&e->fake), 6);
	/* never more than 4 in any second */
	for (int i = 4; i < 6; i++) {
		int64_t gap = e->fake.reqs[i].at - e->fake.reqs[i - 4].at;
		if (gap < 900)
			fail_msg("requests %d and %d came %lld ms apart; at 4/s they need a second",
			         i - 4, i, (long long)gap);
	}
}

static void test_stop_is_prompt_with_a_request_in_flight(void **state)
{
	struct env *e = *state;
	int64_t t0;

	e->timing.http_timeout_ms = 10000;
	e->fake.hang_ms = 1000;
	script(&e->fake.chatfuel, 1, ACT_HANG);
	env_start(e);
	decide(e, e->a, AUDIT_APPROVED, CLIENT, true);
	wait_requests(e, 1);
	audit_close(e->a);
	e->a = NULL;
	t0 = mono_ms();
	notify_stop(e->n);
	e->n = NULL;
	if (mono_ms() - t0 > 800)
		fail_msg("notify_stop took %lld ms", (long long)(mono_ms() - t0));
	/* not answered: still pending, for the next start */
	assert_int_equal(db_int(e->db, "SELECT state = 'pending' AND attempts = 0 FROM outbox"), 1);
}

#define CC_THREADS 8
#define CC_EACH 200

struct cc {
	struct env *e;
	int t;
	bool gave_up;                   /* the queue stayed full for WAIT_MS */
};

static void *cc_thread(void *arg)
{
	struct cc *c = arg;
	struct audit_event ev;
	char client[32];

	for (int i = 0; i < CC_EACH; i++) {
		memset(&ev, 0, sizeof ev);
		ev.kind = AUDIT_APPROVED;
		snprintf(ev.page_id, sizeof ev.page_id, "t%dp%d", c->t, i);
		snprintf(client, sizeof client, "c%d-%d", c->t, i);
		ev.client_id = client;
		ev.phone = "+5215550000000";
		ev.flow = "f";
		ev.notify = true;
		ev.validated = true;
		int64_t deadline = mono_ms() + WAIT_MS;
		while (audit_submit(c->e->a, &ev, NULL, NULL) != 0) {
			if (mono_ms() >= deadline) {
				c->gave_up = true;      /* fail_msg is for the main thread only */
				return NULL;
			}
			usleep(100);
		}
	}
	return NULL;
}

static void test_decisions_and_deliveries_run_together(void **state)
{
	struct env *e = *state;
	struct cc c[CC_THREADS];
	pthread_t th[CC_THREADS];
	struct audit_verify v;
	char *buf;
	size_t len;

	/* Exactly once here needs answers within the timeout even under sanitizers. */
	e->timing.http_timeout_ms = 5000;
	env_start(e);
	for (int t = 0; t < CC_THREADS; t++) {
		c[t] = (struct cc){ e, t, false };
		assert_int_equal(pthread_create(&th[t], NULL, cc_thread, &c[t]), 0);
	}
	for (int t = 0; t < CC_THREADS; t++) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += WAIT_MS / 1000 * 2;       /* each thread's submits are bounded too */
		if (pthread_timedjoin_np(th[t], NULL, &until) != 0)
			fail_msg("submitter %d still running after %d ms", t, WAIT_MS * 2);
		if (c[t].gave_up)
			fail_msg("submitter %d found the audit queue full for %d ms", t, WAIT_MS);
	}
	wait_for(e, "SELECT count(*) FROM outbox WHERE state = 'sent'", CC_THREADS * CC_EACH);
	env_stop(e);
	assert_int_equal(fake_count(&e->fake), CC_THREADS * CC_EACH);
	assert_int_equal(audit_verify_chain(e->db, &v), 0);
	assert_int_equal(v.rows, CC_THREADS * CC_EACH);
	fflush(stderr);
	buf = slurp(e->errlog, &len);
	if (contains(buf, len, "locked") || contains(buf, len, "error"))
		fail_msg("the log should be clean, it says: %s", buf);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
		T(test_result_arrives_through_every_kind_of_failure),
		T(test_block_target_and_denied_result),
		T(test_retry_after_is_honoured),
		T(test_retries_go_out_when_due),
		T(test_client_error_fails_the_row_without_retry),
		T(test_server_down_then_up),
		T(test_expires_past_max_age),
		T(test_webhook_is_signed),
		T(test_webhook_5xx_is_retried),
		T(test_secrets_never_in_log_or_database),
		T(test_token_across_the_excerpt_cut_leaves_no_prefix),
		T(test_pending_rows_are_sent_after_start),
		T(test_dry_run_without_credentials),
		T(test_rate_limit_per_second),
		T(test_stop_is_prompt_with_a_request_in_flight),
		T(test_decisions_and_deliveries_run_together),
#undef T
	};

	log_init(LOG_ERROR, false);
	alarm(SUITE_DEADLINE_S);           /* SIGALRM's default action ends the process */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
