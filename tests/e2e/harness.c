/*
 * harness: temp dirs, free ports, daemon processes, the libcurl client and
 * the small JSON/HTML readers the tests share. See harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "caldate.h"
#include "fake_chatfuel.h"

extern char **environ;

const char *h_daemon_path;

/* ---- failures ---- */

void t_fail(struct t *t, const char *file, int line, const char *fmt, ...)
{
	if (t->failed)
		return;               /* the first failure is the one reported */
	t->failed = true;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(t->msg)) {
		const char *base = strrchr(file, '/');
		snprintf(t->msg + n, sizeof(t->msg) - (size_t)n, " [%s:%d]",
		         base ? base + 1 : file, line);
	}
}

void t_prefix(struct t *t, const char *fmt, ...)
{
	char pre[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	size_t pl = strlen(pre), ml = strlen(t->msg);
	if (pl + ml + 1 > sizeof(t->msg))
		ml = sizeof(t->msg) - pl - 1;
	memmove(t->msg + pl, t->msg, ml);
	memcpy(t->msg, pre, pl);
	t->msg[pl + ml] = '\0';
}

void t_secret(struct t *t, const char *s)
{
	if (s == NULL || *s == '\0' || t->nsecrets >= H_MAX_SECRETS)
		return;
	for (int i = 0; i < t->nsecrets; i++)
		if (strcmp(t->secrets[i], s) == 0)
			return;
	t->secrets[t->nsecrets++] = h_strdup(s);
}

/* ---- small utilities ---- */

long long h_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Ports handed to daemons come from below Linux's ephemeral range
 * (32768-60999), which the kernel also gives to outgoing connections: a
 * port from there could be taken by some client's connection between this
 * check and the daemon's bind ("cannot listen ... address in use"). */
#define H_PORT_LOW 20000
#define H_PORT_HIGH 32767
#define H_PORT_TRIES 200

int h_free_port(void)
{
	static unsigned seed;
	if (seed == 0)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)h_mono_ms();
	for (int i = 0; i < H_PORT_TRIES; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		int port = H_PORT_LOW + (int)(rand_r(&seed) % (H_PORT_HIGH - H_PORT_LOW + 1));
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)port);
		bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return -1;
}

char *h_strdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (p == NULL)
		abort();
	return p;
}

char *h_printf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return p;
}

char *h_read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL)
		abort();
	size_t r;
	while ((r = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				abort();
		}
	}
	fclose(fp);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int h_write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	if (fp == NULL)
		return -1;
	size_t w = fwrite(data, 1, len, fp);
	if (fclose(fp) != 0 || w != len)
		return -1;
	return 0;
}

bool h_contains(const char *hay, const char *needle)
{
	return hay != NULL && needle != NULL && strstr(hay, needle) != NULL;
}

bool h_icontains(const char *hay, const char *needle)
{
	return hay != NULL && needle != NULL && strcasestr(hay, needle) != NULL;
}

char *h_tail(const char *text, int n)
{
	if (text == NULL)
		return h_strdup("");
	size_t len = strlen(text);
	const char *p = text + len;
	if (len > 0 && p[-1] == '\n')
		p--;
	int lines = 0;
	while (p > text) {
		if (p[-1] == '\n' && ++lines == n)
			break;
		p--;
	}
	return h_strdup(p);
}

char *h_urlenc(const char *s)
{
	char *e = curl_easy_escape(NULL, s, (int)strlen(s));
	if (e == NULL)
		abort();
	char *r = h_strdup(e);
	curl_free(e);
	return r;
}

long long h_parse_rfc3339(const char *s)
{
	int64_t ms;

	if (caldate_parse_rfc3339(s, &ms) < 0)
		return -1;
	return (long long)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
}

