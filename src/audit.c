/*
 * audit: the audit log's writer thread and its queue.
 *
 * One writer thread owns the write connection. audit_submit copies an event
 * (audit_item.c: cleaned, one allocation) into a bounded queue; the writer
 * takes everything queued (up to AUDIT_GROUP_MAX) and writes it in ONE
 * transaction (audit_rows.c: the chained audit rows and, for events that
 * carry a result, their outbox rows), commits (one fsync for the whole group:
 * WAL, synchronous=FULL), then runs the done callbacks and calls the wake
 * callback so the sender looks at the outbox. While it waits on the disk new
 * events pile up for the next group, so the fsync cost is shared instead of
 * paid per request.
 *
 * Speed (the writer must outrun minting): an event is one allocation, made
 * and cleaned on the submitting thread outside the queue lock; taking a
 * group from the queue is a pointer swap under the lock; the writer
 * allocates nothing per row, and checkpoints the WAL itself, PASSIVE,
 * between groups, so no COMMIT waits for a checkpoint.
 *
 * Nothing queued is dropped. A group whose transaction fails (the database
 * locked elsewhere, a full disk, EFBIG) is rolled back and retried with
 * backoff until it is durable; only a stop's last instant (audit_close_by)
 * ends the retrying, and what was then not written is counted and logged.
 * An event a request waits on (a decision, a mint) may carry a give-up
 * instant: if it is not durable by then it is taken out of its group or the
 * queue before any attempt that could write it, and its done callback hears
 * -1, so the request is answered "try again" and the event never lands. The
 * writer's own busy timeout is short (AUDIT_WRITER_BUSY_MS) so that it looks
 * at those instants often while the database is locked.
 *
 * Back-pressure: the queue holds AUDIT_QUEUE_MAX events. audit_submit
 * refuses past it (the request answers 503); audit_submit_wait, for events
 * that have no caller to refuse (expiries, cancels at stop), waits for room.
 *
 * The schema, connections and the one-writer lock are auditdb.c's; reading
 * the log (verify, export, head, status) is audit_export.c's.
 */
#include "audit.h"
#include "audit_item.h"
#include "audit_pages.h"
#include "audit_rows.h"
#include "audit_settle.h"
#include "auditdb.h"
#include "checkpoint.h"
#include "config.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_FULL_LOG_INTERVAL_MS 1000        /* "queue full" logged at most this often */
#define AUDIT_RETRY_LOG_INTERVAL_MS 5000       /* a failing group's retries logged this often */

/* ---- the writer -------------------------------------------------------- */

struct audit {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t room;               /* the writer took a group: the queue shrank */
	struct item *head, *tail;          /* the queue, under lock */
	size_t queued;
	bool stopping;
	int64_t hurry_ms;                  /* under lock: waited-on events give up by then */
	int64_t close_by_ms;               /* under lock: the stop's last instant for retries */
	unsigned pokes;                    /* under lock: hurry/close changed, the retry wait ends */
	bool thread_started;
	pthread_t thread;

	/* Writer thread only. */
	sqlite3 *db;
	struct audit_rows *rows;           /* the chain head and the INSERTs */
	struct audit_pages *pages;         /* the page-id index, filled in slices */
	int64_t last_group_ms;             /* mono_ms after the last group's callbacks */
	int wal_frames;                    /* frames in the WAL after the last commit */
	int ckpt_frames;                   /* of them, copied back by the last checkpoint */

	int lock_fd;                       /* flock on <db_path>.lock */
	/* Status lookups from API threads: a reader opened at start, before
	 * privileges are dropped. */
	struct audit_reader *reader;

	struct checkpoint_signer *signer;   /* writer thread only (then audit_close) */
	bool settles;                      /* ends a stop leaves unwritten are written at the next start */
	bool settle_failed;                /* the start's settling failed: the stop keeps the mark */
	audit_wake_fn wake;                /* tells the sender new outbox rows are due */
	void *wake_ctx;

	_Atomic uint64_t st_written, st_groups, st_failed, st_rejected, st_queued, st_lost;
	_Atomic uint64_t st_left;          /* ends not written by the stop's end, for the next start */
	_Atomic int64_t full_logged_ms;
};

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Counts events the stop's end leaves unwritten: with the in-memory store
 * a challenge's end is written at the next start (audit_settle.c), so only
 * the other events are lost. */
