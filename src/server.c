/*
 * server: start-up and shutdown of `mnmfa serve`.
 *
 * Order: TLS material (generated if asked) → store → notify → audit → web
 * and API daemons → drop privileges → signal loop. The main thread waits in
 * sigtimedwait: TERM/INT stop, HUP reloads the certificate; every
 * SWEEP_INTERVAL_MS it sweeps the store so expired challenges are audited.
 * Stop runs in reverse, within stop_timeout from the signal: stop accepting
 * and deferring, let deferred answers get their evidence (first half of
 * stop_timeout, then "try again"), drain, stop the daemons, cancel what is
 * pending (every cancel waits for room in the audit queue), flush the audit
 * queue, stop the sender.
 *
 * The threads of the process. Each has TERM, INT, HUP and PIPE blocked (the
 * mask is set here before any is started); only the main thread takes them.
 *
 *  thread        started by          may block on                  stops
 *  main          the process         sigtimedwait, at most         TERM/INT end the signal
 *                (server_run)        SWEEP_INTERVAL_MS; a HUP      loop; it runs the stop
 *                                    reload reads and parses the   sequence above, returns
 *                                    PEM files; the sweep takes
 *                                    the store's locks and waits
 *                                    for room in the audit queue
 *  web pool      http_server_start   poll. A request takes         http_server_stop after
 *  (`threads`)   (libmicrohttpd's    only short mutexes (store,    quiesce and drain; left
 *                internal pool)      limiter, audit queue); an     running if the drain
 *                                    answer that needs its audit   times out (the process
 *                                    row is deferred, not waited   is exiting then)
 *  api pool      http_server_start   as web, and the status of an  as web
 *  (`threads`)   for the API port    id the store forgot is one
 *                                    SQLite read of the audit DB
 *                                    (busy timeout AUDITDB_BUSY_MS)
 *  deadlines     http_server_start   a timed wait of               http_server_stop, after
 *  (one a port)  (deadline.c)        DEADLINE_TICK_MS; the list's  the daemon: no connection
 *                                    mutex, which pool threads     is left to watch
 *                                    hold only to move an entry
 *  audit writer  audit_open          its queue's condition; each   audit_close_by: it writes
 *                                    group's commit (fsync),       what is queued until the
 *                                    retried until durable (busy   stop's end, then is joined
 *                                    timeout AUDIT_WRITER_BUSY_MS);
 *                                    it runs the done callbacks
 *                                    that answer deferred requests
 *  notify sender notify_start        curl_multi_poll (woken by a   notify_stop: flag and
 *                                    commit, a due retry, or after wakeup; requests in
 *                                    NOTIFY_IDLE_MS); the outbox's flight get stop_grace_ms,
 *                                    SQLite reads and writes       the rest stay queued
 *  curl resolver libcurl's threaded  getaddrinfo of the Chatfuel   with its lookup: libcurl
 *  (per lookup)  DNS, for a sender   or webhook host; the sender   joins it, or detaches it
 *                transfer            never waits for it            when the transfer goes
 *
 * No sweeper thread (the main thread sweeps) and no thread per connection:
 * TLS handshakes run in the pool threads and read the published pair without
 * a lock (tlsmat).
 */
#include "server.h"
#include "api.h"
#include "app.h"
#include "audit.h"
#include "backlog.h"
#include "certgen.h"
#include "config.h"
#include "crypto.h"
#include "http.h"
#include "limiter.h"
#include "limiter_redis.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "redis.h"
#include "store.h"
#include "store_redis.h"
#include "tlsmat.h"
#include "util.h"
#include "anchor.h"
#include "web.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NOFILE_WANTED 65536
/* Descriptors kept out of both ports' shares: SQLite (writer, readers,
 * WAL and shm of each), libcurl's transfers and resolver, logs, PEM reads,
 * the listen sockets; plus per pool thread its wakeup pipe and a Redis
 * connection. */
