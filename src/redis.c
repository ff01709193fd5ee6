/*
 * redis: connections to the shared Redis, one per calling thread.
 *
 * A thread's connection lives under a pthread key and is freed when the
 * thread ends; every connection is also on a list so redis_free can close
 * those of threads still alive. A call that finds no connection makes one,
 * unless the last attempt failed less than a backoff ago (50 ms doubling to
 * 2 s, each wait jittered over [d/2, d] so the threads of several nodes that
 * lost Redis together do not reconnect in lockstep): then it fails at once, so a Redis that is down answers every request
 * quickly (503) instead of holding worker threads.
 *
 * With Sentinel, a connection starts by asking each sentinel in turn for the
 * master's address and checks with ROLE that the server is a master; a
 * master that was demoted answers writes with READONLY, which drops the
 * connection and the next call asks the sentinels again (how a node follows
 * a failover). Every connection learns from ROLE how many replicas its
 * master has; after a decision (REDIS_DURABLE) on a master with replicas a
 * WAIT for one rides in the same round trip, and its answer goes back to the
 * caller (redis_eval_acked): a decision no replica confirmed is one a
 * failover may forget, so the caller does not answer on it. A WAIT that got
 * no replica asks ROLE again, so a replica that went away stops costing
 * the wait. A call whose connection broke mid-way has an
 * unknown outcome: only scripts made idempotent by the caller
 * (REDIS_REPEATABLE: a token per request) are sent again.
 */
#include "redis.h"
#include "backoff.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define REDIS_ARGS_MAX 40

struct rconn {
	redisContext *c;             /* NULL: not connected */
	int64_t retry_at;            /* monotonic ms: no attempt before */
	int failures;                /* connects failed in a row */
	int replicas;                /* the master's replicas, as ROLE last said */
	int64_t role_at;             /* monotonic ms of that ROLE */
	struct rconn *prev, *next;
	struct redis *owner;
};

struct redis {
	struct redis_addr addr;
	char sentinel_host[REDIS_SENTINELS_MAX][REDIS_HOST_MAX];
	int sentinel_port[REDIS_SENTINELS_MAX];
	int nsentinels;
	char master[REDIS_HOST_MAX];
	pthread_key_t key;
	pthread_mutex_t lock;        /* the list of connections */
	struct rconn *conns;
	atomic_ullong calls, errors, latency_us;
	atomic_bool up;
};

static int url_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

int redis_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	long long v;
	const char *e;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= hostlen)
		return -1;
	if (parse_ll(colon + 1, 1, 65535, &v, &e) < 0)
		return -1;
	snprintf(host, hostlen, "%.*s", (int)(colon - s), s);
	*port = (int)v;
	return 0;
}

/* user:password or password, before an '@'. */
static int parse_userinfo(const char *s, size_t len, struct redis_addr *a)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL) {
		if (len >= sizeof a->password)
			return -1;
		snprintf(a->password, sizeof a->password, "%.*s", (int)len, s);
		return 0;
	}
	if ((size_t)(colon - s) >= sizeof a->user || len - (size_t)(colon - s) - 1 >= sizeof a->password)
		return -1;
	snprintf(a->user, sizeof a->user, "%.*s", (int)(colon - s), s);
	snprintf(a->password, sizeof a->password, "%.*s", (int)(len - (size_t)(colon - s) - 1), colon + 1);
	return 0;
}

