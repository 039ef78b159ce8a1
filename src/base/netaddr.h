/* netaddr.h - IP addresses and CIDR ranges as values: parse, compare, format. No I/O. */
#ifndef SEEKD_BASE_NETADDR_H
#define SEEKD_BASE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is always held as the
 * IPv4 address it maps, so one rule covers both spellings. */
typedef struct {
    int family;    /* 4 or 6 */
    uint8_t a[16]; /* network order; 4 bytes used for IPv4 */
} net_addr_t;

/** An address range: `bits` leading bits of `addr` (IPv4 ranges match mapped IPv6 too). */
typedef struct {
    net_addr_t addr;
    int bits;
} net_cidr_t;

#define NET_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN: the longest net_addr_format output, with NUL */

/** Parses an address literal of len bytes: "192.0.2.1", "2001:db8::1", "::ffff:127.0.0.1", or
 * a bracketed IPv6 "[::1]". Returns 0, or -1 when it is not exactly one address. */
int net_addr_parse(const char *s, size_t len, net_addr_t *out);
/** Takes the address of a struct sockaddr (AF_INET or AF_INET6). Returns 0 or -1. */
int net_addr_from_sockaddr(const void *sa, net_addr_t *out);
/** 127.0.0.0/8 or ::1 (mapped IPv4 included, by construction). */
bool net_addr_is_loopback(const net_addr_t *a);
/** Writes the address as text (IPv6 unbracketed) into out (NET_ADDR_STRLEN bytes). */
void net_addr_format(const net_addr_t *a, char *out, size_t outlen);

/** Parses "ADDR" (one address) or "ADDR/BITS". Returns 0 or -1. */
int net_cidr_parse(const char *s, net_cidr_t *out);
/** Whether a lies inside c. */
bool net_cidr_match(const net_cidr_t *c, const net_addr_t *a);

#endif
