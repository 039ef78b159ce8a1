/* access.h - who may reach the API: the Host a request must name, the browser origins that
 * may read answers (CORS, preflights included), and the client's address behind trusted
 * reverse proxies. */
#ifndef SEEKD_API_ACCESS_H
#define SEEKD_API_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/error.h"
#include "base/netaddr.h"
#include "http/http.h"

typedef struct {
    /* The server spends its own keys for any bearer: a browser page could spend them, so
     * cross-origin requests need an allowed origin and the Host must name this server.
     * Otherwise every request carries a key of its own and any origin may call. */
    bool strict;
    const char *const *cors_origins; /* "scheme://host[:port]" or "*" (strict mode only) */
    int ncors_origins;
    const char *const *allowed_hosts; /* "host", "host:port" or "*" (strict mode only) */
    int nallowed_hosts;
    const char *const *trusted_proxies; /* IPs or CIDRs whose X-Forwarded-For is believed */
    int ntrusted_proxies;
} api_access_opts_t;

typedef struct api_access api_access_t;

/** Copies what it needs of o; trusted_proxies must all parse (config checks that), an entry
 * that does not is ignored. */
api_access_t *api_access_new(const api_access_opts_t *o);
void api_access_free(api_access_t *a);
/** The address and port this server listens on, which a Host header may name; call once the
 * port is bound. */
void api_access_set_listen(api_access_t *a, const char *host, int port);

/** Decides whether r may go on. On refusal fills err (403, code host_not_allowed or
 * origin_not_allowed) and returns -1; otherwise adds the CORS headers r's answer carries and
 * returns 0. */
int api_access_check(const api_access_t *a, http_req_t *r, api_error_t *err);
/** Answers an OPTIONS request that api_access_check let through: 204 with the methods, the
 * headers the client asked for (Access-Control-Request-Headers, when well-formed) and, when
 * asked, Private Network Access. */
void api_access_preflight(const api_access_t *a, http_req_t *r);

/** The client's address: the TCP peer, or when the peer is a trusted proxy, the rightmost
 * X-Forwarded-For entry that is not itself a trusted proxy. For logs and per-IP limits.
 * Returns 0, or -1 when the peer is unknown. */
int api_client_addr(const api_access_t *a, const http_req_t *r, net_addr_t *out);
/** api_client_addr as text for a log line ("-" when unknown); out has NET_ADDR_STRLEN bytes. */
void api_client_addr_str(const api_access_t *a, const http_req_t *r, char *out, size_t outlen);

#endif
