/* log.c - stderr logging with a timestamp and level. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/sha256.h"

static log_level_t g_level = LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error", "off"};

const char *log_level_name(log_level_t level)
{
    return level >= 0 && level <= LOG_OFF ? names[level] : "?";
}

void log_set_level(log_level_t level)
{
    g_level = level;
}

bool log_on(log_level_t level)
{
    return level >= g_level && level < LOG_OFF;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level < g_level || level >= LOG_OFF)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* One event, one line: text from peers (an upstream's error message, a header) must not
     * start lines of its own that a reader or a log shipper would take for seekd's. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

char *log_key_id(const char *key, size_t keylen, char out[LOG_KEY_ID_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[SHA256_SIZE];
    sha256(key, keylen, d);
    for (int i = 0; i < LOG_KEY_ID_LEN / 2; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[LOG_KEY_ID_LEN] = '\0';
    return out;
}
