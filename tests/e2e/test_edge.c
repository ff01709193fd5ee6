/*
 * test_edge: the network edge under a hostile client (issue 10): half-open
 * TLS handshakes cost no CPU while they wait; a stalled handshake and
 * trickled headers are cut at request_timeout while a kept-alive connection
 * may idle longer; one address holds at most connections_per_ip
 * connections; and a flood of idle connections on the web port under a
 * 2,048-descriptor limit leaves the API port able to mint within a second.
 * Raw sockets and OpenSSL on loopback, so the client can stop anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define EDGE_HALF_OPEN 40              /* half-open handshakes (half one byte, half a ClientHello) */
#define EDGE_CPU_WINDOW_MS 3000
#define EDGE_CPU_MAX 0.05              /* of one core */
#define EDGE_REQ_TIMEOUT_S 2           /* request_timeout of the deadline tests */
#define EDGE_CUT_SLACK_MS 1500         /* a deadline is acted on within this */
#define EDGE_TRICKLE_MS 400            /* a header line this often */
#define EDGE_PER_IP 4
#define EDGE_FLOOD 2300
#define EDGE_FLOOD_NOFILE 2048
#define EDGE_MINT_MAX_MS 1000

static int tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* utime + stime of every thread of pid, in clock ticks. */
static long long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[2048];
	long long ut, st;
	FILE *f;
	size_t n;
	char *p;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

/* Milliseconds until the peer closes fd (EOF or reset), or -1 if it is
 * still open after ms. Data the peer sends is read and dropped. */
static long long closed_within(int fd, SSL *ssl, long long ms)
{
	long long start = h_mono_ms();
	char buf[4096];

	while (h_mono_ms() - start < ms) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(ms - (h_mono_ms() - start));
		if (poll(&p, 1, left > 0 ? left : 0) <= 0)
			continue;
		int r = ssl ? SSL_read(ssl, buf, sizeof buf) : (int)recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r > 0)
			continue;
		if (!ssl && r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (ssl && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ)
			continue;
		return h_mono_ms() - start;
	}
	return -1;
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx != NULL)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* A TLS connection with its handshake done (blocking socket). */
static SSL *tls_open(SSL_CTX *ctx, int port, int *fdp)
{
	int fd = tcp_connect(port);
	SSL *ssl;

	*fdp = fd;
	if (fd < 0)
		return NULL;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		*fdp = -1;
		return NULL;
	}
	return ssl;
}

static void tls_close(SSL *ssl, int fd)
{
	if (ssl != NULL)
		SSL_free(ssl);
	if (fd >= 0)
		close(fd);
}

