/*
 * log: one line per message on stderr, text or JSON. A mutex keeps lines whole
 * when pool threads log at once. Messages are escaped for JSON output.
 */
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LINE_MAX 2048

static enum log_level log_max = LOG_INFO;   /* set once at start-up, read-only after */
static bool log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

void log_init(enum log_level level, bool json)
{
	log_max = level;
	log_json = json;
}

bool log_enabled(enum log_level level)
{
	return level <= log_max;
}

static void json_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in != '\0' && o + 7 < cap; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], ts[32];

	vsnprintf(msg, sizeof msg, fmt, ap);
	fmt_rfc3339_ms(now_ms(), ts, sizeof ts);
	pthread_mutex_lock(&log_lock);
	if (log_json) {
		char esc[LOG_LINE_MAX * 2];
		json_escape(msg, esc, sizeof esc);
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts,
		        log_level_names[level], esc);
	} else {
		fprintf(stderr, "%s %-5s %s\n", ts, log_level_names[level], msg);
	}
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
