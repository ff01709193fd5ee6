/*
 * tlscert: the TLS pair of both web servers. OpenSSL generates self-signed dev
 * certificates and checks that a key matches its certificate; GnuTLS (the TLS
 * library inside libmicrohttpd) gets the pair as a pcert list and a privkey,
 * handed out per handshake by tls_material_retrieve.
 *
 * Reload without dropping service: a tls_material holds an atomic pointer to
 * the current pair. A reload builds and checks the whole new pair first, then
 * publishes it with one atomic store; a handshake reads the pointer once. GnuTLS
 * keeps using the pcert and key it was given until the session ends and we
 * cannot know when that is, so replaced pairs are never freed before
 * tls_material_free (which runs after the daemons stop). That costs a few KiB
 * per distinct pair (a reload that finds the same files, or a pair served
 * before, reuses it): worth not having refcounts on the handshake path.
 *
 * The one global: gnutls_certificate_retrieve_function2 has no closure argument
 * and libmicrohttpd 0.9.75 passes none, so the retrieve callback finds the
 * material in tls_installed, written once at start-up (like log.c's level).
 */
#include "tlscert.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gnutls/x509.h>

#define TLSCERT_BACKDATE_SECS 300     /* notBefore slack for clients with a slow clock */
#define TLSCERT_SERIAL_BYTES 16       /* 128-bit random serial */
#define TLSCERT_CN_MAX 64             /* ub-common-name (RFC 5280) */
#define TLSCERT_DNS_MAX 253
#define TLSCERT_LABEL_MAX 63
#define TLSCERT_FP_LEN (2 * SHA256_LEN + 1)
#define TLSCERT_TIME_LEN 32

struct tls_pair {
	struct tls_pair *next;                      /* retired list */
	char *cert_pem, *key_pem;                   /* NUL-terminated file contents */
	size_t cert_len, key_len;
	gnutls_pcert_st pcerts[TLSCERT_CHAIN_MAX];  /* leaf first */
	unsigned int npcerts;
	gnutls_privkey_t key;
	char fingerprint[TLSCERT_FP_LEN];           /* SHA-256 of the leaf, hex */
	char not_after[TLSCERT_TIME_LEN];
};

struct tls_material {
	char *cert_path, *key_path;
	pthread_mutex_t lock;                 /* serializes reloads; guards retired */
	_Atomic(struct tls_pair *) current;   /* read lock-free by handshakes */
	struct tls_pair *retired;             /* replaced pairs, freed with tm */
};

static _Atomic(struct tls_material *) tls_installed;

/* Logs "func: what: <newest OpenSSL error>" and clears OpenSSL's error queue. */
static void tlscert_log_ossl(const char *func, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void tlscert_log_ossl(const char *func, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	char what[512], err[256] = "unknown OpenSSL error";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (e != 0)
		ERR_error_string_n(e, err, sizeof err);
	log_error("%s: %s: %s", func, what, err);
	ERR_clear_error();
}

/* ---- generation ---- */

/* A DNS name for a SAN entry: LDH labels of 1..63, an optional leading "*."
 * wildcard, at most 253 characters. Anything else would only produce a
 * certificate no client accepts. */
static bool tlscert_valid_dns(const char *host)
{
	size_t len = strlen(host), label = 0;
	const char *p = host;

	if (len == 0 || len > TLSCERT_DNS_MAX)
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
			if (++label > TLSCERT_LABEL_MAX)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* Classifies a host for the SAN: 4 or 16 (IPv4/IPv6, bytes in addr), 0 for a
 * DNS name, -1 (logged) for neither. */
static int tlscert_host_kind(const char *host, unsigned char addr[16])
{
	if (inet_pton(AF_INET, host, addr) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, addr) == 1)
		return 16;
	if (tlscert_valid_dns(host))
		return 0;
	log_error("%s: host \"%s\" is neither an IP address nor a DNS name", __func__, host);
	return -1;
}

/* The SAN entry for host: an iPAddress if it parses as IPv4/IPv6, else a dNSName. */
static GENERAL_NAME *tlscert_san_entry(const char *host)
{
	unsigned char addr[16];
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	int alen = tlscert_host_kind(host, addr);

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
	tlscert_log_ossl(__func__, "cannot build subjectAltName entry for %s", host);
	ASN1_OCTET_STRING_free(ip);
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(gn);
	return NULL;
}

static int tlscert_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int rc = -1;

	if (ext != NULL && X509_add_ext(x, ext, -1) == 1)
		rc = 0;
	else
		tlscert_log_ossl(__func__, "extension %s", OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return rc;
}

static int tlscert_add_san(X509 *x, const char *const *hosts, size_t nhosts)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = -1;

	if (gens == NULL)
		goto out;
	for (size_t i = 0; i < nhosts; i++) {
		GENERAL_NAME *gn = tlscert_san_entry(hosts[i]);
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
		tlscert_log_ossl(__func__, "cannot add subjectAltName");
		goto out;
	}
	rc = 0;
out:
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	return rc;
}

