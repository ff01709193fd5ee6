/*
 * outbox: every statement on the outbox table (its schema is auditdb.c's),
 * the dry-run rule and the webhook body. The writer inserts a decision's rows
 * inside the audit transaction; the sender reads due rows, and records each
 * attempt's outcome, on its own connection. Statements bind named parameters
 * and rows are read by column name, resolved once when a statement is
 * prepared, so that a column added to the table moves nothing.
 *
 * A row holds no secret: the sender adds the Chatfuel token and the webhook
 * signature at send time.
 */
#include "outbox.h"
#include "auditdb.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_EVENT_MAX 32           /* "challenge.<event>" */
#define OUTBOX_DRY_RUN_ERROR "dry run: no Chatfuel credentials"

bool outbox_chatfuel_on(const struct config *cfg)
{
	return nonempty(cfg->chatfuel_bot_id) && nonempty(cfg->chatfuel_token);
}

bool outbox_webhook_on(const struct config *cfg)
{
	return nonempty(cfg->webhook_url);
}

/* ---- statements ---------------------------------------------------------- */

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		log_error("outbox: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* The parameter ":name" of st; a missing one is a bug in this file. */
static int param(sqlite3_stmt *st, const char *name)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i == 0) {
		log_error("outbox: no parameter %s in \"%s\"", name, sqlite3_sql(st));
		abort();
	}
	return i;
}

static void bind_text(sqlite3_stmt *st, const char *name, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, param(st, name));
	else
		sqlite3_bind_text(st, param(st, name), s, -1, SQLITE_STATIC);
}

static void bind_int64(sqlite3_stmt *st, const char *name, int64_t v)
{
	sqlite3_bind_int64(st, param(st, name), v);
}

static void bind_null(sqlite3_stmt *st, const char *name)
{
	sqlite3_bind_null(st, param(st, name));
}

/* The result column called name; -1 when st has none. */
static int column(sqlite3_stmt *st, const char *name)
{
	for (int i = 0; i < sqlite3_column_count(st); i++)
		if (strcmp(sqlite3_column_name(st, i), name) == 0)
			return i;
	log_error("outbox: no column %s in \"%s\"", name, sqlite3_sql(st));
	return -1;
}

/* ---- the writer's side --------------------------------------------------- */

struct outbox_writer {
	sqlite3 *db;
	sqlite3_stmt *ins;
	bool chatfuel_on, webhook_on;
	const char *target;               /* "flow" | "block": static names */
};

struct outbox_writer *outbox_writer_new(sqlite3 *db, const struct config *cfg)
{
	struct outbox_writer *w = xcalloc(1, sizeof *w);

	w->db = db;
	w->chatfuel_on = outbox_chatfuel_on(cfg);
	w->webhook_on = outbox_webhook_on(cfg);
	w->target = config_chatfuel_target_names[cfg->chatfuel_target];
	if (prepare(db, "INSERT INTO outbox (audit_id, kind, state, created_ms, next_attempt_ms, "
	                "done_ms, client_id, flow, validated, target, body, last_error) "
	                "VALUES (:audit_id, :kind, :state, :now, :now, :done_ms, :client_id, :flow, "
	                ":validated, :target, :body, :last_error)", &w->ins) != 0) {
		outbox_writer_free(w);
		return NULL;
	}
	return w;
}

void outbox_writer_free(struct outbox_writer *w)
{
	if (w == NULL)
		return;
	sqlite3_finalize(w->ins);
	free(w);
}

/* The webhook's JSON: what the receiver verifies the signature over. */
static char *webhook_body(const struct outbox_result *r)
{
	cJSON *o = cJSON_CreateObject();
	char event[OUTBOX_EVENT_MAX];
	char *printed, *out;

	snprintf(event, sizeof event, "challenge.%s", r->event);
	cJSON_AddStringToObject(o, "event", event);
#define ADD(name, v) ((v) ? (void)cJSON_AddStringToObject(o, name, v) : (void)cJSON_AddNullToObject(o, name))
	ADD("page_id", r->page_id);
	ADD("client_id", r->client_id);
	ADD("phone", r->phone);
	ADD("flow_name", r->flow);
#undef ADD
	cJSON_AddStringToObject(o, "status", r->event);
	cJSON_AddStringToObject(o, "decided_at", r->decided_at);
	printed = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (printed == NULL)
		abort();        /* cJSON only fails on out of memory */
	out = xstrdup(printed);
	free(printed);
	return out;
}

