/* http.c - seekd's HTTP/1.1 server, written for the proxy's hot path on libevent's loop.
 *
 * A connection keeps one persistent read event in epoll for its whole life: the request is
 * read, answered and the next one read without a single epoll_ctl, and a client that hangs up
 * while its answer is being prepared is seen at once (EOF on that same event). A response is
 * written straight away from the call that produced it; a write event is added only when the
 * socket will not take everything. Request heads are parsed in place (http_parse.c). */
#include "http/http.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "http/http_parse.h"

#define HEAD_MAX (64 * 1024)               /* a request head above this gets 431 */
#define READ_CHUNK 16384                   /* bytes asked of recv() at a time */
#define IN_MAX (HEAD_MAX + 4 * READ_CHUNK) /* unprocessed input kept per connection */
#define LINGER_MS 2000                     /* after a closing response: drain input before close */
#define EXTRA_MAX (16 * 1024)              /* response headers a handler may add */
/* The connection's output buffer holds at most: bytes the client took but not yet reclaimed
 * (under 64 KiB, see out_compact), what was still unsent when a request was dispatched (at
 * most max_output, see process), one response head (EXTRA_MAX plus our own lines) and one body
 * or stream window (max_output, plus chunk framing). */
#define OUT_SLACK (64 * 1024 + EXTRA_MAX + 16 * 1024)

typedef struct conn conn_t;

struct http_server {
    struct event_base *base;
    http_opts_t opts;
    http_handler_fn handler;
    void *ud;
    evutil_socket_t lfd;
    struct event *lev;
    struct event *accept_retry; /* out of descriptors: accept again a little later */
    const struct timeval *idle_tv;
    const struct timeval *linger_tv;
    uint64_t id_seed;
    uint64_t id_counter;
    conn_t *conns;
    time_t date_sec;
    char date[40];
};

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

