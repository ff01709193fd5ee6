/*
 * http: libmicrohttpd glue. Each daemon runs an internal poll() thread pool
 * (not epoll: in libmicrohttpd 0.9.75 a TLS handshake waiting for the peer
 * keeps its connection on the epoll "ready" list, because the handshake's
 * EAGAIN does not clear the read-ready flag the way a TLS read's does, so
 * the worker spins on epoll_wait(0) and recv until the handshake ends; poll
 * waits in the kernel instead);
 * the access handler below turns MHD's call sequence (headers, body pieces,
 * final call) into one complete struct http_req for the module's handler,
 * and queues whatever response that handler built. Bodies are counted here
 * (MHD has no size option): over HTTP_BODY_MAX the handler sees
 * body_too_large and answers 413; a declared Content-Length over it is
 * answered before the body is read.
 *
 * Deadlines (deadline.c) bound every phase a client controls, since the
 * daemon's own timeout only counts idle time: a new connection has
 * request_timeout for its TLS handshake and its first request's headers, a
 * body has request_timeout after its headers, and a kept-alive connection
 * gets HTTP_CONN_TIMEOUT_S of idling plus request_timeout for the next
 * request's headers. A request being handled or deferred has none.
 *
 * TLS 1.3 session tickets: libmicrohttpd has no option for them, so each
 * TLS session is given the daemon's ticket key as the connection starts
 * (on_connection, before the handshake); a returning client
 * then resumes instead of paying a full handshake. The key is random per
 * process (tickets die with it); GnuTLS derives the keys it encrypts tickets
 * with from it and rotates them on its own schedule.
 */
#include "http.h"
#include "buf.h"
#include "deadline.h"
#include "metrics.h"
#include "log.h"
#include "sockaddr.h"
#include "tlscork.h"
#include "tlsmat.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CSP_PAGE "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'none'; form-action 'self' https://wa.me https://api.whatsapp.com; " \
	"base-uri 'none'; frame-ancestors 'none'"
#define CSP_OTHER "default-src 'none'; frame-ancestors 'none'"

struct http_server {
	struct MHD_Daemon *d;
	struct http_server_opts o;
	char name[8];
	int port;
	MHD_socket quiesced_fd;
	/* Requests deferred and not yet back in their pool thread: counted up by
	 * http_defer, down once when the pool thread sees the request again
	 * (resumed with its answer) or frees it (the client went away). Zero
	 * after `stopping` was set means no connection is or will be suspended. */
	atomic_int deferred;
	struct deadlines *deadlines;
	int64_t request_ms, idle_ms;     /* request_timeout, HTTP_CONN_TIMEOUT_S */
	atomic_bool stopping;            /* http_server_quiesce: no new deferral */
	gnutls_datum_t ticket_key;       /* TLS 1.3 session tickets (empty: none) */
};

/* A request as http.c holds it: what the handler sees, and the transport's
 * side. Per-request facts http.c adds (timings, counters) go here. */
struct http_exchange {
	struct http_req req;             /* handlers get &x->req */
	struct MHD_Connection *conn;
	struct http_server *srv;
	struct buf body;                 /* collected; req.body points into it */
	struct MHD_Response *resp;       /* set by http_reply_*; queued by queue_and_release */
	bool resp_shared;                /* resp belongs to a struct http_cached */
	unsigned status;
	size_t resp_len;                 /* resp's body bytes */
	struct tlscork cork;             /* the response, one TLS record */
	bool deferred;
	bool resumed;                    /* http_resume was called: the answer is final */
	bool answered;                   /* a response was queued */
	int64_t started_us;              /* mono_us() at the headers, for /metrics */
};

struct http_cached {
	struct MHD_Response *resp;
	size_t len;
};

static struct http_exchange *exchange_of(struct http_req *r)
{
	return (struct http_exchange *)((char *)r - offsetof(struct http_exchange, req));
}

const char *http_method_name(enum http_method m)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "OTHER" };
	return names[m];
}

