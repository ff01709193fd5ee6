/*
 * audit: the audit log's writer thread and its queue.
 *
 * One writer thread owns the write connection. audit_submit copies an event
 * (cleaned: valid UTF-8, bounded, refdata a minified JSON object) into a
 * bounded queue; the writer takes everything queued (up to AUDIT_GROUP_MAX),
 * writes it in ONE transaction -- the chained audit rows and, for events that
 * carry a result, their outbox rows (outbox.c) -- commits (one fsync for the
 * whole group: WAL, synchronous=FULL), then runs the done callbacks and calls
 * the wake callback so the sender looks at the outbox. While it waits on the
 * disk new events pile up for the next group, so the fsync cost is shared
 * instead of paid per request. The chain head (last id and hash) lives in the
 * writer, read once at open; the writer assigns ids itself so that the id can
 * be part of the hashed row (chain.c hashes it).
 *
 * Speed (the writer must outrun minting): an event is one allocation, made
 * and cleaned on the submitting thread outside the queue lock; the writer
 * allocates nothing per row (one prepared INSERT, one SHA-256 context, the
 * time text formatted once a second), and checkpoints the WAL itself,
 * PASSIVE, between groups, so no COMMIT waits for a checkpoint.
 *
 * The schema, connections and the one-writer lock are auditdb.c's; reading
 * the log (verify, export, head, status) is audit_export.c's.
 */
#include "audit.h"
#include "auditdb.h"
#include "chain.h"
#include "checkpoint.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "outbox.h"
#include "utf8.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_REFDATA_PARSE_MAX (4 * AUDIT_REFDATA_MAX) /* longer input is not parsed */
#define AUDIT_FULL_LOG_INTERVAL_MS 1000        /* "queue full" logged at most this often */
#define AUDIT_TS_MAX 32                        /* an RFC 3339 time with milliseconds */
/* The writer checkpoints the WAL itself, PASSIVE, between groups (after
 * their callbacks) once it holds this many frames: SQLite's automatic
 * checkpoint would run inside a COMMIT and hold up that group's answers. */
#define AUDIT_CHECKPOINT_FRAMES 1000

static const char *const kind_names[] = {
	[AUDIT_MINTED] = "minted", [AUDIT_APPROVED] = "approved", [AUDIT_DENIED] = "denied",
	[AUDIT_EXPIRED] = "expired", [AUDIT_CANCELED] = "canceled", [AUDIT_LOCKED] = "locked",
	[AUDIT_REPLAYED] = "replayed",
};

const char *audit_kind_name(enum audit_kind k)
{
	if ((unsigned)k >= ARRAY_LEN(kind_names))
		return "unknown";
	return kind_names[k];
}

/* ---- event copies ------------------------------------------------------ */

/* Replaces bytes that are not valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF) and control characters but tab with '?',
 * so that every stored field exports as valid JSON and CSV text. */
static void clean_text(char *s)
{
	unsigned char *p = (unsigned char *)s, *end = p + strlen(s);

	while (p < end) {
		uint32_t cp;
		int k = utf8_decode(p, (size_t)(end - p), &cp);

		if (k < 0) {
			*p++ = '?';             /* the bad byte only: resynchronise after it */
			continue;
		}
		if ((cp < 0x20 && cp != '\t') || cp == 0x7f)
			*p = '?';
		p += k;
	}
}

