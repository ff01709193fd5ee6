/*
 * http: the glue to libmicrohttpd. Starts and stops a daemon (poll, internal
 * thread pool, TLS via GnuTLS, deadlines on every client-paced phase), collects request bodies up to HTTP_BODY_MAX,
 * hands each complete request to one handler, and builds responses that all
 * carry the SPEC §5 security headers. Handlers never block: work that must
 * wait (a durable audit commit) suspends the request with http_defer and
 * answers later from another thread with http_reply_* + http_resume.
 */
#ifndef MNMFA_HTTP_H
#define MNMFA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define HTTP_BODY_MAX (16 * 1024)
#define HTTP_DISCARD_MAX (1024 * 1024)    /* oversized bodies read and dropped before the 413 */
#define HTTP_CONN_LIMIT 30000            /* per daemon at most, split across pool threads */
#define HTTP_CONN_TIMEOUT_S 30           /* keep-alive idle (libmicrohttpd's idle timeout) */
/* libmicrohttpd's memory per connection: the request line and headers, their
 * index, and our response's header block. It zeroes it for every request
 * (the page's largest cost at 16 KiB), so it is no larger than it must be. */
#define HTTP_CONN_MEMORY_LIMIT (8 * 1024)
/* Request line + headers past this get a 431 from http.c (with few headers
 * of its own): between it and the memory limit a request's headers would fit
 * but not the response's, and libmicrohttpd would close without an answer. */
#define HTTP_HEADERS_MAX (6 * 1024)
/* What libmicrohttpd 0.9.75 keeps per header or query argument besides its
 * text (struct MHD_HTTP_Header: four pointers, two sizes and the kind): many
 * short headers fill its memory as surely as one long one. */
#define HTTP_HEADER_INDEX_BYTES 56
#define HTTP_DRAIN_POLL_MS 10            /* the drain looks at the deferred count this often */

struct http_server;
struct tls_material;
struct metrics;

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_OPTIONS, HTTP_OTHER };

/* One request as its handler sees it, alive from its headers until its
 * response is sent. The transport's side of it (the connection, the response
 * being built, deferral) is http.c's own. */
struct http_req {
	enum http_method method;
	const char *path;                /* without the query string */
	char *body;                      /* NUL-terminated, body_len bytes */
	size_t body_len;
	bool body_too_large;
	char ip[INET6_ADDRSTRLEN];       /* the peer's address, as the socket sees it */
	bool loopback;
	int route;                       /* enum metric_route: set by the handler, for /metrics */
	void *state;                     /* handler's own, freed with state_free */
	void (*state_free)(void *);
};

typedef void (*http_handler_fn)(void *ctx, struct http_req *req);

struct http_server_opts {
	const char *name;                /* "web" or "api", for logs */
	const char *bind;
	int port;
	bool tls;
	int threads;
	int request_timeout_s;           /* TLS handshake + headers; a body after its headers */
	int conn_limit;                  /* connections at once (1..HTTP_CONN_LIMIT) */
	int per_ip_limit;                /* connections at once from one address */
	http_handler_fn handler;
	void *ctx;
	struct metrics *metrics;         /* request durations per route; may be NULL */
};

/* Binds and starts; NULL on failure (logged: port in use, bad address, TLS). */
struct http_server *http_server_start(const struct http_server_opts *o);
/* Stopping: quiesce (no new connections, and from now on http_defer
 * refuses), then drain (wait until every deferred request is back in its
 * pool thread, however its connection ended; false at the deadline, a
 * mono_ms() instant), then stop (only when drained: libmicrohttpd aborts on
 * suspended connections). */
void http_server_quiesce(struct http_server *s);
bool http_server_drain(struct http_server *s, int64_t deadline_mono_ms);
void http_server_stop(struct http_server *s);
int http_server_deferred(const struct http_server *s);   /* requests deferred now */
int http_server_port(const struct http_server *s);

const char *http_header(struct http_req *r, const char *name);
const char *http_query(struct http_req *r, const char *name);
/* The same with the decoded length, which is more than strlen when the value
 * holds a NUL byte (%00): callers refuse such a value rather than cut it. */
const char *http_query_n(struct http_req *r, const char *name, size_t *len);
const char *http_method_name(enum http_method m);

/* Responses. ctype NULL means no Content-Type. Every response gets the
 * security headers; html ones get the page CSP, others a deny-all CSP. */
void http_reply(struct http_req *r, unsigned status, const char *ctype, const void *body, size_t len);
/* Takes ownership of a malloc'd body. */
void http_reply_take(struct http_req *r, unsigned status, const char *ctype, char *body, size_t len);
void http_reply_redirect(struct http_req *r, unsigned status, const char *location);
/* 304 Not Modified for a cached asset: its ETag and caching, no body. */
void http_reply_static_304(struct http_req *r, const char *etag, const char *cache_control);
void http_reply_add_header(struct http_req *r, const char *name, const char *value);
/* JSON: renders and frees obj; Content-Type application/json; charset=utf-8. */
struct cJSON;
void http_reply_json(struct http_req *r, unsigned status, struct cJSON *obj);
/* {"error": code, "field"?: field, "detail": detail} (SPEC §4.3). */
void http_reply_error(struct http_req *r, unsigned status, const char *code, const char *field,
                      const char *detail);
/* Content-Type without parameters, lowercased, into buf ("" if none). */
void http_content_type(struct http_req *r, char *buf, size_t len);

/* Retry-After: seconds (>= 1), on the response just built. */
void http_reply_retry_after(struct http_req *r, int seconds);
/* GET /healthz of either port: 200 {"status":"ok"}. */
void http_reply_health(struct http_req *r);

/* A response prepared once and served to many requests (static assets, the
 * brand css and logo), with the security headers. body is not copied: it must
 * outlive the cached response. Free only after the daemons serving it stopped. */
struct http_cached;
struct http_cached *http_cached_new(const void *body, size_t len, const char *ctype,
                                    const char *cache_control, const char *etag);
void http_cached_free(struct http_cached *c);
void http_reply_cached(struct http_req *r, unsigned status, struct http_cached *c);

/* Suspends the request after the handler returns; the answer comes later
 * from any thread with http_reply_* followed by http_resume. An answer set
 * before http_defer is held, not sent, until http_resume (which may replace
 * it first). false once the server is stopping: nothing was suspended, the
 * handler answers itself. */
bool http_defer(struct http_req *r);
void http_resume(struct http_req *r);

#endif
