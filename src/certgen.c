/*
 * certgen: self-signed certificates, for `mnmfa gen-cert` and for tls_autogen
 * at start-up. OpenSSL builds an EC P-256 key and an X.509v3 certificate whose
 * subjectAltName is built entry by entry (never from a config string); both
 * files are written to temporary names, fsynced and renamed into place, the
 * key 0600 from its first byte. Loading what it wrote is tlsmat's business.
 */
#include "certgen.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CERTGEN_BACKDATE_SECS 300     /* notBefore slack for clients with a slow clock */
#define CERTGEN_SERIAL_BYTES 16       /* 128-bit random serial */
#define CERTGEN_CN_MAX 64             /* ub-common-name (RFC 5280) */
#define CERTGEN_DNS_MAX 253
#define CERTGEN_LABEL_MAX 63
#define CERTGEN_FP_LEN (2 * SHA256_LEN + 1)

/* A DNS name for a SAN entry: LDH labels of 1..63, an optional leading "*."
 * wildcard, at most 253 characters. Anything else would only produce a
 * certificate no client accepts. */
static bool certgen_valid_dns(const char *host)
{
	size_t len = strlen(host), label = 0;
	const char *p = host;

	if (len == 0 || len > CERTGEN_DNS_MAX)
		return false;
	if (p[0] == '*' && p[1] == '.')
		p += 2;
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '-') {
			if (++label > CERTGEN_LABEL_MAX)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* Classifies a host for the SAN: 4 or 16 (IPv4/IPv6, bytes in addr), 0 for a
 * DNS name, -1 (logged) for neither. */
static int certgen_host_kind(const char *host, unsigned char addr[16])
{
	if (inet_pton(AF_INET, host, addr) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, addr) == 1)
		return 16;
	if (certgen_valid_dns(host))
		return 0;
	log_error("%s: host \"%s\" is neither an IP address nor a DNS name", __func__, host);
	return -1;
}

/* The SAN entry for host: an iPAddress if it parses as IPv4/IPv6, else a dNSName. */
static GENERAL_NAME *certgen_san_entry(const char *host)
{
	unsigned char addr[16];
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	int alen = certgen_host_kind(host, addr);

	if (alen < 0)
		return NULL;
	if ((gn = GENERAL_NAME_new()) == NULL)
		goto fail;
	if (alen > 0) {
		if ((ip = ASN1_OCTET_STRING_new()) == NULL || !ASN1_OCTET_STRING_set(ip, addr, alen))
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	} else {
		if ((dns = ASN1_IA5STRING_new()) == NULL || !ASN1_STRING_set(dns, host, -1))
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	}
	return gn;
fail:
	crypto_log_ossl(__func__, "cannot build subjectAltName entry for %s", host);
	ASN1_OCTET_STRING_free(ip);
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(gn);
	return NULL;
}

static int certgen_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int rc = -1;

	if (ext != NULL && X509_add_ext(x, ext, -1) == 1)
		rc = 0;
	else
		crypto_log_ossl(__func__, "extension %s", OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return rc;
}

static int certgen_add_san(X509 *x, const char *const *hosts, size_t nhosts)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = -1;

	if (gens == NULL)
		goto out;
	for (size_t i = 0; i < nhosts; i++) {
		GENERAL_NAME *gn = certgen_san_entry(hosts[i]);
		if (gn == NULL)
			goto out;
		if (sk_GENERAL_NAME_push(gens, gn) == 0) {
			GENERAL_NAME_free(gn);
			goto out;
		}
	}
	/* Built by hand, not from a "DNS:a,IP:b" config string, so a host can
	 * never smuggle in extra entries. */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
		crypto_log_ossl(__func__, "cannot add subjectAltName");
		goto out;
	}
	rc = 0;
out:
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	return rc;
}

