/*
 * test_harness: the suite's own parts, without the daemon -- the fake Chatfuel
 * server records what a correct client sends, and the HTML/date readers parse
 * what the page contract allows. If these fail, nothing else can be believed.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

static void test_fake_records_broadcast_call(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	char *flow = h_urlenc("Paso 2 & más=sí");
	char *url = h_printf("%s/bots/%s/users/cid:1/send?chatfuel_token=%s&chatfuel_flow_name=%s&user_validated=true"
	                      "&mfa_page_id=AAAAAAAAAAAAAAAAAAAAAA&mfa_status=approved",
	                     fake_base_url(f), H_BOT_ID, H_TOKEN, flow);
	free(flow);
	struct req rq = { .method = "POST", .url = url, .ctype = "application/json", .body = "{}" };
	struct resp rs;
	int rc = h_http(t, &rq, &rs);
	free(url);
	REQUIRE(t, rc == 0);
	EXPECT_INT(t, "fake status", 200, rs.status);
	cJSON *j = resp_json(t, &rs);
	REQUIRE(t, j);
	EXPECT(t, cJSON_IsTrue(cJSON_GetObjectItem(j, "success")),
	       "expected {\"success\": true}, got %s", rs.body);
	cJSON_Delete(j);
	resp_free(&rs);
	EXPECT_INT(t, "recorded calls", 1, fake_wait(f, 1, 2000));
	const struct fake_call *c = fake_call(f, 0);
	REQUIRE(t, mfa_check_call(t, c, "cid:1", "Paso 2 & más=sí", true, false) == 0);
	EXPECT_STR(t, "body", "{}", c->body);
	EXPECT_INT(t, "calls after a quiet window", 1, fake_quiet(f, 200));
}

static void test_fake_scripted_failure(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	fake_fail_next(f, 503, 1);
	char *url = h_printf("%s/x?a=1&b", fake_base_url(f));
	struct req rq = { .method = "POST", .url = url, .ctype = "application/json", .body = "{}" };
	struct resp rs;
	REQUIRE(t, h_http(t, &rq, &rs) == 0);
	EXPECT_INT(t, "first status", 503, rs.status);
	resp_free(&rs);
	REQUIRE(t, h_http(t, &rq, &rs) == 0);
	EXPECT_INT(t, "second status", 200, rs.status);
	resp_free(&rs);
	free(url);
	EXPECT_INT(t, "calls", 2, fake_count(f));
	EXPECT_STR(t, "arg a", "1", fake_arg(fake_call(f, 0), "a"));
	EXPECT(t, fake_has_arg(fake_call(f, 0), "b"), "expected arg b recorded, got none");
	EXPECT_INT(t, "answered", 503, fake_call(f, 0)->answered);
}

static void test_html_reader(struct t *t)
{
	const char *html =
		"<!doctype html><FORM action='/validate_answer' METHOD=POST class=x>"
		"<input name=\"page_id\" type=\"hidden\" value=\"abc&amp;d\">"
		"<label><input type=radio value=\"1990-01-02\" name=respuesta> a</label>"
		"<input value=\"none\" name=\"respuesta\" type=\"radio\"/></form>";
	struct tag tg[4];
	int n = html_tags(html, "form", tg, 4);
	EXPECT_INT(t, "forms", 1, n);
	EXPECT_STR(t, "method", "POST", tag_attr(&tg[0], "method"));
	EXPECT_STR(t, "action", "/validate_answer", tag_attr(&tg[0], "action"));
	tags_free(tg, n);
	n = html_tags(html, "input", tg, 4);
	EXPECT_INT(t, "inputs", 3, n);
	EXPECT_STR(t, "hidden value", "abc&d", tag_attr(&tg[0], "value"));
	EXPECT_STR(t, "radio value", "1990-01-02", tag_attr(&tg[1], "value"));
	EXPECT_STR(t, "radio name", "respuesta", tag_attr(&tg[2], "name"));
	tags_free(tg, n);
	EXPECT_INT(t, "rfc3339 Z", 86400, h_parse_rfc3339("1970-01-02T00:00:00Z"));
	EXPECT_INT(t, "rfc3339 ms", 86400, h_parse_rfc3339("1970-01-02T00:00:00.123Z"));
	EXPECT_INT(t, "rfc3339 offset", 86400, h_parse_rfc3339("1970-01-02T01:00:00+01:00"));
	EXPECT_INT(t, "rfc3339 junk", -1, h_parse_rfc3339("1970-01-02 00:00:00"));

	struct page pg;
	memset(&pg, 0, sizeof(pg));
	strcpy(pg.options[0], "1990-01-02");
	strcpy(pg.options[1], "none");
	pg.nopt = 2;
	char buf[40];
	EXPECT_STR(t, "date right", "1990-01-02", mfa_right_answer(&pg, "1990-01-02", buf));
	EXPECT_STR(t, "date none", "none", mfa_right_answer(&pg, "1990-01-03", buf));
	strcpy(pg.options[0], "3");
	EXPECT_STR(t, "sum right", "3", mfa_right_answer(&pg, "1990-01-02", buf));
	EXPECT_STR(t, "sum none", "none", mfa_right_answer(&pg, "1990-12-31", buf));
}

/* The teardown scan must catch a secret in a daemon's stderr. */
static void test_secret_scan(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	t_secret(t, "1977-07-07");
	const char *log = "info: minted for 1977-07-07\n";
	REQUIRE(t, h_write_file(d->err_path, log, strlen(log)) == 0);
	d_stop(d);
	bool caught = t->failed && h_contains(t->msg, "1977-07-07");
	t->failed = false;
	t->msg[0] = '\0';
	EXPECT(t, caught, "expected the stderr scan to flag a logged birth date, got %s", "nothing");
}

/* A port d_new picked and another process took before the daemon bound it
 * (here: this test holds it) costs a start on new ports, not the test. */
static void test_taken_port_started_elsewhere(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	int taken = d->web_port, one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)taken),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(t, fd >= 0);
	EXPECT(t, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
	       bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0,
	       "expected to hold port %d, got failure", taken);
	int rc = t->failed ? -1 : d_start(d, NULL);
	close(fd);
	REQUIRE(t, rc == 0);
	EXPECT(t, d->web_port != taken, "expected the daemon on a port other than the taken %d, got it", taken);
	struct resp rs;
	REQUIRE(t, d_web(d, "GET", "/healthz", NULL, NULL, &rs) == 0);
	EXPECT_INT(t, "web /healthz on the new port", 200, rs.status);
	resp_free(&rs);
}

const struct test e2e_tests_harness[] = {
	{ "harness_fake_records_broadcast_call", test_fake_records_broadcast_call, NULL },
	{ "harness_fake_scripted_failure", test_fake_scripted_failure, NULL },
	{ "harness_html_and_date_readers", test_html_reader, NULL },
	{ "harness_secret_scan_catches_leaks", test_secret_scan, NULL },
	{ "harness_taken_port_started_elsewhere", test_taken_port_started_elsewhere, NULL },
	{ NULL, NULL, NULL },
};
