/* redis_url.c - redis:// URLs: strict, so a typo stops the start instead of limiting nothing. */
#include "gateway/redis_url.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define USAGE "redis must be redis://[:PASSWORD@]HOST[:PORT][/DB]"

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, USAGE ": %s", why);
    return -1;
}

/* A whole decimal number in [lo, hi] spelled by s[0..n). */
static bool number(const char *s, size_t n, long lo, long hi, int *out)
{
    if (n == 0 || n > 6)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* A host name (letters, digits, '-', '.', '_') or an IPv4 address. */
static bool host_name(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
            return false;
    return true;
}

/* The inside of [...]: hex digits, ':' and '.', as an IPv6 address is written. */
static bool host_v6(const char *s, size_t n)
{
    if (n < 2 || n > 45)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
            return false;
    return true;
}

int gw_redis_url_parse(const char *url, gw_redis_url_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = GW_REDIS_DEFAULT_PORT;
    if (!strncmp(url, "rediss://", 9))
        return fail(err, errlen, "TLS (rediss://) is not supported");
    if (strncmp(url, "redis://", 8))
        return fail(err, errlen, "it does not start with redis://");
    const char *p = url + 8;
    for (const char *q = p; *q; q++)
        if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
            return fail(err, errlen, "it has a space, a control or a non-ASCII character");
    /* USER:PASSWORD@ ends at the last '@': a password may hold any other character */
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return fail(err, errlen, "the part before '@' must be :PASSWORD or USER:PASSWORD");
        size_t ulen = (size_t)(colon - p), plen = (size_t)(at - colon - 1);
        if (plen == 0)
            return fail(err, errlen, "the password is empty");
        if (ulen >= sizeof u->user || plen >= sizeof u->password)
            return fail(err, errlen, "the user or the password is too long");
        memcpy(u->user, p, ulen);
        memcpy(u->password, colon + 1, plen);
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    if (strchr(p, '?') || strchr(p, '#')) {
        gw_redis_url_wipe(u);
        return fail(err, errlen, "options after '?' are not supported");
    }
    const char *h = p, *hend, *port = NULL;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close || !host_v6(h + 1, (size_t)(close - h - 1))) {
            gw_redis_url_wipe(u);
            return fail(err, errlen, "the IPv6 address in [] is not valid");
        }
        h++;
        hend = close;
        if (close + 1 < end) {
            if (close[1] != ':') {
                gw_redis_url_wipe(u);
                return fail(err, errlen, "':PORT' must follow the ']'");
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        hend = colon ? colon : end;
        if (colon)
            port = colon + 1;
        if (!host_name(h, (size_t)(hend - h))) {
            gw_redis_url_wipe(u);
            return fail(err, errlen, "the host is missing or not a host name or an address");
        }
    }
    if (port && !number(port, (size_t)(end - port), 1, 65535, &u->port)) {
        gw_redis_url_wipe(u);
        return fail(err, errlen, "the port must be a number from 1 to 65535");
    }
    if (slash && slash[1] && !number(slash + 1, strlen(slash + 1), 0, GW_REDIS_MAX_DB, &u->db)) {
        gw_redis_url_wipe(u);
        return fail(err, errlen, "the database after '/' must be a number from 0 to 65535");
    }
    memcpy(u->host, h, (size_t)(hend - h));
    u->host[hend - h] = '\0';
    return 0;
}

char *gw_redis_url_where(const gw_redis_url_t *u, char *out, size_t outlen)
{
    bool v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(out, outlen, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    if (u->db && n >= 0 && (size_t)n < outlen)
        snprintf(out + n, outlen - (size_t)n, "/%d", u->db);
    return out;
}

void gw_redis_url_wipe(gw_redis_url_t *u)
{
    volatile char *p = u->password;
    for (size_t i = 0; i < sizeof u->password; i++)
        p[i] = 0;
    p = u->user;
    for (size_t i = 0; i < sizeof u->user; i++)
        p[i] = 0;
}
