/*
 * test_clock: the daemon's wall clock steps while it runs, as NTP or an
 * operator can make it. libfaketime (preloaded into the real binary) moves
 * the daemon's CLOCK_REALTIME by the offset in a file the test rewrites,
 * and leaves its monotonic clock alone; each step is seen in the daemon's
 * own Date header before the test goes on. A link lives its expires_in and
 * a lockout its window whichever way the clock jumps, in memory and with
 * the challenges in Redis (whose clock the node's step does not touch).
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "servers.h"
#include "tests.h"

#define CLK_FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
#define CLK_LIFE_S 10                 /* expires_in: the shortest a link may have */
#define CLK_STEP_S 3600               /* each step: an hour */
#define CLK_SEEN_SLACK_S 60           /* the Date header shows a step within this */
#define CLK_SEEN_MS 5000              /* a step until the daemon shows it */
#define CLK_GRACE_MS 3000             /* past an expiry: a sweep, on a loaded machine */
#define CLK_DOB "1990-06-03"
#define CLK_MONTH_S (30 * 86400)      /* a link minted this long ago is stale */

struct clocked {
	char file[700];               /* the daemon's wall-clock offset, for libfaketime */
	char *env[8];
};

/* Writes the daemon's wall-clock offset in seconds ("+3600", "-3600"). */
static int clock_set(struct t *t, const struct clocked *c, long offset_s)
{
	char text[32];
	int n = snprintf(text, sizeof text, "%+ld\n", offset_s);

	if (h_write_file(c->file, text, (size_t)n) != 0) {
		FAILF(t, "expected to write the clock offset to %s", c->file);
		return -1;
	}
	return 0;
}

/* The daemon's wall clock as its web port's Date header says, in Unix
 * seconds, or -1. */
static long long daemon_wall_s(struct daemon *d)
{
	struct resp rs;
	long long s = -1;

	if (d_web(d, "GET", "/healthz", NULL, NULL, &rs) != 0)
		return -1;
	const char *date = resp_header(&rs, "Date");
	if (date != NULL)
		s = (long long)curl_getdate(date, NULL);
	resp_free(&rs);
	return s;
}

/* Steps the daemon's wall clock to offset_s from the real one and waits
 * (bounded) until the daemon shows it, so the step is known to be in effect. */
static int clock_step(struct t *t, struct daemon *d, const struct clocked *c, long offset_s)
{
	long long shown = -1;

	if (clock_set(t, c, offset_s) != 0)
		return -1;
	for (long long end = h_mono_ms() + CLK_SEEN_MS; h_mono_ms() < end; h_sleep_ms(50)) {
		shown = daemon_wall_s(d);
		if (shown > 0 && llabs(shown - ((long long)time(NULL) + offset_s)) <= CLK_SEEN_SLACK_S)
			return 0;
	}
	FAILF(t, "expected the daemon's Date header %+ld s off the real clock within %d ms (libfaketime), "
	      "got %lld s off", offset_s, CLK_SEEN_MS, shown > 0 ? shown - (long long)time(NULL) : 0);
	return -1;
}

/* A daemon whose wall clock the test steps; with t->arg "redis", its
 * challenges and limits are in a Redis of its own. */
static struct daemon *clocked_daemon_with(struct t *t, struct clocked *c, const char *lockout, bool notify_on_expiry)
{
	struct fake_cf *f = t_fake(t);
	struct daemon *d;
	int port = 0;

	if (f == NULL)
		return NULL;
	if (access(CLK_FAKETIME_LIB, R_OK) != 0) {
		FAILF(t, "expected %s (Debian's libfaketime: scripts/install-deps installs it)", CLK_FAKETIME_LIB);
		return NULL;
	}
	d = d_new(t, f);
	if (d == NULL)
		return NULL;
	if (t->arg != NULL) {
		if (srv_redis(t, 0, 0, &port) < 0)
			return NULL;
		char *url = h_printf("redis://127.0.0.1:%d/0", port);
		d_set_str(d, "redis_url", url);
		free(url);
		d_set_str(d, "node_id", "clocked");
	}
	if (lockout != NULL)
		d_set_str(d, "lockout", lockout);
	if (notify_on_expiry)
		d_set_bool(d, "notify_on_expiry", true);
	snprintf(c->file, sizeof c->file, "%s/faketime", d->dir);
	if (clock_set(t, c, 0) != 0)
		return NULL;
	c->env[0] = "LD_PRELOAD=" CLK_FAKETIME_LIB;
	c->env[1] = h_printf("FAKETIME_TIMESTAMP_FILE=%s", c->file);
	c->env[2] = "FAKETIME_NO_CACHE=1";          /* a step takes effect at once */
	c->env[3] = "DONT_FAKE_MONOTONIC=1";        /* only the wall clock moves */
	c->env[4] = "ASAN_OPTIONS=verify_asan_link_order=0";   /* the sanitizer build: faketime first */
	c->env[5] = NULL;
	struct start_opts o = { .env = (const char *const *)c->env };
	int rc = d_start(d, &o);
	free(c->env[1]);
	c->env[1] = NULL;
	return rc == 0 ? d : NULL;
}

