/*
 * soak: `make soak` (not part of `make test`). Three minutes of the sanitizer
 * build under load with faults: clients mint, answer (right, wrong, never)
 * and let links expire while Chatfuel goes down, hangs and answers 429, the
 * audit database is locked, SIGHUP reloads the certificate and SIGTERM stops
 * the daemon, which is started again. At the end every minted challenge must
 * have ended in the log exactly once (decided, expired, canceled or locked),
 * no end row may lack its minted row, every stop must have exited 0, and
 * ASan/UBSan must have reported nothing in any run's stderr.
 *
 * soak MNMFA_BINARY [SECONDS]  (default SOAK_SECONDS)
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"

#define SOAK_SECONDS 180
#define SOAK_CLIENTS 4
#define SOAK_PHASE_MS 6000          /* one fault, then calm, in turn */

struct soak {
	struct daemon *d;
	atomic_bool done;
	atomic_bool down;               /* the daemon is being restarted */
	_Atomic long mints, ok_mints, answers, n503, errors;
};

static long req(struct daemon *d, const char *method, const char *url, const char *ctype,
                const char *body, char *out, size_t cap)
{
	struct req q = { .method = method, .url = url, .ctype = ctype, .body = body,
	                 .cainfo = d->cert_path };
	struct resp r;
	long st;

	if (h_http(NULL, &q, &r) != 0)
		return -1;
	st = r.status;
	if (out != NULL)
		snprintf(out, cap, "%s", r.body ? r.body : "");
	resp_free(&r);
	return st;
}

static void *client(void *arg)
{
	struct soak *s = arg;
	static _Atomic int seq;
	char buf[2048];

	while (!atomic_load(&s->done)) {
		int i = atomic_fetch_add(&seq, 1);
		char *url, *body;
		long st;

		if (atomic_load(&s->down)) {
			h_sleep_ms(50);
			continue;
		}
		url = d_api_url(s->d, "/v1/challenges");
		body = h_printf("{\"client_id\":\"s%d\",\"phone\":\"+52155%08d\",\"flow_name\":\"F\","
		                "\"dob\":\"1990-01-02\",\"expires_in\":10}", i, i % 5000);
		st = req(s->d, "POST", url, "application/json", body, buf, sizeof buf);
		free(url);
		free(body);
		atomic_fetch_add(&s->mints, 1);
		if (st == 503) {
			atomic_fetch_add(&s->n503, 1);
			h_sleep_ms(100);
			continue;
		}
		if (st != 201) {
			if (st != -1 && st != 429)
				atomic_fetch_add(&s->errors, 1);
			h_sleep_ms(20);
			continue;
		}
		atomic_fetch_add(&s->ok_mints, 1);
		if (i % 3 == 2)
			continue;               /* never answered: it expires or is canceled */
		cJSON *o = cJSON_Parse(buf);
		const char *id = o ? j_str(o, "id") : NULL;
		if (id != NULL) {
			char *form = h_printf("page_id=%s&respuesta=%d", id, i % 7);
			url = d_web_url(s->d, "/validate_answer");
			st = req(s->d, "POST", url, "application/x-www-form-urlencoded", form, NULL, 0);
			if (st != 303 && st != 503 && st != 404 && st != -1)
				atomic_fetch_add(&s->errors, 1);
			atomic_fetch_add(&s->answers, 1);
			free(url);
			free(form);
		}
		cJSON_Delete(o);
	}
	return NULL;
}

/* Scans the run's stderr for sanitizer reports; -1 if there is one. */
static int scan_sanitizers(struct t *t, struct daemon *d, int run)
{
	char *log = h_read_file(d->err_path, NULL);
	int rc = 0;

	if (log != NULL && (strstr(log, "AddressSanitizer") || strstr(log, "runtime error:") ||
	                    strstr(log, "LeakSanitizer") || strstr(log, "UndefinedBehaviorSanitizer"))) {
		FAILF(t, "run %d: the sanitizers reported: %s", run, h_tail(log, 30));
		rc = -1;
	}
	if (log != NULL) {
		char *keep = h_printf("%s/stderr-run%d.log", d->dir, run);
		h_write_file(keep, log, strlen(log));
		free(keep);
	}
	free(log);
	return rc;
}

