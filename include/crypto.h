/*
 * crypto: the only module that calls OpenSSL's EVP/RAND directly.
 * CSPRNG bytes, SHA-256, HMAC-SHA256, base64url, hex and constant-time compare.
 */
#ifndef MNMFA_CRYPTO_H
#define MNMFA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PAGE_ID_BYTES 16
#define PAGE_ID_LEN 22          /* base64url of 16 bytes, no padding */
#define SHA256_LEN 32

int crypto_random(void *buf, size_t n);          /* 0 or -1 (RAND_bytes failed) */
uint64_t crypto_rng_u64(void *ctx);              /* an rng_fn for challenge.c; ctx unused */

void crypto_sha256(const void *data, size_t n, uint8_t out[SHA256_LEN]);
/* A SHA-256 context kept by one thread for many digests (crypto_sha256
 * allocates one per call). */
struct crypto_sha256_ctx;
struct crypto_sha256_ctx *crypto_sha256_ctx_new(void);
void crypto_sha256_ctx_digest(struct crypto_sha256_ctx *h, const void *data, size_t n,
                              uint8_t out[SHA256_LEN]);
void crypto_sha256_ctx_free(struct crypto_sha256_ctx *h);
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        uint8_t out[SHA256_LEN]);

/* base64url without padding. enc: out needs 4*ceil(n/3)+1 bytes, returns length.
 * dec: returns decoded length or -1 on any invalid character/length. */
size_t b64url_encode(const uint8_t *in, size_t n, char *out);
long b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap);

void hex_encode(const uint8_t *in, size_t n, char *out);   /* out: 2n+1 */

/* true if equal; time depends only on the lengths */
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);

void secure_wipe(void *p, size_t n);

/* Logs "func: what: <newest OpenSSL error>" and clears OpenSSL's error queue
 * (for the modules that call OpenSSL's X.509 and PEM functions). */
void crypto_log_ossl(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
