/*
 * bench/writer: the audit writer's throughput, for `make bench` (not a test).
 *
 * Opens a fresh audit database in DIR (the writer thread, WAL,
 * synchronous=FULL, exactly as serve does), then BENCH_WRITER_THREADS
 * threads push ROWS "minted" events shaped like a mint's through
 * audit_submit; a refused submit (queue full: back-pressure) is retried after
 * a short pause, so every event is written. Times the first submit to the
 * last done callback and prints one line:
 *   WRITER rows=N seconds=S rows_per_s=R cpu_us_per_row=C writer_us_per_row=W groups=G refused=F
 * (cpu_us_per_row: the whole process, submitters and writer, per row;
 * writer_us_per_row: the writer thread's part, the process's CPU less the
 * submitters' -- 1e6 / it is what one free core would commit a second).
 * Usage: writer DIR [ROWS]
 */
#include "audit.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITER_ROWS_DEFAULT 200000
#define WRITER_THREADS 2
#define WRITER_PATH_MAX 4096
#define WRITER_RETRY_US 200       /* pause after a refused submit */

struct run {
	struct audit *a;
	long rows_per_thread;
	atomic_long done;
	atomic_long refused;
	_Atomic double submit_cpu;       /* seconds of CPU in the submitter threads */
	pthread_mutex_t lock;
	pthread_cond_t all_done;
	long total;
};

static void on_done(void *ctx, int rc)
{
	struct run *r = ctx;

	if (rc != 0) {
		fprintf(stderr, "writer: a group failed\n");
		exit(1);
	}
	if (atomic_fetch_add(&r->done, 1) + 1 == r->total) {
		pthread_mutex_lock(&r->lock);
		pthread_cond_signal(&r->all_done);
		pthread_mutex_unlock(&r->lock);
	}
}

/* splitmix64's finaliser: a counter to well-spread 64 bits. */
static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static atomic_int next_tid;

static void *submitter(void *arg)
{
	struct run *r = arg;
	int tid = atomic_fetch_add(&next_tid, 1);
	char client[64], phone[32];

	for (long i = 0; i < r->rows_per_thread; i++) {
		struct audit_event ev = {
			.kind = AUDIT_MINTED, .client_id = client, .phone = phone, .flow = "bench_flow",
			.ip = "127.0.0.1", .user_agent = "wrk",
		};
		/* Page ids are random in serve (the page_id index takes them in no
		 * order): a mixed counter, not a sequence. */
		snprintf(ev.page_id, sizeof ev.page_id, "%d%016llx%05ld", tid,
		         (unsigned long long)mix64((uint64_t)i * 2 + (uint64_t)tid), i % 100000);
		snprintf(client, sizeof client, "bench-%d-%ld", tid, i);
		snprintf(phone, sizeof phone, "52155%010ld", i);
		while (audit_submit(r->a, &ev, on_done, r) != 0) {
			atomic_fetch_add(&r->refused, 1);
			usleep(WRITER_RETRY_US);
		}
	}
	{
		struct timespec t;
		double cur, mine;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
		mine = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
		cur = atomic_load(&r->submit_cpu);
		while (!atomic_compare_exchange_weak(&r->submit_cpu, &cur, cur + mine))
			;
	}
	return NULL;
}

static double secs(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char db[WRITER_PATH_MAX];
	struct config cfg;
	struct run r = { .rows_per_thread = WRITER_ROWS_DEFAULT / WRITER_THREADS };
	pthread_t th[WRITER_THREADS];
	struct audit_stats st;
	double t0, c0, t1, c1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s DIR [ROWS]\n", argv[0]);
		return 2;
	}
	if (argc == 3 && (r.rows_per_thread = atol(argv[2]) / WRITER_THREADS) <= 0) {
		fprintf(stderr, "writer: ROWS must be a positive number\n");
		return 2;
	}
	log_init(LOG_ERROR, false);
	snprintf(db, sizeof db, "%s/writer.db", argv[1]);
	memset(&cfg, 0, sizeof cfg);
	cfg.db_path = db;
	cfg.chatfuel_target = CHATFUEL_TARGET_FLOW;
	cfg.chatfuel_rps = 25;
	r.total = r.rows_per_thread * WRITER_THREADS;
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.all_done, NULL);
	if ((r.a = audit_open(&cfg, NULL, NULL)) == NULL)
		return 1;

	t0 = secs(CLOCK_MONOTONIC);
	c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < WRITER_THREADS; i++)
		pthread_create(&th[i], NULL, submitter, &r);
	for (int i = 0; i < WRITER_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&r.lock);
	while (atomic_load(&r.done) < r.total)
		pthread_cond_wait(&r.all_done, &r.lock);
	pthread_mutex_unlock(&r.lock);
	t1 = secs(CLOCK_MONOTONIC);
	c1 = secs(CLOCK_PROCESS_CPUTIME_ID);

	audit_get_stats(r.a, &st);
	audit_close(r.a);
	{
		double wcpu = (c1 - c0 - atomic_load(&r.submit_cpu)) * 1e6 / (double)r.total;

		printf("WRITER rows=%ld seconds=%.3f rows_per_s=%.0f cpu_us_per_row=%.2f "
		       "writer_us_per_row=%.2f groups=%llu refused=%ld\n",
		       r.total, t1 - t0, (double)r.total / (t1 - t0), (c1 - c0) * 1e6 / (double)r.total,
		       wcpu, (unsigned long long)st.groups, atomic_load(&r.refused));
	}
	return 0;
}
