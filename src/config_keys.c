/*
 * config_keys: the one table of configuration keys, one line a key, with the
 * per-key checks of an effective value. Every default is written here once;
 * modules read the loaded struct config, never a default of their own.
 */
#include "config.h"
#include "config_keys.h"
#include "redis.h"
#include "store_redis.h"
#include "url.h"
#include "util.h"
#include "validate.h"

#include <ctype.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The per-key checks of an effective value: NULL if fine, else what was expected. */
static const char *check_http_url(const char *s)
{
	if (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0)
		return NULL;
	return "expected an http(s):// URL";
}

/* Outbound URLs carry the Chatfuel token or a signed result: TLS, except to
 * this host (tests, a local proxy). */
static const char *check_outbound_url(const char *s)
{
	if (url_scheme_allowed(s))
		return NULL;
	if (strncasecmp(s, "http://", 7) == 0)
		return "http:// only to a loopback host (127.0.0.1, [::1], localhost); use https://";
	return "expected an https:// URL";
}

static const char *check_e164(const char *s)
{
	const char *digits;

	if (validate_phone_digits(s, strlen(s), &digits) < 0)
		return "expected E.164, like +5215550000000";
	return NULL;
}

static const char *check_color(const char *s)
{
	bool ok = strlen(s) == 7 && s[0] == '#';

	for (int i = 1; ok && i < 7; i++)
		ok = isxdigit((unsigned char)s[i]);
	return ok ? NULL : "expected #rrggbb";
}

static const char *check_cidr(const char *s)
{
	struct cidr c;

	if (cidr_parse(s, &c) != 0)
		return "expected IPv4/IPv6 addresses or CIDRs, like 10.0.0.0/8 or ::1";
	return NULL;
}

static const char *check_logo(const char *s)
{
	const char *dot = strrchr(s, '.');

	if (dot == NULL || (strcasecmp(dot, ".svg") != 0 && strcasecmp(dot, ".png") != 0))
		return "expected an .svg or .png file";
	if (access(s, R_OK) != 0)
		return "cannot read the file";
	return NULL;
}

static const char *check_user(const char *s)
{
	return getpwnam(s) == NULL ? "no such user on this system" : NULL;
}

static const char *check_redis_url(const char *s)
{
	struct redis_addr a;
	char err[128];
	int rc = redis_parse_url(s, &a, err, sizeof err);

	explicit_bzero(&a, sizeof a);
	return rc == 0 ? NULL : "expected redis://[user:password@]host:port/db or unix:///path?db=N";
}

static const char *check_hostport(const char *s)
{
	char host[REDIS_HOST_MAX];
	int port;

	return redis_parse_hostport(s, host, sizeof host, &port) == 0 ? NULL : "expected host:port";
}

static const char *check_node_id(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

	return n > 0 && s[n] == '\0' ? NULL : "expected letters, digits, '.', '-' or '_'";
}

#define F(f) offsetof(struct config, f)