static int insert(struct outbox_writer *w, const struct outbox_result *r, const char *kind,
                  bool pending, const char *body, int64_t now)
{
	sqlite3_stmt *st = w->ins;
	int rc;

	bind_int64(st, ":audit_id", r->audit_id);
	bind_text(st, ":kind", kind);
	bind_text(st, ":state", pending ? "pending" : "skipped");
	bind_int64(st, ":now", now);
	if (pending)
		bind_null(st, ":done_ms");
	else
		bind_int64(st, ":done_ms", now);
	bind_text(st, ":client_id", r->client_id);
	bind_text(st, ":flow", r->flow);
	bind_int64(st, ":validated", r->validated ? 1 : 0);
	bind_text(st, ":target", w->target);
	bind_text(st, ":body", body);
	bind_text(st, ":last_error", pending ? NULL : OUTBOX_DRY_RUN_ERROR);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_error("%s: %s", __func__, sqlite3_errmsg(w->db));
		return -1;
	}
	return 0;
}

int outbox_write(struct outbox_writer *w, const struct outbox_result *r, int64_t now, bool *wake)
{
	char *body;
	int rc;

	if (insert(w, r, "chatfuel", w->chatfuel_on, NULL, now) != 0)
		return -1;
	if (!w->chatfuel_on)
		log_debug("dry run: result for page %s (%s) audited, not sent",
		          r->page_id ? r->page_id : "-", r->event);
	*wake |= w->chatfuel_on;
	if (!w->webhook_on)
		return 0;
	body = webhook_body(r);
	rc = insert(w, r, "webhook", true, body, now);
	free(body);
	if (rc != 0)
		return -1;
	*wake = true;
	return 0;
}

/* ---- the sender's side --------------------------------------------------- */

struct outbox_sender {
	sqlite3 *db;
	sqlite3_stmt *sel_due, *sel_next, *upd, *upd_due;
	/* sel_due's columns, by name */
	int c_id, c_kind, c_created, c_attempts, c_client, c_flow, c_validated, c_target, c_body;
	int c_a_id, c_a_event, c_a_page, c_a_client, c_a_flow;   /* the audit row it points at */
	int n_id, n_next;                 /* sel_next's */
};

struct outbox_sender *outbox_sender_open(const char *db_path, int64_t started_ms)
{
	struct outbox_sender *s = xcalloc(1, sizeof *s);

