/*
 * test_config: the SPEC §3 configuration. Defaults as check-config prints
 * them; file < environment < flag precedence; the error path of every value
 * type (one line on stderr naming the key); the cross-key rules
 * (whatsapp_number, brand_color, expiration, choices); and secrets never shown
 * by config_print or in an error line.
 *
 * config_load reads only the argv and envp it is given, so every case is
 * hermetic: config files are temporary files, stderr is captured per call.
 */
#include "unit.h"
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 48
#define ERR_MAX 4096

struct run {
	struct config cfg;
	int rc;
	char err[ERR_MAX];          /* everything config_load wrote to stderr */
	char conf_path[64];         /* the temporary config file, if any */
};

/* Calls config_load(argv, envp) with fd 2 sent to a temporary file. */
static int load_capture(struct run *r, char **argv, char **envp)
{
	FILE *tmp = tmpfile();
	int saved, argc = 0;
	size_t n;

	if (tmp == NULL)
		fail_msg("tmpfile failed");
	while (argv[argc] != NULL)
		argc++;
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	r->rc = config_load(&r->cfg, argc, argv, envp);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(r->err, 1, sizeof r->err - 1, tmp);
	r->err[n] = '\0';
	fclose(tmp);
	return r->rc;
}

/* Writes text to a fresh temporary file; its path goes to r->conf_path. */
static void write_conf(struct run *r, const char *text)
{
	int fd;

	snprintf(r->conf_path, sizeof r->conf_path, "/tmp/mnmfa-test-config-XXXXXX");
	fd = mkstemp(r->conf_path);
	if (fd < 0)
		fail_msg("mkstemp failed");
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fail_msg("write failed");
	close(fd);
}

static void run_done(struct run *r)
{
	config_free(&r->cfg);
	if (r->conf_path[0] != '\0')
		unlink(r->conf_path);
	free(r);
}

/* load(conf_json or NULL, env list (NULL-terminated), flags (NULL-terminated)). */
static struct run *load(const char *conf, const char *const *env, const char *const *flags)
{
	struct run *r = calloc(1, sizeof *r);
	char *argv[MAX_ARGS], *envp[MAX_ARGS];
	int a = 0, e = 0;

	if (conf != NULL) {
		write_conf(r, conf);
		argv[a++] = (char *)"--config";
		argv[a++] = r->conf_path;
	}
	for (; flags != NULL && *flags != NULL; flags++)
		argv[a++] = (char *)*flags;
	argv[a] = NULL;
	for (; env != NULL && *env != NULL; env++)
		envp[e++] = (char *)*env;
	envp[e] = NULL;
	load_capture(r, argv, envp);
	return r;
}

#define FLAGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Expects success; fails with stderr if not. */
static struct run *load_ok(const char *conf, const char *const *env, const char *const *flags)
{
	struct run *r = load(conf, env, flags);

	if (r->rc != 0)
		fail_msg("config_load failed: %s", r->err);
	return r;
}

/* Expects one error line on stderr that names `key` (and holds each of `also`). */
static void load_fails(const char *conf, const char *const *env, const char *const *flags,
                       const char *key)
{
	struct run *r = load(conf, env, flags);

	if (r->rc != -1)
		fail_msg("config_load accepted a bad %s (flags %s...)", key,
		         flags != NULL && flags[0] != NULL ? flags[0] : "-");
	if (count_lines(r->err) != 1 || r->err[strlen(r->err) - 1] != '\n')
		fail_msg("%s: expected one error line, got \"%s\"", key, r->err);
	if (strstr(r->err, key) == NULL)
		fail_msg("the error line does not name %s: \"%s\"", key, r->err);
	run_done(r);
}

/* The value config_print shows for key, into buf. */
static const char *printed(const struct config *cfg, const char *key, char *buf, size_t len)
{
	char *text = NULL;
	size_t size = 0, klen = strlen(key);
	FILE *f = open_memstream(&text, &size);
	const char *line;

	config_print(cfg, f);
	fclose(f);
	buf[0] = '\0';
	for (line = text; line != NULL && *line != '\0'; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *eq = strstr(line, " = ");
		size_t n = strcspn(line, " ");
		if (n == klen && strncmp(line, key, klen) == 0 && eq != NULL) {
			size_t vlen = strcspn(eq + 3, "\n");
			snprintf(buf, len, "%.*s", (int)vlen, eq + 3);
			break;
		}
	}
	free(text);
	if (buf[0] == '\0')
		fail_msg("config_print shows no line for %s", key);
	return buf;
}

static char *print_all(const struct config *cfg)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	config_print(cfg, f);
	fclose(f);
	return text;
}