/* A self-signed certificate for pkey; see certgen.h for its contents. */
static X509 *certgen_build(EVP_PKEY *pkey, const char *const *hosts, size_t nhosts)
{
	unsigned char serial_bytes[CERTGEN_SERIAL_BYTES];
	X509 *x = NULL;
	X509_NAME *name;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;
	const char *cn = strlen(hosts[0]) <= CERTGEN_CN_MAX ? hosts[0] : "mnmfa";

	if (crypto_random(serial_bytes, sizeof serial_bytes) != 0)
		goto fail;
	serial_bytes[0] &= 0x7f;   /* DER INTEGER: keep it positive within 16 bytes */

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    (bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, NULL)) == NULL ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, serial))
		goto ossl_fail;
	/* Exactly CERTGEN_VALID_DAYS from notBefore: Apple platforms refuse a
	 * TLS server certificate valid for longer than 825 days. */
	if (X509_gmtime_adj(X509_getm_notBefore(x), -CERTGEN_BACKDATE_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), CERTGEN_VALID_DAYS, -CERTGEN_BACKDATE_SECS,
	                     NULL) == NULL)
		goto ossl_fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
	                                -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) ||
	    !X509_set_pubkey(x, pkey))
		goto ossl_fail;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (certgen_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    certgen_add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
	    certgen_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") != 0 ||
	    certgen_add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    certgen_add_san(x, hosts, nhosts) != 0)
		goto fail;

	if (X509_sign(x, pkey, EVP_sha256()) <= 0)
		goto ossl_fail;
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	return x;

ossl_fail:
	crypto_log_ossl(__func__, "cannot build certificate");
fail:
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return NULL;
}

/* Creates the missing directories above the file path (mode 0700). */
static int certgen_mkdirs(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash == NULL || slash == dir)
		goto out;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			log_error("%s: cannot create directory %s: %s", __func__, dir, strerror(errno));
			rc = -1;
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
out:
	free(dir);
	return rc;
}

