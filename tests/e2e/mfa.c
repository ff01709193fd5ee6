/*
 * mfa: see mfa.h.
 */
#include "mfa.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *public_url(const struct daemon *d)
{
	const char *p = j_str(d->cfg, "public_url");
	return p ? p : "";
}

static bool is_page_id(const char *s)
{
	if (s == NULL || strlen(s) != 22)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

static char *snip(const char *s)
{
	return h_printf("%.300s", s ? s : "");
}

int mfa_page_id_from_url(struct t *t, const char *url, char out[64])
{
	const char *slash = url ? strrchr(url, '/') : NULL;
	if (slash == NULL || strlen(slash + 1) >= 64) {
		FAILF(t, "expected a URL ending in /<page id>, got \"%s\"", url ? url : "(none)");
		return -1;
	}
	snprintf(out, 64, "%s", slash + 1);
	return 0;
}

static int check_expires_at(struct t *t, const char *s, long long expires_in, long long *out)
{
	long long at = h_parse_rfc3339(s);
	if (at < 0) {
		FAILF(t, "expected expires_at in RFC 3339, got \"%s\"", s ? s : "(none)");
		return -1;
	}
	long long want = (long long)time(NULL) + expires_in;
	if (at < want - 5 || at > want + 5) {
		FAILF(t, "expected expires_at about now + %lld s (%lld), got \"%s\" (%lld)",
		      expires_in, want, s, at);
		return -1;
	}
	*out = at;
	return 0;
}

int mfa_mint_seed(struct daemon *d, const char *client_id, const char *phone,
                  const char *flow, const char *dob, struct minted *m)
{
	struct t *t = d->t;
	memset(m, 0, sizeof(*m));
	t_secret(t, dob);
	char *c = h_urlenc(client_id), *p = h_urlenc(phone), *f = h_urlenc(flow),
	     *b = h_urlenc(dob);
	char *path = h_printf("/generate_dynamic_page?client_id=%s&telefono=%s&flow_name=%s&fecha_cumple=%s",
	                      c, p, f, b);
	free(c);
	free(p);
	free(f);
	free(b);
	struct resp rs;
	int rc = -1;
	cJSON *j = NULL;
	if (d_api(d, "GET", path, NULL, NULL, &rs) != 0)
		goto out;
	if (rs.status != 200) {
		char *s = snip(rs.body);
		FAILF(t, "expected 200 from GET /generate_dynamic_page, got %ld (%s)", rs.status, s);
		free(s);
		goto out_resp;
	}
	if ((j = resp_json(t, &rs)) == NULL)
		goto out_resp;
	const char *url = j_str(j, "dynamic_url"), *pid = j_str(j, "page_id");
	const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	if (url == NULL || pid == NULL || !cJSON_IsNumber(ei) || j_str(j, "expires_at") == NULL) {
		char *s = snip(rs.body);
		FAILF(t, "expected dynamic_url, page_id, expires_in, expires_at in the mint answer, got %s", s);
		free(s);
		goto out_resp;
	}
	if (!is_page_id(pid)) {
		FAILF(t, "expected page_id of 22 base64url characters, got \"%s\"", pid);
		goto out_resp;
	}
	char *want = h_printf("%s/%s", public_url(d), pid);
	bool same = strcmp(want, url) == 0;
	if (!same)
		FAILF(t, "expected dynamic_url \"%s\", got \"%s\"", want, url);
	free(want);
	if (!same)
		goto out_resp;
	m->expires_in = (long long)ei->valuedouble;
	if (check_expires_at(t, j_str(j, "expires_at"), m->expires_in, &m->expires_at) != 0)
		goto out_resp;
	snprintf(m->page_id, sizeof(m->page_id), "%s", pid);
	snprintf(m->url, sizeof(m->url), "%s", url);
	snprintf(m->client_id, sizeof(m->client_id), "%s", client_id);
	snprintf(m->phone, sizeof(m->phone), "%s", phone);
	snprintf(m->flow, sizeof(m->flow), "%s", flow);
	snprintf(m->dob, sizeof(m->dob), "%s", dob);
	rc = 0;
out_resp:
	cJSON_Delete(j);
	resp_free(&rs);
out:
	free(path);
	return rc;
}

int mfa_mint_v1(struct daemon *d, const char *client_id, const char *phone, const char *flow,
                const char *dob, const char *question, const char *mode, int expires_in,
                struct minted *m)
{
	struct t *t = d->t;
	memset(m, 0, sizeof(*m));
	t_secret(t, dob);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "client_id", client_id);
	cJSON_AddStringToObject(o, "phone", phone);
	cJSON_AddStringToObject(o, "flow_name", flow);
	cJSON_AddStringToObject(o, "dob", dob);
	if (question)
		cJSON_AddStringToObject(o, "question", question);
	if (mode)
		cJSON_AddStringToObject(o, "mode", mode);
	if (expires_in)
		cJSON_AddNumberToObject(o, "expires_in", expires_in);
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	struct resp rs;
	int rc = -1;
	cJSON *j = NULL;
	if (d_api(d, "POST", "/v1/challenges", "application/json", body, &rs) != 0)
		goto out;
	if (rs.status != 201) {
		char *s = snip(rs.body);
		FAILF(t, "expected 201 from POST /v1/challenges, got %ld (%s)", rs.status, s);
		free(s);
		goto out_resp;
	}
	if ((j = resp_json(t, &rs)) == NULL)
		goto out_resp;
	const char *id = j_str(j, "id"), *url = j_str(j, "url"), *st = j_str(j, "status");
	if (id == NULL || url == NULL || st == NULL || j_str(j, "expires_at") == NULL) {
		char *s = snip(rs.body);
		FAILF(t, "expected id, url, status, expires_at in the 201 answer, got %s", s);
		free(s);
		goto out_resp;
	}
	if (strcmp(st, "pending") != 0) {
		FAILF(t, "expected status \"pending\" in the 201 answer, got \"%s\"", st);
		goto out_resp;
	}
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s/", public_url(d));
	if (strncmp(url, prefix, strlen(prefix)) != 0 || !is_page_id(url + strlen(prefix))) {
		FAILF(t, "expected url \"%s<22-char page id>\", got \"%s\"", prefix, url);
		goto out_resp;
	}
	long long ein = expires_in ? expires_in : 0;
	if (ein == 0) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(d->cfg, "expiration");
		ein = cJSON_IsNumber(e) ? (long long)e->valuedouble : 60;
	}
	if (check_expires_at(t, j_str(j, "expires_at"), ein, &m->expires_at) != 0)
		goto out_resp;
	snprintf(m->page_id, sizeof(m->page_id), "%s", url + strlen(prefix));
	snprintf(m->url, sizeof(m->url), "%s", url);
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->client_id, sizeof(m->client_id), "%s", client_id);
	snprintf(m->phone, sizeof(m->phone), "%s", phone);
	snprintf(m->flow, sizeof(m->flow), "%s", flow);
	snprintf(m->dob, sizeof(m->dob), "%s", dob);
	rc = 0;
