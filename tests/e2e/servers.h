/*
 * servers: the real Debian servers some tests put beside mnmfa -- redis-server,
 * redis-sentinel, haproxy -- each started by the test on free loopback ports
 * with its files in the test's directory, registered on the test so the
 * runner stops it by pid at teardown. Every wait is bounded.
 */
#ifndef E2E_SERVERS_H
#define E2E_SERVERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"

#define SRV_READY_MS 8000             /* start until the server answers */
#define SRV_STOP_MS 3000              /* SIGTERM until SIGKILL */

/* redis-server on 127.0.0.1:port (a free one when port is 0), no
 * persistence; replica of master_port when > 0. Returns its pid, or -1
 * (failure recorded on t). *port_out gets the port. */
pid_t srv_redis(struct t *t, int port, int master_port, int *port_out);
/* redis-sentinel on a free port watching `master` at master_port (quorum 1,
 * down after 1 s). Returns its pid or -1; *port_out gets the port. */
pid_t srv_sentinel(struct t *t, const char *master, int master_port, int *port_out);
/* haproxy in TCP mode on 127.0.0.1:port, round robin over the backends'
 * 127.0.0.1 ports, TLS passed through. Returns its pid or -1. */
pid_t srv_haproxy(struct t *t, const char *name, int port, const int *backends, int n);

/* true when a Redis (or sentinel) answers PING on 127.0.0.1:port. */
bool srv_redis_ping(int port);
/* Sends a command line to 127.0.0.1:port and returns the raw reply (allocated), or NULL. */
char *srv_redis_cmd(int port, const char *line);
/* Kills one registered server with sig and waits for it (bounded). */
void srv_kill(struct t *t, pid_t pid, int sig);
/* Teardown: every server still running, SIGTERM then SIGKILL. */
void srv_stop_all(struct t *t);

#endif