static void test_defaults_match_spec(void **state)
{
	static const struct { const char *key, *value; } defaults[] = {
		{ "bind", "0.0.0.0" }, { "web_port", "443" }, { "api_port", "8000" },
		{ "api_tls", "true" }, { "tls_cert", "certs/cert.pem" }, { "tls_key", "certs/key.pem" },
		{ "tls_autogen", "true" }, { "expiration", "60" }, { "whatsapp_number", "(none)" },
		{ "chatfuel_bot_id", "(none)" }, { "chatfuel_token", "(none)" },
		{ "chatfuel_base_url", "https://api.chatfuel.com" }, { "chatfuel_target", "flow" },
		{ "chatfuel_rps", "25" }, { "notify_on_expiry", "false" }, { "webhook_url", "(none)" },
		{ "webhook_secret", "(none)" }, { "api_keys", "(none)" }, { "db_path", "logs.db" },
		{ "trusted_proxies", "(none)" }, { "choices", "4" }, { "max_pending", "100000" },
		{ "rate_phone", "5/900" }, { "lockout", "3/86400" }, { "rate_ip", "60/60" },
		{ "brand_name", "(none)" }, { "brand_color", "(none)" }, { "brand_logo", "(none)" },
		{ "lang", "es" }, { "log_format", "text" }, { "log_level", "info" }, { "user", "(none)" },
		{ "stop_timeout", "8" }, { "request_timeout", "10" }, { "answer_wait", "10" },
		{ "result_max_age", "900" },
	};
	struct run *r = load_ok(NULL, NULL, NULL);
	char buf[256];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		printed(&r->cfg, defaults[i].key, buf, sizeof buf);
		if (strcmp(buf, defaults[i].value) != 0)
			fail_msg("default %s: shown \"%s\", expected \"%s\"", defaults[i].key, buf,
			         defaults[i].value);
	}
	/* public_url: https://localhost:<web_port>, as SPEC §3 writes it */
	printed(&r->cfg, "public_url", buf, sizeof buf);
	if (strcmp(buf, "https://localhost:443") != 0)
		fail_msg("default public_url: \"%s\"", buf);
	/* threads: the number of CPUs */
	assert_true(r->cfg.threads >= 1);
	if (cpus > 0 && cpus <= 64)
		assert_int_equal(r->cfg.threads, cpus);
	assert_null(r->cfg.api_bind);
	assert_null(r->cfg.web_bind);
	assert_int_equal(r->cfg.rate_phone.n, 5);
	assert_int_equal(r->cfg.rate_phone.seconds, 900);
	assert_int_equal(r->cfg.lockout.n, 3);
	assert_int_equal(r->cfg.lockout.seconds, 86400);
	assert_int_equal(r->cfg.api_keys.n, 0);
	assert_string_equal(r->cfg.wa_digits, "");
	run_done(r);

	r = load_ok(NULL, NULL, FLAGS("--web-port", "8443"));
	assert_string_equal(r->cfg.public_url, "https://localhost:8443");
	run_done(r);
}