/* A self-signed certificate for pkey; see tlscert.h for its contents. */
static X509 *tlscert_build(EVP_PKEY *pkey, const char *const *hosts, size_t nhosts)
{
	unsigned char serial_bytes[TLSCERT_SERIAL_BYTES];
	X509 *x = NULL;
	X509_NAME *name;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;
	const char *cn = strlen(hosts[0]) <= TLSCERT_CN_MAX ? hosts[0] : "mnmfa";

	if (crypto_random(serial_bytes, sizeof serial_bytes) != 0)
		goto fail;
	serial_bytes[0] &= 0x7f;   /* DER INTEGER: keep it positive within 16 bytes */

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    (bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, NULL)) == NULL ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, serial))
		goto ossl_fail;
	/* Exactly TLSCERT_VALID_DAYS from notBefore: Apple platforms refuse a
	 * TLS server certificate valid for longer than 825 days. */
	if (X509_gmtime_adj(X509_getm_notBefore(x), -TLSCERT_BACKDATE_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), TLSCERT_VALID_DAYS, -TLSCERT_BACKDATE_SECS,
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
	if (tlscert_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    tlscert_add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
	    tlscert_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") != 0 ||
	    tlscert_add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    tlscert_add_san(x, hosts, nhosts) != 0)
		goto fail;

	if (X509_sign(x, pkey, EVP_sha256()) <= 0)
		goto ossl_fail;
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	return x;

ossl_fail:
	tlscert_log_ossl(__func__, "cannot build certificate");
fail:
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return NULL;
}

/* Creates the missing directories above the file path (mode 0700). */
static int tlscert_mkdirs(const char *path)
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
static void tlscert_fsync_parent(const char *path)
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
static char *tlscert_write_temp(const char *path, const void *data, size_t len, mode_t mode)
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

int tlscert_generate(const char *cert_path, const char *key_path,
                     const char *const *hosts, size_t nhosts)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	BIO *kbio = NULL, *cbio = NULL;
	char *ktmp = NULL, *ctmp = NULL, *kdata, *cdata;
	long klen, clen;
	unsigned char md[SHA256_LEN];
	unsigned int mdlen = 0;
	char fp[TLSCERT_FP_LEN];
	int rc = -1;

	if (hosts == NULL || nhosts == 0 || nhosts > TLSCERT_HOSTS_MAX) {
		log_error("%s: need 1..%d host names, got %zu", __func__, TLSCERT_HOSTS_MAX, nhosts);
		return -1;
	}
	/* Refuse a bad host before touching the file system. */
	for (size_t i = 0; i < nhosts; i++) {
		unsigned char addr[16];
		if (hosts[i] == NULL) {
			log_error("%s: host %zu is missing", __func__, i);
			return -1;
		}
		if (tlscert_host_kind(hosts[i], addr) < 0)
			return -1;
	}
	if (tlscert_mkdirs(cert_path) != 0 || tlscert_mkdirs(key_path) != 0)
		return -1;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (pkey == NULL) {
		tlscert_log_ossl(__func__, "EC P-256 key generation failed");
		goto out;
	}
	if ((x = tlscert_build(pkey, hosts, nhosts)) == NULL)
		goto out;

	/* The secure-memory BIO wipes the key text when it grows and when freed. */
	kbio = BIO_new(BIO_s_secmem());
	cbio = BIO_new(BIO_s_mem());
	if (kbio == NULL || cbio == NULL ||
	    PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cbio, x) != 1 ||
	    X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != SHA256_LEN) {
		tlscert_log_ossl(__func__, "cannot encode key or certificate");
		goto out;
	}
	klen = BIO_get_mem_data(kbio, &kdata);
	clen = BIO_get_mem_data(cbio, &cdata);
	if (klen <= 0 || clen <= 0) {
		log_error("%s: empty PEM output", __func__);
		goto out;
	}

	/* Both files complete on disk before either name changes. */
	if ((ktmp = tlscert_write_temp(key_path, kdata, (size_t)klen, 0600)) == NULL ||
	    (ctmp = tlscert_write_temp(cert_path, cdata, (size_t)clen, 0644)) == NULL)
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
	tlscert_fsync_parent(key_path);
	tlscert_fsync_parent(cert_path);

	hex_encode(md, sizeof md, fp);
	log_info("%s: wrote %s and %s (EC P-256, CN %s, %d days, SHA-256 %s)", __func__,
	         cert_path, key_path, hosts[0], TLSCERT_VALID_DAYS, fp);
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
static int tlscert_file_exists(const char *path, const char *what, bool *exists)
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

