/*
 * cli: what the one-shot commands (`mnmfa audit ...`) share when reading
 * their arguments: one flag reader and the database they default to.
 */
#ifndef MNMFA_CLI_H
#define MNMFA_CLI_H

#include <stdbool.h>

/* The value of --name VALUE or --name=VALUE at argv[*i], advancing *i past a
 * separate value; NULL when argv[*i] is another argument. *missing is set
 * when --name has no value: none follows, or the next argument is itself a
 * flag ("--phone --since T": the value was forgotten, not "--since"). */
const char *cli_flag(int argc, char **argv, int *i, const char *name, bool *missing);

/* $MNMFA_DB_PATH when set and not empty, else config's db_path default. */
const char *cli_db_default(void);

#endif