static void test_every_key_is_printed_once(void **state)
{
	static const char *const spec_keys[] = {
		"public_url", "bind", "api_bind", "web_bind", "web_port", "api_port", "api_tls",
		"tls_cert", "tls_key", "tls_autogen", "expiration", "whatsapp_number", "chatfuel_bot_id",
		"chatfuel_token", "chatfuel_base_url", "chatfuel_target", "chatfuel_block_id", "chatfuel_reply", "chatfuel_rps",
		"notify_on_expiry", "webhook_url", "webhook_secret", "api_keys", "db_path",
		"trusted_proxies", "choices", "max_pending", "rate_phone", "lockout", "rate_ip",
		"brand_name", "brand_color", "brand_logo", "lang", "threads", "log_format", "log_level",
		"user", "stop_timeout", "request_timeout", "connections_per_ip", "answer_wait",
		"result_max_age", "redis_url", "redis_sentinels", "redis_master", "node_id", "audit_key", "audit_anchor_url",
	};
	struct run *r = load_ok(NULL, NULL, NULL);
	char *text = print_all(&r->cfg);

	(void)state;
	for (size_t i = 0; i < sizeof spec_keys / sizeof spec_keys[0]; i++) {
		size_t klen = strlen(spec_keys[i]);
		int seen = 0;
		for (const char *line = text; *line != '\0'; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0'))
			if (strncmp(line, spec_keys[i], klen) == 0 && line[klen] == ' ')
				seen++;
		if (seen != 1)
			fail_msg("config_print shows %s %d times:\n%s", spec_keys[i], seen, text);
	}
	assert_int_equal(count_lines(text), (int)(sizeof spec_keys / sizeof spec_keys[0]));
	free(text);
	run_done(r);
}

static void test_precedence_file_env_flag(void **state)
{
	static const char conf[] = "{\"web_port\": 1001, \"db_path\": \"file.db\", \"api_tls\": false,"
	                           " \"api_keys\": [\"file-key\"], \"rate_ip\": \"1/1\", \"lang\": \"en\"}";
	struct run *r;

	(void)state;
	r = load_ok(conf, NULL, NULL);
	assert_int_equal(r->cfg.web_port, 1001);
	assert_string_equal(r->cfg.db_path, "file.db");
	assert_false(r->cfg.api_tls);
	assert_int_equal(r->cfg.api_keys.n, 1);
	assert_string_equal(r->cfg.api_keys.v[0], "file-key");
	assert_int_equal(r->cfg.rate_ip.n, 1);
	assert_int_equal(r->cfg.lang, LANG_EN);
	assert_string_equal(r->cfg.public_url, "https://localhost:1001");
	run_done(r);

	r = load_ok(conf, ENV("MNMFA_WEB_PORT=1002", "MNMFA_DB_PATH=env.db", "MNMFA_API_TLS=1",
	                      "MNMFA_API_KEYS=env-a,env-b", "MNMFA_RATE_IP=2/2", "OTHER=x"), NULL);
	assert_int_equal(r->cfg.web_port, 1002);
	assert_string_equal(r->cfg.db_path, "env.db");
	assert_true(r->cfg.api_tls);
	assert_int_equal(r->cfg.api_keys.n, 2);
	assert_string_equal(r->cfg.api_keys.v[1], "env-b");
	assert_int_equal(r->cfg.rate_ip.seconds, 2);
	assert_int_equal(r->cfg.lang, LANG_EN);                     /* from the file still */
	run_done(r);

	r = load_ok(conf, ENV("MNMFA_WEB_PORT=1002", "MNMFA_DB_PATH=env.db", "MNMFA_API_TLS=1",
	                      "MNMFA_API_KEYS=env-a,env-b"),
	            FLAGS("--web-port", "1003", "--db-path=flag.db", "--api-tls", "false",
	                  "--api-keys", "flag-key", "--lang", "es"));
	assert_int_equal(r->cfg.web_port, 1003);
	assert_string_equal(r->cfg.db_path, "flag.db");
	assert_false(r->cfg.api_tls);
	assert_int_equal(r->cfg.api_keys.n, 1);
	assert_string_equal(r->cfg.api_keys.v[0], "flag-key");
	assert_int_equal(r->cfg.lang, LANG_ES);
	run_done(r);
}

static void test_config_file_from_env_and_flag(void **state)
{
	struct run *r, *other;
	char env[128];

	(void)state;
	other = load_ok("{\"api_port\": 9001}", NULL, NULL);      /* only for its file */
	snprintf(env, sizeof env, "MNMFA_CONFIG=%s", other->conf_path);
	r = load_ok(NULL, ENV(env), NULL);
	assert_int_equal(r->cfg.api_port, 9001);
	run_done(r);
	/* --config wins over MNMFA_CONFIG */
	r = load_ok("{\"api_port\": 9002}", ENV(env), NULL);
	assert_int_equal(r->cfg.api_port, 9002);
	run_done(r);
	/* --config=FILE works as well, and a later flag still wins over the file */
	{
		char flag[128];
		snprintf(flag, sizeof flag, "--config=%s", other->conf_path);
		r = load_ok(NULL, NULL, FLAGS("--api-port", "9003", flag));
		assert_int_equal(r->cfg.api_port, 9003);
		run_done(r);
	}
	run_done(other);
	load_fails(NULL, NULL, FLAGS("--config", "/nonexistent/mnmfa.json"), "/nonexistent/mnmfa.json");
	load_fails(NULL, NULL, FLAGS("--config"), "--config");
}

/* A config file over 1 MiB, or one that cannot be read, is one error line naming it. */
static void test_config_file_cap(void **state)
{
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big + 1);
	struct run *r;

	(void)state;
	memset(text, ' ', big);                  /* whitespace around a valid object */
	memcpy(text, "{}", 2);
	text[big] = '\0';
	r = load(text, NULL, NULL);
	if (r->rc != -1 || count_lines(r->err) != 1 || strstr(r->err, r->conf_path) == NULL ||
	    strstr(r->err, "larger than 1048576 bytes") == NULL)
		fail_msg("a config file over 1 MiB: expected one line naming it, got rc %d: %s", r->rc, r->err);
	run_done(r);
	text[big - 1] = '\0';                    /* exactly 1 MiB is fine */
	run_done(load_ok(text, NULL, NULL));
	free(text);
	load_fails(NULL, NULL, FLAGS("--config", "/"), "cannot read /");
}

static void test_int_range_errors(void **state)
{
	struct run *r;

	(void)state;
	load_fails(NULL, NULL, FLAGS("--web-port", "0"), "web_port");
	load_fails(NULL, NULL, FLAGS("--web-port", "65536"), "web_port");
	load_fails(NULL, NULL, FLAGS("--web-port", "80a"), "web_port");
	load_fails(NULL, NULL, FLAGS("--web-port", ""), "web_port");
	load_fails(NULL, NULL, FLAGS("--web-port", " 80"), "web_port");
	load_fails(NULL, NULL, FLAGS("--web-port", "0x50"), "web_port");
	load_fails(NULL, NULL, FLAGS("--web-port", "99999999999999999999999"), "web_port");
	load_fails(NULL, NULL, FLAGS("--api-port", "-1"), "api_port");
	load_fails(NULL, ENV("MNMFA_CHATFUEL_RPS=0"), NULL, "chatfuel_rps");
	load_fails(NULL, NULL, FLAGS("--max-pending", "0"), "max_pending");
	load_fails(NULL, NULL, FLAGS("--threads", "0"), "threads");
	load_fails(NULL, NULL, FLAGS("--web-port"), "web_port");              /* no value */

	/* the error line says the bad value and what is expected */
	r = load(NULL, NULL, FLAGS("--expiration", "601"));
	assert_int_equal(r->rc, -1);
	if (strstr(r->err, "601") == NULL || strstr(r->err, "600") == NULL)
		fail_msg("error should show the value and the range: %s", r->err);
	run_done(r);
}

