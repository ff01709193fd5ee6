/*
 * sockaddr: numeric bind addresses and peer addresses as text (sockaddr.h).
 * No I/O beyond getaddrinfo's numeric parse (AI_NUMERICHOST: no lookup).
 */
#include "sockaddr.h"
#include "log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int sockaddr_from_bind(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char portstr[8];
	int rc;

	snprintf(portstr, sizeof portstr, "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		log_error("bind address \"%s\" is not a numeric IPv4/IPv6 address: %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void sockaddr_text(const struct sockaddr *sa, char *ip, size_t cap, bool *loopback)
{
	snprintf(ip, cap, "unknown");
	*loopback = false;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)cap);
		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, (socklen_t)cap);
			*loopback = in6->sin6_addr.s6_addr[12] == 127;
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)cap);
			*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		}
	}
}
