/*
 * tlscork: one TLS record per small libmicrohttpd response (src/tlscork.c).
 * libmicrohttpd 0.9.75 sends a response's header block and its body with a
 * gnutls_record_send each (two records, two sendmsg); corked from before the
 * response is queued until libmicrohttpd's completion callback, they leave
 * as one record and one sendmsg.
 */
#ifndef MNMFA_TLSCORK_H
#define MNMFA_TLSCORK_H

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* A response with a body up to this is corked: with its header block, well
 * under the smallest send buffer an empty TCP socket accepts at once. */
#define TLSCORK_BODY_MAX (4 * 1024)

struct tlscork {
	gnutls_session_t session;        /* NULL: not corked */
	int fd;
};

/* Corks conn's TLS session for a response of body_len bytes when the
 * uncork's one send cannot meet a full buffer: the socket's send queue is
 * empty and the body no larger than TLSCORK_BODY_MAX. */
void tlscork_begin(struct tlscork *c, struct MHD_Connection *conn, size_t body_len);

/* Sends what the cork holds (nothing when not corked) and pushes it out of
 * the TCP socket. Should that fail while the response was meant to complete
 * (`complete`), the rest would wait in GnuTLS with nothing to flush it: the
 * connection is shut down instead, with a warning naming `port`. */
void tlscork_end(struct tlscork *c, bool complete, const char *port);

#endif