out_resp:
	cJSON_Delete(j);
	resp_free(&rs);
out:
	free(body);
	return rc;
}

void mfa_page_free(struct page *pg)
{
	free(pg->html);
	pg->html = NULL;
}

int mfa_get_page(struct daemon *d, const char *page_id, struct page *pg)
{
	struct t *t = d->t;
	memset(pg, 0, sizeof(*pg));
	char *path = h_printf("/%s", page_id);
	struct resp rs;
	int rc = d_web(d, "GET", path, NULL, NULL, &rs);
	free(path);
	if (rc != 0)
		return -1;
	rc = -1;
	struct tag forms[4], inputs[48];
	int nf = 0, ni = 0;
	if (rs.status != 200) {
		FAILF(t, "expected 200 for the pending page, got %ld", rs.status);
		goto out;
	}
	nf = html_tags(rs.body, "form", forms, 4);
	if (nf != 1) {
		FAILF(t, "expected exactly one <form> in the page, got %d", nf);
		goto out;
	}
	const char *method = tag_attr(&forms[0], "method"), *action = tag_attr(&forms[0], "action");
	if (method == NULL || strcasecmp(method, "post") != 0 || action == NULL ||
	    strcmp(action, "/validate_answer") != 0) {
		FAILF(t, "expected <form method=\"post\" action=\"/validate_answer\">, got method=%s action=%s",
		      method ? method : "(none)", action ? action : "(none)");
		goto out;
	}
	ni = html_tags(rs.body, "input", inputs, 48);
	if (ni > 48)
		ni = 48;
	int nhidden = 0, nresp = 0, nradio = 0;
	for (int i = 0; i < ni; i++) {
		const char *name = tag_attr(&inputs[i], "name"), *type = tag_attr(&inputs[i], "type");
		const char *value = tag_attr(&inputs[i], "value");
		if (name == NULL)
			continue;
		if (strcmp(name, "page_id") == 0) {
			if (type == NULL || strcasecmp(type, "hidden") != 0) {
				FAILF(t, "expected the page_id input to be type=\"hidden\", got type=%s",
				      type ? type : "(none)");
				goto out;
			}
			snprintf(pg->page_id, sizeof(pg->page_id), "%s", value ? value : "");
			nhidden++;
		} else if (strcmp(name, "respuesta") == 0) {
			nresp++;
			if (type && strcasecmp(type, "radio") == 0) {
				nradio++;
				if (pg->nopt < MFA_MAX_OPTIONS)
					snprintf(pg->options[pg->nopt++], sizeof(pg->options[0]), "%s",
					         value ? value : "");
			}
		}
	}
	if (nhidden != 1) {
		FAILF(t, "expected one hidden page_id input, got %d", nhidden);
		goto out;
	}
	if (strcmp(pg->page_id, page_id) != 0) {
		FAILF(t, "expected hidden page_id \"%s\", got \"%s\"", page_id, pg->page_id);
		goto out;
	}
	if (nradio == 0 && nresp == 1) {
		pg->entry = true;
	} else if (nradio == 0 || nradio != nresp) {
		FAILF(t, "expected radio inputs named respuesta (or one entry input), got %d respuesta inputs, %d radio",
		      nresp, nradio);
		goto out;
	}
	pg->html = rs.body;
	rs.body = NULL;
	rc = 0;
out:
	tags_free(forms, nf < 4 ? nf : 4);
	tags_free(inputs, ni);
	resp_free(&rs);
	return rc;
}