static enum http_method method_parse(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return HTTP_GET;
	if (strcmp(m, "HEAD") == 0)
		return HTTP_HEAD;
	if (strcmp(m, "POST") == 0)
		return HTTP_POST;
	if (strcmp(m, "PUT") == 0)
		return HTTP_PUT;
	if (strcmp(m, "DELETE") == 0)
		return HTTP_DELETE;
	if (strcmp(m, "OPTIONS") == 0)
		return HTTP_OPTIONS;
	return HTTP_OTHER;
}

static void add_security_headers(struct MHD_Response *resp, bool html, const char *cache_control)
{
	MHD_add_response_header(resp, "Cache-Control", cache_control ? cache_control : "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy", html ? CSP_PAGE : CSP_OTHER);
	MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

static bool ctype_is_html(const char *ctype)
{
	return ctype != NULL && strncmp(ctype, "text/html", 9) == 0;
}

/* Makes resp the request's response, replacing one built before. */
static void put_response(struct http_exchange *x, unsigned status, struct MHD_Response *resp,
                         bool shared, size_t len)
{
	if (x->resp != NULL && !x->resp_shared)
		MHD_destroy_response(x->resp);
	x->resp = resp;
	x->resp_shared = shared;
	x->status = status;
	x->resp_len = len;
}

static void set_response(struct http_req *r, unsigned status, struct MHD_Response *resp,
                         const char *ctype, size_t len)
{
	if (resp == NULL) {
		log_error("%s: out of memory building a response", __func__);
		return;
	}
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	add_security_headers(resp, ctype_is_html(ctype), NULL);
	put_response(exchange_of(r), status, resp, false, len);
}

void http_reply(struct http_req *r, unsigned status, const char *ctype, const void *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body,
	                                                             MHD_RESPMEM_MUST_COPY);
	set_response(r, status, resp, ctype, len);
}

void http_reply_take(struct http_req *r, unsigned status, const char *ctype, char *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (resp == NULL)
		free(body);
	set_response(r, status, resp, ctype, len);
}

#define JSON_CTYPE "application/json; charset=utf-8"

void http_reply_json(struct http_req *r, unsigned status, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);

	cJSON_Delete(obj);
	if (text == NULL) {
		http_reply(r, 500, JSON_CTYPE, "{\"error\":\"internal\"}", 20);
		return;
	}
	http_reply_take(r, status, JSON_CTYPE, text, strlen(text));
}

void http_reply_error(struct http_req *r, unsigned status, const char *code, const char *field,
                      const char *detail)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", code);
	if (field != NULL)
		cJSON_AddStringToObject(o, "field", field);
	cJSON_AddStringToObject(o, "detail", detail);
	http_reply_json(r, status, o);
}

void http_content_type(struct http_req *r, char *buf, size_t len)
{
	const char *ct = http_header(r, "Content-Type");
	size_t n = 0;

	if (ct != NULL) {
		while (*ct == ' ')
			ct++;
		for (; ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ' && n + 1 < len; n++)
			buf[n] = (char)tolower((unsigned char)ct[n]);
	}
	buf[n] = '\0';
}

void http_reply_static_304(struct http_req *r, const char *etag, const char *cache_control)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

	if (resp == NULL) {
		log_error("%s: out of memory building a response", __func__);
		return;
	}
	MHD_add_response_header(resp, "ETag", etag);
	add_security_headers(resp, false, cache_control);
	put_response(exchange_of(r), 304, resp, false, 0);
}

void http_reply_redirect(struct http_req *r, unsigned status, const char *location)
{
	http_reply(r, status, NULL, "", 0);
	http_reply_add_header(r, "Location", location);
}

void http_reply_add_header(struct http_req *r, const char *name, const char *value)
{
	struct http_exchange *x = exchange_of(r);

	if (x->resp != NULL)
		MHD_add_response_header(x->resp, name, value);
}

void http_reply_retry_after(struct http_req *r, int seconds)
{
	char v[16];

	snprintf(v, sizeof v, "%d", seconds);
	http_reply_add_header(r, "Retry-After", v);
}

void http_reply_health(struct http_req *r)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	http_reply(r, 200, JSON_CTYPE, ok, sizeof ok - 1);
}

