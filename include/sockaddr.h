/*
 * sockaddr: socket addresses as mnmfa reads and shows them: a numeric bind
 * address (IPv4 or IPv6) into a sockaddr, and a peer's address as text (an
 * IPv4-mapped IPv6 address shown as IPv4) with whether it is loopback.
 */
#ifndef MNMFA_SOCKADDR_H
#define MNMFA_SOCKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* host must be a numeric address ("0.0.0.0", "::1"); 0, or -1 logged. */
int sockaddr_from_bind(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len);

/* The peer's address in ip ("unknown" for NULL or another family) and
 * *loopback (127/8, ::1, or ::ffff:127/104). */
void sockaddr_text(const struct sockaddr *sa, char *ip, size_t cap, bool *loopback);

#endif
