/* http.c - the HTTP/1.1 server over libevent's evhttp: request wrapper, CORS, request ids,
 * chunked streaming with a hard per-client output cap, and client-abort detection. */
#include "http/http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "base/mem.h"

struct http_server {
    struct event_base *base;
    struct evhttp *evh;
    http_opts_t opts;
    http_handler_fn handler;
    void *ud;
    uint64_t id_seed;
    uint64_t id_counter;
};

struct http_req {
    http_server_t *srv;
    struct evhttp_request *ev;
    struct evhttp_connection *evcon;
    struct timespec t0;
    char id[65];
    char path[1024];
    bool started;
    struct event watch; /* a short timer first, then a read watch on the client's socket */
    bool watching;
    struct evbuffer *chunk; /* reused for every streamed write */
    bool *ended;            /* set while the handler runs: tells on_request the request ended */
    void (*abort_cb)(void *);
    void *abort_ud;
};

static const char CORS_HEADERS[] =
    "Authorization, Content-Type, X-Request-Id, OpenAI-Organization, "
    "OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, "
    "X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, "
    "X-Stainless-Runtime-Version, X-Stainless-Retry-Count, "
    "X-Stainless-Timeout";

static void req_free(http_req_t *r)
{
    if (r->chunk)
        evbuffer_free(r->chunk);
    if (r->ended)
        *r->ended = true;
    if (r->watching)
        event_del(&r->watch);
    if (r->evcon)
        evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    free(r);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    http_req_t *r = arg;
    r->evcon = NULL;
    /* evhttp detaches a request the handler still holds instead of freeing it (timeout or EOF
     * from the client); then it is ours to free. */
    if (evhttp_request_get_connection(r->ev) == NULL)
        evhttp_request_free(r->ev);
    void (*cb)(void *) = r->abort_cb;
    void *ud = r->abort_ud;
    req_free(r);
    if (cb)
        cb(ud);
}

/* evhttp reads nothing while a handler works on a request, so a client that hangs up before
 * we write is only noticed by watching the socket: EOF or an error means it is gone. */
static void on_peer_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    http_req_t *r = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return; /* a pipelined request: evhttp will read it later; stop watching */
    evhttp_connection_free(r->evcon); /* runs on_close, which tells the handler */
}

/* Most answers are out within milliseconds; watching the socket of each would cost two
 * epoll_ctl calls per request. So a request first gets a timer (no syscall), and only one still
 * open when it fires gets the read watch. */
#define WATCH_AFTER_MS 20

static void on_watch_timer(evutil_socket_t fd_unused, short what, void *arg)
{
    (void)fd_unused;
    (void)what;
    http_req_t *r = arg;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0) {
        r->watching = false;
        return;
    }
    event_assign(&r->watch, r->srv->base, fd, EV_READ, on_peer_readable, r);
    event_add(&r->watch, NULL);
}

static void watch_peer(http_req_t *r)
{
    evtimer_assign(&r->watch, r->srv->base, on_watch_timer, r);
    struct timeval tv = {0, WATCH_AFTER_MS * 1000};
    evtimer_add(&r->watch, &tv);
    r->watching = true;
}

static bool sane_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return n > 0 && n <= 64;
}

static void common_headers(http_req_t *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "x-request-id", r->id);
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    evhttp_add_header(h, "Access-Control-Expose-Headers", "x-request-id");
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    http_server_t *s = arg;
    http_req_t *r = xcalloc(1, sizeof *r);
    r->srv = s;
    r->ev = ev;
    r->evcon = evhttp_request_get_connection(ev);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(ev), "x-request-id");
    if (given && sane_id(given)) {
        snprintf(r->id, sizeof r->id, "%s", given);
    } else {
        uint64_t x = s->id_seed + 0x9e3779b97f4a7c15ULL * ++s->id_counter;
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        snprintf(r->id, sizeof r->id, "%016llx%08llx", (unsigned long long)x,
                 (unsigned long long)(s->id_counter & 0xffffffffULL));
    }
    const char *uri = evhttp_request_get_uri(ev);
    size_t plen = strcspn(uri, "?#");
    if (plen >= sizeof r->path)
        plen = sizeof r->path - 1;
    memcpy(r->path, uri, plen);
    r->path[plen] = '\0';
    evhttp_connection_set_closecb(r->evcon, on_close, r);

    if (evhttp_request_get_command(ev) == EVHTTP_REQ_OPTIONS) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
        common_headers(r);
        evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        evhttp_add_header(h, "Access-Control-Allow-Headers", CORS_HEADERS);
        evhttp_add_header(h, "Access-Control-Max-Age", "86400");
        evhttp_send_reply(ev, 204, "No Content", NULL);
        req_free(r);
        return;
    }
    /* Most GETs are answered within the handler; only requests still open need the watch. */
    bool ended = false;
    r->ended = &ended;
    s->handler(r, s->ud);
    if (!ended) {
        r->ended = NULL;
        watch_peer(r);
    }
}