struct http_cached *http_cached_new(const void *body, size_t len, const char *ctype,
                                    const char *cache_control, const char *etag)
{
	struct http_cached *c = xcalloc(1, sizeof *c);

	c->len = len;
	c->resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (c->resp == NULL)
		fatal("%s: out of memory", __func__);
	MHD_add_response_header(c->resp, "Content-Type", ctype);
	if (etag != NULL)
		MHD_add_response_header(c->resp, "ETag", etag);
	add_security_headers(c->resp, ctype_is_html(ctype), cache_control);
	return c;
}

void http_cached_free(struct http_cached *c)
{
	if (c == NULL)
		return;
	MHD_destroy_response(c->resp);
	free(c);
}

void http_reply_cached(struct http_req *r, unsigned status, struct http_cached *c)
{
	/* Queueing takes its own reference; the owner of the cached response
	 * keeps it alive until the daemon is stopped. */
	put_response(exchange_of(r), status, c->resp, true, c->len);
}

bool http_defer(struct http_req *r)
{
	struct http_exchange *x = exchange_of(r);
	struct http_server *s = x->srv;

	/* Count first, then look at the flag (both sequentially consistent):
	 * either this sees `stopping`, or the drain that set it sees the count. */
	atomic_fetch_add(&s->deferred, 1);
	if (atomic_load(&s->stopping)) {
		atomic_fetch_sub(&s->deferred, 1);
		return false;
	}
	x->deferred = true;
	MHD_suspend_connection(x->conn);
	return true;
}

/* The pool thread has the deferred request back: it leaves the drain's count. */
static void undefer(struct http_exchange *x)
{
	if (!x->deferred)
		return;
	x->deferred = false;
	atomic_fetch_sub(&x->srv->deferred, 1);
}

/* Set before MHD_resume_connection, whose lock publishes it (and the answer
 * set with it) to the pool thread that queues it. */
void http_resume(struct http_req *r)
{
	struct http_exchange *x = exchange_of(r);

	x->resumed = true;
	MHD_resume_connection(x->conn);
}

const char *http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(exchange_of(r)->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(exchange_of(r)->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_query_n(struct http_req *r, const char *name, size_t *len)
{
	const char *v = NULL;

	if (MHD_lookup_connection_value_n(exchange_of(r)->conn, MHD_GET_ARGUMENT_KIND, name,
	                                  strlen(name), &v, len) != MHD_YES)
		return NULL;
	return v;
}

static void req_fill_peer(struct http_exchange *x)
{
	struct http_req *r = &x->req;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	sockaddr_text(ci ? ci->client_addr : NULL, r->ip, sizeof r->ip, &r->loopback);
}

/* The connection's deadline entry (its socket context, set when it started). */
static struct deadline *conn_deadline(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void conn_deadline_set(struct http_server *s, struct MHD_Connection *conn, int64_t at_ms)
{
	struct deadline *d = conn_deadline(conn);

	if (d != NULL)
		deadlines_set(s->deadlines, d, at_ms);
}

static void free_ticket_key(struct http_server *s)
{
	if (s->ticket_key.data == NULL)
		return;
	gnutls_memset(s->ticket_key.data, 0, s->ticket_key.size);
	gnutls_free(s->ticket_key.data);
	s->ticket_key.data = NULL;
}

/* A connection starts (TLS session made, no handshake yet): session tickets. */
static void enable_tickets(struct http_server *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	if (s->ticket_key.data == NULL)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci != NULL && ci->tls_session != NULL &&
	    gnutls_session_ticket_enable_server((gnutls_session_t)ci->tls_session, &s->ticket_key) != 0)
		log_debug("%s port: session tickets not enabled on a connection", s->name);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		enable_tickets(s, conn);
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		/* the TLS handshake and the first request's headers */
		*socket_context = ci == NULL ? NULL :
			deadlines_add(s->deadlines, ci->connect_fd, mono_ms() + s->request_ms);
	} else {
		deadlines_remove(s->deadlines, *socket_context);   /* before the fd is closed */
		*socket_context = NULL;
	}
}

/* Queues the handler's response, corked (over TLS) until on_completed
 * uncorks it: one TLS record, whether it is answered in the pass that read
 * the request or from a resumed deferral (tlscork.c). */
static enum MHD_Result queue_and_release(struct http_exchange *x)
{
	struct http_req *r = &x->req;
	enum MHD_Result ret;

	if (x->resp == NULL) {
		log_error("%s: handler for %s %s gave no response", __func__, http_method_name(r->method), r->path);
		http_reply(r, 500, "text/plain; charset=utf-8", "internal error\n", 15);
		if (x->resp == NULL)
			return MHD_NO;
	}
	x->answered = true;
	if (x->srv->o.tls)
		tlscork_begin(&x->cork, x->conn, x->resp_len);
	ret = MHD_queue_response(x->conn, x->status, x->resp);
	if (!x->resp_shared)
		MHD_destroy_response(x->resp);
	x->resp = NULL;
	return ret;
}

/* MHD_KeyValueIterator: adds one header's or query argument's bytes. */
static enum MHD_Result count_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += strlen(key) + (value != NULL ? strlen(value) : 0) + 4     /* ": " CRLF, "=&" */
	      + HTTP_HEADER_INDEX_BYTES;
	return MHD_YES;
}