struct conn {
    http_server_t *srv;
    evutil_socket_t fd;
    struct event ev;
    short mask; /* EV_READ / EV_WRITE currently in epoll */
    struct event timer;
    buf_t in;  /* received bytes not yet taken by a request */
    buf_t out; /* response bytes; out_off of them already written */
    size_t out_off;
    http_req_t *req;   /* being read (!busy) or answered (busy) */
    int body_mode;     /* of req while its body is read */
    int64_t body_left; /* BODY_LENGTH */
    http_dechunk_t dc; /* BODY_CHUNKED */
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

static void on_conn_event(evutil_socket_t fd, short what, void *arg);
static int process(conn_t *c);

/* ---- connections ---- */

static void set_mask(conn_t *c, short mask)
{
    if (mask == c->mask)
        return;
    if (c->mask)
        event_del(&c->ev);
    event_assign(&c->ev, c->srv->base, c->fd, mask | EV_PERSIST, on_conn_event, c);
    if (mask)
        event_add(&c->ev, NULL);
    c->mask = mask;
    /* event_del dropped any activation too: a write queued for the end of this pass
     * (http_resp_write) must still leave */
    if (mask && !(mask & EV_WRITE) && c->out.len > c->out_off)
        event_active(&c->ev, EV_WRITE, 0);
}

static size_t out_pending(const conn_t *c)
{
    return c->out.len - c->out_off;
}

/* The hard cap of a connection's output buffer (see OUT_SLACK); saturates for absurd settings
 * rather than wrapping. */
static size_t out_cap(size_t max_output)
{
    if (max_output > (SIZE_MAX - 1 - OUT_SLACK) / 2)
        return SIZE_MAX - 1;
    return 2 * max_output + OUT_SLACK;
}

/* Reclaims what the client already took, once it is worth a memmove, so that the part of the
 * buffer before out_off stays under 64 KiB (or under half of the buffer). */
static void out_compact(conn_t *c)
{
    if (c->out_off >= 65536 || (c->out_off && c->out_off * 2 >= c->out.len)) {
        buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
}

/* The idle clock runs while the client owes us bytes or has bytes to take; not while the
 * handler works on its request with nothing left to send. */
static void arm_timer(conn_t *c)
{
    if (c->busy && out_pending(c) == 0)
        evtimer_del(&c->timer);
    else
        evtimer_add(&c->timer, c->lingering ? c->srv->linger_tv : c->srv->idle_tv);
}

static void req_free(http_req_t *r)
{
    buf_free(&r->body);
    buf_free(&r->extra);
    free(r);
}

static void conn_destroy(conn_t *c)
{
    if (c->fd >= 0) {
        set_mask(c, 0);
        evtimer_del(&c->timer);
        close(c->fd);
        c->fd = -1;
    }
    if (c->depth) {
        c->freed = true; /* process() is on the stack: it frees c on its way out */
        return;
    }
    if (c->req)
        req_free(c->req);
    buf_free(&c->in);
    buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* The client is gone (EOF, error, timeout): a request being answered learns of it. */
static void conn_gone(conn_t *c)
{
    http_req_t *r = c->req;
    void (*cb)(void *) = NULL;
    void *ud = NULL;
    if (r && c->busy) {
        cb = r->abort_cb;
        ud = r->abort_ud;
        req_free(r);
        c->req = NULL;
        c->busy = false;
    }
    conn_destroy(c);
    if (cb)
        cb(ud);
}

/* Socket failed inside a call from the handler's side: tear down from the loop instead, so
 * the abort callback never runs inside the caller's own http_* call. */
static void conn_fail_later(conn_t *c)
{
    c->dead = true;
    event_active(&c->ev, EV_WRITE, 0);
}

/* Writes what is pending. Returns 0 (all written, or the rest waits for EV_WRITE) or -1. */
static int flush(conn_t *c)
{
    while (out_pending(c)) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_mask(c, c->mask | EV_WRITE);
            arm_timer(c);
            return 0;
        }
        return -1;
    }
    buf_reset(&c->out);
    c->out_off = 0;
    if (c->mask & EV_WRITE)
        set_mask(c, (short)(c->mask & ~EV_WRITE));
    if (c->closing && !c->busy && !c->lingering) {
        /* say goodbye without a reset: stop sending, discard what the client still sends */
        shutdown(c->fd, SHUT_WR);
        c->lingering = true;
        buf_reset(&c->in);
        set_mask(c, EV_READ);
    }
    arm_timer(c);
    return 0;
}

static void flush_from_caller(conn_t *c)
{
    if (!c->dead && flush(c) < 0)
        conn_fail_later(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_gone(arg);
}

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static const char *http_date(http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    return s->date;
}

/* A request we will not hand to the handler (malformed, too big a head): one error answer
 * (its body from opts.error_body), then the connection closes. */
static void refuse(conn_t *c, int status, const char *why)
{
    buf_t body;
    buf_init(&body, 4096);
    const char *ctype = "text/plain; charset=utf-8";
    if (c->srv->opts.error_body)
        ctype = c->srv->opts.error_body(status, why, &body);
    else
        buf_puts(&body, why);
    /* a body that did not fit is sent empty rather than cut */
    if (buf_failed(&body))
        buf_reset(&body);
    out_compact(c);
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n",
               status, reason(status), http_date(c->srv), ctype, body.len);
    buf_append(&c->out, body.data ? body.data : "", body.len);
    buf_free(&body);
    if (c->req) {
        req_free(c->req);
        c->req = NULL;
    }
    c->body_mode = BODY_NONE;
    c->closing = true;
    if (buf_failed(&c->out) || flush(c) < 0)
        conn_gone(c); /* never a cut answer: the client sees the connection close instead */
}

/* ---- reading requests ---- */

static void req_init(conn_t *c, http_req_t *r)
{
    http_server_t *s = c->srv;
    r->c = c;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    buf_init(&r->body, s->opts.max_body);
    buf_init(&r->extra, EXTRA_MAX);
    const char *given = http_req_header(r, "x-request-id");
    size_t glen = given ? strlen(given) : 0;
    bool sane = glen > 0 && glen <= 64;
    for (size_t i = 0; sane && i < glen; i++) {
        char ch = given[i];
        sane = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '_' || ch == '.';
    }
    if (sane) {
        memcpy(r->id, given, glen + 1);
    } else {
        uint64_t x = s->id_seed + 0x9e3779b97f4a7c15ULL * ++s->id_counter;
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        snprintf(r->id, sizeof r->id, "%016llx%08llx", (unsigned long long)x,
                 (unsigned long long)(s->id_counter & 0xffffffffULL));
    }
    r->path = (slice_t){r->head.target, strcspn(r->head.target, "?#")};
    r->head_only = strcmp(r->head.method, "HEAD") == 0;
}

/* Parses the head waiting in c->in, if complete. Returns 1 (a request started), 0 (need
 * more bytes) or -1 (refused; the connection is closing). */
static int take_head(conn_t *c)
{
    size_t hl = http_head_len(c->in.data, c->in.len);
    if (!hl || hl > HEAD_MAX) {
        if (!hl && c->in.len < HEAD_MAX)
            return 0;
        refuse(c, 431, "request head too large");
        return -1;
    }
    http_req_t *r = xcalloc(1, sizeof *r + hl + 1);
    memcpy(r->raw, c->in.data, hl);
    buf_consume(&c->in, hl);
    int status = http_parse_head(r->raw, hl, &r->head);
    c->req = r;
    if (status) {
        refuse(c, status,
               status == 431   ? "too many request headers"
               : status == 501 ? "unsupported transfer coding"
               : status == 505 ? "unsupported HTTP version"
                               : "malformed HTTP request");
        return -1;
    }
    req_init(c, r);
    if (!r->head.keep_alive)
        c->closing = true;
    size_t max = c->srv->opts.max_body;
    c->body_mode = BODY_NONE;
    if (r->head.chunked) {
        c->body_mode = BODY_CHUNKED;
        memset(&c->dc, 0, sizeof c->dc);
    } else if (r->head.content_length > (int64_t)max) {
        /* not read: the handler answers 413 and the connection closes */
        r->refused = (size_t)r->head.content_length;
        c->closing = true;
        return 1;
    } else if (r->head.content_length > 0) {
        c->body_mode = BODY_LENGTH;
        c->body_left = r->head.content_length;
        /* content_length <= max_body, the body's cap: this cannot be refused, and take_body
         * checks the buffer anyway */
        buf_reserve(&r->body, (size_t)r->head.content_length);
    }
    if (c->body_mode != BODY_NONE && r->head.expect_continue && c->in.len == 0 &&
        r->head.minor == 1) {
        buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        if (buf_failed(&c->out) || flush(c) < 0) {
            conn_gone(c);
            return -1;
        }
    }
    return 1;
}

/* Moves body bytes from c->in into the request. Returns 1 when the body is complete, 0 when
 * more is needed, -1 when the chunked coding is malformed, -2 when the body buffer refused
 * bytes (the max_body checks make that unreachable; a cut body must still never be handed
 * to the handler). */
static int take_body(conn_t *c)
{
    http_req_t *r = c->req;
    if (c->body_mode == BODY_LENGTH) {
        size_t n = c->in.len < (uint64_t)c->body_left ? c->in.len : (size_t)c->body_left;
        if (n) {
            buf_append(&r->body, c->in.data, n);
            buf_consume(&c->in, n);
            c->body_left -= (int64_t)n;
        }
        if (buf_failed(&r->body))
            return -2;
        if (c->body_left)
            return 0;
    }
    while (c->body_mode == BODY_CHUNKED && c->dc.state != DC_DONE) {
        const char *data;
        size_t n;
        long used = http_dechunk(&c->dc, c->in.data, c->in.len, &data, &n);
        if (used < 0)
            return -1;
        if (used == 0)
            return 0;
        if (c->dc.announced > c->srv->opts.max_body - r->body.len) {
            /* too big: stop reading; the handler answers 413 and the connection closes */
            uint64_t size = c->dc.announced;
            r->refused = size > SIZE_MAX - r->body.len ? SIZE_MAX : r->body.len + (size_t)size;
            buf_reset(&r->body);
            c->body_mode = BODY_NONE;
            c->closing = true;
            buf_consume(&c->in, (size_t)used);
            return 1;
        }
        if (n && buf_append(&r->body, data, n))
            return -2;
        buf_consume(&c->in, (size_t)used);
    }
    c->body_mode = BODY_NONE;
    return 1;
}

static void dispatch(conn_t *c)
{
    http_req_t *r = c->req;
    c->busy = true;
    arm_timer(c);
    c->srv->handler(r, c->srv->ud);
}

/* Takes requests from the buffered input while the connection is free for one. Returns -1
 * when the connection was torn down meanwhile. */
static int process(conn_t *c)
{
    c->depth++;
    /* a client that pipelines without reading its answers gets no more of them than
     * max_output; its input then fills and reading stops */
    while (!c->busy && !c->freed && !c->dead && !c->lingering &&
           out_pending(c) <= c->srv->opts.max_output) {
        if (!c->req) {
            if (c->closing || !c->in.len)
                break; /* a closing connection takes no new request */
            if (take_head(c) <= 0)
                break;
        }
        if (c->body_mode != BODY_NONE) {
            int rc = take_body(c);
            if (rc < 0) {
                refuse(c, rc == -2 ? 413 : 400,
                       rc == -2 ? "request body too large" : "malformed chunked request body");
                break;
            }
            if (rc == 0)
                break;
        }
        dispatch(c);
    }
    if (!c->freed && !c->dead && !c->lingering && !(c->mask & EV_READ) && c->in.len < IN_MAX)
        set_mask(c, c->mask | EV_READ); /* input was full; there is room again */
    if (--c->depth == 0 && c->freed) {
        conn_destroy(c);
        return -1;
    }
    return 0;
}

/* Reads what the socket has. Returns -1 when the connection was torn down. */
static int conn_read(conn_t *c)
{
    for (int round = 0; round < 4; round++) {
        if (c->lingering) {
            char sink[4096];
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
            conn_destroy(c);
            return -1;
        }
        if (c->in.len >= IN_MAX) {
            /* a client pipelining ahead of our answers: stop reading until we catch up */
            set_mask(c, (short)(c->mask & ~EV_READ));
            return 0;
        }
        size_t want = IN_MAX - c->in.len < READ_CHUNK ? IN_MAX - c->in.len : READ_CHUNK;
        if (buf_reserve(&c->in, want)) {
            conn_gone(c);
            return -1;
        }
        ssize_t n = recv(c->fd, c->in.data + c->in.len, want, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            if ((size_t)n < want)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_gone(c); /* EOF or a socket error */
        return -1;
    }
    if (!c->busy && !c->lingering)
        arm_timer(c); /* the linger timer is armed once: a client sending fast gets no more */
    return 0;
}

static void on_conn_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    conn_t *c = arg;
    if (c->dead) {
        conn_gone(c);
        return;
    }
    if ((what & EV_WRITE) && out_pending(c)) {
        if (flush(c) < 0) {
            conn_gone(c);
            return;
        }
        /* a pipelined request waited for this answer to leave */
        if (!c->busy && !c->lingering && c->in.len && process(c) < 0)
            return;
    }
    http_req_t *r = c->req;
    if ((what & EV_WRITE) && c->busy && r->drain_cb && out_pending(c) <= r->drain_low) {
        void (*cb)(void *) = r->drain_cb;
        r->drain_cb = NULL;
        cb(r->drain_ud); /* may end the request or drop the connection: c is not used again */
        return;
    }
    if (what & EV_READ) {
        if (conn_read(c) < 0)
            return;
        if (!c->lingering)
            process(c);
    }
}

static void conn_new(http_server_t *s, evutil_socket_t fd)
{
    conn_t *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    buf_init(&c->in, IN_MAX);
    buf_init(&c->out, out_cap(s->opts.max_output));
    evtimer_assign(&c->timer, s->base, on_timeout, c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    set_mask(c, EV_READ);
    arm_timer(c);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_server_t *s = arg;
    event_add(s->lev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    http_server_t *s = arg;
    for (int i = 0; i < 64; i++) {
        evutil_socket_t fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(s, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* out of descriptors: pause accepting rather than spin on a ready listener */
            event_del(s->lev);
            struct timeval tv = {0, 100000};
            evtimer_add(s->accept_retry, &tv);
        }
        return;
    }
}

/* ---- the server ---- */

http_server_t *http_server_new(struct event_base *base, const http_opts_t *opts,
                               http_handler_fn handler, void *ud)
{
    http_server_t *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->opts = *opts;
    s->handler = handler;
    s->ud = ud;
    s->lfd = -1;
    if (getrandom(&s->id_seed, sizeof s->id_seed, 0) != sizeof s->id_seed)
        s->id_seed = (uint64_t)time(NULL) * 0x2545f4914f6cdd1dULL;
    long ms = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : 120000;
    struct timeval idle = {ms / 1000, (ms % 1000) * 1000};
    struct timeval linger = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    /* every connection's timer has one of two durations: O(1) queues instead of a heap */
    s->idle_tv = event_base_init_common_timeout(base, &idle);
    s->linger_tv = event_base_init_common_timeout(base, &linger);
    s->accept_retry = evtimer_new(base, on_accept_retry, s);
    return s;
}

int http_server_listen(http_server_t *s, const char *host, int port, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    evutil_socket_t fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Accepted sockets inherit TCP_NODELAY from the listener (Linux): streamed chunks
         * leave at once instead of waiting on Nagle for the previous one's ACK. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        errno = e;
        return -1;
    }
    freeaddrinfo(res);
    s->lfd = fd;
    s->lev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_accept, s);
    event_add(s->lev, NULL);
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        *bound_port = port;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET)
                *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    return 0;
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_gone(s->conns); /* requests in flight hear of it through their abort callbacks */
    if (s->lev)
        event_free(s->lev);
    if (s->lfd >= 0)
        close(s->lfd);
    event_free(s->accept_retry);
    free(s);
}

