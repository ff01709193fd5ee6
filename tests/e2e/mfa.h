/*
 * mfa: the mnmfa-specific steps the tests repeat -- mint a challenge through
 * either API, fetch and parse its page (SPEC §5 page contract), work out the
 * right answer from the date of birth the test minted, answer, and check a
 * Chatfuel Broadcasting call (SPEC §7). Each step records the failure on the
 * test and returns -1 / NULL.
 */
#ifndef E2E_MFA_H
#define E2E_MFA_H

#include "fake_chatfuel.h"
#include "harness.h"

#define MFA_MAX_OPTIONS 16

struct minted {
	char page_id[64];
	char url[512];
	char id[128];                /* /v1/challenges id (empty for the seed mint) */
	char client_id[160];
	char phone[32];
	char flow[600];
	char dob[16];
	long long expires_in;        /* seed mint only */
	long long expires_at;        /* Unix seconds */
};

struct page {
	char page_id[64];            /* the hidden input's value */
	char options[MFA_MAX_OPTIONS][40];
	int nopt;
	bool entry;                  /* a single non-radio respuesta input */
	char *html;
};

/* GET /generate_dynamic_page; expects 200 and a well-formed body. */
int mfa_mint_seed(struct daemon *d, const char *client_id, const char *phone,
                  const char *flow, const char *dob, struct minted *m);
/* POST /v1/challenges; question/mode may be NULL, expires_in 0 = omitted.
 * Expects 201 and a well-formed body. */
int mfa_mint_v1(struct daemon *d, const char *client_id, const char *phone, const char *flow,
                const char *dob, const char *question, const char *mode, int expires_in,
                struct minted *m);

/* The page id is the last path segment of the URL. */
int mfa_page_id_from_url(struct t *t, const char *url, char out[64]);

/* GET /{page_id} on the web port; expects 200 and the page contract. */
int mfa_get_page(struct daemon *d, const char *page_id, struct page *pg);
void mfa_page_free(struct page *pg);

/* The right option value for a page minted with dob (date or sum question). */
const char *mfa_right_answer(const struct page *pg, const char *dob, char buf[40]);
/* Some option that is not `right`. */
const char *mfa_wrong_answer(const struct page *pg, const char *right);

/* POST /validate_answer (form: page_id, respuesta [, extra url-encoded pairs]);
 * expects 303 to the wa.me link. */
int mfa_answer(struct daemon *d, const char *page_id, const char *respuesta, const char *extra);
/* Reads d's page of page_id and copies into buf the option right for dob,
 * or (right false) one that is not; NULL when the page cannot be read. */
const char *mfa_page_answer(struct daemon *d, const char *page_id, const char *dob, bool right,
                            char buf[40]);
/* mfa_page_answer, then mfa_answer with it (expects the 303). */
int mfa_answer_page(struct daemon *d, const char *page_id, const char *dob, bool right);
/* Mint (seed), fetch, answer right or wrong. */
int mfa_mint_and_answer(struct daemon *d, const char *client_id, const char *phone,
                        const char *flow, const char *dob, bool right, struct minted *m);

/* Checks one Broadcasting API call: POST /bots/bot123/users/<client_id>/send,
 * query chatfuel_token, chatfuel_flow_name (or chatfuel_block_name when
 * block), user_validated, mfa_page_id (22 characters; empty for a mint a
 * lockout refused, status locked) and mfa_status
 * (approved exactly when validated), Content-Type application/json. */
int mfa_check_call(struct t *t, const struct fake_call *c, const char *client_id,
                   const char *flow, bool validated, bool block);

/* The first recorded call addressed to client_id, or NULL. */
const struct fake_call *mfa_call_for(struct fake_cf *f, const char *client_id);

/* Waits for exactly `n` calls: at least n within the timeout, then no more
 * within the quiet window. */
int mfa_expect_calls(struct t *t, struct fake_cf *f, int n);

/* Expects HTTP status and a JSON error body {"error": code[, "field": field]}. */
int mfa_expect_error(struct t *t, const struct resp *rs, long status, const char *code,
                     const char *field);

/* Checks the SPEC §5 security headers on any response. */
int mfa_check_security_headers(struct t *t, const struct resp *rs);
/* Same, leaving Cache-Control out when cache is false. */
int mfa_check_security_headers_opt(struct t *t, const struct resp *rs, bool cache);
/* Checks Content-Type application/json; charset=utf-8. */
int mfa_check_json_ctype(struct t *t, const struct resp *rs);

/* GET /v1/challenges/{id}: expects 200 with status `want`, the id, the
 * client_id, created_at and (for approved/denied) decided_at. */
/* `event` rows for page_id (NULL: any page) in d's audit log (-1 on failure,
 * recorded). */
long mfa_audit_rows(struct t *t, const struct daemon *d, const char *event, const char *page_id);
int mfa_expect_status(struct t *t, struct daemon *d, const struct minted *m, const char *want);

/* The value of a /metrics line `name value` from d's API port (-1 and a
 * failure recorded when there is none). */
long long mfa_metric(struct t *t, struct daemon *d, const char *name);
/* The one integer that sql (a ?1 bound to arg when arg is not NULL) reads
 * from the SQLite file at path, read-only; -1 and a failure on t when it
 * cannot be read or gives no row. */
long long mfa_db_int(struct t *t, const char *path, const char *sql, const char *arg);

/* A link a phone's lockout ended without an answer: its page on d answers
 * 410 (as a used link), its status on d says locked, the audit logs of `logs`
 * (NULL-terminated) hold exactly one `locked` row for it (waited for, bounded)
 * and exactly one recorded call told the bot user_validated=false for it with
 * mfa_status=locked. Wait for the calls (mfa_expect_calls) first. */
int mfa_expect_ended_locked(struct t *t, struct daemon *d, struct daemon *const *logs, struct fake_cf *f,
                            const struct minted *m);

/* Starts a fake Chatfuel registered with the test (stopped at teardown). */
struct fake_cf *t_fake(struct t *t);

/* A fake Chatfuel plus a daemon with the default test config, started;
 * NULL on failure. *fp (optional) receives the fake. */
struct daemon *mfa_start_default(struct t *t, struct fake_cf **fp);

#endif
