/*
 * test_fileio: file_read_capped on real files in a temporary directory: the
 * exact contents (binary, empty, at the cap), and a refusal with the reason
 * for a file over the cap, a missing file and a directory.
 */
#include "unit.h"
#include "fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dir {
	char path[64];
	char file[96];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof *d);

	strcpy(d->path, "/tmp/test_fileio.XXXXXX");
	if (mkdtemp(d->path) == NULL)
		return -1;
	snprintf(d->file, sizeof d->file, "%s/f", d->path);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;

	unlink(d->file);
	rmdir(d->path);
	free(d);
	return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_reads_whole_file(void **state)
{
	struct dir *d = *state;
	char err[256] = "";
	unsigned char data[200000];
	size_t len = 0;
	char *got;

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 31 % 256);   /* binary, NULs included */
	write_file(d->file, data, sizeof data);
	got = file_read_capped(d->file, sizeof data, &len, err, sizeof err);   /* exactly the cap */
	if (got == NULL)
		fail_msg("expected the file, got \"%s\"", err);
	assert_int_equal(len, sizeof data);
	assert_memory_equal(got, data, sizeof data);
	assert_int_equal(got[len], '\0');
	free(got);
}

static void test_empty_file(void **state)
{
	struct dir *d = *state;
	char err[256] = "";
	size_t len = 99;
	char *got;

	write_file(d->file, "", 0);
	got = file_read_capped(d->file, 10, &len, err, sizeof err);
	assert_non_null(got);
	assert_int_equal(len, 0);
	assert_string_equal(got, "");
	free(got);
}

static void test_refuses_over_cap(void **state)
{
	struct dir *d = *state;
	char err[256] = "", want[200];
	size_t len = 0;

	write_file(d->file, "12345678901", 11);
	assert_null(file_read_capped(d->file, 10, &len, err, sizeof err));
	snprintf(want, sizeof want, "%s is larger than 10 bytes", d->file);
	assert_string_equal(err, want);

	/* the cap is in bytes: one over a large chunked read too */
	{
		size_t n = 70000;
		char *big = malloc(n + 1);
		memset(big, 'x', n + 1);
		write_file(d->file, big, n + 1);
		free(big);
		assert_null(file_read_capped(d->file, n, &len, err, sizeof err));
		snprintf(want, sizeof want, "%s is larger than %zu bytes", d->file, n);
		assert_string_equal(err, want);
	}
}

static void test_missing_and_directory(void **state)
{
	struct dir *d = *state;
	char err[256] = "", missing[128], want[256];

	snprintf(missing, sizeof missing, "%s/none", d->path);
	assert_null(file_read_capped(missing, 10, NULL, err, sizeof err));
	snprintf(want, sizeof want, "cannot open %s: No such file or directory", missing);
	assert_string_equal(err, want);

	err[0] = '\0';
	assert_null(file_read_capped(d->path, 10, NULL, err, sizeof err));
	snprintf(want, sizeof want, "cannot read %s: Is a directory", d->path);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_whole_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_over_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_directory, setup, teardown),
	};

	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