/* ---- requests ---- */

const char *http_req_method(const http_req_t *r)
{
    return r->head.method;
}

slice_t http_req_path(const http_req_t *r)
{
    return r->path;
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    return http_head_get(&r->head, name);
}

int http_req_header_all(const http_req_t *r, const char *name, const char **values, int max)
{
    int n = 0;
    for (int i = 0; i < r->head.nhdrs; i++) {
        if (strcasecmp(r->head.hdrs[i].name, name) != 0)
            continue;
        if (n == max)
            return -1;
        values[n++] = r->head.hdrs[i].value;
    }
    return n;
}

int http_req_peer(const http_req_t *r, net_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(r->c->fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return net_addr_from_sockaddr(&ss, out);
}

slice_t http_req_body(http_req_t *r)
{
    return r->body.len ? (slice_t){r->body.data, r->body.len} : (slice_t){"", 0};
}

size_t http_req_body_refused(const http_req_t *r)
{
    return r->refused;
}

const char *http_req_id(const http_req_t *r)
{
    return r->id;
}

long long http_req_elapsed_us(const http_req_t *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - r->t0.tv_sec) * 1000000LL +
           (now.tv_nsec - r->t0.tv_nsec) / 1000;
}

void http_req_on_abort(http_req_t *r, void (*cb)(void *ud), void *ud)
{
    r->abort_cb = cb;
    r->abort_ud = ud;
}