int redis_parse_url(const char *url, struct redis_addr *a, char *err, size_t errlen)
{
	const char *p, *at, *slash, *q;
	long long v;
	const char *e;

	memset(a, 0, sizeof *a);
	a->port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		if (*p != '/')
			return url_fail(err, errlen, "unix:// needs an absolute socket path");
		q = strchr(p, '?');
		if ((size_t)(q != NULL ? q - p : (long)strlen(p)) >= sizeof a->path)
			return url_fail(err, errlen, "socket path too long");
		snprintf(a->path, sizeof a->path, "%.*s", (int)(q != NULL ? q - p : (long)strlen(p)), p);
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 || parse_ll(q + 4, 0, 15, &v, &e) < 0)
				return url_fail(err, errlen, "expected ?db=N (0-15) after the socket path");
			a->db = (int)v;
		}
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return url_fail(err, errlen, "expected redis://host:port/db or unix:///path?db=N");
	p = url + 8;
	slash = strchr(p, '/');
	at = strrchr(p, '@');
	if (at != NULL && (slash == NULL || at < slash)) {
		if (parse_userinfo(p, (size_t)(at - p), a) < 0)
			return url_fail(err, errlen, "user or password too long");
		p = at + 1;
		slash = strchr(p, '/');
	}
	{
		char hp[REDIS_HOST_MAX + 8];
		size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n >= sizeof hp)
			return url_fail(err, errlen, "missing or too long host");
		snprintf(hp, sizeof hp, "%.*s", (int)n, p);
		if (strchr(hp, ':') != NULL) {
			if (redis_parse_hostport(hp, a->host, sizeof a->host, &a->port) < 0)
				return url_fail(err, errlen, "expected host:port with a port in 1-65535");
		} else {
			if (n >= sizeof a->host)
				return url_fail(err, errlen, "host too long");
			snprintf(a->host, sizeof a->host, "%.*s", (int)n, hp);
		}
	}
	if (slash != NULL && slash[1] != '\0') {
		if (parse_ll(slash + 1, 0, 15, &v, &e) < 0)
			return url_fail(err, errlen, "the database after '/' must be 0-15");
		a->db = (int)v;
	}
	return 0;
}

static void sha1_hex(const char *s, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
	for (unsigned i = 0; i < n && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void conn_close(struct rconn *k)
{
	if (k->c != NULL)
		redisFree(k->c);
	k->c = NULL;
}

static void conn_destroy(void *p)
{
	struct rconn *k = p;
	struct redis *r = k->owner;

	pthread_mutex_lock(&r->lock);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		r->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&r->lock);
	conn_close(k);
	free(k);
}

void redis_script_init(struct redis_script *s, const char *name, const char *src)
{
	s->name = name;
	s->src = src;
	sha1_hex(src, s->sha);
}

struct redis *redis_new(const char *url, char *const *sentinels, int nsentinels, const char *master)
{
	struct redis *r = xcalloc(1, sizeof *r);
	char err[128];

	if (url != NULL && redis_parse_url(url, &r->addr, err, sizeof err) < 0) {
		log_error("redis_url: %s", err);
		goto fail;
	}
	if (nsentinels > REDIS_SENTINELS_MAX) {
		log_error("redis_sentinels: at most %d", REDIS_SENTINELS_MAX);
		goto fail;
	}
	for (int i = 0; i < nsentinels; i++) {
		if (redis_parse_hostport(sentinels[i], r->sentinel_host[i], REDIS_HOST_MAX,
		                         &r->sentinel_port[i]) < 0) {
			log_error("redis_sentinels: expected host:port, got \"%s\"", sentinels[i]);
			goto fail;
		}
	}
	r->nsentinels = nsentinels;
	if (master != NULL)
		snprintf(r->master, sizeof r->master, "%s", master);
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_key_create(&r->key, conn_destroy) != 0)
		fatal("%s: pthread_key_create failed", __func__);
	atomic_init(&r->up, false);
	return r;
fail:
	explicit_bzero(&r->addr, sizeof r->addr);
	free(r);
	return NULL;
}

void redis_free(struct redis *r)
{
	struct rconn *k, *next;

	if (r == NULL)
		return;
	pthread_key_delete(r->key);
	for (k = r->conns; k != NULL; k = next) {
		next = k->next;
		conn_close(k);
		free(k);
	}
	pthread_mutex_destroy(&r->lock);
	explicit_bzero(&r->addr, sizeof r->addr);
	free(r);
}

static struct timeval call_timeout(void)
{
	struct timeval tv = { REDIS_CALL_TIMEOUT_MS / 1000, (REDIS_CALL_TIMEOUT_MS % 1000) * 1000 };
	return tv;
}

static redisContext *connect_tcp(const char *host, int port)
{
	redisContext *c = redisConnectWithTimeout(host, port, call_timeout());

	if (c == NULL)
		return NULL;
	if (c->err != 0 || redisSetTimeout(c, call_timeout()) != REDIS_OK) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* A reply that is an array whose first element is the string `want`. */
static bool reply_first_is(const redisReply *rep, const char *want)
{
	return rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
	       rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, want) == 0;
}