/* How many bytes of s are kept: at most cap, cut at a character boundary. */
static size_t kept_len(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap + 1);

	if (n > cap) {
		n = cap;
		/* s[n] is the first byte left out; if it continues a character,
		 * leave out that character's first bytes too. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

/* refdata must be a JSON object; it is kept minified (a cJSON allocation,
 * freed by the caller), or not at all when it is not valid or longer than
 * AUDIT_REFDATA_MAX. */
static char *minify_refdata(const char *s)
{
	cJSON *j;
	char *printed;

	if (s == NULL || strnlen(s, AUDIT_REFDATA_PARSE_MAX + 1) > AUDIT_REFDATA_PARSE_MAX)
		return NULL;
	j = cJSON_ParseWithOpts(s, NULL, true);
	if (j == NULL || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	printed = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (printed != NULL && strlen(printed) > AUDIT_REFDATA_MAX) {
		free(printed);
		return NULL;
	}
	return printed;
}

enum item_field {
	ITEM_PAGE_ID, ITEM_CLIENT_ID, ITEM_PHONE, ITEM_FLOW, ITEM_IP, ITEM_USER_AGENT, ITEM_REFDATA,
	ITEM_FIELDS
};

/* A queued event: one allocation, the struct followed by its cleaned
 * strings (so the writer frees one block per row and allocates nothing). */
struct item {
	struct item *next;
	enum audit_kind kind;
	int64_t ts_ms, created_ms;
	const char *f[ITEM_FIELDS];        /* into text, or NULL */
	size_t len[ITEM_FIELDS];
	bool notify, validated;
	audit_done_fn done;
	void *ctx;
	char text[];
};

static struct item *item_new(const struct audit_event *ev, audit_done_fn done, void *ctx)
{
	static const size_t caps[ITEM_FIELDS] = {
		[ITEM_PAGE_ID] = PAGE_ID_LEN, [ITEM_CLIENT_ID] = AUDIT_FIELD_MAX,
		[ITEM_PHONE] = AUDIT_FIELD_MAX, [ITEM_FLOW] = AUDIT_FIELD_MAX, [ITEM_IP] = AUDIT_IP_MAX,
		[ITEM_USER_AGENT] = AUDIT_UA_MAX, [ITEM_REFDATA] = AUDIT_REFDATA_MAX,
	};
	char *refdata = minify_refdata(ev->refdata);
	const char *src[ITEM_FIELDS] = {
		ev->page_id[0] != '\0' ? ev->page_id : NULL, ev->client_id, ev->phone, ev->flow, ev->ip,
		ev->user_agent, refdata,
	};
	size_t len[ITEM_FIELDS], total = 0;
	struct item *it;
	char *p;

	for (int i = 0; i < ITEM_FIELDS; i++) {
		len[i] = src[i] != NULL ? kept_len(src[i], caps[i]) : 0;
		total += src[i] != NULL ? len[i] + 1 : 0;
	}
	it = xmalloc(sizeof *it + total);
	memset(it, 0, sizeof *it);
	p = it->text;
	for (int i = 0; i < ITEM_FIELDS; i++) {
		if (src[i] == NULL)
			continue;
		memcpy(p, src[i], len[i]);
		p[len[i]] = '\0';
		clean_text(p);   /* same length; in refdata bad UTF-8 only occurs inside strings */
		it->f[i] = p;
		it->len[i] = len[i];
		p += len[i] + 1;
	}
	free(refdata);
	it->kind = ev->kind;
	it->ts_ms = ev->ts_ms > 0 ? ev->ts_ms : now_ms();
	it->created_ms = ev->created_ms;
	it->notify = ev->notify;
	it->validated = ev->validated;
	it->done = done;
	it->ctx = ctx;
	return it;
}

static void item_free(struct item *it)
{
	free(it);
}

/* ---- the writer -------------------------------------------------------- */

struct audit {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, *tail;          /* the queue, under lock */
	size_t queued;
	bool stopping;
	bool thread_started;
	pthread_t thread;

	/* Writer thread only. */
	sqlite3 *db;
	sqlite3_stmt *ins_row;
	struct crypto_sha256_ctx *sha;
	int64_t ts_sec;                    /* the second ts_text formats */
	char ts_text[AUDIT_TS_MAX];
	int wal_frames;                    /* frames in the WAL after the last commit */
	int ckpt_frames;                   /* of them, copied back by the last checkpoint */
	int64_t last_id;
	char last_hash[AUDIT_HASH_HEX + 1];

	int lock_fd;                       /* flock on <db_path>.lock */
	char *node;                        /* node_id written in every row (NULL: none) */
	/* Status lookups from API threads: a reader opened at start, before
	 * privileges are dropped. */
	struct audit_reader *reader;

	struct outbox_writer *outbox;      /* writer thread only */
	struct checkpoint_signer *signer;   /* writer thread only (then audit_close) */
	audit_wake_fn wake;                /* tells the sender new outbox rows are due */
	void *wake_ctx;

	_Atomic uint64_t st_written, st_groups, st_failed, st_rejected, st_queued;
	_Atomic int64_t full_logged_ms;
};

static void bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

/* The row's RFC 3339 time; gmtime and printf once a second, not per row. */
static void format_ts(struct audit *a, int64_t ms, char out[AUDIT_TS_MAX])
{
	int64_t sec = ms / 1000;
	int frac = (int)(ms % 1000);
	size_t n;

	if (sec != a->ts_sec) {
		fmt_rfc3339_ms(sec * 1000, a->ts_text, sizeof a->ts_text);
		a->ts_sec = sec;
	}
	memcpy(out, a->ts_text, AUDIT_TS_MAX);
	/* "...:SS.mmmZ": the milliseconds are the three digits before the 'Z'. */
	n = strlen(out);
	if (ms < 0 || n < 5 || out[n - 5] != '.') {
		fmt_rfc3339_ms(ms, out, AUDIT_TS_MAX);
		return;
	}
	out[n - 4] = (char)('0' + frac / 100);
	out[n - 3] = (char)('0' + frac / 10 % 10);
	out[n - 2] = (char)('0' + frac % 10);
}

/* Inserts one chained row (and its outbox rows) inside the open transaction. */
static int write_item(struct audit *a, const struct item *it, int64_t now, bool *woke)
{
	static const int chain_of[ITEM_FIELDS] = {
		[ITEM_PAGE_ID] = CHAIN_PAGE_ID, [ITEM_CLIENT_ID] = CHAIN_CLIENT_ID,
		[ITEM_PHONE] = CHAIN_PHONE, [ITEM_FLOW] = CHAIN_FLOW, [ITEM_IP] = CHAIN_IP,
		[ITEM_USER_AGENT] = CHAIN_USER_AGENT, [ITEM_REFDATA] = CHAIN_REFDATA,
	};
	char ts[AUDIT_TS_MAX], hash[AUDIT_HASH_HEX + 1];
	struct chain_row r = { .id = a->last_id + 1 };
	sqlite3_stmt *st = a->ins_row;
	int64_t id = r.id;
	int rc;

	format_ts(a, it->ts_ms, ts);
	r.f[CHAIN_TS] = ts;
	r.len[CHAIN_TS] = strlen(ts);
	r.f[CHAIN_EVENT] = audit_kind_name(it->kind);
	r.len[CHAIN_EVENT] = strlen(r.f[CHAIN_EVENT]);
	for (int i = 0; i < ITEM_FIELDS; i++) {
		r.f[chain_of[i]] = it->f[i];
		r.len[chain_of[i]] = it->len[i];
	}
	r.node = a->node;
	r.node_len = a->node != NULL ? strlen(a->node) : 0;
	r.prev_hash = a->last_hash;
	r.prev_len = AUDIT_HASH_HEX;
	chain_row_hash_with(a->sha, &r, hash);

	/* Every parameter is bound on every row: no sqlite3_clear_bindings. */
	sqlite3_bind_int64(st, 1, id);
	for (int i = 0; i < CHAIN_FIELDS; i++)
		bind_text(st, i + 2, r.f[i], r.len[i]);
	sqlite3_bind_text(st, 11, a->last_hash, AUDIT_HASH_HEX, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, hash, AUDIT_HASH_HEX, SQLITE_STATIC);
	bind_text(st, 13, r.node, r.node_len);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
		return -1;
	}
	a->last_id = id;
	memcpy(a->last_hash, hash, sizeof hash);

	if (!it->notify)
		return 0;
	return outbox_write(a->outbox, &(struct outbox_result){
		.audit_id = id, .event = audit_kind_name(it->kind), .page_id = it->f[ITEM_PAGE_ID],
		.client_id = it->f[ITEM_CLIENT_ID], .phone = it->f[ITEM_PHONE], .flow = it->f[ITEM_FLOW],
		.decided_at = ts, .validated = it->validated }, now, woke);
}

/* One attempt at the group's transaction; the chain head is restored when it
 * fails. 0 or -1. */
static int write_group_once(struct audit *a, struct item *group, int64_t now, bool *woke)
{
	int64_t saved_id = a->last_id;
	char saved_hash[AUDIT_HASH_HEX + 1];

	memcpy(saved_hash, a->last_hash, sizeof saved_hash);
	*woke = false;
	if (auditdb_exec(a->db, "BEGIN IMMEDIATE", "begin") != 0)
		return -1;
	for (struct item *it = group; it != NULL; it = it->next)
		if (write_item(a, it, now, woke) != 0)
			goto rollback;
	if (auditdb_exec(a->db, "COMMIT", "commit") != 0)
		goto rollback;
	return 0;
rollback:
	if (!sqlite3_get_autocommit(a->db))
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	a->last_id = saved_id;
	memcpy(a->last_hash, saved_hash, sizeof saved_hash);
	return -1;
}

/* Writes a group, retrying a failed transaction (a lock held elsewhere past
 * the busy timeout, a full disk, an I/O error) with backoff for up to
 * AUDIT_RETRY_MS: the requests waiting on it stay deferred, so a passing
 * problem costs latency instead of a decision. Only then are the callbacks
 * told it failed. */
static void write_group(struct audit *a, struct item *group, size_t n)
{
	int64_t now = now_ms(), deadline = mono_ms() + AUDIT_RETRY_MS;
	int backoff = AUDIT_RETRY_FIRST_MS;
	bool woke = false;
	int rc;

	while ((rc = write_group_once(a, group, now, &woke)) != 0 && mono_ms() + backoff < deadline) {
		log_warn("audit: a group of %zu events could not be written; retrying in %d ms", n, backoff);
		usleep((useconds_t)backoff * 1000);
		backoff = backoff * 2 > AUDIT_RETRY_MAX_MS ? AUDIT_RETRY_MAX_MS : backoff * 2;
	}
	if (rc == 0) {
		/* Signs the new head when a checkpoint is due (checkpoint.c). */
		(void)checkpoint_signer_after(a->signer, a->last_id, a->last_hash, false);
		atomic_fetch_add_explicit(&a->st_written, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->st_groups, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&a->st_failed, n, memory_order_relaxed);
		log_error("audit: a group of %zu events could not be written", n);
	}
	for (struct item *it = group; it != NULL; it = it->next)
		if (it->done != NULL)
			it->done(it->ctx, rc);
	if (rc == 0 && woke && a->wake != NULL)
		a->wake(a->wake_ctx);
}

/* sqlite3_wal_hook: runs inside each COMMIT; only notes the WAL's size
 * (setting a hook also turns SQLite's automatic checkpoint off). */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct audit *a = ctx;

	(void)db;
	(void)name;
	a->wal_frames = frames;
	if (frames < a->ckpt_frames)      /* the WAL was restarted from its start */
		a->ckpt_frames = 0;
	return SQLITE_OK;
}

