/*
 * checkpoint: the audit chain's signed checkpoints -- the Ed25519 key
 * (OpenSSL), the signed message, signing and checking, the verify walk's
 * checkpoint half, and the signer the audit writer calls (see
 * include/checkpoint.h for the message and what each part guarantees).
 */
#include "checkpoint.h"
#include "certgen.h"
#include "crypto.h"
#include "fileio.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECKPOINT_MSG_MAX 160          /* the signed message: prefix, id, hash, ts */
#define ED25519_SIG_LEN 64
#define ED25519_PUB_LEN 32

static const char msg_prefix[] = "mnmfa-checkpoint-v1\n";

struct checkpoint_key {
	EVP_PKEY *pkey;
	bool private;
	char pub_hex[CHECKPOINT_PUB_HEX + 1];
};

int checkpoint_key_path(const char *audit_key, const char *db_path, char *out, size_t cap)
{
	const char *slash;
	int n;

	if (audit_key != NULL && *audit_key != '\0')
		n = snprintf(out, cap, "%s", audit_key);
	else if ((slash = strrchr(db_path, '/')) != NULL)
		n = snprintf(out, cap, "%.*s/%s", (int)(slash - db_path), db_path, CHECKPOINT_KEY_NAME);
	else
		n = snprintf(out, cap, "%s", CHECKPOINT_KEY_NAME);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static struct checkpoint_key *key_wrap(EVP_PKEY *pkey, bool private, char *err, size_t errlen)
{
	struct checkpoint_key *k;
	uint8_t raw[ED25519_PUB_LEN];
	size_t n = sizeof raw;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != sizeof raw) {
		snprintf(err, errlen, "not an Ed25519 key");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k = xcalloc(1, sizeof *k);
	k->pkey = pkey;
	k->private = private;
	hex_encode(raw, sizeof raw, k->pub_hex);
	return k;
}

struct checkpoint_key *checkpoint_key_load(const char *path, char *err, size_t errlen)
{
	struct checkpoint_key *k = NULL;
	EVP_PKEY *pkey;
	size_t len;
	char *pem = file_read_capped(path, CHECKPOINT_KEY_FILE_MAX, &len, err, errlen);
	BIO *bio;

	if (pem == NULL)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		goto out;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (pkey != NULL) {
		k = key_wrap(pkey, true, err, errlen);
	} else {
		(void)BIO_reset(bio);
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		if (pkey != NULL)
			k = key_wrap(pkey, false, err, errlen);
		else
			snprintf(err, errlen, "%s holds no PEM key", path);
	}
	ERR_clear_error();
	BIO_free(bio);
out:
	secure_wipe(pem, len);
	free(pem);
	return k;
}

/* Generates a key and writes it to path (0600, temporary name, renamed). */
static int key_generate(const char *path)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long n;
	int rc = -1;

	if (pkey == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0) {
		crypto_log_ossl(__func__, "Ed25519 key generation failed");
		goto out;
	}
	rc = certgen_write_file(path, data, (size_t)n, 0600);
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return rc;
}

struct checkpoint_key *checkpoint_key_ensure(const char *path)
{
	struct checkpoint_key *k;
	struct stat st;
	char err[512];

	if (stat(path, &st) != 0) {
		if (errno != ENOENT) {
			log_error("%s: cannot access audit_key %s: %s", __func__, path, strerror(errno));
			return NULL;
		}
		if (key_generate(path) != 0)
			return NULL;
		log_warn("audit: generated the checkpoint signing key %s (Ed25519); back it up apart "
		         "from the database and anchor `mnmfa audit pubkey` elsewhere", path);
	} else if ((st.st_mode & 077) != 0) {
		log_warn("audit: the checkpoint key %s is readable by others (mode %03o); chmod 600 it",
		         path, (unsigned)(st.st_mode & 0777));
	}
	k = checkpoint_key_load(path, err, sizeof err);
	if (k == NULL) {
		log_error("audit: audit_key %s: %s", path, err);
		return NULL;
	}
	if (!k->private) {
		log_error("audit: audit_key %s holds a public key; the daemon needs the private key", path);
		checkpoint_key_free(k);
		return NULL;
	}
	return k;
}

void checkpoint_key_free(struct checkpoint_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

void checkpoint_key_public_hex(const struct checkpoint_key *k, char out[CHECKPOINT_PUB_HEX + 1])
{
	memcpy(out, k->pub_hex, CHECKPOINT_PUB_HEX + 1);
}

int checkpoint_key_public_pem(const struct checkpoint_key *k, FILE *f)
{
	return PEM_write_PUBKEY(f, k->pkey) == 1 ? 0 : -1;
}

size_t checkpoint_message(const struct checkpoint *c, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s%" PRId64 "\n%s\n%s\n", msg_prefix, c->row_id,
	                 c->head_hash ? c->head_hash : "", c->ts ? c->ts : "");
	return n < 0 ? 0 : (size_t)n;
}

