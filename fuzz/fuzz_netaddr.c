/* fuzz_netaddr.c - address and CIDR parsing (listen addresses, trusted_proxies, the entries of
 * X-Forwarded-For): input is "ADDR\0CIDR"; whatever parses must format, match and compare
 * without reading out of bounds, and a formatted address must parse back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t alen = nul ? (size_t)(nul - s) : size;
    net_addr_t a;
    int ok_a = net_addr_parse(s, alen, &a) == 0;
    if (ok_a) {
        char txt[NET_ADDR_STRLEN];
        net_addr_format(&a, txt, sizeof txt);
        net_addr_t b;
        if (net_addr_parse(txt, strlen(txt), &b) != 0)
            abort(); /* what we print, we must read back */
        char again[NET_ADDR_STRLEN];
        net_addr_format(&b, again, sizeof again);
        if (strcmp(txt, again) != 0)
            abort();
        (void)net_addr_is_loopback(&a);
    }
    if (nul) {
        size_t clen = size - alen - 1;
        char *cidr = malloc(clen + 1);
        memcpy(cidr, nul + 1, clen);
        cidr[clen] = '\0';
        net_cidr_t c;
        if (net_cidr_parse(cidr, &c) == 0 && ok_a)
            (void)net_cidr_match(&c, &a);
        free(cidr);
    }
    return 0;
}