#define NOFILE_RESERVED 128
#define NOFILE_RESERVED_PER_THREAD 6
#define NOFILE_API_DIVISOR 4           /* the API port gets a quarter of the rest */
#define PORT_CONN_MIN 16

/* Raises the soft open-file limit towards NOFILE_WANTED (the hard limit
 * caps it); returns the limit in force. */
static long raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < NOFILE_WANTED) {
		rlim_t want = rl.rlim_max < NOFILE_WANTED ? rl.rlim_max : NOFILE_WANTED;
		struct rlimit nrl = { want, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &nrl) != 0)
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
		else
			rl.rlim_cur = want;
	}
	return rl.rlim_cur > NOFILE_WANTED ? NOFILE_WANTED : (long)rl.rlim_cur;
}

/* Each port's connection limit out of the open-file limit, so that a flood
 * on the web port leaves the API port, SQLite and libcurl their
 * descriptors (libmicrohttpd stops accepting at its limit: the rest wait in
 * the listen backlog, holding no descriptor of ours). */
static void port_conn_limits(long nofile, int threads, int *web, int *api)
{
	long left = nofile - NOFILE_RESERVED - (long)NOFILE_RESERVED_PER_THREAD * threads;
	long a = left / NOFILE_API_DIVISOR, w = left - a;

	*api = a < PORT_CONN_MIN ? PORT_CONN_MIN : a > HTTP_CONN_LIMIT ? HTTP_CONN_LIMIT : (int)a;
	*web = w < PORT_CONN_MIN ? PORT_CONN_MIN : w > HTTP_CONN_LIMIT ? HTTP_CONN_LIMIT : (int)w;
	if (left < 2 * PORT_CONN_MIN)
		log_warn("the open-file limit (%ld) is too low for %d threads: raise it (ulimit -n)",
		         nofile, threads);
}

