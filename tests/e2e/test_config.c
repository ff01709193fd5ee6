/*
 * test_config: the command line and configuration contract (SPEC §2, §3):
 * bad values exit 2 naming the key, check-config masks secrets, --help and
 * --version, flag > env > file precedence, MNMFA_CONFIG, the optional `serve`
 * word, exit 1 on a port in use, SIGINT stops cleanly, gen-cert.
 */
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fake_chatfuel.h"
#include "harness.h"
#include "mfa.h"
#include "tests.h"

struct bad_cfg {
	const char *file_key;        /* set in the JSON file ... */
	const char *file_json;       /* ... to this JSON value */
	const char *raw_file;        /* or the whole file is this text */
	const char *env;             /* NAME=VALUE */
	const char *flag, *flag_value;
	const char *want_key;        /* stderr must name these */
	const char *want_value;
};

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_bad_config(struct t *t)
{
	const struct bad_cfg *bc = t->arg;
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	if (bc->file_key) {
		cJSON *v = cJSON_Parse(bc->file_json);
		REQUIRE(t, v);
		cJSON_DeleteItemFromObject(d->cfg, bc->file_key);
		cJSON_AddItemToObject(d->cfg, bc->file_key, v);
	}
	if (bc->raw_file)
		REQUIRE(t, h_write_file(d->config_path, bc->raw_file, strlen(bc->raw_file)) == 0);
	else
		REQUIRE(t, d_write_config(d) == 0);

	/* Hold both ports: a daemon that bound (or tried to) before validating
	 * would exit 1 (port in use), not 2. */
	int f1 = listen_on(d->web_port), f2 = listen_on(d->api_port);
	const char *args[] = { "serve", "--config", d->config_path, bc->flag, bc->flag_value, NULL };
	const char *env[] = { bc->env, NULL };
	char *out, *err;
	int rc = h_run(t, args, env, &out, &err);
	if (f1 >= 0)
		close(f1);
	if (f2 >= 0)
		close(f2);
	BAIL(t);
	char *tail = h_tail(err, 3);
	EXPECT(t, rc == 2, "expected exit 2 for a bad configuration, got %d (stderr: %s)", rc, tail);
	EXPECT(t, err[0] != '\0', "expected an error line on stderr, got nothing (stdout: %.200s)", out);
	const char *line = bc->want_key ? strstr(err, bc->want_key) : err;
	EXPECT(t, line != NULL, "expected stderr to name the key \"%s\", got: %s", bc->want_key, tail);
	/* The key, the bad value and the expectation come on one line. */
	const char *bol = line;
	while (bol > err && bol[-1] != '\n')
		bol--;
	const char *eol = strchr(line, '\n');
	char *one = eol ? strndup(bol, (size_t)(eol - bol)) : h_strdup(bol);
	bool has_val = bc->want_value == NULL || strstr(one, bc->want_value) != NULL;
	EXPECT(t, has_val, "expected the error line to show the bad value \"%s\", got: %s",
	       bc->want_value, one);
	free(one);
	EXPECT(t, !h_contains(err, H_TOKEN) && !h_contains(out, H_TOKEN),
	       "expected no chatfuel_token in the error output, got it");
	free(tail);
	free(out);
	free(err);
}

static const struct bad_cfg bad_web_port = { "web_port", "70000", NULL, NULL, NULL, NULL, "web_port", "70000" };
static const struct bad_cfg bad_web_port_str = { "web_port", "\"443\"", NULL, NULL, NULL, NULL, "web_port", NULL };
static const struct bad_cfg bad_exp_5 = { "expiration", "5", NULL, NULL, NULL, NULL, "expiration", "5" };
static const struct bad_cfg bad_exp_601 = { "expiration", "601", NULL, NULL, NULL, NULL, "expiration", "601" };
static const struct bad_cfg bad_choices_9 = { "choices", "9", NULL, NULL, NULL, NULL, "choices", "9" };
static const struct bad_cfg bad_choices_1 = { "choices", "1", NULL, NULL, NULL, NULL, "choices", "1" };
static const struct bad_cfg bad_unknown_key = { "bogus_key", "true", NULL, NULL, NULL, NULL, "bogus_key", NULL };
static const struct bad_cfg bad_env_tls = { NULL, NULL, NULL, "MNMFA_API_TLS=maybe", NULL, NULL, "api_tls", "maybe" };
static const struct bad_cfg bad_env_exp = { NULL, NULL, NULL, "MNMFA_EXPIRATION=5", NULL, NULL, "expiration", "5" };
static const struct bad_cfg bad_json = { NULL, NULL, "{\"web_port\": 8443,, \"bind\": }", NULL, NULL, NULL, NULL, NULL };
static const struct bad_cfg bad_flag_exp = { NULL, NULL, NULL, NULL, "--expiration", "abc", "expiration", "abc" };
static const struct bad_cfg bad_flag_unknown = { NULL, NULL, NULL, NULL, "--bogus-flag", "1", "bogus-flag", NULL };
static const struct bad_cfg bad_target = { "chatfuel_target", "\"blob\"", NULL, NULL, NULL, NULL, "chatfuel_target", "blob" };
static const struct bad_cfg bad_rate = { "rate_phone", "\"five\"", NULL, NULL, NULL, NULL, "rate_phone", "five" };
static const struct bad_cfg bad_lang = { "lang", "\"fr\"", NULL, NULL, NULL, NULL, "lang", "fr" };
static const struct bad_cfg bad_color = { "brand_color", "\"red\"", NULL, NULL, NULL, NULL, "brand_color", "red" };
static const struct bad_cfg bad_tls_str = { "api_tls", "\"yes\"", NULL, NULL, NULL, NULL, "api_tls", NULL };