static void test_expiration_is_10_to_600(void **state)
{
	struct run *r;

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--expiration", "10"));
	assert_int_equal(r->cfg.expiration, 10);
	run_done(r);
	r = load_ok(NULL, NULL, FLAGS("--expiration", "600"));
	assert_int_equal(r->cfg.expiration, 600);
	run_done(r);
	load_fails(NULL, NULL, FLAGS("--expiration", "9"), "expiration");
	load_fails(NULL, NULL, FLAGS("--expiration", "601"), "expiration");
	load_fails(NULL, ENV("MNMFA_EXPIRATION=3600"), NULL, "expiration");
	load_fails("{\"expiration\": 0}", NULL, NULL, "expiration");
	load_fails("{\"expiration\": 86400}", NULL, NULL, "expiration");
}

static void test_choices_is_2_to_8(void **state)
{
	struct run *r;

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--choices", "2"));
	assert_int_equal(r->cfg.choices, 2);
	run_done(r);
	r = load_ok("{\"choices\": 8}", NULL, NULL);
	assert_int_equal(r->cfg.choices, 8);
	run_done(r);
	load_fails(NULL, NULL, FLAGS("--choices", "1"), "choices");
	load_fails(NULL, NULL, FLAGS("--choices", "9"), "choices");
	load_fails("{\"choices\": 0}", NULL, NULL, "choices");
}

static void test_bool_words(void **state)
{
	static const char *const good[][2] = {
		{ "true", "true" }, { "false", "false" }, { "1", "true" }, { "0", "false" },
	};
	static const char *const bad[] = { "yes", "no", "on", "off", "TRUE", "True", "2", "", "t" };
	struct run *r;
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		r = load_ok(NULL, NULL, FLAGS("--notify-on-expiry", good[i][0]));
		assert_string_equal(printed(&r->cfg, "notify_on_expiry", buf, sizeof buf), good[i][1]);
		run_done(r);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails(NULL, NULL, FLAGS("--api-tls", bad[i]), "api_tls");
	load_fails(NULL, ENV("MNMFA_TLS_AUTOGEN=yes"), NULL, "tls_autogen");

	/* a bare boolean flag means true, before another flag or at the end */
	r = load_ok(NULL, NULL, FLAGS("--notify-on-expiry", "--web-port", "8443"));
	assert_true(r->cfg.notify_on_expiry);
	assert_int_equal(r->cfg.web_port, 8443);
	run_done(r);
	r = load_ok(NULL, NULL, FLAGS("--notify-on-expiry"));
	assert_true(r->cfg.notify_on_expiry);
	run_done(r);
}

static void test_rate_is_n_per_seconds(void **state)
{
	static const char *const bad[] = {
		"5", "5/", "/900", "0/900", "5/0", "a/b", "5/900/1", "-1/900", "5/-900", " 5/900",
		"5 /900", "5/900 ", "5/9e2", "5:900", "", "1000001/1", "1/2678401",
		"123456789012345678901234567890123/1",
	};
	struct run *r;

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--rate-phone", "7/60", "--lockout=1/2678400",
	                              "--rate-ip", "1000000/1"));
	assert_int_equal(r->cfg.rate_phone.n, 7);
	assert_int_equal(r->cfg.rate_phone.seconds, 60);
	assert_int_equal(r->cfg.lockout.n, 1);
	assert_int_equal(r->cfg.lockout.seconds, 2678400);
	assert_int_equal(r->cfg.rate_ip.n, 1000000);
	run_done(r);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails(NULL, NULL, FLAGS("--rate-phone", bad[i]), "rate_phone");
	load_fails(NULL, ENV("MNMFA_LOCKOUT=3"), NULL, "lockout");
}

/* Expects one error line naming key and holding `says` (what is expected). */
static void load_fails_saying(const char *const *flags, const char *key, const char *says)
{
	struct run *r = load(NULL, NULL, flags);

	if (r->rc != -1 || count_lines(r->err) != 1 || strstr(r->err, key) == NULL ||
	    strstr(r->err, says) == NULL)
		fail_msg("%s: expected one error line saying \"%s\", got rc %d: \"%s\"", key, says,
		         r->rc, r->err);
	run_done(r);
}

/* Each kind says what it accepts: a length, a required value, a list entry's length. */
static void test_kind_limits_are_named(void **state)
{
	char name[102], entry[66];

	(void)state;
	memset(name, 'n', 101);
	name[101] = '\0';
	load_fails_saying(FLAGS("--brand-name", name), "brand_name", "longer than 100 characters");
	name[100] = '\0';
	run_done(load_ok(NULL, NULL, FLAGS("--brand-name", name)));
	load_fails_saying(FLAGS("--db-path", ""), "db_path", "must not be empty");
	load_fails_saying(FLAGS("--tls-cert", ""), "tls_cert", "must not be empty");
	memset(entry, '1', 65);
	entry[65] = '\0';
	load_fails_saying(FLAGS("--trusted-proxies", entry), "trusted_proxies",
	                  "an entry is longer than 64 characters");
	load_fails_saying(FLAGS("--rate-ip", "1/0"), "rate_ip", "SECONDS in 1..2678400");
	load_fails_saying(FLAGS("--choices", "9"), "choices", "expected a whole number in 2..8");
	load_fails_saying(FLAGS("--lang", "fr"), "lang", "expected one of es|en");
	load_fails_saying(FLAGS("--brand-color", "red"), "brand_color", "expected #rrggbb");
}