	if (auditdb_open(db_path, &s->db) != 0)
		goto fail;
	if (prepare(s->db, "UPDATE outbox SET next_attempt_ms = :now WHERE state = 'pending' "
	                   "AND next_attempt_ms > :now AND (:kind IS NULL OR kind = :kind)",
	                   &s->upd_due) != 0)
		goto fail;
	outbox_make_due(s, NULL, started_ms);
	/* Each due row with the chained audit row it claims to come from, so
	 * that a row written into the outbox by hand is never sent. */
	if (prepare(s->db, "SELECT o.id AS id, o.kind AS kind, o.created_ms AS created_ms, "
	                   "o.attempts AS attempts, o.client_id AS client_id, o.flow AS flow, "
	                   "o.validated AS validated, o.target AS target, o.body AS body, "
	                   "a.id AS a_id, a.event AS a_event, a.page_id AS a_page, "
	                   "a.client_id AS a_client, a.flow AS a_flow "
	                   "FROM outbox o LEFT JOIN audit_log a ON a.id = o.audit_id "
	                   "WHERE o.state = 'pending' AND o.next_attempt_ms <= :now "
	                   "ORDER BY o.next_attempt_ms, o.id LIMIT :limit", &s->sel_due) != 0 ||
	    prepare(s->db, "SELECT id, next_attempt_ms FROM outbox WHERE state = 'pending' "
	                   "ORDER BY next_attempt_ms LIMIT :limit", &s->sel_next) != 0 ||
	    prepare(s->db, "UPDATE outbox SET state = :state, attempts = attempts + :attempt, "
	                   "next_attempt_ms = COALESCE(:next_ms, next_attempt_ms), done_ms = :done_ms, "
	                   "http_status = :http, last_error = :error "
	                   "WHERE id = :id AND state = 'pending'", &s->upd) != 0)
		goto fail;
	s->c_id = column(s->sel_due, "id");
	s->c_kind = column(s->sel_due, "kind");
	s->c_created = column(s->sel_due, "created_ms");
	s->c_attempts = column(s->sel_due, "attempts");
	s->c_client = column(s->sel_due, "client_id");
	s->c_flow = column(s->sel_due, "flow");
	s->c_validated = column(s->sel_due, "validated");
	s->c_target = column(s->sel_due, "target");
	s->c_body = column(s->sel_due, "body");
	s->c_a_id = column(s->sel_due, "a_id");
	s->c_a_event = column(s->sel_due, "a_event");
	s->c_a_page = column(s->sel_due, "a_page");
	s->c_a_client = column(s->sel_due, "a_client");
	s->c_a_flow = column(s->sel_due, "a_flow");
	s->n_id = column(s->sel_next, "id");
	s->n_next = column(s->sel_next, "next_attempt_ms");
	if ((s->c_id | s->c_kind | s->c_created | s->c_attempts | s->c_client | s->c_flow |
	     s->c_validated | s->c_target | s->c_body | s->c_a_id | s->c_a_event | s->c_a_page |
	     s->c_a_client | s->c_a_flow | s->n_id | s->n_next) < 0)
		goto fail;
	return s;
fail:
	outbox_sender_close(s);
	return NULL;
}

int outbox_make_due(struct outbox_sender *s, const char *kind, int64_t now)
{
	sqlite3_stmt *st = s->upd_due;
	int rc;

	bind_int64(st, ":now", now);
	if (kind == NULL)
		sqlite3_bind_null(st, sqlite3_bind_parameter_index(st, ":kind"));
	else
		sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":kind"), kind, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warn("notify: cannot make pending rows due: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

void outbox_sender_close(struct outbox_sender *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->sel_due);
	sqlite3_finalize(s->sel_next);
	sqlite3_finalize(s->upd);
	sqlite3_finalize(s->upd_due);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_error("notify: closing the database: %s", sqlite3_errmsg(s->db));
	free(s);
}

void outbox_due_start(struct outbox_sender *s, int64_t now, int limit)
{
	bind_int64(s->sel_due, ":now", now);
	bind_int64(s->sel_due, ":limit", limit);
}

static const char *text_or_empty(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t ? t : "";
}

static bool same_text(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* A webhook body must carry the audit row's page, client and result. */
static bool body_agrees(const char *body, const char *page, const char *client, const char *event)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	bool ok = j != NULL &&
	          (page == NULL ? cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "page_id")) :
	           same_text(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "page_id")), page)) &&
	          same_text(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "client_id")), client) &&
	          same_text(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")), event);

	cJSON_Delete(j);
	return ok;
}

const char *outbox_evidence_problem(const struct outbox_evidence *ev, const struct outbox_row *row)
{
	static const char *const decisions[] = { "approved", "denied", "expired", "canceled", "locked" };
	bool decision = false;

	if (!ev->exists)
		return "no evidence: the audit row it points at does not exist";
	for (size_t i = 0; i < ARRAY_LEN(decisions); i++)
		decision |= same_text(ev->event, decisions[i]);
	if (!decision)
		return "no evidence: the audit row it points at is not a decision";
	if (!same_text(ev->client_id, row->client_id) || !same_text(ev->flow, row->flow))
		return "no evidence: the audit row it points at names another client or flow";
	if (row->validated != same_text(ev->event, "approved"))
		return "no evidence: the audit row it points at has another result";
	if (row->kind == OUTBOX_WEBHOOK && !body_agrees(row->body, ev->page_id, ev->client_id, ev->event))
		return "no evidence: the webhook body does not match its audit row";
	return NULL;
}

