/* client.h - a small HTTP/1.1 client on the libevent loop, for plain-http upstreams (vLLM,
 * SGLang, llama.cpp, a local gateway): keep-alive connections pooled per origin, a request
 * written from the call that starts it, the answer streamed to callbacks with pause and
 * resume. TLS and proxies stay libcurl's job (backend/upstream.c picks). */
#ifndef SEEKD_HTTP_CLIENT_H
#define SEEKD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"

struct event_base;
typedef struct http_client http_client_t;
typedef struct http_origin http_origin_t;
typedef struct http_xfer http_xfer_t;

typedef enum {
    HC_OK,       /* the whole answer arrived */
    HC_RESOLVE,  /* the host name did not resolve */
    HC_CONNECT,  /* no address accepted a connection */
    HC_TIMEOUT,  /* connect timeout, or the transfer's own */
    HC_SEND,     /* the connection failed while the request was written */
    HC_RECV,     /* it failed (reset, closed) before the answer's head was complete */
    HC_PARTIAL,  /* it closed in the middle of the answer's body */
    HC_PROTOCOL, /* the answer is not HTTP/1.x as it should be */
    HC_STOPPED,  /* on_body asked to stop */
} hc_result_t;

enum { HC_TAKE, HC_PAUSE, HC_STOP }; /* on_body's answers */

typedef struct {
    /** The answer's head (1xx heads are skipped). http_xfer_header() works in here only. */
    void (*on_head)(void *ud, http_xfer_t *x, int status);
    /** A piece of the body, decoded from chunked coding. HC_TAKE: all of it was used;
     * HC_PAUSE: none of it was, offer it again after http_xfer_resume(); HC_STOP: end the
     * transfer with HC_STOPPED. */
    int (*on_body)(void *ud, const char *data, size_t len);
    /** The end, good or bad; the transfer is freed when this returns. `detail` says more
     * about a failure ("connection refused"). */
    void (*on_done)(void *ud, hc_result_t res, const char *detail);
} http_xfer_cbs_t;

typedef struct {
    const char *method;
    slice_t prefix;  /* the start of the path (an upstream's /v1), may be empty */
    slice_t path;    /* the rest of it (and a query) */
    slice_t headers; /* more header lines, each ending in CRLF (Host, Content-Length and
                        Connection are the client's) */
    slice_t body;    /* must stay valid until on_done or http_xfer_cancel() */
    long timeout_ms; /* the whole transfer, from start; 0: none */
} http_xreq_t;

/** idle_age_ms: a pooled connection idle longer than this is closed rather than reused (a NAT
 * or a firewall may have dropped it without a word); 0: 60 s. */
http_client_t *http_client_new(struct event_base *base, long connect_timeout_ms, long idle_age_ms);
/** Closes every connection. Transfers must be over or cancelled first. */
void http_client_free(http_client_t *c);

/** The origin of an http:// URL (host and port; IPv6 literals in brackets), shared by every
 * URL with the same one, and the URL's path after it (may be empty) in *path. NULL when the
 * URL is not plain http or is malformed. */
http_origin_t *http_client_origin(http_client_t *c, const char *url, const char **path);

/** Starts a transfer: on an idle pooled connection when there is one (the request is written
 * before this returns), else on a new one. Callbacks never run inside this call. */
http_xfer_t *http_xfer_start(http_origin_t *o, const http_xreq_t *rq, const http_xfer_cbs_t *cbs,
                             void *ud);
/** A header of the answer (case-insensitive name), or NULL; inside on_head only. */
const char *http_xfer_header(const http_xfer_t *x, const char *name);
/** Offers the held body piece again, from the event loop (not inside this call). */
void http_xfer_resume(http_xfer_t *x);
/** Ends a transfer without callbacks; its connection is closed unless the answer was
 * complete. Allowed inside the transfer's own callbacks, except on_done. */
void http_xfer_cancel(http_xfer_t *x);

const char *http_client_strerror(hc_result_t r);

#endif