/* What the request line and headers take of libmicrohttpd's memory, near
 * enough: their text and each one's index entry. */
static size_t request_head_bytes(struct MHD_Connection *conn, const char *url, const char *method)
{
	size_t n = strlen(url) + strlen(method) + sizeof " HTTP/1.1\r\n";

	MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, count_bytes, &n);
	return n;
}

/* 431 for headers over HTTP_HEADERS_MAX, with as few bytes of our own as
 * libmicrohttpd's own answer (its memory is nearly full) and the close. */
static enum MHD_Result refuse_large_head(struct http_exchange *x)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
	                                                            MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	x->answered = true;
	ret = MHD_queue_response(x->conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_exchange *x = *con_cls;
	struct http_req *r;

	(void)version;
	if (x == NULL) {
		const char *cl;
		x = xcalloc(1, sizeof *x);
		r = &x->req;
		x->conn = conn;
		x->srv = s;
		x->started_us = mono_us();
		r->method = method_parse(method);
		r->path = url;
		req_fill_peer(x);
		*con_cls = x;
		if (request_head_bytes(conn, url, method) > HTTP_HEADERS_MAX)
			return refuse_large_head(x);
		conn_deadline_set(s, conn, mono_ms() + s->request_ms);   /* now the body */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL) {
			long long n;
			const char *err;
			if (parse_ll(cl, 0, (long long)1 << 40, &n, &err) == 0 && n > HTTP_BODY_MAX) {
				/* Too large. Up to HTTP_DISCARD_MAX the body is read and thrown
				 * away so that the client reads our 413 (answering while it still
				 * sends makes the close reset the connection); beyond that the
				 * answer goes at once. */
				r->body_too_large = true;
				if (n > HTTP_DISCARD_MAX) {
					s->o.handler(s->o.ctx, r);
					return queue_and_release(x);
				}
			}
		}
		return MHD_YES;
	}
	r = &x->req;
	if (x->answered) {
		/* answered early (oversized upload): drop whatever still arrives */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (x->deferred) {
		/* Resumed: the answer was set from another thread. A handler may
		 * make its answer ready before it defers (a mint's 200, sent only
		 * once its row is durable): only the resume makes it final. */
		if (!x->resumed || x->resp == NULL)
			return MHD_YES;
		undefer(x);
		return queue_and_release(x);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		/* Past the cap the rest is dropped as it comes (libmicrohttpd will not
		 * queue an answer mid-upload); the connection timeout bounds a sender
		 * that never stops, and the 413 goes out after the last byte. */
		if (!r->body_too_large) {
			if (x->body.len + n > HTTP_BODY_MAX) {
				r->body_too_large = true;
				buf_free(&x->body);
			} else {
				buf_add(&x->body, upload_data, n);
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	r->body = x->body.data;
	r->body_len = x->body.len;
	conn_deadline_set(s, conn, 0);           /* ours now: handled or deferred */
	s->o.handler(s->o.ctx, r);
	if (x->deferred)
		return MHD_YES;
	return queue_and_release(x);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_exchange *x = *con_cls;
	struct http_server *s = cls;

	/* kept alive: idle time, then the next request's headers */
	conn_deadline_set(s, conn, mono_ms() + s->idle_ms + s->request_ms);
	if (x == NULL)
		return;
	tlscork_end(&x->cork, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, s->name);
	/* Resumed, but the client had gone: the handler is not called again, so
	 * the count of waiting requests is given back here (else a stop would
	 * wait for it until its end). */
	undefer(x);
	if (x->answered)
		metrics_observe_request(x->srv->o.metrics, (enum metric_route)x->req.route,
		                        mono_us() - x->started_us);
	if (x->resp != NULL && !x->resp_shared)
		MHD_destroy_response(x->resp);
	if (x->req.state_free != NULL)
		x->req.state_free(x->req.state);
	buf_free(&x->body);
	free(x);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof buf, fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("%s port: libmicrohttpd: %s", s->name, buf);
}

struct http_server *http_server_start(const struct http_server_opts *o)
{
	struct http_server *s = xcalloc(1, sizeof *s);
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opts[16];
	int n = 0;
	const union MHD_DaemonInfo *info;

	s->o = *o;
	s->quiesced_fd = MHD_INVALID_SOCKET;
	atomic_init(&s->deferred, 0);
	atomic_init(&s->stopping, false);
	strlcpy_(s->name, o->name, sizeof s->name);
	s->request_ms = (int64_t)o->request_timeout_s * 1000;
	s->idle_ms = (int64_t)HTTP_CONN_TIMEOUT_S * 1000;
	if (sockaddr_from_bind(o->bind, o->port, &ss, &sslen) < 0)
		goto fail;
	if ((s->deadlines = deadlines_start(o->name)) == NULL)
		goto fail;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (o->tls)
		flags |= MHD_USE_TLS;

	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &ss };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, o->conn_limit, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT_S, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_limit, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY_LIMIT, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s };
	if (o->tls) {
		/* The pair comes from tlsmat's callback on every handshake, so a
		 * SIGHUP reload reaches new connections without a restart. */
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
		                                     (void *)&tls_material_retrieve };
		if (gnutls_session_ticket_key_generate(&s->ticket_key) != 0)
			log_warn("%s port: no TLS session tickets (key generation failed)", o->name);
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
	                        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (s->d == NULL) {
		log_error("%s port: cannot listen on %s:%d (address in use, no permission, or TLS setup failed)",
		          o->name, o->bind, o->port);
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : o->port;
	log_info("%s port: listening on %s%s:%d (%s, %d threads, at most %d connections, %d per address)",
	         o->name, ss.ss_family == AF_INET6 ? "[" : "", o->bind, s->port,
	         o->tls ? "TLS" : "plain HTTP", o->threads, o->conn_limit, o->per_ip_limit);
	return s;
fail:
	deadlines_stop(s->deadlines);
	free_ticket_key(s);
	free(s);
	return NULL;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_quiesce(struct http_server *s)
{
	if (s == NULL || s->d == NULL)
		return;
	atomic_store(&s->stopping, true);
	s->quiesced_fd = MHD_quiesce_daemon(s->d);
}

bool http_server_drain(struct http_server *s, int64_t deadline_mono_ms)
{
	if (s == NULL)
		return true;
	while (atomic_load(&s->deferred) > 0) {
		if (mono_ms() >= deadline_mono_ms)
			return false;
		usleep(HTTP_DRAIN_POLL_MS * 1000);
	}
	return true;
}

int http_server_deferred(const struct http_server *s)
{
	return s == NULL ? 0 : atomic_load(&((struct http_server *)s)->deferred);
}

void http_server_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	/* Only after quiesce and a drain that found nothing deferred: no
	 * connection is suspended then, nor can one be (libmicrohttpd aborts when
	 * stopped with suspended connections). Idle keep-alive connections are
	 * simply closed. */
	MHD_stop_daemon(s->d);
	if (s->quiesced_fd != MHD_INVALID_SOCKET)
		close(s->quiesced_fd);
	deadlines_stop(s->deadlines);            /* every connection is gone */
	free_ticket_key(s);
	free(s);
}
