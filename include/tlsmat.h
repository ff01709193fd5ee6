/*
 * tlsmat: the TLS key/certificate pair of both libmicrohttpd daemons.
 * Loads PEM files, checks the key matches the certificate (OpenSSL), and hands
 * the pair to GnuTLS (libmicrohttpd's TLS) through a certificate callback so
 * that SIGHUP can swap it without dropping service. Generating a pair is
 * certgen's.
 *
 * How the http module uses it (verified against libmicrohttpd 0.9.75 / GnuTLS 3.7):
 *
 *	tm = tls_material_load(cfg->tls_cert, cfg->tls_key);     // before dropping privileges
 *	tls_material_install(tm);
 *	MHD_start_daemon(MHD_USE_TLS | ..., port, ...,
 *	        MHD_OPTION_HTTPS_CERT_CALLBACK, &tls_material_retrieve,
 *	        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
 *	        ..., MHD_OPTION_END);
 *	// SIGHUP:   tls_material_reload(tm);  new handshakes get the new pair
 *	// shutdown: MHD_stop_daemon(both); tls_material_free(tm);
 *
 * With MHD_OPTION_HTTPS_CERT_CALLBACK libmicrohttpd needs no
 * MHD_OPTION_HTTPS_MEM_KEY/MEM_CERT (MHD_init_daemon_certificate returns 0 when
 * a callback is set); do not pass them, or GnuTLS would hold a second copy of the
 * key that a reload cannot replace. tls_material_cert_pem/key_pem exist for a
 * daemon started without the callback.
 *
 * The retrieve callback has no closure argument (GnuTLS's
 * gnutls_certificate_retrieve_function2, and MHD passes none), so the material
 * it serves is one process-wide slot set by tls_material_install at start-up:
 * the single piece of global state in mnmfa, and both ports share one pair.
 */
#ifndef MNMFA_TLSMAT_H
#define MNMFA_TLSMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

/* Cipher and version policy for MHD_OPTION_HTTPS_PRIORITIES: TLS 1.3 and 1.2,
 * AEAD ciphers and forward secrecy only (NOTES.md). */
#define TLS_PRIORITIES                                                                  \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:"        \
	"+AES-256-GCM:+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

#define TLSMAT_PEM_MAX (64 * 1024)    /* largest cert or key file read */
#define TLSMAT_CHAIN_MAX 8            /* certificates in cert.pem (leaf + intermediates) */

struct tls_material;   /* the current pair plus the pairs it replaced */

/* Reads both PEM files (each at most TLSMAT_PEM_MAX), checks the key matches
 * the first certificate (the leaf; intermediates may follow it) and prepares it
 * for GnuTLS. NULL with a logged reason on any failure. */
struct tls_material *tls_material_load(const char *cert_path, const char *key_path);

/* Re-reads the files given to tls_material_load. On success new handshakes get
 * the new pair; on failure the old pair stays in service and -1 is returned with
 * a logged reason. Replaced pairs are kept until tls_material_free, because a
 * handshake started before the swap may still use them; memory grows only with
 * the number of distinct pairs (an unchanged or previously served pair is
 * reused). Safe to call while handshakes run. */
int tls_material_reload(struct tls_material *tm);

/* Frees tm and every pair it held (the key text is wiped). Call only after the
 * daemons using it are stopped. Uninstalls tm if it is installed. */
void tls_material_free(struct tls_material *tm);

/* PEM text of the current pair, NUL-terminated, for MHD_OPTION_HTTPS_MEM_CERT /
 * MEM_KEY. Valid until tls_material_free, even across reloads. */
const char *tls_material_cert_pem(const struct tls_material *tm);
const char *tls_material_key_pem(const struct tls_material *tm);

/* SHA-256 fingerprint of the current leaf certificate, lowercase hex (64 chars). */
const char *tls_material_fingerprint(const struct tls_material *tm);
/* When the current leaf certificate expires (notAfter), Unix seconds; 0 when
 * unknown or tm is NULL. For /metrics. */
int64_t tls_material_not_after(const struct tls_material *tm);

/* Makes tm the material tls_material_retrieve serves (NULL: none). */
void tls_material_install(struct tls_material *tm);

/* MHD_OPTION_HTTPS_CERT_CALLBACK (a gnutls_certificate_retrieve_function2): hands
 * out the installed material's current certificate chain and key; they stay
 * owned by the material. Fails the handshake if nothing is installed. */
int tls_material_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                          const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                          gnutls_pcert_st **pcert, unsigned int *pcert_length,
                          gnutls_privkey_t *privkey);

#endif
