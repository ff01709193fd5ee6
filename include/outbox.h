/*
 * outbox: the table of results waiting to be delivered, written by the audit
 * writer in the same transaction as the decision's audit row and emptied by
 * the sender (notify.c). Every statement on the table is here and names its
 * columns; callers see rows as structs. Also here, once: the dry-run rule
 * (when a Chatfuel result is only audited) and the webhook's JSON body.
 */
#ifndef MNMFA_OUTBOX_H
#define MNMFA_OUTBOX_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery.h"

struct config;

/* Chatfuel results are sent only with both credentials; without them they
 * are audited and their rows written as skipped (a dry run). */
bool outbox_chatfuel_on(const struct config *cfg);
/* Webhook results are written only when webhook_url is set. */
bool outbox_webhook_on(const struct config *cfg);

/* ---- the writer's side (audit.c, on its connection) --------------------- */

/* One decision's result, as its audit row says it. Strings may be NULL. */
struct outbox_result {
	int64_t audit_id;
	const char *event;                /* "approved", "denied", ... */
	const char *page_id, *client_id, *phone, *flow;
	const char *decided_at;           /* the audit row's ts text */
	bool validated;                   /* Chatfuel's user_validated */
};

struct outbox_writer;

/* Prepares the inserts on db (the audit writer's connection). NULL (logged). */
struct outbox_writer *outbox_writer_new(sqlite3 *db, const struct config *cfg);
void outbox_writer_free(struct outbox_writer *w);

/* Inside the caller's open transaction: the Chatfuel row (pending, or skipped
 * in a dry run) and, when the webhook is on, the webhook row with its body.
 * *wake is set when a row the sender must deliver was written. 0 or -1
 * (logged). */
int outbox_write(struct outbox_writer *w, const struct outbox_result *r, int64_t now, bool *wake);

/* ---- the sender's side (notify.c, on its own connection) ---------------- */

enum outbox_kind { OUTBOX_CHATFUEL, OUTBOX_WEBHOOK };

/* A pending row. The strings stay valid until the next outbox call. */
struct outbox_row {
	int64_t id;
	enum outbox_kind kind;
	int64_t created_ms;
	int attempts;                     /* before this one */
	const char *client_id, *flow;     /* never NULL ("" when the column is) */
	int target;                       /* enum chatfuel_target: flow, block name or block id */
	bool validated;
	const char *body;                 /* the webhook's JSON, NULL for Chatfuel */
	struct outbox_evidence {          /* the audit row at its audit_id, as stored */
		bool exists;
		const char *event, *page_id, *client_id, *flow;
	} evidence;
};

/* Why row may not be sent: NULL when the chained audit row it points at
 * exists and agrees (a decision, the same client and flow, user_validated
 * true exactly for approved, a webhook body naming the same page, client and
 * status); else a static "no evidence: ..." text. A row written into the
 * outbox by hand, without the audit row, is so never sent. */
const char *outbox_evidence_problem(const struct outbox_evidence *ev, const struct outbox_row *row);

/* What one attempt (or the decision not to attempt) means for a row. */
enum outbox_outcome_kind {
	OUTBOX_SENT,                      /* delivered: sent */
	OUTBOX_RETRY,                     /* stays pending until next_ms; an attempt */
	OUTBOX_FAILED,                    /* given up: failed */
	OUTBOX_SKIPPED,                   /* not sent (dry run): skipped, no attempt */
	OUTBOX_EXPIRED,                   /* not sent: older than result_max_age; no attempt */
};

struct outbox_outcome {
	int64_t id;
	enum outbox_outcome_kind kind;
	int64_t next_ms;                  /* OUTBOX_RETRY only */
	long http;                        /* 0: no HTTP status */
	char err[DELIVERY_ERROR_MAX];     /* last_error; "" for none */
};

struct outbox_sender;

/* Opens db_path through auditdb (creating or migrating the schema if the
 * writer has not yet), makes every pending row due at started_ms (a new start
 * retries at once: crash recovery, rows an earlier dry run held back) and
 * prepares the sender's statements. NULL (logged). */
struct outbox_sender *outbox_sender_open(const char *db_path, int64_t started_ms);
void outbox_sender_close(struct outbox_sender *s);

/* Makes the pending rows of kind ("chatfuel", "webhook"; NULL: every kind)
 * due at now: after an outage ends, rows in backoff go at once. 0 or -1
 * (logged). */
int outbox_make_due(struct outbox_sender *s, const char *kind, int64_t now);

/* The pending rows due at now, oldest due first, at most limit: start, then
 * next until it returns 0, then end. */
void outbox_due_start(struct outbox_sender *s, int64_t now, int limit);
int outbox_due_next(struct outbox_sender *s, struct outbox_row *row);
void outbox_due_end(struct outbox_sender *s);

/* The ids and next attempt times of up to max pending rows, soonest first.
 * Returns how many. */
size_t outbox_earliest(struct outbox_sender *s, int64_t id[], int64_t due[], size_t max);

/* Writes n outcomes in one transaction, each only if its row is still
 * pending. 0, or -1 (logged; nothing written: write them again later). */
int outbox_record(struct outbox_sender *s, const struct outbox_outcome *o, size_t n, int64_t now);

#endif