/* Asks the sentinels in turn where the master is. */
static redisContext *connect_via_sentinels(struct redis *r)
{
	for (int i = 0; i < r->nsentinels; i++) {
		redisContext *s = connect_tcp(r->sentinel_host[i], r->sentinel_port[i]);
		redisReply *rep;
		char host[REDIS_HOST_MAX];
		int port = 0;

		if (s == NULL)
			continue;
		rep = redisCommand(s, "SENTINEL get-master-addr-by-name %s", r->master);
		host[0] = '\0';
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING) {
			snprintf(host, sizeof host, "%s", rep->element[0]->str);
			port = atoi(rep->element[1]->str);
		}
		if (rep != NULL)
			freeReplyObject(rep);
		redisFree(s);
		if (host[0] != '\0' && port > 0) {
			redisContext *c = connect_tcp(host, port);
			if (c != NULL)
				return c;
		}
	}
	return NULL;
}

/* The replicas a master's ROLE reply lists; 0 for anything else. */
static int role_replicas(const redisReply *rep)
{
	if (!reply_first_is(rep, "master") || rep->elements < 3 || rep->element[2]->type != REDIS_REPLY_ARRAY)
		return 0;
	return (int)rep->element[2]->elements;
}

static bool conn_setup(struct redis *r, redisContext *c, int *replicas)
{
	redisReply *rep = NULL;
	bool ok = true;

	if (r->addr.password[0] != '\0') {
		if (r->addr.user[0] != '\0')
			rep = redisCommand(c, "AUTH %s %s", r->addr.user, r->addr.password);
		else
			rep = redisCommand(c, "AUTH %s", r->addr.password);
		ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
		if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
			log_error("redis: authentication refused");   /* never the password */
		if (rep != NULL)
			freeReplyObject(rep);
		if (!ok)
			return false;
	}
	if (r->addr.db != 0) {
		rep = redisCommand(c, "SELECT %d", r->addr.db);
		ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
		if (rep != NULL)
			freeReplyObject(rep);
		if (!ok)
			return false;
	}
	/* A sentinel's answer can be stale during a failover: a master only
	 * then. Without Sentinel a ROLE refused only means no replica known. */
	rep = redisCommand(c, "ROLE");
	*replicas = role_replicas(rep);
	if (r->nsentinels > 0)
		ok = reply_first_is(rep, "master");
	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}

int64_t redis_reconnect_delay(int failures, rng_fn rng, void *ctx)
{
	return backoff(failures, REDIS_BACKOFF_MIN_MS, REDIS_BACKOFF_MAX_MS, rng, ctx);
}

static struct rconn *conn_get(struct redis *r)
{
	struct rconn *k = pthread_getspecific(r->key);
	int64_t now = mono_ms();
	redisContext *c;
	int replicas = 0;

	if (k == NULL) {
		k = xcalloc(1, sizeof *k);
		k->owner = r;
		pthread_mutex_lock(&r->lock);
		k->next = r->conns;
		if (r->conns != NULL)
			r->conns->prev = k;
		r->conns = k;
		pthread_mutex_unlock(&r->lock);
		pthread_setspecific(r->key, k);
	}
	if (k->c != NULL)
		return k;
	if (now < k->retry_at)
		return NULL;
	if (r->nsentinels > 0)
		c = connect_via_sentinels(r);
	else if (r->addr.path[0] != '\0')
		c = redisConnectUnixWithTimeout(r->addr.path, call_timeout());
	else
		c = connect_tcp(r->addr.host, r->addr.port);
	if (c != NULL && (c->err != 0 || redisSetTimeout(c, call_timeout()) != REDIS_OK || !conn_setup(r, c, &replicas))) {
		redisFree(c);
		c = NULL;
	}
	if (c == NULL) {
		if (k->failures < REDIS_FAILURES_COUNTED)
			k->failures++;
		k->retry_at = now + redis_reconnect_delay(k->failures, crypto_rng_u64, NULL);
		if (atomic_exchange(&r->up, false))
			log_warn("redis: cannot connect; retrying with backoff");
		return NULL;
	}
	k->c = c;
	k->replicas = replicas;
	k->role_at = mono_ms();
	k->failures = 0;
	k->retry_at = 0;
	if (!atomic_exchange(&r->up, true))
		log_info("redis: connected");
	return k;
}

/* Errors that mean "not the master we need": drop the connection. */
static bool reply_is_fault(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ERROR &&
	       (strncmp(rep->str, "READONLY", 8) == 0 || strncmp(rep->str, "LOADING", 7) == 0 ||
	        strncmp(rep->str, "MASTERDOWN", 10) == 0 || strncmp(rep->str, "NOAUTH", 6) == 0);
}

