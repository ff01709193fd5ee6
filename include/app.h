/*
 * app: the one object built at start-up in main and passed as closure to both
 * daemons and every worker thread. No mutable globals elsewhere.
 */
#ifndef MNMFA_APP_H
#define MNMFA_APP_H

#include "config.h"

struct store;
struct audit;
struct notify;
struct metrics;
struct http_server;
struct tls_material;
struct limiter;

struct app {
	struct config cfg;
	struct store *store;
	struct audit *audit;
	struct notify *notify;
	struct metrics *metrics;
	struct tls_material *tls;
	struct http_server *web;
	struct http_server *api;
	struct limiter *rate_phone;      /* mints per phone */
	struct limiter *lockout;         /* failed answers per phone */
	struct limiter *rate_ip;         /* web requests per client address */
};

/* The key the per-phone limits use: the digits, without a leading '+'. */
static inline const char *app_phone_key(const char *phone)
{
	return phone[0] == '+' ? phone + 1 : phone;
}

#endif
