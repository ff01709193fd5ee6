/*
 * audit_item: an audit event as it waits in the writer's queue -- one
 * allocation, the struct followed by its cleaned strings (valid UTF-8,
 * bounded, refdata a minified JSON object), made on the submitting thread
 * so that the writer allocates nothing per row; and the names of the event
 * kinds. The writer (audit.c, audit_rows.c) uses it.
 */
#ifndef MNMFA_AUDIT_ITEM_H
#define MNMFA_AUDIT_ITEM_H

#include "audit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_NO_DEADLINE INT64_MAX

enum item_field {
	ITEM_PAGE_ID, ITEM_CLIENT_ID, ITEM_PHONE, ITEM_FLOW, ITEM_IP, ITEM_USER_AGENT, ITEM_REFDATA,
	ITEM_FIELDS
};

/* A queued event (give_up_ms starts as AUDIT_NO_DEADLINE). */
struct item {
	struct item *next;
	enum audit_kind kind;
	int64_t ts_ms, created_ms;
	const char *f[ITEM_FIELDS];        /* into text, or NULL */
	size_t len[ITEM_FIELDS];
	bool notify, validated;
	audit_done_fn done;
	void *ctx;
	int64_t give_up_ms;                /* mono_ms; AUDIT_NO_DEADLINE: retried until durable */
	char text[];
};

/* The kind's name in the log ("minted", ...), declared in audit.h for its
 * readers; whether k is one of enum audit_kind's. */
bool audit_kind_known(enum audit_kind k);

struct item *audit_item_new(const struct audit_event *ev, audit_done_fn done, void *ctx);
void audit_item_free(struct item *it);

#endif