static bool has_option(const struct page *pg, const char *v)
{
	for (int i = 0; i < pg->nopt; i++)
		if (strcmp(pg->options[i], v) == 0)
			return true;
	return false;
}

const char *mfa_right_answer(const struct page *pg, const char *dob, char buf[40])
{
	int y, mo, da;
	bool date_q = false;
	for (int i = 0; i < pg->nopt; i++)
		if (strchr(pg->options[i], '-'))
			date_q = true;
	if (date_q) {
		snprintf(buf, 40, "%s", has_option(pg, dob) ? dob : "none");
		return buf;
	}
	if (sscanf(dob, "%d-%d-%d", &y, &mo, &da) != 3)
		return "none";
	snprintf(buf, 40, "%d", mo + da);
	if (!has_option(pg, buf))
		snprintf(buf, 40, "none");
	return buf;
}

const char *mfa_wrong_answer(const struct page *pg, const char *right)
{
	for (int i = 0; i < pg->nopt; i++)
		if (strcmp(pg->options[i], right) != 0)
			return pg->options[i];
	return "none-of-these";
}

int mfa_answer(struct daemon *d, const char *page_id, const char *respuesta, const char *extra)
{
	struct t *t = d->t;
	char *p = h_urlenc(page_id), *r = h_urlenc(respuesta);
	char *body = h_printf("page_id=%s&respuesta=%s%s%s", p, r, extra ? "&" : "", extra ? extra : "");
	free(p);
	free(r);
	struct resp rs;
	int rc = d_web(d, "POST", "/validate_answer", "application/x-www-form-urlencoded", body, &rs);
	free(body);
	if (rc != 0)
		return -1;
	rc = -1;
	if (rs.status != 303) {
		FAILF(t, "expected 303 from POST /validate_answer, got %ld", rs.status);
	} else if (resp_header(&rs, "Location") == NULL ||
	           strcmp(resp_header(&rs, "Location"), H_WA_URL) != 0) {
		FAILF(t, "expected Location \"%s\", got \"%s\"", H_WA_URL,
		      resp_header(&rs, "Location") ? resp_header(&rs, "Location") : "(none)");
	} else {
		rc = mfa_check_security_headers(t, &rs);
	}
	resp_free(&rs);
	return rc;
}

