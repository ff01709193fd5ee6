/*
 * config: one table of keys (config_keys.c) drives defaults, the JSON config
 * file, MNMFA_* environment variables, --flags, --help and check-config;
 * this file loads, prints and documents them. Loading goes
 * through layers (default < file < env < flag); each layer calls the same
 * setter, so a value is validated the same way wherever it came from, and an
 * error names the key, the bad value (unless secret) and what is expected.
 */
#include "config.h"
#include "store_redis.h"
#include "config_keys.h"
#include "fileio.h"
#include "log.h"
#include "url.h"
#include "util.h"
#include "validate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_VALUE_MAX 4096

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
	if (k->secret || value == NULL) {
		fprintf(stderr, "mnmfa: config: %s (%s): %s\n", k->name, src, why);
	} else {
		char shown[CONFIG_VALUE_MAX];
		url_mask(value, shown, sizeof shown);     /* a URL's credentials stay hidden */
		fprintf(stderr, "mnmfa: config: %s (%s): invalid value \"%.80s\": %s\n", k->name, src,
		        shown, why);
	}
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
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

int config_name_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* "a|b|c" */
static void names_join(const char *const *names, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; names[i] != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "|" : "", names[i]);
}

/* Sets one key from its text form; every source ends here. */
static int key_set_text(struct config *cfg, const struct key *k, const char *src, const char *s)
{
	void *field = (char *)cfg + k->off;
	long long v;
	const char *err;

	switch (k->kind) {
	case K_INT:
		if (parse_ll(s, k->lo, k->hi, &v, &err) < 0) {
			config_error(k, src, s, "%s: expected a whole number in %lld..%lld", err,
			             k->lo, k->hi);
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
		int i = config_name_index(k->names, s);
		char choices[128];
		if (i >= 0) {
			*(int *)field = i;
			return 0;
		}
		names_join(k->names, choices, sizeof choices);
		config_error(k, src, s, "expected one of %s", choices);
		return -1;
	}
	case K_STR:
		if (strlen(s) > k->len_max) {
			config_error(k, src, s, "longer than %zu characters", k->len_max);
			return -1;
		}
		if (k->required && s[0] == '\0') {
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
		if (parse_ll(num, 1, RATE_N_MAX, &n, &err) < 0 ||
		    parse_ll(slash + 1, 1, RATE_SECONDS_MAX, &secs, &err) < 0) {
			config_error(k, src, s, "expected N/SECONDS with N in 1..%d and SECONDS in 1..%d",
			             RATE_N_MAX, RATE_SECONDS_MAX);
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
			if (l->n == CONFIG_MAX_LIST || len > k->len_max) {
				if (l->n == CONFIG_MAX_LIST)
					config_error(k, src, NULL, "more than %d entries", CONFIG_MAX_LIST);
				else
					config_error(k, src, NULL, "an entry is longer than %zu characters", k->len_max);
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

	switch (k->kind) {
	case K_INT:
		if (!cJSON_IsNumber(item) || !double_to_whole(item->valuedouble, &whole)) {
			config_error(k, src, NULL, "expected a whole number in %lld..%lld", k->lo, k->hi);
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
			    strlen(e->valuestring) > k->len_max || l->n == CONFIG_MAX_LIST) {
				config_error(k, src, NULL, "expected at most %d non-empty strings of at most %zu characters",
				             CONFIG_MAX_LIST, k->len_max);
				return -1;
			}
			l->v[l->n++] = xstrdup(e->valuestring);
		}
		return 0;
	}
	case K_STR:
	case K_ENUM:
	case K_RATE:
		if (cJSON_IsNull(item) && k->kind == K_STR)
			return key_set_text(cfg, k, src, "");
		if (!cJSON_IsString(item)) {
			config_error(k, src, NULL, k->kind == K_RATE ? "expected a string N/SECONDS"
			                                          : "expected a string");
			return -1;
		}
		return key_set_text(cfg, k, src, item->valuestring);
	}
	return -1;
}

static int config_load_file(struct config *cfg, const char *path)
{
	static const struct key file_key = { .name = "config", .kind = K_STR };
	char err[512], *text;
	size_t n;
	cJSON *root = NULL, *item;
	const char *parse_end = NULL;
	int rc = -1;

	text = file_read_capped(path, CONFIG_FILE_MAX, &n, err, sizeof err);
	if (text == NULL) {
		config_error(&file_key, "file", NULL, "%s", err);
		return -1;
	}
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
	explicit_bzero(text, n);          /* the file may hold secrets */
	free(text);
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
	for (size_t i = 0; i < config_nkeys; i++) {
		key_flag_name(&config_keys[i], name, sizeof name);
		if (strlen(name) == len && strncmp(name, arg, len) == 0)
			return &config_keys[i];
	}
	return NULL;
}

/* Runs a key's check on its effective value (each entry of a list). */
static int key_check(const struct config *cfg, const struct key *k)
{
	const void *field = (const char *)cfg + k->off;
	const char *why;

	if (k->check == NULL)
		return 0;
	if (k->kind == K_LIST) {
		const struct strlist *l = field;
		for (int i = 0; i < l->n; i++)
			if ((why = k->check(l->v[i])) != NULL) {
				config_error(k, "effective", l->v[i], "%s", why);
				return -1;
			}
		return 0;
	}
	if (*(char *const *)field == NULL || (why = k->check(*(char *const *)field)) == NULL)
		return 0;
	config_error(k, "effective", *(char *const *)field, "%s", why);
	return -1;
}

/* Derived values, per-key checks, then the rules between keys. */
static int config_finish(struct config *cfg)
{
	char buf[600];

	if (cfg->node_id == NULL) {
		char host[STORE_NODE_MAX + 1] = "";
		size_t n;
		if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
			snprintf(host, sizeof host, "node");
		n = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		host[n] = '\0';              /* a host name is already of these characters */
		cfg->node_id = xstrdup(host[0] != '\0' ? host : "node");
		cfg->node_id_is_host = true;
	}
	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->threads = n > 0 ? (int)(n > 64 ? 64 : n) : 2;
	}
	if (cfg->public_url == NULL) {
		snprintf(buf, sizeof buf, "https://localhost:%d", cfg->web_port);
		cfg->public_url = xstrdup(buf);
	}
	for (size_t i = 0; i < config_nkeys; i++)
		if (key_check(cfg, &config_keys[i]) < 0)
			return -1;
	for (size_t n = strlen(cfg->public_url); n > 0 && cfg->public_url[n - 1] == '/';)
		cfg->public_url[--n] = '\0';
	if (cfg->whatsapp_number != NULL) {          /* checked by its key: 8..15 digits */
		const char *digits;
		int n = validate_phone_digits(cfg->whatsapp_number, strlen(cfg->whatsapp_number), &digits);
		snprintf(cfg->wa_digits, sizeof cfg->wa_digits, "%.*s", n, digits);
	}
	if ((cfg->chatfuel_bot_id == NULL) != (cfg->chatfuel_token == NULL)) {
		config_error(key_find(cfg->chatfuel_bot_id ? "chatfuel_token" : "chatfuel_bot_id"),
		             "effective", NULL, "chatfuel_bot_id and chatfuel_token must be set together");
		return -1;
	}
	if (cfg->chatfuel_target == CHATFUEL_TARGET_BLOCK_ID && !nonempty(cfg->chatfuel_block_id)) {
		config_error(key_find("chatfuel_block_id"), "effective", NULL,
		             "required when chatfuel_target is block_id");
		return -1;
	}
	if (cfg->webhook_url != NULL && cfg->webhook_secret == NULL) {
		config_error(key_find("webhook_secret"), "effective", NULL, "required when webhook_url is set");
		return -1;
	}
	if (cfg->audit_anchor_url != NULL && cfg->webhook_secret == NULL) {
		config_error(key_find("webhook_secret"), "effective", NULL,
		             "required when audit_anchor_url is set (it signs the posted heads)");
		return -1;
	}
	if ((cfg->redis_sentinels.n > 0) != (cfg->redis_master != NULL)) {
		config_error(key_find(cfg->redis_master ? "redis_sentinels" : "redis_master"), "effective", NULL,
		             "redis_sentinels and redis_master must be set together");
		return -1;
	}
	return 0;
}

int config_load(struct config *cfg, int argc, char **argv, char **envp)
{
	const char *file = env_lookup(envp, "MNMFA_CONFIG");
	char name[64];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].def != NULL && key_set_text(cfg, &config_keys[i], "default", config_keys[i].def) < 0)
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

	for (size_t i = 0; i < config_nkeys; i++) {
		const char *v;
		key_env_name(&config_keys[i], name, sizeof name);
		v = env_lookup(envp, name);
		if (v != NULL && key_set_text(cfg, &config_keys[i], name, v) < 0)
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
			if (k->kind == K_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
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
	for (size_t i = 0; i < config_nkeys; i++) {
		void *field = (char *)cfg + config_keys[i].off;
		switch (config_keys[i].kind) {
		case K_STR:
			if (*(char **)field != NULL) {
				if (config_keys[i].secret)
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

	switch (k->kind) {
	case K_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		return;
	case K_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
		return;
	case K_RATE:
		snprintf(buf, len, "%d/%d", ((const struct rate *)field)->n, ((const struct rate *)field)->seconds);
		return;
	case K_ENUM:
		snprintf(buf, len, "%s", k->names[*(const int *)field]);
		return;
	case K_STR: {
		const char *s = *(char *const *)field;
		if (s != NULL && !k->secret)
			url_mask(s, buf, len);              /* user:password@ and ?query hidden */
		else
			snprintf(buf, len, "%s", s == NULL ? "(none)" : "(set, hidden)");
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

	for (size_t i = 0; i < config_nkeys; i++) {
		key_format(cfg, &config_keys[i], buf, sizeof buf);
		fprintf(out, "%-18s = %s\n", config_keys[i].name, buf);
	}
}

void config_usage(FILE *out)
{
	char flag[64], env[64], arg[160], choices[64];

	fprintf(out, "Configuration (flag > MNMFA_* environment > --config FILE (JSON) > default):\n");
	fprintf(out, "  %-28s %s\n", "--config FILE", "JSON file with any of the keys below (env MNMFA_CONFIG)");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct key *k = &config_keys[i];
		key_flag_name(k, flag, sizeof flag);
		key_env_name(k, env, sizeof env);
		switch (k->kind) {
		case K_INT: snprintf(arg, sizeof arg, "%s N", flag); break;
		case K_BOOL: snprintf(arg, sizeof arg, "%s BOOL", flag); break;
		case K_RATE: snprintf(arg, sizeof arg, "%s N/SECS", flag); break;
		case K_LIST: snprintf(arg, sizeof arg, "%s A,B", flag); break;
		case K_ENUM:
			names_join(k->names, choices, sizeof choices);
			snprintf(arg, sizeof arg, "%s %s", flag, choices);
			break;
		default: snprintf(arg, sizeof arg, "%s VALUE", flag); break;
		}
		if (strlen(arg) >= 28)
			fprintf(out, "  %s\n  %-28s %s", arg, "", k->help);
		else
			fprintf(out, "  %-28s %s", arg, k->help);
		if (k->def != NULL)
			fprintf(out, " [%s]", k->def);
		fprintf(out, "\n  %-28s env %s\n", "", env);
	}
}
