/*
 * tlsmat: the TLS pair both web servers serve. Reads the PEM files, lets
 * OpenSSL check that the key matches its certificate (and note its expiry),
 * and gives GnuTLS (the TLS library inside libmicrohttpd) the pair as a pcert
 * list and a privkey, handed out per handshake by tls_material_retrieve.
 * Generating a pair is certgen's.
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
#include "tlsmat.h"
#include "crypto.h"
#include "fileio.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <gnutls/x509.h>

#define TLSMAT_FP_LEN (2 * SHA256_LEN + 1)
#define TLSMAT_TIME_LEN 32

struct tls_pair {
	struct tls_pair *next;                      /* retired list */
	char *cert_pem, *key_pem;                   /* NUL-terminated file contents */
	size_t cert_len, key_len;
	gnutls_pcert_st pcerts[TLSMAT_CHAIN_MAX];  /* leaf first */
	unsigned int npcerts;
	gnutls_privkey_t key;
	char fingerprint[TLSMAT_FP_LEN];           /* SHA-256 of the leaf, hex */
	char not_after[TLSMAT_TIME_LEN];
	int64_t not_after_s;                       /* the same as Unix seconds, 0 unknown */
};

struct tls_material {
	char *cert_path, *key_path;
	pthread_mutex_t lock;                 /* serializes reloads; guards retired */
	_Atomic(struct tls_pair *) current;   /* read lock-free by handshakes */
	struct tls_pair *retired;             /* replaced pairs, freed with tm */
};

static _Atomic(struct tls_material *) tls_installed;

/* Reads a whole PEM file of at most TLSMAT_PEM_MAX bytes, NUL-terminated.
 * Only a regular file (a FIFO would block the start or the reload).
 * libmicrohttpd measures PEM text with strlen, so an embedded NUL is refused. */
static char *tlsmat_read_pem(const char *path, const char *what, size_t *lenp)
{
	char err[512];
	struct stat st;
	size_t len = 0;
	char *buf;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		log_error("%s: TLS %s %s is not a regular file", __func__, what, path);
		return NULL;
	}
	buf = file_read_capped(path, TLSMAT_PEM_MAX, &len, err, sizeof err);
	if (buf == NULL) {
		log_error("%s: TLS %s: %s", __func__, what, err);
		return NULL;
	}
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		log_error("%s: TLS %s %s is empty or not PEM text", __func__, what, path);
		secure_wipe(buf, len);
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
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
static int tlsmat_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Formats t as RFC 3339 into out and returns it as Unix seconds (0 and "?"
 * when it cannot be read). */
static int64_t tlsmat_fmt_asn1_time(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm;
	int64_t s;

	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(out, cap, "?");
		return 0;
	}
	s = (int64_t)timegm(&tm);
	fmt_rfc3339(s * 1000, out, cap);
	return s;
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
		crypto_log_ossl(__func__, "out of memory");
		goto out;
	}
	if ((x = PEM_read_bio_X509(cbio, NULL, NULL, NULL)) == NULL) {
		crypto_log_ossl(__func__, "no PEM certificate in %s", cert_path);
		goto out;
	}
	if ((pkey = PEM_read_bio_PrivateKey(kbio, NULL, tlsmat_no_passphrase, NULL)) == NULL) {
		crypto_log_ossl(__func__, "no usable unencrypted PEM private key in %s", key_path);
		goto out;
	}
	if (X509_check_private_key(x, pkey) != 1) {
		ERR_clear_error();
		log_error("%s: key %s does not match certificate %s", __func__, key_path,
		          cert_path);
		goto out;
	}
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != SHA256_LEN) {
		crypto_log_ossl(__func__, "cannot hash certificate");
		goto out;
	}
	hex_encode(md, sizeof md, p->fingerprint);
	p->not_after_s = tlsmat_fmt_asn1_time(X509_get0_notAfter(x), p->not_after, sizeof p->not_after);
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
	unsigned int n = TLSMAT_CHAIN_MAX;
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

	if ((p->cert_pem = tlsmat_read_pem(cert_path, "certificate", &p->cert_len)) == NULL ||
	    (p->key_pem = tlsmat_read_pem(key_path, "key", &p->key_len)) == NULL ||
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

int64_t tls_material_not_after(const struct tls_material *tm)
{
	return tm != NULL ? tls_material_current(tm)->not_after_s : 0;
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
 * tlsmat.h ever drifts from what MHD_OPTION_HTTPS_CERT_CALLBACK expects. */
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