void h_date_utc(int plus_days, char out[11])
{
	time_t now = time(NULL) + (time_t)plus_days * 86400;
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---- daemons ---- */

static void mkdir_or_fail(struct t *t, const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		FAILF(t, "expected to create %s, got %s", path, strerror(errno));
}

struct daemon *d_new(struct t *t, struct fake_cf *fake)
{
	if (t->nd >= H_MAX_DAEMONS) {
		FAILF(t, "expected at most %d daemons per test, got more", H_MAX_DAEMONS);
		return NULL;
	}
	struct daemon *d = calloc(1, sizeof(*d));
	if (d == NULL)
		abort();
	d->t = t;
	d->idx = t->nd;
	t->d[t->nd++] = d;
	snprintf(d->dir, sizeof(d->dir), "%s/d%d", t->dir, d->idx);
	mkdir_or_fail(t, d->dir);
	snprintf(d->config_path, sizeof(d->config_path), "%s/config.json", d->dir);
	snprintf(d->cert_path, sizeof(d->cert_path), "%s/cert.pem", d->dir);
	snprintf(d->key_path, sizeof(d->key_path), "%s/key.pem", d->dir);
	snprintf(d->db_path, sizeof(d->db_path), "%s/audit.db", d->dir);
	snprintf(d->err_path, sizeof(d->err_path), "%s/stderr.log", d->dir);
	snprintf(d->out_path, sizeof(d->out_path), "%s/stdout.log", d->dir);

	d->web_port = h_free_port();
	do
		d->api_port = h_free_port();
	while (d->api_port == d->web_port);
	d->picked_web = d->web_port;
	d->picked_api = d->api_port;
	d->api_tls = true;

	char *pub = h_printf("https://127.0.0.1:%d", d->web_port);
	char *cf = fake ? fake_base_url(fake) : h_printf("http://127.0.0.1:%d", h_free_port());
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "public_url", pub);
	cJSON_AddStringToObject(c, "bind", "127.0.0.1");
	cJSON_AddNumberToObject(c, "web_port", d->web_port);
	cJSON_AddNumberToObject(c, "api_port", d->api_port);
	cJSON_AddBoolToObject(c, "api_tls", true);
	cJSON_AddStringToObject(c, "tls_cert", d->cert_path);
	cJSON_AddStringToObject(c, "tls_key", d->key_path);
	cJSON_AddBoolToObject(c, "tls_autogen", true);
	cJSON_AddNumberToObject(c, "expiration", 60);
	cJSON_AddStringToObject(c, "whatsapp_number", H_WA_NUMBER);
	cJSON_AddStringToObject(c, "chatfuel_bot_id", H_BOT_ID);
	cJSON_AddStringToObject(c, "chatfuel_token", H_TOKEN);
	cJSON_AddStringToObject(c, "chatfuel_base_url", cf);
	cJSON_AddStringToObject(c, "db_path", d->db_path);
	/* Every test request comes from 127.0.0.1 and many share a phone; the
	 * limiter tests set their own tight values. */
	cJSON_AddStringToObject(c, "rate_phone", "10000/900");
	cJSON_AddStringToObject(c, "lockout", "10000/86400");
	cJSON_AddStringToObject(c, "rate_ip", "100000/60");
	d->cfg = c;
	free(pub);
	free(cf);
	t_secret(t, H_TOKEN);
	return d;
}

void d_set_str(struct daemon *d, const char *key, const char *v)
{
	cJSON_DeleteItemFromObject(d->cfg, key);
	cJSON_AddStringToObject(d->cfg, key, v);
}

void d_set_int(struct daemon *d, const char *key, long long v)
{
	cJSON_DeleteItemFromObject(d->cfg, key);
	cJSON_AddNumberToObject(d->cfg, key, (double)v);
}

void d_set_bool(struct daemon *d, const char *key, bool v)
{
	cJSON_DeleteItemFromObject(d->cfg, key);
	cJSON_AddBoolToObject(d->cfg, key, v);
}

void d_del(struct daemon *d, const char *key)
{
	cJSON_DeleteItemFromObject(d->cfg, key);
}

/* environ without MNMFA_* (the suite must not inherit a developer's settings)
 * plus extra NAME=VALUE entries. */
