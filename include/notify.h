/*
 * notify: delivers results from the outbox (written by audit in the same
 * transaction as the audit row) to Chatfuel's Broadcasting API and the optional
 * signed webhook. A sender thread with libcurl multi; never on a request path.
 * At least once: rows left pending by a crash are sent after start-up.
 */
#ifndef MNMFA_NOTIFY_H
#define MNMFA_NOTIFY_H

struct config;

/* Opens its own connection to cfg->db_path (creating/migrating the schema
 * through the audit module's migration code if needed) and starts the sender
 * thread. main starts it before audit_open(cfg, notify). NULL on failure. */
struct notify *notify_start(const struct config *cfg);

/* Tells the sender that new outbox rows were committed. Thread-safe, cheap. */
void notify_wake(struct notify *n);

/* Stops the sender (in-flight requests get a short grace period) and frees it. */
void notify_stop(struct notify *n);

#endif
