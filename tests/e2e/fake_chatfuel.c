/*
 * fake_chatfuel: see fake_chatfuel.h. One MHD daemon with its own polling
 * thread; the URI-log callback keeps the raw request URI (MHD hands the access
 * handler a decoded path only), the access handler collects the body and, on
 * its last call, moves the finished record into the shared list.
 */
#include "fake_chatfuel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "harness.h"

#define FAKE_MAX_CALLS 4096

struct fake_cf {
	struct MHD_Daemon *mhd;
	int port;
	pthread_mutex_t mu;
	struct fake_call *calls[FAKE_MAX_CALLS];
	int ncalls;
	int fail_status;
	int fail_times;
	int delay_ms;
	int retry_after_s;            /* on scripted failures, when > 0 */
	size_t body_size;             /* success answers padded to this many bytes, when > 0 */
	char *big_body;
};

struct pending {
	struct fake_call *c;
	bool started;
	bool too_big;
};

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p == NULL)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *dup0(const char *s)
{
	return s ? dupn(s, strlen(s)) : NULL;
}

static void call_free(struct fake_call *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->raw_uri);
	for (int i = 0; i < c->nargs; i++) {
		free(c->args[i].name);
		free(c->args[i].value);
	}
	free(c->ctype);
	free(c->signature);
	free(c->body);
	free(c);
}

/* When the request's last bytes reached the kernel (TCP_INFO: ms since the
 * socket last received data; nothing more comes before we answer), on
 * h_mono_ms()'s clock, to the kernel's tick. A fake thread that a loaded
 * machine runs late does not move it, as the time it reads itself would.
 * That time only if the socket cannot say. */
