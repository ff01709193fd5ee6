/*
 * fileio: reading small files whole (certificates, keys, the config file, the
 * brand logo), each with a size cap so that a wrong path cannot make the
 * daemon read a huge file into memory.
 */
#ifndef MNMFA_FILEIO_H
#define MNMFA_FILEIO_H

#include <stddef.h>

/* The whole file at path, NUL-terminated (the NUL not counted in *len), for
 * the caller to free. NULL if it cannot be read or holds more than cap bytes,
 * with a one-line reason in err: "cannot open PATH: REASON",
 * "PATH is larger than CAP bytes", "cannot read PATH: REASON". */
char *file_read_capped(const char *path, size_t cap, size_t *len, char *err, size_t errlen);

#endif