static int drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("user: no such user \"%s\"", user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		log_error("user: cannot drop privileges to \"%s\": %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 && pw->pw_uid != 0) {
		log_error("user: privileges could be regained after dropping them");
		return -1;
	}
	log_info("dropped privileges to user %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

/* The stop's clock, from the signal: answers waiting for their evidence get
 * the first half of stop_timeout, the whole stop ends STOP_EXIT_RESERVE_MS
 * plus the sender's grace before stop_timeout. */
struct stop_clock {
	struct app *app;
	bool stopping;
	int64_t began, answers_by, end_by;
	uint64_t lost;                     /* events not written by end_by */
	uint64_t left;                     /* ends not written by end_by, for the next start */
};

#define STOP_EXIT_RESERVE_MS 300       /* closing files and freeing after the last write */
#define STOP_DRAIN_MS 500              /* the "try again" pages out, the connections back */
#define STOP_SIGNAL_POLL_MS 200        /* a sweep waiting for room looks for TERM this often */

/* The stop's deadlines: answers deferred for their commit get it until
 * answers_by (half of stop_timeout), then the "try again" page; the drain
 * that collects their connections ends by end_by, which keeps at least
 * STOP_DRAIN_MS after answers_by (a short stop_timeout gives the answers
 * less, not the drain: a drain that ends as the answers are given up finds
 * them still out, and the daemons could not be stopped). */
static void stop_begin(struct stop_clock *sc)
{
	int64_t total = (int64_t)sc->app->cfg.stop_timeout * 1000;

	sc->stopping = true;
	sc->began = mono_ms();
	sc->end_by = sc->began + total - STOP_EXIT_RESERVE_MS - NOTIFY_STOP_GRACE_MS;
	if (sc->end_by < sc->began + STOP_DRAIN_MS)
		sc->end_by = sc->began + STOP_DRAIN_MS;
	sc->answers_by = sc->began + total / 2;
	if (sc->answers_by > sc->end_by - STOP_DRAIN_MS)
		sc->answers_by = sc->end_by - STOP_DRAIN_MS;
}

static bool stop_signal_pending(void)
{
	sigset_t p;

	return sigpending(&p) == 0 && (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1);
}

/* Audits a challenge that ended unanswered (expired, or canceled at stop).
 * Nothing is dropped: a full queue is waited out (back-pressure on the
 * sweep); once a stop began, only until its end. What is left then is
 * written at the next start with the in-memory store (audit_settle.c: its
 * `minted` row has no end), and counted lost with Redis. */
static void audit_unanswered(struct stop_clock *sc, const struct chal *c, enum audit_kind kind)
{
	struct app *app = sc->app;
	struct audit_event ev;

	app_event_for(&ev, kind, c, kind == AUDIT_EXPIRED ? c->expires_ms : c->decided_ms);
	ev.notify = app->cfg.notify_on_expiry;
	for (;;) {
		int64_t until = sc->stopping ? sc->end_by : mono_ms() + STOP_SIGNAL_POLL_MS;
		if (audit_submit_wait(app->audit, &ev, until) == 0)
			break;
		if (sc->stopping && mono_ms() >= sc->end_by) {
			if (app->redis == NULL) {
				sc->left++;
			} else {
				sc->lost++;
				metrics_inc(app->metrics, M_AUDIT_FAILED);
			}
			break;
		}
		if (!sc->stopping && stop_signal_pending()) {
			log_info("a stop signal came while the sweep waited for the audit log; stopping");
			stop_begin(sc);
		}
	}
	metrics_inc(app->metrics, kind == AUDIT_EXPIRED ? M_EXPIRED : M_CANCELED);
}

static void on_expired(void *ctx, const struct chal *c)
{
	audit_unanswered(ctx, c, AUDIT_EXPIRED);
}

static void on_canceled_at_stop(void *ctx, const struct chal *c)
{
	audit_unanswered(ctx, c, AUDIT_CANCELED);
}

/* The store and the limiters: in memory, or in the Redis every node shares. */
static int state_open(struct app *app)
{
	const struct config *cfg = &app->cfg;

	app->replay_log = limiter_new(1, WEB_REPLAY_LOG_S, LIMITER_SLOTS);
	if (cfg->redis_url == NULL && cfg->redis_sentinels.n == 0) {
		app->store = store_new((size_t)cfg->max_pending);
		app->rate_phone = limiter_new(cfg->rate_phone.n, cfg->rate_phone.seconds, LIMITER_SLOTS);
		app->lockout = limiter_new(cfg->lockout.n, cfg->lockout.seconds, LIMITER_SLOTS);
		app->rate_ip = limiter_new(cfg->rate_ip.n, cfg->rate_ip.seconds, LIMITER_SLOTS);
		return 0;
	}
	app->redis = redis_new(cfg->redis_url, cfg->redis_sentinels.v, cfg->redis_sentinels.n, cfg->redis_master);
	if (app->redis == NULL)
		return -1;
	app->store = store_redis_new(&(struct store_redis_opts){
		.redis = app->redis, .max_pending = (size_t)cfg->max_pending, .node_id = cfg->node_id });
	app->rate_phone = limiter_redis_new(app->redis, "rate_phone", cfg->rate_phone.n, cfg->rate_phone.seconds);
	app->lockout = limiter_redis_new(app->redis, "lockout", cfg->lockout.n, cfg->lockout.seconds);
	app->rate_ip = limiter_redis_new(app->redis, "rate_ip", cfg->rate_ip.n, cfg->rate_ip.seconds);
	/* Serving starts either way: until Redis answers, requests get 503 and
	 * /healthz says degraded. */
	if (!redis_ping(app->redis))
		log_warn("redis: not reachable yet; answering 503 until it is");
	/* SPEC gives node_id the host name by default; under Redis it names this
	 * node's expiry set, and a container's host name changes at a restart. */
	if (cfg->node_id_is_host)
		log_warn("node_id is not set: using the host name \"%s\". With Redis it names this node's set of "
		         "expiries; if the host name changes (a container restart), the node will not resume the "
		         "expiries it left and they are never audited. Set node_id to a name that stays",
		         cfg->node_id);
	log_info("node %s: challenges and limits in Redis (%s)", cfg->node_id,
	         cfg->redis_sentinels.n > 0 ? "via Sentinel" : "redis_url");
	return 0;
}

static void warn_defaults(const struct config *cfg)
{
	if (cfg->api_keys.n == 0)
		log_warn("api_keys is not set: the API port answers loopback clients only");
	if (cfg->whatsapp_number == NULL)
		log_warn("whatsapp_number is not set: answered pages return to https://wa.me/");
	if (!cfg->api_tls)
		log_warn("api_tls is false: the API port speaks plain HTTP; keep it behind a local proxy");
}

static int signal_loop(struct app *app, struct web *web, struct stop_clock *sc)
{
	sigset_t set;
	struct timespec ts = { SWEEP_INTERVAL_MS / 1000, (SWEEP_INTERVAL_MS % 1000) * 1000000L };

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("received %s, stopping (within %d s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
			         app->cfg.stop_timeout);
			stop_begin(sc);
			return 0;
		}
		if (sig == SIGHUP) {
			/* tlsmat logs the outcome; a failure keeps the old pair serving. */
			tls_material_reload(app->tls);
		}
		store_sweep(app->store, now_read(), on_expired, sc);
		web_settle(web, false);
		if (sc->stopping)      /* the signal came during the sweep */
			return 0;
	}
}