/* fsync the directory holding path, so a rename into it survives a crash. */
static void certgen_fsync_parent(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Writes data to a fresh "<path>.tmp-XXXXXX" with mode, fsynced; returns its
 * name for the caller to rename (or unlink), or NULL with a logged reason. */
static char *certgen_write_temp(const char *path, const void *data, size_t len, mode_t mode)
{
	static const char suffix[] = ".tmp-XXXXXX";
	size_t plen = strlen(path), off = 0;
	char *tmp = xmalloc(plen + sizeof suffix);
	int fd, saved;

	memcpy(tmp, path, plen);
	memcpy(tmp + plen, suffix, sizeof suffix);
	/* mkostemp creates the file 0600, so a key is never readable by others,
	 * not even for an instant. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		log_error("%s: cannot create a temporary file next to %s: %s", __func__, path,
		          strerror(errno));
		free(tmp);
		return NULL;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return tmp;
fail:
	saved = errno;
	log_error("%s: cannot write %s: %s", __func__, tmp, strerror(saved));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return NULL;
}

int certgen_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp;

	if (certgen_mkdirs(path) != 0 || (tmp = certgen_write_temp(path, data, len, mode)) == NULL)
		return -1;
	if (rename(tmp, path) != 0) {
		log_error("%s: cannot rename %s to %s: %s", __func__, tmp, path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	certgen_fsync_parent(path);
	return 0;
}

int certgen_write(const char *cert_path, const char *key_path,
                     const char *const *hosts, size_t nhosts)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	BIO *kbio = NULL, *cbio = NULL;
	char *ktmp = NULL, *ctmp = NULL, *kdata, *cdata;
	long klen, clen;
	unsigned char md[SHA256_LEN];
	unsigned int mdlen = 0;
	char fp[CERTGEN_FP_LEN];
	int rc = -1;

	if (hosts == NULL || nhosts == 0 || nhosts > CERTGEN_HOSTS_MAX) {
		log_error("%s: need 1..%d host names, got %zu", __func__, CERTGEN_HOSTS_MAX, nhosts);
		return -1;
	}
	/* Refuse a bad host before touching the file system. */
	for (size_t i = 0; i < nhosts; i++) {
		unsigned char addr[16];
		if (hosts[i] == NULL) {
			log_error("%s: host %zu is missing", __func__, i);
			return -1;
		}
		if (certgen_host_kind(hosts[i], addr) < 0)
			return -1;
	}
	if (certgen_mkdirs(cert_path) != 0 || certgen_mkdirs(key_path) != 0)
		return -1;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (pkey == NULL) {
		crypto_log_ossl(__func__, "EC P-256 key generation failed");
		goto out;
	}
	if ((x = certgen_build(pkey, hosts, nhosts)) == NULL)
		goto out;

	/* The secure-memory BIO wipes the key text when it grows and when freed. */
	kbio = BIO_new(BIO_s_secmem());
	cbio = BIO_new(BIO_s_mem());
	if (kbio == NULL || cbio == NULL ||
	    PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cbio, x) != 1 ||
	    X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != SHA256_LEN) {
		crypto_log_ossl(__func__, "cannot encode key or certificate");
		goto out;
	}
	klen = BIO_get_mem_data(kbio, &kdata);
	clen = BIO_get_mem_data(cbio, &cdata);
	if (klen <= 0 || clen <= 0) {
		log_error("%s: empty PEM output", __func__);
		goto out;
	}

	/* Both files complete on disk before either name changes. */
	if ((ktmp = certgen_write_temp(key_path, kdata, (size_t)klen, 0600)) == NULL ||
	    (ctmp = certgen_write_temp(cert_path, cdata, (size_t)clen, 0644)) == NULL)
		goto out;
	if (rename(ktmp, key_path) != 0) {
		log_error("%s: cannot rename %s to %s: %s", __func__, ktmp, key_path, strerror(errno));
		goto out;
	}
	free(ktmp);
	ktmp = NULL;
	if (rename(ctmp, cert_path) != 0) {
		log_error("%s: cannot rename %s to %s: %s (the new key is in place; "
		          "the pair no longer matches)", __func__, ctmp, cert_path, strerror(errno));
		goto out;
	}
	free(ctmp);
	ctmp = NULL;
	certgen_fsync_parent(key_path);
	certgen_fsync_parent(cert_path);

	hex_encode(md, sizeof md, fp);
	log_info("%s: wrote %s and %s (EC P-256, CN %s, %d days, SHA-256 %s)", __func__,
	         cert_path, key_path, hosts[0], CERTGEN_VALID_DAYS, fp);
	rc = 0;
out:
	if (ktmp != NULL) {
		unlink(ktmp);
		free(ktmp);
	}
	if (ctmp != NULL) {
		unlink(ctmp);
		free(ctmp);
	}
	BIO_free(kbio);
	BIO_free(cbio);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Whether path exists as a regular file; -1 (logged) if it cannot be told. */
static int certgen_file_exists(const char *path, const char *what, bool *exists)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			log_error("%s: TLS %s %s is not a regular file", __func__, what, path);
			return -1;
		}
		*exists = true;
		return 0;
	}
	if (errno == ENOENT) {
		*exists = false;
		return 0;
	}
	log_error("%s: cannot access TLS %s %s: %s", __func__, what, path, strerror(errno));
	return -1;
}

int certgen_ensure(const char *cert_path, const char *key_path, bool autogen)
{
	static const char *const dev_hosts[] = { "localhost", "127.0.0.1", "::1" };
	bool have_cert, have_key;

	if (certgen_file_exists(cert_path, "certificate", &have_cert) != 0 ||
	    certgen_file_exists(key_path, "key", &have_key) != 0)
		return -1;
	if (have_cert && have_key)
		return 0;
	if (have_cert) {
		log_error("%s: TLS key %s does not exist, but the certificate %s does; "
		          "provide both, or remove both to generate a self-signed pair",
		          __func__, key_path, cert_path);
		return -1;
	}
	if (have_key) {
		log_error("%s: TLS certificate %s does not exist, but the key %s does; "
		          "provide both, or remove both to generate a self-signed pair",
		          __func__, cert_path, key_path);
		return -1;
	}
	if (!autogen) {
		log_error("%s: TLS certificate %s and key %s do not exist and tls_autogen is off",
		          __func__, cert_path, key_path);
		return -1;
	}
	if (certgen_write(cert_path, key_path, dev_hosts, ARRAY_LEN(dev_hosts)) != 0)
		return -1;
	log_warn("%s: generated a SELF-SIGNED development certificate %s for localhost, "
	         "127.0.0.1 and ::1; browsers will warn. Use a real certificate in production",
	         __func__, cert_path);
	return 0;
}