static char **child_env(const char *const *extra)
{
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	char **env = calloc(n + m + 1, sizeof(*env));
	if (env == NULL)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MNMFA_", 6) != 0)
			env[k++] = environ[i];
	for (size_t i = 0; i < m; i++)
		env[k++] = (char *)extra[i];
	env[k] = NULL;
	return env;
}

static pid_t spawn(const char *const *argv, char **env, const char *out_path,
                   const char *err_path, long nofile)
{
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || err < 0 || nul < 0) {
		if (out >= 0)
			close(out);
		if (err >= 0)
			close(err);
		if (nul >= 0)
			close(nul);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(nul, 0);
		dup2(out, 1);
		dup2(err, 2);
		if (nofile > 0) {
			struct rlimit rl = { (rlim_t)nofile, (rlim_t)nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		execve(argv[0], (char *const *)argv, env);
		_exit(127);
	}
	close(out);
	close(err);
	close(nul);
	return pid;
}

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "status 0x%x", st);
}

#define H_KILL_REAP_MS 5000

/* Waits for pid up to ms; returns 1 with *st when it exited, 0 on timeout. */
static int wait_deadline(pid_t pid, int *st, int ms)
{
	long long deadline = h_mono_ms() + ms;
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1;
		if (h_mono_ms() >= deadline)
			return 0;
		h_sleep_ms(10);
	}
}

static bool probe_health(struct daemon *d)
{
	struct resp r1, r2;
	char *u1 = d_web_url(d, "/healthz");
	char *u2 = d_api_url(d, "/healthz");
	struct req q1 = { .url = u1, .cainfo = d->cert_path };
	struct req q2 = { .url = u2, .cainfo = d->cert_path };
	bool ok = h_http(NULL, &q1, &r1) == 0 && r1.status == 200 &&
	          h_http(NULL, &q2, &r2) == 0 && r2.status == 200;
	if (r1.status == 200)
		resp_free(&r2);
	resp_free(&r1);
	free(u1);
	free(u2);
	return ok;
}

static int d_start_once(struct daemon *d, const struct start_opts *o, bool again);

#define H_START_TRIES 3       /* starts of a daemon whose port another process took meanwhile */

/* The daemon exited at start-up because a port d_new picked was taken
 * between h_free_port's check and its bind (by another test's process): when
 * no test chose the ports or the public_url, new ones for another start. */
static bool repick_ports(struct daemon *d)
{
	char *err = h_read_file(d->err_path, NULL);
	bool taken = err != NULL && strstr(err, "cannot listen on") != NULL;
	free(err);
	const cJSON *pub = cJSON_GetObjectItemCaseSensitive(d->cfg, "public_url");
	char *own = h_printf("https://127.0.0.1:%d", d->picked_web);
	bool ours = d->web_port == d->picked_web && d->api_port == d->picked_api && cJSON_IsString(pub) &&
	            strcmp(pub->valuestring, own) == 0;
	free(own);
	if (!taken || !ours)
		return false;
	d->web_port = d->picked_web = h_free_port();
	do
		d->api_port = h_free_port();
	while (d->api_port == d->web_port);
	d->picked_api = d->api_port;
	d_set_int(d, "web_port", d->web_port);
	d_set_int(d, "api_port", d->api_port);
	char *url = h_printf("https://127.0.0.1:%d", d->web_port);
	d_set_str(d, "public_url", url);
	free(url);
	return true;
}

int d_start(struct daemon *d, const struct start_opts *o)
{
	struct t *t = d->t;
	static const struct start_opts none;
	if (o == NULL)
		o = &none;
	if (t->failed)
		return -1;

	const cJSON *v;
	if ((v = cJSON_GetObjectItemCaseSensitive(d->cfg, "web_port")) && cJSON_IsNumber(v))
		d->web_port = v->valueint;
	if ((v = cJSON_GetObjectItemCaseSensitive(d->cfg, "api_port")) && cJSON_IsNumber(v))
		d->api_port = v->valueint;
	v = cJSON_GetObjectItemCaseSensitive(d->cfg, "api_tls");
	d->api_tls = (v == NULL || cJSON_IsTrue(v)) && !o->force_api_plain;
	if ((v = cJSON_GetObjectItemCaseSensitive(d->cfg, "tls_cert")) && cJSON_IsString(v))
		snprintf(d->cert_path, sizeof(d->cert_path), "%s", v->valuestring);

	for (int try = 1;; try++) {
		int rc = d_start_once(d, o, try < H_START_TRIES);
		if (rc != 1)
			return rc;
	}
}

