/*
 * main: subcommand dispatch. Thin on purpose: `serve` lives in server.c,
 * configuration in config.c, certificates in certgen.c, the audit commands
 * in cmd_audit.c.
 */
#include "app.h"
#include "cmd_audit.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "server.h"
#include "certgen.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define MNMFA_VERSION "0.1.0"

extern char **environ;

static void usage(FILE *out)
{
	fprintf(out,
	        "mnmfa " MNMFA_VERSION " — out-of-band second factor for WhatsApp chatbots\n\n"
	        "Usage:\n"
	        "  mnmfa [serve] [--config FILE] [--KEY VALUE]...   run the daemon (SIGTERM stops, SIGHUP reloads TLS)\n"
	        "  mnmfa check-config [--config FILE] [--KEY VALUE]...  validate and print the effective configuration\n"
	        "  mnmfa gen-cert --out DIR [--host NAME]...        write DIR/cert.pem and DIR/key.pem (self-signed, EC P-256)\n"
	        "  mnmfa audit verify [--db FILE]                   check the audit hash chain\n"
	        "  mnmfa audit head [--db FILE]                     print the newest row id and hash\n"
	        "  mnmfa audit export [--db FILE] [--format jsonl|csv] [--since RFC3339]\n"
	        "  mnmfa audit show [--db FILE] (PAGE_ID | --phone P | --client C) [--since T] [--until T]\n"
	        "  mnmfa audit report ... (as show) --out FILE.html [--lang es|en]\n"
	        "  mnmfa health [--config FILE] [--KEY VALUE]...    ask this configuration's local /healthz (exit 0 healthy)\n"
	        "  mnmfa --version | --help | CMD --help\n\n"
	        "Exit codes: 0 ok; 1 runtime failure (port in use, unreadable key, broken chain); 2 bad configuration or usage.\n\n");
	config_usage(out);
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int load_config(struct app *app, int argc, char **argv)
{
	if (config_load(&app->cfg, argc, argv, environ) < 0) {
		config_free(&app->cfg);
		return -1;
	}
	log_init(app->cfg.log_level, app->cfg.log_format == LOG_FORMAT_JSON);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct app app = { 0 };
	int rc;

	if (wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	if (load_config(&app, argc, argv) < 0)
		return 2;
	rc = server_run(&app);
	config_free(&app.cfg);
	return rc;
}

static int cmd_check_config(int argc, char **argv)
{
	struct app app = { 0 };

	if (wants_help(argc, argv)) {
		printf("Usage: mnmfa check-config [--config FILE] [--KEY VALUE]...\n"
		       "Loads defaults, FILE, MNMFA_* variables and flags, validates them and prints the\n"
		       "effective values with secrets hidden. Exit 0 valid, 2 invalid.\n");
		return 0;
	}
	if (load_config(&app, argc, argv) < 0)
		return 2;
	config_print(&app.cfg, stdout);
	printf("configuration is valid\n");
	config_free(&app.cfg);
	return 0;
}

static int cmd_gen_cert(int argc, char **argv)
{
	const char *out = NULL, *hosts[CERTGEN_HOSTS_MAX];
	size_t nhosts = 0;
	char cert[4096], key[4096];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: mnmfa gen-cert --out DIR [--host NAME]...\n"
			       "Writes DIR/cert.pem and DIR/key.pem (0600): a self-signed EC P-256 certificate\n"
			       "with a SAN for each host (default: localhost, 127.0.0.1).\n");
			return 0;
		} else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
			if (nhosts == CERTGEN_HOSTS_MAX) {
				fprintf(stderr, "mnmfa gen-cert: at most %d hosts\n", CERTGEN_HOSTS_MAX);
				return 2;
			}
			hosts[nhosts++] = argv[++i];
		} else {
			fprintf(stderr, "mnmfa gen-cert: unexpected argument \"%s\" (see mnmfa gen-cert --help)\n", argv[i]);
			return 2;
		}
	}
	if (out == NULL) {
		fprintf(stderr, "mnmfa gen-cert: --out DIR is required\n");
		return 2;
	}
	if (nhosts == 0) {
		hosts[nhosts++] = "localhost";
		hosts[nhosts++] = "127.0.0.1";
	}
	snprintf(cert, sizeof cert, "%s/cert.pem", out);
	snprintf(key, sizeof key, "%s/key.pem", out);
	if (certgen_write(cert, key, hosts, nhosts) < 0)
		return 1;
	printf("wrote %s and %s\n", cert, key);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "serve";

	log_init(LOG_INFO, false);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("mnmfa %s\n", MNMFA_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 2, argv + 2);
	if (strcmp(cmd, "gen-cert") == 0)
		return cmd_gen_cert(argc - 2, argv + 2);
	if (strcmp(cmd, "health") == 0)
		return health_cmd(argc - 2, argv + 2);
	if (strcmp(cmd, "audit") == 0) {
		if (argc < 3) {
			fprintf(stderr, "mnmfa audit: expected verify, head, export, show or report (see mnmfa --help)\n");
			return 2;
		}
		return audit_cmd(argc - 2, argv + 2);
	}
	if (strncmp(cmd, "--", 2) == 0)
		return cmd_serve(argc - 1, argv + 1);
	fprintf(stderr, "mnmfa: unknown command \"%s\" (see mnmfa --help)\n", cmd);
	return 2;
}