/* The timing keys: each bound accepted, one past it refused with the range named. */
static void test_timing_keys(void **state)
{
	static const struct { const char *flag, *key; int hi; } keys[] = {
		{ "--stop-timeout", "stop_timeout", 300 },
		{ "--request-timeout", "request_timeout", 300 },
		{ "--answer-wait", "answer_wait", 120 },
		{ "--result-max-age", "result_max_age", 86400 },
	};
	struct run *r;
	char hi[16], over[16], range[32], buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(hi, sizeof hi, "%d", keys[i].hi);
		snprintf(over, sizeof over, "%d", keys[i].hi + 1);
		snprintf(range, sizeof range, "in 1..%d", keys[i].hi);
		r = load_ok(NULL, NULL, FLAGS(keys[i].flag, "1"));
		assert_string_equal(printed(&r->cfg, keys[i].key, buf, sizeof buf), "1");
		run_done(r);
		r = load_ok(NULL, NULL, FLAGS(keys[i].flag, hi));
		assert_string_equal(printed(&r->cfg, keys[i].key, buf, sizeof buf), hi);
		run_done(r);
		load_fails_saying(FLAGS(keys[i].flag, "0"), keys[i].key, range);
		load_fails_saying(FLAGS(keys[i].flag, over), keys[i].key, range);
	}
	r = load_ok("{\"stop_timeout\": 30, \"result_max_age\": 3600}",
	            ENV("MNMFA_ANSWER_WAIT=5", "MNMFA_REQUEST_TIMEOUT=20"), NULL);
	assert_int_equal(r->cfg.stop_timeout, 30);
	assert_int_equal(r->cfg.result_max_age, 3600);
	assert_int_equal(r->cfg.answer_wait, 5);
	assert_int_equal(r->cfg.request_timeout, 20);
	run_done(r);
}

static void test_enum_values(void **state)
{
	struct run *r;
	char buf[64];

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--lang", "en", "--chatfuel-target", "block",
	                              "--log-format", "json", "--log-level", "debug"));
	assert_int_equal(r->cfg.lang, LANG_EN);
	assert_int_equal(r->cfg.chatfuel_target, CHATFUEL_TARGET_BLOCK);
	assert_int_equal(r->cfg.log_format, LOG_FORMAT_JSON);
	assert_int_equal(r->cfg.log_level, LOG_DEBUG);
	/* check-config shows the names, not the numbers */
	assert_string_equal(printed(&r->cfg, "chatfuel_target", buf, sizeof buf), "block");
	assert_string_equal(printed(&r->cfg, "lang", buf, sizeof buf), "en");
	assert_string_equal(printed(&r->cfg, "log_format", buf, sizeof buf), "json");
	assert_string_equal(printed(&r->cfg, "log_level", buf, sizeof buf), "debug");
	run_done(r);
	/* a stored name (an outbox row's target) parses through the same table */
	assert_int_equal(config_name_index(config_chatfuel_target_names, "block"), CHATFUEL_TARGET_BLOCK);
	assert_int_equal(config_name_index(config_chatfuel_target_names, "flow"), CHATFUEL_TARGET_FLOW);
	assert_int_equal(config_name_index(config_chatfuel_target_names, "Block"), -1);
	assert_int_equal(config_name_index(config_chatfuel_target_names, ""), -1);
	assert_int_equal(config_name_index(log_level_names, "warn"), LOG_WARN);
	load_fails(NULL, NULL, FLAGS("--lang", "fr"), "lang");
	load_fails(NULL, NULL, FLAGS("--lang", "EN"), "lang");
	load_fails(NULL, NULL, FLAGS("--lang", "e"), "lang");
	load_fails(NULL, NULL, FLAGS("--lang", "ess"), "lang");
	load_fails(NULL, NULL, FLAGS("--lang", ""), "lang");
	load_fails(NULL, NULL, FLAGS("--chatfuel-target", "flows"), "chatfuel_target");
	load_fails(NULL, NULL, FLAGS("--chatfuel-target", "flow|block"), "chatfuel_target");
	load_fails(NULL, NULL, FLAGS("--log-format", "xml"), "log_format");
	load_fails(NULL, ENV("MNMFA_LOG_LEVEL=trace"), NULL, "log_level");
}