/* ---- responses ---- */

void http_resp_header(http_req_t *r, const char *name, const char *value)
{
    /* a CR or LF in a value would split the response: cut it there */
    buf_printf(&r->extra, "%s: %.*s\r\n", name, (int)strcspn(value, "\r\n"), value);
}

/* The status line and headers. clen < 0: a stream, chunked for HTTP/1.1 clients, ended by
 * closing the connection for HTTP/1.0 ones. Returns 0, or -1 when the head did not fit (or a
 * handler's header was refused): the connection's output is then failed and must not leave. */
static int put_head(http_req_t *r, int status, const char *ctype, long long clen)
{
    conn_t *c = r->c;
    buf_t *o = &c->out;
    if (buf_failed(&r->extra))
        return -1; /* a head without a header the handler asked for is another answer */
    out_compact(c);
    buf_printf(o, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason(status), http_date(c->srv));
    if (ctype)
        buf_printf(o, "Content-Type: %s\r\n", ctype);
    if (clen >= 0) {
        if (status != 204)
            buf_printf(o, "Content-Length: %lld\r\n", clen);
    } else if (r->head.minor == 1) {
        buf_puts(o, "Transfer-Encoding: chunked\r\n");
        r->chunked = true;
    } else {
        c->closing = true;
    }
    buf_printf(o, "x-request-id: %s\r\n", r->id);
    if (r->extra.len)
        buf_append(o, r->extra.data, r->extra.len);
    if (c->closing)
        buf_puts(o, "Connection: close\r\n");
    else if (r->head.minor == 0)
        buf_puts(o, "Connection: keep-alive\r\n");
    buf_puts(o, "\r\n");
    return buf_failed(o) ? -1 : 0;
}

