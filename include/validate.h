/*
 * validate: the SPEC §4.3 field rules for outside input, as pure functions.
 * Each returns 0, or -1 with *detail set to a static sentence for the API's
 * "detail". Inputs are (pointer, length) and need not be NUL-terminated.
 */
#ifndef MNMFA_VALIDATE_H
#define MNMFA_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#define FLOW_MAX_CHARS 128

int validate_client_id(const char *s, size_t len, const char **detail);
int validate_phone(const char *s, size_t len, const char **detail);
int validate_flow(const char *s, size_t len, const char **detail);
/* A real calendar date YYYY-MM-DD between 1900-01-01 and today (day number). */
int validate_dob(const char *s, size_t len, int32_t today, int32_t *out, const char **detail);
/* Well-formed UTF-8 without control characters; returns code points or -1. */
long utf8_printable_len(const char *s, size_t len);

#endif
