/*
 * Unit tests of crypto (base64url, SHA-256, HMAC, hex, constant-time compare,
 * randomness), certgen (certificate generation, start-up checks) and tlsmat
 * (loading, the GnuTLS callback's view, reload). Certificate tests work in
 * their own mkdtemp directory, removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "log.h"
#include "certgen.h"
#include "tlsmat.h"
#include "util.h"

#define TEST_PATH_MAX 512

/* ---- base64url ---- */

struct b64_vector {
	const char *raw;
	size_t rawlen;
	const char *enc;
};

/* RFC 4648 section 10, without padding, plus bytes that hit '-' and '_'
 * (standard '+' and '/') to prove the url alphabet. */
static const struct b64_vector b64_vectors[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg" },
	{ "fo", 2, "Zm8" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg" },
	{ "fooba", 5, "Zm9vYmE" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\xfb\xff", 2, "-_8" },
	{ "\xff\xff\xfe", 3, "___-" },
	{ "\x00\x10\x83\x10\x51\x87", 6, "ABCDEFGH" },
};

static void test_b64url_matches_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(b64_vectors); i++) {
		const struct b64_vector *v = &b64_vectors[i];
		char enc[32];
		uint8_t dec[32];
		long n;

		assert_int_equal(b64url_encode((const uint8_t *)v->raw, v->rawlen, enc),
		                 strlen(v->enc));
		assert_string_equal(enc, v->enc);
		n = b64url_decode(v->enc, strlen(v->enc), dec, sizeof dec);
		assert_int_equal(n, (long)v->rawlen);
		assert_memory_equal(dec, v->raw, v->rawlen);
	}
}

static void test_b64url_round_trips_every_length(void **state)
{
	uint8_t raw[100], dec[100];
	char enc[4 * 34 + 1];

	(void)state;
	for (size_t n = 0; n <= sizeof raw; n++) {
		size_t elen;
		assert_int_equal(crypto_random(raw, n), 0);
		elen = b64url_encode(raw, n, enc);
		assert_int_equal(elen, (n * 4 + 2) / 3);   /* no padding */
		assert_int_equal(strlen(enc), elen);
		assert_int_equal(b64url_decode(enc, elen, dec, n), (long)n);  /* exact capacity */
		assert_memory_equal(dec, raw, n);
	}
}

static void test_b64url_decode_rejects_noncanonical_input(void **state)
{
	static const char *const bad[] = {
		"Zg==",      /* padding */
		"Zm8=",
		"Zm9v=",
		"Zm+v",      /* standard alphabet */
		"Zm/v",
		"Zm 8",      /* whitespace, in lengths that are otherwise valid */
		"Zm8\n",
		" Zm8",
		"Zm8\t",
		"Zg ",
		"Zm9v\r\nZm9v",
		"Z",         /* n % 4 == 1 never encodes whole bytes */
		"Zm9vY",
		"Zh",        /* non-zero trailing bits: "f" is only "Zg" */
		"Zm9",       /* "fo" is only "Zm8" */
		"Zm\xc3\xa9", /* non-ASCII */
		"Zm.v",
	};
	uint8_t out[16];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (b64url_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
			fail_msg("expected \"%s\" to be rejected, it decoded", bad[i]);
	}
	/* an embedded NUL within the given length */
	assert_int_equal(b64url_decode("Zm\0v", 4, out, sizeof out), -1);
	/* output that would not fit */
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 6), 6);
}

static void test_page_id_is_22_url_safe_characters(void **state)
{
	uint8_t raw[PAGE_ID_BYTES], back[PAGE_ID_BYTES];
	char id[PAGE_ID_LEN + 1];

	(void)state;
	assert_int_equal(crypto_random(raw, sizeof raw), 0);
	assert_int_equal(b64url_encode(raw, sizeof raw, id), PAGE_ID_LEN);
	assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                            "0123456789-_"), PAGE_ID_LEN);
	assert_int_equal(b64url_decode(id, PAGE_ID_LEN, back, sizeof back), PAGE_ID_BYTES);
	assert_memory_equal(back, raw, sizeof raw);
}

/* ---- digests ---- */

static void assert_hex(const uint8_t *bytes, size_t n, const char *expected)
{
	char hex[2 * 64 + 1];

	assert_true(n <= 64);
	hex_encode(bytes, n, hex);
	assert_string_equal(hex, expected);
}

