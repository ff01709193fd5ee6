/*
 * api_fields: reading an API request's named fields (see api_fields.h).
 */
#include "api_fields.h"
#include "form.h"
#include "http.h"
#include "util.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

/* The seed mint's extras (SPEC §4.1). On a POST, format and lang may also
 * come in the query string, as a Chatfuel JSON API block's URL carries them
 * (the body wins). A JSON body sent with Chatfuel's "full JSON profile" holds
 * every user attribute under Chatfuel's own names: the user is "chatfuel user
 * id", the id its Broadcasting API takes on every channel, so it stands for
 * an absent client_id. No other field has one unambiguous Chatfuel name (the
 * phone, the flow and the date of birth are the bot's own attributes, sent
 * under the names the bot gave them). */
static const char *const seed_query_too[] = { "format", "lang" };
static const struct {
	const char *field, *chatfuel;
} seed_profile_names[] = {
	{ "client_id", "chatfuel user id" },
};

static long copy_value(const char *v, char *buf, size_t cap)
{
	size_t n;

	if (v == NULL)
		return F_ABSENT;
	n = strlen(v);
	if (n + 1 > cap)
		return F_MALFORMED;
	memcpy(buf, v, n + 1);
	return (long)n;
}

/* Query field `name`: F_NUL for a %00 in it, else as copy_value. */
static long query_value(struct http_req *req, const char *name, char *buf, size_t cap)
{
	size_t n;
	const char *v = http_query_n(req, name, &n);

	if (v != NULL && memchr(v, '\0', n) != NULL)
		return F_NUL;
	return copy_value(v, buf, cap);
}

/* Field `name` from the request's one source (see fields_get). */
static long fields_get_src(struct fields *f, const char *name, char *buf, size_t cap)
{
	switch (f->src) {
	case SRC_FORM:
		return form_get(f->req->body, f->req->body_len, name, buf, cap);
	case SRC_JSON: {
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(f->json, name);
		if (item == NULL || cJSON_IsNull(item))
			return F_ABSENT;
		if (cJSON_IsNumber(item)) {
			long long whole;
			int len;
			if (!double_to_whole(item->valuedouble, &whole))
				return F_MALFORMED;
			len = snprintf(buf, cap, "%lld", whole);
			return len < 0 || (size_t)len >= cap ? F_MALFORMED : len;
		}
		if (!cJSON_IsString(item))
			return F_MALFORMED;
		return copy_value(item->valuestring, buf, cap);
	}
	case SRC_QUERY:
	default:
		return query_value(f->req, name, buf, cap);
	}
}

/* Copies field `name` into buf (NUL-terminated); F_ABSENT, F_MALFORMED
 * (wrong JSON type, bad escape, too long), F_NUL (a %00 in the query; JSON
 * NULs are refused by fields_open) or its length. */
long fields_get(struct fields *f, const char *name, char *buf, size_t cap)
{
	long n = fields_get_src(f, name, buf, cap);

	if (n != F_ABSENT || !f->seed)
		return n;
	for (size_t i = 0; f->src != SRC_QUERY && i < ARRAY_LEN(seed_query_too); i++)
		if (strcmp(name, seed_query_too[i]) == 0)
			return query_value(f->req, name, buf, cap);
	for (size_t i = 0; f->src == SRC_JSON && i < ARRAY_LEN(seed_profile_names); i++)
		if (strcmp(name, seed_profile_names[i].field) == 0)
			return fields_get_src(f, seed_profile_names[i].chatfuel, buf, cap);
	return n;
}

/* Sets up the field source from the method and Content-Type; answers 400/413
 * itself and returns -1 when the body cannot be used. */
int fields_open(struct fields *f, struct http_req *req)
{
	char ct[64], key[FIELD_NAME_MAX];

	memset(f, 0, sizeof *f);
	f->req = req;
	if (req->method != HTTP_POST) {
		f->src = SRC_QUERY;
		return 0;
	}
	http_content_type(req, ct, sizeof ct);
	if (strcmp(ct, "application/json") == 0) {
		f->src = SRC_JSON;
		f->json = cJSON_ParseWithLength(req->body ? req->body : "", req->body_len);
		if (f->json == NULL || !cJSON_IsObject(f->json)) {
			http_reply_error(req, 400, "invalid_request", "body", "the body is not a JSON object");
			goto fail;
		}
		if (validate_json_nul_member(req->body, req->body_len, key, sizeof key)) {
			/* cJSON keeps "\u0000" as a NUL that would cut the value short */
			char detail[FIELD_NAME_MAX + 32];
			snprintf(detail, sizeof detail, "%s holds a NUL byte", key[0] ? key : "body");
			http_reply_error(req, 400, "invalid_request", key[0] ? key : "body", detail);
			goto fail;
		}
		return 0;
	}
	if (strcmp(ct, "application/x-www-form-urlencoded") == 0) {
		f->src = SRC_FORM;
		return 0;
	}
	if (ct[0] == '\0' && req->body_len == 0) {
		f->src = SRC_QUERY;
		return 0;
	}
	http_reply_error(req, 400, "invalid_request", "Content-Type",
	                 "send application/json or application/x-www-form-urlencoded");
	return -1;
fail:
	cJSON_Delete(f->json);
	f->json = NULL;
	return -1;
}

void fields_close(struct fields *f)
{
	cJSON_Delete(f->json);
	f->json = NULL;
}

int required_field(struct fields *f, const char *name, char *buf, size_t cap, size_t *len)
{
	long n = fields_get(f, name, buf, cap);

	if (n == F_ABSENT || n == 0) {
		char detail[96];
		snprintf(detail, sizeof detail, "%s is required", name);
		http_reply_error(f->req, 400, "invalid_request", name, detail);
		return -1;
	}
	if (n < 0) {
		char detail[96];
		snprintf(detail, sizeof detail, n == F_NUL ? "%s holds a NUL byte" :
		         "%s is malformed or too long", name);
		http_reply_error(f->req, 400, "invalid_request", name, detail);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

int optional_choice(struct fields *f, const char *name, const char *const *choices, int n,
                           int def, int *out)
{
	char buf[32];
	long len = fields_get(f, name, buf, sizeof buf);

	if (len == F_ABSENT || len == 0) {
		*out = def;
		return 0;
	}
	for (int i = 0; len > 0 && i < n; i++) {
		if (strcmp(buf, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	{
		char detail[96];
		snprintf(detail, sizeof detail, "%s must be one of", name);
		for (int i = 0; i < n; i++)
			snprintf(detail + strlen(detail), sizeof detail - strlen(detail), "%s %s", i ? "," : "", choices[i]);
		http_reply_error(f->req, 400, "invalid_request", name, detail);
	}
	return -1;
}

