/*
 * audit: the tamper-evident audit log and the transactional outbox in SQLite.
 *
 * One writer thread owns the write connection. audit_submit copies an event
 * into a bounded queue; the writer takes everything queued (up to
 * AUDIT_GROUP_MAX), writes it in ONE transaction -- the chained audit rows and,
 * for events that carry a result, their outbox rows -- commits (one fsync for
 * the whole group: WAL, synchronous=FULL), then runs the done callbacks and
 * wakes the notifier. While it waits on the disk new events pile up for the
 * next group, so the fsync cost is shared instead of paid per request. The
 * chain head (last id and hash) lives in the writer, read once at open; the
 * writer assigns ids itself so that the id can be part of the hashed row.
 *
 * The canonical encoding, the row hash and the verify walk are chain.c's
 * (documented in chain.h and the README); this file stores and reads the rows.
 * A truncated tail cannot be seen from inside the file: `audit head` prints
 * the newest id and hash so that it can be anchored elsewhere.
 *
 * The schema and the connections are auditdb.c's.
 */
#include "audit.h"
#include "auditdb.h"
#include "chain.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_REFDATA_PARSE_MAX (4 * AUDIT_REFDATA_MAX) /* longer input is not parsed */
#define AUDIT_FULL_LOG_INTERVAL_MS 1000        /* "queue full" logged at most this often */

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
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		unsigned c = *p;
		size_t n = 0;
		unsigned min = 0, cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				*p = '?';
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; cp = c & 0x07; }
		else { *p++ = '?'; continue; }
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				n = 0;
				break;
			}
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (n == 0 || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*p++ = '?';
			continue;
		}
		p += n + 1;
	}
}