static void count_unwritten(struct audit *a, const struct item *list)
{
	for (const struct item *it = list; it != NULL; it = it->next) {
		bool end = it->kind != AUDIT_MINTED && it->kind != AUDIT_REPLAYED;
		atomic_fetch_add_explicit(a->settles && end ? &a->st_left : &a->st_lost, 1,
		                          memory_order_relaxed);
	}
}

/* When a waited-on event gives up: its own instant or the stop's hurry. */
static int64_t give_up_at(int64_t hurry_ms, const struct item *it)
{
	return it->done == NULL ? AUDIT_NO_DEADLINE : min64(it->give_up_ms, hurry_ms);
}

/* Tells each event of a list (not in the database) that it was not written,
 * and frees the list. Outside the lock. */
static void give_up_list(struct audit *a, struct item *list)
{
	while (list != NULL) {
		struct item *next = list->next;
		atomic_fetch_add_explicit(&a->st_failed, 1, memory_order_relaxed);
		if (list->done != NULL)
			list->done(list->ctx, -1);
		audit_item_free(list);
		list = next;
	}
}

/* Unlinks from *list the events overdue at now into *out (their order
 * kept). Returns how many. Under lock for the queue (not for a group). */
static size_t take_overdue(int64_t hurry_ms, struct item **list, struct item **last, int64_t now,
                           struct item **out)
{
	struct item **pp = list, *prev = NULL, **op = out;
	size_t n = 0;

	while (*op != NULL)
		op = &(*op)->next;
	while (*pp != NULL) {
		struct item *it = *pp;
		if (give_up_at(hurry_ms, it) <= now) {
			*pp = it->next;
			it->next = NULL;
			*op = it;
			op = &it->next;
			n++;
			continue;
		}
		prev = it;
		pp = &it->next;
	}
	if (last != NULL)
		*last = prev;
	return n;
}

/* Takes the overdue waited-on events out of the group (and, while retrying,
 * out of the queue behind it: they would not reach an attempt in time) and
 * tells their callers. Returns the group's new size. */
static size_t drop_overdue(struct audit *a, struct item **group, size_t n, bool queue_too)
{
	struct item *out = NULL;
	int64_t now = mono_ms();
	size_t k = 0;

	int64_t hurry_ms;

	pthread_mutex_lock(&a->lock);
	hurry_ms = a->hurry_ms;
	pthread_mutex_unlock(&a->lock);
	/* The group is the writer's own: walked outside the lock requests take. */
	n -= take_overdue(hurry_ms, group, NULL, now, &out);
	if (queue_too) {
		pthread_mutex_lock(&a->lock);
		k = take_overdue(a->hurry_ms, &a->head, &a->tail, now, &out);
		a->queued -= k;
		atomic_store_explicit(&a->st_queued, a->queued, memory_order_relaxed);
		if (k > 0)
			pthread_cond_broadcast(&a->room);
		pthread_mutex_unlock(&a->lock);
	}
	if (out != NULL) {
		log_warn("audit: events not durable in time were withdrawn; their requests were told "
		         "to try again");
		give_up_list(a, out);
	}
	return n;
}

/* Waits before the next attempt: until `until`, the earliest give-up instant
 * of the group, or a poke (hurry, close). */
static void retry_wait(struct audit *a, const struct item *group, int64_t until)
{
	unsigned pokes;

	pthread_mutex_lock(&a->lock);
	for (const struct item *it = group; it != NULL; it = it->next)
		until = min64(until, give_up_at(a->hurry_ms, it));
	until = min64(until, a->close_by_ms);
	pokes = a->pokes;
	while (a->pokes == pokes) {
		int64_t left = until - mono_ms();
		struct timespec ts;
		if (left <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->cond, &a->lock, &ts);
	}
	pthread_mutex_unlock(&a->lock);
}

static bool a_hurried(struct audit *a)
{
	bool h;

	pthread_mutex_lock(&a->lock);
	h = a->hurry_ms != AUDIT_NO_DEADLINE;
	pthread_mutex_unlock(&a->lock);
	return h;
}