static void test_lists(void **state)
{
	struct run *r;
	char many[17 * 4 + 1] = "", entry[8];
	char long_cidr[80];

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--trusted-proxies", " 10.0.0.0/8 , ,192.168.0.0/16,,"));
	assert_int_equal(r->cfg.trusted_proxies.n, 2);
	assert_string_equal(r->cfg.trusted_proxies.v[0], "10.0.0.0/8");
	assert_string_equal(r->cfg.trusted_proxies.v[1], "192.168.0.0/16");
	run_done(r);

	for (int i = 0; i < 16; i++) {
		snprintf(entry, sizeof entry, "%sk%d", i ? "," : "", i);
		strcat(many, entry);
	}
	r = load_ok(NULL, NULL, FLAGS("--api-keys", many));
	assert_int_equal(r->cfg.api_keys.n, 16);
	run_done(r);
	strcat(many, ",k16");
	load_fails(NULL, NULL, FLAGS("--api-keys", many), "api_keys");

	memset(long_cidr, 'a', 65);
	long_cidr[65] = '\0';
	load_fails(NULL, NULL, FLAGS("--trusted-proxies", long_cidr), "trusted_proxies");
	long_cidr[64] = '\0';
	load_fails(NULL, NULL, FLAGS("--trusted-proxies", long_cidr), "trusted_proxies"); /* not a CIDR */
	load_fails(NULL, NULL, FLAGS("--trusted-proxies", "10.0.0.0/33"), "trusted_proxies");
	load_fails(NULL, NULL, FLAGS("--trusted-proxies", "10.0.0/8"), "trusted_proxies");
	r = load_ok(NULL, NULL, FLAGS("--trusted-proxies", "fd00::/8,::1,127.0.0.1"));
	assert_int_equal(r->cfg.trusted_proxies.n, 3);
	run_done(r);

	/* a later layer replaces the list, it does not append */
	r = load_ok("{\"trusted_proxies\": [\"1.1.1.1/32\", \"2.2.2.2/32\"]}", NULL,
	            FLAGS("--trusted-proxies", "3.3.3.3/32"));
	assert_int_equal(r->cfg.trusted_proxies.n, 1);
	assert_string_equal(r->cfg.trusted_proxies.v[0], "3.3.3.3/32");
	run_done(r);
}

static void test_unknown_keys_and_flags(void **state)
{
	(void)state;
	load_fails("{\"web_prot\": 443}", NULL, NULL, "web_prot");
	load_fails("{\"config\": \"x.json\"}", NULL, NULL, "config");
	load_fails(NULL, NULL, FLAGS("--web-prot", "443"), "--web-prot");
	load_fails(NULL, NULL, FLAGS("--web_port", "443"), "--web_port");  /* flags use dashes */
	load_fails(NULL, NULL, FLAGS("web-port", "443"), "web-port");
	load_fails(NULL, NULL, FLAGS("-p", "443"), "-p");
}

static void test_malformed_json(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"web_port\": }", "{\"web_port\": 443,}", "{web_port: 443}",
		"{\"web_port\": 443} trailing", "[]", "[{\"web_port\": 443}]", "\"str\"", "443", "null",
		"{\"web_port\": 443", "{'web_port': 443}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct run *r = load(bad[i], NULL, NULL);
		if (r->rc != -1)
			fail_msg("config file \"%s\" was accepted", bad[i]);
		if (count_lines(r->err) != 1 || strstr(r->err, r->conf_path) == NULL)
			fail_msg("config file \"%s\": error should be one line naming the file: %s", bad[i],
			         r->err);
		run_done(r);
	}
}

static void test_wrong_json_types(void **state)
{
	struct run *r;

	(void)state;
	load_fails("{\"web_port\": \"443\"}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": 443.5}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": true}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": [443]}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": 1e300}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": -1e300}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": 1e19}", NULL, NULL, "web_port");
	load_fails("{\"web_port\": 70000}", NULL, NULL, "web_port");
	load_fails("{\"api_tls\": \"true\"}", NULL, NULL, "api_tls");
	load_fails("{\"api_tls\": 1}", NULL, NULL, "api_tls");
	load_fails("{\"api_keys\": \"k1,k2\"}", NULL, NULL, "api_keys");
	load_fails("{\"api_keys\": [1]}", NULL, NULL, "api_keys");
	load_fails("{\"api_keys\": [\"\"]}", NULL, NULL, "api_keys");
	load_fails("{\"api_keys\": [[\"k\"]]}", NULL, NULL, "api_keys");
	load_fails("{\"rate_phone\": 5}", NULL, NULL, "rate_phone");
	load_fails("{\"rate_phone\": {\"n\": 5}}", NULL, NULL, "rate_phone");
	load_fails("{\"lang\": 1}", NULL, NULL, "lang");
	load_fails("{\"db_path\": 5}", NULL, NULL, "db_path");
	load_fails("{\"brand_name\": {}}", NULL, NULL, "brand_name");

	/* whole numbers written as floats are fine; null clears an optional string */
	r = load_ok("{\"web_port\": 8443.0, \"brand_name\": null, \"max_pending\": 1e8}", NULL, NULL);
	assert_int_equal(r->cfg.web_port, 8443);
	assert_null(r->cfg.brand_name);
	assert_int_equal(r->cfg.max_pending, 100000000);
	run_done(r);
}

static void test_whatsapp_number(void **state)
{
	static const char *const bad[] = {
		"+", "5215", "+1234567", "1234567", "+52 1555 000 0000", "+52-1555-0000000",
		"abcdefghij", "+1234567890123456", "1234567890123456", "++5215550000000",
		"5215550000000+", "+52155500000a0",
	};
	struct run *r;

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--whatsapp-number", "+5215550000000"));
	assert_string_equal(r->cfg.wa_digits, "5215550000000");
	run_done(r);
	r = load_ok(NULL, ENV("MNMFA_WHATSAPP_NUMBER=5215550000000"), NULL);
	assert_string_equal(r->cfg.wa_digits, "5215550000000");
	run_done(r);
	r = load_ok("{\"whatsapp_number\": \"+123456789012345\"}", NULL, NULL);     /* 15 digits */
	assert_string_equal(r->cfg.wa_digits, "123456789012345");
	run_done(r);
	r = load_ok(NULL, NULL, FLAGS("--whatsapp-number", "12345678"));               /* 8 digits */
	assert_string_equal(r->cfg.wa_digits, "12345678");
	run_done(r);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails(NULL, NULL, FLAGS("--whatsapp-number", bad[i]), "whatsapp_number");
}

