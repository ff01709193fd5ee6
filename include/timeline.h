/*
 * timeline: the audit rows about one challenge (page id), one phone or one
 * client over a period, read with a read-only connection, each row marked
 * with whether the hash chain is intact from the first row of the log up to
 * and including it. The chain is walked by audit_verify_chain (one walk of
 * the whole log: a row is only as trustworthy as every row before it). The
 * device details (refdata) and, for `minted` rows, the question's
 * description are parsed once here so that the terminal view (evidence.c)
 * and the HTML report (report.c) read the same facts.
 *
 * A row intact and covered by a signed checkpoint (checkpoint.c, checked by
 * the same walk) names the first checkpoint at or after it: from then on it
 * cannot be rewritten by someone without audit_key.
 */
#ifndef MNMFA_TIMELINE_H
#define MNMFA_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "audit.h"

#define TIMELINE_ROWS_MAX 5000        /* rows loaded at most; more are counted, not shown */

enum timeline_by { TIMELINE_PAGE, TIMELINE_PHONE, TIMELINE_CLIENT };

struct timeline_query {
	enum timeline_by by;
	const char *value;                /* the page id, phone or client_id */
	int64_t since_ms, until_ms;       /* inclusive bounds, UTC ms; 0: open */
};

enum timeline_chain {
	TIMELINE_CHAIN_OK,                /* every row up to this one verifies */
	TIMELINE_CHAIN_BAD,               /* this row is where the walk failed */
	TIMELINE_CHAIN_AFTER_BREAK,       /* an earlier row failed: this one is not covered */
};

/* One audit row. Strings are owned by the timeline; NULL means none. */
struct timeline_row {
	int64_t id;
	int64_t ts_ms;
	char *ts, *event, *page_id, *client_id, *phone, *flow, *ip, *user_agent, *refdata;
	char *prev_hash, *hash;
	char *node;                       /* the node_id that wrote it (schema 2), or NULL */
	enum timeline_chain chain;
	int64_t cp_id;                    /* the signed checkpoint covering it; 0: not signed yet */
	int64_t cp_row_id;                /* the newest row that checkpoint covers */
	char cp_ts[32];                   /* when it was signed */
	/* From refdata (decision rows): the page's device details. */
	char *dev_screen, *dev_lang, *dev_tz, *dev_platform;
	/* From refdata (minted rows): what was asked, never the date or options. */
	char *q_kind, *q_mode;
	int q_choices;                    /* 0: not recorded or entry mode */
};

struct timeline {
	struct timeline_row *rows;
	size_t n;                         /* rows loaded (<= TIMELINE_ROWS_MAX) */
	int64_t matched;                  /* rows that match (may be > n) */
	struct audit_verify verify;       /* the walk of the whole log */
	bool intact;                      /* the walk found no bad row */
	int64_t log_rows;                 /* rows in the whole log */
	int64_t log_head_id;              /* newest row id of the whole log, 0 when empty */
	size_t failing;                   /* rows loaded whose chain is not OK */
};

/* Loads the rows matching q from db_path in id order and marks each row's
 * chain status. 0, or -1 with a one-line reason in err (database missing or
 * unreadable). */
int timeline_load(const char *db_path, const struct timeline_query *q, struct timeline *out,
                  char *err, size_t errlen);
void timeline_free(struct timeline *tl);

/* ms as "YYYY-MM-DD HH:MM:SS ZONE" in the local time zone (TZ) of the
 * command; "?" when ms <= 0 (a time that did not parse). */
void timeline_local_time(int64_t ms, char *buf, size_t len);

/* "page id", "phone", "client" */
const char *timeline_by_name(enum timeline_by by);

#endif
