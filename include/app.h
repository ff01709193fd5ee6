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

struct app {
	struct config cfg;
	struct store *store;
	struct audit *audit;
	struct notify *notify;
	struct metrics *metrics;
	struct tls_material *tls;
	struct http_server *web;
	struct http_server *api;
};

#endif
