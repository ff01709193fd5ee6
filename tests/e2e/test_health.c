/*
 * test_health: `mnmfa health` (SPEC §2), the container health check. It
 * loads the configuration as serve does and asks the local /healthz: 0 for a
 * healthy daemon, 1 within its 3 s budget for a stopped or silent one, 1 for
 * an answer other than 200 {"status":"ok"}, and a web port changed through
 * the environment is followed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

/* mnmfa health gives up after 3 s; the rest is process start-up under load. */
#define HEALTH_BOUND_MS 5000

/* Runs `mnmfa health --config FILE` with env; returns the exit code and
 * stores the time it took. */
static int run_health(struct t *t, struct daemon *d, const char *const *env, long long *took_ms,
                      char **err)
{
	const char *args[] = { "health", "--config", d->config_path, NULL };
	char *out = NULL;
	long long start = h_mono_ms();
	int rc = h_run(t, args, env, &out, err);

	*took_ms = h_mono_ms() - start;
	free(out);
	return rc;
}

static void test_health_ok(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);

	long long took;
	char *err = NULL;
	int rc = run_health(t, d, NULL, &took, &err);
	EXPECT(t, rc == 0, "expected mnmfa health to exit 0 for a running daemon, got %d (%s)", rc,
	       err ? err : "");
	free(err);
}

static void test_health_stopped(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, d_stop(d) == 0);

	long long took;
	char *err = NULL;
	int rc = run_health(t, d, NULL, &took, &err);
	EXPECT(t, rc == 1, "expected mnmfa health to exit 1 once the daemon stopped, got %d", rc);
	EXPECT(t, took < HEALTH_BOUND_MS, "expected the answer within %d ms, got %lld ms",
	       HEALTH_BOUND_MS, took);
	EXPECT(t, err && h_contains(err, "/healthz"), "expected stderr to name the URL asked, got %s",
	       err ? err : "(none)");
	free(err);
}

/* A port that accepts connections (the kernel completes the handshake) but
 * never says a word: only health's own deadline ends the wait. */
static void test_health_silent_port(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_write_config(d) == 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->web_port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	EXPECT(t, fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 4) == 0,
	       "expected to listen on 127.0.0.1:%d, got a failure", d->web_port);

	long long took;
	char *err = NULL;
	int rc = run_health(t, d, NULL, &took, &err);
	close(fd);
	EXPECT(t, rc == 1, "expected mnmfa health to exit 1 for a silent port, got %d", rc);
	EXPECT(t, took < HEALTH_BOUND_MS, "expected the answer within %d ms, got %lld ms",
	       HEALTH_BOUND_MS, took);
	free(err);
}

/* Only 200 {"status":"ok"} is healthy: the API port is pointed at a plain
 * HTTP server that answers 200 with another body, then 503. */
static void test_health_needs_status_ok(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);
	d_set_int(d, "api_port", fake_port(f));
	d_set_bool(d, "api_tls", false);
	REQUIRE(t, d_write_config(d) == 0);

	long long took;
	char *err = NULL;
	int rc = run_health(t, d, NULL, &took, &err);
	EXPECT(t, rc == 1, "expected mnmfa health to exit 1 for 200 {\"success\":true,...}, got %d", rc);
	EXPECT(t, err && h_contains(err, "HTTP 200"), "expected stderr to report the HTTP 200 answer, got %s",
	       err ? err : "(none)");
	free(err);
	err = NULL;
	fake_fail_next(f, 503, 1);
	rc = run_health(t, d, NULL, &took, &err);
	EXPECT(t, rc == 1, "expected mnmfa health to exit 1 for a 503, got %d", rc);
	EXPECT(t, err && h_contains(err, "HTTP 503"), "expected stderr to report the HTTP 503 answer, got %s",
	       err ? err : "(none)");
	free(err);
	EXPECT_INT(t, "requests the stand-in received", 2, fake_count(f));
	EXPECT_STR(t, "path asked", "/healthz", fake_call(f, 0)->path);
}

/* As in a container: the file says one web port, MNMFA_WEB_PORT another, and
 * the daemon listens on every address. health follows the environment. */
static void test_health_env_port(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	int file_port;
	do
		file_port = h_free_port();
	while (file_port == d->web_port || file_port == d->api_port);
	char *envport = h_printf("MNMFA_WEB_PORT=%d", d->web_port);
	const char *env[] = { envport, NULL };
	const struct start_opts o = { .env = env };
	d_set_str(d, "bind", "0.0.0.0");
	REQUIRE(t, d_start(d, &o) == 0);
	/* The daemon got its port from the environment; the file now says another. */
	d_set_int(d, "web_port", file_port);
	REQUIRE(t, d_write_config(d) == 0);

	long long took;
	char *err = NULL;
	int rc = run_health(t, d, env, &took, &err);
	EXPECT(t, rc == 0, "expected mnmfa health with MNMFA_WEB_PORT=%d to exit 0, got %d (%s)",
	       d->web_port, rc, err ? err : "");
	free(err);
	err = NULL;
	rc = run_health(t, d, NULL, &took, &err);
	EXPECT(t, rc == 1, "expected mnmfa health without MNMFA_WEB_PORT (file port %d) to exit 1, got %d",
	       file_port, rc);
	free(err);
	free(envport);
}

const struct test e2e_tests_health[] = {
	{ "health_running_daemon_exits_0", test_health_ok, NULL },
	{ "health_stopped_daemon_exits_1", test_health_stopped, NULL },
	{ "health_silent_port_exits_1_in_time", test_health_silent_port, NULL },
	{ "health_needs_200_status_ok", test_health_needs_status_ok, NULL },
	{ "health_follows_env_web_port", test_health_env_port, NULL },
	{ NULL, NULL, NULL },
};
