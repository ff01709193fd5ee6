/*
 * config: one table of keys drives defaults, the JSON config file, MNMFA_*
 * environment variables, --flags, --help and check-config. Loading goes
 * through layers (default < file < env < flag); each layer calls the same
 * setter, so a value is validated the same way wherever it came from, and an
 * error names the key, the bad value (unless secret) and what is expected.
 */
#include "config.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pwd.h>
#include <strings.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_VALUE_MAX 4096

enum ktype { K_STR, K_INT, K_BOOL, K_LIST, K_RATE, K_ENUM };

struct key {
	const char *name;
	enum ktype type;
	size_t off;                 /* offsetof(struct config, field) */
	const char *def;            /* default as text; NULL: none */
	long long min, max;         /* K_INT range; K_STR max length */
	const char *choices;        /* K_ENUM: "a|b" */
	bool secret;
	const char *help;
};

#define F(f) offsetof(struct config, f)

static const struct key keys[] = {
	{ "public_url", K_STR, F(public_url), NULL, 0, 512, NULL, false,
	  "base URL of the web port as users reach it (default https://localhost:<web_port>)" },
	{ "bind", K_STR, F(bind), "0.0.0.0", 0, 64, NULL, false, "address both ports listen on" },
	{ "api_bind", K_STR, F(api_bind), NULL, 0, 64, NULL, false, "address of the API port (overrides bind)" },
	{ "web_bind", K_STR, F(web_bind), NULL, 0, 64, NULL, false, "address of the web port (overrides bind)" },
	{ "web_port", K_INT, F(web_port), "443", 1, 65535, NULL, false, "TLS web port serving challenge pages" },
	{ "api_port", K_INT, F(api_port), "8000", 1, 65535, NULL, false, "API port" },
	{ "api_tls", K_BOOL, F(api_tls), "true", 0, 0, NULL, false, "serve the API port over TLS (false: plain HTTP behind a local proxy)" },
	{ "tls_cert", K_STR, F(tls_cert), "certs/cert.pem", 1, 4096, NULL, false, "certificate chain (PEM); reloaded on SIGHUP" },
	{ "tls_key", K_STR, F(tls_key), "certs/key.pem", 1, 4096, NULL, false, "private key (PEM); reloaded on SIGHUP" },
	{ "tls_autogen", K_BOOL, F(tls_autogen), "true", 0, 0, NULL, false, "generate a self-signed pair when both files are missing" },
	{ "expiration", K_INT, F(expiration), "60", CONFIG_EXPIRATION_MIN, CONFIG_EXPIRATION_MAX, NULL, false, "seconds a challenge page lives" },
	{ "whatsapp_number", K_STR, F(whatsapp_number), NULL, 0, 16, NULL, false, "business WhatsApp number in E.164 (+5215550000000)" },
	{ "chatfuel_bot_id", K_STR, F(chatfuel_bot_id), NULL, 0, 128, NULL, false, "Chatfuel bot id (Broadcasting API)" },
	{ "chatfuel_token", K_STR, F(chatfuel_token), NULL, 0, 512, NULL, true, "Chatfuel Broadcasting API token" },
	{ "chatfuel_base_url", K_STR, F(chatfuel_base_url), "https://api.chatfuel.com", 1, 512, NULL, false, "Chatfuel API base URL" },
	{ "chatfuel_target", K_ENUM, F(chatfuel_target), "flow", 0, 0, "flow|block", false, "send the result to a flow or a block" },
	{ "chatfuel_rps", K_INT, F(chatfuel_rps), "25", 1, 1000, NULL, false, "most Broadcasting API requests per second per bot" },
	{ "notify_on_expiry", K_BOOL, F(notify_on_expiry), "false", 0, 0, NULL, false, "also send user_validated=false on expiry/cancel" },
	{ "webhook_url", K_STR, F(webhook_url), NULL, 0, 1024, NULL, false, "optional JSON webhook receiving every result" },
	{ "webhook_secret", K_STR, F(webhook_secret), NULL, 0, 512, NULL, true, "HMAC-SHA256 key signing the webhook" },
	{ "api_keys", K_LIST, F(api_keys), NULL, 0, 256, NULL, true, "accepted API keys (none: loopback clients only)" },
	{ "db_path", K_STR, F(db_path), "logs.db", 1, 4096, NULL, false, "SQLite file for the audit log and outbox" },
	{ "trusted_proxies", K_LIST, F(trusted_proxies), NULL, 0, 64, NULL, false, "CIDRs whose X-Forwarded-For is believed" },
	{ "choices", K_INT, F(choices), "4", 2, 8, NULL, false, "candidate answers besides \"none of the options\"" },
	{ "max_pending", K_INT, F(max_pending), "100000", 1, 100000000, NULL, false, "live challenges held at most (then 503)" },
	{ "rate_phone", K_RATE, F(rate_phone), "5/900", 0, 0, NULL, false, "challenges a phone may mint per window (N/SECONDS)" },
	{ "lockout", K_RATE, F(lockout), "3/86400", 0, 0, NULL, false, "failed answers per phone per window before lockout" },
	{ "rate_ip", K_RATE, F(rate_ip), "60/60", 0, 0, NULL, false, "web requests per client IP per window" },
	{ "brand_name", K_STR, F(brand_name), NULL, 0, 100, NULL, false, "business name shown on the page" },
	{ "brand_color", K_STR, F(brand_color), NULL, 0, 7, NULL, false, "accent colour #rrggbb" },
	{ "brand_logo", K_STR, F(brand_logo), NULL, 0, 4096, NULL, false, "local SVG/PNG file shown as the logo" },
	{ "lang", K_ENUM, F(lang), "es", 0, 0, NULL, false, "default page language (es|en)" },
	{ "threads", K_INT, F(threads), NULL, 1, 256, NULL, false, "worker threads per port (default: number of CPUs)" },
	{ "log_format", K_ENUM, F(log_format), "text", 0, 0, "text|json", false, "log lines as text or JSON" },
	{ "log_level", K_ENUM, F(log_level), "info", 0, 0, "error|warn|info|debug", false, "least severe level logged" },
	{ "user", K_STR, F(user), NULL, 0, 64, NULL, false, "drop to this user after binding ports and reading keys" },
};

