// max_len: 8192
/*
 * fuzz_config: the JSON config file (--config FILE). The input becomes the
 * file (a memfd, reached as /proc/self/fd/N) and config_load parses it over
 * the defaults; the result is printed and freed. Checks: memory safety, UB
 * (JSON numbers are doubles: casting a huge one to an integer is UB), and that
 * a loaded configuration keeps its own rules (expiration 10..600, choices
 * 2..8, wa_digits 8..15 digits, brand_color #rrggbb).
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *null = fopen("/dev/null", "w");

	(void)argc;
	(void)argv;
	if (null != NULL)
		stderr = null;           /* config errors; sanitizer reports still go to fd 2 */
	sink = fopen("/dev/null", "w");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char path[64], *argv[3], *envp[] = { NULL };
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	argv[0] = (char *)"--config";
	argv[1] = path;
	argv[2] = NULL;
	if (config_load(&cfg, 2, argv, envp) == 0) {
		size_t d = strlen(cfg.wa_digits);
		if (cfg.expiration < CONFIG_EXPIRATION_MIN || cfg.expiration > CONFIG_EXPIRATION_MAX ||
		    cfg.choices < 2 || cfg.choices > 8 || cfg.web_port < 1 || cfg.web_port > 65535 ||
		    cfg.api_keys.n > CONFIG_MAX_LIST || cfg.trusted_proxies.n > CONFIG_MAX_LIST ||
		    cfg.rate_phone.n < 1 || cfg.lockout.seconds < 1 || cfg.public_url == NULL)
			abort();
		if (cfg.whatsapp_number != NULL && (d < 8 || d > 15))
			abort();
		for (size_t i = 0; i < d; i++)
			if (!isdigit((unsigned char)cfg.wa_digits[i]))
				abort();
		if (cfg.brand_color != NULL && (strlen(cfg.brand_color) != 7 || cfg.brand_color[0] != '#'))
			abort();
		config_print(&cfg, sink);
	}
	config_free(&cfg);
	close(fd);
	return 0;
}