static void test_brand_color(void **state)
{
	static const char *const bad[] = {
		"a1b2c3", "#a1b2c", "#a1b2c3d", "#g1b2c3", "red", "#", "#a1b2c ", "#ABC", "#12345z",
		"rgb(1,2,3)",
	};
	struct run *r;

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--brand-color", "#a1B2c3"));
	assert_string_equal(r->cfg.brand_color, "#a1B2c3");
	run_done(r);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails(NULL, NULL, FLAGS("--brand-color", bad[i]), "brand_color");
}

static void test_cross_key_rules(void **state)
{
	struct run *r;

	(void)state;
	load_fails(NULL, NULL, FLAGS("--chatfuel-bot-id", "bot1"), "chatfuel_token");
	load_fails(NULL, NULL, FLAGS("--chatfuel-token", "tok"), "chatfuel_bot_id");
	load_fails(NULL, NULL, FLAGS("--webhook-url", "https://hooks.example/x"), "webhook_secret");
	load_fails(NULL, NULL, FLAGS("--webhook-url", "ftp://x", "--webhook-secret", "s"), "webhook_url");
	load_fails(NULL, NULL, FLAGS("--public-url", "localhost:8443"), "public_url");
	load_fails(NULL, NULL, FLAGS("--chatfuel-base-url", "api.chatfuel.com"), "chatfuel_base_url");
	r = load_ok(NULL, NULL, FLAGS("--public-url", "https://mfa.example.com/"));
	assert_string_equal(r->cfg.public_url, "https://mfa.example.com");   /* no trailing slash */
	run_done(r);
}

static void test_secrets_are_masked_in_print(void **state)
{
	struct run *r;
	char *text;
	char buf[128];

	(void)state;
	r = load_ok("{\"webhook_secret\": \"WHSEC-in-file-5150\"}",
	            ENV("MNMFA_CHATFUEL_TOKEN=TOKEN-from-env-8841"),
	            FLAGS("--chatfuel-bot-id", "bot-42", "--api-keys", "APIKEY-one-1111,APIKEY-two-2222",
	                  "--webhook-url", "https://hooks.example/x"));
	text = print_all(&r->cfg);
	if (strstr(text, "WHSEC-in-file-5150") != NULL || strstr(text, "TOKEN-from-env-8841") != NULL ||
	    strstr(text, "APIKEY-one-1111") != NULL || strstr(text, "APIKEY-two-2222") != NULL)
		fail_msg("config_print shows a secret:\n%s", text);
	free(text);
	/* ... but says that they are set, and shows the non-secret neighbours */
	assert_string_not_equal(printed(&r->cfg, "chatfuel_token", buf, sizeof buf), "(none)");
	assert_string_not_equal(printed(&r->cfg, "webhook_secret", buf, sizeof buf), "(none)");
	assert_non_null(strstr(printed(&r->cfg, "api_keys", buf, sizeof buf), "2"));
	assert_string_equal(printed(&r->cfg, "chatfuel_bot_id", buf, sizeof buf), "bot-42");
	/* the values themselves are kept for use */
	assert_string_equal(r->cfg.chatfuel_token, "TOKEN-from-env-8841");
	assert_string_equal(r->cfg.api_keys.v[1], "APIKEY-two-2222");
	run_done(r);
}

/* redis_url: a password in it is a secret; the several-node keys are checked. */
static void test_redis_keys(void **state)
{
	struct run *r;
	char *text;
	char buf[128];

	(void)state;
	r = load_ok(NULL, NULL, FLAGS("--redis-url", "redis://mnmfa:RPW-secret-4242@10.0.0.20:6379/1",
	                              "--node-id", "node-a"));
	text = print_all(&r->cfg);
	if (strstr(text, "RPW-secret-4242") != NULL)
		fail_msg("config_print shows the Redis password:\n%s", text);
	free(text);
	assert_string_not_equal(printed(&r->cfg, "redis_url", buf, sizeof buf), "(none)");
	assert_string_equal(printed(&r->cfg, "node_id", buf, sizeof buf), "node-a");
	run_done(r);
	r = load_ok(NULL, NULL, NULL);
	assert_non_null(r->cfg.node_id);              /* the host name by default */
	assert_true(r->cfg.node_id[0] != '\0');
	run_done(r);
	load_fails(NULL, NULL, FLAGS("--redis-url", "http://10.0.0.20:6379"), "redis_url");
	load_fails(NULL, NULL, FLAGS("--redis-url", "redis://h:99999/0"), "redis_url");
	load_fails(NULL, NULL, FLAGS("--redis-url", "unix://relative.sock"), "redis_url");
	load_fails(NULL, NULL, FLAGS("--redis-url", "redis://h:6379/16"), "redis_url");
	load_fails(NULL, NULL, FLAGS("--redis-sentinels", "10.0.0.21:26379"), "redis_master");
	load_fails(NULL, NULL, FLAGS("--redis-master", "mm"), "redis_sentinels");
	load_fails(NULL, NULL, FLAGS("--redis-sentinels", "nohostport", "--redis-master", "mm"), "redis_sentinels");
	load_fails(NULL, NULL, FLAGS("--node-id", "a b"), "node_id");
	r = load_ok(NULL, NULL, FLAGS("--redis-url", "unix:///run/redis/redis.sock?db=2"));
	run_done(r);
	/* a bad redis_url is named, its password not shown */
	r = load(NULL, NULL, FLAGS("--redis-url", "redis://u:RPW-secret-4242@h:0/0"));
	assert_int_equal(r->rc, -1);
	assert_non_null(strstr(r->err, "redis_url"));
	assert_null(strstr(r->err, "RPW-secret-4242"));
	run_done(r);
}

