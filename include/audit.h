/*
 * audit: the writer of the tamper-evident audit log in SQLite (db_path). One
 * writer thread owns the write connection (WAL, synchronous=FULL) and commits
 * queued events in groups; an event that carries a result (notify=true)
 * writes its outbox rows (outbox.c) in the same transaction. After each commit
 * the writer calls every event's done callback and the wake callback given to
 * audit_open. Readers (verify, export, head, status) are audit_export.c's;
 * this header includes theirs for the callers that use both.
 *
 * Rows form a SHA-256 hash chain: hash = SHA-256(canonical encoding of the row
 * || prev_hash). The encoding is chain.c's, documented in chain.h and the README.
 */
#ifndef MNMFA_AUDIT_H
#define MNMFA_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "audit_export.h"
#include "chain.h"
#include "crypto.h"

struct config;

#define AUDIT_RETRY_FIRST_MS 100     /* a failing group is retried after 100 ms, 200, ... */
#define AUDIT_RETRY_MAX_MS 1000      /* ... then every second, until it is durable */
#define AUDIT_WRITER_BUSY_MS 250     /* the writer's busy timeout: it looks at give-ups this often */
#define AUDIT_CLOSE_MAX_MS 30000     /* audit_close: the longest it retries what is queued */
#define AUDIT_QUEUE_MAX 65536        /* events waiting for the writer; past it submit refuses */
#define AUDIT_QUEUE_HARD_MAX (2 * AUDIT_QUEUE_MAX)   /* audit_submit_end's limit */
#define AUDIT_REFDATA_MAX 2048       /* bytes of page-supplied device info kept */
#define AUDIT_UA_MAX 512             /* bytes of User-Agent kept */
#define AUDIT_FIELD_MAX 1024         /* bytes kept of client_id, phone, flow */
#define AUDIT_IP_MAX 64              /* bytes kept of the client IP text */
#define AUDIT_GROUP_MAX 4096         /* events committed in one transaction at most */
/* The writer checkpoints the WAL itself, PASSIVE, between groups (after
 * their callbacks; the start's settle too) once it holds this many frames
 * (~32 MiB): SQLite's automatic checkpoint would run inside a COMMIT and hold
 * up that group's answers. Each group rewrites the same few pages (the
 * table's and the time index's last leaves), so a longer WAL copies each of
 * them back once for more groups: 1,000 frames (SQLite's default) -> 8,000
 * took mints from ~23,800 to ~27,500 a second (medians of six runs each,
 * mint-only). */
#define AUDIT_CHECKPOINT_FRAMES 8000
#define AUDIT_HASH_HEX CHAIN_HASH_HEX

enum audit_kind {
	AUDIT_MINTED = 0, AUDIT_APPROVED, AUDIT_DENIED, AUDIT_EXPIRED, AUDIT_CANCELED,
	AUDIT_LOCKED, AUDIT_REPLAYED
};
const char *audit_kind_name(enum audit_kind k);

/* One event. Strings are copied by audit_submit; NULL means "none". */
struct audit_event {
	enum audit_kind kind;
	int64_t ts_ms;                    /* UTC ms; the decision time for decisions */
	char page_id[PAGE_ID_LEN + 1];
	const char *client_id, *phone, *flow;
	const char *ip, *user_agent;
	const char *refdata;              /* validated JSON text from the page, or NULL */
	bool refdata_minified;            /* refdata is our own minified JSON object: kept as it is */
	int64_t created_ms;               /* when the challenge was minted (for the result) */
	bool notify;                      /* also queue a result (outbox row) in the same transaction */
	bool validated;                   /* the user_validated value of that result */
};

/* Called on the writer thread once the event's group is durable (rc 0) or
 * could not be written (rc -1). Keep it short and non-blocking. */
typedef void (*audit_done_fn)(void *ctx, int rc);

/* Called on the writer thread after a commit that wrote outbox rows to be
 * delivered (server.c wires the sender's notify_wake). Cheap, non-blocking. */
