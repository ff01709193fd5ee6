/*
 * metrics: relaxed atomic counters; no locks on the request path. A histogram
 * keeps one counter per bucket (not cumulative: one increment per request)
 * and the sum in microseconds; rendering adds the buckets up, so every
 * rendered histogram is consistent (the +Inf bucket equals _count) even while
 * requests are being counted.
 */
#include "metrics.h"
#include "buf.h"
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Upper bounds in microseconds: 0.5 ms .. 10 s, roughly x2.5 apart. */
static const int64_t bucket_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000,
};
#define METRICS_BUCKETS (ARRAY_LEN(bucket_us) + 1)    /* the last one is +Inf */

struct metrics {
	atomic_ullong c[M_COUNT];
	atomic_ullong hist[MR_COUNT][METRICS_BUCKETS];
	atomic_ullong sum_us[MR_COUNT];
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
	[M_CAPACITY] = { "mnmfa_capacity_rejected_total", "Mints answered 503 (max_pending or a busy audit log)" },
	[M_AUDIT_FAILED] = { "mnmfa_audit_failures_total", "Audit events that could not be queued or written" },
	[M_REPLAYS_UNLOGGED] = { "mnmfa_replays_not_logged_total",
	                         "Replays not written to the audit log (one row per page and address per minute)" },
	[M_REOPEN_FAILED] = { "mnmfa_decisions_not_reopened_total",
	                      "Decisions without their audit row whose page could not be reopened" },
	[M_IN_DOUBT] = { "mnmfa_decisions_in_doubt_total",
	                 "Answers shown 503 because their decision was not confirmed (settled later)" },
	[M_DOUBT_REFUSED] = { "mnmfa_answers_refused_total",
	                      "Answers refused (503, nothing decided): max_pending answers already in doubt" },
	[M_DOUBT_UNSETTLED] = { "mnmfa_decisions_unsettled_total",
	                        "Answers in doubt given up on (10 min, or the node stopped): maybe decided, no row" },
};

static const struct {
	const char *port, *route;
} route_info[MR_COUNT] = {
	[MR_API_MINT_SEED] = { "api", "/generate_dynamic_page" },
	[MR_API_CHALLENGES] = { "api", "/v1/challenges" },
	[MR_API_CHALLENGE] = { "api", "/v1/challenges/{id}" },
	[MR_API_HEALTHZ] = { "api", "/healthz" },
	[MR_API_METRICS] = { "api", "/metrics" },
	[MR_API_OTHER] = { "api", "other" },
	[MR_WEB_LANDING] = { "web", "/" },
	[MR_WEB_PAGE] = { "web", "/{page_id}" },
	[MR_WEB_ANSWER] = { "web", "/validate_answer" },
	[MR_WEB_STATIC] = { "web", "/static/*" },
	[MR_WEB_HEALTHZ] = { "web", "/healthz" },
	[MR_WEB_OTHER] = { "web", "other" },
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof *m);

	for (int i = 0; i < M_COUNT; i++)
		atomic_init(&m->c[i], 0);
	for (int r = 0; r < MR_COUNT; r++) {
		for (size_t b = 0; b < METRICS_BUCKETS; b++)
			atomic_init(&m->hist[r][b], 0);
		atomic_init(&m->sum_us[r], 0);
	}
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

