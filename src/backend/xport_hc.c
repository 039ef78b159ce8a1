/* xport_hc.c - the transport over seekd's own HTTP/1.1 client (http/client.c), for plain-http
 * upstreams. The client's transfer is the transport's, with the caller's handle as its user
 * data: nothing is allocated here per transfer. */
#include <stdlib.h>

#include "backend/xport.h"
#include "base/mem.h"
#include "http/client.h"

typedef struct {
    xport_t t; /* first */
    http_origin_t *origin;
    const char *base_path; /* the URL's path after the origin ("/v1"), owned by the client */
} xport_hc_t;

static void on_head(void *ud, http_xfer_t *hx, int status)
{
    xport_xfer_t *x = ud;
    x->cbs->on_head(x->ud, status, slice_of(http_xfer_header(hx, "Content-Type")),
                    slice_of(http_xfer_header(hx, "Retry-After")));
}

static int on_body(void *ud, const char *data, size_t len)
{
    xport_xfer_t *x = ud;
    int rc = x->cbs->on_body(x->ud, data, len);
    return rc == XP_TAKE ? HC_TAKE : rc == XP_PAUSE ? HC_PAUSE : HC_STOP;
}

static void on_done(void *ud, hc_result_t res, const char *detail)
{
    xport_xfer_t *x = ud;
    x->impl = NULL; /* the client frees its transfer when this returns */
    xr_t r = res == HC_OK                             ? XR_OK
             : res == HC_CONNECT || res == HC_RESOLVE ? XR_CONNECT
             : res == HC_TIMEOUT                      ? XR_TIMEOUT
             : res == HC_PARTIAL                      ? XR_PARTIAL
                                                      : XR_FAILED;
    x->cbs->on_done(x->ud, r, detail);
}

static const http_xfer_cbs_t hc_cbs = {on_head, on_body, on_done};

static void hc_start(xport_t *t, xport_xfer_t *x, const xport_req_t *rq)
{
    xport_hc_t *h = (xport_hc_t *)t;
    http_xreq_t hr = {
        .method = rq->body.ptr ? "POST" : "GET",
        .prefix = slice_of(h->base_path),
        .path = rq->path,
        .headers = rq->headers,
        .body = rq->body.ptr ? rq->body : (slice_t){"", 0},
        .timeout_ms = rq->timeout_ms,
    };
    x->impl = http_xfer_start(h->origin, &hr, &hc_cbs, x);
}

static void hc_resume(xport_t *t, xport_xfer_t *x)
{
    (void)t;
    http_xfer_resume(x->impl);
}

static void hc_cancel(xport_t *t, xport_xfer_t *x)
{
    (void)t;
    http_xfer_cancel(x->impl);
}

static void hc_close(xport_t *t)
{
    free(t);
}

static const xport_ops_t hc_ops = {hc_start, hc_resume, hc_cancel, hc_close, "builtin"};

xport_t *xport_hc_open(struct http_client *c, const char *url)
{
    const char *path;
    http_origin_t *o = http_client_origin(c, url, &path);
    if (!o)
        return NULL;
    xport_hc_t *h = xcalloc(1, sizeof *h);
    h->t.ops = &hc_ops;
    h->origin = o;
    h->base_path = path;
    return &h->t;
}
