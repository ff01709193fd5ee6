/*
 * metrics: process-wide counters and request-duration histograms as relaxed
 * atomics, rendered in Prometheus text format (0.0.4) for GET /metrics. Cheap
 * enough for every request. Names follow Prometheus' conventions: counters
 * end in _total, durations are histograms in seconds, times are Unix seconds
 * (_timestamp_seconds); the README's "Monitoring" table lists them all.
 */
#ifndef MNMFA_METRICS_H
#define MNMFA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metric {
	M_MINTED, M_MINT_REJECTED, M_PAGES, M_APPROVED, M_DENIED, M_REPLAYED, M_EXPIRED,
	M_CANCELED, M_LOCKED, M_RATE_LIMITED, M_CAPACITY,
	M_AUDIT_FAILED, M_REPLAYS_UNLOGGED, M_REOPEN_FAILED, M_IN_DOUBT,
	M_DOUBT_REFUSED, M_DOUBT_UNSETTLED, M_COUNT
};

/* The routes of both ports, as the label pair {port, route}. A fixed set, so
 * the number of series stays bounded whatever paths clients send. */
enum metric_route {
	MR_NONE = 0,                 /* never reached a handler: not recorded */
	MR_API_MINT_SEED, MR_API_CHALLENGES, MR_API_CHALLENGE, MR_API_HEALTHZ, MR_API_METRICS,
	MR_API_OTHER,
	MR_WEB_LANDING, MR_WEB_PAGE, MR_WEB_ANSWER, MR_WEB_STATIC, MR_WEB_HEALTHZ, MR_WEB_OTHER,
	MR_COUNT
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_inc(struct metrics *m, enum metric k);
/* One request answered on route r, elapsed_us from its headers to the end of
 * its response. MR_NONE and m NULL are ignored. */
void metrics_observe_request(struct metrics *m, enum metric_route r, int64_t elapsed_us);

/* Values owned by other modules, sampled when /metrics is asked. */
struct metrics_sample {
	size_t pending, held;                      /* store */
	uint64_t audit_written, audit_groups, audit_failed, audit_rejected, audit_queued;
	uint64_t sent, retried, failed, skipped, expired; /* notify */
	uint64_t outbox_pending;                   /* results waiting to be delivered */
	double outbox_oldest_age_s;                /* age of the oldest of them; 0 when none */
	int64_t tls_not_after_s;                   /* certificate expiry, Unix s; 0: unknown */
	int64_t result_max_age_s;                  /* the configured result_max_age */
	const char *node;                          /* node_id ([A-Za-z0-9._-]), or NULL */
	bool redis;                                /* redis_url/redis_sentinels set: */
	bool redis_up;                             /* the last call reached Redis */
	uint64_t redis_calls, redis_errors, redis_latency_us;
};

/* Renders every counter, histogram and the sample; returns a malloc'd string. */
char *metrics_render(const struct metrics *m, const struct metrics_sample *s);

#endif
