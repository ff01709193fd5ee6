/*
 * timeline: selecting the audit rows about a page id, phone or client in a
 * period, and each row's chain status. The selection is read first and the
 * chain walked afterwards, so that every row shown was written before the walk
 * started and is covered by it (the daemon may keep appending meanwhile: WAL
 * readers see a snapshot per statement and never block the writer).
 */
#include "timeline.h"
#include "audit_pages.h"
#include "auditdb.h"
#include "caldate.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMELINE_COLUMNS "id, ts, event, page_id, client_id, phone, flow, ip, user_agent, " \
                         "refdata, prev_hash, hash"
#define TIMELINE_SQL_MAX 1024

const char *timeline_by_name(enum timeline_by by)
{
	switch (by) {
	case TIMELINE_PAGE: return "page id";
	case TIMELINE_PHONE: return "phone";
	case TIMELINE_CLIENT: return "client";
	}
	return "?";
}

void timeline_local_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(buf, len, "?");
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? xstrdup(s) : NULL;
}

static char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsString(v) && v->valuestring[0] != '\0')
		return xstrdup(v->valuestring);
	if (cJSON_IsNumber(v)) {
		char num[32];
		snprintf(num, sizeof num, "%g", v->valuedouble);
		return xstrdup(num);
	}
	return NULL;
}

/* Device details from a decision's refdata; the question from a minted row's
 * (api.c records {"question", "mode", "choices"} there). */
static void parse_refdata(struct timeline_row *r)
{
	cJSON *j, *c;

	if (r->refdata == NULL || (j = cJSON_Parse(r->refdata)) == NULL)
		return;
	if (cJSON_IsObject(j)) {
		r->dev_screen = json_str(j, "screen");
		r->dev_lang = json_str(j, "lang");
		r->dev_tz = json_str(j, "tz");
		r->dev_platform = json_str(j, "platform");
		r->q_kind = json_str(j, "question");
		r->q_mode = json_str(j, "mode");
		c = cJSON_GetObjectItemCaseSensitive(j, "choices");
		if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble <= 100)
			r->q_choices = (int)c->valuedouble;
	}
	cJSON_Delete(j);
}

static void row_fill(struct timeline_row *r, sqlite3_stmt *st)
{
	r->id = sqlite3_column_int64(st, 0);
	r->ts = col_dup(st, 1);
	/* A hand-edited time that does not parse reads as 0 ("?"). */
	if (r->ts == NULL || caldate_parse_rfc3339(r->ts, &r->ts_ms) != 0)
		r->ts_ms = 0;
	r->event = col_dup(st, 2);
	r->page_id = col_dup(st, 3);
	r->client_id = col_dup(st, 4);
	r->phone = col_dup(st, 5);
	r->flow = col_dup(st, 6);
	r->ip = col_dup(st, 7);
	r->user_agent = col_dup(st, 8);
	r->refdata = col_dup(st, 9);
	r->prev_hash = col_dup(st, 10);
	r->hash = col_dup(st, 11);
	r->node = col_dup(st, 12);
	parse_refdata(r);
}

static void row_free(struct timeline_row *r)
{
	char *const s[] = { r->ts, r->event, r->page_id, r->client_id, r->phone, r->flow, r->ip,
	                    r->user_agent, r->refdata, r->prev_hash, r->hash, r->node, r->dev_screen,
	                    r->dev_lang, r->dev_tz, r->dev_platform, r->q_kind, r->q_mode };

	for (size_t i = 0; i < ARRAY_LEN(s); i++)
		free(s[i]);
}

