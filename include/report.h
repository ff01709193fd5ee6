/*
 * report: the HTML evidence report of `mnmfa audit report`, rendered from a
 * loaded timeline. Pure (no file or database access): one self-contained,
 * printable page -- inline <style>, no script, nothing loaded from anywhere --
 * in Spanish or English. Every value from the log passes through html_escape
 * (page.c); the date of birth and the options are never in the log, so they
 * cannot be in the report.
 */
#ifndef MNMFA_REPORT_H
#define MNMFA_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"
#include "timeline.h"

struct report_meta {
	const char *db_path;
	const struct timeline_query *q;
	int64_t made_ms;                  /* when the report is made, UTC ms */
	enum lang lang;
};

/* The whole document, malloc'd; *len receives its length. */
char *report_render(const struct timeline *tl, const struct report_meta *m, size_t *len);

#endif
