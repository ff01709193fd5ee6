/*
 * evidence: the `mnmfa audit show` and `mnmfa audit report` commands -- the
 * arguments, the timeline on the terminal, and the HTML report written to a
 * temporary name and renamed into place. The rows come from timeline.c, the
 * HTML from report.c.
 *
 * Exit codes: 0 rows found and every row shown intact; 1 a row shown fails
 * verification (or the database cannot be read or the report written);
 * 2 bad arguments; 3 nothing matches the selection.
 */
#ifndef MNMFA_EVIDENCE_H
#define MNMFA_EVIDENCE_H

#include <stdbool.h>

#define EVIDENCE_EXIT_NONE 3          /* nothing matches */

/* argv[0] is "show" or "report". Returns the process exit code. */
int evidence_cmd(int argc, char **argv);

#endif
