/*
 * caldate: proleptic Gregorian calendar arithmetic on day numbers
 * (days since 1970-01-01). Pure; used by field validation, challenge
 * generation and page rendering.
 */
#ifndef MNMFA_CALDATE_H
#define MNMFA_CALDATE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define CALDATE_MIN_YEAR 1900

int32_t caldate_from_ymd(int y, int m, int d);
void caldate_to_ymd(int32_t days, int *y, int *m, int *d);
bool caldate_valid_ymd(int y, int m, int d);
/* Parses exactly "YYYY-MM-DD" (a real calendar date). 0 or -1. */
int caldate_parse(const char *s, size_t len, int32_t *out);
/* Writes "YYYY-MM-DD" (buf >= 11). */
void caldate_format(int32_t days, char *buf, size_t len);
int32_t caldate_today_utc(void);

#endif