typedef void (*audit_wake_fn)(void *ctx);

/* Opens/creates cfg->db_path (schema migrations via PRAGMA user_version) and
 * starts the writer thread. wake may be NULL (no sender, e.g. in tests).
 * NULL on failure (logged). */
struct audit *audit_open(const struct config *cfg, audit_wake_fn wake, void *wake_ctx);

/* What a serving start does about challenges the previous runs left without
 * an end (audit_settle.c), before the writer starts: NONE nothing (tools,
 * tests); both others write the `canceled` rows of the in-memory runs'
 * open challenges and record this run's store (audit_runs), so a later
 * start never cancels a Redis run's challenges. ENDS (the in-memory store:
 * nothing outlives the process): a stop's ends not written in time are left
 * to the next start instead of lost; MARK (a store shared through Redis,
 * where a challenge outlives this node): this run's rows are never settled. */
enum audit_settle { AUDIT_SETTLE_NONE, AUDIT_SETTLE_ENDS, AUDIT_SETTLE_MARK };
struct audit *audit_open_serve(const struct config *cfg, enum audit_settle how, audit_wake_fn wake,
                               void *wake_ctx);

/* Queues an event; it is retried until durable. done may be NULL (fire and
 * forget: replayed, locked). Returns 0, or -1 when the queue is full or the
 * writer stopped (done is then NOT called): the caller refuses its request. */
int audit_submit(struct audit *a, const struct audit_event *ev, audit_done_fn done, void *ctx);
/* Same for an event a request waits on: if it is not durable by the
 * mono_ms() instant give_up_mono_ms, it is withdrawn before it can be
 * written and done hears -1. */
int audit_submit_within(struct audit *a, const struct audit_event *ev, audit_done_fn done,
                        void *ctx, int64_t give_up_mono_ms);
/* For an event a request thread cannot refuse or wait for: one that ends a
 * challenge already minted (canceled by the bot, locked after a denial).
 * Accepted past AUDIT_QUEUE_MAX up to AUDIT_QUEUE_HARD_MAX: each challenge
 * ends once, and new mints are refused from AUDIT_QUEUE_MAX on. */
int audit_submit_end(struct audit *a, const struct audit_event *ev);
/* Back-pressure, for events no request can be refused for (expired,
 * canceled): waits for room in the queue until the mono_ms() instant until
 * (INT64_MAX: as long as it takes). -1 only at until or once stopped. */
int audit_submit_wait(struct audit *a, const struct audit_event *ev, int64_t until_mono_ms);

/* Stop: every waited-on event not durable by by_mono_ms gives up then. */
void audit_hurry(struct audit *a, int64_t by_mono_ms);

/* Writes everything queued, retrying failures until the mono_ms() instant
 * by_mono_ms, then stops the writer and closes the database. Returns how
 * many events could not be written (logged), not counting the ends left to
 * the next start (AUDIT_SETTLE_ENDS). */
uint64_t audit_close_by(struct audit *a, int64_t by_mono_ms);
/* audit_close_by within AUDIT_CLOSE_MAX_MS. */
void audit_close(struct audit *a);

/* A challenge's status from its audit rows (status queries about challenges
 * the store no longer holds), through the reader opened at start: see
 * audit_reader_status. 0 found, 1 no such page id, -1 error (logged). */
int audit_lookup(struct audit *a, const char *page_id, struct audit_status *out);

/* Counters for /metrics; relaxed reads, safe from any thread. */
struct audit_stats {
	uint64_t written;     /* audit rows committed */
	uint64_t groups;      /* transactions committed */
	uint64_t failed;      /* waited-on events withdrawn, not durable in time (done rc -1) */
	uint64_t rejected;    /* audit_submit refused: queue full or stopping */
	uint64_t queued;      /* events waiting for the writer now */
	uint64_t lost;        /* events not written by the stop's end */
};
void audit_get_stats(struct audit *a, struct audit_stats *out);

#endif