static void test_check_config(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	cJSON *keys = cJSON_CreateStringArray((const char *const[]){ "key-abc-secret-1" }, 1);
	cJSON_AddItemToObject(d->cfg, "api_keys", keys);
	d_set_str(d, "webhook_url", "http://127.0.0.1:9/hook");
	d_set_str(d, "webhook_secret", "whsec-xyz-secret-2");
	REQUIRE(t, d_write_config(d) == 0);
	const char *args[] = { "check-config", "--config", d->config_path, NULL };
	char *out, *err;
	int rc = h_run(t, args, NULL, &out, &err);
	BAIL(t);
	char *all = h_printf("%s%s", out, err);
	char port[16];
	snprintf(port, sizeof(port), "%d", d->web_port);
	EXPECT(t, rc == 0, "expected check-config to exit 0 on a valid config, got %d (%.300s)", rc, all);
	EXPECT(t, !h_contains(all, H_TOKEN), "expected check-config to mask chatfuel_token, got it shown");
	EXPECT(t, !h_contains(all, "key-abc-secret-1"), "expected check-config to mask api_keys, got one shown");
	EXPECT(t, !h_contains(all, "whsec-xyz-secret-2"),
	       "expected check-config to mask webhook_secret, got it shown");
	EXPECT(t, h_contains(out, "web_port") && h_contains(out, port),
	       "expected check-config to print the effective web_port %s on stdout, got %.300s", port, out);
	EXPECT(t, h_contains(out, "expiration"), "expected check-config to print expiration, got %.300s", out);
	free(all);
	free(out);
	free(err);

	/* Precedence shows there too, and a bad value exits 2. */
	const char *env[] = { "MNMFA_EXPIRATION=77", NULL };
	rc = h_run(t, args, env, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 0 && h_contains(out, "77"), "expected check-config to show expiration 77 from the env, got %d: %.300s",
	       rc, out);
	free(out);
	free(err);
	const char *env2[] = { "MNMFA_EXPIRATION=700", NULL };
	rc = h_run(t, args, env2, &out, &err);
	BAIL(t);
	EXPECT(t, rc == 2, "expected check-config to exit 2 on expiration 700, got %d", rc);
	EXPECT(t, !h_contains(out, H_TOKEN) && !h_contains(err, H_TOKEN),
	       "expected no chatfuel_token in check-config's output, got it");
	free(out);
	free(err);
}

static void test_help_version(struct t *t)
{
	static const char *const cmds[][4] = {
		{ "--help", NULL }, { "--version", NULL }, { "serve", "--help", NULL },
		{ "check-config", "--help", NULL }, { "gen-cert", "--help", NULL },
		{ "audit", "--help", NULL },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *out, *err;
		int rc = h_run(t, cmds[i], NULL, &out, &err);
		BAIL(t);
		bool text = out[0] != '\0';
		free(out);
		free(err);
		EXPECT(t, rc == 0, "expected `mnmfa %s %s` to exit 0, got %d", cmds[i][0],
		       cmds[i][1] ? cmds[i][1] : "", rc);
		EXPECT(t, text, "expected `mnmfa %s %s` to print on stdout, got nothing", cmds[i][0],
		       cmds[i][1] ? cmds[i][1] : "");
	}
	char *out, *err;
	const char *bogus[] = { "frobnicate", NULL };
	int rc = h_run(t, bogus, NULL, &out, &err);
	free(out);
	free(err);
	BAIL(t);
	EXPECT(t, rc != 0, "expected an unknown command to fail, got exit %d", rc);
}

