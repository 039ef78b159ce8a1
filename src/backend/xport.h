/* xport.h - how one upstream URL is reached: a transport that runs one HTTP transfer at a time
 * per handle and streams its answer to three callbacks. Two adapters implement it: over
 * http/client.c (plain http, pooled connections) and over libcurl's multi handle (https and
 * proxies). Attempts use only this interface and never ask which transport they run on. */
#ifndef SEEKD_BACKEND_XPORT_H
#define SEEKD_BACKEND_XPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"

struct event_base;
struct http_client;

/** What ended a transfer. */
typedef enum {
    XR_OK,      /* the whole answer arrived */
    XR_CONNECT, /* no connection (name not resolved, refused, unreachable) */
    XR_TIMEOUT, /* the connect timeout or the transfer's own */
    XR_PARTIAL, /* the connection ended in the middle of the answer's body */
    XR_FAILED,  /* anything else: reset before the head, a malformed answer, ... */
} xr_t;

enum { XP_TAKE, XP_PAUSE, XP_STOP }; /* on_body's answers */

typedef struct {
    /** The final answer head (1xx heads are skipped): status and the two headers the relay
     * reads (empty slices when absent). The slices are valid during the call only. */
    void (*on_head)(void *ud, int status, slice_t content_type, slice_t retry_after);
    /** A piece of the body (transfer coding removed). XP_TAKE: all of it was used; XP_PAUSE:
     * none was, offer it again after xport_resume(); XP_STOP: end the transfer. */
    int (*on_body)(void *ud, const char *data, size_t len);
    /** The end, good or bad; the transfer handle is gone when this returns. `why` says what
     * went wrong in words ("connection refused"). */
    void (*on_done)(void *ud, xr_t res, const char *why);
} xport_cbs_t;

typedef struct {
    slice_t path;    /* after the upstream's URL: "/chat/completions" */
    slice_t headers; /* header lines, each ending in CRLF (Host and Content-Length are the
                        transport's) */
    slice_t body;    /* ptr NULL: a GET; else POSTed; valid until on_done or cancel */
    long timeout_ms; /* the whole transfer; 0: none */
} xport_req_t;

typedef struct xport xport_t;

/** One transfer, owned by the caller (embedded in its own struct) and filled in by
 * xport_start(). `impl` is the adapter's transfer, NULL when none runs. */
typedef struct {
    const xport_cbs_t *cbs;
    void *ud;
    void *impl;
} xport_xfer_t;

typedef struct {
    void (*start)(xport_t *t, xport_xfer_t *x, const xport_req_t *rq);
    void (*resume)(xport_t *t, xport_xfer_t *x);
    void (*cancel)(xport_t *t, xport_xfer_t *x);
    void (*close)(xport_t *t);
    const char *name; /* "builtin" or "libcurl", for logs and /health */
} xport_ops_t;

/** A transport bound to one upstream URL. Adapters embed this first in their own struct. */
struct xport {
    const xport_ops_t *ops;
};

/** Starts a transfer into x, whose callbacks get ud. No callback runs inside this call. */
static inline void xport_start(xport_t *t, xport_xfer_t *x, const xport_req_t *rq,
                               const xport_cbs_t *cbs, void *ud)
{
    x->cbs = cbs;
    x->ud = ud;
    x->impl = NULL;
    t->ops->start(t, x, rq);
}
/** Offers a paused body piece again. Callbacks (even on_done) may run before it returns. */
static inline void xport_resume(xport_t *t, xport_xfer_t *x)
{
    if (x->impl)
        t->ops->resume(t, x);
}
/** Ends a running transfer; no callback follows. Allowed inside on_head and on_body. */
static inline void xport_cancel(xport_t *t, xport_xfer_t *x)
{
    if (x->impl)
        t->ops->cancel(t, x);
    x->impl = NULL;
}
static inline void xport_close(xport_t *t)
{
    if (t)
        t->ops->close(t);
}
static inline const char *xport_name(const xport_t *t)
{
    return t->ops->name;
}

/** The plain-http adapter for url over client c; NULL when url is not plain http. */
xport_t *xport_hc_open(struct http_client *c, const char *url);

/** libcurl's multi handle on the loop, shared by every upstream reached through libcurl. */
typedef struct xport_curl_env xport_curl_env_t;
/** NULL when libcurl cannot start. conn_idle_ms: cached connections idle longer are not
 * reused. */
xport_curl_env_t *xport_curl_env_new(struct event_base *base, long connect_timeout_ms,
                                     long conn_idle_ms);
/** Every transfer must be over or cancelled, and every xport of the env closed, first. */
void xport_curl_env_free(xport_curl_env_t *env);
/** The libcurl adapter for url (any scheme libcurl takes). */
xport_t *xport_curl_open(xport_curl_env_t *env, const char *url);

#endif