static long long received_ms(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	long long now = h_mono_ms();
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	if (ci == NULL || getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof ti.tcpi_last_data_recv)
		return now;
	return now - (long long)ti.tcpi_last_data_recv;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();
	p->c = calloc(1, sizeof(*p->c));
	if (p->c == NULL)
		abort();
	p->c->raw_uri = dup0(uri);
	return p;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct pending *p = *con_cls;
	if (p == NULL)
		return;
	call_free(p->c);
	free(p);
	*con_cls = NULL;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	(void)kind;
	struct fake_call *c = cls;
	c->nargs_total++;
	if (c->nargs < FAKE_MAX_ARGS) {
		c->args[c->nargs].name = dup0(key);
		c->args[c->nargs].value = dup0(value);
		c->nargs++;
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	struct fake_cf *f = cls;
	struct pending *p = *con_cls;
	if (p == NULL)                     /* URI callback always runs first */
		return MHD_NO;
	struct fake_call *c = p->c;

	if (!p->started) {
		p->started = true;
		snprintf(c->method, sizeof(c->method), "%s", method);
		c->path = dup0(url);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		if (c->body_len + n > FAKE_MAX_BODY) {
			p->too_big = true;
		} else {
			char *nb = realloc(c->body, c->body_len + n + 1);
			if (nb == NULL)
				abort();
			memcpy(nb + c->body_len, upload_data, n);
			c->body = nb;
			c->body_len += n;
			c->body[c->body_len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, c);
	c->ctype = dup0(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
	c->signature = dup0(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Mnmfa-Signature"));
	if (c->body == NULL)
		c->body = dup0("");
	c->at_ms = received_ms(conn);

	int status = MHD_HTTP_OK;
	pthread_mutex_lock(&f->mu);
	if (f->fail_times > 0) {
		status = f->fail_status;
		f->fail_times--;
	}
	c->answered = status;
	c->answered_ms = h_mono_ms();      /* before the answer leaves, so before the daemon reads it */
	if (f->ncalls < FAKE_MAX_CALLS) {
		f->calls[f->ncalls++] = c;
		p->c = NULL;                   /* the list owns it now */
	}
	int delay = f->delay_ms, retry_after = f->retry_after_s;
	const char *big = f->big_body;
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		h_sleep_ms(delay);             /* a slow Chatfuel */

	static const char ok[] = "{\"success\": true, \"result\": \"ok\"}";
	static const char bad[] = "{\"success\": false, \"result\": \"scripted failure\"}";
	const char *body = status == MHD_HTTP_OK ? (big != NULL ? big : ok) : bad;
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	                                                         MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (status != MHD_HTTP_OK && retry_after > 0) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry_after);
		MHD_add_response_header(r, "Retry-After", ra);
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

struct fake_cf *fake_start(void)
{
	struct fake_cf *f = calloc(1, sizeof(*f));
	if (f == NULL)
		abort();
	pthread_mutex_init(&f->mu, NULL);

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	f->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
	                          on_request, f,
	                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                          MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)f,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)f,
	                          MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	                          MHD_OPTION_END);
	if (f->mhd == NULL) {
		free(f);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
	f->port = info ? info->port : 0;
	if (f->port == 0) {
		MHD_stop_daemon(f->mhd);
		free(f);
		return NULL;
	}
	return f;
}

void fake_stop(struct fake_cf *f)
{
	if (f == NULL)
		return;
	MHD_stop_daemon(f->mhd);
	for (int i = 0; i < f->ncalls; i++)
		call_free(f->calls[i]);
	pthread_mutex_destroy(&f->mu);
	free(f->big_body);
	free(f);
}

int fake_port(const struct fake_cf *f)
{
	return f->port;
}

char *fake_base_url(const struct fake_cf *f)
{
	return h_printf("http://127.0.0.1:%d", f->port);
}

void fake_fail_next(struct fake_cf *f, int status, int times)
{
	pthread_mutex_lock(&f->mu);
	f->fail_status = status;
	f->fail_times = times;
	pthread_mutex_unlock(&f->mu);
}

void fake_retry_after(struct fake_cf *f, int seconds)
{
	pthread_mutex_lock(&f->mu);
	f->retry_after_s = seconds;
	pthread_mutex_unlock(&f->mu);
}

void fake_big_success(struct fake_cf *f, size_t size)
{
	static const char head[] = "{\"success\": true, \"result\": \"";
	char *b = malloc(size + 1);

	if (b == NULL || size < sizeof head + 2)
		abort();
	memcpy(b, head, sizeof head - 1);
	memset(b + sizeof head - 1, 'x', size - (sizeof head - 1) - 2);
	memcpy(b + size - 2, "\"}", 3);
	pthread_mutex_lock(&f->mu);
	free(f->big_body);
	f->big_body = b;               /* set once, before the daemon sends */
	pthread_mutex_unlock(&f->mu);
}

void fake_delay(struct fake_cf *f, int ms)
{
	pthread_mutex_lock(&f->mu);
	f->delay_ms = ms;
	pthread_mutex_unlock(&f->mu);
}

int fake_count(struct fake_cf *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->ncalls;
	pthread_mutex_unlock(&f->mu);
	return n;
}

int fake_wait(struct fake_cf *f, int n, int timeout_ms)
{
	long long deadline = h_mono_ms() + timeout_ms;
	int got;
	while ((got = fake_count(f)) < n && h_mono_ms() < deadline)
		h_sleep_ms(20);
	return got;
}

int fake_quiet(struct fake_cf *f, int window_ms)
{
	h_sleep_ms(window_ms);
	return fake_count(f);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int fake_most_in_window(struct fake_cf *f, long long window_ms, long long *first_ms)
{
	long long *at;
	int n, most = 0;

	pthread_mutex_lock(&f->mu);
	n = f->ncalls;
	at = malloc(((size_t)n + 1) * sizeof *at);
	if (at == NULL)
		abort();
	for (int i = 0; i < n; i++)
		at[i] = f->calls[i]->at_ms;
	pthread_mutex_unlock(&f->mu);
	qsort(at, (size_t)n, sizeof *at, cmp_ll);
	for (int i = 0, j = 0; i < n; i++) {
		while (j < n && at[j] < at[i] + window_ms)
			j++;
		if (j - i > most) {
			most = j - i;
			if (first_ms != NULL)
				*first_ms = at[i] - at[0];
		}
	}
	free(at);
	return most;
}

const struct fake_call *fake_call(struct fake_cf *f, int i)
{
	const struct fake_call *c = NULL;
	pthread_mutex_lock(&f->mu);
	if (i >= 0 && i < f->ncalls)
		c = f->calls[i];
	pthread_mutex_unlock(&f->mu);
	return c;
}

const char *fake_arg(const struct fake_call *c, const char *name)
{
	for (int i = 0; i < c->nargs; i++)
		if (strcmp(c->args[i].name, name) == 0)
			return c->args[i].value ? c->args[i].value : "";
	return NULL;
}

bool fake_has_arg(const struct fake_call *c, const char *name)
{
	return fake_arg(c, name) != NULL;
}