static void test_hex_encode_is_lowercase_and_terminated(void **state)
{
	static const uint8_t in[] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0xff };
	char out[2 * sizeof in + 1];

	(void)state;
	memset(out, 'x', sizeof out);
	hex_encode(in, sizeof in, out);
	assert_string_equal(out, "0001abcdefff");
	hex_encode(in, 0, out);
	assert_string_equal(out, "");
}

static void test_sha256_known_vectors(void **state)
{
	uint8_t md[SHA256_LEN];

	(void)state;
	crypto_sha256("", 0, md);
	assert_hex(md, sizeof md,
	           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	crypto_sha256("abc", 3, md);
	assert_hex(md, sizeof md,
	           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hmac_sha256_rfc4231_cases_1_and_2(void **state)
{
	uint8_t key1[20], md[SHA256_LEN];
	static const char jefe_data[] = "what do ya want for nothing?";

	(void)state;
	memset(key1, 0x0b, sizeof key1);
	crypto_hmac_sha256(key1, sizeof key1, "Hi There", 8, md);
	assert_hex(md, sizeof md,
	           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	crypto_hmac_sha256("Jefe", 4, jefe_data, strlen(jefe_data), md);
	assert_hex(md, sizeof md,
	           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* ---- compare, randomness, wipe ---- */

static void test_ct_equal_compares_content_and_length(void **state)
{
	(void)state;
	assert_true(ct_equal("secret", 6, "secret", 6));
	assert_false(ct_equal("secret", 6, "secreT", 6));
	assert_false(ct_equal("Secret", 6, "secret", 6));
	assert_false(ct_equal("secret", 6, "secret!", 7));
	assert_false(ct_equal("secret", 6, "secre", 5));
	assert_false(ct_equal("", 0, "x", 1));
	assert_true(ct_equal("", 0, "", 0));
}

static void test_random_ids_differ(void **state)
{
	uint8_t a[PAGE_ID_BYTES], b[PAGE_ID_BYTES];
	char ida[PAGE_ID_LEN + 1], idb[PAGE_ID_LEN + 1];
	uint64_t r[4];

	(void)state;
	assert_int_equal(crypto_random(a, sizeof a), 0);
	assert_int_equal(crypto_random(b, sizeof b), 0);
	b64url_encode(a, sizeof a, ida);
	b64url_encode(b, sizeof b, idb);
	assert_string_not_equal(ida, idb);

	for (size_t i = 0; i < ARRAY_LEN(r); i++)
		r[i] = crypto_rng_u64(NULL);
	/* four equal 64-bit draws would mean a broken generator */
	assert_false(r[0] == r[1] && r[1] == r[2] && r[2] == r[3]);
	assert_int_equal(crypto_random(a, 0), 0);
}

static void test_secure_wipe_zeroes(void **state)
{
	char buf[32];
	static const char zero[sizeof buf];

	(void)state;
	memset(buf, 'k', sizeof buf);
	secure_wipe(buf, sizeof buf);
	assert_memory_equal(buf, zero, sizeof buf);
	secure_wipe(NULL, 0);
}

/* ---- certificate fixtures ---- */

struct certdir {
	char dir[TEST_PATH_MAX];
	char cert[TEST_PATH_MAX];
	char key[TEST_PATH_MAX];
};

static void join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, TEST_PATH_MAX, "%s/%s", dir, name);
	assert_true(n > 0 && n < TEST_PATH_MAX);
}

static int certdir_setup(void **state)
{
	struct certdir *cd = xcalloc(1, sizeof *cd);

	strcpy(cd->dir, "/tmp/mnmfa-test-crypto-XXXXXX");
	if (mkdtemp(cd->dir) == NULL) {
		free(cd);
		return -1;
	}
	join(cd->cert, cd->dir, "sub/dir/cert.pem");
	join(cd->key, cd->dir, "sub/dir/key.pem");
	*state = cd;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int certdir_teardown(void **state)
{
	struct certdir *cd = *state;
	int rc = nftw(cd->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(cd);
	return rc;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = xmalloc(TLSMAT_PEM_MAX + 1);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, TLSMAT_PEM_MAX, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* SAN entries of x rendered as "DNS:name" / "IP:addr-bytes-hex", in order. */
static size_t san_entries(X509 *x, char out[][80], size_t max)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t n = 0;

	assert_non_null(gens);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && n < max; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type == GEN_DNS) {
			snprintf(out[n++], 80, "DNS:%s",
			         (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		} else if (gn->type == GEN_IPADD) {
			char hex[40];
			int len = ASN1_STRING_length(gn->d.iPAddress);
			assert_true(len == 4 || len == 16);
			hex_encode(ASN1_STRING_get0_data(gn->d.iPAddress), (size_t)len, hex);
			snprintf(out[n++], 80, "IP:%s", hex);
		} else {
			snprintf(out[n++], 80, "other");
		}
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static void test_generate_writes_expected_certificate(void **state)
{
	struct certdir *cd = *state;
	static const char *const hosts[] = { "mnmfa.test", "127.0.0.1", "::1", "*.example.org" };
	char sans[8][80], subdir[TEST_PATH_MAX], cn[80];
	struct stat st;
	X509 *x;
	EVP_PKEY *k, *pub;
	BIGNUM *serial;
	char group[32];
	int days = -1, secs = -1;
	size_t ngroup = 0;

	assert_int_equal(certgen_write(cd->cert, cd->key, hosts, ARRAY_LEN(hosts)), 0);

	/* files, modes, no temporary leftovers */
	assert_int_equal(stat(cd->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cd->cert, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	join(subdir, cd->dir, "sub/dir");
	assert_int_equal(stat(subdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(count_entries(subdir), 2);

	x = read_cert(cd->cert);
	k = read_key(cd->key);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_check_private_key(x, k), 1);
	/* self-signed: issuer is the subject and the signature verifies with its own key */
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)), 0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);

	pub = X509_get0_pubkey(x);
	assert_true(EVP_PKEY_is_a(pub, "EC"));
	assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof group, &ngroup), 1);
	assert_string_equal(group, "prime256v1");

	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
	                                      sizeof cn) > 0);
	assert_string_equal(cn, "mnmfa.test");

	assert_int_equal(san_entries(x, sans, ARRAY_LEN(sans)), 4);
	assert_string_equal(sans[0], "DNS:mnmfa.test");
	assert_string_equal(sans[1], "IP:7f000001");
	assert_string_equal(sans[2], "IP:00000000000000000000000000000001");
	assert_string_equal(sans[3], "DNS:*.example.org");

	/* CA:FALSE, digitalSignature only, serverAuth */
	assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
	assert_false(X509_get_extension_flags(x) & EXFLAG_CA);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);

	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
	                                X509_get0_notAfter(x)), 1);
	assert_int_equal(days, CERTGEN_VALID_DAYS);
	assert_int_equal(secs, 0);
	assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);

	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_non_null(serial);
	assert_false(BN_is_negative(serial));
	assert_true(BN_num_bits(serial) > 64 && BN_num_bits(serial) <= 127);
	BN_free(serial);

	EVP_PKEY_free(k);
	X509_free(x);
}

