/*
 * fileio: size-capped whole-file reads. Reads up to cap + 1 bytes so a file
 * that grows between a stat and the read is still caught by the cap.
 */
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILEIO_CHUNK 65536

char *file_read_capped(const char *path, size_t cap, size_t *len, char *err, size_t errlen)
{
	char *data = NULL;
	size_t n = 0, size = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == size) {
			if (size > cap) {
				snprintf(err, errlen, "%s is larger than %zu bytes", path, cap);
				goto fail;
			}
			size = (cap - size < FILEIO_CHUNK ? cap + 1 : size + FILEIO_CHUNK);
			data = xreallocarray(data, size + 1, 1);
		}
		r = read(fd, data + n, size - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > cap) {
		snprintf(err, errlen, "%s is larger than %zu bytes", path, cap);
		goto fail;
	}
	close(fd);
	if (data == NULL)
		data = xmalloc(1);
	data[n] = '\0';
	if (len != NULL)
		*len = n;
	return data;
fail:
	close(fd);
	free(data);
	return NULL;
}