static int select_rows(sqlite3 *db, const struct timeline_query *q, struct timeline *tl)
{
	static const char *const where[] = {
		[TIMELINE_PAGE] = "page_id = ?1",
		/* Phones are stored as the bot sent them, with or without '+'. */
		[TIMELINE_PHONE] = "(phone = ?1 OR phone = '+' || ?1)",
		[TIMELINE_CLIENT] = "client_id = ?1",
	};
	char sql[TIMELINE_SQL_MAX], since[32], until[32];
	const char *value = q->value;
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int step, version = auditdb_version(db);

	/* The node column exists from schema 2 on, the page index from 7. */
	snprintf(sql, sizeof sql,
	         "SELECT " TIMELINE_COLUMNS ", %s FROM audit_log l WHERE %s%s%s ORDER BY id",
	         version >= 2 ? "node" : "NULL",
	         q->by == TIMELINE_PAGE && version >= AUDIT_PAGES_VERSION ? AUDIT_PAGE_ROWS("l", "?1")
	                                                                : where[q->by],
	         q->since_ms > 0 ? " AND ts >= ?2" : "", q->until_ms > 0 ? " AND ts <= ?3" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (q->by == TIMELINE_PHONE && value[0] == '+')
		value++;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	/* The writer stores fixed-width UTC text: comparing text compares time. */
	if (q->since_ms > 0) {
		fmt_rfc3339_ms(q->since_ms, since, sizeof since);
		sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
	}
	if (q->until_ms > 0) {
		fmt_rfc3339_ms(q->until_ms, until, sizeof until);
		sqlite3_bind_text(st, 3, until, -1, SQLITE_STATIC);
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		tl->matched++;
		if (tl->n == TIMELINE_ROWS_MAX)
			continue;
		if (tl->n == cap) {
			cap = cap ? cap * 2 : 16;
			tl->rows = xreallocarray(tl->rows, cap, sizeof *tl->rows);
		}
		memset(&tl->rows[tl->n], 0, sizeof tl->rows[tl->n]);
		row_fill(&tl->rows[tl->n++], st);
	}
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : -1;
}

static int log_extent(sqlite3 *db, struct timeline *tl)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(max(id), 0) FROM audit_log", -1, &st,
	                       NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		tl->log_rows = sqlite3_column_int64(st, 0);
		tl->log_head_id = sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Names the signed checkpoint covering each intact row up to the newest
 * row the walk found signed. 0, or -1 (the statement failed). */
static int mark_checkpoints(sqlite3 *db, struct timeline *tl)
{
	sqlite3_stmt *st;

	if (tl->verify.checkpoints == 0)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT id, row_id, ts FROM audit_checkpoint WHERE row_id >= ?1 "
	                       "ORDER BY row_id, id LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < tl->n; i++) {
		struct timeline_row *r = &tl->rows[i];
		const char *ts;

		if (r->chain != TIMELINE_CHAIN_OK || r->id > tl->verify.signed_id)
			continue;
		sqlite3_bind_int64(st, 1, r->id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			r->cp_id = sqlite3_column_int64(st, 0);
			r->cp_row_id = sqlite3_column_int64(st, 1);
			ts = (const char *)sqlite3_column_text(st, 2);
			snprintf(r->cp_ts, sizeof r->cp_ts, "%s", ts ? ts : "?");
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return 0;
}

int timeline_load(const char *db_path, const struct timeline_query *q, struct timeline *out,
                  char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int vrc;

	memset(out, 0, sizeof *out);
	if (auditdb_open_reader(db_path, &db, err, errlen) != 0)
		return -1;
	if (select_rows(db, q, out) != 0 || log_extent(db, out) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", db_path, sqlite3_errmsg(db));
		goto fail;
	}

	vrc = audit_verify_chain(db_path, &out->verify);
	if (vrc < 0) {
		snprintf(err, errlen, "cannot verify the chain of %s", db_path);
		goto fail;
	}
	out->intact = vrc == 0;
	/* head_id is the newest row the walk accepted: everything up to it is
	 * intact, the bad row and everything after it is not. */
	for (size_t i = 0; i < out->n; i++) {
		struct timeline_row *r = &out->rows[i];

		if (r->id <= out->verify.head_id && (out->intact || r->id < out->verify.bad_id))
			r->chain = TIMELINE_CHAIN_OK;
		else if (!out->intact && r->id == out->verify.bad_id)
			r->chain = TIMELINE_CHAIN_BAD;
		else
			r->chain = TIMELINE_CHAIN_AFTER_BREAK;
		out->failing += r->chain != TIMELINE_CHAIN_OK;
	}
	if (mark_checkpoints(db, out) != 0) {
		snprintf(err, errlen, "cannot read the checkpoints of %s: %s", db_path, sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_close(db);
	return 0;
fail:
	sqlite3_close(db);
	timeline_free(out);
	return -1;
}

void timeline_free(struct timeline *tl)
{
	for (size_t i = 0; i < tl->n; i++)
		row_free(&tl->rows[i]);
	free(tl->rows);
	tl->rows = NULL;
	tl->n = 0;
}