static void test_generate_rejects_bad_hosts(void **state)
{
	struct certdir *cd = *state;
	static const char *const spaced[] = { "bad host" };
	static const char *const bracketed[] = { "localhost", "[::1]" };
	static const char *const empty_label[] = { "a..b" };

	assert_int_equal(certgen_write(cd->cert, cd->key, spaced, 1), -1);
	assert_int_equal(certgen_write(cd->cert, cd->key, bracketed, 2), -1);
	assert_int_equal(certgen_write(cd->cert, cd->key, empty_label, 1), -1);
	assert_int_equal(certgen_write(cd->cert, cd->key, spaced, 0), -1);
	assert_int_equal(count_entries(cd->dir), 0);   /* not even a directory */
}

static void test_material_load_hands_pair_to_gnutls(void **state)
{
	struct certdir *cd = *state;
	static const char *const hosts[] = { "localhost" };
	struct tls_material *tm;
	gnutls_pcert_st *pcert = NULL;
	unsigned int npcert = 0;
	gnutls_privkey_t pkey = NULL;
	unsigned char md[SHA256_LEN], *der = NULL;
	char fp[2 * SHA256_LEN + 1], *file;
	unsigned int mdlen;
	int derlen;
	X509 *x;

	assert_int_equal(certgen_write(cd->cert, cd->key, hosts, 1), 0);
	tm = tls_material_load(cd->cert, cd->key);
	assert_non_null(tm);

	x = read_cert(cd->cert);
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &mdlen), 1);
	hex_encode(md, sizeof md, fp);
	assert_string_equal(tls_material_fingerprint(tm), fp);
	file = slurp(cd->cert);
	assert_string_equal(tls_material_cert_pem(tm), file);
	free(file);
	assert_non_null(strstr(tls_material_key_pem(tm), "-----BEGIN " "PRIVATE KEY-----"));

	/* nothing installed: the handshake is refused */
	tls_material_install(NULL);
	assert_int_equal(tls_material_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &npcert, &pkey), -1);

	tls_material_install(tm);
	assert_int_equal(tls_material_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &npcert, &pkey), 0);
	assert_int_equal(npcert, 1);
	assert_non_null(pcert);
	assert_non_null(pkey);
	assert_int_equal(gnutls_privkey_get_pk_algorithm(pkey, NULL), GNUTLS_PK_ECDSA);
	derlen = i2d_X509(x, &der);
	assert_true(derlen > 0);
	assert_int_equal(pcert[0].cert.size, (unsigned int)derlen);
	assert_memory_equal(pcert[0].cert.data, der, (size_t)derlen);
	OPENSSL_free(der);
	X509_free(x);

	/* freeing the installed material uninstalls it */
	tls_material_free(tm);
	assert_int_equal(tls_material_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &npcert, &pkey), -1);
}

