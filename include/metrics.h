/*
 * metrics: process-wide counters as relaxed atomics, rendered in Prometheus
 * text format for GET /metrics. Cheap enough for every request.
 */
#ifndef MNMFA_METRICS_H
#define MNMFA_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric {
	M_MINTED, M_MINT_REJECTED, M_PAGES, M_APPROVED, M_DENIED, M_REPLAYED, M_EXPIRED,
	M_CANCELED, M_LOCKED, M_RATE_LIMITED, M_CAPACITY,
	M_AUDIT_FAILED, M_COUNT
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_inc(struct metrics *m, enum metric k);
/* Values owned by other modules, sampled when /metrics is asked. */
struct metrics_sample {
	size_t pending, held;                      /* store */
	uint64_t audit_written, audit_groups, audit_failed, audit_rejected, audit_queued;
	uint64_t sent, retried, failed, skipped;   /* notify */
};

/* Renders every counter plus the sample; returns a malloc'd string. */
char *metrics_render(const struct metrics *m, const struct metrics_sample *s);

#endif