const char *mfa_page_answer(struct daemon *d, const char *page_id, const char *dob, bool right,
                            char buf[40])
{
	struct page pg;
	char rbuf[40];
	if (mfa_get_page(d, page_id, &pg) != 0)
		return NULL;
	const char *ans = mfa_right_answer(&pg, dob, rbuf);
	if (!right)
		ans = mfa_wrong_answer(&pg, ans);
	snprintf(buf, 40, "%s", ans);
	mfa_page_free(&pg);
	return buf;
}

int mfa_answer_page(struct daemon *d, const char *page_id, const char *dob, bool right)
{
	char ans[40];
	if (mfa_page_answer(d, page_id, dob, right, ans) == NULL)
		return -1;
	return mfa_answer(d, page_id, ans, NULL);
}

int mfa_mint_and_answer(struct daemon *d, const char *client_id, const char *phone,
                        const char *flow, const char *dob, bool right, struct minted *m)
{
	if (mfa_mint_seed(d, client_id, phone, flow, dob, m) != 0)
		return -1;
	return mfa_answer_page(d, m->page_id, dob, right);
}

/* Query characters a correctly URL-encoded request line may carry. */
static bool query_is_encoded(const char *uri)
{
	const char *q = strchr(uri, '?');
	if (q == NULL)
		return true;
	for (const unsigned char *p = (const unsigned char *)q + 1; *p; p++) {
		if (isalnum(*p) || strchr("-._~%&=+", *p))
			continue;
		return false;
	}
	return true;
}

int mfa_check_call(struct t *t, const struct fake_call *c, const char *client_id,
                   const char *flow, bool validated, bool block)
{
	char *path = h_printf("/bots/%s/users/%s/send", H_BOT_ID, client_id);
	int rc = -1;
	const char *fname = block ? "chatfuel_block_name" : "chatfuel_flow_name";
	const char *other = block ? "chatfuel_flow_name" : "chatfuel_block_name";
	if (c == NULL) {
		FAILF(t, "expected a Chatfuel call, got none");
	} else if (strcmp(c->method, "POST") != 0) {
		FAILF(t, "expected Chatfuel call method POST, got %s", c->method);
	} else if (strcmp(c->path, path) != 0) {
		FAILF(t, "expected Chatfuel call path \"%s\", got \"%s\"", path, c->path);
	} else if (!query_is_encoded(c->raw_uri)) {
		FAILF(t, "expected every query value URL-encoded, got request URI \"%s\"", c->raw_uri);
	} else if (fake_arg(c, "chatfuel_token") == NULL ||
	           strcmp(fake_arg(c, "chatfuel_token"), H_TOKEN) != 0) {
		FAILF(t, "expected chatfuel_token=%s, got %s", H_TOKEN,
		      fake_arg(c, "chatfuel_token") ? fake_arg(c, "chatfuel_token") : "(none)");
	} else if (fake_arg(c, fname) == NULL || strcmp(fake_arg(c, fname), flow) != 0) {
		FAILF(t, "expected %s=\"%s\", got \"%s\" (request URI %s)", fname, flow,
		      fake_arg(c, fname) ? fake_arg(c, fname) : "(none)", c->raw_uri);
	} else if (fake_has_arg(c, other)) {
		FAILF(t, "expected no %s in the call, got \"%s\"", other, fake_arg(c, other));
	} else if (fake_arg(c, "user_validated") == NULL ||
	           strcmp(fake_arg(c, "user_validated"), validated ? "true" : "false") != 0) {
		FAILF(t, "expected user_validated=%s, got %s", validated ? "true" : "false",
		      fake_arg(c, "user_validated") ? fake_arg(c, "user_validated") : "(none)");
	} else if (fake_arg(c, "mfa_page_id") == NULL ||
	           (strlen(fake_arg(c, "mfa_page_id")) != 22 &&
	            !(fake_arg(c, "mfa_page_id")[0] == '\0' && fake_arg(c, "mfa_status") != NULL &&
	              strcmp(fake_arg(c, "mfa_status"), "locked") == 0))) {
		/* empty only for a mint refused by a lockout: it has no page */
		FAILF(t, "expected mfa_page_id=<the 22-character page id>, got %s (request URI %s)",
		      fake_arg(c, "mfa_page_id") ? fake_arg(c, "mfa_page_id") : "(none)", c->raw_uri);
	} else if (fake_arg(c, "mfa_status") == NULL ||
	           (strcmp(fake_arg(c, "mfa_status"), "approved") == 0) != validated) {
		FAILF(t, "expected mfa_status %s, got %s", validated ? "approved" : "other than approved",
		      fake_arg(c, "mfa_status") ? fake_arg(c, "mfa_status") : "(none)");
	} else if (c->ctype == NULL || strncasecmp(c->ctype, "application/json", 16) != 0) {
		FAILF(t, "expected Content-Type application/json on the Chatfuel call, got %s",
		      c->ctype ? c->ctype : "(none)");
	} else {
		rc = 0;
	}
	free(path);
	return rc;
}

