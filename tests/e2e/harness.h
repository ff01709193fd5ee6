/*
 * harness: what every end-to-end test stands on. A test gets a struct t with
 * its own temporary directory; it starts real mnmfa processes (each with its
 * own config file, ports, certificates and database under that directory),
 * talks to them over HTTPS/HTTP with libcurl and records the first failed
 * expectation. The runner (main.c) tears everything down after the test
 * function returns: SIGTERM each daemon still running, require a clean exit 0,
 * and scan its stderr/stdout for secrets the test registered.
 *
 * The suite is a black box: nothing here links against the daemon's modules.
 */
#ifndef E2E_HARNESS_H
#define E2E_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cJSON.h>

#define H_MAX_DAEMONS 6
#define H_MAX_SECRETS 256
#define H_MAX_HEADERS 64
#define H_MAX_PROCS 12
#define H_READY_TIMEOUT_MS 10000       /* daemon start until both /healthz answer */
#define H_STOP_TIMEOUT_MS 5000         /* SIGTERM until SIGKILL */
#define H_CMD_TIMEOUT_MS 10000         /* one-shot commands (check-config, audit ...) */
#define H_HTTP_TIMEOUT_MS 8000         /* one HTTP request, total */
#define H_QUIET_WINDOW_MS 1500         /* "nothing is sent" observation window */
#define H_CALL_TIMEOUT_MS 10000        /* waiting for an expected Chatfuel call */

/* Values every test config uses (SPEC §3). */
#define H_WA_NUMBER "+5215550001111"
#define H_WA_URL "https://wa.me/5215550001111"
#define H_BOT_ID "bot123"
#define H_TOKEN "tok-secret-123"

struct fake_cf;

struct daemon {
	struct t *t;
	int idx;
	char dir[512];
	char config_path[600];
	char cert_path[600];
	char key_path[600];
	char db_path[600];
	char err_path[600];
	char out_path[600];
	int web_port, api_port;
	int picked_web, picked_api;  /* the ports d_new picked (d_start picks again when one is taken) */
	bool api_tls;
	cJSON *cfg;                  /* written to config_path by d_start */
	pid_t pid;                   /* 0 when not running */
	bool stopped;
};

struct t {
	const char *name;
	const void *arg;             /* per-case argument of table-driven tests */
	char dir[256];
	bool failed;
	char msg[2048];
	struct daemon *d[H_MAX_DAEMONS];
	int nd;
	struct fake_cf *fakes[4];
	int nfakes;
	char *secrets[H_MAX_SECRETS];
	int nsecrets;
	pid_t procs[H_MAX_PROCS];    /* other servers the test started (servers.c) */
	int nprocs;
};

/* ---- failures ---- */

void t_fail(struct t *t, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define FAILF(t, ...) t_fail((t), __FILE__, __LINE__, __VA_ARGS__)

/* Each EXPECT returns from the calling test function on failure. */
#define EXPECT(t, cond, ...) do { \
	if ((t)->failed) return; \
	if (!(cond)) { FAILF((t), __VA_ARGS__); return; } \
} while (0)
#define EXPECT_INT(t, what, exp, got) do { \
	long long e_ = (long long)(exp), g_ = (long long)(got); \
	EXPECT((t), e_ == g_, "expected %s %lld, got %lld", (what), e_, g_); \
} while (0)
#define EXPECT_STR(t, what, exp, got) do { \
	const char *e_ = (exp), *g_ = (got); \
	EXPECT((t), g_ != NULL && strcmp(e_, g_) == 0, \
	       "expected %s \"%s\", got %s%s%s", (what), e_, \
	       g_ ? "\"" : "", g_ ? g_ : "(none)", g_ ? "\"" : ""); \
} while (0)
#define REQUIRE(t, x) do { if (!(x) || (t)->failed) return; } while (0)
#define BAIL(t) do { if ((t)->failed) return; } while (0)

