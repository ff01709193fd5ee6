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
	[M_HTTP_4XX] = { "mnmfa_http_client_errors_total", "Responses with a 4xx status" },
	[M_HTTP_5XX] = { "mnmfa_http_server_errors_total", "Responses with a 5xx status" },
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

char *metrics_render(const struct metrics *m, size_t pending, size_t held)
{
	size_t cap = 256 * (M_COUNT + 2), o = 0;
	char *out = xmalloc(cap);

	for (int i = 0; i < M_COUNT; i++) {
		unsigned long long v = atomic_load_explicit(&((struct metrics *)m)->c[i], memory_order_relaxed);
		o += (size_t)snprintf(out + o, cap - o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
		                      metric_info[i].name, metric_info[i].help, metric_info[i].name,
		                      metric_info[i].name, v);
	}
	o += (size_t)snprintf(out + o, cap - o,
	                      "# HELP mnmfa_challenges_pending Live challenges waiting for an answer\n"
	                      "# TYPE mnmfa_challenges_pending gauge\nmnmfa_challenges_pending %zu\n"
	                      "# HELP mnmfa_challenges_held Challenges held in memory incl. decided\n"
	                      "# TYPE mnmfa_challenges_held gauge\nmnmfa_challenges_held %zu\n",
	                      pending, held);
	return out;
}