int tlscert_ensure(const char *cert_path, const char *key_path, bool autogen)
{
	static const char *const dev_hosts[] = { "localhost", "127.0.0.1", "::1" };
	bool have_cert, have_key;

	if (tlscert_file_exists(cert_path, "certificate", &have_cert) != 0 ||
	    tlscert_file_exists(key_path, "key", &have_key) != 0)
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
	if (tlscert_generate(cert_path, key_path, dev_hosts, ARRAY_LEN(dev_hosts)) != 0)
		return -1;
	log_warn("%s: generated a SELF-SIGNED development certificate %s for localhost, "
	         "127.0.0.1 and ::1; browsers will warn. Use a real certificate in production",
	         __func__, cert_path);
	return 0;
}

/* ---- loading ---- */

/* Reads a whole PEM file of at most TLSCERT_PEM_MAX bytes, NUL-terminated.
 * libmicrohttpd measures PEM text with strlen, so an embedded NUL is refused. */
static char *tlscert_read_pem(const char *path, const char *what, size_t *lenp)
{
	char *buf = NULL, *out = NULL;
	size_t len = 0;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_error("%s: cannot open TLS %s %s: %s", __func__, what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_error("%s: TLS %s %s is not a regular file", __func__, what, path);
		goto out;
	}
	buf = xmalloc(TLSCERT_PEM_MAX + 1);
	/* Read one byte past the cap to notice a file that grew since fstat. */
	while (len < TLSCERT_PEM_MAX + 1) {
		ssize_t r = read(fd, buf + len, TLSCERT_PEM_MAX + 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: cannot read TLS %s %s: %s", __func__, what, path,
			          strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > TLSCERT_PEM_MAX) {
		log_error("%s: TLS %s %s is larger than %d bytes", __func__, what, path,
		          TLSCERT_PEM_MAX);
		goto out;
	}
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		log_error("%s: TLS %s %s is empty or not PEM text", __func__, what, path);
		goto out;
	}
	out = xmalloc(len + 1);
	memcpy(out, buf, len);
	out[len] = '\0';
	*lenp = len;
out:
	if (buf != NULL) {
		secure_wipe(buf, len);
		free(buf);
	}
	close(fd);
	return out;
}

static void tls_pair_free(struct tls_pair *p)
{
	if (p == NULL)
		return;
	for (unsigned int i = 0; i < p->npcerts; i++)
		gnutls_pcert_deinit(&p->pcerts[i]);
	if (p->key != NULL)
		gnutls_privkey_deinit(p->key);
	if (p->key_pem != NULL) {
		secure_wipe(p->key_pem, p->key_len);
		free(p->key_pem);
	}
	free(p->cert_pem);
	free(p);
}

/* PEM passphrase callback: encrypted keys are refused instead of prompting on
 * the terminal (the daemon may have none). */
static int tlscert_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static void tlscert_fmt_asn1_time(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		fmt_rfc3339((int64_t)timegm(&tm) * 1000, out, cap);
	else
		snprintf(out, cap, "?");
}