/* One start: 0 running, -1 failed (recorded), 1 its port was taken and new
 * ones are set (only when again is true). */
static int d_start_once(struct daemon *d, const struct start_opts *o, bool again)
{
	struct t *t = d->t;

	if (d_write_config(d) != 0)
		return -1;

	const char *argv[64];
	int ac = 0;
	argv[ac++] = h_daemon_path;
	if (!o->no_serve_word)
		argv[ac++] = "serve";
	if (!o->config_via_env) {
		argv[ac++] = "--config";
		argv[ac++] = d->config_path;
	}
	for (int i = 0; o->args && o->args[i] && ac < 62; i++)
		argv[ac++] = o->args[i];
	argv[ac] = NULL;

	const char *extra[32];
	int ec = 0;
	char *cfgenv = NULL;
	if (o->config_via_env) {
		cfgenv = h_printf("MNMFA_CONFIG=%s", d->config_path);
		extra[ec++] = cfgenv;
	}
	for (int i = 0; o->env && o->env[i] && ec < 31; i++)
		extra[ec++] = o->env[i];
	extra[ec] = NULL;
	char **env = child_env(extra);

	d->stopped = false;
	d->pid = spawn(argv, env, d->out_path, d->err_path, o->nofile);
	free(env);
	free(cfgenv);
	if (d->pid < 0) {
		d->pid = 0;
		FAILF(t, "expected to start %s, got %s", h_daemon_path, strerror(errno));
		return -1;
	}

	long long deadline = h_mono_ms() + H_READY_TIMEOUT_MS;
	for (;;) {
		int st;
		pid_t r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid) {
			char how[64];
			describe_status(st, how, sizeof(how));
			d->pid = 0;
			d->stopped = true;
			if (again && repick_ports(d))
				return 1;
			FAILF(t, "expected the daemon to keep running, got %s at start-up", how);
			return -1;
		}
		if (access(d->cert_path, R_OK) == 0 && probe_health(d))
			return 0;
		if (h_mono_ms() >= deadline) {
			FAILF(t, "expected GET /healthz 200 on ports %d and %d within %d ms, got no answer",
			      d->web_port, d->api_port, H_READY_TIMEOUT_MS);
			return -1;
		}
		h_sleep_ms(50);
	}
}

int d_write_config(struct daemon *d)
{
	char *json = cJSON_Print(d->cfg);
	int rc = h_write_file(d->config_path, json, strlen(json));
	if (rc != 0)
		FAILF(d->t, "expected to write %s, got %s", d->config_path, strerror(errno));
	free(json);
	return rc;
}

static void scan_secrets(struct daemon *d, const char *path, const char *what)
{
	struct t *t = d->t;
	char *text = h_read_file(path, NULL);
	if (text == NULL)
		return;
	for (int i = 0; i < t->nsecrets; i++)
		if (strstr(text, t->secrets[i])) {
			FAILF(t, "expected daemon %d's %s never to contain the secret \"%s\", got it there",
			      d->idx, what, t->secrets[i]);
			break;
		}
	free(text);
}

int d_stop(struct daemon *d)
{
	return d_stop_sig(d, SIGTERM);
}

int d_stop_sig(struct daemon *d, int sig)
{
	return d_stop_within(d, sig, H_STOP_TIMEOUT_MS);
}