/* The response is complete: the connection is free for the next request. */
static void req_end(http_req_t *r)
{
    conn_t *c = r->c;
    c->req = NULL;
    c->busy = false;
    req_free(r);
    flush_from_caller(c);
    if (!c->dead && !c->lingering && c->in.len && !c->depth)
        event_active(&c->ev, EV_READ, 0); /* a pipelined request is waiting */
}

/* Queues a whole response and ends the request; a response that does not fit whole drops
 * the connection instead (never half an answer). */
static void send_whole(http_req_t *r, int status, const char *ctype, const void *body, size_t len)
{
    conn_t *c = r->c;
    int rc = put_head(r, status, ctype, (long long)len);
    if (rc == 0 && len && !r->head_only)
        rc = buf_append(&c->out, body, len);
    if (rc) {
        http_resp_abort(r);
        return;
    }
    req_end(r);
}

void http_resp_send(http_req_t *r, int status, const char *content_type, const void *body,
                    size_t len)
{
    http_server_t *s = r->c->srv;
    if (len <= s->opts.max_output) {
        send_whole(r, status, content_type, body, len);
        return;
    }
    /* An answer over max_output is refused whole and a 500 of our own goes in its place,
     * without the handler's headers (they described the other answer). */
    char why[160];
    snprintf(why, sizeof why,
             "the response is too large (%zu bytes; this server sends at most %zu at once)", len,
             s->opts.max_output);
    buf_t eb;
    buf_init(&eb, 4096);
    const char *ctype = "text/plain; charset=utf-8";
    if (s->opts.error_body)
        ctype = s->opts.error_body(500, why, &eb);
    else
        buf_puts(&eb, why);
    if (buf_failed(&eb))
        buf_reset(&eb);
    buf_reset(&r->extra);
    send_whole(r, 500, ctype, eb.data ? eb.data : "", eb.len);
    buf_free(&eb);
}

