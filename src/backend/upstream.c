/* upstream.c - the relay backend as an object: its upstreams and key pool, the transport that
 * reaches each upstream, the request headers of each server key, and the 100 ms tick that
 * brings keys back, expires waiting requests and starts probes. A request's life is in
 * relay.c, one transfer in attempt.c, probes and plain GETs in probe.c. */
#include "backend/upstream.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "backend/upstream_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/client.h"

char *upstream_headers(const char *key, const char *accept, bool json_body, size_t *len)
{
    /* by hand, not printf: bring-your-own-key requests build this every time */
    static const char auth[] = "Authorization: Bearer ", crlf[] = "\r\n",
                      ctype[] = "Content-Type: application/json\r\n",
                      acc[] = "Accept: ", ua[] = "\r\nUser-Agent: seekd/" SEEKD_VERSION "\r\n";
    const char *parts[] = {auth, key ? key : "", crlf, json_body ? ctype : "", acc, accept, ua};
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        n += strlen(parts[i]);
    char *p = xmalloc(n + 1), *w = p;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        size_t l = strlen(parts[i]);
        memcpy(w, parts[i], l);
        w += l;
    }
    *w = '\0';
    *len = n;
    return p;
}

slice_t upstream_key_headers(upstream_t *up, int ui, int ki, bool stream)
{
    slice_t *slot = &up->key_hdrs[ui][ki * 2 + stream];
    if (!slot->ptr) {
        size_t len;
        char *h = upstream_headers(up->pool.ups[ui].keys[ki].key,
                                   stream ? "text/event-stream" : "application/json", true, &len);
        *slot = (slice_t){h, len};
    }
    return *slot;
}

/* Every 100 ms: cooled-down keys return, waiting requests past their deadline fail, and
 * disabled or ejected keys are probed every probe_interval_ms. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upstream_t *up = arg;
    int64_t now = mono_ms();
    if (pool_tick(&up->pool, now))
        relay_dispatch(up);
    relay_expire(up, now);
    if (now >= up->next_probe_ms && !up->retired) {
        up->next_probe_ms = now + up->o.probe_interval_ms;
        for (int u = 0; u < up->pool.nups; u++)
            for (int k = 0; k < up->pool.ups[u].nkeys; k++)
                if (pool_needs_probe(&up->pool, u, k, now))
                    probe_start(up, u, k);
    }
}

/* Plain http goes through our own client unless a proxy is configured (libcurl honours the
 * proxy variables) or SEEKD_UPSTREAM_CLIENT=curl asks for libcurl everywhere. */
static bool builtin_allowed(void)
{
    const char *force = getenv("SEEKD_UPSTREAM_CLIENT");
    if (force && strcmp(force, "curl") == 0)
        return false;
    static const char *const proxy_vars[] = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxy_vars / sizeof *proxy_vars; i++) {
        const char *v = getenv(proxy_vars[i]);
        if (v && *v)
            return false;
    }
    return true;
}

upstream_t *upstream_new(struct event_base *base, const upstream_opts_t *opts)
{
    upstream_t *up = xcalloc(1, sizeof *up);
    up->be.name = "upstream";
    up->be.start = relay_start;
    up->be.cancel = relay_cancel;
    up->be.resume = relay_resume;
    up->base = base;
    up->o = *opts;
    up->o.ups = NULL;
    if (up->o.max_attempts < 1)
        up->o.max_attempts = 1;
    if (up->o.max_attempts > 16) /* what a request remembers having tried (relay.c) */
        up->o.max_attempts = 16;
    up->lim = (att_limits_t){
        .first_token_timeout_ms = opts->first_token_timeout_ms,
        .idle_timeout_ms = opts->idle_timeout_ms,
        .total_timeout_ms = opts->total_timeout_ms,
        .max_event = opts->max_event,
        .max_answer = opts->max_answer,
    };
    pool_init(&up->pool, opts->ups, opts->nups, &opts->policy);
    up->key_hdrs = xcalloc((size_t)up->pool.nups, sizeof *up->key_hdrs);
    for (int i = 0; i < up->pool.nups; i++)
        up->key_hdrs[i] = xcalloc((size_t)up->pool.ups[i].nkeys * 2 + 1, sizeof **up->key_hdrs);
    up->curl = xport_curl_env_new(base, opts->connect_timeout_ms, opts->conn_idle_ms);
    if (!up->curl) {
        upstream_free(up);
        return NULL;
    }
    up->hc = http_client_new(base, opts->connect_timeout_ms, opts->conn_idle_ms);
    bool builtin = builtin_allowed();
    up->via = xcalloc((size_t)up->pool.nups, sizeof *up->via);
    for (int i = 0; i < up->pool.nups; i++) {
        const char *url = up->pool.ups[i].url;
        up->via[i] = builtin ? xport_hc_open(up->hc, url) : NULL;
        if (!up->via[i])
            up->via[i] = xport_curl_open(up->curl, url);
        log_info("upstream %s: %s through %s", up->pool.ups[i].name, url,
                 strcmp(xport_name(up->via[i]), "builtin") == 0 ? "seekd's HTTP client"
                                                                : "libcurl");
    }
    catalog_init(up);
    up->tick = event_new(base, -1, EV_PERSIST, on_tick, up);
    struct timeval tv = {0, 100000};
    event_add(up->tick, &tv);
    up->next_probe_ms = mono_ms() + up->o.probe_interval_ms;
    return up;
}

void upstream_free(upstream_t *up)
{
    if (!up)
        return;
    relay_drop_queue(up);
    probe_stop_all(up);
    if (up->cat)
        catalog_free(up);
    if (up->tick)
        event_free(up->tick);
    for (int i = 0; up->key_hdrs && i < up->pool.nups; i++) {
        for (int k = 0; k < up->pool.ups[i].nkeys * 2; k++)
            free((char *)up->key_hdrs[i][k].ptr);
        free(up->key_hdrs[i]);
    }
    free(up->key_hdrs);
    for (int i = 0; up->via && i < up->pool.nups; i++)
        xport_close(up->via[i]);
    free(up->via);
    http_client_free(up->hc);
    xport_curl_env_free(up->curl);
    pool_free(&up->pool);
    explicit_bzero(up->key_ids, sizeof up->key_ids); /* clients' keys */
    free(up);
}

static void on_retired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upstream_t *up = arg;
    up->on_idle(up->on_idle_ud, up);
}

void upstream_idle_check(upstream_t *up)
{
    if (!up->retired || up->free_scheduled || up->calls || up->gets || up->probes)
        return;
    /* not from here: the caller is still inside this relay's own code */
    up->free_scheduled = true;
    struct timeval now = {0, 0};
    event_base_once(up->base, -1, EV_TIMEOUT, on_retired, up, &now);
}

void upstream_retire(upstream_t *up, void (*on_idle)(void *ud, upstream_t *up), void *ud)
{
    up->retired = true;
    up->on_idle = on_idle;
    up->on_idle_ud = ud;
    probe_stop_all(up);
    upstream_idle_check(up);
}

backend_t *upstream_backend(upstream_t *up)
{
    return &up->be;
}

const pool_t *upstream_pool(const upstream_t *up)
{
    return &up->pool;
}

const char *upstream_transport(const upstream_t *up, int i)
{
    return xport_name(up->via[i]);
}

int upstream_queued(const upstream_t *up)
{
    return up->queued;
}