void metrics_observe_request(struct metrics *m, enum metric_route r, int64_t elapsed_us)
{
	size_t b = 0;

	if (m == NULL || r <= MR_NONE || r >= MR_COUNT)
		return;
	if (elapsed_us < 0)
		elapsed_us = 0;
	while (b < ARRAY_LEN(bucket_us) && elapsed_us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&m->hist[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us[r], (unsigned long long)elapsed_us, memory_order_relaxed);
}

static void render_head(struct buf *o, const char *name, const char *type, const char *help)
{
	buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_histograms(struct buf *o, const struct metrics *m)
{
	static const char name[] = "mnmfa_http_request_duration_seconds";
	struct metrics *mm = (struct metrics *)m;   /* atomic loads take non-const */

	render_head(o, name, "histogram",
	            "Time from a request's headers to the end of its answer, per port and route");
	for (int r = MR_NONE + 1; r < MR_COUNT; r++) {
		unsigned long long cum = 0;
		const char *port = route_info[r].port, *route = route_info[r].route;

		for (size_t b = 0; b < METRICS_BUCKETS; b++) {
			cum += atomic_load_explicit(&mm->hist[r][b], memory_order_relaxed);
			if (b < ARRAY_LEN(bucket_us))
				buf_printf(o, "%s_bucket{port=\"%s\",route=\"%s\",le=\"%g\"} %llu\n", name, port,
				           route, (double)bucket_us[b] / 1e6, cum);
			else
				buf_printf(o, "%s_bucket{port=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n", name,
				           port, route, cum);
		}
		buf_printf(o, "%s_sum{port=\"%s\",route=\"%s\"} %.6f\n", name, port, route,
		           (double)atomic_load_explicit(&mm->sum_us[r], memory_order_relaxed) / 1e6);
		buf_printf(o, "%s_count{port=\"%s\",route=\"%s\"} %llu\n", name, port, route, cum);
	}
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
		{ "mnmfa_results_expired_total", "counter", "Results not sent: older than result_max_age", s->expired },
		{ "mnmfa_outbox_pending_results", "gauge", "Results in the outbox waiting to be delivered", s->outbox_pending },
		{ "mnmfa_result_max_age_seconds", "gauge", "result_max_age: past it a result is no longer sent", (unsigned long long)s->result_max_age_s },
	};
	struct buf o = { 0 };
	struct metrics *mm = (struct metrics *)m;

	for (int i = 0; i < M_COUNT; i++) {
		render_head(&o, metric_info[i].name, "counter", metric_info[i].help);
		buf_printf(&o, "%s %llu\n", metric_info[i].name,
		           atomic_load_explicit(&mm->c[i], memory_order_relaxed));
	}
	for (size_t i = 0; i < ARRAY_LEN(extra); i++) {
		render_head(&o, extra[i].name, extra[i].type, extra[i].help);
		buf_printf(&o, "%s %llu\n", extra[i].name, extra[i].v);
	}
	render_head(&o, "mnmfa_outbox_oldest_pending_age_seconds", "gauge",
	            "Age of the oldest result waiting to be delivered (0 when none)");
	buf_printf(&o, "mnmfa_outbox_oldest_pending_age_seconds %.3f\n", s->outbox_oldest_age_s);
	if (s->tls_not_after_s > 0) {
		render_head(&o, "mnmfa_tls_certificate_expiry_timestamp_seconds", "gauge",
		            "When the served TLS certificate expires (notAfter), Unix time");
		buf_printf(&o, "mnmfa_tls_certificate_expiry_timestamp_seconds %lld\n",
		           (long long)s->tls_not_after_s);
	}
	if (s->node != NULL) {
		render_head(&o, "mnmfa_node_info", "gauge", "This node's node_id, as a label (always 1)");
		buf_printf(&o, "mnmfa_node_info{node=\"%s\"} 1\n", s->node);
	}
	if (s->redis) {
		render_head(&o, "mnmfa_redis_up", "gauge", "1 when the last Redis call got an answer");
		buf_printf(&o, "mnmfa_redis_up %d\n", s->redis_up ? 1 : 0);
		render_head(&o, "mnmfa_redis_round_trips_total", "counter", "Redis round trips (commands and scripts)");
		buf_printf(&o, "mnmfa_redis_round_trips_total %llu\n", (unsigned long long)s->redis_calls);
		render_head(&o, "mnmfa_redis_errors_total", "counter", "Redis round trips that failed or timed out");
		buf_printf(&o, "mnmfa_redis_errors_total %llu\n", (unsigned long long)s->redis_errors);
		render_head(&o, "mnmfa_redis_round_trip_seconds_total", "counter",
		            "Time spent in Redis round trips (divided by mnmfa_redis_round_trips_total: the mean)");
		buf_printf(&o, "mnmfa_redis_round_trip_seconds_total %.6f\n", (double)s->redis_latency_us / 1e6);
	}
	render_histograms(&o, m);
	return buf_take(&o, NULL);
}
