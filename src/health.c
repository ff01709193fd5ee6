/*
 * health: `mnmfa health`, for HEALTHCHECK lines and probes that have no curl.
 * It loads the configuration exactly as serve does (flags, MNMFA_* variables,
 * the file), so a changed web_port or bind is followed, and asks /healthz on
 * the web port (TLS) and on the API port (TLS unless api_tls is false).
 *
 * Where it connects: the configured bind address, or loopback when the daemon
 * listens on every address (0.0.0.0 or ::). The certificate is not verified:
 * the peer is this machine's own port, nothing secret is sent, and only the
 * status is read; pinning tls_cert instead would turn a container unhealthy
 * between a certificate renewal on disk and the SIGHUP that loads it. Proxy
 * variables are ignored for the same reason: the daemon is local.
 */
#include "health.h"

#include "config.h"
#include "util.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HEALTH_TIMEOUT_MS 3000       /* both requests together, connect included */
#define HEALTH_BODY_MAX 1024         /* {"status":"ok"} or a short degraded report */
#define HEALTH_URL_MAX 128

extern char **environ;

struct health_body {
	char buf[HEALTH_BODY_MAX + 1];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct health_body *b = ud;
	size_t len = size * nmemb, room = HEALTH_BODY_MAX - b->len;
	size_t take = len < room ? len : room;

	memcpy(b->buf + b->len, p, take);
	b->len += take;
	b->buf[b->len] = '\0';
	return len;         /* past the cap the rest is read and dropped */
}

/* The address to ask: the bind address, loopback for a wildcard one. */
static void health_url(const char *bind, int port, bool tls, char *url, size_t len)
{
	const char *host = bind;
	struct in_addr a4;
	struct in6_addr a6;

	/* compared as addresses, not as text ("::" and "0::0" are the same wildcard) */
	if (bind[0] == '\0' || (inet_pton(AF_INET, bind, &a4) == 1 && a4.s_addr == htonl(INADDR_ANY)))
		host = "127.0.0.1";
	else if (inet_pton(AF_INET6, bind, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6))
		host = "::1";
	snprintf(url, len, "%s://%s%s%s:%d/healthz", tls ? "https" : "http",
	         strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
}

/* One GET within timeout_ms; 0 when it answered 200 {"status":"ok"}. */
static int health_ask(const char *url, long timeout_ms)
{
	struct health_body body = { .len = 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURL *easy;
	CURLcode rc;
	int ret = -1;

	if ((easy = curl_easy_init()) == NULL) {
		fprintf(stderr, "mnmfa health: %s: curl_easy_init failed\n", url);
		return -1;
	}
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
	if ((rc = curl_easy_perform(easy)) != CURLE_OK) {
		fprintf(stderr, "mnmfa health: %s: %s\n", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	cJSON *j = cJSON_Parse(body.buf);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (status == 200 && cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0) {
		printf("%s: ok\n", url);
		ret = 0;
	} else {
		fprintf(stderr, "mnmfa health: %s: HTTP %ld %.200s\n", url, status, body.buf);
	}
	cJSON_Delete(j);
out:
	curl_easy_cleanup(easy);
	return ret;
}

int health_cmd(int argc, char **argv)
{
	struct config cfg = { 0 };
	char web[HEALTH_URL_MAX], api[HEALTH_URL_MAX];
	int64_t deadline;
	int ret = 1;

	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: mnmfa health [--config FILE] [--KEY VALUE]...\n"
			       "Loads the configuration as serve does and asks /healthz on this machine's\n"
			       "web and API ports (certificate not verified: the daemon is local), within\n"
			       "%d ms. Exit 0 when both answer 200 {\"status\":\"ok\"}; 1 otherwise, a bad\n"
			       "configuration included.\n", HEALTH_TIMEOUT_MS);
			return 0;
		}
	if (config_load(&cfg, argc, argv, environ) < 0)
		goto out;
	health_url(cfg.web_bind ? cfg.web_bind : cfg.bind, cfg.web_port, true, web, sizeof web);
	health_url(cfg.api_bind ? cfg.api_bind : cfg.bind, cfg.api_port, cfg.api_tls, api, sizeof api);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "mnmfa health: curl_global_init failed\n");
		goto out;
	}
	deadline = mono_ms() + HEALTH_TIMEOUT_MS;
	if (health_ask(web, HEALTH_TIMEOUT_MS) == 0 && mono_ms() < deadline &&
	    health_ask(api, (long)(deadline - mono_ms())) == 0)
		ret = 0;
	curl_global_cleanup();
out:
	config_free(&cfg);
	return ret;
}
