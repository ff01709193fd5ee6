/*
 * log: levelled logging to stderr, as text or one JSON object per line.
 * Callers never pass secrets here; the config module masks them for check-config.
 */
#ifndef MNMFA_LOG_H
#define MNMFA_LOG_H

#include <stdbool.h>
#include <stdnoreturn.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
/* "error", "warn", "info", "debug", indexed by level, NULL-terminated. */
extern const char *const log_level_names[];

void log_init(enum log_level level, bool json);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
