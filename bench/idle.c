/*
 * bench/idle: many idle keep-alive TLS connections, for `make bench` (not a
 * test). Opens CONNS TLS 1.3 connections to HOST:PORT (resuming one session
 * ticket, so that setting them up is quick), sends one request on each and
 * reads its answer, then leaves them idle; meanwhile, for SECONDS, a separate
 * keep-alive connection sends one request after another and times each.
 * Finally it asks for PATH again on up to IDLE_RECHECK of the idle
 * connections to see that the server still holds them. With PID it reads
 * the server's VmRSS before and after opening them (memory per idle
 * connection = rss_delta_kb * 1024 / idle).
 *
 * Usage: idle HOST PORT PATH CONNS SECONDS [PID]
 * Prints wrk's summary line (bench/common.lua's format) for the timed
 * requests, plus idle=N (connections opened and answered), idle_alive=M
 * (of those rechecked, still answering) and rss_delta_kb=K.
 * Raises its own open-file limit to CONNS + IDLE_FD_SPARE when it can.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define IDLE_CONNS_MAX 50000
#define IDLE_FD_SPARE 64
#define IDLE_IO_TIMEOUT_S 5
#define IDLE_SETUP_MAX_S 120      /* opening them all may take at most this */
#define IDLE_LAT_MAX 1000000      /* timed requests kept */
#define IDLE_RECHECK 200          /* idle connections asked again at the end */
#define IDLE_RESPONSE_MAX 65536
#define IDLE_SETUP_THREADS 8      /* connections are opened this many at a time */

struct conn {
	int fd;
	SSL *ssl;
};

static struct sockaddr_in addr;
static char request[512];
static int request_len;

static int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static long rss_kb(const char *pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A TLS connection, resuming *sess when there is one (and keeping the newest). */
static int open_conn(SSL_CTX *ctx, SSL_SESSION **sess, struct conn *c)
{
	struct timeval tv = { IDLE_IO_TIMEOUT_S, 0 };
	int one = 1;

	c->ssl = NULL;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0)
		goto fail;
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	if (*sess != NULL)
		SSL_set_session(c->ssl, *sess);
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
	return -1;
}

static void close_conn(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
}

/* One keep-alive request; reads the answer to its Content-Length. 0 on a
 * 200, 1 on another status, -1 on a transport failure. */
static int ask(struct conn *c)
{
	char buf[IDLE_RESPONSE_MAX];
	int got = 0, n;
	char *end = NULL;
	long body = -1;

	if (SSL_write(c->ssl, request, request_len) != request_len)
		return -1;
	for (;;) {
		if (got >= (int)sizeof buf - 1)
			return -1;
		n = SSL_read(c->ssl, buf + got, (int)sizeof buf - 1 - got);
		if (n <= 0)
			return -1;
		got += n;
		buf[got] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			body = cl != NULL && cl < end ? strtol(cl + 17, NULL, 10) : 0;
		}
		if (end != NULL && got - (end + 4 - buf) >= body)
			break;
	}
	return got >= 12 && strncmp(buf + 9, "200", 3) == 0 ? 0 : 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One opener: connections [from, to) of the array, each answered once. */
struct opener {
	pthread_t th;
	SSL_CTX *ctx;
	struct conn *conns;
	long from, to, opened;
	int64_t until_us;
};

