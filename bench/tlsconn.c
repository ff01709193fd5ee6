/*
 * bench/tlsconn: new TLS connections per second, for `make bench` (not a
 * test). wrk keeps connections open (or, with "Connection: close", makes a
 * full handshake for every request and never resumes); this client makes one
 * connection per request, each a full handshake or, with "resume", a TLS 1.3
 * resumption from the last session ticket its thread received (falling back
 * to a full handshake while it has none).
 *
 * Usage: tlsconn full|resume HOST PORT PATH SECONDS THREADS
 * Prints wrk's summary line (bench/common.lua's format) plus resumed=N:
 *   WRKRESULT requests=N duration_us=D p50_us=.. p99_us=.. max_us=.. connect=..
 *   read=.. write=.. timeout=0 status=.. resumed=N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TC_THREADS_MAX 64
#define TC_LAT_MAX 1000000        /* latencies kept per thread */
#define TC_IO_TIMEOUT_S 5
#define TC_RESPONSE_MAX 65536

struct worker {
	pthread_t th;
	SSL_CTX *ctx;
	SSL_SESSION *sess;          /* the newest ticket, for "resume" */
	uint32_t *lat;              /* microseconds */
	long n, resumed, connect_err, read_err, write_err, bad_status;
};

static struct sockaddr_in addr;
static const char *req_path;
static bool resume;
static int64_t end_us;

static int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int on_new_session(SSL *ssl, SSL_SESSION *s)
{
	struct worker *w = SSL_get_app_data(ssl);

	if (w->sess != NULL)
		SSL_SESSION_free(w->sess);
	w->sess = s;               /* kept: returning 1 takes the reference */
	return 1;
}

/* One connection, one request, read to the end. 0, or which step failed. */
static int one(struct worker *w)
{
	char req[512], buf[TC_RESPONSE_MAX];
	struct timeval tv = { TC_IO_TIMEOUT_S, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one_ = 1, n, got = 0, rc = 0;
	SSL *ssl;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof one_);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		close(fd);
		w->connect_err++;
		return 1;
	}
	ssl = SSL_new(w->ctx);
	SSL_set_app_data(ssl, w);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	if (resume && w->sess != NULL)
		SSL_set_session(ssl, w->sess);
	if (SSL_connect(ssl) != 1) {
		w->connect_err++;
		rc = 1;
		goto out;
	}
	n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	             req_path);
	if (SSL_write(ssl, req, n) != n) {
		w->write_err++;
		rc = 2;
		goto out;
	}
	while ((n = SSL_read(ssl, buf + got, (int)sizeof buf - 1 - got)) > 0) {
		got += n;
		if (got >= (int)sizeof buf - 1)
			got = 64;          /* keep the status line, drop the body */
	}
	buf[got] = '\0';
	if (got < 12) {
		w->read_err++;
		rc = 3;
		goto out;
	}
	if (strncmp(buf + 9, "200", 3) != 0)
		w->bad_status++;
	if (SSL_session_reused(ssl))
		w->resumed++;
out:
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return rc;
}

static void *run(void *arg)
{
	struct worker *w = arg;

	while (now_us() < end_us) {
		int64_t t0 = now_us();
		if (one(w) == 0 && w->n < TC_LAT_MAX)
			w->lat[w->n++] = (uint32_t)(now_us() - t0);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static struct worker ws[TC_THREADS_MAX];
	int threads;
	long total = 0, resumed = 0, ce = 0, re = 0, we = 0, bs = 0, k = 0;
	int64_t t0, t1;
	uint32_t *all;

	if (argc != 7 || (strcmp(argv[1], "full") != 0 && strcmp(argv[1], "resume") != 0)) {
		fprintf(stderr, "usage: %s full|resume HOST PORT PATH SECONDS THREADS\n", argv[0]);
		return 2;
	}
	resume = strcmp(argv[1], "resume") == 0;
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1) {
		fprintf(stderr, "tlsconn: HOST must be an IPv4 address\n");
		return 2;
	}
	req_path = argv[4];
	threads = atoi(argv[6]);
	if (threads < 1 || threads > TC_THREADS_MAX || atoi(argv[5]) < 1) {
		fprintf(stderr, "tlsconn: SECONDS >= 1, THREADS 1..%d\n", TC_THREADS_MAX);
		return 2;
	}
	t0 = now_us();
	end_us = t0 + (int64_t)atoi(argv[5]) * 1000000;
	for (int i = 0; i < threads; i++) {
		struct worker *w = &ws[i];
		w->ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_min_proto_version(w->ctx, TLS1_3_VERSION);
		SSL_CTX_set_verify(w->ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(w->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(w->ctx, on_new_session);
		w->lat = malloc(sizeof *w->lat * TC_LAT_MAX);
		pthread_create(&w->th, NULL, run, w);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(ws[i].th, NULL);
	t1 = now_us();
	for (int i = 0; i < threads; i++)
		total += ws[i].n;
	all = malloc(sizeof *all * (size_t)(total + 1));
	for (int i = 0; i < threads; i++) {
		memcpy(all + k, ws[i].lat, sizeof *all * (size_t)ws[i].n);
		k += ws[i].n;
		resumed += ws[i].resumed;
		ce += ws[i].connect_err;
		re += ws[i].read_err;
		we += ws[i].write_err;
		bs += ws[i].bad_status;
	}
	qsort(all, (size_t)total, sizeof *all, cmp_u32);
	printf("WRKRESULT requests=%ld duration_us=%lld p50_us=%u p99_us=%u max_us=%u connect=%ld "
	       "read=%ld write=%ld timeout=0 status=%ld resumed=%ld\n",
	       total, (long long)(t1 - t0), total ? all[total / 2] : 0,
	       total ? all[total * 99 / 100] : 0, total ? all[total - 1] : 0, ce, re, we, bs, resumed);
	return 0;
}