static long long count(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

#define ENDS "('approved','denied','expired','canceled','locked')"

static void soak(struct t *t, int seconds)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	struct soak s = { .d = d };
	pthread_t th[SOAK_CLIENTS];
	int run = 0, phase = 0, restarts = 0;
	long long end = h_mono_ms() + (long long)seconds * 1000;

	d_set_bool(d, "api_tls", false);
	d_set_bool(d, "notify_on_expiry", true);
	d_set_int(d, "answer_wait", 2);
	d_set_int(d, "threads", 2);
	REQUIRE(t, d_start(d, NULL) == 0);
	for (int i = 0; i < SOAK_CLIENTS; i++)
		pthread_create(&th[i], NULL, client, &s);
	while (h_mono_ms() < end && !t->failed) {
		switch (phase++ % 7) {
		case 0:
			printf("soak: Chatfuel down (503)\n");
			fake_fail_next(f, 503, 1000000);
			h_sleep_ms(SOAK_PHASE_MS);
			fake_fail_next(f, 503, 0);
			break;
		case 1:
			printf("soak: Chatfuel hanging (3 s answers)\n");
			fake_delay(f, 3000);
			h_sleep_ms(SOAK_PHASE_MS);
			fake_delay(f, 0);
			break;
		case 2:
			printf("soak: Chatfuel 429 with Retry-After 2\n");
			fake_retry_after(f, 2);
			fake_fail_next(f, 429, 20);
			h_sleep_ms(SOAK_PHASE_MS);
			fake_fail_next(f, 429, 0);
			fake_retry_after(f, 0);
			break;
		case 3: {
			sqlite3 *db = NULL;
			printf("soak: audit database locked for 4 s\n");
			if (sqlite3_open(d->db_path, &db) == SQLITE_OK) {
				sqlite3_busy_timeout(db, 5000);
				if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
					h_sleep_ms(4000);
					sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
				}
			}
			sqlite3_close(db);
			h_sleep_ms(SOAK_PHASE_MS - 4000);
			break;
		}
		case 4:
			printf("soak: SIGHUP\n");
			kill(d->pid, SIGHUP);
			h_sleep_ms(SOAK_PHASE_MS);
			break;
		case 5:
			printf("soak: SIGTERM under load, then a restart\n");
			atomic_store(&s.down, true);
			if (d_stop_within(d, SIGTERM, 10000) != 0)
				break;
			scan_sanitizers(t, d, run++);
			d->stopped = false;
			restarts++;
			if (d_start(d, NULL) != 0)
				break;
			atomic_store(&s.down, false);
			h_sleep_ms(SOAK_PHASE_MS);
			break;
		default:
			printf("soak: calm\n");
			h_sleep_ms(SOAK_PHASE_MS);
			break;
		}
		fflush(stdout);
	}
	atomic_store(&s.done, true);
	for (int i = 0; i < SOAK_CLIENTS; i++)
		pthread_join(th[i], NULL);
	if (d->pid > 0 && d_stop_within(d, SIGTERM, 10000) == 0)
		scan_sanitizers(t, d, run++);
	BAIL(t);

	long long minted = count(d->db_path, "SELECT count(*) FROM audit_log WHERE event = 'minted'");
	long long unended = count(d->db_path,
	        "SELECT count(*) FROM (SELECT page_id FROM audit_log WHERE page_id IS NOT NULL "
	        "GROUP BY page_id HAVING sum(event = 'minted') = 1 AND sum(event IN " ENDS ") != 1)");
	long long orphans = count(d->db_path,
	        "SELECT count(*) FROM (SELECT page_id FROM audit_log WHERE page_id IS NOT NULL "
	        "GROUP BY page_id HAVING sum(event = 'minted') != 1)");
	long long rows = count(d->db_path, "SELECT count(*) FROM audit_log");
	printf("soak: %d s, %d restarts; %ld mints asked (%ld got 201, %ld got 503), %ld answers, "
	       "%ld unexpected statuses\n", seconds, restarts, s.mints, s.ok_mints, s.n503, s.answers,
	       s.errors);
	printf("soak: %lld audit rows, %lld minted challenges; %lld not ended exactly once, %lld rows "
	       "without their minted row; sanitizer reports: none in %d runs\n", rows, minted, unended,
	       orphans, run);
	EXPECT(t, minted > 0, "expected mints during the soak, got none");
	EXPECT(t, unended == 0, "expected every minted challenge to end in the log exactly once, got %lld "
	       "that did not", unended);
	EXPECT(t, orphans == 0, "expected no row without its minted row, got %lld pages", orphans);
	EXPECT(t, s.errors == 0, "expected only 201/503/429 mints and 303/503/404 answers, got %ld others",
	       s.errors);
}

int main(int argc, char **argv)
{
	static char daemon_abs[4096];
	struct t t;
	char root[200];
	int seconds = argc > 2 ? atoi(argv[2]) : SOAK_SECONDS;

	if (argc < 2 || seconds <= 0) {
		fprintf(stderr, "usage: %s MNMFA_BINARY [SECONDS]\n", argv[0]);
		return 2;
	}
	if (realpath(argv[1], daemon_abs) == NULL) {
		fprintf(stderr, "soak: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	h_daemon_path = daemon_abs;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(root, sizeof root, "/tmp/mnmfa-soak-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("soak: mkdtemp");
		return 2;
	}
	memset(&t, 0, sizeof t);
	t.name = "soak";
	snprintf(t.dir, sizeof t.dir, "%s/soak", root);
	if (mkdir(t.dir, 0700) != 0) {
		perror("soak: mkdir");
		return 2;
	}
	soak(&t, seconds);
	for (int i = 0; i < t.nd; i++)
		if (t.d[i]->pid > 0)
			d_stop_within(t.d[i], SIGTERM, 10000);
	for (int i = 0; i < t.nfakes; i++)
		fake_stop(t.fakes[i]);
	if (t.failed) {
		printf("soak: FAIL: %s (files kept in %s)\n", t.msg, root);
		return 1;
	}
	printf("soak: ok (files in %s)\n", root);
	return 0;
}
