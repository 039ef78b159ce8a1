/* http_internal.h - the server's connection and request state, shared by the files of http/
 * (private to http/). */
#ifndef SEEKD_HTTP_INTERNAL_H
#define SEEKD_HTTP_INTERNAL_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "http/http.h"
#include "http/http_parse.h"

#define HEAD_MAX (64 * 1024)               /* a request head above this gets 431 */
#define READ_CHUNK 16384                   /* bytes asked of recv() at a time */
#define IN_MAX (HEAD_MAX + 4 * READ_CHUNK) /* unprocessed input kept per connection */
#define LINGER_MS 2000                     /* after a closing response: drain input before close */
#define EXTRA_MAX (16 * 1024)              /* response headers a handler may add */
/* The connection's output buffer holds at most: bytes the client took but not yet reclaimed
 * (under 64 KiB, see out_compact), what was still unsent when a request was dispatched (at
 * most max_output, see process), one response head (EXTRA_MAX plus our own lines) and one body
 * or stream window (max_output, plus chunk framing). One stream write larger than that may
 * raise the cap while it waits (see http_resp_write). */
#define OUT_SLACK (64 * 1024 + EXTRA_MAX + 16 * 1024)

typedef struct conn conn_t;
typedef struct http_peer http_peer_t;

#define PEER_BUCKETS 1024

struct http_server {
    struct event_base *base;
    http_opts_t opts;
    http_handler_fn handler;
    void *ud;
    evutil_socket_t lfd;
    struct event *lev;
    struct event *accept_retry; /* out of descriptors: accept again a little later */
    int spare_fd;               /* given up under EMFILE to accept and refuse one client */
    const struct timeval *idle_tv;
    const struct timeval *linger_tv;
    const struct timeval *head_tv; /* the whole request head must arrive within this */
    const struct timeval *body_tv; /* a body's rate is checked once per this window */
    uint64_t id_seed;
    uint64_t id_counter;
    conn_t *conns;
    int nconns;
    size_t body_held; /* bytes of request bodies held across connections (max_body_total) */
    bool draining;    /* http_server_drain: no new connections or requests */
    http_peer_t *peers[PEER_BUCKETS]; /* open connections per client address (per-IP cap) */
    time_t date_sec;
    char date[40];
};

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

/* What the connection's timer currently measures (see arm_timer). */
enum { T_NONE, T_IDLE, T_HEAD, T_BODY, T_LINGER };

struct conn {
    http_server_t *srv;
    evutil_socket_t fd;
    struct event ev;
    short mask; /* EV_READ / EV_WRITE currently in epoll */
    struct event timer;
    int tmode; /* T_* */
    buf_t in;  /* received bytes; the first in_off of them already taken by a request */
    size_t in_off;
    buf_t out; /* response bytes; out_off of them already written */
    size_t out_off;
    http_req_t *req;   /* being read (!busy) or answered (busy) */
    int body_mode;     /* of req while its body is read */
    int64_t body_left; /* BODY_LENGTH */
    http_dechunk_t dc; /* BODY_CHUNKED */
    size_t win_bytes;  /* bytes received in the current body-rate window */
    http_peer_t *peer; /* counted against the per-IP cap; NULL when exempt */
    net_addr_t addr;   /* the client's address, from accept */
    bool has_addr;     /* false for what is not IP */
    bool busy;         /* the handler has req until its response ends */
    bool closing;      /* no more requests: close once out is written */
    bool lingering;    /* write side shut: input is discarded until EOF or LINGER_MS */
    bool dead;         /* the socket failed; the loop tears the connection down */
    int depth;         /* > 0 while process() runs: freeing then is deferred */
    bool freed;
    conn_t *prev, *next;
};

struct http_req {
    conn_t *c; /* the request dies with its connection, so this is always set */
    http_head_t head;
    buf_t body;
    size_t refused; /* a body over max_body: its length; it was not read */
    size_t held;    /* bytes of body counted in srv->body_held */
    struct timespec t0;
    char id[65];
    slice_t path;
    bool head_only;
    bool started;
    bool chunked; /* streamed with chunked coding (HTTP/1.1); else ended by close */
    buf_t extra;  /* response headers added by the handler */
    void (*abort_cb)(void *);
    void *abort_ud;
    void (*drain_cb)(void *); /* http_resp_on_drain */
    void *drain_ud;
    size_t drain_low;
    char raw[]; /* the head's bytes, parsed in place */
};

/* ---- connections (http_conn.c) ---- */

static inline size_t out_pending(const conn_t *c)
{
    return c->out.len - c->out_off;
}
/* Unprocessed input. */
static inline const char *in_data(const conn_t *c)
{
    return c->in.data + c->in_off;
}
static inline size_t in_len(const conn_t *c)
{
    return c->in.len - c->in_off;
}
/* Marks n bytes of input taken; the memmove waits for the next read (one per read, not one
 * per chunk line: 1-byte chunks stay linear). */
static inline void in_take(conn_t *c, size_t n)
{
    c->in_off += n;
    if (c->in_off == c->in.len) {
        buf_reset(&c->in);
        c->in_off = 0;
    }
}

void out_compact(conn_t *c);
size_t out_cap(size_t max_output);
void arm_timer(conn_t *c);
void set_mask(conn_t *c, short mask);
void conn_destroy(conn_t *c);
void conn_gone(conn_t *c);
void conn_fail_later(conn_t *c);
int flush(conn_t *c);
void flush_from_caller(conn_t *c);
void on_conn_event(evutil_socket_t fd, short what, void *arg);
void peer_release(http_server_t *s, http_peer_t *p);

/* ---- requests (http.c) ---- */

void req_free(http_req_t *r);
int process(conn_t *c);
void refuse(conn_t *c, int status, const char *why);
/* One canned error answer with Connection: close, built with opts.error_body, into out. */
int put_error(http_server_t *s, buf_t *out, int status, const char *why);
int put_head(http_req_t *r, int status, const char *ctype, long long clen);
void req_end(http_req_t *r);

#endif
