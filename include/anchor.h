/*
 * anchor: the optional audit_anchor_url. A thread reads the newest signed
 * checkpoint (checkpoint.c) every ANCHOR_POLL_MS on its own read-only
 * connection and POSTs each new one there as JSON, signed like the webhook
 * (X-Mnmfa-Signature with webhook_secret), so that the receiver holds heads
 * this server can no longer take back: a log truncated or rewritten later
 * disagrees with what it was sent. A failed post is tried again at the next
 * poll; at stop, the checkpoint the stop signed is posted once more.
 *
 * Body: {"event":"audit.checkpoint","node","checkpoint_id","row_id",
 *        "head_hash","ts","public_key","signature"}
 */
#ifndef MNMFA_ANCHOR_H
#define MNMFA_ANCHOR_H

struct config;
struct anchor;

#define ANCHOR_POLL_MS 1000           /* how often the newest checkpoint is looked at */
#define ANCHOR_TIMEOUT_MS 5000        /* one POST at most */
#define ANCHOR_STOP_TIMEOUT_MS 1000   /* the stop's POST: within stop_timeout's budget */
#define ANCHOR_BODY_MAX 1024          /* the JSON body */

/* Starts the thread when cfg->audit_anchor_url is set; *out NULL otherwise.
 * 0, or -1 (logged). */
int anchor_start(const struct config *cfg, struct anchor **out);

/* Posts the newest checkpoint once more (the one the stop signed) and stops.
 * Call after audit_close. NULL is fine. */
void anchor_stop(struct anchor *a);

#endif