static long long mint_expires_in(struct daemon *d)
{
	struct minted m;
	if (mfa_mint_seed(d, "cid-prec", "5215555000001", "F", "1990-04-01", &m) != 0)
		return -1;
	return m.expires_in;
}

static void test_precedence(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	static const char *const env[] = { "MNMFA_EXPIRATION=40", NULL };
	static const char *const flags[] = { "--expiration", "50", NULL };
	struct start_opts file_only = { 0 }, file_env = { .env = env },
	                  all = { .env = env, .args = flags };
	const struct { struct start_opts *o; int want; const char *what; } cases[] = {
		{ &file_only, 30, "expires_in with file 30" },
		{ &file_env, 40, "expires_in with file 30, env 40" },
		{ &all, 50, "expires_in with file 30, env 40, flag 50" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct daemon *d = d_new(t, f);
		REQUIRE(t, d);
		d_set_int(d, "expiration", 30);
		REQUIRE(t, d_start(d, cases[i].o) == 0);
		long long got = mint_expires_in(d);
		BAIL(t);
		EXPECT_INT(t, cases[i].what, cases[i].want, got);
		REQUIRE(t, d_stop(d) == 0);
	}
	/* A boolean too: file true, env 1, flag false -> the API port is plain. */
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	d_set_bool(d, "api_tls", true);
	static const char *const envtls[] = { "MNMFA_API_TLS=1", NULL };
	static const char *const flagtls[] = { "--api-tls", "false", NULL };
	struct start_opts o = { .env = envtls, .args = flagtls, .force_api_plain = true };
	REQUIRE(t, d_start(d, &o) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_seed(d, "cid-prec2", "5215555000001", "F", "1990-04-01", &m) == 0);
}

static void test_config_env_no_serve(struct t *t)
{
	struct fake_cf *f = t_fake(t);
	REQUIRE(t, f);
	struct daemon *d = d_new(t, f);
	REQUIRE(t, d);
	struct start_opts o = { .no_serve_word = true, .config_via_env = true };
	REQUIRE(t, d_start(d, &o) == 0);
	struct minted m;
	REQUIRE(t, mfa_mint_and_answer(d, "cid-env", "5215555000002", "FlowEnv", "1990-04-02", true, &m) == 0);
	REQUIRE(t, mfa_expect_calls(t, f, 1) == 0);
	REQUIRE(t, mfa_check_call(t, fake_call(f, 0), "cid-env", "FlowEnv", true, false) == 0);
	/* SIGINT is a clean stop too. */
	REQUIRE(t, d_stop_sig(d, SIGINT) == 0);
}

static void test_port_in_use(struct t *t)
{
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_write_config(d) == 0);
	int fd = listen_on(d->web_port);
	EXPECT(t, fd >= 0, "expected to occupy port %d, got failure", d->web_port);
	const char *args[] = { "serve", "--config", d->config_path, NULL };
	char *out, *err;
	int rc = h_run(t, args, NULL, &out, &err);
	close(fd);
	BAIL(t);
	char *tail = h_tail(err, 3);
	EXPECT(t, rc == 1, "expected exit 1 when the web port is in use, got %d (stderr: %s)", rc, tail);
	free(tail);
	free(out);
	free(err);
}

static bool san_has(GENERAL_NAMES *names, const char *host)
{
	unsigned char ip[16];
	int iplen = 0;
	if (inet_pton(AF_INET, host, ip) == 1)
		iplen = 4;
	else if (inet_pton(AF_INET6, host, ip) == 1)
		iplen = 16;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_DNS && iplen == 0) {
			const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
			int n = ASN1_STRING_length(g->d.dNSName);
			if ((size_t)n == strlen(host) && memcmp(s, host, (size_t)n) == 0)
				return true;
		} else if (g->type == GEN_IPADD && iplen) {
			if (ASN1_STRING_length(g->d.iPAddress) == iplen &&
			    memcmp(ASN1_STRING_get0_data(g->d.iPAddress), ip, (size_t)iplen) == 0)
				return true;
		}
	}
	return false;
}

