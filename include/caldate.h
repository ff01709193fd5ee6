/*
 * caldate: proleptic Gregorian calendar arithmetic on day numbers
 * (days since 1970-01-01), and RFC 3339 timestamps. Pure; used by field
 * validation, challenge generation, page rendering, the audit commands and
 * the tests.
 */
#ifndef MNMFA_CALDATE_H
#define MNMFA_CALDATE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define CALDATE_MIN_YEAR 1900

bool caldate_is_leap(int y);
/* Days in month m (1..12) of year y. */
int caldate_month_days(int y, int m);
int32_t caldate_from_ymd(int y, int m, int d);
void caldate_to_ymd(int32_t days, int *y, int *m, int *d);
bool caldate_valid_ymd(int y, int m, int d);
/* Parses exactly "YYYY-MM-DD" (a real calendar date). 0 or -1. */
int caldate_parse(const char *s, size_t len, int32_t *out);
/* Writes "YYYY-MM-DD" (buf >= 11). */
void caldate_format(int32_t days, char *buf, size_t len);
int32_t caldate_today_utc(void);

/* RFC 3339 date-time, "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" ('T' and
 * 'Z' in either case), to UTC milliseconds since the epoch; digits of the
 * fraction past milliseconds are dropped and a leap second :60 counts as :59.
 * 0, or -1 if s is not exactly that. */
int caldate_parse_rfc3339(const char *s, int64_t *ms);
/* The same, or one of the shorter forms an operator types on a command line:
 * a bare date "YYYY-MM-DD" (midnight), a space for the 'T', seconds left out
 * ("HH:MM"), no offset (UTC). 0 or -1. */
int caldate_parse_time_arg(const char *s, int64_t *ms);

#endif