int checkpoint_sign(const struct checkpoint_key *k, const struct checkpoint *c,
                    char sig[CHECKPOINT_SIG_HEX + 1])
{
	char msg[CHECKPOINT_MSG_MAX];
	uint8_t raw[ED25519_SIG_LEN];
	size_t n = checkpoint_message(c, msg, sizeof msg), slen = sizeof raw;
	EVP_MD_CTX *ctx;
	int rc = -1;

	if (!k->private || n >= sizeof msg) {
		log_error("%s: %s", __func__, k->private ? "message too long" : "no private key");
		return -1;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, raw, &slen, (const uint8_t *)msg, n) != 1 || slen != sizeof raw) {
		crypto_log_ossl(__func__, "Ed25519 signing failed");
		goto out;
	}
	hex_encode(raw, sizeof raw, sig);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool checkpoint_signature_ok(const struct checkpoint_key *k, const struct checkpoint *c)
{
	char msg[CHECKPOINT_MSG_MAX];
	uint8_t raw[ED25519_SIG_LEN];
	size_t n;
	EVP_MD_CTX *ctx;
	bool ok = false;

	if (c->signature == NULL || c->pubkey == NULL || c->head_hash == NULL || c->ts == NULL ||
	    strlen(c->signature) != CHECKPOINT_SIG_HEX || strcmp(c->pubkey, k->pub_hex) != 0)
		return false;
	for (size_t i = 0; i < sizeof raw; i++) {
		int hi = hex_nibble(c->signature[2 * i]), lo = hex_nibble(c->signature[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	n = checkpoint_message(c, msg, sizeof msg);
	if (n >= sizeof msg)
		return false;
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	     EVP_DigestVerify(ctx, raw, sizeof raw, (const uint8_t *)msg, n) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* ---- the verify walk ---------------------------------------------------- */

void checkpoint_walk_init(struct checkpoint_walk *w, const struct checkpoint_key *key)
{
	memset(w, 0, sizeof *w);
	w->key = key;
}

int checkpoint_walk_step(struct checkpoint_walk *w, const struct checkpoint *c, const char *row_hash)
{
	if (c->row_id <= w->good_row_id)
		w->reason = "a signed checkpoint does not come after the one before it";
	else if (!checkpoint_signature_ok(w->key, c))
		w->reason = c->pubkey != NULL && strcmp(c->pubkey, w->key->pub_hex) != 0 ?
		            "a checkpoint is signed by another key than audit_key" :
		            "a checkpoint's signature is not valid (it was forged or changed)";
	else if (row_hash == NULL)
		w->reason = "a signed checkpoint covers rows the log no longer holds (rows were removed)";
	else if (strcmp(row_hash, c->head_hash) != 0)
		w->reason = "the rows differ from what a signed checkpoint covers (rewritten and "
		            "rechained after it was signed)";
	else {
		w->good++;
		w->good_row_id = c->row_id;
		return 0;
	}
	w->bad_id = w->good_row_id + 1;
	w->bad_checkpoint = c->id;
	return 1;
}

/* ---- the signer --------------------------------------------------------- */

struct checkpoint_signer {
	struct checkpoint_key *key;
	sqlite3 *db;
	sqlite3_stmt *ins;
	int64_t signed_id;                 /* the newest row covered */
	int64_t unsigned_since_ms;         /* monotonic: when a row was first seen unsigned; 0 */
};

struct checkpoint_signer *checkpoint_signer_new(sqlite3 *db, const char *key_path)
{
	struct checkpoint_signer *s = xcalloc(1, sizeof *s);
	sqlite3_stmt *st = NULL;

	s->db = db;
	if ((s->key = checkpoint_key_ensure(key_path)) == NULL)
		goto fail;
	if (sqlite3_prepare_v3(db, "INSERT INTO audit_checkpoint (row_id, head_hash, ts, pubkey, "
	                       "signature) VALUES (?,?,?,?,?)", -1, SQLITE_PREPARE_PERSISTENT,
	                       &s->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT max(row_id) FROM audit_checkpoint", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		log_error("%s: %s", __func__, sqlite3_errmsg(db));
		goto fail;
	}
	s->signed_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return s;
fail:
	sqlite3_finalize(st);
	checkpoint_signer_free(s);
	return NULL;
}

void checkpoint_signer_free(struct checkpoint_signer *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->ins);
	checkpoint_key_free(s->key);
	free(s);
}

int checkpoint_signer_after(struct checkpoint_signer *s, int64_t head_id, const char *head_hash,
                            bool force)
{
	char ts[32], sig[CHECKPOINT_SIG_HEX + 1];
	struct checkpoint c = { .row_id = head_id, .head_hash = head_hash, .ts = ts,
	                        .pubkey = s->key->pub_hex, .signature = sig };
	int64_t mono = mono_ms();
	int rc;

	if (head_id <= s->signed_id)
		return 0;
	if (s->unsigned_since_ms == 0)
		s->unsigned_since_ms = mono;
	if (!force && head_id - s->signed_id < CHECKPOINT_EVERY_ROWS &&
	    mono - s->unsigned_since_ms < CHECKPOINT_EVERY_MS)
		return 0;
	fmt_rfc3339_ms(now_ms(), ts, sizeof ts);
	if (checkpoint_sign(s->key, &c, sig) != 0)
		goto fail;
	sqlite3_bind_int64(s->ins, 1, head_id);
	sqlite3_bind_text(s->ins, 2, head_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 3, ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 4, s->key->pub_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 5, sig, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->ins);      /* autocommit: its own small transaction */
	sqlite3_reset(s->ins);
	sqlite3_clear_bindings(s->ins);
	if (rc != SQLITE_DONE) {
		log_error("%s: cannot store the checkpoint of row %lld: %s", __func__,
		          (long long)head_id, sqlite3_errmsg(s->db));
		goto fail;
	}
	s->signed_id = head_id;
	s->unsigned_since_ms = 0;
	return 0;
fail:
	s->unsigned_since_ms = mono;     /* the next try in CHECKPOINT_EVERY_MS, not at once */
	return -1;
}

int64_t checkpoint_signer_due_ms(const struct checkpoint_signer *s)
{
	return s->unsigned_since_ms == 0 ? 0 : s->unsigned_since_ms + CHECKPOINT_EVERY_MS;
}