static void count_call(struct redis *r, int64_t t0, bool ok)
{
	atomic_fetch_add_explicit(&r->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->latency_us, (unsigned long long)(mono_us() - t0), memory_order_relaxed);
	if (!ok)
		atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
}

/* After a WAIT no replica answered, or REDIS_ROLE_MS after a ROLE that
 * listed none (a replica may have joined since): how many the master has now. */
static void replicas_refresh(struct rconn *k)
{
	redisReply *rep = redisCommand(k->c, "ROLE");

	k->replicas = role_replicas(rep);
	k->role_at = mono_ms();
	if (rep != NULL)
		freeReplyObject(rep);
}

/* Sends argv (and a WAIT when asked and the master has replicas) and reads
 * the first reply. NULL with *broken set when the connection failed. ack
 * (may be NULL): sent, and acked false when a WAIT got no replica. */
static redisReply *send_once(struct redis *r, struct rconn *k, int argc, const char **argv,
                             const size_t *lens, bool durable, struct redis_ack *ack, bool *broken)
{
	redisReply *rep = NULL, *w = NULL;
	int64_t t0 = mono_us();
	bool wait;

	if (durable && k->replicas == 0 && mono_ms() - k->role_at >= REDIS_ROLE_MS)
		replicas_refresh(k);
	wait = durable && k->replicas > 0;

	*broken = false;
	if (ack != NULL) {
		ack->sent = true;
		ack->acked = true;
	}
	if (redisAppendCommandArgv(k->c, argc, argv, lens) != REDIS_OK)
		goto broke;
	if (wait && redisAppendCommand(k->c, "WAIT 1 %d", REDIS_WAIT_MS) != REDIS_OK)
		goto broke;
	if (redisGetReply(k->c, (void **)&rep) != REDIS_OK || rep == NULL)
		goto broke;
	if (wait && (redisGetReply(k->c, (void **)&w) != REDIS_OK || w == NULL))
		goto broke;
	if (w != NULL) {
		bool none = w->type != REDIS_REPLY_INTEGER || w->integer < 1;
		freeReplyObject(w);
		if (none && rep->type != REDIS_REPLY_ERROR) {
			if (ack != NULL)
				ack->acked = false;
			replicas_refresh(k);
		}
	}
	if (reply_is_fault(rep)) {
		log_warn("redis: %s; reconnecting", rep->str);
		freeReplyObject(rep);
		rep = NULL;
		goto broke;
	}
	count_call(r, t0, true);
	return rep;
broke:
	if (rep != NULL)
		freeReplyObject(rep);
	count_call(r, t0, false);
	conn_close(k);
	atomic_store(&r->up, false);
	*broken = true;
	return NULL;
}

