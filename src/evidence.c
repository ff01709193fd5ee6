/*
 * evidence: `mnmfa audit show` (the timeline on the terminal) and
 * `mnmfa audit report` (the same rows as one printable HTML file). Both take
 * one selection -- a page id, --phone or --client -- and an optional period;
 * timeline.c reads the rows and their chain status, report.c renders HTML.
 *
 * The terminal view prints every value with control characters replaced, so
 * that a hand-edited row cannot move the cursor or recolour the screen of the
 * person reading it. Local times are the command's own zone (TZ), next to
 * UTC; the device's zone, when the page reported it, is shown with the device.
 */
#include "evidence.h"
#include "caldate.h"
#include "cli.h"
#include "crypto.h"
#include "config.h"
#include "report.h"
#include "timeline.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVIDENCE_ERR_MAX 512
#define EVIDENCE_PATH_MAX 4096
#define EVIDENCE_VALUE_MAX 1024           /* longest selection value accepted */

struct evidence_args {
	bool report;
	const char *db, *out, *since, *until;
	struct timeline_query q;
	enum lang lang;
	bool selected;
};

static void usage(FILE *f, bool report)
{
	if (report)
		fputs("usage: mnmfa audit report [--db FILE] (PAGE_ID | --phone P | --client C)\n"
		      "                          [--since T] [--until T] --out FILE.html [--lang es|en]\n"
		      "\n"
		      "Writes one self-contained, printable HTML evidence report for a dispute:\n"
		      "the timeline, each event's evidence (IP, user agent, device details), the\n"
		      "rows' ids and hashes and how to verify the chain independently. It loads\n"
		      "nothing from anywhere and runs no script. --lang: es (default) or en.\n", f);
	else
		fputs("usage: mnmfa audit show [--db FILE] (PAGE_ID | --phone P | --client C)\n"
		      "                        [--since T] [--until T]\n"
		      "\n"
		      "Prints the timeline of one challenge (PAGE_ID), one phone or one client:\n"
		      "UTC and local time (TZ), event, client, phone, flow, the IP as the server saw\n"
		      "it, the user agent, the device details and whether the hash chain is intact\n"
		      "up to each row.\n", f);
	fputs("\n"
	      "--since T, --until T  inclusive bounds, RFC 3339 (2026-11-28T18:48:08Z,\n"
	      "                      2026-11-28T12:48:08-06:00) or a date (its midnight UTC)\n"
	      "--db FILE             the database (default: $MNMFA_DB_PATH, else "
	      CONFIG_DEFAULT_DB_PATH ")\n"
	      "\n"
	      "exit: 0 rows found, every row shown intact; 1 a row shown fails verification\n"
	      "      (or the database cannot be read); 2 bad arguments; 3 nothing matches\n", f);
}

static int bad_arg(const struct evidence_args *a, const char *fmt, const char *what)
{
	fprintf(stderr, "mnmfa audit %s: ", a->report ? "report" : "show");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	return 2;
}

static int select_by(struct evidence_args *a, enum timeline_by by, const char *v)
{
	if (a->selected)
		return bad_arg(a, "%s: give one selection: PAGE_ID, --phone or --client", v);
	if (*v == '\0' || strlen(v) > EVIDENCE_VALUE_MAX)
		return bad_arg(a, "%s: expected a non-empty value", by == TIMELINE_PAGE ? "PAGE_ID" :
		               by == TIMELINE_PHONE ? "--phone" : "--client");
	a->selected = true;
	a->q.by = by;
	a->q.value = v;
	return 0;
}

static bool is_page_id(const char *s)
{
	if (strlen(s) != PAGE_ID_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *s) == NULL)
			return false;
	return true;
}