/* OpenSSL's view of the pair: both parse, the key is unencrypted and belongs
 * to the first certificate. Fills the fingerprint and expiry, warns about a
 * certificate outside its validity (serving it still beats serving nothing). */
static int tls_pair_check(struct tls_pair *p, const char *cert_path, const char *key_path)
{
	BIO *cbio = NULL, *kbio = NULL;
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char md[SHA256_LEN];
	unsigned int mdlen = 0;
	int rc = -1;

	cbio = BIO_new_mem_buf(p->cert_pem, (int)p->cert_len);
	kbio = BIO_new_mem_buf(p->key_pem, (int)p->key_len);
	if (cbio == NULL || kbio == NULL) {
		tlscert_log_ossl(__func__, "out of memory");
		goto out;
	}
	if ((x = PEM_read_bio_X509(cbio, NULL, NULL, NULL)) == NULL) {
		tlscert_log_ossl(__func__, "no PEM certificate in %s", cert_path);
		goto out;
	}
	if ((pkey = PEM_read_bio_PrivateKey(kbio, NULL, tlscert_no_passphrase, NULL)) == NULL) {
		tlscert_log_ossl(__func__, "no usable unencrypted PEM private key in %s", key_path);
		goto out;
	}
	if (X509_check_private_key(x, pkey) != 1) {
		ERR_clear_error();
		log_error("%s: key %s does not match certificate %s", __func__, key_path,
		          cert_path);
		goto out;
	}
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != SHA256_LEN) {
		tlscert_log_ossl(__func__, "cannot hash certificate");
		goto out;
	}
	hex_encode(md, sizeof md, p->fingerprint);
	tlscert_fmt_asn1_time(X509_get0_notAfter(x), p->not_after, sizeof p->not_after);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_warn("%s: certificate %s expired at %s", __func__, cert_path, p->not_after);
	else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		log_warn("%s: certificate %s is not valid yet", __func__, cert_path);
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	X509_free(x);
	BIO_free(cbio);
	BIO_free(kbio);
	return rc;
}

