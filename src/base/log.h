/* log.h - one-line logging to stderr, and key ids so secrets never reach a log. */
#ifndef SEEKD_BASE_LOG_H
#define SEEKD_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

/** Sets the lowest level that is printed (default LOG_INFO). */
void log_set_level(log_level_t level);
/** Whether a line of this level would be printed: lets callers skip formatting its parts. */
bool log_on(log_level_t level);
/** "debug", "info", "warn", "error" or "off". */
const char *log_level_name(log_level_t level);
/** Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int log_level_parse(const char *name);
/** Prints one line "<time> <LEVEL> <message>" to stderr when level is enabled. */
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* A key id: 8 lowercase hex digits, the first 4 bytes of the key's SHA-256. */
#define LOG_KEY_ID_LEN 8
#define LOG_KEY_ID_SIZE (LOG_KEY_ID_LEN + 1)

/** Writes the key id of key[0..keylen) into out, NUL-terminated, and returns out. It names a key
 * in logs, /health, metrics and the ledger without showing any of its characters, whatever the
 * key's length. Unkeyed on purpose: the same key has the same id across restarts and instances,
 * and an operator can find it with `printf %s "$KEY" | sha256sum | cut -c1-8`. 32 bits tell a
 * handful of keys apart; they cannot give back a key of real entropy. */
char *log_key_id(const char *key, size_t keylen, char out[LOG_KEY_ID_SIZE]);

#endif
