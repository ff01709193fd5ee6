/*
 * deadline: absolute deadlines on connections, enforced from one thread.
 * libmicrohttpd's own timeout is an idle timeout (a client sending a byte
 * every few seconds never meets it), so http.c registers every connection
 * here with the time by which its current phase must be over (TLS handshake
 * and headers, a body, the next request of a kept-alive connection); when
 * one passes, the thread shuts the socket down (shutdown(2), never close:
 * the fd stays libmicrohttpd's), which the daemon sees as the peer going
 * away and closes the connection the usual way. An entry is removed before
 * its fd is closed, so a reused fd is never touched.
 */
#ifndef MNMFA_DEADLINE_H
#define MNMFA_DEADLINE_H

#include <stdint.h>

#define DEADLINE_TICK_MS 100           /* how late a passed deadline may be acted on */

struct deadlines;
struct deadline;                       /* one connection's entry */

/* Starts the thread; name is for logs ("web", "api"). NULL on failure (logged). */
struct deadlines *deadlines_start(const char *name);
/* Stops the thread; entries still registered are freed. */
void deadlines_stop(struct deadlines *ds);

/* Registers socket fd with a deadline (mono_ms; 0 = none). */
struct deadline *deadlines_add(struct deadlines *ds, int fd, int64_t at_ms);
/* Moves an entry's deadline (0 = none). */
void deadlines_set(struct deadlines *ds, struct deadline *d, int64_t at_ms);
/* Unregisters and frees; call before the fd is closed. NULL is ignored. */
void deadlines_remove(struct deadlines *ds, struct deadline *d);

#endif