static bool past_close_by(struct audit *a)
{
	bool past;

	pthread_mutex_lock(&a->lock);
	past = mono_ms() >= a->close_by_ms;
	pthread_mutex_unlock(&a->lock);
	return past;
}

/* Signs the chain head when a checkpoint is due, or now if forced (checkpoint.c). */
static void sign_head(struct audit *a, bool force)
{
	const char *hash;
	int64_t id = audit_rows_head(a->rows, &hash);

	(void)checkpoint_signer_after(a->signer, id, hash, force);
}

/* Writes a group, retrying a failed transaction (a lock held elsewhere, a
 * full disk, an I/O error) with backoff until it is durable: a passing
 * problem costs latency, never a row. Before each attempt, waited-on events
 * past their give-up instant leave the group (their callers hear -1). Only
 * the stop's last instant ends the retrying: the rest is then counted lost. */
static void write_group(struct audit *a, struct item **groupp, size_t n)
{
	int64_t now = now_ms(), first_fail = 0, next_log = 0;
	int backoff = AUDIT_RETRY_FIRST_MS;
	bool woke = false;
	struct item *group;

	for (;;) {
		n = drop_overdue(a, groupp, n, first_fail != 0 || a_hurried(a));
		if ((group = *groupp) == NULL)
			return;
		if (audit_rows_write(a->rows, group, now, &woke) == 0)
			break;
		if (first_fail == 0)
			first_fail = mono_ms();
		if (past_close_by(a)) {
			count_unwritten(a, group);
			log_error("audit: stop: %zu events could not be written before the stop's end "
			          "(the database failed for %lld ms)", n, (long long)(mono_ms() - first_fail));
			for (struct item *it = group; it != NULL; it = it->next)
				if (it->done != NULL)
					it->done(it->ctx, -1);
			return;
		}
		if (mono_ms() >= next_log) {
			log_warn("audit: a group of %zu events could not be written; retrying until it is "
			         "(failing for %lld ms)", n, (long long)(mono_ms() - first_fail));
			next_log = mono_ms() + AUDIT_RETRY_LOG_INTERVAL_MS;
		}
		retry_wait(a, group, mono_ms() + backoff);
		backoff = backoff * 2 > AUDIT_RETRY_MAX_MS ? AUDIT_RETRY_MAX_MS : backoff * 2;
	}
	if (first_fail != 0)
		log_info("audit: a group of %zu events was written after failing for %lld ms", n,
		         (long long)(mono_ms() - first_fail));
	/* Signs the new head when a checkpoint is due (checkpoint.c). */
	sign_head(a, false);
	atomic_fetch_add_explicit(&a->st_written, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->st_groups, 1, memory_order_relaxed);
	for (struct item *it = group; it != NULL; it = it->next)
		if (it->done != NULL)
			it->done(it->ctx, 0);
	if (woke && a->wake != NULL)
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

/* The page index's next slice: AUDIT_PAGES_SLICE rows once that many wait
 * (between groups: SQLite touches each leaf once a slice instead of once a
 * row), or, idle, all the rows that wait. */
static void index_pages(struct audit *a, bool idle)
{
	const char *hash;
	int64_t head = audit_rows_head(a->rows, &hash), now = mono_ms();

	if (!idle && !audit_pages_slice_due(a->pages, head, now))
		return;
	(void)audit_pages_fill(a->pages, min64(head, audit_pages_through(a->pages) + AUDIT_PAGES_SLICE),
	                       now);
}

/* The earliest of two instants where 0 is none. */
static int64_t earliest(int64_t a, int64_t b)
{
	return a == 0 ? b : b == 0 ? a : min64(a, b);
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;

	for (;;) {
		struct item *group, *last;
		size_t n = 1;

		pthread_mutex_lock(&a->lock);
		while (a->head == NULL && !a->stopping) {
			/* Unsigned rows get their checkpoint within CHECKPOINT_EVERY_MS,
			 * and the page index its last rows, even when no more rows come. */
			const char *hash;
			int64_t sign_due = checkpoint_signer_due_ms(a->signer);
			int64_t pages_due = audit_pages_idle_at(a->pages, audit_rows_head(a->rows, &hash),
			                                        a->last_group_ms);
			int64_t due = earliest(sign_due, pages_due), now = mono_ms();
			if (due == 0) {
				pthread_cond_wait(&a->cond, &a->lock);
			} else if (now >= due) {
				pthread_mutex_unlock(&a->lock);
				if (sign_due != 0 && now >= sign_due)
					sign_head(a, true);
				if (pages_due != 0 && now >= pages_due)
					index_pages(a, true);
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
		if (a->stopping && mono_ms() >= a->close_by_ms) {
			struct item *rest = a->head;
			size_t k = a->queued;
			a->head = a->tail = NULL;
			a->queued = 0;
			pthread_mutex_unlock(&a->lock);
			count_unwritten(a, rest);
			log_error("audit: stop: %zu queued events could not be written before the stop's end", k);
			give_up_list(a, rest);
			break;
		}
		group = last = a->head;
		if (a->queued <= AUDIT_GROUP_MAX) {      /* all of it: no walk under the lock */
			last = a->tail;
			n = a->queued;
		}
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
		pthread_cond_broadcast(&a->room);
		pthread_mutex_unlock(&a->lock);

		write_group(a, &group, n);   /* frees the events it gives up */
		while (group != NULL) {
			struct item *next = group->next;
			audit_item_free(group);
			group = next;
		}
		checkpoint_between_groups(a);
		index_pages(a, false);
		a->last_group_ms = mono_ms();
	}
	return NULL;
}

/* Between the settle's groups, as between the writer's: the WAL stays
 * AUDIT_CHECKPOINT_FRAMES long however many challenges are settled. */
static void settle_between(void *ctx)
{
	checkpoint_between_groups(ctx);
}

/* Before the writer starts: the ends the in-memory runs left unwritten
 * (with either store: a Redis start too ends what a killed in-memory run
 * left open, never what a Redis run minted, which another node may still
 * serve), then this run's store (audit_runs). A failed settle is logged and
 * the start goes on; the mark stays, so the next start tries again. A run
 * not recorded fails the start: a later start could not tell its rows. */
static int settle_at_start(struct audit *a, enum audit_settle how, int64_t notify_age_ms)
{
	const char *hash;
	uint64_t n = 0;
	bool woke = false;
	int64_t t0 = mono_ms();
	int rc;

	/* As long as any reader waits: an operator's shell may hold the lock. */
	sqlite3_busy_timeout(a->db, AUDITDB_BUSY_MS);
	/* The index whole, so that no lookup of the settle scans rows (a failure
	 * only makes the settle slower). */
	(void)audit_pages_fill(a->pages, audit_rows_head(a->rows, &hash), t0);
	if (audit_settle_ends(a->db, a->rows, notify_age_ms, &n, &woke, settle_between, a) != 0) {
		a->settle_failed = true;
		log_error("audit: %llu challenge(s) a previous run left open were recorded as canceled, "
		          "the rest could not be: the next start tries again", (unsigned long long)n);
	}
	if (n > 0) {
		log_warn("audit: %llu challenge(s) a previous run left open (a stop past stop_timeout, a "
		         "kill or a crash) recorded as canceled in %lld ms", (unsigned long long)n,
		         (long long)(mono_ms() - t0));
		/* Their rows too, in one sorted pass: slices between the first
		 * groups would hold up the first mints instead. */
		(void)audit_pages_fill(a->pages, audit_rows_head(a->rows, &hash), mono_ms());
	}
	if (woke && a->wake != NULL)
		a->wake(a->wake_ctx);
	rc = audit_settle_run(a->db, audit_rows_head(a->rows, &hash) + 1, how == AUDIT_SETTLE_MARK);
	sqlite3_busy_timeout(a->db, AUDIT_WRITER_BUSY_MS);
	return rc;
}

struct audit *audit_open(const struct config *cfg, audit_wake_fn wake, void *wake_ctx)
{
	return audit_open_serve(cfg, AUDIT_SETTLE_NONE, wake, wake_ctx);
}

struct audit *audit_open_serve(const struct config *cfg, enum audit_settle how, audit_wake_fn wake,
                               void *wake_ctx)
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
	pthread_cond_init(&a->room, NULL);
	a->hurry_ms = a->close_by_ms = AUDIT_NO_DEADLINE;
	a->wake = wake;
	a->wake_ctx = wake_ctx;

	if ((a->lock_fd = auditdb_lock(cfg->db_path)) < 0)
		goto fail;
	if (auditdb_open(cfg->db_path, &a->db) != 0)
		goto fail;
	/* Short: while the database is locked elsewhere the writer comes back
	 * often to withdraw events whose requests cannot wait any longer. */
	sqlite3_busy_timeout(a->db, AUDIT_WRITER_BUSY_MS);
	if ((a->rows = audit_rows_open(a->db, cfg)) == NULL ||
	    (a->pages = audit_pages_open(a->db)) == NULL)
		goto fail;
	sqlite3_wal_hook(a->db, on_wal_commit, a);
	a->settles = how == AUDIT_SETTLE_ENDS;
	if (how != AUDIT_SETTLE_NONE &&
	    settle_at_start(a, how, cfg->notify_on_expiry
	                    ? ((int64_t)CONFIG_EXPIRATION_MAX + cfg->result_max_age) * 1000 : -1) != 0)
		goto fail;
	if (checkpoint_key_path(cfg->audit_key, cfg->db_path, key_path, sizeof key_path) != 0) {
		log_error("%s: audit_key: the path is too long", __func__);
		goto fail;
	}
	if ((a->signer = checkpoint_signer_new(a->db, key_path)) == NULL)
		goto fail;
	if ((a->reader = audit_reader_open(cfg->db_path)) == NULL)
		goto fail;
	if (!outbox_chatfuel_on(cfg))
		log_warn("dry run: results are only audited (chatfuel_bot_id/chatfuel_token not set)");
	a->last_group_ms = mono_ms();     /* idle from now: the page index waits its idle time */
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		log_error("%s: cannot start the writer thread", __func__);
		goto fail;
	}
	a->thread_started = true;
	log_info("audit: %s open, chain head id %lld", cfg->db_path,
	         (long long)audit_rows_head(a->rows, &(const char *){ NULL }));
	return a;
fail:
	audit_close(a);
	return NULL;
}

/* Appends it to the queue; under lock. */
static void enqueue(struct audit *a, struct item *it)
{
	if (a->tail != NULL)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->queued++;
	atomic_store_explicit(&a->st_queued, a->queued, memory_order_relaxed);
	pthread_cond_signal(&a->cond);
}

static void log_full(struct audit *a)
{
	int64_t now = mono_ms();
	int64_t last = atomic_load_explicit(&a->full_logged_ms, memory_order_relaxed);

	if (now - last >= AUDIT_FULL_LOG_INTERVAL_MS &&
	    atomic_compare_exchange_strong(&a->full_logged_ms, &last, now))
		log_error("audit: queue full (%d events); new mints and answers are told to retry",
		          AUDIT_QUEUE_MAX);
}

/* until: AUDIT_NO_DEADLINE waits for room as long as it takes, 0 not at all. */
static int submit(struct audit *a, const struct audit_event *ev, audit_done_fn done, void *ctx,
                  int64_t give_up_ms, int64_t until, size_t max)
{
	struct item *it;

	if (a == NULL || ev == NULL || !audit_kind_known(ev->kind))
		return -1;
	it = audit_item_new(ev, done, ctx);     /* copying and JSON checks outside the lock */
	it->give_up_ms = give_up_ms;
	pthread_mutex_lock(&a->lock);
	while (!a->stopping && a->queued >= max && until > 0) {
		int64_t left = until - mono_ms();
		struct timespec ts;
		if (left <= 0)
			break;
		if (until == AUDIT_NO_DEADLINE) {
			pthread_cond_wait(&a->room, &a->lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);      /* room's clock */
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->room, &a->lock, &ts);
	}
	if (a->stopping || a->queued >= max) {
		bool stopping = a->stopping;
		pthread_mutex_unlock(&a->lock);
		audit_item_free(it);
		atomic_fetch_add_explicit(&a->st_rejected, 1, memory_order_relaxed);
		if (!stopping)
			log_full(a);
		return -1;
	}
	enqueue(a, it);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int audit_submit(struct audit *a, const struct audit_event *ev, audit_done_fn done, void *ctx)
{
	return submit(a, ev, done, ctx, AUDIT_NO_DEADLINE, 0, AUDIT_QUEUE_MAX);
}

int audit_submit_end(struct audit *a, const struct audit_event *ev)
{
	return submit(a, ev, NULL, NULL, AUDIT_NO_DEADLINE, 0, AUDIT_QUEUE_HARD_MAX);
}

int audit_submit_within(struct audit *a, const struct audit_event *ev, audit_done_fn done,
                        void *ctx, int64_t give_up_mono_ms)
{
	return submit(a, ev, done, ctx, give_up_mono_ms, 0, AUDIT_QUEUE_MAX);
}

int audit_submit_wait(struct audit *a, const struct audit_event *ev, int64_t until_mono_ms)
{
	return submit(a, ev, NULL, NULL, AUDIT_NO_DEADLINE, until_mono_ms, AUDIT_QUEUE_MAX);
}

/* Sets *field to at most v and ends a retry wait. */
static void lower_and_poke(struct audit *a, int64_t *field, int64_t v)
{
	pthread_mutex_lock(&a->lock);
	if (v < *field)
		*field = v;
	a->pokes++;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

void audit_hurry(struct audit *a, int64_t by_mono_ms)
{
	if (a != NULL)
		lower_and_poke(a, &a->hurry_ms, by_mono_ms);
}

uint64_t audit_close_by(struct audit *a, int64_t by_mono_ms)
{
	uint64_t lost, left;

	if (a == NULL)
		return 0;
	lower_and_poke(a, &a->close_by_ms, by_mono_ms);
	/* waited-on events give up by then too */
	lower_and_poke(a, &a->hurry_ms, by_mono_ms);
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_signal(&a->cond);
	pthread_cond_broadcast(&a->room);
	pthread_mutex_unlock(&a->lock);
	if (a->thread_started)
		pthread_join(a->thread, NULL);
	/* Every stop signs the head: at rest, every row is covered. */
	if (a->signer != NULL && a->thread_started)
		sign_head(a, true);
	checkpoint_signer_free(a->signer);
	lost = atomic_load(&a->st_lost);
	left = atomic_load(&a->st_left);
	if (left > 0)
		log_warn("audit: stop: %llu challenge end(s) not written before the stop's end; the next "
		         "start records them as canceled", (unsigned long long)left);
	else if (a->settles && !a->settle_failed && lost == 0 && a->thread_started) {
		const char *hash;
		/* Every minted row has its end: the next start need not look. */
		(void)audit_settle_mark(a->db, audit_rows_head(a->rows, &hash));
	}
	audit_rows_free(a->rows);
	audit_pages_free(a->pages);
	audit_reader_close(a->reader);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	if (a->db != NULL && sqlite3_close(a->db) != SQLITE_OK)
		log_error("%s: %s", __func__, sqlite3_errmsg(a->db));
	pthread_cond_destroy(&a->cond);
	pthread_cond_destroy(&a->room);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return lost;
}

void audit_close(struct audit *a)
{
	audit_close_by(a, mono_ms() + AUDIT_CLOSE_MAX_MS);
}

void audit_get_stats(struct audit *a, struct audit_stats *out)
{
	out->written = atomic_load_explicit(&a->st_written, memory_order_relaxed);
	out->groups = atomic_load_explicit(&a->st_groups, memory_order_relaxed);
	out->failed = atomic_load_explicit(&a->st_failed, memory_order_relaxed);
	out->rejected = atomic_load_explicit(&a->st_rejected, memory_order_relaxed);
	out->queued = atomic_load_explicit(&a->st_queued, memory_order_relaxed);
	out->lost = atomic_load_explicit(&a->st_lost, memory_order_relaxed);
}

int audit_lookup(struct audit *a, const char *page_id, struct audit_status *out)
{
	return audit_reader_status(a->reader, page_id, out);
}