static struct daemon *clocked_daemon(struct t *t, struct clocked *c, const char *lockout)
{
	return clocked_daemon_with(t, c, lockout, false);
}

static long page_status(struct daemon *d, const char *page_id, char **html)
{
	char *path = h_printf("/%s", page_id);
	struct resp rs;
	long st = -1;

	if (html != NULL)
		*html = NULL;
	if (d_web(d, "GET", path, NULL, NULL, &rs) == 0) {
		st = rs.status;
		if (html != NULL && rs.body != NULL)
			*html = h_strdup(rs.body);
		resp_free(&rs);
	}
	free(path);
	return st;
}

/* The page's countdown: data-expires-in, in seconds, or -1. */
static long countdown_s(const char *html)
{
	const char *p = html != NULL ? strstr(html, "data-expires-in=\"") : NULL;

	return p != NULL ? strtol(p + strlen("data-expires-in=\""), NULL, 10) : -1;
}

/* The wall clock steps back an hour after the mint: the link still expires
 * CLK_LIFE_S after it, is reported expired, and its status says so. */
static void test_step_back_extends_no_link(struct t *t)
{
	struct clocked c;
	struct daemon *d = clocked_daemon(t, &c, NULL);
	struct minted m;

	REQUIRE(t, d);
	t_secret(t, CLK_DOB);
	long long minted_at = h_mono_ms();
	REQUIRE(t, mfa_mint_v1(d, "cid-clk-back", "+5215557100001", "FlowClk", CLK_DOB, NULL, NULL,
	                       CLK_LIFE_S, &m) == 0);
	REQUIRE(t, clock_step(t, d, &c, -CLK_STEP_S) == 0);
	EXPECT_INT(t, "page status just after the step back", 200, page_status(d, m.page_id, NULL));
	long st = 200;
	long long end = minted_at + CLK_LIFE_S * 1000 + CLK_GRACE_MS;
	while (h_mono_ms() < end && (st = page_status(d, m.page_id, NULL)) == 200)
		h_sleep_ms(100);
	long long took = h_mono_ms() - minted_at;
	EXPECT(t, st == 404, "expected the link to expire %d s after its mint although the wall clock "
	       "stepped back an hour (404), got %ld after %lld ms", CLK_LIFE_S, st, took);
	EXPECT(t, took >= CLK_LIFE_S * 1000, "expected the link served until its expiry (%d s), it went "
	       "after %lld ms", CLK_LIFE_S, took);
	/* the status API says expired (the sweep reported it) */
	char status[32] = "";
	for (long long stop = h_mono_ms() + CLK_GRACE_MS; h_mono_ms() < stop && strcmp(status, "expired") != 0;
	     h_sleep_ms(100)) {
		struct resp rs;
		char *path = h_printf("/v1/challenges/%s", m.id);
		int rc = d_api(d, "GET", path, NULL, NULL, &rs);
		free(path);
		REQUIRE(t, rc == 0);
		cJSON *j = resp_json(t, &rs);
		snprintf(status, sizeof status, "%s", j != NULL && j_str(j, "status") ? j_str(j, "status") : "");
		cJSON_Delete(j);
		resp_free(&rs);
	}
	EXPECT(t, strcmp(status, "expired") == 0,
	       "expected status \"expired\" once the link's life was over, got \"%s\"", status);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
}

/* The wall clock steps forward two hours: a fresh link is still served
 * (its countdown unchanged) and answered, and a phone locked out for an
 * hour is still locked. */