/* A PASSIVE checkpoint (never waits for readers) once the WAL has grown by
 * AUDIT_CHECKPOINT_FRAMES since the last one; the group just written has
 * had its callbacks, so its requests do not wait for it. */
static void checkpoint_between_groups(struct audit *a)
{
	int log_frames = 0, done = 0;

	if (a->wal_frames - a->ckpt_frames < AUDIT_CHECKPOINT_FRAMES)
		return;
	if (sqlite3_wal_checkpoint_v2(a->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done) !=
	    SQLITE_OK) {
		log_warn("audit: WAL checkpoint: %s", sqlite3_errmsg(a->db));
		a->ckpt_frames = a->wal_frames;     /* try again after as many frames */
		return;
	}
	a->ckpt_frames = done;
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;

	for (;;) {
		struct item *group, *last;
		size_t n = 1;

		pthread_mutex_lock(&a->lock);
		while (a->head == NULL && !a->stopping) {
			/* Unsigned rows get their checkpoint within CHECKPOINT_EVERY_MS
			 * even when no more rows come. */
			int64_t due = checkpoint_signer_due_ms(a->signer);
			if (due == 0) {
				pthread_cond_wait(&a->cond, &a->lock);
			} else if (mono_ms() >= due) {
				pthread_mutex_unlock(&a->lock);
				(void)checkpoint_signer_after(a->signer, a->last_id, a->last_hash, true);
				pthread_mutex_lock(&a->lock);
			} else {
				struct timespec ts = { .tv_sec = (time_t)(due / 1000),
				                       .tv_nsec = (long)(due % 1000) * 1000000 };
				pthread_cond_timedwait(&a->cond, &a->lock, &ts);   /* cond on CLOCK_MONOTONIC */
			}
		}
		if (a->head == NULL) {          /* stopping and drained */
			pthread_mutex_unlock(&a->lock);
			break;
		}
		group = last = a->head;
		while (n < AUDIT_GROUP_MAX && last->next != NULL) {
			last = last->next;
			n++;
		}
		a->head = last->next;
		if (a->head == NULL)
			a->tail = NULL;
		last->next = NULL;
		a->queued -= n;
		atomic_store_explicit(&a->st_queued, a->queued, memory_order_relaxed);
		pthread_mutex_unlock(&a->lock);

		write_group(a, group, n);
		while (group != NULL) {
			struct item *next = group->next;
			item_free(group);
			group = next;
		}
		checkpoint_between_groups(a);
	}
	return NULL;
}

