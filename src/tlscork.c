/*
 * tlscork: one TLS record per small libmicrohttpd response (include/tlscork.h).
 *
 * http.c corks every answer, given in the pass that read its request or
 * queued from a resumed deferral (a mint, an answer after its audit row):
 * libmicrohttpd calls the completion callback once it has handed the last
 * bytes to GnuTLS, in the same pass or a poll later (the socket is writable,
 * so that poll returns at once), and the uncork sends them.
 *
 * Only with the socket's send queue empty (SIOCOUTQ) and a small body, so
 * that the uncork's non-blocking send cannot meet a full buffer: a client
 * that pipelines without reading its answers keeps libmicrohttpd's own flow
 * control, whose sends wait for the socket to be writable.
 *
 * The push: libmicrohttpd sets TCP_CORK for a response under 1,400 bytes and
 * pushes by setting TCP_NODELAY after what it takes for its last send. Corked
 * in GnuTLS, nothing has reached the socket by then, so the uncork's bytes
 * would sit under TCP_CORK until the kernel's 200 ms limit; setting
 * TCP_NODELAY again after the send pushes them (tcp(7)).
 */
#include "tlscork.h"
#include "log.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

void tlscork_begin(struct tlscork *c, struct MHD_Connection *conn, size_t body_len)
{
	const union MHD_ConnectionInfo *fd, *tls;
	int queued = -1;

	c->session = NULL;
	if (body_len > TLSCORK_BODY_MAX ||
	    (fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL ||
	    (tls = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) == NULL ||
	    tls->tls_session == NULL)
		return;
	if (ioctl(fd->connect_fd, SIOCOUTQ, &queued) != 0 || queued != 0)
		return;
	c->session = (gnutls_session_t)tls->tls_session;
	c->fd = fd->connect_fd;
	gnutls_record_cork(c->session);
}

void tlscork_end(struct tlscork *c, bool complete, const char *port)
{
	int one = 1, rc;

	if (c->session == NULL)
		return;
	rc = gnutls_record_uncork(c->session, 0);
	c->session = NULL;
	if (rc >= 0) {
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	} else if (complete) {
		log_warn("%s port: a response could not be sent whole (%s); connection closed", port,
		         gnutls_strerror(rc));
		shutdown(c->fd, SHUT_RDWR);
	}
}