/* 0 parsed, or an exit code (0 for --help is returned as -1). */
static int parse_args(int argc, char **argv, struct evidence_args *a)
{
	const char *lang = NULL;
	int rc;

	a->report = strcmp(argv[0], "report") == 0;
	a->db = cli_db_default();
	a->lang = LANG_ES;
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, a->report);
			return -1;
		}
		if ((v = cli_flag(argc, argv, &i, "--db", &missing)) != NULL) {
			a->db = v;
		} else if ((v = cli_flag(argc, argv, &i, "--phone", &missing)) != NULL) {
			if ((rc = select_by(a, TIMELINE_PHONE, v)) != 0)
				return rc;
		} else if ((v = cli_flag(argc, argv, &i, "--client", &missing)) != NULL) {
			if ((rc = select_by(a, TIMELINE_CLIENT, v)) != 0)
				return rc;
		} else if ((v = cli_flag(argc, argv, &i, "--since", &missing)) != NULL) {
			a->since = v;
		} else if ((v = cli_flag(argc, argv, &i, "--until", &missing)) != NULL) {
			a->until = v;
		} else if (a->report && (v = cli_flag(argc, argv, &i, "--out", &missing)) != NULL) {
			a->out = v;
		} else if (a->report && (v = cli_flag(argc, argv, &i, "--lang", &missing)) != NULL) {
			lang = v;
		} else if (missing) {
			return bad_arg(a, "%s needs a value", argv[i]);
		} else if (is_page_id(argv[i])) {
			/* Before the flag test: an id may begin with '-' (base64url). */
			if ((rc = select_by(a, TIMELINE_PAGE, argv[i])) != 0)
				return rc;
		} else if (argv[i][0] == '-') {
			return bad_arg(a, "unknown argument '%s' (see --help)", argv[i]);
		} else {
			return bad_arg(a, "PAGE_ID '%s': expected the 22-character id from the link",
			               argv[i]);
		}
		if (v != NULL && *v == '\0')
			return bad_arg(a, "%s: empty value", argv[i][0] == '-' ? argv[i] : argv[i - 1]);
	}
	if (!a->selected)
		return bad_arg(a, "%s", "expected a selection: PAGE_ID, --phone P or --client C");
	if (a->since != NULL &&
	    (caldate_parse_time_arg(a->since, &a->q.since_ms) != 0 || a->q.since_ms <= 0))
		return bad_arg(a, "--since '%s': expected an RFC 3339 time like 2026-11-28T18:48:08Z",
		               a->since);
	if (a->until != NULL &&
	    (caldate_parse_time_arg(a->until, &a->q.until_ms) != 0 || a->q.until_ms <= 0))
		return bad_arg(a, "--until '%s': expected an RFC 3339 time like 2026-11-28T18:48:08Z",
		               a->until);
	if (a->since != NULL && a->until != NULL && a->q.until_ms < a->q.since_ms)
		return bad_arg(a, "--until '%s': is before --since", a->until);
	if (a->report && a->out == NULL)
		return bad_arg(a, "%s", "--out FILE.html is required");
	if (lang != NULL) {
		int l = config_name_index(config_lang_names, lang);
		if (l < 0)
			return bad_arg(a, "--lang '%s': expected es or en", lang);
		a->lang = (enum lang)l;
	}
	return 0;
}

/* ---- the terminal view ------------------------------------------------- */

/* Prints s with every control character (C0, DEL and C1, which some
 * terminals obey as escape sequences) and every byte that is not UTF-8 as
 * '?'; NULL as "-". */
static void put_clean(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left;

	if (s == NULL) {
		fputc('-', f);
		return;
	}
	left = strlen(s);
	while (left > 0) {
		uint32_t cp;
		int n = utf8_decode(p, left, &cp);

		if (n < 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			fputc('?', f);
			n = n < 0 ? 1 : n;
		} else {
			fwrite(p, 1, (size_t)n, f);
		}
		p += n;
		left -= (size_t)n;
	}
}

static void put_field(FILE *f, const char *label, const char *s)
{
	fprintf(f, "  %s ", label);
	put_clean(f, s);
}

static const char *chain_text(const struct timeline *tl, const struct timeline_row *r)
{
	switch (r->chain) {
	case TIMELINE_CHAIN_OK: return "intact up to this row";
	case TIMELINE_CHAIN_BAD: return tl->verify.reason;
	case TIMELINE_CHAIN_AFTER_BREAK: return "not covered: the chain is broken at an earlier row";
	}
	return "?";
}

static void show_row(FILE *f, const struct timeline *tl, const struct timeline_row *r)
{
	char local[64];

	timeline_local_time(r->ts_ms, local, sizeof local);
	fprintf(f, "#%lld  ", (long long)r->id);
	put_clean(f, r->ts);
	fprintf(f, "  (local %s)  ", local);
	put_clean(f, r->event);
	fputc('\n', f);
	fputs("   ", f);
	put_field(f, "page", r->page_id);
	put_field(f, "client", r->client_id);
	put_field(f, "phone", r->phone);
	put_field(f, "flow", r->flow);
	fputs("\n   ", f);
	if (r->node != NULL)
		put_field(f, "node", r->node);
	put_field(f, "ip", r->ip);
	put_field(f, "user agent", r->user_agent);
	fputc('\n', f);
	if (r->dev_screen || r->dev_lang || r->dev_tz || r->dev_platform) {
		fputs("   ", f);
		put_field(f, "screen", r->dev_screen);
		put_field(f, "language", r->dev_lang);
		put_field(f, "time zone", r->dev_tz);
		put_field(f, "platform", r->dev_platform);
		fputc('\n', f);
	}
	if (r->q_kind != NULL) {
		fputs("   ", f);
		put_field(f, "question", r->q_kind);
		put_field(f, "mode", r->q_mode);
		if (r->q_choices > 0)
			fprintf(f, "  choices %d", r->q_choices);
		fputc('\n', f);
	}
	fprintf(f, "     chain %s: %s\n", r->chain == TIMELINE_CHAIN_OK ? "ok" : "FAILS",
	        chain_text(tl, r));
	if (r->cp_id != 0)
		fprintf(f, "     signed: checkpoint %lld at %s (rows up to id %lld)\n",
		        (long long)r->cp_id, r->cp_ts, (long long)r->cp_row_id);
	else if (r->chain == TIMELINE_CHAIN_OK)
		fputs("     signed: not yet (no signed checkpoint covers this row)\n", f);
	fputs("     hash ", f);
	put_clean(f, r->hash);
	fputs("  prev ", f);
	put_clean(f, r->prev_hash);
	fputc('\n', f);
}