static const char *const lang_choices = "es|en";

static const char *key_choices(const struct key *k)
{
	if (strcmp(k->name, "lang") == 0)
		return lang_choices;
	return k->choices;
}

static void config_error(const struct key *k, const char *src, const char *value,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void config_error(const struct key *k, const char *src, const char *value,
                         const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (k->secret || value == NULL)
		fprintf(stderr, "mnmfa: config: %s (%s): %s\n", k->name, src, why);
	else
		fprintf(stderr, "mnmfa: config: %s (%s): invalid value \"%.80s\": %s\n", k->name, src,
		        value, why);
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static void strlist_clear(struct strlist *l)
{
	for (int i = 0; i < l->n; i++) {
		secure_wipe_str(l->v[i]);
		free(l->v[i]);
	}
	l->n = 0;
}

/* Sets one key from its text form; every source ends here. */
static int key_set_text(struct config *cfg, const struct key *k, const char *src, const char *s)
{
	void *field = (char *)cfg + k->off;
	long long v;
	const char *err;

	switch (k->type) {
	case K_INT:
		if (parse_ll(s, k->min, k->max, &v, &err) < 0) {
			config_error(k, src, s, "%s: expected a whole number in %lld..%lld", err,
			             k->min, k->max);
			return -1;
		}
		*(int *)field = (int)v;
		return 0;
	case K_BOOL:
		if (parse_bool(s, (bool *)field) < 0) {
			config_error(k, src, s, "expected true, false, 1 or 0");
			return -1;
		}
		return 0;
	case K_ENUM: {
		const char *c = key_choices(k);
		size_t n = strlen(s);
		const char *p = c;
		while (p != NULL && *p != '\0') {
			const char *bar = strchr(p, '|');
			size_t len = bar ? (size_t)(bar - p) : strlen(p);
			if (len == n && strncmp(p, s, n) == 0) {
				free(*(char **)field);
				*(char **)field = xstrdup(s);
				return 0;
			}
			p = bar ? bar + 1 : NULL;
		}
		config_error(k, src, s, "expected one of %s", c);
		return -1;
	}
	case K_STR:
		if ((long long)strlen(s) > k->max) {
			config_error(k, src, s, "longer than %lld characters", k->max);
			return -1;
		}
		if ((long long)strlen(s) < k->min) {
			config_error(k, src, s, "must not be empty");
			return -1;
		}
		if (*(char **)field != NULL) {
			if (k->secret)
				secure_wipe_str(*(char **)field);
			free(*(char **)field);
		}
		*(char **)field = s[0] != '\0' ? xstrdup(s) : NULL;
		return 0;
	case K_RATE: {
		struct rate *r = field;
		const char *slash = strchr(s, '/');
		long long n, secs;
		char num[32];
		if (slash == NULL || (size_t)(slash - s) >= sizeof num) {
			config_error(k, src, s, "expected N/SECONDS, like 5/900");
			return -1;
		}
		memcpy(num, s, (size_t)(slash - s));
		num[slash - s] = '\0';
		if (parse_ll(num, 1, 1000000, &n, &err) < 0 ||
		    parse_ll(slash + 1, 1, 31 * 86400, &secs, &err) < 0) {
			config_error(k, src, s, "expected N/SECONDS with N in 1..1000000 and SECONDS in 1..2678400");
			return -1;
		}
		r->n = (int)n;
		r->seconds = (int)secs;
		return 0;
	}
	case K_LIST: {
		struct strlist *l = field;
		char *copy = xstrdup(s), *save = NULL, *tok;
		strlist_clear(l);
		for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
			while (isspace((unsigned char)*tok))
				tok++;
			size_t len = strlen(tok);
			while (len > 0 && isspace((unsigned char)tok[len - 1]))
				tok[--len] = '\0';
			if (len == 0)
				continue;
			if (l->n == CONFIG_MAX_LIST || (long long)len > k->max) {
				config_error(k, src, NULL, l->n == CONFIG_MAX_LIST ?
				             "more than 16 entries" : "an entry is too long");
				secure_wipe_str(copy);
				free(copy);
				return -1;
			}
			l->v[l->n++] = xstrdup(tok);
		}
		secure_wipe_str(copy);
		free(copy);
		return 0;
	}
	}
	return -1;
}

/* JSON file values are typed: numbers are numbers, booleans booleans, lists arrays. */
static int key_set_json(struct config *cfg, const struct key *k, const cJSON *item)
{
	const char *src = "config file";
	char buf[64];
	long long whole;

	switch (k->type) {
	case K_INT:
		if (!cJSON_IsNumber(item) || !double_to_whole(item->valuedouble, &whole)) {
			config_error(k, src, NULL, "expected a whole number in %lld..%lld", k->min, k->max);
			return -1;
		}
		snprintf(buf, sizeof buf, "%lld", whole);
		return key_set_text(cfg, k, src, buf);
	case K_BOOL:
		if (!cJSON_IsBool(item)) {
			config_error(k, src, NULL, "expected true or false");
			return -1;
		}
		*(bool *)((char *)cfg + k->off) = cJSON_IsTrue(item);
		return 0;
	case K_LIST: {
		struct strlist *l = (struct strlist *)((char *)cfg + k->off);
		const cJSON *e;
		if (!cJSON_IsArray(item)) {
			config_error(k, src, NULL, "expected an array of strings");
			return -1;
		}
		strlist_clear(l);
		cJSON_ArrayForEach(e, item) {
			if (!cJSON_IsString(e) || e->valuestring[0] == '\0' ||
			    (long long)strlen(e->valuestring) > k->max || l->n == CONFIG_MAX_LIST) {
				config_error(k, src, NULL, "expected at most 16 non-empty strings of at most %lld characters", k->max);
				return -1;
			}
			l->v[l->n++] = xstrdup(e->valuestring);
		}
		return 0;
	}
	case K_STR:
	case K_ENUM:
	case K_RATE:
		if (cJSON_IsNull(item) && k->type == K_STR)
			return key_set_text(cfg, k, src, "");
		if (!cJSON_IsString(item)) {
			config_error(k, src, NULL, k->type == K_RATE ? "expected a string N/SECONDS"
			                                          : "expected a string");
			return -1;
		}
		return key_set_text(cfg, k, src, item->valuestring);
	}
	return -1;
}

static int config_load_file(struct config *cfg, const char *path)
{
	static const struct key file_key = { "config", K_STR, 0, NULL, 0, 0, NULL, false, NULL };
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t n;
	cJSON *root = NULL, *item;
	const char *parse_end = NULL;
	int rc = -1;

	if (f == NULL) {
		config_error(&file_key, path, NULL, "cannot open: %s", strerror(errno));
		return -1;
	}
	text = xmalloc(CONFIG_FILE_MAX + 1);
	n = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f) || n > CONFIG_FILE_MAX) {
		config_error(&file_key, path, NULL, ferror(f) ? "read error" : "larger than 1 MiB");
		goto out;
	}
	text[n] = '\0';
	/* require_null_terminated: nothing but whitespace may follow the object */
	root = cJSON_ParseWithOpts(text, &parse_end, 1);
	if (root != NULL && parse_end != text + n) {
		cJSON_Delete(root);
		root = NULL;
	}
	if (parse_end == NULL)
		parse_end = text;
	if (root == NULL || !cJSON_IsObject(root)) {
		config_error(&file_key, path, NULL, "not a JSON object (syntax error near byte %ld)",
		             (long)(parse_end - text));
		goto out;
	}
	cJSON_ArrayForEach(item, root) {
		const struct key *k = key_find(item->string);
		if (k == NULL) {
			fprintf(stderr, "mnmfa: config: %.80s (%s): unknown key\n", item->string, path);
			goto out;
		}
		if (key_set_json(cfg, k, item) < 0)
			goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	if (text != NULL) {
		explicit_bzero(text, n < CONFIG_FILE_MAX ? n : CONFIG_FILE_MAX);
		free(text);
	}
	fclose(f);
	return rc;
}