static void test_material_load_refuses_mismatched_pair(void **state)
{
	struct certdir *cd = *state;
	static const char *const hosts[] = { "localhost" };
	char cert2[TEST_PATH_MAX], key2[TEST_PATH_MAX];

	join(cert2, cd->dir, "other/cert.pem");
	join(key2, cd->dir, "other/key.pem");
	assert_int_equal(certgen_write(cd->cert, cd->key, hosts, 1), 0);
	assert_int_equal(certgen_write(cert2, key2, hosts, 1), 0);
	assert_null(tls_material_load(cd->cert, key2));
	assert_null(tls_material_load(cert2, cd->key));
}

static void test_material_load_refuses_bad_files(void **state)
{
	struct certdir *cd = *state;
	static const char *const hosts[] = { "localhost" };
	char junk[TEST_PATH_MAX], big[TEST_PATH_MAX];
	char *bigdata;

	assert_null(tls_material_load(cd->cert, cd->key));   /* missing */
	assert_int_equal(certgen_write(cd->cert, cd->key, hosts, 1), 0);
	assert_null(tls_material_load(cd->key, cd->cert));   /* swapped */
	join(junk, cd->dir, "junk.pem");
	write_file(junk, "not a certificate\n", 18);
	assert_null(tls_material_load(junk, cd->key));
	assert_null(tls_material_load(cd->cert, junk));
	assert_null(tls_material_load(cd->cert, cd->dir));   /* a directory */

	/* a valid certificate followed by enough text to pass the cap */
	join(big, cd->dir, "big.pem");
	bigdata = xmalloc(TLSMAT_PEM_MAX + 2);
	{
		char *pem = slurp(cd->cert);
		size_t n = strlen(pem);
		memcpy(bigdata, pem, n);
		memset(bigdata + n, '#', TLSMAT_PEM_MAX + 1 - n);
		free(pem);
	}
	write_file(big, bigdata, TLSMAT_PEM_MAX + 1);
	assert_null(tls_material_load(big, cd->key));
	free(bigdata);
}

static void test_material_reload_swaps_or_keeps_pair(void **state)
{
	struct certdir *cd = *state;
	static const char *const hosts[] = { "localhost" };
	struct tls_material *tm;
	char fp_a[2 * SHA256_LEN + 1], fp_b[2 * SHA256_LEN + 1];
	char *cert_a, *key_a, *file;
	const char *old_pem;

	assert_int_equal(certgen_write(cd->cert, cd->key, hosts, 1), 0);
	cert_a = slurp(cd->cert);
	key_a = slurp(cd->key);
	tm = tls_material_load(cd->cert, cd->key);
	assert_non_null(tm);
	strcpy(fp_a, tls_material_fingerprint(tm));
	old_pem = tls_material_cert_pem(tm);

	/* unchanged files: same pair */
	assert_int_equal(tls_material_reload(tm), 0);
	assert_string_equal(tls_material_fingerprint(tm), fp_a);
	assert_ptr_equal(tls_material_cert_pem(tm), old_pem);

	/* a new pair in place: served after reload; the old text stays valid */
	assert_int_equal(certgen_write(cd->cert, cd->key, hosts, 1), 0);
	assert_int_equal(tls_material_reload(tm), 0);
	strcpy(fp_b, tls_material_fingerprint(tm));
	assert_string_not_equal(fp_a, fp_b);
	file = slurp(cd->cert);
	assert_string_equal(tls_material_cert_pem(tm), file);
	free(file);
	assert_string_equal(old_pem, cert_a);

	/* a broken certificate: reload fails, the current pair stays */
	write_file(cd->cert, "garbage\n", 8);
	assert_int_equal(tls_material_reload(tm), -1);
	assert_string_equal(tls_material_fingerprint(tm), fp_b);

	/* a key that does not match: same */
	write_file(cd->cert, cert_a, strlen(cert_a));
	assert_int_equal(tls_material_reload(tm), -1);
	assert_string_equal(tls_material_fingerprint(tm), fp_b);

	/* rolling back to pair A reuses it */
	write_file(cd->key, key_a, strlen(key_a));
	assert_int_equal(tls_material_reload(tm), 0);
	assert_string_equal(tls_material_fingerprint(tm), fp_a);
	assert_ptr_equal(tls_material_cert_pem(tm), old_pem);

	secure_wipe(key_a, strlen(key_a));
	free(key_a);
	free(cert_a);
	tls_material_free(tm);
}

