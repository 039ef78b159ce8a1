/* access.c - the Host check, the CORS policy and the client address behind proxies.
 *
 * Why: with server keys and no client keys any bearer is accepted, so a web page the user
 * visits could spend the server's key through the user's browser (cross-origin fetch, or DNS
 * rebinding, where the page's own origin points at 127.0.0.1). Browsers always send Origin on
 * such requests and Host names the name they resolved; refusing foreign ones closes both. */
#include "api/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

#define MAX_PROXIES 64
#define MAX_XFF_LINES 16

struct api_access {
    bool strict;
    char **origins;
    int norigins;
    char **hosts;
    int nhosts;
    net_cidr_t proxies[MAX_PROXIES];
    int nproxies;
    char listen_host[256]; /* bare, IPv6 without brackets */
    int port;
};

static char **dup_list(const char *const *l, int n)
{
    char **out = xcalloc((size_t)(n > 0 ? n : 1), sizeof *out);
    for (int i = 0; i < n; i++)
        out[i] = xstrdup(l[i]);
    return out;
}

api_access_t *api_access_new(const api_access_opts_t *o)
{
    api_access_t *a = xcalloc(1, sizeof *a);
    a->strict = o->strict;
    a->origins = dup_list(o->cors_origins, o->ncors_origins);
    a->norigins = o->ncors_origins;
    a->hosts = dup_list(o->allowed_hosts, o->nallowed_hosts);
    a->nhosts = o->nallowed_hosts;
    for (int i = 0; i < o->ntrusted_proxies && a->nproxies < MAX_PROXIES; i++)
        if (net_cidr_parse(o->trusted_proxies[i], &a->proxies[a->nproxies]) == 0)
            a->nproxies++;
    snprintf(a->listen_host, sizeof a->listen_host, "127.0.0.1");
    a->port = 80;
    return a;
}

void api_access_free(api_access_t *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->norigins; i++)
        free(a->origins[i]);
    for (int i = 0; i < a->nhosts; i++)
        free(a->hosts[i]);
    free(a->origins);
    free(a->hosts);
    free(a);
}

void api_access_set_listen(api_access_t *a, const char *host, int port)
{
    snprintf(a->listen_host, sizeof a->listen_host, "%s", host);
    a->port = port;
}

/* ---- Host ---- */

/* Splits "name", "name:port", "[v6]" or "[v6]:port" into the name (brackets and one trailing
 * dot dropped) and the port (-1 when absent). Returns 0, or -1 when malformed. */
static int split_host(const char *h, slice_t *name, int *port)
{
    const char *end = h + strlen(h);
    const char *colon;
    if (*h == '[') {
        const char *rb = strchr(h, ']');
        if (!rb)
            return -1;
        *name = (slice_t){h + 1, (size_t)(rb - h - 1)};
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1])
            return -1;
    } else {
        colon = strchr(h, ':');
        if (colon && strchr(colon + 1, ':'))
            return -1; /* a bare IPv6 address is not a Host */
        *name = (slice_t){h, (size_t)((colon ? colon : end) - h)};
    }
    if (name->len && name->ptr[name->len - 1] == '.')
        name->len--;
    if (name->len == 0)
        return -1;
    *port = -1;
    if (colon) {
        if (!colon[1] || end - colon > 6)
            return -1;
        int p = 0;
        for (const char *d = colon + 1; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            p = p * 10 + (*d - '0');
        }
        *port = p;
    }
    return 0;
}

static bool name_is(slice_t name, const char *want)
{
    return name.len == strlen(want) && strncasecmp(name.ptr, want, name.len) == 0;
}

static bool host_allowed(const api_access_t *a, const char *host)
{
    slice_t name;
    int port;
    if (split_host(host, &name, &port))
        return false;
    for (int i = 0; i < a->nhosts; i++) {
        if (strcmp(a->hosts[i], "*") == 0)
            return true;
        slice_t en;
        int eport;
        if (split_host(a->hosts[i], &en, &eport) == 0 && en.len == name.len &&
            strncasecmp(en.ptr, name.ptr, name.len) == 0 && (eport < 0 || eport == port))
            return true;
    }
    /* our own names need our port (a Host without one means 80) */
    if ((port < 0 ? 80 : port) != a->port)
        return false;
    return name_is(name, "localhost") || name_is(name, "127.0.0.1") || name_is(name, "::1") ||
           name_is(name, a->listen_host);
}

/* ---- Origin ---- */

static bool origin_allowed(const api_access_t *a, const char *origin, const char *host)
{
    for (int i = 0; i < a->norigins; i++)
        if (strcmp(a->origins[i], "*") == 0 || strcasecmp(a->origins[i], origin) == 0)
            return true;
    /* a page this server serves itself calls from its own origin */
    return host && strncasecmp(origin, "http://", 7) == 0 && strcasecmp(origin + 7, host) == 0;
}

