/*
 * config: the effective configuration. One table of keys (config_keys.c) drives the
 * defaults, the JSON file, MNMFA_* environment variables, --flags, --help and
 * check-config. Precedence: flag > environment > file > default.
 */
#ifndef MNMFA_CONFIG_H
#define MNMFA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lang.h"
#include "log.h"

#define CONFIG_MAX_LIST 16        /* api_keys, trusted_proxies */
#define CONFIG_EXPIRATION_MIN 10
#define CONFIG_EXPIRATION_MAX 600
#define CONFIG_DEFAULT_DB_PATH "logs.db" /* db_path's default, for the audit commands too */

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum chatfuel_target { CHATFUEL_TARGET_FLOW, CHATFUEL_TARGET_BLOCK, CHATFUEL_TARGET_BLOCK_ID };
enum chatfuel_reply { CHATFUEL_REPLY_TEXT, CHATFUEL_REPLY_BUTTON };

/* The names of each enum key's values, indexed by value, NULL-terminated; the
 * key table parses and prints through them. */
extern const char *const config_chatfuel_target_names[];
extern const char *const config_chatfuel_reply_names[];
extern const char *const config_lang_names[];
extern const char *const config_log_format_names[];
/* log_level's names are log.h's log_level_names. */

struct rate {                     /* "N/SECONDS" */
	int n;
	int seconds;
};

struct strlist {
	int n;
	char *v[CONFIG_MAX_LIST];
};

struct config {
	char *public_url;
	char *bind, *api_bind, *web_bind;
	int web_port, api_port;
	bool api_tls;
	char *tls_cert, *tls_key;
	bool tls_autogen;
	int expiration;
	char *whatsapp_number;         /* E.164 as configured */
	char *chatfuel_bot_id, *chatfuel_token, *chatfuel_base_url;
	enum chatfuel_target chatfuel_target;
	char *chatfuel_block_id;       /* with chatfuel_target=block_id */
	enum chatfuel_reply chatfuel_reply; /* format=chatfuel: text, or text and a button */
	int chatfuel_rps;
	bool notify_on_expiry;
	char *webhook_url, *webhook_secret;
	struct strlist api_keys;
	char *db_path;
	struct strlist trusted_proxies;
	int choices;
	int max_pending;
	struct rate rate_phone, lockout, rate_ip;
	char *brand_name, *brand_color, *brand_logo;
	enum lang lang;                /* default page language */
	int threads;
	enum log_format log_format;
	enum log_level log_level;
	char *user;
	int stop_timeout;              /* seconds a stop may take in all */
	int request_timeout;           /* seconds for a TLS handshake and a request's headers */
	int connections_per_ip;        /* open connections per client address, per port */
	int answer_wait;               /* seconds an answer waits for durable evidence */
	int result_max_age;            /* seconds after the decision a result is still sent */
	char *redis_url;               /* none: the in-memory store */
	struct strlist redis_sentinels;
	char *redis_master;
	char *node_id;                 /* default: the host name */
	bool node_id_is_host;          /* node_id was not set: it is the host name */
	char *audit_key;               /* NULL: audit.key beside db_path (checkpoint_key_path) */
	char *audit_anchor_url;        /* NULL: no anchor (anchor.c) */

	char wa_digits[16];            /* derived: whatsapp_number without '+' */
};

/* Fills cfg from defaults, the config file (--config / MNMFA_CONFIG), the
 * environment and argv (flags only; argv[0] is the first flag, not the program).
 * On error prints one line naming the key to stderr and returns -1; the caller
 * exits 2. Unknown flags and unknown file keys are errors. */
int config_load(struct config *cfg, int argc, char **argv, char **envp);
void config_free(struct config *cfg);

/* Writes "key = value" for every key, secrets masked. */
void config_print(const struct config *cfg, FILE *out);
/* Writes the flag reference for --help. */
void config_usage(FILE *out);

/* The index of s in a NULL-terminated names array (config_*_names), or -1. */
int config_name_index(const char *const *names, const char *s);

#endif