static const char *env_lookup(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (char **e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static void key_env_name(const struct key *k, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "MNMFA_");
	for (const char *p = k->name; *p != '\0' && o + 1 < len; p++)
		buf[o++] = (char)toupper((unsigned char)*p);
	buf[o] = '\0';
}

static void key_flag_name(const struct key *k, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "--");
	for (const char *p = k->name; *p != '\0' && o + 1 < len; p++)
		buf[o++] = *p == '_' ? '-' : *p;
	buf[o] = '\0';
}

/* --flag value | --flag=value; booleans also accept a bare --flag. */
static const struct key *flag_find(const char *arg, const char **inline_value)
{
	char name[64];
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

	*inline_value = eq ? eq + 1 : NULL;
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		key_flag_name(&keys[i], name, sizeof name);
		if (strlen(name) == len && strncmp(name, arg, len) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool is_http_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static int config_finish(struct config *cfg)
{
	const struct key *k;
	char buf[600];

	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->threads = n > 0 ? (int)(n > 64 ? 64 : n) : 2;
	}
	if (cfg->public_url == NULL) {
		snprintf(buf, sizeof buf, "https://localhost:%d", cfg->web_port);
		cfg->public_url = xstrdup(buf);
	} else {
		size_t n = strlen(cfg->public_url);
		k = key_find("public_url");
		if (!is_http_url(cfg->public_url)) {
			config_error(k, "effective", cfg->public_url, "expected an http(s):// URL");
			return -1;
		}
		while (n > 0 && cfg->public_url[n - 1] == '/')
			cfg->public_url[--n] = '\0';
	}
	if (cfg->whatsapp_number != NULL) {
		const char *p = cfg->whatsapp_number;
		size_t d = 0;
		k = key_find("whatsapp_number");
		if (*p == '+')
			p++;
		for (; *p != '\0'; p++) {
			if (!isdigit((unsigned char)*p) || d >= sizeof cfg->wa_digits - 1) {
				d = 0;
				break;
			}
			cfg->wa_digits[d++] = *p;
		}
		cfg->wa_digits[d] = '\0';
		if (d < 8 || d > 15) {
			config_error(k, "effective", cfg->whatsapp_number, "expected E.164, like +5215550000000");
			return -1;
		}
	}
	if (cfg->brand_color != NULL) {
		const char *c = cfg->brand_color;
		bool ok = strlen(c) == 7 && c[0] == '#';
		for (int i = 1; ok && i < 7; i++)
			ok = isxdigit((unsigned char)c[i]);
		if (!ok) {
			config_error(key_find("brand_color"), "effective", c, "expected #rrggbb");
			return -1;
		}
	}
	if ((cfg->chatfuel_bot_id == NULL) != (cfg->chatfuel_token == NULL)) {
		config_error(key_find(cfg->chatfuel_bot_id ? "chatfuel_token" : "chatfuel_bot_id"),
		             "effective", NULL, "chatfuel_bot_id and chatfuel_token must be set together");
		return -1;
	}
	if (!is_http_url(cfg->chatfuel_base_url)) {
		config_error(key_find("chatfuel_base_url"), "effective", cfg->chatfuel_base_url,
		             "expected an http(s):// URL");
		return -1;
	}
	if (cfg->webhook_url != NULL && !is_http_url(cfg->webhook_url)) {
		config_error(key_find("webhook_url"), "effective", cfg->webhook_url, "expected an http(s):// URL");
		return -1;
	}
	for (int i = 0; i < cfg->trusted_proxies.n; i++) {
		struct cidr c;
		if (cidr_parse(cfg->trusted_proxies.v[i], &c) != 0) {
			config_error(key_find("trusted_proxies"), "effective", cfg->trusted_proxies.v[i],
			             "expected IPv4/IPv6 addresses or CIDRs, like 10.0.0.0/8 or ::1");
			return -1;
		}
	}
	if (cfg->brand_logo != NULL) {
		const char *dot = strrchr(cfg->brand_logo, '.');
		if (dot == NULL || (strcasecmp(dot, ".svg") != 0 && strcasecmp(dot, ".png") != 0)) {
			config_error(key_find("brand_logo"), "effective", cfg->brand_logo, "expected an .svg or .png file");
			return -1;
		}
		if (access(cfg->brand_logo, R_OK) != 0) {
			config_error(key_find("brand_logo"), "effective", cfg->brand_logo, "cannot read the file");
			return -1;
		}
	}
	if (cfg->user != NULL && getpwnam(cfg->user) == NULL) {
		config_error(key_find("user"), "effective", cfg->user, "no such user on this system");
		return -1;
	}
	if (cfg->webhook_url != NULL && cfg->webhook_secret == NULL) {
		config_error(key_find("webhook_secret"), "effective", NULL, "required when webhook_url is set");
		return -1;
	}
	return 0;
}

int config_load(struct config *cfg, int argc, char **argv, char **envp)
{
	const char *file = env_lookup(envp, "MNMFA_CONFIG");
	char name[64];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (keys[i].def != NULL && key_set_text(cfg, &keys[i], "default", keys[i].def) < 0)
			return -1;

	/* --config is found first: the file layer sits below env and flags. */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "mnmfa: config: --config: expected a file name\n");
				return -1;
			}
			file = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
		}
	}
	if (file != NULL && *file != '\0' && config_load_file(cfg, file) < 0)
		return -1;

	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const char *v;
		key_env_name(&keys[i], name, sizeof name);
		v = env_lookup(envp, name);
		if (v != NULL && key_set_text(cfg, &keys[i], name, v) < 0)
			return -1;
	}

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *value;
		const struct key *k;
		if (strcmp(arg, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(arg, "--config=", 9) == 0)
			continue;
		k = flag_find(arg, &value);
		if (k == NULL) {
			/* Only the name: a mistyped --secret-key=VALUE, or a stray value
			 * (an api_keys list with a space in it), must not be echoed. */
			int namelen = (int)strcspn(arg, "=");
			char dashed[72];
			const char *ignored;
			snprintf(dashed, sizeof dashed, "--%.*s", namelen > 64 ? 64 : namelen, arg);
			if (arg[0] != '-' && flag_find(dashed, &ignored) != NULL)
				fprintf(stderr, "mnmfa: unexpected argument \"%.*s\" (did you mean %s?)\n",
				        namelen, arg, dashed);
			else if (arg[0] != '-')
				fprintf(stderr, "mnmfa: unexpected argument #%d (not an --option; see mnmfa --help)\n",
				        i + 1);
			else
				fprintf(stderr, "mnmfa: unknown option \"%.*s\" (see mnmfa --help)\n",
				        namelen > 80 ? 80 : namelen, arg);
			return -1;
		}
		if (value == NULL) {
			if (k->type == K_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
				value = "true";
			} else if (i + 1 >= argc) {
				config_error(k, "flag", NULL, "expected a value after the flag");
				return -1;
			} else {
				value = argv[++i];
			}
		}
		key_flag_name(k, name, sizeof name);
		if (key_set_text(cfg, k, name, value) < 0)
			return -1;
	}
	return config_finish(cfg);
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		void *field = (char *)cfg + keys[i].off;
		switch (keys[i].type) {
		case K_STR:
		case K_ENUM:
			if (*(char **)field != NULL) {
				if (keys[i].secret)
					secure_wipe_str(*(char **)field);
				free(*(char **)field);
				*(char **)field = NULL;
			}
			break;
		case K_LIST:
			strlist_clear(field);
			break;
		default:
			break;
		}
	}
}