int d_kill(struct daemon *d)
{
	int st;

	if (d->pid <= 0)
		return 0;
	kill(d->pid, SIGKILL);
	if (!wait_deadline(d->pid, &st, H_KILL_REAP_MS)) {
		FAILF(d->t, "expected daemon %d gone within %d ms of SIGKILL", d->idx, H_KILL_REAP_MS);
		return -1;
	}
	d->pid = 0;
	return 0;
}

int d_stop_within(struct daemon *d, int sig, int ms)
{
	struct t *t = d->t;
	int rc = 0;
	if (d->pid > 0) {
		kill(d->pid, sig);
		int st = 0;
		if (!wait_deadline(d->pid, &st, ms)) {
			kill(d->pid, SIGKILL);
			wait_deadline(d->pid, &st, 2000);
			FAILF(t, "expected daemon %d to exit within %d ms of signal %d, got no exit (SIGKILLed)",
			      d->idx, ms, sig);
			rc = -1;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char how[64];
			describe_status(st, how, sizeof(how));
			FAILF(t, "expected exit 0 after signal %d, got %s", sig, how);
			rc = -1;
		}
		d->pid = 0;
	}
	if (!d->stopped) {
		d->stopped = true;
		scan_secrets(d, d->err_path, "stderr");
		scan_secrets(d, d->out_path, "stdout");
	}
	return rc;
}

int h_run(struct t *t, const char *const *args, const char *const *env, char **out, char **err)
{
	const char *argv[64];
	int ac = 0;
	argv[ac++] = h_daemon_path;
	for (int i = 0; args && args[i] && ac < 63; i++)
		argv[ac++] = args[i];
	argv[ac] = NULL;
	return h_run_prog(t, argv, env, out, err);
}

int h_run_prog(struct t *t, const char *const *argv, const char *const *env,
               char **out, char **err)
{
	static int seq;
	char op[320], ep[320];
	snprintf(op, sizeof(op), "%s/run%d.out", t->dir, seq);
	snprintf(ep, sizeof(ep), "%s/run%d.err", t->dir, seq);
	seq++;
	const char *const *args = argv + 1;
	char **cenv = child_env(env);
	pid_t pid = spawn(argv, cenv, op, ep, 0);
	free(cenv);
	if (out)
		*out = NULL;
	if (err)
		*err = NULL;
	if (pid < 0) {
		FAILF(t, "expected to run %s, got %s", argv[0], strerror(errno));
		return -1;
	}
	int st = 0, rc;
	if (!wait_deadline(pid, &st, H_CMD_TIMEOUT_MS)) {
		kill(pid, SIGKILL);
		wait_deadline(pid, &st, 2000);
		FAILF(t, "expected `%s %s` to finish within %d ms, got no exit (killed)",
		      argv[0], args[0] ? args[0] : "", H_CMD_TIMEOUT_MS);
		rc = -1;
	} else if (WIFEXITED(st)) {
		rc = WEXITSTATUS(st);
	} else {
		char how[64];
		describe_status(st, how, sizeof(how));
		FAILF(t, "expected `%s %s` to exit, got %s", argv[0], args[0] ? args[0] : "", how);
		rc = -1;
	}
	if (out)
		*out = h_read_file(op, NULL);
	if (err)
		*err = h_read_file(ep, NULL);
	if (out && *out == NULL)
		*out = h_strdup("");
	if (err && *err == NULL)
		*err = h_strdup("");
	return rc;
}

/* ---- HTTP ---- */

struct sink {
	struct resp *rs;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct resp *rs = ud;
	size_t n = sz * nm;
	char *nb = realloc(rs->body, rs->len + n + 1);
	if (nb == NULL)
		return 0;
	memcpy(nb + rs->len, p, n);
	rs->body = nb;
	rs->len += n;
	rs->body[rs->len] = '\0';
	return n;
}