static void test_step_forward_ends_nothing_early(struct t *t)
{
	struct clocked c;
	struct daemon *d = clocked_daemon(t, &c, "1/3600");
	struct minted m, locked;
	struct page pg;
	char right[40], *html = NULL;

	REQUIRE(t, d);
	t_secret(t, CLK_DOB);
	/* one wrong answer locks this phone for an hour */
	REQUIRE(t, mfa_mint_and_answer(d, "cid-clk-lock", "+5215557100003", "FlowClkLock", CLK_DOB, false,
	                               &locked) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-clk-fwd", "+5215557100002", "FlowClk", CLK_DOB, NULL, NULL,
	                       CLK_LIFE_S, &m) == 0);
	REQUIRE(t, clock_step(t, d, &c, 2 * CLK_STEP_S) == 0);
	long st = page_status(d, m.page_id, &html);
	long left = countdown_s(html);
	free(html);
	EXPECT_INT(t, "page status after the wall clock stepped two hours forward", 200, st);
	EXPECT(t, left >= 1 && left <= CLK_LIFE_S, "expected the page's countdown in 1..%d s after the step, "
	       "got %ld", CLK_LIFE_S, left);
	REQUIRE(t, mfa_get_page(d, m.page_id, &pg) == 0);
	REQUIRE(t, mfa_answer(d, m.page_id, mfa_right_answer(&pg, CLK_DOB, right), NULL) == 0);
	mfa_page_free(&pg);
	REQUIRE(t, mfa_expect_status(t, d, &m, "approved") == 0);
	/* the lock holds its hour on the monotonic clock */
	struct resp rs;
	REQUIRE(t, d_api(d, "POST", "/v1/challenges", "application/json",
	                 "{\"client_id\":\"cid-clk-lock\",\"phone\":\"+5215557100003\",\"flow_name\":\"F\","
	                 "\"dob\":\"" CLK_DOB "\"}", &rs) == 0);
	int rc = mfa_expect_error(t, &rs, 423, "locked", NULL);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
}

/* Ends a previous run left open are written at the next start; their
 * results (notify_on_expiry) go out only while a bot could still use them:
 * a link minted a month ago, under a wall clock stepped back 30 days, gets
 * its canceled row but no result; one minted a moment ago gets both. */
static void test_settled_old_end_sends_no_result(struct t *t)
{
	struct clocked c;
	struct daemon *d = clocked_daemon_with(t, &c, NULL, true);
	struct minted old, fresh;

	REQUIRE(t, d);
	REQUIRE(t, clock_step(t, d, &c, -CLK_MONTH_S) == 0);
	struct resp rs;                               /* (mfa_mint_v1 checks expires_at on the real clock) */
	EXPECT(t, d_api(d, "POST", "/v1/challenges", "application/json",
	                 "{\"client_id\":\"cid-clk-old\",\"phone\":\"+5215557100011\",\"flow_name\":\"F\","
	                 "\"dob\":\"" CLK_DOB "\"}", &rs) == 0, "expected an answer to the month-old mint");
	cJSON *j = resp_json(t, &rs);
	int rc = rs.status == 201 && j != NULL ? mfa_page_id_from_url(t, j_str(j, "url"), old.page_id) : -1;
	EXPECT_INT(t, "the month-old mint", 201, rs.status);
	cJSON_Delete(j);
	resp_free(&rs);
	REQUIRE(t, rc == 0);
	REQUIRE(t, clock_step(t, d, &c, 0) == 0);
	REQUIRE(t, mfa_mint_v1(d, "cid-clk-new", "+5215557100012", "FlowClk", CLK_DOB, NULL, NULL, 0, &fresh) == 0);
	REQUIRE(t, d_kill(d) == 0);
	REQUIRE(t, d_start(d, NULL) == 0);            /* the real clock */
	const char *sql = "SELECT count(*) FROM audit_log WHERE event = 'canceled' AND page_id = ?1";
	EXPECT_INT(t, "canceled rows of the month-old link", 1, mfa_db_int(t, d->db_path, sql, old.page_id));
	EXPECT_INT(t, "canceled rows of the fresh link", 1, mfa_db_int(t, d->db_path, sql, fresh.page_id));
	sql = "SELECT count(*) FROM outbox o JOIN audit_log a ON a.id = o.audit_id WHERE a.page_id = ?1";
	EXPECT_INT(t, "results queued for the month-old link", 0, mfa_db_int(t, d->db_path, sql, old.page_id));
	EXPECT_INT(t, "results queued for the fresh link", 1, mfa_db_int(t, d->db_path, sql, fresh.page_id));
	REQUIRE(t, mfa_expect_calls(t, t->fakes[0], 1) == 0);
	EXPECT(t, mfa_call_for(t->fakes[0], "cid-clk-new") != NULL, "expected the fresh link's result sent");
	EXPECT(t, d_stop(d) == 0, "expected a clean exit");
}

const struct test e2e_tests_clock[] = {
	{ "clock_settled_month_old_end_sends_no_result", test_settled_old_end_sends_no_result, NULL },
	{ "clock_step_back_extends_no_link", test_step_back_extends_no_link, NULL },
	{ "clock_step_back_extends_no_link_redis", test_step_back_extends_no_link, "redis" },
	{ "clock_step_forward_ends_no_link_or_lockout_early", test_step_forward_ends_nothing_early, NULL },
	{ "clock_step_forward_ends_no_link_or_lockout_early_redis", test_step_forward_ends_nothing_early,
	  "redis" },
	{ NULL, NULL, NULL },
};
