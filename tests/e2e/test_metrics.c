/*
 * test_metrics: /metrics as real monitoring reads it (issue 14). After real
 * traffic the scrape passes `promtool check metrics` (Debian's prometheus
 * package), request durations are histograms per port and route, the outbox
 * backlog and its oldest row's age are gauges that follow a Chatfuel outage,
 * and the certificate's expiry is the served certificate's notAfter. The
 * shipped alert rules pass `promtool check rules` and their own
 * `promtool test rules`, and every mnmfa metric they use is one the daemon
 * exposes.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

#define PROMTOOL "/usr/bin/promtool"
#define ALERTS "deploy/prometheus/alerts.yml"
#define ALERTS_TEST "deploy/prometheus/alerts_test.yml"
#define BACKLOG_POLL_MS 100
#define BACKLOG_WAIT_MS 10000
#define SCRAPE_WAIT_MS 10000        /* until every route has timed its request */

/* The value of the sample `series` (name with its labels, exactly as
 * rendered), or -1 when absent. */
static double sample(const char *body, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* The _count of the request-duration histogram of one port and route (-1
 * when absent). */
static double route_count(const char *body, const char *port, const char *route)
{
	char *series = h_printf("mnmfa_http_request_duration_seconds_count{port=\"%s\",route=\"%s\"}",
	                        port, route);
	double v = sample(body, series);
	free(series);
	return v;
}

/* A route that timed exactly one request: each finite bucket holds 1 when
 * its bound is at least the route's _sum (that request's duration, in whole
 * microseconds) and 0 below it; at least one finite bucket exists. */
static int check_single_buckets(struct t *t, const char *body, const char *port, const char *route)
{
	char *prefix = h_printf("mnmfa_http_request_duration_seconds_bucket{port=\"%s\",route=\"%s\",le=\"",
	                        port, route);
	char *sum_series = h_printf("mnmfa_http_request_duration_seconds_sum{port=\"%s\",route=\"%s\"}",
	                            port, route);
	size_t plen = strlen(prefix);
	double count = route_count(body, port, route), sum = sample(body, sum_series);
	long long sum_us = llround(sum * 1e6);
	int finite = 0, rc = 0;

	if (count != 1 || sum < 0) {
		FAILF(t, "expected one request timed on %s %s with a _sum, got count %g, sum %g", port, route,
		      count, sum);
		rc = -1;
	}
	for (const char *p = body; rc == 0 && p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, prefix, plen) != 0 || strncmp(p + plen, "+Inf", 4) == 0)
			continue;
		char *end;
		double le = strtod(p + plen, &end);
		const char *val = strstr(end, "} ");
		double got = val ? strtod(val + 2, NULL) : -1, want = llround(le * 1e6) >= sum_us ? 1 : 0;
		finite++;
		if (got != want) {
			FAILF(t, "expected the bucket le=\"%g\" of %s %s to hold %g (its one request took %lld us), got %g",
			      le, port, route, want, sum_us, got);
			rc = -1;
		}
	}
	if (rc == 0 && finite == 0) {
		FAILF(t, "expected finite buckets for %s %s, got none", port, route);
		rc = -1;
	}
	free(prefix);
	free(sum_series);
	return rc;
}

static char *scrape(struct t *t, struct daemon *d)
{
	struct resp rs;
	if (d_api(d, "GET", "/metrics", NULL, NULL, &rs) != 0)
		return NULL;
	char *body = rs.status == 200 ? h_strdup(rs.body) : NULL;
	if (body == NULL)
		FAILF(t, "expected GET /metrics 200, got %ld", rs.status);
	resp_free(&rs);
	return body;
}

/* Runs promtool with args through sh (stdin from `in` when not NULL). */
static int promtool(struct t *t, const char *args, const char *in, char **out)
{
	if (access(PROMTOOL, X_OK) != 0) {
		FAILF(t, "expected %s (Debian package prometheus, scripts/install-deps), got none", PROMTOOL);
		return -1;
	}
	char *cmd = in ? h_printf("%s %s < '%s' 2>&1", PROMTOOL, args, in) : h_printf("%s %s 2>&1", PROMTOOL, args);
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	char *err = NULL;
	int rc = h_run_prog(t, argv, NULL, out, &err);
	free(err);
	free(cmd);
	return rc;
}

