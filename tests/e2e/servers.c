/*
 * servers: starting and stopping redis-server, redis-sentinel and haproxy for
 * a test (see servers.h). Each runs in the foreground as a child of the test
 * process, its log in the test directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "servers.h"

#define SRV_REPLY_MAX 4096
#define SRV_IO_TIMEOUT_MS 1000

static pid_t spawn(struct t *t, const char *const *argv, const char *log)
{
	if (t->nprocs >= H_MAX_PROCS) {
		FAILF(t, "expected at most %d servers per test, got more", H_MAX_PROCS);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		FAILF(t, "expected to fork %s, got %s", argv[0], strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	t->procs[t->nprocs++] = pid;
	return pid;
}

char *srv_redis_cmd(int port, const char *line)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 0, SRV_IO_TIMEOUT_MS * 1000 };
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    write(fd, line, strlen(line)) != (ssize_t)strlen(line) || write(fd, "\r\n", 2) != 2) {
		close(fd);
		return NULL;
	}
	buf = calloc(1, SRV_REPLY_MAX);
	if (buf == NULL)
		abort();
	n = read(fd, buf, SRV_REPLY_MAX - 1);
	close(fd);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

bool srv_redis_ping(int port)
{
	char *r = srv_redis_cmd(port, "PING");
	bool ok = r != NULL && strncmp(r, "+PONG", 5) == 0;

	free(r);
	return ok;
}

static pid_t wait_ping(struct t *t, pid_t pid, int port, const char *what)
{
	long long end = h_mono_ms() + SRV_READY_MS;

	while (h_mono_ms() < end) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			for (int i = 0; i < t->nprocs; i++)
				if (t->procs[i] == pid)
					t->procs[i] = 0;
			FAILF(t, "expected %s on port %d to keep running, got exit %d", what, port,
			      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			return -1;
		}
		if (srv_redis_ping(port))
			return pid;
		h_sleep_ms(20);
	}
	FAILF(t, "expected %s to answer PING on port %d within %d ms, got nothing", what, port, SRV_READY_MS);
	return -1;
}

pid_t srv_redis(struct t *t, int port, int master_port, int *port_out)
{
	char ps[16], ms[16], *log, *dir;
	pid_t pid;

	if (port == 0)
		port = h_free_port();
	snprintf(ps, sizeof ps, "%d", port);
	snprintf(ms, sizeof ms, "%d", master_port);
	log = h_printf("%s/redis-%d.log", t->dir, port);
	dir = h_printf("%s", t->dir);
	const char *argv[] = { "/usr/bin/redis-server", "--port", ps, "--bind", "127.0.0.1",
	                       "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no",
	                       "--repl-diskless-sync-delay", "0",
	                       master_port > 0 ? "--replicaof" : NULL, "127.0.0.1", ms, NULL };
	pid = spawn(t, argv, log);
	free(log);
	free(dir);
	if (pid < 0)
		return -1;
	if (port_out != NULL)
		*port_out = port;
	return wait_ping(t, pid, port, "redis-server");
}

pid_t srv_sentinel(struct t *t, const char *master, int master_port, int *port_out)
{
	int port = h_free_port();
	char *conf = h_printf("%s/sentinel-%d.conf", t->dir, port);
	char *log = h_printf("%s/sentinel-%d.log", t->dir, port);
	char *text = h_printf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"
	                      "sentinel monitor %s 127.0.0.1 %d 1\n"
	                      "sentinel down-after-milliseconds %s 1000\n"
	                      "sentinel failover-timeout %s 4000\n"
	                      "sentinel parallel-syncs %s 1\n",
	                      port, t->dir, master, master_port, master, master, master);
	pid_t pid = -1;

	if (h_write_file(conf, text, strlen(text)) != 0) {
		FAILF(t, "expected to write %s, got an error", conf);
	} else {
		const char *argv[] = { "/usr/bin/redis-sentinel", conf, NULL };
		pid = spawn(t, argv, log);
	}
	free(conf);
	free(log);
	free(text);
	if (pid < 0)
		return -1;
	*port_out = port;
	return wait_ping(t, pid, port, "redis-sentinel");
}

pid_t srv_haproxy(struct t *t, const char *name, int port, const int *backends, int n)
{
	char *conf = h_printf("%s/haproxy-%s.cfg", t->dir, name);
	char *log = h_printf("%s/haproxy-%s.log", t->dir, name);
	char text[4096];
	size_t len;
	pid_t pid = -1;

	len = (size_t)snprintf(text, sizeof text,
	                       "global\n  maxconn 512\n  nbthread 1\n"
	                       "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 20s\n"
	                       "  timeout server 20s\n"
	                       "frontend fe\n  bind 127.0.0.1:%d\n  default_backend nodes\n"
	                       "backend nodes\n  balance roundrobin\n", port);
	for (int i = 0; i < n && len < sizeof text; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, "  server n%d 127.0.0.1:%d\n", i, backends[i]);
	if (h_write_file(conf, text, strlen(text)) != 0) {
		FAILF(t, "expected to write %s, got an error", conf);
	} else {
		const char *argv[] = { "/usr/sbin/haproxy", "-db", "-f", conf, NULL };
		pid = spawn(t, argv, log);
	}
	free(conf);
	free(log);
	if (pid < 0)
		return -1;
	/* Ready when it accepts a TCP connection. */
	for (long long end = h_mono_ms() + SRV_READY_MS; h_mono_ms() < end; h_sleep_ms(20)) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return pid;
	}
	FAILF(t, "expected haproxy to accept on port %d within %d ms, got nothing", port, SRV_READY_MS);
	return -1;
}

static void stop_one(pid_t pid, int sig)
{
	int st;

	kill(pid, sig);
	for (long long end = h_mono_ms() + SRV_STOP_MS; h_mono_ms() < end; h_sleep_ms(10))
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

void srv_kill(struct t *t, pid_t pid, int sig)
{
	for (int i = 0; i < t->nprocs; i++) {
		if (t->procs[i] == pid && pid > 0) {
			stop_one(pid, sig);
			t->procs[i] = 0;
		}
	}
}

void srv_stop_all(struct t *t)
{
	for (int i = 0; i < t->nprocs; i++) {
		if (t->procs[i] > 0)
			stop_one(t->procs[i], SIGTERM);
		t->procs[i] = 0;
	}
}