/* Puts context in front of the recorded failure message. */
void t_prefix(struct t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers a string that must never appear in any daemon's logs. */
void t_secret(struct t *t, const char *s);

/* ---- small utilities ---- */

long long h_mono_ms(void);
void h_sleep_ms(long ms);
int h_free_port(void);
char *h_strdup(const char *s);
char *h_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *h_read_file(const char *path, size_t *len);
int h_write_file(const char *path, const char *data, size_t len);
bool h_contains(const char *hay, const char *needle);
bool h_icontains(const char *hay, const char *needle);
/* The last n lines of a text, for failure reports (allocated). */
char *h_tail(const char *text, int n);
/* curl-style percent-encoding of one value (allocated). */
char *h_urlenc(const char *s);
/* Parses RFC 3339 (Z or offset, optional fraction) to Unix seconds; -1 on error. */
long long h_parse_rfc3339(const char *s);
/* Today's date in UTC plus days, as YYYY-MM-DD. */
void h_date_utc(int plus_days, char out[11]);

/* ---- daemons ---- */

/* Creates a daemon record with its own directory, two free ports and the
 * default test configuration (SPEC §3 keys). fake may be NULL (then
 * chatfuel_base_url points at a closed port). The test may edit d->cfg. */
struct daemon *d_new(struct t *t, struct fake_cf *fake);

struct start_opts {
	const char *const *args;     /* extra flags after the config */
	const char *const *env;      /* extra NAME=VALUE */
	bool no_serve_word;          /* run `mnmfa --config F` instead of `mnmfa serve --config F` */
	bool config_via_env;         /* MNMFA_CONFIG=F instead of --config F */
	bool force_api_plain;        /* talk plain HTTP to the API port whatever the file says */
	long nofile;                 /* > 0: the daemon's RLIMIT_NOFILE, soft and hard */
};
/* Writes the config, starts the daemon and waits until /healthz answers on
 * both ports. On failure records it on t and returns -1. */
int d_start(struct daemon *d, const struct start_opts *o);
/* Writes d->cfg to d->config_path (d_start does it too). */
int d_write_config(struct daemon *d);
/* SIGTERM, wait (SIGKILL after H_STOP_TIMEOUT_MS), require exit 0. */
int d_stop(struct daemon *d);
/* Same with another signal (SIGINT). */
int d_stop_sig(struct daemon *d, int sig);
/* Same, SIGKILL (and a failure) after ms instead of H_STOP_TIMEOUT_MS. */
int d_stop_within(struct daemon *d, int sig, int ms);
/* SIGKILL the daemon and reap it (a crash, a power cut): no stop, no check
 * of its exit; 0, or -1 (failed) when it is still there after 5 s. */
int d_kill(struct daemon *d);

void d_set_str(struct daemon *d, const char *key, const char *v);
void d_set_int(struct daemon *d, const char *key, long long v);
void d_set_bool(struct daemon *d, const char *key, bool v);
void d_del(struct daemon *d, const char *key);

/* Runs `daemon_path args...` to completion (bounded); captures stdout and
 * stderr. Returns the exit code, or -1 (signal/timeout, recorded on t). */
int h_run(struct t *t, const char *const *args, const char *const *env,
          char **out, char **err);
/* Same for any program: argv[0] is its path. */
int h_run_prog(struct t *t, const char *const *argv, const char *const *env,
               char **out, char **err);

extern const char *h_daemon_path;

/* ---- HTTP ---- */

struct header {
	char *name, *value;
};

struct resp {
	long status;
	char *body;
	size_t len;
	struct header h[H_MAX_HEADERS];
	int nh;
	char desc[256];              /* "GET https://..." for messages */
};

struct req {
	const char *method;          /* default GET */
	const char *url;
	const char *ctype;           /* request Content-Type, or NULL */
	const char *body;
	size_t body_len;             /* 0: strlen(body) */
	const char *const *headers;  /* extra "Name: value" lines, NULL-terminated */
	const char *cainfo;          /* CA file for https (pinned daemon cert) */
};

/* Performs one request (no redirects followed). On transport failure records
 * it on t (when t is not NULL) and returns -1. */
int h_http(struct t *t, const struct req *rq, struct resp *rs);
void resp_free(struct resp *rs);
const char *resp_header(const struct resp *rs, const char *name);
int resp_header_count(const struct resp *rs, const char *name);
/* Parses the body as JSON; records a failure when it is not. */
cJSON *resp_json(struct t *t, const struct resp *rs);

/* Requests against one daemon's ports (URL built from path). */
int d_api(struct daemon *d, const char *method, const char *path, const char *ctype,
          const char *body, struct resp *rs);
int d_api_h(struct daemon *d, const char *method, const char *path, const char *ctype,
            const char *body, const char *const *headers, struct resp *rs);
int d_web(struct daemon *d, const char *method, const char *path, const char *ctype,
          const char *body, struct resp *rs);
int d_web_h(struct daemon *d, const char *method, const char *path, const char *ctype,
            const char *body, const char *const *headers, struct resp *rs);
char *d_api_url(const struct daemon *d, const char *path);
char *d_web_url(const struct daemon *d, const char *path);

/* ---- JSON ---- */

const char *j_str(const cJSON *o, const char *key);
/* Follows a path such as "messages.0.attachment.payload.buttons.0.url". */
const cJSON *j_path(const cJSON *o, const char *path);

/* ---- HTML ---- */

struct attr {
	char name[32];
	char *value;
};
struct tag {
	char name[16];
	struct attr a[16];
	int na;
};
/* Finds every start tag named `name` (case-insensitive) in html; returns the
 * count, filling up to max entries. Free with tags_free. */
int html_tags(const char *html, const char *name, struct tag *out, int max);
void tags_free(struct tag *tags, int n);
const char *tag_attr(const struct tag *tg, const char *name);

#endif