static void expect_secret_not_in_error(const char *conf, const char *const *env,
                                       const char *const *flags, const char *secret)
{
	struct run *r = load(conf, env, flags);

	if (r->rc != -1)
		fail_msg("expected an error for the case with %.20s", secret);
	if (strstr(r->err, secret) != NULL)
		fail_msg("an error line shows a secret: %s", r->err);
	run_done(r);
}

static void test_secrets_are_masked_in_errors(void **state)
{
	char longtok[600], flag[700], env[700], conf[700];

	(void)state;
	memset(longtok, 'S', sizeof longtok - 1);       /* over chatfuel_token's 512 */
	longtok[sizeof longtok - 1] = '\0';
	expect_secret_not_in_error(NULL, NULL, FLAGS("--chatfuel-token", longtok), "SSSSSSSSSS");
	snprintf(env, sizeof env, "MNMFA_WEBHOOK_SECRET=%s", longtok);
	expect_secret_not_in_error(NULL, ENV(env), NULL, "SSSSSSSSSS");
	memset(longtok, 'K', 300);                      /* an api key over 256 */
	longtok[300] = '\0';
	snprintf(flag, sizeof flag, "ok-key,%s", longtok);
	expect_secret_not_in_error(NULL, NULL, FLAGS("--api-keys", flag), "KKKKKKKKKK");
	snprintf(conf, sizeof conf, "{\"api_keys\": [\"%s\"]}", longtok);
	expect_secret_not_in_error(conf, NULL, NULL, "KKKKKKKKKK");
	expect_secret_not_in_error(NULL, NULL, FLAGS("--chatfuel-token", "TOKEN-lonely-7310"),
	                           "TOKEN-lonely-7310");
	/* a mistyped secret flag is unknown, but its value is still a secret */
	expect_secret_not_in_error(NULL, NULL, FLAGS("--chatfuel_token=TOKEN-typo-4242"),
	                           "TOKEN-typo-4242");
	expect_secret_not_in_error(NULL, NULL, FLAGS("--api-key=APIKEY-typo-9191"), "APIKEY-typo-9191");
}

static void test_usage_lists_every_flag_and_env(void **state)
{
	static const char *const some[][2] = {
		{ "--public-url", "MNMFA_PUBLIC_URL" }, { "--web-port", "MNMFA_WEB_PORT" },
		{ "--chatfuel-token", "MNMFA_CHATFUEL_TOKEN" }, { "--api-keys", "MNMFA_API_KEYS" },
		{ "--rate-phone", "MNMFA_RATE_PHONE" }, { "--notify-on-expiry", "MNMFA_NOTIFY_ON_EXPIRY" },
		{ "--brand-color", "MNMFA_BRAND_COLOR" }, { "--user", "MNMFA_USER" }, { "--config", "MNMFA_CONFIG" },
	};
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	(void)state;
	config_usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof some / sizeof some[0]; i++)
		if (strstr(text, some[i][0]) == NULL || strstr(text, some[i][1]) == NULL)
			fail_msg("--help does not mention %s / %s", some[i][0], some[i][1]);
	/* an enum key shows its values from the table */
	if (strstr(text, "--chatfuel-target flow|block") == NULL || strstr(text, "--lang es|en") == NULL ||
	    strstr(text, "--log-level error|warn|info|debug") == NULL)
		fail_msg("--help does not list an enum key's values:\n%s", text);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_match_spec),
		cmocka_unit_test(test_every_key_is_printed_once),
		cmocka_unit_test(test_usage_lists_every_flag_and_env),
		cmocka_unit_test(test_precedence_file_env_flag),
		cmocka_unit_test(test_config_file_from_env_and_flag),
		cmocka_unit_test(test_config_file_cap),
		cmocka_unit_test(test_int_range_errors),
		cmocka_unit_test(test_expiration_is_10_to_600),
		cmocka_unit_test(test_choices_is_2_to_8),
		cmocka_unit_test(test_bool_words),
		cmocka_unit_test(test_rate_is_n_per_seconds),
		cmocka_unit_test(test_enum_values),
		cmocka_unit_test(test_kind_limits_are_named),
		cmocka_unit_test(test_timing_keys),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_unknown_keys_and_flags),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_wrong_json_types),
		cmocka_unit_test(test_whatsapp_number),
		cmocka_unit_test(test_brand_color),
		cmocka_unit_test(test_cross_key_rules),
		cmocka_unit_test(test_secrets_are_masked_in_print),
		cmocka_unit_test(test_redis_keys),
		cmocka_unit_test(test_secrets_are_masked_in_errors),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
