/* redis_url.h - where Redis is, as the settings write it:
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]. Parsing only (no connection), so the settings can be
 * checked without hiredis. */
#ifndef SEEKD_GATEWAY_REDIS_URL_H
#define SEEKD_GATEWAY_REDIS_URL_H

#include <stddef.h>

#define GW_REDIS_DEFAULT_PORT 6379
#define GW_REDIS_MAX_DB 65535

typedef struct {
    char host[256];     /* a name or an address; an IPv6 address without its brackets */
    int port;           /* 6379 when the URL gives none */
    int db;             /* SELECTed after connecting when not 0 */
    char user[128];     /* empty: the default user (AUTH PASSWORD) */
    char password[256]; /* empty: no AUTH */
} gw_redis_url_t;

/** Parses url into *u. Returns 0, or -1 with a message in err that never contains the
 * password (nor the rest of the URL, which might hold one). */
int gw_redis_url_parse(const char *url, gw_redis_url_t *u, char *err, size_t errlen);

/** Writes "HOST:PORT" or "[V6]:PORT", then "/DB" when db is not 0: Redis named for a log line,
 * without user or password. Returns out. */
char *gw_redis_url_where(const gw_redis_url_t *u, char *out, size_t outlen);

/** Overwrites the password (and the user) with zeros. */
void gw_redis_url_wipe(gw_redis_url_t *u);

#endif