static int check_cert(struct t *t, const char *dir, const char *const *hosts)
{
	char *cp = h_printf("%s/cert.pem", dir), *kp = h_printf("%s/key.pem", dir);
	int rc = -1;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	GENERAL_NAMES *names = NULL;
	FILE *fp = fopen(cp, "r");
	if (fp) {
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	fp = fopen(kp, "r");
	if (fp) {
		k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	struct stat st;
	char group[64] = "";
	size_t glen = 0;
	if (x == NULL || k == NULL) {
		FAILF(t, "expected PEM cert.pem and key.pem in %s, got %s", dir, x ? "no key" : "no cert");
		goto out;
	}
	if (stat(kp, &st) != 0 || (st.st_mode & 077) != 0) {
		FAILF(t, "expected key.pem mode 0600, got %03o", (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1 ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		FAILF(t, "expected an EC P-256 key, got type %d group \"%s\"", EVP_PKEY_get_base_id(k), group);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		FAILF(t, "expected key.pem to match cert.pem, got a mismatch");
		goto out;
	}
	EVP_PKEY *pub = X509_get0_pubkey(x);
	if (pub == NULL || X509_verify(x, pub) != 1 ||
	    X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0) {
		FAILF(t, "expected a self-signed certificate, got one that is not");
		goto out;
	}
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; hosts[i]; i++)
		if (names == NULL || !san_has(names, hosts[i])) {
			FAILF(t, "expected a SAN for %s, got none", hosts[i]);
			goto out;
		}
	rc = 0;
out:
	GENERAL_NAMES_free(names);
	EVP_PKEY_free(k);
	X509_free(x);
	free(cp);
	free(kp);
	return rc;
}

static void test_gen_cert(struct t *t)
{
	char *dir = h_printf("%s/gc1", t->dir);
	const char *args[] = { "gen-cert", "--out", dir, NULL };
	char *out, *err;
	int rc = h_run(t, args, NULL, &out, &err);
	free(out);
	free(err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected gen-cert to exit 0, got %d", rc);
	static const char *const defaults[] = { "localhost", "127.0.0.1", NULL };
	REQUIRE(t, check_cert(t, dir, defaults) == 0);
	free(dir);

	dir = h_printf("%s/gc2", t->dir);
	const char *args2[] = { "gen-cert", "--out", dir, "--host", "mfa.example.test", "--host",
	                        "10.1.2.3", NULL };
	rc = h_run(t, args2, NULL, &out, &err);
	free(out);
	free(err);
	BAIL(t);
	EXPECT(t, rc == 0, "expected gen-cert --host ... to exit 0, got %d", rc);
	static const char *const given[] = { "mfa.example.test", "10.1.2.3", NULL };
	REQUIRE(t, check_cert(t, dir, given) == 0);
	free(dir);

	/* The daemon's own autogenerated pair follows the same rules. */
	struct daemon *d = d_new(t, NULL);
	REQUIRE(t, d);
	REQUIRE(t, d_start(d, NULL) == 0);
	REQUIRE(t, check_cert(t, d->dir, defaults) == 0);
}

const struct test e2e_tests_config[] = {
	{ "config_rejects_web_port_70000", test_bad_config, &bad_web_port },
	{ "config_rejects_web_port_string", test_bad_config, &bad_web_port_str },
	{ "config_rejects_expiration_5", test_bad_config, &bad_exp_5 },
	{ "config_rejects_expiration_601", test_bad_config, &bad_exp_601 },
	{ "config_rejects_choices_9", test_bad_config, &bad_choices_9 },
	{ "config_rejects_choices_1", test_bad_config, &bad_choices_1 },
	{ "config_rejects_unknown_file_key", test_bad_config, &bad_unknown_key },
	{ "config_rejects_env_api_tls_maybe", test_bad_config, &bad_env_tls },
	{ "config_rejects_env_expiration_5", test_bad_config, &bad_env_exp },
	{ "config_rejects_malformed_json", test_bad_config, &bad_json },
	{ "config_rejects_flag_expiration_abc", test_bad_config, &bad_flag_exp },
	{ "config_rejects_unknown_flag", test_bad_config, &bad_flag_unknown },
	{ "config_rejects_chatfuel_target_blob", test_bad_config, &bad_target },
	{ "config_rejects_rate_phone_five", test_bad_config, &bad_rate },
	{ "config_rejects_lang_fr", test_bad_config, &bad_lang },
	{ "config_rejects_brand_color_red", test_bad_config, &bad_color },
	{ "config_rejects_api_tls_string", test_bad_config, &bad_tls_str },
	{ "check_config_valid_masks_secrets", test_check_config, NULL },
	{ "cli_help_and_version_exit_0", test_help_version, NULL },
	{ "config_precedence_flag_env_file", test_precedence, NULL },
	{ "config_via_env_without_serve_word", test_config_env_no_serve, NULL },
	{ "serve_port_in_use_exits_1", test_port_in_use, NULL },
	{ "gen_cert_self_signed_p256_with_sans", test_gen_cert, NULL },
	{ NULL, NULL, NULL },
};
