/*
 * caldate: proleptic Gregorian dates as day numbers (days since 1970-01-01).
 * Field validation, challenge generation and page rendering all work on day
 * numbers, so date arithmetic is integer arithmetic and there is one strict
 * parser and one formatter for "YYYY-MM-DD". Pure apart from caldate_today_utc.
 *
 * The conversions are Howard Hinnant's days_from_civil / civil_from_days: the
 * year is shifted to start in March so the leap day falls at its end, and a
 * 400-year era has exactly 146097 days. Range rules (1900-01-01..today) belong
 * to field validation; here any date of a four-digit year 0001..9999 is valid.
 */
#include "caldate.h"
#include "util.h"

#include <stdio.h>

#define CALDATE_MAX_YEAR 9999
#define CALDATE_TEXT_LEN 10          /* "YYYY-MM-DD" */
#define CALDATE_DAYS_PER_ERA 146097  /* 400 Gregorian years */
#define CALDATE_EPOCH_SHIFT 719468   /* 0000-03-01 to 1970-01-01 */
#define CALDATE_MS_PER_DAY 86400000LL
#define CALDATE_MS_PER_SEC 1000
#define CALDATE_SECS_PER_DAY 86400

bool caldate_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int caldate_month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && caldate_is_leap(y))
		return 29;
	return days[m - 1];
}

bool caldate_valid_ymd(int y, int m, int d)
{
	if (y < 1 || y > CALDATE_MAX_YEAR || m < 1 || m > 12 || d < 1)
		return false;
	return d <= caldate_month_days(y, m);
}

int32_t caldate_from_ymd(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;                                       /* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;     /* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;               /* [0, 146096] */
	return era * CALDATE_DAYS_PER_ERA + doe - CALDATE_EPOCH_SHIFT;
}

void caldate_to_ymd(int32_t days, int *y, int *m, int *d)
{
	int32_t z = days + CALDATE_EPOCH_SHIFT;
	int32_t era = (z >= 0 ? z : z - (CALDATE_DAYS_PER_ERA - 1)) / CALDATE_DAYS_PER_ERA;
	int32_t doe = z - era * CALDATE_DAYS_PER_ERA;
	int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int32_t mp = (5 * doy + 2) / 153;                          /* March = 0 */

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* n ASCII digits as a number, or -1 if any byte is not a digit. */
static int caldate_parse_digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int caldate_parse(const char *s, size_t len, int32_t *out)
{
	int y, m, d;

	if (s == NULL || len != CALDATE_TEXT_LEN || s[4] != '-' || s[7] != '-')
		return -1;
	y = caldate_parse_digits(s, 4);
	m = caldate_parse_digits(s + 5, 2);
	d = caldate_parse_digits(s + 8, 2);
	if (y < 0 || m < 0 || d < 0 || !caldate_valid_ymd(y, m, d))
		return -1;
	*out = caldate_from_ymd(y, m, d);
	return 0;
}

void caldate_format(int32_t days, char *buf, size_t len)
{
	int y, m, d;

	caldate_to_ymd(days, &y, &m, &d);
	if (y >= 0 && y <= CALDATE_MAX_YEAR && len > CALDATE_TEXT_LEN) {
		/* The page prints one per option: digits, not snprintf. */
		const int v[3] = { y, m, d }, w[3] = { 4, 2, 2 };
		char *p = buf;
		for (int i = 0; i < 3; i++) {
			for (int k = w[i] - 1, x = v[i]; k >= 0; k--, x /= 10)
				p[k] = (char)('0' + x % 10);
			p += w[i];
			*p++ = i < 2 ? '-' : '\0';
		}
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

int32_t caldate_today_utc(void)
{
	int64_t ms = now_ms();
	int64_t days = ms / CALDATE_MS_PER_DAY;

	if (ms % CALDATE_MS_PER_DAY < 0)      /* floor, should the clock be before 1970 */
		days--;
	return (int32_t)days;
}

/* Reads n digits at *p into *out and moves *p past them. 0 or -1 (a NUL is
 * not a digit, so this never reads past the end). */
static int caldate_take_digits(const char **p, size_t n, int *out)
{
	*out = caldate_parse_digits(*p, n);
	if (*out < 0)
		return -1;
	*p += n;
	return 0;
}

/* One parser for both forms; strict demands the full RFC 3339 date-time. */
static int caldate_parse_stamp(const char *s, bool strict, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, off_min = 0;
	int64_t secs;

	if (s == NULL || caldate_take_digits(&s, 4, &y) || *s++ != '-' ||
	    caldate_take_digits(&s, 2, &mo) || *s++ != '-' || caldate_take_digits(&s, 2, &d) ||
	    !caldate_valid_ymd(y, mo, d))
		return -1;
	if (*s == 'T' || *s == 't' || (!strict && *s == ' ')) {
		s++;
		if (caldate_take_digits(&s, 2, &h) || *s++ != ':' || caldate_take_digits(&s, 2, &mi))
			return -1;
		if (*s == ':') {
			s++;
			if (caldate_take_digits(&s, 2, &sec))
				return -1;
			if (*s == '.') {
				int scale = 100;
				s++;
				if (*s < '0' || *s > '9')
					return -1;
				for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
					frac_ms += (*s - '0') * scale;
			}
		} else if (strict) {
			return -1;
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (sec == 60)
			sec = 59;
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int sign = *s++ == '-' ? -1 : 1, oh, om;
			if (caldate_take_digits(&s, 2, &oh) || *s++ != ':' ||
			    caldate_take_digits(&s, 2, &om) || oh > 23 || om > 59)
				return -1;
			off_min = sign * (oh * 60 + om);
		} else if (strict) {
			return -1;
		}
	} else if (strict) {
		return -1;
	}
	if (*s != '\0')
		return -1;
	secs = (int64_t)caldate_from_ymd(y, mo, d) * CALDATE_SECS_PER_DAY + h * 3600 + mi * 60 + sec -
	       (int64_t)off_min * 60;
	*out = secs * CALDATE_MS_PER_SEC + frac_ms;
	return 0;
}

int caldate_parse_rfc3339(const char *s, int64_t *ms)
{
	return caldate_parse_stamp(s, true, ms);
}

int caldate_parse_time_arg(const char *s, int64_t *ms)
{
	return caldate_parse_stamp(s, false, ms);
}