int mfa_expect_calls(struct t *t, struct fake_cf *f, int n)
{
	int got = n > 0 ? fake_wait(f, n, H_CALL_TIMEOUT_MS) : 0;
	if (got < n) {
		FAILF(t, "expected %d Chatfuel call(s) within %d ms, got %d", n, H_CALL_TIMEOUT_MS, got);
		return -1;
	}
	got = fake_quiet(f, H_QUIET_WINDOW_MS);
	if (got != n) {
		const struct fake_call *c = fake_call(f, got - 1);
		FAILF(t, "expected exactly %d Chatfuel call(s), got %d (last: %s %s)", n, got,
		      c ? c->method : "", c ? c->raw_uri : "");
		return -1;
	}
	return 0;
}

int mfa_check_json_ctype(struct t *t, const struct resp *rs)
{
	const char *ct = resp_header(rs, "Content-Type");
	char norm[128];
	size_t k = 0;
	for (const char *p = ct ? ct : ""; *p && k + 1 < sizeof(norm); p++)
		if (*p != ' ')
			norm[k++] = (char)tolower((unsigned char)*p);
	norm[k] = '\0';
	if (strcmp(norm, "application/json;charset=utf-8") != 0) {
		FAILF(t, "expected Content-Type \"application/json; charset=utf-8\" on %s, got \"%s\"",
		      rs->desc, ct ? ct : "(none)");
		return -1;
	}
	return 0;
}