int server_run(struct app *app)
{
	struct config *cfg = &app->cfg;
	struct web *web = NULL;
	sigset_t set;
	int rc = 1, web_conns, api_conns;
	bool stopped;
	struct stop_clock sc = { .app = app };

	/* Block the signals in every thread; the main thread takes them in sigtimedwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A write past RLIMIT_FSIZE then fails with EFBIG, an error the audit
	 * writer retries like a full disk, instead of killing the process. */
	signal(SIGXFSZ, SIG_IGN);

	port_conn_limits(raise_nofile(), cfg->threads, &web_conns, &api_conns);
	if (certgen_ensure(cfg->tls_cert, cfg->tls_key, cfg->tls_autogen) < 0)
		return 1;
	app->tls = tls_material_load(cfg->tls_cert, cfg->tls_key);
	if (app->tls == NULL)
		return 1;
	tls_material_install(app->tls);

	app->metrics = metrics_new();
	if (state_open(app) < 0)
		goto out;
	app->notify = notify_start(cfg);
	if (app->notify == NULL)
		goto out;
	/* With the in-memory store, the ends a previous run left unwritten are
	 * written now, before serving; with Redis, another node may still serve
	 * what this one minted. */
	app->audit = audit_open_serve(cfg, app->redis != NULL ? AUDIT_SETTLE_MARK : AUDIT_SETTLE_ENDS,
	                              notify_wake, app->notify);
	if (app->audit == NULL)
		goto out;
	app->backlog = backlog_open(cfg->db_path);
	if (app->backlog == NULL)
		goto out;
	if (anchor_start(cfg, &app->anchor) != 0)
		goto out;
	web = web_new(app);
	if (web == NULL)
		goto out;

	app->web = http_server_start(&(struct http_server_opts){
		.name = "web", .bind = cfg->web_bind ? cfg->web_bind : cfg->bind, .port = cfg->web_port,
		.tls = true, .threads = cfg->threads, .request_timeout_s = cfg->request_timeout,
		.conn_limit = web_conns, .per_ip_limit = cfg->connections_per_ip,
		.handler = web_handle, .ctx = web, .metrics = app->metrics });
	if (app->web == NULL)
		goto out;
	app->api = http_server_start(&(struct http_server_opts){
		.name = "api", .bind = cfg->api_bind ? cfg->api_bind : cfg->bind, .port = cfg->api_port,
		.tls = cfg->api_tls, .threads = cfg->threads, .request_timeout_s = cfg->request_timeout,
		.conn_limit = api_conns, .per_ip_limit = cfg->connections_per_ip,
		.handler = api_handle, .ctx = app, .metrics = app->metrics });
	if (app->api == NULL)
		goto out;
	if (drop_privileges(cfg->user) < 0)
		goto out;
	warn_defaults(cfg);
	log_info("mnmfa ready: pages at %s/<page_id>, API on port %d", cfg->public_url,
	         http_server_port(app->api));
	rc = signal_loop(app, web, &sc);
out:
	/* The stop (SPEC: within stop_timeout). No new connections, and no new
	 * deferral (a later answer gets the "try again" page); answers already
	 * deferred get their durable commit (the writer still runs) until the
	 * first half of stop_timeout, then the "try again" page: the drain then
	 * finds every one back in its pool thread, however its connection ended,
	 * and only then are the daemons stopped (libmicrohttpd aborts with a
	 * suspended connection). If the drain still fails (the writer hangs in
	 * the disk), the daemons are left running rather than stopped with
	 * suspended connections, and what they use is not freed. */
	if (!sc.stopping)
		stop_begin(&sc);
	http_server_quiesce(app->web);
	http_server_quiesce(app->api);
	audit_hurry(app->audit, sc.answers_by);
	stopped = http_server_drain(app->web, sc.end_by) && http_server_drain(app->api, sc.end_by);
	if (stopped) {
		http_server_stop(app->api);
		http_server_stop(app->web);
	} else {
		/* The writer hangs (a disk that does not answer): the daemons still
		 * run and use the app's state, so nothing is freed; exit. */
		log_error("stop: %d answers still waiting for the audit log after %lld ms; exiting "
		          "without stopping the daemons",
		          http_server_deferred(app->web) + http_server_deferred(app->api),
		          (long long)(mono_ms() - sc.began));
		return 1;
	}
	app->api = app->web = NULL;
	if (app->store != NULL && app->audit != NULL) {
		size_t n;
		store_sweep(app->store, now_read(), on_expired, &sc);
		if (web != NULL)
			web_settle(web, true);      /* a last try for the answers in doubt */
		n = store_cancel_pending(app->store, now_read(), on_canceled_at_stop, &sc);
		if (n > 0)
			log_info("stop: %zu unanswered challenge(s) canceled", n);
		/* What came due between the sweep and the cancel (the cancel leaves
		 * overdue ones to the sweep): every challenge has its end. With
		 * Redis the cancel leaves them all to the nodes that keep serving,
		 * and one more sweep would only wait on a Redis that may be gone. */
		if (app->redis == NULL)
			store_sweep(app->store, now_read(), on_expired, &sc);
	}
	if (app->audit != NULL)
		sc.lost += audit_close_by(app->audit, sc.end_by);
	if (sc.left > 0)
		log_warn("stop: %llu challenge(s) not recorded as canceled before the stop's end; the next "
		         "start records them", (unsigned long long)sc.left);
	if (sc.lost > 0) {
		log_error("stop: %llu audit events could not be written in time (see the errors above)",
		          (unsigned long long)sc.lost);
		rc = rc == 0 ? 1 : rc;
	}
	anchor_stop(app->anchor);          /* after the stop's checkpoint */
	app->anchor = NULL;
	if (app->notify != NULL)
		notify_stop(app->notify);
	backlog_close(app->backlog);
	app->backlog = NULL;
	web_free(web);
	if (app->store != NULL)
		store_free(app->store);
	metrics_free(app->metrics);
	limiter_free(app->rate_phone);
	limiter_free(app->lockout);
	limiter_free(app->rate_ip);
	limiter_free(app->replay_log);
	app->replay_log = NULL;
	app->rate_phone = app->lockout = app->rate_ip = NULL;
	redis_free(app->redis);
	app->redis = NULL;
	tls_material_free(app->tls);
	app->audit = NULL;
	app->notify = NULL;
	app->store = NULL;
	app->metrics = NULL;
	app->tls = NULL;
	if (rc == 0 && sc.began != 0)
		log_info("stopped cleanly in %lld ms", (long long)(mono_ms() - sc.began));
	return rc;
}
