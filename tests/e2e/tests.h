/*
 * tests: the registry. Each test_*.c file exports one NULL-terminated table;
 * main.c runs them in this order.
 */
#ifndef E2E_TESTS_H
#define E2E_TESTS_H

#include <stdbool.h>

struct t;

struct test {
	const char *name;
	void (*fn)(struct t *t);
	const void *arg;             /* handed to the test as t->arg */
};

extern const struct test e2e_tests_harness[];
extern const struct test e2e_tests_mint[];
extern const struct test e2e_tests_answer[];
extern const struct test e2e_tests_errors[];
extern const struct test e2e_tests_web[];
extern const struct test e2e_tests_config[];
extern const struct test e2e_tests_notify[];
extern const struct test e2e_tests_limits[];
extern const struct test e2e_tests_audit[];
extern const struct test e2e_tests_concurrency[];

#endif