void http_resp_start(http_req_t *r, int status, const char *content_type)
{
    http_resp_header(r, "Cache-Control", "no-cache");
    http_resp_header(r, "X-Accel-Buffering", "no");
    r->started = true;
    if (put_head(r, status, content_type, -1)) {
        /* the caller goes on writing: the loop drops the connection and the abort callback
         * ends the request, as for a socket that failed; nothing queued is ever sent */
        conn_fail_later(r->c);
        return;
    }
    /* the head leaves with the first write (one segment, one wake-up of the client), or at
     * the end of this loop pass if no write follows */
    event_active(&r->c->ev, EV_WRITE, 0);
}

bool http_resp_started(const http_req_t *r)
{
    return r->started;
}

size_t http_resp_queued(const http_req_t *r)
{
    return out_pending(r->c);
}

int http_resp_write(http_req_t *r, const void *data, size_t len)
{
    conn_t *c = r->c;
    if (out_pending(c) + len > c->srv->opts.max_output) {
        http_resp_abort(r);
        return HTTP_GONE;
    }
    if (len && !r->head_only) {
        out_compact(c); /* so a slow reader's buffer stays near max_output */
        if (r->chunked)
            buf_printf(&c->out, "%zx\r\n", len);
        buf_append(&c->out, data, len);
        if (r->chunked)
            buf_puts(&c->out, "\r\n");
        if (buf_failed(&c->out)) {
            http_resp_abort(r); /* a cut chunk would corrupt the stream: end it here */
            return HTTP_GONE;
        }
    }
    /* sent at the end of this loop pass: what else this pass writes (the next chunks, the
     * end of the stream) leaves in the same segment, and requests read in this pass reach
     * their upstream first */
    event_active(&c->ev, EV_WRITE, 0);
    return 0;
}

void http_resp_on_drain(http_req_t *r, size_t low, void (*cb)(void *ud), void *ud)
{
    r->drain_cb = cb;
    r->drain_ud = ud;
    r->drain_low = low;
    event_active(&r->c->ev, EV_WRITE, 0); /* checked after the next write, or at once */
}

void http_resp_end(http_req_t *r)
{
    if (r->chunked && !r->head_only && buf_puts(&r->c->out, "0\r\n\r\n")) {
        /* a stream without its last chunk is not complete: closing says so at once instead
         * of leaving the client waiting for it */
        http_resp_abort(r);
        return;
    }
    req_end(r);
}

void http_resp_abort(http_req_t *r)
{
    conn_t *c = r->c;
    c->req = NULL;
    c->busy = false;
    req_free(r);
    conn_destroy(c);
}