/* notAfter of a PEM certificate, by openssl(1), as Unix seconds; -1 on error. */
static long long cert_not_after(struct t *t, const char *pem)
{
	const char *argv[] = { "/usr/bin/openssl", "x509", "-noout", "-enddate", "-in", pem, NULL };
	char *out = NULL, *err = NULL;
	long long v = -1;
	struct tm tm = { 0 };
	if (h_run_prog(t, argv, NULL, &out, &err) == 0 && out && strncmp(out, "notAfter=", 9) == 0) {
		const char *end = strptime(out + 9, "%b %d %H:%M:%S %Y GMT", &tm);
		if (end != NULL)
			v = (long long)timegm(&tm);
	}
	free(out);
	free(err);
	return v;
}

static void test_promtool_lint(struct t *t)
{
	struct fake_cf *f = NULL;
	struct daemon *d = mfa_start_default(t, &f);
	REQUIRE(t, d);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-m1", "5215557000001", "FlowM", "1977-03-03", true, &m) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-m2", "5215557000002", "FlowM", "1977-03-03", NULL, NULL, 0, &m) == 0);
	struct resp rs;
	REQUIRE(t, d_web(d, "GET", "/static/app.css", NULL, NULL, &rs) == 0);
	resp_free(&rs);
	REQUIRE(t, d_web(d, "GET", "/nothing/here", NULL, NULL, &rs) == 0);
	resp_free(&rs);
	REQUIRE(t, fake_wait(f, 1, H_CALL_TIMEOUT_MS) == 1);

	static const char *const routes[][2] = {
		{ "api", "/generate_dynamic_page" }, { "api", "/v1/challenges" }, { "api", "/healthz" },
		{ "web", "/{page_id}" }, { "web", "/validate_answer" }, { "web", "/static/*" },
		{ "web", "other" },
	};
	/* A request is timed when its answer has been sent (MHD's completion
	 * callback), which may run after the client has read it: the scrape is
	 * repeated, within a deadline, until every route has counted its request. */
	char *body = NULL;
	long long until = h_mono_ms() + SCRAPE_WAIT_MS;
	for (;;) {
		body = scrape(t, d);
		REQUIRE(t, body);
		size_t i = 0;
		while (i < sizeof(routes) / sizeof(routes[0]) && route_count(body, routes[i][0], routes[i][1]) >= 1)
			i++;
		if (i == sizeof(routes) / sizeof(routes[0]) || h_mono_ms() > until)
			break;
		free(body);
		h_sleep_ms(BACKLOG_POLL_MS);
	}
	char *path = h_printf("%s/metrics.txt", t->dir);
	REQUIRE(t, h_write_file(path, body, strlen(body)) == 0);
	char *out = NULL;
	int rc = promtool(t, "check metrics", path, &out);
	free(path);
	BAIL(t);
	EXPECT(t, rc == 0 && (out == NULL || out[0] == '\0'),
	       "expected `promtool check metrics` to pass silently, got %d:\n%.1500s", rc, out ? out : "");
	free(out);

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		char *cnt = h_printf("mnmfa_http_request_duration_seconds_count{port=\"%s\",route=\"%s\"}",
		                     routes[i][0], routes[i][1]);
		char *inf = h_printf("mnmfa_http_request_duration_seconds_bucket{port=\"%s\",route=\"%s\",le=\"+Inf\"}",
		                     routes[i][0], routes[i][1]);
		double c = sample(body, cnt), b = sample(body, inf);
		free(cnt);
		free(inf);
		EXPECT(t, c >= 1 && b == c, "expected >= 1 request timed on %s %s with +Inf bucket = count, got count %g, +Inf %g",
		       routes[i][0], routes[i][1], c, b);
	}
	/* The one mint is in exactly the buckets whose bound is at least its
	 * duration (the route's _sum, whatever the machine's speed). */
	REQUIRE(t, check_single_buckets(t, body, "api", "/generate_dynamic_page") == 0);
	EXPECT(t, !h_contains(body, "/nothing/here"), "expected no raw request path as a label, got one");

	long long want = cert_not_after(t, d->cert_path);
	BAIL(t);
	double got = sample(body, "mnmfa_tls_certificate_expiry_timestamp_seconds");
	EXPECT(t, want > 0 && got == (double)want,
	       "expected mnmfa_tls_certificate_expiry_timestamp_seconds %lld (the certificate's notAfter), got %.0f",
	       want, got);
	EXPECT(t, sample(body, "mnmfa_result_max_age_seconds") == 900,
	       "expected mnmfa_result_max_age_seconds 900 (the default), got %g",
	       sample(body, "mnmfa_result_max_age_seconds"));
	free(body);
}