static void *open_some(void *arg)
{
	struct opener *o = arg;
	SSL_SESSION *sess = NULL;

	for (long i = o->from; i < o->to && now_us() < o->until_us; i++) {
		struct conn *c = &o->conns[i];
		if (open_conn(o->ctx, &sess, c) != 0)
			continue;
		if (ask(c) != 0) {
			close_conn(c);
			continue;
		}
		if (sess == NULL)
			sess = SSL_get1_session(c->ssl);    /* its ticket came with the answer */
		o->opened++;
	}
	if (sess != NULL)
		SSL_SESSION_free(sess);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct conn conns[IDLE_CONNS_MAX];
	SSL_SESSION *sess = NULL;      /* the timed connection's */
	struct conn timed;
	struct rlimit rl;
	long nconns, idle = 0, alive = 0, checked = 0, n = 0, bad = 0, errs = 0, rss0 = -1, rss1 = -1;
	int64_t t0, t1;
	uint32_t *lat;
	SSL_CTX *ctx;
	int secs;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: %s HOST PORT PATH CONNS SECONDS [PID]\n", argv[0]);
		return 2;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	nconns = atol(argv[4]);
	secs = atoi(argv[5]);
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || nconns < 1 ||
	    nconns > IDLE_CONNS_MAX || secs < 1) {
		fprintf(stderr, "idle: HOST an IPv4 address, CONNS 1..%d, SECONDS >= 1\n", IDLE_CONNS_MAX);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);     /* a connection the server closed fails its write instead */
	request_len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
	                       argv[3]);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(nconns + IDLE_FD_SPARE)) {
		rl.rlim_cur = (rlim_t)(nconns + IDLE_FD_SPARE) < rl.rlim_max ?
		              (rlim_t)(nconns + IDLE_FD_SPARE) : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (argc == 7)
		rss0 = rss_kb(argv[6]);

	/* The idle ones: each answered once, then left alone. */
	{
		struct opener op[IDLE_SETUP_THREADS];
		int64_t until = now_us() + (int64_t)IDLE_SETUP_MAX_S * 1000000;
		for (long i = 0; i < nconns; i++)
			conns[i].fd = -1;
		for (int t = 0; t < IDLE_SETUP_THREADS; t++) {
			op[t] = (struct opener){ .ctx = ctx, .conns = conns, .until_us = until,
			                         .from = nconns * t / IDLE_SETUP_THREADS,
			                         .to = nconns * (t + 1) / IDLE_SETUP_THREADS };
			pthread_create(&op[t].th, NULL, open_some, &op[t]);
		}
		for (int t = 0; t < IDLE_SETUP_THREADS; t++) {
			pthread_join(op[t].th, NULL);
			idle += op[t].opened;
		}
	}
	if (argc == 7)
		rss1 = rss_kb(argv[6]);

	/* The timed requests, one after another on their own connection. */
	lat = malloc(sizeof *lat * IDLE_LAT_MAX);
	if (lat == NULL || open_conn(ctx, &sess, &timed) != 0) {
		fprintf(stderr, "idle: cannot open the timed connection (%s)\n", strerror(errno));
		return 1;
	}
	t0 = now_us();
	while (now_us() - t0 < (int64_t)secs * 1000000 && n < IDLE_LAT_MAX) {
		int64_t s = now_us();
		int rc = ask(&timed);
		if (rc < 0) {
			errs++;
			close_conn(&timed);
			if (open_conn(ctx, &sess, &timed) != 0)
				break;
			continue;
		}
		bad += rc;
		lat[n++] = (uint32_t)(now_us() - s);
	}
	t1 = now_us();
	close_conn(&timed);

	/* Still held? Spread over the idle ones. */
	for (long i = 0; i < nconns && checked < IDLE_RECHECK; i += nconns / IDLE_RECHECK + 1) {
		if (conns[i].fd < 0)
			continue;
		checked++;
		alive += ask(&conns[i]) == 0;
	}
	for (long i = 0; i < nconns; i++)
		close_conn(&conns[i]);

	qsort(lat, (size_t)n, sizeof *lat, cmp_u32);
	printf("WRKRESULT requests=%ld duration_us=%lld p50_us=%u p99_us=%u max_us=%u connect=%ld "
	       "read=%ld write=0 timeout=0 status=%ld idle=%ld idle_checked=%ld idle_alive=%ld "
	       "rss_delta_kb=%ld\n",
	       n, (long long)(t1 - t0), n ? lat[n / 2] : 0, n ? lat[n * 99 / 100] : 0,
	       n ? lat[n - 1] : 0, nconns - idle, errs, bad, idle, checked, alive,
	       rss0 >= 0 && rss1 >= 0 ? rss1 - rss0 : -1);
	return 0;
}
