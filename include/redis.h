/*
 * redis: the connection to the Redis that several nodes share (redis_url, or
 * the master that redis_sentinels name). One hiredis connection per calling
 * thread, made on first use; every call has a bounded timeout; a failed
 * connection is remade with backoff, so a Redis that is down costs one fast
 * failure per call, never a hang. Scripts go by EVALSHA, loaded again on
 * NOSCRIPT (a restarted or promoted Redis). libhiredis 0.14: no TLS, so
 * Redis is reached on loopback, a unix socket or a private network.
 */
#ifndef MNMFA_REDIS_H
#define MNMFA_REDIS_H

#include "challenge.h"             /* rng_fn */

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_CALL_TIMEOUT_MS 500        /* connect, and each command */
#define REDIS_BACKOFF_MIN_MS 50          /* first wait before a reconnect */
#define REDIS_BACKOFF_MAX_MS 2000
#define REDIS_FAILURES_COUNTED 32        /* past this many failed connects, still the cap */
#define REDIS_TRIES 3                    /* for calls safe to repeat */
#define REDIS_TRIES_MS 3000              /* ... within this long */
#define REDIS_WAIT_MS 200                /* WAIT for a replica (when the master has one) */
#define REDIS_ROLE_MS 1000               /* a connection that knows no replica asks ROLE again
                                            this often (before a decision) */
#define REDIS_HOST_MAX 256
#define REDIS_SECRET_MAX 256
#define REDIS_SENTINELS_MAX 8

/* A parsed redis_url. */
struct redis_addr {
	char host[REDIS_HOST_MAX];           /* "" with a unix socket */
	int port;
	char path[REDIS_HOST_MAX];           /* unix socket, or "" */
	char user[REDIS_SECRET_MAX];
	char password[REDIS_SECRET_MAX];
	int db;
};

/* Parses redis://[user:password@]host[:port][/db] or unix:///path[?db=N].
 * 0, or -1 with a reason in err. */
int redis_parse_url(const char *url, struct redis_addr *out, char *err, size_t errlen);
/* Parses a Sentinel's host:port. 0 or -1. */
int redis_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

struct redis_script {
	const char *name;
	const char *src;
	char sha[41];                        /* filled by redis_new */
};

/* How long a thread waits before its next connect after `failures` (>= 1)
 * failed ones in a row: REDIS_BACKOFF_MIN_MS doubling up to
 * REDIS_BACKOFF_MAX_MS, jittered by rng (backoff.h: a value in [d/2, d]) so
 * that the threads of several nodes do not reconnect in lockstep. */
int64_t redis_reconnect_delay(int failures, rng_fn rng, void *ctx);

/* Fills s->sha from s->src. */
void redis_script_init(struct redis_script *s, const char *name, const char *src);

/* url may be NULL when sentinels are given (then it only carries the
 * password and db). Logs and returns NULL on a bad address. Connects lazily. */
struct redis *redis_new(const char *url, char *const *sentinels, int nsentinels, const char *master);
void redis_free(struct redis *r);

/* Flags for redis_eval. */
#define REDIS_REPEATABLE 1               /* the script is idempotent: retried on a lost connection */
#define REDIS_DURABLE 2                  /* when the master has replicas: WAIT for one to have it */

/* Runs script s with keys then args (binary-safe, lengths given; lens NULL:
 * NUL-terminated strings). Returns the reply (free with freeReplyObject), or
 * NULL when Redis cannot be reached, timed out, or is not a writable master;
 * a script error is logged and returned as NULL too. */
redisReply *redis_eval(struct redis *r, const struct redis_script *s, int nkeys, int argc,
                       const char **argv, const size_t *lens, int flags);
/* What redis_eval_acked knows of a write that must survive a failover. */
struct redis_ack {
	bool sent;      /* it went out on a connection at least once (without a
	                   reply, Redis may have run it) */
	bool acked;     /* with a reply: on a replica, or on a master with none
	                   (nothing to fail over to). false: the master lists a
	                   replica and none confirmed within REDIS_WAIT_MS */
};
/* redis_eval with REDIS_DURABLE, telling *ack. */
redisReply *redis_eval_acked(struct redis *r, const struct redis_script *s, int nkeys, int argc,
                             const char **argv, const size_t *lens, int flags, struct redis_ack *ack);
/* One plain command, same contract. */
redisReply *redis_command(struct redis *r, int argc, const char **argv, const size_t *lens);

/* One command of a pipeline: a script (script set) or a plain command. */
struct redis_cmd {
	const struct redis_script *script;   /* NULL: argv is the command itself */
	int nkeys, argc;
	const char **argv;
	const size_t *lens;                  /* NULL: NUL-terminated strings */
	redisReply *reply;                   /* out: NULL on failure or a script error */
};
#define REDIS_PIPELINE_MAX 4

/* Sends n commands at once and reads their n replies: one round trip. 0, or
 * -1 when Redis could not be reached (every reply NULL). Not retried. A
 * script Redis does not have yet is sent again by itself. */
int redis_pipeline(struct redis *r, struct redis_cmd *cmds, int n);

/* PING on this thread's connection: true when Redis answers as a master. */
bool redis_ping(struct redis *r);

struct redis_stats {
	uint64_t calls, errors;
	uint64_t latency_us;                 /* sum over calls */
	bool up;                             /* the last call reached Redis */
};
void redis_get_stats(struct redis *r, struct redis_stats *out);

#endif
