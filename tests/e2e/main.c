/*
 * main: the end-to-end runner. `e2e DAEMON [FILTER]` runs every test whose
 * name contains FILTER. Each test runs in its own forked process and process
 * group (a crash or hang kills only that test and whatever it started), a few
 * at a time (E2E_JOBS, default 4) because most of a test's time is spent
 * waiting on timers. Results print in registry order: `ok   name` or
 * `FAIL name: expected X, got Y` followed by the tail of each daemon's stderr,
 * then `N passed, N failed`.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "servers.h"
#include "tests.h"

#define E2E_DEFAULT_JOBS 4
#define E2E_MAX_JOBS 16
#define E2E_TEST_TIMEOUT_MS 90000      /* a hang catcher: each test has its own deadlines */
#define E2E_TAIL_LINES 15

extern const struct test e2e_tests_redis[];
extern const struct test e2e_tests_hardening[];
extern const struct test e2e_tests_crash[];
extern const struct test e2e_tests_status[];
extern const struct test e2e_tests_durability[];
extern const struct test e2e_tests_evidence[];
extern const struct test e2e_tests_metrics[];
extern const struct test e2e_tests_health[];
extern const struct test e2e_tests_input[];
extern const struct test e2e_tests_fit[];
extern const struct test e2e_tests_checkpoint[];
extern const struct test e2e_tests_replay[];
extern const struct test e2e_tests_edge[];
extern const struct test e2e_tests_edges[];
extern const struct test e2e_tests_clock[];

static const struct test *const tables[] = {
	e2e_tests_redis,           /* first: the longest, started early */
	e2e_tests_harness, e2e_tests_mint, e2e_tests_answer, e2e_tests_errors, e2e_tests_web,
	e2e_tests_config, e2e_tests_notify, e2e_tests_limits, e2e_tests_audit,
	e2e_tests_concurrency, e2e_tests_hardening, e2e_tests_crash, e2e_tests_status,
	e2e_tests_durability, e2e_tests_evidence, e2e_tests_metrics,
	e2e_tests_health, e2e_tests_input, e2e_tests_fit,
	e2e_tests_checkpoint, e2e_tests_edge, e2e_tests_edges, e2e_tests_replay, e2e_tests_clock,
};

struct job {
	const struct test *tc;
	char dir[256];
	char result[300];
	pid_t pid;
	long long started;
	bool done, failed, killed;
	int status;
};

static void teardown(struct t *t)
{
	for (int i = 0; i < t->nd; i++)
		d_stop(t->d[i]);
	for (int i = 0; i < t->nfakes; i++)
		fake_stop(t->fakes[i]);
	srv_stop_all(t);
}

static void write_result(const struct t *t, const char *path)
{
	FILE *fp = fopen(path, "w");
	if (fp == NULL)
		return;
	if (!t->failed) {
		fputs("ok\n", fp);
	} else {
		char msg[sizeof(t->msg)];
		snprintf(msg, sizeof(msg), "%s", t->msg);
		for (char *p = msg; *p; p++)     /* the FAIL line stays one line */
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		fprintf(fp, "FAIL\n%s\n", msg);
		for (int i = 0; i < t->nd; i++) {
			char *text = h_read_file(t->d[i]->err_path, NULL);
			if (text == NULL || *text == '\0') {
				free(text);
				continue;
			}
			char *tail = h_tail(text, E2E_TAIL_LINES);
			fprintf(fp, "    daemon %d stderr (%s), last lines:\n", i, t->d[i]->err_path);
			for (char *line = strtok(tail, "\n"); line; line = strtok(NULL, "\n"))
				fprintf(fp, "    | %s\n", line);
			free(tail);
			free(text);
		}
	}
	fclose(fp);
}

