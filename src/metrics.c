/*
 * metrics: relaxed atomic counters; no locks on the request path.
 */
#include "metrics.h"
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct metrics {
	atomic_ullong c[M_COUNT];
};

static const struct {
	const char *name, *help;
} metric_info[M_COUNT] = {
	[M_MINTED] = { "mnmfa_challenges_minted_total", "Challenges minted" },
	[M_MINT_REJECTED] = { "mnmfa_mint_rejected_total", "Mint requests refused for invalid input" },
	[M_PAGES] = { "mnmfa_pages_served_total", "Challenge pages served" },
	[M_APPROVED] = { "mnmfa_challenges_approved_total", "Challenges answered right" },
	[M_DENIED] = { "mnmfa_challenges_denied_total", "Challenges answered wrong" },
	[M_REPLAYED] = { "mnmfa_answers_replayed_total", "Answers posted to used, unknown or expired pages" },
	[M_EXPIRED] = { "mnmfa_challenges_expired_total", "Challenges expired unanswered" },
	[M_CANCELED] = { "mnmfa_challenges_canceled_total", "Challenges canceled through the API" },
	[M_LOCKED] = { "mnmfa_challenges_locked_total", "Challenges refused or ended by a phone lockout" },
	[M_RATE_LIMITED] = { "mnmfa_rate_limited_total", "Requests answered 429" },
	[M_CAPACITY] = { "mnmfa_capacity_rejected_total", "Mints answered 503 at max_pending" },
	[M_AUDIT_FAILED] = { "mnmfa_audit_failures_total", "Audit events that could not be queued or written" },
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof *m);

	for (int i = 0; i < M_COUNT; i++)
		atomic_init(&m->c[i], 0);
	return m;
}

void metrics_free(struct metrics *m)
{
	free(m);
}

void metrics_inc(struct metrics *m, enum metric k)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->c[k], 1, memory_order_relaxed);
}

static size_t render_one(char *out, size_t cap, const char *name, const char *type,
                         const char *help, unsigned long long v)
{
	int n = snprintf(out, cap, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
	                 name, v);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

char *metrics_render(const struct metrics *m, const struct metrics_sample *s)
{
	const struct {
		const char *name, *type, *help;
		unsigned long long v;
	} extra[] = {
		{ "mnmfa_challenges_pending", "gauge", "Live challenges waiting for an answer", s->pending },
		{ "mnmfa_challenges_held", "gauge", "Challenges held in memory incl. decided", s->held },
		{ "mnmfa_audit_rows_written_total", "counter", "Audit rows committed", s->audit_written },
		{ "mnmfa_audit_commits_total", "counter", "Audit transactions (group commits)", s->audit_groups },
		{ "mnmfa_audit_write_failures_total", "counter", "Audit events whose transaction failed", s->audit_failed },
		{ "mnmfa_audit_rejected_total", "counter", "Audit events refused (queue full)", s->audit_rejected },
		{ "mnmfa_audit_queue_length", "gauge", "Audit events waiting for the writer", s->audit_queued },
		{ "mnmfa_results_sent_total", "counter", "Results delivered to Chatfuel or the webhook", s->sent },
		{ "mnmfa_results_retried_total", "counter", "Delivery attempts rescheduled", s->retried },
		{ "mnmfa_results_failed_total", "counter", "Results given up", s->failed },
		{ "mnmfa_results_skipped_total", "counter", "Results not sent (dry run)", s->skipped },
	};
	size_t cap = 256 * (M_COUNT + ARRAY_LEN(extra)), o = 0;
	char *out = xmalloc(cap);

	out[0] = '\0';
	for (int i = 0; i < M_COUNT; i++)
		o += render_one(out + o, cap - o, metric_info[i].name, "counter", metric_info[i].help,
		                atomic_load_explicit(&((struct metrics *)m)->c[i], memory_order_relaxed));
	for (size_t i = 0; i < ARRAY_LEN(extra); i++)
		o += render_one(out + o, cap - o, extra[i].name, extra[i].type, extra[i].help, extra[i].v);
	return out;
}