/* One macro per kind; each names the field, which is also the key's name. */
#define KEY_STR(f, def_, len, check_, help_) \
	{ .name = #f, .kind = K_STR, .off = F(f), .def = def_, .len_max = len, .check = check_, .help = help_ }
#define KEY_STR_REQUIRED(f, def_, len, check_, help_) \
	{ .name = #f, .kind = K_STR, .off = F(f), .def = def_, .len_max = len, .required = true, \
	  .check = check_, .help = help_ }
#define KEY_SECRET(f, len, help_) \
	{ .name = #f, .kind = K_STR, .off = F(f), .len_max = len, .secret = true, .help = help_ }
#define KEY_INT(f, def_, lo_, hi_, help_) \
	{ .name = #f, .kind = K_INT, .off = F(f), .def = def_, .lo = lo_, .hi = hi_, .help = help_ }
#define KEY_BOOL(f, def_, help_) \
	{ .name = #f, .kind = K_BOOL, .off = F(f), .def = def_, .help = help_ }
#define KEY_RATE(f, def_, help_) \
	{ .name = #f, .kind = K_RATE, .off = F(f), .def = def_, .help = help_ }
#define KEY_ENUM(f, def_, names_, help_) \
	{ .name = #f, .kind = K_ENUM, .off = F(f), .def = def_, .names = names_, .help = help_ }
#define KEY_LIST(f, entry_len, check_, secret_, help_) \
	{ .name = #f, .kind = K_LIST, .off = F(f), .len_max = entry_len, .check = check_, \
	  .secret = secret_, .help = help_ }

#define URL_MAX 512
#define PHONE_TEXT_MAX 16           /* '+' and 15 digits */
#define PATH_MAX_LEN 4096
#define HOST_MAX 64

const char *const config_chatfuel_target_names[] = {
	[CHATFUEL_TARGET_FLOW] = "flow", [CHATFUEL_TARGET_BLOCK] = "block",
	[CHATFUEL_TARGET_BLOCK_ID] = "block_id", NULL
};
const char *const config_chatfuel_reply_names[] = {
	[CHATFUEL_REPLY_TEXT] = "text", [CHATFUEL_REPLY_BUTTON] = "button", NULL
};
const char *const config_lang_names[] = { [LANG_ES] = "es", [LANG_EN] = "en", NULL };
const char *const config_log_format_names[] = {
	[LOG_FORMAT_TEXT] = "text", [LOG_FORMAT_JSON] = "json", NULL
};

/* K_ENUM fields are written as int. */
_Static_assert(sizeof(enum chatfuel_target) == sizeof(int) &&
               sizeof(enum chatfuel_reply) == sizeof(int) && sizeof(enum lang) == sizeof(int) &&
               sizeof(enum log_format) == sizeof(int) && sizeof(enum log_level) == sizeof(int),
               "enum keys are int-sized");

const struct key config_keys[] = {
	KEY_STR(public_url, NULL, URL_MAX, check_http_url,
	        "base URL of the web port as users reach it (default https://localhost:<web_port>)"),
	KEY_STR(bind, "0.0.0.0", HOST_MAX, NULL, "address both ports listen on"),
	KEY_STR(api_bind, NULL, HOST_MAX, NULL, "address of the API port (overrides bind)"),
	KEY_STR(web_bind, NULL, HOST_MAX, NULL, "address of the web port (overrides bind)"),
	KEY_INT(web_port, "443", 1, 65535, "TLS web port serving challenge pages"),
	KEY_INT(api_port, "8000", 1, 65535, "API port"),
	KEY_BOOL(api_tls, "true", "serve the API port over TLS (false: plain HTTP behind a local proxy)"),
	KEY_STR_REQUIRED(tls_cert, "certs/cert.pem", PATH_MAX_LEN, NULL, "certificate chain (PEM); reloaded on SIGHUP"),
	KEY_STR_REQUIRED(tls_key, "certs/key.pem", PATH_MAX_LEN, NULL, "private key (PEM); reloaded on SIGHUP"),
	KEY_BOOL(tls_autogen, "true", "generate a self-signed pair when both files are missing"),
	KEY_INT(expiration, "60", CONFIG_EXPIRATION_MIN, CONFIG_EXPIRATION_MAX, "seconds a challenge page lives"),
	KEY_STR(whatsapp_number, NULL, PHONE_TEXT_MAX, check_e164, "business WhatsApp number in E.164 (+5215550000000)"),
	KEY_STR(chatfuel_bot_id, NULL, 128, NULL, "Chatfuel bot id (Broadcasting API)"),
	KEY_SECRET(chatfuel_token, 512, "Chatfuel Broadcasting API token"),
	KEY_STR_REQUIRED(chatfuel_base_url, "https://api.chatfuel.com", URL_MAX, check_outbound_url, "Chatfuel API base URL"),
	KEY_ENUM(chatfuel_target, "flow", config_chatfuel_target_names,
	         "send the result to a flow or a block named flow_name, or to the block chatfuel_block_id"),
	KEY_STR(chatfuel_block_id, NULL, 128, NULL, "with chatfuel_target=block_id: the block's id (survives renaming)"),
	KEY_ENUM(chatfuel_reply, "text", config_chatfuel_reply_names,
	         "format=chatfuel reply: a text message holding the link (every channel) or also a button (Messenger)"),
	KEY_INT(chatfuel_rps, "25", 1, 1000, "most Broadcasting API requests per second per bot"),
	KEY_BOOL(notify_on_expiry, "false", "also send user_validated=false on expiry/cancel"),
	KEY_STR(webhook_url, NULL, 1024, check_outbound_url, "optional JSON webhook receiving every result"),
	KEY_SECRET(webhook_secret, 512, "HMAC-SHA256 key signing the webhook"),
	KEY_LIST(api_keys, 256, NULL, true, "accepted API keys (none: loopback clients only)"),
	KEY_STR_REQUIRED(db_path, CONFIG_DEFAULT_DB_PATH, PATH_MAX_LEN, NULL, "SQLite file for the audit log and outbox"),
	KEY_LIST(trusted_proxies, HOST_MAX, check_cidr, false, "CIDRs whose X-Forwarded-For is believed"),
	KEY_INT(choices, "4", 2, 8, "candidate answers besides \"none of the options\""),
	KEY_INT(max_pending, "100000", 1, 100000000, "live challenges held at most (then 503)"),
	KEY_RATE(rate_phone, "5/900", "challenges a phone may mint per window (N/SECONDS)"),
	KEY_RATE(lockout, "3/86400", "failed answers per phone per window before lockout"),
	KEY_RATE(rate_ip, "60/60", "web requests per client IP per window"),
	KEY_STR(brand_name, NULL, 100, NULL, "business name shown on the page"),
	KEY_STR(brand_color, NULL, 7, check_color, "accent colour #rrggbb"),
	KEY_STR(brand_logo, NULL, PATH_MAX_LEN, check_logo, "local SVG/PNG file shown as the logo"),
	KEY_ENUM(lang, "es", config_lang_names, "default page language"),
	KEY_INT(threads, NULL, 1, 256, "worker threads per port (default: number of CPUs)"),
	KEY_ENUM(log_format, "text", config_log_format_names, "log lines as text or JSON"),
	KEY_ENUM(log_level, "info", log_level_names, "least severe level logged"),
	KEY_STR(user, NULL, HOST_MAX, check_user, "drop to this user after binding ports and reading keys"),
	KEY_INT(stop_timeout, "8", 1, 300, "seconds a stop may take in all (fits Docker's 10 s grace)"),
	KEY_INT(request_timeout, "10", 1, 300, "seconds a TLS handshake and a request's headers may take"),
	KEY_INT(connections_per_ip, "256", 1, 30000, "connections one client address may hold open on each port"),
	KEY_INT(answer_wait, "10", 1, 120, "seconds an answer waits for its evidence to be durable"),
	KEY_STR(audit_key, NULL, PATH_MAX_LEN, NULL,
	        "Ed25519 key signing the audit chain's checkpoints (default audit.key beside db_path)"),
	KEY_STR(audit_anchor_url, NULL, URL_MAX, check_outbound_url,
	        "optional: each signed chain head is POSTed here (signed with webhook_secret)"),
	KEY_INT(result_max_age, "900", 1, 86400, "seconds after the decision past which a result is not sent"),
	{ .name = "redis_url", .kind = K_STR, .off = F(redis_url), .len_max = URL_MAX, .secret = true,
	  .check = check_redis_url,
	  .help = "redis://[user:password@]host:port/db or unix:///path?db=N: challenges and limits shared by every node (none: in memory)" },
	KEY_LIST(redis_sentinels, HOST_MAX, check_hostport, false,
	         "Sentinel addresses (host:port) asked for the master, instead of redis_url's host"),
	KEY_STR(redis_master, NULL, HOST_MAX, NULL, "the master's name at the sentinels"),
	KEY_STR(node_id, NULL, STORE_NODE_MAX, check_node_id,
	        "this node's name in logs, metrics and audit rows (default: the host name)"),
};

const size_t config_nkeys = ARRAY_LEN(config_keys);