int outbox_due_next(struct outbox_sender *s, struct outbox_row *row)
{
	sqlite3_stmt *st = s->sel_due;
	const char *kind, *target;

	if (sqlite3_step(st) != SQLITE_ROW)
		return 0;
	kind = (const char *)sqlite3_column_text(st, s->c_kind);
	target = (const char *)sqlite3_column_text(st, s->c_target);
	row->id = sqlite3_column_int64(st, s->c_id);
	row->kind = kind != NULL && strcmp(kind, "chatfuel") == 0 ? OUTBOX_CHATFUEL : OUTBOX_WEBHOOK;
	row->created_ms = sqlite3_column_int64(st, s->c_created);
	row->attempts = sqlite3_column_int(st, s->c_attempts);
	row->client_id = text_or_empty(st, s->c_client);
	row->flow = text_or_empty(st, s->c_flow);
	row->validated = sqlite3_column_int(st, s->c_validated) != 0;
	row->target = target != NULL ? config_name_index(config_chatfuel_target_names, target) : -1;
	if (row->target < 0)
		row->target = CHATFUEL_TARGET_FLOW;
	row->body = (const char *)sqlite3_column_text(st, s->c_body);
	row->evidence = (struct outbox_evidence){
		.exists = sqlite3_column_type(st, s->c_a_id) != SQLITE_NULL,
		.event = (const char *)sqlite3_column_text(st, s->c_a_event),
		.page_id = (const char *)sqlite3_column_text(st, s->c_a_page),
		.client_id = (const char *)sqlite3_column_text(st, s->c_a_client),
		.flow = (const char *)sqlite3_column_text(st, s->c_a_flow) };
	return 1;
}

void outbox_due_end(struct outbox_sender *s)
{
	sqlite3_reset(s->sel_due);
}

size_t outbox_earliest(struct outbox_sender *s, int64_t id[], int64_t due[], size_t max)
{
	sqlite3_stmt *st = s->sel_next;
	size_t n = 0;

	bind_int64(st, ":limit", (int64_t)max);
	while (n < max && sqlite3_step(st) == SQLITE_ROW) {
		id[n] = sqlite3_column_int64(st, s->n_id);
		due[n] = sqlite3_column_int64(st, s->n_next);
		n++;
	}
	sqlite3_reset(st);
	return n;
}

int outbox_record(struct outbox_sender *s, const struct outbox_outcome *o, size_t n, int64_t now)
{
	static const char *const states[] = {
		[OUTBOX_SENT] = "sent", [OUTBOX_RETRY] = "pending", [OUTBOX_FAILED] = "failed",
		[OUTBOX_SKIPPED] = "skipped", [OUTBOX_EXPIRED] = "expired",
	};
	sqlite3_stmt *st = s->upd;
	char *err = NULL;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct outbox_outcome *u = &o[i];

		bind_int64(st, ":id", u->id);
		bind_text(st, ":state", states[u->kind]);
		bind_int64(st, ":attempt", u->kind == OUTBOX_SKIPPED || u->kind == OUTBOX_EXPIRED ? 0 : 1);
		if (u->kind == OUTBOX_RETRY) {
			bind_int64(st, ":next_ms", u->next_ms);
			bind_null(st, ":done_ms");
		} else {
			bind_null(st, ":next_ms");
			bind_int64(st, ":done_ms", now);
		}
		if (u->http != 0)
			bind_int64(st, ":http", u->http);
		else
			bind_null(st, ":http");
		bind_text(st, ":error", u->err[0] != '\0' ? u->err : NULL);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			goto fail;
		}
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	/* The caller keeps the outcomes and writes them with its next batch:
	 * forgetting them would send results that were already delivered again. */
	log_error("notify: cannot record %zu delivery outcomes yet (kept, written later): %s", n,
	          err ? err : sqlite3_errmsg(s->db));
	sqlite3_free(err);
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_clear_bindings(st);
	return -1;
}
