/*
 * json_out: JSON text written straight into a struct buf, for the answers
 * the daemon builds itself (a mint's: a few string and number members). No
 * tree and no second pass: members are appended in order, and a comma goes
 * before each one that does not open its object or array. Strings are
 * escaped as cJSON_PrintUnformatted escapes them (quote, backslash, control
 * characters; UTF-8 passes through), so the text is the same byte for byte.
 */
#ifndef MNMFA_JSON_OUT_H
#define MNMFA_JSON_OUT_H

#include "buf.h"

/* Opens an object ('{') or array ('['), as the member key of the enclosing
 * object (key NULL: the top level or an array element). */
void json_out_open(struct buf *b, const char *key, char open);
void json_out_close(struct buf *b, char close);
/* A string member (key NULL: an array element). */
void json_out_str(struct buf *b, const char *key, const char *s);
/* An integer member; cJSON prints the same digits for values of an int. */
void json_out_int(struct buf *b, const char *key, long long v);

#endif
