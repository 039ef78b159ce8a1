/* netaddr.c - IP address and CIDR values on top of inet_pton/inet_ntop. */
#include "base/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* A 16-byte IPv6 address, unmapped to IPv4 when it is ::ffff:a.b.c.d. */
static void from_v6(const uint8_t b[16], net_addr_t *out)
{
    memset(out, 0, sizeof *out);
    if (memcmp(b, V4_MAPPED, sizeof V4_MAPPED) == 0) {
        out->family = 4;
        memcpy(out->a, b + 12, 4);
    } else {
        out->family = 6;
        memcpy(out->a, b, 16);
    }
}

int net_addr_parse(const char *s, size_t len, net_addr_t *out)
{
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
        if (!memchr(s, ':', len))
            return -1; /* brackets hold IPv6 only */
    }
    char tmp[NET_ADDR_STRLEN];
    if (len == 0 || len >= sizeof tmp || memchr(s, '\0', len))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    uint8_t b[16];
    if (inet_pton(AF_INET, tmp, b) == 1) {
        memset(out, 0, sizeof *out);
        out->family = 4;
        memcpy(out->a, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, b) == 1) {
        from_v6(b, out);
        return 0;
    }
    return -1;
}

int net_addr_from_sockaddr(const void *sa, net_addr_t *out)
{
    const struct sockaddr *g = sa;
    if (g->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = sa;
        memset(out, 0, sizeof *out);
        out->family = 4;
        memcpy(out->a, &v4->sin_addr, 4);
        return 0;
    }
    if (g->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = sa;
        from_v6(v6->sin6_addr.s6_addr, out);
        return 0;
    }
    return -1;
}

bool net_addr_is_loopback(const net_addr_t *a)
{
    static const uint8_t V6_LOOPBACK[16] = {[15] = 1};
    if (a->family == 4)
        return a->a[0] == 127;
    return memcmp(a->a, V6_LOOPBACK, 16) == 0;
}

void net_addr_format(const net_addr_t *a, char *out, size_t outlen)
{
    if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}

int net_cidr_parse(const char *s, net_cidr_t *out)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (net_addr_parse(s, alen, &out->addr))
        return -1;
    int max = out->addr.family == 4 ? 32 : 128;
    out->bits = max;
    if (slash) {
        char *end;
        errno = 0;
        long bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || errno || bits < 0 || bits > max)
            return -1;
        out->bits = (int)bits;
    }
    return 0;
}

bool net_cidr_match(const net_cidr_t *c, const net_addr_t *a)
{
    if (c->addr.family != a->family)
        return false;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr.a, a->a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr.a[full] & mask) == (a->a[full] & mask);
}
