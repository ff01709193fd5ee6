/*
 * cmd_audit: the `mnmfa audit ...` subcommands -- a table from name to
 * runner, the arguments of verify, head and export, and their output and exit
 * codes (SPEC §2). The work is audit_export.c's; show and report are
 * evidence.c's.
 */
#include "cmd_audit.h"
#include "audit_export.h"
#include "caldate.h"
#include "checkpoint.h"
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
	fputs("usage: mnmfa audit verify [--db FILE] [--key FILE]\n"
	      "       mnmfa audit pubkey [--key FILE]\n"
	      "       mnmfa audit head [--db FILE]\n"
	      "       mnmfa audit export [--db FILE]... [--format jsonl|csv] [--since RFC3339]\n"
	      "       mnmfa audit show [--db FILE] (PAGE_ID | --phone P | --client C) [--since T] [--until T]\n"
	      "       mnmfa audit report ... (as show) --out FILE.html [--lang es|en]\n"
	      "\n"
	      "verify  walks the hash chain and checks every signed checkpoint: exit 0\n"
	      "        intact (rows checked, head hash, rows not signed yet), 1 broken (the\n"
	      "        first bad row id)\n"
	      "pubkey  prints the public half of the checkpoint key, to anchor elsewhere\n"
	      "head    prints the newest row id and hash, to anchor the chain elsewhere\n"
	      "export  writes the rows to stdout (default jsonl), those at or after --since;\n"
	      "        several --db (one per node) are merged by time, each row with its node\n"
	      "show    the timeline of a page, phone or client, each row's chain status\n"
	      "report  the same as a self-contained HTML evidence report (see audit show --help)\n"
	      "--db    the database (default: $MNMFA_DB_PATH, else " CONFIG_DEFAULT_DB_PATH ")\n"
	      "--key   audit_key, or a file holding its public half (default: $MNMFA_AUDIT_KEY,\n"
	      "        else " CHECKPOINT_KEY_NAME " beside the database)\n", f);
}

/* The flags of verify, head and export; argv[0] is the subcommand. 0, or the
 * exit code to return now (-1 for 0 after --help). */
#define AUDIT_EXPORT_DBS_MAX 64      /* --db files merged by one export */

struct audit_args {
	const char *db, *format, *since, *key;
	const char *dbs[AUDIT_EXPORT_DBS_MAX];   /* export: every --db given, in order */
	int ndbs;
};

static int parse_args(int argc, char **argv, bool export_flags, struct audit_args *out)
{
	const char *sub = argv[0];
	bool key_flag = strcmp(sub, "verify") == 0 || strcmp(sub, "pubkey") == 0;

	out->db = cli_db_default();
	out->key = getenv("MNMFA_AUDIT_KEY");
	if (out->key != NULL && *out->key == '\0')
		out->key = NULL;
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
		} else if (key_flag && (v = cli_flag(argc, argv, &i, "--key", &bad)) != NULL) {
			out->key = v;
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
	rc = audit_verify_chain_key(args.db, args.key, &v);
	if (rc == 0) {
		printf("audit chain intact: %lld rows checked, head id %lld hash %s\n",
		       (long long)v.rows, (long long)v.head_id, v.head_hash);
		if (v.checkpoints > 0)
			printf("signed checkpoints: %lld intact, the last covering row id %lld\n",
			       (long long)v.checkpoints, (long long)v.signed_id);
		else
			printf("signed checkpoints: none yet\n");
		if (v.head_id > v.signed_id)
			printf("not signed yet: %lld rows after row id %lld (signed within %d s while "
			       "the daemon runs, and at every clean stop)\n",
			       (long long)(v.head_id - v.signed_id), (long long)v.signed_id,
			       CHECKPOINT_EVERY_MS / 1000);
		return 0;
	}
	if (rc == 1 && v.bad_index)
		printf("audit log edited at row id %lld: %s (the chain itself is intact: %lld rows; "
		       "README, \"Finding a link's rows by hand\", says how to rebuild the index)\n",
		       (long long)v.bad_id, v.reason, (long long)v.rows);
	else if (rc == 1 && v.bad_checkpoint != 0)
		printf("audit chain broken at row id %lld: %s (signed checkpoint %lld fails; %lld "
		       "checkpoints before it intact, covering rows up to id %lld)\n",
		       (long long)v.bad_id, v.reason, (long long)v.bad_checkpoint,
		       (long long)v.checkpoints, (long long)v.signed_id);
	else if (rc == 1)
		printf("audit chain broken at row id %lld: %s (%lld rows before it intact)\n",
		       (long long)v.bad_id, v.reason, (long long)v.rows);
	else
		printf("audit chain could not be verified (see the error above)\n");
	return 1;
}

static int cmd_pubkey(int argc, char **argv)
{
	struct audit_args args = { 0 };
	struct checkpoint_key *k;
	char path[CHECKPOINT_PATH_MAX], err[512], hex[CHECKPOINT_PUB_HEX + 1];
	int rc = parse_args(argc, argv, false, &args);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (checkpoint_key_path(args.key, args.db, path, sizeof path) != 0) {
		fprintf(stderr, "mnmfa audit pubkey: --key: the path is too long\n");
		return 2;
	}
	if ((k = checkpoint_key_load(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "mnmfa audit pubkey: %s\n", err);
		return 1;
	}
	checkpoint_key_public_hex(k, hex);
	printf("ed25519 %s\n", hex);
	rc = checkpoint_key_public_pem(k, stdout) == 0 && fflush(stdout) == 0 ? 0 : 1;
	checkpoint_key_free(k);
	return rc;
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
	{ "pubkey", cmd_pubkey },
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
