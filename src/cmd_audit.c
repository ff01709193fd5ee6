/*
 * cmd_audit: the `mnmfa audit ...` subcommands -- a table from name to
 * runner, the arguments of verify, head and export, and their output and exit
 * codes (SPEC §2). The work is audit_export.c's; show and report are
 * evidence.c's.
 */
#include "cmd_audit.h"
#include "audit_export.h"
#include "caldate.h"
#include "cli.h"
#include "config.h"
#include "evidence.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void audit_usage(FILE *f)
{
	fputs("usage: mnmfa audit verify [--db FILE]\n"
	      "       mnmfa audit head [--db FILE]\n"
	      "       mnmfa audit export [--db FILE]... [--format jsonl|csv] [--since RFC3339]\n"
	      "       mnmfa audit show [--db FILE] (PAGE_ID | --phone P | --client C) [--since T] [--until T]\n"
	      "       mnmfa audit report ... (as show) --out FILE.html [--lang es|en]\n"
	      "\n"
	      "verify  walks the hash chain: exit 0 intact (rows checked, head hash),\n"
	      "        1 broken (the first bad row id)\n"
	      "head    prints the newest row id and hash, to anchor the chain elsewhere\n"
	      "export  writes the rows to stdout (default jsonl), those at or after --since;\n"
	      "        several --db (one per node) are merged by time, each row with its node\n"
	      "show    the timeline of a page, phone or client, each row's chain status\n"
	      "report  the same as a self-contained HTML evidence report (see audit show --help)\n"
	      "--db    the database (default: $MNMFA_DB_PATH, else " CONFIG_DEFAULT_DB_PATH ")\n", f);
}

/* The flags of verify, head and export; argv[0] is the subcommand. 0, or the
 * exit code to return now (-1 for 0 after --help). */
#define AUDIT_EXPORT_DBS_MAX 64      /* --db files merged by one export */

struct audit_args {
	const char *db, *format, *since;
	const char *dbs[AUDIT_EXPORT_DBS_MAX];   /* export: every --db given, in order */
	int ndbs;
};

static int parse_args(int argc, char **argv, bool export_flags, struct audit_args *out)
{
	const char *sub = argv[0];

	out->db = cli_db_default();
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			audit_usage(stdout);
			return -1;
		}
		if ((v = cli_flag(argc, argv, &i, "--db", &bad)) != NULL) {
			out->db = v;
			if (export_flags && out->ndbs == AUDIT_EXPORT_DBS_MAX) {
				fprintf(stderr, "mnmfa audit %s: at most %d --db files\n", sub, AUDIT_EXPORT_DBS_MAX);
				return 2;
			}
			if (export_flags)
				out->dbs[out->ndbs++] = v;
		} else if (export_flags && (v = cli_flag(argc, argv, &i, "--format", &bad)) != NULL) {
			out->format = v;
		} else if (export_flags && (v = cli_flag(argc, argv, &i, "--since", &bad)) != NULL) {
			out->since = v;
		} else {
			fprintf(stderr, bad ? "mnmfa audit %s: %s needs a value\n" :
			                      "mnmfa audit %s: unknown argument '%s'\n", sub, argv[i]);
			return 2;
		}
		if (*v == '\0') {
			fprintf(stderr, "mnmfa audit %s: empty flag value\n", sub);
			return 2;
		}
	}
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	struct audit_args args = { 0 };
	struct audit_verify v;
	int rc = parse_args(argc, argv, false, &args);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	rc = audit_verify_chain(args.db, &v);
	if (rc == 0) {
		printf("audit chain intact: %lld rows checked, head id %lld hash %s\n",
		       (long long)v.rows, (long long)v.head_id, v.head_hash);
		return 0;
	}
	if (rc == 1)
		printf("audit chain broken at row id %lld: %s (%lld rows before it intact)\n",
		       (long long)v.bad_id, v.reason, (long long)v.rows);
	else
		printf("audit chain could not be verified (see the error above)\n");
	return 1;
}

static int cmd_head(int argc, char **argv)
{
	struct audit_args args = { 0 };
	int rc = parse_args(argc, argv, false, &args);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	return audit_head(args.db, stdout) == 0 ? 0 : 1;
}

static int cmd_export(int argc, char **argv)
{
	struct audit_args args = { 0 };
	enum audit_format fmt = AUDIT_FORMAT_JSONL;
	int64_t since_ms = 0;
	int rc = parse_args(argc, argv, true, &args);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (args.format != NULL) {
		if (strcmp(args.format, "jsonl") == 0) {
			fmt = AUDIT_FORMAT_JSONL;
		} else if (strcmp(args.format, "csv") == 0) {
			fmt = AUDIT_FORMAT_CSV;
		} else {
			fprintf(stderr, "mnmfa audit export: --format '%s': expected jsonl or csv\n",
			        args.format);
			return 2;
		}
	}
	if (args.since != NULL && caldate_parse_time_arg(args.since, &since_ms) != 0) {
		fprintf(stderr, "mnmfa audit export: --since '%s': expected an RFC 3339 time like "
		        "2026-11-28T18:48:08Z\n", args.since);
		return 2;
	}
	/* The rows were written by the writer with fixed-width UTC text, so
	 * comparing the text is comparing the time. */
	if (args.ndbs > 1)
		return audit_export_many(args.dbs, args.ndbs, fmt, since_ms, stdout) == 0 ? 0 : 1;
	return audit_export(args.db, fmt, since_ms, stdout) == 0 ? 0 : 1;
}

/* Each subcommand's runner gets argv[0] = its name. */
static const struct audit_subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
} subcommands[] = {
	{ "verify", cmd_verify },
	{ "head", cmd_head },
	{ "export", cmd_export },
	{ "show", evidence_cmd },
	{ "report", evidence_cmd },
};

int audit_cmd(int argc, char **argv)
{
	if (argc < 1) {
		audit_usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0) {
		audit_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(subcommands); i++)
		if (strcmp(argv[0], subcommands[i].name) == 0)
			return subcommands[i].run(argc, argv);
	fprintf(stderr, "mnmfa audit: unknown command '%s'\n", argv[0]);
	audit_usage(stderr);
	return 2;
}