static void test_ensure_generates_only_when_both_missing(void **state)
{
	struct certdir *cd = *state;
	struct tls_material *tm;
	struct stat st;
	char sans[4][80], fp[2 * SHA256_LEN + 1];
	X509 *x;

	/* both missing, autogen off: error, nothing written */
	assert_int_equal(certgen_ensure(cd->cert, cd->key, false), -1);
	assert_int_equal(stat(cd->cert, &st), -1);

	/* both missing, autogen on: a localhost pair that loads */
	assert_int_equal(certgen_ensure(cd->cert, cd->key, true), 0);
	x = read_cert(cd->cert);
	assert_int_equal(san_entries(x, sans, ARRAY_LEN(sans)), 3);
	assert_string_equal(sans[0], "DNS:localhost");
	assert_string_equal(sans[1], "IP:7f000001");
	assert_string_equal(sans[2], "IP:00000000000000000000000000000001");
	X509_free(x);
	tm = tls_material_load(cd->cert, cd->key);
	assert_non_null(tm);
	strcpy(fp, tls_material_fingerprint(tm));
	tls_material_free(tm);

	/* both present: left alone */
	assert_int_equal(certgen_ensure(cd->cert, cd->key, true), 0);
	tm = tls_material_load(cd->cert, cd->key);
	assert_non_null(tm);
	assert_string_equal(tls_material_fingerprint(tm), fp);
	tls_material_free(tm);

	/* only the certificate: error, no key generated */
	assert_int_equal(unlink(cd->key), 0);
	assert_int_equal(certgen_ensure(cd->cert, cd->key, true), -1);
	assert_int_equal(stat(cd->key, &st), -1);

	/* only the key: error, no certificate generated */
	assert_int_equal(unlink(cd->cert), 0);
	write_file(cd->key, "k\n", 2);
	assert_int_equal(certgen_ensure(cd->cert, cd->key, true), -1);
	assert_int_equal(stat(cd->cert, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_matches_rfc4648_vectors),
		cmocka_unit_test(test_b64url_round_trips_every_length),
		cmocka_unit_test(test_b64url_decode_rejects_noncanonical_input),
		cmocka_unit_test(test_page_id_is_22_url_safe_characters),
		cmocka_unit_test(test_hex_encode_is_lowercase_and_terminated),
		cmocka_unit_test(test_sha256_known_vectors),
		cmocka_unit_test(test_hmac_sha256_rfc4231_cases_1_and_2),
		cmocka_unit_test(test_ct_equal_compares_content_and_length),
		cmocka_unit_test(test_random_ids_differ),
		cmocka_unit_test(test_secure_wipe_zeroes),
		cmocka_unit_test_setup_teardown(test_generate_writes_expected_certificate,
		                                certdir_setup, certdir_teardown),
		cmocka_unit_test_setup_teardown(test_generate_rejects_bad_hosts,
		                                certdir_setup, certdir_teardown),
		cmocka_unit_test_setup_teardown(test_material_load_hands_pair_to_gnutls,
		                                certdir_setup, certdir_teardown),
		cmocka_unit_test_setup_teardown(test_material_load_refuses_mismatched_pair,
		                                certdir_setup, certdir_teardown),
		cmocka_unit_test_setup_teardown(test_material_load_refuses_bad_files,
		                                certdir_setup, certdir_teardown),
		cmocka_unit_test_setup_teardown(test_material_reload_swaps_or_keeps_pair,
		                                certdir_setup, certdir_teardown),
		cmocka_unit_test_setup_teardown(test_ensure_generates_only_when_both_missing,
		                                certdir_setup, certdir_teardown),
	};

	log_init(LOG_WARN, false);
	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