/* Runs argv, retrying a broken connection when `tries` > 1. */
static redisReply *call(struct redis *r, int argc, const char **argv, const size_t *lens, int tries,
                        bool durable, struct redis_ack *ack)
{
	int64_t deadline = mono_ms() + REDIS_TRIES_MS;

	for (int i = 0; i < tries; i++) {
		struct rconn *k = conn_get(r);
		redisReply *rep;
		bool broken;

		if (k == NULL) {
			if (i + 1 >= tries || mono_ms() >= deadline)
				return NULL;
			/* wait out the backoff, bounded by the deadline */
			struct timespec ts = { 0, REDIS_BACKOFF_MIN_MS * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		rep = send_once(r, k, argc, argv, lens, durable, ack, &broken);
		if (!broken)
			return rep;
		k->retry_at = 0;            /* the next try reconnects at once */
		if (mono_ms() >= deadline)
			return NULL;
	}
	return NULL;
}

redisReply *redis_command(struct redis *r, int argc, const char **argv, const size_t *lens)
{
	return call(r, argc, argv, lens, 1, false, NULL);
}

redisReply *redis_eval_acked(struct redis *r, const struct redis_script *s, int nkeys, int argc,
                             const char **argv, const size_t *lens, int flags, struct redis_ack *ack)
{
	const char *av[REDIS_ARGS_MAX + 3];
	size_t al[REDIS_ARGS_MAX + 3];
	char nk[16];
	int tries = flags & REDIS_REPEATABLE ? REDIS_TRIES : 1;
	bool durable = (flags & REDIS_DURABLE) != 0;
	redisReply *rep;

	if (ack != NULL)
		*ack = (struct redis_ack){ .sent = false, .acked = false };

	if (argc > REDIS_ARGS_MAX)
		fatal("%s: too many arguments", __func__);
	snprintf(nk, sizeof nk, "%d", nkeys);
	av[0] = "EVALSHA";
	av[1] = s->sha;
	av[2] = nk;
	for (int i = 0; i < argc; i++) {
		av[3 + i] = argv[i];
		al[3 + i] = lens != NULL ? lens[i] : strlen(argv[i]);
	}
	al[0] = 7;
	al[1] = 40;
	al[2] = strlen(nk);
	rep = call(r, argc + 3, av, al, tries, durable, ack);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		av[0] = "EVAL";
		al[0] = 4;
		av[1] = s->src;
		al[1] = strlen(s->src);
		rep = call(r, argc + 3, av, al, tries, durable, ack);
	}
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
		log_error("redis: script %s failed: %s", s->name, rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

redisReply *redis_eval(struct redis *r, const struct redis_script *s, int nkeys, int argc,
                       const char **argv, const size_t *lens, int flags)
{
	return redis_eval_acked(r, s, nkeys, argc, argv, lens, flags, NULL);
}

/* The argv of cmd as sent: EVALSHA sha nkeys ... for a script. */
static int cmd_argv(const struct redis_cmd *c, const char **av, size_t *al, char nk[16])
{
	int o = 0;

	if (c->argc > REDIS_ARGS_MAX)
		fatal("%s: too many arguments", __func__);
	if (c->script != NULL) {
		snprintf(nk, 16, "%d", c->nkeys);
		av[0] = "EVALSHA", al[0] = 7;
		av[1] = c->script->sha, al[1] = 40;
		av[2] = nk, al[2] = strlen(nk);
		o = 3;
	}
	for (int i = 0; i < c->argc; i++) {
		av[o + i] = c->argv[i];
		al[o + i] = c->lens != NULL ? c->lens[i] : strlen(c->argv[i]);
	}
	return o + c->argc;
}

int redis_pipeline(struct redis *r, struct redis_cmd *cmds, int n)
{
	const char *av[REDIS_ARGS_MAX + 3];
	size_t al[REDIS_ARGS_MAX + 3];
	char nk[16];
	struct rconn *k = conn_get(r);
	int64_t t0 = mono_us();
	int got = 0;

	for (int i = 0; i < n; i++)
		cmds[i].reply = NULL;
	if (k == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		int ac = cmd_argv(&cmds[i], av, al, nk);
		if (redisAppendCommandArgv(k->c, ac, av, al) != REDIS_OK)
			goto broke;
	}
	for (got = 0; got < n; got++) {
		redisReply *rep = NULL;
		if (redisGetReply(k->c, (void **)&rep) != REDIS_OK || rep == NULL)
			goto broke;
		cmds[got].reply = rep;
		if (reply_is_fault(rep)) {
			log_warn("redis: %s; reconnecting", rep->str);
			got++;
			goto broke;
		}
	}
	count_call(r, t0, true);
	for (int i = 0; i < n; i++) {
		redisReply *rep = cmds[i].reply;
		bool noscript;

		if (rep == NULL || rep->type != REDIS_REPLY_ERROR)
			continue;
		noscript = cmds[i].script != NULL && strncmp(rep->str, "NOSCRIPT", 8) == 0;
		if (!noscript)
			log_error("redis: a pipelined command failed: %s", rep->str);
		freeReplyObject(rep);
		cmds[i].reply = NULL;
		if (noscript)
			cmds[i].reply = redis_eval(r, cmds[i].script, cmds[i].nkeys, cmds[i].argc, cmds[i].argv,
			                           cmds[i].lens, 0);
	}
	return 0;
broke:
	for (int i = 0; i < got; i++) {
		if (cmds[i].reply != NULL)
			freeReplyObject(cmds[i].reply);
		cmds[i].reply = NULL;
	}
	count_call(r, t0, false);
	conn_close(k);
	atomic_store(&r->up, false);
	return -1;
}

bool redis_ping(struct redis *r)
{
	const char *av[1] = { "PING" };
	redisReply *rep = call(r, 1, av, NULL, 1, false, NULL);
	bool ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;

	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}

void redis_get_stats(struct redis *r, struct redis_stats *out)
{
	out->calls = atomic_load_explicit(&r->calls, memory_order_relaxed);
	out->errors = atomic_load_explicit(&r->errors, memory_order_relaxed);
	out->latency_us = atomic_load_explicit(&r->latency_us, memory_order_relaxed);
	out->up = atomic_load(&r->up);
}
