/*
 * notify: delivers results from the outbox (written by audit in the same
 * transaction as the audit row) to Chatfuel's Broadcasting API and the optional
 * signed webhook. A sender thread with libcurl multi; never on a request path.
 * At least once: rows left pending by a crash are sent after start-up.
 */
#ifndef MNMFA_NOTIFY_H
#define MNMFA_NOTIFY_H

#include <stdint.h>

struct config;

/* Delivery timing. notify_start uses these defaults; tests shorten them with
 * notify_start_timing. */
#define NOTIFY_DRY_RUN_HOLD_MS (3600 * 1000LL)   /* an earlier run's row waits for credentials */
#define NOTIFY_BACKOFF_BASE_MS 1000          /* first retry after 0.5..1 s */
#define NOTIFY_BACKOFF_CAP_MS (300 * 1000)   /* retries at most 5 minutes apart */
#define NOTIFY_HTTP_TIMEOUT_MS 10000         /* whole request, connect included */
#define NOTIFY_STOP_GRACE_MS 1000            /* in-flight requests at stop */
#define NOTIFY_RETRY_AFTER_MAX_MS (3600 * 1000LL) /* Retry-After honoured up to this */

/* max_age_ms defaults to the configuration's result_max_age. */
struct notify_timing {
	int64_t backoff_base_ms, backoff_cap_ms, http_timeout_ms, max_age_ms, stop_grace_ms;
};

/* Opens its own connection to cfg->db_path through outbox.c (creating or
 * migrating the schema if needed) and starts the sender thread. server.c
 * starts it before audit_open(cfg, notify_wake, n). NULL on failure. */
struct notify *notify_start(const struct config *cfg);
/* Same with other timing (any field <= 0 keeps its default). For tests. */
struct notify *notify_start_timing(const struct config *cfg, const struct notify_timing *t);

/* Tells the sender that new outbox rows were committed. Thread-safe, cheap.
 * n is the struct notify; the signature is an audit_wake_fn so that server.c
 * hands it to audit_open as it is (the writer knows nothing of the sender). */
void notify_wake(void *n);

/* Counters for /metrics; relaxed reads, safe from any thread. */
struct notify_stats {
	uint64_t sent;        /* rows delivered */
	uint64_t retried;     /* attempts that failed and were rescheduled */
	uint64_t failed;      /* rows given up (a 4xx, or no evidence) */
	uint64_t skipped;     /* rows not sent: no credentials / no webhook_url (dry run) */
	uint64_t expired;     /* rows not sent or no longer retried: past result_max_age */
};
void notify_get_stats(struct notify *n, struct notify_stats *out);

/* Stops the sender (in-flight requests get a short grace period) and frees it. */
void notify_stop(struct notify *n);

#endif