static void run_child(const struct test *tc, const char *dir, const char *result)
{
	setpgid(0, 0);
	struct t t;
	memset(&t, 0, sizeof(t));
	t.name = tc->name;
	t.arg = tc->arg;
	snprintf(t.dir, sizeof(t.dir), "%s", dir);
	if (mkdir(dir, 0700) != 0)
		FAILF(&t, "expected to create %s, got %s", dir, strerror(errno));
	else
		tc->fn(&t);
	teardown(&t);
	write_result(&t, result);
	_exit(t.failed ? 1 : 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void report(struct job *j)
{
	char *text = h_read_file(j->result, NULL);
	if (j->killed) {
		printf("FAIL %s: expected the test to finish within %d ms, got a timeout (killed)\n",
		       j->tc->name, E2E_TEST_TIMEOUT_MS);
		j->failed = true;
	} else if (text && strncmp(text, "ok\n", 3) == 0 && WIFEXITED(j->status) &&
	           WEXITSTATUS(j->status) == 0) {
		printf("ok   %s\n", j->tc->name);
	} else if (text && strncmp(text, "FAIL\n", 5) == 0) {
		printf("FAIL %s: %s", j->tc->name, text + 5);
		j->failed = true;
	} else {
		if (WIFSIGNALED(j->status))
			printf("FAIL %s: expected the test to finish, got signal %d\n", j->tc->name,
			       WTERMSIG(j->status));
		else
			printf("FAIL %s: expected a test result, got exit status %d and none\n",
			       j->tc->name, WIFEXITED(j->status) ? WEXITSTATUS(j->status) : -1);
		j->failed = true;
	}
	if (j->failed)
		printf("    (files kept in %s)\n", j->dir);
	else
		rm_tree(j->dir);
	fflush(stdout);
	free(text);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s MNMFA_BINARY [TEST-NAME-SUBSTRING]\n", argv[0]);
		return 2;
	}
	static char daemon_abs[4096];
	if (realpath(argv[1], daemon_abs) == NULL) {
		fprintf(stderr, "e2e: warning: %s: %s (tests that need the daemon will fail)\n",
		        argv[1], strerror(errno));
		snprintf(daemon_abs, sizeof(daemon_abs), "%s", argv[1]);
	}
	h_daemon_path = daemon_abs;
	const char *filter = argc == 3 ? argv[2] : NULL;

	int jobs = E2E_DEFAULT_JOBS;
	const char *je = getenv("E2E_JOBS");
	if (je && atoi(je) > 0)
		jobs = atoi(je) > E2E_MAX_JOBS ? E2E_MAX_JOBS : atoi(je);

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	const char *tmp = getenv("TMPDIR");
	char root[200];
	snprintf(root, sizeof(root), "%s/mnmfa-e2e-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "e2e: mkdtemp %s: %s\n", root, strerror(errno));
		return 2;
	}

	int n = 0;
	for (size_t k = 0; k < sizeof(tables) / sizeof(tables[0]); k++)
		for (const struct test *tc = tables[k]; tc->name; tc++)
			if (filter == NULL || strstr(tc->name, filter))
				n++;
	struct job *js = calloc((size_t)n + 1, sizeof(*js));
	if (js == NULL)
		return 2;
	int i = 0;
	for (size_t k = 0; k < sizeof(tables) / sizeof(tables[0]); k++)
		for (const struct test *tc = tables[k]; tc->name; tc++)
			if (filter == NULL || strstr(tc->name, filter)) {
				js[i].tc = tc;
				snprintf(js[i].dir, sizeof(js[i].dir), "%s/%s", root, tc->name);
				snprintf(js[i].result, sizeof(js[i].result), "%s/%s.result", root, tc->name);
				i++;
			}
	if (n == 0) {
		printf("0 passed, 0 failed\n");
		rmdir(root);
		return filter ? 1 : 0;
	}

	int next = 0, running = 0, printed = 0, passed = 0, failed = 0;
	while (printed < n) {
		while (running < jobs && next < n) {
			struct job *j = &js[next++];
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0)
				run_child(j->tc, j->dir, j->result);
			if (pid < 0) {
				j->done = true;
				j->status = 0x7f00;
				continue;
			}
			setpgid(pid, pid);
			j->pid = pid;
			j->started = h_mono_ms();
			running++;
		}
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid > 0) {
			for (int k = 0; k < next; k++)
				if (js[k].pid == pid && !js[k].done) {
					js[k].done = true;
					js[k].status = st;
					kill(-pid, SIGKILL);   /* whatever the test left behind */
					running--;
				}
		} else {
			long long now = h_mono_ms();
			for (int k = 0; k < next; k++)
				if (!js[k].done && js[k].pid > 0 && !js[k].killed &&
				    now - js[k].started > E2E_TEST_TIMEOUT_MS) {
					js[k].killed = true;
					kill(-js[k].pid, SIGKILL);
				}
			h_sleep_ms(10);
		}
		while (printed < n && js[printed].done) {
			report(&js[printed]);
			if (js[printed].failed)
				failed++;
			else
				passed++;
			printed++;
		}
	}
	if (failed == 0)
		rm_tree(root);
	else
		printf("(failed tests' files are under %s)\n", root);
	printf("%d passed, %d failed\n", passed, failed);
	free(js);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