/* Sends GET /healthz on ssl and reads until its body; 0 when it says ok. */
static int tls_healthz(SSL *ssl)
{
	static const char rq[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[4096];
	size_t got = 0;

	if (SSL_write(ssl, rq, (int)sizeof rq - 1) <= 0)
		return -1;
	while (got < sizeof buf - 1) {
		int r = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		if (strstr(buf, "\"ok\"}") != NULL)
			return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
	}
	return -1;
}

static struct daemon *edge_daemon(struct t *t, int request_timeout, int per_ip, long nofile)
{
	struct daemon *d = d_new(t, NULL);
	struct start_opts o = { .nofile = nofile };

	if (d == NULL)
		return NULL;
	d_set_int(d, "request_timeout", request_timeout);
	d_set_int(d, "connections_per_ip", per_ip);
	d_set_int(d, "threads", 2);
	return d_start(d, &o) == 0 ? d : NULL;
}

static void test_half_open_handshakes_cost_nothing(struct t *t)
{
	struct daemon *d = edge_daemon(t, 60, 1000, 0);
	REQUIRE(t, d);
	SSL_CTX *ctx = client_ctx();
	REQUIRE(t, ctx);
	int fds[EDGE_HALF_OPEN];
	SSL *ssls[EDGE_HALF_OPEN] = { 0 };
	int n = 0;

	for (; n < EDGE_HALF_OPEN; n++) {
		if ((fds[n] = tcp_connect(d->web_port)) < 0)
			break;
		if (n % 2 == 0) {
			static const char first = 0x16;          /* one byte of a ClientHello */
			if (send(fds[n], &first, 1, 0) != 1)
				break;
		} else {
			/* a whole ClientHello, then silence */
			fcntl(fds[n], F_SETFL, O_NONBLOCK);
			ssls[n] = SSL_new(ctx);
			SSL_set_fd(ssls[n], fds[n]);
			(void)SSL_connect(ssls[n]);      /* sends it; the answer is never read */
		}
	}
	EXPECT_INT(t, "half-open handshakes opened", EDGE_HALF_OPEN, n);
	h_sleep_ms(500);                                     /* all accepted, ServerHellos sent */

	long long t0 = proc_cpu_ticks(d->pid), w0 = h_mono_ms();
	h_sleep_ms(EDGE_CPU_WINDOW_MS);
	long long t1 = proc_cpu_ticks(d->pid), w1 = h_mono_ms();
	EXPECT(t, t0 >= 0 && t1 >= 0, "expected to read /proc/%d/stat", (int)d->pid);
	double cores = (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / ((double)(w1 - w0) / 1000.0);

	/* they are still open (the server waits for them), and others are served */
	int open_ones = 0;
	for (int i = 0; i < n; i += 2) {
		char c;
		ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
		open_ones += r < 0 && errno == EAGAIN;
	}
	struct resp rs;
	int hrc = d_web(d, "GET", "/healthz", NULL, NULL, &rs);
	if (hrc == 0)
		resp_free(&rs);
	for (int i = 0; i < n; i++)
		tls_close(ssls[i], fds[i]);
	SSL_CTX_free(ctx);
	EXPECT(t, cores < EDGE_CPU_MAX, "expected %d half-open handshakes to leave the daemon idle "
	       "(< %.0f%% of a core), it used %.0f%% of a core over %lld ms", EDGE_HALF_OPEN,
	       EDGE_CPU_MAX * 100, cores * 100, w1 - w0);
	EXPECT_INT(t, "one-byte handshakes still open after the window", EDGE_HALF_OPEN / 2, open_ones);
	EXPECT(t, hrc == 0 && rs.status == 200, "expected /healthz to answer meanwhile");
}

static void test_slow_clients_meet_request_timeout(struct t *t)
{
	struct daemon *d = edge_daemon(t, EDGE_REQ_TIMEOUT_S, 1000, 0);
	REQUIRE(t, d);
	SSL_CTX *ctx = client_ctx();
	REQUIRE(t, ctx);
	const long long want = EDGE_REQ_TIMEOUT_S * 1000LL;

	/* a stalled TLS handshake: one byte, then nothing */
	int fd = tcp_connect(d->web_port);
	REQUIRE(t, fd >= 0);
	long long start = h_mono_ms();
	static const char first = 0x16;
	EXPECT(t, send(fd, &first, 1, 0) == 1, "expected to send a byte");
	long long at = closed_within(fd, NULL, want + EDGE_CUT_SLACK_MS + 2000);
	close(fd);
	at = at < 0 ? -1 : h_mono_ms() - start;
	EXPECT(t, at >= want - 200 && at <= want + EDGE_CUT_SLACK_MS, "expected a stalled handshake "
	       "closed at request_timeout (%lld ms), got %lld ms (-1: still open)", want, at);

	/* headers trickled a line at a time over a finished handshake */
	SSL *ssl = tls_open(ctx, d->web_port, &fd);
	start = h_mono_ms();
	EXPECT(t, ssl != NULL, "expected a TLS handshake with the web port");
	static const char line0[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	static const char more[] = "X-Slow: 1\r\n";
	at = -1;
	if (SSL_write(ssl, line0, (int)sizeof line0 - 1) <= 0)
		at = h_mono_ms() - start;
	while (at < 0 && h_mono_ms() - start < want + EDGE_CUT_SLACK_MS + 2000) {
		long long c = closed_within(fd, ssl, EDGE_TRICKLE_MS);
		if (c >= 0 || SSL_write(ssl, more, (int)sizeof more - 1) <= 0)
			at = h_mono_ms() - start;
	}
	tls_close(ssl, fd);
	EXPECT(t, at >= want - 200 && at <= want + EDGE_CUT_SLACK_MS, "expected headers trickled "
	       "every %d ms cut at request_timeout (%lld ms), got %lld ms (-1: still open)",
	       EDGE_TRICKLE_MS, want, at);

	/* a kept-alive connection may idle past request_timeout */
	ssl = tls_open(ctx, d->web_port, &fd);
	EXPECT(t, ssl != NULL && tls_healthz(ssl) == 0, "expected /healthz on a new connection");
	h_sleep_ms(want + 1000);
	int again = tls_healthz(ssl);
	tls_close(ssl, fd);
	SSL_CTX_free(ctx);
	EXPECT(t, again == 0, "expected a kept-alive connection idle for %lld ms to serve its next "
	       "request (keep-alive idle is 30 s)", want + 1000);
}

static void test_one_address_holds_a_capped_share(struct t *t)
{
	struct daemon *d = edge_daemon(t, 60, EDGE_PER_IP, 0);
	REQUIRE(t, d);
	int fds[EDGE_PER_IP];
	int n = 0;

	for (; n < EDGE_PER_IP; n++)
		if ((fds[n] = tcp_connect(d->web_port)) < 0)
			break;
	h_sleep_ms(300);
	int extra = tcp_connect(d->web_port);
	long long cut = extra < 0 ? 0 : closed_within(extra, NULL, 2000);
	bool open_ok = true;
	for (int i = 0; i < n; i++) {
		char c;
		ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
		open_ok &= r < 0 && errno == EAGAIN;
	}
	if (extra >= 0)
		close(extra);
	close(fds[0]);                                     /* one slot free again */
	h_sleep_ms(300);
	struct resp rs;
	int hrc = d_web(d, "GET", "/healthz", NULL, NULL, &rs);
	if (hrc == 0)
		resp_free(&rs);
	for (int i = 1; i < n; i++)
		close(fds[i]);
	EXPECT_INT(t, "connections opened", EDGE_PER_IP, n);
	EXPECT(t, cut >= 0, "expected connection %d from one address closed at once "
	       "(connections_per_ip %d), it stayed open", EDGE_PER_IP + 1, EDGE_PER_IP);
	EXPECT(t, open_ok, "expected the first %d connections to stay open", EDGE_PER_IP);
	EXPECT(t, hrc == 0 && rs.status == 200, "expected /healthz once a slot was free");
}

static void test_web_flood_leaves_the_api_its_descriptors(struct t *t)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < EDGE_FLOOD + 256 && rl.rlim_max >= EDGE_FLOOD + 256) {
		rl.rlim_cur = EDGE_FLOOD + 256;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	EXPECT(t, rl.rlim_cur >= EDGE_FLOOD + 256, "expected the test to get %d descriptors (ulimit -n)",
	       EDGE_FLOOD + 256);
	struct daemon *d = edge_daemon(t, 60, 30000, EDGE_FLOOD_NOFILE);
	REQUIRE(t, d);
	int *fds = calloc(EDGE_FLOOD, sizeof *fds);
	REQUIRE(t, fds);
	int n = 0;
	for (; n < EDGE_FLOOD; n++)
		if ((fds[n] = tcp_connect(d->web_port)) < 0)
			break;
	h_sleep_ms(1000);                                  /* the daemon takes what it will */

	long long start = h_mono_ms();
	struct resp rs;
	char *path = h_printf("/generate_dynamic_page?client_id=cid-flood&telefono=5215553200001"
	                      "&flow_name=FlowFlood&fecha_cumple=1990-01-01");
	int rc = d_api(d, "GET", path, NULL, NULL, &rs);
	long long took = h_mono_ms() - start;
	long status = rc == 0 ? rs.status : 0;
	if (rc == 0)
		resp_free(&rs);
	free(path);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	EXPECT_INT(t, "idle connections opened on the web port", EDGE_FLOOD, n);
	EXPECT(t, status == 200 && took <= EDGE_MINT_MAX_MS, "expected a mint within %d ms with %d "
	       "idle web connections under a %d-descriptor limit, got status %ld after %lld ms",
	       EDGE_MINT_MAX_MS, EDGE_FLOOD, EDGE_FLOOD_NOFILE, status, took);
}

const struct test e2e_tests_edge[] = {
	{ "edge_half_open_handshakes_cost_nothing", test_half_open_handshakes_cost_nothing, NULL },
	{ "edge_slow_clients_meet_request_timeout", test_slow_clients_meet_request_timeout, NULL },
	{ "edge_one_address_holds_a_capped_share", test_one_address_holds_a_capped_share, NULL },
	{ "edge_web_flood_leaves_the_api_its_descriptors", test_web_flood_leaves_the_api_its_descriptors,
	  NULL },
	{ NULL, NULL, NULL },
};
