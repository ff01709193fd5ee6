/*
 * api_fields: the named fields of an API request, from its one source: the
 * query string (GET), a urlencoded form or a JSON object (POST, by
 * Content-Type). The seed mint's extras (SPEC 4.1: format and lang also from
 * the query on a POST; Chatfuel's "full JSON profile" name for client_id) and
 * the SPEC 4.3 error answers for a missing, malformed or NUL-holding field.
 */
#ifndef MNMFA_API_FIELDS_H
#define MNMFA_API_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct http_req;

#define FIELD_NAME_MAX 64            /* a member name as quoted in an error */

/* Where a request's fields come from. */
struct fields {
	struct http_req *req;
	enum { SRC_QUERY, SRC_FORM, SRC_JSON } src;
	cJSON *json;
	bool seed;                        /* the seed mint: its extras below apply */
};

enum field_rc { F_OK = 0, F_ABSENT = -1, F_MALFORMED = -2, F_NUL = -3 };

/* Sets up the field source from the method and Content-Type; answers 400/413
 * itself and returns -1 when the body cannot be used. */
int fields_open(struct fields *f, struct http_req *req);
void fields_close(struct fields *f);
/* Copies field `name` into buf (NUL-terminated); F_ABSENT, F_MALFORMED, F_NUL or its length. */
long fields_get(struct fields *f, const char *name, char *buf, size_t cap);
/* A field that must be present and well formed: 0 with *len, or -1 after answering 400 naming it. */
int required_field(struct fields *f, const char *name, char *buf, size_t cap, size_t *len);
/* One of n choices (index in *out), def when absent; -1 after answering 400 naming it. */
int optional_choice(struct fields *f, const char *name, const char *const *choices, int n, int def,
                    int *out);

#endif