/* A copy of at most cap bytes, cut at a character boundary, cleaned. */
static char *copy_text(const char *s, size_t cap)
{
	size_t n;
	char *c;

	if (s == NULL)
		return NULL;
	n = strnlen(s, cap + 1);
	if (n > cap) {
		n = cap;
		/* s[n] is the first byte left out; if it continues a character,
		 * leave out that character's first bytes too. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	c = xstrndup(s, n);
	clean_text(c);
	return c;
}

/* refdata must be a JSON object; it is kept minified, or not at all when it
 * is not valid or longer than AUDIT_REFDATA_MAX. */
static char *copy_refdata(const char *s)
{
	cJSON *j;
	char *out, *printed;

	if (s == NULL || strnlen(s, AUDIT_REFDATA_PARSE_MAX + 1) > AUDIT_REFDATA_PARSE_MAX)
		return NULL;
	j = cJSON_ParseWithOpts(s, NULL, true);
	if (j == NULL || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	printed = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (printed == NULL || strlen(printed) > AUDIT_REFDATA_MAX) {
		free(printed);
		return NULL;
	}
	out = xstrdup(printed);
	free(printed);
	clean_text(out);    /* bad UTF-8 only occurs inside strings: stays JSON */
	return out;
}

struct item {
	struct item *next;
	enum audit_kind kind;
	int64_t ts_ms, created_ms;
	char *page_id, *client_id, *phone, *flow, *ip, *user_agent, *refdata;
	bool notify, validated;
	audit_done_fn done;
	void *ctx;
};

static struct item *item_new(const struct audit_event *ev, audit_done_fn done, void *ctx)
{
	struct item *it = xcalloc(1, sizeof *it);

	it->kind = ev->kind;
	it->ts_ms = ev->ts_ms > 0 ? ev->ts_ms : now_ms();
	it->created_ms = ev->created_ms;
	it->page_id = ev->page_id[0] != '\0' ? copy_text(ev->page_id, PAGE_ID_LEN) : NULL;
	it->client_id = copy_text(ev->client_id, AUDIT_FIELD_MAX);
	it->phone = copy_text(ev->phone, AUDIT_FIELD_MAX);
	it->flow = copy_text(ev->flow, AUDIT_FIELD_MAX);
	it->ip = copy_text(ev->ip, AUDIT_IP_MAX);
	it->user_agent = copy_text(ev->user_agent, AUDIT_UA_MAX);
	it->refdata = copy_refdata(ev->refdata);
	it->notify = ev->notify;
	it->validated = ev->validated;
	it->done = done;
	it->ctx = ctx;
	return it;
}

static void item_free(struct item *it)
{
	free(it->page_id);
	free(it->client_id);
	free(it->phone);
	free(it->flow);
	free(it->ip);
	free(it->user_agent);
	free(it->refdata);
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
	int64_t last_id;
	char last_hash[AUDIT_HASH_HEX + 1];

	/* Status lookups from API threads: one reader connection opened at start
	 * (before privileges are dropped), serialised by its own lock. */
	pthread_mutex_t reader_lock;
	int lock_fd;                       /* flock on <db_path>.lock */
	sqlite3 *reader;
	sqlite3_stmt *lookup;

	struct outbox_writer *outbox;      /* writer thread only */
	audit_wake_fn wake;                /* tells the sender new outbox rows are due */
	void *wake_ctx;

	_Atomic uint64_t st_written, st_groups, st_failed, st_rejected, st_queued;
	_Atomic int64_t full_logged_ms;
};

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Inserts one chained row (and its outbox rows) inside the open transaction. */
static int write_item(struct audit *a, const struct item *it, int64_t now, bool *woke)
{
	char ts[32], hash[AUDIT_HASH_HEX + 1];
	struct chain_row r = { .id = a->last_id + 1 };
	sqlite3_stmt *st = a->ins_row;
	int64_t id = r.id;
	int rc;

	fmt_rfc3339_ms(it->ts_ms, ts, sizeof ts);
	r.f[CHAIN_TS] = ts;
	r.f[CHAIN_EVENT] = audit_kind_name(it->kind);
	r.f[CHAIN_PAGE_ID] = it->page_id;
	r.f[CHAIN_CLIENT_ID] = it->client_id;
	r.f[CHAIN_PHONE] = it->phone;
	r.f[CHAIN_FLOW] = it->flow;
	r.f[CHAIN_IP] = it->ip;
	r.f[CHAIN_USER_AGENT] = it->user_agent;
	r.f[CHAIN_REFDATA] = it->refdata;
	for (int i = 0; i < CHAIN_FIELDS; i++)
		r.len[i] = r.f[i] ? strlen(r.f[i]) : 0;
	r.prev_hash = a->last_hash;
	r.prev_len = strlen(a->last_hash);
	chain_row_hash(&r, hash);

	sqlite3_bind_int64(st, 1, id);
	for (int i = 0; i < CHAIN_FIELDS; i++)
		bind_text(st, i + 2, r.f[i]);
	sqlite3_bind_text(st, 11, a->last_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
		return -1;
	}
	a->last_id = id;
	memcpy(a->last_hash, hash, sizeof hash);

	if (!it->notify)
		return 0;
	return outbox_write(a->outbox, &(struct outbox_result){
		.audit_id = id, .event = audit_kind_name(it->kind), .page_id = it->page_id,
		.client_id = it->client_id, .phone = it->phone, .flow = it->flow, .decided_at = ts,
		.validated = it->validated }, now, woke);
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

static void *writer_main(void *arg)
{
	struct audit *a = arg;

	for (;;) {
		struct item *group, *last;
		size_t n = 1;

		pthread_mutex_lock(&a->lock);
		while (a->head == NULL && !a->stopping)
			pthread_cond_wait(&a->cond, &a->lock);
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

	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->reader_lock, NULL);
	a->lock_fd = -1;
	pthread_cond_init(&a->cond, NULL);
	a->wake = wake;
	a->wake_ctx = wake_ctx;

	if ((a->lock_fd = auditdb_lock(cfg->db_path)) < 0)
		goto fail;
	if (auditdb_open(cfg->db_path, &a->db) != 0)
		goto fail;
	if (sqlite3_prepare_v3(a->db,
	        "INSERT INTO audit_log (id, ts, event, page_id, client_id, phone, flow, ip, "
	        "user_agent, refdata, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
	        -1, SQLITE_PREPARE_PERSISTENT, &a->ins_row, NULL) != SQLITE_OK) {
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
		goto fail;
	}
	if ((a->outbox = outbox_writer_new(a->db, cfg)) == NULL)
		goto fail;
	if (load_head(a) != 0) {
		log_error("%s: cannot read the chain head: %s", __func__, sqlite3_errmsg(a->db));
		goto fail;
	}
	{
		char err[256];
		if (auditdb_open_reader(cfg->db_path, &a->reader, err, sizeof err) != 0) {
			log_error("%s: %s", __func__, err);
			goto fail;
		}
		if (sqlite3_prepare_v3(a->reader, "SELECT event, ts, client_id FROM audit_log "
		                       "WHERE page_id = ?1 ORDER BY id", -1, SQLITE_PREPARE_PERSISTENT,
		                       &a->lookup, NULL) != SQLITE_OK) {
			log_error("%s: %s", __func__, sqlite3_errmsg(a->reader));
			goto fail;
		}
	}
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
	sqlite3_finalize(a->ins_row);
	outbox_writer_free(a->outbox);
	sqlite3_finalize(a->lookup);
	sqlite3_close(a->reader);
	pthread_mutex_destroy(&a->reader_lock);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	if (a->db != NULL && sqlite3_close(a->db) != SQLITE_OK)
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
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

/* ---- readers: verify, head, export ------------------------------------- */

#define ROW_COLUMNS "id, ts, event, page_id, client_id, phone, flow, ip, user_agent, refdata, " \
                    "prev_hash, hash"

int audit_verify_chain(const char *db_path, struct audit_verify *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct chain_walk w;
	char err[512];
	int rc = -1, step;

	chain_walk_init(&w);
	if (auditdb_open_reader(db_path, &db, err, sizeof err) != 0) {
		log_error("audit verify: %s", err);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT " ROW_COLUMNS " FROM audit_log ORDER BY id", -1, &st,
	                       NULL) != SQLITE_OK)
		goto sqlfail;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct chain_row r = { .id = sqlite3_column_int64(st, 0) };

		for (int i = 0; i < CHAIN_FIELDS; i++) {
			r.f[i] = (const char *)sqlite3_column_text(st, i + 1);
			r.len[i] = r.f[i] ? (size_t)sqlite3_column_bytes(st, i + 1) : 0;
		}
		r.prev_hash = (const char *)sqlite3_column_text(st, 10);
		r.prev_len = (size_t)sqlite3_column_bytes(st, 10);
		r.hash = (const char *)sqlite3_column_text(st, 11);
		if (chain_walk_step(&w, &r) != 0) {
			rc = 1;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		goto sqlfail;
	rc = 0;
	goto out;
sqlfail:
	log_error("audit verify: %s: %s", db_path, sqlite3_errmsg(db));
	w.bad_id = 0;
	rc = -1;
out:
	out->rows = w.rows;
	out->head_id = w.head_id;
	memcpy(out->head_hash, w.head_hash, sizeof out->head_hash);
	out->bad_id = w.bad_id;
	out->reason = w.reason;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* A field a spreadsheet would run as a formula: =, @, tab/CR, or + and -
 * not followed by a digit (phones like +5215550001111 stay as they are). */
static bool csv_formula_like(const char *s)
{
	return s[0] == '=' || s[0] == '@' || s[0] == '\t' || s[0] == '\r' ||
	       ((s[0] == '+' || s[0] == '-') && !(s[1] >= '0' && s[1] <= '9'));
}

/* RFC 4180: quoted when needed; NULL is an empty field, "" a quoted empty one.
 * Formula-like fields (user agent, refdata, flow come from outside) get a
 * leading ' inside the quotes, as OWASP advises against CSV injection. */
static void csv_field(FILE *out, const char *s, bool first)
{
	bool formula;

	if (!first)
		fputc(',', out);
	if (s == NULL)
		return;
	formula = csv_formula_like(s);
	if (!formula && *s != '\0' && strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ' &&
	    s[strlen(s) - 1] != ' ') {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static const char *const column_names[] = {
	"id", "ts", "event", "page_id", "client_id", "phone", "flow", "ip", "user_agent",
	"refdata", "prev_hash", "hash",
};

int audit_export(const char *db_path, enum audit_format fmt, int64_t since_ms, FILE *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[512], since[32];
	int rc = -1, step;

	if (auditdb_open_reader(db_path, &db, err, sizeof err) != 0) {
		log_error("audit export: %s", err);
		return -1;
	}
	if (sqlite3_prepare_v2(db, since_ms > 0 ?
	                       "SELECT " ROW_COLUMNS " FROM audit_log WHERE ts >= ? ORDER BY id" :
	                       "SELECT " ROW_COLUMNS " FROM audit_log ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	if (since_ms > 0) {
		fmt_rfc3339_ms(since_ms, since, sizeof since);
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	}
	if (fmt == AUDIT_FORMAT_CSV) {
		for (size_t i = 0; i < ARRAY_LEN(column_names); i++)
			csv_field(out, column_names[i], i == 0);
		fputs("\r\n", out);
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (fmt == AUDIT_FORMAT_CSV) {
			fprintf(out, "%lld", (long long)sqlite3_column_int64(st, 0));
			for (int i = 1; i < (int)ARRAY_LEN(column_names); i++)
				csv_field(out, (const char *)sqlite3_column_text(st, i), false);
			fputs("\r\n", out);
		} else {
			cJSON *o = cJSON_CreateObject();
			char *line;

			cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
			for (int i = 1; i < (int)ARRAY_LEN(column_names); i++) {
				const char *v = (const char *)sqlite3_column_text(st, i);
				if (v != NULL)
					cJSON_AddStringToObject(o, column_names[i], v);
				else
					cJSON_AddNullToObject(o, column_names[i]);
			}
			line = cJSON_PrintUnformatted(o);
			cJSON_Delete(o);
			if (line == NULL)
				abort();
			fputs(line, out);
			fputc('\n', out);
			free(line);
		}
		if (ferror(out))
			break;
	}
	if (ferror(out) || fflush(out) != 0) {
		log_error("audit export: writing the output failed: %s", strerror(errno));
		goto out;
	}
	if (step != SQLITE_DONE)
		goto sqlfail;
	rc = 0;
	goto out;
sqlfail:
	log_error("audit export: %s: %s", db_path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static int audit_head(const char *db_path, FILE *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[512];
	int rc = -1, step;

	if (auditdb_open_reader(db_path, &db, err, sizeof err) != 0) {
		log_error("audit head: %s", err);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", -1, &st,
	                       NULL) != SQLITE_OK)
		goto sqlfail;
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		fprintf(out, "id %lld hash %s\n", (long long)sqlite3_column_int64(st, 0), h ? h : "");
	} else if (step == SQLITE_DONE) {
		fprintf(out, "id 0 hash %s\n", chain_genesis);
	} else {
		goto sqlfail;
	}
	rc = 0;
	goto out;
sqlfail:
	log_error("audit head: %s: %s", db_path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* ---- the command ------------------------------------------------------- */

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* RFC 3339 "YYYY-MM-DD[THH:MM[:SS[.frac]][Z|+HH:MM|-HH:MM]]"; a time without
 * an offset, or a bare date, is taken as UTC. 0 or -1. */
static int parse_since(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
	struct tm tm = { 0 };
	time_t t;

	if (parse_digits(&s, 4, &y) || *s++ != '-' || parse_digits(&s, 2, &mo) || *s++ != '-' ||
	    parse_digits(&s, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1)
		return -1;
	if (d > mdays[mo - 1] + (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (parse_digits(&s, 2, &h) || *s++ != ':' || parse_digits(&s, 2, &mi))
			return -1;
		if (*s == ':') {
			s++;
			if (parse_digits(&s, 2, &sec))
				return -1;
			if (*s == '.') {
				int scale = 100;
				s++;
				if (*s < '0' || *s > '9')
					return -1;
				for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
					ms += (*s - '0') * scale;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (sec == 60)
			sec = 59;
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int sign = *s++ == '-' ? -1 : 1, oh, om;
			if (parse_digits(&s, 2, &oh) || *s++ != ':' || parse_digits(&s, 2, &om) ||
			    oh > 23 || om > 59)
				return -1;
			off = sign * (oh * 60 + om);
		}
	}
	if (*s != '\0')
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*out = ((int64_t)t - (int64_t)off * 60) * 1000 + ms;
	return 0;
}

/* The status of one challenge as its audit rows tell it: for status queries
 * about challenges the store no longer holds. A reader connection per call:
 * this is the rare path (old or unknown ids), and WAL readers never wait for
 * the writer. */
int audit_lookup(struct audit *a, const char *page_id, struct audit_status *out)
{
	static const char *const decisions[] = { "approved", "denied", "expired", "canceled", "locked" };
	sqlite3_stmt *st = a->lookup;
	int rc = 1, step;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&a->reader_lock);
	if (sqlite3_bind_text(st, 1, page_id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		log_error("%s: %s", __func__, sqlite3_errmsg(a->reader));
		rc = -1;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ev = (const char *)sqlite3_column_text(st, 0);
		const char *ts = (const char *)sqlite3_column_text(st, 1);
		const char *cid = (const char *)sqlite3_column_text(st, 2);
		int64_t ms = 0;

		if (ev == NULL || ts == NULL || parse_since(ts, &ms) != 0)
			continue;
		if (strcmp(ev, "minted") == 0) {
			snprintf(out->client_id, sizeof out->client_id, "%s", cid ? cid : "");
			out->created_ms = ms;
			snprintf(out->status, sizeof out->status, "pending");
			rc = 0;
			continue;
		}
		for (size_t i = 0; rc == 0 && i < ARRAY_LEN(decisions); i++) {
			if (strcmp(ev, decisions[i]) == 0 && out->decided_ms == 0) {
				snprintf(out->status, sizeof out->status, "%s", decisions[i]);
				out->decided_ms = ms;
			}
		}
	}
	if (step != SQLITE_DONE) {
		log_error("%s: %s", __func__, sqlite3_errmsg(a->reader));
		rc = -1;
	}
	/* Minted, never decided, and older than any page can live: the process
	 * died (kill -9) before it could record the expiry. */
	if (rc == 0 && out->decided_ms == 0 &&
	    now_ms() - out->created_ms > (int64_t)CONFIG_EXPIRATION_MAX * 1000)
		snprintf(out->status, sizeof out->status, "expired");
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&a->reader_lock);
	return rc;
}

static void audit_usage(FILE *f)
{
	fputs("usage: mnmfa audit verify [--db FILE]\n"
	      "       mnmfa audit head [--db FILE]\n"
	      "       mnmfa audit export [--db FILE] [--format jsonl|csv] [--since RFC3339]\n"
	      "\n"
	      "verify  walks the hash chain: exit 0 intact (rows checked, head hash),\n"
	      "        1 broken (the first bad row id)\n"
	      "head    prints the newest row id and hash, to anchor the chain elsewhere\n"
	      "export  writes the rows to stdout (default jsonl), those at or after --since\n"
	      "--db    the database (default: $MNMFA_DB_PATH, else " CONFIG_DEFAULT_DB_PATH ")\n", f);
}

/* Returns the value of --name VALUE / --name=VALUE at argv[*i], advancing *i;
 * NULL when argv[*i] is not that flag; sets *bad when the value is missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, bool *bad)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

int audit_cmd(int argc, char **argv)
{
	const char *sub, *db = getenv("MNMFA_DB_PATH"), *format = NULL, *since = NULL;
	enum audit_format fmt = AUDIT_FORMAT_JSONL;
	int64_t since_ms = 0;

	if (db == NULL || *db == '\0')
		db = CONFIG_DEFAULT_DB_PATH;
	if (argc < 1) {
		audit_usage(stderr);
		return 2;
	}
	sub = argv[0];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		audit_usage(stdout);
		return 0;
	}
	if (strcmp(sub, "verify") != 0 && strcmp(sub, "head") != 0 && strcmp(sub, "export") != 0) {
		fprintf(stderr, "mnmfa audit: unknown command '%s'\n", sub);
		audit_usage(stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			audit_usage(stdout);
			return 0;
		}
		if ((v = flag_value(argc, argv, &i, "--db", &bad)) != NULL) {
			db = v;
		} else if (strcmp(sub, "export") == 0 &&
		           (v = flag_value(argc, argv, &i, "--format", &bad)) != NULL) {
			format = v;
		} else if (strcmp(sub, "export") == 0 &&
		           (v = flag_value(argc, argv, &i, "--since", &bad)) != NULL) {
			since = v;
		} else {
			fprintf(stderr, bad ? "mnmfa audit %s: %s needs a value\n" :
			                      "mnmfa audit %s: unknown argument '%s'\n", sub, argv[i]);
			return 2;
		}
		if (*v == '\0') {
			fprintf(stderr, "mnmfa audit %s: empty flag value\n", sub);
			return 2;
		}
	}
	if (format != NULL) {
		if (strcmp(format, "jsonl") == 0) {
			fmt = AUDIT_FORMAT_JSONL;
		} else if (strcmp(format, "csv") == 0) {
			fmt = AUDIT_FORMAT_CSV;
		} else {
			fprintf(stderr, "mnmfa audit export: --format '%s': expected jsonl or csv\n", format);
			return 2;
		}
	}
	if (since != NULL && parse_since(since, &since_ms) != 0) {
		fprintf(stderr, "mnmfa audit export: --since '%s': expected an RFC 3339 time like "
		        "2026-11-28T18:48:08Z\n", since);
		return 2;
	}

	if (strcmp(sub, "verify") == 0) {
		struct audit_verify v;
		int rc = audit_verify_chain(db, &v);
		if (rc == 0) {
			printf("audit chain intact: %lld rows checked, head id %lld hash %s\n",
			       (long long)v.rows, (long long)v.head_id, v.head_hash);
			return 0;
		}
		if (rc == 1)
			printf("audit chain broken at row id %lld: %s (%lld rows before it intact)\n",
			       (long long)v.bad_id, v.reason, (long long)v.rows);
		else
			printf("audit chain could not be verified (see the error above)\n");
		return 1;
	}
	if (strcmp(sub, "head") == 0)
		return audit_head(db, stdout) == 0 ? 0 : 1;
	/* The rows were written by the writer with fixed-width UTC text, so
	 * comparing the text is comparing the time. */
	return audit_export(db, fmt, since_ms, stdout) == 0 ? 0 : 1;
}