static void headers_clear(struct resp *rs)
{
	for (int i = 0; i < rs->nh; i++) {
		free(rs->h[i].name);
		free(rs->h[i].value);
	}
	rs->nh = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
	struct resp *rs = ud;
	size_t n = sz * nm;
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		headers_clear(rs);            /* a new response (after 100 Continue) */
		return n;
	}
	const char *colon = memchr(p, ':', n);
	if (colon == NULL || rs->nh >= H_MAX_HEADERS)
		return n;
	size_t nl = (size_t)(colon - p);
	const char *v = colon + 1;
	const char *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	rs->h[rs->nh].name = strndup(p, nl);
	rs->h[rs->nh].value = strndup(v, (size_t)(end - v));
	if (rs->h[rs->nh].name == NULL || rs->h[rs->nh].value == NULL)
		abort();
	rs->nh++;
	return n;
}

int h_http(struct t *t, const struct req *rq, struct resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	const char *method = rq->method ? rq->method : "GET";
	snprintf(rs->desc, sizeof(rs->desc), "%s %s", method, rq->url);
	rs->body = h_strdup("");

	CURL *c = curl_easy_init();
	if (c == NULL)
		abort();
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	hl = curl_slist_append(hl, "Expect:");
	if (rq->ctype) {
		char *ct = h_printf("Content-Type: %s", rq->ctype);
		hl = curl_slist_append(hl, ct);
		free(ct);
	}
	for (int i = 0; rq->headers && rq->headers[i]; i++)
		hl = curl_slist_append(hl, rq->headers[i]);

	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)H_HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rs);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (rq->cainfo) {
		/* Pin the daemon's own (generated) certificate; its SAN holds 127.0.0.1. */
		curl_easy_setopt(c, CURLOPT_CAINFO, rq->cainfo);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (rq->body) {
			size_t bl = rq->body_len ? rq->body_len : strlen(rq->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bl);
		}
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		if (t)
			FAILF(t, "expected an HTTP answer to %s, got transport error: %s", rs->desc,
			      errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

void resp_free(struct resp *rs)
{
	headers_clear(rs);
	free(rs->body);
	rs->body = NULL;
	rs->len = 0;
}

const char *resp_header(const struct resp *rs, const char *name)
{
	for (int i = 0; i < rs->nh; i++)
		if (strcasecmp(rs->h[i].name, name) == 0)
			return rs->h[i].value;
	return NULL;
}

int resp_header_count(const struct resp *rs, const char *name)
{
	int n = 0;
	for (int i = 0; i < rs->nh; i++)
		if (strcasecmp(rs->h[i].name, name) == 0)
			n++;
	return n;
}

cJSON *resp_json(struct t *t, const struct resp *rs)
{
	cJSON *j = cJSON_ParseWithLength(rs->body, rs->len);
	if (j == NULL || !cJSON_IsObject(j)) {
		char snip[200];
		snprintf(snip, sizeof(snip), "%s", rs->body ? rs->body : "");
		FAILF(t, "expected a JSON object from %s, got \"%s\"", rs->desc, snip);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

char *d_api_url(const struct daemon *d, const char *path)
{
	return h_printf("%s://127.0.0.1:%d%s", d->api_tls ? "https" : "http", d->api_port, path);
}

char *d_web_url(const struct daemon *d, const char *path)
{
	return h_printf("https://127.0.0.1:%d%s", d->web_port, path);
}

int d_api_h(struct daemon *d, const char *method, const char *path, const char *ctype,
            const char *body, const char *const *headers, struct resp *rs)
{
	char *url = d_api_url(d, path);
	struct req rq = { .method = method, .url = url, .ctype = ctype, .body = body,
	                  .headers = headers, .cainfo = d->api_tls ? d->cert_path : NULL };
	int rc = h_http(d->t, &rq, rs);
	free(url);
	return rc;
}

int d_api(struct daemon *d, const char *method, const char *path, const char *ctype,
          const char *body, struct resp *rs)
{
	return d_api_h(d, method, path, ctype, body, NULL, rs);
}

int d_web(struct daemon *d, const char *method, const char *path, const char *ctype,
          const char *body, struct resp *rs)
{
	return d_web_h(d, method, path, ctype, body, NULL, rs);
}

int d_web_h(struct daemon *d, const char *method, const char *path, const char *ctype,
            const char *body, const char *const *headers, struct resp *rs)
{
	char *url = d_web_url(d, path);
	struct req rq = { .method = method, .url = url, .ctype = ctype, .body = body,
	                  .headers = headers, .cainfo = d->cert_path };
	int rc = h_http(d->t, &rq, rs);
	free(url);
	return rc;
}

/* ---- JSON ---- */

const char *j_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *j_path(const cJSON *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const cJSON *cur = o;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
		if (isdigit((unsigned char)tok[0]) && cJSON_IsArray(cur))
			cur = cJSON_GetArrayItem(cur, atoi(tok));
		else if (cJSON_IsObject(cur))
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
		else
			cur = NULL;
	}
	return cur;
}

/* ---- HTML ---- */

/* Decodes the few entities an attribute value may use. */
static char *unescape_attr(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	if (out == NULL)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		static const struct { const char *e; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&#39;", '\'' }, { "&#x27;", '\'' }, { "&apos;", '\'' },
		};
		bool done = false;
		if (s[i] == '&')
			for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
				size_t el = strlen(ents[e].e);
				if (i + el <= n && strncasecmp(s + i, ents[e].e, el) == 0) {
					out[k++] = ents[e].c;
					i += el - 1;
					done = true;
					break;
				}
			}
		if (!done)
			out[k++] = s[i];
	}
	out[k] = '\0';
	return out;
}

static const char *parse_tag(const char *p, struct tag *tg)
{
	/* p points just after "<name" */
	tg->na = 0;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return p;
		if (*p == '>')
			return p + 1;
		if (*p == '/' ) {
			p++;
			continue;
		}
		const char *ns = p;
		while (*p && !isspace((unsigned char)*p) && *p != '=' && *p != '>' && *p != '/')
			p++;
		size_t nl = (size_t)(p - ns);
		while (*p && isspace((unsigned char)*p))
			p++;
		const char *vs = "";
		size_t vl = 0;
		if (*p == '=') {
			p++;
			while (*p && isspace((unsigned char)*p))
				p++;
			if (*p == '"' || *p == '\'') {
				char q = *p++;
				vs = p;
				while (*p && *p != q)
					p++;
				vl = (size_t)(p - vs);
				if (*p)
					p++;
			} else {
				vs = p;
				while (*p && !isspace((unsigned char)*p) && *p != '>')
					p++;
				vl = (size_t)(p - vs);
			}
		}
		if (nl == 0) {
			if (*p)
				p++;
			continue;
		}
		if (tg->na < (int)(sizeof(tg->a) / sizeof(tg->a[0]))) {
			struct attr *a = &tg->a[tg->na++];
			snprintf(a->name, sizeof(a->name), "%.*s", (int)nl, ns);
			for (char *c = a->name; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			a->value = unescape_attr(vs, vl);
		}
	}
}

int html_tags(const char *html, const char *name, struct tag *out, int max)
{
	int n = 0;
	size_t nl = strlen(name);
	for (const char *p = html; p && (p = strchr(p, '<')) != NULL;) {
		p++;
		if (strncasecmp(p, name, nl) == 0 &&
		    (isspace((unsigned char)p[nl]) || p[nl] == '>' || p[nl] == '/')) {
			struct tag tg;
			memset(&tg, 0, sizeof(tg));
			snprintf(tg.name, sizeof(tg.name), "%s", name);
			p = parse_tag(p + nl, &tg);
			if (n < max)
				out[n] = tg;
			else
				tags_free(&tg, 1);
			n++;
		}
	}
	return n;
}

void tags_free(struct tag *tags, int n)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < tags[i].na; k++) {
			free(tags[i].a[k].value);
			tags[i].a[k].value = NULL;
		}
}

const char *tag_attr(const struct tag *tg, const char *name)
{
	for (int i = 0; i < tg->na; i++)
		if (strcasecmp(tg->a[i].name, name) == 0)
			return tg->a[i].value;
	return NULL;
}
