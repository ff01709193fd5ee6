/*
 * store_redis: the store (store.h) kept in Redis, shared by every node that
 * names the same Redis: any node serves and decides any page, a page is
 * decided once. See store_redis.c for the layout of the keys.
 */
#ifndef MNMFA_STORE_REDIS_H
#define MNMFA_STORE_REDIS_H

#include "store.h"

#define STORE_NODE_MAX 64             /* node_id */

struct redis;

struct store_redis_opts {
	struct redis *redis;              /* shared, not owned */
	size_t max_pending;               /* this node's pending challenges at most */
	const char *node_id;              /* names this node's expiry set */
};

struct store *store_redis_new(const struct store_redis_opts *o);

#endif