http_server_t *http_server_new(struct event_base *base, const http_opts_t *opts,
                               http_handler_fn handler, void *ud)
{
    http_server_t *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->opts = *opts;
    s->handler = handler;
    s->ud = ud;
    if (getrandom(&s->id_seed, sizeof s->id_seed, 0) != sizeof s->id_seed)
        s->id_seed = (uint64_t)time(NULL) * 0x2545f4914f6cdd1dULL;
    s->evh = evhttp_new(base);
    /* evhttp refuses far larger bodies itself; up to there the handler answers 413 with
     * DeepSeek's envelope. */
    evhttp_set_max_body_size(s->evh, (ev_ssize_t)(opts->max_body * 4 + 65536));
    evhttp_set_max_headers_size(s->evh, 64 * 1024);
    long ms = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : 120000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evhttp_set_timeout_tv(s->evh, &tv);
    evhttp_set_allowed_methods(s->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_OPTIONS |
                                           EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                           EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->evh, on_request, s);
    return s;
}

int http_server_listen(http_server_t *s, const char *host, int port, int *bound_port)
{
    struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(s->evh, host, (ev_uint16_t)port);
    if (!h)
        return -1;
    /* Accepted sockets inherit TCP_NODELAY from the listener (Linux): streamed chunks leave at
     * once instead of waiting on Nagle for the previous one's ACK (a 40 ms stall). */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(h), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        *bound_port = port;
        if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss, &len) == 0) {
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
    evhttp_free(s->evh);
    free(s);
}

const char *http_req_method(const http_req_t *r)
{
    switch (evhttp_request_get_command(r->ev)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    default:
        return "OTHER";
    }
}

slice_t http_req_path(const http_req_t *r)
{
    return slice_of(r->path);
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

slice_t http_req_body(http_req_t *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return (slice_t){"", 0};
    return (slice_t){(const char *)evbuffer_pullup(in, -1), n};
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

void http_resp_header(http_req_t *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

void http_resp_send(http_req_t *r, int status, const char *content_type, const void *body,
                    size_t len)
{
    common_headers(r);
    http_resp_header(r, "Content-Type", content_type);
    evbuffer_add(evhttp_request_get_output_buffer(r->ev), body, len);
    evhttp_send_reply(r->ev, status, NULL, NULL);
    req_free(r);
}

void http_resp_start(http_req_t *r, int status, const char *content_type)
{
    common_headers(r);
    http_resp_header(r, "Content-Type", content_type);
    http_resp_header(r, "Cache-Control", "no-cache");
    http_resp_header(r, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(r->ev, status, NULL);
    r->started = true;
}

bool http_resp_started(const http_req_t *r)
{
    return r->started;
}

size_t http_resp_queued(const http_req_t *r)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

int http_resp_write(http_req_t *r, const void *data, size_t len)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    size_t queued = evbuffer_get_length(bufferevent_get_output(bev));
    if (queued + len > r->srv->opts.max_output) {
        http_resp_abort(r);
        return HTTP_GONE;
    }
    if (!r->chunk)
        r->chunk = evbuffer_new();
    evbuffer_add(r->chunk, data, len); /* send_reply_chunk moves it out, leaving it empty */
    evhttp_send_reply_chunk(r->ev, r->chunk);
    return 0;
}

void http_resp_end(http_req_t *r)
{
    evhttp_send_reply_end(r->ev);
    req_free(r);
}

void http_resp_abort(http_req_t *r)
{
    struct evhttp_connection *evcon = r->evcon;
    req_free(r);
    evhttp_connection_free(evcon);
}