int mfa_expect_error(struct t *t, const struct resp *rs, long status, const char *code,
                     const char *field)
{
	if (rs->status != status) {
		char *s = snip(rs->body);
		FAILF(t, "expected %ld from %s, got %ld (%s)", status, rs->desc, rs->status, s);
		free(s);
		return -1;
	}
	if (mfa_check_json_ctype(t, rs) != 0)
		return -1;
	cJSON *j = resp_json(t, rs);
	if (j == NULL)
		return -1;
	int rc = -1;
	const char *e = j_str(j, "error"), *f = j_str(j, "field"), *det = j_str(j, "detail");
	if (e == NULL || strcmp(e, code) != 0) {
		FAILF(t, "expected error \"%s\" from %s, got %s", code, rs->desc, e ? e : "(none)");
	} else if (field && (f == NULL || strcmp(f, field) != 0)) {
		FAILF(t, "expected field \"%s\" from %s, got %s", field, rs->desc, f ? f : "(none)");
	} else if (det == NULL) {
		FAILF(t, "expected a detail text in the error from %s, got none", rs->desc);
	} else {
		rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

int mfa_check_security_headers(struct t *t, const struct resp *rs)
{
	return mfa_check_security_headers_opt(t, rs, true);
}

int mfa_check_security_headers_opt(struct t *t, const struct resp *rs, bool cache)
{
	const char *cc = resp_header(rs, "Cache-Control");
	const char *csp = resp_header(rs, "Content-Security-Policy");
	const char *hsts = resp_header(rs, "Strict-Transport-Security");
	const char *xcto = resp_header(rs, "X-Content-Type-Options");
	const char *rp = resp_header(rs, "Referrer-Policy");
	if (cache && (cc == NULL || !h_icontains(cc, "no-store"))) {
		FAILF(t, "expected Cache-Control: no-store on %s (%ld), got %s", rs->desc, rs->status,
		      cc ? cc : "(none)");
	} else if (csp == NULL) {
		FAILF(t, "expected a Content-Security-Policy on %s (%ld), got none", rs->desc, rs->status);
	} else if (h_icontains(csp, "unsafe-inline")) {
		FAILF(t, "expected a CSP without 'unsafe-inline' on %s, got \"%s\"", rs->desc, csp);
	} else if (!h_icontains(csp, "frame-ancestors 'none'")) {
		FAILF(t, "expected frame-ancestors 'none' in the CSP on %s, got \"%s\"", rs->desc, csp);
	} else if (hsts == NULL || !h_icontains(hsts, "max-age=")) {
		FAILF(t, "expected Strict-Transport-Security with max-age on %s (%ld), got %s", rs->desc,
		      rs->status, hsts ? hsts : "(none)");
	} else if (xcto == NULL || strcasecmp(xcto, "nosniff") != 0) {
		FAILF(t, "expected X-Content-Type-Options: nosniff on %s (%ld), got %s", rs->desc,
		      rs->status, xcto ? xcto : "(none)");
	} else if (rp == NULL || strcasecmp(rp, "no-referrer") != 0) {
		FAILF(t, "expected Referrer-Policy: no-referrer on %s (%ld), got %s", rs->desc,
		      rs->status, rp ? rp : "(none)");
	} else {
		return 0;
	}
	return -1;
}

static cJSON *get_status(struct t *t, struct daemon *d, const char *id)
{
	char *path = h_printf("/v1/challenges/%s", id);
	struct resp rs;
	int rc = d_api(d, "GET", path, NULL, NULL, &rs);
	free(path);
	if (rc != 0)
		return NULL;
	cJSON *j = NULL;
	if (rs.status != 200)
		FAILF(t, "expected 200 from GET /v1/challenges/%s, got %ld (%.200s)", id, rs.status,
		      rs.body);
	else if (mfa_check_json_ctype(t, &rs) == 0)
		j = resp_json(t, &rs);
	resp_free(&rs);
	return j;
}

int mfa_expect_status(struct t *t, struct daemon *d, const struct minted *m, const char *want)
{
	cJSON *j = get_status(t, d, m->id);
	if (j == NULL)
		return -1;
	int rc = -1;
	const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "decided_at");
	bool pending = strcmp(want, "pending") == 0;
	/* approved/denied are decisions and carry decided_at; for canceled and
	 * expired the SPEC does not say, so either null or a time is accepted. */
	bool decided = strcmp(want, "approved") == 0 || strcmp(want, "denied") == 0;
	char *s = cJSON_PrintUnformatted(j);
	if (j_str(j, "status") == NULL || strcmp(j_str(j, "status"), want) != 0)
		FAILF(t, "expected status \"%s\", got %s", want, s);
	else if (j_str(j, "id") == NULL || strcmp(j_str(j, "id"), m->id) != 0)
		FAILF(t, "expected id \"%s\", got %s", m->id, s);
	else if (j_str(j, "client_id") == NULL || strcmp(j_str(j, "client_id"), m->client_id) != 0)
		FAILF(t, "expected client_id \"%s\", got %s", m->client_id, s);
	else if (h_parse_rfc3339(j_str(j, "created_at")) < 0)
		FAILF(t, "expected created_at RFC 3339, got %s", s);
	else if (pending && dec != NULL && !cJSON_IsNull(dec))
		FAILF(t, "expected no decided_at while pending, got %s", s);
	else if (decided && (!cJSON_IsString(dec) || h_parse_rfc3339(dec->valuestring) < 0))
		FAILF(t, "expected decided_at RFC 3339 once %s, got %s", want, s);
	else
		rc = 0;
	free(s);
	cJSON_Delete(j);
	return rc;
}

long long mfa_metric(struct t *t, struct daemon *d, const char *name)
{
	struct resp rs;
	long long v = -1;

	if (d_api(d, "GET", "/metrics", NULL, NULL, &rs) != 0)
		return -1;
	const char *p = rs.body ? strstr(rs.body, name) : NULL;
	while (p != NULL && p > rs.body && p[-1] != '\n')
		p = strstr(p + 1, name);
	if (p != NULL && p[strlen(name)] == ' ')
		v = atoll(p + strlen(name) + 1);
	else
		FAILF(t, "expected %s in /metrics, got none", name);
	resp_free(&rs);
	return v;
}

long mfa_audit_rows(struct t *t, const struct daemon *d, const char *event, const char *page_id)
{
	char *stmt = page_id != NULL
		? h_printf("SELECT count(*) FROM audit_log WHERE event='%s' AND page_id='%s';", event, page_id)
		: h_printf("SELECT count(*) FROM audit_log WHERE event='%s';", event);
	const char *argv[] = { "/usr/bin/sqlite3", "-batch", "-noheader", d->db_path, stmt, NULL };
	char *out = NULL, *err = NULL;
	long n = -1;

	if (h_run_prog(t, argv, NULL, &out, &err) == 0 && out != NULL)
		n = strtol(out, NULL, 10);
	else
		FAILF(t, "expected sqlite3 \"%s\" to succeed: %.200s", stmt, err ? err : "");
	free(stmt);
	free(out);
	free(err);
	return n;
}

int mfa_expect_ended_locked(struct t *t, struct daemon *d, struct daemon *const *logs, struct fake_cf *f,
                            const struct minted *m)
{
	char *path = h_printf("/%s", m->page_id);
	struct resp rs;
	long n = 0, status;
	int calls = 0;

	if (d_web(d, "GET", path, NULL, NULL, &rs) != 0) {
		free(path);
		return -1;
	}
	free(path);
	status = rs.status;
	resp_free(&rs);
	if (status != 410) {
		FAILF(t, "expected the page of a link its phone's lockout ended to answer 410, got %ld", status);
		return -1;
	}
	if (mfa_expect_status(t, d, m, "locked") != 0)
		return -1;
	/* The row follows the deciding answer's own rows: waited for, bounded. */
	for (long long end = h_mono_ms() + 3000;; h_sleep_ms(20)) {
		n = 0;
		for (size_t i = 0; logs[i] != NULL; i++)
			n += mfa_audit_rows(t, logs[i], "locked", m->page_id);
		if (n >= 1 || h_mono_ms() >= end)
			break;
	}
	if (n != 1) {
		FAILF(t, "expected 1 locked audit row for the link a lockout ended, got %ld", n);
		return -1;
	}
	for (int i = 0; i < fake_count(f); i++) {
		const struct fake_call *c = fake_call(f, i);
		const char *pid = fake_arg(c, "mfa_page_id");
		if (pid == NULL || strcmp(pid, m->page_id) != 0)
			continue;
		if (mfa_check_call(t, c, m->client_id, m->flow, false, false) != 0)
			return -1;
		if (strcmp(fake_arg(c, "mfa_status"), "locked") != 0) {
			FAILF(t, "expected mfa_status locked for the link a lockout ended, got %s", fake_arg(c, "mfa_status"));
			return -1;
		}
		calls++;
	}
	if (calls != 1) {
		FAILF(t, "expected 1 call telling the bot false for the link a lockout ended, got %d", calls);
		return -1;
	}
	return 0;
}

struct daemon *mfa_start_default(struct t *t, struct fake_cf **fp)
{
	struct fake_cf *f = t_fake(t);
	if (f == NULL)
		return NULL;
	struct daemon *d = d_new(t, f);
	if (d == NULL || d_start(d, NULL) != 0)
		return NULL;
	if (fp)
		*fp = f;
	return d;
}

const struct fake_call *mfa_call_for(struct fake_cf *f, const char *client_id)
{
	char *path = h_printf("/bots/%s/users/%s/send", H_BOT_ID, client_id);
	const struct fake_call *found = NULL;
	int n = fake_count(f);
	for (int i = 0; i < n && !found; i++) {
		const struct fake_call *c = fake_call(f, i);
		if (strcmp(c->path, path) == 0)
			found = c;
	}
	free(path);
	return found;
}

struct fake_cf *t_fake(struct t *t)
{
	if (t->nfakes >= 4) {
		FAILF(t, "expected at most 4 fake servers per test, got more");
		return NULL;
	}
	struct fake_cf *f = fake_start();
	if (f == NULL) {
		FAILF(t, "expected the fake Chatfuel server to start, got failure");
		return NULL;
	}
	t->fakes[t->nfakes++] = f;
	return f;
}

long long mfa_db_int(struct t *t, const char *path, const char *sql, const char *arg)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		FAILF(t, "expected to open %s, got %s", path, db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (arg != NULL)
			sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
	}
	if (n < 0)
		FAILF(t, "expected to run \"%s\", got %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}
