/*
 * certgen: self-signed certificates (OpenSSL): `mnmfa gen-cert`, and the
 * development pair tls_autogen makes at start-up when none is configured.
 * Loading and serving a pair is tlsmat's.
 */
#ifndef MNMFA_CERTGEN_H
#define MNMFA_CERTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CERTGEN_VALID_DAYS 825        /* validity of a generated certificate */
#define CERTGEN_HOSTS_MAX 32          /* SAN entries in a generated certificate */

/* Writes a self-signed X.509v3 certificate and its EC P-256 key: SAN with an IP
 * entry for each host that parses as IPv4/IPv6 and a DNS entry otherwise, CN =
 * hosts[0], CA:FALSE, digitalSignature, serverAuth, SHA-256, 825 days, random
 * 128-bit serial. Creates missing directories (0700); the key file is 0600, the
 * certificate 0644; each file is written to a temporary name, fsynced and
 * renamed, so neither is ever half-written. Returns 0, or -1 with a logged reason. */
int certgen_write(const char *cert_path, const char *key_path,
                  const char *const *hosts, size_t nhosts);

/* Start-up check of the configured pair: both files present → 0; both missing
 * and autogen → generates a pair for localhost, 127.0.0.1 and ::1 and warns that
 * it is a self-signed development certificate; exactly one missing, or both
 * missing without autogen → -1 with an error naming the missing file. */
/* Writes data to path whole or not at all: missing directories (0700), a
 * temporary name with mode (0600 for keys from the first byte), fsync,
 * rename, fsync of the directory. 0, or -1 with a logged reason. */
int certgen_write_file(const char *path, const void *data, size_t len, mode_t mode);

int certgen_ensure(const char *cert_path, const char *key_path, bool autogen);

#endif
