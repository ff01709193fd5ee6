/*
 * test_metrics: the request-duration histograms and the sampled gauges as
 * /metrics renders them: each request lands in the first bucket whose bound
 * it does not exceed (bounds inclusive, as Prometheus' le), buckets are
 * cumulative, +Inf equals _count, _sum is in seconds, MR_NONE is not
 * recorded, and the certificate gauge is left out while its expiry is unknown.
 */
#include "unit.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES "mnmfa_http_request_duration_seconds"
#define WEB_ANSWER "port=\"web\",route=\"/validate_answer\""

/* The value of the exact series line `series value`, or -1. */
static double value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static double bucket(const char *text, const char *labels, const char *le)
{
	char s[256];

	snprintf(s, sizeof s, SERIES "_bucket{%s,le=\"%s\"}", labels, le);
	return value(text, s);
}

static void test_histogram_buckets(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_sample s = { 0 };
	char *text;

	(void)state;
	metrics_observe_request(m, MR_WEB_ANSWER, 400);          /* 0.4 ms */
	metrics_observe_request(m, MR_WEB_ANSWER, 500);          /* exactly 0.5 ms: le is inclusive */
	metrics_observe_request(m, MR_WEB_ANSWER, 1000000);      /* 1 s */
	metrics_observe_request(m, MR_WEB_ANSWER, 20000000);     /* 20 s: +Inf only */
	metrics_observe_request(m, MR_NONE, 1000);               /* never reached a handler */
	metrics_observe_request(m, MR_API_MINT_SEED, -5);        /* clock oddity: counts as 0 */
	text = metrics_render(m, &s);

	assert_true(bucket(text, WEB_ANSWER, "0.0005") == 2);
	assert_true(bucket(text, WEB_ANSWER, "0.5") == 2);
	assert_true(bucket(text, WEB_ANSWER, "1") == 3);
	assert_true(bucket(text, WEB_ANSWER, "10") == 3);
	assert_true(bucket(text, WEB_ANSWER, "+Inf") == 4);
	assert_true(value(text, SERIES "_count{" WEB_ANSWER "}") == 4);
	assert_true(value(text, SERIES "_sum{" WEB_ANSWER "}") > 21.0008 &&
	            value(text, SERIES "_sum{" WEB_ANSWER "}") < 21.0010);
	assert_true(value(text, SERIES "_count{port=\"api\",route=\"/generate_dynamic_page\"}") == 1);
	assert_true(value(text, SERIES "_count{port=\"web\",route=\"/\"}") == 0);
	assert_non_null(strstr(text, "# TYPE " SERIES " histogram\n"));
	free(text);
	metrics_free(m);
}

static void test_gauges(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_sample s = { .outbox_pending = 3, .outbox_oldest_age_s = 12.5 };
	char *text;

	(void)state;
	text = metrics_render(m, &s);
	assert_true(value(text, "mnmfa_outbox_pending_results") == 3);
	assert_true(value(text, "mnmfa_outbox_oldest_pending_age_seconds") == 12.5);
	assert_null(strstr(text, "mnmfa_tls_certificate_expiry_timestamp_seconds"));
	free(text);
	s.tls_not_after_s = 1900000000;
	text = metrics_render(m, &s);
	assert_true(value(text, "mnmfa_tls_certificate_expiry_timestamp_seconds") == 1900000000);
	free(text);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_gauges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