static bool any_origin(const api_access_t *a)
{
    if (!a->strict)
        return true;
    for (int i = 0; i < a->norigins; i++)
        if (strcmp(a->origins[i], "*") == 0)
            return true;
    return false;
}

int api_access_check(const api_access_t *a, http_req_t *r, api_error_t *err)
{
    const char *host = http_req_header(r, "Host");
    const char *origin = http_req_header(r, "Origin");
    if (a->strict && host && !host_allowed(a, host)) {
        /* DNS rebinding: the browser thinks it talks to the attacker's own name */
        return api_error_set(err, 403, "invalid_request_error", "host_not_allowed", NULL,
                             "Host '%.100s' does not name this server; list it in allowed_hosts "
                             "to reach seekd under that name",
                             host);
    }
    if (any_origin(a)) {
        http_resp_header(r, "Access-Control-Allow-Origin", "*");
    } else if (origin) {
        if (!origin_allowed(a, origin, host))
            return api_error_set(err, 403, "invalid_request_error", "origin_not_allowed", NULL,
                                 "Origin '%.100s' may not call this server: it spends its own "
                                 "upstream keys; list the origin in cors_origins to allow it",
                                 origin);
        http_resp_header(r, "Access-Control-Allow-Origin", origin);
        http_resp_header(r, "Vary", "Origin");
    } else {
        return 0; /* not a browser's cross-origin call: no CORS headers to give */
    }
    http_resp_header(r, "Access-Control-Expose-Headers", "x-request-id");
    return 0;
}

/* Whether v is a comma-separated list of header names (RFC 9110 tokens), fit to echo back. */
static bool header_name_list(const char *v)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    size_t n = 0;
    for (const char *p = v; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == ',' || c == ' ' || c == '\t' || strchr(tchar, c)))
            return false;
    }
    return n > 0 && n <= 4096;
}

void api_access_preflight(const api_access_t *a, http_req_t *r)
{
    (void)a;
    http_resp_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    /* the SDKs send headers of their own (openai's x-stainless-*, the AI SDK's user-agent):
     * whatever names the client asks for are allowed, since the origin already is */
    const char *want = http_req_header(r, "Access-Control-Request-Headers");
    if (want && header_name_list(want))
        http_resp_header(r, "Access-Control-Allow-Headers", want);
    const char *pna = http_req_header(r, "Access-Control-Request-Private-Network");
    if (pna && strcasecmp(pna, "true") == 0)
        http_resp_header(r, "Access-Control-Allow-Private-Network", "true");
    http_resp_header(r, "Access-Control-Max-Age", "86400");
    http_resp_send(r, 204, NULL, NULL, 0);
}

/* ---- client address ---- */

static bool trusted(const api_access_t *a, const net_addr_t *ad)
{
    for (int i = 0; i < a->nproxies; i++)
        if (net_cidr_match(&a->proxies[i], ad))
            return true;
    return false;
}

/* One X-Forwarded-For entry: "addr", "[v6]", "[v6]:port" or "v4:port". */
static int parse_xff_entry(const char *p, size_t len, net_addr_t *out)
{
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (net_addr_parse(p, len, out) == 0)
        return 0;
    const char *rb = len && *p == '[' ? memchr(p, ']', len) : NULL;
    if (rb)
        return net_addr_parse(p, (size_t)(rb - p + 1), out);
    const char *colon = memchr(p, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - p) - 1))
        return net_addr_parse(p, (size_t)(colon - p), out);
    return -1;
}

int api_client_addr(const api_access_t *a, const http_req_t *r, net_addr_t *out)
{
    if (http_req_peer(r, out))
        return -1;
    if (a->nproxies == 0 || !trusted(a, out))
        return 0;
    /* walk the hops from the nearest back, while each one is a proxy we trust: the first
     * that is not is the client; what it claims about hops before it is not believed */
    const char *lines[MAX_XFF_LINES];
    int n = http_req_header_all(r, "X-Forwarded-For", lines, MAX_XFF_LINES);
    for (int i = n - 1; i >= 0; i--) {
        const char *s = lines[i];
        size_t end = strlen(s);
        for (;;) {
            size_t start = end;
            while (start > 0 && s[start - 1] != ',')
                start--;
            net_addr_t hop;
            if (parse_xff_entry(s + start, end - start, &hop))
                return 0; /* garbage: the last hop we could read stands */
            *out = hop;
            if (!trusted(a, out))
                return 0;
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    return 0;
}

void api_client_addr_str(const api_access_t *a, const http_req_t *r, char *out, size_t outlen)
{
    net_addr_t ad;
    if (api_client_addr(a, r, &ad))
        snprintf(out, outlen, "-");
    else
        net_addr_format(&ad, out, outlen);
}