static void key_format(const struct config *cfg, const struct key *k, char *buf, size_t len)
{
	const void *field = (const char *)cfg + k->off;
	const struct strlist *l;
	size_t o;

	switch (k->type) {
	case K_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		return;
	case K_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
		return;
	case K_RATE:
		snprintf(buf, len, "%d/%d", ((const struct rate *)field)->n, ((const struct rate *)field)->seconds);
		return;
	case K_STR:
	case K_ENUM: {
		const char *s = *(char *const *)field;
		snprintf(buf, len, "%s", s == NULL ? "(none)" : k->secret ? "(set, hidden)" : s);
		return;
	}
	case K_LIST:
		l = field;
		if (l->n == 0) {
			snprintf(buf, len, "(none)");
			return;
		}
		if (k->secret) {
			snprintf(buf, len, "(%d set, hidden)", l->n);
			return;
		}
		buf[0] = '\0';
		o = 0;
		for (int i = 0; i < l->n && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", l->v[i]);
		return;
	}
}

void config_print(const struct config *cfg, FILE *out)
{
	char buf[CONFIG_VALUE_MAX];

	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		key_format(cfg, &keys[i], buf, sizeof buf);
		fprintf(out, "%-18s = %s\n", keys[i].name, buf);
	}
}

void config_usage(FILE *out)
{
	char flag[64], env[64], arg[96];

	fprintf(out, "Configuration (flag > MNMFA_* environment > --config FILE (JSON) > default):\n");
	fprintf(out, "  %-28s %s\n", "--config FILE", "JSON file with any of the keys below (env MNMFA_CONFIG)");
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const struct key *k = &keys[i];
		key_flag_name(k, flag, sizeof flag);
		key_env_name(k, env, sizeof env);
		switch (k->type) {
		case K_INT: snprintf(arg, sizeof arg, "%s N", flag); break;
		case K_BOOL: snprintf(arg, sizeof arg, "%s BOOL", flag); break;
		case K_RATE: snprintf(arg, sizeof arg, "%s N/SECS", flag); break;
		case K_LIST: snprintf(arg, sizeof arg, "%s A,B", flag); break;
		default: snprintf(arg, sizeof arg, "%s VALUE", flag); break;
		}
		fprintf(out, "  %-28s %s", arg, k->help);
		if (k->def != NULL)
			fprintf(out, " [%s]", k->def);
		fprintf(out, "\n  %-28s env %s\n", "", env);
	}
}
