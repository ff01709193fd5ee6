/*
 * config_keys: the table of configuration keys that config.c loads, prints
 * and documents. What a key accepts is its kind plus that kind's own fields,
 * so each table line reads as a sentence ("web_port: a whole number in
 * 1..65535, default 443"). A key may add a check of its effective value (a
 * URL, a CIDR, a colour...), run once every layer is in.
 */
#ifndef MNMFA_CONFIG_KEYS_H
#define MNMFA_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

enum key_kind {
	K_STR,                      /* text up to len_max; required: not empty */
	K_INT,                      /* a whole number in lo..hi */
	K_BOOL,                     /* true|false (1|0 in env and flags) */
	K_LIST,                     /* up to CONFIG_MAX_LIST entries of up to len_max */
	K_RATE,                     /* "N/SECONDS", N in 1..RATE_N_MAX, SECONDS in 1..RATE_SECONDS_MAX */
	K_ENUM,                     /* one of names; the field holds the index */
};

#define RATE_N_MAX 1000000
#define RATE_SECONDS_MAX (31 * 86400)

/* NULL if the value is fine, else what was expected ("expected #rrggbb"). */
typedef const char *key_check_fn(const char *value);

struct key {
	const char *name;
	enum key_kind kind;
	size_t off;                 /* offsetof(struct config, field) */
	const char *def;            /* default as text; NULL: none */
	long long lo, hi;           /* K_INT: accepted range */
	size_t len_max;             /* K_STR: longest value; K_LIST: longest entry */
	bool required;              /* K_STR: the empty string is refused */
	const char *const *names;   /* K_ENUM: value names by value, NULL-terminated */
	key_check_fn *check;        /* K_STR, each K_LIST entry: effective value */
	bool secret;                /* never printed, never in an error line */
	const char *help;
};

extern const struct key config_keys[];
extern const size_t config_nkeys;

#endif