static void test_backlog_gauges(struct t *t)
{
	/* Chatfuel unreachable at first (a closed port): results stay pending. */
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-b1", "5215557000011", "FlowB", "1979-09-19", true, &m) == 0);
	REQUIRE(t, mfa_mint_and_answer(d, "cid-b2", "5215557000012", "FlowB", "1979-09-19", false, &m) == 0);
	long long t0 = h_mono_ms();
	h_sleep_ms(1200);
	char *body = scrape(t, d);
	REQUIRE(t, body);
	double pending = sample(body, "mnmfa_outbox_pending_results");
	double age = sample(body, "mnmfa_outbox_oldest_pending_age_seconds");
	double waited = (double)(h_mono_ms() - t0) / 1000.0;
	free(body);
	EXPECT(t, pending == 2, "expected 2 pending results while Chatfuel is down, got %g", pending);
	EXPECT(t, age >= 1.0 && age <= waited + 5.0,
	       "expected the oldest pending result about %.1f s old, got %g", waited, age);
	REQUIRE(t, d_stop(d) == 0);

	/* Chatfuel back: the backlog drains and both gauges return to 0. */
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	char *base = h_printf("http://127.0.0.1:%d", fake_port(f));
	d_set_str(d, "chatfuel_base_url", base);
	free(base);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, fake_wait(f, 2, H_CALL_TIMEOUT_MS) == 2);
	long long end = h_mono_ms() + BACKLOG_WAIT_MS;
	for (;;) {
		body = scrape(t, d);
		REQUIRE(t, body);
		pending = sample(body, "mnmfa_outbox_pending_results");
		age = sample(body, "mnmfa_outbox_oldest_pending_age_seconds");
		free(body);
		if ((pending == 0 && age == 0) || h_mono_ms() > end)
			break;
		h_sleep_ms(BACKLOG_POLL_MS);
	}
	EXPECT(t, pending == 0 && age == 0, "expected the backlog drained (0 pending, age 0), got %g pending, age %g",
	       pending, age);
}

static void test_alert_rules(struct t *t)
{
	char *out = NULL;
	int rc = promtool(t, "check rules " ALERTS, NULL, &out);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `promtool check rules %s` to pass, got %d:\n%.1500s", ALERTS, rc, out ? out : "");
	free(out);
	rc = promtool(t, "test rules " ALERTS_TEST, NULL, &out);
	BAIL(t);
	EXPECT(t, rc == 0, "expected `promtool test rules %s` to pass, got %d:\n%.2000s", ALERTS_TEST, rc, out ? out : "");
	free(out);

	/* Every mnmfa_ metric the rules use is exposed (but the Redis one: only
	 * a daemon with redis_url exposes it, and this one keeps its store in memory). */
	char *rules = h_read_file(ALERTS, NULL);
	EXPECT(t, rules != NULL, "expected %s, got none", ALERTS);
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);
	char *body = scrape(t, d);
	REQUIRE(t, body);
	int used = 0;
	for (const char *p = rules; (p = strstr(p, "mnmfa_")) != NULL;) {
		char name[128];
		size_t n = 0;
		while (n + 1 < sizeof(name) && (isalnum((unsigned char)p[n]) || p[n] == '_'))
			name[n] = p[n], n++;
		name[n] = '\0';
		p += n;
		if (strcmp(name, "mnmfa_redis_up") == 0)
			continue;
		char *type = h_printf("# TYPE %s ", name);
		bool base = h_contains(body, type);
		free(type);
		/* histograms are used through their _bucket/_sum/_count series */
		char *hist = NULL;
		if (!base && (hist = strstr(name, "_bucket")) != NULL)
			*hist = '\0';
		type = h_printf("# TYPE %s ", name);
		bool found = base || h_contains(body, type);
		free(type);
		used++;
		EXPECT(t, found, "expected the metric %s used by %s in /metrics, got none", name, ALERTS);
	}
	EXPECT(t, used >= 4, "expected the rules to use >= 4 mnmfa metrics, got %d", used);
	free(body);
	free(rules);
}

const struct test e2e_tests_metrics[] = {
	{ "metrics_pass_promtool_with_route_histograms", test_promtool_lint, NULL },
	{ "metrics_outbox_backlog_gauges_follow_an_outage", test_backlog_gauges, NULL },
	{ "metrics_alert_rules_check_and_test", test_alert_rules, NULL },
	{ NULL, NULL, NULL },
};