static int load_head(struct audit *a)
{
	sqlite3_stmt *st;
	int rc;

	a->last_id = 0;
	memcpy(a->last_hash, chain_genesis, sizeof a->last_hash);
	if (sqlite3_prepare_v2(a->db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", -1,
	                       &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		a->last_id = sqlite3_column_int64(st, 0);
		strlcpy_(a->last_hash, h ? h : "", sizeof a->last_hash);
		if (strlen(a->last_hash) != AUDIT_HASH_HEX)
			log_warn("audit: the newest row (id %lld) has a malformed hash; run `mnmfa audit "
			         "verify`", (long long)a->last_id);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

struct audit *audit_open(const struct config *cfg, audit_wake_fn wake, void *wake_ctx)
{
	struct audit *a = xcalloc(1, sizeof *a);
	char key_path[CHECKPOINT_PATH_MAX];
	pthread_condattr_t ca;

	pthread_mutex_init(&a->lock, NULL);
	a->lock_fd = -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* mono_ms's clock */
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	a->wake = wake;
	a->wake_ctx = wake_ctx;

	if (cfg->node_id != NULL)
		a->node = xstrdup(cfg->node_id);
	if ((a->lock_fd = auditdb_lock(cfg->db_path)) < 0)
		goto fail;
	if (auditdb_open(cfg->db_path, &a->db) != 0)
		goto fail;
	if (sqlite3_prepare_v3(a->db,
	        "INSERT INTO audit_log (id, ts, event, page_id, client_id, phone, flow, ip, "
	        "user_agent, refdata, prev_hash, hash, node) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
	        -1, SQLITE_PREPARE_PERSISTENT, &a->ins_row, NULL) != SQLITE_OK) {
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
		goto fail;
	}
	if ((a->outbox = outbox_writer_new(a->db, cfg)) == NULL)
		goto fail;
	a->sha = crypto_sha256_ctx_new();
	a->ts_sec = INT64_MIN;
	sqlite3_wal_hook(a->db, on_wal_commit, a);
	if (checkpoint_key_path(cfg->audit_key, cfg->db_path, key_path, sizeof key_path) != 0) {
		log_error("%s: audit_key: the path is too long", __func__);
		goto fail;
	}
	if ((a->signer = checkpoint_signer_new(a->db, key_path)) == NULL)
		goto fail;
	if (load_head(a) != 0) {
		log_error("%s: cannot read the chain head: %s", __func__, sqlite3_errmsg(a->db));
		goto fail;
	}
	if ((a->reader = audit_reader_open(cfg->db_path)) == NULL)
		goto fail;
	if (!outbox_chatfuel_on(cfg))
		log_warn("dry run: results are only audited (chatfuel_bot_id/chatfuel_token not set)");
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		log_error("%s: cannot start the writer thread", __func__);
		goto fail;
	}
	a->thread_started = true;
	log_info("audit: %s open, chain head id %lld", cfg->db_path, (long long)a->last_id);
	return a;
fail:
	audit_close(a);
	return NULL;
}

int audit_submit(struct audit *a, const struct audit_event *ev, audit_done_fn done, void *ctx)
{
	struct item *it;

	if (a == NULL || ev == NULL || (unsigned)ev->kind >= ARRAY_LEN(kind_names))
		return -1;
	it = item_new(ev, done, ctx);     /* copying and JSON checks outside the lock */
	pthread_mutex_lock(&a->lock);
	if (a->stopping || a->queued >= AUDIT_QUEUE_MAX) {
		bool stopping = a->stopping;
		pthread_mutex_unlock(&a->lock);
		item_free(it);
		atomic_fetch_add_explicit(&a->st_rejected, 1, memory_order_relaxed);
		if (!stopping) {
			int64_t now = mono_ms();
			int64_t last = atomic_load_explicit(&a->full_logged_ms, memory_order_relaxed);
			if (now - last >= AUDIT_FULL_LOG_INTERVAL_MS &&
			    atomic_compare_exchange_strong(&a->full_logged_ms, &last, now))
				log_error("audit: queue full (%d events); events are being refused",
				          AUDIT_QUEUE_MAX);
		}
		return -1;
	}
	if (a->tail != NULL)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->queued++;
	atomic_store_explicit(&a->st_queued, a->queued, memory_order_relaxed);
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

void audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	if (a->thread_started)
		pthread_join(a->thread, NULL);
	/* Every stop signs the head: at rest, every row is covered. */
	if (a->signer != NULL && a->thread_started)
		(void)checkpoint_signer_after(a->signer, a->last_id, a->last_hash, true);
	checkpoint_signer_free(a->signer);
	sqlite3_finalize(a->ins_row);
	crypto_sha256_ctx_free(a->sha);
	outbox_writer_free(a->outbox);
	audit_reader_close(a->reader);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	if (a->db != NULL && sqlite3_close(a->db) != SQLITE_OK)
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a->node);
	free(a);
}

void audit_get_stats(struct audit *a, struct audit_stats *out)
{
	out->written = atomic_load_explicit(&a->st_written, memory_order_relaxed);
	out->groups = atomic_load_explicit(&a->st_groups, memory_order_relaxed);
	out->failed = atomic_load_explicit(&a->st_failed, memory_order_relaxed);
	out->rejected = atomic_load_explicit(&a->st_rejected, memory_order_relaxed);
	out->queued = atomic_load_explicit(&a->st_queued, memory_order_relaxed);
}

int audit_lookup(struct audit *a, const char *page_id, struct audit_status *out)
{
	return audit_reader_status(a->reader, page_id, out);
}
