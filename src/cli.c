/*
 * cli: argument helpers for the one-shot commands. Pure but for getenv.
 */
#include "cli.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>

const char *cli_flag(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

const char *cli_db_default(void)
{
	const char *db = getenv("MNMFA_DB_PATH");

	return db != NULL && *db != '\0' ? db : CONFIG_DEFAULT_DB_PATH;
}
