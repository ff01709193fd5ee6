/*
 * crypto: the only module that calls OpenSSL's RAND/EVP/HMAC directly.
 * CSPRNG bytes (page ids, the challenge RNG), SHA-256 (audit chain), HMAC-SHA256
 * (webhook signatures), base64url without padding (page ids), hex and a
 * constant-time compare. Everything here is stateless and thread-safe.
 *
 * The decoder is strict on purpose: a page id has exactly one spelling, so two
 * strings that decode to the same bytes (padding, whitespace, stray low bits)
 * can never name the same challenge or slip past a cache or a log grep.
 */
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static const char b64url_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Random bytes are drawn from OpenSSL in blocks of RNG_POOL_BYTES into a
 * per-thread pool: OpenSSL 3's RAND_bytes costs about a microsecond a call
 * (provider lookups, a fork check), and one mint needs a page id plus a few
 * dozen numbers for its question. Bytes are handed out once and wiped as they
 * go. The daemon never forks after start-up, so a pool is never shared.
 * A mint draws ~300-400 bytes (its page id, its question's numbers), so at
 * 512 bytes nearly every mint paid a refill (RAND_bytes 2.8% of a mint run's
 * samples in perf); 4,096 refills every ~10 mints. */
#define RNG_POOL_BYTES 4096

struct rng_pool {
	unsigned char buf[RNG_POOL_BYTES];
	size_t pos;
};

static _Thread_local struct rng_pool rng_pool = { .pos = RNG_POOL_BYTES };

static int rand_bytes(unsigned char *p, size_t n)
{
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return -1;
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

int crypto_random(void *buf, size_t n)
{
	struct rng_pool *rp = &rng_pool;

	if (n > RNG_POOL_BYTES / 4) {
		if (rand_bytes(buf, n) < 0) {
			log_error("%s: RAND_bytes failed", __func__);
			return -1;
		}
		return 0;
	}
	if (rp->pos + n > RNG_POOL_BYTES) {
		if (rand_bytes(rp->buf, RNG_POOL_BYTES) < 0) {
			log_error("%s: RAND_bytes failed", __func__);
			return -1;
		}
		rp->pos = 0;
	}
	memcpy(buf, rp->buf + rp->pos, n);
	OPENSSL_cleanse(rp->buf + rp->pos, n);
	rp->pos += n;
	return 0;
}

uint64_t crypto_rng_u64(void *ctx)
{
	unsigned char b[8];
	uint64_t v = 0;

	(void)ctx;
	/* The challenge module cannot handle a missing number, and a daemon that
	 * cannot draw randomness must not mint anything: stop here. */
	if (crypto_random(b, sizeof b) < 0) {
		log_error("%s: cannot continue without randomness", __func__);
		abort();
	}
	for (size_t i = 0; i < sizeof b; i++)
		v = (v << 8) | b[i];
	OPENSSL_cleanse(b, sizeof b);
	return v;
}

/* SHA-256 is fetched from the provider once: an implicit fetch on every
 * EVP_Digest call takes locks and searches the method store (OpenSSL 3). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void crypto_sha256(const void *data, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;

	pthread_once(&sha256_once, sha256_fetch);
	/* EVP_Digest only fails on allocation failure or a broken provider; a wrong
	 * audit hash would be worse than stopping. */
	if (sha256_md == NULL || EVP_Digest(data, n, out, &len, sha256_md, NULL) != 1 ||
	    len != SHA256_LEN) {
		log_error("%s: EVP_Digest(SHA-256) failed", __func__);
		abort();
	}
}

struct crypto_sha256_ctx {
	EVP_MD_CTX *md;
};

struct crypto_sha256_ctx *crypto_sha256_ctx_new(void)
{
	struct crypto_sha256_ctx *h = xcalloc(1, sizeof *h);

	pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL || (h->md = EVP_MD_CTX_new()) == NULL) {
		log_error("%s: cannot set up SHA-256", __func__);
		abort();
	}
	return h;
}

void crypto_sha256_ctx_digest(struct crypto_sha256_ctx *h, const void *data, size_t n,
                              uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestInit_ex2(h->md, sha256_md, NULL) != 1 || EVP_DigestUpdate(h->md, data, n) != 1 ||
	    EVP_DigestFinal_ex(h->md, out, &len) != 1 || len != SHA256_LEN) {
		log_error("%s: SHA-256 failed", __func__);
		abort();
	}
}

void crypto_sha256_ctx_free(struct crypto_sha256_ctx *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        uint8_t out[SHA256_LEN])
{
	static const unsigned char empty_key[1];
	unsigned int len = 0;

	/* HMAC() treats a NULL key specially in some OpenSSL versions; an empty
	 * key is a valid (if weak) HMAC key, so pass a real pointer. */
	if (key == NULL || keylen == 0) {
		key = empty_key;
		keylen = 0;
	}
	if (keylen > INT_MAX ||
	    HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &len) == NULL ||
	    len != SHA256_LEN) {
		log_error("%s: HMAC-SHA256 failed", __func__);
		abort();
	}
}

size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

/* Value of one base64url character, or -1 for anything else ('=', '+', '/',
 * whitespace, NUL, bytes >= 0x80). */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap)
{
	size_t full = n / 4, rem = n % 4, outlen, o = 0;
	uint32_t v = 0;

	/* One leftover character carries only 6 bits: never a whole byte. */
	if (rem == 1 || n / 4 > (size_t)LONG_MAX / 3)
		return -1;
	outlen = full * 3 + (rem == 0 ? 0 : rem - 1);
	if (outlen > outcap)
		return -1;

	for (size_t i = 0; i < n; i++) {
		int d = b64url_value((unsigned char)in[i]);
		if (d < 0)
			return -1;
		v = (v << 6) | (uint32_t)d;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(v >> 16);
			out[o++] = (uint8_t)(v >> 8);
			out[o++] = (uint8_t)v;
			v = 0;
		}
	}
	if (rem == 2) {
		/* 12 bits: one byte and 4 bits that must be zero */
		if ((v & 0x0f) != 0)
			return -1;
		out[o++] = (uint8_t)(v >> 4);
	} else if (rem == 3) {
		/* 18 bits: two bytes and 2 bits that must be zero */
		if ((v & 0x03) != 0)
			return -1;
		out[o++] = (uint8_t)(v >> 10);
		out[o++] = (uint8_t)(v >> 2);
	}
	return (long)o;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen) {
		/* Still touch alen bytes so the time does not say "wrong length"
		 * any faster than "wrong content" would for that length. */
		(void)CRYPTO_memcmp(a, a, alen);
		return false;
	}
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void secure_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

void crypto_log_ossl(const char *func, const char *fmt, ...)
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