/* GnuTLS's view of the pair: the chain as pcerts (leaf first) and the key. */
static int tls_pair_import(struct tls_pair *p, const char *cert_path, const char *key_path)
{
	gnutls_datum_t cd = { (unsigned char *)p->cert_pem, (unsigned int)p->cert_len };
	gnutls_datum_t kd = { (unsigned char *)p->key_pem, (unsigned int)p->key_len };
	unsigned int n = TLSCERT_CHAIN_MAX;
	int ret;

	ret = gnutls_pcert_list_import_x509_raw(p->pcerts, &n, &cd, GNUTLS_X509_FMT_PEM,
	                                        GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (ret < 0) {
		log_error("%s: GnuTLS cannot use certificate %s: %s%s", __func__, cert_path,
		          gnutls_strerror(ret),
		          ret == GNUTLS_E_SHORT_MEMORY_BUFFER ? " (too many certificates)" :
		          ret == GNUTLS_E_CERTIFICATE_LIST_UNSORTED ?
		          " (put the server certificate first, then its issuers)" : "");
		return -1;
	}
	p->npcerts = n;
	if ((ret = gnutls_privkey_init(&p->key)) < 0 ||
	    (ret = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		log_error("%s: GnuTLS cannot use key %s: %s", __func__, key_path,
		          gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

static struct tls_pair *tls_pair_new(const char *cert_path, const char *key_path)
{
	struct tls_pair *p = xcalloc(1, sizeof *p);

	if ((p->cert_pem = tlscert_read_pem(cert_path, "certificate", &p->cert_len)) == NULL ||
	    (p->key_pem = tlscert_read_pem(key_path, "key", &p->key_len)) == NULL ||
	    tls_pair_check(p, cert_path, key_path) != 0 ||
	    tls_pair_import(p, cert_path, key_path) != 0) {
		tls_pair_free(p);
		return NULL;
	}
	return p;
}

static bool tls_pair_same(const struct tls_pair *a, const struct tls_pair *b)
{
	return a->cert_len == b->cert_len && a->key_len == b->key_len &&
	       memcmp(a->cert_pem, b->cert_pem, a->cert_len) == 0 &&
	       ct_equal(a->key_pem, a->key_len, b->key_pem, b->key_len);
}

static struct tls_pair *tls_material_current(const struct tls_material *tm)
{
	return atomic_load_explicit(&tm->current, memory_order_acquire);
}

struct tls_material *tls_material_load(const char *cert_path, const char *key_path)
{
	struct tls_pair *p = tls_pair_new(cert_path, key_path);
	struct tls_material *tm;

	if (p == NULL)
		return NULL;
	tm = xcalloc(1, sizeof *tm);
	tm->cert_path = xstrdup(cert_path);
	tm->key_path = xstrdup(key_path);
	pthread_mutex_init(&tm->lock, NULL);
	atomic_init(&tm->current, p);
	log_info("TLS certificate %s loaded (%u in chain, expires %s, SHA-256 %s)", cert_path,
	         p->npcerts, p->not_after, p->fingerprint);
	return tm;
}

int tls_material_reload(struct tls_material *tm)
{
	struct tls_pair *np, *old;

	np = tls_pair_new(tm->cert_path, tm->key_path);
	pthread_mutex_lock(&tm->lock);
	old = atomic_load_explicit(&tm->current, memory_order_relaxed);
	if (np == NULL) {
		pthread_mutex_unlock(&tm->lock);
		log_error("%s: keeping the current certificate (SHA-256 %s)", __func__,
		          old->fingerprint);
		return -1;
	}
	if (tls_pair_same(old, np)) {
		pthread_mutex_unlock(&tm->lock);
		tls_pair_free(np);
		log_info("%s: certificate %s unchanged", __func__, tm->cert_path);
		return 0;
	}
	/* Going back to a pair served before (a rollback) reuses it, so memory
	 * grows with the number of distinct pairs, not with SIGHUPs. */
	for (struct tls_pair **pp = &tm->retired; *pp != NULL; pp = &(*pp)->next) {
		if (tls_pair_same(*pp, np)) {
			struct tls_pair *again = *pp;
			*pp = again->next;
			tls_pair_free(np);
			np = again;
			np->next = NULL;
			break;
		}
	}
	old->next = tm->retired;
	tm->retired = old;
	atomic_store_explicit(&tm->current, np, memory_order_release);
	pthread_mutex_unlock(&tm->lock);
	log_info("%s: now serving %s (expires %s, SHA-256 %s; was %s)", __func__, tm->cert_path,
	         np->not_after, np->fingerprint, old->fingerprint);
	return 0;
}

void tls_material_free(struct tls_material *tm)
{
	struct tls_material *expected = tm;
	struct tls_pair *p, *next;

	if (tm == NULL)
		return;
	atomic_compare_exchange_strong(&tls_installed, &expected, NULL);
	tls_pair_free(atomic_load(&tm->current));
	for (p = tm->retired; p != NULL; p = next) {
		next = p->next;
		tls_pair_free(p);
	}
	pthread_mutex_destroy(&tm->lock);
	free(tm->cert_path);
	free(tm->key_path);
	free(tm);
}

const char *tls_material_cert_pem(const struct tls_material *tm)
{
	return tls_material_current(tm)->cert_pem;
}

const char *tls_material_key_pem(const struct tls_material *tm)
{
	return tls_material_current(tm)->key_pem;
}

const char *tls_material_fingerprint(const struct tls_material *tm)
{
	return tls_material_current(tm)->fingerprint;
}

void tls_material_install(struct tls_material *tm)
{
	atomic_store_explicit(&tls_installed, tm, memory_order_release);
}

/* Redeclared through GnuTLS's typedef: the build fails if the prototype in
 * tlscert.h ever drifts from what MHD_OPTION_HTTPS_CERT_CALLBACK expects. */
gnutls_certificate_retrieve_function2 tls_material_retrieve;

int tls_material_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                          const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                          gnutls_pcert_st **pcert, unsigned int *pcert_length,
                          gnutls_privkey_t *privkey)
{
	struct tls_material *tm = atomic_load_explicit(&tls_installed, memory_order_acquire);
	struct tls_pair *p;

	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (tm == NULL) {
		*pcert_length = 0;
		return -1;
	}
	p = tls_material_current(tm);
	*pcert = p->pcerts;
	*pcert_length = p->npcerts;
	*privkey = p->key;
	return 0;
}