static void show_header(FILE *f, const struct evidence_args *a, const struct timeline *tl)
{
	char since[32] = "(start)", until[32] = "(now)";

	if (a->q.since_ms > 0)
		fmt_rfc3339_ms(a->q.since_ms, since, sizeof since);
	if (a->q.until_ms > 0)
		fmt_rfc3339_ms(a->q.until_ms, until, sizeof until);
	fprintf(f, "selection: %s ", timeline_by_name(a->q.by));
	put_clean(f, a->q.value);
	fprintf(f, ", from %s to %s\n", since, until);
	fputs("database: ", f);
	put_clean(f, a->db);
	fprintf(f, " (%lld rows, newest id %lld)\n", (long long)tl->log_rows,
	        (long long)tl->log_head_id);
	if (tl->intact)
		fprintf(f, "chain: intact, %lld rows checked, head id %lld hash %s\n",
		        (long long)tl->verify.rows, (long long)tl->verify.head_id, tl->verify.head_hash);
	else
		fprintf(f, "chain: BROKEN at row id %lld: %s (%lld rows before it intact)\n",
		        (long long)tl->verify.bad_id, tl->verify.reason, (long long)tl->verify.rows);
	if (tl->verify.checkpoints == 0)
		fputs("checkpoint: no signed checkpoint yet (anchor `mnmfa audit head` elsewhere)\n", f);
	else
		fprintf(f, "checkpoint: %lld signed checkpoints intact, covering rows up to id %lld; "
		        "%lld newer rows not signed yet\n", (long long)tl->verify.checkpoints,
		        (long long)tl->verify.signed_id,
		        (long long)(tl->verify.head_id > tl->verify.signed_id ?
		                    tl->verify.head_id - tl->verify.signed_id : 0));
}

static int cmd_show(const struct evidence_args *a, const struct timeline *tl)
{
	show_header(stdout, a, tl);
	if (tl->matched == 0) {
		printf("\nno audit rows match this selection\n");
		return EVIDENCE_EXIT_NONE;
	}
	printf("%lld row%s match", (long long)tl->matched, tl->matched == 1 ? "" : "s");
	if ((int64_t)tl->n < tl->matched)
		printf("; showing the first %zu (narrow it with --since/--until)", tl->n);
	printf("\n\n");
	for (size_t i = 0; i < tl->n; i++)
		show_row(stdout, tl, &tl->rows[i]);
	if (tl->failing > 0)
		printf("\n%zu row%s shown FAIL%s verification\n", tl->failing,
		       tl->failing == 1 ? "" : "s", tl->failing == 1 ? "S" : "");
	return fflush(stdout) != 0 ? 1 : tl->failing > 0 ? 1 : 0;
}

/* ---- the report file --------------------------------------------------- */

/* Writes data to path through a temporary name in the same directory, so the
 * path never holds half a report. 0 or -1 (message on stderr). */
static int write_atomically(const char *path, const char *data, size_t len)
{
	char tmp[EVIDENCE_PATH_MAX];
	size_t off = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp) {
		fprintf(stderr, "mnmfa audit report: --out '%s': path too long\n", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "mnmfa audit report: cannot create %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	/* mkstemp makes 0600: the report holds phone numbers. */
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "mnmfa audit report: cannot rename %s to %s: %s\n", tmp, path,
		        strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	fprintf(stderr, "mnmfa audit report: cannot write %s: %s\n", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

static int cmd_report(const struct evidence_args *a, const struct timeline *tl)
{
	struct report_meta meta = {
		.db_path = a->db, .q = &a->q, .made_ms = now_ms(), .lang = a->lang,
	};
	size_t len;
	char *html = report_render(tl, &meta, &len);
	int rc = write_atomically(a->out, html, len);

	free(html);
	if (rc != 0)
		return 1;
	printf("wrote %s: %lld row%s", a->out, (long long)tl->matched, tl->matched == 1 ? "" : "s");
	if (tl->failing > 0)
		printf(", %zu FAIL%s verification", tl->failing, tl->failing == 1 ? "S" : "");
	printf("\n");
	if (tl->matched == 0) {
		printf("no audit rows match this selection (the report says so)\n");
		return EVIDENCE_EXIT_NONE;
	}
	return tl->failing > 0 ? 1 : 0;
}

int evidence_cmd(int argc, char **argv)
{
	struct evidence_args a = { 0 };
	struct timeline tl;
	char err[EVIDENCE_ERR_MAX];
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (timeline_load(a.db, &a.q, &tl, err, sizeof err) != 0) {
		fprintf(stderr, "mnmfa audit %s: %s\n", argv[0], err);
		return 1;
	}
	rc = a.report ? cmd_report(&a, &tl) : cmd_show(&a, &tl);
	timeline_free(&tl);
	return rc;
}
