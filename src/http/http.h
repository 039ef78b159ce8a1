/* http.h - seekd's own small HTTP/1.1 server. Handlers see requests and responses through
 * this header only. */
#ifndef SEEKD_HTTP_HTTP_H
#define SEEKD_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/netaddr.h"
#include "base/slice.h"

struct event_base;
typedef struct http_server http_server_t;
typedef struct http_req http_req_t;

/** Writes the body of an answer the server gives on its own (a malformed request, a head too
 * large) to out, and returns its content type. */
typedef const char *(*http_error_body_fn)(int status, const char *message, buf_t *out);

/** Called on the loop thread when a request's head is in, for a request that has a body,
 * before any of the body is read (and before `100 Continue`). Return true to go on (the body is
 * read, then the handler runs); or answer the request with http_resp_send() and return false:
 * the body is then never read and the connection closes after that answer. */
typedef bool (*http_head_fn)(http_req_t *req, void *ud);

typedef struct {
    size_t max_body;      /* bodies above this are not read: see http_req_body_refused() */
    size_t max_output;    /* bytes queued for one slow client before it is dropped; also the
                           * largest body http_resp_send takes */
    long idle_timeout_ms; /* a client that neither sends nor takes bytes this long is dropped */
    http_error_body_fn error_body; /* NULL: the message as plain text */
    http_head_fn on_head;          /* NULL: every head is accepted; called with the handler's ud */
    long header_timeout_ms;     /* a request head (from its first byte) must be whole within this;
                                 * else the connection is dropped. 0: 10 s */
    size_t min_body_rate;       /* bytes per second a body must average over each window of
                                 * header_timeout_ms, else 408 and close. 0: no minimum */
    int max_connections;        /* open client connections; beyond it a new one gets 503 and is
                                 * closed. 0: half the open-files limit (at least 16) */
    int max_connections_per_ip; /* per client address; beyond it 429 and close. 0: no cap */
    bool per_ip_loopback;       /* the per-IP cap counts loopback clients too (else exempt) */
    size_t max_body_total;      /* request body bytes held across all connections; a body that would
                                 * go beyond gets 503 with Retry-After before it is read. 0: no cap */
} http_opts_t;

/** Called once per request, on the loop thread. The handler must eventually answer with
 * http_resp_send() or http_resp_start()...http_resp_end(), unless the abort callback ran. */
typedef void (*http_handler_fn)(http_req_t *req, void *ud);

http_server_t *http_server_new(struct event_base *base, const http_opts_t *opts,
                               http_handler_fn handler, void *ud);
/** Binds host:port (port 0: any free port). Returns 0 and the bound port, or -1. */
int http_server_listen(http_server_t *s, const char *host, int port, int *bound_port);
/** New limits and timeouts (a reload): new connections and requests get them at once, open
 * connections from their next timer or request on. The handler stays. */
void http_server_reconfigure(http_server_t *s, const http_opts_t *opts);
/** Stops taking connections and requests, for a graceful stop: the listening socket is closed,
 * connections between requests are closed now, and the others after the answer in flight
 * (with Connection: close). */
void http_server_drain(http_server_t *s);
void http_server_free(http_server_t *s);

#define HTTP_GONE (-1) /* the client went away or was dropped; the request is over */

const char *http_req_method(const http_req_t *r);
/** The path without the query string. */
slice_t http_req_path(const http_req_t *r);
/** A request header (case-insensitive name), or NULL. */
const char *http_req_header(const http_req_t *r, const char *name);
/** Every value of header `name` (case-insensitive), in the order sent, into values[0..max).
 * Returns how many, or -1 when there are more than max. */
int http_req_header_all(const http_req_t *r, const char *name, const char **values, int max);
/** The address of the TCP peer (which may be a proxy), as accept saw it. Returns 0, or -1 when
 * the connection is not IP. */
int http_req_peer(const http_req_t *r, net_addr_t *out);
/** The whole body, contiguous; valid until the response ends. */
slice_t http_req_body(http_req_t *r);
/** Moves the body's buffer into *out (the caller frees it with buf_free): the bytes then live
 * as long as the caller wants, past the request's end (a worker may still read them after the
 * client left). The request's body is empty afterwards; the bytes still count against
 * max_body_total until the request ends. */
void http_req_take_body(http_req_t *r, buf_t *out);
/** A body over max_body is not read: the handler sees an empty body, this returns its length
 * (declared, or reached while decoding chunks), and the connection closes after the answer.
 * 0 for every other request. */
size_t http_req_body_refused(const http_req_t *r);
/** The request id: the client's x-request-id when sane, else a fresh one. Also sent back. */
const char *http_req_id(const http_req_t *r);
/** Microseconds since the request arrived. */
long long http_req_elapsed_us(const http_req_t *r);

/** Called when the client disconnects (or is dropped) before the response ended. After it
 * returns the request is gone: make no further http_* call with it. */
void http_req_on_abort(http_req_t *r, void (*cb)(void *ud), void *ud);

/** Adds a response header; before http_resp_send/start only. Headers beyond 16 KiB in all
 * are refused, and the response then is not sent: the connection closes instead. */
void http_resp_header(http_req_t *r, const char *name, const char *value);
/** Sends a complete response and ends the request. A body over max_output is not sent: the
 * client gets a 500 of the server's own (opts.error_body) instead, without the headers added
 * for this response. A response that cannot be queued whole closes the connection; either way
 * the request is over (no abort callback). */
void http_resp_send(http_req_t *r, int status, const char *content_type, const void *body,
                    size_t len);
/** Starts a streamed (chunked) response. If its head cannot be queued, the connection is
 * dropped from the loop and the abort callback runs then; writes until that are discarded. */
void http_resp_start(http_req_t *r, int status, const char *content_type);
/** Queues bytes of a streamed response. A write larger than max_output is taken whole while
 * the client keeps up (an event is never cut). Returns 0, or HTTP_GONE when the client had more
 * than max_output bytes unread and was dropped: the request is over, make no further http_* call
 * with it; the abort callback is NOT called (the caller is already on its way out). */
int http_resp_write(http_req_t *r, const void *data, size_t len);
/** Bytes of this response queued in user space, not yet taken by the client's socket. */
size_t http_resp_queued(const http_req_t *r);
/** Calls cb once, from the event loop, when no more than `low` bytes of this response wait
 * for the client (at once, in the next loop pass, if that is already so). Replaces an earlier
 * one; not called if the request ends or is aborted first. */
void http_resp_on_drain(http_req_t *r, size_t low, void (*cb)(void *ud), void *ud);
/** Ends a streamed response. */
void http_resp_end(http_req_t *r);
/** Drops the connection at once (a stream that cannot be ended cleanly). No abort callback. */
void http_resp_abort(http_req_t *r);
/** Whether http_resp_start was called. */
bool http_resp_started(const http_req_t *r);

#endif
