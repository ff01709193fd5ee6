/*
 * fake_chatfuel: a plain-HTTP libmicrohttpd server on 127.0.0.1 standing in
 * for Chatfuel's Broadcasting API (and for webhook receivers). It records
 * every request -- method, decoded path, raw request URI, decoded query
 * arguments, a few headers, body, arrival time (the kernel's, not the fake
 * thread's, so load on the machine does not bunch arrivals) -- under a mutex and answers
 * {"success": true, "result": "ok"}, or a scripted error status for the next
 * N requests.
 */
#ifndef E2E_FAKE_CHATFUEL_H
#define E2E_FAKE_CHATFUEL_H

#include <stdbool.h>
#include <stddef.h>

#define FAKE_MAX_ARGS 32
#define FAKE_MAX_BODY (64 * 1024)

struct fake_arg {
	char *name, *value;           /* value NULL for "name" without "=" */
};

struct fake_call {
	char method[16];
	char *path;                   /* decoded by MHD, no query */
	char *raw_uri;                /* exactly as on the request line */
	struct fake_arg args[FAKE_MAX_ARGS];
	int nargs;
	int nargs_total;              /* including any past FAKE_MAX_ARGS */
	char *ctype;                  /* Content-Type header or NULL */
	char *signature;              /* X-Mnmfa-Signature header or NULL */
	char *body;
	size_t body_len;
	long long at_ms;              /* arrival: when the kernel received its last bytes, on
	                                 h_mono_ms()'s clock (see received_ms) */
	int answered;                 /* status we answered */
	long long answered_ms;        /* h_mono_ms() as the fake chose that answer, before it left
	                                 (and before any scripted delay) */
};

/* at_ms counts the kernel's ticks (TCP_INFO): it may read up to one tick
 * early; HZ is at least 100. */
#define FAKE_RECV_TICK_MS 10

struct fake_cf;

struct fake_cf *fake_start(void);
void fake_stop(struct fake_cf *f);
int fake_port(const struct fake_cf *f);
char *fake_base_url(const struct fake_cf *f);   /* allocated "http://127.0.0.1:PORT" */

/* Answer `status` (with a JSON error body) to the next `times` requests. */
void fake_fail_next(struct fake_cf *f, int status, int times);

/* Scripted failures also carry Retry-After: seconds (0: none). */
void fake_retry_after(struct fake_cf *f, int seconds);

/* Successful answers are {"success": true, "result": "xxx..."} of size bytes
 * (a huge answer). Call before the daemon sends. */
void fake_big_success(struct fake_cf *f, size_t size);

/* Answer every request only after ms (a slow Chatfuel). */
void fake_delay(struct fake_cf *f, int ms);

int fake_count(struct fake_cf *f);
/* Waits (polling, bounded) until at least n calls are recorded; returns the
 * count reached. */
int fake_wait(struct fake_cf *f, int n, int timeout_ms);
/* Observes for window_ms; returns the count at its end. */
int fake_quiet(struct fake_cf *f, int window_ms);
/* The most calls that arrived in any span of window_ms (sliding: every
 * call's arrival starts one); *first_ms (may be NULL) gets where the first
 * such span starts, in ms after the first arrival. */
int fake_most_in_window(struct fake_cf *f, long long window_ms, long long *first_ms);
/* The i-th recorded call (stable pointer, immutable once recorded). */
const struct fake_call *fake_call(struct fake_cf *f, int i);

const char *fake_arg(const struct fake_call *c, const char *name);
bool fake_has_arg(const struct fake_call *c, const char *name);

#endif
